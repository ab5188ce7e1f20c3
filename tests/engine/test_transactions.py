"""Crash-safe projects: a change to several files lands whole or not at all (injected crashes at
every boundary and a real ``kill -9``), one writer at a time, and the checks a run needs happen
before it starts."""
from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import genrec_engine.txn as txn
from genrec_engine import Project
from genrec_engine.cli import main as cli_main
from genrec_engine.testing import make_tiny_project

ROOT = Path(__file__).resolve().parents[2]
BEAUTY = ROOT / "resources" / "datasets" / "beauty"
SMALL = ["--epochs", "1", "--eval-every", "1", "--d-model", "16", "--n-layers", "1", "--n-heads", "1"]
WATCHED = ("project.json", "embeddings.npy", "tokenizer.safetensors", "sids.parquet", "generator-ran.safetensors",
           "metrics.json")


class _Crash(BaseException):
    """A simulated crash: not an Exception, so no clean-up code runs (as with a killed process)."""


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A tiny project with a trained RAN (read only: copy it)."""
    root = tmp_path_factory.mktemp("txn")
    path = make_tiny_project(BEAUTY, root, items=60, users=40, per_user=5, codebook_size=8)
    assert cli_main(["train", "--project", str(path), "--model", "ran", *SMALL, "--json"]) == 0
    return path


def _copy(base: Path, tmp_path: Path) -> Path:
    shutil.copytree(base.parent / "dataset", tmp_path / "dataset")
    shutil.copytree(base, tmp_path / "project", ignore=shutil.ignore_patterns(".genrec.lock"))
    return tmp_path / "project"


def _state(folder: Path) -> dict:
    return {n: (folder / n).read_bytes() for n in WATCHED if (folder / n).is_file()}


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith((".genrec-stage-", ".genrec-commit"))
                  or p.name.endswith(".tmp"))


# the operations, each changing several files of the project
def _retokenize(p: Path):
    return cli_main(["tokenize", "--data", str(p.parent / "dataset"), "--out", str(p), "--encoder", "structured",
                     "--method", "rkmeans", "--levels", "2", "--codebook-size", "4", "--seed", "3"])


def _train(p: Path):
    return cli_main(["train", "--project", str(p), "--model", "ran", *SMALL, "--seed", "5"])


def _compact(p: Path):
    return cli_main(["compact", "--project", str(p), "--model", "ran", "--no-eval"])


OPERATIONS = {"tokenize --out": _retokenize, "train": _train, "compact": _compact}


@pytest.mark.parametrize("name", list(OPERATIONS))
def test_a_crash_at_any_boundary_leaves_the_old_state_or_the_new_one(name, base, tmp_path, monkeypatch):
    op = OPERATIONS[name]
    k = 0
    outcomes = set()
    while True:
        k += 1
        work = tmp_path / f"run{k}"
        p = _copy(base, work)
        old = _state(p)
        seen = {"n": 0, "new": None}

        def crash(label, k=k, p=p, seen=seen):
            seen["n"] += 1
            if seen["n"] == k:
                journal = p / txn.JOURNAL_NAME
                if journal.is_file():  # committed: what each moved file must hold afterwards
                    j = json.loads(journal.read_text())
                    stage = p / j["stage"]
                    seen["new"] = {n: ((stage / n) if (stage / n).is_file() else (p / n)).read_bytes() for n in j["moves"]}
                raise _Crash(label)

        monkeypatch.setattr(txn, "_crash_point", crash)
        try:
            code = op(p)
        except _Crash:
            code = None
        monkeypatch.setattr(txn, "_crash_point", lambda label: None)
        if code is not None:  # ran to the end: every boundary has been tried
            assert code == 0
            break
        reopened = Project.open(p)  # recovers
        assert reopened.recovered, f"{name}: crash {k} left nothing to recover"
        after = _state(p)
        if seen["new"] is None:  # before the commit point: exactly the old state
            assert after == old, f"{name}: crash {k} changed files before the commit point"
            outcomes.add("old")
        else:  # after it: every file of the change is new, the others old
            for n in WATCHED:
                want = seen["new"].get(n, old.get(n))
                assert after.get(n) == want, f"{name}: crash {k}: {n} is neither the change's nor the old one"
            outcomes.add("new")
        assert not _leftovers(p)
        _generator_fits_or_is_refused(reopened)
        assert k < 60
    assert outcomes == {"old", "new"}, outcomes  # crashes on both sides of the commit point were tried


def _generator_fits_or_is_refused(project: Project) -> None:
    """The RAN beside the SID table loads (it was trained on it), or, after a re-tokenize gave new
    SIDs, is refused as trained on another SID table: never loaded against the wrong one."""
    from genrec_engine.errors import ProjectFormatError

    try:
        project.generator("ran")
    except ProjectFormatError as exc:
        assert "trained on another SID table" in str(exc), exc


def _kill_script(p: Path, op: str, at: int) -> str:
    argv = {"tokenize": ["tokenize", "--data", str(p.parent / "dataset"), "--out", str(p), "--encoder", "structured",
                         "--method", "rkmeans", "--levels", "2", "--codebook-size", "4", "--seed", "3"],
            "train": ["train", "--project", str(p), "--model", "ran", *SMALL, "--seed", "5"]}[op]
    return (
        "import os, signal, sys\n"
        "import genrec_engine.txn as txn\n"
        "n = [0]\n"
        "def hook(label):\n"
        "    n[0] += 1\n"
        f"    if n[0] == {at}:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "txn._crash_point = hook\n"
        "from genrec_engine.cli import main\n"
        f"sys.exit(main({argv!r}))\n"
    )


@pytest.mark.parametrize("op,at", [("tokenize", 2), ("tokenize", 5), ("train", 1), ("train", 4)])
def test_kill_9_mid_change_then_reopen(op, at, base, tmp_path):
    p = _copy(base, tmp_path)
    old = _state(p)
    run = subprocess.run([sys.executable, "-c", _kill_script(p, op, at)], cwd=ROOT, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == -9, run.stderr[-2000:]
    committed = (p / txn.JOURNAL_NAME).is_file()
    reopened = Project.open(p)
    assert reopened.recovered
    after = _state(p)
    if not committed:
        assert after == old
    else:
        assert after != old
    _generator_fits_or_is_refused(reopened)
    assert not _leftovers(p)


def test_a_second_writer_is_refused_with_the_holder_named(base, tmp_path, capsys):
    p = _copy(base, tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, genrec_engine.txn as t\n"
         f"with t.project_lock({str(p)!r}, 'genrec train --model ran'):\n"
         "    print('locked', flush=True)\n    sys.stdin.read()\n"],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = _state(p)
        assert _train(p) == 1
        err = capsys.readouterr().err
        assert "being changed by genrec train --model ran" in err and f"pid {holder.pid}" in err
        assert err.count("genrec: error") == 1 and "Traceback" not in err
        assert _compact(p) == 1
        assert _state(p) == before
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    assert _compact(p) == 0  # the lock went with its holder


def test_concurrent_trains_never_lose_an_update(base, tmp_path):
    """Two `genrec train` processes at once: one trains, the other is refused; the checkpoint
    and the metrics record that remain are the same run's."""
    p = _copy(base, tmp_path)
    cmd = [sys.executable, "-m", "genrec_engine.cli", "train", "--project", str(p), "--model", "ran", *SMALL]
    runs = [subprocess.Popen(cmd + ["--seed", str(s)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for s in (11, 12)]
    results = [(r.wait(timeout=600), r.stderr.read()) for r in runs]
    codes = sorted(c for c, _ in results)
    assert codes in ([0, 0], [0, 1]), results
    for code, err in results:
        assert code == 0 or "being changed by" in err, err
    from genrec_engine.checkpoint import read_generator_meta

    record = json.loads((p / "metrics.json").read_text())["ran"]
    meta = read_generator_meta(p / "generator-ran.safetensors")
    assert meta["extra"]["best_epoch"] == record["best_epoch"]
    assert record["train_config"]["seed"] in (11, 12)
    Project.open(p).generator("ran")


def test_save_as_refuses_an_existing_project_and_a_cancelled_copy_leaves_nothing(base, tmp_path):
    from genrec_engine.errors import Cancelled, ConfigError
    from genrec_engine.jobs import CancelToken

    p = _copy(base, tmp_path / "a")
    other = _copy(base, tmp_path / "b")
    before = _state(other)
    with pytest.raises(ConfigError, match="already holds a project"):
        Project.open(p).save_copy(other)
    assert _state(other) == before
    token = CancelToken()
    calls = []

    def progress(fraction, message=""):
        calls.append(message)
        if len(calls) == 2:
            token.cancel()

    with pytest.raises(Cancelled):
        Project.open(p).save_copy(tmp_path / "new", progress=progress, cancel=token)
    assert not (tmp_path / "new").exists()
    assert not [x for x in tmp_path.iterdir() if x.name.startswith(".new.saving")]
    out = Project.open(p).save_copy(tmp_path / "new")
    assert Project.open(out).generator("ran") is not None


def test_a_damaged_metrics_file_or_no_space_is_refused_before_training(base, tmp_path, capsys, monkeypatch):
    p = _copy(base, tmp_path)
    (p / "metrics.json").write_text("{not json")
    before = _state(p)
    assert _train(p) == 1
    err = capsys.readouterr().err
    assert "metrics.json: unreadable JSON" in err and err.count("genrec: error") == 1
    assert _state(p) == before and not (p / "generator-ran.partial.safetensors").exists()
    (p / "metrics.json").write_text("{}")
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(txn.shutil, "disk_usage", lambda path: usage(10**9, 10**9, 1024))
    assert _train(p) == 1
    assert "MiB free, this run needs" in capsys.readouterr().err


def test_read_only_folder_and_os_errors_are_one_line(base, tmp_path, capsys, monkeypatch):
    p = _copy(base, tmp_path)
    real = Path.write_bytes

    def refuse(self, data):
        if self.name.startswith(".genrec-probe-"):
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", refuse)
    assert _train(p) == 1
    err = capsys.readouterr().err
    assert "cannot write in the project" in err and "read-only file system" in err and err.count("genrec: error") == 1
    monkeypatch.undo()
    # an OSError from deep inside a command (here: the output folder is a file) is one line naming the path
    (tmp_path / "blocker").write_text("")
    code = cli_main(["sids", "export", "--project", str(p), "--format", "csv", "--out",
                     str(tmp_path / "blocker" / "out.csv")])
    err = capsys.readouterr().err
    assert code == 1 and "blocker" in err and "Traceback" not in err and err.count("genrec: error") == 1


def test_a_path_that_cannot_be_encoded_gives_a_message_not_a_traceback(base, tmp_path):
    p = _copy(base, tmp_path)
    out = os.fsencode(str(tmp_path)) + b"/\xff\xfe-sids.csv"
    env = dict(os.environ, PYTHONIOENCODING="ascii", LC_ALL="C")
    run = subprocess.run([sys.executable, "-m", "genrec_engine.cli", "sids", "export", "--project", str(p), "--format",
                          "csv", "--out", out], cwd=ROOT, capture_output=True, env=env, timeout=300)
    assert b"Traceback" not in run.stderr, run.stderr[-2000:]
    assert run.returncode in (0, 1)
    assert not [x for x in tmp_path.iterdir() if x.name.endswith(".tmp")]


def test_recover_discards_a_stage_without_journal_and_finishes_one_with(base, tmp_path):
    p = _copy(base, tmp_path)
    old = _state(p)
    stage = p / ".genrec-stage-dead"
    stage.mkdir()
    (stage / ".what").write_text("genrec train --model ran")
    (stage / "sids.parquet").write_bytes(b"half")
    (p / ".sids.parquet.abcd.tmp").write_bytes(b"half")
    msg = txn.recover(p)
    assert "discarded" in msg and "genrec train" in msg
    assert _state(p) == old and not _leftovers(p)


def test_save_as_notices_a_writer_that_changed_the_source_meanwhile(base, tmp_path, monkeypatch):
    """Save as takes no lock on its source (it may be read-only): it checks that nothing changed."""
    import genrec_engine.project as project_mod
    from genrec_engine.errors import ConfigError

    p = _copy(base, tmp_path / "a")
    real = shutil.copyfile

    def copy_then_change(src, dst, *a, **kw):
        out = real(src, dst, *a, **kw)
        (p / "metrics.json").write_text("{}")  # another process records something mid-copy
        return out

    monkeypatch.setattr(project_mod.shutil, "copyfile", copy_then_change)
    with pytest.raises(ConfigError, match="changed by another program while being copied"):
        Project.open(p).save_copy(tmp_path / "copy")
    assert not (tmp_path / "copy").exists()


def test_a_crash_at_any_boundary_of_save_as_leaves_no_destination_or_a_whole_one(base, tmp_path, monkeypatch):
    p = _copy(base, tmp_path / "src")
    old = _state(p)
    k = 0
    while True:
        k += 1
        dest = tmp_path / f"dest{k}"
        seen = {"n": 0}

        def crash(label, k=k, seen=seen):
            seen["n"] += 1
            if seen["n"] == k:
                raise _Crash(label)

        monkeypatch.setattr(txn, "_crash_point", crash)
        try:
            Project.open(p).save_copy(dest)
            done = True
        except _Crash:
            done = False
        monkeypatch.setattr(txn, "_crash_point", lambda label: None)
        assert _state(p) == old  # the source is only read
        if done:
            assert Project.open(dest).generator("ran") is not None
            break
        assert not dest.exists()  # the copy lives in a hidden sibling until it is whole
        assert k < 30
    # what a killed Save as leaves (its hidden sibling) is cleared by the next one onto that name
    (tmp_path / ".dest1.saving-99999").mkdir()
    (tmp_path / ".dest1.saving-99999" / "embeddings.npy").write_bytes(b"half")
    Project.open(p).save_copy(tmp_path / "dest1")
    assert not [x for x in tmp_path.iterdir() if x.name.startswith(".dest1.saving")]
