"""Generic exports for every panel: tables and trees to CSV or the clipboard, plots and scenes to
PNG, SVG or the clipboard.

:func:`install_exports` gives a panel (any widget) these context menus without the panel knowing:

- every ``QTableView`` / ``QTreeView`` (any ``QAbstractItemView`` but a header): *Export CSV…*,
  *Copy table as TSV*, *Copy selected rows as TSV* (TSV pastes into spreadsheets as cells);
- every pyqtgraph ``PlotWidget`` / ``GraphicsLayoutWidget`` and every other ``QGraphicsView``:
  *Export PNG…*, *Export SVG…*, *Copy image*.

How it finds them: item views and plain graphics views ignore a right click they have no menu
for, and Qt then passes the context-menu event up to their parents; one event filter on the root
catches it there and looks at what is under the cursor. So views added to the panel later are
covered with no extra step, and a view with a menu of its own keeps it (a panel can append
:func:`export_actions` to that menu). pyqtgraph opens its own menus on the mouse release, so each
pyqtgraph view gets its actions in the scene's menu section instead (shown under every plot menu),
and a menu of its own where the plot has none (menus switched off); pyqtgraph views added later
are hooked when the root is shown or gets a child, and at the latest on their first right click.
Installing twice is harmless.

The functions behind the menus (:func:`table_data`, :func:`write_csv`, :func:`copy_table`,
:func:`export_image`, :func:`copy_image`) take the view itself and can be called directly
(tests, scripts). Files are written atomically (a temporary file in the same folder, then
``os.replace``) and CSV is UTF-8; failures raise :class:`ExportError` naming the file, which the
menus show in a message box.
"""
from __future__ import annotations

import csv
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pyqtgraph as pg
from PySide6.QtCore import (
    QAbstractListModel,
    QAbstractTableModel,
    QBuffer,
    QByteArray,
    QEvent,
    QIODevice,
    QMimeData,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QSettings,
    QSize,
    Qt,
    QTimer,
)
from PySide6.QtGui import QAction, QContextMenuEvent, QGuiApplication, QImage, QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QGraphicsView,
    QHeaderView,
    QMainWindow,
    QMenu,
    QMessageBox,
    QTableView,
    QTreeView,
    QWidget,
)

try:  # PySide6-Essentials ships QtSvg; a trimmed build might not: SVG export is then switched off
    from PySide6.QtSvg import QSvgGenerator
except ImportError:  # pragma: no cover - depends on the Qt build
    QSvgGenerator = None

__all__ = [
    "SVG_SUPPORTED",
    "ExportError",
    "TableData",
    "ExportInstaller",
    "install_exports",
    "export_actions",
    "table_data",
    "delimited_text",
    "write_csv",
    "copy_table",
    "render_image",
    "export_image",
    "copy_image",
    "ask_export_image",
]

#: Whether SVG export is available (PySide6.QtSvg importable).
SVG_SUPPORTED = QSvgGenerator is not None
#: A lazy model is asked for more rows until it has this many (then what is loaded is written).
MAX_ROWS = 5_000_000
_STATUS_MS = 8000
_LAST_DIR_KEY = "exports/last_dir"
_INSTALLED = "_gx_exports"  # dynamic property marking a root or pyqtgraph view as handled
_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read once, at import (on the GUI thread), and put back


class ExportError(OSError):
    """An export could not be written; ``str()`` names the file and says why."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"Could not write {self.path}: {reason}")

    def __str__(self) -> str:
        return f"Could not write {self.path}: {self.reason}"


@dataclass(frozen=True)
class TableData:
    """What a table or tree view displays, as text.

    ``header``: one DisplayRole string per shown column (visual order, hidden columns left out);
    ``rows``: one list of cell strings per shown row (a tree: depth first, expanded branches only);
    ``complete``: False when a lazy model still had rows it had not loaded (``note`` says so).
    """

    header: list[str]
    rows: list[list[str]]
    complete: bool
    note: str = ""


# ------------------------------------------------------------------------------- tables: data


def table_data(source: QAbstractItemView | object, *, selected_only: bool = False,
               max_rows: int = MAX_ROWS) -> TableData:
    """The header and DisplayRole text of every row ``source`` shows.

    ``source`` is a view (its column order, hidden columns and rows, sort order through its
    model; a tree view: the rows of expanded branches) or a bare item model (every column; a tree
    model: every row it has loaded). A lazy flat model is asked to ``fetchMore`` until it has all
    its rows (at most ``max_rows``). ``selected_only``: rows with a selected cell (views only).
    """
    view = source if isinstance(source, QAbstractItemView) else None
    model = view.model() if view is not None else source
    if model is None:
        return TableData([], [], True, "no table")
    columns = _shown_columns(view, model)
    header = [_text(model.headerData(c, Qt.Orientation.Horizontal, Qt.ItemDataRole.DisplayRole)) for c in columns]

    root = view.rootIndex() if view is not None else QModelIndex()
    tree = isinstance(view, QTreeView) or (view is None and _has_hierarchy(model, root))
    complete, note = True, ""
    if not tree:
        complete = _fetch_all(model, root, max_rows)
        if not complete:
            note = f"only the {model.rowCount(root):,} rows loaded so far were included"
    selected = _selected_rows(view) if selected_only and view is not None else None

    rows: list[list[str]] = []
    collapsed = unloaded = False
    for index, state in _walk(view, model, root, tree):
        if state == "collapsed":
            collapsed = True
            continue
        if state == "unloaded":
            unloaded = True
            continue
        if selected is not None and (index.row(), QPersistentModelIndex(index.parent())) not in selected:
            continue
        rows.append([_text(model.data(index.siblingAtColumn(c), Qt.ItemDataRole.DisplayRole)) for c in columns])
    if tree and view is not None and collapsed:
        note = "rows inside collapsed branches were not included (expand them to include them)"
    if tree and view is None and unloaded:
        complete, note = False, "only the tree nodes loaded so far were included"
    return TableData(header, rows, complete, note)


def delimited_text(data: TableData, delimiter: str = ",", *, line_end: str = "\r\n") -> str:
    """``data`` as CSV (``delimiter=","``, RFC 4180 quoting) or TSV (``"\\t"``), header first."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator=line_end, quoting=csv.QUOTE_MINIMAL)
    writer.writerow(data.header)
    writer.writerows(data.rows)
    return out.getvalue()


