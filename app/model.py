"""The plain (Qt-free) objects the app's panels share: the open project, the cold-start lab's live
items, the linked selection's events.

:func:`load_project` is the engine job the window submits to open a project: a plain function with
the engine's progress/cancel protocol, safe to run on a worker thread. Everything here can be
imported without Qt, so the panels' view-models (``app/panels/*/state.py``) stay Qt-free and are
unit-tested without widgets.
"""
from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from genrec_engine import CancelToken, PrefixTrie, Project, ProgressFn, TokenizerDiagnostics

__all__ = ["ProjectSnapshot", "load_project", "item_completions", "ItemLookups", "TitleIndex", "LabItem", "ItemsChange", "SelectionEvent"]

#: Items per part when the look-ups are built: a worker building them holds the GIL, and the GUI
#: thread gets it between parts (a 1M-item dict or text in one go stalled it for ~0.5 s).
LOOKUP_CHUNK = 50_000


@dataclass(frozen=True)
class ProjectSnapshot:
    """An opened project and the figures computed from it, ready for panels to show.

    Built on a worker thread, handed to the GUI thread whole, then only read.
    """

    path: Path
    project: Project  # its dataset and trie are already loaded (no lazy load on the GUI thread)
    diagnostics: TokenizerDiagnostics  # per-level codebook health, from the SID table
    popularity: np.ndarray  # [N] int64: interactions per item index in the whole dataset
    #: what item pickers and search look items up by: built by a background job the window starts
    #: once the project is shown (~1.5 s at 10^6 items), or on first use
    lookups: "ItemLookups"

    @property
    def name(self) -> str:
        return self.project.name

    @property
    def completions(self) -> dict[str, int]:
        """``"<title>  [<item id>]"`` -> item index, the text item pickers complete (one dict per
        project: a dict of 1M entries took the GUI thread ~2 s in each panel that built its own).
        Read it on the GUI thread only after :attr:`ItemLookups.ready` (else it is built there)."""
        return self.lookups.completions()

    @property
    def id_index(self) -> dict[int, int]:
        """Item id -> item index (same rule as :attr:`completions`)."""
        return self.lookups.id_index()

    @property
    def title_index(self) -> "TitleIndex":
        """The titles, searchable (:class:`TitleIndex`; prepared by :meth:`ItemLookups.build`)."""
        return self.lookups.titles


def load_project(
    path: str | os.PathLike, *, progress: ProgressFn | None = None, cancel: CancelToken | None = None
) -> ProjectSnapshot:
    """Open the project folder at ``path`` and compute what the panels show (~0.5 s for 12k items):
    the dataset, the trie, tokenizer diagnostics and item popularity are all loaded here, off the
    GUI thread. The item look-ups (completions, ids, searchable titles) are not built here but by
    :meth:`ItemLookups.build`, which the window runs as a job of its own once the project is
    shown: at 10^6 items they are ~1.5 s that the first paint need not wait for.

    Raises the engine's ``ProjectFormatError`` for folders that are not (readable) projects.
    """
    path = Path(path)
    if progress is not None:
        progress(0.0, f"opening {path.name}")
    project = Project.open(path)
    if cancel is not None:
        cancel.raise_if_cancelled()
    if progress is not None:
        progress(0.6, "tokenizer diagnostics")
    diagnostics = project.diagnostics()
    if progress is not None:
        progress(0.7, "loading the dataset")
    dataset = project.dataset
    popularity = np.bincount(dataset.interactions.frame["item_index"].to_numpy(), minlength=project.sids.n_items)
    if cancel is not None:
        cancel.raise_if_cancelled()
    if progress is not None:
        progress(0.9, "building the prefix trie")
    project.trie  # noqa: B018 - built here, on the worker
    if progress is not None:
        progress(1.0, "ready")
    return ProjectSnapshot(path=path, project=project, diagnostics=diagnostics, popularity=popularity.astype(np.int64),
                           lookups=ItemLookups(project))


class ItemLookups:
    """A project's item look-ups, each built once on first use, safe from any thread: the
    completions of item pickers, item id -> index, and the searchable titles. :meth:`build` makes
    all three (the window's job after a load), and the catalogue's text columns as arrays
    (:meth:`~genrec_engine.data.Catalogue.column`, which the SID tree's items table reads);
    :attr:`ready` says it is done, so the GUI thread reads them without building."""

    def __init__(self, project: Project):
        self._project = project
        self._lock = threading.Lock()
        self._completions: dict[str, int] | None = None
        self._id_index: dict[int, int] | None = None
        self.titles = TitleIndex(project.dataset.catalogue.column("title"))
        self.ready = False

    def completions(self) -> dict[str, int]:
        with self._lock:
            if self._completions is None:
                self._completions = item_completions(self._project)
            return self._completions

    def id_index(self) -> dict[int, int]:
        with self._lock:
            if self._id_index is None:
                ids, index = self._project.sids.item_ids, {}
                for lo in range(0, len(ids), LOOKUP_CHUNK):  # in parts: see item_completions
                    index.update(zip(ids[lo:lo + LOOKUP_CHUNK].tolist(), range(lo, lo + LOOKUP_CHUNK)))
                self._id_index = index
            return self._id_index

    def build(self, *, progress: ProgressFn | None = None, cancel: CancelToken | None = None) -> "ItemLookups":
        """Build every look-up now (a worker job); returns self with :attr:`ready` set."""
        catalogue = self._project.dataset.catalogue
        for share, what, make in ((0.0, "item ids", self.id_index), (0.1, "searchable titles", self.titles.prepared),
                                  (0.35, "item picker completions", self.completions),
                                  *((0.7 + 0.15 * i, f"item {name}", lambda name=name: catalogue.column(name))
                                    for i, name in enumerate(("brand", "categories")))):  # titles: made in __init__
            if cancel is not None:
                cancel.raise_if_cancelled()
            if progress is not None:
                progress(share, f"indexing {what}")
            make()
        self.ready = True
        if progress is not None:
            progress(1.0, "item look-ups ready")
        return self


