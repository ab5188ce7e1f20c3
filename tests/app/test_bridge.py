"""Job handles, scopes, the worker/GUI mailbox and the GUI-thread garbage collector."""
from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
import threading


from app.bridge import EngineBridge, GarbageCollector, JobScope
from genrec_engine.jobs import collection_paused, collector_paused


def _answer(x, *, progress, cancel, plus=0):
    progress(0.5, "thinking")
    return x + plus


def _wait_for(event: threading.Event, *, progress, cancel):
    while not event.wait(0.005):
        cancel.raise_if_cancelled()
    cancel.raise_if_cancelled()
    return "released"


def _epochs(n, *, progress, cancel, on_epoch):
    for i in range(n):
        on_epoch({"epoch": i})
    return n


def test_a_job_handle_reports_its_own_job_only(qtbot):
    bridge = EngineBridge()
    a_results, b_results = [], []
    a = bridge.submit(_answer, 1, plus=1, name="a")
    b = bridge.submit(_answer, 10, name="b")
    a.sig_result.connect(a_results.append)
    b.sig_result.connect(b_results.append)
    with qtbot.waitSignals([a.sig_started, a.sig_progress, a.sig_result, a.sig_finished], order="strict", timeout=10_000):
        pass
    qtbot.waitUntil(lambda: b.finished, timeout=10_000)
    assert a_results == [2] and b_results == [10]
    assert (a.state, a.result, b.result) == ("done", 2, 10)


def test_partials_arrive_in_order_on_the_handle(qtbot):
    bridge = EngineBridge()
    rows = []
    job = bridge.submit(_epochs, 50, partials=("on_epoch",))
    job.sig_partial.connect(lambda channel, row: rows.append((channel, row["epoch"])))
    with qtbot.waitSignal(job.sig_finished, timeout=10_000):
        pass
    assert rows == [("on_epoch", i) for i in range(50)] and job.result == 50


def test_a_scope_drops_what_a_superseded_job_delivers(qtbot):
    bridge = EngineBridge(max_threads=2)
    scope = JobScope(bridge)
    seen, finished = [], []
    release = threading.Event()
    first = scope.submit(_wait_for, release, on_result=seen.append, on_finished=lambda: finished.append("first"))
    second = scope.submit(_answer, 5, on_result=seen.append, on_finished=lambda: finished.append("second"))
    assert first.cancel.cancelled and scope.current is second
    release.set()
    qtbot.waitUntil(lambda: first.finished and second.finished, timeout=10_000)
    assert seen == [5] and finished == ["second"]
    assert first.state == "cancelled" and not scope.busy


def test_a_cancelled_job_never_delivers_its_result(qtbot):
    bridge = EngineBridge()
    release = threading.Event()
    job = bridge.submit(_wait_for, release)
    results = []
    job.sig_result.connect(results.append)
    qtbot.waitUntil(lambda: job.state == "running", timeout=10_000)
    job.request_cancel()
    release.set()
    with qtbot.waitSignal(job.sig_finished, timeout=10_000):
        pass
    assert results == [] and job.state == "cancelled"


def test_collector_paused_blocks_the_gui_collector_and_restores_gc():
    was = gc.isenabled()
    gc.enable()
    try:
        with collector_paused():
            assert collection_paused() and not gc.isenabled()
            with collector_paused():
                assert collection_paused()
            assert collection_paused() and not gc.isenabled()
        assert not collection_paused() and gc.isenabled()
    finally:
        if not was:
            gc.disable()


def test_the_gc_timer_freezes_long_lived_objects_and_frees_young_cycles(qtbot):
    was = gc.isenabled()
    collector = GarbageCollector()
    try:
        assert not gc.isenabled()  # automatic collection is off: workers never collect

        class Node:
            pass

        import weakref

        a, b = Node(), Node()
        a.other, b.other = b, a
        ref = weakref.ref(a)
        del a, b
        junk = [[i] for i in range(GarbageCollector.YOUNG_OBJECTS + 10)]  # enough young objects for a collection
        collector.tick()
        del junk
        assert ref() is None, "a young cycle survived a tick"
        keep = [[i] for i in range(1000)]
        collector.freeze_long_lived()
        assert gc.get_freeze_count() >= 1000
        del keep
    finally:
        gc.unfreeze()
        collector.deleteLater()
        if was:
            gc.enable()


STRESS = textwrap.dedent(
    """
    import gc, os, sys, threading
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtCore import QObject, QTimer
    from PySide6.QtWidgets import QApplication
    from app.bridge import EngineBridge

    app = QApplication([])
    gc.disable()
    bridge = EngineBridge(max_threads=2)

    def chatty(n, *, progress, cancel, on_item):
        for i in range(n):
            on_item(i)
            progress(i / n, "emit")
        return n

    class Holder(QObject):
        pass

    got = []
    jobs = [bridge.submit(chatty, 3000, partials=("on_item",)) for _ in range(2)]
    for job in jobs:
        job.sig_partial.connect(lambda ch, i: got.append(i))

    def churn():
        # Qt objects in reference cycles, freed by the collector on the GUI thread while workers post
        for _ in range(50):
            h = Holder()
            h.me = h
        gc.collect()
        if all(j.finished for j in jobs):
            app.quit()

    timer = QTimer()
    timer.timeout.connect(churn)
    timer.start(0)
    app.exec()
    assert len(got) == 6000, len(got)
    print("ok", len(got))
    """
)


def test_stress_6000_partials_while_the_gui_collects_qt_cycles_never_deadlocks(tmp_path):
    """The repro of the PySide 6.11 deadlock (a collection freeing Qt objects on the GUI thread while
    workers emit signals), as 2 x 3,000 events: it must finish; a deadlock hits the timeout."""
    script = tmp_path / "stress.py"
    script.write_text(STRESS)
    import app

    root = str(__import__("pathlib").Path(app.__file__).resolve().parents[1])
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=root)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().startswith("ok 6000")


def test_the_mailbox_never_loses_its_wake_up_when_a_post_races_the_drain():
    """A worker posting between the GUI reading the wake-up bytes and emptying the queue must still
    leave the mailbox able to wake the GUI for the next post."""
    from app.bridge import _Mailbox

    box = _Mailbox()
    real = box.reader
    try:
        box.post(1, "progress", 0.1)

        class Racing:  # the first read returns the byte, then a worker posts at once
            def recv(self, n):
                box.reader = real
                data = real.recv(n)
                box.post(1, "progress", 0.2)
                return data

        box.reader = Racing()
        got = box.take_all()  # (the GUI calls it only when a byte woke it)
        assert [e[2] for e in got] == [0.1, 0.2]
        box.post(1, "result", 3)  # and the next post still sends a wake-up byte
        import select

        ready, _, _ = select.select([real], [], [], 1.0)
        assert ready, "the next post sent no wake-up byte: the GUI would never see it"
        assert [e[2] for e in box.take_all()] == [3]
    finally:
        box.reader = real
        box.close()
