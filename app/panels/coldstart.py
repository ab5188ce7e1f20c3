"""Cold-start lab panel: give a new item a semantic ID, see where it lands, and whether a user gets it.

1. **The item**: type one (title, brand, categories) or pick one of the project's held-out cold
   items (a cold-start project, e.g. ``resources/models/beauty-coldstart``, holds some out).
2. **Encode**: a typed item's text is embedded with MiniLM (on a worker; the model loads on first
   use, a few seconds) and tokenized with the project's frozen tokenizer; the panel shows its SID
   and the live items under its longest shared SID prefix.
3. **A user**: a test user of the project (suggested: users whose next item it was, then users whose
   recent items are closest to it in content) or a history made of the shared selection. For that
   history the panel shows, level by level, the generator's probability of the item's code among
   the level's codes (one bar chart per level), the item's exact rank among all live items by full
   SID likelihood (generative-only), and its rank after hybrid re-ranking with SASRec as the dense
   model (the mixing weight is an expert slider).
4. **Inject / Retire** edit the panel's own :class:`~genrec_engine.ColdStartSession` (one per
   project: a private copy of the trie). Each edit is announced through
   :attr:`~app.panels.ProjectViewModel.sig_items_changed`, so the SID tree shows the item under
   its prefix and the map marks it (a typed item at the mean position of its content nearest
   neighbours). The project's own trie is never changed.

Before an item is injected, its ranks are computed **as if injected**: the rank job injects it into
its own copy of the session first (the generator cannot return an item that is not in the trie).

Concurrency: the session is only changed on the GUI thread (inject takes ~1 ms, retire ~0.1 ms,
measured on the bundled project); every job gets its own copy of the session (a trie copy takes
~0.1 ms for 12k items), so no worker ever reads a trie that is being changed.
"""
from __future__ import annotations

import copy
import html
import inspect
import time
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSlider,
    QSplitter,
    QStackedWidget,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from genrec_engine import (
    CancelToken,
    ColdStartSession,
    GenrecError,
    ProgressFn,
    TextEncoder,
    hybrid_recommend,
    leave_one_out,
    load_project_generator,
)

from .. import RESOURCES
from . import ItemsChange, LabItem, ProjectSnapshot, ProjectViewModel
from ..widgets import ERROR_COLOUR as _ERROR_COLOUR, GENERATOR_LABELS, centred_column as _centred_column, heading as _heading

