"""A hover crosshair for pyqtgraph plots: a vertical line at the nearest data point and a label
with every series' exact value there (as in W&B or TensorBoard), for curves and bar charts alike.

:class:`Crosshair` attaches to a :class:`pyqtgraph.PlotWidget` (or to view boxes of a
``GraphicsLayoutWidget``); moving the mouse over the plot shows, for the x nearest the pointer
(the data's own x values: an epoch, a bar), each named series' y value. Leaving the plot hides it.
:meth:`Crosshair.show_at` does the same for a given x (tests, keyboard).

Series are the plot's named curves unless ``series`` says otherwise: a callable returning
``(name, x, y)`` triples, e.g. :func:`bar_series` for a ``BarGraphItem``. ``x_text`` writes the
first line (default ``"<x_name> <x>"``), e.g. a code number under a bar drawn at position 3.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QPointF

__all__ = ["Crosshair", "bar_series"]

Series = list[tuple[str, np.ndarray, np.ndarray]]


def _fmt(v: float) -> str:
    return f"{v:.4g}" if abs(v) < 1e4 else f"{v:,.0f}"


def bar_series(name: str, bars: pg.BarGraphItem) -> tuple[str, np.ndarray, np.ndarray]:
    """``(name, bar centres, bar heights)`` of ``bars`` as drawn now."""
    x = bars.opts.get("x")
    h = bars.opts.get("height")
    if x is None or h is None:
        return name, np.zeros(0), np.zeros(0)
    x, h = np.asarray(x, dtype=float), np.asarray(h, dtype=float)
    if x.ndim == 0:
        x = np.full(h.shape, float(x))
    return name, x, h


class Crosshair(QObject):
    """A crosshair on ``plot`` (see the module docstring); ``x_name`` labels the x value.

    ``boxes``: the view boxes to draw the line in (default: the plot's own); the label goes in
    the first, and the pointer is read in any of them (their x axes are expected to be linked)."""

    def __init__(self, plot, x_name: str = "x", *, series: Callable[[], Series] | None = None,
                 x_text: Callable[[float], str] | None = None, boxes: Sequence[pg.ViewBox] | None = None):
        super().__init__(plot)
        self.plot, self.x_name = plot, x_name
        self._series = series or self._named_curves
        self._x_text = x_text or (lambda x: f"{self.x_name} {_fmt(x)}")
        self.boxes = list(boxes) if boxes else [plot.getPlotItem().vb]
        pen = pg.mkPen("#808080", width=1)
        self.lines = [pg.InfiniteLine(angle=90, movable=False, pen=pen) for _ in self.boxes]
        self.line = self.lines[0]
        self.label = pg.TextItem("", anchor=(0, 0), color=(20, 20, 20), fill=pg.mkBrush(255, 255, 255, 230),
                                 border=pg.mkPen("#a0a0a0"))
        for box, line in zip(self.boxes, self.lines):
            line.setZValue(50)
            line.hide()
            box.addItem(line, ignoreBounds=True)
        self.label.setZValue(51)
        self.label.hide()
        self.boxes[0].addItem(self.label, ignoreBounds=True)
        self._proxy = pg.SignalProxy(plot.scene().sigMouseMoved, rateLimit=30, slot=self._on_moved)

    def _named_curves(self) -> Series:
        out = []
        for c in self.plot.getPlotItem().listDataItems():
            if not isinstance(c, pg.PlotDataItem) or not c.name():
                continue
            cx, cy = c.getData()
            if cx is not None and len(cx):
                out.append((str(c.name()), np.asarray(cx, dtype=float), np.asarray(cy, dtype=float)))
        return out

    def values_at(self, x: float) -> tuple[float | None, list[tuple[str, float]]]:
        """The data x nearest ``x`` over all series, and each series' y there."""
        series = [(n, sx, sy) for n, sx, sy in self._series() if sx.ndim == 1 and sx.size]
        if not series:
            return None, []
        every = np.concatenate([sx for _, sx, _ in series])
        nearest = float(every[np.argmin(np.abs(every - x))])
        out = []
        for name, sx, sy in series:
            hit = np.flatnonzero(sx == nearest)
            if hit.size and hit[0] < len(sy):
                out.append((name, float(sy[hit[0]])))
        return nearest, out

    def show_at(self, x: float) -> str:
        """Show the crosshair at the data x nearest ``x``; returns the label's text ("" if nothing)."""
        nearest, values = self.values_at(x)
        if nearest is None or not values:
            self.hide()
            return ""
        text = self._x_text(nearest) + "\n" + "\n".join(f"{name}: {_fmt(v)}" for name, v in values)
        for line in self.lines:
            line.setPos(nearest)
            line.show()
        self.label.setText(text)
        (x0, x1), (y0, y1) = self.boxes[0].viewRange()
        right = nearest > x0 + 0.6 * (x1 - x0)  # the label on the side with room
        self.label.setAnchor((1, 0) if right else (0, 0))
        self.label.setPos(nearest, y0 if self.boxes[0].yInverted() else y1)
        self.label.show()
        return text

    def hide(self) -> None:
        for line in self.lines:
            line.hide()
        self.label.hide()

    def _on_moved(self, event) -> None:
        pos = QPointF(event[0])
        for box in self.boxes:
            if box.isVisible() and box.sceneBoundingRect().contains(pos):
                self.show_at(box.mapSceneToView(pos).x())
                return
        self.hide()
