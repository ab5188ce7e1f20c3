"""The SID tree panel's widgets: the lazy trie, the items of the selected node, search and export.

A thin binding of :class:`~app.panels.tree.state.TreeState` to widgets: the state decides what is
listed, searched, exported and what a result reads like; this module moves tree and table
selections, runs the search and the export as jobs (one :class:`~app.bridge.JobScope` each) and
shows their outcomes. Widgets tests read have object names (``treeSearchStatus``,
``treeTableCaption``, ``treeExportStatus``, ``treeStats``, ``treeExportCsv``, ``treeExportGraphml``).
"""
from __future__ import annotations

from functools import partial
from typing import Sequence

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, Signal, Slot
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QTableView,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from genrec_engine import export_subtree

from ...bridge import EngineBridge, JobScope
from ...selection import Selection, SelectionEvent
from ...widgets import ERROR_COLOUR
from ...widgets.overview_pages import ProjectPages, page_column, rich_label, splitter
from .. import ItemsChange, ProjectSnapshot, ProjectViewModel
from .models import ItemsTableModel, SidTreeModel
from .state import NO_NODE_CAPTION, SOURCE, T_POPULARITY, T_TITLE, Listing, SearchResult, TreeState, search_items, \
    stats_html

__all__ = ["TreePanel"]

_INTRO = (
    "The semantic-ID tree: every item's SID is a path from the top level down. Expand a code to see "
    "the codes that refine it; <b>Items</b> counts the items below a node, and <b>Collision</b> flags "
    "L-code tuples shared by several items (the extra collision token tells them apart). Select a node "
    "to list its items on the right."
)

_EMPTY_TEXT = (
    "<p>Open a project with <b>File › Open project…</b> to browse its semantic-ID tree.</p>"
    "<p>Each item's SID is a short sequence of codes; items that share their first codes sit under "
    "the same node of the tree.</p>"
)

_STATS_TIP = (
    "Codebook health per level. Used: share of the codewords some item uses. Perplexity: the "
    "effective number of codewords (K = perfectly even). H(cₗ | prefix): bits still to guess at "
    "this level once the earlier codes are known."
)

_TREE_WIDTHS = (100, 104, 56, 64, 64)  # Code, Prefix, Items, Level, Collision; Item stretches
_TABLE_WIDTHS = (240, 88, 104, 80, 58, 96)  # Title (stretches), Brand, Category, Popularity, Item ID, SID


def _status_label(*, wrap: bool = False) -> QLabel:
    """A selectable one-line status that long text never widens."""
    label = QLabel("")
    label.setWordWrap(wrap)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def _set_status(label: QLabel, text: str, *, error: bool, bold: bool = False) -> None:
    weight = " font-weight: bold;" if bold else ""
    label.setStyleSheet(f"color: {ERROR_COLOUR};{weight}" if error else "")
    label.setText(text)


