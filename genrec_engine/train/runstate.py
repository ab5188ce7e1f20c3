"""A training run's state on disk, so that a stopped run goes on where it stopped.

A TIGER-style stage on a 2-core CPU takes hours; a run killed with its process (a session that
ends, a machine that reboots) used to start that stage again from its first epoch.
:func:`~genrec_engine.train.loop.fit` given a :class:`RunState` writes, after every epoch, all that
the next epoch depends on into one safetensors file (written atomically): the weights, the best
weights so far, AdamW's moments, the schedule's step, both random streams (batch order and
dropout) and the history, early-stopping counters and elapsed time as JSON metadata. A later
``fit`` with a state of the same ``key`` and the same settings loads it and goes on from the next
epoch; on a CPU the result is the same, bit for bit, as a run that never stopped (tests compare).
A state whose key or settings differ is ignored, and overwritten by the new run's first epoch.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from ..fileio import atomic_path

__all__ = ["RunState", "RUN_STATE_FORMAT", "run_key"]

RUN_STATE_FORMAT = "genrec-run-state/1"


def _plain(state: dict, prefix: str) -> dict[str, torch.Tensor]:
    # clones: a state dict may share storage between entries, which safetensors refuses
    return {f"{prefix}{k}": v.detach().cpu().clone().contiguous() for k, v in state.items()}


def _rng_tensor(state) -> torch.Tensor:
    return state.detach().cpu().clone() if isinstance(state, torch.Tensor) else torch.as_tensor(state)


def run_key(what: dict, start_file: Path | None = None) -> str:
    """A key for :class:`RunState`: the SHA-256 of ``what`` (JSON: settings, seed, what the run
    trains on) and of the bytes of ``start_file``, the weights the run starts from, if any."""
    digest = hashlib.sha256(json.dumps(what, sort_keys=True).encode())
    if start_file is not None:
        with open(start_file, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class RunState:
    """Where a run keeps its state (``path``, a ``.safetensors`` file) and what it must match to be
    taken up again (``key``: the caller's name for the run's starting point, e.g. a digest of
    the starting weights, the recipe stage and the seed)."""

    path: Path
    key: str

    def save(self, *, config: dict, model, optimizer, schedule, batches: torch.Generator, best_state: dict | None,
             counters: dict, grounding=None) -> None:
        """Write the state after an epoch (``counters``: epoch, best, best_epoch, bad, history, samples,
        seconds, finished)."""
        tensors = _plain(model.state_dict(), "model.")
        if best_state is not None:
            tensors.update(_plain(best_state, "best."))
        opt = optimizer.state_dict()
        scalars: dict[str, dict] = {}
        for index, entry in opt["state"].items():
            for name, value in entry.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"opt.{index}.{name}"] = value.detach().cpu().clone().contiguous()
                else:
                    scalars.setdefault(str(index), {})[name] = value
        tensors["rng.torch"] = _rng_tensor(torch.get_rng_state())
        tensors["rng.batches"] = _rng_tensor(batches.get_state())
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            tensors["rng.cuda"] = _rng_tensor(torch.cuda.get_rng_state())
        run = {
            "format": RUN_STATE_FORMAT,
            "key": self.key,
            "config": config,
            "counters": counters,
            "schedule": {k: v for k, v in schedule.state_dict().items() if k != "lr_lambdas"},
            "param_groups": opt["param_groups"],
            "optimizer_scalars": scalars,
            "has_best": best_state is not None,
        }
        if grounding is not None and hasattr(grounding, "rng"):
            run["grounding_rng"] = grounding.rng.bit_generator.state
        with atomic_path(self.path) as tmp:
            try:
                save_file(tensors, str(tmp), metadata={"run": json.dumps(run)})
            except SafetensorError as exc:  # e.g. a full disk: the previous state stays
                raise OSError(0, f"could not write the run state ({exc})", str(self.path)) from None

    def load(self, *, config: dict, model, optimizer, schedule, batches: torch.Generator, grounding=None) -> dict | None:
        """Restore a matching state into the given objects and return ``{"counters", "best_state"}``,
        or None (no state here, another run's, or unreadable)."""
        if not self.path.is_file():
            return None
        try:
            with safe_open(str(self.path), framework="pt") as fh:
                run = json.loads((fh.metadata() or {}).get("run", "{}"))
            if run.get("format") != RUN_STATE_FORMAT or run.get("key") != self.key or run.get("config") != config:
                return None
            tensors = load_file(str(self.path))
        except (OSError, ValueError, SafetensorError):
            return None
        own = model.state_dict()
        weights = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
        if set(weights) != set(own) or any(weights[k].shape != own[k].shape for k in own):
            return None  # another model's state
        model.load_state_dict(weights)
        best = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")} if run["has_best"] else None
        opt_state: dict[int, dict] = {}
        for name, value in tensors.items():
            if name.startswith("opt."):
                _, index, field = name.split(".", 2)
                opt_state.setdefault(int(index), {})[field] = value
        for index, values in run["optimizer_scalars"].items():
            opt_state.setdefault(int(index), {}).update(values)
        optimizer.load_state_dict({"state": opt_state, "param_groups": run["param_groups"]})
        schedule.load_state_dict({**schedule.state_dict(), **run["schedule"]})
        torch.set_rng_state(tensors["rng.torch"])
        batches.set_state(tensors["rng.batches"])
        if "rng.cuda" in tensors and torch.cuda.is_available():
            torch.cuda.set_rng_state(tensors["rng.cuda"])
        if grounding is not None and "grounding_rng" in run:
            grounding.rng.bit_generator.state = run["grounding_rng"]
        return {"counters": run["counters"], "best_state": best}

    @staticmethod
    def peek(path: str | Path) -> dict | None:
        """The counters of the state kept at ``path`` (epoch, best, best_epoch, bad, history,
        samples, seconds, finished) and its settings under ``"config"``, without reading any
        weights; None when there is none or it cannot be read."""
        try:
            with safe_open(str(path), framework="pt") as fh:
                run = json.loads((fh.metadata() or {}).get("run", "{}"))
        except (OSError, ValueError, SafetensorError):
            return None
        if run.get("format") != RUN_STATE_FORMAT or not isinstance(run.get("counters"), dict):
            return None
        return {**run["counters"], "config": run.get("config") or {}}

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
