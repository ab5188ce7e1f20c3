"""The codeword-weights panel's tables, on the shared :class:`~app.widgets.RowTableModel`.

- :class:`RankingModel`: every item (``N`` rows) ranked by how far its collaborative weights moved
  from its content weights, or (a project without a RAN) by the content margin of its own code;
  sorted with NumPy (one argsort per header click).
- :class:`LevelWeightsModel`: one row per SID level of the item shown.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from genrec_engine import LevelWeights

from ...widgets import ERROR_COLOUR, MUTED_COLOUR, Column, RowTableModel
from .jobs import CONTENT, DIVERGENCE
from .state import level_name, ratio_text

__all__ = ["RankingModel", "LevelWeightsModel", "ranking_columns", "LEVEL_COLUMNS", "CONTENT_LEVEL_COLUMNS"]

_USER = Qt.ItemDataRole.UserRole
_TIP = Qt.ItemDataRole.ToolTipRole
_FOREGROUND = Qt.ItemDataRole.ForegroundRole
_CENTRE = int(Qt.AlignmentFlag.AlignCenter)


def ranking_columns(depth: int, kind: str = DIVERGENCE) -> tuple[Column, ...]:
    """Item, the summary, then one column per ranked SID level: for :data:`~.jobs.DIVERGENCE` the
    mean JS and every level (``L1``.. and ``Coll.``), for :data:`~.jobs.CONTENT` the weakest
    content margin and the quantizer levels (the collision level has no content model)."""
    if kind == CONTENT:
        levels = tuple(
            Column(level_name(l, depth), f"Content margin at SID level {level_name(l, depth)}: the content weight of "
                   "the item's own code over the best other codeword's (1 = a tie). * marks a level where the "
                   "content prefers another codeword (below 1).", right=True)
            for l in range(max(depth - 1, 0)))
        return (Column("Item", "The item's title."),
                Column("Weakest", "The smallest content margin over the quantizer levels: how narrowly the "
                       "content supports the item's SID where it supports it least (below 1: it prefers "
                       "another codeword somewhere).", right=True)) + levels
    levels = tuple(
        Column(level_name(l, depth), f"JS divergence (bits) at SID level {level_name(l, depth)}; * marks a level "
               "where the collaborative weights' most likely codeword differs from the content's.", right=True)
        for l in range(depth))
    return (Column("Item", "The item's title."),
            Column("Mean JS", "Jensen-Shannon divergence between content and collaborative weights, in bits "
                   "(0 = identical, 1 = disjoint), averaged over the SID levels.", right=True)) + levels


def _margin_cell(value: float) -> str:
    """A content margin in a ranking cell: three decimals near 1, fewer when large."""
    if not np.isfinite(value):
        return "–"
    return f"{value:.3f}" if value < 10 else (f"{value:.1f}" if value < 1000 else f"{value:.0f}")


class RankingModel(RowTableModel):
    """Every item, ranked (see :func:`ranking_columns` for the two kinds).

    A row is an item index. Columns: item title, the summary (mean JS, or the weakest content
    margin), then the value per ranked level; a flagged level cell (the top codeword moved, or the
    content prefers another codeword) shows a red ``*``. ``Qt.UserRole`` gives the raw sort value
    of a cell (the title or a float), ``ITEM_ROLE`` the row's item index, ``MOVED_ROLE`` a level
    cell's flag. Sorting (the view's header) reorders rows with one NumPy argsort and keeps the
    view's selection on its item.
    """

    ITEM_ROLE = Qt.ItemDataRole.UserRole + 1
    MOVED_ROLE = Qt.ItemDataRole.UserRole + 2
    SORTABLE = True

    def __init__(self, parent=None):
        super().__init__(parent)
        self.kind = DIVERGENCE
        self.COLUMNS = ranking_columns(0)
        self._titles = np.zeros(0, dtype=object)  # [N] str
        self._ids = np.zeros(0, dtype=np.int64)  # [N] catalogue item ids
        self._values = np.zeros((0, 0), dtype=np.float32)  # [N, C]: JS bits or content margins
        self._flags = np.zeros((0, 0), dtype=bool)  # [N, C]
        self._signal = np.zeros((0, 0), dtype=bool)  # [N, C]: False = near-uniform weights
        self._grey = QColor(MUTED_COLOUR)
        self._summary = np.zeros(0, dtype=np.float32)  # [N]
        self._row_of = np.zeros(0, dtype=np.int64)  # [N] item index -> row
        self._red = QColor(ERROR_COLOUR)

    # ---- public ----
    def set_ranking(self, titles, item_ids, values: np.ndarray, flags: np.ndarray, order: np.ndarray | None = None,
                    signal: np.ndarray | None = None, *, kind: str = DIVERGENCE, depth: int | None = None,
                    summary: np.ndarray | None = None) -> None:
        """Show a new ranking (``values``/``flags`` ``[N, C]``) in ``order``. ``kind``
        :data:`~.jobs.DIVERGENCE`: JS per level, summary the mean, default order largest first;
        :data:`~.jobs.CONTENT`: content margins per quantizer level (``depth`` the SID depth, default
        ``C + 1``), summary the smallest, default order smallest first. ``summary`` ``[N]``: the
        engine's (a :class:`~.jobs.Ranking`'s), else computed here by the same rule. ``signal``
        ``[N, C]``: False where the weights are near uniform (those cells are greyed and say so)."""
        values = np.asarray(values, dtype=np.float32)
        C = int(values.shape[1]) if values.ndim == 2 else 0
        content = kind == CONTENT
        if summary is None:
            summary = ((values.min(1) if C else np.full(len(values), np.inf, dtype=np.float32)) if content
                       else (values.mean(1) if values.size else np.zeros(len(values), dtype=np.float32)))
        summary = np.asarray(summary, dtype=np.float32)
        if order is None:
            order = np.argsort(summary if content else -summary, kind="stable")
        if depth is None:
            depth = C + 1 if content else C
        self.beginResetModel()
        self.kind = kind
        self.COLUMNS = ranking_columns(depth, kind)
        self._titles = np.asarray([str(t) for t in titles], dtype=object)
        self._ids = np.asarray(item_ids)
        self._values, self._flags, self._summary = values, np.asarray(flags, dtype=bool), summary
        self._signal = np.ones_like(self._flags) if signal is None else np.asarray(signal, dtype=bool)
        self._set_order(np.asarray(order, dtype=np.int64))
        self.endResetModel()

    def clear(self) -> None:
        self.set_ranking([], np.zeros(0, np.int64), np.zeros((0, 0), np.float32), np.zeros((0, 0), bool))

    @property
    def depth(self) -> int:
        """Ranked levels (columns after the summary)."""
        return len(self.COLUMNS) - 2

    def item_at(self, row: int) -> int:
        """The item index shown on ``row``."""
        return self._rows[row]

    def row_of(self, item: int) -> int:
        """The row showing ``item``."""
        return int(self._row_of[item])

    def summary(self, item: int) -> float:
        """The item's summary value (mean JS, or weakest content margin)."""
        return float(self._summary[item])

    # ---- RowTableModel ----
    def display(self, row: int, col: int) -> str:
        item = self._rows[row]
        if col == 0:
            return self._titles[item] or f"item {self._ids[item]}"
        content = self.kind == CONTENT
        if col == 1:
            return _margin_cell(self._summary[item]) if content else f"{self._summary[item]:.3f}"
        value = self._values[item, col - 2]
        return (_margin_cell(value) if content else f"{value:.2f}") + ("*" if self._flags[item, col - 2] else "\u2009")

    def style(self, row: int, col: int, role: int):
        item = self._rows[row]
        if role == self.ITEM_ROLE:
            return item
        flagged = col >= 2 and bool(self._flags[item, col - 2])
        if role == self.MOVED_ROLE:
            return flagged if col >= 2 else None
        if role == _USER:
            return self.sort_key(row, col)
        flat = col >= 2 and not bool(self._signal[item, col - 2])
        if role == _FOREGROUND and flagged:
            return self._red
        if role == _FOREGROUND and flat:
            return self._grey
        if role == _TIP:
            if col == 0:
                return f"{self._titles[item]}\nitem id {self._ids[item]} (index {item})"
            what = ("\n* the content prefers another codeword at this level." if self.kind == CONTENT
                    else "\n* the top codeword moved at this level.")
            grey = ("\nGrey: the content weights are near uniform here." if self.kind == CONTENT
                    else "\nGrey: no signal, both weight distributions are near uniform here.")
            return self.COLUMNS[col].tooltip + (what if flagged else "") + (grey if flat else "")
        return None

    def sort_key(self, row: int, col: int):
        item = self._rows[row]
        if col == 0:
            return str(self._titles[item])
        return float(self._summary[item] if col == 1 else self._values[item, col - 2])

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
        return self._summary if column == 1 else self._values[:, column - 2]


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


