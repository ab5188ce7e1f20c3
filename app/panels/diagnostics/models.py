"""The diagnostics panel's Qt item models: one row per diagnosed user (the cells come from ``state``),
and for an audit entry one row per audited user and one per SID level (the cells come from ``audits``)."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from genrec_engine import GenerationDiagnostics

from ...widgets import ERROR_COLOUR, Column, RowTableModel
from . import audits, state

__all__ = ["DiagnosticsTableModel", "AuditUsersModel", "LevelDriftModel"]

_MISSED_COLOUR = "#707070"


def _reorder(model: RowTableModel, new: np.ndarray) -> None:
    """Show ``model``'s rows in the order ``new`` (view row -> data row); selected (persistent)
    indexes follow their rows."""
    model.layoutAboutToBeChanged.emit()
    old = model.persistentIndexList()
    view_row = np.empty(len(new), dtype=np.int64)
    view_row[new] = np.arange(len(new))
    moved = [model.index(int(view_row[model.row(p.row())]), p.column()) for p in old]
    model._rows = new.tolist()
    model.changePersistentIndexList(old, moved)
    model.layoutChanged.emit()


class DiagnosticsTableModel(RowTableModel):
    """The users of a :class:`GenerationDiagnostics`; a row's data is its result row (an int).

    ``Qt.UserRole`` gives a cell's raw value (int or float; ``None`` for a missed target's rank),
    ``USER_ROLE`` the row's user index in the test split, ``ROW_ROLE`` its row in the result.
    Sorting by homogeneity, invalid or target rank uses the engine's own "worst first" order
    (:meth:`GenerationDiagnostics.worst`), the other columns one NumPy argsort
    (:func:`state.row_order`).
    """

    COLUMNS = tuple(Column(title, tip, right=col != 3) for col, (title, tip) in enumerate(state.COLUMNS))
    SORTABLE = True
    USER_ROLE = Qt.ItemDataRole.UserRole + 1
    ROW_ROLE = Qt.ItemDataRole.UserRole + 2

    def __init__(self, parent=None):
        super().__init__(parent)
        self._diag: GenerationDiagnostics | None = None

    # ---- public ----
    def set_result(self, diag: GenerationDiagnostics | None, by: str = "homogeneity") -> None:
        """Show ``diag``, worst first by ``by`` (one of ``genrec_engine.analysis.WORST_BY``)."""
        self._diag = diag
        self.set_rows(diag.worst(by).tolist() if diag is not None else [])

    @property
    def result(self) -> GenerationDiagnostics | None:
        return self._diag

    def result_row(self, row: int) -> int:
        """The result row shown on view row ``row``."""
        return int(self.row(row))

    def user_at(self, row: int) -> int:
        """The test-split user index shown on view row ``row``."""
        return int(self._diag.users[self.row(row)])

    # ---- RowTableModel ----
    def display(self, row: int, col: int) -> str:
        return state.cell_text(self._diag, self.row(row), col)

    def style(self, row: int, col: int, role: int):
        r, d = self.row(row), self._diag
        if role == Qt.ItemDataRole.UserRole:
            return state.cell_value(d, r, col)
        if role == self.USER_ROLE:
            return int(d.users[r])
        if role == self.ROW_ROLE:
            return r
        if role == Qt.ItemDataRole.ForegroundRole:
            alarm = state.cell_alarm(d, r, col)
            return None if alarm is None else QColor(ERROR_COLOUR if alarm == "bad" else _MISSED_COLOUR)
        if role == Qt.ItemDataRole.ToolTipRole:
            return state.cell_tooltip(d, r, col)
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Reorder by :func:`state.row_order`; selected (persistent) indexes follow their users."""
        d = self._diag
        if d is None or not 0 <= column < len(self.COLUMNS) or not self.rowCount():
            return
        new = state.row_order(d, column, order == Qt.SortOrder.DescendingOrder)
        _reorder(self, new)


class AuditUsersModel(RowTableModel):
    """The users of an audit (``audits.AuditResult``); a row's data is its file row (an int).

    ``Qt.UserRole`` gives a cell's raw value (``None`` for a missed target's rank), ``ROW_ROLE``
    the file row. Sorting uses :func:`audits.row_order` (descending invalid + duplicate is the
    engine's worst-users order)."""

    COLUMNS = tuple(Column(title, tip, right=col != 5) for col, (title, tip) in enumerate(audits.COLUMNS))
    SORTABLE = True
    ROW_ROLE = Qt.ItemDataRole.UserRole + 2

    def __init__(self, parent=None):
        super().__init__(parent)
        self._result = None

    # ---- public ----
    def set_result(self, result, by: str = "bad") -> None:
        """Show ``result`` (None: nothing), worst first by ``by`` (one of ``audits.SORTS``)."""
        self._result = result
        self.set_rows(audits.row_order(result.users, audits.sort_column(by), True).tolist()
                      if result is not None else [])

    @property
    def result(self):
        return self._result

    def result_row(self, row: int) -> int:
        """The file row (0-based, in the result's arrays) shown on view row ``row``."""
        return int(self.row(row))

    # ---- RowTableModel ----
    def display(self, row: int, col: int) -> str:
        return audits.cell_text(self._result.users, self.row(row), col)

    def style(self, row: int, col: int, role: int):
        r, users = self.row(row), self._result.users
        if role == Qt.ItemDataRole.UserRole:
            return audits.cell_value(users, r, col)
        if role == self.ROW_ROLE:
            return r
        if role == Qt.ItemDataRole.ForegroundRole:
            alarm = audits.cell_alarm(users, r, col)
            return None if alarm is None else QColor(ERROR_COLOUR if alarm == "bad" else _MISSED_COLOUR)
        if role == Qt.ItemDataRole.ToolTipRole:
            return audits.cell_tooltip(users, r, col)
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Reorder by :func:`audits.row_order`; selected (persistent) indexes follow their users."""
        if self._result is None or not 0 <= column < len(self.COLUMNS) or not self.rowCount():
            return
        new = audits.row_order(self._result.users, column, order == Qt.SortOrder.DescendingOrder)
        _reorder(self, new)


class LevelDriftModel(RowTableModel):
    """An audit's level drift: one row of texts per SID level (:func:`audits.drift_rows`)."""

    COLUMNS = tuple(Column(title, tip, right=col > 0) for col, (title, tip) in enumerate(audits.DRIFT_COLUMNS))

    def set_result(self, result) -> None:
        self.set_rows(audits.drift_rows(result) if result is not None else [])

    def display(self, row: int, col: int) -> str:
        return self.row(row)[col]

    def style(self, row: int, col: int, role: int):
        if role == Qt.ItemDataRole.ToolTipRole:
            return audits.DRIFT_COLUMNS[col][1]
        return None
