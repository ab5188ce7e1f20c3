"""Constrained beam search over semantic IDs, batched over users *and* beams.

A decode runs level by level. At level ``l`` every user holds ``W`` rows (``W = 1`` at level 0,
``beam`` afterwards), so the whole batch is ``R = B * W`` rows and each level costs one
``model.next_logits`` call, one trie mask op and one ``topk``; there is no Python loop over users
or beams (diverse beam search loops over its ``G`` groups, which is inherent to the method).

Scores are cumulative log-probabilities (natural log) of the model's *raw* distribution: the trie
mask only removes tokens (``-inf``), it never renormalises the scores. The ``after`` probabilities
of a trace are renormalised over the allowed tokens for display only.

Shapes below: ``B`` users, ``T`` history length, ``D`` SID depth, ``K_l`` vocabulary of level
``l``, ``k`` results per user, ``N`` catalogue items.
"""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch

from ..errors import ConfigError
from ..index.trie import PrefixTrie
from ..jobs import CancelToken, check_cancel
from ..models.base import DecodeState, GenerativeModel

__all__ = [
    "BeamResult",
    "BeamStep",
    "BeamCandidates",
    "Candidate",
    "ChosenBeam",
    "PrunedCandidate",
    "beam_search",
    "sample",
    "exact_topk",
    "topk_overlap",
]

NEG_INF = float("-inf")
MAX_PRUNED = 50  # pruned candidates kept per user and level in a trace


def _json_float(x: float) -> float | None:
    """``x`` as a JSON-safe float: ``None`` for -inf/inf/nan (strict JSON has no infinities)."""
    x = float(x)
    return x if math.isfinite(x) else None


# ---------------------------------------------------------------------- trace dataclasses


@dataclass
class Candidate:
    """One candidate token of a live beam at one level.

    ``prob_before``: softmax of the model's raw logits; ``prob_after``: renormalised over the
    tokens the constraints allow (0 for a masked token); ``score``: the cumulative log-prob the
    child beam would get (beam score + log ``prob_before``), whether masked or not.
    """

    token: int
    prob_before: float
    prob_after: float
    masked: bool
    score: float

    def to_dict(self) -> dict:
        return {
            "token": self.token,
            "prob_before": self.prob_before,
            "prob_after": self.prob_after,
            "masked": self.masked,
            "score": _json_float(self.score),
        }


@dataclass
class BeamCandidates:
    """The top candidates (by ``prob_before``) of live beam ``beam`` of a user at one level."""

    beam: int  # index into BeamStep.prefixes[user]
    prefix: tuple[int, ...]
    score: float
    candidates: list[Candidate]

    def to_dict(self) -> dict:
        return {
            "beam": self.beam,
            "prefix": list(self.prefix),
            "score": _json_float(self.score),
            "candidates": [c.to_dict() for c in self.candidates],
        }


@dataclass
class ChosenBeam:
    """A beam kept at this level: ``parent`` indexes ``BeamStep.prefixes[user]``."""

    parent: int
    token: int
    score: float  # cumulative log-prob of the new beam
    group: int = 0  # diverse beam search group (0 for plain beam search)

    def to_dict(self) -> dict:
        return {"parent": self.parent, "token": self.token, "score": _json_float(self.score), "group": self.group}


@dataclass
class PrunedCandidate:
    """A candidate the constraints allowed that fell outside the beam."""

    parent: int
    token: int
    score: float

    def to_dict(self) -> dict:
        return {"parent": self.parent, "token": self.token, "score": _json_float(self.score)}


@dataclass
class BeamStep:
    """What happened at one level of a decode; every list is indexed by user first.

    ``prefixes[u]``/``beam_scores[u]``: the user's live beams before this level (token tuples of
    length ``level``) and their cumulative log-probs; ``candidates[u][j]``: top candidates of live
    beam ``j``; ``chosen[u]``: the beams kept, best first within each group; ``pruned[u]``: valid
    candidates that did not make the beam, best first, at most 50.
    """

    level: int
    prefixes: list[list[tuple[int, ...]]]
    beam_scores: list[list[float]]
    candidates: list[list[BeamCandidates]]
    chosen: list[list[ChosenBeam]]
    pruned: list[list[PrunedCandidate]]

    def to_dict(self) -> dict:
        """A JSON-serialisable dict (strict JSON: infinite scores become ``None``)."""
        return {
            "level": self.level,
            "prefixes": [[list(p) for p in user] for user in self.prefixes],
            "beam_scores": [[_json_float(s) for s in user] for user in self.beam_scores],
            "candidates": [[c.to_dict() for c in user] for user in self.candidates],
            "chosen": [[c.to_dict() for c in user] for user in self.chosen],
            "pruned": [[p.to_dict() for p in user] for user in self.pruned],
        }


