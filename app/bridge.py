"""The one place that runs engine work off the GUI thread.

Engine jobs are plain functions that take the engine's tiny protocol as keyword arguments::

    def job(*args, progress: ProgressFn, cancel: CancelToken, **kwargs) -> object

:class:`EngineBridge` runs such a function on a worker thread of its own ``QThreadPool`` and
reports back through signals that are always delivered on the GUI thread (the bridge lives there
and every worker event reaches it through a queued connection). A worker never touches a widget
or any other GUI-owned object; what a job needs goes in as arguments (a snapshot), what it makes
comes back as the ``sig_result`` payload.

Life of a job, as seen by a slot::

    sig_started -> sig_progress* -> (sig_result | sig_error | sig_cancelled) -> sig_finished

Exactly one of the three outcomes is emitted per job, and ``sig_finished`` is always the last
signal of a job. A job that is cancelled never delivers a result, even if its function returned
before it noticed the cancel token: the caller asked for it to stop and must not get stale data.
"""
from __future__ import annotations

import functools
import itertools
import logging
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable

from PySide6.QtCore import QCoreApplication, QEvent, QObject, QRunnable, Qt, QThreadPool, Signal, Slot
from shiboken6 import isValid

from genrec_engine import Cancelled, CancelToken, GenrecError

__all__ = ["EngineBridge", "Job", "live_bridges"]

log = logging.getLogger(__name__)

#: Bridges alive in this process; the test suite checks none leaves a job behind.
_LIVE: "weakref.WeakSet[EngineBridge]" = weakref.WeakSet()
#: Bridges with unfinished jobs, held strongly so a bridge never vanishes under its own workers.
_BUSY: "set[EngineBridge]" = set()

_PROGRESS_MIN_STEP = 0.001  # emit when the fraction moved by at least 0.1 % ...
_PROGRESS_MIN_INTERVAL_S = 0.05  # ... and at most ~20 progress signals per second per job


def live_bridges() -> list["EngineBridge"]:
    """Every :class:`EngineBridge` whose Qt object still exists (for test fixtures)."""
    return [b for b in set(_LIVE) | _BUSY if isValid(b)]


@dataclass
class Job:
    """A handle to one submitted job. Read it on the GUI thread; the worker only sets ``cancel``.

    ``state`` goes ``"queued" -> "running" -> "done" | "failed" | "cancelled"`` as the bridge
    delivers the job's signals.
    """

    id: int
    name: str
    cancel: CancelToken = field(default_factory=CancelToken, repr=False)
    state: str = "queued"

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed", "cancelled")


# ------------------------------------------------------------------------------------------- worker


class _Relay(QObject):
    """Carries worker events to the bridge. Emitted from worker threads, received on the GUI thread."""

    sig_event = Signal(int, str, object)  # job id, kind ("started"|"progress"|"result"|"error"|"cancelled"), payload


class _Throttle:
    """The ``progress`` callable handed to a job; forwards at most ~20 updates/s that moved >= 0.1 %.

    Called on the worker thread only. The latest update that was held back is kept so it can be
    flushed when the job ends (the bar then shows where the job really stopped).
    """

    def __init__(self, emit: Callable[[float, str], None]):
        self._emit = emit
        self._last_fraction = -1.0
        self._last_message: str | None = None
        self._last_time = 0.0
        self._pending: tuple[float, str] | None = None

    def __call__(self, fraction: float, message: str = "") -> None:
        fraction = min(1.0, max(0.0, float(fraction)))
        message = str(message)
        moved = abs(fraction - self._last_fraction) >= _PROGRESS_MIN_STEP
        if not moved and message == self._last_message:
            return  # nothing new to show
        now = time.monotonic()
        if now - self._last_time < _PROGRESS_MIN_INTERVAL_S:
            self._pending = (fraction, message)
            return
        self._send(fraction, message, now)

    def flush(self) -> None:
        if self._pending is not None:
            self._send(*self._pending, time.monotonic())

    def _send(self, fraction: float, message: str, now: float) -> None:
        self._last_fraction, self._last_message, self._last_time = fraction, message, now
        self._pending = None
        self._emit(fraction, message)


