"""PrefixTrie checked against a brute-force set-of-prefixes reference (hypothesis, derandomized)."""
from __future__ import annotations

from collections import Counter

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genrec_engine.errors import ConfigError
from genrec_engine.index import PrefixTrie, bench_trie

SETTINGS = settings(
    derandomize=True,  # seeded: the same examples on every run
    deadline=None,
    max_examples=200,
    suppress_health_check=[HealthCheck.too_slow],
)


# ---------------------------------------------------------------------- brute-force reference


def ref_counts(live: dict[int, tuple[int, ...]]) -> Counter:
    """Live items under every prefix (all lengths 0..D) of the live codes."""
    counts: Counter = Counter()
    for code in live.values():
        for length in range(len(code) + 1):
            counts[code[:length]] += 1
    return counts


def assert_matches(trie: PrefixTrie, live: dict[int, tuple[int, ...]]) -> None:
    """Every query of ``trie`` agrees with the brute force over ``live`` (item -> code)."""
    sizes = trie.level_sizes
    depth = trie.depth
    counts = ref_counts(live)
    assert trie.num_items == len(live)
    if not live:
        counts[()] = 0

    for level in range(depth + 1):
        n = trie.num_nodes(level)
        nodes = torch.arange(n)
        prefixes = [trie.prefix_of(level, node) for node in range(n)]
        assert len(set(prefixes)) == n, "two node ids share a prefix"
        live_prefixes = {p for p in prefixes if counts.get(p, 0) > 0}
        assert live_prefixes == {p for p in counts if len(p) == level and counts[p] > 0}
        assert trie.num_live_nodes(level) == len(live_prefixes)

        # counts and lookup
        got_counts = trie.count(level, nodes).tolist()
        assert got_counts == [counts.get(p, 0) for p in prefixes]
        for node, p in enumerate(prefixes):
            assert trie.lookup(p) == (node if counts.get(p, 0) > 0 else -1)

        # items_under and children
        for node, p in enumerate(prefixes):
            want = sorted(i for i, c in live.items() if c[:level] == p)
            assert trie.items_under(level, node).tolist() == want
            if level < depth:
                kids = trie.children(level, node)
                assert [t for t, _, _ in kids] == sorted(
                    t for t in range(sizes[level]) if counts.get(p + (t,), 0) > 0
                )
                for t, child, cnt in kids:
                    assert trie.prefix_of(level + 1, child) == p + (t,)
                    assert cnt == counts[p + (t,)]

        if level == depth:
            by_code = {c: i for i, c in live.items()}
            want_items = [by_code.get(p, -1) for p in prefixes]
            assert trie.item_at_leaf(nodes).tolist() == want_items
            continue

        # allowed masks, including a -1 (finished beam) row
        k = sizes[level]
        mask = trie.allowed(level, torch.cat([nodes, torch.tensor([-1])]))
        assert mask.dtype == torch.bool and mask.shape == (n + 1, k)
        want_mask = [[counts.get(p + (t,), 0) > 0 for t in range(k)] for p in prefixes]
        assert mask[:n].tolist() == want_mask
        assert not mask[n].any()

        # step over every (node, token) pair plus out-of-range tokens and -1 nodes
        grid_nodes = nodes.repeat_interleave(k + 2)
        grid_tokens = torch.arange(-1, k + 1).repeat(n)
        got = trie.step(level, grid_nodes, grid_tokens).tolist()
        want = []
        for node, tok in zip(grid_nodes.tolist(), grid_tokens.tolist()):
            child_prefix = prefixes[node] + (tok,)
            ok = 0 <= tok < k and counts.get(child_prefix, 0) > 0
            want.append(trie.lookup(child_prefix) if ok else -1)
        assert got == want
        assert trie.step(level, torch.tensor([-1]), torch.tensor([0])).tolist() == [-1]

    for item, code in live.items():
        assert trie.code_of_item(item) == code
        assert item in trie


# ---------------------------------------------------------------------- strategies


