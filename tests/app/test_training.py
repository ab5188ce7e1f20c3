"""Training monitor panel: metrics table, live curves, cancel, working copies, Save As, tokenizer
health, and the GUI-stall benchmark's report. Every wait is on a signal or a condition."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

import app
from app.bridge import EngineBridge
from app.panels import ProjectViewModel, load_project
from app.panels.training import TrainingPanel, saved_test_metrics
from app.selection import Selection

from .helpers import mount_panel
from genrec_engine.testing import make_tiny_project
from genrec_engine import Project

pytestmark = [
    pytest.mark.qt_log_level_fail("WARNING"),
    pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints"),
]

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
    panel.kind_combo.setCurrentIndex(panel.kind_combo.findData(kind))
    panel.epochs_spin.setValue(epochs)
    panel.eval_spin.setValue(eval_every)
    panel.patience_spin.setValue(1000)
    panel.dmodel_spin.setValue(16)
    panel.layers_spin.setValue(1)
    panel.batch_spin.setValue(64)


# ------------------------------------------------------------------------------------------ tests


def test_bundled_metrics_table_shows_ran_and_sasrec(qtbot, qtmodeltester, bundled_snapshot):
    panel, bridge = _panel(qtbot, bundled_snapshot)
    assert panel.screenshot_ready()
    with qtbot.waitSignal(panel.sig_ready, timeout=5_000):
        pass
    assert panel.page() == "project"
    model = panel.metrics_model
    qtmodeltester.check(model)
    kinds = [model.index(r, 0).data(256) for r in range(model.rowCount())]  # UserRole: the raw kind
    assert {"ran", "sasrec"} <= set(kinds)
    col = {model.headerData(c, Qt.Orientation.Horizontal): c for c in range(model.columnCount())}
    ran = kinds.index("ran")
    saved = json.loads((Path(app.DEFAULT_PROJECT) / "metrics.json").read_text())["ran"]
    assert model.index(ran, col["Recall@10"]).data() == f"{saved_test_metrics(saved)['recall@10']:.4f}"  # the bundled value
    sas = json.loads((Path(app.DEFAULT_PROJECT) / "metrics.json").read_text())["sasrec"]
    assert sas["compacted"]["storage"] == "float16"  # the bundled SASRec: the figures of those weights
    assert model.index(kinds.index("sasrec"), col["NDCG@10"]).data() == f"{sas['compacted']['test']['ndcg@10']:.4f}"
    assert model.index(ran, col["Best epoch"]).data() == str(saved["best_epoch"])
    total = saved["train_seconds"] + sum(r["train_seconds"] for r in saved["resumed"])  # every run that built it
    assert model.index(ran, col["Train time"]).data() == f"{total / 60:.1f} min"
    assert panel.metrics_table.isVisibleTo(panel)
    # the saved history is drawn as reference curves for the selected kind (epochs with a loss)
    panel.kind_combo.setCurrentIndex(panel.kind_combo.findData("ran"))
    x, _ = panel.ref_loss_curve.getData()
    assert x is not None and list(x) == [r["epoch"] for r in saved["history"] if "loss" in r] and len(x) > 10
    # the tokenizer health table starts with the project's own tokenizer, one row per level
    qtmodeltester.check(panel.health_model)
    assert panel.health_model.rowCount() == 3
    assert bridge.running() == 0


def test_no_metrics_json_is_explained(qtbot, tiny_project):
    snapshot = EngineBridge.run_sync(load_project, tiny_project)
    panel, _ = _panel(qtbot, snapshot)
    assert panel.metrics_model.rowCount() == 0
    assert "no <code>metrics.json</code>" in panel._metrics_note.text()
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
    curves = (panel.loss_curve, panel.recall_curve, panel.ndcg_curve)
    calls = []
    original = panel.loss_curve.setData
    panel.loss_curve.setData = lambda *a, **k: (calls.append(len(a[0]) if a else 0), original(*a, **k))[1]
    assert panel.train_button.isEnabled() and panel.retokenize_button.isEnabled()
    assert not panel.cancel_button.isEnabled() and not panel.save_button.isEnabled()  # nothing to save yet
    with qtbot.waitSignal(panel.sig_training_finished, timeout=JOB_MS) as blocker:
        panel.train_button.click()
        assert panel.busy()
        assert not panel.train_button.isEnabled() and panel.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: bridge.running() == 0, timeout=JOB_MS)
    record = blocker.args[0]
    assert record["model"] == "sasrec" and "recall@10" in record["test"]
    # the curves are the same objects, fed with one point per epoch
    assert (panel.loss_curve, panel.recall_curve, panel.ndcg_curve) == curves
    assert max(calls) >= 1
    x, y = panel.loss_curve.getData()
    assert list(x) == [1, 2, 3] and all(v > 0 for v in y)
    assert len(panel.recall_curve.getData()[0]) == 3
    # the open project is untouched; the working copy holds the new generator
    assert _hashes(tiny_project) == before
    work = panel.working_copy()
    assert work is not None and work != tiny_project and Path(record["project_path"]) == work
    assert (work / "generator-sasrec.safetensors").is_file()
    rows = panel.metrics_model.rows()
    assert [r["_where"] for r in rows] == ["working copy"]
    # Save As writes a project that the engine opens again
    assert panel.save_button.isEnabled()
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
        panel.cancel_button.click()
    qtbot.waitUntil(lambda: bridge.running() == 0 and bridge.active_threads() == 0, timeout=JOB_MS)
    assert not panel.busy() and panel.train_button.isEnabled() and not panel.cancel_button.isEnabled()
    assert "Cancelled" in panel._status.text()
    assert _hashes(tiny_project) == before


def test_retokenize_fills_health_table(qtbot, qtmodeltester, tiny_project):
    before = _hashes(tiny_project)
    snapshot = EngineBridge.run_sync(load_project, tiny_project)
    panel, bridge = _panel(qtbot, snapshot)
    assert panel.health_model.rowCount() == 2  # the project's own 2-level tokenizer
    panel.method_combo.setCurrentIndex(panel.method_combo.findData("rkmeans"))
    panel.levels_spin.setValue(3)
    panel.codebook_spin.setValue(8)
    with qtbot.waitSignal(panel.sig_tokenized, timeout=JOB_MS) as blocker:
        assert panel.retokenize() is not None
    qtbot.waitUntil(lambda: bridge.running() == 0, timeout=JOB_MS)
    qtmodeltester.check(panel.health_model)
    rows = panel.health_model.rows()
    assert [r["level"] for r in rows] == [1, 2, 3]
    assert all(0 < r["utilization"] <= 1 and 0 <= r["dead_codes"] <= 8 for r in rows)
    # collisions can only shrink as levels are added, and 8 codewords cannot separate 400 items at level 1
    assert rows[0]["collisions"] >= rows[1]["collisions"] >= rows[2]["collisions"] and rows[0]["collisions"] >= 392
    assert "Re-tokenized" in panel._health_title.text()
    work = Path(blocker.args[0]["project_path"])
    assert panel.working_copy() == work
    assert Project.open(work).sids.level_sizes[:3] == (8, 8, 8)
    assert _hashes(tiny_project) == before


def test_error_is_shown_not_raised(qtbot, tiny_project):
    snapshot = EngineBridge.run_sync(load_project, tiny_project)
    panel, bridge = _panel(qtbot, snapshot)
    _small_settings(panel, "sasrec", epochs=1)
    panel.dmodel_spin.setValue(24)
    panel.layers_spin.setValue(1)
    panel._model_config = lambda kind: {"d_model": 24, "n_heads": 5}  # not a multiple: the engine refuses
    with qtbot.waitSignal(bridge.sig_error, timeout=JOB_MS):
        panel.train()
    qtbot.waitUntil(lambda: bridge.running() == 0, timeout=JOB_MS)
    assert panel._error.isVisibleTo(panel) and "multiple" in panel._error.text()
    assert "Traceback" not in panel._error.text()


def test_more_settings_reach_the_engine_and_bad_json_is_explained(qtbot, tiny_project):
    snapshot = EngineBridge.run_sync(load_project, tiny_project)
    panel, bridge = _panel(qtbot, snapshot)
    _small_settings(panel, "ran", epochs=1)
    for bad, words in (('{"node_levels": 1', "column"), ("[1, 2]", "JSON object")):
        panel.more_edit.setText(bad)
        assert panel.train() is None and not panel.busy()
        assert panel._error.isVisibleTo(panel) and words in panel._error.text() and "More settings" in panel._error.text()
    panel.more_edit.setText('{"node_levels": 1, "item_input": "codes+id"}')
    with qtbot.waitSignal(panel.sig_training_finished, timeout=JOB_MS) as blocker:
        assert panel.train() is not None
    qtbot.waitUntil(lambda: bridge.running() == 0, timeout=JOB_MS)
    cfg = blocker.args[0]["model_config"]
    assert cfg["node_levels"] == 1 and cfg["item_input"] == "codes+id" and cfg["d_model"] == 16
    assert not panel._error.isVisibleTo(panel)
    panel.more_edit.setText('{"node_levels": 9}')  # more levels than the SIDs have: the engine refuses
    with qtbot.waitSignal(bridge.sig_error, timeout=JOB_MS):
        panel.train()
    qtbot.waitUntil(lambda: bridge.running() == 0, timeout=JOB_MS)
    assert "node_levels" in panel._error.text() and "Traceback" not in panel._error.text()


def test_stall_benchmark_reports_and_trains(qtbot, tmp_path):
    from app.stall import measure_stall

    out = measure_stall(seconds=1.0, baseline_seconds=0.3, work_dir=tmp_path, items=300, users=80)
    assert set(out) >= {"max_stall_ms", "p99_stall_ms", "ticks", "training_seconds", "baseline_max_stall_ms"}
    assert out["ticks"] > 0 and out["epochs"] >= 1 and out["training_seconds"] > 0


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
    x, _ = panel.loss_curve.getData()
    assert x is None or len(x) == 0
    assert not panel.busy()
