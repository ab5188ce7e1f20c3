"""Benchmarks behind ``genrec bench ...``: JSON figures, with ratios measured in the same run.

Timings never live in tests; they live here and in ``benchmarks/*.json`` with the machine they
came from.
"""
from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from .device import device_label, resolve_device
from .jobs import ProgressFn, report

__all__ = ["bench_tokenize", "machine_info", "synthetic_embeddings"]

_BEAUTY = Path(__file__).resolve().parent.parent / "resources" / "datasets" / "beauty"


def machine_info(device: str = "auto") -> dict:
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "device": device_label(device),
        "date": time.strftime("%Y-%m-%d"),
    }


def synthetic_embeddings(n: int, d: int = 384, clusters: int = 2000, seed: int = 0) -> np.ndarray:
    """A clustered, L2-normalised catalogue ``[n, d]`` float32 (like sentence embeddings)."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((clusters, d), dtype=np.float32)
    X = np.empty((n, d), dtype=np.float32)
    step = 200_000
    for s in range(0, n, step):
        m = min(step, n - s)
        X[s : s + m] = centers[rng.integers(0, clusters, m)] + 0.35 * rng.standard_normal((m, d), dtype=np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X


def _fit_encode(method: str, X: np.ndarray, device: str, **overrides) -> dict:
    from .quantize import QuantizerConfig, build_quantizer, diagnose_codes

    kw = dict(method=method, levels=3, codebook_size=256, device=device, **overrides)
    if method == "vqvae":
        kw.setdefault("latent_dim", 48)
    cfg = QuantizerConfig(**kw)
    t0 = time.perf_counter()
    q = build_quantizer(cfg).fit(X)
    t_fit = time.perf_counter() - t0
    codes = q.encode(X)
    total = time.perf_counter() - t0
    d = diagnose_codes(codes, cfg.codebook_size)
    return {
        "fit_seconds": round(t_fit, 2),
        "fit_encode_seconds": round(total, 2),
        "utilization_l1": round(d.levels[0].utilization, 4),
        "collision_rate": round(d.collision_rate, 4),
    }


def _sklearn_rkmeans(X: np.ndarray, levels: int = 3, k: int = 256, seed: int = 0) -> float:
    """Baseline: the same residual k-means with scikit-learn's (Mini-batch) KMeans, seconds."""
    from sklearn.cluster import KMeans, MiniBatchKMeans

    t0 = time.perf_counter()
    r = X.copy()
    for l in range(levels):
        if len(X) > 200_000:
            km = MiniBatchKMeans(k, batch_size=16_384, max_iter=1, max_no_improvement=None, n_init=1, random_state=seed + l)
        else:
            km = KMeans(k, n_init=1, max_iter=25, random_state=seed + l)
        labels = km.fit_predict(r)
        r = r - km.cluster_centers_[labels].astype(np.float32)
    return time.perf_counter() - t0


def _naive_mask_ms(codes: np.ndarray, k: int, batch: int, seed: int = 0) -> float:
    """Baseline for the trie mask: a dict of child-sets per prefix and a Python loop per beam."""
    prefixes = codes[:, :2]
    children: dict[int, set] = {}
    for a, b in zip(prefixes[:, 0].tolist(), prefixes[:, 1].tolist()):
        children.setdefault(a, set()).add(b)
    rng = np.random.default_rng(seed)
    nodes = rng.choice(list(children), batch).tolist()
    t0 = time.perf_counter()
    mask = torch.zeros(batch, k, dtype=torch.bool)
    for i, n in enumerate(nodes):
        mask[i, list(children[n])] = True
    return (time.perf_counter() - t0) * 1000


