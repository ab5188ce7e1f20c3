"""Rows of varying length (user histories) held as one flat array and two offset arrays.

A leave-one-out split of 2M users as Python lists of 2M NumPy views took seconds of GIL-holding
Python to build and left millions of objects for the garbage collector to walk, which stalled the
app's GUI thread while a 1M-item project opened. :class:`Ragged` keeps the rows as
``items[starts[i]:ends[i]]`` and does the whole-split work (padding, trimming, counting, dropping
items) with NumPy. It still behaves like the list it replaces: ``len``, ``rows[i]`` (a view),
iteration, ``rows[a:b]`` / ``rows[index_array]`` (a Ragged of those rows) and ``list(rows)``.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["Ragged", "as_ragged", "BLOCK_ROWS"]

BLOCK_ROWS = 65_536  # rows per block of whole-array work (see Ragged.blocks)


class Ragged(Sequence):
    """Rows ``items[starts[i]:ends[i]]`` (int64). Read-only by convention: rows are views into
    ``items``; never write to them."""

    __slots__ = ("items", "starts", "ends")

    def __init__(self, items: np.ndarray, starts: np.ndarray, ends: np.ndarray):
        self.items = np.asarray(items)
        self.starts = np.asarray(starts, dtype=np.int64)
        self.ends = np.asarray(ends, dtype=np.int64)
        if self.starts.shape != self.ends.shape or self.starts.ndim != 1:
            raise ValueError("Ragged: starts and ends must be 1-D arrays of one length")

    @classmethod
    def from_bounds(cls, items: np.ndarray, bounds: np.ndarray) -> "Ragged":
        """Consecutive rows: row ``i`` is ``items[bounds[i]:bounds[i + 1]]``."""
        bounds = np.asarray(bounds, dtype=np.int64)
        return cls(items, bounds[:-1], bounds[1:])

    @classmethod
    def from_rows(cls, rows, dtype=np.int64) -> "Ragged":
        """Copy a list of 1-D sequences into one flat array."""
        rows = list(rows)
        lens = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
        items = np.concatenate([np.asarray(r, dtype=dtype) for r in rows]) if lens.any() else np.zeros(0, dtype)
        bounds = np.zeros(len(rows) + 1, np.int64)
        np.cumsum(lens, out=bounds[1:])
        return cls.from_bounds(items.astype(dtype, copy=False), bounds)

    # ---- the list it stands in for ----
    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            i = int(key)
            if i < 0:
                i += len(self.starts)
            if not 0 <= i < len(self.starts):
                raise IndexError(f"row {key} of {len(self.starts)}")
            return self.items[self.starts[i]:self.ends[i]]
        return Ragged(self.items, self.starts[key], self.ends[key])

    def __iter__(self):
        items = self.items
        for x, y in zip(self.starts.tolist(), self.ends.tolist()):
            yield items[x:y]

    def __repr__(self) -> str:
        return f"Ragged({len(self)} rows, {int(self.lengths.sum())} items)"

    # ---- whole-array operations ----
    @property
    def lengths(self) -> np.ndarray:
        return self.ends - self.starts

    def trimmed(self, *, head: int = 0, tail: int = 0) -> "Ragged":
        """Each row without its first ``head`` and last ``tail`` items (never below empty)."""
        starts = np.minimum(self.starts + head, self.ends)
        ends = np.maximum(self.ends - tail, starts)
        return Ragged(self.items, starts, ends)

    def last(self, n: int) -> "Ragged":
        """Each row's last ``n`` items (all of a shorter row)."""
        return Ragged(self.items, np.maximum(self.starts, self.ends - int(n)), self.ends)

    def positions(self) -> tuple[np.ndarray, np.ndarray]:
        """``(row, index into items)`` of every item of every row, row by row (int64)."""
        lens = self.lengths
        total = int(lens.sum())
        row = np.repeat(np.arange(len(lens), dtype=np.int64), lens)
        offset_in_row = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(lens) - lens, lens)
        return row, self.starts[row] + offset_in_row

    def blocks(self, rows: int | None = None):
        """``(first row, Ragged of the next <= rows rows)`` in order: whole-array work done block by
        block, so a thread waiting for the GIL (the GUI's) gets it between blocks."""
        rows = rows or BLOCK_ROWS
        for lo in range(0, len(self), rows):
            yield lo, self[lo:lo + rows]

    def flat(self) -> np.ndarray:
        """All rows' items joined, row by row (a view when the rows are ``items`` itself)."""
        if len(self) and self.starts[0] == 0 and self.ends[-1] == len(self.items) \
                and np.array_equal(self.starts[1:], self.ends[:-1]):
            return self.items
        parts = [part.items[part.positions()[1]] for _, part in self.blocks()]
        return np.concatenate(parts) if parts else self.items[:0]

    def without(self, drop: np.ndarray) -> "Ragged":
        """The rows with every item in ``drop`` removed (a new flat array)."""
        drop = np.asarray(drop)
        values, counts = [], []
        for _, part in self.blocks():
            row, where = part.positions()
            kept = part.items[where]
            keep = ~np.isin(kept, drop)
            values.append(kept[keep])
            counts.append(np.bincount(row[keep], minlength=len(part)))
        bounds = np.zeros(len(self) + 1, np.int64)
        if counts:
            np.cumsum(np.concatenate(counts), out=bounds[1:])
        return Ragged.from_bounds(np.concatenate(values) if values else self.items[:0], bounds)

    def pad_left(self, width: int, *, shift: int = 0, fill: int = 0) -> np.ndarray:
        """``[rows, width]`` int64: each row's last ``width`` items right-aligned, plus ``shift``,
        the rest ``fill``."""
        width = max(0, int(width))
        out = np.full((len(self), width), fill, dtype=np.int64)
        if width:
            for lo, part in self.last(width).blocks():
                row, where = part.positions()
                cols = width - np.repeat(part.lengths, part.lengths) + (where - part.starts[row])
                out[lo + row, cols] = part.items[where].astype(np.int64, copy=False) + shift
        return out

    def tolist(self) -> list[np.ndarray]:
        return list(self)


def as_ragged(rows) -> Ragged:
    """``rows`` as a :class:`Ragged` (itself if it is one; a list of sequences is copied)."""
    return rows if isinstance(rows, Ragged) else Ragged.from_rows(rows)
