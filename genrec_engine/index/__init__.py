"""Prefix index over semantic IDs: the trie that constrains beam search to valid item codes."""
from __future__ import annotations

from .bench import bench_trie
from .trie import PrefixTrie

__all__ = ["PrefixTrie", "bench_trie"]
