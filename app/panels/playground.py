"""Playground panel: build a history, then compare what three generators recommend for it.

The left half builds the request: a history of items (search by title, brand or item id; add,
remove, reorder by drag or with the arrow buttons; take a test user's history or the items
selected in another panel) and, beside it, the history's interest groups (items sharing a SID
prefix of a chosen depth, with size, recency and representative titles; history rows are tinted
with their group's colour). An instruction box feeds generators trained with instructions.

The lower half shows three top-k lists side by side, each decoded by its own generator:
TIGER-style, RAN and SASRec. An item that two or three lists share is tinted (legend above the
lists); in unconstrained mode a SID that names no item is shown greyed and counted.

Everything slow runs on the :class:`~app.bridge.EngineBridge`: each generator is loaded once per
project by its own job and cached; every change of the request (history, instruction, options)
restarts a ~300 ms debounce, then one decode job per generator is submitted (at most one per
generator in flight: a newer request waits for the running one and replaces it). A result is shown
only when it answers the newest request, so a slow old decode never overwrites a newer list.

Source name in the linked selection: ``"playground"``.
"""
from __future__ import annotations

import html
import inspect
import itertools
import shlex
import struct
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import (
    QAbstractTableModel,
    QByteArray,
    QMimeData,
    QModelIndex,
    QPersistentModelIndex,
    QStringListModel,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QAction, QColor, QFont, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QCompleter,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from genrec_engine import (
    CancelToken,
    GenrecError,
    InterestGroup,
    ProgressFn,
    interest_groups,
    leave_one_out,
    load_project_generator,
    recommend,
)

from ..bridge import EngineBridge
from ..selection import Selection, SelectionEvent
from . import ProjectSnapshot, ProjectViewModel
from ..widgets import ERROR_COLOUR as _ERROR_COLOUR, GENERATOR_LABELS, centred_column as _centred_column, heading as _heading

__all__ = [
    "SOURCE",
    "KINDS",
    "KIND_LABELS",
    "PlaygroundPanel",
    "PlaygroundRequest",
    "ListResult",
    "HistoryModel",
    "ResultsModel",
    "GroupsModel",
    "load_playground_generator",
    "prepare_playground",
    "recommend_list",
    "overlap_counts",
    "instruction_supported",
]

#: The name this panel gives its selections (``SelectionEvent.source``).
SOURCE = "playground"

#: The three generators, in the order their lists are shown (left to right).
KINDS: tuple[str, ...] = ("tiger", "ran", "sasrec")
KIND_LABELS = {k: GENERATOR_LABELS[k] for k in ("tiger", "ran", "sasrec")}
_KIND_NOTES = {
    "tiger": "Encoder-decoder over flattened SID tokens; constrained beam search.",
    "ran": "One token per history item; the RAN decodes the SID level by level; constrained beam search.",
    "sasrec": "Atomic item ids: a dense score for every item (beam width and the trie do not apply).",
}

MAX_HISTORY = 50  # the generators read at most 50 (RAN, SASRec) or 20 (TIGER) recent items
DEBOUNCE_MS = 300  # a burst of edits (typing an instruction, clicking arrows) makes one request
PREFILL_MIN_ITEMS = 5  # the first project shows the first test user with at least this many items
USER_CHOICES = 500  # test users offered in the picker

OVERLAP_COLOURS = {2: QColor("#fbe3a1"), 3: QColor("#bfe6b8")}  # amber: in two lists, green: in all three
_BADGE_COLOURS = {2: QColor("#8a5a00"), 3: QColor("#1e6b2a")}
INVALID_COLOUR = QColor("#9a9a9a")
#: Qualitative colours for interest groups (the largest group gets the first); they repeat after ten.
GROUP_COLOURS = tuple(QColor(c) for c in ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                                          "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"))


def _group_colour(rank: int) -> QColor:
    return GROUP_COLOURS[rank % len(GROUP_COLOURS)]


def _tint(colour: QColor, alpha: int = 46) -> QColor:
    """``colour`` made translucent, for row backgrounds that keep text readable."""
    c = QColor(colour)
    c.setAlpha(alpha)
    return c


def _sid_text(sid: Sequence[int]) -> str:
    return "-".join(str(int(c)) for c in sid)


# ------------------------------------------------------------------------------------ engine jobs


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
class ListResult:
    """One generator's list for one request (built on a worker, read on the GUI thread)."""

    kind: str
    request_id: int
    items: tuple[dict, ...]  # {"rank", "item_id" (None: no item has the SID), "index" (-1 then), "title", "sid", "score"}
    invalid: int  # SIDs in the list that name no item (0 when constrained)
    seconds: float  # wall time of the decode
    instruction_used: bool  # the instruction reached the generator
    raw: dict = field(repr=False, compare=False)  # what :func:`genrec_engine.recommend` returned

    @property
    def indices(self) -> tuple[int, ...]:
        """Item indices of the rows, -1 for invalid SIDs."""
        return tuple(int(r["index"]) for r in self.items)


def instruction_supported(model) -> bool:
    """True when ``model`` reads an instruction and the engine's ``recommend`` can pass one."""
    return bool(getattr(model, "accepts_instruction", False)) and _recommend_takes_instruction()


def _recommend_takes_instruction() -> bool:
    # checked at call time: the instruction API may arrive with a newer engine
    try:
        return "instruction" in inspect.signature(recommend).parameters
    except (TypeError, ValueError):  # pragma: no cover - a builtin without a signature
        return False


def load_playground_generator(project, kind: str, *, progress: ProgressFn | None = None,
                              cancel: CancelToken | None = None) -> dict:
    """Load the project's ``kind`` generator on the CPU (a bridge job, ~40 ms).

    Returns ``{"kind", "model" (None when it could not be loaded), "error" (a message saying which
    command trains it, or None), "instruction" (bool: the generator reads instructions)}``.
    """
    if progress is not None:
        progress(0.0, f"loading the {KIND_LABELS.get(kind, kind)} generator")
    try:
        model = load_project_generator(project, kind)
    except GenrecError as exc:
        cmd = f"genrec train --project {shlex.quote(str(project.path))} --model {kind}"
        return {"kind": kind, "model": None, "instruction": False,
                "error": f"No usable {KIND_LABELS.get(kind, kind)} generator ({exc}). Train one with: {cmd}"}
    if progress is not None:
        progress(1.0, "loaded")
    return {"kind": kind, "model": model, "error": None, "instruction": instruction_supported(model)}


