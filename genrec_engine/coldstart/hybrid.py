"""Hybrid (LIGER-style) re-ranking of a generator's candidates with a dense model, and its evaluation.

**Hybrid re-ranking** (after LIGER, Yang et al. 2024: a generative retriever plus a dense scorer
for the items the generator cannot reach). For one user:

1. *Candidates*: trie-constrained beam search (``beam = n_candidates``) gives the warm candidates
   and their cumulative SID log-probs; the cold/injected items form the second pool.
2. *Dense side*: SASRec's user vector ``u`` lives in SASRec's item space. A linear map
   ``W`` (ridge regression, fitted once per project and dense model on the warm items) takes an
   item's **content** embedding ``e_i`` to that space: ``s1(i) = u . (W e_i + b)``
   (content-mapped for warm and cold candidates alike, so both pools are on one scale). A second,
   purely content-based term ``s2(i) = e_i . p`` uses the user's content profile ``p`` (the mean
   content embedding of the last 3 history items). The dense score is
   ``(1 - content_share) * z(s1) + content_share * z(s2)``. The ``cold_per_user`` cold items with
   the best dense score become candidates.
3. *Generative side for those cold items*: their full SID log-likelihood, teacher-forced through
   ``start``/``next_logits`` (a cold SID's prefix is shared with warm items, so it is meaningful
   even though the generator never saw the item).
4. *Mix*: per user, the generative scores are z-scored over the candidate list and mixed
   ``s = (1 - weight) * z_gen + weight * dense``; at most ``max_cold`` cold items (the best by
   ``s``) may enter the list. The list is sorted by ``s``; with ``keep_generative_order``
   (default) the warm items then get their slots back in generative order, so the dense side only
   decides how many cold items enter the list and where. That bounds the damage to warm recall: a
   warm target drops out only when cold items push it past rank k.

Defaults (``weight`` 0.6, ``content_share`` 0.75, ``max_cold`` 3, ``n_candidates`` 30,
``cold_per_user`` 10) were picked on beauty-coldstart (5 % of items held out) with an early RAN
checkpoint. With beauty-default's SASRec as a stand-in dense model (6,000 test users): cold
Recall@10 0 -> 0.07 while warm Recall@10 fell 6.9 % (weight 0.65: cold 0.077, warm -9.3 %). On
the full test split (22,363 users, 25 s on one CPU core) with a briefly trained SASRec of the
cold-start project: weight 0.6 / 0.7 / 0.8 gave cold Recall@10 0.042 / 0.066 / 0.089 at a warm
Recall@10 change of -4.2 / -7.8 / -11.3 %. The content map alone explains little of SASRec's
item space (R^2 0.04-0.1 in-sample), which is why the content-profile term carries most of the
cold signal.

:func:`coldstart_eval` measures it on the test split of the cold-start protocol (see
:mod:`genrec_engine.coldstart`): generative-only (beam search on the project trie, in which cold
items are absent, so their recall is ~0: the honest baseline) against hybrid.

The cold candidates' generative scores are teacher-forced with
:func:`~genrec_engine.decode.score_sids` (the same level step as beam search).
"""
from __future__ import annotations

import time
import weakref
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import ConfigError
from ..jobs import CancelToken, ProgressFn, check_cancel, report
from .inject import ColdStartSession, warm_history

__all__ = [
    "ContentMap",
    "fit_content_map",
    "hybrid_rank",
    "hybrid_recommend",
    "coldstart_eval",
    "DEFAULT_WEIGHT",
    "DEFAULT_CANDIDATES",
    "DEFAULT_COLD_PER_USER",
    "DEFAULT_CONTENT_SHARE",
    "DEFAULT_MAX_COLD",
]

DEFAULT_WEIGHT = 0.6  # chosen on beauty-coldstart (see the module docstring)
DEFAULT_CANDIDATES = 30
DEFAULT_COLD_PER_USER = 10
DEFAULT_CONTENT_SHARE = 0.75
DEFAULT_MAX_COLD = 3
PROFILE_ITEMS = 3  # history items averaged into the content profile


