"""Train, evaluate and compact a project's generators: the functions behind ``genrec
train|eval|compact``. Loading one is :meth:`genrec_engine.project.Project.generator`; asking it for
recommendations, :mod:`genrec_engine.recommender`."""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import load_generator, read_generator_meta, save_generator, storage_state
from ..data import project_split
from ..device import resolve_device
from ..errors import ConfigError, ProjectFormatError
from ..fileio import read_json, write_json_atomic
from ..generators import generator_path, model_class, model_kwargs, new_generator, provenance
from ..txn import check_space, check_writable, project_change, project_lock
from ..jobs import CancelToken, ProgressFn, Stage, report
from ..protocol import generator_variant
from .evaluate import evaluate, item_counts
from .instruct import GroundingSampler, build_vocab
from .loop import TrainConfig, TrainResult, ddp_context, fit
from .runstate import RunState, run_key

__all__ = ["train_generator", "evaluate_generator", "compact_generator", "record_evaluation", "latest_evaluation",
           "EVALUATIONS_KEPT", "read_metrics", "commit_generator", "preflight"]

EVALUATIONS_KEPT = 20  # evaluations kept per generator in metrics.json, newest last


def _project_eval(model, project, split, split_name: str, **kw) -> dict:
    """Full-catalogue metrics of ``model`` on the project's ``split_name`` split, with the
    popularity and diversity figures (``kw``: beam, device, constrained, users, progress, cancel)."""
    n = project.sids.n_items
    return evaluate(model, split, split_name, trie=project.trie, sids=project.sids.codes, n_items=n,
                    max_len=model.config.max_len, item_embeddings=project.embeddings,
                    item_counts=item_counts(split, n), **kw)


def read_metrics(project) -> dict:
    """The project's ``metrics.json`` (``{}`` when there is none); a damaged one is refused with
    a message naming it, before any work that would end by rewriting it."""
    path = Path(project.path) / "metrics.json"
    if not path.is_file():
        return {}
    try:
        metrics = read_json(path)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise ProjectFormatError(f"{path}: unreadable JSON ({exc}); repair or remove it") from None
    if not isinstance(metrics, dict):
        raise ProjectFormatError(f"{path}: expected an object of generator records, found {type(metrics).__name__}")
    for key, rec in metrics.items():
        if not isinstance(rec, dict):
            raise ProjectFormatError(f"{path} [{key}]: expected a generator record (an object)")
    return metrics


def preflight(project, model=None) -> None:
    """What a run will need at its end, checked before it starts: ``metrics.json`` readable, the
    folder writable and room for the checkpoint (three times the model's float32 size, staged
    and written, plus slack)."""
    read_metrics(project)
    check_writable(project.path)
    params = sum(p.numel() for p in model.parameters()) if model is not None else 0
    check_space(project.path, 3 * 4 * params + 16 * 2**20)


def commit_generator(project, what: str, *, kind: str, model=None, extra: dict | None = None, storage: str = "float32",
                     update=None, trained_on: dict | None = None) -> None:
    """One transaction (:func:`~genrec_engine.txn.project_change`): the ``kind`` checkpoint of
    ``model`` (if given) and ``metrics.json`` changed by ``update(metrics)`` (if given) land
    together or not at all. ``project.meta`` is refreshed (its recorded file sizes)."""
    with project_change(project.path, what) as change:
        if model is not None:
            save_generator(model, change.path(generator_path(project, kind).name), extra=extra, storage=storage,
                           trained_on=trained_on if trained_on is not None else provenance(project, kind))
        if update is not None:
            metrics = read_metrics(project)
            update(metrics)
            write_json_atomic(change.path("metrics.json"), metrics)
    project.meta = read_json(Path(project.path) / "project.json")


