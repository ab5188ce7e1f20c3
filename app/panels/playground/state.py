"""The playground's view-model (plain Python, no Qt) and its bridge jobs.

:class:`PlaygroundState` holds, for the open project: the generators (loaded once per project by
:func:`load_generator`, or why one is missing), the test users and the item search
(:func:`prepare_playground`), the newest request, the list each generator shows and the history's
interest groups. It decides what to ask next (:meth:`PlaygroundState.decode_action`), whether the
panel has settled, and what each status line says (:class:`Part` tokens the view renders).

Every recommendation goes through one function, :func:`recommend_list`, over the engine's facade
:func:`genrec_engine.recommend_indices` (history padding, exclusion, instruction encoding and the
decoder are the engine's). Results are frozen dataclasses: :class:`GeneratorLoad`,
:class:`PlaygroundSetup`, :class:`ListResult` of :class:`ResultRow`.

Histories are tuples of item indices, oldest first, at most :data:`MAX_HISTORY` long.
"""
from __future__ import annotations

import itertools
import shlex
import time
from dataclasses import dataclass, replace
from typing import Iterable, Sequence

import numpy as np

from genrec_engine import (
    CancelToken,
    GenrecError,
    InterestGroup,
    ProgressFn,
    Recommendation,
    interest_groups,
    recommend_indices,
)
from genrec_engine.data import project_split

__all__ = [
    "KINDS", "KIND_NOTES", "MAX_HISTORY", "PREFILL_MIN_ITEMS", "USER_CHOICES", "NOTHING_TO_DECODE",
    "PlaygroundRequest", "GeneratorLoad", "PlaygroundSetup", "ResultRow", "ListResult", "Part",
    "PlaygroundState", "instruction_supported", "load_generator", "prepare_playground", "recommend_list",
    "list_rows", "overlap_counts", "shared_items", "clip_history",
]

#: The three generators, in the order their lists are shown (left to right).
KINDS: tuple[str, ...] = ("tiger", "ran", "sasrec")
KIND_NOTES = {
    "tiger": "Encoder-decoder over flattened SID tokens; constrained beam search.",
    "ran": "One token per history item; the RAN decodes the SID level by level; constrained beam search.",
    "sasrec": "Atomic item ids: a dense score for every item (beam width and the trie do not apply).",
}

MAX_HISTORY = 50  # the generators read at most 50 (RAN, SASRec) or 20 (TIGER) recent items
PREFILL_MIN_ITEMS = 5  # the first project shows the first test user with at least this many items
USER_CHOICES = 500  # test users offered in the picker
INVALID_TITLE = "(no item has this SID)"

NOTHING_TO_DECODE = "Add items to the history to see this generator's recommendations."
NO_INSTRUCTION_TIP = ("Disabled: none of this project's generators was trained with instructions, so an "
                      "instruction would not change their lists.")
LOADING_TIP = "Loading the generators…"


# ------------------------------------------------------------------------------------ results


@dataclass(frozen=True)
class PlaygroundRequest:
    """One request as the panel sends it to the three generators (an immutable snapshot)."""

    id: int  # increases with every request of a panel; results answer one id
    history: tuple[int, ...]  # item indices, oldest first
    instruction: str = ""  # natural-language instruction ("" = none)
    constrained: bool = True  # mask SIDs that name no item (trie); off shows invalid generations
    k: int = 10  # list length
    beam: int = 20  # beams kept per level (raised to k when smaller)
    exclude_history: bool = False  # never recommend an item already in the history


@dataclass(frozen=True)
class GeneratorLoad:
    """A generator of the project, or why there is none (a bridge job's result)."""

    kind: str
    model: object | None  # the shared, read-only generator; None when it could not be loaded
    error: str | None = None  # what went wrong and which command trains one
    instruction: bool = False  # the generator reads instructions


@dataclass(frozen=True)
class PlaygroundSetup:
    """The test users the picker offers (a bridge job's result)."""

    users: tuple[tuple[int, tuple[int, ...]], ...]  # (user id, test history: item indices, oldest first)


