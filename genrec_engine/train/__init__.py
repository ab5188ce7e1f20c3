"""Training loops, evaluation and checkpoints of the generators.

``KINDS`` and ``load_project_generator`` live in :mod:`genrec_engine.generators` and are kept here
for older imports; the checkpoint format is :mod:`genrec_engine.checkpoint`.
"""
from ..checkpoint import GENERATOR_FORMAT, load_generator, save_generator
from ..generators import KINDS, load_project_generator
from .repro import latest_repro, repro
from .api import (compact_generator, evaluate_generator, latest_evaluation, read_metrics, record_evaluation,
                  train_generator)
from .evaluate import evaluate, item_counts, rank_users
from .instruct_eval import instruct_eval, leaf_category_groups
from .loop import TrainConfig, TrainResult, fit

__all__ = [
    "latest_evaluation", "latest_repro", "record_evaluation", "repro", "read_metrics",
    "KINDS", "compact_generator", "evaluate_generator", "load_project_generator", "train_generator", "GENERATOR_FORMAT",
    "load_generator", "save_generator", "evaluate", "item_counts", "rank_users", "instruct_eval",
    "leaf_category_groups", "TrainConfig", "TrainResult", "fit",
]
