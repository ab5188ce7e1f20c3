"""The playground's widget groups, built once and wired by the panel (:mod:`.view`).

:class:`HistoryBox` (item search with suggestions, test-user picker, the history table and its
buttons), :class:`GroupsBox` (depth, bar chart, groups table), :class:`OptionsRow` (instruction,
constrained, hide history, k, beam) and :class:`ResultColumn` (one generator's list). Every
widget a test or an export needs has an object name (``panel.findChild(QType, "name")``).
"""
from __future__ import annotations

from PySide6.QtCore import QAbstractItemModel, QStringListModel, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QCompleter,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ...widgets import GENERATOR_LABELS, heading
from ...widgets.views import named, table_view
from ...widgets.deferral import FillOnFocus
from .plots import GroupsPlot
from .state import KIND_NOTES

__all__ = ["HistoryBox", "GroupsBox", "OptionsRow", "ResultColumn", "named"]


def _fit(view: QTableView, widths: dict[int, int], stretch: int) -> None:
    hh = view.horizontalHeader()
    hh.setStretchLastSection(False)
    for col, w in widths.items():
        hh.resizeSection(col, w)
    hh.setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)


def _status_label(name: str) -> QLabel:
    label = named(QLabel(""), name)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    return label


def _expert(widget: QWidget) -> QWidget:
    """Mark a technical control: presenter mode hides it."""
    widget.setProperty("expert", True)
    return widget


