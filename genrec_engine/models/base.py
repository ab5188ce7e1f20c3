"""The one generator protocol every Stage-2 model speaks, so one beam search drives them all.

Item indices are catalogue rows ``0..N-1``; in tensors fed to models they are shifted by one so
that ``0`` is padding: ``history [B, T]`` int64 holds ``item_index + 1``, **left-padded** (the
most recent item is always in the last column).

A generative model decodes the next item's SID level by level::

    state = model.start(history)                 # runs the sequence encoder once, B rows
    logp = model.next_logits(state, prefix)      # prefix [R, l] int64 SID tokens chosen so far
                                                 # -> [R, level_sizes[l]] log-probabilities
    state = state.select(rows)                   # reorder/expand rows (beam bookkeeping)

``next_logits`` is called with ``l = 0, 1, ..., depth - 1``; row r of ``prefix`` belongs to row r
of ``state``. Models may cache per-row work inside the state (it is selected with the rows).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch

__all__ = ["DecodeState", "GenerativeModel", "pad_histories"]


@dataclass
class DecodeState:
    """Per-row tensors of a decode; ``select`` gathers every tensor along dim 0.

    ``tensors`` holds row-aligned tensors (first dim = rows); ``shared`` holds anything that
    does not depend on the row (e.g. an encoder's key padding mask is per row, so it goes in
    ``tensors``; a cache dict of per-level tensors goes in ``tensors`` too under its own keys).
    """

    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    shared: dict[str, Any] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return next(iter(self.tensors.values())).shape[0]

    def select(self, rows: torch.Tensor) -> "DecodeState":
        return DecodeState({k: v.index_select(0, rows) for k, v in self.tensors.items()}, dict(self.shared))


@runtime_checkable
class GenerativeModel(Protocol):
    depth: int  # SID length D, collision level included
    level_sizes: tuple[int, ...]  # vocabulary per level

    def start(self, history: torch.Tensor, instruction: torch.Tensor | None = None) -> DecodeState: ...

    def next_logits(self, state: DecodeState, prefix: torch.Tensor) -> torch.Tensor: ...


def pad_histories(histories, max_len: int, device=None) -> torch.Tensor:
    """Left-pad lists of item indices into ``[B, max_len]`` int64 of ``index + 1`` (0 = pad),
    keeping the most recent ``max_len`` items. ``histories``: a
    :class:`~genrec_engine.data.ragged.Ragged` or a list of sequences (lists, arrays, tensors).

    The rows are scattered by NumPy (a per-row list and tensor took ~2 s of GIL-holding Python for
    2M users)."""
    from ..data.ragged import as_ragged

    out = as_ragged(histories).pad_left(max_len, shift=1)
    t = torch.from_numpy(out)
    return t.to(device) if device is not None else t