__all__ = [
    "SOURCE",
    "EXAMPLE_ITEM",
    "COLD_PROJECT",
    "ColdStartPanel",
    "TestUsers",
    "LabSetup",
    "LabText",
    "CurrentItem",
    "LevelProbs",
    "Analysis",
    "load_lab",
    "new_session",
    "embed_item",
    "suggest_users",
    "analyse_item",
    "snapshot_session",
    "ItemRowsModel",
    "ColdItemsModel",
    "TopListModel",
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

_ITEM_COLOUR = "#e0691a"  # orange: the item's own code / row
_LIVE_COLOUR = "#1f6fb4"  # blue: codes that lead to a live item
_DEAD_COLOUR = "#c9c9c9"  # grey: codes the trie cannot reach under this prefix
_ENCODER_LOADED = False  # MiniLM is loaded once per process (engine-side); set after the first encode


# ------------------------------------------------------------------------------------ engine jobs


@dataclass(frozen=True)
class TestUsers:
    """The project's test users (leave-one-out split), for the user picker."""

    user_ids: np.ndarray  # [U] int64 catalogue user ids
    histories: list  # U int64 arrays of item indices, oldest first (each test history)
    targets: np.ndarray  # [U] int64: the item index each user took next (the test target)
    profiles: np.ndarray  # [U, d] float32: mean content embedding of the last PROFILE_ITEMS warm history items


@dataclass(frozen=True)
class LabSetup:
    """What the panel needs for one project, loaded on a worker (:func:`load_lab`)."""

    session: ColdStartSession  # the panel's session (then changed on the GUI thread only)
    generators: dict  # "ran" / "tiger" -> generator; missing or unreadable ones are absent
    generator_errors: dict  # kind -> why it could not be loaded
    dense: object | None  # SASRec, the dense model of hybrid re-ranking (None: not in the project)
    dense_error: str | None
    users: TestUsers
    cold_next: np.ndarray  # [C] int64: test users whose next item is each cold item (C = project.cold_indices)


def new_session(project, *, progress: ProgressFn | None = None, cancel: CancelToken | None = None) -> ColdStartSession:
    """A fresh :class:`ColdStartSession` (a private copy of the project's trie)."""
    return ColdStartSession(project)


def _test_users(project, cancel: CancelToken | None) -> TestUsers:
    split = leave_one_out(project.dataset)
    E = np.asarray(project.embeddings, dtype=np.float32)
    cold = set(project.cold_indices.tolist())
    profiles = np.zeros((len(split.test_history), E.shape[1]), dtype=np.float32)
    for u, h in enumerate(split.test_history):
        if cancel is not None and u % 4096 == 0:
            cancel.raise_if_cancelled()
        warm = [int(i) for i in h[::-1] if int(i) not in cold][:PROFILE_ITEMS] if cold else h[-PROFILE_ITEMS:]
        if len(warm):
            profiles[u] = E[np.asarray(warm, dtype=np.int64)].mean(0)
    return TestUsers(np.asarray(split.user_ids), list(split.test_history),
                     np.asarray(split.test_target, dtype=np.int64), profiles)


def load_lab(project, *, progress: ProgressFn | None = None, cancel: CancelToken | None = None) -> LabSetup:
    """Load the generators (RAN, TIGER-style if present), SASRec, the test users, and start a
    session (a bridge job, ~0.2 s on the bundled project)."""
    generators, errors = {}, {}
    for n, kind in enumerate(("ran", "tiger", "sasrec")):
        if progress is not None:
            progress(n / 4, f"loading the {kind} generator")
        try:
            model = load_project_generator(project, kind)
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


@dataclass(frozen=True)
class LabText:
    """A typed item's content embedding and the catalogue items nearest to it."""

    embedding: np.ndarray  # [d] float32, float16-rounded (as the project's items)
    anchors: tuple[int, ...]  # the N_ANCHORS nearest catalogue items by content cosine
    seconds: float  # wall time of the job


def embed_item(session: ColdStartSession, encoder, title: str, brand: str, categories: str, *,
               progress: ProgressFn | None = None, cancel: CancelToken | None = None) -> LabText:
    """Embed a typed item like the project's items (MiniLM over "Title. Brand: ... Category: ...";
    the first call in a process loads MiniLM, a few seconds), and find its content neighbours."""
    t0 = time.perf_counter()
    if progress is not None:
        progress(0.05, "embedding the text with MiniLM" if _ENCODER_LOADED
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
class Analysis:
    """What the rank job found for one item, history and generator."""

    item: int  # the index ranked (a typed item not injected gets a what-if index >= N)
    sid: tuple[int, ...]
    what_if: bool  # the item was not live: the job injected it into its own copy of the session first
    retired: bool  # the item is retired in the session (never generated; ranked as if it were live)
    generator: str
    levels: list  # [LevelProbs] per SID level
    logp: float  # full SID log-likelihood (natural log)
    rank: int  # exact rank among the live items by full SID likelihood (1 = best)
    live_items: int
    hybrid_rank: int | None  # 1-based position in the hybrid list of HYBRID_DEPTH, None: not in it (or no SASRec)
    hybrid: list | None  # hybrid_recommend's top TOP_K, None without a dense model
    generative: list  # the session's beam-search top-k (ColdStartSession.recommend)
    weight: float
    history_len: int  # warm history items the generator read
    seconds: dict = field(default_factory=dict)  # wall time per step ("rank", "hybrid", "top")


def _warm(history, session: ColdStartSession) -> list[int]:
    """The history items a generator has trained inputs for (no cold or typed items)."""
    h = np.asarray(list(history), dtype=np.int64).reshape(-1)
    h = h[(h >= 0) & (h < session.n_items)]
    cold = session.cold_indices
    return (h[~np.isin(h, cold)] if len(cold) else h).tolist()


@torch.no_grad()
def _level_distributions(model, history: list[int], sid: tuple[int, ...]) -> list[np.ndarray]:
    """``[K_l]`` softmax over each level's codes given the SID's prefix (teacher forced).

    The history goes in as the generators read it (item index + 1, left-aligned to the most
    recent ``max_len`` items, 0 = padding), the same input the engine's path_probability builds;
    the probabilities of the SID's own codes are checked against it by the tests."""
    dev = next(model.parameters()).device
    h = history[-int(model.config.max_len):]
    H = torch.zeros(1, max(1, len(h)), dtype=torch.long, device=dev)
    if h:
        H[0, -len(h):] = torch.as_tensor(h, dtype=torch.long, device=dev) + 1
    state = model.start(H)
    prefix = torch.as_tensor([sid], dtype=torch.long, device=dev)
    return [torch.softmax(model.next_logits(state, prefix[:, :level]).float(), -1)[0].cpu().numpy()
            for level in range(len(sid))]


def _reachable(trie, sid: tuple[int, ...]) -> list[np.ndarray]:
    out = []
    for level, size in enumerate(trie.level_sizes):
        node = trie.lookup(sid[:level])
        if node < 0:
            out.append(np.zeros(size, dtype=bool))
        else:
            out.append(trie.allowed(level, torch.as_tensor([node], dtype=torch.long, device=trie.device))[0].cpu().numpy())
    return out


def analyse_item(session: ColdStartSession, generator, kind: str, dense, item: CurrentItem, history,
                 weight: float = DEFAULT_WEIGHT, *, progress: ProgressFn | None = None,
                 cancel: CancelToken | None = None) -> Analysis:
    """Path probabilities, exact generative rank, hybrid rank and both top-k lists of ``item`` for
    ``history`` (item indices, oldest first). ``session`` must be the job's own copy
    (:func:`snapshot_session`): an item that is not live is injected into it first (what-if)."""
    t0 = time.perf_counter()
    s = session
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
    hist = _warm(history, s)
    pp = s.path_probability(generator, hist, sid)
    dists = _level_distributions(generator, hist, sid)
    t1 = time.perf_counter()
    if cancel is not None:
        cancel.raise_if_cancelled()
    levels = []
    for lv, (probs, ok) in enumerate(zip(dists, reachable)):
        code = sid[lv]
        levels.append(LevelProbs(lv, code, probs.astype(np.float32), ok, float(pp["levels"][lv]["prob"]),
                                 int((probs > probs[code]).sum()) + 1))
    hybrid = hybrid_rank = None
    t2 = t1
    if dense is not None:
        if progress is not None:
            progress(0.7, "hybrid re-ranking with SASRec")
        hybrid = hybrid_recommend(s, generator, dense, hist, k=HYBRID_DEPTH, weight=float(weight))
        hybrid_rank = next((r["rank"] for r in hybrid if r["index"] == index), None)
        hybrid = hybrid[:TOP_K]
        t2 = time.perf_counter()
    generative = s.recommend(generator, hist, k=TOP_K, beam=BEAM)
    t3 = time.perf_counter()
    return Analysis(index, sid, what_if, retired, kind, levels, float(pp["logp"]), int(pp["rank"]),
                    int(pp["live_items"]), hybrid_rank, hybrid, generative, float(weight), len(hist),
                    {"rank": t1 - t0, "hybrid": t2 - t1, "top": t3 - t2, "total": t3 - t0})


# ------------------------------------------------------------------------------------ item models


def _leaf_category(categories: str) -> str:
    """``"Beauty > Skin Care > Face|Other"`` -> ``"Face"`` (last level of the first path)."""
    return str(categories).split("|", 1)[0].rsplit(">", 1)[-1].strip()


def _sid_text(sid) -> str:
    return "-".join(str(int(c)) for c in sid)


class ItemRowsModel(QAbstractTableModel):
    """A list of items (catalogue or typed-in), one row each, with the given columns.

    Rows are ``(item index, cell, cell, ...)`` tuples built once per :meth:`set_rows`, so painting
    never touches the catalogue; int cells show with thousands separators, right-aligned.
    ``Qt.UserRole`` of any cell gives the row's item index.
    """

    ITEM_COLUMNS = (("Title", "The item's title."), ("Brand", "The item's brand."),
                    ("Category", "The most specific category of the item's first category path."),
                    ("SID", "The item's semantic ID (codes per level, collision token last)."),
                    ("Popularity", "Interactions with the item in the whole dataset (typed-in items: 0)."))

    def __init__(self, parent=None, columns: tuple[tuple[str, str], ...] = ITEM_COLUMNS):
        super().__init__(parent)
        self.columns = columns
        self._rows: list[tuple] = []

    def set_rows(self, rows: list[tuple]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def items(self) -> list[int]:
        return [int(r[0]) for r in self._rows]

    def item_at(self, row: int) -> int:
        return int(self._rows[row][0])

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.columns)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not (0 <= index.row() < len(self._rows)):
            return None
        if not (0 <= index.column() < len(self.columns)):
            return None
        row = self._rows[index.row()]
        value = row[index.column() + 1]
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{value:,}" if isinstance(value, int) else str(value)
        if role == Qt.ItemDataRole.ToolTipRole:
            return str(value)
        if role == Qt.ItemDataRole.UserRole:
            return int(row[0])
        if role == Qt.ItemDataRole.TextAlignmentRole and isinstance(value, int):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(self.columns):
            if role == Qt.ItemDataRole.DisplayRole:
                return self.columns[section][0]
            if role == Qt.ItemDataRole.ToolTipRole:
                return self.columns[section][1]
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable


_SESSION_COLUMNS = (("Item", "An item this session injected or retired."),
                    ("State", "Injected: in the session's trie, decodable. Retired: taken out, never generated."),
                    ("SID", "The item's semantic ID."))


class ColdItemsModel(QAbstractTableModel):
    """The project's held-out cold items: title, brand, SID, how many test users took it next, and
    its state in the session (held out / injected / retired). ``Qt.UserRole``: the item index;
    ``Qt.UserRole + 1``: the raw cell value (for sorting)."""

    COLUMNS = (("Title", "The held-out item's title."), ("Brand", "The item's brand."),
               ("SID", "Its SID from the frozen tokenizer (the project's trie does not hold it)."),
               ("Next for", "Test users whose next item it is: pick one to see the rank the item gets for them."),
               ("State", "Held out: not in the session's trie. Injected: decodable. Retired: taken out again."))

    def __init__(self, parent=None):
        super().__init__(parent)
        self._rows: list[list] = []  # [index, title, brand, sid_text, next_for, state]
        self._row_of: dict[int, int] = {}

    def set_items(self, indices, titles, brands, sids, next_for) -> None:
        self.beginResetModel()
        self._rows = [[int(i), str(t), str(b), _sid_text(s), int(n), "held out"]
                      for i, t, b, s, n in zip(indices, titles, brands, sids, next_for)]
        self._row_of = {r[0]: k for k, r in enumerate(self._rows)}
        self.endResetModel()

    def set_state(self, item: int, state: str) -> None:
        row = self._row_of.get(int(item))
        if row is not None and self._rows[row][5] != state:
            self._rows[row][5] = state
            self.dataChanged.emit(self.index(row, 4), self.index(row, 4))

    def state(self, item: int) -> str | None:
        row = self._row_of.get(int(item))
        return None if row is None else self._rows[row][5]

    def row_of(self, item: int) -> int:
        return self._row_of.get(int(item), -1)

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.COLUMNS)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not (0 <= index.row() < len(self._rows)) or not (0 <= index.column() < 5):
            return None
        row, col = self._rows[index.row()], index.column()
        value = row[col + 1]
        if role == Qt.ItemDataRole.DisplayRole:
            return str(value)
        if role == Qt.ItemDataRole.ToolTipRole:
            return str(value) if col < 3 else self.COLUMNS[col][1]
        if role == Qt.ItemDataRole.UserRole:
            return row[0]
        if role == Qt.ItemDataRole.UserRole + 1:
            return value
        if role == Qt.ItemDataRole.TextAlignmentRole and col == 3:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and col == 4 and value == "injected":
            return QColor("#007a3d")
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(self.COLUMNS):
            if role == Qt.ItemDataRole.DisplayRole:
                return self.COLUMNS[section][0]
            if role == Qt.ItemDataRole.ToolTipRole:
                return self.COLUMNS[section][1]
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable


class TopListModel(QAbstractTableModel):
    """Rank 1..k of the generative (beam search on the session trie) and the hybrid list side by
    side; the lab's item is drawn bold orange, other cold or injected items italic.
    ``Qt.UserRole``: the item index in that cell (None for an empty cell)."""

    COLUMNS = (("Generative (beam search)", "The generator's top items by SID likelihood, decoded on the session's "
                                            "trie: injected items can appear, retired ones never."),
               ("Hybrid (+ SASRec)", "The same candidates plus cold and injected items scored by SASRec and content "
                                     "similarity, mixed with the hybrid weight (at most 3 cold items enter)."))

    def __init__(self, parent=None):
        super().__init__(parent)
        self._cols: list[list[dict]] = [[], []]
        self._item: int | None = None

    def set_lists(self, generative: list, hybrid: list | None, item: int | None) -> None:
        self.beginResetModel()
        self._cols = [list(generative), list(hybrid or [])]
        self._item = item
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else max(len(self._cols[0]), len(self._cols[1]))

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else 2

    def _entry(self, index: QModelIndex | QPersistentModelIndex) -> dict | None:
        if not index.isValid() or not (0 <= index.column() < 2):
            return None
        col = self._cols[index.column()]
        return col[index.row()] if 0 <= index.row() < len(col) else None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        e = self._entry(index)
        if e is None:
            return None
        mine = e["index"] == self._item
        special = e.get("cold") or e.get("injected")
        if role == Qt.ItemDataRole.DisplayRole:
            tag = " ★" if mine else (" (cold)" if special else "")
            return f"{e['title'] or 'item ' + str(e['index'])}{tag}"
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{e['title']}\nSID {_sid_text(e['sid'])}" + ("\nthe lab's item" if mine else "")
        if role == Qt.ItemDataRole.UserRole:
            return int(e["index"])
        if role == Qt.ItemDataRole.ForegroundRole and mine:
            return QColor(_ITEM_COLOUR)
        if role == Qt.ItemDataRole.FontRole and (mine or special):
            font = QFont()
            font.setBold(mine)
            font.setItalic(bool(special) and not mine)
            return font
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and 0 <= section < 2:
            if role == Qt.ItemDataRole.DisplayRole:
                return self.COLUMNS[section][0]
            if role == Qt.ItemDataRole.ToolTipRole:
                return self.COLUMNS[section][1]
        if orientation == Qt.Orientation.Vertical and role == Qt.ItemDataRole.DisplayRole and section >= 0:
            return str(section + 1)
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable


# ------------------------------------------------------------------------------------------ plots


class LevelProbPlot(pg.PlotWidget):
    """One SID level: the generator's probability of each code given the item's prefix, for the
    SHOWN_CODES most likely codes plus the item's own (orange); grey bars are codes under which
    the trie holds no live item. Plot items are made once and updated with ``setOpts``."""

    def __init__(self, level: int, depth: int, parent=None):
        super().__init__(parent, background="w")
        self.level, self.depth = level, depth
        self.setMenuEnabled(False)
        self.hideButtons()
        self.setMouseEnabled(x=False, y=False)
        self.setMinimumSize(120, 120)
        tick_font = QFont()
        tick_font.setPointSizeF(7.5)
        for axis in ("left", "bottom"):
            self.getAxis(axis).setPen(pg.mkPen("#606060"))
            self.getAxis(axis).setTextPen(pg.mkPen("#303030"))
            self.getAxis(axis).setStyle(tickFont=tick_font)
        self.getAxis("left").setWidth(34)
        self.getAxis("bottom").setHeight(20)
        self.bars = pg.BarGraphItem(x=np.zeros(0), height=np.zeros(0), width=0.8)
        self.label = pg.TextItem("", anchor=(0.5, 1.0), color=_ITEM_COLOUR)
        self.addItem(self.bars)
        self.addItem(self.label, ignoreBounds=True)
        self.codes: list[int] = []  # the code of each bar, left to right

    def show_level(self, lp: LevelProbs) -> None:
        probs = lp.probs.astype(float)
        order = [int(c) for c in np.argsort(-probs, kind="stable")[:SHOWN_CODES]]
        if lp.code not in order:
            order = order[:SHOWN_CODES - 1] + [lp.code]
        self.codes = order
        x = np.arange(len(order), dtype=float)
        if len(order) > 1 and order[-1] == lp.code and lp.code_rank > SHOWN_CODES - 1:
            x[-1] += 0.6  # a gap says: codes in between are left out
        colours = [_ITEM_COLOUR if c == lp.code else (_LIVE_COLOUR if lp.reachable[c] else _DEAD_COLOUR) for c in order]
        self.bars.setOpts(x=x, height=probs[order], width=0.8, brushes=[pg.mkBrush(c) for c in colours],
                          pens=[pg.mkPen(None)] * len(order))
        self.getAxis("bottom").setTicks([[(float(xi), str(c)) for xi, c in zip(x, order)]])
        top = float(max(probs[order].max(), 1e-6))
        self.setYRange(0, top * 1.25, padding=0)
        self.setXRange(-0.6, float(x[-1]) + 0.6, padding=0)
        mine = order.index(lp.code)
        self.label.setText(f"{lp.prob:.2g}")
        self.label.setAnchor((1.0, 1.0) if mine == len(order) - 1 and len(order) > 2 else (0.5, 1.0))  # stay inside
        self.label.setPos(float(x[mine]) + (0.4 if mine == len(order) - 1 and len(order) > 2 else 0.0),
                          float(probs[lp.code]) + 0.02 * top)
        name = "Collision" if lp.level == self.depth - 1 else f"Level {lp.level + 1}"
        reach = "" if lp.reachable[lp.code] else " ✗"
        self.setTitle(f"<span style='font-size:8.5pt'>{name}: code {lp.code}{reach} · #{lp.code_rank} of "
                      f"{len(probs)}</span>", color="#202020")
        self.setToolTip(f"{name}: p(code {lp.code} | history, prefix) = {lp.prob:.4g}; the {lp.code_rank}. most likely "
                        f"of {len(probs)} codes." + ("" if lp.reachable[lp.code] else
                                                     " ✗: no live item has this code under this prefix yet."))

    def clear_level(self) -> None:
        self.codes = []
        self.bars.setOpts(x=np.zeros(0), height=np.zeros(0), brushes=None, pens=None, brush=None, pen=None)  # empty pens lists crash pyqtgraph
        self.label.setText("")
        self.setTitle("")

    def bar_heights(self) -> np.ndarray:
        return np.asarray(self.bars.opts["height"], dtype=float)


# ----------------------------------------------------------------------------------------- panel


def _wrapped(text: str = "", rich: bool = True) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText if rich else Qt.TextFormat.PlainText)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # long text never widens
    return label


