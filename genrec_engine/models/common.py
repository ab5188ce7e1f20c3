"""Building blocks shared by the sequence models: a causal Transformer backbone and config I/O."""
from __future__ import annotations

import dataclasses

import torch
from torch import nn

from ..errors import ConfigError

__all__ = ["CausalBackbone", "ConfigIO", "config_from_dict", "check_positive"]


def check_positive(cfg, *names: str) -> None:
    for n in names:
        v = getattr(cfg, n)
        if not isinstance(v, int) or v < 1:
            raise ConfigError(f"{n}={v!r}: must be a positive integer")


def config_from_dict(cls, d: dict):
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} field(s): {', '.join(unknown)}")
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
