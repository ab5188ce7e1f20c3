"""Panels, one file each, and the shared view-model of the open project they all read.

A panel is a view: it subscribes to :class:`ProjectViewModel` (which it does not own), shows what
the current :class:`ProjectSnapshot` holds, and follows the window's linked
:class:`~app.selection.Selection`. Work that takes more than a few milliseconds (UMAP, loading a
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

from genrec_engine import CancelToken, Project, ProgressFn, TokenizerDiagnostics

__all__ = ["ProjectSnapshot", "ProjectViewModel", "load_project"]


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

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.snapshot: ProjectSnapshot | None = None
        self.loading: Path | None = None
        self.error: str | None = None

    # ---- public (called by the window) ----
    def set_loading(self, path: str | os.PathLike | None) -> None:
        self.loading = Path(path) if path is not None else None
        if path is not None:
            self.error = None
        self.sig_status_changed.emit()

    def set_snapshot(self, snapshot: ProjectSnapshot | None) -> None:
        self.snapshot, self.loading, self.error = snapshot, None, None
        self.sig_status_changed.emit()
        self.sig_project_changed.emit(snapshot)

    def set_error(self, message: str) -> None:
        """A load failed: the previous project (if any) stays open."""
        self.loading, self.error = None, message
        self.sig_status_changed.emit()
