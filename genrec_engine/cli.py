"""``genrec``: the engine's command line.

Every command takes ``--json`` and then prints exactly one JSON object on stdout; without it a
tqdm bar shows progress on stderr and a short human summary follows. Bad input exits non-zero
with one line on stderr naming what is wrong (and ``{"error": ...}`` on stdout with ``--json``).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from . import __version__
from .errors import Cancelled, ConfigError, DataValidationError, GenrecError

__all__ = ["main", "build_parser"]


# ---------------------------------------------------------------- helpers
class _Bar:
    """A tqdm bar driven by the engine's ``progress(fraction, message)`` callable."""

    def __init__(self, enabled: bool, desc: str):
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=1000, desc=desc, file=sys.stderr, bar_format="{l_bar}{bar}| {elapsed} {postfix}")

    def __call__(self, fraction: float, message: str) -> None:
        if self.bar is not None:
            self.bar.n = int(fraction * 1000)
            self.bar.set_postfix_str(message[:60], refresh=False)
            self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _emit(args, obj: dict, human: str | None = None) -> None:
    if args.json:
        sys.stdout.write(json.dumps(obj, default=_jsonable) + "\n")
    else:
        sys.stdout.write((human if human is not None else json.dumps(obj, indent=2, default=_jsonable)) + "\n")


def _jsonable(o):
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o).__name__)


def _int_list(text: str, what: str) -> list[int]:
    try:
        return [int(t) for t in text.replace(" ", "").split(",") if t != ""]
    except ValueError:
        raise GenrecError(f"{what}: expected comma-separated integers, got {text!r}") from None


# ---------------------------------------------------------------- commands
def cmd_data_check(args) -> int:
    from .data import check_dataset

    ds, problems = check_dataset(args.dir, min_user_interactions=args.min_interactions)
    errors = [p for p in problems if p.severity == "error"]
    obj = {
        "path": str(Path(args.dir)),
        "items": ds.n_items if ds else None,
        "users": ds.n_users if ds else None,
        "interactions": ds.n_interactions if ds else None,
        "errors": len(errors),
        "warnings": len(problems) - len(errors),
        "problems": [p.to_dict() for p in problems],
    }
    if args.json:
        _emit(args, obj)
    else:
        if ds:
            print(f"{args.dir}: {ds.n_items:,} items, {ds.n_users:,} users, {ds.n_interactions:,} interactions")
        for p in problems[:50]:
            print(f"  {p.severity}: {p}")
        if len(problems) > 50:
            print(f"  ... and {len(problems) - 50} more")
    if errors:
        print(f"genrec: error: {errors[0]}" + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""), file=sys.stderr)
        return 1
    return 0


def cmd_data_import_amazon(args) -> int:
    from .data import import_amazon

    bar = _Bar(not args.json, "import")
    try:
        summary = import_amazon(args.src, args.out, progress=bar)
    finally:
        bar.close()
    _emit(args, summary, f"wrote {args.out}: {summary['items']:,} items, {summary['users']:,} users, "
                         f"{summary['interactions']:,} interactions")
    return 0


def _quantizer_config(args):
    from .quantize import QuantizerConfig

    kw = dict(method=args.method, levels=args.levels, codebook_size=args.codebook_size, seed=args.seed,
              device=args.device, balance_last_level=args.balance_last_level)
    if args.steps is not None:
        kw["steps"] = args.steps
    if args.latent_dim is not None:
        kw["latent_dim"] = args.latent_dim
    elif args.method == "vqvae" and 32 % args.levels:
        kw["latent_dim"] = 16 * args.levels
    return QuantizerConfig(**kw)


