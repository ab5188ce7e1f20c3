"""The SID tree panel's state and rules, without Qt: what the items table lists, what a search
finds and how its outcome reads, what an export writes, what is stale after a project switch.

- :func:`search_items` is the search job (runs on a worker): a query in, a :class:`SearchResult` out.
- :class:`ItemFacts` turns item indices into the items table's cells and sorts them with NumPy.
- :class:`TreeState` is the panel's view-model: the open project, the typed-in items of the
  cold-start lab, the prefix the items table lists, the title matches cycled with Enter, and the
  export in flight.

Item indices are rows of the project's SID table (and catalogue); the cold-start lab's typed-in
items have indices ``>= N`` and no catalogue row (see :class:`~app.panels.LabItem`).
"""
from __future__ import annotations

import dataclasses
import html
import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from ...model import ItemsChange, LabItem, ProjectSnapshot, SelectionEvent, TitleIndex
from ...widgets.text import elide, leaf_category, sid_text

__all__ = [
    "SOURCE", "prefix_text", "leaf_category", "stats_html",
    "T_TITLE", "T_BRAND", "T_CATEGORY", "T_POPULARITY", "T_ID", "T_SID",
    "ItemFacts", "SearchResult", "TitleIndex", "parse_query", "search_items", "Listing", "ExportRequest", "TreeState",
]

#: This panel's name in :class:`~app.selection.SelectionEvent.source`.
SOURCE = "tree"

#: Columns of the items table, by position (:class:`ItemFacts` values and the model's headers).
T_TITLE, T_BRAND, T_CATEGORY, T_POPULARITY, T_ID, T_SID = range(6)

NO_NODE_CAPTION = "Select a node to list its items."


def prefix_text(prefix: Sequence[int]) -> str:
    """``(12, 48)`` -> ``"12-48"``; the root is ``"(root)"``."""
    return sid_text(prefix, "(root)")


