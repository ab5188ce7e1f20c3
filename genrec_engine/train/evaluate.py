"""Leave-one-out evaluation over the full catalogue (no sampled negatives)."""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ..jobs import CancelToken, ProgressFn, check_cancel, report
from ..data.ragged import as_ragged
from ..models.base import pad_histories
from .data import split_rows
from .metrics import summarize

__all__ = ["RankedLists", "rank_lists", "rank_users", "evaluate", "item_counts"]

_BEAM_ROWS = 20_480  # users x beams decoded at once (1,024 users at beam 20): bounds memory for wide beams


def item_counts(split, n_items: int) -> np.ndarray:
    """int64 ``[n_items]``: how often each item occurs in the split's training sequences."""
    return np.bincount(as_ragged(split.train).flat(), minlength=n_items)


@dataclass(frozen=True, eq=False)
class RankedLists:
    """The ranked lists an evaluation scores, best first per user.

    ``rows``: int64 ``[U]`` positions of the users in the split (``split.user_ids[rows]``);
    ``targets``: int64 ``[U]`` their held-out item indices (empty when not known);
    ``items``: int64 ``[U, k]`` item indices (``-1``: padding, or a SID that matches no item);
    ``scores``: float32 ``[U, k]`` cumulative log-probs (beam search) or item scores (``-inf``
    for padding); ``sids``: int64 ``[U, k, D]`` the decoded SIDs (``-1`` rows for padding), or
    ``None`` for a model that ranks item ids (SASRec); ``invalid``: int64 ``[U]`` how many listed
    SIDs match no item (``-1`` = unknown).
    """

    rows: np.ndarray
    targets: np.ndarray
    items: np.ndarray
    scores: np.ndarray
    sids: np.ndarray | None
    invalid: np.ndarray


@torch.no_grad()
def rank_lists(
    model,
    history: torch.Tensor,
    *,
    trie,
    beam: int = 20,
    k: int = 20,
    constrained: bool = True,
    batch_size: int = 1024,
    device: torch.device | str = "cpu",
    exclude: list[np.ndarray] | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> RankedLists:
    """:func:`rank_users` with the scores and decoded SIDs kept (``rows`` = ``arange(U)``,
    ``targets`` empty: the caller knows them). ``exclude[u]``: item indices user ``u`` must not
    get (the "history excluded" rule): masked out of SASRec's scores, and out of the trie walk of
    beam search, so the lists fill with other items."""
    from ..decode import beam_search

    model.eval()
    ranked, invalid, scores, sids = [], [], [], []
    U = history.shape[0]
    if not hasattr(model, "score_items"):  # beam search holds users x beams rows: keep them near 20k
        batch_size = max(1, min(batch_size, _BEAM_ROWS // max(1, int(beam))))
    for s in range(0, U, batch_size):
        check_cancel(cancel)
        h = history[s : s + batch_size].to(device)
        width = int((h > 0).sum(1).max().clamp_min(1))
        h = h[:, -width:]
        ex = None if exclude is None else exclude[s : s + batch_size]
        if hasattr(model, "score_items"):
            sc = model.score_items(h)
            if ex is not None:
                rows = np.repeat(np.arange(len(ex)), [len(e) for e in ex])
                cols = np.concatenate([np.asarray(e, dtype=np.int64) for e in ex]) if len(rows) else rows
                sc[torch.as_tensor(rows, device=sc.device), torch.as_tensor(cols, device=sc.device)] = float("-inf")
            top = torch.topk(sc, min(k, sc.shape[1]), dim=1)
            idx, val = top.indices.cpu(), top.values.float().cpu()
            if idx.shape[1] < k:  # a catalogue smaller than k: pad like a short beam (-1, -inf)
                idx = torch.nn.functional.pad(idx, (0, k - idx.shape[1]), value=-1)
                val = torch.nn.functional.pad(val, (0, k - val.shape[1]), value=float("-inf"))
            ranked.append(idx)
            scores.append(val)
            invalid.append(torch.zeros(len(h), dtype=torch.long))
        else:
            res = beam_search(model, h, trie=trie, beam=beam, k=k, constrained=constrained,
                              exclude=None if ex is None else [set(np.asarray(e).tolist()) for e in ex])
            ranked.append(res.items.cpu())
            scores.append(res.scores.float().cpu())
            invalid.append(torch.as_tensor(res.invalid).cpu())
            sids.append(res.sids.cpu())
        report(progress, min(U, s + batch_size) / U, f"ranked {min(U, s + batch_size)}/{U} users")
    items = torch.cat(ranked).numpy() if ranked else np.zeros((0, k), dtype=np.int64)
    return RankedLists(
        rows=np.arange(U, dtype=np.int64),
        targets=np.zeros(0, dtype=np.int64),
        items=items,
        scores=torch.cat(scores).numpy() if scores else np.zeros((0, k), dtype=np.float32),
        sids=torch.cat(sids).numpy() if sids and len(sids) == len(ranked) else None,
        invalid=torch.cat(invalid).numpy() if invalid else np.zeros(0, dtype=np.int64),
    )


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
    (SASRec) ranks the whole catalogue by its scores. :func:`rank_lists` also keeps the scores
    and decoded SIDs."""
    lists = rank_lists(model, history, trie=trie, beam=beam, k=k, constrained=constrained, batch_size=batch_size,
                       device=device, progress=progress, cancel=cancel)
    return lists.items, lists.invalid


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
    on_ranked: Callable[[RankedLists], None] | None = None,
    exclude_history: bool = False,
) -> dict:
    """Recall/NDCG@5/10/20, coverage, homogeneity, diversity, popularity and invalid rate on the
    "valid" or "test" targets; ``users`` limits it to a seeded random subset. ``on_ranked`` is
    called once with the scored top-20 :class:`RankedLists` (e.g. to write them out).
    ``exclude_history``: the user's whole history (not only the ``max_len`` items the model
    reads) is masked out of the ranking, the rule RecBole and Cornac use; default: kept."""
    t0 = time.perf_counter()
    hists, targets = split_rows(split, which)
    rows = np.arange(len(targets), dtype=np.int64)
    if users is not None and users < len(targets):
        rows = np.sort(np.random.default_rng(seed).choice(len(targets), users, replace=False))
    hists, targets = hists[rows], targets[rows]  # only the users scored are padded
    H = pad_histories(hists, max_len)
    exclude = [np.unique(h) for h in hists] if exclude_history else None
    lists = rank_lists(model, H, trie=trie, beam=beam, k=20, constrained=constrained, device=device,
                       exclude=exclude, progress=progress, cancel=cancel)
    ranked, invalid = lists.items, lists.invalid
    if on_ranked is not None:
        on_ranked(dataclasses.replace(lists, rows=rows, targets=targets))
    out = summarize(ranked, targets, sids=sids, n_items=n_items, item_embeddings=item_embeddings,
                    item_counts=item_counts, invalid=invalid)
    out["seconds"] = round(time.perf_counter() - t0, 2)
    return out
