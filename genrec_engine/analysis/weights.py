"""Content- vs collaborative-guided codeword weights of items (the IntRR comparison).

For item i and SID level l, over the K_l codewords of that level:
- content-guided: the tokenizer's soft assignment of i's content residual (``soft_assign``); the
  collision level has no content model, so its weight is the one-hot of the item's collision code;
- collaborative-guided: the RAN's ``p_l = softmax(h_l V_l^T)`` driven by i's UID embedding.
Their Jensen-Shannon divergence per level (bits, in [0, 1]) and whether the argmax moved tell
where behaviour pulls an item off its content code.

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

__all__ = ["LevelWeights", "codeword_weights", "js_divergence", "divergence_ranking", "normalized_entropy",
           "FLAT_ENTROPY"]

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
    level: int  # 0-based SID level
    code: int  # the item's hard SID code at this level
    content: np.ndarray  # [K_l] float32
    collaborative: np.ndarray  # [K_l] float32
    js: float  # Jensen-Shannon divergence, bits
    content_argmax: int
    collaborative_argmax: int
    content_entropy: float = 0.0  # normalized entropy (1 = uniform) of the content weights
    collaborative_entropy: float = 0.0  # the same for the collaborative weights

    @property
    def moved(self) -> bool:
        """The two argmaxes differ (meaningful only with :attr:`signal`)."""
        return self.content_argmax != self.collaborative_argmax

    @property
    def signal(self) -> bool:
        """False when both distributions are near uniform: then neither the argmax move nor a
        small JS says anything about the item."""
        return not (self.content_entropy >= FLAT_ENTROPY and self.collaborative_entropy >= FLAT_ENTROPY)

    @property
    def verdict(self) -> str:
        """"moved", "kept" or "no signal" (both near uniform)."""
        return "no signal" if not self.signal else ("moved" if self.moved else "kept")

    def to_dict(self) -> dict:
        return {"level": self.level, "code": self.code, "content": self.content.tolist(),
                "collaborative": self.collaborative.tolist(), "js": self.js, "moved": self.moved,
                "signal": self.signal, "verdict": self.verdict, "content_entropy": self.content_entropy,
                "collaborative_entropy": self.collaborative_entropy,
                "content_argmax": self.content_argmax, "collaborative_argmax": self.collaborative_argmax}


def _content(project, items: np.ndarray) -> list[np.ndarray]:
    """Per SID level ``[n, K_l]`` content-guided weights (quantizer levels + collision one-hot)."""
    soft = project.tokenizer.soft_assign(project.embeddings[items])  # [L, n, K]
    out = [soft[l] for l in range(soft.shape[0])]
    C = project.sids.collision_size
    onehot = np.zeros((len(items), C), dtype=np.float32)
    onehot[np.arange(len(items)), project.sids.codes[items, -1]] = 1.0
    out.append(onehot)
    return out


def codeword_weights(project, ran, item_index: int) -> list[LevelWeights]:
    """Both weight vectors per level for one item (``ran``: a trained RAN of this project)."""
    items = np.array([int(item_index)])
    content = _content(project, items)
    collab = ran.collaborative_weights(items)
    out = []
    for l, (c, r) in enumerate(zip(content, collab)):
        out.append(LevelWeights(l, int(project.sids.codes[item_index, l]), c[0].astype(np.float32),
                                r[0].astype(np.float32), float(js_divergence(c, r)[0]), int(c[0].argmax()), int(r[0].argmax()),
                                float(normalized_entropy(c)[0]), float(normalized_entropy(r)[0])))
    return out


def divergence_ranking(project, ran, *, batch: int = 2048, progress=None, cancel=None) -> dict[str, np.ndarray]:
    """For every item: JS divergence per level ``[N, D]`` float32 (bits), argmax-moved flags
    ``[N, D]`` bool and ``"signal"`` ``[N, D]`` bool (False where both distributions are near
    uniform, see the module docstring), so the explorer can list the items that behaviour pulls furthest from their
    content code. ``progress``/``cancel`` follow the engine's job protocol (checked per batch of
    ``batch`` items; a set token raises ``Cancelled``). ~0.2 s for 12k items on one CPU core."""
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
    return {"js": js, "moved": moved, "signal": signal}
