"""2-D maps of the catalogue: a UMAP layout of the items, and nearest neighbours in a space.

Two spaces can be mapped:

* ``"content"``: the project's item embeddings (``project.embeddings [N, d]``, the text encoder's
  vectors the tokenizer quantised);
* ``"collaborative"``: the trained RAN generator's item representations ``E_i [N, d_model]``
  (:meth:`genrec_engine.models.ran.RAN.item_representations`), shaped by who bought what.

A layout takes UMAP ~30-60 s for 12k items on one CPU core; above :data:`SAMPLE_ABOVE` items
UMAP runs on a seeded sample and every other item is placed among its nearest sampled items
(:func:`layout_note` says so in words). Layouts are slow, so :func:`item_layout` caches it in
the project folder as ``layout-<space>.npy`` [N, 2] float32 with a JSON sidecar
``layout-<space>.json`` holding a fingerprint of its inputs (a hash of the input matrix and the
UMAP parameters). A cache whose fingerprint no longer matches (new embeddings, retrained RAN,
other parameters) is recomputed. Both files are written atomically; a read-only project folder
just means no cache.

``cache="user"`` (what the app asks for) never writes into the project folder: a layout computed
there goes to the user's cache (``$GENREC_CACHE_DIR`` or ``~/.cache/genrec-explorer``, under
``layouts/``, named by its fingerprint), so opening a project, the bundled one included, leaves
its files as they were. Reading looks in the project folder first, then in the user's cache.
"""
from __future__ import annotations

import hashlib
import json
import logging
import warnings
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..fileio import atomic_path, read_json, write_json_atomic
from ..jobs import CancelToken, ProgressFn, check_cancel, collector_paused, report

__all__ = ["SPACES", "item_layout", "layout_matrix", "layout_fingerprint", "layout_note", "layout_sample",
           "nearest_neighbours"]

log = logging.getLogger(__name__)

#: The spaces a layout can be computed in, in the order a GUI offers them.
SPACES = ("content", "collaborative")

_ALGORITHM = "umap-cosine/1"  # bump when the way a layout is computed changes: old caches go stale
_MIN_DIST = 0.1  # umap-learn's default: clusters stay compact but readable
#: Above this many items a layout is UMAP of a seeded sample of :data:`SAMPLE_SIZE` items, the
#: others placed among their nearest sampled neighbours (UMAP of 1M items would take hours here).
SAMPLE_ABOVE = 50_000
SAMPLE_SIZE = 5_000
_SAMPLE_EPOCHS = 200
_PLACE_K = 3  # sampled neighbours an unsampled item is placed among


def _check_space(space: str) -> None:
    if space not in SPACES:
        raise ConfigError(f"space={space!r}: expected one of {', '.join(SPACES)}")


def layout_matrix(project, space: str = "content", *, ran=None) -> np.ndarray:
    """The matrix a ``space`` layout is computed from, ``[N, d]`` float32 (row = item index).

    ``"content"`` is ``project.embeddings``; ``"collaborative"`` is ``ran.item_representations()``,
    loading the project's RAN generator when ``ran`` is None (raises the engine's
    ``ProjectFormatError`` when the project has no trained RAN).
    """
    _check_space(space)
    if space == "content":
        return np.ascontiguousarray(project.embeddings, dtype=np.float32)
    if ran is None:
        ran = project.generator("ran")  # the project's cached copy: only read here
    return np.ascontiguousarray(ran.item_representations(), dtype=np.float32)


def layout_sample(n_items: int) -> int | None:
    """How many items the layout of an ``n_items`` catalogue runs UMAP on: None for all of them
    (up to :data:`SAMPLE_ABOVE` items), else :data:`SAMPLE_SIZE`."""
    return SAMPLE_SIZE if int(n_items) > SAMPLE_ABOVE else None


