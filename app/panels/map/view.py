"""The codebook map panel's widgets: space and colour choices, the map, the neighbour list.

A thin binding of :class:`~app.panels.map.state.MapState` to widgets: the state keeps the layouts,
the colour mode and the selection and says what each becomes; this module runs the layout job
through one :class:`~app.bridge.JobScope` and draws on :class:`~app.panels.map.plots.MapPlot`.
Labels tests read have object names (``mapSelection``, ``mapStatus``, ``mapMessage``,
``mapNeighbourTitle``).
"""
from __future__ import annotations

import functools
import html

import numpy as np
from PySide6.QtCore import QModelIndex, QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from genrec_engine import item_layout

from ...bridge import EngineBridge, JobScope
from ...selection import Selection, SelectionEvent
from ...widgets import error_label, heading
from ...widgets.overview_pages import page_column, rich_label, splitter
from ...widgets.deferral import WhileHidden
from .. import ItemsChange, ProjectSnapshot, ProjectViewModel
from .models import NeighbourTableModel
from .plots import MapPlot
from .state import PREFIX_MODE, SOURCE, SPACES, LayoutResult, MapState, layout_job, points_in_polygon, \
    selection_text

__all__ = ["MapPanel"]

_HOVER_MS = 30  # hover lookups at most ~30 per second

_HEADER = (
    "Each dot is one item, placed by UMAP so that items with similar vectors sit close together. "
    "Colours show the item's code at the chosen SID level: if the tokenizer follows the geometry, "
    "colours form patches (or colour by category, brand or popularity, with a legend). Hover for a title, click to select an item, drag with <b>Lasso</b> on "
    "(or with Shift held) to select a group; the list on the right shows the selected item's nearest "
    "neighbours in this space."
)

_EMPTY_TEXT = (
    "<p><b>No project open.</b></p>"
    "<p>Open a project folder with <b>File › Open project…</b> (Ctrl+O) to see its items on a map.</p>"
)


def _button(text: str, tooltip: str, *, checkable: bool = False, hidden: bool = False) -> QPushButton:
    button = QPushButton(text)
    button.setToolTip(tooltip)
    button.setCheckable(checkable)
    button.setVisible(not hidden)
    return button