class TreePanel(QWidget):
    """The SID trie as a lazy tree, the items of the selected node, search and subtree export.

    Built as ``TreePanel(view_model, selection, bridge)``. Follows the linked selection (source
    ``"tree"``): picking a node selects its prefix, picking a row of the items table selects that
    item; a selection made elsewhere expands the tree to the common prefix of the selected items.
    Public: :meth:`page`, :meth:`select_prefix`, :meth:`selected_prefix`, :meth:`search`, :meth:`focus_search`,
    :meth:`screenshot_ready`, the models ``tree_model`` and ``items_model``, the views ``tree`` and
    ``table``, the view-model ``state``.
    """

    # ---- signals ----
    sig_ready = Signal()
    """The tree of a newly opened project is showing (see :meth:`screenshot_ready`)."""

    sig_search_finished = Signal(str)
    """``(status text)``: a search was applied (the text is what the status label shows)."""

    sig_export_finished = Signal(bool, str)
    """``(ok, message)``: a subtree export wrote its file (True) or failed (False, the error)."""

    def __init__(self, view_model: ProjectViewModel, selection: Selection, bridge: EngineBridge,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self._vm, self._selection = view_model, selection
        self.state = TreeState()
        self._search = JobScope(bridge)
        self._export = JobScope(bridge)
        self._syncing = False  # applying a selection that came from elsewhere: do not echo it
        self._ready = False

        self.tree_model = SidTreeModel(self)
        self.items_model = ItemsTableModel(self)
        self._pages = ProjectPages(view_model, self._build_content_page(), _EMPTY_TEXT)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self._pages)

        selection.sig_changed.connect(self._on_selection_changed)
        view_model.sig_project_changed.connect(self._on_project_changed)
        view_model.sig_items_changed.connect(self._on_items_changed)
        self._on_project_changed(view_model.snapshot)

    # ---- public ----
    def screenshot_ready(self) -> bool:
        """True once the tree of the open project is showing."""
        return self._ready

    def page(self) -> str:
        """Which page is showing: ``"empty"``, ``"loading"`` or ``"project"``."""
        return self._pages.page()

    def select_prefix(self, prefix: Sequence[int]) -> bool:
        """Expand the tree to ``prefix``, select that node (which selects its items in the linked
        selection) and list its items. False when the prefix is not in the tree."""
        index = self.tree_model.index_for_prefix(tuple(int(t) for t in prefix))
        if not index.isValid():
            return False
        self._select_tree_index(index)
        return True

    def selected_prefix(self) -> tuple[int, ...] | None:
        """The prefix of the selected tree node, or None."""
        index = self.tree.currentIndex()
        if not index.isValid() or not self.tree.selectionModel().isSelected(index):
            return None
        return self.tree_model.prefix(index)

    def focus_search(self) -> None:
        """Put the cursor in the search box, its text selected (Edit > Find, Ctrl+F)."""
        self._search_edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self._search_edit.selectAll()

    def search(self, text: str | None = None) -> None:
        """Search for ``text`` (default: the search box); the result arrives via ``sig_search_finished``."""
        if text is not None:
            self._search_edit.setText(text)
        self._on_search()

    # ---- private: layout ----
    def _build_content_page(self) -> QWidget:
        self._stats = rich_label("")
        self._stats.setObjectName("treeStats")
        self._stats.setToolTip(_STATS_TIP)
        page, lay = page_column(rich_label(_INTRO), self._stats)
        lay.addLayout(self._build_search_row())
        lay.addWidget(self._build_results())
        split = splitter(self._build_tree(), self._build_items_side(), stretch=(1, 1), sizes=(590, 650))
        split.setChildrenCollapsible(False)
        lay.addWidget(split, 1)
        return page

    def _build_search_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self._search_edit = QLineEdit()
        self._search_edit.setObjectName("treeSearch")
        self._search_edit.setPlaceholderText(
            "Search: a title word, an item id (123 or id:123) or a SID prefix (12-48, 12,48; 12- for one level)")
        self._search_edit.setToolTip(
            "A bare number is an item id (and, when it is also a first-level code, the node is offered in the "
            "list); 12- or sid:12 is the SID prefix 12; other text matches titles, typed-in lab items included. "
            "Enter again steps to the next match.")
        self._search_edit.setClearButtonEnabled(True)
        self._search_edit.returnPressed.connect(self._on_search)
        button = QPushButton("Find")
        button.clicked.connect(self._on_search)
        self._search_status = _status_label()
        self._search_status.setObjectName("treeSearchStatus")
        self._search_status.setMinimumWidth(260)
        row.addWidget(self._search_edit, 3)
        row.addWidget(button)
        row.addWidget(self._search_status, 2)
        return row

    def _build_tree(self) -> QTreeView:
        self.tree = QTreeView()
        self.tree.setModel(self.tree_model)
        self.tree.setUniformRowHeights(True)  # keeps huge expanded levels cheap
        self.tree.setAlternatingRowColors(True)
        self.tree.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.tree.setExpandsOnDoubleClick(True)
        self.tree.setIndentation(14)  # four levels deep still leave the code readable
        header = self.tree.header()
        header.setStretchLastSection(True)
        for col, width in enumerate(_TREE_WIDTHS):
            header.resizeSection(col, width)
        self.tree.selectionModel().selectionChanged.connect(self._on_tree_selection)
        return self.tree

    def _build_items_side(self) -> QWidget:
        side = QWidget()
        lay = QVBoxLayout(side)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(6)
        self._caption = QLabel(NO_NODE_CAPTION)
        self._caption.setObjectName("treeTableCaption")
        self._caption.setWordWrap(True)
        font = QFont(self._caption.font())
        font.setBold(True)
        self._caption.setFont(font)
        self.table = QTableView()
        self.table.setModel(self.items_model)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 6)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.horizontalHeader().setSortIndicator(T_POPULARITY, Qt.SortOrder.DescendingOrder)
        self.table.setSortingEnabled(True)  # most popular first
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)
        for col, width in enumerate(_TABLE_WIDTHS):
            header.resizeSection(col, width)
        header.setSectionResizeMode(T_TITLE, QHeaderView.ResizeMode.Stretch)
        self.table.selectionModel().selectionChanged.connect(self._on_table_selection)

        export_row = QHBoxLayout()
        self._export_csv = QPushButton("Export subtree as CSV…")
        self._export_csv.setObjectName("treeExportCsv")
        self._export_csv.setToolTip("Write the items under the selected node (title, brand, SID, …) to a CSV file.")
        self._export_csv.clicked.connect(partial(self._on_export, "csv"))
        self._export_graphml = QPushButton("Export subtree as GraphML…")
        self._export_graphml.setObjectName("treeExportGraphml")
        self._export_graphml.setProperty("expert", True)  # hidden in presenter mode
        self._export_graphml.setToolTip("Write the nodes and edges under the selected node to a GraphML file "
                                        "(opens in Gephi, yEd, networkx).")
        self._export_graphml.clicked.connect(partial(self._on_export, "graphml"))
        export_row.addWidget(self._export_csv)
        export_row.addWidget(self._export_graphml)
        export_row.addStretch(1)
        self._export_status = _status_label(wrap=True)
        self._export_status.setObjectName("treeExportStatus")

        lay.addWidget(self._caption)
        lay.addWidget(self.table, 1)
        lay.addLayout(export_row)
        lay.addWidget(self._export_status)
        return side

    # ---- private: project ----
    @Slot(object)
    def _on_project_changed(self, snapshot: ProjectSnapshot | None) -> None:
        self.state.set_project(snapshot)
        self._search.cancel()  # a search of the old project is stale (an export still writes its file)
        self._search_edit.clear()  # its text too: left in the box, it read as a search of this project with no hits
        self._search_status.setText("")
        self._results.clear()
        self._results.setVisible(False)
        self._export_status.setText("")
        self._ready = False
        self._syncing = True
        try:
            self.items_model.set_source(snapshot)
            if snapshot is None:
                self.tree_model.set_trie(None)
                self._stats.setText("")
            else:
                project = snapshot.project
                self.tree_model.set_trie(project.trie, levels=project.sids.levels, title=self.state.title,
                                         groups=project.sids.policy == "keep-all")
                self._stats.setText(stats_html(snapshot))
        finally:
            self._syncing = False
        self._caption.setText(NO_NODE_CAPTION)
        self._update_export_buttons()
        if snapshot is not None:
            self._ready = True
            self.sig_ready.emit()

    @Slot(object)
    def _on_items_changed(self, change: ItemsChange) -> None:
        """The cold-start lab injected or retired items: show its live trie, keeping what is
        expanded; go to the first item it added (without changing the linked selection)."""
        if not self.state.take_change(change):
            return
        self.items_model.set_new_items(self.state.new_items)
        self._syncing = True
        try:
            self.tree_model.update_trie(change.trie, title=self.state.title)
            focus = self.state.focus_prefix(change)
            index = self.tree_model.index_for_prefix(focus) if focus is not None else QModelIndex()
            if index.isValid():
                self._select_tree_index(index)
                self._list_node(index)
            elif self.state.table_prefix is not None:  # the listed node may have lost or gained items
                node = self.tree_model.index_for_prefix(self.state.table_prefix)
                if node.isValid():
                    self._list_node(node)
        finally:
            self._syncing = False
        self._update_export_buttons()

    # ---- private: tree and table selection ----
    def _select_tree_index(self, index: QModelIndex) -> None:
        """Expand the ancestors of ``index``, make it current and selected, scroll to it."""
        parent, chain = index.parent(), []
        while parent.isValid():
            chain.append(parent)
            parent = parent.parent()
        for p in reversed(chain):
            self.tree.expand(p)
        self.tree.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        )
        self.tree.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)

    @Slot()
    def _on_tree_selection(self, *_args) -> None:
        rows = self.tree.selectionModel().selectedRows(0)
        if rows:
            prefix = self._list_node(rows[0])
            if not self._syncing and self.state.snapshot is not None:
                self._selection.select_prefix(prefix, SOURCE)
        self._update_export_buttons()

    def _list_node(self, index: QModelIndex) -> tuple[int, ...]:
        """List the items of the tree node at ``index``; returns its prefix."""
        prefix = self.tree_model.prefix(index)
        self._show(self.state.node_listing(self.tree_model.items(index), prefix))
        return prefix

    def _show(self, listing: Listing) -> None:
        was, self._syncing = self._syncing, True  # resetting the table clears its selection: not a user pick
        try:
            self.items_model.set_items(listing.items)
        finally:
            self._syncing = was
        self.state.listed(listing)
        self._caption.setText(listing.caption)

    @Slot()
    def _on_table_selection(self, *_args) -> None:
        if self._syncing:
            return
        rows = self.table.selectionModel().selectedRows(0)
        pick = self.state.table_pick(self.items_model.item_at(rows[0].row())) if rows else None
        if pick is None:
            return
        if pick.items:
            self._selection.select_items(pick.items, SOURCE, pick.prefix)
        else:  # a typed-in lab item: its node's items
            self._selection.select_prefix(pick.prefix or (), SOURCE)

    @Slot(object)
    def _on_selection_changed(self, event: SelectionEvent) -> None:
        if event.source == SOURCE or self.state.snapshot is None:
            return
        self._syncing = True
        try:
            prefix = self.state.selection_node(event) if not event.empty else ()
            index = self.tree_model.index_for_prefix(prefix) if prefix else QModelIndex()
            if index.isValid():
                self._select_tree_index(index)
            else:
                self.tree.selectionModel().clearSelection()
            listing = self.state.selection_listing(event, index.isValid())
            if listing is not None:
                self._show(listing)
                if len(listing.items) == 1:
                    self.table.selectRow(0)
        finally:
            self._syncing = False
            self._update_export_buttons()

    # ---- private: search ----
    @Slot()
    def _on_search(self) -> None:
        query = self._search_edit.text()
        if self.state.next_hit(query):  # Enter again: the next match, no new job
            self._show_hit()
            return
        args = self.state.search_args(query)
        if args is None:
            return
        self._search.submit(search_items, *args, name="search the SID tree",
                            on_result=self._on_search_result, on_error=self._on_search_error)
        self._set_search_status("Searching…")

    def _on_search_result(self, result: SearchResult) -> None:
        self.state.take_search(result)
        self._fill_results()
        if result.kind == "none":
            self._set_search_status(result.message, error=True)
        elif result.kind == "prefix":
            found = self.select_prefix(result.prefix or ())
            self._set_search_status(self.state.prefix_status(result.prefix or (), found), error=not found)
        else:
            self._show_hit()
        self.sig_search_finished.emit(self._search_status.text())

    def _on_search_error(self, message: str) -> None:
        self._set_search_status(f"Search failed: {message}", error=True)
        self.sig_search_finished.emit(self._search_status.text())

    def _build_results(self) -> QListWidget:
        """Every match of the last search (and the SID-prefix reading of a bare number): click or
        Enter on a row shows it."""
        self._results = QListWidget()
        self._results.setObjectName("treeSearchResults")
        self._results.setMaximumHeight(130)
        self._results.setVisible(False)
        self._results.itemActivated.connect(self._on_result_row)
        self._results.itemClicked.connect(self._on_result_row)
        return self._results

    def search_results(self) -> list[str]:
        """The rows of the result list (empty when it is hidden)."""
        if not self._results.isVisibleTo(self):
            return []
        return [self._results.item(i).text() for i in range(self._results.count())]

    def _fill_results(self) -> None:
        self._results.clear()
        rows = self.state.result_rows()
        for text, kind, payload in rows:
            entry = QListWidgetItem(text)
            entry.setData(Qt.ItemDataRole.UserRole, (kind, payload))
            if kind == "more":
                entry.setFlags(Qt.ItemFlag.NoItemFlags)
            self._results.addItem(entry)
        self._results.setVisible(len(rows) > 1)

    @Slot(QListWidgetItem)
    def _on_result_row(self, entry: QListWidgetItem) -> None:
        kind, payload = entry.data(Qt.ItemDataRole.UserRole)
        if kind == "all":
            self._selection.select_items(payload, SOURCE)
            self._set_search_status(f"Selected all {len(payload):,} matches: see them on the map")
        elif kind == "prefix":
            found = self.select_prefix(tuple(payload))
            self._set_search_status(self.state.prefix_status(tuple(payload), found), error=not found)
        elif kind == "hit":
            self.state.hit_pos = int(payload)
            self._show_hit()

    def _show_hit(self) -> None:
        item, code = self.state.current_hit()
        if not self.select_prefix(code):
            self._set_search_status(f"Item {item} is not in the tree.", error=True)
            return
        rows = [r for r in range(self.items_model.rowCount()) if self.items_model.item_at(r) == item]
        self.table.selectRow(rows[0] if rows else 0)  # the match itself, not only its node
        self._set_search_status(self.state.hit_status())
        if self._results.isVisible():
            first = sum(1 for _t, kind, _p in self.state.result_rows()[:2] if kind in ("all", "prefix"))
            self._results.setCurrentRow(self.state.hit_pos + first)

    def _set_search_status(self, text: str, *, error: bool = False) -> None:
        _set_status(self._search_status, text, error=error, bold=True)
        self._search_status.setToolTip(text)

    # ---- private: export ----
    def _update_export_buttons(self) -> None:
        enabled = self.state.can_export(self.selected_prefix())
        self._export_csv.setEnabled(enabled)
        self._export_graphml.setEnabled(enabled)

    def _on_export(self, fmt: str) -> None:
        snapshot, prefix = self.state.snapshot, self.selected_prefix()
        request = self.state.export_request(fmt, prefix) if prefix is not None else None
        if snapshot is None or request is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, request.title, request.default_name, request.file_filter)
        if not path:
            return
        path = request.fix_path(path)
        self.state.export_for = snapshot
        self._export.submit(export_subtree, snapshot.project, request.prefix, path, format=fmt,
                            popularity=snapshot.popularity, name="export subtree",
                            on_result=partial(self._on_exported, snapshot),
                            on_error=partial(self._on_export_failed, snapshot))
        _set_status(self._export_status, f"Writing {path}…", error=False)
        self._update_export_buttons()

    def _on_exported(self, snapshot: ProjectSnapshot, result) -> None:
        if not self.state.is_current(snapshot):
            return  # written for a project that is no longer open
        self.state.export_for = None
        self._update_export_buttons()
        text = self.state.export_text(result)
        _set_status(self._export_status, text, error=False)
        self.sig_export_finished.emit(True, text)

    def _on_export_failed(self, snapshot: ProjectSnapshot, message: str) -> None:
        if not self.state.is_current(snapshot):
            return
        self.state.export_for = None
        self._update_export_buttons()
        text = f"Export failed: {message}"
        _set_status(self._export_status, text, error=True)
        self.sig_export_finished.emit(False, text)
