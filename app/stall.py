"""GUI-stall benchmark: how long the GUI thread of the app *as users get it* goes unserved.

:func:`measure_stall` starts the real app through :func:`app.main.launch` (the same window, the
same garbage-collector timer, every timer the app installs) on a project (default: the bundled
one), and runs a ``QTimer`` every 10 ms on the GUI thread. A *stall* is how much later than its
period a tick arrived (``gap - 10 ms``, at least 0): time in which the window could not repaint or
react. A watchdog thread samples the GUI thread's stack while a tick is overdue, so every stall
over 100 ms is reported with the code it was spent in (``culprits``). Three phases are measured
one after another:

- ``loading``: from launch until the project is open and the panels' first jobs are done (for
  information: start-up work is allowed to take the GUI thread briefly);
- ``idle``: ``idle_seconds`` (default 60) with the project open and nothing running;
- ``training``: the training panel trains a generator of the open project in a working copy (a
  cold job start: copying the project, reading the dataset, the first epoch) for ``train_seconds``
  of its time budget, its live curves updating.

Run it headless::

    python -m app.stall --json                     # offscreen; prints one JSON object
    python -m app.stall --idle-seconds 10 --seconds 20 --kind ran
"""
from __future__ import annotations

import argparse
import faulthandler
import gc
import json
import os
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

__all__ = ["measure_stall"]


_OWN = ("/app/", "/genrec_engine/")
_FRAME = re.compile(r'^\s+File "(.*)", line (\d+) in (.*)$')


def _where(frames: list[tuple[str, int, str]]) -> str:
    """Where a stack stands (``frames`` innermost first), for a person: the innermost frame of
    this project's code, and the innermost frame overall when that is elsewhere (a library)."""
    if not frames:
        return "?"

    def name(f) -> str:
        path = f[0].replace(os.sep, "/")
        for mark in (*_OWN, "/site-packages/"):
            if mark in path:
                path = path[path.index(mark) + 1:].removeprefix("site-packages/")
                break
        return f"{path}:{f[1]} {f[2]}"

    own = next((f for f in frames if any(m in f[0].replace(os.sep, "/") for m in _OWN)), None)
    inner = frames[0]
    if own is None:
        return name(inner)
    return name(own) if own is inner else f"{name(own)} > {name(inner)}"


class _StallSampler:
    """A watchdog thread that, while the GUI thread is more than ``after_ms`` late for its next
    tick, samples the GUI thread's stack every ``every_ms``: each long stall is then reported with
    the code it was spent in (``culprits``), not only its length.

    The stacks are read as text from :func:`faulthandler.dump_traceback` (C code, into a temporary
    file), never as frame objects: a frame object held here past its function's return keeps the
    function's locals (Qt wrappers among them) alive and frees them on this thread, which crashed
    PySide at the next collection."""

    def __init__(self, last: list[float], *, after_ms: float = 60.0, every_ms: float = 15.0):
        self._last, self._after, self._every = last, after_ms / 1000.0, every_ms / 1000.0
        self._gui = f"0x{threading.get_ident():016x}"
        self._stop = threading.Event()
        self.samples: dict[float, list[str]] = {}  # tick time the stall began -> GUI stacks seen in it
        self.workers: dict[float, list[str]] = {}  # the same -> other threads' stacks seen in it
        self._thread = threading.Thread(target=self._run, name="stall-sampler", daemon=True)
        self._file = tempfile.TemporaryFile()

    def start(self) -> "_StallSampler":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(1.0)
        self._file.close()

    def _stacks(self) -> tuple[list[tuple[str, int, str]], list[list[tuple[str, int, str]]]]:
        """The GUI thread's frames and every other thread's, innermost first, as (file, line,
        function)."""
        fd = self._file.fileno()
        os.lseek(fd, 0, os.SEEK_SET)
        os.ftruncate(fd, 0)
        faulthandler.dump_traceback(fd, all_threads=True)
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 1 << 20).decode("utf-8", "replace")
        gui: list = []
        others: list[list] = []
        current: list | None = None
        for line in text.splitlines():
            if line.startswith(("Thread 0x", "Current thread 0x")):
                if self._gui in line:
                    current = gui
                elif "Current thread" in line:
                    current = None  # this sampler
                else:
                    current = []
                    others.append(current)
            elif current is not None and (m := _FRAME.match(line)):
                current.append((m.group(1), int(m.group(2)), m.group(3)))
        return gui, others

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            began = self._last[0]
            if time.perf_counter() - began > self._after:
                gui, others = self._stacks()
                if gui:
                    self.samples.setdefault(began, []).append(_where(gui))
                busy = [_where(f) for f in others if f and _working(f)]
                if busy:
                    self.workers.setdefault(began, []).extend(busy)

    def culprits(self, stalls: list[tuple[float, float]], over_ms: float = 100.0, top: int = 12) -> list[dict]:
        """The stalls over ``over_ms`` of a phase, longest first: ``{"ms", "where", "workers"}``:
        the GUI thread's stacks sampled in each, and what the other threads were running meanwhile
        (a worker inside C code that keeps the GIL stalls the GUI thread too), most frequent first,
        with counts. An empty ``where``: no sample could be taken (the GIL was held throughout, by a
        garbage collection or a worker's C call)."""

        def ranked(seen: list[str], n: int) -> list[str]:
            counts: dict[str, int] = {}
            for w in seen:
                counts[w] = counts.get(w, 0) + 1
            return [f"{w} (x{c})" for w, c in sorted(counts.items(), key=lambda kv: -kv[1])][:n]

        out = []
        for began, ms in sorted(stalls, key=lambda s: -s[1]):
            if ms <= over_ms or len(out) >= top:
                continue
            out.append({"ms": round(ms, 1), "where": ranked(self.samples.get(began, []), 3),
                        "workers": ranked(self.workers.get(began, []), 3)})
        return out


