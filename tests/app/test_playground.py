"""The playground panel over the bundled project: its three lists equal the engine's, per generator.

Every wait is on a signal or a condition (pytest-qt), never a sleep.
"""
from __future__ import annotations

import time
from collections import Counter

import numpy as np
import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QCheckBox, QComboBox, QLabel, QLineEdit, QPushButton, QSpinBox, QTableView

from app.panels.playground import (
    INVALID_COLOUR,
    KINDS,
    MAX_HISTORY,
    SOURCE,
    GroupsModel,
    GroupsPlot,
    HistoryModel,
    PlaygroundPanel,
    ResultRow,
    ResultsModel,
    list_rows,
)
from app.panels.playground import state as pg_state

from .helpers import mount_panel
from genrec_engine import GenrecError, interest_groups, leave_one_out, load_project_generator, recommend, recommend_indices

WAIT_MS = 60_000  # generous: three decodes take ~0.2 s together on a shared 2-core CPU


@pytest.fixture(scope="module")
def models(snapshot):
    return {kind: load_project_generator(snapshot.project, kind) for kind in KINDS}


@pytest.fixture(scope="module")
def test_histories(snapshot):
    """Every user's leave-one-out test history (item indices, oldest first)."""
    return [np.asarray(h, dtype=np.int64) for h in leave_one_out(snapshot.project.dataset).test_history]


@pytest.fixture
def loaded(qtbot, snapshot):
    """A panel over the bundled project with its first (prefilled) request shown."""
    panel, vm, selection, bridge = mount_panel(qtbot, PlaygroundPanel, snapshot)
    qtbot.waitUntil(panel.screenshot_ready, timeout=WAIT_MS)
    yield panel, vm, selection, bridge
    bridge.wait_all()


def _engine(snapshot, models, kind, history, *, k=10, beam=20, constrained=True, exclude_history=False):
    ids = [int(snapshot.project.sids.item_ids[i]) for i in history]
    return recommend(snapshot.project, kind, ids, k=k, beam=max(beam, k), constrained=constrained,
                     exclude_history=exclude_history, model=models[kind])


def _w(panel, cls, name):
    """The panel's widget of type ``cls`` named ``name``."""
    widget = panel.findChild(cls, name)
    assert widget is not None, name
    return widget


def _status(panel, kind: str) -> str:
    """The status line above ``kind``'s list (rich text)."""
    return _w(panel, QLabel, f"status_{kind}").text()


def _settle(qtbot, panel, history) -> None:
    """Wait until the lists answer a request for exactly ``history``."""
    history = tuple(int(i) for i in history)
    qtbot.waitUntil(lambda: panel.screenshot_ready() and panel.state.request.history == history, timeout=WAIT_MS)


def _rows(model: ResultsModel) -> list[tuple]:
    """(item id, sid, score) per row, read back through the Qt model."""
    out = []
    for r in range(model.rowCount()):
        rank, title, sid, score, _ = (model.data(model.index(r, c), Qt.ItemDataRole.UserRole) for c in range(5))
        assert rank == r + 1
        out.append((model.item_at(r), tuple(sid), score))
    return out


def _assert_lists_equal_engine(panel, snapshot, models, history, **opts):
    ids = snapshot.project.sids.item_ids
    refs = {}
    for kind in KINDS:
        ref = _engine(snapshot, models, kind, history, **opts)
        refs[kind] = ref
        rows = _rows(panel.result_models[kind])
        assert len(rows) == len(ref["items"])
        for (item, sid, score), want in zip(rows, ref["items"]):
            assert (int(ids[item]) if item >= 0 else None) == want["item_id"]
            assert sid == tuple(want["sid"])
            assert score == pytest.approx(want["score"], rel=1e-5, abs=1e-5)
        assert panel.state.shown[kind].kind == kind
    return refs


# ------------------------------------------------------------------------------ the three lists


def test_prefilled_history_and_three_lists_from_three_generators(qtbot, loaded, snapshot, models, test_histories):
    panel, vm, selection, bridge = loaded
    first = next(h for h in test_histories if len(h) >= 5)  # the first test user with >= 5 items
    assert panel.history() == tuple(first[-MAX_HISTORY:].tolist())
    assert _w(panel, QComboBox, "users").count() > 10 and _w(panel, QComboBox, "users").currentIndex() == 0
    _assert_lists_equal_engine(panel, snapshot, models, panel.history())
    lists = {kind: panel.result_models[kind].items() for kind in KINDS}
    assert all(len(v) == 10 for v in lists.values())
    assert lists["tiger"] != lists["ran"] != lists["sasrec"] != lists["tiger"]  # not one list reused
    assert all(panel.state.shown[k].request_id == panel.state.request.id for k in KINDS)


