"""``genrec bench tokenize|decode|train|gui-stall|startup|scale``: benchmark figures as JSON."""
from __future__ import annotations

import json
import os
import sys

from ..errors import GenrecError
from .common import Bar, add_command, emit, int_list, real, whole, write_out


def _run_bench(args, name: str, fn, **kwargs) -> int:
    """Run one benchmark with a progress bar, write ``--out`` atomically, print the JSON."""
    with Bar(not args.json, f"bench {name}") as bar:
        obj = fn(device=args.device, progress=bar, **kwargs)
    write_out(args, obj)
    emit(args, obj)
    return 0


def cmd_bench_tokenize(args) -> int:
    from ..bench import bench_tokenize

    return _run_bench(args, "tokenize", bench_tokenize, sizes=int_list(args.sizes, "--sizes"),
                      methods=[m for m in args.methods.split(",") if m], beauty=not args.no_beauty)


def cmd_bench_decode(args) -> int:
    from ..bench import bench_decode

    return _run_bench(args, "decode", bench_decode, batch=args.batch, beams=int_list(args.beams, "--beams"),
                      memory_users=args.memory_users)


def cmd_bench_train(args) -> int:
    from ..bench import bench_train

    return _run_bench(args, "train", bench_train, history=args.history, steps=args.steps)


