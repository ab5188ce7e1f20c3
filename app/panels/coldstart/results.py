"""What the cold-start lab works with: its constants, the frozen results of its engine jobs
(:mod:`.jobs`), and what a level chart draws (:func:`level_bars`). No Qt here.

Shapes: ``N`` catalogue items, ``U`` test users, ``d`` content dimensions, ``K`` codes per SID
level, ``C`` held-out (cold) items, ``B`` bars per chart.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import numpy as np

from genrec_engine import ColdStartSession, hybrid_recommend

from ... import RESOURCES

__all__ = [
    "SOURCE", "EXAMPLE_ITEM", "COLD_PROJECT", "TOP_K", "HYBRID_DEPTH", "BEAM", "N_SUGGESTED_USERS", "N_ANCHORS",
    "PROFILE_ITEMS", "SHOWN_CODES", "MAX_NEIGHBOUR_ROWS", "DEFAULT_WEIGHT", "GENERATIVE_KINDS",
    "ITEM_COLOUR", "LIVE_COLOUR", "DEAD_COLOUR", "INJECTED_COLOUR",
    "TestUsers", "LabSetup", "LabText", "CurrentItem", "LevelProbs", "TopEntry", "Analysis", "AnalysisRequest",
    "LevelBars", "level_bars",
]

#: This panel's name as a selection source (it never selects; it reads the selection as a history).
SOURCE = "coldstart"
#: What the typed-item fields hold on first show: a product Beauty lacks, so there is something to inject.
EXAMPLE_ITEM = ("Hydrating rose water facial toner", "Rosewell", "Beauty > Skin Care > Face > Toners")
#: The bundled project that holds items out (pointed to when the open project holds none).
COLD_PROJECT = RESOURCES / "models" / "beauty-coldstart"

TOP_K = 10  # length of the recommendation lists shown
#: Length of the hybrid list an item's hybrid rank is read from: every candidate the re-ranker sees
#: (the beam's 30 and up to 10 cold ones, the engine's defaults). A list of k is the first k of a
#: longer one, so a rank <= TOP_K is the rank in the top-10 list.
HYBRID_DEPTH = 40
BEAM = 20  # beam width of the generative top-k list
N_SUGGESTED_USERS = 25
N_ANCHORS = 5  # content nearest neighbours that place a typed item on the map
PROFILE_ITEMS = 3  # history items averaged into a user's content profile (as the hybrid re-ranker does)
SHOWN_CODES = 8  # bars per level chart: the most likely codes, then the item's own when it is not among them
MAX_NEIGHBOUR_ROWS = 1000
#: The hybrid mixing weight the engine uses by default (read from it, so the slider starts there).
DEFAULT_WEIGHT = float(inspect.signature(hybrid_recommend).parameters["weight"].default)
GENERATIVE_KINDS = ("ran", "tiger")  # the generators whose paths the lab scores (SASRec is the dense model)

ITEM_COLOUR = "#e0691a"  # orange: the item's own code / row
LIVE_COLOUR = "#1f6fb4"  # blue: codes that lead to a live item
DEAD_COLOUR = "#c9c9c9"  # grey: codes the trie cannot reach under this prefix
INJECTED_COLOUR = "#007a3d"  # green: a live injected item



# ------------------------------------------------------------------------------------ job results


@dataclass(frozen=True)
class TestUsers:
    """The project's test users (leave-one-out split), for the user picker: all of them, or a
    seeded sample of :data:`~app.panels.coldstart.jobs.LAB_USERS` on larger catalogues."""

    __test__ = False  # not a pytest test class

    user_ids: np.ndarray  # [U] int64 catalogue user ids
    histories: list  # U int64 arrays of item indices, oldest first (each test history)
    targets: np.ndarray  # [U] int64: the item index each user took next (the test target)
    profiles: np.ndarray  # [U, d] float32: mean content embedding of the last PROFILE_ITEMS warm history items


@dataclass(frozen=True)
class LabSetup:
    """What the lab needs for one project, loaded on a worker (:func:`.jobs.load_lab`)."""

    session: ColdStartSession  # the lab's session (then changed on the GUI thread only)
    generators: dict  # "ran" / "tiger" -> generator; missing or unreadable ones are absent
    generator_errors: dict  # kind -> why it could not be loaded
    dense: object | None  # SASRec, the dense model of hybrid re-ranking (None: not in the project)
    dense_error: str | None
    users: TestUsers
    cold_next: np.ndarray  # [C] int64: test users whose next item is each cold item (C = project.cold_indices)


@dataclass(frozen=True)
class LabText:
    """A typed item's content embedding and the catalogue items nearest to it."""

    embedding: np.ndarray  # [d] float32, float16-rounded (as the project's items)
    anchors: tuple[int, ...]  # the N_ANCHORS nearest catalogue items by content cosine
    seconds: float  # wall time of the job


