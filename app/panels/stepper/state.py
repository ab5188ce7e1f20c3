"""The beam stepper's view-model: what is open, what to ask the engine next, and how a decode reads.

No Qt here. :class:`StepperState` holds the panel's state (the test users, the loaded
generators, filters and instruction vectors cached for the open project, the history being
decoded, the :class:`~.jobs.DecodeView` shown, the moves waiting for the running one) and its
rules: :meth:`StepperState.next_need` says what the engine must do for the controls' options
(load a generator, apply a filter, encode an instruction, build a stepper, or nothing), and
:meth:`StepperState.next_move` which queued move to run next. The functions below turn a decode
into rows and text: :func:`tree_columns` (the beam tree's nodes per level),
:func:`candidate_rows`, :func:`result_rows` and the status lines.
"""
from __future__ import annotations

import html
from collections import Counter, deque
from dataclasses import dataclass
from typing import Callable, Sequence

from genrec_engine import ConfigError, HeldOutUsers, ItemFilter, StepperConfig, StepperResult, StepRecord

from ...widgets import leaf_category, sid_text
from .jobs import KIND_LABELS, KINDS, TOP_K, CatalogueFacets, Decoded, DecodeRequest, DecodeView, LoadedGenerator, Move, OpenedProject

__all__ = [
    "tree_rows", "PrefixMeaning", "prefix_meaning",
    "MODE_LABELS",
    "MAX_PRUNED_SHOWN",
    "Options",
    "NeedGenerator",
    "NeedFilter",
    "NeedInstruction",
    "Build",
    "Refused",
    "TreeNode",
    "StepperState",
    "tree_columns",
    "candidate_rows",
    "result_rows",
    "level_name",
    "split_names",
]

MODE_LABELS = {"beam": "Beam search", "diverse": "Diverse beam search", "sample": "Sampling"}
MAX_PRUNED_SHOWN = 5  # greyed pruned nodes drawn per level (plus any on the true item's path)


def split_names(text: str) -> tuple[str, ...]:
    """``"OPI, Revlon,"`` -> ``("OPI", "Revlon")``."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def level_name(level: int, depth: int) -> str:
    """1-based SID level name of 0-based ``level`` (the last one is the collision level)."""
    return "Collision" if level == depth - 1 and depth > 1 else f"Level {level + 1}"


@dataclass(frozen=True)
class Options:
    """The decoding options as the controls set them (``instruction`` is "" when disabled)."""

    kind: str = KINDS[0]
    beam: int = 20
    constrained: bool = True
    mode: str = "beam"
    groups: int = 2
    penalty: float = 0.5
    temperature: float = 1.0
    seed: int = 0
    block_categories: str = ""
    block_brands: str = ""
    exclude_history: bool = False
    instruction: str = ""

    def config(self) -> StepperConfig:
        """The stepper's config (diverse groups must divide the beam: it is rounded down to a
        multiple); ConfigError for values the engine refuses."""
        beam = self.beam
        if self.mode == "diverse" and beam % self.groups:
            beam = max(self.groups, beam - beam % self.groups)
        return StepperConfig(beam=beam, k=TOP_K, constrained=self.constrained, mode=self.mode, groups=self.groups,
                             penalty=float(self.penalty), temperature=float(self.temperature), seed=int(self.seed))

    def item_filter(self) -> ItemFilter:
        return ItemFilter(block_categories=split_names(self.block_categories),
                          block_brands=split_names(self.block_brands))


# ---- what the engine must do next (StepperState.next_need) ----


@dataclass(frozen=True)
class NeedGenerator:
    kind: str


@dataclass(frozen=True)
class NeedFilter:
    item_filter: ItemFilter


@dataclass(frozen=True)
class NeedInstruction:
    text: str


@dataclass(frozen=True)
class Build:
    """Build a stepper for ``request`` with ``model`` over the project's trie."""

    request: DecodeRequest
    model: object


@dataclass(frozen=True)
class Refused:
    """The options cannot be decoded; ``message`` says why."""

    message: str


