"""One read-only table model for every list a panel shows.

A panel's table is a list of row tuples and a column spec; :class:`RowTableModel` writes the Qt
model API once (row and column counts, header titles and tooltips, flags, right alignment,
sorting), and a subclass only says how a row is shown (:meth:`RowTableModel.display`) and, if it
wants, styles a cell (:meth:`RowTableModel.style`: colours, fonts, tooltips, ``Qt.UserRole``)::

    class HitsModel(RowTableModel):
        COLUMNS = (Column("Item", "The item's title."), Column("Score", "Its score.", right=True))

        def display(self, row, col):
            title, score = self.row(row)
            return (title, f"{score:.3f}")[col]
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

__all__ = ["Column", "RowTableModel"]

_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_Index = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True)
class Column:
    """One column: its header ``title``, the header's ``tooltip``, right-aligned or not."""

    title: str
    tooltip: str = ""
    right: bool = False


class RowTableModel(QAbstractTableModel):
    """A read-only table over a list of row tuples (or any objects); see the module docstring.

    Public: :meth:`set_rows`, :meth:`row`, :meth:`rows_data`, :meth:`rows` (as displayed). With
    ``SORTABLE`` the view may sort it by :meth:`sort_key` (default: the displayed text).
    """

    COLUMNS: tuple[Column, ...] = ()
    SORTABLE = False

    def __init__(self, parent=None):
        super().__init__(parent)
        self._rows: list[Any] = []

    # ---- public ----
    def set_rows(self, rows: Sequence[Any]) -> None:
        """Replace every row (one model reset)."""
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def row(self, row: int) -> Any:
        """The data of ``row`` as it was given."""
        return self._rows[row]

    def rows_data(self) -> list[Any]:
        """Every row's data as given, in display order."""
        return list(self._rows)

    def rows(self) -> list[tuple[str, ...]]:
        """The rows as displayed (tuples of strings), for tests and exports."""
        n = len(self.COLUMNS)
        return [tuple(self.display(r, c) for c in range(n)) for r in range(len(self._rows))]

    # ---- for subclasses ----
    def display(self, row: int, col: int) -> str:  # pragma: no cover - overridden
        """The text of a cell."""
        return str(self._rows[row][col])

    def style(self, row: int, col: int, role: int) -> Any:
        """Any other role of a cell (None: nothing)."""
        return None

    def sort_key(self, row: int, col: int) -> Any:
        """What :meth:`sort` orders by (default: the displayed text)."""
        return self.display(row, col)

    # ---- Qt model API ----
    def rowCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.COLUMNS)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._rows) or not 0 <= index.column() < len(self.COLUMNS):
            return None
        r, c = index.row(), index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self.display(r, c)
        if role == Qt.ItemDataRole.TextAlignmentRole and self.COLUMNS[c].right:
            return _RIGHT
        return self.style(r, c, role)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self.COLUMNS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section].title
        if role == Qt.ItemDataRole.ToolTipRole:
            return self.COLUMNS[section].tooltip or None
        if role == Qt.ItemDataRole.TextAlignmentRole and self.COLUMNS[section].right:
            return _RIGHT
        return None

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not self.SORTABLE or not 0 <= column < len(self.COLUMNS):
            return
        self.layoutAboutToBeChanged.emit()
        keys = [self.sort_key(r, column) for r in range(len(self._rows))]
        order_ = sorted(range(len(self._rows)), key=keys.__getitem__, reverse=order == Qt.SortOrder.DescendingOrder)
        self._rows = [self._rows[i] for i in order_]
        # persistent indexes (a view's selection and current cell) follow their row to its new place
        new_row = {old: new for new, old in enumerate(order_)}
        before = self.persistentIndexList()
        after = [self.index(new_row[i.row()], i.column()) if i.row() in new_row else QModelIndex() for i in before]
        self.changePersistentIndexList(before, after)
        self.layoutChanged.emit()