class HistoryBox(QGroupBox):
    """The history builder's widgets: ``search`` (+ ``completer`` over ``completions``),
    ``user_combo``, ``view`` (the history table), ``buttons`` and the ``status`` line."""

    def __init__(self, history_model: QAbstractItemModel, parent=None):
        super().__init__("History (oldest first)", parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.setSpacing(4)
        self.buttons: dict[str, QPushButton] = {}

        row = QHBoxLayout()
        self.search = named(QLineEdit(), "search")
        self.search.setPlaceholderText("Add an item: type part of a title or brand, or an item id, then Enter")
        self.search.setClearButtonEnabled(True)
        self.completions = QStringListModel(self)
        self.completer = QCompleter(self.completions, self)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.completer.setMaxVisibleItems(12)
        self.search.setCompleter(self.completer)
        self.completion_list = FillOnFocus(self.search, self.completions)  # the list reaches Qt on first focus
        self._button("add", "Add", "Append the item named in the box as the newest history item.")
        row.addWidget(self.search, 1)
        row.addWidget(self.buttons["add"])
        lay.addLayout(row)

        row = QHBoxLayout()
        row.addWidget(QLabel("Test user:"))
        self.user_combo = named(QComboBox(), "users")
        self.user_combo.setToolTip("Use the history a test user had before their held-out last item "
                                   "(leave-one-out split).")
        self.user_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.user_combo.setMinimumContentsLength(16)
        self.user_combo.setPlaceholderText("custom history (pick a test user to replace it)")
        row.addWidget(self.user_combo, 1)
        row.addWidget(self._button("use_selected", "Use selected items",
                                   "Replace the history by the items selected in another panel (tree, map, weights)."))
        self.buttons["use_selected"].setEnabled(False)
        lay.addLayout(row)

        self.view = view = table_view(history_model, "history")
        view.setDragEnabled(True)
        view.setAcceptDrops(True)
        view.setDropIndicatorShown(True)
        view.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        view.setDragDropOverwriteMode(False)
        view.setDefaultDropAction(Qt.DropAction.MoveAction)
        view.setToolTip("Drag a row to reorder; Delete removes it; a click selects the item in every panel.")
        _fit(view, {0: 30, 2: 92, 3: 74}, 1)
        self.remove_action = QAction("Remove from history", view)
        self.remove_action.setShortcut(QKeySequence(Qt.Key.Key_Delete))
        self.remove_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        view.addAction(self.remove_action)
        lay.addWidget(view, 1)

        row = QHBoxLayout()
        for key, text, tip in (
            ("up", "▲ Older", "Move the chosen item one step earlier in the history."),
            ("down", "▼ Newer", "Move the chosen item one step later in the history."),
            ("remove", "Remove", "Remove the chosen item (Delete)."),
            ("clear", "Clear", "Empty the history."),
        ):
            row.addWidget(self._button(key, text, tip))
        self.status = _status_label("history_status")
        row.addWidget(self.status, 1)
        lay.addLayout(row)

    def suggestion_highlighted(self) -> bool:
        """The suggestion list is open with a suggestion chosen (Enter is then the completer's)."""
        popup = self.completer.popup()
        return popup.isVisible() and popup.currentIndex().isValid()

    def _button(self, key: str, text: str, tip: str) -> QPushButton:
        button = self.buttons[key] = named(QPushButton(text), key)
        button.setToolTip(tip)
        return button


class GroupsBox(QGroupBox):
    """The history's interest groups: ``depth`` spin box, ``summary`` line, ``plot``, ``view``."""

    def __init__(self, groups_model: QAbstractItemModel, parent=None):
        super().__init__("Interest groups of the history", parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.setSpacing(4)
        row = QHBoxLayout()
        row.addWidget(QLabel("Group by the first"))
        self.depth = named(QSpinBox(), "depth")
        self.depth.setRange(1, 1)
        self.depth.setToolTip("Items whose SIDs start with the same codes form one interest group.")
        row.addWidget(self.depth)
        row.addWidget(QLabel("SID code(s) ·"))
        self.summary = _status_label("groups_summary")
        row.addWidget(self.summary, 1)
        lay.addLayout(row)
        self.plot = named(GroupsPlot(), "groups_plot")
        lay.addWidget(self.plot)
        self.view = table_view(groups_model, "groups")
        _fit(self.view, {0: 84, 1: 44, 2: 56}, 3)
        lay.addWidget(self.view, 1)


class OptionsRow(QWidget):
    """What the request says besides the history: ``instruction``, ``constrained``, ``exclude``,
    ``k``, ``beam``; :attr:`changed` lists the signals that should restart the debounce."""

    def __init__(self, parent=None):
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Instruction:"))
        self.instruction = named(QLineEdit(), "instruction")
        self.instruction.setPlaceholderText("e.g. a gentle cleanser for sensitive skin")
        self.instruction.setClearButtonEnabled(True)
        self.instruction.setEnabled(False)
        row.addWidget(self.instruction, 1)
        self.constrained = named(QCheckBox("Constrained"), "constrained")
        self.constrained.setChecked(True)
        self.constrained.setToolTip("On: the prefix trie masks every token that would leave the catalogue, so every "
                                    "SID is an item. Off: free decoding; SIDs that name no item are greyed and counted.")
        self.exclude = named(QCheckBox("Hide history items"), "exclude")
        self.exclude.setToolTip("Never recommend an item that is already in the history.")
        self.k = self._spin("k", (1, 50), 10, "How many items each list shows.")
        self.beam = self._spin("beam", (1, 100), 20,
                               "Beams kept per SID level by the TIGER-style and RAN generators (at least k).")
        for control in (self.constrained, self.exclude, self.k, self.beam):
            row.addWidget(_expert(control))
        self.changed = (self.instruction.textChanged, self.constrained.toggled, self.exclude.toggled,
                        self.k.valueChanged, self.beam.valueChanged)

    @staticmethod
    def _spin(name: str, bounds: tuple[int, int], value: int, tip: str) -> QSpinBox:
        spin = named(QSpinBox(), name)
        spin.setRange(*bounds)
        spin.setValue(value)
        spin.setPrefix(f"{name} = ")
        spin.setToolTip(tip)
        return spin


class ResultColumn(QWidget):
    """One generator's list: a heading, a ``status`` line and the table (``view``)."""

    def __init__(self, kind: str, model: QAbstractItemModel, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(3)
        title = heading(GENERATOR_LABELS[kind], 1.1)
        title.setToolTip(KIND_NOTES[kind])
        self.status = _status_label(f"status_{kind}")
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.RichText)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.view = table_view(model, f"results_{kind}")
        self.view.setToolTip(f"{KIND_NOTES[kind]} Click a row to select the item in every panel.")
        _fit(self.view, {0: 28, 2: 104, 3: 58, 4: 46}, 1)
        self.view.setProperty("expert_columns", [2, 3, 4])  # presenter mode: the titles, large (tints mark sharing)
        lay.addWidget(title)
        lay.addWidget(self.status)
        lay.addWidget(self.view, 1)
