"""Micro-benchmark of the prefix trie's batched queries (``genrec bench trie``)."""
from __future__ import annotations

import statistics
import time

import numpy as np
import torch

from ..errors import ConfigError
from .arrays import MAX_RADIX_SPACE
from .trie import PrefixTrie

__all__ = ["bench_trie", "random_unique_codes"]

def random_unique_codes(
    rng: np.random.Generator, n_items: int, sizes: tuple[int, ...]
) -> np.ndarray:
    """``n_items`` distinct codes drawn uniformly from the code space: int64 ``[n_items, D]``."""
    space = 1
    for k in sizes:
        space *= k
    if n_items > space:
        raise ConfigError(f"n_items: {n_items} exceeds the code space {space}")
    if space >= MAX_RADIX_SPACE:
        raise ConfigError(f"codebook_size/depth: code space {space} is too large for the benchmark")
    if 2 * n_items >= space:
        keys = rng.permutation(space)[:n_items]
    else:
        keys = np.zeros(0, dtype=np.int64)
        while keys.size < n_items:
            draw = rng.integers(0, space, size=n_items + n_items // 8 + 16, dtype=np.int64)
            keys = np.unique(np.concatenate([keys, draw]))
        keys = rng.permutation(keys)[:n_items]
    codes = np.empty((n_items, len(sizes)), dtype=np.int64)
    for level in range(len(sizes) - 1, -1, -1):
        codes[:, level] = keys % sizes[level]
        keys = keys // sizes[level]
    return codes


def bench_trie(
    n_items: int = 1_000_000,
    depth: int = 4,
    codebook_size: int = 256,
    batch: int = 4096,
    seed: int = 0,
    *,
    repeats: int = 30,
    device: str | torch.device = "cpu",
) -> dict:
    """Build a trie of ``n_items`` random unique codes and time its batched queries.

    Masks and steps are timed at level ``depth - 1`` (the level with the most nodes, the worst case)
    on ``batch`` random live nodes; times are medians over ``repeats`` calls (after a warm-up), with
    ``time.perf_counter``. Returns ``build_seconds``, ``mask_ms_per_batch``, ``step_ms_per_batch``,
    ``masks_per_second`` (prefix masks per second) and ``mask_ms_by_level`` (list, one per level).
    """
    rng = np.random.default_rng(seed)
    sizes = (int(codebook_size),) * int(depth)
    codes = random_unique_codes(rng, int(n_items), sizes)
    t0 = time.perf_counter()
    trie = PrefixTrie.from_codes(codes, sizes, device=device)
    build_seconds = time.perf_counter() - t0
    dev = torch.device(device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

    def timed(fn) -> float:
        for _ in range(3):
            fn()
        sync()
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            sync()
            times.append(time.perf_counter() - t)
        return statistics.median(times) * 1e3

    gen = torch.Generator().manual_seed(seed)
    by_level = []
    for level in range(trie.depth):
        nodes = torch.randint(0, trie.num_nodes(level), (batch,), generator=gen).to(dev)
        by_level.append(timed(lambda: trie.allowed(level, nodes)))
    level = trie.depth - 1
    nodes = torch.randint(0, trie.num_nodes(level), (batch,), generator=gen).to(dev)
    tokens = torch.randint(0, sizes[level], (batch,), generator=gen).to(dev)
    step_ms = timed(lambda: trie.step(level, nodes, tokens))
    mask_ms = by_level[-1]
    return {
        "build_seconds": build_seconds,
        "mask_ms_per_batch": mask_ms,
        "step_ms_per_batch": step_ms,
        "masks_per_second": batch / (mask_ms / 1e3),
        "mask_ms_by_level": by_level,
    }
