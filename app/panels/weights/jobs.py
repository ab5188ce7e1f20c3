"""The codeword-weights panel's engine jobs and their typed results (no Qt).

Each job is a plain function with the engine's ``progress``/``cancel`` keywords, run on a worker by
the :class:`~app.bridge.EngineBridge`; it gets the project and generators (never a widget) and
returns a frozen dataclass the GUI thread only reads:

- :func:`load_weight_generators` -> :class:`Generators` (the project's cached RAN, and its TIGER
  when it was trained with DECOR);
- :func:`compute_ranking` -> :class:`Ranking` (every item's JS divergence per level, ``[N, D]``; or,
  without a RAN, every item's content margin per quantizer level, ``[N, D-1]``);
- :func:`compute_item_weights` -> :class:`ItemWeights` (one item's weights per level, and a
  compared item's).
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass

import numpy as np

from genrec_engine import (
    CancelToken,
    GenrecError,
    LevelWeights,
    ProgressFn,
    codeword_weights,
    content_ranking,
    divergence_ranking,
    js_divergence,
)

__all__ = ["Generators", "Ranking", "ItemWeights", "DIVERGENCE", "CONTENT", "load_weight_generators",
           "compute_ranking", "compute_item_weights"]


@dataclass(frozen=True)
class Generators:
    """What the panel needs of the project's generators. A missing or unreadable one is a message
    (``ran_error``, ``tiger_note``), not an exception, so the panel can say which command makes it."""

    ran: object | None  # the project's RAN (shared, read only), or None
    ran_error: str | None  # why there is no RAN
    tiger: object | None  # the project's TIGER when it was built with decor=True (the fusion split needs its gate)
    tiger_note: str | None  # why there is no DECOR TIGER


#: What a ranking ranks by: content vs the RAN's collaborative weights, or (no RAN) the content alone.
DIVERGENCE, CONTENT = "divergence", "content"


@dataclass(frozen=True)
class Ranking:
    """Every item ranked, ``N`` items, ``C`` ranked levels. Two kinds:

    - :data:`DIVERGENCE` (the project has a RAN): ``values`` the JS divergence (bits) between
      content and collaborative weights at every SID level (``C = D``), ``flags`` where the top
      codeword moved (with signal), ``summary`` the mean JS, largest first;
    - :data:`CONTENT` (no RAN): ``values`` the content margin of the item's own code at each
      quantizer level (``C = D - 1``: its content weight over the best other codeword's), ``flags``
      where the content prefers another codeword (margin below 1), ``summary`` the weakest margin,
      smallest first: the items whose SID the content supports least.
    """

    kind: str  # DIVERGENCE or CONTENT
    values: np.ndarray  # [N, C] float32
    flags: np.ndarray  # [N, C] bool
    summary: np.ndarray  # [N] float32
    order: np.ndarray  # [N] int64: item indices, the most telling first (ties: lower index first)
    # [N, C] bool: False where both weight distributions are near uniform (DIVERGENCE: the comparison
    # says nothing there); all True for CONTENT, whose margin means the same at any flatness
    signal: np.ndarray

    @property
    def flagged_any(self) -> int:
        """How many items are flagged at some level (moved with signal / content prefers another code)."""
        return int(self.flags.any(1).sum()) if self.flags.size else 0

    def no_signal_by_level(self) -> np.ndarray:
        """[C] how many items' weights carry no signal at each ranked level."""
        return (~self.signal).sum(0)


@dataclass(frozen=True)
class ItemWeights:
    """One item's weights as the panel shows them (built on a worker, read on the GUI thread)."""

    item: int
    levels: list[LevelWeights]  # per SID level: content / collaborative weights, JS, argmaxes
    compare: int | None  # the compared item, or None
    compare_levels: list[LevelWeights] | None
    # [D] JS (bits) between the two items' collaborative weights (without a RAN: their content weights)
    compare_js: np.ndarray | None
    fusion: np.ndarray | None  # [D] DECOR gate g of the item's tokens (share of the content codebook)
    compare_fusion: np.ndarray | None  # [D] the same for the compared item


def load_weight_generators(project, *, progress: ProgressFn | None = None,
                           cancel: CancelToken | None = None) -> Generators:
    """The project's RAN and, when it was trained with decor, its TIGER (``Project.generator``:
    cached per project, so other panels share the loaded models)."""
    ran = ran_error = tiger = tiger_note = None
    if progress is not None:
        progress(0.0, "loading the RAN generator")
    try:
        ran = project.generator("ran")
    except GenrecError as exc:
        ran_error = str(exc) or type(exc).__name__
    if cancel is not None:
        cancel.raise_if_cancelled()
    if progress is not None:
        progress(0.5, "looking for a DECOR TIGER generator")
    try:
        model = project.generator("tiger")
    except GenrecError as exc:
        tiger_note = ("This project has no TIGER generator (generator-tiger.safetensors); train one with "
                      f"genrec train --project {shlex.quote(str(project.path))} --model tiger "
                      "--model-config '{\"decor\": true}'." if "not found" in str(exc)
                      else f"Its TIGER generator could not be loaded: {exc}")
    else:
        if getattr(model.config, "decor", False):
            tiger = model
        else:
            tiger_note = "This project's TIGER generator was trained without decor."
    if progress is not None:
        progress(1.0, "generators loaded")
    return Generators(ran, ran_error, tiger, tiger_note)


def compute_ranking(project, ran, *, progress: ProgressFn | None = None, cancel: CancelToken | None = None) -> Ranking:
    """Every item ranked: :func:`genrec_engine.divergence_ranking` when ``ran`` is given, else
    :func:`genrec_engine.content_ranking` (see :class:`Ranking`)."""
    if ran is None:
        rank = content_ranking(project, progress=progress, cancel=cancel)
        return Ranking(CONTENT, rank["ratio"], rank["flagged"], rank["summary"], rank["order"],
                       np.ones(rank["ratio"].shape, dtype=bool))
    rank = divergence_ranking(project, ran, progress=progress, cancel=cancel)
    return Ranking(DIVERGENCE, rank["js"], rank["flagged"], rank["summary"], rank["order"], rank["signal"])


def compute_item_weights(project, ran, item: int, compare: int | None = None, tiger=None, *,
                         progress: ProgressFn | None = None, cancel: CancelToken | None = None) -> ItemWeights:
    """The weights of ``item`` (and of ``compare``) per level, plus the DECOR split when ``tiger``
    (a TIGER built with decor) is given; ``ran`` None: the content weights alone, and the
    comparison between the two items' content weights. A few milliseconds; a bridge job all the same."""
    levels = codeword_weights(project, ran, int(item))
    compare_levels = compare_js = None
    if compare is not None:
        compare_levels = codeword_weights(project, ran, int(compare))
        side = "content" if ran is None else "collaborative"
        compare_js = np.array([float(js_divergence(getattr(a, side)[None], getattr(b, side)[None])[0])
                               for a, b in zip(levels, compare_levels)], dtype=np.float32)
    if cancel is not None:
        cancel.raise_if_cancelled()
    fusion = compare_fusion = None
    if tiger is not None:
        codes, D = project.sids.codes, project.sids.depth
        fusion = tiger.fusion_split([(l, int(codes[item, l])) for l in range(D)])
        if compare is not None:
            compare_fusion = tiger.fusion_split([(l, int(codes[compare, l])) for l in range(D)])
    return ItemWeights(int(item), levels, None if compare is None else int(compare), compare_levels,
                       compare_js, fusion, compare_fusion)
