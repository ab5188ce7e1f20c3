"""``genrec train``, ``genrec eval``, ``genrec compact``: a project's generators."""
from __future__ import annotations

import sys

from ..errors import ConfigError, GenrecError
from ..project import Project
from ..train import TrainConfig, compact_generator, evaluate_generator, train_generator
from .common import MAX_BEAM, Bar, add_generator_command, command_line, emit, json_object, real, whole


def cmd_train(args) -> int:
    proj = Project.open(args.project)
    if args.cold_holdout is not None:
        from ..coldstart import apply_cold_holdout

        fresh = proj.meta.get("cold") is None
        proj = apply_cold_holdout(proj, args.cold_holdout, args.seed or 0)
        if fresh:
            print(f"genrec: {len(proj.cold_indices)} cold items held out; the tokenizer was re-fitted on the others "
                  "(generators trained before on this project must be retrained)", file=sys.stderr)
    tkw = {k: v for k, v in dict(epochs=args.epochs, max_minutes=args.max_minutes, stop_after=args.stop_after,
                                  lr=args.lr, batch_size=args.batch_size, seed=args.seed, eval_every=args.eval_every,
                                  patience=args.patience, eval_users=args.eval_users, keep=args.keep).items() if v is not None}
    mkw = {}
    for name in ("d_model", "n_layers", "n_heads", "dropout", "max_len"):
        v = getattr(args, name)
        if v is not None:
            mkw[name] = v
    if args.model_config:
        mkw.update(args.model_config)
    if args.instructions:
        if args.model == "sasrec":
            raise ConfigError("--instructions: sasrec scores item ids and cannot take an instruction token; use ran or tiger")
        mkw["instruction"] = True
    with Bar(not args.json, f"train {args.model}") as bar:

        def on_epoch(row):
            if not args.json:
                bar.bar.write(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()
                                       if not k.startswith("valid_") or k in ("valid_recall@10", "valid_ndcg@10")))

        rec = train_generator(proj, args.model, model_config=mkw, train_config=TrainConfig(**tkw), device=args.device,
                              progress=bar, on_epoch=on_epoch, command=command_line(args), resume=args.resume,
                              keep_state=True)
    obj = {k: v for k, v in rec.items() if k != "history"}
    v = rec["valid"]
    emit(args, obj, f"{args.model} ({rec['variant']}): best epoch {rec['best_epoch']} ({rec['stopped']}), validation "
                    f"recall@10 {v.get('recall@10', float('nan')):.4f} ndcg@10 {v.get('ndcg@10', float('nan')):.4f}, "
                    f"saved to {args.project}; score it on test with: genrec eval --project {args.project} "
                    f"--model {args.model}")
    return 0


def cmd_eval(args) -> int:
    proj = Project.open(args.project)
    if not args.no_record:  # the evaluation will be recorded: check that it can be, before it runs
        from ..train import read_metrics
        from ..txn import check_writable

        try:
            read_metrics(proj)
            check_writable(proj.path)
        except GenrecError as exc:
            raise type(exc)(f"{exc} (or evaluate with --no-record)") from None
    ranked = []
    with Bar(not args.json, f"eval {args.model}") as bar:
        out = evaluate_generator(proj, args.model, split_name=args.split, beam=args.beam, constrained=not args.unconstrained,
                                 users=args.users, exactness=args.exactness, device=args.device, progress=bar,
                                 on_ranked=ranked.append if args.dump else None)
    if args.dump:
        from ..data import project_split
        from ..interop.audit import ranked_rows, write_generations

        rows = ranked_rows(ranked[0], user_ids=project_split(proj).user_ids, item_ids=proj.sids.item_ids,
                           codes=proj.sids.codes)
        out["dump"] = {"file": args.dump, "rows": write_generations(args.dump, rows)}
    if not args.no_record:
        from ..train import record_evaluation

        record_evaluation(proj, args.model, out, command=command_line(args))
    emit(args, out)
    return 0


