"""One SID level of a decode: :class:`Frame` (where a decode stands) and :func:`advance`.

Every decoder of the engine is a loop over levels of the same two calls::

    frame = Frame.root(model_state, batch=B, sizes=model.level_sizes, device=dev, trie=trie)
    for level in range(depth):
        frame = advance(frame, level_logp(model, frame), masks, width, select=...)

``advance`` masks the level's log-probabilities (:func:`~genrec_engine.decode.masks.combine_masks`),
adds them to the rows' cumulative scores, lets a *selection rule* pick the new rows and moves the
prefixes, trie nodes, row users and the model's decode state along. The rules:

- :class:`TopK`: (diverse) beam search, ``width`` best children per user.
- :class:`Gumbel`: sampling, one child per row by Gumbel-max on ``log p / temperature``; a frame
  with one row per user first grows to ``width`` sample rows per user.
- :class:`ForceChild`: keep only one given child (``width`` copies of it).
- :class:`TeacherForce`: every row continues with its own given token (scoring known SIDs).
- :class:`AllChildren`: every allowed child of every row (enumerating a trie; one user).

Rows are grouped by user: a frame of ``B`` users holds ``R = B * W`` rows, ``W`` per user
(``AllChildren`` frames have one user and any ``R``). Scores are cumulative natural-log
probabilities of the model's raw distribution: masks only remove tokens (``-inf``), they never
renormalise. A row whose every token is masked dies (score ``-inf``, trie node ``-1``).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol, Sequence

import torch

from ..errors import ConfigError
from ..index.trie import PrefixTrie
from ..models.base import DecodeState, GenerativeModel
from .masks import TokenMask, combine_masks
from .trace import NEG_INF, BeamStep, build_step

__all__ = [
    "Frame",
    "LevelScores",
    "Choice",
    "SelectRule",
    "TopK",
    "Gumbel",
    "ForceChild",
    "TeacherForce",
    "AllChildren",
    "advance",
    "level_logp",
    "start_state",
    "copy_state",
    "pad_cols",
]


@dataclass(frozen=True, eq=False)
class Frame:
    """Where a decode stands at the start of level ``level``. Its fields are never reassigned or
    written to; only ``model.next_logits`` may add caches to ``state`` (TIGER extends its K/V
    cache): compute the log-probs of ``frame.replace(state=copy_state(frame.state))`` to keep a
    frame exactly as it was (the stepper does, for going back).

    - ``prefix`` int64 ``[R, level]``: the SID tokens chosen so far, per row.
    - ``scores`` float32 ``[R]``: cumulative log-probs (``-inf`` = dead row).
    - ``users`` int64 ``[R]``: the user of each row (rows grouped by user, users ascending).
    - ``state``: the model's :class:`DecodeState`; row ``r`` belongs to frame row ``r``, unless
      ``state_rows`` int64 ``[R]`` is set: frame row ``r`` then reads state row ``state_rows[r]``,
      selected chunk by chunk when the log-probs are computed (for frames too large to hold one
      state row each, e.g. every node of a trie level).
    - ``sizes``: the vocabulary per level (``depth = len(sizes)``); ``batch``: users ``B``.
    - ``trie``/``nodes`` int64 ``[R]``: each row's node in the trie (``-1`` when dead or off the
      trie); ``None`` when the decode tracks no trie.
    - ``step``: the :class:`~genrec_engine.decode.trace.BeamStep` of the level that made this
      frame, when :func:`advance` was asked for a trace.
    """

    prefix: torch.Tensor
    scores: torch.Tensor
    users: torch.Tensor
    state: DecodeState
    level: int
    sizes: tuple[int, ...]
    batch: int
    trie: PrefixTrie | None = None
    nodes: torch.Tensor | None = None
    state_rows: torch.Tensor | None = None
    step: BeamStep | None = None

    @classmethod
    def root(cls, state: DecodeState, *, batch: int, sizes: Sequence[int], device, trie: PrefixTrie | None = None,
             width: int = 1, lazy_state: bool = False) -> "Frame":
        """The empty-prefix frame of ``batch`` users with ``width`` rows each (zero scores, trie
        root). ``state`` holds one row per frame row, or per user with ``lazy_state`` (the rows
        then read their user's state row, see :class:`Frame`)."""
        rows = batch * width
        users = torch.arange(batch, device=device).repeat_interleave(width)  # [R]
        return cls(
            prefix=torch.zeros(rows, 0, dtype=torch.long, device=device),
            scores=torch.zeros(rows, device=device),
            users=users,
            state=state,
            level=0,
            sizes=tuple(int(k) for k in sizes),
            batch=int(batch),
            trie=trie,
            nodes=None if trie is None else torch.zeros(rows, dtype=torch.long, device=trie.device),
            state_rows=users.clone() if lazy_state else None,
        )

    @property
    def rows(self) -> int:
        return int(self.scores.shape[0])

    @property
    def width(self) -> int:
        """Rows per user (``R // B``)."""
        return self.rows // max(1, self.batch)

    @property
    def depth(self) -> int:
        return len(self.sizes)

    @property
    def done(self) -> bool:
        """Whether every level is decoded."""
        return self.level >= self.depth

    @property
    def device(self) -> torch.device:
        return self.scores.device

    def items(self) -> torch.Tensor:
        """int64 ``[R]`` the catalogue item at each row's leaf (``-1``: dead, no item, or no trie);
        only meaningful once :attr:`done`."""
        if self.trie is None or self.nodes is None:
            return torch.full((self.rows,), -1, dtype=torch.long, device=self.device)
        return self.trie.item_at_leaf(self.nodes).to(self.device)

    def replace(self, **changes) -> "Frame":
        """A copy with some fields changed (frames are never mutated)."""
        return replace(self, **changes)


@dataclass(frozen=True, eq=False)
class LevelScores:
    """What a selection rule sees of one level: ``logp`` float32 ``[R, K]`` the model's
    log-probs, ``masked`` the same with ``-inf`` where ``mask`` (bool ``[R, K]``, ``None`` = all
    allowed) forbids, and ``cand`` = ``frame.scores[:, None] + masked`` (the children's scores)."""

    frame: Frame
    logp: torch.Tensor
    masked: torch.Tensor
    mask: torch.Tensor | None
    cand: torch.Tensor


@dataclass(frozen=True, eq=False)
class Choice:
    """The rows a selection rule keeps, ``n`` per user: ``parent`` int64 ``[B, n]`` (index into
    the user's ``W`` rows), ``token`` int64 ``[B, n]``, ``score`` float32 ``[B, n]`` (``-inf`` =
    dead slot), ``group`` int64 ``[n]`` (diverse beam group). ``same_rows``: every row keeps its
    own place (``parent`` is ``0..W-1``), so the decode state needs no reselection."""

    parent: torch.Tensor
    token: torch.Tensor
    score: torch.Tensor
    group: torch.Tensor
    same_rows: bool = False


class SelectRule(Protocol):
    """A selection rule: the rows to keep (``width`` per user, where the rule uses it)."""

    def __call__(self, lv: LevelScores, width: int | None) -> Choice: ...


def pad_cols(t: torch.Tensor, width: int, fill) -> torch.Tensor:
    """``t`` ``[B, w]`` right-padded with ``fill`` to ``[B, width]`` (unchanged when ``w >= width``)."""
    if t.shape[1] >= width:
        return t
    pad = torch.full((t.shape[0], width - t.shape[1]), fill, dtype=t.dtype, device=t.device)
    return torch.cat([t, pad], dim=1)


class TopK:
    """(Diverse) beam selection: the ``width`` best children per user by cumulative score.

    With ``groups > 1`` the groups pick in sequence (``width // groups`` each); group ``g``
    extends its own rows (from a one-row frame every group starts at the shared root) and each
    token already chosen at this level by earlier groups costs ``penalty * count`` (Hamming
    diversity; selection only, the kept scores stay true log-probs). At the last level a full SID
    that an earlier group chose is masked for later ones, so no sequence is returned twice.
    """

    def __init__(self, groups: int = 1, penalty: float = 0.0) -> None:
        self.groups, self.penalty = int(groups), float(penalty)

    def __call__(self, lv: LevelScores, width: int | None) -> Choice:
        f = lv.frame
        if width is None:
            raise ConfigError("width: beam search needs the number of beams to keep per user")
        if width % self.groups:
            raise ConfigError(f"width: {width} is not a multiple of the {self.groups} beam groups")
        batch, w = f.batch, f.width
        cand = lv.cand.view(batch, w, -1)  # [B, W, K]
        k = cand.shape[2]
        if self.groups == 1:
            score, idx = cand.reshape(batch, w * k).topk(min(width, w * k), dim=1)
            parent, token = pad_cols(idx // k, width, 0), pad_cols(idx % k, width, 0)
            score = pad_cols(score, width, NEG_INF)
            return Choice(parent, token, score, torch.zeros(width, dtype=torch.long, device=cand.device))
        same_prefix = None
        if f.level == f.depth - 1:  # full sequences: no two groups may return the same one
            p = f.prefix.view(batch, w, f.level)
            alive = torch.isfinite(f.scores.view(batch, w))
            same_prefix = (p.unsqueeze(2) == p.unsqueeze(1)).all(dim=-1) & alive.unsqueeze(1)  # [B, W, W]
        return self._diverse(cand, width, shared_root=w == 1, same_prefix=same_prefix)

    def _diverse(self, cand: torch.Tensor, width: int, shared_root: bool, same_prefix) -> Choice:
        batch, w, k = cand.shape
        groups, penalty = self.groups, self.penalty
        per = width // groups
        counts = torch.zeros(batch, k, dtype=cand.dtype, device=cand.device)  # tokens taken so far
        taken = torch.zeros(batch, w, k, dtype=cand.dtype, device=cand.device)  # (row, token) taken
        parents, tokens, scores = [], [], []
        for g in range(groups):
            if shared_root:
                rows = torch.arange(w, device=cand.device)
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
            parents.append(pad_cols(par, per, 0))
            tokens.append(pad_cols(tok, per, 0))
            scores.append(pad_cols(true, per, NEG_INF))
        group = torch.arange(groups, device=cand.device).repeat_interleave(per)
        return Choice(torch.cat(parents, 1), torch.cat(tokens, 1), torch.cat(scores, 1), group)


class Gumbel:
    """Sampling: one token per row by Gumbel-max on ``masked / temperature`` (uniforms from
    ``generator``, one ``[rows, K]`` draw per level). A frame with one row per user first grows
    to ``width`` sample rows per user, each a copy of its user's row."""

    def __init__(self, temperature: float = 1.0, generator: torch.Generator | None = None) -> None:
        self.temperature, self.generator = float(temperature), generator

    def __call__(self, lv: LevelScores, width: int | None) -> Choice:
        f = lv.frame
        dev = f.device
        grow = f.width == 1 and width is not None
        n = int(width) if grow else f.width
        local = torch.zeros(n, dtype=torch.long, device=dev) if grow else torch.arange(n, device=dev)  # [n]
        rows = (torch.arange(f.batch, device=dev).unsqueeze(1) * f.width + local).reshape(-1)  # [B * n]
        masked = lv.masked.index_select(0, rows)  # [B * n, K]
        u = torch.rand(masked.shape, generator=self.generator, device=dev).clamp_(1e-12, 1.0 - 1e-7)
        tok = (masked / self.temperature - torch.log(-torch.log(u))).argmax(dim=1)  # [B * n]
        score = lv.cand.index_select(0, rows).gather(1, tok.unsqueeze(1)).squeeze(1)
        return Choice(local.expand(f.batch, n), tok.view(f.batch, n), score.view(f.batch, n),
                      torch.zeros(n, dtype=torch.long, device=dev), same_rows=not grow)


class ForceChild:
    """Keep only the child of frame row ``row`` along ``token`` (one user), ``width`` copies of
    it (default 1). ``label`` names the row in the error raised when the child has probability 0."""

    def __init__(self, row: int, token: int, label: str | None = None) -> None:
        self.row, self.token, self.label = int(row), int(token), label

    def __call__(self, lv: LevelScores, width: int | None) -> Choice:
        f = lv.frame
        if f.batch != 1:
            raise ConfigError(f"ForceChild: decodes one user, the frame has {f.batch}")
        score = lv.cand[self.row, self.token]
        if not torch.isfinite(score):
            raise ConfigError(f"force: token {self.token} has probability 0 for {self.label or f'row {self.row}'}")
        n = 1 if width is None else int(width)
        dev = f.device
        return Choice(torch.full((1, n), self.row, dtype=torch.long, device=dev),
                      torch.full((1, n), self.token, dtype=torch.long, device=dev),
                      score.reshape(1, 1).expand(1, n).clone(), torch.zeros(n, dtype=torch.long, device=dev))


class TeacherForce:
    """Every row continues with its own token: ``tokens`` int64 ``[R]`` (the next token of each
    row's known SID). Its score is the masked log-prob (``-inf`` when a mask forbids it)."""

    def __init__(self, tokens: torch.Tensor) -> None:
        self.tokens = tokens

    def __call__(self, lv: LevelScores, width: int | None) -> Choice:
        f = lv.frame
        tok = self.tokens.to(f.device).reshape(-1)
        if tok.shape[0] != f.rows:
            raise ConfigError(f"TeacherForce: {tok.shape[0]} tokens for {f.rows} rows")
        score = lv.cand.gather(1, tok.unsqueeze(1)).squeeze(1)  # [R]
        w = f.width
        return Choice(torch.arange(w, device=f.device).expand(f.batch, w), tok.view(f.batch, w),
                      score.view(f.batch, w), torch.zeros(w, dtype=torch.long, device=f.device), same_rows=True)


class AllChildren:
    """Every allowed ``(row, token)`` becomes a row of the next frame, in row-major order (one
    user: ``R`` varies from level to level). Without masks every token is a child."""

    def __call__(self, lv: LevelScores, width: int | None) -> Choice:
        f = lv.frame
        if f.batch != 1:
            raise ConfigError(f"AllChildren: enumerates one user, the frame has {f.batch}")
        allowed = torch.ones_like(lv.cand, dtype=torch.bool) if lv.mask is None else lv.mask
        par, tok = allowed.nonzero(as_tuple=True)  # [n] each
        n = par.shape[0]
        return Choice(par.unsqueeze(0), tok.unsqueeze(0), lv.cand[par, tok].unsqueeze(0),
                      torch.zeros(n, dtype=torch.long, device=f.device))


def start_state(model: GenerativeModel, history: torch.Tensor, instruction=None) -> DecodeState:
    """``model.start(history)``, with the instruction only when one is given."""
    if instruction is None:
        return model.start(history)
    return model.start(history, instruction)


def copy_state(state: DecodeState) -> DecodeState:
    """A shallow copy: models may *replace* entries of ``state.tensors`` (TIGER extends its K/V
    cache in place of the dict), which must not leak into a frame that is kept."""
    return DecodeState(dict(state.tensors), dict(state.shared))


def level_logp(model: GenerativeModel, frame: Frame, *, batch_size: int | None = None) -> torch.Tensor:
    """float32 ``[R, K_level]`` log-probabilities of the frame's next level (log-softmax is applied
    to what ``model.next_logits`` returns, so raw logits work too). A frame with ``state_rows`` is
    computed ``batch_size`` rows at a time, each chunk from a fresh selection of the state."""
    k = frame.sizes[frame.level]
    if frame.state_rows is None:
        parts = [(model.next_logits(frame.state, frame.prefix), frame.prefix)]
    else:
        step = frame.rows if batch_size is None else max(1, int(batch_size))
        parts = []
        for lo in range(0, frame.rows, step):
            hi = min(frame.rows, lo + step)
            st = frame.state.select(frame.state_rows[lo:hi])
            parts.append((model.next_logits(st, frame.prefix[lo:hi]), frame.prefix[lo:hi]))
    out = []
    for logits, prefix in parts:
        if logits.ndim != 2 or logits.shape != (prefix.shape[0], k):
            raise ConfigError(f"model.next_logits: expected shape ({prefix.shape[0]}, {k}) at level "
                              f"{prefix.shape[1]}, got {tuple(logits.shape)}")
        out.append(torch.log_softmax(logits.float(), dim=-1))
    if not out:
        return torch.zeros(0, k, device=frame.device)
    return out[0] if len(out) == 1 else torch.cat(out)


def advance(frame: Frame, logp: torch.Tensor, masks: Sequence[TokenMask | None] = (), width: int | None = None, *,
            select: SelectRule | None = None, trace: int | None = None) -> Frame:
    """Decode one level: mask ``logp`` (float32 ``[R, K]``, e.g. :func:`level_logp`) with the AND of
    ``masks``, score every child (row score + masked log-prob), keep the children ``select``
    picks (default :class:`TopK`; ``width``: children kept per user, see each rule) and return
    the next level's frame. Dead slots get score ``-inf`` and trie node ``-1``. The decode
    state is selected along the kept rows (not at the last level, where it is never read again;
    not when the rule keeps every row in place). ``trace``: record a
    :class:`~genrec_engine.decode.trace.BeamStep` with ``trace`` candidates per live row in the
    new frame's ``step`` (uniform rows per user only).
    """
    if frame.done:
        raise ConfigError(f"advance: the frame has decoded all {frame.depth} levels")
    level, batch, w = frame.level, frame.batch, frame.width
    if logp.shape != (frame.rows, frame.sizes[level]):
        raise ConfigError(f"logp: expected shape ({frame.rows}, {frame.sizes[level]}), got {tuple(logp.shape)}")
    mask = combine_masks(masks, level, frame)  # bool [R, K] or None
    masked = logp if mask is None else logp.masked_fill(~mask, NEG_INF)
    cand = frame.scores.reshape(-1, 1) + masked  # [R, K] cumulative score of every child
    lv = LevelScores(frame, logp, masked, mask, cand)
    choice = (select or TopK())(lv, width)
    n = choice.token.shape[1]
    dev = frame.device
    rows = (torch.arange(batch, device=dev).unsqueeze(1) * w + choice.parent).reshape(-1)  # [B * n]
    token = choice.token.reshape(-1)
    scores = choice.score.reshape(-1)
    live = torch.isfinite(scores)
    nodes = None
    if frame.nodes is not None:
        tdev = frame.trie.device
        child = frame.trie.step(level, frame.nodes.index_select(0, rows.to(tdev)), token.to(tdev))
        nodes = torch.where(live.to(tdev), child, torch.full_like(child, -1))
    state, state_rows = frame.state, frame.state_rows
    if state_rows is not None:
        state_rows = state_rows.index_select(0, rows)
    elif not choice.same_rows and level + 1 < frame.depth:
        state = state.select(rows)
    step = None
    if trace is not None:
        step = build_step(level, frame.scores.view(batch, w), frame.prefix, logp, masked, mask, cand.view(batch, w, -1),
                          choice.parent, choice.token, choice.score, choice.group, int(trace))
    return Frame(
        prefix=torch.cat([frame.prefix.index_select(0, rows), token.unsqueeze(1)], dim=1),
        scores=scores,
        users=torch.arange(batch, device=dev).repeat_interleave(n) if batch > 1 else frame.users.new_zeros(n),
        state=state,
        level=level + 1,
        sizes=frame.sizes,
        batch=batch,
        trie=frame.trie,
        nodes=nodes,
        state_rows=state_rows,
        step=step,
    )
