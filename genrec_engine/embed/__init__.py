"""Content encoders: ``encode(catalogue) -> np.ndarray [N, d]`` float32."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ConfigError
from .cache import cache_dir, content_key
from .structured import StructuredEncoder
from .text import MODEL_NAME, TextEncoder

__all__ = ["TextEncoder", "StructuredEncoder", "MODEL_NAME", "load_embeddings", "cache_dir", "content_key", "ENCODERS"]

ENCODERS = ("minilm", "structured", "npy")


def load_embeddings(path: str | Path, n_items: int | None = None) -> np.ndarray:
    """Precomputed embeddings from a ``.npy`` file, ``[N, d]`` float32; row i = item index i."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: embeddings file not found")
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not a readable .npy array: {exc}") from None
    if arr.ndim != 2:
        raise ConfigError(f"{path}: embeddings must be 2-D [items, dim], got shape {arr.shape}")
    if n_items is not None and arr.shape[0] != n_items:
        raise ConfigError(f"{path}: {arr.shape[0]} rows but the catalogue has {n_items} items")
    if not np.isfinite(arr).all():
        row = int(np.argwhere(~np.isfinite(arr))[0, 0])
        raise ConfigError(f"{path}: row {row} holds NaN or infinite values")
    return arr.astype(np.float32)
