"""Tokenizers: planted-cluster recovery, falling residuals, unique SIDs, save/load identity."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from genrec_engine.errors import ConfigError, ProjectFormatError
from genrec_engine.jobs import CancelToken
from genrec_engine.errors import Cancelled
from genrec_engine.quantize import (
    METHODS,
    QuantizerConfig,
    SIDTable,
    balance_last_level,
    build_quantizer,
    collision_index,
    diagnose_codes,
    load_quantizer,
    save_quantizer,
)

# Small but real settings per method, so the whole file runs in well under a minute on 2 cores.
FAST = {
    "rkmeans": {},
    "gaoq": {},
    "rqvae": {"steps": 400, "hidden_dims": (128, 64), "latent_dim": 16, "batch_size": 512, "lr": 3e-3},
    "vqvae": {"steps": 400, "hidden_dims": (128, 64), "latent_dim": 48, "batch_size": 512, "lr": 3e-3},
}


@pytest.fixture(scope="module")
def planted():
    """A mixture of 16 well-separated Gaussians in 32-d, 2,000 points, with the planted labels."""
    rng = np.random.default_rng(7)
    centers = rng.normal(size=(16, 32)).astype(np.float32) * 4
    labels = rng.integers(0, 16, 2000)
    X = centers[labels] + rng.normal(size=(2000, 32)).astype(np.float32) * 0.5
    return X, labels


@pytest.fixture(scope="module")
def fitted(planted):
    X, _ = planted
    return {m: build_quantizer(method=m, levels=3, codebook_size=16, seed=0, **FAST[m]).fit(X) for m in METHODS}


@pytest.mark.parametrize("method", METHODS)
def test_level1_recovers_planted_clusters(fitted, planted, method):
    X, labels = planted
    codes = fitted[method].encode(X)
    assert codes.shape == (len(X), 3) and codes.dtype == np.int64
    assert adjusted_rand_score(labels, codes[:, 0]) >= 0.9


@pytest.mark.parametrize("method", METHODS)
def test_residual_error_falls_with_each_level(fitted, planted, method):
    norms = fitted[method].residual_norms(planted[0])
    assert len(norms) == 4
    assert all(b < a for a, b in zip(norms, norms[1:])), norms


@pytest.mark.parametrize("method", METHODS)
def test_sids_unique_and_save_load_identical(fitted, planted, method, tmp_path):
    X, _ = planted
    q = fitted[method]
    codes = q.encode(X)
    table = SIDTable.from_codes(np.arange(len(X)) + 1, codes, 16)
    assert len({tuple(r) for r in table.codes.tolist()}) == len(X)
    save_quantizer(q, tmp_path / "tok.safetensors")
    q2 = load_quantizer(tmp_path / "tok.safetensors")
    np.testing.assert_array_equal(q2.encode(X), codes)
    np.testing.assert_allclose(q2.soft_assign(X[:50]), q.soft_assign(X[:50]), rtol=1e-5, atol=1e-6)
    table.save(tmp_path / "sids.parquet")
    np.testing.assert_array_equal(SIDTable.load(tmp_path / "sids.parquet").codes, table.codes)


@pytest.mark.parametrize("method", METHODS)
def test_soft_assign_is_a_distribution_whose_argmax_is_the_code(fitted, planted, method):
    X = planted[0][:200]
    p = fitted[method].soft_assign(X)
    assert p.shape == (3, 200, 16)
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-4)
    np.testing.assert_array_equal(p.argmax(-1).T, fitted[method].encode(X))
    # along the items' own codes it is the same; along other codes, each level is conditioned on them
    codes = fitted[method].encode(X)
    np.testing.assert_allclose(fitted[method].soft_assign(X, along=codes), p, rtol=1e-5, atol=1e-7)
    other = codes.copy()
    other[:, 0] = (codes[:, 0] + 1) % 16
    moved = fitted[method].soft_assign(X, along=other)
    np.testing.assert_allclose(moved[0], p[0], rtol=1e-5, atol=1e-7)  # level 1 has no earlier code
    if method == "vqvae":  # product quantization: the levels are separate slices of the latent
        np.testing.assert_allclose(moved[1:], p[1:], rtol=1e-5, atol=1e-7)
    else:  # residual methods: later levels see the residual the given first code leaves
        assert not np.allclose(moved[1], p[1])


def test_codebooks_shapes(fitted):
    assert [c.shape for c in fitted["rkmeans"].codebooks] == [(16, 32)] * 3
    assert [c.shape for c in fitted["rqvae"].codebooks] == [(16, 16)] * 3
    assert [c.shape for c in fitted["vqvae"].codebooks] == [(16, 16)] * 3
    G = fitted["gaoq"].directions[1].numpy()
    np.testing.assert_allclose(G @ G.T, np.eye(16), atol=1e-4)  # GAOQ directions stay orthonormal


def test_fit_is_deterministic_for_a_seed(planted):
    X = planted[0]
    a = build_quantizer(method="rkmeans", levels=2, codebook_size=16, seed=3).fit(X).encode(X)
    b = build_quantizer(method="rkmeans", levels=2, codebook_size=16, seed=3).fit(X).encode(X)
    np.testing.assert_array_equal(a, b)


def test_empty_clusters_are_repaired():
    # 300 points on only 40 distinct locations, 64 codewords: k-means must still use 40 codes
    rng = np.random.default_rng(0)
    X = np.repeat(rng.normal(size=(40, 8)).astype(np.float32), 8, axis=0)[:300]
    q = build_quantizer(method="rkmeans", levels=1, codebook_size=32, seed=0).fit(X)
    assert len(np.unique(q.encode(X))) == 32  # every codeword holds at least one point


def test_minibatch_kmeans_path(planted):
    X, labels = planted
    q = build_quantizer(method="rkmeans", levels=2, codebook_size=16, minibatch_threshold=500).fit(X)
    assert adjusted_rand_score(labels, q.encode(X)[:, 0]) >= 0.9


def test_collision_level_numbers_duplicates_in_catalogue_order():
    codes = np.array([[1, 2], [0, 0], [1, 2], [1, 2], [0, 1]])
    np.testing.assert_array_equal(collision_index(codes), [0, 0, 1, 2, 0])
    t = SIDTable.from_codes([10, 11, 12, 13, 14], codes, 4)
    assert t.level_sizes == (4, 4, 3)
    assert t.index_of_sid((1, 2, 2)) == 3 and t.index_of_sid((3, 3, 0)) == -1
    d = diagnose_codes(codes, 4)
    assert d.max_collision_depth == 3 and d.colliding_items == 3
    assert d.collision_rate == pytest.approx(1 - 3 / 5)


def test_balanced_last_level_removes_collisions():
    rng = np.random.default_rng(1)
    codes = np.zeros((6, 2), dtype=np.int64)  # six items all on prefix (0, 0)
    dist = rng.random((6, 8)).astype(np.float32)
    dist[:, 0] = 0.0  # everyone's nearest last-level codeword is 0
    out = balance_last_level(codes, dist)
    assert len({tuple(r) for r in out.tolist()}) == 6
    assert (out[:, 0] == 0).all()


def test_diagnostics_prefix_entropy():
    # level 2 is a deterministic function of level 1 -> 0 bits; level 1 uniform over 4 -> 2 bits
    c1 = np.repeat(np.arange(4), 25)
    codes = np.stack([c1, (c1 + 1) % 4], 1)
    d = diagnose_codes(codes, 4)
    assert d.levels[0].prefix_entropy == pytest.approx(2.0)
    assert d.levels[1].prefix_entropy == pytest.approx(0.0, abs=1e-9)
    assert d.levels[0].perplexity == pytest.approx(4.0)


def test_config_errors_name_the_field():
    with pytest.raises(ConfigError, match="method="):
        QuantizerConfig(method="pq")
    with pytest.raises(ConfigError, match="codebook_size"):
        QuantizerConfig(codebook_size=1)
    with pytest.raises(ConfigError, match="latent_dim"):
        QuantizerConfig(method="vqvae", levels=3, latent_dim=32)
    with pytest.raises(ConfigError, match="GAOQ"):
        build_quantizer(method="gaoq", codebook_size=64).fit(np.random.rand(100, 16).astype(np.float32))
    with pytest.raises(ConfigError, match="NaN"):
        build_quantizer(method="rkmeans").fit(np.full((10, 4), np.nan, dtype=np.float32))


def test_cancel_stops_fitting(planted):
    tok = CancelToken()
    tok.cancel()
    with pytest.raises(Cancelled):
        build_quantizer(method="rqvae", **FAST["rqvae"]).fit(planted[0], cancel=tok)


def test_progress_is_reported_monotonically(planted):
    seen = []
    build_quantizer(method="rkmeans", levels=2, codebook_size=16).fit(planted[0], progress=lambda f, m: seen.append(f))
    assert seen and seen[-1] == pytest.approx(1.0)
    assert all(b >= a - 1e-9 for a, b in zip(seen, seen[1:]))


def test_load_refuses_truncated_or_foreign_files(tmp_path, fitted):
    path = tmp_path / "tok.safetensors"
    save_quantizer(fitted["rkmeans"], path)
    data = path.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ProjectFormatError, match="cut.safetensors"):
        load_quantizer(tmp_path / "cut.safetensors")
    with pytest.raises(ProjectFormatError, match="not found"):
        load_quantizer(tmp_path / "missing.safetensors")
