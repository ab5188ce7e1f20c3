"""Qt item models of the SID tree panel: the lazy trie (:class:`SidTreeModel`) and the items of a
node (:class:`ItemsTableModel`).

:class:`SidTreeModel` stays a custom :class:`QAbstractItemModel` (a tree with lazily fetched
children). :class:`ItemsTableModel` is a :class:`~app.widgets.RowTableModel` (headers, flags and
alignment written once there) whose rows are item indices; it overrides ``sort`` to order them with
NumPy (:meth:`~app.panels.tree.state.ItemFacts.sorted`: one ``argsort`` instead of a Python key per
row, and it keeps persistent indexes, so the selected row stays selected) and keeps the chosen order
when new items are listed.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from PySide6.QtCore import QAbstractItemModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QFont

from genrec_engine import PrefixTrie

from ...widgets import Column, RowTableModel
from .. import ProjectSnapshot
from .state import ItemFacts, prefix_text

__all__ = ["TREE_COLUMNS", "ITEM_COLUMNS", "SidTreeModel", "ItemsTableModel"]

_COLLISION_COLOUR = QColor("#b35900")  # dark amber: collision groups
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_Index = QModelIndex | QPersistentModelIndex

# ------------------------------------------------------------------------------------ tree model

#: The tree's columns.
TREE_COLUMNS: tuple[Column, ...] = (
    Column("Code", "The node's own code: the token chosen at this level."),
    Column("Prefix", "The codes from level 1 down to this node: every item below starts its SID with them."),
    Column("Items", "Items whose semantic ID starts with this prefix.", right=True),
    Column("Level", "Depth in the SID. 1 is the coarsest code; 'collision' is the extra token that tells apart "
                    "items sharing all L codes.", right=True),
    Column("Collision", "At the last codebook level: how many items share this whole L-code tuple (more than one "
                        "means the collision token is needed to tell them apart).", right=True),
    Column("Item", "The item's title, on rows that hold exactly one item."),
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
        self._groups = False  # keep-all table: one SID (L codes) names its whole group of items
        self._title: Callable[[int], str] | None = None
        self._nodes: list[_Node] = []
        self._in_change = False  # inside a begin/end row change (fetchMore, update_trie)

    # ---- public ----
    def set_trie(self, trie: PrefixTrie | None, *, levels: int | None = None,
                 title: Callable[[int], str] | None = None, groups: bool | None = None) -> None:
        """Show ``trie`` (None: nothing). ``levels`` is L, the codebook levels (default: all but the
        last trie level, which is then the collision level); ``title(item)`` names an item;
        ``groups``: the SID table's collision policy is keep-all, so items sharing all L codes are
        shown as one SID's group (their members numbered) rather than as collisions."""
        self.beginResetModel()
        self._trie, self._title = trie, title
        if groups is not None:
            self._groups = bool(groups)
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

    def prefix(self, index: _Index) -> tuple[int, ...]:
        """The SID prefix of the node at ``index`` (``()`` for an invalid index: the root)."""
        return self._node(index).prefix if index.isValid() else ()

    def node_level(self, index: _Index) -> int:
        return self._node(index).level if index.isValid() else 0

    def items(self, index: _Index) -> np.ndarray:
        """Sorted item indices under the node at ``index`` (all items for the root)."""
        if self._trie is None:
            return np.zeros(0, dtype=np.int64)
        node = self._node(index) if index.isValid() else self._nodes[0]
        return self._trie.items_under(node.level, node.tid)

    def is_collision_group(self, index: _Index) -> bool:
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
    def index(self, row: int, column: int, parent: _Index = QModelIndex()) -> QModelIndex:
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

    def rowCount(self, parent: _Index = QModelIndex()) -> int:
        if not self._nodes:
            return 0
        if parent.isValid():
            if parent.column() != 0:
                return 0
            kids = self._nodes[parent.internalId()].children
        else:
            kids = self._nodes[0].children
        return len(kids) if kids is not None else 0

    def columnCount(self, parent: _Index = QModelIndex()) -> int:
        return len(TREE_COLUMNS)

    def hasChildren(self, parent: _Index = QModelIndex()) -> bool:
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

    def canFetchMore(self, parent: _Index) -> bool:
        if self._trie is None or not parent.isValid() or parent.column() != 0 or self._in_change:
            return False  # (while rows are inserted or removed, a listener must not nest another change)
        node = self._nodes[parent.internalId()]
        return node.children is None and node.level < self._trie.depth

    def fetchMore(self, parent: _Index) -> None:
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

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole):
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
            return _RIGHT if TREE_COLUMNS[col].right else None
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
            return TREE_COLUMNS[section].title
        if role == Qt.ItemDataRole.ToolTipRole:
            return TREE_COLUMNS[section].tooltip
        return None

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    # ---- private ----
    def _node(self, index: _Index) -> _Node:
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
        if level > self._levels:
            return "member" if self._groups else "collision"
        return str(level)

    def _display(self, node: _Node, col: int):
        if col == _COL_CODE:
            return str(node.prefix[-1])
        if col == _COL_PREFIX:
            return prefix_text(node.prefix)
        if col == _COL_ITEMS:
            return f"{node.count:,}"
        if col == _COL_LEVEL:
            return self._level_text(node.level)
        if col == _COL_COLLISION:
            size = self._collision_size(node)
            return ("group · " if self._groups else "yes · ") + str(size) if size > 1 else ""
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
        member = "group member" if self._groups else "collision token"
        where = (f"{member} {node.prefix[-1]}" if node.level > self._levels
                 else f"level {node.level} code {node.prefix[-1]}")
        text = f"{prefix_text(node.prefix)}: {where}, {node.count:,} item{'s' if node.count != 1 else ''}"
        size = self._collision_size(node)
        if size > 1 and self._groups:
            text += (f"; this SID names a group of {size} items (collision policy keep-all): a generated "
                     "SID that stops here stands for all of them")
        elif size > 1:
            text += f"; {size} items share these {self._levels} codes, so the collision token tells them apart"
        return text



