"""``genrec-explorer [PROJECT] [--screenshot DIR] [--quit-after MS]``: start the desktop explorer.

Opens PROJECT (a folder written by ``genrec tokenize``; default: the bundled beauty-default) in
the background, so the window is usable at once.

``--screenshot DIR`` waits until the project has loaded, then shows each panel in turn, waits
until its background work is drawn, saves the window to ``DIR/<panel>.png`` (overview, tree, map,
weights, training, ...) and exits 0 (1, with the reason on stderr, when the project cannot be
opened; 2 when it or a panel never gets ready). It renders
offscreen unless ``QT_QPA_PLATFORM`` says otherwise. ``--quit-after MS`` quits after MS
milliseconds (smoke tests of the installed or frozen app).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

__all__ = ["main", "build_parser", "launch", "import_engine_before_qt"]

WINDOW_SIZE = (1280, 800)
SCREENSHOT_TIMEOUT_MS = 120_000  # give up on a project that never finishes loading


def build_parser() -> argparse.ArgumentParser:
    from . import DEFAULT_PROJECT

    parser = argparse.ArgumentParser(
        prog="genrec-explorer",
        description="See inside generative recommenders: semantic IDs, prefix tries, beam search.",
    )
    parser.add_argument(
        "project", nargs="?", type=Path, default=None,
        help=f"project folder to open (default: the bundled {DEFAULT_PROJECT.name})",
    )
    parser.add_argument(
        "--screenshot", metavar="DIR", type=Path, default=None,
        help="save every panel to DIR/<panel>.png once the project has loaded, then exit",
    )
    parser.add_argument(
        "--quit-after", metavar="MS", type=int, default=None, help="quit after MS milliseconds"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.quit_after is not None and args.quit_after < 0:
        print("genrec-explorer: --quit-after must be >= 0", file=sys.stderr)
        return 2
    if args.screenshot is not None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before the QApplication exists

    import_engine_before_qt()
    from PySide6.QtCore import QTimer

    from . import DEFAULT_PROJECT

    qapp, window = launch(args.project or DEFAULT_PROJECT, dialogs=args.screenshot is None)

    if args.screenshot is not None:
        out_dir: Path = args.screenshot

        def save(_snapshot) -> None:
            # kept on the window: Qt's single-shot timers hold only weak references to bound methods
            window.screenshooter = _Screenshooter(window, out_dir, qapp)
            window.screenshooter.start()

        def fail(message: str) -> None:
            print(f"genrec-explorer: {message}", file=sys.stderr)
            qapp.exit(1)

        def timeout() -> None:
            print(f"genrec-explorer: the project did not load within {SCREENSHOT_TIMEOUT_MS} ms", file=sys.stderr)
            qapp.exit(2)

        load_timer = QTimer(window)
        load_timer.setSingleShot(True)
        load_timer.timeout.connect(timeout)
        window.sig_project_loaded.connect(lambda _s: load_timer.stop())  # panels have their own limit
        window.sig_project_loaded.connect(save)
        window.sig_project_failed.connect(fail)
        load_timer.start(SCREENSHOT_TIMEOUT_MS)

    if args.quit_after is not None:
        QTimer.singleShot(args.quit_after, lambda: (window.close(), qapp.quit()))

    rc = qapp.exec()
    window.close()  # cancels and drains engine jobs (a no-op when already closed)
    return rc


def import_engine_before_qt() -> None:
    """Import the engine (torch, pandas, pyarrow: ~2,000 modules) before PySide6.

    Once PySide6 is imported it replaces ``__import__`` and, for its ``__feature__`` switches,
    reads the source of every module imported after it (``inspect.getsource``) to see whether it
    mentions PySide6: ~0.4 s of start-up on this machine for torch's and pandas' modules alone.
    Modules imported before PySide6 are not read. A no-op when PySide6 is already loaded (tests)."""
    import genrec_engine  # noqa: F401 - torch, numpy, pandas
    import pyarrow.parquet  # noqa: F401 - every project load reads its parquet files with it


GIL_SWITCH_S = 0.001  # how long a thread may hold the GIL while another waits for it (Python's default: 0.005)


def launch(project, *, dialogs: bool = True):
    """The app as users get it: the ``QApplication`` (created unless one exists), the garbage
    collector's timer, and the main window opening ``project`` in the background, shown at
    :data:`WINDOW_SIZE`. Returns ``(qapp, window)``; :func:`main` and the GUI-stall benchmark
    (:mod:`app.stall`) both start the app through here."""
    import gc

    gc.disable()  # the app collects on its GUI thread (GarbageCollector); none during the imports below
    # the GUI thread gives up the GIL in every NumPy call and Qt paint; with workers running Python
    # it then waits up to the switch interval to get it back, each time (default 5 ms: a 20-call
    # redraw of the 10^6-item map took 200 ms instead of 25 while a project loaded)
    sys.setswitchinterval(GIL_SWITCH_S)
    import_engine_before_qt()
    from PySide6.QtCore import QTimer, qInstallMessageHandler
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    import genrec_engine

    from . import APP_ICON
    from .bridge import GarbageCollector
    from .window import MainWindow

    if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        qInstallMessageHandler(_quiet_offscreen_messages)
    qapp = QApplication.instance() or QApplication(sys.argv[:1])
    qapp.setApplicationName("GenRec Explorer")
    qapp.setApplicationVersion(genrec_engine.__version__)
    qapp.setOrganizationName("GenRec")
    qapp.setWindowIcon(QIcon(str(APP_ICON)))

    collector = getattr(qapp, "garbage_collector", None)
    if collector is None:
        collector = qapp.garbage_collector = GarbageCollector(qapp)  # cyclic GC on the GUI thread (see its docstring)
    window = MainWindow(project, dialogs=dialogs)
    gc.freeze()  # modules, classes and widgets live as long as the app: never scan them again
    loads = [0]

    def freeze(_snapshot) -> None:
        # once the panels have taken the new project: its objects go to the permanent generation;
        # a later project first frees the cycles of the one it replaced (one ~0.5 s pause then)
        loads[0] += 1
        QTimer.singleShot(0, lambda reclaim=loads[0] > 1: collector.freeze_long_lived(reclaim=reclaim))

    window.sig_project_loaded.connect(freeze)
    window.resize(*_fitted_size(qapp))
    window.show()
    return qapp, window


def _fitted_size(qapp) -> tuple[int, int]:
    """:data:`WINDOW_SIZE`, shrunk to the screen's free area less room for the title bar (a
    1280 x 800 screen would otherwise push the status bar off its bottom edge). Offscreen runs
    (screenshots, tests) keep the full size: their virtual screen is only 800 x 600."""
    w, h = WINDOW_SIZE
    screen = qapp.primaryScreen()
    if screen is None or os.environ.get("QT_QPA_PLATFORM") == "offscreen" or qapp.platformName() == "offscreen":
        return w, h
    free = screen.availableGeometry()
    return min(w, free.width()), min(h, max(400, free.height() - 40))


def _quiet_offscreen_messages(mode, context, message: str) -> None:
    """Drop the offscreen platform's harmless 'propagateSizeHints' notice; pass the rest to stderr."""
    if "does not support propagateSizeHints" not in message:
        print(message, file=sys.stderr)