@dataclass(frozen=True)
class ResultRow:
    """One row of a generator's list."""

    rank: int  # 1 = best
    index: int  # item index; -1: the generated SID names no item (unconstrained)
    item_id: int | None  # the catalogue's id (None for -1)
    title: str
    sid: tuple[int, ...]
    score: float  # SID log-probability (beam generators) or dense score (SASRec)

    @property
    def invalid(self) -> bool:
        return self.index < 0


@dataclass(frozen=True)
class ListResult:
    """One generator's list for one request (built on a worker, read on the GUI thread)."""

    kind: str
    request_id: int
    rows: tuple[ResultRow, ...]
    invalid: int  # SIDs in the list that name no item (0 when constrained)
    seconds: float  # wall time of the decode
    instruction_used: bool  # the instruction reached the generator

    @property
    def indices(self) -> tuple[int, ...]:
        """Item indices of the rows, -1 for invalid SIDs."""
        return tuple(r.index for r in self.rows)


@dataclass(frozen=True)
class Part:
    """A piece of a status line: ``style`` is ``""``, ``"error"`` (red) or ``"pending"`` (italic)."""

    text: str
    style: str = ""


# ------------------------------------------------------------------------------------ jobs


def instruction_supported(model) -> bool:
    """True when ``model`` reads an instruction."""
    return bool(getattr(model, "accepts_instruction", False))


def load_generator(project, kind: str, label: str | None = None, *, progress: ProgressFn | None = None,
                   cancel: CancelToken | None = None) -> GeneratorLoad:
    """The project's ``kind`` generator from its shared cache (:meth:`Project.generator`; a bridge
    job, ~40 ms the first time). ``label`` names it in messages."""
    label = label or kind
    if progress is not None:
        progress(0.0, f"loading the {label} generator")
    try:
        model = project.generator(kind)
    except GenrecError as exc:
        cmd = f"genrec train --project {shlex.quote(str(project.path))} --model {kind}"
        if "not found" in str(exc):  # a new project: nothing is broken, there is just no generator yet
            return GeneratorLoad(kind, None, f"This project has no {label} generator yet: train one in the Training "
                                             f"tab (or run {cmd}).")
        return GeneratorLoad(kind, None, f"The {label} generator could not be loaded ({exc}). Train a new one in "
                                         f"the Training tab (or run {cmd}).")
    if progress is not None:
        progress(1.0, "loaded")
    return GeneratorLoad(kind, model, None, instruction_supported(model))


def prepare_playground(project, *, min_items: int = PREFILL_MIN_ITEMS, limit: int = USER_CHOICES,
                       progress: ProgressFn | None = None, cancel: CancelToken | None = None) -> PlaygroundSetup:
    """The test users (a bridge job): the leave-one-out **test** histories of the project's split
    (cold items removed, the last :data:`MAX_HISTORY` kept) of the first ``limit`` users with at
    least ``min_items`` items. The item search uses the snapshot's look-ups, not this job."""
    if progress is not None:
        progress(0.0, "test users")
    split = project_split(project)  # shared with the other panels; cold items already left out
    lengths = split.test_history.lengths
    users = tuple((int(split.user_ids[u]), tuple(int(i) for i in split.test_history[u][-MAX_HISTORY:]))
                  for u in np.flatnonzero(lengths >= min_items)[:limit])
    if cancel is not None:
        cancel.raise_if_cancelled()
    if progress is not None:
        progress(1.0, "ready")
    return PlaygroundSetup(users)


def recommend_list(project, kind: str, model, request: PlaygroundRequest, *, progress: ProgressFn | None = None,
                   cancel: CancelToken | None = None) -> ListResult:
    """``kind``'s top-k list for ``request`` (a bridge job; ~10-80 ms on a CPU for a 10-item
    history): the one way the playground asks for recommendations, through
    :func:`genrec_engine.recommend_indices`. ``model`` is the shared generator (read-only). The
    instruction is passed only to a generator that reads one."""
    instruction = request.instruction.strip()
    use_instruction = bool(instruction) and instruction_supported(model)
    if cancel is not None:
        cancel.raise_if_cancelled()
    start = time.perf_counter()
    rec = recommend_indices(project, request.history, kind=kind, model=model, k=int(request.k),
                            beam=max(int(request.beam), int(request.k)), constrained=bool(request.constrained),
                            exclude_history=bool(request.exclude_history),
                            instruction=instruction if use_instruction else None, cancel=cancel)
    seconds = time.perf_counter() - start
    return ListResult(kind, request.id, list_rows(project, rec), max(int(rec.invalid), 0), seconds, use_instruction)


