"""``genrec-explorer [PROJECT] [--screenshot DIR] [--quit-after MS]``: start the desktop explorer.

Opens PROJECT (a folder written by ``genrec tokenize``; default: the bundled beauty-default) in
the background, so the window is usable at once.

``--screenshot DIR`` waits until the project has loaded, saves the window to ``DIR/overview.png``
and exits 0 (1, with the reason on stderr, when the project cannot be opened). It renders
offscreen unless ``QT_QPA_PLATFORM`` says otherwise. ``--quit-after MS`` quits after MS
milliseconds (smoke tests of the installed or frozen app).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

__all__ = ["main", "build_parser"]

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
        help="save the window to DIR/overview.png once the project has loaded, then exit",
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

    from PySide6.QtCore import QTimer, qInstallMessageHandler
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    import genrec_engine

    from . import APP_ICON, DEFAULT_PROJECT
    from .window import MainWindow

    if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        qInstallMessageHandler(_quiet_offscreen_messages)
    qapp = QApplication.instance() or QApplication(sys.argv[:1])
    qapp.setApplicationName("GenRec Explorer")
    qapp.setApplicationVersion(genrec_engine.__version__)
    qapp.setOrganizationName("GenRec")
    qapp.setWindowIcon(QIcon(str(APP_ICON)))

    window = MainWindow(args.project or DEFAULT_PROJECT, dialogs=args.screenshot is None)
    window.resize(*WINDOW_SIZE)
    window.show()

    if args.screenshot is not None:
        out_dir: Path = args.screenshot

        def save(_snapshot) -> None:
            # one turn of the event loop first, so the new numbers are laid out before rendering
            QTimer.singleShot(0, lambda: _save_screenshot(window, out_dir, qapp))

        def fail(message: str) -> None:
            print(f"genrec-explorer: {message}", file=sys.stderr)
            qapp.exit(1)

        def timeout() -> None:
            print(f"genrec-explorer: the project did not load within {SCREENSHOT_TIMEOUT_MS} ms", file=sys.stderr)
            qapp.exit(2)

        window.sig_project_loaded.connect(save)
        window.sig_project_failed.connect(fail)
        QTimer.singleShot(SCREENSHOT_TIMEOUT_MS, timeout)

    if args.quit_after is not None:
        QTimer.singleShot(args.quit_after, lambda: (window.close(), qapp.quit()))

    rc = qapp.exec()
    window.close()  # cancels and drains engine jobs (a no-op when already closed)
    return rc


def _quiet_offscreen_messages(mode, context, message: str) -> None:
    """Drop the offscreen platform's harmless 'propagateSizeHints' notice; pass the rest to stderr."""
    if "does not support propagateSizeHints" not in message:
        print(message, file=sys.stderr)


def _save_screenshot(window, out_dir: Path, qapp) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / "overview.png"
        if not window.grab().save(str(path)):
            raise OSError(f"{path}: could not write the PNG")
    except OSError as exc:
        print(f"genrec-explorer: {exc}", file=sys.stderr)
        qapp.exit(1)
        return
    print(path)
    qapp.exit(0)


if __name__ == "__main__":
    sys.exit(main())
