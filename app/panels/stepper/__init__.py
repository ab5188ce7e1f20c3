"""The beam stepper panel, as a package.

- :mod:`.jobs`: the engine jobs (open a project's test users, load a generator, apply a filter,
  encode an instruction, build and move a :class:`~genrec_engine.BeamStepper`) and their frozen
  results; Qt-free, run on the bridge's workers.
- :mod:`.state`: the view-model (:class:`StepperState`, :class:`Options`) and how a decode becomes
  tree nodes, rows and text; Qt-free.
- :mod:`.models`: the history, candidates and results tables.
- :mod:`.tree`: the beam tree view.
- :mod:`.controls`: the option controls.
- :mod:`.view`: :class:`StepperPanel`, which binds them.
"""
from __future__ import annotations

from ...lazy import lazy_exports

__all__ = [
    "SOURCE", "KINDS", "StepperPanel", "StepperState", "Options", "BeamTreeView", "TreeNode",
    "CandidatesModel", "ResultsModel", "HistoryModel", "DecodeRequest", "DecodeView", "Decoded", "Move",
    "open_stepper_project", "load_stepper_generator", "filter_blocked_items", "build_stepper", "move_stepper",
]

# each name is imported from its module on first use: the view-model (.state) loads without Qt
__getattr__ = lazy_exports(__name__, {
    **dict.fromkeys(('SOURCE', 'StepperPanel'), '.view'),
    **dict.fromkeys(('KINDS', 'DecodeRequest', 'DecodeView', 'Decoded', 'Move', 'open_stepper_project', 'load_stepper_generator', 'filter_blocked_items', 'build_stepper', 'move_stepper'), '.jobs'),
    **dict.fromkeys(('StepperState', 'Options', 'TreeNode'), '.state'),
    **dict.fromkeys(('BeamTreeView',), '.tree'),
    **dict.fromkeys(('CandidatesModel', 'ResultsModel', 'HistoryModel'), '.models'),
})