CONTENT_LEVEL_COLUMNS = (
    LEVEL_COLUMNS[0], LEVEL_COLUMNS[1], LEVEL_COLUMNS[2],
    Column("Margin", "Content margin: the content weight of the item's own code over the best other codeword's. "
                     "Above 1 the content favours the code by that factor; near 1 it was a close call; below 1 "
                     "(red) the content prefers another codeword. None at the collision level (no content model)."),
    Column("vs compared", "JS divergence between this item's and the compared item's content weights."),
)


class LevelWeightsModel(RowTableModel):
    """One row per SID level of the shown item (a :class:`~genrec_engine.LevelWeights`): its code,
    both argmaxes, JS, the moved flag and the JS to the compared item; for levels without
    collaborative weights (no RAN: :data:`CONTENT_LEVEL_COLUMNS`) its code, the content's top
    codeword, the content margin and the JS to the compared item's content weights. Cells are
    centred; ``Qt.UserRole`` returns raw values (the JS and margin as floats, the moved flag as a bool)."""

    COLUMNS = LEVEL_COLUMNS

    def __init__(self, parent=None):
        super().__init__(parent)
        self._compare_js: np.ndarray | None = None  # [D] bits, or None
        self._red = QColor(ERROR_COLOUR)

    @property
    def content_only(self) -> bool:
        return self.COLUMNS is CONTENT_LEVEL_COLUMNS

    def set_levels(self, levels: list[LevelWeights], compare_js: np.ndarray | None = None) -> None:
        self._compare_js = None if compare_js is None else np.asarray(compare_js)
        columns = CONTENT_LEVEL_COLUMNS if levels and not levels[0].has_collaborative else LEVEL_COLUMNS
        if columns is not self.COLUMNS:
            self.beginResetModel()
            self.COLUMNS = columns
            self.endResetModel()
        self.set_rows(levels)

    def value(self, row: int, col: int):
        """The raw value of a cell (``Qt.UserRole``)."""
        lw: LevelWeights = self.row(row)
        if col == 0:
            return level_name(lw.level, self.rowCount())
        if col == len(self.COLUMNS) - 1:
            return None if self._compare_js is None else float(self._compare_js[lw.level])
        if self.content_only:
            return (None, lw.code, lw.content_argmax, lw.own_ratio)[col]
        return (None, lw.code, lw.content_argmax, lw.collaborative_argmax, lw.js, lw.moved and lw.signal)[col]

    def display(self, row: int, col: int) -> str:
        value = self.value(row, col)
        if col == len(self.COLUMNS) - 1:
            return "–" if value is None else f"{value:.3f}"
        if self.content_only:
            return ratio_text(value) if col == 3 else str(value)
        if col == 4:
            return f"{value:.3f}"
        if col == 5:
            return "yes" if value else ("no signal" if not self.row(row).signal else "no")
        return str(value)

    def _flagged(self, row: int, col: int) -> bool:
        value = self.value(row, col)
        if self.content_only:
            return col == 3 and value is not None and value < 1
        return col == 5 and bool(value)

    def style(self, row: int, col: int, role: int):
        if role == _USER:
            return self.value(row, col)
        if role == _FOREGROUND and self._flagged(row, col):
            return self._red
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _CENTRE
        if role == _TIP:
            return self.COLUMNS[col].tooltip
        return None
