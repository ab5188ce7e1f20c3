"""``genrec bench scale``: the whole explorer, stage by stage, at a catalogue size ``N``.

One run builds a synthetic catalogue of ``N`` items (:mod:`~genrec_engine.data.synth`, 2 users
per item by default) and takes it through every stage a user's catalogue goes through, timing
each and checking its output:

``synth`` -> ``tokenize`` (rkmeans, 3 levels, K from the catalogue's size, from the synthetic
embeddings) -> ``trie`` (built from the SID table) -> ``layout`` (the codebook map's layout,
computed into an empty cache) -> ``open`` (the app launched on the project in a child process,
window usable with the project loaded; the layout is in its cache, as after ``genrec layout``, the
dataset is not, so it is validated from its files; ``again_seconds``: a second launch, which finds
the validated tables in the cache, as every later open does; :mod:`app.scaleprobe`) -> ``tree_expand`` and ``search`` (the slowest of a seeded sample of
requests in that app, once the work the panels start after a load is done) -> ``train_epoch`` (a RAN
and a SASRec, one epoch or a wall-clock budget, with the full epoch's time projected from the
measured throughput when the budget ends it) -> ``decode`` (the RAN trained there, beam 50, per
256 test users, constrained to the trie).

UMAP's kernels are compiled once before either run (``umap_compile_seconds``). The same stages
run first at a baseline size (12,000 items, like Beauty), and every stage's
``ratio`` is its seconds over the baseline's, measured in the same run. Memory: ``peak_rss_gb``
is the largest resident set of this process and of the app's, and every stage reports the peak
during that stage (the kernel's high-water mark, reset before each stage where Linux allows).
Nothing here builds a dense ``items x items`` or ``users x items`` array.
"""
from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from .errors import ConfigError, GenrecError
from .jobs import CancelToken, ProgressFn, check_cancel, report

__all__ = ["STAGES", "bench_scale", "run_size"]

#: The stages, in the order they run.
STAGES = ("synth", "tokenize", "trie", "layout", "open", "tree_expand", "search", "train_epoch", "decode")
BASELINE_ITEMS = 12_000
DECODE_USERS = 256
DECODE_BEAM = 50


def _reset_peak() -> bool:
    """Reset this process's resident high-water mark (Linux ``clear_refs``); False where not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _peak_gb() -> float | None:
    """This process's resident high-water mark in GB (``VmHWM``), or None off Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024**2, 3)
    except OSError:
        pass
    return None


class _Stages:
    """Times each stage, records its peak memory and keeps the results in order."""

    def __init__(self, progress: ProgressFn | None, cancel: CancelToken | None, base: float, span: float):
        self.out: dict[str, dict] = {}
        self.progress, self.cancel, self.base, self.span = progress, cancel, base, span
        self.peaks: list[float] = []

    def run(self, name: str, fn) -> object:
        check_cancel(self.cancel)
        report(self.progress, self.base + self.span * STAGES.index(name) / len(STAGES), name)
        resettable = _reset_peak()
        t0 = time.perf_counter()
        value, facts = fn()
        seconds = time.perf_counter() - t0
        peak = _peak_gb()
        if peak is not None:
            self.peaks.append(peak)
        self.out[name] = {"seconds": round(seconds, 3), **facts,
                          **({"peak_rss_gb": peak} if peak is not None and resettable else {})}
        return value


@contextlib.contextmanager
def _cache_dir(folder: Path):
    """``$GENREC_CACHE_DIR`` set to ``folder`` for the block (this process and its children)."""
    old = os.environ.get("GENREC_CACHE_DIR")
    os.environ["GENREC_CACHE_DIR"] = str(folder)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("GENREC_CACHE_DIR", None)
        else:
            os.environ["GENREC_CACHE_DIR"] = old


