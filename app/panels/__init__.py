"""Panels, one file each, and the shared view-model of the open project they all read.

A panel is a view: it subscribes to :class:`ProjectViewModel` (which it does not own), shows what
the current :class:`ProjectSnapshot` holds, and follows the window's linked
:class:`~app.selection.Selection`. The cold-start lab may change which items are live (inject a new
or held-out item, retire one) on a private copy of the trie; it announces each change as an
:class:`ItemsChange` through :attr:`ProjectViewModel.sig_items_changed`, and the tree and the map
show it. The project's own trie is never changed. Work that takes more than a few milliseconds (UMAP, loading a
generator, decoding) the panel submits to the :class:`~app.bridge.EngineBridge` it was given and
shows when the result signal arrives; it never runs such work on the GUI thread. Panels are built
as ``Panel(view_model, selection, bridge)``. The main window owns all three.

:func:`load_project` is the engine job the window submits to open a project: a plain function with
the engine's progress/cancel protocol, safe to run on a worker thread (it touches no Qt object).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from genrec_engine import CancelToken, PrefixTrie, Project, ProgressFn, TokenizerDiagnostics

__all__ = ["ProjectSnapshot", "ProjectViewModel", "load_project", "LabItem", "ItemsChange"]


@dataclass(frozen=True)
class ProjectSnapshot:
    """An opened project and the figures computed from it, ready for panels to show.

    Built on a worker thread, handed to the GUI thread whole, then only read.
    """

    path: Path
    project: Project  # its dataset and trie are already loaded (no lazy load on the GUI thread)
    diagnostics: TokenizerDiagnostics  # per-level codebook health, from the SID table
    popularity: np.ndarray  # [N] int64: interactions per item index in the whole dataset

    @property
    def name(self) -> str:
        return self.project.name


def load_project(
    path: str | os.PathLike, *, progress: ProgressFn | None = None, cancel: CancelToken | None = None
) -> ProjectSnapshot:
    """Open the project folder at ``path`` and compute what the panels show (~0.5 s for 12k items):
    the dataset, the trie, tokenizer diagnostics and item popularity are all loaded here, off the
    GUI thread.

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
    return ProjectSnapshot(path=path, project=project, diagnostics=diagnostics, popularity=popularity.astype(np.int64))


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


class ProjectViewModel(QObject):
    """What every panel reads: the open project (if any), and whether another one is loading.

    States: nothing open and nothing loading (``snapshot is None``, ``loading is None``), loading
    (``loading`` holds the folder), open (``snapshot`` set). A failed load keeps the previous
    snapshot and records the message in ``error``. Mutated only on the GUI thread, by the window.
    """

    sig_project_changed = Signal(object)
    """``(snapshot | None)``: a different project is now open (None: the project was closed)."""

    sig_status_changed = Signal()
    """Loading started or ended, or a load failed (read ``loading`` and ``error``)."""

    sig_items_changed = Signal(object)
    """``(ItemsChange)``: the cold-start lab injected or retired items (or reset its session) in the
    open project; ``change.trie`` is the live trie to show, ``change.added``/``removed`` what moved.
    A new project (``sig_project_changed``) drops every such change: views go back to the
    project's own trie."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.snapshot: ProjectSnapshot | None = None
        self.loading: Path | None = None
        self.error: str | None = None
        self.items_change: ItemsChange | None = None  # the latest change for the open project, if any

    # ---- public (called by the window) ----
    def set_loading(self, path: str | os.PathLike | None) -> None:
        self.loading = Path(path) if path is not None else None
        if path is not None:
            self.error = None
        self.sig_status_changed.emit()

    def set_snapshot(self, snapshot: ProjectSnapshot | None) -> None:
        self.snapshot, self.loading, self.error = snapshot, None, None
        self.items_change = None
        self.sig_status_changed.emit()
        self.sig_project_changed.emit(snapshot)

    def set_error(self, message: str) -> None:
        """A load failed: the previous project (if any) stays open."""
        self.loading, self.error = None, message
        self.sig_status_changed.emit()

    def announce_items_changed(self, change: ItemsChange) -> None:
        """The cold-start lab changed the live items of the open project (GUI thread only)."""
        if self.snapshot is None or change.project is not self.snapshot.project:
            return  # a change for a project that is no longer open
        self.items_change = change
        self.sig_items_changed.emit(change)
