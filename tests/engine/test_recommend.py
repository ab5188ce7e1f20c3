"""The recommendation facade (``recommend_indices``) and the cached ``Project.generator``: the
same lists as calling the decoders directly, exclusion and filters honoured, bad arguments
refused with a clear ConfigError."""
from __future__ import annotations

import dataclasses
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch

from genrec_engine import (
    ConfigError, ItemFilter, Project, Recommendation, load_project_generator, recommend, recommend_indices,
)
from genrec_engine.generators import save_project_generator
from genrec_engine.data import leave_one_out
from genrec_engine.decode import BeamStep, beam_search, sample
from genrec_engine.models import RAN, RANConfig, pad_histories
from genrec_engine.testing import make_tiny_project

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "resources" / "models" / "beauty-default"
BEAUTY = ROOT / "resources" / "datasets" / "beauty"
KINDS = ("ran", "tiger", "sasrec")


@pytest.fixture(scope="module")
def project() -> Project:
    return Project.open(DEFAULT)


@pytest.fixture(scope="module")
def histories(project) -> list[tuple[int, ...]]:
    """Two test histories of the bundled project (item indices, oldest first)."""
    split = leave_one_out(project.dataset)
    return [tuple(int(i) for i in split.test_history[u]) for u in (5, 1234)]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Project:
    """A 300-item project with an untrained seeded RAN (plenty of SIDs that name no item)."""
    path = make_tiny_project(BEAUTY, tmp_path_factory.mktemp("rec"), items=300, users=60, per_user=6)
    project = Project.open(path)
    torch.manual_seed(0)
    ran = RAN(RANConfig(d_model=16, n_layers=1, n_heads=1, max_len=8, dropout=0.0), project.sids.codes,
              project.sids.level_sizes)
    save_project_generator(Project.open(path), "ran", ran)
    return Project.open(path)


def _direct(project, kind, history, *, k=10, beam=20, exclude=None):
    """The list the old code paths computed: a fresh model, the padded history, the decoder."""
    model = load_project_generator(project, kind)
    H = pad_histories([history], model.config.max_len)
    with torch.no_grad():
        if kind == "sasrec":
            scores = model.score_items(H)[0]
            if exclude:
                scores[torch.as_tensor(sorted(exclude))] = -float("inf")
            top = torch.topk(scores, k)
            return top.indices.tolist(), top.values.tolist()
        res = beam_search(model, H, trie=project.trie, beam=beam, k=k, exclude=[exclude] if exclude else None)
    return res.items[0].tolist(), res.scores[0].tolist()


# ----------------------------------------------------------------------------- same lists as before


@pytest.mark.parametrize("kind", KINDS)
def test_facade_gives_the_direct_decoders_lists(project, histories, kind):
    for hist in histories:
        rec = recommend_indices(project, hist, kind=kind, k=10, beam=20)
        items, scores = _direct(project, kind, hist)
        assert isinstance(rec, Recommendation) and rec.kind == kind and rec.history == hist
        assert rec.items == tuple(items) and len(rec) == 10
        np.testing.assert_allclose(rec.scores, scores, rtol=1e-6)
        assert rec.sids == tuple(project.sids.sid(i) for i in items)
        assert rec.invalid == 0 and not rec.instructed and rec.trace is None


@pytest.mark.parametrize("kind", KINDS)
def test_id_recommend_is_the_facade_in_item_ids(project, histories, kind):
    hist = histories[1]
    out = recommend(project, kind, project.sids.item_ids[list(hist)].tolist(), k=5, beam=8)
    rec = recommend_indices(project, hist, kind=kind, k=5, beam=8)
    assert [r["item_id"] for r in out["items"]] == project.sids.item_ids[list(rec.items)].tolist()
    assert [r["rank"] for r in out["items"]] == [1, 2, 3, 4, 5]
    assert [r["score"] for r in out["items"]] == list(rec.scores)


def test_project_generator_is_cached_shared_and_thread_safe(project):
    a = project.generator("ran")
    assert project.generator("ran") is a and not a.training
    assert project.generator("ran", cached=False) is not a
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda _: project.generator("sasrec"), range(8)))
    assert all(m is got[0] for m in got)
    with pytest.raises(ConfigError, match="expected one of"):
        project.generator("gpt")


def test_project_generator_reloads_a_rewritten_file(tiny):
    first = tiny.generator("ran")
    path = Path(tiny.path) / "generator-ran.safetensors"
    st = path.stat()
    save_project_generator(tiny, "ran", first)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # a different stamp even on coarse clocks
    assert tiny.generator("ran") is not first


# ----------------------------------------------------------------------------- options


