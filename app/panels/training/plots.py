"""The training monitor's two plots: training loss per epoch, validation Recall@10 / NDCG@10.

Every curve is created once in :class:`CurvePlots`; updates only call ``setData``. Dashed grey
curves are the saved run of the selected generator kind, for comparison.
"""
from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QWidget

from ...widgets.crosshair import Crosshair

__all__ = ["CurvePlots", "plot"]

_BLUE, _ORANGE, _GREY, _LIGHT_GREY = "#1f5fbf", "#d9480f", "#9e9e9e", "#c7c7c7"


def plot(title: str, ylabel: str, legend_offset: tuple[int, int] = (-10, 10)) -> pg.PlotWidget:
    """A white plot with readable dark axes and a legend (a negative offset anchors it right/bottom)."""
    w = pg.PlotWidget(background="w")
    w.setMinimumHeight(170)
    item = w.getPlotItem()
    item.setTitle(title, color="#202020", size="10pt")
    item.setLabel("bottom", "epoch", color="#202020")
    item.setLabel("left", ylabel, color="#202020")
    item.showGrid(x=True, y=True, alpha=0.25)
    for axis in ("left", "bottom"):
        item.getAxis(axis).setPen(pg.mkPen("#505050"))
        item.getAxis(axis).setTextPen(pg.mkPen("#202020"))
    item.getAxis("left").enableAutoSIPrefix(False)  # plain values, no "(x0.001)" scaling
    legend = item.addLegend(offset=legend_offset, labelTextColor="#202020")
    legend.setBrush(pg.mkBrush(255, 255, 255, 220))
    return w


def _dashed(widget: pg.PlotWidget, colour: str, name: str | None = None):
    """A saved run's curve: thin, dashed, no symbols."""
    return widget.plot([], [], pen=pg.mkPen(colour, width=1.5, style=Qt.PenStyle.DashLine), name=name)


def _live(widget: pg.PlotWidget, colour: str, name: str, symbol: str, size: int = 5):
    """A live curve: a solid line with a symbol per point."""
    return widget.plot([], [], pen=pg.mkPen(colour, width=2), symbol=symbol, symbolSize=size, symbolBrush=colour,
                       symbolPen=None, name=name)


class CurvePlots(QWidget):
    """The loss plot and the validation plot side by side, with their curves (public attributes):
    ``loss_curve``, ``recall_curve``, ``ndcg_curve`` (this run) and ``ref_loss_curve``,
    ``ref_recall_curve``, ``ref_ndcg_curve`` (the saved run)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.loss_plot = plot("Training loss", "loss")
        self.valid_plot = plot("Validation", "metric", legend_offset=(10, 10))  # curves rise: top left is free
        self.ref_loss_curve = _dashed(self.loss_plot, _GREY, "saved run")
        self.loss_curve = _live(self.loss_plot, _BLUE, "this run", "o", size=4)
        self.ref_recall_curve = _dashed(self.valid_plot, _GREY, "saved run")
        self.ref_ndcg_curve = _dashed(self.valid_plot, _LIGHT_GREY)
        self.recall_curve = _live(self.valid_plot, _BLUE, "Recall@10", "o")
        self.ndcg_curve = _live(self.valid_plot, _ORANGE, "NDCG@10", "s")
        # hover: the exact values at the nearest epoch
        self.loss_crosshair = Crosshair(self.loss_plot, "epoch")
        self.valid_crosshair = Crosshair(self.valid_plot, "epoch")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.loss_plot, 1)
        lay.addWidget(self.valid_plot, 1)

    def show_run(self, loss_x, loss_y, valid_x, recall_y, ndcg_y) -> None:
        """This run's curves (lists, as :meth:`~.state.TrainingState.curves` gives them)."""
        self.loss_curve.setData(loss_x, loss_y)
        self.recall_curve.setData(valid_x, recall_y)
        self.ndcg_curve.setData(valid_x, ndcg_y)

    def show_reference(self, loss_x, loss_y, valid_x, recall_y, ndcg_y) -> None:
        """The saved run's dashed curves."""
        self.ref_loss_curve.setData(loss_x, loss_y)
        self.ref_recall_curve.setData(valid_x, recall_y)
        self.ref_ndcg_curve.setData(valid_x, ndcg_y)