def cmd_repro(args) -> int:
    from ..train import repro
    from ..train.recipe import load_recipe

    proj = Project.open(args.project)
    if args.status:
        return _repro_status(args, proj)
    tkw = {k: v for k, v in dict(epochs=args.epochs, max_minutes=args.max_minutes, stop_after=args.stop_after,
                                  lr=args.lr, batch_size=args.batch_size, eval_every=args.eval_every,
                                  patience=args.patience, eval_users=args.eval_users).items() if v is not None}
    recipe = None
    if args.recipe:
        given = [f"--{k.replace('_', '-')}" for k in tkw] + (["--model-config"] if args.model_config else [])
        if given:
            raise ConfigError(f"--recipe gives the model and training settings: drop {', '.join(given)}")
        recipe = load_recipe(args.recipe)
    with Bar(not args.json, f"repro {args.model}") as bar:
        out = repro(proj, args.model, seeds=args.seeds, first_seed=args.seed or 0, recipe=recipe,
                    model_config=None if recipe else (args.model_config or None),
                    train_config=None if recipe else TrainConfig(**tkw), bundle_seed=args.bundle,
                    train_only=args.train_only, score_stages=args.score_stages or (), beam=args.beam,
                    device=args.device, command=command_line(args), progress=bar)
    reused = out.get("reused_stages") or {}
    note = (f" (finished stages reused for seeds {', '.join(reused)}: kept in {args.project}/repro-work)"
            if reused else "")
    if args.train_only:
        human = (f"{args.model}: seeds {out['seeds']} trained{note}; validation recall@10 "
                 + ", ".join(f"{s}: {v.get('recall@10', float('nan')):.4f}" for s, v in out["trained"].items())
                 + f"; kept in {out['work']} until a run without --train-only scores them on test")
        emit(args, out, human)
        return 0
    m, sd = out["mean"], out["sd"]
    em, esd = out["excluding_history"]["mean"], out["excluding_history"]["sd"]
    human = (f"{args.model} ({out['variant']}), {len(out['seeds'])} seeds {out['seeds']}, test, {out['seconds']:.0f} s"
             f"{note}:\n"
             f"  history kept:     recall@10 {m['recall@10']:.4f} ± {sd['recall@10']:.4f}  "
             f"ndcg@10 {m['ndcg@10']:.4f} ± {sd['ndcg@10']:.4f}\n"
             f"  history excluded: recall@10 {em['recall@10']:.4f} ± {esd['recall@10']:.4f}  "
             f"ndcg@10 {em['ndcg@10']:.4f} ± {esd['ndcg@10']:.4f}  (mean ± sd over seeds)")
    for st in out.get("stages", ()):
        m, sd, em, esd = st["mean"], st["sd"], st["excluding_history"]["mean"], st["excluding_history"]["sd"]
        human += (f"\n  stage {st['stage']} ({st['variant']}): recall@10 {m['recall@10']:.4f} ± {sd['recall@10']:.4f}"
                  f"  ndcg@10 {m['ndcg@10']:.4f} ± {sd['ndcg@10']:.4f} kept; {em['recall@10']:.4f} ± "
                  f"{esd['recall@10']:.4f} / {em['ndcg@10']:.4f} ± {esd['ndcg@10']:.4f} excluded")
    emit(args, out, human)
    return 0


def cmd_compact(args) -> int:
    proj = Project.open(args.project)
    with Bar(not args.json and not args.no_eval, f"compact {args.model}") as bar:
        out = compact_generator(proj, args.model, storage="float16", validate=not args.no_eval, beam=args.beam,
                                device=args.device, command=command_line(args), progress=bar)
    if out["storage_before"] == out["storage"]:
        human = f"{args.model}: already stored as {out['storage']}; nothing changed"
    else:
        human = (f"{args.model}: {out['bytes_before'] / 1e6:.1f} MB -> {out['bytes_after'] / 1e6:.1f} MB ({out['storage']}), "
                 f"largest weight change {out['max_abs_change']:.2g}")
        if "valid" in out:
            was = out.get("valid_before", {})
            human += "\n  validation " + "  ".join(
                f"{m} {out['valid'][m]:.4f}" + (f" (was {was[m]:.4f})" if m in was else "")
                for m in ("recall@10", "ndcg@10"))
    emit(args, out, human)
    return 0


