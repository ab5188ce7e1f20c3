"""The beam stepper checked against beam_search / sample on tiny catalogues and on the bundled project."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from genrec_engine.decode import BeamStepper, StepperConfig, beam_search, sample
from genrec_engine.errors import ConfigError
from genrec_engine.index import PrefixTrie
from genrec_engine.train.metrics import homogeneity_at_k

from .test_decode import SETTINGS, SIZES, TableModel, TinyTorchModel, random_catalogue

USERS = [[0, 1, 2], [4, 8], [6, 7, 8, 9]]  # item indices, oldest first (HIST-like, unpadded)


def _tiny(kind: str = "table", seed: int = 0, n: int = 30, sizes=SIZES):
    codes = random_catalogue(seed, n, sizes)
    trie = PrefixTrie.from_codes(codes, sizes)
    model = TableModel(sizes, seed=seed + 1) if kind == "table" else TinyTorchModel(40, sizes, seed=seed + 1)
    return codes, trie, model


def _reference(stepper: BeamStepper, **kw):
    cfg = stepper.config
    kw.setdefault("exclude", [set(stepper.exclude)] if stepper.exclude else None)
    return beam_search(stepper.model, stepper.history_tensor, trie=stepper.trie, beam=cfg.beam, k=cfg.k,
                       constrained=cfg.constrained, diverse_groups=cfg.groups if cfg.mode == "diverse" else 1,
                       diversity_penalty=cfg.penalty if cfg.mode == "diverse" else 0.0, trace=True,
                       n_cand=cfg.n_cand, **kw)


def _assert_same_list(result, ref) -> None:
    n = len(result)
    live = torch.isfinite(ref.scores[0])
    assert n == int(live.sum())
    assert list(result.items) == ref.items[0, :n].tolist()
    assert [list(s) for s in result.sids] == ref.sids[0, :n].tolist()
    assert np.allclose(result.scores, ref.scores[0, :n].numpy(), atol=1e-6)
    assert result.invalid == int(ref.invalid[0])


# ---------------------------------------------------------------------- equal to beam_search


@pytest.mark.parametrize("kind", ["table", "torch"])
@pytest.mark.parametrize("mode", ["beam", "diverse"])
@pytest.mark.parametrize("constrained", [True, False])
def test_stepper_without_forcing_equals_beam_search(kind, mode, constrained):
    codes, trie, model = _tiny(kind, seed=3)
    for user, excl in zip(USERS, (None, {0, 5, 11}, None)):
        cfg = StepperConfig(beam=6, k=4, mode=mode, groups=2, penalty=0.7, constrained=constrained)
        stepper = BeamStepper(model, trie, user, config=cfg, exclude=excl, max_len=4)
        assert stepper.history_tensor.tolist() == [[0] * (4 - len(user)) + [i + 1 for i in user]]
        records = stepper.run_to_end()
        ref = _reference(stepper)
        _assert_same_list(stepper.result(), ref)
        # every level's record is beam_search's own trace for that user
        assert len(records) == len(ref.trace) == len(SIZES)
        for rec, step in zip(records, ref.trace):
            assert list(rec.prefixes) == step.prefixes[0]
            assert list(rec.chosen) == step.chosen[0]
            assert list(rec.pruned) == step.pruned[0]
            if len(rec.prefixes) > 1:
                assert list(rec.candidates) == step.candidates[0]
            else:  # a lone beam lists beam + n_cand candidates: beam_search's n_cand come first
                (mine,), (theirs,) = rec.candidates, step.candidates[0]
                assert mine.candidates[: cfg.n_cand] == theirs.candidates
                assert len(mine.candidates) == min(cfg.beam + cfg.n_cand, SIZES[rec.level])
            assert rec.forced is None


def test_sampling_mode_is_one_seeded_round_of_sample():
    codes, trie, model = _tiny("torch", seed=5, n=40)
    compared = 0
    for seed in range(6):
        for user in USERS:
            cfg = StepperConfig(beam=12, k=3, mode="sample", temperature=1.5, seed=seed)
            stepper = BeamStepper(model, trie, user, config=cfg, max_len=4)
            stepper.run_to_end()
            res = stepper.result()
            gen = torch.Generator().manual_seed(seed)
            ref = sample(model, stepper.history_tensor, trie=trie, k=3, temperature=1.5, generator=gen,
                         samples_per_round=12, max_rounds=1)
            if len(res) < 3:  # sample() would fill from beam search; the stepper does not
                continue
            compared += 1
            _assert_same_list(res, ref)
    assert compared >= 10


# ---------------------------------------------------------------------- back


@pytest.mark.parametrize("mode", ["beam", "diverse", "sample"])
def test_back_after_step_restores_the_identical_state(mode):
    codes, trie, model = _tiny("torch", seed=7)
    stepper = BeamStepper(model, trie, USERS[2], config=StepperConfig(beam=4, k=4, mode=mode), max_len=4)
    states, records = [stepper.signature()], []
    while not stepper.done:
        records.append(stepper.step())
        states.append(stepper.signature())
    first = stepper.result()
    for level in range(len(SIZES) - 1, -1, -1):  # walk all the way back, checking each level
        stepper.back()
        assert stepper.level == level
        assert stepper.signature() == states[level]
        assert stepper.records == tuple(records[:level])
    assert stepper.back() is None and stepper.level == 0  # nothing before the start
    again = stepper.run_to_end()  # the same decode, random draws included
    assert again == records
    assert stepper.result() == first
    # back twice then forward once: the middle state is the same object-for-object
    stepper.back()
    stepper.back()
    stepper.step()
    assert stepper.signature() == states[len(SIZES) - 1]


# ---------------------------------------------------------------------- force


def test_forcing_a_pruned_token_changes_the_path_and_the_list():
    codes, trie, model = _tiny("table", seed=11, n=40)
    cfg = StepperConfig(beam=2, k=2)  # two of the four level-0 tokens are pruned
    stepper = BeamStepper(model, trie, USERS[0], config=cfg, max_len=4)
    rec0 = stepper.step()
    plain_path = [c.token for c in rec0.chosen]
    stepper.run_to_end()
    plain = stepper.result()
    # back to the start and force the best token the beam pruned at level 0
    while stepper.level:
        stepper.back()
    forced_token = rec0.pruned[0].token
    assert forced_token not in plain_path
    stepper.force(0, forced_token)
    assert stepper.pending_force == (0, forced_token)
    forced0 = stepper.step()
    assert forced0.forced == (0, forced_token)
    assert [(c.parent, c.token) for c in forced0.chosen] == [(0, forced_token)]
    assert forced_token in [c.token for c in rec0.pruned]  # it really was pruned before
    stepper.run_to_end()
    forced = stepper.result()
    assert forced.sids != plain.sids
    assert all(s[0] == forced_token for s in forced.sids)
    assert forced.invalid == 0
    # reference: beam search allowed only that token at level 0 finds the same list
    allow = [torch.arange(SIZES[0]) == forced_token, None, None]
    ref = beam_search(model, stepper.history_tensor, trie=trie, beam=2, k=2, allow_mask=allow)
    _assert_same_list(forced, ref)
    # back over the forced level keeps the force pending; unforce returns to the plain decode
    while stepper.level:
        stepper.back()
    assert stepper.pending_force == (0, forced_token)
    stepper.unforce()
    stepper.run_to_end()
    assert stepper.result() == plain


def test_forcing_in_the_middle_and_in_sampling_mode():
    codes, trie, model = _tiny("torch", seed=2, n=40)
    for mode in ("beam", "diverse", "sample"):
        stepper = BeamStepper(model, trie, USERS[1], config=StepperConfig(beam=4, k=4, mode=mode), max_len=4)
        stepper.step()
        beams = stepper.live_beams()
        j = len(beams) - 1
        prefix = beams[j][0]
        rec = stepper.step()  # look at level 1, then redo it forced
        stepper.back()
        token = next(c.token for c in rec.candidates[j].candidates if not c.masked)
        stepper.force(j, token)
        stepper.run_to_end()
        res = stepper.result()
        assert len(res) >= 1
        assert all(s[:2] == prefix + (token,) for s in res.sids)
        assert res.invalid == 0


def test_force_refuses_masked_tokens_and_bad_indices():
    sizes = (3, 2)
    codes = np.array([[0, 0], [0, 1], [1, 0]])  # nothing under token 2
    trie = PrefixTrie.from_codes(codes, sizes)
    model = TableModel(sizes, seed=0)
    stepper = BeamStepper(model, trie, [0, 1], config=StepperConfig(beam=3, k=3))
    with pytest.raises(ConfigError, match="masked"):
        stepper.force(0, 2)
    with pytest.raises(ConfigError, match="live beams"):
        stepper.force(1, 0)
    with pytest.raises(ConfigError, match="tokens"):
        stepper.force(0, 3)
    with pytest.raises(ConfigError, match="levels are decoded"):
        stepper.result()
    stepper.run_to_end()
    with pytest.raises(ConfigError, match="complete"):
        stepper.step()
    with pytest.raises(ConfigError, match="complete"):
        stepper.force(0, 0)
    # unconstrained: token 2 is allowed, and its SIDs match no item
    free = BeamStepper(model, trie, [0, 1], config=StepperConfig(beam=6, k=6, constrained=False))
    free.force(0, 2)
    free.run_to_end()
    res = free.result()
    assert res.invalid == len(res) == 2 and set(res.items) == {-1}


def test_bad_configs_name_the_field():
    with pytest.raises(ConfigError, match="mode"):
        StepperConfig(mode="greedy")
    with pytest.raises(ConfigError, match="groups"):
        StepperConfig(beam=5, mode="diverse", groups=2)
    with pytest.raises(ConfigError, match="temperature"):
        StepperConfig(mode="sample", temperature=0)
    codes, trie, model = _tiny()
    with pytest.raises(ConfigError, match="trie"):
        BeamStepper(model, None, [1], config=StepperConfig(constrained=True))


# ---------------------------------------------------------------------- constrained = valid


@SETTINGS
@given(
    sizes=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    n=st.integers(1, 40),
    seed=st.integers(0, 10_000),
    beam=st.integers(1, 6),
    mode=st.sampled_from(["beam", "diverse", "sample"]),
    force_at=st.integers(-1, 2),
)
def test_constrained_stepper_never_yields_an_invalid_sid(sizes, n, seed, beam, mode, force_at):
    sizes = tuple(sizes)
    codes = random_catalogue(seed, n, sizes)
    trie = PrefixTrie.from_codes(codes, sizes)
    model = TableModel(sizes, seed=seed)
    cfg = StepperConfig(beam=2 * beam if mode == "diverse" else beam, k=beam, mode=mode, groups=2, seed=seed)
    rng = np.random.default_rng(seed)
    excl = set(rng.choice(len(codes), size=min(2, len(codes) - 1), replace=False).tolist())
    stepper = BeamStepper(model, trie, [int(seed % 7)], config=cfg, exclude=excl)
    while not stepper.done:
        if stepper.level == force_at:
            rec = stepper.step()
            stepper.back()
            ok = [(c.parent, c.token) for c in rec.pruned] + [(c.parent, c.token) for c in rec.chosen]
            stepper.force(*ok[int(rng.integers(len(ok)))])
        stepper.step()
    res = stepper.result()
    code_set = {tuple(c) for c in codes.tolist()}
    assert res.invalid == 0 and len(res) >= 1
    assert len(set(res.sids)) == len(res.sids)
    for item, sid in zip(res.items, res.sids):
        assert sid in code_set and tuple(codes[item]) == sid and item not in excl


def test_homogeneity_matches_the_metric():
    codes, trie, model = _tiny("torch", seed=4, n=48)
    for user in USERS:
        stepper = BeamStepper(model, trie, user, config=StepperConfig(beam=10, k=10), max_len=4)
        stepper.run_to_end()
        res = stepper.result()
        share, prefix = res.homogeneity(k=10, level=1)
        assert share == pytest.approx(homogeneity_at_k(np.array([res.items]), codes, k=10, level=1))
        assert sum(s[0] == prefix[0] for s in res.sids) == round(share * len(res))


def test_instruction_reaches_the_model():
    class Spy(TableModel):
        seen = []

        def start(self, history, instruction=None):
            self.seen.append(None if instruction is None else instruction.shape)
            return super().start(history)

    codes, trie, _ = _tiny()
    model = Spy(SIZES, seed=1)
    BeamStepper(model, trie, [1, 2], instruction=torch.ones(384))
    BeamStepper(model, trie, [1, 2])
    assert model.seen == [(1, 384), None]


# ---------------------------------------------------------------------- the bundled project


@pytest.mark.parametrize("kind", ["ran", "tiger"])
def test_bundled_generators_step_like_beam_search(kind):
    from genrec_engine import Project, find_demo_user, held_out_users, load_project_generator

    project = Project.open("resources/models/beauty-default")
    users = held_out_users(project)
    model = load_project_generator(project, kind)
    u = find_demo_user(model, project.trie, users, candidates=64)
    stepper = BeamStepper(model, project.trie, users.histories[u], config=StepperConfig(beam=20, k=10))
    stepper.run_to_end()
    res = stepper.result()
    with torch.no_grad():
        ref = beam_search(model, stepper.history_tensor, trie=project.trie, beam=20, k=10)
    _assert_same_list(res, ref)
    assert res.rank_of(int(users.targets[u])) is not None  # the demo user's true next item is listed