@st.composite
def code_sets(draw, max_items: int = 25):
    depth = draw(st.integers(1, 4))
    # 9 and 17 exercise multi-byte packed rows and a K that is not a multiple of 8
    size = st.sampled_from([1, 2, 3, 5, 8, 9, 17])
    sizes = tuple(draw(st.lists(size, min_size=depth, max_size=depth)))
    code = st.tuples(*[st.integers(0, k - 1) for k in sizes])
    codes = draw(st.lists(code, unique=True, max_size=max_items))
    return sizes, codes, code


def build(sizes, codes) -> PrefixTrie:
    arr = np.array(codes, dtype=np.int64).reshape(len(codes), len(sizes))
    return PrefixTrie.from_codes(arr, sizes)


# ---------------------------------------------------------------------- properties


@SETTINGS
@given(code_sets())
def test_build_matches_brute_force(case):
    sizes, codes, _ = case
    trie = build(sizes, codes)
    assert trie.depth == len(sizes) and trie.level_sizes == sizes
    assert_matches(trie, dict(enumerate(codes)))


@SETTINGS
@given(st.data())
def test_inserts_and_removals_match_brute_force(data):
    sizes, codes, code_st = data.draw(code_sets(max_items=12))
    trie = build(sizes, codes)
    live = dict(enumerate(codes))
    next_item = len(codes) + 3  # leave a gap: item indices need not be contiguous
    ops = data.draw(
        st.lists(
            st.one_of(
                st.tuples(st.just("insert"), code_st),
                st.tuples(st.just("remove"), st.integers(0, 1000)),
                st.tuples(st.just("reinsert"), st.integers(0, 1000)),
            ),
            max_size=20,
        )
    )
    removed: dict[int, tuple[int, ...]] = {}
    for op, arg in ops:
        if op == "insert":
            if arg in live.values():
                with pytest.raises(ConfigError, match="already belongs"):
                    trie.insert(next_item, arg)
            else:
                trie.insert(next_item, arg)
                live[next_item] = arg
            next_item += 1
        elif op == "remove":
            if not live:
                with pytest.raises(KeyError):
                    trie.remove(arg)
                continue
            item = sorted(live)[arg % len(live)]
            trie.remove(item)
            removed[item] = live.pop(item)
            with pytest.raises(KeyError):
                trie.remove(item)
        else:  # put a removed item back under its old code (revives dead nodes)
            if not removed:
                continue
            item = sorted(removed)[arg % len(removed)]
            code = removed.pop(item)
            if code in live.values():
                with pytest.raises(ConfigError):
                    trie.insert(item, code)
            else:
                trie.insert(item, code)
                live[item] = code
        assert_matches(trie, live)


# ---------------------------------------------------------------------- examples


def test_removed_item_path_is_masked_and_revived():
    sizes = (4, 4, 2)
    codes = np.array([[0, 1, 0], [0, 1, 1], [2, 3, 0], [3, 0, 1]])
    trie = PrefixTrie.from_codes(codes, sizes)
    node1, node2 = trie.lookup((2,)), trie.lookup((2, 3))
    nodes_before = [trie.num_nodes(level) for level in range(4)]

    trie.remove(2)  # the only item under prefix (2,)
    assert trie.allowed(0, torch.tensor([0])).tolist() == [[True, False, False, True]]
    assert not trie.allowed(1, torch.tensor([node1])).any()  # whole subtree is dead
    assert not trie.allowed(2, torch.tensor([node2])).any()
    assert trie.step(0, torch.tensor([0]), torch.tensor([2])).tolist() == [-1]
    assert trie.count(1, torch.tensor([node1])).tolist() == [0]
    assert trie.lookup((2,)) == -1 and trie.lookup((2, 3, 0)) == -1
    assert trie.items_under(1, node1).size == 0
    assert trie.prefix_of(2, node2) == (2, 3)  # dead nodes keep their ids and prefixes
    assert trie.num_items == 3 and 2 not in trie

    trie.insert(9, (2, 3, 0))  # a new item takes the dead code: nodes are revived, not appended
    assert [trie.num_nodes(level) for level in range(4)] == nodes_before
    assert trie.lookup((2, 3)) == node2
    assert trie.items_under(0, 0).tolist() == [0, 1, 3, 9]
    leaf = trie.lookup((2, 3, 0))
    assert trie.item_at_leaf(torch.tensor([leaf, -1])).tolist() == [9, -1]