def test_ten_item_history_timing(qtbot, loaded, snapshot, models, test_histories):
    panel, vm, selection, bridge = loaded
    ten = next(h for h in test_histories if len(h) >= 10)[-10:].tolist()
    panel.set_history(ten)
    start = time.perf_counter()
    panel.run_now()  # skip the debounce: time the three decodes themselves
    _settle(qtbot, panel, ten)
    wall = time.perf_counter() - start
    per = {k: round(1000 * panel.state.shown[k].seconds) for k in KINDS}
    print(f"\nthree lists for a 10-item history: {1000 * wall:.0f} ms to all shown; per decode (ms): {per}")
    _assert_lists_equal_engine(panel, snapshot, models, ten)


def test_overlap_marks_exactly_the_shared_items(qtbot, loaded, snapshot, models, test_histories):
    panel, vm, selection, bridge = loaded
    ids = snapshot.project.sids.item_ids
    for hist in (h[-10:] for h in test_histories[:60] if len(h) >= 5):  # a history whose lists overlap
        refs = {k: _engine(snapshot, models, k, hist) for k in KINDS}
        counts = Counter(i for r in refs.values() for i in {x["item_id"] for x in r["items"]})
        shared = {i: n for i, n in counts.items() if n >= 2}
        if shared:
            break
    assert shared, "no test history among the first users gives overlapping lists"
    panel.set_history(hist.tolist())
    _settle(qtbot, panel, hist.tolist())
    _assert_lists_equal_engine(panel, snapshot, models, hist.tolist())
    assert {int(ids[i]): n for i, n in panel.state.overlap().items()} == shared
    for kind in KINDS:
        model = panel.result_models[kind]
        for r in range(model.rowCount()):
            item_id = int(ids[model.item_at(r)])
            n = shared.get(item_id, 1)
            assert model.data(model.index(r, 0), ResultsModel.OVERLAP_ROLE) == n
            tinted = model.data(model.index(r, 1), Qt.ItemDataRole.BackgroundRole)
            assert (tinted is not None) == (n >= 2)
            assert model.data(model.index(r, 4)) == (f"×{n}" if n >= 2 else "")


# ---------------------------------------------------------------------------- history building


def test_add_remove_reorder_change_the_request_in_order(qtbot, loaded, snapshot, models):
    panel, vm, selection, bridge = loaded
    ids, cat = snapshot.project.sids.item_ids, snapshot.project.dataset.catalogue
    a, b, c, d = 100, 2000, 3000, 4000
    panel.set_history([a, b, c])
    _settle(qtbot, panel, [a, b, c])

    # by item id, Enter in the search box
    _w(panel, QLineEdit, "search").setText(str(int(ids[d])))
    qtbot.keyClick(_w(panel, QLineEdit, "search"), Qt.Key.Key_Return)
    assert panel.history() == (a, b, c, d) and _w(panel, QLineEdit, "search").text() == ""
    # by title (case-insensitive): the first item whose title contains the text
    title = cat.title(500)
    titles = cat.items["title"].astype(str).str.lower()
    e = int(np.flatnonzero(titles.str.contains(title.lower(), regex=False).to_numpy())[0])
    assert panel.add_from_text(title.upper()) == e
    assert panel.history() == (a, b, c, d, e)
    assert panel.add_from_text("no such item anywhere 98765") is None and panel.history() == (a, b, c, d, e)
    _settle(qtbot, panel, [a, b, c, d, e])

    view = _w(panel, QTableView, "history")
    view.setCurrentIndex(panel.history_model.index(1, 1))
    qtbot.mouseClick(_w(panel, QPushButton, "remove"), Qt.MouseButton.LeftButton)
    assert panel.history() == (a, c, d, e)
    view.setCurrentIndex(panel.history_model.index(2, 1))
    qtbot.mouseClick(_w(panel, QPushButton, "up"), Qt.MouseButton.LeftButton)
    assert panel.history() == (a, d, c, e) and view.currentIndex().row() == 1
    qtbot.mouseClick(_w(panel, QPushButton, "down"), Qt.MouseButton.LeftButton)
    qtbot.mouseClick(_w(panel, QPushButton, "down"), Qt.MouseButton.LeftButton)
    assert panel.history() == (a, c, e, d) and view.currentIndex().row() == 3
    # a drag of row 0 dropped in front of row 3 (what the view asks the model on a drop)
    model = panel.history_model
    assert model.dropMimeData(model.mimeData([model.index(0, 1)]), Qt.DropAction.MoveAction, 3, 0,
                              QModelIndex()) is False  # moved already; False keeps the view from deleting it
    assert panel.history() == (c, e, a, d)
    # Delete removes the current row
    view.setFocus()
    view.setCurrentIndex(model.index(3, 1))
    qtbot.keyClick(view, Qt.Key.Key_Delete)
    assert panel.history() == (c, e, a)
    _settle(qtbot, panel, [c, e, a])
    assert panel.state.request.history == (c, e, a)
    _assert_lists_equal_engine(panel, snapshot, models, [c, e, a])


