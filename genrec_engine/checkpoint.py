"""Generator checkpoints: safetensors weights + JSON config in the file's metadata (no pickle).

The file format only; :mod:`genrec_engine.generators` knows where a project keeps its generators.

Loading refuses, each with a message that names the file and what is wrong: a file of another
format version; a truncated one; a header without its keys or with bad JSON; a file of another kind
than asked for (renamed); one trained for a different SID table (item count or level sizes differ)
or, when the header carries its ``trained_on`` fingerprint, on another catalogue split or SID
table; a config whose weights would not match the tensors in the file (checked on PyTorch's
"meta" device before anything is allocated); and non-finite weights.
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
from .models.shell import meta_shell

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


def save_generator(model, path: str | os.PathLike, extra: dict | None = None, *, storage: str = "float32",
                   trained_on: dict | None = None) -> None:
    """Write ``model`` atomically: weights (floating point ones as ``storage``) plus its kind,
    config, SID table shape, ``extra`` and ``trained_on`` (what it was trained on, see
    :func:`genrec_engine.generators.provenance`) as JSON metadata."""
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
    if trained_on:
        meta["trained_on"] = json.dumps(trained_on, sort_keys=True)
    with atomic_path(path) as tmp:
        try:
            save_file(state, str(tmp), metadata=meta)
        except SafetensorError as exc:  # e.g. a full disk
            raise OSError(0, f"could not write the checkpoint ({exc})", str(path)) from None


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
    for key, default, kind in (("kind", None, str), ("config", None, dict), ("level_sizes", None, list),
                               ("n_items", None, int), ("extra", "{}", dict), ("trained_on", "{}", dict)):
        raw = meta.get(key, default)
        if raw is None:
            raise ProjectFormatError(f"{path} [{key}]: missing from the checkpoint's header")
        try:
            value = raw if kind is str else json.loads(raw)
        except ValueError as exc:
            raise ProjectFormatError(f"{path} [{key}]: not valid JSON ({exc})") from None
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ProjectFormatError(f"{path} [{key}]: expected {kind.__name__}, found {str(raw)[:40]!r}")
        meta[key] = value
    if any(not isinstance(k, int) or k < 1 for k in meta["level_sizes"]) or meta["n_items"] < 1:
        raise ProjectFormatError(f"{path} [level_sizes]: not a list of positive sizes, or no items")
    meta.setdefault("storage", "float32")
    return meta


def _check_shapes(path: Path, cls, config, sid_codes, level_sizes, kwargs) -> None:
    """Build the model on PyTorch's "meta" device (no memory) and refuse a config whose weights
    would not match the tensors stored in the file, before the real model is allocated."""
    try:
        shell = meta_shell(cls, config, sid_codes, level_sizes, **kwargs)
    except (ConfigError, ValueError, TypeError) as exc:
        raise ProjectFormatError(f"{path} [config]: {exc}") from None
    except Exception:  # noqa: BLE001 - a constructor that needs real data: fall back to the load-time check
        return
    expected = {k: tuple(v.shape) for k, v in shell.state_dict().items()}
    try:
        with safe_open(str(path), framework="pt") as fh:
            stored = {k: tuple(fh.get_slice(k).get_shape()) for k in fh.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise ProjectFormatError(f"{path}: unreadable weights: {exc}") from None
    for k, shape in stored.items():
        if k in expected and expected[k] != shape:
            raise ProjectFormatError(f"{path} [config]: the config asks for {k} of shape {list(expected[k])}, the "
                                     f"file holds {list(shape)}")


def load_generator(path: str | os.PathLike, sid_codes: np.ndarray, level_sizes, *, device: str | torch.device = "cpu",
                   add_instruction: bool = False, extend: dict | None = None, kind: str | None = None,
                   trained_on: dict | None = None, **kwargs):
    """Rebuild a generator for the project's SID table ``sid_codes [N, D]`` and load its weights.

    ``add_instruction=True`` rebuilds it with an instruction token that the checkpoint lacks (its
    new weights stay freshly initialised): the start of instruction fine-tuning.
    ``extend`` switches on settings that add zero-initialised weights (the config class's
    ``ZERO_EXTENSIONS``, e.g. ``{"node_levels": 3}`` trie-node output vectors, TIGER's
    ``{"item_input": "codes+id"}``) in a generator saved without them, so it starts out giving
    exactly the saved model's outputs.

    ``kind``: the kind the caller expects (a file of another kind is refused); ``trained_on``:
    the project's fingerprints (:func:`genrec_engine.generators.provenance`), compared with the
    file's where it records them."""
    path = Path(path)
    meta = read_generator_meta(path)
    classes = generator_classes()
    if meta["kind"] not in classes:
        raise ProjectFormatError(f"{path} [kind]: unknown generator kind {meta['kind']!r}")
    if kind is not None and meta["kind"] != kind:
        raise ProjectFormatError(f"{path} [kind]: holds a {meta['kind']} generator, not a {kind} one (renamed?)")
    mine = meta["trained_on"]
    for key, what in (("split_sha256", "catalogue and interactions"), ("sids_sha256", "SID table")):
        if trained_on and mine.get(key) and trained_on.get(key) and mine[key] != trained_on[key]:
            raise ProjectFormatError(f"{path} [trained_on.{key}]: trained on another {what} than this project's; "
                                     "retrain it here with genrec train")
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
    try:
        cfg = cls.config_class.from_dict(config)
    except (TypeError, ValueError) as exc:
        raise ProjectFormatError(f"{path} [config]: {exc}") from None
    _check_shapes(path, cls, cfg, sid_codes, level_sizes, kwargs)
    model = cls(cfg, sid_codes, level_sizes, **kwargs)
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
    for k, v in state.items():
        if v.is_floating_point() and v.numel() and not bool(torch.isfinite(v).all()):
            raise ProjectFormatError(f"{path} [{k}]: holds NaN or infinite weights (a diverged run?); retrain it")
    model.to(device).eval()
    return model
