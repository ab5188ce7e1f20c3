"""On-disk cache of item embeddings keyed by a hash of the encoder name and the exact texts."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ..fileio import atomic_path, user_cache_root

__all__ = ["cache_dir", "content_key", "load_cached", "store_cached"]


def cache_dir() -> Path:
    """``$GENREC_CACHE_DIR`` or ``~/.cache/genrec-explorer``; created on first use."""
    return user_cache_root() / "embeddings"


def content_key(model_name: str, texts: list[str]) -> str:
    """SHA-256 over the model name and every text (length-prefixed, so no two lists collide)."""
    h = hashlib.sha256(model_name.encode())
    for t in texts:
        b = t.encode("utf-8")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()[:32]


def load_cached(key: str, n: int) -> np.ndarray | None:
    path = cache_dir() / f"{key}.npy"
    if not path.is_file():
        return None
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None  # a damaged cache entry is simply recomputed
    return arr if arr.ndim == 2 and arr.shape[0] == n else None


def store_cached(key: str, arr: np.ndarray) -> None:
    with atomic_path(cache_dir() / f"{key}.npy") as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, arr, allow_pickle=False)
