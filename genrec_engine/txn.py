"""Project transactions: a change to several files of a project lands whole or not at all.

A project is several files (``project.json``, ``embeddings.npy``, ``tokenizer.safetensors``,
``sids.parquet``, ``generator-<kind>.safetensors``, ``metrics.json``). Each is written atomically
(:mod:`genrec_engine.fileio`), but a change such as re-tokenizing or training touches several, and
a crash between two of them would leave new embeddings beside old SIDs. So every change goes
through :func:`project_change`:

1. the new files are written into a staging folder inside the project (``.genrec-stage-<id>/``);
2. the journal ``.genrec-commit.json`` naming them is written atomically: this is the commit point;
3. each staged file replaces its target (``project.json`` last, carrying in ``"files"`` the size
   of every part it names), then the journal and the staging folder are removed.

:func:`recover` (called by :meth:`~genrec_engine.project.Project.open`) finishes what a crash
interrupted: with a journal, the remaining moves are done (rolled forward: the new state); with
only a staging folder, it is deleted (rolled back: the old state). Either way the project is the
old state or the new one, never a mix, and the message says which.

Writers hold the project's lock (:func:`project_lock`, an OS advisory lock on ``.genrec.lock``
that the OS releases when the process dies, even by ``kill -9``). A second writer is refused at
once with :class:`ProjectBusyError`, which names the holder (pid, command, since).
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import GenrecError, ProjectFormatError
from .fileio import read_json, write_json_atomic

__all__ = ["project_lock", "project_change", "recover", "ProjectBusyError", "Change", "LOCK_NAME", "JOURNAL_NAME",
           "STAGE_PREFIX", "tracked", "check_writable", "check_space", "describe_os_error"]

LOCK_NAME = ".genrec.lock"
JOURNAL_NAME = ".genrec-commit.json"
STAGE_PREFIX = ".genrec-stage-"


class ProjectBusyError(GenrecError):
    """Another process (or another thread of this one) is changing the project."""


def tracked(name: str) -> bool:
    """Whether ``project.json``'s ``"files"`` records ``name``: the parts and the generators."""
    return name in ("embeddings.npy", "tokenizer.safetensors", "sids.parquet") or (
        name.startswith("generator-") and name.endswith(".safetensors") and not name.endswith(".partial.safetensors"))


def describe_os_error(exc: OSError, fallback: str | os.PathLike | None = None) -> str:
    """One line for an OS error: the path it concerns and what went wrong, e.g.
    ``/p/x.json: read-only file system``."""
    where = exc.filename if exc.filename is not None else fallback
    what = (exc.strerror or str(exc) or type(exc).__name__).lower()
    return f"{where}: {what}" if where is not None else what


# ---- the lock -----------------------------------------------------------------------------------------------------

_held: dict[str, list] = {}  # resolved folder -> [fd, depth, thread id]
_held_guard = threading.Lock()


def _os_lock(fd: int) -> bool:
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _holder(folder: Path) -> str:
    try:
        info = json.loads((folder / LOCK_NAME).read_text(encoding="utf-8") or "{}")
        return f"{info.get('command', 'a genrec process')} (pid {info.get('pid', '?')}, since {info.get('since', '?')})"
    except (OSError, ValueError):
        return "another genrec process"


