"""Composable, vectorised token masks for decoding.

A mask says which tokens each row of a decode may take at one level. Every mask class has
``allowed(level, frame)`` returning bool ``[R, K_level]`` (True = allowed) for all ``R`` rows of a
:class:`~genrec_engine.decode.step.Frame` at once, or ``None`` when it allows everything; it reads
the frame's trie nodes (``frame.nodes``, int64 ``[R]``), row users (``frame.users``, int64 ``[R]``)
or prefixes. :func:`combine_masks` ANDs a list of them: one tensor op per mask and level for the
whole batch, never a Python callback per row.

- :class:`TrieMask`: the children a prefix trie holds under each row's node (every SID an item).
- :class:`AllowMask` / :class:`BlockMask`: per level ``None`` or bool ``[K]`` (every user) or
  ``[B, K]`` (per user) of allowed / blocked tokens (the decoders' ``allow_mask``).
- :class:`ExclusionMask`: per-user excluded items (history, retired or filtered-out items): a
  child is masked when every live item under it is excluded.

A row whose every token is masked dies (its score becomes ``-inf``); that is how a filter that
empties a branch works. Where a row *must* continue, pass ``required`` to :func:`combine_masks`
and it raises a :class:`~genrec_engine.errors.ConfigError` naming the row's user, prefix and the
mask that left it nothing. :class:`AllowMask` refuses a level that allows no token for a user.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, Sequence

import torch

from ..errors import ConfigError
from ..index.trie import PrefixTrie

if TYPE_CHECKING:  # pragma: no cover
    from .step import Frame

__all__ = [
    "TokenMask",
    "TrieMask",
    "AllowMask",
    "BlockMask",
    "ExclusionMask",
    "combine_masks",
    "decode_masks",
]


class TokenMask(Protocol):
    """What :func:`combine_masks` needs of a mask (every class of this module has it)."""

    def allowed(self, level: int, frame: "Frame") -> torch.Tensor | None:
        """bool ``[R, K_level]`` on the frame's device (True = allowed), or ``None`` for all."""
        ...


class TrieMask:
    """The tokens along which ``trie`` has a live child under each row's node (``-1`` = dead row,
    nothing allowed). The frame must track nodes of the same trie (``frame.nodes``)."""

    name = "trie"

    def __init__(self, trie: PrefixTrie) -> None:
        self.trie = trie

    def allowed(self, level: int, frame: "Frame") -> torch.Tensor:
        if frame.nodes is None:
            raise ConfigError("trie mask: the frame tracks no trie nodes (build it with the trie)")
        return self.trie.allowed(level, frame.nodes).to(frame.device)


class AllowMask:
    """Per-level allowed tokens: ``levels[l]`` is ``None`` (all), bool ``[K_l]`` (every user) or
    ``[B, K_l]`` (one row per user). ``sizes``: the vocabulary per level; ``batch``: users ``B``.
    Raises :class:`ConfigError` (named after ``name``) on a wrong level count or shape, and when a
    level allows no token at all for a user (every decode of that user would come back empty)."""

    name = "allow_mask"

    def __init__(self, levels: Sequence[torch.Tensor | None], sizes: Sequence[int], batch: int, device=None,
                 *, name: str | None = None) -> None:
        self.name = name or type(self).name
        levels = list(levels)
        if len(levels) != len(sizes):
            raise ConfigError(f"{self.name}: has {len(levels)} levels, the model has {len(sizes)}")
        self.batch = int(batch)
        self.levels: list[torch.Tensor | None] = []  # bool [K_l] or [B, K_l] as given (True: allowed, or blocked)
        for level, (m, k) in enumerate(zip(levels, sizes)):
            if m is None:
                self.levels.append(None)
                continue
            m = torch.as_tensor(m, device=device).bool()
            if m.shape not in ((k,), (self.batch, k)):
                raise ConfigError(f"{self.name}[{level}]: expected shape ({k},) or ({self.batch}, {k}), "
                                  f"got {tuple(m.shape)}")
            self.levels.append(m)
        for level, m in enumerate(self.levels):
            if m is not None:
                empty = ~self._allowed_tokens(m).any(dim=-1)  # [] or [B]
                if bool(empty.any()):
                    who = "" if m.ndim == 1 else f" for user {int(empty.nonzero()[0, 0])}"
                    raise ConfigError(f"{self.name}[{level}]: allows no token{who}, so nothing can be decoded")

    def _allowed_tokens(self, m: torch.Tensor) -> torch.Tensor:
        return m

    def allowed(self, level: int, frame: "Frame") -> torch.Tensor | None:
        m = self.levels[level]
        if m is None:
            return None
        m = self._allowed_tokens(m)
        rows = frame.users.shape[0]
        return m.index_select(0, frame.users) if m.ndim == 2 else m.unsqueeze(0).expand(rows, m.shape[0])

    def select_users(self, users: Sequence[int]) -> list[torch.Tensor | None]:
        """:attr:`levels` for a subset of users (per-user rows picked, shared levels kept): for an
        :class:`AllowMask`, a decoder's ``allow_mask`` argument for those users."""
        out = []
        for m in self.levels:
            if m is not None and m.ndim == 2:
                m = m.index_select(0, torch.as_tensor(list(users), dtype=torch.long, device=m.device))
            out.append(m)
        return out


