"""Beam search, sampling and MMR checked against brute-force references on tiny catalogues."""
from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genrec_engine.decode import BeamResult, beam_search, exact_topk, mmr, sample, topk_overlap
from genrec_engine.errors import Cancelled, ConfigError
from genrec_engine.index import PrefixTrie
from genrec_engine.jobs import CancelToken
from genrec_engine.models.base import DecodeState, GenerativeModel

SETTINGS = settings(
    derandomize=True,  # seeded: the same examples on every run
    deadline=None,
    max_examples=40,
    suppress_health_check=[HealthCheck.too_slow],
)
SIZES = (4, 4, 3)
TOL = 1e-4


# ---------------------------------------------------------------------- fake generators


class TableModel:
    """Log-softmax tables looked up by (user key, full prefix): an arbitrary but fixed model.

    The user key is a hash of the history (13 buckets); level ``l`` has one random row per
    (user key, prefix of length ``l``), so different prefixes never share a distribution.
    """

    def __init__(self, level_sizes, seed: int = 0, scale: float = 2.0):
        self.level_sizes = tuple(level_sizes)
        self.depth = len(self.level_sizes)
        gen = torch.Generator().manual_seed(seed)
        self.tables = [
            torch.randn(13 * math.prod(self.level_sizes[:level]), k, generator=gen) * scale
            for level, k in enumerate(self.level_sizes)
        ]

    def start(self, history, instruction=None):
        weights = torch.arange(1, history.shape[1] + 1)
        return DecodeState({"user": (history * weights).sum(1) % 13})

    def next_logits(self, state, prefix):
        level = prefix.shape[1]
        key = state.tensors["user"].clone()
        for j in range(level):
            key = key * self.level_sizes[j] + prefix[:, j]
        return torch.log_softmax(self.tables[level][key], dim=-1)


