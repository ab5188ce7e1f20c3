"""Export one subtree of a project's SID trie: its items as CSV, or its nodes as GraphML.

A subtree is named by a SID prefix (``()`` is the whole trie, ``(12, 48)`` the node ``12-48``).
Both writers work from the project's trie (which items lie under the prefix) and SID table (their
codes); files are written atomically, so a failed export never leaves half a file behind.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..fileio import atomic_path
from ..jobs import CancelToken, ProgressFn

__all__ = ["EXPORT_FORMATS", "SubtreeExport", "export_subtree", "subtree_items", "subtree_graph"]

#: File suffix -> export format understood by :func:`export_subtree`.
EXPORT_FORMATS = {".csv": "csv", ".graphml": "graphml", ".xml": "graphml"}


@dataclass(frozen=True)
class SubtreeExport:
    """What :func:`export_subtree` wrote."""

    path: Path
    format: str  # "csv" | "graphml"
    prefix: tuple[int, ...]
    items: int  # items under the prefix (CSV rows)
    nodes: int  # trie nodes in the subtree, its root included (GraphML nodes)


def _prefix_tuple(prefix: Sequence[int]) -> tuple[int, ...]:
    try:
        return tuple(int(t) for t in prefix)
    except (TypeError, ValueError):
        raise ConfigError(f"prefix: {prefix!r} is not a sequence of integers") from None


def _items_under(project, prefix: tuple[int, ...]) -> np.ndarray:
    """Sorted item indices (int64 ``[M]``) under ``prefix`` in the project's trie; raises if absent."""
    trie = project.trie
    node = trie.lookup(prefix)  # ConfigError for a malformed prefix
    if node < 0:
        shown = "-".join(map(str, prefix))
        raise ConfigError(f"prefix: {shown} is not a node of the SID trie (no item has this prefix)")
    return trie.items_under(len(prefix), node)


def subtree_items(project, prefix: Sequence[int], popularity: np.ndarray | None = None) -> pd.DataFrame:
    """One row per item under ``prefix``, in SID order.

    Columns: ``item_index``, ``item_id``, ``sid`` (``"12-48-3-0"``), ``c0 .. c{D-1}`` (the codes),
    ``title``, ``brand``, ``category`` (leaf of the first category path), ``categories`` and
    ``interactions`` (``popularity[item]`` when given, else counted from the dataset).
    """
    prefix = _prefix_tuple(prefix)
    items = _items_under(project, prefix)
    codes = project.sids.codes[items]  # [M, D]
    order = np.lexsort(codes.T[::-1]) if len(items) else np.zeros(0, dtype=np.int64)
    items, codes = items[order], codes[order]
    catalogue = project.dataset.catalogue
    rows = catalogue.items.iloc[items]
    if popularity is None:
        popularity = np.bincount(
            project.dataset.interactions.frame["item_index"].to_numpy(), minlength=project.sids.n_items
        )
    popularity = np.asarray(popularity)
    first_path = rows["categories"].str.split("|", n=1).str[0]
    frame = pd.DataFrame(
        {
            "item_index": items.astype(np.int64),
            "item_id": project.sids.item_ids[items],
            "sid": ["-".join(map(str, row)) for row in codes.tolist()],
            **{f"c{level}": codes[:, level] for level in range(codes.shape[1])},
            "title": rows["title"].to_numpy(),
            "brand": rows["brand"].to_numpy(),
            "category": first_path.str.rsplit(">", n=1).str[-1].str.strip().fillna("").to_numpy(),
            "categories": rows["categories"].to_numpy(),
            "interactions": popularity[items].astype(np.int64),
        }
    )
    return frame