def prepare_playground(project, *, min_items: int = PREFILL_MIN_ITEMS, limit: int = USER_CHOICES,
                       progress: ProgressFn | None = None, cancel: CancelToken | None = None) -> dict:
    """What the history builder needs (a bridge job, ~0.1 s for 12k items and 22k users).

    Returns ``{"completions": [str] (one per item: "title · brand [id N]"), "completion_items":
    int64 [N] (the item index of each completion), "users": [(user_id, (item indices, oldest
    first))]}``: the leave-one-out **test** histories (cold items removed, the last
    :data:`MAX_HISTORY` items kept) of the first ``limit`` users with at least ``min_items`` items.
    """
    cat = project.dataset.catalogue
    frame = cat.items
    ids = project.sids.item_ids
    titles = frame["title"].astype(str).tolist()
    brands = frame["brand"].fillna("").astype(str).tolist() if "brand" in frame.columns else [""] * len(titles)
    completions = [f"{t or '(untitled)'} · {b} [id {int(i)}]" if b.strip() else f"{t or '(untitled)'} [id {int(i)}]"
                   for t, b, i in zip(titles, brands, ids)]
    if cancel is not None:
        cancel.raise_if_cancelled()
    if progress is not None:
        progress(0.5, "test users")
    split = leave_one_out(project.dataset)
    cold = np.asarray(project.cold_indices, dtype=np.int64)
    users: list[tuple[int, tuple[int, ...]]] = []
    for uid, hist in zip(split.user_ids, split.test_history):
        hist = np.asarray(hist, dtype=np.int64)
        if len(cold):
            hist = hist[~np.isin(hist, cold)]  # the generators never saw cold items
        if len(hist) >= min_items:
            users.append((int(uid), tuple(int(i) for i in hist[-MAX_HISTORY:])))
            if len(users) >= limit:
                break
    if progress is not None:
        progress(1.0, "ready")
    return {"completions": completions, "completion_items": np.arange(len(completions), dtype=np.int64),
            "users": users}


def recommend_list(project, kind: str, model, request: PlaygroundRequest, *, progress: ProgressFn | None = None,
                   cancel: CancelToken | None = None) -> ListResult:
    """Decode ``kind``'s top-k list for ``request`` with :func:`genrec_engine.recommend` (a bridge
    job; ~10-80 ms on a CPU for a 10-item history). ``model`` is the cached generator (read-only).
    The instruction is passed only when the generator reads one and the engine can pass it."""
    ids = [int(project.sids.item_ids[i]) for i in request.history]
    kwargs = dict(k=int(request.k), beam=max(int(request.beam), int(request.k)), constrained=bool(request.constrained),
                  exclude_history=bool(request.exclude_history), model=model)
    use_instruction = bool(request.instruction.strip()) and instruction_supported(model)
    if use_instruction:
        kwargs["instruction"] = request.instruction.strip()
    if cancel is not None:
        cancel.raise_if_cancelled()
    start = time.perf_counter()
    raw = recommend(project, kind, ids, **kwargs)
    seconds = time.perf_counter() - start
    cat = project.dataset.catalogue
    valid = [r["item_id"] for r in raw["items"] if r["item_id"] is not None]
    index = dict(zip(valid, cat.index_of(valid).tolist())) if valid else {}
    rows = tuple({**r, "index": int(index[r["item_id"]]) if r["item_id"] is not None else -1} for r in raw["items"])
    invalid = int(raw.get("invalid") or 0)
    return ListResult(kind, request.id, rows, max(invalid, 0), seconds, use_instruction, raw)


def overlap_counts(lists: Iterable[Iterable[int]]) -> dict[int, int]:
    """Item index -> number of lists it appears in, for items in at least two (``-1``, an invalid
    SID, never counts)."""
    counts: dict[int, int] = {}
    for items in lists:
        for i in {int(x) for x in items if int(x) >= 0}:
            counts[i] = counts.get(i, 0) + 1
    return {i: n for i, n in counts.items() if n >= 2}


# ------------------------------------------------------------------------------------ item models

_MIME = "application/x-genrec-history-row"

HISTORY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("#", "Position in the history (1 = oldest); the generators read it oldest first."),
    ("Title", "The item's title; the row is tinted with its interest group's colour."),
    ("SID", "The item's semantic ID."),
    ("Group", "The interest group: the SID prefix the item shares with other history items."),
)