@dataclass(frozen=True)
class BeamResult:
    """Ranked results of a decode, best first per user.

    ``items``: int64 ``[B, k]`` catalogue rows (``-1`` pads missing results and marks SIDs that
    match no item); ``scores``: float32 ``[B, k]`` cumulative log-probs (``-inf`` for padding);
    ``sids``: int64 ``[B, k, D]`` (``-1`` rows for padding); ``invalid``: int64 ``[B]`` how many of
    the user's returned SIDs match no item (always 0 when constrained; ``-1`` = unknown, i.e.
    unconstrained without a trie); ``trace``: one :class:`BeamStep` per level when asked for.
    """

    items: torch.Tensor
    scores: torch.Tensor
    sids: torch.Tensor
    invalid: torch.Tensor
    trace: list[BeamStep] | None = field(default=None)

    def to_dict(self) -> dict:
        """JSON-serialisable dict of plain lists (``None`` for ``-inf`` scores)."""
        return {
            "items": self.items.tolist(),
            "scores": [[_json_float(s) for s in row] for row in self.scores.tolist()],
            "sids": self.sids.tolist(),
            "invalid": self.invalid.tolist(),
            "trace": None if self.trace is None else [s.to_dict() for s in self.trace],
        }


# ---------------------------------------------------------------------- validation helpers


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"{name}: {value!r} is not an integer")
    try:
        value = operator.index(value)
    except TypeError:
        raise ConfigError(f"{name}: {value!r} is not an integer") from None
    if value < minimum:
        raise ConfigError(f"{name}: {value} must be >= {minimum}")
    return int(value)


def _check_model(model: GenerativeModel, trie: PrefixTrie | None) -> tuple[int, tuple[int, ...]]:
    try:
        depth = int(model.depth)
        sizes = tuple(int(k) for k in model.level_sizes)
    except AttributeError as exc:
        raise ConfigError(f"model: {type(model).__name__} does not speak the generator protocol ({exc})") from None
    if len(sizes) != depth:
        raise ConfigError(f"model: depth {depth} but level_sizes {sizes} has {len(sizes)} levels")
    if trie is not None and tuple(trie.level_sizes) != sizes:
        raise ConfigError(f"trie: level_sizes {tuple(trie.level_sizes)} differ from the model's {sizes}")
    return depth, sizes


def _check_history(history: torch.Tensor) -> torch.Tensor:
    if not isinstance(history, torch.Tensor):
        history = torch.as_tensor(history, dtype=torch.long)
    if history.ndim != 2:
        raise ConfigError(f"history: expected a 2-D LongTensor [B, T], got shape {tuple(history.shape)}")
    return history.long()


def _check_allow_mask(
    allow_mask: Sequence[torch.Tensor | None] | None, sizes: tuple[int, ...], batch: int, device
) -> list[torch.Tensor | None] | None:
    """Per level ``None`` or bool ``[K_l]`` / ``[B, K_l]`` on ``device``."""
    if allow_mask is None:
        return None
    masks = list(allow_mask)
    if len(masks) != len(sizes):
        raise ConfigError(f"allow_mask: has {len(masks)} levels, the model has {len(sizes)}")
    out: list[torch.Tensor | None] = []
    for level, (m, k) in enumerate(zip(masks, sizes)):
        if m is None:
            out.append(None)
            continue
        m = torch.as_tensor(m, device=device).bool()
        if m.shape not in ((k,), (batch, k)):
            raise ConfigError(
                f"allow_mask[{level}]: expected shape ({k},) or ({batch}, {k}), got {tuple(m.shape)}"
            )
        out.append(m)
    return out


def _start(model: GenerativeModel, history: torch.Tensor, instruction) -> DecodeState:
    if instruction is None:
        return model.start(history)
    return model.start(history, instruction)


