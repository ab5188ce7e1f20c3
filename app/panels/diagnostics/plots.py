"""The diagnostics panel's histograms: users per homogeneity@10 and per invalid-SID count."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

from ...widgets.crosshair import Crosshair, bar_series

__all__ = ["CountHistogram", "HOMOGENEITY_COLOUR", "INVALID_COLOUR", "MEAN_COLOUR"]

HOMOGENEITY_COLOUR = "#1f6fb4"
INVALID_COLOUR = "#c0392b"
MEAN_COLOUR = "#202020"


class CountHistogram(pg.PlotWidget):
    """Bars of user counts with the count written above each bar (small bars stay readable).

    Items are made once; :meth:`set_counts` updates them. ``x`` float ``[B]`` bar centres.
    """

    def __init__(self, title: str, xlabel: str, colour: str, x: np.ndarray, width: float, parent=None):
        super().__init__(parent, background="w")
        self.setMinimumHeight(160)
        item = self.getPlotItem()
        self.set_title(title)
        item.setLabel("bottom", xlabel, color="#202020")
        item.setLabel("left", "users", color="#202020")
        item.showGrid(x=False, y=True, alpha=0.2)
        item.setMenuEnabled(False)
        item.hideButtons()
        item.setMouseEnabled(x=False, y=False)
        for axis in ("left", "bottom"):
            item.getAxis(axis).setPen(pg.mkPen("#505050"))
            item.getAxis(axis).setTextPen(pg.mkPen("#202020"))
        item.getAxis("left").enableAutoSIPrefix(False)
        self.x = np.asarray(x, dtype=float)
        self.bars = pg.BarGraphItem(x=self.x, height=np.zeros(len(self.x)), width=width, brush=colour,
                                    pen=pg.mkPen(None))
        item.addItem(self.bars)
        self.labels = []
        for xi in self.x:
            label = pg.TextItem("", color="#303030", anchor=(0.5, 1.0))
            label.setPos(float(xi), 0.0)
            item.addItem(label)
            self.labels.append(label)
        self.mean_line = pg.InfiniteLine(angle=90, pen=pg.mkPen(MEAN_COLOUR, width=1.4, style=Qt.PenStyle.DashLine))
        self.mean_line.setVisible(False)
        item.addItem(self.mean_line)
        item.setXRange(float(self.x.min()) - width, float(self.x.max()) + width, padding=0)
        self.crosshair = Crosshair(self, xlabel, series=lambda: [bar_series("users", self.bars)])
        self.clear_counts()

    def set_title(self, title: str) -> None:
        """Retitle the plot (the same bars show a generator's or an audited file's users)."""
        self._title = title
        self.getPlotItem().setTitle(title, color="#202020", size="10pt")

    def title_text(self) -> str:
        """The title as last set."""
        return self._title

    def set_counts(self, counts, mean: float | None = None) -> None:
        """Show ``counts`` int ``[B]`` (users per bar) and a dashed line at ``mean`` (None: hidden)."""
        c = np.asarray(counts, dtype=float)
        self.bars.setOpts(height=c)
        top = float(max(c.max() if c.size else 0.0, 1.0))
        for label, xi, n in zip(self.labels, self.x, c):
            label.setText(f"{int(n):,}" if n > 0 else "")
            label.setPos(float(xi), float(n))
        self.mean_line.setVisible(mean is not None)
        if mean is not None:
            self.mean_line.setPos(float(mean))
        self.getPlotItem().setYRange(0, top * 1.15, padding=0)

    def clear_counts(self) -> None:
        """No users: every bar at zero, no mean line."""
        self.set_counts(np.zeros(len(self.x), dtype=np.int64))

    def counts(self) -> np.ndarray:
        """The bar heights as drawn: int64 ``[B]``."""
        return np.asarray(self.bars.opts["height"]).astype(np.int64)
