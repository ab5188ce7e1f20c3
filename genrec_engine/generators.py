"""A project's generators: which kinds exist, where their files are, how to build or load one.

``generator-<kind>.safetensors`` beside ``project.json`` holds a trained generator (the format is
:mod:`genrec_engine.checkpoint`). :func:`load_project_generator` rebuilds one for the project's
SID table, fresh on every call; :meth:`genrec_engine.project.Project.generator` is the cached way
to ask for one (what decoding and the app's panels use). :func:`new_generator` builds an
untrained one (training, benchmarks).
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from .checkpoint import load_generator, read_generator_meta
from .errors import ConfigError
from .fileio import read_json
from .models import MODEL_CLASSES
from .models.shell import meta_shell

__all__ = ["KINDS", "model_class", "model_kwargs", "generator_path", "new_generator", "load_project_generator",
           "provenance", "save_project_generator"]

KINDS = ("ran", "tiger", "sasrec")


def model_class(kind: str):
    """The model class of generator ``kind``; an unknown kind raises ConfigError naming the known ones."""
    if kind not in MODEL_CLASSES:
        raise ConfigError(f"model={kind!r}: expected one of {', '.join(sorted(MODEL_CLASSES))}")
    return MODEL_CLASSES[kind]


def model_kwargs(project, kind: str) -> dict:
    """Constructor inputs beyond the config and the SID table: TIGER-style takes the tokenizer's
    codebooks (frozen DECOR vectors for the quantizer levels) and the item embeddings."""
    if kind == "tiger":
        return {"item_embeddings": project.embeddings, "codebooks": project.tokenizer.codebooks}
    return {}


def generator_path(project, kind: str) -> Path:
    """Where the project keeps its trained ``kind`` generator (the file may not exist yet)."""
    return Path(project.path) / f"generator-{kind}.safetensors"


def provenance(project, kind: str | None = None) -> dict:
    """What a generator trained on ``project`` was trained on, saved in its checkpoint header and
    compared when it is loaded: the SHA-256 of the catalogue's interaction split (all kinds) and,
    for the SID-based kinds, of the SID table (SASRec scores item ids, not SIDs, so re-tokenizing
    leaves it valid)."""
    out = {"split_sha256": project.split_sha256}
    if kind != "sasrec":
        out["sids_sha256"] = project.sids_sha256
    return out


def save_project_generator(project, kind: str, model, *, extra: dict | None = None, storage: str = "float32") -> Path:
    """Put ``model`` into the project as its ``kind`` generator, stamped with what it was trained
    on and recorded in ``project.json``, as one transaction (the API way to add a generator made
    outside ``genrec train``). Returns the file's path."""
    from .checkpoint import save_generator
    from .txn import project_change

    path = generator_path(project, kind)
    with project_change(project.path, f"save the {kind} generator") as change:
        save_generator(model, change.path(path.name), extra=extra, storage=storage,
                       trained_on=provenance(project, kind))
    project.meta = read_json(Path(project.path) / "project.json")
    return path


def new_generator(project, kind: str, config=None):
    """An untrained ``kind`` generator for the project's SID table, on the CPU. ``config``: the
    kind's config object, a dict of settings (the rest default), or None (all defaults)."""
    cls = model_class(kind)
    if config is None or isinstance(config, dict):
        config = cls.config_class.from_dict(config or {})
    kwargs = model_kwargs(project, kind)
    _check_size(kind, cls, config, project, kwargs)
    return cls(config, project.sids.codes, project.sids.level_sizes, **kwargs)


def _machine_bytes() -> int | None:
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None


def _check_size(kind: str, cls, config, project, kwargs) -> None:
    """Count the parameters of ``config`` on PyTorch's "meta" device (no memory) and refuse one
    whose training (weights, gradients and two Adam moments: 16 bytes each) would not fit in this
    machine's memory."""
    try:
        shell = meta_shell(cls, config, project.sids.codes, project.sids.level_sizes, **kwargs)
    except ConfigError:
        raise
    except Exception:  # noqa: BLE001 - a constructor that needs real data: the real build will tell
        return
    params = sum(p.numel() for p in shell.parameters())
    total = _machine_bytes()
    if total and 16 * params > 0.8 * total:
        raise ConfigError(f"{kind} config: {params:,} parameters need about {16 * params / 2**30:,.1f} GiB to train, "
                          f"more than this machine's {total / 2**30:,.0f} GiB; lower d_model, n_layers or the like")


def load_project_generator(project, kind: str, device: str | torch.device = "cpu", *, add_instruction: bool = False,
                           extend: dict | None = None):
    """The project's trained ``kind`` generator, on ``device``, in eval mode: a fresh copy on
    every call (the caller may change it, e.g. train it further). ``add_instruction``,
    ``extend``: see :func:`~genrec_engine.checkpoint.load_generator`. A missing or unusable file
    raises ProjectFormatError; an unknown kind ConfigError."""
    from .project import check_recorded_size

    model_class(kind)
    path = generator_path(project, kind)
    trained_on = None
    if path.is_file():
        manifest = Path(project.path) / "project.json"  # as on disk now: a writer may have changed it since open
        meta = read_json(manifest) if manifest.is_file() else project.meta
        header = read_generator_meta(path)
        if path.name in meta.get("files", {}) or not header["trained_on"]:
            check_recorded_size(Path(project.path), meta, [path.name])
        # else: put there by other means, but its header says what it was trained on: checked below
        if header["trained_on"]:  # only then compute ours (files from before fingerprints record none)
            trained_on = provenance(project, kind)
    return load_generator(path, project.sids.codes, project.sids.level_sizes, device=device,
                          add_instruction=add_instruction, extend=extend, kind=kind,
                          trained_on=trained_on, **model_kwargs(project, kind))
