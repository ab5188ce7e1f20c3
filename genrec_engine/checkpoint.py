"""Generator checkpoints: safetensors weights + JSON config in the file's metadata (no pickle).

The file format only; :mod:`genrec_engine.generators` knows where a project keeps its generators.

Loading refuses a file of another format version, a truncated file, or one trained for a
different SID table (item count or level sizes differ), each with a message that says which.
Weights may be stored in float16 (``storage="float16"``, half the bytes, for shipping); they are
widened back to the model's float32 when loaded.
"""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from .errors import ConfigError, ProjectFormatError
from .fileio import atomic_path
from .models import MODEL_CLASSES

__all__ = ["GENERATOR_FORMAT", "STORAGE_DTYPES", "save_generator", "load_generator", "read_generator_meta",
           "generator_classes", "storage_state"]

GENERATOR_FORMAT = "genrec-generator/1"
STORAGE_DTYPES = {"float32": torch.float32, "float16": torch.float16}


def generator_classes() -> dict:
    """Generator kind -> model class (``ran``, ``tiger``, ``sasrec``)."""
    return MODEL_CLASSES


def storage_state(model, storage: str = "float32") -> dict[str, torch.Tensor]:
    """The model's state dict on the CPU with floating-point tensors cast to ``storage``
    (integer buffers such as the SID table are kept as they are). Raises ConfigError naming the
    tensor when a weight does not fit the storage type."""
    if storage not in STORAGE_DTYPES:
        raise ConfigError(f"storage={storage!r}: expected one of {', '.join(STORAGE_DTYPES)}")
    dtype = STORAGE_DTYPES[storage]
    out = {}
    for k, v in model.state_dict().items():
        v = v.detach().cpu()
        if v.is_floating_point() and v.dtype != dtype:
            if v.numel() and dtype == torch.float16 and float(v.abs().max()) > torch.finfo(torch.float16).max:
                raise ConfigError(f"{k}: weights up to {float(v.abs().max()):.3g} do not fit float16; keep float32")
            v = v.to(dtype)
        out[k] = v.contiguous()
    return out


def save_generator(model, path: str | os.PathLike, extra: dict | None = None, *, storage: str = "float32") -> None:
    """Write ``model`` atomically: weights (floating point ones as ``storage``) plus its kind,
    config, SID table shape and ``extra`` as JSON metadata."""
    state = storage_state(model, storage)
    meta = {
        "format": GENERATOR_FORMAT,
        "kind": model.kind,
        "config": json.dumps(model.config.to_dict(), sort_keys=True),
        "level_sizes": json.dumps(list(model.level_sizes)),
        "n_items": str(model.n_items),
        "extra": json.dumps(extra or {}, sort_keys=True),
        "storage": storage,
    }
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=meta)


def read_generator_meta(path: str | os.PathLike) -> dict:
    """The checkpoint's metadata (kind, config, SID table shape, ``extra``, storage) without its
    weights; a missing, unreadable or foreign file raises ProjectFormatError saying which."""
    path = Path(path)
    if not path.is_file():
        raise ProjectFormatError(f"{path}: generator checkpoint not found")
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = dict(fh.metadata() or {})
    except (SafetensorError, OSError, ValueError) as exc:
        raise ProjectFormatError(f"{path}: not a readable safetensors file (truncated or corrupt?): {exc}") from None
    if meta.get("format") != GENERATOR_FORMAT:
        raise ProjectFormatError(f"{path}: generator format {meta.get('format')!r}, expected {GENERATOR_FORMAT!r}")
    meta["config"] = json.loads(meta["config"])
    meta["level_sizes"] = json.loads(meta["level_sizes"])
    meta["n_items"] = int(meta["n_items"])
    meta["extra"] = json.loads(meta.get("extra", "{}"))
    meta.setdefault("storage", "float32")
    return meta


def load_generator(path: str | os.PathLike, sid_codes: np.ndarray, level_sizes, *, device: str | torch.device = "cpu",
                   add_instruction: bool = False, extend: dict | None = None, **kwargs):
    """Rebuild a generator for the project's SID table ``sid_codes [N, D]`` and load its weights.

    ``add_instruction=True`` rebuilds it with an instruction token that the checkpoint lacks (its
    new weights stay freshly initialised): the start of instruction fine-tuning.
    ``extend`` switches on settings that add zero-initialised weights (the config class's
    ``ZERO_EXTENSIONS``, e.g. ``{"node_levels": 3}`` trie-node output vectors, TIGER's
    ``{"item_input": "codes+id"}``) in a generator saved without them, so it starts out giving
    exactly the saved model's outputs."""
    path = Path(path)
    meta = read_generator_meta(path)
    classes = generator_classes()
    if meta["kind"] not in classes:
        raise ProjectFormatError(f"{path}: unknown generator kind {meta['kind']!r}")
    if meta["n_items"] != len(sid_codes) or list(meta["level_sizes"]) != [int(k) for k in level_sizes]:
        raise ProjectFormatError(
            f"{path}: trained for {meta['n_items']} items with SID levels {meta['level_sizes']}, but the project has "
            f"{len(sid_codes)} items with levels {list(level_sizes)}; retrain with genrec train"
        )
    cls = classes[meta["kind"]]
    config = dict(meta["config"])
    adding = add_instruction and not config.get("instruction", False)
    if adding:
        if "instruction" not in {f.name for f in dataclasses.fields(cls.config_class)}:
            raise ProjectFormatError(f"{path}: a {meta['kind']} generator cannot take instructions")
        config["instruction"] = True
    allowed = getattr(cls.config_class, "ZERO_EXTENSIONS", {})
    added = []  # prefixes of the weights the extensions add
    for name, value in (extend or {}).items():
        if name not in allowed:
            raise ConfigError(f"{name}: cannot be added to a trained {meta['kind']} generator"
                              + (f" (only {', '.join(sorted(allowed))})" if allowed else ""))
        off, prefix = allowed[name]
        if value == config.get(name, off):
            continue  # already so
        if config.get(name, off) != off:
            raise ProjectFormatError(f"{path}: the generator already has {name}={config[name]!r}")
        config[name] = value
        added.append(prefix)
    model = cls(cls.config_class.from_dict(config), sid_codes, level_sizes, **kwargs)
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise ProjectFormatError(f"{path}: unreadable weights: {exc}") from None
    missing, unexpected = model.load_state_dict(state, strict=False)  # float16 storage is widened here
    if adding:
        missing = [k for k in missing if not k.startswith("instruct.")]
    missing = [k for k in missing if not k.startswith(tuple(added))] if added else missing
    if missing or unexpected:
        raise ProjectFormatError(f"{path}: weights do not fit the model (missing {missing[:3]}, unexpected {unexpected[:3]})")
    if "sids" in state and not torch.equal(state["sids"], torch.as_tensor(np.asarray(sid_codes), dtype=torch.long)):
        raise ProjectFormatError(
            f"{path}: trained for a different SID table than the project's (the tokenizer was refit since); "
            "retrain with genrec train"
        )
    model.to(device).eval()
    return model