@pytest.mark.qt_log_ignore("This plugin does not support (propagateSizeHints|raise|grabbing the keyboard)")
def test_a_chosen_suggestion_is_added_once(qtbot, loaded):
    """↓ + Enter on a suggestion adds the item once (it used to be added twice: by the search box's
    Enter and by the completer's activation); Enter with nothing chosen and a click add once too."""
    panel = loaded[0]
    panel.set_history([1, 2])
    search = _w(panel, QLineEdit, "search")
    popup = search.completer().popup()
    panel.activateWindow()
    search.setFocus()
    qtbot.keyClicks(search, "cleanser")
    qtbot.waitUntil(popup.isVisible, timeout=WAIT_MS)
    qtbot.keyClick(popup, Qt.Key.Key_Down)
    chosen = panel.state.completion_item(search.text())  # the highlighted suggestion is in the box
    assert chosen is not None and "cleanser" in search.text().lower()
    qtbot.keyClick(popup, Qt.Key.Key_Return)
    assert panel.history() == (1, 2, chosen)
    qtbot.waitUntil(lambda: search.text() == "", timeout=WAIT_MS)

    qtbot.keyClicks(search, "cleanser")  # Enter with the list open, nothing chosen: the first match
    qtbot.waitUntil(popup.isVisible, timeout=WAIT_MS)
    assert not popup.currentIndex().isValid()
    first = panel.state.resolve("cleanser")
    qtbot.keyClick(popup, Qt.Key.Key_Return)
    assert first is not None and panel.history() == (1, 2, chosen, first)
    qtbot.waitUntil(lambda: search.text() == "", timeout=WAIT_MS)

    qtbot.keyClicks(search, "cleanser")  # a click on a suggestion
    qtbot.waitUntil(popup.isVisible, timeout=WAIT_MS)
    index = popup.model().index(2, 0)
    clicked = panel.state.completion_item(index.data())
    qtbot.mouseClick(popup.viewport(), Qt.MouseButton.LeftButton, pos=popup.visualRect(index).center())
    assert clicked is not None and panel.history() == (1, 2, chosen, first, clicked)
    _settle(qtbot, panel, [1, 2, chosen, first, clicked])


def test_edits_are_debounced_into_one_request(qtbot, loaded):
    panel, vm, selection, bridge = loaded
    started = []
    panel.sig_request_started.connect(started.append)
    panel.set_history([1, 2])
    panel.add_items([3])
    _w(panel, QSpinBox, "k").setValue(7)
    _w(panel, QCheckBox, "exclude").setChecked(True)
    assert not panel.screenshot_ready()  # waiting in the debounce
    _settle(qtbot, panel, [1, 2, 3])
    assert len(started) == 1
    req = started[0]
    assert (req.history, req.k, req.exclude_history) == ((1, 2, 3), 7, True)
    assert all(len(panel.state.shown[k].rows) == 7 for k in KINDS)


def test_stale_results_never_overwrite_newer_ones(qtbot, loaded, snapshot, models):
    panel, vm, selection, bridge = loaded
    shown = []
    panel.sig_list_shown.connect(lambda kind, rid: shown.append((kind, rid)))
    old, new = [10, 20, 30], [40, 50, 60, 70]
    panel.set_history(old)
    panel.run_now()  # decodes for `old` are now in flight ...
    old_id = panel.state.request.id
    panel.set_history(new)
    panel.run_now()  # ... and this request supersedes them before any result is delivered
    new_id = panel.state.request.id
    _settle(qtbot, panel, new)
    assert old_id < new_id
    assert {rid for _, rid in shown} == {new_id}  # the old answers were dropped, never drawn
    assert sorted(k for k, _ in shown) == sorted(KINDS)
    _assert_lists_equal_engine(panel, snapshot, models, new)


