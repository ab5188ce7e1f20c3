"""Argument checks shared by the decoders; each raises :class:`~genrec_engine.errors.ConfigError`
naming the offending argument."""
from __future__ import annotations

from typing import Any

import torch

from ..errors import ConfigError, check_int
from ..index.trie import PrefixTrie
from ..models.base import GenerativeModel

__all__ = ["check_int", "check_model", "check_history", "check_positive"]


def check_positive(name: str, value: Any, *, allow_zero: bool) -> float:
    """``value`` as a finite float ``> 0`` (or ``>= 0`` with ``allow_zero``)."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = float("nan")
    if x != x or x in (float("inf"), float("-inf")) or x < 0 or (x == 0 and not allow_zero):
        raise ConfigError(f"{name}: {value!r} must be a finite number {'>=' if allow_zero else '>'} 0")
    return x


def check_model(model: GenerativeModel, trie: PrefixTrie | None) -> tuple[int, tuple[int, ...]]:
    """``(depth, level_sizes)`` of a generator, checked against the trie's levels when given."""
    try:
        depth = int(model.depth)
        sizes = tuple(int(k) for k in model.level_sizes)
    except AttributeError as exc:
        raise ConfigError(f"model: {type(model).__name__} does not speak the generator protocol ({exc})") from None
    if len(sizes) != depth:
        raise ConfigError(f"model: depth {depth} but level_sizes {sizes} has {len(sizes)} levels")
    if trie is not None and tuple(trie.level_sizes) != sizes:
        raise ConfigError(f"trie: level_sizes {tuple(trie.level_sizes)} differ from the model's {sizes}")
    return depth, sizes


def check_history(history) -> torch.Tensor:
    """``history`` as an int64 ``[B, T]`` tensor (item index + 1, left-padded)."""
    if not isinstance(history, torch.Tensor):
        history = torch.as_tensor(history, dtype=torch.long)
    if history.ndim != 2:
        raise ConfigError(f"history: expected a 2-D LongTensor [B, T], got shape {tuple(history.shape)}")
    return history.long()
