"""The diagnostics panel's widgets, bound to a :class:`~.state.DiagnosticsState`.

Settings row (generator, users, beam, Run/Cancel, progress, status), the summary, two histograms
(:mod:`.plots`) and the users table (:class:`~.models.DiagnosticsTableModel`). The run is one
bridge job in a :class:`~app.bridge.JobScope`; the state decides what the labels say.

An **audit entry** (:meth:`DiagnosticsPanel.audit_file`) shows another generator's lists, read from
a file, in the same widgets: the summary figures, the two histograms, a level-drift table under
them and its users (:class:`~.models.AuditUsersModel`) instead of ours; the decoding settings are
hidden. Audits and runs share the job scope: the newest request wins.
"""
from __future__ import annotations

import os
from pathlib import Path

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
from . import audits
from .models import AuditUsersModel, DiagnosticsTableModel, LevelDriftModel
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
_INVALID_TITLE = "Invalid SIDs per user, unconstrained decoding"
_AUDIT_INVALID_TITLE = f"Invalid SIDs per user among the file's first {K}"
_HINT = ("Click a user to highlight its top-10 in the tree and the map; double-click to open it in the beam "
         "stepper. Click a header to sort.")
_AUDIT_HINT = ("Click a user to highlight its target and its first listed item in the tree and the map. Click a "
               "header to sort.")


def _named(widget, name: str):
    """``widget`` with the object name tests and exports find it by."""
    widget.setObjectName(name)
    return widget


