"""Codeword weights panel: content- vs collaborative-guided weights of one item (the IntRR figure).

For the chosen item and every SID level, two distributions over that level's K codewords are drawn
as mirrored bars: the tokenizer's soft assignment of the item's content (above the axis) and the
RAN generator's assignment driven by the item's learned UID embedding (below the axis). A table
gives their Jensen-Shannon divergence per level and whether the most likely codeword moved. A
sortable list ranks every item by that divergence (computed once per project in the background),
a "compare with" picker overlays the collaborative weights of an item that shares the chosen
item's SID prefix, and a DECOR box shows, when the project has a TIGER-style generator trained
with DECOR, how much of each of the item's token embeddings comes from the frozen content codebook.

The panel computes nothing on the GUI thread: loading the generators, the ranking and each item's
weights are jobs on the :class:`~app.bridge.EngineBridge`.
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QStringListModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QCompleter,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QSplitter,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from genrec_engine import (
    CancelToken,
    GenrecError,
    LevelWeights,
    ProgressFn,
    codeword_weights,
    divergence_ranking,
    js_divergence,
    load_project_generator,
)

from . import ProjectSnapshot, ProjectViewModel
from ..widgets import ERROR_COLOUR, error_label, heading as _heading

__all__ = [
    "WeightsPanel",
    "RankingModel",
    "LevelWeightsModel",
    "ItemWeights",
    "SOURCE",
    "load_weight_generators",
    "compute_ranking",
    "compute_item_weights",
]

#: The name this panel uses as the ``source`` of the selections it makes.
SOURCE = "weights"

CONTENT_COLOUR = "#1f6fb4"  # blue: the tokenizer's (content-guided) weights, above the axis
COLLAB_COLOUR = "#e0691a"  # orange: the RAN's (collaborative-guided) weights, below the axis
COMPARE_COLOUR = "#7b2fa8"  # purple: the compared item's collaborative weights (an outline)
CODE_COLOUR = "#202020"  # the item's SID code (dashed line)

_NO_DECOR = "Load a TIGER-style generator trained with decor to see the fusion split."


# ------------------------------------------------------------------------------------ engine jobs


def _level_name(level: int, depth: int) -> str:
    """``"L1"``.. for quantizer levels, ``"Coll."`` for the last (collision) level."""
    return "Coll." if level == depth - 1 else f"L{level + 1}"


def load_weight_generators(project, *, progress: ProgressFn | None = None,
                           cancel: CancelToken | None = None) -> dict:
    """Load what the panel needs from the project folder (a bridge job, ~20 ms).

    Returns ``{"ran": RAN | None, "ran_error": str | None, "tiger": TIGER | None,
    "tiger_note": str | None}``: a missing or unreadable generator is reported as a message, not
    raised, so the panel can say which command makes it. Only a TIGER built with ``decor=True``
    is kept (the fusion split needs DECOR's gate).
    """
    out: dict = {"ran": None, "ran_error": None, "tiger": None, "tiger_note": None}
    if progress is not None:
        progress(0.0, "loading the RAN generator")
    try:
        out["ran"] = load_project_generator(project, "ran")
    except GenrecError as exc:
        out["ran_error"] = str(exc) or type(exc).__name__
    if cancel is not None:
        cancel.raise_if_cancelled()
    if progress is not None:
        progress(0.5, "looking for a DECOR TIGER generator")
    try:
        tiger = load_project_generator(project, "tiger")
    except GenrecError as exc:
        missing = "not found" in str(exc)
        out["tiger_note"] = ("This project has no TIGER generator (generator-tiger.safetensors); train one with "
                             f"genrec train --project {shlex.quote(str(project.path))} --model tiger "
                             "--model-config '{\"decor\": true}'." if missing
                             else f"Its TIGER generator could not be loaded: {exc}")
    else:
        if getattr(tiger.config, "decor", False):
            out["tiger"] = tiger
        else:
            out["tiger_note"] = "This project's TIGER generator was trained without decor."
    if progress is not None:
        progress(1.0, "generators loaded")
    return out


def compute_ranking(project, ran, *, progress: ProgressFn | None = None, cancel: CancelToken | None = None) -> dict:
    """Every item's JS divergence per level ``js [N, D]`` (bits), ``moved [N, D]`` flags and
    ``mean [N]`` (mean JS over the D levels): :func:`genrec_engine.divergence_ranking` plus the mean."""
    rank = divergence_ranking(project, ran, progress=progress, cancel=cancel)
    return {"js": rank["js"], "moved": rank["moved"], "mean": rank["js"].mean(1)}


@dataclass(frozen=True)
class ItemWeights:
    """One item's weights as the panel shows them (built on a worker, read on the GUI thread)."""

    item: int
    levels: list[LevelWeights]  # per SID level: content / collaborative weights, JS, argmaxes
    compare: int | None  # the compared item, or None
    compare_levels: list[LevelWeights] | None
    compare_js: np.ndarray | None  # [D] JS (bits) between the two items' collaborative weights
    fusion: np.ndarray | None  # [D] DECOR gate g of the item's tokens (share of the content codebook)
    compare_fusion: np.ndarray | None


def compute_item_weights(project, ran, item: int, compare: int | None = None, tiger=None, *,
                         progress: ProgressFn | None = None, cancel: CancelToken | None = None) -> ItemWeights:
    """The weights of ``item`` (and of ``compare``) per level, plus the DECOR split when ``tiger``
    (a TIGER built with decor) is given. A few milliseconds; a bridge job all the same."""
    levels = codeword_weights(project, ran, int(item))
    compare_levels = compare_js = None
    if compare is not None:
        compare_levels = codeword_weights(project, ran, int(compare))
        compare_js = np.array([float(js_divergence(a.collaborative[None], b.collaborative[None])[0])
                               for a, b in zip(levels, compare_levels)], dtype=np.float32)
    if cancel is not None:
        cancel.raise_if_cancelled()
    fusion = compare_fusion = None
    if tiger is not None:
        D = project.sids.depth
        fusion = tiger.fusion_split([(l, int(project.sids.codes[item, l])) for l in range(D)])
        if compare is not None:
            compare_fusion = tiger.fusion_split([(l, int(project.sids.codes[compare, l])) for l in range(D)])
    return ItemWeights(int(item), levels, None if compare is None else int(compare), compare_levels,
                       compare_js, fusion, compare_fusion)


# ------------------------------------------------------------------------------------ item models


class RankingModel(QAbstractTableModel):
    """Every item, ranked by how far its collaborative weights moved from its content weights.

    Columns: item title, mean JS over levels, then JS per level (``L1``.. and ``Coll.``); a level
    cell whose argmax moved shows a red ``*``. ``Qt.UserRole`` gives the raw sort value of a cell
    (the title or a float), ``ITEM_ROLE`` the row's item index, ``MOVED_ROLE`` a level cell's moved
    flag. Sorting (the view's header) reorders rows with one NumPy argsort, never a Python
    comparison per pair.
    """

    ITEM_ROLE = Qt.ItemDataRole.UserRole + 1
    MOVED_ROLE = Qt.ItemDataRole.UserRole + 2

    def __init__(self, parent=None):
        super().__init__(parent)
        self._titles = np.zeros(0, dtype=object)
        self._ids = np.zeros(0, dtype=np.int64)
        self._js = np.zeros((0, 0), dtype=np.float32)
        self._moved = np.zeros((0, 0), dtype=bool)
        self._mean = np.zeros(0, dtype=np.float32)
        self._order = np.zeros(0, dtype=np.int64)  # row -> item index
        self._row_of = np.zeros(0, dtype=np.int64)  # item index -> row

    # ---- public ----
    def set_ranking(self, titles, item_ids, js: np.ndarray, moved: np.ndarray) -> None:
        """Show a new ranking (``js``/``moved`` ``[N, D]``), sorted by mean JS, largest first."""
        self.beginResetModel()
        self._titles = np.asarray([str(t) for t in titles], dtype=object)
        self._ids = np.asarray(item_ids)
        self._js = np.asarray(js, dtype=np.float32)
        self._moved = np.asarray(moved, dtype=bool)
        self._mean = self._js.mean(1) if self._js.size else np.zeros(len(self._js), dtype=np.float32)
        self._order = np.argsort(-self._mean, kind="stable")
        self._row_of = np.argsort(self._order)
        self.endResetModel()

    def clear(self) -> None:
        self.set_ranking([], np.zeros(0, np.int64), np.zeros((0, 0), np.float32), np.zeros((0, 0), bool))

    @property
    def depth(self) -> int:
        return int(self._js.shape[1]) if self._js.ndim == 2 else 0

    def item_at(self, row: int) -> int:
        """The item index shown on ``row``."""
        return int(self._order[row])

    def row_of(self, item: int) -> int:
        return int(self._row_of[item])

    def mean_js(self, item: int) -> float:
        return float(self._mean[item])

    # ---- Qt model API ----
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._order)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else 2 + self.depth

    def _sort_keys(self, column: int) -> np.ndarray:
        if column == 0:
            return np.char.lower(self._titles.astype(str)) if len(self._titles) else self._titles
        if column == 1:
            return self._mean
        return self._js[:, column - 2]

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not (0 <= index.row() < len(self._order)):
            return None
        col, D = index.column(), self.depth
        if not (0 <= col < 2 + D):
            return None
        item = int(self._order[index.row()])
        if role == self.ITEM_ROLE:
            return item
        moved = col >= 2 and bool(self._moved[item, col - 2])
        if role == self.MOVED_ROLE:
            return moved if col >= 2 else None
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return self._titles[item] or f"item {self._ids[item]}"
            if col == 1:
                return f"{self._mean[item]:.3f}"
            return f"{self._js[item, col - 2]:.2f}" + ("*" if moved else "\u2009")
        if role == Qt.ItemDataRole.UserRole:
            if col == 0:
                return str(self._titles[item])
            if col == 1:
                return float(self._mean[item])
            return float(self._js[item, col - 2])
        if role == Qt.ItemDataRole.ForegroundRole and moved:
            return QColor(ERROR_COLOUR)
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == 0:
                return f"{self._titles[item]}\nitem id {self._ids[item]} (index {item})"
            tip = self.headerData(col, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole)
            return tip + ("\n* the top codeword moved at this level." if moved else "")
        if role == Qt.ItemDataRole.TextAlignmentRole and col > 0:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        D = self.depth
        if orientation == Qt.Orientation.Horizontal and 0 <= section < 2 + D:
            if role == Qt.ItemDataRole.DisplayRole:
                if section == 0:
                    return "Item"
                if section == 1:
                    return "Mean JS"
                return _level_name(section - 2, D)
            if role == Qt.ItemDataRole.ToolTipRole:
                if section == 0:
                    return "The item's title."
                if section == 1:
                    return "Jensen-Shannon divergence between content and collaborative weights, in bits " \
                           "(0 = identical, 1 = disjoint), averaged over the SID levels."
                return (f"JS divergence (bits) at SID level {_level_name(section - 2, D)}; * marks a level where "
                        "the collaborative weights' most likely codeword differs from the content's.")
        if orientation == Qt.Orientation.Vertical and role == Qt.ItemDataRole.DisplayRole and 0 <= section < len(self._order):
            return str(section + 1)
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not (0 <= column < self.columnCount()) or not len(self._order):
            return
        keys = self._sort_keys(column)
        if order == Qt.SortOrder.DescendingOrder:
            new = np.argsort(-keys, kind="stable") if column != 0 else np.argsort(keys, kind="stable")[::-1].copy()
        else:
            new = np.argsort(keys, kind="stable")
        self.layoutAboutToBeChanged.emit()
        old_rows = self.persistentIndexList()
        new_row_of = np.argsort(new)
        moved_to = [self.index(int(new_row_of[self._order[p.row()]]), p.column()) for p in old_rows]
        self._order, self._row_of = new.astype(np.int64), new_row_of
        self.changePersistentIndexList(old_rows, moved_to)
        self.layoutChanged.emit()


