"""A hover crosshair for pyqtgraph curves: a vertical line at the nearest data point and a label
with every curve's exact value there (as in W&B or TensorBoard).

:class:`Crosshair` attaches to a :class:`pyqtgraph.PlotWidget`; moving the mouse over the plot
shows, for the x nearest the pointer (the data's own x values, e.g. an epoch), each named curve's
y value. Leaving the plot hides it. :meth:`Crosshair.show_at` does the same for a given x (tests,
keyboard).
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QPointF

__all__ = ["Crosshair"]


def _fmt(v: float) -> str:
    return f"{v:.4g}" if abs(v) < 1e4 else f"{v:,.0f}"


class Crosshair(QObject):
    """A crosshair on ``plot`` (see the module docstring); ``x_name`` labels the x value."""

    def __init__(self, plot: pg.PlotWidget, x_name: str = "x"):
        super().__init__(plot)
        self.plot, self.x_name = plot, x_name
        self.line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#808080", width=1))
        self.label = pg.TextItem("", anchor=(0, 0), color=(20, 20, 20), fill=pg.mkBrush(255, 255, 255, 230),
                                 border=pg.mkPen("#a0a0a0"))
        for item in (self.line, self.label):
            item.setZValue(50)
            item.hide()
            plot.addItem(item, ignoreBounds=True)
        self._proxy = pg.SignalProxy(plot.scene().sigMouseMoved, rateLimit=30, slot=self._on_moved)

    def values_at(self, x: float) -> tuple[float | None, list[tuple[str, float]]]:
        """The data x nearest ``x`` over all curves, and each named curve's y there."""
        curves = [c for c in self.plot.getPlotItem().listDataItems() if isinstance(c, pg.PlotDataItem)]
        xs = [np.asarray(c.getData()[0], dtype=float) for c in curves if c.getData()[0] is not None]
        xs = [a for a in xs if a.ndim == 1 and a.size]
        if not xs:
            return None, []
        every = np.concatenate(xs)
        nearest = float(every[np.argmin(np.abs(every - x))])
        out = []
        for c in curves:
            cx, cy = c.getData()
            if cx is None or not len(cx) or not c.name():
                continue
            hit = np.flatnonzero(np.asarray(cx, dtype=float) == nearest)
            if hit.size:
                out.append((str(c.name()), float(np.asarray(cy)[hit[0]])))
        return nearest, out

    def show_at(self, x: float) -> str:
        """Show the crosshair at the data x nearest ``x``; returns the label's text ("" if nothing)."""
        nearest, values = self.values_at(x)
        if nearest is None or not values:
            self.hide()
            return ""
        text = f"{self.x_name} {_fmt(nearest)}\n" + "\n".join(f"{name}: {_fmt(v)}" for name, v in values)
        self.line.setPos(nearest)
        self.label.setText(text)
        (x0, x1), (y0, y1) = self.plot.getPlotItem().viewRange()
        right = nearest > x0 + 0.6 * (x1 - x0)  # the label on the side with room
        self.label.setAnchor((1, 0) if right else (0, 0))
        self.label.setPos(nearest, y1)
        self.line.show()
        self.label.show()
        return text

    def hide(self) -> None:
        self.line.hide()
        self.label.hide()

    def _on_moved(self, event) -> None:
        pos = event[0]
        item = self.plot.getPlotItem()
        if not item.sceneBoundingRect().contains(pos) or not item.vb.sceneBoundingRect().contains(pos):
            self.hide()
            return
        self.show_at(item.vb.mapSceneToView(QPointF(pos)).x())