def test_test_user_picker_and_selected_items(qtbot, loaded, snapshot, test_histories):
    panel, vm, selection, bridge = loaded
    users = panel.state.users
    eligible = [h for h in test_histories if len(h) >= 5]
    assert [u[1] for u in users[:20]] == [tuple(h[-MAX_HISTORY:].tolist()) for h in eligible[:20]]
    panel.use_test_user(3)
    assert panel.history() == users[3][1] and _w(panel, QComboBox, "users").currentIndex() == 3
    panel.add_items([11])  # no longer that user's history: the picker says so
    assert _w(panel, QComboBox, "users").currentIndex() == -1

    assert not _w(panel, QPushButton, "use_selected").isEnabled() or selection.current.items
    selection.select_items([7, 8, 9], "tree")
    assert _w(panel, QPushButton, "use_selected").isEnabled()
    qtbot.mouseClick(_w(panel, QPushButton, "use_selected"), Qt.MouseButton.LeftButton)
    assert panel.history() == (7, 8, 9)
    _settle(qtbot, panel, [7, 8, 9])


def test_clicking_a_result_selects_the_item(qtbot, loaded):
    panel, vm, selection, bridge = loaded
    view, model = _w(panel, QTableView, "results_ran"), panel.result_models["ran"]
    row = 2
    rect = view.visualRect(model.index(row, 1))
    with qtbot.waitSignal(selection.sig_changed, timeout=WAIT_MS) as blocker:
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert blocker.args[0].items == (model.item_at(row),) and blocker.args[0].source == SOURCE
    assert panel.history() == panel.state.request.history  # selecting never rewrites the history by itself
    assert panel.screenshot_ready()


# ------------------------------------------------------------------------------ interest groups


def test_interest_groups_equal_engine(qtbot, loaded, snapshot):
    panel, vm, selection, bridge = loaded
    project = snapshot.project
    for depth in (1, 2):
        _w(panel, QSpinBox, "depth").setValue(depth)
        hist = panel.history()
        want = interest_groups(project.sids.codes, hist, project.dataset.catalogue.title, depth=depth)
        got = panel.groups_model.groups()
        assert got == want == panel.state.groups
        model = panel.groups_model
        for r, g in enumerate(want):
            assert model.data(model.index(r, 0), Qt.ItemDataRole.UserRole) == tuple(g.prefix)
            assert model.data(model.index(r, 1), Qt.ItemDataRole.UserRole) == g.size
            assert model.data(model.index(r, 2), Qt.ItemDataRole.UserRole) == g.recency
            assert model.data(model.index(r, 3), Qt.ItemDataRole.UserRole) == tuple(g.titles)
        np.testing.assert_array_equal(_w(panel, GroupsPlot, "groups_plot").heights(), [g.size for g in want])
        # history rows: one tint per group, the group's prefix in the Group column
        hm = panel.history_model
        for r, g in enumerate(want):
            for p in g.positions:
                assert hm.group_rank(p) == r
                assert hm.data(hm.index(p, 3)) == "-".join(map(str, g.prefix))
        tints = {r: hm.data(hm.index(p, 1), Qt.ItemDataRole.BackgroundRole).name(QColor.NameFormat.HexArgb)
                 for r, g in enumerate(want[:10]) for p in g.positions[:1]}
        assert len(set(tints.values())) == len(tints)
    assert any(g.size >= 2 for g in interest_groups(project.sids.codes, panel.history(), depth=1))



# ------------------------------------------------------------------------------ unconstrained