def write_csv(source: QAbstractItemView | object, path: str | os.PathLike) -> TableData:
    """Write what ``source`` shows (see :func:`table_data`) to ``path`` as UTF-8 CSV, atomically.

    Returns the data written (``complete`` False: a lazy model's unloaded rows are missing).
    Raises :class:`ExportError` when the file cannot be written."""
    data = table_data(source)
    _write_atomic(path, delimited_text(data).encode("utf-8"))
    return data


def copy_table(source: QAbstractItemView | object, *, selected_only: bool = False) -> TableData:
    """Put what ``source`` shows on the clipboard: TSV as plain text (spreadsheets paste it into
    cells) and CSV as ``text/csv``. Returns the data copied."""
    data = table_data(source, selected_only=selected_only)
    mime = QMimeData()
    mime.setText(delimited_text(data, "\t", line_end="\n"))
    mime.setData("text/csv", QByteArray(delimited_text(data).encode("utf-8")))
    QGuiApplication.clipboard().setMimeData(mime)
    return data


# ------------------------------------------------------------------------------- images


def render_image(widget: QWidget) -> QImage:
    """``widget`` as a bitmap at the screen's pixel ratio: a pyqtgraph view through pyqtgraph's
    ImageExporter (the whole scene as shown), another graphics view its viewport, any other
    widget itself with its children."""
    if isinstance(widget, pg.GraphicsView):
        from pyqtgraph.exporters import ImageExporter

        exporter = ImageExporter(widget.scene())
        width = max(1, round(widget.viewport().width() * widget.devicePixelRatioF()))
        exporter.parameters()["width"] = width  # the height follows the aspect ratio
        image = exporter.export(toBytes=True)
        if image is None or image.isNull():
            raise RuntimeError("the plot could not be drawn")
        return image
    target = widget.viewport() if isinstance(widget, QGraphicsView) else widget
    return target.grab().toImage()


def export_image(widget: QWidget, path: str | os.PathLike, fmt: str | None = None) -> Path:
    """Write ``widget`` to ``path`` as PNG or SVG (``fmt``, default: the file's suffix), atomically.

    SVG: the view (a graphics view: its visible part) painted into Qt's QSvgGenerator, so lines
    and text stay vectors. Raises :class:`ExportError` (unwritable path,
    no QtSvg for SVG, unknown format)."""
    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".") or "png").lower()
    if fmt == "png":
        try:
            image = render_image(widget)
        except Exception as exc:  # noqa: BLE001 - shown to the user with the file name
            raise ExportError(path, str(exc)) from exc
        _write_atomic(path, _png_bytes(image, path))
    elif fmt == "svg":
        if not SVG_SUPPORTED:
            raise ExportError(path, "SVG export needs PySide6's QtSvg module, which this installation lacks")
        _write_atomic(path, _svg_bytes(widget, path))
    else:
        raise ExportError(path, f"unknown image format {fmt!r} (use .png or .svg)")
    return path


