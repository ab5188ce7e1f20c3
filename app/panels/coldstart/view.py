"""Cold-start lab panel: give a new item a semantic ID, see where it lands, and whether a user gets it.

1. **The item**: type one (title, brand, categories) or pick one of the project's held-out cold
   items (a cold-start project, e.g. ``resources/models/beauty-coldstart``, holds some out).
2. **Encode**: a typed item's text is embedded with MiniLM (on a worker; the model loads on first
   use, a few seconds) and tokenized with the project's frozen tokenizer; the panel shows its SID
   and the live items under its longest shared SID prefix.
3. **A user**: a test user of the project (suggested: users whose next item it was, then users whose
   recent items are closest to it in content) or a history made of the shared selection. For that
   history the panel shows, level by level, the generator's probability of the item's code among
   the level's codes (one bar chart per level), the item's exact rank among all live items by full
   SID likelihood (generative-only), and its rank after hybrid re-ranking with SASRec as the dense
   model (the mixing weight is an expert slider).
4. **Inject / Retire** edit the lab's own :class:`~genrec_engine.ColdStartSession` (one per
   project: a private copy of the trie). Each edit is announced through
   :meth:`~app.panels.ProjectViewModel.announce_items_changed`, so the SID tree shows the item under
   its prefix and the map marks it (a typed item at the mean position of its content nearest
   neighbours). The project's own trie is never changed.

Before an item is injected, its ranks are computed **as if injected**: the rank job injects it into
its own copy of the session first (the generator cannot return an item that is not in the trie).

This module binds :class:`~.state.LabState` to the widgets of :mod:`.columns` and runs the jobs of
:mod:`.jobs`, one :class:`~app.bridge.JobScope` per kind of request. The session is only changed
on the GUI thread (inject ~1 ms, retire ~0.1 ms on the bundled project); every job gets its own
copy of the session (~0.1 ms for 12k items), so no worker reads a trie that is being changed.
"""
from __future__ import annotations

import functools
import html
import time

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QFrame, QLabel, QScrollArea, QSplitter, QStackedWidget, QVBoxLayout, QWidget

from genrec_engine import GenrecError, TextEncoder

from ...bridge import JobScope
from ...widgets import centred_column, error_label, heading
from .. import ProjectSnapshot, ProjectViewModel
from .columns import ItemColumn, SidColumn, UserColumn
from .jobs import analyse_item, embed_item, encoder_loaded, load_lab, new_session, snapshot_session, suggest_users
from .models import ColdItemsModel, ItemRowsModel, SessionItemsModel, TopListModel
from .results import EXAMPLE_ITEM, Analysis, CurrentItem, LabSetup, LabText
from .state import LabState

__all__ = ["ColdStartPanel"]

_HEADER = (
    "<b>Cold-start lab.</b> A generative recommender can only produce items that are in its SID trie. Give a "
    "new item a semantic ID with the frozen tokenizer, see which items share its prefix, how likely a user's "
    "generator is to walk its path, and where it ranks, generatively and after hybrid re-ranking; then "
    "<b>Inject</b> it (the tree and the map show it) or <b>Retire</b> it (never generated again)."
)
_EMPTY_TEXT = "<p>Open a project with <b>File › Open project…</b> to try new items in its catalogue.</p>"
_NO_GENERATOR = "No generator of this project can score the item (see the message above)."


