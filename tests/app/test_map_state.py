"""The codebook map's Qt-free state: the layout job, picking points, layouts per space and their
failures, colours, the highlighted selection and its neighbours, the cold-start lab's markers.
No widgets here."""
from __future__ import annotations


from types import SimpleNamespace

import numpy as np
import pytest

from app.bridge import EngineBridge
from app.panels import ItemsChange, LabItem
from app.panels.map.state import (
    GREY,
    HIGHLIGHT,
    N_NEIGHBOURS,
    PREFIX_MODE,
    LayoutResult,
    MapState,
    layout_job,
    nearest_point,
    points_in_polygon,
    selection_text,
)
from app.selection import SelectionEvent
from genrec_engine import nearest_neighbours


def _first_two(project, space, *, matrix=None, progress=None, cancel=None):
    """A layout stand-in: the first two columns of the matrix."""
    return matrix[:, :2]


@pytest.fixture(scope="module")
def content(snapshot):
    return EngineBridge.run_sync(layout_job, snapshot.project, "content", _first_two)


@pytest.fixture
def state(snapshot, content):
    s = MapState()
    s.set_project(snapshot)
    assert s.take_layout(content)
    s.shown = content
    return s


# ------------------------------------------------------------------------------------ helpers


def test_layout_job_returns_positions_and_the_matrix(snapshot, content):
    assert content.space == "content" and content.project is snapshot.project
    np.testing.assert_array_equal(content.matrix, snapshot.project.embeddings)
    assert content.positions.dtype == np.float32 and content.positions.shape == (snapshot.project.sids.n_items, 2)
    with pytest.raises(ValueError, match="expected"):
        EngineBridge.run_sync(layout_job, snapshot.project, "content", lambda *a, **k: np.zeros((3, 2)))


def test_picking_points():
    pts = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    assert nearest_point(pts, 9.0, 0.0, 1.0, 1.0) == 1
    assert nearest_point(pts, 5.0, 5.0, 1.0, 1.0) == 0  # ~7 px from each: the first wins
    assert nearest_point(pts, 5.0, 5.0, 0.5, 0.5) is None  # ~14 px from every point
    assert nearest_point(pts, 5.0, 5.0, 1.0, 0.0) is None  # a view with no size
    assert nearest_point(pts, 0.0, 9.0, 0.1, 1.0) == 2  # distances are in pixels, per axis
    tri = np.array([[-1, -1], [11, -1], [-1, 11]])
    assert points_in_polygon(pts, tri).tolist() == [True, False, False]


def test_selection_text():
    assert selection_text(SelectionEvent((), None, "tree"), 0) == "Nothing selected"
    assert selection_text(SelectionEvent((4,), None, "tree"), 1) == "1 item selected"
    assert selection_text(SelectionEvent((1, 2), (3, 4), "tree"), 1200) == "1,200 items selected (prefix 3-4)"


# ------------------------------------------------------------------------------------ layouts


def test_layouts_per_space_and_stale_results(snapshot, content):
    s = MapState()
    assert s.n_items == 0 and s.colour_choices() == [("Chosen prefix (others grey)", PREFIX_MODE)]
    assert not s.take_layout(content)  # no project open: stale
    s.set_project(snapshot)
    levels = snapshot.project.sids.levels
    assert [d for _, d in s.colour_choices()] == [*range(levels), PREFIX_MODE, "category", "brand", "popularity"]
    assert s.palette_size() == max(snapshot.project.sids.level_sizes[:-1])
    assert s.choose_space("content") is None  # not known yet: compute it
    assert s.take_layout(content) and s.choose_space("content") is content
    assert s.choose_space("collaborative") is None and s.space == "collaborative"
    assert not s.take_layout(content)  # kept, but not the chosen space
    other = LayoutResult(SimpleNamespace(), "content", content.positions, content.matrix)
    assert not s.take_layout(other)  # another project's
    s.set_project(snapshot)
    assert s.layouts == {} and s.space == "content" and s.shown is None


def test_status_texts(state):
    assert state.shown_text() == f"{state.n_items:,} items · Content (text embeddings) space"
    assert state.computing_text("content", "step") == "step"
    assert state.computing_text("collaborative", "step") == "step Until then the map shows the content space."
    assert "first time takes about a minute" in state.start_text("content")
    assert state.cancelled_text() is None  # the chosen space is on screen
    state.choose_space("collaborative")
    assert state.cancelled_text() == "Layout cancelled."


def test_a_failed_collaborative_layout_falls_back_to_content(state, snapshot, content):
    state.choose_space("collaborative")
    failure = state.layout_failed("collaborative", "not found: ran.pt")
    assert failure.fallback is content and failure.compute is None and not failure.retry
    assert "RAN" in failure.message and "not found: ran.pt" in failure.message and state.space == "content"
    fresh = MapState()
    fresh.set_project(snapshot)
    fresh.choose_space("collaborative")
    failure = fresh.layout_failed("collaborative", "x")
    assert failure.fallback is None and failure.compute == "content"
    failure = fresh.layout_failed("content", "layout exploded")
    assert failure.message == "Could not compute the map: layout exploded" and failure.retry


# ------------------------------------------------------------------------------------ colours and selection


