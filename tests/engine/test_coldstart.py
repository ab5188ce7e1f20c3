"""Cold-start: the hold-out protocol, item injection/retirement, hybrid re-ranking, coldstart-eval."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genrec_engine.testing import make_tiny_project
from genrec_engine import ConfigError, Project, TrainConfig, train_generator
from genrec_engine.cli import main as cli_main
from genrec_engine.coldstart import apply_cold_holdout, project_split
from genrec_engine.decode import beam_search
from genrec_engine.coldstart import ColdStartSession, coldstart_eval, fit_content_map, hybrid_recommend
from genrec_engine.models import pad_histories

ROOT = Path(__file__).resolve().parents[2]
BEAUTY = ROOT / "resources" / "datasets" / "beauty"
TINY = dict(d_model=16, n_layers=1, n_heads=1, max_len=8)


@pytest.fixture(scope="module")
def cold_project(tmp_path_factory):
    """A 200-item project holding out 10 % of its items, with a tiny RAN and SASRec trained on it."""
    out = tmp_path_factory.mktemp("cold")
    path = make_tiny_project(BEAUTY, out, items=200, users=80, per_user=8)
    proj = apply_cold_holdout(Project.open(path), 0.1, seed=0)
    for kind in ("ran", "sasrec"):
        train_generator(proj, kind, model_config=TINY, train_config=TrainConfig(epochs=2, eval_every=1), device="cpu")
    return Project.open(path)


@pytest.fixture(scope="module")
def ran(cold_project):
    from genrec_engine import load_project_generator

    return load_project_generator(cold_project, "ran")


def _all_items(model, trie, histories) -> set[int]:
    """Every item a full-width beam search returns for these histories (full width = exhaustive)."""
    H = pad_histories(histories, model.config.max_len)
    width = trie.num_items + 5
    res = beam_search(model, H, trie=trie, beam=width, k=width)
    items = res.items.numpy()
    return set(items[items >= 0].tolist())


HISTS = [[0, 1, 2], [5], [10, 11, 12, 13]]


def test_cold_holdout_keeps_cold_items_out_of_trie_and_training(cold_project):
    cold = cold_project.cold_indices
    assert len(cold) == 20
    assert all(int(i) not in cold_project.trie for i in cold)
    assert cold_project.trie.num_items == 180
    split = project_split(cold_project)
    seqs = list(split.train) + list(split.valid_history) + list(split.test_history)
    assert not any(np.isin(s, cold).any() for s in seqs)
    assert np.isin(np.asarray(split.test_target), cold).any()  # cold items stay as targets
    # made once per project object and shared by every caller; a new dataset makes it again
    assert project_split(cold_project) is split
    cold_project.attach_dataset(cold_project.dataset)
    again = project_split(cold_project)
    assert again is not split and np.array_equal(again.test_target, split.test_target)
    assert all(np.array_equal(a, b) for a, b in zip(again.train, split.train))


def test_cli_tokenize_cold_holdout(cold_project, tmp_path, capsys):
    ds = cold_project.dataset_path
    code = cli_main(["tokenize", "--data", str(ds), "--levels", "2", "--codebook-size", "16", "--encoder", "structured",
                     "--cold-holdout", "0.2", "--out", str(tmp_path / "p"), "--json"])
    capsys.readouterr()
    assert code == 0
    proj = Project.open(tmp_path / "p")
    assert len(proj.cold_indices) == 40
    assert proj.trie.num_items == 160 and not any(int(i) in proj.trie for i in proj.cold_indices)


def test_injected_cold_item_becomes_decodable_and_project_trie_is_untouched(cold_project, ran):
    c = int(cold_project.cold_indices[0])
    s = ColdStartSession(cold_project)
    assert c not in _all_items(ran, s.trie, HISTS)  # never generated before injection
    assert s.inject(c) == cold_project.sids.sid(c)
    assert c in _all_items(ran, s.trie, HISTS)
    assert c not in cold_project.trie  # the project's trie is a different object, unchanged
    assert c in {r["index"] for r in s.recommend(ran, [0, 1], k=200, beam=200)}
    with pytest.raises(ConfigError, match="already live"):
        s.inject(c)


def test_near_duplicate_new_item_shares_prefix_and_gets_a_free_collision_code(cold_project, ran):
    s = ColdStartSession(cold_project)
    j = int(np.setdiff1d(np.arange(200), cold_project.cold_indices)[3])
    item = s.inject_new("A copy", embedding=cold_project.embeddings[j])
    sid_j = cold_project.sids.sid(j)
    assert item.index == 200 and item.sid[:-1] == sid_j[:-1] and item.sid[-1] != sid_j[-1]
    live_codes = {s.sid(int(i)) for i in s.live_items() if int(i) != item.index}
    assert item.sid not in live_codes
    assert item.index in _all_items(ran, s.trie, HISTS)
    nb = s.neighbours(item.index)
    assert nb["length"] == s.trie.depth - 1 and j in nb["items"].tolist() and item.index not in nb["items"].tolist()
    # fill the collision level under that prefix: then a further copy is refused
    with pytest.raises(ConfigError, match="full"):
        for _ in range(s.trie.level_sizes[-1] + 1):
            s.inject_new("another copy", embedding=cold_project.embeddings[j])


def test_new_item_text_goes_through_the_encoder_like_catalogue_items(cold_project, monkeypatch):
    s = ColdStartSession(cold_project)
    with pytest.raises(ConfigError, match="structured"):
        s.encode_new_item("Nail polish", "Acme", "Beauty > Nails")
    monkeypatch.setitem(cold_project.meta, "encoder", {"name": "minilm", "fields": ["title", "brand", "categories"]})
    seen = []

    def fake(texts):
        seen.extend(texts)
        return cold_project.embeddings[7][None, :] + 1e-4

    emb, sid = s.encode_new_item("Nail polish", "Acme", "Beauty > Nails", encoder=fake)
    assert seen == ["Nail polish. Brand: Acme. Category: Beauty > Nails"]
    assert emb.dtype == np.float32 and np.array_equal(emb, emb.astype(np.float16).astype(np.float32))
    assert sid[:-1] == tuple(int(c) for c in cold_project.tokenizer.encode(emb[None])[0])


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_retired_items_are_never_returned(cold_project, ran, data):
    s = ColdStartSession(cold_project)
    s.inject(int(cold_project.cold_indices[1]))
    live = s.live_items().tolist()
    retired = data.draw(st.lists(st.sampled_from(live), unique=True, max_size=30))
    for i in retired:
        s.retire(i)
    got = _all_items(ran, s.trie, HISTS)
    assert not got & set(retired)
    assert got == set(live) - set(retired)  # the exhaustive beam still finds every other item
    for i in retired[:3]:
        assert s.path_probability(ran, [0, 1], s.sid(i))["live"] is False


def test_path_probability_is_teacher_forced_and_rank_is_exact(cold_project, ran):
    s = ColdStartSession(cold_project)
    hist = [3, 4, 5]
    items, scores = s.score_live(ran, hist)
    assert len(items) == s.trie.num_items
    best = int(items[np.argmax(scores)])
    out = s.path_probability(ran, hist, s.sid(best))
    assert out["rank"] == 1 and out["live"]
    assert out["logp"] == pytest.approx(sum(l["logp"] for l in out["levels"]), abs=1e-5)
    assert out["logp"] == pytest.approx(float(scores.max()), abs=1e-4)
    assert all(0 < l["prob"] <= l["best_prob"] + 1e-6 for l in out["levels"])
    worst = int(items[np.argmin(scores)])
    assert s.rank(ran, hist, s.sid(worst)) == len(items)
    beam = beam_search(ran, pad_histories([hist], 8)[:, -3:], trie=s.trie, beam=50, k=1)
    assert int(beam.items[0, 0]) == best


class _PointingDense(torch.nn.Module):
    """A dense model whose item space is a fixed random projection of the content embeddings
    (so the content map is exact) and whose user vector points at one chosen item."""

    def __init__(self, embeddings: np.ndarray, target: int):
        super().__init__()
        R = torch.as_tensor(np.random.default_rng(0).normal(size=(embeddings.shape[1], 8)), dtype=torch.float32)
        self.V = torch.as_tensor(embeddings, dtype=torch.float32) @ R
        self.u = self.V[target] / self.V[target].norm() * 10
        self.config = type("Cfg", (), {"max_len": 8})()
        self.lin = torch.nn.Linear(1, 1)

    def user_vectors(self, history):
        return self.u.expand(history.shape[0], -1)

    def item_vectors(self):
        return self.V


def test_content_map_recovers_a_linear_item_space(cold_project):
    dense = _PointingDense(cold_project.embeddings, 0)
    warm = np.setdiff1d(np.arange(200), cold_project.cold_indices)
    cmap = fit_content_map(cold_project.embeddings, dense.V.numpy(), warm, ridge=1e-6)
    assert cmap.r2 > 0.999
    cold = cold_project.cold_indices
    np.testing.assert_allclose(cmap(cold_project.embeddings[cold]), dense.V.numpy()[cold], atol=1e-2)


def test_hybrid_surfaces_a_cold_item_generative_only_misses(cold_project, ran):
    # a cold item whose mapped dense vector is unlike everything else's, so a user pointing at it
    # ranks it first on the dense side
    c = int(cold_project.cold_indices[2])
    dense = _PointingDense(cold_project.embeddings, c)
    hist = [0, 1, 2]
    gen_only = ColdStartSession(cold_project).recommend(ran, hist, k=10)
    assert c not in [r["index"] for r in gen_only]
    top = hybrid_recommend(cold_project, ran, dense, hist, k=10, weight=0.9, content_share=0.0)
    assert c in [r["index"] for r in top]
    hit = next(r for r in top if r["index"] == c)
    assert hit["cold"] and hit["sid"] == list(cold_project.sids.sid(c))
    # warm items keep their generative order
    warm = [r["index"] for r in top if not r["cold"]]
    assert warm == [r["index"] for r in gen_only][: len(warm)]
    # weight 0 and no pool: exactly the generative list
    plain = hybrid_recommend(cold_project, ran, dense, hist, k=10, weight=0.0, cold_items=[])
    assert [r["index"] for r in plain] == [r["index"] for r in gen_only]
    # a retired cold item leaves the session's pool
    s = ColdStartSession(cold_project)
    s.inject(c)
    s.retire(c)
    assert c not in [r["index"] for r in hybrid_recommend(s, ran, dense, hist, k=10, weight=0.9, content_share=0.0)]
    # the content-profile side alone: a history ending in c's nearest warm item surfaces c
    E = cold_project.embeddings
    warm = np.setdiff1d(np.arange(200), cold_project.cold_indices)
    j = int(warm[np.argmax(E[warm] @ E[c])])
    far = _PointingDense(E, int(warm[0]))  # the SASRec side points elsewhere and gets no say
    assert c not in [r["index"] for r in ColdStartSession(cold_project).recommend(ran, [j], k=10)]
    top = hybrid_recommend(cold_project, ran, far, [j], k=10, weight=0.9, content_share=1.0)
    assert c in [r["index"] for r in top]
    assert sum(r["cold"] for r in top) <= 3  # max_cold


def test_hybrid_recommend_with_a_new_item_and_real_sasrec(cold_project, ran):
    from genrec_engine import load_project_generator

    sas = load_project_generator(cold_project, "sasrec")
    s = ColdStartSession(cold_project)
    new = s.inject_new("brand new", embedding=cold_project.embeddings[int(cold_project.cold_indices[0])])
    top = hybrid_recommend(s, ran, sas, [0, 1, new.index], k=10, weight=1.0, cold_per_user=500)
    assert len(top) == 10 and len({r["index"] for r in top}) == 10
    pool = set(cold_project.cold_indices.tolist()) | {new.index}
    assert all(r["cold"] == (r["index"] in pool) for r in top)
    assert any(r["cold"] for r in top)


def test_coldstart_eval_keys_and_values(cold_project):
    out = coldstart_eval(cold_project, users=60)
    keys = {"cold_cases", "cold_recall@10_generative", "cold_recall@10_hybrid", "cold_ndcg@10_generative",
            "cold_ndcg@10_hybrid", "warm_recall@10_generative", "warm_recall@10_hybrid", "warm_cases", "weight",
            "seconds"}
    assert keys <= set(out)
    assert out["cold_cases"] + out["warm_cases"] == 60 and out["cold_cases"] > 0
    assert out["cold_recall@10_generative"] == 0.0 and out["cold_ndcg@10_generative"] == 0.0
    for key in keys - {"cold_cases", "warm_cases", "seconds"}:
        assert 0.0 <= out[key] <= 1.0, key
    full = coldstart_eval(cold_project, weight=1.0)
    assert full["cold_cases"] + full["warm_cases"] == len(project_split(cold_project).test_target)
    assert full["cold_recall@10_hybrid"] >= full["cold_recall@10_generative"]


def test_cli_coldstart_eval(cold_project, capsys):
    code = cli_main(["coldstart-eval", "--project", str(cold_project.path), "--users", "40", "--weight", "0.3",
                     "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    obj = json.loads(out)
    assert obj["weight"] == 0.3 and obj["cold_cases"] + obj["warm_cases"] == 40
    with pytest.raises(SystemExit) as stop:  # refused while parsing, before any work
        cli_main(["coldstart-eval", "--project", str(cold_project.path), "--weight", "2", "--json"])
    out, err = capsys.readouterr()
    assert stop.value.code == 2 and "argument --weight: 2 must be at most 1" in err


def test_coldstart_eval_refuses_a_project_without_cold_items(tmp_path):
    path = make_tiny_project(BEAUTY, tmp_path, items=60, users=10, per_user=4)
    with pytest.raises(ConfigError, match="cold"):
        coldstart_eval(Project.open(path))
