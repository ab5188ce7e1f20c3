"""Build, save and load tokenizers by method name. Saved as one safetensors file whose metadata
holds the JSON config and a format version (no pickle)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from ..errors import ProjectFormatError
from ..fileio import atomic_path
from .base import Quantizer
from .config import QuantizerConfig
from .gaoq import GAOQ
from .imported import ImportedCodebooks
from .rkmeans import ResidualKMeans
from .vae import RQVAE, ProductVQVAE

__all__ = ["build_quantizer", "save_quantizer", "load_quantizer", "TOKENIZER_FORMAT"]

TOKENIZER_FORMAT = "genrec-tokenizer/1"
_CLASSES = {c.method: c for c in (ResidualKMeans, RQVAE, ProductVQVAE, GAOQ, ImportedCodebooks)}


def build_quantizer(config: QuantizerConfig | None = None, **kwargs) -> Quantizer:
    """A fresh, unfitted tokenizer: ``build_quantizer(method="rqvae", levels=3)``."""
    config = config or QuantizerConfig(**kwargs)
    return _CLASSES[config.method](config)


def save_quantizer(q: Quantizer, path: str | os.PathLike) -> None:
    """Write ``q`` to ``path`` (safetensors, atomically)."""
    meta = {"format": TOKENIZER_FORMAT, "config": json.dumps(q.config.to_dict(), sort_keys=True)}
    with atomic_path(path) as tmp:
        save_file({k: v.contiguous() for k, v in q.state_tensors().items()}, str(tmp), metadata=meta)


def load_quantizer(path: str | os.PathLike, *, device: str | None = None) -> Quantizer:
    """Read a tokenizer saved by :func:`save_quantizer`; refuses other formats with a clear message."""
    path = Path(path)
    if not path.is_file():
        raise ProjectFormatError(f"{path}: tokenizer file not found")
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ProjectFormatError(f"{path}: not a readable safetensors file (truncated or corrupt?): {exc}") from None
    if meta.get("format") != TOKENIZER_FORMAT:
        raise ProjectFormatError(f"{path}: tokenizer format {meta.get('format')!r}, expected {TOKENIZER_FORMAT!r}")
    if "config" not in meta:
        raise ProjectFormatError(f"{path} [config]: missing from the tokenizer's header")
    try:
        cfg = json.loads(meta["config"])
        if not isinstance(cfg, dict):
            raise ValueError(f"expected an object, found {type(cfg).__name__}")
        if device is not None:
            cfg["device"] = device
        q = build_quantizer(QuantizerConfig.from_dict(cfg))
    except (ValueError, TypeError, KeyError) as exc:
        raise ProjectFormatError(f"{path} [config]: {exc}") from None
    try:
        q.load_state_tensors(tensors)
    except (KeyError, RuntimeError, ValueError) as exc:
        raise ProjectFormatError(f"{path}: the weights do not fit the tokenizer's config ({str(exc)[:200]})") from None
    for name, t in tensors.items():
        if t.is_floating_point() and t.numel() and not bool(torch.isfinite(t).all()):
            raise ProjectFormatError(f"{path} [{name}]: holds NaN or infinite values")
    return q