def _level_logp(model: GenerativeModel, state: DecodeState, prefix: torch.Tensor, k: int) -> torch.Tensor:
    """float32 ``[R, k]`` log-probabilities (log-softmax is applied again, so raw logits work too)."""
    out = model.next_logits(state, prefix)
    if out.ndim != 2 or out.shape != (prefix.shape[0], k):
        raise ConfigError(
            f"model.next_logits: expected shape ({prefix.shape[0]}, {k}) at level {prefix.shape[1]}, "
            f"got {tuple(out.shape)}"
        )
    return torch.log_softmax(out.float(), dim=-1)


# ---------------------------------------------------------------------- exclusion


class _Exclusion:
    """Per-user excluded items, turned into per-level lists of fully excluded trie edges.

    A candidate child is masked when *all* of its live items are excluded for that user, so a beam
    never walks into a subtree holding only excluded items (at the last level this masks exactly
    the excluded leaves). Per level ``l`` the masked edges are stored as sorted keys
    ``user * n_l + parent_node`` with their ``token``; a batch of rows finds its edges with two
    ``searchsorted`` calls, so the cost grows with the rows plus the masked edges, not ``R * K``.
    """

    def __init__(self, trie: PrefixTrie, exclude: Sequence[set[int]], batch: int, device) -> None:
        if len(exclude) != batch:
            raise ConfigError(f"exclude: has {len(exclude)} entries for {batch} users")
        self.trie = trie
        self.device = device
        users: list[int] = []
        codes: list[tuple[int, ...]] = []
        cache: dict[int, tuple[int, ...] | None] = {}
        for b, items in enumerate(exclude):
            for it in items or ():
                it = int(it)
                if it not in cache:
                    cache[it] = trie.code_of_item(it) if (it >= 0 and it in trie) else None
                code = cache[it]
                if code is not None:
                    users.append(b)
                    codes.append(code)
        self.empty = not users
        depth = trie.depth
        tdev = trie.device
        user_t = torch.tensor(users, dtype=torch.long, device=tdev)
        code_t = torch.tensor(codes, dtype=torch.long, device=tdev).view(len(users), depth)
        parent = torch.zeros(len(users), dtype=torch.long, device=tdev)
        self.keys: list[torch.Tensor] = []  # per level: sorted user * n_l + parent of masked edges
        self.tokens: list[torch.Tensor] = []  # per level: the masked edge's token
        for level in range(depth):
            child = trie.step(level, parent, code_t[:, level])
            n_next = trie.num_nodes(level + 1)
            uniq, inverse, counts = torch.unique(user_t * n_next + child, return_inverse=True, return_counts=True)
            first = torch.full((uniq.shape[0],), len(users), dtype=torch.long, device=tdev)
            first.scatter_reduce_(0, inverse, torch.arange(len(users), device=tdev), reduce="amin")
            full = counts >= trie.count(level + 1, child.index_select(0, first))  # all items excluded
            rep = first[full]
            keys = user_t[rep] * trie.num_nodes(level) + parent[rep]
            order = keys.argsort()
            self.keys.append(keys[order])
            self.tokens.append(code_t[rep, level][order])
            parent = child

    def fully_excluded(self, level: int, nodes: torch.Tensor, row_user: torch.Tensor) -> torch.Tensor:
        """bool ``[R, K_level]``: True where the child along the token holds only excluded items."""
        trie = self.trie
        k = trie.level_sizes[level]
        rows = nodes.shape[0]
        tdev = trie.device
        mask = torch.zeros(rows, k, dtype=torch.bool, device=tdev)
        keys = self.keys[level]
        if keys.numel() == 0 or rows == 0:
            return mask.to(self.device)
        nodes = nodes.to(tdev)
        rkey = torch.where(nodes >= 0, row_user.to(tdev) * trie.num_nodes(level) + nodes, torch.full_like(nodes, -1))
        lo = torch.searchsorted(keys, rkey)
        n = torch.searchsorted(keys, rkey, right=True) - lo  # masked edges per row
        total = int(n.sum())
        if total:
            row = torch.arange(rows, device=tdev).repeat_interleave(n)
            start = torch.cumsum(n, 0) - n
            idx = (lo - start).repeat_interleave(n) + torch.arange(total, device=tdev)
            mask[row, self.tokens[level][idx]] = True
        return mask.to(self.device)


