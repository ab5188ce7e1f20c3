"""Residual k-means: k-means on the embeddings, then on what is left, level by level."""
from __future__ import annotations

import torch

from ..jobs import CancelToken, ProgressFn, Stage, check_cancel
from .base import Quantizer
from .kmeans import kmeans

__all__ = ["ResidualKMeans"]


class ResidualKMeans(Quantizer):
    """L codebooks ``[K, d]`` in input space; level l clusters the residual left by levels < l.

    Greedy k-means++ seeding, Lloyd iterations (on a seeded sample above ``minibatch_threshold``
    items, then one assignment pass over all) and
    empty-cluster repair, so every codeword is used when the data allow it.
    """

    method = "rkmeans"

    def __init__(self, config):
        super().__init__(config)
        self._books: list[torch.Tensor] = []

    def _fit(self, X: torch.Tensor, progress: ProgressFn | None, cancel: CancelToken | None) -> None:
        cfg, L = self.config, self.config.levels
        books, r = [], X
        for l in range(L):
            check_cancel(cancel)
            res = kmeans(
                r,
                cfg.codebook_size,
                iters=cfg.kmeans_iters,
                seed=cfg.seed + l,
                minibatch_threshold=cfg.minibatch_threshold,
                progress=Stage(progress, l / L, (l + 1) / L, f"level {l + 1}/{L}"),
                cancel=cancel,
            )
            books.append(res.centroids)
            r = r - res.centroids[res.labels]
        self._books = books

    def _latent(self, X):
        return X

    def _decode(self, Zq):
        return Zq

    def _codebook_tensors(self):
        return self._books

    def state_tensors(self):
        t = self._base_state()
        t.update({f"codebook.{l}": C.detach().cpu().contiguous() for l, C in enumerate(self._books)})
        return t

    def load_state_tensors(self, tensors):
        self._load_base_state(tensors)
        self._books = [tensors[f"codebook.{l}"].to(self.device).float() for l in range(self.levels)]
