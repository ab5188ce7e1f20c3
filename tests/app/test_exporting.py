"""Generic exports (app/exporting/): CSV equals what the model shows, the clipboard holds TSV,
plots become valid PNG/SVG, errors name the file, and views added after installation are covered.

The exporter functions are driven directly (no file dialog), except where the menu path itself is
the subject (there the dialog function is replaced).
"""
from __future__ import annotations

import csv
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPoint, QSortFilterProxyModel, Qt
from PySide6.QtGui import (
    QBrush,
    QContextMenuEvent,
    QGuiApplication,
    QImage,
    QPainter,
    QPen,
    QStandardItem,
    QStandardItemModel,
)
from PySide6.QtWidgets import (
    QApplication,
    QGraphicsScene,
    QGraphicsView,
    QMessageBox,
    QTableView,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from app import exporting
from app.exporting import menus
from app.exporting import (
    SVG_SUPPORTED,
    ExportError,
    copy_table,
    export_image,
    install_exports,
    table_data,
    write_csv,
)
from app.panels import ProjectViewModel
from app.panels.overview import LEVEL_COLUMNS, OverviewPanel

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TRICKY = ["plain", "comma, inside", 'a "quoted" word', "two\nlines", "café · 日本", "=SUM(A1)", ""]


class LazyModel(QAbstractTableModel):
    """``n`` rows, handed out ``chunk`` at a time through canFetchMore/fetchMore."""

    def __init__(self, n: int, chunk: int):
        super().__init__()
        self.n, self.chunk, self.loaded = n, chunk, min(n, chunk)

    def rowCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else self.loaded

    def columnCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else 2

    def canFetchMore(self, parent):
        return not parent.isValid() and self.loaded < self.n

    def fetchMore(self, parent):
        new = min(self.n, self.loaded + self.chunk)
        self.beginInsertRows(QModelIndex(), self.loaded, new - 1)
        self.loaded = new
        self.endInsertRows()

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and index.isValid():
            return f"r{index.row()}" if index.column() == 0 else str(index.row() ** 2)
        return None

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return ("name", "square")[section]
        return None


def _read_csv(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def _model_rows(model) -> list[list[str]]:
    return [[model.data(model.index(r, c)) or "" for c in range(model.columnCount())] for r in range(model.rowCount())]


def _table(rows: list[list[str]], header: list[str]) -> QStandardItemModel:
    model = QStandardItemModel(len(rows), len(header))
    model.setHorizontalHeaderLabels(header)
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            model.setItem(r, c, QStandardItem(text))
    return model


# ------------------------------------------------------------------------------------ tables


def test_csv_of_a_panel_table_equals_its_model_and_the_engine_figures(qtbot, snapshot, tmp_path):
    vm = ProjectViewModel()
    panel = OverviewPanel(vm)
    qtbot.addWidget(panel)
    vm.set_snapshot(snapshot)
    view = panel.table
    path = tmp_path / "levels.csv"

    data = write_csv(view, path)

    rows = _read_csv(path)
    assert rows[0] == [c.header for c in LEVEL_COLUMNS]
    assert rows[1:] == _model_rows(view.model())
    levels = [s for s in snapshot.diagnostics.levels][: len(rows) - 1]
    assert len(rows) - 1 == view.model().rowCount() > 0
    assert [int(r[0]) for r in rows[1:]] == [s.level for s in levels]  # the engine's own numbers
    assert [r[1] for r in rows[1:]] == [f"{100 * s.utilization:.1f} %" for s in levels]
    assert data.complete and len(data.rows) == len(rows) - 1
    assert [p.name for p in tmp_path.iterdir()] == ["levels.csv"]  # no temporary file left behind


def test_csv_round_trips_awkward_text_as_utf8(qtbot, tmp_path):
    rows = [[t, str(i)] for i, t in enumerate(TRICKY)]
    model = _table(rows, ["text", "n"])
    path = tmp_path / "tricky.csv"
    write_csv(model, path)
    assert _read_csv(path) == [["text", "n"], *rows]
    path.read_bytes().decode("utf-8")  # strictly UTF-8


def test_csv_follows_the_view_sorted_order_and_hidden_columns(qtbot, tmp_path):
    model = _table([["b", "2", "x"], ["a", "1", "y"], ["c", "3", "z"]], ["name", "n", "secret"])
    proxy = QSortFilterProxyModel()
    proxy.setSourceModel(model)
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(proxy)
    view.setSortingEnabled(True)
    view.sortByColumn(0, Qt.SortOrder.DescendingOrder)
    view.setColumnHidden(2, True)
    view.horizontalHeader().moveSection(1, 0)  # "n" shown first
    write_csv(view, tmp_path / "v.csv")
    assert _read_csv(tmp_path / "v.csv") == [["n", "name"], ["3", "c"], ["2", "b"], ["1", "a"]]


def test_a_lazy_model_is_fetched_to_the_end_or_says_what_is_missing(qtbot, tmp_path):
    model = LazyModel(1000, 64)
    data = write_csv(model, tmp_path / "lazy.csv")
    rows = _read_csv(tmp_path / "lazy.csv")
    assert data.complete and len(rows) == 1001
    assert rows[-1] == ["r999", str(999 ** 2)]

    capped = table_data(LazyModel(1000, 64), max_rows=100)
    assert not capped.complete and len(capped.rows) < 1000
    assert "loaded" in capped.note


def test_a_tree_view_exports_the_rows_it_shows(qtbot):
    model = QStandardItemModel()
    model.setHorizontalHeaderLabels(["code", "items"])
    for name, kids in (("a", ["a1", "a2"]), ("b", ["b1"])):
        parent = [QStandardItem(name), QStandardItem(str(len(kids)))]
        for k in kids:
            parent[0].appendRow([QStandardItem(k), QStandardItem("1")])
        model.appendRow(parent)
    view = QTreeView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.expand(model.index(0, 0))
    data = table_data(view)
    assert data.header == ["code", "items"]
    assert data.rows == [["a", "2"], ["a1", "1"], ["a2", "1"], ["b", "1"]]  # b is collapsed
    assert "collapsed" in data.note
    assert [r[0] for r in table_data(model).rows] == ["a", "a1", "a2", "b", "b1"]  # a bare model: all rows


def test_copy_puts_tsv_and_csv_on_the_clipboard(qtbot):
    rows = [["x", "1"], ["comma, here", "2"], ["y", "3"]]
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(_table(rows, ["name", "n"]))
    copy_table(view)
    clip = QGuiApplication.clipboard()
    assert [line.split("\t") for line in clip.text().splitlines()] == [["name", "n"], *rows]
    assert list(csv.reader(bytes(clip.mimeData().data("text/csv")).decode().splitlines()))[2] == rows[1]

    view.selectRow(2)
    data = copy_table(view, selected_only=True)
    assert data.rows == [rows[2]]
    assert clip.text().splitlines() == ["name\tn", "y\t3"]


def test_unwritable_path_raises_an_error_that_names_the_file(qtbot, tmp_path):
    model = _table([["a"]], ["h"])
    bad = tmp_path / "missing-folder" / "out.csv"
    with pytest.raises(ExportError) as err:
        write_csv(model, bad)
    assert str(bad) in str(err.value)
    if _is_root():
        return  # root ignores folder permissions: the rest cannot fail
    folder = tmp_path / "read-only"
    folder.mkdir()
    target = folder / "keep.csv"
    target.write_text("old", encoding="utf-8")
    folder.chmod(0o500)
    try:
        with pytest.raises(ExportError):
            write_csv(model, target)
    finally:
        folder.chmod(0o700)
    assert target.read_text(encoding="utf-8") == "old"  # a failed export leaves the old file as it was


def _is_root() -> bool:
    import os

    return hasattr(os, "geteuid") and os.geteuid() == 0


def test_the_menu_shows_a_message_box_naming_the_file_on_failure(qtbot, tmp_path, monkeypatch):
    root = QWidget()
    qtbot.addWidget(root)
    view = QTableView(root)
    view.setModel(_table([["a", "b"]], ["h1", "h2"]))
    installer = install_exports(root)
    bad = tmp_path / "nope" / "t.csv"
    monkeypatch.setattr(menus, "ask_save_path", lambda *a, **k: bad)  # the menus' file dialog
    menu = installer.menu_for(view)
    export = next(a for a in menu.actions() if a.text() == "Export CSV…")
    export.trigger()
    qtbot.waitUntil(lambda: _error_box() is not None)
    assert str(bad) in _error_box().text() and "Traceback" not in _error_box().text()
    _error_box().close()
    menu.close()


def _error_box():
    for w in QApplication.topLevelWidgets():
        if isinstance(w, QMessageBox) and w.objectName() == "gx_export_error" and w.isVisible():
            return w
    return None


# ------------------------------------------------------------------------------------ images


def _hosted(qtbot, widget: QWidget) -> QWidget:
    """Show ``widget`` inside a plain top-level host (pyqtgraph widgets must not be top-level here:
    closing one twice, by qtbot and at session end, raises inside pyqtgraph)."""
    host = QWidget()
    QVBoxLayout(host).addWidget(widget)
    qtbot.addWidget(host)
    host.resize(widget.size())
    host.show()
    qtbot.waitExposed(host)
    widget._test_host = host  # qtbot keeps only a weak reference: the host must stay alive
    return widget


def _rasterized(svg: Path, size) -> QImage:
    from PySide6.QtSvg import QSvgRenderer

    image = QImage(size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.white)
    painter = QPainter(image)
    QSvgRenderer(str(svg)).render(painter)
    painter.end()
    return image


def _difference(a: QImage, b: QImage) -> float:
    """How much two pictures differ, 0 (same) to 1 (nothing in common): grey-level differences over
    the ink of both, at 48 x 36, where a line a pixel or two apart still overlaps but a misplaced
    curve or axis does not."""
    def grey(img: QImage) -> np.ndarray:
        small = img.convertToFormat(QImage.Format.Format_Grayscale8).scaled(
            48, 36, Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.SmoothTransformation)
        return np.array([[small.pixelColor(x, y).value() for x in range(48)] for y in range(36)]) / 255.0
    ga, gb = grey(a), grey(b)
    return float(np.abs(ga - gb).sum() / ((1 - ga).sum() + (1 - gb).sum()))


def _plot() -> pg.PlotWidget:
    w = pg.PlotWidget(background="w")
    w.plot(np.arange(10.0), np.arange(10.0) ** 2, pen="b")
    w.setLabel("bottom", "x")
    w.resize(400, 300)
    return w


def _layout_plot() -> pg.GraphicsLayoutWidget:
    w = pg.GraphicsLayoutWidget()
    w.addLabel("title", row=0, col=0, size="9pt")
    w.addPlot(row=1, col=0).plot([0, 1, 2], [2, 1, 3])
    w.resize(400, 300)
    return w


def _scene_view() -> QGraphicsView:
    scene = QGraphicsScene(0, 0, 200, 100)
    scene.addRect(10, 10, 80, 40, QPen(Qt.GlobalColor.black), QBrush(Qt.GlobalColor.darkBlue))
    scene.addText("node (81, 210)")
    view = QGraphicsView(scene)
    view._test_scene = scene  # a view does not own its scene
    view.resize(300, 200)
    return view


@pytest.mark.parametrize("make", [_plot, _layout_plot, _scene_view],
                         ids=["PlotWidget", "GraphicsLayout", "QGraphicsView"])
def test_plots_export_valid_png_and_svg(qtbot, tmp_path, make):
    w = _hosted(qtbot, make())
    png = export_image(w, tmp_path / "plot.png")
    assert png.read_bytes()[:8] == PNG_MAGIC
    image = QImage(str(png))
    assert not image.isNull() and image.width() >= 100 and image.height() >= 50
    assert len({image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)}) > 1
    if not SVG_SUPPORTED:
        pytest.skip("PySide6 without QtSvg: SVG export is switched off")
    svg = export_image(w, tmp_path / "plot.svg")
    root = ET.fromstring(svg.read_bytes())
    assert root.tag.endswith("svg") and len(list(root.iter())) > 3
    # the vector copy draws the same picture as the bitmap (a wrong resolution misplaces curves)
    assert _difference(_rasterized(svg, image.size()), image) < 0.1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plot.png", "plot.svg"]


def test_copy_image_puts_the_plot_on_the_clipboard(qtbot):
    w = _hosted(qtbot, _plot())
    image = exporting.copy_image(w)
    clip = QGuiApplication.clipboard().image()
    assert not clip.isNull() and clip.size() == image.size()


# ------------------------------------------------------------------------------------ installation


@pytest.mark.qt_log_ignore("does not support raise", "does not support grabbing",  # menus, offscreen
                          "This plugin does not support propagateSizeHints")
def test_exports_cover_views_added_after_installation(qtbot):
    root = QWidget()
    qtbot.addWidget(root)
    QVBoxLayout(root)
    root.resize(600, 800)
    root.show()
    installer = install_exports(root)
    assert install_exports(root) is installer  # idempotent

    box = QWidget()  # a nested container, as panels build them
    QVBoxLayout(box)
    root.layout().addWidget(box)
    view = QTableView()
    view.setModel(_table([["a", "1"]], ["name", "n"]))
    plot = _plot()
    plot.getPlotItem().setMenuEnabled(False)  # like the map: no pyqtgraph menu of its own
    box.layout().addWidget(view)
    box.layout().addWidget(plot)
    qtbot.waitUntil(lambda: view.isVisible() and plot.isVisible() and plot.height() > 100)  # laid out

    centre = view.viewport().rect().center()
    QApplication.sendEvent(view.viewport(), QContextMenuEvent(QContextMenuEvent.Reason.Mouse, centre,
                                                              view.viewport().mapToGlobal(centre)))
    menu = installer.last_menu
    assert menu is not None and menu.isVisible()
    assert [a.text() for a in menu.actions()] == ["Export CSV…", "Copy table as TSV", "Copy selected rows as TSV"]
    menu.close()

    # pyqtgraph views: their scene menus carry the actions, and a right click nobody took shows ours
    qtbot.waitUntil(lambda: bool(plot.property("_gx_exports")))
    texts = [a.text() for a in plot.scene().contextMenu]
    assert texts[:3] == ["Export PNG…", "Export SVG…", "Copy image"]
    install_exports(root)
    assert len(plot.scene().contextMenu) == len(texts)  # not added twice
    installer.last_menu = None
    qtbot.mouseClick(plot.viewport(), Qt.MouseButton.RightButton, pos=plot.viewport().rect().center())
    qtbot.waitUntil(lambda: installer.last_menu is not None)
    assert [a.text() for a in installer.last_menu.actions()] == texts[:3]
    installer.last_menu.close()

    # a header is not a table of its own: its menu exports the table
    header = view.horizontalHeader()
    pos = QPoint(5, 5)
    QApplication.sendEvent(header.viewport(), QContextMenuEvent(QContextMenuEvent.Reason.Mouse, pos,
                                                                header.viewport().mapToGlobal(pos)))
    assert installer.last_menu.actions()[0].text() == "Export CSV…"
    installer.last_menu.close()