class ColdStartPanel(QWidget):
    """Type or pick a new item, see its SID, neighbours, path probabilities and ranks; inject or
    retire it in the lab's own :class:`~genrec_engine.ColdStartSession`.

    Built as ``ColdStartPanel(view_model, selection, bridge)``. Reads the linked selection as an
    optional user history and never changes it; announces session edits through
    ``view_model.announce_items_changed``. ``state`` (:class:`~.state.LabState`) holds what it shows.
    """

    sig_ready = Signal()
    """Emitted when an item's analysis (SID, neighbours, path probabilities, ranks) is first drawn for a project."""

    sig_analysis_shown = Signal(object)
    """``(Analysis)``: a rank job's result is on screen."""

    sig_item_shown = Signal(object)
    """``(CurrentItem)``: an item (typed and encoded, or picked) is the lab's item; its SID and neighbours show."""

    def __init__(self, view_model: ProjectViewModel, selection, bridge, parent: QWidget | None = None):
        super().__init__(parent)
        self._vm, self._selection = view_model, selection
        self.state = LabState()
        self._encoder = None  # one TextEncoder per panel (MiniLM itself is shared by the engine)
        self._ready_emitted = False
        self._load, self._encode, self._users = JobScope(bridge), JobScope(bridge), JobScope(bridge)
        self._analysis, self._reset = JobScope(bridge), JobScope(bridge)
        self._scopes = (self._load, self._encode, self._users, self._analysis, self._reset)

        self.neighbour_model = ItemRowsModel(self)
        self.cold_model = ColdItemsModel(self)
        self.session_model = SessionItemsModel(self)
        self.top_model = TopListModel(self)
        self._analysis_timer = QTimer(self)  # the weight slider asks at most ~4 times a second
        self._analysis_timer.setSingleShot(True)
        self._analysis_timer.setInterval(250)
        self._analysis_timer.timeout.connect(self._request_analysis)

        self._items = ItemColumn(self.cold_model, self.session_model)
        self._sid = SidColumn(self.neighbour_model, self.top_model)
        self._user = UserColumn()
        self._stack = QStackedWidget(self)
        self._empty_page = centred_column(heading("No project open", 1.6), QLabel(_EMPTY_TEXT))
        self._stack.addWidget(self._empty_page)
        self._stack.addWidget(self._main_page())
        self._error = error_label()
        self._error.setObjectName("coldstart_error")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 8, 10, 8)
        lay.setSpacing(6)
        header = QLabel(_HEADER)
        header.setWordWrap(True)
        header.setTextFormat(Qt.TextFormat.RichText)
        lay.addWidget(header)
        lay.addWidget(self._error)
        lay.addWidget(self._stack, 1)
        self._connect()
        self._on_weight_changed(self._user.weight_slider.value(), ask=False)
        selection.sig_changed.connect(self._on_selection)
        view_model.sig_project_changed.connect(self._on_project_changed)
        self._on_project_changed(view_model.snapshot)

    # ---- public ----
    def screenshot_ready(self) -> bool:
        """True once an item's SID, neighbours and analysis are drawn and no job of the panel runs."""
        return self.state.ready and not self.busy()

    def page(self) -> str:
        """``"empty"`` (no project) or ``"lab"``."""
        return "empty" if self._stack.currentWidget() is self._empty_page else "lab"

    def busy(self) -> bool:
        """Whether a job of this panel is queued or running."""
        return any(scope.busy for scope in self._scopes)

    def type_item(self, title: str, brand: str = "", categories: str = "", *, encode: bool = True) -> None:
        """Fill the typed-item fields (and encode it, as the Encode button does)."""
        self._items.tabs.setCurrentIndex(0)
        self._items.set_typed_text(title, brand, categories)
        if encode:
            self.encode()

    def encode(self) -> None:
        """Encode the typed item (a job: MiniLM, then the frozen tokenizer on the GUI thread)."""
        if self.state.session is None:
            return
        text = self._items.typed_text()
        why = self.state.check_text(*text)
        if why:
            self._set_status(why)
            return
        if self._encoder is None:
            self._encoder = TextEncoder(device="cpu", use_cache=False)
        self._set_busy(True, "Embedding the text…" if encoder_loaded()
                       else "Loading the MiniLM text encoder (first use: a few seconds)…")
        self._submit(self._encode, "encode the item", embed_item, snapshot_session(self.state.session), self._encoder,
                     *text, on_result=functools.partial(self._on_encoded, text), name="cold-start: embed a new item")

    def pick_cold(self, item: int) -> None:
        """Make held-out item ``item`` (a catalogue index) the lab's item."""
        if self.state.session is None:
            return
        item = int(item)
        self._items.tabs.setCurrentIndex(1)
        proxy = self._items.cold_proxy.mapFromSource(self.cold_model.index(self.cold_model.row_of(item), 0))
        if proxy.isValid():
            view = self._items.cold_view
            view.selectionModel().blockSignals(True)
            view.selectRow(proxy.row())
            view.selectionModel().blockSignals(False)
            view.scrollTo(proxy)
        self._set_current(self.state.cold_item(item))

    def inject(self) -> None:
        """Insert the lab's item into the session's trie (GUI thread, ~1 ms) and tell the other panels."""
        self._edit("inject the item", self.state.inject, lambda: f"Injected in {self.state.timings['inject_ms']:.1f} ms")

    def retire(self, item: int | None = None) -> None:
        """Remove ``item`` (default: the lab's item) from the session's trie: decoding never returns it."""
        self._edit("retire the item", lambda: self.state.retire(item),
                   lambda: f"Retired in {self.state.timings['retire_ms']:.2f} ms")

    def restore(self, item: int) -> None:
        """Put a retired catalogue item back into the session's trie."""
        self._edit("restore the item", lambda: self.state.restore(item), lambda: "Restored")

    def reset_session(self) -> None:
        """Drop every injection and retirement: a fresh session (made on a worker)."""
        if self.state.snapshot is None:
            return
        self._set_busy(True, "Starting a fresh session…")
        self._submit(self._reset, "start a fresh session", new_session, self.state.project,
                     on_result=self._on_new_session, name="cold-start: new session")

    def set_generator(self, kind: str) -> None:
        idx = self._user.generator_combo.findData(kind)
        if idx >= 0:
            self._user.generator_combo.setCurrentIndex(idx)

    def set_weight(self, weight: float) -> None:
        """Set the hybrid mixing weight (0 = generative only, 1 = dense only) and re-rank."""
        self._user.weight_slider.setValue(int(round(100 * float(weight))))
        self._analysis_timer.stop()
        self._request_analysis()

    def choose_user_row(self, row: int) -> None:
        """Use test user ``row`` (of ``state.setup.users``) as the history, also for the next items."""
        if self.state.setup is None:
            return
        self.state.pin_user(row)
        self._fill_user_combo()
        self._request_analysis()

    def use_selection_history(self) -> None:
        if ("selection", None) in self.state.choices:
            self._user.user_combo.setCurrentIndex(self.state.choices.index(("selection", None)))

    # ---- private: building ----
    def _main_page(self) -> QWidget:
        split = QSplitter(Qt.Orientation.Horizontal)
        split.setChildrenCollapsible(False)
        for column in (self._items, self._sid, self._user):
            split.addWidget(column)
        split.setSizes([360, 430, 470])
        for i, stretch in enumerate((0, 1, 1)):
            split.setStretchFactor(i, stretch)
        split.setMinimumSize(1120, 600)  # below that, scroll rather than squeeze the charts and tables
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(split)
        return scroll

    def _connect(self) -> None:
        items, sid, user = self._items, self._sid, self._user
        for w in (items.title_edit, items.brand_edit, items.categories_edit):
            w.returnPressed.connect(self.encode)
            w.textEdited.connect(self._on_text_edited)
        items.encode_button.clicked.connect(self.encode)
        items.cold_view.selectionModel().selectionChanged.connect(self._on_cold_selection)
        items.inject_button.clicked.connect(self.inject)
        items.retire_button.clicked.connect(lambda: self.retire())
        items.reset_button.clicked.connect(self.reset_session)
        items.session_view.selectionModel().selectionChanged.connect(self._update_buttons)
        items.undo_button.clicked.connect(self._on_undo)
        sid.neighbour_view.selectionModel().selectionChanged.connect(self._update_buttons)
        sid.retire_neighbour_button.clicked.connect(self._on_retire_neighbour)
        user.user_combo.currentIndexChanged.connect(self._on_user_chosen)
        user.user_edit.returnPressed.connect(self._on_user_typed)
        user.generator_combo.currentIndexChanged.connect(self._on_generator)
        user.weight_slider.valueChanged.connect(self._on_weight_changed)

    # ---- private: project ----
    def _on_project_changed(self, snapshot: ProjectSnapshot | None) -> None:
        for scope in self._scopes:
            scope.cancel()
        self.state.open_project(snapshot)
        self.state.selection_items = tuple(int(i) for i in self._selection.current.items)
        self._ready_emitted = False
        self._show_error()
        self._clear_item_views()
        self.cold_model.set_rows([])
        self._items.show_cold_items(0, "")
        self._update_session_views()
        self._fill_user_combo()
        if snapshot is None:
            self._stack.setCurrentWidget(self._empty_page)
            self._set_busy(False)
            self._update_buttons()
            return
        self._stack.setCurrentIndex(1)
        self._user.charts.reset(snapshot.project.sids.depth)
        if not self._items.title_edit.text():
            self._items.set_typed_text(*EXAMPLE_ITEM)
        self._set_busy(True, "Loading the generators and the test users…")
        self._submit(self._load, "load the lab", load_lab, snapshot.project, on_result=self._on_setup,
                     name="cold-start: load the lab")
        self._update_buttons()

    def _on_setup(self, setup: LabSetup) -> None:
        state, items = self.state, self._items
        state.set_setup(setup)
        self._set_busy(False, "")
        rows = state.cold_rows()
        self.cold_model.set_rows(rows)
        items.show_cold_items(len(rows), state.cold_notice())
        self._user.set_generators(setup.generators, setup.generator_errors, state.generator)
        self._show_error()
        self._update_session_views()
        first = state.first_cold_item()
        if first is not None:  # the held-out item most test users took next: there is a user to rank it for
            self.pick_cold(first)
        elif state.typing_note():  # nothing to show until the user acts
            self._set_status(state.typing_note())
            state.ready = True
            self._on_job_finished()
        else:
            items.tabs.setCurrentIndex(0)
            self.encode()

    # ---- private: jobs ----
    def _submit(self, scope: JobScope, what: str, fn, *args, on_result, name: str, on_finished=None) -> None:
        """Run ``fn`` in ``scope``: progress goes to the status line, an error says it could not ``what``."""
        scope.submit(fn, *args, name=name, on_result=on_result, on_progress=self._on_progress,
                     on_error=functools.partial(self._on_job_error, what),
                     on_finished=on_finished or self._on_job_finished)

    def _on_job_finished(self) -> None:
        if not self.busy():
            self._set_busy(False)
            if self.state.ready and not self._ready_emitted:
                self._ready_emitted = True
                self.sig_ready.emit()

    def _on_progress(self, _fraction: float, message: str) -> None:
        if message:
            self._set_status(message[:1].upper() + message[1:] + "…")

    def _on_job_error(self, what: str, message: str) -> None:
        self._set_busy(False, "")
        self._show_error(f"Could not {what}: {message}")
        self.state.ready = True  # the error is what there is to show until the user acts
        self._on_job_finished()

    # ---- private: the item ----
    def _on_text_edited(self, *_args) -> None:
        cur = self.state.current
        if cur is not None and cur.kind == "typed" and cur.index is None:
            self._set_status("The text changed: press Encode (or Enter) for its SID.")

    def _on_encoded(self, text: tuple[str, str, str], result: LabText) -> None:
        encoder_loaded(True)
        timings = self.state.timings
        timings["encode_s"] = result.seconds
        t0 = time.perf_counter()
        try:
            item = self.state.typed_item(*text, result)
        except GenrecError as exc:
            self._show_error(f"Could not tokenize the item: {exc}")
            return
        timings["tokenize_ms"] = 1000 * (time.perf_counter() - t0)
        self._set_current(item)
        self.state.edit_note = f"Encoded in {result.seconds:.2f} s (tokenized in {timings['tokenize_ms']:.1f} ms). "
        self._set_status(self.state.edit_note)

    def _on_cold_selection(self, *_args) -> None:
        rows = self._items.cold_view.selectionModel().selectedRows(0)
        if rows:
            item = self._items.cold_proxy.data(rows[0], Qt.ItemDataRole.UserRole)
            cur = self.state.current
            if item is not None and (cur is None or cur.index != int(item)):
                self.pick_cold(int(item))

    def _set_current(self, item: CurrentItem) -> None:
        state = self.state
        state.set_current(item)
        self._show_item()
        self.sig_item_shown.emit(item)
        self._show_error()
        if state.setup is not None:
            self._submit(self._users, "suggest users", suggest_users, state.setup.users, item.embedding,
                         item.index if item.kind == "cold" else None, on_result=self._on_users,
                         name="cold-start: suggest users")

    def _show_item(self) -> None:
        """Title, SID, state and neighbours of the lab's item (GUI thread: ~1 ms on the session trie)."""
        cur, state = self.state.current, self.state
        if cur is None or state.session is None:
            self._clear_item_views()
            return
        self._sid.item_title.setText(cur.title or "(untitled)")
        self._sid.sid_label.setText(state.sid_text())
        self._sid.state_label.setText(state.item_state())
        caption, rows = state.neighbours()
        self._sid.neighbour_caption.setText(caption)
        self.neighbour_model.set_rows(rows)
        self._update_buttons()

    def _clear_item_views(self) -> None:
        sid, user = self._sid, self._user
        for label in (sid.item_title, sid.sid_label, sid.state_label, sid.neighbour_caption, sid.top_caption,
                      user.rank_label, user.history_label):
            label.setText("")
        self.neighbour_model.set_rows([])
        self.top_model.set_lists([], None, None)
        user.charts.clear()

    # ---- private: users ----
    def _fill_user_combo(self) -> None:
        combo = self._user.user_combo
        combo.blockSignals(True)
        combo.clear()
        combo.addItems(self.state.choice_labels())
        combo.setCurrentIndex(self.state.choice)
        combo.blockSignals(False)

    def _on_users(self, suggested: list[tuple[int, str]]) -> None:
        self.state.set_suggested(suggested)
        self._fill_user_combo()
        self._request_analysis()

    def _on_user_chosen(self, index: int) -> None:
        self.state.choose(index)
        self._request_analysis()

    def _on_user_typed(self) -> None:
        text = self._user.user_edit.text().strip()
        if self.state.setup is None or not text:
            return
        row = self.state.user_row(text)
        if row is None:
            self._set_status(f"No test user has id {text}.")
            return
        self.choose_user_row(row)

    def _on_selection(self, event) -> None:
        state = self.state
        state.selection_items = tuple(int(i) for i in event.items)
        if state.setup is None:
            return
        if ("selection", None) in state.choices:
            self._user.user_combo.setItemText(state.choices.index(("selection", None)), state.selection_label())
        if state.user_choice() == ("selection", None):
            self._request_analysis()

    # ---- private: analysis ----
    def _on_generator(self, _index: int) -> None:
        self.state.generator = self._user.generator_combo.currentData()
        self._request_analysis()

    def _on_weight_changed(self, value: int, ask: bool = True) -> None:
        self.state.weight = value / 100.0
        self._user.weight_label.setText(f"Hybrid weight {value / 100:.2f}")
        if ask:
            self._analysis_timer.start()

    def _request_analysis(self) -> None:
        """Score the lab's item for the chosen history (one rank job at a time; the latest ask wins)."""
        state = self.state
        if state.no_generator():
            self._user.rank_label.setText(_NO_GENERATOR)
            return
        request = state.analysis_request()
        if request is None:
            return
        if self._analysis.busy:
            state.analysis_pending = True
            return
        self._user.history_label.setText(state.history_text(list(request.history)))
        self._set_busy(True, f"Scoring the item's path with {self._user.generator_combo.currentText()}…")
        self._submit(self._analysis, "score the item", analyse_item, snapshot_session(state.session), request,
                     on_result=self._on_analysis, on_finished=self._on_analysis_finished,
                     name="cold-start: rank the item")

    def _on_analysis_finished(self) -> None:
        if self.state.analysis_pending:
            self.state.analysis_pending = False
            self._request_analysis()
        self._on_job_finished()

    def _on_analysis(self, a: Analysis) -> None:
        state = self.state
        if not state.accept_analysis(a):
            return  # the item changed while it ran (the pending request follows)
        self._user.charts.show_levels(a.levels)
        self._user.rank_label.setText(state.rank_text(a))
        self._set_status(state.scored_status(a))
        self.top_model.set_lists(a.generative, a.hybrid, a.item)
        self._sid.top_caption.setText(state.top_caption(a))
        self.sig_analysis_shown.emit(a)

    # ---- private: session edits ----
    def _edit(self, what: str, edit, note) -> None:
        """Run one session edit of the state; on success refresh the views, announce the session's
        new live items to the other panels and re-rank."""
        try:
            change = edit()
        except GenrecError as exc:
            self._show_error(f"Could not {what}: {exc}")
            return
        if change is not None:
            self._after_edit(change, note())

    def _after_edit(self, change, what: str) -> None:
        self.cold_model.set_states(self.state.cold_states)
        self._update_session_views()
        self._show_item()
        self.state.edit_note = f"{what}. " if what else ""
        self._set_status(self.state.edit_note)
        self._vm.announce_items_changed(change)
        self._request_analysis()

    def _on_new_session(self, session) -> None:
        change = self.state.use_session(session)
        self._set_busy(False, "A fresh session: nothing injected or retired.")
        self.cold_model.set_states(self.state.cold_states)
        self._update_session_views()
        self._show_item()
        self._vm.announce_items_changed(change)
        self._request_analysis()

    def _update_session_views(self) -> None:
        self.session_model.set_rows(self.state.session_rows())
        self._items.session_label.setText(self.state.session_summary())
        self._update_buttons()

    def _selected_item(self, view, model) -> int | None:
        rows = view.selectionModel().selectedRows(0)
        return model.item_at(rows[0].row()) if rows else None

    def _on_undo(self) -> None:
        item, s = self._selected_item(self._items.session_view, self.session_model), self.state.session
        if item is None or s is None:
            return
        if item in s.trie:
            self.retire(item)
        elif item < s.n_items:
            self.restore(item)

    def _on_retire_neighbour(self) -> None:
        item = self._selected_item(self._sid.neighbour_view, self.neighbour_model)
        if item is not None:
            self.retire(item)

    # ---- private: small things ----
    def _update_buttons(self, *_args) -> None:
        state, items = self.state, self._items
        has_session = state.session is not None
        items.inject_button.setEnabled(state.can_inject())
        items.retire_button.setEnabled(state.is_live())
        items.reset_button.setEnabled(has_session)
        items.encode_button.setEnabled(has_session and not state.typing_note())
        chosen = self._selected_item(items.session_view, self.session_model) if has_session else None
        items.undo_button.setEnabled(chosen is not None and state.can_toggle(chosen))
        self._sid.retire_neighbour_button.setEnabled(
            self._selected_item(self._sid.neighbour_view, self.neighbour_model) is not None)

    def _set_busy(self, busy: bool, message: str | None = None) -> None:
        self._items.busy.setVisible(busy or self.busy())
        if message is not None:
            self._set_status(message)

    def _set_status(self, text: str) -> None:
        self._items.status.setText(html.escape(text))

    def _show_error(self, text: str | None = None) -> None:
        """Show ``text`` as the error (None: whatever the state holds, perhaps nothing)."""
        if text is not None:
            self.state.error = text
        self._error.setText(self.state.error or "")
        self._error.setVisible(bool(self.state.error))
