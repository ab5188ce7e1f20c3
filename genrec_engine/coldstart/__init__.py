"""Cold start: the hold-out protocol, injecting new items into a live trie, hybrid re-ranking.

- :mod:`.holdout`: a seeded share of items held out of tokenizer fitting and training
  (:func:`project_split` is the split every evaluation of a project uses).
- :mod:`.inject`: :class:`ColdStartSession` edits a private copy of the trie (inject, add, retire).
- :mod:`.hybrid`: LIGER-style hybrid re-ranking and :func:`coldstart_eval`.
"""
from .holdout import apply_cold_holdout, choose_cold_items, project_split, split_without_cold
from .hybrid import (
    DEFAULT_CANDIDATES,
    DEFAULT_COLD_PER_USER,
    DEFAULT_CONTENT_SHARE,
    DEFAULT_MAX_COLD,
    DEFAULT_WEIGHT,
    ContentMap,
    coldstart_eval,
    fit_content_map,
    hybrid_rank,
    hybrid_recommend,
)
from .inject import ColdStartSession, NewItem

__all__ = [
    "apply_cold_holdout", "choose_cold_items", "project_split", "split_without_cold",
    "ColdStartSession", "NewItem", "ContentMap", "fit_content_map", "hybrid_rank", "hybrid_recommend",
    "coldstart_eval", "DEFAULT_WEIGHT", "DEFAULT_CANDIDATES", "DEFAULT_COLD_PER_USER",
    "DEFAULT_CONTENT_SHARE", "DEFAULT_MAX_COLD",
]
