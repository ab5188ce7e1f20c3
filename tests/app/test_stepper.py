"""The beam stepper panel over the bundled project: what it shows equals the engine's own decode.

Every wait is on a signal or a condition (pytest-qt), never a sleep.
"""
from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QPushButton, QTableView, QWidget

import app
from app.bridge import EngineBridge
from app.panels import load_project
from app.panels.stepper import StepperPanel

from .helpers import mount_panel
from genrec_engine import BeamStepper, Project, StepperConfig, held_out_users, load_project_generator
from genrec_engine.decode import beam_search
from genrec_engine.models import pad_histories

WAIT_MS = 60_000  # generous: opening takes ~0.5 s, a decode a few ms


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


def _move(qtbot, panel, *moves) -> None:
    """Run each move (a panel method) and wait until it is shown (the steps run in bridge jobs)."""
    for move in moves:
        with qtbot.waitSignal(panel.sig_moved, timeout=WAIT_MS):
            move()
        qtbot.waitUntil(lambda: not panel.busy(), timeout=WAIT_MS)


def _w(panel, name: str, cls=QWidget):
    """The panel's widget with object name ``name``."""
    widget = panel.findChild(cls, name)
    assert widget is not None, name
    return widget


def _text(panel, name: str) -> str:
    return _w(panel, name, QLabel).text()


def _error(panel) -> str:
    label = _w(panel, "error", QLabel)
    return label.text() if label.isVisibleTo(panel) else ""


def _shown_sids(panel) -> list[str]:
    return [row[2] for row in panel.results_model.rows()]


def _tensor(model, history) -> torch.Tensor:
    """The history as the stepper pads it: int64 [1, max_len], item index + 1, left-padded."""
    return pad_histories([list(history)], model.config.max_len)


def _engine_sids(model, history, trie, **kw) -> list[str]:
    with torch.no_grad():
        res = beam_search(model, _tensor(model, history), trie=trie, beam=20, k=10, **kw)
    return ["-".join(map(str, s)) for s, sc in zip(res.sids[0].tolist(), res.scores[0].tolist()) if sc > -1e30]


# --------------------------------------------------------------------------------------- opening


def test_a_project_opens_a_demo_user_decoded_like_the_engine(loaded, snapshot, users, models, qtmodeltester):
    panel = loaded[0]
    st = panel.state.view
    assert panel.screenshot_ready() and st.done
    u = panel.state.user
    assert u is not None and st.history == tuple(int(i) for i in users.histories[u])
    expected = _engine_sids(models["ran"], st.history, snapshot.project.trie)
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


def test_the_beam_tree_puts_children_beside_their_parent_and_says_what_a_prefix_is(qtbot, loaded, snapshot):
    panel = loaded[0]
    nodes, rows = panel.tree.nodes(), panel.tree.node_rows()
    by_parent: dict = {}
    for n in nodes:
        if n.prefix:
            by_parent.setdefault(n.prefix[:-1], []).append(rows[n.prefix])
    for parent, kids in by_parent.items():
        kids = sorted(kids)
        assert kids == [kids[0] + i for i in range(len(kids))] or len(kids) == 1 or \
            all(b > a for a, b in zip(kids, kids[1:]))  # contiguous block, in order
        assert kids[0] <= rows[parent] <= kids[-1]  # the parent sits beside its children
    # no two edges cross: along each column, the parents' order is their children's order
    for level in range(1, max(n.level for n in nodes) + 1):
        col = sorted((n for n in nodes if n.level == level), key=lambda n: rows[n.prefix])
        parent_rows = [rows[n.prefix[:-1]] for n in col]
        assert parent_rows == sorted(parent_rows)
    # a node says what its prefix stands for
    kept = next(n for n in nodes if n.level == 1 and n.kind == "kept")
    meaning = panel.tree.meaning(kept.prefix)
    items = snapshot.project.sids.items_with_prefix(kept.prefix)
    assert meaning.count == len(items) > 0 and meaning.category and meaning.example
    popularity = snapshot.popularity[items]
    assert meaning.example == snapshot.project.dataset.catalogue.title(int(items[int(popularity.argmax())]))
    # a click selects the prefix: highlighted here, sent to the other panels, named in the status
    with qtbot.waitSignal(panel.tree.sig_prefix_clicked, timeout=5000):
        panel.tree.mousePressEvent(_click_at(panel.tree, kept.prefix))
    assert panel.tree.selected_prefix() == kept.prefix
    assert loaded[2].current.prefix == kept.prefix  # the linked selection
    assert f"Selected prefix {kept.prefix[0]}" in _text(panel, "status")


