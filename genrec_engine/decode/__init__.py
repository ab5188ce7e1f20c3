"""Decoding: constrained (diverse) beam search with a step trace, sampling, exact reference, MMR."""
from __future__ import annotations

from .beam import (
    BeamCandidates,
    BeamResult,
    BeamStep,
    Candidate,
    ChosenBeam,
    PrunedCandidate,
    beam_search,
    exact_topk,
    sample,
    topk_overlap,
)
from .rerank import mmr
from .stepper import MODES as STEPPER_MODES, BeamStepper, HeldOutUsers, StepperConfig, StepperResult, StepRecord, find_demo_user, held_out_users

__all__ = [
    "BeamCandidates",
    "BeamResult",
    "BeamStep",
    "Candidate",
    "ChosenBeam",
    "PrunedCandidate",
    "beam_search",
    "exact_topk",
    "mmr",
    "sample",
    "topk_overlap",
    "STEPPER_MODES", "BeamStepper", "HeldOutUsers", "StepperConfig", "StepperResult", "StepRecord", "find_demo_user",
    "held_out_users",
]
