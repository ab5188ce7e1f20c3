"""Kept for older imports: the checkpoint format lives in :mod:`genrec_engine.checkpoint`."""
from ..checkpoint import (  # noqa: F401
    GENERATOR_FORMAT,
    STORAGE_DTYPES,
    generator_classes,
    load_generator,
    read_generator_meta,
    save_generator,
    storage_state,
)
from ..checkpoint import __all__  # noqa: F401
