"""Content- vs collaborative-guided codeword weights of items (the IntRR comparison).

For item i and SID level l, over the K_l codewords of that level:
- content-guided: the tokenizer's soft assignment of i's content residual (``soft_assign``), each
  level's residual the one i's own earlier codes leave (for a fitted tokenizer that is its greedy
  walk; an imported table's codes may differ from it); the collision level has no content model,
  so its weight is the one-hot of the item's collision code;
- collaborative-guided: the RAN's ``p_l = softmax(h_l V_l^T)`` driven by i's UID embedding.
Their Jensen-Shannon divergence per level (bits, in [0, 1]) and whether the argmax moved tell
where behaviour pulls an item off its content code.

A project without a RAN (SIDs imported from another pipeline, a project trained with another
generator) still has its content weights. For them each quantizer level gets the *content margin*
of the item's own code: its content weight over the best other codeword's (``own_ratio``). Above 1
the content favours the item's code, by that factor; near 1 the code was a close call between two
codewords; below 1 the content prefers another codeword, which a fitted residual tokenizer never
does (its code is the nearest codeword) and an imported SID table does wherever its codes are not
the nearest content codewords. :func:`content_ranking` gives it for every item.

A comparison carries no signal when both distributions are near uniform (normalized entropy at
least :data:`FLAT_ENTROPY`): the argmax of a near-flat distribution is decided by tiny differences,
so "the top codeword moved" means little there, and a small JS only says that both are flat. On
the bundled project this is the first level for most items: the content weights are flattened by
the soft-assignment temperature (tau = the mean distance to the own codeword) and the RAN's
level-1 weights are nearly flat too. :attr:`LevelWeights.signal` and ``divergence_ranking``'s
``"signal"`` say so, and the explorer flags a move only where there is signal.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..jobs import check_cancel, report

__all__ = ["LevelWeights", "codeword_weights", "js_divergence", "divergence_ranking", "content_ranking",
           "normalized_entropy", "FLAT_ENTROPY"]

FLAT_ENTROPY = 0.97  # normalized entropy at or above which a distribution counts as near uniform


def normalized_entropy(p: np.ndarray) -> np.ndarray:
    """Entropy of each row of ``p`` ``[n, K]`` over log2(K), in [0, 1] (1 = uniform): ``[n]``."""
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-12, None)
    p = p / p.sum(-1, keepdims=True)
    K = p.shape[-1]
    if K < 2:
        return np.zeros(p.shape[:-1])
    return np.clip(-(p * np.log2(p)).sum(-1) / np.log2(K), 0.0, 1.0)


def _signal(c: np.ndarray, r: np.ndarray) -> np.ndarray:
    """[n] bool: the comparison carries signal (not both near uniform)."""
    return ~((normalized_entropy(c) >= FLAT_ENTROPY) & (normalized_entropy(r) >= FLAT_ENTROPY))


def js_divergence(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen-Shannon divergence in bits between rows of ``p`` and ``q`` ``[n, K]``: ``[n]``."""
    p = np.clip(p, 1e-12, None)
    q = np.clip(q, 1e-12, None)
    p = p / p.sum(-1, keepdims=True)
    q = q / q.sum(-1, keepdims=True)
    m = 0.5 * (p + q)
    kl = lambda a, b: (a * np.log2(a / b)).sum(-1)  # noqa: E731
    return np.clip(0.5 * kl(p, m) + 0.5 * kl(q, m), 0.0, 1.0)


