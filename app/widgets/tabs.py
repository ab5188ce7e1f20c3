""":class:`PanelTabs`: the window's tabs, each page in a scroll area.

A page that needs more room than the window has (a long title in a label, presenter mode's larger
type, a 1280 x 800 screen) would otherwise either make the window grow past the screen or, under a
window manager that keeps it on screen, cut its right side off. In a scroll area the page keeps its
natural layout and a scroll bar appears instead. Callers keep talking about the panels themselves:
``addTab``, ``indexOf``, ``setCurrentWidget``, ``currentWidget`` and ``widget`` translate between a
panel and the scroll area that holds it.
"""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QSize
from PySide6.QtWidgets import QFrame, QScrollArea, QTabWidget, QWidget

__all__ = ["PanelTabs", "PageArea"]


class PageArea(QScrollArea):
    """A scroll area that gives its page the whole viewport, shrinking it down to the page's
    *minimum* size before scroll bars appear. (``widgetResizable`` would use a wrapped label's
    height-for-width, the page's preferred height, and scroll pages that could simply shrink.)"""

    def __init__(self, page: QWidget):
        super().__init__()
        self.setWidgetResizable(False)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setWidget(page)
        page.installEventFilter(self)  # its minimum size changes (fonts, content): fit again

    def fit(self) -> None:
        page = self.widget()
        if page is None:
            return
        need = page.minimumSizeHint().expandedTo(page.minimumSize())
        view = self.maximumViewportSize()
        # a scroll bar that appears takes room from the other direction
        w = max(view.width() - (self.verticalScrollBar().sizeHint().width() if need.height() > view.height() else 0),
                need.width())
        h = max(view.height() - (self.horizontalScrollBar().sizeHint().height() if need.width() > view.width() else 0),
                need.height())
        if page.size() != QSize(w, h):
            page.resize(w, h)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self.fit()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if watched is self.widget() and event.type() == QEvent.Type.LayoutRequest:
            self.fit()
        return False


class PanelTabs(QTabWidget):
    """A tab widget whose pages scroll when the window is smaller than a page needs."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._scroll_of: dict[QWidget, PageArea] = {}
        self._panel_of: dict[PageArea, QWidget] = {}

    def addTab(self, panel: QWidget, title: str) -> int:  # noqa: N802 - Qt API
        area = PageArea(panel)  # the page fills the tab; scroll bars only below its minimum size
        area.setObjectName(f"scroll_{panel.objectName() or type(panel).__name__}")
        self._scroll_of[panel], self._panel_of[area] = area, panel
        return super().addTab(area, title)

    def panel_area(self, panel: QWidget) -> PageArea | None:
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
