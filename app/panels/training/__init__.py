"""The training monitor panel, as a package.

- :mod:`.state`: the view-model (:class:`TrainingState`), the settings, the table column specs,
  the working-copy jobs and their frozen results; Qt-free.
- :mod:`.models`: the metrics and tokenizer-health tables.
- :mod:`.plots`: the loss and validation plots with their curves.
- :mod:`.controls`: the settings column.
- :mod:`.view`: :class:`TrainingPanel`, which binds them.
"""
from .models import HealthTableModel, MetricsTableModel
from .state import TrainingState, read_metrics, saved_test_metrics
from .view import SOURCE, TrainingPanel

__all__ = ["TrainingPanel", "TrainingState", "MetricsTableModel", "HealthTableModel", "read_metrics",
           "saved_test_metrics", "SOURCE"]
