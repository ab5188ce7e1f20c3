"""The codebook map's neighbour table model, on the shared :class:`~app.widgets.RowTableModel`."""
from __future__ import annotations

from PySide6.QtCore import Qt

from ...widgets import Column, RowTableModel

__all__ = ["NeighbourTableModel"]


class NeighbourTableModel(RowTableModel):
    """The nearest neighbours of one item: rank, title, SID and cosine distance, nearest first.

    Rows are ``(item, title, sid_text, distance)``. ``Qt.UserRole`` on any cell returns the
    neighbour's item index; the title cell's tooltip is the full title.
    """

    COLUMNS = (
        Column("#", "Rank: 1 is the nearest.", right=True),
        Column("Title", "The neighbour's title."),
        Column("SID", "The neighbour's semantic ID (codes per level, then the collision token)."),
        Column("Distance", "Cosine distance, 1 − cos, in the current space: 0 means the same direction, "
                           "1 unrelated.", right=True),
    )

    def items(self) -> list[int]:
        return [r[0] for r in self.rows_data()]

    def display(self, row: int, col: int) -> str:
        _item, title, sid, dist = self.row(row)
        return (str(row + 1), title, sid, f"{dist:.3f}")[col]

    def style(self, row: int, col: int, role: int):
        if role == Qt.ItemDataRole.UserRole:
            return self.row(row)[0]
        if role == Qt.ItemDataRole.ToolTipRole:
            return self.row(row)[1] if col == 1 else self.COLUMNS[col].tooltip
        return None
