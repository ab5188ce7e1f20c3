"""The codeword-weights panel's state and jobs, without widgets: what it asks, shows and forgets.

Runs the panel's job functions synchronously on the bundled project (no bridge threads, no Qt
objects) and drives :class:`app.panels.weights.WeightsState` the way the view does.
"""
from __future__ import annotations

import numpy as np
import pytest

from app.bridge import EngineBridge
from app.panels.weights.jobs import (
    CONTENT,
    DIVERGENCE,
    Generators,
    ItemWeights,
    compute_item_weights,
    compute_ranking,
    load_weight_generators,
)
from app.panels.weights.state import NO_DECOR, WeightsState, escape, level_name, ratio_text
from genrec_engine import codeword_weights, content_ranking, divergence_ranking


@pytest.fixture(scope="module")
def generators(snapshot):
    return EngineBridge.run_sync(load_weight_generators, snapshot.project)


@pytest.fixture(scope="module")
def ranking(snapshot, generators):
    return EngineBridge.run_sync(compute_ranking, snapshot.project, generators.ran)


@pytest.fixture
def state(snapshot, generators):
    """A state over the bundled project, its generators loaded, nothing picked yet."""
    s = WeightsState()
    s.open(snapshot)
    s.set_generators(generators)
    assert not s.content_only and s.no_ran_html == ""
    return s


def _colliding_pair(sids) -> tuple[int, int]:
    L = sids.depth - 1
    _, inverse, counts = np.unique(sids.codes[:, :L], axis=0, return_inverse=True, return_counts=True)
    i, j = np.flatnonzero(inverse.ravel() == int(np.argmax(counts)))[:2].tolist()
    return i, j


# ------------------------------------------------------------------------------------- jobs


def test_generators_are_the_projects_cached_ran_and_no_decor_tiger(snapshot, generators):
    assert generators.ran is snapshot.project.generator("ran")  # shared with the other panels
    assert generators.ran_error is None
    assert generators.tiger is None and "without decor" in generators.tiger_note


def test_ranking_is_the_engines_with_its_mean_and_order(snapshot, generators, ranking):
    ref = divergence_ranking(snapshot.project, generators.ran)
    N, D = snapshot.project.sids.n_items, snapshot.project.sids.depth
    assert ranking.kind == DIVERGENCE
    assert ranking.values.shape == ranking.flags.shape == (N, D) and ranking.order.shape == (N,)
    np.testing.assert_allclose(ranking.values, ref["js"], atol=1e-7)
    np.testing.assert_array_equal(ranking.flags, ref["moved"] & ref["signal"])  # a flagged move needs signal
    np.testing.assert_array_equal(ranking.signal, ref["signal"])
    np.testing.assert_allclose(ranking.summary, ref["js"].mean(1), atol=1e-6)
    assert sorted(ranking.order.tolist()) == list(range(N))
    assert (np.diff(ranking.summary[ranking.order]) <= 0).all()  # largest mean first
    assert ranking.flagged_any == int((ref["moved"] & ref["signal"]).any(1).sum())


def test_without_a_ran_the_ranking_is_by_content_margin(snapshot):
    ref = content_ranking(snapshot.project)
    ranking = EngineBridge.run_sync(compute_ranking, snapshot.project, None)
    N, D = snapshot.project.sids.n_items, snapshot.project.sids.depth
    assert ranking.kind == CONTENT and ranking.values.shape == ranking.flags.shape == (N, D - 1)
    np.testing.assert_array_equal(ranking.values, ref["ratio"])
    np.testing.assert_array_equal(ranking.flags, ref["prefers_other"])
    np.testing.assert_array_equal(ranking.summary, ref["ratio"].min(1))
    assert sorted(ranking.order.tolist()) == list(range(N))
    assert (np.diff(ranking.summary[ranking.order]) >= 0).all()  # the weakest margin first
    assert ranking.flagged_any == 0  # a fitted tokenizer's codes are its nearest codewords


def test_item_weights_and_the_comparison_js(snapshot, generators):
    i, j = _colliding_pair(snapshot.project.sids)
    w = EngineBridge.run_sync(compute_item_weights, snapshot.project, generators.ran, i, j, None)
    assert w.item == i and w.compare == j and w.fusion is None and w.compare_fusion is None
    mine, theirs = codeword_weights(snapshot.project, generators.ran, i), codeword_weights(snapshot.project,
                                                                                           generators.ran, j)
    for a, b in zip(w.levels, mine):
        np.testing.assert_allclose(a.collaborative, b.collaborative, atol=1e-7)
    assert w.compare_js.shape == (snapshot.project.sids.depth,)
    assert all(0.0 <= x <= 1.0 for x in w.compare_js)
    assert w.compare_levels[0].code == theirs[0].code


