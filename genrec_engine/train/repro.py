"""``genrec repro``: one recipe trained under several seeds, scored on test once at the end.

A single run's Recall@10 on Beauty moves by about its standard error (~0.0017) from seed to seed,
so "recipe A beats recipe B" needs the spread. :func:`repro` runs a :class:`~genrec_engine.train.
recipe.Recipe` (one ``genrec train`` run, or several stages, each continuing the last) with fresh
weights under seeds ``seed, seed + 1, ...`` (model selection on validation, as ``genrec train``),
keeps no weights unless ``bundle_seed`` names one run whose weights replace the project's
generator, and evaluates every run on the test split once, after all training, under both history
rules. It writes the runs with their mean and sample standard deviation (n - 1) to
``metrics.json`` under the generator's ``repro`` list, each with its protocol card, recipe and
command.

Long recipes survive being stopped: every finished stage of every seed is kept under
``<project>/repro-work/<kind>-<recipe key>/seed-<s>/`` (checkpoint + record, written atomically,
stamped with what it was trained on), and a later ``repro`` of the same recipe on the same SIDs
and split starts from there; a stage stopped part way keeps its run state after every epoch
(:mod:`~genrec_engine.train.runstate`) and goes on from its last epoch. ``train_only`` trains (or
finishes) the seeds and scores nothing, so seeds can be spread over processes, machines or
sessions and scored together by one last run. Scoring survives being stopped too: each model's
test figures are kept beside its weights (``stage-<k>.test.json``, keyed by the digest of the
weights, the SIDs and split, the beam and the figures reported), so a scoring run stopped part way
(on this CPU a TIGER-style model takes minutes per history rule) scores only the models not yet
scored when run again; the figures are those of a fixed model on a fixed split, the same whenever
they are computed. A successful scoring run removes the kept seeds it used.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np

from ..checkpoint import load_generator, save_generator
from ..data import project_split
from ..device import resolve_device
from ..errors import Cancelled, ConfigError, ProjectFormatError
from ..fileio import read_json, write_json_atomic
from ..generators import model_kwargs, provenance
from ..jobs import CancelToken, ProgressFn, Stage, check_cancel, report
from ..protocol import protocol_card
from ..txn import project_lock
from .api import EVALUATIONS_KEPT, _project_eval, commit_generator, preflight, train_generator
from .loop import TrainConfig
from .recipe import Recipe
from .runstate import RunState, run_key

__all__ = ["repro", "repro_status", "latest_repro", "REPORTED", "WORK_DIR"]

REPORTED = ("recall@5", "recall@10", "recall@20", "ndcg@5", "ndcg@10", "ndcg@20")
WORK_DIR = "repro-work"
RECIPE_FILE = "recipe.json"  # the recipe a work folder's seeds train, written when the first seed starts


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
    recipe: Recipe | None = None,
    first_seed: int | None = None,
    bundle_seed: int | None = None,
    train_only: bool = False,
    score_stages: tuple[int, ...] = (),
    beam: int = 20,
    device: str = "auto",
    command: str | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> dict:
    """Train ``recipe`` (or the one-stage recipe of ``model_config`` and ``train_config``) under
    ``seeds`` seeds from ``first_seed`` (default ``train_config.seed``, else 0), evaluate each on
    test at the end (history kept and excluded) and return ``{"model", "seeds", "runs", "mean",
    "sd", "excluding_history": {"mean", "sd"}, "protocol", "recipe", ...}``; also appended to
    ``metrics.json``. ``bundle_seed``: that run's weights and record become the project's ``kind``
    generator. Holds the project's writer lock for the whole run; the record (and bundled weights)
    land as one transaction. ``train_only``: train the seeds into the work folder and return
    ``{"model", "seeds", "trained", "work", ...}`` without scoring or writing ``metrics.json``
    (no writer lock: several such runs may share a project, one seed each). ``score_stages``: also
    score these earlier stages' weights of every seed on test (stage numbers from 1; the last stage
    is always scored), reported under ``"stages"`` with their variant names: what each stage of a
    recipe adds, with its spread (the TIGER-style recipe's stage 1 is the plain TIGER-style)."""
    if not isinstance(seeds, int) or seeds < 1:
        raise ConfigError(f"--seeds {seeds!r}: must be a positive integer")
    if recipe is None:
        recipe = Recipe.one_stage(kind, model_config, train_config)
    elif model_config or train_config is not None:
        raise ConfigError("a recipe gives the model and training settings: drop --model-config and the training flags")
    if recipe.model != kind:
        raise ConfigError(f"{recipe.source or 'recipe'} [model]: trains {recipe.model!r}, not {kind!r}")
    if first_seed is None:
        first_seed = train_config.seed if train_config is not None else 0
    seed_list = [first_seed + i for i in range(seeds)]
    score_stages = tuple(sorted(set(score_stages)))
    for k in score_stages:
        if not 1 <= k < len(recipe.stages):
            raise ConfigError(f"--score-stages {k}: the recipe's earlier stages are 1-{len(recipe.stages) - 1} "
                              "(the last is always scored)" if len(recipe.stages) > 1 else
                              f"--score-stages {k}: a one-stage recipe has no earlier stage to score")
        if train_only:
            raise ConfigError("--score-stages: a --train-only run scores nothing")
    if bundle_seed is not None and (train_only or bundle_seed not in seed_list):
        raise ConfigError(f"--bundle {bundle_seed}: not one of the seeds run ({', '.join(map(str, seed_list))})"
                          if not train_only else "--bundle: a --train-only run keeps no weights in the project")
    kw = dict(recipe=recipe, seed_list=seed_list, bundle_seed=bundle_seed, score_stages=score_stages, beam=beam,
              device=device, command=command, progress=progress, cancel=cancel)
    if train_only:
        return _repro(project, kind, train_only=True, **kw)
    with project_lock(project.path, f"genrec repro --model {kind}"):
        preflight(project)
        return _repro(project, kind, train_only=False, **kw)


def latest_repro(record: dict) -> dict | None:
    """The newest ``genrec repro`` entry of a generator record that trained the record's own
    variant (a repro of another configuration, e.g. the faithful model beside a hybrid, is not
    this generator's spread), or None."""
    from ..protocol import generator_variant

    variant = record.get("variant") or generator_variant(record.get("model", ""), record.get("model_config") or {})
    same = [r for r in record.get("repro") or () if isinstance(r, dict) and r.get("variant") == variant
            and isinstance(r.get("mean"), dict)]
    return same[-1] if same else None


def repro_status(project, kind: str | None = None) -> list[dict]:
    """What ``<project>/repro-work`` holds, read only (a repro may be running beside it): one entry
    per recipe folder (of ``kind``, if given) with its recipe (when the folder names it) and per
    seed the finished stages (best epoch, why it stopped, validation Recall@10, seconds), the stages
    whose test figures a stopped scoring run kept (``scored``) and the stage in progress from its
    run state (epochs done of its schedule, best validation so far, seconds)."""
    root = Path(project.path) / WORK_DIR
    out = []
    for folder in sorted(root.iterdir()) if root.is_dir() else ():
        model = folder.name.split("-", 1)[0]
        if not folder.is_dir() or (kind is not None and model != kind):
            continue
        try:
            recipe = read_json(folder / RECIPE_FILE)
        except (OSError, ValueError):
            recipe = None
        entry = {"model": model, "folder": str(folder), "recipe": recipe, "seeds": []}
        for seed_dir in sorted(folder.glob("seed-*"), key=lambda p: int(p.name[5:]) if p.name[5:].isdigit() else -1):
            seed = {"seed": int(seed_dir.name[5:]) if seed_dir.name[5:].isdigit() else seed_dir.name, "finished": []}
            k = 1
            while (seed_dir / f"stage-{k}.json").is_file():
                try:
                    rec = read_json(seed_dir / f"stage-{k}.json")["record"]
                except (OSError, ValueError, KeyError):
                    break
                seed["finished"].append({"stage": k, "best_epoch": rec.get("best_epoch"), "stopped": rec.get("stopped"),
                                         "valid_recall@10": (rec.get("valid") or {}).get("recall@10"),
                                         "train_seconds": rec.get("train_seconds")})
                k += 1
            seed["scored"] = sorted(int(p.name[6:-10]) for p in seed_dir.glob("stage-*.test.json")
                                    if p.name[6:-10].isdigit())  # test figures kept by a stopped scoring run
            running = RunState.peek(seed_dir / f"stage-{k}.run.safetensors")
            if running is not None:
                cfg = running["config"]
                seed["running"] = {"stage": k, "epoch": running.get("epoch"), "epochs": cfg.get("epochs"),
                                   "stop_after": cfg.get("stop_after"), "best_epoch": running.get("best_epoch"),
                                   "best_valid_recall@10": running.get("best") if (running.get("best") or -1) >= 0
                                   else None, "seconds": running.get("seconds")}
            entry["seeds"].append(seed)
        out.append(entry)
    return out


def work_folder(project, recipe: Recipe) -> Path:
    """Where ``repro`` keeps the finished stages of ``recipe``'s seeds on this project."""
    return Path(project.path) / WORK_DIR / f"{recipe.model}-{recipe.key()}"


class _SeedRun:
    """One seed of a recipe, stage by stage, kept in ``folder`` (``stage-<k>.safetensors`` and
    ``stage-<k>.json``, k from 1): a stage found there, trained on the same split and SIDs, is
    not trained again."""

    def __init__(self, project, recipe: Recipe, seed: int, folder: Path):
        self.project, self.recipe, self.seed, self.folder = project, recipe, seed, folder
        self.stamp = provenance(project, recipe.model)

    def _paths(self, k: int) -> tuple[Path, Path]:
        return self.folder / f"stage-{k}.safetensors", self.folder / f"stage-{k}.json"

    def done(self, k: int) -> dict | None:
        """Stage ``k``'s record if it finished before on these SIDs and this split, else None."""
        weights, meta = self._paths(k)
        if not (weights.is_file() and meta.is_file()):
            return None
        try:
            kept = read_json(meta)
        except (OSError, ValueError):
            return None
        stage = self.recipe.stages[k - 1]
        was = kept.get("stage") or {}
        if kept.get("trained_on") != self.stamp or (was.get("model_config"), was.get("train")) != (
                stage.model_config, stage.train):
            return None
        return kept["record"]

    def run_state(self, k: int) -> RunState:
        """Where stage ``k`` keeps its state after every epoch, so that a run killed inside the stage
        goes on from its last epoch; keyed by what the stage starts from (the seed, the stage's
        settings, the SIDs and split, and the digest of the previous stage's weights)."""
        stage = self.recipe.stages[k - 1]
        key = run_key({"seed": self.seed, "model_config": stage.model_config, "train": stage.train,
                       "trained_on": self.stamp}, self._paths(k - 1)[0] if k > 1 else None)
        return RunState(self.folder / f"stage-{k}.run.safetensors", key)

    def finished_stages(self) -> int:
        k = 0
        while k < len(self.recipe.stages) and self.done(k + 1) is not None:
            k += 1
        return k

    def train(self, *, device, command, progress, cancel) -> dict:
        """Train the stages not yet kept; return the last stage's record."""
        stages = self.recipe.stages
        first = self.finished_stages()
        record = self.done(first) if first else None
        for k in range(first + 1, len(stages) + 1):
            check_cancel(cancel)
            stage = stages[k - 1]
            start = (self._paths(k - 1)[0], record) if k > 1 else None
            state = self.run_state(k)
            record, model = train_generator(
                self.project, self.recipe.model, model_config=stage.model_config,
                train_config=stage.train_config(self.seed), device=device, save=False, command=command,
                return_model=True, start=start, cancel=cancel, run_state=state,
                progress=Stage(progress, (k - 1) / len(stages), k / len(stages), f"stage {k}/{len(stages)}"))
            if record["stopped"] == "cancelled":  # not a finished stage: its run state stays for the next run
                raise Cancelled(f"seed {self.seed}, stage {k}: cancelled (a later run goes on from its last epoch)")
            record.pop("history", None)
            weights, meta = self._paths(k)
            self.folder.mkdir(parents=True, exist_ok=True)
            save_generator(model, weights, extra={"best_epoch": record["best_epoch"], "repro_stage": k},
                           trained_on=self.stamp)
            write_json_atomic(meta, {"seed": self.seed, "stage": stage.to_dict(), "trained_on": self.stamp,
                                     "record": record})
            state.remove()
            del model
        return record

    def _score_key(self, k: int, beam: int) -> str:
        return run_key({"trained_on": self.stamp, "beam": int(beam), "split": "test", "reported": list(REPORTED)},
                       self._paths(k)[0])

    def scored(self, k: int, beam: int) -> tuple[dict, dict] | None:
        """Stage ``k``'s test figures (history kept, excluded) if a scoring run kept them for these
        weights, SIDs, split and beam, else None."""
        path = self.folder / f"stage-{k}.test.json"
        if not path.is_file():
            return None
        try:
            kept = read_json(path)
            if kept.get("key") != self._score_key(k, beam):
                return None
            figures, excl = kept["test"], kept["test_excluding_history"]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        number = lambda x: isinstance(x, (int, float)) and not isinstance(x, bool)  # noqa: E731
        if not all(number(figures.get(m)) and number(excl.get(m)) for m in REPORTED):
            return None
        return figures, excl

    def keep_score(self, k: int, beam: int, figures: dict, excl: dict) -> None:
        write_json_atomic(self.folder / f"stage-{k}.test.json",
                          {"key": self._score_key(k, beam), "seed": self.seed, "stage": k, "beam": int(beam),
                           "test": figures, "test_excluding_history": excl})

    def model(self, device, stage: int | None = None):
        """The last stage's model (or ``stage``'s), loaded from the folder."""
        proj = self.project
        path = self._paths(stage or len(self.recipe.stages))[0]
        return load_generator(path, proj.sids.codes, proj.sids.level_sizes, device=device, kind=self.recipe.model,
                              trained_on=self.stamp, **model_kwargs(proj, self.recipe.model))


def _score(model, project, split, *, beam, device, cancel) -> tuple[dict, dict]:
    """Test figures of ``model`` with the history kept and with it excluded."""
    kept = _project_eval(model, project, split, "test", beam=beam, device=device, cancel=cancel)
    excl = _project_eval(model, project, split, "test", beam=beam, device=device, cancel=cancel, exclude_history=True)
    return {k: kept[k] for k in REPORTED}, {k: excl[k] for k in REPORTED}


def _summary(runs: list[dict]) -> dict:
    """Mean and sample sd over runs of their ``test`` and ``test_excluding_history`` figures."""
    out = {"mean": {}, "sd": {}, "excluding_history": {"mean": {}, "sd": {}}}
    for key in REPORTED:
        out["mean"][key], out["sd"][key] = _spread([r["test"][key] for r in runs])
        m, sd = _spread([r["test_excluding_history"][key] for r in runs])
        out["excluding_history"]["mean"][key], out["excluding_history"]["sd"][key] = m, sd
    return out


def _repro(project, kind, *, recipe, seed_list, train_only, bundle_seed, score_stages, beam, device, command,
           progress, cancel) -> dict:
    dev = resolve_device(device)
    folder = work_folder(project, recipe)
    t0 = time.perf_counter()
    runs_of = {seed: _SeedRun(project, recipe, seed, folder / f"seed-{seed}") for seed in seed_list}
    if not (folder / RECIPE_FILE).is_file():  # for repro_status (genrec repro --status)
        write_json_atomic(folder / RECIPE_FILE, {**recipe.to_dict(), **({"file": recipe.source} if recipe.source else {})})
    reused = {seed: r.finished_stages() for seed, r in runs_of.items()}
    share = 1.0 if train_only else 0.8
    records = {}
    for i, seed in enumerate(seed_list):  # train every seed first: test is scored only after all training
        check_cancel(cancel)
        records[seed] = runs_of[seed].train(
            device=device, command=command, cancel=cancel,
            progress=Stage(progress, share * i / len(seed_list), share * (i + 1) / len(seed_list), f"seed {seed}"))
    base = {"model": kind, "recipe": recipe.to_dict(), "recipe_key": recipe.key(), "seeds": seed_list,
            "reused_stages": {str(s): n for s, n in reused.items() if n}}
    if recipe.source:
        base["recipe_file"] = recipe.source
    if train_only:
        report(progress, 1.0, "done")
        return {**base, "trained": {str(s): records[s]["valid"] for s in seed_list}, "work": str(folder),
                "seconds": round(time.perf_counter() - t0, 1)}
    split = project_split(project)
    runs, stage_runs = [], {k: [] for k in score_stages}
    last_stage = len(recipe.stages)
    for i, seed in enumerate(seed_list):
        for k in (*score_stages, None):
            check_cancel(cancel)
            run = runs_of[seed]
            report(progress, 0.8 + 0.2 * i / len(seed_list),
                   f"test, seed {seed}" + (f", stage {k}" if k is not None else ""))
            found = run.scored(k or last_stage, beam)
            if found is not None:  # scored by an earlier run that was stopped before it finished
                kept, excl = found
            else:
                try:
                    model = run.model(dev, stage=k).eval()
                except ProjectFormatError as exc:
                    raise ProjectFormatError(f"seed {seed}: its kept weights cannot be read ({exc})") from None
                kept, excl = _score(model, project, split, beam=beam, device=dev, cancel=cancel)
                del model
                run.keep_score(k or last_stage, beam, kept, excl)
            if k is not None:
                done = run.done(k)
                stage_runs[k].append({"seed": seed, "variant": done["variant"], "best_epoch": done["best_epoch"],
                                      "valid": done["valid"], "test": kept, "test_excluding_history": excl})
        record = records[seed]
        runs.append({"seed": seed, "best_epoch": record["best_epoch"], "stopped": record["stopped"],
                     "train_seconds": round(record["train_seconds"] + sum(r.get("train_seconds", 0.0)
                                                                          for r in record.get("resumed", [])), 1),
                     "stages": [{k: r.get(k) for k in ("best_epoch", "stopped", "train_seconds", "device")}
                                for r in record.get("resumed", []) + [record]],
                     "valid": record["valid"], "test": kept, "test_excluding_history": excl})
    last = records[seed_list[0]]
    config = last["model_config"]
    out = {
        **base,
        "variant": last["variant"],
        "model_config": config,
        "train_config": {k: v for k, v in last["train_config"].items() if k != "seed"},
        "runs": runs,
        **_summary(runs),
        "protocol": protocol_card(project, kind=kind, model_config=config, split="test", beam=beam, k=20),
        "seconds": round(time.perf_counter() - t0, 1),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "device": str(dev),
    }
    if score_stages:
        out["stages"] = [{"stage": k, "variant": stage_runs[k][0]["variant"],
                          "model_config": recipe.stages[k - 1].model_config, **_summary(stage_runs[k]),
                          "runs": stage_runs[k]} for k in score_stages]
    if command:
        out["command"] = command
    bundled = None
    if bundle_seed is not None:
        record, bundled = records[bundle_seed], runs_of[bundle_seed].model("cpu")
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
    for seed in seed_list:  # recorded: the kept stages have served
        shutil.rmtree(runs_of[seed].folder, ignore_errors=True)
    if not any(folder.glob("seed-*")):  # no other seeds wait here: the recipe note goes too
        (folder / RECIPE_FILE).unlink(missing_ok=True)
    for empty in (folder, folder.parent):
        try:
            empty.rmdir()
        except OSError:
            pass
    report(progress, 1.0, "done")
    return out
