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
from .models import GROUP_COLOURS, INVALID_COLOUR, OVERLAP_COLOURS, GroupsModel, HistoryModel, ResultsModel
from .plots import GroupsPlot
from .state import (
    KINDS,
    MAX_HISTORY,
    GeneratorLoad,
    ListResult,
    PlaygroundRequest,
    PlaygroundSetup,
    PlaygroundState,
    ResultRow,
    list_rows,
    load_generator,
    overlap_counts,
    prepare_playground,
    recommend_list,
)
from .view import DEBOUNCE_MS, SOURCE, PlaygroundPanel

__all__ = [
    "PlaygroundPanel", "PlaygroundState", "SOURCE", "KINDS", "MAX_HISTORY", "DEBOUNCE_MS",
    "PlaygroundRequest", "GeneratorLoad", "PlaygroundSetup", "ListResult", "ResultRow",
    "HistoryModel", "ResultsModel", "GroupsModel", "GroupsPlot", "OVERLAP_COLOURS", "INVALID_COLOUR", "GROUP_COLOURS",
    "load_generator", "prepare_playground", "recommend_list", "list_rows", "overlap_counts",
]
