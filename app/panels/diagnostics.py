"""Generation diagnostics panel: why do some users get a top-10 from one prefix, or invalid SIDs?

For a seeded sample of test users the panel runs :func:`genrec_engine.generation_diagnostics` on
the chosen generator (RAN or TIGER-style): a constrained beam search gives each user's ranked list
(its homogeneity@10 and where the held-out target landed), an unconstrained one with the same
beam counts the SIDs that match no item. Two histograms show the distributions, a summary puts
them in words, and a table lists the users worst first (most homogeneous, most invalid, missed
target). Clicking a user highlights its top-10 items in the other panels; double-clicking asks the
window to open the user in the beam stepper (``sig_open_user``).

The decode runs as a bridge job (progress, Cancel); results are cached per (project, generator,
users, beam) so switching back and forth is instant. The first time the panel is shown with a
project it starts a run by itself, on the RAN when the project has one.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from genrec_engine import GenerationDiagnostics, generation_diagnostics

from . import ProjectSnapshot, ProjectViewModel
from ..widgets import ERROR_COLOUR, GENERATOR_NAMES, error_label, centred_column as _centred_column, heading as _heading

__all__ = ["DiagnosticsPanel", "DiagnosticsTableModel", "SOURCE", "GENERATORS", "DEFAULT_USERS", "DEFAULT_BEAM"]

#: The name this panel uses as the ``source`` of the selections it makes.
SOURCE = "diagnostics"

#: Generators the panel can diagnose: (kind, label). SASRec scores items and generates no SIDs.
GENERATORS = tuple((k, GENERATOR_NAMES[k]) for k in ("ran", "tiger"))

#: Sampled test users of a default run: the RAN decodes 2,000 users in ~1-3 s on one CPU core.
DEFAULT_USERS = 2000
DEFAULT_BEAM = 20
K = 10  # the list length the panel diagnoses (homogeneity@10, invalid among the top-10)
_CACHE_SIZE = 8

HOMOGENEITY_COLOUR = "#1f6fb4"
INVALID_COLOUR = "#c0392b"
MEAN_COLOUR = "#202020"

_SORTS = (  # (label, engine order, table column)
    ("highest homogeneity", "homogeneity", 2),
    ("most invalid SIDs", "invalid", 4),
    ("missed target", "missed", 5),
)

_HEADER = (
    "How healthy are the generator's lists? For a seeded sample of test users, a <b>constrained</b> beam "
    "search (the trie keeps every SID on a real item) gives each user's top-10: <b>homogeneity@10</b> is the "
    "share of it held by its most common first SID code (1.0 = all ten items from one branch of the tree). "
    "The same beam run <b>unconstrained</b> shows how often the model, left alone, generates SIDs that match "
    "no item."
)
_EMPTY_TEXT = "Open a project folder with <b>File › Open project…</b> to diagnose its generators."


# ------------------------------------------------------------------------------------ table model


_COLUMNS = (
    ("User", "The user's index in the test split (the beam stepper opens the same user)."),
    ("History", "Items in the user's history (the generator reads at most its max_len most recent ones)."),
    (f"Homog.@{K}", f"Share of the user's constrained top-{K} under its most common first SID code "
                    "(1.00 = every item from one prefix)."),
    ("Dominant prefix", f"The most common first SID code in the top-{K}, and how many different first codes "
                        "the list has."),
    ("Invalid", f"SIDs in the user's unconstrained top-{K} that match no catalogue item."),
    ("Target rank", "Where the user's held-out next item landed in the constrained beam (1 = first), "
                    "or 'missed' when it is not in the beam."),
)


class DiagnosticsTableModel(QAbstractTableModel):
    """One row per diagnosed user, over the arrays of a :class:`GenerationDiagnostics`.

    ``Qt.UserRole`` gives a cell's raw value (int or float; ``None`` for a missed target's rank),
    ``USER_ROLE`` the row's user index in the test split, ``ROW_ROLE`` its row in the result.
    Sorting by homogeneity, invalid or target rank uses the engine's own "worst first" order
    (:meth:`GenerationDiagnostics.worst`), the other columns one NumPy argsort.
    """

    USER_ROLE = Qt.ItemDataRole.UserRole + 1
    ROW_ROLE = Qt.ItemDataRole.UserRole + 2

    def __init__(self, parent=None):
        super().__init__(parent)
        self._diag: GenerationDiagnostics | None = None
        self._order = np.zeros(0, dtype=np.int64)  # view row -> result row

    # ---- public ----
    def set_result(self, diag: GenerationDiagnostics | None, by: str = "homogeneity") -> None:
        """Show ``diag``, worst first by ``by`` (one of ``genrec_engine.analysis.WORST_BY``)."""
        self.beginResetModel()
        self._diag = diag
        self._order = diag.worst(by).astype(np.int64) if diag is not None else np.zeros(0, dtype=np.int64)
        self.endResetModel()

    @property
    def result(self) -> GenerationDiagnostics | None:
        return self._diag

    def result_row(self, row: int) -> int:
        """The result row shown on view row ``row``."""
        return int(self._order[row])

    def user_at(self, row: int) -> int:
        """The test-split user index shown on view row ``row``."""
        return int(self._diag.users[self._order[row]])

    # ---- Qt model API ----
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._order)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(_COLUMNS)

    def _raw(self, r: int, col: int):
        d = self._diag
        if col == 0:
            return int(d.users[r])
        if col == 1:
            return int(d.history_length[r])
        if col == 2:
            h = float(d.homogeneity[r])
            return h if np.isfinite(h) else None
        if col == 3:
            return int(d.dominant_prefix[r])
        if col == 4:
            return int(d.invalid[r])
        rank = int(d.target_rank[r])
        return rank if rank > 0 else None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or self._diag is None or not (0 <= index.row() < len(self._order)):
            return None
        col = index.column()
        if not (0 <= col < len(_COLUMNS)):
            return None
        r = int(self._order[index.row()])
        d = self._diag
        value = self._raw(r, col)
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 2:
                return "–" if value is None else f"{value:.2f}"
            if col == 3:
                if value < 0:
                    return "–"
                n = int(d.prefixes[r])
                return f"{value}  ({n} prefix{'es' if n != 1 else ''})"
            if col == 5:
                return "missed" if value is None else str(value)
            return str(value)
        if role == Qt.ItemDataRole.UserRole:
            return value
        if role == self.USER_ROLE:
            return int(d.users[r])
        if role == self.ROW_ROLE:
            return r
        if role == Qt.ItemDataRole.ForegroundRole:
            if (col == 2 and value is not None and value >= 0.8) or (col == 4 and value > 0):
                return QColor(ERROR_COLOUR)
            if col == 5 and value is None:
                return QColor("#707070")
            return None
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter) if col != 3 else \
                int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == 0:
                return f"Test user {int(d.users[r])} (dataset user id {int(d.user_ids[r])}). " \
                       "Double-click to open this user in the beam stepper."
            if col == 3 and value >= 0:
                share = float(d.homogeneity[r])
                n_valid = int((d.top[r] >= 0).sum())
                return (f"{round(share * n_valid)} of the {n_valid} items start with code {value}; "
                        f"the list has {int(d.prefixes[r])} different first codes.")
            return _COLUMNS[col][1]
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(_COLUMNS):
            if role == Qt.ItemDataRole.DisplayRole:
                return _COLUMNS[section][0]
            if role == Qt.ItemDataRole.ToolTipRole:
                return _COLUMNS[section][1]
        if orientation == Qt.Orientation.Vertical and role == Qt.ItemDataRole.DisplayRole \
                and 0 <= section < len(self._order):
            return str(section + 1)
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Descending homogeneity / invalid / target rank = the engine's worst-first orders."""
        d = self._diag
        if d is None or not (0 <= column < len(_COLUMNS)) or not len(self._order):
            return
        descending = order == Qt.SortOrder.DescendingOrder
        by = {2: "homogeneity", 4: "invalid", 5: "missed"}.get(column)
        if by is not None:
            new = d.worst(by)
            if not descending:
                new = new[::-1]
        else:
            keys = (d.users, d.history_length, None, d.dominant_prefix)[column]
            new = np.argsort(-keys if descending else keys, kind="stable")
        self.layoutAboutToBeChanged.emit()
        old = self.persistentIndexList()
        row_of = np.empty(len(new), dtype=np.int64)
        row_of[new] = np.arange(len(new))
        moved = [self.index(int(row_of[self._order[p.row()]]), p.column()) for p in old]
        self._order = np.ascontiguousarray(new, dtype=np.int64)
        self.changePersistentIndexList(old, moved)
        self.layoutChanged.emit()


