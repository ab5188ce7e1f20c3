"""GUI-stall benchmark: how long the GUI thread goes unserved while a generator trains.

:func:`measure_stall` builds a small project in a temporary folder, opens the training monitor
panel on it, and runs a ``QTimer`` every 10 ms on the GUI thread, first with nothing else going on
(the baseline), then while a real training job runs through the :class:`~app.bridge.EngineBridge`
(with the panel's live curves updating). A *stall* is how much later than its 10 ms period a tick
arrived (``gap - 10 ms``, at least 0): time in which the window could not repaint or react.

Run it headless::

    python -m app.stall --json            # offscreen; prints one JSON object
    python -m app.stall --seconds 10 --kind ran
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

__all__ = ["measure_stall"]


def _stats(stalls_ms: list[float]) -> tuple[float, float]:
    if not stalls_ms:
        return 0.0, 0.0
    a = np.asarray(stalls_ms)
    return round(float(a.max()), 2), round(float(np.percentile(a, 99)), 2)


def measure_stall(
    seconds: float = 5.0,
    *,
    baseline_seconds: float = 1.0,
    kind: str = "sasrec",
    interval_ms: int = 10,
    work_dir: str | os.PathLike | None = None,
    items: int = 2000,
    users: int = 1500,
    d_model: int = 32,
) -> dict:
    """Measure GUI-thread stalls with no work (``baseline_seconds``) and during about ``seconds`` of
    training generator ``kind`` on a small project (``items`` Beauty items, ``users`` seeded users)
    built under ``work_dir`` (a temporary folder when None).

    Returns a JSON-able dict: ``max_stall_ms``, ``p99_stall_ms``, ``ticks`` (during training),
    ``training_seconds`` (submit to last signal), ``epochs``, ``baseline_max_stall_ms``,
    ``baseline_p99_stall_ms``, ``baseline_ticks``, ``interval_ms``, ``kind``, ``cancelled``, and
    ``cold_max_stall_ms``: the largest stall of a first, one-epoch warm-up training, which also
    pays the one-time lazy imports of torch submodules on the worker (they hold the GIL).
    Needs a ``QApplication`` (one is created when there is none).
    """
    from PySide6.QtCore import QEventLoop, Qt, QTimer
    from PySide6.QtWidgets import QApplication

    import app
    from app.bridge import EngineBridge
    from app.panels import ProjectViewModel, load_project
    from app.panels.training import TrainingPanel
    from app.selection import Selection
    from genrec_engine.testing import make_tiny_project

    qapp = QApplication.instance() or QApplication(sys.argv[:1])
    tmp = None
    if work_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="genrec-stall-", ignore_cleanup_errors=True)
        work_dir = tmp.name
    work_dir = Path(work_dir)
    try:
        project = make_tiny_project(app.RESOURCES / "datasets" / "beauty", work_dir / "bench", items=items, users=users,
                                    per_user=8, levels=2, codebook_size=32)
        snapshot = EngineBridge.run_sync(load_project, project)
        vm, selection, bridge = ProjectViewModel(), Selection(), EngineBridge()
        vm.set_snapshot(snapshot)
        selection.set_sid_table(snapshot.project.sids)
        panel = TrainingPanel(vm, selection, bridge)
        panel.resize(1280, 760)
        panel.show()
        panel.set_output_folder(work_dir / "work")
        panel.kind_combo.setCurrentIndex(panel.kind_combo.findData(kind))
        panel.eval_spin.setValue(5)
        panel.patience_spin.setValue(1000)
        panel.dmodel_spin.setValue(d_model)
        panel.layers_spin.setValue(1)

        gaps: list[float] = []
        last = [time.perf_counter()]

        def tick() -> None:
            now = time.perf_counter()
            gaps.append(max(0.0, (now - last[0]) * 1000.0 - interval_ms))
            last[0] = now

        timer = QTimer()
        timer.setTimerType(Qt.TimerType.PreciseTimer)
        timer.setInterval(interval_ms)
        timer.timeout.connect(tick)
        loop = QEventLoop()

        # baseline: the same timer, nothing else running
        last[0] = time.perf_counter()
        timer.start()
        QTimer.singleShot(int(baseline_seconds * 1000), loop.quit)
        loop.exec()
        baseline = gaps[1:]  # the first gap includes the start-up
        gaps.clear()

        def run_training(budget_s: float, epochs: int) -> tuple[list[float], float, bool]:
            """Train through the panel until the job ends; the timer's stalls, seconds, cancelled."""
            gaps.clear()
            done, cancelled = [False], [False]

            def finished(busy: bool) -> None:
                if not busy:
                    done[0] = True
                    loop.quit()

            def overtime() -> None:  # the time budget should end training first; this is a safety net
                if not done[0]:
                    cancelled[0] = True
                    panel.cancel()

            panel.epochs_spin.setValue(epochs)
            panel.minutes_spin.setValue(max(budget_s / 60.0, 0.01))
            panel.sig_job_state_changed.connect(finished)
            t0 = time.perf_counter()
            last[0] = t0
            if panel.train() is None:
                raise RuntimeError("the training monitor refused to start training")
            guard = QTimer()
            guard.setSingleShot(True)
            guard.timeout.connect(overtime)
            guard.start(int((budget_s + 60) * 1000))
            loop.exec()
            guard.stop()
            panel.sig_job_state_changed.disconnect(finished)
            return gaps[1:], time.perf_counter() - t0, cancelled[0]

        # cold: the first training in a process also pays one-time lazy imports on the worker
        # (torch submodules), which hold the GIL; measured separately from the steady state
        cold, _, _ = run_training(1.0, 1)
        # steady state: a fresh working copy, the panel's curves updating every epoch
        panel.set_output_folder(work_dir / "work2")
        panel.reset_working_copy()  # a new working copy, made by the job like the first one
        during, training_seconds, cancelled = run_training(seconds, 10_000)
        timer.stop()
        bridge.wait_all(30_000)
        epochs = len(panel.epoch_rows())
        panel.close()
        panel.deleteLater()
        qapp.processEvents()
        mx, p99 = _stats(during)
        bmx, bp99 = _stats(baseline)
        return {
            "max_stall_ms": mx,
            "p99_stall_ms": p99,
            "ticks": len(during),
            "training_seconds": round(training_seconds, 2),
            "epochs": epochs,
            "baseline_max_stall_ms": bmx,
            "baseline_p99_stall_ms": bp99,
            "baseline_ticks": len(baseline),
            "interval_ms": interval_ms,
            "kind": kind,
            "items": items,
            "users": users,
            "cancelled": cancelled,
            "cold_max_stall_ms": _stats(cold)[0],
        }
    finally:
        if tmp is not None:
            tmp.cleanup()


def main(argv: list[str] | None = None) -> int:
    """``python -m app.stall [--seconds S] [--kind K] [--json]``: print the measurement."""
    parser = argparse.ArgumentParser(prog="python -m app.stall", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="training time to measure (default 5)")
    parser.add_argument("--baseline-seconds", type=float, default=1.0, help="idle measurement first (default 1)")
    parser.add_argument("--kind", default="sasrec", choices=("sasrec", "ran", "tiger"))
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    out = measure_stall(args.seconds, baseline_seconds=args.baseline_seconds, kind=args.kind)
    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k:>22}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
