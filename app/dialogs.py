"""Dialogs of the main window: the list of problems found in a dataset folder.

The problems come from the engine's validator (:func:`genrec_engine.check_dataset`), one row per
finding with the file, line and field it is about, so the user can fix the data in an editor.
"""
from __future__ import annotations

import re

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QHeaderView, QLabel, QTableView, QVBoxLayout, QWidget

from genrec_engine import Problem

from .widgets import Column, RowTableModel

__all__ = ["ProblemsDialog", "ProblemTableModel"]

_ERROR_BG = QBrush(QColor("#fde2e1"))
_WARNING_BG = QBrush(QColor("#fff4d6"))
_TEXT = QBrush(QColor("#202020"))  # dark on the light row colours, whatever the theme


class ProblemTableModel(RowTableModel):
    """Read-only table of validation problems (one :class:`~genrec_engine.Problem` a row):
    severity, file, line, field, message; the row's colour says error or warning, its tooltip the
    whole finding."""

    COLUMNS = (
        Column("Severity", "error: the dataset cannot be used until it is fixed; warning: it can."),
        Column("File", "The file the problem is in."),
        Column("Line", "The line of that file as an editor counts it (a CSV header is line 1; Parquet: the row)."),
        Column("Field", "The column of that file, when the problem is about one."),
        Column("Problem", "What is wrong."),
    )

    def __init__(self, problems: list[Problem], parent=None):
        super().__init__(parent)
        self.set_rows(problems)

    def display(self, row: int, col: int) -> str:
        p: Problem = self.row(row)
        return (p.severity, Path(p.file).name, "" if p.line is None else str(p.line), p.field or "", p.message)[col]

    def style(self, row: int, col: int, role: int):
        p: Problem = self.row(row)
        if role == Qt.ItemDataRole.ToolTipRole:
            return str(p)
        if role == Qt.ItemDataRole.BackgroundRole:
            return _ERROR_BG if p.severity == "error" else _WARNING_BG
        if role == Qt.ItemDataRole.ForegroundRole:
            return _TEXT
        return None


_UNLISTED = re.compile(r"\((\d+) such .* in all; only the first (\d+) are listed\)")


def unlisted_count(problem: Problem) -> int:
    """How many problems of ``problem``'s family were counted but not listed (the engine lists
    the first 1,000 of a family and says the full count in the last one's message)."""
    m = _UNLISTED.search(problem.message)
    return int(m.group(1)) - int(m.group(2)) if m else 0


class ProblemsDialog(QDialog):
    """Shows every problem a dataset folder has. Non-blocking: open it with :meth:`open`."""

    def __init__(self, folder: str | Path, problems: list[Problem], parent: QWidget | None = None, *,
                 on_drop_short_users=None):
        super().__init__(parent)
        errors = sum(p.severity == "error" for p in problems)
        short = [p for p in problems if p.severity == "error" and "are needed (min_user_interactions)" in p.message]
        warnings = len(problems) - errors
        listed = errors
        errors += sum(unlisted_count(p) for p in problems if p.severity == "error")  # families beyond the cap
        n_short = len(short) + sum(unlisted_count(p) for p in short)
        self.setWindowTitle("Problems in the dataset")
        self.resize(900, 420)
        self.summary = QLabel(
            f"<b>{folder}</b><br>{errors:,} error(s)" + (f" ({listed:,} listed)" if listed < errors else "")
            + f", {warnings:,} warning(s). "
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
        for c in range(len(ProblemTableModel.COLUMNS) - 1):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        #: shown when the only errors are users with too few interactions: load without them instead
        self.drop_button = None
        if short and n_short == errors and on_drop_short_users is not None:
            self.summary.setText(self.summary.text() + f"<br>All {n_short:,} errors are users with too few "
                                 "interactions: you can leave those users out and go on.")
            self.drop_button = buttons.addButton("Drop these users and continue",
                                                 QDialogButtonBox.ButtonRole.AcceptRole)
            self.drop_button.setObjectName("dropShortUsers")
            self.drop_button.setDefault(True)  # Enter: the way forward
            self.drop_button.clicked.connect(lambda: (self.accept(), on_drop_short_users()))
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