def bench_tokenize(
    *,
    sizes=(100_000, 1_000_000),
    methods=("rkmeans", "rqvae", "vqvae", "gaoq"),
    beauty: bool = True,
    device: str = "auto",
    progress: ProgressFn | None = None,
) -> dict:
    """Fit+encode seconds per method on Beauty (embeddings from the cache) and synthetic sets;
    trie build seconds and mask throughput at 1M items; ratios against simple baselines."""
    from .index import bench_trie

    device = str(resolve_device(device))
    out: dict = {"machine": machine_info(device), "levels": 3, "codebook_size": 256, "results": {}}
    jobs = (["beauty"] if beauty else []) + [f"synthetic-{n}" for n in sizes]
    for j, name in enumerate(jobs):
        if name == "beauty":
            from .data import load_dataset
            from .project import compute_embeddings

            ds = load_dataset(_BEAUTY)
            X, _ = compute_embeddings(ds, device=device)
        else:
            X = synthetic_embeddings(int(name.split("-")[1]))
        res = {"items": int(len(X)), "dim": int(X.shape[1])}
        for i, m in enumerate(methods):
            report(progress, (j + i / len(methods)) / (len(jobs) + 1), f"{name} {m}")
            res[m] = _fit_encode(m, X, device)
        if "rkmeans" in methods:
            base = _sklearn_rkmeans(X)
            res["sklearn_rkmeans_seconds"] = round(base, 2)
            res["rkmeans_speedup_vs_sklearn"] = round(base / max(res["rkmeans"]["fit_encode_seconds"], 1e-9), 2)
        out["results"][name] = res
        del X
    report(progress, len(jobs) / (len(jobs) + 1), "trie")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a mask is a tiny gather: one thread is fastest, and immune to a busy machine
    try:
        trie = bench_trie(n_items=1_000_000, depth=4, codebook_size=256, batch=4096, device=device)
    finally:
        torch.set_num_threads(threads)
    trie["torch_threads"] = 1
    rng = np.random.default_rng(0)
    naive = _naive_mask_ms(rng.integers(0, 256, (200_000, 2)), 256, 4096)
    trie["naive_python_mask_ms"] = round(naive, 3)
    trie["mask_speedup_vs_naive"] = round(naive / max(trie["mask_ms_per_batch"], 1e-9), 1)
    out["trie_1m"] = trie
    out["targets"] = {
        "rkmeans_beauty_seconds_lt": 30,
        "rkmeans_1m_seconds_lt": 120,
        "mask_4096_at_1m_ms_lt": 5,
    }
    report(progress, 1.0, "done")
    return out


def _beauty_project():
    from .project import Project

    return Project.open(_BEAUTY.parent.parent / "models" / "beauty-default")


def _models_for_bench(project, kinds, device):
    """Trained generators when the project has them, else freshly initialised ones (latency and
    throughput do not depend on the weights)."""
    from .generators import generator_path, new_generator

    out = {}
    for kind in kinds:
        if generator_path(project, kind).is_file():
            out[kind] = (project.generator(kind, device), "trained")
        else:
            torch.manual_seed(0)
            out[kind] = (new_generator(project, kind).to(device).eval(), "untrained")
    return out


