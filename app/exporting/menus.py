"""The export context menus and the dialogs behind them (see :mod:`app.exporting`):
:func:`install_exports` / :class:`ExportInstaller` find the views under a root, :func:`export_actions`
makes the actions, and :func:`ask_save_path`, :func:`ask_export_image` and
:func:`show_export_error` talk to the user (file dialog, status bar, message box)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QPoint, QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QContextMenuEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QGraphicsView,
    QHeaderView,
    QMainWindow,
    QMenu,
    QMessageBox,
    QWidget,
)

from .files import ExportError
from .images import SVG_SUPPORTED, copy_image, export_image
from .tables import copy_table, write_csv

__all__ = ["ExportInstaller", "install_exports", "export_actions", "ask_export_image", "ask_save_path",
           "show_export_error"]

_STATUS_MS = 8000
_LAST_DIR_KEY = "exports/last_dir"
_INSTALLED = "_gx_exports"  # dynamic property marking a root or pyqtgraph view as handled


def ask_export_image(widget: QWidget, fmt: str = "png", *, parent: QWidget | None = None,
                     name: str | None = None) -> Path | None:
    """Ask where to save ``widget`` as ``fmt`` and write it; errors show in a message box naming
    the file. Returns the path written (None: cancelled or failed)."""
    parent = parent or widget
    title = "Export SVG" if fmt == "svg" else "Export PNG"
    pattern = "SVG images (*.svg)" if fmt == "svg" else "PNG images (*.png)"
    path = ask_save_path(parent, title, _suggest_path(widget, fmt, name), pattern)
    if path is None:
        return None
    try:
        export_image(widget, path, fmt)
    except ExportError as exc:
        show_export_error(parent, exc)
        return None
    _status(parent, f"Saved {path}")
    return path


# ------------------------------------------------------------------------------- menus


def export_actions(widget: QWidget, parent: QObject | None = None) -> list[QAction]:
    """The export actions for ``widget`` (an item view or a graphics view), owned by ``parent``
    (default: ``widget``), for a panel that builds a context menu of its own."""
    parent = parent or widget
    actions: list[QAction] = []

    def add(text: str, tip: str, slot: Callable[[], object], enabled: bool = True) -> None:
        action = QAction(text, parent)
        action.setToolTip(tip)
        action.setStatusTip(tip)
        action.setEnabled(enabled)
        action.triggered.connect(lambda _=False: slot())
        actions.append(action)

    if isinstance(widget, QAbstractItemView):
        has_selection = widget.selectionModel() is not None and widget.selectionModel().hasSelection()
        add("Export CSV…", "Write the rows shown here to a CSV file (UTF-8)", lambda: _ask_export_csv(widget))
        add("Copy table as TSV", "Copy every row shown here; pastes into a spreadsheet as cells",
            lambda: _copy_table_feedback(widget, False))
        add("Copy selected rows as TSV", "Copy the selected rows; pastes into a spreadsheet as cells",
            lambda: _copy_table_feedback(widget, True), enabled=has_selection)
    elif isinstance(widget, QGraphicsView):
        add("Export PNG…", "Save this picture as a PNG image", lambda: ask_export_image(widget, "png"))
        svg_tip = ("Save this picture as an SVG vector image" if SVG_SUPPORTED
                   else "SVG export needs PySide6's QtSvg module, which this installation lacks")
        add("Export SVG…", svg_tip, lambda: ask_export_image(widget, "svg"), enabled=SVG_SUPPORTED)
        add("Copy image", "Copy this picture to the clipboard", lambda: _copy_image_feedback(widget))
    return actions


class ExportInstaller(QObject):
    """Gives the views under ``root`` export context menus (see :mod:`app.exporting`). One per
    root, a child of it; made by :func:`install_exports`."""

    def __init__(self, root: QWidget):
        super().__init__(root)
        self.setObjectName("gx_export_installer")
        self.root = root
        self.last_menu: QMenu | None = None  # the last menu shown (tests close it)
        self._scan_pending = False
        root.installEventFilter(self)
        root.setProperty(_INSTALLED, True)
        self.rescan()

    # ---- public ----
    def rescan(self) -> int:
        """Hook every pyqtgraph view under the root not hooked yet; returns how many were new."""
        self._scan_pending = False
        views = self.root.findChildren(pg.GraphicsView)
        if isinstance(self.root, pg.GraphicsView):
            views.append(self.root)
        return sum(self._hook_pyqtgraph(v) for v in views)

    def menu_for(self, widget: QWidget) -> QMenu:
        """A context menu with the export actions for ``widget``."""
        menu = QMenu(widget)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.addActions(export_actions(widget, menu))
        return menu

    def show_menu(self, widget: QWidget, global_pos: QPoint) -> QMenu:
        """Pop up the export menu for ``widget`` at ``global_pos`` (non-blocking)."""
        menu = self.menu_for(widget)
        self.last_menu = menu
        menu.popup(global_pos)
        return menu

    # ---- Qt events ----
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        kind = event.type()
        if kind == QEvent.Type.ContextMenu and watched is self.root:
            return self._on_context_menu(event)
        if kind in (QEvent.Type.ChildAdded, QEvent.Type.Show) and not self._scan_pending:
            self._scan_pending = True  # once per turn of the event loop, after the child is built
            QTimer.singleShot(0, self._deferred_rescan)
        return False

    # ---- private ----
    def _deferred_rescan(self) -> None:
        try:
            self.rescan()
        except RuntimeError:  # the root went away meanwhile
            pass

    def _on_context_menu(self, event: QContextMenuEvent) -> bool:
        """A context-menu event nobody under the root handled: offer exports for the view under
        the cursor, if any."""
        target = self._view_at(event.globalPos())
        if target is None:
            return False
        if isinstance(target, pg.GraphicsView):
            self._hook_pyqtgraph(target)  # pyqtgraph raises its menus itself, on the release
            return False
        self.show_menu(target, event.globalPos())
        event.accept()
        return True

    def _view_at(self, global_pos: QPoint) -> QWidget | None:
        w = self.root.childAt(self.root.mapFromGlobal(global_pos))
        while w is not None and w is not self.root.parentWidget():
            if isinstance(w, pg.GraphicsView):
                return w
            if isinstance(w, (QAbstractItemView, QGraphicsView)) and not isinstance(w, QHeaderView):
                return w
            if w is self.root:
                break
            w = w.parentWidget()
        return None

    def _hook_pyqtgraph(self, view: pg.GraphicsView) -> bool:
        if view.property(_INSTALLED):
            return False
        view.setProperty(_INSTALLED, True)
        scene = view.scene()
        own = list(getattr(scene, "contextMenu", []))
        for action in own:  # pyqtgraph's own export dialog stays, under a name that tells them apart
            if action.text().replace("&", "") == "Export...":
                action.setText("More export formats…")
        scene.contextMenu = export_actions(view, scene) + own  # shown under every plot's own menu
        scene.sigMouseClicked.connect(lambda ev, v=view: self._on_scene_clicked(v, ev))
        return True

    def _on_scene_clicked(self, view: pg.GraphicsView, ev) -> None:
        """A right click no plot item took (it would have shown its menu): show ours."""
        if ev.button() == Qt.MouseButton.RightButton and not ev.isAccepted():
            self.show_menu(view, ev.screenPos().toPoint())


def install_exports(root: QWidget) -> ExportInstaller:
    """Give every table/tree view and plot under ``root`` (now or added later) export menus.
    Idempotent: a second call rescans and returns the same installer."""
    existing = root.findChild(ExportInstaller, "gx_export_installer", Qt.FindChildOption.FindDirectChildrenOnly)
    if existing is not None:
        existing.rescan()
        return existing
    return ExportInstaller(root)


# ------------------------------------------------------------------------------- dialogs


def ask_save_path(parent: QWidget, title: str, suggested: Path, pattern: str) -> Path | None:
    """Ask for a file to write (None: cancelled); remembers the folder for next time. The suffix
    of ``suggested`` is added when the user typed none."""
    chosen, _ = QFileDialog.getSaveFileName(parent, title, str(suggested), pattern)
    if not chosen:
        return None
    path = Path(chosen)
    if not path.suffix:
        path = path.with_suffix(suggested.suffix)
    QSettings().setValue(_LAST_DIR_KEY, str(path.parent))
    return path


def show_export_error(parent: QWidget, exc: Exception) -> QMessageBox:
    """A non-blocking warning that names the file (no traceback); also in the status bar."""
    box = QMessageBox(QMessageBox.Icon.Warning, "Export failed", str(exc), QMessageBox.StandardButton.Ok,
                      parent.window() if parent is not None else None)
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.setObjectName("gx_export_error")
    _status(parent, str(exc))
    box.open()
    return box


def _ask_export_csv(view: QAbstractItemView) -> Path | None:
    path = ask_save_path(view, "Export CSV", _suggest_path(view, "csv"), "CSV files (*.csv)")
    if path is None:
        return None
    try:
        data = write_csv(view, path)
    except ExportError as exc:
        show_export_error(view, exc)
        return None
    message = f"Wrote {len(data.rows):,} rows to {path}"
    _status(view, message + (f" ({data.note})" if data.note else ""))
    if not data.complete:
        box = QMessageBox(QMessageBox.Icon.Information, "Export CSV", message,
                          QMessageBox.StandardButton.Ok, view.window())
        box.setInformativeText(data.note[:1].upper() + data.note[1:] + ".")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
    return path


def _copy_table_feedback(view: QAbstractItemView, selected_only: bool) -> None:
    data = copy_table(view, selected_only=selected_only)
    _status(view, f"Copied {len(data.rows):,} rows" + (f" ({data.note})" if data.note else ""))


def _copy_image_feedback(widget: QWidget) -> None:
    try:
        copy_image(widget)
    except Exception as exc:  # noqa: BLE001 - a message, never a traceback
        _status(widget, f"Could not copy the image: {exc}")
        return
    _status(widget, "Copied the image")


def _suggest_path(widget: QWidget, suffix: str, name: str | None = None) -> Path:
    """``<last export folder or home>/<name>.<suffix>``; the name comes from the widget's
    ``export_name`` property, its object name or the enclosing panel's, else a generic one."""
    folder = Path(QSettings().value(_LAST_DIR_KEY, "") or Path.home())
    if name is None:
        w = widget
        while w is not None and not name:
            name = w.property("export_name") or w.objectName()
            w = w.parentWidget()
    if not name or name.startswith(("qt_", "gx_")):
        name = "genrec-table" if suffix == "csv" else "genrec-view"
    return folder / f"{name}.{suffix}"


def _status(widget: QWidget | None, message: str) -> None:
    window = widget.window() if widget is not None else None
    if isinstance(window, QMainWindow):
        window.statusBar().showMessage(message, _STATUS_MS)
