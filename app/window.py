"""The main window: menus, status bar and the panels. It composes; it does not compute.

Engine work (opening a project, later training and decoding) goes through the window's
:class:`~app.bridge.EngineBridge`; results land in the shared
:class:`~app.panels.ProjectViewModel`, which the panels watch.
"""
from __future__ import annotations

import os
from pathlib import Path

from typing import Callable

from PySide6.QtCore import QSettings, Qt, Signal, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QWidget,
)

import genrec_engine

from . import DEFAULT_PROJECT, RESOURCES
from .bridge import EngineBridge, Job, JobScope
from .widgets.wheel import WheelGuard
from .dialogs import ProblemsDialog
from .exporting import ask_export_image, install_exports
from .panels import ProjectSnapshot, ProjectViewModel, load_project
from .panels.coldstart import ColdStartPanel
from .panels.diagnostics import DiagnosticsPanel
from .panels.map import MapPanel
from .panels.playground import PlaygroundPanel
from .panels.stepper import StepperPanel
from .panels.overview import OverviewPanel
from .panels.training import TrainingPanel
from .panels.tree import TreePanel
from .panels.weights import WeightsPanel
from .presenter import PresenterMode
from .widgets.tabs import PanelTabs
from .selection import Selection

__all__ = ["MainWindow"]

_STATUS_MESSAGE_MS = 8000
_RECENT_KEY = "recent_projects"
_DATASET_DIR_KEY = "last_dataset_folder"
_RECENT_MAX = 8


def check_dataset_job(path, short_users: str = "error", *, progress=None, cancel=None):
    """Engine job: validate a dataset folder; returns ``(folder, dataset | None, problems)``
    (``short_users="drop"``: users with too few interactions are left out, see ``check_dataset``)."""
    if progress is not None:
        progress(0.0, f"checking {Path(path).name}")
    dataset, problems = genrec_engine.check_dataset(path, short_users=short_users)
    return Path(path), dataset, problems


def new_project_job(dataset, out, *, progress=None, cancel=None):
    """Engine job: tokenize ``dataset`` with the default tokenizer (residual k-means, 3 levels,
    the codebook size :func:`genrec_engine.suggest_codebook_size` gives for its item count: 256
    from 4,096 items on, fewer for small catalogues so no codeword is left dead) into the project
    folder ``out``; returns ``out``."""
    k = genrec_engine.suggest_codebook_size(dataset.n_items)
    config = genrec_engine.QuantizerConfig(method="rkmeans", levels=3, codebook_size=k, device="auto")
    genrec_engine.tokenize_dataset(dataset, config, out, progress=progress, cancel=cancel)
    return Path(out)


def import_sids_job(choices, *, progress=None, cancel=None):
    """Engine job: build a project from a dataset folder and a foreign SID table (the
    :class:`~app.import_dialog.ImportChoices`); returns the project folder."""
    from genrec_engine.interop import import_sids

    c = dict(choices)
    import_sids(c.pop("data"), c.pop("sids_file"), c.pop("out_path"), progress=progress, cancel=cancel, **c)
    return Path(choices["out_path"])


def _index_items(lookups, warm_up: bool, *, progress=None, cancel=None):
    """After a project opened: build its item look-ups, then (``warm_up``) load torch's optimiser
    modules, one after the other in one job."""
    lookups.build(progress=progress, cancel=cancel)
    if warm_up:
        genrec_engine.warm_up_training()


