"""SIDTable: the unique, two-way map between items and semantic IDs.

A SID is the tokenizer's L codes plus one **collision level** (TIGER): items that share all L
codes are numbered 0, 1, 2, ... in catalogue order at level L+1, so every SID is unique. Optional
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
from scipy.optimize import linear_sum_assignment

from ..errors import ConfigError, ProjectFormatError
from ..fileio import atomic_path

__all__ = ["SIDTable", "collision_index", "balance_last_level"]


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
        rows, cols = linear_sum_assignment(cost)
        codes[members[rows], -1] = cols % K
    return codes


@dataclass
class SIDTable:
    """Items <-> SIDs. ``codes [N, L + 1]`` int64, row i = item index i, last column = collision level.

    ``level_sizes`` is the vocabulary per level: K for the quantizer levels and ``collision_size``
    (largest group size, at least 1) for the collision level.
    """

    item_ids: np.ndarray  # [N] int64, catalogue order
    codes: np.ndarray  # [N, L + 1] int64
    codebook_size: int

    def __post_init__(self) -> None:
        self.item_ids = np.asarray(self.item_ids, dtype=np.int64)
        self.codes = np.asarray(self.codes, dtype=np.int64)
        if self.codes.ndim != 2 or self.codes.shape[0] != len(self.item_ids):
            raise ConfigError(f"codes shape {self.codes.shape} does not match {len(self.item_ids)} items")
        self._index: dict[tuple, int] | None = None

    # --- construction ---
    @classmethod
    def from_codes(cls, item_ids, codes: np.ndarray, codebook_size: int) -> "SIDTable":
        """Add the collision level to quantizer codes ``[N, L]``."""
        codes = np.asarray(codes, dtype=np.int64)
        if codes.size and (codes.min() < 0 or codes.max() >= codebook_size):
            raise ConfigError(f"codes must lie in 0..{codebook_size - 1}, got {codes.min()}..{codes.max()}")
        full = np.concatenate([codes, collision_index(codes)[:, None]], axis=1)
        return cls(np.asarray(item_ids), full, int(codebook_size))

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
        return (self.codebook_size,) * self.levels + (self.collision_size,)

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
        return np.flatnonzero((self.codes[:, : len(prefix)] == prefix).all(1))

    def sid_strings(self) -> list[str]:
        return ["-".join(map(str, row)) for row in self.codes.tolist()]

    # --- disk ---
    def save(self, path: str | os.PathLike) -> None:
        cols = {"item_id": pa.array(self.item_ids)}
        for l in range(self.depth):
            cols[f"c{l}"] = pa.array(self.codes[:, l].astype(np.int32))
        table = pa.table(cols).replace_schema_metadata({"codebook_size": str(self.codebook_size), "levels": str(self.levels)})
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
        if "codebook_size" not in meta:
            raise ProjectFormatError(f"{path}: SID table lacks its codebook_size metadata")
        df = table.to_pandas()
        depth = int(meta["levels"]) + 1
        missing = [f"c{l}" for l in range(depth) if f"c{l}" not in df]
        if missing or "item_id" not in df:
            raise ProjectFormatError(f"{path}: SID table misses column(s) {', '.join(missing or ['item_id'])}")
        codes = np.stack([df[f"c{l}"].to_numpy(np.int64) for l in range(depth)], 1)
        return cls(df["item_id"].to_numpy(np.int64), codes, int(meta["codebook_size"]))

    def to_frame(self) -> pd.DataFrame:
        df = pd.DataFrame({"item_id": self.item_ids})
        for l in range(self.depth):
            df[f"c{l}"] = self.codes[:, l]
        return df
