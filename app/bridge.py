"""The one place that runs engine work off the GUI thread.

Engine jobs are plain functions that take the engine's tiny protocol as keyword arguments::

    def job(*args, progress: ProgressFn, cancel: CancelToken, **kwargs) -> object

:meth:`EngineBridge.submit` runs such a function on a worker thread and returns a :class:`Job`
handle whose own signals report that job, always on the GUI thread::

    job.sig_started -> (job.sig_progress | job.sig_partial)* -> (job.sig_result | job.sig_error | job.sig_cancelled) -> job.sig_finished

Exactly one of the three outcomes is emitted per job, and ``sig_finished`` is always the last. A
job that is cancelled never delivers a result, even if its function returned before it noticed the
cancel token: the caller asked for it to stop and must not get stale data. :class:`JobScope` keeps
the latest request of one kind and drops what superseded requests deliver.

**Workers never touch Qt.** They are plain Python threads; what they report goes on a
``queue.SimpleQueue`` and one byte on a socket pair wakes the GUI thread (a ``QSocketNotifier``),
which drains the queue and emits the signals. No Qt call, no signal emission and no Qt object ever
lives or dies on a worker thread. That removes the PySide 6.11 deadlock the old design dodged
(the GUI thread freeing a Qt object while a worker emitted a signal), so the garbage collector
may run at any time on the GUI thread (see :class:`GarbageCollector`).

The bridge also emits bridge-wide signals (``sig_started``, ``sig_progress``,
``sig_error``, ``sig_cancelled``, ``sig_finished``, with the job id) for the window's status bar
and for tests. Results are never broadcast: only the job's handle carries its result, and panels
react to their own jobs through their handles.
"""
from __future__ import annotations

import functools
import gc
import itertools
import logging
import os
import queue
import socket
import sys
import threading
import time
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from typing import Any, Callable

from PySide6.QtCore import QCoreApplication, QObject, QSocketNotifier, QTimer, Signal, Slot
from shiboken6 import isValid

from genrec_engine import Cancelled, CancelToken, GenrecError
from genrec_engine.jobs import collection_paused as paused

__all__ = ["EngineBridge", "Job", "JobScope", "GarbageCollector", "live_bridges"]

log = logging.getLogger(__name__)

#: Bridges alive in this process; the test suite checks none leaves a job behind.
_LIVE: "weakref.WeakSet[EngineBridge]" = weakref.WeakSet()
#: Bridges with unfinished jobs, held strongly so a bridge never vanishes under its own workers.
_BUSY: "set[EngineBridge]" = set()

_PROGRESS_MIN_STEP = 0.001  # emit when the fraction moved by at least 0.1 % ...
_PROGRESS_MIN_INTERVAL_S = 0.05  # ... and at most ~20 progress signals per second per job

_OUTCOMES = {"result": "done", "error": "failed", "cancelled": "cancelled"}


def live_bridges() -> list["EngineBridge"]:
    """Every :class:`EngineBridge` whose Qt object still exists (for test fixtures)."""
    return [b for b in set(_LIVE) | _BUSY if isValid(b)]


class Job(QObject):
    """A handle to one submitted job; its signals report that job only, on the GUI thread.

    ``state`` goes ``"queued" -> "running" -> "done" | "failed" | "cancelled"``. After the job
    ended, ``result`` (state ``done``) or ``error`` (state ``failed``) keeps its outcome. The worker
    never sees this object (only the job's id and its cancel token), so it is created, used and
    freed on the GUI thread.
    """

    sig_started = Signal()
    """The function began running on a worker thread."""

    sig_progress = Signal(float, str)
    """``(fraction, message)``: throttled progress, fraction in [0, 1]; <= ~20 per second."""

    sig_partial = Signal(str, object)
    """``(channel, payload)``: something the job reported through a callback named at submit
    (``partials=("on_epoch",)`` gives the job an ``on_epoch`` keyword whose calls arrive here)."""

    sig_result = Signal(object)
    """``(result)``: the function returned ``result``. Never emitted for a cancelled job."""

    sig_error = Signal(str)
    """``(message)``: the function raised; the engine's one-line explanation."""

    sig_cancelled = Signal()
    """The job stopped (or never started) because it was cancelled."""

    sig_finished = Signal()
    """The last signal of every job, whatever its outcome."""

    def __init__(self, job_id: int, name: str, quiet: bool = False):
        super().__init__()
        self.id = job_id
        self.name = name
        self.quiet = quiet  # housekeeping (a redraw, an index): the window shows no progress bar for it
        self.cancel = CancelToken()
        self.state = "queued"
        self.result: object = None
        self.error: str | None = None

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed", "cancelled")

    def request_cancel(self) -> None:
        """Ask the job to stop at its next check (a no-op once it is over)."""
        self.cancel.cancel()

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"<Job #{self.id} {self.name!r} {self.state}>"


