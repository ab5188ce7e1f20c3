"""Widgets and helpers every panel shares: one table model, SID text, labels, page layouts."""
from .labels import ERROR_COLOUR, GENERATOR_LABELS, GENERATOR_NAMES, centred_column, error_label, heading
from .table import Column, RowTableModel
from .text import elide, percent, sid_text

__all__ = [
    "ERROR_COLOUR", "GENERATOR_LABELS", "GENERATOR_NAMES", "centred_column", "error_label", "heading",
    "Column", "RowTableModel", "elide", "percent", "sid_text",
]