def save_copy_job(project, dest, *, progress=None, cancel=None):
    """Engine job: write a complete copy of ``project`` to ``dest``; returns ``dest``."""
    return project.save_copy(dest, progress=progress, cancel=cancel)


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
        settings: QSettings | None = None,
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        self.setWindowTitle("GenRec Explorer")
        self._wheel_guard = WheelGuard(self)  # scrolling a page never edits the value under the pointer
        QApplication.instance().installEventFilter(self._wheel_guard)
        self.bridge = bridge or EngineBridge(self)
        self.view_model = ProjectViewModel(self)
        self.selection = Selection(self)  # linked selection, shared by every panel
        self.dialogs = dialogs
        self.settings = settings or QSettings()
        self.problems_dialog: ProblemsDialog | None = None  # the last dataset-problems dialog
        self.import_dialog = None  # the last Import SIDs dialog
        self._warmed_up = False
        self._own_jobs: set[int] = set()  # jobs whose outcome the window handles itself (no generic error box)
        self.error_box: QMessageBox | None = None  # the last error dialog (non-blocking)
        self._open = JobScope(self.bridge)  # the one project load whose result will be applied
        self._progress_job: int | None = None  # the job the status-bar bar follows
        self._progress_message = ""  # the last step that job reported (cleared from the status bar when it ends)
        self._user_cancelled: set[int] = set()  # jobs the Cancel button stopped (only those say "Cancelled")

        # panels
        self.overview = OverviewPanel(self.view_model)
        self.tabs = PanelTabs()  # each page scrolls rather than growing the window past the screen
        self.tabs.setDocumentMode(True)
        self.tree = TreePanel(self.view_model, self.selection, self.bridge)
        self.map = MapPanel(self.view_model, self.selection, self.bridge)
        self.weights = WeightsPanel(self.view_model, self.selection, self.bridge)
        self.training = TrainingPanel(self.view_model, self.selection, self.bridge)
        self.stepper = StepperPanel(self.view_model, self.selection, self.bridge)
        self.coldstart = ColdStartPanel(self.view_model, self.selection, self.bridge)
        self.playground = PlaygroundPanel(self.view_model, self.selection, self.bridge)
        self.diagnostics = DiagnosticsPanel(self.view_model, self.selection, self.bridge)
        #: every panel by its short name (also its screenshot file name), in tab order
        self.panels: dict[str, QWidget] = {
            "overview": self.overview, "tree": self.tree, "map": self.map, "weights": self.weights,
            "playground": self.playground, "beam": self.stepper, "coldstart": self.coldstart,
            "diagnostics": self.diagnostics, "training": self.training,
        }
        titles = {"overview": "Overview", "tree": "SID tree", "map": "Codebook map", "weights": "Codeword weights",
                  "playground": "Playground", "beam": "Beam stepper", "coldstart": "Cold-start lab",
                  "diagnostics": "Diagnostics", "training": "Training"}
        for name, panel in self.panels.items():
            self.tabs.addTab(panel, titles[name])
        self.diagnostics.sig_open_user.connect(self._open_user_in_stepper)
        self.setCentralWidget(self.tabs)

        self._build_menus()
        self._build_status_bar()
        self._install_exports()
        self._build_view_menu()

        self.bridge.sig_started.connect(self._on_job_started)
        self.bridge.sig_progress.connect(self._on_job_progress)
        self.bridge.sig_error.connect(self._on_job_error)
        self.bridge.sig_cancelled.connect(self._on_job_cancelled)
        self.bridge.sig_finished.connect(self._on_job_finished)
        self.view_model.sig_project_changed.connect(self._on_project_changed)

        if project is not None:
            self.open_project(project)

    def _open_user_in_stepper(self, user: int) -> None:
        """A diagnostics row was double-clicked: show that test user in the beam stepper."""
        self.stepper.open_user(user)
        self.tabs.setCurrentWidget(self.stepper)

    # ---- public ----
    def open_project(self, path: str | os.PathLike) -> Job:
        """Start loading the project at ``path`` in the background; the current one stays until it loads."""
        path = Path(path).expanduser()
        self.view_model.set_loading(path)
        self.statusBar().showMessage(f"Opening {path} …")
        # a newer request supersedes an older one: the scope cancels it and drops what it still delivers
        job = self._open.submit(load_project, path, name=f"Opening {path.name or path}", on_result=self._on_project_loaded,
                                on_error=self._on_open_failed, on_cancelled=lambda: self.view_model.set_loading(None))
        self._own_jobs.add(job.id)
        return job

    def _submit_own(self, fn, *args, name: str, on_result: Callable[[object], None]) -> Job:
        """A job of the window's own whose result goes to ``on_result`` (errors get the generic box)."""
        job = self.bridge.submit(fn, *args, name=name)
        job.sig_result.connect(on_result)
        return job

    def open_dataset(self, folder: str | os.PathLike, *, drop_short_users: bool = False) -> Job:
        """Validate a dataset folder in the background. Problems are listed in a dialog and the open
        project stays (when the only errors are users with too few interactions, the dialog offers
        to drop them: ``drop_short_users``); a valid dataset is tokenized into a new project folder
        the user picks, with a codebook size fitted to its item count."""
        folder = Path(folder).expanduser()
        self.statusBar().showMessage(f"Checking {folder} …")
        return self._submit_own(check_dataset_job, folder, "drop" if drop_short_users else "error",
                                name=f"Checking {folder.name}", on_result=self._on_dataset_checked)

    def save_project_as(self, dest: str | os.PathLike) -> Job | None:
        """Copy the open project (parts, generators, metrics) to ``dest`` in the background, then open the copy."""
        if self.snapshot is None:
            return None
        dest = Path(dest).expanduser()
        return self._submit_own(save_copy_job, self.snapshot.project, dest, name=f"Saving {dest.name}",
                                on_result=lambda out: (self.statusBar().showMessage(f"Saved {out}", _STATUS_MESSAGE_MS),
                                                       self.open_project(out)))

    def recent_projects(self) -> list[str]:
        """Recently opened project folders, newest first (those that still exist)."""
        value = self.settings.value(_RECENT_KEY, [])
        items = [value] if isinstance(value, str) else list(value or [])
        return [p for p in items if Path(p, "project.json").is_file()]

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
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self.action_save_as = QAction("&Save project as…", self)
        self.action_save_as.setShortcut(QKeySequence.StandardKey.SaveAs)
        self.action_save_as.setStatusTip("Write a complete copy of the open project (with its generators) to a new folder")
        self.action_save_as.triggered.connect(self._ask_save_as)
        self.action_save_as.setEnabled(False)
        file_menu.addAction(self.action_save_as)
        file_menu.addSeparator()
        self.action_open_dataset = QAction("Open &dataset folder…", self)
        self.action_open_dataset.setStatusTip(
            "Check a folder with items.* and interactions.*, then tokenize it into a new project"
        )
        self.action_open_dataset.triggered.connect(self._ask_open_dataset)
        file_menu.addAction(self.action_open_dataset)
        self.action_import_sids = QAction("&Import SIDs…", self)
        self.action_import_sids.setStatusTip("Build a project from a dataset folder and a SID table made by another "
                                             "pipeline (LETTER, RecBole, OpenOneRec, GRID, CSV)")
        self.action_import_sids.triggered.connect(self._ask_import_sids)
        file_menu.addAction(self.action_import_sids)
        self.action_audit = QAction("&Audit generations…", self)
        self.action_audit.setStatusTip("Score another generator's ranked lists (JSONL or Parquet) against this "
                                       "project in the Diagnostics panel")
        self.action_audit.triggered.connect(self._ask_audit)
        self.action_audit.setEnabled(False)
        file_menu.addAction(self.action_audit)
        file_menu.addSeparator()
        self.action_quit = QAction("&Quit", self)
        self.action_quit.setShortcut(QKeySequence.StandardKey.Quit)
        self.action_quit.setMenuRole(QAction.MenuRole.QuitRole)
        self.action_quit.triggered.connect(self.close)
        file_menu.addAction(self.action_quit)

        help_menu = self.menuBar().addMenu("&Help")
        self.action_shortcuts = QAction("&Keyboard shortcuts", self)
        self.action_shortcuts.setShortcut(QKeySequence(Qt.Key.Key_F1))
        self.action_shortcuts.triggered.connect(self._show_shortcuts)
        help_menu.addAction(self.action_shortcuts)
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

    # ---- private: exports and presenter mode (app/exporting.py, app/presenter.py) ----
    def _install_exports(self) -> None:
        """Export menus on every panel's tables and plots; File > Export current view as PNG."""
        for panel in self.panels.values():
            install_exports(panel)
        self.action_export_view = QAction("&Export current view as PNG…", self)
        self.action_export_view.setStatusTip("Save the panel on screen as a PNG image")
        self.action_export_view.triggered.connect(self._export_current_view)
        file_menu = next(a.menu() for a in self.menuBar().actions()
                         if a.menu() and self.action_quit in a.menu().actions())
        file_menu.insertAction(self.action_quit, self.action_export_view)
        file_menu.insertSeparator(self.action_quit)

    @Slot()
    def _export_current_view(self) -> None:
        panel = self.tabs.currentWidget()
        name = next((n for n, p in self.panels.items() if p is panel), "view")
        ask_export_image(panel, "png", parent=self, name=f"genrec-{name}")

    def _build_view_menu(self) -> None:
        """View > Presenter mode (F11): larger fonts, expert controls hidden; off at every launch."""
        self.presenter = PresenterMode(self)
        self.device_label.setProperty("expert", True)  # technical detail, not for an audience
        self.action_presenter = QAction("&Presenter mode", self)
        self.action_presenter.setCheckable(True)
        self.action_presenter.setShortcut(QKeySequence(Qt.Key.Key_F11))
        self.action_presenter.setStatusTip("Larger text for a projector; hides expert-only controls")
        self.action_presenter.toggled.connect(self._set_presenter_mode)
        self.action_find = QAction("&Find in the SID tree…", self)
        self.action_find.setShortcut(QKeySequence.StandardKey.Find)
        self.action_find.setStatusTip("Search the SID tree by title word, item id or SID prefix")
        self.action_find.triggered.connect(self.find_in_tree)
        view_menu = QMenu("&View", self)
        view_menu.addAction(self.action_find)
        view_menu.addSeparator()
        view_menu.addAction(self.action_presenter)
        help_action = next(a for a in self.menuBar().actions()
                           if a.menu() and self.action_about in a.menu().actions())
        self.menuBar().insertMenu(help_action, view_menu)  # before Help
        self.tabs.currentChanged.connect(lambda _i: self.presenter.refresh())  # panels built since
        self.sig_project_loaded.connect(lambda _s: self.presenter.refresh())

    @Slot(bool)
    def _set_presenter_mode(self, on: bool) -> None:
        """Not remembered: every launch starts in the normal view (a presentation is an occasion,
        and the next user of the machine should not find giant type)."""
        self.presenter.set_enabled(on)

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
    def _ask_save_as(self) -> None:
        if self.snapshot is None:
            return
        start = str(self.snapshot.path.parent / f"{self.snapshot.name}-copy")
        dest, _ = QFileDialog.getSaveFileName(self, "Save the project as a new folder", start)
        if dest:
            self.save_project_as(dest)

    @Slot()
    def _ask_open_dataset(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a dataset folder (items.* + interactions.*)",
                                                  self.dataset_dialog_start())
        if folder:
            self.settings.setValue(_DATASET_DIR_KEY, str(Path(folder).parent))
            self.open_dataset(folder)

    def dataset_dialog_start(self) -> str:
        """Where File > Open dataset folder starts: where the last dataset was chosen, else the open
        project's folder, but never inside the bundled resources (a user's data is not there)."""
        last = self.settings.value(_DATASET_DIR_KEY, "")
        if last and Path(str(last)).is_dir():
            return str(last)
        if self.snapshot is not None and RESOURCES.resolve() not in self.snapshot.path.resolve().parents:
            return str(self.snapshot.path.parent)
        return str(Path.home())

    @Slot()
    def _ask_import_sids(self) -> None:
        from .import_dialog import ImportSIDsDialog

        start = self.snapshot.path.parent if self.snapshot else Path.home()
        self.import_dialog = ImportSIDsDialog(self.bridge, start, self)
        self.import_dialog.sig_import.connect(self.import_sids)
        self.import_dialog.open()

    def import_sids(self, choices) -> Job:
        """Run an import chosen in the Import SIDs dialog in the background, then open the new project."""
        choices = dict(choices)
        choices["out_path"] = choices.pop("out")
        out = Path(choices["out_path"])
        return self._submit_own(import_sids_job, choices, name=f"Importing SIDs into {out.name}",
                                on_result=self.open_project)

    @Slot()
    def _ask_audit(self) -> None:
        if self.snapshot is None:
            return
        path, _ = QFileDialog.getOpenFileName(self, "Generations to audit (one row per user: user_id, ranked SIDs)",
                                              str(self.snapshot.path.parent),
                                              "Generations (*.jsonl *.json *.parquet);;All files (*)")
        if path:
            self.audit_generations(path)

    def find_in_tree(self) -> None:
        """Show the SID tree with the cursor in its search box (Ctrl+F)."""
        self.tabs.setCurrentWidget(self.tree)
        self.tree.focus_search()

    def audit_generations(self, path: str | os.PathLike) -> None:
        """Score a generations file against the open project in the Diagnostics panel and show it."""
        self.diagnostics.audit_file(Path(path))
        self.tabs.setCurrentWidget(self.diagnostics)

    @Slot()
    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.recent_projects()
        if not recent:
            none = self.recent_menu.addAction("(no recent projects)")
            none.setEnabled(False)
        for path in recent:
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda _=False, p=path: self.open_project(p))

    def _remember_recent(self, path: Path) -> None:
        key = str(Path(path).resolve())
        recent = [key] + [p for p in self.recent_projects() if p != key]
        self.settings.setValue(_RECENT_KEY, recent[:_RECENT_MAX])

    def _on_dataset_checked(self, result) -> None:
        folder, dataset, problems = result
        if dataset is None or problems:
            self._show_problems(folder, problems)
        if dataset is None:
            self.statusBar().showMessage(f"{folder.name}: not opened (see the problems)", _STATUS_MESSAGE_MS)
            return
        default = str(folder.parent / f"{folder.name}-project")
        out = default
        if self.dialogs:
            out, _ = QFileDialog.getSaveFileName(self, "Create a project folder for this dataset", default)
        if not out:
            return
        k = genrec_engine.suggest_codebook_size(dataset.n_items)
        self.statusBar().showMessage(f"Tokenizing {folder.name}: {dataset.n_items:,} items, 3 levels of {k} codewords "
                                     "(sized to the catalogue)")
        self._submit_own(new_project_job, dataset, Path(out), name=f"Tokenizing {folder.name}", on_result=self.open_project)

    def _show_problems(self, folder: Path, problems) -> None:
        if self.problems_dialog is not None:
            self.problems_dialog.close()
        self.problems_dialog = ProblemsDialog(
            folder, problems, self, on_drop_short_users=lambda: self.open_dataset(folder, drop_short_users=True))
        if self.dialogs:
            self.problems_dialog.open()

    def shortcuts_html(self) -> str:
        """Every keyboard shortcut of the window and its panels, as an HTML table (Help > Keyboard shortcuts)."""
        from .panels.stepper.view import MOVE_SHORTCUTS

        def keys(action) -> str:
            return action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)

        rows = [(keys(a), a.text().replace("&", "").rstrip("…")) for a in
                (self.action_open, self.action_save_as, self.action_find, self.action_presenter, self.action_quit,
                 self.action_shortcuts)]
        names = {"step": "Beam stepper: step one level", "back": "Beam stepper: back one level",
                 "run": "Beam stepper: run to the end", "reset": "Beam stepper: reset"}
        rows += [(" or ".join(k), names[n]) for n, k in MOVE_SHORTCUTS.items()]
        rows += [("Enter", "SID tree search: the next match (all matches are listed under the box)"),
                 ("Down, Enter", "Playground: add the highlighted suggestion to the history"),
                 ("right-click", "Tables, trees and plots: export CSV, PNG or SVG, or copy to the clipboard")]
        body = "".join(f"<tr><td><b>{k}</b>&nbsp;&nbsp;</td><td>{what}</td></tr>" for k, what in rows)
        return f"<table cellspacing='4'>{body}</table>"

    @Slot()
    def _show_shortcuts(self) -> None:
        box = QMessageBox(self)
        box.setWindowTitle("Keyboard shortcuts")
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setText(self.shortcuts_html())
        box.setStandardButtons(QMessageBox.StandardButton.Ok)
        if self.dialogs:
            box.open()
        self.shortcuts_box = box

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
            self._user_cancelled.add(self._progress_job)
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
        if self.bridge.is_quiet(job_id):  # housekeeping: no progress bar
            return
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
            self._progress_message = message
            self.statusBar().showMessage(message)

    def _on_project_loaded(self, result: ProjectSnapshot) -> None:
        self.view_model.set_snapshot(result)
        # item pickers' completions, ids and searchable titles: ~1.5 s at 10^6 items that the first
        # paint does not wait for (a search or picker used before it is done builds what it needs)
        # then, once per app run, torch's first optimiser imports ~800 modules: done here, off the GUI
        # thread and after the look-ups rather than beside them (two GIL-hungry jobs at once
        # starved the GUI thread for 0.6 s at 10^6 items)
        warm, self._warmed_up = not self._warmed_up, True
        self.bridge.submit(_index_items, result.lookups, warm, name="Indexing items for search", quiet=True)
        note = result.project.recovered  # a change a crash interrupted was finished or undone on open
        self.statusBar().showMessage(
            f"Opened {result.name}: {result.diagnostics.items:,} items" + (f" ({note})" if note else ""),
            _STATUS_MESSAGE_MS * (3 if note else 1)
        )
        self._remember_recent(result.path)
        self.sig_project_loaded.emit(result)

    def _on_open_failed(self, message: str) -> None:
        self.view_model.set_error(message)
        self._show_error("Could not open the project", message)
        self.sig_project_failed.emit(message)

    @Slot(int, str)
    def _on_job_error(self, job_id: int, message: str) -> None:
        if job_id not in self._own_jobs:  # any other job: one generic box (the open job has its own)
            self._show_error("A background job failed", message)

    @Slot(int)
    def _on_job_cancelled(self, job_id: int) -> None:
        # only what the user cancelled: panels cancel superseded requests all the time (a newer
        # selection replaces an older one), and "Cancelled" then would name nothing they did
        if job_id in self._user_cancelled:
            self.statusBar().showMessage("Cancelled", _STATUS_MESSAGE_MS)

    @Slot(int)
    def _on_job_finished(self, job_id: int) -> None:
        self._own_jobs.discard(job_id)
        self._user_cancelled.discard(job_id)
        if job_id == self._progress_job:
            self._progress_job = None
            self._show_progress(False)
            if self.statusBar().currentMessage() == self._progress_message:
                self.statusBar().clearMessage()  # a finished job's last step ("hybrid re-ranking ...") is stale

    @Slot(object)
    def _on_project_changed(self, snapshot: ProjectSnapshot | None) -> None:
        self.selection.set_sid_table(snapshot.project.sids if snapshot else None)
        self.action_save_as.setEnabled(snapshot is not None)
        self.action_audit.setEnabled(snapshot is not None)
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