def _table(model, *, stretch: int = 0, widths: dict[int, int] | None = None) -> QTableView:
    """A read-only, row-selecting table over ``model``: column ``stretch`` takes the spare width,
    columns in ``widths`` start at that many pixels, the rest fit their contents."""
    view = QTableView()
    view.setModel(model)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setWordWrap(False)
    view.setAlternatingRowColors(True)
    view.verticalHeader().setDefaultSectionSize(22)
    hh = view.horizontalHeader()
    hh.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    for col, width in (widths or {}).items():
        hh.setSectionResizeMode(col, QHeaderView.ResizeMode.Interactive)
        hh.resizeSection(col, width)
    hh.setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)
    return view


def _expert(widget: QWidget) -> QWidget:
    widget.setProperty("expert", True)
    return widget


_HEADER = (
    "<b>Cold-start lab.</b> A generative recommender can only produce items that are in its SID trie. Give a "
    "new item a semantic ID with the frozen tokenizer, see which items share its prefix, how likely a user's "
    "generator is to walk its path, and where it ranks, generatively and after hybrid re-ranking; then "
    "<b>Inject</b> it (the tree and the map show it) or <b>Retire</b> it (never generated again)."
)
_EMPTY_TEXT = "<p>Open a project with <b>File › Open project…</b> to try new items in its catalogue.</p>"


