"""The synthetic catalogue (``genrec data synth``): a valid 5-core dataset folder with a category
tree, brands, power-law popularity, users that drift between interests, and embeddings that carry
the hierarchy; seeded and deterministic."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from genrec_engine.cli import main as cli_main
from genrec_engine.data import load_dataset
from genrec_engine.data.synth import synth_dataset


def test_a_synthetic_catalogue_is_a_realistic_5_core_dataset(tmp_path, capsys):
    out = tmp_path / "synth"
    assert cli_main(["data", "synth", str(out), "--items", "3000", "--users", "4000", "--seed", "7", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    ds = load_dataset(out)  # the normal dataset format, validated
    assert ds.n_items == summary["items"] == 3000 and ds.n_users == summary["users"] > 3600
    frame = ds.interactions.frame
    assert frame.groupby("user_id").size().min() >= 5 and frame.groupby("item_id").size().min() >= 5
    assert not frame.duplicated(["user_id", "item_id"]).any()  # no repeats
    items = ds.catalogue.items
    paths = items["categories"].str.split(" > ")
    assert (paths.str.len() == 3).all() and items["categories"].nunique() > 100 and items["brand"].nunique() >= 20
    assert items["title"].str.split().str.len().min() >= 5  # brand, 3-5 words, model number
    # popularity is heavy-tailed: the top 1 % of items hold far more than 1 % of the interactions
    counts = frame["item_id"].value_counts().to_numpy()
    assert counts[: len(counts) // 100].sum() > 0.05 * counts.sum()
    # users drift between a few interests: several leaves per user, but far fewer than items
    leaf_of = dict(zip(items["item_id"], items["categories"]))
    leaves = frame.assign(leaf=frame["item_id"].map(leaf_of)).groupby("user_id")["leaf"].nunique()
    assert 1.5 < leaves.mean() < 3.5
    # embeddings: one row per item in item-id order, float16, unit length, items of a leaf close
    emb = np.load(out / "embeddings.npy")
    assert emb.shape == (3000, 64) and emb.dtype == np.float16
    e = emb.astype(np.float32)
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=2e-3)
    order = np.argsort(items["item_id"].to_numpy())
    cats = items["categories"].to_numpy()[order]
    same = cats[:, None] == cats[None, :500]
    sims = e @ e[:500].T
    assert sims[same].mean() > sims[~same].mean() + 0.3
    # seeded: the same arguments give the same files
    again = synth_dataset(tmp_path / "again", items=3000, users=4000, seed=7)
    assert again["interactions"] == summary["interactions"]
    assert (tmp_path / "again" / "embeddings.npy").read_bytes() == (out / "embeddings.npy").read_bytes()
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "again" / "interactions.parquet"),
                                  pd.read_parquet(out / "interactions.parquet"))