class _Screenshooter:
    """Shows each panel of ``window.panels`` in turn, waits (event loop running) until the panel
    says it is ready, saves the window to ``DIR/<name>.png``, then exits the app."""

    POLL_MS = 100
    PANEL_TIMEOUT_MS = 180_000  # the first UMAP of a big catalogue may take minutes

    def __init__(self, window, out_dir: Path, qapp):
        from PySide6.QtCore import QElapsedTimer

        self.window, self.out_dir, self.qapp = window, out_dir, qapp
        self.queue = list(window.panels.items())
        self.clock = QElapsedTimer()

    def start(self) -> None:
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self._fail(1, f"{self.out_dir}: {exc}")
            return
        self._select_example()
        self._next()

    def _select_example(self) -> None:
        """Select something so every panel shows a filled state: the level-2 prefix of the
        catalogue's first item that shares its full code tuple with another item."""
        import numpy as np

        snapshot = self.window.snapshot
        if snapshot is None:
            return
        codes = snapshot.project.sids.codes
        colliding = np.flatnonzero(codes[:, -1] > 0)
        item = int(colliding[0]) if len(colliding) else 0
        depth = min(2, codes.shape[1] - 1)
        self.window.selection.select_prefix(codes[item, :depth], "screenshot")

    def _next(self) -> None:
        from PySide6.QtCore import QTimer

        if not self.queue:
            self.qapp.exit(0)
            return
        name, panel = self.queue[0]
        self.window.tabs.setCurrentWidget(panel)
        self.clock.start()
        QTimer.singleShot(0, self._poll)

    def _poll(self) -> None:
        from PySide6.QtCore import QTimer

        name, panel = self.queue[0]
        ready = getattr(panel, "screenshot_ready", lambda: True)()
        if not ready and self.clock.elapsed() < self.PANEL_TIMEOUT_MS:
            QTimer.singleShot(self.POLL_MS, self._poll)
            return
        if not ready:
            print(f"genrec-explorer: the {name} panel was not ready after {self.PANEL_TIMEOUT_MS} ms; "
                  "saving it as it is", file=sys.stderr)
        # two more turns of the event loop, so what just arrived is laid out and painted
        QTimer.singleShot(50, lambda: self._save(name))

    def _save(self, name: str) -> None:
        path = self.out_dir / f"{name}.png"
        if not self.window.grab().save(str(path)):
            self._fail(1, f"{path}: could not write the PNG")
            return
        print(path)
        self.queue.pop(0)
        self._next()

    def _fail(self, code: int, message: str) -> None:
        print(f"genrec-explorer: {message}", file=sys.stderr)
        self.qapp.exit(code)


if __name__ == "__main__":
    sys.exit(main())
