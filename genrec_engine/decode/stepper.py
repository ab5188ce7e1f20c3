"""A level-by-level decoder for ONE user, with back, force and a record per level (the beam stepper).

:class:`BeamStepper` runs the same decode as :func:`~genrec_engine.decode.beam_search` (or one
round of :func:`~genrec_engine.decode.sample`), but one SID level per :meth:`BeamStepper.step`, so a
person can watch it: which beams were live, which tokens each beam wanted before and after the trie
mask, which beams were kept and which were pruned. Each step is one
:func:`~genrec_engine.decode.step.advance` with beam search's own masks and selection rule
(:class:`~genrec_engine.decode.step.TopK`, :class:`~genrec_engine.decode.step.Gumbel` when
sampling, :class:`~genrec_engine.decode.step.ForceChild` when forced), so with nothing forced its
final list *is* ``beam_search``'s for that user.

Every level starts from a :class:`~genrec_engine.decode.step.Frame` (beam scores, prefixes, trie
nodes, the model's decode state) plus, when sampling, the random generator's state; none is
changed once made (the model only sees a copy of the frame's state). Frames are kept
on a stack: :meth:`BeamStepper.back` pops one, and the next :meth:`BeamStepper.step` recomputes
exactly what it computed before (the same tensors, the same random draws).

Modes (:attr:`StepperConfig.mode`):

- ``"beam"``: plain beam search with ``beam`` beams.
- ``"diverse"``: Hamming diverse beam search, ``groups`` groups and ``penalty`` (as ``beam_search``).
- ``"sample"``: ``beam`` independent samples drawn token by token (Gumbel-max on
  ``log p / temperature`` under the same masks), i.e. one round of ``sample`` with
  ``samples_per_round = beam``; repeated SIDs are merged and there is no beam-search fill, so the
  list can hold fewer than ``k`` items.

**Forcing** (:meth:`BeamStepper.force`) restricts the decode to one branch: the next step keeps
only the forced child ``prefix + (token,)``, whatever its rank, and every later beam extends it. So
the final list holds the best items *under the forced prefix*: "what if the model had taken this
token here". Forcing at the last level picks a single item. In sampling mode every sample continues
from the forced prefix. A forced token must be allowed by the mask (trie, filters).

Shapes: ``W`` rows of the current level (1 at level 0), ``K`` the level's vocabulary, ``D`` the SID
depth. Scores are cumulative natural-log probabilities of the model's raw distribution.
"""
from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np
import torch

from ..errors import ConfigError
from ..index.trie import PrefixTrie
from ..data.ragged import Ragged, as_ragged
from ..models.base import GenerativeModel, pad_histories
from .checks import check_history, check_int, check_model, check_positive
from .masks import combine_masks, decode_masks
from .search import beam_search
from .step import ForceChild, Frame, Gumbel, TopK, advance, copy_state, level_logp, start_state
from .trace import BeamCandidates, ChosenBeam, PrunedCandidate, json_float

__all__ = [
    "MODES",
    "StepperConfig",
    "StepRecord",
    "StepperResult",
    "BeamStepper",
    "HeldOutUsers",
    "held_out_users",
    "find_demo_user",
]

#: Decoding modes of the stepper: plain beam search, diverse beam search, temperature sampling.
MODES = ("beam", "diverse", "sample")


@dataclass(frozen=True)
class StepperConfig:
    """How the stepper decodes. Validated on construction (errors name the field)."""

    beam: int = 20  # beams (or samples) kept per level; recommend() uses 20
    k: int = 10  # results returned at the end (beam >= k to fill the list)
    constrained: bool = True  # mask tokens the trie disallows, so every SID is a real item
    mode: str = "beam"  # one of MODES
    groups: int = 2  # diverse beam search: groups (must divide beam)
    penalty: float = 0.5  # diverse beam search: Hamming penalty per earlier pick of a token
    temperature: float = 1.0  # sampling: log p / temperature
    seed: int = 0  # sampling: seed of the stepper's own random generator
    n_cand: int = 8  # candidates recorded per live beam and level (beam + n_cand for a lone beam)

    def __post_init__(self) -> None:
        check_int("beam", self.beam, 1)
        check_int("k", self.k, 1)
        check_int("n_cand", self.n_cand, 1)
        check_int("seed", self.seed, 0)
        if self.mode not in MODES:
            raise ConfigError(f"mode: {self.mode!r} is not one of {', '.join(MODES)}")
        if self.mode == "diverse":
            check_int("groups", self.groups, 1)
            if self.beam % self.groups:
                raise ConfigError(f"groups: {self.groups} does not divide beam {self.beam}")
            check_positive("penalty", self.penalty, allow_zero=True)
        if self.mode == "sample":
            check_positive("temperature", self.temperature, allow_zero=False)


