"""The overview's per-level codebook table, on the shared :class:`~app.widgets.RowTableModel`."""
from __future__ import annotations

from PySide6.QtCore import Qt

from ...widgets import Column, RowTableModel
from .state import LEVEL_COLUMNS, level_text

__all__ = ["LevelTableModel"]

_CENTRE = int(Qt.AlignmentFlag.AlignCenter)


class LevelTableModel(RowTableModel):
    """One row per codebook level (collision level excluded), one column per ``LEVEL_COLUMNS`` entry.

    Rows are the engine's ``LevelStats``. ``Qt.UserRole`` returns the raw number (for sorting and
    tests), ``DisplayRole`` the formatted text; every cell's tooltip is its column's meaning. The
    "Level" column is centred, the figures right-aligned.
    """

    COLUMNS = tuple(Column(c.header, c.tooltip, right=i > 0) for i, c in enumerate(LEVEL_COLUMNS))

    def set_levels(self, levels) -> None:
        self.set_rows(levels)

    def display(self, row: int, col: int) -> str:
        return level_text(self.row(row), col)

    def style(self, row: int, col: int, role: int):
        if role == Qt.ItemDataRole.UserRole:
            return LEVEL_COLUMNS[col].value(self.row(row))
        if role == Qt.ItemDataRole.TextAlignmentRole and col == 0:
            return _CENTRE
        if role == Qt.ItemDataRole.ToolTipRole:
            return LEVEL_COLUMNS[col].tooltip
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.TextAlignmentRole and orientation == Qt.Orientation.Horizontal and section == 0:
            return _CENTRE
        return super().headerData(section, orientation, role)
