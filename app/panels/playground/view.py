"""The playground panel: binds :class:`~.state.PlaygroundState` to the widgets of :mod:`.boxes`.

Jobs: one :class:`~app.bridge.JobScope` per generator load, one for the test users, one per
generator's decode. A decode of an older request is never replaced mid-way: while it runs, a newer
request waits, and it is dispatched when the running one finishes (the older answer is dropped by
the state). Every change of the request restarts a ~300 ms debounce.
"""
from __future__ import annotations

import html
from typing import Iterable

from PySide6.QtCore import QModelIndex, Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QStackedWidget, QVBoxLayout, QWidget

from ...bridge import EngineBridge, JobScope
from ...selection import Selection, SelectionEvent
from ...widgets import ERROR_COLOUR, GENERATOR_LABELS, centred_column, heading, sid_text
from ...widgets.overview_pages import page_column, rich_label, splitter
from .. import ProjectSnapshot, ProjectViewModel
from .boxes import GroupsBox, HistoryBox, OptionsRow, ResultColumn, named
from .models import INVALID_COLOUR, OVERLAP_COLOURS, GroupsModel, HistoryModel, ResultsModel
from .state import (
    KINDS,
    MAX_HISTORY,
    GeneratorLoad,
    ListResult,
    Part,
    PlaygroundRequest,
    PlaygroundSetup,
    PlaygroundState,
    clip_history,
    load_generator,
    prepare_playground,
    recommend_list,
)

__all__ = ["PlaygroundPanel", "SOURCE", "DEBOUNCE_MS"]

#: The name this panel gives its selections (``SelectionEvent.source``).
SOURCE = "playground"
DEBOUNCE_MS = 300  # a burst of edits (typing an instruction, clicking arrows) makes one request

_INTRO = (
    "Build a history (oldest first), then compare what three generators recommend next: the "
    "TIGER-style and RAN generators decode semantic IDs with beam search over the prefix trie, "
    "SASRec scores atomic item ids. Items that two or three lists share are tinted; the history's "
    "interest groups (items sharing a SID prefix) are on the right."
)
_EMPTY_TEXT = "<p>Open a project with <b>File › Open project…</b> to try its generators on a history.</p>"
_LEGEND = (
    f"<span style='background:{OVERLAP_COLOURS[2].name()}'>&nbsp;×2&nbsp;</span> in two lists &nbsp; "
    f"<span style='background:{OVERLAP_COLOURS[3].name()}'>&nbsp;×3&nbsp;</span> in all three lists &nbsp; "
    f"<span style='color:{INVALID_COLOUR.name()}'><i>grey italic</i></span>: generated SID names no item "
    "(unconstrained decoding)"
)


def _html(parts: Iterable[Part]) -> str:
    """A status line as rich text: errors red, pending parts italic, joined by middle dots."""
    out = []
    for p in parts:
        text = html.escape(p.text, quote=False)
        if p.style == "error":
            text = f"<span style='color:{ERROR_COLOUR}'>{text}</span>"
        elif p.style == "pending":
            text = f"<i>{text}</i>"
        out.append(text)
    return " · ".join(out)


