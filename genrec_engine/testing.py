"""Fixtures for tests and benchmarks (not part of the application's API).

:func:`make_tiny_project` builds a small real project in seconds, so that tests of the app and the
CLI exercise the same code paths as the bundled project without its size.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from .data import load_dataset
from .jobs import CancelToken, ProgressFn, check_cancel
from .project import tokenize_dataset
from .quantize import QuantizerConfig

__all__ = ["make_tiny_project", "write_letter_fixture"]


def make_tiny_project(
    dataset_path: str | os.PathLike,
    out: str | os.PathLike,
    *,
    items: int = 400,
    users: int = 60,
    per_user: int = 6,
    levels: int = 2,
    codebook_size: int = 16,
    seed: int = 0,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> Path:
    """A small project for tests and benchmarks: the first ``items`` items of the dataset at
    ``dataset_path`` (real titles), ``users`` synthetic users with ``per_user`` random items each
    (seeded), structured-feature embeddings and a residual k-means tokenizer. The dataset is saved
    under ``out/dataset`` and the project under ``out/project``; returns the project folder."""
    from .data import Catalogue, Interactions, save_dataset

    out = Path(out)
    cat = load_dataset(dataset_path).catalogue
    small = Catalogue(cat.items.iloc[:items].reset_index(drop=True))
    rng = np.random.default_rng(seed)
    user_ids, item_ids = [], []
    for u in range(users):
        for it in rng.choice(small.item_ids, per_user, replace=False):
            user_ids.append(u + 1)
            item_ids.append(int(it))
    check_cancel(cancel)
    save_dataset(small, Interactions.from_arrays(small, user_ids, item_ids), out / "dataset")
    cfg = QuantizerConfig(method="rkmeans", levels=levels, codebook_size=codebook_size, seed=seed, device="cpu")
    if (out / "project").exists():
        shutil.rmtree(out / "project")
    tokenize_dataset(load_dataset(out / "dataset"), cfg, out / "project", encoder="structured",
                     progress=progress, cancel=cancel)
    return out / "project"



def write_letter_fixture(
    dataset_path: str | os.PathLike,
    out: str | os.PathLike,
    *,
    name: str = "Beauty",
    items: int = 300,
    users: int = 80,
    per_user: int = 7,
    sizes: tuple[int, ...] = (8, 16, 32),
    seed: int = 0,
) -> dict:
    """A catalogue in the LETTER / MiniOneRec layout, as another pipeline would hand it over.

    Writes into ``out``: ``<name>.item.json`` (the first ``items`` items of the dataset at
    ``dataset_path``, re-indexed from 0, real titles, brands and categories), MiniOneRec-style
    ``<name>.train.csv`` / ``.valid.csv`` / ``.test.csv`` (one row per prediction target of
    ``users`` seeded random sequences of ``per_user`` items: train holds every prefix up to the
    third-last item) and ``<name>.index.json`` (LETTER tokens; residual k-means on structured
    features with a codebook of ``sizes[l]`` codes at level l, so levels differ in size).
    Returns ``{"items", "users", "interactions", "rows", "sequences"}``."""
    import json

    import pandas as pd
    import torch

    from .data import Catalogue
    from .embed import StructuredEncoder
    from .quantize import kmeans

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cat = load_dataset(dataset_path).catalogue
    small = cat.items.iloc[:items].reset_index(drop=True)
    item_json = {str(i): {"title": str(r["title"]), "description": "", "brand": str(r.get("brand", "") or ""),
                          "categories": str(r.get("categories", "") or "")} for i, r in small.iterrows()}
    (out / f"{name}.item.json").write_text(json.dumps(item_json), encoding="utf-8")
    rng = np.random.default_rng(seed)
    seqs = {u: [int(i) for i in rng.choice(items, per_user, replace=False)] for u in range(users)}
    files: dict[str, list[dict]] = {"train": [], "valid": [], "test": []}
    for u, seq in seqs.items():
        for t in range(1, len(seq)):
            split = "train" if t < len(seq) - 2 else "valid" if t == len(seq) - 2 else "test"
            files[split].append({"user_id": u, "history_item_title": str([item_json[str(i)]["title"] for i in seq[:t]]),
                                 "item_title": item_json[str(seq[t])]["title"], "history_item_id": str(seq[:t]),
                                 "item_id": seq[t]})
    rows = sum(len(v) for v in files.values())
    for split, records in files.items():
        pd.DataFrame(records).to_csv(out / f"{name}.{split}.csv", index=False)
    X = torch.from_numpy(StructuredEncoder().encode(Catalogue(small)))
    codes, r = [], X
    for level, k in enumerate(sizes):
        res = kmeans(r, int(k), seed=seed + level)
        codes.append(res.labels.numpy())
        r = r - res.centroids[res.labels]
    codes = np.stack(codes, 1)
    index = {str(i): [f"<{chr(97 + l)}_{c}>" for l, c in enumerate(row)] for i, row in enumerate(codes.tolist())}
    (out / f"{name}.index.json").write_text(json.dumps(index), encoding="utf-8")
    return {"items": items, "users": users, "interactions": users * per_user, "rows": rows, "sequences": seqs}
