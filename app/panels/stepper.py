"""Beam stepper panel: watch one user's next item being decoded, SID level by SID level.

Pick a test user (or build a history), a generator (RAN or TIGER-style: SASRec scores atomic ids
and has no SID decode) and the decoding options, then press **Step**: the beam tree grows one
column per level (every node is a SID prefix labelled with its token and cumulative log-prob;
beams the search dropped stay visible, greyed), and the candidates table lists what each live beam
wanted at that level, with the probability before and after the trie mask (masked tokens greyed).
**Back** undoes a level exactly; selecting a candidate and pressing **Force** redoes the level
keeping only that branch, so the rest of the decode shows what the model finds under it. At the
end the results table ranks the items (the user's true next item marked), counts SIDs that name
no item (unconstrained mode) and a meter shows how much of the top-10 shares one first code.

Threads: loading a generator, the test users, a filter's blocked items and an instruction's
vector are bridge jobs, cached per project; building a :class:`~genrec_engine.BeamStepper` (the
model's encoder pass and the filter mask) is a job too. Each step then runs on the GUI thread:
it costs ~1 ms (RAN) to ~3 ms (TIGER) on a CPU, measured on the bundled project.

Source name in the linked selection: ``"stepper"``.
"""
from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QPointF,
    QRectF,
    QStringListModel,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QCompleter,
    QDoubleSpinBox,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

import genrec_engine
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
    find_demo_user,
    held_out_users,
    load_project_generator,
)

from . import ProjectSnapshot, ProjectViewModel
from ..widgets import GENERATOR_LABELS, centred_column as _centred_column, error_label

__all__ = [
    "SOURCE",
    "KINDS",
    "StepperPanel",
    "BeamTreeView",
    "CandidatesModel",
    "ResultsModel",
    "HistoryModel",
    "DecodeRequest",
    "open_stepper_project",
    "load_stepper_generator",
    "filter_blocked_items",
    "build_stepper",
]

#: The name this panel gives its selections (``SelectionEvent.source``).
SOURCE = "stepper"
#: Generators with a SID decode (SASRec scores atomic ids: nothing to step through).
KINDS: tuple[str, ...] = ("ran", "tiger")
KIND_LABELS = {k: GENERATOR_LABELS[k] for k in ("ran", "tiger")}
MODE_LABELS = {"beam": "Beam search", "diverse": "Diverse beam search", "sample": "Sampling"}

TOP_K = 10  # list length and the homogeneity meter's window
MAX_PRUNED_SHOWN = 5  # greyed pruned nodes drawn per level (plus any on the true item's path)

GREY = QColor("#9a9a9a")
TARGET_COLOUR = QColor("#1e8a3a")  # the true next item (row tint, tree outline)
FORCED_COLOUR = QColor("#d9730d")
KEPT_FILL = QColor("#e4eefb")
PRUNED_FILL = QColor("#f1f1f1")


def _sid_text(sid: Sequence[int]) -> str:
    return "-".join(str(int(c)) for c in sid) if len(sid) else "start"


def _tint(colour: QColor, alpha: int = 50) -> QColor:
    c = QColor(colour)
    c.setAlpha(alpha)
    return c


def _level_name(level: int, depth: int) -> str:
    """1-based SID level name of 0-based ``level`` (the last one is the collision level)."""
    return "Collision" if level == depth - 1 and depth > 1 else f"Level {level + 1}"


# ------------------------------------------------------------------------------------ engine jobs


def _kind_error(project, kind: str, exc: Exception) -> str:
    return (f"The {KIND_LABELS.get(kind, kind)} generator could not be loaded ({exc}). Train one with: "
            f"genrec train --project {project.path} --model {kind}")


def load_stepper_generator(project, kind: str, *, progress: ProgressFn | None = None,
                           cancel: CancelToken | None = None) -> dict:
    """The project's ``kind`` generator on the CPU (a bridge job, ~15 ms). Returns ``{"kind",
    "model" (None when missing), "error" (a message naming the command that trains it, or None)}``."""
    try:
        return {"kind": kind, "model": load_project_generator(project, kind), "error": None}
    except GenrecError as exc:
        return {"kind": kind, "model": None, "error": _kind_error(project, kind, exc)}


def open_stepper_project(project, kinds: Sequence[str] = KINDS, *, progress: ProgressFn | None = None,
                         cancel: CancelToken | None = None) -> dict:
    """What the panel needs when a project opens (a bridge job, ~0.5 s on the bundled project):
    the test users, the first generator of ``kinds`` that loads, and a demo user (one whose true
    next item the generator finds). Returns ``{"users": HeldOutUsers, "kind", "model", "errors":
    {kind: message}, "demo": int | None}``."""
    if progress is not None:
        progress(0.0, "test users")
    users = held_out_users(project)
    errors: dict[str, str] = {}
    out = {"users": users, "kind": None, "model": None, "errors": errors, "demo": None}
    for kind in kinds:
        if cancel is not None:
            cancel.raise_if_cancelled()
        got = load_stepper_generator(project, kind)
        if got["model"] is None:
            errors[kind] = got["error"]
            continue
        out["kind"], out["model"] = kind, got["model"]
        break
    if out["model"] is not None and len(users):
        if progress is not None:
            progress(0.6, "looking for a user whose next item the generator finds")
        out["demo"] = find_demo_user(out["model"], project.trie, users, k=TOP_K, cancel=cancel)
    if progress is not None:
        progress(1.0, "ready")
    return out


def filter_blocked_items(project, item_filter: ItemFilter, *, progress: ProgressFn | None = None,
                         cancel: CancelToken | None = None) -> frozenset[int]:
    """The item indices ``item_filter`` blocks (a bridge job, ~0.15 s for 12k items); an unknown
    brand or category raises ConfigError naming it."""
    return frozenset(item_filter.blocked_items(project.dataset.catalogue))


def encode_instruction_text(text: str, *, progress: ProgressFn | None = None,
                            cancel: CancelToken | None = None) -> np.ndarray:
    """float32 ``[384]`` vector of an instruction (loads MiniLM on the first call: a bridge job)."""
    encode = getattr(genrec_engine, "encode_instruction", None)
    if encode is None:
        raise ConfigError("this engine cannot encode instructions")
    return np.asarray(encode(text), dtype=np.float32)


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