# ------------------------------------------------------------------------------------------- worker


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
            if fraction != self._last_fraction:
                self._pending = (fraction, message)  # too small to show now, but where a flush must end
            return
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


class _Mailbox:
    """Worker -> GUI events: a thread-safe queue plus a wake-up byte on a socket pair.

    ``post`` is the only thing a worker calls; it touches no Qt object. The GUI thread reads the
    socket through a ``QSocketNotifier`` and drains the queue.
    """

    def __init__(self) -> None:
        self.events: "queue.SimpleQueue[tuple[int, str, object]]" = queue.SimpleQueue()
        self.reader, self.writer = socket.socketpair()
        self.reader.setblocking(False)
        self.writer.setblocking(False)
        self._armed = threading.Event()  # a wake-up byte is in flight: do not send another

    def post(self, job_id: int, kind: str, payload: object = None) -> None:
        self.events.put((job_id, kind, payload))
        if not self._armed.is_set():
            self._armed.set()
            try:
                self.writer.send(b"\0")
            except OSError:  # buffer full (the GUI is behind; it will drain all) or already closed
                pass

    def take_all(self) -> list[tuple[int, str, object]]:
        """Every event posted so far (GUI thread).

        Order matters: read the wake-up bytes, *then* disarm, *then* empty the queue. A post that
        lands before the disarm is in the queue we are about to empty; one that lands after it
        sends a fresh byte, which the next call reads. (Disarming before reading the socket could
        swallow the byte of a post that re-armed meanwhile, and no event would be delivered again.)"""
        try:
            while self.reader.recv(4096):
                pass
        except OSError:  # nothing more to read (or closed)
            pass
        self._armed.clear()
        out = []
        while True:
            try:
                out.append(self.events.get_nowait())
            except queue.Empty:
                return out

    def close(self) -> None:
        for s in (self.reader, self.writer):
            try:
                s.close()
            except OSError:  # pragma: no cover
                pass


#: How much lower than the GUI thread a worker thread runs (a nice increment; Linux only).
WORKER_NICE = 5