# ---------------------------------------------------------------------- dense side


@dataclass
class ContentMap:
    """Linear map from content embeddings to a dense model's item space: ``e @ W + b``."""

    W: np.ndarray  # [d_content, d_dense] float32
    b: np.ndarray  # [d_dense] float32
    r2: float  # share of the warm items' item-vector variance the map explains (in-sample)

    def __call__(self, E) -> np.ndarray:
        return np.asarray(E, dtype=np.float32) @ self.W + self.b


def fit_content_map(embeddings: np.ndarray, item_vectors: np.ndarray, warm: np.ndarray, ridge: float = 1.0) -> ContentMap:
    """Ridge regression (closed form, with an intercept) of dense item vectors on content
    embeddings over the ``warm`` item indices: ``W = (X^T X + ridge I)^-1 X^T Y`` on centred data."""
    X = np.asarray(embeddings, dtype=np.float64)[warm]
    Y = np.asarray(item_vectors, dtype=np.float64)[warm]
    if len(warm) < 2:
        raise ConfigError("fit_content_map: needs at least two warm items")
    mx, my = X.mean(0), Y.mean(0)
    Xc, Yc = X - mx, Y - my
    A = Xc.T @ Xc + float(ridge) * np.eye(X.shape[1])
    W = np.linalg.solve(A, Xc.T @ Yc)
    b = my - mx @ W
    resid = Yc - Xc @ W
    r2 = 1.0 - float((resid**2).sum() / max((Yc**2).sum(), 1e-12))
    return ContentMap(W.astype(np.float32), b.astype(np.float32), r2)


_MAPS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _content_map(project, dense_model) -> ContentMap:
    """The project's content -> dense map for this dense model (fitted once, cached per model)."""
    key = (str(project.path), project.embeddings.shape, len(project.cold_indices))
    per_model = _MAPS.setdefault(dense_model, {})
    if key not in per_model:
        n = project.sids.n_items
        warm = np.setdiff1d(np.arange(n), project.cold_indices)
        V = dense_model.item_vectors().detach().float().cpu().numpy()
        per_model[key] = fit_content_map(project.embeddings, V[:n], warm)
    return per_model[key]


# ---------------------------------------------------------------------- hybrid ranking


