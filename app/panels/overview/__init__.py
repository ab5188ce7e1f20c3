"""Overview panel: the open project"s catalogue, tokenizer and codebook health, in real numbers.

Modules: :mod:`.state` (Qt-free: the figures, tokenizer rows, per-level columns and plain words of a
snapshot), :mod:`.models` (the per-level table), :mod:`.view` (:class:`OverviewPanel`).
"""
from __future__ import annotations

from typing import Any

__all__ = [
    "LevelTableModel", "LEVEL_COLUMNS", "METHOD_NAMES", "PANEL_GUIDE", "Overview", "overview_of",
    "OverviewPanel",
]

_LAZY = {
    **{n: "app.panels.overview.models" for n in ("LevelTableModel",)},
    **{n: "app.panels.overview.state" for n in ("LEVEL_COLUMNS", "METHOD_NAMES", "PANEL_GUIDE", "Overview", "overview_of")},
    **{n: "app.panels.overview.view" for n in ("OverviewPanel",)},
}


def __getattr__(name: str) -> Any:
    """Names are imported on first use, so importing the Qt-free ``state`` module does not load Qt."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
