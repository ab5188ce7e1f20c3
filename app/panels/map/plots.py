"""The codebook map's plot: one pyqtgraph scatter of every item, the selection drawn on top, the
cold-start lab's markers, a hover label and a lasso.

:class:`MapPlot` draws what :class:`~app.panels.map.state.MapState` computed (positions
``[N, 2]`` in data coordinates, palette indices per dot) and knows nothing about projects.
"""
from __future__ import annotations

import colorsys
from typing import Callable, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor

from .state import LabMarker, Overlay, nearest_point

__all__ = ["code_palette", "MapPlot"]

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

    def __init__(self, lasso_active: Callable[[], bool], on_lasso: Callable[[np.ndarray], None]):
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
        """Every item's dot (``positions [N, 2]``, palette ``colours [N]``), the whole map in view."""
        self._positions = positions
        self.hover_text.hide()
        self.scatter.setData(pos=positions, brush=self._brushes[colours], size=5, pen=None)
        self.show_all()

    def set_colours(self, colours: np.ndarray) -> None:
        self.scatter.setBrush(self._brushes[colours])

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
        self.scatter.clear()
        self.overlay.clear()
        self.set_lab([], None)
        self.hover_text.hide()

    def show_all(self) -> None:
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
        """Points in the scatter."""
        return len(self.scatter.data)

    def point_colours(self) -> list[QColor]:
        """The fill colour of every point, in item order (for tests and exports)."""
        return [QColor(b.color()) for b in self.scatter.data["brush"]]

    def lab_markers(self) -> dict[int, tuple[float, float, str]]:
        """The lab markers drawn: ``{item: (x, y, "injected" | "retired")}``."""
        return {int(d["data"][0]): (float(d["x"]), float(d["y"]), d["data"][1]) for d in self.lab_overlay.data}
