"""The codeword weights panel over the bundled project: what it draws equals the engine's numbers.

Every wait is on a signal or a condition (pytest-qt), never a sleep.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QComboBox, QLabel, QLineEdit, QTableView

import app
from app.bridge import EngineBridge
from app.panels import load_project
from app.panels.weights import SOURCE, LevelWeightsModel, RankingModel, WeightsPanel

from .helpers import mount_panel
from genrec_engine import (Project, codeword_weights, content_ranking, divergence_ranking, js_divergence,
                           load_project_generator)

WAIT_MS = 60_000  # generous: the RAN loads in ~20 ms and the ranking takes ~0.3 s
PROJECT_FILES = ("project.json", "embeddings.npy", "sids.parquet", "tokenizer.safetensors")


@pytest.fixture(scope="module")
def ran(snapshot):
    return load_project_generator(snapshot.project, "ran")


@pytest.fixture(scope="module")
def ranking(snapshot, ran):
    return divergence_ranking(snapshot.project, ran)


def _make_panel(qtbot, snapshot=None):
    return mount_panel(qtbot, WeightsPanel, snapshot)


@pytest.fixture
def loaded(qtbot, snapshot):
    """A panel over the bundled project, its RAN loaded, its ranking shown and a first item drawn."""
    panel, vm, selection, bridge = _make_panel(qtbot, snapshot)
    with qtbot.waitSignal(panel.sig_ready, timeout=WAIT_MS):
        pass
    qtbot.waitUntil(lambda: bridge.running() == 0, timeout=WAIT_MS)
    yield panel, vm, selection, bridge
    bridge.wait_all()


def _copy_project(src: Path, dest: Path, extra: tuple[str, ...] = ()) -> Path:
    """A copy of a project folder with only the given files; its dataset path made absolute."""
    dest.mkdir()
    for name in PROJECT_FILES + extra:
        shutil.copy2(src / name, dest / name)
    meta = json.loads((src / "project.json").read_text())
    meta["dataset"]["path"] = str(Project.open(src).dataset_path)
    (dest / "project.json").write_text(json.dumps(meta))
    return dest


def _shown(panel, item: int) -> bool:
    bridge = panel._test_refs[2]
    return panel.shown_item() == item and bridge.running() == 0


def _w(panel, cls, name):
    """The panel's widget of type ``cls`` named ``name``."""
    widget = panel.findChild(cls, name)
    assert widget is not None, name
    return widget


# --------------------------------------------------------------------------------------- states


def test_empty_state_then_project(qtbot, snapshot):
    panel, vm, selection, bridge = _make_panel(qtbot)
    assert panel.state.page == "empty" and not panel.screenshot_ready()
    selection.set_sid_table(snapshot.project.sids)
    with qtbot.waitSignal(panel.sig_ready, timeout=WAIT_MS):
        vm.set_snapshot(snapshot)
    assert panel.state.page == "weights" and panel.state.ran_loaded and panel.screenshot_ready()
    # nothing was selected: the panel shows the most divergent item, without selecting it for others
    qtbot.waitUntil(lambda: panel.ranking_model.rowCount() > 0, timeout=WAIT_MS)
    assert panel.shown_item() == panel.ranking_model.item_at(0)
    assert selection.current.items == ()
    bridge.wait_all()
    vm.set_snapshot(None)  # closing the project: the explanatory empty state again
    assert panel.state.page == "empty" and not panel.screenshot_ready() and panel.ranking_model.rowCount() == 0


# ----------------------------------------------------------------------------- item weights


def test_selected_item_weights_equal_engine_values(qtbot, loaded, snapshot, ran):
    panel, vm, selection, bridge = loaded
    i = 4321
    selection.select_items([i], "map")
    qtbot.waitUntil(lambda: _shown(panel, i), timeout=WAIT_MS)
    ref = codeword_weights(snapshot.project, ran, i)
    D = snapshot.project.sids.depth
    model = panel.level_model
    assert model.rowCount() == D == len(ref) == len(panel.plots)
    for l, lw in enumerate(ref):
        assert model.data(model.index(l, 1), Qt.ItemDataRole.UserRole) == lw.code == snapshot.project.sids.codes[i, l]
        assert model.data(model.index(l, 2), Qt.ItemDataRole.UserRole) == lw.content_argmax
        assert model.data(model.index(l, 3), Qt.ItemDataRole.UserRole) == lw.collaborative_argmax
        assert model.data(model.index(l, 4), Qt.ItemDataRole.UserRole) == pytest.approx(lw.js, abs=1e-6)
        assert model.data(model.index(l, 5), Qt.ItemDataRole.UserRole) == (lw.moved and lw.signal)
        if not lw.signal:
            assert model.data(model.index(l, 5)) == "no signal" and "no signal" in panel.plots[l].title.text
        assert model.data(model.index(l, 4)) == f"{lw.js:.3f}"
        # the bars, read back from the plot items, are the two weight vectors
        plot = panel.plots[l]
        content, collab = np.asarray(plot.content_bars.opts["height"]), np.asarray(plot.collab_bars.opts["height"])
        assert content.shape == collab.shape == (snapshot.project.sids.level_sizes[l],)
        np.testing.assert_allclose(content, lw.content, atol=1e-7)
        np.testing.assert_allclose(collab, lw.collaborative, atol=1e-7)
        np.testing.assert_array_equal(np.asarray(plot.content_bars.opts["x"]), np.arange(len(content)))
        assert all(line.value() == lw.code for line in plot.code_lines)  # the SID code is marked
    assert [p.n_codes for p in panel.plots] == [256, 256, 256, 14]
    error = _w(panel, QLabel, "weights_error")
    assert "4321" not in (error.text() if error.isVisible() else "") and "4321" not in panel.state.error
    # the DECOR box explains what it needs: the bundled project has no DECOR TIGER
    assert "trained with decor" in _w(panel, QLabel, "weights_decor").text()