def _grounding_sampler(project, split, cfg, tcfg: TrainConfig, *, progress=None, cancel=None):
    """The instruction grounding batches for an instruction model (half a batch per step)."""
    vocab = build_vocab(project, progress=progress, cancel=cancel)
    cold = set(np.asarray(project.cold_indices).tolist())
    warm = np.asarray([i for i in range(project.sids.n_items) if i not in cold], dtype=np.int64)
    return GroundingSampler(vocab, split.train, warm, max_len=cfg.max_len, batch_size=max(1, tcfg.batch_size // 2),
                            seed=tcfg.seed)


def train_generator(
    project,
    kind: str,
    *,
    model_config: dict | None = None,
    train_config: TrainConfig | None = None,
    device: str = "auto",
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    on_epoch=None,
    save: bool = True,
    command: str | None = None,
    resume: bool = False,
    return_model: bool = False,
    start: tuple | None = None,
    run_state=None,
    keep_state: bool = False,
) -> dict:
    """Train ``kind`` on the project's leave-one-out split, early-stopping on validation
    Recall@10, save ``generator-<kind>.safetensors`` and its record in ``metrics.json``
    (validation figures only: test is scored by :func:`evaluate_generator`, ``genrec eval``, never
    inside training). Returns the metrics record written for this generator.

    ``resume=True`` starts from the project's saved ``kind`` generator (its settings and weights),
    e.g. to go on with a run that a time budget cut short; the optimiser and schedule start afresh
    (give a lower ``lr``), and the record keeps the earlier runs under ``"resumed"``. The saved
    weights are validated first and kept unless training beats them. ``model_config`` may then
    only be ``{"instruction": True}`` (optionally with ``instruct_weight``): instruction
    fine-tuning, which adds the instruction token to a generator trained without one; there the
    starting weights are not a candidate (they cannot follow an instruction); and/or settings
    that add zero-initialised weights (the config's ``ZERO_EXTENSIONS``: ``{"node_levels": n}``
    trie-node output vectors, TIGER's ``{"item_input": "codes+id"}``) to a generator saved without.
    ``return_model``: return ``(record, model)`` (the trained model on the CPU) instead.
    ``start=(checkpoint_path, record)``: resume from that checkpoint file and its record (a stage
    of a :mod:`~genrec_engine.train.recipe` kept outside the project) instead of the project's
    saved generator; the same rules as ``resume`` apply. ``run_state``: a :class:`~genrec_engine.
    train.runstate.RunState` that keeps the run's state after every epoch and takes up a matching
    one (see :func:`~genrec_engine.train.loop.fit`). ``keep_state`` (``genrec train``; with ``save``,
    one process): keep the run's state beside the project, ``train-<kind>.run.safetensors``, after
    every epoch, and take up the one a killed run of the same settings left there; removed when
    the run's weights are saved.

    With ``save`` the project's writer lock is held for the whole run (a second ``genrec train``
    on the project is refused at once), and what the end needs (metrics.json readable, the folder
    writable, space) is checked first; the checkpoint and its record are written as one
    transaction."""
    if save and ddp_context()[0] == 0:
        with project_lock(project.path, f"genrec train --model {kind}"):
            preflight(project)
            return _train(project, kind, model_config=model_config, train_config=train_config, device=device,
                          progress=progress, cancel=cancel, on_epoch=on_epoch, save=save, command=command,
                          resume=resume, return_model=return_model, start=start, run_state=run_state,
                          keep_state=keep_state)
    return _train(project, kind, model_config=model_config, train_config=train_config, device=device,
                  progress=progress, cancel=cancel, on_epoch=on_epoch, save=save, command=command, resume=resume,
                  return_model=return_model, start=start, run_state=run_state, keep_state=keep_state)


def _train(project, kind, *, model_config, train_config, device, progress, cancel, on_epoch, save, command, resume,
           return_model, start=None, run_state=None, keep_state=False):
    cls = model_class(kind)
    tcfg = train_config or TrainConfig()
    dev = resolve_device(device)
    rank, world = ddp_context()
    if world > 1 and dev.type == "cuda":
        dev = torch.device("cuda", rank % torch.cuda.device_count())
    split = project_split(project)
    sids, n = project.sids, project.sids.n_items
    trie = project.trie
    earlier = []
    evaluations: list = []  # kept when resuming: they describe earlier weights, each with its date
    adding_instruction = False
    resume = resume or start is not None
    if resume:
        extra = dict(model_config or {})
        add = bool(extra.pop("instruction", False))
        weight = extra.pop("instruct_weight", None)
        grow = {k: extra.pop(k) for k in list(extra) if k in getattr(cls.config_class, "ZERO_EXTENSIONS", {})}
        if extra:
            raise ConfigError(f"--resume continues the saved {kind} generator with its own settings; "
                              f"drop {', '.join(sorted(extra))}")
        source = Path(start[0]) if start is not None else generator_path(project, kind)
        adding_instruction = add and not read_generator_meta(source)["config"].get("instruction")
        if start is not None:
            with torch.random.fork_rng(devices=[]):  # new weights (an instruction token) seeded by the run
                torch.manual_seed(tcfg.seed)
                model = load_generator(source, sids.codes, sids.level_sizes, device=dev, add_instruction=add,
                                       extend=grow, kind=kind, trained_on=provenance(project, kind),
                                       **model_kwargs(project, kind))
            old = start[1]
        else:
            model = project.generator(kind, dev, cached=False, add_instruction=add, extend=grow)
            old = read_metrics(project).get(kind, {})
        if weight is not None:
            model.config = dataclasses.replace(model.config, instruct_weight=float(weight))
        cfg = model.config
        kept_keys = ("model_config", "best_epoch", "stopped", "train_seconds", "device", "command", "train_config",
                     "valid", "test", "compacted")
        earlier = old.get("resumed", []) + [{k: old[k] for k in kept_keys if k in old}]
        evaluations = old.get("evaluations", [])
    else:
        cfg = cls.config_class.from_dict(model_config or {})
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(tcfg.seed)
            model = new_generator(project, kind, cfg).to(dev)

    def validate(m):
        return evaluate(m, split, "valid", trie=trie, sids=sids.codes, n_items=n, max_len=cfg.max_len,
                        beam=tcfg.eval_beam, users=tcfg.eval_users, seed=tcfg.seed, device=dev, cancel=cancel)

    partial = Path(project.path) / f"generator-{kind}.partial.safetensors"
    own_state = None
    if run_state is None and keep_state and save and world == 1:
        # what the run starts from: a rerun of the same command after a killed run takes up its state
        source = generator_path(project, kind) if resume and start is None else None
        run_state = own_state = RunState(Path(project.path) / f"train-{kind}.run.safetensors", run_key(
            {"kind": kind, "model_config": model_config or {}, "train": tcfg.to_dict(),
             "trained_on": provenance(project, kind)}, source if source is not None and source.is_file() else None))

    def keep_best(m, epoch):
        """Checkpoint each improvement beside the project, so a killed run leaves its best weights."""
        if save:
            save_generator(m, partial, extra={"best_epoch": epoch, "partial": True})

    grounding = None
    if getattr(cfg, "instruction", False):
        grounding = _grounding_sampler(project, split, cfg, tcfg, progress=Stage(progress, 0.0, 0.05, "instructions"),
                                       cancel=cancel)
    result: TrainResult = fit(model, split.train, config=tcfg, validate=validate, device=dev, max_len=cfg.max_len,
                              progress=Stage(progress, 0.05 if grounding else 0.0, 0.95, f"train {kind}"), cancel=cancel,
                              on_epoch=on_epoch, on_best=keep_best, grounding=grounding,
                              validate_first=resume and not adding_instruction, run_state=run_state)
    record = {
        "model": kind,
        "model_config": cfg.to_dict(),
        "train_config": tcfg.to_dict(),
        "device": str(dev),
        "world_size": world,
        "best_epoch": result.best_epoch,
        "stopped": result.stopped,
        "train_seconds": round(result.seconds, 1),
        "samples_per_second": round(result.samples_per_second, 1),
        "valid": {k[6:]: v for k, v in result.best_metrics.items() if k.startswith("valid_")},
        "variant": generator_variant(kind, cfg.to_dict()),
        "history": result.history,
        "trained": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if command:
        record["command"] = command  # how to rebuild this checkpoint (after the "resumed" runs, if any)
    if earlier:
        record["resumed"] = earlier
    if evaluations:
        record["evaluations_of_earlier_weights"] = evaluations
    model.cpu()
    if save and rank == 0:
        commit_generator(project, f"genrec train --model {kind}", kind=kind, model=model,
                         extra={"best_epoch": result.best_epoch}, update=lambda metrics: metrics.__setitem__(kind, record))
        partial.unlink(missing_ok=True)
        if own_state is not None:
            own_state.remove()
    report(progress, 1.0, "done")
    return (record, model) if return_model else record


def latest_evaluation(record: dict, split: str = "test") -> dict | None:
    """The newest ``genrec eval`` entry of a generator record on ``split`` that scored every user
    (else the newest on a subset), or None."""
    evals = [e for e in record.get("evaluations", []) if e.get("split") == split]
    full = [e for e in evals if e.get("users") in (None, "all")]
    return (full or evals or [None])[-1]


def record_evaluation(project, kind: str, out: dict, *, command: str | None = None) -> dict:
    """Append an evaluation (``evaluate_generator``'s output) to ``metrics.json`` under the
    generator's ``evaluations`` (newest last, at most :data:`EVALUATIONS_KEPT`); returns the entry."""
    entry = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "split": out["split"],
        "users": out.get("users_requested") or "all",
        "beam": out["beam"],
        "constrained": out["constrained"],
        "figures": {k: v for k, v in out.items() if isinstance(v, (int, float)) and k != "seconds"},
        "excluding_history": out.get("excluding_history"),
        "protocol": out.get("protocol"),
    }
    if command:
        entry["command"] = command

    def add(metrics):
        record = metrics.setdefault(kind, {"model": kind})
        record["evaluations"] = (record.get("evaluations", []) + [entry])[-EVALUATIONS_KEPT:]

    with project_lock(project.path, "genrec eval (recording)", wait=30.0):
        commit_generator(project, "genrec eval", kind=kind, update=add)
    return entry


def evaluate_generator(
    project,
    kind: str,
    *,
    split_name: str = "test",
    beam: int = 20,
    constrained: bool = True,
    users: int | None = None,
    exactness: int = 0,
    device: str = "auto",
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    on_ranked=None,
    both_rules: bool = True,
) -> dict:
    """Metrics of a trained generator; ``exactness=n`` also compares beam top-10 with the exact
    top-10 by full SID likelihood for n sampled users, per beam width. ``on_ranked``: called with
    the scored :class:`~genrec_engine.train.evaluate.RankedLists` (see ``genrec eval --dump``).

    The top-level figures keep the history (a history item in the list counts as a miss);
    ``both_rules`` adds ``"excluding_history"``: the same metrics with each user's history masked
    out of the ranking. ``"protocol"`` is the protocol card (:func:`genrec_engine.protocol.protocol_card`)."""
    from ..protocol import generator_variant, protocol_card

    dev = resolve_device(device)
    model = project.generator(kind, dev)
    split = project_split(project)
    stage = Stage(progress, 0.0, 0.5 if both_rules else 1.0, "history kept")
    out = _project_eval(model, project, split, split_name, beam=beam, constrained=constrained, users=users,
                        device=dev, progress=stage, cancel=cancel, on_ranked=on_ranked)
    if both_rules:
        excl = _project_eval(model, project, split, split_name, beam=beam, constrained=constrained, users=users,
                             device=dev, progress=Stage(progress, 0.5, 1.0, "history excluded"), cancel=cancel,
                             exclude_history=True)
        out["excluding_history"] = {k: v for k, v in excl.items() if k != "seconds"}
    out["model"], out["split"], out["beam"], out["constrained"] = kind, split_name, beam, constrained
    config = model.config.to_dict() if hasattr(model.config, "to_dict") else dataclasses.asdict(model.config)
    out["variant"] = generator_variant(kind, config)
    if users is not None:
        out["users_requested"] = int(users)
    out["protocol"] = protocol_card(project, kind=kind, model_config=config, split=split_name, users=users,
                                    beam=None if hasattr(model, "score_items") else beam, k=20,
                                    constrained=constrained, history_rule="kept",
                                    seed=0 if users is not None else None)
    if both_rules:
        out["excluding_history"]["protocol"] = {**out["protocol"], "history_rule": "excluded"}
    if exactness and not hasattr(model, "score_items"):
        from ..decode import topk_overlap
        from .data import eval_tensors

        H, _, _ = eval_tensors(split, split_name, model.config.max_len)
        pick = np.random.default_rng(0).choice(len(H), min(exactness, len(H)), replace=False)
        report(progress, 1.0, "exactness check")
        overlap = topk_overlap(model, H[torch.as_tensor(np.sort(pick))].to(dev), trie=project.trie, k=10,
                               widths=(1, 5, 10, 20, 50))
        out["exactness@10"] = {f"beam{w}": round(v, 4) for w, v in overlap.items()}
        out["exactness_users"] = int(len(pick))
    return out


def compact_generator(
    project,
    kind: str,
    *,
    storage: str = "float16",
    validate: bool = True,
    beam: int | None = None,
    device: str = "auto",
    command: str | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> dict:
    """Rewrite the project's ``kind`` generator with its weights stored as ``storage`` (float16:
    half the bytes; loading widens them back to float32). With ``validate`` the rounded
    weights are evaluated on the validation split first (beam: the one training validated with;
    test stays for ``genrec eval``), so ``metrics.json`` records what the compaction cost; a
    cancel there leaves every file as it was. Returns ``{"model", "storage", "bytes_before",
    "bytes_after", "max_abs_change", "storage_before", "valid" (if evaluated), "valid_before"
    (the training record's, if any)}``; a generator already stored as ``storage`` is left untouched.
    Holds the project's writer lock; the checkpoint and its record change as one transaction."""
    with project_lock(project.path, f"genrec compact --model {kind}"):
        preflight(project)
        return _compact(project, kind, storage=storage, validate=validate, beam=beam, device=device, command=command,
                        progress=progress, cancel=cancel)


def _compact(project, kind, *, storage, validate, beam, device, command, progress, cancel) -> dict:
    path = generator_path(project, kind)
    meta = read_generator_meta(path)
    size = path.stat().st_size
    out = {"model": kind, "storage": storage, "storage_before": meta["storage"], "bytes_before": size}
    if meta["storage"] == storage:  # nothing to do: leave the file and its record alone
        return {**out, "bytes_after": size, "max_abs_change": 0.0}
    dev = resolve_device(device)
    model = project.generator(kind, "cpu", cached=False)  # its weights get rounded below
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(storage_state(model, storage))  # the weights as they will be stored
    out["max_abs_change"] = max((float((model.state_dict()[k] - v).abs().max()) for k, v in before.items()
                                 if v.is_floating_point() and v.numel()), default=0.0)
    record = read_metrics(project).get(kind, {})
    if validate:
        b = beam or record.get("train_config", {}).get("eval_beam", 20)
        model.to(dev).eval()
        out["valid"] = _project_eval(model, project, project_split(project), "valid", beam=b, device=dev,
                                     progress=progress, cancel=cancel)
        if "valid" in record:
            out["valid_before"] = record["valid"]
    with project_change(project.path, f"genrec compact --model {kind}") as change:
        staged = change.path(path.name)
        save_generator(model.cpu(), staged, extra=meta["extra"], storage=storage,
                       trained_on=meta["trained_on"] or provenance(project, kind))
        out["bytes_after"] = staged.stat().st_size
        metrics = read_metrics(project)
        if kind in metrics:
            entry = {k: v for k, v in out.items() if k not in ("model", "valid_before", "storage_before")}
            if command:
                entry["command"] = command
            metrics[kind]["compacted"] = entry
            write_json_atomic(change.path("metrics.json"), metrics)
    project.meta = read_json(Path(project.path) / "project.json")
    report(progress, 1.0, "done")
    return out
