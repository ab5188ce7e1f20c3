"""Training monitor: re-tokenize and train generators on a working copy, with live curves.

Nothing here ever writes into the open project's folder. Jobs run through the
:class:`~app.bridge.EngineBridge` on a *working copy* (a temporary folder, or one below an output
folder the user picks), made by :func:`genrec_engine.train_copy` / :func:`genrec_engine.retokenize_copy`;
"Save project as…" writes the working copy elsewhere with the engine's atomic ``save_copy``.

Per-epoch rows come from the engine's ``on_epoch`` callback on the worker thread. The callback only
puts a copy of the row on a thread-safe queue; a ``QTimer`` on the GUI thread drains it and calls
``setData`` on plot curves that were created once.
"""
from __future__ import annotations

import json
import math
import queue
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pyqtgraph as pg
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QStackedWidget,
    QTabWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from genrec_engine import (
    KINDS,
    METHODS,
    QuantizerConfig,
    TokenizerDiagnostics,
    TrainConfig,
    retokenize_copy,
    save_working_copy,
    train_copy,
)

from . import ProjectSnapshot, ProjectViewModel
from ..widgets import GENERATOR_NAMES, heading as _heading

__all__ = ["TrainingPanel", "MetricsTableModel", "HealthTableModel", "KIND_NAMES", "SOURCE"]

SOURCE = "training"  # this panel's name in selection events

KIND_NAMES = GENERATOR_NAMES
_METHOD_NAMES = {"rkmeans": "Residual k-means", "rqvae": "RQ-VAE", "vqvae": "Product VQ-VAE", "gaoq": "GAOQ (ReSID)"}

_POLL_MS = 100  # how often the GUI drains the epoch queue while a job runs

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

_NO_METRICS = (
    "This project has no <code>metrics.json</code> yet: no generator has been trained for it. "
    "Press <b>Train</b> to train one on a working copy."
)


# ------------------------------------------------------------------------------------- table models


@dataclass(frozen=True)
class _Col:
    header: str
    tooltip: str
    value: Callable[[dict], Any]
    text: Callable[[Any], str]


def _fmt(v: Any, spec: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return format(v, spec)


def saved_test_metrics(record: dict) -> dict:
    """The test figures of the weights on disk: those ``genrec compact`` measured after storing
    them in float16, else the training run's."""
    return (record.get("compacted") or {}).get("test") or record.get("test") or {}


def _test(key: str) -> Callable[[dict], Any]:
    return lambda r: saved_test_metrics(r).get(key)


def _total_train_seconds(record: dict) -> float | None:
    """Training time of a generator record plus that of the runs it went on from."""
    if record.get("train_seconds") is None:
        return None
    return float(record["train_seconds"]) + sum(float(r.get("train_seconds") or 0) for r in record.get("resumed") or ())


METRIC_COLUMNS: tuple[_Col, ...] = (
    _Col("Generator", "The generator kind (RAN, SASRec, TIGER).", lambda r: r.get("model", "?"),
         lambda v: KIND_NAMES.get(v, str(v)).split(" (")[0]),
    _Col("Where", "'project': saved in the open project's metrics.json. 'working copy': trained in this session, "
         "not saved yet.", lambda r: r.get("_where", "project"), str),
    *(
        _Col(f"{name}@{k}", f"Test-split {name} at {k}: {tip} (Of the saved weights: after genrec compact, "
             "their float16 copy.)", _test(f"{key}@{k}"), lambda v: _fmt(v, ".4f"))
        for name, key, tip in (
            ("Recall", "recall", "share of users whose held-out last item is in the top-K list."),
            ("NDCG", "ndcg", "like Recall, but a hit counts more the higher it is ranked."),
        )
        for k in (5, 10, 20)
    ),
    _Col("Best epoch", "The epoch whose validation Recall@10 was best; its weights were kept.",
         lambda r: r.get("best_epoch"), lambda v: _fmt(v, "d")),
    _Col("Train time", "Wall-clock training time, validation included; for a generator built over several runs "
         "(genrec train --resume) the sum of all of them.", _total_train_seconds,
         lambda v: "–" if v is None else (f"{v:.1f} s" if v < 120 else f"{v / 60:.1f} min")),
    _Col("Stopped", "Why training ended: epochs done, early stop (validation stopped improving), time budget, "
         "or cancelled.", lambda r: r.get("stopped"), lambda v: "–" if v is None else str(v)),
)


class _RowsModel(QAbstractTableModel):
    """A read-only table of dict rows described by a tuple of columns; UserRole gives raw values."""

    columns: tuple[_Col, ...] = ()

    def __init__(self, parent=None):
        super().__init__(parent)
        self._rows: list[dict] = []

    def set_rows(self, rows: list[dict]) -> None:
        self.beginResetModel()
        self._rows = [dict(r) for r in rows]
        self.endResetModel()

    def rows(self) -> list[dict]:
        return [dict(r) for r in self._rows]

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.columns)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not (0 <= index.row() < len(self._rows)) or not (0 <= index.column() < len(self.columns)):
            return None
        row, col = self._rows[index.row()], self.columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return col.text(col.value(row))
        if role == Qt.ItemDataRole.UserRole:
            return col.value(row)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            if index.column() < self._text_columns:
                return int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            return col.tooltip
        return None

    _text_columns = 1

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(self.columns):
            if role == Qt.ItemDataRole.DisplayRole:
                return self.columns[section].header
            if role == Qt.ItemDataRole.ToolTipRole:
                return self.columns[section].tooltip
        if orientation == Qt.Orientation.Vertical and role == Qt.ItemDataRole.DisplayRole and 0 <= section < len(self._rows):
            return str(section + 1)
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable


