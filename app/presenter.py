"""Presenter mode: larger type for a projector, expert controls out of the way.

:class:`PresenterMode` over a root widget (the main window), when switched on:

- scales the application font by ``scale`` (default x1.6), and every font a widget set for
  itself with an explicit size (headings) by the same factor;
- scales the text of pyqtgraph plots under the root: axis tick fonts and axis labels, plot titles
  and legend labels (``LabelItem``), and any other text item in their scenes;
- hides every widget whose ``expert`` property is True (``widget.setProperty("expert", True)``),
  with its label when it sits in a form layout, and the tab of a tab-widget page so marked; one
  that its panel shows again while presenter mode is on is hidden again;
- widens fixed-width table columns by ``scale`` and hides the table columns a view marks
  expert-only (``view.setProperty("expert_columns", [3, 4])``).

Switching it off restores exactly what was there before: the same font objects, and only the
widgets it hid come back (one already hidden for another reason stays hidden). Widgets and plots
created while it is on follow the application font; :meth:`PresenterMode.refresh` (the window
calls it when the tab changes) also hides expert widgets and scales plot text added since.
Closing the root switches it off (the application font is global state).
Limits: font sizes in style sheets and rich text (``font-size`` in HTML) are left as they are.
"""
from __future__ import annotations

import re

import pyqtgraph as pg
import shiboken6
from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QApplication,
    QFormLayout,
    QGraphicsSimpleTextItem,
    QGraphicsTextItem,
    QHeaderView,
    QLayout,
    QStackedWidget,
    QTableView,
    QTabWidget,
    QWidget,
)

__all__ = ["PresenterMode", "DEFAULT_SCALE", "scaled_font", "is_expert"]

#: Font scale in presenter mode: 9-10 pt body text becomes 15-16 pt, readable from the back of a room.
DEFAULT_SCALE = 1.6
_SIZE_RESOLVED = 0x0002  # QFont::SizeResolved in the resolve mask (PySide6 does not expose the enum)
_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(pt|px)\s*$")


def scaled_font(font: QFont, scale: float) -> QFont:
    """A copy of ``font`` ``scale`` times as large (point size, or pixel size for pixel fonts)."""
    out = QFont(font)
    if font.pointSizeF() > 0:
        out.setPointSizeF(font.pointSizeF() * scale)
    elif font.pixelSize() > 0:
        out.setPixelSize(max(1, round(font.pixelSize() * scale)))
    return out


def is_expert(widget: QWidget) -> bool:
    """Whether ``widget`` is marked expert-only (``setProperty("expert", True)``)."""
    return widget.property("expert") is True


def _scaled_css_size(size: str, scale: float) -> str:
    """``"9pt"`` -> ``"14.4pt"`` (pt or px); anything else unchanged."""
    m = _SIZE.match(str(size))
    if m is None:
        return size
    value = float(m.group(1)) * scale
    return f"{value:.1f}{m.group(2)}" if m.group(2) == "pt" else f"{round(value)}px"


