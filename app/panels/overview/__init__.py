"""Overview panel: the open project's catalogue, tokenizer and codebook health, in real numbers.

Modules: :mod:`.state` (Qt-free: the figures, tokenizer rows, per-level columns and plain words of a
snapshot), :mod:`.models` (the per-level table), :mod:`.view` (:class:`OverviewPanel`).
"""
from .models import LevelTableModel
from .state import LEVEL_COLUMNS, METHOD_NAMES, PANEL_GUIDE, Overview, overview_of
from .view import OverviewPanel

__all__ = ["OverviewPanel", "LevelTableModel", "LEVEL_COLUMNS", "METHOD_NAMES", "PANEL_GUIDE", "Overview",
           "overview_of"]
