"""Leave-one-out split of user sequences: the last item is the test target, the one before it the
validation target, and everything earlier is training data."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from .ragged import Ragged

__all__ = ["Split", "leave_one_out", "split_without_cold", "project_split"]


@dataclass(frozen=True, eq=False)
class Split:
    """Leave-one-out split; all arrays hold item INDICES (int64), one entry per user.

    For a user sequence ``s`` of length ``L >= 3``:
    ``train = s[:L-2]``, ``valid_history = s[:L-2]``, ``valid_target = s[L-2]``,
    ``test_history = s[:L-1]``, ``test_target = s[L-1]``.
    ``user_ids``, ``valid_target`` and ``test_target`` have shape (n_users,); the others are
    :class:`~genrec_engine.data.ragged.Ragged` rows (a list-like of n_users arrays of varying
    length over one flat array; lists given here are converted).
    """

    user_ids: np.ndarray
    train: Ragged
    valid_history: Ragged
    valid_target: np.ndarray
    test_history: Ragged
    test_target: np.ndarray

    def __post_init__(self):
        for name in ("train", "valid_history", "test_history"):
            rows = getattr(self, name)
            if not isinstance(rows, Ragged):
                object.__setattr__(self, name, Ragged.from_rows(rows))

    def __len__(self) -> int:
        return len(self.user_ids)


def leave_one_out(dataset_or_sequences) -> Split:
    """Split each user's chronological sequence leave-one-out.

    Accepts a :class:`~genrec_engine.data.Dataset` or :class:`~genrec_engine.data.Interactions`
    (anything with ``offsets()`` or ``sequences()``), a ``(user_ids, sequences)`` pair as
    ``sequences()`` returns, or a plain list of sequences (users numbered 0..n-1). Every sequence
    needs at least 3 items; a :class:`ConfigError` names the first user that has fewer.
    """
    source = dataset_or_sequences
    if hasattr(source, "offsets"):  # flat arrays: no Python object per user
        user_ids, items, bounds = source.offsets()
        return _leave_one_out_rows(user_ids, Ragged.from_bounds(np.asarray(items, dtype=np.int64), bounds))
    if hasattr(source, "sequences"):
        user_ids, sequences = source.sequences()
    elif isinstance(source, tuple) and len(source) == 2 and isinstance(source[1], list) \
            and _is_id_vector(source[0]) and len(source[0]) == len(source[1]):
        user_ids, sequences = source
    else:
        sequences = list(source)
        user_ids = np.arange(len(sequences), dtype=np.int64)
    return _leave_one_out_rows(np.asarray(user_ids, dtype=np.int64), Ragged.from_rows(sequences))


def _too_short(user_ids: np.ndarray, lengths: np.ndarray) -> None:
    short = np.flatnonzero(lengths < 3)
    if len(short):
        k = short[0]
        raise ConfigError(
            f"leave_one_out needs at least 3 interactions per user; user {int(user_ids[k])} has "
            f"{int(lengths[k])} ({len(short)} users are too short; load with min_user_interactions >= 3)"
        )


def _leave_one_out_rows(user_ids: np.ndarray, rows: Ragged) -> Split:
    """:func:`leave_one_out` of user sequences given as rows (one per user, oldest item first);
    the histories are rows over the same items (no copy, no Python object per user)."""
    _too_short(user_ids, rows.lengths)
    items, ends = rows.items, rows.ends
    train = rows.trimmed(tail=2)
    return Split(
        user_ids=user_ids,
        train=train,
        valid_history=train,
        valid_target=items[ends - 2],
        test_history=rows.trimmed(tail=1),
        test_target=items[ends - 1],
    )


def _is_id_vector(value) -> bool:
    """True for a 1-D integer array (a ``user_ids`` vector), not a list of sequences."""
    array = np.asarray(value) if not isinstance(value, list) else None
    return array is not None and array.ndim == 1 and np.issubdtype(array.dtype, np.integer)


def split_without_cold(split: Split, cold: np.ndarray) -> Split:
    """``split`` with the cold items removed from training sequences and histories (targets kept)."""
    if len(cold) == 0:
        return split
    cold = np.asarray(cold, dtype=np.int64)
    train = split.train.without(cold)
    valid = train if split.valid_history is split.train else split.valid_history.without(cold)
    return Split(user_ids=split.user_ids, train=train, valid_history=valid, valid_target=split.valid_target,
                 test_history=split.test_history.without(cold), test_target=split.test_target)


def project_split(project) -> Split:
    """The split every evaluation of a project uses: leave-one-out of its dataset, with its cold items
    (``project.cold_indices``, see :mod:`genrec_engine.coldstart.holdout`) kept out of training and histories.

    Made once per :class:`~genrec_engine.project.Project` object and shared (several panels ask
    for it when a project opens); read it, never change it.
    Thread-safe."""
    lock = getattr(project, "_split_lock", None)
    if lock is None:  # not a Project (a stand-in): no cache
        return split_without_cold(leave_one_out(project.dataset), project.cold_indices)
    with lock:
        if project._split is None:
            project._split = split_without_cold(leave_one_out(project.dataset), project.cold_indices)
        return project._split