def _median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _rss_high_water_mb() -> float | None:
    """This process's resident-memory high-water mark in MB: ``VmHWM`` on Linux (ru_maxrss there
    starts from the parent's mark after fork and exec), ``ru_maxrss`` elsewhere; None on Windows."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    try:
        import resource
    except ImportError:
        return None
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 * 1024)  # bytes on macOS


def decode_peak_rss(kind: str, users: int, beam: int, device: str = "cpu") -> dict:
    """In this process: the resident-memory high-water mark (MB) before and after one constrained
    beam search of ``users`` Beauty test users (seeded) at ``beam`` with the bundled ``kind``
    generator. Meaningful in a fresh process only (:func:`bench_decode` starts one per figure)."""
    from .data import leave_one_out
    from .decode import beam_search
    from .models import pad_histories

    dev = resolve_device(device)
    project = _beauty_project()
    split = leave_one_out(project.dataset)
    model = _models_for_bench(project, [kind], dev)[kind][0]
    picked = np.random.default_rng(0).choice(len(split.test_history), users, replace=False)
    H = pad_histories([split.test_history[u] for u in picked], model.config.max_len, device=dev)
    trie = project.trie.to(dev)
    before = _rss_high_water_mb()
    with torch.no_grad():
        beam_search(model, H, trie=trie, beam=beam, k=10, constrained=True)
    peak = _rss_high_water_mb()
    return {"kind": kind, "users": users, "beam": beam, "before_mb": None if before is None else round(before, 1),
            "peak_mb": None if peak is None else round(peak, 1)}


def _peak_rss_in_child(kind: str, users: int, beam: int, device: str) -> dict:
    import json
    import subprocess
    import sys

    code = ("import json; from genrec_engine.bench import decode_peak_rss; "
            f"print(json.dumps(decode_peak_rss({kind!r}, {users}, {beam}, {device!r})))")
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"kind": kind, "users": users, "beam": beam, "error": tail}
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_decode(*, batch: int = 256, beams=(10, 20, 50), repeats: int = 3, device: str = "auto",
                 memory_users: int = 0, progress: ProgressFn | None = None) -> dict:
    """Decode latency per batch of Beauty test users: RAN vs TIGER-style at several beam widths,
    and constrained vs unconstrained (the trie's overhead). ``memory_users``: also the peak
    resident memory of one constrained decode of that many users per model and beam, each in a
    fresh process (``"memory_mb"``: the high-water mark before the decode, i.e. after loading,
    and at its peak)."""
    from .data import leave_one_out
    from .decode import beam_search
    from .models import MODEL_CLASSES, pad_histories

    dev = resolve_device(device)
    project = _beauty_project()
    split = leave_one_out(project.dataset)
    kinds = [k for k in ("ran", "tiger") if k in MODEL_CLASSES]
    models = _models_for_bench(project, kinds, dev)
    trie = project.trie.to(dev)
    rng = np.random.default_rng(0)
    users = rng.choice(len(split.test_history), batch, replace=False)
    out: dict = {"machine": machine_info(str(dev)), "batch": batch, "models": {k: v[1] for k, v in models.items()},
                 "latency_ms": {}, "ratios": {}}
    jobs = [(kind, b, c) for b in beams for kind in kinds for c in (True, False)]
    with torch.no_grad():
        for j, (kind, b, constrained) in enumerate(jobs):
            model = models[kind][0]
            H = pad_histories([split.test_history[u] for u in users], model.config.max_len, device=dev)
            report(progress, j / len(jobs), f"{kind} beam {b}")
            s = _median_seconds(lambda: beam_search(model, H, trie=trie, beam=b, k=10, constrained=constrained), repeats)
            out["latency_ms"][f"{kind}/beam{b}/{'constrained' if constrained else 'unconstrained'}"] = round(s * 1000, 2)
    lat = out["latency_ms"]
    for b in beams:
        if "tiger" in kinds:
            out["ratios"][f"tiger_over_ran/beam{b}"] = round(lat[f"tiger/beam{b}/constrained"] / lat[f"ran/beam{b}/constrained"], 2)
        for kind in kinds:
            out["ratios"][f"{kind}_constrained_over_unconstrained/beam{b}"] = round(
                lat[f"{kind}/beam{b}/constrained"] / lat[f"{kind}/beam{b}/unconstrained"], 3)
    if memory_users:
        out["memory_users"] = memory_users
        out["memory_mb"] = {}
        for j, (kind, b) in enumerate([(kind, b) for b in beams for kind in kinds]):
            report(progress, j / (len(beams) * len(kinds)), f"memory: {kind} beam {b}, {memory_users} users")
            out["memory_mb"][f"{kind}/beam{b}"] = _peak_rss_in_child(kind, memory_users, b, str(dev))
    report(progress, 1.0, "done")
    return out


def bench_train(*, history: int = 30, steps: int = 20, batch_size: int = 128, device: str = "auto",
                progress: ProgressFn | None = None) -> dict:
    """Training throughput (target items per second) of RAN vs TIGER-style on Beauty batches
    with histories cut to ``history`` items and 4-token SIDs (3 levels + collision level)."""
    from .data import leave_one_out
    from .generators import new_generator
    from .models import MODEL_CLASSES
    from .train.data import next_item_tensors

    dev = resolve_device(device)
    project = _beauty_project()
    split = leave_one_out(project.dataset)
    H, Y = next_item_tensors(split.train, history)
    long_rows = torch.argsort((H > 0).sum(1), descending=True)[: batch_size * 4]  # the fullest histories
    out: dict = {"machine": machine_info(str(dev)), "history": history, "sid_length": project.sids.depth,
                 "batch_size": batch_size, "samples_per_second": {}}
    kinds = [k for k in ("ran", "tiger") if k in MODEL_CLASSES]
    for j, kind in enumerate(kinds):
        torch.manual_seed(0)
        short = {"max_len": history} if "max_len" in MODEL_CLASSES[kind].config_class().to_dict() else {}
        model = new_generator(project, kind, short).to(dev).train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        n_samples = 0

        def step(i):
            nonlocal n_samples
            idx = long_rows[(i * batch_size) % len(long_rows):][:batch_size]
            h, y = H[idx].to(dev), Y[idx].to(dev)
            loss, _ = model(h, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            n_samples += int((y > 0).sum())

        step(0)
        n_samples = 0
        t0 = time.perf_counter()
        for i in range(steps):
            step(i)
            report(progress, (j + (i + 1) / steps) / len(kinds), f"{kind} step {i + 1}/{steps}")
        out["samples_per_second"][kind] = round(n_samples / (time.perf_counter() - t0), 1)
    sps = out["samples_per_second"]
    if "tiger" in sps:
        out["ran_over_tiger"] = round(sps["ran"] / sps["tiger"], 2)
    return out
