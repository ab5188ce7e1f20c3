"""The beam stepper's engine jobs: plain functions for the bridge, and the frozen results they return.

Every function here takes the engine's progress/cancel keywords and runs on a worker thread; none
touches Qt. The :class:`~genrec_engine.BeamStepper` lives in the jobs' world: :func:`build_stepper`
makes one, :func:`move_stepper` moves it (step, back, force, run to the end, reset), and each
returns a :class:`Decoded`: an immutable :class:`DecodeView` of the stepper's records for the GUI,
plus the stepper itself as an opaque handle that the GUI only passes on to the next job. The panel
submits at most one job per stepper at a time, so a stepper is never moved by two threads at once.

Costs on a CPU (bundled project): opening ~0.5 s (test users and a demo user), a generator ~15 ms
(cached by :meth:`genrec_engine.Project.generator`), a filter ~0.15 s, building a stepper a few ms
to ~50 ms, one step ~1 ms (RAN) to ~3 ms (TIGER).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

from genrec_engine import (
    BeamStepper,
    CancelToken,
    ConfigError,
    GenrecError,
    HeldOutUsers,
    ItemFilter,
    ProgressFn,
    StepperConfig,
    StepperResult,
    StepRecord,
    encode_instruction,
    find_demo_user,
    held_out_users,
)
from ...widgets import GENERATOR_LABELS
from ...widgets.text import generator_unavailable, leaf_category

__all__ = [
    "KINDS",
    "KIND_LABELS",
    "TOP_K",
    "OpenedProject",
    "CatalogueFacets",
    "LoadedGenerator",
    "DecodeRequest",
    "DecodeView",
    "Decoded",
    "Move",
    "open_stepper_project",
    "load_stepper_generator",
    "filter_blocked_items",
    "encode_instruction_text",
    "build_stepper",
    "move_stepper",
]

#: Generators with a SID decode (SASRec scores atomic ids: nothing to step through).
KINDS: tuple[str, ...] = ("ran", "tiger")
KIND_LABELS = {k: GENERATOR_LABELS[k] for k in KINDS}
TOP_K = 10  # list length and the homogeneity meter's window


@dataclass(frozen=True)
class CatalogueFacets:
    """Every catalogue item's leaf category and brand as integer codes (-1: none), so the items
    under a prefix are summarised by counting (``np.bincount``) instead of by strings: ~0.05 ms a
    prefix instead of ~5 ms, which a beam tree of a hundred nodes drawn on the GUI thread needs.
    Built once per project by :meth:`of` on a worker (~1 s at 10^6 items)."""

    category: np.ndarray  # [N] int32 code of the leaf category, -1 when none
    category_names: tuple[str, ...]
    brand: np.ndarray  # [N] int32 code of the brand, -1 when none
    brand_names: tuple[str, ...]

    @classmethod
    def of(cls, catalogue) -> "CatalogueFacets":
        import pandas as pd

        frame = catalogue.items

        def codes(values, name=lambda u: str(u).strip()) -> tuple[np.ndarray, tuple[str, ...]]:
            raw, uniques = pd.factorize(values.fillna("").astype(str))
            names = pd.Series([name(u) for u in uniques], dtype=object)  # few distinct values: once each
            named, kept = pd.factorize(names.where(names != "", None))  # no name: -1
            return named.astype(np.int32)[raw], tuple(str(n) for n in kept)

        category, category_names = codes(frame["categories"], leaf_category)
        brand, brand_names = codes(frame["brand"])
        return cls(category, category_names, brand, brand_names)


@dataclass(frozen=True)
class OpenedProject:
    """What the panel needs when a project opens (see :func:`open_stepper_project`)."""

    users: HeldOutUsers
    kind: str | None  # the first generator of KINDS that loaded, or None
    model: object | None  # that generator (shared, read only)
    errors: Mapping[str, str]  # kind -> why it could not be loaded (names the command that trains it)
    demo: int | None  # a test user whose true next item the generator finds
    facets: CatalogueFacets | None = None  # what the beam tree's nodes are labelled with


@dataclass(frozen=True)
class LoadedGenerator:
    """One generator kind: the model, or the message saying how to train it."""

    kind: str
    model: object | None
    error: str | None


@dataclass(frozen=True)
class DecodeRequest:
    """Everything a stepper is built from (an immutable snapshot the GUI does not touch)."""

    id: int  # increases per panel: only the newest request's stepper is shown
    kind: str
    history: tuple[int, ...]  # item indices, oldest first
    config: StepperConfig
    exclude: frozenset[int]  # blocked items (filters, maybe the history)
    instruction: np.ndarray | None  # float32 [384], or None
    level: int | None  # decode this many levels once built (None: to the end)
    filtered: bool = False  # a filter or "hide history items" masked ``exclude``


@dataclass(frozen=True)
class DecodeView:
    """An immutable snapshot of a stepper after a job built or moved it: what the GUI shows.

    ``records[l]`` is level ``l``'s :class:`~genrec_engine.StepRecord` (frozen); ``result`` the
    ranked list once every level is decoded; ``error`` a refused force, explained (the stepper
    is then where it was before).
    """

    request: DecodeRequest
    level: int  # levels decoded, 0 .. depth
    depth: int  # SID length, collision level included
    records: tuple[StepRecord, ...]
    pending_force: tuple[int, int] | None  # (beam, token) waiting for the next step
    result: StepperResult | None
    error: str | None = None

    @property
    def done(self) -> bool:
        return self.level == self.depth

    @property
    def kind(self) -> str:
        return self.request.kind

    @property
    def history(self) -> tuple[int, ...]:
        return self.request.history

    @property
    def config(self) -> StepperConfig:
        return self.request.config


@dataclass(frozen=True)
class Decoded:
    """A job's answer: the view to show, and the stepper handle for the next job (never called
    on the GUI thread)."""

    view: DecodeView
    stepper: BeamStepper


@dataclass(frozen=True)
class Move:
    """One user move of the stepper: ``"step"``, ``"back"``, ``"run"`` (to the end), ``"reset"``
    or ``"force"`` (redo the last level keeping live beam ``beam``'s child along ``token``)."""

    action: str
    beam: int = 0
    token: int = 0


# ------------------------------------------------------------------------------------ jobs


def _kind_error(project, kind: str, exc: Exception) -> str:
    return generator_unavailable(kind, project.path, exc)


def load_stepper_generator(project, kind: str, *, progress: ProgressFn | None = None,
                           cancel: CancelToken | None = None) -> LoadedGenerator:
    """The project's ``kind`` generator on the CPU, from the project's shared cache (a bridge job)."""
    try:
        return LoadedGenerator(kind, project.generator(kind), None)
    except GenrecError as exc:
        return LoadedGenerator(kind, None, _kind_error(project, kind, exc))


def open_stepper_project(project, kinds: tuple[str, ...] = KINDS, *, progress: ProgressFn | None = None,
                         cancel: CancelToken | None = None) -> OpenedProject:
    """The test users, the first generator of ``kinds`` that loads, and a demo user (one whose
    true next item the generator finds); a bridge job, ~0.5 s on the bundled project."""
    if progress is not None:
        progress(0.0, "test users")
    users = held_out_users(project)
    errors: dict[str, str] = {}
    found: LoadedGenerator | None = None
    for kind in kinds:
        if cancel is not None:
            cancel.raise_if_cancelled()
        got = load_stepper_generator(project, kind)
        if got.model is not None:
            found = got
            break
        errors[kind] = got.error or ""
    demo = None
    if found is not None and len(users):
        if progress is not None:
            progress(0.6, "looking for a user whose next item the generator finds")
        demo = find_demo_user(found.model, project.trie, users, k=TOP_K, cancel=cancel)
    if progress is not None:
        progress(0.9, "item categories and brands")
    facets = CatalogueFacets.of(project.dataset.catalogue)
    if progress is not None:
        progress(1.0, "ready")
    return OpenedProject(users, None if found is None else found.kind, None if found is None else found.model,
                         errors, demo, facets)


def filter_blocked_items(project, item_filter: ItemFilter, *, progress: ProgressFn | None = None,
                         cancel: CancelToken | None = None) -> frozenset[int]:
    """The item indices ``item_filter`` blocks (a bridge job, ~0.15 s for 12k items); an unknown
    brand or category raises ConfigError naming it."""
    return frozenset(item_filter.blocked_items(project.dataset.catalogue))


def encode_instruction_text(text: str, *, progress: ProgressFn | None = None,
                            cancel: CancelToken | None = None) -> np.ndarray:
    """float32 ``[384]`` vector of an instruction (loads MiniLM on the first call: a bridge job)."""
    return np.asarray(encode_instruction(text), dtype=np.float32).reshape(-1)


def _snapshot(stepper: BeamStepper, request: DecodeRequest, error: str | None = None) -> Decoded:
    view = DecodeView(request, stepper.level, stepper.depth, stepper.records, stepper.pending_force,
                      stepper.result() if stepper.done else None, error)
    return Decoded(view, stepper)


def build_stepper(model, trie, request: DecodeRequest, *, progress: ProgressFn | None = None,
                  cancel: CancelToken | None = None) -> Decoded:
    """A new :class:`BeamStepper` for ``request``, stepped to ``request.level`` (None: the end)."""
    import torch

    instruction = None if request.instruction is None else torch.as_tensor(request.instruction)
    stepper = BeamStepper(model, trie, request.history, config=request.config, exclude=request.exclude or None,
                          instruction=instruction)
    target = stepper.depth if request.level is None else min(int(request.level), stepper.depth)
    while stepper.level < target:
        if cancel is not None:
            cancel.raise_if_cancelled()
        stepper.step()
    return _snapshot(stepper, request)


def _force(stepper: BeamStepper, beam: int, token: int) -> str | None:
    """Redo the last decoded level keeping only ``beam``'s child along ``token``, then decode back
    to the level that was shown. A refused force leaves the stepper as it was; returns why."""
    if stepper.level == 0:
        return None
    level = stepper.level
    stepper.back()
    try:
        stepper.force(beam, token)
    except ConfigError as exc:
        stepper.step()  # the same level again: the stepper is exactly where it was
        return str(exc)
    while stepper.level < level:
        stepper.step()
    return None


_MOVES: dict[str, Callable[[BeamStepper], object]] = {
    "step": lambda st: st.step() if not st.done else None,
    "back": BeamStepper.back,
    "run": BeamStepper.run_to_end,
    "reset": BeamStepper.reset,
}


def move_stepper(stepper: BeamStepper, request: DecodeRequest, move: Move, *, progress: ProgressFn | None = None,
                 cancel: CancelToken | None = None) -> Decoded:
    """Apply ``move`` to ``stepper`` (built for ``request``) on this worker and snapshot it."""
    if move.action == "force":
        return _snapshot(stepper, request, _force(stepper, move.beam, move.token))
    _MOVES[move.action](stepper)
    return _snapshot(stepper, request)