def _run_app_probe(project: Path, seed: int) -> dict:
    """``python -m app.scaleprobe`` in a child process (the engine never imports Qt)."""
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    cmd = [sys.executable, "-m", "app.scaleprobe", str(project), "--since", repr(time.time()), "--seed", str(seed)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = (lines[-1] if lines else proc.stderr.strip()[-500:])
        raise GenrecError(f"python -m app.scaleprobe {project} failed (exit {proc.returncode}): {tail}")
    obj = json.loads(lines[-1])
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # the largest child so far: the app
    obj["peak_rss_gb"] = round(usage.ru_maxrss / 1024**2, 3)
    return obj


def _train_one(project, split, kind: str, minutes: float, device: torch.device):
    from .generators import new_generator
    from .train.loop import TrainConfig, fit

    torch.manual_seed(0)
    model = new_generator(project, kind)
    max_len = model.config.max_len
    # the training pairs ``fit`` makes (see next_item_tensors: the last max_len of each sequence's
    # len - 1), counted from the lengths rather than by building the tensors a second time
    lengths = split.train.lengths
    pairs = int(np.minimum(lengths[lengths >= 2] - 1, max_len).sum())
    config = TrainConfig(epochs=1, batch_size=256, warmup_steps=100, max_minutes=minutes)
    res = fit(model, split.train, config=config, device=device, max_len=max_len)
    row = res.history[-1] if res.history else {}
    sps = float(res.samples_per_second)
    complete = res.stopped == "epochs"
    facts = {"seconds_measured": round(res.seconds, 2), "pairs": pairs, "samples_per_second": round(sps, 1),
             "complete": complete, "loss": round(float(row.get("loss", float("nan"))), 4),
             "epoch_seconds": round(res.seconds if complete else pairs / max(sps, 1e-9), 1),
             "parameters": int(sum(p.numel() for p in model.parameters()))}
    return model.eval(), facts


def run_size(items: int, work: Path, **kwargs) -> dict:
    """Every stage at ``items`` items, in ``work`` (a folder it fills; its ``cache`` subfolder is
    the user cache for the whole run, so nothing lands in the real one). Returns
    ``{"items", "users", "interactions", "stages": {...}, "peak_rss_gb"}``; keywords: see
    :func:`_run_size`."""
    with _cache_dir(work / "cache"):
        return _run_size(items, work, **kwargs)


def _run_size(items: int, work: Path, *, users: int | None = None, seed: int = 0, train_minutes: float = 2.0,
              app: bool = True, device: str = "auto", progress: ProgressFn | None = None,
              cancel: CancelToken | None = None, base: float = 0.0, span: float = 1.0) -> dict:
    from .analysis import item_layout
    from .data import leave_one_out, load_dataset
    from .data.synth import synth_dataset
    from .decode import beam_search
    from .device import resolve_device
    from .index import PrefixTrie
    from .models import pad_histories
    from .project import Project, tokenize_dataset
    from .quantize import QuantizerConfig, suggest_codebook_size

    dev = resolve_device(device)
    users = int(users or 2 * items)
    data, proj = work / f"data-{items}", work / f"project-{items}"
    st = _Stages(progress, cancel, base, span)
    st.run("synth", lambda: (None, {k: v for k, v in synth_dataset(data, items=items, users=users, seed=seed).items()
                                              if k in ("users", "interactions")}))

    def tokenize():
        ds = load_dataset(data)
        cfg = QuantizerConfig(method="rkmeans", levels=3, codebook_size=suggest_codebook_size(ds.n_items), seed=seed,
                              device=str(dev))
        res = tokenize_dataset(ds, cfg, proj, encoder="npy", embeddings_path=data / "embeddings.npy")
        s = res.summary()
        return None, {"codebook_size": cfg.codebook_size, "collision_rate": s["collision_rate"],
                      "unique_sids": s["unique_sids"], "max_collision_depth": s["max_collision_depth"],
                      "checked": s["unique_sids"] == items}

    st.run("tokenize", tokenize)
    project = Project.open(proj)
    codes = np.asarray(project.sids.codes)

    def trie():
        t = PrefixTrie.from_codes(codes, project.sids.level_sizes)
        return t, {"nodes_per_level": [int(t.num_nodes(lv)) for lv in range(1, t.depth + 1)],
                   "checked": int(t.num_items) == items}

    st.run("trie", trie)
    cache = work / "cache"  # emptied: the layout is computed into it, then the app finds it there
    shutil.rmtree(cache, ignore_errors=True)  # (and the dataset tokenize validated is no longer cached)

    def layout():
        from .analysis import layout_note

        with _cache_dir(cache):
            lay = item_layout(project, "content", cache="user")
        return None, {"method": layout_note(items), "checked": bool(lay.shape == (items, 2) and np.isfinite(lay).all())}

    st.run("layout", layout)
    if app:
        with _cache_dir(cache):
            probe = _run_app_probe(proj, seed)  # first open: the dataset validated from its files
            again = _run_app_probe(proj, seed + 1)  # every open after: validated tables from the cache
        st.out["open"] = {**probe["open"], "window_s": probe["window_s"], "peak_rss_gb": probe["peak_rss_gb"],
                          "again_seconds": again["open"]["seconds"], "again_window_s": again["window_s"]}
        st.out["tree_expand"] = probe["tree_expand"]
        st.out["search"] = probe["search"]
        st.peaks.append(probe["peak_rss_gb"])
    check_cancel(cancel)
    split = leave_one_out(project.dataset)
    trained: dict = {}

    def train():
        facts = {}
        for kind in ("ran", "sasrec"):
            trained[kind], facts[kind] = _train_one(project, split, kind, train_minutes, dev)
        return None, {"models": facts, "budget_minutes": train_minutes,
                      "checked": all(np.isfinite(f["loss"]) for f in facts.values())}

    st.run("train_epoch", train)

    def decode():
        model = trained["ran"].to(dev)
        tr = project.trie.to(dev)
        rng = np.random.default_rng(seed)
        rows = rng.choice(len(split.test_history), min(DECODE_USERS, len(split.test_history)), replace=False)
        H = pad_histories([split.test_history[u] for u in rows], model.config.max_len, device=dev)
        times = []
        with torch.no_grad():
            for _ in range(3):  # the first is a warm-up
                t0 = time.perf_counter()
                res = beam_search(model, H, trie=tr, beam=DECODE_BEAM, k=10, constrained=True)
                times.append(time.perf_counter() - t0)
        got = res.items.cpu().numpy()
        valid = bool(((got >= 0) & (got < items)).all() and all(len(set(r)) == len(r) for r in got.tolist()))
        return None, {"seconds_per_256_users": round(float(np.median(times[1:])), 4), "beam": DECODE_BEAM,
                      "users": int(len(rows)), "checked": valid and int(res.invalid.sum()) == 0}

    st.run("decode", decode)
    st.out["decode"]["seconds"] = st.out["decode"]["seconds_per_256_users"]
    return {"items": items, "users": st.out["synth"].get("users"), "interactions": st.out["synth"].get("interactions"),
            "stages": st.out, "peak_rss_gb": max(st.peaks) if st.peaks else None}


def bench_scale(*, items: int, users: int | None = None, baseline: int | None = BASELINE_ITEMS, seed: int = 0,
                train_minutes: float = 2.0, app: bool = True, work: str | os.PathLike | None = None, keep: bool = False,
                device: str = "auto", progress: ProgressFn | None = None, cancel: CancelToken | None = None) -> dict:
    """Run every stage at ``baseline`` items (unless None) and at ``items``; the JSON of
    ``genrec bench scale``: ``{"items", "peak_rss_gb", "stages", "baseline", "ratios", ...}``."""
    from .analysis.layout import _fit_umap
    from .bench import machine_info

    if int(items) < 100:
        raise ConfigError(f"--items {items}: at least 100")
    root = Path(work) if work else Path(tempfile.mkdtemp(prefix="genrec-scale-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        out: dict = {"machine": machine_info(device), "train_minutes": train_minutes, "seed": seed}
        # UMAP's numba kernels compile on the first fit in a process (~40 s here, whatever the size):
        # done once up front, so neither run's layout stage carries it
        t0 = time.perf_counter()
        _fit_umap(np.random.default_rng(0).standard_normal((200, 8)).astype(np.float32), seed=0, n_neighbors=15)
        out["umap_compile_seconds"] = round(time.perf_counter() - t0, 2)
        span = 0.15 if baseline else 0.0
        base_run = None
        if baseline:
            base_run = run_size(int(baseline), root / "baseline", seed=seed, train_minutes=train_minutes, app=app,
                                device=device, progress=progress, cancel=cancel, base=0.0, span=span)
        run = run_size(int(items), root / "main", users=users, seed=seed, train_minutes=train_minutes, app=app,
                       device=device, progress=progress, cancel=cancel, base=span, span=1.0 - span)
        out.update({"items": run["items"], "users": run["users"], "interactions": run["interactions"],
                    "peak_rss_gb": run["peak_rss_gb"], "stages": run["stages"]})
        if base_run is not None:
            out["baseline"] = base_run
            out["ratios"] = {name: round(run["stages"][name]["seconds"] / max(base_run["stages"][name]["seconds"], 1e-9), 2)
                             for name in STAGES if name in run["stages"] and name in base_run["stages"]}
            out["ratios"]["items"] = round(run["items"] / base_run["items"], 2)
        out["checked"] = all(s.get("checked", True) for s in run["stages"].values())
        report(progress, 1.0, "done")
        return out
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
