"""Small widget builders of the stepper's view, and a job scope that remembers what it runs for."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QGroupBox,
    QLabel,
    QSizePolicy,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ...bridge import JobScope
from .tree import BeamTreeView

__all__ = ["KeyedScope", "label", "box"]


class KeyedScope(JobScope):
    """A :class:`JobScope` that remembers what its current job is for, so that asking for the
    same thing while it runs does not start it again."""

    def __init__(self, bridge):
        super().__init__(bridge)
        self.key: object = None

    def ask(self, key: object, fn, *args, **kwargs) -> None:
        if self.busy and self.key == key:
            return
        self.key = key
        self.submit(fn, *args, **kwargs)


def label(name: str, rich: bool = False, ignored: bool = True) -> QLabel:
    """An empty label named ``name`` (rich text; ``ignored``: its text never widens the layout)."""
    out = QLabel("")
    out.setObjectName(name)
    if rich:
        out.setTextFormat(Qt.TextFormat.RichText)
    if ignored:
        out.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    return out


def box(title: str, *widgets: QWidget) -> QGroupBox:
    """A group box stacking ``widgets``; tables and the tree take the spare height."""
    out = QGroupBox(title)
    lay = QVBoxLayout(out)
    lay.setContentsMargins(4, 4, 4, 4)
    for w in widgets:
        lay.addWidget(w, 1 if isinstance(w, (QTableView, BeamTreeView)) else 0)
    return out