def _click_at(tree, prefix):
    from PySide6.QtCore import QEvent, QPointF
    from PySide6.QtGui import QMouseEvent

    row = tree.node_rows()[prefix]
    scene_pt = QPointF(len(prefix) * tree.COL_W + 10, tree.TOP + row * tree.ROW_H + tree.NODE_H / 2)
    view_pt = QPointF(tree.mapFromScene(scene_pt))
    return QMouseEvent(QEvent.Type.MouseButtonPress, view_pt, view_pt, Qt.MouseButton.LeftButton,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)


def test_open_user_shows_that_users_history_at_the_start(qtbot, loaded, snapshot, users):
    panel = loaded[0]
    u = 123 if panel.state.user != 123 else 124
    _decode(qtbot, panel, lambda: panel.open_user(u))
    cat = snapshot.project.dataset.catalogue
    hist = [int(i) for i in users.histories[u]]
    assert panel.state.history == tuple(hist)
    assert [row[1] for row in panel.history_model.rows()] == [cat.title(i) or f"item {i}" for i in hist]
    assert _w(panel, "user").value() == u and panel.state.user == u
    # a user opened from the diagnostics panel starts at level 0, ready to step
    view = panel.state.view
    assert view.history == tuple(hist) and view.level == 0 and not view.done
    assert panel.results_model.rowCount() == 0 and "At the start" in panel.view_state()["status"]
    assert _w(panel, "step").isEnabled() and not _w(panel, "back").isEnabled()
    assert "true next" in _text(panel, "user_label")
    _move(qtbot, panel, panel.run_to_end)
    assert panel.state.view.done and panel.results_model.rowCount() == 10


# --------------------------------------------------------------------------------------- moving


def test_step_then_back_restores_the_same_view(qtbot, loaded):
    panel = loaded[0]
    _move(qtbot, panel, panel.reset)
    assert panel.view_state()["level"] == 0 and panel.results_model.rowCount() == 0
    at0 = panel.view_state()
    _move(qtbot, panel, panel.step)
    at1 = panel.view_state()
    assert at1["level"] == 1 and at1 != at0 and at1["candidates"]
    _move(qtbot, panel, panel.step)
    at2 = panel.view_state()
    assert at2["level"] == 2 and at2["tree"] != at1["tree"]
    _move(qtbot, panel, panel.back)
    assert panel.view_state() == at1
    _move(qtbot, panel, panel.back)
    assert panel.view_state() == at0
    assert not _w(panel, "back").isEnabled() and _w(panel, "step").isEnabled()
    _move(qtbot, panel, panel.run_to_end)
    assert panel.view_state()["results"] and not _w(panel, "step").isEnabled()


def _same_view(a: dict, b: dict) -> bool:
    """Equal views but for the status line's "last step N ms" (the wall time of a new step)."""
    strip = lambda s: {**s, "status": s["status"].split(" · last step")[0]}  # noqa: E731
    return strip(a) == strip(b)


def test_moves_clicked_while_one_runs_wait_their_turn(qtbot, loaded):
    panel = loaded[0]
    _move(qtbot, panel, panel.reset, panel.step)
    at1 = panel.view_state()
    moved = []
    panel.sig_moved.connect(lambda: moved.append(panel.state.view.level))
    panel.reset()  # all four at once: each waits for the one before; none runs beside another
    assert not any(_w(panel, n).isEnabled() for n in ("reset", "back", "step", "run", "force"))
    panel.step()
    panel.step()
    panel.back()
    qtbot.waitUntil(lambda: len(moved) == 4 and not panel.busy(), timeout=WAIT_MS)
    assert moved == [0, 1, 2, 1]
    assert _same_view(panel.view_state(), at1)
    assert _w(panel, "step").isEnabled() and _w(panel, "back").isEnabled()