class _Worker(QRunnable):
    """Runs one job on a pool thread and reports every outcome through the relay; never raises."""

    def __init__(self, job: Job, relay: _Relay, fn: Callable[..., Any], args: tuple, kwargs: dict):
        super().__init__()
        # autoDelete (the default): the pool owns the runnable and deletes it after run() has
        # returned. The bridge must not own it: dropping it when the outcome event arrives could
        # delete the C++ object while the pool thread is still leaving run() (a crash seen in tests).
        self._job, self._relay, self._fn, self._args, self._kwargs = job, relay, fn, args, kwargs

    def run(self) -> None:  # pool thread
        job, emit = self._job, self._relay.sig_event.emit
        throttle = _Throttle(lambda f, m: emit(job.id, "progress", (f, m)))
        try:
            if job.cancel.cancelled:  # cancelled while still queued: do not start at all
                emit(job.id, "cancelled", None)
                return
            emit(job.id, "started", None)
            result = self._fn(*self._args, progress=throttle, cancel=job.cancel, **self._kwargs)
            throttle.flush()
            if job.cancel.cancelled:
                emit(job.id, "cancelled", None)
            else:
                emit(job.id, "result", result)
        except Cancelled:
            emit(job.id, "cancelled", None)
        except GenrecError as exc:  # a problem the user can act on: its message says what and where
            emit(job.id, "error", str(exc) or type(exc).__name__)
        except BaseException as exc:  # noqa: BLE001 - a worker must never take the app down
            log.exception("engine job %r (#%d) failed", job.name, job.id)
            emit(job.id, "error", f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        finally:
            self._fn = self._args = self._kwargs = None  # drop references to job inputs promptly


# ------------------------------------------------------------------------------------------- bridge


class EngineBridge(QObject):
    """Runs engine jobs on worker threads and reports on the GUI thread.

    Public: :meth:`submit`, :meth:`cancel`, :meth:`cancel_all`, :meth:`wait_all`, :meth:`running`,
    :meth:`run_sync` and the ``sig_*`` signals. Create it on the GUI thread.
    """

    # ---- signals (always emitted on the GUI thread) ----
    sig_started = Signal(int, str)
    """``(job_id, name)``: the job's function began running on a worker thread."""

    sig_progress = Signal(int, float, str)
    """``(job_id, fraction, message)``: throttled progress, fraction in [0, 1]; <= ~20 per second."""

    sig_result = Signal(int, object)
    """``(job_id, result)``: the job returned ``result``. Not emitted for a cancelled job."""

    sig_error = Signal(int, str)
    """``(job_id, message)``: the job raised; ``message`` is the engine's one-line explanation."""

    sig_cancelled = Signal(int)
    """``(job_id)``: the job stopped (or never started) because it was cancelled."""

    sig_finished = Signal(int)
    """``(job_id)``: the last signal of every job, whatever its outcome."""

    _ids = itertools.count(1)  # process-wide, so job ids never repeat across bridges

    def __init__(self, parent: QObject | None = None, *, max_threads: int = 2):
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max(1, int(max_threads)))
        self._jobs: dict[int, Job] = {}  # unfinished jobs, until sig_finished
        self._relay = _Relay(self)
        self._relay.sig_event.connect(self._on_worker_event, Qt.ConnectionType.QueuedConnection)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self._on_about_to_quit)
        self.destroyed.connect(functools.partial(_on_bridge_destroyed, weakref.ref(self)))
        _LIVE.add(self)

    # ---- public ----
    def submit(self, fn: Callable[..., Any], *args: Any, name: str | None = None, **kwargs: Any) -> Job:
        """Run ``fn(*args, progress=..., cancel=..., **kwargs)`` on a worker thread; return its handle.

        ``args``/``kwargs`` must be snapshots the GUI will not mutate while the job runs.
        """
        job = Job(id=next(self._ids), name=name or getattr(fn, "__name__", "job"))
        worker = _Worker(job, self._relay, fn, args, kwargs)
        self._jobs[job.id] = job
        _BUSY.add(self)
        self._pool.start(worker)
        return job

    def cancel(self, job_id: int) -> bool:
        """Ask job ``job_id`` to stop at its next check; False when it is unknown or already over."""
        job = self._jobs.get(job_id)
        if job is None:
            return False
        job.cancel.cancel()
        return True

    def cancel_all(self) -> None:
        """Ask every unfinished job to stop."""
        for job in list(self._jobs.values()):
            job.cancel.cancel()

    def wait_all(self, timeout_ms: int = -1) -> bool:
        """Block until every worker has returned and its signals were delivered; False on timeout.

        Meant for quitting and for tests. The signals of finished jobs are delivered before this
        returns, so :meth:`running` is 0 after a True return.
        """
        done = self._pool.waitForDone(int(timeout_ms))
        # the workers' events are queued on this object; deliver them now (just ours, no event loop)
        QCoreApplication.sendPostedEvents(self, QEvent.Type.MetaCall)
        return done and not self._jobs

    def running(self) -> int:
        """Jobs submitted whose ``sig_finished`` has not been emitted yet."""
        return len(self._jobs)

    def active_threads(self) -> int:
        """Worker threads busy right now (0 once every job has returned)."""
        return self._pool.activeThreadCount()

    def job(self, job_id: int) -> Job | None:
        """The handle of an unfinished job, or None."""
        return self._jobs.get(job_id)

    @staticmethod
    def run_sync(
        fn: Callable[..., Any],
        *args: Any,
        progress: Callable[[float, str], None] | None = None,
        cancel: CancelToken | None = None,
        **kwargs: Any,
    ) -> Any:
        """Run a job on the calling thread with the same protocol; exceptions propagate.

        For tests and scripts that want the job's result without an event loop.
        """
        return fn(*args, progress=progress or (lambda f, m: None), cancel=cancel or CancelToken(), **kwargs)

    # ---- private ----
    @Slot(int, str, object)
    def _on_worker_event(self, job_id: int, kind: str, payload: object) -> None:
        job = self._jobs.get(job_id)
        if job is None:
            return
        if kind == "started":
            job.state = "running"
            self.sig_started.emit(job_id, job.name)
        elif kind == "progress":
            fraction, message = payload  # type: ignore[misc]
            self.sig_progress.emit(job_id, fraction, message)
        else:
            job.state = {"result": "done", "error": "failed", "cancelled": "cancelled"}[kind]
            del self._jobs[job_id]  # before the outcome signals, so slots see running() drop
            if not self._jobs:
                _BUSY.discard(self)
            if kind == "result":
                self.sig_result.emit(job_id, payload)
            elif kind == "error":
                self.sig_error.emit(job_id, str(payload))
            else:
                self.sig_cancelled.emit(job_id)
            self.sig_finished.emit(job_id)

    @Slot()
    def _on_about_to_quit(self) -> None:
        self.cancel_all()
        if not self.wait_all(10_000):
            log.warning("quitting with %d engine job(s) still running", self.running())

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"<EngineBridge running={len(self._jobs)}>"