class PresenterMode(QObject):
    """Presenter mode over ``root`` (see the module docstring). Off until :meth:`set_enabled`."""

    sig_toggled = Signal(bool)
    """``(enabled)``: presenter mode was switched on or off."""

    def __init__(self, root: QWidget, *, scale: float = DEFAULT_SCALE):
        super().__init__(root)
        if scale <= 0:
            raise ValueError(f"scale must be > 0, got {scale}")
        self.root = root
        self.scale = float(scale)
        self._enabled = False
        self._app_font: QFont | None = None
        self._widget_fonts: list[tuple[QWidget, QFont]] = []
        self._hidden: list[QWidget] = []  # expert widgets (and their form labels) this mode hid
        self._hidden_tabs: list[tuple[QTabWidget, QWidget]] = []
        self._text_items: list[tuple[object, QFont]] = []  # graphics text items and their fonts
        self._labels: list[tuple[pg.LabelItem, dict]] = []  # pyqtgraph LabelItems and their opts
        # axes: tick font, label style, fixed width and height (px; None: automatic), and the
        # largest tick text size pyqtgraph has seen (it only grows it, so it must be put back)
        self._axes: list[tuple[pg.AxisItem, QFont | None, dict, int | None, int | None, tuple[int, int]]] = []
        self._seen_items: set[int] = set()  # ids of graphics items already scaled
        # table columns: (header, section, width before) of fixed-width columns this mode widened,
        # and (view, column) of expert columns it hid
        self._sections: list[tuple[QHeaderView, int, int]] = []
        self._hidden_columns: list[tuple[QTableView, int]] = []
        self._minimums: list[tuple[QHeaderView, int]] = []  # each header's minimum section size before
        root.installEventFilter(self)  # closing the root puts the application font back

    # ---- public ----
    @property
    def enabled(self) -> bool:
        return self._enabled

    def set_enabled(self, on: bool) -> None:
        """Switch presenter mode on or off (a no-op when already in that state)."""
        on = bool(on)
        if on == self._enabled:
            return
        if on:
            self._enabled = True
            self._scale_columns()  # first: the larger font already raises narrow columns to its minimum
            self._scale_fonts()
            self.refresh()
        else:
            self._restore()
            self._restore_columns()
            self._enabled = False
        self.sig_toggled.emit(on)

    def toggle(self) -> None:
        self.set_enabled(not self._enabled)

    def refresh(self) -> None:
        """While on: hide expert widgets and scale plot text added since it was switched on."""
        if not self._enabled:
            return
        self._hide_experts()
        self._scale_plots()

    def hidden_widgets(self) -> list[QWidget]:
        """The widgets this mode hid (and will show again when switched off)."""
        return [w for w in self._hidden if shiboken6.isValid(w)]

    # ---- Qt events ----
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if watched is self.root:
            if event.type() == QEvent.Type.Close and self._enabled:
                self.set_enabled(False)  # the application font is global: do not leave it scaled
            return False
        # an expert widget its panel shows again while presenter mode is on: hide it after that
        if self._enabled and event.type() == QEvent.Type.Show and watched in self._hidden:
            QTimer.singleShot(0, lambda w=watched: self._rehide(w))
        return False

    # ---- private: fonts ----
    def _widgets(self) -> list[QWidget]:
        return [self.root, *self.root.findChildren(QWidget)]

    def _scale_fonts(self) -> None:
        app = QApplication.instance()
        # read every original first: scaling one widget changes what its children report
        explicit = []
        for w in self._widgets():
            if w.testAttribute(Qt.WidgetAttribute.WA_SetFont):
                font = QFont(w.font())
                if font.resolveMask() & _SIZE_RESOLVED:
                    explicit.append((w, font))
        self._app_font = QFont(app.font())
        self._widget_fonts = explicit
        app.setFont(scaled_font(self._app_font, self.scale))
        for w, font in explicit:
            w.setFont(scaled_font(font, self.scale))
        _deliver_font_change(self.root)

    def _scale_plots(self) -> None:
        views = self.root.findChildren(pg.GraphicsView)
        items = [it for v in views for it in v.scene().items() if id(it) not in self._seen_items]
        # text items first: label and axis layouts below measure them
        scaled_app = QApplication.font().pointSizeF()
        for it in items:
            if isinstance(it, (QGraphicsTextItem, QGraphicsSimpleTextItem)):
                font = QFont(it.font())
                if font.pointSizeF() == scaled_app and self._app_font is not None:
                    # made while presenter mode was on, from the scaled application font: it is
                    # large already; switching off gives it the normal size
                    font.setPointSizeF(self._app_font.pointSizeF())
                    self._text_items.append((it, font))
                    continue
                self._text_items.append((it, font))
                it.setFont(scaled_font(font, self.scale))
        for it in items:
            if isinstance(it, pg.LabelItem):
                self._labels.append((it, dict(it.opts)))
                if "size" in it.opts:
                    it.opts["size"] = _scaled_css_size(it.opts["size"], self.scale)
                it.setText(it.text)
            elif isinstance(it, pg.AxisItem):
                tick = it.style.get("tickFont")
                self._axes.append((it, QFont(tick) if tick is not None else None, dict(it.labelStyle),
                                   it.fixedWidth, it.fixedHeight, (it.textWidth, it.textHeight)))
                # a panel's fixed axis size would clip the larger text
                if it.fixedWidth is not None and it.orientation in ("left", "right"):
                    it.setWidth(round(it.fixedWidth * self.scale))
                if it.fixedHeight is not None and it.orientation in ("top", "bottom"):
                    it.setHeight(round(it.fixedHeight * self.scale))
                base = tick if tick is not None else (self._app_font or QApplication.font())
                it.setTickFont(scaled_font(base, self.scale))
                if "font-size" in it.labelStyle:
                    it.labelStyle["font-size"] = _scaled_css_size(it.labelStyle["font-size"], self.scale)
                it._updateLabel()  # noqa: SLF001 - pyqtgraph's only way to re-lay out the label
        _reanchor(items)
        self._seen_items.update(id(it) for it in items)

    def _restore(self) -> None:
        app = QApplication.instance()
        if self._app_font is not None:
            app.setFont(self._app_font)
        for w, font in self._widget_fonts:
            if shiboken6.isValid(w):
                w.setFont(font)
        _deliver_font_change(self.root)
        for it, font in self._text_items:
            if shiboken6.isValid(it):
                it.setFont(font)
        for label, opts in self._labels:
            if shiboken6.isValid(label):
                label.opts = dict(opts)
                label.setText(label.text)  # the current text, in the original style
        for axis, tick, style, width, height, text_size in self._axes:
            if shiboken6.isValid(axis):
                # the scaled ticks grew pyqtgraph's remembered text size: without this the axes
                # keep their presenter-mode width and squash the plots until a restart
                axis.textWidth, axis.textHeight = text_size
                # only the dimension that holds the tick text: pyqtgraph's setWidth(None) on a
                # bottom axis pins it to the tick-text width (a 50 px axis under a wide plot)
                if axis.orientation in ("left", "right"):
                    axis.setWidth(width)
                else:
                    axis.setHeight(height)
                axis.setTickFont(tick)
                axis.labelStyle = dict(style)
                axis._updateLabel()  # noqa: SLF001
        _reanchor([it for it, _ in self._text_items if shiboken6.isValid(it)])
        self._app_font, self._widget_fonts = None, []
        self._text_items, self._labels, self._axes = [], [], []
        self._seen_items.clear()
        self._show_experts()

    # ---- private: table columns ----
    def _scale_columns(self) -> None:
        """Widen fixed- and user-sized columns by the font scale (a 58 px score column showed
        "-4...." at presenter size) and hide the columns a view marks expert-only
        (``setProperty("expert_columns", [3, 4])``), so titles keep their room."""
        self._sections, self._hidden_columns, self._minimums = [], [], []
        for view in self.root.findChildren(QTableView):
            n_columns = view.model().columnCount() if view.model() is not None else 0
            for col in (int(c) for c in (view.property("expert_columns") or [])):
                if 0 <= col < n_columns and not view.isColumnHidden(col):
                    view.setColumnHidden(col, True)
                    self._hidden_columns.append((view, col))
            header = view.horizontalHeader()
            self._minimums.append((header, header.minimumSectionSize()))  # the larger font raises it
            for i in range(header.count()):
                mode = header.sectionResizeMode(i)
                if header.isSectionHidden(i) or mode not in (QHeaderView.ResizeMode.Fixed,
                                                             QHeaderView.ResizeMode.Interactive):
                    continue
                if i == header.count() - 1 and header.stretchLastSection():
                    continue
                width = header.sectionSize(i)
                self._sections.append((header, i, width))
                header.resizeSection(i, round(width * self.scale))

    def _restore_columns(self) -> None:
        for header, minimum in self._minimums:
            if shiboken6.isValid(header):
                header.setMinimumSectionSize(minimum)
        for header, i, width in self._sections:
            if shiboken6.isValid(header) and i < header.count():
                header.resizeSection(i, width)
        for view, col in self._hidden_columns:
            if shiboken6.isValid(view):
                view.setColumnHidden(col, False)
        self._sections, self._hidden_columns, self._minimums = [], [], []

    # ---- private: expert widgets ----
    def _hide_experts(self) -> None:
        for w in self._widgets():
            if not is_expert(w) or w in self._hidden:
                continue
            tab = _tab_of(w)
            if tab is not None:
                i = tab.indexOf(w)
                if tab.isTabVisible(i):
                    tab.setTabVisible(i, False)
                    self._hidden_tabs.append((tab, w))
                continue
            if w.isHidden():  # hidden for another reason: not ours to show later
                continue
            for x in (w, _form_label(w)):
                if x is not None and not x.isHidden():
                    x.hide()
                    self._hidden.append(x)
                    x.installEventFilter(self)

    def _rehide(self, w: QWidget) -> None:
        if self._enabled and shiboken6.isValid(w) and w in self._hidden and not w.isHidden():
            w.hide()

    def _show_experts(self) -> None:
        for w in self._hidden:
            if shiboken6.isValid(w):
                w.removeEventFilter(self)
                w.show()
        for tab, page in self._hidden_tabs:
            if shiboken6.isValid(tab) and shiboken6.isValid(page) and tab.indexOf(page) >= 0:
                tab.setTabVisible(tab.indexOf(page), True)
        self._hidden, self._hidden_tabs = [], []


