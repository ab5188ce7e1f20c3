"""Array helpers of the prefix trie: packed bit masks, growable buffers, argument checks.

Plain NumPy/torch functions with no state; :mod:`.trie` builds its storage with them.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..errors import ConfigError, check_int

__all__ = ["MAX_RADIX_SPACE", "byte_unpack_table", "grow", "concat_ranges", "check_level_sizes", "with_sentinel",
           "check_item", "pack_rows"]

# Radix keys (one int64 per code) sort ~3x faster than np.lexsort; used while the code space fits.
MAX_RADIX_SPACE = 1 << 62


def byte_unpack_table() -> torch.Tensor:
    """int64 ``[256]``: entry ``v`` holds byte ``j`` = bit ``j`` of ``v``, so ``.view(torch.bool)``
    of a gathered ``[M]`` int64 tensor is the ``[M * 8]`` unpacked little-bit-order mask."""
    values = np.arange(256, dtype=np.uint8)
    bits = ((values[:, None] >> np.arange(8, dtype=np.uint8)) & 1).astype(np.uint8)  # [256, 8]
    return torch.from_numpy(bits.copy().view(np.int64).reshape(256))


def grow(arr: np.ndarray, need: int, fill) -> np.ndarray:
    """``arr``, or a copy with at least ``need`` rows (capacity doubles; new rows are ``fill``)."""
    if arr.shape[0] >= need:
        return arr
    cap = max(need, 2 * arr.shape[0], 8)
    out = np.full((cap,) + arr.shape[1:], fill, dtype=arr.dtype)
    out[: arr.shape[0]] = arr
    return out


def concat_ranges(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Indices ``lo[0]..hi[0]-1, lo[1]..hi[1]-1, ...`` as one int64 array, without a Python loop."""
    lengths = hi - lo
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.cumsum(lengths) - lengths  # position of each range in the output
    return np.repeat(lo - starts, lengths) + np.arange(total, dtype=np.int64)


def check_level_sizes(level_sizes: Sequence[int]) -> tuple[int, ...]:
    try:
        sizes = tuple(level_sizes)
    except TypeError:
        raise ConfigError(f"level_sizes: {level_sizes!r} is not a sequence of ints") from None
    if not sizes:
        raise ConfigError("level_sizes: must name at least one level, got ()")
    return tuple(check_int(f"level_sizes[{level}]", k, 1) for level, k in enumerate(sizes))


def with_sentinel(arr: np.ndarray, fill) -> np.ndarray:
    """``arr`` (``[n]``) with one ``fill`` row appended: ``[n + 1]``."""
    return np.concatenate([arr, np.full(1, fill, dtype=arr.dtype)])


def check_item(item_index: int) -> int:
    """An item index as an ``int >= 0``."""
    return check_int("item_index", item_index, 0)


def pack_rows(parent: np.ndarray, token: np.ndarray, n_rows: int, width: int) -> np.ndarray:
    """Packed masks uint8 ``[n_rows, width]``: bit ``token`` set in row ``parent`` for each edge.

    ``(parent, token)`` pairs must be sorted and unique (true for a fresh build), so the byte index
    is non-decreasing and bits that share a byte can be OR-reduced per run.
    """
    bits = np.zeros(n_rows * width, dtype=np.uint8)
    if parent.size:
        byte = parent * width + (token >> 3)
        val = (np.uint8(1) << (token & 7).astype(np.uint8)).astype(np.uint8)
        run_start = np.flatnonzero(np.concatenate(([True], byte[1:] != byte[:-1])))
        bits[byte[run_start]] = np.bitwise_or.reduceat(val, run_start)
    return bits.reshape(n_rows, width)
