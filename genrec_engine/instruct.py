"""Instruction inputs: encode a typed request for a generator trained with instructions.

``encode_instruction("gentle cleanser for sensitive skin")`` gives the ``[384]`` MiniLM vector a
generator built with ``instruction=True`` takes as its conditioning token (see
``models/instruct.py``). How well a generator follows one is measured by
:func:`genrec_engine.train.instruct_eval.instruct_eval` (``genrec instruct-eval``).
"""
from __future__ import annotations

import numpy as np

from .errors import ConfigError

__all__ = ["encode_instruction", "encode_instructions"]


def _encoder():
    from .embed import TextEncoder

    return TextEncoder(device="cpu", use_cache=False)  # one phrase: the disk cache would only cost


def encode_instructions(texts, *, encoder=None) -> np.ndarray:
    """``[n, 384]`` float32 L2-normalised vectors of instruction texts (loads MiniLM on first
    use, ~1-3 s; run it off the GUI thread). Empty texts are refused."""
    texts = [str(t).strip() for t in texts]
    for t in texts:
        if not t:
            raise ConfigError("instruction: empty text; type what you are looking for, or leave the instruction out")
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    return (encoder or _encoder()).encode_texts(texts).astype(np.float32)


def encode_instruction(text: str, *, encoder=None) -> np.ndarray:
    """``[384]`` float32: the vector of one instruction text."""
    return encode_instructions([text], encoder=encoder)[0]
