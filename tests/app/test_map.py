"""The codebook map panel over the bundled project.

Most tests give the panel a fast stand-in for UMAP (a PCA by numpy) through ``layout_fn``; one
runs the real engine function on a tiny temporary project. Every wait is on a signal or a condition.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QLabel

from app.panels.map import SOURCE, MapPanel, code_palette, points_in_polygon

from .helpers import FIRST_FIT_MS, mount_panel
from genrec_engine import Project, load_project_generator

JOB_MS = FIRST_FIT_MS  # one test fits real UMAP


class PCALayout:
    """A fast stand-in for ``item_layout``: the top two principal components; records its inputs."""

    def __init__(self):
        self.calls: list[tuple[str, np.ndarray]] = []

    def __call__(self, project, space, *, matrix=None, progress=None, cancel=None, **_):
        self.calls.append((space, matrix))
        x = matrix - matrix.mean(0)
        _, _, vt = np.linalg.svd(x[:2000], full_matrices=False)  # directions from a sample: fast
        return (x @ vt[:2].T).astype(np.float32)


def _make(qtbot, snapshot, layout_fn, *, wait=True):
    panel, vm, selection, bridge = mount_panel(qtbot, MapPanel, layout_fn=layout_fn)
    selection.set_sid_table(snapshot.project.sids)
    if wait:
        with qtbot.waitSignal(panel.sig_ready, timeout=JOB_MS):
            vm.set_snapshot(snapshot)
    return panel, vm, selection, bridge


@pytest.fixture
def pca():
    return PCALayout()


@pytest.fixture
def panel_env(qtbot, snapshot, pca):
    panel, vm, selection, bridge = _make(qtbot, snapshot, pca)
    yield panel, vm, selection, bridge
    bridge.cancel_all()
    bridge.wait_all(10_000)


def _text(panel, name: str) -> str:
    """The text of the panel's label with this object name."""
    return panel.findChild(QLabel, name).text()


def _scene_pos(panel, item):
    x, y = panel.positions()[item]
    return panel.plot.view.mapViewToScene(QPointF(float(x), float(y)))


# ------------------------------------------------------------------------------------------ helpers


def test_points_in_polygon_matches_known_cases():
    pts = np.array([[0.5, 0.5], [1.5, 0.5], [0.2, 0.9], [-0.1, 0.5], [0.9, 0.1]])
    square = np.array([[0, 0], [1, 0], [1, 1], [0, 1]])
    assert points_in_polygon(pts, square).tolist() == [True, False, True, False, True]
    # a concave "L": the notch is outside
    ell = np.array([[0, 0], [2, 0], [2, 1], [1, 1], [1, 2], [0, 2]])
    assert points_in_polygon(np.array([[1.5, 1.5], [0.5, 1.5], [1.5, 0.5]]), ell).tolist() == [False, True, True]
    assert not points_in_polygon(pts, square[:2]).any()  # not a polygon


def test_palette_is_distinct_and_readable_on_white():
    colours = code_palette(256)
    assert len({c.name() for c in colours}) == 256
    assert all(c.lightnessF() < 0.8 for c in colours)  # none washes out on a white background


# -------------------------------------------------------------------------------------------- panel


def test_empty_state_then_project_shows_every_item(qtbot, snapshot, pca):
    panel, vm, selection, bridge = _make(qtbot, snapshot, pca, wait=False)
    assert panel.page() == "empty" and not panel.screenshot_ready()
    with qtbot.waitSignal(panel.sig_ready, timeout=JOB_MS):
        vm.set_snapshot(snapshot)
        assert panel.page() == "map"
        assert "computing UMAP" in _text(panel, "mapStatus")  # shown while the job runs
    n = snapshot.project.sids.n_items
    assert panel.plot.displayed_count() == n == 12_101
    assert panel.screenshot_ready()
    assert pca.calls[0][0] == "content"
    np.testing.assert_array_equal(pca.calls[0][1], snapshot.project.embeddings)
    # colour by level 1: points share a colour exactly when they share the level-1 code
    codes = snapshot.project.sids.codes
    names = [c.name() for c in panel.plot.point_colours()]
    a, b = np.flatnonzero(codes[:, 0] == codes[0, 0])[:2]
    c = int(np.flatnonzero(codes[:, 0] != codes[0, 0])[0])
    assert names[a] == names[b] != names[c]
    vm.set_snapshot(None)
    assert panel.page() == "empty" and panel.plot.displayed_count() == 0 and not panel.screenshot_ready()


