"""The playground's Qt item models and colours: the history being built, one generator's list, the
history's interest groups. All three are :class:`~app.widgets.RowTableModel` tables."""
from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Sequence

import numpy as np
from PySide6.QtCore import QByteArray, QMimeData, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QFont

from genrec_engine import InterestGroup

from ...widgets import GENERATOR_LABELS, Column, RowTableModel, sid_text
from .state import ResultRow

__all__ = [
    "HistoryModel", "ResultsModel", "GroupsModel", "OVERLAP_COLOURS", "INVALID_COLOUR", "GROUP_COLOURS",
    "group_colour", "tint",
]

OVERLAP_COLOURS = {2: QColor("#fbe3a1"), 3: QColor("#bfe6b8")}  # amber: in two lists, green: in all three
_BADGE_COLOURS = {2: QColor("#8a5a00"), 3: QColor("#1e6b2a")}
INVALID_COLOUR = QColor("#9a9a9a")
#: Qualitative colours for interest groups (the largest group gets the first); they repeat after ten.
GROUP_COLOURS = tuple(QColor(c) for c in ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                                          "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"))
_MIME = "application/x-genrec-history-row"
_Index = QModelIndex | QPersistentModelIndex


def group_colour(rank: int) -> QColor:
    return GROUP_COLOURS[rank % len(GROUP_COLOURS)]


def tint(colour: QColor, alpha: int = 46) -> QColor:
    """``colour`` made translucent, for row backgrounds that keep text readable."""
    c = QColor(colour)
    c.setAlpha(alpha)
    return c


# ------------------------------------------------------------------------------------ history


@dataclass(frozen=True)
class _HistoryRow:
    item: int
    group: int = -1  # rank of its interest group (-1: none)
    prefix: tuple[int, ...] = ()  # the group's SID prefix


