"""The cold-start lab's view-model (:class:`LabState`) and jobs, without widgets: what a project
switch drops, session edits and the changes they announce, user choices, analysis text, the level
charts' bars, and the generative list through the engine's recommend facade."""
from __future__ import annotations

import numpy as np
import pytest

from app.bridge import EngineBridge
from app.panels.coldstart.jobs import analyse_item, generative_top, load_lab, snapshot_session
from app.panels.coldstart.results import (
    DEAD_COLOUR,
    DEFAULT_WEIGHT,
    ITEM_COLOUR,
    LIVE_COLOUR,
    SHOWN_CODES,
    LabText,
    LevelProbs,
    level_bars,
)
from app.panels.coldstart.state import PROJECT_STATE, USER_SETTINGS, LabState, leaf_category
from genrec_engine import ColdStartSession


@pytest.fixture(scope="module")
def setups(snapshot, cold_snapshot):
    """One loaded lab per project (each test gets a fresh session through ``_state``)."""
    return {id(s): EngineBridge.run_sync(load_lab, s.project) for s in (snapshot, cold_snapshot)}


def _state(snap, setups) -> LabState:
    state = LabState()
    state.open_project(snap)
    state.set_setup(setups[id(snap)])
    state.use_session(ColdStartSession(snap.project))
    return state


def _typed(state: LabState, like: int = 5):
    """A typed item whose embedding is catalogue item ``like``'s (no MiniLM needed)."""
    e = np.asarray(state.project.embeddings[like], np.float32)
    return state.typed_item("A new toner", "Rosewell", "Beauty > Skin Care > Toners", LabText(e, (like,), 0.0))


def test_a_project_switch_drops_everything_of_the_old_project(snapshot, cold_snapshot, setups):
    fresh = LabState()
    state = _state(cold_snapshot, setups)
    state.generator, state.weight, state.selection_items = "tiger", 0.8, (1, 2)
    state.set_current(state.cold_item(state.first_cold_item()))
    state.inject()
    state.set_suggested([(0, "next")])
    state.choose(0)
    state.error = "something"
    assert state.drawn is None and state.injected_order and state.cold_states
    state.open_project(snapshot)
    for name in PROJECT_STATE:
        if name != "snapshot":
            assert getattr(state, name) == getattr(fresh, name), name
    assert state.snapshot is snapshot and state.drawn is None and state.user_choice() == ("selection", None)
    assert (state.generator, state.weight, state.selection_items) == ("tiger", 0.8, (1, 2))
    assert "timings" in USER_SETTINGS and "inject_ms" in state.timings
    # the new project's setup: a generator kind it lacks falls back to one it has
    state.generator = "nope"
    state.set_setup(setups[id(snapshot)])
    assert state.generator in state.setup.generators and state.error is None


def test_typed_item_edits_announce_the_live_items(snapshot, setups):
    state = _state(snapshot, setups)
    project, n = snapshot.project, snapshot.project.sids.n_items
    assert state.check_text(" ", "", "") and state.check_text("x", "", "") is None
    item = _typed(state)
    state.set_current(item)
    assert item.kind == "typed" and item.index is None and state.sid_text() == "SID " + "-".join(map(str, item.sid))
    assert "Not in the trie" in state.item_state() and state.can_inject() and not state.is_live()
    caption, rows = state.neighbours()
    nb = ColdStartSession(project).neighbours(item.sid)
    assert [r[0] for r in rows] == nb["items"].tolist() and f"<b>{len(rows):,}</b> live item" in caption
    assert rows[0][3] == leaf_category(project.dataset.catalogue.items["categories"].iat[rows[0][0]])
    change = state.inject()
    assert change.added == (n,) and change.injected == (n,) and change.project is project
    assert change.new_items[n].sid == state.current.sid and change.new_items[n].anchors == (5,)
    assert n in change.trie and n not in project.trie and change.trie is not state.session.trie
    assert state.is_live() and "Live" in state.item_state() and state.inject() is None
    assert state.session_rows() == [(n, "A new toner (new)", "injected", "-".join(map(str, state.current.sid)))]
    assert "1 injected · 0 retired" in state.session_summary()
    # retire a warm neighbour and put it back: it is no injection
    warm = rows[0][0]
    change = state.retire(warm)
    assert change.removed == (warm,) and change.retired == (warm,) and warm not in state.session.trie
    change = state.restore(warm)
    assert change.added == (warm,) and change.retired == () and warm not in state.session.injected
    assert state.restore(warm) is None  # live already
    # retire the item itself; a fresh session forgets everything and the item needs a new SID
    change = state.retire()
    assert change.removed == (n,) and change.injected == () and "Retired" in state.item_state()
    assert [r[2] for r in state.session_rows()] == ["retired"]
    change = state.use_session(ColdStartSession(project))
    assert (change.added, change.removed, change.injected, change.retired) == ((), (), (), ())
    assert state.current.index is None and state.session_rows() == []


