"""Codebook map panel: a 2-D UMAP of every item, coloured by its semantic-ID codes.

Items close on the map have similar vectors in the chosen space (the text embeddings the tokenizer
quantised, or the RAN generator's collaborative item representations). Colouring by the code at
level 1..L shows whether the tokenizer's codewords follow that geometry. The layout is computed
on the bridge (UMAP, ~30-60 s for 12k items, then cached in the project folder by the engine).
"""
from __future__ import annotations

import colorsys
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from genrec_engine import item_layout, layout_matrix, nearest_neighbours

from ..bridge import EngineBridge
from ..selection import Selection, SelectionEvent
from . import ProjectSnapshot, ProjectViewModel

__all__ = ["MapPanel", "NeighbourTableModel", "code_palette", "points_in_polygon", "SOURCE"]

#: The name this panel gives its selections (``SelectionEvent.source``).
SOURCE = "map"

_SPACE_LABELS = (
    ("content", "Content (text embeddings)"),
    ("collaborative", "Collaborative (RAN items)"),
)
_PREFIX_MODE = -1  # colour combo data for "by chosen prefix"; levels are 0-based ints
_HOVER_MS = 30  # hover lookups at most ~30 per second
_PICK_PX = 10.0  # a click or hover picks the nearest point within this many pixels
_N_NEIGHBOURS = 10
_GREY = QColor(200, 200, 200)
_LAB_NEW = QColor(0, 140, 60)  # cold-start lab: injected items (a green star, white rim)
_LAB_RETIRED = QColor(90, 90, 90)  # cold-start lab: retired items (a dark cross)
_HIGHLIGHT = QColor(214, 39, 40)  # items under the chosen prefix, in prefix mode
_OUTLINE = QColor(20, 20, 20)

_HEADER = (
    "Each dot is one item, placed by UMAP so that items with similar vectors sit close together. "
    "Colours show the item's code at the chosen SID level: if the tokenizer follows the geometry, "
    "colours form patches. Hover for a title, click to select an item, drag with <b>Lasso</b> on "
    "(or with Shift held) to select a group; the list on the right shows the selected item's nearest "
    "neighbours in this space."
)

_EMPTY_TEXT = (
    "<p><b>No project open.</b></p>"
    "<p>Open a project folder with <b>File › Open project…</b> (Ctrl+O) to see its items on a map.</p>"
)


# ----------------------------------------------------------------------------------------- helpers