def _zscore(x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Per-row z-score of ``x [B, M]`` over the ``valid`` entries (0 elsewhere)."""
    n = valid.sum(1, keepdim=True).clamp_min(1)
    xv = torch.where(valid, x, torch.zeros_like(x))
    mean = xv.sum(1, keepdim=True) / n
    var = (torch.where(valid, x - mean, torch.zeros_like(x)) ** 2).sum(1, keepdim=True) / n
    return torch.where(valid, (x - mean) / var.sqrt().clamp_min(1e-6), torch.zeros_like(x))


@torch.no_grad()
def hybrid_rank(gen_model, dense_model, gen_history: torch.Tensor, dense_history: torch.Tensor, *, trie,
                pool: np.ndarray, pool_sids: np.ndarray, item_vectors: np.ndarray, item_content: np.ndarray,
                profiles: np.ndarray | None = None, k: int = 10, n_candidates: int = DEFAULT_CANDIDATES,
                weight: float = DEFAULT_WEIGHT, content_share: float = DEFAULT_CONTENT_SHARE,
                cold_per_user: int = DEFAULT_COLD_PER_USER, max_cold: int | None = DEFAULT_MAX_COLD,
                keep_generative_order: bool = True):
    """Batched hybrid ranking (see the module docstring) for ``B`` users.

    ``gen_history``/``dense_history``: padded histories for the two models. ``trie``: the trie beam
    search decodes with. ``pool`` int64 ``[C]``: the cold/injected item indices, with their SIDs
    ``[C, D]``. ``item_vectors [N', d]``: content-mapped dense vectors and ``item_content [N', e]``
    content embeddings of every index (beam results and pool). ``profiles [B, e]``: each user's
    content profile (mean content embedding of the last history items), used with weight
    ``content_share`` inside the dense score. Returns ``(hybrid [B, k], generative [B, k])`` int64
    item indices (-1 padding); ``generative`` is the beam's own top-``k``.
    """
    from ..decode import beam_search, score_sids

    dev = gen_history.device
    w, c = float(weight), float(content_share)
    res = beam_search(gen_model, gen_history, trie=trie, beam=max(n_candidates, k), k=max(n_candidates, k))
    g_items, g_scores = res.items, res.scores  # [B, n]
    generative = g_items[:, :k].cpu().numpy()
    u = dense_model.user_vectors(dense_history).float().to(dev)  # [B, d]
    iv = torch.as_tensor(item_vectors, dtype=torch.float32, device=dev)
    ic = torch.as_tensor(item_content, dtype=torch.float32, device=dev)
    prof = torch.zeros(u.shape[0], ic.shape[1], device=dev) if profiles is None else \
        torch.as_tensor(profiles, dtype=torch.float32, device=dev)
    g_valid = (g_items >= 0) & torch.isfinite(g_scores)
    gi = g_items.clamp_min(0)
    g_s1 = torch.einsum("bd,bnd->bn", u, iv[gi])  # SASRec user . mapped content
    g_s2 = torch.einsum("be,bne->bn", prof, ic[gi])  # content profile . content
    cand_items, cand_gen, cand_s1, cand_s2, cand_valid = g_items, g_scores, g_s1, g_s2, g_valid
    is_cold = torch.zeros_like(g_items, dtype=torch.bool)
    C = len(pool)
    if C and cold_per_user > 0:
        pool_t = torch.as_tensor(pool, dtype=torch.long, device=dev)
        p_s1 = u @ iv[pool_t].T  # [B, C]
        p_s2 = prof @ ic[pool_t].T
        every = torch.ones_like(p_s1, dtype=torch.bool)
        p_dense = (1 - c) * _zscore(p_s1, every) + c * _zscore(p_s2, every)
        m = min(int(cold_per_user), C)
        top_j = p_dense.topk(m, dim=1).indices
        c_items = pool_t[top_j]
        c_sids = torch.as_tensor(pool_sids, dtype=torch.long, device=dev)[top_j]  # [B, m, D]
        c_gen = score_sids(gen_model, gen_history, c_sids)  # [B, m] teacher-forced
        dup = (c_items.unsqueeze(2) == g_items.unsqueeze(1)).any(2)  # already a beam candidate
        cand_items = torch.cat([g_items, c_items], 1)
        cand_gen = torch.cat([g_scores, c_gen], 1)
        cand_s1 = torch.cat([g_s1, p_s1.gather(1, top_j)], 1)
        cand_s2 = torch.cat([g_s2, p_s2.gather(1, top_j)], 1)
        cand_valid = torch.cat([g_valid, ~dup], 1)
        is_cold = torch.cat([is_cold, torch.ones_like(c_items, dtype=torch.bool)], 1)
    cand_dense = (1 - c) * _zscore(cand_s1, cand_valid) + c * _zscore(cand_s2, cand_valid)
    cand_gen = torch.where(cand_valid, cand_gen, torch.zeros_like(cand_gen))
    mixed = (1 - w) * _zscore(cand_gen, cand_valid) + w * cand_dense
    mixed = torch.where(cand_valid, mixed, torch.full_like(mixed, -float("inf")))
    if max_cold is not None:  # only the best max_cold cold candidates (by the mix) may enter the list
        cold_mix = torch.where(is_cold & cand_valid, mixed, torch.full_like(mixed, -float("inf")))
        cold_rank = cold_mix.argsort(dim=1, descending=True, stable=True).argsort(dim=1)
        mixed = torch.where(is_cold & (cold_rank >= int(max_cold)), torch.full_like(mixed, -float("inf")), mixed)
    order = mixed.argsort(dim=1, descending=True, stable=True)[:, :k]
    top_items = cand_items.gather(1, order)
    top_valid = torch.isfinite(mixed.gather(1, order))
    if keep_generative_order:
        # Warm slots get the warm candidates back in beam order (beam results are sorted by score
        # with their valid entries first), so only the cold items' positions come from the mix.
        slot_warm = ~is_cold.gather(1, order) & top_valid
        warm_rank = (torch.cumsum(slot_warm.long(), 1) - 1).clamp(0, g_items.shape[1] - 1)
        top_items = torch.where(slot_warm, g_items.gather(1, warm_rank), top_items)
    top_items = torch.where(top_valid, top_items, torch.full_like(top_items, -1))
    return _pad_k(top_items.cpu().numpy(), k), _pad_k(generative, k)


def _pad_k(a: np.ndarray, k: int) -> np.ndarray:
    a = a[:, :k]
    return a if a.shape[1] == k else np.pad(a, ((0, 0), (0, k - a.shape[1])), constant_values=-1)


def _profiles(histories, content: np.ndarray, last: int = PROFILE_ITEMS) -> np.ndarray:
    """Content profile per history: the mean content embedding of its ``last`` most recent items
    (zeros for an empty history)."""
    out = np.zeros((len(histories), content.shape[1]), dtype=np.float32)
    for r, h in enumerate(histories):
        h = np.asarray(h, dtype=np.int64)[-last:]
        if len(h):
            out[r] = content[h].mean(0)
    return out


def _check_mix(weight, content_share, n_candidates, cold_per_user, max_cold) -> None:
    for name, v in (("weight", weight), ("content_share", content_share)):
        if not 0.0 <= float(v) <= 1.0:
            raise ConfigError(f"{name}: {v} must lie in [0, 1]")
    if int(n_candidates) < 1:
        raise ConfigError(f"n_candidates: {n_candidates} must be >= 1")
    if int(cold_per_user) < 0 or (max_cold is not None and int(max_cold) < 0):
        raise ConfigError("cold_per_user and max_cold must be >= 0")


def _pool(session: ColdStartSession, cold_items) -> np.ndarray:
    if cold_items is None:
        items = set(session.cold_indices.tolist()) | set(session.injected)
        items -= session.retired
    else:
        items = {int(i) for i in cold_items}
    return np.array(sorted(items), dtype=np.int64)


def _session_content(session: ColdStartSession) -> np.ndarray:
    """Content embeddings ``[N + new, e]`` of the catalogue and the session's new items."""
    E = session.project.embeddings
    extra = sorted(session.new_items)
    if not extra:
        return E
    return np.concatenate([E, np.stack([session.new_items[i].embedding for i in extra])])


@torch.no_grad()
def hybrid_recommend(session_or_project, gen_model, dense_model, history, k: int = 10,
                     n_candidates: int = DEFAULT_CANDIDATES, weight: float = DEFAULT_WEIGHT, cold_items=None,
                     cold_per_user: int = DEFAULT_COLD_PER_USER, content_share: float = DEFAULT_CONTENT_SHARE,
                     max_cold: int | None = DEFAULT_MAX_COLD, keep_generative_order: bool = True) -> list[dict]:
    """Hybrid top-``k`` for one history (item indices, oldest first) — see the module docstring.

    ``session_or_project``: a :class:`ColdStartSession` (beam search on its trie; the pool is its
    cold and injected items, retired ones left out) or a project (a fresh session). ``cold_items``
    overrides the pool. ``gen_model``: a generative model (RAN/TIGER); ``dense_model``: SASRec (or any
    model with ``user_vectors`` and ``item_vectors``). Returns ``[{"rank", "index", "title", "sid",
    "cold"}]``, ``cold`` True for pool items.
    """
    from ..models import pad_histories

    session = session_or_project if isinstance(session_or_project, ColdStartSession) else ColdStartSession(session_or_project)
    project = session.project
    _check_mix(weight, content_share, n_candidates, cold_per_user, max_cold)
    gen_model.eval()
    dense_model.eval()
    cmap = _content_map(project, dense_model)
    pool = _pool(session, cold_items)
    n = session.n_items
    content = _session_content(session)
    all_vecs = cmap(content)
    h = warm_history(history, n, session.cold_indices)
    dev = next(gen_model.parameters()).device
    Hg = pad_histories([h], gen_model.config.max_len, device=dev)
    Hd = pad_histories([h], dense_model.config.max_len, device=dev)
    width = max(1, len(h))
    hybrid, _ = hybrid_rank(gen_model, dense_model, Hg[:, -min(width, Hg.shape[1]):], Hd[:, -min(width, Hd.shape[1]):],
                            trie=session.trie, pool=pool, pool_sids=np.array([session.sid(int(i)) for i in pool],
                                                                            dtype=np.int64).reshape(len(pool), session.trie.depth),
                            item_vectors=all_vecs, item_content=content, profiles=_profiles([h], content),
                            k=k, n_candidates=n_candidates, weight=weight, content_share=content_share,
                            cold_per_user=cold_per_user, max_cold=max_cold,
                            keep_generative_order=keep_generative_order)
    pool_set = set(pool.tolist())
    out = []
    for r, i in enumerate(hybrid[0].tolist()):
        if i < 0:
            continue
        out.append({"rank": r + 1, "index": i, "title": session.title(i), "sid": list(session.sid(i)),
                    "cold": i in pool_set})
    return out


# ---------------------------------------------------------------------- evaluation


def coldstart_eval(project, progress: ProgressFn | None = None, cancel: CancelToken | None = None, *,
                   users: int | None = None, weight: float = DEFAULT_WEIGHT, n_candidates: int = DEFAULT_CANDIDATES,
                   cold_per_user: int = DEFAULT_COLD_PER_USER, content_share: float = DEFAULT_CONTENT_SHARE,
                   max_cold: int | None = DEFAULT_MAX_COLD, gen_kind: str = "ran", dense_kind: str = "sasrec",
                   gen_model=None, dense_model=None, batch_size: int = 256, seed: int = 0,
                   device: str = "cpu") -> dict:
    """Cold vs warm Recall/NDCG@10 of generative-only and hybrid ranking on the test split of
    :func:`~genrec_engine.coldstart.project_split` (cold test targets are cold cases, the rest warm).

    Generative-only: the beam's top-10 on the project trie (beam = ``n_candidates``; cold items
    are absent, so they are never generated). Hybrid: the same beam plus every cold item as a
    candidate, mixed as in the module docstring. ``users`` evaluates a seeded random subset.
    Returns ``cold_cases``, ``warm_cases``, ``cold_recall@10_generative``, ``cold_recall@10_hybrid``,
    ``cold_ndcg@10_generative``, ``cold_ndcg@10_hybrid``, ``warm_recall@10_generative``,
    ``warm_recall@10_hybrid``, ``weight``, ``seconds``, and the other settings used
    (``n_candidates``, ``cold_per_user``, ``content_share``, ``max_cold``) plus ``content_map_r2``
    (in-sample R^2 of the content -> SASRec map). Beauty's full test split (22k users) takes about
    a minute on one CPU core with the defaults."""
    from ..data import project_split
    from ..device import resolve_device
    from ..models import pad_histories
    from ..generators import load_project_generator
    from ..train.metrics import ndcg_at_k, recall_at_k

    t0 = time.perf_counter()
    _check_mix(weight, content_share, n_candidates, cold_per_user, max_cold)
    cold = project.cold_indices
    if len(cold) == 0:
        raise ConfigError(f"{project.path}: not a cold-start project (no cold items); "
                          "make one with genrec tokenize/train --cold-holdout FRACTION")
    dev = resolve_device(device)
    gen = gen_model if gen_model is not None else load_project_generator(project, gen_kind, device=dev)
    dense = dense_model if dense_model is not None else load_project_generator(project, dense_kind, device=dev)
    if not hasattr(dense, "user_vectors"):
        raise ConfigError(f"dense model {getattr(dense, 'kind', type(dense).__name__)}: has no user_vectors; use sasrec")
    gen.eval()
    dense.eval()
    split = project_split(project)
    hists, targets = split.test_history, np.asarray(split.test_target, dtype=np.int64)
    idx = np.arange(len(targets))
    if users is not None and users < len(idx):
        idx = np.sort(np.random.default_rng(seed).choice(len(idx), int(users), replace=False))
    cmap = _content_map(project, dense)
    vecs = cmap(project.embeddings)
    trie = project.trie
    pool_sids = project.sids.codes[cold]
    hybrid_all, gen_all = [], []
    report(progress, 0.0, "cold-start evaluation")
    for s in range(0, len(idx), batch_size):
        check_cancel(cancel)
        rows = idx[s:s + batch_size]
        hs = [hists[r] for r in rows]
        width = max(1, max((len(h) for h in hs), default=1))
        Hg = pad_histories(hs, gen.config.max_len, device=dev)
        Hd = pad_histories(hs, dense.config.max_len, device=dev)
        Hg, Hd = Hg[:, -min(width, Hg.shape[1]):], Hd[:, -min(width, Hd.shape[1]):]
        hy, ge = hybrid_rank(gen, dense, Hg, Hd, trie=trie, pool=cold, pool_sids=pool_sids, item_vectors=vecs,
                             item_content=project.embeddings, profiles=_profiles(hs, project.embeddings), k=10,
                             n_candidates=n_candidates, weight=weight, content_share=content_share,
                             cold_per_user=cold_per_user, max_cold=max_cold)
        hybrid_all.append(hy)
        gen_all.append(ge)
        done = min(len(idx), s + batch_size)
        report(progress, done / max(1, len(idx)), f"ranked {done}/{len(idx)} users")
    hy = np.concatenate(hybrid_all) if hybrid_all else np.zeros((0, 10), np.int64)
    ge = np.concatenate(gen_all) if gen_all else np.zeros((0, 10), np.int64)
    t = targets[idx]
    is_cold = np.isin(t, cold)

    def metric(fn, ranked, mask, name):
        return round(fn(ranked[mask], t[mask], ks=(10,))[name], 6) if mask.any() else 0.0

    out = {
        "cold_cases": int(is_cold.sum()),
        "warm_cases": int((~is_cold).sum()),
        "cold_recall@10_generative": metric(recall_at_k, ge, is_cold, "recall@10"),
        "cold_recall@10_hybrid": metric(recall_at_k, hy, is_cold, "recall@10"),
        "cold_ndcg@10_generative": metric(ndcg_at_k, ge, is_cold, "ndcg@10"),
        "cold_ndcg@10_hybrid": metric(ndcg_at_k, hy, is_cold, "ndcg@10"),
        "warm_recall@10_generative": metric(recall_at_k, ge, ~is_cold, "recall@10"),
        "warm_recall@10_hybrid": metric(recall_at_k, hy, ~is_cold, "recall@10"),
        "weight": float(weight),
        "n_candidates": int(n_candidates),
        "cold_per_user": int(cold_per_user),
        "content_share": float(content_share),
        "max_cold": max_cold,
        "content_map_r2": round(cmap.r2, 4),
        "seconds": round(time.perf_counter() - t0, 2),
    }
    report(progress, 1.0, "done")
    return out