class TitleIndex:
    """Case-insensitive substring search over a catalogue's titles, fast at 10^6 titles: every
    title lower-cased into one text (built by :meth:`prepared`, which :func:`load_project` calls on
    its worker, ~0.5 s for 1M titles; else on the first search), searched with one scan of that
    text; a match's offset tells its title. About 10x faster than a per-title ``str.contains``
    (~220 ms for 1M titles)."""

    def __init__(self, titles: np.ndarray):
        self._titles = titles
        self._text: str | None = None
        self._starts: np.ndarray | None = None
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._titles)

    def _build(self) -> tuple[str, np.ndarray]:
        with self._lock:
            if self._text is None:
                texts, lengths = [], []
                for lo in range(0, len(self._titles), LOOKUP_CHUNK):  # in parts: see item_completions
                    clean = ["" if t is None or t != t else str(t).replace("\n", " ")
                             for t in self._titles[lo:lo + LOOKUP_CHUNK].tolist()]
                    text = "\n".join(clean)
                    low = text.lower()  # one call per part (per title: 0.4 s more at 10^6 titles)
                    if len(low) != len(text):  # a character whose lower case is longer (e.g. U+0130): per title
                        clean = [t.lower() for t in clean]
                        low = "\n".join(clean)
                    texts.append(low)
                    lengths.append(np.fromiter(map(len, clean), dtype=np.int64, count=len(clean)) + 1)
                lengths = np.concatenate(lengths) if lengths else np.zeros(0, np.int64)
                self._starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64) if len(lengths) \
                    else np.zeros(0, np.int64)
                self._text = "\n".join(texts)
            return self._text, self._starts

    def prepared(self) -> "TitleIndex":
        """Build the searchable text now (on the worker that opens a project); returns self."""
        self._build()
        return self

    def find(self, needle: str) -> np.ndarray:
        """Indices (ascending) of the titles containing ``needle``, ignoring case."""
        needle = needle.lower()
        if not needle or "\n" in needle or len(self._titles) == 0:
            return np.zeros(0, dtype=np.int64)
        text, starts = self._build()
        offsets = np.fromiter((m.start() for m in re.finditer(re.escape(needle), text)), dtype=np.int64)
        return np.unique(np.searchsorted(starts, offsets, side="right") - 1)


def item_completions(project) -> dict[str, int]:
    """``"<title>  [<item id>]"`` -> item index for every catalogue item (what item pickers
    complete). Built in parts of :data:`LOOKUP_CHUNK` items: a worker building it holds the GIL,
    and the GUI thread gets it between parts."""
    titles = project.dataset.catalogue.column("title")
    ids = project.sids.item_ids
    out: dict[str, int] = {}
    for lo in range(0, len(titles), LOOKUP_CHUNK):
        part = titles[lo:lo + LOOKUP_CHUNK]
        keys = [f"{'' if t is None else t}  [{i}]" for t, i in zip(part.tolist(), ids[lo:lo + LOOKUP_CHUNK].tolist())]
        out.update(zip(keys, range(lo, lo + len(keys))))
    return out


@dataclass(frozen=True)
class LabItem:
    """A typed-in item of the cold-start lab: not in the catalogue, index ``>= N``."""

    index: int  # >= N (the catalogue's item count): it has no catalogue row, embedding row or layout row
    title: str
    brand: str
    categories: str
    sid: tuple[int, ...]  # full SID, collision code last
    anchors: tuple[int, ...]  # catalogue item indices nearest to it by content cosine: the map draws it at the
    # mean of their layout positions (it has no UMAP position of its own; near them is where UMAP would put it)


@dataclass(frozen=True)
class ItemsChange:
    """Which items are live (decodable) in the cold-start lab's session after one change.

    Carries the full state after the change, not only the difference, so a receiver needs no
    history. Built on the GUI thread; ``trie`` is a copy that nobody mutates: read it on the GUI
    thread only (its nodes follow the same SID prefixes as the project's trie, with new ones added).
    """

    project: Project  # the project it belongs to: receivers drop changes for another project
    trie: PrefixTrie  # the session's live trie after the change (a private copy)
    added: tuple[int, ...]  # items this change made live (injected)
    removed: tuple[int, ...]  # items this change took out (retired)
    injected: tuple[int, ...]  # every live injected item, oldest first: held-out catalogue items (< N), typed ones (>= N)
    retired: tuple[int, ...]  # catalogue items (< N) the session retired (not live)
    new_items: dict[int, LabItem]  # every typed item the session holds, live or not, by index

    def title(self, item: int) -> str | None:
        """The title of a typed item, or None for a catalogue item."""
        lab = self.new_items.get(int(item))
        return None if lab is None else lab.title


@dataclass(frozen=True)
class SelectionEvent:
    """One selection: the items picked, the SID prefix they were picked by (if any), and who picked."""

    items: tuple[int, ...]
    prefix: tuple[int, ...] | None
    source: str

    @property
    def empty(self) -> bool:
        return not self.items and self.prefix is None

    @property
    def first(self) -> int | None:
        """The item a single-item view (weights, cold-start) should show, or None."""
        return self.items[0] if self.items else None
