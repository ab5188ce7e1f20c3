"""The window's file actions: dataset folders with problems, save as, recent projects."""
from __future__ import annotations

import shutil

import pytest
from PySide6.QtCore import QSettings

from app.window import MainWindow

LOAD_MS = 30_000


@pytest.fixture
def window(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(dialogs=False, settings=settings)
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.sig_project_loaded, timeout=LOAD_MS):
        pass
    qtbot.waitUntil(lambda: win.bridge.running() == 0, timeout=LOAD_MS)  # the panels' own start-up jobs
    return win


def _bad_dataset(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "items.csv").write_text("item_id,title\n1,Lipstick\n2,Cleanser\nx,Broken id\n")
    (folder / "interactions.csv").write_text("user_id,item_id\n10,1\n10,2\n10,99\n")
    return folder


def test_bad_dataset_lists_its_problems_and_keeps_the_open_project(window, qtbot, tmp_path):
    before = window.snapshot
    files = {f.name: f.read_bytes() for f in before.path.iterdir() if f.is_file()}
    job = window.open_dataset(_bad_dataset(tmp_path))
    qtbot.waitUntil(lambda: window.problems_dialog is not None, timeout=LOAD_MS)
    qtbot.waitUntil(lambda: job.finished, timeout=LOAD_MS)
    model = window.problems_dialog.model
    rows = [[model.index(r, c).data() for c in range(model.columnCount())] for r in range(model.rowCount())]
    assert any(r[1] == "items.csv" and r[2] == "4" and r[3] == "item_id" for r in rows), rows
    assert any(r[1] == "interactions.csv" and "99" in r[4] for r in rows), rows
    assert "error" in window.problems_dialog.summary.text()
    assert window.snapshot is before  # nothing lost: the same project stays open
    assert {f.name: f.read_bytes() for f in before.path.iterdir() if f.is_file()} == files


def test_problem_table_model_is_a_valid_qt_model(window, qtbot, tmp_path, qtmodeltester):
    window.open_dataset(_bad_dataset(tmp_path))
    qtbot.waitUntil(lambda: window.problems_dialog is not None, timeout=LOAD_MS)
    qtmodeltester.check(window.problems_dialog.model)


def test_save_as_copies_the_project_and_opens_the_copy(window, qtbot, tmp_path):
    original = window.snapshot.path
    dest = tmp_path / "copy"
    window.save_project_as(dest)
    with qtbot.waitSignal(window.sig_project_loaded, timeout=LOAD_MS) as blocker:
        pass
    assert blocker.args[0].path == dest
    assert (dest / "generator-ran.safetensors").read_bytes() == (original / "generator-ran.safetensors").read_bytes()
    assert blocker.args[0].project.sids.n_items == 12_101
    recent = window.recent_projects()
    assert recent[0] == str(dest.resolve()) and str(original.resolve()) in recent
    qtbot.waitUntil(lambda: window.bridge.running() == 0, timeout=LOAD_MS)  # the panels' jobs on the copy
    shutil.rmtree(dest)
    assert str(dest.resolve()) not in window.recent_projects()  # vanished folders drop out


def test_save_as_refuses_a_folder_holding_a_project_and_a_recovery_is_shown(window, qtbot, tmp_path):
    """Save as never overwrites another project; opening a project whose last change was cut off
    by a crash says in the status bar what was done about it."""
    original = window.snapshot.path
    dest = tmp_path / "copy"
    job = window.save_project_as(dest)
    qtbot.waitUntil(lambda: job.finished, timeout=LOAD_MS)
    qtbot.waitUntil(lambda: window.bridge.running() == 0, timeout=LOAD_MS)
    other = tmp_path / "other"
    shutil.copytree(dest, other)
    before = {f.name: f.read_bytes() for f in other.iterdir() if f.is_file()}
    job = window.save_project_as(other)  # the open copy, onto a folder that holds a project
    qtbot.waitUntil(lambda: job.finished, timeout=LOAD_MS)
    assert job.error is not None and "already holds a project" in str(job.error)
    assert {f.name: f.read_bytes() for f in other.iterdir() if f.is_file()} == before
    stage = dest / ".genrec-stage-cut"
    stage.mkdir()
    (stage / ".what").write_text("genrec train --model ran")
    (stage / "metrics.json").write_text("{}")
    window.open_project(dest)
    with qtbot.waitSignal(window.sig_project_loaded, timeout=LOAD_MS):
        pass
    assert "discarded an interrupted change (genrec train --model ran)" in window.statusBar().currentMessage()
    assert not stage.exists() and (dest / "metrics.json").read_bytes() == before["metrics.json"]
    assert original.is_dir()
    qtbot.waitUntil(lambda: window.bridge.running() == 0, timeout=LOAD_MS)


def test_ctrl_f_opens_the_tree_search(window, qtbot):
    from PySide6.QtGui import QKeySequence

    assert window.action_find.shortcut() == QKeySequence(QKeySequence.StandardKey.Find)
    window.show()
    qtbot.waitExposed(window)
    window.tabs.setCurrentWidget(window.overview)
    window.tree._search_edit.setText("lipstick")
    window.action_find.trigger()
    assert window.tabs.currentWidget() is window.tree
    qtbot.waitUntil(lambda: window.tree._search_edit.hasFocus(), timeout=5_000)
    assert window.tree._search_edit.selectedText() == "lipstick"  # typing replaces the last search


def test_users_with_too_few_interactions_can_be_dropped_from_the_problems_dialog(window, qtbot, tmp_path):
    import numpy as np
    from PySide6.QtWidgets import QPushButton

    folder = tmp_path / "extract"
    folder.mkdir()
    items = "".join(f"{i},Item {i},Brand{i % 5},Beauty > Cat{i % 4}\n" for i in range(1, 201))
    (folder / "items.csv").write_text("item_id,title,brand,categories\n" + items)
    rng = np.random.default_rng(1)
    rows = [f"{u},{i}\n" for u in range(1, 61) for i in rng.choice(np.arange(1, 201), 5, replace=False)]
    (folder / "interactions.csv").write_text("user_id,item_id\n" + "".join(rows) + "99,1\n98,2\n98,3\n")
    job = window.open_dataset(folder)
    qtbot.waitUntil(lambda: window.problems_dialog is not None and job.finished, timeout=LOAD_MS)
    dialog = window.problems_dialog
    assert "too few interactions" in dialog.summary.text()
    button = dialog.findChild(QPushButton, "dropShortUsers")
    assert button is not None
    with qtbot.waitSignal(window.sig_project_loaded, timeout=120_000) as blocker:
        button.click()  # checks again without those users, tokenizes into <folder>-project, opens it
    project = blocker.args[0].project
    assert project.meta["dataset"]["short_users"] == "drop" and project.dataset.n_users == 60
    assert project.sids.sizes[0] == 8  # 200 items: a codebook sized to the catalogue, not 256
    qtbot.waitUntil(lambda: window.bridge.running() == 0, timeout=120_000)


def test_help_lists_the_keyboard_shortcuts(window):
    assert window.action_shortcuts.shortcut().toString() == "F1"
    window.action_shortcuts.trigger()
    text = window.shortcuts_box.text()
    for key in ("F10", "Shift+F10", "F5", "Ctrl+Home", "F11", "Ctrl+F", "Enter"):
        assert key in text, key


def test_stepper_keys_work_right_after_its_tab_is_chosen_and_not_on_other_tabs(window, qtbot):
    """Focus on the tab bar (where a click on the tab leaves it): F10 / Shift+F10 still step;
    on another tab they do nothing to the stepper."""
    from PySide6.QtCore import Qt

    stepper = window.stepper
    window.show()
    window.activateWindow()
    qtbot.waitActive(window)
    qtbot.waitUntil(lambda: stepper.state.view is not None and stepper.state.view.done and not stepper.busy(),
                    timeout=LOAD_MS)
    window.tabs.setCurrentWidget(window.tree)
    bar = window.tabs.tabBar()
    bar.setFocus()
    depth = len(stepper.state.view.records)
    qtbot.keyClick(bar, Qt.Key.Key_F10, Qt.KeyboardModifier.ShiftModifier)  # another tab: nothing
    qtbot.wait(200)
    assert len(stepper.state.view.records) == depth
    window.tabs.setCurrentWidget(stepper)
    bar.setFocus()
    with qtbot.waitSignal(stepper.sig_moved, timeout=LOAD_MS):
        qtbot.keyClick(bar, Qt.Key.Key_F10, Qt.KeyboardModifier.ShiftModifier)  # back one level
    qtbot.waitUntil(lambda: not stepper.busy(), timeout=LOAD_MS)
    assert len(stepper.state.view.records) == depth - 1


def _slow(label: str, *, progress=None, cancel=None):
    """A job that reports one step, then waits to be cancelled (or 5 s)."""
    import time

    progress(0.5, label)
    for _ in range(500):
        if cancel.cancelled:
            cancel.raise_if_cancelled()
        time.sleep(0.01)
    return label


def test_status_bar_says_cancelled_only_for_what_the_user_cancelled(window, qtbot):
    """Panels cancel superseded requests all the time; the status bar said "Cancelled" for each,
    naming nothing the user did. A finished job's last step message does not linger either."""
    bar = window.statusBar()
    job = window.bridge.submit(_slow, "step of a superseded job")
    qtbot.waitUntil(lambda: bar.currentMessage() == "step of a superseded job", timeout=20_000)
    with qtbot.waitSignal(job.sig_finished, timeout=20_000):
        window.bridge.cancel(job.id)  # as a JobScope does when a newer request replaces this one
    assert bar.currentMessage() != "Cancelled"
    assert bar.currentMessage() != "step of a superseded job"  # the stale step is cleared
    job = window.bridge.submit(_slow, "step of the user's job")
    qtbot.waitUntil(lambda: bar.currentMessage() == "step of the user's job", timeout=20_000)
    with qtbot.waitSignal(job.sig_finished, timeout=20_000):
        window.cancel_button.click()
    assert bar.currentMessage() == "Cancelled"


def test_problems_dialog_counts_the_problems_beyond_the_listed_thousand(qtbot):
    """A 300-item extract had 4,343 short users; the dialog said "1000 error(s)" (the listing cap)."""
    from genrec_engine.data.readers import ProblemLog

    from app.dialogs import ProblemsDialog

    log = ProblemLog()
    log.add_many("interactions.csv", list(range(2, 4345)), "user_id",
                 lambda k: f"user {k} has 1 interaction; at least 3 are needed (min_user_interactions), or drop such "
                           "users", what="users with too few interactions")
    dialog = ProblemsDialog("/data/extract", log.problems, on_drop_short_users=lambda: None)
    qtbot.addWidget(dialog)
    text = dialog.summary.text()
    assert "4,343 error(s) (1,000 listed)" in text and "All 4,343 errors are users with too few" in text
    assert dialog.drop_button is not None


def test_open_dataset_starts_at_the_last_dataset_folder_never_in_the_bundled_resources(window, tmp_path):
    """The walk's own-data step found the folder dialog opening inside resources/models."""
    from pathlib import Path

    assert window.dataset_dialog_start() == str(Path.home())  # the bundled project is open
    window.settings.setValue("last_dataset_folder", str(tmp_path))
    assert window.dataset_dialog_start() == str(tmp_path)