def build_stepper(model, trie, request: DecodeRequest, *, progress: ProgressFn | None = None,
                  cancel: CancelToken | None = None) -> tuple[int, BeamStepper]:
    """A :class:`BeamStepper` for ``request``, stepped to ``request.level`` (a bridge job: the
    encoder pass and the filter mask take a few ms to ~50 ms). Returns ``(request.id, stepper)``;
    the stepper then belongs to the GUI thread."""
    import torch

    instruction = None if request.instruction is None else torch.as_tensor(request.instruction)
    stepper = BeamStepper(model, trie, request.history, config=request.config, exclude=request.exclude or None,
                          instruction=instruction)
    target = stepper.depth if request.level is None else min(int(request.level), stepper.depth)
    while stepper.level < target:
        if cancel is not None:
            cancel.raise_if_cancelled()
        stepper.step()
    return request.id, stepper


# ------------------------------------------------------------------------------------ item models


class _Table(QAbstractTableModel):
    """A read-only table over a list of row tuples, with per-row styling hooks."""

    COLUMNS: tuple[tuple[str, str], ...] = ()
    RIGHT: frozenset[int] = frozenset()

    def __init__(self, parent=None):
        super().__init__(parent)
        self._rows: list[tuple] = []

    def rows(self) -> list[tuple]:
        """The rows as displayed (tuples of strings), for tests and exports."""
        return [tuple(self._display(r, c) for c in range(len(self.COLUMNS))) for r in range(len(self._rows))]

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.COLUMNS)

    def _display(self, row: int, col: int) -> str:  # pragma: no cover - overridden
        return ""

    def _style(self, row: int, col: int, role: int):
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not (0 <= index.row() < len(self._rows)) or \
                not (0 <= index.column() < len(self.COLUMNS)):
            return None
        r, c = index.row(), index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(r, c)
        if role == Qt.ItemDataRole.TextAlignmentRole and c in self.RIGHT:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return self._style(r, c, role)

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

    def _reset(self, rows: list[tuple]) -> None:
        self.beginResetModel()
        self._rows = rows
        self.endResetModel()


class HistoryModel(_Table):
    """The decoded history, oldest first: position, title, SID. ``Qt.UserRole``: the item index."""

    COLUMNS = (("#", "Position in the history (1 = oldest)."), ("Item", "The item's title."),
               ("SID", "The item's semantic ID."))
    RIGHT = frozenset({0})

    def set_items(self, items: Sequence[int], titles: Sequence[str], sids: Sequence[Sequence[int]]) -> None:
        self._reset([(int(i), str(t), tuple(s)) for i, t, s in zip(items, titles, sids)])

    def _display(self, row: int, col: int) -> str:
        item, title, sid = self._rows[row]
        return (str(row + 1), title or f"item {item}", _sid_text(sid))[col]

    def _style(self, row: int, col: int, role: int):
        if role == Qt.ItemDataRole.UserRole:
            return self._rows[row][0]
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._rows[row][1]
        return None


class CandidatesModel(_Table):
    """Each live beam's top candidate tokens at the last decoded level.

    ``Qt.UserRole`` gives ``(beam, token, masked)`` of the row (what Force needs)."""

    COLUMNS = (
        ("Beam", "The live beam's prefix (SID tokens so far); its cumulative log-prob is in the tooltip."),
        ("Token", "A candidate token for this level."),
        ("P before", "The model's probability of the token (softmax of its raw output)."),
        ("P after", "The probability renormalised over the tokens the trie and the filters allow "
                    "(0 for a masked token)."),
        ("Log-p if kept", "The cumulative log-probability the beam would have with this token."),
        ("Outcome", "kept: in the next level's beam; pruned: allowed but outside the beam; masked: no "
                    "(allowed) item lies under it; forced: kept because you forced it; drawn / not drawn: "
                    "sampling mode."),
    )
    RIGHT = frozenset({1, 2, 3, 4})

    def set_record(self, record: StepRecord | None, sampling: bool = False) -> None:
        """Show ``record``'s candidates; ``sampling`` words the outcomes "drawn" / "not drawn"."""
        rows = []
        if record is not None:
            kept = {(c.parent, c.token) for c in record.chosen}
            for bc in record.candidates:
                for c in bc.candidates:
                    if c.masked:
                        outcome = "masked"
                    elif (bc.beam, c.token) in kept:
                        outcome = "forced" if record.forced is not None else ("drawn" if sampling else "kept")
                    else:
                        outcome = "not drawn" if sampling else "pruned"
                    rows.append((bc.beam, bc.prefix, bc.score, c.token, c.prob_before, c.prob_after, c.score,
                                 outcome))
        self._reset(rows)

    def candidate(self, row: int) -> tuple[int, int, bool]:
        """``(beam, token, masked)`` of ``row``."""
        r = self._rows[row]
        return r[0], r[3], r[7] == "masked"

    def _display(self, row: int, col: int) -> str:
        beam, prefix, bscore, token, before, after, score, outcome = self._rows[row]
        if col == 0:
            return _sid_text(prefix)
        if col == 1:
            return str(token)
        if col == 2:
            return f"{100 * before:.1f} %"
        if col == 3:
            return f"{100 * after:.1f} %"
        if col == 4:
            return f"{score:.2f}" if np.isfinite(score) else "−∞"
        return outcome

    def _style(self, row: int, col: int, role: int):
        outcome = self._rows[row][7]
        if role == Qt.ItemDataRole.UserRole:
            return self.candidate(row)
        if role == Qt.ItemDataRole.ToolTipRole and col == 0:
            r = self._rows[row]
            return f"beam {r[0] + 1}: prefix {_sid_text(r[1])}, cumulative log-prob {r[2]:.3f}"
        if role == Qt.ItemDataRole.ForegroundRole and outcome in ("masked", "pruned", "not drawn"):
            return GREY
        if role == Qt.ItemDataRole.ForegroundRole and outcome == "forced":
            return FORCED_COLOUR
        if role == Qt.ItemDataRole.FontRole and outcome in ("kept", "drawn", "forced"):
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.FontRole and outcome == "masked":
            font = QFont()
            font.setItalic(True)
            return font
        return None


