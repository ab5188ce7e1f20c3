"""``genrec bench scale`` runs the whole pipeline (synthetic catalogue, tokenizer, trie, layout,
the app on the project, tree and search requests, training, decoding) and checks each stage's
output; here at 20,000 items against a 2,000-item baseline, with a short training budget."""
from __future__ import annotations

import json

import numpy as np
import pytest

from genrec_engine.analysis import layout as layout_mod
from genrec_engine.cli import main as cli_main
from genrec_engine.scale import STAGES


@pytest.fixture
def fast_umap(monkeypatch):
    """UMAP itself is tested in test_layout; here a seeded projection stands in for it."""
    def fit(matrix, *, seed, n_neighbors, n_epochs=None):
        rng = np.random.default_rng(seed)
        return np.ascontiguousarray(matrix @ rng.standard_normal((matrix.shape[1], 2)), dtype=np.float32)

    monkeypatch.setattr(layout_mod, "_fit_umap", fit)


def test_the_pipeline_at_20k_items_checks_every_stage(tmp_path, capsys, fast_umap, monkeypatch):
    monkeypatch.setenv("GENREC_CACHE_DIR", str(tmp_path / "user-cache"))
    out = tmp_path / "scale.json"
    rc = cli_main(["bench", "scale", "--items", "20000", "--baseline", "2000", "--train-minutes", "0.05",
                   "--work", str(tmp_path / "work"), "--keep", "--out", str(out), "--json"])
    obj = json.loads(capsys.readouterr().out)
    assert rc == 0 and obj == json.loads(out.read_text())
    assert obj["items"] == 20_000 and obj["users"] > 30_000 and obj["interactions"] > 5 * obj["users"]
    assert obj["checked"] is True
    stages = obj["stages"]
    assert set(stages) == set(STAGES) and set(obj["baseline"]["stages"]) == set(STAGES)
    for name in STAGES:
        assert stages[name]["seconds"] >= 0 and name in obj["ratios"]
        assert stages[name].get("checked", True) is True, name
    # tokenize: one SID per item, K fitted to the catalogue; the trie holds every item
    assert stages["tokenize"]["unique_sids"] == 20_000 and stages["tokenize"]["codebook_size"] == 256
    assert stages["trie"]["nodes_per_level"][-1] == 20_000 and stages["trie"]["nodes_per_level"][0] <= 256
    # the app opened the project; tree nodes at every level listed exactly their items; searches found theirs
    assert stages["open"]["seconds"] >= stages["open"]["window_s"] > 0
    assert stages["open"]["again_seconds"] >= stages["open"]["again_window_s"] > 0  # a second launch, warm cache
    # everything cached went to the run's own folder, nothing to the user's cache
    assert any((tmp_path / "work" / "main" / "cache" / "datasets").iterdir())
    assert not (tmp_path / "user-cache").exists()
    assert stages["tree_expand"]["levels"] == 4 and stages["tree_expand"]["requests"] == 32
    assert stages["search"]["requests"] == 15
    assert stages["layout"]["method"].startswith("UMAP of all 20,000")
    # training: both generators, finite loss, the full epoch's time projected from the throughput
    models = stages["train_epoch"]["models"]
    assert set(models) == {"ran", "sasrec"}
    for m in models.values():
        assert np.isfinite(m["loss"]) and m["samples_per_second"] > 0 and m["pairs"] > 100_000
        assert m["epoch_seconds"] >= m["seconds_measured"] * 0.9 or m["complete"]
    assert stages["decode"]["beam"] == 50 and stages["decode"]["users"] == 256
    assert obj["peak_rss_gb"] > 0 and obj["ratios"]["items"] == 10.0
    # --keep left the datasets and projects in place
    assert (tmp_path / "work" / "main" / "project-20000" / "project.json").is_file()


def test_scale_refuses_a_tiny_catalogue(capsys):
    with pytest.raises(SystemExit) as exc:
        cli_main(["bench", "scale", "--items", "50", "--json"])
    assert exc.value.code == 2 and "--items: 50 is too small" in capsys.readouterr().err
