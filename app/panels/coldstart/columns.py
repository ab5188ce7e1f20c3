"""The cold-start lab's three columns, built once: widgets only, no logic.

:class:`ItemColumn` (1 · the new item: typed fields, held-out list, status, session edits),
:class:`SidColumn` (2 · its SID, neighbours and the top-k lists) and :class:`UserColumn`
(3 · the user, generator, hybrid weight, rank text and level charts). The panel
(:mod:`.view`) connects their signals and fills them from the state. Widgets tests read carry
object names (``coldstart_*``).
"""
from __future__ import annotations

import functools

from PySide6.QtCore import QSortFilterProxyModel, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSlider,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ...widgets import GENERATOR_LABELS, heading
from ...widgets.views import table_view
from .plots import LevelCharts
from .results import DEAD_COLOUR, DEFAULT_WEIGHT, GENERATIVE_KINDS, ITEM_COLOUR, LIVE_COLOUR, SHOWN_CODES

__all__ = ["ItemColumn", "SidColumn", "UserColumn", "wrapped"]

_NOTE = "<span style='color:#505050'>{}</span>"
_TEXT_NOTE = ("The text is embedded as the catalogue's items were (MiniLM over “Title. Brand: … Category: …”, rounded "
              "to float16) and quantized with the project's frozen tokenizer; the last code is the smallest collision "
              "code no live item holds under its first codes.")
_CHART_NOTE = (f"Per level: the generator's probability of each code given the item's prefix (the {SHOWN_CODES} most "
               f"likely codes; <span style='color:{ITEM_COLOUR}'>■</span> the item's code, "
               f"<span style='color:{LIVE_COLOUR}'>■</span> codes leading to live items, "
               f"<span style='color:{DEAD_COLOUR}'>■</span> codes the trie cannot reach; ✗ the item's code is not in "
               "the trie under its prefix yet).")


# the lab's tables: column 0 takes the spare width, numbered rows, alternating colours
_table = functools.partial(table_view, stretch=0, row_numbers=True, row_height=22, alternating=True)


def wrapped(text: str = "", rich: bool = True, name: str = "") -> QLabel:
    """A word-wrapped label that never widens its column; ``name``: its object name."""
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText if rich else Qt.TextFormat.PlainText)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # long text never widens
    if name:
        label.setObjectName(name)
    return label


def _button(text: str, tooltip: str, *, expert: bool = False) -> QPushButton:
    button = QPushButton(text)
    button.setToolTip(tooltip)
    if expert:
        button.setProperty("expert", True)
    return button


class _Column(QWidget):
    """A titled group box filling the widget; subclasses add to ``self.lay`` (the box's layout)."""

    def __init__(self, title: str, parent: QWidget | None = None):
        super().__init__(parent)
        box = QGroupBox(title)
        self.lay = QVBoxLayout(box)
        self.lay.setContentsMargins(6, 6, 6, 6)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(box)


