"""The cold-start lab panel: what it shows equals the engine's numbers, and its edits reach the tree
and the map (and never the project's own trie).

Every wait is on a signal or a condition (pytest-qt), never a sleep. The first typed item loads
MiniLM (a few seconds, once per process).
"""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSlider

from app.bridge import EngineBridge
from app.panels import ProjectViewModel
from app.panels.coldstart import (
    EXAMPLE_ITEM,
    HYBRID_DEPTH,
    ColdItemsModel,
    ColdStartPanel,
    ItemRowsModel,
    LevelCharts,
    TopEntry,
    TopListModel,
)
from app.panels.map import MapPanel
from app.panels.tree import SidTreeModel, TreePanel
from app.selection import Selection

from .helpers import mount_panel
from genrec_engine import ColdStartSession, PrefixTrie, hybrid_recommend, load_project_generator

WAIT_MS = 90_000  # MiniLM loads on the first encode: seconds on a busy 2-core machine


@pytest.fixture(scope="module")
def models(snapshot):
    project = snapshot.project
    return load_project_generator(project, "ran"), load_project_generator(project, "sasrec")


def _text(panel, name: str) -> str:
    """The text of the panel's label called ``name``."""
    return panel.findChild(QLabel, name).text()


def _error(panel) -> str:
    label = panel.findChild(QLabel, "coldstart_error")
    return label.text() if not label.isHidden() else ""


def _charts(panel) -> LevelCharts:
    return panel.findChild(LevelCharts, "coldstart_charts")


def _ready(qtbot, panel, bridge):
    qtbot.waitUntil(lambda: panel.screenshot_ready() or bool(_error(panel)), timeout=WAIT_MS)
    assert _error(panel) == ""
    qtbot.waitUntil(lambda: bridge.running() == 0, timeout=WAIT_MS)


def _engine_reference(project, ran, sasrec, history, *, inject, sid, weight):
    """Rank, per-level probabilities and hybrid rank of ``sid`` computed by the engine alone, on a
    fresh session where ``inject(session)`` made the item live; returns (index, path, hybrid rank)."""
    s = ColdStartSession(project)
    index = inject(s)
    path = s.path_probability(ran, history, s.sid(index))
    assert s.sid(index) == tuple(sid)
    hybrid = hybrid_recommend(s, ran, sasrec, history, k=HYBRID_DEPTH, weight=weight)
    return index, path, next((r["rank"] for r in hybrid if r["index"] == index), None)


def _check_analysis(panel, a, path, hybrid_rank):
    assert a.rank == path["rank"] and a.live_items == path["live_items"]
    assert a.logp == pytest.approx(path["logp"], rel=1e-5)
    assert a.hybrid_rank == hybrid_rank
    assert _charts(panel).showing
    for lp, ref, plot in zip(a.levels, path["levels"], _charts(panel).plots):
        assert lp.code == ref["token"] and lp.prob == pytest.approx(ref["prob"], rel=1e-5)
        # the bar chart's own distribution agrees with the engine at the item's code ...
        assert float(lp.probs[lp.code]) == pytest.approx(ref["prob"], rel=1e-4, abs=1e-9)
        assert float(lp.probs.sum()) == pytest.approx(1.0, abs=1e-4)
        # ... and the orange bar drawn is that probability
        heights = plot.bar_heights()
        assert plot.codes.index(lp.code) >= 0
        assert heights[plot.codes.index(lp.code)] == pytest.approx(float(lp.probs[lp.code]), rel=1e-6)
        assert (np.diff(heights[:-1]) <= 1e-9).all()  # the most likely codes, most likely first
    assert f"Generative rank {path['rank']:,}" in _text(panel, "coldstart_rank")


# ---------------------------------------------------------------------------------- typed items


