"""Widgets and helpers every panel shares: one table model, SID text, labels, page layouts.

- :mod:`.text` (no Qt): ``sid_text``, ``elide``, ``percent``, generator names, the error colour;
- :mod:`.table`: :class:`RowTableModel`, the one read-only table model, and :class:`Column`;
- :mod:`.labels`: headings, centred columns, one-line error labels;
- :mod:`.overview_pages`, :mod:`.stepper_layout`: page stacks and layout helpers.

Names are imported on first use, so ``from app.widgets import sid_text`` in a view-model does not
load Qt.
"""
from __future__ import annotations

from typing import Any

__all__ = [
    "ERROR_COLOUR", "GENERATOR_LABELS", "GENERATOR_NAMES", "centred_column", "error_label", "heading",
    "Column", "RowTableModel", "elide", "percent", "sid_text",
]

_LAZY = {
    **{n: "app.widgets.text" for n in ("ERROR_COLOUR", "GENERATOR_LABELS", "GENERATOR_NAMES", "elide", "percent", "sid_text")},
    **{n: "app.widgets.labels" for n in ("centred_column", "error_label", "heading")},
    **{n: "app.widgets.table" for n in ("Column", "RowTableModel")},
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'app.widgets' has no attribute {name!r}")
