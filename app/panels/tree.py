"""SID tree panel: browse the prefix trie of semantic IDs level by level, with the items under a node.

The tree is a lazy :class:`QAbstractItemModel` over the project's :class:`~genrec_engine.PrefixTrie`:
a node's children are created only when it is expanded (``canFetchMore``/``fetchMore``), so a
trie of a million items opens with just the root's children. Beside it, a sortable table lists the
items under the selected node. A search box finds a node by item title, item id or SID prefix, and
the selected subtree exports to CSV or GraphML through the engine's :func:`~genrec_engine.export_subtree`.

Source name in the linked selection: ``"tree"``.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from PySide6.QtCore import (
    QAbstractItemModel,
    QAbstractTableModel,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
    Slot,
)
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QSizePolicy,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableView,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from genrec_engine import PrefixTrie, export_subtree

from ..bridge import EngineBridge
from ..selection import Selection, SelectionEvent
from . import ProjectSnapshot, ProjectViewModel
from ..widgets import ERROR_COLOUR as _ERROR_COLOUR, centred_column as _centred_column, heading as _heading

__all__ = [
    "SOURCE",
    "TREE_COLUMNS",
    "ITEM_COLUMNS",
    "SidTreeModel",
    "ItemsTableModel",
    "SearchResult",
    "parse_query",
    "search_items",
    "TreePanel",
]

#: This panel's name in :class:`~app.selection.SelectionEvent.source`.
SOURCE = "tree"

_COLLISION_COLOUR = QColor("#b35900")  # dark amber: collision groups


def _prefix_text(prefix: Sequence[int]) -> str:
    """``(12, 48)`` -> ``"12-48"``; the root is ``"(root)"``."""
    return "-".join(str(int(t)) for t in prefix) if len(prefix) else "(root)"


# ------------------------------------------------------------------------------------ tree model

#: (header, tooltip) of the tree's columns.
TREE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("Code", "The node's own code: the token chosen at this level."),
    ("Prefix", "The codes from level 1 down to this node: every item below starts its SID with them."),
    ("Items", "Items whose semantic ID starts with this prefix."),
    ("Level", "Depth in the SID. 1 is the coarsest code; 'collision' is the extra token that tells apart "
              "items sharing all L codes."),
    ("Collision", "At the last codebook level: how many items share this whole L-code tuple (more than one "
                  "means the collision token is needed to tell them apart)."),
    ("Item", "The item's title, on rows that hold exactly one item."),
)
_COL_CODE, _COL_PREFIX, _COL_ITEMS, _COL_LEVEL, _COL_COLLISION, _COL_ITEM = range(len(TREE_COLUMNS))


class _Node:
    """One fetched trie node as the model holds it (``children`` is None until fetched)."""

    __slots__ = ("level", "tid", "count", "prefix", "parent", "row", "children", "item")

    def __init__(self, level: int, tid: int, count: int, prefix: tuple[int, ...], parent: int, row: int):
        self.level = level  # 0 = root
        self.tid = tid  # node id in the trie at this level
        self.count = count  # live items under it
        self.prefix = prefix
        self.parent = parent  # model id of the parent node (-1 for the root)
        self.row = row  # row under the parent
        self.children: list[int] | None = None  # model ids, by token; None = not fetched yet
        self.item = -2  # the single item under the node (-1: more than one); -2: not looked up yet


class SidTreeModel(QAbstractItemModel):
    """Lazy tree over a :class:`PrefixTrie`: one row per live node, children fetched on expansion.

    Nodes are created in ``fetchMore`` only (``rowCount`` of an unexpanded node is 0 while
    ``hasChildren`` is True), so the cost follows what the user opened, not the trie size.
    ``Qt.UserRole`` returns raw values (token, prefix tuple, count, level, collision group size,
    item index); ``DisplayRole`` the text.
    """

    def __init__(self, parent=None):
        super().__init__(parent)
        self._trie: PrefixTrie | None = None
        self._levels = 0  # L: codebook levels; level L + 1 (if the trie has it) is the collision level
        self._title: Callable[[int], str] | None = None
        self._nodes: list[_Node] = []
        self._in_change = False  # inside a begin/end row change (fetchMore, update_trie)

    # ---- public ----
    def set_trie(self, trie: PrefixTrie | None, *, levels: int | None = None,
                 title: Callable[[int], str] | None = None) -> None:
        """Show ``trie`` (None: nothing). ``levels`` is L, the codebook levels (default: all but the
        last trie level, which is then the collision level); ``title(item)`` names an item."""
        self.beginResetModel()
        self._trie, self._title = trie, title
        self._nodes = []
        if trie is not None:
            self._levels = trie.depth - 1 if levels is None else int(levels)
            root = _Node(0, 0, trie.num_items, (), -1, 0)
            self._nodes.append(root)
            self._create_children(0)  # the root's children are always there
        self.endResetModel()

    def update_trie(self, trie: PrefixTrie, *, title: Callable[[int], str] | None = None) -> None:
        """Show ``trie``, a changed version of the trie on screen (the same levels, some items added
        or removed, e.g. by the cold-start lab), keeping what the user expanded and selected.

        Every fetched node is matched by its prefix, top down: its count is refreshed, children
        that died are removed and new ones inserted (row signals, so views keep their state). Cost:
        one ``children`` lookup per fetched node with fetched children."""
        if self._trie is None or not self._nodes or trie.level_sizes != self._trie.level_sizes:
            self.set_trie(trie, levels=self._levels or None, title=title or self._title)
            return
        self._trie = trie
        if title is not None:
            self._title = title
        root = self._nodes[0]
        root.count = trie.num_items
        self._reconcile(0, QModelIndex())

    @property
    def trie(self) -> PrefixTrie | None:
        return self._trie

    @property
    def levels(self) -> int:
        return self._levels

    def fetched_nodes(self) -> int:
        """Nodes created so far, the root included (what laziness keeps small)."""
        return len(self._nodes)

    def fetched_parents(self) -> int:
        """Nodes whose children have been fetched, the root included."""
        return sum(1 for n in self._nodes if n.children is not None)

    def prefix(self, index: QModelIndex | QPersistentModelIndex) -> tuple[int, ...]:
        """The SID prefix of the node at ``index`` (``()`` for an invalid index: the root)."""
        return self._node(index).prefix if index.isValid() else ()

    def node_level(self, index: QModelIndex | QPersistentModelIndex) -> int:
        return self._node(index).level if index.isValid() else 0

    def items(self, index: QModelIndex | QPersistentModelIndex) -> np.ndarray:
        """Sorted item indices under the node at ``index`` (all items for the root)."""
        if self._trie is None:
            return np.zeros(0, dtype=np.int64)
        node = self._node(index) if index.isValid() else self._nodes[0]
        return self._trie.items_under(node.level, node.tid)

    def is_collision_group(self, index: QModelIndex | QPersistentModelIndex) -> bool:
        """True for a node at level L shared by more than one item (its children differ only in the
        collision token)."""
        return index.isValid() and self._collision_size(self._node(index)) > 1

    def index_for_prefix(self, prefix: Sequence[int]) -> QModelIndex:
        """The column-0 index of the node ``prefix``, fetching the nodes on the way; invalid when
        the prefix is not in the trie (or is the root)."""
        if self._trie is None:
            return QModelIndex()
        node_id = 0
        index = QModelIndex()
        for token in prefix:
            node = self._nodes[node_id]
            if node.level >= self._trie.depth:
                return QModelIndex()
            if node.children is None:
                self.fetchMore(index)
            kids = node.children or []
            tokens = [self._nodes[k].prefix[-1] for k in kids]
            row = int(np.searchsorted(tokens, int(token))) if tokens else 0
            if row >= len(tokens) or tokens[row] != int(token):
                return QModelIndex()
            node_id = kids[row]
            index = self.createIndex(row, 0, node_id)
        return index

    # ---- Qt model API ----
    def index(self, row: int, column: int, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> QModelIndex:
        if not self.hasIndex(row, column, parent):
            return QModelIndex()
        pid = parent.internalId() if parent.isValid() else 0
        kids = self._nodes[pid].children
        if kids is None or not 0 <= row < len(kids):
            return QModelIndex()
        return self.createIndex(row, column, kids[row])

    def parent(self, index=None):  # noqa: D401 - Qt's overloaded parent()
        if index is None:  # QObject.parent()
            return super().parent()
        if not index.isValid() or not self._nodes:
            return QModelIndex()
        node = self._nodes[index.internalId()]
        if node.parent <= 0:
            return QModelIndex()
        up = self._nodes[node.parent]
        return self.createIndex(up.row, 0, node.parent)

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        if not self._nodes:
            return 0
        if parent.isValid():
            if parent.column() != 0:
                return 0
            kids = self._nodes[parent.internalId()].children
        else:
            kids = self._nodes[0].children
        return len(kids) if kids is not None else 0

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return len(TREE_COLUMNS)

    def hasChildren(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> bool:
        if self._trie is None or not self._nodes:
            return False
        if not parent.isValid():
            return bool(self._nodes[0].children)
        if parent.column() != 0:
            return False
        node = self._nodes[parent.internalId()]
        if node.children is not None:
            return bool(node.children)
        return node.level < self._trie.depth and node.count > 0

    def canFetchMore(self, parent: QModelIndex | QPersistentModelIndex) -> bool:
        if self._trie is None or not parent.isValid() or parent.column() != 0 or self._in_change:
            return False  # (while rows are inserted or removed, a listener must not nest another change)
        node = self._nodes[parent.internalId()]
        return node.children is None and node.level < self._trie.depth

    def fetchMore(self, parent: QModelIndex | QPersistentModelIndex) -> None:
        if not self.canFetchMore(parent):
            return
        node_id = parent.internalId()
        node = self._nodes[node_id]
        kids = self._trie.children(node.level, node.tid)
        if not kids:
            node.children = []
            return
        self._in_change = True
        try:
            self.beginInsertRows(parent, 0, len(kids) - 1)
            self._create_children(node_id, kids)
            self.endInsertRows()
        finally:
            self._in_change = False

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or self._trie is None:
            return None
        node = self._nodes[index.internalId()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(node, col)
        if role == Qt.ItemDataRole.UserRole:
            return self._raw(node, col)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(node)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            if col in (_COL_ITEMS, _COL_LEVEL, _COL_COLLISION):
                return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            return None
        if role == Qt.ItemDataRole.ForegroundRole and col == _COL_COLLISION and self._collision_size(node) > 1:
            return _COLLISION_COLOUR
        if role == Qt.ItemDataRole.FontRole and col == _COL_CODE and node.level > self._levels:
            font = QFont()
            font.setItalic(True)  # collision tokens are not codebook codes
            return font
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(TREE_COLUMNS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return TREE_COLUMNS[section][0]
        if role == Qt.ItemDataRole.ToolTipRole:
            return TREE_COLUMNS[section][1]
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    # ---- private ----
    def _node(self, index: QModelIndex | QPersistentModelIndex) -> _Node:
        return self._nodes[index.internalId()]

    def _create_children(self, node_id: int, kids: list[tuple[int, int, int]] | None = None) -> None:
        node = self._nodes[node_id]
        if kids is None:
            kids = self._trie.children(node.level, node.tid)
        first = len(self._nodes)
        for row, (token, child, count) in enumerate(kids):
            self._nodes.append(_Node(node.level + 1, child, count, node.prefix + (token,), node_id, row))
        node.children = list(range(first, first + len(kids)))

    def _reconcile(self, node_id: int, index: QModelIndex) -> None:
        """Bring the fetched children of ``node_id`` (at model ``index``) in line with the trie."""
        node = self._nodes[node_id]
        if node.children is None:
            return
        fresh = {token: (child, count) for token, child, count in self._trie.children(node.level, node.tid)}
        kids = node.children
        for row in range(len(kids) - 1, -1, -1):  # dead children go first, bottom up
            if self._nodes[kids[row]].prefix[-1] not in fresh:
                self._in_change = True
                try:
                    self.beginRemoveRows(index, row, row)
                    del kids[row]
                    self._renumber(kids)
                    self.endRemoveRows()
                finally:
                    self._in_change = False
        for token, (child, count) in fresh.items():  # then new ones, at their sorted row
            tokens = [self._nodes[k].prefix[-1] for k in kids]
            row = int(np.searchsorted(tokens, token)) if tokens else 0
            if row < len(tokens) and tokens[row] == token:
                continue
            self._in_change = True
            try:
                self.beginInsertRows(index, row, row)
                self._nodes.append(_Node(node.level + 1, child, count, node.prefix + (token,), node_id, row))
                kids.insert(row, len(self._nodes) - 1)
                self._renumber(kids)
                self.endInsertRows()
            finally:
                self._in_change = False
        last = len(TREE_COLUMNS) - 1
        for row, kid in enumerate(kids):
            child_node = self._nodes[kid]
            tid, count = fresh[child_node.prefix[-1]]
            child_node.item = -2  # the single item under it may have changed even at the same count
            if (child_node.tid, child_node.count) != (tid, count):
                child_node.tid, child_node.count = tid, count
                self.dataChanged.emit(self.createIndex(row, 0, kid), self.createIndex(row, last, kid))
            self._reconcile(kid, self.createIndex(row, 0, kid))

    def _renumber(self, kids: list[int]) -> None:
        for row, kid in enumerate(kids):
            self._nodes[kid].row = row

    def _collision_size(self, node: _Node) -> int:
        """Items sharing the node's L-code tuple when the node is at level L (else 0)."""
        has_collision_level = self._trie is not None and self._trie.depth > self._levels
        return node.count if has_collision_level and node.level == self._levels else 0

    def _single_item(self, node: _Node) -> int:
        """The item under a one-item node at level >= L (cached), else -1."""
        if node.item == -2:
            node.item = -1
            if node.count == 1 and node.level >= self._levels:
                items = self._trie.items_under(node.level, node.tid)
                node.item = int(items[0]) if len(items) == 1 else -1
        return node.item

    def _level_text(self, level: int) -> str:
        return "collision" if level > self._levels else str(level)

    def _display(self, node: _Node, col: int):
        if col == _COL_CODE:
            return str(node.prefix[-1])
        if col == _COL_PREFIX:
            return _prefix_text(node.prefix)
        if col == _COL_ITEMS:
            return f"{node.count:,}"
        if col == _COL_LEVEL:
            return self._level_text(node.level)
        if col == _COL_COLLISION:
            size = self._collision_size(node)
            return f"yes · {size}" if size > 1 else ""
        if col == _COL_ITEM:
            item = self._single_item(node)
            if item < 0:
                return ""
            return self._title(item) if self._title is not None else f"item {item}"
        return None

    def _raw(self, node: _Node, col: int):
        if col == _COL_CODE:
            return node.prefix[-1]
        if col == _COL_PREFIX:
            return node.prefix
        if col == _COL_ITEMS:
            return node.count
        if col == _COL_LEVEL:
            return node.level
        if col == _COL_COLLISION:
            return self._collision_size(node)
        if col == _COL_ITEM:
            return self._single_item(node)
        return None

    def _tooltip(self, node: _Node) -> str:
        where = (f"collision token {node.prefix[-1]}" if node.level > self._levels
                 else f"level {node.level} code {node.prefix[-1]}")
        text = f"{_prefix_text(node.prefix)}: {where}, {node.count:,} item{'s' if node.count != 1 else ''}"
        size = self._collision_size(node)
        if size > 1:
            text += f"; {size} items share these {self._levels} codes, so the collision token tells them apart"
        return text