# ------------------------------------------------------------------------------------------ plots


class CountHistogram(pg.PlotWidget):
    """Bars of user counts with the count written above each bar (small bars stay readable).

    Items are made once; :meth:`set_counts` updates them. ``x`` float ``[B]`` bar centres.
    """

    def __init__(self, title: str, xlabel: str, colour: str, x: np.ndarray, width: float, parent=None):
        super().__init__(parent, background="w")
        self.setMinimumHeight(160)
        item = self.getPlotItem()
        item.setTitle(title, color="#202020", size="10pt")
        item.setLabel("bottom", xlabel, color="#202020")
        item.setLabel("left", "users", color="#202020")
        item.showGrid(x=False, y=True, alpha=0.2)
        item.setMenuEnabled(False)
        item.hideButtons()
        item.setMouseEnabled(x=False, y=False)
        for axis in ("left", "bottom"):
            item.getAxis(axis).setPen(pg.mkPen("#505050"))
            item.getAxis(axis).setTextPen(pg.mkPen("#202020"))
        item.getAxis("left").enableAutoSIPrefix(False)
        self.x = np.asarray(x, dtype=float)
        self.bars = pg.BarGraphItem(x=self.x, height=np.zeros(len(self.x)), width=width, brush=colour,
                                    pen=pg.mkPen(None))
        item.addItem(self.bars)
        self.labels = []
        for xi in self.x:
            label = pg.TextItem("", color="#303030", anchor=(0.5, 1.0))
            label.setPos(float(xi), 0.0)
            item.addItem(label)
            self.labels.append(label)
        self.mean_line = pg.InfiniteLine(angle=90, pen=pg.mkPen(MEAN_COLOUR, width=1.4, style=Qt.PenStyle.DashLine))
        self.mean_line.setVisible(False)
        item.addItem(self.mean_line)
        pad = width
        item.setXRange(float(self.x.min()) - pad, float(self.x.max()) + pad, padding=0)
        self.set_counts(np.zeros(len(self.x), dtype=np.int64))

    def set_counts(self, counts, mean: float | None = None) -> None:
        """Show ``counts`` int ``[B]`` (users per bar) and a dashed line at ``mean`` (None: hidden)."""
        c = np.asarray(counts, dtype=float)
        self.bars.setOpts(height=c)
        top = float(max(c.max() if c.size else 0.0, 1.0))
        for label, xi, n in zip(self.labels, self.x, c):
            label.setText(f"{int(n):,}" if n > 0 else "")
            label.setPos(float(xi), float(n))
        self.mean_line.setVisible(mean is not None)
        if mean is not None:
            self.mean_line.setPos(float(mean))
        self.getPlotItem().setYRange(0, top * 1.15, padding=0)

    def counts(self) -> np.ndarray:
        """The bar heights as drawn: int64 ``[B]``."""
        return np.asarray(self.bars.opts["height"]).astype(np.int64)