def test_own_selections_are_not_echoed(qtbot, loaded):
    panel, vm, selection, bridge = loaded
    before = panel.shown_item()
    selection.select_items([7], SOURCE)  # an event this panel made itself: ignored
    bridge.wait_all()
    assert panel.shown_item() == before


# ----------------------------------------------------------------------------------- ranking


def test_ranking_sorted_by_divergence_and_click_selects(qtbot, loaded, snapshot, ranking):
    panel, vm, selection, bridge = loaded
    model, view = panel.ranking_model, _w(panel, QTableView, "weights_ranking")
    N, D = snapshot.project.sids.n_items, snapshot.project.sids.depth
    assert model.rowCount() == N and model.columnCount() == 2 + D
    means = np.array([model.data(model.index(r, 1), Qt.ItemDataRole.UserRole) for r in range(N)])
    assert (np.diff(means) <= 0).all()  # largest divergence first
    items = np.array([model.item_at(r) for r in range(N)])
    assert sorted(items.tolist()) == list(range(N))
    np.testing.assert_allclose(means, ranking["js"].mean(1)[items], atol=1e-6)
    for r in (0, 5, N - 1):  # per-level JS and the moved marks
        item = model.item_at(r)
        for l in range(D):
            idx = model.index(r, 2 + l)
            assert model.data(idx, Qt.ItemDataRole.UserRole) == pytest.approx(float(ranking["js"][item, l]))
            flagged = bool(ranking["moved"][item, l] and ranking["signal"][item, l])  # a move needs signal
            assert model.data(idx, RankingModel.MOVED_ROLE) == flagged
            assert model.data(idx).startswith(f"{ranking['js'][item, l]:.2f}")
            assert model.data(idx).endswith("*") == flagged

    # clicking a row selects that item for every panel, with this panel as the source
    row = 3
    target = model.item_at(row)
    rect = view.visualRect(model.index(row, 0))
    with qtbot.waitSignal(selection.sig_changed, timeout=WAIT_MS) as blocker:
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert blocker.args[0].items == (target,) and blocker.args[0].source == SOURCE
    qtbot.waitUntil(lambda: _shown(panel, target), timeout=WAIT_MS)

    # sorting by a level's JS from the header: ascending, then back to descending mean
    view.sortByColumn(2, Qt.SortOrder.AscendingOrder)
    first_level = np.array([model.data(model.index(r, 2), Qt.ItemDataRole.UserRole) for r in range(N)])
    assert (np.diff(first_level) >= 0).all()
    assert model.row_of(target) == int(np.flatnonzero(np.array([model.item_at(r) for r in range(N)]) == target)[0])
    view.sortByColumn(1, Qt.SortOrder.DescendingOrder)
    assert model.item_at(0) == int(items[0])


def test_ranking_model_passes_qmodeltester(qtmodeltester, snapshot, ranking):
    model = RankingModel()
    qtmodeltester.check(model)  # empty
    keep = np.arange(0, snapshot.project.sids.n_items, 97)  # a slice keeps the exhaustive checks quick
    titles = snapshot.project.dataset.catalogue.items["title"].to_numpy()[keep]
    model.set_ranking(titles, snapshot.project.sids.item_ids[keep], ranking["js"][keep], ranking["moved"][keep])
    qtmodeltester.check(model)
    model.sort(0, Qt.SortOrder.AscendingOrder)
    qtmodeltester.check(model)
    names = [model.data(model.index(r, 0), Qt.ItemDataRole.UserRole).lower() for r in range(model.rowCount())]
    assert names == sorted(names)
    for col in range(model.columnCount()):
        assert model.headerData(col, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole)


