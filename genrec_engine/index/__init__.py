"""Prefix index over semantic IDs: the trie that constrains beam search to valid item codes."""
from __future__ import annotations

from .trie import PrefixTrie, bench_trie

__all__ = ["PrefixTrie", "bench_trie"]