def test_colours_follow_the_mode(state, snapshot):
    codes = snapshot.project.sids.codes
    np.testing.assert_array_equal(state.base_colours(), codes[:, 0])
    assert state.overlay() is None  # nothing selected
    state.colour_level = 1
    np.testing.assert_array_equal(state.base_colours(), codes[:, 1])
    state.select(SelectionEvent((3, 5), None, "tree"))
    overlay = state.overlay()
    assert overlay.colours.tolist() == codes[[3, 5], 1].tolist() and (overlay.size, overlay.pen_width) == (12, 1.5)
    np.testing.assert_array_equal(overlay.positions, state.shown.positions[[3, 5]])
    state.colour_level = PREFIX_MODE
    assert set(state.base_colours().tolist()) == {GREY}
    state.select(SelectionEvent(tuple(range(300)), None, "tree"))
    overlay = state.overlay()
    assert set(overlay.colours.tolist()) == {HIGHLIGHT} and (overlay.size, overlay.pen_width) == (7, 1.0)


def test_colour_by_a_catalogue_column_with_its_legend(state, snapshot):
    from app.panels.map.state import N_BINS, TOP_VALUES

    items = snapshot.project.dataset.catalogue.items
    n = snapshot.project.sids.n_items
    assert [m for _, m in state.colour_choices()][-3:] == ["category", "brand", "popularity"]
    state.colour_level = "brand"
    colours, legend = state.base_colours(), state.legend()
    brands = items["brand"].astype(str).str.strip()
    top = brands[brands != ""].value_counts()
    assert [t for t, _, _ in legend[:TOP_VALUES]] == list(top.index[:TOP_VALUES])
    assert [c for _, _, c in legend[:TOP_VALUES]] == top.iloc[:TOP_VALUES].tolist()
    assert legend[-1][1] == GREY and sum(c for _, _, c in legend) == n  # every item counted once
    first = top.index[0]
    np.testing.assert_array_equal(colours == 0, (brands == first).to_numpy())
    state.colour_level = "category"
    assert len(state.legend()) == TOP_VALUES + 1 and sum(c for _, _, c in state.legend()) == n
    state.colour_level = "popularity"
    legend = state.legend()
    assert len(legend) == N_BINS and sum(c for _, _, c in legend) == n
    pop = snapshot.popularity[:n]
    colours = state.base_colours() - state.palette_size()
    assert (np.diff([pop[colours == b].min() for b in range(N_BINS) if (colours == b).any()]) > 0).all()  # bins rise
    state.select(SelectionEvent((3, 5), None, "tree"))
    assert state.overlay().colours.tolist() == state.base_colours()[[3, 5]].tolist()
    state.colour_level = 0
    assert state.legend() == []


def test_selection_keeps_catalogue_items_and_lists_neighbours(state, snapshot):
    n = state.n_items
    first = state.select(SelectionEvent((n + 3, 7, 9), None, "coldstart"))
    assert state.highlighted.tolist() == [7, 9] and first is None  # the first item is no catalogue item
    first = state.select(SelectionEvent((7, 9), None, "tree"))
    assert first == 7
    rows = state.neighbour_rows(first)
    idx, dist = nearest_neighbours(snapshot.project.embeddings, 7, N_NEIGHBOURS)
    assert [r[0] for r in rows] == idx.tolist() and [r[3] for r in rows] == pytest.approx(dist.tolist())
    cat, sids = snapshot.project.dataset.catalogue, snapshot.project.sids
    assert rows[0][1:3] == (cat.title(int(idx[0])), "-".join(map(str, sids.sid(int(idx[0])))))
    assert state.neighbour_rows(None) == []
    title = state.neighbour_title(7)
    assert title.startswith("Nearest to “") and title.endswith(f"(SID {'-'.join(map(str, sids.sid(7)))}) in the content space")
    assert state.neighbour_title(None) == "Nearest neighbours"
    assert state.hover_text(7) == f"{cat.title(7)[:59] + '…' if len(cat.title(7)) > 60 else cat.title(7)}\nSID " + \
        "-".join(map(str, sids.sid(7)))


def test_zoom_box_frames_the_items(state):
    pos = state.shown.positions.astype(np.float64)
    items = np.array([10, 11, 12])
    x0, x1, y0, y1 = state.zoom_box(items)
    assert x0 <= pos[items, 0].min() and pos[items, 0].max() <= x1
    assert y0 <= pos[items, 1].min() and pos[items, 1].max() <= y1
    full = pos.max(0) - pos.min(0)
    assert x1 - x0 >= 0.08 * full[0] * 1.3 - 1e-9 and y1 - y0 >= 0.08 * full[1] * 1.3 - 1e-9


# ------------------------------------------------------------------------------------ cold-start lab


def test_lab_markers_and_label(state, snapshot):
    n = state.n_items
    typed = LabItem(n, "A typed-in polish", "Acme", "Beauty", (1, 2, 3, 0), (4, 8))
    change = ItemsChange(snapshot.project, snapshot.project.trie, (n,), (), (5, n), (6,), {n: typed})
    assert not state.take_change(ItemsChange(SimpleNamespace(), change.trie, (), (), (), (), {}))
    assert state.lab_markers() == []
    assert state.take_change(change)
    markers = state.lab_markers()
    pos = state.shown.positions
    assert [(m.item, m.kind) for m in markers] == [(6, "retired"), (5, "injected"), (n, "injected")]
    assert (markers[1].x, markers[1].y) == pytest.approx(tuple(pos[5]))
    assert (markers[2].x, markers[2].y) == pytest.approx(tuple(pos[[4, 8]].mean(0)))
    text, x, y = state.lab_label()  # the newest injected item
    assert text == "★ injected: A typed-in polish" and (x, y) == pytest.approx(tuple(pos[[4, 8]].mean(0)))
    lost = LabItem(n + 1, "No anchors", "", "", (1, 2, 3, 1), ())
    state.take_change(ItemsChange(snapshot.project, change.trie, (), (), (n + 1,), (), {n + 1: lost}))
    assert state.lab_markers() == [] and state.lab_label() is None  # nowhere to put it
    state.shown = None
    assert state.lab_markers() == [] and state.lab_label() is None
