"""RAN, the recursive-assignment network of IntRR, as a generator over semantic IDs.

Notation: D SID levels (L quantizer levels + the collision level), codebooks ``V_l [K_l, d]``
shared by the item side and the user side.

Per level l, from an input x ``[*, d]`` and a context ``z_<l`` (sum of earlier level contexts):
    h_1 = x,   h_l = MLP_l([x || z_<l])          (hidden-state fusion)
    p_l = softmax(h_l V_l^T)                      (assignment over the K_l codewords)
    z_l = sum_k p_l(k) V_l(k)                     (redistribution)   or   V_l(c_l) (teacher forcing)

Item side: x = the item's UID embedding u_i; contexts by redistribution; the item's input to the
backbone is ``E_i = sum_l z_l`` (``item_input="codes+id"`` adds u_i, a residual that lets items
sharing a SID differ); the alignment loss ``L_aln = -sum_l log p_l(c_l)`` ties the
collaborative assignment to the item's SID c. The p_l here are the **collaborative-guided codeword
weights** the explorer compares with the tokenizer's content-guided soft assignment.

User side: a causal Transformer runs once over ``E`` of the history (one token per item) and gives
h_u; the RAN decodes the next item's SID from x = h_u, with teacher forcing in training and beam
search over levels at inference (``next_logits`` only runs the small fusion MLP and one matmul).

Loss: ``L = L_rec + aln_weight * L_aln`` with ``L_rec = -sum_l log p_l(c_l of the target)``.

Trie-node vectors (``node_levels=n``, not in IntRR): on the user side the last n levels score token
k after prefix c_<l with ``h_l . (V_l(k) + N_l(c_<l, k))``, where N_l holds one learned vector per
trie node (zero at the start). Deep in the trie a prefix has few children (on Beauty 1.7 at the
third level, 1.2 at the collision level), and the shared codebooks alone must tell them apart
through the fusion MLP; the node vectors give each its own output vector, as SASRec has per
item. The item side (``p_l``, ``E_i``) does not use them.

Instructions (``instruction=True``): a projected sentence vector is appended after the history as
one more backbone token and h_u is read there; training adds ``instruct_weight * L_ins``, the
same SID loss on the grounding batches of :mod:`genrec_engine.train.instruct`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..errors import ConfigError
from .base import DecodeState
from .common import CausalBackbone, ConfigIO, TrieNodeVectors, check_positive, check_shared_options
from .instruct import InstructionProjector, check_instruction, instruction_loss

__all__ = ["RANConfig", "RAN"]


@dataclass(frozen=True)
class RANConfig(ConfigIO):
    d_model: int = 64  # the reference generator on Beauty used d = 64, 2 layers
    n_layers: int = 2
    n_heads: int = 2
    max_len: int = 50  # history items seen by the backbone (Beauty's mean length is 8.9)
    dropout: float = 0.3  # Beauty is small and sparse; SASRec-style models want strong dropout
    aln_weight: float = 0.1  # lambda in L = L_rec + lambda * L_aln (IntRR's default)
    item_context: str = "redistribution"  # item-side context: "redistribution" or "teacher"
    # item input to the backbone: "codes" = E_i = sum_l z_l (IntRR); "codes+id" adds the item's UID
    # embedding, so items that share a SID (or most of it) still get their own input
    item_input: str = "codes"
    instruction: bool = False  # accept a natural-language instruction token (trained on grounding tasks)
    instruct_weight: float = 1.0  # weight of the grounding loss against L_rec
    # user-side output at the last ``node_levels`` SID levels: the codeword vector V_l(k) plus a
    # learned vector of the trie node (prefix, k), so siblings under one prefix (few items at the
    # deep levels) are scored by their own vectors rather than only by codebooks shared by every
    # prefix; 0 = IntRR's shared codebooks only. Not in IntRR.
    node_levels: int = 0

    # settings that add zero-initialised weights, so ``--resume`` may switch them on (field: its
    # "off" value and the prefix of the weights it adds)
    ZERO_EXTENSIONS = {"node_levels": (0, "nodes.")}

    def __post_init__(self):
        check_positive(self, "d_model", "n_layers", "n_heads", "max_len")
        if self.item_context not in ("redistribution", "teacher"):
            raise ConfigError(f"item_context={self.item_context!r}: expected 'redistribution' or 'teacher'")
        check_shared_options(self)
        if self.aln_weight < 0:
            raise ConfigError(f"aln_weight={self.aln_weight}: must be >= 0")


class RAN(nn.Module):
    kind = "ran"
    config_class = RANConfig

    def __init__(self, config: RANConfig, sid_codes: np.ndarray, level_sizes):
        """``sid_codes [N, D]`` int: every item's SID (row = item index)."""
        super().__init__()
        self.config = config
        d = config.d_model
        self.level_sizes = tuple(int(k) for k in level_sizes)
        self.depth = len(self.level_sizes)
        self.n_items = int(sid_codes.shape[0])
        # torch.tensor copies: loading a checkpoint must never write into the caller's SID array
        self.register_buffer("sids", torch.tensor(np.asarray(sid_codes), dtype=torch.long), persistent=True)
        self.uid = nn.Embedding(self.n_items + 1, d, padding_idx=0)  # row 0 = padding
        self.books = nn.ParameterList([nn.Parameter(torch.empty(k, d)) for k in self.level_sizes])
        for book in self.books:  # = randn(k, d) * d**-0.5, bit for bit; through nn.init so meta_shell can skip it
            nn.init.normal_(book, std=d**-0.5)
        self.fuse = nn.ModuleList(
            [nn.Sequential(nn.Linear(2 * d, 2 * d), nn.GELU(), nn.Linear(2 * d, d), nn.LayerNorm(d)) for _ in range(self.depth - 1)]
        )
        self.backbone = CausalBackbone(d, config.n_layers, config.n_heads, config.max_len, config.dropout)
        self.instruct = InstructionProjector(d) if config.instruction else None
        self.nodes = TrieNodeVectors(np.asarray(sid_codes), self.level_sizes, config.node_levels, d)
        nn.init.normal_(self.uid.weight, std=d**-0.5)
        with torch.no_grad():
            self.uid.weight[0].zero_()

    @property
    def accepts_instruction(self) -> bool:
        return self.instruct is not None

    def _level_logits(self, l: int, h: torch.Tensor, prefix: torch.Tensor | None) -> torch.Tensor:
        """User-side logits ``[n, K_l]``: ``h . V_l(k)`` plus the trie-node term (``node_levels``)."""
        return self.nodes.add(l, h, prefix, h @ self.books[l].T)

    # ---------------------------------------------------------------- the RAN itself
    def _hidden(self, l: int, x: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
        return x if l == 0 else self.fuse[l - 1](torch.cat([x, ctx], -1))

    def assign(self, x: torch.Tensor, teacher: torch.Tensor | None = None, user: bool = False):
        """Run the RAN on inputs ``x [n, d]``. Returns ``(logits, z)``: per level logits
        ``[n, K_l]`` and contexts ``[n, d]``. With ``teacher [n, D]`` the context after level l
        is ``V_l(c_l)``; otherwise the redistribution ``p_l V_l``. ``user``: the user side, whose
        logits include the trie-node vectors (``node_levels``) under the teacher prefix."""
        ctx = torch.zeros_like(x)
        logits, zs = [], []
        for l, V in enumerate(self.books):
            h = self._hidden(l, x, ctx)
            lg = self._level_logits(l, h, teacher[:, :l] if user and teacher is not None else None)
            z = V[teacher[:, l]] if teacher is not None else torch.softmax(lg, -1) @ V
            logits.append(lg)
            zs.append(z)
            ctx = ctx + z
        return logits, zs

    def item_inputs(self, items: torch.Tensor):
        """Item-side pass for item indices ``[n]``: ``(E [n, d], logits per level)``."""
        teacher = self.sids[items] if self.config.item_context == "teacher" else None
        u = self.uid(items + 1)
        logits, zs = self.assign(u, teacher)
        E = torch.stack(zs).sum(0)
        return (E + u if self.config.item_input == "codes+id" else E), logits

    @torch.no_grad()
    def collaborative_weights(self, items) -> np.ndarray:
        """The collaborative-guided codeword weights ``p_l`` of items: list over levels of
        ``[n, K_l]`` float32 arrays (what the explorer compares with the tokenizer's)."""
        was = self.training
        self.eval()
        items = torch.as_tensor(np.asarray(items), dtype=torch.long, device=self.sids.device)
        _, logits = self.item_inputs(items)
        self.train(was)
        return [torch.softmax(lg, -1).float().cpu().numpy() for lg in logits]

    @torch.no_grad()
    def item_representations(self) -> np.ndarray:
        """``E_i`` for every item, ``[N, d]`` (the collaborative space the map can show)."""
        was = self.training
        self.eval()
        E, _ = self.item_inputs(torch.arange(self.n_items, device=self.sids.device))
        self.train(was)
        return E.float().cpu().numpy()

    # ---------------------------------------------------------------- sequence side
    def encode_history(self, history: torch.Tensor, instruction: torch.Tensor | None = None) -> torch.Tensor:
        """``history [B, T]`` (item index + 1, 0 = pad, left-padded) -> states ``[B, T, d]``;
        with ``instruction [B, 384]`` one more state ``[B, T + 1, d]`` (the instruction token)."""
        pad = history == 0
        flat = history.reshape(-1)
        uniq, inv = torch.unique(flat, return_inverse=True)
        E, _ = self.item_inputs((uniq - 1).clamp_min(0))
        E = E * (uniq > 0).unsqueeze(-1).to(E.dtype)
        scale = self.config.d_model**0.5  # as SASRec scales its inputs
        x = E[inv].reshape(*history.shape, -1) * scale
        extra = None if instruction is None else self.instruct(instruction) * scale
        return self.backbone(x, pad, extra)

    def training_loss(self, history: torch.Tensor, target: torch.Tensor, instr_history: torch.Tensor | None = None,
                      instr_vec: torch.Tensor | None = None, instr_target: torch.Tensor | None = None,
                      ) -> tuple[torch.Tensor, dict]:
        """``history, target [B, T]``: target[b, t] is the item (index + 1) after history[b, :t+1],
        0 where there is none. Grounding batch (instruction models): ``instr_history [b, W]``
        (left-padded, may be all padding), ``instr_vec [b, 384]``, ``instr_target [b]`` item
        indices. Returns ``(loss, parts)``."""
        H = self.encode_history(history)
        sel = target > 0
        h = H[sel]  # [n, d]
        tgt = target[sel] - 1
        codes = self.sids[tgt]
        logits, _ = self.assign(h, teacher=codes, user=True)
        rec = sum(F.cross_entropy(lg.float(), codes[:, l]) for l, lg in enumerate(logits))
        # alignment on the items of this batch (history and targets)
        items = torch.unique(torch.cat([history[history > 0], target[sel]])) - 1
        _, item_logits = self.item_inputs(items)
        icodes = self.sids[items]
        aln = sum(F.cross_entropy(lg.float(), icodes[:, l]) for l, lg in enumerate(item_logits))
        loss = rec + self.config.aln_weight * aln
        parts = {"rec": float(rec.detach()), "aln": float(aln.detach())}
        if instr_vec is not None:
            if self.instruct is None:
                raise ConfigError("a grounding batch was given to a RAN built with instruction=False")
            hi = self.encode_history(instr_history, instr_vec)[:, -1]
            icodes = self.sids[instr_target]
            ins = instruction_loss(self.assign(hi, teacher=icodes, user=True)[0], icodes)
            loss = loss + self.config.instruct_weight * ins
            parts["ins"] = float(ins.detach())
        return loss, parts

    # ---------------------------------------------------------------- generator protocol
    def start(self, history: torch.Tensor, instruction: torch.Tensor | None = None) -> DecodeState:
        """Run the backbone once; ``instruction`` ``[B, 384]`` or ``[384]`` (instruction models)."""
        instruction = check_instruction(self, instruction, history.shape[0])
        hu = self.encode_history(history, instruction)[:, -1]  # the most recent position
        return DecodeState({"hu": hu})

    def next_logits(self, state: DecodeState, prefix: torch.Tensor) -> torch.Tensor:
        l = prefix.shape[1]
        hu = state.tensors["hu"]
        if l == 0:
            ctx = torch.zeros_like(hu)
        else:
            ctx = sum(self.books[j][prefix[:, j]] for j in range(l))
        h = self._hidden(l, hu, ctx)
        return torch.log_softmax(self._level_logits(l, h, prefix).float(), -1)

    def forward(self, history: torch.Tensor, target: torch.Tensor, **grounding):
        """Training forward (so DDP can wrap the model): see :meth:`training_loss`."""
        return self.training_loss(history, target, **grounding)
