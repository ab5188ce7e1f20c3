"""The codebook map's plot: one pyqtgraph scatter of every item, the selection drawn on top, the
cold-start lab's markers, a hover label and a lasso.

Up to :data:`SCATTER_MAX` items each dot is a scatter point. Above that (a catalogue of 10^5-10^7
items) the dots are drawn into one image of the visible region (:func:`rasterize`: a few NumPy
passes, ~50 ms for 1M items) that pans and zooms with the view at once and is redrawn at the new
resolution shortly after the view stops moving: level-of-detail drawing instead of a million
graphics items, so panning stays smooth.

:class:`MapPlot` draws what :class:`~app.panels.map.state.MapState` computed (positions
``[N, 2]`` in data coordinates, palette indices per dot) and knows nothing about projects.
"""
from __future__ import annotations

import colorsys
from typing import Callable, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer
from PySide6.QtGui import QColor

from ...bridge import EngineBridge, JobScope
from .state import LabMarker, Overlay, nearest_point

__all__ = ["code_palette", "MapPlot", "SCATTER_MAX", "rasterize"]

#: Above this many items the map draws its dots as an image of the visible region.
SCATTER_MAX = 150_000
_REDRAW_MS = 90  # the raster is redrawn this long after the view last moved
_FEW_VISIBLE = 20_000  # fewer items than this in view: 4-pixel dots instead of 2

_GREY = QColor(200, 200, 200)
_LAB_NEW = QColor(0, 140, 60)  # cold-start lab: injected items (a green star, white rim)
_LAB_RETIRED = QColor(90, 90, 90)  # cold-start lab: retired items (a dark cross)
_HIGHLIGHT = QColor(214, 39, 40)  # items under the chosen prefix, in prefix mode
_OUTLINE = QColor(20, 20, 20)
_AXIS = QColor(120, 120, 120)


