"""The instruction token: a natural-language request turned into one conditioning token.

An instruction ("gentle cleanser for sensitive skin") is encoded by the same MiniLM encoder as
the catalogue (``[384]`` float32, L2-normalised) and projected to the generator's width by
:class:`InstructionProjector`. RAN appends it after the history in its causal backbone (the user
state is read at the instruction position); TIGER-style appends it to its encoder memory. A model
built with ``instruction=True`` in its config accepts ``start(history, instruction=[B, 384])``
and trains on the grounding tasks of :mod:`genrec_engine.train.instruct`.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import ConfigError

__all__ = ["INSTRUCTION_DIM", "InstructionProjector", "check_instruction", "instruction_loss"]

INSTRUCTION_DIM = 384  # all-MiniLM-L6-v2's output width


class InstructionProjector(nn.Module):
    """``[B, 384]`` sentence vectors -> ``[B, d]`` token vectors (two-layer MLP + LayerNorm).

    A learned type vector is added so the backbone can tell the instruction token from items."""

    def __init__(self, d_model: int, in_dim: int = INSTRUCTION_DIM):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, 2 * d_model), nn.GELU(), nn.Linear(2 * d_model, d_model))
        self.norm = nn.LayerNorm(d_model)
        self.kind = nn.Parameter(torch.zeros(d_model))

    def forward(self, vectors: torch.Tensor) -> torch.Tensor:
        return self.norm(self.net(vectors)) + self.kind


def check_instruction(model, instruction, rows: int) -> torch.Tensor | None:
    """Validate ``instruction`` for ``rows`` decode rows: ``None``, ``[384]`` (broadcast) or
    ``[rows, 384]``; returns a float tensor on the model's device or None. A model built without
    instructions refuses one with a message that says how to get one."""
    if instruction is None:
        return None
    if not getattr(model, "accepts_instruction", False):
        raise ConfigError(
            f"this {model.kind} generator was trained without instructions; "
            f"retrain it with: genrec train --model {model.kind} --instructions"
        )
    t = torch.as_tensor(instruction, dtype=torch.float32)
    if t.ndim == 1:
        t = t.unsqueeze(0).expand(rows, -1)
    if t.ndim != 2 or t.shape[1] != INSTRUCTION_DIM or t.shape[0] != rows:
        raise ConfigError(f"instruction: expected [{rows}, {INSTRUCTION_DIM}] sentence vectors, got {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise ConfigError("instruction: holds NaN or infinite values")
    device = next(model.parameters()).device
    return t.to(device)


def instruction_loss(level_logits: list[torch.Tensor], codes: torch.Tensor) -> torch.Tensor:
    """Sum over levels of the mean cross-entropy of teacher-forced ``level_logits`` (each
    ``[n, K_l]``) against ``codes [n, D]``."""
    return sum(F.cross_entropy(lg.float(), codes[:, l]) for l, lg in enumerate(level_logits))
