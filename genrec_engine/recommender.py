"""One way to ask for recommendations.

:func:`recommend_indices` takes a history of item **indices** (oldest first) and returns a
frozen :class:`Recommendation`: ranked item indices, their scores and SIDs, and the beam trace
when asked. It pads the history once, loads the project's generator through the cached
:meth:`~genrec_engine.project.Project.generator` (or uses the model given), masks excluded and
filtered items, encodes a typed instruction, and runs the decoder the generator needs: beam
search (plain or diverse) or sampling for the generative kinds (``ran``, ``tiger``), a dense
top-k over every item for ``sasrec``.

:func:`recommend` is the same in item **ids** with JSON-able rows (titles, interest groups):
what ``genrec recommend`` prints.
"""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass

import numpy as np
import torch

from .decode import STEPPER_MODES, BeamStep, beam_search, sample
from .errors import ConfigError
from .filters import ItemFilter, interest_groups
from .generators import KINDS
from .instruct import encode_instruction
from .jobs import CancelToken
from .models import pad_histories
from .models.instruct import INSTRUCTION_DIM, check_instruction

__all__ = ["Recommendation", "recommend_indices", "recommend", "MODES"]

#: Decoders of the generative kinds: beam search, diverse beam search, sampling (as the stepper's).
MODES = tuple(STEPPER_MODES)


@dataclass(frozen=True)
class Recommendation:
    """One ranked list, best first (see :func:`recommend_indices`).

    ``items``: item indices (``-1``: a generated SID that names no item, only when decoding
    unconstrained); ``scores``: the cumulative SID log-probability (generative kinds) or the
    dot-product score (``sasrec``); ``sids``: each item's SID (the generated one for ``-1``);
    ``history``: the indices decoded from; ``invalid``: SIDs in the list that name no item
    (``-1`` = unknown: unconstrained without a trie); ``instructed``: an instruction reached the
    generator; ``trace``: one :class:`~genrec_engine.decode.BeamStep` per SID level when asked.
    """

    kind: str
    history: tuple[int, ...]
    items: tuple[int, ...]
    scores: tuple[float, ...]
    sids: tuple[tuple[int, ...], ...]
    invalid: int = 0
    instructed: bool = False
    trace: tuple[BeamStep, ...] | None = None

    def __len__(self) -> int:
        return len(self.items)

    def to_dict(self) -> dict:
        """JSON-able: plain lists, the trace as :meth:`BeamStep.to_dict` dicts (or None)."""
        return {"kind": self.kind, "history": list(self.history), "items": list(self.items),
                "scores": list(self.scores), "sids": [list(s) for s in self.sids], "invalid": self.invalid,
                "instructed": self.instructed,
                "trace": None if self.trace is None else [s.to_dict() for s in self.trace]}


def _whole(name: str, value, minimum: int) -> int:
    try:
        v = operator.index(value)
    except TypeError:
        v = None
    if v is None or isinstance(value, bool) or v < minimum:
        raise ConfigError(f"{name}: {value!r} must be a whole number >= {minimum}")
    return v


def _indices(name: str, values, n_items: int) -> tuple[int, ...]:
    """``values`` as item indices, each checked against the catalogue size."""
    out = []
    for v in values:
        try:
            i = operator.index(v)
        except TypeError:
            raise ConfigError(f"{name}: {v!r} is not an item index (a whole number)") from None
        if not 0 <= i < n_items:
            raise ConfigError(f"{name}: item index {i} is out of range (the catalogue has {n_items} items, "
                              f"indices 0..{n_items - 1})")
        out.append(i)
    return tuple(out)


def _resolve(source, kind, model, device):
    """``(project or None, model, kind)`` for a project or a model given as ``source``."""
    if isinstance(source, torch.nn.Module):
        project, model = None, source if model is None else model
    else:
        project = source
    if kind is not None and kind not in KINDS:
        raise ConfigError(f"kind={kind!r}: expected one of {', '.join(KINDS)}")
    if model is None:
        if kind is None:
            raise ConfigError(f"kind: say which of the project's generators to ask ({', '.join(KINDS)})")
        model = project.generator(kind, device)
    elif kind is not None and kind != model.kind:
        raise ConfigError(f"kind={kind!r} but the model given is a {model.kind} generator")
    return project, model, model.kind


def _instruction_vector(model, kind: str, instruction):
    """The instruction as a ``[1, 384]`` tensor on the model's device, or None (none / blank text)."""
    if instruction is None or (isinstance(instruction, str) and not instruction.strip()):
        return None
    if hasattr(model, "score_items"):
        raise ConfigError(f"{kind} scores items by id and takes no instruction; use ran or tiger")
    check_instruction(model, np.zeros(INSTRUCTION_DIM, np.float32), 1)  # refuse before loading the text encoder
    if isinstance(instruction, str):
        instruction = encode_instruction(instruction.strip())
    return check_instruction(model, instruction, 1)


