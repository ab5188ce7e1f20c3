"""The playground's bar chart: history items per interest group, largest group first."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pyqtgraph as pg

from genrec_engine import InterestGroup

from ...widgets import sid_text
from ...widgets.crosshair import Crosshair, bar_series
from .models import group_colour

__all__ = ["GroupsPlot"]

_TICKS = 16  # groups named under the bars at most


class GroupsPlot(pg.PlotWidget):
    """One bar per interest group, coloured as its history rows; the prefix under each bar."""

    def __init__(self, parent=None):
        super().__init__(parent, background="w")
        self.setMenuEnabled(False)
        self.hideButtons()
        self.setMouseEnabled(x=False, y=False)
        self.setFixedHeight(110)
        self.setLabel("left", "items", color="#303030")
        for axis in ("left", "bottom"):
            ax = self.getAxis(axis)
            ax.setPen(pg.mkPen("#606060"))
            ax.setTextPen(pg.mkPen("#303030"))
        self.getAxis("left").setWidth(40)
        self.bars = pg.BarGraphItem(x=np.zeros(0), height=np.zeros(0), width=0.7, brushes=[], pen=pg.mkPen(None))
        self.addItem(self.bars)
        self.setToolTip("History items per interest group, largest group first (colours as in the history).")
        self.prefixes: list[str] = []  # each bar's group prefix, left to right
        self.crosshair = Crosshair(self, series=lambda: [bar_series("items", self.bars)],
                                   x_text=lambda x: f"group {self.prefixes[int(x)]}" if 0 <= int(x) < len(self.prefixes)
                                   else f"group {int(x) + 1}")

    def set_groups(self, groups: Sequence[InterestGroup]) -> None:
        sizes = np.array([g.size for g in groups], dtype=float)
        self.prefixes = [sid_text(g.prefix) for g in groups]
        self.bars.setOpts(x=np.arange(len(sizes), dtype=float), height=sizes,
                          brushes=[group_colour(r) for r in range(len(sizes))])
        shown = min(len(sizes), _TICKS)
        self.getAxis("bottom").setTicks([[(float(r), sid_text(g.prefix)) for r, g in enumerate(groups[:shown])], []])
        self.setXRange(-0.6, max(shown, 4) - 0.4, padding=0)
        top = max(float(sizes.max()) if len(sizes) else 1.0, 1.0)
        step = float(max(1, int(np.ceil(top / 4))))  # whole items: never a 0.5 tick
        self.getAxis("left").setTickSpacing(major=step, minor=step)
        self.setYRange(0, top * 1.1, padding=0)

    def heights(self) -> np.ndarray:
        """The group sizes as drawn (float ``[G]``)."""
        return np.asarray(self.bars.opts["height"], dtype=float)