def test_forcing_a_pruned_candidate_changes_the_path_and_the_list(qtbot, loaded, snapshot, models):
    panel = loaded[0]
    before = _shown_sids(panel)
    history = panel.state.view.history
    _move(qtbot, panel, panel.reset, panel.step)  # level 1: pick a candidate the beam pruned
    rows = panel.candidates_model.rows()
    r = next(i for i, row in enumerate(rows) if row[-1] == "pruned")
    beam, token, masked = panel.candidates_model.candidate(r)
    assert not masked
    _w(panel, "candidates_view", QTableView).selectRow(r)
    force = _w(panel, "force", QPushButton)
    assert force.isEnabled()
    _move(qtbot, panel, lambda: qtbot.mouseClick(force, Qt.MouseButton.LeftButton))
    assert panel.state.view.level == 1
    forced_rows = [row for row in panel.candidates_model.rows() if row[-1] == "forced"]
    assert forced_rows and all(row[1] == str(token) for row in forced_rows)
    assert [n.prefix for n in panel.tree.nodes() if n.forced] == [(token,)]
    _move(qtbot, panel, panel.run_to_end)
    after = _shown_sids(panel)
    assert after != before and all(s.split("-")[0] == str(token) for s in after)
    # the engine, forced the same way, finds the same list
    ref = BeamStepper(models["ran"], snapshot.project.trie, history, config=StepperConfig(beam=20, k=10))
    ref.force(beam, token)
    ref.run_to_end()
    assert after == ["-".join(map(str, s)) for s in ref.result().sids]
    assert "Forced" in _text(panel, "force_label")
    # Reset drops the force: the plain list comes back
    _move(qtbot, panel, panel.reset, panel.run_to_end)
    assert _shown_sids(panel) == before


def test_masked_candidates_cannot_be_forced(qtbot, loaded):
    panel = loaded[0]
    rows = panel.candidates_model.rows()  # the last level: the collision tokens, mostly masked
    r = next(i for i, row in enumerate(rows) if row[-1] == "masked")
    _w(panel, "candidates_view", QTableView).selectRow(r)
    assert not _w(panel, "force").isEnabled()
    panel.force(*panel.candidates_model.candidate(r)[:2])  # asked anyway: refused, explained, nothing moves
    qtbot.waitUntil(lambda: "masked" in _error(panel) and not panel.busy(), timeout=WAIT_MS)
    assert panel.state.view.done and panel.state.view.pending_force is None


def test_every_forward_pass_runs_off_the_gui_thread(qtbot, snapshot, monkeypatch):
    """Stepping, going back, forcing, running to the end, resetting, opening a user and switching
    the generator: the generators' ``start`` and ``next_logits`` never run on the GUI thread."""
    calls: list[tuple[str, str, bool]] = []
    for kind in ("ran", "tiger"):
        cls = type(snapshot.project.generator(kind))
        for name in ("start", "next_logits"):
            original = getattr(cls, name)

            def spy(self, *args, _original=original, _name=name, _kind=kind, **kwargs):
                calls.append((_kind, _name, threading.current_thread() is threading.main_thread()))
                return _original(self, *args, **kwargs)

            monkeypatch.setattr(cls, name, spy)
    panel, vm, selection, bridge = mount_panel(qtbot, StepperPanel, snapshot)
    with qtbot.waitSignal(panel.sig_ready, timeout=WAIT_MS):
        pass
    qtbot.waitUntil(lambda: not panel.busy(), timeout=WAIT_MS)
    _decode(qtbot, panel, lambda: panel.open_user(7))
    _move(qtbot, panel, panel.step, panel.step, panel.back)
    beam, token, _ = next(panel.candidates_model.candidate(r) for r, row in enumerate(panel.candidates_model.rows())
                          if row[-1] == "pruned")
    _move(qtbot, panel, lambda: panel.force(beam, token), panel.run_to_end, panel.reset)
    combo = _w(panel, "generator")
    _decode(qtbot, panel, lambda: combo.setCurrentIndex(combo.findData("tiger")))  # at level 0, as shown
    _move(qtbot, panel, panel.step, panel.run_to_end)
    bridge.wait_all()
    assert {(kind, name) for kind, name, _ in calls} >= {("ran", "start"), ("ran", "next_logits"),
                                                         ("tiger", "start"), ("tiger", "next_logits")}
    assert not [c for c in calls if c[2]], "a forward pass ran on the GUI thread"


