"""Item layouts (UMAP, cached in the project folder) and nearest neighbours.

UMAP itself runs only on small synthetic matrices here; the cache tests replace the fit with a
counting stand-in so they check the cache logic, not UMAP.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import genrec_engine.analysis.layout as layout_mod
from genrec_engine import Cancelled, CancelToken, ConfigError, item_layout, layout_matrix, nearest_neighbours


@dataclass
class FakeProject:
    """The two attributes :func:`item_layout` reads from a project."""

    path: Path
    embeddings: np.ndarray


def _clusters(n_per: int = 40, d: int = 16, seed: int = 0) -> np.ndarray:
    """Three well-separated Gaussian blobs, [3 * n_per, d] float32."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, d)) * 5
    return np.concatenate([c + rng.normal(size=(n_per, d)) for c in centres]).astype(np.float32)


@pytest.fixture
def counting_fit(monkeypatch):
    """Replace the UMAP fit with a fast deterministic projection that counts its calls."""
    calls = []

    def fake(matrix, *, seed, n_neighbors):
        calls.append(matrix.shape)
        return np.ascontiguousarray(matrix[:, :2] + seed, dtype=np.float32)

    monkeypatch.setattr(layout_mod, "_fit_umap", fake)
    return calls


def test_real_umap_shape_determinism_and_clusters(tmp_path):
    x = _clusters()
    a = item_layout(FakeProject(tmp_path / "a", x), seed=3, n_neighbors=10)
    b = item_layout(FakeProject(tmp_path / "b", x), seed=3, n_neighbors=10)
    assert a.shape == (120, 2) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)  # same seed, separate caches: the same layout
    # the blobs stay apart: every point's nearest layout neighbour is in its own blob
    d = np.linalg.norm(a[:, None] - a[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    blob = np.repeat(np.arange(3), 40)
    assert (blob[d.argmin(1)] == blob).mean() > 0.95


def test_cache_is_written_and_reused(tmp_path, counting_fit, monkeypatch):
    proj = FakeProject(tmp_path, _clusters())
    first = item_layout(proj, "content", seed=1)
    assert len(counting_fit) == 1
    assert (tmp_path / "layout-content.npy").is_file()
    side = json.loads((tmp_path / "layout-content.json").read_text())
    assert side["space"] == "content" and side["seed"] == 1 and len(side["fingerprint"]) == 64
    messages = []
    second = item_layout(proj, "content", seed=1, progress=lambda f, m: messages.append((f, m)))
    assert len(counting_fit) == 1  # not recomputed
    np.testing.assert_array_equal(first, second)
    assert messages[-1][0] == 1.0 and "cache" in messages[-1][1]
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporaries


def test_the_user_cache_never_writes_into_the_project(tmp_path, counting_fit, monkeypatch):
    """What the app asks for: a project folder (the bundled one included) is only read."""
    monkeypatch.setenv("GENREC_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "project"
    folder.mkdir()
    proj = FakeProject(folder, _clusters())
    first = item_layout(proj, "content", cache="user")
    assert list(folder.iterdir()) == []  # nothing written into the project
    assert len(list((tmp_path / "cache" / "layouts").glob("*/layout-content.npy"))) == 1
    np.testing.assert_array_equal(item_layout(proj, "content", cache="user"), first)
    assert len(counting_fit) == 1  # the second call read the user's cache
    # a cache the project ships (genrec layout) is used as it is
    item_layout(FakeProject(folder, proj.embeddings), "content", seed=5)  # writes the project's own cache
    n = len(counting_fit)
    item_layout(proj, "content", seed=5, cache="user")
    assert len(counting_fit) == n
    with pytest.raises(ConfigError, match="cache="):
        item_layout(proj, "content", cache="elsewhere")


def test_changed_matrix_or_parameters_invalidate_the_cache(tmp_path, counting_fit):
    x = _clusters()
    proj = FakeProject(tmp_path, x)
    item_layout(proj, seed=0)
    proj.embeddings = x.copy()
    proj.embeddings[5, 3] += 1.0  # one value changed: a different matrix
    changed = item_layout(proj, seed=0)
    assert len(counting_fit) == 2
    np.testing.assert_allclose(changed, proj.embeddings[:, :2])
    item_layout(proj, seed=7)  # another seed
    item_layout(proj, seed=7, n_neighbors=5)  # another neighbourhood size
    assert len(counting_fit) == 4
    item_layout(proj, seed=7, n_neighbors=5)
    assert len(counting_fit) == 4


def test_damaged_cache_is_recomputed(tmp_path, counting_fit):
    proj = FakeProject(tmp_path, _clusters())
    item_layout(proj)
    (tmp_path / "layout-content.npy").write_bytes(b"not an array")
    out = item_layout(proj)
    assert len(counting_fit) == 2 and out.shape == (120, 2)


def test_spaces_have_separate_caches(tmp_path, counting_fit):
    x = _clusters()
    proj = FakeProject(tmp_path, x)
    collab = np.random.default_rng(1).normal(size=(120, 8)).astype(np.float32)
    c = item_layout(proj, "content")
    r = item_layout(proj, "collaborative", matrix=collab)
    assert not np.array_equal(c, r)
    np.testing.assert_allclose(r, collab[:, :2])
    assert (tmp_path / "layout-collaborative.npy").is_file()
    np.testing.assert_array_equal(item_layout(proj, "content"), c)
    assert len(counting_fit) == 2


def test_collaborative_space_uses_the_ran_representations(tmp_path, counting_fit):
    class FakeRAN:
        calls = 0

        def item_representations(self):
            FakeRAN.calls += 1
            return np.arange(120 * 4, dtype=np.float32).reshape(120, 4)

    proj = FakeProject(tmp_path, _clusters())
    np.testing.assert_array_equal(layout_matrix(proj, "collaborative", ran=FakeRAN()), FakeRAN().item_representations())
    out = item_layout(proj, "collaborative", ran=FakeRAN())
    np.testing.assert_allclose(out, np.arange(120 * 4, dtype=np.float32).reshape(120, 4)[:, :2])


def test_cancel_before_and_after_the_fit(tmp_path, monkeypatch):
    proj = FakeProject(tmp_path, _clusters())
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        item_layout(proj, cancel=token)
    token2 = CancelToken()

    def fit_then_cancel(matrix, *, seed, n_neighbors):
        token2.cancel()  # the user cancels while UMAP runs
        return np.zeros((matrix.shape[0], 2), dtype=np.float32)

    monkeypatch.setattr(layout_mod, "_fit_umap", fit_then_cancel)
    with pytest.raises(Cancelled):
        item_layout(proj, cancel=token2)
    assert not (tmp_path / "layout-content.npy").exists()  # a cancelled layout is not cached


def test_bad_arguments_are_refused(tmp_path):
    proj = FakeProject(tmp_path, _clusters())
    with pytest.raises(ConfigError, match="space='pixels'"):
        item_layout(proj, "pixels")
    with pytest.raises(ConfigError, match="n_neighbors=1"):
        item_layout(proj, n_neighbors=1)
    with pytest.raises(ConfigError, match="item=500"):
        nearest_neighbours(proj.embeddings, 500)


def test_tiny_inputs_still_get_a_layout(tmp_path):
    out = item_layout(FakeProject(tmp_path, np.eye(3, dtype=np.float32)))
    assert out.shape == (3, 2) and np.isfinite(out).all()


def test_nearest_neighbours_matches_a_brute_force_reference():
    rng = np.random.default_rng(0)
    m = rng.normal(size=(300, 12)).astype(np.float32)
    idx, dist = nearest_neighbours(m, 17, k=10)
    unit = m / np.linalg.norm(m, axis=1, keepdims=True)
    ref = 1 - unit @ unit[17]
    ref[17] = np.inf
    expected = np.argsort(ref, kind="stable")[:10]
    np.testing.assert_array_equal(idx, expected)
    np.testing.assert_allclose(dist, ref[expected], atol=1e-5)
    assert 17 not in idx and np.all(np.diff(dist) >= 0)
    # k larger than the catalogue: every other item, once
    idx_all, _ = nearest_neighbours(m[:5], 0, k=50)
    assert sorted(idx_all.tolist()) == [1, 2, 3, 4]
    # duplicates of the item are at distance 0
    dup = np.vstack([m[:1], m[:1] * 3, m[1:4]])
    i2, d2 = nearest_neighbours(dup, 0, k=2)
    assert i2[0] == 1 and d2[0] == pytest.approx(0.0, abs=1e-6)


def test_a_large_catalogue_is_laid_out_from_a_sample_and_placed_by_neighbours(tmp_path, monkeypatch):
    """Above SAMPLE_ABOVE items UMAP runs on a seeded sample; every other item lands next to its
    nearest sampled items (here: in its own blob), the sampled ones keep their UMAP positions, and
    the cache says how the layout was made."""
    monkeypatch.setattr(layout_mod, "SAMPLE_ABOVE", 100)
    monkeypatch.setattr(layout_mod, "SAMPLE_SIZE", 30)
    fitted = []

    def fit(matrix, *, seed, n_neighbors, n_epochs=None):
        fitted.append(matrix.shape[0])
        return np.ascontiguousarray(matrix[:, :2], dtype=np.float32)  # a projection that keeps the blobs apart

    monkeypatch.setattr(layout_mod, "_fit_umap", fit)
    x = _clusters(n_per=60)
    lay = item_layout(FakeProject(tmp_path, x), seed=1)
    assert fitted == [30] and lay.shape == (180, 2) and np.isfinite(lay).all()
    blob = np.repeat(np.arange(3), 60)
    centres = np.stack([lay[blob == b].mean(0) for b in range(3)])
    nearest_centre = np.argmin(((lay[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)
    assert (nearest_centre == blob).mean() > 0.95
    sample = np.sort(np.random.default_rng(1).choice(180, 30, replace=False))
    np.testing.assert_allclose(lay[sample], x[sample, :2], atol=1e-5)
    meta = json.loads((tmp_path / "layout-content.json").read_text())
    assert meta["sample"] == 30 and meta["place_k"] == 3
    assert "sample of 30 of the 180 items" in layout_mod.layout_note(180)
    assert layout_mod.layout_note(100) == "UMAP of all 100 items"