def subtree_graph(project, prefix: Sequence[int]):
    """The subtree under ``prefix`` as a ``networkx.DiGraph`` shaped like ``PrefixTrie.to_networkx``.

    Node keys are full prefix tuples (the subtree root is ``prefix`` itself); attributes ``level``,
    ``code`` (``"12-48"``), ``token`` (last token, ``-1`` for the root ``()``), ``count`` (items under
    the node); leaves also carry ``item`` (item index), ``item_id`` and ``title``. Edges point parent
    -> child and carry ``token``. Built with one sort per level, so 1M-item subtrees are fine.
    """
    import networkx as nx

    prefix = _prefix_tuple(prefix)
    items = _items_under(project, prefix)
    codes = project.sids.codes[items]  # [M, D]
    depth = codes.shape[1] if codes.ndim == 2 else project.sids.depth
    catalogue = project.dataset.catalogue
    graph = nx.DiGraph()
    graph.add_node(
        prefix,
        level=len(prefix),
        code="-".join(map(str, prefix)),
        token=prefix[-1] if prefix else -1,
        count=int(len(items)),
    )
    for level in range(len(prefix) + 1, depth + 1):
        # distinct prefixes of length `level` among the items, with their item counts
        uniq, first, counts = np.unique(codes[:, :level], axis=0, return_index=True, return_counts=True)
        for row, at, n in zip(uniq.tolist(), first.tolist(), counts.tolist()):
            key = tuple(row)
            attrs = {"level": level, "code": "-".join(map(str, key)), "token": key[-1], "count": int(n)}
            if level == depth:
                item = int(items[at])
                attrs.update(item=item, item_id=int(project.sids.item_ids[item]), title=catalogue.title(item))
            graph.add_node(key, **attrs)
            graph.add_edge(key[:-1], key, token=key[-1])
    return graph


def export_subtree(
    project,
    prefix: Sequence[int],
    path: str | os.PathLike,
    *,
    format: str | None = None,
    popularity: np.ndarray | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> SubtreeExport:
    """Write the subtree under ``prefix`` to ``path`` and say what was written.

    ``format`` is ``"csv"`` (the rows of :func:`subtree_items`) or ``"graphml"`` (the graph of
    :func:`subtree_graph`); by default it follows the file suffix (``.csv``, ``.graphml``, ``.xml``).
    Raises :class:`ConfigError` for an unknown format or a prefix that is not in the trie. An engine
    job: runs on a worker with the usual ``progress``/``cancel`` keywords.
    """
    path = Path(path)
    prefix = _prefix_tuple(prefix)
    if format is None:
        format = EXPORT_FORMATS.get(path.suffix.lower())
        if format is None:
            raise ConfigError(
                f"path: cannot tell the export format from {path.name!r}; use a .csv or .graphml file name"
            )
    if format not in ("csv", "graphml"):
        raise ConfigError(f"format: {format!r} is not one of 'csv', 'graphml'")
    if progress is not None:
        progress(0.0, f"collecting the subtree {'-'.join(map(str, prefix)) or '(root)'}")
    if format == "csv":
        frame = subtree_items(project, prefix, popularity)
        if cancel is not None:
            cancel.raise_if_cancelled()
        if progress is not None:
            progress(0.5, f"writing {len(frame):,} items")
        with atomic_path(path) as tmp:
            frame.to_csv(tmp, index=False)
        n_items = len(frame)
        codes = frame[[f"c{level}" for level in range(project.sids.depth)]].to_numpy()
        n_nodes = 1 + sum(len(np.unique(codes[:, :level], axis=0)) for level in range(len(prefix) + 1, codes.shape[1] + 1))
    else:
        import networkx as nx

        graph = subtree_graph(project, prefix)
        if cancel is not None:
            cancel.raise_if_cancelled()
        if progress is not None:
            progress(0.5, f"writing {graph.number_of_nodes():,} nodes")
        with atomic_path(path) as tmp:
            nx.write_graphml(graph, str(tmp))
        n_items = int(graph.nodes[prefix]["count"])
        n_nodes = graph.number_of_nodes()
    if progress is not None:
        progress(1.0, f"wrote {path.name}")
    return SubtreeExport(path=path, format=format, prefix=prefix, items=n_items, nodes=n_nodes)
