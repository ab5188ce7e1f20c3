"""Tables and trees as text: what a view (or a bare item model) displays, to CSV, TSV or the
clipboard. :func:`table_data` reads the view's column order, hidden columns, sort order and (a
tree) its expanded branches; a lazy model is fetched to the end (at most :data:`MAX_ROWS` rows)."""
from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from typing import Iterator

from PySide6.QtCore import (
    QAbstractListModel,
    QAbstractTableModel,
    QByteArray,
    QMimeData,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
)
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QAbstractItemView, QTableView, QTreeView

from .files import write_atomic

__all__ = ["MAX_ROWS", "TableData", "table_data", "delimited_text", "write_csv", "copy_table"]

#: A lazy model is asked for more rows until it has this many (then what is loaded is written).
MAX_ROWS = 5_000_000


@dataclass(frozen=True)
class TableData:
    """What a table or tree view displays, as text.

    ``header``: one DisplayRole string per shown column (visual order, hidden columns left out);
    ``rows``: one list of cell strings per shown row (a tree: depth first, expanded branches only);
    ``complete``: False when a lazy model still had rows it had not loaded (``note`` says so).
    """

    header: list[str]
    rows: list[list[str]]
    complete: bool
    note: str = ""


# ------------------------------------------------------------------------------- tables: data


def table_data(source: QAbstractItemView | object, *, selected_only: bool = False,
               max_rows: int = MAX_ROWS) -> TableData:
    """The header and DisplayRole text of every row ``source`` shows.

    ``source`` is a view (its column order, hidden columns and rows, sort order through its
    model; a tree view: the rows of expanded branches) or a bare item model (every column; a tree
    model: every row it has loaded). A lazy flat model is asked to ``fetchMore`` until it has all
    its rows (at most ``max_rows``). ``selected_only``: rows with a selected cell (views only).
    """
    view = source if isinstance(source, QAbstractItemView) else None
    model = view.model() if view is not None else source
    if model is None:
        return TableData([], [], True, "no table")
    columns = _shown_columns(view, model)
    header = [_text(model.headerData(c, Qt.Orientation.Horizontal, Qt.ItemDataRole.DisplayRole)) for c in columns]

    root = view.rootIndex() if view is not None else QModelIndex()
    tree = isinstance(view, QTreeView) or (view is None and _has_hierarchy(model, root))
    complete, note = True, ""
    if not tree:
        complete = _fetch_all(model, root, max_rows)
        if not complete:
            note = f"only the {model.rowCount(root):,} rows loaded so far were included"
    selected = _selected_rows(view) if selected_only and view is not None else None

    rows: list[list[str]] = []
    collapsed = unloaded = False
    for index, state in _walk(view, model, root, tree):
        if state == "collapsed":
            collapsed = True
            continue
        if state == "unloaded":
            unloaded = True
            continue
        if selected is not None and (index.row(), QPersistentModelIndex(index.parent())) not in selected:
            continue
        rows.append([_text(model.data(index.siblingAtColumn(c), Qt.ItemDataRole.DisplayRole)) for c in columns])
    if tree and view is not None and collapsed:
        note = "rows inside collapsed branches were not included (expand them to include them)"
    if tree and view is None and unloaded:
        complete, note = False, "only the tree nodes loaded so far were included"
    return TableData(header, rows, complete, note)


def delimited_text(data: TableData, delimiter: str = ",", *, line_end: str = "\r\n") -> str:
    """``data`` as CSV (``delimiter=","``, RFC 4180 quoting) or TSV (``"\\t"``), header first."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator=line_end, quoting=csv.QUOTE_MINIMAL)
    writer.writerow(data.header)
    writer.writerows(data.rows)
    return out.getvalue()


def write_csv(source: QAbstractItemView | object, path: str | os.PathLike) -> TableData:
    """Write what ``source`` shows (see :func:`table_data`) to ``path`` as UTF-8 CSV, atomically.

    Returns the data written (``complete`` False: a lazy model's unloaded rows are missing).
    Raises :class:`~.files.ExportError` when the file cannot be written."""
    data = table_data(source)
    write_atomic(path, delimited_text(data).encode("utf-8"))
    return data


def copy_table(source: QAbstractItemView | object, *, selected_only: bool = False) -> TableData:
    """Put what ``source`` shows on the clipboard: TSV as plain text (spreadsheets paste it into
    cells) and CSV as ``text/csv``. Returns the data copied."""
    data = table_data(source, selected_only=selected_only)
    mime = QMimeData()
    mime.setText(delimited_text(data, "\t", line_end="\n"))
    mime.setData("text/csv", QByteArray(delimited_text(data).encode("utf-8")))
    QGuiApplication.clipboard().setMimeData(mime)
    return data


# ------------------------------------------------------------------------------- internals


def _text(value) -> str:
    return "" if value is None else str(value)


def _shown_columns(view: QAbstractItemView | None, model) -> list[int]:
    n = model.columnCount(view.rootIndex() if view is not None else QModelIndex())
    header = None
    if isinstance(view, QTableView):
        header = view.horizontalHeader()
    elif isinstance(view, QTreeView):
        header = view.header()
    if header is None or header.count() != n:
        return list(range(n))
    return [header.logicalIndex(v) for v in range(n) if not header.isSectionHidden(header.logicalIndex(v))]


def _has_hierarchy(model, root: QModelIndex) -> bool:
    return any(_has_children(model, model.index(r, 0, root)) for r in range(min(model.rowCount(root), 64)))


def _has_children(model, index: QModelIndex) -> bool:
    """``model.hasChildren(index)``; table and list models (where PySide makes it private) have none."""
    if isinstance(model, (QAbstractTableModel, QAbstractListModel)):
        return False
    return model.hasChildren(index)


def _fetch_all(model, parent: QModelIndex, max_rows: int) -> bool:
    """Ask a lazy model for rows until it has all (True) or ``max_rows`` / it stops growing (False)."""
    while model.canFetchMore(parent):
        before = model.rowCount(parent)
        if before >= max_rows:
            return False
        model.fetchMore(parent)
        if model.rowCount(parent) <= before:  # a model that promises rows but never delivers
            return not model.canFetchMore(parent)
    return True


def _selected_rows(view: QAbstractItemView) -> set[tuple[int, QPersistentModelIndex]]:
    sel = view.selectionModel()
    if sel is None:
        return set()
    return {(i.row(), QPersistentModelIndex(i.parent())) for i in sel.selectedIndexes()}


def _walk(view: QAbstractItemView | None, model, parent: QModelIndex, tree: bool) -> Iterator[tuple[QModelIndex, str]]:
    """Rows under ``parent`` in display order: ``(index, "row")``; for a tree also markers for
    branches left out (``"collapsed"`` in a view, ``"unloaded"`` for a bare model)."""
    stack = [(parent, 0)]
    while stack:
        par, row = stack.pop()
        if row >= model.rowCount(par):
            continue
        stack.append((par, row + 1))
        index = model.index(row, 0, par)
        if view is not None and _row_hidden(view, row, par):
            continue
        yield index, "row"
        if not tree:
            continue
        if view is not None:
            if _has_children(model, index):
                if view.isExpanded(index):
                    stack.append((index, 0))
                else:
                    yield index, "collapsed"
        else:
            if model.canFetchMore(index):
                yield index, "unloaded"
            if model.rowCount(index):
                stack.append((index, 0))


def _row_hidden(view: QAbstractItemView, row: int, parent: QModelIndex) -> bool:
    if isinstance(view, QTreeView):
        return view.isRowHidden(row, parent)
    if isinstance(view, QTableView):
        return view.isRowHidden(row)
    return False