def test_cold_items_and_their_states(snapshot, cold_snapshot, setups):
    assert "holds no items out" in _state(snapshot, setups).cold_notice()
    state = _state(cold_snapshot, setups)
    project = cold_snapshot.project
    cold = project.cold_indices
    rows = state.cold_rows()
    assert state.cold_notice() == "" and len(rows) == len(cold) == 605
    assert rows[7][0] == int(cold[7]) and rows[7][3] == "-".join(map(str, project.sids.sid(int(cold[7]))))
    first = state.first_cold_item()
    assert first == int(cold[int(np.argmax(state.setup.cold_next))])
    state.set_current(state.cold_item(first))
    assert state.current.kind == "cold" and state.current.sid == project.sids.sid(first)
    assert "Held out" in state.item_state()
    state.inject()
    assert state.cold_states[first] == "injected" and state.injected_order == [first]
    state.retire()
    assert state.cold_states[first] == "retired"
    state.restore(first)
    assert state.cold_states[first] == "injected" and state.injected_order == [first]
    state.use_session(ColdStartSession(project))
    assert set(state.cold_states.values()) == {"held out"}


def test_user_choices_and_history(snapshot, setups):
    state = _state(snapshot, setups)
    users = state.setup.users
    state.selection_items = (1, 3195, 4923)
    state.set_suggested([(3, "next"), (7, "similar")])
    assert state.choices == [("user", 3), ("user", 7), ("selection", None)] and state.user_choice() == ("user", 3)
    labels = state.choice_labels()
    assert labels[0] == f"User {int(users.user_ids[3])} · {len(users.histories[3])} items · ★ took it next"
    assert labels[1].endswith("similar taste") and labels[2] == "History from the shared selection (3 items)"
    assert state.history() == users.histories[3].tolist()
    state.choose(2)  # the selection is a choice on purpose: the next item keeps it
    state.set_suggested([(9, "similar")])
    assert state.user_choice() == ("selection", None) and state.history() == [1, 3195, 4923]
    state.choose(0)  # a suggestion is not kept
    state.set_suggested([(4, "next")])
    assert state.user_choice() == ("user", 4)
    row = state.user_row(str(int(users.user_ids[10])))
    assert row == 10 and state.user_row("no such user") is None
    state.pin_user(row)
    assert state.choices[0] == ("user", 10) and state.user_choice() == ("user", 10)
    assert state.choice_labels()[0].endswith("picked")
    state.set_suggested([(10, "similar"), (4, "next")])  # a pinned user is listed once, still picked
    assert state.choices == [("user", 10), ("user", 4), ("selection", None)] and state.user_choice() == ("user", 10)
    assert "User " in state.history_text(state.history())


