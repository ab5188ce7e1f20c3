"""The tokenizer protocol shared by every Stage-1 method.

A quantizer maps content embeddings ``X [N, d]`` (float32) to codes ``[N, L]`` (int64, each in
``0..K-1``), level by level. All methods here work in a *latent* space (the identity for residual
k-means, an MLP encoder for the VAEs, the centred input for GAOQ) and walk the levels greedily:
at level ``l`` the nearest codeword of codebook ``l`` to the current residual is chosen and
subtracted (residual methods) or the ``l``-th slice of the latent is quantized (product VQ).

Public surface, identical for all methods::

    q.fit(X, progress=None, cancel=None) -> q
    q.encode(X) -> codes [N, L] int64
    q.codebooks -> list of L arrays [K, e] float32  (e = latent width of that level)
    q.soft_assign(X) -> [L, N, K] float32 probabilities (softmax of -distance / temperature_l)
    q.reconstruct(codes) -> [N, d] float32 in input space
    q.residual_norms(X) -> [L + 1] mean squared residual norm before/after each level
"""
from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np
import torch

from ..device import resolve_device
from ..errors import ConfigError, GenrecError
from ..jobs import CancelToken, ProgressFn
from .config import QuantizerConfig
from .kmeans import sq_distances

__all__ = ["Quantizer", "as_float_tensor"]

_ROWS = 65_536  # rows per chunk when encoding; bounds memory to ROWS * K floats per level


def as_float_tensor(X, device: torch.device) -> torch.Tensor:
    """Validate an embedding matrix and move it to ``device`` as float32."""
    arr = X.detach().cpu().numpy() if isinstance(X, torch.Tensor) else np.asarray(X)
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ConfigError(f"embeddings must be a non-empty [N, d] matrix, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        bad = int(np.argwhere(~np.isfinite(arr))[0, 0])
        raise ConfigError(f"embeddings row {bad} holds NaN or infinite values")
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32)).to(device)


