"""GAOQ, our reading of ReSID's globally aligned orthogonal quantization.

Problem it addresses: in hierarchical or residual tokenizers the meaning of code k at level l
depends on the prefix, so a generator must learn each code anew under every prefix and the
next code is hard to predict from the prefix (high prefix-conditional entropy).

Our reading, as implemented here:

* Inputs are centred (minus the catalogue mean). Above ``minibatch_threshold`` items the
  directions are fitted on a seeded sample of that size.
* Each level l owns K **orthonormal reference directions** ``G_l [K, d]`` (so K <= d) and one
  signed step length ``a_l [K]``. The codeword for code k is ``a_l[k] * G_l[k]`` whatever the
  prefix: code k always means "move along global direction k", which is the alignment.
* Assignment of a residual r: ``argmin_k ||r - a_k g_k||^2 = argmax_k (2 a_k <r, g_k> - a_k^2)``.
* Fitting alternates, per level: assign; set ``a_k`` to the mean projection of its members on
  ``g_k``; update all directions at once by orthogonal Procrustes (``G = U V^T`` from the SVD of
  the per-code sums of residuals scaled by ``a_k``), which keeps them orthonormal. Directions
  start from the polar factor of k-means centroids of the residuals. Codes left empty get the
  step length that the 90th percentile of projections on their direction suggests, which pulls
  items back onto them.
* The residual after level l is ``r - a_l[c] G_l[c]``, as in residual quantization.

What we do not reproduce: any learned, prefix-local refinement; GAOQ here trades some
reconstruction error for codes with one global meaning per level.
"""
from __future__ import annotations

import torch

from ..errors import ConfigError
from ..jobs import CancelToken, ProgressFn, Stage, check_cancel, report
from .base import Quantizer
from .kmeans import kmeans

__all__ = ["GAOQ"]


def _polar(M: torch.Tensor) -> torch.Tensor:
    """Nearest matrix with orthonormal rows to M ``[K, d]`` (K <= d): ``U V^T`` of its SVD."""
    U, _, Vh = torch.linalg.svd(M, full_matrices=False)
    return U @ Vh


class GAOQ(Quantizer):
    method = "gaoq"

    def __init__(self, config):
        super().__init__(config)
        self.mean: torch.Tensor | None = None
        self.directions: list[torch.Tensor] = []  # L x [K, d], orthonormal rows
        self.steps: list[torch.Tensor] = []  # L x [K]

    def _fit(self, X: torch.Tensor, progress: ProgressFn | None, cancel: CancelToken | None) -> None:
        cfg, K = self.config, self.config.codebook_size
        if K > X.shape[1]:
            raise ConfigError(
                f"codebook_size={K}: GAOQ needs at most one orthogonal direction per dimension (d={X.shape[1]})"
            )
        self.mean = X.mean(0)
        if X.shape[0] > cfg.minibatch_threshold:  # fit on a seeded sample; encode() covers all rows
            gen = torch.Generator(device="cpu").manual_seed(cfg.seed)
            X = X[torch.randperm(X.shape[0], generator=gen)[: cfg.minibatch_threshold].to(X.device)]
        r = X - self.mean
        self.directions, self.steps = [], []
        L = cfg.levels
        for l in range(L):
            check_cancel(cancel)
            km = kmeans(r, K, iters=10, seed=cfg.seed + l, minibatch_threshold=cfg.minibatch_threshold,
                        progress=Stage(progress, l / L, (l + 0.4) / L, f"level {l + 1}/{L} init"), cancel=cancel)
            G = _polar(km.centroids)
            a = (km.centroids * G).sum(1)
            for it in range(cfg.gaoq_iters):
                check_cancel(cancel)
                proj = r @ G.T  # [n, K]
                c = (2 * a * proj - a * a).argmax(1)
                counts = torch.bincount(c, minlength=K).float()
                own = proj.gather(1, c[:, None]).squeeze(1)
                sums = torch.zeros(K, device=r.device).index_add_(0, c, own)
                a = torch.where(counts > 0, sums / counts.clamp_min(1), torch.quantile(proj[: 65_536], 0.9, dim=0))
                S = torch.zeros_like(G).index_add_(0, c, r) * torch.sign(a)[:, None]
                S = torch.where(counts[:, None] > 0, S, G * a.abs()[:, None])  # empty codes keep their axis
                G = _polar(S)
                a = torch.where(counts > 0, (torch.zeros(K, device=r.device).index_add_(0, c, (r @ G.T).gather(1, c[:, None]).squeeze(1))) / counts.clamp_min(1), a)
                report(progress, (l + 0.4 + 0.6 * (it + 1) / cfg.gaoq_iters) / L, f"level {l + 1}/{L} align {it + 1}/{cfg.gaoq_iters}")
            proj = r @ G.T
            c = (2 * a * proj - a * a).argmax(1)
            self.directions.append(G.contiguous())
            self.steps.append(a.contiguous())
            r = r - a[c, None] * G[c]

    def _latent(self, X):
        return X - self.mean

    def _decode(self, Zq):
        return Zq + self.mean

    def _codebook_tensors(self):
        return [a[:, None] * G for a, G in zip(self.steps, self.directions)]

    def state_tensors(self):
        t = self._base_state()
        t["mean"] = self.mean.detach().cpu()
        for l, (G, a) in enumerate(zip(self.directions, self.steps)):
            t[f"directions.{l}"], t[f"steps.{l}"] = G.detach().cpu(), a.detach().cpu()
        return t

    def load_state_tensors(self, tensors):
        self._load_base_state(tensors)
        self.mean = tensors["mean"].to(self.device).float()
        self.directions = [tensors[f"directions.{l}"].to(self.device).float() for l in range(self.levels)]
        self.steps = [tensors[f"steps.{l}"].to(self.device).float() for l in range(self.levels)]
