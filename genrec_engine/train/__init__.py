"""Training loops, evaluation and checkpoints of the generators."""
from .api import KINDS, compact_generator, evaluate_generator, load_project_generator, recommend, train_generator
from .checkpoint import GENERATOR_FORMAT, load_generator, save_generator
from .evaluate import evaluate, rank_users
from .loop import TrainConfig, TrainResult, fit

__all__ = [
    "KINDS", "compact_generator", "recommend", "evaluate_generator", "load_project_generator", "train_generator", "GENERATOR_FORMAT",
    "load_generator", "save_generator", "evaluate", "rank_users", "TrainConfig", "TrainResult", "fit",
]