def _plural(n: int, noun: str = "item") -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def stats_html(snapshot: ProjectSnapshot) -> str:
    """Per-level utilization, perplexity and prefix entropy as a compact HTML table."""
    diag = snapshot.diagnostics
    cell = "style='padding: 1px 14px 1px 0px'"
    head = "".join(f"<th align='right' {cell}>Level {s.level}</th>" for s in diag.levels)
    rows = [
        ("Codewords used", [f"{100 * s.utilization:.1f} % of {s.codebook_size}" for s in diag.levels]),
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
    if snapshot.project.sids.policy == "keep-all":
        collision = (f"Groups (collision policy keep-all): {100 * diag.collision_rate:.1f} % of items share their "
                     f"SID with another item; one SID names the whole group, the largest holds "
                     f"{diag.max_collision_depth}.")
    return (f"<table cellspacing='0'><tr><th></th>{head}</tr>{body}</table>"
            f"<div style='margin-top: 3px'>{html.escape(collision)}</div>")


# ------------------------------------------------------------------------------------ item facts


@dataclass(frozen=True)
class ItemFacts:
    """What the items table shows of an item, read from a snapshot (empty arrays: no project).

    ``titles``/``brands``/``categories`` are object arrays ``[N]`` (the catalogue's), ``popularity`` and ``item_ids``
    int64 ``[N]``, ``codes`` int64 ``[N, D]``. ``new_items`` are the cold-start lab's typed-in items
    (index ``>= N``): they show their typed fields, popularity 0 and item id -1.
    """

    catalogue: object | None  # the project's Catalogue (None: no project): its text columns, read on first use
    popularity: np.ndarray
    item_ids: np.ndarray
    codes: np.ndarray
    new_items: dict[int, LabItem] = dataclasses.field(default_factory=dict)

    @classmethod
    def empty(cls) -> "ItemFacts":
        ints = np.zeros(0, dtype=np.int64)
        return cls(None, ints, ints, np.zeros((0, 0), dtype=np.int64))

    @classmethod
    def from_snapshot(cls, snapshot: ProjectSnapshot | None) -> "ItemFacts":
        """Cheap: the text columns are the catalogue's cached arrays (:meth:`Catalogue.column`),
        which the window's look-up job makes off the GUI thread (~0.4 s at 10^6 items)."""
        if snapshot is None:
            return cls.empty()
        return cls(snapshot.project.dataset.catalogue, np.asarray(snapshot.popularity),
                   snapshot.project.sids.item_ids, snapshot.project.sids.codes)

    def _text(self, name: str) -> np.ndarray:
        return np.zeros(0, dtype=object) if self.catalogue is None else self.catalogue.column(name)

    @property
    def titles(self) -> np.ndarray:
        return self._text("title")

    @property
    def brands(self) -> np.ndarray:
        return self._text("brand")

    @property
    def categories(self) -> np.ndarray:
        return self._text("categories")

    def with_new_items(self, new_items: dict[int, LabItem]) -> "ItemFacts":
        """The same facts, naming these typed-in items."""
        return dataclasses.replace(self, new_items=dict(new_items))

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def value(self, item: int, col: int) -> str | int:
        """The raw value of a cell: text, or an int for popularity and item id."""
        item = int(item)
        if item >= self.n_items:
            return self._new_value(item, col)
        if col == T_TITLE:
            return str(self.titles[item])
        if col == T_BRAND:
            return str(self.brands[item])
        if col == T_CATEGORY:
            return leaf_category(str(self.categories[item]))
        if col == T_POPULARITY:
            return int(self.popularity[item]) if item < len(self.popularity) else 0
        if col == T_ID:
            return int(self.item_ids[item])
        return sid_text(self.codes[item].tolist())

    def text(self, item: int, col: int) -> str:
        """The displayed text of a cell (popularity with thousands separators)."""
        value = self.value(item, col)
        return f"{value:,}" if col == T_POPULARITY else str(value)

    def sorted(self, items: np.ndarray, col: int, descending: bool = False) -> np.ndarray:
        """``items`` (int64 ``[M]``) ordered by column ``col``; stable (ties keep their order).

        Text columns compare case-insensitively; the SID column by codes, level by level."""
        items = np.asarray(items, dtype=np.int64)
        if len(items) < 2 or self.n_items == 0:
            return items
        if (items >= self.n_items).any():  # typed-in items: no rows in the arrays below
            key = [self.value(int(i), col) for i in items]
            return _stable_order(items, np.array([k.casefold() if isinstance(k, str) else k for k in key]), descending)
        if col == T_POPULARITY:
            key = self.popularity[items]
        elif col == T_ID:
            key = self.item_ids[items]
        elif col == T_SID:
            order = np.lexsort(self.codes[items].T[::-1])
            return items[order[::-1]] if descending else items[order]
        else:
            key = np.array([str(self.value(int(i), col)).casefold() for i in items])
        return _stable_order(items, key, descending)

    def _new_value(self, item: int, col: int) -> str | int:
        """A cell of a typed-in item (no catalogue row)."""
        lab = self.new_items.get(item)
        if lab is None:
            return "" if col in (T_TITLE, T_BRAND, T_CATEGORY, T_SID) else -1
        return (lab.title, lab.brand, leaf_category(lab.categories), 0, -1, sid_text(lab.sid))[col]


def _stable_order(items: np.ndarray, key: np.ndarray, descending: bool) -> np.ndarray:
    """``items`` by ``key``; descending keeps ties in their current order too."""
    if descending:
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
    prefix_too: tuple[int, ...] | None = None  # a bare number that is also a first-level SID code


_PREFIX_RE = re.compile(r"^\d+(\s*[-,]\s*\d+)*\s*[-,]?$")


def _split_prefix(text: str) -> tuple[int, ...]:
    return tuple(int(t) for t in re.split(r"\s*[-,]\s*", text) if t)


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
        return ("prefix", _split_prefix(body)) if _PREFIX_RE.match(body) else ("title", text)
    if low.startswith("id:"):
        body = text[3:].strip()
        return ("id", int(body)) if body.isdigit() else ("title", text)
    if text.isdigit():
        return "id", int(text)
    if _PREFIX_RE.match(text):
        return "prefix", _split_prefix(text)
    return "title", text


def search_items(item_ids: np.ndarray, titles: np.ndarray | TitleIndex, query: str, first_level_size: int = 0,
                 lab_items: tuple[np.ndarray, np.ndarray] | None = None, *, progress=None, cancel=None) -> SearchResult:
    """Find ``query`` (see :func:`parse_query`) among the items: an engine-style job, Qt-free.

    ``item_ids`` int64 ``[N]`` and ``titles`` object ``[N]`` (or their :class:`TitleIndex`) are
    read-only snapshots;
    ``lab_items``: the cold-start lab's typed-in items (indices ``>= N`` and their titles), found
    by title too. A bare number is an item id; when it is also a code of the first SID level
    (``< first_level_size``) the result says so in ``prefix_too``; when it is no item id it is
    searched in the titles instead. Title matches are case-insensitive substrings, catalogue
    items in index order, then lab items.
    """
    kind, value = parse_query(query)
    if kind == "empty":
        return SearchResult(query, "none", (), None, "Type a title, an item id or a SID prefix.")
    if kind == "prefix":
        return SearchResult(query, "prefix", (), tuple(value), "")  # type: ignore[arg-type]
    prefix_too = None
    if kind == "id":
        bare = not query.strip().lower().startswith("id:")
        if bare and 0 <= int(value) < first_level_size:  # type: ignore[call-overload]
            prefix_too = (int(value),)  # type: ignore[call-overload]
        hits = np.flatnonzero(np.asarray(item_ids) == int(value))  # type: ignore[call-overload]
        if hits.size:
            return SearchResult(query, "id", (int(hits[0]),), None, "", prefix_too)
        if not bare:
            return SearchResult(query, "none", (), None, f"No match: no item has id {value}.")
        value = str(value)  # a bare number: look in the titles too
    if cancel is not None:
        cancel.raise_if_cancelled()
    needle = str(value).strip()

    def contains(texts) -> np.ndarray:
        return pd.Series(texts, dtype=object).str.contains(needle, case=False, regex=False, na=False).to_numpy()

    found = titles.find(needle) if isinstance(titles, TitleIndex) else np.flatnonzero(contains(titles))
    hits = [int(i) for i in found]
    if lab_items is not None and len(lab_items[0]):
        idx, lab_titles = lab_items
        hits += [int(i) for i in np.asarray(idx)[contains(lab_titles)]]
    if not hits:
        if prefix_too is not None:  # no item, no title: the number can only mean the SID prefix
            return SearchResult(query, "prefix", (), prefix_too, "")
        return SearchResult(query, "none", (), None, f"No match: no item id, SID prefix or title contains '{needle}'.")
    return SearchResult(query, "title", tuple(hits), None, "", prefix_too)


# ------------------------------------------------------------------------------------ panel state


@dataclass(frozen=True)
class Listing:
    """What the items table lists: ``items`` (int64 ``[M]``), the ``prefix`` they are under (None:
    no node) and the caption above the table."""

    items: np.ndarray
    prefix: tuple[int, ...] | None
    caption: str


@dataclass(frozen=True)
class ExportRequest:
    """What the save dialog of a subtree export asks: its title, default file name and filter."""

    fmt: str  # "csv" | "graphml"
    prefix: tuple[int, ...]
    title: str
    default_name: str
    file_filter: str

    def fix_path(self, path: str) -> str:
        """``path`` with the format's suffix added when the user left it out (``.xml`` counts as GraphML)."""
        suffix = ".csv" if self.fmt == "csv" else ".graphml"
        low = path.lower()
        if low.endswith(suffix) or (self.fmt == "graphml" and low.endswith(".xml")):
            return path
        return path + suffix


class TreeState:
    """The SID tree panel's view-model (GUI thread, no Qt).

    ``snapshot``: the open project (None: none). ``table_prefix``: the prefix the items table lists
    (None: a list that is no node). ``hits``/``hit_pos``/``hits_query``: the title matches of the
    last search, cycled by searching the same text again. ``new_items``: the cold-start lab's typed
    items by index. ``export_for``: the project an export in flight writes from (None: none).
    """

    def __init__(self) -> None:
        self.snapshot: ProjectSnapshot | None = None
        self.table_prefix: tuple[int, ...] | None = None
        self.hits: tuple[int, ...] = ()
        self.hit_pos = 0
        self.hits_query = ""
        self.prefix_too: tuple[int, ...] | None = None  # the SID-prefix reading of the last bare number
        self.new_items: dict[int, LabItem] = {}
        self.export_for: ProjectSnapshot | None = None
        self.title_index: TitleIndex | None = None  # the open project's titles, for search

    # ---- project ----
    def set_project(self, snapshot: ProjectSnapshot | None) -> None:
        """Another project (or none): every search hit, listing, lab item and pending export is stale."""
        self.snapshot = snapshot
        self.table_prefix = None
        self.hits, self.hit_pos, self.hits_query = (), 0, ""
        self.prefix_too = None
        self.new_items = {}
        self.export_for = None
        self.title_index = None if snapshot is None else snapshot.title_index

    def is_current(self, snapshot: ProjectSnapshot | None) -> bool:
        """Whether ``snapshot`` is still the open project (a job's outcome for another is dropped)."""
        return snapshot is not None and snapshot is self.snapshot

    def take_change(self, change: ItemsChange) -> bool:
        """Accept a cold-start lab change for the open project (False: for another one, ignore it)."""
        if self.snapshot is None or change.project is not self.snapshot.project:
            return False
        self.new_items = dict(change.new_items)
        return True

    def title(self, item: int) -> str:
        """An item's title; a typed-in lab item's is marked ``(new)``."""
        lab = self.new_items.get(int(item))
        if lab is not None:
            return f"{lab.title} (new)"
        return self.snapshot.project.dataset.catalogue.title(item) if self.snapshot is not None else f"item {item}"

    @staticmethod
    def focus_prefix(change: ItemsChange) -> tuple[int, ...] | None:
        """The node a lab change should show: the full SID of the first item it added, if live."""
        if change.added and change.added[0] in change.trie:
            return tuple(change.trie.code_of_item(change.added[0]))
        return None

    def is_catalogue_item(self, item: int) -> bool:
        """Whether other panels can show ``item`` (not a typed-in lab item)."""
        return self.snapshot is not None and 0 <= int(item) < self.snapshot.project.sids.n_items

    # ---- the items table ----
    def node_listing(self, items: np.ndarray, prefix: tuple[int, ...]) -> Listing:
        """The items of the tree node ``prefix``."""
        return Listing(np.asarray(items, dtype=np.int64), tuple(prefix), f"{_plural(len(items))} under {prefix_text(prefix)}")

    def listed(self, listing: Listing) -> None:
        """The table now shows ``listing``."""
        self.table_prefix = listing.prefix

    @staticmethod
    def empty_listing(caption: str = NO_NODE_CAPTION) -> Listing:
        return Listing(np.zeros(0, dtype=np.int64), None, caption)

    def selection_node(self, event: SelectionEvent) -> tuple[int, ...]:
        """The tree node a selection made elsewhere goes to: its prefix, else the items' common prefix."""
        if event.prefix is not None:
            return tuple(event.prefix)
        return self.common_prefix(np.asarray(event.items, dtype=np.int64))

    def selection_listing(self, event: SelectionEvent, node_found: bool) -> Listing | None:
        """What the table lists for a selection made elsewhere; None: the selected node's own items."""
        if event.empty:
            return self.empty_listing()
        prefix = self.selection_node(event)
        n = len(event.items)
        if n:
            where = f"under {prefix_text(prefix)}" if prefix else "(they share no SID prefix)"
            return Listing(np.asarray(event.items, dtype=np.int64), prefix or None,
                           f"{_plural(n, 'selected item')} {where}")
        if not node_found:
            return self.empty_listing(f"{prefix_text(prefix)} is not a node of this tree.")
        return None

    def common_prefix(self, items: np.ndarray) -> tuple[int, ...]:
        """The longest SID prefix shared by all ``items`` (``()`` when none or no items)."""
        if items.size == 0 or self.snapshot is None:
            return ()
        codes = self.snapshot.project.sids.codes[items]  # [M, D]
        same = (codes == codes[0]).all(axis=0)
        length = int(np.argmin(same)) if not same.all() else codes.shape[1]
        return tuple(int(t) for t in codes[0, :length])

    def table_pick(self, item: int) -> SelectionEvent | None:
        """What picking ``item`` in the table selects (``source`` is this panel); None: nothing.

        A typed-in lab item cannot be shown by other panels: the event then has no items and the
        listed node's prefix, meaning "select every item under it"."""
        if self.snapshot is None:
            return None
        if not self.is_catalogue_item(item):
            if self.table_prefix is None:
                return None
            return SelectionEvent((), self.table_prefix, SOURCE)
        return SelectionEvent((int(item),), self.table_prefix, SOURCE)

    # ---- search ----
    def search_args(self, query: str) -> tuple | None:
        """The arguments of :func:`search_items` for ``query`` (snapshots of the item ids, titles,
        the first level's size and the lab's typed-in items)."""
        if self.snapshot is None:
            return None
        catalogue = self.snapshot.project.dataset.catalogue
        lab = (np.asarray(list(self.new_items), dtype=np.int64),
               np.asarray([item.title for item in self.new_items.values()], dtype=object))
        return (self.snapshot.project.sids.item_ids, self.title_index or catalogue.items["title"].to_numpy(), query,
                int(self.snapshot.project.sids.level_sizes[0]), lab)

    def next_hit(self, query: str) -> bool:
        """Searching the same text again steps to the next title match (True); otherwise a new search is due."""
        if len(self.hits) > 1 and query == self.hits_query:
            self.hit_pos = (self.hit_pos + 1) % len(self.hits)
            return True
        return False

    def take_search(self, result: SearchResult) -> None:
        """A search result arrived: its matches (if any) replace the last ones."""
        self.hits, self.hit_pos, self.hits_query = (), 0, ""
        self.prefix_too = result.prefix_too
        if result.kind in ("id", "title"):
            self.hits, self.hits_query = result.items, result.query

    def sid_of(self, item: int) -> tuple[int, ...]:
        """The full SID of a catalogue item or of a typed-in lab item."""
        lab = self.new_items.get(int(item))
        if lab is not None:
            return tuple(int(t) for t in lab.sid)
        return tuple(int(t) for t in self.snapshot.project.sids.codes[item])

    def current_hit(self) -> tuple[int, tuple[int, ...]]:
        """The match to show: its item and full SID."""
        item = self.hits[self.hit_pos]
        return item, self.sid_of(item)

    def hit_status(self) -> str:
        """The status line of the shown match."""
        item = self.hits[self.hit_pos]
        short = elide(self.title(item), 48)
        also = (f" — {self.prefix_too[0]} is also a SID prefix: type {self.prefix_too[0]}- for the node"
                if self.prefix_too else "")
        if len(self.hits) > 1:
            return f"Match {self.hit_pos + 1} of {len(self.hits):,} (listed below; Enter for the next): {short}{also}"
        name = f"Item {int(self.snapshot.project.sids.item_ids[item])}" if self.is_catalogue_item(item) else "New item"
        return f"{name}: {short}{also}"

    RESULTS_SHOWN = 500  # rows of the result list; the status line gives the full count

    def result_rows(self) -> list[tuple[str, str, object]]:
        """The result list of the last search: ``(text, "all" | "prefix" | "hit", items, prefix or hit
        position)``: "select all matches" when there are several, the SID-prefix reading of a bare
        number, then up to :data:`RESULTS_SHOWN` matches."""
        rows: list[tuple[str, str, object]] = []
        catalogue = [i for i in self.hits if self.is_catalogue_item(i)]
        if len(catalogue) > 1:
            rows.append((f"Select all {len(catalogue):,} matches (the map highlights them and says what they share)",
                         "all", tuple(catalogue)))
        if self.prefix_too:
            rows.append((f"SID prefix {prefix_text(self.prefix_too)} (the node)", "prefix", self.prefix_too))
        for pos, item in enumerate(self.hits[: self.RESULTS_SHOWN]):
            rows.append((f"{elide(self.title(item), 70)}  ·  {sid_text(self.sid_of(item))}", "hit", pos))
        if len(self.hits) > self.RESULTS_SHOWN:
            rows.append((f"… and {len(self.hits) - self.RESULTS_SHOWN:,} more: refine the search", "more", None))
        return rows

    @staticmethod
    def prefix_status(prefix: tuple[int, ...], found: bool) -> str:
        return f"Node {prefix_text(prefix)}" if found else f"No match: {prefix_text(prefix)} is not a node of this tree."

    # ---- export ----
    def export_request(self, fmt: str, prefix: tuple[int, ...]) -> ExportRequest | None:
        """The save dialog for exporting the subtree ``prefix`` as ``fmt`` (None without a project)."""
        if self.snapshot is None:
            return None
        suffix, file_filter = (".csv", "CSV files (*.csv)") if fmt == "csv" else (".graphml", "GraphML files (*.graphml)")
        name = f"{self.snapshot.name}-subtree-{prefix_text(prefix)}{suffix}"
        return ExportRequest(fmt, tuple(prefix), f"Export subtree {prefix_text(prefix)}", name, file_filter)

    @property
    def exporting(self) -> bool:
        """An export of the open project is writing its file."""
        return self.export_for is not None and self.export_for is self.snapshot

    def can_export(self, prefix: tuple[int, ...] | None) -> bool:
        return self.snapshot is not None and prefix is not None and not self.exporting

    @staticmethod
    def export_text(result) -> str:
        """The status line of a finished export (a :class:`~genrec_engine.SubtreeExport`)."""
        return (f"Wrote {result.items:,} items ({result.nodes:,} nodes) under "
                f"{prefix_text(result.prefix)} to {result.path}")
