"""Re-ranking of decoded candidates: maximal marginal relevance (MMR) over item embeddings."""
from __future__ import annotations

import numpy as np
import torch

from ..errors import ConfigError

__all__ = ["mmr"]


def mmr(
    candidates: torch.Tensor,
    scores: torch.Tensor,
    item_embeddings: torch.Tensor | np.ndarray,
    k: int,
    lam: float = 0.7,
) -> torch.Tensor:
    """Pick ``k`` of ``candidates`` by maximal marginal relevance (Carbonell & Goldstein, 1998).

    ``candidates``: int64 ``[k0]`` item indices (``-1`` entries and non-finite ``scores`` are
    ignored); ``scores``: float ``[k0]`` relevance, min-max normalised to [0, 1] over the valid
    candidates (all equal -> all 1); ``item_embeddings``: float ``[N, d]``. Each pick maximises
    ``lam * relevance - (1 - lam) * max cosine similarity to the items already picked``; the first
    pick is the most relevant candidate. Returns int64 ``[k]`` item indices in pick order,
    right-padded with ``-1`` when fewer than ``k`` candidates are valid. ``lam`` in [0, 1]:
    1 = pure relevance, 0 = pure diversity.
    """
    if not 0.0 <= float(lam) <= 1.0:
        raise ConfigError(f"lam: {lam!r} must lie in [0, 1]")
    if int(k) < 0:
        raise ConfigError(f"k: {k} must be >= 0")
    k = int(k)
    cand = torch.as_tensor(candidates).long().reshape(-1)
    sc = torch.as_tensor(scores).double().reshape(-1)
    if cand.shape != sc.shape:
        raise ConfigError(f"scores: shape {tuple(sc.shape)} differs from candidates {tuple(cand.shape)}")
    emb = torch.as_tensor(item_embeddings)
    if emb.ndim != 2:
        raise ConfigError(f"item_embeddings: expected [N, d], got shape {tuple(emb.shape)}")
    out = torch.full((k,), -1, dtype=torch.long)
    valid = (cand >= 0) & torch.isfinite(sc)
    if bool((cand[valid] >= emb.shape[0]).any()):
        raise ConfigError(f"candidates: item index >= {emb.shape[0]} (rows of item_embeddings)")
    cand, sc = cand[valid].cpu(), sc[valid].cpu()
    n = cand.shape[0]
    if n == 0 or k == 0:
        return out
    lo, hi = sc.min(), sc.max()
    rel = (sc - lo) / (hi - lo) if hi > lo else torch.ones_like(sc)
    vec = emb.index_select(0, cand.to(emb.device)).double().cpu()  # [n, d]
    vec = vec / vec.norm(dim=1, keepdim=True).clamp_min(1e-12)
    sim = vec @ vec.T  # [n, n] cosine similarity
    max_sim = torch.zeros(n, dtype=torch.float64)
    taken = torch.zeros(n, dtype=torch.bool)
    lam = float(lam)
    for i in range(min(k, n)):
        value = lam * rel - (1.0 - lam) * max_sim if i else rel.clone()
        value[taken] = float("-inf")
        j = int(value.argmax())
        taken[j] = True
        out[i] = cand[j]
        max_sim = torch.maximum(max_sim, sim[j])
    return out
