"""The tiny progress/cancel protocol every long engine job takes.

A job is a plain function with two keyword arguments::

    def fit(X, *, progress: ProgressFn | None = None, cancel: CancelToken | None = None): ...

``progress(fraction, message)`` gets a fraction in [0, 1] and a short stage message; it is called
from the worker thread, so GUI code must forward it through a signal. ``cancel`` is checked at
every batch, level and stage boundary; a set token makes the job raise :class:`Cancelled`.
"""
from __future__ import annotations

import contextlib
import gc
import threading
from typing import Callable, Iterator, Protocol

from .errors import Cancelled

__all__ = ["ProgressFn", "CancelToken", "Stage", "report", "check_cancel", "collector_paused", "collection_paused"]

ProgressFn = Callable[[float, str], None]


class CancelToken:
    """A thread-safe flag a caller sets to ask a running job to stop at its next check."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled("cancelled")


class _SupportsCancel(Protocol):
    cancelled: bool


def check_cancel(cancel: CancelToken | None) -> None:
    """Raise :class:`Cancelled` when ``cancel`` is set; a ``None`` token never cancels."""
    if cancel is not None and cancel.cancelled:
        raise Cancelled("cancelled")


def report(progress: ProgressFn | None, fraction: float, message: str) -> None:
    """Call ``progress`` if given, clamping the fraction into [0, 1]."""
    if progress is not None:
        progress(min(1.0, max(0.0, float(fraction))), message)


class Stage:
    """Maps a sub-job's 0..1 progress into the [start, end] slice of a parent job's progress.

    ``Stage(progress, 0.2, 0.6, "level 2")`` passed as a sub-job's ``progress`` reports 0.2..0.6.
    """

    def __init__(self, progress: ProgressFn | None, start: float, end: float, prefix: str = ""):
        self.progress, self.start, self.end, self.prefix = progress, start, end, prefix

    def __call__(self, fraction: float, message: str) -> None:
        msg = f"{self.prefix}: {message}" if self.prefix else message
        report(self.progress, self.start + (self.end - self.start) * fraction, msg)


_PAUSES = 0
_WAS_ENABLED = False
_PAUSES_LOCK = threading.Lock()


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while the block runs, on any thread.

    Automatic collection is switched off (and back on, if it was on, when the last pause ends),
    and :func:`collection_paused` tells a host that collects by hand (the app collects on its GUI
    thread) to wait. For work that a collection on another thread can crash, such as numba
    compiling kernels. Reference counting still frees memory meanwhile."""
    global _PAUSES, _WAS_ENABLED
    with _PAUSES_LOCK:
        if _PAUSES == 0:
            _WAS_ENABLED = gc.isenabled()
        _PAUSES += 1
        gc.disable()
    try:
        yield
    finally:
        with _PAUSES_LOCK:
            _PAUSES -= 1
            if _PAUSES == 0 and _WAS_ENABLED:
                gc.enable()


def collection_paused() -> bool:
    """Whether some job holds :func:`collector_paused` right now."""
    return _PAUSES > 0
