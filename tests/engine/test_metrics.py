"""Offline metrics against values computed by hand on tiny examples."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from genrec_engine.errors import ConfigError
from genrec_engine.train.metrics import (
    coverage_at_k,
    homogeneity_at_k,
    intra_list_diversity,
    invalid_rate,
    ndcg_at_k,
    popularity_bias,
    popularity_percentiles,
    recall_at_k,
    summarize,
)

RANKED = np.array([[1, 2, 3, -1], [4, 5, 6, 7], [0, 1, -1, -1]])
TARGETS = np.array([3, 9, 0])  # user 0: rank 2; user 1: missed; user 2: rank 0
# first SID token of items 0..7: 0 0 1 0 1 1 2 1
SIDS = np.array([[0, 0], [0, 1], [1, 0], [0, 2], [1, 1], [1, 2], [2, 0], [1, 3]])


def test_recall_and_ndcg_by_hand():
    assert recall_at_k(RANKED, TARGETS, ks=(1, 3, 20)) == pytest.approx(
        {"recall@1": 1 / 3, "recall@3": 2 / 3, "recall@20": 2 / 3}
    )
    ndcg = ndcg_at_k(RANKED, TARGETS, ks=(1, 3))
    assert ndcg["ndcg@1"] == pytest.approx(1 / 3)
    assert ndcg["ndcg@3"] == pytest.approx((1 / math.log2(4) + 1.0) / 3)
    # torch input, and a -1 target never matches the -1 padding
    assert recall_at_k(torch.tensor(RANKED), torch.tensor([-1, -1, -1]), ks=(4,)) == {"recall@4": 0.0}


def test_coverage_by_hand():
    # top-2 lists: {1, 2}, {4, 5}, {0, 1} -> 5 distinct of 10
    assert coverage_at_k(RANKED, n_items=10, k=2) == pytest.approx(0.5)
    # top-4: 1 2 3 4 5 6 7 0 -> 8 distinct, -1 ignored
    assert coverage_at_k(RANKED, n_items=8, k=4) == pytest.approx(1.0)


def test_homogeneity_by_hand():
    # user 0: tokens 0 1 0 -> 2/3; user 1: 1 1 2 1 -> 3/4; user 2: 0 0 -> 1
    assert homogeneity_at_k(RANKED, SIDS, k=4, level=1) == pytest.approx((2 / 3 + 3 / 4 + 1) / 3)
    # level 2 = full codes (all distinct): each list's largest share is one item
    assert homogeneity_at_k(RANKED, SIDS, k=4, level=2) == pytest.approx((1 / 3 + 1 / 4 + 1 / 2) / 3)
    # users with an empty list are left out
    ranked = np.array([[4, 5], [-1, -1]])
    assert homogeneity_at_k(ranked, SIDS, k=2) == pytest.approx(1.0)
    with pytest.raises(ConfigError):
        homogeneity_at_k(RANKED, SIDS, level=3)


def test_intra_list_diversity_by_hand():
    emb = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.0]])
    # pairs (0,1): 1 - 0 = 1; (0,2) and (1,2): 1 - 1/sqrt(2)
    one = (1.0 + 2 * (1 - 1 / math.sqrt(2))) / 3
    assert intra_list_diversity(np.array([[0, 1, 2, -1]]), emb, k=4) == pytest.approx(one)
    # a single-item list is left out; (0, 3) point the same way: distance 0
    ranked = np.array([[0, 1, 2, -1], [3, -1, -1, -1], [0, 3, -1, -1]])
    assert intra_list_diversity(ranked, torch.tensor(emb), k=4) == pytest.approx((one + 0.0) / 2)


def test_popularity_by_hand():
    counts = np.array([1, 2, 3, 4, 5])
    assert popularity_percentiles(counts).tolist() == pytest.approx([0, 0.25, 0.5, 0.75, 1.0])
    # ties share their average rank
    assert popularity_percentiles([2, 2, 1]).tolist() == pytest.approx([0.75, 0.75, 0.0])
    ranked = np.array([[4, 3], [0, -1]])
    out = popularity_bias(ranked, counts, k=2)
    assert out["popularity@2"] == pytest.approx((1.0 + 0.75 + 0.0) / 3)
    assert out["head_share@2"] == pytest.approx(1 / 3)  # head = ceil(0.2 * 5) = 1 item: item 4


def test_invalid_rate_by_hand():
    assert invalid_rate(np.array([1, 0, 2]), k=5) == pytest.approx(0.2)
    assert invalid_rate([], k=5) == 0.0


def test_summarize_has_every_key_and_is_json():
    emb = np.random.default_rng(0).normal(size=(8, 3))
    out = summarize(
        RANKED, TARGETS, sids=SIDS, n_items=8, item_embeddings=emb, item_counts=np.arange(8), invalid=[0, 1, 0]
    )
    assert set(out) == {
        "recall@5", "recall@10", "recall@20", "ndcg@5", "ndcg@10", "ndcg@20", "coverage@10",
        "homogeneity@10", "ild@10", "popularity@10", "invalid_rate", "users",
    }
    assert out["users"] == 3 and out["recall@5"] == pytest.approx(2 / 3)
    assert out["invalid_rate"] == pytest.approx(1 / 12)
    assert out["coverage@10"] == pytest.approx(1.0)
    json.dumps(out, allow_nan=False)
    bare = summarize(RANKED, TARGETS, sids=SIDS, n_items=8)
    assert bare["ild@10"] is None and bare["popularity@10"] is None and bare["invalid_rate"] is None


def test_prefix_ids_group_rows_as_unique_does():
    """Homogeneity groups items by SID prefix through one integer per row (mixed radix), or
    np.unique's labels when that number could overflow: the same groups either way."""
    import numpy as np

    from genrec_engine.train.metrics import _prefix_ids

    rng = np.random.default_rng(0)
    for cols in (rng.integers(0, 7, (500, 3)), rng.integers(0, 2**40, (300, 2))):  # small codes; an overflowing radix
        ids = _prefix_ids(cols)
        labels = np.unique(cols, axis=0, return_inverse=True)[1].reshape(-1)
        same_ids = ids[:, None] == ids[None, :]
        same_rows = labels[:, None] == labels[None, :]
        assert np.array_equal(same_ids, same_rows)


def test_pad_histories_keeps_the_newest_items_right_aligned():
    """Histories of any length (empty, shorter, longer than max_len; lists, arrays, tensors) become
    rows of ``index + 1`` right-aligned, 0 padding on the left, as a row-by-row copy makes them."""
    import numpy as np
    import torch

    from genrec_engine.models import pad_histories

    def by_row(histories, max_len):
        out = torch.zeros(len(histories), max_len, dtype=torch.long)
        for r, h in enumerate(histories):
            h = list(h)[-max_len:]
            if h:
                out[r, max_len - len(h):] = torch.as_tensor(h, dtype=torch.long) + 1
        return out

    rng = np.random.default_rng(0)
    assert pad_histories([[4, 5, 6]], 2).tolist() == [[6, 7]]
    assert pad_histories([[], [3]], 3).tolist() == [[0, 0, 0], [0, 0, 4]]
    assert pad_histories([], 4).shape == (0, 4)
    cases = [[np.array([5]), [], np.arange(100), [7, 8], torch.tensor([3, 4, 5])],
             [rng.integers(0, 1000, rng.integers(0, 80)) for _ in range(300)]]
    for histories in cases:
        for max_len in (1, 3, 50):
            assert torch.equal(pad_histories(histories, max_len), by_row(histories, max_len))
