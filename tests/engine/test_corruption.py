"""Damaged or foreign project files: each gives one clear message naming the file (and the key
where there is one) and exit 1, never a traceback; the silent loads (a generator from another
catalogue, one renamed to another kind, NaN weights) are refused."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from genrec_engine.cli import main as cli_main
from genrec_engine.testing import make_tiny_project

ROOT = Path(__file__).resolve().parents[2]
BEAUTY = ROOT / "resources" / "datasets" / "beauty"
SMALL = ["--epochs", "1", "--eval-every", "1", "--d-model", "16", "--n-layers", "1", "--n-heads", "1"]


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """Two tiny projects of the same size over different interactions, each with a trained RAN
    and SASRec (read only: copy them)."""
    out = []
    for seed in (0, 1):
        root = tmp_path_factory.mktemp(f"corrupt{seed}")
        path = make_tiny_project(BEAUTY, root, items=60, users=40, per_user=5, codebook_size=8, seed=seed)
        for kind in ("ran", "sasrec"):
            assert cli_main(["train", "--project", str(path), "--model", kind, *SMALL, "--seed", str(seed)]) == 0
        out.append(path)
    return out


@pytest.fixture
def proj(pair, tmp_path):
    shutil.copytree(pair[0].parent / "dataset", tmp_path / "dataset")
    shutil.copytree(pair[0], tmp_path / "project", ignore=shutil.ignore_patterns(".genrec.lock"))
    return tmp_path / "project"


def _run(capsys, *argv) -> tuple[int, str]:
    code = cli_main(list(argv))
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("genrec: error")]
    assert "Traceback" not in err
    return code, lines[-1] if lines else ""


def _eval(capsys, p: Path, kind: str = "ran") -> tuple[int, str]:
    return _run(capsys, "eval", "--project", str(p), "--model", kind, "--split", "valid", "--users", "5", "--no-record")


def _edit_json(path: Path, fn) -> None:
    obj = json.loads(path.read_text())
    path.write_text(json.dumps(fn(obj)))


def _drop(key):
    def fn(obj):
        obj.pop(key)
        return obj
    return fn


def _set(key, value):
    def fn(obj):
        obj[key] = value
        return obj
    return fn


PROJECT_JSON_CASES = {
    "no dataset": (_drop("dataset"), "[dataset]: missing"),
    "no tokenizer": (_drop("tokenizer"), "[tokenizer]: missing"),
    "dataset is a list": (_set("dataset", [1, 2]), "[dataset]: expected an object"),
    "dataset path a number": (lambda o: {**o, "dataset": {**o["dataset"], "path": 5}}, "[dataset.path]: expected text"),
    "tokenizer without config": (_set("tokenizer", {}), "[tokenizer.config]: missing"),
    "a JSON array": (lambda o: [o], "expected a JSON object, found list"),
    "name a number": (_set("name", 3), "[name]: expected text"),
    "cold items not ids": (_set("cold", {"items": ["x"]}), "[cold.items]"),
}


@pytest.mark.parametrize("case", list(PROJECT_JSON_CASES))
def test_project_json_damage_is_named(case, proj, capsys):
    fn, expected = PROJECT_JSON_CASES[case]
    _edit_json(proj / "project.json", fn)
    code, msg = _eval(capsys, proj)
    assert code == 1 and "project.json" in msg and expected in msg, msg


def _rewrite_sids(path: Path, codes_fn=None, meta_fn=None) -> None:
    table = pq.read_table(path)
    meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    df = table.to_pandas()
    if codes_fn:
        codes_fn(df)
    if meta_fn:
        meta = meta_fn(meta)
    out = pa.Table.from_pandas(df, preserve_index=False).replace_schema_metadata({k: v for k, v in meta.items()})
    pq.write_table(out, path)


def _without(*keys):
    return lambda meta: {k: v for k, v in meta.items() if k not in keys}


SIDS_CASES = {
    "negative code": (lambda df: df.__setitem__("c0", -df["c0"] - 1), None, "column c0 holds codes"),
    "code beyond its level": (lambda df: df.__setitem__("c1", df["c1"] + 1000), None, "column c1 holds codes"),
    "no codebook_size": (None, _without("codebook_size"), "lacks its codebook_size metadata"),
    "no levels": (None, _without("levels"), "levels"),
    "a missing column": (lambda df: df.pop("c1"), None, "misses column"),
}


@pytest.mark.parametrize("case", list(SIDS_CASES))
def test_sid_table_damage_is_named(case, proj, capsys):
    codes_fn, meta_fn, expected = SIDS_CASES[case]
    _rewrite_sids(proj / "sids.parquet", codes_fn, meta_fn)
    _forget_size(proj, "sids.parquet")
    code, msg = _eval(capsys, proj)
    assert code == 1 and "sids.parquet" in msg and expected in msg, msg


def _rewrite_header(path: Path, fn, tensors_fn=None) -> None:
    with safe_open(str(path), framework="pt") as fh:
        meta = dict(fh.metadata() or {})
    tensors = load_file(str(path))
    if tensors_fn:
        tensors_fn(tensors)
    save_file(tensors, str(path), metadata=fn(meta))


def _forget_size(proj: Path, name: str) -> None:
    """Keep project.json's record of ``name`` in step with a file edited by hand (so the test
    reaches the header and weight checks, not only the size check)."""
    _edit_json(proj / "project.json",
               lambda o: {**o, "files": {**o["files"], name: {"bytes": (proj / name).stat().st_size}}})


GENERATOR_CASES = {
    "no config": (_without("config"), "[config]: missing"),
    "config bad JSON": (lambda m: {**m, "config": "{d_model: 16"}, "[config]: not valid JSON"),
    "config a list": (lambda m: {**m, "config": "[1, 2]"}, "[config]: expected dict"),
    "no kind": (_without("kind"), "[kind]: missing"),
    "n_items text": (lambda m: {**m, "n_items": "many"}, "[n_items]: not valid JSON"),
    "d_model for 48 TB": (lambda m: {**m, "config": json.dumps({**json.loads(m["config"]), "d_model": 12_000_000})},
                          "[config]"),
    "another format": (lambda m: {**m, "format": "other/9"}, "generator format"),
}


@pytest.mark.parametrize("case", list(GENERATOR_CASES))
def test_generator_header_damage_is_named(case, proj, capsys):
    fn, expected = GENERATOR_CASES[case]
    _rewrite_header(proj / "generator-ran.safetensors", fn)
    _forget_size(proj, "generator-ran.safetensors")
    code, msg = _eval(capsys, proj)
    assert code == 1 and "generator-ran.safetensors" in msg and expected in msg, msg


TOKENIZER_CASES = {
    "no config": (_without("config"), "[config]: missing"),
    "config bad JSON": (lambda m: {**m, "config": "{oops"}, "[config]"),
    "unknown method": (lambda m: {**m, "config": json.dumps({**json.loads(m["config"]), "method": "zzz"})}, "[config]"),
}


@pytest.mark.parametrize("case", list(TOKENIZER_CASES))
def test_tokenizer_header_damage_is_named(case, proj):
    fn, expected = TOKENIZER_CASES[case]
    _rewrite_header(proj / "tokenizer.safetensors", fn)
    _forget_size(proj, "tokenizer.safetensors")
    from genrec_engine import Project
    from genrec_engine.errors import ProjectFormatError

    with pytest.raises(ProjectFormatError) as info:
        Project.open(proj).tokenizer  # noqa: B018
    msg = str(info.value)
    assert "tokenizer.safetensors" in msg and expected in msg, msg


def test_a_generator_from_another_catalogue_of_the_same_size_is_refused(pair, proj, capsys):
    for kind in ("sasrec", "ran"):
        shutil.copyfile(pair[1] / f"generator-{kind}.safetensors", proj / f"generator-{kind}.safetensors")
        _forget_size(proj, f"generator-{kind}.safetensors")  # even with its size recorded
        code, msg = _eval(capsys, proj, kind)
        assert code == 1 and f"generator-{kind}.safetensors [trained_on." in msg and "trained on another" in msg, msg


def test_a_generator_copied_in_by_hand_is_refused_unless_its_header_says_it_fits(pair, proj, capsys):
    """Not recorded in project.json: loaded only when its fingerprint matches this project."""
    _edit_json(proj / "project.json",
               lambda o: {**o, "files": {k: v for k, v in o["files"].items() if k != "generator-sasrec.safetensors"}})
    code, msg = _eval(capsys, proj, "sasrec")
    assert code == 0, msg  # our own file, with a matching fingerprint
    shutil.copyfile(pair[1] / "generator-sasrec.safetensors", proj / "generator-sasrec.safetensors")
    code, msg = _eval(capsys, proj, "sasrec")
    assert code == 1 and "trained on another catalogue" in msg, msg


def test_a_checkpoint_renamed_to_another_kind_is_refused(proj, capsys):
    shutil.copyfile(proj / "generator-ran.safetensors", proj / "generator-sasrec.safetensors")
    _forget_size(proj, "generator-sasrec.safetensors")
    code, msg = _eval(capsys, proj, "sasrec")
    assert code == 1 and "generator-sasrec.safetensors [kind]: holds a ran generator, not a sasrec one" in msg, msg


def test_non_finite_weights_are_refused(proj, capsys):
    def poison(tensors):
        name = next(k for k, v in tensors.items() if v.is_floating_point() and v.numel() > 1)
        tensors[name] = tensors[name].clone()
        tensors[name].view(-1)[0] = float("nan")

    _rewrite_header(proj / "generator-sasrec.safetensors", lambda m: m, poison)
    code, msg = _eval(capsys, proj, "sasrec")  # same size: the record matches, the weights do not
    assert code == 1 and "NaN or infinite weights" in msg, msg


def test_a_file_changed_outside_genrec_is_refused_by_its_recorded_size(proj, capsys):
    emb = np.load(proj / "embeddings.npy")
    np.save(proj / "embeddings.npy", np.concatenate([emb, emb[:1]]))
    code, msg = _eval(capsys, proj)
    assert code == 1 and "embeddings.npy" in msg and "project.json records" in msg, msg


def test_truncated_and_empty_files_are_named(proj, capsys):
    data = (proj / "generator-ran.safetensors").read_bytes()
    (proj / "generator-ran.safetensors").write_bytes(data[: len(data) // 2])
    _forget_size(proj, "generator-ran.safetensors")
    code, msg = _eval(capsys, proj)
    assert code == 1 and "generator-ran.safetensors" in msg and "truncated or corrupt" in msg, msg
    (proj / "metrics.json").write_text("")
    code, msg = _run(capsys, "train", "--project", str(proj), "--model", "ran", *SMALL)
    assert code == 1 and "metrics.json: unreadable JSON" in msg, msg


def test_weights_loaded_are_the_weights_saved(proj):
    """The checks do not change what a good file loads to."""
    from genrec_engine import Project

    project = Project.open(proj)
    model = project.generator("ran", cached=False)
    stored = load_file(str(proj / "generator-ran.safetensors"))
    state = model.state_dict()
    assert all(torch.equal(state[k].float(), v.float()) for k, v in stored.items())


def test_minimal_catalogues_train_or_are_refused_with_the_reason(tmp_path, capsys):
    """One item: refused by name. Two items without brand or categories, two users of four
    interactions: every kind trains, evaluates and recommends (k beyond the catalogue is padded)."""
    ds = tmp_path / "ds"
    ds.mkdir()
    (ds / "items.csv").write_text("item_id,title\n1,Lipstick\n")
    (ds / "interactions.csv").write_text("user_id,item_id\n" + "1,1\n" * 4 + "2,1\n" * 4)
    p = tmp_path / "p"
    tok = ["tokenize", "--data", str(ds), "--out", str(p), "--encoder", "structured", "--levels", "2",
           "--codebook-size", "4"]
    code, msg = _run(capsys, *tok)
    assert code == 1 and "1 item(s); semantic IDs need a catalogue of at least 2 items" in msg, msg
    (ds / "items.csv").write_text("item_id,title\n1,Lipstick\n2,Mascara\n")
    (ds / "interactions.csv").write_text("user_id,item_id\n" + "1,1\n1,2\n" * 2 + "2,2\n2,1\n" * 2)
    assert _run(capsys, *tok)[0] == 0
    for kind in ("ran", "sasrec", "tiger"):
        small = SMALL if kind != "tiger" else ["--epochs", "1", "--eval-every", "1"]
        code, msg = _run(capsys, "train", "--project", str(p), "--model", kind, *small)
        assert code == 0, msg
        assert _run(capsys, "eval", "--project", str(p), "--model", kind, "--no-record")[0] == 0
        assert _run(capsys, "recommend", "--project", str(p), "--model", kind, "--history", "1")[0] == 0
    # every user with exactly 3 interactions (enough to load and evaluate, not to train)
    (ds / "interactions.csv").write_text("user_id,item_id\n" + "1,1\n1,2\n1,1\n" + "2,2\n2,1\n2,2\n")
    shutil.rmtree(p)
    assert _run(capsys, *tok)[0] == 0
    code, msg = _run(capsys, "train", "--project", str(p), "--model", "ran", *SMALL)
    assert code == 1 and "at least 4" in msg, msg


def test_short_users_can_be_dropped_and_small_catalogues_get_a_fitting_codebook(tmp_path, capsys):
    from genrec_engine import Project, check_dataset, suggest_codebook_size

    assert [suggest_codebook_size(n) for n in (10, 300, 2000, 4096, 12_101, 10**6)] == [4, 16, 64, 256, 256, 256]
    ds = tmp_path / "ds"
    ds.mkdir()
    items = "".join(f"{i},Item number {i},Brand{i % 7},Beauty > Cat{i % 5}\n" for i in range(1, 301))
    (ds / "items.csv").write_text("item_id,title,brand,categories\n" + items)
    rng = np.random.default_rng(0)
    rows = [f"{u},{i}\n" for u in range(1, 81) for i in rng.choice(np.arange(1, 301), 5, replace=False)]
    rows += ["900,1\n", "900,2\n", "901,3\n"]  # two users below the minimum of 3
    (ds / "interactions.csv").write_text("user_id,item_id\n" + "".join(rows))
    dataset, problems = check_dataset(ds)
    errors = [p for p in problems if p.severity == "error"]
    assert dataset is None and len(errors) == 2 and all("--drop-short-users" in p.message for p in errors)
    dataset, problems = check_dataset(ds, short_users="drop")
    assert dataset is not None and dataset.n_users == 80 and dataset.short_users == "drop"
    assert [p.severity for p in problems] == ["warning"] and "dropped 2 user(s)" in problems[0].message
    code, msg = _run(capsys, "tokenize", "--data", str(ds), "--out", str(tmp_path / "p"), "--encoder", "structured")
    assert code == 1 and "--drop-short-users" in msg
    assert cli_main(["tokenize", "--data", str(ds), "--out", str(tmp_path / "p"), "--encoder", "structured",
                     "--drop-short-users", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["codebook_size"] == 16 and out["codebook_size_from"] == "catalogue size"
    project = Project.open(tmp_path / "p")
    assert project.meta["dataset"]["short_users"] == "drop" and project.dataset.n_users == 80  # reloads without error
    assert project.sids.sizes[:3] == (16, 16, 16)