def test_unconstrained_counts_invalid_sids_like_the_engine(qtbot, loaded, snapshot, models):
    panel, vm, selection, bridge = loaded
    rng = np.random.default_rng(0)
    n = snapshot.project.sids.n_items
    for _ in range(40):  # a seeded history for which RAN generates SIDs that name no item
        hist = rng.choice(n, 10, replace=False).tolist()
        if _engine(snapshot, models, "ran", hist, k=50, beam=50, constrained=False)["invalid"] > 0:
            break
    else:
        pytest.fail("no seeded history gave an invalid SID")
    _w(panel, QCheckBox, "constrained").setChecked(False)
    _w(panel, QSpinBox, "k").setValue(50)
    _w(panel, QSpinBox, "beam").setValue(50)
    panel.set_history(hist)
    _settle(qtbot, panel, hist)
    refs = _assert_lists_equal_engine(panel, snapshot, models, hist, k=50, beam=50, constrained=False)
    for kind in KINDS:
        model = panel.result_models[kind]
        greyed = [r for r in range(model.rowCount()) if model.data(model.index(r, 1), ResultsModel.INVALID_ROLE)]
        assert panel.state.shown[kind].invalid == refs[kind]["invalid"] == len(greyed)
        assert len(greyed) == sum(x["item_id"] is None for x in refs[kind]["items"])
        for r in greyed:
            assert model.data(model.index(r, 1), Qt.ItemDataRole.ForegroundRole) == INVALID_COLOUR
            assert model.data(model.index(r, 0), ResultsModel.OVERLAP_ROLE) == 0  # never counted as shared
    assert panel.state.shown["ran"].invalid > 0
    assert f"{panel.state.shown['ran'].invalid} invalid SID" in _status(panel, "ran")
    assert -1 not in panel.state.overlap()


# ------------------------------------------------------------------------------ instruction, errors


def test_instruction_box_follows_the_generators(qtbot, loaded, models):
    panel, vm, selection, bridge = loaded
    if not any(getattr(m, "accepts_instruction", False) for m in models.values()):
        assert not _w(panel, QLineEdit, "instruction").isEnabled()
        assert "instruction" in _w(panel, QLineEdit, "instruction").toolTip().lower()
        assert panel.pending_request().instruction == ""


def test_bundled_ran_follows_a_typed_instruction(qtbot, loaded, snapshot, models):
    """The bundled RAN is instruction-trained: the box is on, and "nail polish" with an empty
    history gives the engine's own list, mostly nail polish."""
    panel = loaded[0]
    assert models["ran"].accepts_instruction and _w(panel, QLineEdit, "instruction").isEnabled()
    panel.set_history([])
    _w(panel, QLineEdit, "instruction").setText("nail polish")
    qtbot.waitUntil(lambda: panel.screenshot_ready() and panel.state.request.history == ()
                    and panel.state.request.instruction == "nail polish", timeout=WAIT_MS)
    ref = recommend(snapshot.project, "ran", [], instruction="nail polish", model=models["ran"])
    ids = snapshot.project.sids.item_ids
    assert [int(ids[i]) for i, _, _ in _rows(panel.result_models["ran"])] == [x["item_id"] for x in ref["items"]]
    leaf = snapshot.project.dataset.catalogue.leaf_categories()
    shown = panel.result_models["ran"].items()
    assert len(shown) == 10 and np.mean([leaf[i] == "Nail Polish" for i in shown]) >= 0.5
    assert "instruction used" in _status(panel, "ran")


def test_instruction_reaches_only_generators_that_read_it(qtbot, snapshot, models, monkeypatch):
    calls = []
    real_recommend = pg_state.recommend_indices

    def fake_recommend(source, history, *, kind=None, instruction=None, **kwargs):
        calls.append((kind, instruction))
        # decode without the instruction (a stand-in history when there is none): only who gets it counts
        return real_recommend(source, history if len(history) else [0], kind=kind, **kwargs)

    monkeypatch.setattr(pg_state, "recommend_indices", fake_recommend)
    monkeypatch.setattr(type(models["ran"]), "accepts_instruction", property(lambda self: True))
    panel, vm, selection, bridge = mount_panel(qtbot, PlaygroundPanel, snapshot)
    qtbot.waitUntil(panel.screenshot_ready, timeout=WAIT_MS)
    assert _w(panel, QLineEdit, "instruction").isEnabled() and "RAN" in _w(panel, QLineEdit, "instruction").toolTip()
    calls.clear()
    _w(panel, QLineEdit, "instruction").setText("a gentle cleanser")
    qtbot.waitUntil(lambda: panel.screenshot_ready() and panel.state.request.instruction == "a gentle cleanser",
                    timeout=WAIT_MS)
    assert sorted(calls) == [("ran", "a gentle cleanser"), ("sasrec", None), ("tiger", None)]
    assert "instruction used" in _status(panel, "ran")
    assert "ignores the instruction" in _status(panel, "tiger")
    # an empty history with an instruction: only the generator that reads it decodes
    calls.clear()
    panel.set_history([])
    qtbot.waitUntil(lambda: panel.screenshot_ready() and panel.state.request.history == (), timeout=WAIT_MS)
    assert calls == [("ran", "a gentle cleanser")]
    assert panel.result_models["ran"].rowCount() == 10 and panel.result_models["tiger"].rowCount() == 0
    assert "history" in _status(panel, "tiger").lower()
    bridge.wait_all()


