"""The codeword-weights panel's widget: binds :class:`~.state.WeightsState` to Qt widgets.

:class:`WeightsPanel` builds the pages, runs the jobs the state asks for (one
:class:`~app.bridge.JobScope` per kind: generators, ranking, item) and shows their results.

Two things keep project loads cheap on the GUI thread (a 2-core machine, the panel usually in a
hidden tab): the per-level plots are built only while the panel is visible (on its first show
otherwise), and the ranking table's ~12k rows have fixed row heights and fixed numeric column
widths, so selecting and scrolling to a row never measures every row's text; a hidden ranking
scrolls to the shown item when it is next shown.

A project without a RAN (SIDs imported from another pipeline, a project trained with another
generator) gets the content side alone: the ranking is by the content margin of each item's code
(:data:`~.jobs.CONTENT`), the plots have the content chart only, and a notice says which command
trains a RAN.
"""
from __future__ import annotations

from functools import partial

from PySide6.QtCore import QItemSelectionModel, QModelIndex, QStringListModel, Qt, Signal
from PySide6.QtGui import QShowEvent
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

from ...bridge import JobScope
from ...widgets.views import table_view
from ...widgets import centred_column, error_label, heading
from ...widgets.deferral import FillOnFocus, WhileHidden
from .. import ProjectSnapshot, ProjectViewModel
from .jobs import CONTENT, Generators, ItemWeights, Ranking, compute_item_weights, compute_ranking, load_weight_generators
from .models import LevelWeightsModel, RankingModel
from .plots import COLLAB_COLOUR, COMPARE_COLOUR, CONTENT_COLOUR, LevelPlot
from .state import CLOSE_CALL, NO_DECOR, PAGES, SOURCE, WeightsState

__all__ = ["WeightsPanel"]

_HEADER = (
    "How the tokenizer (<b>content</b>) and the RAN generator (<b>collaborative</b> behaviour) weight the "
    "codewords of each SID level for one item. Bars above the axis are the content-guided weights, bars "
    "below the collaborative-guided ones; the dashed line is the item's SID code. A JS divergence near 0 "
    "bits means both agree, near 1 that user behaviour pulls the item to other codewords (the collision "
    "level has no content model: its content weight is the item's own collision code)."
)
_HEADER_CONTENT = (
    "How the tokenizer weights the codewords of each SID level for one item (<b>content</b>-guided: the "
    "item's content embedding against each codeword); the dashed line is the item's SID code. The "
    "<b>margin</b> is the content weight of the item's code over the best other codeword's: above 1 the "
    "content favours the code, near 1 it was a close call, below 1 it prefers another codeword, which "
    "happens where a SID table made elsewhere does not follow the content (the collision level has no "
    "content model)."
)
_RANKING_HELP = ("Items whose collaborative weights differ most from their content weights come first; a red * "
                 "marks a level whose top codeword moved. Click a row to show that item; click a header to sort.")
_RANKING_HELP_CONTENT = ("Items whose SID the content supports least come first (smallest margin at their weakest "
                         f"level); a red * marks a level where the content prefers another codeword, a margin under "
                         f"{CLOSE_CALL} is a close call. Click a row to show that item; click a header to sort.")
_EMPTY_TEXT = "<p>Open a project folder with <b>File › Open project…</b> to compare an item's codeword weights.</p>"
_ROW_HEIGHT = 22
# fixed widths of the ranking's numeric columns: their widest text plus the cell's margins, or the
# header's title plus its margins and sort arrow, whichever is wider
_MEAN_SAMPLE, _LEVEL_SAMPLE, _MARGIN_SAMPLE = "0.000", "0.00*", "0.000*"
_CELL_PADDING, _HEADER_PADDING = 12, 30


