"""Generation diagnostics panel: its run shows the engine's numbers, its table passes the model
tester, a click selects a user's top-10 and a double-click asks for the beam stepper."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QLabel, QPushButton, QSpinBox, QTableView

import app
from app.bridge import EngineBridge
from app.panels import ProjectViewModel, load_project
from app.panels.diagnostics import (
    DEFAULT_BEAM,
    DEFAULT_USERS,
    SOURCE,
    CountHistogram,
    DiagnosticsPanel,
    DiagnosticsTableModel,
    run_diagnostics,
)
from app.selection import Selection

from .helpers import mount_panel
from genrec_engine import Project

WAIT_MS = 60_000  # the default run (2,000 users on the RAN) takes ~1-3 s on one core


@pytest.fixture(scope="module")
def reference(snapshot):
    """The engine's own result for the panel's default run."""
    return EngineBridge.run_sync(run_diagnostics, snapshot.project, "ran", DEFAULT_USERS, DEFAULT_BEAM)


@pytest.fixture
def loaded(qtbot, snapshot):
    """A shown panel over the bundled project, its automatic first run finished."""
    panel, vm, selection, bridge = mount_panel(qtbot, DiagnosticsPanel, snapshot)
    qtbot.waitUntil(panel.screenshot_ready, timeout=WAIT_MS)
    yield panel, vm, selection, bridge
    bridge.wait_all()


def _w(panel, cls, name):
    """The panel's widget of type ``cls`` named ``name``."""
    widget = panel.findChild(cls, name)
    assert widget is not None, name
    return widget


def _row_of_user(model: DiagnosticsTableModel, user: int) -> int:
    return next(r for r in range(model.rowCount()) if model.user_at(r) == user)


def test_first_show_runs_and_shows_the_engine_numbers(qtbot, loaded, reference):
    panel, vm, selection, bridge = loaded
    diag = panel.state.result
    assert diag is not None and panel.state.page == "diagnostics" and not panel.state.busy
    assert _w(panel, QTableView, "users_table").isVisible()  # the diagnostics page is the one shown
    assert (diag.kind, diag.beam, len(diag)) == ("ran", DEFAULT_BEAM, DEFAULT_USERS)
    np.testing.assert_array_equal(diag.users, reference.users)
    s = reference.summary
    # the histograms are the engine's counts, bar by bar
    homogeneity_plot = _w(panel, CountHistogram, "homogeneity_plot")
    np.testing.assert_array_equal(homogeneity_plot.counts(), s["homogeneity_counts"])
    np.testing.assert_array_equal(_w(panel, CountHistogram, "invalid_plot").counts(), s["invalid_counts"])
    assert homogeneity_plot.counts().sum() == np.isfinite(reference.homogeneity).sum()
    assert homogeneity_plot.mean_line.value() == pytest.approx(s["mean_homogeneity"])
    text = _w(panel, QLabel, "summary").text()
    assert f"{s['mean_homogeneity']:.2f}" in text and f"{DEFAULT_USERS:,}" in text and "sample" in text
    # the table holds every user, worst (most homogeneous) first, with the engine's values
    model = panel.table_model
    assert model.rowCount() == DEFAULT_USERS
    h = [model.data(model.index(r, 2), Qt.ItemDataRole.UserRole) for r in range(model.rowCount())]
    assert h[0] == pytest.approx(np.nanmax(reference.homogeneity))
    for r in (0, 17, DEFAULT_USERS - 1):
        row = reference.row_of(model.user_at(r))
        assert model.data(model.index(r, 1), Qt.ItemDataRole.UserRole) == reference.history_length[row]
        assert model.data(model.index(r, 4), Qt.ItemDataRole.UserRole) == reference.invalid[row]
        rank = int(reference.target_rank[row])
        assert model.data(model.index(r, 5)) == (str(rank) if rank > 0 else "missed")
        assert model.data(model.index(r, 3)).startswith(str(reference.dominant_prefix[row]))


def test_click_selects_top10_and_double_click_opens_user(qtbot, loaded):
    panel, vm, selection, bridge = loaded
    view, model = _w(panel, QTableView, "users_table"), panel.table_model
    row = 4
    user = model.user_at(row)
    top = [int(i) for i in panel.state.result.top[model.result_row(row)] if i >= 0]
    rect = view.visualRect(model.index(row, 0))
    with qtbot.waitSignal(selection.sig_changed, timeout=WAIT_MS) as blocker:
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert blocker.args[0].items == tuple(top) and blocker.args[0].source == SOURCE and len(top) == 10
    with qtbot.waitSignal(panel.sig_open_user, timeout=WAIT_MS) as opened:
        qtbot.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert opened.args == [user]