def test_missing_generator_reports_the_command(qtbot, snapshot, monkeypatch):
    real_load = snapshot.project.generator

    def no_sasrec(kind, *args, **kwargs):
        if kind == "sasrec":
            raise GenrecError("generator-sasrec.safetensors not found")
        return real_load(kind, *args, **kwargs)

    monkeypatch.setattr(snapshot.project, "generator", no_sasrec)
    panel, vm, selection, bridge = mount_panel(qtbot, PlaygroundPanel, snapshot)
    qtbot.waitUntil(panel.screenshot_ready, timeout=WAIT_MS)  # the two others still show their lists
    assert panel.result_models["sasrec"].rowCount() == 0
    assert panel.result_models["ran"].rowCount() == panel.result_models["tiger"].rowCount() == 10
    text = _status(panel, "sasrec")
    assert "genrec train --project" in text and "--model sasrec" in text
    bridge.wait_all()


def test_a_failing_decode_is_reported_once(qtbot, snapshot, monkeypatch):
    """A generator whose decode raises: its list says why, the others show theirs, and the failed
    request is not decoded again and again."""
    calls = []
    real_recommend = pg_state.recommend_indices

    def tiger_fails(source, history, *, kind=None, **kwargs):
        calls.append(kind)
        if kind == "tiger":
            raise GenrecError("the decoder broke")
        return real_recommend(source, history, kind=kind, **kwargs)

    monkeypatch.setattr(pg_state, "recommend_indices", tiger_fails)
    panel, vm, selection, bridge = mount_panel(qtbot, PlaygroundPanel, snapshot)
    qtbot.waitUntil(panel.screenshot_ready, timeout=WAIT_MS)
    assert "Could not decode: the decoder broke" in _status(panel, "tiger")
    assert panel.result_models["tiger"].rowCount() == 0 and panel.result_models["ran"].rowCount() == 10
    assert bridge.running() == 0 and calls.count("tiger") == 1
    bridge.wait_all()


def test_closing_the_project_empties_the_panel(qtbot, snapshot):
    panel, vm, selection, bridge = mount_panel(qtbot, PlaygroundPanel, snapshot)
    assert bridge.running() >= 3  # generators loading, test users being listed
    vm.set_snapshot(None)
    qtbot.waitUntil(lambda: bridge.running() == 0, timeout=WAIT_MS)
    assert panel.state.page == "empty" and not panel.screenshot_ready()
    assert panel.history() == () and all(m.rowCount() == 0 for m in panel.result_models.values())


# ------------------------------------------------------------------------------ item models


def test_models_pass_qmodeltester(qtmodeltester, snapshot, models):
    project = snapshot.project
    history = HistoryModel()
    qtmodeltester.check(history)
    history.set_source(project.sids.codes, project.dataset.catalogue.title)
    history.set_items([5, 6, 7, 8, 9])
    history.set_groups(interest_groups(project.sids.codes, [5, 6, 7, 8, 9], depth=1))
    qtmodeltester.check(history)
    assert history.move(0, 4) and history.items() == (6, 7, 8, 9, 5)
    qtmodeltester.check(history)

    groups = GroupsModel()
    qtmodeltester.check(groups)
    groups.set_groups(interest_groups(project.sids.codes, [5, 6, 7, 8, 9], project.dataset.catalogue.title))
    qtmodeltester.check(groups)

    results = ResultsModel("ran")
    qtmodeltester.check(results)
    rec = recommend_indices(project, [5, 6, 7], kind="ran", model=models["ran"], k=10, beam=10, constrained=False)
    rows = list(list_rows(project, rec))
    rows.append(ResultRow(len(rows) + 1, -1, None, "(no item has this SID)", (1, 2, 3, 4), -9.0))
    results.set_rows(rows)
    results.set_shared({rows[0].index: ("tiger",)})
    qtmodeltester.check(results)
    assert results.data(results.index(0, 4)) == "×2"
    assert results.data(results.index(len(rows) - 1, 1), ResultsModel.INVALID_ROLE) is True
