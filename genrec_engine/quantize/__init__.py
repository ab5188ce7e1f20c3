"""Stage 1: tokenizers that turn content embeddings into semantic IDs, and their diagnostics."""
from .base import Quantizer
from .config import IMPORTED, METHODS, QuantizerConfig, suggest_codebook_size
from .diagnostics import LevelStats, TokenizerDiagnostics, diagnose_codes
from .gaoq import GAOQ
from .imported import ImportedCodebooks, agreement
from .kmeans import kmeans
from .registry import TOKENIZER_FORMAT, build_quantizer, load_quantizer, save_quantizer
from .rkmeans import ResidualKMeans
from .sids import COLLISION_POLICIES, SIDTable, balance_last_level, collision_index
from .vae import RQVAE, ProductVQVAE

__all__ = [
    "Quantizer", "QuantizerConfig", "suggest_codebook_size", "METHODS", "IMPORTED", "ImportedCodebooks", "agreement", "ResidualKMeans", "RQVAE", "ProductVQVAE", "GAOQ",
    "build_quantizer", "save_quantizer", "load_quantizer", "TOKENIZER_FORMAT", "kmeans",
    "SIDTable", "collision_index", "balance_last_level", "COLLISION_POLICIES",
    "LevelStats", "TokenizerDiagnostics", "diagnose_codes",
]