def list_rows(project, rec: Recommendation) -> tuple[ResultRow, ...]:
    """``rec``'s items as rows: ranks, catalogue ids and titles (-1: a SID that names no item)."""
    ids, title = project.sids.item_ids, project.dataset.catalogue.title
    return tuple(ResultRow(r + 1, int(i), int(ids[i]) if i >= 0 else None, title(int(i)) if i >= 0 else INVALID_TITLE,
                           tuple(int(c) for c in sid), float(score))
                 for r, (i, score, sid) in enumerate(zip(rec.items, rec.scores, rec.sids)))


# ------------------------------------------------------------------------------------ rules


def clip_history(items: Iterable[int]) -> tuple[int, ...]:
    """``items`` as a history: ints, the last :data:`MAX_HISTORY` kept."""
    return tuple(int(i) for i in items)[-MAX_HISTORY:]


def overlap_counts(lists: Iterable[Iterable[int]]) -> dict[int, int]:
    """Item index -> number of lists it appears in, for items in at least two (``-1``, an invalid
    SID, never counts)."""
    counts: dict[int, int] = {}
    for items in lists:
        for i in {int(x) for x in items if int(x) >= 0}:
            counts[i] = counts.get(i, 0) + 1
    return {i: n for i, n in counts.items() if n >= 2}


def shared_items(lists: dict[str, Iterable[int]]) -> dict[str, dict[int, tuple[str, ...]]]:
    """Per list: item index -> the other lists (in :data:`KINDS` order) that hold it too."""
    sets = {k: {int(i) for i in v if int(i) >= 0} for k, v in lists.items()}
    out = {}
    for kind, mine in sets.items():
        shared = {i: tuple(o for o in KINDS if o != kind and i in sets.get(o, ())) for i in mine}
        out[kind] = {i: others for i, others in shared.items() if others}
    return out


