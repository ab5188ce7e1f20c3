"""A walk through GenRec Explorer as its users meet it, under a real X server.

``docs/walk/run.sh OUT EXTRACT`` starts Xvfb (1280 x 800) and openbox and runs this script, which
launches the app as ``genrec-explorer`` does (``app.main.launch``, xcb, real dialogs) and drives it
with real X input: ``xdotool`` moves the pointer to a widget's centre on the screen and clicks, or
types, exactly as a person at the keyboard would; ``import -window root`` saves the whole screen
(window manager decorations included) after each step. The script only *finds* widgets in the live
window (to know where to click) and waits until a panel says its work is drawn.

Three users and one own dataset, in order:

1. the analyst: the SID tree searched with Ctrl+F, a result opened, the map coloured by category,
   the codeword weights of the selection;
2. the engineer debugging generations: Diagnostics, a worst user double-clicked into the beam
   stepper, stepped with F10, the beam tree;
3. the presenter: the playground (type, Down, Enter), presenter mode on and off (F11), F1;
4. an own extract (EXTRACT, e.g. 300 items with users of 1-2 interactions): File > Open dataset
   folder, the problems dialog's "drop short users", the project folder dialog, the new project's
   overview, tree and map.

Writes ``OUT/walk-NN-*.png`` and ``OUT/walk.log`` (each step, what was checked, how long it took);
exits 1 if a check failed.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from app.main import import_engine_before_qt

import_engine_before_qt()

from PySide6.QtCore import QPoint, QPointF, QTimer  # noqa: E402
from PySide6.QtWidgets import (QApplication, QDialog, QFileDialog, QLineEdit, QListWidget, QPushButton,  # noqa: E402
                               QTableView)

from app import DEFAULT_PROJECT  # noqa: E402
from app.main import launch  # noqa: E402

OUT = Path(sys.argv[1])
EXTRACT = Path(sys.argv[2])
OUT.mkdir(parents=True, exist_ok=True)
LOG = open(OUT / "walk.log", "w")
T0 = time.time()
failures: list[str] = []


def note(text: str) -> None:
    line = f"{time.time() - T0:7.1f} s  {text}"
    print(line, flush=True)
    LOG.write(line + "\n")
    LOG.flush()


def check(ok: bool, what: str) -> None:
    note(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        failures.append(what)


def xdo(*args: str) -> None:
    subprocess.run(["xdotool", *args], check=True)


def at(widget, local: QPoint | None = None) -> tuple[int, int]:
    p = widget.mapToGlobal(local if local is not None else widget.rect().center())
    return p.x(), p.y()


def click(widget, local: QPoint | None = None, *, double: bool = False) -> None:
    x, y = at(widget, local)
    xdo("mousemove", "--sync", str(x), str(y))
    xdo("click", *(["--repeat", "2", "--delay", "90"] if double else []), "1")


def key(*keys: str) -> None:
    xdo("key", "--delay", "80", *keys)


def type_text(text: str) -> None:
    xdo("type", "--delay", "40", text)


def shot(name: str) -> None:
    path = OUT / f"{name}.png"
    subprocess.run(["import", "-window", "root", str(path)], check=True)
    note(f"screenshot {path.name}")


class Until:
    def __init__(self, condition, timeout_s: float, what: str):
        self.condition, self.timeout_s, self.what = condition, timeout_s, what


def tab(window, panel) -> None:
    """Click ``panel``'s tab and let its page lay out (a page shown for the first time moves its
    widgets once more after its first paint; a click computed before that would miss)."""
    bar = window.tabs.tabBar()
    click(bar, bar.tabRect(window.tabs.indexOf(panel)).center())
    QApplication.processEvents()
    time.sleep(0.3)
    QApplication.processEvents()


def walk(qapp, window):
    yield Until(lambda: window.snapshot is not None, 60, "the bundled project loaded")
    note(f"window {window.width()} x {window.height()} at ({window.x()}, {window.y()})")
    yield 1500
    shot("walk-01-start")

    # ---- 1. the analyst ----------------------------------------------------------------------
    tab(window, window.tree)
    yield 400
    key("ctrl+f")
    yield 300
    type_text("nail polish")
    key("Return")
    yield 1200
    results = window.tree.findChild(QListWidget, "treeSearchResults")
    check(results is not None and results.count() > 1, f"the tree search lists its matches ({results.count() if results else 0})")
    if results is not None and results.count():
        click(results.viewport(), results.visualItemRect(results.item(0)).center())
        yield 800
    shot("walk-02-analyst-tree-search")

    t_tab = time.time()
    tab(window, window.map)
    yield Until(lambda: window.map.screenshot_ready(), 240, "the codebook map drawn")
    note(f"first event-loop turn after the map tab click: {time.time() - t_tab:.2f} s")
    combo = window.map.colour_combo
    target = next((i for i in range(combo.count()) if "categor" in combo.itemText(i).lower()), None)
    check(target is not None, "the map offers colouring by category")
    if target is not None:
        yield 500
        click(combo)  # the list pops up; click the entry, as a person does
        yield Until(lambda: combo.view().isVisible(), 5, "the colour list popped up")
        if not combo.view().isVisible():
            note(f"active popup {QApplication.activePopupWidget()}, modal {QApplication.activeModalWidget()}, "
                 f"focus {QApplication.focusWidget()}, under pointer {QApplication.widgetAt(*at(combo))}")
            shot("walk-03a-no-popup")
        yield 300
        popup = combo.view()
        click(popup.viewport(), popup.visualRect(combo.model().index(target, 0)).center())
        yield 600
        yield Until(lambda: window.map.screenshot_ready(), 60, "the map recoloured")
        yield 600
        check(combo.currentIndex() == target, f"the map is coloured by {combo.itemText(combo.currentIndex())!r}")
    shot("walk-03-analyst-map-by-category")

    tab(window, window.weights)
    yield Until(lambda: window.weights.screenshot_ready(), 120, "the codeword weights drawn")
    yield 600
    plot = window.weights.plots[0] if getattr(window.weights, "plots", None) else None
    if plot is not None:  # hover a codeword: the crosshair reads out both weights
        x, y = at(plot, QPoint(plot.width() // 3, plot.height() // 3))
        xdo("mousemove", "--sync", str(x), str(y))
        yield 700
        check(plot.crosshair.label.isVisible(), "hovering a codeword shows its exact weights")
    shot("walk-04-analyst-weights")

    # ---- 2. the engineer debugging generations ------------------------------------------------
    tab(window, window.diagnostics)
    yield Until(lambda: window.diagnostics.screenshot_ready(), 300, "diagnostics computed")
    yield 600
    shot("walk-05-engineer-diagnostics")
    table = window.diagnostics.findChild(QTableView, "users_table")
    if table is not None and table.model().rowCount():
        click(table.viewport(), table.visualRect(table.model().index(0, 1)).center(), double=True)
        yield Until(lambda: window.tabs.currentWidget() is window.stepper, 10, "the stepper opened on the user")
        yield Until(lambda: window.stepper.state.ready or not window.stepper.busy(), 120, "the stepper built")
        yield 800
        key("F10")
        yield 1200
        key("F10")
        yield Until(lambda: not window.stepper.busy(), 60, "two levels stepped")
        yield 800
        shot("walk-06-engineer-stepper")
        view = window.stepper.tree
        rows = view.node_rows()
        second = sorted((r, p) for p, r in rows.items() if len(p) == 2)[1:2]  # the runner-up at level 2
        if second:
            row, prefix = second[0]
            centre = QPointF(2 * view.COL_W + view.NODE_W / 2, view.TOP + row * view.ROW_H + view.NODE_H / 2)
            view.ensureVisible(centre.x(), centre.y(), 10, 10)
            yield 300
            click(view.viewport(), view.mapFromScene(centre))
            yield 800
            check(view.selected_prefix() == prefix, f"clicking a beam-tree node selects its prefix {prefix}")
            check(tuple(window.selection.current.prefix or ()) == tuple(prefix),
                  "the clicked prefix is the app's selection (tree, map)")
        shot("walk-07-engineer-beam-tree-click")
    else:
        check(False, "diagnostics lists users to open")

    # ---- 3. the presenter ---------------------------------------------------------------------
    tab(window, window.playground)
    yield 600
    search = window.playground.findChild(QLineEdit, "search")
    before = len(window.playground.history())
    click(search)
    yield 300
    type_text("lipstick")
    yield 900
    key("Down", "Return")
    yield Until(lambda: window.playground.screenshot_ready(), 120, "recommendations shown")
    yield 800
    after = len(window.playground.history())
    check(after == before + 1, f"Down+Enter added one item to the history ({before} -> {after})")
    shot("walk-08-presenter-playground")
    width = window.width()
    key("F11")
    yield 1500
    shot("walk-09-presenter-mode")
    check(window.width() <= 1280, f"presenter mode keeps the window within the screen ({window.width()} px)")
    key("F11")
    yield 1500
    shot("walk-10-presenter-off")
    check(window.width() == width, f"presenter mode off gives the window its width back ({window.width()} px)")
    key("F1")
    yield 1000
    shot("walk-11-help-shortcuts")
    key("Escape")
    yield 500

    # ---- 4. an own extract --------------------------------------------------------------------
    file_menu = window.menuBar().actions()[0]
    click(window.menuBar(), window.menuBar().actionGeometry(file_menu).center())
    yield 600
    menu = file_menu.menu()
    click(menu, menu.actionGeometry(window.action_open_dataset).center())
    yield Until(lambda: isinstance(QApplication.activeModalWidget(), QFileDialog), 10, "the folder dialog opened")
    yield 600
    shot("walk-12-own-folder-dialog")
    key("ctrl+a")
    type_text(str(EXTRACT))
    yield 300
    key("Return")
    yield Until(lambda: window.problems_dialog is not None and window.problems_dialog.isVisible(), 60,
                "the problems dialog listed the short users")
    yield 800
    shot("walk-13-own-problems")
    drop = window.problems_dialog.findChild(QPushButton, "dropShortUsers") if window.problems_dialog else None
    check(drop is not None and drop.isVisible(), "the problems dialog offers to drop the short users")
    if drop is not None:
        click(drop)
    yield Until(lambda: isinstance(QApplication.activeModalWidget(), QFileDialog), 60, "the project folder dialog opened")
    yield 800
    shot("walk-14-own-project-folder")
    key("Return")  # accept the suggested folder <extract>-project
    yield 800
    modal = QApplication.activeModalWidget()
    if isinstance(modal, QDialog) and not isinstance(modal, QFileDialog):  # e.g. "already exists"
        shot("walk-14b-own-confirm")
        key("Return")
    own = EXTRACT.parent / f"{EXTRACT.name}-project"
    yield Until(lambda: window.snapshot is not None and window.snapshot.path.resolve() == own.resolve(), 600,
                "the extract tokenized and opened")
    for d in list(QApplication.topLevelWidgets()):
        if isinstance(d, QDialog) and d.isVisible():
            d.close()
    tab(window, window.overview)
    yield 1500
    shot("walk-15-own-overview")
    if window.snapshot is not None:
        sizes = window.snapshot.project.sids.level_sizes
        check(max(sizes[:-1]) < 256, f"the extract's codebooks are sized to 300 items ({list(sizes)})")
    tab(window, window.tree)
    yield 1000
    shot("walk-16-own-tree")
    tab(window, window.map)
    yield Until(lambda: window.map.screenshot_ready(), 240, "the extract's map drawn")
    yield 800
    shot("walk-17-own-map")
    tab(window, window.stepper)
    yield 1200
    shot("walk-18-own-stepper-no-generator")
    tab(window, window.training)
    yield 1200
    shot("walk-19-own-training")


class Runner:
    def __init__(self, qapp, gen):
        self.qapp, self.gen = qapp, gen
        self.started = time.time()
        QTimer.singleShot(0, self.step)

    def step(self) -> None:
        try:
            cmd = next(self.gen)
        except StopIteration:
            note(f"done; {len(failures)} failed check(s)")
            self.qapp.exit(1 if failures else 0)
            return
        except Exception as exc:  # noqa: BLE001 - a walk step broke: say where and stop
            note(f"FAIL  the walk broke: {type(exc).__name__}: {exc}")
            failures.append(str(exc))
            self.qapp.exit(1)
            return
        if isinstance(cmd, Until):
            self.wait(cmd, time.time())
        else:
            QTimer.singleShot(int(cmd), self.step)

    def wait(self, until: Until, since: float) -> None:
        try:
            done = bool(until.condition())
        except Exception:  # noqa: BLE001 - not there yet
            done = False
        if done or time.time() - since > until.timeout_s:
            check(done, f"{until.what} ({time.time() - since:.1f} s)")
            QTimer.singleShot(0, self.step)
        else:
            QTimer.singleShot(100, lambda: self.wait(until, since))


def main() -> int:
    qapp, window = launch(DEFAULT_PROJECT)
    note("launched")
    runner = Runner(qapp, walk(qapp, window))  # noqa: F841 - kept alive by this frame
    rc = qapp.exec()
    window.close()
    return rc


if __name__ == "__main__":
    sys.exit(main())
