"""Work a panel on a hidden tab would do for the linked selection, done when the tab is shown.

Every panel follows the app-wide selection. At 10^6 items the map's neighbour search and
overlay (~35 ms) and the weights panel's comparison list (~35 ms) made each click in the SID tree
take ~200 ms, for panels nobody was looking at. :class:`WhileHidden` runs a handler at once when
its panel is on screen, or when the window itself is not shown (tests, scripts, ``--screenshot``
before a tab is chosen), and otherwise keeps only the latest call and runs it when the panel is
next shown.
"""
from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QWidget

__all__ = ["WhileHidden", "FillOnFocus"]


class WhileHidden(QObject):
    """``WhileHidden(panel, handler)``: call it like ``handler``; see the module docstring."""

    def __init__(self, panel: QWidget, handler: Callable[..., Any]):
        super().__init__(panel)
        self.panel, self.handler = panel, handler
        self._pending: tuple | None = None
        panel.installEventFilter(self)

    def __call__(self, *args: Any) -> None:
        window = self.panel.window()
        if self.panel.isVisible() or not window.isVisible():
            self._pending = None
            self.handler(*args)
        else:
            self._pending = args

    @property
    def pending(self) -> bool:
        """Whether a call waits for the panel to be shown."""
        return self._pending is not None

    def flush(self) -> None:
        """Run the waiting call now (if any)."""
        if self._pending is not None:
            args, self._pending = self._pending, None
            self.handler(*args)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if watched is self.panel and event.type() == QEvent.Type.Show and self._pending is not None:
            QTimer.singleShot(0, self.flush)  # after the show: the page is laid out first
        return False


class FillOnFocus(QObject):
    """A completer's word list, handed to its ``QStringListModel`` when the search box first gets
    focus (or at once when it has it) instead of when a project opens: a million item titles take
    ~0.3 s of GUI thread per panel to copy into Qt, for boxes most sessions never type into.
    :meth:`set_strings` replaces the list (a new project); the model is emptied until then. The
    list may be given as a callable returning it, called on that first focus (a project's item
    look-ups are built by a background job after it opens)."""

    def __init__(self, box: QWidget, model):
        super().__init__(box)
        self.box, self.model = box, model
        self._strings = None
        box.installEventFilter(self)

    def set_strings(self, strings) -> None:
        self._strings = strings
        self.model.setStringList([])
        if self.box.hasFocus():
            self.fill()

    @property
    def filled(self) -> bool:
        return self._strings is None

    def fill(self) -> None:
        if self._strings is not None:
            strings, self._strings = self._strings, None
            self.model.setStringList(list(strings() if callable(strings) else strings))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if watched is self.box and event.type() == QEvent.Type.FocusIn:
            self.fill()
        return False