class PlaygroundState:
    """What the playground shows and asks next, for one open project at a time.

    ``labels``: kind -> the generator's short name. Mutated on the GUI thread by the view; every
    method is cheap (loading and decoding are bridge jobs).
    """

    def __init__(self, labels: dict[str, str] | None = None):
        self.labels = {k: (labels or {}).get(k, k) for k in KINDS}
        self._request_ids = itertools.count(1)
        self.open(None)

    # ---- project ----
    def open(self, project, lookups=None) -> None:
        """A project was opened (None: closed): everything of the previous one is stale.
        ``lookups``: the snapshot's :class:`app.model.ItemLookups` (completions, ids, titles;
        shared with the other panels, built on first use), which the item search reads; without
        them typed items resolve to nothing."""
        self.project = project
        self.models: dict[str, object] = {}  # kind -> loaded generator (shared for the project)
        self.load_errors: dict[str, str] = {}  # kind -> why it could not be loaded
        self.instruction_kinds: set[str] = set()  # kinds whose generator reads instructions
        self.request: PlaygroundRequest | None = None  # the newest request sent
        self.shown: dict[str, ListResult] = {}  # kind -> the list on screen
        self.list_errors: dict[str, tuple[int, str]] = {}  # kind -> (request id, message)
        self.setup: PlaygroundSetup | None = None
        self.prepared = False  # the test users are listed (or could not be)
        self.ready = False  # the first request was answered (sig_ready emitted)
        self.groups: list[InterestGroup] = []
        self.lookups = lookups if project is not None else None

    @property
    def page(self) -> str:
        """``"empty"`` or ``"playground"``."""
        return "empty" if self.project is None else "playground"

    @property
    def users(self) -> list[tuple[int, tuple[int, ...]]]:
        """``(user_id, test history)`` of the users the picker offers."""
        return list(self.setup.users) if self.setup is not None else []

    def generator_loaded(self, load: GeneratorLoad) -> None:
        if load.model is None:
            self.load_errors[load.kind] = load.error or "could not be loaded"
        else:
            self.models[load.kind] = load.model
            if load.instruction:
                self.instruction_kinds.add(load.kind)

    def generator_failed(self, kind: str, message: str) -> None:
        self.load_errors[kind] = message

    @property
    def models_loaded(self) -> bool:
        return all(k in self.models or k in self.load_errors for k in KINDS)

    def prepared_with(self, setup: PlaygroundSetup) -> None:
        self.setup = setup
        self.prepared = True

    def prepare_failed(self, message: str) -> str:
        """The test users could not be listed: requests go on; returns what the history line says."""
        self.prepared = True
        return f"Could not list the test users: {message}"

    # ---- items ----
    def resolve(self, text: str) -> int | None:
        """An item index for typed text: a completion (see :func:`app.model.item_completions`), an
        item id (``123`` or ``id:123``), or the first item whose title contains the text,
        case-insensitively (the shared title index: one scan of one text, fast at 10^6 items)."""
        text = text.strip()
        if not text or self.lookups is None:
            return None
        hit = self.completion_item(text)
        if hit is not None:
            return hit
        body = text[3:].strip() if text.lower().startswith("id:") else text
        if body.isdigit():
            hit = self.lookups.id_index().get(int(body))
            if hit is not None:
                return hit
        found = self.lookups.titles.find(text)
        return int(found[0]) if len(found) else None

    def completion_item(self, text: str) -> int | None:
        """The item of an exact completion (a suggestion the user picked), else None."""
        return self.lookups.completions().get(text) if self.lookups is not None else None

    def update_groups(self, history: Sequence[int], depth: int) -> list[InterestGroup]:
        """The interest groups of ``history`` by the first ``depth`` SID codes (cheap: <= 50 items)."""
        if self.project is None or not len(history):
            self.groups = []
        else:
            p = self.project
            self.groups = interest_groups(p.sids.codes, list(history), p.dataset.catalogue.title, depth=int(depth))
        return list(self.groups)

    # ---- requests ----
    @property
    def instruction_enabled(self) -> bool:
        return self.models_loaded and bool(self.instruction_kinds)

    def instruction_tip(self) -> str:
        if not self.models_loaded:
            return LOADING_TIP
        if not self.instruction_kinds:
            return NO_INSTRUCTION_TIP
        names = ", ".join(self.labels[k] for k in KINDS if k in self.instruction_kinds)
        return f"A natural-language wish; read by: {names}. The other generators ignore it."

    def pending(self, history: Sequence[int], instruction: str, constrained: bool, k: int, beam: int,
                exclude_history: bool) -> PlaygroundRequest:
        """The request the controls describe, id 0 (the instruction only while the box is usable)."""
        return PlaygroundRequest(0, tuple(int(i) for i in history), instruction if self.instruction_enabled else "",
                                 bool(constrained), int(k), int(beam), bool(exclude_history))

    def new_request(self, history: Sequence[int], instruction: str, constrained: bool, k: int, beam: int,
                    exclude_history: bool) -> PlaygroundRequest:
        """Send the request the controls describe (see :meth:`pending`) with the next id."""
        pending = self.pending(history, instruction, constrained, k, beam, exclude_history)
        self.request = replace(pending, id=next(self._request_ids))
        return self.request

    def shown_id(self, kind: str) -> int | None:
        r = self.shown.get(kind)
        return r.request_id if r is not None else None

    def decode_action(self, kind: str, busy: bool) -> str | None:
        """What to do for ``kind`` now: ``"decode"`` the newest request, ``"nothing"`` (there is nothing
        to condition on: the list is cleared and says so), or None (shown already or failed for this
        request, its decode is ``busy`` and will ask again, its generator is loading or missing, no
        request yet). A failed decode is not retried until the request changes."""
        req = self.request
        if req is None or self.project is None or kind in self.load_errors or kind not in self.models:
            return None
        if busy or self.shown_id(kind) == req.id or self.list_errors.get(kind, (None,))[0] == req.id:
            return None
        if not req.history and not (req.instruction.strip() and kind in self.instruction_kinds):
            self.shown.pop(kind, None)  # the engine would refuse: say what to add instead
            self.list_errors[kind] = (req.id, NOTHING_TO_DECODE)
            return "nothing"
        return "decode"

    def list_arrived(self, result: ListResult) -> bool:
        """A decode returned: True when it answers the newest request (now shown); an older
        request's answer is dropped (a newer one is, or will be, decoding)."""
        if self.request is None or result.request_id != self.request.id:
            return False
        self.list_errors.pop(result.kind, None)
        self.shown[result.kind] = result
        return True

    def list_failed(self, kind: str, request_id: int, message: str) -> None:
        self.list_errors[kind] = (request_id, message)

    def overlap(self) -> dict[int, int]:
        """Item index -> lists holding it, for items shown in at least two lists."""
        return overlap_counts(r.indices for r in self.shown.values())

    def shared(self) -> dict[str, dict[int, tuple[str, ...]]]:
        """Per kind: items that another *current* list holds too (lists of older requests do not count)."""
        rid = self.request.id if self.request is not None else None
        current = {k: r.indices for k, r in self.shown.items() if r.request_id == rid}
        out = shared_items(current)
        return {k: out.get(k, {}) for k in KINDS}

    def settled(self, debouncing: bool, busy: bool) -> bool:
        """Every list shows the results (or a final error) of the newest request, nothing waits in
        the debounce (``debouncing``) and no job of the panel runs (``busy``)."""
        if self.project is None or debouncing or busy:
            return False
        if all(k in self.load_errors for k in KINDS):
            return True  # no generator loaded: the three notices are all there is to show
        if self.request is None:
            return False
        rid = self.request.id
        settled = [k for k in KINDS if self.shown_id(k) == rid or self.list_errors.get(k, (None,))[0] == rid
                   or k in self.load_errors]
        return len(settled) == len(KINDS) and any(self.shown_id(k) == rid for k in KINDS)

    # ---- texts ----
    def status(self, kind: str, debouncing: bool) -> tuple[Part, ...]:
        """The line above ``kind``'s list."""
        if kind in self.load_errors:
            return (Part(self.load_errors[kind], "error"),)
        if kind not in self.models:
            return (Part("Loading the generator…"),)
        req, shown = self.request, self.shown.get(kind)
        if req is None:
            return (Part("Waiting for a history…"),)
        error = self.list_errors.get(kind)
        if error is not None and error[0] == req.id:
            if error[1] == NOTHING_TO_DECODE:
                return (Part(NOTHING_TO_DECODE),)
            return (Part(f"Could not decode: {error[1]}", "error"),)
        if shown is None:
            return (Part("Decoding…"),)
        parts = [Part(f"{len(shown.rows)} items · {1000 * shown.seconds:.0f} ms")]
        if shown.invalid:
            parts.append(Part(f"{shown.invalid} invalid SID{'s' if shown.invalid != 1 else ''}", "error"))
        elif kind != "sasrec" and not req.constrained and shown.request_id == req.id:
            parts.append(Part("0 invalid SIDs"))
        if req.instruction.strip():
            parts.append(Part("instruction used" if shown.instruction_used else "ignores the instruction"))
        if shown.request_id != req.id or debouncing:
            parts.append(Part("updating…", "pending"))
        return tuple(parts)

    def request_text(self, debouncing: bool) -> str:
        """The line that sums up the newest request ("" before the first)."""
        req = self.request
        if req is None:
            return ""
        waiting = debouncing or any(self.shown_id(k) != req.id for k in self.models)
        mode = "constrained" if req.constrained else "unconstrained"
        return (f"{'updating… · ' if waiting else ''}{len(req.history)}-item history · k {req.k} · beam "
                f"{max(req.beam, req.k)} · {mode}")

    @staticmethod
    def history_text(n: int) -> str:
        full = " (the most the generators read)" if n >= MAX_HISTORY else ""
        return f"{n} item{'s' if n != 1 else ''}{full}"

    def groups_text(self, n_history: int, prefix_text) -> str:
        """One line about the groups; ``prefix_text`` writes a SID prefix."""
        if not self.groups:
            return ""
        top = self.groups[0]
        return (f"{len(self.groups)} group{'s' if len(self.groups) != 1 else ''}; the largest "
                f"({prefix_text(top.prefix)}) holds {top.size} of {n_history} items")
