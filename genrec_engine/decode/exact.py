"""Exact scoring: every item of a trie (:func:`score_trie`, :func:`exact_topk`), given SIDs
(:func:`score_sids`), and beam search's overlap with the exact top-k (:func:`topk_overlap`).

All of them walk the levels with :func:`~genrec_engine.decode.step.advance`, so an item's score is
the sum of its tokens' log-probs computed exactly like :func:`~genrec_engine.decode.beam_search`
computes it.
"""
from __future__ import annotations

from typing import Sequence

import torch

from ..errors import ConfigError
from ..index.trie import PrefixTrie
from ..models.base import GenerativeModel
from .checks import check_history, check_int, check_model
from .masks import TrieMask
from .search import beam_search
from .step import AllChildren, Frame, TeacherForce, advance, level_logp, start_state
from .trace import NEG_INF, BeamResult

__all__ = ["score_trie", "score_sids", "exact_topk", "topk_overlap"]


def score_trie(model: GenerativeModel, history: torch.Tensor, trie: PrefixTrie, *, instruction=None,
               batch_size: int = 4096) -> Frame:
    """Every live item of ``trie`` scored after one user's ``history`` (int64 ``[1, T]``): the
    finished frame of enumerating the trie level by level (one model row per trie node, fed
    ``batch_size`` rows per ``next_logits`` call). ``frame.items()`` int64 ``[M]``,
    ``frame.scores`` float32 ``[M]`` full-SID log-likelihoods and ``frame.prefix`` int64 ``[M, D]``
    SIDs, in trie order."""
    history = check_history(history)
    if history.shape[0] != 1:
        raise ConfigError(f"history: expected one user, got {history.shape[0]}")
    _, sizes = check_model(model, trie)
    batch_size = check_int("batch_size", batch_size, 1)
    frame = Frame.root(start_state(model, history, instruction), batch=1, sizes=sizes, device=history.device,
                       trie=trie, lazy_state=True)
    masks = [TrieMask(trie)]
    while not frame.done:
        frame = advance(frame, level_logp(model, frame, batch_size=batch_size), masks, select=AllChildren())
    return frame


def score_sids(model: GenerativeModel, history: torch.Tensor, sids: torch.Tensor, *, instruction=None) -> torch.Tensor:
    """Teacher-forced full log-likelihood float32 ``[B, M]`` of ``sids`` int64 ``[B, M, D]`` (``M``
    SIDs per user) after ``history`` int64 ``[B, T]``; the SIDs need not be in any trie."""
    history = check_history(history)
    depth, sizes = check_model(model, None)
    sids = torch.as_tensor(sids, dtype=torch.long, device=history.device)
    if sids.ndim != 3 or sids.shape[0] != history.shape[0] or sids.shape[2] != depth:
        raise ConfigError(f"sids: expected shape ({history.shape[0]}, M, {depth}), got {tuple(sids.shape)}")
    b, m, _ = sids.shape
    rows = torch.arange(b, device=history.device).repeat_interleave(m)  # [B * M] user of each SID
    state = start_state(model, history, instruction).select(rows)
    frame = Frame.root(state, batch=b, sizes=sizes, device=history.device, width=m)
    flat = sids.reshape(b * m, depth)
    for level in range(depth):
        frame = advance(frame, level_logp(model, frame), select=TeacherForce(flat[:, level]))
    return frame.scores.view(b, m)


def exact_topk(
    model: GenerativeModel,
    history_row: torch.Tensor,
    *,
    trie: PrefixTrie,
    k: int,
    exclude: set[int] | None = None,
    instruction=None,
    batch_size: int = 4096,
) -> BeamResult:
    """The exact top-``k`` items of one user by full-SID log-likelihood (a reference for beam search).

    ``history_row``: int64 ``[T]`` (or ``[1, T]``). Every live trie prefix is fed to the model
    level by level (``batch_size`` rows per call, see :func:`score_trie`). Returns a
    :class:`BeamResult` with ``B = 1``. Costs one model row per trie node: fine for tests and for
    catalogues up to ~1e5 items.
    """
    if trie is None:
        raise ConfigError("trie: exact_topk enumerates the trie's items and needs one")
    history = torch.as_tensor(history_row).long()
    if history.ndim == 1:
        history = history.unsqueeze(0)
    history = check_history(history)
    if history.shape[0] != 1:
        raise ConfigError(f"history_row: expected one user, got {history.shape[0]}")
    k = check_int("k", k, 1)
    device = history.device
    frame = score_trie(model, history, trie, instruction=instruction, batch_size=batch_size)
    depth = frame.depth
    items, scores, prefix = frame.items(), frame.scores, frame.prefix
    if exclude:
        drop = torch.tensor(sorted(int(i) for i in exclude), dtype=torch.long, device=device)
        keep = ~torch.isin(items, drop)
        items, scores, prefix = items[keep], scores[keep], prefix[keep]
    n = min(k, items.shape[0])
    top_s, idx = scores.topk(n)
    out_items = torch.full((1, k), -1, dtype=torch.long, device=device)
    out_scores = torch.full((1, k), NEG_INF, device=device)
    out_sids = torch.full((1, k, depth), -1, dtype=torch.long, device=device)
    out_items[0, :n] = items[idx]
    out_scores[0, :n] = top_s
    out_sids[0, :n] = prefix[idx]
    return BeamResult(out_items, out_scores, out_sids, torch.zeros(1, dtype=torch.long, device=device), None)


def topk_overlap(
    model: GenerativeModel,
    history: torch.Tensor,
    *,
    trie: PrefixTrie,
    k: int = 10,
    widths: Sequence[int] = (1, 2, 5, 10, 20, 50),
) -> dict[int, float]:
    """Mean ``|beam top-k ∩ exact top-k| / k`` over the users of ``history`` ``[B, T]``, per beam
    width (a width below ``k`` returns only ``width`` items, which caps its overlap)."""
    history = check_history(history)
    exact = [set(exact_topk(model, history[b], trie=trie, k=k).items[0].tolist()) - {-1} for b in range(history.shape[0])]
    out: dict[int, float] = {}
    for w in widths:
        res = beam_search(model, history, trie=trie, beam=int(w), k=k)
        got = res.items.tolist()
        overlaps = [len(exact[b] & (set(got[b]) - {-1})) / k for b in range(history.shape[0])]
        out[int(w)] = float(sum(overlaps) / len(overlaps)) if overlaps else 0.0
    return out
