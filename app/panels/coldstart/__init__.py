"""The cold-start lab: give a new item a semantic ID, see where it lands, and whether a user gets it.

Modules: :mod:`.results` (constants and the jobs' frozen results), :mod:`.state` (the Qt-free
view-model :class:`LabState`), :mod:`.jobs` (engine jobs, run on the bridge), :mod:`.models`
(tables), :mod:`.plots` (per-level bar charts), :mod:`.columns` (the three columns' widgets) and
:mod:`.view` (:class:`ColdStartPanel`, binding them).
"""
from __future__ import annotations

from ...lazy import lazy_exports

__all__ = [
    "SOURCE", "EXAMPLE_ITEM", "COLD_PROJECT", "HYBRID_DEPTH", "ColdStartPanel", "LabState", "TestUsers",
    "LabSetup", "LabText", "CurrentItem", "LevelProbs", "TopEntry", "Analysis", "ItemRowsModel",
    "SessionItemsModel", "ColdItemsModel", "TopListModel", "LevelCharts", "LevelProbPlot",
]

# each name is imported from its module on first use: the view-model (.state) loads without Qt
__getattr__ = lazy_exports(__name__, {
    **dict.fromkeys(('SOURCE', 'EXAMPLE_ITEM', 'COLD_PROJECT', 'HYBRID_DEPTH', 'TestUsers', 'LabSetup', 'LabText', 'CurrentItem', 'LevelProbs', 'TopEntry', 'Analysis'), '.results'),
    **dict.fromkeys(('ColdStartPanel',), '.view'),
    **dict.fromkeys(('LabState',), '.state'),
    **dict.fromkeys(('ItemRowsModel', 'SessionItemsModel', 'ColdItemsModel', 'TopListModel'), '.models'),
    **dict.fromkeys(('LevelCharts', 'LevelProbPlot'), '.plots'),
})