# --------------------------------------------------------------------------------------- constraints


def test_constrained_decodes_show_no_invalid_sid(qtbot, loaded, snapshot, users, models):
    panel = loaded[0]
    sids = snapshot.project.sids
    real = {"-".join(map(str, sids.sid(i))) for i in range(sids.n_items)}
    for u in (5, 77, 4321):
        _decode(qtbot, panel, lambda u=u: panel.open_user(u))
        _move(qtbot, panel, panel.run_to_end)
        shown = panel.results_model.rows()
        assert len(shown) == 10
        assert all(row[2] in real and row[1] != "(no item has this SID)" for row in shown)
        assert _text(panel, "invalid_label").startswith("Constrained")
    # unconstrained: the invalid count is the engine's
    _decode(qtbot, panel, lambda: _w(panel, "constrained").setChecked(False))
    st = panel.state.view
    assert not st.config.constrained and st.done
    with torch.no_grad():
        ref = beam_search(models["ran"], _tensor(models["ran"], st.history), trie=snapshot.project.trie, beam=20,
                          k=10, constrained=False)
    n_bad = sum(1 for row in panel.results_model.rows() if row[1] == "(no item has this SID)")
    assert n_bad == int(ref.invalid[0]) == st.result.invalid
    assert _text(panel, "invalid_label") == f"Invalid SIDs (name no item): {n_bad} of {len(panel.results_model.rows())}"
    # the beam tree marks the prefixes no item has
    off = [n for n in panel.tree.nodes() if n.prefix and panel.tree.meaning(n.prefix).count == 0]
    assert bool(off) == (n_bad > 0)
    assert all(not snapshot.project.sids.items_with_prefix(n.prefix).size for n in off)
    _decode(qtbot, panel, lambda: _w(panel, "constrained").setChecked(True))
    assert all(row[2] in real for row in panel.results_model.rows())


# --------------------------------------------------------------------------------------- options


def test_tiger_sampling_and_filters(qtbot, loaded, snapshot, models):
    panel = loaded[0]
    combo = _w(panel, "generator")
    _decode(qtbot, panel, lambda: combo.setCurrentIndex(combo.findData("tiger")))
    st = panel.state.view
    assert st.kind == "tiger" and st.done
    assert _shown_sids(panel) == _engine_sids(models["tiger"], st.history, snapshot.project.trie)
    assert "TIGER-style" in panel.view_state()["status"]
    instruction = _w(panel, "instruction")
    assert instruction.isEnabled() == bool(getattr(models["tiger"], "accepts_instruction", False))
    if not instruction.isEnabled():
        assert "without instructions" in instruction.toolTip() or "cannot" in instruction.toolTip()
    # block the brand of the top item: none of that brand comes back
    cat = snapshot.project.dataset.catalogue
    top = st.result.items[0]
    brand = str(cat.items["brand"].iat[top])
    edit = _w(panel, "block_brands")
    edit.setText(brand)
    _decode(qtbot, panel, edit.editingFinished.emit)
    brands = {str(cat.items["brand"].iat[i]).casefold() for i in panel.state.view.result.items}
    assert brand.casefold() not in brands and top not in panel.state.view.result.items
    assert "masked by the filters" in _text(panel, "invalid_label")
    # a brand no item has: a readable error, no traceback
    edit.setText("No Such Brand 123")
    edit.editingFinished.emit()
    qtbot.waitUntil(lambda: _error(panel) != "" and panel._bridge.running() == 0, timeout=WAIT_MS)
    assert "no such brand 123" in _error(panel).casefold() and "Traceback" not in _error(panel)
    edit.setText("")
    _decode(qtbot, panel, edit.editingFinished.emit)
    # sampling: a real decode to the end, reproducible by seed
    mode = _w(panel, "mode")
    _decode(qtbot, panel, lambda: mode.setCurrentIndex(mode.findData("sample")))
    first = _shown_sids(panel)
    assert panel.state.view.config.mode == "sample" and first and "Sampling" in panel.view_state()["status"]
    _move(qtbot, panel, panel.reset, panel.run_to_end)
    assert _shown_sids(panel) == first