def test_default_project_shows_a_typed_example_with_engine_numbers(qtbot, snapshot, models):
    panel, vm, selection, bridge = mount_panel(qtbot, ColdStartPanel)
    assert panel.page() == "empty" and not panel.screenshot_ready()
    selection.set_sid_table(snapshot.project.sids)
    with qtbot.waitSignal(panel.sig_ready, timeout=WAIT_MS):
        vm.set_snapshot(snapshot)
    assert panel.page() == "lab"
    _ready(qtbot, panel, bridge)
    project = snapshot.project
    # the bundled project holds nothing out: the panel says so and names the cold-start project
    notice = _text(panel, "coldstart_cold_notice")
    assert notice == panel.state.cold_notice()
    assert "holds no items out" in notice and "beauty-coldstart" in notice
    cur = panel.state.current
    assert (cur.kind, cur.index, cur.title, cur.brand, cur.categories) == ("typed", None, *EXAMPLE_ITEM)
    # the SID shown is the engine's encode_new_item of the same text on a fresh session
    e, sid = ColdStartSession(project).encode_new_item(*EXAMPLE_ITEM)
    np.testing.assert_array_equal(cur.embedding, e)
    assert cur.sid == sid and _text(panel, "coldstart_sid") == "SID " + "-".join(map(str, sid))
    nb = ColdStartSession(project).neighbours(sid)
    assert panel.neighbour_model.items() == nb["items"].tolist()
    assert "-".join(map(str, nb["prefix"])) in _text(panel, "coldstart_neighbour_caption")
    # a suggested test user is chosen, and its ranks are the engine's (as if injected: not live yet)
    kind, row = panel.state.user_choice()
    assert kind == "user"
    history = panel.state.history()
    assert history == panel.state.setup.users.histories[row].tolist()
    ran, sasrec = models
    index, path, hybrid_rank = _engine_reference(
        project, ran, sasrec, history, sid=sid, weight=panel.state.weight,
        inject=lambda s: s.inject_new(*EXAMPLE_ITEM, embedding=e).index)
    a = panel.state.analysis
    assert a.what_if and a.item == index == project.sids.n_items
    _check_analysis(panel, a, path, hybrid_rank)
    assert "as if injected" in _text(panel, "coldstart_rank")
    # the hybrid weight (an expert control) re-ranks: weight 1 is the engine's weight-1 ranking
    assert panel.findChild(QSlider, "coldstart_weight").property("expert") is True
    with qtbot.waitSignal(panel.sig_analysis_shown, timeout=WAIT_MS):
        panel.set_weight(1.0)
    _, path1, hybrid_rank1 = _engine_reference(
        project, ran, sasrec, history, sid=sid, weight=1.0,
        inject=lambda s: s.inject_new(*EXAMPLE_ITEM, embedding=e).index)
    assert panel.state.analysis.weight == 1.0 and panel.state.analysis.hybrid_rank == hybrid_rank1
    qtbot.waitUntil(lambda: bridge.running() == 0, timeout=WAIT_MS)


def test_inject_and_retire_reach_the_tree_and_the_map(qtbot, snapshot):
    project = snapshot.project
    vm, selection, bridge = ProjectViewModel(), Selection(), EngineBridge()
    lab = ColdStartPanel(vm, selection, bridge)
    tree = TreePanel(vm, selection, bridge)
    themap = MapPanel(vm, selection, bridge)  # the cached UMAP layout of the bundled project
    for w in (lab, tree, themap):
        qtbot.addWidget(w)
        w.resize(1280, 760)
    selection.set_sid_table(project.sids)
    vm.set_snapshot(snapshot)
    _ready(qtbot, lab, bridge)
    qtbot.waitUntil(themap.screenshot_ready, timeout=WAIT_MS)
    cur = lab.state.current
    n_project = project.trie.num_items

    with qtbot.waitSignal(vm.sig_items_changed, timeout=WAIT_MS) as blocker:
        lab.inject()
    change = blocker.args[0]
    new = lab.state.current
    assert new.index == project.sids.n_items and new.index in lab.state.session.trie
    assert change.added == (new.index,) and change.injected == (new.index,)
    assert change.new_items[new.index].sid == new.sid == lab.state.session.sid(new.index)
    assert lab.state.timings["inject_ms"] < 50  # done on the GUI thread: it must stay fast
    # the tree finds it under its prefix (and went there), with its title
    node = tree.tree_model.index_for_prefix(new.sid)
    assert node.isValid() and tree.selected_prefix() == new.sid
    parent = tree.tree_model.index_for_prefix(new.sid[:-1])
    assert new.index in tree.tree_model.items(parent).tolist()
    assert EXAMPLE_ITEM[0] in tree.tree_model.data(node.siblingAtColumn(5))
    assert new.index in tree.items_model.items().tolist()
    # the map marks it at the mean layout position of its content nearest neighbours
    markers = themap.lab_markers()
    expected = themap.positions()[list(new.anchors)].mean(0)
    assert markers[new.index][2] == "injected"
    np.testing.assert_allclose(markers[new.index][:2], expected, rtol=1e-5)
    # the project's own trie (other panels decode with it) is untouched
    assert project.trie.num_items == n_project and new.index not in project.trie
    qtbot.waitUntil(lambda: bridge.running() == 0, timeout=WAIT_MS)
    assert not lab.state.analysis.what_if and lab.state.analysis.item == new.index

    # retire a warm neighbour too, then the item itself: both leave the trie, tree and map follow
    warm = int(ColdStartSession(project).neighbours(cur.sid)["items"][0])
    with qtbot.waitSignal(vm.sig_items_changed, timeout=WAIT_MS):
        lab.retire(warm)
    assert warm not in lab.state.session.trie and themap.lab_markers()[warm][2] == "retired"
    with qtbot.waitSignal(vm.sig_items_changed, timeout=WAIT_MS) as blocker:
        lab.retire()
    change = blocker.args[0]
    assert change.removed == (new.index,) and change.injected == () and change.retired == (warm,)
    assert new.index not in lab.state.session.trie
    assert not tree.tree_model.index_for_prefix(new.sid).isValid()
    prefix_node = tree.tree_model.index_for_prefix(new.sid[:2])
    items = tree.tree_model.items(prefix_node).tolist() if prefix_node.isValid() else []
    assert new.index not in items and warm not in items
    assert new.index not in themap.lab_markers()
    # generation with the session trie never returns a retired item
    qtbot.waitUntil(lambda: bridge.running() == 0, timeout=WAIT_MS)
    ran = lab.state.setup.generators["ran"]
    live = lab.state.session.score_live(ran, lab.state.history())[0]
    assert new.index not in live and warm not in live and len(live) == n_project - 1
    assert project.trie.num_items == n_project and warm in project.trie
    # a fresh session puts everything back
    with qtbot.waitSignal(vm.sig_items_changed, timeout=WAIT_MS):
        lab.reset_session()
    assert warm in lab.state.session.trie and themap.lab_markers() == {}
    qtbot.waitUntil(lambda: bridge.running() == 0, timeout=WAIT_MS)