@dataclass(frozen=True)
class StepRecord:
    """What one :meth:`BeamStepper.step` did at SID level ``level`` (0-based).

    ``prefixes[j]``/``beam_scores[j]``: live beam ``j`` before this level (``level`` tokens) and its
    cumulative log-prob; ``candidates[j]``: beam ``j``'s top candidates by raw probability, each
    with ``prob_before`` (model softmax), ``prob_after`` (renormalised over allowed tokens) and
    ``masked``; ``chosen``: the beams kept (``parent`` indexes ``prefixes``), best first within
    each group, in the order of the next level's ``prefixes``; ``pruned``: allowed candidates that
    were not kept, best first (at most 50); ``forced``: ``(beam, token)`` when the level was
    forced; ``ms``: wall time of the step in milliseconds.
    """

    level: int
    prefixes: tuple[tuple[int, ...], ...]
    beam_scores: tuple[float, ...]
    candidates: tuple[BeamCandidates, ...]
    chosen: tuple[ChosenBeam, ...]
    pruned: tuple[PrunedCandidate, ...]
    forced: tuple[int, int] | None = None
    ms: float = field(default=0.0, compare=False)

    def child_prefix(self, chosen: ChosenBeam | PrunedCandidate) -> tuple[int, ...]:
        """The prefix a kept or pruned candidate makes (``level + 1`` tokens)."""
        return self.prefixes[chosen.parent] + (int(chosen.token),)

    def to_dict(self) -> dict:
        """JSON-serialisable (``None`` for infinite scores)."""
        return {
            "level": self.level,
            "prefixes": [list(p) for p in self.prefixes],
            "beam_scores": [json_float(s) for s in self.beam_scores],
            "candidates": [c.to_dict() for c in self.candidates],
            "chosen": [c.to_dict() for c in self.chosen],
            "pruned": [p.to_dict() for p in self.pruned],
            "forced": None if self.forced is None else list(self.forced),
            "ms": round(self.ms, 3),
        }


@dataclass(frozen=True)
class StepperResult:
    """The ranked list at the end of a decode, best first.

    ``items[i]``: catalogue row (``-1``: the SID matches no item, only possible unconstrained);
    ``sids[i]``: the full SID; ``scores[i]``: cumulative log-prob; ``invalid``: how many listed SIDs
    match no item (``-1`` when unknown: no trie).
    """

    items: tuple[int, ...]
    sids: tuple[tuple[int, ...], ...]
    scores: tuple[float, ...]
    invalid: int

    def __len__(self) -> int:
        return len(self.items)

    def homogeneity(self, k: int = 10, level: int = 1) -> tuple[float, tuple[int, ...] | None]:
        """``(share, prefix)``: the largest share of the top-``k`` SIDs held by one prefix of
        ``level`` tokens, and that prefix (``(0.0, None)`` for an empty list). Invalid SIDs count
        too (unlike :func:`~genrec_engine.train.metrics.homogeneity_at_k`, which sees items only)."""
        top = [s[:level] for s in self.sids[:k]]
        if not top:
            return 0.0, None
        prefix, n = Counter(top).most_common(1)[0]
        return n / len(top), prefix

    def rank_of(self, item: int) -> int | None:
        """1-based rank of ``item`` in the list, or None."""
        try:
            return self.items.index(int(item)) + 1
        except ValueError:
            return None

    def to_dict(self) -> dict:
        return {"items": list(self.items), "sids": [list(s) for s in self.sids],
                "scores": [json_float(s) for s in self.scores], "invalid": self.invalid}


@dataclass(frozen=True)
class _Level:
    """The decode at the start of one level; never mutated once pushed (the model only ever sees a
    :func:`~genrec_engine.decode.step.copy_state` of the frame's state)."""

    frame: Frame  # one user, W rows: scores float32 [W], prefix int64 [W, level], trie nodes [W]
    rng: torch.Tensor | None  # the sampling generator's state before this level's draws
    forced: tuple[int, int] | None = None  # pending (live beam, token) for this level's step


