"""Generation diagnostics: which users get a homogeneous top-k, and who gets invalid SIDs.

For a sample of users of a leave-one-out split, :func:`generation_diagnostics` decodes every user
twice with the same beam:

- **constrained** (the trie keeps every SID on a real item): the ranked list whose homogeneity
  (share of the top-k held by its most common level-1 prefix, as
  :func:`~genrec_engine.train.metrics.homogeneity_at_k` defines it) and target rank are reported;
- **unconstrained** (no trie mask): how many of the top-k SIDs match no item, as
  ``BeamResult.invalid`` counts them, and at which SID level each invalid one left the trie.

Users are decoded in batches ordered by history length (little padding per batch); progress and
cancel are checked per batch and per decode. The result is a frozen dataclass of per-user NumPy
arrays plus a summary, JSON-able through :meth:`GenerationDiagnostics.to_dict`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from ..errors import ConfigError, check_int
from ..jobs import CancelToken, ProgressFn, check_cancel, report

__all__ = ["GenerationDiagnostics", "generation_diagnostics", "homogeneity_per_user", "WORST_BY"]

#: Orders :meth:`GenerationDiagnostics.worst` knows: most homogeneous, most invalid, missed target.
WORST_BY = ("homogeneity", "invalid", "missed")

_BATCH = 256  # users per decode batch: ~0.25 s per RAN batch on one CPU thread at beam 20


# ------------------------------------------------------------------------------------ per user


def homogeneity_per_user(ranked: Any, codes: Any, k: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-user homogeneity of the first ``k`` entries of ``ranked`` by the level-1 SID prefix.

    ``ranked`` int ``[U, K]`` item indices, best first, ``-1`` = no item; ``codes`` int ``[N, D]``
    SID codes (row = item). Returns ``(share, dominant, distinct)``:

    - ``share`` float64 ``[U]``: the largest share of the valid entries held by one first code
      (NaN for a user with no valid entry); its ``nanmean`` is ``metrics.homogeneity_at_k``;
    - ``dominant`` int64 ``[U]``: that first code (ties: the one ranked highest), ``-1`` if none;
    - ``distinct`` int64 ``[U]``: how many different first codes the valid entries have.
    """
    r = np.asarray(ranked, dtype=np.int64)
    c = np.asarray(codes, dtype=np.int64)
    if r.ndim != 2:
        raise ConfigError(f"ranked: expected a 2-D array [U, K], got shape {r.shape}")
    if c.ndim != 2:
        raise ConfigError(f"codes: expected a 2-D array [N, D], got shape {c.shape}")
    r = r[:, : max(int(k), 0)]
    U = r.shape[0]
    if r.shape[1] == 0:
        return np.full(U, np.nan), np.full(U, -1, dtype=np.int64), np.zeros(U, dtype=np.int64)
    valid = r >= 0
    first = np.where(valid, c[np.where(valid, r, 0), 0], -1)  # [U, k] level-1 code, -1 = none
    same = (first[:, :, None] == first[:, None, :]) & valid[:, :, None] & valid[:, None, :]  # [U, k, k]
    count = same.sum(axis=2)  # [U, k]: how often each slot's code occurs in the list
    best = count.argmax(axis=1)  # first slot with the largest count = the highest-ranked dominant code
    n_valid = valid.sum(axis=1)
    share = np.where(n_valid > 0, count.max(axis=1) / np.maximum(n_valid, 1), np.nan)
    dominant = np.where(n_valid > 0, first[np.arange(U), best], -1).astype(np.int64)
    s = np.sort(first, axis=1)  # -1s first
    new = s >= 0
    new[:, 1:] &= s[:, 1:] != s[:, :-1]
    return share.astype(np.float64), dominant, new.sum(axis=1).astype(np.int64)


def _target_rank(ranked: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """1-based rank of each user's target in ``ranked`` ``[U, K]``, ``-1`` when absent: int64 ``[U]``."""
    hit = (ranked == targets[:, None]) & (ranked >= 0)
    return np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, -1).astype(np.int64)


def _off_trie_level(trie, sids: torch.Tensor) -> torch.Tensor:
    """For SIDs int64 ``[M, D]``: the first level whose token leaves the trie (``D`` = a real item).

    Returns int64 ``[M]``. A walk of the trie, one ``step`` per level for all rows at once.
    """
    M, D = sids.shape
    tdev = trie.device
    nodes = torch.zeros(M, dtype=torch.long, device=tdev)
    level_out = torch.full((M,), D, dtype=torch.long, device=tdev)
    for level in range(D):
        nodes = trie.step(level, nodes, sids[:, level].to(tdev))
        gone = (nodes < 0) & (level_out == D)
        level_out[gone] = level
    return level_out.cpu()


