"""Turn a leave-one-out split into model tensors (item index + 1, 0 = pad, left-padded)."""
from __future__ import annotations

import numpy as np
import torch

from ..data.ragged import Ragged, as_ragged
from ..models.base import pad_histories

__all__ = ["next_item_tensors", "eval_tensors", "split_rows"]


def next_item_tensors(train_sequences, max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """SASRec-style training pairs: for each sequence s, inputs ``s[:-1]`` and targets ``s[1:]``
    at every position, truncated to the most recent ``max_len`` pairs. Returns
    ``(history [U, max_len], target [U, max_len])``; users with fewer than 2 items are dropped.
    ``train_sequences``: a :class:`~genrec_engine.data.ragged.Ragged` or a list of sequences."""
    rows = as_ragged(train_sequences)
    rows = rows[rows.lengths >= 2].last(max_len + 1)
    return pad_histories(rows.trimmed(tail=1), max_len), pad_histories(rows.trimmed(head=1), max_len)


def split_rows(split, which: str):
    """``(histories, targets)`` of the "valid" or "test" side of ``split``: the histories as
    :class:`~genrec_engine.data.ragged.Ragged` rows, the targets int64 ``[U]`` item indices."""
    if which == "valid":
        hists, targets = split.valid_history, split.valid_target
    elif which == "test":
        hists, targets = split.test_history, split.test_target
    else:
        from ..errors import ConfigError

        raise ConfigError(f"split={which!r}: expected 'valid' or 'test'")
    return as_ragged(hists), np.asarray(targets, dtype=np.int64)


def eval_tensors(split, which: str, max_len: int) -> tuple[torch.Tensor, np.ndarray, Ragged]:
    """``(history [U, max_len], targets [U] item indices, full histories)`` for "valid" or "test"
    (the full histories as :class:`~genrec_engine.data.ragged.Ragged` rows)."""
    hists, targets = split_rows(split, which)
    return pad_histories(hists, max_len), targets, hists