@dataclass(frozen=True)
class CurrentItem:
    """The item the lab shows: a typed one or a held-out catalogue item."""

    kind: str  # "typed" | "cold"
    index: int | None  # catalogue index (cold); the session index once injected (typed); None: typed, not injected
    title: str
    brand: str
    categories: str
    embedding: np.ndarray  # [d] float32
    sid: tuple[int, ...]
    anchors: tuple[int, ...] = ()  # content nearest catalogue items (typed items; for the map)


@dataclass(frozen=True)
class LevelProbs:
    """One SID level of the item's path for one history."""

    level: int
    code: int  # the item's code at this level
    probs: np.ndarray  # [K] float32: the generator's softmax over the level's codes, given the item's prefix
    reachable: np.ndarray  # [K] bool: codes leading to a live item under that prefix (session trie, before any what-if)
    prob: float  # p(code | history, prefix) as the engine's path_probability reports it
    code_rank: int  # 1 = the most likely code of the level


@dataclass(frozen=True)
class TopEntry:
    """One row of a top-k list (generative or hybrid)."""

    rank: int  # 1-based
    index: int  # item index (>= N: a typed item)
    title: str
    sid: tuple[int, ...]
    special: bool  # a cold or injected item (drawn in italics)


@dataclass(frozen=True)
class Analysis:
    """What the rank job found for one item, history and generator."""

    item: int  # the index ranked (a typed item not injected gets a what-if index >= N)
    sid: tuple[int, ...]
    what_if: bool  # the item was not live: the job injected it into its own copy of the session first
    retired: bool  # the item is retired in the session (never generated; ranked as if it were live)
    generator: str
    levels: tuple  # (LevelProbs, ...) per SID level
    logp: float  # full SID log-likelihood (natural log)
    rank: int  # exact rank among the live items by full SID likelihood (1 = best)
    live_items: int
    hybrid_rank: int | None  # 1-based position in the hybrid list of HYBRID_DEPTH, None: not in it (or no SASRec)
    hybrid: tuple | None  # (TopEntry, ...): the hybrid top TOP_K, None without a dense model
    generative: tuple  # (TopEntry, ...): the beam-search top TOP_K on the session's trie
    weight: float
    history_len: int  # warm history items the generator read
    seconds: dict = field(default_factory=dict)  # wall time per step ("rank", "hybrid", "top", "total")


@dataclass(frozen=True)
class AnalysisRequest:
    """The arguments of one rank job (:func:`.jobs.analyse_item`), taken from the state."""

    generator: object
    kind: str
    dense: object | None
    item: CurrentItem
    history: tuple[int, ...]
    weight: float


# ------------------------------------------------------------------------------------ level charts


@dataclass(frozen=True)
class LevelBars:
    """What one level chart draws (:func:`level_bars`): bars left to right."""

    codes: tuple[int, ...]  # the code of each bar
    x: np.ndarray  # [B] float: bar positions (a gap before the item's own bar when codes are left out)
    heights: np.ndarray  # [B] float: the probability of each code
    colours: tuple[str, ...]  # per bar: ITEM_COLOUR, LIVE_COLOUR or DEAD_COLOUR
    mine: int  # which bar is the item's code
    label: str  # the item's probability, drawn over its bar
    label_right: bool  # the label is right-aligned to its bar (the last of several), so it stays inside
    title: str  # rich text
    tooltip: str


def level_bars(lp: LevelProbs, depth: int) -> LevelBars:
    """The bars of level ``lp.level`` (of ``depth`` levels): the SHOWN_CODES most likely codes,
    most likely first, with the item's own code last when it is not among them."""
    probs = lp.probs.astype(float)
    order = [int(c) for c in np.argsort(-probs, kind="stable")[:SHOWN_CODES]]
    if lp.code not in order:
        order = order[:SHOWN_CODES - 1] + [lp.code]
    x = np.arange(len(order), dtype=float)
    if len(order) > 1 and order[-1] == lp.code and lp.code_rank > SHOWN_CODES - 1:
        x[-1] += 0.6  # a gap says: codes in between are left out
    colours = tuple(ITEM_COLOUR if c == lp.code else (LIVE_COLOUR if lp.reachable[c] else DEAD_COLOUR) for c in order)
    mine = order.index(lp.code)
    name = "Collision" if lp.level == depth - 1 else f"Level {lp.level + 1}"
    reach = "" if lp.reachable[lp.code] else " ✗"
    title = (f"<span style='font-size:8.5pt'>{name}: code {lp.code}{reach} · #{lp.code_rank} of "
             f"{len(probs)}</span>")
    tooltip = (f"{name}: p(code {lp.code} | history, prefix) = {lp.prob:.4g}; the {lp.code_rank}. most likely "
               f"of {len(probs)} codes." + ("" if lp.reachable[lp.code] else
                                            " ✗: no live item has this code under this prefix yet."))
    return LevelBars(tuple(order), x, probs[order], colours, mine, f"{lp.prob:.2g}",
                     mine == len(order) - 1 and len(order) > 2, title, tooltip)
