"""The beam stepper's tables: the history, the candidates of the last level, the final list.

Each is a :class:`~app.widgets.RowTableModel` over the row tuples :mod:`.state` builds.
"""
from __future__ import annotations

import math

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont

from ...widgets import Column, RowTableModel, percent, sid_text

__all__ = ["HistoryModel", "CandidatesModel", "ResultsModel", "GREY", "TARGET_COLOUR", "FORCED_COLOUR"]

GREY = QColor("#9a9a9a")
TARGET_COLOUR = QColor("#1e8a3a")  # the true next item (row tint, tree outline)
FORCED_COLOUR = QColor("#d9730d")
_TARGET_TINT = QColor(30, 138, 58, 60)


def _font(bold: bool = False, italic: bool = False) -> QFont:
    font = QFont()
    font.setBold(bold)
    font.setItalic(italic)
    return font


class HistoryModel(RowTableModel):
    """The decoded history, oldest first: position, title, SID. Rows: ``(item, title, sid)``.

    ``Qt.UserRole``: the item index."""

    COLUMNS = (Column("#", "Position in the history (1 = oldest).", right=True), Column("Item", "The item's title."),
               Column("SID", "The item's semantic ID."))

    def display(self, row: int, col: int) -> str:
        item, title, sid = self.row(row)
        return (str(row + 1), title or f"item {item}", sid_text(sid, "start"))[col]

    def style(self, row: int, col: int, role: int):
        if role == Qt.ItemDataRole.UserRole:
            return self.row(row)[0]
        if role == Qt.ItemDataRole.ToolTipRole:
            return self.row(row)[1]
        return None


class CandidatesModel(RowTableModel):
    """Each live beam's top candidate tokens at the last decoded level (rows from
    :func:`~.state.candidate_rows`). ``Qt.UserRole`` gives ``(beam, token, masked)`` of the row
    (what Force needs)."""

    COLUMNS = (
        Column("Beam", "The live beam's prefix (SID tokens so far); its cumulative log-prob is in the tooltip."),
        Column("Token", "A candidate token for this level.", right=True),
        Column("P before", "The model's probability of the token (softmax of its raw output).", right=True),
        Column("P after", "The probability renormalised over the tokens the trie and the filters allow "
                          "(0 for a masked token).", right=True),
        Column("Log-p if kept", "The cumulative log-probability the beam would have with this token.", right=True),
        Column("Outcome", "kept: in the next level's beam; pruned: allowed but outside the beam; masked: no "
                          "(allowed) item lies under it; forced: kept because you forced it; drawn / not drawn: "
                          "sampling mode."),
    )

    def candidate(self, row: int) -> tuple[int, int, bool]:
        """``(beam, token, masked)`` of ``row``."""
        r = self.row(row)
        return r[0], r[3], r[7] == "masked"

    def display(self, row: int, col: int) -> str:
        beam, prefix, bscore, token, before, after, score, outcome = self.row(row)
        return (sid_text(prefix, "start"), str(token), percent(before), percent(after),
                f"{score:.2f}" if math.isfinite(score) else "−∞", outcome)[col]

    def style(self, row: int, col: int, role: int):
        outcome = self.row(row)[7]
        if role == Qt.ItemDataRole.UserRole:
            return self.candidate(row)
        if role == Qt.ItemDataRole.ToolTipRole and col == 0:
            r = self.row(row)
            return f"beam {r[0] + 1}: prefix {sid_text(r[1], 'start')}, cumulative log-prob {r[2]:.3f}"
        if role == Qt.ItemDataRole.ForegroundRole:
            return GREY if outcome in ("masked", "pruned", "not drawn") else (
                FORCED_COLOUR if outcome == "forced" else None)
        if role == Qt.ItemDataRole.FontRole and outcome in ("kept", "drawn", "forced", "masked"):
            return _font(bold=outcome != "masked", italic=outcome == "masked")
        return None


class ResultsModel(RowTableModel):
    """The final list: rank, title, SID, log-prob and a note (rows from :func:`~.state.result_rows`).

    ``Qt.UserRole``: the row's item index (-1: the SID names no item)."""

    COLUMNS = (Column("#", "Rank.", right=True),
               Column("Item", "The recommended item (greyed: the SID names no item)."),
               Column("SID", "The decoded semantic ID."),
               Column("Log-p", "Cumulative log-probability of the SID.", right=True),
               Column("", "★ marks the item the user really took next (the held-out test item)."))

    def display(self, row: int, col: int) -> str:
        rank, item, title, sid, score, is_target = self.row(row)
        return (str(rank), title or f"item {item}", sid_text(sid, "start"), f"{score:.2f}",
                "★ true next" if is_target else "")[col]

    def style(self, row: int, col: int, role: int):
        rank, item, title, sid, score, is_target = self.row(row)
        if role == Qt.ItemDataRole.UserRole:
            return item
        if role == Qt.ItemDataRole.ForegroundRole and item < 0:
            return GREY
        if role == Qt.ItemDataRole.BackgroundRole and is_target:
            return _TARGET_TINT
        if role == Qt.ItemDataRole.ToolTipRole and col == 1:
            return title
        return None
