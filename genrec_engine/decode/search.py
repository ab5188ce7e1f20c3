"""Constrained (diverse) beam search and temperature sampling over semantic IDs, batched over users
*and* beams.

Both are a loop of :func:`~genrec_engine.decode.step.advance` over the SID levels. At level ``l``
every user holds ``W`` rows (``W = 1`` at level 0, ``beam`` or the samples per round afterwards),
so the whole batch is ``R = B * W`` rows and each level costs one ``model.next_logits`` call, one
mask op per mask and one selection; there is no Python loop over users or beams (diverse beam
search loops over its ``G`` groups, which is inherent to the method).

Scores are cumulative log-probabilities (natural log) of the model's *raw* distribution: the
masks only remove tokens (``-inf``), they never renormalise the scores. The ``after``
probabilities of a trace are renormalised over the allowed tokens for display only.

Shapes below: ``B`` users, ``T`` history length, ``D`` SID depth, ``K_l`` vocabulary of level
``l``, ``k`` results per user.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

from ..errors import ConfigError
from ..index.trie import PrefixTrie
from ..jobs import CancelToken, check_cancel
from ..models.base import GenerativeModel
from .checks import check_history, check_int, check_model, check_positive
from .masks import AllowMask, decode_masks
from .step import Frame, Gumbel, TopK, advance, level_logp, pad_cols, start_state
from .trace import NEG_INF, BeamResult, BeamStep

__all__ = ["beam_search", "sample", "rank_frame"]


def rank_frame(frame: Frame, k: int, trace: list[BeamStep] | None = None) -> BeamResult:
    """The ``k`` best rows per user of a finished frame (uniform rows per user), best first, as a
    :class:`BeamResult` (padding: item ``-1``, score ``-inf``, SID ``-1``). ``invalid`` counts
    the listed SIDs that match no item (``-1`` = unknown: the frame tracks no trie)."""
    batch, width, depth, device = frame.batch, frame.width, frame.depth, frame.device
    scores = frame.scores.view(batch, width)  # [B, W]
    order = scores.argsort(dim=1, descending=True, stable=True)
    take = order[:, : min(k, width)]  # [B, n]
    top_scores = scores.gather(1, take)
    flat = (torch.arange(batch, device=device).unsqueeze(1) * width + take).reshape(-1)
    live = torch.isfinite(top_scores)
    n_take = take.shape[1]
    sids = frame.prefix.index_select(0, flat).view(batch, n_take, depth)
    sids = torch.where(live.unsqueeze(-1), sids, torch.full_like(sids, -1))
    if frame.trie is not None:
        items = frame.items().index_select(0, flat).view(batch, n_take)
        items = torch.where(live, items, torch.full_like(items, -1))
        invalid = (live & (items < 0)).sum(dim=1)
    else:
        items = torch.full_like(take, -1)
        invalid = torch.full((batch,), -1, dtype=torch.long, device=device)
    top_scores = torch.where(live, top_scores, torch.full_like(top_scores, NEG_INF))
    return BeamResult(
        items=pad_cols(items, k, -1),
        scores=pad_cols(top_scores, k, NEG_INF),
        sids=torch.cat([sids, torch.full((batch, k - n_take, depth), -1, dtype=torch.long, device=device)], dim=1),
        invalid=invalid.long(),
        trace=trace,
    )


def _open(model, history, trie, sizes, constrained, allow_mask, exclude, instruction, what: str):
    """The masks of a decode's arguments (checked first) and its root frame (``model.start`` run
    once): ``(masks, frame)``."""
    batch, device = history.shape[0], history.device
    masks = decode_masks(trie, constrained=constrained, sizes=sizes, batch=batch, device=device,
                         allow_mask=allow_mask, exclude=exclude, what=what)
    frame = Frame.root(start_state(model, history, instruction), batch=batch, sizes=sizes, device=device, trie=trie)
    return masks, frame


def beam_search(
    model: GenerativeModel,
    history: torch.Tensor,
    *,
    trie: PrefixTrie | None,
    beam: int = 20,
    k: int = 10,
    constrained: bool = True,
    trace: bool = False,
    exclude: Sequence[set[int]] | None = None,
    allow_mask: Sequence[torch.Tensor | None] | None = None,
    diverse_groups: int = 1,
    diversity_penalty: float = 0.0,
    instruction=None,
    cancel: CancelToken | None = None,
    n_cand: int = 8,
) -> BeamResult:
    """Decode the top-``k`` next items for every user with (diverse) beam search.

    ``history``: int64 ``[B, T]`` item indices + 1, left-padded (see ``models/base.py``).
    ``trie``: required when ``constrained``; without it an unconstrained decode cannot map SIDs to
    items (``items`` all -1, ``invalid`` -1). ``beam``: beams kept per user (``k > beam`` pads the
    results with -1). ``constrained``: mask tokens the trie disallows, so every SID is an item.
    ``exclude[b]``: item indices user ``b`` must not get (e.g. the history); a prefix is masked
    only when every live item under it is excluded, so the beam fills with other items.
    ``allow_mask``: per level ``None`` or bool ``[K_l]`` (or ``[B, K_l]``) ANDed into the mask; a
    beam whose every continuation is disallowed dies, so it may return fewer than ``k`` items (a
    level that allows no token at all is a :class:`ConfigError`).
    ``diverse_groups`` ``G`` (must divide ``beam``) and ``diversity_penalty`` turn on Hamming
    diverse beam search; scores stay the true log-probs, the penalty only steers selection, a
    full SID chosen by an earlier group is masked for later ones (no duplicates), and the final
    list is sorted by score across groups. ``trace``: record a :class:`BeamStep` per
    level (meant for a few users; ``n_cand`` candidates per live beam). ``cancel`` is checked
    once per level.
    """
    history = check_history(history)
    depth, sizes = check_model(model, trie)
    beam = check_int("beam", beam, 1)
    k = check_int("k", k, 1)
    n_cand = check_int("n_cand", n_cand, 1)
    groups = check_int("diverse_groups", diverse_groups, 1)
    if beam % groups:
        raise ConfigError(f"diverse_groups: {groups} does not divide beam {beam}")
    penalty = check_positive("diversity_penalty", diversity_penalty, allow_zero=True)
    masks, frame = _open(model, history, trie, sizes, constrained, allow_mask, exclude, instruction, "decoding")
    select = TopK(groups, penalty)
    steps: list[BeamStep] | None = [] if trace else None
    for _ in range(depth):
        check_cancel(cancel)
        frame = advance(frame, level_logp(model, frame), masks, beam, select=select,
                        trace=n_cand if trace else None)
        if steps is not None:
            steps.append(frame.step)
    return rank_frame(frame, k, steps)


def sample(
    model: GenerativeModel,
    history: torch.Tensor,
    *,
    trie: PrefixTrie | None,
    k: int,
    temperature: float = 1.0,
    constrained: bool = True,
    generator: torch.Generator | None = None,
    exclude: Sequence[set[int]] | None = None,
    allow_mask: Sequence[torch.Tensor | None] | None = None,
    instruction=None,
    samples_per_round: int | None = None,
    max_rounds: int = 8,
    cancel: CancelToken | None = None,
) -> BeamResult:
    """Temperature sampling of ``k`` distinct SIDs (items) per user.

    Each round draws ``samples_per_round`` (default ``2 * k``) sequences per user in parallel
    (Gumbel-max on ``log p / temperature`` under the same masks as :func:`beam_search`); rounds
    repeat until every user has ``k`` distinct SIDs or ``max_rounds`` is spent, and users still
    short are filled from beam search. Results are sorted by their true (untempered) cumulative
    log-prob. ``generator`` (on the history's device) makes the draw reproducible.
    """
    history = check_history(history)
    depth, sizes = check_model(model, trie)
    k = check_int("k", k, 1)
    max_rounds = check_int("max_rounds", max_rounds, 1)
    per = check_int("samples_per_round", 2 * k if samples_per_round is None else samples_per_round, 1)
    temperature = check_positive("temperature", temperature, allow_zero=False)
    batch, device = history.shape[0], history.device
    masks, root = _open(model, history, trie, sizes, constrained, allow_mask, exclude, instruction, "sampling")
    logp0 = level_logp(model, root)  # level 0 is the same for every sample of a user: computed once
    draw = Gumbel(temperature, generator)

    got_users, got_sids, got_scores, got_items = [], [], [], []
    for _ in range(max_rounds):
        check_cancel(cancel)
        frame = advance(root, logp0, masks, per, select=draw)  # B * per rows
        while not frame.done:
            frame = advance(frame, level_logp(model, frame), masks, per, select=draw)
        live = torch.isfinite(frame.scores)
        got_users.append(frame.users[live])
        got_sids.append(frame.prefix[live])
        got_scores.append(frame.scores[live])
        got_items.append(frame.items()[live])
        uniq = torch.unique(torch.cat([torch.cat(got_users).unsqueeze(1), torch.cat(got_sids)], dim=1), dim=0)
        n_have = torch.bincount(uniq[:, 0], minlength=batch)
        if bool((n_have >= k).all()):
            break
    out_items, out_scores, out_sids, counts = _distinct_topk(
        torch.cat(got_users), torch.cat(got_sids), torch.cat(got_scores), torch.cat(got_items), batch, k, depth)

    short = (counts < k).nonzero().flatten().tolist()
    if short:  # fill from beam search, skipping SIDs already drawn
        allow = next((m for m in masks if isinstance(m, AllowMask)), None)
        have = [int(counts[b]) for b in short]
        filler = beam_search(
            model,
            history[short],
            trie=trie,
            beam=k + max(have),
            k=k + max(have),
            constrained=constrained,
            exclude=None if exclude is None else [exclude[b] for b in short],
            allow_mask=None if allow is None else allow.select_users(short),
            instruction=None if instruction is None else _select_rows(instruction, short),
            cancel=cancel,
        )
        for j, b in enumerate(short):
            seen = {tuple(s) for s in out_sids[b, : have[j]].tolist()}
            n = have[j]
            for i in range(filler.items.shape[1]):
                if n >= k or not math.isfinite(float(filler.scores[j, i])):
                    break
                sid = tuple(filler.sids[j, i].tolist())
                if sid in seen:
                    continue
                seen.add(sid)
                out_items[b, n] = filler.items[j, i]
                out_scores[b, n] = filler.scores[j, i]
                out_sids[b, n] = filler.sids[j, i]
                n += 1
        order = out_scores.argsort(dim=1, descending=True, stable=True)
        out_items, out_scores = out_items.gather(1, order), out_scores.gather(1, order)
        out_sids = out_sids.gather(1, order.unsqueeze(-1).expand(-1, -1, depth))

    live = torch.isfinite(out_scores)
    if trie is not None:
        invalid = (live & (out_items < 0)).sum(dim=1)
    else:
        invalid = torch.full((batch,), -1, dtype=torch.long, device=device)
    return BeamResult(out_items, out_scores, out_sids, invalid.long(), None)


def _distinct_topk(users, sids, scores, items, batch: int, k: int, depth: int):
    """The ``k`` best distinct SIDs per user of the drawn rows (the first draw of a repeated SID
    counts): ``(items [B, k], scores [B, k], sids [B, k, D], counts [B])`` with -1/-inf padding
    and ``counts`` the distinct SIDs each user has."""
    device = scores.device
    keyrows = torch.cat([users.unsqueeze(1), sids], dim=1)
    uniq, inverse = torch.unique(keyrows, dim=0, return_inverse=True)
    first = torch.full((uniq.shape[0],), keyrows.shape[0], dtype=torch.long, device=device)
    first.scatter_reduce_(0, inverse, torch.arange(keyrows.shape[0], device=device), reduce="amin")
    users, sids, scores, items = users[first], sids[first], scores[first], items[first]
    # rank within user by score, best first
    order = scores.argsort(descending=True, stable=True)
    order = order[users[order].argsort(stable=True)]
    users, sids, scores, items = users[order], sids[order], scores[order], items[order]
    counts = torch.bincount(users, minlength=batch)
    start = torch.cumsum(counts, 0) - counts
    rank = torch.arange(users.shape[0], device=device) - start[users]
    keep = rank < k
    out_items = torch.full((batch, k), -1, dtype=torch.long, device=device)
    out_scores = torch.full((batch, k), NEG_INF, device=device)
    out_sids = torch.full((batch, k, depth), -1, dtype=torch.long, device=device)
    out_items[users[keep], rank[keep]] = items[keep]
    out_scores[users[keep], rank[keep]] = scores[keep]
    out_sids[users[keep], rank[keep]] = sids[keep]
    return out_items, out_scores, out_sids, counts


def _select_rows(instruction, rows: list[int]):
    """Rows of a per-user instruction (tensor with the user dim first); anything else unchanged."""
    if isinstance(instruction, torch.Tensor) and instruction.ndim >= 1:
        return instruction[rows]
    return instruction