def _deliver_font_change(root: QWidget) -> None:
    """Make every widget under ``root`` take its new font now. Qt posts the application-font
    change, and a widget inside an explicitly hidden parent (a table its panel hides while empty)
    can miss the change altogether and keep the old size for good; re-resolving parents before
    children (``findChildren`` lists depth first) fixes both."""
    QCoreApplication.sendPostedEvents(None, QEvent.Type.ApplicationFontChange)
    for w in (root, *root.findChildren(QWidget)):
        QCoreApplication.sendEvent(w, QEvent(QEvent.Type.ApplicationFontChange))


def _reanchor(items) -> None:
    """pyqtgraph TextItems place their text by its size: place them again after a font change."""
    for it in items:
        parent = it.parentItem() if isinstance(it, QGraphicsTextItem) else None
        if isinstance(parent, pg.TextItem):
            parent.updateTextPos()


def _tab_of(w: QWidget) -> QTabWidget | None:
    """The tab widget whose page ``w`` is, if any: a page's parent is the tab widget's stack, or
    (:class:`~app.widgets.tabs.PanelTabs`) a scroll area's viewport inside it."""
    up = w.parentWidget()
    for _ in range(3):  # the stack, or viewport -> scroll area -> stack
        if up is None or isinstance(up, QStackedWidget):
            break
        up = up.parentWidget()
    tab = up.parentWidget() if isinstance(up, QStackedWidget) else None
    return tab if isinstance(tab, QTabWidget) and tab.indexOf(w) >= 0 else None


def _form_label(w: QWidget) -> QWidget | None:
    """The label of ``w``'s row when ``w`` is a field of a QFormLayout (nested layouts searched)."""
    parent = w.parentWidget()
    layout = parent.layout() if parent is not None else None
    stack: list[QLayout] = [layout] if layout is not None else []
    while stack:
        lay = stack.pop()
        if isinstance(lay, QFormLayout):
            label = lay.labelForField(w)
            if label is not None:
                return label
        for i in range(lay.count()):
            child = lay.itemAt(i).layout()
            if child is not None:
                stack.append(child)
    return None
