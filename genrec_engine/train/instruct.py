"""Grounding tasks that teach a generator to follow natural-language instructions.

Two tasks are mixed into every training step of an instruction model (``instruction=True``):

* **item text -> SID**: the instruction is the item's own text vector (title, brand, categories
  through MiniLM), the history is empty, the target is the item;
* **next item with a pseudo-instruction**: a (history, next item) pair of a training sequence,
  with an instruction drawn from the next item's category names or brand ("looking for
  toners", "something from Burt's Bees"); with probability ``p_drop_history`` the history is
  dropped, so the model also learns to answer an instruction alone.

The phrases are built from the catalogue (:func:`item_phrases`) and encoded once with the same
MiniLM encoder the app uses for a typed instruction (:func:`build_vocab`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..data.ragged import as_ragged
from ..jobs import CancelToken, ProgressFn
from ..models.instruct import INSTRUCTION_DIM

__all__ = ["InstructionVocab", "GroundingSampler", "item_phrases", "build_vocab", "CATEGORY_TEMPLATES", "BRAND_TEMPLATES"]

# How people phrase a request for a kind of product / a brand (lower case: MiniLM is uncased).
CATEGORY_TEMPLATES = ("{}", "looking for {}", "i need a good {}", "recommend me some {}")
BRAND_TEMPLATES = ("{}", "something from {}")
COMMON_SHARE = 0.5  # a category name on more than half the items (e.g. the root "Beauty") says nothing


@dataclass(frozen=True)
class InstructionVocab:
    """Encoded pseudo-instructions of a catalogue.

    ``phrases [P]`` str and ``vectors [P, 384]`` float32 (L2-normalised); ``item_phrases[i]``
    int64 phrase ids that describe item i (its category names and brand, every template);
    ``item_text [N, 384]`` float32: each item's own text vector."""

    phrases: list[str]
    vectors: np.ndarray
    item_phrases: list[np.ndarray]
    item_text: np.ndarray


def _names(catalogue) -> tuple[list[list[str]], list[str]]:
    """Per item: its informative category names (every level of every path, most specific
    first, deduplicated) and its brand ("" when unknown)."""
    n = len(catalogue)
    cats = []
    for i in range(n):
        seen: list[str] = []
        for path in catalogue.category_paths(i):
            for name in reversed(path):
                name = name.strip()
                if name and name not in seen:
                    seen.append(name)
        cats.append(seen)
    counts: dict[str, int] = {}
    for names in cats:
        for c in names:
            counts[c] = counts.get(c, 0) + 1
    common = {c for c, k in counts.items() if k > COMMON_SHARE * n}
    cats = [[c for c in names if c not in common] for names in cats]
    brands = [str(b).strip() for b in catalogue.items["brand"].tolist()]
    return cats, brands


def item_phrases(catalogue) -> tuple[list[str], list[np.ndarray]]:
    """Every pseudo-instruction of the catalogue and, per item, the ids of those describing it."""
    cats, brands = _names(catalogue)
    phrases: list[str] = []
    ids: dict[str, int] = {}

    def add(text: str) -> int:
        text = text.lower()
        if text not in ids:
            ids[text] = len(phrases)
            phrases.append(text)
        return ids[text]

    per_item = []
    for names, brand in zip(cats, brands):
        own = [add(t.format(c)) for c in names for t in CATEGORY_TEMPLATES]
        if brand:
            own += [add(t.format(brand)) for t in BRAND_TEMPLATES]
        per_item.append(np.asarray(own, dtype=np.int64))
    return phrases, per_item


def build_vocab(project, *, encoder=None, progress: ProgressFn | None = None,
                cancel: CancelToken | None = None) -> InstructionVocab:
    """Encode the project's pseudo-instructions (~5k short phrases for Beauty, ~30 s on CPU the
    first time; the text encoder's disk cache makes later runs instant). The items' own text
    vectors are the project embeddings when they are MiniLM text embeddings, else encoded here."""
    from ..embed import TextEncoder

    encoder = encoder or TextEncoder(device="cpu")
    cat = project.dataset.catalogue
    phrases, per_item = item_phrases(cat)
    vectors = encoder.encode_texts(phrases, progress=progress, cancel=cancel).astype(np.float32)
    meta = project.meta.get("encoder", {})
    if meta.get("name") == "minilm" and project.embeddings.shape[1] == INSTRUCTION_DIM:
        text = project.embeddings.astype(np.float32)
    else:
        text = encoder.encode(cat, cancel=cancel).astype(np.float32)
    return InstructionVocab(phrases, vectors, per_item, text)


