"""Overview panel: the open project's catalogue, tokenizer and codebook health, in real numbers.

A view over :class:`~app.panels.ProjectViewModel`; it computes nothing itself (the diagnostics come
with the snapshot, computed on a worker thread).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from . import ProjectSnapshot, ProjectViewModel
from ..widgets import centred_column as _centred_column, heading as _heading

from genrec_engine import TokenizerDiagnostics

if TYPE_CHECKING:  # only a type: rows come from the public TokenizerDiagnostics.levels
    from genrec_engine.quantize import LevelStats

__all__ = ["OverviewPanel", "LevelTableModel", "LEVEL_COLUMNS", "METHOD_NAMES", "PANEL_GUIDE"]

METHOD_NAMES = {
    "rkmeans": "Residual k-means",
    "rqvae": "RQ-VAE",
    "vqvae": "Product VQ-VAE",
    "gaoq": "GAOQ (ReSID)",
}

#: The panels planned for later issues: (name, what it will show).
PANEL_GUIDE = (
    ("Playground", "a history (and an instruction) in, three generators' recommendations side by side"),
    ("Beam stepper", "why did it recommend that? step through constrained beam search level by level"),
    ("Cold-start lab", "why does my new item never show up? tokenize, inject and score it for a user"),
    ("Diagnostics", "why do all ten look alike? homogeneity and invalid generations across test users"),
)


# ------------------------------------------------------------------------------ per-level table model


@dataclass(frozen=True)
class _Column:
    header: str
    tooltip: str  # plain-language meaning, shown on the header
    value: Callable[["LevelStats"], float | int]
    text: Callable[[float | int], str]


LEVEL_COLUMNS: tuple[_Column, ...] = (
    _Column("Level", "Position in the semantic ID. Level 1 is the coarsest code; each later level "
            "refines the codes before it.", lambda s: s.level, lambda v: f"{v}"),
    _Column("Utilization", "Share of the K codewords at this level that at least one item uses. "
            "100 % means no codeword is wasted.", lambda s: s.utilization, lambda v: f"{100 * v:.1f} %"),
    _Column("Perplexity", "How evenly items spread over the codewords, in 'effective codewords': "
            "K means perfectly even, far below K means a few codewords hold most items.",
            lambda s: s.perplexity, lambda v: f"{v:.1f}"),
    _Column("Dead codes", "Codewords at this level that no item uses.", lambda s: s.dead_codes, lambda v: f"{v:,}"),
    _Column("Largest bucket", "Items on the most used codeword of this level.",
            lambda s: s.largest_bucket, lambda v: f"{v:,}"),
    _Column("Prefix entropy", "H(c_l | c_<l), in bits: how hard this level's code is to guess once the "
            "earlier codes are known. 0 bits means it is already decided; log2(K) bits means any of the "
            "K codewords is equally likely.", lambda s: s.prefix_entropy, lambda v: f"{v:.2f} bits"),
    _Column("Prefixes", "Distinct prefixes c_1..c_l: the number of nodes at this depth of the SID tree.",
            lambda s: s.prefixes, lambda v: f"{v:,}"),
    _Column("Items per prefix", "Mean and largest number of items that share one prefix c_1..c_l.",
            lambda s: s.items_per_prefix_mean, lambda v: f"{v:,.1f}"),
)
_ITEMS_PER_PREFIX = len(LEVEL_COLUMNS) - 1


class LevelTableModel(QAbstractTableModel):
    """One row per codebook level (collision level excluded), one column per ``LEVEL_COLUMNS`` entry.

    ``Qt.UserRole`` returns the raw number (for sorting and tests), ``DisplayRole`` the formatted text.
    """

    def __init__(self, parent=None):
        super().__init__(parent)
        self._levels: list["LevelStats"] = []

    # ---- public ----
    def set_levels(self, levels: list["LevelStats"]) -> None:
        self.beginResetModel()
        self._levels = list(levels)
        self.endResetModel()

    # ---- Qt model API ----
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._levels)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(LEVEL_COLUMNS)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not (0 <= index.row() < len(self._levels)):
            return None
        if not (0 <= index.column() < len(LEVEL_COLUMNS)):
            return None
        stats, col = self._levels[index.row()], LEVEL_COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            if index.column() == _ITEMS_PER_PREFIX:
                return f"{stats.items_per_prefix_mean:,.1f} · max {stats.items_per_prefix_max:,}"
            return col.text(col.value(stats))
        if role == Qt.ItemDataRole.UserRole:
            return col.value(stats)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            if index.column() == 0:
                return int(Qt.AlignmentFlag.AlignCenter)
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            return col.tooltip
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(LEVEL_COLUMNS):
            if role == Qt.ItemDataRole.DisplayRole:
                return LEVEL_COLUMNS[section].header
            if role == Qt.ItemDataRole.ToolTipRole:
                return LEVEL_COLUMNS[section].tooltip
            if role == Qt.ItemDataRole.TextAlignmentRole and section == 0:
                return int(Qt.AlignmentFlag.AlignCenter)
        if orientation == Qt.Orientation.Vertical and role == Qt.ItemDataRole.DisplayRole:
            if 0 <= section < len(self._levels):
                return str(section + 1)
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable


# ----------------------------------------------------------------------------------------- widgets


class _Card(QFrame):
    """One headline figure: a big value, a caption, and a one-line explanation under it."""

    def __init__(self, caption: str, tooltip: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("card")
        self.setToolTip(tooltip)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(12, 8, 12, 8)
        lay.setSpacing(2)
        self.value = QLabel("–")
        font = QFont(self.value.font())
        font.setPointSizeF(font.pointSizeF() * 1.7)
        font.setBold(True)
        self.value.setFont(font)
        self.value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        title = QLabel(caption)
        title_font = QFont(title.font())
        title_font.setBold(True)
        title.setFont(title_font)
        self.detail = QLabel("")
        self.detail.setWordWrap(True)
        pal = self.detail.palette()  # secondary text: between text and background, any theme
        pal.setColor(QPalette.ColorRole.WindowText, _mix(pal.color(QPalette.ColorRole.WindowText),
                                                         pal.color(QPalette.ColorRole.Base), 0.4))
        self.detail.setPalette(pal)
        lay.addWidget(title)
        lay.addWidget(self.value)
        lay.addWidget(self.detail)
        lay.addStretch(1)


def _mix(a: QColor, b: QColor, t: float) -> QColor:
    """``a`` moved a fraction ``t`` of the way towards ``b``."""
    return QColor.fromRgbF(*(x + (y - x) * t for x, y in zip(a.getRgbF()[:3], b.getRgbF()[:3])))


_TABLE_HELP = (
    "Each row is one level of the semantic ID (the extra collision token is left out). A healthy "
    "tokenizer <b>uses</b> nearly all K codewords at every level (utilization near 100 %, no dead "
    "codes), spreads items <b>evenly</b> (perplexity close to K, a small largest bucket), and keeps "
    "later levels <b>informative</b>: prefix entropy is the number of bits a generator still has to "
    "guess at that level once it knows the earlier codes. Hover over a column header for its meaning."
)

_EMPTY_TEXT = (
    "<p>Open a project folder with <b>File › Open project…</b> (Ctrl+O).</p>"
    "<p>A project is what <code>genrec tokenize</code> writes: <code>project.json</code>, the item "
    "embeddings, the fitted tokenizer and the SID table.</p>"
)


def _levels_text(first: int, last: int) -> str:
    return f"level {first}" if first == last else f"levels {first}–{last}"


def _plain_words(diag: TokenizerDiagnostics, k: int, collision_size: int) -> str:
    """The diagnostics retold as a few sentences (HTML), for readers new to semantic IDs."""
    levels = diag.levels
    n_levels = len(levels)
    dead = [(s.level, s.dead_codes) for s in levels if s.dead_codes]
    if not dead:
        use = f"All {k:,} codewords are in use at every level."
    else:
        use = "Unused codewords: " + ", ".join(f"{d:,} of {k:,} at level {lv}" for lv, d in dead) + "."
    spread = ", ".join(f"{100 * s.perplexity / k:.0f} %" for s in levels)
    spread = f"Items spread over an effective {spread} of the codewords at {_levels_text(1, n_levels)} (perplexity ÷ K)."
    bits = math.log2(k)
    guess = ", ".join(f"{s.prefix_entropy:.1f}" for s in levels[1:])
    guess = (
        f"Once the earlier codes are known, {_levels_text(2, n_levels)} leave{'s' if n_levels == 2 else ''} "
        f"{guess} bits to guess (of at most {bits:.0f})."
        if n_levels > 1 else ""
    )
    coll = (
        f"{100 * diag.collision_rate:.1f} % of items share all {n_levels} codes with an earlier item; the "
        f"collision token (0–{collision_size - 1}) tells them apart."
        if diag.collision_rate > 0 else f"No two items share all {n_levels} codes: no collision token is needed."
    )
    return "".join(f"<p style='margin-bottom: 6px'>{line}</p>" for line in (use, spread, guess, coll) if line)


class OverviewPanel(QWidget):
    """The open project in numbers: catalogue size, tokenizer settings, per-level codebook health."""

    def __init__(self, view_model: ProjectViewModel, parent: QWidget | None = None):
        super().__init__(parent)
        self._vm = view_model
        self._figures: dict[str, QLabel] = {}
        self.level_model = LevelTableModel(self)

        self._stack = QStackedWidget(self)
        self._empty_page = self._build_empty_page()
        self._loading_page = self._build_loading_page()
        self._content_page = self._build_content_page()
        for page in (self._empty_page, self._loading_page, self._content_page):
            self._stack.addWidget(page)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self._stack)

        view_model.sig_project_changed.connect(self._on_project_changed)
        view_model.sig_status_changed.connect(self._on_status_changed)
        self._on_project_changed(view_model.snapshot)
        self._on_status_changed()

    # ---- public ----
    def figure_text(self, key: str) -> str:
        """The text shown for a headline figure (``items``, ``users``, ``collision_rate``, ...)."""
        return self._figures[key].text()

    def figure_keys(self) -> list[str]:
        return list(self._figures)

    def page(self) -> str:
        """Which page is showing: ``"empty"``, ``"loading"`` or ``"project"``."""
        return {0: "empty", 1: "loading", 2: "project"}[self._stack.currentIndex()]

    @property
    def table(self) -> QTableView:
        return self._table

    # ---- private: pages ----
    def _build_empty_page(self) -> QWidget:
        title = _heading("No project open", 1.6)
        self._empty_error = QLabel("")
        self._empty_error.setStyleSheet("color: #b3261e;")
        self._empty_error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        body = QLabel(_EMPTY_TEXT)
        return _centred_column(title, self._empty_error, body)

    def _build_loading_page(self) -> QWidget:
        self._loading_label = _heading("Loading…", 1.4)
        busy = QProgressBar()
        busy.setRange(0, 0)  # indeterminate: the status bar shows the real fraction
        busy.setTextVisible(False)
        self._loading_path = QLabel("")
        return _centred_column(self._loading_label, busy, self._loading_path)

    def _build_content_page(self) -> QWidget:
        inner = QWidget()
        inner.setObjectName("overviewContent")
        lay = QVBoxLayout(inner)
        lay.setContentsMargins(16, 12, 16, 12)
        lay.setSpacing(12)

        # title
        self._title = _heading("", 1.6)
        self._subtitle = QLabel("")
        self._subtitle.setWordWrap(True)
        self._subtitle.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        head = QVBoxLayout()
        head.setSpacing(2)
        head.addWidget(self._title)
        head.addWidget(self._subtitle)
        lay.addLayout(head)

        # headline figures
        cards = QGridLayout()
        cards.setSpacing(10)
        specs = (
            ("items", "Items", "Items in the catalogue; each gets one semantic ID."),
            ("users", "Users", "Distinct users in the interaction log."),
            ("interactions", "Interactions", "User-item events (reviews, purchases) in the log."),
            ("unique_sids", "Unique SIDs", "Distinct full semantic IDs, collision token included. "
             "Equal to the item count: every item is addressable."),
            ("collision_rate", "Collision rate", "Share of items whose L codes repeat an earlier item's, "
             "so the extra collision token is what tells them apart."),
            ("max_collision_depth", "Max collision depth", "The largest group of items sharing one "
             "L-code tuple: the collision token runs from 0 to this minus one."),
        )
        self._details: dict[str, QLabel] = {}
        for i, (key, caption, tip) in enumerate(specs):
            card = _Card(caption, tip)
            self._figures[key] = card.value
            self._details[key] = card.detail
            cards.addWidget(card, 0, i)
        lay.addLayout(cards)

        # per-level table, full width
        table_box = QGroupBox("Codebook health, per level")
        tb = QVBoxLayout(table_box)
        self._table = QTableView()
        self._table.setModel(self.level_model)
        self._table.verticalHeader().setVisible(False)
        self._table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self._table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self._table.setAlternatingRowColors(True)
        self._table.setWordWrap(False)
        self._table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        hh = self._table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        hh.setMinimumSectionSize(90)
        hh.setDefaultAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        hh.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)  # "Level": narrow
        help_label = QLabel(_TABLE_HELP)
        help_label.setWordWrap(True)
        help_label.setTextFormat(Qt.TextFormat.RichText)
        tb.addWidget(self._table)
        tb.addWidget(help_label)
        lay.addWidget(table_box)

        # tokenizer (left) | what is coming (right)
        row = QHBoxLayout()
        row.setSpacing(12)
        tok_box = QGroupBox("Tokenizer")
        self._tok_form = QFormLayout(tok_box)
        self._tok_form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self._tok_rows: dict[str, QLabel] = {}
        for key, caption in (
            ("encoder", "Encoder"),
            ("method", "Method"),
            ("levels", "Levels (L)"),
            ("codebook_size", "Codebook size (K)"),
            ("sid_length", "SID length"),
            ("recon_mse", "Reconstruction MSE"),
            ("fit_seconds", "Fit time"),
        ):
            value = QLabel("")
            value.setWordWrap(True)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self._tok_rows[key] = value
            self._tok_form.addRow(caption + ":", value)

        plain_box = QGroupBox("In plain words")
        pl = QVBoxLayout(plain_box)
        self._plain = QLabel("")
        self._plain.setWordWrap(True)
        self._plain.setTextFormat(Qt.TextFormat.RichText)
        pl.addWidget(self._plain)
        pl.addStretch(1)

        coming = QGroupBox("Where to look next")
        cl = QVBoxLayout(coming)
        items = "".join(f"<li><b>{name}</b>: {what}</li>" for name, what in PANEL_GUIDE)
        coming_label = QLabel(
            "The questions the other tabs answer:"
            f"<ul style='margin-left: -20px; margin-top: 4px'>{items}</ul>"
        )
        coming_label.setWordWrap(True)
        coming_label.setTextFormat(Qt.TextFormat.RichText)
        cl.addWidget(coming_label)
        cl.addStretch(1)

        row.addWidget(tok_box, 1)
        row.addWidget(plain_box, 1)
        row.addWidget(coming, 1)
        lay.addLayout(row)
        lay.addStretch(1)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(inner)
        inner.setStyleSheet(
            "QFrame#card { border: 1px solid palette(mid); border-radius: 6px; background: palette(base); }"
        )
        return scroll

    # ---- private: updates from the view-model ----
    def _on_project_changed(self, snapshot: ProjectSnapshot | None) -> None:
        if snapshot is None:
            self.level_model.set_levels([])
            for label in self._figures.values():
                label.setText("–")
            return
        project, diag = snapshot.project, snapshot.diagnostics
        meta = project.meta
        ds = meta.get("dataset", {})
        self._title.setText(project.name)
        created = meta.get("created", "")
        self._subtitle.setText(f"{snapshot.path}" + (f"  ·  created {created}" if created else ""))

        def count(value) -> str:
            return f"{int(value):,}" if isinstance(value, (int, float)) else "–"

        self._figures["items"].setText(count(diag.items))
        self._figures["users"].setText(count(ds.get("users")))
        self._figures["interactions"].setText(count(ds.get("interactions")))
        self._figures["unique_sids"].setText(count(diag.unique_sids))
        self._figures["collision_rate"].setText(f"{100 * diag.collision_rate:.1f} %")
        self._figures["max_collision_depth"].setText(count(diag.max_collision_depth))
        users, inter = ds.get("users"), ds.get("interactions")
        self._details["items"].setText(f"one {project.sids.depth}-token SID each")
        self._details["users"].setText(
            f"{inter / users:.1f} interactions per user" if users and inter else "from the dataset"
        )
        self._details["interactions"].setText(
            f"{inter / diag.items:.1f} per item" if inter and diag.items else "from the dataset"
        )
        self._details["unique_sids"].setText(f"{diag.unique_codes:,} distinct code tuples")
        self._details["collision_rate"].setText(f"{diag.colliding_items:,} items in shared tuples")
        self._details["max_collision_depth"].setText("items on the fullest tuple")

        cfg = project.tokenizer_config
        enc = meta.get("encoder", {})
        enc_text = enc.get("name", "?")
        if enc.get("model"):
            enc_text = f"{enc['model']}"
        if enc.get("dim"):
            enc_text += f", {enc['dim']}-d"
        if enc.get("fields"):
            enc_text += f" (fields: {', '.join(enc['fields'])})"
        self._tok_rows["encoder"].setText(enc_text)
        self._tok_rows["method"].setText(f"{METHOD_NAMES.get(cfg.method, cfg.method)} ({cfg.method})")
        self._tok_rows["levels"].setText(str(cfg.levels))
        self._tok_rows["codebook_size"].setText(f"{cfg.codebook_size:,} codewords per level")
        self._tok_rows["sid_length"].setText(
            f"{project.sids.depth} tokens ({cfg.levels} codes + collision token 0–{project.sids.collision_size - 1})"
        )
        self._tok_rows["recon_mse"].setText("–" if diag.recon_mse is None else f"{diag.recon_mse:.4f}")
        fit = meta.get("tokenizer", {}).get("fit_seconds")
        self._tok_rows["fit_seconds"].setText("–" if fit is None else f"{fit:.1f} s")

        self._plain.setText(_plain_words(diag, cfg.codebook_size, project.sids.collision_size))
        self.level_model.set_levels(diag.levels)
        self._fit_table_height()

    def _on_status_changed(self) -> None:
        vm = self._vm
        if vm.loading is not None and vm.snapshot is None:
            self._loading_label.setText(f"Loading {vm.loading.name}…")
            self._loading_path.setText(str(vm.loading))
            self._stack.setCurrentWidget(self._loading_page)
        elif vm.snapshot is not None:
            self._stack.setCurrentWidget(self._content_page)
        else:
            self._empty_error.setText(f"Could not open the project: {vm.error}" if vm.error else "")
            self._empty_error.setVisible(bool(vm.error))
            self._stack.setCurrentWidget(self._empty_page)

    def _fit_table_height(self) -> None:
        """Size the table to its rows so the panel has no empty scroll area inside it."""
        t = self._table
        t.resizeRowsToContents()
        rows = sum(t.rowHeight(r) for r in range(self.level_model.rowCount()))
        h = t.horizontalHeader().sizeHint().height() + rows + 2 * t.frameWidth()
        if t.horizontalScrollBar().isVisible():
            h += t.horizontalScrollBar().sizeHint().height()
        t.setFixedHeight(h + 2)