class PlaygroundPanel(QWidget):
    """History builder, instruction and options; three generators' lists side by side.

    Built as ``PlaygroundPanel(view_model, selection, bridge)``; :attr:`state` is its view-model.
    Clicking a result (or a history row) selects that item with source ``"playground"``;
    selections made elsewhere only feed the "Use selected items" button.
    """

    sig_ready = Signal()
    """Once per project: the three lists show the results of the first request."""

    sig_results_shown = Signal(int)
    """``(request_id)``: every list now shows (or reports an error for) request ``request_id``."""

    sig_list_shown = Signal(str, int)
    """``(kind, request_id)``: the ``kind`` list now shows the results of request ``request_id``."""

    sig_request_started = Signal(object)
    """``(PlaygroundRequest)``: a new request was sent to the generators (after the debounce)."""

    def __init__(self, view_model: ProjectViewModel, selection: Selection, bridge: EngineBridge,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self._selection = selection
        self.state = PlaygroundState(GENERATOR_LABELS)
        self._loads = {kind: JobScope(bridge) for kind in KINDS}
        self._decodes = {kind: JobScope(bridge) for kind in KINDS}
        self._prepare = JobScope(bridge)
        scopes = (*self._loads.values(), *self._decodes.values(), self._prepare)
        self.destroyed.connect(lambda *_: [scope.cancel() for scope in scopes])  # late answers find no panel

        self.history_model = HistoryModel(self)
        self.groups_model = GroupsModel(self)
        self.result_models = {kind: ResultsModel(kind, self) for kind in KINDS}

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self.run_now)

        self._stack = QStackedWidget(self)
        self._empty_page = centred_column(heading("No project open", 1.6), QLabel(_EMPTY_TEXT))
        self._main_page = self._build_main_page()
        self._stack.addWidget(self._empty_page)
        self._stack.addWidget(self._main_page)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 8, 10, 8)
        lay.addWidget(self._stack)

        for signal in (self.history_model.rowsInserted, self.history_model.rowsRemoved,
                       self.history_model.rowsMoved, self.history_model.modelReset):
            signal.connect(self._on_history_changed)
        selection.sig_changed.connect(self._on_selection)
        view_model.sig_project_changed.connect(self._on_project_changed)
        self._on_project_changed(view_model.snapshot)

    # ---- public ----
    def screenshot_ready(self) -> bool:
        """True when every list shows the results (or a final error) of the newest request, no
        request is waiting in the debounce and no job of this panel is running."""
        return self.state.settled(self._timer.isActive(), self._busy())

    def history(self) -> tuple[int, ...]:
        """The history being built: item indices, oldest first."""
        return self.history_model.items()

    def set_history(self, items: Iterable[int]) -> None:
        """Replace the history (item indices, oldest first; the last :data:`MAX_HISTORY` kept)."""
        self.history_model.set_items(clip_history(items))

    def add_items(self, items: Iterable[int]) -> None:
        """Append items as the newest (the oldest drop out beyond :data:`MAX_HISTORY`)."""
        items = [int(i) for i in items]
        if len(items) > MAX_HISTORY - self.history_model.rowCount():
            self.set_history(self.history() + tuple(items))
        else:
            self.history_model.add(items)

    def move_current(self, delta: int) -> None:
        """Move the current history row ``delta`` rows (-1: up/older, +1: down/newer)."""
        view = self._history.view
        to = view.currentIndex().row() + int(delta)
        if self.history_model.move(view.currentIndex().row(), to):
            view.setCurrentIndex(self.history_model.index(to, 1))

    def remove_current(self) -> None:
        row = self._history.view.currentIndex().row()
        if row >= 0:
            self.history_model.remove(row)

    def use_test_user(self, position: int) -> None:
        """Take the test history of the ``position``-th user of the picker."""
        users = self.state.users
        if 0 <= position < len(users):
            self._history.user_combo.setCurrentIndex(position)
            self.set_history(users[position][1])

    def use_selected_items(self) -> None:
        """Replace the history by the items selected in the linked selection (the first
        :data:`MAX_HISTORY`, in the selection's order)."""
        items = self._selection.current.items
        if items:
            self.set_history(list(items)[:MAX_HISTORY])

    def add_from_text(self, text: str | None = None) -> int | None:
        """Add the item that ``text`` (default: the search box) names: a completion, an item id
        (``123`` or ``id:123``), else the first item whose title, brand or id contains it.
        Returns the item index added, or None (the status line says why)."""
        text = (self._history.search.text() if text is None else text).strip()
        if not text or self.state.project is None:
            return None
        item = self.state.resolve(text)
        if item is None:
            self._history.status.setText(f"No item matches “{html.escape(text)}”.")
            return None
        self.add_items([item])
        self._history.search.clear()
        return item

    def pending_request(self) -> PlaygroundRequest:
        """The request the current controls describe (what the next run will send)."""
        return self.state.pending(*self._controls())

    def run_now(self) -> None:
        """Send the current request now (skipping the debounce)."""
        self._timer.stop()
        if self.state.project is None:
            return
        self.sig_request_started.emit(self.state.new_request(*self._controls()))
        for kind in KINDS:
            self._dispatch(kind)
        self._update_statuses()

    # ---- private: layout ----
    def _build_main_page(self) -> QWidget:
        page, lay = page_column(rich_label(_INTRO), margins=(0, 0, 0, 0), spacing=6)
        self._history = HistoryBox(self.history_model)
        self._groups = GroupsBox(self.groups_model)
        self._wire_history()
        top = splitter(self._history, self._groups, stretch=(3, 2), sizes=(720, 540))
        split = splitter(top, self._build_results(), stretch=(1, 1), sizes=(330, 380),
                         orientation=Qt.Orientation.Vertical)
        for s in (top, split):
            s.setChildrenCollapsible(False)
        lay.addWidget(split, 1)
        return page

    def _wire_history(self) -> None:
        box = self._history
        box.search.returnPressed.connect(self._on_return)
        box.completer.activated.connect(self._on_completion)
        box.user_combo.activated.connect(self.use_test_user)
        box.view.clicked.connect(self._on_history_clicked)
        box.remove_action.triggered.connect(self.remove_current)
        for key, slot in (("add", lambda: self.add_from_text()), ("use_selected", self.use_selected_items),
                          ("up", lambda: self.move_current(-1)), ("down", lambda: self.move_current(1)),
                          ("remove", self.remove_current), ("clear", lambda: self.set_history([]))):
            box.buttons[key].clicked.connect(slot)
        self._groups.depth.valueChanged.connect(self._update_groups)

    def _build_results(self) -> QWidget:
        w = QWidget()
        lay = QVBoxLayout(w)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        self._options = OptionsRow()
        self._options.instruction.setToolTip(self.state.instruction_tip())
        for signal in self._options.changed:
            signal.connect(self._schedule)
        lay.addWidget(self._options)
        legend = QLabel(_LEGEND)
        legend.setTextFormat(Qt.TextFormat.RichText)
        legend.setWordWrap(True)  # both labels wrap rather than draw over each other in large type
        self._request_label = named(QLabel(""), "request")
        self._request_label.setWordWrap(True)
        self._request_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        row = QHBoxLayout()
        row.addWidget(legend, 3)
        row.addWidget(self._request_label, 2)
        lay.addLayout(row)
        lists = QHBoxLayout()
        lists.setSpacing(8)
        self._columns = {kind: ResultColumn(kind, self.result_models[kind]) for kind in KINDS}
        for kind, col in self._columns.items():
            col.view.clicked.connect(lambda index, kind=kind: self._on_result_clicked(kind, index))
            lists.addWidget(col, 1)
        lay.addLayout(lists, 1)
        return w

    def _controls(self) -> tuple:
        """(history, instruction, constrained, k, beam, exclude history) as the widgets say."""
        o = self._options
        return (self.history(), o.instruction.text(), o.constrained.isChecked(), o.k.value(), o.beam.value(),
                o.exclude.isChecked())

    # ---- private: project ----
    def _on_project_changed(self, snapshot: ProjectSnapshot | None) -> None:
        for scope in (*self._loads.values(), *self._decodes.values(), self._prepare):
            scope.cancel()
        self._timer.stop()
        project = snapshot.project if snapshot is not None else None
        self.state.open(project, snapshot.lookups if snapshot is not None else None)
        self._history.completion_list.set_strings(self.state.lookups.completions if project is not None else [])
        self._history.user_combo.clear()
        for model in self.result_models.values():
            model.clear()
        if project is None:
            self.history_model.set_source(None, None)
            self._stack.setCurrentWidget(self._empty_page)
            return
        depth = self._groups.depth
        depth.blockSignals(True)
        depth.setRange(1, max(1, int(project.sids.levels)))
        depth.setValue(1)
        depth.blockSignals(False)
        self.history_model.set_source(project.sids.codes, project.dataset.catalogue.title)
        self._stack.setCurrentWidget(self._main_page)
        self._update_instruction_box()
        for kind in KINDS:
            self._loads[kind].submit(
                load_generator, project, kind, GENERATOR_LABELS[kind], name=f"load {GENERATOR_LABELS[kind]} generator",
                on_result=self._on_generator, on_error=lambda message, kind=kind: self._on_load_error(kind, message),
                on_finished=self._after_job)
        self._prepare.submit(prepare_playground, project, name="playground test users", on_result=self._on_prepared,
                             on_error=self._on_prepare_error, on_finished=self._after_job)
        self._update_statuses()

    # ---- private: jobs ----
    def _busy(self) -> bool:
        return any(scope.busy for scope in (*self._loads.values(), *self._decodes.values(), self._prepare))

    def _dispatch(self, kind: str) -> None:
        """Decode the newest request for ``kind`` unless the state says otherwise (see
        :meth:`PlaygroundState.decode_action`)."""
        action = self.state.decode_action(kind, self._decodes[kind].busy)
        if action == "nothing":
            self.result_models[kind].clear()
            self._mark_overlap()
        elif action == "decode":
            req = self.state.request
            self._decodes[kind].submit(
                recommend_list, self.state.project, kind, self.state.models[kind], req,
                name=f"{GENERATOR_LABELS[kind]} recommendations", on_result=self._on_list,
                on_error=lambda message, kind=kind, rid=req.id: self.state.list_failed(kind, rid, message),
                on_finished=lambda kind=kind: self._on_decode_finished(kind))

    def _on_generator(self, load: GeneratorLoad) -> None:
        self.state.generator_loaded(load)
        self._update_instruction_box()
        self._dispatch(load.kind)

    def _on_load_error(self, kind: str, message: str) -> None:
        self.state.generator_failed(kind, message)
        self._update_instruction_box()

    def _on_prepared(self, setup: PlaygroundSetup) -> None:
        self.state.prepared_with(setup)
        combo = self._history.user_combo
        combo.blockSignals(True)
        combo.clear()
        for uid, hist in setup.users:
            combo.addItem(f"user {uid} · {len(hist)} items", uid)
        combo.blockSignals(False)
        if not self.history() and setup.users:  # first look: a real history, decoded at once
            self.use_test_user(0)
        self.run_now()

    def _on_prepare_error(self, message: str) -> None:
        self._history.status.setText(self.state.prepare_failed(message))
        self.run_now()

    def _on_list(self, result: ListResult) -> None:
        if self.state.list_arrived(result):
            self.result_models[result.kind].set_rows(result.rows)
            self._mark_overlap()
            self.sig_list_shown.emit(result.kind, result.request_id)

    def _on_decode_finished(self, kind: str) -> None:
        self._dispatch(kind)  # a newer request may be waiting
        self._after_job()

    def _after_job(self) -> None:
        self._update_statuses()
        if not self.screenshot_ready():
            return
        self.sig_results_shown.emit(self.state.request.id)
        if not self.state.ready:
            self.state.ready = True
            self.sig_ready.emit()

    def _mark_overlap(self) -> None:
        for kind, shared in self.state.shared().items():
            self.result_models[kind].set_shared(shared)

    # ---- private: request state ----
    def _schedule(self, *_) -> None:
        """Something the request depends on changed: send it after a quiet ~300 ms."""
        if self.state.project is None or not self.state.prepared:
            return
        self._timer.start()
        self._update_statuses()

    def _on_history_changed(self, *_) -> None:
        self._update_groups()
        n = self.history_model.rowCount()
        self._history.status.setText(self.state.history_text(n))
        combo, users = self._history.user_combo, self.state.users
        pos = combo.currentIndex()
        if 0 <= pos < len(users) and users[pos][1] != self.history():
            combo.setCurrentIndex(-1)  # the placeholder: no test user's history any more
        for key in ("up", "down", "remove", "clear"):
            self._history.buttons[key].setEnabled(n > 0)
        self._schedule()

    def _update_groups(self, *_) -> None:
        history = self.history()
        groups = self.state.update_groups(history, self._groups.depth.value())
        self.groups_model.set_groups(groups)
        self.history_model.set_groups(groups)
        self._groups.plot.set_groups(groups)
        self._groups.summary.setText(self.state.groups_text(len(history), sid_text))

    def _update_instruction_box(self) -> None:
        self._options.instruction.setEnabled(self.state.instruction_enabled)
        self._options.instruction.setToolTip(self.state.instruction_tip())

    def _update_statuses(self) -> None:
        debouncing = self._timer.isActive()
        for kind, col in self._columns.items():
            col.status.setText(_html(self.state.status(kind, debouncing)))
        self._request_label.setText(self.state.request_text(debouncing))

    # ---- private: user input ----
    def _on_return(self) -> None:
        """Enter in the search box. With a suggestion chosen in the open list (↓ then Enter), the
        completer adds it (:meth:`_on_completion`, right after this): adding here too would add
        the item twice."""
        if not self._history.suggestion_highlighted():
            self.add_from_text()

    def _on_completion(self, text: str) -> None:
        item = self.state.completion_item(text)
        if item is not None:
            self.add_items([item])
            QTimer.singleShot(0, self._history.search.clear)  # after the completer has written its text

    def _on_selection(self, event: SelectionEvent) -> None:
        n = len(event.items)
        button = self._history.buttons["use_selected"]
        button.setEnabled(n > 0 and self.state.project is not None)
        button.setText(f"Use selected items ({n:,})" if n else "Use selected items")

    def _on_result_clicked(self, kind: str, index: QModelIndex) -> None:
        if index.isValid():
            item = self.result_models[kind].item_at(index.row())
            if item >= 0:
                self._selection.select_items([item], SOURCE)

    def _on_history_clicked(self, index: QModelIndex) -> None:
        if index.isValid():
            self._selection.select_items([self.history()[index.row()]], SOURCE)