_IDLE = ("threading.py", "queue.py", "selectors.py", "concurrent/futures/thread.py", "tqdm/_monitor.py")


def _working(frames: list[tuple[str, int, str]]) -> bool:
    """Whether a thread's innermost frame is doing something (not waiting on a lock or a queue)."""
    inner = frames[0][0].replace(os.sep, "/")
    return not any(inner.endswith(m) for m in _IDLE)


def _stats(stalls_ms: list[float]) -> dict:
    a = np.asarray(stalls_ms if stalls_ms else [0.0])
    return {
        "max_stall_ms": round(float(a.max()), 2),
        "p99_stall_ms": round(float(np.percentile(a, 99)), 2),
        "stalls_over_100ms": int((a > 100).sum()),
        "ticks": len(stalls_ms),
    }


def measure_stall(
    seconds: float = 30.0,
    *,
    idle_seconds: float = 60.0,
    kind: str = "ran",
    project: str | os.PathLike | None = None,
    interval_ms: int = 10,
    work_dir: str | os.PathLike | None = None,
) -> dict:
    """Launch the app on ``project`` (default: the bundled project) and measure GUI-thread stalls
    while loading, idle for ``idle_seconds`` and while generator ``kind`` trains for about
    ``seconds`` (its wall-clock budget; working copies go under ``work_dir``, a temporary folder
    when None).

    Returns a JSON-able dict: ``{"loading"|"idle"|"training": {"max_stall_ms", "p99_stall_ms",
    "stalls_over_100ms", "ticks", "seconds", "culprits"}, "training": {..., "epochs", "cancelled"},
    "max_stall_ms"`` (the worst of idle and training), ``"gc": {"max_collection_ms",
    "frozen_objects"}``, ``"project"``, ``"kind"``, ``"interval_ms"``}.
    """
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QEventLoop, Qt, QTimer

    import app
    from app.main import launch

    project = Path(project) if project is not None else app.DEFAULT_PROJECT
    tmp = None
    if work_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="genrec-stall-", ignore_cleanup_errors=True)
        work_dir = tmp.name
    work_dir = Path(work_dir)

    gaps: list[float] = []
    began: list[float] = []  # when each gap began (the tick before it)
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        gaps.append(max(0.0, (now - last[0]) * 1000.0 - interval_ms))
        began.append(last[0])
        last[0] = now

    sampler = _StallSampler(last)
    culprits: dict[str, list[dict]] = {}

    def phase(until, limit_s: float, name: str) -> tuple[list[float], float]:
        """Run the event loop until ``until()`` is true (checked every tick) or ``limit_s`` passed."""
        gaps.clear()
        began.clear()
        loop = QEventLoop()
        t0 = time.perf_counter()

        def check() -> None:
            if until() or time.perf_counter() - t0 > limit_s:
                loop.quit()

        checker = QTimer()
        checker.setInterval(interval_ms)
        checker.timeout.connect(check)
        checker.start()
        last[0] = time.perf_counter()
        loop.exec()
        checker.stop()
        culprits[name] = sampler.culprits(list(zip(began[1:], gaps[1:])))
        return list(gaps[1:]), time.perf_counter() - t0

    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(interval_ms)
    timer.timeout.connect(tick)
    qapp, window = None, None
    try:
        qapp, window = launch(project, dialogs=False)
        timer.start()
        sampler.start()
        loaded: list[object] = []
        window.sig_project_loaded.connect(loaded.append)
        window.sig_project_failed.connect(lambda m: loaded.append(RuntimeError(m)))
        loading, loading_s = phase(lambda: bool(loaded) and window.bridge.running() == 0, 300, "loading")
        if not loaded or isinstance(loaded[0], Exception):
            raise RuntimeError(f"the project did not load: {loaded[0] if loaded else 'timed out'}")
        idle, idle_s = phase(lambda: False, idle_seconds, "idle")

        panel = window.training
        window.tabs.setCurrentWidget(panel)  # the live curves are on screen, as a user would watch them
        panel.set_output_folder(work_dir)
        controls = panel.controls
        controls.kind_combo.setCurrentIndex(controls.kind_combo.findData(kind))
        controls.epochs_spin.setValue(10_000)
        controls.patience_spin.setValue(1000)
        controls.minutes_spin.setValue(max(seconds / 60.0, 0.01))
        if panel.train() is None:
            raise RuntimeError("the training panel refused to start training")
        training, training_s = phase(lambda: not panel.busy(), seconds + 300, "training")
        cancelled = panel.busy()
        if cancelled:  # the budget should have ended it; a safety net, reported
            panel.cancel()
        timer.stop()
        window.bridge.wait_all(60_000)
        epochs = len(panel.epoch_rows())
        collector = getattr(qapp, "garbage_collector", None)
        out = {
            "project": str(project),
            "kind": kind,
            "interval_ms": interval_ms,
            "loading": {**_stats(loading), "seconds": round(loading_s, 2), "culprits": culprits["loading"]},
            "idle": {**_stats(idle), "seconds": round(idle_s, 2), "culprits": culprits["idle"]},
            "training": {**_stats(training), "seconds": round(training_s, 2), "epochs": epochs, "cancelled": cancelled,
                         "culprits": culprits["training"]},
            "gc": {
                "max_collection_ms": round(collector.max_ms, 2) if collector is not None else None,
                "frozen_objects": gc.get_freeze_count(),
            },
        }
        out["max_stall_ms"] = max(out["idle"]["max_stall_ms"], out["training"]["max_stall_ms"])
        return out
    finally:
        timer.stop()
        sampler.stop()
        if window is not None:
            window.close()
            window.deleteLater()
            qapp.processEvents()
        if tmp is not None:
            tmp.cleanup()


def main(argv: list[str] | None = None) -> int:
    """``python -m app.stall [--idle-seconds S] [--seconds S] [--kind K] [--project P] [--json]``."""
    parser = argparse.ArgumentParser(prog="python -m app.stall", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="training time to measure (default 30)")
    parser.add_argument("--idle-seconds", type=float, default=60.0, help="idle time to measure first (default 60)")
    parser.add_argument("--kind", default="ran", choices=("sasrec", "ran", "tiger"))
    parser.add_argument("--project", type=Path, default=None, help="project folder (default: the bundled one)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    out = measure_stall(args.seconds, idle_seconds=args.idle_seconds, kind=args.kind, project=args.project)
    if args.json:
        print(json.dumps(out))
    else:
        print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