def test_level_model_passes_qmodeltester(qtmodeltester, snapshot, ran):
    model = LevelWeightsModel()
    qtmodeltester.check(model)
    model.set_levels(codeword_weights(snapshot.project, ran, 10), np.array([0.1, 0.2, 0.3, 0.4]))
    qtmodeltester.check(model)
    assert model.data(model.index(2, 6), Qt.ItemDataRole.UserRole) == pytest.approx(0.3)


# ------------------------------------------------------------------------------ compare, search


def test_compare_with_an_item_sharing_the_prefix(qtbot, loaded, snapshot, ran):
    panel, vm, selection, bridge = loaded
    codes = snapshot.project.sids.codes
    L = snapshot.project.sids.depth - 1
    # two items that collide: the same first L codes
    _, inverse, counts = np.unique(codes[:, :L], axis=0, return_inverse=True, return_counts=True)
    i, j = np.flatnonzero(inverse.ravel() == int(np.argmax(counts)))[:2].tolist()
    selection.select_items([i, j], "tree")
    qtbot.waitUntil(lambda: _shown(panel, i) and panel.state.shown.compare == j, timeout=WAIT_MS)
    assert panel.state.compare == j
    mine, theirs = codeword_weights(snapshot.project, ran, i), codeword_weights(snapshot.project, ran, j)
    for l, plot in enumerate(panel.plots):
        assert plot.compare_curve.isVisible()
        _, ys = plot.compare_curve.getData()
        np.testing.assert_allclose(np.asarray(ys)[: len(theirs[l].collaborative)], theirs[l].collaborative, atol=1e-7)
        expected = js_divergence(mine[l].collaborative[None], theirs[l].collaborative[None])[0]
        assert panel.level_model.data(panel.level_model.index(l, 6), Qt.ItemDataRole.UserRole) == pytest.approx(
            float(expected), abs=1e-6)
    # the picker lists items sharing the item's prefix, longest shared prefix first
    combo = _w(panel, QComboBox, "weights_compare")
    listed = [combo.itemData(k) for k in range(1, combo.count())]
    assert j in listed and i not in listed
    shared = [int((codes[x, :L] == codes[i, :L]).cumprod().sum()) for x in listed if x != j]
    assert shared and all(s >= 1 for s in shared) and shared == sorted(shared, reverse=True)
    # no comparison: the outline goes away
    combo.setCurrentIndex(combo.findData(-1))
    qtbot.waitUntil(lambda: _shown(panel, i) and panel.state.shown.compare is None, timeout=WAIT_MS)
    assert not any(p.compare_curve.isVisible() for p in panel.plots)
    assert panel.level_model.data(panel.level_model.index(0, 6)) == "–"


def test_search_by_item_id_and_title(qtbot, loaded, snapshot):
    panel, vm, selection, bridge = loaded
    search = _w(panel, QLineEdit, "weights_search")
    ids = snapshot.project.sids.item_ids
    target = 2024
    search.setText(str(int(ids[target])))
    with qtbot.waitSignal(selection.sig_changed, timeout=WAIT_MS) as blocker:
        qtbot.keyClick(search, Qt.Key.Key_Return)
    assert blocker.args[0].items == (target,) and blocker.args[0].source == SOURCE
    qtbot.waitUntil(lambda: _shown(panel, target), timeout=WAIT_MS)
    title = snapshot.project.dataset.catalogue.title(77)
    search.setText(title.upper())
    search.returnPressed.emit()
    first = int(np.flatnonzero(snapshot.project.dataset.catalogue.items["title"].str.lower() == title.lower())[0])
    qtbot.waitUntil(lambda: _shown(panel, first), timeout=WAIT_MS)
    search.setText("no such item anywhere 1234567")
    search.returnPressed.emit()
    assert panel.shown_item() == first and selection.current.items == (first,)


# ------------------------------------------------------------------------- missing RAN, DECOR


