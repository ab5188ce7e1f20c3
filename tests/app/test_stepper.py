"""The beam stepper panel over the bundled project: what it shows equals the engine's own decode.

Every wait is on a signal or a condition (pytest-qt), never a sleep.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from PySide6.QtCore import Qt

import app
from app.bridge import EngineBridge
from app.panels import load_project
from app.panels.stepper import StepperPanel

from .helpers import mount_panel
from genrec_engine import BeamStepper, Project, StepperConfig, held_out_users, load_project_generator
from genrec_engine.decode import beam_search

pytestmark = [
    pytest.mark.qt_log_level_fail("WARNING"),
    pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints"),
]

WAIT_MS = 60_000  # generous: opening takes ~0.5 s, a decode a few ms


@pytest.fixture(scope="module")
def snapshot():
    return EngineBridge.run_sync(load_project, app.DEFAULT_PROJECT)


@pytest.fixture(scope="module")
def users(snapshot):
    return held_out_users(snapshot.project)


@pytest.fixture(scope="module")
def models(snapshot):
    return {kind: load_project_generator(snapshot.project, kind) for kind in ("ran", "tiger")}


@pytest.fixture
def loaded(qtbot, snapshot):
    """A panel over the bundled project with its demo user decoded to the end."""
    panel, vm, selection, bridge = mount_panel(qtbot, StepperPanel, snapshot)
    with qtbot.waitSignal(panel.sig_ready, timeout=WAIT_MS):
        pass
    qtbot.waitUntil(lambda: bridge.running() == 0, timeout=WAIT_MS)
    yield panel, vm, selection, bridge
    bridge.wait_all()


def _decode(qtbot, panel, trigger) -> None:
    """Run ``trigger`` and wait until the stepper it asks for is shown and every job is done."""
    with qtbot.waitSignal(panel.sig_decoded, timeout=WAIT_MS):
        trigger()
    qtbot.waitUntil(lambda: panel._bridge.running() == 0, timeout=WAIT_MS)


def _shown_sids(panel) -> list[str]:
    return [row[2] for row in panel.results_model.rows()]


def _engine_sids(model, stepper_history, trie, **kw) -> list[str]:
    with torch.no_grad():
        res = beam_search(model, stepper_history, trie=trie, beam=20, k=10, **kw)
    return ["-".join(map(str, s)) for s, sc in zip(res.sids[0].tolist(), res.scores[0].tolist()) if sc > -1e30]


# --------------------------------------------------------------------------------------- opening


def test_a_project_opens_a_demo_user_decoded_like_the_engine(loaded, snapshot, users, models, qtmodeltester):
    panel = loaded[0]
    st = panel.stepper()
    assert panel.screenshot_ready() and st.done
    u = panel.current_user()
    assert u is not None and st.history == tuple(int(i) for i in users.histories[u])
    expected = _engine_sids(models["ran"], st.history_tensor, snapshot.project.trie)
    assert _shown_sids(panel) == expected and len(expected) == 10
    # the demo user's true next item is in the list, marked
    marked = [row for row in panel.results_model.rows() if row[4]]
    target = int(users.targets[u])
    assert len(marked) == 1 and marked[0][1] == snapshot.project.dataset.catalogue.title(target)
    # tree: the root, then one column per level; the last column's kept nodes are the final beams
    nodes = panel.tree.nodes()
    assert nodes[0].kind == "root" and max(n.level for n in nodes) == st.depth
    assert sum(1 for n in nodes if n.level == st.depth and n.kind == "kept") == 20
    assert any(n.kind == "pruned" for n in nodes)
    assert [n.prefix for n in nodes if n.on_target] == [tuple(snapshot.project.sids.sid(target)[:l])
                                                       for l in range(st.depth + 1)]
    for model in (panel.history_model, panel.candidates_model, panel.results_model):
        qtmodeltester.check(model)


def test_open_user_shows_that_users_history(qtbot, loaded, snapshot, users):
    panel = loaded[0]
    u = 123 if panel.current_user() != 123 else 124
    _decode(qtbot, panel, lambda: panel.open_user(u))
    cat = snapshot.project.dataset.catalogue
    hist = [int(i) for i in users.histories[u]]
    assert panel.history() == tuple(hist)
    assert [row[1] for row in panel.history_model.rows()] == [cat.title(i) or f"item {i}" for i in hist]
    assert panel.controls["user"].value() == u and panel.current_user() == u
    assert panel.stepper().history == tuple(hist) and panel.stepper().done
    assert "true next" in panel._user_label.text()


# --------------------------------------------------------------------------------------- moving


def test_step_then_back_restores_the_same_view(qtbot, loaded):
    panel = loaded[0]
    panel.reset()
    assert panel.view_state()["level"] == 0 and panel.results_model.rowCount() == 0
    at0 = panel.view_state()
    panel.step()
    at1 = panel.view_state()
    assert at1["level"] == 1 and at1 != at0 and at1["candidates"]
    panel.step()
    at2 = panel.view_state()
    assert at2["level"] == 2 and at2["tree"] != at1["tree"]
    panel.back()
    assert panel.view_state() == at1
    panel.back()
    assert panel.view_state() == at0
    assert not panel.buttons["back"].isEnabled() and panel.buttons["step"].isEnabled()
    panel.run_to_end()
    assert panel.view_state()["results"] and not panel.buttons["step"].isEnabled()


def test_forcing_a_pruned_candidate_changes_the_path_and_the_list(qtbot, loaded, snapshot, models):
    panel = loaded[0]
    before = _shown_sids(panel)
    history = panel.stepper().history
    panel.reset()
    panel.step()  # level 1: pick a candidate the beam pruned
    rows = panel.candidates_model.rows()
    r = next(i for i, row in enumerate(rows) if row[-1] == "pruned")
    beam, token, masked = panel.candidates_model.candidate(r)
    assert not masked
    panel.candidates_view.selectRow(r)
    assert panel.buttons["force"].isEnabled()
    qtbot.mouseClick(panel.buttons["force"], Qt.MouseButton.LeftButton)
    assert panel.stepper().level == 1
    forced_rows = [row for row in panel.candidates_model.rows() if row[-1] == "forced"]
    assert forced_rows and all(row[1] == str(token) for row in forced_rows)
    assert [n.prefix for n in panel.tree.nodes() if n.forced] == [(token,)]
    panel.run_to_end()
    after = _shown_sids(panel)
    assert after != before and all(s.split("-")[0] == str(token) for s in after)
    # the engine, forced the same way, finds the same list
    ref = BeamStepper(models["ran"], snapshot.project.trie, history, config=StepperConfig(beam=20, k=10))
    ref.force(beam, token)
    ref.run_to_end()
    assert after == ["-".join(map(str, s)) for s in ref.result().sids]
    assert "Forced" in panel._force_label.text()
    # Reset drops the force: the plain list comes back
    panel.reset()
    panel.run_to_end()
    assert _shown_sids(panel) == before


def test_masked_candidates_cannot_be_forced(qtbot, loaded):
    panel = loaded[0]
    rows = panel.candidates_model.rows()  # the last level: the collision tokens, mostly masked
    r = next(i for i, row in enumerate(rows) if row[-1] == "masked")
    panel.candidates_view.selectRow(r)
    assert not panel.buttons["force"].isEnabled()


# --------------------------------------------------------------------------------------- constraints


def test_constrained_decodes_show_no_invalid_sid(qtbot, loaded, snapshot, users, models):
    panel = loaded[0]
    sids = snapshot.project.sids
    real = {"-".join(map(str, sids.sid(i))) for i in range(sids.n_items)}
    for u in (5, 77, 4321):
        _decode(qtbot, panel, lambda u=u: panel.open_user(u))
        shown = panel.results_model.rows()
        assert len(shown) == 10
        assert all(row[2] in real and row[1] != "(no item has this SID)" for row in shown)
        assert panel._invalid_label.text().startswith("Constrained")
    # unconstrained: the invalid count is the engine's
    _decode(qtbot, panel, lambda: panel.controls["constrained"].setChecked(False))
    st = panel.stepper()
    assert not st.config.constrained and st.done
    with torch.no_grad():
        ref = beam_search(models["ran"], st.history_tensor, trie=snapshot.project.trie, beam=20, k=10,
                          constrained=False)
    n_bad = sum(1 for row in panel.results_model.rows() if row[1] == "(no item has this SID)")
    assert n_bad == int(ref.invalid[0]) == st.result().invalid
    assert panel._invalid_label.text() == f"Invalid SIDs (name no item): {n_bad} of {len(panel.results_model.rows())}"
    _decode(qtbot, panel, lambda: panel.controls["constrained"].setChecked(True))
    assert all(row[2] in real for row in panel.results_model.rows())


# --------------------------------------------------------------------------------------- options


def test_tiger_sampling_and_filters(qtbot, loaded, snapshot, models):
    panel = loaded[0]
    combo = panel.controls["generator"]
    _decode(qtbot, panel, lambda: combo.setCurrentIndex(combo.findData("tiger")))
    st = panel.stepper()
    assert st.model is models["tiger"] or type(st.model) is type(models["tiger"])
    assert _shown_sids(panel) == _engine_sids(st.model, st.history_tensor, snapshot.project.trie)
    assert "TIGER-style" in panel.view_state()["status"]
    instruction = panel.controls["instruction"]
    assert instruction.isEnabled() == bool(getattr(st.model, "accepts_instruction", False))
    if not instruction.isEnabled():
        assert "without instructions" in instruction.toolTip() or "cannot" in instruction.toolTip()
    # block the brand of the top item: none of that brand comes back
    cat = snapshot.project.dataset.catalogue
    top = st.result().items[0]
    brand = str(cat.items["brand"].iat[top])
    edit = panel.controls["block_brands"]
    edit.setText(brand)
    _decode(qtbot, panel, edit.editingFinished.emit)
    brands = {str(cat.items["brand"].iat[i]).casefold() for i in panel.stepper().result().items}
    assert brand.casefold() not in brands and top not in panel.stepper().result().items
    assert "masked by the filters" in panel._invalid_label.text()
    # a brand no item has: a readable error, no traceback
    edit.setText("No Such Brand 123")
    edit.editingFinished.emit()
    qtbot.waitUntil(lambda: panel.error_text() != "" and panel._bridge.running() == 0, timeout=WAIT_MS)
    assert "no such brand 123" in panel.error_text().casefold() and "Traceback" not in panel.error_text()
    edit.setText("")
    _decode(qtbot, panel, edit.editingFinished.emit)
    # sampling: a real decode to the end, reproducible by seed
    mode = panel.controls["mode"]
    _decode(qtbot, panel, lambda: mode.setCurrentIndex(mode.findData("sample")))
    first = _shown_sids(panel)
    assert panel.stepper().config.mode == "sample" and first and "Sampling" in panel.view_state()["status"]
    panel.reset()
    panel.run_to_end()
    assert _shown_sids(panel) == first


def test_a_hand_built_history_is_decoded(qtbot, loaded, snapshot):
    panel = loaded[0]
    cat = snapshot.project.dataset.catalogue
    n = len(panel.history())
    panel._history_view.selectRow(0)
    _decode(qtbot, panel, lambda: panel.buttons["remove"].click())
    assert len(panel.history()) == n - 1 and panel.current_user() is None
    item_id = int(snapshot.project.sids.item_ids[42])
    search = panel.controls["search"]
    search.setText(str(item_id))
    _decode(qtbot, panel, search.returnPressed.emit)
    assert panel.history()[-1] == 42
    assert panel.history_model.rows()[-1][1] == cat.title(42)
    assert panel.stepper().history == panel.history() and panel.stepper().done
    assert not any(row[4] for row in panel.results_model.rows())  # no true next item for a built history


# --------------------------------------------------------------------------------------- missing generators


def _copy_project(src: Path, dest: Path, extra: tuple[str, ...] = ()) -> Path:
    """A copy of a project folder with only its core files (+ ``extra``); dataset path made absolute."""
    dest.mkdir()
    for name in ("project.json", "embeddings.npy", "sids.parquet", "tokenizer.safetensors") + extra:
        shutil.copy2(src / name, dest / name)
    meta = json.loads((src / "project.json").read_text())
    meta["dataset"]["path"] = str(Project.open(src).dataset_path)
    (dest / "project.json").write_text(json.dumps(meta))
    return dest


def test_a_missing_generator_is_explained(qtbot, tmp_path):
    folder = _copy_project(app.DEFAULT_PROJECT, tmp_path / "tiger-only", extra=("generator-tiger.safetensors",))
    snap = EngineBridge.run_sync(load_project, folder)
    panel, vm, selection, bridge = mount_panel(qtbot, StepperPanel, snap)
    with qtbot.waitSignal(panel.sig_ready, timeout=WAIT_MS):
        pass  # no RAN: the panel falls back to the TIGER-style generator
    assert panel.controls["generator"].currentData() == "tiger" and panel.stepper().done
    combo = panel.controls["generator"]
    combo.setCurrentIndex(combo.findData("ran"))
    qtbot.waitUntil(lambda: "--model ran" in panel.error_text(), timeout=WAIT_MS)
    assert "genrec train" in panel.error_text() and "Traceback" not in panel.error_text()
    qtbot.waitUntil(lambda: bridge.running() == 0, timeout=WAIT_MS)
    # a project without any SID generator says so instead of decoding
    bare = EngineBridge.run_sync(load_project, _copy_project(app.DEFAULT_PROJECT, tmp_path / "bare"))
    vm.set_snapshot(bare)
    qtbot.waitUntil(lambda: "genrec train" in panel.error_text() and bridge.running() == 0, timeout=WAIT_MS)
    assert panel.stepper() is None and not panel.buttons["step"].isEnabled()
    bridge.wait_all()