class GroundingSampler:
    """Draws grounding batches for :meth:`RAN.training_loss` / :meth:`TIGER.training_loss`.

    ``train_sequences``: item-index arrays (oldest first); ``items``: the item indices the model
    may be asked for (warm items: cold ones are never targets). Each :meth:`batch` has
    ``batch_size`` rows: a share ``p_text`` of item-text examples, the rest pseudo-instruction
    next-item examples. Seeded: the same seed gives the same batches."""

    def __init__(self, vocab: InstructionVocab, train_sequences, items, *, max_len: int, batch_size: int,
                 p_text: float = 0.25, p_drop_history: float = 0.3, seed: int = 0):
        self.vocab = vocab
        self.max_len = int(max_len)
        self.batch_size = int(batch_size)
        self.p_text, self.p_drop = float(p_text), float(p_drop_history)
        self.rng = np.random.default_rng(seed)
        items = np.asarray(items, dtype=np.int64)
        self.text_items = items
        self.seqs = as_ragged(train_sequences)
        # every (sequence, position) whose item has a phrase is a pseudo-instruction example
        has_phrase = np.fromiter(map(len, vocab.item_phrases), dtype=np.int64, count=len(vocab.item_phrases)) > 0
        row, where = self.seqs.positions()
        keep = has_phrase[self.seqs.items[where]]
        self.pairs = np.stack([row[keep], (where - self.seqs.starts[row])[keep]], axis=1).astype(np.int64)
        self.vectors = torch.from_numpy(np.ascontiguousarray(vocab.vectors, dtype=np.float32))
        self.item_text = torch.from_numpy(np.ascontiguousarray(vocab.item_text, dtype=np.float32))

    def batch(self, device: torch.device) -> dict[str, torch.Tensor]:
        """``{"instr_history": [b, W] int64 (index + 1, left-padded, W >= 1), "instr_vec":
        [b, 384] float32, "instr_target": [b] int64 item indices}`` on ``device``."""
        b = self.batch_size
        n_text = int(self.rng.binomial(b, self.p_text)) if len(self.pairs) else b
        targets = np.empty(b, dtype=np.int64)
        hists: list[np.ndarray] = []
        vecs = torch.empty(b, INSTRUCTION_DIM)
        text_items = self.rng.choice(self.text_items, n_text)
        targets[:n_text] = text_items
        vecs[:n_text] = self.item_text[torch.from_numpy(text_items)]
        hists += [np.zeros(0, dtype=np.int64)] * n_text
        picks = self.pairs[self.rng.integers(0, len(self.pairs), b - n_text)] if b > n_text else np.zeros((0, 2), np.int64)
        drop = self.rng.random(len(picks)) < self.p_drop
        phrase_ids = np.empty(len(picks), dtype=np.int64)
        for r, ((u, t), d) in enumerate(zip(picks, drop)):
            s = self.seqs[u]
            target = s[t]
            targets[n_text + r] = target
            own = self.vocab.item_phrases[target]
            phrase_ids[r] = own[self.rng.integers(0, len(own))]
            hists.append(np.zeros(0, dtype=np.int64) if d else s[max(0, t - self.max_len):t])
        if len(picks):
            vecs[n_text:] = self.vectors[torch.from_numpy(phrase_ids)]
        width = max(1, max(len(h) for h in hists))
        H = torch.zeros(b, width, dtype=torch.long)
        for r, h in enumerate(hists):
            if len(h):
                H[r, width - len(h):] = torch.from_numpy(h + 1)
        return {"instr_history": H.to(device), "instr_vec": vecs.to(device),
                "instr_target": torch.from_numpy(targets).to(device)}
