"""The one configuration dataclass every tokenizer (quantizer) is built from."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..errors import ConfigError

__all__ = ["QuantizerConfig", "METHODS", "IMPORTED", "suggest_codebook_size", "ITEMS_PER_CODEWORD"]

ITEMS_PER_CODEWORD = 16  # k-means wants many items per centroid; fewer leave codewords dead


def suggest_codebook_size(n_items: int, *, largest: int = 256) -> int:
    """A codebook size K for a catalogue of ``n_items``: the largest power of two with at least
    :data:`ITEMS_PER_CODEWORD` items per codeword, from 4 to ``largest`` (256, the usual K). Every
    level is fitted on all items' residuals, so K far above N / 16 leaves codewords dead: 300 items
    with K = 256 left 175 of 256 unused at level 2; the suggestion for them is 16. From 4,096 items
    on it is 256."""
    k = 4
    while k * 2 <= largest and k * 2 * ITEMS_PER_CODEWORD <= max(int(n_items), 0):
        k *= 2
    return k

METHODS = ("rkmeans", "rqvae", "vqvae", "gaoq")  # tokenizers that are fitted from embeddings
IMPORTED = "imported"  # codebooks derived from a foreign SID table (see quantize/imported.py)


@dataclass(frozen=True)
class QuantizerConfig:
    """Settings of a Stage-1 tokenizer. Saved as JSON beside the safetensors weights.

    Fields a method does not use are ignored by it (the VAE fields by ``rkmeans`` and ``gaoq``).
    """

    method: str = "rkmeans"
    levels: int = 3  # L: codebook levels before the collision level (TIGER uses 3)
    codebook_size: int = 256  # K: codewords per level (TIGER uses 256); the largest level when sizes differ
    codebook_sizes: tuple[int, ...] = ()  # per-level K when levels differ (imported tables); empty: all K
    seed: int = 0
    device: str = "auto"  # "auto" picks CUDA when present
    # --- k-means (rkmeans, and codebook init of the VAEs) ---
    kmeans_iters: int = 25  # Lloyd iterations; on 12k items it converges in ~20
    minibatch_threshold: int = 200_000  # above this many items, fit on a sample of this size
    # --- autoencoders (rqvae, vqvae) ---
    latent_dim: int = 32  # TIGER's RQ-VAE uses a 32-d latent
    hidden_dims: tuple[int, ...] = (512, 256, 128)  # encoder MLP; the decoder mirrors it
    steps: int = 3000  # optimiser steps (independent of catalogue size, so 1M items stays bounded)
    batch_size: int = 1024
    lr: float = 1e-3
    beta: float = 0.25  # commitment weight, as in VQ-VAE / TIGER
    restart_every: int = 100  # steps between dead-code restarts; 0 disables them
    # --- GAOQ ---
    gaoq_iters: int = 15  # alternations of assignment and orthogonal (Procrustes) direction updates
    # --- SID table ---
    balance_last_level: bool = False  # re-assign the last level within each prefix to cut collisions
    extra: dict = field(default_factory=dict, compare=False)  # free-form notes kept in the JSON

    def __post_init__(self) -> None:
        if self.method not in METHODS + (IMPORTED,):
            raise ConfigError(f"method={self.method!r}: expected one of {', '.join(METHODS)}")
        for name in ("levels", "codebook_size", "kmeans_iters", "latent_dim", "steps", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name}={value!r}: must be a positive integer")
        if self.codebook_size < 2:
            raise ConfigError(f"codebook_size={self.codebook_size}: needs at least 2 codewords")
        if self.levels > 8:
            raise ConfigError(f"levels={self.levels}: at most 8 levels are supported")
        if not (self.lr > 0):
            raise ConfigError(f"lr={self.lr!r}: must be > 0")
        if not (self.beta >= 0):
            raise ConfigError(f"beta={self.beta!r}: must be >= 0")
        if self.restart_every < 0:
            raise ConfigError(f"restart_every={self.restart_every}: must be >= 0")
        if any((not isinstance(h, int)) or h < 1 for h in self.hidden_dims):
            raise ConfigError(f"hidden_dims={self.hidden_dims!r}: must be positive integers")
        if self.method == "vqvae" and self.latent_dim % self.levels:
            raise ConfigError(
                f"latent_dim={self.latent_dim}: vqvae splits the latent into levels={self.levels} "
                "equal parts, so latent_dim must be a multiple of levels"
            )
        object.__setattr__(self, "hidden_dims", tuple(self.hidden_dims))
        sizes = tuple(self.codebook_sizes)
        if sizes and (len(sizes) != self.levels or any(not isinstance(k, int) or k < 1 for k in sizes)
                      or max(sizes) != self.codebook_size):
            raise ConfigError(f"codebook_sizes={list(sizes)}: expected {self.levels} positive sizes whose largest "
                              f"is codebook_size={self.codebook_size}")
        object.__setattr__(self, "codebook_sizes", sizes)

    @property
    def sizes(self) -> tuple[int, ...]:
        """Codebook size of each level."""
        return self.codebook_sizes or (self.codebook_size,) * self.levels

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["hidden_dims"] = list(self.hidden_dims)
        d["codebook_sizes"] = list(self.codebook_sizes)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "QuantizerConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown tokenizer config field(s): {', '.join(unknown)}")
        d = dict(d)
        if "hidden_dims" in d:
            d["hidden_dims"] = tuple(d["hidden_dims"])
        if "codebook_sizes" in d:
            d["codebook_sizes"] = tuple(d["codebook_sizes"])
        return cls(**d)