def layout_note(n_items: int) -> str:
    """One line saying how the layout of an ``n_items`` catalogue is made (for captions)."""
    sample = layout_sample(n_items)
    if sample is None:
        return f"UMAP of all {int(n_items):,} items"
    return (f"UMAP of a seeded sample of {sample:,} of the {int(n_items):,} items; every other item is placed "
            f"among its {_PLACE_K} nearest sampled items")


def layout_fingerprint(matrix: np.ndarray, *, space: str, seed: int, n_neighbors: int) -> str:
    """A hex digest identifying a layout: the input matrix's bytes, shape and the UMAP settings."""
    m = np.ascontiguousarray(matrix, dtype=np.float32)
    h = hashlib.sha256()
    settings = {"algorithm": _ALGORITHM, "space": space, "seed": int(seed), "n_neighbors": int(n_neighbors),
                "min_dist": _MIN_DIST, "shape": list(m.shape)}
    sample = layout_sample(m.shape[0])
    if sample is not None:  # (small layouts keep the key set they always had: their caches stay valid)
        settings.update(sample=sample, place_k=_PLACE_K, place="nearest-sampled+spread")
    h.update(json.dumps(settings, sort_keys=True).encode())
    h.update(memoryview(m).cast("B"))  # the same bytes, uncopied (a 1M x 64 copy held the GIL ~0.2 s)
    return h.hexdigest()


def _fit_umap(matrix: np.ndarray, *, seed: int, n_neighbors: int, n_epochs: int | None = None) -> np.ndarray:
    """UMAP ``matrix [N, d]`` to ``[N, 2]`` float32 with cosine distances (single-threaded: seeded);
    ``n_epochs`` None is umap-learn's default (500 up to 10,000 points, 200 above)."""
    n = matrix.shape[0]
    if n < 4:  # UMAP needs a neighbour graph; a handful of points just go on a line, in order
        return np.stack([np.arange(n, dtype=np.float32), np.zeros(n, dtype=np.float32)], axis=1)
    # numba's compiler crashed now and then when a collection ran on another thread
    # (segfaults in "Garbage-collecting" on the GUI thread, seen in the test suite)
    with collector_paused():
        return _run_umap(matrix, seed=seed, n_neighbors=n_neighbors, n_epochs=n_epochs)


