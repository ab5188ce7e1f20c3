"""How long the app takes to start: ``python -m app.startup --since T [PROJECT]``.

Launches the app as users get it (:func:`app.main.launch`), and prints one JSON object:
``window_s`` (from ``T``, the wall-clock time the caller started this process, to the window
shown and painted once), ``loaded_s`` (to the project loaded and handed to the panels),
``imports_s`` (to the imports done, before the ``QApplication`` exists) and the project. ``genrec
bench startup`` runs it several times in fresh processes and reports the median; a process per
launch, because a second launch in one process would find every module imported already.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.startup", description=__doc__.splitlines()[0])
    parser.add_argument("project", nargs="?", default=None)
    parser.add_argument("--since", type=float, required=True, help="time.time() when the caller started this process")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from . import DEFAULT_PROJECT
    from .main import import_engine_before_qt, launch

    import_engine_before_qt()  # as genrec-explorer does
    from PySide6.QtCore import QTimer

    marks: dict[str, float] = {"imports_s": time.time() - args.since}
    qapp, window = launch(args.project or DEFAULT_PROJECT, dialogs=False)

    def painted() -> None:
        window.repaint()  # paint it once now, as a screen would
        marks["window_s"] = time.time() - args.since

    def loaded(_snapshot) -> None:
        marks["loaded_s"] = time.time() - args.since
        QTimer.singleShot(0, qapp.quit)

    def failed(message: str) -> None:
        marks["error"] = message
        qapp.quit()

    QTimer.singleShot(0, painted)  # the first turn of the event loop: the window is on screen
    window.sig_project_loaded.connect(loaded)
    window.sig_project_failed.connect(failed)
    QTimer.singleShot(120_000, qapp.quit)
    qapp.exec()
    window.close()
    print(json.dumps({**{k: round(v, 3) for k, v in marks.items() if isinstance(v, float)},
                      **({"error": marks["error"]} if "error" in marks else {}),
                      "project": str(args.project or DEFAULT_PROJECT)}))
    return 0 if "loaded_s" in marks else 1


if __name__ == "__main__":
    sys.exit(main())
