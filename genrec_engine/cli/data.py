"""``genrec data check|import-amazon|import-letter``, ``genrec tokenize``."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from .common import Bar, add_command, add_encoder_options, emit, fields_of, real, whole


def cmd_data_check(args) -> int:
    from ..data import check_dataset

    ds, problems = check_dataset(args.dir, min_user_interactions=args.min_interactions, cache=False)  # check the files themselves
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
        emit(args, obj)
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
    from ..data import import_amazon

    with Bar(not args.json, "import") as bar:
        summary = import_amazon(args.src, args.out, progress=bar)
    emit(args, summary, f"wrote {args.out}: {summary['items']:,} items, {summary['users']:,} users, "
                        f"{summary['interactions']:,} interactions")
    return 0


def cmd_data_import_letter(args) -> int:
    from ..interop import import_letter

    with Bar(not args.json, "import") as bar:
        s = import_letter(args.src, args.out, progress=bar)
    sources = ", ".join(f"{name} ({n:,} rows)" for name, n in s["rows_per_file"].items())
    human = (f"wrote {args.out}: {s['items']:,} items, {s['users']:,} users, {s['interactions']:,} interactions\n"
             f"  from {s['item_file']} and {sources}; {s['rows_merged']:,} rows merged"
             + (f", {s['rows_windowed']:,} read as windows of {s['history_window']} items"
                if s["history_window"] else "")
             + (f"\n  user ids {s['user_ids']}" if s["user_ids"] != "as written" else "")
             + (f"\n  ignored: {', '.join(s['ignored_files'])}" if s["ignored_files"] else ""))
    emit(args, s, human)
    return 0


def cmd_data_synth(args) -> int:
    from ..data.synth import synth_dataset

    with Bar(not args.json, "synth") as bar:
        s = synth_dataset(args.out, items=args.items, users=args.users, seed=args.seed, dim=args.dim, progress=bar)
    human = (f"wrote {args.out}: {s['items']:,} items, {s['users']:,} users, {s['interactions']:,} interactions "
             f"({s['leaves']} leaf categories, {s['brands']:,} brands, embeddings.npy [{s['items']:,} x {s['dim']}] "
             f"float16) in {s['seconds']:.1f} s\n  tokenize it with: genrec tokenize --data {args.out} --encoder npy "
             f"--embeddings {args.out}/embeddings.npy --out PROJECT")
    emit(args, s, human)
    return 0


def _quantizer_config(args, n_items: int | None = None):
    from ..quantize import QuantizerConfig, suggest_codebook_size

    if args.codebook_size is None:  # auto: from the catalogue's size (256 from 4,096 items on)
        args.codebook_size = suggest_codebook_size(n_items or 0)
        args.codebook_size_auto = True
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
    from ..data import load_dataset
    from ..project import tokenize_dataset

    dataset = load_dataset(args.data, short_users="drop" if args.drop_short_users else "error")
    config = _quantizer_config(args, dataset.n_items)
    fields = fields_of(args)
    t0 = time.perf_counter()
    cold = None
    if args.cold_holdout is not None:
        from ..coldstart import choose_cold_items

        cold = {"fraction": args.cold_holdout, "seed": args.seed,
                "indices": choose_cold_items(dataset.n_items, args.cold_holdout, args.seed)}
    with Bar(not args.json, f"tokenize {args.method}") as bar:
        res = tokenize_dataset(dataset, config, args.out, encoder=args.encoder, fields=fields,
                               embeddings_path=args.embeddings, cold=cold, progress=bar)
    obj = {**res.summary(), "total_seconds": round(time.perf_counter() - t0, 2), "project": str(args.out),
           "codebook_size": config.codebook_size,
           "codebook_size_from": "catalogue size" if getattr(args, "codebook_size_auto", False) else "--codebook-size"}
    s = res.summary()
    auto = (f"  codebook size {config.codebook_size}, chosen for {dataset.n_items:,} items (at least 16 per codeword; "
            "--codebook-size sets it)\n" if getattr(args, "codebook_size_auto", False) else "")
    human = auto + (
        f"{args.out}: {s['items']:,} items, {s['unique_sids']:,} unique SIDs, collision rate {s['collision_rate']:.3f} "
        f"(max depth {s['max_collision_depth']})\n"
        f"  utilization per level {s['utilization']}, perplexity {s['perplexity']}\n"
        f"  prefix entropy (bits) {s['prefix_entropy']}, recon mse {s['recon_mse']}, fit {s['seconds']} s"
    )
    emit(args, obj, human)
    return 0


def register(sub) -> None:
    """Add the data and tokenize commands to ``sub``."""
    from ..quantize import METHODS

    data = sub.add_parser("data", help="dataset folders: check, import").add_subparsers(dest="data_command", required=True)
    sp = add_command(data, "check", "validate a dataset folder and count items, users, interactions", cmd_data_check)
    sp.add_argument("dir")
    sp.add_argument("--min-interactions", type=whole(1), default=3, help="fewest interactions a user may have (default 3)")
    sp = add_command(data, "import-amazon", "convert an Amazon 5-core dump (Beauty.txt + items.jsonl) to a dataset folder", cmd_data_import_amazon)
    sp.add_argument("src")
    sp.add_argument("out")
    sp = add_command(data, "import-letter", "convert a LETTER / LC-Rec / MiniOneRec catalogue (<name>.item.json + "
                     "<name>.inter.json or MiniOneRec CSV files) to a dataset folder; item ids stay the indices",
                     cmd_data_import_letter)
    sp.add_argument("src", help="folder with <name>.item.json and <name>.inter.json or *.csv")
    sp.add_argument("out", help="dataset folder to write (its items/interactions files are replaced)")

    sp = add_command(data, "synth", "write a realistic synthetic catalogue (category tree, brands, power-law "
                     "popularity, drifting users, 5-core) with float16 embeddings, for scale tests", cmd_data_synth)
    sp.add_argument("out", help="dataset folder to write")
    sp.add_argument("--items", type=whole(10, 10**8), required=True)
    sp.add_argument("--users", type=whole(2, 10**8), required=True)
    sp.add_argument("--seed", type=whole(0, 2**31 - 1), default=0)
    sp.add_argument("--dim", type=whole(8, 1024), default=64, help="embedding dimension (default 64)")

    sp = add_command(sub, "tokenize", "embed a catalogue, fit a tokenizer and write a project folder", cmd_tokenize)
    sp.add_argument("--data", required=True, help="dataset folder")
    sp.add_argument("--method", choices=METHODS, default="rkmeans")
    sp.add_argument("--levels", type=whole(1, 8), default=3)
    sp.add_argument("--drop-short-users", action="store_true",
                    help="leave out users with fewer than 3 interactions (one warning counts them; the project "
                         "remembers it) instead of refusing the dataset")
    sp.add_argument("--codebook-size", type=whole(2, 65536), default=None,
                    help="codewords per level (default: from the catalogue's size, 256 from 4,096 items on, "
                         "at least 16 items per codeword below)")
    sp.add_argument("--out", required=True, help="project folder to write")
    sp.add_argument("--device", default="auto", help="auto | cpu | cuda")
    sp.add_argument("--seed", type=whole(0), default=0)
    add_encoder_options(sp)
    sp.add_argument("--steps", type=whole(1, 10_000_000), help="optimiser steps for rqvae/vqvae")
    sp.add_argument("--latent-dim", type=whole(1, 65536), help="latent width for rqvae/vqvae")
    sp.add_argument("--balance-last-level", action="store_true", help="re-assign the last level to cut collisions")
    sp.add_argument("--cold-holdout", type=real(0, 1, lo_open=True, hi_open=True), metavar="FRACTION",
                    help="hold this seeded (--seed) share of items out of the tokenizer fit and the trie (cold items)")