def _run_umap(matrix: np.ndarray, *, seed: int, n_neighbors: int, n_epochs: int | None = None) -> np.ndarray:
    n = matrix.shape[0]
    import umap  # slow import (numba): only when a layout is really computed

    reducer = umap.UMAP(
        n_components=2,
        n_neighbors=int(min(n_neighbors, n - 1)),
        min_dist=_MIN_DIST,
        metric="cosine",
        random_state=int(seed),
        n_jobs=1,  # random_state forces one thread anyway; saying so keeps umap from warning
        n_epochs=n_epochs,
        init="spectral" if n > 50 else "random",  # spectral init is unstable on tiny graphs
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # umap's and numba's chatter (graph not connected, ...)
        out = reducer.fit_transform(matrix)
    return np.ascontiguousarray(out, dtype=np.float32)


def _place_by_sample(matrix: np.ndarray, sample: np.ndarray, base: np.ndarray, *, progress: ProgressFn | None,
                     cancel: CancelToken | None, chunk: int = 8192) -> np.ndarray:
    """Every row of ``matrix`` placed at the similarity-weighted mean of the layout positions
    ``base [S, 2]`` of its :data:`_PLACE_K` nearest rows among ``matrix[sample]`` (cosine), plus a
    small seeded spread so items placed on one sampled item do not print as one dot; the sampled
    rows keep their own positions. Chunked: memory ``chunk x S``, never ``N x N``."""
    import torch

    X = torch.from_numpy(np.ascontiguousarray(matrix, dtype=np.float32))
    X = torch.nn.functional.normalize(X, dim=1)
    S = X[torch.from_numpy(sample)].T.contiguous()  # [d, S]
    B = torch.from_numpy(base)
    out = np.empty((X.shape[0], 2), dtype=np.float32)
    n = X.shape[0]
    with torch.no_grad():
        for start in range(0, n, chunk):
            check_cancel(cancel)
            sims, idx = torch.topk(X[start:start + chunk] @ S, _PLACE_K, dim=1)
            w = torch.softmax(sims / 0.02, dim=1)  # the nearest dominates; near-ties share
            out[start:start + chunk] = (w[:, :, None] * B[idx]).sum(1).numpy()
            if (start // chunk) % 16 == 0:
                report(progress, 0.6 + 0.38 * start / n, f"placing items {start:,} / {n:,} by their nearest sampled items")
    # the many items placed on one sampled item would print as one dot: spread them a little (a
    # seeded Gaussian, a quarter of the median distance between neighbouring sampled items)
    from scipy.spatial import cKDTree

    gap, _ = cKDTree(base).query(base, k=2)
    spread = 0.25 * float(np.median(gap[:, 1])) if len(base) > 1 else 0.0
    out += np.random.default_rng(0).normal(0.0, spread, out.shape).astype(np.float32)
    out[sample] = base
    return out


def _fit_sampled(matrix: np.ndarray, *, seed: int, n_neighbors: int, progress: ProgressFn | None,
                 cancel: CancelToken | None) -> np.ndarray:
    """The layout of a large catalogue: UMAP of a seeded sample, the rest placed by neighbours."""
    n = matrix.shape[0]
    size = layout_sample(n) or n
    sample = np.sort(np.random.default_rng(seed).choice(n, size, replace=False))
    report(progress, 0.05, f"computing UMAP of a sample of {size:,} of {n:,} items…")
    # 200 epochs, as umap-learn runs for any set over 10,000 points (its 500 below that buy nothing
    # visible here and cost half the time)
    base = _fit_umap(np.ascontiguousarray(matrix[sample]), seed=seed, n_neighbors=n_neighbors, n_epochs=_SAMPLE_EPOCHS)
    check_cancel(cancel)
    return _place_by_sample(matrix, sample, base, progress=progress, cancel=cancel)


def _cache_paths(folder: Path, space: str) -> tuple[Path, Path]:
    return folder / f"layout-{space}.npy", folder / f"layout-{space}.json"


def _user_folder(fingerprint: str) -> Path:
    """Where ``cache="user"`` keeps a layout: one folder per fingerprint under the user's cache."""
    from ..fileio import user_cache_root

    return user_cache_root() / "layouts" / fingerprint[:32]


def _read_cache(folder: Path, space: str, fingerprint: str, n: int) -> np.ndarray | None:
    npy, side = _cache_paths(folder, space)
    if not (npy.is_file() and side.is_file()):
        return None
    try:
        if read_json(side).get("fingerprint") != fingerprint:
            return None
        arr = np.load(npy, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None  # unreadable or half-written cache: recompute
    if arr.shape != (n, 2) or not np.all(np.isfinite(arr)):
        return None
    return arr.astype(np.float32, copy=False)


def _write_cache(folder: Path, space: str, fingerprint: str, layout: np.ndarray, meta: dict) -> None:
    npy, side = _cache_paths(folder, space)
    try:
        with atomic_path(npy) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, layout, allow_pickle=False)
        write_json_atomic(side, dict(meta, fingerprint=fingerprint))  # last: it vouches for the .npy
    except OSError as exc:  # read-only project folder: the layout still works, just uncached
        log.warning("could not cache the %s layout in %s: %s", space, folder, exc)


def item_layout(
    project,
    space: str = "content",
    *,
    ran=None,
    matrix: np.ndarray | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    seed: int = 0,
    n_neighbors: int = 15,
    cache: str = "project",
) -> np.ndarray:
    """A 2-D UMAP layout of every item, ``[N, 2]`` float32 (row = item index), cached in the project
    (``cache="project"``, what ``genrec layout`` does) or in the user's cache (``cache="user"``,
    the app: it never writes into a project folder; see the module docstring).

    ``project`` needs ``.path`` (the cache folder) and, for the content space, ``.embeddings``.
    ``matrix`` is the input if the caller already has it (from :func:`layout_matrix`); otherwise
    it is built from ``project``/``ran``. The same inputs, ``seed`` and ``n_neighbors`` always give
    the same layout. UMAP has no progress callback: progress is reported at the start and the end,
    and ``cancel`` is checked before and after the fit (raising ``Cancelled``).
    """
    _check_space(space)
    if cache not in ("project", "user"):
        raise ConfigError(f"cache={cache!r}: expected 'project' or 'user'")
    if int(n_neighbors) < 2:
        raise ConfigError(f"n_neighbors={n_neighbors}: must be >= 2")
    check_cancel(cancel)
    report(progress, 0.0, f"preparing the {space} space")
    if matrix is None:
        matrix = layout_matrix(project, space, ran=ran)
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[0] == 0:
        raise ConfigError(f"the {space} matrix has shape {matrix.shape}: expected [N, d] with N >= 1")
    fingerprint = layout_fingerprint(matrix, space=space, seed=seed, n_neighbors=n_neighbors)
    folder = Path(project.path)
    for where in (folder, _user_folder(fingerprint)) if cache == "user" else (folder,):
        cached = _read_cache(where, space, fingerprint, matrix.shape[0])
        if cached is not None:
            report(progress, 1.0, f"{space} layout loaded from cache")
            return cached
    check_cancel(cancel)
    sample = layout_sample(matrix.shape[0])
    if sample is None:
        report(progress, 0.05, f"computing UMAP of {matrix.shape[0]:,} items ({space} space)…")
        layout = _fit_umap(matrix, seed=seed, n_neighbors=n_neighbors)
    else:
        layout = _fit_sampled(matrix, seed=seed, n_neighbors=n_neighbors, progress=progress, cancel=cancel)
    check_cancel(cancel)
    _write_cache(folder if cache == "project" else _user_folder(fingerprint), space, fingerprint, layout,
                 {"algorithm": _ALGORITHM, "space": space, "seed": int(seed), "n_neighbors": int(n_neighbors),
                  "min_dist": _MIN_DIST, "n_items": int(matrix.shape[0]),
                  **({"sample": sample, "place_k": _PLACE_K} if sample is not None else {})})
    report(progress, 1.0, f"{space} layout ready")
    return layout


def row_norms(matrix: np.ndarray) -> np.ndarray:
    """The L2 norm of every row of ``matrix`` (zero rows as 1: at distance 1 from everything);
    computed once and passed to :func:`nearest_neighbours` for repeated look-ups in one matrix."""
    norms = np.linalg.norm(np.asarray(matrix, dtype=np.float32), axis=1)
    norms[norms == 0] = 1.0
    return norms


def nearest_neighbours(matrix: np.ndarray, item: int, k: int = 10, *,
                       norms: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` items closest to ``item`` by cosine distance in ``matrix [N, d]`` (itself excluded).

    Returns ``(indices [k'] int64, distances [k'] float32)``, nearest first, ``k' = min(k, N - 1)``;
    distances are ``1 - cos`` in [0, 2]. Ties keep the lower index first. ~5 ms for 12k x 384;
    ``norms`` (from :func:`row_norms`) saves recomputing them: ~20 instead of ~200 ms at 1M x 64.
    """
    m = np.asarray(matrix, dtype=np.float32)
    n = m.shape[0]
    item = int(item)
    if not 0 <= item < n:
        raise ConfigError(f"item={item}: expected an item index in [0, {n})")
    k = max(0, min(int(k), n - 1))
    if k == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    if norms is None:
        norms = row_norms(m)
    sims = (m @ m[item]) / (norms * norms[item])
    dist = (1.0 - sims).astype(np.float32)
    dist[item] = np.inf
    part = np.argpartition(dist, k - 1)[:k] if k < n - 1 else np.flatnonzero(np.isfinite(dist))
    order = part[np.lexsort((part, dist[part]))]
    return order.astype(np.int64), np.clip(dist[order], 0.0, 2.0)
