"""The cold-start lab's tables, on the shared :class:`~app.widgets.RowTableModel`.

- :class:`ItemRowsModel`: items under the lab item's prefix (``(index, title, brand, category,
  SID, popularity)`` rows); :class:`SessionItemsModel`: the session's injected and retired items
  (``(index, title, state, SID)``). ``Qt.UserRole`` of any cell is the row's item index.
- :class:`ColdItemsModel`: the project's held-out items and their state in the session.
- :class:`TopListModel`: the generative and the hybrid top-k side by side.
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont

from ...widgets import Column, RowTableModel, sid_text
from .results import INJECTED_COLOUR, ITEM_COLOUR, TopEntry

__all__ = ["ItemRowsModel", "SessionItemsModel", "ColdItemsModel", "TopListModel"]

_SORT_ROLE = Qt.ItemDataRole.UserRole + 1  # the raw cell value, for a sort proxy


class ItemRowsModel(RowTableModel):
    """Items, one row each: ``(item index, cell, cell, ...)`` tuples built once per ``set_rows``, so
    painting never touches the catalogue; int cells show with thousands separators."""

    COLUMNS = (Column("Title", "The item's title."), Column("Brand", "The item's brand."),
               Column("Category", "The most specific category of the item's first category path."),
               Column("SID", "The item's semantic ID (codes per level, collision token last)."),
               Column("Popularity", "Interactions with the item in the whole dataset (typed-in items: 0).", right=True))

    def items(self) -> list[int]:
        return [int(r[0]) for r in self.rows_data()]

    def item_at(self, row: int) -> int:
        return int(self.row(row)[0])

    def display(self, row: int, col: int) -> str:
        value = self.row(row)[col + 1]
        return f"{value:,}" if isinstance(value, int) else str(value)

    def style(self, row: int, col: int, role: int):
        if role == Qt.ItemDataRole.ToolTipRole:
            return str(self.row(row)[col + 1])
        if role == Qt.ItemDataRole.UserRole:
            return self.item_at(row)
        return None


class SessionItemsModel(ItemRowsModel):
    """The session's edits: ``(item index, title, "injected" | "retired", SID)`` rows."""

    COLUMNS = (Column("Item", "An item this session injected or retired."),
               Column("State", "Injected: in the session's trie, decodable. Retired: taken out, never generated."),
               Column("SID", "The item's semantic ID."))


class ColdItemsModel(RowTableModel):
    """The project's held-out items: rows ``(index, title, brand, SID text, next for)`` and each
    item's state in the session (held out / injected / retired). ``Qt.UserRole``: the item index;
    ``Qt.UserRole + 1``: the raw cell value (the sort proxy's role)."""

    COLUMNS = (Column("Title", "The held-out item's title."), Column("Brand", "The item's brand."),
               Column("SID", "Its SID from the frozen tokenizer (the project's trie does not hold it)."),
               Column("Next for", "Test users whose next item it is: pick one to see the rank the item gets for "
                                  "them.", right=True),
               Column("State", "Held out: not in the session's trie. Injected: decodable. Retired: taken out again."))

    def __init__(self, parent=None):
        super().__init__(parent)
        self._state: dict[int, str] = {}
        self._row_of: dict[int, int] = {}

    def set_rows(self, rows) -> None:
        self._row_of = {int(r[0]): k for k, r in enumerate(rows)}
        self._state = dict.fromkeys(self._row_of, "held out")
        super().set_rows(rows)

    def set_states(self, states: dict[int, str]) -> None:
        """Show each listed item's state (others keep theirs)."""
        for item, state in states.items():
            self.set_state(item, state)

    def set_state(self, item: int, state: str) -> None:
        row = self._row_of.get(int(item))
        if row is not None and self._state[int(item)] != state:
            self._state[int(item)] = state
            self.dataChanged.emit(self.index(row, 4), self.index(row, 4))

    def state(self, item: int) -> str | None:
        return self._state.get(int(item))

    def row_of(self, item: int) -> int:
        return self._row_of.get(int(item), -1)

    def _value(self, row: int, col: int):
        r = self.row(row)
        return self._state[int(r[0])] if col == 4 else r[col + 1]

    def display(self, row: int, col: int) -> str:
        return str(self._value(row, col))

    def style(self, row: int, col: int, role: int):
        if role == Qt.ItemDataRole.ToolTipRole:
            return self.display(row, col) if col < 3 else self.COLUMNS[col].tooltip
        if role == Qt.ItemDataRole.UserRole:
            return int(self.row(row)[0])
        if role == _SORT_ROLE:
            return self._value(row, col)
        if role == Qt.ItemDataRole.ForegroundRole and col == 4 and self._value(row, col) == "injected":
            return QColor(INJECTED_COLOUR)
        return None


class TopListModel(RowTableModel):
    """Rank 1..k of the generative (beam search on the session trie) and the hybrid list side by
    side; the lab's item is drawn bold orange, other cold or injected items italic. Rows are
    ``(generative entry | None, hybrid entry | None)``. ``Qt.UserRole``: the item index in that
    cell (None for an empty cell)."""

    COLUMNS = (Column("Generative (beam search)", "The generator's top items by SID likelihood, decoded on the "
                                                  "session's trie: injected items can appear, retired ones never."),
               Column("Hybrid (+ SASRec)", "The same candidates plus cold and injected items scored by SASRec and "
                                           "content similarity, mixed with the hybrid weight (at most 3 cold items "
                                           "enter)."))

    def __init__(self, parent=None):
        super().__init__(parent)
        self._item: int | None = None

    def set_lists(self, generative, hybrid, item: int | None) -> None:
        """Show two lists of :class:`~.state.TopEntry`; ``item``: the lab's item (starred)."""
        generative, hybrid = list(generative), list(hybrid or [])
        n = max(len(generative), len(hybrid))
        self._item = item
        self.set_rows([(generative[r] if r < len(generative) else None, hybrid[r] if r < len(hybrid) else None)
                       for r in range(n)])

    def _entry(self, row: int, col: int) -> TopEntry | None:
        return self.row(row)[col]

    def display(self, row: int, col: int):
        e = self._entry(row, col)
        if e is None:
            return None
        tag = " ★" if e.index == self._item else (" (cold)" if e.special else "")
        return f"{e.title or 'item ' + str(e.index)}{tag}"

    def style(self, row: int, col: int, role: int):
        e = self._entry(row, col)
        if e is None:
            return None
        mine = e.index == self._item
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{e.title}\nSID {sid_text(e.sid)}" + ("\nthe lab's item" if mine else "")
        if role == Qt.ItemDataRole.UserRole:
            return e.index
        if role == Qt.ItemDataRole.ForegroundRole and mine:
            return QColor(ITEM_COLOUR)
        if role == Qt.ItemDataRole.FontRole and (mine or e.special):
            font = QFont()
            font.setBold(mine)
            font.setItalic(e.special and not mine)
            return font
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Vertical and role == Qt.ItemDataRole.DisplayRole and section >= 0:
            return str(section + 1)
        return super().headerData(section, orientation, role)
