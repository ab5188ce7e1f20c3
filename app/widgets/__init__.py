"""Widgets and helpers every panel shares: one table model, SID text, labels, page layouts.

- :mod:`.text` (no Qt): ``sid_text``, ``elide``, ``percent``, generator names, the error colour;
- :mod:`.table`: :class:`RowTableModel`, the one read-only table model, and :class:`Column`;
- :mod:`.labels`: headings, centred columns, one-line error labels;
- :mod:`.overview_pages`, :mod:`.layouts`: page stacks and layout helpers.

Names are imported on first use, so ``from app.widgets import sid_text`` in a view-model does not
load Qt.
"""
from __future__ import annotations

from ..lazy import lazy_exports

__all__ = [
    "ERROR_COLOUR", "MUTED_COLOUR", "GENERATOR_LABELS", "GENERATOR_NAMES", "centred_column", "error_label", "heading",
    "Column", "RowTableModel", "elide", "leaf_category", "percent", "sid_text",
]

__getattr__ = lazy_exports(__name__, {
    **dict.fromkeys(("ERROR_COLOUR", "MUTED_COLOUR", "GENERATOR_LABELS", "GENERATOR_NAMES", "elide", "leaf_category", "percent", "sid_text"), ".text"),
    **dict.fromkeys(("centred_column", "error_label", "heading"), ".labels"),
    **dict.fromkeys(("Column", "RowTableModel"), ".table"),
})