@dataclass(frozen=True)
class LevelWeights:
    """One SID level of one item. Without a RAN (``codeword_weights(project, None, i)``) the
    collaborative fields are None and only the content side is filled in."""

    level: int  # 0-based SID level
    code: int  # the item's hard SID code at this level
    content: np.ndarray  # [K_l] float32
    collaborative: np.ndarray | None  # [K_l] float32; None without a RAN
    js: float | None  # Jensen-Shannon divergence, bits; None without a RAN
    content_argmax: int
    collaborative_argmax: int | None
    content_entropy: float = 0.0  # normalized entropy (1 = uniform) of the content weights
    collaborative_entropy: float | None = 0.0  # the same for the collaborative weights
    # content weight of the item's own code over the best other codeword's (the content margin,
    # see the module docstring); None at the collision level, which has no content model, and inf
    # where the level has a single codeword
    own_ratio: float | None = None

    @property
    def has_collaborative(self) -> bool:
        return self.collaborative is not None

    @property
    def moved(self) -> bool:
        """The two argmaxes differ (meaningful only with :attr:`signal`; False without a RAN)."""
        return self.has_collaborative and self.content_argmax != self.collaborative_argmax

    @property
    def signal(self) -> bool:
        """False when both distributions are near uniform (without a RAN: when the content weights
        are): then neither the argmax move nor a small JS says anything about the item."""
        if not self.has_collaborative:
            return self.content_entropy < FLAT_ENTROPY
        return not (self.content_entropy >= FLAT_ENTROPY and self.collaborative_entropy >= FLAT_ENTROPY)

    @property
    def verdict(self) -> str:
        """"moved", "kept" or "no signal" (both near uniform); "content only" without a RAN."""
        if not self.has_collaborative:
            return "content only"
        return "no signal" if not self.signal else ("moved" if self.moved else "kept")

    def to_dict(self) -> dict:
        ratio = self.own_ratio
        return {"level": self.level, "code": self.code, "content": self.content.tolist(),
                "collaborative": None if self.collaborative is None else self.collaborative.tolist(),
                "js": self.js, "moved": self.moved,
                "signal": self.signal, "verdict": self.verdict, "content_entropy": self.content_entropy,
                "collaborative_entropy": self.collaborative_entropy,
                "content_argmax": self.content_argmax, "collaborative_argmax": self.collaborative_argmax,
                "own_ratio": None if ratio is None or not np.isfinite(ratio) else ratio}


def _content(project, items: np.ndarray) -> list[np.ndarray]:
    """Per SID level ``[n, K_l]`` content-guided weights (quantizer levels + collision one-hot)."""
    # each level given the item's own earlier codes: an imported table's codes need not be the
    # greedy walk's, and a level's weights should not inherit an earlier level's disagreement
    codes = project.sids.codes[items]
    soft = project.tokenizer.soft_assign(project.embeddings[items], along=codes[:, :-1])  # [L, n, K], K the largest
    sizes = project.sids.level_sizes
    out = [soft[l, :, : sizes[l]] for l in range(soft.shape[0])]  # each level over its own K_l codewords
    C = project.sids.collision_size
    onehot = np.zeros((len(items), C), dtype=np.float32)
    onehot[np.arange(len(items)), project.sids.codes[items, -1]] = 1.0
    out.append(onehot)
    return out


