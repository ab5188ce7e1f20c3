"""SASRec (Kang & McAuley 2018): the atomic-ID baseline with a full softmax over items.

One learned embedding per item (tied input/output), a causal Transformer over the history, and
``score(i) = <h_u, e_i>`` for every item. Not a SID generator: evaluation ranks the whole
catalogue by ``score_items``; it is also the dense scorer for hybrid re-ranking (``user_vectors``,
``item_vectors``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.checkpoint import checkpoint

from ..errors import ConfigError
from .common import CausalBackbone, ConfigIO, check_positive

__all__ = ["SASRecConfig", "SASRec"]


@dataclass(frozen=True)
class SASRecConfig(ConfigIO):
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 2
    max_len: int = 50
    dropout: float = 0.3

    def __post_init__(self):
        check_positive(self, "d_model", "n_layers", "n_heads", "max_len")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout={self.dropout}: must be in [0, 1)")


#: Most logits (rows x items) one training step holds at once; see :meth:`SASRec.training_loss`.
LOGIT_BUDGET = 1 << 26


def _ce_sum(h: torch.Tensor, W: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy((h @ W.T).float(), y, reduction="sum")


class SASRec(nn.Module):
    kind = "sasrec"
    config_class = SASRecConfig

    def __init__(self, config: SASRecConfig, sid_codes: np.ndarray, level_sizes, **_):
        super().__init__()
        self.config = config
        self.level_sizes = tuple(int(k) for k in level_sizes)
        self.depth = len(self.level_sizes)
        self.n_items = int(sid_codes.shape[0])
        d = config.d_model
        self.items = nn.Embedding(self.n_items + 1, d, padding_idx=0)
        nn.init.normal_(self.items.weight, std=d**-0.5)
        with torch.no_grad():
            self.items.weight[0].zero_()
        self.backbone = CausalBackbone(d, config.n_layers, config.n_heads, config.max_len, config.dropout)

    def encode_history(self, history: torch.Tensor) -> torch.Tensor:
        """``[B, T]`` (index + 1, 0 = pad) -> ``[B, T, d]``."""
        x = self.items(history) * self.config.d_model**0.5
        return self.backbone(x, history == 0)

    def training_loss(self, history: torch.Tensor, target: torch.Tensor):
        H = self.encode_history(history)
        sel = target > 0
        h, y, W = H[sel], target[sel] - 1, self.items.weight[1:]
        n = h.shape[0]
        if n * self.n_items <= LOGIT_BUDGET:
            loss = F.cross_entropy((h @ W.T).float(), y)  # [n, N] logits at once
        else:
            # a large catalogue: the full softmax in row chunks of at most LOGIT_BUDGET logits, each
            # recomputed in the backward pass, so memory stays bounded (1M items: a batch's [12,800,
            # 1M] logits would take 51 GB); the same loss and gradients, about 1.3x the time
            rows = max(1, LOGIT_BUDGET // self.n_items)
            loss = sum(checkpoint(_ce_sum, h[i:i + rows], W, y[i:i + rows], use_reentrant=False)
                       for i in range(0, n, rows)) / max(n, 1)
        return loss, {"ce": float(loss.detach())}

    forward = training_loss

    @torch.no_grad()
    def user_vectors(self, history: torch.Tensor) -> torch.Tensor:
        return self.encode_history(history)[:, -1]

    @torch.no_grad()
    def item_vectors(self) -> torch.Tensor:
        return self.items.weight[1:]

    @torch.no_grad()
    def score_items(self, history: torch.Tensor) -> torch.Tensor:
        """Scores ``[B, N]`` of every item as the next one."""
        return self.user_vectors(history) @ self.item_vectors().T