class ItemColumn(_Column):
    """1 · The new item: a tab to type one, a tab of held-out items (or a note when there are
    none), the busy bar and status line, Inject / Retire / Reset, and the session's edits."""

    def __init__(self, cold_model, session_model, parent: QWidget | None = None):
        super().__init__("1 · The new item", parent)
        lay = self.lay
        self.tabs = QTabWidget()
        typed = QWidget()
        form = QFormLayout(typed)
        form.setContentsMargins(4, 6, 4, 4)
        self.title_edit, self.brand_edit, self.categories_edit = QLineEdit(), QLineEdit(), QLineEdit()
        self.title_edit.setPlaceholderText("e.g. Hydrating rose water facial toner")
        self.brand_edit.setPlaceholderText("optional")
        self.categories_edit.setPlaceholderText("optional, levels joined by ' > '")
        form.addRow("Title", self.title_edit)
        form.addRow("Brand", self.brand_edit)
        form.addRow("Categories", self.categories_edit)
        self.encode_button = _button("Encode", "Embed the text with MiniLM (as the catalogue's items were) and "
                                               "tokenize it with the project's frozen tokenizer.")
        form.addRow("", self.encode_button)
        form.addRow(wrapped(_NOTE.format(_TEXT_NOTE)))
        self.tabs.addTab(typed, "Type a new item")

        cold = QWidget()
        cl = QVBoxLayout(cold)
        cl.setContentsMargins(4, 6, 4, 4)
        self.cold_stack = QStackedWidget()
        listing = QWidget()
        ll = QVBoxLayout(listing)
        ll.setContentsMargins(0, 0, 0, 0)
        self.cold_proxy = QSortFilterProxyModel(self)
        self.cold_proxy.setSourceModel(cold_model)
        self.cold_proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.cold_proxy.setFilterKeyColumn(-1)
        self.cold_proxy.setSortRole(Qt.ItemDataRole.UserRole + 1)
        self.cold_filter = QLineEdit()
        self.cold_filter.setPlaceholderText("Filter by title, brand or SID")
        self.cold_filter.setClearButtonEnabled(True)
        self.cold_filter.textChanged.connect(self.cold_proxy.setFilterFixedString)
        self.cold_view = _table(self.cold_proxy, widths={2: 84, 3: 58, 4: 64})
        self.cold_view.hideColumn(1)  # brands are often anonymised; the filter still matches them
        self.cold_view.setSortingEnabled(True)
        self.cold_view.sortByColumn(3, Qt.SortOrder.DescendingOrder)
        self.cold_view.verticalHeader().setVisible(False)
        ll.addWidget(self.cold_filter)
        ll.addWidget(self.cold_view, 1)
        self.no_cold_label = wrapped(name="coldstart_cold_notice")
        self.no_cold_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.no_cold_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.cold_stack.addWidget(listing)
        self.cold_stack.addWidget(self.no_cold_label)
        cl.addWidget(self.cold_stack)
        self.tabs.addTab(cold, "Held-out cold items")
        lay.addWidget(self.tabs, 3)

        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setTextVisible(False)
        self.busy.setMaximumHeight(8)
        self.busy.setVisible(False)
        self.status = wrapped(name="coldstart_status")
        lay.addWidget(self.busy)
        lay.addWidget(self.status)

        buttons = QHBoxLayout()
        self.inject_button = _button("Inject", "Insert the item into this session's trie, so the generator can "
                                               "return it.")
        self.retire_button = _button("Retire", "Remove the item from this session's trie: decoding never returns it.")
        self.reset_button = _button("Reset session", "Undo every injection and retirement (the project itself is "
                                                     "never changed).")
        for b in (self.inject_button, self.retire_button, self.reset_button):
            buttons.addWidget(b)
        lay.addLayout(buttons)
        self.session_label = wrapped(name="coldstart_session")
        lay.addWidget(self.session_label)
        self.session_view = _table(session_model, widths={2: 84})
        self.session_view.verticalHeader().setVisible(False)
        lay.addWidget(self.session_view, 2)
        self.undo_button = _button("Retire / restore selected", "Retire the selected injected item, or put the "
                                                                "selected retired item back.")
        lay.addWidget(self.undo_button)

    def show_cold_items(self, n: int, notice: str) -> None:
        """The held-out tab: the list of ``n`` items (most often next first), or ``notice`` when none."""
        if n:
            self.cold_view.sortByColumn(3, Qt.SortOrder.DescendingOrder)
        else:
            self.no_cold_label.setText(notice)
        self.cold_stack.setCurrentIndex(0 if n else 1)
        self.tabs.setTabText(1, f"Held-out cold items ({n:,})" if n else "Held-out cold items")

    def typed_text(self) -> tuple[str, str, str]:
        """Title, brand and categories as typed, stripped."""
        title, brand, categories = (w.text().strip() for w in (self.title_edit, self.brand_edit, self.categories_edit))
        return title, brand, categories

    def set_typed_text(self, title: str, brand: str, categories: str) -> None:
        for w, text in zip((self.title_edit, self.brand_edit, self.categories_edit), (title, brand, categories)):
            w.setText(text)