class ResultsModel(_Table):
    """The final list: rank, title, SID, log-prob and a note (true next item / no item).

    ``Qt.UserRole``: the row's item index (-1: the SID names no item)."""

    COLUMNS = (("#", "Rank."), ("Item", "The recommended item (greyed: the SID names no item)."),
               ("SID", "The decoded semantic ID."), ("Log-p", "Cumulative log-probability of the SID."),
               ("", "★ marks the item the user really took next (the held-out test item)."))
    RIGHT = frozenset({0, 3})

    def set_result(self, result: StepperResult | None, titles: Callable[[int], str], target: int | None) -> None:
        rows = []
        if result is not None:
            for rank, (item, sid, score) in enumerate(zip(result.items, result.sids, result.scores), 1):
                title = titles(item) if item >= 0 else "(no item has this SID)"
                rows.append((rank, item, title, sid, score, target is not None and item == target))
        self._reset(rows)

    def _display(self, row: int, col: int) -> str:
        rank, item, title, sid, score, is_target = self._rows[row]
        return (str(rank), title or f"item {item}", _sid_text(sid), f"{score:.2f}",
                "★ true next" if is_target else "")[col]

    def _style(self, row: int, col: int, role: int):
        rank, item, title, sid, score, is_target = self._rows[row]
        if role == Qt.ItemDataRole.UserRole:
            return item
        if role == Qt.ItemDataRole.ForegroundRole and item < 0:
            return GREY
        if role == Qt.ItemDataRole.BackgroundRole and is_target:
            return _tint(TARGET_COLOUR, 60)
        if role == Qt.ItemDataRole.ToolTipRole and col == 1:
            return title
        return None


# ------------------------------------------------------------------------------------ beam tree


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


class BeamTreeView(QGraphicsView):
    """The decode as a tree: one column per level, a node per kept beam (and the best pruned ones,
    greyed), edges to their parents. Rebuilt per step (at most a few hundred items)."""

    sig_prefix_clicked = Signal(object)
    """``(tuple[int, ...])``: the user clicked the node of this SID prefix."""

    COL_W, NODE_W, ROW_H, NODE_H, TOP = 106, 94, 22, 18, 26

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.setBackgroundBrush(QBrush(QColor("white")))
        self._nodes: list[TreeNode] = []
        self._prefix_of: dict[int, tuple[int, ...]] = {}  # id(rect item) -> prefix

    def nodes(self) -> list[TreeNode]:
        """What is drawn, column by column (for tests and exports)."""
        return list(self._nodes)

    def show_decode(self, records: Sequence[StepRecord], depth: int, target_sid: tuple[int, ...] | None) -> None:
        scene = self.scene()
        scene.clear()
        self._prefix_of.clear()
        self._nodes = []
        on_path = (lambda p: target_sid is not None and tuple(target_sid[: len(p)]) == p)
        columns: list[list[TreeNode]] = [[TreeNode(0, (), 0.0, "root", False, on_path(()), "start")]]
        for rec in records:
            # one node per prefix: samples (and diverse groups) can reach the same prefix more than once
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
        for lvl in range(depth + 1):
            head = "start" if lvl == 0 else _level_name(lvl - 1, depth)
            t = scene.addSimpleText(head)
            t.setBrush(QBrush(QColor("#505050")))
            t.setPos(lvl * self.COL_W, 2)
        pos: dict[tuple[int, ...], QPointF] = {}
        for c, column in enumerate(columns):
            for r, node in enumerate(column):
                x, y = c * self.COL_W, self.TOP + r * self.ROW_H
                parent = pos.get(node.prefix[:-1]) if c else None
                if parent is not None:
                    pen = QPen(GREY if node.kind == "pruned" else QColor("#5b7fae"), 1.0)
                    if node.kind == "pruned":
                        pen.setStyle(Qt.PenStyle.DashLine)
                    scene.addLine(parent.x(), parent.y(), x, y + self.NODE_H / 2, pen)
                self._draw_node(node, x, y)
                if node.kind != "pruned":
                    pos[node.prefix] = QPointF(x + self.NODE_W, y + self.NODE_H / 2)
            self._nodes.extend(column)
        scene.setSceneRect(scene.itemsBoundingRect().adjusted(-4, -4, 8, 8))

    def _draw_node(self, node: TreeNode, x: float, y: float) -> None:
        rect = QGraphicsRectItem(QRectF(x, y, self.NODE_W, self.NODE_H))
        rect.setBrush(QBrush(PRUNED_FILL if node.kind == "pruned" else KEPT_FILL))
        colour = FORCED_COLOUR if node.forced else (TARGET_COLOUR if node.on_target else
                                                      (GREY if node.kind == "pruned" else QColor("#5b7fae")))
        rect.setPen(QPen(colour, 2.0 if (node.forced or node.on_target) else 1.0))
        tip = f"prefix {_sid_text(node.prefix)}\ncumulative log-prob {node.score:.3f}"
        tip += {"pruned": "\npruned: allowed, but outside the beam", "root": ""}.get(node.kind, "")
        if node.forced:
            tip += "\nkept because you forced it"
        if node.on_target and node.prefix:
            tip += "\non the path of the user's true next item"
        rect.setToolTip(tip)
        self.scene().addItem(rect)
        text = QGraphicsSimpleTextItem(node.label, rect)
        text.setBrush(QBrush(GREY if node.kind == "pruned" else QColor("#202020")))
        br = text.boundingRect()
        text.setPos(x + 5, y + (self.NODE_H - br.height()) / 2)
        self._prefix_of[id(rect)] = node.prefix

    def mousePressEvent(self, event) -> None:
        item = self.itemAt(event.position().toPoint())
        while item is not None and id(item) not in self._prefix_of:
            item = item.parentItem()
        if item is not None:
            self.sig_prefix_clicked.emit(self._prefix_of[id(item)])
        super().mousePressEvent(event)


# ----------------------------------------------------------------------------------------- panel


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


def _fit(view: QTableView, stretch: int) -> None:
    hh = view.horizontalHeader()
    hh.setStretchLastSection(False)
    for c in range(view.model().columnCount()):
        mode = QHeaderView.ResizeMode.Stretch if c == stretch else QHeaderView.ResizeMode.ResizeToContents
        hh.setSectionResizeMode(c, mode)


def _expert(widget: QWidget) -> QWidget:
    """Mark a technical control: presenter mode hides it."""
    widget.setProperty("expert", True)
    return widget


def _split_names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


_HEADER = (
    "Watch a generator decode one user's next item, one SID level at a time. Each column of the tree is a "
    "level: a node is a prefix with its token and cumulative log-prob; greyed nodes are candidates the beam "
    "dropped, the <span style='color:#1e8a3a'><b>green</b></span> outline follows the user's true next item. "
    "Select a candidate and press <b>Force</b> to see what the model finds down that branch instead."
)
_EMPTY_TEXT = "<p>Open a project with <b>File › Open project…</b> to step through its generators' decoding.</p>"
_NO_INSTRUCTION_TIP = "Disabled: the {} generator was trained without instructions."
_NO_INSTRUCTION_API_TIP = "Disabled: this version of the engine cannot encode instructions."


