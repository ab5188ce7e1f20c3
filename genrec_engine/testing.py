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

__all__ = ["make_tiny_project"]


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

