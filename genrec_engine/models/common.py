"""Building blocks shared by the sequence models: a causal Transformer backbone and config I/O."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError

__all__ = ["CausalBackbone", "ConfigIO", "TrieNodeVectors", "config_from_dict", "check_positive"]


def check_positive(cfg, *names: str) -> None:
    for n in names:
        v = getattr(cfg, n)
        if not isinstance(v, int) or v < 1:
            raise ConfigError(f"{n}={v!r}: must be a positive integer")


# the range a numeric setting may take (inclusive; floats may not reach an open end marked by None)
FIELD_BOUNDS = {
    "d_model": (1, 4096), "n_layers": (1, 64), "n_enc_layers": (1, 64), "n_dec_layers": (1, 64),
    "n_heads": (1, 64), "d_ff": (1, 65536), "max_len": (1, 4096), "max_items": (1, 4096), "node_levels": (0, 16),
    "dropout": (0.0, 0.99), "aln_weight": (0.0, 1000.0), "instruct_weight": (0.0, 1000.0),
}


def config_from_dict(cls, d: dict):
    """Build config dataclass ``cls`` from ``d``: unknown fields, values of the wrong type (an
    integer field given text, a float, or a bool) and numbers outside :data:`FIELD_BOUNDS` are
    refused with ConfigError naming the field, before any model is sized from them."""
    if not isinstance(d, dict):
        raise ConfigError(f"{cls.__name__}: expected a JSON object of settings, found {type(d).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - set(fields))
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} field(s): {', '.join(unknown)}")
    for name, value in d.items():
        default = fields[name].default
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        elif isinstance(default, str):
            ok = isinstance(value, str)
        else:
            ok = True
        if not ok:
            raise ConfigError(f"{name}: {value!r} is not {type(default).__name__ if default is not None else 'valid'}")
        if name in FIELD_BOUNDS and not isinstance(value, bool) and isinstance(value, (int, float)):
            lo, hi = FIELD_BOUNDS[name]
            if not lo <= value <= hi:
                raise ConfigError(f"{name}: {value} is outside {lo}..{hi}")
    return cls(**d)


class ConfigIO:
    """JSON round trip for frozen config dataclasses (unknown fields are refused by name)."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict):
        return config_from_dict(cls, d)