class HistoryModel(RowTableModel):
    """The history being built: item indices, oldest first, one row each.

    Rows can be moved by drag and drop (one row at a time) or with :meth:`move`. ``Qt.UserRole``
    of any cell is the row's item index; the row's background is its interest group's tint.
    """

    COLUMNS = (
        Column("#", "Position in the history (1 = oldest); the generators read it oldest first.", right=True),
        Column("Title", "The item's title; the row is tinted with its interest group's colour."),
        Column("SID", "The item's semantic ID."),
        Column("Group", "The interest group: the SID prefix the item shares with other history items."),
    )

    def __init__(self, parent=None):
        super().__init__(parent)
        self._titles: Callable[[int], str] | None = None
        self._codes = np.zeros((0, 0), dtype=np.int64)

    # ---- public ----
    def set_source(self, codes: np.ndarray | None, title: Callable[[int], str] | None) -> None:
        """Item facts of the open project (``codes`` int ``[N, D]``); the rows are cleared."""
        self._codes = np.zeros((0, 0), dtype=np.int64) if codes is None else codes
        self._titles = title
        self.set_rows([])

    def items(self) -> tuple[int, ...]:
        return tuple(r.item for r in self._rows)

    def set_items(self, items: Iterable[int]) -> None:
        self.set_rows([_HistoryRow(int(i)) for i in items])

    def add(self, items: Iterable[int], row: int | None = None) -> None:
        """Insert ``items`` before ``row`` (default: append, as the newest)."""
        new = [_HistoryRow(int(i)) for i in items]
        if not new:
            return
        row = len(self._rows) if row is None else max(0, min(int(row), len(self._rows)))
        self.beginInsertRows(QModelIndex(), row, row + len(new) - 1)
        self._rows[row:row] = new
        self.endInsertRows()

    def remove(self, row: int) -> None:
        if 0 <= row < len(self._rows):
            self.removeRows(row, 1)

    def move(self, row: int, to: int) -> bool:
        """Move the item on ``row`` so that it ends up on row ``to``; False when nothing moved."""
        n = len(self._rows)
        if not (0 <= row < n and 0 <= to < n) or row == to:
            return False
        return self.moveRows(QModelIndex(), row, 1, QModelIndex(), to + 1 if to > row else to)

    def set_groups(self, groups: Sequence[InterestGroup]) -> None:
        """Colour rows by ``groups`` (their rank in the list is the colour); no reset, so the view
        keeps its current row."""
        rows = [replace(r, group=-1, prefix=()) for r in self._rows]
        for rank, g in enumerate(groups):
            for p in g.positions:
                if 0 <= p < len(rows):
                    rows[p] = replace(rows[p], group=rank, prefix=tuple(g.prefix))
        self._rows = rows
        if rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(rows) - 1, len(self.COLUMNS) - 1),
                                  [Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.DecorationRole,
                                   Qt.ItemDataRole.DisplayRole])

    def group_rank(self, row: int) -> int:
        return self._rows[row].group if 0 <= row < len(self._rows) else -1

    # ---- RowTableModel ----
    def display(self, row: int, col: int) -> str:
        r = self._rows[row]
        if col == 0:
            return str(row + 1)
        if col == 1:
            return self._title(r.item)
        if col == 2:
            return sid_text(self._codes[r.item]) if r.item < len(self._codes) else ""
        return sid_text(r.prefix)

    def style(self, row: int, col: int, role: int):
        r = self._rows[row]
        if role == Qt.ItemDataRole.UserRole:
            return r.item
        if role == Qt.ItemDataRole.BackgroundRole and r.group >= 0:
            return tint(group_colour(r.group))
        if role == Qt.ItemDataRole.DecorationRole and col == 3 and r.group >= 0:
            return group_colour(r.group)
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{self._title(r.item)}\nitem index {r.item}" + (
                f"\ninterest group {r.group + 1}" if r.group >= 0 else "")
        return None

    # ---- Qt model API: moves, drag and drop ----
    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.ItemIsDropEnabled  # drops land between rows, never onto one
        return super().flags(index) | Qt.ItemFlag.ItemIsDragEnabled

    def removeRows(self, row: int, count: int, parent: _Index = QModelIndex()) -> bool:
        if parent.isValid() or count < 1 or row < 0 or row + count > len(self._rows):
            return False
        self.beginRemoveRows(QModelIndex(), row, row + count - 1)
        del self._rows[row:row + count]
        self.endRemoveRows()
        return True

    def moveRows(self, sourceParent, sourceRow: int, count: int, destinationParent, destinationChild: int) -> bool:
        """Qt's move: ``destinationChild`` is the row (before the move) the block goes in front of."""
        n = len(self._rows)
        if sourceParent.isValid() or destinationParent.isValid() or count < 1 or sourceRow < 0 or sourceRow + count > n:
            return False
        if sourceRow <= destinationChild <= sourceRow + count or not 0 <= destinationChild <= n:
            return False  # onto itself: nothing to do
        if not self.beginMoveRows(QModelIndex(), sourceRow, sourceRow + count - 1, QModelIndex(), destinationChild):
            return False
        block = self._rows[sourceRow:sourceRow + count]
        del self._rows[sourceRow:sourceRow + count]
        at = destinationChild if destinationChild < sourceRow else destinationChild - count
        self._rows[at:at] = block
        self.endMoveRows()
        return True

    def supportedDropActions(self) -> Qt.DropAction:
        return Qt.DropAction.MoveAction

    def supportedDragActions(self) -> Qt.DropAction:
        return Qt.DropAction.MoveAction

    def mimeTypes(self) -> list[str]:
        return [_MIME]

    def mimeData(self, indexes) -> QMimeData:
        rows = sorted({i.row() for i in indexes if i.isValid()})
        data = QMimeData()
        data.setData(_MIME, QByteArray(struct.pack(f"<{len(rows)}i", *rows)))
        return data

    def dropMimeData(self, data: QMimeData, action: Qt.DropAction, row: int, column: int, parent) -> bool:
        """Move the dragged row in front of ``row`` (onto a row: in front of it; below the last row:
        to the end). Returns False on purpose: the move is already done, and True with a move
        action would make the view delete the source rows a second time."""
        if action != Qt.DropAction.MoveAction or not data.hasFormat(_MIME):
            return False
        raw = bytes(data.data(_MIME).data())
        rows = list(struct.unpack(f"<{len(raw) // 4}i", raw))
        if len(rows) != 1:
            return False
        if row < 0:
            row = parent.row() if parent is not None and parent.isValid() else len(self._rows)
        self.moveRows(QModelIndex(), rows[0], 1, QModelIndex(), row)
        return False

    # ---- private ----
    def _title(self, item: int) -> str:
        text = self._titles(item) if self._titles is not None else ""
        return text or f"item {item}"


# ------------------------------------------------------------------------------------ results


_RANK, _TITLE, _SID, _SCORE, _SHARED = range(5)