# ------------------------------------------------------------------------------------ items table

#: (header, tooltip) of the items table's columns.
ITEM_COLUMNS: tuple[tuple[str, str], ...] = (
    ("Title", "The item's title in the catalogue."),
    ("Brand", "The item's brand."),
    ("Category", "The most specific category of the item's first category path."),
    ("Popularity", "Interactions with the item in the whole dataset."),
    ("Item ID", "The catalogue's item id."),
    ("SID", "The item's full semantic ID, collision token last."),
)
_T_TITLE, _T_BRAND, _T_CATEGORY, _T_POPULARITY, _T_ID, _T_SID = range(len(ITEM_COLUMNS))


def _leaf_category(categories: str) -> str:
    """``"Beauty > Makeup > Nails|Other"`` -> ``"Nails"`` (last level of the first path)."""
    first = categories.split("|", 1)[0]
    return first.rsplit(">", 1)[-1].strip()


class ItemsTableModel(QAbstractTableModel):
    """The items of one node (or any list of item indices), one row each; sorts itself with NumPy.

    ``Qt.UserRole`` of any cell returns the row's item index; ``Qt.UserRole + 1`` the raw cell value.
    Items the cold-start lab typed in (index ``>= N``, see :meth:`set_new_items`) show their typed
    fields, popularity 0 and item id -1 (they have no catalogue row).
    """

    def __init__(self, parent=None):
        super().__init__(parent)
        self._titles = self._brands = self._categories = None  # object arrays [N]
        self._popularity = np.zeros(0, dtype=np.int64)
        self._item_ids = np.zeros(0, dtype=np.int64)
        self._codes = np.zeros((0, 0), dtype=np.int64)
        self._items = np.zeros(0, dtype=np.int64)  # item index of each row, in display order
        self._sort: tuple[int, Qt.SortOrder] | None = None
        self._new_items: dict = {}  # index >= N -> LabItem (typed in the cold-start lab)

    # ---- public ----
    def set_new_items(self, new_items: dict) -> None:
        """Typed-in items (index ``>= N`` -> :class:`~app.panels.LabItem`) rows may name."""
        self._new_items = dict(new_items)

    def set_source(self, snapshot: ProjectSnapshot | None) -> None:
        """Read item facts from ``snapshot`` (None: none); the rows are cleared."""
        self.beginResetModel()
        if snapshot is None:
            self._titles = self._brands = self._categories = None
            self._popularity = self._item_ids = np.zeros(0, dtype=np.int64)
            self._codes = np.zeros((0, 0), dtype=np.int64)
        else:
            frame = snapshot.project.dataset.catalogue.items
            self._titles = frame["title"].to_numpy()
            self._brands = frame["brand"].to_numpy()
            self._categories = frame["categories"].to_numpy()
            self._popularity = np.asarray(snapshot.popularity)
            self._item_ids = snapshot.project.sids.item_ids
            self._codes = snapshot.project.sids.codes
        self._items = np.zeros(0, dtype=np.int64)
        self._new_items = {}
        self.endResetModel()

    def item_indices(self) -> np.ndarray:
        """The item index of each row, in display order."""
        return self._items.copy()

    def set_items(self, items: Sequence[int] | np.ndarray) -> None:
        """Show these item indices (kept in the current sort order)."""
        self.beginResetModel()
        self._items = np.asarray(items, dtype=np.int64).reshape(-1)
        if self._sort is not None:
            self._items = self._sorted(self._items, *self._sort)
        self.endResetModel()

    def items(self) -> np.ndarray:
        """Item indices in display order."""
        return self._items.copy()

    def item_at(self, row: int) -> int:
        return int(self._items[row])

    def row_of(self, item: int) -> int:
        """Row showing ``item``, or -1."""
        hits = np.flatnonzero(self._items == int(item))
        return int(hits[0]) if hits.size else -1

    # ---- Qt model API ----
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._items)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(ITEM_COLUMNS)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._items):
            return None
        if not 0 <= index.column() < len(ITEM_COLUMNS):
            return None
        item, col = int(self._items[index.row()]), index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            value = self._value(item, col)
            if col == _T_POPULARITY:
                return f"{value:,}"
            return str(value)
        if role == Qt.ItemDataRole.UserRole:
            return item
        if role == Qt.ItemDataRole.UserRole + 1:
            return self._value(item, col)
        if role == Qt.ItemDataRole.ToolTipRole:  # the full text of a cut-off cell
            return str(self._value(item, col))
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (_T_POPULARITY, _T_ID):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(ITEM_COLUMNS):
            if role == Qt.ItemDataRole.DisplayRole:
                return ITEM_COLUMNS[section][0]
            if role == Qt.ItemDataRole.ToolTipRole:
                return ITEM_COLUMNS[section][1]
        if orientation == Qt.Orientation.Vertical and role == Qt.ItemDataRole.DisplayRole:
            if 0 <= section < len(self._items):
                return str(section + 1)
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(ITEM_COLUMNS):
            return
        self._sort = (column, order)
        if len(self._items) < 2:
            return
        self.layoutAboutToBeChanged.emit()
        old = self._items
        new = self._sorted(old, column, order)
        pos = {int(item): row for row, item in enumerate(new)}
        for index in self.persistentIndexList():
            if index.isValid():
                row = pos[int(old[index.row()])]
                self.changePersistentIndex(index, self.createIndex(row, index.column()))
        self._items = new
        self.layoutChanged.emit()

    # ---- private ----
    def _value(self, item: int, col: int):
        if item >= len(self._item_ids):
            return self._new_value(item, col)
        if col == _T_TITLE:
            return str(self._titles[item])
        if col == _T_BRAND:
            return str(self._brands[item])
        if col == _T_CATEGORY:
            return _leaf_category(str(self._categories[item]))
        if col == _T_POPULARITY:
            return int(self._popularity[item]) if item < len(self._popularity) else 0
        if col == _T_ID:
            return int(self._item_ids[item])
        return "-".join(map(str, self._codes[item].tolist()))

    def _new_value(self, item: int, col: int):
        """A cell of a typed-in item (no catalogue row)."""
        lab = self._new_items.get(item)
        if lab is None:
            return "" if col in (_T_TITLE, _T_BRAND, _T_CATEGORY, _T_SID) else -1
        return (lab.title, lab.brand, _leaf_category(lab.categories), 0, -1, "-".join(map(str, lab.sid)))[col]

    def _sorted(self, items: np.ndarray, column: int, order: Qt.SortOrder) -> np.ndarray:
        """``items`` ordered by ``column`` (stable; ties keep the current order)."""
        if len(items) < 2 or self._titles is None:
            return items
        if (items >= len(self._item_ids)).any():  # typed-in items: no rows in the arrays below
            key = [self._value(int(i), column) for i in items]
            key = np.array([k.casefold() if isinstance(k, str) else k for k in key])
            if order == Qt.SortOrder.DescendingOrder:
                return items[::-1][np.argsort(key[::-1], kind="stable")[::-1]]
            return items[np.argsort(key, kind="stable")]
        if column == _T_POPULARITY:
            key = self._popularity[items]
        elif column == _T_ID:
            key = self._item_ids[items]
        elif column == _T_SID:
            order_idx = np.lexsort(self._codes[items].T[::-1])
            return items[order_idx[::-1]] if order == Qt.SortOrder.DescendingOrder else items[order_idx]
        else:
            key = np.array([str(self._value(int(i), column)).casefold() for i in items])
        if order == Qt.SortOrder.DescendingOrder:
            return items[::-1][np.argsort(key[::-1], kind="stable")[::-1]]
        return items[np.argsort(key, kind="stable")]