class StepperState:
    """The stepper panel's state for one open project (see the module docstring).

    Mutated on the GUI thread only; the jobs get frozen requests and give back frozen views.
    """

    def __init__(self) -> None:
        self.open(None)

    # ---- project ----
    def open(self, project) -> None:
        """A different project (or none) is open: everything cached for the old one is stale."""
        self.project = project
        self.users: HeldOutUsers | None = None
        self.models: dict[str, object] = {}  # kind -> loaded generator (shared, read only)
        self.model_errors: dict[str, str] = {}
        self.blocked: dict[ItemFilter, frozenset[int]] = {}
        self.vectors: dict[str, object] = {}  # instruction text -> float32 [384]
        self.history: tuple[int, ...] = ()
        self.user: int | None = None  # test user index, None for a hand-built history
        self.target: int | None = None  # the user's true next item
        self.view: DecodeView | None = None
        self.stepper = None  # the shown view's stepper: an opaque handle passed on to jobs, never called here
        self.wanted: DecodeRequest | None = None  # newest request; its stepper is the one to show
        self.want_level: int | None = None
        self.wanted_key: tuple | None = None  # what the newest request was built from
        self.request_ids = 0
        self.pending_user: int | None = None  # a user asked for before the test users arrived
        self.queued: deque[Move] = deque()  # moves asked for while a decode job ran
        self.ready = False

    def opened(self, result: OpenedProject) -> str | None:
        """The open job's result; returns an error to show when no SID generator loaded."""
        self.users = result.users
        self.model_errors.update(result.errors)
        if result.model is None:
            self.ready = True  # the message is all there is to show
            return " ".join(result.errors.values()) or "This project has no SID generator."
        self.models[result.kind] = result.model
        return None

    def loaded(self, result: LoadedGenerator) -> str | None:
        """A generator job's result; returns its error message, if any."""
        if result.model is None:
            self.model_errors[result.kind] = result.error or ""
            return result.error
        self.models[result.kind] = result.model
        return None

    def accepts_instruction(self, kind: str) -> bool | None:
        """Whether the loaded ``kind`` generator reads instructions (None: not loaded)."""
        model = self.models.get(kind)
        return None if model is None else bool(getattr(model, "accepts_instruction", False))

    # ---- history ----
    def choose_user(self, user: int) -> str | None:
        """Decode test user ``user`` next; returns an error for an index out of range."""
        assert self.users is not None
        n = len(self.users)
        if not 0 <= user < n:
            return f"No test user {user}: the project has {n:,} (0 to {n - 1})."
        self.user, self.target = user, int(self.users.targets[user])
        self.history = tuple(int(i) for i in self.users.histories[user])
        return None

    def set_history(self, history: tuple[int, ...]) -> None:
        """A hand-built history: no test user, no true next item."""
        self.history, self.user, self.target = tuple(int(i) for i in history), None, None

    def add_item(self, item: int) -> None:
        self.set_history(self.history + (int(item),))

    def remove_at(self, row: int) -> None:
        self.set_history(self.history[:row] + self.history[row + 1:])

    # ---- what to ask the engine ----
    def next_need(self, options: Options, level: int | None, fresh: bool = False):
        """What the engine must do to show ``options`` decoded to ``level`` (None: to the end):
        a :class:`NeedGenerator`, :class:`NeedFilter`, :class:`NeedInstruction`, :class:`Build`,
        :class:`Refused`, or None (nothing: not ready yet, or the shown decode already is it).
        Unless ``fresh``, options equal to the newest request's ask for nothing (a focus change
        must not throw away forced tokens)."""
        self.want_level = level
        if fresh:
            self.wanted_key = None
        if self.project is None or self.users is None:
            return None
        kind = options.kind
        if kind in self.model_errors:
            return Refused(self.model_errors[kind])
        model = self.models.get(kind)
        if model is None:
            return NeedGenerator(kind)
        flt = options.item_filter()
        blocked: frozenset[int] = frozenset()
        if not flt.empty:
            if flt not in self.blocked:
                return NeedFilter(flt)
            blocked = self.blocked[flt]
        text = options.instruction
        vector = None
        if text:
            if text not in self.vectors:
                return NeedInstruction(text)
            vector = self.vectors[text]
        if options.exclude_history:
            blocked = blocked | frozenset(self.history)
        try:
            config = options.config()
        except ConfigError as exc:
            return Refused(str(exc))
        key = (kind, self.history, config, blocked, text)
        if key == self.wanted_key:
            return None
        self.wanted_key = key
        self.request_ids += 1
        self.wanted = DecodeRequest(self.request_ids, kind, self.history, config, blocked, vector, level,
                                    filtered=options.exclude_history or not flt.empty)
        self.queued.clear()  # moves asked for on the old decode do not carry over
        return Build(self.wanted, model)

    def show(self, decoded: Decoded) -> bool:
        """A build or move result; False (dropped) when it is not for the newest request."""
        if self.wanted is None or decoded.view.request.id != self.wanted.id:
            return False
        self.view, self.stepper = decoded.view, decoded.stepper
        return True

    # ---- moves ----
    def allowed(self, move: Move) -> bool:
        """Whether ``move`` changes the shown decode."""
        v = self.view
        if v is None:
            return False
        return {
            "step": not v.done, "run": not v.done, "back": v.level > 0, "force": v.level > 0,
            "reset": v.level > 0 or v.pending_force is not None,
        }[move.action]

    def next_move(self) -> Move | None:
        """The oldest queued move that still changes the decode (others are dropped)."""
        while self.queued:
            move = self.queued.popleft()
            if self.allowed(move):
                return move
        return None

    def mark_ready(self, idle: bool) -> bool:
        """True the first time a decode to the end is shown with no job running (``idle``)."""
        v = self.view
        if self.ready or not idle or v is None or not v.done or v.result is None or not len(v.result):
            return False
        self.ready = True
        return True

    # ---- text ----
    def title(self, item: int) -> str:
        return self.project.dataset.catalogue.title(item) or f"item {item}"

    def target_sid(self) -> tuple[int, ...] | None:
        return None if self.target is None else tuple(int(c) for c in self.project.sids.sid(self.target))

    def history_rows(self) -> list[tuple[int, str, tuple[int, ...]]]:
        """``(item, title, sid)`` per history item, oldest first."""
        cat, sids = self.project.dataset.catalogue, self.project.sids
        return [(i, cat.title(i) or "", tuple(int(c) for c in sids.sid(i))) for i in self.history]

    def user_text(self) -> str:
        if self.user is None:
            return f"your own history · {len(self.history)} items (no true next item)"
        uid = int(self.users.user_ids[self.user])
        return (f"user id {uid} · {len(self.history)} items · true next: {self.title(self.target)} "
                f"({sid_text(self.target_sid(), 'start')})")

    def status_text(self) -> str:
        v = self.view
        cfg = v.config
        what = f"{KIND_LABELS[v.kind]} · {MODE_LABELS[cfg.mode]} · beam {cfg.beam}"
        if v.level == 0:
            state = "At the start: press Step."
        elif v.done:
            state = f"Decoded all {v.depth} levels"
        else:
            state = f"Level {v.level} of {v.depth}"
        if v.records:
            state += f" · last step {v.records[-1].ms:.1f} ms"
        if v.pending_force is not None:
            state += f" · forced token {v.pending_force[1]} waits for the next step"
        return f"<b>{state}</b> · {what}"

    def forced_text(self) -> str:
        forced = [r for r in self.view.records if r.forced is not None]
        if not forced:
            return ""
        return "Forced: " + ", ".join(f"{sid_text(r.prefixes[r.forced[0]] + (r.forced[1],))} (level {r.level + 1})"
                                      for r in forced)

    def invalid_text(self) -> str:
        v = self.view
        if v.result is None:
            text = ""
        elif v.config.constrained:
            text = "Constrained: every decoded SID is a real item."
        else:
            text = f"Invalid SIDs (name no item): {v.result.invalid} of {len(v.result)}"
        if v.request.filtered:
            text += f" · {len(v.request.exclude):,} items masked by the filters"
        return text

    def target_text(self) -> str:
        """One line on the true next item: its rank, or the level where its prefix left the beam."""
        target_sid = self.target_sid()
        if target_sid is None:
            return ""
        title = self.title(self.target)
        title = html.escape(title if len(title) <= 60 else title[:57] + "…")
        result = self.view.result
        if result is not None:
            rank = result.rank_of(self.target)
            if rank is not None:
                return f"<span style='color:#1e8a3a'>★</span> True next item ranked <b>{rank}</b>: <i>{title}</i>"
        for rec in self.view.records:  # where did its path leave the beam?
            kept = {rec.child_prefix(c) for c in rec.chosen}
            if tuple(target_sid[: rec.level + 1]) not in kept:
                return (f"True next item ({sid_text(target_sid)}) left the beam at "
                        f"{level_name(rec.level, len(target_sid)).lower()}: <i>{title}</i>")
        if result is None:
            return f"True next item ({sid_text(target_sid)}) still in the beam: <i>{title}</i>"
        return f"True next item not in the list: <i>{title}</i>"

    def meter(self) -> tuple[int | None, str]:
        """The homogeneity meter: ``(percent or None for "–", the line beside it)``."""
        result = None if self.view is None else self.view.result
        if result is None or not len(result):
            return None, "shown once the decode reaches the end" if result is None else ""
        share, prefix = result.homogeneity(k=TOP_K, level=1)
        n = min(TOP_K, len(result))
        return int(round(100 * share)), f"{int(round(share * n))} of the top {n} share first code {prefix[0]}"