class ResultsModel(RowTableModel):
    """One generator's top-k list (rows are :class:`~.state.ResultRow`): rank, title, SID, score
    and how many lists share the item.

    ``ITEM_ROLE`` is the row's item index (-1: the SID names no item), ``OVERLAP_ROLE`` the number
    of lists holding the item (1, 2 or 3; 0 for an invalid SID), ``INVALID_ROLE`` whether the SID
    names no item; ``Qt.UserRole`` the raw cell value.
    """

    COLUMNS = (
        Column("#", "Rank in this generator's list.", right=True),
        Column("Title", "The recommended item; greyed when the generated SID names no item (unconstrained mode)."),
        Column("SID", "The generated semantic ID."),
        Column("Score", "Beam generators: the SID's log-probability (sum over its tokens). SASRec: the item's "
                        "dense score.", right=True),
        Column("Shared", "×2 / ×3: the item is also in one / both of the other generators' lists.", right=True),
    )
    ITEM_ROLE = Qt.ItemDataRole.UserRole + 1
    OVERLAP_ROLE = Qt.ItemDataRole.UserRole + 2
    INVALID_ROLE = Qt.ItemDataRole.UserRole + 3

    def __init__(self, kind: str = "", parent=None):
        super().__init__(parent)
        self.kind = kind
        self._shared: dict[int, tuple[str, ...]] = {}  # item index -> the other lists that hold it

    # ---- public ----
    def set_rows(self, rows: Sequence[ResultRow]) -> None:
        """Show ``rows``; the overlap marks are cleared."""
        self._shared = {}
        super().set_rows(rows)

    def clear(self) -> None:
        self.set_rows(())

    def set_shared(self, shared: dict[int, tuple[str, ...]]) -> None:
        """Mark items that other lists also hold: item index -> names of those lists."""
        self._shared = dict(shared)
        if self._rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._rows) - 1, len(self.COLUMNS) - 1))

    def item_at(self, row: int) -> int:
        return self._rows[row].index

    def items(self) -> tuple[int, ...]:
        return tuple(r.index for r in self._rows)

    # ---- RowTableModel ----
    def _lists(self, r: ResultRow) -> tuple[tuple[str, ...], int]:
        """The other lists holding ``r``'s item, and how many lists hold it (0: invalid SID)."""
        if r.invalid:
            return (), 0
        others = self._shared.get(r.index, ())
        return others, 1 + len(others)

    def display(self, row: int, col: int) -> str:
        r = self._rows[row]
        if col == _RANK:
            return str(r.rank)
        if col == _TITLE:
            return r.title or f"item {r.item_id}"
        if col == _SID:
            return sid_text(r.sid)
        if col == _SCORE:
            return f"{r.score:.3f}"
        n_lists = self._lists(r)[1]
        return f"×{n_lists}" if n_lists >= 2 else ""

    def style(self, row: int, col: int, role: int):
        r = self._rows[row]
        others, n_lists = self._lists(r)
        if role == self.ITEM_ROLE:
            return r.index
        if role == self.OVERLAP_ROLE:
            return n_lists
        if role == self.INVALID_ROLE:
            return r.invalid
        if role == Qt.ItemDataRole.UserRole:
            return (r.rank, r.title, r.sid, r.score, n_lists)[col]
        if role == Qt.ItemDataRole.BackgroundRole and n_lists >= 2:
            return OVERLAP_COLOURS[min(n_lists, 3)]
        if role == Qt.ItemDataRole.ForegroundRole:
            if r.invalid:
                return INVALID_COLOUR
            if col == _SHARED and n_lists >= 2:
                return _BADGE_COLOURS[min(n_lists, 3)]
        if role == Qt.ItemDataRole.FontRole and (r.invalid or (col == _SHARED and n_lists >= 2)):
            font = QFont()
            font.setItalic(r.invalid)
            font.setBold(not r.invalid)
            return font
        if role == Qt.ItemDataRole.ToolTipRole:
            if r.invalid:
                return f"SID {sid_text(r.sid)} names no item: an invalid generation (unconstrained decoding)."
            tip = f"{r.title}\nitem id {r.item_id} · SID {sid_text(r.sid)} · score {r.score:.4f}"
            if others:
                tip += "\nalso recommended by " + " and ".join(GENERATOR_LABELS.get(o, o) for o in others)
            return tip
        return None


# ------------------------------------------------------------------------------------ groups


class GroupsModel(RowTableModel):
    """The interest groups of the history (see :func:`genrec_engine.interest_groups`), largest
    first. ``Qt.UserRole`` is the raw value of a cell (prefix tuple, size, recency, titles tuple)."""

    COLUMNS = (
        Column("Prefix", "The SID prefix the group's items share (its colour tints their history rows)."),
        Column("Items", "How many history items fall in the group.", right=True),
        Column("Recency", "Steps since the group's latest item (0: it holds the newest history item).", right=True),
        Column("Representative titles", "The group's newest items (up to three)."),
    )

    def set_groups(self, groups: Sequence[InterestGroup]) -> None:
        self.set_rows(groups)

    def groups(self) -> list[InterestGroup]:
        return self.rows_data()

    def display(self, row: int, col: int) -> str:
        g = self._rows[row]
        return (sid_text(g.prefix), str(g.size), str(g.recency), " · ".join(g.titles))[col]

    def style(self, row: int, col: int, role: int):
        g = self._rows[row]
        if role == Qt.ItemDataRole.UserRole:
            return (tuple(g.prefix), g.size, g.recency, tuple(g.titles))[col]
        if role == Qt.ItemDataRole.DecorationRole and col == 0:
            return group_colour(row)
        if role == Qt.ItemDataRole.BackgroundRole:
            return tint(group_colour(row))
        if role == Qt.ItemDataRole.ToolTipRole:
            return "\n".join(g.titles) if col == 3 else self.COLUMNS[col].tooltip
        return None
