"""App tests run offscreen, and fail when they leave an engine job running."""
from __future__ import annotations

import gc
import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before anything imports Qt

import pytest  # noqa: E402


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """After the test body (before fixtures close its widgets): no bridge may still hold a job."""
    try:
        return (yield)
    finally:
        _check_no_jobs_left()
        gc.collect()  # no job runs now: free earlier tests' Qt objects here, never mid-job


@pytest.fixture(scope="session", autouse=True)
def _collect_only_between_tests():
    """Automatic cyclic GC off for the app tests, as in the app (``IdleCollector``): the collector
    freeing a Qt object while a worker emits a signal can deadlock PySide 6.11."""
    gc.disable()
    yield
    gc.enable()


def _check_no_jobs_left() -> None:
    from app.bridge import live_bridges

    leftovers = []
    for bridge in live_bridges():
        try:
            n = bridge.running()
        except RuntimeError:  # its C++ side is already gone
            continue
        if n:
            leftovers.append((bridge, n))
            bridge.cancel_all()
            bridge.wait_all(10_000)  # clean up so the next test starts from nothing
    if leftovers:
        total = sum(n for _, n in leftovers)
        pytest.fail(f"the test left {total} engine job(s) running on {len(leftovers)} bridge(s)", pytrace=False)


@pytest.fixture(scope="session", autouse=True)
def _private_settings(tmp_path_factory):
    """QSettings (recent projects) go to a temporary folder, never the user's real settings."""
    from PySide6.QtCore import QCoreApplication, QSettings

    QCoreApplication.setOrganizationName("GenRecTests")
    QCoreApplication.setApplicationName("GenRec Explorer tests")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path_factory.mktemp("settings")))


def pytest_sessionfinish(session, exitstatus):
    """Collect Qt wrappers while the QApplication still exists; left to interpreter shutdown, the
    order in which PySide6 and pyqtgraph objects die is undefined (a crash was seen there)."""
    import gc

    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is not None:
        for w in app.topLevelWidgets():
            try:
                w.close()
            except AttributeError:  # a pyqtgraph PlotWidget closed once already (its plot item is gone)
                pass
            w.deleteLater()
        from PySide6.QtCore import QCoreApplication, QEvent

        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()


def pytest_collection_modifyitems(items):
    """Every app test fails on a Qt warning (the offscreen platform's size-hint notice aside)."""
    for item in items:
        if "tests/app/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.qt_log_level_fail("WARNING"))
            item.add_marker(pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints"))


@pytest.fixture(scope="session")
def snapshot():
    """The bundled project, opened once for the whole session (panels only read it)."""
    import app
    from app.bridge import EngineBridge
    from app.panels import load_project

    return EngineBridge.run_sync(load_project, app.DEFAULT_PROJECT)


@pytest.fixture(scope="session")
def cold_snapshot():
    """The bundled cold-start project, opened once for the whole session."""
    from app.bridge import EngineBridge
    from app.panels import load_project
    from app.panels.coldstart import COLD_PROJECT

    return EngineBridge.run_sync(load_project, COLD_PROJECT)
