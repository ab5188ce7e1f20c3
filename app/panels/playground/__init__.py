"""Playground panel: build a history, then compare what three generators recommend for it.

The left half builds the request: a history of items (search by title, brand or item id; add,
remove, reorder by drag or with the arrow buttons; take a test user's history or the items
selected in another panel) and, beside it, the history's interest groups (items sharing a SID
prefix of a chosen depth, with size, recency and representative titles; history rows are tinted
with their group's colour). An instruction box feeds generators trained with instructions.

The lower half shows three top-k lists side by side, each decoded by its own generator:
TIGER-style, RAN and SASRec. An item that two or three lists share is tinted (legend above the
lists); in unconstrained mode a SID that names no item is shown greyed and counted.

Everything slow runs on the :class:`~app.bridge.EngineBridge`: each generator comes once per
project from the project's shared generator cache; every change of the request (history,
instruction, options) restarts a ~300 ms debounce, then one decode job per generator is submitted
through :func:`genrec_engine.recommend_indices` (at most one per generator in flight: a newer
request waits for the running one and replaces it). A result is shown only when it answers the
newest request, so a slow old decode never overwrites a newer list.

Modules: :mod:`.state` (the Qt-free view-model and the jobs), :mod:`.models` (history, list and
group tables, colours), :mod:`.plots` (the groups bar chart), :mod:`.boxes` (widget groups),
:mod:`.view` (the panel). Source name in the linked selection: ``"playground"``.
"""
from __future__ import annotations

from ...lazy import lazy_exports

__all__ = [
    "PlaygroundPanel", "PlaygroundState", "SOURCE", "KINDS", "MAX_HISTORY", "DEBOUNCE_MS",
    "PlaygroundRequest", "GeneratorLoad", "PlaygroundSetup", "ListResult", "ResultRow", "HistoryModel",
    "ResultsModel", "GroupsModel", "GroupsPlot", "OVERLAP_COLOURS", "INVALID_COLOUR", "GROUP_COLOURS",
    "load_generator", "prepare_playground", "recommend_list", "list_rows", "overlap_counts",
]

# each name is imported from its module on first use: the view-model (.state) loads without Qt
__getattr__ = lazy_exports(__name__, {
    **dict.fromkeys(('PlaygroundPanel', 'SOURCE', 'DEBOUNCE_MS'), '.view'),
    **dict.fromkeys(('PlaygroundState', 'KINDS', 'MAX_HISTORY', 'PlaygroundRequest', 'GeneratorLoad', 'PlaygroundSetup', 'ListResult', 'ResultRow', 'load_generator', 'prepare_playground', 'recommend_list', 'list_rows', 'overlap_counts'), '.state'),
    **dict.fromkeys(('HistoryModel', 'ResultsModel', 'GroupsModel', 'OVERLAP_COLOURS', 'INVALID_COLOUR', 'GROUP_COLOURS'), '.models'),
    **dict.fromkeys(('GroupsPlot',), '.plots'),
})
