"""Subtree export (CSV rows, GraphML nodes) checked against the SID table of the bundled project."""
from __future__ import annotations

from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from genrec_engine import ConfigError, Project, export_subtree, subtree_graph, subtree_items

PROJECT = Path(__file__).resolve().parents[2] / "resources" / "models" / "beauty-default"


@pytest.fixture(scope="module")
def project():
    return Project.open(PROJECT)


def _busiest_prefix(project, length: int) -> tuple[int, ...]:
    """The prefix of ``length`` codes shared by the most items (a subtree with real branching)."""
    uniq, counts = np.unique(project.sids.codes[:, :length], axis=0, return_counts=True)
    return tuple(int(t) for t in uniq[int(np.argmax(counts))])


def _reference_nodes(codes: np.ndarray, start: int) -> set[tuple[int, ...]]:
    """Every distinct prefix of length ``start..D`` of ``codes`` (brute force)."""
    return {tuple(row[:n]) for row in codes.tolist() for n in range(start, codes.shape[1] + 1)}


def test_csv_rows_are_the_items_under_the_prefix(project, tmp_path):
    prefix = _busiest_prefix(project, 1)
    expected = np.flatnonzero((project.sids.codes[:, :1] == prefix).all(1))
    out = export_subtree(project, prefix, tmp_path / "sub.csv")
    frame = pd.read_csv(tmp_path / "sub.csv", keep_default_na=False)
    assert out.format == "csv" and out.items == len(frame) == len(expected) > 1
    assert sorted(frame["item_index"]) == expected.tolist()
    assert (frame["c0"] == prefix[0]).all()
    assert frame["sid"].str.startswith(f"{prefix[0]}-").all()
    first = int(frame["item_index"].iloc[0])
    row = frame.iloc[0]
    assert row["title"] == project.dataset.catalogue.title(first)
    assert row["item_id"] == project.sids.item_ids[first]
    assert row["sid"] == "-".join(map(str, project.sids.sid(first)))
    # rows come in SID order
    assert frame["sid"].tolist() == sorted(frame["sid"], key=lambda s: tuple(map(int, s.split("-"))))
    assert out.nodes == len(_reference_nodes(project.sids.codes[expected], 2)) + 1


def test_graphml_is_the_subtree_and_readable_by_networkx(project, tmp_path):
    prefix = _busiest_prefix(project, 2)
    under = np.flatnonzero((project.sids.codes[:, :2] == prefix).all(1))
    out = export_subtree(project, prefix, tmp_path / "sub.graphml")
    graph = nx.read_graphml(tmp_path / "sub.graphml")
    want = _reference_nodes(project.sids.codes[under], 3) | {prefix}
    assert out.format == "graphml" and out.nodes == graph.number_of_nodes() == len(want)
    assert out.items == len(under)
    assert graph.number_of_edges() == graph.number_of_nodes() - 1  # a tree
    codes = {data["code"] for _, data in graph.nodes(data=True)}
    assert codes == {"-".join(map(str, p)) for p in want}
    leaves = [d for _, d in graph.nodes(data=True) if d["level"] == project.sids.depth]
    assert sorted(int(d["item"]) for d in leaves) == under.tolist()
    root = next(d for _, d in graph.nodes(data=True) if d["level"] == 2)
    assert int(root["count"]) == len(under)


def test_subtree_graph_counts_match_the_trie(project):
    prefix = _busiest_prefix(project, 1)
    graph = subtree_graph(project, prefix)
    trie = project.trie
    for key, data in graph.nodes(data=True):
        assert data["count"] == len(trie.items_under(len(key), trie.lookup(key)))


def test_whole_tree_and_items_frame(project):
    frame = subtree_items(project, (), popularity=np.arange(project.sids.n_items))
    assert len(frame) == project.sids.n_items
    assert (frame["interactions"] == frame["item_index"]).all()


def test_bad_requests_raise_config_errors(project, tmp_path):
    used = {tuple(r) for r in project.sids.codes[:, :2].tolist()}
    missing = next((a, b) for a in range(256) for b in range(256) if (a, b) not in used)
    with pytest.raises(ConfigError, match="not a node"):
        export_subtree(project, missing, tmp_path / "x.csv")
    with pytest.raises(ConfigError, match="format"):
        export_subtree(project, (), tmp_path / "x.txt")
    with pytest.raises(ConfigError):
        export_subtree(project, (999,), tmp_path / "x.csv")  # token outside the codebook
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "x.txt").exists()
