"""Presenter mode (app/presenter.py): larger fonts everywhere (pyqtgraph text included), expert
widgets hidden, and switching it off restores both exactly; the window's View menu persists it."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QSettings
from PySide6.QtGui import QFont, QKeySequence, QStandardItemModel
from PySide6.QtWidgets import (
    QApplication,
    QFormLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.exporting import ExportInstaller
from app.widgets import heading
from app.presenter import PresenterMode, scaled_font

SCALE = 1.6


class Demo(QWidget):
    """A panel-like widget: plain and heading labels, a form with an expert field, an expert
    button already hidden by its panel, a tab page marked expert, and two kinds of pyqtgraph plot."""

    def __init__(self):
        super().__init__()
        lay = QVBoxLayout(self)
        self.plain = QLabel("History")
        self.title = heading("Playground", 1.4)  # an explicit point size
        form_host = QWidget()
        form = QFormLayout(form_host)
        self.beam = QSpinBox()
        self.beam.setProperty("expert", True)
        form.addRow("Beam width:", self.beam)
        self.beam_label = form.labelForField(self.beam)
        self.core = QSpinBox()
        form.addRow("Results:", self.core)
        self.debug = QPushButton("Debug trace")
        self.debug.setProperty("expert", True)
        self.debug.hide()  # hidden by its panel for another reason: must stay hidden afterwards
        self.tabs = QTabWidget()
        self.tabs.addTab(QLabel("results"), "Results")
        self.internals = QLabel("internals")
        self.internals.setProperty("expert", True)
        self.tabs.addTab(self.internals, "Internals")
        self.plot = pg.PlotWidget(background="w")
        self.plot.plot(np.arange(5.0), np.arange(5.0))
        self.plot.setLabel("bottom", "epoch")
        self.plot.setLabel("left", "loss", **{"font-size": "8pt"})  # CSS; pyqtgraph ignores size= here
        self.plot.setTitle("Training loss", size="10pt")
        self.layout_plot = pg.GraphicsLayoutWidget()
        self.level_title = self.layout_plot.addLabel("Level 1", row=0, col=0, size="9pt")
        self.layout_plot.addPlot(row=1, col=0).getAxis("left").setWidth(60)  # fixed, like LevelPlot
        self.empty_table = QTableView()  # hidden by its panel while it has no rows
        self.empty_table.setModel(QStandardItemModel(2, 2))
        self.empty_table.hide()
        for w in (self.plain, self.title, form_host, self.debug, self.tabs, self.plot, self.layout_plot,
                  self.empty_table):
            lay.addWidget(w)


@pytest.fixture
def demo(qtbot):
    w = Demo()
    qtbot.addWidget(w)
    w.resize(900, 900)
    w.show()
    qtbot.waitExposed(w)
    presenter = PresenterMode(w, scale=SCALE)
    yield w, presenter
    presenter.set_enabled(False)  # the application font is global: never leak a scaled one


def _fonts(w: Demo) -> dict[str, QFont]:
    return {name: QFont(x.font()) for name, x in
            (("plain", w.plain), ("title", w.title), ("core", w.core), ("app", QApplication.instance()),
             ("header", w.empty_table.horizontalHeader()))}


def _plot_text(w: Demo) -> dict[str, object]:
    bottom, left = w.plot.getAxis("bottom"), w.plot.getAxis("left")
    return {
        "tick": bottom.style["tickFont"],
        "left_style": dict(left.labelStyle),
        "bottom_label": QFont(bottom.label.font()),
        "title_opts": dict(w.plot.getPlotItem().titleLabel.opts),
        "level_opts": dict(w.level_title.opts),
        "level_html": w.level_title.item.toHtml(),
        "fixed_width": w.layout_plot.ci.getItem(1, 0).getAxis("left").fixedWidth,
    }


def _visibility(w: Demo) -> dict[str, bool]:
    return {"beam": w.beam.isHidden(), "label": w.beam_label.isHidden(), "core": w.core.isHidden(),
            "debug": w.debug.isHidden(), "tab": w.tabs.isTabVisible(1)}


def test_presenter_mode_scales_fonts_hides_experts_and_restores_exactly(qtbot, demo):
    w, presenter = demo
    fonts, text, shown = _fonts(w), _plot_text(w), _visibility(w)
    assert shown == {"beam": False, "label": False, "core": False, "debug": True, "tab": True}

    with qtbot.waitSignal(presenter.sig_toggled) as sig:
        presenter.set_enabled(True)
    assert sig.args == [True]

    scaled = {"app": QApplication.instance().font(), "header": w.empty_table.horizontalHeader().font()}
    for name in ("plain", "title", "core", "app", "header"):  # widgets following the app font, explicit ones
        font = scaled.get(name) or getattr(w, name).font()
        assert font.pointSizeF() == pytest.approx(fonts[name].pointSizeF() * SCALE, rel=0.02), name
    assert w.title.font().bold()  # only the size changed
    tick = w.plot.getAxis("bottom").style["tickFont"]
    assert tick is not None and tick.pointSizeF() == pytest.approx(fonts["app"].pointSizeF() * SCALE, rel=0.02)
    assert w.plot.getAxis("left").labelStyle["font-size"] == "12.8pt"  # 8pt x 1.6
    assert w.plot.getPlotItem().titleLabel.opts["size"] == "16.0pt"
    assert w.level_title.opts["size"] == "14.4pt" and "14.4pt" in w.level_title.item.toHtml()
    assert w.plot.getAxis("bottom").label.font().pointSizeF() == pytest.approx(
        text["bottom_label"].pointSizeF() * SCALE, rel=0.02)
    assert w.layout_plot.ci.getItem(1, 0).getAxis("left").fixedWidth == 96  # room for the larger ticks
    assert _visibility(w) == {"beam": True, "label": True, "core": False, "debug": True, "tab": False}

    presenter.set_enabled(False)
    assert _fonts(w) == fonts
    assert _plot_text(w) == text
    assert _visibility(w) == shown  # the button hidden by its panel stays hidden

    presenter.toggle()  # and again: the same result twice
    presenter.toggle()
    assert _fonts(w) == fonts and _plot_text(w) == text and _visibility(w) == shown


def test_an_expert_widget_shown_again_by_its_panel_is_hidden_again(qtbot, demo):
    w, presenter = demo
    presenter.set_enabled(True)
    w.beam.show()  # e.g. the panel switches a mode on
    qtbot.waitUntil(lambda: w.beam.isHidden())
    presenter.set_enabled(False)
    assert not w.beam.isHidden()


def test_refresh_covers_expert_widgets_created_while_on(qtbot, demo):
    w, presenter = demo
    presenter.set_enabled(True)
    late = QSpinBox()
    late.setProperty("expert", True)
    w.layout().addWidget(late)
    qtbot.waitUntil(late.isVisible)
    presenter.refresh()  # the window calls it on tab changes and project loads
    assert late.isHidden()
    presenter.set_enabled(False)
    assert not late.isHidden()


def test_plot_text_made_while_on_is_neither_scaled_twice_nor_left_large(qtbot, demo):
    w, presenter = demo
    base = QApplication.instance().font().pointSizeF()
    presenter.set_enabled(True)
    late = pg.TextItem("hover text")  # like the map's hover label, made after presenter mode was on
    w.plot.addItem(late)
    presenter.refresh()
    assert late.textItem.font().pointSizeF() == pytest.approx(base * SCALE, rel=0.02)
    presenter.set_enabled(False)
    assert late.textItem.font().pointSizeF() == pytest.approx(base)


def test_scaled_font_handles_point_and_pixel_fonts():
    f = QFont()
    f.setPointSizeF(10)
    assert scaled_font(f, 1.5).pointSizeF() == pytest.approx(15)
    g = QFont()
    g.setPixelSize(10)
    assert scaled_font(g, 1.6).pixelSize() == 16


def test_the_window_view_menu_toggles_presenter_mode_and_a_launch_starts_without_it(qtbot, tmp_path):
    from app.window import MainWindow

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    base = QApplication.instance().font().pointSizeF()
    window = MainWindow(None, dialogs=False, settings=settings)
    qtbot.addWidget(window)
    window.show()
    action = window.action_presenter
    assert action.isCheckable() and action.shortcut() == QKeySequence("F11")
    assert "&View" in [a.text() for a in window.menuBar().actions()]
    assert not window.device_label.isHidden()

    action.trigger()
    assert window.presenter.enabled and window.device_label.isHidden()
    assert QApplication.instance().font().pointSizeF() == pytest.approx(base * SCALE, rel=0.02)
    window.close()  # closing puts the application font back
    assert QApplication.instance().font().pointSizeF() == pytest.approx(base)

    again = MainWindow(None, dialogs=False, settings=settings)  # the next start: the normal view
    qtbot.addWidget(again)
    try:
        assert not again.action_presenter.isChecked() and not again.presenter.enabled
        assert all(p.findChild(ExportInstaller, "gx_export_installer") is not None for p in again.panels.values())
        again.action_presenter.trigger()
        assert again.presenter.enabled
    finally:
        again.presenter.set_enabled(False)
        again.close()


def test_switching_off_gives_every_axis_its_own_size_back(qtbot, demo):
    """After presenter mode, no bottom axis may be pinned to the tick-text width (a 50 px axis
    under a wide plot) and no left axis keep its presenter-mode width."""
    w, mode = demo
    axes = [it for v in w.findChildren(pg.GraphicsView) for it in v.scene().items() if isinstance(it, pg.AxisItem)]
    assert axes

    def sizes():
        return [(a.orientation, a.minimumWidth(), a.maximumWidth(), a.minimumHeight(), a.maximumHeight(),
                 a.textWidth, a.textHeight) for a in axes]

    before = sizes()
    mode.set_enabled(True)
    assert sizes() != before
    mode.set_enabled(False)
    assert sizes() == before


def test_presenter_mode_never_grows_the_window_past_1280_px(qtbot, tmp_path):
    from PySide6.QtWidgets import QApplication as App

    from app.window import MainWindow

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(dialogs=False, settings=settings)  # the bundled project
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    qtbot.waitUntil(lambda: window.snapshot is not None, timeout=60_000)
    try:
        # the training run's progress and Cancel are in sight at 1280 x 800, not below the fold
        window.tabs.setCurrentWidget(window.training)
        App.processEvents()
        for w in (window.training.controls.progress, window.training.controls.cancel_button):
            bottom = w.mapTo(window, w.rect().bottomRight()).y()
            assert bottom < window.height() - window.statusBar().height(), bottom
            assert not w.visibleRegion().isEmpty()
        window.action_presenter.trigger()
        for panel in window.panels.values():  # every page, laid out in the larger type
            window.tabs.setCurrentWidget(panel)
            App.processEvents()
            assert window.tabs.currentWidget() is panel
            assert window.width() == 1280, type(panel).__name__
        window.action_presenter.trigger()
        App.processEvents()
        assert window.width() == 1280
    finally:
        window.presenter.set_enabled(False)
        window.close()  # cancels and drains the window's jobs
        qtbot.waitUntil(lambda: window.bridge.running() == 0, timeout=60_000)


def test_presenter_mode_widens_fixed_columns_hides_expert_columns_and_restores_them(qtbot):
    """At presenter size a 58 px score column showed "-4...." and titles ~10 characters: fixed
    columns grow with the font, and the columns a view marks expert make room for the titles."""
    from PySide6.QtWidgets import QHeaderView

    root = QWidget()
    qtbot.addWidget(root)
    view = QTableView(root)
    view.setModel(QStandardItemModel(3, 5))
    header = view.horizontalHeader()
    header.setStretchLastSection(False)
    for col, width in {0: 28, 2: 104, 3: 58, 4: 46}.items():
        header.resizeSection(col, width)
    header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
    view.setProperty("expert_columns", [3, 4])
    mode = PresenterMode(root, scale=SCALE)
    mode.set_enabled(True)
    assert view.isColumnHidden(3) and view.isColumnHidden(4) and not view.isColumnHidden(2)
    assert header.sectionSize(0) >= round(28 * SCALE) and header.sectionSize(2) >= round(104 * SCALE)
    mode.set_enabled(False)
    assert not view.isColumnHidden(3) and not view.isColumnHidden(4)
    assert [header.sectionSize(c) for c in (0, 2, 3, 4)] == [28, 104, 58, 46]
