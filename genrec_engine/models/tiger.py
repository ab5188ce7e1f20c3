"""TIGER (Rajput et al. 2023): an encoder-decoder Transformer over flattened semantic-ID tokens,
with an optional DECOR-style token fusion (Liu et al. 2025).

Notation: D SID levels (L quantizer levels + the collision level), ``K_l`` tokens at level l,
M = ``max_items`` history items, S = M * D encoder tokens, d = ``d_model``, h heads of d/h.

Vocabulary: every (level l, token c) pair has its own learned vector. The D per-level tables are
stored as one flat ``[sum_l K_l, d]`` table (level l owns rows ``offset_l .. offset_l + K_l - 1``)
so a whole sequence of mixed-level tokens is one gather. A *level* embedding (position inside the
item) is added to every token. TIGER also prepends a user token (user ids hashed into 2000
buckets); our batches carry no user ids, so there is none here.

Encoder: the most recent M history items, each expanded into its D SID tokens (item j's tokens
are ``(0, c_0), ..., (D-1, c_{D-1})``), plus the level embedding and an item-position embedding
counted from the right (the most recent item is position 0). Padded items are masked out as keys.
``item_input="codes+id"`` (not in TIGER) also adds a learned vector of the item itself (zero at
the start) to each of its D tokens, so items that share most of a SID enter as themselves.

Decoder: input ``[BOS, c_0, ..., c_{D-2}]`` of the next item (teacher forcing in training), causal
self-attention and cross-attention to the encoder memory; position p is read out by the head of
level p, a linear map to ``K_p`` logits (``node_levels=n``, not in TIGER: at the last n levels
plus ``h . N(prefix, k)``, a learned vector per trie node, as in the RAN). Loss: the sum over
levels of the cross-entropy.

Layers are pre-LN; the attention is written out (explicit q/k/v/o projections) so decoding can
cache keys and values: ``start`` runs the encoder once and stores each decoder layer's
cross-attention K/V of the memory; each ``next_logits`` call feeds one new decoder position and
appends its self-attention K/V to the state (all row-aligned, so ``DecodeState.select`` reorders
them with the beams). A state whose cache does not match the prefix it is given (a fresh or
reused state) is recomputed from BOS, so any caller order stays correct.

DECOR (``decor=True``), our reading of "decomposed embedding fusion": the embedding of token
(l, c) is

    e(l, c | u) = g * W_l b_l[c] + (1 - g) * t(l, c),    g = sigmoid(MLP([W_l b_l[c], t(l, c), u]))

where ``b_l [K_l, e_l]`` is the tokenizer's FROZEN codebook of level l (a persistent buffer, saved
with the weights), ``W_l`` a learned projection e_l -> d, ``t`` the learned collaborative table
above and ``u [d]`` the user's interaction context: the mean of the collaborative vectors
``t(l, c)`` over all valid tokens of the encoder input (the whole visible history; using ``t``
rather than the fused vectors keeps the gate free of a circular dependence). The same ``u`` serves
the decoder tokens. The collision level has no codebook, so there ``g = 0`` and ``e = t``.
:meth:`TIGER.fusion_split` returns ``g`` per token for the explorer. DECOR's other component
(contextualized token composition) is not implemented.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..errors import ConfigError
from .base import DecodeState
from .common import TrieNodeVectors, check_positive, check_shared_options, config_from_dict
from .instruct import InstructionProjector, check_instruction, instruction_loss

__all__ = ["TIGERConfig", "TIGER"]


@dataclass(frozen=True)
class TIGERConfig:
    d_model: int = 128  # TIGER's width
    n_enc_layers: int = 2  # TIGER used 4 + 4; 2 + 2 suits Beauty-sized data (12k items, ~9 items/user)
    n_dec_layers: int = 2
    n_heads: int = 4
    d_ff: int = 512  # feed-forward width (4 * d_model)
    max_items: int = 20  # history items the encoder sees (TIGER: 20), i.e. up to 20 * D tokens
    dropout: float = 0.2
    max_examples_per_batch: int = 1024  # (prefix, target) pairs drawn per training call; bounds memory
    decor: bool = False  # fuse frozen codebook vectors with the learned token vectors (DECOR)
    # Widths e_l of the frozen codebooks DECOR was built with. Filled in by the model from its
    # ``codebooks`` argument and saved with the config, so a checkpoint can be rebuilt without them.
    codebook_dims: tuple[int, ...] | None = None
    instruction: bool = False  # accept a natural-language instruction token (appended to the encoder input)
    instruct_weight: float = 1.0  # weight of the grounding loss against the next-item loss
    # per-level heads plus a learned output vector per trie node at the last ``node_levels`` SID
    # levels (see models.common.TrieNodeVectors); 0 = TIGER's per-level heads only
    node_levels: int = 0
    # encoder input per history token: "codes" = its SID token vector (TIGER); "codes+id" = plus a
    # learned vector of the item (zero at the start, so it can be added to a trained model)
    item_input: str = "codes"

    # settings that add zero-initialised weights, so ``--resume`` may switch them on (field: its
    # "off" value and the prefix of the weights it adds)
    ZERO_EXTENSIONS = {"node_levels": (0, "nodes."), "item_input": ("codes", "item_emb.")}

    @property
    def max_len(self) -> int:
        """History items the model reads (the name the trainer and evaluator use for every kind)."""
        return self.max_items

    def __post_init__(self):
        check_positive(self, "d_model", "n_enc_layers", "n_dec_layers", "n_heads", "d_ff", "max_items",
                       "max_examples_per_batch")
        if self.d_model % self.n_heads:
            raise ConfigError(f"d_model={self.d_model} must be a multiple of n_heads={self.n_heads}")
        check_shared_options(self)
        if not isinstance(self.decor, bool):
            raise ConfigError(f"decor={self.decor!r}: must be true or false")
        if self.codebook_dims is not None:
            dims = tuple(self.codebook_dims)
            if not all(isinstance(e, int) and not isinstance(e, bool) and e >= 1 for e in dims):
                raise ConfigError(f"codebook_dims={self.codebook_dims!r}: must be positive integers")
            if not self.decor:
                raise ConfigError("codebook_dims: only meaningful with decor=True")
            object.__setattr__(self, "codebook_dims", dims)  # JSON gives a list

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        if d["codebook_dims"] is not None:
            d["codebook_dims"] = list(d["codebook_dims"])
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TIGERConfig":
        return config_from_dict(cls, d)


# ---------------------------------------------------------------------- building blocks


class _Attention(nn.Module):
    """Multi-head attention with explicit projections; keys/values are passed in already split
    into heads (``[n, h, t_k, d/h]``) so callers can cache them."""

    def __init__(self, d: int, n_heads: int, dropout: float):
        super().__init__()
        self.h = n_heads
        self.q = nn.Linear(d, d)
        self.k = nn.Linear(d, d)
        self.v = nn.Linear(d, d)
        self.o = nn.Linear(d, d)
        self.p = dropout

    def _split(self, x: torch.Tensor) -> torch.Tensor:  # [n, t, d] -> [n, h, t, d/h]
        n, t, d = x.shape
        return x.view(n, t, self.h, d // self.h).transpose(1, 2)

    def kv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values of ``x [n, t, d]``, each ``[n, h, t, d/h]``."""
        return self._split(self.k(x)), self._split(self.v(x))

    def forward(self, x: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """Queries from ``x [n, t_q, d]``; ``mask`` bool, True = may attend, broadcastable to
        ``[n, h, t_q, t_k]`` (None = all). Returns ``[n, t_q, d]``."""
        q = self._split(self.q(x))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.p if self.training else 0.0)
        n, _, t, dh = out.shape
        return self.o(out.transpose(1, 2).reshape(n, t, self.h * dh))