def code_palette(k: int) -> list[QColor]:
    """``k`` distinct, readable colours on a white background, one per codeword.

    Hues step by the golden ratio around the colour wheel, so consecutive codes get far-apart hues;
    saturation and brightness cycle over three tiers to separate codes of similar hue.
    """
    colours = []
    for i in range(max(0, int(k))):
        hue = (i * 0.618033988749895) % 1.0
        sat = (0.80, 0.60, 0.95)[i % 3]
        val = (0.85, 0.62, 0.72)[(i // 3) % 3]
        r, g, b = colorsys.hsv_to_rgb(hue, sat, val)
        colours.append(QColor.fromRgbF(r, g, b))
    return colours


def sequential_palette(n: int) -> list[QColor]:
    """``n`` colours from light yellow to dark blue (viridis-like, readable on white): low to high."""
    cmap = pg.colormap.get("viridis")
    return [cmap.map(0.92 - 0.92 * i / max(1, n - 1), mode="qcolor") for i in range(n)]


def rasterize(positions: np.ndarray, rgba: np.ndarray, box: tuple[float, float, float, float],
              width: int, height: int, dot: int = 2) -> tuple[np.ndarray, int]:
    """Draw ``positions [N, 2]`` with colours ``rgba [N]`` (uint32, one packed RGBA per item) as
    ``dot x dot``-pixel squares into a ``[height, width]`` uint32 image of ``box = (x0, x1, y0,
    y1)`` (row 0 at ``y0``; a later item paints over an earlier one, as in a scatter; transparent
    where no item is). Returns the image and how many items fall inside the box."""
    x0, x1, y0, y1 = box
    width, height = max(1, int(width)), max(1, int(height))
    img = np.zeros((height + dot) * (width + dot), dtype=np.uint32)
    if len(positions) and x1 > x0 and y1 > y0:
        px = (positions[:, 0] - x0) * (width / (x1 - x0))
        py = (positions[:, 1] - y0) * (height / (y1 - y0))
        inside = np.flatnonzero((px >= 0) & (px < width) & (py >= 0) & (py < height))
        flat = py[inside].astype(np.int64) * (width + dot) + px[inside].astype(np.int64)
        colours = rgba[inside]
        for dy in range(dot):
            for dx in range(dot):
                img[flat + (dy * (width + dot) + dx)] = colours
        count = len(inside)
    else:
        count = 0
    return img.reshape(height + dot, width + dot)[:height, :width], count


def density_image(positions: np.ndarray, palette: np.ndarray, colours: np.ndarray,
                  box: tuple[float, float, float, float], width: int, height: int, dot: int = 2,
                  *, progress=None, cancel=None) -> tuple[np.ndarray, int]:
    """The map's density image: :func:`rasterize` of ``positions`` with packed ``palette`` colours
    by index ``colours``, as ``[height, width, 4]`` uint8 RGBA, and how many items are inside
    (a bridge job; plain NumPy, no Qt)."""
    img, visible = rasterize(positions, palette[colours], box, width, height, dot=dot)
    return img.view(np.uint8).reshape(img.shape[0], img.shape[1], 4), visible


class _LassoViewBox(pg.ViewBox):
    """A ViewBox whose left-drag draws a lasso (when ``lasso_active()`` or Shift is held).

    On release it calls ``on_lasso(polygon [M, 2])`` in data coordinates; other drags pan/zoom.
    """

    def __init__(self, lasso_active: Callable[[], bool], on_lasso: Callable[[np.ndarray], None]):
        super().__init__()
        self._lasso_active, self._on_lasso = lasso_active, on_lasso
        self._path: list[tuple[float, float]] = []
        self.lasso_curve = pg.PlotCurveItem(pen=pg.mkPen(_OUTLINE, width=1.5, style=Qt.PenStyle.DashLine))
        self.addItem(self.lasso_curve, ignoreBounds=True)
        self.lasso_curve.setZValue(20)

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802 - pyqtgraph API
        lasso = self._lasso_active() or bool(ev.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if axis is not None or ev.button() != Qt.MouseButton.LeftButton or not (lasso or self._path):
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        if ev.isStart():
            p0 = self.mapToView(ev.buttonDownPos())
            self._path = [(p0.x(), p0.y())]
        p = self.mapToView(ev.pos())
        self._path.append((p.x(), p.y()))
        xy = np.asarray(self._path + self._path[:1])
        self.lasso_curve.setData(xy[:, 0], xy[:, 1])
        if ev.isFinish():
            polygon = np.asarray(self._path)
            self._path = []
            self.lasso_curve.setData([], [])
            self._on_lasso(polygon)


class MapPlot(pg.PlotWidget):
    """The scatter of every item, the highlighted selection, lab markers, hover label and lasso.

    Public items: ``view`` (the lasso-aware ViewBox), ``scatter``, ``overlay`` (selection),
    ``lab_overlay`` and ``lab_label`` (cold-start lab), ``hover_text``. Colours are palette indices
    (see :meth:`set_palette`).
    """

    def __init__(self, lasso_active: Callable[[], bool], on_lasso: Callable[[np.ndarray], None],
                 bridge: EngineBridge | None = None):
        view = _LassoViewBox(lasso_active, on_lasso)
        view.setMenuEnabled(False)
        super().__init__(viewBox=view, background="w")
        self.view = view
        self.setAspectLocked(False)
        for axis in ("left", "bottom"):
            self.getAxis(axis).setPen(pg.mkPen(_AXIS))
            self.getAxis(axis).setTextPen(pg.mkPen(QColor(80, 80, 80)))
        self.setLabel("bottom", "UMAP 1")
        self.setLabel("left", "UMAP 2")
        self.scatter = pg.ScatterPlotItem(pxMode=True, size=5, pen=None, hoverable=False)
        self.overlay = pg.ScatterPlotItem(pxMode=True, size=10, pen=pg.mkPen(_OUTLINE, width=1.5))
        self.overlay.setZValue(10)
        self.hover_text = pg.TextItem("", anchor=(0, 1), color=(20, 20, 20), fill=pg.mkBrush(255, 255, 255, 230),
                                      border=pg.mkPen(_AXIS))
        self.hover_text.setZValue(30)
        self.hover_text.hide()
        self.lab_overlay = pg.ScatterPlotItem(pxMode=True)  # cold-start lab: injected / retired items
        self.lab_overlay.setZValue(15)
        self.lab_label = pg.TextItem("", anchor=(-0.05, 1.1), color=(20, 20, 20), fill=pg.mkBrush(255, 255, 255, 225),
                                     border=pg.mkPen(_LAB_NEW, width=1.5))
        self.lab_label.setZValue(25)
        self.addItem(self.scatter)
        self.addItem(self.overlay)
        self.addItem(self.lab_overlay)
        self.addItem(self.lab_label, ignoreBounds=True)
        self.addItem(self.hover_text, ignoreBounds=True)
        self._positions: np.ndarray | None = None
        self._brushes = np.array([pg.mkBrush(_GREY), pg.mkBrush(_HIGHLIGHT)], dtype=object)
        # density mode (more than SCATTER_MAX items): the dots as one image of the visible region
        self.raster = pg.ImageItem(axisOrder="row-major")
        self.raster.hide()
        self.addItem(self.raster, ignoreBounds=True)
        self._colours: np.ndarray | None = None  # palette index per item, in density mode
        self._visible = 0  # items inside the last raster
        # with a bridge the density image is drawn on a worker (~70 ms at 10^6 items, more with the
        # CPU busy): the last image stays in place, in data coordinates, until the new one arrives
        self._raster_job = JobScope(bridge) if bridge is not None else None
        self._redraw = QTimer(self)
        self._redraw.setSingleShot(True)
        self._redraw.setInterval(_REDRAW_MS)
        self._redraw.timeout.connect(self._redraw_if_shown)
        self._redraw_skipped = False
        self.view.sigRangeChanged.connect(lambda *_: self._redraw.start() if self._colours is not None else None)

    def _redraw_if_shown(self) -> None:
        """The debounced redraw after the view moved; a hidden or closed map (another tab, a closed
        window) draws nothing until it is shown again."""
        if self.isVisible():
            self._draw_raster()
        else:
            self._redraw_skipped = True

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        if self._redraw_skipped:
            self._redraw_skipped = False
            self._redraw.start()

    def hideEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        if self._redraw.isActive():
            self._redraw.stop()
            self._redraw_skipped = True
        super().hideEvent(event)

    # ---- drawing ----
    def set_palette(self, k: int) -> None:
        """``k`` code colours (:func:`code_palette`), ``N_BINS`` sequential ones (popularity), then grey
        (index -2) and the highlight (-1)."""
        colours = code_palette(k) + sequential_palette(8) + [_GREY, _HIGHLIGHT]
        self._brushes = np.array([pg.mkBrush(c) for c in colours], dtype=object)

    def palette_colours(self) -> list[QColor]:
        """The palette's colours, by index (negative indices work as in :meth:`set_colours`)."""
        return [b.color() for b in self._brushes]

    def show_points(self, positions: np.ndarray, colours: np.ndarray) -> None:
        """Every item's dot (``positions [N, 2]``, palette ``colours [N]``), the whole map in view
        (a scatter up to :data:`SCATTER_MAX` items, else an image redrawn as the view moves)."""
        self._positions = positions
        self.hover_text.hide()
        if len(positions) > SCATTER_MAX:
            self.scatter.clear()
            self._colours = np.asarray(colours)
            self._visible = len(positions)
            self.raster.show()
            self.show_all()
            self._draw_raster()
            return
        self._colours = None
        if self._raster_job is not None:
            self._raster_job.cancel()
        self.raster.hide()
        self.scatter.setData(pos=positions, brush=self._brushes[colours], size=5, pen=None)
        self.show_all()

    def set_colours(self, colours: np.ndarray) -> None:
        if self._colours is not None:
            self._colours = np.asarray(colours)
            self._draw_raster()
            return
        self.scatter.setBrush(self._brushes[colours])

    def density_mode(self) -> bool:
        """True when the dots are drawn as an image (more than :data:`SCATTER_MAX` items)."""
        return self._colours is not None

    def _packed_palette(self) -> np.ndarray:
        """The palette as packed uint32 colours in the byte order of an RGBA8888 image."""
        rgba = np.array([[c.red(), c.green(), c.blue(), 255] for c in self.palette_colours()], dtype=np.uint8)
        return rgba.view(np.uint32).ravel()

    def _draw_raster(self) -> None:
        """Redraw the density image for the view's current range, at its current pixel size (on a
        worker when the plot has a bridge; the newest request wins)."""
        if self._colours is None or self._positions is None:
            return
        (x0, x1), (y0, y1) = self.view.viewRange()
        w = max(1, int(self.view.width()))
        h = max(1, int(self.view.height()))
        box = (x0, x1, y0, y1)
        # bigger dots once the view is zoomed in to a few thousand items (the last draw's count)
        args = (self._positions, self._packed_palette(), self._colours, box, w, h,
                2 if self._visible > _FEW_VISIBLE else 4)
        if self._raster_job is None:
            self._show_raster(box, density_image(*args))
        else:
            self._raster_job.submit(density_image, *args, name="map image", quiet=True,
                                    on_result=lambda out, box=box: self._show_raster(box, out))

    def _show_raster(self, box: tuple[float, float, float, float], drawn: tuple[np.ndarray, int]) -> None:
        img, visible = drawn
        x0, x1, y0, y1 = box
        self.raster.setImage(img, autoLevels=False, levels=(0, 255))
        self.raster.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))
        self._visible = visible

    @property
    def raster_pending(self) -> bool:
        """A density image is being drawn on a worker."""
        return self._raster_job is not None and self._raster_job.busy

    def set_overlay(self, overlay: Overlay | None) -> None:
        """Draw the selected items on top (None: none)."""
        if overlay is None:
            self.overlay.clear()
            return
        pen = pg.mkPen(_OUTLINE, width=overlay.pen_width)
        self.overlay.setData(pos=overlay.positions, brush=self._brushes[overlay.colours], size=overlay.size, pen=pen)

    def set_lab(self, markers: Sequence[LabMarker], label: tuple[str, float, float] | None) -> None:
        """Green stars on injected items, dark crosses on retired ones; ``label`` names the newest."""
        spots = [{"pos": (m.x, m.y), "symbol": "star" if m.kind == "injected" else "x",
                  "size": 22 if m.kind == "injected" else 11,
                  "brush": pg.mkBrush(_LAB_NEW if m.kind == "injected" else _LAB_RETIRED),
                  "pen": pg.mkPen("w" if m.kind == "injected" else _OUTLINE, width=1.5),
                  "data": (m.item, m.kind)} for m in markers]
        if spots:
            self.lab_overlay.setData(spots)
        else:
            self.lab_overlay.clear()
        if label is None:
            self.lab_label.hide()
            return
        text, x, y = label
        self.lab_label.setText(text)
        self.lab_label.setPos(x, y)
        self.lab_label.show()

    def show_hover(self, text: str | None, x: float = 0.0, y: float = 0.0) -> None:
        """The hover label at ``(x, y)`` (None: hide it)."""
        if text is None:
            self.hover_text.hide()
            return
        self.hover_text.setText(text)
        self.hover_text.setPos(x, y)
        self.hover_text.show()

    def clear_points(self) -> None:
        """No layout: no dots, no selection, no labels."""
        self._positions = None
        self._colours = None
        self._redraw.stop()
        if self._raster_job is not None:
            self._raster_job.cancel()  # a late image of the old points is dropped
        self.raster.hide()
        self.raster.clear()
        self.scatter.clear()
        self.overlay.clear()
        self.set_lab([], None)
        self.hover_text.hide()

    def show_all(self) -> None:
        if self._colours is not None and self._positions is not None and len(self._positions):
            # the image has no bounds; per column: min(axis=0) over [N, 2] took 33 ms at 10^6 items, this 3 ms
            x, y = self._positions[:, 0], self._positions[:, 1]
            self.view.setRange(xRange=(float(x.min()), float(x.max())), yRange=(float(y.min()), float(y.max())),
                               padding=0.03)
            return
        self.view.autoRange(padding=0.03)

    def zoom_to(self, box: tuple[float, float, float, float]) -> None:
        x0, x1, y0, y1 = box
        self.view.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)

    # ---- reading ----
    def item_at_scene(self, scene_pos: QPointF) -> int | None:
        """The item whose dot is nearest ``scene_pos`` within ~10 px, or None."""
        if self._positions is None or not self.view.sceneBoundingRect().contains(scene_pos):
            return None
        p = self.view.mapSceneToView(scene_pos)
        px_w, px_h = self.view.viewPixelSize()
        return nearest_point(self._positions, p.x(), p.y(), px_w, px_h)

    def displayed_count(self) -> int:
        """Items drawn: the scatter's points, or every item in density mode."""
        if self._colours is not None and self._positions is not None:
            return len(self._positions)
        return len(self.scatter.data)

    def point_colours(self) -> list[QColor]:
        """The fill colour of every point, in item order (for tests and exports)."""
        if self._colours is not None:
            palette = self.palette_colours()
            return [QColor(palette[int(c)]) for c in self._colours]
        return [QColor(b.color()) for b in self.scatter.data["brush"]]

    def lab_markers(self) -> dict[int, tuple[float, float, str]]:
        """The lab markers drawn: ``{item: (x, y, "injected" | "retired")}``."""
        return {int(d["data"][0]): (float(d["x"]), float(d["y"]), d["data"][1]) for d in self.lab_overlay.data}
