"""Audited generations in the diagnostics panel: ``audit_file`` adds an "Audit: <file>" entry whose
figures, histograms, level drift and worst users are the engine's ``audit_generations`` /
``audit_users``; a click selects the user's target and first listed item; a bad file is one error
line; a project without a generator shows the audit instead of its "no generator" page."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QLabel, QPushButton, QSpinBox, QTableView

import app
from app.bridge import EngineBridge
from app.panels import load_project
from app.panels.diagnostics import SOURCE, CountHistogram, DiagnosticsPanel, audits
from app.panels.diagnostics.models import AuditUsersModel, LevelDriftModel
from genrec_engine import Project
from genrec_engine.cli import main as cli_main
from genrec_engine.interop.audit import audit_generations, audit_users

from .helpers import mount_panel

WAIT_MS = 60_000
INVALID_SID = [999, 999, 999, 999]  # codes no item has


@pytest.fixture(scope="module")
def generations(tmp_path_factory, snapshot):
    """Our RAN's top-20 lists of 50 test users (``genrec eval --dump``), with invalid and duplicate
    SIDs put into three users' lists so the worst-users table has rows."""
    folder = tmp_path_factory.mktemp("audit-panel")
    dump = folder / "ran-50.jsonl"
    code = cli_main(["eval", "--project", str(app.DEFAULT_PROJECT), "--model", "ran", "--users", "50", "--no-record",
                     "--device", "cpu", "--dump", str(dump), "--json"])
    assert code == 0
    rows = [json.loads(line) for line in dump.read_text().splitlines()]
    assert len(rows) == 50
    for r, (n_invalid, n_duplicate) in zip((3, 10, 20), ((2, 1), (0, 3), (1, 0))):
        ranked = rows[r]["ranked"]
        ranked[1:1] = [INVALID_SID] * n_invalid + [ranked[0]] * n_duplicate
        rows[r]["ranked"], rows[r]["scores"] = ranked[:20], None
    dump.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return dump


@pytest.fixture(scope="module")
def reference(snapshot, generations):
    """The engine's audit of the file: the report and the per-user figures."""
    return audit_generations(snapshot.project, generations, k=10), audit_users(snapshot.project, generations, k=10)


@pytest.fixture(scope="module")
def no_generator_snapshot(tmp_path_factory):
    """The bundled project without its generators (as an imported SID table gives)."""
    folder = tmp_path_factory.mktemp("no-gen") / "project"
    folder.mkdir()
    src = app.DEFAULT_PROJECT
    for name in ("project.json", "embeddings.npy", "sids.parquet", "tokenizer.safetensors"):
        shutil.copy2(src / name, folder / name)
    meta = json.loads((src / "project.json").read_text())
    meta["dataset"]["path"] = str(Project.open(src).dataset_path)
    (folder / "project.json").write_text(json.dumps(meta))
    return EngineBridge.run_sync(load_project, folder)


def _w(panel, cls, name):
    widget = panel.findChild(cls, name)
    assert widget is not None, name
    return widget


def _click(qtbot, table: QTableView, row: int) -> None:
    index = table.model().index(row, 2)
    table.scrollTo(index)
    rect = table.visualRect(index)
    assert table.viewport().rect().contains(rect.center())
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def _audit(qtbot, panel, path):
    """``audit_file(path)`` and wait for its result to be shown."""
    with qtbot.waitSignal(panel.sig_ready, timeout=WAIT_MS):
        panel.audit_file(path)
    assert not panel.state.busy and panel.screenshot_ready()


def _assert_shows(panel, reference) -> None:
    """The panel shows the engine's audit: figures, histograms, level drift, worst users."""
    report, users = reference
    result = panel.state.audit
    assert result is not None and panel.state.result is None
    assert result.report.to_dict() | {"project": ""} == report.to_dict() | {"project": ""}
    # the summary figures are the engine's numbers, and the label shows each one's text
    shown = {key: value for key, _, value, _ in audits.figures(result)}
    assert shown["invalid_rate"] == report.invalid_rate > 0 and shown["duplicate_rate"] == report.duplicate_rate > 0
    assert shown["group_rate"] == report.group_rate
    for level, name in (("sid", report.sid_level), ("item", report.item_level)):
        assert shown[f"{level}:recall@10"] == name["recall@10"] and shown[f"{level}:ndcg@10"] == name["ndcg@10"]
    for metric in ("coverage@10", "homogeneity@10", "popularity@10"):
        assert shown[f"item:{metric}"] == report.item_level[metric]
    summary = _w(panel, QLabel, "summary").text()
    assert all(text in summary for *_, text in audits.figures(result))
    assert audits.pct(report.invalid_rate) in summary and f"{report.item_level['recall@10']:.3f}" in summary
    # the histograms: users per homogeneity@10 and per invalid count, from the engine's per-user figures
    homogeneity_plot, invalid_plot = _w(panel, CountHistogram, "homogeneity_plot"), _w(panel, CountHistogram,
                                                                                         "invalid_plot")
    assert homogeneity_plot.counts().sum() == np.isfinite(users.homogeneity).sum() == len(users)
    assert homogeneity_plot.mean_line.value() == pytest.approx(report.item_level["homogeneity@10"])
    np.testing.assert_array_equal(invalid_plot.counts(), np.bincount(users.invalid, minlength=11))
    assert "among the file's first 10" in invalid_plot.title_text()
    # level drift: one row per SID level, the engine's shares
    drift = _w(panel, QTableView, "level_drift_table")
    assert drift.isVisible() and drift.model().rowCount() == len(report.level_drift)
    for row, d in enumerate(report.level_drift):
        cells = [drift.model().index(row, c).data() for c in range(5)]
        assert cells[1] == f"{d['users']:,}" and cells[2] == audits.pct(d["accuracy"])
    # the users table: every user, worst first as the report lists them
    table = _w(panel, QTableView, "audit_users_table")
    model = table.model()
    assert table.isVisible() and not _w(panel, QTableView, "users_table").isVisible()
    assert model.rowCount() == report.users == len(users)
    top = [(model.index(r, 0).data(Qt.ItemDataRole.UserRole), model.index(r, 1).data(Qt.ItemDataRole.UserRole),
            model.index(r, 3).data()) for r in range(len(report.worst_users))]
    assert top == [(w["user_id"], w["line"], f"{w['invalid']} + {w['duplicate']}") for w in report.worst_users]
    # our generators' settings do not apply: hidden, with a note saying where the lists came from
    assert not _w(panel, QPushButton, "run").isVisible() and not _w(panel, QSpinBox, "beam").isVisible()
    assert not _w(panel, QSpinBox, "users").isVisible()
    note = _w(panel, QLabel, "audit_note")
    assert note.isVisible() and result.name in note.text() and "nothing is decoded" in note.text()


def test_audit_entry_shows_the_engine_figures_and_selects_users(qtbot, snapshot, generations, reference):
    panel, vm, selection, bridge = mount_panel(qtbot, DiagnosticsPanel, snapshot)
    qtbot.waitUntil(panel.screenshot_ready, timeout=WAIT_MS)  # the automatic first run of the RAN
    own_run = panel.state.result
    assert own_run is not None
    _audit(qtbot, panel, generations)
    chooser = _w(panel, QComboBox, "generator")
    labels = [chooser.itemText(i) for i in range(chooser.count())]
    assert labels == [panel.state.label(k) for k in panel.state.kinds] + [f"Audit: {generations.name}"]
    assert chooser.currentText() == f"Audit: {generations.name}" and panel.state.audit_mode
    assert panel.state.status.startswith("Audited 50 users") and not _w(panel, QLabel, "error").isVisible()
    _assert_shows(panel, reference)

    # a click on the worst user selects its target, then its first listed item
    report, users = reference
    table = _w(panel, QTableView, "audit_users_table")
    worst = report.worst_users[0]
    r = int(np.flatnonzero(users.user_ids == worst["user_id"])[0])
    first = int(users.items[r][users.items[r] >= 0][0])
    expected = (int(users.targets[r]),) + ((first,) if first != users.targets[r] else ())
    with qtbot.waitSignal(selection.sig_changed, timeout=WAIT_MS) as blocker:
        _click(qtbot, table, 0)
    assert blocker.args[0].items == expected and blocker.args[0].source == SOURCE
    line = _w(panel, QLabel, "user_line").text()
    assert f"<b>User {worst['user_id']}</b> (line {worst['line']})" in line
    # another row of the table: the same rule
    with qtbot.waitSignal(selection.sig_changed, timeout=WAIT_MS) as blocker:
        _click(qtbot, table, 30)
    r = table.model().index(30, 0).data(AuditUsersModel.ROW_ROLE)
    assert blocker.args[0].items == tuple(audits.selected_items(users, r))

    # back to our own generator: its cached run, its settings; the audit entry stays in the chooser
    chooser.setCurrentIndex(0)
    assert panel.state.result is own_run and not panel.state.audit_mode and bridge.running() == 0
    assert _w(panel, QTableView, "users_table").isVisible() and _w(panel, QPushButton, "run").isVisible()
    assert not _w(panel, QTableView, "level_drift_table").isVisible()
    assert not _w(panel, QLabel, "audit_note").isVisible()
    assert "unconstrained" in _w(panel, CountHistogram, "invalid_plot").title_text()
    chooser.setCurrentIndex(chooser.count() - 1)
    _assert_shows(panel, reference)

    # a new project (here: the same one again) drops the audit entries
    vm.set_snapshot(snapshot)
    assert panel.state.audits == {} and chooser.count() == len(panel.state.kinds)
    bridge.wait_all()


def test_a_bad_file_shows_one_error_line(qtbot, snapshot, tmp_path):
    panel, vm, selection, bridge = mount_panel(qtbot, DiagnosticsPanel, snapshot)
    qtbot.waitUntil(panel.screenshot_ready, timeout=WAIT_MS)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"user_id": 1, "ranked": [[1, 2, 3, 0]]}) + "\n" + '{"user_id": 3, "ranked": [[1,\n')
    stranger = tmp_path / "stranger.jsonl"
    stranger.write_text(json.dumps({"user_id": 987654321, "ranked": [[1, 2, 3, 0]]}) + "\n")
    for path, expected in ((bad, f"Could not audit bad.jsonl: {bad}:2: bad JSON"),
                           (stranger, f"Could not audit stranger.jsonl: {stranger}:1 [user_id]: user 987654321 is "
                                      "not in the project's dataset"),
                           (tmp_path / "missing.jsonl", f"Could not audit missing.jsonl: {tmp_path / 'missing.jsonl'}: "
                                                        "no such file")):
        with qtbot.waitSignal(panel.sig_audit_failed, timeout=WAIT_MS) as failed:
            panel.audit_file(path)
        error = _w(panel, QLabel, "error")
        assert error.isVisible() and error.text() == failed.args[0] and error.text().startswith(expected)
        assert "\n" not in error.text() and "Traceback" not in error.text()
        assert panel.state.audits == {} and not panel.state.busy and panel.state.status == "Failed."
    chooser = _w(panel, QComboBox, "generator")
    assert [chooser.itemData(i) for i in range(chooser.count())] == list(panel.state.kinds)  # no entry added
    assert panel.state.result is not None  # the run shown before stays
    bridge.wait_all()


def test_a_project_without_a_generator_shows_the_audit(qtbot, no_generator_snapshot, generations, reference, tmp_path):
    panel, vm, selection, bridge = mount_panel(qtbot, DiagnosticsPanel, no_generator_snapshot)
    assert panel.state.page == "no_generator" and _w(panel, QLabel, "no_generator_message").isVisible()
    assert "Audit generations" in _w(panel, QLabel, "no_generator_message").text()
    # a failing audit: the error line shows above the "no generator" page
    with qtbot.waitSignal(panel.sig_audit_failed, timeout=WAIT_MS):
        panel.audit_file(tmp_path / "nowhere.jsonl")
    assert panel.state.page == "no_generator" and _w(panel, QLabel, "error").isVisible()
    # a newer request supersedes an older one: only the second file's audit arrives
    with qtbot.assertNotEmitted(panel.sig_audit_failed):
        panel.audit_file(tmp_path / "nowhere-either.jsonl")
        _audit(qtbot, panel, generations)
    assert panel.state.page == "diagnostics" and _w(panel, QTableView, "audit_users_table").isVisible()
    assert not _w(panel, QLabel, "error").isVisible()
    chooser = _w(panel, QComboBox, "generator")
    assert [chooser.itemText(i) for i in range(chooser.count())] == [f"Audit: {generations.name}"]
    _assert_shows(panel, reference)
    vm.set_snapshot(no_generator_snapshot)  # the project changes: the audit is dropped
    assert panel.state.page == "no_generator" and chooser.count() == 0
    bridge.wait_all()


def test_audit_models_pass_qmodeltester(qtmodeltester, snapshot, generations):
    result = EngineBridge.run_sync(audits.run_audit, snapshot.project, str(generations))
    users, drift = AuditUsersModel(), LevelDriftModel()
    qtmodeltester.check(users)
    qtmodeltester.check(drift)
    users.set_result(result)
    drift.set_result(result)
    qtmodeltester.check(users)
    qtmodeltester.check(drift)
    for column in range(users.columnCount()):
        users.sort(column, Qt.SortOrder.AscendingOrder)
        users.sort(column, Qt.SortOrder.DescendingOrder)
        assert users.headerData(column, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole)
    qtmodeltester.check(users)