# ------------------------------------------------------------------------------------ result


@dataclass(frozen=True, eq=False)
class GenerationDiagnostics:
    """Per-user generation health of one generator on a sample of a split's users.

    Arrays have one row per diagnosed user ``U`` (in the order of ``users``, ascending):
    ``users`` int64 user index in the split (row of ``Split.test_history``), ``user_ids`` int64
    the dataset's user ids, ``history_length`` int64 full history length (the model reads at most
    its ``max_len`` most recent items), ``target`` int64 the held-out item index, ``target_rank``
    int64 1-based rank of the target among the ``beam`` constrained results (``-1`` = missed),
    ``top`` int64 ``[U, k]`` the constrained top-k item indices (``-1`` pads), ``homogeneity``
    float64 share of the top-k held by its dominant level-1 prefix (NaN for an empty list),
    ``dominant_prefix`` int64 that prefix's first code, ``prefixes`` int64 distinct level-1
    prefixes in the top-k, ``invalid`` int64 SIDs among the top-k of the unconstrained decode that
    match no item. ``invalid_levels`` int64 ``[D]``: over all users, how many invalid SIDs first
    left the trie at each level. ``summary`` is a JSON-able dict (see :func:`generation_diagnostics`).
    """

    kind: str
    split: str
    beam: int
    k: int
    seed: int
    users_total: int  # users in the split
    users: np.ndarray
    user_ids: np.ndarray
    history_length: np.ndarray
    target: np.ndarray
    target_id: np.ndarray  # int64 [U] the target's catalogue item id
    target_rank: np.ndarray
    top: np.ndarray
    homogeneity: np.ndarray
    dominant_prefix: np.ndarray
    prefixes: np.ndarray
    invalid: np.ndarray
    invalid_levels: np.ndarray
    summary: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.users.shape[0])

    def row_of(self, user: int) -> int:
        """The row of split user index ``user`` (KeyError when it was not diagnosed)."""
        pos = int(np.searchsorted(self.users, int(user)))
        if pos >= len(self.users) or int(self.users[pos]) != int(user):
            raise KeyError(f"user {user} was not diagnosed")
        return pos

    def worst(self, by: str = "homogeneity", n: int | None = None) -> np.ndarray:
        """Row indices, worst first, ``n`` of them (all by default): int64.

        ``by="homogeneity"``: highest homogeneity first (then more invalid); ``"invalid"``: most
        invalid SIDs first (then higher homogeneity); ``"missed"``: users whose target was missed
        first, then the target ranked lowest. Ties keep the user order.
        """
        h = np.nan_to_num(self.homogeneity, nan=-1.0)
        rank = np.where(self.target_rank < 0, np.iinfo(np.int64).max, self.target_rank)
        if by == "homogeneity":
            order = np.lexsort((-self.invalid, -h))
        elif by == "invalid":
            order = np.lexsort((-h, -self.invalid))
        elif by == "missed":
            order = np.lexsort((-h, -rank))
        else:
            raise ConfigError(f"by={by!r}: expected one of {', '.join(WORST_BY)}")
        return order[:n] if n is not None else order

    def user_dict(self, row: int) -> dict:
        """One user's diagnosis as plain JSON values (``None`` for a missed target)."""
        h = float(self.homogeneity[row])
        rank = int(self.target_rank[row])
        return {
            "user": int(self.users[row]),
            "user_id": int(self.user_ids[row]),
            "history_length": int(self.history_length[row]),
            "target": int(self.target[row]),
            "target_id": int(self.target_id[row]),
            "target_rank": rank if rank > 0 else None,
            "homogeneity": h if np.isfinite(h) else None,
            "dominant_prefix": int(self.dominant_prefix[row]),
            "prefixes": int(self.prefixes[row]),
            "invalid": int(self.invalid[row]),
            "top": [int(i) for i in self.top[row]],
        }

    def to_dict(self) -> dict:
        """Everything as plain JSON values: the settings, ``summary`` and one dict per user."""
        return {
            "model": self.kind,
            "split": self.split,
            "beam": self.beam,
            "k": self.k,
            "seed": self.seed,
            "users_total": self.users_total,
            "summary": dict(self.summary),
            "users": [self.user_dict(r) for r in range(len(self))],
        }


