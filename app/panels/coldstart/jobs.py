"""The cold-start lab's engine jobs: plain functions with the engine's progress/cancel protocol,
run on a worker by the bridge. They take snapshots (a session copy, arrays, the loaded models),
never Qt objects, and return the frozen dataclasses of :mod:`.state`.

Recommendations go through the engine's facade: generators come from the project's cache
(:meth:`~genrec_engine.Project.generator`) and the generative top-k list from
:func:`~genrec_engine.recommend_indices` over the session's trie (:func:`generative_top`);
hybrid re-ranking is :func:`~genrec_engine.hybrid_recommend` (:func:`hybrid_top`).
"""
from __future__ import annotations

import copy
import time

import numpy as np
import torch

from genrec_engine import (
    CancelToken,
    ColdStartSession,
    GenrecError,
    ProgressFn,
    hybrid_recommend,
    leave_one_out,
    recommend_indices,
)
from genrec_engine.models import pad_histories

from .results import (
    BEAM,
    HYBRID_DEPTH,
    N_ANCHORS,
    N_SUGGESTED_USERS,
    PROFILE_ITEMS,
    TOP_K,
    Analysis,
    AnalysisRequest,
    LabSetup,
    LabText,
    LevelProbs,
    TestUsers,
    TopEntry,
)

__all__ = ["new_session", "load_lab", "snapshot_session", "embed_item", "suggest_users", "analyse_item",
           "generative_top", "hybrid_top", "encoder_loaded"]

_ENCODER = {"loaded": False}  # MiniLM is loaded once per process (engine-side); set after the first encode


def encoder_loaded(value: bool | None = None) -> bool:
    """Whether MiniLM was loaded in this process (``value``: record it)."""
    if value is not None:
        _ENCODER["loaded"] = bool(value)
    return _ENCODER["loaded"]


def new_session(project, *, progress: ProgressFn | None = None, cancel: CancelToken | None = None) -> ColdStartSession:
    """A fresh :class:`ColdStartSession` (a private copy of the project's trie)."""
    return ColdStartSession(project)


#: The lab's user picker holds at most this many test users (a seeded sample, in user order, on
#: larger catalogues: a per-user profile loop over 2M users took ~30 s of a worker, holding the GIL).
LAB_USERS = 50_000


def _test_users(project, cancel: CancelToken | None) -> TestUsers:
    split = leave_one_out(project.dataset)
    rows = np.arange(len(split.test_history))
    if len(rows) > LAB_USERS:
        rows = np.sort(np.random.default_rng(0).choice(len(rows), LAB_USERS, replace=False))
    histories = [split.test_history[int(r)] for r in rows]
    E = np.asarray(project.embeddings, dtype=np.float32)
    cold = set(project.cold_indices.tolist())
    profiles = np.zeros((len(histories), E.shape[1]), dtype=np.float32)
    for u, h in enumerate(histories):
        if cancel is not None and u % 4096 == 0:
            cancel.raise_if_cancelled()
        warm = [int(i) for i in h[::-1] if int(i) not in cold][:PROFILE_ITEMS] if cold else h[-PROFILE_ITEMS:]
        if len(warm):
            profiles[u] = E[np.asarray(warm, dtype=np.int64)].mean(0)
    return TestUsers(np.asarray(split.user_ids)[rows], histories,
                     np.asarray(split.test_target, dtype=np.int64)[rows], profiles)


def load_lab(project, *, progress: ProgressFn | None = None, cancel: CancelToken | None = None) -> LabSetup:
    """The generators (RAN, TIGER-style if present; the project's cached, shared models), SASRec,
    the test users, and a fresh session (~0.2 s on the bundled project)."""
    generators, errors = {}, {}
    for n, kind in enumerate(("ran", "tiger", "sasrec")):
        if progress is not None:
            progress(n / 4, f"loading the {kind} generator")
        try:
            model = project.generator(kind)
        except GenrecError as exc:
            errors[kind] = str(exc) or type(exc).__name__
            continue
        generators[kind] = model
        if cancel is not None:
            cancel.raise_if_cancelled()
    dense = generators.pop("sasrec", None)
    if progress is not None:
        progress(0.75, "collecting the test users")
    users = _test_users(project, cancel)
    cold = project.cold_indices
    counts = np.bincount(users.targets[users.targets >= 0], minlength=project.sids.n_items)
    if progress is not None:
        progress(1.0, "ready")
    return LabSetup(new_session(project), generators, {k: v for k, v in errors.items() if k != "sasrec"},
                    dense, errors.get("sasrec"), users, counts[cold].astype(np.int64))


