"""Project folders, encoders and the ``genrec`` CLI, end to end on small and bundled data."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from genrec_engine import ConfigError, Project, ProjectFormatError, QuantizerConfig, load_dataset, tokenize_dataset
from genrec_engine.cli import main as cli_main
from genrec_engine.embed import StructuredEncoder, TextEncoder, load_embeddings

ROOT = Path(__file__).resolve().parents[2]
BEAUTY = ROOT / "resources" / "datasets" / "beauty"
DEFAULT = ROOT / "resources" / "models" / "beauty-default"


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory):
    """200 Beauty items and the users who only touched them (real titles, brands, categories)."""
    from genrec_engine.data import Interactions, save_dataset

    ds = load_dataset(BEAUTY)
    cat = ds.catalogue
    keep = cat.items.iloc[:400].reset_index(drop=True)
    from genrec_engine.data import Catalogue

    small = Catalogue(keep)
    rng = np.random.default_rng(0)
    users, items = [], []
    for u in range(60):
        for it in rng.choice(small.item_ids, 6, replace=False):
            users.append(u + 1)
            items.append(int(it))
    inter = Interactions.from_arrays(small, users, items)
    out = tmp_path_factory.mktemp("small")
    save_dataset(small, inter, out)
    return out


def test_project_round_trip_gives_identical_sids(small_dataset, tmp_path):
    ds = load_dataset(small_dataset)
    cfg = QuantizerConfig(method="rkmeans", levels=2, codebook_size=16, device="cpu")
    res = tokenize_dataset(ds, cfg, tmp_path / "proj", encoder="structured")
    assert res.diagnostics.unique_sids == 400
    proj = Project.open(tmp_path / "proj")
    np.testing.assert_array_equal(proj.sids.codes, res.project.sids.codes)
    np.testing.assert_array_equal(proj.tokenizer.encode(proj.embeddings), proj.sids.codes[:, :-1])
    assert proj.dataset.n_items == 400  # the relative dataset reference resolves
    assert proj.trie.num_items == 400


def test_bundled_default_project_reencodes_bit_identically():
    proj = Project.open(DEFAULT)
    assert proj.sids.n_items == 12_101
    np.testing.assert_array_equal(proj.tokenizer.encode(proj.embeddings), proj.sids.codes[:, :-1])
    assert len({tuple(r) for r in proj.sids.codes.tolist()}) == 12_101


def test_project_refuses_wrong_version_and_truncated_files(small_dataset, tmp_path):
    ds = load_dataset(small_dataset)
    cfg = QuantizerConfig(method="rkmeans", levels=2, codebook_size=8, device="cpu")
    tokenize_dataset(ds, cfg, tmp_path / "p", encoder="structured")
    meta = json.loads((tmp_path / "p" / "project.json").read_text())
    meta["format"] = "genrec-project/99"
    (tmp_path / "p" / "project.json").write_text(json.dumps(meta))
    with pytest.raises(ProjectFormatError, match="genrec-project/99"):
        Project.open(tmp_path / "p")
    meta["format"] = "genrec-project/1"
    (tmp_path / "p" / "project.json").write_text(json.dumps(meta))
    sids = tmp_path / "p" / "sids.parquet"
    sids.write_bytes(sids.read_bytes()[:100])
    with pytest.raises(ProjectFormatError, match="sids.parquet"):
        Project.open(tmp_path / "p")
    with pytest.raises(ProjectFormatError, match="no project.json"):
        Project.open(tmp_path)


def test_failed_tokenize_leaves_existing_project_untouched(small_dataset, tmp_path):
    ds = load_dataset(small_dataset)
    cfg = QuantizerConfig(method="rkmeans", levels=2, codebook_size=8, device="cpu")
    tokenize_dataset(ds, cfg, tmp_path / "p", encoder="structured")
    before = {f.name: f.read_bytes() for f in (tmp_path / "p").iterdir()}
    with pytest.raises(ConfigError):
        tokenize_dataset(ds, cfg, tmp_path / "p", encoder="npy", embeddings_path=tmp_path / "nope.npy")
    after = {f.name: f.read_bytes() for f in (tmp_path / "p").iterdir()}
    assert before == after


def test_text_encoder_is_offline_normalised_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("GENREC_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    enc = TextEncoder(device="cpu")
    texts = ["gentle cleanser for sensitive skin", "red nail polish", "gentle face wash"]
    X = enc.encode_texts(texts)
    assert X.shape == (3, 384) and X.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, rtol=1e-4)
    assert X[0] @ X[2] > X[0] @ X[1]  # the two cleansers are closer than cleanser vs polish
    assert len(list((tmp_path / "embeddings").glob("*.npy"))) == 1
    calls = []
    Y = enc.encode_texts(texts, progress=lambda f, m: calls.append(m))
    np.testing.assert_array_equal(X, Y)
    assert calls == ["embeddings read from cache"]


def test_structured_encoder_and_npy_loader(small_dataset, tmp_path):
    ds = load_dataset(small_dataset)
    Z = StructuredEncoder(dim=16).encode(ds.catalogue)
    assert Z.shape == (400, 16)
    np.save(tmp_path / "e.npy", Z)
    np.testing.assert_array_equal(load_embeddings(tmp_path / "e.npy", 400), Z)
    with pytest.raises(ConfigError, match="401 items"):
        load_embeddings(tmp_path / "e.npy", 401)


def _cli(capsys, *argv):
    code = cli_main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_data_check_beauty_counts(capsys):
    code, out, _ = _cli(capsys, "data", "check", str(BEAUTY), "--json")
    obj = json.loads(out)
    assert code == 0
    assert (obj["items"], obj["users"], obj["interactions"]) == (12_101, 22_363, 198_502)
    assert obj["errors"] == 0


def test_cli_bad_dataset_exits_nonzero_with_one_line(tmp_path, capsys):
    (tmp_path / "items.csv").write_text("item_id,title\n1,a\n1,b\n")
    (tmp_path / "interactions.csv").write_text("user_id,item_id\n1,1\n1,1\n1,7\n")
    code, out, err = _cli(capsys, "data", "check", str(tmp_path), "--json")
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and "items.csv" in err
    obj = json.loads(out)
    fields = {(p["file"], p["field"]) for p in obj["problems"]}
    assert ("items.csv", "item_id") in fields and ("interactions.csv", "item_id") in fields


def test_cli_tokenize_and_sids_show(small_dataset, tmp_path, capsys):
    code, out, _ = _cli(capsys, "tokenize", "--data", str(small_dataset), "--method", "rkmeans", "--levels", "2",
                        "--codebook-size", "16", "--encoder", "structured", "--out", str(tmp_path / "p"), "--json")
    assert code == 0
    obj = json.loads(out)
    assert obj["unique_sids"] == 400 and len(obj["utilization"]) == 2
    assert set(obj) >= {"items", "unique_sids", "collision_rate", "max_collision_depth", "utilization",
                        "perplexity", "prefix_entropy", "recon_mse", "seconds"}
    proj = Project.open(tmp_path / "p")
    first = int(proj.sids.item_ids[0])
    code, out, _ = _cli(capsys, "sids", "show", str(tmp_path / "p"), "--item", str(first), "--json")
    assert code == 0 and json.loads(out)["item"]["sid"] == list(proj.sids.sid(0))
    prefix = ",".join(map(str, proj.sids.sid(0)[:1]))
    code, out, _ = _cli(capsys, "sids", "show", str(tmp_path / "p"), "--prefix", prefix, "--json")
    obj = json.loads(out)
    assert obj["items"] == int((proj.sids.codes[:, 0] == proj.sids.sid(0)[0]).sum())
    assert sum(c["items"] for c in obj["children"]) == obj["items"]
    code, out, err = _cli(capsys, "sids", "show", str(tmp_path / "p"), "--item", "999999", "--json")
    assert code == 1 and "999999" in err and "error" in json.loads(out)
    code, out, _ = _cli(capsys, "sids", "export", str(tmp_path / "p"), "--graphml", str(tmp_path / "t.graphml"), "--json")
    assert code == 0 and (tmp_path / "t.graphml").stat().st_size > 0


def test_cli_tokenize_bad_config_message(small_dataset, tmp_path, capsys):
    code, out, err = _cli(capsys, "tokenize", "--data", str(small_dataset), "--method", "gaoq", "--codebook-size", "128",
                          "--encoder", "structured", "--out", str(tmp_path / "p"), "--json")
    assert code == 1 and "codebook_size=128" in err
    assert not (tmp_path / "p").exists()


def test_console_script_runs_in_a_subprocess():
    exe = Path(sys.executable).with_name("genrec")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "genrec_engine.cli"]
    r = subprocess.run(cmd + ["sids", "stats", str(DEFAULT), "--json"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    obj = json.loads(r.stdout)
    assert obj["items"] == 12_101 and obj["levels"][0]["utilization"] >= 0.9


def test_codeword_weights_compare_content_and_collaborative(small_dataset, tmp_path):
    import torch

    from genrec_engine.models import RAN, RANConfig
    from genrec_engine.analysis.weights import codeword_weights, divergence_ranking

    ds = load_dataset(small_dataset)
    cfg = QuantizerConfig(method="rkmeans", levels=2, codebook_size=16, device="cpu")
    proj = tokenize_dataset(ds, cfg, tmp_path / "p", encoder="structured").project
    torch.manual_seed(0)
    ran = RAN(RANConfig(d_model=16, n_layers=1, n_heads=1, max_len=8), proj.sids.codes, proj.sids.level_sizes)
    levels = codeword_weights(proj, ran, 5)
    assert [lw.content.shape[0] for lw in levels] == list(proj.sids.level_sizes)
    for lw in levels:
        assert lw.content.sum() == pytest.approx(1.0, rel=1e-4) and lw.collaborative.sum() == pytest.approx(1.0, rel=1e-4)
        assert 0.0 <= lw.js <= 1.0
    assert levels[0].content_argmax == levels[0].code  # the soft assignment's argmax is the hard SID
    assert levels[-1].content[levels[-1].code] == 1.0  # collision level: one-hot
    json.dumps([lw.to_dict() for lw in levels])
    rank = divergence_ranking(proj, ran)
    assert rank["js"].shape == (400, proj.sids.depth)
    np.testing.assert_allclose(rank["js"][5], [lw.js for lw in levels], rtol=1e-5)


def test_cli_train_eval_recommend_on_a_small_project(small_dataset, tmp_path, capsys):
    code, _, _ = _cli(capsys, "tokenize", "--data", str(small_dataset), "--method", "rkmeans", "--levels", "2",
                      "--codebook-size", "16", "--encoder", "structured", "--out", str(tmp_path / "p"), "--json")
    assert code == 0
    for kind in ("ran", "sasrec"):
        code, out, err = _cli(capsys, "train", "--project", str(tmp_path / "p"), "--model", kind, "--epochs", "2",
                              "--eval-every", "1", "--d-model", "16", "--n-layers", "1", "--n-heads", "1", "--json")
        assert code == 0, err
        rec = json.loads(out)
        assert rec["model"] == kind and "recall@10" in rec["valid"] and "test" not in rec  # test: genrec eval only
        assert (tmp_path / "p" / f"generator-{kind}.safetensors").is_file()
        assert not (tmp_path / "p" / f"generator-{kind}.partial.safetensors").exists()  # removed once saved
    metrics = json.loads((tmp_path / "p" / "metrics.json").read_text())
    assert set(metrics) == {"ran", "sasrec"}
    code, out, _ = _cli(capsys, "eval", "--project", str(tmp_path / "p"), "--model", "ran", "--split", "test",
                        "--beam", "10", "--json")
    obj = json.loads(out)
    assert code == 0 and obj["invalid_rate"] == 0.0
    assert set(obj) >= {"recall@5", "recall@10", "recall@20", "ndcg@5", "ndcg@10", "ndcg@20", "invalid_rate",
                        "coverage@10", "homogeneity@10", "users", "seconds"}
    proj = Project.open(tmp_path / "p")
    hist = ",".join(str(i) for i in proj.sids.item_ids[:3])
    code, out, _ = _cli(capsys, "recommend", "--project", str(tmp_path / "p"), "--model", "ran", "--history", hist,
                        "-k", "5", "--trace", "--json")
    obj = json.loads(out)
    assert code == 0 and len(obj["items"]) == 5 and len(obj["trace"]) == proj.sids.depth
    valid = {tuple(r) for r in proj.sids.codes.tolist()}
    assert all(tuple(r["sid"]) in valid for r in obj["items"])
    code, out, err = _cli(capsys, "recommend", "--project", str(tmp_path / "p"), "--model", "ran", "--history", "1,99999999",
                          "--json")
    assert code == 1 and "99999999" in err
    # --resume: starts from the saved RAN (validated first as epoch 0), keeps the earlier run's record
    code, out, err = _cli(capsys, "train", "--project", str(tmp_path / "p"), "--model", "ran", "--resume", "--epochs", "1",
                          "--eval-every", "1", "--lr", "0.0005", "--json")
    assert code == 0, err
    rec = json.loads(out)
    assert rec["model_config"]["d_model"] == 16 and rec["best_epoch"] in (0, 1)
    assert rec["resumed"][0]["best_epoch"] >= 1 and "recall@10" in rec["resumed"][0]["valid"]
    code, _, err = _cli(capsys, "train", "--project", str(tmp_path / "p"), "--model", "ran", "--resume", "--d-model", "32")
    assert code == 1 and "d_model" in err  # a resumed model keeps its settings
    # --resume can add trie-node output vectors (at zero) to a generator saved without them
    code, out, err = _cli(capsys, "train", "--project", str(tmp_path / "p"), "--model", "ran", "--resume", "--epochs", "1",
                          "--model-config", '{"node_levels": 1}', "--json")
    assert code == 0, err
    rec = json.loads(out)
    assert rec["model_config"]["node_levels"] == 1 and len(rec["resumed"]) == 2
    # compact: float16 storage, the rounded weights evaluated on validation and recorded; a second run changes nothing
    size = (tmp_path / "p" / "generator-ran.safetensors").stat().st_size
    code, out, err = _cli(capsys, "compact", "--project", str(tmp_path / "p"), "--model", "ran", "--json")
    assert code == 0, err
    obj = json.loads(out)
    assert obj["bytes_before"] == size and obj["bytes_after"] < 0.6 * size and obj["storage_before"] == "float32"
    assert "recall@10" in obj["valid"] and obj["valid_before"] == rec["valid"] and "test" not in obj
    entry = json.loads((tmp_path / "p" / "metrics.json").read_text())["ran"]["compacted"]
    assert entry["storage"] == "float16" and entry["valid"] == obj["valid"] and "genrec compact --project" in entry["command"]
    code, out, _ = _cli(capsys, "eval", "--project", str(tmp_path / "p"), "--model", "ran", "--split", "valid", "--json")
    assert code == 0 and json.loads(out)["recall@10"] == obj["valid"]["recall@10"]
    code, out, _ = _cli(capsys, "compact", "--project", str(tmp_path / "p"), "--model", "ran", "--json")
    assert code == 0 and json.loads(out)["bytes_after"] == obj["bytes_after"] and "valid" not in json.loads(out)


def test_save_copy_writes_a_complete_project_and_leaves_the_original(small_dataset, tmp_path):
    ds = load_dataset(small_dataset)
    cfg = QuantizerConfig(method="rkmeans", levels=2, codebook_size=8, device="cpu")
    tokenize_dataset(ds, cfg, tmp_path / "p", encoder="structured")
    src = Project.open(tmp_path / "p")
    (src.path / "generator-ran.safetensors").write_bytes(b"weights")
    (src.path / "generator-ran.partial.safetensors").write_bytes(b"unfinished")
    (src.path / "metrics.json").write_text("{}")
    before = {f.name: f.read_bytes() for f in src.path.iterdir() if f.name != ".genrec.lock"}
    out = src.save_copy(tmp_path / "elsewhere" / "copy")
    assert src.path == tmp_path / "p"  # the open project still points at its own folder
    assert {f.name: f.read_bytes() for f in src.path.iterdir() if f.name != ".genrec.lock"} == before
    names = {f.name for f in out.iterdir()}
    assert {"project.json", "generator-ran.safetensors", "metrics.json"} <= names
    assert "generator-ran.partial.safetensors" not in names
    copy = Project.open(out)
    np.testing.assert_array_equal(copy.sids.codes, src.sids.codes)
    assert copy.dataset.n_items == src.dataset.n_items  # the relative dataset path was rewritten
    with pytest.raises(ConfigError, match="own folder"):
        src.save_copy(tmp_path / "p")