# ------------------------------------------------------------------------------------ the job


def _pick_users(n_total: int, users, seed: int) -> np.ndarray:
    """Sorted split user indices: all, a seeded sample of ``users``, or the given indices."""
    if users is None:
        return np.arange(n_total, dtype=np.int64)
    if isinstance(users, (int, np.integer)) and not isinstance(users, bool):
        n = int(users)
        if n < 1:
            raise ConfigError(f"users: {n} must be >= 1")
        if n >= n_total:
            return np.arange(n_total, dtype=np.int64)
        return np.sort(np.random.default_rng(int(seed)).choice(n_total, n, replace=False)).astype(np.int64)
    picked = np.unique(np.asarray(users, dtype=np.int64).reshape(-1))
    if picked.size == 0:
        raise ConfigError("users: the list of users is empty")
    if picked[0] < 0 or picked[-1] >= n_total:
        bad = int(picked[0] if picked[0] < 0 else picked[-1])
        raise ConfigError(f"users: user index {bad} is outside the split's 0..{n_total - 1}")
    return picked


def _histogram(share: np.ndarray, k: int) -> tuple[list[float], list[int]]:
    """Homogeneity histogram with one bin per share ``j / k`` (``j = 1..k``): edges ``[k + 1]``
    and counts ``[k]``; NaN shares (empty lists) are left out. Shares of shorter lists fall in the
    bin of the nearest ``j / k``."""
    edges = np.clip((np.arange(1, k + 2) - 0.5) / k, 0.0, 1.0)
    edges[0] = 0.0
    counts, _ = np.histogram(share[np.isfinite(share)], bins=edges)
    return [float(e) for e in edges], [int(c) for c in counts]


