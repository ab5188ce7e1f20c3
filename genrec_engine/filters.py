"""Per-request filters and the interest structure of a history.

Filters: allow- and block-lists by category, brand or item id. :meth:`ItemFilter.blocked_items`
turns them into the set of item indices a request must never return; decoding passes that set as
``exclude``, which beam search and sampling apply as a trie mask level by level (a prefix is
closed once every live item under it is blocked). So a filter steers the search itself and the
list still fills with allowed items; it is never a post-filter that can empty the list.

Interest groups: a history split by shared SID prefix (see :func:`interest_groups`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

from .errors import ConfigError

__all__ = ["ItemFilter", "InterestGroup", "interest_groups"]


def _norm(values: Iterable[str]) -> frozenset[str]:
    return frozenset(v.strip().casefold() for v in values if v and v.strip())


@dataclass(frozen=True)
class ItemFilter:
    """Allow/block lists. Categories match any component of any of an item's category paths
    (``"Nail Polish"`` matches ``Beauty > Makeup > Nails > Nail Polish``); categories and brands
    compare case-insensitively. An item passes when it is on every non-empty allow-list and on
    no block-list."""

    allow_categories: tuple[str, ...] = ()
    block_categories: tuple[str, ...] = ()
    allow_brands: tuple[str, ...] = ()
    block_brands: tuple[str, ...] = ()
    allow_items: tuple[int, ...] = ()  # item ids
    block_items: tuple[int, ...] = ()  # item ids

    @property
    def empty(self) -> bool:
        return not any((self.allow_categories, self.block_categories, self.allow_brands, self.block_brands,
                        self.allow_items, self.block_items))

    def blocked_mask(self, catalogue) -> np.ndarray:
        """bool ``[N]``: True for item indices this filter removes. Unknown item ids raise
        ConfigError naming them; a category or brand no item has raises too (a typo would
        otherwise silently allow everything or nothing)."""
        frame = catalogue.items
        n = len(frame)
        blocked = np.zeros(n, dtype=bool)
        brands = frame["brand"].str.strip().str.casefold().to_numpy()
        cats = frame["categories"].str.casefold().str.replace("|", ">", regex=False).str.split(">")
        cat_sets = [frozenset(c.strip() for c in parts if c.strip()) for parts in cats]

        def by_category(names: tuple[str, ...], what: str) -> np.ndarray:
            wanted = _norm(names)
            hit = np.fromiter((bool(s & wanted) for s in cat_sets), dtype=bool, count=n)
            known = frozenset().union(*cat_sets) if cat_sets else frozenset()
            missing = sorted(wanted - known)
            if missing:
                raise ConfigError(f"{what}: no item has the category {missing[0]!r}")
            return hit

        def by_brand(names: tuple[str, ...], what: str) -> np.ndarray:
            wanted = _norm(names)
            hit = np.isin(brands, list(wanted))
            missing = sorted(wanted - set(brands[hit]))
            if missing:
                raise ConfigError(f"{what}: no item has the brand {missing[0]!r}")
            return hit

        def by_id(ids: tuple[int, ...], what: str) -> np.ndarray:
            hit = np.zeros(n, dtype=bool)
            try:
                hit[catalogue.index_of([int(i) for i in ids])] = True
            except KeyError as exc:
                raise ConfigError(f"{what}: {exc.args[0] if exc.args else exc}") from None
            return hit

        if self.allow_categories:
            blocked |= ~by_category(self.allow_categories, "allow category")
        if self.block_categories:
            blocked |= by_category(self.block_categories, "block category")
        if self.allow_brands:
            blocked |= ~by_brand(self.allow_brands, "allow brand")
        if self.block_brands:
            blocked |= by_brand(self.block_brands, "block brand")
        if self.allow_items:
            blocked |= ~by_id(self.allow_items, "allow item")
        if self.block_items:
            blocked |= by_id(self.block_items, "block item")
        return blocked

    def blocked_items(self, catalogue) -> set[int]:
        """The item indices this filter removes (for ``exclude=`` of beam search and sampling)."""
        return set(np.flatnonzero(self.blocked_mask(catalogue)).tolist())

    def to_dict(self) -> dict:
        return {k: list(getattr(self, k)) for k in ("allow_categories", "block_categories", "allow_brands",
                                                     "block_brands", "allow_items", "block_items") if getattr(self, k)}


@dataclass(frozen=True)
class InterestGroup:
    """Items of one history that share a SID prefix."""

    prefix: tuple[int, ...]
    items: tuple[int, ...]  # item indices, oldest first
    positions: tuple[int, ...]  # their positions in the history (0 = oldest)
    recency: int  # steps since the group's latest item (0 = the last item of the history)
    titles: tuple[str, ...]  # up to three representative titles, newest first

    @property
    def size(self) -> int:
        return len(self.items)

    def to_dict(self, item_ids=None) -> dict:
        out = {"prefix": list(self.prefix), "size": self.size, "recency": self.recency,
               "positions": list(self.positions), "titles": list(self.titles)}
        out["items"] = [int(item_ids[i]) for i in self.items] if item_ids is not None else list(self.items)
        return out


def interest_groups(codes: np.ndarray, history: Iterable[int], titles=None, *, depth: int = 1,
                    n_titles: int = 3) -> list[InterestGroup]:
    """Split a history (item indices, oldest first) into groups by the first ``depth`` SID codes.

    Groups are ordered by size (largest first), ties by recency (most recent first).
    ``titles(i)`` gives an item's title for the representative titles (the group's newest items).
    """
    hist = [int(i) for i in history]
    if not 1 <= depth <= codes.shape[1]:
        raise ConfigError(f"interest depth={depth}: must be in 1..{codes.shape[1]}")
    groups: dict[tuple[int, ...], list[int]] = {}
    for pos, i in enumerate(hist):
        groups.setdefault(tuple(int(c) for c in codes[i, :depth]), []).append(pos)
    out = []
    last = len(hist) - 1
    for prefix, positions in groups.items():
        items = tuple(hist[p] for p in positions)
        newest = list(dict.fromkeys(reversed(items)))[:n_titles]
        out.append(InterestGroup(prefix, items, tuple(positions), last - positions[-1],
                                 tuple(titles(i) for i in newest) if titles is not None else ()))
    out.sort(key=lambda g: (-g.size, g.recency))
    return out
