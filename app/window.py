"""The main window: menus, status bar and the panels. It composes; it does not compute.

Engine work (opening a project, later training and decoding) goes through the window's
:class:`~app.bridge.EngineBridge`; results land in the shared
:class:`~app.panels.ProjectViewModel`, which the panels watch.
"""
from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTabWidget,
    QWidget,
)

import genrec_engine

from . import DEFAULT_PROJECT
from .bridge import EngineBridge, Job
from .panels import ProjectSnapshot, ProjectViewModel, load_project
from .panels.overview import OverviewPanel
from .selection import Selection

__all__ = ["MainWindow"]

_STATUS_MESSAGE_MS = 8000


class MainWindow(QMainWindow):
    """GenRec Explorer's window. Opens ``project`` (default: the bundled one) in the background.

    ``dialogs=False`` reports errors only in the status bar and through ``sig_project_failed``
    (for ``--screenshot`` runs, where nobody is there to close a dialog).
    """

    sig_project_loaded = Signal(object)
    """``(ProjectSnapshot)``: a project finished loading and is now shown."""

    sig_project_failed = Signal(str)
    """``(message)``: opening a project failed; the previous project (if any) stays open."""

    def __init__(
        self,
        project: str | os.PathLike | None = DEFAULT_PROJECT,
        *,
        bridge: EngineBridge | None = None,
        dialogs: bool = True,
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        self.setWindowTitle("GenRec Explorer")
        self.bridge = bridge or EngineBridge(self)
        self.view_model = ProjectViewModel(self)
        self.selection = Selection(self)  # linked selection, shared by every panel
        self.dialogs = dialogs
        self.error_box: QMessageBox | None = None  # the last error dialog (non-blocking)
        self._open_job: Job | None = None  # the one project load whose result will be applied
        self._superseded: set[int] = set()  # older loads still winding down: their outcome is ignored
        self._progress_job: int | None = None  # the job the status-bar bar follows

        # panels
        self.overview = OverviewPanel(self.view_model)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.overview, "Overview")
        self.setCentralWidget(self.tabs)

        self._build_menus()
        self._build_status_bar()

        self.bridge.sig_started.connect(self._on_job_started)
        self.bridge.sig_progress.connect(self._on_job_progress)
        self.bridge.sig_result.connect(self._on_job_result)
        self.bridge.sig_error.connect(self._on_job_error)
        self.bridge.sig_cancelled.connect(self._on_job_cancelled)
        self.bridge.sig_finished.connect(self._on_job_finished)
        self.view_model.sig_project_changed.connect(self._on_project_changed)

        if project is not None:
            self.open_project(project)

    # ---- public ----
    def open_project(self, path: str | os.PathLike) -> Job:
        """Start loading the project at ``path`` in the background; the current one stays until it loads."""
        if self._open_job is not None and not self._open_job.finished:
            self.bridge.cancel(self._open_job.id)  # a newer request supersedes it
            self._superseded.add(self._open_job.id)
        path = Path(path).expanduser()
        self.view_model.set_loading(path)
        self.statusBar().showMessage(f"Opening {path} …")
        self._open_job = self.bridge.submit(load_project, path, name=f"Opening {path.name or path}")
        return self._open_job

    @property
    def snapshot(self) -> ProjectSnapshot | None:
        return self.view_model.snapshot

    # ---- private: building ----
    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.action_open = QAction("&Open project…", self)
        self.action_open.setShortcut(QKeySequence.StandardKey.Open)
        self.action_open.setStatusTip("Open a project folder written by `genrec tokenize`")
        self.action_open.triggered.connect(self._ask_open_project)
        file_menu.addAction(self.action_open)
        file_menu.addSeparator()
        self.action_quit = QAction("&Quit", self)
        self.action_quit.setShortcut(QKeySequence.StandardKey.Quit)
        self.action_quit.setMenuRole(QAction.MenuRole.QuitRole)
        self.action_quit.triggered.connect(self.close)
        file_menu.addAction(self.action_quit)

        help_menu = self.menuBar().addMenu("&Help")
        self.action_about = QAction("&About GenRec Explorer", self)
        self.action_about.setMenuRole(QAction.MenuRole.AboutRole)
        self.action_about.triggered.connect(self._show_about)
        help_menu.addAction(self.action_about)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.project_label = QLabel("No project")
        self.project_label.setToolTip("The open project")
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setFixedWidth(180)
        self.progress_bar.setTextVisible(True)
        self.progress_bar.setFormat("%p %")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the running job at its next checkpoint")
        self.cancel_button.clicked.connect(self._cancel_progress_job)
        self.device_label = QLabel(f"Device: {genrec_engine.device_label()}")
        self.device_label.setToolTip("Where the engine runs its tensors (CUDA when present, else the CPU)")
        for w in (self.project_label, self.progress_bar, self.cancel_button, self.device_label):
            bar.addPermanentWidget(w)
        self._show_progress(False)

    def _show_progress(self, visible: bool) -> None:
        self.progress_bar.setVisible(visible)
        self.cancel_button.setVisible(visible)
        if not visible:
            self.progress_bar.setValue(0)

    # ---- private: actions ----
    @Slot()
    def _ask_open_project(self) -> None:
        start = str(self.snapshot.path.parent) if self.snapshot else str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Open a GenRec project folder", start)
        if folder:
            self.open_project(folder)

    @Slot()
    def _show_about(self) -> None:
        box = QMessageBox(self)
        box.setWindowTitle("About GenRec Explorer")
        box.setIconPixmap(self.windowIcon().pixmap(64, 64))
        box.setText(f"<b>GenRec Explorer</b> {genrec_engine.__version__}")
        box.setInformativeText(
            "See inside generative recommenders: semantic IDs, prefix tries and constrained beam "
            "search.<br><br>Engine: <code>genrec_engine</code> (also usable headless through the "
            f"<code>genrec</code> command line).<br>Device: {genrec_engine.device_label()}"
        )
        box.setStandardButtons(QMessageBox.StandardButton.Ok)
        box.open()

    @Slot()
    def _cancel_progress_job(self) -> None:
        if self._progress_job is not None:
            self.bridge.cancel(self._progress_job)
            self.statusBar().showMessage("Cancelling…")

    def _show_error(self, title: str, message: str) -> None:
        self.statusBar().showMessage(f"{title}: {message}", _STATUS_MESSAGE_MS * 2)
        if not self.dialogs:
            return
        if self.error_box is not None:
            self.error_box.close()
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self)
        if self.snapshot is not None:
            box.setInformativeText(f"{self.snapshot.name} stays open.")
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.open()  # non-blocking: the event loop (and the bridge) keep running
        self.error_box = box

    # ---- private: bridge events ----
    @Slot(int, str)
    def _on_job_started(self, job_id: int, name: str) -> None:
        self._progress_job = job_id
        self.progress_bar.setValue(0)
        self.progress_bar.setToolTip(name)
        self._show_progress(True)

    @Slot(int, float, str)
    def _on_job_progress(self, job_id: int, fraction: float, message: str) -> None:
        if job_id != self._progress_job:
            return
        self.progress_bar.setValue(round(1000 * fraction))
        if message:
            self.statusBar().showMessage(message)

    @Slot(int, object)
    def _on_job_result(self, job_id: int, result: object) -> None:
        if self._open_job is None or job_id != self._open_job.id or not isinstance(result, ProjectSnapshot):
            return  # another job's result, or a superseded load
        self.view_model.set_snapshot(result)
        self.statusBar().showMessage(
            f"Opened {result.name}: {result.diagnostics.items:,} items", _STATUS_MESSAGE_MS
        )
        self.sig_project_loaded.emit(result)

    @Slot(int, str)
    def _on_job_error(self, job_id: int, message: str) -> None:
        if job_id in self._superseded:
            return
        if self._open_job is not None and job_id == self._open_job.id:
            self.view_model.set_error(message)
            self._show_error("Could not open the project", message)
            self.sig_project_failed.emit(message)
        else:
            self._show_error("A background job failed", message)

    @Slot(int)
    def _on_job_cancelled(self, job_id: int) -> None:
        if job_id in self._superseded:
            return
        if self._open_job is not None and job_id == self._open_job.id:
            self.view_model.set_loading(None)
        self.statusBar().showMessage("Cancelled", _STATUS_MESSAGE_MS)

    @Slot(int)
    def _on_job_finished(self, job_id: int) -> None:
        self._superseded.discard(job_id)
        if job_id == self._progress_job:
            self._progress_job = None
            self._show_progress(False)

    @Slot(object)
    def _on_project_changed(self, snapshot: ProjectSnapshot | None) -> None:
        self.selection.set_sid_table(snapshot.project.sids if snapshot else None)
        name = snapshot.name if snapshot else None
        self.project_label.setText(f"Project: {name}" if name else "No project")
        self.project_label.setToolTip(str(snapshot.path) if snapshot else "No project open")
        self.setWindowTitle(f"GenRec Explorer — {name}" if name else "GenRec Explorer")

    # ---- Qt events ----
    def closeEvent(self, event: QCloseEvent) -> None:
        """Stop background jobs before the window (and the bridge it owns) goes away."""
        self.bridge.cancel_all()
        self.bridge.wait_all(10_000)
        super().closeEvent(event)