def test_selection_history_is_ranked_like_the_engine(qtbot, snapshot, models):
    panel, vm, selection, bridge = mount_panel(qtbot, ColdStartPanel, snapshot)
    _ready(qtbot, panel, bridge)
    history = [1, 3195, 4923]  # three OPI nail lacquers, as in the README
    selection.select_items(history, "map")
    with qtbot.waitSignal(panel.sig_analysis_shown, timeout=WAIT_MS):
        panel.use_selection_history()
    assert panel.state.user_choice() == ("selection", None) and panel.state.history() == history
    ran, sasrec = models
    cur = panel.state.current
    _, path, hybrid_rank = _engine_reference(
        snapshot.project, ran, sasrec, history, sid=cur.sid, weight=panel.state.weight,
        inject=lambda s: s.inject_new(cur.title, cur.brand, cur.categories, embedding=cur.embedding).index)
    _check_analysis(panel, panel.state.analysis, path, hybrid_rank)
    qtbot.waitUntil(lambda: bridge.running() == 0, timeout=WAIT_MS)


# ---------------------------------------------------------------------------------- cold items


def test_cold_project_pick_a_held_out_item(qtbot, cold_snapshot, snapshot):
    project = cold_snapshot.project
    panel, vm, selection, bridge = mount_panel(qtbot, ColdStartPanel, cold_snapshot)
    _ready(qtbot, panel, bridge)
    cold = project.cold_indices
    assert panel.state.cold_notice() == "" and panel.cold_model.rowCount() == len(cold) == 605
    item = int(cold[7])
    with qtbot.waitSignal(panel.sig_analysis_shown, timeout=WAIT_MS):
        panel.pick_cold(item)
    cur = panel.state.current
    assert (cur.kind, cur.index) == ("cold", item) and cur.sid == project.sids.sid(item)
    assert _text(panel, "coldstart_sid") == "SID " + "-".join(map(str, project.sids.sid(item)))
    assert project.dataset.catalogue.title(item) in _text(panel, "coldstart_item_title")
    nb = ColdStartSession(project).neighbours(project.sids.sid(item))  # not live: by its SID
    assert panel.neighbour_model.items() == nb["items"].tolist() and len(nb["items"]) > 0
    # users who took it next come first, and its ranks for the chosen one are the engine's
    users = panel.state.setup.users
    kind, row = panel.state.user_choice()
    takers = set(np.flatnonzero(users.targets == item).tolist())
    assert kind == "user" and (row in takers or not takers)
    ran = panel.state.setup.generators["ran"]
    sasrec = panel.state.setup.dense
    history = panel.state.history()

    def inject(s):
        s.inject(item)
        return item

    _, path, hybrid_rank = _engine_reference(project, ran, sasrec, history, sid=cur.sid, weight=panel.state.weight,
                                             inject=inject)
    _check_analysis(panel, panel.state.analysis, path, hybrid_rank)
    qtbot.waitUntil(lambda: bridge.running() == 0, timeout=WAIT_MS)
    # inject it: the list says so and the session's trie holds it (not the project's)
    with qtbot.waitSignal(vm.sig_items_changed, timeout=WAIT_MS) as blocker:
        panel.inject()
    assert blocker.args[0].injected == (item,)
    assert panel.cold_model.state(item) == "injected" and item in panel.state.session.trie and item not in project.trie
    qtbot.waitUntil(lambda: bridge.running() == 0, timeout=WAIT_MS)
    # another project: nothing of this one stays on screen, and no empty charts while the new one loads
    vm.set_snapshot(snapshot)
    assert panel.state.drawn is None and panel.state.session is None and not _charts(panel).showing
    assert panel.top_model.rowCount() == 0 and _text(panel, "coldstart_rank") == ""
    assert panel.cold_model.rowCount() == 0 and panel.session_model.rowCount() == 0
    assert _text(panel, "coldstart_session") == "" and _text(panel, "coldstart_sid") == ""
    _ready(qtbot, panel, bridge)
    assert _charts(panel).showing and panel.state.analysis.item == snapshot.project.sids.n_items


