"""Training monitor: re-tokenize and train generators on a working copy, with live curves.

Nothing here ever writes into the open project's folder. Jobs run through the
:class:`~app.bridge.EngineBridge` on a *working copy* (a temporary folder, or one below an output
folder the user picks); "Save project as…" writes the working copy elsewhere (see :mod:`.state`).

One :class:`~app.bridge.JobScope` runs this panel's job (train, re-tokenize or save; one at a
time). A training job is submitted with ``partials=("on_epoch",)``: each epoch row the engine
reports on the worker arrives on the GUI thread through the job's ``sig_partial`` and goes onto
plot curves that were created once (``setData``).
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ...bridge import JobScope
from ...widgets import GENERATOR_NAMES, centred_column, heading
from ...widgets.layouts import lay_out
from ...widgets.views import ALL, table_view
from .. import ProjectSnapshot, ProjectViewModel
from .controls import TrainingControls
from .models import HealthTableModel, MetricsTableModel
from .plots import CurvePlots
from .state import (
    METHOD_NAMES,
    METRIC_COLUMNS,
    Retokenized,
    Trained,
    TrainingState,
    done_text,
    health_rows,
    retokenize_job,
    save_job,
    tokenizer_text,
    train_job,
)

__all__ = ["TrainingPanel", "SOURCE"]

SOURCE = "training"  # this panel's name in selection events

_HEADER = (
    "Train a generator or re-tokenize the catalogue, and watch it learn: the left plot is the training "
    "loss per epoch (lower is better), the right one validation Recall@10 and NDCG@10 (higher is better). "
    "Jobs run on a <b>working copy</b>; the open project's files are never changed. Dashed grey lines are "
    "the run saved in the project, for comparison."
)
_EMPTY_TEXT = (
    "<p>Open a project folder with <b>File › Open project…</b> (Ctrl+O) to train generators for it.</p>"
    "<p>Training never changes the opened folder: it works on a copy that you can save with "
    "<b>Save project as…</b></p>"
)
_RUNNING = {"train": "Training…", "tokenize": "Re-tokenizing…", "save": "Saving…"}


class TrainingPanel(QWidget):
    """Controls, live curves and result tables for training generators and re-tokenizing.

    Public: :meth:`train`, :meth:`retokenize`, :meth:`cancel`, :meth:`save_as`,
    :meth:`set_output_folder`, :meth:`working_copy`, :meth:`reset_working_copy`, :meth:`busy`,
    :meth:`epoch_rows`, :meth:`screenshot_ready`, :meth:`page`, :attr:`state`
    (:class:`~.state.TrainingState`), :attr:`controls` (:class:`~.controls.TrainingControls`:
    the settings' widgets, the buttons, the status and error lines), :attr:`plots`
    (:class:`~.plots.CurvePlots`), the table models ``metrics_model`` / ``health_model`` and
    their views ``metrics_table`` / ``health_table``, ``tables`` (their tabs).
    """

    # ---- signals ----
    sig_ready = Signal()
    """The metrics table of the open project is filled (screenshots wait for this)."""

    sig_training_finished = Signal(object)
    """``(record: dict)``: a training job ended with a result: its metrics record, with
    ``"project_path"`` = the working copy it trained in."""

    sig_tokenized = Signal(object)
    """``(result: dict)``: a re-tokenize job ended: ``project_path``, ``diagnostics``, ``seconds``."""

    sig_project_saved = Signal(str)
    """``(folder)``: "Save project as…" wrote the working copy there (the window may offer to open it)."""

    sig_job_state_changed = Signal(bool)
    """``(busy)``: a job of this panel started (True) or ended (False)."""

    def __init__(self, view_model: ProjectViewModel, selection=None, bridge=None, parent: QWidget | None = None):
        super().__init__(parent)
        if bridge is None:
            raise ValueError("TrainingPanel needs the window's EngineBridge")
        self._vm, self._selection = view_model, selection
        self.state = TrainingState()
        self._job = JobScope(bridge)  # the panel's one job: train, re-tokenize or save
        self._ready = False

        self.metrics_model = MetricsTableModel(self)
        self.health_model = HealthTableModel(self)
        self.controls = TrainingControls()
        self.plots = CurvePlots()
        self._stack = QStackedWidget(self)
        self._empty_page = centred_column(heading("No project open", 1.6), QLabel(_EMPTY_TEXT))
        self._content_page = self._build_content_page()
        self._stack.addWidget(self._empty_page)
        self._stack.addWidget(self._content_page)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self._stack)

        c = self.controls
        c.retokenize_button.clicked.connect(lambda: self.retokenize())
        c.train_button.clicked.connect(lambda: self.train())
        c.save_button.clicked.connect(lambda: self.save_as())
        c.cancel_button.clicked.connect(self.cancel)
        c.choose_button.clicked.connect(self._choose_output)
        c.kind_combo.currentIndexChanged.connect(self._show_reference)
        view_model.sig_project_changed.connect(self._on_project_changed)
        self._on_project_changed(view_model.snapshot)

    # ---- public ----
    def screenshot_ready(self) -> bool:
        """True once the open project's metrics table (or its explanation) is shown."""
        return self._ready

    def page(self) -> str:
        """``"empty"`` (no project) or ``"project"``."""
        return "project" if self._stack.currentWidget() is self._content_page else "empty"

    def busy(self) -> bool:
        """A job of this panel is queued or running."""
        return self._job.busy

    def working_copy(self) -> Path | None:
        """The working copy jobs write to (None until the first job made one)."""
        return self.state.work_dir

    def epoch_rows(self) -> list[dict]:
        """The epoch rows the curves of the current (or last) run show."""
        return [dict(r) for r in self.state.rows]

    def reset_working_copy(self) -> None:
        """Forget the current working copy (its folder stays); the next job copies the open project again."""
        if not self.busy():
            self.state.work_dir = None
            self.state.work_metrics = {}
            self._refresh_metrics()
            self._set_busy(False)

    def set_output_folder(self, folder: str | Path | None) -> None:
        """Put future working copies below ``folder`` (None: a temporary folder, removed at exit)."""
        self.state.output_root = Path(folder) if folder else None
        self.controls.show_output_folder(self.state.output_root)

    def train(self) -> int | None:
        """Start training the chosen generator with the chosen settings on the working copy; returns
        the bridge job id (None when no project is open, a job runs or a setting is invalid)."""
        st = self.state
        if st.path is None or self.busy():
            return None
        settings = self.controls.train_settings()
        try:
            tcfg, mcfg = settings.train_config(), settings.model_config()
        except Exception as exc:  # noqa: BLE001 - ConfigError / ValueError: show its message
            self._show_error(str(exc))
            return None
        work = st.work_dir if st.work_dir is not None else st.new_work_dir()
        st.rows = []
        self.plots.show_run(*st.curves())
        self._run_label.setText(f"Training {GENERATOR_NAMES.get(settings.kind, settings.kind)} in {work}")
        st.work_dir = work
        return self._start("train", train_job, str(st.path), str(work), settings.kind, mcfg, tcfg,
                           name=f"train {settings.kind}", on_result=self._on_trained,
                           on_partial=self._on_partial, partials=("on_epoch",))

    def retokenize(self) -> int | None:
        """Fit the chosen tokenizer on the project's embeddings into a fresh working copy; the
        health table shows its per-level diagnostics when it is done. Returns the job id or None."""
        st = self.state
        if st.path is None or self.busy():
            return None
        settings = self.controls.tokenizer_settings()
        try:
            cfg = settings.config()
        except Exception as exc:  # noqa: BLE001 - ConfigError
            self._show_error(str(exc))
            return None
        self._health_title.setText(f"Re-tokenizing with {METHOD_NAMES.get(cfg.method, cfg.method)}, "
                                   f"{cfg.levels} levels × {cfg.codebook_size} codewords…")
        self.tables.setCurrentIndex(1)
        return self._start("tokenize", retokenize_job, str(st.path), str(st.new_work_dir()), cfg,
                           name=f"re-tokenize ({cfg.method})", on_result=self._on_retokenized)

    def cancel(self) -> None:
        """Ask the running job to stop (training keeps its best weights so far only if it finishes)."""
        if self.busy():
            self._job.current.request_cancel()
            self.controls.status.setText("Cancelling…")

    def save_as(self, dest: str | Path | None = None) -> int | None:
        """Write the working copy to ``dest`` (asks for a folder when None); returns the job id."""
        if not self.state.can_save() or self.busy():
            return None
        if dest is None:
            # a new folder name (or an empty folder): an existing project is never overwritten
            dest, _ = QFileDialog.getSaveFileName(self, "Save the project as a new folder")
            if not dest:
                return None
        return self._start("save", save_job, str(self.state.work_dir), str(dest), name="save project as",
                           on_result=self._on_saved)

    # ---- private: building ----
    def _build_content_page(self) -> QWidget:
        self._title = heading("", 1.3)
        header = QLabel(_HEADER)
        header.setWordWrap(True)
        header.setTextFormat(Qt.TextFormat.RichText)
        self._run_label = QLabel("")
        self._run_label.setWordWrap(True)
        self._run_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        # every column as wide as its header and figures (15 columns: a wide table scrolls rather
        # than cutting "Recall@10" to "ecall@10"); the last one takes what is left
        self.metrics_table = table_view(self.metrics_model, stretch=len(METRIC_COLUMNS) - 1, alternating=True)
        self._metrics_note = QLabel("")
        self._metrics_note.setObjectName("metrics_note")
        self._metrics_note.setWordWrap(True)
        self._metrics_note.setTextFormat(Qt.TextFormat.RichText)
        self._health_title = QLabel("")
        self._health_title.setObjectName("health_title")
        self._health_title.setWordWrap(True)
        self.health_table = table_view(self.health_model, stretch=ALL, alternating=True)
        self.tables = QTabWidget()
        self.tables.addTab(lay_out((self.metrics_table, 1), (self._metrics_note, 0), vertical=True, margin=6), "Test metrics per generator")
        self.tables.addTab(lay_out((self._health_title, 0), (self.health_table, 1), vertical=True, margin=6), "Tokenizer health per level")

        right = QVBoxLayout()
        right.setSpacing(6)
        right.addWidget(self._run_label)
        right.addWidget(self.plots, 3)
        right.addWidget(self.tables, 2)
        body = QHBoxLayout()
        body.setSpacing(10)
        body.addWidget(self.controls)
        body.addLayout(right, 1)
        page = QWidget()
        outer = QVBoxLayout(page)
        outer.setContentsMargins(12, 8, 12, 8)
        outer.setSpacing(6)
        outer.addWidget(self._title)
        outer.addWidget(header)
        outer.addLayout(body, 1)
        self._set_busy(False)
        return page

    # ---- private: project changes ----
    def _on_project_changed(self, snapshot: ProjectSnapshot | None) -> None:
        if self.busy():  # a job for the previous project: stop it; what it still sends is stale
            self._job.current.request_cancel()
        st = self.state
        st.open(None if snapshot is None else snapshot.path, None if snapshot is None else snapshot.name)
        self.plots.show_run(*st.curves())
        self._clear_error()
        self._ready = False
        if snapshot is None:
            self._stack.setCurrentWidget(self._empty_page)
            self.metrics_model.set_rows([])
            self.health_model.set_rows([])
            self._set_busy(self.busy())
            return
        self._stack.setCurrentWidget(self._content_page)
        self._title.setText(f"Training monitor · {snapshot.name}")
        self._run_label.setText(f"Open project: {snapshot.path}  (read only here)")
        cfg = snapshot.project.tokenizer_config
        self.controls.show_tokenizer(cfg.method, cfg.levels, cfg.codebook_size)
        # the user count project.json records (counting 10^7 interactions here would hold the GUI thread)
        self.controls.propose_eval_users(int(snapshot.project.meta.get("dataset", {}).get("users") or 0))
        self.health_model.set_rows(health_rows(snapshot.diagnostics))
        self._health_title.setText(tokenizer_text("Current tokenizer of the project", cfg.method, cfg.levels,
                                                  cfg.codebook_size, snapshot.diagnostics) + ".")
        st.load_metrics()
        self._refresh_metrics()
        self._show_reference()
        self._set_busy(self.busy())
        self._ready = True
        QTimer.singleShot(0, self._emit_ready)

    def _emit_ready(self) -> None:
        if self._ready:
            self.sig_ready.emit()

    def _refresh_metrics(self) -> None:
        rows = self.state.metric_rows()
        self.metrics_model.set_rows(rows)
        self.metrics_table.setVisible(bool(rows))
        self._metrics_note.setText(self.state.note())

    def _show_reference(self, *_args) -> None:
        """Dashed curves: the saved training history of the selected generator kind, if any."""
        self.plots.show_reference(*self.state.reference(self.controls.kind_combo.currentData()))

    # ---- private: jobs ----
    def _start(self, kind: str, fn, *args, on_result, **kwargs) -> int:
        self.state.started()
        job = self._job.submit(fn, *args, on_result=on_result, on_progress=self._on_progress,
                               on_error=self._on_error, on_cancelled=self._on_cancelled,
                               on_finished=self._on_finished, **kwargs)
        self._clear_error()
        self.controls.progress.setValue(0)
        self.controls.status.setText(_RUNNING[kind])
        self._set_busy(True)
        self.sig_job_state_changed.emit(True)
        return job.id

    def _set_busy(self, busy: bool) -> None:
        self.controls.set_busy(self.state.path is not None, busy, self.state.can_save())

    def _on_progress(self, fraction: float, message: str) -> None:
        self.controls.progress.setValue(int(round(1000 * fraction)))
        self.controls.status.setText(message)

    def _on_partial(self, channel: str, row: object) -> None:
        if self.state.add_epoch(row):  # type: ignore[arg-type]
            self.plots.show_run(*self.state.curves())
            self.controls.status.setText(self.state.epoch_text())

    def _on_trained(self, result: Trained) -> None:
        if self.state.stale():
            return
        self.state.trained(result)
        self._refresh_metrics()
        self.tables.setCurrentIndex(0)
        self.controls.status.setText(done_text(result.record))
        self.sig_training_finished.emit(dict(result.record))

    def _on_retokenized(self, result: Retokenized) -> None:
        if self.state.stale():
            return
        self.state.retokenized(result)
        self._refresh_metrics()
        self.health_model.set_rows(health_rows(result.diagnostics))
        cfg = result.config
        self._health_title.setText(
            tokenizer_text("Re-tokenized working copy", cfg.get("method"), cfg.get("levels"), cfg.get("codebook_size"),
                           result.diagnostics)
            + f", fit {result.seconds:.1f} s. Train a generator for these SIDs next.")
        self.controls.status.setText("Re-tokenized. The project's own tokenizer is unchanged.")
        self.sig_tokenized.emit(dict(result.raw))

    def _on_saved(self, folder: Path) -> None:
        self.controls.status.setText(f"Saved to {folder}.")
        self.sig_project_saved.emit(str(folder))

    def _on_error(self, message: str) -> None:
        self._show_error(message)
        self.controls.status.setText("Failed.")

    def _on_cancelled(self) -> None:
        self.controls.status.setText("Cancelled. The open project is unchanged.")

    def _on_finished(self) -> None:
        self._set_busy(False)
        self.sig_job_state_changed.emit(False)

    def _choose_output(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder for working copies")
        if folder:
            self.set_output_folder(folder)

    def _show_error(self, message: str) -> None:
        self.controls.error.setText(message)
        self.controls.error.setVisible(True)

    def _clear_error(self) -> None:
        self.controls.error.setText("")
        self.controls.error.setVisible(False)