# ------------------------------------------------------------------------------------ search (worker)


@dataclass(frozen=True)
class SearchResult:
    """What a search found: a SID ``prefix`` to go to, or matching ``items`` (title/id search)."""

    query: str
    kind: str  # "prefix" | "id" | "title" | "none"
    items: tuple[int, ...]
    prefix: tuple[int, ...] | None
    message: str  # one line for the user when nothing was found


_PREFIX_RE = re.compile(r"^\d+(\s*[-,]\s*\d+)*\s*[-,]?$")


def parse_query(query: str) -> tuple[str, object]:
    """Tell what the user typed: ``("prefix", (12, 48))`` for ``12-48``, ``12,48``, ``12-`` or
    ``sid:12``; ``("id", 123)`` for ``123`` or ``id:123``; ``("title", text)`` otherwise
    (``("empty", "")`` for blank input). A bare number is an item id first (see :func:`search_items`).
    """
    text = query.strip()
    if not text:
        return "empty", ""
    low = text.lower()
    if low.startswith("sid:"):
        body = text[4:].strip()
        if _PREFIX_RE.match(body):
            return "prefix", tuple(int(t) for t in re.split(r"\s*[-,]\s*", body) if t)
        return "title", text
    if low.startswith("id:"):
        body = text[3:].strip()
        return ("id", int(body)) if body.isdigit() else ("title", text)
    if text.isdigit():
        return "id", int(text)
    if _PREFIX_RE.match(text):
        return "prefix", tuple(int(t) for t in re.split(r"\s*[-,]\s*", text) if t)
    return "title", text


