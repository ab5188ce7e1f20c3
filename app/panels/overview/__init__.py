"""Overview panel: the open project's catalogue, tokenizer and codebook health, in real numbers.

Modules: :mod:`.state` (Qt-free: the figures, tokenizer rows, per-level columns and plain words of a
snapshot), :mod:`.models` (the per-level table), :mod:`.view` (:class:`OverviewPanel`).
"""
from __future__ import annotations

from ...lazy import lazy_exports

__all__ = [
    "LevelTableModel", "LEVEL_COLUMNS", "METHOD_NAMES", "PANEL_GUIDE", "Overview", "overview_of",
    "OverviewPanel",
]

# each name is imported from its module on first use: the view-model (.state) loads without Qt
__getattr__ = lazy_exports(__name__, {
    **dict.fromkeys(('LevelTableModel',), '.models'),
    **dict.fromkeys(('LEVEL_COLUMNS', 'METHOD_NAMES', 'PANEL_GUIDE', 'Overview', 'overview_of'), '.state'),
    **dict.fromkeys(('OverviewPanel',), '.view'),
})