def test_colour_level_combo_follows_the_codes(panel_env, snapshot):
    panel, *_ = panel_env
    assert panel.colour_combo.count() == snapshot.project.sids.levels + 1 + 3  # + category, brand, popularity
    panel.set_colour_level(1)
    codes = snapshot.project.sids.codes
    names = np.array([c.name() for c in panel.plot.point_colours()])
    for code in np.unique(codes[:50, 1]):
        assert len(set(names[codes[:, 1] == code])) == 1


def test_colour_by_category_shows_a_legend_matching_the_dots(panel_env, snapshot):
    panel, *_ = panel_env
    assert panel.legend_entries() == []  # code colours: no legend
    panel.set_colour_level("category")
    entries = panel.legend_entries()
    assert len(entries) == 13 and entries[-1][0] == "other"
    names = np.array([c.name() for c in panel.plot.point_colours()])
    palette = panel.plot.palette_colours()
    colours = panel.state.base_colours()
    for text, index, count in entries[:3]:
        assert (colours == index).sum() == count
        assert set(names[colours == index]) == {palette[index].name()}
    legend = panel.findChild(QLabel, "mapLegend")
    assert entries[0][0] in legend.text() and f"({entries[0][2]:,})" in legend.text()
    panel.set_colour_level(0)
    assert panel.legend_entries() == [] and not legend.isVisibleTo(panel)


def test_prefix_selection_highlights_exactly_its_items(panel_env, snapshot, qtbot):
    panel, vm, selection, bridge = panel_env
    sids = snapshot.project.sids
    prefix = tuple(sids.codes[0, :2])
    expected = np.sort(sids.items_with_prefix(prefix))
    panel.set_colour_level(None)  # "chosen prefix" mode: the rest goes grey
    selection.select_prefix(prefix, "tree")
    np.testing.assert_array_equal(panel.highlighted_items(), expected)
    assert _text(panel, "mapSelection") == f"{len(expected):,} items selected (prefix {prefix[0]}-{prefix[1]})"
    names = [c.name() for c in panel.plot.point_colours()]
    assert len(set(names)) == 1  # every base point grey; the highlighted ones are drawn on top
    assert len(panel.plot.overlay.data) == len(expected)
    # the view was centred on them: their bounding box is inside the visible range
    (x0, x1), (y0, y1) = panel.plot.view.viewRange()
    pos = panel.positions()[expected]
    assert x0 <= pos[:, 0].min() and pos[:, 0].max() <= x1 and y0 <= pos[:, 1].min() and pos[:, 1].max() <= y1
    full = panel.positions()
    assert (x1 - x0) < (full[:, 0].max() - full[:, 0].min())  # zoomed in, not the whole map
    selection.clear("tree")
    assert len(panel.highlighted_items()) == 0


