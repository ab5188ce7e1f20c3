"""Labels and page layouts shared by the panels: headings, centred columns, one-line errors, generator names."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from .text import ERROR_COLOUR, GENERATOR_LABELS, GENERATOR_NAMES

__all__ = ["ERROR_COLOUR", "GENERATOR_LABELS", "GENERATOR_NAMES", "heading", "centred_column", "error_label"]



def heading(text: str, scale: float = 1.0) -> QLabel:
    """A bold label, its font scaled by ``scale``."""
    label = QLabel(text)
    font = QFont(label.font())
    font.setBold(True)
    font.setPointSizeF(font.pointSizeF() * scale)
    label.setFont(font)
    return label


def centred_column(*widgets: QWidget, width: int = 640) -> QWidget:
    """A page with ``widgets`` stacked in a column of fixed ``width``, centred, text wrapped."""
    column = QWidget()
    column.setFixedWidth(width)
    col = QVBoxLayout(column)
    col.setSpacing(10)
    for w in widgets:
        if isinstance(w, QLabel):
            w.setWordWrap(True)
            w.setAlignment(Qt.AlignmentFlag.AlignCenter)
        col.addWidget(w)
    row = QHBoxLayout()  # stretches either side, not an alignment flag, so wrapped text gets its height
    row.addStretch(1)
    row.addWidget(column)
    row.addStretch(1)
    page = QWidget()
    lay = QVBoxLayout(page)
    lay.addStretch(1)
    lay.addLayout(row)
    lay.addStretch(2)
    return page


def error_label() -> QLabel:
    """A hidden, wrapped, selectable plain-text label in the error colour, for a panel's one-line errors."""
    label = QLabel("")
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setStyleSheet(f"color: {ERROR_COLOUR};")
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setVisible(False)
    return label
