"""The codeword-weights panel's tables, on the shared :class:`~app.widgets.RowTableModel`.

- :class:`RankingModel`: every item (``N`` rows) ranked by how far its collaborative weights moved
  from its content weights; sorted with NumPy (one argsort per header click).
- :class:`LevelWeightsModel`: one row per SID level of the item shown.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from genrec_engine import LevelWeights

from ...widgets import ERROR_COLOUR, MUTED_COLOUR, Column, RowTableModel
from .state import level_name

__all__ = ["RankingModel", "LevelWeightsModel", "ranking_columns", "LEVEL_COLUMNS"]

_USER = Qt.ItemDataRole.UserRole
_TIP = Qt.ItemDataRole.ToolTipRole
_FOREGROUND = Qt.ItemDataRole.ForegroundRole
_CENTRE = int(Qt.AlignmentFlag.AlignCenter)


def ranking_columns(depth: int) -> tuple[Column, ...]:
    """Item, mean JS, then one column per SID level (``L1``.. and ``Coll.``)."""
    levels = tuple(
        Column(level_name(l, depth), f"JS divergence (bits) at SID level {level_name(l, depth)}; * marks a level "
               "where the collaborative weights' most likely codeword differs from the content's.", right=True)
        for l in range(depth))
    return (Column("Item", "The item's title."),
            Column("Mean JS", "Jensen-Shannon divergence between content and collaborative weights, in bits "
                   "(0 = identical, 1 = disjoint), averaged over the SID levels.", right=True)) + levels


class RankingModel(RowTableModel):
    """Every item, ranked by how far its collaborative weights moved from its content weights.

    A row is an item index. Columns: item title, mean JS over levels, then JS per level; a level
    cell whose argmax moved shows a red ``*``. ``Qt.UserRole`` gives the raw sort value of a cell
    (the title or a float), ``ITEM_ROLE`` the row's item index, ``MOVED_ROLE`` a level cell's moved
    flag. Sorting (the view's header) reorders rows with one NumPy argsort and keeps the view's
    selection on its item.
    """

    ITEM_ROLE = Qt.ItemDataRole.UserRole + 1
    MOVED_ROLE = Qt.ItemDataRole.UserRole + 2
    SORTABLE = True

    def __init__(self, parent=None):
        super().__init__(parent)
        self.COLUMNS = ranking_columns(0)
        self._titles = np.zeros(0, dtype=object)  # [N] str
        self._ids = np.zeros(0, dtype=np.int64)  # [N] catalogue item ids
        self._js = np.zeros((0, 0), dtype=np.float32)  # [N, D] bits
        self._moved = np.zeros((0, 0), dtype=bool)  # [N, D]
        self._signal = np.zeros((0, 0), dtype=bool)  # [N, D]: False = both distributions near uniform
        self._grey = QColor(MUTED_COLOUR)
        self._mean = np.zeros(0, dtype=np.float32)  # [N]
        self._row_of = np.zeros(0, dtype=np.int64)  # [N] item index -> row
        self._red = QColor(ERROR_COLOUR)

    # ---- public ----
    def set_ranking(self, titles, item_ids, js: np.ndarray, moved: np.ndarray, order: np.ndarray | None = None,
                    signal: np.ndarray | None = None) -> None:
        """Show a new ranking (``js``/``moved`` ``[N, D]``) in ``order`` (default: by mean JS,
        largest first). ``signal`` ``[N, D]``: False where both distributions are near uniform
        (those cells are greyed and say so)."""
        js = np.asarray(js, dtype=np.float32)
        mean = js.mean(1) if js.size else np.zeros(len(js), dtype=np.float32)
        if order is None:
            order = np.argsort(-mean, kind="stable")
        self.beginResetModel()
        self.COLUMNS = ranking_columns(int(js.shape[1]) if js.ndim == 2 else 0)
        self._titles = np.asarray([str(t) for t in titles], dtype=object)
        self._ids = np.asarray(item_ids)
        self._js, self._moved, self._mean = js, np.asarray(moved, dtype=bool), mean
        self._signal = np.ones_like(self._moved) if signal is None else np.asarray(signal, dtype=bool)
        self._set_order(np.asarray(order, dtype=np.int64))
        self.endResetModel()

    def clear(self) -> None:
        self.set_ranking([], np.zeros(0, np.int64), np.zeros((0, 0), np.float32), np.zeros((0, 0), bool))

    @property
    def depth(self) -> int:
        return len(self.COLUMNS) - 2

    def item_at(self, row: int) -> int:
        """The item index shown on ``row``."""
        return self._rows[row]

    def row_of(self, item: int) -> int:
        """The row showing ``item``."""
        return int(self._row_of[item])

    def mean_js(self, item: int) -> float:
        return float(self._mean[item])

    # ---- RowTableModel ----
    def display(self, row: int, col: int) -> str:
        item = self._rows[row]
        if col == 0:
            return self._titles[item] or f"item {self._ids[item]}"
        if col == 1:
            return f"{self._mean[item]:.3f}"
        return f"{self._js[item, col - 2]:.2f}" + ("*" if self._moved[item, col - 2] else "\u2009")

    def style(self, row: int, col: int, role: int):
        item = self._rows[row]
        if role == self.ITEM_ROLE:
            return item
        moved = col >= 2 and bool(self._moved[item, col - 2])
        if role == self.MOVED_ROLE:
            return moved if col >= 2 else None
        if role == _USER:
            return self.sort_key(row, col)
        flat = col >= 2 and not bool(self._signal[item, col - 2])
        if role == _FOREGROUND and moved:
            return self._red
        if role == _FOREGROUND and flat:
            return self._grey
        if role == _TIP:
            if col == 0:
                return f"{self._titles[item]}\nitem id {self._ids[item]} (index {item})"
            return self.COLUMNS[col].tooltip + ("\n* the top codeword moved at this level." if moved else "") + (
                "\nGrey: no signal, both weight distributions are near uniform here." if flat else "")
        return None

    def sort_key(self, row: int, col: int):
        item = self._rows[row]
        if col == 0:
            return str(self._titles[item])
        return float(self._mean[item] if col == 1 else self._js[item, col - 2])

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < self.columnCount() or not self._rows:
            return
        keys = self._column_keys(column)
        if order == Qt.SortOrder.DescendingOrder:
            new = np.argsort(-keys, kind="stable") if column else np.argsort(keys, kind="stable")[::-1]
        else:
            new = np.argsort(keys, kind="stable")
        self.layoutAboutToBeChanged.emit()
        old = self.persistentIndexList()
        items = [self._rows[p.row()] for p in old]
        self._set_order(np.ascontiguousarray(new, dtype=np.int64))
        self.changePersistentIndexList(old, [self.index(self.row_of(i), p.column()) for i, p in zip(items, old)])
        self.layoutChanged.emit()

    # ---- private ----
    def _set_order(self, order: np.ndarray) -> None:
        self._rows = order.tolist()
        self._row_of = np.argsort(order)

    def _column_keys(self, column: int) -> np.ndarray:
        """``[N]`` sort keys of a column, by item index: lower-cased titles or floats."""
        if column == 0:
            return np.char.lower(self._titles.astype(str)) if len(self._titles) else self._titles
        return self._mean if column == 1 else self._js[:, column - 2]


LEVEL_COLUMNS = (
    Column("Level", "Position in the semantic ID; the last level is the collision token."),
    Column("SID code", "The item's code at this level (the dashed line in the chart)."),
    Column("Content", "Top codeword: the one the tokenizer's content weights favour most."),
    Column("Collab.", "Top codeword: the one the RAN's collaborative weights favour most."),
    Column("JS (bits)", "Jensen-Shannon divergence between the two weight vectors: 0 = identical, 1 = disjoint."),
    Column("Moved?", "Yes when the collaborative weights' most likely codeword differs from the content's; "
                     "'no signal' when both distributions are near uniform (their top codewords mean little)."),
    Column("vs compared", "JS divergence between this item's and the compared item's collaborative weights."),
)


class LevelWeightsModel(RowTableModel):
    """One row per SID level of the shown item (a :class:`~genrec_engine.LevelWeights`): its code,
    both argmaxes, JS, the moved flag and the JS to the compared item. Cells are centred;
    ``Qt.UserRole`` returns raw values (the JS as a float, the moved flag as a bool)."""

    COLUMNS = LEVEL_COLUMNS

    def __init__(self, parent=None):
        super().__init__(parent)
        self._compare_js: np.ndarray | None = None  # [D] bits, or None
        self._red = QColor(ERROR_COLOUR)

    def set_levels(self, levels: list[LevelWeights], compare_js: np.ndarray | None = None) -> None:
        self._compare_js = None if compare_js is None else np.asarray(compare_js)
        self.set_rows(levels)

    def value(self, row: int, col: int):
        """The raw value of a cell (``Qt.UserRole``)."""
        lw: LevelWeights = self.row(row)
        if col == 0:
            return level_name(lw.level, self.rowCount())
        if col == 6:
            return None if self._compare_js is None else float(self._compare_js[lw.level])
        return (None, lw.code, lw.content_argmax, lw.collaborative_argmax, lw.js, lw.moved and lw.signal)[col]

    def display(self, row: int, col: int) -> str:
        value = self.value(row, col)
        if col == 4:
            return f"{value:.3f}"
        if col == 5:
            return "yes" if value else ("no signal" if not self.row(row).signal else "no")
        if col == 6:
            return "–" if value is None else f"{value:.3f}"
        return str(value)

    def style(self, row: int, col: int, role: int):
        if role == _USER:
            return self.value(row, col)
        if role == _FOREGROUND and col == 5 and self.value(row, col):
            return self._red
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _CENTRE
        if role == _TIP:
            return self.COLUMNS[col].tooltip
        return None