def test_click_selects_the_nearest_item_with_source_map(panel_env, qtbot, snapshot):
    panel, vm, selection, bridge = panel_env
    pos = panel.positions()
    # an item with no other point within 12 px, so the click is unambiguous
    px_w, px_h = panel.plot.view.viewPixelSize()
    pix = pos / np.array([px_w, px_h])
    for item in range(0, len(pos), 37):
        d = np.hypot(*(pix - pix[item]).T)
        d[item] = np.inf
        if d.min() > 12:
            break
    with qtbot.waitSignal(selection.sig_changed) as blocker:
        assert panel.click_at_scene(_scene_pos(panel, item)) == item
    assert blocker.args[0].items == (item,) and blocker.args[0].source == SOURCE
    assert panel.highlighted_items().tolist() == [item]
    # the side list shows its nearest neighbours in the content space
    model = panel.neighbour_model
    assert model.rowCount() == 10
    assert item not in model.items()
    assert model.items()[0] == int(np.argsort(
        1 - (snapshot.project.embeddings / np.linalg.norm(snapshot.project.embeddings, axis=1, keepdims=True))
        @ (snapshot.project.embeddings[item] / np.linalg.norm(snapshot.project.embeddings[item]))
    )[1])
    title = snapshot.project.dataset.catalogue.title(model.items()[0])
    assert model.index(0, 1).data() == title
    # a click far from every point selects nothing
    empty = panel.plot.view.mapViewToScene(QPointF(float(pos[:, 0].max() + 100 * px_w), float(pos[:, 1].max())))
    assert panel.click_at_scene(empty) is None
    assert selection.current.items == (item,)


def test_hover_shows_title_and_sid(panel_env, snapshot, qtbot):
    panel, *_ = panel_env
    item = int(np.argmax(panel.positions()[:, 0]))  # the right-most point: nobody right of it
    panel.plot.scene().sigMouseMoved.emit(_scene_pos(panel, item))
    qtbot.waitUntil(lambda: panel.plot.hover_text.isVisible())
    text = panel.plot.hover_text.textItem.toPlainText()
    assert snapshot.project.dataset.catalogue.title(item)[:30] in text
    assert "SID " + "-".join(map(str, snapshot.project.sids.sid(item))) in text


def test_lasso_selects_exactly_the_points_inside(panel_env, qtbot):
    panel, vm, selection, bridge = panel_env
    pos = panel.positions()
    centre = np.median(pos, axis=0)
    r = 0.15 * (pos.max(0) - pos.min(0))
    angles = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    polygon = centre + np.stack([np.cos(angles) * r[0], np.sin(angles) * r[1]], axis=1)
    inside = ((pos - centre) / r) ** 2
    expected = np.flatnonzero(inside.sum(1) < 0.97)  # safely inside the 40-gon
    outside = np.flatnonzero(inside.sum(1) > 1.01)
    with qtbot.waitSignal(selection.sig_changed):
        got = panel.select_in_polygon(polygon)
    assert set(expected) <= set(got) and not set(outside) & set(got)
    assert len(got) > 10
    assert selection.current.source == SOURCE and set(selection.current.items) == set(got)
    np.testing.assert_array_equal(panel.highlighted_items(), np.sort(got))
    # the group is summarised: its most common categories and first codes, with shares
    import pandas as pd

    text = _text(panel, "mapSelection")
    codes = pd.Series(panel.state.snapshot.project.sids.codes[got, 0]).value_counts()
    top_code, share = codes.index[0], codes.iloc[0] / len(got)
    assert f"{len(got):,} items selected" in text and "mostly " in text
    assert f"first code {top_code}: {share:.0%}" in text


def test_lasso_drag_in_the_view(panel_env, qtbot):
    """The ViewBox's drag handler turns a left drag (Lasso on) into a polygon selection."""
    panel, vm, selection, bridge = panel_env
    panel.lasso_button.setChecked(True)
    pos = panel.positions()
    lo, hi = np.percentile(pos, 40, axis=0), np.percentile(pos, 60, axis=0)
    corners = [(lo[0], lo[1]), (hi[0], lo[1]), (hi[0], hi[1]), (lo[0], hi[1])]

    class FakeDrag:
        def __init__(self, k):
            self.k = k

        def button(self):
            return Qt.MouseButton.LeftButton

        def modifiers(self):
            return Qt.KeyboardModifier.NoModifier

        def accept(self):
            pass

        def isStart(self):
            return self.k == 0

        def isFinish(self):
            return self.k == len(corners) - 1

        def buttonDownPos(self):
            return panel.plot.view.mapFromView(QPointF(*corners[0]))

        def pos(self):
            return panel.plot.view.mapFromView(QPointF(*corners[self.k]))

    for k in range(len(corners)):
        panel.plot.view.mouseDragEvent(FakeDrag(k))
    eps = 1e-4 * (pos.max(0) - pos.min(0))  # screen round trips move the corners by a hair
    inner = np.flatnonzero(((pos >= lo + eps) & (pos <= hi - eps)).all(1))
    outer = np.flatnonzero(((pos >= lo - eps) & (pos <= hi + eps)).all(1))
    got = set(selection.current.items)
    assert set(inner.tolist()) <= got <= set(outer.tolist()) and len(inner) > 10
    assert selection.current.source == SOURCE