def cmd_tokenize(args) -> int:
    from .data import load_dataset
    from .project import tokenize_dataset

    config = _quantizer_config(args)
    dataset = load_dataset(args.data)
    fields = tuple(f.strip() for f in args.fields.split(",") if f.strip())
    bar = _Bar(not args.json, f"tokenize {args.method}")
    t0 = time.perf_counter()
    cold = None
    if args.cold_holdout is not None:
        from .coldstart import choose_cold_items

        cold = {"fraction": args.cold_holdout, "seed": args.seed,
                "indices": choose_cold_items(dataset.n_items, args.cold_holdout, args.seed)}
    try:
        res = tokenize_dataset(dataset, config, args.out, encoder=args.encoder, fields=fields,
                               embeddings_path=args.embeddings, cold=cold, progress=bar)
    finally:
        bar.close()
    obj = {**res.summary(), "total_seconds": round(time.perf_counter() - t0, 2), "project": str(args.out)}
    s = res.summary()
    human = (
        f"{args.out}: {s['items']:,} items, {s['unique_sids']:,} unique SIDs, collision rate {s['collision_rate']:.3f} "
        f"(max depth {s['max_collision_depth']})\n"
        f"  utilization per level {s['utilization']}, perplexity {s['perplexity']}\n"
        f"  prefix entropy (bits) {s['prefix_entropy']}, recon mse {s['recon_mse']}, fit {s['seconds']} s"
    )
    _emit(args, obj, human)
    return 0


def cmd_sids_show(args) -> int:
    from .project import Project

    proj = Project.open(args.project)
    sids = proj.sids
    try:
        cat = proj.dataset.catalogue
    except GenrecError:
        cat = None

    def row(i: int) -> dict:
        d = {"item_id": int(sids.item_ids[i]), "sid": list(sids.sid(i))}
        if cat is not None:
            d.update(title=cat.title(i), brand=str(cat.items["brand"].iat[i]), categories=str(cat.items["categories"].iat[i]))
        return d

    if args.item is not None:
        hits = (sids.item_ids == args.item).nonzero()[0]
        if not len(hits):
            raise GenrecError(f"--item {args.item}: no such item id in {args.project}")
        i = int(hits[0])
        prefix = sids.sid(i)[:-1]
        siblings = [int(j) for j in sids.items_with_prefix(prefix) if j != i]
        obj = {"item": row(i), "shares_codes_with": [row(j) for j in siblings[: args.limit]]}
        human = f"{obj['item']['item_id']}  SID {obj['item']['sid']}  {obj['item'].get('title', '')}"
        if siblings:
            human += f"\n  collides on {list(prefix)} with {len(siblings)} item(s)"
    else:
        prefix = _int_list(args.prefix, "--prefix")
        if len(prefix) > sids.depth:
            raise GenrecError(f"--prefix has {len(prefix)} codes but SIDs have {sids.depth}")
        idx = sids.items_with_prefix(prefix)
        node = proj.trie.lookup(prefix)
        children = proj.trie.children(len(prefix), node) if node >= 0 and len(prefix) < sids.depth else []
        obj = {
            "prefix": prefix,
            "items": int(len(idx)),
            "children": [{"code": int(t), "items": int(c)} for t, _, c in children],
            "list": [row(int(i)) for i in idx[: args.limit]],
        }
        human = f"prefix {prefix}: {len(idx)} items, {len(children)} child codes\n" + "\n".join(
            f"  {r['sid']}  {r['item_id']:>6}  {r.get('title', '')[:70]}" for r in obj["list"]
        )
    _emit(args, obj, human)
    return 0


def cmd_sids_stats(args) -> int:
    from .project import Project

    proj = Project.open(args.project)
    d = proj.diagnostics()
    _emit(args, d.to_dict())
    return 0


def cmd_sids_export(args) -> int:
    from .project import Project

    proj = Project.open(args.project)
    proj.trie.write_graphml(args.graphml, max_depth=args.max_depth)
    _emit(args, {"graphml": str(args.graphml), "max_depth": args.max_depth}, f"wrote {args.graphml}")
    return 0


def _command_line(args) -> str:
    """The ``genrec ...`` command being run (with OMP_NUM_THREADS when set), for metrics.json."""
    import shlex

    threads = os.environ.get("OMP_NUM_THREADS")
    return (f"OMP_NUM_THREADS={threads} " if threads else "") + shlex.join(["genrec", *args.argv])


