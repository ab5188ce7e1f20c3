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
]