# ------------------------------------------------------------------------------------ state


def test_a_new_project_drops_everything_of_the_previous_one(snapshot, generators, ranking, state):
    assert WeightsState().page == "empty"
    assert state.page == "weights" and state.ran_loaded and len(state.completions) == snapshot.project.sids.n_items
    assert state.level_sizes == (256, 256, 256, 14)
    state.set_ranking(ranking)
    state.choose(5)
    assert state.request() is not None
    w = EngineBridge.run_sync(compute_item_weights, *state.request().args())
    assert state.set_weights(w)
    state.fail("item", "boom")
    state.open(snapshot)  # the same folder opened again: nothing of before is kept
    assert (state.generators, state.ranking, state.item, state.compare, state.shown) == (None, None, None, None, None)
    assert not state.ready and not state.auto_item and state.error == "" and state.compare_choices == []
    assert state.decor_html == NO_DECOR and state.item_status == "Loading the RAN generator…"
    assert state.request() is None  # no RAN yet: nothing to ask
    state.open(None)
    assert state.page == "empty" and state.completions == {} and state.level_sizes == ()


def test_without_a_ran_the_content_side_is_shown_and_the_command_named(snapshot):
    state = WeightsState()
    state.open(snapshot)
    state.set_generators(Generators(None, "weights of another shape <bad>", None, None))
    html = state.no_ran_html
    assert "could not be loaded" in html and escape("<bad>") in html and "<bad>" not in html  # escaped
    state.open(snapshot)
    state.set_generators(Generators(None, "generator-ran.safetensors: generator checkpoint not found", None, None))
    assert state.page == "weights" and not state.ran_loaded and state.content_only
    html = state.no_ran_html
    assert "genrec train --project" in html and str(snapshot.path) in html and "--model ran" in html
    assert "has none" in html and "generator-ran.safetensors" in html
    assert "content margin" in state.ranking_status
    ranking = EngineBridge.run_sync(compute_ranking, snapshot.project, None)
    top = state.set_ranking(ranking)
    assert top == int(ranking.order[0]) and "prefers another codeword" in state.ranking_status
    close = int((ranking.summary < 1.01).sum())
    assert f"{close:,} other" in state.ranking_status
    state.choose(top, auto=True)
    request = state.request()
    assert request is not None and request.ran is None
    w = EngineBridge.run_sync(compute_item_weights, *request.args())
    assert all(lw.collaborative is None for lw in w.levels)
    state.set_weights(w)
    D = snapshot.project.sids.depth
    margins = ", ".join(f"{level_name(lw.level, D)} {ratio_text(lw.own_ratio)}" for lw in w.levels[:-1])
    assert f"content margin of its code: {margins}" in state.item_status
    assert state.item_status.endswith("shown because it tops the content-margin ranking")
    assert "prefers another codeword" not in state.item_status  # the bundled tokenizer's own codes


def test_the_ranking_shows_its_top_item_until_one_is_picked(snapshot, ranking, state):
    top = state.set_ranking(ranking)
    assert top == int(np.argmax(ranking.summary)) == int(ranking.order[0])
    assert f"{snapshot.project.sids.n_items:,} items" in state.ranking_status
    assert f"{ranking.flagged_any:,}" in state.ranking_status
    state.choose(top, auto=True)
    w = EngineBridge.run_sync(compute_item_weights, *state.request().args())
    state.set_weights(w)
    assert state.item_status.endswith("shown because it tops the divergence ranking")
    state.choose(7)  # a pick: the ranking arriving again does not replace it
    assert state.set_ranking(ranking) is None and state.item == 7 and not state.auto_item