# ------------------------------------------------------------------------------------ rows


@dataclass(frozen=True)
class TreeNode:
    """One drawn node: a SID prefix at a level (0 = the start) and how the decode treated it."""

    level: int
    prefix: tuple[int, ...]
    score: float
    kind: str  # "root" | "kept" | "pruned"
    forced: bool
    on_target: bool  # a prefix of the true next item's SID
    label: str


def tree_columns(records: Sequence[StepRecord], target_sid: tuple[int, ...] | None) -> list[list[TreeNode]]:
    """The beam tree, one column per level: the root, then per level one node per kept prefix
    (samples and diverse groups can reach one prefix more than once: "×n") followed by the best
    :data:`MAX_PRUNED_SHOWN` pruned ones (and any on the true item's path), under their parents."""
    def on_path(p: tuple[int, ...]) -> bool:
        return target_sid is not None and tuple(target_sid[: len(p)]) == p

    columns: list[list[TreeNode]] = [[TreeNode(0, (), 0.0, "root", False, on_path(()), "start")]]
    for rec in records:
        kept = Counter(rec.child_prefix(c) for c in rec.chosen)
        score = {rec.child_prefix(c): c.score for c in rec.chosen}
        pruned: dict[tuple[int, ...], float] = {}
        for p in rec.pruned:
            prefix = rec.child_prefix(p)
            if prefix in kept or prefix in pruned:
                continue
            if len(pruned) < MAX_PRUNED_SHOWN or on_path(prefix):
                pruned[prefix] = p.score
        order = {n.prefix: i for i, n in enumerate(columns[-1])}
        nodes = [(prefix, score[prefix], "kept", n) for prefix, n in kept.items()]
        nodes += [(prefix, sc, "pruned", 1) for prefix, sc in pruned.items()]
        nodes.sort(key=lambda t: (order.get(t[0][:-1], 1 << 30), t[2] != "kept", -t[1]))
        columns.append([
            TreeNode(rec.level + 1, prefix, sc, kind, kind == "kept" and rec.forced is not None, on_path(prefix),
                     f"{prefix[-1]}  {sc:.2f}" + (f" ×{n}" if n > 1 else ""))
            for prefix, sc, kind, n in nodes])
    return columns