def test_empty_trie_then_insert():
    trie = PrefixTrie.from_codes(np.zeros((0, 2), dtype=np.int64), (3, 3))
    assert trie.num_items == 0 and len(trie) == 0
    assert not trie.allowed(0, torch.tensor([0])).any()
    assert trie.step(0, torch.tensor([0]), torch.tensor([1])).tolist() == [-1]
    trie.insert(0, (1, 2))
    assert_matches(trie, {0: (1, 2)})


def test_duplicate_codes_raise_naming_items_and_code():
    codes = np.array([[0, 1], [1, 1], [0, 1]])
    with pytest.raises(ConfigError, match=r"items 0 and 2 share the full code \(0, 1\)"):
        PrefixTrie.from_codes(codes, (2, 2))


@pytest.mark.parametrize(
    "codes, sizes, pattern",
    [
        (np.array([[0, 3]]), (2, 3), r"item 0 has token 3 at level 1.*\[0, 3\)"),
        (np.array([[0, 0], [-1, 0]]), (2, 3), r"item 1 has token -1 at level 0"),
        (np.array([0, 1]), (2, 3), r"codes: expected a 2-D array"),
        (np.array([[0, 1, 0]]), (2, 3), r"codes: has 3 columns but level_sizes has 2"),
        (np.array([[0.0, 1.0]]), (2, 3), r"codes: dtype float64"),
        (np.array([[0, 1]]), (2, 0), r"level_sizes\[1\]: 0 must be >= 1"),
        (np.array([[0, 1]]), (2, True), r"level_sizes\[1\]"),
        (np.zeros((1, 0), dtype=int), (), r"level_sizes: must name at least one level"),
    ],
)
def test_bad_input_raises_config_error(codes, sizes, pattern):
    with pytest.raises(ConfigError, match=pattern):
        PrefixTrie.from_codes(codes, sizes)


def test_edit_errors():
    trie = PrefixTrie.from_codes(np.array([[0, 1], [1, 0]]), (2, 2))
    with pytest.raises(KeyError):
        trie.remove(5)
    with pytest.raises(ConfigError, match="item 0 is already in the trie"):
        trie.insert(0, (1, 1))
    with pytest.raises(ConfigError, match=r"\(1, 0\) already belongs to item 1"):
        trie.insert(7, (1, 0))
    with pytest.raises(ConfigError, match="code: .* has length 1"):
        trie.insert(7, (1,))
    with pytest.raises(ConfigError, match="token 2 at level 1"):
        trie.insert(7, (1, 2))
    with pytest.raises(ConfigError, match="item_index: -1"):
        trie.insert(-1, (1, 1))
    with pytest.raises(ConfigError, match="prefix: .* has length 3"):
        trie.lookup((0, 0, 0))
    with pytest.raises(ConfigError, match="level: 2"):
        trie.allowed(2, torch.tensor([0]))
    with pytest.raises(ConfigError, match="node: 5"):
        trie.prefix_of(1, 5)
    assert trie.num_items == 2  # failed edits change nothing
    assert_matches(trie, {0: (0, 1), 1: (1, 0)})


def test_copy_is_independent():
    trie = PrefixTrie.from_codes(np.array([[0, 1], [1, 0]]), (2, 2))
    snap = trie.copy()
    trie.remove(0)
    trie.insert(4, (1, 1))
    assert_matches(snap, {0: (0, 1), 1: (1, 0)})
    assert_matches(trie, {1: (1, 0), 4: (1, 1)})