def _own_ratio(weights: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """``[n]`` the weight of each row's own code over its best other codeword's (inf when the
    level has one codeword or every other weight is 0)."""
    w = np.asarray(weights, dtype=np.float64)
    rows = np.arange(len(w))
    own = w[rows, codes]
    if w.shape[1] < 2:
        return np.full(len(w), np.inf)
    others = w.copy()
    others[rows, codes] = -np.inf
    best = others.max(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(best > 0, own / np.where(best > 0, best, 1.0), np.inf)


def codeword_weights(project, ran, item_index: int) -> list[LevelWeights]:
    """Both weight vectors per level for one item (``ran``: a trained RAN of this project, or None
    for the content weights alone: the collaborative fields are then None)."""
    items = np.array([int(item_index)])
    content = _content(project, items)
    collab = ran.collaborative_weights(items) if ran is not None else [None] * len(content)
    codes = project.sids.codes
    quantizer_levels = len(content) - 1
    out = []
    for l, (c, r) in enumerate(zip(content, collab)):
        code = int(codes[item_index, l])
        ratio = float(_own_ratio(c, np.array([code]))[0]) if l < quantizer_levels else None
        has = r is not None
        out.append(LevelWeights(l, code, c[0].astype(np.float32), r[0].astype(np.float32) if has else None,
                                float(js_divergence(c, r)[0]) if has else None, int(c[0].argmax()),
                                int(r[0].argmax()) if has else None, float(normalized_entropy(c)[0]),
                                float(normalized_entropy(r)[0]) if has else None, ratio))
    return out


def divergence_ranking(project, ran, *, batch: int = 2048, progress=None, cancel=None) -> dict[str, np.ndarray]:
    """For every item: JS divergence per level ``[N, D]`` float32 (bits), argmax-moved flags
    ``[N, D]`` bool and ``"signal"`` ``[N, D]`` bool (False where both distributions are near
    uniform, see the module docstring), so the explorer can list the items that behaviour pulls furthest from their
    content code: ``"flagged"`` (moved where there is signal; a move between two near-flat
    distributions is noise), ``"summary"`` (``[N]`` mean JS over the levels) and ``"order"`` (items by
    that mean, largest first; ties in item order). ``progress``/``cancel`` follow the engine's job
    protocol (checked per batch of ``batch`` items; a set token raises ``Cancelled``). ~0.2 s for 12k
    items on one CPU core."""
    N = project.sids.n_items
    js = np.zeros((N, project.sids.depth), dtype=np.float32)
    moved = np.zeros((N, project.sids.depth), dtype=bool)
    signal = np.zeros((N, project.sids.depth), dtype=bool)
    for s in range(0, N, batch):
        check_cancel(cancel)
        report(progress, s / max(N, 1), "codeword weights of every item")
        items = np.arange(s, min(N, s + batch))
        for l, (c, r) in enumerate(zip(_content(project, items), ran.collaborative_weights(items))):
            js[items, l] = js_divergence(c, r)
            moved[items, l] = c.argmax(1) != r.argmax(1)
            signal[items, l] = _signal(c, r)
    report(progress, 1.0, "divergence ranking ready")
    mean = js.mean(1) if js.size else np.zeros(N, dtype=np.float32)
    return {"js": js, "moved": moved, "signal": signal, "flagged": moved & signal, "summary": mean,
            "order": np.argsort(-mean, kind="stable").astype(np.int64)}


def content_ranking(project, *, batch: int = 2048, progress=None, cancel=None) -> dict[str, np.ndarray]:
    """For every item and quantizer level (the collision level has no content model): the content
    margin of its own code (``"ratio"`` ``[N, D-1]`` float32: its content weight over the best other
    codeword's, inf where a level has one codeword) and ``"prefers_other"`` (``[N, D-1]`` bool: ratio
    below 1, another codeword leads; also as ``"flagged"``), ``"summary"`` (``[N]`` the weakest
    margin over the levels) and ``"order"`` (items by it, weakest first). The margin is
    ``exp((d_other - d_own) / tau_l)``, a monotone function of the distance gap, so it means the
    same however flat the weights are (with the bundled temperature they are near uniform for most
    items). What the explorer ranks items by when the project has no RAN; ``progress``/``cancel`` as
    in :func:`divergence_ranking`."""
    N, D = project.sids.n_items, project.sids.depth
    codes = project.sids.codes
    ratio = np.zeros((N, D - 1), dtype=np.float32)
    prefers = np.zeros((N, D - 1), dtype=bool)
    for s in range(0, N, batch):
        check_cancel(cancel)
        report(progress, s / max(N, 1), "content margins of every item")
        items = np.arange(s, min(N, s + batch))
        for l, c in enumerate(_content(project, items)[: D - 1]):
            own = codes[items, l]
            ratio[items, l] = _own_ratio(c, own)
            prefers[items, l] = ratio[items, l] < 1.0  # a tie (ratio 1) is a close call, not a preference
    report(progress, 1.0, "content ranking ready")
    weakest = ratio.min(1) if D > 1 else np.full(N, np.inf, dtype=np.float32)
    return {"ratio": ratio, "prefers_other": prefers, "flagged": prefers, "summary": weakest,
            "order": np.argsort(weakest, kind="stable").astype(np.int64)}
