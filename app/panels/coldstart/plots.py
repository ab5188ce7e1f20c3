"""The cold-start lab's per-level bar charts (pyqtgraph): one chart per SID level of the lab's item.

:class:`LevelCharts` holds the charts of one project's SID depth in a grid, and a note in their
place while nothing is scored for the open project (after a project switch, until its first
analysis arrives: empty axes would look broken). What each chart draws comes from
:func:`.state.level_bars`.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QGridLayout, QLabel, QStackedWidget, QWidget

from ...widgets.crosshair import Crosshair, bar_series
from .results import ITEM_COLOUR, LevelProbs, level_bars

__all__ = ["LevelProbPlot", "LevelCharts"]

_WAITING = "Each SID level's code probabilities show here once the item is scored for a user."


class LevelProbPlot(pg.PlotWidget):
    """One SID level: the generator's probability of each code given the item's prefix, for the
    most likely codes plus the item's own (orange); grey bars are codes under which the trie holds
    no live item. Plot items are made once and updated with ``setOpts``."""

    def __init__(self, level: int, depth: int, parent=None):
        super().__init__(parent, background="w")
        self.level, self.depth = level, depth
        self.setMenuEnabled(False)
        self.hideButtons()
        self.setMouseEnabled(x=False, y=False)
        self.setMinimumSize(120, 120)
        tick_font = QFont()
        tick_font.setPointSizeF(7.5)
        for axis in ("left", "bottom"):
            self.getAxis(axis).setPen(pg.mkPen("#606060"))
            self.getAxis(axis).setTextPen(pg.mkPen("#303030"))
            self.getAxis(axis).setStyle(tickFont=tick_font)
        self.getAxis("left").setWidth(34)
        self.getAxis("bottom").setHeight(20)
        self.bars = pg.BarGraphItem(x=np.zeros(0), height=np.zeros(0), width=0.8)
        self.label = pg.TextItem("", anchor=(0.5, 1.0), color=ITEM_COLOUR)
        self.addItem(self.bars)
        self.addItem(self.label, ignoreBounds=True)
        self.codes: list[int] = []  # the code of each bar, left to right
        self.crosshair = Crosshair(self, series=lambda: [bar_series("probability", self.bars)], x_text=self._code_at)

    def _code_at(self, x: float) -> str:
        xs = np.asarray(self.bars.opts.get("x", []), dtype=float)
        hit = np.flatnonzero(xs == x)
        return f"code {self.codes[hit[0]]}" if hit.size and hit[0] < len(self.codes) else f"bar {x:g}"

    def show_level(self, lp: LevelProbs) -> None:
        b = level_bars(lp, self.depth)
        self.codes = list(b.codes)
        self.bars.setOpts(x=b.x, height=b.heights, width=0.8, brushes=[pg.mkBrush(c) for c in b.colours],
                          pens=[pg.mkPen(None)] * len(b.codes))
        self.getAxis("bottom").setTicks([[(float(xi), str(c)) for xi, c in zip(b.x, b.codes)]])
        top = float(max(b.heights.max(), 1e-6))
        self.setYRange(0, top * 1.25, padding=0)
        self.setXRange(-0.6, float(b.x[-1]) + 0.6, padding=0)
        self.label.setText(b.label)
        self.label.setAnchor((1.0, 1.0) if b.label_right else (0.5, 1.0))  # stay inside
        self.label.setPos(float(b.x[b.mine]) + (0.4 if b.label_right else 0.0), float(b.heights[b.mine]) + 0.02 * top)
        self.setTitle(b.title, color="#202020")
        self.setToolTip(b.tooltip)

    def clear_level(self) -> None:
        self.codes = []
        # no bars: brushes/pens None, not empty lists (empty pens lists crash pyqtgraph)
        self.bars.setOpts(x=np.zeros(0), height=np.zeros(0), brushes=None, pens=None, brush=None, pen=None)
        self.getAxis("bottom").setTicks(None)
        self.label.setText("")
        self.setTitle("")
        self.setToolTip("")

    def bar_heights(self) -> np.ndarray:
        return np.asarray(self.bars.opts["height"], dtype=float)


class LevelCharts(QStackedWidget):
    """The level charts in a two-column grid, or a note while there is nothing to draw."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.plots: list[LevelProbPlot] = []
        self._depth = 0  # the SID depth the charts are for; built on first use (see reset)
        note = QLabel(_WAITING)
        note.setWordWrap(True)
        note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        note.setStyleSheet("color: #707070;")
        self._grid_page = QWidget()
        self._grid = QGridLayout(self._grid_page)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setSpacing(4)
        self.addWidget(note)
        self.addWidget(self._grid_page)

    @property
    def showing(self) -> bool:
        """Whether the charts (not the note) are on screen."""
        return self.currentWidget() is self._grid_page

    def clear(self) -> None:
        """Empty every chart and show the note in their place."""
        self.setCurrentIndex(0)
        for p in self.plots:
            p.clear_level()

    def reset(self, depth: int) -> None:
        """Empty charts for a SID of ``depth`` levels, hidden behind the note. The charts
        themselves are built when the first levels arrive (:meth:`show_levels`): a pyqtgraph plot
        takes ~0.1 s to build, and a project load should not wait for charts nobody looks at yet."""
        self.clear()
        self._depth = depth
        if self.plots and len(self.plots) != depth:
            for p in self.plots:
                self._grid.removeWidget(p)
                p.deleteLater()
            self.plots = []

    def _build(self) -> None:
        if len(self.plots) == self._depth:
            return
        self.plots = [LevelProbPlot(level, self._depth) for level in range(self._depth)]
        for level, p in enumerate(self.plots):
            self._grid.addWidget(p, level // 2, level % 2)

    def show_levels(self, levels) -> None:
        """Draw one :class:`~.state.LevelProbs` per chart and show the charts."""
        self._build()
        for plot, lp in zip(self.plots, levels):
            plot.show_level(lp)
        self.setCurrentWidget(self._grid_page)