class CausalBackbone(nn.Module):
    """Pre-LN causal Transformer over ``[B, T, d]`` inputs with learned positions.

    Inputs are left-padded; ``pad [B, T]`` is True at padding. Position embeddings count from the
    right so the most recent item always gets the same position. Output ``[B, T, d]``: row t
    summarises items ``<= t``.
    """

    def __init__(self, d_model: int, n_layers: int, n_heads: int, max_len: int, dropout: float):
        super().__init__()
        if d_model % n_heads:
            raise ConfigError(f"d_model={d_model} must be a multiple of n_heads={n_heads}")
        self.pos = nn.Embedding(max_len, d_model)
        nn.init.normal_(self.pos.weight, std=0.02)  # small, so positions do not drown the item inputs
        layer = nn.TransformerEncoderLayer(
            d_model, n_heads, dim_feedforward=4 * d_model, dropout=dropout, batch_first=True, norm_first=True,
            activation="gelu",
        )
        self.layers = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.drop = nn.Dropout(dropout)
        self.max_len = max_len
        self.n_heads = n_heads

    def forward(self, x: torch.Tensor, pad: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        """``extra [B, d]``: one more token after the last position (an instruction), without a
        position embedding, so the items keep the positions they have without it; the output then
        has ``T + 1`` rows, the last one summarising the history and the extra token."""
        B, T, _ = x.shape
        pos = torch.arange(T - 1, -1, -1, device=x.device).clamp_max(self.max_len - 1)
        h = x + self.pos(pos)[None]
        if extra is not None:
            h = torch.cat([h, extra.unsqueeze(1).to(h.dtype)], 1)
            pad = torch.cat([pad, pad.new_zeros(B, 1)], 1)
            T += 1
        h = self.drop(h)
        causal = torch.triu(torch.ones(T, T, dtype=torch.bool, device=x.device), 1)
        eye = torch.eye(T, dtype=torch.bool, device=x.device)
        # True = blocked: the future and padded keys; every row may see itself, so a padded row
        # never has all keys blocked (which would give NaNs).
        mask = (causal[None] | pad[:, None, :]) & ~eye[None]
        mask = mask.repeat_interleave(self.n_heads, 0)
        h = self.layers(h, mask=mask)
        return self.norm(h)


class TrieNodeVectors(nn.ParameterList):
    """One learned output vector per trie node at the last ``node_levels`` SID levels.

    A generator's level-l logits for token k after prefix ``c_<l`` get ``h . N_l(c_<l, k)`` added
    when ``(c_<l, k)`` is a node of the trie, so siblings deep in the trie (few per prefix) are
    scored by vectors of their own, not only by a head shared by every prefix. The vectors start
    at zero (adding them to a trained model changes nothing until they are trained). Parameter j
    is ``[nodes at level node_start + j, d]``; the index tensors (per level: the sorted parent
    keys, and per parent its children's tokens and node rows, padded with -1) derive from the SID
    table and are not saved.
    """

    def __init__(self, sids: torch.Tensor, level_sizes, node_levels: int, d: int):
        super().__init__()
        depth = len(level_sizes)
        if not isinstance(node_levels, int) or not 0 <= node_levels < depth:
            raise ConfigError(f"node_levels={node_levels!r}: must be an integer from 0 to {depth - 1} (the SID depth - 1)")
        self.level_sizes = tuple(int(k) for k in level_sizes)
        self.node_start = depth - node_levels
        codes = np.asarray(sids.cpu().numpy() if isinstance(sids, torch.Tensor) else sids, dtype=np.int64)
        for l in range(self.node_start, depth):
            parent = np.zeros(len(codes), dtype=np.int64)  # prefix_key in NumPy (the table may be on "meta")
            for j in range(l):
                parent = parent * self.level_sizes[j] + codes[:, j]
            pairs = np.unique(np.stack([parent, codes[:, l]], 1), axis=0)  # sorted by parent, then token
            keys, first, counts = np.unique(pairs[:, 0], return_index=True, return_counts=True)
            slot = np.arange(len(pairs)) - np.repeat(first, counts)
            row = np.repeat(np.arange(len(keys)), counts)
            toks = np.full((len(keys), int(counts.max())), -1, dtype=np.int64)
            rows = np.full_like(toks, -1)
            toks[row, slot] = pairs[:, 1]
            rows[row, slot] = np.arange(len(pairs))
            j = l - self.node_start
            self.register_buffer(f"parent{j}", torch.tensor(keys), persistent=False)
            self.register_buffer(f"tok{j}", torch.tensor(toks), persistent=False)
            self.register_buffer(f"row{j}", torch.tensor(rows), persistent=False)
            self.append(nn.Parameter(torch.zeros(len(pairs), d)))

    def prefix_key(self, prefix: torch.Tensor) -> torch.Tensor:
        """One int64 per SID prefix ``[n, l]`` (mixed radix over the level sizes)."""
        key = torch.zeros(prefix.shape[0], dtype=torch.long, device=prefix.device)
        for j in range(prefix.shape[1]):
            key = key * self.level_sizes[j] + prefix[:, j]
        return key

    def add(self, l: int, h: torch.Tensor, prefix: torch.Tensor | None, logits: torch.Tensor) -> torch.Tensor:
        """``logits [n, K_l]`` of level l plus ``h [n, d] . N_l(prefix, k)`` for the children k
        of ``prefix [n, l]`` in the trie. Levels without node vectors, ``prefix=None`` and
        prefixes the trie does not hold (unconstrained decoding) leave the logits as they are."""
        j = l - self.node_start
        if prefix is None or j < 0:
            return logits
        keys = getattr(self, f"parent{j}")
        want = self.prefix_key(prefix)
        pos = torch.searchsorted(keys, want).clamp_max(len(keys) - 1)
        rows = getattr(self, f"row{j}")[pos]  # [n, width]
        toks = getattr(self, f"tok{j}")[pos]
        ok = (rows >= 0) & (keys[pos] == want).unsqueeze(1)
        if torch.is_grad_enabled():  # training: one matmul over all nodes (cheap backward), then pick
            extra = (h @ self[j].T).gather(1, rows.clamp_min(0))
        else:  # decoding: only the children's vectors (a beam step has few rows, the trie many nodes)
            extra = torch.bmm(self[j][rows.clamp_min(0)], h.unsqueeze(-1)).squeeze(-1)
        extra = extra * ok.to(h.dtype)
        return logits.scatter_add(1, toks.clamp_min(0), extra.to(logits.dtype))


def check_shared_options(cfg) -> None:
    """Validate the options the RAN and the TIGER-style configs share (``item_input``, ``dropout``,
    ``instruction``, ``instruct_weight``, ``node_levels``); raises :class:`ConfigError` naming the field."""
    if cfg.item_input not in ("codes", "codes+id"):
        raise ConfigError(f"item_input={cfg.item_input!r}: expected 'codes' or 'codes+id'")
    if not 0 <= cfg.dropout < 1:
        raise ConfigError(f"dropout={cfg.dropout}: must be in [0, 1)")
    if not isinstance(cfg.instruction, bool):
        raise ConfigError(f"instruction={cfg.instruction!r}: must be true or false")
    if cfg.instruct_weight < 0:
        raise ConfigError(f"instruct_weight={cfg.instruct_weight}: must be >= 0")
    if not isinstance(cfg.node_levels, int) or cfg.node_levels < 0:
        raise ConfigError(f"node_levels={cfg.node_levels!r}: must be an integer >= 0")
