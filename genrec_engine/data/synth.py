"""A realistic synthetic catalogue at any size: ``genrec data synth OUT --items N --users U``.

Built to measure the explorer at 10^5-10^7 items, where no public dataset is at hand:

- **A category tree** (top > sub > leaf: 8 x 6 x 5 = 240 leaves, pronounceable names), each leaf
  with its own vocabulary of 24 words; **brands** that sell in one to three top categories.
- **Items**: a leaf (leaf sizes follow a Zipf law), a brand of its top category, a title of the
  brand, three to five leaf words and a model number; a content **embedding** (``embeddings.npy``,
  float16, ``[N, dim]``, row i = item i) that is the sum of its top, sub and leaf directions, its
  brand's, and noise, so a tokenizer finds the hierarchy without a text encoder.
- **Popularity** follows a power law (an item's weight ~ rank^-0.9 in a random order).
- **Users** hold two or three interests (leaves); a sequence of at least 5 items moves between
  them (stay with probability 0.75), picking items by popularity, without repeats.
- **5-core** like Beauty: every user has at least 5 interactions, and every item gets at least 5
  (items left short are given to users who share their leaf, at a random place in their sequence).

Everything is vectorised NumPy, seeded and deterministic; 1M items and 2M users take minutes and
a few GB. The folder is a normal dataset folder (``items.parquet`` with item_id, title, brand,
categories; ``interactions.parquet`` with user_id, item_id, position) plus ``embeddings.npy`` and
``synth.json`` (the parameters and the counts).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..fileio import atomic_path, write_json_atomic
from ..jobs import CancelToken, ProgressFn, check_cancel, report

__all__ = ["synth_dataset", "TREE_SHAPE"]

TREE_SHAPE = (8, 6, 5)  # top categories, subcategories per top, leaves per subcategory
WORDS_PER_LEAF = 24
MIN_COUNT = 5  # the k of the k-core, users and items
STAY = 0.75  # probability that the next item is from the same interest

_SYLLABLES = ("ka", "lo", "mi", "ra", "te", "su", "no", "vi", "pe", "da", "zu", "ri", "an", "el", "or", "us",
              "ba", "ce", "fi", "go", "hu", "ja", "ky", "ma", "ne", "po", "qu", "sa", "ti", "wo", "xe", "yo")


def _words(rng: np.random.Generator, n: int, syllables: tuple[int, int] = (2, 3)) -> list[str]:
    """``n`` distinct pronounceable words."""
    out: dict[str, None] = {}
    while len(out) < n:
        k = int(rng.integers(syllables[0], syllables[1] + 1))
        out.setdefault("".join(_SYLLABLES[int(i)] for i in rng.integers(0, len(_SYLLABLES), k)), None)
    return list(out)


def _unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def synth_dataset(out: str | Path, *, items: int, users: int, seed: int = 0, dim: int = 64,
                  progress: ProgressFn | None = None, cancel: CancelToken | None = None) -> dict:
    """Write a synthetic dataset folder at ``out`` (see the module docstring); returns its summary
    ``{"items", "users", "interactions", "leaves", "brands", "seconds", ...}``."""
    t0 = time.perf_counter()
    if isinstance(items, bool) or not isinstance(items, (int, np.integer)) or items < 10:
        raise ConfigError(f"--items {items!r}: at least 10")
    if isinstance(users, bool) or not isinstance(users, (int, np.integer)) or users < 2:
        raise ConfigError(f"--users {users!r}: at least 2")
    if not isinstance(dim, (int, np.integer)) or not 8 <= dim <= 1024:
        raise ConfigError(f"dim={dim!r}: from 8 to 1024")
    n, u = int(items), int(users)
    rng = np.random.default_rng(seed)
    out = Path(out)

    # ---- the category tree, brands and their vectors ----
    report(progress, 0.0, "category tree")
    n_top, n_sub, n_leaf = TREE_SHAPE
    names = _words(rng, n_top + n_top * n_sub + n_top * n_sub * n_leaf, (2, 3))
    top_names = [w.capitalize() for w in names[:n_top]]
    sub_names = [w.capitalize() for w in names[n_top:n_top + n_top * n_sub]]
    leaf_names = [w.capitalize() for w in names[n_top + n_top * n_sub:]]
    n_leaves = len(leaf_names)
    leaf_top = np.arange(n_leaves) // (n_sub * n_leaf)
    leaf_sub = np.arange(n_leaves) // n_leaf
    leaf_path = [f"{top_names[leaf_top[l]]} > {sub_names[leaf_sub[l]]} > {leaf_names[l]}" for l in range(n_leaves)]
    vocab = np.array(_words(rng, n_leaves * WORDS_PER_LEAF, (2, 4)), dtype=object).reshape(n_leaves, WORDS_PER_LEAF)
    n_brands = int(np.clip(n // 200, 20, 20_000))
    brand_names = np.array([w.capitalize() for w in _words(rng, n_brands, (2, 3))], dtype=object)
    brand_tops = [rng.choice(n_top, size=int(rng.integers(1, 4)), replace=False) for _ in range(n_brands)]
    brands_of_top = [np.array([b for b in range(n_brands) if t in brand_tops[b]] or [t % n_brands]) for t in range(n_top)]
    top_v, sub_v, leaf_v, brand_v = (_unit(rng, k, dim) for k in (n_top, n_top * n_sub, n_leaves, n_brands))
    check_cancel(cancel)

    # ---- items: leaf (Zipf over leaves), brand, title, embedding, popularity ----
    report(progress, 0.05, f"{n:,} items")
    leaf_weight = 1.0 / np.arange(1, n_leaves + 1) ** 0.8
    leaf_weight = leaf_weight[rng.permutation(n_leaves)]
    leaf = rng.choice(n_leaves, size=n, p=leaf_weight / leaf_weight.sum())
    leaf = np.sort(leaf)  # items grouped by leaf (item ids are shuffled below): per-leaf sampling is a slice
    top = leaf_top[leaf]
    brand = np.empty(n, dtype=np.int64)
    for t in range(n_top):
        rows = np.flatnonzero(top == t)
        brand[rows] = rng.choice(brands_of_top[t], size=len(rows))
    n_words = rng.integers(3, 6, size=n)
    picks = rng.integers(0, WORDS_PER_LEAF, size=(n, 5))
    words = vocab[leaf[:, None], picks]
    model_no = rng.integers(100, 10_000, size=n)
    titles = np.array([" ".join([brand_names[brand[i]], *words[i, : n_words[i]], f"{model_no[i]}"]) for i in range(n)],
                      dtype=object)
    check_cancel(cancel)
    report(progress, 0.2, "embeddings")
    emb = np.empty((n, dim), dtype=np.float16)
    for s in range(0, n, 200_000):  # in blocks: [n, dim] float32 at 10^7 items would be 2.5 GB
        e = slice(s, min(n, s + 200_000))
        block = (1.0 * top_v[top[e]] + 0.8 * sub_v[leaf_sub[leaf[e]]] + 0.6 * leaf_v[leaf[e]]
                 + 0.35 * brand_v[brand[e]]
                 + 0.45 / np.sqrt(dim) * rng.standard_normal((e.stop - e.start, dim)).astype(np.float32))
        emb[e] = (block / np.linalg.norm(block, axis=1, keepdims=True)).astype(np.float16)
    popularity = (1.0 / (rng.permutation(n) + 1.0) ** 0.9).astype(np.float64)
    starts = np.searchsorted(leaf, np.arange(n_leaves + 1))  # items of leaf l: starts[l]:starts[l + 1]
    cum = np.empty(n, dtype=np.float64)  # per leaf, cumulative popularity scaled to [l, l + 1)
    for l in range(n_leaves):
        a, b = starts[l], starts[l + 1]
        if b > a:
            c = np.cumsum(popularity[a:b])
            cum[a:b] = l + c / c[-1] * (1 - 1e-12)
    live_leaves = np.flatnonzero(np.diff(starts) > 0)
    check_cancel(cancel)

    # ---- users: interests, sequences that drift between them ----
    report(progress, 0.35, f"{u:,} users")
    leaf_pop = np.bincount(leaf, weights=popularity, minlength=n_leaves)[live_leaves]
    n_interests = rng.integers(2, 4, size=u)
    interests = live_leaves[rng.choice(len(live_leaves), size=(u, 3), p=leaf_pop / leaf_pop.sum())]
    lengths = MIN_COUNT + 1 + np.minimum(rng.geometric(0.25, size=u) - 1, 45)  # >= 6: room for dropped repeats
    steps = int(lengths.max())
    current = rng.integers(0, n_interests)
    seq_user, seq_item, seq_pos = [], [], []
    for t in range(steps):
        check_cancel(cancel)
        alive = np.flatnonzero(lengths > t)
        switch = rng.random(len(alive)) > STAY
        current[alive[switch]] = rng.integers(0, n_interests[alive[switch]])
        lv = interests[alive, current[alive]]
        pos = np.searchsorted(cum, lv + rng.random(len(alive)), side="right")
        pos = np.clip(pos, starts[lv], starts[lv + 1] - 1)
        seq_user.append(alive)
        seq_item.append(pos)
        seq_pos.append(np.full(len(alive), t, dtype=np.int64))
        report(progress, 0.35 + 0.35 * (t + 1) / steps, f"sequences: step {t + 1}/{steps}")
    frame = pd.DataFrame({"user": np.concatenate(seq_user), "item": np.concatenate(seq_item),
                          "position": np.concatenate(seq_pos)})
    frame = frame.drop_duplicates(["user", "item"], keep="first")  # no repeats, like Beauty
    for extra_round in range(8):  # users whose repeats left them short draw more from their interests
        counts = np.bincount(frame["user"].to_numpy(), minlength=u)
        short = np.flatnonzero(counts < MIN_COUNT + 1)
        if not len(short):
            break
        lv = interests[short, rng.integers(0, n_interests[short])]
        pos = np.clip(np.searchsorted(cum, lv + rng.random(len(short)), side="right"), starts[lv], starts[lv + 1] - 1)
        more = pd.DataFrame({"user": short, "item": pos, "position": steps + extra_round})
        frame = pd.concat([frame, more], ignore_index=True).drop_duplicates(["user", "item"], keep="first")

    # ---- 5-core: drop short users, then give short items to users of their leaf ----
    report(progress, 0.75, "5-core")
    counts = frame["user"].value_counts()
    frame = frame[frame["user"].isin(counts.index[counts >= MIN_COUNT])]
    users_of_leaf = [[] for _ in range(n_leaves)]
    keep_users = np.unique(frame["user"].to_numpy())
    for k in range(3):
        col = interests[keep_users, k]
        for l in np.unique(col):
            users_of_leaf[l].append(keep_users[col == l])
    users_of_leaf = [np.unique(np.concatenate(x)) if x else np.zeros(0, np.int64) for x in users_of_leaf]
    for attempt in range(40):
        check_cancel(cancel)
        have = np.bincount(frame["item"].to_numpy(), minlength=n)
        short = np.flatnonzero(have < MIN_COUNT)
        if not len(short):
            break
        need = MIN_COUNT - have[short]
        rows_item = np.repeat(short, need)
        # users who share the item's leaf first; any user once those are used up (small leaves)
        cand = [users_of_leaf[l] if len(users_of_leaf[l]) > 2 * MIN_COUNT and attempt < 5 else keep_users
                for l in leaf[rows_item]]
        rows_user = np.array([c[int(rng.integers(0, len(c)))] for c in cand], dtype=np.int64)
        extra = pd.DataFrame({"user": rows_user, "item": rows_item,
                              "position": rng.random(len(rows_item)) * 50})  # a random place in the sequence
        frame = pd.concat([frame, extra], ignore_index=True).drop_duplicates(["user", "item"], keep="first")
    have = np.bincount(frame["item"].to_numpy(), minlength=n)
    frame = frame.sort_values(["user", "position"], kind="stable")
    frame["position"] = frame.groupby("user").cumcount().astype(np.int64)

    # ---- write: ids shuffled so item ids do not reveal the leaf order ----
    report(progress, 0.85, "writing")
    item_ids = rng.permutation(n).astype(np.int64) + 1
    user_ids = np.arange(u, dtype=np.int64) + 1
    out.mkdir(parents=True, exist_ok=True)
    order = np.argsort(item_ids)  # rows written in item-id order; embeddings follow the same order
    items_frame = pd.DataFrame({"item_id": item_ids[order], "title": titles[order],
                                "brand": brand_names[brand[order]],
                                "categories": np.array(leaf_path, dtype=object)[leaf[order]]})
    inter = pd.DataFrame({"user_id": user_ids[frame["user"].to_numpy()], "item_id": item_ids[frame["item"].to_numpy()],
                          "position": frame["position"].to_numpy()})
    with atomic_path(out / "items.parquet") as tmp:
        items_frame.to_parquet(tmp, index=False)
    with atomic_path(out / "interactions.parquet") as tmp:
        inter.to_parquet(tmp, index=False)
    with atomic_path(out / "embeddings.npy") as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, emb[order], allow_pickle=False)
    summary = {"items": n, "users": int(inter["user_id"].nunique()), "interactions": int(len(inter)),
               "leaves": n_leaves, "brands": n_brands, "dim": int(dim), "seed": int(seed),
               "min_item_count": int(have.min()), "min_user_count": int(inter["user_id"].value_counts().min()),
               "users_requested": u, "seconds": round(time.perf_counter() - t0, 2)}
    write_json_atomic(out / "synth.json", summary)
    report(progress, 1.0, "synthetic dataset written")
    return summary