def recommend_indices(
    source,
    history,
    *,
    kind: str | None = None,
    model=None,
    trie=None,
    k: int = 10,
    beam: int = 20,
    constrained: bool = True,
    mode: str = "beam",
    groups: int = 2,
    penalty: float = 0.5,
    temperature: float = 1.0,
    seed: int = 0,
    item_filter: ItemFilter | None = None,
    exclude=None,
    exclude_history: bool = False,
    instruction=None,
    trace: bool = False,
    device="cpu",
    cancel: CancelToken | None = None,
) -> Recommendation:
    """Top-``k`` next items for one history of item indices (oldest first; the most recent
    ``max_len`` are read).

    ``source``: a :class:`~genrec_engine.project.Project` (its ``kind`` generator comes from the
    cached :meth:`Project.generator` on ``device`` unless ``model`` is given; its trie constrains
    the decode) or a loaded generator (then pass ``trie`` to decode constrained; ``item_filter``
    and a ``sasrec`` model need the project). ``trie``: decode over this trie instead of the
    project's (e.g. a :class:`~genrec_engine.coldstart.ColdStartSession`'s, with injected items).
    ``beam``: beams kept per level (raised to ``k``). ``constrained``: keep every SID on an item
    (off: invalid SIDs come back as item ``-1``). ``mode``: ``"beam"``, ``"diverse"`` (``groups``
    must divide the beam, Hamming ``penalty``) or ``"sample"`` (``temperature``, ``seed``).
    ``item_filter``'s blocked items, ``exclude`` (item indices) and, with ``exclude_history``,
    the history's items never come back, and the list still fills. ``instruction``: a typed
    request (encoded with MiniLM) or its ``[384]`` vector, for generators trained with
    instructions (the history may then be empty). ``trace``: record the beam search level by
    level (beam modes). ``sasrec`` scores every item live in the trie and takes none of
    ``mode``, ``constrained``, ``trace`` or ``instruction``. ``cancel`` is checked per level.

    Bad arguments (``k`` or ``beam`` < 1, an unknown kind or mode, an index outside the
    catalogue, no history and no instruction) raise ConfigError saying which.
    """
    k, beam = _whole("k", k, 1), _whole("beam", beam, 1)
    if mode not in MODES:
        raise ConfigError(f"mode={mode!r}: expected one of {', '.join(MODES)}")
    project, model, kind = _resolve(source, kind, model, device)
    n_items = project.sids.n_items if project is not None else int(model.n_items)
    hist = _indices("history", np.asarray(history).reshape(-1).tolist() if history is not None else (), n_items)
    vector = _instruction_vector(model, kind, instruction)
    if not hist and vector is None:
        raise ConfigError("give a history (item indices), an instruction, or both")
    blocked = {int(i) for i in exclude or ()}
    if exclude_history:
        blocked |= set(hist)
    if item_filter is not None and not item_filter.empty:
        if project is None:
            raise ConfigError("item_filter: needs the project (its catalogue); pass the project as source")
        blocked |= item_filter.blocked_items(project.dataset.catalogue)
    dev = next(model.parameters()).device
    H = pad_histories([hist], model.config.max_len, device=dev)
    if H.shape[1] and not hist:
        H = H[:, -1:]  # an instruction alone: one padding position
    with torch.no_grad():
        if hasattr(model, "score_items"):
            return _dense(project, model, kind, hist, H, k, blocked, mode, trie)
        if trie is None and project is not None:
            trie = project.trie
        if constrained and trie is None:
            raise ConfigError("constrained decoding needs the prefix trie: pass trie= (or the project as source)")
        exclusion = [blocked] if blocked else None
        if mode == "sample":
            if trace:
                raise ConfigError("trace: only beam search records one (mode 'beam' or 'diverse')")
            gen = torch.Generator(device=dev).manual_seed(_whole("seed", seed, 0))
            res = sample(model, H, trie=trie, k=k, temperature=temperature, constrained=constrained, generator=gen,
                         exclude=exclusion, instruction=vector, cancel=cancel)
        else:
            diverse = mode == "diverse"
            res = beam_search(model, H, trie=trie, beam=max(beam, k), k=k, constrained=constrained, trace=trace,
                              exclude=exclusion, instruction=vector, diverse_groups=groups if diverse else 1,
                              diversity_penalty=penalty if diverse else 0.0, cancel=cancel)
    rows = [(i, s, tuple(int(c) for c in sid))
            for i, s, sid in zip(res.items[0].tolist(), res.scores[0].tolist(), res.sids[0].tolist())
            if math.isfinite(s)]
    return Recommendation(kind, hist, tuple(r[0] for r in rows), tuple(r[1] for r in rows), tuple(r[2] for r in rows),
                          invalid=int(res.invalid[0]) if res.invalid is not None else 0, instructed=vector is not None,
                          trace=tuple(res.trace) if trace and res.trace is not None else None)


