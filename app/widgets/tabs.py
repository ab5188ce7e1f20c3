""":class:`PanelTabs`: the window's tabs, each page in a scroll area.

A page that needs more room than the window has (a long title in a label, presenter mode's larger
type, a 1280 x 800 screen) would otherwise either make the window grow past the screen or, under a
window manager that keeps it on screen, cut its right side off. In a scroll area the page keeps its
natural layout and a scroll bar appears instead. Callers keep talking about the panels themselves:
``addTab``, ``indexOf``, ``setCurrentWidget``, ``currentWidget`` and ``widget`` translate between a
panel and the scroll area that holds it.
"""
from __future__ import annotations

from PySide6.QtWidgets import QFrame, QScrollArea, QTabWidget, QWidget

__all__ = ["PanelTabs"]


class PanelTabs(QTabWidget):
    """A tab widget whose pages scroll when the window is smaller than a page needs."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._scroll_of: dict[QWidget, QScrollArea] = {}
        self._panel_of: dict[QScrollArea, QWidget] = {}

    def addTab(self, panel: QWidget, title: str) -> int:  # noqa: N802 - Qt API
        area = QScrollArea()
        area.setObjectName(f"scroll_{panel.objectName() or type(panel).__name__}")
        area.setWidgetResizable(True)  # the page fills the tab; scroll bars only below its minimum size
        area.setFrameShape(QFrame.Shape.NoFrame)
        area.setWidget(panel)
        self._scroll_of[panel], self._panel_of[area] = area, panel
        return super().addTab(area, title)

    def panel_area(self, panel: QWidget) -> QScrollArea | None:
        """The scroll area holding ``panel`` (None: not one of the tabs)."""
        return self._scroll_of.get(panel)

    def indexOf(self, widget: QWidget) -> int:  # noqa: N802 - Qt API
        return super().indexOf(self._scroll_of.get(widget, widget))

    def setCurrentWidget(self, widget: QWidget) -> None:  # noqa: N802 - Qt API
        super().setCurrentWidget(self._scroll_of.get(widget, widget))

    def currentWidget(self) -> QWidget | None:  # noqa: N802 - Qt API
        area = super().currentWidget()
        return self._panel_of.get(area, area)

    def widget(self, index: int) -> QWidget | None:
        area = super().widget(index)
        return self._panel_of.get(area, area)