def search_items(item_ids: np.ndarray, titles: np.ndarray, query: str, *, progress=None, cancel=None) -> SearchResult:
    """Find ``query`` (see :func:`parse_query`) among the items: an engine-style job, Qt-free.

    ``item_ids`` int64 ``[N]`` and ``titles`` object ``[N]`` are read-only snapshots. A bare number
    that is no item id is searched in the titles instead. Title matches are case-insensitive
    substrings, in item-index order.
    """
    kind, value = parse_query(query)
    if kind == "empty":
        return SearchResult(query, "none", (), None, "Type a title, an item id or a SID prefix.")
    if kind == "prefix":
        return SearchResult(query, "prefix", (), tuple(value), "")
    if kind == "id":
        hits = np.flatnonzero(np.asarray(item_ids) == int(value))
        if hits.size:
            return SearchResult(query, "id", (int(hits[0]),), None, "")
        if query.strip().lower().startswith("id:"):
            return SearchResult(query, "none", (), None, f"No match: no item has id {value}.")
        value = str(value)  # a bare number: look in the titles too
    if cancel is not None:
        cancel.raise_if_cancelled()
    needle = str(value).strip()
    found = pd.Series(titles, dtype=object).str.contains(needle, case=False, regex=False, na=False).to_numpy()
    hits = np.flatnonzero(found)
    if not hits.size:
        return SearchResult(query, "none", (), None, f"No match: no item id, SID prefix or title contains '{needle}'.")
    return SearchResult(query, "title", tuple(int(i) for i in hits), None, "")