def cmd_train(args) -> int:
    from .project import Project
    from .train import TrainConfig, train_generator

    proj = Project.open(args.project)
    if args.cold_holdout is not None:
        from .coldstart import apply_cold_holdout

        fresh = proj.meta.get("cold") is None
        proj = apply_cold_holdout(proj, args.cold_holdout, args.seed or 0)
        if fresh:
            print(f"genrec: {len(proj.cold_indices)} cold items held out; the tokenizer was re-fitted on the others "
                  "(generators trained before on this project must be retrained)", file=sys.stderr)
    tkw = {k: v for k, v in dict(epochs=args.epochs, max_minutes=args.max_minutes, lr=args.lr, batch_size=args.batch_size,
                                  seed=args.seed, eval_every=args.eval_every, patience=args.patience,
                                  eval_users=args.eval_users, keep=args.keep).items() if v is not None}
    mkw = {}
    for name in ("d_model", "n_layers", "n_heads", "dropout", "max_len"):
        v = getattr(args, name)
        if v is not None:
            mkw[name] = v
    if args.model_config:
        mkw.update(json.loads(args.model_config))
    if args.instructions:
        if args.model == "sasrec":
            raise ConfigError("--instructions: sasrec scores item ids and cannot take an instruction token; use ran or tiger")
        mkw["instruction"] = True
    bar = _Bar(not args.json, f"train {args.model}")

    def on_epoch(row):
        if not args.json:
            bar.bar.write(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()
                                   if not k.startswith("valid_") or k in ("valid_recall@10", "valid_ndcg@10")))

    try:
        rec = train_generator(proj, args.model, model_config=mkw, train_config=TrainConfig(**tkw), device=args.device,
                              progress=bar, on_epoch=on_epoch, command=_command_line(args), resume=args.resume)
    finally:
        bar.close()
    obj = {k: v for k, v in rec.items() if k != "history"}
    t = rec["test"]
    _emit(args, obj, f"{args.model}: best epoch {rec['best_epoch']} ({rec['stopped']}), test recall@10 {t['recall@10']:.4f} "
                     f"ndcg@10 {t['ndcg@10']:.4f}, saved to {args.project}")
    return 0


def cmd_eval(args) -> int:
    from .project import Project
    from .train import evaluate_generator

    proj = Project.open(args.project)
    bar = _Bar(not args.json, f"eval {args.model}")
    try:
        out = evaluate_generator(proj, args.model, split_name=args.split, beam=args.beam, constrained=not args.unconstrained,
                                 users=args.users, exactness=args.exactness, device=args.device, progress=bar)
    finally:
        bar.close()
    _emit(args, out)
    return 0


def cmd_compact(args) -> int:
    from .project import Project
    from .train import compact_generator

    proj = Project.open(args.project)
    bar = _Bar(not args.json and not args.no_eval, f"compact {args.model}")
    try:
        out = compact_generator(proj, args.model, storage="float16", evaluate_test=not args.no_eval, beam=args.beam,
                                device=args.device, command=_command_line(args), progress=bar)
    finally:
        bar.close()
    if out["storage_before"] == out["storage"]:
        human = f"{args.model}: already stored as {out['storage']}; nothing changed"
    else:
        human = (f"{args.model}: {out['bytes_before'] / 1e6:.1f} MB -> {out['bytes_after'] / 1e6:.1f} MB ({out['storage']}), "
                 f"largest weight change {out['max_abs_change']:.2g}")
        if "test" in out:
            was = out.get("test_before", {})
            human += "\n" + "  ".join(
                f"{m} {out['test'][m]:.4f}" + (f" (was {was[m]:.4f})" if m in was else "")
                for m in ("recall@10", "ndcg@10"))
    _emit(args, out, human)
    return 0


def cmd_recommend(args) -> int:
    from .project import Project
    from .train import recommend

    from .filters import ItemFilter

    proj = Project.open(args.project)
    ids = _int_list(args.history, "--history") if args.history else []

    def names(values):  # repeatable options, each a comma-separated list
        return tuple(v.strip() for arg in values or () for v in arg.split(",") if v.strip())

    filters = ItemFilter(
        allow_categories=names(args.allow_category), block_categories=names(args.block_category),
        allow_brands=names(args.allow_brand), block_brands=names(args.block_brand),
        allow_items=tuple(i for arg in args.allow_item or () for i in _int_list(arg, "--allow-item")),
        block_items=tuple(i for arg in args.block_item or () for i in _int_list(arg, "--block-item")),
    )
    out = recommend(proj, args.model, ids, k=args.k, beam=args.beam, trace=args.trace,
                    constrained=not args.unconstrained, exclude_history=args.exclude_history, filters=filters,
                    interest_depth=args.interest_depth, instruction=args.instruction, device=args.device)
    lines = [f"{r['rank']:>2}. {r['item_id']:>6}  {'-'.join(map(str, r['sid'])) if r['sid'] else '':<14} "
             f"{r['score']:8.3f}  {r['title'][:70]}" for r in out["items"]]
    _emit(args, out, "\n".join(lines))
    return 0


