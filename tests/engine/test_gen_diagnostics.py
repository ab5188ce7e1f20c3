"""Generation diagnostics: per-user homogeneity and invalid SIDs checked against the metrics and
the beam search they come from, on a tiny project with a seeded random RAN."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import genrec_engine.analysis.diagnostics as diag_mod
from genrec_engine.testing import make_tiny_project
from genrec_engine import (
    Cancelled, CancelToken, ConfigError, GenerationDiagnostics, Project, generation_diagnostics, homogeneity_per_user,
    load_project_generator,
)
from genrec_engine.coldstart import project_split
from genrec_engine.generators import save_project_generator
from genrec_engine.decode import beam_search
from genrec_engine.models import RAN, RANConfig, pad_histories
from genrec_engine.train.metrics import homogeneity_at_k, invalid_rate

ROOT = Path(__file__).resolve().parents[2]
BEAUTY = ROOT / "resources" / "datasets" / "beauty"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Project:
    """300 items, 120 users, a 2 x 16 tokenizer (+ collision level) and an untrained seeded RAN:
    random weights put plenty of probability on SIDs that match no item."""
    path = make_tiny_project(BEAUTY, tmp_path_factory.mktemp("diag"), items=300, users=120, per_user=6,
                             levels=2, codebook_size=16)
    project = Project.open(path)
    torch.manual_seed(0)
    ran = RAN(RANConfig(d_model=16, n_layers=1, n_heads=1, max_len=8, dropout=0.0), project.sids.codes,
              project.sids.level_sizes).eval()
    save_project_generator(Project.open(path), "ran", ran)
    return Project.open(path)


@pytest.fixture(scope="module")
def ran(tiny):
    return load_project_generator(tiny, "ran")


@pytest.fixture(scope="module")
def result(tiny, ran) -> GenerationDiagnostics:
    return generation_diagnostics(tiny, "ran", users=None, beam=12, k=10, model=ran)


# ----------------------------------------------------------------------------- per-user helper


def _naive(ranked: np.ndarray, codes: np.ndarray, k: int):
    """A plain-Python reference for homogeneity_per_user."""
    share, dominant, distinct = [], [], []
    for row in ranked[:, :k]:
        firsts = [int(codes[i, 0]) for i in row if i >= 0]
        if not firsts:
            share.append(np.nan), dominant.append(-1), distinct.append(0)
            continue
        counts = {c: firsts.count(c) for c in firsts}
        best = max(counts.values())
        share.append(best / len(firsts))
        dominant.append(next(c for c in firsts if counts[c] == best))  # ties: the highest-ranked
        distinct.append(len(counts))
    return np.array(share), np.array(dominant), np.array(distinct)


@settings(derandomize=True, deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), users=st.integers(1, 12), width=st.integers(1, 14), k=st.integers(1, 12),
       n_codes=st.integers(1, 5))
def test_per_user_homogeneity_matches_the_metric(seed, users, width, k, n_codes):
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, n_codes, size=(30, 3))
    ranked = rng.integers(0, 30, size=(users, width))
    ranked[rng.random(ranked.shape) < 0.25] = -1  # padding and invalid slots
    share, dominant, distinct = homogeneity_per_user(ranked, codes, k)
    ref_share, ref_dominant, ref_distinct = _naive(ranked, codes, k)
    np.testing.assert_allclose(share, ref_share, equal_nan=True)
    np.testing.assert_array_equal(dominant, ref_dominant)
    np.testing.assert_array_equal(distinct, ref_distinct)
    expected = homogeneity_at_k(ranked, codes, k, 1)
    got = float(np.nanmean(share)) if np.isfinite(share).any() else 0.0
    assert got == pytest.approx(expected, abs=1e-12)


# ----------------------------------------------------------------------------- the job


def _direct(tiny, ran, users, *, constrained: bool, k: int, beam: int):
    """The same users decoded in one plain beam-search call (max_len padding)."""
    split = project_split(tiny)
    H = pad_histories([split.test_history[u] for u in users], ran.config.max_len)
    with torch.no_grad():
        return beam_search(ran, H, trie=tiny.trie, beam=beam, k=k, constrained=constrained)


def test_results_match_beam_search_and_metrics(tiny, ran, result):
    split = project_split(tiny)
    U = len(split.test_target)
    assert len(result) == U == result.summary["users"] == result.users_total
    np.testing.assert_array_equal(result.users, np.arange(U))
    np.testing.assert_array_equal(result.target, split.test_target)
    np.testing.assert_array_equal(result.history_length, [len(h) for h in split.test_history])
    np.testing.assert_array_equal(result.target_id, tiny.sids.item_ids[split.test_target])

    free = _direct(tiny, ran, result.users, constrained=False, k=10, beam=12)
    np.testing.assert_array_equal(result.invalid, free.invalid.numpy())
    assert result.invalid.sum() > 0  # the random model does produce invalid SIDs
    assert result.summary["invalid_rate"] == pytest.approx(invalid_rate(free.invalid.numpy(), 10))
    assert result.summary["users_with_invalid"] == pytest.approx(float(np.mean(free.invalid.numpy() > 0)))
    assert result.summary["invalid_counts"] == np.bincount(free.invalid.numpy(), minlength=11).tolist()
    assert sum(result.summary["invalid_levels"]) == int(free.invalid.sum())
    assert result.summary["invalid_levels"][0] == 0  # every level-1 code is used by some item here

    con = _direct(tiny, ran, result.users, constrained=True, k=12, beam=12)
    assert int(con.invalid.sum()) == 0 and result.summary["constrained_invalid"] == 0
    np.testing.assert_array_equal(result.top, con.items.numpy()[:, :10])
    for u in range(U):
        row = con.items[u].tolist()
        t = int(split.test_target[u])
        assert result.target_rank[u] == (row.index(t) + 1 if t in row else -1)
    share = result.homogeneity
    assert float(np.nanmean(share)) == pytest.approx(homogeneity_at_k(con.items.numpy(), tiny.sids.codes, 10, 1))
    assert result.summary["mean_homogeneity"] == pytest.approx(float(np.nanmean(share)))
    assert sum(result.summary["homogeneity_counts"]) == int(np.isfinite(share).sum())
    hist, _ = np.histogram(share[np.isfinite(share)], bins=result.summary["homogeneity_edges"])
    assert hist.tolist() == result.summary["homogeneity_counts"]
    assert ((result.prefixes >= 1) & (result.prefixes <= 10)).all()
    np.testing.assert_array_equal(result.dominant_prefix, homogeneity_per_user(result.top, tiny.sids.codes, 10)[1])


def test_seeded_sample_is_deterministic(tiny, ran):
    a = generation_diagnostics(tiny, "ran", users=40, seed=3, beam=10, model=ran)
    b = generation_diagnostics(tiny, "ran", users=40, seed=3, beam=10)  # loads the saved generator itself
    c = generation_diagnostics(tiny, "ran", users=40, seed=4, beam=10, model=ran)
    assert len(a) == 40 and (np.diff(a.users) > 0).all()
    for name in ("users", "target", "target_rank", "top", "dominant_prefix", "prefixes", "invalid", "invalid_levels"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    np.testing.assert_array_equal(a.homogeneity, b.homogeneity)
    assert not np.array_equal(a.users, c.users)
    # explicit user indices give the same rows as the sample they came from
    d = generation_diagnostics(tiny, "ran", users=a.users[:7].tolist(), beam=10, model=ran)
    np.testing.assert_array_equal(d.top, a.top[:7])
    np.testing.assert_array_equal(d.invalid, a.invalid[:7])


def test_batches_report_progress_and_cancel(tiny, ran, monkeypatch):
    monkeypatch.setattr(diag_mod, "_BATCH", 16)
    seen: list[float] = []
    out = generation_diagnostics(tiny, "ran", users=None, beam=10, model=ran, progress=lambda f, m: seen.append(f))
    assert seen[-1] == 1.0 and seen == sorted(seen) and len(seen) >= 2 * (len(out) // 16)
    whole = generation_diagnostics(tiny, "ran", users=None, beam=10, model=ran)
    monkeypatch.setattr(diag_mod, "_BATCH", 256)
    np.testing.assert_array_equal(out.top, whole.top)  # batching does not change the results

    monkeypatch.setattr(diag_mod, "_BATCH", 16)
    token = CancelToken()
    calls: list[str] = []

    def progress(fraction, message):
        calls.append(message)
        if "constrained" in message:  # stop after the first decoded batch
            token.cancel()

    with pytest.raises(Cancelled):
        generation_diagnostics(tiny, "ran", beam=10, model=ran, progress=progress, cancel=token)
    assert sum("decoded" in m for m in calls) == 1
    done = CancelToken()
    done.cancel()
    with pytest.raises(Cancelled):
        generation_diagnostics(tiny, "ran", beam=10, model=ran, cancel=done)


def test_worst_orders_and_json(result):
    h = np.nan_to_num(result.homogeneity, nan=-1)
    order = result.worst("homogeneity")
    assert (np.diff(h[order]) <= 0).all()
    order = result.worst("invalid", 5)
    assert len(order) == 5 and result.invalid[order[0]] == result.invalid.max()
    missed = result.worst("missed")
    n_missed = int((result.target_rank < 0).sum())
    assert (result.target_rank[missed[:n_missed]] < 0).all()
    with pytest.raises(ConfigError, match="by="):
        result.worst("nope")
    d = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert d["model"] == "ran" and len(d["users"]) == len(result)
    u = d["users"][int(missed[0])]
    assert u["target_rank"] is None and len(u["top"]) == 10
    assert result.row_of(int(result.users[5])) == 5


def test_bad_inputs_name_the_field(tiny, ran):
    with pytest.raises(ConfigError, match="beam"):
        generation_diagnostics(tiny, "ran", beam=5, k=10, model=ran)
    with pytest.raises(ConfigError, match="users"):
        generation_diagnostics(tiny, "ran", users=[10_000], model=ran)
    with pytest.raises(ConfigError, match="users"):
        generation_diagnostics(tiny, "ran", users=0, model=ran)
    with pytest.raises(ConfigError, match="split"):
        generation_diagnostics(tiny, "ran", split="train", model=ran)

    class Scorer:
        def score_items(self, h):  # a SASRec-like model
            return torch.zeros(len(h), 3)

    with pytest.raises(ConfigError, match="generates no semantic IDs"):
        generation_diagnostics(tiny, "sasrec", model=Scorer())