def random_trie(n=300, sizes=(8, 6, 10), seed=0):
    rng = np.random.default_rng(seed)
    space = int(np.prod(sizes))
    keys = rng.choice(space, size=n, replace=False)
    codes = np.stack(np.unravel_index(keys, sizes), axis=1)
    return PrefixTrie.from_codes(codes, sizes), codes


def test_networkx_export_leaves_and_counts():
    trie, codes = random_trie()
    trie.remove(7)
    graph = trie.to_networkx()
    depth = trie.depth
    leaves = [n for n, d in graph.nodes(data=True) if d["level"] == depth]
    assert len(leaves) == len(codes) - 1
    assert graph.nodes[()]["count"] == len(codes) - 1
    assert tuple(codes[7]) not in graph
    for node, attrs in graph.nodes(data=True):
        assert attrs["code"] == "-".join(map(str, node))
        kids = list(graph.successors(node))
        if attrs["level"] < depth:
            assert attrs["count"] == sum(graph.nodes[k]["count"] for k in kids)
        else:
            assert attrs["count"] == 1 and not kids
            assert tuple(codes[attrs["item"]]) == node
    assert nx.is_arborescence(graph)

    shallow = trie.to_networkx(max_depth=1)
    assert max(d["level"] for _, d in shallow.nodes(data=True)) == 1
    assert sum(d["count"] for _, d in shallow.nodes(data=True) if d["level"] == 1) == len(codes) - 1
    with pytest.raises(ConfigError, match="max_depth"):
        trie.to_networkx(max_depth=depth + 1)


def test_graphml_written_atomically_and_readable(tmp_path):
    trie, codes = random_trie(n=50)
    out = tmp_path / "sub" / "trie.graphml"
    trie.write_graphml(out, max_depth=2)
    assert [p.name for p in out.parent.iterdir()] == ["trie.graphml"]  # no temp file left
    graph = nx.read_graphml(out)
    assert graph.number_of_nodes() == trie.to_networkx(max_depth=2).number_of_nodes()
    root = graph.nodes[str(())]
    assert int(root["count"]) == len(codes) and int(root["level"]) == 0


def test_list_and_int32_inputs_are_accepted():
    trie, _ = random_trie(n=40)
    a = trie.allowed(1, torch.tensor([0, 1, 2], dtype=torch.int32))
    b = trie.allowed(1, [0, 1, 2])
    assert torch.equal(a, b)
    with pytest.raises(ConfigError, match="nodes: expected a 1-D"):
        trie.allowed(1, torch.zeros(2, 2, dtype=torch.long))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_queries_match_cpu():
    trie, _ = random_trie(n=500, sizes=(8, 9, 17))
    gpu = trie.copy().to("cuda")
    for level in range(trie.depth):
        nodes = torch.arange(-1, trie.num_nodes(level))
        tokens = torch.arange(nodes.numel()) % trie.level_sizes[level]
        assert torch.equal(trie.allowed(level, nodes), gpu.allowed(level, nodes.cuda()).cpu())
        on_gpu = gpu.step(level, nodes.cuda(), tokens.cuda()).cpu()
        assert torch.equal(trie.step(level, nodes, tokens), on_gpu)
        assert torch.equal(trie.count(level, nodes), gpu.count(level, nodes.cuda()).cpu())
    for t in (trie, gpu):
        t.remove(3)
        if t.lookup((7, 8, 16)) == -1:
            t.insert(1000, (7, 8, 16))
    for level in range(trie.depth):
        nodes = torch.arange(trie.num_nodes(level))
        assert torch.equal(trie.allowed(level, nodes), gpu.allowed(level, nodes.cuda()).cpu())


def test_bench_trie_smoke():
    result = bench_trie(n_items=2000, depth=3, codebook_size=16, batch=64, repeats=2)
    want = {"build_seconds", "mask_ms_per_batch", "step_ms_per_batch", "masks_per_second"}
    assert set(result) >= want
    assert result["build_seconds"] > 0 and result["masks_per_second"] > 0
    assert len(result["mask_ms_by_level"]) == 3
