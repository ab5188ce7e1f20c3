"""The overview panel's widgets: headline cards, the per-level table, tokenizer settings, plain words.

A view over :class:`~app.panels.ProjectViewModel`; it computes nothing itself: the texts come from
:func:`~app.panels.overview.state.overview_of` (the diagnostics were computed with the snapshot,
on a worker thread).
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ...widgets import heading
from ...widgets.overview_pages import ProjectPages, page_column, rich_label
from .. import ProjectSnapshot, ProjectViewModel
from .models import LevelTableModel
from .state import FIGURES, PANEL_GUIDE, TOKENIZER_ROWS, overview_of

__all__ = ["OverviewPanel"]

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


def _mix(a: QColor, b: QColor, t: float) -> QColor:
    """``a`` moved a fraction ``t`` of the way towards ``b``."""
    return QColor.fromRgbF(*(x + (y - x) * t for x, y in zip(a.getRgbF()[:3], b.getRgbF()[:3])))


def _selectable(text: str = "", *, wrap: bool = True) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(wrap)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


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
        self.value = heading("–", 1.7)
        self.value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.detail = QLabel("")
        self.detail.setWordWrap(True)
        pal = self.detail.palette()  # secondary text: between text and background, any theme
        pal.setColor(QPalette.ColorRole.WindowText, _mix(pal.color(QPalette.ColorRole.WindowText),
                                                         pal.color(QPalette.ColorRole.Base), 0.4))
        self.detail.setPalette(pal)
        lay.addWidget(heading(caption))
        lay.addWidget(self.value)
        lay.addWidget(self.detail)
        lay.addStretch(1)


class OverviewPanel(QWidget):
    """The open project in numbers: catalogue size, tokenizer settings, per-level codebook health.

    Public: :meth:`page`, :meth:`figure_text`, :meth:`figure_keys`, the per-level ``table`` and its
    ``level_model``.
    """

    def __init__(self, view_model: ProjectViewModel, parent: QWidget | None = None):
        super().__init__(parent)
        self._cards: dict[str, _Card] = {}
        self._tok_rows: dict[str, QLabel] = {}
        self.level_model = LevelTableModel(self)
        self._pages = ProjectPages(view_model, self._build_content_page(), _EMPTY_TEXT, show_error=True,
                                   show_path=True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self._pages)
        view_model.sig_project_changed.connect(self._on_project_changed)
        self._on_project_changed(view_model.snapshot)

    # ---- public ----
    def figure_text(self, key: str) -> str:
        """The text shown for a headline figure (``items``, ``users``, ``collision_rate``, ...)."""
        return self._cards[key].value.text()

    def figure_keys(self) -> list[str]:
        return list(self._cards)

    def page(self) -> str:
        """Which page is showing: ``"empty"``, ``"loading"`` or ``"project"``."""
        return self._pages.page()

    # ---- private: pages ----
    def _build_content_page(self) -> QWidget:
        self._title = heading("", 1.6)
        self._subtitle = _selectable()
        head = QVBoxLayout()
        head.setSpacing(2)
        head.addWidget(self._title)
        head.addWidget(self._subtitle)
        inner, lay = page_column(margins=(16, 12, 16, 12), spacing=12)
        inner.setObjectName("overviewContent")
        lay.addLayout(head)
        cards = QGridLayout()
        cards.setSpacing(10)
        for i, (key, caption, tip) in enumerate(FIGURES):
            self._cards[key] = _Card(caption, tip)
            cards.addWidget(self._cards[key], 0, i)
        lay.addLayout(cards)
        lay.addWidget(self._build_table_box())
        row = QHBoxLayout()  # tokenizer | in plain words | where to look next
        row.setSpacing(12)
        for box in (self._build_tokenizer_box(), self._build_plain_box(), self._build_guide_box()):
            row.addWidget(box, 1)
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

    def _build_table_box(self) -> QGroupBox:
        box = QGroupBox("Codebook health, per level")
        lay = QVBoxLayout(box)
        self.table = QTableView()
        self.table.setModel(self.level_model)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        hh.setMinimumSectionSize(90)
        hh.setDefaultAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        hh.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)  # "Level": narrow
        lay.addWidget(self.table)
        lay.addWidget(rich_label(_TABLE_HELP))
        return box

    def _build_tokenizer_box(self) -> QGroupBox:
        box = QGroupBox("Tokenizer")
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for key, caption in TOKENIZER_ROWS:
            self._tok_rows[key] = _selectable()
            form.addRow(caption + ":", self._tok_rows[key])
        return box

    def _build_plain_box(self) -> QGroupBox:
        box = QGroupBox("In plain words")
        lay = QVBoxLayout(box)
        self._plain = rich_label("")
        lay.addWidget(self._plain)
        lay.addStretch(1)
        return box

    @staticmethod
    def _build_guide_box() -> QGroupBox:
        box = QGroupBox("Where to look next")
        lay = QVBoxLayout(box)
        items = "".join(f"<li><b>{name}</b>: {what}</li>" for name, what in PANEL_GUIDE)
        lay.addWidget(rich_label("The questions the other tabs answer:"
                                 f"<ul style='margin-left: -20px; margin-top: 4px'>{items}</ul>"))
        lay.addStretch(1)
        return box

    # ---- private: updates from the view-model ----
    def _on_project_changed(self, snapshot: ProjectSnapshot | None) -> None:
        if snapshot is None:
            self.level_model.set_levels([])
            for card in self._cards.values():
                card.value.setText("–")
            return
        shown = overview_of(snapshot)
        self._title.setText(shown.title)
        self._subtitle.setText(shown.subtitle)
        for key, card in self._cards.items():
            card.value.setText(shown.figures[key])
            card.detail.setText(shown.details[key])
        for key, label in self._tok_rows.items():
            label.setText(shown.tokenizer[key])
        self._plain.setText(shown.plain)
        self.level_model.set_levels(shown.levels)
        self._fit_table_height()

    def _fit_table_height(self) -> None:
        """Size the table to its rows so the panel has no empty scroll area inside it."""
        t = self.table
        t.resizeRowsToContents()
        rows = sum(t.rowHeight(r) for r in range(self.level_model.rowCount()))
        h = t.horizontalHeader().sizeHint().height() + rows + 2 * t.frameWidth()
        if t.horizontalScrollBar().isVisible():
            h += t.horizontalScrollBar().sizeHint().height()
        t.setFixedHeight(h + 2)
