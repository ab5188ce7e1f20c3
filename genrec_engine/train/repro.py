"""``genrec repro``: one recipe trained under several seeds, scored on test once at the end.

A single run's Recall@10 on Beauty moves by about its standard error (~0.0017) from seed to seed,
so "recipe A beats recipe B" needs the spread. :func:`repro` trains ``kind`` with fresh weights
under seeds ``seed, seed + 1, ...`` (model selection on validation, as ``genrec train``), keeps
no weights unless ``bundle_seed`` names one run whose weights replace the project's generator,
and evaluates every run on the test split once, after all training, under both history rules.
It writes the runs with their mean and sample standard deviation (n - 1) to ``metrics.json``
under the generator's ``repro`` list, each with its protocol card and command.
"""
from __future__ import annotations

import dataclasses
import time

import numpy as np

from ..data import project_split
from ..device import resolve_device
from ..errors import ConfigError
from ..jobs import CancelToken, ProgressFn, Stage, check_cancel, report
from ..protocol import protocol_card
from ..txn import project_lock
from .api import EVALUATIONS_KEPT, _project_eval, commit_generator, preflight, train_generator
from .loop import TrainConfig

__all__ = ["repro", "REPORTED"]

REPORTED = ("recall@5", "recall@10", "recall@20", "ndcg@5", "ndcg@10", "ndcg@20")


def _spread(values: list[float]) -> tuple[float, float]:
    arr = np.asarray(values, dtype=np.float64)
    return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else 0.0


def repro(
    project,
    kind: str,
    *,
    seeds: int = 3,
    model_config: dict | None = None,
    train_config: TrainConfig | None = None,
    bundle_seed: int | None = None,
    beam: int = 20,
    device: str = "auto",
    command: str | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> dict:
    """Train ``kind`` under ``seeds`` seeds (``train_config.seed`` + 0, 1, ...), evaluate each on
    test at the end (history kept and excluded) and return ``{"model", "seeds", "runs", "mean",
    "sd", "excluding_history": {"mean", "sd"}, "protocol", ...}``; also appended to ``metrics.json``.
    ``bundle_seed``: that run's weights and record become the project's ``kind`` generator.
    Holds the project's writer lock for the whole run; the record (and bundled weights) land as
    one transaction."""
    if not isinstance(seeds, int) or seeds < 1:
        raise ConfigError(f"--seeds {seeds!r}: must be a positive integer")
    with project_lock(project.path, f"genrec repro --model {kind}"):
        preflight(project)
        return _repro(project, kind, seeds=seeds, model_config=model_config, train_config=train_config,
                      bundle_seed=bundle_seed, beam=beam, device=device, command=command, progress=progress,
                      cancel=cancel)


def _repro(project, kind, *, seeds, model_config, train_config, bundle_seed, beam, device, command, progress,
           cancel) -> dict:
    tcfg = train_config or TrainConfig()
    seed_list = [tcfg.seed + i for i in range(seeds)]
    if bundle_seed is not None and bundle_seed not in seed_list:
        raise ConfigError(f"--bundle {bundle_seed}: not one of the seeds run ({', '.join(map(str, seed_list))})")
    dev = resolve_device(device)
    t0 = time.perf_counter()
    trained = []
    for i, seed in enumerate(seed_list):  # train every seed first: test is scored only after all training
        check_cancel(cancel)
        record, model = train_generator(
            project, kind, model_config=model_config, train_config=dataclasses.replace(tcfg, seed=seed), device=device,
            save=False, command=command, return_model=True,
            progress=Stage(progress, 0.8 * i / seeds, 0.8 * (i + 1) / seeds, f"seed {seed}"), cancel=cancel)
        trained.append((seed, record, model))
    split = project_split(project)
    runs = []
    for i, (seed, record, model) in enumerate(trained):
        check_cancel(cancel)
        report(progress, 0.8 + 0.2 * i / seeds, f"test, seed {seed}")
        model.to(dev).eval()
        kept = _project_eval(model, project, split, "test", beam=beam, device=dev, cancel=cancel)
        excl = _project_eval(model, project, split, "test", beam=beam, device=dev, cancel=cancel, exclude_history=True)
        model.cpu()
        runs.append({"seed": seed, "best_epoch": record["best_epoch"], "stopped": record["stopped"],
                     "train_seconds": record["train_seconds"], "valid": record["valid"],
                     "test": {k: kept[k] for k in REPORTED}, "test_excluding_history": {k: excl[k] for k in REPORTED}})
    config = trained[0][1]["model_config"]
    out = {
        "model": kind,
        "variant": trained[0][1]["variant"],
        "model_config": config,
        "train_config": {k: v for k, v in trained[0][1]["train_config"].items() if k != "seed"},
        "seeds": seed_list,
        "runs": runs,
        "mean": {}, "sd": {}, "excluding_history": {"mean": {}, "sd": {}},
        "protocol": protocol_card(project, kind=kind, model_config=config, split="test", beam=beam, k=20),
        "seconds": round(time.perf_counter() - t0, 1),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "device": str(dev),
    }
    for key in REPORTED:
        out["mean"][key], out["sd"][key] = _spread([r["test"][key] for r in runs])
        m, sd = _spread([r["test_excluding_history"][key] for r in runs])
        out["excluding_history"]["mean"][key], out["excluding_history"]["sd"][key] = m, sd
    if command:
        out["command"] = command
    bundled = None
    if bundle_seed is not None:
        seed, record, bundled = next(t for t in trained if t[0] == bundle_seed)
        run = next(r for r in runs if r["seed"] == bundle_seed)
        evaluation = {"date": out["date"], "split": "test", "users": "all", "beam": beam, "constrained": True,
                      "figures": run["test"], "excluding_history": run["test_excluding_history"],
                      "protocol": out["protocol"], "command": command or "genrec repro"}
        out["bundled_seed"] = bundle_seed

    def add(metrics):
        entry = metrics.get(kind, {"model": kind})
        if bundled is not None:
            entry = {**record, "evaluations": [evaluation][-EVALUATIONS_KEPT:], "repro": entry.get("repro", [])}
        entry["repro"] = entry.get("repro", []) + [{k: v for k, v in out.items() if k != "model"}]
        metrics[kind] = entry

    commit_generator(project, "genrec repro", kind=kind, model=bundled,
                     extra={"best_epoch": record["best_epoch"]} if bundled is not None else None, update=add)
    report(progress, 1.0, "done")
    return out