def _make_exclusion(trie, exclude, batch, device) -> _Exclusion | None:
    if exclude is None:
        return None
    if trie is None:
        raise ConfigError("exclude: needs a trie to find the excluded items' SIDs")
    ex = _Exclusion(trie, exclude, batch, device)
    return None if ex.empty else ex


def _level_mask(
    level: int,
    nodes: torch.Tensor | None,
    row_user: torch.Tensor,
    *,
    trie: PrefixTrie | None,
    constrained: bool,
    allow: list[torch.Tensor | None] | None,
    exclusion: _Exclusion | None,
    k: int,
) -> torch.Tensor | None:
    """bool ``[R, k]`` of allowed tokens (trie AND allow_mask AND NOT excluded), ``None`` = all."""
    mask = None
    if constrained:
        mask = trie.allowed(level, nodes).to(row_user.device)
    if allow is not None and allow[level] is not None:
        am = allow[level]
        am = am.index_select(0, row_user) if am.ndim == 2 else am.unsqueeze(0).expand(row_user.shape[0], k)
        mask = am if mask is None else mask & am
    if exclusion is not None:
        keep = ~exclusion.fully_excluded(level, nodes, row_user)
        mask = keep if mask is None else mask & keep
    return mask


# ---------------------------------------------------------------------- beam search


def _pad_cols(t: torch.Tensor, width: int, fill) -> torch.Tensor:
    """``t`` ``[B, w]`` right-padded with ``fill`` to ``[B, width]``."""
    if t.shape[1] >= width:
        return t
    pad = torch.full((t.shape[0], width - t.shape[1]), fill, dtype=t.dtype, device=t.device)
    return torch.cat([t, pad], dim=1)