class DiagnosticsPanel(QWidget):
    """Homogeneity and invalid-SID diagnostics of a generator over a sample of test users.

    Built as ``DiagnosticsPanel(view_model, selection, bridge)``; :attr:`state` is its view-model.
    A click on a user selects its top-10 items (source ``"diagnostics"``); a double-click emits
    :attr:`sig_open_user`. The first time the panel is shown with a project it starts a run.
    :meth:`audit_file` adds an audited generations file to the generator chooser.
    """

    sig_open_user = Signal(int)
    """``(user index in the test split)``: the user asked to inspect this user in the beam stepper."""

    sig_ready = Signal()
    """A diagnostics result is shown (after a run or from the cache), or an audit's."""

    sig_audit_failed = Signal(str)
    """``(error line)``: an audit asked for with :meth:`audit_file` failed (the panel shows the line)."""

    def __init__(self, view_model: ProjectViewModel, selection: Selection, bridge: EngineBridge,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self._selection = selection
        self.state = DiagnosticsState(GENERATOR_NAMES)
        self._run = JobScope(bridge)
        run = self._run
        self.destroyed.connect(lambda *_: run.cancel())  # a late answer finds no panel: dropped
        self.table_model = DiagnosticsTableModel(self)
        self.audit_model = AuditUsersModel(self)
        self.drift_model = LevelDriftModel(self)
        self._audit_mode = False  # the widgets are set up for an audit entry

        self._stack = QStackedWidget(self)
        # above the pages: an audit can fail while the "no generator" page shows
        self._error = _named(error_label(), "error")
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
        lay.addWidget(self._error)
        lay.addWidget(self._stack, 1)

        view_model.sig_project_changed.connect(self._on_project_changed)
        self._on_project_changed(view_model.snapshot)

    # ---- public ----
    def screenshot_ready(self) -> bool:
        """True once a result is shown and no run of this panel is going on."""
        if self.state.page == "no_generator":
            return True  # the notice is all there is to show
        return (self.state.result is not None or self.state.audit is not None) and not self.state.busy

    def audit_file(self, path: str | os.PathLike) -> None:
        """Score the generations file at ``path`` (JSONL or Parquet, see
        :mod:`genrec_engine.interop.audit`) against the open project, in the background.

        The result becomes the chooser's entry "Audit: <file name>" (auditing the same file again
        replaces it), chosen and shown; a failure is one line in the error label (and
        :attr:`sig_audit_failed`). A newer audit or run supersedes this one; Cancel stops it."""
        st = self.state
        if st.folder is None or st.project is None:
            st.audit_refused("No project is open: open one before auditing generations.")
            self._sync()
            self.sig_audit_failed.emit(st.error)
            return
        path = Path(path)
        st.audit_started(path)
        self._run.submit(audits.run_audit, st.project, str(path), name=f"audit {path.name}",
                         on_progress=self._on_progress, on_result=self._on_audit_result, on_error=self._on_error,
                         on_cancelled=self._on_cancelled, on_finished=self._on_finished)
        self._progress.setValue(0)
        self._sync()

    def run(self) -> None:
        """Diagnose the chosen generator with the chosen settings (the cache answers when it can)."""
        kind = self._generator.currentData()
        if self.state.folder is None or kind is None or audits.is_audit(kind):
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
        self._header = _named(rich_label(_HEADER), "header")
        page, outer = page_column(self._header, margins=(0, 0, 0, 0), spacing=6)
        outer.addLayout(self._build_settings_row())
        self._summary = _named(rich_label(""), "summary")
        outer.addWidget(self._summary)

        plots = QWidget()
        pl = QVBoxLayout(plots)
        pl.setContentsMargins(0, 0, 0, 0)
        self._homogeneity_plot = _named(CountHistogram(
            f"Homogeneity@{K} per user (dashed: mean)", f"share of the top-{K} under the dominant first code",
            HOMOGENEITY_COLOUR, np.arange(1, K + 1) / K, 0.8 / K), "homogeneity_plot")
        self._invalid_plot = _named(CountHistogram(
            _INVALID_TITLE, f"SIDs in the top-{K} that match no item",
            INVALID_COLOUR, np.arange(K + 1, dtype=float), 0.8), "invalid_plot")
        pl.addWidget(self._homogeneity_plot, 1)
        pl.addWidget(self._invalid_plot, 1)
        pl.addWidget(self._build_drift_box())
        split = splitter(plots, self._build_users_box(), stretch=(1, 1), sizes=(560, 680))
        split.setChildrenCollapsible(False)
        outer.addWidget(split, 1)
        return page

    def _build_settings_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setSpacing(6)
        row.addWidget(QLabel("Generator:"))
        self._generator = _named(QComboBox(), "generator")
        self._generator.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)  # audit entries' file names
        self._generator.setToolTip("The generator to diagnose. TIGER-style decodes ~20x slower than the RAN "
                                   "on a CPU (about 20 s for 2,000 users).")
        self._generator.currentIndexChanged.connect(self._on_settings_changed)
        row.addWidget(self._generator)
        own = self._own_controls = QWidget()  # what only our own generators have: hidden for an audit entry
        outer_row, row = row, QHBoxLayout(own)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(6)
        outer_row.addWidget(own)
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
        row.addWidget(self._run_button)
        row = outer_row
        self._audit_note = _named(QLabel(""), "audit_note")
        self._audit_note.setVisible(False)
        row.addWidget(self._audit_note)
        self._cancel_button = _named(QPushButton("Cancel"), "cancel")
        self._cancel_button.clicked.connect(self.cancel)
        row.addWidget(self._cancel_button)
        self._progress = QProgressBar()
        self._progress.setRange(0, 1000)
        self._progress.setTextVisible(False)
        self._progress.setMaximumWidth(220)
        keep = self._progress.sizePolicy()
        keep.setRetainSizeWhenHidden(True)  # the row does not jump when the bar comes and goes
        self._progress.setSizePolicy(keep)
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
        self._sort.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        for label, by, _ in SORTS:
            self._sort.addItem(label, by)
        self._sort.currentIndexChanged.connect(self._on_sort_changed)
        sort_row.addWidget(self._sort)
        sort_row.addStretch(1)
        rl.addLayout(sort_row)
        self._hint = QLabel(_HINT)
        self._hint.setWordWrap(True)
        rl.addWidget(self._hint)
        table = self._table = _users_table(self.table_model, "users_table")
        table.horizontalHeader().setSortIndicator(sort_column("homogeneity"), Qt.SortOrder.DescendingOrder)
        table.clicked.connect(self._on_row_clicked)
        table.doubleClicked.connect(self._on_row_double_clicked)
        self._audit_table = _users_table(self.audit_model, "audit_users_table")
        for col in (0, 1, 2, 3, 6):  # user id, line, returned, invalid + dup., target rank: short numbers
            self._audit_table.horizontalHeader().setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self._audit_table.horizontalHeader().setSortIndicator(audits.sort_column("bad"), Qt.SortOrder.DescendingOrder)
        self._audit_table.clicked.connect(self._on_audit_row_clicked)
        self._tables = QStackedWidget()
        self._tables.addWidget(table)
        self._tables.addWidget(self._audit_table)
        rl.addWidget(self._tables, 1)
        self._user_label = _named(rich_label(""), "user_line")
        self._user_label.setMinimumHeight(40)
        self._user_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        rl.addWidget(self._user_label)
        return right

    def _build_drift_box(self) -> QWidget:
        """The level-drift table (audit entries only): a heading and one row per SID level."""
        box = self._drift_box = QWidget()
        bl = QVBoxLayout(box)
        bl.setContentsMargins(0, 4, 0, 0)
        bl.setSpacing(2)
        bl.addWidget(heading("Level drift of the top-1 SID against the target's", 1.0))
        table = self._drift_table = _named(QTableView(), "level_drift_table")
        table.setModel(self.drift_model)
        table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setWordWrap(False)
        table.verticalHeader().setVisible(False)
        table.verticalHeader().setDefaultSectionSize(22)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        for col in (0, 1):  # level, users
            table.horizontalHeader().setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        bl.addWidget(table)
        box.setVisible(False)
        return box

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
        self._progress.setVisible(st.busy)  # a full bar after the run looked like a blank button

    def _set_mode(self, audit: bool) -> None:
        """Lay the page out for an audit entry (``audit``) or for our own generators."""
        if audit == self._audit_mode:
            return
        self._audit_mode = audit
        self._own_controls.setVisible(not audit)
        self._audit_note.setVisible(audit)
        self._drift_box.setVisible(audit)
        self._tables.setCurrentWidget(self._audit_table if audit else self._table)
        self._hint.setText(_AUDIT_HINT if audit else _HINT)
        self._invalid_plot.set_title(_AUDIT_INVALID_TITLE if audit else _INVALID_TITLE)
        self._invalid_plot.getPlotItem().setLabel(
            "bottom", f"returned SIDs among the first {K} that name no item" if audit
            else f"SIDs in the top-{K} that match no item", color="#202020")
        if not audit:
            self._header.setText(_HEADER)
            self._summary.setToolTip("")
        self._sort.blockSignals(True)
        self._sort.clear()
        for label, by, _ in (audits.SORTS if audit else SORTS):
            self._sort.addItem(label, by)
        self._sort.blockSignals(False)

    def _clear_result(self) -> None:
        """No result for the chosen entry (yet): empty plots, tables and texts."""
        self.table_model.set_result(None)
        self.audit_model.set_result(None)
        self.drift_model.set_result(None)
        self._homogeneity_plot.clear_counts()
        self._invalid_plot.clear_counts()
        for label in (self._summary, self._user_label):
            label.setText("")

    def _show_entry(self) -> None:
        """Show whatever the chooser's entry has: an audit, a cached run, or nothing yet."""
        st = self.state
        self._set_mode(st.audit_mode)
        if st.audit is not None:
            self._show_audit()
        elif st.result is not None:
            self._show_result()
        else:
            self._clear_result()
            self._sync()

    def _show_audit(self) -> None:
        result = self.state.audit
        self._header.setText(audits.header_html(result))
        self._audit_note.setText(audits.note_text(result))
        by = self._sort.currentData() or "bad"
        self.table_model.set_result(None)
        self.audit_model.set_result(result, by)
        self._audit_table.horizontalHeader().setSortIndicator(audits.sort_column(by), Qt.SortOrder.DescendingOrder)
        self.drift_model.set_result(result)
        rows = self.drift_model.rowCount()
        self._drift_table.setFixedHeight(self._drift_table.horizontalHeader().height() + 22 * rows + 4)
        self._homogeneity_plot.set_counts(audits.homogeneity_counts(result), mean=audits.mean_homogeneity(result))
        self._invalid_plot.set_counts(audits.invalid_counts(result))
        self._summary.setText(audits.summary_html(result))
        self._summary.setToolTip(audits.figures_tooltip())
        self._user_label.setText("")
        self._sync()
        self.sig_ready.emit()

    def _show_result(self) -> None:
        diag = self.state.result
        self._set_mode(False)
        by = self._sort.currentData() or "homogeneity"
        self.audit_model.set_result(None)
        self.drift_model.set_result(None)
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
        self._set_mode(False)
        self._clear_result()
        self._sample_label.setText(st.sample_text())
        self._progress.setValue(0)
        self._fill_chooser()
        if st.page == "no_generator":
            self._no_gen_label.setText(st.no_generator_html())
        self._sync()
        if st.auto_pending and self.isVisible():
            self.run()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        if self.state.auto_pending and self.state.folder is not None:
            self.run()  # the first time the panel is shown with a project: start by itself

    def _fill_chooser(self) -> None:
        """The generator chooser: our generators, then the audit entries; the state's entry chosen."""
        st = self.state
        self._generator.blockSignals(True)
        self._generator.clear()
        for label, data in st.entries():
            self._generator.addItem(label, data)
            if audits.is_audit(data):
                self._generator.setItemData(self._generator.count() - 1, data[len(audits.AUDIT_PREFIX):],
                                            Qt.ItemDataRole.ToolTipRole)
        index = self._generator.findData(st.entry)
        self._generator.setCurrentIndex(max(index, 0) if self._generator.count() else -1)
        self._generator.blockSignals(False)

    def _on_settings_changed(self, *_) -> None:
        kind = self._generator.currentData()
        if self.state.folder is None or kind is None:
            return
        was_audit = self.state.audit_mode
        self.state.choose(kind)
        if self.state.audit_mode:
            self._show_entry()
        elif self.state.settings_changed(self.state.key(kind, self._users.value(), self._beam.value())):
            self._show_result()
        elif was_audit:
            self._show_entry()  # back from an audit: the earlier run's result, or nothing yet
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
        if self.state.audit_mode:  # the run was started before an audit entry was chosen: keep the audit
            self.state.choose(self.state.entry)
            self._sync()
            return
        self._show_result()

    def _on_audit_result(self, result: audits.AuditResult) -> None:
        self.state.audit_finished(result)
        self._progress.setValue(1000)
        self._fill_chooser()
        self._show_entry()

    def _on_error(self, message: str) -> None:
        auditing = self.state.auditing is not None
        self.state.failed(message)
        self._progress.setValue(0)
        self._sync()
        if auditing:
            self.sig_audit_failed.emit(self.state.error)

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
        if index < 0:
            return
        if self._audit_mode:
            self._audit_table.sortByColumn(audits.SORTS[index][2], Qt.SortOrder.DescendingOrder)
        else:
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

    def _on_audit_row_clicked(self, index: QModelIndex) -> None:
        result, project = self.state.audit, self.state.project
        if result is None or not index.isValid() or project is None:
            return
        r = self.audit_model.result_row(index.row())
        users = result.users
        first = audits.first_item(users, r)
        title = project.dataset.catalogue.title
        self._user_label.setText(audits.user_html(users, r, title(int(users.targets[r])),
                                                  title(first) if first is not None else None))
        self._selection.select_items(audits.selected_items(users, r), source=SOURCE)

    def _on_row_double_clicked(self, index: QModelIndex) -> None:
        if self.table_model.result is not None and index.isValid():
            self.sig_open_user.emit(self.table_model.user_at(index.row()))


def _users_table(model, name: str) -> QTableView:
    """A sortable, single-row-selection table over ``model`` (the users of a run or of an audit)."""
    table = _named(QTableView(), name)
    table.setModel(model)
    table.setSortingEnabled(True)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setAlternatingRowColors(True)
    table.setWordWrap(False)
    table.verticalHeader().setVisible(False)
    table.verticalHeader().setDefaultSectionSize(22)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
    table.horizontalHeader().setMinimumSectionSize(60)
    return table