def test_without_a_ran_the_content_side_is_shown(qtbot, snapshot, tmp_path):
    """A project with no RAN (imported SIDs, another generator) still shows what its tokenizer
    says: items ranked by the content margin of their code, content-only charts, and a notice
    naming the command that trains a RAN."""
    folder = _copy_project(app.DEFAULT_PROJECT, tmp_path / "no-ran")
    snap = EngineBridge.run_sync(load_project, folder)
    panel, vm, selection, bridge = _make_panel(qtbot, snap)
    with qtbot.waitSignal(panel.sig_ready, timeout=WAIT_MS):
        pass
    qtbot.waitUntil(lambda: bridge.running() == 0 and panel.screenshot_ready(), timeout=WAIT_MS)
    assert panel.state.page == "weights" and panel.state.content_only
    notice = _w(panel, QLabel, "weights_no_ran")
    assert not notice.isHidden()
    text = notice.text()
    assert "genrec train --project" in text and str(folder) in text and "--model ran" in text
    assert "generator-ran.safetensors" in text
    assert "margin" in _w(panel, QLabel, "weights_header").text()
    assert "collaborative" not in _w(panel, QLabel, "weights_legend").text()

    project = snap.project
    N, D = project.sids.n_items, project.sids.depth
    ref = content_ranking(project)
    model = panel.ranking_model
    assert model.rowCount() == N and model.columnCount() == 2 + D - 1 and model.kind == "content"
    assert model.headerData(1, Qt.Orientation.Horizontal) == "Weakest"
    weakest = np.array([model.data(model.index(r, 1), Qt.ItemDataRole.UserRole) for r in range(N)])
    assert (np.diff(weakest) >= 0).all()  # the least supported first
    top = model.item_at(0)
    assert panel.shown_item() == top and weakest[0] == pytest.approx(float(ref["ratio"][top].min()))
    assert model.data(model.index(0, 2)).startswith(f"{ref['ratio'][top, 0]:.3f}")

    # the item's levels: content charts only, the margin per quantizer level
    assert [p.content_only and p.bottom is None for p in panel.plots] == [True] * D
    lm = panel.level_model
    assert lm.columnCount() == 5 and lm.headerData(3, Qt.Orientation.Horizontal) == "Margin"
    shown = codeword_weights(project, None, top)
    for l, lw in enumerate(shown):
        np.testing.assert_allclose(panel.plots[l].bar_heights()[0], lw.content, atol=1e-7)
        if l < D - 1:
            assert lm.data(lm.index(l, 3), Qt.ItemDataRole.UserRole) == pytest.approx(lw.own_ratio)
            assert f"margin {lw.own_ratio:.3f}×" in panel.plots[l].title.text
    assert lm.data(lm.index(D - 1, 3)) == "–"

    # a clicked row is shown and selected; the compared item's content weights outline the bars
    view = _w(panel, QTableView, "weights_ranking")
    target = model.item_at(4)
    with qtbot.waitSignal(selection.sig_changed, timeout=WAIT_MS):
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualRect(model.index(4, 0)).center())
    qtbot.waitUntil(lambda: _shown(panel, target) and panel.state.shown.compare is not None, timeout=WAIT_MS)
    other = codeword_weights(project, None, panel.state.shown.compare)
    for l, plot in enumerate(panel.plots):
        assert plot.compare_curve.isVisible()
        np.testing.assert_allclose(np.asarray(plot.compare_curve.getData()[1]), other[l].content, atol=1e-7)
    bridge.wait_all()


def test_decor_tiger_shows_the_fusion_split(qtbot, snapshot, tmp_path):
    from genrec_engine.models import TIGER, TIGERConfig
    from genrec_engine.checkpoint import save_generator

    folder = _copy_project(app.DEFAULT_PROJECT, tmp_path / "decor", extra=("generator-ran.safetensors",))
    project = Project.open(folder)
    torch.manual_seed(0)
    tiger = TIGER(TIGERConfig(d_model=16, n_enc_layers=1, n_dec_layers=1, n_heads=2, d_ff=32, max_items=3, decor=True),
                  project.sids.codes, project.sids.level_sizes, codebooks=project.tokenizer.codebooks).eval()
    save_generator(tiger, folder / "generator-tiger.safetensors")
    snap = EngineBridge.run_sync(load_project, folder)
    panel, vm, selection, bridge = _make_panel(qtbot, snap)
    with qtbot.waitSignal(panel.sig_ready, timeout=WAIT_MS):
        pass
    i = 99
    selection.select_items([i], "map")
    qtbot.waitUntil(lambda: _shown(panel, i), timeout=WAIT_MS)
    D = project.sids.depth
    g = tiger.fusion_split([(l, int(project.sids.codes[i, l])) for l in range(D)])
    np.testing.assert_allclose(panel.state.shown.fusion, g, atol=1e-6)
    text = _w(panel, QLabel, "weights_decor").text()
    assert "trained with decor" not in text and "Codebook" in text
    for l in range(D):
        assert f"{100 * g[l]:.0f} %" in text
    assert g[-1] == 0.0  # the collision level has no codebook
    bridge.wait_all()
    QApplication.processEvents()


def test_results_of_a_closed_project_are_dropped(qtbot, snapshot):
    panel, vm, selection, bridge = _make_panel(qtbot, snapshot)
    assert bridge.running() == 1  # the generators are loading
    vm.set_snapshot(None)  # closed before they arrive
    qtbot.waitUntil(lambda: bridge.running() == 0, timeout=WAIT_MS)
    assert panel.state.page == "empty" and not panel.state.ran_loaded and panel.ranking_model.rowCount() == 0
    assert not panel.screenshot_ready() and panel.shown_item() is None
