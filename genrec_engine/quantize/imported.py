"""Codebooks for a SID table made elsewhere, so an imported project can do what a fitted one does.

A foreign pipeline (LETTER, RecBole, OpenOneRec, ...) hands over codes, not its tokenizer. From the
codes and the items' content embeddings this tokenizer derives residual codebooks: at level l,
codeword k is the mean residual of the items whose level-l code is k, after the centroids of their
earlier codes are subtracted. That is the codebook a residual quantizer with exactly these
assignments would have. It gives the explorer what it needs from a tokenizer:

- ``soft_assign``: content-guided codeword weights (the Codeword weights panel);
- ``encode``: a code for a new item by the greedy nearest-codeword walk (cold start);
- ``codebooks``: initial token embeddings for the TIGER-style generator.

It does not reproduce the foreign tokenizer: :func:`agreement` measures per level how often the
greedy walk lands on an item's imported code, which tells how content-like the imported SIDs are.
Codewords no item uses are parked far away so the walk never picks them.
"""
from __future__ import annotations

import numpy as np
import torch

from ..errors import ConfigError, GenrecError
from ..jobs import CancelToken, ProgressFn, check_cancel, report
from .base import Quantizer
from .rkmeans import ResidualKMeans

__all__ = ["ImportedCodebooks", "agreement"]


class ImportedCodebooks(ResidualKMeans):
    """Residual codebooks ``[K_l, d]`` derived from given codes. Call :meth:`fit_codes`, not ``fit``.

    Everything but the fit (identity latent, the codebooks, their safetensors state) is residual
    k-means's; only where the codewords come from differs."""

    method = "imported"

    def __init__(self, config):
        super().__init__(config)
        self._codes: np.ndarray | None = None

    def fit_codes(self, X, codes, *, progress: ProgressFn | None = None,
                  cancel: CancelToken | None = None) -> "ImportedCodebooks":
        """Derive the codebooks from embeddings ``X [N, d]`` and their codes ``[N, L]``."""
        codes = np.asarray(codes, dtype=np.int64)
        if codes.ndim != 2 or codes.shape[1] != self.levels or codes.shape[0] != np.asarray(X).shape[0]:
            raise ConfigError(f"codes of shape {codes.shape} do not fit {np.asarray(X).shape[0]} items x "
                              f"{self.levels} levels")
        self._codes = codes
        try:
            return self.fit(X, progress=progress, cancel=cancel)
        finally:
            self._codes = None

    def _fit(self, X: torch.Tensor, progress: ProgressFn | None, cancel: CancelToken | None) -> None:
        if self._codes is None:
            raise GenrecError("the imported tokenizer is derived from codes: use fit_codes(X, codes)")
        sizes = self.config.sizes
        far = float(X.norm(dim=1).max()) * 1e3 + 1.0
        r, books = X, []
        for l, K in enumerate(sizes):
            check_cancel(cancel)
            c = torch.as_tensor(self._codes[:, l], device=X.device)
            sums = torch.zeros(K, X.shape[1], device=X.device).index_add_(0, c, r)
            counts = torch.bincount(c, minlength=K).to(X.dtype)
            C = sums / counts.clamp_min(1)[:, None]
            C[counts == 0] = far  # unused codeword: never the nearest
            books.append(C)
            r = r - C[c]
            report(progress, (l + 1) / len(sizes), f"level {l + 1}/{len(sizes)}")
        self._books = books


def agreement(q: Quantizer, X, codes) -> list[float]:
    """Per level, the share of items whose greedy walk through ``q`` reproduces their given code at
    that level and every level before it."""
    walked = q.encode(X)
    codes = np.asarray(codes, dtype=np.int64)
    same = np.cumprod(walked == codes, axis=1).astype(bool)
    return [round(float(v), 6) for v in same.mean(0)]
