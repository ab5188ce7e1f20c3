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
from .jobs import (
    KINDS,
    Decoded,
    DecodeRequest,
    DecodeView,
    Move,
    build_stepper,
    filter_blocked_items,
    load_stepper_generator,
    move_stepper,
    open_stepper_project,
)
from .models import CandidatesModel, HistoryModel, ResultsModel
from .state import Options, StepperState, TreeNode
from .tree import BeamTreeView
from .view import SOURCE, StepperPanel

__all__ = [
    "SOURCE",
    "KINDS",
    "StepperPanel",
    "StepperState",
    "Options",
    "BeamTreeView",
    "TreeNode",
    "CandidatesModel",
    "ResultsModel",
    "HistoryModel",
    "DecodeRequest",
    "DecodeView",
    "Decoded",
    "Move",
    "open_stepper_project",
    "load_stepper_generator",
    "filter_blocked_items",
    "build_stepper",
    "move_stepper",
]
