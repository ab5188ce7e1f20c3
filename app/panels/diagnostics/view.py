"""The diagnostics panel's widgets, bound to a :class:`~.state.DiagnosticsState`.

Settings row (generator, users, beam, Run/Cancel, progress, status), the summary, two histograms
(:mod:`.plots`) and the users table (:class:`~.models.DiagnosticsTableModel`). The run is one
bridge job in a :class:`~app.bridge.JobScope`; the state decides what the labels say.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from genrec_engine import GenerationDiagnostics

from ...bridge import EngineBridge, JobScope
from ...selection import Selection
from ...widgets import GENERATOR_NAMES, centred_column, error_label, heading
from ...widgets.overview_pages import page_column, rich_label, splitter
from .. import ProjectSnapshot, ProjectViewModel
from .models import DiagnosticsTableModel
from .plots import HOMOGENEITY_COLOUR, INVALID_COLOUR, CountHistogram
from .state import DEFAULT_BEAM, DEFAULT_USERS, K, SORTS, DiagnosticsState, run_diagnostics, sort_column

__all__ = ["DiagnosticsPanel", "SOURCE"]

#: The name this panel uses as the ``source`` of the selections it makes.
SOURCE = "diagnostics"

_HEADER = (
    "How healthy are the generator's lists? For a seeded sample of test users, a <b>constrained</b> beam "
    "search (the trie keeps every SID on a real item) gives each user's top-10: <b>homogeneity@10</b> is the "
    "share of it held by its most common first SID code (1.0 = all ten items from one branch of the tree). "
    "The same beam run <b>unconstrained</b> shows how often the model, left alone, generates SIDs that match "
    "no item."
)
_EMPTY_TEXT = "Open a project folder with <b>File › Open project…</b> to diagnose its generators."


def _named(widget, name: str):
    """``widget`` with the object name tests and exports find it by."""
    widget.setObjectName(name)
    return widget


class DiagnosticsPanel(QWidget):
    """Homogeneity and invalid-SID diagnostics of a generator over a sample of test users.

    Built as ``DiagnosticsPanel(view_model, selection, bridge)``; :attr:`state` is its view-model.
    A click on a user selects its top-10 items (source ``"diagnostics"``); a double-click emits
    :attr:`sig_open_user`. The first time the panel is shown with a project it starts a run.
    """

    sig_open_user = Signal(int)
    """``(user index in the test split)``: the user asked to inspect this user in the beam stepper."""

    sig_ready = Signal()
    """A diagnostics result is shown (after a run or from the cache)."""

    def __init__(self, view_model: ProjectViewModel, selection: Selection, bridge: EngineBridge,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self._selection = selection
        self.state = DiagnosticsState(GENERATOR_NAMES)
        self._run = JobScope(bridge)
        run = self._run
        self.destroyed.connect(lambda *_: run.cancel())  # a late answer finds no panel: dropped
        self.table_model = DiagnosticsTableModel(self)

        self._stack = QStackedWidget(self)
        self._no_gen_label = _named(QLabel(""), "no_generator_message")
        self._no_gen_label.setTextFormat(Qt.TextFormat.RichText)
        self._no_gen_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._pages = {
            "empty": centred_column(heading("No project open", 1.4), QLabel(_EMPTY_TEXT)),
            "diagnostics": self._build_main_page(),
            "no_generator": centred_column(heading("This project has no generative model to diagnose", 1.3),
                                           self._no_gen_label, width=700),
        }
        for page in self._pages.values():
            self._stack.addWidget(page)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 8, 10, 8)
        lay.addWidget(self._stack, 1)

        view_model.sig_project_changed.connect(self._on_project_changed)
        self._on_project_changed(view_model.snapshot)

    # ---- public ----
    def screenshot_ready(self) -> bool:
        """True once a result is shown and no run of this panel is going on."""
        if self.state.page == "no_generator":
            return True  # the notice is all there is to show
        return self.state.shown is not None and not self.state.busy

    def run(self) -> None:
        """Diagnose the chosen generator with the chosen settings (the cache answers when it can)."""
        kind = self._generator.currentData()
        if self.state.folder is None or kind is None:
            return
        self.state.auto_pending = False
        key = self.state.key(kind, self._users.value(), self._beam.value())
        if self.state.show_cached(key):
            self._show_result()
            return
        if self.state.running == key:
            return  # that run is already under way
        self.state.started(key)
        self._run.submit(run_diagnostics, self.state.project, kind, key.users, key.beam, name=f"diagnose {kind}",
                         on_progress=self._on_progress, on_result=self._on_result, on_error=self._on_error,
                         on_cancelled=self._on_cancelled, on_finished=self._on_finished)
        self._progress.setValue(0)
        self._sync()

    def cancel(self) -> None:
        """Ask the running job to stop (its "cancelled" answer updates the panel)."""
        job = self._run.current
        if job is not None and not job.finished:
            job.request_cancel()
            self.state.cancelling()
            self._sync()

    # ---- private: layout ----
    def _build_main_page(self) -> QWidget:
        page, outer = page_column(rich_label(_HEADER), margins=(0, 0, 0, 0), spacing=6)
        outer.addLayout(self._build_settings_row())
        self._error = _named(error_label(), "error")
        outer.addWidget(self._error)
        self._summary = _named(rich_label(""), "summary")
        outer.addWidget(self._summary)

        plots = QWidget()
        pl = QVBoxLayout(plots)
        pl.setContentsMargins(0, 0, 0, 0)
        self._homogeneity_plot = _named(CountHistogram(
            f"Homogeneity@{K} per user (dashed: mean)", f"share of the top-{K} under the dominant first code",
            HOMOGENEITY_COLOUR, np.arange(1, K + 1) / K, 0.8 / K), "homogeneity_plot")
        self._invalid_plot = _named(CountHistogram(
            "Invalid SIDs per user, unconstrained decoding", f"SIDs in the top-{K} that match no item",
            INVALID_COLOUR, np.arange(K + 1, dtype=float), 0.8), "invalid_plot")
        pl.addWidget(self._homogeneity_plot, 1)
        pl.addWidget(self._invalid_plot, 1)
        split = splitter(plots, self._build_users_box(), stretch=(1, 1), sizes=(560, 680))
        split.setChildrenCollapsible(False)
        outer.addWidget(split, 1)
        return page

    def _build_settings_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setSpacing(6)
        row.addWidget(QLabel("Generator:"))
        self._generator = _named(QComboBox(), "generator")
        self._generator.setToolTip("The generator to diagnose. TIGER-style decodes ~20x slower than the RAN "
                                   "on a CPU (about 20 s for 2,000 users).")
        self._generator.currentIndexChanged.connect(self._on_settings_changed)
        row.addWidget(self._generator)
        row.addSpacing(10)
        row.addWidget(QLabel("Users:"))
        self._users = _named(QSpinBox(), "users")
        self._users.setRange(100, 1_000_000)
        self._users.setSingleStep(500)
        self._users.setGroupSeparatorShown(True)
        self._users.setValue(DEFAULT_USERS)
        self._users.setToolTip("How many test users to diagnose: a seeded random sample (the same users on "
                               "every run); a number at or above the split's size takes every user.")
        self._users.valueChanged.connect(self._on_settings_changed)
        row.addWidget(self._users)
        self._sample_label = QLabel(self.state.sample_text())
        row.addWidget(self._sample_label)
        row.addSpacing(10)
        beam_label = QLabel("Beam:")
        self._beam = _named(QSpinBox(), "beam")
        self._beam.setRange(K, 200)
        self._beam.setValue(DEFAULT_BEAM)
        self._beam.setToolTip(f"Beam width of both decodes (at least {K}); the target rank is read from the "
                              "whole beam.")
        self._beam.valueChanged.connect(self._on_settings_changed)
        for w in (beam_label, self._beam):
            w.setProperty("expert", True)
            row.addWidget(w)
        row.addSpacing(10)
        self._run_button = _named(QPushButton("Run"), "run")
        self._run_button.setToolTip("Decode the sampled users constrained and unconstrained.")
        self._run_button.clicked.connect(self.run)
        self._cancel_button = _named(QPushButton("Cancel"), "cancel")
        self._cancel_button.clicked.connect(self.cancel)
        row.addWidget(self._run_button)
        row.addWidget(self._cancel_button)
        self._progress = QProgressBar()
        self._progress.setRange(0, 1000)
        self._progress.setTextVisible(False)
        self._progress.setMaximumWidth(220)
        row.addWidget(self._progress)
        self._status = _named(QLabel(""), "status")
        row.addWidget(self._status, 1)
        return row

    def _build_users_box(self) -> QWidget:
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(6, 0, 0, 0)
        sort_row = QHBoxLayout()
        sort_row.addWidget(heading("Users, worst first by", 1.0))
        self._sort = _named(QComboBox(), "sort")
        for label, by, _ in SORTS:
            self._sort.addItem(label, by)
        self._sort.currentIndexChanged.connect(self._on_sort_changed)
        sort_row.addWidget(self._sort)
        sort_row.addStretch(1)
        rl.addLayout(sort_row)
        hint = QLabel("Click a user to highlight its top-10 in the tree and the map; double-click to open it in "
                      "the beam stepper. Click a header to sort.")
        hint.setWordWrap(True)
        rl.addWidget(hint)
        table = self._table = _named(QTableView(), "users_table")
        table.setModel(self.table_model)
        table.setSortingEnabled(True)
        table.horizontalHeader().setSortIndicator(sort_column("homogeneity"), Qt.SortOrder.DescendingOrder)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setAlternatingRowColors(True)
        table.setWordWrap(False)
        table.verticalHeader().setVisible(False)
        table.verticalHeader().setDefaultSectionSize(22)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        table.horizontalHeader().setMinimumSectionSize(60)
        table.clicked.connect(self._on_row_clicked)
        table.doubleClicked.connect(self._on_row_double_clicked)
        rl.addWidget(table, 1)
        self._user_label = _named(rich_label(""), "user_line")
        self._user_label.setMinimumHeight(40)
        self._user_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        rl.addWidget(self._user_label)
        return right

    # ---- private: state -> widgets ----
    def _sync(self) -> None:
        """The status line, the error line, the page and the buttons, as the state says."""
        st = self.state
        self._stack.setCurrentWidget(self._pages[st.page])
        self._status.setText(st.status)
        self._error.setText(st.error)
        self._error.setVisible(bool(st.error))
        self._run_button.setEnabled(st.can_run and self._generator.count() > 0)
        self._cancel_button.setEnabled(st.busy)

    def _show_result(self) -> None:
        diag = self.state.result
        by = self._sort.currentData() or "homogeneity"
        self.table_model.set_result(diag, by)
        self._table.horizontalHeader().setSortIndicator(sort_column(by), Qt.SortOrder.DescendingOrder)
        self._homogeneity_plot.set_counts(diag.summary["homogeneity_counts"], mean=diag.summary["mean_homogeneity"])
        self._invalid_plot.set_counts(diag.summary["invalid_counts"])
        self._summary.setText(self.state.summary_html())
        self._sample_label.setText(self.state.sample_text())
        self._user_label.setText("")
        self._sync()
        self.sig_ready.emit()

    # ---- private: project and settings ----
    def _on_project_changed(self, snapshot: ProjectSnapshot | None) -> None:
        self._run.cancel()
        st = self.state
        st.open(snapshot.path if snapshot is not None else None, snapshot.project if snapshot is not None else None)
        self.table_model.set_result(None)
        self._homogeneity_plot.clear_counts()
        self._invalid_plot.clear_counts()
        for label in (self._summary, self._user_label):
            label.setText("")
        self._sample_label.setText(st.sample_text())
        self._progress.setValue(0)
        self._generator.blockSignals(True)
        self._generator.clear()
        for kind in st.kinds:
            self._generator.addItem(st.label(kind), kind)
        self._generator.blockSignals(False)
        if st.page == "no_generator":
            self._no_gen_label.setText(st.no_generator_html())
        self._sync()
        if st.auto_pending and self.isVisible():
            self.run()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        if self.state.auto_pending and self.state.folder is not None:
            self.run()  # the first time the panel is shown with a project: start by itself

    def _on_settings_changed(self, *_) -> None:
        kind = self._generator.currentData()
        if self.state.folder is None or kind is None:
            return
        if self.state.settings_changed(self.state.key(kind, self._users.value(), self._beam.value())):
            self._show_result()
        else:
            self._sync()

    # ---- private: the job ----
    def _on_progress(self, fraction: float, message: str) -> None:
        self._progress.setValue(int(round(1000 * fraction)))
        self.state.progress(message)
        self._status.setText(self.state.status)

    def _on_result(self, result: GenerationDiagnostics) -> None:
        self.state.finished(result)
        self._progress.setValue(1000)
        self._show_result()

    def _on_error(self, message: str) -> None:
        self.state.failed(message)
        self._progress.setValue(0)
        self._sync()

    def _on_cancelled(self) -> None:
        self.state.cancelled()
        self._progress.setValue(0)
        self._sync()

    def _on_finished(self) -> None:
        if self.state.busy:  # an outcome nobody handled (should not happen): never stay "running"
            self.state.ended()
            self._sync()

    # ---- private: the table ----
    def _on_sort_changed(self, index: int) -> None:
        if index >= 0:
            self._table.sortByColumn(SORTS[index][2], Qt.SortOrder.DescendingOrder)

    def _on_row_clicked(self, index: QModelIndex) -> None:
        project = self.state.project
        if self.state.result is None or not index.isValid() or project is None:
            return
        r = self.table_model.result_row(index.row())
        target = int(self.state.result.target[r])
        self._user_label.setText(self.state.user_html(r, project.dataset.catalogue.title(target)))
        items = self.state.top_items(r)
        if items:
            self._selection.select_items(items, source=SOURCE)

    def _on_row_double_clicked(self, index: QModelIndex) -> None:
        if self.table_model.result is not None and index.isValid():
            self.sig_open_user.emit(self.table_model.user_at(index.row()))
