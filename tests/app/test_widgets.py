"""The shared table model and text helpers."""
from __future__ import annotations

from PySide6.QtCore import QPersistentModelIndex, Qt

from app.widgets import Column, RowTableModel, percent, sid_text


class _Hits(RowTableModel):
    COLUMNS = (Column("Item", "The item's title."), Column("Score", "Its score.", right=True))
    SORTABLE = True

    def display(self, row, col):
        title, score = self.row(row)
        return (title, f"{score:.2f}")[col]

    def sort_key(self, row, col):
        return self.row(row)[col]


def test_row_table_model_is_a_valid_qt_model_and_sorts_by_its_key(qtmodeltester):
    model = _Hits()
    qtmodeltester.check(model)
    model.set_rows([("b", 10.0), ("a", 2.0), ("c", 3.5)])
    qtmodeltester.check(model)
    assert model.headerData(1, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole) == "Its score."
    assert model.data(model.index(0, 1), Qt.ItemDataRole.TextAlignmentRole) is not None
    assert model.data(model.index(0, 0), Qt.ItemDataRole.TextAlignmentRole) is None
    kept = QPersistentModelIndex(model.index(1, 0))  # row "a", e.g. a view's selection
    model.sort(1, Qt.SortOrder.DescendingOrder)  # numerically, not as text ("10.00" < "2.00")
    assert model.rows() == [("b", "10.00"), ("c", "3.50"), ("a", "2.00")]
    assert kept.row() == 2 and kept.data() == "a"  # the selection followed its row


def test_sid_text_and_percent():
    assert sid_text((12, 7, 201)) == "12-7-201" and sid_text((), "start") == "start"
    assert percent(0.5) == "50.0 %" and percent(0.0) == "0 %"
    assert percent(2e-5) == "2.0e-03 %" and percent(0.0004) == "4.0e-02 %"  # never a non-zero "0.0 %"


def _wheel(widget, up: bool = True):
    from PySide6.QtCore import QPoint, QPointF
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    pos = QPointF(widget.rect().center())
    event = QWheelEvent(pos, QPointF(widget.mapToGlobal(pos.toPoint())), QPoint(0, 0), QPoint(0, 120 if up else -120),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)
    return event


def test_the_wheel_scrolls_the_page_instead_of_an_unfocused_spin_box(qtbot):
    from PySide6.QtWidgets import QApplication, QScrollArea, QSpinBox, QVBoxLayout, QWidget

    from app.widgets.wheel import WheelGuard

    guard = WheelGuard()
    QApplication.instance().installEventFilter(guard)
    try:
        area = QScrollArea()
        page = QWidget()
        page.setMinimumHeight(3000)
        lay = QVBoxLayout(page)
        spin = QSpinBox()
        spin.setRange(0, 100)
        spin.setValue(50)
        other = QSpinBox()
        lay.addWidget(spin)
        lay.addWidget(other)
        area.setWidget(page)
        area.resize(300, 200)
        qtbot.addWidget(area)
        area.show()
        qtbot.waitExposed(area)
        other.setFocus()
        event = _wheel(spin, up=False)
        assert spin.value() == 50  # not focused: the value stays, and the event is left for the page
        assert not event.isAccepted()  # (a real, spontaneous wheel event then goes to the scroll area)
        spin.setFocus()
        qtbot.waitUntil(spin.hasFocus)
        _wheel(spin, up=True)
        assert spin.value() == 51  # focused: the wheel edits it as before
    finally:
        QApplication.instance().removeEventFilter(guard)


def test_crosshair_shows_every_curves_exact_value_at_the_nearest_x(qtbot):
    import pyqtgraph as pg

    from app.panels.training.plots import CurvePlots
    from app.widgets.crosshair import Crosshair

    w = pg.PlotWidget()
    qtbot.addWidget(w)
    w.addLegend()
    w.plot([1, 2, 3], [0.5, 0.25, 0.125], name="loss")
    w.plot([1, 3], [0.01, 0.0712], name="Recall@10")
    w.plot([1, 2, 3], [9, 9, 9])  # unnamed: not listed
    cross = Crosshair(w, "epoch")
    text = cross.show_at(2.9)  # nearest data x: 3
    assert text.splitlines() == ["epoch 3", "loss: 0.125", "Recall@10: 0.0712"]
    assert cross.line.isVisible() and cross.line.value() == 3
    assert cross.show_at(1.6).splitlines() == ["epoch 2", "loss: 0.25"]  # Recall@10 has no value at epoch 2
    cross.hide()
    assert not cross.label.isVisible()
    plots = CurvePlots()
    qtbot.addWidget(plots)
    plots.show_run([1, 2], [3.2, 2.9], [2], [0.05], [0.03])
    assert plots.valid_crosshair.show_at(2).splitlines() == ["epoch 2", "Recall@10: 0.05", "NDCG@10: 0.03"]