def _repro_status(args, proj) -> int:
    """``genrec repro --status``: what the project's repro-work folder holds and the scored repros
    ``metrics.json`` records; trains nothing."""
    from ..train.repro import repro_status

    entries = repro_status(proj, args.model)
    lines = []
    for e in entries:
        recipe = e["recipe"]
        lines.append(f"{e['model']}: " + (f"{recipe.get('file') or 'a recipe'} ({len(recipe['stages'])} stages)"
                                          if recipe else "a recipe not recorded there") + f", kept in {e['folder']}")
        for sd in e["seeds"]:
            done = ", ".join(f"stage {f['stage']} best epoch {f['best_epoch']} ({f['stopped']}, valid recall@10 "
                             f"{f['valid_recall@10'] or float('nan'):.4f})" for f in sd["finished"]) or "no stage finished"
            now = sd.get("running")
            if now is not None:
                until = now["stop_after"] or now["epochs"]
                best = now["best_valid_recall@10"]
                done += (f"; stage {now['stage']} at epoch {now['epoch']} of {until}"
                         + (f", best valid recall@10 {best:.4f} at epoch {now['best_epoch']}" if best is not None else "")
                         + f", {now['seconds'] / 60:.0f} min")
            if sd.get("scored"):
                done += "; test figures kept for stage" + ("s " if len(sd["scored"]) > 1 else " ") + ", ".join(
                    map(str, sd["scored"]))
            lines.append(f"  seed {sd['seed']}: {done}")
    if not lines:
        lines.append(f"{args.project}: no repro of {args.model} in progress (nothing in repro-work)")
    # what finished repros left: their records in metrics.json (the work folder goes once they are scored)
    from ..train import read_metrics

    try:
        recorded = [e for e in (read_metrics(proj).get(args.model) or {}).get("repro") or () if isinstance(e, dict)]
    except GenrecError as exc:
        recorded, lines = [], lines + [f"metrics.json not read: {exc}"]
    summary = [{"variant": e.get("variant"), "date": e.get("date"), "seeds": e.get("seeds"),
                "recipe_file": e.get("recipe_file"), "recall@10": (e.get("mean") or {}).get("recall@10"),
                "recall@10_sd": (e.get("sd") or {}).get("recall@10"),
                "stages": [{"stage": st.get("stage"), "variant": st.get("variant"),
                            "recall@10": (st.get("mean") or {}).get("recall@10")}
                           for st in e.get("stages") or () if isinstance(st, dict)]} for e in recorded]
    if summary:
        lines.append(f"scored repros of {args.model} recorded in metrics.json:")
        for e in summary:
            r10 = ("" if e["recall@10"] is None else
                   f", test recall@10 {e['recall@10']:.4f} ± {e['recall@10_sd'] or 0.0:.4f} (history kept)")
            lines.append(f"  {e['date']}  {e['variant']}  seeds {', '.join(map(str, e['seeds'] or ()))}"
                         f"{'  ' + e['recipe_file'] if e['recipe_file'] else ''}{r10}")
            for st in e["stages"]:
                if st["recall@10"] is not None:
                    lines.append(f"    its stage {st['stage']} ({st['variant']}): test recall@10 {st['recall@10']:.4f}")
    emit(args, {"model": args.model, "work": entries, "recorded": summary}, "\n".join(lines))
    return 0


def stage_list(text: str) -> tuple[int, ...]:
    """An argparse ``type`` for ``--score-stages``: stage numbers from 1, comma-separated."""
    import argparse

    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected stage numbers separated by commas, e.g. 1,2") from None
    if any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: stages are numbered from 1")
    return values