def lower_thread_priority() -> None:
    """Run the calling thread at a lower CPU priority (the bridge's workers call it as they start).

    With a core busy elsewhere, the GUI thread shares the other one with the workers, and each
    time it asks for the GIL it waits for whichever thread the kernel runs next: at 10^6 items
    that made 100-140 ms stalls while workers hashed and copied. Linux keeps a nice value per
    thread (``setpriority`` on the thread id); elsewhere this does nothing (on other systems the
    same call would renice a process)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + WORKER_NICE))
    except OSError:  # not allowed here: run at the same priority
        pass


def _run_job(
    job_id: int,
    cancel: CancelToken,
    post: Callable[[int, str, object], None],
    fn: Callable[..., Any],
    args: tuple,
    kwargs: dict,
    partials: tuple[str, ...],
) -> None:
    """Worker thread: run one job and post every outcome; never raises, never touches Qt."""
    throttle = _Throttle(lambda f, m: post(job_id, "progress", (f, m)))
    for channel in partials:
        kwargs[channel] = functools.partial(lambda ch, payload: post(job_id, "partial", (ch, payload)), channel)
    try:
        if cancel.cancelled:  # cancelled while still queued: do not start at all
            post(job_id, "cancelled", None)
            return
        post(job_id, "started", None)
        result = fn(*args, progress=throttle, cancel=cancel, **kwargs)
        throttle.flush()
        post(job_id, "cancelled" if cancel.cancelled else "result", None if cancel.cancelled else result)
    except Cancelled:
        post(job_id, "cancelled", None)
    except GenrecError as exc:  # a problem the user can act on: its message says what and where
        post(job_id, "error", str(exc) or type(exc).__name__)
    except BaseException as exc:  # noqa: BLE001 - a worker must never take the app down
        log.exception("engine job #%d failed", job_id)
        post(job_id, "error", f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    finally:
        del fn, args, kwargs  # drop references to job inputs promptly


# ------------------------------------------------------------------------------------------- bridge


class EngineBridge(QObject):
    """Runs engine jobs on worker threads and reports on the GUI thread.

    Public: :meth:`submit` (returns a :class:`Job`), :meth:`cancel`, :meth:`cancel_all`,
    :meth:`wait_all`, :meth:`running`, :meth:`active_threads`, :meth:`job`, :meth:`run_sync` and the
    bridge-wide ``sig_*`` signals. Create it on the GUI thread.
    """

    # ---- bridge-wide signals (GUI thread): the status bar and tests listen; panels use job handles ----
    sig_started = Signal(int, str)
    """``(job_id, name)``: the job's function began running on a worker thread."""

    sig_progress = Signal(int, float, str)
    """``(job_id, fraction, message)``: throttled progress, fraction in [0, 1]; <= ~20 per second."""

    sig_error = Signal(int, str)
    """``(job_id, message)``: the job raised; ``message`` is the engine's one-line explanation."""

    sig_cancelled = Signal(int)
    """``(job_id)``: the job stopped (or never started) because it was cancelled."""

    sig_finished = Signal(int)
    """``(job_id)``: the last signal of every job, whatever its outcome."""

    _ids = itertools.count(1)  # process-wide, so job ids never repeat across bridges

    def __init__(self, parent: QObject | None = None, *, max_threads: int = 2):
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max_workers=max(1, int(max_threads)), thread_name_prefix="genrec-job",
                                        initializer=lower_thread_priority)
        self._jobs: dict[int, Job] = {}  # unfinished jobs, until sig_finished
        self._futures: dict[int, Future] = {}
        self._mail = _Mailbox()
        self._notifier = QSocketNotifier(self._mail.reader.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._drain)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self._on_about_to_quit)
        self.destroyed.connect(functools.partial(_on_bridge_destroyed, weakref.ref(self), self._pool, self._mail))
        _LIVE.add(self)

    # ---- public ----
    def submit(
        self,
        fn: Callable[..., Any],
        *args: Any,
        name: str | None = None,
        partials: tuple[str, ...] = (),
        quiet: bool = False,
        **kwargs: Any,
    ) -> Job:
        """Run ``fn(*args, progress=..., cancel=..., **kwargs)`` on a worker thread; return its handle.

        ``args``/``kwargs`` must be snapshots the GUI will not mutate while the job runs, and no Qt
        objects. Each name in ``partials`` becomes a keyword callback of the job whose calls arrive
        as the handle's ``sig_partial(name, payload)`` (e.g. per-epoch rows of a training run).
        ``quiet``: housekeeping the user did not ask for (:attr:`Job.quiet`; see :meth:`is_quiet`).
        """
        job = Job(next(self._ids), name or getattr(fn, "__name__", "job"), quiet)
        self._jobs[job.id] = job
        _BUSY.add(self)
        self._futures[job.id] = self._pool.submit(
            _run_job, job.id, job.cancel, self._mail.post, fn, args, dict(kwargs), tuple(partials)
        )
        return job

    def is_quiet(self, job_id: int) -> bool:
        """Whether job ``job_id`` was submitted ``quiet`` (no progress bar for it)."""
        job = self._jobs.get(job_id)
        return job is not None and job.quiet

    def cancel(self, job_id: int) -> bool:
        """Ask job ``job_id`` to stop at its next check; False when it is unknown or already over."""
        job = self._jobs.get(job_id)
        if job is None:
            return False
        job.request_cancel()
        return True

    def cancel_all(self) -> None:
        """Ask every unfinished job to stop."""
        for job in list(self._jobs.values()):
            job.request_cancel()

    def wait_all(self, timeout_ms: int = -1) -> bool:
        """Block until every worker has returned and its signals were delivered; False on timeout.

        Meant for quitting and for tests. The signals of finished jobs are delivered before this
        returns (no event loop needed), so :meth:`running` is 0 after a True return.
        """
        pending = [f for f in self._futures.values() if not f.done()]
        _done, not_done = wait_futures(pending, timeout=None if timeout_ms < 0 else timeout_ms / 1000)
        self._drain()
        return not not_done and not self._jobs

    def running(self) -> int:
        """Jobs submitted whose ``sig_finished`` has not been emitted yet."""
        return len(self._jobs)

    def active_threads(self) -> int:
        """Jobs whose function is still running on a worker (0 once every job has returned)."""
        return sum(1 for f in self._futures.values() if f.running())

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
    @Slot()
    def _drain(self) -> None:
        """Deliver every event the workers posted (GUI thread)."""
        for job_id, kind, payload in self._mail.take_all():
            job = self._jobs.get(job_id)
            if job is None:
                continue
            if kind == "started":
                job.state = "running"
                self.sig_started.emit(job_id, job.name)
                job.sig_started.emit()
            elif kind == "progress":
                fraction, message = payload  # type: ignore[misc]
                self.sig_progress.emit(job_id, fraction, message)
                job.sig_progress.emit(fraction, message)
            elif kind == "partial":
                channel, data = payload  # type: ignore[misc]
                job.sig_partial.emit(channel, data)
            else:
                self._finish(job, kind, payload)

    def _finish(self, job: Job, kind: str, payload: object) -> None:
        if job.cancel.cancelled and kind == "result":
            kind, payload = "cancelled", None  # asked to stop: never hand out its result
        job.state = _OUTCOMES[kind]
        del self._jobs[job.id]  # before the outcome signals, so slots see running() drop
        self._futures.pop(job.id, None)
        if not self._jobs:
            _BUSY.discard(self)
        if kind == "result":
            job.result = payload
            job.sig_result.emit(payload)
        elif kind == "error":
            job.error = str(payload)
            self.sig_error.emit(job.id, job.error)
            job.sig_error.emit(job.error)
        else:
            self.sig_cancelled.emit(job.id)
            job.sig_cancelled.emit()
        self.sig_finished.emit(job.id)
        job.sig_finished.emit()

    @Slot()
    def _on_about_to_quit(self) -> None:
        self.cancel_all()
        if not self.wait_all(10_000):
            log.warning("quitting with %d engine job(s) still running", self.running())

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"<EngineBridge running={len(self._jobs)}>"