def cmd_instruct_eval(args) -> int:
    from .instruct import instruct_eval
    from .project import Project

    proj = Project.open(args.project)
    bar = _Bar(not args.json, f"instruct-eval {args.model}")
    try:
        out = instruct_eval(proj, args.model, min_items=args.min_items, beam=args.beam, users=args.users,
                            device=args.device, progress=bar)
    finally:
        bar.close()
    e, h = out["empty_history"], out["with_history"]
    _emit(args, out, (
        f"{out['categories']} leaf categories (>= {out['min_items']} items), empty history: precision@10 "
        f"{e['precision@10']:.3f} (random {e['random_precision@10']:.3f}, popularity {e['popularity_precision@10']:.3f})\n"
        f"{h['users']} test users with histories: precision@10 {h['precision@10']:.3f} (without instruction "
        f"{h['precision@10_without_instruction']:.3f}), recall@10 {h['recall@10']:.4f} (without "
        f"{h['recall@10_without_instruction']:.4f})"))
    return 0


def cmd_layout(args) -> int:
    from .analysis import item_layout
    from .project import Project

    proj = Project.open(args.project)
    bar = _Bar(not args.json, f"layout {args.space}")
    t0 = time.perf_counter()
    try:
        xy = item_layout(proj, args.space, seed=args.seed, progress=bar)
    finally:
        bar.close()
    obj = {"project": str(args.project), "space": args.space, "items": int(xy.shape[0]),
           "seconds": round(time.perf_counter() - t0, 2), "file": f"layout-{args.space}.npy"}
    _emit(args, obj, f"{args.project}: layout-{args.space}.npy ({xy.shape[0]:,} items, {obj['seconds']} s)")
    return 0


def cmd_coldstart_eval(args) -> int:
    from .coldstart import coldstart_eval
    from .project import Project

    proj = Project.open(args.project)
    bar = _Bar(not args.json, "coldstart-eval")
    kw = {k: v for k, v in dict(weight=args.weight, n_candidates=args.candidates, content_share=args.content_share,
                                max_cold=args.max_cold).items() if v is not None}
    try:
        out = coldstart_eval(proj, progress=bar, users=args.users, gen_kind=args.model, dense_kind=args.dense,
                             device=args.device, **kw)
    finally:
        bar.close()
    human = (f"{out['cold_cases']} cold / {out['warm_cases']} warm test cases, weight {out['weight']}\n"
             f"cold recall@10: generative {out['cold_recall@10_generative']:.4f}  hybrid {out['cold_recall@10_hybrid']:.4f}\n"
             f"cold ndcg@10:   generative {out['cold_ndcg@10_generative']:.4f}  hybrid {out['cold_ndcg@10_hybrid']:.4f}\n"
             f"warm recall@10: generative {out['warm_recall@10_generative']:.4f}  hybrid {out['warm_recall@10_hybrid']:.4f}")
    _emit(args, out, human)
    return 0


def _run_bench(args, name: str, fn, **kwargs) -> int:
    """Run one benchmark with a progress bar, write ``--out`` atomically, print the JSON."""
    bar = _Bar(not args.json, f"bench {name}")
    try:
        obj = fn(device=args.device, progress=bar, **kwargs)
    finally:
        bar.close()
    if args.out:
        from .fileio import write_json_atomic

        write_json_atomic(args.out, obj)
    _emit(args, obj)
    return 0


def cmd_bench_tokenize(args) -> int:
    from .bench import bench_tokenize

    return _run_bench(args, "tokenize", bench_tokenize, sizes=_int_list(args.sizes, "--sizes"),
                      methods=[m for m in args.methods.split(",") if m], beauty=not args.no_beauty)


