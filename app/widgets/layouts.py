"""One helper the stepper and training panels share: a plain widget laying out ``(widget, stretch)`` pairs."""
from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QVBoxLayout, QWidget

__all__ = ["lay_out"]


def lay_out(*items: tuple[QWidget, int], vertical: bool = False, margin: int = 0) -> QWidget:
    """A widget holding ``items`` (``(widget, stretch)`` pairs) in a row, or a column when
    ``vertical``, with ``margin`` pixels around them."""
    out = QWidget()
    lay = QVBoxLayout(out) if vertical else QHBoxLayout(out)
    lay.setContentsMargins(margin, margin, margin, margin)
    for w, stretch in items:
        lay.addWidget(w, stretch)
    return out