# ---------------------------------------------------------------------------------- models


def test_tree_model_follows_a_changed_trie(qtmodeltester):
    """``SidTreeModel.update_trie`` keeps expanded nodes and matches a freshly built model."""
    rng = np.random.default_rng(0)
    codes = np.unique(rng.integers(0, 4, size=(60, 3)), axis=0)
    trie = PrefixTrie.from_codes(codes, (4, 4, 4))
    model = SidTreeModel()
    model.set_trie(trie, levels=2)
    qtmodeltester.check(model)
    for prefix in [(int(codes[0, 0]),), tuple(int(c) for c in codes[0, :2]), (int(codes[-1, 0]),)]:
        model.index_for_prefix(prefix)  # fetches the path
    fetched = model.fetched_parents()
    edited = trie.copy()
    free = [c for c in np.ndindex(4, 4, 4) if not (codes == c).all(1).any()]
    edited.insert(len(codes), free[0])  # an item under a new or existing prefix
    edited.remove(0)  # and the first item leaves
    model.update_trie(edited)
    assert model.fetched_parents() >= fetched - 1
    fresh = SidTreeModel()
    fresh.set_trie(edited, levels=2)

    def walk(m, parent, out):
        if m.canFetchMore(parent):
            m.fetchMore(parent)
        for r in range(m.rowCount(parent)):
            idx = m.index(r, 0, parent)
            out.append((m.prefix(idx), m.data(idx.siblingAtColumn(2), Qt.ItemDataRole.UserRole)))
            walk(m, idx, out)
        return out

    assert walk(model, model.index(-1, -1), []) == walk(fresh, fresh.index(-1, -1), [])
    assert len(codes) in model.items(model.index_for_prefix(free[0][:2])).tolist()
    assert trie.num_items == len(codes)  # the original is untouched


def test_lab_models_pass_the_model_tester(qtmodeltester, snapshot):
    rows = ItemRowsModel()
    qtmodeltester.check(rows)
    rows.set_rows([(1, "a", "b", "c", "1-2-3-0", 5), (12101, "new", "", "", "4-5-6-0", 0)])
    qtmodeltester.check(rows)
    assert rows.data(rows.index(0, 4)) == "5" and rows.items() == [1, 12101]
    cold = ColdItemsModel()
    qtmodeltester.check(cold)
    cold.set_rows([(3, "t3", "b3", "1-2-3-0", 2), (9, "t9", "b9", "4-5-6-0", 0)])
    cold.set_state(9, "injected")
    qtmodeltester.check(cold)
    assert cold.data(cold.index(1, 4)) == "injected" and cold.data(cold.index(0, 2)) == "1-2-3-0"
    top = TopListModel()
    qtmodeltester.check(top)
    entry = TopEntry(1, 5, "x", (1, 2, 3, 0), False)
    top.set_lists([entry], [entry, TopEntry(2, 7, "x", (1, 2, 3, 0), True)], 7)
    qtmodeltester.check(top)
    assert top.rowCount() == 2 and top.data(top.index(1, 1)).endswith("★")
    assert top.data(top.index(1, 0)) is None