def _ffn(d: int, d_ff: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d, d_ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_ff, d))


class _EncoderLayer(nn.Module):
    def __init__(self, d: int, n_heads: int, d_ff: int, dropout: float):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = _Attention(d, n_heads, dropout)
        self.ff = _ffn(d, d_ff, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.ln1(x)
        k, v = self.attn.kv(h)
        x = x + self.drop(self.attn(h, k, v, mask))
        return x + self.drop(self.ff(self.ln2(x)))


class _DecoderLayer(nn.Module):
    def __init__(self, d: int, n_heads: int, d_ff: int, dropout: float):
        super().__init__()
        self.ln1, self.ln2, self.ln3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.self_attn = _Attention(d, n_heads, dropout)
        self.cross_attn = _Attention(d, n_heads, dropout)
        self.ff = _ffn(d, d_ff, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, past_k, past_v, self_mask, cross_k, cross_v, cross_mask):
        """``x [n, t, d]``: new positions; ``past_k/v [n, h, p, d/h]`` cached earlier positions
        (or None). Returns ``(x, k, v)`` with the self-attention K/V of all ``p + t`` positions."""
        h = self.ln1(x)
        k, v = self.self_attn.kv(h)
        if past_k is not None:
            k, v = torch.cat([past_k, k], 2), torch.cat([past_v, v], 2)
        x = x + self.drop(self.self_attn(h, k, v, self_mask))
        x = x + self.drop(self.cross_attn(self.ln2(x), cross_k, cross_v, cross_mask))
        x = x + self.drop(self.ff(self.ln3(x)))
        return x, k, v


# ---------------------------------------------------------------------- the model


class TIGER(nn.Module):
    kind = "tiger"
    config_class = TIGERConfig

    def __init__(self, config: TIGERConfig, sid_codes: np.ndarray, level_sizes, *,
                 codebooks: list[np.ndarray] | None = None, item_embeddings: np.ndarray | None = None):
        """``sid_codes [N, D]`` int: every item's SID (row = item index). ``codebooks``: the
        tokenizer's codebooks, level l ``[K_l, e_l]`` float (quantizer levels only; needed when
        ``config.decor`` unless ``config.codebook_dims`` says the buffers come from a checkpoint).
        ``item_embeddings`` is accepted for the engine's sake and ignored."""
        super().__init__()
        del item_embeddings
        d = config.d_model
        self.level_sizes = tuple(int(k) for k in level_sizes)
        self.depth = len(self.level_sizes)
        codes = np.asarray(sid_codes)
        if codes.ndim != 2 or codes.shape[1] != self.depth:
            raise ConfigError(f"sid_codes: expected [N, {self.depth}], got shape {codes.shape}")
        self.n_items = int(codes.shape[0])
        # torch.tensor copies: loading a checkpoint must never write into the caller's SID array
        self.register_buffer("sids", torch.tensor(codes, dtype=torch.long), persistent=True)
        offsets = np.concatenate([[0], np.cumsum(self.level_sizes)[:-1]])
        self.register_buffer("offsets", torch.as_tensor(offsets, dtype=torch.long), persistent=False)
        n_tok = int(sum(self.level_sizes))
        self.n_heads = config.n_heads

        self.tok = nn.Embedding(n_tok, d)  # the D per-level tables, stacked (see the module doc)
        self.level = nn.Embedding(self.depth, d)  # position inside an item
        self.item_pos = nn.Embedding(config.max_items, d)  # item position from the right
        self.bos = nn.Parameter(nn.init.normal_(torch.empty(d), std=0.02))  # = randn(d) * 0.02, bit for bit
        self.dec_pos = nn.Embedding(self.depth, d)
        self.enc_layers = nn.ModuleList(
            [_EncoderLayer(d, config.n_heads, config.d_ff, config.dropout) for _ in range(config.n_enc_layers)]
        )
        self.dec_layers = nn.ModuleList(
            [_DecoderLayer(d, config.n_heads, config.d_ff, config.dropout) for _ in range(config.n_dec_layers)]
        )
        self.enc_norm, self.dec_norm = nn.LayerNorm(d), nn.LayerNorm(d)
        self.heads = nn.ModuleList([nn.Linear(d, k) for k in self.level_sizes])
        self.nodes = TrieNodeVectors(np.asarray(sid_codes), self.level_sizes, config.node_levels, d)
        self.item_emb = None
        if config.item_input == "codes+id":  # row 0 = padding; all zero at the start
            self.item_emb = nn.Embedding(self.n_items + 1, d, padding_idx=0)
            nn.init.zeros_(self.item_emb.weight)
        self.drop = nn.Dropout(config.dropout)
        self.instruct = InstructionProjector(d) if config.instruction else None
        for emb in (self.tok, self.level, self.item_pos, self.dec_pos):
            nn.init.normal_(emb.weight, std=0.02)

        self.n_codebooks = 0
        if config.decor:
            config = self._build_decor(config, codebooks, d)
        self.config = config

    @property
    def accepts_instruction(self) -> bool:
        return self.instruct is not None

    def _build_decor(self, config: TIGERConfig, codebooks, d: int) -> TIGERConfig:
        if codebooks is not None:
            books = [np.asarray(b, dtype=np.float32) for b in codebooks]
            if not 1 <= len(books) <= self.depth:
                raise ConfigError(f"codebooks: {len(books)} given, expected 1..{self.depth} (one per quantizer level)")
            for l, b in enumerate(books):
                if b.ndim != 2 or b.shape[0] != self.level_sizes[l]:
                    raise ConfigError(f"codebooks[{l}]: expected [{self.level_sizes[l]}, e], got shape {b.shape}")
                if not np.isfinite(b).all():
                    raise ConfigError(f"codebooks[{l}]: holds NaN or infinite values")
            dims = tuple(int(b.shape[1]) for b in books)
            if config.codebook_dims is not None and config.codebook_dims != dims:
                raise ConfigError(f"codebooks: widths {dims} differ from config.codebook_dims {config.codebook_dims}")
            config = dataclasses.replace(config, codebook_dims=dims)
        elif config.codebook_dims is not None:  # rebuilt from a checkpoint: load_state_dict fills them
            dims = config.codebook_dims
            if len(dims) > self.depth:
                raise ConfigError(f"codebook_dims: {len(dims)} levels but the SIDs have {self.depth}")
            books = [np.zeros((self.level_sizes[l], e), np.float32) for l, e in enumerate(dims)]
        else:
            raise ConfigError("decor=True needs the tokenizer's codebooks (codebooks=[K_l x e_l arrays])")
        self.n_codebooks = len(books)
        for l, b in enumerate(books):
            self.register_buffer(f"codebook{l}", torch.from_numpy(b.copy()), persistent=True)  # frozen
        self.cb_proj = nn.ModuleList([nn.Linear(b.shape[1], d, bias=False) for b in books])
        self.gate = nn.Sequential(nn.Linear(3 * d, d), nn.GELU(), nn.Linear(d, 1))
        has = torch.zeros(int(sum(self.level_sizes)), dtype=torch.bool)
        has[: int(sum(self.level_sizes[: len(books)]))] = True
        self.register_buffer("has_content", has, persistent=False)
        return config

    # ---------------------------------------------------------------- token embeddings
    def _content_table(self) -> torch.Tensor:
        """DECOR: ``W_l b_l`` of every token, ``[sum K, d]`` (zero rows where no codebook)."""
        rows = [self.cb_proj[l](getattr(self, f"codebook{l}")) for l in range(self.n_codebooks)]
        rest = int(sum(self.level_sizes[self.n_codebooks:]))
        if rest:
            rows.append(rows[0].new_zeros(rest, self.config.d_model))
        return torch.cat(rows)

    def _gate_and_embed(self, flat: torch.Tensor, ctx: torch.Tensor | None):
        """Token vectors of flat token ids ``[n, t]`` -> ``([n, t, d], gate [n, t] or None)``;
        ``ctx [n, d]`` is the user context (DECOR only)."""
        collab = self.tok(flat)
        if not self.config.decor:
            return collab, None
        content = self._content_table()[flat]
        u = ctx[:, None, :].expand_as(collab)
        g = torch.sigmoid(self.gate(torch.cat([content, collab, u], -1)).squeeze(-1))
        g = g * self.has_content[flat].to(g.dtype)
        return g.unsqueeze(-1) * content + (1 - g.unsqueeze(-1)) * collab, g

    def _context(self, flat: torch.Tensor, valid: torch.Tensor) -> torch.Tensor | None:
        """DECOR's user context: mean collaborative vector of the valid encoder tokens, ``[n, d]``."""
        if not self.config.decor:
            return None
        w = valid.to(self.tok.weight.dtype).unsqueeze(-1)
        return (self.tok(flat) * w).sum(1) / w.sum(1).clamp_min(1.0)

    # ---------------------------------------------------------------- encoder / decoder
    def encode(self, history: torch.Tensor, instruction: torch.Tensor | None = None):
        """``history [n, T]`` (item index + 1, 0 = pad, left-padded) -> ``(memory [n, S, d],
        key mask [n, S] bool True = real token, ctx [n, d] or None)`` over the last ``max_items``
        items (``S = min(T, max_items) * D``, + 1 with ``instruction [n, 384]``: the instruction
        token, last). A row without items keeps its last (padding) token as a key, so attention
        is always defined."""
        M = self.config.max_items
        history = history[:, -M:]
        n, T = history.shape
        D = self.depth
        codes = self.sids[(history - 1).clamp_min(0)]  # [n, T, D]
        flat = (codes + self.offsets).reshape(n, T * D)
        valid = (history > 0).repeat_interleave(D, dim=1)  # [n, S]
        ctx = self._context(flat, valid)
        if instruction is None:  # the instruction token is a key of its own
            valid[:, -1] |= ~valid.any(1)
        x, _ = self._gate_and_embed(flat, ctx)
        level = torch.arange(D, device=history.device).repeat(T)
        pos = torch.arange(T - 1, -1, -1, device=history.device).repeat_interleave(D)
        x = x + self.level(level) + self.item_pos(pos)
        if self.item_emb is not None:
            x = x + self.item_emb(history).repeat_interleave(D, dim=1)
        if instruction is not None:
            x = torch.cat([x, self.instruct(instruction).unsqueeze(1).to(x.dtype)], 1)
            valid = torch.cat([valid, valid.new_ones(n, 1)], 1)
        x = self.drop(x)
        mask = valid[:, None, None, :]
        for layer in self.enc_layers:
            x = layer(x, mask)
        return self.enc_norm(x), valid, ctx

    def _dec_inputs(self, prefix: torch.Tensor, lo: int, hi: int, ctx: torch.Tensor | None) -> torch.Tensor:
        """Decoder input vectors of positions ``lo..hi-1`` ``[n, hi-lo, d]``: position 0 is BOS,
        position p >= 1 is token ``prefix[:, p-1]`` of level p-1."""
        n = prefix.shape[0]
        parts = []
        if lo == 0:
            parts.append(self.bos.expand(n, 1, -1))
        a = max(lo, 1)
        if hi > a:
            levels = torch.arange(a - 1, hi - 1, device=prefix.device)
            flat = prefix[:, a - 1: hi - 1] + self.offsets[levels]
            e, _ = self._gate_and_embed(flat, ctx)
            parts.append(e + self.level(levels))
        x = torch.cat(parts, 1)
        return self.drop(x + self.dec_pos(torch.arange(lo, hi, device=prefix.device)))

    def _decode(self, x, lo: int, past, cross, cross_mask, cross_rows: torch.Tensor | None = None):
        """Run the decoder on positions ``lo..lo+t-1`` (``x [n, t, d]``) given the self-attention
        K/V of positions ``< lo`` (``past``: per layer ``(k, v)`` or None) and the per-layer
        cross K/V (one row per user; ``cross_rows [n]``: the user of each row, gathered one layer
        at a time, so the beams of a user share one copy between steps). Returns the normed output
        ``[n, t, d]`` and the new per-layer ``(k, v)``."""
        t = x.shape[1]
        self_mask = None
        if t > 1:  # causal: query lo+i sees keys 0..lo+i
            q = torch.arange(lo, lo + t, device=x.device)[:, None]
            self_mask = torch.arange(lo + t, device=x.device)[None, :] <= q
        kv = []
        for i, layer in enumerate(self.dec_layers):
            pk, pv = past[i] if past is not None else (None, None)
            ck, cv = cross[i]
            if cross_rows is not None:
                ck, cv = ck.index_select(0, cross_rows), cv.index_select(0, cross_rows)
            x, k, v = layer(x, pk, pv, self_mask, ck, cv, cross_mask)
            kv.append((k, v))
        return self.dec_norm(x), kv

    def _cross_kv(self, memory: torch.Tensor):
        return [layer.cross_attn.kv(memory) for layer in self.dec_layers]

    def level_logits(self, history: torch.Tensor, codes: torch.Tensor,
                     instruction: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Teacher-forced logits: for histories ``[n, T]`` and next-item SIDs ``codes [n, D]``
        (and ``instruction [n, 384]``), a list over levels of ``[n, K_l]``."""
        memory, valid, ctx = self.encode(history, instruction)
        x = self._dec_inputs(codes, 0, self.depth, ctx)
        out, _ = self._decode(x, 0, None, self._cross_kv(memory), valid[:, None, None, :])
        return [self.nodes.add(l, out[:, l], codes[:, :l], head(out[:, l])) for l, head in enumerate(self.heads)]

    # ---------------------------------------------------------------- training
    def training_loss(self, history: torch.Tensor, target: torch.Tensor, instr_history: torch.Tensor | None = None,
                      instr_vec: torch.Tensor | None = None, instr_target: torch.Tensor | None = None,
                      ) -> tuple[torch.Tensor, dict]:
        """``history, target [B, T]``: target[b, t] is the item (index + 1) after history[b, :t+1],
        0 where there is none. Every (b, t) with a target is one example (its history window is
        the last ``max_items`` items up to t); above ``max_examples_per_batch`` examples a uniform
        sample is kept (torch's global RNG). Returns ``(loss, parts)``; loss = sum over levels of
        the mean cross-entropy. Instruction models also take a grounding batch:
        ``instr_history [b, W]``, ``instr_vec [b, 384]``, ``instr_target [b]`` item indices."""
        loss, parts = self._next_item_loss(history, target)
        if instr_vec is not None:
            if self.instruct is None:
                raise ConfigError("a grounding batch was given to a TIGER built with instruction=False")
            icodes = self.sids[instr_target]
            ins = instruction_loss(self.level_logits(instr_history[:, -self.config.max_items:], icodes, instr_vec), icodes)
            loss = loss + self.config.instruct_weight * ins
            parts["ins"] = float(ins.detach())
        return loss, parts

    def _next_item_loss(self, history: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict]:
        B, T = history.shape
        pairs = (target > 0).nonzero()  # [n, 2] (b, t)
        if pairs.shape[0] == 0:
            zero = sum(p.sum() for p in self.parameters()) * 0.0
            return zero, {"rec": 0.0}
        cap = self.config.max_examples_per_batch
        if pairs.shape[0] > cap:
            pairs = pairs[torch.randperm(pairs.shape[0], device=pairs.device)[:cap]]
        M = min(self.config.max_items, T)
        windows = F.pad(history, (M - 1, 0)).unfold(1, M, 1)  # [B, T, M]: window t ends at column t
        h = windows[pairs[:, 0], pairs[:, 1]]  # [n, M], left-padded
        width = max(1, int((h > 0).sum(1).max()))
        h = h[:, -width:]
        codes = self.sids[target[pairs[:, 0], pairs[:, 1]] - 1]  # [n, D]
        logits = self.level_logits(h, codes)
        ces = [F.cross_entropy(lg.float(), codes[:, l]) for l, lg in enumerate(logits)]
        loss = sum(ces)
        parts = {"rec": float(loss.detach())}
        parts.update({f"ce{l}": float(c.detach()) for l, c in enumerate(ces)})
        return loss, parts

    def forward(self, history: torch.Tensor, target: torch.Tensor, **grounding):
        """Training forward (so DDP can wrap the model): see :meth:`training_loss`."""
        return self.training_loss(history, target, **grounding)

    # ---------------------------------------------------------------- generator protocol
    def start(self, history: torch.Tensor, instruction: torch.Tensor | None = None) -> DecodeState:
        """Encode ``history [B, T]`` once. State tensors (row-aligned, ``[B, ...]`` here):
        ``user [B]`` the user of each row, ``mask [B, S]``, the self-attention cache ``sk{i},
        sv{i} [B, h, p, d/h]`` of decoder layer i for the p positions decoded so far (p = 0 here),
        ``fed [B, max(p-1, 0)]`` the prefix tokens behind them, and ``ctx [B, d]`` with DECOR. The
        cross K/V ``ck{i}, cv{i} [B, h, S, d/h]`` are per user, in ``shared``: beam search
        multiplies the rows by the beam width, and copying them per row held ~7 GB at 1,024 users
        x beam 20. ``instruction`` ``[B, 384]`` or ``[384]``: instruction models only."""
        instruction = check_instruction(self, instruction, history.shape[0])
        memory, valid, ctx = self.encode(history, instruction)
        B, dh = history.shape[0], self.config.d_model // self.n_heads
        t = {"user": torch.arange(B, device=history.device), "mask": valid, "fed": history.new_zeros(B, 0)}
        if ctx is not None:
            t["ctx"] = ctx
        shared = {}
        for i, (k, v) in enumerate(self._cross_kv(memory)):
            shared[f"ck{i}"], shared[f"cv{i}"] = k, v
            t[f"sk{i}"] = t[f"sv{i}"] = memory.new_zeros(B, self.n_heads, 0, dh)
        return DecodeState(t, shared)

    def next_logits(self, state: DecodeState, prefix: torch.Tensor, *, use_cache: bool = True) -> torch.Tensor:
        """Log-probabilities ``[R, K_l]`` (float32) of level ``l = prefix.shape[1]`` for the rows
        of ``state`` and ``prefix [R, l]``. With ``use_cache`` only position l is computed from
        the cached K/V and the cache in ``state`` is extended to l + 1 positions (it is rebuilt
        from BOS when it does not belong to ``prefix``); ``use_cache=False`` recomputes all
        positions and leaves ``state`` untouched (the reference the cache is tested against)."""
        ts = state.tensors
        l = prefix.shape[1]
        if l >= self.depth:
            raise ConfigError(f"prefix: length {l} but the SIDs have {self.depth} levels")
        if prefix.shape[0] != ts["mask"].shape[0]:
            raise ConfigError(f"prefix: {prefix.shape[0]} rows but the decode state has {ts['mask'].shape[0]}")
        p = ts["sk0"].shape[2]
        lo = 0
        if use_cache and 0 < p <= l and torch.equal(ts["fed"], prefix[:, : p - 1]):
            lo = p
        past = None
        if lo:
            past = [(ts[f"sk{i}"], ts[f"sv{i}"]) for i in range(len(self.dec_layers))]
        cross = [(state.shared[f"ck{i}"], state.shared[f"cv{i}"]) for i in range(len(self.dec_layers))]
        x = self._dec_inputs(prefix, lo, l + 1, ts.get("ctx"))
        out, kv = self._decode(x, lo, past, cross, ts["mask"][:, None, None, :], cross_rows=ts["user"])
        if use_cache:
            for i, (k, v) in enumerate(kv):
                ts[f"sk{i}"], ts[f"sv{i}"] = k, v
            ts["fed"] = prefix[:, :l]
        h = out[:, -1]
        return torch.log_softmax(self.nodes.add(l, h, prefix, self.heads[l](h)).float(), -1)

    # ---------------------------------------------------------------- DECOR inspection
    @torch.no_grad()
    def fusion_split(self, levels_tokens, history: torch.Tensor | None = None) -> np.ndarray:
        """DECOR gate ``g`` per token: ``levels_tokens`` int ``[n, 2]`` rows of (level, token) ->
        float32 ``[n]`` in [0, 1], the share of the frozen codebook vector in the token's
        embedding (1 - g is the learned collaborative share; 0 at the collision level).
        ``history`` (``[T]`` or ``[1, T]``, item index + 1 as for :meth:`start`) gives the user
        context; without it the context is zero (the user-independent split)."""
        if not self.config.decor:
            raise ConfigError("fusion_split: this TIGER was built with decor=False")
        lt = torch.as_tensor(np.asarray(levels_tokens), dtype=torch.long, device=self.sids.device)
        if lt.ndim != 2 or lt.shape[1] != 2:
            raise ConfigError(f"levels_tokens: expected [n, 2] (level, token) rows, got shape {tuple(lt.shape)}")
        lv, tk = lt[:, 0], lt[:, 1]
        if bool(((lv < 0) | (lv >= self.depth)).any()):
            raise ConfigError(f"levels_tokens: a level outside [0, {self.depth})")
        sizes = torch.as_tensor(self.level_sizes, device=lt.device)
        if bool(((tk < 0) | (tk >= sizes[lv])).any()):
            raise ConfigError("levels_tokens: a token outside its level's vocabulary")
        was = self.training
        self.eval()
        if history is None:
            ctx = self.tok.weight.new_zeros(1, self.config.d_model)
        else:
            h = torch.as_tensor(history, dtype=torch.long, device=self.sids.device).reshape(1, -1)[:, -self.config.max_items:]
            codes = self.sids[(h - 1).clamp_min(0)]
            flat = (codes + self.offsets).reshape(1, -1)
            ctx = self._context(flat, (h > 0).repeat_interleave(self.depth, dim=1))
        _, g = self._gate_and_embed((tk + self.offsets[lv]).unsqueeze(0), ctx)
        self.train(was)
        return g[0].float().cpu().numpy()
