"""What a decode records: the per-level trace (:class:`BeamStep` and its parts) and the ranked
result (:class:`BeamResult`), plus :func:`build_step`, which makes a trace level from its tensors.

Every dataclass has ``to_dict`` giving strict JSON (``None`` for infinite scores).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

__all__ = [
    "NEG_INF",
    "MAX_PRUNED",
    "json_float",
    "Candidate",
    "BeamCandidates",
    "ChosenBeam",
    "PrunedCandidate",
    "BeamStep",
    "BeamResult",
    "build_step",
]

NEG_INF = float("-inf")
MAX_PRUNED = 50  # pruned candidates kept per user and level in a trace


def json_float(x: float) -> float | None:
    """``x`` as a JSON-safe float: ``None`` for -inf/inf/nan (strict JSON has no infinities)."""
    x = float(x)
    return x if math.isfinite(x) else None


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
            "score": json_float(self.score),
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
            "score": json_float(self.score),
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
        return {"parent": self.parent, "token": self.token, "score": json_float(self.score), "group": self.group}


@dataclass
class PrunedCandidate:
    """A candidate the constraints allowed that fell outside the beam."""

    parent: int
    token: int
    score: float

    def to_dict(self) -> dict:
        return {"parent": self.parent, "token": self.token, "score": json_float(self.score)}


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
            "beam_scores": [[json_float(s) for s in user] for user in self.beam_scores],
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
            "scores": [[json_float(s) for s in row] for row in self.scores.tolist()],
            "sids": self.sids.tolist(),
            "invalid": self.invalid.tolist(),
            "trace": None if self.trace is None else [s.to_dict() for s in self.trace],
        }


def build_step(
    level: int,
    scores: torch.Tensor,  # [B, W] beam scores before this level
    prefix: torch.Tensor,  # [B * W, level]
    logp: torch.Tensor,  # [B * W, K] raw log-probs
    masked: torch.Tensor,  # [B * W, K] log-probs with -inf where masked
    mask: torch.Tensor | None,  # [B * W, K] allowed, None = all
    cand: torch.Tensor,  # [B, W, K] cumulative scores of valid candidates (-inf otherwise)
    parent: torch.Tensor,  # int64 [B, n] index into the user's W rows
    token: torch.Tensor,  # int64 [B, n]
    new_scores: torch.Tensor,  # float32 [B, n] cumulative log-probs, -inf for dead slots
    group: torch.Tensor,  # int64 [n] diverse-beam group of each slot
    n_cand: int,
) -> BeamStep:
    """One :class:`BeamStep` from a level's tensors (plain Python lists: meant for a few users).

    ``W`` rows per user before the level, ``n`` rows per user after it; ``n_cand`` candidates (by
    raw probability) are listed per live beam and at most :data:`MAX_PRUNED` pruned ones per user.
    """
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
