"""Seeded k-means in torch: k-means++ init, Lloyd or mini-batch updates, empty-cluster repair.

Used by residual k-means, for codebook init of the VAE tokenizers, and by GAOQ. All arrays are
float32 torch tensors on one device; ``X`` is ``[n, d]``, centroids ``[k, d]``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..jobs import CancelToken, ProgressFn, check_cancel, report

__all__ = ["KMeansResult", "kmeans", "assign", "sq_distances", "kmeans_pp_init"]

_CHUNK = 65_536  # rows per distance block: bounds memory to CHUNK * k floats


def sq_distances(X: torch.Tensor, C: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances ``[n, k]`` between rows of X ``[n, d]`` and C ``[k, d]``."""
    d = (X * X).sum(1, keepdim=True) - 2.0 * (X @ C.T) + (C * C).sum(1)[None, :]
    return d.clamp_min_(0.0)


@torch.no_grad()
def assign(X: torch.Tensor, C: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest centroid per row: ``(labels [n] int64, squared distance [n] float32)``, chunked."""
    labels = torch.empty(X.shape[0], dtype=torch.long, device=X.device)
    dists = torch.empty(X.shape[0], dtype=X.dtype, device=X.device)
    for s in range(0, X.shape[0], _CHUNK):
        dmin, amin = sq_distances(X[s : s + _CHUNK], C).min(1)
        labels[s : s + _CHUNK], dists[s : s + _CHUNK] = amin, dmin
    return labels, dists


@torch.no_grad()
def kmeans_pp_init(X: torch.Tensor, k: int, gen: torch.Generator, sample: int = 32_768) -> torch.Tensor:
    """Greedy k-means++ seeding on at most ``sample`` rows.

    Each step draws ``2 + log(k)`` candidates by D^2 sampling and keeps the one that lowers the
    total potential most, which avoids most of plain k-means++'s bad seedings. O(n k d log k).
    """
    n = X.shape[0]
    if n > sample:
        X = X[torch.randperm(n, generator=gen)[:sample].to(X.device)]
        n = sample
    trials = 2 + int(math.log(k))
    first = int(torch.randint(n, (1,), generator=gen))
    C = torch.empty(k, X.shape[1], dtype=X.dtype, device=X.device)
    C[0] = X[first]
    closest = sq_distances(X, C[:1]).squeeze(1)
    for j in range(1, k):
        total = closest.sum()
        if total <= 0:  # fewer distinct points than k: duplicate random points
            C[j] = X[int(torch.randint(n, (1,), generator=gen))]
            continue
        cand = torch.multinomial((closest / total).cpu(), trials, replacement=True, generator=gen).to(X.device)
        new = torch.minimum(closest[None, :], sq_distances(X[cand], X).T.T)  # [trials, n]
        best = int(new.sum(1).argmin())
        C[j] = X[cand[best]]
        closest = new[best]
    return C


@dataclass(frozen=True)
class KMeansResult:
    centroids: torch.Tensor  # [k, d]
    labels: torch.Tensor  # [n] int64
    inertia: float  # mean squared distance of a row to its centroid
    repaired: int  # empty clusters re-seeded during fitting


@torch.no_grad()
def _repair_empty(X, C, labels, dists, counts) -> int:
    """Move each empty centroid onto one of the rows farthest from their centroid."""
    empty = torch.nonzero(counts == 0).squeeze(1)
    if empty.numel() == 0:
        return 0
    far = torch.topk(dists, min(empty.numel(), dists.numel())).indices
    C[empty[: far.numel()]] = X[far]
    return int(empty.numel())


@torch.no_grad()
def kmeans(
    X: torch.Tensor,
    k: int,
    *,
    iters: int = 25,
    seed: int = 0,
    minibatch_threshold: int = 200_000,
    tol: float = 1e-5,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> KMeansResult:
    """Fit k centroids to X ``[n, d]``.

    Lloyd iterations with empty-cluster repair after every pass, so all k codes stay in play.
    Above ``minibatch_threshold`` rows the centroids are fitted on a seeded random batch of that
    many rows (about ``threshold / k`` rows per centroid, plenty for a stable fit) and then every
    row is assigned once: the cost stops growing with n except for that final O(n k d) pass.
    (Online mini-batch updates were tried first; on high-dimensional residuals they let a few
    small-norm centroids swallow most rows.)
    """
    X = X.float()
    gen = torch.Generator(device="cpu").manual_seed(seed)
    n = X.shape[0]
    fitX = X
    if n > minibatch_threshold:
        fitX = X[torch.randperm(n, generator=gen)[:minibatch_threshold].to(X.device)]
    C = kmeans_pp_init(fitX, k, gen)
    repaired = 0
    prev = float("inf")
    for it in range(iters):
        check_cancel(cancel)
        labels, dists = assign(fitX, C)
        counts = torch.bincount(labels, minlength=k)
        sums = torch.zeros_like(C).index_add_(0, labels, fitX)
        nonempty = counts > 0
        C[nonempty] = sums[nonempty] / counts[nonempty, None].to(X.dtype)
        repaired += _repair_empty(fitX, C, labels, dists, counts)
        inertia = float(dists.mean())
        report(progress, 0.95 * (it + 1) / iters, f"k-means iteration {it + 1}/{iters}")
        if prev - inertia <= tol * max(prev, 1e-12) and not (counts == 0).any():
            break
        prev = inertia
    labels, dists = assign(X, C)
    counts = torch.bincount(labels, minlength=k)
    if (counts == 0).any():  # one last repair + reassignment on the full data
        repaired += _repair_empty(X, C, labels, dists, counts)
        labels, dists = assign(X, C)
    report(progress, 1.0, "k-means done")
    return KMeansResult(C, labels, float(dists.mean()), repaired)
