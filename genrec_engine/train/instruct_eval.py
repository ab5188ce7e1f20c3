"""How well a generator follows category instructions: ``genrec instruct-eval``.

Category names of the catalogue (:func:`leaf_category_groups`) are encoded as instructions
(:func:`genrec_engine.instruct.encode_instructions`) and decoded with an empty history and with
test histories; the precision of the lists (share of items in the asked-for category) is compared
with random and popularity baselines, and test Recall with and without the instruction.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from ..data import project_split
from ..decode import beam_search
from ..device import resolve_device
from ..errors import ConfigError
from ..instruct import encode_instructions
from ..jobs import CancelToken, ProgressFn, check_cancel, report
from ..models import pad_histories
from .evaluate import item_counts

__all__ = ["instruct_eval", "leaf_category_groups"]


def leaf_category_groups(project, min_items: int = 20) -> dict[str, np.ndarray]:
    """Leaf categories with at least ``min_items`` live (non-cold) items -> their item indices,
    largest first. The leaf of an item is the last level of its first category path."""
    leaf = np.asarray(project.dataset.catalogue.leaf_categories(), dtype=object)
    live = np.ones(len(leaf), dtype=bool)
    live[np.asarray(project.cold_indices, dtype=np.int64)] = False
    groups: dict[str, list[int]] = {}
    for i in np.flatnonzero(live):
        if leaf[i]:
            groups.setdefault(leaf[i], []).append(int(i))
    kept = {c: np.asarray(v, dtype=np.int64) for c, v in groups.items() if len(v) >= min_items}
    return dict(sorted(kept.items(), key=lambda kv: (-len(kv[1]), kv[0])))


def _decode(model, trie, histories: torch.Tensor, vectors, *, beam: int, k: int, exclude=None) -> np.ndarray:
    res = beam_search(model, histories, trie=trie, beam=max(beam, k), k=k,
                      instruction=None if vectors is None else torch.as_tensor(vectors), exclude=exclude)
    return res.items.cpu().numpy()


def _precision(ranked: np.ndarray, leaf: np.ndarray, wanted) -> np.ndarray:
    """Per row: share of the ``k`` returned items whose leaf category is ``wanted[row]``
    (padding ``-1`` counts as a miss)."""
    ok = (ranked >= 0) & (leaf[np.clip(ranked, 0, None)] == np.asarray(wanted, dtype=object)[:, None])
    return ok.mean(1)


def instruct_eval(
    project,
    kind: str = "ran",
    *,
    min_items: int = 20,
    k: int = 10,
    beam: int = 20,
    users: int | None = 2000,
    seed: int = 0,
    batch_size: int = 256,
    device: str = "auto",
    model=None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> dict:
    """How well a generator follows category instructions (``genrec instruct-eval``).

    Empty history: every leaf category with >= ``min_items`` items is asked for by its name; the
    precision@k of a list is the share of its items in that category. Baselines: a random list
    (expected precision = the category's share of live items) and the popularity top-k (the same
    list for every category). With histories: up to ``users`` seeded test users whose target is
    in such a category get the target's category name as instruction; precision@k and test
    Recall@k with and without the instruction, on the same users. ``model``: an already loaded
    generator, else the project's ``kind`` one (cached, see :meth:`Project.generator`) on ``device``."""
    t0 = time.perf_counter()
    dev = resolve_device(device)
    model = model or project.generator(kind, dev)
    if not getattr(model, "accepts_instruction", False):
        raise ConfigError(f"the {kind} generator of {project.path} was trained without instructions; "
                          f"retrain it with: genrec train --project {project.path} --model {kind} --instructions")
    trie = project.trie
    leaf = np.asarray(project.dataset.catalogue.leaf_categories(), dtype=object)
    groups = leaf_category_groups(project, min_items)
    if not groups:
        raise ConfigError(f"no leaf category has {min_items} or more items; lower --min-items")
    names = list(groups)
    report(progress, 0.0, f"encoding {len(names)} category names")
    vecs = encode_instructions(names)
    n_live = project.sids.n_items - len(np.asarray(project.cold_indices))
    split = project_split(project)
    counts = item_counts(split, project.sids.n_items)
    counts[np.asarray(project.cold_indices, dtype=np.int64)] = -1
    popular = np.argsort(-counts, kind="stable")[:k]

    # ---- empty history
    check_cancel(cancel)
    report(progress, 0.05, "empty history")
    with torch.no_grad():
        ranked = np.concatenate([
            _decode(model, trie, torch.zeros(len(names[s:s + batch_size]), 1, dtype=torch.long, device=dev),
                    vecs[s:s + batch_size], beam=beam, k=k)
            for s in range(0, len(names), batch_size)])
    prec = _precision(ranked, leaf, names)
    per_category = [
        {"category": c, "items": int(len(groups[c])), f"precision@{k}": round(float(p), 4),
         f"random_precision@{k}": round(len(groups[c]) / n_live, 4),
         f"popularity_precision@{k}": round(float(np.mean(leaf[popular] == c)), 4)}
        for c, p in zip(names, prec)]
    empty = {
        f"precision@{k}": round(float(prec.mean()), 4),
        f"random_precision@{k}": round(float(np.mean([len(groups[c]) / n_live for c in names])), 4),
        f"popularity_precision@{k}": round(float(np.mean([np.mean(leaf[popular] == c) for c in names])), 4),
    }

    # ---- with histories: the test target's category as the instruction
    targets = np.asarray(split.test_target, dtype=np.int64)
    eligible = np.flatnonzero(np.isin(leaf[targets], names) & (targets >= 0))
    rng = np.random.default_rng(seed)
    if users is not None and len(eligible) > users:
        eligible = np.sort(rng.choice(eligible, users, replace=False))
    name_vec = dict(zip(names, vecs))
    hits_with, hits_without, prec_with, prec_without = [], [], [], []
    max_len = model.config.max_len
    for b, s in enumerate(range(0, len(eligible), batch_size)):
        check_cancel(cancel)
        rows = eligible[s:s + batch_size]
        H = pad_histories([split.test_history[u] for u in rows], max_len, device=dev)
        wanted = leaf[targets[rows]]
        V = np.stack([name_vec[c] for c in wanted])
        with torch.no_grad():
            with_i = _decode(model, trie, H, V, beam=beam, k=k)
            without = _decode(model, trie, H, None, beam=beam, k=k)
        t = targets[rows][:, None]
        hits_with.append((with_i == t).any(1))
        hits_without.append((without == t).any(1))
        prec_with.append(_precision(with_i, leaf, wanted))
        prec_without.append(_precision(without, leaf, wanted))
        report(progress, 0.1 + 0.9 * min(1.0, (s + len(rows)) / max(1, len(eligible))),
               f"with histories: {s + len(rows)}/{len(eligible)} users")

    def mean(parts) -> float:
        return round(float(np.concatenate(parts).mean()), 4) if parts else 0.0

    r_with, r_without = mean(hits_with), mean(hits_without)
    return {
        "model": kind,
        "categories": len(names),
        "min_items": min_items,
        "k": k,
        "beam": beam,
        "empty_history": empty,
        "with_history": {
            "users": int(len(eligible)),
            f"precision@{k}": mean(prec_with),
            f"precision@{k}_without_instruction": mean(prec_without),
            f"recall@{k}": r_with,
            f"recall@{k}_without_instruction": r_without,
            f"recall@{k}_change": round(r_with - r_without, 4),
        },
        "per_category": per_category,
        "seconds": round(time.perf_counter() - t0, 1),
    }
