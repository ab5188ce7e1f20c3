"""A dataset's fingerprint: what a figure or an exported SID table was made on.

``{"users", "items", "interactions", "split_sha256"}``. The split hash is the SHA-256 of every
user's id and item-id sequence in chronological order, users ascending; the leave-one-out split is a
function of exactly that (valid and test are each user's last two items), so two datasets with the
same hash give the same train, valid and test sets. Item ids, not catalogue rows, are hashed, so
reordering the items file changes nothing.
"""
from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["dataset_fingerprint"]


def dataset_fingerprint(dataset) -> dict:
    """The fingerprint of a :class:`~genrec_engine.data.Dataset` (see the module docstring).

    The hashed bytes are, per user, ``[user id, length]`` then the item ids, all little-endian
    int64; they are laid out in one array and hashed at once (a per-user loop took seconds at
    2M users), which gives the digest the per-user updates gave."""
    users, items, bounds = dataset.offsets()
    ids = np.asarray(dataset.catalogue.item_ids, dtype=np.int64)
    lengths = np.diff(bounds)
    n = len(users)
    stream = np.empty(2 * n + len(items), dtype="<i8")
    head = bounds[:-1] + 2 * np.arange(n, dtype=np.int64)  # where each user's [id, length] goes
    stream[head] = users
    stream[head + 1] = lengths
    owner = np.repeat(np.arange(n, dtype=np.int64), lengths)  # the user of each interaction
    stream[np.arange(len(items), dtype=np.int64) + 2 * (owner + 1)] = ids[items]
    h = hashlib.sha256(memoryview(stream).cast("B"))
    return {"users": int(n), "items": int(dataset.n_items),
            "interactions": int(dataset.n_interactions), "split_sha256": h.hexdigest()}
