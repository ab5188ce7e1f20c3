"""SIDTable: the unique, two-way map between items and semantic IDs.

A SID is the tokenizer's L codes plus one **collision level** (TIGER): items that share all L
codes are numbered 0, 1, 2, ... in catalogue order at level L+1, so every SID is unique.
Codebook sizes may differ per level (an imported table with levels of 64, 128 and 256 codes).

The **collision policy** says what the collision level means to the outside world:
``append-level`` (default) makes it part of the SID: exported tables carry it and generated SIDs
name one item. ``keep-all`` keeps the L codes as the SID, so one SID names the group of items that
share it (OpenOneRec's ``sid2pid``); the table still numbers the group internally so the trie and
the generators can tell its members apart, and exports write the L codes only. Optional
last-level balancing first re-assigns the last quantizer level inside each prefix (minimum total
distance, each codeword used at most ceil(n/K) times) so fewer items collide at all.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import ConfigError, ProjectFormatError
from ..fileio import atomic_path

__all__ = ["SIDTable", "collision_index", "balance_last_level", "COLLISION_POLICIES"]

COLLISION_POLICIES = ("append-level", "keep-all")


def collision_index(codes: np.ndarray) -> np.ndarray:
    """For codes ``[N, L]``, the 0-based rank of each item among the items with the same tuple
    (catalogue order), ``[N]`` int64. Vectorised: lexsort, then position within each run."""
    n = codes.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort(codes.T[::-1])  # sort by level 1, then 2, ...; stable -> catalogue order within ties
    s = codes[order]
    new_run = np.ones(n, dtype=bool)
    new_run[1:] = (s[1:] != s[:-1]).any(1)
    run_start = np.maximum.accumulate(np.where(new_run, np.arange(n), 0))
    out = np.empty(n, dtype=np.int64)
    out[order] = np.arange(n) - run_start
    return out


def balance_last_level(codes: np.ndarray, last_dist: np.ndarray) -> np.ndarray:
    """Re-assign the last level of ``codes [N, L]`` inside every group sharing levels 1..L-1.

    ``last_dist [N, K]`` holds each item's squared distance to every last-level codeword (from
    ``Quantizer.level_distances``). Each group gets a minimum-cost assignment (Hungarian) in
    which every codeword takes at most ``ceil(n_group / K)`` items, so a group of at most K items
    gets distinct last codes and no collision remains. Returns new codes; input untouched.
    """
    codes = codes.copy()
    K = last_dist.shape[1]
    if codes.shape[1] < 1:
        return codes
    prefix = codes[:, :-1]
    if prefix.shape[1]:
        _, group = np.unique(prefix, axis=0, return_inverse=True)
        group = group.reshape(-1)
    else:
        group = np.zeros(len(codes), dtype=np.int64)
    # only groups that actually hold a collision need work
    dup = collision_index(codes) > 0
    for g in np.unique(group[dup]):
        members = np.flatnonzero(group == g)
        reps = -(-len(members) // K)
        cost = np.tile(last_dist[members], (1, reps))  # column j -> codeword j % K
        from scipy.optimize import linear_sum_assignment  # only when balancing: scipy is slow to import

        rows, cols = linear_sum_assignment(cost)
        codes[members[rows], -1] = cols % K
    return codes


@dataclass
class SIDTable:
    """Items <-> SIDs. ``codes [N, L + 1]`` int64, row i = item index i, last column = collision level.

    ``sizes`` is the codebook size of each of the L quantizer levels (all ``codebook_size`` when not
    given); ``codebook_size`` is the largest of them. ``level_sizes`` adds ``collision_size`` (largest
    group size, at least 1) for the collision level. ``policy`` is one of :data:`COLLISION_POLICIES`.
    """

    item_ids: np.ndarray  # [N] int64, catalogue order
    codes: np.ndarray  # [N, L + 1] int64
    codebook_size: int
    sizes: tuple[int, ...] | None = None
    policy: str = "append-level"

    def __post_init__(self) -> None:
        self.item_ids = np.asarray(self.item_ids, dtype=np.int64)
        self.codes = np.asarray(self.codes, dtype=np.int64)
        if self.codes.ndim != 2 or self.codes.shape[0] != len(self.item_ids) or self.codes.shape[1] < 1:
            raise ConfigError(f"codes shape {self.codes.shape} does not match {len(self.item_ids)} items")
        L = self.codes.shape[1] - 1
        self.sizes = tuple(int(k) for k in self.sizes) if self.sizes is not None else (int(self.codebook_size),) * L
        if len(self.sizes) != L:
            raise ConfigError(f"codebook sizes {list(self.sizes)} given for {L} levels")
        if L and min(self.sizes) < 1:
            raise ConfigError(f"codebook sizes {list(self.sizes)}: every level needs at least one code")
        self.codebook_size = max(self.sizes) if L else int(self.codebook_size)
        if self.policy not in COLLISION_POLICIES:
            raise ConfigError(f"collision policy {self.policy!r}: expected one of {', '.join(COLLISION_POLICIES)}")
        self._index: dict[tuple, int] | None = None

    # --- construction ---
    @classmethod
    def from_codes(cls, item_ids, codes: np.ndarray, codebook_size, *, policy: str = "append-level") -> "SIDTable":
        """Add the collision level to quantizer codes ``[N, L]``. ``codebook_size``: one K for every
        level or a sequence of L sizes."""
        codes = np.asarray(codes, dtype=np.int64)
        if codes.ndim != 2:
            raise ConfigError(f"codes must be an [N, L] matrix, got shape {codes.shape}")
        sizes = ((int(codebook_size),) * codes.shape[1] if np.ndim(codebook_size) == 0
                 else tuple(int(k) for k in codebook_size))
        if len(sizes) != codes.shape[1]:
            raise ConfigError(f"codebook sizes {list(sizes)} given for {codes.shape[1]} levels")
        for l, k in enumerate(sizes):
            col = codes[:, l]
            if col.size and (col.min() < 0 or col.max() >= k):
                raise ConfigError(f"level {l + 1}: codes must lie in 0..{k - 1}, got {col.min()}..{col.max()}")
        full = np.concatenate([codes, collision_index(codes)[:, None]], axis=1)
        return cls(np.asarray(item_ids), full, max(sizes) if sizes else 1, sizes, policy)

    # --- shape ---
    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def levels(self) -> int:
        """L: quantizer levels, without the collision level."""
        return self.codes.shape[1] - 1

    @property
    def depth(self) -> int:
        return self.codes.shape[1]

    @property
    def collision_size(self) -> int:
        return int(self.codes[:, -1].max()) + 1 if self.n_items else 1

    @property
    def level_sizes(self) -> tuple[int, ...]:
        return tuple(self.sizes) + (self.collision_size,)

    @property
    def uniform(self) -> bool:
        """True when every quantizer level has the same codebook size."""
        return len(set(self.sizes)) <= 1

    def public_codes(self) -> np.ndarray:
        """The SIDs as the outside world sees them: ``[N, L + 1]`` under ``append-level`` when
        any items collide, else the ``[N, L]`` quantizer codes (a collision level of zeros says
        nothing; under ``keep-all`` a SID names its whole group)."""
        if self.policy == "append-level" and self.collision_size > 1:
            return self.codes
        return self.codes[:, :-1]

    # --- lookups ---
    def sid(self, index: int) -> tuple[int, ...]:
        return tuple(int(c) for c in self.codes[index])

    def index_of_sid(self, sid) -> int:
        """Item index of a full SID, or -1."""
        if self._index is None:
            self._index = {tuple(row): i for i, row in enumerate(self.codes.tolist())}
        return self._index.get(tuple(int(c) for c in sid), -1)

    def items_with_prefix(self, prefix) -> np.ndarray:
        prefix = np.asarray(prefix, dtype=np.int64)
        if len(prefix) == 0:
            return np.arange(self.n_items)
        # one pass over the first level, then the few rows left (1M items: ~2 instead of ~25 ms)
        rows = np.flatnonzero(self.codes[:, 0] == prefix[0])
        if len(prefix) > 1:
            rows = rows[(self.codes[rows, 1 : len(prefix)] == prefix[1:]).all(1)]
        return rows

    def sid_strings(self) -> list[str]:
        return ["-".join(map(str, row)) for row in self.codes.tolist()]

    # --- disk ---
    def save(self, path: str | os.PathLike) -> None:
        cols = {"item_id": pa.array(self.item_ids)}
        for l in range(self.depth):
            cols[f"c{l}"] = pa.array(self.codes[:, l].astype(np.int32))
        table = pa.table(cols).replace_schema_metadata({
            "codebook_size": str(self.codebook_size), "levels": str(self.levels),
            "codebook_sizes": ",".join(map(str, self.sizes)), "collision_policy": self.policy})
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "SIDTable":
        path = Path(path)
        try:
            table = pq.read_table(path)
        except (OSError, pa.ArrowInvalid) as exc:
            raise ProjectFormatError(f"{path}: unreadable SID table (truncated or corrupt?): {exc}") from None
        meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
        for key in ("codebook_size", "levels"):
            if key not in meta:
                raise ProjectFormatError(f"{path}: SID table lacks its {key} metadata")
            if not meta[key].isdigit() or int(meta[key]) < 1:
                raise ProjectFormatError(f"{path} [{key}]: {meta[key]!r} is not a positive integer")
        df = table.to_pandas()
        depth = int(meta["levels"]) + 1
        missing = [f"c{l}" for l in range(depth) if f"c{l}" not in df]
        if missing or "item_id" not in df:
            raise ProjectFormatError(f"{path}: SID table misses column(s) {', '.join(missing or ['item_id'])}")
        codes = np.stack([df[f"c{l}"].to_numpy(np.int64) for l in range(depth)], 1)
        try:
            sizes = tuple(int(k) for k in meta["codebook_sizes"].split(",") if k) if "codebook_sizes" in meta else None
            table = cls(df["item_id"].to_numpy(np.int64), codes, int(meta["codebook_size"]), sizes,
                        meta.get("collision_policy", "append-level"))
        except (ValueError, ConfigError) as exc:
            raise ProjectFormatError(f"{path}: SID table metadata does not fit its codes: {exc}") from None
        for l, k in enumerate(table.sizes):
            col = codes[:, l]
            if col.size and (col.min() < 0 or col.max() >= k):
                raise ProjectFormatError(f"{path}: column c{l} holds codes {col.min()}..{col.max()}, outside 0..{k - 1}")
        if codes.size and codes[:, -1].min() < 0:
            raise ProjectFormatError(f"{path}: collision column c{depth - 1} holds negative numbers")
        return table

    def to_frame(self) -> pd.DataFrame:
        df = pd.DataFrame({"item_id": self.item_ids})
        for l in range(self.depth):
            df[f"c{l}"] = self.codes[:, l]
        return df