def _select(
    cand: torch.Tensor,
    beam: int,
    groups: int,
    penalty: float,
    shared_root: bool,
    same_prefix: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pick the new beams from ``cand`` float ``[B, W, K]`` (cumulative scores, -inf = invalid).

    Returns ``parent`` (int64 ``[B, beam]``, index into the W rows), ``token``, ``score`` (float
    ``[B, beam]``, -inf for dead slots) and ``group`` (int64 ``[beam]``). With ``groups > 1`` the
    groups pick in sequence; group ``g`` extends its own rows (at level 0 every group starts from
    the one shared root) and each token already chosen at this level by earlier groups costs
    ``penalty * count`` (Hamming diversity; selection only, the returned scores stay true
    log-probs). ``same_prefix`` (bool ``[B, W, W]``, rows holding the same prefix; given at the last
    level) masks a candidate that an earlier group already chose, so no sequence is returned twice.
    """
    batch, width, k = cand.shape
    if groups == 1:
        flat = cand.reshape(batch, width * k)
        score, idx = flat.topk(min(beam, width * k), dim=1)
        parent, token = _pad_cols(idx // k, beam, 0), _pad_cols(idx % k, beam, 0)
        score = _pad_cols(score, beam, NEG_INF)
        return parent, token, score, torch.zeros(beam, dtype=torch.long, device=cand.device)

    per = beam // groups
    counts = torch.zeros(batch, k, dtype=cand.dtype, device=cand.device)  # tokens taken so far
    taken = torch.zeros(batch, width, k, dtype=cand.dtype, device=cand.device)  # (row, token) taken
    parents, tokens, scores = [], [], []
    for g in range(groups):
        if shared_root:
            rows = torch.arange(width, device=cand.device)
        else:
            rows = torch.arange(g * per, (g + 1) * per, device=cand.device)
        c = cand.index_select(1, rows)  # [B, Wg, K] true scores
        sel = c - penalty * counts.unsqueeze(1) if penalty else c
        if same_prefix is not None and g > 0:
            dup = torch.bmm(same_prefix.index_select(1, rows).to(cand.dtype), taken) > 0  # [B, Wg, K]
            sel = sel.masked_fill(dup, NEG_INF)
        n = min(per, rows.shape[0] * k)
        s, idx = sel.reshape(batch, -1).topk(n, dim=1)
        live = torch.isfinite(s)
        true = torch.where(live, c.reshape(batch, -1).gather(1, idx), torch.full_like(s, NEG_INF))
        tok = idx % k
        par = rows[idx // k]
        counts.scatter_add_(1, tok, live.to(counts.dtype))
        taken.view(batch, -1).scatter_add_(1, par * k + tok, live.to(taken.dtype))
        parents.append(_pad_cols(par, per, 0))
        tokens.append(_pad_cols(tok, per, 0))
        scores.append(_pad_cols(true, per, NEG_INF))
    group = torch.arange(groups, device=cand.device).repeat_interleave(per)
    return torch.cat(parents, 1), torch.cat(tokens, 1), torch.cat(scores, 1), group


def _prepare(model, history, trie, constrained, allow_mask, sizes, exclude, instruction, what: str):
    """Shared set-up of beam search and sampling: check the trie, build the extra masks and the
    exclusion, and run the model's ``start`` once. Returns ``(device, batch, allow, exclusion, state)``."""
    if constrained and trie is None:
        raise ConfigError(f"trie: constrained {what} needs a trie (or pass constrained=False)")
    device = history.device
    batch = history.shape[0]
    allow = _check_allow_mask(allow_mask, sizes, batch, device)
    exclusion = _make_exclusion(trie, exclude, batch, device)
    return device, batch, allow, exclusion, _start(model, history, instruction)


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
    beam whose every continuation is disallowed dies, so it may return fewer than ``k`` items.
    ``diverse_groups`` ``G`` (must divide ``beam``) and ``diversity_penalty`` turn on Hamming
    diverse beam search; scores stay the true log-probs, the penalty only steers selection, a
    full SID chosen by an earlier group is masked for later ones (no duplicates), and the final
    list is sorted by score across groups. ``trace``: record a :class:`BeamStep` per
    level (meant for a few users; ``n_cand`` candidates per live beam). ``cancel`` is checked
    once per level.
    """
    history = _check_history(history)
    depth, sizes = _check_model(model, trie)
    beam = _check_int("beam", beam, 1)
    k = _check_int("k", k, 1)
    n_cand = _check_int("n_cand", n_cand, 1)
    groups = _check_int("diverse_groups", diverse_groups, 1)
    if beam % groups:
        raise ConfigError(f"diverse_groups: {groups} does not divide beam {beam}")
    penalty = float(diversity_penalty)
    if not math.isfinite(penalty) or penalty < 0:
        raise ConfigError(f"diversity_penalty: {diversity_penalty!r} must be a finite number >= 0")
    device, batch, allow, exclusion, state = _prepare(
        model, history, trie, constrained, allow_mask, sizes, exclude, instruction, "decoding")
    width = 1  # rows per user at the current level
    scores = torch.zeros(batch, 1, device=device)  # [B, W] cumulative log-probs
    prefix = torch.zeros(batch, 0, dtype=torch.long, device=device)  # [B * W, l]
    nodes = None if trie is None else torch.zeros(batch, dtype=torch.long, device=trie.device)
    steps: list[BeamStep] | None = [] if trace else None
    user_of_batch = torch.arange(batch, device=device)

    for level in range(depth):
        check_cancel(cancel)
        kl = sizes[level]
        row_user = user_of_batch.repeat_interleave(width)  # [R]
        logp = _level_logp(model, state, prefix, kl)  # [R, K]
        mask = _level_mask(
            level, nodes, row_user, trie=trie, constrained=constrained, allow=allow, exclusion=exclusion, k=kl
        )
        masked = logp if mask is None else logp.masked_fill(~mask, NEG_INF)
        cand = (scores.reshape(-1, 1) + masked).view(batch, width, kl)  # [B, W, K]
        same_prefix = None
        if groups > 1 and level == depth - 1:  # full sequences: no two groups may return the same one
            p = prefix.view(batch, width, level)
            same_prefix = (p.unsqueeze(2) == p.unsqueeze(1)).all(dim=-1) & torch.isfinite(scores).unsqueeze(1)
        parent, token, new_scores, group = _select(
            cand, beam, groups, penalty, shared_root=width == 1, same_prefix=same_prefix
        )

        if steps is not None:
            steps.append(
                _trace_step(level, scores, prefix, logp, masked, mask, cand, parent, token, new_scores, group, n_cand)
            )

        rows = (user_of_batch.unsqueeze(1) * width + parent).reshape(-1)  # [B * beam]
        live = torch.isfinite(new_scores).reshape(-1)
        prefix = torch.cat([prefix.index_select(0, rows), token.reshape(-1, 1)], dim=1)
        if nodes is not None:
            tdev = trie.device
            child = trie.step(level, nodes.index_select(0, rows.to(tdev)), token.reshape(-1).to(tdev))
            nodes = torch.where(live.to(tdev), child, torch.full_like(child, -1))
        if level + 1 < depth:
            state = state.select(rows)
        scores = new_scores
        width = beam

    # final ranking: [B, beam] -> top k per user
    order = scores.argsort(dim=1, descending=True, stable=True)
    take = order[:, : min(k, width)]
    top_scores = scores.gather(1, take)
    flat = (user_of_batch.unsqueeze(1) * width + take).reshape(-1)
    live = torch.isfinite(top_scores)
    n_take = take.shape[1]
    sids = prefix.index_select(0, flat).view(batch, n_take, depth)
    sids = torch.where(live.unsqueeze(-1), sids, torch.full_like(sids, -1))
    if trie is not None:
        items = trie.item_at_leaf(nodes.index_select(0, flat.to(trie.device))).to(device).view(batch, n_take)
        items = torch.where(live, items, torch.full_like(items, -1))
        invalid = (live & (items < 0)).sum(dim=1)
    else:
        items = torch.full_like(take, -1)
        invalid = torch.full((batch,), -1, dtype=torch.long, device=device)
    top_scores = torch.where(live, top_scores, torch.full_like(top_scores, NEG_INF))
    return BeamResult(
        items=_pad_cols(items, k, -1),
        scores=_pad_cols(top_scores, k, NEG_INF),
        sids=torch.cat(
            [sids, torch.full((batch, k - sids.shape[1], depth), -1, dtype=torch.long, device=device)], dim=1
        ),
        invalid=invalid.long(),
        trace=steps,
    )


def _trace_step(
    level: int,
    scores: torch.Tensor,  # [B, W] beam scores before this level
    prefix: torch.Tensor,  # [B * W, level]
    logp: torch.Tensor,  # [B * W, K] raw log-probs
    masked: torch.Tensor,  # [B * W, K] log-probs with -inf where masked
    mask: torch.Tensor | None,  # [B * W, K] allowed, None = all
    cand: torch.Tensor,  # [B, W, K] cumulative scores of valid candidates (-inf otherwise)
    parent: torch.Tensor,  # [B, beam]
    token: torch.Tensor,  # [B, beam]
    new_scores: torch.Tensor,  # [B, beam]
    group: torch.Tensor,  # [beam]
    n_cand: int,
) -> BeamStep:
    """Build one :class:`BeamStep` from a level's tensors (plain Python lists; small B only)."""
    batch, width, kl = cand.shape
    allowed = torch.ones_like(logp, dtype=torch.bool) if mask is None else mask
    after = torch.exp(masked - masked.logsumexp(dim=-1, keepdim=True))
    after = torch.where(allowed.any(dim=-1, keepdim=True), after, torch.zeros_like(after)).nan_to_num(0.0)
    before = torch.exp(logp)
    n = min(n_cand, kl)
    top_p, top_t = before.topk(n, dim=1)  # [R, n] by raw probability
    raw_cum = scores.reshape(-1, 1) + logp  # [R, K]

    chosen_mask = torch.zeros(batch, width * kl, dtype=torch.bool, device=cand.device)
    chosen_live = torch.isfinite(new_scores)
    chosen_mask.scatter_(1, parent * kl + token, chosen_live)
    pruned_scores = cand.reshape(batch, -1).masked_fill(chosen_mask, NEG_INF)
    pruned_s, pruned_i = pruned_scores.topk(min(MAX_PRUNED, width * kl), dim=1)

    sc = scores.tolist()
    pref = prefix.view(batch, width, -1).tolist()
    top_p_l, top_t_l = top_p.tolist(), top_t.tolist()
    after_l = after.gather(1, top_t).tolist()
    allowed_l = allowed.gather(1, top_t).tolist()
    raw_l = raw_cum.gather(1, top_t).tolist()
    par_l, tok_l, new_l, grp_l = parent.tolist(), token.tolist(), new_scores.tolist(), group.tolist()
    ps_l, pi_l = pruned_s.tolist(), pruned_i.tolist()

    prefixes, beam_scores, candidates, chosen, pruned = [], [], [], [], []
    for b in range(batch):
        live_rows = [w for w in range(width) if math.isfinite(sc[b][w])]
        pos = {w: j for j, w in enumerate(live_rows)}
        prefixes.append([tuple(pref[b][w]) for w in live_rows])
        beam_scores.append([sc[b][w] for w in live_rows])
        cands = []
        for j, w in enumerate(live_rows):
            r = b * width + w
            cands.append(
                BeamCandidates(
                    beam=j,
                    prefix=tuple(pref[b][w]),
                    score=sc[b][w],
                    candidates=[
                        Candidate(
                            token=int(top_t_l[r][i]),
                            prob_before=float(top_p_l[r][i]),
                            prob_after=float(after_l[r][i]),
                            masked=not allowed_l[r][i],
                            score=float(raw_l[r][i]),
                        )
                        for i in range(n)
                    ],
                )
            )
        candidates.append(cands)
        chosen.append(
            [
                ChosenBeam(parent=pos[par_l[b][i]], token=int(tok_l[b][i]), score=new_l[b][i], group=int(grp_l[i]))
                for i in range(len(new_l[b]))
                if math.isfinite(new_l[b][i])
            ]
        )
        pruned.append(
            [
                PrunedCandidate(parent=pos[pi_l[b][i] // kl], token=int(pi_l[b][i] % kl), score=ps_l[b][i])
                for i in range(len(ps_l[b]))
                if math.isfinite(ps_l[b][i])
            ]
        )
    return BeamStep(level, prefixes, beam_scores, candidates, chosen, pruned)


# ---------------------------------------------------------------------- sampling


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
    history = _check_history(history)
    depth, sizes = _check_model(model, trie)
    k = _check_int("k", k, 1)
    max_rounds = _check_int("max_rounds", max_rounds, 1)
    per = _check_int("samples_per_round", 2 * k if samples_per_round is None else samples_per_round, 1)
    temperature = float(temperature)
    if not math.isfinite(temperature) or temperature <= 0:
        raise ConfigError(f"temperature: {temperature!r} must be a finite number > 0")
    device, batch, allow, exclusion, state0 = _prepare(
        model, history, trie, constrained, allow_mask, sizes, exclude, instruction, "sampling")
    user_of_batch = torch.arange(batch, device=device)
    row_user = user_of_batch.repeat_interleave(per)  # [B * S]
    # level 0 is the same for every sample of a user: compute it once
    root_nodes = None if trie is None else torch.zeros(batch, dtype=torch.long, device=trie.device)
    logp0 = _level_logp(model, state0, torch.zeros(batch, 0, dtype=torch.long, device=device), sizes[0])
    mask0 = _level_mask(0, root_nodes, user_of_batch, trie=trie, constrained=constrained, allow=allow,
                        exclusion=exclusion, k=sizes[0])
    masked0 = logp0 if mask0 is None else logp0.masked_fill(~mask0, NEG_INF)
    state_rows = state0.select(row_user)

    got_users, got_sids, got_scores, got_items = [], [], [], []
    for _ in range(max_rounds):
        check_cancel(cancel)
        score = torch.zeros(batch * per, device=device)
        prefix = torch.zeros(batch * per, 0, dtype=torch.long, device=device)
        nodes = None if trie is None else torch.zeros(batch * per, dtype=torch.long, device=trie.device)
        for level in range(depth):
            if level == 0:
                logp, masked = logp0.index_select(0, row_user), masked0.index_select(0, row_user)
            else:
                logp = _level_logp(model, state_rows, prefix, sizes[level])
                mask = _level_mask(level, nodes, row_user, trie=trie, constrained=constrained, allow=allow,
                                   exclusion=exclusion, k=sizes[level])
                masked = logp if mask is None else logp.masked_fill(~mask, NEG_INF)
            u = torch.rand(masked.shape, generator=generator, device=device).clamp_(1e-12, 1.0 - 1e-7)
            gumbel = -torch.log(-torch.log(u))
            tok = (masked / temperature + gumbel).argmax(dim=1)  # [R]
            step_lp = masked.gather(1, tok.unsqueeze(1)).squeeze(1)
            score = score + step_lp  # -inf once a row ran out of allowed tokens
            prefix = torch.cat([prefix, tok.unsqueeze(1)], dim=1)
            if nodes is not None:
                nodes = trie.step(level, nodes, tok.to(trie.device))
        live = torch.isfinite(score)
        items = (
            trie.item_at_leaf(nodes).to(device) if trie is not None else torch.full_like(score, -1, dtype=torch.long)
        )
        got_users.append(row_user[live])
        got_sids.append(prefix[live])
        got_scores.append(score[live])
        got_items.append(items[live])
        uniq = torch.unique(torch.cat([torch.cat(got_users).unsqueeze(1), torch.cat(got_sids)], dim=1), dim=0)
        n_have = torch.bincount(uniq[:, 0], minlength=batch)
        if bool((n_have >= k).all()):
            break

    users = torch.cat(got_users)
    sids = torch.cat(got_sids)
    scores = torch.cat(got_scores)
    items = torch.cat(got_items)
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

    short = (counts < k).nonzero().flatten().tolist()
    if short:  # fill from beam search, skipping SIDs already drawn
        have = [int(counts[b]) for b in short]
        sub_exclude = None if exclude is None else [exclude[b] for b in short]
        sub_allow = None
        if allow is not None:
            idx = torch.tensor(short, device=device)
            sub_allow = [None if m is None else (m.index_select(0, idx) if m.ndim == 2 else m) for m in allow]
        filler = beam_search(
            model,
            history[short],
            trie=trie,
            beam=k + max(have),
            k=k + max(have),
            constrained=constrained,
            exclude=sub_exclude,
            allow_mask=sub_allow,
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


def _select_rows(instruction, rows: list[int]):
    """Rows of a per-user instruction (tensor with the user dim first); anything else unchanged."""
    if isinstance(instruction, torch.Tensor) and instruction.ndim >= 1:
        return instruction[rows]
    return instruction


# ---------------------------------------------------------------------- exact reference


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
    level by level (``batch_size`` rows per call), so each item's score is the sum of its tokens'
    log-probs, computed exactly like :func:`beam_search` computes it. Returns a
    :class:`BeamResult` with ``B = 1``. Costs one model row per trie node: fine for tests and for
    catalogues up to ~1e5 items.
    """
    if trie is None:
        raise ConfigError("trie: exact_topk enumerates the trie's items and needs one")
    history = torch.as_tensor(history_row).long()
    if history.ndim == 1:
        history = history.unsqueeze(0)
    history = _check_history(history)
    if history.shape[0] != 1:
        raise ConfigError(f"history_row: expected one user, got {history.shape[0]}")
    depth, sizes = _check_model(model, trie)
    k = _check_int("k", k, 1)
    batch_size = _check_int("batch_size", batch_size, 1)
    device = history.device
    tdev = trie.device
    state0 = _start(model, history, instruction)
    scores = torch.zeros(1, device=device)
    prefix = torch.zeros(1, 0, dtype=torch.long, device=device)
    nodes = torch.zeros(1, dtype=torch.long, device=tdev)
    for level in range(depth):
        m = prefix.shape[0]
        parts = []
        for lo in range(0, m, batch_size):
            hi = min(m, lo + batch_size)
            st = state0.select(torch.zeros(hi - lo, dtype=torch.long, device=device))
            parts.append(_level_logp(model, st, prefix[lo:hi], sizes[level]))
        logp = torch.cat(parts) if parts else torch.zeros(0, sizes[level], device=device)
        allowed = trie.allowed(level, nodes).to(device)  # [M, K]
        par, tok = allowed.nonzero(as_tuple=True)
        scores = scores.index_select(0, par) + logp[par, tok]
        prefix = torch.cat([prefix.index_select(0, par), tok.unsqueeze(1)], dim=1)
        nodes = trie.step(level, nodes.index_select(0, par.to(tdev)), tok.to(tdev))
    items = trie.item_at_leaf(nodes).to(device)
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
    history = _check_history(history)
    exact = [set(exact_topk(model, history[b], trie=trie, k=k).items[0].tolist()) - {-1} for b in range(history.shape[0])]
    out: dict[int, float] = {}
    for w in widths:
        res = beam_search(model, history, trie=trie, beam=int(w), k=k)
        got = res.items.tolist()
        overlaps = [len(exact[b] & (set(got[b]) - {-1})) / k for b in range(history.shape[0])]
        out[int(w)] = float(sum(overlaps) / len(overlaps)) if overlaps else 0.0
    return out