# ----------------------------------------------------------------------------------------- jobs


def run_diagnostics(project, kind: str, users: int, beam: int, *, progress=None, cancel=None) -> GenerationDiagnostics:
    """The panel's job: :func:`genrec_engine.generation_diagnostics` on the test split, top-10."""
    return generation_diagnostics(project, kind, split="test", users=users, beam=beam, k=K, seed=0,
                                  device="auto", progress=progress, cancel=cancel)


def _escape(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _pct(x: float) -> str:
    """A share as a percentage, with two decimals below 1 % (invalid rates are small)."""
    return f"{100 * x:.1f} %" if x >= 0.01 or x == 0 else f"{100 * x:.2f} %"


# ----------------------------------------------------------------------------------------- panel


class DiagnosticsPanel(QWidget):
    """Homogeneity and invalid-SID diagnostics of a generator over a sample of test users.

    Built as ``DiagnosticsPanel(view_model, selection, bridge)``. A click on a user selects its
    top-10 items (source ``"diagnostics"``); a double-click emits :attr:`sig_open_user`.
    """

    sig_open_user = Signal(int)
    """``(user index in the test split)``: the user asked to inspect this user in the beam stepper."""

    sig_ready = Signal()
    """A diagnostics result is shown (after a run or from the cache)."""

    def __init__(self, view_model: ProjectViewModel, selection, bridge, parent: QWidget | None = None):
        super().__init__(parent)
        self._vm, self._selection, self._bridge = view_model, selection, bridge
        self._snapshot: ProjectSnapshot | None = None
        self._job_id: int | None = None
        self._job_key: tuple | None = None
        self._cache: dict[tuple, GenerationDiagnostics] = {}
        self._shown_key: tuple | None = None
        self._auto_pending = False  # a project arrived and no run was started for it yet

        self.table_model = DiagnosticsTableModel(self)
        self._stack = QStackedWidget(self)
        title = _heading("No project open", 1.4)
        self._empty_body = QLabel(_EMPTY_TEXT)
        self._empty_page = _centred_column(title, self._empty_body)
        self._no_gen_title = _heading("This project has no generative model to diagnose", 1.3)
        self._no_gen_label = QLabel("")
        self._no_gen_label.setTextFormat(Qt.TextFormat.RichText)
        self._no_gen_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._no_gen_page = _centred_column(self._no_gen_title, self._no_gen_label, width=700)
        self._main_page = self._build_main_page()
        for page in (self._empty_page, self._main_page, self._no_gen_page):
            self._stack.addWidget(page)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 8, 10, 8)
        lay.addWidget(self._stack, 1)

        bridge.sig_progress.connect(self._on_progress)
        bridge.sig_result.connect(self._on_result)
        bridge.sig_error.connect(self._on_error)
        bridge.sig_cancelled.connect(self._on_cancelled)
        bridge.sig_finished.connect(self._on_finished)
        view_model.sig_project_changed.connect(self._on_project_changed)
        self._on_project_changed(view_model.snapshot)

    # ---- public ----
    def screenshot_ready(self) -> bool:
        """True once a result is shown and no run of this panel is going on."""
        return self._shown_key is not None and self._job_id is None

    def running(self) -> bool:
        return self._job_id is not None

    def page(self) -> str:
        """``"empty"``, ``"diagnostics"`` or ``"no_generator"``."""
        return {0: "empty", 1: "diagnostics", 2: "no_generator"}[self._stack.currentIndex()]

    def result(self) -> GenerationDiagnostics | None:
        """The result shown, or None."""
        return self.table_model.result

    def run(self) -> None:
        """Diagnose the chosen generator with the chosen settings (the cache answers when it can)."""
        snapshot = self._snapshot
        kind = self.generator_combo.currentData()
        if snapshot is None or kind is None:
            return
        self._auto_pending = False
        key = self._key(kind)
        if key in self._cache:
            self._show(key)
            return
        if self._job_id is not None:
            if self._job_key == key:
                return  # that run is already under way
            self._bridge.cancel(self._job_id)
        self._error.setVisible(False)
        job = self._bridge.submit(run_diagnostics, snapshot.project, kind, int(self.users_spin.value()),
                                  int(self.beam_spin.value()), name=f"diagnose {kind}")
        self._job_id, self._job_key = job.id, key
        self._progress.setValue(0)
        self._status.setText(f"Decoding {self.users_spin.value():,} users with the {self._label(kind)} generator…")
        self._sync_buttons()

    def cancel(self) -> None:
        if self._job_id is not None:
            self._bridge.cancel(self._job_id)
            self._status.setText("Cancelling…")

    def summary_text(self) -> str:
        return self._summary.text()

    def error_text(self) -> str:
        return self._error.text() if self._error.isVisible() else ""

    def status_text(self) -> str:
        return self._status.text()

    def message_text(self) -> str:
        return self._no_gen_label.text()

    @property
    def table_view(self) -> QTableView:
        return self._table

    # ---- private: layout ----
    def _build_main_page(self) -> QWidget:
        page = QWidget()
        outer = QVBoxLayout(page)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(6)
        header = QLabel(_HEADER)
        header.setWordWrap(True)
        header.setTextFormat(Qt.TextFormat.RichText)
        outer.addWidget(header)

        row = QHBoxLayout()
        row.setSpacing(6)
        row.addWidget(QLabel("Generator:"))
        self.generator_combo = QComboBox()
        self.generator_combo.setToolTip("The generator to diagnose. TIGER-style decodes ~20x slower than the RAN "
                                        "on a CPU (about 20 s for 2,000 users).")
        self.generator_combo.currentIndexChanged.connect(self._on_settings_changed)
        row.addWidget(self.generator_combo)
        row.addSpacing(10)
        row.addWidget(QLabel("Users:"))
        self.users_spin = QSpinBox()
        self.users_spin.setRange(100, 1_000_000)
        self.users_spin.setSingleStep(500)
        self.users_spin.setGroupSeparatorShown(True)
        self.users_spin.setValue(DEFAULT_USERS)
        self.users_spin.setToolTip("How many test users to diagnose: a seeded random sample (the same users on "
                                   "every run); a number at or above the split's size takes every user.")
        self.users_spin.valueChanged.connect(self._on_settings_changed)
        row.addWidget(self.users_spin)
        self._sample_label = QLabel("test users (a seeded sample)")
        row.addWidget(self._sample_label)
        row.addSpacing(10)
        beam_label = QLabel("Beam:")
        self.beam_spin = QSpinBox()
        self.beam_spin.setRange(K, 200)
        self.beam_spin.setValue(DEFAULT_BEAM)
        self.beam_spin.setToolTip(f"Beam width of both decodes (at least {K}); the target rank is read from the "
                                  "whole beam.")
        self.beam_spin.valueChanged.connect(self._on_settings_changed)
        for w in (beam_label, self.beam_spin):
            w.setProperty("expert", True)
            row.addWidget(w)
        row.addSpacing(10)
        self.run_button = QPushButton("Run")
        self.run_button.setToolTip("Decode the sampled users constrained and unconstrained.")
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        row.addWidget(self.run_button)
        row.addWidget(self.cancel_button)
        self._progress = QProgressBar()
        self._progress.setRange(0, 1000)
        self._progress.setTextVisible(False)
        self._progress.setMaximumWidth(220)
        row.addWidget(self._progress)
        self._status = QLabel("")
        row.addWidget(self._status, 1)
        outer.addLayout(row)

        self._error = error_label()
        outer.addWidget(self._error)
        self._summary = QLabel("")
        self._summary.setWordWrap(True)
        self._summary.setTextFormat(Qt.TextFormat.RichText)
        outer.addWidget(self._summary)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)
        plots = QWidget()
        pl = QVBoxLayout(plots)
        pl.setContentsMargins(0, 0, 0, 0)
        self.homogeneity_plot = CountHistogram(
            f"Homogeneity@{K} per user (dashed: mean)", f"share of the top-{K} under the dominant first code",
            HOMOGENEITY_COLOUR, np.arange(1, K + 1) / K, 0.8 / K)
        self.invalid_plot = CountHistogram(
            "Invalid SIDs per user, unconstrained decoding", f"SIDs in the top-{K} that match no item",
            INVALID_COLOUR, np.arange(K + 1, dtype=float), 0.8)
        pl.addWidget(self.homogeneity_plot, 1)
        pl.addWidget(self.invalid_plot, 1)
        splitter.addWidget(plots)

        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(6, 0, 0, 0)
        sort_row = QHBoxLayout()
        sort_row.addWidget(_heading("Users, worst first by", 1.0))
        self.sort_combo = QComboBox()
        for label, by, _ in _SORTS:
            self.sort_combo.addItem(label, by)
        self.sort_combo.currentIndexChanged.connect(self._on_sort_changed)
        sort_row.addWidget(self.sort_combo)
        sort_row.addStretch(1)
        rl.addLayout(sort_row)
        hint = QLabel("Click a user to highlight its top-10 in the tree and the map; double-click to open it in "
                      "the beam stepper. Click a header to sort.")
        hint.setWordWrap(True)
        rl.addWidget(hint)
        self._table = QTableView()
        self._table.setModel(self.table_model)
        self._table.setSortingEnabled(True)
        self._table.horizontalHeader().setSortIndicator(2, Qt.SortOrder.DescendingOrder)
        self._table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self._table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self._table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self._table.setAlternatingRowColors(True)
        self._table.setWordWrap(False)
        self._table.verticalHeader().setVisible(False)
        self._table.verticalHeader().setDefaultSectionSize(22)
        hh = self._table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        hh.setMinimumSectionSize(60)
        self._table.clicked.connect(self._on_row_clicked)
        self._table.doubleClicked.connect(self._on_row_double_clicked)
        rl.addWidget(self._table, 1)
        self._user_label = QLabel("")
        self._user_label.setWordWrap(True)
        self._user_label.setTextFormat(Qt.TextFormat.RichText)
        self._user_label.setMinimumHeight(40)
        self._user_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        rl.addWidget(self._user_label)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([560, 680])
        outer.addWidget(splitter, 1)
        self._sync_buttons()
        return page

    # ---- private: project and settings ----
    def _on_project_changed(self, snapshot: ProjectSnapshot | None) -> None:
        if self._job_id is not None:
            self._bridge.cancel(self._job_id)
        self._job_id = self._job_key = None
        self._snapshot = snapshot
        self._shown_key = None
        self._cache = {k: v for k, v in self._cache.items() if snapshot is not None and k[0] == str(snapshot.path)}
        self.table_model.set_result(None)
        self._clear_plots()
        self._summary.setText("")
        self._user_label.setText("")
        self._status.setText("")
        self._error.setVisible(False)
        self._progress.setValue(0)
        if snapshot is None:
            self._auto_pending = False
            self._stack.setCurrentWidget(self._empty_page)
            self._sync_buttons()
            return
        available = [(kind, label) for kind, label in GENERATORS if self._generator_file(kind).is_file()]
        self.generator_combo.blockSignals(True)
        self.generator_combo.clear()
        for kind, label in available:
            self.generator_combo.addItem(label, kind)
        self.generator_combo.blockSignals(False)
        if not available:
            path = _escape(str(snapshot.path))
            self._no_gen_label.setText(
                "<p>Diagnostics decode semantic IDs with a generative model: a RAN "
                "(<code>generator-ran.safetensors</code>) or a TIGER-style one (<code>generator-tiger.safetensors</code>). "
                f"Train one with</p><p><code>genrec train --project {path} --model ran</code></p>"
                "<p>or in the Training panel, then open the project again.</p>")
            self._stack.setCurrentWidget(self._no_gen_page)
            self._auto_pending = False
            self._sync_buttons()
            return
        self._stack.setCurrentWidget(self._main_page)
        self._status.setText("Press Run to diagnose the generator.")
        self._auto_pending = True
        self._sync_buttons()
        if self.isVisible():
            self.run()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        if self._auto_pending and self._snapshot is not None:
            self.run()  # the first time the panel is shown with a project: start by itself

    def _generator_file(self, kind: str) -> Path:
        return Path(self._snapshot.path) / f"generator-{kind}.safetensors"

    def _key(self, kind: str) -> tuple:
        """Cache key: the project folder, the generator (and its file's time, so a retrained one
        is decoded anew), the users and the beam."""
        try:
            stamp = self._generator_file(kind).stat().st_mtime_ns
        except OSError:
            stamp = 0
        return (str(self._snapshot.path), kind, stamp, int(self.users_spin.value()), int(self.beam_spin.value()))

    @staticmethod
    def _label(kind: str) -> str:
        return dict(GENERATORS).get(kind, kind)

    def _on_settings_changed(self, *_) -> None:
        if self._snapshot is None or self.generator_combo.currentData() is None:
            return
        key = self._key(self.generator_combo.currentData())
        if key in self._cache:
            self._show(key)
        elif self._job_id is None and self._shown_key is not None:
            self._status.setText("Settings changed: press Run to diagnose with them (the results below are "
                                 "for the previous settings).")
        self._sync_buttons()

    def _sync_buttons(self) -> None:
        running = self._job_id is not None
        has_project = self._snapshot is not None and self.generator_combo.count() > 0
        self.run_button.setEnabled(has_project and not running)
        self.cancel_button.setEnabled(running)

    # ---- private: jobs ----
    def _on_progress(self, job_id: int, fraction: float, message: str) -> None:
        if job_id != self._job_id:
            return
        self._progress.setValue(int(round(1000 * fraction)))
        self._status.setText(message[:1].upper() + message[1:] + "…" if message else "")

    def _on_result(self, job_id: int, result: object) -> None:
        if job_id != self._job_id:
            return
        key = self._job_key
        self._cache[key] = result  # type: ignore[assignment]
        while len(self._cache) > _CACHE_SIZE:
            self._cache.pop(next(iter(self._cache)))
        self._job_id = self._job_key = None
        self._progress.setValue(1000)
        self._show(key)

    def _on_error(self, job_id: int, message: str) -> None:
        if job_id != self._job_id:
            return
        self._job_id = self._job_key = None
        self._error.setText(f"Could not diagnose the generator: {message}")
        self._error.setVisible(True)
        self._status.setText("Failed.")
        self._progress.setValue(0)
        self._sync_buttons()

    def _on_cancelled(self, job_id: int) -> None:
        if job_id != self._job_id:
            return
        self._job_id = self._job_key = None
        self._status.setText("Cancelled." + (" The results below are from an earlier run." if self._shown_key else ""))
        self._progress.setValue(0)
        self._sync_buttons()

    def _on_finished(self, job_id: int) -> None:
        if job_id == self._job_id:  # an outcome nobody handled (should not happen): never stay "running"
            self._job_id = self._job_key = None
            self._sync_buttons()

    # ---- private: showing a result ----
    def _clear_plots(self) -> None:
        self.homogeneity_plot.set_counts(np.zeros(K, dtype=np.int64))
        self.invalid_plot.set_counts(np.zeros(K + 1, dtype=np.int64))

    def _show(self, key: tuple) -> None:
        diag = self._cache[key]
        self._shown_key = key
        s = diag.summary
        self.table_model.set_result(diag, self.sort_combo.currentData() or "homogeneity")
        self._table.horizontalHeader().setSortIndicator(dict((b, c) for _, b, c in _SORTS)[
            self.sort_combo.currentData() or "homogeneity"], Qt.SortOrder.DescendingOrder)
        self.homogeneity_plot.set_counts(s["homogeneity_counts"], mean=s["mean_homogeneity"])
        self.invalid_plot.set_counts(s["invalid_counts"])
        self._summary.setText(self._summary_html(diag))
        sample = "all of them" if len(diag) >= diag.users_total else "a seeded sample"
        self._sample_label.setText(f"of {diag.users_total:,} test users ({sample})")
        self._status.setText(f"Done in {s['seconds']:.1f} s.")
        self._user_label.setText("")
        self._sync_buttons()
        self.sig_ready.emit()

    def _summary_html(self, diag: GenerationDiagnostics) -> str:
        s = diag.summary
        n = len(diag)
        single = int(np.sum(diag.homogeneity >= 1.0 - 1e-9))
        levels = s["invalid_levels"]
        D = len(levels)
        where = ", ".join(
            f"{'collision level' if lv == D - 1 else f'level {lv + 1}'}: {c:,}" for lv, c in enumerate(levels) if c)
        hits = s.get(f"hit_rate@{diag.k}", 0.0)
        sample = "all" if n >= diag.users_total else "a sample of"
        parts = [
            f"<b>{self._label(diag.kind)}</b>, beam {diag.beam}, {sample} <b>{n:,}</b> of {diag.users_total:,} test users. "
            f"Mean homogeneity@{diag.k} <b>{s['mean_homogeneity']:.2f}</b> (about "
            f"{s['mean_homogeneity'] * diag.k:.1f} of {diag.k} items share the dominant first code); "
            f"{single:,} users ({_pct(single / max(n, 1))}) get all {diag.k} from one prefix. "
            f"Target in the top-{diag.k}: {_pct(hits)}.",
            f"Unconstrained, <b>{_pct(s['invalid_rate'])}</b> of the generated SIDs match no item, and "
            f"{_pct(s['users_with_invalid'])} of the users get at least one"
            + (f" (they leave the trie at {where})." if where else ".")
            + f" Constrained: {s['constrained_invalid']} invalid, as the trie guarantees.",
        ]
        return "<br>".join(parts)

    def _on_sort_changed(self, index: int) -> None:
        if index < 0:
            return
        _, by, column = _SORTS[index]
        self._table.sortByColumn(column, Qt.SortOrder.DescendingOrder)

    def _on_row_clicked(self, index: QModelIndex) -> None:
        diag = self.table_model.result
        if diag is None or not index.isValid() or self._snapshot is None:
            return
        r = self.table_model.result_row(index.row())
        items = [int(i) for i in diag.top[r] if i >= 0]
        self._user_label.setText(self._user_html(diag, r))
        if items:
            self._selection.select_items(items, source=SOURCE)

    def _on_row_double_clicked(self, index: QModelIndex) -> None:
        if self.table_model.result is None or not index.isValid():
            return
        self.sig_open_user.emit(self.table_model.user_at(index.row()))

    def _user_html(self, diag: GenerationDiagnostics, r: int) -> str:
        cat = self._snapshot.project.dataset.catalogue
        target = int(diag.target[r])
        title = cat.title(target) or f"item {int(diag.target_id[r])}"
        if len(title) > 70:
            title = title[:67] + "…"
        rank = int(diag.target_rank[r])
        where = f"rank {rank}" if rank > 0 else f"not in the top {diag.beam}"
        h = float(diag.homogeneity[r])
        share = "–" if not np.isfinite(h) else f"{h:.2f}"
        return (f"<b>User {int(diag.users[r])}</b> ({int(diag.history_length[r])} items in the history): next item "
                f"<i>{_escape(title)}</i> ({where}). Top-{diag.k}: homogeneity {share}, dominant first code "
                f"{int(diag.dominant_prefix[r])}; unconstrained: {int(diag.invalid[r])} invalid SID"
                f"{'s' if int(diag.invalid[r]) != 1 else ''}. Its top-{diag.k} is now selected in the other panels.")
