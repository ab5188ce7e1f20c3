"""The beam stepper panel: watch one user's next item being decoded, SID level by SID level.

Pick a test user (or build a history), a generator (RAN or TIGER-style: SASRec scores atomic ids
and has no SID decode) and the decoding options, then press **Step**: the beam tree grows one
column per level (every node is a SID prefix labelled with its token and cumulative log-prob;
beams the search dropped stay visible, greyed), and the candidates table lists what each live beam
wanted at that level, with the probability before and after the trie mask (masked tokens greyed).
**Back** undoes a level exactly; selecting a candidate and pressing **Force** redoes the level
keeping only that branch, so the rest of the decode shows what the model finds under it. At the
end the results table ranks the items (the user's true next item marked), counts SIDs that name
no item (unconstrained mode) and a meter shows how much of the top-10 shares one first code.

Threads: every model forward pass runs in a bridge job (:mod:`.jobs`): loading a generator, the
test users, a filter's blocked items, an instruction's vector, building a stepper and every move
of it (step, back, force, run to the end, reset). One :class:`~app.bridge.JobScope` per kind of
request; the decode scope runs one job at a time on the shown stepper: moves asked for while it
runs wait in :attr:`StepperState.queued` and the move buttons are disabled.

Source name in the linked selection: ``"stepper"``.
"""
from __future__ import annotations

import functools

import numpy as np
from PySide6.QtCore import QModelIndex, QStringListModel, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCompleter,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ...bridge import JobScope
from ...widgets import centred_column, error_label, sid_text
from ...widgets.layouts import lay_out
from ...widgets.deferral import FillOnFocus
from .. import ProjectSnapshot, ProjectViewModel
from .controls import OptionsBar
from ...widgets.views import table_view
from .layout import KeyedScope, box, label
from .jobs import (
    CatalogueFacets,
    KIND_LABELS,
    Decoded,
    LoadedGenerator,
    Move,
    OpenedProject,
    build_stepper,
    encode_instruction_text,
    filter_blocked_items,
    load_stepper_generator,
    move_stepper,
    open_stepper_project,
)
from .models import CandidatesModel, HistoryModel, ResultsModel
from .state import (
    Build,
    NeedFilter,
    NeedGenerator,
    NeedInstruction,
    Refused,
    StepperState,
    candidate_rows,
    result_rows,
    tree_columns,
    PrefixMeaning,
    prefix_meaning,
)
from .tree import BeamTreeView

__all__ = ["SOURCE", "StepperPanel"]

#: The name this panel gives its selections (``SelectionEvent.source``).
SOURCE = "stepper"

_HEADER = (
    "Watch a generator decode one user's next item, one SID level at a time. Each column of the tree is a "
    "level: a node is a prefix with its token, cumulative log-prob and its items' main category (hover for the "
    "item count, brand and most popular title), beside its children, the best path along the top; greyed nodes "
    "are candidates the beam dropped, <span style='color:#b3261e'>red dashed</span> ones prefixes no item has, "
    "the <span style='color:#1e8a3a'><b>green</b></span> outline follows the user's true next item; click a node "
    "to select its prefix in the other panels. "
    "Select a candidate and press <b>Force</b> to see what the model finds down that branch instead."
)
_EMPTY_TEXT = "<p>Open a project with <b>File › Open project…</b> to step through its generators' decoding.</p>"
_MOVE_BUTTONS = (
    ("reset", "Reset", "Back to the start; forced tokens are dropped."),
    ("back", "◀ Back", "Undo the last level (exactly: the same beams come back)."),
    ("step", "Step ▶", "Decode the next SID level."),
    ("run", "Run to end ▶▶", "Decode the remaining levels."),
)
#: keyboard stepping, as in a debugger (active while the stepper's tab is shown)
MOVE_SHORTCUTS = {"step": ("F10", "Ctrl+Right"), "back": ("Shift+F10", "Ctrl+Left"), "run": ("F5", "Ctrl+End"),
                  "reset": ("Ctrl+Home",)}