def test_compare_choices_share_the_prefix_longest_first(snapshot, state):
    sids = snapshot.project.sids
    codes, L = sids.codes, sids.depth - 1
    i, j = _colliding_pair(sids)
    state.choose(i)
    choices = state.compare_choices
    assert choices[0].item is None and len(choices) <= 201
    listed = [c.item for c in choices[1:]]
    assert i not in listed and len(set(listed)) == len(listed)
    shared = [int((codes[x, :L] == codes[i, :L]).cumprod().sum()) for x in listed]
    assert all(s >= 1 for s in shared) and shared == sorted(shared, reverse=True)
    assert state.compare == choices[1].item and shared[0] == L  # default: a collider
    assert "(collides)" in choices[1].label and "-".join(map(str, sids.sid(choices[1].item))) in choices[1].label

    k = next(x for x in range(sids.n_items) if codes[x, 0] != codes[i, 0])
    state.choose(i, k)  # a second selected item is offered first and compared
    assert state.compare == k and state.compare_choices[1].item == k
    assert "second selected item" in state.compare_choices[1].label
    state.choose(i, i)  # comparing an item with itself: the default instead
    assert state.compare == choices[1].item

    m = next(x for x in range(sids.n_items) if codes[x, 0] != codes[i, 0] and x != k)
    index = state.set_compare(m)  # not offered: added as "picked"
    assert state.compare_choices[index].item == m and "picked" in state.compare_choices[index].label
    assert state.set_compare(m) == index  # not added twice
    assert state.set_compare(None) == 0 and state.compare is None
    request = state.request()
    assert (request.item, request.compare, request.tiger) == (i, None, None)
    assert state.item_status == "Computing the codeword weights…"


def test_shown_weights_become_status_and_decor_texts(snapshot, generators, state):
    i = 4321
    state.choose(i)
    w = EngineBridge.run_sync(compute_item_weights, *state.request().args())
    assert state.set_weights(w) and not state.set_weights(w)  # ready once per project
    assert state.shown is w and state.ready
    sids = snapshot.project.sids
    assert f"Item id {sids.item_ids[i]}" in state.item_status
    assert "SID " + "-".join(map(str, sids.sid(i))) in state.item_status
    assert f"mean JS {np.mean([lw.js for lw in w.levels]):.3f} bits" in state.item_status
    assert NO_DECOR in state.decor_html and generators.tiger_note in state.decor_html
    assert state.item_title(i) == snapshot.project.dataset.catalogue.title(i)

    fused = ItemWeights(i, w.levels, 9, w.levels, np.zeros(4, np.float32), np.array([0.25, 0.5, 0.75, 0.0]),
                        np.array([0.1, 0.2, 0.3, 0.0]))
    state.set_weights(fused)
    html = state.decor_html
    assert NO_DECOR not in html and "Codebook" in html and "Compared" in html
    for share in ("25 %", "75 %", "50 %", "100 %", "10 %", "30 %"):
        assert share in html


def test_failures_are_explained(state):
    state.fail("ranking", "out of memory")
    assert state.error == "Could not rank the items: out of memory"
    assert state.ranking_status == "The ranking could not be computed."
    state.fail("item", "bad index")
    assert state.error == "Could not compute the item's weights: bad index"


def test_typed_text_finds_an_item(snapshot, state):
    project = snapshot.project
    items = project.dataset.catalogue.items
    ids = project.sids.item_ids
    assert state.resolve(str(int(ids[2024]))) == 2024  # an item id
    assert state.resolve(str(items["asin"].iloc[31])) == 31  # an ASIN
    title = project.dataset.catalogue.title(77)
    first = int(np.flatnonzero(items["title"].str.lower() == title.lower())[0])
    assert state.resolve(title.upper()) == first  # a title, any case: the first match
    key = next(k for k, v in state.completions.items() if v == 99)
    assert state.resolve(key) == 99 and key.endswith(f"[{ids[99]}]")  # a completion
    assert state.search("   ") is None and state.item_status != ""
    assert state.search("no such item anywhere 1234567") is None
    assert state.item_status == "No item matches “no such item anywhere 1234567”."


def test_level_names():
    assert [level_name(l, 4) for l in range(4)] == ["L1", "L2", "L3", "Coll."]


def test_ratio_text():
    assert ratio_text(1.2144) == "1.214×" and ratio_text(0.5) == "0.500×"
    assert ratio_text(None) == "–" and ratio_text(float("inf")) == "–"


def test_without_a_ran_the_comparison_is_between_content_weights(snapshot):
    i, j = _colliding_pair(snapshot.project.sids)
    w = EngineBridge.run_sync(compute_item_weights, snapshot.project, None, i, j, None)
    mine, theirs = codeword_weights(snapshot.project, None, i), codeword_weights(snapshot.project, None, j)
    from genrec_engine import js_divergence

    for l, (a, b) in enumerate(zip(mine, theirs)):
        np.testing.assert_array_equal(w.levels[l].content, a.content)
        assert w.compare_js[l] == pytest.approx(float(js_divergence(a.content[None], b.content[None])[0]), abs=1e-7)
    assert w.compare_js[-1] == pytest.approx(1.0, abs=1e-6) or mine[-1].code == theirs[-1].code  # one-hot collision codes
