"""Stage 2: generators behind one protocol (see ``base.py``)."""
from .base import DecodeState, GenerativeModel, pad_histories
from .ran import RAN, RANConfig
from .tiger import TIGER, TIGERConfig
from .sasrec import SASRec, SASRecConfig

MODEL_CLASSES = {"ran": RAN, "sasrec": SASRec, "tiger": TIGER}

__all__ = ["DecodeState", "GenerativeModel", "pad_histories", "RAN", "RANConfig", "SASRec", "SASRecConfig", "TIGER", "TIGERConfig",
           "MODEL_CLASSES"]
