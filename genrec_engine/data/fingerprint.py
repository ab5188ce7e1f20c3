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
    """The fingerprint of a :class:`~genrec_engine.data.Dataset` (see the module docstring)."""
    users, seqs = dataset.sequences()
    ids = dataset.catalogue.item_ids
    h = hashlib.sha256()
    for u, s in zip(users.tolist(), seqs):
        h.update(np.asarray([u, len(s)], dtype="<i8").tobytes())
        h.update(np.asarray(ids[s], dtype="<i8").tobytes())
    return {"users": int(dataset.n_users), "items": int(dataset.n_items),
            "interactions": int(dataset.n_interactions), "split_sha256": h.hexdigest()}