def copy_image(widget: QWidget) -> QImage:
    """Put ``widget`` (see :func:`render_image`) on the clipboard as an image; returns it."""
    image = render_image(widget)
    QGuiApplication.clipboard().setImage(image)
    return image


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
    """Gives the views under ``root`` export context menus (see the module docstring). One per
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


# ------------------------------------------------------------------------------- internals


def _text(value) -> str:
    return "" if value is None else str(value)


def _shown_columns(view: QAbstractItemView | None, model) -> list[int]:
    n = model.columnCount(view.rootIndex() if view is not None else QModelIndex())
    header = None
    if isinstance(view, QTableView):
        header = view.horizontalHeader()
    elif isinstance(view, QTreeView):
        header = view.header()
    if header is None or header.count() != n:
        return list(range(n))
    return [header.logicalIndex(v) for v in range(n) if not header.isSectionHidden(header.logicalIndex(v))]


def _has_hierarchy(model, root: QModelIndex) -> bool:
    return any(_has_children(model, model.index(r, 0, root)) for r in range(min(model.rowCount(root), 64)))


def _has_children(model, index: QModelIndex) -> bool:
    """``model.hasChildren(index)``; table and list models (where PySide makes it private) have none."""
    if isinstance(model, (QAbstractTableModel, QAbstractListModel)):
        return False
    return model.hasChildren(index)


def _fetch_all(model, parent: QModelIndex, max_rows: int) -> bool:
    """Ask a lazy model for rows until it has all (True) or ``max_rows`` / it stops growing (False)."""
    while model.canFetchMore(parent):
        before = model.rowCount(parent)
        if before >= max_rows:
            return False
        model.fetchMore(parent)
        if model.rowCount(parent) <= before:  # a model that promises rows but never delivers
            return not model.canFetchMore(parent)
    return True


def _selected_rows(view: QAbstractItemView) -> set[tuple[int, QPersistentModelIndex]]:
    sel = view.selectionModel()
    if sel is None:
        return set()
    return {(i.row(), QPersistentModelIndex(i.parent())) for i in sel.selectedIndexes()}


def _walk(view: QAbstractItemView | None, model, parent: QModelIndex, tree: bool) -> Iterator[tuple[QModelIndex, str]]:
    """Rows under ``parent`` in display order: ``(index, "row")``; for a tree also markers for
    branches left out (``"collapsed"`` in a view, ``"unloaded"`` for a bare model)."""
    stack = [(parent, 0)]
    while stack:
        par, row = stack.pop()
        if row >= model.rowCount(par):
            continue
        stack.append((par, row + 1))
        index = model.index(row, 0, par)
        if view is not None and _row_hidden(view, row, par):
            continue
        yield index, "row"
        if not tree:
            continue
        if view is not None:
            if _has_children(model, index):
                if view.isExpanded(index):
                    stack.append((index, 0))
                else:
                    yield index, "collapsed"
        else:
            if model.canFetchMore(index):
                yield index, "unloaded"
            if model.rowCount(index):
                stack.append((index, 0))


def _row_hidden(view: QAbstractItemView, row: int, parent: QModelIndex) -> bool:
    if isinstance(view, QTreeView):
        return view.isRowHidden(row, parent)
    if isinstance(view, QTableView):
        return view.isRowHidden(row)
    return False


def _png_bytes(image: QImage, path: Path) -> bytes:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    ok = image.save(buffer, "PNG")
    buffer.close()
    if not ok:
        raise ExportError(path, "the image could not be encoded as PNG")
    return bytes(data.data())


def _svg_bytes(widget: QWidget, path: Path) -> bytes:
    # pyqtgraph's SVGExporter is not used: it rewrites Qt's SVG output and, with Qt 6.11's new path
    # syntax, fails or misplaces items; painting the view into Qt's generator gives a faithful copy
    try:
        return _qt_svg(widget, path)
    except Exception as exc:  # noqa: BLE001 - shown to the user with the file name
        raise ExportError(path, f"the SVG could not be drawn ({exc})") from exc


def _qt_svg(widget: QWidget, path: Path) -> bytes:
    """Paint ``widget`` (a graphics view: its visible part) into a QSvgGenerator; vectors and text
    stay vectors and text."""
    target = widget.viewport() if isinstance(widget, QGraphicsView) else widget
    size = target.size()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    generator = QSvgGenerator()
    generator.setOutputDevice(buffer)
    generator.setSize(size)
    generator.setViewBox(QRect(QPoint(0, 0), size))
    generator.setResolution(target.logicalDpiX())  # default 72 dpi: pyqtgraph then misplaces curves
    generator.setTitle(path.stem)
    generator.setDescription("Exported from GenRec Explorer")
    painter = QPainter(generator)
    try:
        if isinstance(widget, QGraphicsView):
            widget.render(painter, source=QRect(QPoint(0, 0), QSize(size)))
        else:
            widget.render(painter)
    finally:
        painter.end()
    buffer.close()
    if data.isEmpty():
        raise RuntimeError("nothing was drawn")
    return bytes(data.data())


def _write_atomic(path: str | os.PathLike, payload: bytes) -> None:
    """Write ``payload`` to a temporary file next to ``path``, then rename it over ``path``; a
    failed write leaves any previous file untouched and no temporary behind."""
    path = Path(path)
    tmp_name = None
    try:
        with tempfile.NamedTemporaryFile("wb", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp",
                                         delete=False) as fh:
            tmp_name = fh.name
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp_name, 0o666 & ~_UMASK)  # temporary files are private (0600); exports are not
        os.replace(tmp_name, path)
        tmp_name = None
    except OSError as exc:
        raise ExportError(path, exc.strerror or str(exc)) from exc
    finally:
        if tmp_name is not None:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass
