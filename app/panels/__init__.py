"""Panels, one package each, and the shared view-model of the open project they all read.

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

from ..lazy import lazy_exports

__all__ = ["ProjectSnapshot", "ProjectViewModel", "load_project", "LabItem", "ItemsChange"]

# imported on first use, so a view-model that needs ProjectSnapshot does not load Qt
__getattr__ = lazy_exports(__name__, {
    "ProjectViewModel": "app.panels.viewmodel",
    **dict.fromkeys(("ProjectSnapshot", "load_project", "LabItem", "ItemsChange"), "app.model"),
})