def cmd_bench_decode(args) -> int:
    from .bench import bench_decode

    return _run_bench(args, "decode", bench_decode, batch=args.batch, beams=_int_list(args.beams, "--beams"))


def cmd_bench_train(args) -> int:
    from .bench import bench_train

    return _run_bench(args, "train", bench_train, history=args.history, steps=args.steps)


def cmd_bench_gui_stall(args) -> int:
    """Runs the app's stall benchmark in a child interpreter (the engine itself never imports Qt)."""
    import subprocess

    cmd = [sys.executable, "-m", "app.stall", "--json", "--seconds", str(args.seconds), "--kind", args.kind]
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise GenrecError(f"python -m app.stall failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
    obj = json.loads(proc.stdout.strip().splitlines()[-1])
    if args.out:
        from .fileio import write_json_atomic

        write_json_atomic(args.out, obj)
    print(json.dumps(obj))
    return 0


# ---------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    from .quantize import METHODS

    p = argparse.ArgumentParser(prog="genrec", description="GenRec Explorer engine: data, semantic IDs, benchmarks.")
    p.add_argument("--version", action="version", version=f"genrec {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def add(parser_, name, help_, func):
        sp = parser_.add_parser(name, help=help_, description=help_)
        sp.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
        sp.set_defaults(func=func)
        return sp

    data = sub.add_parser("data", help="dataset folders: check, import").add_subparsers(dest="data_command", required=True)
    sp = add(data, "check", "validate a dataset folder and count items, users, interactions", cmd_data_check)
    sp.add_argument("dir")
    sp.add_argument("--min-interactions", type=int, default=3, help="fewest interactions a user may have (default 3)")
    sp = add(data, "import-amazon", "convert an Amazon 5-core dump (Beauty.txt + items.jsonl) to a dataset folder", cmd_data_import_amazon)
    sp.add_argument("src")
    sp.add_argument("out")

    sp = add(sub, "tokenize", "embed a catalogue, fit a tokenizer and write a project folder", cmd_tokenize)
    sp.add_argument("--data", required=True, help="dataset folder")
    sp.add_argument("--method", choices=METHODS, default="rkmeans")
    sp.add_argument("--levels", type=int, default=3)
    sp.add_argument("--codebook-size", type=int, default=256)
    sp.add_argument("--out", required=True, help="project folder to write")
    sp.add_argument("--device", default="auto", help="auto | cpu | cuda")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--encoder", choices=("minilm", "structured", "npy"), default="minilm")
    sp.add_argument("--embeddings", help=".npy file of precomputed embeddings (with --encoder npy)")
    sp.add_argument("--fields", default="title,brand,categories", help="item fields fed to the text encoder")
    sp.add_argument("--steps", type=int, help="optimiser steps for rqvae/vqvae")
    sp.add_argument("--latent-dim", type=int, help="latent width for rqvae/vqvae")
    sp.add_argument("--balance-last-level", action="store_true", help="re-assign the last level to cut collisions")
    sp.add_argument("--cold-holdout", type=float, metavar="FRACTION",
                    help="hold this seeded (--seed) share of items out of the tokenizer fit and the trie (cold items)")

    sids = sub.add_parser("sids", help="inspect a project's semantic IDs").add_subparsers(dest="sids_command", required=True)
    sp = add(sids, "show", "show one item's SID or the items under a prefix", cmd_sids_show)
    sp.add_argument("project")
    g = sp.add_mutually_exclusive_group(required=True)
    g.add_argument("--item", type=int, help="item id")
    g.add_argument("--prefix", help="comma-separated codes, e.g. 12,48")
    sp.add_argument("--limit", type=int, default=20, help="most items to list")
    sp = add(sids, "stats", "tokenizer diagnostics per level", cmd_sids_stats)
    sp.add_argument("project")
    sp = add(sids, "export", "write the SID prefix tree as GraphML", cmd_sids_export)
    sp.add_argument("project")
    sp.add_argument("--graphml", required=True)
    sp.add_argument("--max-depth", type=int)


    sp = add(sub, "train", "train a generator on the project's leave-one-out split", cmd_train)
    sp.add_argument("--project", required=True)
    sp.add_argument("--model", required=True, choices=("ran", "tiger", "sasrec"))
    sp.add_argument("--epochs", type=int)
    sp.add_argument("--max-minutes", type=float, help="wall-clock budget; the best checkpoint so far is kept")
    sp.add_argument("--device", default="auto")
    sp.add_argument("--lr", type=float)
    sp.add_argument("--batch-size", type=int)
    sp.add_argument("--seed", type=int)
    sp.add_argument("--eval-every", type=int, help="epochs between validation runs")
    sp.add_argument("--eval-users", type=int, help="validate on a seeded subset of users")
    sp.add_argument("--patience", type=int, help="validation runs without improvement before stopping")
    sp.add_argument("--d-model", type=int)
    sp.add_argument("--n-layers", type=int)
    sp.add_argument("--n-heads", type=int)
    sp.add_argument("--dropout", type=float)
    sp.add_argument("--max-len", type=int)
    sp.add_argument("--model-config", help="JSON object of further model settings")
    sp.add_argument("--cold-holdout", type=float, metavar="FRACTION",
                    help="hold this seeded share of items out of tokenizer fitting and training (cold-start protocol)")
    sp.add_argument("--instructions", action="store_true",
                    help="add an instruction token and train it on grounding tasks (ran, tiger)")
    sp.add_argument("--keep", choices=("best", "last"),
                    help="weights to keep: best validation Recall@10 (default, early stopping) or the last epoch's")
    sp.add_argument("--resume", action="store_true",
                    help="start from the project's saved generator of this kind (its settings and weights), e.g. to "
                         "go on with a run cut short by --max-minutes; give a lower --lr")

    sp = add(sub, "eval", "evaluate a trained generator (leave-one-out, full catalogue)", cmd_eval)
    sp.add_argument("--project", required=True)
    sp.add_argument("--model", required=True, choices=("ran", "tiger", "sasrec"))
    sp.add_argument("--split", choices=("valid", "test"), default="test")
    sp.add_argument("--beam", type=int, default=20)
    sp.add_argument("--unconstrained", action="store_true", help="decode without the trie and count invalid SIDs")
    sp.add_argument("--users", type=int, help="evaluate a seeded subset of users")
    sp.add_argument("--exactness", type=int, default=0, metavar="N",
                    help="also compare beam top-10 with the exact top-10 for N sampled users, per beam width")
    sp.add_argument("--device", default="auto")

    sp = add(sub, "compact", "store a trained generator's weights in float16 (half the bytes) and re-evaluate it",
             cmd_compact)
    sp.add_argument("--project", required=True)
    sp.add_argument("--model", required=True, choices=("ran", "tiger", "sasrec"))
    sp.add_argument("--beam", type=int, help="beam of the test evaluation (default: the one training validated with)")
    sp.add_argument("--no-eval", action="store_true", help="skip the test evaluation of the rounded weights")
    sp.add_argument("--device", default="auto")

    sp = add(sub, "recommend", "recommend the next items for a history of item ids", cmd_recommend)
    sp.add_argument("--project", required=True)
    sp.add_argument("--model", required=True, choices=("ran", "tiger", "sasrec"))
    sp.add_argument("--history", default="", help="comma-separated item ids, oldest first")
    sp.add_argument("-k", type=int, default=10)
    sp.add_argument("--beam", type=int, default=20)
    sp.add_argument("--trace", action="store_true", help="include the beam search trace, level by level")
    sp.add_argument("--unconstrained", action="store_true")
    sp.add_argument("--exclude-history", action="store_true", help="never recommend items already in the history")
    for what, meta in (("category", "NAME"), ("brand", "NAME"), ("item", "ID")):
        sp.add_argument(f"--allow-{what}", action="append", metavar=meta,
                        help=f"only recommend items with this {what} (comma-separated; repeatable)")
        sp.add_argument(f"--block-{what}", action="append", metavar=meta,
                        help=f"never recommend items with this {what} (comma-separated; repeatable)")
    sp.add_argument("--interest-depth", type=int, default=1, help="SID codes that define an interest group (default 1)")
    sp.add_argument("--instruction", help="natural-language request, e.g. 'gentle cleanser for sensitive skin' "
                    "(generators trained with --instructions; the history may then be empty)")
    sp.add_argument("--device", default="auto")

    sp = add(sub, "instruct-eval", "category instructions: precision@10 with an empty history and with histories",
             cmd_instruct_eval)
    sp.add_argument("--project", required=True)
    sp.add_argument("--model", choices=("ran", "tiger"), default="ran")
    sp.add_argument("--min-items", type=int, default=20, help="leaf categories with at least this many items")
    sp.add_argument("--beam", type=int, default=20)
    sp.add_argument("--users", type=int, default=2000, help="seeded test users for the with-history part")
    sp.add_argument("--device", default="auto")

    sp = add(sub, "layout", "UMAP layout of the items for the codebook map, cached in the project", cmd_layout)
    sp.add_argument("--project", required=True)
    sp.add_argument("--space", choices=("content", "collaborative"), default="content")
    sp.add_argument("--seed", type=int, default=0)

    sp = add(sub, "coldstart-eval", "cold vs warm recall: generative-only vs hybrid (generative + dense) re-ranking",
             cmd_coldstart_eval)
    sp.add_argument("--project", required=True, help="a cold-start project (--cold-holdout)")
    sp.add_argument("--model", choices=("ran", "tiger"), default="ran", help="generative model (default ran)")
    sp.add_argument("--dense", choices=("sasrec",), default="sasrec", help="dense scorer (default sasrec)")
    sp.add_argument("--weight", type=float, help="share of the dense score in the mix, 0..1")
    sp.add_argument("--candidates", type=int, help="beam width = generative candidates per user")
    sp.add_argument("--content-share", type=float, help="share of the content-profile term in the dense score, 0..1")
    sp.add_argument("--max-cold", type=int, help="most cold items in a top-10 list")
    sp.add_argument("--users", type=int, help="evaluate a seeded subset of test users")
    sp.add_argument("--device", default="cpu")

    bench = sub.add_parser("bench", help="benchmarks (JSON figures, ratios within one run)").add_subparsers(dest="bench_command", required=True)
    sp = add(bench, "tokenize", "fit+encode seconds per method; trie build and mask throughput", cmd_bench_tokenize)
    sp.add_argument("--sizes", default="100000,1000000", help="synthetic catalogue sizes (d = 384)")
    sp.add_argument("--methods", default=",".join(METHODS))
    sp.add_argument("--no-beauty", action="store_true", help="skip the bundled Beauty catalogue")
    sp.add_argument("--device", default="auto")
    sp.add_argument("--out", help="also write the JSON to this file")
    sp = add(bench, "decode", "beam-search latency: RAN vs TIGER-style, constrained vs unconstrained", cmd_bench_decode)
    sp.add_argument("--batch", type=int, default=256)
    sp.add_argument("--beams", default="10,20,50")
    sp.add_argument("--device", default="auto")
    sp.add_argument("--out", help="also write the JSON to this file")
    sp = add(bench, "gui-stall", "longest GUI-thread stall while a generator trains (vs idle), via the app", cmd_bench_gui_stall)
    sp.add_argument("--seconds", type=float, default=5.0)
    sp.add_argument("--kind", default="sasrec", choices=("sasrec", "ran", "tiger"))
    sp.add_argument("--out", help="also write the JSON to this file")

    sp = add(bench, "train", "training samples/s: RAN vs TIGER-style", cmd_bench_train)
    sp.add_argument("--history", type=int, default=30)
    sp.add_argument("--steps", type=int, default=20)
    sp.add_argument("--device", default="auto")
    sp.add_argument("--out", help="also write the JSON to this file")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.argv = argv  # recorded in metrics.json as the command that rebuilds a checkpoint
    try:
        return int(args.func(args) or 0)
    except DataValidationError as exc:
        msg = str(exc)
    except Cancelled:
        msg = "cancelled"
    except GenrecError as exc:
        msg = str(exc)
    except KeyboardInterrupt:
        msg = "interrupted"
    if getattr(args, "json", False):
        sys.stdout.write(json.dumps({"error": msg}) + "\n")
    print(f"genrec: error: {msg}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