@torch.no_grad()
def generation_diagnostics(
    project,
    kind: str,
    *,
    split: str = "test",
    users: int | Sequence[int] | None = None,
    beam: int = 20,
    k: int = 10,
    seed: int = 0,
    device: str | torch.device = "cpu",
    model=None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> GenerationDiagnostics:
    """Diagnose generator ``kind`` of ``project`` on the users of ``split`` ("test" or "valid").

    ``users``: ``None`` = every user, an int = a sample of that many (seeded by ``seed``), or a
    sequence of split user indices. Each user is decoded with beam search of width ``beam``
    (``>= k``) twice: constrained (top-``beam`` list: target rank; its top-``k``: homogeneity)
    and unconstrained (invalid SIDs among its top-``k``). ``model``: an already loaded generator
    (read-only, put in eval mode by the caller), else the project's (cached, see
    :meth:`~genrec_engine.project.Project.generator`) on ``device``.
    A SASRec-style scorer generates no SIDs and is refused.

    ``summary`` keys: ``users``, ``users_total``, ``mean_homogeneity`` (= ``homogeneity@k`` of
    :func:`~genrec_engine.train.metrics.homogeneity_at_k`), ``homogeneity_edges`` ``[k + 1]`` /
    ``homogeneity_counts`` ``[k]`` (one bin per share ``j / k``), ``invalid_rate`` (share of the
    ``U * k`` unconstrained SIDs that match no item, :func:`~genrec_engine.train.metrics.invalid_rate`),
    ``users_with_invalid`` (share of users with at least one), ``invalid_counts`` ``[k + 1]``
    (users with 0..k invalid SIDs), ``invalid_levels`` ``[D]``, ``constrained_invalid`` (invalid
    SIDs over all constrained decodes: 0 whenever the trie is sound), ``hit_rate@k`` and
    ``hit_rate@beam`` (share of users whose target is in the top-k / the beam), ``seconds``,
    ``device``.
    """
    from ..data import project_split
    from ..decode import beam_search
    from ..device import resolve_device
    from ..models import pad_histories
    from ..train.metrics import homogeneity_at_k, invalid_rate

    t0 = time.perf_counter()
    beam = check_int("beam", beam, 1)
    k = check_int("k", k, 1)
    if beam < k:
        raise ConfigError(f"beam: {beam} must be >= k ({k}): a beam of width b returns at most b items")
    if split not in ("test", "valid"):
        raise ConfigError(f"split={split!r}: expected 'test' or 'valid'")
    dev = resolve_device(device)
    report(progress, 0.0, "preparing the split")
    sp = project_split(project)
    histories = sp.test_history if split == "test" else sp.valid_history
    targets_all = np.asarray(sp.test_target if split == "test" else sp.valid_target, dtype=np.int64)
    picked = _pick_users(len(targets_all), users, seed)
    check_cancel(cancel)
    if model is None:
        report(progress, 0.0, f"loading the {kind} generator")
        model = project.generator(kind, dev)
    else:
        dev = next(iter(model.parameters())).device if hasattr(model, "parameters") else dev
    if hasattr(model, "score_items"):
        raise ConfigError(f"model={kind!r}: a scoring model generates no semantic IDs; "
                          "diagnose a generative one (ran or tiger)")
    trie = project.trie
    codes = project.sids.codes
    max_len = int(model.config.max_len)

    U = len(picked)
    lengths = np.fromiter((len(histories[u]) for u in picked), dtype=np.int64, count=U)
    seen = np.minimum(lengths, max_len)
    order = np.argsort(seen, kind="stable")  # similar lengths share a batch: little padding
    top = np.full((U, beam), -1, dtype=np.int64)
    invalid = np.zeros(U, dtype=np.int64)
    D = project.sids.depth
    invalid_levels = np.zeros(D, dtype=np.int64)
    constrained_invalid = 0  # the trie's guarantee, checked: stays 0 unless the trie is broken
    n_batches = max(1, -(-U // _BATCH))
    for b, s in enumerate(range(0, U, _BATCH)):
        check_cancel(cancel)
        rows = order[s : s + _BATCH]
        width = max(1, int(seen[rows].max()))
        H = pad_histories([histories[u] for u in picked[rows]], width, device=dev)  # [B, width] index + 1
        res = beam_search(model, H, trie=trie, beam=beam, k=beam, constrained=True, cancel=cancel)
        top[rows] = res.items.cpu().numpy()
        constrained_invalid += int(res.invalid.clamp_min(0).sum())
        report(progress, (b + 0.5) / n_batches, f"decoded {min(U, s + _BATCH):,}/{U:,} users (constrained)")
        check_cancel(cancel)
        free = beam_search(model, H, trie=trie, beam=beam, k=k, constrained=False, cancel=cancel)
        invalid[rows] = free.invalid.cpu().numpy()
        live = torch.isfinite(free.scores) & (free.items < 0)  # [B, k] returned SIDs that match no item
        if bool(live.any()):
            lv = _off_trie_level(trie, free.sids[live])
            invalid_levels += np.bincount(lv.numpy(), minlength=D + 1)[:D]
        report(progress, (b + 1) / n_batches, f"decoded {min(U, s + _BATCH):,}/{U:,} users (unconstrained)")

    targets = targets_all[picked]
    target_rank = _target_rank(top, targets)
    share, dominant, distinct = homogeneity_per_user(top, codes, k)
    edges, counts = _histogram(share, k)
    hom = homogeneity_at_k(top, codes, k, 1)  # the metric itself, so the summary matches `genrec eval`
    summary = {
        "users": U,
        "users_total": int(len(targets_all)),
        "mean_homogeneity": hom,
        "homogeneity_edges": edges,
        "homogeneity_counts": counts,
        "invalid_rate": invalid_rate(invalid, k) if U else 0.0,
        "users_with_invalid": float(np.mean(invalid > 0)) if U else 0.0,
        "invalid_counts": [int(c) for c in np.bincount(invalid, minlength=k + 1)[: k + 1]],
        "invalid_levels": [int(c) for c in invalid_levels],
        "constrained_invalid": constrained_invalid,
        f"hit_rate@{k}": float(np.mean((target_rank > 0) & (target_rank <= k))) if U else 0.0,
        f"hit_rate@{beam}": float(np.mean(target_rank > 0)) if U else 0.0,
        "seconds": round(time.perf_counter() - t0, 2),
        "device": str(dev),
    }
    report(progress, 1.0, f"diagnosed {U:,} users")
    return GenerationDiagnostics(
        kind=str(kind), split=split, beam=beam, k=k, seed=int(seed), users_total=int(len(targets_all)),
        users=picked, user_ids=np.asarray(sp.user_ids, dtype=np.int64)[picked], history_length=lengths,
        target=targets, target_id=np.asarray(project.sids.item_ids, dtype=np.int64)[targets],
        target_rank=target_rank, top=top[:, :k].copy(), homogeneity=share, dominant_prefix=dominant,
        prefixes=distinct, invalid=invalid, invalid_levels=invalid_levels, summary=summary,
    )
