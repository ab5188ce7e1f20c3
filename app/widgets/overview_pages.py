"""Page layouts for panels: the three pages of a panel that shows the open project (none open,
loading, its content), and the column, intro and splitter most pages are built from.

:class:`ProjectPages` follows :class:`~app.panels.ProjectViewModel`'s status by itself (the
overview and the SID tree use it; any panel with the same three states can)."""
from __future__ import annotations

from typing import Sequence

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import QLabel, QProgressBar, QSplitter, QStackedWidget, QVBoxLayout, QWidget

from .labels import ERROR_COLOUR, centred_column, heading

__all__ = ["ProjectPages", "rich_label", "page_column", "splitter"]


class ProjectPages(QStackedWidget):
    """A stack of an empty page, a loading page and ``content``, switched by the view-model's status.

    Empty: a "No project open" heading over ``empty_text`` (rich text), and with ``show_error`` the
    last failed load's message. Loading (nothing open yet): "Loading <folder>…" over a busy bar,
    and with ``show_path`` the folder's full path. Open: ``content``.
    """

    def __init__(self, view_model, content: QWidget, empty_text: str, *, show_error: bool = False,
                 show_path: bool = False, parent: QWidget | None = None):
        super().__init__(parent)
        self._vm = view_model
        self._error = QLabel("")
        self._error.setObjectName("projectLoadError")
        self._error.setStyleSheet(f"color: {ERROR_COLOUR};")
        self._error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._error.setVisible(False)
        empty = [heading("No project open", 1.6), *([self._error] if show_error else []), QLabel(empty_text)]
        self._loading = heading("Loading…", 1.4)
        busy = QProgressBar()
        busy.setRange(0, 0)  # indeterminate: the status bar shows the real fraction
        busy.setTextVisible(False)
        self._path = QLabel("") if show_path else None
        loading = [self._loading, busy] + ([self._path] if self._path is not None else [])
        self._pages = {"empty": centred_column(*empty), "loading": centred_column(*loading), "project": content}
        for page in self._pages.values():
            self.addWidget(page)
        view_model.sig_status_changed.connect(self.update_page)
        self.update_page()

    def page(self) -> str:
        """Which page is showing: ``"empty"``, ``"loading"`` or ``"project"``."""
        return next(name for name, page in self._pages.items() if page is self.currentWidget())

    @Slot()
    def update_page(self) -> None:
        """Show the page for the view-model's current status."""
        vm = self._vm
        if vm.loading is not None and vm.snapshot is None:
            self._loading.setText(f"Loading {vm.loading.name}…")
            if self._path is not None:
                self._path.setText(str(vm.loading))
            self.setCurrentWidget(self._pages["loading"])
        elif vm.snapshot is not None:
            self.setCurrentWidget(self._pages["project"])
        else:
            self._error.setText(f"Could not open the project: {vm.error}" if vm.error else "")
            self._error.setVisible(bool(vm.error))
            self.setCurrentWidget(self._pages["empty"])


def rich_label(text: str) -> QLabel:
    """A wrapped rich-text label: a panel's intro or help paragraph."""
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText)
    return label


def page_column(*widgets: QWidget, margins: tuple[int, int, int, int] = (12, 10, 12, 10),
                spacing: int = 8) -> tuple[QWidget, QVBoxLayout]:
    """A page whose column starts with ``widgets``; returns it and its layout to add more."""
    page = QWidget()
    lay = QVBoxLayout(page)
    lay.setContentsMargins(*margins)
    lay.setSpacing(spacing)
    for w in widgets:
        lay.addWidget(w)
    return page, lay


def splitter(*widgets: QWidget, stretch: Sequence[int], sizes: Sequence[int],
             orientation: Qt.Orientation = Qt.Orientation.Horizontal) -> QSplitter:
    """``widgets`` side by side (or stacked) in a splitter with these stretch factors and start sizes."""
    split = QSplitter(orientation)
    for i, (w, s) in enumerate(zip(widgets, stretch)):
        split.addWidget(w)
        split.setStretchFactor(i, s)
    split.setSizes(list(sizes))
    return split