@contextlib.contextmanager
def seeded(seed: int, device: torch.device):
    """Seed torch's global RNGs for module init inside the block, restoring them afterwards."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


class Quantizer(ABC):
    """Base class of the tokenizers. Subclasses set ``method`` and implement the hooks."""

    method: ClassVar[str] = ""

    def __init__(self, config: QuantizerConfig):
        if config.method != self.method:
            raise ConfigError(f"method={config.method!r} given to the {self.method} tokenizer")
        self.config = config
        self.device = resolve_device(config.device)
        self.input_dim: int | None = None
        # Per-level softmax temperature for soft_assign: the mean squared distance of a training
        # item to its own codeword at that level, so probabilities are comparable across levels.
        self.temperature: torch.Tensor | None = None

    # ---- hooks ------------------------------------------------------------------------------
    @abstractmethod
    def _fit(self, X: torch.Tensor, progress: ProgressFn | None, cancel: CancelToken | None) -> None:
        """Learn the parameters from X ``[N, d]`` (already on ``self.device``)."""

    @abstractmethod
    def _latent(self, X: torch.Tensor) -> torch.Tensor:
        """Map inputs ``[n, d]`` to the latent space ``[n, e]`` the codebooks live in."""

    @abstractmethod
    def _codebook_tensors(self) -> list[torch.Tensor]:
        """The L codebooks as tensors ``[K, e_l]`` on ``self.device``."""

    @abstractmethod
    def _decode(self, Zq: torch.Tensor) -> torch.Tensor:
        """Map a quantized latent ``[n, e]`` back to input space ``[n, d]``."""

    @abstractmethod
    def state_tensors(self) -> dict[str, torch.Tensor]:
        """All learned tensors (saved to safetensors)."""

    @abstractmethod
    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        """Restore from :meth:`state_tensors` output."""

    # ---- level walk (residual by default; product VQ overrides) -----------------------------
    def _walk(self, Z: torch.Tensor, keep_dist: bool = False, along: torch.Tensor | None = None):
        """Greedy residual walk. Returns codes ``[n, L]``, per-level distances (``[n, K]`` each,
        if asked) and the residual norms ``[L + 1, n]`` before/after each level. ``along`` (codes
        ``[n, L]``): walk down these codes instead of the nearest ones (each level's distances are
        then those of the residual left by the given earlier codes)."""
        codes, dists, norms = [], [], [(Z * Z).sum(1)]
        r = Z
        for l, C in enumerate(self._codebook_tensors()):
            d = sq_distances(r, C)
            c = d.argmin(1) if along is None else along[:, l]
            codes.append(c)
            if keep_dist:
                dists.append(d)
            r = r - C[c]
            norms.append((r * r).sum(1))
        return torch.stack(codes, 1), dists, torch.stack(norms)

    def _quantized_latent(self, codes: torch.Tensor) -> torch.Tensor:
        return sum(C[codes[:, l]] for l, C in enumerate(self._codebook_tensors()))

    # ---- public API -------------------------------------------------------------------------
    @property
    def levels(self) -> int:
        return self.config.levels

    @property
    def codebook_size(self) -> int:
        return self.config.codebook_size

    @property
    def fitted(self) -> bool:
        return self.temperature is not None

    def fit(self, X, *, progress: ProgressFn | None = None, cancel: CancelToken | None = None) -> "Quantizer":
        """Learn codebooks from embeddings X ``[N, d]``; returns self."""
        Xt = as_float_tensor(X, self.device)
        self.input_dim = int(Xt.shape[1])
        self._fit(Xt, progress, cancel)
        # temperatures from the fitted walk
        temps = torch.zeros(self.levels, device=self.device)
        for s in range(0, Xt.shape[0], _ROWS):
            with torch.no_grad():
                codes, dists, _ = self._walk(self._latent(Xt[s : s + _ROWS]), keep_dist=True)
            for l, d in enumerate(dists):
                temps[l] += d.gather(1, codes[:, l : l + 1]).sum()
        self.temperature = (temps / Xt.shape[0]).clamp_min(1e-8)
        return self

    def _require_fitted(self, X=None) -> torch.Tensor | None:
        if not self.fitted:
            raise GenrecError(f"the {self.method} tokenizer is not fitted yet")
        if X is None:
            return None
        Xt = as_float_tensor(X, self.device)
        if Xt.shape[1] != self.input_dim:
            raise ConfigError(f"embeddings have d={Xt.shape[1]} but the tokenizer was fitted on d={self.input_dim}")
        return Xt

    @torch.no_grad()
    def encode(self, X) -> np.ndarray:
        """Codes ``[N, L]`` int64 by the greedy level walk. Deterministic for a given X."""
        Xt = self._require_fitted(X)
        out = [self._walk(self._latent(Xt[s : s + _ROWS]))[0] for s in range(0, Xt.shape[0], _ROWS)]
        return torch.cat(out).cpu().numpy().astype(np.int64)

    @torch.no_grad()
    def level_distances(self, X, along=None) -> tuple[np.ndarray, list[np.ndarray]]:
        """Codes ``[N, L]`` and, per level, squared distances ``[N, K]`` of the residual to each
        codeword along the greedy path (used by soft_assign and last-level balancing), or along
        the given codes ``along`` ``[N, L]`` (each level's residual is then what the items' own
        earlier codes leave)."""
        Xt = self._require_fitted(X)
        path = None if along is None else torch.as_tensor(np.asarray(along), dtype=torch.long, device=self.device)
        codes, dists, _ = self._walk(self._latent(Xt), keep_dist=True, along=path)
        return codes.cpu().numpy().astype(np.int64), [d.cpu().numpy() for d in dists]

    def soft_assign(self, X, temperature: float = 1.0, along=None) -> np.ndarray:
        """Per-level probabilities over the K codewords, ``[L, N, K]`` float32.

        ``p_l(k) = softmax_k(-dist_l(k) / (temperature * tau_l))`` where ``tau_l`` is the mean
        squared distance of a training item to its codeword at level l; the argmax is the hard
        code. This is the content-guided weight the explorer compares with the RAN's. When levels
        have different codebook sizes, K is the largest and a level's codes beyond its own size get 0.
        ``along`` (codes ``[N, L]``, e.g. an imported SID table's): each level's weights given the
        items' own earlier codes rather than the greedy walk's (the same for a fitted tokenizer's
        own codes, which are the greedy walk's).
        """
        _, dists = self.level_distances(X, along=along)
        K = max(d.shape[1] for d in dists)
        out = np.zeros((len(dists), dists[0].shape[0], K), dtype=np.float32)
        for l, d in enumerate(dists):
            logits = -torch.from_numpy(d) / (float(temperature) * float(self.temperature[l]))
            out[l, :, : d.shape[1]] = torch.softmax(logits, dim=1).numpy()
        return out

    @property
    def codebooks(self) -> list[np.ndarray]:
        self._require_fitted()
        return [C.detach().cpu().numpy().copy() for C in self._codebook_tensors()]

    @torch.no_grad()
    def reconstruct(self, codes) -> np.ndarray:
        """Input-space reconstruction ``[N, d]`` of codes ``[N, L]``."""
        self._require_fitted()
        c = torch.as_tensor(np.asarray(codes), dtype=torch.long, device=self.device)
        return self._decode(self._quantized_latent(c)).cpu().numpy()

    @torch.no_grad()
    def residual_norms(self, X) -> np.ndarray:
        """Mean squared latent residual norm before level 1 and after each level: ``[L + 1]``."""
        Xt = self._require_fitted(X)
        total = torch.zeros(self.levels + 1, dtype=torch.float64, device=self.device)
        for s in range(0, Xt.shape[0], _ROWS):
            total += self._walk(self._latent(Xt[s : s + _ROWS]))[2].double().sum(1)
        return (total / Xt.shape[0]).cpu().numpy()

    def recon_mse(self, X, codes=None) -> float:
        """Mean over items of the squared L2 error between X and its reconstruction."""
        Xn = np.asarray(X, dtype=np.float32)
        codes = self.encode(Xn) if codes is None else codes
        return float(((self.reconstruct(codes) - Xn) ** 2).sum(1).mean())

    # ---- shared state helpers ---------------------------------------------------------------
    def _base_state(self) -> dict[str, torch.Tensor]:
        return {"temperature": self.temperature.detach().cpu(), "input_dim": torch.tensor([self.input_dim])}

    def _load_base_state(self, t: dict[str, torch.Tensor]) -> None:
        self.temperature = t["temperature"].to(self.device).float()
        self.input_dim = int(t["input_dim"][0])