class ColdStartPanel(QWidget):
    """Type or pick a new item, see its SID, neighbours, path probabilities and ranks; inject or
    retire it in the panel's own :class:`~genrec_engine.ColdStartSession`.

    Built as ``ColdStartPanel(view_model, selection, bridge)``. Reads the linked selection as an
    optional user history and never changes it; announces session edits through
    ``view_model.announce_items_changed``.
    """

    sig_ready = Signal()
    """Emitted when an item's analysis (SID, neighbours, path probabilities, ranks) is first drawn for a project."""

    sig_analysis_shown = Signal(object)
    """``(Analysis)``: a rank job's result is on screen."""

    sig_item_shown = Signal(object)
    """``(CurrentItem)``: an item (typed and encoded, or picked) is the lab's item; its SID and neighbours show."""

    def __init__(self, view_model: ProjectViewModel, selection, bridge, parent: QWidget | None = None):
        super().__init__(parent)
        self._vm, self._selection, self._bridge = view_model, selection, bridge
        self._snapshot: ProjectSnapshot | None = None
        self._setup: LabSetup | None = None
        self._session: ColdStartSession | None = None
        self._encoder = None  # one TextEncoder per panel (MiniLM itself is shared by the engine)
        self._generation = 0  # bumped per project and session: results of older jobs are dropped
        self._jobs: dict[int, tuple[str, int]] = {}  # job id -> (kind, generation)
        self._latest: dict[str, int] = {}  # kind -> id of the newest job of that kind (older results are stale)
        self._current: CurrentItem | None = None
        self._analysis: Analysis | None = None
        self._analysis_pending = False  # another analysis was asked for while one runs: run it after
        self._injected_order: list[int] = []  # live injected items, oldest first (for ItemsChange.injected)
        self._user_choices: list[tuple[str, object]] = []  # combo entries: ("user", row) | ("selection", None)
        self._suggested: list[tuple[int, str]] = []  # the suggested test users of the lab's item
        self._pinned: tuple[str, object] | None = None  # a history the user chose on purpose
        self._ready = False  # an analysis has been drawn for this project
        self._ready_emitted = False
        self._edit_note = ""  # what the last inject/retire did, kept in the status line
        self._anchors: dict[int, tuple[int, ...]] = {}  # injected typed item -> its content neighbours (map position)
        self.timings: dict[str, float] = {}  # last measured: encode_s, inject_ms, retire_ms, analysis_s ...

        self.neighbour_model = ItemRowsModel(self)
        self.cold_model = ColdItemsModel(self)
        self.cold_proxy = QSortFilterProxyModel(self)
        self.cold_proxy.setSourceModel(self.cold_model)
        self.cold_proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.cold_proxy.setFilterKeyColumn(-1)
        self.cold_proxy.setSortRole(Qt.ItemDataRole.UserRole + 1)
        self.session_model = ItemRowsModel(self, _SESSION_COLUMNS)
        self.top_model = TopListModel(self)
        self.plots: list[LevelProbPlot] = []
        self._analysis_timer = QTimer(self)  # the weight slider asks at most ~4 times a second
        self._analysis_timer.setSingleShot(True)
        self._analysis_timer.setInterval(250)
        self._analysis_timer.timeout.connect(self._request_analysis)

        self._stack = QStackedWidget(self)
        self._empty_page = _centred_column(_heading("No project open", 1.6), QLabel(_EMPTY_TEXT))
        self._main_page = self._build_main_page()
        self._stack.addWidget(self._empty_page)
        self._stack.addWidget(self._main_page)
        self._error = _wrapped("", rich=False)
        self._error.setStyleSheet(f"color: {_ERROR_COLOUR};")
        self._error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._error.setVisible(False)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 8, 10, 8)
        lay.setSpacing(6)
        header = QLabel(_HEADER)
        header.setWordWrap(True)
        header.setTextFormat(Qt.TextFormat.RichText)
        lay.addWidget(header)
        lay.addWidget(self._error)
        lay.addWidget(self._stack, 1)

        bridge.sig_result.connect(self._on_result)
        bridge.sig_error.connect(self._on_error)
        bridge.sig_progress.connect(self._on_progress)
        bridge.sig_finished.connect(self._on_finished)
        selection.sig_changed.connect(self._on_selection)
        view_model.sig_project_changed.connect(self._on_project_changed)
        self._on_project_changed(view_model.snapshot)

    # ---- public ----
    def screenshot_ready(self) -> bool:
        """True once an item's SID, neighbours and analysis are drawn and no job of the panel runs."""
        return self._ready and not self._jobs

    def page(self) -> str:
        """``"empty"`` (no project) or ``"lab"``."""
        return "empty" if self._stack.currentWidget() is self._empty_page else "lab"

    def busy(self) -> bool:
        """Whether a job of this panel is queued or running."""
        return bool(self._jobs)

    @property
    def session(self) -> ColdStartSession | None:
        """The panel's session (change it only through the panel, on the GUI thread)."""
        return self._session

    @property
    def setup(self) -> LabSetup | None:
        return self._setup

    def current_item(self) -> CurrentItem | None:
        return self._current

    def analysis(self) -> Analysis | None:
        """The analysis on screen (None before the first)."""
        return self._analysis

    def sid_text(self) -> str:
        return self._sid_label.text()

    def neighbour_caption(self) -> str:
        return self._neighbour_caption.text()

    def rank_text(self) -> str:
        return self._rank_label.text()

    def status_text(self) -> str:
        return self._status.text()

    def error_text(self) -> str:
        return self._error.text() if self._error.isVisible() else ""

    def cold_notice(self) -> str:
        """The note shown instead of the cold list when the project holds no items out ("" otherwise)."""
        return self._no_cold_label.text() if self._cold_stack.currentIndex() == 1 else ""

    def type_item(self, title: str, brand: str = "", categories: str = "", *, encode: bool = True) -> None:
        """Fill the typed-item fields (and encode it, as the Encode button does)."""
        self._item_tabs.setCurrentIndex(0)
        self.title_edit.setText(title)
        self.brand_edit.setText(brand)
        self.categories_edit.setText(categories)
        if encode:
            self.encode()

    def encode(self) -> None:
        """Encode the typed item (a job: MiniLM, then the frozen tokenizer on the GUI thread)."""
        if self._session is None:
            return
        title, brand, cats = (w.text().strip() for w in (self.title_edit, self.brand_edit, self.categories_edit))
        if not (title or brand or cats):
            self._set_status("Type a title (and a brand and categories, if you know them) first.")
            return
        if self._encoder is None:
            self._encoder = TextEncoder(device="cpu", use_cache=False)
        self._set_busy(True, "Loading the MiniLM text encoder (first use: a few seconds)…" if not _ENCODER_LOADED
                       else "Embedding the text…")
        self._submit("encode", embed_item, snapshot_session(self._session), self._encoder, title, brand, cats,
                     name="cold-start: embed a new item")

    def pick_cold(self, item: int) -> None:
        """Make held-out item ``item`` (a catalogue index) the lab's item."""
        if self._session is None:
            return
        item = int(item)
        self._item_tabs.setCurrentIndex(1)
        row = self.cold_model.row_of(item)
        if row >= 0:
            src = self.cold_model.index(row, 0)
            proxy = self.cold_proxy.mapFromSource(src)
            if proxy.isValid():
                self.cold_view.selectionModel().blockSignals(True)
                self.cold_view.selectRow(proxy.row())
                self.cold_view.selectionModel().blockSignals(False)
                self.cold_view.scrollTo(proxy)
        project = self._session.project
        cat = project.dataset.catalogue.items
        self._set_current(CurrentItem("cold", item, str(cat["title"].iat[item]), str(cat["brand"].iat[item]),
                                      str(cat["categories"].iat[item]), np.asarray(project.embeddings[item], np.float32),
                                      tuple(int(c) for c in self._session.sid(item)), (item,)))

    def inject(self) -> None:
        """Insert the lab's item into the session's trie (GUI thread, ~1 ms) and tell the other panels."""
        cur, s = self._current, self._session
        if cur is None or s is None or self._is_live(cur):
            return
        t0 = time.perf_counter()
        try:
            if cur.kind == "typed":  # a retired typed item comes back as a new one (with a new index)
                new = s.inject_new(cur.title, cur.brand, cur.categories, embedding=cur.embedding)
                cur = replace(cur, index=new.index, sid=new.sid)
            else:
                s.inject(cur.index)
        except GenrecError as exc:
            self._show_error(f"Could not inject the item: {exc}")
            return
        self.timings["inject_ms"] = 1000 * (time.perf_counter() - t0)
        self._injected_order.append(int(cur.index))
        self._current = cur
        self._after_edit(added=(cur.index,), what=f"Injected in {self.timings['inject_ms']:.1f} ms")

    def retire(self, item: int | None = None) -> None:
        """Remove ``item`` (default: the lab's item) from the session's trie: decoding never returns it."""
        s = self._session
        if s is None:
            return
        if item is None:
            if self._current is None or not self._is_live(self._current):
                return
            item = self._current.index
        item = int(item)
        t0 = time.perf_counter()
        try:
            s.retire(item)
        except GenrecError as exc:
            self._show_error(f"Could not retire the item: {exc}")
            return
        self.timings["retire_ms"] = 1000 * (time.perf_counter() - t0)
        if item in self._injected_order:
            self._injected_order.remove(item)
        self._after_edit(removed=(item,), what=f"Retired in {self.timings['retire_ms']:.2f} ms")

    def restore(self, item: int) -> None:
        """Put a retired catalogue item back into the session's trie."""
        s = self._session
        if s is None or int(item) >= s.n_items or int(item) in s.trie:
            return
        try:
            s.inject(int(item))
        except GenrecError as exc:
            self._show_error(f"Could not restore the item: {exc}")
            return
        if int(item) in set(s.cold_indices.tolist()):
            self._injected_order.append(int(item))
        else:  # a warm item put back is not an injection
            s.injected.discard(int(item))
        self._after_edit(added=(int(item),), what="Restored")

    def reset_session(self) -> None:
        """Drop every injection and retirement: a fresh session (made on a worker)."""
        if self._snapshot is None:
            return
        self._set_busy(True, "Starting a fresh session…")
        self._submit("session", new_session, self._snapshot.project, name="cold-start: new session")

    def set_generator(self, kind: str) -> None:
        idx = self.generator_combo.findData(kind)
        if idx >= 0:
            self.generator_combo.setCurrentIndex(idx)

    def set_weight(self, weight: float) -> None:
        """Set the hybrid mixing weight (0 = generative only, 1 = dense only) and re-rank."""
        self.weight_slider.setValue(int(round(100 * float(weight))))
        self._analysis_timer.stop()
        self._request_analysis()

    def weight(self) -> float:
        return self.weight_slider.value() / 100.0

    def user_choice(self) -> tuple[str, object] | None:
        """The chosen history source: ``("user", row of the test users)`` or ``("selection", None)``."""
        i = self.user_combo.currentIndex()
        return self._user_choices[i] if 0 <= i < len(self._user_choices) else None

    def choose_user_row(self, row: int) -> None:
        """Use test user ``row`` (of ``setup.users``) as the history, also for the next items."""
        if self._setup is None:
            return
        self._pinned = ("user", int(row))
        self._fill_user_choices(self._suggested)
        self._request_analysis()

    def use_selection_history(self) -> None:
        for i, (kind, _) in enumerate(self._user_choices):
            if kind == "selection":
                self.user_combo.setCurrentIndex(i)
                return

    def history(self) -> list[int]:
        """The history (item indices, oldest first) the analysis reads."""
        choice = self.user_choice()
        if choice is None or self._setup is None:
            return []
        if choice[0] == "selection":
            return [int(i) for i in self._selection.current.items]
        return [int(i) for i in self._setup.users.histories[int(choice[1])]]

    # ---- private: building ----
    def _build_main_page(self) -> QWidget:
        split = QSplitter(Qt.Orientation.Horizontal)
        split.setChildrenCollapsible(False)
        split.addWidget(self._build_item_column())
        split.addWidget(self._build_sid_column())
        split.addWidget(self._build_user_column())
        split.setSizes([360, 430, 470])
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 1)
        split.setStretchFactor(2, 1)
        split.setMinimumSize(1120, 600)  # below that, scroll rather than squeeze the charts and tables
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(split)
        return scroll

    def _build_item_column(self) -> QWidget:
        box = QGroupBox("1 · The new item")
        lay = QVBoxLayout(box)
        lay.setContentsMargins(6, 6, 6, 6)
        self._item_tabs = QTabWidget()
        typed = QWidget()
        form = QFormLayout(typed)
        form.setContentsMargins(4, 6, 4, 4)
        self.title_edit, self.brand_edit, self.categories_edit = QLineEdit(), QLineEdit(), QLineEdit()
        self.title_edit.setPlaceholderText("e.g. Hydrating rose water facial toner")
        self.brand_edit.setPlaceholderText("optional")
        self.categories_edit.setPlaceholderText("optional, levels joined by ' > '")
        for w in (self.title_edit, self.brand_edit, self.categories_edit):
            w.returnPressed.connect(self.encode)
            w.textEdited.connect(self._on_text_edited)
        form.addRow("Title", self.title_edit)
        form.addRow("Brand", self.brand_edit)
        form.addRow("Categories", self.categories_edit)
        self.encode_button = QPushButton("Encode")
        self.encode_button.setToolTip("Embed the text with MiniLM (as the catalogue's items were) and tokenize it "
                                      "with the project's frozen tokenizer.")
        self.encode_button.clicked.connect(self.encode)
        form.addRow("", self.encode_button)
        form.addRow(_wrapped(
            "<span style='color:#505050'>The text is embedded as the catalogue's items were (MiniLM over "
            "“Title. Brand: … Category: …”, rounded to float16) and quantized with the project's frozen tokenizer; "
            "the last code is the smallest collision code no live item holds under its first codes.</span>"))
        self._item_tabs.addTab(typed, "Type a new item")

        cold = QWidget()
        cl = QVBoxLayout(cold)
        cl.setContentsMargins(4, 6, 4, 4)
        self._cold_stack = QStackedWidget()
        listing = QWidget()
        ll = QVBoxLayout(listing)
        ll.setContentsMargins(0, 0, 0, 0)
        self.cold_filter = QLineEdit()
        self.cold_filter.setPlaceholderText("Filter by title, brand or SID")
        self.cold_filter.setClearButtonEnabled(True)
        self.cold_filter.textChanged.connect(self.cold_proxy.setFilterFixedString)
        self.cold_view = _table(self.cold_proxy, widths={2: 84, 3: 58, 4: 64})
        self.cold_view.hideColumn(1)  # brands are often anonymised; the filter still matches them
        self.cold_view.setSortingEnabled(True)
        self.cold_view.sortByColumn(3, Qt.SortOrder.DescendingOrder)
        self.cold_view.verticalHeader().setVisible(False)
        self.cold_view.selectionModel().selectionChanged.connect(self._on_cold_selection)
        ll.addWidget(self.cold_filter)
        ll.addWidget(self.cold_view, 1)
        self._no_cold_label = _wrapped("")
        self._no_cold_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self._no_cold_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._cold_stack.addWidget(listing)
        self._cold_stack.addWidget(self._no_cold_label)
        cl.addWidget(self._cold_stack)
        self._item_tabs.addTab(cold, "Held-out cold items")
        lay.addWidget(self._item_tabs, 3)

        self._busy = QProgressBar()
        self._busy.setRange(0, 0)
        self._busy.setTextVisible(False)
        self._busy.setMaximumHeight(8)
        self._busy.setVisible(False)
        self._status = _wrapped("")
        lay.addWidget(self._busy)
        lay.addWidget(self._status)

        buttons = QHBoxLayout()
        self.inject_button = QPushButton("Inject")
        self.inject_button.setToolTip("Insert the item into this session's trie, so the generator can return it.")
        self.inject_button.clicked.connect(self.inject)
        self.retire_button = QPushButton("Retire")
        self.retire_button.setToolTip("Remove the item from this session's trie: decoding never returns it.")
        self.retire_button.clicked.connect(lambda: self.retire())
        self.reset_button = QPushButton("Reset session")
        self.reset_button.setToolTip("Undo every injection and retirement (the project itself is never changed).")
        self.reset_button.clicked.connect(self.reset_session)
        for b in (self.inject_button, self.retire_button, self.reset_button):
            buttons.addWidget(b)
        lay.addLayout(buttons)
        self._session_label = _wrapped("")
        lay.addWidget(self._session_label)
        self.session_view = _table(self.session_model, widths={2: 84})
        self.session_view.verticalHeader().setVisible(False)
        self.session_view.selectionModel().selectionChanged.connect(self._update_buttons)
        lay.addWidget(self.session_view, 2)
        self.undo_button = QPushButton("Retire / restore selected")
        self.undo_button.setToolTip("Retire the selected injected item, or put the selected retired item back.")
        self.undo_button.clicked.connect(self._on_undo)
        lay.addWidget(self.undo_button)
        return box

    def _build_sid_column(self) -> QWidget:
        box = QGroupBox("2 · Its semantic ID and neighbours")
        lay = QVBoxLayout(box)
        lay.setContentsMargins(6, 6, 6, 6)
        self._item_title = _heading("", 1.05)
        self._item_title.setWordWrap(True)
        self._item_title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._sid_label = _heading("", 1.5)
        self._sid_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._sid_label.setToolTip("The item's semantic ID: one code per tokenizer level, then the collision code.")
        self._state_label = _wrapped("")
        self._neighbour_caption = _wrapped("")
        self.neighbour_view = _table(self.neighbour_model, widths={2: 96, 3: 90})
        self.neighbour_view.hideColumn(1)  # the brand: kept in the model (exports), left out for width
        self.neighbour_view.verticalHeader().setVisible(False)
        self.neighbour_view.selectionModel().selectionChanged.connect(self._update_buttons)
        self.retire_neighbour_button = _expert(QPushButton("Retire selected neighbour"))
        self.retire_neighbour_button.setToolTip("Take the selected item out of this session's trie: the generator "
                                                "will never return it (undo with Retire / restore selected).")
        self.retire_neighbour_button.clicked.connect(self._on_retire_neighbour)
        lay.addWidget(self._item_title)
        lay.addWidget(self._sid_label)
        lay.addWidget(self._state_label)
        lay.addWidget(self._neighbour_caption)
        lay.addWidget(self.neighbour_view, 2)
        lay.addWidget(self.retire_neighbour_button)
        self._top_caption = _wrapped("")
        self.top_view = _table(self.top_model)
        self.top_view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        lay.addWidget(self._top_caption)
        lay.addWidget(self.top_view, 3)
        return box

    def _build_user_column(self) -> QWidget:
        box = QGroupBox("3 · Would this user get it?")
        lay = QVBoxLayout(box)
        lay.setContentsMargins(6, 6, 6, 6)
        row = QHBoxLayout()
        row.addWidget(QLabel("User:"))
        self.user_combo = QComboBox()
        self.user_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.user_combo.setMinimumContentsLength(12)
        self.user_combo.setToolTip("Test users: first those whose next item this is, then those whose recent items "
                                   "are closest to it in content; or a history made of the shared selection.")
        self.user_combo.currentIndexChanged.connect(self._on_user_chosen)
        row.addWidget(self.user_combo, 1)
        self.user_edit = QLineEdit()
        self.user_edit.setPlaceholderText("user id")
        self.user_edit.setMaximumWidth(90)
        self.user_edit.setToolTip("Any test user's id, then Enter.")
        self.user_edit.returnPressed.connect(self._on_user_typed)
        row.addWidget(self.user_edit)
        lay.addLayout(row)
        row2 = QHBoxLayout()
        row2.addWidget(QLabel("Generator:"))
        self.generator_combo = QComboBox()
        for kind in ("ran", "tiger"):
            self.generator_combo.addItem(GENERATOR_LABELS[kind], kind)
        self.generator_combo.setToolTip("The generative model whose path probabilities and ranks are shown.")
        self.generator_combo.currentIndexChanged.connect(lambda _: self._request_analysis())
        row2.addWidget(self.generator_combo)
        row2.addStretch(1)
        self._weight_label = _expert(QLabel(""))
        self.weight_slider = _expert(QSlider(Qt.Orientation.Horizontal))
        self.weight_slider.setRange(0, 100)
        self.weight_slider.setSingleStep(5)
        self.weight_slider.setPageStep(10)
        self.weight_slider.setValue(int(round(100 * DEFAULT_WEIGHT)))
        self.weight_slider.setMaximumWidth(120)
        self.weight_slider.setMinimumWidth(60)
        self.weight_slider.setToolTip("Hybrid mixing weight: 0 keeps the generative scores, 1 uses only the dense "
                                      f"(SASRec + content) score. The engine's default is {DEFAULT_WEIGHT:.2f}.")
        self.weight_slider.valueChanged.connect(self._on_weight_changed)
        self._on_weight_changed(self.weight_slider.value(), ask=False)
        row2.addWidget(self._weight_label)
        row2.addWidget(self.weight_slider)
        lay.addLayout(row2)
        self._history_label = _wrapped("")
        lay.addWidget(self._history_label)
        self._rank_label = _wrapped("")
        self._rank_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self._rank_label)
        lay.addWidget(_wrapped(
            f"<span style='color:#505050'>Per level: the generator's probability of each code given the item's "
            f"prefix (the {SHOWN_CODES} most likely codes; <span style='color:{_ITEM_COLOUR}'>■</span> the item's "
            f"code, <span style='color:{_LIVE_COLOUR}'>■</span> codes leading to live items, "
            f"<span style='color:{_DEAD_COLOUR}'>■</span> codes the trie cannot reach; ✗ the item's code is not "
            f"in the trie under its prefix yet).</span>"))
        self._plot_grid = QGridLayout()
        self._plot_grid.setSpacing(4)
        lay.addLayout(self._plot_grid, 1)
        return box

    def _build_plots(self, depth: int) -> None:
        if len(self.plots) == depth:
            for p in self.plots:
                p.clear_level()
            return
        for p in self.plots:
            self._plot_grid.removeWidget(p)
            p.deleteLater()
        self.plots = [LevelProbPlot(level, depth) for level in range(depth)]
        for level, p in enumerate(self.plots):
            self._plot_grid.addWidget(p, level // 2, level % 2)

    # ---- private: project ----
    def _on_project_changed(self, snapshot: ProjectSnapshot | None) -> None:
        for job_id in list(self._jobs):
            self._bridge.cancel(job_id)
        self._generation += 1
        self._snapshot, self._setup, self._session = snapshot, None, None
        self._current = self._analysis = None
        self._analysis_pending = False
        self._injected_order = []
        self._anchors = {}
        self._suggested, self._pinned = [], None
        self._ready = self._ready_emitted = False
        self._error.setVisible(False)
        self._clear_item_views()
        self.cold_model.set_items([], [], [], [], [])
        self.session_model.set_rows([])
        self._fill_user_choices([])
        if snapshot is None:
            self._stack.setCurrentWidget(self._empty_page)
            self._update_buttons()
            return
        self._stack.setCurrentWidget(self._main_page)
        self._build_plots(snapshot.project.sids.depth)
        if not self.title_edit.text():
            self.title_edit.setText(EXAMPLE_ITEM[0])
            self.brand_edit.setText(EXAMPLE_ITEM[1])
            self.categories_edit.setText(EXAMPLE_ITEM[2])
        self._set_busy(True, "Loading the generators and the test users…")
        self._submit("load", load_lab, snapshot.project, name="cold-start: load the lab")
        self._update_buttons()

    def _on_setup(self, setup: LabSetup) -> None:
        project = self._snapshot.project
        self._setup, self._session = setup, setup.session
        self._set_busy(False, "")
        cold = project.cold_indices
        items = project.dataset.catalogue.items
        if len(cold):
            self.cold_model.set_items(cold, items["title"].to_numpy()[cold], items["brand"].to_numpy()[cold],
                                      project.sids.codes[cold], setup.cold_next)
            self.cold_view.sortByColumn(3, Qt.SortOrder.DescendingOrder)
            self._cold_stack.setCurrentIndex(0)
            self._item_tabs.setTabText(1, f"Held-out cold items ({len(cold):,})")
        else:
            self._no_cold_label.setText(
                f"<p><b>{html.escape(project.name)}</b> holds no items out: every item is in its trie.</p>"
                "<p>To try items the generators have never seen, open the cold-start project with "
                f"<b>File › Open project…</b>:<br><code>{html.escape(str(COLD_PROJECT))}</code></p>"
                "<p>Typed items (the other tab) work on any project.</p>")
            self._cold_stack.setCurrentIndex(1)
            self._item_tabs.setTabText(1, "Held-out cold items")
        for kind in ("ran", "tiger"):
            idx = self.generator_combo.findData(kind)
            model_item = self.generator_combo.model().item(idx)
            model_item.setEnabled(kind in setup.generators)
            model_item.setToolTip(setup.generator_errors.get(kind, ""))
        if self.generator_combo.currentData() not in setup.generators and setup.generators:
            self.set_generator(next(iter(setup.generators)))
        if not setup.generators:
            self._show_error("This project has no trained RAN or TIGER-style generator, so no path can be scored: "
                             f"train one with genrec train --project {project.path} --model ran.")
        self._update_session_views()
        if len(cold):  # the held-out item most test users took next: there is a user to rank it for
            best = int(cold[int(np.argmax(setup.cold_next))]) if len(setup.cold_next) else int(cold[0])
            self.pick_cold(best)
        else:
            self._item_tabs.setCurrentIndex(0)
            self.encode()

    # ---- private: jobs ----
    def _submit(self, kind: str, fn: Callable, *args, name: str, **kwargs) -> int:
        job = self._bridge.submit(fn, *args, name=name, **kwargs)
        self._jobs[job.id] = (kind, self._generation)
        self._latest[kind] = job.id
        return job.id

    def _on_finished(self, job_id: int) -> None:
        entry = self._jobs.pop(job_id, None)
        if entry is None:
            return
        if entry[0] == "analysis" and entry[1] == self._generation and self._analysis_pending:
            self._analysis_pending = False
            self._request_analysis()
        if not self._jobs:
            self._set_busy(False)
            if self._ready and not self._ready_emitted:
                self._ready_emitted = True
                self.sig_ready.emit()

    def _on_progress(self, job_id: int, fraction: float, message: str) -> None:
        entry = self._jobs.get(job_id)
        if entry is not None and entry[1] == self._generation and message:
            self._set_status(message[:1].upper() + message[1:] + "…")

    def _on_error(self, job_id: int, message: str) -> None:
        entry = self._jobs.get(job_id)
        if entry is None or entry[1] != self._generation:
            return
        what = {"load": "load the lab", "encode": "encode the item", "users": "suggest users",
                "analysis": "score the item", "session": "start a fresh session"}.get(entry[0], "finish")
        self._set_busy(False, "")
        self._show_error(f"Could not {what}: {message}")

    def _on_result(self, job_id: int, result: object) -> None:
        entry = self._jobs.get(job_id)
        if entry is None or entry[1] != self._generation or self._snapshot is None:
            return
        kind = entry[0]
        if self._latest.get(kind) != job_id:
            return  # a newer job of the same kind was asked for
        if kind == "load":
            self._on_setup(result)  # type: ignore[arg-type]
        elif kind == "encode":
            self._on_encoded(result)  # type: ignore[arg-type]
        elif kind == "users":
            self._on_users(result)  # type: ignore[arg-type]
        elif kind == "analysis":
            self._on_analysis(result)  # type: ignore[arg-type]
        elif kind == "session":
            self._on_new_session(result)  # type: ignore[arg-type]

    # ---- private: the item ----
    def _on_text_edited(self, *_args) -> None:
        cur = self._current
        if cur is not None and cur.kind == "typed" and cur.index is None:
            self._set_status("The text changed: press Encode (or Enter) for its SID.")

    def _on_encoded(self, result: LabText) -> None:
        global _ENCODER_LOADED
        _ENCODER_LOADED = True
        self.timings["encode_s"] = result.seconds
        s = self._session
        title, brand, cats = (w.text().strip() for w in (self.title_edit, self.brand_edit, self.categories_edit))
        t0 = time.perf_counter()
        try:  # the SID from the session as it is now (a collision code taken meanwhile is skipped)
            e, sid = s.encode_new_item(embedding=result.embedding)
        except GenrecError as exc:
            self._show_error(f"Could not tokenize the item: {exc}")
            return
        self.timings["tokenize_ms"] = 1000 * (time.perf_counter() - t0)
        self._set_current(CurrentItem("typed", None, title, brand, cats, e, sid, result.anchors))
        self._edit_note = f"Encoded in {result.seconds:.2f} s (tokenized in {self.timings['tokenize_ms']:.1f} ms). "
        self._set_status(self._edit_note)

    def _on_cold_selection(self, *_args) -> None:
        rows = self.cold_view.selectionModel().selectedRows(0)
        if rows:
            item = self.cold_proxy.data(rows[0], Qt.ItemDataRole.UserRole)
            if item is not None and (self._current is None or self._current.index != int(item)):
                self.pick_cold(int(item))

    def _set_current(self, item: CurrentItem) -> None:
        self._current = item
        self._edit_note = ""
        self._analysis = None
        self._show_item()
        self.sig_item_shown.emit(item)
        self._error.setVisible(False)
        if self._setup is not None:
            self._submit("users", suggest_users, self._setup.users, item.embedding,
                         item.index if item.kind == "cold" else None, name="cold-start: suggest users")

    def _is_live(self, item: CurrentItem) -> bool:
        return item.index is not None and self._session is not None and item.index in self._session.trie

    def _show_item(self) -> None:
        """SID, state and neighbours of the lab's item (GUI thread: ~1 ms on the session trie)."""
        cur, s = self._current, self._session
        if cur is None or s is None:
            self._clear_item_views()
            return
        self._item_title.setText(cur.title or "(untitled)")
        self._sid_label.setText(f"SID {_sid_text(cur.sid)}")
        live = self._is_live(cur)
        retired = cur.index is not None and cur.index in s.retired
        if live:
            state = "<b style='color:#007a3d'>Live</b>: injected into this session's trie; the generator can return it."
        elif retired:
            state = "<b>Retired</b>: taken out of the trie; the generator never returns it." + (
                " Inject adds it again, as a new item." if cur.kind == "typed" else "")
        elif cur.kind == "cold":
            state = "<b>Held out</b>: the generators never saw it and the trie does not hold it yet. Inject it."
        else:
            state = "<b>Not in the trie</b>: no generator can produce it yet. Inject it to make it decodable."
        self._state_label.setText(state)
        nb = s.neighbours(cur.index if live else cur.sid)
        items = [int(i) for i in nb["items"] if int(i) != cur.index]
        n, depth = len(items), s.trie.depth
        prefix = _sid_text(nb["prefix"]) if nb["prefix"] else "(root)"
        self._neighbour_caption.setText(
            f"<b>{n:,}</b> live item{'s' if n != 1 else ''} under its longest shared prefix <b>{prefix}</b> "
            f"({nb['length']} of {depth} codes)" + (f"; the first {MAX_NEIGHBOUR_ROWS:,} are listed." if n > MAX_NEIGHBOUR_ROWS else "."))
        self.neighbour_model.set_rows([self._item_row(i) for i in items[:MAX_NEIGHBOUR_ROWS]])
        self._update_buttons()

    def _item_row(self, i: int) -> tuple:
        s = self._session
        if i >= s.n_items:
            it = s.new_items[i]
            return (i, f"{it.title} (new)", it.brand, _leaf_category(it.categories), _sid_text(it.sid), 0)
        items = s.project.dataset.catalogue.items
        return (i, str(items["title"].iat[i]), str(items["brand"].iat[i]), _leaf_category(items["categories"].iat[i]),
                _sid_text(s.project.sids.sid(i)), int(self._snapshot.popularity[i]))

    def _clear_item_views(self) -> None:
        self._item_title.setText("")
        self._sid_label.setText("")
        self._state_label.setText("")
        self._neighbour_caption.setText("")
        self.neighbour_model.set_rows([])
        self.top_model.set_lists([], None, None)
        self._top_caption.setText("")
        self._rank_label.setText("")
        self._history_label.setText("")
        for p in self.plots:
            p.clear_level()

    # ---- private: users ----
    def _fill_user_choices(self, suggested: list[tuple[int, str]]) -> None:
        """Rebuild the user combo: the suggested test users, the selection entry, and a pinned choice
        (a user picked by id, or the selection) kept selected."""
        self.user_combo.blockSignals(True)
        self.user_combo.clear()
        self._user_choices = []
        pinned = self._pinned
        if pinned is not None and pinned[0] == "user" and self._setup is not None:
            self._add_user_choice(int(pinned[1]), "picked")
        for row, reason in suggested:
            if pinned is None or ("user", row) != pinned:
                self._add_user_choice(row, reason)
        n = len(self._selection.current.items)
        self._user_choices.append(("selection", None))
        self.user_combo.addItem(f"History from the shared selection ({n:,} item{'s' if n != 1 else ''})")
        current = self._user_choices.index(pinned) if pinned in self._user_choices else 0
        self.user_combo.setCurrentIndex(current)
        self.user_combo.blockSignals(False)

    def _add_user_choice(self, row: int, reason: str) -> None:
        users = self._setup.users
        h = users.histories[row]
        tag = {"next": "★ took it next", "similar": "similar taste", "picked": "picked"}.get(reason, reason)
        self._user_choices.append(("user", int(row)))
        self.user_combo.addItem(f"User {int(users.user_ids[row])} · {len(h)} items · {tag}")

    def _on_users(self, suggested: list[tuple[int, str]]) -> None:
        self._suggested = list(suggested)
        self._fill_user_choices(self._suggested)
        self._request_analysis()

    def _on_user_chosen(self, _index: int) -> None:
        choice = self.user_choice()
        if choice is not None and choice[0] == "selection":
            self._pinned = choice  # a deliberate choice: kept when the item changes
        elif choice != self._pinned:
            self._pinned = None  # a suggestion: the next item brings its own
        self._request_analysis()

    def _on_user_typed(self) -> None:
        text = self.user_edit.text().strip()
        if self._setup is None or not text:
            return
        hits = np.flatnonzero(self._setup.users.user_ids.astype(str) == text)
        if not len(hits):
            self._set_status(f"No test user has id {text}.")
            return
        self.choose_user_row(int(hits[0]))

    def _on_selection(self, event) -> None:
        if self._setup is None:
            return
        for i, (kind, _) in enumerate(self._user_choices):
            if kind == "selection":
                n = len(event.items)
                self.user_combo.setItemText(i, f"History from the shared selection ({n:,} item{'s' if n != 1 else ''})")
        choice = self.user_choice()
        if choice is not None and choice[0] == "selection":
            self._request_analysis()

    # ---- private: analysis ----
    def _on_weight_changed(self, value: int, ask: bool = True) -> None:
        self._weight_label.setText(f"Hybrid weight {value / 100:.2f}")
        if ask:
            self._analysis_timer.start()

    def _request_analysis(self) -> None:
        """Score the lab's item for the chosen history (one rank job at a time; the latest ask wins)."""
        if self._setup is None or self._current is None or self.user_choice() is None:
            return
        kind = self.generator_combo.currentData()
        gen = self._setup.generators.get(kind)
        if gen is None:  # no generator to score with: the SID and neighbours are all there is to show
            self._rank_label.setText("No generator of this project can score the item (see the message above).")
            self._ready = True
            return
        if any(k == "analysis" for k, _ in self._jobs.values()):
            self._analysis_pending = True
            return
        history = self.history()
        self._describe_history(history)
        self._set_busy(True, f"Scoring the item's path with {self.generator_combo.currentText()}…")
        self._submit("analysis", analyse_item, snapshot_session(self._session), gen, kind, self._setup.dense,
                     self._current, list(history), self.weight(), name="cold-start: rank the item")

    def _describe_history(self, history: list[int]) -> None:
        choice = self.user_choice()
        cat = self._snapshot.project.dataset.catalogue
        last = [i for i in history if 0 <= i < self._snapshot.project.sids.n_items][-1:]
        tail = f"; last: “{html.escape(_elide(cat.title(last[0]), 60))}”" if last else ""
        if choice[0] == "selection":
            self._history_label.setText(f"History: the {len(history):,} items of the shared selection{tail}.")
        else:
            users = self._setup.users
            row = int(choice[1])
            nxt = int(users.targets[row])
            took = " It took <b>this item</b> next." if self._current is not None and nxt == self._current.index else ""
            self._history_label.setText(f"User {int(users.user_ids[row])}: {len(history):,} items before the test "
                                        f"item{tail}.{took}")

    def _on_analysis(self, a: Analysis) -> None:
        cur = self._current
        if cur is None or tuple(a.sid[:-1]) != tuple(cur.sid[:-1]):
            return  # the item changed while it ran (the pending request follows)
        self._analysis = a
        self.timings["analysis_s"] = a.seconds.get("total", 0.0)
        self.timings["rank_s"] = a.seconds.get("rank", 0.0)
        self.timings["hybrid_s"] = a.seconds.get("hybrid", 0.0)
        for plot, lp in zip(self.plots, a.levels):
            plot.show_level(lp)
        p = float(np.exp(a.logp))
        cond = " <i>(as if injected)</i>" if a.what_if else (" <i>(retired: ranked as if it were live)</i>" if a.retired else "")
        gen = GENERATOR_LABELS.get(a.generator, a.generator)
        lines = [f"Path probability {p:.3g} (log {a.logp:.2f}). <b>Generative rank {a.rank:,}</b> of "
                 f"{a.live_items:,} live items{cond}: exact, every live SID scored by {gen}."]
        if a.hybrid is None:
            why = self._setup.dense_error or "no SASRec generator"
            lines.append(f"Hybrid re-ranking needs the project's SASRec ({html.escape(why)}).")
        elif a.retired:
            lines.append("Hybrid: retired items are never candidates.")
        elif a.hybrid_rank is not None and a.hybrid_rank <= TOP_K:
            lines.append(f"<b style='color:{_ITEM_COLOUR}'>Hybrid rank {a.hybrid_rank}</b>: in the top {TOP_K} after "
                         f"re-ranking with SASRec (weight {a.weight:.2f}){cond}.")
        elif a.hybrid_rank is not None:
            lines.append(f"<b>Hybrid rank {a.hybrid_rank}</b>: a candidate, but outside the top {TOP_K} "
                         f"(weight {a.weight:.2f}){cond}; a larger weight lets the dense score count more.")
        else:
            lines.append(f"<b>Hybrid: not in the first {HYBRID_DEPTH}</b> of the re-ranked list (weight "
                         f"{a.weight:.2f}){cond}: its generative score pulls it down; a larger weight lets the dense "
                         "score count more.")
        self._rank_label.setText("<br>".join(lines))
        self._set_status(f"{self._edit_note}Scored in {a.seconds.get('total', 0):.2f} s "
                         f"(exact rank {a.seconds.get('rank', 0):.2f} s, hybrid {a.seconds.get('hybrid', 0):.2f} s).")
        self.top_model.set_lists(a.generative, a.hybrid, a.item)
        self._top_caption.setText(f"Top {TOP_K} for this history" + (" (the item injected as a what-if)" if a.what_if else "")
                                  + f": ★ marks the lab's item. Scored in {a.seconds.get('total', 0):.2f} s.")
        self._ready = True
        self.sig_analysis_shown.emit(a)

    # ---- private: session edits ----
    def _after_edit(self, *, added=(), removed=(), what: str = "") -> None:
        """Refresh the lab's views and announce the session's new live items to the other panels."""
        s = self._session
        cur = self._current
        if cur is not None and cur.kind == "typed" and not self._is_live(cur) and cur.index is None:
            try:  # its collision code may have been taken by the edit
                _, sid = s.encode_new_item(embedding=cur.embedding)
                self._current = cur = replace(cur, sid=sid)
            except GenrecError:
                pass
        for i in list(added) + list(removed):
            if self.cold_model.row_of(i) >= 0:
                self.cold_model.set_state(i, "injected" if i in s.trie else ("retired" if i in s.retired else "held out"))
        self._update_session_views()
        self._show_item()
        self._edit_note = f"{what}. " if what else ""
        self._set_status(self._edit_note)
        self._announce(added, removed)
        self._request_analysis()

    def _announce(self, added, removed) -> None:
        s = self._session
        anchors = {}
        if self._current is not None and self._current.index is not None:
            anchors[self._current.index] = self._current.anchors
        self._anchors.update(anchors)
        new_items = {i: LabItem(i, it.title, it.brand, it.categories, tuple(it.sid), tuple(self._anchors.get(i, ())))
                     for i, it in s.new_items.items()}
        change = ItemsChange(
            project=s.project, trie=s.trie.copy(), added=tuple(int(i) for i in added),
            removed=tuple(int(i) for i in removed),
            injected=tuple(i for i in self._injected_order if i in s.trie),
            retired=tuple(sorted(int(i) for i in s.retired if int(i) < s.n_items)), new_items=new_items)
        self._vm.announce_items_changed(change)

    def _update_session_views(self) -> None:
        s = self._session
        if s is None:
            self.session_model.set_rows([])
            self._session_label.setText("")
            return
        live_injected = [i for i in self._injected_order if i in s.trie]
        retired = sorted(int(i) for i in s.retired if int(i) < s.n_items or int(i) in s.new_items)
        rows = [self._item_row(i) for i in live_injected + retired]
        self.session_model.set_rows([(r[0], r[1], "injected" if r[0] in s.trie else "retired", r[4]) for r in rows])
        self._session_label.setText(
            f"<b>This session</b>: {s.trie.num_items:,} live items · {len(live_injected)} injected · "
            f"{len(retired)} retired.")
        self._update_buttons()

    def _on_undo(self) -> None:
        rows = self.session_view.selectionModel().selectedRows(0)
        if not rows or self._session is None:
            return
        item = self.session_model.item_at(rows[0].row())
        if item in self._session.trie:
            self.retire(item)
        elif item < self._session.n_items:
            self.restore(item)

    def _on_retire_neighbour(self) -> None:
        rows = self.neighbour_view.selectionModel().selectedRows(0)
        if rows:
            self.retire(self.neighbour_model.item_at(rows[0].row()))

    def _on_new_session(self, session: ColdStartSession) -> None:
        self._setup = replace(self._setup, session=session)
        self._session = session
        self._injected_order = []
        self._anchors = {}
        for i in self._snapshot.project.cold_indices.tolist():
            self.cold_model.set_state(int(i), "held out")
        cur = self._current
        if cur is not None and cur.kind == "typed":
            _, sid = session.encode_new_item(embedding=cur.embedding)
            self._current = replace(cur, index=None, sid=sid)
        self._set_busy(False, "A fresh session: nothing injected or retired.")
        self._update_session_views()
        self._show_item()
        self._announce((), ())
        self._request_analysis()

    # ---- private: small things ----
    def _update_buttons(self, *_args) -> None:
        cur, s = self._current, self._session
        live = cur is not None and self._is_live(cur)
        self.inject_button.setEnabled(cur is not None and s is not None and not live)
        self.retire_button.setEnabled(live)
        self.reset_button.setEnabled(s is not None)
        self.encode_button.setEnabled(s is not None)
        sel = self.session_view.selectionModel().selectedRows(0) if s is not None else []
        self.undo_button.setEnabled(bool(sel) and (self.session_model.item_at(sel[0].row()) in s.trie
                                                   or self.session_model.item_at(sel[0].row()) < s.n_items))
        self.retire_neighbour_button.setEnabled(bool(self.neighbour_view.selectionModel().selectedRows(0)))

    def _set_busy(self, busy: bool, message: str | None = None) -> None:
        self._busy.setVisible(busy or bool(self._jobs))
        if message is not None:
            self._set_status(message)

    def _set_status(self, text: str) -> None:
        self._status.setText(html.escape(text))

    def _show_error(self, text: str) -> None:
        self._error.setText(text)
        self._error.setVisible(True)


def _elide(text: str, n: int) -> str:
    text = str(text)
    return text if len(text) <= n else text[: n - 1] + "…"