def test_collaborative_space_uses_the_ran_representations(panel_env, snapshot, qtbot, pca):
    panel, vm, selection, bridge = panel_env
    content_positions = panel.positions().copy()
    with qtbot.waitSignal(panel.sig_ready, timeout=JOB_MS):
        panel.set_space("collaborative")
    space, matrix = pca.calls[-1]
    assert space == "collaborative"
    ran = load_project_generator(snapshot.project, "ran")
    np.testing.assert_allclose(matrix, ran.item_representations(), rtol=1e-5, atol=1e-6)
    assert matrix.shape != snapshot.project.embeddings.shape
    assert not np.allclose(panel.positions(), content_positions)
    assert _text(panel, "mapMessage") == ""
    # neighbours now come from the collaborative space
    selection.select_items([5], "tree")
    assert "collaborative" in _text(panel, "mapNeighbourTitle")
    # back to content: instant, from the panel's memory (no new job)
    n_calls = len(pca.calls)
    panel.set_space("content")
    np.testing.assert_array_equal(panel.positions(), content_positions)
    assert len(pca.calls) == n_calls


def test_missing_ran_shows_a_message_and_keeps_content(qtbot, snapshot, pca, tmp_path):
    p = snapshot.project
    bare = Project(tmp_path, p.meta, p.embeddings, p.sids)  # the same project, without generators
    bare.attach_dataset(p.dataset)
    snap = dataclasses.replace(snapshot, project=bare, path=Path(tmp_path))
    panel, vm, selection, bridge = _make(qtbot, snap, pca)
    before = panel.positions().copy()
    with qtbot.waitSignal(bridge.sig_finished, timeout=JOB_MS):
        panel.set_space("collaborative")
    assert "RAN" in _text(panel, "mapMessage") and "not found" in _text(panel, "mapMessage")
    assert panel.space() == "content" and panel.space_combo.currentIndex() == 0
    np.testing.assert_array_equal(panel.positions(), before)
    assert panel.plot.displayed_count() == p.sids.n_items


def test_stale_results_are_ignored_when_the_project_closes(qtbot, snapshot, pca):
    panel, vm, selection, bridge = _make(qtbot, snapshot, pca, wait=False)
    vm.set_snapshot(snapshot)
    vm.set_snapshot(None)  # closed before the job reported
    bridge.wait_all(JOB_MS)
    assert panel.page() == "empty" and panel.plot.displayed_count() == 0


def test_engine_errors_are_shown_not_raised(qtbot, snapshot):
    def broken(project, space, **_):
        raise RuntimeError("layout exploded")

    panel, vm, selection, bridge = _make(qtbot, snapshot, broken, wait=False)
    with qtbot.waitSignal(bridge.sig_finished, timeout=JOB_MS):
        vm.set_snapshot(snapshot)
    assert "layout exploded" in _text(panel, "mapMessage")
    assert panel.retry_button.isVisibleTo(panel) and not panel.screenshot_ready()


def test_neighbour_model_passes_the_model_tester(panel_env, qtmodeltester):
    panel, vm, selection, bridge = panel_env
    qtmodeltester.check(panel.neighbour_model)
    selection.select_items([3], "tree")
    assert panel.neighbour_model.rowCount() == 10
    qtmodeltester.check(panel.neighbour_model)
    # double-clicking a neighbour selects it
    first = panel.neighbour_model.items()[0]
    panel.neighbour_table.doubleClicked.emit(panel.neighbour_model.index(0, 1))
    assert selection.current.items == (first,) and selection.current.source == SOURCE