# ------------------------------------------------------------------------------------ items table

#: The items table's columns (positions: :data:`~app.panels.tree.state.T_TITLE` ...).
ITEM_COLUMNS: tuple[Column, ...] = (
    Column("Title", "The item's title in the catalogue."),
    Column("Brand", "The item's brand."),
    Column("Category", "The most specific category of the item's first category path."),
    Column("Popularity", "Interactions with the item in the whole dataset.", right=True),
    Column("Item ID", "The catalogue's item id.", right=True),
    Column("SID", "The item's full semantic ID, collision token last."),
)


class ItemsTableModel(RowTableModel):
    """The items of one node (or any list of item indices), one row each; sorts itself with NumPy.

    A row is an item index (int). ``Qt.UserRole`` of any cell returns the row's item index;
    ``Qt.UserRole + 1`` the raw cell value (an int for popularity and item id); the tooltip is the
    cell's full text. Items the cold-start lab typed in (index ``>= N``, see :meth:`set_new_items`)
    show their typed fields, popularity 0 and item id -1 (they have no catalogue row).
    """

    COLUMNS = ITEM_COLUMNS
    SORTABLE = True

    def __init__(self, parent=None):
        super().__init__(parent)
        self._facts = ItemFacts.empty()
        self._sort: tuple[int, bool] | None = None  # (column, descending) the view chose

    # ---- public ----
    def set_source(self, snapshot: ProjectSnapshot | None) -> None:
        """Read item facts from ``snapshot`` (None: none); the rows and typed-in items are cleared."""
        self._facts = ItemFacts.from_snapshot(snapshot)
        self.set_rows([])

    def set_new_items(self, new_items: dict) -> None:
        """Typed-in items (index ``>= N`` -> :class:`~app.panels.LabItem`) rows may name."""
        self._facts = self._facts.with_new_items(new_items)

    def set_items(self, items: Sequence[int] | np.ndarray) -> None:
        """Show these item indices (kept in the current sort order)."""
        items = np.asarray(items, dtype=np.int64).reshape(-1)
        if self._sort is not None:
            items = self._facts.sorted(items, *self._sort)
        self.set_rows(items.tolist())

    def items(self) -> np.ndarray:
        """Item indices (int64 ``[M]``) in display order."""
        return np.asarray(self.rows_data(), dtype=np.int64)

    item_indices = items

    def item_at(self, row: int) -> int:
        return int(self.row(row))

    # ---- RowTableModel ----
    def display(self, row: int, col: int) -> str:
        return self._facts.text(self.row(row), col)

    def style(self, row: int, col: int, role: int):
        if role == Qt.ItemDataRole.UserRole:
            return self.item_at(row)
        if role == Qt.ItemDataRole.UserRole + 1:
            return self._facts.value(self.row(row), col)
        if role == Qt.ItemDataRole.ToolTipRole:  # the full text of a cut-off cell
            return str(self._facts.value(self.row(row), col))
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Order the rows by ``column`` with NumPy, keeping persistent indexes (the selected row) on their item."""
        if not 0 <= column < len(self.COLUMNS):
            return
        self._sort = (column, order == Qt.SortOrder.DescendingOrder)
        old = self.items()
        if len(old) < 2:
            return
        self.layoutAboutToBeChanged.emit()
        new = self._facts.sorted(old, *self._sort)
        row_of = {int(item): row for row, item in enumerate(new)}
        for index in self.persistentIndexList():
            if index.isValid():
                self.changePersistentIndex(index, self.createIndex(row_of[int(old[index.row()])], index.column()))
        self._rows = new.tolist()
        self.layoutChanged.emit()