class BlockMask(AllowMask):
    """Like :class:`AllowMask`, but ``levels[l]`` marks the *blocked* tokens (True = blocked)."""

    name = "block_mask"

    def _allowed_tokens(self, m: torch.Tensor) -> torch.Tensor:
        return ~m


class ExclusionMask:
    """Per-user excluded items, turned into per-level lists of fully excluded trie edges.

    ``exclude[b]``: item indices user ``b`` must not get (items not in the trie are ignored). A
    candidate child is masked when *all* of its live items are excluded for that user, so a beam
    never walks into a subtree holding only excluded items (at the last level this masks exactly
    the excluded leaves). Per level ``l`` the masked edges are stored as sorted keys
    ``user * n_l + parent_node`` with their ``token``; a batch of rows finds its edges with two
    ``searchsorted`` calls, so the cost grows with the rows plus the masked edges, not ``R * K``.
    ``empty`` is True when nothing is excluded (``allowed`` then returns ``None``).
    """

    name = "exclude"

    def __init__(self, trie: PrefixTrie, exclude: Sequence[set[int]], batch: int) -> None:
        if len(exclude) != batch:
            raise ConfigError(f"exclude: has {len(exclude)} entries for {batch} users")
        self.trie = trie
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
        user_t = torch.tensor(users, dtype=torch.long, device=tdev)  # [E] user of each excluded item
        code_t = torch.tensor(codes, dtype=torch.long, device=tdev).view(len(users), depth)  # [E, D]
        parent = torch.zeros(len(users), dtype=torch.long, device=tdev)  # [E] node at the current level
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

    def allowed(self, level: int, frame: "Frame") -> torch.Tensor | None:
        if self.empty:
            return None
        if frame.nodes is None:
            raise ConfigError("exclude: the frame tracks no trie nodes (build it with the trie)")
        return ~self.fully_excluded(level, frame.nodes, frame.users).to(frame.device)

    def fully_excluded(self, level: int, nodes: torch.Tensor, row_user: torch.Tensor) -> torch.Tensor:
        """bool ``[R, K_level]`` (on the trie's device): True where the child along the token holds
        only excluded items. ``nodes``/``row_user``: int64 ``[R]`` trie node and user of each row."""
        trie = self.trie
        k = trie.level_sizes[level]
        rows = nodes.shape[0]
        tdev = trie.device
        mask = torch.zeros(rows, k, dtype=torch.bool, device=tdev)
        keys = self.keys[level]
        if keys.numel() == 0 or rows == 0:
            return mask
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
        return mask


def combine_masks(masks: Sequence[TokenMask | None], level: int, frame: "Frame", *,
                  required: torch.Tensor | None = None) -> torch.Tensor | None:
    """AND of the masks' ``allowed`` at ``level`` for every row of ``frame``: bool ``[R, K]``, or
    ``None`` when no mask restricts anything (``None`` entries are skipped).

    ``required``: bool ``[R]`` rows that must keep at least one allowed token (e.g. a forced row);
    a :class:`ConfigError` names the first such row left with nothing and the mask that did it.
    """
    out = None
    culprit: dict[int, str] = {}  # row -> the first mask after which it had nothing left
    for m in masks:
        if m is None:
            continue
        a = m.allowed(level, frame)
        if a is None:
            continue
        out = a if out is None else out & a
        if required is not None:
            for r in (required & ~out.any(dim=1)).nonzero().flatten().tolist():
                culprit.setdefault(r, getattr(m, "name", type(m).__name__))
    if culprit:
        r = min(culprit)
        prefix = "-".join(str(t) for t in frame.prefix[r].tolist()) or "(root)"
        raise ConfigError(f"{culprit[r]}: allows no token at level {level} for user {int(frame.users[r])} "
                          f"after prefix {prefix}, where the decode must continue")
    return out


def decode_masks(trie: PrefixTrie | None, *, constrained: bool, sizes: Sequence[int], batch: int, device,
                 allow_mask: Sequence[torch.Tensor | None] | None = None,
                 exclude: Sequence[set[int]] | None = None, what: str = "decoding") -> list[TokenMask]:
    """The masks of a decoder's arguments, in the order they are checked: the trie (required when
    ``constrained``), ``allow_mask`` (an :class:`AllowMask`) and ``exclude`` (an
    :class:`ExclusionMask`, which needs the trie; left out when it excludes nothing)."""
    if constrained and trie is None:
        raise ConfigError(f"trie: constrained {what} needs a trie (or pass constrained=False)")
    masks: list[TokenMask] = []
    if constrained:
        masks.append(TrieMask(trie))
    if allow_mask is not None:
        masks.append(AllowMask(allow_mask, sizes, batch, device))
    if exclude is not None:
        if trie is None:
            raise ConfigError("exclude: needs a trie to find the excluded items' SIDs")
        ex = ExclusionMask(trie, exclude, batch)
        if not ex.empty:
            masks.append(ex)
    return masks
