"""Cold-start protocol: a seeded share of items held out of tokenizer fitting and generator training.

The held-out ("cold") items keep their catalogue rows and content embeddings, and get SIDs from
the tokenizer fitted on the other ("warm") items. They are left out of the project's trie, and
their interactions leave every training sequence and every history: they appear only as
validation/test targets. So a generative model has never seen them, which is the situation of a
new item in a live catalogue.
"""
from __future__ import annotations

import numpy as np

from ..data import project_split, split_without_cold
from ..errors import ConfigError
from ..jobs import CancelToken, ProgressFn

__all__ = ["choose_cold_items", "apply_cold_holdout", "project_split", "split_without_cold"]


def choose_cold_items(n_items: int, fraction: float, seed: int = 0) -> np.ndarray:
    """Seeded random ``round(fraction * n_items)`` item indices (sorted), at least one."""
    if not 0 < float(fraction) < 1:
        raise ConfigError(f"--cold-holdout {fraction}: must be a fraction in (0, 1)")
    k = max(1, int(round(float(fraction) * n_items)))
    return np.sort(np.random.default_rng(int(seed)).choice(n_items, size=k, replace=False)).astype(np.int64)


def apply_cold_holdout(project, fraction: float, seed: int = 0, *, progress: ProgressFn | None = None,
                       cancel: CancelToken | None = None):
    """Make ``project`` a cold-start project in place: re-fit its tokenizer (same config, same
    embeddings) on the warm items only, re-encode every item and record the cold items. Returns the
    re-opened project; a project that already holds out the same share with the same seed is
    returned as it is. Generators trained before on this folder no longer match its SID table (they
    refuse to load) and must be retrained."""
    from ..project import Project, tokenize_dataset

    have = project.meta.get("cold")
    if have is not None:
        if abs(have["fraction"] - float(fraction)) < 1e-12 and have["seed"] == int(seed):
            return project
        raise ConfigError(f"{project.path}: already holds out {have['fraction']} of the items (seed {have['seed']}); "
                          "make a new project for a different hold-out")
    cold = choose_cold_items(project.sids.n_items, fraction, seed)
    tokenize_dataset(project.dataset, project.tokenizer_config, project.path, embeddings=project.embeddings,
                     cold={"fraction": float(fraction), "seed": int(seed), "indices": cold},
                     progress=progress, cancel=cancel)
    reopened = Project.open(project.path)
    reopened.meta["encoder"] = project.meta.get("encoder", reopened.meta.get("encoder"))
    reopened.attach_dataset(project.dataset)
    reopened.save()
    return reopened
