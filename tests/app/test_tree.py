"""SID tree panel: the lazy trie model, the items table, linked selection, search and export.

Built over the bundled project (and synthetic tries for the model checks). Every wait is on a
signal or a condition, never a sleep.
"""
from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QLabel, QLineEdit, QListWidget, QPushButton

from app.bridge import EngineBridge
from app.panels import ProjectViewModel
from app.panels.tree import (
    ITEM_COLUMNS,
    SOURCE,
    ItemsTableModel,
    SidTreeModel,
    TreePanel,
    parse_query,
)
from app.selection import Selection

from .helpers import mount_panel
from genrec_engine import PrefixTrie, SIDTable

JOB_MS = 30_000


@pytest.fixture
def panel(qtbot, snapshot):
    p, _vm, _selection, bridge = mount_panel(qtbot, TreePanel, snapshot)
    yield p
    bridge.wait_all(10_000)


def _selection(panel) -> Selection:
    return panel._test_refs[1]


def _text(panel, name: str) -> str:
    """The text of the panel's label with this object name."""
    return panel.findChild(QLabel, name).text()


def _button(panel, name: str) -> QPushButton:
    return panel.findChild(QPushButton, name)


def _small_sids(seed: int = 0, n: int = 400, k: int = 6, levels: int = 2) -> SIDTable:
    """A small SID table with plenty of collisions (codes drawn from only k**levels tuples)."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, k, size=(n, levels))
    return SIDTable.from_codes(np.arange(1, n + 1), codes, k)


def _trie(sids: SIDTable) -> PrefixTrie:
    return PrefixTrie.from_codes(sids.codes, sids.level_sizes)


# ------------------------------------------------------------------------------------ models


def test_tree_model_passes_qtmodeltester(qtmodeltester):
    sids = _small_sids()
    model = SidTreeModel()
    model.set_trie(_trie(sids), levels=sids.levels, title=lambda i: f"title {i}")
    qtmodeltester.check(model)  # walks (and so fetches) the whole small tree
    assert model.fetched_nodes() == 1 + sum(
        len({tuple(r) for r in sids.codes[:, :n].tolist()}) for n in range(1, sids.depth + 1)
    )


def test_fetch_more_announces_its_rows(snapshot):
    """Expanding a node inserts its children with begin/endInsertRows, seen by views as one insert."""
    project = snapshot.project
    model = SidTreeModel()
    model.set_trie(project.trie, levels=project.sids.levels, title=project.dataset.catalogue.title)
    events = []
    model.rowsAboutToBeInserted.connect(lambda parent, a, b: events.append(("about", model.rowCount(parent), a, b)))
    model.rowsInserted.connect(lambda parent, a, b: events.append(("done", model.rowCount(parent), a, b)))
    index = model.index(0, 0)
    kids = project.trie.children(1, project.trie.lookup(model.prefix(index)))
    model.fetchMore(index)
    assert events == [("about", 0, 0, len(kids) - 1), ("done", len(kids), 0, len(kids) - 1)]
    assert [model.data(model.index(r, 0, index), Qt.ItemDataRole.UserRole) for r in range(len(kids))] == [
        t for t, _, _ in kids]
    assert model.parent(model.index(0, 3, index)) == index
    model.fetchMore(index)  # a second fetch adds nothing
    assert len(events) == 2 and not model.canFetchMore(index)


def test_tree_model_columns_show_counts_levels_collisions_and_titles():
    sids = _small_sids(seed=1)
    model = SidTreeModel()
    model.set_trie(_trie(sids), levels=sids.levels, title=lambda i: f"title {i}")
    display, raw = Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.UserRole
    assert [model.headerData(c, Qt.Orientation.Horizontal) for c in range(6)] == [
        "Code", "Prefix", "Items", "Level", "Collision", "Item"]
    top = model.index(0, 0)
    token = model.data(top, raw)
    assert model.data(model.index(0, 2), raw) == int((sids.codes[:, 0] == token).sum())
    model.fetchMore(top)
    # a level-L node shared by several items: flagged, and its children are single items
    group = next(model.index(r, 0, top) for r in range(model.rowCount(top))
                 if model.data(model.index(r, 2, top), raw) > 1)
    size = model.data(group.siblingAtColumn(2), raw)
    assert model.data(group.siblingAtColumn(4), display) == f"yes · {size}"
    assert model.is_collision_group(group)
    model.fetchMore(group)
    assert model.rowCount(group) == size
    leaf = model.index(0, 0, group)
    item = model.data(leaf.siblingAtColumn(5), raw)
    assert model.data(leaf.siblingAtColumn(5), display) == f"title {item}"
    assert model.data(leaf.siblingAtColumn(3), display) == "collision"
    assert model.data(leaf.siblingAtColumn(1), display) == "-".join(map(str, sids.sid(item)))
    assert model.data(leaf.siblingAtColumn(4), display) == ""
    assert not model.hasChildren(leaf)


def test_fresh_model_is_lazy(snapshot):
    project = snapshot.project
    model = SidTreeModel()
    model.set_trie(project.trie, levels=project.sids.levels)
    n_root = len(project.trie.children(0, 0))
    assert model.rowCount() == n_root == 256
    assert model.fetched_nodes() == 1 + n_root  # the root and its children, no grandchildren
    assert model.fetched_parents() == 1
    first = model.index(0, 0)
    assert model.hasChildren(first) and model.rowCount(first) == 0 and model.canFetchMore(first)


def test_million_item_model_fetches_only_what_is_opened():
    rng = np.random.default_rng(0)
    n = 1_000_000
    sids = SIDTable.from_codes(np.arange(n), rng.integers(0, 256, size=(n, 3)), 256)
    trie = _trie(sids)
    model = SidTreeModel()
    model.set_trie(trie, levels=3)
    assert model.rowCount() == 256
    index = model.index_for_prefix(sids.sid(12345))  # open one full path
    assert index.isValid() and model.node_level(index) == 4
    assert model.prefix(index) == sids.sid(12345)
    assert model.fetched_nodes() < 1000
    assert model.fetched_parents() == 4  # the root and the three nodes on the path


def test_items_table_model_passes_qtmodeltester_and_sorts(qtmodeltester, snapshot):
    model = ItemsTableModel()
    model.set_source(snapshot)
    items = snapshot.project.sids.items_with_prefix(tuple(snapshot.project.sids.codes[0, :1]))
    model.set_items(items)
    qtmodeltester.check(model)
    pop = [c.title for c in ITEM_COLUMNS].index("Popularity")
    model.sort(pop, Qt.SortOrder.DescendingOrder)
    shown = [model.data(model.index(r, pop), Qt.ItemDataRole.UserRole + 1) for r in range(model.rowCount())]
    assert shown == sorted(snapshot.popularity[items].tolist(), reverse=True)
    model.sort(0, Qt.SortOrder.AscendingOrder)
    titles = [model.data(model.index(r, 0)) for r in range(model.rowCount())]
    assert titles == sorted(titles, key=str.casefold)
    assert sorted(model.items().tolist()) == sorted(items.tolist())


def test_parse_query():
    assert parse_query("12-48") == ("prefix", (12, 48))
    assert parse_query(" 12, 48 ") == ("prefix", (12, 48))
    assert parse_query("12-") == ("prefix", (12,))
    assert parse_query("sid:7") == ("prefix", (7,))
    assert parse_query("123") == ("id", 123)
    assert parse_query("id:5") == ("id", 5)
    assert parse_query("Nail polish") == ("title", "Nail polish")
    assert parse_query("  ") == ("empty", "")


# ------------------------------------------------------------------------------------ panel


def test_panel_shows_the_tree_and_level_stats(panel, snapshot):
    assert panel.page() == "project" and panel.screenshot_ready()
    assert panel.tree_model.rowCount() == 256
    assert panel.tree_model.fetched_parents() == 1
    text = _text(panel, "treeStats")
    first = snapshot.diagnostics.levels[0]
    assert f"{first.perplexity:.1f}" in text and f"{first.prefix_entropy:.2f} bits" in text
    assert "Level 3" in text


def test_empty_state_without_a_project(qtbot):
    vm, selection, bridge = ProjectViewModel(), Selection(), EngineBridge()
    p = TreePanel(vm, selection, bridge)
    qtbot.addWidget(p)
    assert p.page() == "empty" and not p.screenshot_ready()
    assert p.tree_model.rowCount() == 0


def test_selecting_a_node_lists_its_items_and_selects_its_prefix(panel, snapshot, qtbot):
    model = panel.tree_model
    index = model.index(3, 0)
    prefix = model.prefix(index)
    selection = _selection(panel)
    with qtbot.waitSignal(selection.sig_changed, timeout=1000) as blocker:
        panel.tree.setCurrentIndex(index)
    event = blocker.args[0]
    assert event.source == SOURCE and event.prefix == prefix
    count = len(snapshot.project.trie.items_under(1, snapshot.project.trie.lookup(prefix)))
    assert panel.items_model.rowCount() == count == len(event.items)
    assert sorted(panel.items_model.items().tolist()) == sorted(event.items)
    assert _text(panel, "treeTableCaption").startswith(f"{count:,} items under {prefix[0]}")
    # picking an item row selects that single item, with the node's prefix
    with qtbot.waitSignal(selection.sig_changed, timeout=1000) as blocker:
        panel.table.selectRow(1)
    event = blocker.args[0]
    assert event.items == (panel.items_model.item_at(1),) and event.prefix == prefix and event.source == SOURCE


def test_external_selection_of_an_item_expands_to_it(panel, snapshot):
    item = 4321
    sid = snapshot.project.sids.sid(item)
    before = panel.tree_model.fetched_parents()
    _selection(panel).select_items([item], "map")
    assert panel.selected_prefix() == sid
    index = panel.tree.currentIndex()
    assert panel.tree.isExpanded(index.parent()) and panel.tree.isExpanded(index.parent().parent())
    assert panel.tree_model.fetched_parents() == before + len(sid) - 1
    assert panel.items_model.items().tolist() == [item]
    assert _selection(panel).current.source == "map"  # not echoed back as "tree"


def test_external_selection_of_several_items_selects_their_common_prefix(panel, snapshot):
    sids = snapshot.project.sids
    prefix = tuple(sids.codes[100, :2])
    items = sids.items_with_prefix(prefix)[:3]
    codes = sids.codes[items]
    common = []
    for col in range(codes.shape[1]):
        if (codes[:, col] != codes[0, col]).any():
            break
        common.append(int(codes[0, col]))
    _selection(panel).select_items(items, "map")
    assert panel.selected_prefix() == tuple(common)
    assert sorted(panel.items_model.items().tolist()) == sorted(items.tolist())
    # items that share no prefix: nothing selected in the tree, the items still listed
    spread = [int(np.flatnonzero(sids.codes[:, 0] == t)[0]) for t in np.unique(sids.codes[:, 0])[:2]]
    _selection(panel).select_items(spread, "map")
    assert panel.selected_prefix() is None
    assert "share no SID prefix" in _text(panel, "treeTableCaption")
    _selection(panel).clear("map")
    assert panel.items_model.rowCount() == 0


def test_select_prefix_method(panel, snapshot, qtbot):
    prefix = tuple(int(t) for t in snapshot.project.sids.codes[7, :2])
    with qtbot.waitSignal(_selection(panel).sig_changed, timeout=1000) as blocker:
        assert panel.select_prefix(prefix)
    assert blocker.args[0].prefix == prefix and blocker.args[0].source == SOURCE
    assert panel.selected_prefix() == prefix
    assert not panel.select_prefix((999, 999))


def _search(panel, qtbot, text: str) -> str:
    with qtbot.waitSignal(panel.sig_search_finished, timeout=JOB_MS) as blocker:
        panel.search(text)
    return blocker.args[0]


def test_search_by_item_id(panel, snapshot, qtbot):
    item = 2024
    item_id = int(snapshot.project.sids.item_ids[item])
    status = _search(panel, qtbot, str(item_id))
    assert status.startswith(f"Item {item_id}")
    assert panel.selected_prefix() == snapshot.project.sids.sid(item)
    assert panel.items_model.items().tolist() == [item]
    assert _selection(panel).current.items == (item,)


def test_search_by_title_cycles_through_matches(panel, snapshot, qtbot):
    titles = snapshot.project.dataset.catalogue.items["title"]
    expected = np.flatnonzero(titles.str.contains("nail lacquer", case=False, regex=False).to_numpy())
    assert len(expected) > 1
    status = _search(panel, qtbot, "NAIL LACQUER")
    assert status.startswith(f"Match 1 of {len(expected):,}")
    assert panel.items_model.items().tolist() == [expected[0]]
    panel.search()  # Enter again: the next match, no new job
    assert panel.items_model.items().tolist() == [expected[1]]
    assert _text(panel, "treeSearchStatus").startswith("Match 2 of")


def test_many_matches_are_listed_and_a_row_shows_its_item(panel, snapshot, qtbot):
    titles = snapshot.project.dataset.catalogue.items["title"]
    expected = np.flatnonzero(titles.str.contains("nail lacquer", case=False, regex=False).to_numpy())
    _search(panel, qtbot, "nail lacquer")
    rows = panel.search_results()
    assert len(rows) == 1 + min(len(expected), panel.state.RESULTS_SHOWN) + (len(expected) > panel.state.RESULTS_SHOWN)
    assert rows[0].startswith(f"Select all {len(expected):,} matches")
    assert rows[1].startswith(titles.iloc[expected[0]][:20])
    results = panel.findChild(QListWidget, "treeSearchResults")
    results.itemClicked.emit(results.item(0))  # every match selected: the map highlights them all
    assert set(_selection(panel).current.items) == set(expected.tolist())
    results.itemClicked.emit(results.item(4))  # a click on the fourth match shows it
    assert panel.items_model.item_at(panel.table.currentIndex().row()) == expected[3]
    assert _selection(panel).current.items == (int(expected[3]),)
    assert _text(panel, "treeSearchStatus").startswith(f"Match 4 of {len(expected):,}")


def test_a_bare_number_offers_the_sid_prefix_too(panel, snapshot, qtbot):
    sids = snapshot.project.sids
    code = next(c for c in range(sids.level_sizes[0]) if c in set(sids.item_ids.tolist()))
    status = _search(panel, qtbot, str(code))
    assert status.startswith(f"Item {code}") and f"type {code}- for the node" in status
    results = panel.findChild(QListWidget, "treeSearchResults")
    row = next(i for i in range(results.count()) if results.item(i).text().startswith(f"SID prefix {code}"))
    assert row <= 1  # right after "select all" (when the number is also in titles), before the matches
    results.itemClicked.emit(results.item(row))
    assert panel.selected_prefix() == (code,)


def test_search_by_prefix(panel, snapshot, qtbot):
    prefix = tuple(int(t) for t in snapshot.project.sids.codes[55, :2])
    status = _search(panel, qtbot, f"{prefix[0]}-{prefix[1]}")
    assert panel.selected_prefix() == prefix
    assert status == f"Node {prefix[0]}-{prefix[1]}"
    _search(panel, qtbot, f"{prefix[0]},{prefix[1]}")
    assert panel.selected_prefix() == prefix
    assert panel.items_model.rowCount() == len(snapshot.project.sids.items_with_prefix(prefix))


def test_search_without_match_says_so(panel, qtbot):
    status = _search(panel, qtbot, "zzqx no such product")
    assert status.startswith("No match")
    assert "color" in panel.findChild(QLabel, "treeSearchStatus").styleSheet()
    used = {tuple(r) for r in panel.state.snapshot.project.sids.codes[:, :2].tolist()}
    missing = next((a, b) for a in range(256) for b in range(256) if (a, b) not in used)
    status = _search(panel, qtbot, f"{missing[0]}-{missing[1]}")
    assert status.startswith("No match") and "not a node" in status


@pytest.mark.parametrize("fmt", ["csv", "graphml"])
def test_export_selected_subtree(panel, snapshot, qtbot, tmp_path, monkeypatch, fmt):
    target = tmp_path / f"subtree.{fmt}"
    calls = []

    def fake_dialog(*args, **kwargs):
        calls.append(args)
        return str(target), ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(fake_dialog))
    prefix = tuple(int(t) for t in snapshot.project.sids.codes[0, :1])
    assert not _button(panel, "treeExportCsv").isEnabled()  # nothing selected yet
    assert panel.select_prefix(prefix)
    assert _button(panel, "treeExportCsv").isEnabled()
    with qtbot.waitSignal(panel.sig_export_finished, timeout=JOB_MS) as blocker:
        _button(panel, "treeExportCsv" if fmt == "csv" else "treeExportGraphml").click()
    ok, message = blocker.args
    assert ok and str(target) in message and len(calls) == 1
    n_items = len(snapshot.project.sids.items_with_prefix(prefix))
    if fmt == "csv":
        frame = pd.read_csv(target, keep_default_na=False)
        assert len(frame) == n_items
        assert (frame["c0"] == prefix[0]).all()
    else:
        graph = nx.read_graphml(target)
        leaves = [d for _, d in graph.nodes(data=True) if d["level"] == snapshot.project.sids.depth]
        assert len(leaves) == n_items


def test_export_error_is_shown_in_the_panel(panel, snapshot, qtbot, tmp_path, monkeypatch):
    blocker_file = tmp_path / "file"
    blocker_file.write_text("x")
    target = blocker_file / "sub.csv"  # a folder that is a file: the write fails
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(target), "")))
    assert panel.select_prefix(tuple(int(t) for t in snapshot.project.sids.codes[0, :1]))
    with qtbot.waitSignal(panel.sig_export_finished, timeout=JOB_MS) as blocker:
        _button(panel, "treeExportCsv").click()
    ok, message = blocker.args
    assert not ok and message.startswith("Export failed")
    assert _text(panel, "treeExportStatus") == message and "Traceback" not in message


def test_project_closed_shows_empty_state(panel):
    vm = panel._test_refs[0]
    vm.set_snapshot(None)
    assert panel.page() == "empty"
    assert panel.tree_model.rowCount() == 0 and panel.items_model.rowCount() == 0
    assert not panel.screenshot_ready()


def test_another_project_clears_the_search_box(panel, snapshot, qtbot):
    """The walk with an own extract found "nail polish" still in the box after the new project
    opened, with no results under it: it read as a search of the new project that found nothing."""
    _search(panel, qtbot, "NAIL LACQUER")
    vm = panel._test_refs[0]
    vm.set_snapshot(snapshot)  # the project is replaced (here by itself)
    assert panel.findChild(QLineEdit, "treeSearch").text() == "" and _text(panel, "treeSearchStatus") == ""