def test_bar_charts_have_crosshairs_with_exact_values(qtbot):
    """Every panel's bar chart reads out the exact value(s) under the pointer, as the training
    curves do: codeword weights (both charts and a compared item), diagnostics histograms, the
    cold-start lab's code probabilities and the playground's interest groups."""
    import numpy as np
    from PySide6.QtCore import QPointF

    from app.panels.coldstart.plots import LevelProbPlot
    from app.panels.diagnostics.plots import CountHistogram
    from app.panels.playground.plots import GroupsPlot
    from app.panels.weights.plots import LevelPlot

    weights = LevelPlot(0, 4, 3)
    qtbot.addWidget(weights)
    weights.content_bars.setOpts(height=np.array([0.1, 0.6, 0.2, 0.1]))
    weights.collab_bars.setOpts(height=np.array([0.25, 0.25, 0.4, 0.1]))
    assert weights.crosshair.show_at(2.2).splitlines() == ["code 2", "content: 0.2", "collaborative: 0.4"]
    assert all(line.isVisible() and line.value() == 2 for line in weights.crosshair.lines)  # in both charts
    weights.crosshair.hide()
    weights.resize(400, 300)
    weights.show()
    qtbot.waitExposed(weights)
    # the pointer over the lower (collaborative) chart, at codeword 1
    weights.scene().sigMouseMoved.emit(weights.bottom.mapViewToScene(QPointF(1.1, 0.1)))
    qtbot.waitUntil(lambda: weights.crosshair.label.isVisible())
    assert weights.crosshair.label.toPlainText().splitlines()[0] == "code 1"
    weights.compare_curve.setData(np.arange(5) - 0.5, np.array([0.5, 0.1, 0.3, 0.1]))
    weights.compare_curve.setVisible(True)
    assert weights.crosshair.show_at(0).splitlines()[-1] == "compared: 0.5"

    hist = CountHistogram("Homogeneity", "homogeneity@10", "#1f6fb4", np.arange(1, 11), 0.8)
    qtbot.addWidget(hist)
    hist.set_counts(np.arange(10) * 7)
    assert hist.crosshair.show_at(3.4).splitlines() == ["homogeneity@10 3", "users: 14"]

    probs = LevelProbPlot(1, 3)
    qtbot.addWidget(probs)
    probs.bars.setOpts(x=np.array([0.0, 1.0, 2.0]), height=np.array([0.5, 0.25, 0.0125]))
    probs.codes = [17, 4, 200]
    assert probs.crosshair.show_at(1.9).splitlines() == ["code 200", "probability: 0.0125"]

    groups = GroupsPlot()
    qtbot.addWidget(groups)
    groups.bars.setOpts(x=np.array([0.0, 1.0]), height=np.array([6.0, 2.0]))
    groups.prefixes = ["12", "12-7"]
    assert groups.crosshair.show_at(0.8).splitlines() == ["group 12-7", "items: 2"]
    groups.crosshair.hide()
    assert not groups.crosshair.label.isVisible()


def test_while_hidden_runs_a_hidden_tabs_work_when_the_tab_is_shown(qtbot):
    """At 10^6 items each tree click spent ~70 ms in the map and weights panels on hidden tabs;
    their selection work now waits until their tab is shown (only the latest call), and runs at
    once when the panel is on screen or the window is not shown at all (tests, scripts)."""
    from PySide6.QtWidgets import QLabel, QTabWidget

    from app.widgets.deferral import WhileHidden

    tabs = QTabWidget()
    qtbot.addWidget(tabs)
    first, second = QLabel("first"), QLabel("second")
    tabs.addTab(first, "first")
    tabs.addTab(second, "second")
    calls = []
    follow = WhileHidden(second, lambda value: calls.append(value))
    follow(1)  # the window is not shown: at once
    assert calls == [1]
    tabs.show()
    qtbot.waitExposed(tabs)
    follow(2)
    follow(3)  # hidden tab: kept, only the latest
    assert calls == [1] and follow.pending
    tabs.setCurrentWidget(second)
    qtbot.waitUntil(lambda: calls == [1, 3])
    assert not follow.pending
    follow(4)  # on screen: at once
    assert calls == [1, 3, 4]


def test_fill_on_focus_hands_the_word_list_to_qt_when_the_box_is_first_focused(qtbot):
    """At 10^6 items each item picker's list took ~0.3 s of GUI thread on every project load."""
    from PySide6.QtCore import QStringListModel
    from PySide6.QtWidgets import QLineEdit, QVBoxLayout, QWidget

    from app.widgets.deferral import FillOnFocus

    host = QWidget()
    qtbot.addWidget(host)
    lay = QVBoxLayout(host)
    other, box = QLineEdit(), QLineEdit()
    lay.addWidget(other)
    lay.addWidget(box)
    model = QStringListModel()
    lazy = FillOnFocus(box, model)
    lazy.set_strings({"Red lipstick  [1]": 0, "Nail polish  [2]": 1})  # dict keys, as the panels pass
    assert model.rowCount() == 0 and not lazy.filled
    host.show()
    qtbot.waitExposed(host)
    host.activateWindow()
    box.setFocus()
    qtbot.waitUntil(lambda: model.rowCount() == 2)
    assert model.stringList() == ["Red lipstick  [1]", "Nail polish  [2]"] and lazy.filled
    lazy.set_strings(["Face cream  [3]"])  # a new project while the box has focus: at once
    assert model.stringList() == ["Face cream  [3]"]