class MapPanel(QWidget):
    """The items on a 2-D map (UMAP of the content or collaborative space), coloured by SID codes.

    Public: :meth:`page`, :meth:`space`, :meth:`set_space`, :meth:`set_colour_level`,
    :meth:`positions`, :meth:`highlighted_items`, :meth:`click_at_scene`, :meth:`select_in_polygon`,
    :meth:`lab_markers`, :meth:`screenshot_ready`; the widgets ``plot`` (:class:`MapPlot`),
    ``space_combo``, ``colour_combo``, ``lasso_button``, ``cancel_button``, ``retry_button``,
    ``neighbour_table`` and its ``neighbour_model``; the view-model ``state``.
    """

    sig_ready = Signal()
    """The scatter shows the points of a layout (emitted each time a layout is shown)."""

    def __init__(self, view_model: ProjectViewModel, selection: Selection, bridge: EngineBridge,
                 parent: QWidget | None = None, *, layout_fn=None):
        super().__init__(parent)
        self._vm, self._selection = view_model, selection
        # the app never writes into a project folder (the bundled one included): its caches go to the user's
        self._layout_fn = layout_fn or functools.partial(item_layout, cache="user")
        self._bridge = bridge
        self._layout = JobScope(bridge)
        self.state = MapState()
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

        self._follow = WhileHidden(self, self._on_selection_changed)  # hidden tab: when shown
        selection.sig_changed.connect(self._follow)
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
        return self.state.space

    def set_space(self, space: str) -> None:
        """Show the ``space`` layout, computing it on the bridge if it is not known yet."""
        idx = [s for s, _ in SPACES].index(space)
        if self.space_combo.currentIndex() != idx:
            self.space_combo.setCurrentIndex(idx)  # -> _on_space_chosen
        else:
            self._on_space_chosen(idx)

    def set_colour_level(self, level: int | str | None) -> None:
        """Colour by the code at 0-based ``level``; ``None`` colours by the chosen prefix; a column
        mode (``"category"``, ``"brand"``, ``"popularity"``) by that catalogue column, with a legend."""
        idx = self.colour_combo.findData(PREFIX_MODE if level is None else (level if isinstance(level, str) else int(level)))
        if idx >= 0:
            self.colour_combo.setCurrentIndex(idx)

    def positions(self) -> np.ndarray | None:
        """The layout on screen ``[N, 2]`` (data coordinates), or None."""
        return None if self.state.shown is None else self.state.shown.positions

    def highlighted_items(self) -> np.ndarray:
        """Item indices drawn highlighted (the current selection), sorted."""
        return np.sort(self.state.highlighted)

    def click_at_scene(self, scene_pos: QPointF) -> int | None:
        """Select the item nearest ``scene_pos`` (what a left click does); returns it or None."""
        item = self.plot.item_at_scene(scene_pos)
        if item is not None:
            self._select_own([item])
        return item

    def select_in_polygon(self, polygon: np.ndarray) -> list[int]:
        """Select the items inside ``polygon [M, 2]`` (data coordinates; what a lasso does)."""
        if self.state.shown is None:
            return []
        items = np.flatnonzero(points_in_polygon(self.state.shown.positions, polygon)).tolist()
        if items:
            self._select_own(items)
        return items

    def lab_markers(self) -> dict[int, tuple[float, float, str]]:
        """The cold-start lab's markers on screen: ``{item: (x, y, "injected" | "retired")}``."""
        return self.plot.lab_markers()

    def screenshot_ready(self) -> bool:
        """True once the scatter (or the density image) shows the points of a layout."""
        return (self.state.shown is not None and self.plot.displayed_count() > 0 and not self._follow.pending
                and not self.plot.raster_pending)

    # ---- private: building ----
    def _build_map_page(self) -> QWidget:
        page, lay = page_column(heading("Codebook map", 1.4), rich_label(_HEADER))
        lay.addLayout(self._build_bar())

        info = QHBoxLayout()  # a line of its own, so long status text never widens the panel
        self._selection_label = QLabel("")
        self._selection_label.setObjectName("mapSelection")
        self._selection_label.setToolTip("What is selected (in this or another panel); selected dots are drawn "
                                         "larger with a dark outline.")
        self._selection_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        info.addWidget(self._selection_label, 2)
        info.addSpacing(16)
        self._status = QLabel("")
        self._status.setObjectName("mapStatus")
        self._status.setWordWrap(True)
        self._status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        info.addWidget(self._status, 1)
        lay.addLayout(info)
        self._message = error_label()
        self._message.setObjectName("mapMessage")
        lay.addWidget(self._message)
        self._legend = QLabel("")  # what the colours mean when dots are coloured by a column
        self._legend.setObjectName("mapLegend")
        self._legend.setTextFormat(Qt.TextFormat.RichText)
        self._legend.setWordWrap(True)
        self._legend.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._legend.setVisible(False)
        lay.addWidget(self._legend)

        self.plot = MapPlot(self.lasso_button.isChecked, self.select_in_polygon, self._bridge)
        scene = self.plot.scene()
        scene.sigMouseMoved.connect(self._on_mouse_moved)
        scene.sigMouseClicked.connect(self._on_scene_clicked)
        lay.addWidget(splitter(self.plot, self._build_neighbour_side(), stretch=(3, 2), sizes=(760, 480)), 1)
        return page

    def _build_bar(self) -> QHBoxLayout:
        bar = QHBoxLayout()
        bar.setSpacing(8)
        bar.addWidget(QLabel("Space:"))
        self.space_combo = QComboBox()
        for space, label in SPACES:
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
                                     "grey out everything except the selected items / chosen prefix, or colour "
                                     "by a catalogue column (the 12 most common categories or brands, or "
                                     "popularity bins) with a legend under the map.")
        self.colour_combo.currentIndexChanged.connect(self._on_colour_chosen)
        bar.addWidget(self.colour_combo)
        bar.addSpacing(12)
        self.lasso_button = _button("Lasso", "When on, drag on the map to draw a loop: the items inside are "
                                             "selected. Shift+drag does the same without switching it on.",
                                    checkable=True)
        bar.addWidget(self.lasso_button)
        self.reset_button = _button("Show all", "Zoom out to the whole map.")
        self.reset_button.clicked.connect(lambda: self.plot.show_all())
        bar.addWidget(self.reset_button)
        bar.addStretch(1)
        self.cancel_button = _button("Cancel", "Stop computing the layout.", hidden=True)
        self.cancel_button.clicked.connect(self._on_cancel)
        bar.addWidget(self.cancel_button)
        self.retry_button = _button("Compute layout", "", hidden=True)
        self.retry_button.clicked.connect(lambda: self._start_job(self.state.space))
        bar.addWidget(self.retry_button)
        return bar

    def _build_neighbour_side(self) -> QWidget:
        side = QWidget()
        sl = QVBoxLayout(side)
        sl.setContentsMargins(8, 0, 0, 0)
        self._neighbour_title = QLabel("Nearest neighbours")
        self._neighbour_title.setObjectName("mapNeighbourTitle")
        font = QFont(self._neighbour_title.font())
        font.setBold(True)
        self._neighbour_title.setFont(font)
        self._neighbour_title.setWordWrap(True)
        self._neighbour_title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        help_label = QLabel("Select an item (click a dot) to list the items nearest to it in the current space "
                            "(the first one, when several are selected). Double-click a row to select that item.")
        help_label.setWordWrap(True)
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
        sl.addWidget(help_label)
        sl.addWidget(self.neighbour_table, 1)
        return side

    # ---- private: project and jobs ----
    def _on_status_changed(self) -> None:
        if self._vm.snapshot is None:
            loading = self._vm.loading
            self._empty_label.setText(f"<p><b>Loading {loading.name}…</b></p>" if loading is not None else _EMPTY_TEXT)

    def _on_project_changed(self, snapshot: ProjectSnapshot | None) -> None:
        self._layout.cancel()  # the old project's layout is stale
        self._job_done()
        self.state.set_project(snapshot)
        self.plot.clear_points()
        self.neighbour_model.set_rows([])
        self._selection_label.setText("")
        self._set_message("")
        if snapshot is None:
            self._on_status_changed()
            self._stack.setCurrentIndex(0)
            return
        self.plot.set_palette(self.state.palette_size())
        self.colour_combo.blockSignals(True)
        self.colour_combo.clear()
        for label, data in self.state.colour_choices():
            self.colour_combo.addItem(label, data)
        self.colour_combo.setCurrentIndex(0)
        self.colour_combo.blockSignals(False)
        self._show_legend()
        self._set_space_combo(0)
        self._neighbour_title.setText(self.state.neighbour_title(None))
        self._stack.setCurrentIndex(1)
        self._start_job(self.state.space)

    def _set_space_combo(self, index: int) -> None:
        self.space_combo.blockSignals(True)
        self.space_combo.setCurrentIndex(index)
        self.space_combo.blockSignals(False)

    def _start_job(self, space: str) -> None:
        snapshot = self.state.snapshot
        if snapshot is None:
            return
        self._set_message("")
        self.retry_button.hide()
        self.cancel_button.show()
        self.state.computing = space
        self._status.setText(self.state.computing_text(space, self.state.start_text(space)))
        self._layout.submit(layout_job, snapshot.project, space, self._layout_fn, name=f"map layout ({space})",
                            on_result=self._on_layout, on_error=self._on_layout_error,
                            on_cancelled=self._on_layout_cancelled, on_progress=self._on_layout_progress)

    def _on_cancel(self) -> None:
        """The Cancel button: stop the layout job; its cancellation is then shown."""
        job = self._layout.current
        if job is not None and not job.finished:
            job.request_cancel()

    def _on_layout_progress(self, _fraction: float, message: str) -> None:
        if message:
            self._status.setText(self.state.computing_text(self.state.computing, message))

    def _on_layout(self, result: LayoutResult) -> None:
        self._job_done()
        if self.state.take_layout(result):
            self._show(result)

    def _on_layout_error(self, message: str) -> None:
        space = self.state.computing
        self._job_done()
        failure = self.state.layout_failed(space, message)
        if failure.fallback is not None or failure.compute is not None:
            self._set_space_combo(0)
        if failure.fallback is not None:
            self._show(failure.fallback)
        elif failure.compute is not None:
            self._start_job(failure.compute)
        self._set_message(failure.message)
        self.retry_button.setVisible(failure.retry)

    def _on_layout_cancelled(self) -> None:
        self._job_done()
        text = self.state.cancelled_text()
        if text is not None:
            self._status.setText(text)
            self.retry_button.show()

    def _job_done(self) -> None:
        self.state.computing = None
        self.cancel_button.hide()
        self._status.setText("")

    def _set_message(self, text: str) -> None:
        self._message.setText(text)
        self._message.setVisible(bool(text))

    # ---- private: drawing ----
    def _show(self, result: LayoutResult) -> None:
        """Put a layout on screen: every dot in the colour mode, then the selection and lab markers."""
        self.state.shown = result
        self.plot.show_points(result.positions, self.state.base_colours())
        self._status.setText(self.state.shown_text())
        self._apply_selection(self._selection.current, zoom=False)
        self._draw_lab()
        self.sig_ready.emit()

    def _on_items_changed(self, change: ItemsChange) -> None:
        if self.state.take_change(change):
            self._draw_lab()

    def _draw_lab(self) -> None:
        self.plot.set_lab(self.state.lab_markers(), self.state.lab_label())

    def _apply_selection(self, event: SelectionEvent, *, zoom: bool) -> None:
        first = self.state.select(event)
        summary = "" if event.prefix else self.state.selection_summary()  # a lasso or a list: what they share
        self._selection_label.setText(selection_text(event, len(self.state.highlighted))
                                      + (f" — {summary}" if summary else ""))
        self._selection_label.setToolTip(summary or "What is selected (in this or another panel)")
        self.plot.set_overlay(self.state.overlay())
        self._neighbour_title.setText(self.state.neighbour_title(first))
        self.neighbour_model.set_rows(self.state.neighbour_rows(first))
        if zoom and self.state.shown is not None and len(self.state.highlighted):
            self.plot.zoom_to(self.state.zoom_box(self.state.highlighted))

    # ---- private: user input ----
    def _select_own(self, items: list[int]) -> None:
        self._apply_selection(self._selection.select_items(items, SOURCE), zoom=False)

    def _on_selection_changed(self, event: SelectionEvent) -> None:
        if event.source != SOURCE:
            self._apply_selection(event, zoom=True)

    def _on_space_chosen(self, index: int) -> None:
        space = self.space_combo.itemData(index)
        if space is None or self.state.snapshot is None:
            return
        self._set_message("")
        known = self.state.choose_space(space)
        if known is None:
            self._start_job(space)
            return
        self._layout.cancel()  # a layout still computing for another space is no longer wanted
        self._job_done()
        self._show(known)

    def _on_colour_chosen(self, index: int) -> None:
        data = self.colour_combo.itemData(index)
        if data is None:
            return
        self.state.colour_level = data if isinstance(data, str) else int(data)
        if self.state.shown is not None:
            self.plot.set_colours(self.state.base_colours())
            self.plot.set_overlay(self.state.overlay())
        self._show_legend()

    def legend_entries(self) -> list[tuple[str, int, int]]:
        """The legend shown (text, palette index, items); [] when hidden."""
        return self.state.legend() if self._legend.isVisibleTo(self) else []

    def _show_legend(self) -> None:
        entries = self.state.legend()
        self._legend.setVisible(bool(entries))
        if not entries:
            self._legend.setText("")
            return
        brushes = self.plot.palette_colours()
        parts = [f"<span style='color:{brushes[i].name()}; font-size:14pt'>●</span>&nbsp;"
                 f"{html.escape(t).replace(' ', '&nbsp;')}&nbsp;<span style='color:#707070'>({n:,})</span>"
                 for t, i, n in entries]  # an entry never breaks across lines
        self._legend.setText("&nbsp;&nbsp; ".join(parts))

    def _on_scene_clicked(self, ev) -> None:
        if ev.button() == Qt.MouseButton.LeftButton and not ev.double():
            self.click_at_scene(ev.scenePos())

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        self._hover_scene = QPointF(scene_pos)
        if not self._hover_timer.isActive():
            self._hover_timer.start()

    def _update_hover(self) -> None:
        item = self.plot.item_at_scene(self._hover_scene) if self._hover_scene is not None else None
        if item is None:
            self.plot.show_hover(None)
            return
        x, y = self.state.shown.positions[item]
        self.plot.show_hover(self.state.hover_text(item), float(x), float(y))

    def _on_neighbour_activated(self, index: QModelIndex) -> None:
        item = self.neighbour_model.data(index, Qt.ItemDataRole.UserRole)
        if item is not None:
            self._select_own([int(item)])
