"""The decode building blocks: composable token masks and the one level step (``advance``)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from genrec_engine.decode import (
    AllChildren,
    AllowMask,
    BlockMask,
    ExclusionMask,
    ForceChild,
    Frame,
    Gumbel,
    TeacherForce,
    TopK,
    TrieMask,
    advance,
    beam_search,
    combine_masks,
    level_logp,
    score_sids,
    score_trie,
)
from genrec_engine.errors import ConfigError
from genrec_engine.index import PrefixTrie
from genrec_engine.models.base import DecodeState

from .test_decode import HIST, SETTINGS, SIZES, TableModel, random_catalogue, ref_scores


def _frame(trie, nodes, users, prefix=None, batch=None):
    """A hand-made frame at the level of ``prefix`` (default: level 0) with the given rows."""
    nodes = torch.as_tensor(nodes, dtype=torch.long)
    users = torch.as_tensor(users, dtype=torch.long)
    rows = nodes.shape[0]
    prefix = torch.zeros(rows, 0, dtype=torch.long) if prefix is None else torch.as_tensor(prefix, dtype=torch.long)
    return Frame(prefix=prefix, scores=torch.zeros(rows), users=users, state=DecodeState({}), level=prefix.shape[1],
                 sizes=tuple(trie.level_sizes), batch=batch or int(users.max()) + 1, trie=trie, nodes=nodes)


def _walk(trie, prefix) -> int:
    node = 0
    for level, tok in enumerate(prefix):
        node = int(trie.step(level, torch.tensor([node]), torch.tensor([tok]))[0])
    return node


# ---------------------------------------------------------------------- masks


def test_masks_combine_by_and():
    codes = random_catalogue(1, 20)
    trie = PrefixTrie.from_codes(codes, SIZES)
    # three users, two rows each, every row at the root or at a level-0 child
    frame = _frame(trie, [0, 0, 0, 0, 0, 0], [0, 0, 1, 1, 2, 2], batch=3)
    allow = AllowMask([torch.tensor([True, True, False, True]), None, None], SIZES, 3)
    per_user = torch.tensor([[True] * 4, [False, True, True, True], [True, False, True, True]])
    block = BlockMask([per_user.logical_not() | torch.tensor([False, False, False, True]), None, None], SIZES, 3)
    t = TrieMask(trie).allowed(0, frame)
    a = allow.allowed(0, frame)
    b = block.allowed(0, frame)
    assert t.shape == a.shape == b.shape == (6, 4) and t.dtype == torch.bool
    assert (a == torch.tensor([True, True, False, True]).expand(6, 4)).all()
    assert (b == (per_user & torch.tensor([True, True, True, False])).repeat_interleave(2, dim=0)).all()
    both = combine_masks([TrieMask(trie), None, allow, block], 0, frame)
    assert (both == (t & a & b)).all()
    assert combine_masks([], 0, frame) is None
    assert combine_masks([allow], 1, frame) is None  # no restriction at level 1
    # per-user subsets keep shared levels and pick per-user rows
    sub = block.select_users([2])
    assert sub[0].shape == (1, 4) and sub[1] is None


def test_nothing_allowed_raises_where_a_row_must_continue():
    codes = np.array([[0, 0, 0], [0, 1, 2], [1, 3, 1]])
    trie = PrefixTrie.from_codes(codes, SIZES)
    frame = _frame(trie, [0, 0], [0, 1], batch=2)
    allow = AllowMask([torch.tensor([[True, True, True, True], [False, False, True, True]]), None, None], SIZES, 2)
    mask = combine_masks([TrieMask(trie), allow], 0, frame)  # user 1 is left nothing: only 0 and 1 are in the trie
    assert mask[0].tolist() == [True, True, False, False] and not mask[1].any()
    with pytest.raises(ConfigError, match=r"allow_mask: allows no token at level 0 for user 1"):
        combine_masks([TrieMask(trie), allow], 0, frame, required=torch.tensor([True, True]))
    combine_masks([TrieMask(trie), allow], 0, frame, required=torch.tensor([True, False]))  # row 1 may die
    # the trie alone empties a dead row
    dead = _frame(trie, [-1], [0], batch=1)
    with pytest.raises(ConfigError, match="trie: allows no token"):
        combine_masks([TrieMask(trie)], 0, dead, required=torch.tensor([True]))
    # a level that allows no token at all is refused up front, for every user or for one
    with pytest.raises(ConfigError, match=r"allow_mask\[1\]: allows no token"):
        AllowMask([None, torch.zeros(4, dtype=torch.bool), None], SIZES, 2)
    with pytest.raises(ConfigError, match=r"block_mask\[0\]: allows no token for user 1"):
        BlockMask([torch.tensor([[False] * 4, [True] * 4]), None, None], SIZES, 2)
    with pytest.raises(ConfigError, match=r"allow_mask\[2\]: expected shape"):
        AllowMask([None, None, torch.ones(2, 3, 3, dtype=torch.bool)], SIZES, 2)
    with pytest.raises(ConfigError, match="levels"):
        AllowMask([None], SIZES, 2)
    # beam search lets a row die, and a user whose filter empties the trie gets an empty list
    res = beam_search(TableModel(SIZES), HIST[:2], trie=trie, beam=3, k=3,
                      allow_mask=[allow.levels[0], None, None])
    assert res.items[1].tolist() == [-1, -1, -1] and (res.items[0] >= 0).sum() == 3


@given(seed=st.integers(0, 10_000), n=st.integers(1, 40), n_users=st.integers(1, 3), share=st.floats(0.0, 1.0))
@SETTINGS
def test_exclusion_masks_exactly_the_fully_excluded_children(seed, n, n_users, share):
    rng = np.random.default_rng(seed)
    codes = random_catalogue(seed, n)
    trie = PrefixTrie.from_codes(codes, SIZES)
    exclude = [set(np.flatnonzero(rng.random(len(codes)) < share).tolist()) | {999} for _ in range(n_users)]
    ex = ExclusionMask(trie, exclude, n_users)
    assert ex.empty == (not any(e - {999} for e in exclude))
    prefixes = {tuple(c[:level]) for c in codes.tolist() for level in range(len(SIZES))}
    for level in range(len(SIZES)):
        rows = sorted(p for p in prefixes if len(p) == level)
        users = [u for u in range(n_users) for _ in rows]
        prefix = [list(p) for _ in range(n_users) for p in rows]
        frame = _frame(trie, [_walk(trie, p) for p in prefix], users,
                       prefix=torch.tensor(prefix, dtype=torch.long).view(len(prefix), level), batch=n_users)
        got = ex.allowed(level, frame)
        for r, (u, p) in enumerate(zip(users, prefix)):
            for tok in range(SIZES[level]):
                under = [i for i, c in enumerate(codes.tolist()) if c[: level + 1] == p + [tok]]
                fully = bool(under) and all(i in exclude[u] for i in under)
                assert got is None and not fully or got is not None and bool(got[r, tok]) != fully


def test_exclusion_needs_a_trie_and_one_set_per_user():
    trie = PrefixTrie.from_codes(random_catalogue(0, 10), SIZES)
    with pytest.raises(ConfigError, match="exclude: has 1 entries for 2 users"):
        ExclusionMask(trie, [set()], 2)
    with pytest.raises(ConfigError, match="exclude: needs a trie"):
        beam_search(TableModel(SIZES), HIST, trie=None, constrained=False, exclude=[set(), set(), set()])


# ---------------------------------------------------------------------- advance


def _reference_beam(model, history_row, trie_codes, beam: int):
    """Plain Python beam search over the trie: lists of (prefix, score) per level, no batching."""
    state = model.start(history_row.view(1, -1))
    codes = [tuple(c) for c in trie_codes.tolist()]
    beams = [((), 0.0)]
    for level in range(len(SIZES)):
        children = []
        for prefix, score in beams:
            logp = torch.log_softmax(model.next_logits(state, torch.tensor([prefix], dtype=torch.long).view(1, level))
                                     .float(), -1)[0]
            for tok in range(SIZES[level]):
                if any(c[: level + 1] == prefix + (tok,) for c in codes):
                    children.append((prefix + (tok,), score + float(logp[tok])))
        beams = sorted(children, key=lambda b: -b[1])[:beam]
    return beams


@pytest.mark.parametrize("beam", [1, 3, 7])
def test_beam_search_built_from_advance_equals_a_plain_reference(beam):
    codes = random_catalogue(4, 30)
    trie = PrefixTrie.from_codes(codes, SIZES)
    model = TableModel(SIZES, seed=4)
    frame = Frame.root(model.start(HIST), batch=3, sizes=SIZES, device="cpu", trie=trie)
    masks = [TrieMask(trie)]
    while not frame.done:
        frame = advance(frame, level_logp(model, frame), masks, beam, select=TopK())
    assert frame.rows == 3 * beam and frame.users.tolist() == [u for u in range(3) for _ in range(beam)]
    for b in range(3):
        ref = _reference_beam(model, HIST[b], codes, beam)
        rows = range(b * beam, b * beam + len(ref))
        assert [tuple(frame.prefix[r].tolist()) for r in rows] == [p for p, _ in ref]
        assert np.allclose([float(frame.scores[r]) for r in rows], [s for _, s in ref], atol=1e-5)
        items = frame.items()
        for r, (p, _) in zip(rows, ref):  # every SID is an item, and the leaf holds it
            assert codes[int(items[r])].tolist() == list(p)
    # beam_search is exactly this loop
    res = beam_search(model, HIST, trie=trie, beam=beam, k=beam)
    assert torch.equal(res.sids.view(-1, len(SIZES))[: frame.rows], frame.prefix)


def test_gumbel_draws_from_the_masked_distribution():
    codes = random_catalogue(2, 25)
    trie = PrefixTrie.from_codes(codes, SIZES)
    model = TableModel(SIZES, seed=2)
    root = Frame.root(model.start(HIST), batch=3, sizes=SIZES, device="cpu", trie=trie)
    logp = level_logp(model, root)
    frame = advance(root, logp, [TrieMask(trie)], 5, select=Gumbel(0.7, torch.Generator().manual_seed(9)))
    assert frame.rows == 15 and frame.users.tolist() == [u for u in range(3) for _ in range(5)]
    # by hand: the same uniforms, Gumbel-max on masked log p / T of each user's root row
    masked = logp.masked_fill(~trie.allowed(0, torch.zeros(3, dtype=torch.long)), -math.inf).repeat_interleave(5, 0)
    u = torch.rand(masked.shape, generator=torch.Generator().manual_seed(9)).clamp_(1e-12, 1.0 - 1e-7)
    tok = (masked / 0.7 - torch.log(-torch.log(u))).argmax(1)
    assert frame.prefix[:, 0].tolist() == tok.tolist()
    assert torch.equal(frame.scores, masked.gather(1, tok[:, None]).squeeze(1))
    assert bool(trie.allowed(0, torch.zeros(15, dtype=torch.long))[torch.arange(15), tok].all())
    # the next level keeps every sample in its row (one draw per row, no regrowth)
    nxt = advance(frame, level_logp(model, frame), [TrieMask(trie)], 5, select=Gumbel(0.7, torch.Generator()))
    assert torch.equal(nxt.prefix[:, :1], frame.prefix)


def test_teacher_forcing_and_enumeration_give_exact_sid_scores():
    codes = random_catalogue(6, 30)
    trie = PrefixTrie.from_codes(codes, SIZES)
    model = TableModel(SIZES, seed=6)
    for b in range(3):
        ref = ref_scores(model, HIST[b], codes)
        frame = score_trie(model, HIST[b:b + 1], trie, batch_size=7)  # chunks of 7 rows
        items = frame.items().tolist()
        assert sorted(items) == list(range(len(codes)))
        for i, s, p in zip(items, frame.scores.tolist(), frame.prefix.tolist()):
            assert abs(s - ref[i]) < 1e-4 and p == codes[i].tolist()
        got = score_sids(model, HIST[b:b + 1], torch.as_tensor(codes[None, :5]))
        assert got.shape == (1, 5) and np.allclose(got[0].tolist(), ref[:5], atol=1e-4)
    # SIDs off the trie are scored too (no mask), two users at once
    off = torch.tensor([[[3, 3, 2], [0, 0, 0]], [[1, 2, 1], [3, 3, 2]]])
    got = score_sids(model, HIST[:2], off)
    for b in range(2):
        assert np.allclose(got[b].tolist(), ref_scores(model, HIST[b], off[b].numpy()), atol=1e-4)
    with pytest.raises(ConfigError, match="sids"):
        score_sids(model, HIST[:2], off[:1])


def test_force_child_keeps_one_child_and_refuses_probability_zero():
    class ZeroFirst(TableModel):
        def next_logits(self, state, prefix):
            out = super().next_logits(state, prefix).clone()
            out[:, 0] = -math.inf  # token 0 never happens
            return out

    codes = random_catalogue(3, 30)
    trie = PrefixTrie.from_codes(codes, SIZES)
    model = ZeroFirst(SIZES, seed=3)
    frame = Frame.root(model.start(HIST[:1]), batch=1, sizes=SIZES, device="cpu", trie=trie)
    frame = advance(frame, level_logp(model, frame), [], 4, select=TopK())
    tok = int(frame.prefix[2, 0])
    forced = advance(frame, level_logp(model, frame), [], 3, select=ForceChild(2, 1), trace=4)
    assert forced.prefix.tolist() == [[tok, 1]] * 3 and forced.rows == 3
    assert [(c.parent, c.token) for c in forced.step.chosen[0]] == [(2, 1)] * 3
    with pytest.raises(ConfigError, match="probability 0 for beam 7"):
        advance(frame, level_logp(model, frame), [], None, select=ForceChild(1, 0, label="beam 7"))


def test_advance_checks_its_inputs_and_keeps_frames_unchanged():
    codes = random_catalogue(5, 30)
    trie = PrefixTrie.from_codes(codes, SIZES)
    model = TableModel(SIZES, seed=5)
    root = Frame.root(model.start(HIST), batch=3, sizes=SIZES, device="cpu", trie=trie)
    with pytest.raises(ConfigError, match="logp"):
        advance(root, torch.zeros(3, 5), [TrieMask(trie)], 2)
    with pytest.raises(ConfigError, match="width"):
        advance(root, level_logp(model, root), [TrieMask(trie)], 3, select=TopK(groups=2))
    with pytest.raises(ConfigError, match="one user"):
        advance(root, level_logp(model, root), [TrieMask(trie)], select=AllChildren())
    with pytest.raises(ConfigError, match="tokens for"):
        advance(root, level_logp(model, root), [], select=TeacherForce(torch.zeros(2, dtype=torch.long)))
    before = (root.prefix.clone(), root.scores.clone(), root.nodes.clone())
    frame = root
    while not frame.done:
        frame = advance(frame, level_logp(model, frame), [TrieMask(trie)], 4)
    assert (root.prefix.shape, root.scores.tolist(), root.nodes.tolist()) == (
        before[0].shape, before[1].tolist(), before[2].tolist())
    with pytest.raises(ConfigError, match="all 3 levels"):
        advance(frame, torch.zeros(frame.rows, 3), [TrieMask(trie)], 4)
    # dead slots (fewer than width children) carry -inf and node -1
    dead = ~torch.isfinite(frame.scores)
    assert (frame.nodes[dead] == -1).all() and (frame.items()[dead] == -1).all()
