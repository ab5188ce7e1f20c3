"""Writing export files: atomically (a temporary file in the same folder, then ``os.replace``),
with readable permissions; failures raise :class:`ExportError`, which names the file."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["ExportError", "write_atomic"]

_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read once, at import (on the GUI thread), and put back


class ExportError(OSError):
    """An export could not be written; ``str()`` names the file and says why."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"Could not write {self.path}: {reason}")

    def __str__(self) -> str:
        return f"Could not write {self.path}: {self.reason}"


def write_atomic(path: str | os.PathLike, payload: bytes) -> None:
    """Write ``payload`` to a temporary file next to ``path``, then rename it over ``path``; a
    failed write leaves any previous file untouched and no temporary behind."""
    path = Path(path)
    tmp_name = None
    try:
        with tempfile.NamedTemporaryFile("wb", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp",
                                         delete=False) as fh:
            tmp_name = fh.name
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp_name, 0o666 & ~_UMASK)  # temporary files are private (0600); exports are not
        os.replace(tmp_name, path)
        tmp_name = None
    except OSError as exc:
        raise ExportError(path, exc.strerror or str(exc)) from exc
    finally:
        if tmp_name is not None:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass
