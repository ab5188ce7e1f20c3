"""Training monitor panel: metrics table, live curves, cancel, working copies, Save As, tokenizer
health, and the GUI-stall benchmark's report. Every wait is on a signal or a condition."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

import app
from app.bridge import EngineBridge
from app.panels import ProjectViewModel, load_project
from app.panels.training import TrainingPanel, saved_test_metrics
from app.selection import Selection

from .helpers import mount_panel
from genrec_engine.testing import make_tiny_project
from genrec_engine import Project

BEAUTY = app.RESOURCES / "datasets" / "beauty"
JOB_MS = 120_000  # generous: tiny jobs take about a second


@pytest.fixture(scope="module")
def bundled_snapshot():
    return EngineBridge.run_sync(load_project, app.DEFAULT_PROJECT)


@pytest.fixture(scope="module")
def tiny_project(tmp_path_factory) -> Path:
    """400 Beauty items, 60 seeded users with 6 items each, 2 x 16 residual k-means SIDs."""
    return make_tiny_project(BEAUTY, tmp_path_factory.mktemp("tiny"), items=400, users=60, levels=2, codebook_size=16)


def _hashes(folder: Path) -> dict[str, str]:
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(Path(folder).iterdir()) if f.is_file()}


def _panel(qtbot, snapshot):
    panel, _vm, _selection, bridge = mount_panel(qtbot, TrainingPanel, snapshot)
    return panel, bridge


def _small_settings(panel: TrainingPanel, kind: str = "sasrec", epochs: int = 3, eval_every: int = 1) -> None:
    c = panel.controls
    c.kind_combo.setCurrentIndex(c.kind_combo.findData(kind))
    c.epochs_spin.setValue(epochs)
    c.eval_spin.setValue(eval_every)
    c.patience_spin.setValue(1000)
    c.dmodel_spin.setValue(16)
    c.layers_spin.setValue(1)
    c.batch_spin.setValue(64)


def _label(panel, name: str) -> str:
    """The text of the panel's label with object name ``name``."""
    label = panel.findChild(QLabel, name)
    assert label is not None, name
    return label.text()


# ------------------------------------------------------------------------------------------ tests


def test_bundled_metrics_table_shows_ran_and_sasrec(qtbot, qtmodeltester, bundled_snapshot):
    panel, bridge = _panel(qtbot, bundled_snapshot)
    assert panel.screenshot_ready()
    with qtbot.waitSignal(panel.sig_ready, timeout=5_000):
        pass
    assert panel.page() == "project"
    assert panel.controls.eval_users_spin.value() == 0  # 22,363 users: validation on all of them
    model = panel.metrics_model
    qtmodeltester.check(model)
    kinds = [model.index(r, 0).data(256) for r in range(model.rowCount())]  # UserRole: the raw kind
    assert {"ran", "sasrec"} <= set(kinds)
    col = {model.headerData(c, Qt.Orientation.Horizontal): c for c in range(model.columnCount())}
    ran = kinds.index("ran")
    saved = json.loads((Path(app.DEFAULT_PROJECT) / "metrics.json").read_text())["ran"]
    assert model.index(ran, col["Recall@10"]).data() == f"{saved_test_metrics(saved)['recall@10']:.4f}"  # the bundled value
    sas = json.loads((Path(app.DEFAULT_PROJECT) / "metrics.json").read_text())["sasrec"]
    assert sas["compacted"]["storage"] == "float16"  # the bundled SASRec: genrec eval scored the stored weights
    assert model.index(kinds.index("sasrec"), col["NDCG@10"]).data() == f"{saved_test_metrics(sas)['ndcg@10']:.4f}"
    assert model.index(ran, col["Evaluated"]).data() == saved["evaluations"][-1]["date"][:10]
    assert model.index(ran, col["Best epoch"]).data() == str(saved["best_epoch"])
    total = saved["train_seconds"] + sum(r["train_seconds"] for r in saved["resumed"])  # every run that built it
    assert model.index(ran, col["Train time"]).data() == f"{total / 60:.1f} min"
    assert panel.metrics_table.isVisibleTo(panel)
    # the saved history is drawn as reference curves for the selected kind (epochs with a loss)
    panel.controls.kind_combo.setCurrentIndex(panel.controls.kind_combo.findData("ran"))
    x, _ = panel.plots.ref_loss_curve.getData()
    assert x is not None and list(x) == [r["epoch"] for r in saved["history"] if "loss" in r] and len(x) > 10
    # the tokenizer health table starts with the project's own tokenizer, one row per level
    qtmodeltester.check(panel.health_model)
    assert panel.health_model.rowCount() == 3
    assert bridge.running() == 0


def test_no_metrics_json_is_explained(qtbot, tiny_project):
    snapshot = EngineBridge.run_sync(load_project, tiny_project)
    panel, _ = _panel(qtbot, snapshot)
    assert panel.metrics_model.rowCount() == 0
    assert "no <code>metrics.json</code>" in _label(panel, "metrics_note")
    assert not panel.metrics_table.isVisibleTo(panel)


def test_empty_state_without_project(qtbot):
    vm = ProjectViewModel()
    bridge = EngineBridge()
    panel = TrainingPanel(vm, Selection(), bridge)
    qtbot.addWidget(panel)
    assert panel.page() == "empty" and not panel.screenshot_ready()
    assert panel.train() is None and panel.retokenize() is None


def test_training_curves_working_copy_and_save_as(qtbot, tiny_project, tmp_path):
    before = _hashes(tiny_project)
    snapshot = EngineBridge.run_sync(load_project, tiny_project)
    panel, bridge = _panel(qtbot, snapshot)
    _small_settings(panel, "sasrec", epochs=3, eval_every=1)
    c, plots = panel.controls, panel.plots
    curves = (plots.loss_curve, plots.recall_curve, plots.ndcg_curve)
    calls = []
    original = plots.loss_curve.setData
    plots.loss_curve.setData = lambda *a, **k: (calls.append(len(a[0]) if a else 0), original(*a, **k))[1]
    assert c.train_button.isEnabled() and c.retokenize_button.isEnabled()
    assert not c.cancel_button.isEnabled() and not c.save_button.isEnabled()  # nothing to save yet
    job_states = []
    panel.sig_job_state_changed.connect(lambda busy: job_states.append(("busy", busy)))
    with qtbot.waitSignal(panel.sig_training_finished, timeout=JOB_MS) as blocker:
        c.train_button.click()
        assert panel.busy()
        assert not c.train_button.isEnabled() and c.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: bridge.running() == 0, timeout=JOB_MS)
    record = blocker.args[0]
    assert record["model"] == "sasrec" and "recall@10" in record["valid"] and "test" not in record
    # the curves are the same objects, fed with one point per epoch
    assert (plots.loss_curve, plots.recall_curve, plots.ndcg_curve) == curves
    assert max(calls) >= 1
    x, y = plots.loss_curve.getData()
    assert list(x) == [1, 2, 3] and all(v > 0 for v in y)
    assert len(plots.recall_curve.getData()[0]) == 3
    assert [r["epoch"] for r in panel.epoch_rows()] == [1, 2, 3]  # through the job's sig_partial, in order
    assert job_states == [("busy", True), ("busy", False)]
    # the open project is untouched; the working copy holds the new generator
    assert _hashes(tiny_project) == before
    work = panel.working_copy()
    assert work is not None and work != tiny_project and Path(record["project_path"]) == work
    assert (work / "generator-sasrec.safetensors").is_file()
    rows = panel.metrics_model.rows_data()
    assert [r["_where"] for r in rows] == ["working copy"]
    # Save As writes a project that the engine opens again
    assert c.save_button.isEnabled()
    dest = tmp_path / "saved"
    with qtbot.waitSignal(panel.sig_project_saved, timeout=JOB_MS) as saved:
        assert panel.save_as(dest) is not None
    qtbot.waitUntil(lambda: bridge.running() == 0, timeout=JOB_MS)
    assert Path(saved.args[0]) == dest
    back = Project.open(dest)
    assert back.sids.n_items == 400 and (dest / "generator-sasrec.safetensors").is_file()
    assert back.dataset.n_items == 400  # the dataset reference was rewritten for the new folder
    assert _hashes(tiny_project) == before


def test_cancel_training_leaves_no_job_or_thread(qtbot, tiny_project):
    before = _hashes(tiny_project)
    snapshot = EngineBridge.run_sync(load_project, tiny_project)
    panel, bridge = _panel(qtbot, snapshot)
    _small_settings(panel, "ran", epochs=5000, eval_every=500)
    job_id = panel.train()
    assert job_id is not None and panel.busy()
    qtbot.waitUntil(lambda: len(panel.epoch_rows()) >= 1, timeout=JOB_MS)  # it is really training
    with qtbot.waitSignal(bridge.sig_cancelled, timeout=JOB_MS, check_params_cb=lambda j: j == job_id):
        panel.controls.cancel_button.click()
    qtbot.waitUntil(lambda: bridge.running() == 0 and bridge.active_threads() == 0, timeout=JOB_MS)
    c = panel.controls
    assert not panel.busy() and c.train_button.isEnabled() and not c.cancel_button.isEnabled()
    assert "Cancelled" in _label(panel, "status")
    assert _hashes(tiny_project) == before


def test_retokenize_fills_health_table(qtbot, qtmodeltester, tiny_project):
    before = _hashes(tiny_project)
    snapshot = EngineBridge.run_sync(load_project, tiny_project)
    panel, bridge = _panel(qtbot, snapshot)
    assert panel.health_model.rowCount() == 2  # the project's own 2-level tokenizer
    c = panel.controls
    c.method_combo.setCurrentIndex(c.method_combo.findData("rkmeans"))
    c.levels_spin.setValue(3)
    c.codebook_spin.setValue(8)
    with qtbot.waitSignal(panel.sig_tokenized, timeout=JOB_MS) as blocker:
        assert panel.retokenize() is not None
    qtbot.waitUntil(lambda: bridge.running() == 0, timeout=JOB_MS)
    qtmodeltester.check(panel.health_model)
    rows = panel.health_model.rows_data()
    assert [r["level"] for r in rows] == [1, 2, 3]
    assert all(0 < r["utilization"] <= 1 and 0 <= r["dead_codes"] <= 8 for r in rows)
    # collisions can only shrink as levels are added, and 8 codewords cannot separate 400 items at level 1
    assert rows[0]["collisions"] >= rows[1]["collisions"] >= rows[2]["collisions"] and rows[0]["collisions"] >= 392
    assert "Re-tokenized" in _label(panel, "health_title")
    work = Path(blocker.args[0]["project_path"])
    assert panel.working_copy() == work
    assert Project.open(work).sids.level_sizes[:3] == (8, 8, 8)
    assert _hashes(tiny_project) == before


def test_error_is_shown_not_raised(qtbot, tiny_project):
    snapshot = EngineBridge.run_sync(load_project, tiny_project)
    panel, bridge = _panel(qtbot, snapshot)
    _small_settings(panel, "sasrec", epochs=1)
    panel.controls.dmodel_spin.setValue(24)
    panel.controls.layers_spin.setValue(1)
    panel.controls.more_edit.setText('{"n_heads": 5}')  # 24 is not a multiple of 5: the engine refuses
    with qtbot.waitSignal(bridge.sig_error, timeout=JOB_MS):
        panel.train()
    qtbot.waitUntil(lambda: bridge.running() == 0, timeout=JOB_MS)
    error = panel.controls.error
    assert error.isVisibleTo(panel) and "multiple" in error.text()
    assert "Traceback" not in error.text() and _label(panel, "status") == "Failed." and not panel.busy()


def test_more_settings_reach_the_engine_and_bad_json_is_explained(qtbot, tiny_project):
    snapshot = EngineBridge.run_sync(load_project, tiny_project)
    panel, bridge = _panel(qtbot, snapshot)
    _small_settings(panel, "ran", epochs=1)
    c = panel.controls
    for bad, words in (('{"node_levels": 1', "column"), ("[1, 2]", "JSON object")):
        c.more_edit.setText(bad)
        assert panel.train() is None and not panel.busy()
        assert c.error.isVisibleTo(panel) and words in c.error.text() and "More settings" in c.error.text()
    c.more_edit.setText('{"node_levels": 1, "item_input": "codes+id"}')
    with qtbot.waitSignal(panel.sig_training_finished, timeout=JOB_MS) as blocker:
        assert panel.train() is not None
    qtbot.waitUntil(lambda: bridge.running() == 0, timeout=JOB_MS)
    cfg = blocker.args[0]["model_config"]
    assert cfg["node_levels"] == 1 and cfg["item_input"] == "codes+id" and cfg["d_model"] == 16
    assert not c.error.isVisibleTo(panel)
    c.more_edit.setText('{"node_levels": 9}')  # more levels than the SIDs have: the engine refuses
    with qtbot.waitSignal(bridge.sig_error, timeout=JOB_MS):
        panel.train()
    qtbot.waitUntil(lambda: bridge.running() == 0, timeout=JOB_MS)
    assert "node_levels" in c.error.text() and "Traceback" not in c.error.text()


def test_stall_benchmark_reports_and_trains(qtbot, tmp_path):
    from app.stall import measure_stall

    out = measure_stall(seconds=1.0, idle_seconds=0.3, work_dir=tmp_path)  # the real app on the bundled project
    assert set(out) >= {"max_stall_ms", "loading", "idle", "training"}
    for phase in ("idle", "training"):  # the idle phase is the baseline the training phase compares with
        assert set(out[phase]) >= {"max_stall_ms", "p99_stall_ms", "ticks", "seconds"}
    assert out["idle"]["ticks"] > 0 and out["training"]["ticks"] > 0
    assert out["training"]["epochs"] >= 1 and out["training"]["seconds"] > 0
    for phase in ("loading", "idle", "training"):  # each stall over 100 ms comes with the code it was spent in
        for culprit in out[phase]["culprits"]:
            assert culprit["ms"] > 100 and all(isinstance(w, str) for w in culprit["where"])


def test_closing_the_project_stops_its_job_and_ignores_its_rows(qtbot, tiny_project):
    snapshot = EngineBridge.run_sync(load_project, tiny_project)
    panel, bridge = _panel(qtbot, snapshot)
    _small_settings(panel, "sasrec", epochs=5000, eval_every=500)
    job_id = panel.train()
    qtbot.waitUntil(lambda: len(panel.epoch_rows()) >= 1, timeout=JOB_MS)
    vm = panel._test_refs[0]
    with qtbot.waitSignal(bridge.sig_finished, timeout=JOB_MS, check_params_cb=lambda j: j == job_id):
        vm.set_snapshot(None)
    qtbot.waitUntil(lambda: bridge.running() == 0 and bridge.active_threads() == 0, timeout=JOB_MS)
    assert panel.page() == "empty" and not panel.screenshot_ready()
    assert panel.epoch_rows() == [] and panel.working_copy() is None
    x, _ = panel.plots.loss_curve.getData()
    assert x is None or len(x) == 0
    assert not panel.busy()
