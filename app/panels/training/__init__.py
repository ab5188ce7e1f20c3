"""The training monitor panel, as a package.

- :mod:`.state`: the view-model (:class:`TrainingState`), the settings, the table column specs,
  the working-copy jobs and their frozen results; Qt-free.
- :mod:`.models`: the metrics and tokenizer-health tables.
- :mod:`.plots`: the loss and validation plots with their curves.
- :mod:`.controls`: the settings column.
- :mod:`.view`: :class:`TrainingPanel`, which binds them.
"""
from __future__ import annotations

from ...lazy import lazy_exports

__all__ = [
    "TrainingPanel", "TrainingState", "MetricsTableModel", "HealthTableModel", "read_metrics",
    "saved_test_metrics", "SOURCE",
]

# each name is imported from its module on first use: the view-model (.state) loads without Qt
__getattr__ = lazy_exports(__name__, {
    **dict.fromkeys(('TrainingPanel', 'SOURCE'), '.view'),
    **dict.fromkeys(('TrainingState', 'read_metrics', 'saved_test_metrics'), '.state'),
    **dict.fromkeys(('MetricsTableModel', 'HealthTableModel'), '.models'),
})