def snapshot_session(session: ColdStartSession) -> ColdStartSession:
    """A copy of ``session`` a job may read (and change) while the GUI thread changes the original:
    its own trie copy and its own injected / retired / new-item collections (GUI thread, ~0.1 ms)."""
    clone = copy.copy(session)
    clone.trie = session.trie.copy()
    clone.injected = set(session.injected)
    clone.retired = set(session.retired)
    clone.new_items = dict(session.new_items)
    return clone


def embed_item(session: ColdStartSession, encoder, title: str, brand: str, categories: str, *,
               progress: ProgressFn | None = None, cancel: CancelToken | None = None) -> LabText:
    """Embed a typed item like the project's items (MiniLM over "Title. Brand: ... Category: ...";
    the first call in a process loads MiniLM, a few seconds), and find its content neighbours."""
    t0 = time.perf_counter()
    if progress is not None:
        progress(0.05, "embedding the text with MiniLM" if encoder_loaded()
                 else "loading the MiniLM text encoder (first use: a few seconds)")
    e = session.embed_text(title, brand, categories, encoder=encoder)
    if cancel is not None:
        cancel.raise_if_cancelled()
    E = np.asarray(session.project.embeddings, dtype=np.float32)
    sims = (E @ e) / np.maximum(np.linalg.norm(E, axis=1) * float(np.linalg.norm(e)), 1e-12)
    k = min(N_ANCHORS, len(sims))
    top = np.argpartition(-sims, k - 1)[:k] if k else np.zeros(0, dtype=np.int64)
    top = top[np.argsort(-sims[top], kind="stable")]
    return LabText(e, tuple(int(i) for i in top), time.perf_counter() - t0)


def suggest_users(users: TestUsers, embedding: np.ndarray, item: int | None, k: int = N_SUGGESTED_USERS, *,
                  progress: ProgressFn | None = None, cancel: CancelToken | None = None) -> list[tuple[int, str]]:
    """Test users worth looking at for an item: ``[(user row, reason)]``, at most ``k``. First the
    users whose next item it is (``"next"``), then the users whose content profile is most similar
    to the item's embedding (``"similar"``; that similarity is the hybrid re-ranker's content term)."""
    out: list[tuple[int, str]] = []
    if item is not None:
        out = [(int(u), "next") for u in np.flatnonzero(users.targets == int(item))[:k]]
    scores = users.profiles @ np.asarray(embedding, dtype=np.float32)
    taken = {u for u, _ in out}
    m = min(len(scores), k + len(taken))
    best = np.argpartition(-scores, m - 1)[:m] if m else np.zeros(0, dtype=np.int64)
    for u in best[np.argsort(-scores[best], kind="stable")]:
        if len(out) >= k:
            break
        if int(u) not in taken:
            out.append((int(u), "similar"))
    return out


def _warm(history, session: ColdStartSession) -> list[int]:
    """The history items a generator has trained inputs for (no cold or typed items)."""
    h = np.asarray(list(history), dtype=np.int64).reshape(-1)
    h = h[(h >= 0) & (h < session.n_items)]
    cold = session.cold_indices
    return (h[~np.isin(h, cold)] if len(cold) else h).tolist()


@torch.no_grad()
def _level_distributions(model, history: list[int], sid: tuple[int, ...]) -> list[np.ndarray]:
    """``[K_l]`` softmax over each level's codes given the SID's prefix (teacher forced).

    The history goes in as the engine's path_probability reads it: the most recent ``max_len``
    items, padded, then cut to the history's own width (one padding position when empty); the
    probabilities of the SID's own codes are checked against path_probability by the tests."""
    dev = next(model.parameters()).device
    h = history[-int(model.config.max_len):]
    H = pad_histories([h], int(model.config.max_len), device=dev)[:, -max(1, len(h)):]
    state = model.start(H)
    prefix = torch.as_tensor([sid], dtype=torch.long, device=dev)
    return [torch.softmax(model.next_logits(state, prefix[:, :level]).float(), -1)[0].cpu().numpy()
            for level in range(len(sid))]