class MetricsTableModel(_RowsModel):
    """One row per trained generator: its metrics.json record (test Recall/NDCG@5/10/20, best epoch,
    training time). Rows carry ``_where`` = "project" or "working copy"."""

    columns = METRIC_COLUMNS
    _text_columns = 2


HEALTH_COLUMNS: tuple[_Col, ...] = (
    _Col("Level", "Position in the semantic ID; level 1 is the coarsest code.", lambda r: r["level"], str),
    _Col("Utilization", "Share of the K codewords at this level used by at least one item (100 % = none wasted).",
         lambda r: r["utilization"], lambda v: f"{100 * v:.1f} %"),
    _Col("Dead codes", "Codewords at this level that no item uses.", lambda r: r["dead_codes"], lambda v: f"{v:,}"),
    _Col("Perplexity", "Effective number of codewords in use (K = items spread perfectly evenly).",
         lambda r: r["perplexity"], lambda v: f"{v:.1f}"),
    _Col("Collisions", "Items whose codes up to this level repeat another item's: they still need a later "
         "level (or the collision token) to be told apart.", lambda r: r["collisions"], lambda v: f"{v:,}"),
)


class HealthTableModel(_RowsModel):
    """Tokenizer health per level (utilization, dead codes, perplexity, collisions so far)."""

    columns = HEALTH_COLUMNS

    def set_diagnostics(self, diag: TokenizerDiagnostics | None) -> None:
        if diag is None:
            self.set_rows([])
            return
        self.set_rows([
            {"level": s.level, "utilization": s.utilization, "dead_codes": s.dead_codes, "perplexity": s.perplexity,
             "collisions": int(diag.items - s.prefixes)}
            for s in diag.levels
        ])


def read_metrics(project_path: Path) -> dict | None:
    """The generator records of ``<project>/metrics.json`` by kind (other entries, e.g. the
    cold-start evaluation, are skipped); None when the file is absent.

    Raises ``ValueError``/``OSError`` for an unreadable file (the panel shows the message)."""
    path = Path(project_path) / "metrics.json"
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object of generator records")
    return {k: v for k, v in data.items() if isinstance(v, dict) and "test" in v}  # generators only


# ----------------------------------------------------------------------------------------- helpers


def _table(model: QAbstractTableModel) -> QTableView:
    t = QTableView()
    t.setModel(model)
    t.verticalHeader().setVisible(False)
    t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    t.setAlternatingRowColors(True)
    t.setWordWrap(False)
    hh = t.horizontalHeader()
    hh.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
    hh.setMinimumSectionSize(60)
    return t


def _plot(title: str, ylabel: str, legend_offset: tuple[int, int] = (-10, 10)) -> pg.PlotWidget:
    """A white plot with readable dark axes and a legend (a negative offset anchors it right/bottom)."""
    w = pg.PlotWidget(background="w")
    w.setMinimumHeight(170)
    item = w.getPlotItem()
    item.setTitle(title, color="#202020", size="10pt")
    item.setLabel("bottom", "epoch", color="#202020")
    item.setLabel("left", ylabel, color="#202020")
    item.showGrid(x=True, y=True, alpha=0.25)
    for axis in ("left", "bottom"):
        item.getAxis(axis).setPen(pg.mkPen("#505050"))
        item.getAxis(axis).setTextPen(pg.mkPen("#202020"))
    item.getAxis("left").enableAutoSIPrefix(False)  # plain values, no "(x0.001)" scaling
    legend = item.addLegend(offset=legend_offset, labelTextColor="#202020")
    legend.setBrush(pg.mkBrush(255, 255, 255, 220))
    return w