def register(sub) -> None:
    """Add the train, eval and compact commands to ``sub``."""
    sp = add_generator_command(sub, "train", "train a generator on the project's leave-one-out split (validation "
                                             "only; a run killed part way goes on from its last epoch when the same "
                                             "command runs again)", cmd_train)
    sp.add_argument("--epochs", type=whole(1, 100_000))
    sp.add_argument("--max-minutes", type=real(0, 1e6, lo_open=True), help="wall-clock budget; the best checkpoint so far is kept")
    sp.add_argument("--stop-after", type=whole(1, 100_000), metavar="N",
                    help="epoch budget: stop after N epochs of the --epochs-long schedule (the learning rate still "
                         "decays over --epochs); the best checkpoint so far is kept")
    sp.add_argument("--device", default="auto")
    sp.add_argument("--lr", type=real(0, 10, lo_open=True))
    sp.add_argument("--batch-size", type=whole(1, 1 << 20))
    sp.add_argument("--seed", type=whole(0))
    sp.add_argument("--eval-every", type=whole(1, 100_000), help="epochs between validation runs")
    sp.add_argument("--eval-users", type=whole(1), help="validate on a seeded subset of users")
    sp.add_argument("--patience", type=whole(1, 100_000), help="validation runs without improvement before stopping")
    sp.add_argument("--d-model", type=whole(1, 4096))
    sp.add_argument("--n-layers", type=whole(1, 64))
    sp.add_argument("--n-heads", type=whole(1, 64))
    sp.add_argument("--dropout", type=real(0, 1, hi_open=True))
    sp.add_argument("--max-len", type=whole(1, 4096))
    sp.add_argument("--model-config", type=json_object, help="JSON object of further model settings")
    sp.add_argument("--cold-holdout", type=real(0, 1, lo_open=True, hi_open=True), metavar="FRACTION",
                    help="hold this seeded share of items out of tokenizer fitting and training (cold-start protocol)")
    sp.add_argument("--instructions", action="store_true",
                    help="add an instruction token and train it on grounding tasks (ran, tiger)")
    sp.add_argument("--keep", choices=("best", "last"),
                    help="weights to keep: best validation Recall@10 (default, early stopping) or the last epoch's")
    sp.add_argument("--resume", action="store_true",
                    help="start from the project's saved generator of this kind (its settings and weights), e.g. to "
                         "go on with a run cut short by --max-minutes; give a lower --lr")

    sp = add_generator_command(sub, "eval", "score a trained generator on test (or valid): leave-one-out, full "
                                            "catalogue, history kept and excluded, with a protocol card; recorded in "
                                            "metrics.json", cmd_eval)
    sp.add_argument("--split", choices=("valid", "test"), default="test")
    sp.add_argument("--beam", type=whole(1, MAX_BEAM), default=20)
    sp.add_argument("--unconstrained", action="store_true", help="decode without the trie and count invalid SIDs")
    sp.add_argument("--users", type=whole(1), help="evaluate a seeded subset of users")
    sp.add_argument("--exactness", type=whole(0, 100_000), default=0, metavar="N",
                    help="also compare beam top-10 with the exact top-10 for N sampled users, per beam width")
    sp.add_argument("--device", default="auto")
    sp.add_argument("--dump", metavar="FILE",
                    help="also write the scored top-20 lists as a JSONL generations file (see genrec audit)")
    sp.add_argument("--no-record", action="store_true",
                    help="do not append this evaluation (figures, protocol card, command, date) to metrics.json")

    sp = add_generator_command(sub, "repro", "train one recipe under several seeds (fresh weights), score each on test "
                                             "once at the end, report mean and sd; a run stopped part way goes on "
                                             "where it stopped when run again", cmd_repro)
    sp.add_argument("--seeds", type=whole(1, 100), default=3, help="how many seeds (default 3): --seed, --seed + 1, ...")
    sp.add_argument("--seed", type=whole(0), help="the first seed (default 0)")
    sp.add_argument("--model-config", type=json_object, help="JSON object of model settings (a one-stage recipe)")
    sp.add_argument("--recipe", metavar="FILE",
                    help="a recipe file: the model and training settings of one or more stages, each continuing the "
                         "last (resources/recipes/ holds the bundled generators'); replaces --model-config and the "
                         "training flags")
    sp.add_argument("--train-only", action="store_true",
                    help="train the seeds (finishing any stopped before) into the project's repro-work folder and "
                         "score nothing; a later run without it scores them all on test")
    sp.add_argument("--status", action="store_true",
                    help="show what the project's repro-work folder holds for this model (finished stages per seed, "
                         "the stage in progress and its epoch) and the scored repros metrics.json records; trains "
                         "nothing, safe while a repro runs")
    sp.add_argument("--score-stages", type=stage_list, metavar="K[,K...]",
                    help="also score these earlier stages of a --recipe on test (e.g. 1,2: what each later stage "
                         "adds, mean ± sd over the seeds); the last stage is always scored")
    sp.add_argument("--bundle", type=whole(0), metavar="SEED",
                    help="keep that seed's weights as the project's generator (default: the project is untouched "
                         "except for the repro record in metrics.json)")
    sp.add_argument("--epochs", type=whole(1, 100_000))
    sp.add_argument("--max-minutes", type=real(0, 1e6, lo_open=True), help="wall-clock budget per seed")
    sp.add_argument("--stop-after", type=whole(1, 100_000), metavar="N",
                    help="epoch budget per seed: stop after N epochs of the --epochs-long schedule")
    sp.add_argument("--lr", type=real(0, 10, lo_open=True))
    sp.add_argument("--batch-size", type=whole(1, 1 << 20))
    sp.add_argument("--eval-every", type=whole(1, 100_000))
    sp.add_argument("--eval-users", type=whole(1), help="validate on a seeded subset of users")
    sp.add_argument("--patience", type=whole(1, 100_000))
    sp.add_argument("--beam", type=whole(1, MAX_BEAM), default=20, help="beam of the test evaluation")
    sp.add_argument("--device", default="auto")

    sp = add_generator_command(sub, "compact",
                               "store a trained generator's weights in float16 (half the bytes) and re-evaluate it",
                               cmd_compact)
    sp.add_argument("--beam", type=whole(1, MAX_BEAM), help="beam of the validation run (default: the one training validated with)")
    sp.add_argument("--no-eval", action="store_true", help="skip the validation run of the rounded weights")
    sp.add_argument("--device", default="auto")