class HistoryModel(QAbstractTableModel):
    """The history being built: item indices, oldest first, one row each.

    Rows can be moved by drag and drop (one row at a time) or with :meth:`move`. ``Qt.UserRole``
    of any cell is the row's item index; the row's background is its interest group's tint.
    """

    def __init__(self, parent=None):
        super().__init__(parent)
        self._items: list[int] = []
        self._titles: Callable[[int], str] | None = None
        self._codes = np.zeros((0, 0), dtype=np.int64)
        self._group_of: list[int] = []  # per row: rank of its interest group (-1: none)
        self._group_prefix: list[tuple[int, ...]] = []

    # ---- public ----
    def set_source(self, codes: np.ndarray | None, title: Callable[[int], str] | None) -> None:
        """Item facts of the open project (``codes`` int ``[N, D]``); the rows are cleared."""
        self.beginResetModel()
        self._codes = np.zeros((0, 0), dtype=np.int64) if codes is None else codes
        self._titles = title
        self._items, self._group_of, self._group_prefix = [], [], []
        self.endResetModel()

    def items(self) -> tuple[int, ...]:
        return tuple(self._items)

    def set_items(self, items: Iterable[int]) -> None:
        self.beginResetModel()
        self._items = [int(i) for i in items]
        self._group_of, self._group_prefix = [-1] * len(self._items), [()] * len(self._items)
        self.endResetModel()

    def add(self, items: Iterable[int], row: int | None = None) -> None:
        """Insert ``items`` before ``row`` (default: append, as the newest)."""
        new = [int(i) for i in items]
        if not new:
            return
        row = len(self._items) if row is None else max(0, min(int(row), len(self._items)))
        self.beginInsertRows(QModelIndex(), row, row + len(new) - 1)
        self._items[row:row] = new
        self._group_of[row:row] = [-1] * len(new)
        self._group_prefix[row:row] = [()] * len(new)
        self.endInsertRows()

    def remove(self, row: int) -> None:
        if 0 <= row < len(self._items):
            self.removeRows(row, 1)

    def move(self, row: int, to: int) -> bool:
        """Move the item on ``row`` so that it ends up on row ``to``; False when nothing moved."""
        n = len(self._items)
        if not (0 <= row < n and 0 <= to < n) or row == to:
            return False
        return self.moveRows(QModelIndex(), row, 1, QModelIndex(), to + 1 if to > row else to)

    def set_groups(self, groups: Sequence[InterestGroup]) -> None:
        """Colour rows by ``groups`` (their rank in the list is the colour)."""
        self._group_of = [-1] * len(self._items)
        self._group_prefix = [()] * len(self._items)
        for rank, g in enumerate(groups):
            for p in g.positions:
                if 0 <= p < len(self._items):
                    self._group_of[p], self._group_prefix[p] = rank, tuple(g.prefix)
        if self._items:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._items) - 1, len(HISTORY_COLUMNS) - 1),
                                  [Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.DecorationRole,
                                   Qt.ItemDataRole.DisplayRole])

    def group_rank(self, row: int) -> int:
        return self._group_of[row] if 0 <= row < len(self._group_of) else -1

    # ---- Qt model API ----
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._items)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(HISTORY_COLUMNS)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._items) or not 0 <= index.column() < len(HISTORY_COLUMNS):
            return None
        row, col = index.row(), index.column()
        item = self._items[row]
        rank = self._group_of[row] if row < len(self._group_of) else -1
        if role == Qt.ItemDataRole.UserRole:
            return item
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return str(row + 1)
            if col == 1:
                return self._title(item)
            if col == 2:
                return _sid_text(self._codes[item]) if item < len(self._codes) else ""
            prefix = self._group_prefix[row] if row < len(self._group_prefix) else ()
            return _sid_text(prefix) if prefix else ""
        if role == Qt.ItemDataRole.BackgroundRole and rank >= 0:
            return _tint(_group_colour(rank))
        if role == Qt.ItemDataRole.DecorationRole and col == 3 and rank >= 0:
            return _group_colour(rank)
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{self._title(item)}\nitem index {item}" + (f"\ninterest group {rank + 1}" if rank >= 0 else "")
        if role == Qt.ItemDataRole.TextAlignmentRole and col == 0:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(HISTORY_COLUMNS):
            if role == Qt.ItemDataRole.DisplayRole:
                return HISTORY_COLUMNS[section][0]
            if role == Qt.ItemDataRole.ToolTipRole:
                return HISTORY_COLUMNS[section][1]
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.ItemIsDropEnabled  # drops land between rows, never onto one
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled

    def removeRows(self, row: int, count: int, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> bool:
        if parent.isValid() or count < 1 or row < 0 or row + count > len(self._items):
            return False
        self.beginRemoveRows(QModelIndex(), row, row + count - 1)
        del self._items[row:row + count]
        del self._group_of[row:row + count]
        del self._group_prefix[row:row + count]
        self.endRemoveRows()
        return True

    def moveRows(self, sourceParent, sourceRow: int, count: int, destinationParent, destinationChild: int) -> bool:
        """Qt's move: ``destinationChild`` is the row (before the move) the block goes in front of."""
        n = len(self._items)
        if sourceParent.isValid() or destinationParent.isValid() or count < 1 or sourceRow < 0 or sourceRow + count > n:
            return False
        if sourceRow <= destinationChild <= sourceRow + count or not 0 <= destinationChild <= n:
            return False  # onto itself: nothing to do
        if not self.beginMoveRows(QModelIndex(), sourceRow, sourceRow + count - 1, QModelIndex(), destinationChild):
            return False
        for seq in (self._items, self._group_of, self._group_prefix):
            block = seq[sourceRow:sourceRow + count]
            del seq[sourceRow:sourceRow + count]
            at = destinationChild if destinationChild < sourceRow else destinationChild - count
            seq[at:at] = block
        self.endMoveRows()
        return True

    def supportedDropActions(self) -> Qt.DropAction:
        return Qt.DropAction.MoveAction

    def supportedDragActions(self) -> Qt.DropAction:
        return Qt.DropAction.MoveAction

    def mimeTypes(self) -> list[str]:
        return [_MIME]

    def mimeData(self, indexes) -> QMimeData:
        rows = sorted({i.row() for i in indexes if i.isValid()})
        data = QMimeData()
        data.setData(_MIME, QByteArray(struct.pack(f"<{len(rows)}i", *rows)))
        return data

    def dropMimeData(self, data: QMimeData, action: Qt.DropAction, row: int, column: int, parent) -> bool:
        """Move the dragged row in front of ``row`` (onto a row: in front of it; below the last row:
        to the end). Returns False on purpose: the move is already done, and True with a move
        action would make the view delete the source rows a second time."""
        if action != Qt.DropAction.MoveAction or not data.hasFormat(_MIME):
            return False
        raw = bytes(data.data(_MIME).data())
        rows = list(struct.unpack(f"<{len(raw) // 4}i", raw))
        if len(rows) != 1:
            return False
        if row < 0:
            row = parent.row() if parent is not None and parent.isValid() else len(self._items)
        self.moveRows(QModelIndex(), rows[0], 1, QModelIndex(), row)
        return False

    # ---- private ----
    def _title(self, item: int) -> str:
        text = self._titles(item) if self._titles is not None else ""
        return text or f"item {item}"


RESULT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("#", "Rank in this generator's list."),
    ("Title", "The recommended item; greyed when the generated SID names no item (unconstrained mode)."),
    ("SID", "The generated semantic ID."),
    ("Score", "Beam generators: the SID's log-probability (sum over its tokens). SASRec: the item's dense score."),
    ("Shared", "×2 / ×3: the item is also in one / both of the other generators' lists."),
)
_R_RANK, _R_TITLE, _R_SID, _R_SCORE, _R_SHARED = range(len(RESULT_COLUMNS))


class ResultsModel(QAbstractTableModel):
    """One generator's top-k list: rank, title, SID, score and how many lists share the item.

    ``ITEM_ROLE`` is the row's item index (-1: the SID names no item), ``OVERLAP_ROLE`` the number
    of lists holding the item (1, 2 or 3), ``INVALID_ROLE`` whether the SID names no item;
    ``Qt.UserRole`` the raw cell value.
    """

    ITEM_ROLE = Qt.ItemDataRole.UserRole + 1
    OVERLAP_ROLE = Qt.ItemDataRole.UserRole + 2
    INVALID_ROLE = Qt.ItemDataRole.UserRole + 3

    def __init__(self, kind: str = "", parent=None):
        super().__init__(parent)
        self.kind = kind
        self._rows: tuple[dict, ...] = ()
        self._shared: dict[int, tuple[str, ...]] = {}  # item index -> the other lists that hold it

    # ---- public ----
    def set_rows(self, rows: Sequence[dict]) -> None:
        """Show ``rows`` (see :class:`ListResult.items`); the overlap marks are cleared."""
        self.beginResetModel()
        self._rows = tuple(rows)
        self._shared = {}
        self.endResetModel()

    def clear(self) -> None:
        self.set_rows(())

    def set_shared(self, shared: dict[int, tuple[str, ...]]) -> None:
        """Mark items that other lists also hold: item index -> names of those lists."""
        self._shared = dict(shared)
        if self._rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._rows) - 1, len(RESULT_COLUMNS) - 1))

    def item_at(self, row: int) -> int:
        return int(self._rows[row]["index"])

    def items(self) -> tuple[int, ...]:
        return tuple(int(r["index"]) for r in self._rows)

    # ---- Qt model API ----
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(RESULT_COLUMNS)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._rows) or not 0 <= index.column() < len(RESULT_COLUMNS):
            return None
        r, col = self._rows[index.row()], index.column()
        item = int(r["index"])
        invalid = item < 0
        others = self._shared.get(item, ()) if not invalid else ()
        n_lists = 1 + len(others) if not invalid else 0
        if role == self.ITEM_ROLE:
            return item
        if role == self.OVERLAP_ROLE:
            return n_lists
        if role == self.INVALID_ROLE:
            return invalid
        if role == Qt.ItemDataRole.DisplayRole:
            if col == _R_RANK:
                return str(r["rank"])
            if col == _R_TITLE:
                return r["title"] or f"item {r['item_id']}"
            if col == _R_SID:
                return _sid_text(r["sid"])
            if col == _R_SCORE:
                return f"{r['score']:.3f}"
            return f"×{n_lists}" if n_lists >= 2 else ""
        if role == Qt.ItemDataRole.UserRole:
            return (int(r["rank"]), str(r["title"]), tuple(r["sid"]), float(r["score"]), n_lists)[col]
        if role == Qt.ItemDataRole.BackgroundRole and n_lists >= 2:
            return OVERLAP_COLOURS[min(n_lists, 3)]
        if role == Qt.ItemDataRole.ForegroundRole:
            if invalid:
                return INVALID_COLOUR
            if col == _R_SHARED and n_lists >= 2:
                return _BADGE_COLOURS[min(n_lists, 3)]
        if role == Qt.ItemDataRole.FontRole and (invalid or (col == _R_SHARED and n_lists >= 2)):
            font = QFont()
            font.setItalic(invalid)
            font.setBold(not invalid)
            return font
        if role == Qt.ItemDataRole.ToolTipRole:
            if invalid:
                return f"SID {_sid_text(r['sid'])} names no item: an invalid generation (unconstrained decoding)."
            tip = f"{r['title']}\nitem id {r['item_id']} · SID {_sid_text(r['sid'])} · score {r['score']:.4f}"
            if others:
                tip += "\nalso recommended by " + " and ".join(KIND_LABELS.get(o, o) for o in others)
            return tip
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (_R_RANK, _R_SCORE, _R_SHARED):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(RESULT_COLUMNS):
            if role == Qt.ItemDataRole.DisplayRole:
                return RESULT_COLUMNS[section][0]
            if role == Qt.ItemDataRole.ToolTipRole:
                return RESULT_COLUMNS[section][1]
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable


GROUP_COLUMNS: tuple[tuple[str, str], ...] = (
    ("Prefix", "The SID prefix the group's items share (its colour tints their history rows)."),
    ("Items", "How many history items fall in the group."),
    ("Recency", "Steps since the group's latest item (0: it holds the newest history item)."),
    ("Representative titles", "The group's newest items (up to three)."),
)


class GroupsModel(QAbstractTableModel):
    """The interest groups of the history (see :func:`genrec_engine.interest_groups`), largest
    first. ``Qt.UserRole`` is the raw value of a cell (prefix tuple, size, recency, titles tuple)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._groups: list[InterestGroup] = []

    def set_groups(self, groups: Sequence[InterestGroup]) -> None:
        self.beginResetModel()
        self._groups = list(groups)
        self.endResetModel()

    def groups(self) -> list[InterestGroup]:
        return list(self._groups)

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._groups)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(GROUP_COLUMNS)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._groups) or not 0 <= index.column() < len(GROUP_COLUMNS):
            return None
        g, col = self._groups[index.row()], index.column()
        if role == Qt.ItemDataRole.UserRole:
            return (tuple(g.prefix), g.size, g.recency, tuple(g.titles))[col]
        if role == Qt.ItemDataRole.DisplayRole:
            return (_sid_text(g.prefix), str(g.size), str(g.recency), " · ".join(g.titles))[col]
        if role == Qt.ItemDataRole.DecorationRole and col == 0:
            return _group_colour(index.row())
        if role == Qt.ItemDataRole.BackgroundRole:
            return _tint(_group_colour(index.row()))
        if role == Qt.ItemDataRole.ToolTipRole:
            return "\n".join(g.titles) if col == 3 else GROUP_COLUMNS[col][1]
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (1, 2):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(GROUP_COLUMNS):
            if role == Qt.ItemDataRole.DisplayRole:
                return GROUP_COLUMNS[section][0]
            if role == Qt.ItemDataRole.ToolTipRole:
                return GROUP_COLUMNS[section][1]
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable


# ----------------------------------------------------------------------------------------- panel

_INTRO = (
    "Build a history (oldest first), then compare what three generators recommend next: the "
    "TIGER-style and RAN generators decode semantic IDs with beam search over the prefix trie, "
    "SASRec scores atomic item ids. Items that two or three lists share are tinted; the history's "
    "interest groups (items sharing a SID prefix) are on the right."
)
_EMPTY_TEXT = "<p>Open a project with <b>File › Open project…</b> to try its generators on a history.</p>"
_NO_INSTRUCTION_TIP = ("Disabled: none of this project's generators was trained with instructions, so an "
                       "instruction would not change their lists.")
_NOTHING_TO_DECODE = "Add items to the history to see this generator's recommendations."
_NO_INSTRUCTION_API_TIP = "Disabled: this version of the engine cannot pass an instruction to a generator."


def _table(model: QAbstractTableModel) -> QTableView:
    view = QTableView()
    view.setModel(model)
    view.verticalHeader().setVisible(False)
    view.verticalHeader().setDefaultSectionSize(view.fontMetrics().height() + 6)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setWordWrap(False)
    view.horizontalHeader().setHighlightSections(False)
    return view


def _fit(view: QTableView, widths: dict[int, int], stretch: int) -> None:
    hh = view.horizontalHeader()
    hh.setStretchLastSection(False)
    for col, w in widths.items():
        hh.resizeSection(col, w)
    hh.setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)


def _expert(widget: QWidget) -> QWidget:
    """Mark a technical control: presenter mode hides it."""
    widget.setProperty("expert", True)
    return widget


class _ResultColumn(QWidget):
    """One generator's list: a heading, a status line and the table."""

    def __init__(self, kind: str, model: ResultsModel, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(3)
        self.heading = _heading(KIND_LABELS[kind], 1.1)
        self.heading.setToolTip(_KIND_NOTES[kind])
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.RichText)
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.view = _table(model)
        self.view.setToolTip(f"{_KIND_NOTES[kind]} Click a row to select the item in every panel.")
        _fit(self.view, {_R_RANK: 28, _R_SID: 104, _R_SCORE: 58, _R_SHARED: 46}, _R_TITLE)
        lay.addWidget(self.heading)
        lay.addWidget(self.status)
        lay.addWidget(self.view, 1)