# ------------------------------------------------------------------------------------------- panel


class TrainingPanel(QWidget):
    """Controls, live curves and result tables for training generators and re-tokenizing.

    Public: :meth:`train`, :meth:`retokenize`, :meth:`cancel`, :meth:`save_as`,
    :meth:`set_output_folder`, :meth:`working_copy`, :meth:`screenshot_ready`, :meth:`page`, the
    table models ``metrics_model`` / ``health_model`` and the curves ``loss_curve``,
    ``recall_curve``, ``ndcg_curve`` (created once; updated with ``setData``).
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
        self._vm, self._selection, self._bridge = view_model, selection, bridge
        self._snapshot: ProjectSnapshot | None = None
        self._ready = False
        self._job_id: int | None = None
        self._job_kind: str | None = None  # "train" | "tokenize" | "save"
        self._job_project: Path | None = None  # the open project when the job was submitted
        self._epochs: "queue.SimpleQueue[dict]" = queue.SimpleQueue()
        self._rows: list[dict] = []  # epoch rows of the live run
        self._work_dir: Path | None = None  # the current working copy (exists once a job made it)
        self._output_root: Path | None = None  # user-chosen folder for working copies (None: temporary)
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._counter = 0
        self._project_metrics: dict = {}
        self._metrics_base_note = ""  # what the note under the metrics table says about the project
        self._work_metrics: dict[str, dict] = {}

        self.metrics_model = MetricsTableModel(self)
        self.health_model = HealthTableModel(self)
        self._poll = QTimer(self)
        self._poll.setInterval(_POLL_MS)
        self._poll.timeout.connect(self._drain_epochs)

        self._stack = QStackedWidget(self)
        self._empty_page = self._build_empty_page()
        self._content_page = self._build_content_page()
        self._stack.addWidget(self._empty_page)
        self._stack.addWidget(self._content_page)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self._stack)

        bridge.sig_progress.connect(self._on_progress)
        bridge.sig_result.connect(self._on_result)
        bridge.sig_error.connect(self._on_error)
        bridge.sig_cancelled.connect(self._on_cancelled)
        bridge.sig_finished.connect(self._on_finished)
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
        return self._job_id is not None

    def working_copy(self) -> Path | None:
        """The working copy jobs write to (None until the first job made one)."""
        return self._work_dir

    def reset_working_copy(self) -> None:
        """Forget the current working copy (its folder stays); the next job copies the open project again."""
        if not self.busy():
            self._work_dir = None
            self._work_metrics = {}
            self._refresh_metrics()
            self._set_busy(False)

    def set_output_folder(self, folder: str | Path | None) -> None:
        """Put future working copies below ``folder`` (None: a temporary folder, removed at exit)."""
        self._output_root = Path(folder) if folder else None
        self._folder_label.setText(str(self._output_root) if self._output_root else "a temporary folder")

    def train(self) -> int | None:
        """Start training the chosen generator with the chosen settings on the working copy; returns
        the bridge job id (None when no project is open, a job runs or a setting is invalid)."""
        if self._snapshot is None or self.busy():
            return None
        kind = self.kind_combo.currentData()
        try:
            tcfg = TrainConfig(
                epochs=self.epochs_spin.value(), batch_size=self.batch_spin.value(), lr=self.lr_spin.value(),
                eval_every=self.eval_spin.value(), patience=self.patience_spin.value(),
                max_minutes=self.minutes_spin.value() or None,
            )
            more = self.more_settings()
        except Exception as exc:  # noqa: BLE001 - ConfigError / ValueError: show its message
            self._show_error(str(exc))
            return None
        mcfg = {**self._model_config(kind), **more}
        work = self._work_dir if self._work_dir is not None else self._new_work_dir()
        self._reset_live_curves()
        self._set_run_label(f"Training {KIND_NAMES.get(kind, kind)} in {work}")
        epochs = self._epochs
        job = self._bridge.submit(
            train_copy, str(self._snapshot.path), str(work), kind, model_config=mcfg, train_config=tcfg,
            device="auto", on_epoch=lambda row, q=epochs: q.put(dict(row)), name=f"train {kind}",
        )
        self._work_dir = work
        self._start_job(job.id, "train")
        return job.id

    def retokenize(self) -> int | None:
        """Fit the chosen tokenizer on the project's embeddings into a fresh working copy; the
        health table shows its per-level diagnostics when it is done. Returns the job id or None."""
        if self._snapshot is None or self.busy():
            return None
        try:
            cfg = QuantizerConfig(method=self.method_combo.currentData(), levels=self.levels_spin.value(),
                                  codebook_size=self.codebook_spin.value())
        except Exception as exc:  # noqa: BLE001 - ConfigError
            self._show_error(str(exc))
            return None
        work = self._new_work_dir()
        self._health_title.setText(f"Re-tokenizing with {_METHOD_NAMES.get(cfg.method, cfg.method)}, "
                                   f"{cfg.levels} levels × {cfg.codebook_size} codewords…")
        self.tables.setCurrentIndex(1)
        job = self._bridge.submit(retokenize_copy, str(self._snapshot.path), str(work), cfg,
                                  name=f"re-tokenize ({cfg.method})")
        self._start_job(job.id, "tokenize")
        return job.id

    def cancel(self) -> None:
        """Ask the running job to stop (training keeps its best weights so far only if it finishes)."""
        if self._job_id is not None:
            self._bridge.cancel(self._job_id)
            self._status.setText("Cancelling…")

    def save_as(self, dest: str | Path | None = None) -> int | None:
        """Write the working copy to ``dest`` (asks for a folder when None); returns the job id."""
        if self._work_dir is None or not (self._work_dir / "project.json").is_file() or self.busy():
            return None
        if dest is None:
            dest = QFileDialog.getExistingDirectory(self, "Save project as (choose or create an empty folder)")
            if not dest:
                return None
        job = self._bridge.submit(save_working_copy, str(self._work_dir), str(dest), name="save project as")
        self._start_job(job.id, "save")
        return job.id

    # ---- private: building ----
    def _build_empty_page(self) -> QWidget:
        page = QWidget()
        lay = QVBoxLayout(page)
        lay.addStretch(1)
        title = _heading("No project open", 1.6)
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        body = QLabel(_EMPTY_TEXT)
        body.setWordWrap(True)
        body.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay.addWidget(title)
        lay.addWidget(body)
        lay.addStretch(2)
        return page

    def _build_controls(self) -> QWidget:
        col = QWidget()
        lay = QVBoxLayout(col)
        lay.setContentsMargins(0, 0, 6, 0)
        lay.setSpacing(6)

        tok = QGroupBox("Tokenizer")
        tf = QFormLayout(tok)
        self.method_combo = QComboBox()
        for m in METHODS:
            self.method_combo.addItem(_METHOD_NAMES.get(m, m), m)
        self.levels_spin = QSpinBox()
        self.levels_spin.setRange(1, 8)
        self.levels_spin.setValue(3)
        self.levels_spin.setToolTip("Code levels before the collision token (L).")
        self.codebook_spin = QSpinBox()
        self.codebook_spin.setRange(2, 4096)
        self.codebook_spin.setValue(256)
        self.codebook_spin.setToolTip("Codewords per level (K).")
        self.retokenize_button = QPushButton("Re-tokenize")
        self.retokenize_button.setToolTip("Fit a new tokenizer on the item embeddings into a new working copy. "
                                          "Generators must be trained again for the new semantic IDs.")
        self.retokenize_button.clicked.connect(self.retokenize)
        tf.addRow("Method:", self.method_combo)
        tf.addRow("Levels (L):", self.levels_spin)
        tf.addRow("Codebook size (K):", self.codebook_spin)
        tf.addRow(self.retokenize_button)
        lay.addWidget(tok)

        gen = QGroupBox("Generator")
        gf = QFormLayout(gen)
        self.kind_combo = QComboBox()
        for k in ("ran", "sasrec", "tiger"):
            if k in KINDS:
                self.kind_combo.addItem(KIND_NAMES.get(k, k), k)
        self.kind_combo.currentIndexChanged.connect(self._show_reference)

        def spin(lo, hi, value, tip, step=1):
            s = QSpinBox()
            s.setRange(lo, hi)
            s.setSingleStep(step)
            s.setValue(value)
            s.setToolTip(tip)
            return s

        def dspin(lo, hi, value, decimals, step, tip):
            s = QDoubleSpinBox()
            s.setRange(lo, hi)
            s.setDecimals(decimals)
            s.setSingleStep(step)
            s.setValue(value)
            s.setToolTip(tip)
            return s

        self.epochs_spin = spin(1, 10_000, 30, "Passes over the training sequences (early stopping may end sooner).")
        self.lr_spin = dspin(1e-5, 1.0, 2e-3, 5, 5e-4, "AdamW learning rate (peak, after warm-up).")
        self.dmodel_spin = spin(8, 1024, 64, "Width of the Transformer (a multiple of 8).", step=8)
        self.layers_spin = spin(1, 12, 2, "Transformer layers (TIGER: encoder and decoder layers each).")
        self.dropout_spin = dspin(0.0, 0.9, 0.3, 2, 0.05, "Dropout; sparse data like Beauty wants 0.3–0.5.")
        self.batch_spin = spin(8, 8192, 256, "Users per training batch.", step=32)
        self.eval_spin = spin(1, 1000, 2, "Epochs between validation runs (each adds a point to the right plot).")
        self.patience_spin = spin(1, 1000, 5, "Validation runs without improvement before training stops early.")
        self.minutes_spin = dspin(0.0, 10_000.0, 0.0, 2, 1.0, "Wall-clock budget in minutes (0 = none). "
                                  "The best weights so far are kept.")
        self.minutes_spin.setSpecialValueText("no limit")
        self.more_edit = QLineEdit()
        self.more_edit.setPlaceholderText('e.g. {"node_levels": 3, "item_input": "codes+id"}')
        self.more_edit.setToolTip(
            "Further model settings as a JSON object, as genrec train --model-config takes them. The bundled RAN "
            'was trained with {"item_input": "codes+id", "node_levels": 3}: item ids in the input and a learned '
            "output vector per trie node at the last three SID levels.")
        for s in (self.lr_spin, self.dmodel_spin, self.layers_spin, self.dropout_spin, self.batch_spin,
                  self.eval_spin, self.patience_spin, self.more_edit):  # tuning knobs: hidden in presenter mode
            s.setProperty("expert", True)
        gf.addRow("Kind:", self.kind_combo)
        for label, w in (("Epochs:", self.epochs_spin), ("Learning rate:", self.lr_spin),
                         ("d_model:", self.dmodel_spin), ("Layers:", self.layers_spin),
                         ("Dropout:", self.dropout_spin), ("Batch size:", self.batch_spin),
                         ("Eval every:", self.eval_spin), ("Patience:", self.patience_spin),
                         ("Max minutes:", self.minutes_spin), ("More settings:", self.more_edit)):
            gf.addRow(label, w)
        self.train_button = QPushButton("Train")
        self.train_button.setToolTip("Train this generator on the working copy (made from the open project).")
        self.train_button.clicked.connect(self.train)
        gf.addRow(self.train_button)
        lay.addWidget(gen)

        out = QGroupBox("Working copy")
        of = QVBoxLayout(out)
        self._folder_label = QLabel("a temporary folder")
        self._folder_label.setWordWrap(True)
        self._folder_label.setToolTip("Where working copies are created.")
        choose = QPushButton("Output folder…")
        choose.setToolTip("Create working copies below a folder of your choice instead of a temporary one.")
        choose.clicked.connect(self._choose_output)
        self.save_button = QPushButton("Save project as…")
        self.save_button.setToolTip("Write the working copy (tokenizer, SIDs, trained generators, metrics) "
                                    "to a new folder.")
        self.save_button.clicked.connect(lambda: self.save_as())
        row = QHBoxLayout()
        row.addWidget(choose)
        row.addWidget(self.save_button)
        where = QLabel("Copies go to:")
        of.addWidget(where)
        of.addWidget(self._folder_label)
        of.addLayout(row)
        lay.addWidget(out)

        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self._progress = QProgressBar()
        self._progress.setRange(0, 1000)
        self._progress.setTextVisible(False)
        self._status = QLabel("Idle.")
        self._status.setWordWrap(True)
        self._error = QLabel("")
        self._error.setWordWrap(True)
        self._error.setStyleSheet("color: #b3261e;")
        self._error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._error.setVisible(False)
        prow = QHBoxLayout()
        prow.addWidget(self._progress, 1)
        prow.addWidget(self.cancel_button)
        lay.addLayout(prow)
        lay.addWidget(self._status)
        lay.addWidget(self._error)
        lay.addStretch(1)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(col)
        scroll.setFixedWidth(330)
        return scroll

    def _build_content_page(self) -> QWidget:
        page = QWidget()
        outer = QVBoxLayout(page)
        outer.setContentsMargins(12, 8, 12, 8)
        outer.setSpacing(6)
        self._title = _heading("", 1.3)
        header = QLabel(_HEADER)
        header.setWordWrap(True)
        header.setTextFormat(Qt.TextFormat.RichText)
        outer.addWidget(self._title)
        outer.addWidget(header)

        body = QHBoxLayout()
        body.setSpacing(10)
        body.addWidget(self._build_controls())

        right = QVBoxLayout()
        right.setSpacing(6)
        self._run_label = QLabel("")
        self._run_label.setWordWrap(True)
        self._run_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        right.addWidget(self._run_label)
        plots = QHBoxLayout()
        self.loss_plot = _plot("Training loss", "loss")
        self.valid_plot = _plot("Validation", "metric", legend_offset=(10, 10))  # curves rise: top left is free
        dash = Qt.PenStyle.DashLine
        # every curve is created once here; updates only call setData
        self.ref_loss_curve = self.loss_plot.plot([], [], pen=pg.mkPen("#9e9e9e", width=1.5, style=dash),
                                                  name="saved run")
        self.loss_curve = self.loss_plot.plot([], [], pen=pg.mkPen("#1f5fbf", width=2), symbol="o", symbolSize=4,
                                              symbolBrush="#1f5fbf", symbolPen=None, name="this run")
        self.ref_recall_curve = self.valid_plot.plot([], [], pen=pg.mkPen("#9e9e9e", width=1.5, style=dash),
                                                     name="saved run")
        self.ref_ndcg_curve = self.valid_plot.plot([], [], pen=pg.mkPen("#c7c7c7", width=1.5, style=dash))
        self.recall_curve = self.valid_plot.plot([], [], pen=pg.mkPen("#1f5fbf", width=2), symbol="o", symbolSize=5,
                                                 symbolBrush="#1f5fbf", symbolPen=None, name="Recall@10")
        self.ndcg_curve = self.valid_plot.plot([], [], pen=pg.mkPen("#d9480f", width=2), symbol="s", symbolSize=5,
                                               symbolBrush="#d9480f", symbolPen=None, name="NDCG@10")
        plots.addWidget(self.loss_plot, 1)
        plots.addWidget(self.valid_plot, 1)
        right.addLayout(plots, 3)

        self.tables = QTabWidget()
        mpage = QWidget()
        ml = QVBoxLayout(mpage)
        ml.setContentsMargins(6, 6, 6, 6)
        self.metrics_table = _table(self.metrics_model)
        hh = self.metrics_table.horizontalHeader()
        hh.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self._metrics_note = QLabel("")
        self._metrics_note.setWordWrap(True)
        self._metrics_note.setTextFormat(Qt.TextFormat.RichText)
        ml.addWidget(self.metrics_table, 1)
        ml.addWidget(self._metrics_note)
        hpage = QWidget()
        hl = QVBoxLayout(hpage)
        hl.setContentsMargins(6, 6, 6, 6)
        self._health_title = QLabel("")
        self._health_title.setWordWrap(True)
        self.health_table = _table(self.health_model)
        hl.addWidget(self._health_title)
        hl.addWidget(self.health_table, 1)
        self.tables.addTab(mpage, "Test metrics per generator")
        self.tables.addTab(hpage, "Tokenizer health per level")
        right.addWidget(self.tables, 2)
        body.addLayout(right, 1)
        outer.addLayout(body, 1)
        self._set_busy(False)
        return page

    # ---- private: project changes ----
    def _on_project_changed(self, snapshot: ProjectSnapshot | None) -> None:
        if self._job_id is not None:  # a job for the previous project: stop it, ignore what it sends
            self._bridge.cancel(self._job_id)
        self._snapshot = snapshot
        self._work_dir = None
        self._work_metrics = {}
        self._rows = []
        self._reset_live_curves()
        self._clear_error()
        if snapshot is None:
            self._stack.setCurrentWidget(self._empty_page)
            self.metrics_model.set_rows([])
            self.health_model.set_diagnostics(None)
            self._ready = False
            self._set_busy(self.busy())
            return
        self._stack.setCurrentWidget(self._content_page)
        self._title.setText(f"Training monitor · {snapshot.name}")
        self._run_label.setText(f"Open project: {snapshot.path}  (read only here)")
        cfg = snapshot.project.tokenizer_config
        idx = self.method_combo.findData(cfg.method)
        if idx >= 0:
            self.method_combo.setCurrentIndex(idx)
        self.levels_spin.setValue(cfg.levels)
        self.codebook_spin.setValue(cfg.codebook_size)
        self.health_model.set_diagnostics(snapshot.diagnostics)
        self._health_title.setText(
            f"Current tokenizer of the project: {_METHOD_NAMES.get(cfg.method, cfg.method)}, "
            f"{cfg.levels} × {cfg.codebook_size}; collision rate {100 * snapshot.diagnostics.collision_rate:.1f} %."
        )
        self._load_project_metrics(snapshot.path)
        self._set_busy(self.busy())
        self._ready = True
        QTimer.singleShot(0, self._emit_ready)

    def _emit_ready(self) -> None:
        if self._ready:
            self.sig_ready.emit()

    def _load_project_metrics(self, path: Path) -> None:
        """Read ``<project>/metrics.json`` (small JSON, read directly) into the metrics table."""
        try:
            metrics = read_metrics(path)
        except (OSError, ValueError) as exc:
            self._project_metrics = {}
            self._metrics_base_note = f"<span style='color:#b3261e'>Could not read metrics.json: {exc}</span>"
        else:
            self._project_metrics = metrics or {}
            self._metrics_base_note = (
                _NO_METRICS if metrics is None else
                "Test split (each user's last item), beam search over valid semantic IDs. Hover a header for its meaning."
            )
        self._refresh_metrics()
        self._show_reference()

    def _refresh_metrics(self) -> None:
        order = {k: i for i, k in enumerate(("ran", "sasrec", "tiger"))}
        rows = [dict(r, _where="project", model=r.get("model", k)) for k, r in self._project_metrics.items()]
        rows.sort(key=lambda r: order.get(r["model"], 9))
        rows += [dict(r, _where="working copy") for r in self._work_metrics.values()]
        self.metrics_model.set_rows(rows)
        self.metrics_table.setVisible(bool(rows))
        if self._work_metrics and self._work_dir is not None:
            self._metrics_note.setText(
                "Rows marked <i>working copy</i> were trained in this session and live only in "
                f"<code>{self._work_dir}</code> until you use <b>Save project as…</b>."
            )
        else:
            self._metrics_note.setText(self._metrics_base_note)

    def _show_reference(self) -> None:
        """Dashed curves: the saved training history of the selected generator kind, if any."""
        kind = self.kind_combo.currentData()
        hist = ((self._project_metrics.get(kind) or {}).get("history") or []) if self._snapshot else []
        x = [r["epoch"] for r in hist if r.get("loss") is not None]
        y = [r["loss"] for r in hist if r.get("loss") is not None]
        self.ref_loss_curve.setData(x, y)
        vx = [r["epoch"] for r in hist if r.get("valid_recall@10") is not None]
        self.ref_recall_curve.setData(vx, [r["valid_recall@10"] for r in hist if r.get("valid_recall@10") is not None])
        self.ref_ndcg_curve.setData(vx, [r.get("valid_ndcg@10") or 0.0 for r in hist if r.get("valid_recall@10") is not None])

    # ---- private: jobs ----
    def _new_work_dir(self) -> Path:
        """A fresh, not yet existing folder for a working copy."""
        if self._output_root is not None:
            root = self._output_root
        else:
            if self._tmp is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="genrec-work-", ignore_cleanup_errors=True)
            root = Path(self._tmp.name)
        name = self._snapshot.name if self._snapshot else "project"
        while True:
            self._counter += 1
            path = root / f"{name}-work-{self._counter}"
            if not path.exists():
                return path

    def _start_job(self, job_id: int, kind: str) -> None:
        self._job_id, self._job_kind = job_id, kind
        self._job_project = self._snapshot.path if self._snapshot else None
        self._clear_error()
        self._progress.setValue(0)
        self._status.setText({"train": "Training…", "tokenize": "Re-tokenizing…", "save": "Saving…"}[kind])
        self._set_busy(True)
        if kind == "train":
            self._poll.start()
        self.sig_job_state_changed.emit(True)

    def _set_busy(self, busy: bool) -> None:
        has_project = self._snapshot is not None
        for w in (self.train_button, self.retokenize_button):
            w.setEnabled(has_project and not busy)
        self.save_button.setEnabled(not busy and self._work_dir is not None and (self._work_dir / "project.json").is_file())
        self.cancel_button.setEnabled(busy)

    def _stale(self) -> bool:
        return self._snapshot is None or self._job_project != self._snapshot.path

    def _on_progress(self, job_id: int, fraction: float, message: str) -> None:
        if job_id != self._job_id:
            return
        self._progress.setValue(int(round(1000 * fraction)))
        self._status.setText(message)

    def _on_result(self, job_id: int, result: object) -> None:
        if job_id != self._job_id:
            return
        kind, stale = self._job_kind, self._stale()
        if kind == "train":
            self._drain_epochs()
            if stale:
                return
            record = dict(result)  # type: ignore[arg-type]
            self._work_metrics[record.get("model", "?")] = record
            self._refresh_metrics()
            self.tables.setCurrentIndex(0)
            test = record.get("test") or {}
            self._status.setText(
                f"Done: best epoch {record.get('best_epoch')}, test Recall@10 {test.get('recall@10', float('nan')):.4f} "
                f"({record.get('stopped')}). Saved in the working copy only."
            )
            self.sig_training_finished.emit(record)
        elif kind == "tokenize":
            if stale:
                return
            res = dict(result)  # type: ignore[arg-type]
            diag: TokenizerDiagnostics = res["diagnostics"]
            self._work_dir = Path(res["project_path"])
            self._work_metrics = {}  # generators of the old SIDs do not carry over
            self._refresh_metrics()
            self.health_model.set_diagnostics(diag)
            cfg = res.get("config", {})
            self._health_title.setText(
                f"Re-tokenized working copy: {_METHOD_NAMES.get(cfg.get('method'), cfg.get('method'))}, "
                f"{cfg.get('levels')} × {cfg.get('codebook_size')}; collision rate {100 * diag.collision_rate:.1f} %, "
                f"fit {res.get('seconds', 0):.1f} s. Train a generator for these SIDs next."
            )
            self._status.setText("Re-tokenized. The project's own tokenizer is unchanged.")
            self.sig_tokenized.emit(res)
        elif kind == "save":
            self._status.setText(f"Saved to {result}.")
            self.sig_project_saved.emit(str(result))

    def _on_error(self, job_id: int, message: str) -> None:
        if job_id == self._job_id:
            self._drain_epochs()
            self._show_error(message)
            self._status.setText("Failed.")

    def _on_cancelled(self, job_id: int) -> None:
        if job_id == self._job_id:
            self._drain_epochs()
            self._status.setText("Cancelled. The open project is unchanged.")

    def _on_finished(self, job_id: int) -> None:
        if job_id != self._job_id:
            return
        self._poll.stop()
        self._job_id = self._job_kind = None
        self._set_busy(False)
        self.sig_job_state_changed.emit(False)

    def _drain_epochs(self) -> None:
        """Move queued epoch rows (put there by the worker) onto the curves; GUI thread only."""
        got = False
        while True:
            try:
                row = self._epochs.get_nowait()
            except queue.Empty:
                break
            if not self._stale():
                self._rows.append(row)
                got = True
        if got:
            self._update_live_curves()

    def _update_live_curves(self) -> None:
        rows = self._rows
        self.loss_curve.setData([r["epoch"] for r in rows], [float(r.get("loss", float("nan"))) for r in rows])
        val = [r for r in rows if r.get("valid_recall@10") is not None]
        self.recall_curve.setData([r["epoch"] for r in val], [float(r["valid_recall@10"]) for r in val])
        self.ndcg_curve.setData([r["epoch"] for r in val], [float(r.get("valid_ndcg@10") or 0.0) for r in val])
        last = rows[-1]
        text = f"Epoch {last['epoch']} · {last.get('seconds', 0):.1f} s · loss {last.get('loss', float('nan')):.4f}"
        if val:
            text += f" · last validation Recall@10 {val[-1]['valid_recall@10']:.4f} (epoch {val[-1]['epoch']})"
        self._status.setText(text)

    def _reset_live_curves(self) -> None:
        while True:  # rows of an earlier run that arrived late
            try:
                self._epochs.get_nowait()
            except queue.Empty:
                break
        self._rows = []
        for c in (self.loss_curve, self.recall_curve, self.ndcg_curve):
            c.setData([], [])

    def epoch_rows(self) -> list[dict]:
        """The epoch rows the curves of the current (or last) run show."""
        return [dict(r) for r in self._rows]

    def more_settings(self) -> dict:
        """The "More settings" JSON object ({} when empty); ValueError with the column of a
        syntax error, or when it is not an object."""
        text = self.more_edit.text().strip()
        if not text:
            return {}
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"More settings: {exc.msg} at column {exc.colno}; expected a JSON object such as "
                             '{"node_levels": 3}') from None
        if not isinstance(value, dict):
            raise ValueError(f"More settings: expected a JSON object such as {{\"node_levels\": 3}}, got {text[:40]}")
        return value

    def _model_config(self, kind: str) -> dict:
        d, layers, drop = self.dmodel_spin.value(), self.layers_spin.value(), round(self.dropout_spin.value(), 4)
        heads = 4 if kind == "tiger" and d % 4 == 0 else (2 if d % 2 == 0 else 1)
        if kind == "tiger":
            return {"d_model": d, "n_enc_layers": layers, "n_dec_layers": layers, "n_heads": heads,
                    "d_ff": 4 * d, "dropout": drop}
        return {"d_model": d, "n_layers": layers, "n_heads": heads, "dropout": drop}

    def _choose_output(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder for working copies")
        if folder:
            self.set_output_folder(folder)

    def _set_run_label(self, text: str) -> None:
        self._run_label.setText(text)

    def _show_error(self, message: str) -> None:
        self._error.setText(message)
        self._error.setVisible(True)

    def _clear_error(self) -> None:
        self._error.setText("")
        self._error.setVisible(False)