def _dense(project, model, kind: str, hist: tuple[int, ...], H: torch.Tensor, k: int, blocked: set[int],
           mode: str, trie=None) -> Recommendation:
    """``sasrec``: the top-``k`` of every item's score, blocked items masked, and so are items
    that are not live in the trie (held-out cold items, retired ones), as the trie keeps them out
    of the generative models' lists."""
    if mode != "beam":
        raise ConfigError(f"mode={mode!r}: {kind} scores every item at once; sampling and diverse beams need ran or tiger")
    if project is None:
        raise ConfigError(f"a {kind} model alone has no SID table: pass the project as source")
    scores = model.score_items(H)[0]
    trie = trie if trie is not None else project.trie
    if trie.num_items < scores.shape[0]:
        dead = ~trie.live_mask(scores.shape[0])
        scores[torch.as_tensor(dead, device=scores.device)] = -float("inf")
    blocked = sorted(i for i in blocked if 0 <= i < scores.shape[0])
    if blocked:
        scores[torch.as_tensor(blocked, device=scores.device)] = -float("inf")
    top = torch.topk(scores, min(k, scores.shape[0]))
    rows = [(i, s) for i, s in zip(top.indices.tolist(), top.values.tolist()) if math.isfinite(s)]
    return Recommendation(kind, hist, tuple(i for i, _ in rows), tuple(s for _, s in rows),
                          tuple(project.sids.sid(i) for i, _ in rows))


def recommend(
    project,
    kind: str,
    history_ids,
    *,
    k: int = 10,
    beam: int = 20,
    trace: bool = False,
    constrained: bool = True,
    exclude_history: bool = False,
    filters: ItemFilter | None = None,
    interest_depth: int = 1,
    instruction: str | None = None,
    device: str = "cpu",
    model=None,
) -> dict:
    """Top-``k`` next items for a history given as item **ids** (oldest first): ``genrec
    recommend``, a thin layer over :func:`recommend_indices` (see there for the arguments).

    Returns ``{"model", "history": [{"item_id", "title", "sid"}], "items": [{"rank", "item_id",
    "title", "sid", "score"}], "interests": [InterestGroup.to_dict(), ...] (by the first
    ``interest_depth`` codes), "filters": ItemFilter.to_dict(), "invalid": n, "instruction":
    text | None, "trace": [BeamStep.to_dict(), ...] | None}``. ``filters``' blocked items are
    masked during decoding, so they never come back and the list still fills. Unknown ids raise
    ConfigError naming them."""
    cat = project.dataset.catalogue
    ids = [int(i) for i in history_ids]
    try:
        idx = cat.index_of(ids) if ids else np.zeros(0, dtype=np.int64)
    except KeyError as exc:
        raise ConfigError(f"--history: {exc.args[0] if exc.args else exc}") from None
    if not len(idx) and not (instruction is not None and str(instruction).strip()):
        raise ConfigError("give a history (item ids), an instruction, or both")
    rec = recommend_indices(project, idx, kind=kind, model=model, k=k, beam=beam, constrained=constrained,
                            item_filter=filters, exclude_history=exclude_history,
                            instruction=None if instruction is None else str(instruction), trace=trace, device=device)
    sids = project.sids
    return {
        "model": kind,
        "history": [{"item_id": int(cat.item_ids[i]), "title": cat.title(int(i)), "sid": list(sids.sid(int(i)))} for i in idx],
        "items": [{"rank": r + 1, "item_id": int(sids.item_ids[i]) if i >= 0 else None,
                   "title": cat.title(i) if i >= 0 else "(no item has this SID)", "sid": list(c), "score": float(v)}
                  for r, (i, v, c) in enumerate(zip(rec.items, rec.scores, rec.sids))],
        "interests": [g.to_dict(sids.item_ids) for g in
                      interest_groups(sids.codes, idx, cat.title, depth=interest_depth)] if len(idx) else [],
        "filters": filters.to_dict() if filters is not None else {},
        "invalid": rec.invalid,
        "instruction": str(instruction).strip() if rec.instructed else None,
        "trace": None if rec.trace is None else [s.to_dict() for s in rec.trace],
    }