class BeamStepper:
    """Decode one user's next item level by level (see the module docstring).

    ``model``: a generator speaking the protocol of ``models/base.py``; ``trie``: the project's
    prefix trie (required when constrained, and to map SIDs to items); ``history``: the user's item
    indices, oldest first (the most recent ``max_len`` are used; ``max_len`` defaults to the
    model's ``config.max_len``); ``exclude``: item indices the decode must not return (a filter's
    blocked items, maybe the history), masked in the trie as ``beam_search(exclude=...)`` does;
    ``instruction``: passed to ``model.start`` (float ``[384]`` or ``[1, 384]``).

    Not thread-safe; the model is only read (call under ``torch.no_grad()`` or let the stepper do
    it: every public method runs without autograd).
    """

    def __init__(
        self,
        model: GenerativeModel,
        trie: PrefixTrie | None,
        history: Sequence[int],
        *,
        config: StepperConfig = StepperConfig(),
        exclude: set[int] | frozenset[int] | None = None,
        instruction: torch.Tensor | None = None,
        max_len: int | None = None,
        device: str | torch.device | None = None,
    ) -> None:
        self.model, self.trie, self.config = model, trie, config
        self.depth, self.level_sizes = check_model(model, trie)
        if max_len is None:
            max_len = getattr(getattr(model, "config", None), "max_len", None) or max(1, len(history))
        max_len = check_int("max_len", max_len, 1)
        if device is None:
            param = next(iter(model.parameters()), None) if hasattr(model, "parameters") else None
            device = param.device if param is not None else "cpu"
        self.history = tuple(int(i) for i in history)
        H = pad_histories([list(self.history)], max_len, device=device)
        if (H > 0).sum() == 0:  # no history at all: one padding column, as recommend() does
            H = H[:, -1:]
        self.history_tensor = check_history(H)  # int64 [1, T]: item index + 1, left-padded
        self.exclude = frozenset(int(i) for i in exclude) if exclude else frozenset()
        if instruction is not None:
            instruction = torch.as_tensor(instruction, dtype=torch.float32, device=device)
            if instruction.ndim == 1:
                instruction = instruction.unsqueeze(0)
        self.instruction = instruction
        dev = self.history_tensor.device
        self._masks = decode_masks(trie, constrained=config.constrained, sizes=self.level_sizes, batch=1, device=dev,
                                   exclude=[set(self.exclude)] if self.exclude else None, what="stepping")
        with torch.no_grad():
            state = start_state(model, self.history_tensor, instruction)
        self.device = dev
        self._gen: torch.Generator | None = None
        rng = None
        if config.mode == "sample":
            self._gen = torch.Generator(device=dev)
            self._gen.manual_seed(int(config.seed))
            rng = self._gen.get_state()
        root = Frame.root(state, batch=1, sizes=self.level_sizes, device=dev, trie=trie)
        self._frames: list[_Level] = [_Level(root, rng)]
        self._records: list[StepRecord] = []

    # ------------------------------------------------------------------ public: reading

    @property
    def level(self) -> int:
        """Levels decoded so far (0 .. depth)."""
        return len(self._records)

    @property
    def done(self) -> bool:
        return self.level == self.depth

    @property
    def records(self) -> tuple[StepRecord, ...]:
        """One record per decoded level, oldest first."""
        return tuple(self._records)

    @property
    def pending_force(self) -> tuple[int, int] | None:
        """``(beam, token)`` forced for the next step, or None."""
        return self._frames[-1].forced

    def live_beams(self) -> list[tuple[tuple[int, ...], float]]:
        """The current level's live beams ``(prefix, score)`` in the order :meth:`force` indexes."""
        f = self._frames[-1].frame
        sc = f.scores.tolist()
        pref = f.prefix.tolist()
        return [(tuple(pref[w]), sc[w]) for w in range(len(sc)) if math.isfinite(sc[w])]

    def signature(self) -> tuple:
        """Everything that determines the rest of the decode, as plain Python values: level, scores,
        prefixes, trie nodes, pending force, the decode state's tensors and the random state. Equal
        signatures mean the stepper is in the identical state (used by the tests)."""
        top = self._frames[-1]
        f = top.frame
        state = tuple((k, tuple(v.shape), v.flatten().tolist()) for k, v in sorted(f.state.tensors.items()))
        return (f.level, f.scores.tolist(), f.prefix.tolist(), None if f.nodes is None else f.nodes.tolist(),
                top.forced, state, None if top.rng is None else top.rng.tolist())

    # ------------------------------------------------------------------ public: moving

    def step(self) -> StepRecord:
        """Decode the next level and return its record; ConfigError when the SID is complete."""
        if self.done:
            raise ConfigError(f"step: the decode is complete ({self.depth} levels)")
        t0 = time.perf_counter()
        with torch.no_grad():
            record, frame = self._advance(self._frames[-1])
        record = replace(record, ms=1000.0 * (time.perf_counter() - t0))
        self._frames.append(frame)
        self._records.append(record)
        return record

    def back(self) -> StepRecord | None:
        """Undo the last step (the level's pending force, if any, is kept). Returns the record of
        the level now last, or None at the start. At the start it does nothing."""
        if self._records:
            self._records.pop()
            self._frames.pop()
        return self._records[-1] if self._records else None

    def run_to_end(self) -> list[StepRecord]:
        """Step until the SID is complete; returns the records made."""
        out = []
        while not self.done:
            out.append(self.step())
        return out

    def reset(self) -> None:
        """Back to level 0 (pending forces dropped)."""
        del self._frames[1:]
        self._records.clear()
        self.unforce()

    def force(self, beam: int, token: int) -> None:
        """Make the next step keep only live beam ``beam``'s child along ``token`` (see the
        module docstring). ConfigError when the decode is complete, the beam or token is out of
        range, or the mask disallows the token for that beam."""
        if self.done:
            raise ConfigError("force: the decode is complete; go back a level first")
        top = self._frames[-1]
        f = top.frame
        live = self._live_rows(f)
        beam = check_int("beam", beam, 0)
        if beam >= len(live):
            raise ConfigError(f"beam: {beam} but level {f.level} has {len(live)} live beams")
        k = self.level_sizes[f.level]
        token = check_int("token", token, 0)
        if token >= k:
            raise ConfigError(f"token: {token} but level {f.level} has {k} tokens")
        row = live[beam]
        one = torch.tensor([row], device=self.device)
        beam_frame = f.replace(prefix=f.prefix.index_select(0, one), scores=f.scores.index_select(0, one),
                               users=f.users.index_select(0, one),
                               nodes=None if f.nodes is None else f.nodes.index_select(0, one.to(f.nodes.device)))
        mask = combine_masks(self._masks, f.level, beam_frame, required=torch.ones(1, dtype=torch.bool, device=self.device))
        if mask is not None and not bool(mask[0, token]):
            raise ConfigError(f"token: {token} is masked for beam {beam} (no allowed item lies under it)")
        self._frames[-1] = replace(top, forced=(beam, token))

    def unforce(self) -> None:
        """Drop the pending force of the current level."""
        if self._frames[-1].forced is not None:
            self._frames[-1] = replace(self._frames[-1], forced=None)

    def result(self) -> StepperResult:
        """The ranked list once the SID is complete (ConfigError before)."""
        if not self.done:
            raise ConfigError(f"result: only {self.level} of {self.depth} levels are decoded")
        f = self._frames[-1].frame
        if self.config.mode == "sample":
            return self._sample_result(f)
        order = f.scores.argsort(descending=True, stable=True)[: min(self.config.k, f.rows)]
        return self._finish(order, f)

    # ------------------------------------------------------------------ private

    @staticmethod
    def _live_rows(f: Frame) -> list[int]:
        return [w for w, s in enumerate(f.scores.tolist()) if math.isfinite(s)]

    def _advance(self, top: _Level) -> tuple[StepRecord, _Level]:
        """One level from ``top``: one :func:`~genrec_engine.decode.step.advance`, as one iteration
        of ``beam_search`` (or of a ``sample`` round), with the forced child kept when one is set."""
        cfg = self.config
        f = top.frame.replace(state=copy_state(top.frame.state))  # the kept frame's state stays untouched
        rng = None
        if top.forced is not None:
            beam, token = top.forced
            # sampling: every sample continues from the forced child; nothing is drawn at this
            # level, so the next one draws from the same random state
            select = ForceChild(self._live_rows(f)[beam], token, label=f"beam {beam}")
            width = cfg.beam if cfg.mode == "sample" else 1
            rng = top.rng if cfg.mode == "sample" else None
        elif cfg.mode == "sample":
            self._gen.set_state(top.rng)  # the same draws as when this level was first stepped
            select, width = Gumbel(cfg.temperature, self._gen), cfg.beam
        else:
            diverse = cfg.mode == "diverse"
            select, width = TopK(cfg.groups if diverse else 1, cfg.penalty if diverse else 0.0), cfg.beam
        # a lone beam (the root, or a forced branch) lists beam + n_cand candidates, so the ones it
        # pruned show up beside the ones it kept
        n_cand = cfg.n_cand if f.rows > 1 else cfg.beam + cfg.n_cand
        new = advance(f, level_logp(self.model, f), self._masks, width, select=select, trace=n_cand)
        if cfg.mode == "sample" and top.forced is None:
            rng = self._gen.get_state()
        step = new.step
        record = StepRecord(f.level, tuple(step.prefixes[0]), tuple(step.beam_scores[0]), tuple(step.candidates[0]),
                            tuple(step.chosen[0]), tuple(step.pruned[0]), top.forced)
        return record, _Level(new.replace(step=None), rng)

    def _sample_result(self, f: Frame) -> StepperResult:
        """Distinct SIDs of the live samples, ranked by true log-prob (ties by SID, as ``sample``)."""
        scores = f.scores
        live = torch.isfinite(scores).nonzero().flatten()
        if live.numel() == 0:
            return StepperResult((), (), (), 0 if self.trie is not None else -1)
        uniq, inverse = torch.unique(f.prefix.index_select(0, live), dim=0, return_inverse=True)
        first = torch.full((uniq.shape[0],), live.numel(), dtype=torch.long, device=scores.device)
        first.scatter_reduce_(0, inverse, torch.arange(live.numel(), device=scores.device), reduce="amin")
        rows = live.index_select(0, first)  # one row per distinct SID, in SID order
        order = scores.index_select(0, rows).argsort(descending=True, stable=True)[: self.config.k]
        return self._finish(rows.index_select(0, order), f)

    def _finish(self, rows: torch.Tensor, f: Frame) -> StepperResult:
        scores = f.scores.index_select(0, rows)
        keep = torch.isfinite(scores)
        rows, scores = rows[keep], scores[keep]
        sids = [tuple(int(c) for c in s) for s in f.prefix.index_select(0, rows).tolist()]
        if self.trie is not None:
            items = f.items().index_select(0, rows).tolist()
            invalid = sum(1 for i in items if i < 0)
        else:
            items, invalid = [-1] * len(sids), -1
        return StepperResult(tuple(int(i) for i in items), tuple(sids), tuple(float(s) for s in scores.tolist()),
                             int(invalid))


