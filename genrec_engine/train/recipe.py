"""Training recipes as data: how a generator is built, stage by stage.

A bundled generator is rarely one ``genrec train`` run: the RAN is trained, then fine-tuned with an
instruction token; the TIGER-style went on through four runs, each adding something. A
:class:`Recipe` writes such a sequence down so that ``genrec repro --recipe FILE`` can run it again
under other seeds. The file (``resources/recipes/*.json`` holds the bundled generators' own)::

    {"format": "genrec-recipe/1", "model": "ran", "about": "what it is",
     "stages": [
       {"model_config": {"item_input": "codes+id", "node_levels": 3},
        "train": {"epochs": 150, "max_minutes": 95, "eval_every": 3, "patience": 6}},
       {"model_config": {"instruction": true},
        "train": {"epochs": 30, "eval_every": 10, "lr": 0.0007, "keep": "last"}}]}

The first stage starts from fresh weights with ``model_config`` as the model's settings (defaults
for the rest). Every later stage continues the one before it as ``genrec train --resume`` does:
its ``model_config`` may only add what resuming can add (``{"instruction": true}``, the
zero-initialised extensions such as ``{"node_levels": 3}``); its starting weights are validated
first and kept unless training beats them. ``train`` holds :class:`~genrec_engine.train.loop.
TrainConfig` fields (all but ``seed``, which the run gives). ``note`` (any stage) and ``about`` are
free text. A ``max_minutes`` budget depends on the machine and its load (on a faster one the epoch
counts decide), so a recipe that writes down a run cut by one gives ``stop_after``, the epochs the
cut came to, instead: the same training everywhere.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from ..generators import KINDS
from .loop import TrainConfig

__all__ = ["Recipe", "RecipeStage", "RECIPE_FORMAT", "load_recipe"]

RECIPE_FORMAT = "genrec-recipe/1"
_TRAIN_FIELDS = tuple(f.name for f in dataclasses.fields(TrainConfig) if f.name != "seed")


@dataclass(frozen=True)
class RecipeStage:
    model_config: dict
    train: dict
    note: str = ""

    def train_config(self, seed: int) -> TrainConfig:
        return TrainConfig(**self.train, seed=seed)

    def to_dict(self) -> dict:
        out = {"model_config": self.model_config, "train": self.train}
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True)
class Recipe:
    model: str
    stages: tuple[RecipeStage, ...]
    about: str = ""
    source: str = ""  # the file it was read from, if any

    def to_dict(self) -> dict:
        out = {"format": RECIPE_FORMAT, "model": self.model, "stages": [s.to_dict() for s in self.stages]}
        if self.about:
            out["about"] = self.about
        return out

    def key(self) -> str:
        """A short digest of what the recipe trains (model and stages, not the notes): runs of
        equal keys are the same recipe."""
        body = {"model": self.model, "stages": [{"model_config": s.model_config, "train": s.train}
                                                 for s in self.stages]}
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]

    @classmethod
    def one_stage(cls, model: str, model_config: dict | None, train_config: TrainConfig | None) -> "Recipe":
        """The recipe of one ``genrec train`` run (``train_config``'s seed is not part of it)."""
        tcfg = (train_config or TrainConfig()).to_dict()
        train = {k: tcfg[k] for k in _TRAIN_FIELDS if tcfg[k] != getattr(TrainConfig, k, None)}
        return cls.from_dict({"model": model, "stages": [{"model_config": dict(model_config or {}), "train": train}]})

    @classmethod
    def from_dict(cls, obj, where: str = "recipe") -> "Recipe":
        """Check ``obj`` (the parsed file) and build the recipe; a wrong part raises ConfigError
        naming ``where`` and the field (``stages[1].train.lr``)."""

        def bad(field: str, message: str):
            return ConfigError(f"{where} [{field}]: {message}")

        if not isinstance(obj, dict):
            raise bad("(top)", f"expected a JSON object, got {type(obj).__name__}")
        unknown = sorted(set(obj) - {"format", "model", "stages", "about"})
        if unknown:
            raise bad(unknown[0], "unknown field (expected format, model, stages, about)")
        if obj.get("format", RECIPE_FORMAT) != RECIPE_FORMAT:
            raise bad("format", f"{obj['format']!r}: this version reads {RECIPE_FORMAT!r}")
        model = obj.get("model")
        if model not in KINDS:
            raise bad("model", f"{model!r}: expected one of {', '.join(KINDS)}")
        stages = obj.get("stages")
        if not isinstance(stages, list) or not stages:
            raise bad("stages", "expected a non-empty list of stages")
        out = []
        for i, st in enumerate(stages):
            at = f"stages[{i}]"
            if not isinstance(st, dict):
                raise bad(at, f"expected an object, got {type(st).__name__}")
            unknown = sorted(set(st) - {"model_config", "train", "note"})
            if unknown:
                raise bad(f"{at}.{unknown[0]}", "unknown field (expected model_config, train, note)")
            mc, train = st.get("model_config", {}), st.get("train", {})
            if not isinstance(mc, dict):
                raise bad(f"{at}.model_config", "expected an object")
            if not isinstance(train, dict):
                raise bad(f"{at}.train", "expected an object")
            for k in train:
                if k not in _TRAIN_FIELDS:
                    raise bad(f"{at}.train.{k}", f"unknown training setting (expected one of {', '.join(_TRAIN_FIELDS)})")
            try:
                TrainConfig(**train)
            except (ConfigError, TypeError) as exc:
                raise bad(f"{at}.train", str(exc)) from None
            out.append(RecipeStage(model_config=dict(mc), train=dict(train), note=str(st.get("note", ""))))
        if out[0].model_config.get("instruction") and model == "sasrec":
            raise bad("stages[0].model_config.instruction", "sasrec scores item ids and cannot take an instruction token")
        return cls(model=model, stages=tuple(out), about=str(obj.get("about", "")))


def load_recipe(path: str | Path) -> Recipe:
    """Read a recipe file; an unreadable file, bad JSON or a wrong field raises ConfigError naming
    the file and the line or field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the recipe ({exc.strerror or exc})") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg}, column {exc.colno})") from None
    return dataclasses.replace(Recipe.from_dict(obj, where=str(path)), source=str(path))
