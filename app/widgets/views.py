"""The read-only table view every panel uses, built in one place so they all behave alike."""
from __future__ import annotations

from PySide6.QtCore import QAbstractItemModel
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

__all__ = ["named", "table_view", "ALL"]

ALL = -1  # ``stretch=ALL``: every column shares the width


def named(widget: QWidget, name: str) -> QWidget:
    """``widget`` with the object name tests and exports find it by."""
    widget.setObjectName(name)
    return widget


def table_view(
    model: QAbstractItemModel,
    name: str = "",
    *,
    stretch: int | None = None,
    widths: dict[int, int] | None = None,
    row_numbers: bool = False,
    row_height: int | None = None,
    alternating: bool = False,
) -> QTableView:
    """A read-only table over ``model`` that selects one whole row, named ``name``.

    ``stretch``: the column that takes the spare width, the others fitting their contents (``ALL``:
    every column stretches; None: columns keep Qt's default, user-sized widths); columns in
    ``widths`` start at that many pixels and can be dragged. ``row_numbers`` shows the vertical header; ``row_height`` defaults to the font's
    height plus a small margin."""
    view = QTableView()
    if name:
        view.setObjectName(name)
    view.setModel(model)
    view.verticalHeader().setVisible(row_numbers)
    view.verticalHeader().setDefaultSectionSize(row_height or view.fontMetrics().height() + 6)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setWordWrap(False)
    view.setAlternatingRowColors(alternating)
    hh = view.horizontalHeader()
    hh.setHighlightSections(False)
    if stretch == ALL:
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        hh.setMinimumSectionSize(60)
        return view
    if stretch is None:
        return view
    hh.setStretchLastSection(False)
    hh.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    for col, width in (widths or {}).items():
        hh.setSectionResizeMode(col, QHeaderView.ResizeMode.Interactive)
        hh.resizeSection(col, width)
    hh.setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)
    return view
