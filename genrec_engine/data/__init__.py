"""The data layer: dataset folders, their validation, the leave-one-out split, Amazon import.

A dataset folder holds one ``items.<ext>`` and one ``interactions.<ext>`` (ext: csv, tsv, parquet,
jsonl). ``load_dataset`` returns a :class:`Dataset` or raises one ``DataValidationError`` listing
every problem; ``check_dataset`` returns the problems instead of raising.
"""
from __future__ import annotations

from .amazon import import_amazon
from .catalogue import Catalogue
from .dataset import Dataset, Interactions, check_dataset, load_dataset, save_dataset
from .fingerprint import dataset_fingerprint
from .readers import FORMATS
from .ragged import Ragged
from .split import Split, leave_one_out, project_split, split_without_cold

__all__ = [
    "FORMATS",
    "project_split",
    "split_without_cold",
    "Catalogue",
    "Interactions",
    "Dataset",
    "Split",
    "Ragged",
    "load_dataset",
    "check_dataset",
    "save_dataset",
    "leave_one_out",
    "import_amazon",
    "dataset_fingerprint",
]
