"""Stage 2: generators behind one protocol (see ``base.py``)."""
from .base import DecodeState, GenerativeModel, pad_histories
from .ran import RAN, RANConfig

MODEL_CLASSES = {"ran": RAN}

__all__ = ["DecodeState", "GenerativeModel", "pad_histories", "RAN", "RANConfig", "MODEL_CLASSES"]
