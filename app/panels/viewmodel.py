"""The view-model of the open project that every panel reads (a QObject: it has signals)."""
from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from ..model import ItemsChange, ProjectSnapshot

__all__ = ["ProjectViewModel"]


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
