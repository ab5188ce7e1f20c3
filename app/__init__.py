"""GenRec Explorer's desktop app (PySide6): panels over the Qt-free ``genrec_engine``.

Layout: :mod:`app.bridge` runs engine work off the GUI thread, :mod:`app.window` composes the
panels of :mod:`app.panels`, :mod:`app.main` is the ``genrec-explorer`` entry point.
"""
from __future__ import annotations

from pathlib import Path

__all__ = ["RESOURCES", "DEFAULT_PROJECT", "APP_ICON"]

#: The bundled resources folder (next to ``app/`` in the repo and in a PyInstaller bundle).
RESOURCES = Path(__file__).resolve().parent.parent / "resources"
#: The project opened at start-up when none is given on the command line.
DEFAULT_PROJECT = RESOURCES / "models" / "beauty-default"
APP_ICON = RESOURCES / "icons" / "genrec.svg"
