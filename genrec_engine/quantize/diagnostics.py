"""Tokenizer health: how well the codes use their codebooks and how predictable they are.

All figures are computed from codes alone (``[N, L]`` quantizer codes; the collision level is
handled separately), so they can be shown live during fitting and for any saved project.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .sids import collision_index

__all__ = ["LevelStats", "TokenizerDiagnostics", "diagnose_codes"]


@dataclass(frozen=True)
class LevelStats:
    level: int  # 1-based
    codebook_size: int  # K of this level (levels may differ)
    used_codes: int  # codewords at least one item uses
    utilization: float  # share of the K codewords used by at least one item
    perplexity: float  # exp(entropy) of the code distribution, in codewords (K = perfectly even)
    dead_codes: int  # codewords no item uses
    largest_bucket: int  # items on the most used codeword
    prefix_entropy: float  # H(c_l | c_<l) in bits: how hard the next code is to guess given the prefix
    prefixes: int  # distinct prefixes c_1..c_l
    items_per_prefix_mean: float
    items_per_prefix_max: int


@dataclass(frozen=True)
class TokenizerDiagnostics:
    items: int
    unique_sids: int  # distinct full SIDs, collision level included (equals items)
    unique_codes: int  # distinct L-code tuples before the collision level
    collision_rate: float  # 1 - unique_codes / items: share of items that needed the collision level
    colliding_items: int  # items in a tuple shared with at least one other item
    max_collision_depth: int  # the largest group sharing one L-code tuple
    levels: list[LevelStats]
    recon_mse: float | None = None  # mean squared L2 reconstruction error per item, input space

    def to_dict(self) -> dict:
        d = asdict(self)
        d["levels"] = [asdict(s) for s in self.levels]
        return d

    def summary(self) -> dict:
        """The flat figures ``genrec tokenize --json`` prints."""
        return {
            "items": self.items,
            "unique_sids": self.unique_sids,
            "collision_rate": round(self.collision_rate, 6),
            "max_collision_depth": self.max_collision_depth,
            "utilization": [round(s.utilization, 4) for s in self.levels],
            "perplexity": [round(s.perplexity, 2) for s in self.levels],
            "prefix_entropy": [round(s.prefix_entropy, 4) for s in self.levels],
            "dead_codes": [s.dead_codes for s in self.levels],
            "recon_mse": None if self.recon_mse is None else round(self.recon_mse, 6),
        }


def _entropy_bits(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


def diagnose_codes(codes: np.ndarray, codebook_size, recon_mse: float | None = None) -> TokenizerDiagnostics:
    """Diagnostics of quantizer codes ``[N, L]`` (no collision level); ``codebook_size`` is one K
    for every level or a sequence of L sizes."""
    codes = np.asarray(codes, dtype=np.int64)
    n, L = codes.shape
    sizes = [int(codebook_size)] * L if np.ndim(codebook_size) == 0 else [int(k) for k in codebook_size]
    stats = []
    prev_groups = np.zeros(n, dtype=np.int64)  # id of each item's prefix c_<l
    for l in range(L):
        counts = np.bincount(codes[:, l], minlength=sizes[l])
        # prefix id of c_<=l, and H(c_l | c_<l) = H(c_<=l) - H(c_<l)
        # one int64 key per (prefix, code) pair: a 1-D unique (a plain sort) instead of unique rows,
        # which sorts structured views and took ~4 s at 1M items
        key = prev_groups * max(sizes[l], int(codes[:, l].max(initial=0)) + 1) + codes[:, l]
        pair = prefix_ids = np.unique(key, return_inverse=True)[1].reshape(-1)
        per_prefix = np.bincount(prefix_ids)
        h_joint = _entropy_bits(per_prefix)
        h_prev = _entropy_bits(np.bincount(prev_groups))
        stats.append(
            LevelStats(
                level=l + 1,
                codebook_size=sizes[l],
                used_codes=int((counts > 0).sum()),
                utilization=float((counts > 0).mean()),
                perplexity=float(2 ** _entropy_bits(counts)),
                dead_codes=int((counts == 0).sum()),
                largest_bucket=int(counts.max()),
                prefix_entropy=max(0.0, h_joint - h_prev),
                prefixes=int(len(per_prefix)),
                items_per_prefix_mean=float(n / len(per_prefix)),
                items_per_prefix_max=int(per_prefix.max()),
            )
        )
        prev_groups = pair
    rank = collision_index(codes)
    unique = int((rank == 0).sum())
    groups = np.bincount(prev_groups)
    return TokenizerDiagnostics(
        items=n,
        unique_sids=n,
        unique_codes=unique,
        collision_rate=1.0 - unique / n if n else 0.0,
        colliding_items=int(groups[groups > 1].sum()),
        max_collision_depth=int(groups.max()) if n else 0,
        levels=stats,
        recon_mse=recon_mse,
    )