def code_palette(k: int) -> list[QColor]:
    """``k`` distinct, readable colours on a white background, one per codeword.

    Hues step by the golden ratio around the colour wheel, so consecutive codes get far-apart hues;
    saturation and brightness cycle over three tiers to separate codes of similar hue.
    """
    colours = []
    for i in range(max(0, int(k))):
        hue = (i * 0.618033988749895) % 1.0
        sat = (0.80, 0.60, 0.95)[i % 3]
        val = (0.85, 0.62, 0.72)[(i // 3) % 3]
        r, g, b = colorsys.hsv_to_rgb(hue, sat, val)
        colours.append(QColor.fromRgbF(r, g, b))
    return colours


def points_in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Which of ``points [N, 2]`` lie inside ``polygon [M, 2]`` (closed implicitly): bool ``[N]``.

    Even-odd ray casting, vectorised over the points (one pass per polygon edge).
    """
    pts = np.asarray(points, dtype=np.float64)
    poly = np.asarray(polygon, dtype=np.float64)
    inside = np.zeros(len(pts), dtype=bool)
    if len(poly) < 3 or len(pts) == 0:
        return inside
    lo, hi = poly.min(0), poly.max(0)
    cand = np.flatnonzero(((pts >= lo) & (pts <= hi)).all(1))  # bounding box first
    x, y = pts[cand, 0], pts[cand, 1]
    hit = np.zeros(len(cand), dtype=bool)
    xj, yj = poly[-1]
    for xi, yi in poly:
        crosses = (yi > y) != (yj > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = (xj - xi) * (y - yi) / (yj - yi) + xi
        hit ^= crosses & (x < x_at)
        xj, yj = xi, yi
    inside[cand] = hit
    return inside


@dataclass(frozen=True)
class _LayoutResult:
    """What a layout job hands back: the layout and the matrix it came from (for neighbours)."""

    project: object
    space: str
    positions: np.ndarray  # [N, 2] float32
    matrix: np.ndarray  # [N, d] float32


def _layout_job(project, space: str, layout_fn: Callable, *, progress, cancel) -> _LayoutResult:
    """Engine job (worker thread): the ``space`` matrix (loading the RAN if needed) and its layout."""
    progress(0.0, f"preparing the {space} space")
    matrix = layout_matrix(project, space)
    cancel.raise_if_cancelled()
    positions = layout_fn(project, space, matrix=matrix, progress=progress, cancel=cancel)
    positions = np.ascontiguousarray(positions, dtype=np.float32)
    if positions.shape != (matrix.shape[0], 2):
        raise ValueError(f"layout has shape {positions.shape}, expected ({matrix.shape[0]}, 2)")
    return _LayoutResult(project, space, positions, matrix)


# ------------------------------------------------------------------------------ neighbour table model


class NeighbourTableModel(QAbstractTableModel):
    """The nearest neighbours of one item: rank, title, SID and cosine distance, nearest first.

    ``Qt.UserRole`` on any cell returns the neighbour's item index.
    """

    HEADERS = ("#", "Title", "SID", "Distance")
    TOOLTIPS = (
        "Rank: 1 is the nearest.",
        "The neighbour's title.",
        "The neighbour's semantic ID (codes per level, then the collision token).",
        "Cosine distance, 1 − cos, in the current space: 0 means the same direction, 1 unrelated.",
    )

    def __init__(self, parent=None):
        super().__init__(parent)
        self._rows: list[tuple[int, str, str, float]] = []

    # ---- public ----
    def set_rows(self, rows: list[tuple[int, str, str, float]]) -> None:
        """``rows``: ``(item, title, sid_text, distance)`` per neighbour."""
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def items(self) -> list[int]:
        return [r[0] for r in self._rows]

    # ---- Qt model API ----
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.HEADERS)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not (0 <= index.row() < len(self._rows)) or not (0 <= index.column() < 4):
            return None
        item, title, sid, dist = self._rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (str(index.row() + 1), title, sid, f"{dist:.3f}")[col]
        if role == Qt.ItemDataRole.ToolTipRole:
            return title if col == 1 else self.TOOLTIPS[col]
        if role == Qt.ItemDataRole.UserRole:
            return item
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (0, 3):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(self.HEADERS):
            if role == Qt.ItemDataRole.DisplayRole:
                return self.HEADERS[section]
            if role == Qt.ItemDataRole.ToolTipRole:
                return self.TOOLTIPS[section]
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable


# -------------------------------------------------------------------------------------- view box


class _LassoViewBox(pg.ViewBox):
    """A ViewBox whose left-drag draws a lasso (when ``lasso_active()`` or Shift is held).

    On release it calls ``on_lasso(polygon [M, 2])`` in data coordinates; other drags pan/zoom.
    """

    def __init__(self, lasso_active: Callable[[], bool], on_lasso: Callable[[np.ndarray], None]):
        super().__init__()
        self._lasso_active, self._on_lasso = lasso_active, on_lasso
        self._path: list[tuple[float, float]] = []
        self.lasso_curve = pg.PlotCurveItem(pen=pg.mkPen(_OUTLINE, width=1.5, style=Qt.PenStyle.DashLine))
        self.addItem(self.lasso_curve, ignoreBounds=True)
        self.lasso_curve.setZValue(20)

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802 - pyqtgraph API
        lasso = self._lasso_active() or bool(ev.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if axis is not None or ev.button() != Qt.MouseButton.LeftButton or not (lasso or self._path):
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        if ev.isStart():
            p0 = self.mapToView(ev.buttonDownPos())
            self._path = [(p0.x(), p0.y())]
        p = self.mapToView(ev.pos())
        self._path.append((p.x(), p.y()))
        xy = np.asarray(self._path + self._path[:1])
        self.lasso_curve.setData(xy[:, 0], xy[:, 1])
        if ev.isFinish():
            polygon = np.asarray(self._path)
            self._path = []
            self.lasso_curve.setData([], [])
            self._on_lasso(polygon)


# ----------------------------------------------------------------------------------------- panel


class MapPanel(QWidget):
    """The items on a 2-D map (UMAP of the content or collaborative space), coloured by SID codes.

    Public: :meth:`page`, :meth:`space`, :meth:`set_space`, :meth:`set_colour_level`,
    :meth:`positions`, :meth:`highlighted_items`, :meth:`click_at_scene`, :meth:`select_in_polygon`,
    :meth:`item_at_scene`, :meth:`status_text`, :meth:`message_text`, :meth:`screenshot_ready`.
    """

    sig_ready = Signal()
    """The scatter shows the points of a layout (emitted each time a layout is shown)."""

    def __init__(
        self,
        view_model: ProjectViewModel,
        selection: Selection,
        bridge: EngineBridge,
        parent: QWidget | None = None,
        *,
        layout_fn: Callable = item_layout,
    ):
        super().__init__(parent)
        self._vm, self._selection, self._bridge = view_model, selection, bridge
        self._layout_fn = layout_fn
        self._snapshot: ProjectSnapshot | None = None
        self._space = "content"
        self._layouts: dict[str, _LayoutResult] = {}  # per space, for the open project
        self._job_id: int | None = None
        self._job_space: str | None = None
        self._shown: _LayoutResult | None = None  # the layout on screen
        self._lab = None  # the cold-start lab's latest ItemsChange for this project (injected/retired markers)
        self._colour_level: int = 0  # 0-based level, or _PREFIX_MODE
        self._palette = code_palette(0)
        self._hover_scene: QPointF | None = None
        self._hover_timer = QTimer(self)
        self._hover_timer.setSingleShot(True)
        self._hover_timer.setInterval(_HOVER_MS)
        self._hover_timer.timeout.connect(self._update_hover)
        self.neighbour_model = NeighbourTableModel(self)

        self._stack = QStackedWidget(self)
        self._empty_label = QLabel(_EMPTY_TEXT)
        self._empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._empty_label.setWordWrap(True)
        self._stack.addWidget(self._empty_label)
        self._stack.addWidget(self._build_map_page())
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self._stack)

        bridge.sig_result.connect(self._on_job_result)
        bridge.sig_error.connect(self._on_job_error)
        bridge.sig_cancelled.connect(self._on_job_cancelled)
        bridge.sig_progress.connect(self._on_job_progress)
        selection.sig_changed.connect(self._on_selection_changed)
        view_model.sig_project_changed.connect(self._on_project_changed)
        view_model.sig_status_changed.connect(self._on_status_changed)
        view_model.sig_items_changed.connect(self._on_items_changed)
        self._on_project_changed(view_model.snapshot)

    # ---- public ----
    def page(self) -> str:
        """``"empty"`` (no project) or ``"map"``."""
        return "empty" if self._stack.currentIndex() == 0 else "map"

    def space(self) -> str:
        """The space being shown (or being computed): ``"content"`` or ``"collaborative"``."""
        return self._space

    def set_space(self, space: str) -> None:
        """Show the ``space`` layout, computing it on the bridge if it is not known yet."""
        idx = [s for s, _ in _SPACE_LABELS].index(space)
        if self.space_combo.currentIndex() != idx:
            self.space_combo.setCurrentIndex(idx)  # -> _on_space_chosen
        else:
            self._on_space_chosen(idx)

    def set_colour_level(self, level: int | None) -> None:
        """Colour by the code at 0-based ``level``; ``None`` colours by the chosen prefix."""
        data = _PREFIX_MODE if level is None else int(level)
        idx = self.colour_combo.findData(data)
        if idx >= 0:
            self.colour_combo.setCurrentIndex(idx)

    def positions(self) -> np.ndarray | None:
        """The layout on screen ``[N, 2]`` (data coordinates), or None."""
        return None if self._shown is None else self._shown.positions

    def displayed_count(self) -> int:
        """Points in the scatter."""
        return len(self._scatter.data)

    def highlighted_items(self) -> np.ndarray:
        """Item indices drawn highlighted (the current selection), sorted."""
        return np.sort(self._highlighted)

    def point_colours(self) -> list[QColor]:
        """The fill colour of every point, in item order (for tests and exports)."""
        return [QColor(b.color()) for b in self._scatter.data["brush"]]

    def item_at_scene(self, scene_pos: QPointF) -> int | None:
        """The item whose dot is nearest ``scene_pos`` within ~10 px, or None."""
        if self._shown is None or not self._view.sceneBoundingRect().contains(scene_pos):
            return None
        p = self._view.mapSceneToView(scene_pos)
        px_w, px_h = self._view.viewPixelSize()
        if px_w <= 0 or px_h <= 0:
            return None
        pos = self._shown.positions
        d2 = ((pos[:, 0] - p.x()) / px_w) ** 2 + ((pos[:, 1] - p.y()) / px_h) ** 2
        i = int(np.argmin(d2))
        return i if d2[i] <= _PICK_PX**2 else None

    def click_at_scene(self, scene_pos: QPointF) -> int | None:
        """Select the item nearest ``scene_pos`` (what a left click does); returns it or None."""
        item = self.item_at_scene(scene_pos)
        if item is not None:
            self._select_own([item])
        return item

    def select_in_polygon(self, polygon: np.ndarray) -> list[int]:
        """Select the items inside ``polygon [M, 2]`` (data coordinates; what a lasso does)."""
        if self._shown is None:
            return []
        items = np.flatnonzero(points_in_polygon(self._shown.positions, polygon)).tolist()
        if items:
            self._select_own(items)
        return items

    def lab_markers(self) -> dict[int, tuple[float, float, str]]:
        """The cold-start lab's markers on screen: ``{item: (x, y, "injected" | "retired")}``."""
        data = self._lab_overlay.data
        return {int(d["data"][0]): (float(d["x"]), float(d["y"]), d["data"][1]) for d in data}

    def status_text(self) -> str:
        return self._status.text()

    def message_text(self) -> str:
        """The error or notice shown above the map ("" when none)."""
        return self._message.text()

    def screenshot_ready(self) -> bool:
        """True once the scatter shows the points of a layout."""
        return self._shown is not None and self.displayed_count() > 0

    # ---- private: building ----
    def _build_map_page(self) -> QWidget:
        page = QWidget()
        lay = QVBoxLayout(page)
        lay.setContentsMargins(12, 10, 12, 10)
        lay.setSpacing(8)

        title = QLabel("Codebook map")
        font = QFont(title.font())
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.4)
        title.setFont(font)
        header = QLabel(_HEADER)
        header.setWordWrap(True)
        header.setTextFormat(Qt.TextFormat.RichText)
        lay.addWidget(title)
        lay.addWidget(header)

        bar = QHBoxLayout()
        bar.setSpacing(8)
        bar.addWidget(QLabel("Space:"))
        self.space_combo = QComboBox()
        for space, label in _SPACE_LABELS:
            self.space_combo.addItem(label, space)
        self.space_combo.setToolTip(
            "Content: the text-embedding vectors the tokenizer quantised. Collaborative: the trained RAN "
            "generator's item representations, shaped by which items users bought together."
        )
        self.space_combo.currentIndexChanged.connect(self._on_space_chosen)
        bar.addWidget(self.space_combo)
        bar.addSpacing(12)
        bar.addWidget(QLabel("Colour by:"))
        self.colour_combo = QComboBox()
        self.colour_combo.setToolTip("Colour each dot by its code at one SID level (with up to 256 codes a "
                                     "level, similar colours can still be different codes: hover to check), "
                                     "or grey out everything except the selected items / chosen prefix.")
        self.colour_combo.currentIndexChanged.connect(self._on_colour_chosen)
        bar.addWidget(self.colour_combo)
        bar.addSpacing(12)
        self.lasso_button = QPushButton("Lasso")
        self.lasso_button.setCheckable(True)
        self.lasso_button.setToolTip("When on, drag on the map to draw a loop: the items inside are selected. "
                                     "Shift+drag does the same without switching it on.")
        bar.addWidget(self.lasso_button)
        self.reset_button = QPushButton("Show all")
        self.reset_button.setToolTip("Zoom out to the whole map.")
        self.reset_button.clicked.connect(lambda: self._view.autoRange(padding=0.03))
        bar.addWidget(self.reset_button)
        bar.addStretch(1)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop computing the layout.")
        self.cancel_button.clicked.connect(self._cancel_job)
        self.cancel_button.hide()
        bar.addWidget(self.cancel_button)
        self.retry_button = QPushButton("Compute layout")
        self.retry_button.clicked.connect(lambda: self._start_job(self._space))
        self.retry_button.hide()
        bar.addWidget(self.retry_button)
        lay.addLayout(bar)

        info = QHBoxLayout()  # a line of its own, so long status text never widens the panel
        self._selection_label = QLabel("")
        self._selection_label.setToolTip("What is selected (in this or another panel); selected dots are drawn "
                                         "larger with a dark outline.")
        info.addWidget(self._selection_label)
        info.addSpacing(16)
        self._status = QLabel("")
        self._status.setWordWrap(True)
        self._status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        info.addWidget(self._status, 1)
        lay.addLayout(info)

        self._message = QLabel("")
        self._message.setWordWrap(True)
        self._message.setStyleSheet("color: #b3261e;")
        self._message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._message.hide()
        lay.addWidget(self._message)

        split = QSplitter(Qt.Orientation.Horizontal)
        self._view = _LassoViewBox(self.lasso_button.isChecked, self._on_lasso)
        self._view.setMenuEnabled(False)
        self.plot = pg.PlotWidget(viewBox=self._view, background="w")
        self.plot.setAspectLocked(False)
        for axis in ("left", "bottom"):
            self.plot.getAxis(axis).setPen(pg.mkPen(QColor(120, 120, 120)))
            self.plot.getAxis(axis).setTextPen(pg.mkPen(QColor(80, 80, 80)))
        self.plot.setLabel("bottom", "UMAP 1")
        self.plot.setLabel("left", "UMAP 2")
        self._scatter = pg.ScatterPlotItem(pxMode=True, size=5, pen=None, hoverable=False)
        self._overlay = pg.ScatterPlotItem(pxMode=True, size=10, pen=pg.mkPen(_OUTLINE, width=1.5))
        self._overlay.setZValue(10)
        self._hover_text = pg.TextItem("", anchor=(0, 1), color=(20, 20, 20), fill=pg.mkBrush(255, 255, 255, 230),
                                       border=pg.mkPen(QColor(120, 120, 120)))
        self._hover_text.setZValue(30)
        self._hover_text.hide()
        self._lab_overlay = pg.ScatterPlotItem(pxMode=True)  # cold-start lab: injected / retired items
        self._lab_overlay.setZValue(15)
        self._lab_label = pg.TextItem("", anchor=(-0.05, 1.1), color=(20, 20, 20), fill=pg.mkBrush(255, 255, 255, 225),
                                      border=pg.mkPen(_LAB_NEW, width=1.5))
        self._lab_label.setZValue(25)
        self.plot.addItem(self._scatter)
        self.plot.addItem(self._overlay)
        self.plot.addItem(self._lab_overlay)
        self.plot.addItem(self._lab_label, ignoreBounds=True)
        self.plot.addItem(self._hover_text, ignoreBounds=True)
        self._highlighted = np.zeros(0, dtype=np.int64)
        scene = self.plot.scene()
        scene.sigMouseMoved.connect(self._on_mouse_moved)
        scene.sigMouseClicked.connect(self._on_scene_clicked)
        split.addWidget(self.plot)

        side = QWidget()
        sl = QVBoxLayout(side)
        sl.setContentsMargins(8, 0, 0, 0)
        self._neighbour_title = QLabel("Nearest neighbours")
        nfont = QFont(self._neighbour_title.font())
        nfont.setBold(True)
        self._neighbour_title.setFont(nfont)
        self._neighbour_title.setWordWrap(True)
        self._neighbour_title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._neighbour_help = QLabel("Select an item (click a dot) to list the items nearest to it in the "
                                      "current space (the first one, when several are selected). Double-click "
                                      "a row to select that item.")
        self._neighbour_help.setWordWrap(True)
        self.neighbour_table = QTableView()
        self.neighbour_table.setMinimumWidth(240)
        self.neighbour_table.setModel(self.neighbour_model)
        self.neighbour_table.verticalHeader().setVisible(False)
        self.neighbour_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.neighbour_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.neighbour_table.setWordWrap(False)
        self.neighbour_table.setTextElideMode(Qt.TextElideMode.ElideRight)
        hh = self.neighbour_table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.neighbour_table.doubleClicked.connect(self._on_neighbour_activated)
        sl.addWidget(self._neighbour_title)
        sl.addWidget(self._neighbour_help)
        sl.addWidget(self.neighbour_table, 1)
        split.addWidget(side)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([760, 480])
        lay.addWidget(split, 1)
        return page

    # ---- private: project and jobs ----
    def _on_status_changed(self) -> None:
        if self._vm.snapshot is None:
            loading = self._vm.loading
            self._empty_label.setText(f"<p><b>Loading {loading.name}…</b></p>" if loading is not None else _EMPTY_TEXT)

    def _on_project_changed(self, snapshot: ProjectSnapshot | None) -> None:
        self._cancel_job()
        self._snapshot, self._layouts, self._shown = snapshot, {}, None
        self._highlighted = np.zeros(0, dtype=np.int64)
        self._lab = None
        self._scatter.clear()
        self._overlay.clear()
        self._draw_lab()
        self._hover_text.hide()
        self.neighbour_model.set_rows([])
        self._selection_label.setText("")
        self._set_message("")
        if snapshot is None:
            self._on_status_changed()
            self._stack.setCurrentIndex(0)
            return
        sids = snapshot.project.sids
        self._palette = code_palette(max(sids.level_sizes[:-1], default=1))
        self._brushes = np.array([pg.mkBrush(c) for c in self._palette] + [pg.mkBrush(_GREY), pg.mkBrush(_HIGHLIGHT)],
                                 dtype=object)
        self.colour_combo.blockSignals(True)
        self.colour_combo.clear()
        for level in range(sids.levels):
            self.colour_combo.addItem(f"Code at level {level + 1}", level)
        self.colour_combo.addItem("Chosen prefix (others grey)", _PREFIX_MODE)
        self.colour_combo.setCurrentIndex(0)
        self._colour_level = 0
        self.colour_combo.blockSignals(False)
        self.space_combo.blockSignals(True)
        self.space_combo.setCurrentIndex(0)
        self.space_combo.blockSignals(False)
        self._space = "content"
        self._update_neighbour_title(None)
        self._stack.setCurrentIndex(1)
        self._start_job("content")

    def _start_job(self, space: str) -> None:
        if self._snapshot is None:
            return
        self._cancel_job()
        self._set_message("")
        self.retry_button.hide()
        self.cancel_button.show()
        self._status.setText(self._computing_text(space, f"computing UMAP… ({space} space; the first time "
                                                         "takes about a minute, then it is cached)"))
        job = self._bridge.submit(_layout_job, self._snapshot.project, space, self._layout_fn, name=f"map layout ({space})")
        self._job_id, self._job_space = job.id, space

    def _cancel_job(self) -> None:
        if self._job_id is not None:
            self._bridge.cancel(self._job_id)

    def _on_job_progress(self, job_id: int, fraction: float, message: str) -> None:
        if job_id == self._job_id and message:
            self._status.setText(self._computing_text(self._job_space, message))

    def _computing_text(self, space: str | None, message: str) -> str:
        """``message``, plus a note when the map on screen is another space's (kept until this one is ready)."""
        if self._shown is not None and self._shown.space != space:
            return f"{message} Until then the map shows the {self._shown.space} space."
        return message

    def _on_job_result(self, job_id: int, result: object) -> None:
        if job_id != self._job_id:
            return
        self._job_done()
        if not isinstance(result, _LayoutResult) or self._snapshot is None or result.project is not self._snapshot.project:
            return  # a stale result for a project that is no longer open
        self._layouts[result.space] = result
        if result.space == self._space:
            self._show(result)

    def _on_job_error(self, job_id: int, message: str) -> None:
        if job_id != self._job_id:
            return
        space = self._job_space
        self._job_done()
        if space == "collaborative":
            self._set_message(
                "The collaborative map needs the project's trained RAN generator, which could not be loaded "
                f"({message}). Train one with “genrec train --model ran”; the map keeps the content space."
            )
            self.space_combo.blockSignals(True)
            self.space_combo.setCurrentIndex(0)
            self.space_combo.blockSignals(False)
            self._space = "content"
            if "content" in self._layouts:
                self._show(self._layouts["content"])
            else:
                self._start_job("content")
                self._set_message(self._message.text())  # keep the notice while content computes
        else:
            self._set_message(f"Could not compute the map: {message}")
            self.retry_button.show()

    def _on_job_cancelled(self, job_id: int) -> None:
        if job_id != self._job_id:
            return
        self._job_done()
        if self._shown is None or self._shown.space != self._space:
            self._status.setText("Layout cancelled.")
            self.retry_button.show()

    def _job_done(self) -> None:
        self._job_id = self._job_space = None
        self.cancel_button.hide()
        self._status.setText("")

    def _set_message(self, text: str) -> None:
        self._message.setText(text)
        self._message.setVisible(bool(text))

    # ---- private: drawing ----
    def _show(self, result: _LayoutResult) -> None:
        """Put a layout on screen: one scatter item, brushes from the colour mode, then the selection."""
        self._shown = result
        self._hover_text.hide()
        self._scatter.setData(pos=result.positions, brush=self._base_brushes(), size=5, pen=None)
        self._view.autoRange(padding=0.03)
        self._status.setText(f"{len(result.positions):,} items · {dict(_SPACE_LABELS)[result.space]} space")
        self._apply_selection(self._selection.current, zoom=False)
        self._draw_lab()
        self.sig_ready.emit()

    def _base_brushes(self) -> np.ndarray:
        """One brush per item for the current colour mode (an object array of shared QBrushes)."""
        codes = self._snapshot.project.sids.codes
        if self._colour_level == _PREFIX_MODE:
            return np.full(len(codes), self._brushes[-2], dtype=object)
        return self._brushes[codes[:, self._colour_level]]

    def _redraw_colours(self) -> None:
        if self._shown is None:
            return
        self._scatter.setBrush(self._base_brushes())
        self._draw_overlay()

    def _draw_overlay(self) -> None:
        if self._shown is None or len(self._highlighted) == 0:
            self._overlay.clear()
            return
        items = self._highlighted
        if self._colour_level == _PREFIX_MODE:
            brushes = np.full(len(items), self._brushes[-1], dtype=object)
            size = 7 if len(items) > 200 else 10
        else:
            brushes = self._brushes[self._snapshot.project.sids.codes[items, self._colour_level]]
            size = 9 if len(items) > 200 else 12
        pen = pg.mkPen(_OUTLINE, width=1.0 if len(items) > 200 else 1.5)
        self._overlay.setData(pos=self._shown.positions[items], brush=brushes, size=size, pen=pen)

    def _on_items_changed(self, change) -> None:
        if self._snapshot is None or change.project is not self._snapshot.project:
            return
        self._lab = change
        self._draw_lab()

    def _lab_position(self, item: int) -> np.ndarray | None:
        """Where a lab item goes on the shown layout: a catalogue item at its own point, a typed-in
        one at the mean position of its content nearest neighbours (``LabItem.anchors``)."""
        pos = self._shown.positions
        if item < len(pos):
            return pos[item]
        lab = self._lab.new_items.get(item)
        anchors = [a for a in (lab.anchors if lab is not None else ()) if 0 <= a < len(pos)]
        return pos[anchors].mean(0) if anchors else None

    def _draw_lab(self) -> None:
        """Green stars on injected items, dark crosses on retired ones; the newest injected item named."""
        change = self._lab
        if change is None or self._shown is None:
            self._lab_overlay.clear()
            self._lab_label.hide()
            return
        spots = []
        for items, kind, symbol, colour, size in ((change.retired, "retired", "x", _LAB_RETIRED, 11),
                                                   (change.injected, "injected", "star", _LAB_NEW, 22)):
            for item in items:
                xy = self._lab_position(int(item))
                if xy is not None:
                    spots.append({"pos": (float(xy[0]), float(xy[1])), "symbol": symbol, "size": size,
                                  "brush": pg.mkBrush(colour), "pen": pg.mkPen("w" if kind == "injected" else _OUTLINE,
                                                                               width=1.5),
                                  "data": (int(item), kind)})
        self._lab_overlay.setData(spots)
        latest = int(change.injected[-1]) if change.injected else None  # injected in order: the newest last
        xy = self._lab_position(latest) if latest is not None else None
        if xy is None:
            self._lab_label.hide()
            return
        title = change.title(latest) or self._snapshot.project.dataset.catalogue.title(latest)
        self._lab_label.setText(f"★ injected: {_elide(title, 40)}")
        self._lab_label.setPos(float(xy[0]), float(xy[1]))
        self._lab_label.show()

    def _apply_selection(self, event: SelectionEvent, *, zoom: bool) -> None:
        n = 0 if self._snapshot is None else self._snapshot.project.sids.n_items
        items = np.asarray([i for i in event.items if 0 <= i < n], dtype=np.int64)
        self._highlighted = items
        self._selection_label.setText(_selection_text(event, len(items)))
        self._draw_overlay()
        self._update_neighbours(event.first if event.first is not None and 0 <= event.first < n else None)
        if zoom and self._shown is not None and len(items):
            self._zoom_to(items)

    def _zoom_to(self, items: np.ndarray) -> None:
        """Centre the view on ``items``, zoomed to their extent (at least 8 % of the whole map)."""
        pos = self._shown.positions.astype(np.float64)  # float32 ranges overflow pyqtgraph's limit checks
        full = np.maximum(pos.max(0) - pos.min(0), 1e-6)
        lo, hi = pos[items].min(0), pos[items].max(0)
        centre, extent = (lo + hi) / 2, np.maximum(hi - lo, 0.08 * full) * 1.3
        cx, cy, ex, ey = (float(v) for v in (*centre, *extent))
        self._view.setRange(xRange=(cx - ex / 2, cx + ex / 2), yRange=(cy - ey / 2, cy + ey / 2), padding=0)

    def _update_neighbours(self, item: int | None) -> None:
        self._update_neighbour_title(item)
        if item is None or self._shown is None:
            self.neighbour_model.set_rows([])
            return
        project = self._snapshot.project
        idx, dist = nearest_neighbours(self._shown.matrix, item, _N_NEIGHBOURS)  # ~5 ms for 12k x 384
        cat = project.dataset.catalogue
        self.neighbour_model.set_rows(
            [(int(i), cat.title(int(i)), _sid_text(project.sids.sid(int(i))), float(d)) for i, d in zip(idx, dist)]
        )

    def _update_neighbour_title(self, item: int | None) -> None:
        if item is None or self._snapshot is None:
            self._neighbour_title.setText("Nearest neighbours")
            return
        project = self._snapshot.project
        space = self._shown.space if self._shown is not None else self._space  # the space the list comes from
        self._neighbour_title.setText(
            f"Nearest to “{_elide(project.dataset.catalogue.title(item), 70)}” "
            f"(SID {_sid_text(project.sids.sid(item))}) in the {space} space"
        )

    # ---- private: user input ----
    def _select_own(self, items: list[int]) -> None:
        event = self._selection.select_items(items, SOURCE)
        self._apply_selection(event, zoom=False)

    def _on_selection_changed(self, event: SelectionEvent) -> None:
        if event.source == SOURCE:
            return
        self._apply_selection(event, zoom=True)

    def _on_space_chosen(self, index: int) -> None:
        space = self.space_combo.itemData(index)
        if space is None or self._snapshot is None:
            return
        self._space = space
        self._set_message("")
        if space in self._layouts:
            self._cancel_job()
            self._show(self._layouts[space])
        else:
            self._start_job(space)

    def _on_colour_chosen(self, index: int) -> None:
        data = self.colour_combo.itemData(index)
        if data is None:
            return
        self._colour_level = int(data)
        self._redraw_colours()

    def _on_lasso(self, polygon: np.ndarray) -> None:
        self.select_in_polygon(polygon)

    def _on_scene_clicked(self, ev) -> None:
        if ev.button() == Qt.MouseButton.LeftButton and not ev.double():
            self.click_at_scene(ev.scenePos())

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        self._hover_scene = QPointF(scene_pos)
        if not self._hover_timer.isActive():
            self._hover_timer.start()

    def _update_hover(self) -> None:
        item = self.item_at_scene(self._hover_scene) if self._hover_scene is not None else None
        if item is None:
            self._hover_text.hide()
            return
        project = self._snapshot.project
        title = _elide(project.dataset.catalogue.title(item), 60)
        self._hover_text.setText(f"{title}\nSID {_sid_text(project.sids.sid(item))}")
        x, y = self._shown.positions[item]
        self._hover_text.setPos(float(x), float(y))
        self._hover_text.show()

    def _on_neighbour_activated(self, index: QModelIndex) -> None:
        item = self.neighbour_model.data(index, Qt.ItemDataRole.UserRole)
        if item is not None:
            self._select_own([int(item)])


def _selection_text(event: SelectionEvent, n: int) -> str:
    """A short line describing the selection, e.g. ``38 items selected (prefix 199)``."""
    if n == 0:
        return "Nothing selected"
    what = "1 item selected" if n == 1 else f"{n:,} items selected"
    return what + (f" (prefix {_sid_text(event.prefix)})" if event.prefix else "")


def _sid_text(sid: tuple[int, ...]) -> str:
    return "-".join(str(c) for c in sid)


def _elide(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