# ---------------------------------------------------------------------- test users (the panel's picks)


@dataclass(frozen=True)
class HeldOutUsers:
    """The test users of a project's leave-one-out split (cold items kept out of histories).

    ``user_ids`` int64 ``[U]``; ``histories[u]`` int64 item indices, oldest first; ``targets`` int64
    ``[U]`` the item each user really took next (the held-out test item)."""

    user_ids: np.ndarray
    histories: Ragged
    targets: np.ndarray

    def __len__(self) -> int:
        return len(self.user_ids)


def held_out_users(project, *, progress=None, cancel=None) -> HeldOutUsers:
    """The project's test users (``project_split``; run it as a job)."""
    from ..data import project_split

    split = project_split(project)
    return HeldOutUsers(np.asarray(split.user_ids, dtype=np.int64), as_ragged(split.test_history),
                        np.asarray(split.test_target, dtype=np.int64))


def find_demo_user(model: GenerativeModel, trie: PrefixTrie, users: HeldOutUsers, *, beam: int = 20, k: int = 10,
                   candidates: int = 256, min_history: int = 5, chunk: int = 32, seed: int = 0, cancel=None) -> int:
    """A test user worth showing: among ``candidates`` seeded random users with at least
    ``min_history`` items, the first (in that order) whose true next item is in the constrained
    beam-search top-``k``; the first candidate when none is. Decodes ``chunk`` users per batched
    ``beam_search`` and stops at the first hit (RAN: ~20 ms a chunk; TIGER: ~1 s)."""
    n = len(users)
    if n == 0:
        raise ConfigError("users: the project has no test users")
    lengths = as_ragged(users.histories).lengths
    pool = np.flatnonzero(lengths >= min_history)
    if len(pool) == 0:
        pool = np.arange(n)
    pick = np.random.default_rng(seed).permutation(pool)[:candidates]
    max_len = getattr(getattr(model, "config", None), "max_len", None) or int(lengths[pick].max())
    param = next(iter(model.parameters()), None) if hasattr(model, "parameters") else None
    device = param.device if param is not None else None
    for lo in range(0, len(pick), chunk):
        part = pick[lo:lo + chunk]
        H = pad_histories([users.histories[u] for u in part], max_len, device=device)
        with torch.no_grad():
            res = beam_search(model, H, trie=trie, beam=max(beam, k), k=k, cancel=cancel)
        hits = np.flatnonzero((res.items.cpu().numpy() == users.targets[part][:, None]).any(1))
        if len(hits):
            return int(part[hits[0]])
    return int(pick[0])