def test_a_hand_built_history_is_decoded(qtbot, loaded, snapshot):
    panel = loaded[0]
    cat = snapshot.project.dataset.catalogue
    n = len(panel.state.history)
    _w(panel, "history_view", QTableView).selectRow(0)
    _decode(qtbot, panel, lambda: _w(panel, "remove").click())
    assert len(panel.state.history) == n - 1 and panel.state.user is None
    item_id = int(snapshot.project.sids.item_ids[42])
    search = _w(panel, "search")
    search.setText(str(item_id))
    _decode(qtbot, panel, search.returnPressed.emit)
    assert panel.state.history[-1] == 42
    assert panel.history_model.rows()[-1][1] == cat.title(42)
    assert panel.state.view.history == panel.state.history and panel.state.view.done
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
    combo = _w(panel, "generator")
    assert combo.currentData() == "tiger" and panel.state.view.done
    combo.setCurrentIndex(combo.findData("ran"))
    qtbot.waitUntil(lambda: "--model ran" in _error(panel), timeout=WAIT_MS)
    assert "genrec train" in _error(panel) and "Traceback" not in _error(panel)
    qtbot.waitUntil(lambda: bridge.running() == 0, timeout=WAIT_MS)
    # a project without any SID generator says so instead of decoding
    bare = EngineBridge.run_sync(load_project, _copy_project(app.DEFAULT_PROJECT, tmp_path / "bare"))
    vm.set_snapshot(bare)
    qtbot.waitUntil(lambda: "genrec train" in _error(panel) and bridge.running() == 0, timeout=WAIT_MS)
    assert panel.state.view is None and not _w(panel, "step").isEnabled()
    bridge.wait_all()


def test_keyboard_stepping_like_a_debugger(qtbot, loaded):
    """F10 steps, Shift+F10 goes back, F5 runs to the end, Ctrl+Home resets (the buttons' tooltips say so)."""
    panel = loaded[0]
    _move(qtbot, panel, panel.reset)
    assert len(panel.state.view.records) == 0
    panel.show()
    panel.setFocus()

    def press(key, modifier=Qt.KeyboardModifier.NoModifier):
        with qtbot.waitSignal(panel.sig_moved, timeout=WAIT_MS):
            qtbot.keyClick(panel, key, modifier)
        qtbot.waitUntil(lambda: not panel.busy(), timeout=WAIT_MS)

    press(Qt.Key.Key_F10)
    assert len(panel.state.view.records) == 1
    press(Qt.Key.Key_F10)
    assert len(panel.state.view.records) == 2
    press(Qt.Key.Key_F10, Qt.KeyboardModifier.ShiftModifier)
    assert len(panel.state.view.records) == 1
    press(Qt.Key.Key_F5)
    assert panel.state.view.done
    press(Qt.Key.Key_Home, Qt.KeyboardModifier.ControlModifier)
    assert len(panel.state.view.records) == 0
    assert "(F10 or Ctrl+Right)" in _w(panel, "step").toolTip()


def test_switching_projects_leaves_nothing_of_the_previous_decode(qtbot, loaded, snapshot):
    panel, vm = loaded[0], loaded[1]
    assert _text(panel, "target_label") and _text(panel, "invalid_label") and panel.state.user is not None
    vm.set_snapshot(None)
    for name in ("user_label", "status", "force_label", "target_label", "meter_label", "invalid_label"):
        assert _text(panel, name) == "", name
    assert _w(panel, "meter").value() == 0 and panel.tree.nodes() == [] and panel.results_model.rowCount() == 0
    assert panel.state.user is None
    with qtbot.waitSignal(panel.sig_ready, timeout=WAIT_MS):
        vm.set_snapshot(snapshot)  # the same project again: rebuilt from scratch
    qtbot.waitUntil(lambda: not panel.busy(), timeout=WAIT_MS)
    assert _text(panel, "target_label")