def _reachable(trie, sid: tuple[int, ...]) -> list[np.ndarray]:
    """``[K_l]`` bool per level: the codes under the SID's prefix that lead to a live item."""
    out = []
    for level, size in enumerate(trie.level_sizes):
        node = trie.lookup(sid[:level])
        if node < 0:
            out.append(np.zeros(size, dtype=bool))
        else:
            nodes = torch.as_tensor([node], dtype=torch.long, device=trie.device)
            out.append(trie.allowed(level, nodes)[0].cpu().numpy())
    return out


def generative_top(session: ColdStartSession, generator, history: list[int], k: int = TOP_K,
                   beam: int = BEAM) -> tuple[TopEntry, ...]:
    """The generator's top ``k`` by beam search over the session's trie (injected items can come
    back, retired ones never), through the engine's recommend facade. ``history``: warm item indices.

    The facade refuses an empty history (it wants a history or an instruction); for that case the
    session decodes from a padding-only history, as the lab always did."""
    if history:
        rec = recommend_indices(session.project, history, model=generator, trie=session.trie, k=k, beam=beam)
        rows = list(zip(rec.items, rec.sids))
    else:
        rows = [(r["index"], r["sid"]) for r in session.recommend(generator, [], k=k, beam=beam)]
    return tuple(TopEntry(r + 1, int(i), session.title(int(i)), tuple(int(c) for c in sid), int(i) in session.injected)
                 for r, (i, sid) in enumerate(rows))


def hybrid_top(session: ColdStartSession, generator, dense, history: list[int], weight: float,
               k: int = HYBRID_DEPTH) -> tuple[TopEntry, ...]:
    """The hybrid list (beam candidates plus cold and injected items, re-ranked with the dense model)."""
    return tuple(TopEntry(int(r["rank"]), int(r["index"]), str(r["title"]), tuple(int(c) for c in r["sid"]),
                          bool(r["cold"]))
                 for r in hybrid_recommend(session, generator, dense, history, k=k, weight=float(weight)))


def analyse_item(session: ColdStartSession, request: AnalysisRequest, *, progress: ProgressFn | None = None,
                 cancel: CancelToken | None = None) -> Analysis:
    """Path probabilities, exact generative rank, hybrid rank and both top-k lists of the request's
    item for its history (item indices, oldest first). ``session`` must be the job's own copy
    (:func:`snapshot_session`): an item that is not live is injected into it first (what-if)."""
    t0 = time.perf_counter()
    s, item, generator, kind = session, request.item, request.generator, request.kind
    sid = tuple(int(c) for c in item.sid)
    reachable = _reachable(s.trie, sid)
    index = item.index
    retired = index is not None and index in s.retired
    what_if = False
    if index is None or (index not in s.trie and not retired):
        what_if = True
        if index is None or index >= s.n_items:
            new = s.inject_new(item.title, item.brand, item.categories, embedding=item.embedding)
            index, sid = new.index, new.sid
        else:
            s.inject(index)
    if progress is not None:
        progress(0.1, f"scoring every live item with {kind.upper()}")
    hist = _warm(request.history, s)
    pp = s.path_probability(generator, hist, sid)
    dists = _level_distributions(generator, hist, sid)
    t1 = time.perf_counter()
    if cancel is not None:
        cancel.raise_if_cancelled()
    levels = tuple(LevelProbs(lv, sid[lv], probs.astype(np.float32), ok, float(pp["levels"][lv]["prob"]),
                              int((probs > probs[sid[lv]]).sum()) + 1)
                   for lv, (probs, ok) in enumerate(zip(dists, reachable)))
    hybrid = hybrid_rank = None
    t2 = t1
    if request.dense is not None:
        if progress is not None:
            progress(0.7, "hybrid re-ranking with SASRec")
        full = hybrid_top(s, generator, request.dense, hist, request.weight)
        hybrid_rank = next((e.rank for e in full if e.index == index), None)
        hybrid = full[:TOP_K]
        t2 = time.perf_counter()
    generative = generative_top(s, generator, hist)
    t3 = time.perf_counter()
    return Analysis(index, sid, what_if, retired, kind, levels, float(pp["logp"]), int(pp["rank"]),
                    int(pp["live_items"]), hybrid_rank, hybrid, generative, float(request.weight), len(hist),
                    {"rank": t1 - t0, "hybrid": t2 - t1, "top": t3 - t2, "total": t3 - t0})