def test_recommendation_is_frozen(project, histories):
    rec = recommend_indices(project, histories[0], kind="ran", k=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        rec.items = ()  # type: ignore[misc]
    assert isinstance(rec.items, tuple) and all(isinstance(s, tuple) for s in rec.sids)
    assert rec.to_dict()["items"] == list(rec.items)


@pytest.mark.parametrize("kind", KINDS)
def test_history_exclusion_is_honoured_and_the_list_still_fills(project, histories, kind):
    hist = histories[1]
    plain = recommend_indices(project, hist, kind=kind, k=20)
    assert set(plain.items) & set(hist), "the example history should reappear without exclusion"
    rec = recommend_indices(project, hist, kind=kind, k=20, exclude_history=True)
    assert not set(rec.items) & set(hist) and len(rec) == 20
    assert rec.items == tuple(_direct(project, kind, hist, k=20, exclude=set(hist))[0])
    extra = recommend_indices(project, hist, kind=kind, k=5, exclude={plain.items[0]})
    assert plain.items[0] not in extra.items and len(extra) == 5


@pytest.mark.parametrize("kind", KINDS)
def test_a_filter_blocks_a_brand(project, histories, kind):
    hist = histories[0]
    cat = project.dataset.catalogue
    brands = cat.items["brand"].astype(str)
    top = recommend_indices(project, hist, kind=kind, k=10).items[0]
    brand = brands.iat[top]
    rec = recommend_indices(project, hist, kind=kind, k=10, item_filter=ItemFilter(block_brands=(brand,)))
    assert len(rec) == 10 and brand not in {brands.iat[i] for i in rec.items}


def test_trace_diverse_and_sampling_modes(project, histories):
    hist = histories[1]
    traced = recommend_indices(project, hist, kind="ran", k=4, beam=6, trace=True)
    assert len(traced.trace) == project.sids.depth and all(isinstance(s, BeamStep) for s in traced.trace)
    assert traced.items == recommend_indices(project, hist, kind="ran", k=4, beam=6).items

    div = recommend_indices(project, hist, kind="ran", k=10, beam=20, mode="diverse", groups=4, penalty=1.0)
    model = project.generator("ran")
    H = pad_histories([hist], model.config.max_len)
    with torch.no_grad():
        ref = beam_search(model, H, trie=project.trie, beam=20, k=10, diverse_groups=4, diversity_penalty=1.0)
        drawn = sample(model, H, trie=project.trie, k=10, temperature=0.7, generator=torch.Generator().manual_seed(3))
    assert div.items == tuple(ref.items[0].tolist()) and len(set(div.items)) == 10

    s1 = recommend_indices(project, hist, kind="ran", k=10, mode="sample", temperature=0.7, seed=3)
    assert s1.items == tuple(drawn.items[0].tolist())
    assert recommend_indices(project, hist, kind="ran", k=10, mode="sample", temperature=0.7, seed=3) == s1


def test_a_model_or_another_trie_can_be_given(project, histories):
    hist = histories[0]
    model = project.generator("tiger")
    base = recommend_indices(project, hist, kind="tiger")
    assert recommend_indices(model, hist, trie=project.trie) == base
    assert recommend_indices(project, hist, model=model) == base
    trie = project.trie.copy()
    trie.remove(base.items[0])
    assert base.items[0] not in recommend_indices(project, hist, kind="tiger", trie=trie).items


def test_unconstrained_decoding_reports_invalid_sids(tiny):
    rec = recommend_indices(tiny, [1, 2, 3], kind="ran", k=10, beam=10, constrained=False)
    assert rec.invalid == sum(i < 0 for i in rec.items) > 0
    assert all(len(s) == tiny.sids.depth for s in rec.sids)
    assert recommend_indices(tiny, [1, 2, 3], kind="ran", k=10, beam=10).invalid == 0


def test_an_instruction_as_text_or_vector(project):
    from genrec_engine import encode_instruction

    text = recommend_indices(project, [], kind="ran", instruction="red nail polish")
    vec = recommend_indices(project, [], kind="ran", instruction=encode_instruction("red nail polish"))
    assert text.instructed and text.items == vec.items and len(text) == 10


# ----------------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize("kwargs, message", [
    (dict(k=0), r"k: 0 must be a whole number >= 1"),
    (dict(k=-3), r"k: -3 must be"),
    (dict(k=2.5), r"k: 2.5 must be"),
    (dict(beam=0), r"beam: 0 must be"),
    (dict(kind="gpt"), r"kind='gpt': expected one of ran, tiger, sasrec"),
    (dict(kind=None), r"kind: say which"),
    (dict(mode="greedy"), r"mode='greedy': expected one of beam, diverse, sample"),
    (dict(history=[3, 12101]), r"history: item index 12101 is out of range \(the catalogue has 12101 items"),
    (dict(history=[-1]), r"history: item index -1 is out of range"),
    (dict(history=["x"]), r"history: 'x' is not an item index"),
    (dict(history=[]), r"give a history \(item indices\), an instruction, or both"),
    (dict(kind="sasrec", mode="sample"), r"sasrec scores every item"),
    (dict(kind="sasrec", instruction="lipstick"), r"sasrec scores items by id and takes no instruction"),
    (dict(kind="ran", mode="sample", trace=True), r"trace: only beam search"),
])
def test_bad_arguments_raise_config_errors(project, kwargs, message):
    args = {"history": [1, 2, 3], "kind": "ran", **kwargs}
    with pytest.raises(ConfigError, match=message):
        recommend_indices(project, args.pop("history"), **args)


def test_a_model_alone_needs_a_trie_and_sasrec_needs_the_project(project):
    with pytest.raises(ConfigError, match="needs the prefix trie"):
        recommend_indices(project.generator("ran"), [1, 2])
    with pytest.raises(ConfigError, match="no SID table"):
        recommend_indices(project.generator("sasrec"), [1, 2])
    with pytest.raises(ConfigError, match="kind='tiger' but the model given is a ran"):
        recommend_indices(project, [1], kind="tiger", model=project.generator("ran"))


def test_sasrec_never_returns_an_item_outside_the_trie():
    """Held-out cold items are not in the cold-start project's trie: SASRec's full softmax must
    not return them either (the trie keeps them out of the RAN's lists)."""
    from genrec_engine import Project
    from genrec_engine.recommender import recommend_indices

    proj = Project.open(Path(__file__).resolve().parents[2] / "resources" / "models" / "beauty-coldstart")
    cold = set(proj.cold_indices.tolist())
    assert cold
    rng = np.random.default_rng(0)
    for _ in range(60):
        hist = [int(i) for i in rng.choice(proj.sids.n_items, 5, replace=False) if int(i) not in cold]
        rec = recommend_indices(proj, hist, kind="sasrec", k=20)
        assert len(rec.items) == 20 and not cold & set(rec.items)