def _on_bridge_destroyed(ref: "weakref.ref[EngineBridge]", pool: ThreadPoolExecutor, mail: _Mailbox, *_: object) -> None:
    """The Qt side of a bridge is going away (its parent window was deleted): stop its jobs.

    Queued jobs never start; running ones see their cancel token; what they post is dropped.
    """
    bridge = ref()
    if bridge is not None:
        for job in list(bridge._jobs.values()):
            job.cancel.cancel()
        _BUSY.discard(bridge)
    pool.shutdown(wait=False, cancel_futures=True)
    threading.Thread(target=lambda: (pool.shutdown(wait=True), mail.close()), daemon=True).start()


# ------------------------------------------------------------------------------------------- scope


class JobScope:
    """The latest request of one kind (a search, a layout, a decode): submitting again cancels the
    previous job of the scope, and whatever a superseded job still delivers is dropped.

    Callbacks run on the GUI thread and only for the scope's current job::

        self._search = JobScope(bridge)
        self._search.submit(search_items, ids, titles, text, on_result=self._show_hits, on_error=self._show_error)
    """

    def __init__(self, bridge: EngineBridge):
        self._bridge = bridge
        self.current: Job | None = None

    @property
    def busy(self) -> bool:
        """The scope's current job is queued or running."""
        return self.current is not None and not self.current.finished

    def submit(
        self,
        fn: Callable[..., Any],
        *args: Any,
        name: str | None = None,
        on_result: Callable[[Any], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        on_progress: Callable[[float, str], None] | None = None,
        on_partial: Callable[[str, Any], None] | None = None,
        on_cancelled: Callable[[], None] | None = None,
        on_finished: Callable[[], None] | None = None,
        partials: tuple[str, ...] = (),
        quiet: bool = False,
        **kwargs: Any,
    ) -> Job:
        """Cancel the current job (if any) and submit ``fn`` as the new one; see :meth:`EngineBridge.submit`."""
        self.cancel()
        job = self._bridge.submit(fn, *args, name=name, partials=partials, quiet=quiet, **kwargs)
        self.current = job
        for signal, callback in (
            (job.sig_result, on_result), (job.sig_error, on_error), (job.sig_progress, on_progress),
            (job.sig_partial, on_partial), (job.sig_cancelled, on_cancelled), (job.sig_finished, on_finished),
        ):
            if callback is not None:
                signal.connect(self._guard(job, callback))
        return job

    def cancel(self) -> None:
        """Cancel the current job (its late signals are dropped) and forget it."""
        if self.current is not None and not self.current.finished:
            self.current.request_cancel()
        self.current = None

    def _guard(self, job: Job, callback: Callable[..., None]) -> Callable[..., None]:
        def deliver(*args: Any) -> None:
            if self.current is job:
                callback(*args)
        return deliver


# ---------------------------------------------------------------------- garbage collection


class GarbageCollector(QObject):
    """Python's cyclic garbage collector, run on the GUI thread in small, bounded steps.

    Why not automatic collection: it runs on whatever thread happens to allocate, so a worker could
    free a Qt object (a wrapper in a reference cycle) off the GUI thread. So automatic collection is
    off, and this timer does the collector's work on the GUI thread, every ``INTERVAL_MS``:

    - the youngest generation is collected once ``YOUNG_OBJECTS`` objects were allocated since the
      last collection (a worker loading a dataset allocates hundreds of thousands of objects a
      second: many small collections, never one long one);
    - the middle one once ``MIDDLE_OBJECTS`` objects survived young collections;
    - the old generation is never scanned while the app runs: every ``TENURE_S`` seconds the
      survivors (objects that lived through the young collections) are moved to the permanent
      generation with ``gc.freeze()``, which costs nothing. A full collection over the open
      project (~700k tracked objects: catalogue, SID table, panels) took 0.5-0.65 s on a 2-core
      CPU, the pause the old "collect everything every 2 s" timer caused.

    Reference counting frees everything that is not in a cycle at once, frozen or not. The price:
    a reference cycle that becomes garbage only after it was tenured stays until
    :meth:`freeze_long_lived` ``(reclaim=True)``, which the app calls when another project
    replaces the open one (one ~0.5 s pause then, while the new project appears).

    Workers never touch Qt (see the module docstring), so collecting while jobs run is safe, except
    while a job holds :func:`genrec_engine.jobs.collector_paused` (numba compiling UMAP's kernels
    crashed when a collection ran on another thread): ticks are skipped then.
    """

    INTERVAL_MS = 50
    YOUNG_OBJECTS = 20_000  # allocations that trigger a young collection (Python's default: 700)
    MIDDLE_OBJECTS = 50_000  # survivors of young collections that trigger a middle one
    TENURE_S = 30.0

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        gc.disable()
        self.max_ms = 0.0  # the longest single collection so far (the stall benchmark reads it)
        self._middle = 0  # objects that survived young collections since the last middle one
        self._last_tenure = time.monotonic()
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.tick)
        self._timer.start(self.INTERVAL_MS)

    @Slot()
    def tick(self) -> None:
        """One step of the schedule in the class docstring."""
        if paused():
            return  # a job asked for no collection now (numba compiling UMAP's kernels)
        young = gc.get_count()[0]
        if young >= self.YOUNG_OBJECTS:
            self._middle += max(0, young - self._collect(0))
            if self._middle >= self.MIDDLE_OBJECTS:
                self._collect(1)
                self._middle = 0
        if time.monotonic() - self._last_tenure >= self.TENURE_S:
            self._collect(1)
            gc.freeze()
            self._last_tenure = time.monotonic()

    def freeze_long_lived(self, *, reclaim: bool = False) -> None:
        """Move every live object to the permanent generation (after a project was loaded).

        ``reclaim``: first unfreeze and run one full collection (one pause of ~0.5 s), so cycles of
        a project that was closed since the last freeze are freed too."""
        if reclaim:
            gc.unfreeze()
        self._collect(2 if reclaim else 1)
        gc.freeze()
        self._last_tenure = time.monotonic()

    def _collect(self, generation: int) -> int:
        t0 = time.perf_counter()
        n = gc.collect(generation)
        self.max_ms = max(self.max_ms, (time.perf_counter() - t0) * 1000)
        return n