_LEVEL_COLUMNS = (
    ("Level", "Position in the semantic ID; the last level is the collision token."),
    ("SID code", "The item's code at this level (the dashed line in the chart)."),
    ("Content", "Top codeword: the one the tokenizer's content weights favour most."),
    ("Collab.", "Top codeword: the one the RAN's collaborative weights favour most."),
    ("JS (bits)", "Jensen-Shannon divergence between the two weight vectors: 0 = identical, 1 = disjoint."),
    ("Moved?", "Yes when the collaborative weights' most likely codeword differs from the content's."),
    ("vs compared", "JS divergence between this item's and the compared item's collaborative weights."),
)


class LevelWeightsModel(QAbstractTableModel):
    """One row per SID level of the shown item: its code, both argmaxes, JS and the moved flag.

    ``Qt.UserRole`` returns raw values (the JS as a float, the moved flag as a bool).
    """

    def __init__(self, parent=None):
        super().__init__(parent)
        self._levels: list[LevelWeights] = []
        self._compare_js: np.ndarray | None = None

    # ---- public ----
    def set_levels(self, levels: list[LevelWeights], compare_js: np.ndarray | None = None) -> None:
        self.beginResetModel()
        self._levels = list(levels)
        self._compare_js = None if compare_js is None else np.asarray(compare_js)
        self.endResetModel()

    # ---- Qt model API ----
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._levels)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(_LEVEL_COLUMNS)

    def _value(self, lw: LevelWeights, col: int):
        D = len(self._levels)
        return (
            _level_name(lw.level, D),
            lw.code,
            lw.content_argmax,
            lw.collaborative_argmax,
            lw.js,
            lw.moved,
            None if self._compare_js is None else float(self._compare_js[lw.level]),
        )[col]

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not (0 <= index.row() < len(self._levels)):
            return None
        col = index.column()
        if not (0 <= col < len(_LEVEL_COLUMNS)):
            return None
        lw = self._levels[index.row()]
        value = self._value(lw, col)
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 4:
                return f"{value:.3f}"
            if col == 5:
                return "yes" if value else "no"
            if col == 6:
                return "–" if value is None else f"{value:.3f}"
            return str(value)
        if role == Qt.ItemDataRole.UserRole:
            return value
        if role == Qt.ItemDataRole.ForegroundRole and col == 5 and value:
            return QColor(ERROR_COLOUR)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            return _LEVEL_COLUMNS[col][1]
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(_LEVEL_COLUMNS):
            if role == Qt.ItemDataRole.DisplayRole:
                return _LEVEL_COLUMNS[section][0]
            if role == Qt.ItemDataRole.ToolTipRole:
                return _LEVEL_COLUMNS[section][1]
        if orientation == Qt.Orientation.Vertical and role == Qt.ItemDataRole.DisplayRole and 0 <= section < len(self._levels):
            return str(section + 1)
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable


# ------------------------------------------------------------------------------------------ plots


class LevelPlot(pg.GraphicsLayoutWidget):
    """One SID level's K codewords as two stacked bar charts sharing the codeword axis: content
    weights on top, collaborative weights hanging below (each with its own weight scale, so a flat
    distribution stays visible next to a peaked one). The item's code is a dashed line in both; a
    compared item's collaborative weights are a purple outline over the lower chart.

    The plot items are made once and updated with ``setOpts``/``setData``.
    """

    def __init__(self, level: int, n_codes: int, depth: int, parent=None):
        super().__init__(parent)
        self.setBackground("w")
        self.level, self.n_codes, self._depth = level, n_codes, depth
        self.ci.layout.setContentsMargins(2, 2, 2, 2)
        self.ci.layout.setVerticalSpacing(0)
        self.title = self.addLabel("", row=0, col=0, color="#202020", size="9pt")
        self.top = self.addPlot(row=1, col=0)
        self.bottom = self.addPlot(row=2, col=0)
        self.bottom.setXLink(self.top)
        self.bottom.invertY(True)  # collaborative bars hang down from the shared codeword axis
        for plot, name in ((self.top, "content"), (self.bottom, "collab.")):
            plot.setMenuEnabled(False)
            plot.hideButtons()
            plot.showGrid(x=False, y=True, alpha=0.15)
            plot.setMouseEnabled(x=True, y=False)  # scroll zooms into the codewords, never the weights
            for axis in ("left", "bottom"):
                ax = plot.getAxis(axis)
                ax.setPen(pg.mkPen("#606060"))
                ax.setTextPen(pg.mkPen("#303030"))
            plot.getAxis("left").setWidth(60)
            plot.getAxis("left").enableAutoSIPrefix(False)
            plot.setLabel("left", name, color="#303030", **{"font-size": "8pt"})  # pyqtgraph writes size= as CSS "size:", which Qt ignores
        self.top.getAxis("bottom").setStyle(showValues=False)
        self.bottom.getAxis("bottom").setHeight(22)
        self.bottom.setLabel("bottom", "")
        x = np.arange(n_codes, dtype=float)
        zeros = np.zeros(n_codes)
        self.content_bars = pg.BarGraphItem(x=x, height=zeros, width=1.0, brush=CONTENT_COLOUR, pen=pg.mkPen(None))
        self.collab_bars = pg.BarGraphItem(x=x, height=zeros, width=1.0, brush=COLLAB_COLOUR, pen=pg.mkPen(None))
        compare_pen = QColor(COMPARE_COLOUR)
        compare_pen.setAlpha(220)
        self.compare_curve = pg.PlotDataItem(np.arange(n_codes + 1) - 0.5, zeros, stepMode="center",
                                             pen=pg.mkPen(compare_pen, width=1.2))
        code_pen = pg.mkPen(CODE_COLOUR, width=1.2, style=Qt.PenStyle.DashLine)
        self.code_lines = (pg.InfiniteLine(angle=90, pen=code_pen), pg.InfiniteLine(angle=90, pen=code_pen))
        self.compare_line = pg.InfiniteLine(angle=90, pen=pg.mkPen(COMPARE_COLOUR, width=1.2, style=Qt.PenStyle.DotLine))
        self.top.addItem(self.content_bars)
        self.top.addItem(self.code_lines[0])
        for it in (self.collab_bars, self.compare_curve, self.code_lines[1], self.compare_line):
            self.bottom.addItem(it)
        self.compare_curve.setVisible(False)
        self.compare_line.setVisible(False)
        self.top.setXRange(-0.5, n_codes - 0.5, padding=0.01)

    def show_weights(self, lw: LevelWeights, compare: LevelWeights | None) -> None:
        self.content_bars.setOpts(height=lw.content.astype(float))
        self.collab_bars.setOpts(height=lw.collaborative.astype(float))
        for line in self.code_lines:
            line.setPos(lw.code)
        bottom = float(max(lw.collaborative.max(), 1e-3))
        if compare is not None:
            self.compare_curve.setData(np.arange(self.n_codes + 1) - 0.5, compare.collaborative.astype(float))
            self.compare_line.setPos(compare.code)
            bottom = max(bottom, float(compare.collaborative.max()))
        self.compare_curve.setVisible(compare is not None)
        self.compare_line.setVisible(compare is not None and compare.code != lw.code)
        self.top.setYRange(0, 1.08 * float(max(lw.content.max(), 1e-3)), padding=0)
        self.bottom.setYRange(0, 1.08 * bottom, padding=0)
        name = "Collision level" if lw.level == self._depth - 1 else f"Level {lw.level + 1}"
        moved = "top codeword moved" if lw.moved else "top codeword kept"
        self.title.setText(f"{name}: code {lw.code} · JS {lw.js:.2f} bits · {moved}")

    def clear_weights(self) -> None:
        zeros = np.zeros(self.n_codes)
        self.content_bars.setOpts(height=zeros)
        self.collab_bars.setOpts(height=zeros)
        self.compare_curve.setVisible(False)
        self.compare_line.setVisible(False)
        self.title.setText("")

    # ---- read back (tests, screenshot checks) ----
    def bar_heights(self) -> tuple[np.ndarray, np.ndarray]:
        """``(content, collaborative)`` weights as drawn."""
        return np.asarray(self.content_bars.opts["height"]), np.asarray(self.collab_bars.opts["height"])