class StepperPanel(QWidget):
    """Step through one user's decode: history, options, beam tree, candidates, results.

    Built as ``StepperPanel(view_model, selection, bridge)``. Public: :attr:`state` (the
    :class:`StepperState`: history, user, the shown :class:`~.jobs.DecodeView`), :meth:`open_user`
    (the diagnostics panel calls it), :meth:`step`, :meth:`back`, :meth:`run_to_end`,
    :meth:`reset`, :meth:`force`, :meth:`force_selected`, :meth:`busy`, :meth:`view_state`,
    :meth:`screenshot_ready`. Widgets have object names (see :mod:`.controls`; buttons ``reset``,
    ``back``, ``step``, ``run``, ``force``, ``remove``; ``search``, ``user``, ``history_view``,
    ``candidates_view``, ``results_view``, ``status``, ``user_label``, ``force_label``,
    ``target_label``, ``invalid_label``, ``error``).
    """

    sig_ready = Signal()
    """Emitted once per project, when a user's decode is first shown to the end."""

    sig_decoded = Signal()
    """Emitted whenever a newly built stepper is shown (a user, generator or option changed)."""

    sig_moved = Signal()
    """Emitted whenever a move (step, back, force, run to the end, reset) is shown."""

    def __init__(self, view_model: ProjectViewModel, selection, bridge, parent: QWidget | None = None):
        super().__init__(parent)
        self._vm, self._selection, self._bridge = view_model, selection, bridge
        self.state = StepperState()
        self._opening = JobScope(bridge)
        self._generator = KeyedScope(bridge)
        self._filter = KeyedScope(bridge)
        self._encoding = KeyedScope(bridge)
        self._decode = JobScope(bridge)  # builds and moves of the shown stepper, one at a time
        self._scopes = (self._opening, self._generator, self._filter, self._encoding, self._decode)
        self._snapshot_lookups = None  # the open project's item look-ups (completions: built on first use)

        self.history_model = HistoryModel(self)
        self.candidates_model = CandidatesModel(self)
        self.results_model = ResultsModel(self)

        self._stack = QStackedWidget(self)
        self._empty_page = centred_column(QLabel(_EMPTY_TEXT))
        self._loading_page = centred_column(QLabel("Loading the test users and the generator…"))
        self._main_page = self._build_main_page()
        for page in (self._empty_page, self._loading_page, self._main_page):
            self._stack.addWidget(page)
        header = QLabel(_HEADER)
        header.setWordWrap(True)
        header.setTextFormat(Qt.TextFormat.RichText)
        self._error = error_label()
        self._error.setObjectName("error")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 8, 10, 8)
        lay.setSpacing(6)
        lay.addWidget(header)
        lay.addWidget(self._error)
        lay.addWidget(self._stack, 1)

        view_model.sig_project_changed.connect(self._on_project_changed)
        self._on_project_changed(view_model.snapshot)

    # ---- public ----
    def busy(self) -> bool:
        """A job of this panel is queued or running."""
        return any(scope.busy for scope in self._scopes)

    def screenshot_ready(self) -> bool:
        """True once a user has been decoded to the end (and shown) and no job of this panel runs."""
        return self.state.ready and not self.busy()

    def open_user(self, user_index: int) -> None:
        """Show test user ``user_index`` (0-based, in the project's leave-one-out split) at the
        start of the decode (level 0), ready to step."""
        if self.state.users is None:
            self.state.pending_user = int(user_index)
            return
        self._open_user(int(user_index), level=0)

    def step(self) -> None:
        self._move(Move("step"))

    def back(self) -> None:
        self._move(Move("back"))

    def run_to_end(self) -> None:
        self._move(Move("run"))

    def reset(self) -> None:
        """Back to the start, every force dropped."""
        self._move(Move("reset"))

    def force(self, beam: int, token: int) -> None:
        """Redo the last decoded level keeping only ``beam``'s child along ``token``, then decode to
        the level that was shown (the rest of the path follows the forced branch)."""
        self._move(Move("force", int(beam), int(token)))

    def force_selected(self) -> None:
        """Force the candidate selected in the candidates table."""
        rows = self._cand_view.selectionModel().selectedRows()
        if rows:
            beam, token, masked = self.candidates_model.candidate(rows[0].row())
            if not masked:
                self.force(beam, token)

    def view_state(self) -> dict:
        """What the panel shows, as plain values (tests compare states before and after moves)."""
        view = self.state.view
        return {
            "level": None if view is None else view.level,
            "tree": [(n.level, n.prefix, n.kind, n.forced, n.on_target, n.label) for n in self.tree.nodes()],
            "candidates": self.candidates_model.rows(),
            "results": self.results_model.rows(),
            "status": self._status.text(),
            "meter": self._meter.value(),
            "invalid": self._invalid_label.text(),
            "history": self.history_model.rows(),
        }

    # ---- private: layout ----
    def _build_main_page(self) -> QWidget:
        self._user_spin = QSpinBox()
        self._user_spin.setObjectName("user")
        self._user_spin.setToolTip("A user of the leave-one-out test split: their history without the last item, "
                                   "which is the true next item.")
        self._user_spin.setKeyboardTracking(False)
        self._user_spin.valueChanged.connect(self.open_user)
        self._user_label = label("user_label")
        self._options = OptionsBar([(QLabel("Test user"), 0), (self._user_spin, 0), (self._user_label, 1)])
        self._options.sig_kind_changed.connect(self._update_instruction_box)
        self._options.sig_changed.connect(self._on_options_changed)

        self._buttons: dict[str, QPushButton] = {}
        moves = []
        for name, text, tip in _MOVE_BUTTONS:
            b = self._button(name, text, tip, getattr(self, {"run": "run_to_end"}.get(name, name)))
            moves.append((b, 0))
        self._status = label("status", rich=True)
        self.tree = BeamTreeView()
        self.tree.setToolTip("Click a node to select its prefix's items in the other panels.")
        self.tree.sig_prefix_clicked.connect(self._on_prefix_clicked)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self._build_history_box())
        splitter.addWidget(box("Beam tree", self.tree))
        splitter.addWidget(self._build_right_column())
        for i, stretch in enumerate((0, 1, 1)):
            splitter.setStretchFactor(i, stretch)
        splitter.setSizes([210, 560, 510])

        page = QWidget()
        lay = QVBoxLayout(page)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(6)
        lay.addWidget(self._options)
        lay.addWidget(lay_out(*moves, (self._status, 1)))
        lay.addWidget(splitter, 1)
        return page

    def _button(self, name: str, text: str, tip: str, slot) -> QPushButton:
        b = QPushButton(text)
        b.setObjectName(name)
        keys = MOVE_SHORTCUTS.get(name, ())
        b.setToolTip(tip + (f" ({' or '.join(keys)})" if keys else ""))
        b.clicked.connect(lambda _checked=False: slot())
        # window-wide, so the keys work right after the tab is clicked (focus on the tab bar); Qt
        # ignores a shortcut whose widget is hidden, i.e. while another tab is shown. A disabled
        # button ignores click(): the shortcut does nothing then either.
        for key in keys:
            shortcut = QShortcut(QKeySequence(key), self, context=Qt.ShortcutContext.WindowShortcut)
            shortcut.activated.connect(b.click)
        self._buttons[name] = b
        return b

    def _build_history_box(self) -> QWidget:
        self._history_view = table_view(self.history_model, "history_view", stretch=1)
        self._search = QLineEdit()
        self._search.setObjectName("search")
        self._search.setPlaceholderText("add an item: title or id")
        self._completer_model = QStringListModel(self)
        self._completer = QCompleter(self._completer_model, self)
        self._completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self._completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self._completer.setMaxVisibleItems(12)
        self._completer.activated.connect(self._on_completion)
        self._search.setCompleter(self._completer)
        self._completion_list = FillOnFocus(self._search, self._completer_model)  # to Qt on first focus
        self._search.returnPressed.connect(self._on_search)
        remove = self._button("remove", "Remove", "Remove the selected history item.", self._remove_selected)
        return box("History (oldest first)", self._history_view, lay_out((self._search, 1), (remove, 0)))

    def _build_right_column(self) -> QWidget:
        self._cand_view = table_view(self.candidates_model, "candidates_view", stretch=len(CandidatesModel.COLUMNS) - 1)
        self._cand_view.selectionModel().selectionChanged.connect(self._update_buttons)
        self._cand_view.doubleClicked.connect(lambda _: self.force_selected())
        force = self._button("force", "Force", "Redo this level keeping only the selected candidate: every later "
                             "beam extends it, so the list shows the best items down that branch. Reset drops it.",
                             self.force_selected)
        self._force_label = label("force_label")

        self._results_view = table_view(self.results_model, "results_view", stretch=1)
        self._results_view.clicked.connect(self._on_result_clicked)
        self._target_label = label("target_label", rich=True, ignored=False)
        self._target_label.setWordWrap(True)
        self._meter = QProgressBar()
        self._meter.setObjectName("meter")
        self._meter.setRange(0, 100)
        self._meter.setValue(0)
        self._meter.setFormat("%p %")
        self._meter.setMaximumWidth(140)
        self._meter.setToolTip("Homogeneity: the share of the top-10 held by the most common first SID code. "
                               "100 % means every recommended item comes from one branch of the catalogue.")
        self._meter_label = label("meter_label")
        self._invalid_label = label("invalid_label", ignored=False)

        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(box("Candidates at the last level", self._cand_view,
                             lay_out((force, 0), (self._force_label, 1))))
        split.addWidget(box("Recommendations", self._results_view, self._target_label,
                             lay_out((QLabel("Homogeneity"), 0), (self._meter, 0), (self._meter_label, 1)),
                             self._invalid_label))
        split.setSizes([270, 390])
        return split

    # ---- private: project ----
    @property
    def _completions(self) -> dict[str, int]:
        """The open project's item-picker completions (built on first use when the window's
        look-up job has not made them yet)."""
        return {} if self._snapshot_lookups is None else self._snapshot_lookups.completions()

    def _on_project_changed(self, snapshot: ProjectSnapshot | None) -> None:
        for scope in self._scopes:
            scope.cancel()
        self.state.open(None if snapshot is None else snapshot.project)
        self._error.setVisible(False)
        self.history_model.set_rows([])
        self.candidates_model.set_rows([])
        self.results_model.set_rows([])
        for text in (self._user_label, self._status, self._force_label, self._target_label, self._meter_label,
                     self._invalid_label):  # nothing of the previous project's decode may stay on screen
            text.setText("")
        self._meter.setValue(0)
        self.tree.set_describer(None)  # labelled once the project's facets arrive (_on_opened)
        self.tree.show_columns([], 0)
        if snapshot is None:
            self._snapshot_lookups = None
            self._completion_list.set_strings([])
            self._stack.setCurrentWidget(self._empty_page)
            self._update_buttons()
            return
        self._stack.setCurrentWidget(self._loading_page)
        self._snapshot_lookups = snapshot.lookups
        # read on first focus; a bound method of the look-ups, not a lambda over the panel (a reference
        # cycle through a Qt wrapper, which the final collection at exit may free in an unsafe order)
        self._completion_list.set_strings(snapshot.lookups.completions)
        self._opening.submit(open_stepper_project, snapshot.project, name="stepper: test users and generator",
                             on_result=functools.partial(self._on_opened, snapshot=snapshot), on_error=self._failed("open the project's test users"),
                             on_finished=self._after_job)
        self._update_buttons()

    def _on_opened(self, result: OpenedProject, snapshot: ProjectSnapshot | None = None) -> None:
        if snapshot is not None:
            self.tree.set_describer(_describer(snapshot, result.facets))
        st = self.state
        error = st.opened(result)
        self._stack.setCurrentWidget(self._main_page)
        self._user_spin.blockSignals(True)
        self._user_spin.setRange(0, max(0, len(result.users) - 1))
        self._user_spin.blockSignals(False)
        if error is not None:
            self._show_error(error)
            return
        self._options.set_kind(result.kind)
        self._update_instruction_box()
        pending, st.pending_user = st.pending_user, None
        if pending is not None:
            self._open_user(pending, level=0)
        elif result.demo is not None:
            self._open_user(result.demo, level=None)  # the demo user opens decoded to the end

    # ---- private: jobs ----
    def _failed(self, what: str):
        return lambda message: self._show_error(f"Could not {what}: {message}")

    def _after_job(self) -> None:
        self._update_buttons()
        self._maybe_ready()

    def _request(self, level: int | None, fresh: bool = False) -> None:
        """Show the controls' options decoded to ``level`` (None: to the end), first loading what
        that needs (generator, filter, instruction vector) as jobs; see :meth:`StepperState.next_need`."""
        st = self.state
        project = st.project
        match st.next_need(self._options.options(), level, fresh):
            case Refused(message=message):
                self._show_error(message)
            case NeedGenerator(kind=kind):
                self._status.setText(f"Loading the {KIND_LABELS[kind]} generator…")
                self._generator.ask(kind, load_stepper_generator, project, kind, name=f"stepper: load {kind}",
                                    on_result=self._on_generator, on_error=self._failed("load the generator"),
                                    on_finished=self._after_job)
            case NeedFilter(item_filter=flt):
                self._filter.ask(flt, filter_blocked_items, project, flt, name="stepper: filter",
                                 on_result=functools.partial(self._on_blocked, flt),
                                 on_error=self._failed("apply the filter"), on_finished=self._after_job)
            case NeedInstruction(text=text):
                self._status.setText("Encoding the instruction…")
                self._encoding.ask(text, encode_instruction_text, text, name="stepper: instruction",
                                   on_result=functools.partial(self._on_vector, text),
                                   on_error=self._failed("encode the instruction"), on_finished=self._after_job)
            case Build(request=request, model=model):
                self._error.setVisible(False)
                st.stepper = None  # the old stepper may still be in a superseded job: never hand it out again
                self._decode.submit(build_stepper, model, project.trie, request, name="stepper: decode",
                                    on_result=self._on_built, on_error=self._failed("decode"),
                                    on_finished=self._after_job)
        self._update_buttons()

    def _on_generator(self, result: LoadedGenerator) -> None:
        error = self.state.loaded(result)
        if error is not None:
            self._show_error(error)
            return
        self._update_instruction_box()
        self._request(self.state.want_level, fresh=True)

    def _on_blocked(self, flt, blocked: frozenset[int]) -> None:
        self.state.blocked[flt] = blocked
        self._request(self.state.want_level, fresh=True)

    def _on_vector(self, text: str, vector: np.ndarray) -> None:
        self.state.vectors[text] = vector
        self._request(self.state.want_level, fresh=True)

    def _on_built(self, decoded: Decoded) -> None:
        if self.state.show(decoded):
            self._refresh()
            self.sig_decoded.emit()
        self._next_move()

    def _move(self, move: Move) -> None:
        """Queue ``move``; it runs at once unless a decode job is running (then after it)."""
        if self.state.view is None:
            return
        self.state.queued.append(move)
        if not self._decode.busy:
            self._next_move()

    def _next_move(self) -> None:
        st = self.state
        move = st.next_move() if st.stepper is not None else None
        if move is not None:
            self._decode.submit(move_stepper, st.stepper, st.view.request, move, name=f"stepper: {move.action}",
                                on_result=self._on_moved, on_error=self._failed("decode"),
                                on_finished=self._after_job)
        self._update_buttons()

    def _on_moved(self, decoded: Decoded) -> None:
        if self.state.show(decoded):
            if decoded.view.error:
                self._show_error(decoded.view.error)
            self._refresh()
            self.sig_moved.emit()
        self._next_move()

    def _on_options_changed(self) -> None:
        st = self.state
        if st.project is None or st.users is None:
            return
        self._request(st.view.level if st.view is not None else None)

    def _update_instruction_box(self) -> None:
        self._options.show_instruction_support(self.state.accepts_instruction(self._options.options().kind))

    # ---- private: history ----
    def _open_user(self, user: int, level: int | None) -> None:
        error = self.state.choose_user(user)
        if error is not None:
            self._show_error(error)
            return
        self._user_spin.blockSignals(True)
        self._user_spin.setValue(user)
        self._user_spin.blockSignals(False)
        self._show_history()
        self._request(level, fresh=True)

    def _show_history(self) -> None:
        self.history_model.set_rows(self.state.history_rows())
        self._history_view.scrollToBottom()
        self._user_label.setText(self.state.user_text())
        self._user_label.setToolTip(self._user_label.text() if self.state.user is not None else "")

    def _add_item(self, item: int) -> None:
        self.state.add_item(item)
        self._show_history()
        self._request(None, fresh=True)

    def _remove_selected(self) -> None:
        rows = self._history_view.selectionModel().selectedRows()
        if not rows or self.state.project is None:
            return
        self.state.remove_at(rows[0].row())
        self._show_history()
        self._request(None, fresh=True)

    def _on_completion(self, text: str) -> None:
        item = self._completions.get(text)
        if item is not None:
            self._add_item(item)
            QTimer.singleShot(0, self._search.clear)  # after the completer has written its text

    def _on_search(self) -> None:
        text = self._search.text().strip()
        if not text or self.state.project is None:
            return
        item = self._completions.get(text)
        if item is None and text.isdigit():
            hits = np.flatnonzero(self.state.project.sids.item_ids == int(text))
            item = int(hits[0]) if len(hits) else None
        if item is None:
            self._completer.setCompletionPrefix(text)
            if self._completer.completionCount() > 0:
                self._completer.setCurrentRow(0)
                item = self._completions.get(self._completer.currentCompletion())
        if item is None:
            self._show_error(f"No item matches “{text}”.")
            return
        self._add_item(item)
        self._search.clear()

    # ---- private: showing the decode ----
    def _refresh(self) -> None:
        st, view = self.state, self.state.view
        self.tree.show_columns(tree_columns(view.records, st.target_sid()), view.depth)
        self.candidates_model.set_rows(candidate_rows(view.records[-1] if view.records else None,
                                                      view.config.mode == "sample"))
        self.results_model.set_rows(result_rows(view.result, st.project.dataset.catalogue.title, st.target))
        self._status.setText(st.status_text())
        self._force_label.setText(st.forced_text())
        self._target_label.setText(st.target_text())
        self._invalid_label.setText(st.invalid_text())
        value, text = st.meter()
        self._meter.setFormat("–" if value is None else "%p %")
        self._meter.setValue(value or 0)
        self._meter_label.setText(text)
        self._update_buttons()
        self._maybe_ready()

    def _update_buttons(self, *_args) -> None:
        st = self.state
        idle = not self._decode.busy and st.stepper is not None
        for name in ("reset", "back", "step", "run"):
            self._buttons[name].setEnabled(idle and st.allowed(Move(name)))
        rows = self._cand_view.selectionModel().selectedRows()
        self._buttons["force"].setEnabled(idle and st.allowed(Move("force")) and bool(rows)
                                          and not self.candidates_model.candidate(rows[0].row())[2])

    def _maybe_ready(self) -> None:
        if self.state.mark_ready(idle=not self.busy()):
            self.sig_ready.emit()

    def _show_error(self, message: str) -> None:
        self._error.setText(message)
        self._error.setVisible(True)

    # ---- private: linked selection ----
    def _on_result_clicked(self, index: QModelIndex) -> None:
        item = self.results_model.data(index, Qt.ItemDataRole.UserRole)
        if item is not None and item >= 0:
            self._selection.select_items([item], SOURCE)

    def _on_prefix_clicked(self, prefix: tuple[int, ...]) -> None:
        if prefix:
            self._selection.select_prefix(prefix, SOURCE)
            if self.state.project is not None:
                meaning = self.tree.meaning(prefix)
                what = f": {meaning.tooltip().splitlines()[0]}" if meaning is not None else ""
                self._status.setText(f"Selected prefix {sid_text(prefix)}{what} (also in the SID tree and the map)")


def _describer(snapshot: ProjectSnapshot, facets):
    """``prefix -> PrefixMeaning`` for the project of ``snapshot``, remembered per prefix (the tree
    is redrawn at every step; a prefix's meaning does not change while the project is open).
    ``facets``: the catalogue's :class:`CatalogueFacets` (counted, not string-matched: the tree is
    drawn on the GUI thread)."""
    memo: dict[tuple[int, ...], PrefixMeaning] = {}

    made = [facets]

    def describe(prefix: tuple[int, ...]) -> PrefixMeaning:
        if prefix not in memo:
            if made[0] is None:  # a result without them: made once, here
                made[0] = CatalogueFacets.of(snapshot.project.dataset.catalogue)
            memo[prefix] = prefix_meaning(snapshot.project, snapshot.popularity, tuple(prefix), made[0])
        return memo[prefix]

    return describe
