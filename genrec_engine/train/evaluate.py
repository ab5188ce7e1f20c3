"""Leave-one-out evaluation over the full catalogue (no sampled negatives)."""
from __future__ import annotations

import time

import numpy as np
import torch

from ..jobs import CancelToken, ProgressFn, check_cancel, report
from .data import eval_tensors
from .metrics import summarize

__all__ = ["rank_users", "evaluate", "item_counts"]


def item_counts(split, n_items: int) -> np.ndarray:
    """int64 ``[n_items]``: how often each item occurs in the split's training sequences."""
    return np.bincount(np.concatenate([np.asarray(s) for s in split.train]), minlength=n_items)


@torch.no_grad()
def rank_users(
    model,
    history: torch.Tensor,
    *,
    trie,
    beam: int = 20,
    k: int = 20,
    constrained: bool = True,
    batch_size: int = 1024,
    device: torch.device | str = "cpu",
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` item indices ``[U, k]`` (-1 padding) and invalid-SID counts ``[U]`` per user.

    Generative models go through trie-constrained beam search; a model with ``score_items``
    (SASRec) ranks the whole catalogue by its scores."""
    from ..decode import beam_search

    model.eval()
    ranked, invalid = [], []
    U = history.shape[0]
    for s in range(0, U, batch_size):
        check_cancel(cancel)
        h = history[s : s + batch_size].to(device)
        width = int((h > 0).sum(1).max().clamp_min(1))
        h = h[:, -width:]
        if hasattr(model, "score_items"):
            scores = model.score_items(h)
            ranked.append(torch.topk(scores, k, dim=1).indices.cpu())
            invalid.append(torch.zeros(len(h), dtype=torch.long))
        else:
            res = beam_search(model, h, trie=trie, beam=beam, k=k, constrained=constrained)
            ranked.append(res.items.cpu())
            invalid.append(torch.as_tensor(res.invalid).cpu())
        report(progress, min(U, s + batch_size) / U, f"ranked {min(U, s + batch_size)}/{U} users")
    return torch.cat(ranked).numpy(), torch.cat(invalid).numpy()


def evaluate(
    model,
    split,
    which: str,
    *,
    trie,
    sids: np.ndarray,
    n_items: int,
    max_len: int,
    beam: int = 20,
    constrained: bool = True,
    users: int | None = None,
    seed: int = 0,
    item_embeddings: np.ndarray | None = None,
    item_counts: np.ndarray | None = None,
    device: torch.device | str = "cpu",
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> dict:
    """Recall/NDCG@5/10/20, coverage, homogeneity, diversity, popularity and invalid rate on the
    "valid" or "test" targets; ``users`` limits it to a seeded random subset."""
    t0 = time.perf_counter()
    H, targets, _ = eval_tensors(split, which, max_len)
    if users is not None and users < len(targets):
        pick = np.sort(np.random.default_rng(seed).choice(len(targets), users, replace=False))
        H, targets = H[torch.as_tensor(pick)], targets[pick]
    ranked, invalid = rank_users(model, H, trie=trie, beam=beam, k=20, constrained=constrained, device=device,
                                 progress=progress, cancel=cancel)
    out = summarize(ranked, targets, sids=sids, n_items=n_items, item_embeddings=item_embeddings,
                    item_counts=item_counts, invalid=invalid)
    out["seconds"] = round(time.perf_counter() - t0, 2)
    return out