@contextmanager
def project_lock(folder: str | os.PathLike, what: str, *, wait: float = 0.0) -> Iterator[None]:
    """Hold the exclusive writer lock of the project ``folder`` (created if missing) while the
    block runs. Re-entrant within one thread. ``what`` (e.g. ``"genrec train"``) is shown to a
    second writer, which gets :class:`ProjectBusyError` at once, or after waiting up to ``wait``
    seconds. A folder that cannot be written raises ConfigError naming it."""
    folder = Path(folder)
    key = str(folder.resolve())
    me = threading.get_ident()
    with _held_guard:
        entry = _held.get(key)
        if entry is not None and entry[2] == me:
            entry[1] += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield
        finally:
            with _held_guard:
                _held[key][1] -= 1
        return
    if entry is not None:
        raise ProjectBusyError(f"{folder}: another job of this program is changing the project; wait for it to end")
    check_writable(folder)
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        deadline = time.monotonic() + wait
        while not _os_lock(fd):
            if time.monotonic() >= deadline:
                raise ProjectBusyError(f"{folder}: being changed by {_holder(folder)}; try again when it has ended")
            time.sleep(0.05)
        info = {"pid": os.getpid(), "command": what, "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
    except BaseException:
        os.close(fd)
        raise
    with _held_guard:
        _held[key] = [fd, 1, me]
    try:
        yield
    finally:
        with _held_guard:
            del _held[key]
        os.close(fd)  # releases the OS lock


def check_writable(folder: str | os.PathLike) -> None:
    """Raise ConfigError naming ``folder`` unless a file can be created in it (made if missing)."""
    from .errors import ConfigError

    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".genrec-probe-{secrets.token_hex(4)}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"cannot write in the project: {describe_os_error(exc, folder)}") from None


def check_space(folder: str | os.PathLike, needed_bytes: int) -> None:
    """Raise ConfigError unless the file system of ``folder`` has ``needed_bytes`` free."""
    from .errors import ConfigError

    free = shutil.disk_usage(Path(folder)).free
    if free < needed_bytes:
        raise ConfigError(f"{folder}: {free / 2**20:.0f} MiB free, this run needs about {needed_bytes / 2**20:.0f} MiB")


# ---- the change ---------------------------------------------------------------------------------------------------

def _crash_point(label: str) -> None:
    """Called at every boundary between two files of a change. Tests replace it to simulate a
    crash there (an exception that is not an ``Exception``, so no clean-up runs)."""


class Change:
    """The files of one change, staged (see :func:`project_change`). Write the new version of a
    file to :meth:`path`; mark a file for deletion with :meth:`remove`; set :attr:`meta` to
    replace ``project.json``'s content (else its ``"files"`` sizes are refreshed in place)."""

    def __init__(self, folder: Path, stage: Path, what: str):
        self.folder, self.stage, self.what = folder, stage, what
        self.meta: dict | None = None
        self._removes: list[str] = []

    def path(self, name: str) -> Path:
        """Where to write the new ``name`` (a plain file name in the project folder)."""
        if Path(name).name != name or name in ("", ".", "..") or name.startswith(".genrec"):
            raise ValueError(f"{name!r}: not a project file name")
        _crash_point(f"write {name}")
        return self.stage / name

    def remove(self, name: str) -> None:
        self.path(name)  # same name check
        self._removes.append(name)

    def _manifest(self, staged: list[str]) -> dict | None:
        """The project.json to write, or None when no tracked file changes and no meta was set."""
        if self.meta is None and not any(tracked(n) for n in staged + self._removes):
            return None
        meta = dict(self.meta) if self.meta is not None else (
            read_json(self.folder / "project.json") if (self.folder / "project.json").is_file() else None)
        if meta is None:
            return None
        names = {f.name for f in self.folder.iterdir() if f.is_file() and tracked(f.name)}
        names = (names | {n for n in staged if tracked(n)}) - set(self._removes)
        files = {}
        for n in sorted(names):
            src = self.stage / n if n in staged else self.folder / n
            files[n] = {"bytes": src.stat().st_size}
        meta["files"] = files
        return meta

    def _commit(self) -> None:
        staged = sorted(f.name for f in self.stage.iterdir() if f.is_file() and not f.name.startswith("."))
        meta = self._manifest([n for n in staged if n != "project.json"])
        if meta is not None:
            write_json_atomic(self.stage / "project.json", meta)
            if "project.json" not in staged:
                staged.append("project.json")
        moves = sorted(n for n in staged if n != "project.json") + (["project.json"] if "project.json" in staged else [])
        _crash_point("journal")
        write_json_atomic(self.folder / JOURNAL_NAME, {
            "stage": self.stage.name, "moves": moves, "removes": self._removes, "what": self.what,
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        _fsync_dir(self.folder)
        _apply(self.folder)


def _fsync_dir(folder: Path) -> None:
    if sys.platform == "win32":  # pragma: no cover
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _apply(folder: Path) -> dict:
    """Carry out the journal of ``folder`` (idempotent: moves already done are skipped)."""
    journal = read_json(folder / JOURNAL_NAME)
    stage = folder / journal["stage"]
    for name in journal["moves"]:
        src = stage / name
        if src.is_file():
            _crash_point(f"move {name}")
            os.replace(src, folder / name)
    for name in journal.get("removes", []):
        (folder / name).unlink(missing_ok=True)
    _fsync_dir(folder)
    (folder / JOURNAL_NAME).unlink()
    shutil.rmtree(stage, ignore_errors=True)
    return journal


@contextmanager
def project_change(folder: str | os.PathLike, what: str) -> Iterator[Change]:
    """Stage a change to the project ``folder`` (made if missing) and commit it when the block
    ends normally; an exception in the block discards every staged file and leaves the project
    as it was. Holds the project lock (re-entrant, see :func:`project_lock`) throughout."""
    folder = Path(folder)
    with project_lock(folder, what):
        recover(folder)
        stage = folder / f"{STAGE_PREFIX}{secrets.token_hex(4)}"
        stage.mkdir()
        (stage / ".what").write_text(what, encoding="utf-8")
        change = Change(folder, stage, what)
        try:
            yield change
            change._commit()
        except Exception:
            if not (folder / JOURNAL_NAME).is_file():  # before the commit point: discard
                shutil.rmtree(stage, ignore_errors=True)
            else:  # after it: the new state must land
                _apply(folder)
            raise


def _leftovers(folder: Path) -> tuple[bool, list[Path]]:
    try:
        stages = [p for p in folder.iterdir() if p.name.startswith(STAGE_PREFIX) and p.is_dir()]
    except OSError:
        return False, []
    return (folder / JOURNAL_NAME).is_file(), stages


def recover(folder: str | os.PathLike) -> str | None:
    """Finish or undo a change to ``folder`` that a crash interrupted (see the module docstring)
    and say what was done; None when there was nothing to do, or when a live writer owns the
    leftovers (its change is still being staged: the old state stands meanwhile)."""
    folder = Path(folder)
    journal, stages = _leftovers(folder)
    if not journal and not stages:
        return None
    try:
        # a journal means a writer is committing (milliseconds) or died committing: wait for it
        with project_lock(folder, "recovery", wait=10.0 if journal else 0.0):
            journal, stages = _leftovers(folder)
            if journal:
                done = _apply(folder)
                _remove_stale(folder)
                return (f"{folder}: finished an interrupted change ({done.get('what', '?')}, "
                        f"{done.get('date', '?')}); the project holds its new state")
            whats = []
            for s in stages:
                try:
                    whats.append((s / ".what").read_text(encoding="utf-8").strip())
                except OSError:
                    whats.append("unknown change")
                shutil.rmtree(s, ignore_errors=True)
            _remove_stale(folder)
            return (f"{folder}: discarded an interrupted change ({', '.join(whats)}) that had not been "
                    "committed; the project holds its previous state")
    except ProjectBusyError:
        if journal:
            raise
        return None
    except GenrecError as exc:  # read-only folder with leftovers
        if journal:
            raise ProjectFormatError(f"{folder}: an interrupted change must be finished, but {exc}") from None
        return None


def _remove_stale(folder: Path) -> None:
    """Temporary files of atomic writes that a crash left behind (``.name.XXXX.tmp``)."""
    for p in folder.iterdir():
        if p.name.startswith(".") and p.name.endswith(".tmp") and p.is_file():
            p.unlink(missing_ok=True)
