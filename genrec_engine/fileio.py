"""Atomic file writes: write to a temporary file in the same folder, fsync, then rename.

A crash or a full disk mid-write leaves the previous file intact, never a half-written one.
"""
from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

__all__ = ["atomic_path", "write_text_atomic", "write_json_atomic", "read_json", "json_default", "user_cache_root"]


def user_cache_root() -> Path:
    """Where the engine keeps what it can always compute again (embeddings, layouts, validated
    datasets): ``$GENREC_CACHE_DIR``, else ``~/.cache/genrec-explorer``. Never a project folder."""
    return Path(os.environ.get("GENREC_CACHE_DIR") or Path.home() / ".cache" / "genrec-explorer")


@contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target`` atomically."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600 files; give the usual mode
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text_atomic(target: str | os.PathLike, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(target: str | os.PathLike, obj) -> None:
    write_text_atomic(target, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path: str | os.PathLike) -> dict:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def json_default(value):
    """``json.dumps(..., default=json_default)``: NumPy scalars and arrays as plain numbers and
    lists, pandas' missing values as null, paths and anything else as text."""
    import numpy as np

    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if value is None or type(value).__name__ in ("NAType", "NaTType"):
        return None
    return str(value)
