"""Linked selection: what the user picked, shared by every panel.

A panel that lets the user pick items or a SID prefix calls :meth:`Selection.select_items` or
:meth:`Selection.select_prefix` with its own ``source`` name; every panel listens to
``sig_changed`` and shows the same pick (the tree expands to the prefix, the map highlights the
points, the weights panel shows the first item). A panel ignores the events it sent itself, so
no update loops back.

Items are **item indices**: rows of the project's SID table, which are also rows of its catalogue
and of its embeddings (``project.sids.item_ids[i]`` is the catalogue's item id).
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
from PySide6.QtCore import QObject, Signal

from .model import SelectionEvent

__all__ = ["Selection", "SelectionEvent"]


_EMPTY = SelectionEvent((), None, "")


class Selection(QObject):
    """The current selection of the window, with one change signal. GUI thread only."""

    sig_changed = Signal(object)
    """``(SelectionEvent)``: the selection changed (``event.source`` names the panel that changed it)."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.current: SelectionEvent = _EMPTY
        self._sids = None  # the open project's SIDTable, to resolve prefixes to items

    def set_sid_table(self, sids) -> None:
        """A project opened (or closed: None). The selection is cleared."""
        self._sids = sids
        self.clear("project")

    def select_items(self, items: Iterable[int], source: str, prefix: Iterable[int] | None = None) -> SelectionEvent:
        """Select these item indices (order kept, duplicates dropped)."""
        seen: dict[int, None] = {}
        for i in items:
            seen.setdefault(int(i), None)
        event = SelectionEvent(tuple(seen), tuple(int(c) for c in prefix) if prefix is not None else None, source)
        return self._set(event)

    def select_prefix(self, prefix: Iterable[int], source: str) -> SelectionEvent:
        """Select every item whose SID starts with ``prefix`` (needs an open project)."""
        prefix = tuple(int(c) for c in prefix)
        items = self._sids.items_with_prefix(prefix) if self._sids is not None else np.zeros(0, dtype=np.int64)
        return self._set(SelectionEvent(tuple(int(i) for i in items), prefix, source))

    def clear(self, source: str = "") -> None:
        self._set(SelectionEvent((), None, source))

    def _set(self, event: SelectionEvent) -> SelectionEvent:
        if (event.items, event.prefix) == (self.current.items, self.current.prefix):
            return self.current  # nothing changed: no signal, so views that echo it cannot loop
        self.current = event
        self.sig_changed.emit(event)
        return event
