"""The app shell: window, overview panel, the engine bridge, and the real app in a subprocess.

Every wait is on a signal or a condition (pytest-qt), never a sleep.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QFileDialog

import app
from app.bridge import EngineBridge
from app.panels import ProjectSnapshot, load_project
from app.panels.overview import LEVEL_COLUMNS, LevelTableModel
from app.window import MainWindow
from genrec_engine import Cancelled, ProjectFormatError

# Qt warnings fail a test (as qutebrowser does), except the offscreen platform's known limitation.
REPO = Path(__file__).resolve().parents[2]
LOAD_MS = 30_000  # generous: the bundled project loads in ~0.1 s
SUBPROCESS_S = 120


@pytest.fixture
def window(qtbot):
    """A main window with the bundled project loaded."""
    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    assert win.overview.page() == "loading"  # usable at once; the load runs in the background
    with qtbot.waitSignal(win.sig_project_loaded, timeout=LOAD_MS):
        pass
    qtbot.waitUntil(lambda: win.bridge.running() == 0, timeout=LOAD_MS)  # the panels' own start-up jobs
    return win


# --------------------------------------------------------------------------------------- window


def test_window_shows_the_bundled_project(window):
    ov = window.overview
    assert ov.page() == "project"
    assert ov.figure_text("items") == "12,101"
    assert ov.figure_text("users") == "22,363"
    assert ov.figure_text("interactions") == "198,502"
    assert ov.figure_text("unique_sids") == "12,101"
    assert ov.figure_text("collision_rate").endswith("%")
    assert ov.level_model.rowCount() == window.snapshot.project.tokenizer_config.levels == 3
    assert window.project_label.text() == "Project: beauty-default"
    assert "beauty-default" in window.windowTitle()
    assert window.device_label.text().startswith("Device: ")
    assert not window.progress_bar.isVisible() and not window.cancel_button.isVisible()


def test_item_lookups_are_built_after_the_load_by_a_job_of_their_own(window):
    """The load hands the panels a snapshot whose look-ups are not built yet (at 10^6 items they
    would hold the first paint ~1.5 s); the window's follow-up job builds them, and they agree with
    the catalogue."""
    fresh = EngineBridge.run_sync(load_project, app.DEFAULT_PROJECT)
    assert not fresh.lookups.ready
    snap = window.snapshot
    assert snap.lookups.ready  # the window's job ran (the fixture waited for every job)
    sids = snap.project.sids
    item = 1234
    item_id = int(sids.item_ids[item])
    assert snap.id_index[item_id] == item
    title = snap.project.dataset.catalogue.title(item)
    assert snap.completions[f"{title}  [{item_id}]"] == item
    assert item in snap.title_index.find(title[:20]).tolist()
    assert fresh.id_index == snap.id_index  # built on first use when the job has not run


def test_item_lookups_built_in_parts_equal_those_built_at_once(monkeypatch):
    import app.model
    from app.model import ItemLookups, item_completions
    from genrec_engine import Project

    project = Project.open(app.DEFAULT_PROJECT)
    whole = ItemLookups(project)
    monkeypatch.setattr(app.model, "LOOKUP_CHUNK", 1000)  # 13 parts for Beauty's 12,101 items
    parts = ItemLookups(project)
    assert parts.id_index() == whole.id_index() == {int(i): n for n, i in enumerate(project.sids.item_ids)}
    made = item_completions(project)
    assert list(made.values()) == list(range(project.sids.n_items))
    titles = project.dataset.catalogue.items["title"].astype(str).tolist()
    assert list(made) == [f"{t}  [{int(i)}]" for t, i in zip(titles, project.sids.item_ids)]


def test_open_non_project_folder_shows_error_and_keeps_project(window, qtbot, tmp_path, monkeypatch):
    before = window.snapshot
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(tmp_path)))
    with qtbot.waitSignal(window.sig_project_failed, timeout=LOAD_MS) as blocker:
        window.action_open.trigger()
    assert "not a GenRec project" in blocker.args[0]
    qtbot.waitUntil(lambda: window.error_box is not None and window.error_box.isVisible())
    assert "not a GenRec project" in window.error_box.text()
    assert "beauty-default stays open" in window.error_box.informativeText()
    assert window.snapshot is before
    assert window.overview.page() == "project"
    assert window.overview.figure_text("items") == "12,101"
    assert window.project_label.text() == "Project: beauty-default"
    window.error_box.close()


def test_bad_start_project_shows_empty_state_with_the_error(qtbot, tmp_path):
    win = MainWindow(tmp_path / "missing")
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.sig_project_failed, timeout=LOAD_MS) as blocker:
        pass
    assert "no project.json" in blocker.args[0]
    assert win.snapshot is None
    assert win.overview.page() == "empty"
    assert win.project_label.text() == "No project"
    qtbot.waitUntil(lambda: win.error_box is not None and win.error_box.isVisible())
    win.error_box.close()


def test_status_bar_cancel_button_cancels_the_running_job(window, qtbot):
    started = threading.Event()
    with qtbot.waitSignal(window.bridge.sig_started, timeout=10_000):
        job = window.bridge.submit(_until_cancelled, started=started, name="long job")
    qtbot.waitUntil(lambda: window.progress_bar.isVisible() and window.progress_bar.value() > 0, timeout=10_000)
    assert window.cancel_button.isVisible()
    with qtbot.waitSignal(window.bridge.sig_finished, timeout=10_000):
        qtbot.mouseClick(window.cancel_button, Qt.MouseButton.LeftButton)
    assert job.state == "cancelled"
    assert not window.progress_bar.isVisible() and not window.cancel_button.isVisible()
    assert window.snapshot is not None  # cancelling a job does not close the project


def test_a_newer_open_supersedes_an_older_one(qtbot, tmp_path):
    win = MainWindow(None)
    qtbot.addWidget(win)
    failed = []
    win.sig_project_failed.connect(failed.append)
    win.open_project(tmp_path)  # not a project; superseded before its error can be shown
    with qtbot.waitSignal(win.sig_project_loaded, timeout=LOAD_MS):
        win.open_project(app.DEFAULT_PROJECT)
    qtbot.waitUntil(lambda: win.bridge.running() == 0, timeout=LOAD_MS)
    assert failed == [] and win.error_box is None
    assert win.snapshot.name == "beauty-default"


def test_help_about_opens_without_blocking(window, qtbot):
    from PySide6.QtWidgets import QMessageBox

    window.action_about.trigger()
    qtbot.waitUntil(lambda: any(b.isVisible() for b in window.findChildren(QMessageBox)))
    box = next(b for b in window.findChildren(QMessageBox) if b.isVisible())
    assert "GenRec Explorer" in box.text()
    box.close()


# ------------------------------------------------------------------------------ per-level table model


def test_level_table_model_passes_qmodeltester(qtmodeltester):
    snap = EngineBridge.run_sync(load_project, app.DEFAULT_PROJECT)
    assert isinstance(snap, ProjectSnapshot)
    model = LevelTableModel()
    qtmodeltester.check(model)  # empty
    model.set_levels(snap.diagnostics.levels)
    qtmodeltester.check(model)
    assert (model.rowCount(), model.columnCount()) == (3, len(LEVEL_COLUMNS))
    for col in range(model.columnCount()):
        assert model.headerData(col, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole)
    util = model.index(0, 1)
    assert model.data(util, Qt.ItemDataRole.UserRole) == snap.diagnostics.levels[0].utilization
    assert model.data(util).endswith("%")


# --------------------------------------------------------------------------------------- bridge


def _boom(*, progress, cancel):
    raise ValueError("boom")


def _bad_project(*, progress, cancel):
    raise ProjectFormatError("x/project.json: format 'v0', this version reads 'genrec-project/1'")


def _answer(x, *, progress, cancel, plus=0):
    progress(0.5, "thinking")
    return x + plus


def test_bridge_delivers_result_in_order(qtbot):
    bridge = EngineBridge()
    started, results = [], []
    bridge.sig_started.connect(lambda jid, name: started.append(name))
    job = bridge.submit(_answer, 40, plus=2, name="answer")  # its signals arrive through the event loop
    job.sig_result.connect(results.append)
    with qtbot.waitSignals([job.sig_started, job.sig_result, bridge.sig_finished, job.sig_finished], order="strict",
                           timeout=10_000):
        pass
    assert started == ["answer"] and results == [42]
    assert job.state == "done" and bridge.running() == 0
    assert bridge.wait_all(5_000) and bridge.active_threads() == 0


def _own_nice(*, progress, cancel):
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priorities are Linux's")
def test_bridge_workers_run_below_the_gui_threads_priority(qtbot):
    """The GUI thread wins the CPU (and so the GIL) from the workers when both want it."""
    from app.bridge import WORKER_NICE

    bridge = EngineBridge()
    job = bridge.submit(_own_nice)
    with qtbot.waitSignal(job.sig_finished, timeout=10_000):
        pass
    gui = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert job.result == min(19, gui + WORKER_NICE)


@pytest.mark.parametrize(
    "fn, expected", [(_boom, "ValueError: boom"), (_bad_project, "x/project.json: format 'v0'")]
)
def test_bridge_turns_an_exception_into_sig_error(qtbot, fn, expected):
    bridge = EngineBridge()
    errors = []
    bridge.sig_error.connect(lambda jid, message: errors.append(message))
    with qtbot.waitSignals([bridge.sig_error, bridge.sig_finished], order="strict", timeout=10_000):
        job = bridge.submit(fn)
    assert len(errors) == 1 and errors[0].startswith(expected)
    assert job.state == "failed"
    assert bridge.wait_all(5_000) and bridge.running() == 0 and bridge.active_threads() == 0


def _until_cancelled(*, progress, cancel, started: threading.Event):
    started.set()
    for i in range(100_000):  # bounded, so a broken cancel fails the test instead of hanging it
        cancel.raise_if_cancelled()
        progress(i / 100_000, "working")
        time.sleep(0.001)  # stands in for one batch of work
    return "not cancelled"


def test_bridge_cancel_gives_sig_cancelled_and_no_thread_left(qtbot):
    bridge = EngineBridge()
    results = []
    started = threading.Event()
    with qtbot.waitSignal(bridge.sig_started, timeout=10_000):
        job = bridge.submit(_until_cancelled, started=started)
        job.sig_result.connect(results.append)
    qtbot.waitUntil(started.is_set, timeout=10_000)  # sig_started comes just before the function runs
    assert bridge.running() == 1 and job.state == "running"
    with qtbot.waitSignals([bridge.sig_cancelled, bridge.sig_finished], order="strict", timeout=10_000):
        assert bridge.cancel(job.id)
    assert results == [] and job.state == "cancelled"
    assert bridge.wait_all(5_000) and bridge.running() == 0 and bridge.active_threads() == 0
    assert not bridge.cancel(job.id)  # already over


def test_bridge_cancel_of_a_queued_job_never_starts_it(qtbot):
    bridge = EngineBridge(max_threads=1)
    started = threading.Event()
    names = []
    bridge.sig_started.connect(lambda jid, name: names.append(name))
    with qtbot.waitSignal(bridge.sig_started, timeout=10_000):
        first = bridge.submit(_until_cancelled, started=started, name="first")
    second = bridge.submit(_answer, 1, name="second")  # queued behind the first (one thread)
    bridge.cancel(second.id)
    with qtbot.waitSignal(bridge.sig_cancelled, check_params_cb=lambda jid: jid == second.id, timeout=10_000):
        bridge.cancel(first.id)
    qtbot.waitUntil(lambda: bridge.running() == 0, timeout=10_000)
    assert names == ["first"] and second.state == "cancelled"
    assert bridge.wait_all(5_000) and bridge.active_threads() == 0


def test_wait_all_delivers_the_outcome_without_an_event_loop(qtbot):
    bridge = EngineBridge()
    results = []
    bridge.submit(_answer, 1, plus=2).sig_result.connect(results.append)
    assert bridge.wait_all(10_000)  # what quitting relies on: no processEvents loop needed
    assert results == [3] and bridge.running() == 0


def _chatty(*, progress, cancel, n: int):
    for i in range(n + 1):
        progress(i / n, "step")
    return n


def test_bridge_throttles_progress(qtbot):
    bridge = EngineBridge()
    seen: list[tuple[float, str]] = []
    bridge.sig_progress.connect(lambda jid, f, m: seen.append((f, m)))
    t0 = time.monotonic()
    with qtbot.waitSignal(bridge.sig_finished, timeout=30_000):
        bridge.submit(_chatty, n=200_000)
    elapsed = time.monotonic() - t0
    assert seen, "no progress at all"
    assert len(seen) <= elapsed * 20 + 3  # ~20 per second at most, whatever the job calls
    assert seen[-1][0] == 1.0  # the last update is flushed, so the bar ends where the job did
    # (even when the step to it was too small to send on its own: the final flush may be tiny)
    assert all(b[0] - a[0] >= 0.001 or b[1] != a[1] for a, b in list(zip(seen, seen[1:]))[:-1])


def test_run_sync_runs_on_the_calling_thread_and_raises():
    assert EngineBridge.run_sync(_answer, 1, plus=1) == 2
    with pytest.raises(ValueError, match="boom"):
        EngineBridge.run_sync(_boom)
    from genrec_engine import CancelToken

    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        EngineBridge.run_sync(_until_cancelled, cancel=token, started=threading.Event())


# ------------------------------------------------------------------------------- the real app


def _run_app(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    return subprocess.run(
        [sys.executable, "-m", "app.main", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=SUBPROCESS_S,
    )


def test_screenshot_of_the_overview(tmp_path):
    proc = _run_app("--screenshot", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    png = tmp_path / "overview.png"
    assert png.is_file() and png.stat().st_size > 20_000
    img = QImage(str(png))
    assert (img.width(), img.height()) == (1280, 800)
    colours = {img.pixel(x, y) for x in range(0, 1280, 7) for y in range(0, 800, 7)}
    assert len(colours) > 20  # text, cards and a table, not a blank window


def test_screenshot_of_a_bad_project_exits_1_with_the_message(tmp_path):
    proc = _run_app(str(tmp_path / "nope"), "--screenshot", str(tmp_path / "shots"))
    assert proc.returncode == 1
    assert "not a GenRec project" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "shots" / "overview.png").exists()


def test_app_starts_and_quits(tmp_path):
    proc = _run_app("--quit-after", "1500")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr


# --------------------------------------------------------------------------------- linked panels


def test_selecting_a_tree_node_lists_its_items_and_selects_them_on_the_map(window, qtbot):
    import numpy as np

    sids = window.snapshot.project.sids
    prefix = tuple(int(c) for c in sids.codes[1, :2])
    expected = sids.items_with_prefix(prefix)
    window.tabs.setCurrentWidget(window.tree)
    with qtbot.waitSignal(window.selection.sig_changed, timeout=LOAD_MS) as blocker:
        assert window.tree.select_prefix(prefix)
    assert blocker.args[0].source == "tree" and blocker.args[0].prefix == prefix
    assert window.tree.selected_prefix() == prefix
    assert sorted(window.tree.table.model().item_indices().tolist()) == sorted(expected.tolist())
    # panels on hidden tabs follow the selection when their tab is shown, not on every tree click
    assert len(window.map.highlighted_items()) == 0
    window.tabs.setCurrentWidget(window.map)
    qtbot.waitUntil(lambda: window.map.positions() is not None and len(window.map.highlighted_items()) > 0,
                    timeout=LOAD_MS)
    np.testing.assert_array_equal(np.sort(window.map.highlighted_items()), np.sort(expected))
    # the weights panel follows the first selected item
    window.tabs.setCurrentWidget(window.weights)
    qtbot.waitUntil(lambda: window.weights.shown_item() == int(expected[0]), timeout=LOAD_MS)
    qtbot.waitUntil(lambda: window.bridge.running() == 0, timeout=LOAD_MS)


def test_a_map_click_selects_the_item_in_the_tree(window, qtbot):
    qtbot.waitUntil(lambda: window.map.positions() is not None, timeout=LOAD_MS)
    item = 1
    sid = window.snapshot.project.sids.sid(item)
    window.selection.select_items([item], "map")
    qtbot.waitUntil(lambda: window.tree.selected_prefix() == tuple(sid), timeout=LOAD_MS)
    window.tabs.setCurrentWidget(window.weights)
    qtbot.waitUntil(lambda: window.weights.shown_item() == item, timeout=LOAD_MS)
    qtbot.waitUntil(lambda: window.bridge.running() == 0, timeout=LOAD_MS)
