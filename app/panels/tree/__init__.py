"""SID tree panel: browse the prefix trie of semantic IDs level by level, with the items under a node.

The tree is a lazy :class:`QAbstractItemModel` over the project"s :class:`~genrec_engine.PrefixTrie`:
a node"s children are created only when it is expanded (``canFetchMore``/``fetchMore``), so a
trie of a million items opens with just the root"s children. Beside it, a sortable table lists the
items under the selected node. A search box finds a node by item title, item id or SID prefix, and
the selected subtree exports to CSV or GraphML through the engine"s :func:`~genrec_engine.export_subtree`.
Both run as jobs on the bridge. The tree follows the cold-start lab"s live trie (``ItemsChange``).

Modules: :mod:`.state` (Qt-free view-model: listings, search, export rules; the search job),
:mod:`.models` (the tree and items table models), :mod:`.view` (:class:`TreePanel`).
Source name in the linked selection: ``"tree"``.
"""
from __future__ import annotations

from typing import Any

__all__ = [
    "ITEM_COLUMNS", "TREE_COLUMNS", "ItemsTableModel", "SidTreeModel", "SOURCE", "ItemFacts", "SearchResult",
    "TreeState", "parse_query", "search_items", "TreePanel",
]

_LAZY = {
    **{n: "app.panels.tree.models" for n in ("ITEM_COLUMNS", "TREE_COLUMNS", "ItemsTableModel", "SidTreeModel")},
    **{n: "app.panels.tree.state" for n in ("SOURCE", "ItemFacts", "SearchResult", "TreeState", "parse_query", "search_items")},
    **{n: "app.panels.tree.view" for n in ("TreePanel",)},
}


def __getattr__(name: str) -> Any:
    """Names are imported on first use, so importing the Qt-free ``state`` module does not load Qt."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