def test_real_umap_on_a_tiny_project(qtbot, tmp_path, snapshot):
    """The default layout function (real UMAP) end to end, on the first 150 items, then its cache."""
    p = snapshot.project
    from genrec_engine import SIDTable, item_layout

    n = 150
    sids = SIDTable(p.sids.item_ids[:n], p.sids.codes[:n], p.sids.codebook_size)
    tiny = Project(tmp_path, p.meta, p.embeddings[:n].copy(), sids)
    snap = dataclasses.replace(snapshot, project=tiny, path=Path(tmp_path), popularity=snapshot.popularity[:n])
    panel, vm, selection, bridge = _make(qtbot, snap, item_layout)
    assert panel.plot.displayed_count() == n
    assert (tmp_path / "layout-content.npy").is_file()
    np.testing.assert_array_equal(np.load(tmp_path / "layout-content.npy"), panel.positions())


def test_fits_a_1280_wide_window(panel_env, qtbot):
    panel, vm, selection, bridge = panel_env
    selection.select_items([7], "tree")  # long title in the neighbour heading
    assert panel.minimumSizeHint().width() <= 1280
    panel.resize(1280, 760)
    qtbot.waitUntil(lambda: panel.width() == 1280)
    assert panel.plot.width() > 600


def test_while_another_space_computes_the_old_map_stays_and_cancel_works(qtbot, snapshot, pca):
    import threading

    release = threading.Event()

    def slow_collab(project, space, *, matrix=None, progress=None, cancel=None, **kw):
        if space == "collaborative":
            release.wait(30)  # held until the test lets it go
            cancel.raise_if_cancelled()
        return pca(project, space, matrix=matrix, progress=progress, cancel=cancel, **kw)

    panel, vm, selection, bridge = _make(qtbot, snapshot, slow_collab)
    content = panel.positions().copy()
    panel.set_space("collaborative")
    assert "Until then the map shows the content space" in _text(panel, "mapStatus")
    assert panel.cancel_button.isVisibleTo(panel)
    with qtbot.waitSignal(bridge.sig_cancelled, timeout=JOB_MS):
        panel.cancel_button.click()
        release.set()
    assert _text(panel, "mapStatus") == "Layout cancelled." and panel.retry_button.isVisibleTo(panel)
    np.testing.assert_array_equal(panel.positions(), content)  # the content map is still there
    with qtbot.waitSignal(panel.sig_ready, timeout=JOB_MS):
        panel.retry_button.click()  # compute it after all
    assert pca.calls[-1][0] == "collaborative" and "Collaborative" in _text(panel, "mapStatus")


def test_a_large_catalogue_is_drawn_as_an_image_of_the_visible_region(qtbot, monkeypatch):
    """Above SCATTER_MAX items the map draws one image (level of detail), not a scatter item per dot:
    every item counts as drawn, colours come from the palette, the image follows the view."""
    from app.panels.map import plots

    monkeypatch.setattr(plots, "SCATTER_MAX", 1000)
    plot = plots.MapPlot(lambda: False, lambda polygon: None)
    qtbot.addWidget(plot)
    plot.resize(400, 300)
    plot.show()
    plot.set_palette(4)
    rng = np.random.default_rng(0)
    pos = rng.uniform(0, 10, (5000, 2)).astype(np.float32)
    colours = rng.integers(0, 4, 5000)
    plot.show_points(pos, colours)
    assert plot.density_mode() and plot.displayed_count() == 5000 and len(plot.scatter.data) == 0
    assert plot.raster.image is not None and plot.raster.image.shape[2] == 4
    assert plot.point_colours()[7].name() == plot.palette_colours()[int(colours[7])].name()
    plot.set_colours(np.zeros(5000, dtype=np.int64))  # recoloured: the image is redrawn in one colour
    drawn = plot.raster.image.reshape(-1, 4)
    drawn = drawn[drawn[:, 3] > 0]
    first = plot.palette_colours()[0]
    assert len(drawn) and (drawn[:, :3] == [first.red(), first.green(), first.blue()]).all()
    plot.show_points(pos[:500], colours[:500])  # a small catalogue: back to a scatter
    assert not plot.density_mode() and len(plot.scatter.data) == 500 and not plot.raster.isVisible()


