"""Ragged rows (the split's histories as one flat array) against the lists they replace."""
from __future__ import annotations

import numpy as np
import pytest

from genrec_engine.data import Ragged, leave_one_out
from genrec_engine.models.base import pad_histories
from genrec_engine.train.data import next_item_tensors


def _rows(seed=0, n=300):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 50, rng.integers(0, 12)).astype(np.int64) for _ in range(n)]


def test_ragged_behaves_like_its_list():
    rows = _rows()
    r = Ragged.from_rows(rows)
    assert len(r) == len(rows)
    for i in (0, 5, -1, len(rows) - 1):
        np.testing.assert_array_equal(r[i], rows[i])
    assert all(np.array_equal(a, b) for a, b in zip(r, rows))
    pick = np.array([7, 3, 3, 250])
    assert [x.tolist() for x in r[pick]] == [rows[i].tolist() for i in pick]
    assert [x.tolist() for x in r[10:20]] == [x.tolist() for x in rows[10:20]]
    np.testing.assert_array_equal(r.lengths, [len(x) for x in rows])
    with pytest.raises(IndexError):
        r[len(rows)]


@pytest.mark.parametrize("block", [7, 65_536])
def test_whole_array_operations_match_row_by_row(monkeypatch, block):
    from genrec_engine.data import ragged

    monkeypatch.setattr(ragged, "BLOCK_ROWS", block)  # many blocks, or one
    rows = _rows(1)
    r = Ragged.from_rows(rows)
    assert [x.tolist() for x in r.trimmed(head=1, tail=2)] == [x[1:max(1, len(x) - 2)].tolist() for x in rows]
    assert [x.tolist() for x in r.last(3)] == [x[-3:].tolist() if len(x) else [] for x in rows]
    sub = r.trimmed(tail=2)
    np.testing.assert_array_equal(sub.flat(), np.concatenate([x[:-2] if len(x) > 2 else x[:0] for x in rows]))
    drop = np.array([1, 2, 3, 40])
    assert [x.tolist() for x in sub.without(drop)] == [x[~np.isin(x, drop)].tolist() for x in sub]
    ref = np.zeros((len(rows), 5), np.int64)
    for i, x in enumerate(rows):
        tail = x[-5:]
        if len(tail):
            ref[i, 5 - len(tail):] = tail + 1
    np.testing.assert_array_equal(r.pad_left(5, shift=1), ref)
    np.testing.assert_array_equal(pad_histories(r, 5).numpy(), ref)
    np.testing.assert_array_equal(pad_histories(rows, 5).numpy(), ref)  # lists still work


def test_next_item_pairs_match_the_per_user_definition():
    rows = _rows(2)
    H, Y = next_item_tensors(Ragged.from_rows(rows), 4)
    keep = [x[-5:] for x in rows if len(x) >= 2]
    np.testing.assert_array_equal(H.numpy(), pad_histories([x[:-1] for x in keep], 4).numpy())
    np.testing.assert_array_equal(Y.numpy(), pad_histories([x[1:] for x in keep], 4).numpy())
    H2, Y2 = next_item_tensors(rows, 4)  # a plain list gives the same
    assert H.equal(H2) and Y.equal(Y2)


def test_leave_one_out_rows_are_the_sequences_cut():
    seqs = [r for r in _rows(3) if len(r) >= 3]
    split = leave_one_out(seqs)
    assert isinstance(split.train, Ragged) and split.valid_history is split.train
    for s, tr, te in zip(seqs, split.train, split.test_history):
        assert tr.tolist() == s[:-2].tolist() and te.tolist() == s[:-1].tolist()
    np.testing.assert_array_equal(split.test_target, [s[-1] for s in seqs])
