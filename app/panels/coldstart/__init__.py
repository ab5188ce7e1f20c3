"""The cold-start lab: give a new item a semantic ID, see where it lands, and whether a user gets it.

Modules: :mod:`.results` (constants and the jobs' frozen results), :mod:`.state` (the Qt-free
view-model :class:`LabState`), :mod:`.jobs` (engine jobs, run on the bridge), :mod:`.models`
(tables), :mod:`.plots` (per-level bar charts), :mod:`.columns` (the three columns' widgets) and
:mod:`.view` (:class:`ColdStartPanel`, binding them).
"""
from .models import ColdItemsModel, ItemRowsModel, SessionItemsModel, TopListModel
from .plots import LevelCharts, LevelProbPlot
from .results import (
    COLD_PROJECT,
    EXAMPLE_ITEM,
    HYBRID_DEPTH,
    SOURCE,
    Analysis,
    CurrentItem,
    LabSetup,
    LabText,
    LevelProbs,
    TestUsers,
    TopEntry,
)
from .state import LabState
from .view import ColdStartPanel

__all__ = [
    "SOURCE", "EXAMPLE_ITEM", "COLD_PROJECT", "HYBRID_DEPTH", "ColdStartPanel", "LabState",
    "TestUsers", "LabSetup", "LabText", "CurrentItem", "LevelProbs", "TopEntry", "Analysis",
    "ItemRowsModel", "SessionItemsModel", "ColdItemsModel", "TopListModel", "LevelCharts", "LevelProbPlot",
]