class SidColumn(_Column):
    """2 · The item's title, SID and state, its live neighbours, and the two top-k lists."""

    def __init__(self, neighbour_model, top_model, parent: QWidget | None = None):
        super().__init__("2 · Its semantic ID and neighbours", parent)
        lay = self.lay
        self.item_title = heading("", 1.05)
        self.item_title.setObjectName("coldstart_item_title")
        self.item_title.setWordWrap(True)
        self.item_title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.sid_label = heading("", 1.5)
        self.sid_label.setObjectName("coldstart_sid")
        self.sid_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.sid_label.setToolTip("The item's semantic ID: one code per tokenizer level, then the collision code.")
        self.state_label = wrapped()
        self.neighbour_caption = wrapped(name="coldstart_neighbour_caption")
        self.neighbour_view = _table(neighbour_model, widths={2: 96, 3: 90})
        self.neighbour_view.hideColumn(1)  # the brand: kept in the model (exports), left out for width
        self.neighbour_view.verticalHeader().setVisible(False)
        self.retire_neighbour_button = _button(
            "Retire selected neighbour", "Take the selected item out of this session's trie: the generator will never "
                                         "return it (undo with Retire / restore selected).", expert=True)
        for w in (self.item_title, self.sid_label, self.state_label, self.neighbour_caption):
            lay.addWidget(w)
        lay.addWidget(self.neighbour_view, 2)
        lay.addWidget(self.retire_neighbour_button)
        self.top_caption = wrapped()
        self.top_view = _table(top_model)
        self.top_view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        lay.addWidget(self.top_caption)
        lay.addWidget(self.top_view, 3)


class UserColumn(_Column):
    """3 · Would this user get it: the user and generator pickers, the hybrid weight (expert), the
    history and rank text, and the per-level charts."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("3 · Would this user get it?", parent)
        lay = self.lay
        row = QHBoxLayout()
        row.addWidget(QLabel("User:"))
        self.user_combo = QComboBox()
        self.user_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.user_combo.setMinimumContentsLength(12)
        self.user_combo.setToolTip("Test users: first those whose next item this is, then those whose recent items "
                                   "are closest to it in content; or a history made of the shared selection.")
        row.addWidget(self.user_combo, 1)
        self.user_edit = QLineEdit()
        self.user_edit.setPlaceholderText("user id")
        self.user_edit.setMaximumWidth(90)
        self.user_edit.setToolTip("Any test user's id, then Enter.")
        row.addWidget(self.user_edit)
        lay.addLayout(row)
        row2 = QHBoxLayout()
        row2.addWidget(QLabel("Generator:"))
        self.generator_combo = QComboBox()
        for kind in GENERATIVE_KINDS:
            self.generator_combo.addItem(GENERATOR_LABELS[kind], kind)
        self.generator_combo.setToolTip("The generative model whose path probabilities and ranks are shown.")
        row2.addWidget(self.generator_combo)
        row2.addStretch(1)
        self.weight_label = QLabel("")
        self.weight_label.setProperty("expert", True)
        self.weight_slider = QSlider(Qt.Orientation.Horizontal)
        self.weight_slider.setObjectName("coldstart_weight")
        self.weight_slider.setProperty("expert", True)
        self.weight_slider.setRange(0, 100)
        self.weight_slider.setSingleStep(5)
        self.weight_slider.setPageStep(10)
        self.weight_slider.setValue(int(round(100 * DEFAULT_WEIGHT)))
        self.weight_slider.setMaximumWidth(120)
        self.weight_slider.setMinimumWidth(60)
        self.weight_slider.setToolTip("Hybrid mixing weight: 0 keeps the generative scores, 1 uses only the dense "
                                      f"(SASRec + content) score. The engine's default is {DEFAULT_WEIGHT:.2f}.")
        row2.addWidget(self.weight_label)
        row2.addWidget(self.weight_slider)
        lay.addLayout(row2)
        self.history_label = wrapped()
        lay.addWidget(self.history_label)
        self.rank_label = wrapped(name="coldstart_rank")
        self.rank_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.rank_label)
        lay.addWidget(wrapped(_NOTE.format(_CHART_NOTE)))
        self.charts = LevelCharts()
        self.charts.setObjectName("coldstart_charts")
        lay.addWidget(self.charts, 1)

    def set_generators(self, available, errors: dict, current: str) -> None:
        """Enable the generator kinds in ``available`` (others say why not) and show ``current``,
        without emitting a change."""
        combo = self.generator_combo
        for kind in GENERATIVE_KINDS:
            item = combo.model().item(combo.findData(kind))
            item.setEnabled(kind in available)
            item.setToolTip(errors.get(kind, ""))
        combo.blockSignals(True)
        combo.setCurrentIndex(combo.findData(current))
        combo.blockSignals(False)
