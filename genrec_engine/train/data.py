"""Turn a leave-one-out split into model tensors (item index + 1, 0 = pad, left-padded)."""
from __future__ import annotations

import numpy as np
import torch

from ..models.base import pad_histories

__all__ = ["next_item_tensors", "eval_tensors"]


def next_item_tensors(train_sequences, max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """SASRec-style training pairs: for each sequence s, inputs ``s[:-1]`` and targets ``s[1:]``
    at every position, truncated to the most recent ``max_len`` pairs. Returns
    ``(history [U, max_len], target [U, max_len])``; users with fewer than 2 items are dropped."""
    hist, tgt = [], []
    for s in train_sequences:
        s = np.asarray(s)
        if len(s) < 2:
            continue
        s = s[-(max_len + 1):]
        hist.append(s[:-1])
        tgt.append(s[1:])
    return pad_histories(hist, max_len), pad_histories(tgt, max_len)


def eval_tensors(split, which: str, max_len: int) -> tuple[torch.Tensor, np.ndarray, list[np.ndarray]]:
    """``(history [U, max_len], targets [U] item indices, full histories)`` for "valid" or "test"."""
    if which == "valid":
        hists, targets = split.valid_history, split.valid_target
    elif which == "test":
        hists, targets = split.test_history, split.test_target
    else:
        from ..errors import ConfigError

        raise ConfigError(f"split={which!r}: expected 'valid' or 'test'")
    return pad_histories(hists, max_len), np.asarray(targets, dtype=np.int64), [np.asarray(h) for h in hists]