class PlaygroundPanel(QWidget):
    """History builder, instruction and options; three generators' lists side by side.

    Built as ``PlaygroundPanel(view_model, selection, bridge)``. Clicking a result (or a history
    row) selects that item with source ``"playground"``; selections made elsewhere only feed the
    "Use selected items" button.
    """

    # ---- signals ----
    sig_ready = Signal()
    """Once per project: the three lists show the results of the first request."""

    sig_results_shown = Signal(int)
    """``(request_id)``: every list now shows (or reports an error for) request ``request_id``."""

    sig_list_shown = Signal(str, int)
    """``(kind, request_id)``: the ``kind`` list now shows the results of request ``request_id``."""

    sig_request_started = Signal(object)
    """``(PlaygroundRequest)``: a new request was sent to the generators (after the debounce)."""

    def __init__(self, view_model: ProjectViewModel, selection: Selection, bridge: EngineBridge,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self._vm, self._selection, self._bridge = view_model, selection, bridge
        self._snapshot: ProjectSnapshot | None = None
        self._generation = 0  # bumped per project: results of older jobs are dropped
        self._jobs: dict[int, tuple[str, str, int, int]] = {}  # job id -> (what, kind, generation, request id)
        self._models: dict[str, object] = {}  # kind -> loaded generator (cached for the project)
        self._load_errors: dict[str, str] = {}  # kind -> why it could not be loaded
        self._instruction_kinds: set[str] = set()  # kinds whose generator reads instructions
        self._inflight: dict[str, int] = {}  # kind -> its decode job in flight
        self._request_ids = itertools.count(1)
        self._request: PlaygroundRequest | None = None  # the newest request sent
        self._shown: dict[str, ListResult] = {}  # kind -> the list on screen
        self._list_errors: dict[str, tuple[int, str]] = {}  # kind -> (request id, message)
        self._completions: dict[str, int] = {}
        self._id_index: dict[int, int] = {}
        self._users: list[tuple[int, tuple[int, ...]]] = []
        self._groups: list[InterestGroup] = []
        self._prepared = False
        self._ready = False

        self.history_model = HistoryModel(self)
        self.groups_model = GroupsModel(self)
        self.result_models = {kind: ResultsModel(kind, self) for kind in KINDS}

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self.run_now)

        self._stack = QStackedWidget(self)
        self._empty_page = _centred_column(_heading("No project open", 1.6), QLabel(_EMPTY_TEXT))
        self._main_page = self._build_main_page()
        self._stack.addWidget(self._empty_page)
        self._stack.addWidget(self._main_page)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 8, 10, 8)
        lay.addWidget(self._stack)

        self.history_model.rowsInserted.connect(self._on_history_changed)
        self.history_model.rowsRemoved.connect(self._on_history_changed)
        self.history_model.rowsMoved.connect(self._on_history_changed)
        self.history_model.modelReset.connect(self._on_history_changed)
        bridge.sig_result.connect(self._on_result)
        bridge.sig_error.connect(self._on_error)
        bridge.sig_finished.connect(self._on_finished)
        selection.sig_changed.connect(self._on_selection)
        view_model.sig_project_changed.connect(self._on_project_changed)
        self._on_project_changed(view_model.snapshot)

    # ---- public ----
    def screenshot_ready(self) -> bool:
        """True when every list shows the results (or a final error) of the newest request, no
        request is waiting in the debounce and no job of this panel is running."""
        if self._snapshot is None or self._request is None or self._timer.isActive() or self._jobs:
            return False
        rid = self._request.id
        settled = [k for k in KINDS if self._shown_id(k) == rid or self._list_errors.get(k, (None,))[0] == rid
                   or k in self._load_errors]
        return len(settled) == len(KINDS) and any(self._shown_id(k) == rid for k in KINDS)

    def page(self) -> str:
        """``"empty"`` or ``"playground"``."""
        return "empty" if self._stack.currentWidget() is self._empty_page else "playground"

    def history(self) -> tuple[int, ...]:
        """The history being built: item indices, oldest first."""
        return self.history_model.items()

    def set_history(self, items: Iterable[int]) -> None:
        """Replace the history (item indices, oldest first; the last :data:`MAX_HISTORY` kept)."""
        items = [int(i) for i in items][-MAX_HISTORY:]
        self.history_model.set_items(items)

    def add_items(self, items: Iterable[int]) -> None:
        """Append items as the newest (the oldest drop out beyond :data:`MAX_HISTORY`)."""
        items = [int(i) for i in items]
        room = MAX_HISTORY - self.history_model.rowCount()
        if len(items) > room:
            self.set_history(list(self.history()) + items)
        else:
            self.history_model.add(items)

    def move_current(self, delta: int) -> None:
        """Move the current history row ``delta`` rows (-1: up/older, +1: down/newer)."""
        row = self._history_view.currentIndex().row()
        to = row + int(delta)
        if self.history_model.move(row, to):
            self._history_view.setCurrentIndex(self.history_model.index(to, 1))

    def remove_current(self) -> None:
        row = self._history_view.currentIndex().row()
        if row >= 0:
            self.history_model.remove(row)

    def use_test_user(self, position: int) -> None:
        """Take the test history of the ``position``-th user of the picker."""
        if 0 <= position < len(self._users):
            self._user_combo.setCurrentIndex(position)
            self.set_history(self._users[position][1])

    def test_users(self) -> list[tuple[int, tuple[int, ...]]]:
        """``(user_id, test history)`` of the users the picker offers."""
        return list(self._users)

    def use_selected_items(self) -> None:
        """Replace the history by the items selected in the linked selection (the first
        :data:`MAX_HISTORY`, in the selection's order)."""
        items = self._selection.current.items
        if items:
            self.set_history(list(items)[:MAX_HISTORY])

    def add_from_text(self, text: str | None = None) -> int | None:
        """Add the item that ``text`` (default: the search box) names: a completion, an item id
        (``123`` or ``id:123``), else the first item whose title, brand or id contains it.
        Returns the item index added, or None (the status line says why)."""
        text = (self._search.text() if text is None else text).strip()
        if not text or self._snapshot is None:
            return None
        item = self._resolve(text)
        if item is None:
            self._history_status.setText(f"No item matches “{html.escape(text)}”.")
            return None
        self.add_items([item])
        self._search.clear()
        return item

    def request(self) -> PlaygroundRequest | None:
        """The newest request sent to the generators."""
        return self._request

    def pending_request(self) -> PlaygroundRequest:
        """The request the current controls describe (what the next run will send)."""
        return PlaygroundRequest(
            id=0, history=self.history(), instruction=self._instruction.text() if self._instruction.isEnabled() else "",
            constrained=self._constrained.isChecked(), k=self._k.value(), beam=self._beam.value(),
            exclude_history=self._exclude.isChecked())

    def run_now(self) -> None:
        """Send the current request now (skipping the debounce)."""
        self._timer.stop()
        if self._snapshot is None:
            return
        pending = self.pending_request()
        self._request = PlaygroundRequest(next(self._request_ids), pending.history, pending.instruction,
                                          pending.constrained, pending.k, pending.beam, pending.exclude_history)
        self.sig_request_started.emit(self._request)
        for kind in KINDS:
            self._dispatch(kind)
        self._update_statuses()

    def shown_result(self, kind: str) -> ListResult | None:
        """The list ``kind`` shows (None before its first result)."""
        return self._shown.get(kind)

    def invalid_count(self, kind: str) -> int:
        r = self._shown.get(kind)
        return r.invalid if r is not None else 0

    def overlap(self) -> dict[int, int]:
        """Item index -> lists holding it, for items shown in at least two lists."""
        return overlap_counts(r.indices for r in self._shown.values())

    def interest_groups(self) -> list[InterestGroup]:
        """The groups drawn beside the history."""
        return list(self._groups)

    def group_bar_heights(self) -> np.ndarray:
        """The group sizes as drawn in the bar chart (float ``[G]``)."""
        return np.asarray(self._bars.opts["height"], dtype=float)

    def list_status(self, kind: str) -> str:
        return self._columns[kind].status.text()

    def instruction_enabled(self) -> bool:
        return self._instruction.isEnabled()

    def models_loaded(self) -> bool:
        return all(k in self._models or k in self._load_errors for k in KINDS)

    # widgets (tests, export)
    @property
    def history_view(self) -> QTableView:
        return self._history_view

    @property
    def groups_view(self) -> QTableView:
        return self._groups_view

    def result_view(self, kind: str) -> QTableView:
        return self._columns[kind].view

    @property
    def search_edit(self) -> QLineEdit:
        return self._search

    @property
    def instruction_edit(self) -> QLineEdit:
        return self._instruction

    @property
    def constrained_check(self) -> QCheckBox:
        return self._constrained

    @property
    def exclude_check(self) -> QCheckBox:
        return self._exclude

    @property
    def k_spin(self) -> QSpinBox:
        return self._k

    @property
    def beam_spin(self) -> QSpinBox:
        return self._beam

    @property
    def depth_spin(self) -> QSpinBox:
        return self._depth

    @property
    def user_combo(self) -> QComboBox:
        return self._user_combo

    @property
    def buttons(self) -> dict[str, QPushButton]:
        """``"add"``, ``"up"``, ``"down"``, ``"remove"``, ``"clear"``, ``"use_selected"``."""
        return dict(self._buttons)

    # ---- private: layout ----
    def _build_main_page(self) -> QWidget:
        page = QWidget()
        lay = QVBoxLayout(page)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(6)
        intro = QLabel(_INTRO)
        intro.setWordWrap(True)
        lay.addWidget(intro)

        split = QSplitter(Qt.Orientation.Vertical)
        split.setChildrenCollapsible(False)
        top = QSplitter(Qt.Orientation.Horizontal)
        top.setChildrenCollapsible(False)
        top.addWidget(self._build_history_box())
        top.addWidget(self._build_groups_box())
        top.setStretchFactor(0, 3)
        top.setStretchFactor(1, 2)
        top.setSizes([720, 540])
        split.addWidget(top)
        split.addWidget(self._build_results())
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        split.setSizes([330, 380])
        lay.addWidget(split, 1)
        return page

    def _build_history_box(self) -> QWidget:
        box = QGroupBox("History (oldest first)")
        lay = QVBoxLayout(box)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.setSpacing(4)
        self._buttons: dict[str, QPushButton] = {}

        row = QHBoxLayout()
        self._search = QLineEdit()
        self._search.setPlaceholderText("Add an item: type part of a title or brand, or an item id, then Enter")
        self._search.setClearButtonEnabled(True)
        self._search.returnPressed.connect(lambda: self.add_from_text())
        self._completer_model = QStringListModel(self)
        self._completer = QCompleter(self._completer_model, self)
        self._completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self._completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self._completer.setMaxVisibleItems(12)
        self._completer.activated.connect(self._on_completion)
        self._search.setCompleter(self._completer)
        self._buttons["add"] = QPushButton("Add")
        self._buttons["add"].setToolTip("Append the item named in the box as the newest history item.")
        self._buttons["add"].clicked.connect(lambda: self.add_from_text())
        row.addWidget(self._search, 1)
        row.addWidget(self._buttons["add"])
        lay.addLayout(row)

        row = QHBoxLayout()
        row.addWidget(QLabel("Test user:"))
        self._user_combo = QComboBox()
        self._user_combo.setToolTip("Use the history a test user had before their held-out last item "
                                    "(leave-one-out split).")
        self._user_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self._user_combo.setMinimumContentsLength(16)
        self._user_combo.setPlaceholderText("custom history (pick a test user to replace it)")
        self._user_combo.activated.connect(self.use_test_user)
        row.addWidget(self._user_combo, 1)
        self._buttons["use_selected"] = QPushButton("Use selected items")
        self._buttons["use_selected"].setToolTip("Replace the history by the items selected in another panel "
                                                 "(tree, map, weights).")
        self._buttons["use_selected"].clicked.connect(self.use_selected_items)
        self._buttons["use_selected"].setEnabled(False)
        row.addWidget(self._buttons["use_selected"])
        lay.addLayout(row)

        self._history_view = _table(self.history_model)
        self._history_view.setDragEnabled(True)
        self._history_view.setAcceptDrops(True)
        self._history_view.setDropIndicatorShown(True)
        self._history_view.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self._history_view.setDragDropOverwriteMode(False)
        self._history_view.setDefaultDropAction(Qt.DropAction.MoveAction)
        self._history_view.setToolTip("Drag a row to reorder; Delete removes it; a click selects the item in "
                                      "every panel.")
        self._history_view.clicked.connect(self._on_history_clicked)
        _fit(self._history_view, {0: 30, 2: 92, 3: 74}, 1)
        remove = QAction("Remove from history", self._history_view)
        remove.setShortcut(QKeySequence(Qt.Key.Key_Delete))
        remove.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        remove.triggered.connect(self.remove_current)
        self._history_view.addAction(remove)
        lay.addWidget(self._history_view, 1)

        row = QHBoxLayout()
        for key, text, tip, slot in (
            ("up", "▲ Older", "Move the chosen item one step earlier in the history.", lambda: self.move_current(-1)),
            ("down", "▼ Newer", "Move the chosen item one step later in the history.", lambda: self.move_current(1)),
            ("remove", "Remove", "Remove the chosen item (Delete).", self.remove_current),
            ("clear", "Clear", "Empty the history.",
             lambda: self.set_history([])),
        ):
            button = QPushButton(text)
            button.setToolTip(tip)
            button.clicked.connect(slot)
            self._buttons[key] = button
            row.addWidget(button)
        self._history_status = QLabel("")
        self._history_status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        row.addWidget(self._history_status, 1)
        lay.addLayout(row)
        return box

    def _build_groups_box(self) -> QWidget:
        box = QGroupBox("Interest groups of the history")
        lay = QVBoxLayout(box)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.setSpacing(4)
        row = QHBoxLayout()
        row.addWidget(QLabel("Group by the first"))
        self._depth = QSpinBox()
        self._depth.setRange(1, 1)
        self._depth.setToolTip("Items whose SIDs start with the same codes form one interest group.")
        self._depth.valueChanged.connect(self._update_groups)
        row.addWidget(self._depth)
        row.addWidget(QLabel("SID code(s) ·"))
        self._groups_summary = QLabel("")
        self._groups_summary.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        row.addWidget(self._groups_summary, 1)
        lay.addLayout(row)

        self._plot = pg.PlotWidget(background="w")
        self._plot.setMenuEnabled(False)
        self._plot.hideButtons()
        self._plot.setMouseEnabled(x=False, y=False)
        self._plot.setFixedHeight(110)
        self._plot.setLabel("left", "items", color="#303030")
        for axis in ("left", "bottom"):
            ax = self._plot.getAxis(axis)
            ax.setPen(pg.mkPen("#606060"))
            ax.setTextPen(pg.mkPen("#303030"))
        self._plot.getAxis("left").setWidth(40)
        self._bars = pg.BarGraphItem(x=np.zeros(0), height=np.zeros(0), width=0.7, brushes=[], pen=pg.mkPen(None))
        self._plot.addItem(self._bars)
        self._plot.setToolTip("History items per interest group, largest group first (colours as in the history).")
        lay.addWidget(self._plot)

        self._groups_view = _table(self.groups_model)
        _fit(self._groups_view, {0: 84, 1: 44, 2: 56}, 3)
        lay.addWidget(self._groups_view, 1)
        return box

    def _build_results(self) -> QWidget:
        w = QWidget()
        lay = QVBoxLayout(w)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        row = QHBoxLayout()
        row.addWidget(QLabel("Instruction:"))
        self._instruction = QLineEdit()
        self._instruction.setPlaceholderText("e.g. a gentle cleanser for sensitive skin")
        self._instruction.setClearButtonEnabled(True)
        self._instruction.setEnabled(False)
        self._instruction.setToolTip("Loading the generators…")
        self._instruction.textChanged.connect(self._schedule)
        row.addWidget(self._instruction, 1)
        self._constrained = QCheckBox("Constrained")
        self._constrained.setChecked(True)
        self._constrained.setToolTip("On: the prefix trie masks every token that would leave the catalogue, so every "
                                     "SID is an item. Off: free decoding; SIDs that name no item are greyed and counted.")
        self._constrained.toggled.connect(self._schedule)
        self._exclude = QCheckBox("Hide history items")
        self._exclude.setToolTip("Never recommend an item that is already in the history.")
        self._exclude.toggled.connect(self._schedule)
        self._k = QSpinBox()
        self._k.setRange(1, 50)
        self._k.setValue(10)
        self._k.setPrefix("k = ")
        self._k.setToolTip("How many items each list shows.")
        self._k.valueChanged.connect(self._schedule)
        self._beam = QSpinBox()
        self._beam.setRange(1, 100)
        self._beam.setValue(20)
        self._beam.setPrefix("beam = ")
        self._beam.setToolTip("Beams kept per SID level by the TIGER-style and RAN generators (at least k).")
        self._beam.valueChanged.connect(self._schedule)
        for control in (self._constrained, self._exclude, self._k, self._beam):
            row.addWidget(_expert(control))
        lay.addLayout(row)

        legend = QLabel(
            f"<span style='background:{OVERLAP_COLOURS[2].name()}'>&nbsp;×2&nbsp;</span> in two lists &nbsp; "
            f"<span style='background:{OVERLAP_COLOURS[3].name()}'>&nbsp;×3&nbsp;</span> in all three lists &nbsp; "
            f"<span style='color:{INVALID_COLOUR.name()}'><i>grey italic</i></span>: generated SID names no item "
            "(unconstrained decoding)")
        legend.setTextFormat(Qt.TextFormat.RichText)
        self._request_label = QLabel("")
        self._request_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._request_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        row = QHBoxLayout()
        row.addWidget(legend)
        row.addWidget(self._request_label, 1)
        lay.addLayout(row)

        lists = QHBoxLayout()
        lists.setSpacing(8)
        self._columns = {kind: _ResultColumn(kind, self.result_models[kind]) for kind in KINDS}
        for kind, col in self._columns.items():
            col.view.clicked.connect(lambda index, kind=kind: self._on_result_clicked(kind, index))
            lists.addWidget(col, 1)
        lay.addLayout(lists, 1)
        return w

    # ---- private: project ----
    def _on_project_changed(self, snapshot: ProjectSnapshot | None) -> None:
        for job_id in list(self._jobs):
            self._bridge.cancel(job_id)
        self._generation += 1
        self._timer.stop()
        self._snapshot = snapshot
        self._models, self._load_errors, self._instruction_kinds = {}, {}, set()
        self._inflight, self._shown, self._list_errors = {}, {}, {}
        self._request = None
        self._prepared = self._ready = False
        self._users, self._completions, self._id_index = [], {}, {}
        self._completer_model.setStringList([])
        self._user_combo.clear()
        for model in self.result_models.values():
            model.clear()
        if snapshot is None:
            self.history_model.set_source(None, None)
            self._stack.setCurrentWidget(self._empty_page)
            return
        project = snapshot.project
        self._depth.blockSignals(True)
        self._depth.setRange(1, max(1, int(project.sids.levels)))
        self._depth.setValue(1)
        self._depth.blockSignals(False)
        self.history_model.set_source(project.sids.codes, project.dataset.catalogue.title)
        self._id_index = {int(i): n for n, i in enumerate(project.sids.item_ids)}
        self._stack.setCurrentWidget(self._main_page)
        self._update_instruction_box()
        for kind in KINDS:
            self._submit("load", kind, 0, load_playground_generator, project, kind,
                         name=f"load {KIND_LABELS[kind]} generator")
        self._submit("prepare", "", 0, prepare_playground, project, name="playground test users")
        self._update_statuses()

    # ---- private: jobs ----
    def _submit(self, what: str, kind: str, request_id: int, fn: Callable, *args, name: str, **kwargs) -> int:
        job = self._bridge.submit(fn, *args, name=name, **kwargs)
        self._jobs[job.id] = (what, kind, self._generation, request_id)
        return job.id

    def _dispatch(self, kind: str) -> None:
        """Decode the newest request for ``kind`` unless it is shown, in flight, or the generator
        is not there yet (its load result dispatches again) or missing."""
        req, snapshot = self._request, self._snapshot
        if req is None or snapshot is None or kind in self._load_errors or kind not in self._models:
            return
        if kind in self._inflight or self._shown_id(kind) == req.id:
            return  # a running decode of an older request re-dispatches when it finishes
        if not req.history and not (req.instruction.strip() and kind in self._instruction_kinds):
            # nothing to condition on: the engine refuses, so say what to add instead
            self._shown.pop(kind, None)
            self.result_models[kind].clear()
            self._list_errors[kind] = (req.id, _NOTHING_TO_DECODE)
            self._mark_overlap()
            return
        self._inflight[kind] = self._submit("decode", kind, req.id, recommend_list, snapshot.project, kind,
                                            self._models[kind], req, name=f"{KIND_LABELS[kind]} recommendations")

    def _shown_id(self, kind: str) -> int | None:
        r = self._shown.get(kind)
        return r.request_id if r is not None else None

    def _on_finished(self, job_id: int) -> None:
        entry = self._jobs.pop(job_id, None)
        if entry is None:
            return
        what, kind, generation, _ = entry
        if generation != self._generation:
            return
        if what == "decode" and self._inflight.get(kind) == job_id:
            del self._inflight[kind]
            self._dispatch(kind)  # a newer request may be waiting
        self._update_statuses()
        self._check_ready()

    def _on_error(self, job_id: int, message: str) -> None:
        entry = self._jobs.get(job_id)
        if entry is None or entry[2] != self._generation:
            return
        what, kind, _, request_id = entry
        if what == "load":
            self._load_errors[kind] = message
            self._update_instruction_box()
        elif what == "decode":
            self._list_errors[kind] = (request_id, message)
        else:
            self._history_status.setText(f"Could not list the test users: {message}")
            self._prepared = True
            self.run_now()

    def _on_result(self, job_id: int, result: object) -> None:
        entry = self._jobs.get(job_id)
        if entry is None or entry[2] != self._generation or self._snapshot is None:
            return
        what, kind, _, request_id = entry
        if what == "load":
            self._on_generator(result)  # type: ignore[arg-type]
        elif what == "prepare":
            self._on_prepared(result)  # type: ignore[arg-type]
        elif what == "decode" and self._request is not None and request_id == self._request.id:
            self._show_list(result)  # type: ignore[arg-type]
        # else: the answer to an older request; a newer one is (or will be) decoding

    def _on_generator(self, result: dict) -> None:
        kind = result["kind"]
        if result["model"] is None:
            self._load_errors[kind] = result["error"]
        else:
            self._models[kind] = result["model"]
            if result["instruction"]:
                self._instruction_kinds.add(kind)
        self._update_instruction_box()
        self._dispatch(kind)

    def _on_prepared(self, result: dict) -> None:
        self._completions = dict(zip(result["completions"], (int(i) for i in result["completion_items"])))
        self._completer_model.setStringList(list(result["completions"]))
        self._users = list(result["users"])
        self._user_combo.blockSignals(True)
        self._user_combo.clear()
        for uid, hist in self._users:
            self._user_combo.addItem(f"user {uid} · {len(hist)} items", uid)
        self._user_combo.blockSignals(False)
        self._prepared = True
        if not self.history() and self._users:  # first look: a real history, decoded at once
            self.use_test_user(0)
        self.run_now()

    def _show_list(self, result: ListResult) -> None:
        self._list_errors.pop(result.kind, None)
        self._shown[result.kind] = result
        self.result_models[result.kind].set_rows(result.items)
        self._mark_overlap()
        self.sig_list_shown.emit(result.kind, result.request_id)

    def _mark_overlap(self) -> None:
        """Tint items that another *current* list holds too (lists of older requests do not count)."""
        rid = self._request.id if self._request is not None else None
        current = {k: set(r.indices) - {-1} for k, r in self._shown.items() if r.request_id == rid}
        for kind, model in self.result_models.items():
            mine = current.get(kind, set())
            shared = {i: tuple(o for o in KINDS if o != kind and i in current.get(o, ())) for i in mine}
            model.set_shared({i: others for i, others in shared.items() if others})

    def _check_ready(self) -> None:
        if not self.screenshot_ready():
            return
        self.sig_results_shown.emit(self._request.id)
        if not self._ready:
            self._ready = True
            self.sig_ready.emit()

    # ---- private: request state ----
    def _schedule(self, *_) -> None:
        """Something the request depends on changed: send it after a quiet ~300 ms."""
        if self._snapshot is None or not self._prepared:
            return
        self._timer.start()
        self._update_statuses()

    def _on_history_changed(self, *_) -> None:
        self._update_groups()
        n = self.history_model.rowCount()
        full = " (the most the generators read)" if n >= MAX_HISTORY else ""
        self._history_status.setText(f"{n} item{'s' if n != 1 else ''}{full}")
        pos = self._user_combo.currentIndex()
        if 0 <= pos < len(self._users) and self._users[pos][1] != self.history():
            self._user_combo.setCurrentIndex(-1)  # the placeholder: no test user's history any more
        has_rows = n > 0
        for key in ("up", "down", "remove", "clear"):
            self._buttons[key].setEnabled(has_rows)
        self._schedule()

    def _update_groups(self, *_) -> None:
        snapshot = self._snapshot
        history = self.history()
        if snapshot is None or not history:
            self._groups = []
        else:
            project = snapshot.project
            self._groups = interest_groups(project.sids.codes, history, project.dataset.catalogue.title,
                                           depth=self._depth.value())
        self.groups_model.set_groups(self._groups)
        self.history_model.set_groups(self._groups)
        sizes = np.array([g.size for g in self._groups], dtype=float)
        x = np.arange(len(sizes), dtype=float)
        self._bars.setOpts(x=x, height=sizes, brushes=[_group_colour(r) for r in range(len(sizes))])
        shown = min(len(sizes), 16)
        ticks = [(float(r), _sid_text(g.prefix)) for r, g in enumerate(self._groups[:shown])]
        self._plot.getAxis("bottom").setTicks([ticks, []])
        self._plot.setXRange(-0.6, max(shown, 4) - 0.4, padding=0)
        top_size = max(float(sizes.max()) if len(sizes) else 1.0, 1.0)
        step = float(max(1, int(np.ceil(top_size / 4))))  # whole items: never a 0.5 tick
        self._plot.getAxis("left").setTickSpacing(major=step, minor=step)
        self._plot.setYRange(0, top_size * 1.1, padding=0)
        if self._groups:
            top = self._groups[0]
            self._groups_summary.setText(
                f"{len(self._groups)} group{'s' if len(self._groups) != 1 else ''}; the largest "
                f"({_sid_text(top.prefix)}) holds {top.size} of {len(history)} items")
        else:
            self._groups_summary.setText("")

    def _update_instruction_box(self) -> None:
        box = self._instruction
        if not self.models_loaded():
            box.setEnabled(False)
            box.setToolTip("Loading the generators…")
            return
        if not _recommend_takes_instruction():
            box.setEnabled(False)
            box.setToolTip(_NO_INSTRUCTION_API_TIP)
            return
        if not self._instruction_kinds:
            box.setEnabled(False)
            box.setToolTip(_NO_INSTRUCTION_TIP)
            return
        names = ", ".join(KIND_LABELS[k] for k in KINDS if k in self._instruction_kinds)
        box.setEnabled(True)
        box.setToolTip(f"A natural-language wish; read by: {names}. The other generators ignore it.")

    def _update_statuses(self) -> None:
        req = self._request
        for kind, col in self._columns.items():
            col.status.setText(self._status_text(kind))
        if req is None:
            self._request_label.setText("")
            return
        waiting = self._timer.isActive() or any(self._shown_id(k) != req.id for k in self._models)
        mode = "constrained" if req.constrained else "unconstrained"
        self._request_label.setText(
            f"{'updating… · ' if waiting else ''}{len(req.history)}-item history · k {req.k} · beam "
            f"{max(req.beam, req.k)} · {mode}")

    def _status_text(self, kind: str) -> str:
        if kind in self._load_errors:
            return f"<span style='color:{_ERROR_COLOUR}'>{html.escape(self._load_errors[kind])}</span>"
        if kind not in self._models:
            return "Loading the generator…"
        req, shown = self._request, self._shown.get(kind)
        if req is None:
            return "Waiting for a history…"
        error = self._list_errors.get(kind)
        if error is not None and error[0] == req.id and error[1] == _NOTHING_TO_DECODE:
            return _NOTHING_TO_DECODE
        if error is not None and error[0] == req.id:
            return f"<span style='color:{_ERROR_COLOUR}'>Could not decode: {html.escape(error[1])}</span>"
        if shown is None:
            return "Decoding…"
        parts = [f"{len(shown.items)} items · {1000 * shown.seconds:.0f} ms"]
        if shown.invalid:
            parts.append(f"<span style='color:{_ERROR_COLOUR}'>{shown.invalid} invalid SID"
                         f"{'s' if shown.invalid != 1 else ''}</span>")
        elif kind != "sasrec" and not req.constrained and shown.request_id == req.id:
            parts.append("0 invalid SIDs")
        if req.instruction.strip():
            parts.append("instruction used" if shown.instruction_used else "ignores the instruction")
        if shown.request_id != req.id or self._timer.isActive():
            parts.append("<i>updating…</i>")
        return " · ".join(parts)

    # ---- private: user input ----
    def _resolve(self, text: str) -> int | None:
        """An item index for typed text: a completion, an item id, or the first completion that
        contains the text (title, brand or id; the completer does the matching in C++)."""
        if text in self._completions:
            return self._completions[text]
        body = text[3:].strip() if text.lower().startswith("id:") else text
        if body.isdigit() and int(body) in self._id_index:
            return self._id_index[int(body)]
        self._completer.setCompletionPrefix(text)
        if self._completer.completionCount() > 0:
            self._completer.setCurrentRow(0)
            return self._completions.get(self._completer.currentCompletion())
        return None

    def _on_completion(self, text: str) -> None:
        item = self._completions.get(text)
        if item is not None:
            self.add_items([item])
            QTimer.singleShot(0, self._search.clear)  # after the completer has written its text

    def _on_selection(self, event: SelectionEvent) -> None:
        n = len(event.items)
        button = self._buttons["use_selected"]
        button.setEnabled(n > 0 and self._snapshot is not None)
        button.setText(f"Use selected items ({n:,})" if n else "Use selected items")

    def _on_result_clicked(self, kind: str, index: QModelIndex) -> None:
        if not index.isValid():
            return
        item = self.result_models[kind].item_at(index.row())
        if item >= 0:
            self._selection.select_items([item], SOURCE)

    def _on_history_clicked(self, index: QModelIndex) -> None:
        if index.isValid():
            self._selection.select_items([self.history()[index.row()]], SOURCE)