def test_analysis_request_result_and_text(snapshot, setups):
    state = _state(snapshot, setups)
    assert state.analysis_request() is None  # no item yet
    state.set_current(_typed(state))
    state.set_suggested([(0, "similar")])
    state.weight = DEFAULT_WEIGHT
    request = state.analysis_request()
    assert request.kind == state.generator and request.history == tuple(state.history())
    assert request.generator is state.setup.generators[state.generator] and request.item is state.current
    a = EngineBridge.run_sync(analyse_item, snapshot_session(state.session), request)
    assert a.what_if and a.item == snapshot.project.sids.n_items and state.session.new_items == {}
    assert len(a.levels) == len(a.sid) and len(a.generative) == len(a.hybrid) == 10
    assert state.accept_analysis(a) and state.drawn is a and state.ready
    text = state.rank_text(a)
    assert f"Generative rank {a.rank:,}</b> of {a.live_items:,} live items" in text and "as if injected" in text
    assert "Top 10 for this history (the item injected as a what-if)" in state.top_caption(a)
    # a result for another item is dropped; what the charts draw stays until the next one
    state.set_current(_typed(state, like=4000))
    assert state.current.sid[:-1] != a.sid[:-1]
    assert not state.accept_analysis(a) and state.analysis is None and state.drawn is a


def test_no_generator_says_so_and_counts_as_ready(snapshot, setups):
    from dataclasses import replace

    state = LabState()
    state.open_project(snapshot)
    state.set_setup(replace(setups[id(snapshot)], generators={}, session=ColdStartSession(snapshot.project)))
    assert "no trained RAN or TIGER-style generator" in state.error
    state.set_current(_typed(state))
    assert state.error is not None  # the project's lack stays said when the item changes
    assert state.no_generator() and state.ready and state.analysis_request() is None


def test_level_bars_show_the_likeliest_codes_and_the_items_own():
    probs = np.linspace(1.0, 0.05, 20).astype(np.float32)
    probs /= probs.sum()
    reachable = np.ones(20, bool)
    reachable[1] = False
    far = LevelProbs(level=0, code=15, probs=probs, reachable=reachable, prob=float(probs[15]), code_rank=16)
    b = level_bars(far, depth=4)
    assert b.codes == (0, 1, 2, 3, 4, 5, 6, 15) and len(b.codes) == SHOWN_CODES
    assert b.x[-1] - b.x[-2] > 1  # a gap: codes in between are left out
    assert b.colours[:2] == (LIVE_COLOUR, DEAD_COLOUR) and b.colours[-1] == ITEM_COLOUR and b.mine == 7
    assert b.label_right and "Level 1: code 15 · #16 of 20" in b.title
    assert np.allclose(b.heights, probs[list(b.codes)])
    near = LevelProbs(level=3, code=2, probs=probs, reachable=np.zeros(20, bool), prob=float(probs[2]), code_rank=3)
    b = level_bars(near, depth=4)
    assert b.codes == tuple(range(8)) and np.allclose(np.diff(b.x), 1) and b.mine == 2 and not b.label_right
    assert "Collision: code 2 ✗" in b.title and "no live item" in b.tooltip


def test_generative_list_goes_through_the_facade_and_matches_the_session(snapshot, setups):
    state = _state(snapshot, setups)
    session = snapshot_session(state.session)
    new = session.inject_new("A new toner", embedding=snapshot.project.embeddings[5])
    ran = state.setup.generators["ran"]
    history = [1, 3195, 4923]
    ours = generative_top(session, ran, history)
    ref = session.recommend(ran, history, k=10, beam=20)
    assert [(e.rank, e.index, e.title, list(e.sid), e.special) for e in ours] == \
        [(r["rank"], r["index"], r["title"], r["sid"], r["injected"]) for r in ref]
    assert new.index in session.trie
    empty = generative_top(session, ran, [])  # the facade wants a history: the session decodes this one
    assert [e.index for e in empty] == [r["index"] for r in session.recommend(ran, [], k=10, beam=20)]


def test_state_results_and_jobs_import_no_qt():
    """The view-model, the results and the jobs are plain Python (the jobs run on workers)."""
    import inspect

    from app.panels.coldstart import jobs, results, state

    for module in (state, results, jobs):
        assert "PySide6" not in inspect.getsource(module), module.__name__