class StepperPanel(QWidget):
    """Step through one user's decode: history, options, beam tree, candidates, results.

    Built as ``StepperPanel(view_model, selection, bridge)``. Public: :meth:`open_user` (the
    diagnostics panel calls it), :meth:`step`, :meth:`back`, :meth:`run_to_end`, :meth:`reset`,
    :meth:`force`, :meth:`view_state`, :meth:`screenshot_ready`.
    """

    sig_ready = Signal()
    """Emitted once per project, when a user's decode is first shown to the end."""

    sig_decoded = Signal()
    """Emitted whenever a newly built stepper is shown (a user, generator or option changed)."""

    def __init__(self, view_model: ProjectViewModel, selection, bridge, parent: QWidget | None = None):
        super().__init__(parent)
        self._vm, self._selection, self._bridge = view_model, selection, bridge
        self._snapshot: ProjectSnapshot | None = None
        self._generation = 0  # bumped per project: results of older jobs are dropped
        self._jobs: dict[int, tuple[str, int, object]] = {}  # job id -> (kind, generation, key)
        self._users: HeldOutUsers | None = None
        self._models: dict[str, object] = {}  # kind -> loaded generator
        self._model_errors: dict[str, str] = {}
        self._blocked: dict[ItemFilter, frozenset[int]] = {}
        self._vectors: dict[str, np.ndarray] = {}  # instruction text -> vector
        self._history: tuple[int, ...] = ()
        self._user: int | None = None  # test user index, None for a hand-built history
        self._target: int | None = None  # the user's true next item
        self._stepper: BeamStepper | None = None
        self._request_ids = 0
        self._wanted: DecodeRequest | None = None  # newest request; its stepper is the one to show
        self._want_level: int | None = None
        self._ready = False
        self._pending_user: int | None = None  # open_user() called before the test users arrived
        self._wanted_key: tuple | None = None  # what the newest request was built from
        self._completions: dict[str, int] = {}

        self.history_model = HistoryModel(self)
        self.candidates_model = CandidatesModel(self)
        self.results_model = ResultsModel(self)

        self._stack = QStackedWidget(self)
        self._empty_page = _centred_column(QLabel(_EMPTY_TEXT))
        self._loading_page = _centred_column(QLabel("Loading the test users and the generator…"))
        self._main_page = self._build_main_page()
        for page in (self._empty_page, self._loading_page, self._main_page):
            self._stack.addWidget(page)
        header = QLabel(_HEADER)
        header.setWordWrap(True)
        header.setTextFormat(Qt.TextFormat.RichText)
        self._error = error_label()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 8, 10, 8)
        lay.setSpacing(6)
        lay.addWidget(header)
        lay.addWidget(self._error)
        lay.addWidget(self._stack, 1)

        bridge.sig_result.connect(self._on_result)
        bridge.sig_error.connect(self._on_error)
        bridge.sig_finished.connect(self._on_finished)
        view_model.sig_project_changed.connect(self._on_project_changed)
        self._on_project_changed(view_model.snapshot)

    # ---- public ----
    def screenshot_ready(self) -> bool:
        """True once a user has been decoded to the end (and shown) and no job of this panel runs."""
        return self._ready and not self._jobs

    def open_user(self, user_index: int) -> None:
        """Decode test user ``user_index`` (0-based, in the project's leave-one-out split) to the end."""
        if self._users is None:
            self._pending_user = int(user_index)
            return
        u = int(user_index)
        if not 0 <= u < len(self._users):
            self._show_error(f"No test user {u}: the project has {len(self._users):,} (0 to {len(self._users) - 1}).")
            return
        self._user = u
        self._target = int(self._users.targets[u])
        self._user_spin.blockSignals(True)
        self._user_spin.setValue(u)
        self._user_spin.blockSignals(False)
        self._set_history(tuple(int(i) for i in self._users.histories[u]), keep_target=True)
        self._request(None, fresh=True)

    def step(self) -> None:
        if self._stepper is not None and not self._stepper.done:
            self._stepper.step()
            self._refresh()

    def back(self) -> None:
        if self._stepper is not None and self._stepper.level:
            self._stepper.back()
            self._refresh()

    def run_to_end(self) -> None:
        if self._stepper is not None and not self._stepper.done:
            self._stepper.run_to_end()
            self._refresh()

    def reset(self) -> None:
        """Back to the start, every force dropped."""
        if self._stepper is not None:
            self._stepper.reset()
            self._refresh()

    def force(self, beam: int, token: int) -> None:
        """Redo the last decoded level keeping only ``beam``'s child along ``token``, then decode to
        the level that was shown (the rest of the path follows the forced branch)."""
        st = self._stepper
        if st is None or st.level == 0:
            return
        level = st.level
        st.back()
        try:
            st.force(beam, token)
        except ConfigError as exc:
            st.step()
            self._show_error(str(exc))
            return
        while st.level < level:
            st.step()
        self._refresh()

    def force_selected(self) -> None:
        """Force the candidate selected in the candidates table."""
        rows = self._cand_view.selectionModel().selectedRows()
        if not rows:
            return
        beam, token, masked = self.candidates_model.candidate(rows[0].row())
        if not masked:
            self.force(beam, token)

    def history(self) -> tuple[int, ...]:
        return self._history

    def current_user(self) -> int | None:
        return self._user

    def stepper(self) -> BeamStepper | None:
        """The stepper shown (read it, do not step it: use the panel's methods)."""
        return self._stepper

    def request_config(self) -> StepperConfig:
        """The decoding options as set in the controls."""
        mode = self._mode_combo.currentData()
        beam = int(self._beam_spin.value())
        groups = int(self._groups_spin.value())
        if mode == "diverse" and beam % groups:
            beam = max(groups, beam - beam % groups)  # diverse groups must divide the beam
        return StepperConfig(beam=beam, k=TOP_K, constrained=self._constrained.isChecked(), mode=mode,
                             groups=groups, penalty=float(self._penalty_spin.value()),
                             temperature=float(self._temp_spin.value()), seed=int(self._seed_spin.value()))

    def view_state(self) -> dict:
        """What the panel shows, as plain values (tests compare states before and after moves)."""
        return {
            "level": None if self._stepper is None else self._stepper.level,
            "tree": [(n.level, n.prefix, n.kind, n.forced, n.on_target, n.label) for n in self.tree.nodes()],
            "candidates": self.candidates_model.rows(),
            "results": self.results_model.rows(),
            "status": self._status.text(),
            "meter": self._meter.value(),
            "invalid": self._invalid_label.text(),
            "history": self.history_model.rows(),
        }

    def error_text(self) -> str:
        return self._error.text() if self._error.isVisible() else ""

    @property
    def candidates_view(self) -> QTableView:
        return self._cand_view

    @property
    def results_view(self) -> QTableView:
        return self._results_view

    @property
    def controls(self) -> dict[str, QWidget]:
        """The option widgets by name (generator, beam, constrained, mode, groups, penalty,
        temperature, seed, block_categories, block_brands, exclude_history, instruction, user)."""
        return dict(self._controls)

    @property
    def buttons(self) -> dict[str, QPushButton]:
        return dict(self._buttons)

    # ---- private: layout ----
    def _build_main_page(self) -> QWidget:
        page = QWidget()
        lay = QVBoxLayout(page)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(6)
        self._controls: dict[str, QWidget] = {}
        self._buttons: dict[str, QPushButton] = {}

        row = QHBoxLayout()
        row.addWidget(QLabel("Test user"))
        self._user_spin = QSpinBox()
        self._user_spin.setToolTip("A user of the leave-one-out test split: their history without the last item, "
                                   "which is the true next item.")
        self._user_spin.setKeyboardTracking(False)
        self._user_spin.valueChanged.connect(self.open_user)
        self._controls["user"] = self._user_spin
        row.addWidget(self._user_spin)
        self._user_label = QLabel("")
        self._user_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        row.addWidget(self._user_label, 1)
        row.addWidget(QLabel("Generator"))
        self._kind_combo = QComboBox()
        for kind in KINDS:
            self._kind_combo.addItem(KIND_LABELS[kind], kind)
        self._kind_combo.setToolTip("The generator to decode with (SASRec scores atomic item ids and has no SID "
                                    "decode to step through).")
        self._kind_combo.currentIndexChanged.connect(self._on_kind_changed)
        self._controls["generator"] = self._kind_combo
        row.addWidget(self._kind_combo)
        row.addWidget(QLabel("Instruction"))
        self._instruction = QLineEdit()
        self._instruction.setPlaceholderText("e.g. something for dry skin")
        self._instruction.setMinimumWidth(200)
        self._instruction.editingFinished.connect(self._on_options_changed)
        self._controls["instruction"] = self._instruction
        row.addWidget(self._instruction, 1)
        lay.addLayout(row)

        row = QHBoxLayout()
        self._beam_spin = QSpinBox()
        self._beam_spin.setRange(1, 100)
        self._beam_spin.setValue(20)
        self._beam_spin.setToolTip("Beams kept per level (samples, in sampling mode). Below 10 the list is shorter.")
        self._constrained = QCheckBox("Constrained")
        self._constrained.setChecked(True)
        self._constrained.setToolTip("Mask tokens the prefix trie disallows, so every decoded SID is a real item. "
                                     "Off: SIDs that name no item are counted as invalid.")
        self._mode_combo = QComboBox()
        for mode, label in MODE_LABELS.items():
            self._mode_combo.addItem(label, mode)
        self._mode_combo.setToolTip("Beam search; diverse beam search (groups penalised for repeating each "
                                    "other's tokens); or sampling (independent draws at a temperature).")
        self._groups_spin = QSpinBox()
        self._groups_spin.setRange(1, 10)
        self._groups_spin.setValue(2)
        self._groups_spin.setToolTip("Diverse beam search: number of groups (the beam is rounded to a multiple).")
        self._penalty_spin = QDoubleSpinBox()
        self._penalty_spin.setRange(0.0, 10.0)
        self._penalty_spin.setSingleStep(0.1)
        self._penalty_spin.setValue(0.5)
        self._penalty_spin.setToolTip("Diverse beam search: log-prob penalty per earlier group's pick of a token.")
        self._temp_spin = QDoubleSpinBox()
        self._temp_spin.setRange(0.05, 10.0)
        self._temp_spin.setSingleStep(0.1)
        self._temp_spin.setValue(1.0)
        self._temp_spin.setToolTip("Sampling: temperature (above 1 flattens the model's distribution).")
        self._seed_spin = QSpinBox()
        self._seed_spin.setRange(0, 1_000_000)
        self._seed_spin.setToolTip("Sampling: random seed (the same seed draws the same samples).")
        for name, label, w in (("beam", "Beam", self._beam_spin), ("constrained", None, self._constrained),
                               ("mode", "Mode", self._mode_combo), ("groups", "Groups", self._groups_spin),
                               ("penalty", "Penalty", self._penalty_spin), ("temperature", "Temp.", self._temp_spin),
                               ("seed", "Seed", self._seed_spin)):
            if label:
                lab = _expert(QLabel(label))
                lab.setToolTip(w.toolTip())
                row.addWidget(lab)
            row.addWidget(_expert(w))
            self._controls[name] = w
        for w in (self._beam_spin, self._groups_spin, self._seed_spin):
            w.setKeyboardTracking(False)
            w.valueChanged.connect(self._on_options_changed)
        for w in (self._penalty_spin, self._temp_spin):
            w.setKeyboardTracking(False)
            w.valueChanged.connect(self._on_options_changed)
        self._constrained.toggled.connect(self._on_options_changed)
        self._mode_combo.currentIndexChanged.connect(self._on_options_changed)
        row.addSpacing(12)
        self._block_cats = QLineEdit()
        self._block_cats.setPlaceholderText("Block categories")
        self._block_cats.setToolTip("Comma-separated categories whose items are masked during decoding "
                                    "(e.g. Nail Polish, Fragrance); press Enter to apply.")
        self._block_brands = QLineEdit()
        self._block_brands.setPlaceholderText("Block brands")
        self._block_brands.setToolTip("Comma-separated brands whose items are masked during decoding "
                                      "(e.g. OPI, Revlon); press Enter to apply.")
        self._exclude_history = QCheckBox("Hide history items")
        self._exclude_history.setToolTip("Mask the items already in the history, so they are never recommended.")
        for name, w in (("block_categories", self._block_cats), ("block_brands", self._block_brands)):
            w.editingFinished.connect(self._on_options_changed)
            self._controls[name] = w
            row.addWidget(w, 1)
        self._exclude_history.toggled.connect(self._on_options_changed)
        self._controls["exclude_history"] = self._exclude_history
        row.addWidget(self._exclude_history)
        lay.addLayout(row)

        row = QHBoxLayout()
        for name, text, tip, slot in (
            ("reset", "Reset", "Back to the start; forced tokens are dropped.", self.reset),
            ("back", "◀ Back", "Undo the last level (exactly: the same beams come back).", self.back),
            ("step", "Step ▶", "Decode the next SID level.", self.step),
            ("run", "Run to end ▶▶", "Decode the remaining levels.", self.run_to_end),
        ):
            b = QPushButton(text)
            b.setToolTip(tip)
            b.clicked.connect(slot)
            self._buttons[name] = b
            row.addWidget(b)
        self._status = QLabel("")
        self._status.setTextFormat(Qt.TextFormat.RichText)
        self._status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        row.addWidget(self._status, 1)
        lay.addLayout(row)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self._build_history_box())
        tree_box = QGroupBox("Beam tree")
        tl = QVBoxLayout(tree_box)
        tl.setContentsMargins(4, 4, 4, 4)
        self.tree = BeamTreeView()
        self.tree.setToolTip("Click a node to select its prefix's items in the other panels.")
        self.tree.sig_prefix_clicked.connect(self._on_prefix_clicked)
        tl.addWidget(self.tree)
        splitter.addWidget(tree_box)
        splitter.addWidget(self._build_right_column())
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setStretchFactor(2, 1)
        splitter.setSizes([210, 560, 510])
        lay.addWidget(splitter, 1)
        return page

    def _build_history_box(self) -> QWidget:
        box = QGroupBox("History (oldest first)")
        lay = QVBoxLayout(box)
        lay.setContentsMargins(4, 4, 4, 4)
        self._history_view = _table(self.history_model)
        _fit(self._history_view, 1)
        lay.addWidget(self._history_view, 1)
        row = QHBoxLayout()
        self._search = QLineEdit()
        self._search.setPlaceholderText("add an item: title or id")
        self._completer_model = QStringListModel(self)
        self._completer = QCompleter(self._completer_model, self)
        self._completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self._completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self._completer.setMaxVisibleItems(12)
        self._completer.activated.connect(self._on_completion)
        self._search.setCompleter(self._completer)
        self._search.returnPressed.connect(self._on_search)
        self._controls["search"] = self._search
        row.addWidget(self._search, 1)
        remove = QPushButton("Remove")
        remove.setToolTip("Remove the selected history item.")
        remove.clicked.connect(self._remove_selected)
        self._buttons["remove"] = remove
        row.addWidget(remove)
        lay.addLayout(row)
        return box

    def _build_right_column(self) -> QWidget:
        split = QSplitter(Qt.Orientation.Vertical)
        cand_box = QGroupBox("Candidates at the last level")
        cl = QVBoxLayout(cand_box)
        cl.setContentsMargins(4, 4, 4, 4)
        self._cand_view = _table(self.candidates_model)
        _fit(self._cand_view, len(CandidatesModel.COLUMNS) - 1)
        self._cand_view.selectionModel().selectionChanged.connect(self._update_buttons)
        self._cand_view.doubleClicked.connect(lambda _: self.force_selected())
        cl.addWidget(self._cand_view, 1)
        row = QHBoxLayout()
        force = QPushButton("Force")
        force.setToolTip("Redo this level keeping only the selected candidate: every later beam extends it, "
                         "so the list shows the best items down that branch. Reset drops it.")
        force.clicked.connect(self.force_selected)
        self._buttons["force"] = force
        row.addWidget(force)
        self._force_label = QLabel("")
        self._force_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        row.addWidget(self._force_label, 1)
        cl.addLayout(row)
        split.addWidget(cand_box)

        res_box = QGroupBox("Recommendations")
        rl = QVBoxLayout(res_box)
        rl.setContentsMargins(4, 4, 4, 4)
        self._results_view = _table(self.results_model)
        _fit(self._results_view, 1)
        self._results_view.clicked.connect(self._on_result_clicked)
        rl.addWidget(self._results_view, 1)
        self._target_label = QLabel("")
        self._target_label.setWordWrap(True)
        self._target_label.setTextFormat(Qt.TextFormat.RichText)
        rl.addWidget(self._target_label)
        row = QHBoxLayout()
        self._meter = QProgressBar()
        self._meter.setRange(0, 100)
        self._meter.setValue(0)
        self._meter.setFormat("%p %")
        self._meter.setMaximumWidth(140)
        self._meter.setToolTip("Homogeneity: the share of the top-10 held by the most common first SID code. "
                               "100 % means every recommended item comes from one branch of the catalogue.")
        row.addWidget(QLabel("Homogeneity"))
        row.addWidget(self._meter)
        self._meter_label = QLabel("")
        self._meter_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        row.addWidget(self._meter_label, 1)
        rl.addLayout(row)
        self._invalid_label = QLabel("")
        rl.addWidget(self._invalid_label)
        split.addWidget(res_box)
        split.setSizes([270, 390])
        return split

    # ---- private: project ----
    def _on_project_changed(self, snapshot: ProjectSnapshot | None) -> None:
        for job_id in list(self._jobs):
            self._bridge.cancel(job_id)
        self._generation += 1
        self._snapshot = snapshot
        self._users, self._stepper, self._wanted = None, None, None
        self._models.clear()
        self._model_errors.clear()
        self._blocked.clear()
        self._vectors.clear()
        self._history, self._user, self._target = (), None, None
        self._ready = False
        self._pending_user = None
        self._wanted_key = None
        self._error.setVisible(False)
        self.history_model.set_items([], [], [])
        self.candidates_model.set_record(None)
        self.results_model.set_result(None, str, None)
        self.tree.show_decode([], 0, None)
        if snapshot is None:
            self._completions = {}
            self._completer_model.setStringList([])
            self._stack.setCurrentWidget(self._empty_page)
            return
        self._stack.setCurrentWidget(self._loading_page)
        cat = snapshot.project.dataset.catalogue
        titles = cat.items["title"].astype(str).tolist()
        self._completions = {f"{t}  [{i}]": n for n, (t, i) in enumerate(zip(titles, snapshot.project.sids.item_ids))}
        self._completer_model.setStringList(list(self._completions))
        self._submit("open", open_stepper_project, snapshot.project, name="stepper: test users and generator")

    def _on_opened(self, result: dict) -> None:
        self._users = result["users"]
        self._model_errors.update(result["errors"])
        self._stack.setCurrentWidget(self._main_page)
        n = len(self._users)
        self._user_spin.blockSignals(True)
        self._user_spin.setRange(0, max(0, n - 1))
        self._user_spin.blockSignals(False)
        if result["model"] is None:
            self._show_error(" ".join(result["errors"].values()) or "This project has no SID generator.")
            return
        self._models[result["kind"]] = result["model"]
        self._kind_combo.blockSignals(True)
        self._kind_combo.setCurrentIndex(self._kind_combo.findData(result["kind"]))
        self._kind_combo.blockSignals(False)
        self._update_instruction_box()
        pending, self._pending_user = self._pending_user, None
        if pending is not None:
            self.open_user(pending)
        elif result["demo"] is not None:
            self.open_user(result["demo"])

    # ---- private: jobs ----
    def _submit(self, kind: str, fn: Callable, *args, name: str, key: object = None, **kwargs) -> int:
        job = self._bridge.submit(fn, *args, name=name, **kwargs)
        self._jobs[job.id] = (kind, self._generation, key)
        self._update_buttons()
        return job.id

    def _pending(self, kind: str, key: object = None) -> bool:
        return any(k == kind and g == self._generation and kk == key for k, g, kk in self._jobs.values())

    def _on_finished(self, job_id: int) -> None:
        if self._jobs.pop(job_id, None) is not None:
            self._update_buttons()
            self._maybe_ready()

    def _on_error(self, job_id: int, message: str) -> None:
        entry = self._jobs.get(job_id)
        if entry is None or entry[1] != self._generation:
            return
        what = {"open": "open the project's test users", "model": "load the generator", "filter": "apply the filter",
                "instruction": "encode the instruction", "build": "decode"}.get(entry[0], "finish")
        self._show_error(f"Could not {what}: {message}")

    def _on_result(self, job_id: int, result: object) -> None:
        entry = self._jobs.get(job_id)
        if entry is None or entry[1] != self._generation or self._snapshot is None:
            return
        kind, _, key = entry
        if kind == "open":
            self._on_opened(result)  # type: ignore[arg-type]
        elif kind == "model":
            if result["model"] is None:  # type: ignore[index]
                self._model_errors[key] = result["error"]  # type: ignore[index]
                self._show_error(result["error"])  # type: ignore[index]
            else:
                self._models[key] = result["model"]  # type: ignore[index]
                self._update_instruction_box()
                self._request(self._want_level, fresh=True)
        elif kind == "filter":
            self._blocked[key] = result  # type: ignore[assignment]
            self._request(self._want_level, fresh=True)
        elif kind == "instruction":
            self._vectors[key] = result  # type: ignore[assignment]
            self._request(self._want_level, fresh=True)
        elif kind == "build":
            request_id, stepper = result  # type: ignore[misc]
            if self._wanted is not None and request_id == self._wanted.id:
                self._stepper = stepper
                self._refresh()
                self.sig_decoded.emit()

    # ---- private: building a stepper ----
    def _item_filter(self) -> ItemFilter:
        return ItemFilter(block_categories=_split_names(self._block_cats.text()),
                          block_brands=_split_names(self._block_brands.text()))

    def _instruction_text(self) -> str:
        return self._instruction.text().strip() if self._instruction.isEnabled() else ""

    def _request(self, level: int | None, fresh: bool = False) -> None:
        """Build a stepper for the current controls and show it at ``level`` (None: decoded to the
        end); first loads whatever it needs (generator, filter, instruction vector) as jobs. Unless
        ``fresh``, nothing happens when the controls say what the shown stepper was built from (a
        focus change must not throw away forced tokens)."""
        self._want_level = level
        if fresh:
            self._wanted_key = None
        if self._snapshot is None or self._users is None:
            return
        kind = self._kind_combo.currentData()
        if kind in self._model_errors:
            self._show_error(self._model_errors[kind])
            return
        model = self._models.get(kind)
        if model is None:
            if not self._pending("model", kind):
                self._status.setText(f"Loading the {KIND_LABELS[kind]} generator…")
                self._submit("model", load_stepper_generator, self._snapshot.project, kind,
                             name=f"stepper: load {kind}", key=kind)
            return
        flt = self._item_filter()
        blocked: frozenset[int] = frozenset()
        if not flt.empty:
            if flt not in self._blocked:
                if not self._pending("filter", flt):
                    self._submit("filter", filter_blocked_items, self._snapshot.project, flt,
                                 name="stepper: filter", key=flt)
                return
            blocked = self._blocked[flt]
        text = self._instruction_text()
        vector = None
        if text:
            if text not in self._vectors:
                if not self._pending("instruction", text):
                    self._status.setText("Encoding the instruction…")
                    self._submit("instruction", encode_instruction_text, text, name="stepper: instruction", key=text)
                return
            vector = self._vectors[text]
        if self._exclude_history.isChecked():
            blocked = blocked | frozenset(self._history)
        try:
            config = self.request_config()
        except ConfigError as exc:
            self._show_error(str(exc))
            return
        key = (kind, self._history, config, blocked, text)
        if key == self._wanted_key:
            return
        self._wanted_key = key
        self._error.setVisible(False)
        self._request_ids += 1
        self._wanted = DecodeRequest(self._request_ids, kind, self._history, config, blocked, vector, level)
        self._submit("build", build_stepper, model, self._snapshot.project.trie, self._wanted, name="stepper: decode")

    def _on_options_changed(self, *_args) -> None:
        if self._snapshot is None or self._users is None:
            return
        self._update_mode_controls()
        self._request(self._stepper.level if self._stepper is not None else None)

    def _on_kind_changed(self, _index: int) -> None:
        self._update_instruction_box()
        self._on_options_changed()

    def _update_mode_controls(self) -> None:
        mode = self._mode_combo.currentData()
        self._groups_spin.setEnabled(mode == "diverse")
        self._penalty_spin.setEnabled(mode == "diverse")
        self._temp_spin.setEnabled(mode == "sample")
        self._seed_spin.setEnabled(mode == "sample")

    def _update_instruction_box(self) -> None:
        kind = self._kind_combo.currentData()
        model = self._models.get(kind)
        api = hasattr(genrec_engine, "encode_instruction")
        ok = api and model is not None and bool(getattr(model, "accepts_instruction", False))
        self._instruction.setEnabled(ok)
        if ok:
            self._instruction.setToolTip("A natural-language instruction the generator reads with the history "
                                         "(press Enter to decode with it).")
        elif not api:
            self._instruction.setToolTip(_NO_INSTRUCTION_API_TIP)
        else:
            self._instruction.setToolTip(_NO_INSTRUCTION_TIP.format(KIND_LABELS.get(kind, kind)))

    # ---- private: history ----
    def _set_history(self, history: tuple[int, ...], keep_target: bool = False) -> None:
        self._history = history
        if not keep_target:
            self._user, self._target = None, None
        project = self._snapshot.project
        cat = project.dataset.catalogue
        self.history_model.set_items(history, [cat.title(i) for i in history], [project.sids.sid(i) for i in history])
        self._history_view.scrollToBottom()
        if self._user is not None:
            uid = int(self._users.user_ids[self._user])
            tgt = self._target
            self._user_label.setText(f"user id {uid} · {len(history)} items · true next: "
                                     f"{cat.title(tgt) or f'item {tgt}'} ({_sid_text(project.sids.sid(tgt))})")
            self._user_label.setToolTip(self._user_label.text())
        else:
            self._user_label.setText(f"your own history · {len(history)} items (no true next item)")

    def _add_item(self, item: int) -> None:
        self._set_history(self._history + (int(item),))
        self._request(None, fresh=True)

    def _remove_selected(self) -> None:
        rows = self._history_view.selectionModel().selectedRows()
        if not rows or self._snapshot is None:
            return
        r = rows[0].row()
        self._set_history(self._history[:r] + self._history[r + 1:])
        self._request(None, fresh=True)

    def _on_completion(self, text: str) -> None:
        item = self._completions.get(text)
        if item is not None:
            self._add_item(item)
            QTimer.singleShot(0, self._search.clear)  # after the completer has written its text

    def _on_search(self) -> None:
        text = self._search.text().strip()
        if not text or self._snapshot is None:
            return
        item = self._completions.get(text)
        if item is None and text.isdigit():
            hits = np.flatnonzero(self._snapshot.project.sids.item_ids == int(text))
            item = int(hits[0]) if len(hits) else None
        if item is None:
            self._completer.setCompletionPrefix(text)
            if self._completer.completionCount() > 0:
                self._completer.setCurrentRow(0)
                item = self._completions.get(self._completer.currentCompletion())
        if item is None:
            self._show_error(f"No item matches “{text}”.")
            return
        self._add_item(item)
        self._search.clear()

    # ---- private: showing the decode ----
    def _refresh(self) -> None:
        st = self._stepper
        if st is None or self._snapshot is None:
            return
        project = self._snapshot.project
        target_sid = tuple(project.sids.sid(self._target)) if self._target is not None else None
        records = st.records
        self.tree.show_decode(records, st.depth, target_sid)
        self.candidates_model.set_record(records[-1] if records else None, st.config.mode == "sample")
        result = st.result() if st.done else None
        self.results_model.set_result(result, project.dataset.catalogue.title, self._target)
        self._show_status(records, result, target_sid)
        self._show_meter(result)
        self._update_buttons()
        self._maybe_ready()

    def _show_status(self, records, result: StepperResult | None, target_sid) -> None:
        st = self._stepper
        cfg = st.config
        what = f"{KIND_LABELS[self._wanted.kind]} · {MODE_LABELS[cfg.mode]} · beam {cfg.beam}"
        if st.level == 0:
            state = "At the start: press Step."
        elif st.done:
            state = f"Decoded all {st.depth} levels"
        else:
            state = f"Level {st.level} of {st.depth}"
        if records:
            state += f" · last step {records[-1].ms:.1f} ms"
        forced = [r for r in records if r.forced is not None]
        if st.pending_force is not None:
            state += f" · forced token {st.pending_force[1]} waits for the next step"
        self._status.setText(f"<b>{state}</b> · {what}")
        self._force_label.setText(
            "Forced: " + ", ".join(f"{_sid_text(r.prefixes[r.forced[0]] + (r.forced[1],))} (level {r.level + 1})"
                                   for r in forced) if forced else "")
        self._target_label.setText(self._target_text(records, result, target_sid))
        if result is None:
            self._invalid_label.setText("")
        elif cfg.constrained:
            self._invalid_label.setText("Constrained: every decoded SID is a real item.")
        else:
            n = len(result)
            self._invalid_label.setText(f"Invalid SIDs (name no item): {result.invalid} of {n}")
        if self._exclude_history.isChecked() or not self._item_filter().empty:
            self._invalid_label.setText(self._invalid_label.text() + f" · {len(self._wanted.exclude):,} items "
                                        "masked by the filters")

    def _target_text(self, records, result: StepperResult | None, target_sid) -> str:
        """One line on the true next item: its rank, or the level where its prefix left the beam."""
        if self._target is None or target_sid is None:
            return ""
        title = self._snapshot.project.dataset.catalogue.title(self._target) or f"item {self._target}"
        if len(title) > 60:
            title = title[:57] + "…"
        title = html.escape(title)
        if result is not None:
            rank = result.rank_of(self._target)
            if rank is not None:
                return f"<span style='color:#1e8a3a'>★</span> True next item ranked <b>{rank}</b>: <i>{title}</i>"
        for rec in records:  # where did its path leave the beam?
            kept = {rec.child_prefix(c) for c in rec.chosen}
            if tuple(target_sid[: rec.level + 1]) not in kept:
                return (f"True next item ({_sid_text(target_sid)}) left the beam at "
                        f"{_level_name(rec.level, len(target_sid)).lower()}: <i>{title}</i>")
        if result is None:
            return f"True next item ({_sid_text(target_sid)}) still in the beam: <i>{title}</i>"
        return f"True next item not in the list: <i>{title}</i>"

    def _show_meter(self, result: StepperResult | None) -> None:
        if result is None or not len(result):
            self._meter.setValue(0)
            self._meter.setFormat("–")
            self._meter_label.setText("shown once the decode reaches the end" if result is None else "")
            return
        share, prefix = result.homogeneity(k=TOP_K, level=1)
        self._meter.setFormat("%p %")
        self._meter.setValue(int(round(100 * share)))
        n = min(TOP_K, len(result))
        self._meter_label.setText(f"{int(round(share * n))} of the top {n} share first code {prefix[0]}")

    def _update_buttons(self, *_args) -> None:
        st = self._stepper
        busy = any(k == "build" and g == self._generation for k, g, _ in self._jobs.values())
        ok = st is not None and not busy
        self._buttons["reset"].setEnabled(ok and (st.level > 0 or st.pending_force is not None))
        self._buttons["back"].setEnabled(ok and st.level > 0)
        self._buttons["step"].setEnabled(ok and not st.done)
        self._buttons["run"].setEnabled(ok and not st.done)
        rows = self._cand_view.selectionModel().selectedRows()
        can_force = ok and bool(rows) and not self.candidates_model.candidate(rows[0].row())[2]
        self._buttons["force"].setEnabled(can_force)

    def _maybe_ready(self) -> None:
        st = self._stepper
        if not self._ready and not self._jobs and st is not None and st.done and self.results_model.rowCount():
            self._ready = True
            self.sig_ready.emit()

    def _show_error(self, message: str) -> None:
        self._error.setText(message)
        self._error.setVisible(True)

    # ---- private: linked selection ----
    def _on_result_clicked(self, index: QModelIndex) -> None:
        item = self.results_model.data(index, Qt.ItemDataRole.UserRole)
        if item is not None and item >= 0:
            self._selection.select_items([item], SOURCE)

    def _on_prefix_clicked(self, prefix: tuple[int, ...]) -> None:
        if prefix:
            self._selection.select_prefix(prefix, SOURCE)