# ----------------------------------------------------------------------------------------- panel


def _wrapped(text: str = "", rich: bool = True) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText if rich else Qt.TextFormat.PlainText)
    return label


def _swatch(colour: str, text: str) -> str:
    return f"<span style='color:{colour}; font-size:14pt'>■</span>&nbsp;{text}"


_HEADER = (
    "How the tokenizer (<b>content</b>) and the RAN generator (<b>collaborative</b> behaviour) weight the "
    "codewords of each SID level for one item. Bars above the axis are the content-guided weights, bars "
    "below the collaborative-guided ones; the dashed line is the item's SID code. A JS divergence near 0 "
    "bits means both agree, near 1 that user behaviour pulls the item to other codewords (the collision "
    "level has no content model: its content weight is the item's own collision code)."
)
_EMPTY_TEXT = "<p>Open a project folder with <b>File › Open project…</b> to compare an item's codeword weights.</p>"


class WeightsPanel(QWidget):
    """The codeword weights of one item, a divergence ranking of all items, and a comparison item.

    Built as ``WeightsPanel(view_model, selection, bridge)``; follows the linked selection (the
    first selected item is shown, a second one is compared) and selects with source ``"weights"``.
    """

    sig_ready = Signal()
    """Emitted once per project, when the first item's weights are drawn."""

    def __init__(self, view_model: ProjectViewModel, selection, bridge, parent: QWidget | None = None):
        super().__init__(parent)
        self._vm, self._selection, self._bridge = view_model, selection, bridge
        self._snapshot: ProjectSnapshot | None = None
        self._generation = 0  # bumped per project: results of older jobs are dropped
        self._jobs: dict[int, tuple[str, int]] = {}  # job id -> (kind, generation)
        self._item_request = 0  # only the latest item job's result is shown
        self._ran = None
        self._tiger = None
        self._tiger_note: str | None = None
        self._item: int | None = None
        self._compare: int | None = None
        self._shown: ItemWeights | None = None
        self._ready = False
        self._auto_item = False  # the item shown is the ranking's top, not a user's pick
        self._completions: dict[str, int] = {}
        self.plots: list[LevelPlot] = []

        self.ranking_model = RankingModel(self)
        self.level_model = LevelWeightsModel(self)

        self._stack = QStackedWidget(self)
        self._empty_page = self._build_empty_page()
        self._main_page = self._build_main_page()
        self._no_ran_page = self._build_no_ran_page()
        for page in (self._empty_page, self._main_page, self._no_ran_page):
            self._stack.addWidget(page)
        header = _wrapped(_HEADER)
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
        selection.sig_changed.connect(self._on_selection)
        view_model.sig_project_changed.connect(self._on_project_changed)
        self._on_project_changed(view_model.snapshot)

    # ---- public ----
    def screenshot_ready(self) -> bool:
        """True once an item's weights are drawn."""
        return self._ready

    def page(self) -> str:
        """Which page is showing: ``"empty"``, ``"weights"`` or ``"no_ran"``."""
        return {0: "empty", 1: "weights", 2: "no_ran"}[self._stack.currentIndex()]

    def ran_loaded(self) -> bool:
        return self._ran is not None

    def ranking_ready(self) -> bool:
        return self.ranking_model.rowCount() > 0

    def shown_item(self) -> int | None:
        """The item whose weights are drawn (None before the first is)."""
        return None if self._shown is None else self._shown.item

    def shown_weights(self) -> ItemWeights | None:
        return self._shown

    def compare_item(self) -> int | None:
        return self._compare

    def message_text(self) -> str:
        """The text of the missing-RAN page."""
        return self._no_ran_label.text()

    def decor_text(self) -> str:
        return self._decor_label.text()

    def error_text(self) -> str:
        return self._error.text() if self._error.isVisible() else ""

    def show_item(self, item: int, compare: int | None = None) -> None:
        """Show ``item`` (compared with ``compare``, or with the default prefix neighbour)."""
        self._auto_item = False
        self._set_item(int(item), compare)

    def set_compare(self, item: int | None) -> None:
        """Compare the shown item with ``item`` (None: no comparison)."""
        idx = self._compare_combo.findData(-1 if item is None else int(item))
        if idx < 0:
            self._compare_combo.addItem(self._item_text(int(item), "picked"), int(item))
            idx = self._compare_combo.count() - 1
        self._compare_combo.setCurrentIndex(idx)  # -> _on_compare_changed

    @property
    def ranking_view(self) -> QTableView:
        return self._ranking_view

    @property
    def level_view(self) -> QTableView:
        return self._level_view

    @property
    def compare_combo(self) -> QComboBox:
        return self._compare_combo

    @property
    def search_edit(self) -> QLineEdit:
        return self._search

    # ---- private: pages ----
    def _build_empty_page(self) -> QWidget:
        page = QWidget()
        lay = QVBoxLayout(page)
        lay.addStretch(1)
        title = _heading("No project open", 1.4)
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        body = _wrapped(_EMPTY_TEXT)
        body.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay.addWidget(title)
        lay.addWidget(body)
        lay.addStretch(2)
        return page

    def _build_no_ran_page(self) -> QWidget:
        page = QWidget()
        lay = QVBoxLayout(page)
        lay.addStretch(1)
        title = _heading("This project has no trained RAN generator", 1.3)
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._no_ran_label = _wrapped("")
        self._no_ran_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._no_ran_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row = QHBoxLayout()
        row.addStretch(1)
        box = QWidget()
        box.setFixedWidth(680)
        bl = QVBoxLayout(box)
        bl.addWidget(title)
        bl.addWidget(self._no_ran_label)
        row.addWidget(box)
        row.addStretch(1)
        lay.addLayout(row)
        lay.addStretch(2)
        return page

    def _build_main_page(self) -> QWidget:
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)

        # left: the ranking
        left = QGroupBox("Items ranked by divergence")
        left.setMinimumWidth(400)
        ll = QVBoxLayout(left)
        ll.setContentsMargins(6, 6, 6, 6)
        self._ranking_status = _wrapped("Ranking every item by content/collaborative divergence…")
        ll.addWidget(_wrapped("Items whose collaborative weights differ most from their content weights "
                              "come first; a red * marks a level whose top codeword moved. Click a row to show that "
                              "item; click a header to sort."))
        ll.addWidget(self._ranking_status)
        self._ranking_view = QTableView()
        self._ranking_view.setModel(self.ranking_model)
        self._ranking_view.setSortingEnabled(True)
        self._ranking_view.horizontalHeader().setSortIndicator(1, Qt.SortOrder.DescendingOrder)
        self._ranking_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self._ranking_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self._ranking_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self._ranking_view.setWordWrap(False)
        self._ranking_view.setAlternatingRowColors(True)
        self._ranking_view.verticalHeader().setVisible(False)
        self._ranking_view.verticalHeader().setDefaultSectionSize(22)
        hh = self._ranking_view.horizontalHeader()
        hh.setMinimumSectionSize(36)
        hh.setStretchLastSection(False)
        self._ranking_view.clicked.connect(self._on_ranking_clicked)
        self._ranking_view.activated.connect(self._on_ranking_clicked)
        ll.addWidget(self._ranking_view, 1)
        splitter.addWidget(left)

        # right: the chosen item
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(6, 0, 0, 0)
        rl.setSpacing(5)
        search_row = QHBoxLayout()
        search_row.addWidget(QLabel("Item:"))
        self._search = QLineEdit()
        self._search.setPlaceholderText("type an item id, an ASIN or part of a title, then Enter")
        self._search.setClearButtonEnabled(True)
        self._search.returnPressed.connect(self._on_search)
        self._completer_model = QStringListModel(self)
        self._completer = QCompleter(self._completer_model, self)
        self._completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self._completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self._completer.setMaxVisibleItems(12)
        self._completer.activated.connect(self._on_completion)
        self._search.setCompleter(self._completer)
        search_row.addWidget(self._search, 1)
        rl.addLayout(search_row)
        self._item_title = _heading("", 1.1)
        self._item_title.setWordWrap(True)
        self._item_title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._item_status = _wrapped("")
        rl.addWidget(self._item_title)
        rl.addWidget(self._item_status)

        tables = QHBoxLayout()
        self._level_view = QTableView()
        self._level_view.setModel(self.level_model)
        self._level_view.verticalHeader().setVisible(False)
        self._level_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self._level_view.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self._level_view.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._level_view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._level_view.verticalHeader().setDefaultSectionSize(22)
        self._level_view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self._level_view.horizontalHeader().setStretchLastSection(True)
        tables.addWidget(self._level_view, 3)
        decor = QGroupBox("DECOR fusion split (TIGER)")
        decor.setProperty("expert", True)  # hidden in presenter mode
        dl = QVBoxLayout(decor)
        dl.setContentsMargins(6, 4, 6, 4)
        self._decor_label = _wrapped(_NO_DECOR)
        self._decor_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        dl.addWidget(self._decor_label, 1)
        tables.addWidget(decor, 2)
        rl.addLayout(tables)

        compare_row = QHBoxLayout()
        compare_row.addWidget(QLabel("Compare with:"))
        self._compare_combo = QComboBox()
        self._compare_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self._compare_combo.setMinimumContentsLength(18)
        self._compare_combo.setToolTip("Items that share the shown item's SID prefix (longest shared prefix first); "
                                       "their collaborative weights are drawn as a purple outline.")
        self._compare_combo.currentIndexChanged.connect(self._on_compare_changed)
        compare_row.addWidget(self._compare_combo, 1)
        legend = QLabel("  ".join([_swatch(CONTENT_COLOUR, "content"), _swatch(COLLAB_COLOUR, "collaborative"),
                                   _swatch(COMPARE_COLOUR, "compared"), "<b>┆</b>&nbsp;SID code"]))
        legend.setToolTip("Blue: the tokenizer's content-guided weights. Orange: the RAN's collaborative-guided "
                          "weights. Purple outline: the compared item's collaborative weights. Dashed line: the "
                          "item's SID code (dotted purple: the compared item's, where it differs).")
        legend.setTextFormat(Qt.TextFormat.RichText)
        compare_row.addWidget(legend)
        rl.addLayout(compare_row)

        self._plot_grid = QGridLayout()
        self._plot_grid.setSpacing(4)
        rl.addLayout(self._plot_grid, 1)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([460, 800])
        return splitter

    # ---- private: project ----
    def _on_project_changed(self, snapshot: ProjectSnapshot | None) -> None:
        for job_id in list(self._jobs):
            self._bridge.cancel(job_id)
        self._generation += 1
        self._snapshot = snapshot
        self._ran = self._tiger = None
        self._tiger_note = None
        self._item = self._compare = None
        self._shown = None
        self._ready = False
        self._auto_item = False
        self._error.setVisible(False)
        self.ranking_model.clear()
        self.level_model.set_levels([])
        self._item_title.setText("")
        self._decor_label.setText(_NO_DECOR)
        self._compare_combo.blockSignals(True)
        self._compare_combo.clear()
        self._compare_combo.blockSignals(False)
        self._build_plots(snapshot)
        if snapshot is None:
            self._completions = {}
            self._completer_model.setStringList([])
            self._stack.setCurrentWidget(self._empty_page)
            return
        self._build_completions(snapshot)
        self._stack.setCurrentWidget(self._main_page)
        self._ranking_status.setText("Waiting for the RAN generator…")
        self._ranking_status.setVisible(True)
        self._item_status.setText("Loading the RAN generator…")
        self._submit("load", load_weight_generators, snapshot.project, name="load weights generators")

    def _build_plots(self, snapshot: ProjectSnapshot | None) -> None:
        sizes = tuple(snapshot.project.sids.level_sizes) if snapshot is not None else ()
        if tuple(p.n_codes for p in self.plots) == sizes:
            for p in self.plots:
                p.clear_weights()
            return
        for p in self.plots:
            self._plot_grid.removeWidget(p)
            p.deleteLater()
        D = len(sizes)
        cols = 2 if D > 1 else 1
        self.plots = [LevelPlot(l, k, D) for l, k in enumerate(sizes)]
        for l, p in enumerate(self.plots):
            self._plot_grid.addWidget(p, l // cols, l % cols)

    def _build_completions(self, snapshot: ProjectSnapshot) -> None:
        cat = snapshot.project.dataset.catalogue
        ids = snapshot.project.sids.item_ids
        titles = cat.items["title"].astype(str).tolist()
        self._completions = {f"{t}  [{i}]": n for n, (t, i) in enumerate(zip(titles, ids))}
        self._completer_model.setStringList(list(self._completions))

    # ---- private: jobs ----
    def _submit(self, kind: str, fn: Callable, *args, name: str, **kwargs) -> int:
        job = self._bridge.submit(fn, *args, name=name, **kwargs)
        self._jobs[job.id] = (kind, self._generation)
        return job.id

    def _on_finished(self, job_id: int) -> None:
        self._jobs.pop(job_id, None)

    def _on_error(self, job_id: int, message: str) -> None:
        entry = self._jobs.get(job_id)
        if entry is None or entry[1] != self._generation:
            return
        what = {"load": "load the generators", "ranking": "rank the items", "item": "compute the item's weights"}
        self._error.setText(f"Could not {what.get(entry[0], 'finish')}: {message}")
        self._error.setVisible(True)
        if entry[0] == "ranking":
            self._ranking_status.setText("The ranking could not be computed.")

    def _on_result(self, job_id: int, result: object) -> None:
        entry = self._jobs.get(job_id)
        if entry is None or entry[1] != self._generation or self._snapshot is None:
            return
        kind = entry[0]
        if kind == "load":
            self._on_generators(result)  # type: ignore[arg-type]
        elif kind == "ranking":
            self._on_ranking(result)  # type: ignore[arg-type]
        elif kind == "item" and job_id == self._item_request:
            self._draw(result)  # type: ignore[arg-type]

    def _on_generators(self, result: dict) -> None:
        snapshot = self._snapshot
        self._tiger, self._tiger_note = result["tiger"], result["tiger_note"]
        if result["ran"] is None:
            cmd = f"genrec train --project {shlex.quote(str(snapshot.path))} --model ran"
            self._no_ran_label.setText(
                "<p>The collaborative-guided weights come from the project's RAN generator "
                "(<code>generator-ran.safetensors</code>), which could not be loaded:</p>"
                f"<p><i>{_escape(result['ran_error'])}</i></p>"
                f"<p>Train it with:</p><p><code>{_escape(cmd)}</code></p>"
                "<p>then open the project again.</p>")
            self._stack.setCurrentWidget(self._no_ran_page)
            return
        self._ran = result["ran"]
        self._ranking_status.setText("Ranking every item by content/collaborative divergence (a few seconds)…")
        self._submit("ranking", compute_ranking, snapshot.project, self._ran, name="divergence ranking")
        if self._item is not None:
            self._request_item()
        else:
            self._item_status.setText("Pick an item: click a row of the ranking, select one in another panel, "
                                      "or search above.")

    def _on_ranking(self, result: dict) -> None:
        snapshot = self._snapshot
        project = snapshot.project
        titles = project.dataset.catalogue.items["title"].astype(str).to_numpy()
        self.ranking_model.set_ranking(titles, project.sids.item_ids, result["js"], result["moved"])
        self._ranking_view.horizontalHeader().setSortIndicator(1, Qt.SortOrder.DescendingOrder)
        self._fit_ranking_columns()
        moved_any = int(result["moved"].any(1).sum())
        self._ranking_status.setText(
            f"{project.sids.n_items:,} items; the top codeword moved at some level for {moved_any:,} of them.")
        if self._item is None:  # nothing picked yet: show the most divergent item
            self._auto_item = True
            self._set_item(self.ranking_model.item_at(0), None)
        else:
            self._highlight_in_ranking(self._item)

    def _fit_ranking_columns(self) -> None:
        hh = self._ranking_view.horizontalHeader()
        hh.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in range(1, self.ranking_model.columnCount()):
            hh.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)

    # ---- private: the item ----
    def _item_text(self, item: int, why: str) -> str:
        project = self._snapshot.project
        title = project.dataset.catalogue.title(item) or f"item {project.sids.item_ids[item]}"
        if len(title) > 60:
            title = title[:57] + "…"
        sid = "-".join(str(c) for c in project.sids.sid(item))
        return f"{title}  ({sid}; {why})"

    def _fill_compare(self, item: int, extra: int | None) -> None:
        """Items sharing ``item``'s SID prefix, longest prefix first (at most 200), plus ``extra``."""
        sids = self._snapshot.project.sids
        codes = sids.codes
        L = sids.depth - 1
        combo = self._compare_combo
        combo.blockSignals(True)
        combo.clear()
        combo.addItem("— no comparison —", -1)
        if extra is not None and extra != item:
            combo.addItem(self._item_text(extra, "second selected item"), int(extra))
        seen = {item, extra}
        for k in range(L, 0, -1):
            same = np.flatnonzero((codes[:, :k] == codes[item, :k]).all(1))
            why = "same first {} codes (collides)".format(k) if k == L else f"same first {k} code{'s' if k > 1 else ''}"
            for j in same:
                j = int(j)
                if j in seen:
                    continue
                seen.add(j)
                combo.addItem(self._item_text(j, why), j)
                if combo.count() > 200:
                    break
            if combo.count() > 200:
                break
        combo.blockSignals(False)

    def _set_item(self, item: int, compare: int | None) -> None:
        self._item = item
        self._fill_compare(item, compare)
        if compare is not None and compare != item:
            self._compare = compare
        else:  # default: the first item sharing the longest prefix (a collider when there is one)
            self._compare = self._compare_combo.itemData(1) if self._compare_combo.count() > 1 else None
        self._compare_combo.blockSignals(True)
        self._compare_combo.setCurrentIndex(max(0, self._compare_combo.findData(-1 if self._compare is None
                                                                                   else self._compare)))
        self._compare_combo.blockSignals(False)
        self._highlight_in_ranking(item)
        self._request_item()

    def _request_item(self) -> None:
        if self._ran is None or self._item is None:
            return
        self._item_status.setText("Computing the codeword weights…")
        self._item_request = self._submit("item", compute_item_weights, self._snapshot.project, self._ran,
                                          self._item, self._compare, self._tiger, name="codeword weights")

    def _draw(self, w: ItemWeights) -> None:
        project = self._snapshot.project
        self._shown = w
        cmp_levels = w.compare_levels or [None] * len(w.levels)
        for plot, lw, cw in zip(self.plots, w.levels, cmp_levels):
            plot.show_weights(lw, cw)
        self.level_model.set_levels(w.levels, w.compare_js)
        self._fit_level_table()
        sid = "-".join(str(c) for c in project.sids.sid(w.item))
        title = project.dataset.catalogue.title(w.item) or f"item {project.sids.item_ids[w.item]}"
        self._item_title.setText(title)
        moved = [_level_name(lw.level, len(w.levels)) for lw in w.levels if lw.moved]
        status = (f"Item id {project.sids.item_ids[w.item]} · SID {sid} · mean JS "
                  f"{np.mean([lw.js for lw in w.levels]):.3f} bits · top codeword moved at "
                  f"{', '.join(moved) if moved else 'no level'}")
        if self._auto_item:
            status += " · shown because it tops the divergence ranking"
        self._item_status.setText(status)
        self._show_decor(w)
        if not self._ready:
            self._ready = True
            self.sig_ready.emit()

    def _show_decor(self, w: ItemWeights) -> None:
        if w.fusion is None:
            note = f" {self._tiger_note}" if self._tiger_note else ""
            self._decor_label.setText(f"{_NO_DECOR}<br><span style='color:#606060'>{_escape(note)}</span>")
            return
        D = len(w.levels)
        rows = "".join(
            f"<tr><td>{_level_name(l, D)}</td><td align='right'>{w.levels[l].code}</td>"
            f"<td align='right'>{100 * w.fusion[l]:.0f} %</td><td align='right'>{100 * (1 - w.fusion[l]):.0f} %</td>"
            + (f"<td align='right' style='color:{COMPARE_COLOUR}'>{100 * w.compare_fusion[l]:.0f} %</td>"
               if w.compare_fusion is not None else "")
            + "</tr>" for l in range(D))
        head = ("<tr><th>Level</th><th>Token</th><th>Codebook</th><th>Learned</th>"
                + ("<th>Compared</th>" if w.compare_fusion is not None else "") + "</tr>")
        self._decor_label.setText(
            "Share of each of the item's token embeddings that comes from the frozen content codebook "
            "vs the learned collaborative table (DECOR's gate, without a user context):"
            f"<table cellspacing='0' cellpadding='3'>{head}{rows}</table>")

    def _fit_level_table(self) -> None:
        t = self._level_view
        rows = sum(t.rowHeight(r) for r in range(self.level_model.rowCount()))
        t.setFixedHeight(t.horizontalHeader().sizeHint().height() + rows + 2 * t.frameWidth() + 2)

    def _highlight_in_ranking(self, item: int) -> None:
        if self.ranking_model.rowCount() == 0:
            return
        row = self.ranking_model.row_of(item)
        index = self.ranking_model.index(row, 0)
        self._ranking_view.selectionModel().select(
            index, self._ranking_view.selectionModel().SelectionFlag.ClearAndSelect
            | self._ranking_view.selectionModel().SelectionFlag.Rows)
        self._ranking_view.scrollTo(index)

    # ---- private: user input ----
    def _on_selection(self, event) -> None:
        if event.source == SOURCE or self._snapshot is None or event.first is None:
            return
        compare = event.items[1] if len(event.items) > 1 else None
        self.show_item(event.first, compare)

    def _pick(self, item: int) -> None:
        """The user picked ``item`` in this panel: show it and tell the other panels."""
        self.show_item(item)
        self._selection.select_items([item], SOURCE)

    def _on_ranking_clicked(self, index: QModelIndex) -> None:
        if index.isValid():
            self._pick(self.ranking_model.item_at(index.row()))

    def _on_completion(self, text: str) -> None:
        item = self._completions.get(text)
        if item is not None:
            self._pick(item)

    def _on_search(self) -> None:
        text = self._search.text().strip()
        if not text or self._snapshot is None:
            return
        item = self._resolve(text)
        if item is None:
            self._item_status.setText(f"No item matches “{text}”.")
            return
        self._pick(item)

    def _resolve(self, text: str) -> int | None:
        """An item index for typed text: a completion, an item id, an ASIN, or a title substring."""
        if text in self._completions:
            return self._completions[text]
        items = self._snapshot.project.dataset.catalogue.items
        if text.lstrip("-").isdigit():
            hits = np.flatnonzero(self._snapshot.project.sids.item_ids == int(text))
            if len(hits):
                return int(hits[0])
        if "asin" in items.columns:
            hits = np.flatnonzero(items["asin"].astype(str).to_numpy() == text)
            if len(hits):
                return int(hits[0])
        hits = np.flatnonzero(items["title"].astype(str).str.contains(text, case=False, regex=False).to_numpy())
        return int(hits[0]) if len(hits) else None

    def _on_compare_changed(self, index: int) -> None:
        data = self._compare_combo.itemData(index)
        self._compare = None if data is None or data < 0 else int(data)
        self._request_item()


def _escape(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
