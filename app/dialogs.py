"""Dialogs of the main window: the list of problems found in a dataset folder.

The problems come from the engine's validator (:func:`genrec_engine.check_dataset`), one row per
finding with the file, line and field it is about, so the user can fix the data in an editor.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QHeaderView, QLabel, QTableView, QVBoxLayout, QWidget

from genrec_engine import Problem

__all__ = ["ProblemsDialog", "ProblemTableModel"]

_COLUMNS = ("Severity", "File", "Line", "Field", "Problem")
_ERROR_BG = QColor("#fde2e1")
_WARNING_BG = QColor("#fff4d6")


class ProblemTableModel(QAbstractTableModel):
    """Read-only table of validation problems: severity, file, line, field, message."""

    def __init__(self, problems: list[Problem], parent=None):
        super().__init__(parent)
        self._rows = list(problems)

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(_COLUMNS)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        p = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return (p.severity, Path(p.file).name, "" if p.line is None else str(p.line), p.field or "",
                    p.message)[index.column()]
        if role == Qt.ItemDataRole.ToolTipRole:
            return str(p)
        if role == Qt.ItemDataRole.BackgroundRole:
            return QBrush(_ERROR_BG if p.severity == "error" else _WARNING_BG)
        if role == Qt.ItemDataRole.ForegroundRole:
            return QBrush(QColor("#202020"))
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal and 0 <= section < len(_COLUMNS):
            return _COLUMNS[section]
        return None


class ProblemsDialog(QDialog):
    """Shows every problem a dataset folder has. Non-blocking: open it with :meth:`open`."""

    def __init__(self, folder: str | Path, problems: list[Problem], parent: QWidget | None = None):
        super().__init__(parent)
        errors = sum(p.severity == "error" for p in problems)
        warnings = len(problems) - errors
        self.setWindowTitle("Problems in the dataset")
        self.resize(900, 420)
        self.summary = QLabel(
            f"<b>{folder}</b><br>{errors} error(s), {warnings} warning(s). "
            + ("Fix the errors (file, line and field are listed) and open the folder again; "
               "the open project is unchanged." if errors else
               "Warnings only: the dataset can be used.")
        )
        self.summary.setWordWrap(True)
        self.model = ProblemTableModel(problems, self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        for c in range(len(_COLUMNS) - 1):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
