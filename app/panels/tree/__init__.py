"""SID tree panel: browse the prefix trie of semantic IDs level by level, with the items under a node.

The tree is a lazy :class:`QAbstractItemModel` over the project's :class:`~genrec_engine.PrefixTrie`:
a node's children are created only when it is expanded (``canFetchMore``/``fetchMore``), so a
trie of a million items opens with just the root's children. Beside it, a sortable table lists the
items under the selected node. A search box finds a node by item title, item id or SID prefix, and
the selected subtree exports to CSV or GraphML through the engine's :func:`~genrec_engine.export_subtree`.
Both run as jobs on the bridge. The tree follows the cold-start lab's live trie (``ItemsChange``).

Modules: :mod:`.state` (Qt-free view-model: listings, search, export rules; the search job),
:mod:`.models` (the tree and items table models), :mod:`.view` (:class:`TreePanel`).
Source name in the linked selection: ``"tree"``.
"""
from __future__ import annotations

from ...lazy import lazy_exports

__all__ = [
    "ITEM_COLUMNS", "TREE_COLUMNS", "ItemsTableModel", "SidTreeModel", "SOURCE", "ItemFacts", "SearchResult",
    "TreeState", "parse_query", "search_items", "TreePanel",
]

# each name is imported from its module on first use: the view-model (.state) loads without Qt
__getattr__ = lazy_exports(__name__, {
    **dict.fromkeys(('ITEM_COLUMNS', 'TREE_COLUMNS', 'ItemsTableModel', 'SidTreeModel'), '.models'),
    **dict.fromkeys(('SOURCE', 'ItemFacts', 'SearchResult', 'TreeState', 'parse_query', 'search_items'), '.state'),
    **dict.fromkeys(('TreePanel',), '.view'),
})
