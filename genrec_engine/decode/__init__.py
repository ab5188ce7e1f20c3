"""Decoding: constrained (diverse) beam search with a step trace, sampling, exact reference, MMR.

Every decoder is a loop of :func:`advance` (one SID level for a whole batch: mask, score, select)
over :class:`Frame` objects, with composable token masks (:class:`TrieMask`, :class:`AllowMask`,
:class:`BlockMask`, :class:`ExclusionMask`, ANDed by :func:`combine_masks`).

- :mod:`.step`: :class:`Frame`, :func:`advance`, :func:`level_logp` and the selection rules
  (:class:`TopK`, :class:`Gumbel`, :class:`ForceChild`, :class:`TeacherForce`, :class:`AllChildren`).
- :mod:`.masks`: the token masks.
- :mod:`.search`: :func:`beam_search`, :func:`sample`.
- :mod:`.exact`: :func:`exact_topk`, :func:`score_trie`, :func:`score_sids`, :func:`topk_overlap`.
- :mod:`.stepper`: :class:`BeamStepper`, one level per call with back and force.
- :mod:`.trace`: the trace and result dataclasses.
- :mod:`.rerank`: :func:`mmr`.
"""
from __future__ import annotations

from .exact import exact_topk, score_sids, score_trie, topk_overlap
from .masks import AllowMask, BlockMask, ExclusionMask, TokenMask, TrieMask, combine_masks, decode_masks
from .rerank import mmr
from .search import beam_search, rank_frame, sample
from .step import (
    AllChildren,
    Choice,
    ForceChild,
    Frame,
    Gumbel,
    LevelScores,
    SelectRule,
    TeacherForce,
    TopK,
    advance,
    copy_state,
    level_logp,
    start_state,
)
from .stepper import MODES as STEPPER_MODES, BeamStepper, HeldOutUsers, StepperConfig, StepperResult, StepRecord, find_demo_user, held_out_users
from .trace import BeamCandidates, BeamResult, BeamStep, Candidate, ChosenBeam, PrunedCandidate

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
    # one level step and its selection rules
    "Frame", "LevelScores", "Choice", "SelectRule", "advance", "level_logp", "start_state", "copy_state",
    "TopK", "Gumbel", "ForceChild", "TeacherForce", "AllChildren", "rank_frame",
    # masks
    "TokenMask", "TrieMask", "AllowMask", "BlockMask", "ExclusionMask", "combine_masks", "decode_masks",
    # exact scoring
    "score_trie", "score_sids",
]
