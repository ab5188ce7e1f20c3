"""Structured-field encoder for catalogues without useful text.

Each item becomes a multi-hot vector over its brand and every prefix of its category paths
("Beauty", "Beauty > Makeup", ...), weighted by inverse document frequency; a seeded truncated
SVD reduces it to ``dim`` dimensions; rows are L2-normalised.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..jobs import report

if TYPE_CHECKING:
    import scipy.sparse as sp

__all__ = ["StructuredEncoder"]


class StructuredEncoder:
    name = "structured-multihot-svd"

    def __init__(self, *, dim: int = 64, seed: int = 0):
        self.dim, self.seed = dim, seed

    def features(self, catalogue) -> tuple["sp.csr_matrix", list[str]]:
        """Sparse multi-hot ``[N, V]`` and the vocabulary (``brand=X``, ``cat=A > B``)."""
        vocab: dict[str, int] = {}
        rows, cols = [], []
        brands = catalogue.items["brand"].tolist()
        for i in range(len(catalogue)):
            feats = set()
            if brands[i]:
                feats.add(f"brand={brands[i]}")
            for path in catalogue.category_paths(i):
                for depth in range(1, len(path) + 1):
                    feats.add("cat=" + " > ".join(path[:depth]))
            for f in sorted(feats):  # set order varies with the hash seed; the vocabulary must not
                rows.append(i)
                cols.append(vocab.setdefault(f, len(vocab)))
        import scipy.sparse as sp

        M = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(catalogue), max(1, len(vocab))))
        return M, list(vocab)

    def encode(self, catalogue, *, progress=None, cancel=None, **_) -> np.ndarray:
        import scipy.sparse as sp
        from sklearn.decomposition import TruncatedSVD  # imported here: ~1.2 s the app's start need not pay

        M, vocab = self.features(catalogue)
        df = np.asarray((M > 0).sum(0)).ravel()
        M = M @ sp.diags(np.log((1 + M.shape[0]) / (1 + df)) + 1).astype(np.float32)
        report(progress, 0.5, f"{len(vocab)} structured features")
        if min(M.shape) < 2:  # one item or one feature (e.g. no brand or categories at all): nothing to reduce
            Z = M.toarray().astype(np.float32)[:, : self.dim]
        else:
            k = max(1, min(self.dim, M.shape[1] - 1, M.shape[0] - 1))
            Z = TruncatedSVD(n_components=k, random_state=self.seed).fit_transform(M).astype(np.float32)
        if Z.shape[1] < self.dim:
            Z = np.pad(Z, ((0, 0), (0, self.dim - Z.shape[1])))
        Z /= np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-8)
        report(progress, 1.0, "structured embeddings done")
        return Z