class TinyTorchModel:
    """A small random network: mean item embedding, then one tanh update per decoded token."""

    def __init__(self, n_items: int, level_sizes, dim: int = 8, seed: int = 0):
        self.level_sizes = tuple(level_sizes)
        self.depth = len(self.level_sizes)
        gen = torch.Generator().manual_seed(seed)
        self.item_emb = torch.randn(n_items + 1, dim, generator=gen)
        self.tok_emb = [torch.randn(k, dim, generator=gen) for k in self.level_sizes]
        self.heads = [torch.randn(dim, k, generator=gen) for k in self.level_sizes]

    def start(self, history, instruction=None):
        mask = (history > 0).float().unsqueeze(-1)
        h = (self.item_emb[history] * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return DecodeState({"h": h})

    def next_logits(self, state, prefix):
        h = state.tensors["h"]
        for j in range(prefix.shape[1]):
            h = torch.tanh(h + self.tok_emb[j][prefix[:, j]])
        return 3.0 * h @ self.heads[prefix.shape[1]]  # raw logits: beam search normalises


class DictModel:
    """Explicit distributions: ``probs[prefix]`` is a list of K_l probabilities (uniform if absent)."""

    def __init__(self, level_sizes, probs: dict):
        self.level_sizes = tuple(level_sizes)
        self.depth = len(self.level_sizes)
        self.probs = probs

    def start(self, history, instruction=None):
        return DecodeState({"h": history})

    def next_logits(self, state, prefix):
        k = self.level_sizes[prefix.shape[1]]
        rows = []
        for p in prefix.tolist():
            rows.append(self.probs.get(tuple(p), [1.0 / k] * k))
        return torch.tensor(rows, dtype=torch.float64).clamp_min(1e-12).log().float()


# ---------------------------------------------------------------------- helpers


def all_codes(sizes) -> np.ndarray:
    return np.array(list(itertools.product(*[range(k) for k in sizes])), dtype=np.int64).reshape(-1, len(sizes))


def random_catalogue(seed: int, n: int, sizes=SIZES) -> np.ndarray:
    rng = np.random.default_rng(seed)
    space = all_codes(sizes)
    return space[rng.choice(len(space), size=min(n, len(space)), replace=False)]


def ref_scores(model, history_row: torch.Tensor, codes: np.ndarray) -> list[float]:
    """Pure-Python reference: every item's SID log-likelihood, one model call per item and level."""
    state = model.start(history_row.view(1, -1))
    out = []
    for code in codes.tolist():
        total = 0.0
        for level in range(len(code)):
            prefix = torch.tensor(code[:level], dtype=torch.long).view(1, level)
            logp = torch.log_softmax(model.next_logits(state, prefix).double(), dim=-1)
            total += float(logp[0, code[level]])
        out.append(total)
    return out


def live(res: BeamResult, b: int) -> list[int]:
    return [i for i in res.items[b].tolist() if i >= 0]


HIST = torch.tensor([[0, 1, 2, 3], [0, 0, 5, 9], [7, 8, 9, 10]])


def assert_is_exact_topk(res: BeamResult, b: int, ref: list[float], k: int, excluded=frozenset()) -> None:
    """The user's returned items are the top-k of ``ref`` (up to float ties) with matching scores."""
    items = live(res, b)
    eligible = sorted((s for i, s in enumerate(ref) if i not in excluded), reverse=True)
    assert len(items) == min(k, len(eligible))
    got = res.scores[b, : len(items)].tolist()
    assert got == sorted(got, reverse=True)
    for item, score in zip(items, got):
        assert abs(ref[item] - score) < TOL
    assert np.allclose(sorted((ref[i] for i in items), reverse=True), eligible[: len(items)], atol=TOL)


# ---------------------------------------------------------------------- exactness


@pytest.mark.parametrize("kind", ["table", "torch"])
def test_beam_equals_bruteforce_when_the_beam_covers_all_items(kind):
    codes = random_catalogue(0, 30)
    trie = PrefixTrie.from_codes(codes, SIZES)
    model = TableModel(SIZES, seed=1) if kind == "table" else TinyTorchModel(30, SIZES, seed=1)
    assert isinstance(model, GenerativeModel)
    res = beam_search(model, HIST, trie=trie, beam=30, k=10)
    assert res.items.shape == (3, 10) and res.sids.shape == (3, 10, 3)
    assert res.invalid.tolist() == [0, 0, 0]
    for b in range(HIST.shape[0]):
        ref = ref_scores(model, HIST[b], codes)
        assert_is_exact_topk(res, b, ref, 10)
        exact = exact_topk(model, HIST[b], trie=trie, k=10)
        assert exact.items[0].tolist() == res.items[b].tolist()
        assert torch.allclose(exact.scores[0], res.scores[b], atol=1e-5)
        # SIDs are the items' codes
        for item, sid in zip(res.items[b].tolist(), res.sids[b].tolist()):
            assert tuple(sid) == tuple(codes[item])


@SETTINGS
@given(
    sizes=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    n=st.integers(1, 40),
    seed=st.integers(0, 10_000),
    beam=st.integers(1, 8),
    k=st.integers(1, 8),
    n_excl=st.integers(0, 6),
    groups=st.sampled_from([1, 2]),
)
def test_constrained_decoding_only_emits_real_items(sizes, n, seed, beam, k, n_excl, groups):
    sizes = tuple(sizes)
    codes = random_catalogue(seed, n, sizes)
    n = len(codes)
    trie = PrefixTrie.from_codes(codes, sizes)
    model = TableModel(sizes, seed=seed)
    if beam % groups:
        beam *= groups
    rng = np.random.default_rng(seed)
    excl = [set(rng.choice(n, size=min(n_excl, n), replace=False).tolist()) for _ in range(HIST.shape[0])]
    res = beam_search(
        model, HIST, trie=trie, beam=beam, k=k, exclude=excl, diverse_groups=groups, diversity_penalty=0.5
    )
    code_set = {tuple(c) for c in codes.tolist()}
    assert res.invalid.tolist() == [0] * HIST.shape[0]
    for b in range(HIST.shape[0]):
        items = live(res, b)
        assert len(set(items)) == len(items)
        assert not set(items) & excl[b]
        if groups == 1:  # a plain beam always fills up to min(k, beam, eligible items)
            assert len(items) == min(k, beam, n - len(excl[b]))
        for slot, item in enumerate(items):
            assert tuple(res.sids[b, slot].tolist()) in code_set
            assert tuple(res.sids[b, slot].tolist()) == tuple(codes[item])
        # padding is -1 / -inf
        assert (res.items[b, len(items):] == -1).all()
        assert torch.isinf(res.scores[b, len(items):]).all()


@SETTINGS
@given(seed=st.integers(0, 10_000), n=st.integers(1, 48), beam=st.integers(1, 12))
def test_beam_never_beats_exact_and_a_full_beam_is_exact(seed, n, beam):
    codes = random_catalogue(seed, n)
    n = len(codes)
    trie = PrefixTrie.from_codes(codes, SIZES)
    model = TableModel(SIZES, seed=seed)
    k = min(beam, n)
    res = beam_search(model, HIST, trie=trie, beam=beam, k=k)
    full = beam_search(model, HIST, trie=trie, beam=n, k=k)
    for b in range(HIST.shape[0]):
        exact = exact_topk(model, HIST[b], trie=trie, k=k).scores[0]
        got = res.scores[b]
        # the i-th best found is never better than the true i-th best ...
        assert (got <= exact + 1e-5).all()
        # ... and a beam as wide as the catalogue finds exactly the true top-k
        assert torch.allclose(full.scores[b], exact, atol=1e-5)
        assert full.scores[b, 0] >= got[0] - 1e-5


def test_a_wider_beam_can_find_a_worse_best_sequence():
    """Beam search is not monotone in the beam width (a known property of the method): the wider
    beam keeps two strong children of the runner-up token, both of which have poor continuations,
    and so drops the greedy path."""
    sizes = (2, 3, 2)
    probs = {
        (): [0.55, 0.45],
        (0,): [0.34, 0.33, 0.33],
        (1,): [0.5, 0.5, 1e-9],
        (0, 0): [0.99, 0.01],
        (0, 1): [0.99, 0.01],
        (0, 2): [0.99, 0.01],
    }
    model = DictModel(sizes, probs)
    trie = PrefixTrie.from_codes(all_codes(sizes), sizes)
    h = torch.zeros(1, 2, dtype=torch.long)
    greedy = beam_search(model, h, trie=trie, beam=1, k=1)
    wider = beam_search(model, h, trie=trie, beam=2, k=1)
    assert greedy.sids[0, 0].tolist() == [0, 0, 0]
    assert float(wider.scores[0, 0]) < float(greedy.scores[0, 0])
    exact = exact_topk(model, h[0], trie=trie, k=1)
    assert float(exact.scores[0, 0]) == pytest.approx(float(greedy.scores[0, 0]))
    # a beam covering every item is exact again
    assert beam_search(model, h, trie=trie, beam=12, k=1).sids[0, 0].tolist() == [0, 0, 0]


def test_topk_overlap_reaches_one_at_full_width():
    codes = random_catalogue(3, 30)
    trie = PrefixTrie.from_codes(codes, SIZES)
    model = TableModel(SIZES, seed=3)
    out = topk_overlap(model, HIST, trie=trie, k=5, widths=(1, 5, 30))
    assert set(out) == {1, 5, 30}
    assert out[30] == pytest.approx(1.0)
    assert 0.0 < out[1] <= 0.2 + 1e-9  # width 1 returns one item: at most 1/5 overlap


# ---------------------------------------------------------------------- unconstrained, exclude, allow_mask


def test_unconstrained_counts_invalid_sids():
    sizes = (3, 2)
    codes = np.array([[0, 0], [0, 1], [1, 0]])  # (1, 1) and everything under token 2 are not items
    trie = PrefixTrie.from_codes(codes, sizes)
    probs = {(): [0.1, 0.2, 0.7], (1,): [0.4, 0.6], (2,): [0.5, 0.5]}
    model = DictModel(sizes, probs)
    h = torch.zeros(2, 3, dtype=torch.long)
    res = beam_search(model, h, trie=trie, beam=6, k=4, constrained=False)
    code_set = {tuple(c) for c in codes.tolist()}
    for b in range(2):
        sids = [tuple(s) for s in res.sids[b].tolist()]
        # 0.35 (2,0), 0.35 (2,1), 0.12 (1,1), 0.08 (1,0)
        assert sids[2:] == [(1, 1), (1, 0)] and set(sids[:2]) == {(2, 0), (2, 1)}
        n_bad = sum(s not in code_set for s in sids)
        assert int(res.invalid[b]) == n_bad == 3
        assert res.items[b].tolist()[:3] == [-1, -1, -1] and int(res.items[b, 3]) == 2
    # constrained decoding of the same model returns the real items only
    con = beam_search(model, h, trie=trie, beam=6, k=4)
    assert live(con, 0)[0] == 2 and sorted(live(con, 0)) == [0, 1, 2]  # (0, 0) and (0, 1) tie
    assert con.invalid.tolist() == [0, 0]
    # without a trie, validity is unknown
    blind = beam_search(model, h, trie=None, beam=6, k=4, constrained=False)
    assert blind.invalid.tolist() == [-1, -1] and (blind.items == -1).all()


def test_exclude_drops_history_items_and_still_fills_k():
    codes = random_catalogue(5, 30)
    trie = PrefixTrie.from_codes(codes, SIZES)
    model = TableModel(SIZES, seed=5)
    plain = beam_search(model, HIST, trie=trie, beam=30, k=10)
    excl = [set(live(plain, b)[:6]) for b in range(3)]  # the six best items of each user
    res = beam_search(model, HIST, trie=trie, beam=10, k=10, exclude=excl)
    full = beam_search(model, HIST, trie=trie, beam=30, k=10, exclude=excl)
    for b in range(3):
        assert len(live(res, b)) == 10 and not set(live(res, b)) & excl[b]
        ref = ref_scores(model, HIST[b], codes)
        assert_is_exact_topk(full, b, ref, 10, excluded=excl[b])
        assert exact_topk(model, HIST[b], trie=trie, k=10, exclude=excl[b]).items[0].tolist() == full.items[b].tolist()


def test_exclude_a_whole_subtree_the_model_prefers():
    """Every item under the model's favourite level-0 token is excluded: the beam must not walk
    into that subtree, or it would come back with nothing."""
    sizes = (2, 2)
    codes = all_codes(sizes)  # items 0, 1 under token 0; 2, 3 under token 1
    trie = PrefixTrie.from_codes(codes, sizes)
    model = DictModel(sizes, {(): [0.99, 0.01]})
    h = torch.zeros(1, 2, dtype=torch.long)
    res = beam_search(model, h, trie=trie, beam=1, k=1, exclude=[{0, 1}])
    assert live(res, 0) == [2] or live(res, 0) == [3]
    res = beam_search(model, h, trie=trie, beam=2, k=2, exclude=[{0, 1, 5}])  # 5 is no item: ignored
    assert sorted(live(res, 0)) == [2, 3]
    res = beam_search(model, h, trie=trie, beam=4, k=4, exclude=[{0, 1, 2, 3}])
    assert live(res, 0) == [] and res.items.tolist() == [[-1] * 4]


def _allowed_everywhere(res: BeamResult, masks) -> bool:
    for b in range(res.items.shape[0]):
        for slot in range(res.items.shape[1]):
            if res.items[b, slot] < 0:
                continue
            for level, m in enumerate(masks):
                if m is not None and not bool(m[res.sids[b, slot, level]]):
                    return False
    return True


@pytest.mark.parametrize("mode", ["plain", "diverse", "sample", "unconstrained"])
def test_allow_mask_holds(mode):
    codes = random_catalogue(7, 30)
    trie = PrefixTrie.from_codes(codes, SIZES)
    model = TableModel(SIZES, seed=7)
    masks = [torch.tensor([True, False, True, True]), None, torch.tensor([False, True, True])]
    n_ok = sum(bool(masks[0][c[0]]) and bool(masks[2][c[2]]) for c in codes.tolist())
    if mode == "plain":
        res = beam_search(model, HIST, trie=trie, beam=8, k=5, allow_mask=masks)
    elif mode == "diverse":
        res = beam_search(model, HIST, trie=trie, beam=8, k=5, allow_mask=masks, diverse_groups=4, diversity_penalty=3.0)
    elif mode == "sample":
        res = sample(model, HIST, trie=trie, k=5, allow_mask=masks, generator=torch.Generator().manual_seed(0))
    else:
        res = beam_search(model, HIST, trie=trie, beam=8, k=5, allow_mask=masks, constrained=False)
    assert _allowed_everywhere(res, masks)
    if mode in ("plain", "sample"):
        assert n_ok >= 5
        assert all(len(live(res, b)) == 5 for b in range(3))
    # per-user masks [B, K]: user 1 may only start with token 3
    per_user = torch.ones(3, 4, dtype=torch.bool)
    per_user[1] = torch.tensor([False, False, False, True])
    res = beam_search(model, HIST, trie=trie, beam=8, k=5, allow_mask=[per_user, None, None])
    assert (res.sids[1, res.items[1] >= 0, 0] == 3).all()


def test_bad_arguments_raise_config_errors():
    codes = random_catalogue(0, 30)
    trie = PrefixTrie.from_codes(codes, SIZES)
    model = TableModel(SIZES)
    with pytest.raises(ConfigError, match="trie"):
        beam_search(model, HIST, trie=None)
    with pytest.raises(ConfigError, match="diverse_groups"):
        beam_search(model, HIST, trie=trie, beam=5, diverse_groups=2)
    with pytest.raises(ConfigError, match="allow_mask"):
        beam_search(model, HIST, trie=trie, allow_mask=[torch.ones(3, dtype=torch.bool), None, None])
    with pytest.raises(ConfigError, match="exclude"):
        beam_search(model, HIST, trie=trie, exclude=[set()])
    with pytest.raises(ConfigError, match="level_sizes"):
        beam_search(TableModel((4, 4, 4)), HIST, trie=trie)
    with pytest.raises(ConfigError, match="temperature"):
        sample(model, HIST, trie=trie, k=3, temperature=0.0)


def test_cancel_stops_the_decode():
    token = CancelToken()
    token.cancel()
    trie = PrefixTrie.from_codes(random_catalogue(0, 30), SIZES)
    with pytest.raises(Cancelled):
        beam_search(TableModel(SIZES), HIST, trie=trie, cancel=token)


# ---------------------------------------------------------------------- trace


def test_trace_records_every_level_consistently():
    codes = random_catalogue(11, 30)
    trie = PrefixTrie.from_codes(codes, SIZES)
    model = TableModel(SIZES, seed=11)
    h = HIST[:2]
    beam = 5
    res = beam_search(model, h, trie=trie, beam=beam, k=5, trace=True, n_cand=max(SIZES))
    assert res.trace is not None and [s.level for s in res.trace] == [0, 1, 2]
    json.dumps([s.to_dict() for s in res.trace], allow_nan=False)
    json.dumps(res.to_dict(), allow_nan=False)
    code_set = {tuple(c) for c in codes.tolist()}
    for step_i, step in enumerate(res.trace):
        for u in range(2):
            assert len(step.prefixes[u]) == len(step.beam_scores[u]) == len(step.candidates[u])
            valid = []
            for j, bc in enumerate(step.candidates[u]):
                assert bc.beam == j and bc.prefix == step.prefixes[u][j]
                assert sum(c.prob_before for c in bc.candidates) == pytest.approx(1.0, abs=1e-5)
                assert sum(c.prob_after for c in bc.candidates) == pytest.approx(1.0, abs=1e-5)
                for c in bc.candidates:
                    path = bc.prefix + (c.token,)
                    real = any(code[: len(path)] == path for code in code_set)
                    assert c.masked == (not real)
                    if c.masked:
                        assert c.prob_after == 0.0
                    else:
                        assert c.prob_after >= c.prob_before - 1e-7  # renormalising only raises
                        valid.append(c.score)
            valid.sort(reverse=True)
            chosen = sorted((c.score for c in step.chosen[u]), reverse=True)
            assert len(chosen) == min(beam, len(valid))
            assert np.allclose(chosen, valid[: len(chosen)], atol=1e-5)
            pruned = [p.score for p in step.pruned[u]]
            assert np.allclose(pruned, valid[len(chosen): len(chosen) + 50], atol=1e-5)
            # the chosen beams are the next level's live beams
            if step_i + 1 < len(res.trace):
                nxt = res.trace[step_i + 1]
                want = sorted(step.prefixes[u][c.parent] + (c.token,) for c in step.chosen[u])
                assert sorted(nxt.prefixes[u]) == want
    # the last level's chosen beams are the results
    last = res.trace[-1]
    for u in range(2):
        got = sorted(last.prefixes[u][c.parent] + (c.token,) for c in last.chosen[u])
        assert got == sorted(tuple(s) for s in res.sids[u].tolist())


def test_trace_shows_masked_tokens_the_model_wanted():
    sizes = (3, 2)
    codes = np.array([[0, 0], [0, 1], [1, 0]])
    trie = PrefixTrie.from_codes(codes, sizes)
    model = DictModel(sizes, {(): [0.1, 0.2, 0.7]})
    res = beam_search(model, torch.zeros(1, 2, dtype=torch.long), trie=trie, beam=2, k=2, trace=True, n_cand=2)
    cands = res.trace[0].candidates[0][0].candidates
    assert [c.token for c in cands] == [2, 1]  # top by raw probability
    assert cands[0].masked and cands[0].prob_after == 0.0 and cands[0].prob_before == pytest.approx(0.7)
    assert not cands[1].masked and cands[1].prob_after == pytest.approx(2 / 3)


# ---------------------------------------------------------------------- diverse beam search


def test_diverse_groups_choose_different_level0_tokens():
    sizes = (4, 3, 2)
    codes = all_codes(sizes)
    trie = PrefixTrie.from_codes(codes, sizes)
    # token 0 dominates level 0, so a plain beam puts every beam under it
    probs = {(): [0.85, 0.05, 0.05, 0.05]}
    model = DictModel(sizes, probs)
    h = torch.zeros(1, 2, dtype=torch.long)
    plain = beam_search(model, h, trie=trie, beam=4, k=4)
    assert set(plain.sids[0, :, 0].tolist()) == {0}
    div = beam_search(model, h, trie=trie, beam=4, k=4, diverse_groups=4, diversity_penalty=100.0)
    assert sorted(div.sids[0, :, 0].tolist()) == [0, 1, 2, 3]
    # the penalty steers selection only: scores stay log-probabilities of the chosen SIDs
    for slot in range(4):
        code = tuple(div.sids[0, slot].tolist())
        want = math.log(probs[()][code[0]]) + math.log(1 / 3) + math.log(1 / 2)
        assert float(div.scores[0, slot]) == pytest.approx(want, abs=1e-5)
    # with a mild penalty the groups keep to the dominant token where it pays
    mild = beam_search(model, h, trie=trie, beam=4, k=4, diverse_groups=4, diversity_penalty=0.1)
    assert set(mild.sids[0, :, 0].tolist()) == {0}
    assert len(set(live(mild, 0))) == 4  # ... but never return the same SID twice


def test_diverse_beam_without_penalty_returns_distinct_items():
    codes = random_catalogue(13, 30)
    trie = PrefixTrie.from_codes(codes, SIZES)
    model = TableModel(SIZES, seed=13)
    res = beam_search(model, HIST, trie=trie, beam=12, k=12, diverse_groups=3)
    for b in range(3):
        items = live(res, b)
        # group 0 is a plain beam of 4; later groups repeat its prefixes (no penalty) and may only
        # take leaves it left, so with 3 codes per leaf parent they can run short, never duplicate
        assert len(items) == len(set(items)) >= 4
        plain = beam_search(model, HIST[b : b + 1], trie=trie, beam=4, k=4)
        assert set(live(plain, 0)) <= set(items)
        ref = ref_scores(model, HIST[b], codes)
        for slot, item in enumerate(items):
            assert float(res.scores[b, slot]) == pytest.approx(ref[item], abs=TOL)


# ---------------------------------------------------------------------- sampling


def test_sample_returns_k_distinct_valid_items_reproducibly():
    codes = random_catalogue(17, 30)
    trie = PrefixTrie.from_codes(codes, SIZES)
    model = TableModel(SIZES, seed=17, scale=1.0)
    a = sample(model, HIST, trie=trie, k=6, generator=torch.Generator().manual_seed(1))
    b = sample(model, HIST, trie=trie, k=6, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a.items, b.items)
    code_set = {tuple(c) for c in codes.tolist()}
    for u in range(3):
        items = live(a, u)
        assert len(items) == len(set(items)) == 6
        assert a.scores[u].tolist() == sorted(a.scores[u].tolist(), reverse=True)
        ref = ref_scores(model, HIST[u], codes)
        for slot, item in enumerate(items):
            assert tuple(a.sids[u, slot].tolist()) in code_set
            assert float(a.scores[u, slot]) == pytest.approx(ref[item], abs=TOL)


def test_sample_fills_from_beam_search_when_draws_repeat():
    sizes = (2, 2)
    codes = all_codes(sizes)
    trie = PrefixTrie.from_codes(codes, sizes)
    model = DictModel(sizes, {(): [0.999, 0.001], (0,): [0.999, 0.001]})
    res = sample(
        model, torch.zeros(2, 2, dtype=torch.long), trie=trie, k=4, temperature=0.05,
        generator=torch.Generator().manual_seed(0), max_rounds=1, samples_per_round=2, exclude=[set(), {3}],
    )
    assert sorted(live(res, 0)) == [0, 1, 2, 3]
    assert sorted(live(res, 1)) == [0, 1, 2] and int(res.items[1, 3]) == -1


def test_unconstrained_sample_counts_invalid():
    sizes = (3, 2)
    codes = np.array([[0, 0], [0, 1], [1, 0]])
    trie = PrefixTrie.from_codes(codes, sizes)
    model = DictModel(sizes, {(): [0.001, 0.001, 0.998]})
    res = sample(model, torch.zeros(1, 2, dtype=torch.long), trie=trie, k=2, constrained=False,
                 generator=torch.Generator().manual_seed(0))
    assert int(res.invalid[0]) == 2 and res.items[0].tolist() == [-1, -1]


# ---------------------------------------------------------------------- MMR


def test_mmr_by_hand():
    emb = torch.tensor([[1.0, 0.0], [0.99, 0.141], [0.0, 1.0], [0.7, 0.7]])
    cand = torch.tensor([0, 1, 2, 3])
    scores = torch.tensor([1.0, 0.9, 0.5, 0.0])
    # pure relevance keeps the score order
    assert mmr(cand, scores, emb, 4, lam=1.0).tolist() == [0, 1, 2, 3]
    # lam = 0.5: after 0, item 1 is a near duplicate (cos 0.99): 0.5*0.9 - 0.5*0.99 < 0.5*0.5 - 0
    assert mmr(cand, scores, emb, 2, lam=0.5).tolist() == [0, 2]
    # -1 candidates are skipped and the output is padded
    assert mmr(torch.tensor([2, -1]), torch.tensor([0.3, 9.0]), emb, 3).tolist() == [2, -1, -1]
    with pytest.raises(ConfigError):
        mmr(cand, scores, emb, 2, lam=1.5)
