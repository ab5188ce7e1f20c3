"""The SID tree panel's Qt-free state: item facts and their sorting, the search job, listings,
table picks, search hits, exports and what a project switch makes stale. No widgets here."""
from __future__ import annotations


from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from app.bridge import EngineBridge
from app.panels import ItemsChange, LabItem
from app.panels.tree.state import (
    NO_NODE_CAPTION,
    SOURCE,
    T_BRAND,
    T_CATEGORY,
    T_ID,
    T_POPULARITY,
    T_SID,
    T_TITLE,
    ItemFacts,
    TreeState,
    leaf_category,
    parse_query,
    prefix_text,
    search_items,
    stats_html,
)
from app.selection import SelectionEvent


@pytest.fixture
def state(snapshot):
    s = TreeState()
    s.set_project(snapshot)
    return s


def _lab_item(snapshot, title="Brand-new glitter polish") -> LabItem:
    sids = snapshot.project.sids
    sid = tuple(int(c) for c in sids.codes[0, :-1]) + (sids.collision_size - 1,)
    return LabItem(sids.n_items, title, "Acme", "Beauty > Makeup > Nails", sid, (0, 1))


def _change(snapshot, added=(), new_items=None, project=None) -> ItemsChange:
    trie = snapshot.project.trie.copy()
    for item, lab in (new_items or {}).items():
        trie.insert(item, lab.sid)
    return ItemsChange(project or snapshot.project, trie, tuple(added), (), tuple(added), (), dict(new_items or {}))


# ------------------------------------------------------------------------------------ text helpers


def test_prefix_and_category_text():
    assert prefix_text((12, 48)) == "12-48" and prefix_text(()) == "(root)"
    assert leaf_category("Beauty > Makeup > Nails|Other > X") == "Nails"
    assert leaf_category("") == ""


def test_stats_html_has_every_level(snapshot):
    text = stats_html(snapshot)
    for s in snapshot.diagnostics.levels:
        assert f"Level {s.level}" in text and f"{s.prefix_entropy:.2f} bits" in text
    assert f"{100 * snapshot.diagnostics.collision_rate:.1f} %" in text


# ------------------------------------------------------------------------------------ item facts


def test_item_facts_cells(snapshot):
    facts = ItemFacts.from_snapshot(snapshot)
    project, item = snapshot.project, 42
    cat = project.dataset.catalogue
    assert facts.value(item, T_TITLE) == cat.title(item)
    assert facts.value(item, T_BRAND) == str(cat.items["brand"].iat[item])
    assert facts.value(item, T_CATEGORY) == leaf_category(str(cat.items["categories"].iat[item]))
    assert facts.value(item, T_POPULARITY) == int(snapshot.popularity[item])
    assert facts.value(item, T_ID) == int(project.sids.item_ids[item])
    assert facts.value(item, T_SID) == "-".join(map(str, project.sids.sid(item)))
    assert facts.text(item, T_POPULARITY) == f"{int(snapshot.popularity[item]):,}"
    assert ItemFacts.empty().n_items == 0 and ItemFacts.from_snapshot(None).n_items == 0


def test_typed_in_items_show_their_own_fields(snapshot):
    lab = _lab_item(snapshot)
    facts = ItemFacts.from_snapshot(snapshot).with_new_items({lab.index: lab})
    assert [facts.value(lab.index, c) for c in range(6)] == [
        lab.title, "Acme", "Nails", 0, -1, "-".join(map(str, lab.sid))]
    unknown = lab.index + 1
    assert [facts.value(unknown, c) for c in range(6)] == ["", "", "", -1, -1, ""]


def test_item_facts_sort_by_every_column(snapshot):
    facts = ItemFacts.from_snapshot(snapshot)
    items = np.arange(0, 3000, 7, dtype=np.int64)
    by_pop = facts.sorted(items, T_POPULARITY, descending=True)
    assert snapshot.popularity[by_pop].tolist() == sorted(snapshot.popularity[items].tolist(), reverse=True)
    # stable: ties keep the item order they came in, descending too
    ties = by_pop[snapshot.popularity[by_pop] == snapshot.popularity[by_pop][-1]]
    assert ties.tolist() == sorted(ties.tolist())
    titles = [facts.value(i, T_TITLE) for i in facts.sorted(items, T_TITLE)]
    assert titles == sorted(titles, key=str.casefold)
    ids = facts.sorted(items, T_ID, descending=True)
    assert snapshot.project.sids.item_ids[ids].tolist() == sorted(snapshot.project.sids.item_ids[items], reverse=True)
    sids = [tuple(snapshot.project.sids.codes[i]) for i in facts.sorted(items, T_SID)]
    assert sids == sorted(sids)
    assert sorted(facts.sorted(items, T_BRAND).tolist()) == items.tolist()