def test_with_a_bridge_the_density_image_is_drawn_off_the_gui_thread(qtbot, monkeypatch):
    """The density image of a large catalogue is drawn by a quiet bridge job (no progress bar); the
    image it delivers equals the one drawn in place, and a newer request replaces an older one."""
    from app.bridge import EngineBridge
    from app.panels.map import plots

    monkeypatch.setattr(plots, "SCATTER_MAX", 1000)
    bridge = EngineBridge()
    started = []
    bridge.sig_started.connect(lambda job_id, name: started.append(bridge.is_quiet(job_id)))
    rng = np.random.default_rng(1)
    pos = rng.uniform(0, 10, (5000, 2)).astype(np.float32)
    colours = rng.integers(0, 4, 5000)
    drawn = {}
    for name, b in (("here", None), ("worker", bridge)):
        plot = plots.MapPlot(lambda: False, lambda polygon: None, b)
        qtbot.addWidget(plot)
        plot.resize(400, 300)
        plot.show()
        plot.set_palette(4)
        plot.show_points(pos, colours)
        plot.set_colours(colours[::-1].copy())  # a second request at once: the first one's image is dropped
        qtbot.waitUntil(lambda plot=plot: not plot.raster_pending, timeout=10_000)
        drawn[name] = plot.raster.image.copy()
    np.testing.assert_array_equal(drawn["worker"], drawn["here"])
    assert started and all(started)  # every map image job was quiet
    assert bridge.wait_all(5_000)


def test_a_hidden_density_map_draws_nothing_until_shown_again(qtbot, monkeypatch):
    """A view change on a hidden (or closed) map starts no image job; showing it again redraws."""
    from app.bridge import EngineBridge
    from app.panels.map import plots

    monkeypatch.setattr(plots, "SCATTER_MAX", 1000)
    bridge = EngineBridge()
    started = []
    bridge.sig_started.connect(lambda job_id, name: started.append(name))
    plot = plots.MapPlot(lambda: False, lambda polygon: None, bridge)
    qtbot.addWidget(plot)
    plot.resize(400, 300)
    plot.show()
    plot.set_palette(4)
    pos = np.random.default_rng(1).uniform(0, 10, (5000, 2)).astype(np.float32)
    plot.show_points(pos, np.zeros(5000, dtype=np.int64))
    qtbot.waitUntil(lambda: not plot.raster_pending and not plot._redraw.isActive(), timeout=10_000)
    n = len(started)
    plot.hide()
    plot.view.setRange(xRange=(2, 3), yRange=(2, 3), padding=0)
    qtbot.wait(3 * plots._REDRAW_MS)
    assert len(started) == n and bridge.running() == 0
    plot.show()
    qtbot.waitUntil(lambda: len(started) > n, timeout=5_000)
    qtbot.waitUntil(lambda: not plot.raster_pending, timeout=10_000)
    assert bridge.wait_all(5_000)


def test_rasterize_puts_rows_bottom_up_and_later_items_on_top():
    from app.panels.map.plots import rasterize

    pos = np.array([[0.5, 0.5], [9.5, 9.5], [0.6, 0.6], [20.0, 20.0]], dtype=np.float32)
    rgba = np.array([1, 2, 3, 4], dtype=np.uint32)
    img, inside = rasterize(pos, rgba, (0.0, 10.0, 0.0, 10.0), 10, 10, dot=1)
    assert inside == 3  # the last one is outside the box
    assert img[0, 0] == 3  # row 0 is the bottom (y0); item 2 painted over item 0
    assert img[9, 9] == 2 and (img > 0).sum() == 2
