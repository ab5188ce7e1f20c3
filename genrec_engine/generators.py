"""A project's generators: which kinds exist, where their files are, how to build or load one.

``generator-<kind>.safetensors`` beside ``project.json`` holds a trained generator (the format is
:mod:`genrec_engine.checkpoint`). :func:`load_project_generator` rebuilds one for the project's
SID table, fresh on every call; :meth:`genrec_engine.project.Project.generator` is the cached way
to ask for one (what decoding and the app's panels use). :func:`new_generator` builds an
untrained one (training, benchmarks).
"""
from __future__ import annotations

from pathlib import Path

import torch

from .checkpoint import load_generator
from .errors import ConfigError
from .models import MODEL_CLASSES

__all__ = ["KINDS", "model_class", "model_kwargs", "generator_path", "new_generator", "load_project_generator"]

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


def new_generator(project, kind: str, config=None):
    """An untrained ``kind`` generator for the project's SID table, on the CPU. ``config``: the
    kind's config object, a dict of settings (the rest default), or None (all defaults)."""
    cls = model_class(kind)
    if config is None or isinstance(config, dict):
        config = cls.config_class.from_dict(config or {})
    return cls(config, project.sids.codes, project.sids.level_sizes, **model_kwargs(project, kind))


def load_project_generator(project, kind: str, device: str | torch.device = "cpu", *, add_instruction: bool = False,
                           extend: dict | None = None):
    """The project's trained ``kind`` generator, on ``device``, in eval mode: a fresh copy on
    every call (the caller may change it, e.g. train it further). ``add_instruction``,
    ``extend``: see :func:`~genrec_engine.checkpoint.load_generator`. A missing or unusable file
    raises ProjectFormatError; an unknown kind ConfigError."""
    model_class(kind)
    return load_generator(generator_path(project, kind), project.sids.codes, project.sids.level_sizes, device=device,
                          add_instruction=add_instruction, extend=extend, **model_kwargs(project, kind))