def test_item_facts_sort_with_typed_in_items(snapshot):
    lab = _lab_item(snapshot, title="aaa first by title")
    facts = ItemFacts.from_snapshot(snapshot).with_new_items({lab.index: lab})
    items = np.array([5, lab.index, 9], dtype=np.int64)
    assert facts.sorted(items, T_TITLE)[0] == lab.index
    assert facts.sorted(items, T_POPULARITY)[0] == lab.index  # popularity 0


# ------------------------------------------------------------------------------------ search job


def test_parse_query():
    assert parse_query("12-48") == ("prefix", (12, 48))
    assert parse_query("sid:12,") == ("prefix", (12,))
    assert parse_query("sid:abc") == ("title", "sid:abc")
    assert parse_query("id:x") == ("title", "id:x")
    assert parse_query("42") == ("id", 42)


def test_search_items_finds_ids_titles_and_prefixes():
    ids = np.array([10, 20, 30], dtype=np.int64)
    titles = np.array(["Red nail polish", "Blue shampoo", "Nail file 20"], dtype=object)
    run = EngineBridge.run_sync
    assert run(search_items, ids, titles, "20").items == (1,)
    fallback = run(search_items, ids, titles, "file")
    assert (fallback.kind, fallback.items) == ("title", (2,))
    assert run(search_items, ids, titles, "NAIL").items == (0, 2)
    assert run(search_items, ids, titles, "7-3").prefix == (7, 3)
    bare = run(search_items, ids, titles, "99")  # no such id, no such title
    assert bare.kind == "none" and "no item id, SID prefix or title" in bare.message
    strict = run(search_items, ids, titles, "id:99")
    assert strict.kind == "none" and strict.message == "No match: no item has id 99."
    assert run(search_items, ids, titles, " ").message.startswith("Type a title")


def test_a_bare_number_is_an_item_id_and_also_offers_the_prefix_and_lab_items_are_found():
    ids = np.array([10, 20, 30], dtype=np.int64)
    titles = np.array(["Red nail polish", "Blue shampoo", "Nail file 20"], dtype=object)
    run = EngineBridge.run_sync
    both = run(search_items, ids, titles, "20", 256)
    assert both.items == (1,) and both.prefix_too == (20,)  # item id 20, and the node 20 offered
    only_prefix = run(search_items, ids, titles, "99", 256)  # no such item or title: the node
    assert (only_prefix.kind, only_prefix.prefix) == ("prefix", (99,))
    assert run(search_items, ids, titles, "300", 256).kind == "none"  # beyond the first level: nothing
    assert run(search_items, ids, titles, "id:20", 256).prefix_too is None  # id: means the id only
    lab = (np.array([3, 4], dtype=np.int64), np.array(["Glitter nail topcoat", "Soap"], dtype=object))
    found = run(search_items, ids, titles, "nail", 256, lab)
    assert found.items == (0, 2, 3)  # catalogue matches first, then the typed-in item


# ------------------------------------------------------------------------------------ panel state


def test_node_and_selection_listings(state, snapshot):
    sids = snapshot.project.sids
    prefix = tuple(int(c) for c in sids.codes[3, :1])
    items = sids.items_with_prefix(prefix)
    assert len(items) > 2
    listing = state.node_listing(items, prefix)
    assert listing.caption == f"{len(items):,} item{'s' if len(items) != 1 else ''} under {prefix_text(prefix)}"
    state.listed(listing)
    assert state.table_prefix == prefix
    # a selection made elsewhere: the event's prefix, else the items' common prefix
    event = SelectionEvent(tuple(int(i) for i in items[:2]), None, "map")
    common = state.common_prefix(np.asarray(event.items))
    assert state.selection_node(event) == common and common[: len(prefix)] == prefix
    shown = state.selection_listing(event, node_found=True)
    assert shown.items.tolist() == list(event.items) and shown.caption.startswith("2 selected items under")
    one = state.selection_listing(SelectionEvent((int(items[0]),), None, "map"), node_found=True)
    assert one.caption.startswith("1 selected item under")
    spread = [int(np.flatnonzero(sids.codes[:, 0] == t)[0]) for t in np.unique(sids.codes[:, 0])[:2]]
    apart = state.selection_listing(SelectionEvent(tuple(spread), None, "map"), node_found=False)
    assert apart.prefix is None and "share no SID prefix" in apart.caption
    missing = state.selection_listing(SelectionEvent((), (999,), "stepper"), node_found=False)
    assert missing.caption == "999 is not a node of this tree." and len(missing.items) == 0
    assert state.selection_listing(SelectionEvent((), (1,), "stepper"), node_found=True) is None
    cleared = state.selection_listing(SelectionEvent((), None, "map"), node_found=False)
    assert cleared.caption == NO_NODE_CAPTION and cleared.prefix is None