def test_sorts_and_table_model_passes_qmodeltester(qtbot, qtmodeltester, loaded, snapshot):
    panel, vm, selection, bridge = loaded
    diag = panel.state.result
    sort_combo = _w(panel, QComboBox, "sort")
    sort_combo.setCurrentIndex(sort_combo.findData("invalid"))
    model = panel.table_model
    inv = [model.data(model.index(r, 4), Qt.ItemDataRole.UserRole) for r in range(model.rowCount())]
    assert inv == sorted(inv, reverse=True) and inv[0] == diag.invalid.max()
    sort_combo.setCurrentIndex(sort_combo.findData("missed"))
    n_missed = int((diag.target_rank < 0).sum())
    assert all(model.data(model.index(r, 5)) == "missed" for r in range(n_missed))
    assert model.data(model.index(n_missed, 5)) != "missed"

    # the model on its own, over a small engine result (the exhaustive checks stay quick)
    small = EngineBridge.run_sync(run_diagnostics, snapshot.project, "ran", 150, 10)
    fresh = DiagnosticsTableModel()
    qtmodeltester.check(fresh)
    fresh.set_result(small)
    qtmodeltester.check(fresh)
    for column in range(fresh.columnCount()):
        fresh.sort(column, Qt.SortOrder.AscendingOrder)
        fresh.sort(column, Qt.SortOrder.DescendingOrder)
        assert fresh.headerData(column, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole)
    qtmodeltester.check(fresh)
    fresh.sort(0, Qt.SortOrder.DescendingOrder)
    users = [fresh.data(fresh.index(r, 0), Qt.ItemDataRole.UserRole) for r in range(fresh.rowCount())]
    assert users == sorted(small.users.tolist(), reverse=True)


def test_cancel_keeps_the_shown_run_and_cache_answers(qtbot, loaded):
    panel, vm, selection, bridge = loaded
    first = panel.state.result
    users_spin, run_button = _w(panel, QSpinBox, "users"), _w(panel, QPushButton, "run")
    status = _w(panel, QLabel, "status")
    users_spin.setValue(20_000)
    assert "press Run" in status.text() and "press Run" in panel.state.status
    with qtbot.waitSignal(bridge.sig_progress, timeout=WAIT_MS):
        run_button.click()
    assert panel.state.busy and not panel.screenshot_ready() and not run_button.isEnabled()
    with qtbot.waitSignal(bridge.sig_cancelled, timeout=WAIT_MS):
        _w(panel, QPushButton, "cancel").click()
    assert not panel.state.busy and "Cancelled" in status.text()
    assert panel.state.result is first
    # back to the default: the cached result, no new job
    users_spin.setValue(DEFAULT_USERS)
    assert bridge.running() == 0 and panel.state.result is first and panel.screenshot_ready()


def test_hidden_panel_waits_until_shown(qtbot, snapshot):
    vm, selection, bridge = ProjectViewModel(), Selection(), EngineBridge()
    panel = DiagnosticsPanel(vm, selection, bridge)
    qtbot.addWidget(panel)
    panel._test_refs = (vm, selection, bridge)
    assert panel.state.page == "empty" and not panel.screenshot_ready()
    vm.set_snapshot(snapshot)
    assert bridge.running() == 0  # not shown yet: nothing decoded
    with qtbot.waitSignal(panel.sig_ready, timeout=WAIT_MS):
        panel.show()
    bridge.wait_all()
    vm.set_snapshot(None)
    assert panel.state.page == "empty" and panel.state.result is None and not panel.screenshot_ready()


def test_project_without_generators_says_how_to_train(qtbot, tmp_path):
    folder = tmp_path / "no-gen"
    folder.mkdir()
    src = app.DEFAULT_PROJECT
    for name in ("project.json", "embeddings.npy", "sids.parquet", "tokenizer.safetensors"):
        shutil.copy2(src / name, folder / name)
    meta = json.loads((src / "project.json").read_text())
    meta["dataset"]["path"] = str(Project.open(src).dataset_path)
    (folder / "project.json").write_text(json.dumps(meta))
    snap = EngineBridge.run_sync(load_project, folder)
    panel, vm, selection, bridge = mount_panel(qtbot, DiagnosticsPanel, snap)
    assert panel.state.page == "no_generator" and bridge.running() == 0
    message = _w(panel, QLabel, "no_generator_message").text()
    assert _w(panel, QLabel, "no_generator_message").isVisible()  # its page is the one shown
    assert "genrec train --project" in message and str(folder) in message
    assert panel.screenshot_ready()  # the notice is all there is to show