def cmd_bench_gui_stall(args) -> int:
    """Runs the app's stall benchmark in a child interpreter (the engine itself never imports Qt)."""
    import subprocess

    cmd = [sys.executable, "-m", "app.stall", "--json", "--seconds", str(args.seconds),
           "--idle-seconds", str(args.idle_seconds), "--kind", args.kind]
    if args.project:
        cmd += ["--project", str(args.project)]
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise GenrecError(f"python -m app.stall failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
    obj = json.loads(proc.stdout.strip().splitlines()[-1])
    write_out(args, obj)
    print(json.dumps(obj))
    return 0


def cmd_bench_startup(args) -> int:
    """Launches the app in fresh child interpreters (``python -m app.startup``): once, reported
    as ``first_launch`` (what a user meets first: cold file caches, and the dataset validated and
    put in the user's cache when it is not there yet), then ``--runs`` times, whose median is
    reported. ``--busy N`` keeps N other processes spinning on the CPU meanwhile."""
    import statistics
    import subprocess
    import time

    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))

    def launch() -> dict:
        cmd = [sys.executable, "-m", "app.startup", "--since", repr(time.time())]
        if args.project:
            cmd.append(str(args.project))
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            raise GenrecError(f"python -m app.startup failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])

    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    try:
        first = launch()
        runs = [launch() for _ in range(args.runs)]
    finally:
        for p in spinners:
            p.kill()
            p.wait()
    obj = {"runs": runs, "first_launch": first, "project": runs[0]["project"], "cpu_count": os.cpu_count(),
           "busy_processes": args.busy}
    for key in ("imports_s", "window_s", "loaded_s"):
        obj[key] = round(statistics.median(r[key] for r in runs), 3)
    write_out(args, obj)
    print(json.dumps(obj))
    return 0


def cmd_bench_scale(args) -> int:
    from ..scale import bench_scale

    with Bar(not args.json, f"bench scale {args.items:,} items") as bar:
        obj = bench_scale(items=args.items, users=args.users, baseline=None if args.no_baseline else args.baseline,
                          seed=args.seed, train_minutes=args.train_minutes, app=not args.no_app, work=args.work,
                          keep=args.keep, device=args.device, progress=bar)
    write_out(args, obj)
    emit(args, obj)
    return 0 if obj["checked"] else 1


def register(sub) -> None:
    """Add the bench commands to ``sub``."""
    from ..quantize import METHODS

    bench = sub.add_parser("bench", help="benchmarks (JSON figures, ratios within one run)").add_subparsers(dest="bench_command", required=True)
    sp = add_command(bench, "tokenize", "fit+encode seconds per method; trie build and mask throughput", cmd_bench_tokenize)
    sp.add_argument("--sizes", default="100000,1000000", help="synthetic catalogue sizes (d = 384)")
    sp.add_argument("--methods", default=",".join(METHODS))
    sp.add_argument("--no-beauty", action="store_true", help="skip the bundled Beauty catalogue")
    sp.add_argument("--device", default="auto")
    sp.add_argument("--out", help="also write the JSON to this file")
    sp = add_command(bench, "decode", "beam-search latency: RAN vs TIGER-style, constrained vs unconstrained", cmd_bench_decode)
    sp.add_argument("--batch", type=whole(1, 1 << 20), default=256)
    sp.add_argument("--beams", default="10,20,50")
    sp.add_argument("--memory-users", type=whole(0, 1 << 20), default=0, metavar="N",
                    help="also measure the peak resident memory of one constrained decode of N users per model "
                         "and beam, each in a fresh process")
    sp.add_argument("--device", default="auto")
    sp.add_argument("--out", help="also write the JSON to this file")
    sp = add_command(bench, "gui-stall", "GUI-thread stalls of the app as launched: loading, idle, while a generator trains",
                     cmd_bench_gui_stall)
    sp.add_argument("--seconds", type=real(0, 86400, lo_open=True), default=30.0, help="training time budget to measure (default 30)")
    sp.add_argument("--idle-seconds", type=real(0, 86400), default=60.0, help="idle time to measure (default 60)")
    sp.add_argument("--kind", default="ran", choices=("sasrec", "ran", "tiger"))
    sp.add_argument("--project", help="project folder (default: the bundled one)")
    sp.add_argument("--out", help="also write the JSON to this file")

    sp = add_command(bench, "startup", "seconds from launch to a shown window and to a loaded project (median)",
                     cmd_bench_startup)
    sp.add_argument("--runs", type=whole(1, 100), default=3,
                    help="timed launches after a first one, each in a fresh process (default 3)")
    sp.add_argument("--busy", type=whole(0, 64), default=0,
                    help="processes kept spinning on the CPU during the launches (default 0)")
    sp.add_argument("--project", help="project folder (default: the bundled one)")
    sp.add_argument("--out", help="also write the JSON to this file")

    sp = add_command(bench, "scale", "every stage (synth, tokenize, trie, app open, tree, search, layout, train, decode) "
                                     "at N synthetic items, with ratios to 12,000 items", cmd_bench_scale)
    sp.add_argument("--items", type=whole(100, 100_000_000), required=True)
    sp.add_argument("--users", type=whole(10), help="users (default: 2 per item)")
    sp.add_argument("--baseline", type=whole(100), default=12_000, help="items of the baseline run (default 12000)")
    sp.add_argument("--no-baseline", action="store_true", help="skip the baseline run (no ratios)")
    sp.add_argument("--no-app", action="store_true", help="skip the app stages (open, tree_expand, search)")
    sp.add_argument("--train-minutes", type=real(0, 1440, lo_open=True), default=2.0,
                    help="wall-clock budget per generator for the training epoch; a longer epoch is projected "
                         "from the measured throughput (default 2)")
    sp.add_argument("--seed", type=whole(0), default=0)
    sp.add_argument("--work", help="folder for the datasets and projects (default: a temporary one, removed)")
    sp.add_argument("--keep", action="store_true", help="keep the work folder")
    sp.add_argument("--device", default="auto")
    sp.add_argument("--out", help="also write the JSON to this file")

    sp = add_command(bench, "train", "training samples/s: RAN vs TIGER-style", cmd_bench_train)
    sp.add_argument("--history", type=whole(1, 4096), default=30)
    sp.add_argument("--steps", type=whole(1, 100_000), default=20)
    sp.add_argument("--device", default="auto")
    sp.add_argument("--out", help="also write the JSON to this file")