# ------------------------------------------------------------------------------------ panel

_INTRO = (
    "The semantic-ID tree: every item's SID is a path from the top level down. Expand a code to see "
    "the codes that refine it; <b>Items</b> counts the items below a node, and <b>Collision</b> flags "
    "L-code tuples shared by several items (the extra collision token tells them apart). Select a node "
    "to list its items on the right."
)

_EMPTY_TEXT = (
    "<p>Open a project with <b>File › Open project…</b> to browse its semantic-ID tree.</p>"
    "<p>Each item's SID is a short sequence of codes; items that share their first codes sit under "
    "the same node of the tree.</p>"
)


class TreePanel(QWidget):
    """The SID trie as a lazy tree, the items of the selected node, search and subtree export.

    Built as ``TreePanel(view_model, selection, bridge)``. Follows the linked selection (source
    ``"tree"``): picking a node selects its prefix, picking a row of the items table selects that
    item; a selection made elsewhere expands the tree to the common prefix of the selected items.
    """

    # ---- signals ----
    sig_ready = Signal()
    """The tree of a newly opened project is showing (see :meth:`screenshot_ready`)."""

    sig_search_finished = Signal(str)
    """``(status text)``: a search was applied (the text is what the status label shows)."""

    sig_export_finished = Signal(bool, str)
    """``(ok, message)``: a subtree export wrote its file (True) or failed (False, the error)."""

    def __init__(self, view_model: ProjectViewModel, selection: Selection, bridge: EngineBridge,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self._vm, self._selection, self._bridge = view_model, selection, bridge
        self._snapshot: ProjectSnapshot | None = None
        self._syncing = False  # applying a selection that came from elsewhere: do not echo it
        self._ready = False
        self._search_job: tuple[int, ProjectSnapshot] | None = None
        self._export_job: tuple[int, ProjectSnapshot] | None = None
        self._hits: tuple[int, ...] = ()  # title matches of the last search, cycled with Enter
        self._hit_pos = 0
        self._hits_query = ""
        self._table_prefix: tuple[int, ...] | None = None  # prefix the items table lists

        self.tree_model = SidTreeModel(self)
        self.items_model = ItemsTableModel(self)

        self._stack = QStackedWidget(self)
        self._empty_page = _centred_column(_heading("No project open", 1.6), QLabel(_EMPTY_TEXT))
        self._loading_label = _heading("Loading…", 1.4)
        busy = QProgressBar()
        busy.setRange(0, 0)
        busy.setTextVisible(False)
        self._loading_page = _centred_column(self._loading_label, busy)
        self._content_page = self._build_content_page()
        for page in (self._empty_page, self._loading_page, self._content_page):
            self._stack.addWidget(page)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self._stack)

        bridge.sig_result.connect(self._on_job_result)
        bridge.sig_error.connect(self._on_job_error)
        selection.sig_changed.connect(self._on_selection_changed)
        view_model.sig_project_changed.connect(self._on_project_changed)
        view_model.sig_status_changed.connect(self._on_status_changed)
        view_model.sig_items_changed.connect(self._on_items_changed)
        self._on_project_changed(view_model.snapshot)
        self._on_status_changed()

    # ---- public ----
    def screenshot_ready(self) -> bool:
        """True once the tree of the open project is showing."""
        return self._ready

    def page(self) -> str:
        """Which page is showing: ``"empty"``, ``"loading"`` or ``"project"``."""
        return {0: "empty", 1: "loading", 2: "project"}[self._stack.currentIndex()]

    def select_prefix(self, prefix: Sequence[int]) -> bool:
        """Expand the tree to ``prefix``, select that node (which selects its items in the linked
        selection) and list its items. False when the prefix is not in the tree."""
        index = self.tree_model.index_for_prefix(tuple(int(t) for t in prefix))
        if not index.isValid():
            return False
        self._select_tree_index(index)
        return True

    def selected_prefix(self) -> tuple[int, ...] | None:
        """The prefix of the selected tree node, or None."""
        index = self._tree.currentIndex()
        if not index.isValid() or not self._tree.selectionModel().isSelected(index):
            return None
        return self.tree_model.prefix(index)

    def search(self, text: str | None = None) -> None:
        """Search for ``text`` (default: the search box); the result arrives via ``sig_search_finished``."""
        if text is not None:
            self._search_edit.setText(text)
        self._on_search()

    @property
    def tree(self) -> QTreeView:
        return self._tree

    @property
    def table(self) -> QTableView:
        return self._table

    def search_status(self) -> str:
        return self._search_status.text()

    def table_caption(self) -> str:
        return self._table_caption.text()

    def export_status(self) -> str:
        return self._export_status.text()

    # ---- private: layout ----
    def _build_content_page(self) -> QWidget:
        page = QWidget()
        lay = QVBoxLayout(page)
        lay.setContentsMargins(12, 10, 12, 10)
        lay.setSpacing(8)

        intro = QLabel(_INTRO)
        intro.setWordWrap(True)
        intro.setTextFormat(Qt.TextFormat.RichText)
        lay.addWidget(intro)

        self._stats = QLabel("")
        self._stats.setTextFormat(Qt.TextFormat.RichText)
        self._stats.setWordWrap(True)
        self._stats.setToolTip(
            "Codebook health per level. Used: share of the codewords some item uses. Perplexity: the "
            "effective number of codewords (K = perfectly even). H(cₗ | prefix): bits still to guess at "
            "this level once the earlier codes are known."
        )
        lay.addWidget(self._stats)

        search_row = QHBoxLayout()
        self._search_edit = QLineEdit()
        self._search_edit.setPlaceholderText("Search: a title word, an item id (123 or id:123) or a SID prefix (12-48 or 12,48)")
        self._search_edit.setClearButtonEnabled(True)
        self._search_edit.returnPressed.connect(self._on_search)
        self._search_button = QPushButton("Find")
        self._search_button.clicked.connect(self._on_search)
        self._search_status = QLabel("")
        self._search_status.setMinimumWidth(260)
        self._search_status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # long text never widens the panel
        self._search_status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        search_row.addWidget(self._search_edit, 3)
        search_row.addWidget(self._search_button)
        search_row.addWidget(self._search_status, 2)
        lay.addLayout(search_row)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        self._tree = QTreeView()
        self._tree.setModel(self.tree_model)
        self._tree.setUniformRowHeights(True)  # keeps huge expanded levels cheap
        self._tree.setAlternatingRowColors(True)
        self._tree.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self._tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self._tree.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self._tree.setExpandsOnDoubleClick(True)
        self._tree.setIndentation(14)  # four levels deep still leave the code readable
        th = self._tree.header()
        th.setStretchLastSection(True)
        for col, width in ((_COL_CODE, 100), (_COL_PREFIX, 104), (_COL_ITEMS, 56), (_COL_LEVEL, 64),
                           (_COL_COLLISION, 64)):
            th.resizeSection(col, width)
        self._tree.selectionModel().selectionChanged.connect(self._on_tree_selection)

        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.setSpacing(6)
        self._table_caption = QLabel("Select a node to list its items.")
        self._table_caption.setWordWrap(True)
        caption_font = QFont(self._table_caption.font())
        caption_font.setBold(True)
        self._table_caption.setFont(caption_font)
        self._table = QTableView()
        self._table.setModel(self.items_model)
        self._table.verticalHeader().setVisible(False)
        self._table.verticalHeader().setDefaultSectionSize(self._table.fontMetrics().height() + 6)
        self._table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self._table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self._table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self._table.setAlternatingRowColors(True)
        self._table.setWordWrap(False)
        self._table.horizontalHeader().setSortIndicator(_T_POPULARITY, Qt.SortOrder.DescendingOrder)
        self._table.setSortingEnabled(True)  # most popular first
        hh = self._table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        hh.setStretchLastSection(False)
        for col, width in ((_T_TITLE, 240), (_T_BRAND, 88), (_T_CATEGORY, 104), (_T_POPULARITY, 80),
                           (_T_ID, 58), (_T_SID, 96)):
            hh.resizeSection(col, width)
        hh.setSectionResizeMode(_T_TITLE, QHeaderView.ResizeMode.Stretch)
        self._table.selectionModel().selectionChanged.connect(self._on_table_selection)

        export_row = QHBoxLayout()
        self._export_csv = QPushButton("Export subtree as CSV…")
        self._export_csv.setToolTip("Write the items under the selected node (title, brand, SID, …) to a CSV file.")
        self._export_csv.clicked.connect(lambda: self._on_export("csv"))
        self._export_graphml = QPushButton("Export subtree as GraphML…")
        self._export_graphml.setProperty("expert", True)  # hidden in presenter mode
        self._export_graphml.setToolTip("Write the nodes and edges under the selected node to a GraphML file "
                                        "(opens in Gephi, yEd, networkx).")
        self._export_graphml.clicked.connect(lambda: self._on_export("graphml"))
        export_row.addWidget(self._export_csv)
        export_row.addWidget(self._export_graphml)
        export_row.addStretch(1)
        self._export_status = QLabel("")
        self._export_status.setWordWrap(True)
        self._export_status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._export_status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        rl.addWidget(self._table_caption)
        rl.addWidget(self._table, 1)
        rl.addLayout(export_row)
        rl.addWidget(self._export_status)

        splitter.addWidget(self._tree)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([590, 650])
        splitter.setChildrenCollapsible(False)
        lay.addWidget(splitter, 1)
        self._update_export_buttons()
        return page

    # ---- private: project ----
    @Slot(object)
    def _on_project_changed(self, snapshot: ProjectSnapshot | None) -> None:
        self._snapshot = snapshot
        self._search_job = self._export_job = None  # results of the old project are stale
        self._hits, self._hit_pos, self._hits_query = (), 0, ""
        self._table_prefix = None
        self._search_status.setText("")
        self._export_status.setText("")
        self._ready = False
        self._syncing = True
        try:
            self.items_model.set_source(snapshot)
            if snapshot is None:
                self.tree_model.set_trie(None)
                self._stats.setText("")
            else:
                project = snapshot.project
                catalogue = project.dataset.catalogue
                self.tree_model.set_trie(project.trie, levels=project.sids.levels, title=catalogue.title)
                self._stats.setText(self._stats_html(snapshot))
        finally:
            self._syncing = False
        self._table_caption.setText("Select a node to list its items.")
        self._update_export_buttons()
        if snapshot is not None:
            self._ready = True
            self.sig_ready.emit()

    @Slot(object)
    def _on_items_changed(self, change) -> None:
        """The cold-start lab injected or retired items: show its live trie, keeping what is
        expanded; go to the first item it added (without changing the linked selection)."""
        snapshot = self._snapshot
        if snapshot is None or change.project is not snapshot.project:
            return
        catalogue = snapshot.project.dataset.catalogue
        new_items = dict(change.new_items)

        def title(item: int) -> str:
            lab = new_items.get(int(item))
            return f"{lab.title} (new)" if lab is not None else catalogue.title(item)

        self.items_model.set_new_items(new_items)
        self._syncing = True
        try:
            self.tree_model.update_trie(change.trie, title=title)
            index = QModelIndex()
            if change.added and change.added[0] in change.trie:
                index = self.tree_model.index_for_prefix(change.trie.code_of_item(change.added[0]))
            if index.isValid():
                self._select_tree_index(index)
                self._show_items(self.tree_model.items(index), self.tree_model.prefix(index))
            elif self._table_prefix is not None:  # the listed node may have lost or gained items
                node = self.tree_model.index_for_prefix(self._table_prefix)
                if node.isValid():
                    self._show_items(self.tree_model.items(node), self._table_prefix)
        finally:
            self._syncing = False
        self._update_export_buttons()

    @Slot()
    def _on_status_changed(self) -> None:
        vm = self._vm
        if vm.loading is not None and vm.snapshot is None:
            self._loading_label.setText(f"Loading {vm.loading.name}…")
            self._stack.setCurrentWidget(self._loading_page)
        elif vm.snapshot is not None:
            self._stack.setCurrentWidget(self._content_page)
        else:
            self._stack.setCurrentWidget(self._empty_page)

    @staticmethod
    def _stats_html(snapshot: ProjectSnapshot) -> str:
        """Per-level utilization, perplexity and prefix entropy as a compact HTML table."""
        diag = snapshot.diagnostics
        k = snapshot.project.sids.codebook_size
        cell = "style='padding: 1px 14px 1px 0px'"
        head = "".join(f"<th align='right' {cell}>Level {s.level}</th>" for s in diag.levels)
        rows = [
            ("Codewords used", [f"{100 * s.utilization:.1f} % of {k}" for s in diag.levels]),
            ("Perplexity", [f"{s.perplexity:.1f}" for s in diag.levels]),
            ("H(code | prefix)", [f"{s.prefix_entropy:.2f} bits" for s in diag.levels]),
        ]
        body = "".join(
            f"<tr><td {cell}><b>{name}</b></td>" + "".join(f"<td align='right' {cell}>{v}</td>" for v in vals) + "</tr>"
            for name, vals in rows
        )
        collision = (
            f"Collision level: {100 * diag.collision_rate:.1f} % of items share their L-code tuple with "
            f"another item; the largest group holds {diag.max_collision_depth}."
        )
        return (f"<table cellspacing='0'><tr><th></th>{head}</tr>{body}</table>"
                f"<div style='margin-top: 3px'>{html.escape(collision)}</div>")

    # ---- private: tree and table selection ----
    def _select_tree_index(self, index: QModelIndex) -> None:
        """Expand the ancestors of ``index``, make it current and selected, scroll to it."""
        parent = index.parent()
        chain = []
        while parent.isValid():
            chain.append(parent)
            parent = parent.parent()
        for p in reversed(chain):
            self._tree.expand(p)
        self._tree.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        )
        self._tree.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)

    @Slot()
    def _on_tree_selection(self, *_args) -> None:
        rows = self._tree.selectionModel().selectedRows(0)
        if not rows:
            self._update_export_buttons()
            return
        index = rows[0]
        prefix = self.tree_model.prefix(index)
        self._show_items(self.tree_model.items(index), prefix)
        if not self._syncing and self._snapshot is not None:
            self._selection.select_prefix(prefix, SOURCE)
        self._update_export_buttons()

    def _show_items(self, items: np.ndarray, prefix: tuple[int, ...] | None, caption: str | None = None) -> None:
        was = self._syncing
        self._syncing = True  # resetting the table clears its selection: not a user pick
        try:
            self.items_model.set_items(items)
        finally:
            self._syncing = was
        self._table_prefix = prefix
        n = len(items)
        if caption is None:
            noun = "item" if n == 1 else "items"
            caption = f"{n:,} {noun} under {_prefix_text(prefix or ())}"
        self._table_caption.setText(caption)

    @Slot()
    def _on_table_selection(self, *_args) -> None:
        if self._syncing or self._snapshot is None:
            return
        rows = self._table.selectionModel().selectedRows(0)
        if not rows:
            return
        item = self.items_model.item_at(rows[0].row())
        if item >= self._snapshot.project.sids.n_items:  # a typed-in lab item: other panels cannot show it
            if self._table_prefix is not None:
                self._selection.select_prefix(self._table_prefix, SOURCE)
            return
        self._selection.select_items([item], SOURCE, self._table_prefix)

    @Slot(object)
    def _on_selection_changed(self, event: SelectionEvent) -> None:
        if event.source == SOURCE or self._snapshot is None:
            return
        self._syncing = True
        try:
            if event.empty:
                self._tree.selectionModel().clearSelection()
                self._show_items(np.zeros(0, dtype=np.int64), None, "Select a node to list its items.")
                return
            items = np.asarray(event.items, dtype=np.int64)
            prefix = event.prefix if event.prefix is not None else self._common_prefix(items)
            index = self.tree_model.index_for_prefix(prefix) if prefix else QModelIndex()
            if index.isValid():
                self._select_tree_index(index)
            else:
                self._tree.selectionModel().clearSelection()
            if items.size:
                n = len(items)
                where = (f"under {_prefix_text(prefix)}" if prefix
                         else "(they share no SID prefix)")
                self._show_items(items, tuple(prefix) if prefix else None,
                                 f"{n:,} selected item{'s' if n != 1 else ''} {where}")
                if n == 1:
                    self._table.selectRow(0)
            elif not index.isValid():
                self._show_items(np.zeros(0, dtype=np.int64), None,
                                 f"{_prefix_text(prefix)} is not a node of this tree.")
        finally:
            self._syncing = False
            self._update_export_buttons()

    def _common_prefix(self, items: np.ndarray) -> tuple[int, ...]:
        """The longest SID prefix shared by all ``items`` (``()`` when none or no items)."""
        if items.size == 0 or self._snapshot is None:
            return ()
        codes = self._snapshot.project.sids.codes[items]  # [M, D]
        same = (codes == codes[0]).all(axis=0)
        length = int(np.argmin(same)) if not same.all() else codes.shape[1]
        return tuple(int(t) for t in codes[0, :length])

    # ---- private: search ----
    @Slot()
    def _on_search(self) -> None:
        snapshot = self._snapshot
        if snapshot is None:
            return
        query = self._search_edit.text()
        if self._hits and query == self._hits_query and len(self._hits) > 1:
            self._hit_pos = (self._hit_pos + 1) % len(self._hits)  # Enter again: next match
            self._show_hit()
            return
        catalogue = snapshot.project.dataset.catalogue
        titles = catalogue.items["title"].to_numpy()
        job = self._bridge.submit(search_items, snapshot.project.sids.item_ids, titles, query, name="search the SID tree")
        self._search_job = (job.id, snapshot)
        self._set_search_status("Searching…")

    def _apply_search(self, result: SearchResult) -> None:
        self._hits, self._hit_pos, self._hits_query = (), 0, ""
        if result.kind == "none":
            self._set_search_status(result.message, error=True)
        elif result.kind == "prefix":
            if self.select_prefix(result.prefix):
                self._set_search_status(f"Node {_prefix_text(result.prefix)}")
            else:
                self._set_search_status(
                    f"No match: {_prefix_text(result.prefix)} is not a node of this tree.", error=True)
        else:
            self._hits, self._hits_query = result.items, result.query
            self._show_hit()
        self.sig_search_finished.emit(self._search_status.text())

    def _show_hit(self) -> None:
        item = self._hits[self._hit_pos]
        snapshot = self._snapshot
        code = tuple(int(t) for t in snapshot.project.sids.codes[item])
        if not self.select_prefix(code):
            self._set_search_status(f"Item {item} is not in the tree.", error=True)
            return
        self._table.selectRow(0)
        title = snapshot.project.dataset.catalogue.title(item)
        short = title if len(title) <= 48 else title[:47] + "…"
        if len(self._hits) > 1:
            self._set_search_status(f"Match {self._hit_pos + 1} of {len(self._hits):,} — Enter for the next: {short}")
        else:
            self._set_search_status(f"Item {int(snapshot.project.sids.item_ids[item])}: {short}")

    def _set_search_status(self, text: str, *, error: bool = False) -> None:
        self._search_status.setStyleSheet(f"color: {_ERROR_COLOUR}; font-weight: bold;" if error else "")
        self._search_status.setText(text)
        self._search_status.setToolTip(text)

    # ---- private: export ----
    def _update_export_buttons(self) -> None:
        enabled = self._snapshot is not None and self.selected_prefix() is not None and self._export_job is None
        self._export_csv.setEnabled(enabled)
        self._export_graphml.setEnabled(enabled)

    def _on_export(self, fmt: str) -> None:
        snapshot, prefix = self._snapshot, self.selected_prefix()
        if snapshot is None or prefix is None:
            return
        suffix = ".csv" if fmt == "csv" else ".graphml"
        filt = "CSV files (*.csv)" if fmt == "csv" else "GraphML files (*.graphml)"
        default = f"{snapshot.name}-subtree-{_prefix_text(prefix)}{suffix}"
        path, _ = QFileDialog.getSaveFileName(self, f"Export subtree {_prefix_text(prefix)}", default, filt)
        if not path:
            return
        if not path.lower().endswith(suffix) and not (fmt == "graphml" and path.lower().endswith(".xml")):
            path += suffix
        job = self._bridge.submit(export_subtree, snapshot.project, prefix, path, format=fmt,
                                  popularity=snapshot.popularity, name="export subtree")
        self._export_job = (job.id, snapshot)
        self._set_export_status(f"Writing {path}…")
        self._update_export_buttons()

    def _set_export_status(self, text: str, *, error: bool = False) -> None:
        self._export_status.setStyleSheet(f"color: {_ERROR_COLOUR};" if error else "")
        self._export_status.setText(text)

    # ---- private: bridge ----
    @Slot(int, object)
    def _on_job_result(self, job_id: int, result: object) -> None:
        if self._search_job is not None and job_id == self._search_job[0]:
            stale = self._search_job[1] is not self._snapshot
            self._search_job = None
            if not stale:
                self._apply_search(result)  # type: ignore[arg-type]
        elif self._export_job is not None and job_id == self._export_job[0]:
            stale = self._export_job[1] is not self._snapshot
            self._export_job = None
            self._update_export_buttons()
            if not stale:
                text = (f"Wrote {result.items:,} items ({result.nodes:,} nodes) under "
                        f"{_prefix_text(result.prefix)} to {result.path}")
                self._set_export_status(text)
                self.sig_export_finished.emit(True, text)

    @Slot(int, str)
    def _on_job_error(self, job_id: int, message: str) -> None:
        if self._search_job is not None and job_id == self._search_job[0]:
            self._search_job = None
            self._set_search_status(f"Search failed: {message}", error=True)
            self.sig_search_finished.emit(self._search_status.text())
        elif self._export_job is not None and job_id == self._export_job[0]:
            self._export_job = None
            self._update_export_buttons()
            text = f"Export failed: {message}"
            self._set_export_status(text, error=True)
            self.sig_export_finished.emit(False, text)
