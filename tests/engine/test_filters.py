"""Per-request filters (a trie mask at decode time) and interest groups of a history."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from genrec_engine import Catalogue, ConfigError, ItemFilter, PrefixTrie, Project, interest_groups, recommend
from genrec_engine.cli import main as cli_main
from genrec_engine.decode import beam_search, sample

from .test_decode import HIST, SETTINGS, SIZES, TableModel, live, random_catalogue

DEFAULT = Path(__file__).resolve().parents[2] / "resources" / "models" / "beauty-default"


def _catalogue():
    return Catalogue(pd.DataFrame({
        "item_id": [10, 11, 12, 13],
        "title": ["Red polish", "Cleanser", "Blue polish", "Shampoo"],
        "brand": ["OPI", "CeraVe", "Essie", "OPI"],
        "categories": ["Beauty > Makeup > Nails > Nail Polish", "Beauty > Skin Care > Face > Cleansers",
                       "Beauty > Makeup > Nails > Nail Polish", "Beauty > Hair Care > Shampoos"],
    }))


def test_item_filter_lists_combine():
    cat = _catalogue()
    assert ItemFilter().empty and not ItemFilter().blocked_mask(cat).any()
    assert ItemFilter(allow_categories=("nail polish",)).blocked_items(cat) == {1, 3}
    assert ItemFilter(allow_categories=("Nail Polish",), block_brands=("opi",)).blocked_items(cat) == {0, 1, 3}
    assert ItemFilter(block_categories=("Makeup",)).blocked_items(cat) == {0, 2}  # a middle path component
    assert ItemFilter(allow_brands=("CeraVe", "Essie")).blocked_items(cat) == {0, 3}
    assert ItemFilter(allow_items=(10, 13), block_items=(13,)).blocked_items(cat) == {1, 2, 3}
    for bad, what in ((ItemFilter(block_items=(99,)), "block item"), (ItemFilter(allow_brands=("Nope",)), "allow brand"),
                      (ItemFilter(block_categories=("Nailz",)), "block category")):
        with pytest.raises(ConfigError, match=what):
            bad.blocked_mask(cat)


@SETTINGS
@given(seed=st.integers(0, 1000), n_block=st.integers(0, 25), mode=st.sampled_from(["beam", "diverse", "sample"]))
def test_blocked_items_are_never_returned(seed, n_block, mode):
    codes = random_catalogue(seed, 30)
    trie = PrefixTrie.from_codes(codes, SIZES)
    model = TableModel(SIZES, seed=seed)
    blocked = set(np.random.default_rng(seed).choice(30, size=n_block, replace=False).tolist())
    excl = [blocked] * HIST.shape[0]
    if mode == "beam":
        res = beam_search(model, HIST, trie=trie, beam=10, k=5, exclude=excl)
    elif mode == "diverse":
        res = beam_search(model, HIST, trie=trie, beam=10, k=5, exclude=excl, diverse_groups=2, diversity_penalty=2.0)
    else:
        res = sample(model, HIST, trie=trie, k=5, exclude=excl, generator=torch.Generator().manual_seed(seed))
    for b in range(HIST.shape[0]):
        got = live(res, b)
        assert not set(got) & blocked
        if mode != "diverse":  # beam and sampling fill the list whenever enough items are allowed
            assert len(got) == min(5, 30 - n_block)


@pytest.mark.parametrize("kind", ["ran", "sasrec"])
def test_recommend_honours_filters_on_the_bundled_project(kind):
    proj = Project.open(DEFAULT)
    cat = proj.dataset.catalogue
    history = [int(i) for i in cat.item_ids[:3]]
    plain = recommend(proj, kind, history, k=10)
    top_brand = cat.items["brand"].iat[cat.index_of([plain["items"][0]["item_id"]])[0]]
    blocked_id = plain["items"][1]["item_id"]
    filt = ItemFilter(block_brands=(top_brand,), block_items=(blocked_id,), allow_categories=("Beauty",))
    out = recommend(proj, kind, history, k=10, filters=filt)
    assert len(out["items"]) == 10
    got = cat.index_of([r["item_id"] for r in out["items"]])
    assert blocked_id not in [r["item_id"] for r in out["items"]]
    assert not (cat.items["brand"].to_numpy()[got] == top_brand).any() or top_brand == ""
    nails = recommend(proj, kind, history, k=10, filters=ItemFilter(allow_categories=("Nail Polish",)))
    idx = cat.index_of([r["item_id"] for r in nails["items"]])
    assert len(idx) == 10 and all("Nail Polish" in cat.items["categories"].iat[i] for i in idx)


def test_interest_groups_by_prefix():
    codes = np.array([[1, 5, 0], [1, 6, 0], [2, 5, 0], [1, 5, 1]])
    groups = interest_groups(codes, [0, 2, 1, 3, 2], titles=lambda i: f"t{i}", depth=1)
    assert [(g.prefix, g.size, g.recency) for g in groups] == [((1,), 3, 1), ((2,), 2, 0)]
    assert groups[0].titles == ("t3", "t1", "t0") and groups[1].titles == ("t2",)
    deeper = interest_groups(codes, [0, 1, 3], depth=2)
    assert [(g.prefix, g.items) for g in deeper] == [((1, 5), (0, 3)), ((1, 6), (1,))]
    with pytest.raises(ConfigError):
        interest_groups(codes, [0], depth=4)


def test_cli_recommend_json_has_interests_and_filters(capsys):
    proj = Project.open(DEFAULT)
    ids = ",".join(str(i) for i in proj.sids.item_ids[:4])
    code = cli_main(["recommend", "--project", str(DEFAULT), "--model", "ran", "--history", ids,
                     "--block-category", "Nail Polish", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["filters"] == {"block_categories": ["Nail Polish"]}
    assert sum(g["size"] for g in out["interests"]) == 4
    cat = proj.dataset.catalogue
    assert all("Nail Polish" not in cat.items["categories"].iat[i] for i in cat.index_of([r["item_id"] for r in out["items"]]))
    code = cli_main(["recommend", "--project", str(DEFAULT), "--model", "ran", "--history", ids, "--allow-brand", "Nobrandatall"])
    assert code == 1 and "allow brand" in capsys.readouterr().err