def _on_bridge_destroyed(ref: "weakref.ref[EngineBridge]", *_: object) -> None:
    """The Qt side of a bridge is going away (its parent window was deleted): stop its jobs.

    Its thread pool, a child, then waits for the workers; their undelivered signals are dropped.
    """
    bridge = ref()
    if bridge is not None:
        bridge.cancel_all()
        _BUSY.discard(bridge)


# ---------------------------------------------------------------------- garbage collection


def jobs_running() -> bool:
    """Whether any live bridge still has a job queued or running."""
    for bridge in live_bridges():
        try:
            if bridge.running():
                return True
        except RuntimeError:  # its C++ side is already gone
            continue
    return False


class IdleCollector(QObject):
    """Runs Python's cyclic garbage collector only while no engine job is running.

    Why: when the collector frees a Qt object on the GUI thread while a worker emits a signal,
    PySide 6.11 can deadlock (the GUI thread holds the GIL and waits for a Qt mutex that the
    emitting worker holds while it waits for the GIL). With automatic collection off and this
    timer collecting between jobs, Qt objects are never freed by the collector during a job.
    Reference counting still frees everything that is not in a cycle at once."""

    INTERVAL_MS = 2000

    def __init__(self, parent: QObject | None = None):
        from PySide6.QtCore import QTimer

        super().__init__(parent)
        import gc

        gc.disable()
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.collect_if_idle)
        self._timer.start(self.INTERVAL_MS)

    @Slot()
    def collect_if_idle(self) -> bool:
        """Collect now unless a job runs; returns whether it collected."""
        import gc

        if jobs_running():
            return False
        gc.collect()
        return True