def tree_rows(columns: list[list[TreeNode]]) -> dict[tuple[int, ...], float]:
    """The row (y in node heights) of every node of :func:`tree_columns` for a left-to-right tree
    whose edges never cross: nodes without drawn children get the next free row in depth-first
    order (each parent's children in their column order: kept by score, then pruned), and a node
    with children sits on its first (best) child's row. So every node's children are beside it in
    one contiguous block, and the best path is one straight row at the top."""
    children: dict[tuple[int, ...], list[TreeNode]] = {}
    for column in columns[1:]:
        for node in column:
            children.setdefault(node.prefix[:-1], []).append(node)
    rows: dict[tuple[int, ...], float] = {}
    free = 0

    def place(node: TreeNode) -> None:
        nonlocal free
        kids = children.get(node.prefix, []) if node.kind != "pruned" else []
        if not kids:
            rows[node.prefix] = float(free)
            free += 1
            return
        for kid in kids:
            place(kid)
        rows[node.prefix] = rows[kids[0].prefix]

    if columns and columns[0]:
        place(columns[0][0])
    for column in columns:  # anything not under the root (none in a decode; kept for safety)
        for node in column:
            if node.prefix not in rows:
                rows[node.prefix] = float(free)
                free += 1
    return rows


@dataclass(frozen=True)
class PrefixMeaning:
    """What a SID prefix stands for in the catalogue: the live items under it, their most common
    leaf category and brand (with their shares), and the most popular item's title. ``count`` 0:
    no item has this prefix (unconstrained decoding left the trie)."""

    count: int
    category: str = ""
    category_share: float = 0.0
    brand: str = ""
    brand_share: float = 0.0
    example: str = ""

    def label(self) -> str:
        """A few characters for the node: the dominant category, or "no item"."""
        return self.category or ("no item" if self.count == 0 else "")

    def tooltip(self) -> str:
        if self.count == 0:
            return "no item has this prefix: the decode left the trie here (unconstrained)"
        lines = [f"{self.count:,} item{'s' if self.count != 1 else ''} under this prefix"]
        if self.category:
            lines.append(f"mostly {self.category} ({self.category_share:.0%})")
        if self.brand:
            lines.append(f"top brand {self.brand} ({self.brand_share:.0%})")
        if self.example:
            lines.append(f"most popular: {self.example}")
        return "\n".join(lines)


def prefix_meaning(project, popularity, prefix: tuple[int, ...], facets: CatalogueFacets | None = None) -> PrefixMeaning:
    """:class:`PrefixMeaning` of ``prefix`` from the project's trie (live items only) and
    catalogue; ``popularity`` ``[N]``: interactions per item (for the example title);
    ``facets``: the catalogue's :class:`CatalogueFacets` (made here when None: slow, per call)."""
    import numpy as np

    trie = project.trie
    node = trie.lookup(prefix) if len(prefix) <= trie.depth else -1
    if node < 0:
        return PrefixMeaning(0)
    items = trie.items_under(len(prefix), node)
    if not len(items):
        return PrefixMeaning(0)
    if facets is None:
        facets = CatalogueFacets.of(project.dataset.catalogue)

    def top(codes: "np.ndarray", names: tuple[str, ...]) -> tuple[str, float]:
        picked = codes[items]
        picked = picked[picked >= 0]
        if not len(picked):
            return "", 0.0
        counts = np.bincount(picked, minlength=len(names))
        best = int(np.argmax(counts))  # ties: the first name in catalogue order
        return names[best], float(counts[best]) / len(items)

    cat, cat_share = top(facets.category, facets.category_names)
    brand, brand_share = top(facets.brand, facets.brand_names)
    best = int(items[int(np.argmax(np.asarray(popularity)[items]))]) if popularity is not None else int(items[0])
    return PrefixMeaning(len(items), cat, cat_share, brand, brand_share, project.dataset.catalogue.title(best))


def candidate_rows(record: StepRecord | None, sampling: bool = False) -> list[tuple]:
    """``(beam, prefix, beam score, token, p before, p after, score if kept, outcome)`` per candidate
    of ``record``; outcome: kept / pruned / masked / forced, or drawn / not drawn when ``sampling``."""
    rows: list[tuple] = []
    if record is None:
        return rows
    kept = {(c.parent, c.token) for c in record.chosen}
    for bc in record.candidates:
        for c in bc.candidates:
            if c.masked:
                outcome = "masked"
            elif (bc.beam, c.token) in kept:
                outcome = "forced" if record.forced is not None else ("drawn" if sampling else "kept")
            else:
                outcome = "not drawn" if sampling else "pruned"
            rows.append((bc.beam, tuple(bc.prefix), bc.score, c.token, c.prob_before, c.prob_after, c.score, outcome))
    return rows


def result_rows(result: StepperResult | None, title: Callable[[int], str], target: int | None) -> list[tuple]:
    """``(rank, item, title, sid, score, is_target)`` per listed SID (item -1: names no item)."""
    if result is None:
        return []
    return [(rank, item, title(item) if item >= 0 else "(no item has this SID)", tuple(sid), score,
             target is not None and item == target)
            for rank, (item, sid, score) in enumerate(zip(result.items, result.sids, result.scores), 1)]