def _wrapped(text: str = "", name: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setObjectName(name)
    return label


def _swatch(colour: str, text: str) -> str:
    return f"<span style='color:{colour}; font-size:14pt'>■</span>&nbsp;{text}"


class WeightsPanel(QWidget):
    """The codeword weights of one item, a ranking of all items (by divergence; without a RAN by
    content margin) and a comparison item.

    Built as ``WeightsPanel(view_model, selection, bridge)``; follows the linked selection (the
    first selected item is shown, a second one is compared) and selects with source ``"weights"``.
    Its state is :attr:`state`; tests find its widgets by object name (``weights_ranking``,
    ``weights_levels``, ``weights_search``, ``weights_compare``, ``weights_decor``,
    ``weights_no_ran``, ``weights_error``, ``weights_item_status``, ``weights_ranking_status``,
    ``weights_ranking_help``, ``weights_header``, ``weights_legend``).
    """

    sig_ready = Signal()
    """Emitted once per project, when the first item's weights are shown."""

    def __init__(self, view_model: ProjectViewModel, selection, bridge, parent: QWidget | None = None):
        super().__init__(parent)
        self._selection = selection
        self.state = WeightsState()
        self._load_job, self._ranking_job, self._item_job = JobScope(bridge), JobScope(bridge), JobScope(bridge)
        self._scroll_pending = False  # the ranking was hidden when its selection changed
        self.plots: list[LevelPlot] = []
        self.ranking_model = RankingModel(self)
        self.level_model = LevelWeightsModel(self)

        self._stack = QStackedWidget(self)
        self._no_ran_label = _wrapped(name="weights_no_ran")  # content side only: why, and the command
        self._no_ran_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._no_ran_label.setStyleSheet("background: #fff6dc; border: 1px solid #e6d39a; padding: 4px;")
        self._no_ran_label.setVisible(False)
        self._stack.addWidget(centred_column(heading("No project open", 1.4), _wrapped(_EMPTY_TEXT)))
        self._stack.addWidget(self._build_main_page())
        self._error = error_label()
        self._error.setObjectName("weights_error")
        self._header = _wrapped(_HEADER, "weights_header")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 8, 10, 8)
        lay.setSpacing(6)
        lay.addWidget(self._header)
        lay.addWidget(self._no_ran_label)
        lay.addWidget(self._error)
        lay.addWidget(self._stack, 1)

        self._follow = WhileHidden(self, self._on_selection)  # hidden tab: when shown
        selection.sig_changed.connect(self._follow)
        view_model.sig_project_changed.connect(self._on_project_changed)
        self._on_project_changed(view_model.snapshot)

    # ---- public ----
    def screenshot_ready(self) -> bool:
        """True once an item's weights and the divergence ranking are shown (no job of the panel
        runs, and no selection waits for this tab to be shown)."""
        busy = any(scope.busy for scope in (self._load_job, self._ranking_job, self._item_job))
        return self.state.ready and not self._follow.pending and not busy

    def shown_item(self) -> int | None:
        """The item whose weights are shown (None before the first is)."""
        return None if self.state.shown is None else self.state.shown.item

    def show_item(self, item: int, compare: int | None = None) -> None:
        """Show ``item`` (compared with ``compare``, or with the default prefix neighbour)."""
        self._choose(int(item), compare, auto=False)

    def set_compare(self, item: int | None) -> None:
        """Compare the shown item with ``item`` (None: no comparison)."""
        index = self.state.compare_index(item)
        if index < 0 and item is not None:
            index = self.state.set_compare(item)
            self._compare_combo.addItem(self.state.compare_choices[index].label, int(item))
        self._compare_combo.setCurrentIndex(index)  # -> _on_compare_changed

    # ---- Qt events ----
    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        self._sync_plots()
        if self._scroll_pending:
            self._scroll_to_selected()

    # ---- private: building ----
    def _build_main_page(self) -> QWidget:
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(self._build_ranking_box())
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(6, 0, 0, 0)
        rl.setSpacing(5)
        rl.addLayout(self._build_search_row())
        self._item_title = heading("", 1.1)
        self._item_title.setWordWrap(True)
        self._item_title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._item_status = _wrapped(name="weights_item_status")
        rl.addWidget(self._item_title)
        rl.addWidget(self._item_status)
        rl.addLayout(self._build_tables_row())
        rl.addLayout(self._build_compare_row())
        self._plot_grid = QGridLayout()
        self._plot_grid.setSpacing(4)
        rl.addLayout(self._plot_grid, 1)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([460, 800])
        return splitter

    def _build_ranking_box(self) -> QWidget:
        box = self._ranking_box = QGroupBox("Items ranked by divergence")
        box.setMinimumWidth(400)
        ll = QVBoxLayout(box)
        ll.setContentsMargins(6, 6, 6, 6)
        self._ranking_status = _wrapped("Ranking every item by content/collaborative divergence…",
                                        "weights_ranking_status")
        self._ranking_help = _wrapped(_RANKING_HELP, "weights_ranking_help")
        ll.addWidget(self._ranking_help)
        ll.addWidget(self._ranking_status)
        view = self._ranking_view = table_view(self.ranking_model, "weights_ranking", row_height=_ROW_HEIGHT,
                                               alternating=True)
        view.setSortingEnabled(True)
        view.horizontalHeader().setSortIndicator(1, Qt.SortOrder.DescendingOrder)
        view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # uniform rows: no per-row measuring
        hh = view.horizontalHeader()
        hh.setMinimumSectionSize(36)
        hh.setStretchLastSection(False)
        hh.setHighlightSections(True)
        view.clicked.connect(self._on_ranking_clicked)
        view.activated.connect(self._on_ranking_clicked)
        ll.addWidget(view, 1)
        return box

    def _build_search_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addWidget(QLabel("Item:"))
        self._search = QLineEdit()
        self._search.setObjectName("weights_search")
        self._search.setPlaceholderText("type an item id, an ASIN or part of a title, then Enter")
        self._search.setClearButtonEnabled(True)
        self._search.returnPressed.connect(self._on_search)
        self._completer_model = QStringListModel(self)
        completer = QCompleter(self._completer_model, self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        completer.setMaxVisibleItems(12)
        completer.activated.connect(self._on_completion)
        self._search.setCompleter(completer)
        self._completion_list = FillOnFocus(self._search, self._completer_model)  # to Qt on first focus
        row.addWidget(self._search, 1)
        return row

    def _build_tables_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        view = self._level_view = QTableView()
        view.setObjectName("weights_levels")
        view.setModel(self.level_model)
        view.verticalHeader().setVisible(False)
        view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        view.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        view.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        view.verticalHeader().setDefaultSectionSize(_ROW_HEIGHT)
        view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)  # a few rows
        view.horizontalHeader().setStretchLastSection(True)
        row.addWidget(view, 3)
        decor = QGroupBox("DECOR fusion split (TIGER)")
        decor.setProperty("expert", True)  # hidden in presenter mode
        dl = QVBoxLayout(decor)
        dl.setContentsMargins(6, 4, 6, 4)
        self._decor_label = _wrapped(NO_DECOR, "weights_decor")
        self._decor_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        dl.addWidget(self._decor_label, 1)
        row.addWidget(decor, 2)
        return row

    def _build_compare_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addWidget(QLabel("Compare with:"))
        combo = self._compare_combo = QComboBox()
        combo.setObjectName("weights_compare")
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(18)
        combo.currentIndexChanged.connect(self._on_compare_changed)
        row.addWidget(combo, 1)
        legend = self._legend = QLabel()
        legend.setObjectName("weights_legend")
        legend.setTextFormat(Qt.TextFormat.RichText)
        self._show_legend(content_only=False)
        row.addWidget(legend)
        return row

    def _show_legend(self, *, content_only: bool) -> None:
        side = "content" if content_only else "collaborative"
        parts = [_swatch(CONTENT_COLOUR, "content")]
        if not content_only:
            parts.append(_swatch(COLLAB_COLOUR, "collaborative"))
        self._legend.setText("  ".join(parts + [_swatch(COMPARE_COLOUR, "compared"), "<b>┆</b>&nbsp;SID code"]))
        self._legend.setToolTip(
            "Blue: the tokenizer's content-guided weights. "
            + ("" if content_only else "Orange: the RAN's collaborative-guided weights. ")
            + f"Purple outline: the compared item's {side} weights. Dashed line: the item's SID code (dotted "
            "purple: the compared item's, where it differs).")
        self._compare_combo.setToolTip("Items that share the shown item's SID prefix (longest shared prefix "
                                       f"first); their {side} weights are drawn as a purple outline.")

    # ---- private: showing the state ----
    def _show_texts(self) -> None:
        state = self.state
        self._stack.setCurrentIndex(PAGES.index(state.page))
        content_only = state.content_only
        self._no_ran_label.setText(state.no_ran_html)
        self._no_ran_label.setVisible(bool(state.no_ran_html))
        self._header.setText(_HEADER_CONTENT if content_only else _HEADER)
        self._ranking_box.setTitle("Items ranked by content margin" if content_only else "Items ranked by divergence")
        self._ranking_help.setText(_RANKING_HELP_CONTENT if content_only else _RANKING_HELP)
        self._show_legend(content_only=content_only)
        self._ranking_status.setText(state.ranking_status)
        self._item_status.setText(state.item_status)
        self._decor_label.setText(state.decor_html)
        self._error.setText(state.error)
        self._error.setVisible(bool(state.error))

    def _show_compare_choices(self) -> None:
        combo = self._compare_combo
        combo.blockSignals(True)
        combo.clear()
        for choice in self.state.compare_choices:
            combo.addItem(choice.label, -1 if choice.item is None else choice.item)
        combo.setCurrentIndex(max(0, self.state.compare_index(self.state.compare)))
        combo.blockSignals(False)

    def _sync_plots(self) -> None:
        """One plot per SID level of the open project (built only while the panel is visible:
        ~0.1 s), showing the item's weights when there are any."""
        sizes, content_only = self.state.level_sizes, self.state.content_only
        if tuple(p.n_codes for p in self.plots) != sizes or any(p.content_only != content_only for p in self.plots):
            for p in self.plots:
                self._plot_grid.removeWidget(p)
                p.deleteLater()
            self.plots = []
            if not self.isVisible():
                return  # built on the next show
            cols = 2 if len(sizes) > 1 else 1
            self.plots = [LevelPlot(l, k, len(sizes), content_only=content_only) for l, k in enumerate(sizes)]
            for l, p in enumerate(self.plots):
                self._plot_grid.addWidget(p, l // cols, l % cols)
        w = self.state.shown
        if w is None:
            for p in self.plots:
                p.clear_weights()
            return
        for plot, lw, cw in zip(self.plots, w.levels, w.compare_levels or [None] * len(w.levels)):
            plot.show_weights(lw, cw)

    def _fit_ranking_columns(self) -> None:
        """The title column takes the free width; the numeric ones get a fixed width from the font
        (ResizeToContents would measure all ~12k rows whenever the view lays out while hidden)."""
        hh = self._ranking_view.horizontalHeader()
        hh.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        cells, titles = self._ranking_view.fontMetrics(), hh.fontMetrics()
        for c in range(1, self.ranking_model.columnCount()):
            level = _MARGIN_SAMPLE if self.ranking_model.kind == CONTENT else _LEVEL_SAMPLE
            sample = _MEAN_SAMPLE if c == 1 else level
            hh.setSectionResizeMode(c, QHeaderView.ResizeMode.Interactive)
            hh.resizeSection(c, max(cells.horizontalAdvance(sample) + _CELL_PADDING,
                                    titles.horizontalAdvance(self.ranking_model.COLUMNS[c].title) + _HEADER_PADDING))

    def _fit_level_table(self) -> None:
        t = self._level_view
        rows = sum(t.rowHeight(r) for r in range(self.level_model.rowCount()))
        t.setFixedHeight(t.horizontalHeader().sizeHint().height() + rows + 2 * t.frameWidth() + 2)

    def _highlight_in_ranking(self, item: int) -> None:
        """Select ``item``'s row of the ranking and scroll to it (when the ranking is hidden: on
        its next show)."""
        if self.ranking_model.rowCount() == 0:
            return
        index = self.ranking_model.index(self.ranking_model.row_of(item), 0)
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        self._ranking_view.selectionModel().select(index, flags)
        self._scroll_pending = True
        if self._ranking_view.isVisible():
            self._scroll_to_selected()

    def _scroll_to_selected(self) -> None:
        self._scroll_pending = False
        rows = self._ranking_view.selectionModel().selectedRows()
        if rows:
            self._ranking_view.scrollTo(rows[0])

    # ---- private: the project and its jobs ----
    def _on_project_changed(self, snapshot: ProjectSnapshot | None) -> None:
        for scope in (self._load_job, self._ranking_job, self._item_job):
            scope.cancel()
        self.state.open(snapshot)
        self._scroll_pending = False
        self.ranking_model.clear()
        self.level_model.set_levels([])
        self._item_title.setText("")
        self._show_compare_choices()
        self._completion_list.set_strings(snapshot.lookups.completions if snapshot is not None else [])  # read on first focus
        self._sync_plots()
        self._show_texts()
        if snapshot is not None:
            self._load_job.submit(load_weight_generators, snapshot.project, name="load weights generators",
                                  on_result=self._on_generators, on_error=partial(self._on_error, "load"))

    def _on_error(self, what: str, message: str) -> None:
        self.state.fail(what, message)
        self._show_texts()

    def _on_generators(self, generators: Generators) -> None:
        self.state.set_generators(generators)
        name = "content-margin ranking" if generators.ran is None else "divergence ranking"
        self._ranking_job.submit(compute_ranking, self.state.project, generators.ran, name=name,
                                 on_result=self._on_ranking, on_error=partial(self._on_error, "ranking"))
        self._sync_plots()  # the content side alone without a RAN
        self._request_item()
        self._show_texts()

    def _on_ranking(self, ranking: Ranking) -> None:
        state = self.state
        top = state.set_ranking(ranking)
        self.ranking_model.set_ranking(state.ranking_titles(), state.project.sids.item_ids, ranking.values,
                                       ranking.flags, ranking.order, ranking.signal, kind=ranking.kind,
                                       depth=state.project.sids.depth, summary=ranking.summary)
        ascending = ranking.kind == CONTENT  # the smallest margin first; the largest divergence first
        self._ranking_view.horizontalHeader().setSortIndicator(
            1, Qt.SortOrder.AscendingOrder if ascending else Qt.SortOrder.DescendingOrder)
        self._fit_ranking_columns()
        self._show_texts()
        if top is not None:  # nothing picked yet: show the most divergent item
            self._choose(top, None, auto=True)
        elif state.item is not None:
            self._highlight_in_ranking(state.item)

    def _choose(self, item: int, compare: int | None, *, auto: bool) -> None:
        self.state.choose(item, compare, auto=auto)
        self._show_compare_choices()
        self._highlight_in_ranking(item)
        self._request_item()

    def _request_item(self) -> None:
        request = self.state.request()
        if request is None:
            return
        self._item_status.setText(self.state.item_status)
        self._item_job.submit(compute_item_weights, *request.args(), name="codeword weights",
                              on_result=self._on_weights, on_error=partial(self._on_error, "item"))

    def _on_weights(self, weights: ItemWeights) -> None:
        first = self.state.set_weights(weights)
        self._sync_plots()
        self.level_model.set_levels(weights.levels, weights.compare_js)
        self._fit_level_table()
        self._item_title.setText(self.state.item_title(weights.item))
        self._show_texts()
        if first:
            self.sig_ready.emit()

    # ---- private: user input ----
    def _on_selection(self, event) -> None:
        if event.source == SOURCE or self.state.snapshot is None or event.first is None:
            return
        self.show_item(event.first, event.items[1] if len(event.items) > 1 else None)

    def _pick(self, item: int) -> None:
        """The user picked ``item`` in this panel: show it and tell the other panels."""
        self.show_item(item)
        self._selection.select_items([item], SOURCE)

    def _on_ranking_clicked(self, index: QModelIndex) -> None:
        if index.isValid():
            self._pick(self.ranking_model.item_at(index.row()))

    def _on_completion(self, text: str) -> None:
        item = self.state.completions.get(text)
        if item is not None:
            self._pick(item)

    def _on_search(self) -> None:
        item = self.state.search(self._search.text())
        if item is None:
            self._item_status.setText(self.state.item_status)
            return
        self._pick(item)

    def _on_compare_changed(self, index: int) -> None:
        data = self._compare_combo.itemData(index)
        self.state.set_compare(None if data is None or data < 0 else int(data))
        self._request_item()
