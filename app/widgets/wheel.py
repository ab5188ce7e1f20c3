"""Scrolling a page never changes a value by accident.

Qt lets the mouse wheel change any spin box, combo box or slider under the pointer, so scrolling
a long settings column (the training panel's) silently edited whatever passed under the mouse.
:class:`WheelGuard`, installed once on the application, passes the wheel of such a widget that
does not have keyboard focus on to its parent (the page scrolls); click or tab into the widget
first and the wheel changes it as before.
"""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QAbstractSpinBox, QComboBox, QSlider

__all__ = ["WheelGuard"]

_GUARDED = (QAbstractSpinBox, QComboBox, QSlider)  # not QScrollBar: it never has focus and must scroll


class WheelGuard(QObject):
    """An application-wide event filter; see the module docstring."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if event.type() == QEvent.Type.Wheel and isinstance(watched, _GUARDED) and not watched.hasFocus():
            event.ignore()  # not for this widget: Qt hands it to the parent, which scrolls
            return True
        return False