def test_table_pick_selects_the_item_or_a_lab_items_node(state, snapshot):
    lab = _lab_item(snapshot)
    assert state.take_change(_change(snapshot, (lab.index,), {lab.index: lab}))
    state.listed(state.node_listing(np.array([0, lab.index]), lab.sid[:-1]))
    pick = state.table_pick(0)
    assert pick == SelectionEvent((0,), lab.sid[:-1], SOURCE)
    lab_pick = state.table_pick(lab.index)  # other panels cannot show it: its node instead
    assert lab_pick.items == () and lab_pick.prefix == lab.sid[:-1]
    state.listed(state.empty_listing())
    assert state.table_pick(lab.index) is None


def test_lab_changes_name_new_items_and_focus_the_first_added(state, snapshot):
    lab = _lab_item(snapshot)
    change = _change(snapshot, (lab.index,), {lab.index: lab})
    assert state.take_change(change)
    assert state.title(lab.index) == f"{lab.title} (new)"
    assert state.title(3) == snapshot.project.dataset.catalogue.title(3)
    assert state.focus_prefix(change) == lab.sid
    assert state.focus_prefix(_change(snapshot)) is None
    other = SimpleNamespace(name="other")  # a change for another project is ignored
    assert not state.take_change(_change(snapshot, project=other))
    assert not state.is_catalogue_item(lab.index) and state.is_catalogue_item(0)


def test_search_hits_cycle_with_the_same_text(state, snapshot):
    args = state.search_args("nail lacquer")
    assert args[0] is snapshot.project.sids.item_ids and len(args[1]) == snapshot.project.sids.n_items
    result = EngineBridge.run_sync(search_items, *args)
    assert len(result.items) > 1
    state.take_search(result)
    item, code = state.current_hit()
    assert item == result.items[0] and code == snapshot.project.sids.sid(item)
    assert state.hit_status().startswith(f"Match 1 of {len(result.items):,} (listed below; Enter for the next):")
    assert not state.next_hit("other text")
    assert state.next_hit("nail lacquer") and state.current_hit()[0] == result.items[1]
    one = EngineBridge.run_sync(search_items, *state.search_args(str(int(snapshot.project.sids.item_ids[7]))))
    state.take_search(one)
    assert not state.next_hit(one.query)  # a single match: search again
    assert state.hit_status().startswith(f"Item {int(snapshot.project.sids.item_ids[7])}: ")
    assert state.prefix_status((1, 2), True) == "Node 1-2"
    assert state.prefix_status((1, 2), False) == "No match: 1-2 is not a node of this tree."


def test_export_request_and_what_a_project_switch_makes_stale(state, snapshot):
    request = state.export_request("csv", (12, 4))
    assert request.default_name == f"{snapshot.name}-subtree-12-4.csv" and "*.csv" in request.file_filter
    assert request.fix_path("/tmp/out") == "/tmp/out.csv" and request.fix_path("/tmp/a.CSV") == "/tmp/a.CSV"
    graphml = state.export_request("graphml", ())
    assert graphml.title == "Export subtree (root)"
    assert graphml.fix_path("/tmp/g.xml") == "/tmp/g.xml" and graphml.fix_path("/tmp/g") == "/tmp/g.graphml"
    assert state.can_export((12,)) and not state.can_export(None)
    state.export_for = snapshot
    assert state.exporting and not state.can_export((12,)) and state.is_current(snapshot)
    written = SimpleNamespace(items=1200, nodes=35, prefix=(12,), path=Path("/tmp/out.csv"))
    assert state.export_text(written) == "Wrote 1,200 items (35 nodes) under 12 to /tmp/out.csv"
    state.take_search(EngineBridge.run_sync(search_items, *state.search_args("nail")))
    state.listed(state.node_listing(np.array([1]), (12,)))
    state.set_project(None)  # everything of the old project is stale
    assert not state.is_current(snapshot) and not state.exporting
    assert state.hits == () and state.table_prefix is None and state.new_items == {}
    assert state.export_request("csv", (1,)) is None and state.search_args("x") is None
    assert state.table_pick(0) is None


@pytest.mark.parametrize("chunk", [3, 50_000])
def test_the_title_index_finds_what_a_per_title_substring_search_finds(monkeypatch, chunk):
    import pandas as pd

    import app.model
    from app.panels.tree.state import TitleIndex

    monkeypatch.setattr(app.model, "LOOKUP_CHUNK", chunk)  # built in several parts, or one

    titles = np.array(["Rose Water Toner", None, "rose gold (2 pack)", "Café Crème", "a+b [x]", "two\nlines",
                       "ROSEROSE", "", float("nan"), "Eyeliner"], dtype=object)
    index = TitleIndex(titles).prepared()
    for needle in ("rose", "ROSE", "(2", "crème", "+b [", "o\nl", "lines", "e", "zzz", "roseros"):
        expected = np.flatnonzero(pd.Series(titles, dtype=object).str.contains(
            needle, case=False, regex=False, na=False).to_numpy())
        if "\n" in needle:  # a typed query is one line: a newline matches nothing
            expected = expected[:0]
        np.testing.assert_array_equal(index.find(needle), expected, err_msg=needle)
    assert len(index.find("")) == 0 and len(TitleIndex(np.array([], dtype=object)).find("a")) == 0
