"""The training monitor's tables: test metrics per generator, tokenizer health per level.

Both are :class:`~app.widgets.RowTableModel` s over dict rows, described by the
:class:`~.state.MetricColumn` specs of :mod:`.state`. ``Qt.UserRole`` gives a cell's raw value.
"""
from __future__ import annotations

from PySide6.QtCore import Qt

from ...widgets import Column, RowTableModel
from .state import HEALTH_COLUMNS, METRIC_COLUMNS, MetricColumn

__all__ = ["MetricsTableModel", "HealthTableModel"]


class _DictRowsModel(RowTableModel):
    """Dict rows shown through ``SPEC`` (value and text per column); cells carry the column's tooltip."""

    SPEC: tuple[MetricColumn, ...] = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.COLUMNS = tuple(Column(c.title, c.tooltip, right=c.right) for c in cls.SPEC)

    def display(self, row: int, col: int) -> str:
        spec = self.SPEC[col]
        return spec.text(spec.value(self.row(row)))

    def style(self, row: int, col: int, role: int):
        if role == Qt.ItemDataRole.UserRole:
            return self.SPEC[col].value(self.row(row))
        if role == Qt.ItemDataRole.ToolTipRole:
            return self.SPEC[col].tooltip
        return None


class MetricsTableModel(_DictRowsModel):
    """One row per trained generator: its metrics.json record (test Recall/NDCG@5/10/20, best epoch,
    training time), and one per variant genrec repro measured beside it without keeping weights.
    Rows carry ``_where`` = "project", "repro" or "working copy"."""

    SPEC = METRIC_COLUMNS


class HealthTableModel(_DictRowsModel):
    """Tokenizer health per level (utilization, dead codes, perplexity, collisions so far); rows
    from :func:`~.state.health_rows`."""

    SPEC = HEALTH_COLUMNS
