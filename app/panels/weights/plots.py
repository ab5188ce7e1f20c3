"""The per-level weight charts of the codeword-weights panel (pyqtgraph).

One :class:`LevelPlot` per SID level: the level's ``K_l`` codewords on a shared x axis, the
content-guided weights ``[K_l]`` as bars above it, the collaborative-guided weights ``[K_l]`` as
bars hanging below it (each chart with its own weight scale), the item's code as a dashed line and,
when an item is compared, its collaborative weights as a purple step outline. Built
``content_only`` (a project without a RAN) it has the content chart alone, and the compared item's
outline is its content weights.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from genrec_engine import LevelWeights

from ...widgets.crosshair import Crosshair, bar_series
from .state import CLOSE_CALL, COMPARE_COLOUR, ratio_text

__all__ = ["LevelPlot", "CONTENT_COLOUR", "COLLAB_COLOUR", "COMPARE_COLOUR", "CODE_COLOUR"]

CONTENT_COLOUR = "#1f6fb4"  # blue: the tokenizer's (content-guided) weights, above the axis
COLLAB_COLOUR = "#e0691a"  # orange: the RAN's (collaborative-guided) weights, below the axis
CODE_COLOUR = "#202020"  # the item's SID code (dashed line)

_AXIS_PEN = "#606060"
_TEXT_PEN = "#303030"
_GRID_ALPHA = round(0.15 * 255)


class LevelPlot(pg.GraphicsLayoutWidget):
    """One SID level's K codewords as two stacked bar charts sharing the codeword axis: content
    weights on top, collaborative weights hanging below (each with its own weight scale, so a flat
    distribution stays visible next to a peaked one). The item's code is a dashed line in both; a
    compared item's collaborative weights are a purple outline over the lower chart.

    Built from bare view boxes and axes rather than two ``PlotItem``\\ s: a PlotItem also builds a
    settings menu, a view-box menu and two hidden axes, which made the four plots of a project cost
    ~0.4 s of GUI-thread time. The plot items are made once and updated with ``setOpts``/``setData``.
    """

    def __init__(self, level: int, n_codes: int, depth: int, parent=None, *, content_only: bool = False):
        super().__init__(parent)
        self.setBackground("w")
        self.level, self.n_codes, self._depth = level, n_codes, depth
        self.content_only = content_only
        layout = self.ci.layout
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setVerticalSpacing(0)
        layout.setHorizontalSpacing(0)
        self.title = self.addLabel("", row=0, col=0, colspan=2, color="#202020", size="9pt")
        self.top = self._chart(1, "content")
        if content_only:  # no collaborative chart: the codeword axis, with numbers, under the content
            self.bottom = None
            codes = self._axis("bottom", self.top)
            codes.setHeight(22)
            self.ci.addItem(codes, row=2, col=1)
        else:
            separator = self._axis("bottom", self.top)  # the codeword axis between the charts, no numbers
            separator.setStyle(showValues=False)
            self.ci.addItem(separator, row=2, col=1)
            self.bottom = self._chart(3, "collab.")
            self.bottom.setXLink(self.top)
            self.bottom.invertY(True)  # collaborative bars hang down from the shared codeword axis
            codes = self._axis("bottom", self.bottom)
            codes.setHeight(22)
            self.ci.addItem(codes, row=4, col=1)

        x = np.arange(n_codes, dtype=float)
        zeros = np.zeros(n_codes)
        self.content_bars = pg.BarGraphItem(x=x, height=zeros, width=1.0, brush=CONTENT_COLOUR, pen=pg.mkPen(None))
        self.collab_bars = pg.BarGraphItem(x=x, height=zeros, width=1.0, brush=COLLAB_COLOUR, pen=pg.mkPen(None))
        compare_pen = QColor(COMPARE_COLOUR)
        compare_pen.setAlpha(220)
        self.compare_curve = pg.PlotDataItem(np.arange(n_codes + 1) - 0.5, zeros, stepMode="center",
                                             pen=pg.mkPen(compare_pen, width=1.2))
        code_pen = pg.mkPen(CODE_COLOUR, width=1.2, style=Qt.PenStyle.DashLine)
        self.code_lines = (pg.InfiniteLine(angle=90, pen=code_pen), pg.InfiniteLine(angle=90, pen=code_pen))
        self.compare_line = pg.InfiniteLine(angle=90, pen=pg.mkPen(COMPARE_COLOUR, width=1.2, style=Qt.PenStyle.DotLine))
        self.top.addItem(self.content_bars)
        self.top.addItem(self.code_lines[0])
        if content_only:  # the compared item's content weights outline the content bars
            for it in (self.compare_curve, self.compare_line):
                self.top.addItem(it)
        else:
            for it in (self.collab_bars, self.compare_curve, self.code_lines[1], self.compare_line):
                self.bottom.addItem(it)
        self.compare_curve.setVisible(False)
        self.compare_line.setVisible(False)
        self.top.setXRange(-0.5, n_codes - 0.5, padding=0.01)
        boxes = (self.top,) if content_only else (self.top, self.bottom)
        self.crosshair = Crosshair(self, "code", series=self._series, boxes=boxes)

    def _series(self):
        """What the hover crosshair reads: both weights per codeword, and the compared item's."""
        out = [bar_series("content", self.content_bars)]
        if not self.content_only:
            out.append(bar_series("collaborative", self.collab_bars))
        if self.compare_curve.isVisible():
            _, y = self.compare_curve.getData()
            if y is not None and len(y) == self.n_codes:
                out.append(("compared", np.arange(self.n_codes, dtype=float), np.asarray(y, dtype=float)))
        return out

    # ---- building ----
    def _chart(self, row: int, name: str) -> pg.ViewBox:
        """A view box in ``row`` with its weight axis on the left (labelled ``name``, light grid)."""
        box = pg.ViewBox(enableMenu=False)
        box.setMouseEnabled(x=True, y=False)  # scroll zooms into the codewords, never the weights
        left = self._axis("left", box)
        left.setWidth(60)
        left.enableAutoSIPrefix(False)
        left.setGrid(_GRID_ALPHA)
        left.setLabel(name, color=_TEXT_PEN, **{"font-size": "8pt"})  # pyqtgraph writes size= as CSS "size:"
        self.ci.addItem(left, row=row, col=0)
        self.ci.addItem(box, row=row, col=1)
        return box

    @staticmethod
    def _axis(orientation: str, box: pg.ViewBox) -> pg.AxisItem:
        axis = pg.AxisItem(orientation, pen=pg.mkPen(_AXIS_PEN), textPen=pg.mkPen(_TEXT_PEN))
        axis.linkToView(box)
        axis.setZValue(-1000)
        return axis

    # ---- public ----
    def show_weights(self, lw: LevelWeights, compare: LevelWeights | None) -> None:
        """Draw one level of the shown item (``lw``) and, if given, the compared item's (``compare``)."""
        if self.content_only:
            self._show_content(lw, compare)
            return
        self.content_bars.setOpts(height=lw.content.astype(float))
        self.collab_bars.setOpts(height=lw.collaborative.astype(float))
        for line in self.code_lines:
            line.setPos(lw.code)
        bottom = max(float(max(lw.collaborative.max(), 1e-3)),
                     self._draw_compare(lw, compare, None if compare is None else compare.collaborative))
        self.top.setYRange(0, 1.08 * float(max(lw.content.max(), 1e-3)), padding=0)
        self.bottom.setYRange(0, 1.08 * bottom, padding=0)
        name = "Collision level" if lw.level == self._depth - 1 else f"Level {lw.level + 1}"
        if not lw.signal:  # short: a long title widens the plot past its cell
            verdict = "no signal (both near uniform)"
            self.setToolTip(f"Normalized entropy of the content / collaborative weights: {lw.content_entropy:.2f} / "
                            f"{lw.collaborative_entropy:.2f} (1 = uniform); at 0.97 and above the top codeword "
                            "is decided by hair-thin differences.")
        else:
            self.setToolTip("")
            verdict = "top codeword moved" if lw.moved else "top codeword kept"
        self.title.setText(f"{name}: code {lw.code} · JS {lw.js:.2f} bits · {verdict}")

    def _draw_compare(self, lw: LevelWeights, compare: LevelWeights | None, weights: np.ndarray | None) -> float:
        """The compared item's ``weights`` as the outline and its code as the dotted line (hidden
        without a comparison); returns their largest weight (0 without one) for the axis range."""
        self.compare_curve.setVisible(compare is not None)
        self.compare_line.setVisible(compare is not None and compare.code != lw.code)
        if compare is None:
            return 0.0
        self.compare_curve.setData(np.arange(self.n_codes + 1) - 0.5, weights.astype(float))
        self.compare_line.setPos(compare.code)
        return float(weights.max())

    def _show_content(self, lw: LevelWeights, compare: LevelWeights | None) -> None:
        """The content chart alone (no RAN): the item's content weights, the compared item's as an
        outline, and the content margin of the item's code in the title."""
        self.content_bars.setOpts(height=lw.content.astype(float))
        self.code_lines[0].setPos(lw.code)
        top = max(float(max(lw.content.max(), 1e-3)),
                  self._draw_compare(lw, compare, None if compare is None else compare.content))
        self.top.setYRange(0, 1.08 * top, padding=0)
        if lw.level == self._depth - 1:
            self.setToolTip("")
            self.title.setText(f"Collision level: code {lw.code} · no content model")
            return
        if lw.own_ratio is not None and lw.own_ratio < 1:
            verdict = f"content prefers {lw.content_argmax}"
        else:
            verdict = "close call" if lw.own_ratio is not None and lw.own_ratio < CLOSE_CALL else "content favours it"
        self.setToolTip(f"Normalized entropy of the content weights: {lw.content_entropy:.2f} (1 = uniform). "
                        "Margin: the content weight of the item's code over the best other codeword's.")
        self.title.setText(f"Level {lw.level + 1}: code {lw.code} · margin {ratio_text(lw.own_ratio)} · {verdict}")

    def clear_weights(self) -> None:
        zeros = np.zeros(self.n_codes)
        self.content_bars.setOpts(height=zeros)
        self.collab_bars.setOpts(height=zeros)
        self.compare_curve.setVisible(False)
        self.compare_line.setVisible(False)
        self.title.setText("")

    def bar_heights(self) -> tuple[np.ndarray, np.ndarray]:
        """``(content, collaborative)`` weights as drawn."""
        return np.asarray(self.content_bars.opts["height"]), np.asarray(self.collab_bars.opts["height"])
