"""Foreign SID tables in and out: every format round-trips, problems name file and line or key,
imported projects work like fitted ones, and a failed import changes nothing."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from genrec_engine import Project
from genrec_engine.cli import main as cli_main
from genrec_engine.errors import ConfigError, DataValidationError
from genrec_engine.interop import FORMATS, export_sids, import_sids, read_sids, to_sid_table, write_sids
from genrec_engine.quantize import SIDTable
from genrec_engine.testing import make_tiny_project

ROOT = Path(__file__).resolve().parents[2]
BEAUTY = ROOT / "resources" / "datasets" / "beauty"
DEFAULT = ROOT / "resources" / "models" / "beauty-default"
FILES = {"letter": ["t.index.json"], "recbole": ["item_sids.json"], "recif": ["sid2pid.json"],
         "grid": ["codes.npy"], "csv": ["t.csv", "t.parquet"], "strings": ["s.csv"]}


def _roundtrip(table: SIDTable, fmt: str, path: Path, *, sizes=None, collision_level=None) -> SIDTable:
    written = write_sids(table, fmt, path)
    foreign = read_sids(path, "auto", codebook_sizes=written["codebook_sizes"])  # recif needs its radix
    assert foreign.format == fmt
    back, _ = to_sid_table(foreign, table.item_ids, codebook_sizes=sizes or written["codebook_sizes"],
                           policy=table.policy,
                           collision_level=written["collision_level"] if collision_level is None else collision_level)
    return back


@pytest.fixture(scope="module")
def beauty_sids():
    return Project.open(DEFAULT).sids


@pytest.mark.parametrize("fmt,name", [(f, n) for f in FORMATS for n in FILES[f]])
def test_every_format_round_trips_the_bundled_table(beauty_sids, fmt, name, tmp_path):
    back = _roundtrip(beauty_sids, fmt, tmp_path / name)
    np.testing.assert_array_equal(back.codes, beauty_sids.codes)
    assert back.level_sizes == beauty_sids.level_sizes


@pytest.mark.parametrize("fmt,name", [(f, n) for f in FORMATS for n in FILES[f]])
def test_non_uniform_sizes_and_keep_all_round_trip(fmt, name, tmp_path):
    rng = np.random.default_rng(1)
    ids = np.arange(100, 400, dtype=np.int64)
    codes = np.stack([rng.integers(0, 4, 300), rng.integers(0, 8, 300), rng.integers(0, 32, 300)], 1)
    codes[:40] = codes[0]  # one SID shared by 40 items
    for policy in ("append-level", "keep-all"):
        table = SIDTable.from_codes(ids, codes, (4, 8, 32), policy=policy)
        back = _roundtrip(table, fmt, tmp_path / policy / name)
        np.testing.assert_array_equal(back.codes, table.codes)
        assert back.sizes == (4, 8, 32) and back.policy == policy
    # keep-all writes the L codes only: one SID names the whole group
    assert write_sids(table, fmt, tmp_path / "k" / name)["levels"] == 3


def test_sizes_are_inferred_as_powers_of_two(tmp_path):
    path = tmp_path / "item_sids.json"
    path.write_text(json.dumps({"1": [0, 5, 63], "2": [3, 64, 1], "3": [2, 7, 0]}))
    table, info = to_sid_table(read_sids(path), [1, 2, 3])
    assert info["codebook_sizes"] == [4, 128, 64] and info["sizes_inferred"]
    assert table.level_sizes == (4, 128, 64, 1)


def _problem_lines(exc: DataValidationError) -> list[str]:
    return [str(p) for p in exc.problems]


@pytest.mark.parametrize("fmt,content,expect", [
    ("recbole", {"1": [1, 2], "2": [1, 2, 3], "3": [0, 0, 1]}, "item_sids.json [key '1', sid]: SID [1, 2] has 2 codes"),
    ("recbole", {"1": [1, 2, 3], "2": [1, 2, 3], "9": [0, 0, 1]}, "key '9']: names item 9, which is not in"),
    ("recbole", {"1": [1, 2, 3], "2": [1, "x", 3], "3": [0, 0, 1]}, "key '2', sid]: [1, 'x', 3]: codes must be integers"),
    ("recbole", {"1": [1, 2, 3], "2": [1, 2, 3]}, "1 of the catalogue's 3 items have no SID (item ids 3)"),
    ("letter", {"0": ["<a_1>", "<b_2>"], "1": ["<a_1>", "<c_2>"], "2": ["<a_0>", "<b_0>"]},
     "key '1', sid]: '<a_1><c_2>': token 2 is <c_2>, expected level letter 'b'"),
    ("letter", {"0": ["<a_1>", "<b_2>"], "x": ["<a_1>", "<b_3>"], "2": ["<a_0>", "<b_0>"]},
     "key 'x']: the key is not a non-negative integer catalogue row"),
])
def test_bad_tables_name_file_and_key(tmp_path, fmt, content, expect):
    path = tmp_path / ("t.index.json" if fmt == "letter" else "item_sids.json")
    path.write_text(json.dumps(content))
    with pytest.raises(DataValidationError) as err:
        to_sid_table(read_sids(path, fmt), [1, 2, 3] if fmt == "recbole" else [10, 11, 12])
    assert any(expect in line for line in _problem_lines(err.value)), _problem_lines(err.value)


def test_csv_problems_name_the_line(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("item_id,c1,c2\n1,0,1\n2,0,x\nz,1,1\n3,5\n")
    with pytest.raises(DataValidationError) as err:
        read_sids(path)
    lines = _problem_lines(err.value)
    assert any("t.csv:3 [sid]: code 'x' is not an integer" in s for s in lines)
    assert any("t.csv:4 [item_id]: 'z' is not an integer item id" in s for s in lines)
    path.write_text("item_id,c1,c2\n1,0,1\n2,0,3\n3,5,\n")
    with pytest.raises(DataValidationError) as err:
        to_sid_table(read_sids(path), [1, 2, 3])
    assert "t.csv:4 [sid]: SID [5] has 1 codes; the table's SIDs have 2" in str(err.value)
    with pytest.raises(DataValidationError) as err:
        to_sid_table(read_sids(_write(tmp_path / "u.csv", "item_id,c1,c2\n1,0,1\n2,0,3\n3,5,9\n")),
                     [1, 2, 3], codebook_sizes=[8, 8])
    assert "u.csv:4 [sid]: level 2 code 9 is not below the codebook size 8" in str(err.value)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_a_pt_grid_is_read_but_never_written(beauty_sids, tmp_path):
    """Another pipeline's ``.pt`` (one tensor, as GRID writes it; the fixture is written here with
    torch) is read through weights_only=True; exporting to ``.pt`` is refused (it would pickle)."""
    import torch

    torch.save(torch.as_tensor(beauty_sids.codes), tmp_path / "codes.pt")
    foreign = read_sids(tmp_path / "codes.pt")
    assert foreign.format == "grid"
    back, _ = to_sid_table(foreign, beauty_sids.item_ids, codebook_sizes=list(beauty_sids.level_sizes),
                           collision_level=True)
    np.testing.assert_array_equal(back.codes, beauty_sids.codes)
    with pytest.raises(ConfigError, match="written as .npy"):
        write_sids(beauty_sids, "grid", tmp_path / "out.pt")
    assert not (tmp_path / "out.pt").exists()


def test_recif_and_grid_refusals(tmp_path):
    import torch

    recif = _write(tmp_path / "sid2pid.json", json.dumps({"5": [{"pid": 1, "count": 3}], str(8 ** 3): [{"pid": 2}]}))
    with pytest.raises(DataValidationError, match=r"key '512'\]: packed SID 512 is not below 512 = 8 x 8 x 8"):
        read_sids(recif, codebook_sizes=[8, 8, 8])
    assert read_sids(recif).codes[0] == (0, 0, 5)  # default radix 8192
    torch.save({"codes": torch.zeros(3, 2, dtype=torch.long)}, tmp_path / "x.pt")
    with pytest.raises(ConfigError, match="holds a dict, expected exactly one tensor"):
        read_sids(tmp_path / "x.pt")
    np.save(tmp_path / "f.npy", np.zeros((3, 2), np.float32))
    with pytest.raises(ConfigError, match="expected an N x L integer array"):
        read_sids(tmp_path / "f.npy")
    _write(tmp_path / "bad.json", '{"1": [1, 2],\n "2": [1 2]}')
    with pytest.raises(DataValidationError, match=r"bad.json:2: invalid JSON"):
        read_sids(tmp_path / "bad.json", "recbole")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    project = make_tiny_project(BEAUTY, root, items=300, users=60, levels=2, codebook_size=16)
    return root, Project.open(project)


def _tree_digest(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def test_import_builds_a_working_project_and_export_reimports(tiny, tmp_path, capsys):
    root, proj = tiny
    rng = np.random.default_rng(3)
    ids = proj.sids.item_ids
    codes = np.stack([rng.integers(0, 8, len(ids)), rng.integers(0, 32, len(ids))], 1)
    codes[:5] = codes[0]
    src = tmp_path / "src" / "item_sids.json"
    src.parent.mkdir()
    src.write_text(json.dumps({str(i): c for i, c in zip(ids.tolist(), codes.tolist())}))
    code = cli_main(["sids", "import", "--data", str(root / "dataset"), "--sids", str(src), "--encoder", "structured",
                     "--collision-policy", "keep-all", "--out", str(tmp_path / "imp"), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0, out
    assert out["codebook_sizes"] == [8, 32] and out["sizes_inferred"] and out["format"] == "recbole"
    assert out["groups_with_collisions"] >= 1 and out["collision_policy"] == "keep-all"
    assert len(out["content_agreement"]) == 2
    imp = Project.open(tmp_path / "imp")
    np.testing.assert_array_equal(imp.sids.codes[:, :-1], codes)
    assert imp.sids.policy == "keep-all" and imp.sids.sizes == (8, 32)
    assert imp.trie.num_items == len(ids)
    assert imp.tokenizer.soft_assign(imp.embeddings[:3]).shape == (2, 3, 32)
    assert imp.tokenizer.encode(imp.embeddings[:3]).shape == (3, 2)  # cold start can place new items
    code = cli_main(["sids", "stats", str(tmp_path / "imp"), "--json"])
    stats = json.loads(capsys.readouterr().out)
    assert [lv["codebook_size"] for lv in stats["levels"]] == [8, 32]
    assert [lv["used_codes"] for lv in stats["levels"]] == [len(set(codes[:, 0])), len(set(codes[:, 1]))]
    # export -> import gives the same table back (manifest carries sizes and policy)
    code = cli_main(["sids", "export", "--project", str(tmp_path / "imp"), "--format", "letter",
                     "--out", str(tmp_path / "exp" / "t.index.json"), "--json"])
    man = json.loads(capsys.readouterr().out)["manifest"]
    assert code == 0 and man["codebook_sizes"] == [8, 32] and man["collision_policy"] == "keep-all"
    assert man["dataset"]["items"] == 300 and len(man["dataset"]["split_sha256"]) == 64
    assert man["sha256"] == hashlib.sha256((tmp_path / "exp" / "t.index.json").read_bytes()).hexdigest()
    res = import_sids(root / "dataset", tmp_path / "exp" / "t.index.json", tmp_path / "again", encoder="structured",
                      policy="keep-all")
    assert res["sizes_from"] == "manifest"
    np.testing.assert_array_equal(Project.open(tmp_path / "again").sids.codes, imp.sids.codes)


def test_generators_train_on_an_imported_project(tiny, tmp_path):
    from genrec_engine.recommender import recommend_indices
    from genrec_engine.train import TrainConfig, train_generator

    root, proj = tiny
    src = tmp_path / "codes.npy"
    np.save(src, proj.sids.codes[:, :-1] % np.array([4, 16]))
    import_sids(root / "dataset", src, tmp_path / "imp", encoder="structured")
    imp = Project.open(tmp_path / "imp")
    small = {"ran": {"d_model": 32, "n_layers": 1}, "tiger": {"d_model": 32, "n_enc_layers": 1, "n_dec_layers": 1,
                                                            "d_ff": 64, "decor": True}}
    for kind in ("ran", "tiger"):  # the TIGER-style one with DECOR reads the derived codebooks
        train_generator(imp, kind, model_config=small[kind], device="cpu",
                        train_config=TrainConfig(epochs=1, batch_size=64, eval_every=1))
        rec = recommend_indices(imp, [1, 2, 3], kind=kind, k=5, beam=5)
        assert len(rec.items) == 5 and not rec.invalid


def test_failed_import_changes_nothing(tiny, tmp_path, capsys):
    root, proj = tiny
    before = _tree_digest(proj.path)
    bad = _write(tmp_path / "item_sids.json", json.dumps({"1": [1, 2]}))
    code = cli_main(["sids", "import", "--data", str(root / "dataset"), "--sids", str(bad), "--encoder", "structured",
                     "--out", str(proj.path), "--overwrite", "--json"])
    captured = capsys.readouterr()
    assert code == 1 and "Traceback" not in captured.err
    assert "item_sids.json" in json.loads(captured.out)["error"]
    assert _tree_digest(proj.path) == before
    # a project in --out is never replaced without --overwrite
    good = tmp_path / "ok.npy"
    np.save(good, proj.sids.codes[:, :-1])
    code = cli_main(["sids", "import", "--data", str(root / "dataset"), "--sids", str(good), "--encoder", "structured",
                     "--out", str(proj.path)])
    assert code == 1 and "already holds a project" in capsys.readouterr().err
    assert _tree_digest(proj.path) == before
    assert not [p for p in proj.path.parent.iterdir() if p.name.startswith(".")]


def test_export_refuses_a_folder_holding_another_export(tiny, tmp_path):
    _, proj = tiny
    export_sids(proj, "csv", tmp_path / "a.csv")
    with pytest.raises(ConfigError, match="already holds manifest.json for a.csv"):
        export_sids(proj, "recbole", tmp_path / "b.json")


def test_letter_layout_end_to_end(tmp_path, capsys):
    """import-letter + sids import --format letter on a LETTER-layout fixture: the right counts,
    item ids equal to the LETTER indices, codes equal to the index.json tokens."""
    from genrec_engine.testing import write_letter_fixture

    fx = write_letter_fixture(BEAUTY, tmp_path / "src", items=120, users=30, per_user=6, sizes=(4, 8, 16))
    assert cli_main(["data", "import-letter", str(tmp_path / "src"), str(tmp_path / "ds"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["items"], summary["users"], summary["interactions"]) == (120, 30, 180)
    assert summary["rows"] == fx["rows"] == 150  # 5 targets per user
    assert summary["rows_merged"] == 30 * 4  # each user: 4 of 5 rows lie inside the longest one
    assert cli_main(["sids", "import", "--data", str(tmp_path / "ds"), "--sids", str(tmp_path / "src" / "Beauty.index.json"),
                     "--format", "letter", "--encoder", "structured", "--out", str(tmp_path / "p"), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["items"] == 120 and res["format"] == "letter" and res["codebook_sizes"] == [4, 8, 16]
    proj = Project.open(tmp_path / "p")
    np.testing.assert_array_equal(proj.sids.item_ids, np.arange(120))
    index = json.loads((tmp_path / "src" / "Beauty.index.json").read_text())
    want = [[int(tok.split("_")[1][:-1]) for tok in index[str(i)]] for i in range(120)]
    np.testing.assert_array_equal(proj.sids.codes[:, :-1], want)
    users, seqs = proj.dataset.sequences()
    assert [int(i) for i in seqs[list(users).index(0)]] == fx["sequences"][0]


def test_more_bad_inputs_get_one_line(tiny, tmp_path, capsys):
    root, proj = tiny
    (tmp_path / "folder").mkdir()
    _write(tmp_path / "g.npy", "garbage")
    _write(tmp_path / "table.json", json.dumps({str(i): [1, 2] for i in range(50)}))
    blocker = _write(tmp_path / "blocker", "a file where a folder should be")
    cases = [
        (["sids", "import", "--data", str(root / "dataset"), "--sids", str(tmp_path / "folder")], "is a folder"),
        (["sids", "import", "--data", str(root / "dataset"), "--sids", str(tmp_path / "g.npy")],
         "not a readable .npy integer array"),
        (["sids", "import", "--data", str(root / "dataset"), "--sids", str(tmp_path / "table.json"), "--format", "csv"],
         "no item_id column"),
        (["sids", "import", "--data", str(root / "dataset"), "--sids", str(tmp_path / "table.json"), "--format", "grid"],
         "torch.load(weights_only=True)"),
        (["sids", "export", "--project", str(proj.path), "--format", "csv", "--out", str(blocker / "x" / "a.csv")],
         "cannot write"),
    ]
    for argv, expect in cases:
        if argv[1] == "import":
            argv = argv + ["--encoder", "structured", "--out", str(tmp_path / "never")]
        assert cli_main(argv + ["--json"]) == 1
        captured = capsys.readouterr()
        assert expect in json.loads(captured.out)["error"], (argv, captured.out)
        assert "Traceback" not in captured.err and captured.err.count("genrec: error:") == 1
    assert not (tmp_path / "never").exists()
