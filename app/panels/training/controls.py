"""The training monitor's left column: tokenizer and generator settings, working copy, progress.

:class:`TrainingControls` only holds widgets and reads them into the frozen settings of
:mod:`.state`; the panel connects its buttons. Widgets are public attributes (``kind_combo``,
``epochs_spin``, ``train_button``, ...), as :mod:`app.stall` and the tests drive them.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from genrec_engine import KINDS, METHODS

from ...widgets import GENERATOR_NAMES, error_label
from .state import METHOD_NAMES, TokenizerSettings, TrainSettings, default_eval_users

__all__ = ["TrainingControls"]


def _spin(lo: int, hi: int, value: int, tip: str, step: int = 1) -> QSpinBox:
    s = QSpinBox()
    s.setRange(lo, hi)
    s.setSingleStep(step)
    s.setValue(value)
    s.setToolTip(tip)
    return s


def _dspin(lo: float, hi: float, value: float, decimals: int, step: float, tip: str) -> QDoubleSpinBox:
    s = QDoubleSpinBox()
    s.setRange(lo, hi)
    s.setDecimals(decimals)
    s.setSingleStep(step)
    s.setValue(value)
    s.setToolTip(tip)
    return s


def _button(text: str, tip: str = "") -> QPushButton:
    b = QPushButton(text)
    b.setToolTip(tip)
    return b


class TrainingControls(QWidget):
    """A fixed-width column: the groups Tokenizer, Generator, Working copy (scrolling when the
    window is short), then, always in view below them, the progress bar with Cancel, the status
    line and the error line. Public: the widgets, :meth:`train_settings`, :meth:`tokenizer_settings`,
    :meth:`show_tokenizer`, :meth:`set_busy`, :meth:`show_output_folder`."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        col = QWidget()
        lay = QVBoxLayout(col)
        lay.setContentsMargins(0, 0, 6, 0)
        lay.setSpacing(6)
        lay.addWidget(self._tokenizer_group())
        lay.addWidget(self._generator_group())
        lay.addWidget(self._working_copy_group())
        lay.addStretch(1)
        groups = QScrollArea()
        groups.setWidgetResizable(True)
        groups.setFrameShape(QFrame.Shape.NoFrame)
        groups.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        groups.setWidget(col)
        self.groups = groups

        self.cancel_button = _button("Cancel")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.status = QLabel("Idle.")
        self.status.setObjectName("status")
        self.status.setWordWrap(True)
        self.error = error_label()
        self.error.setObjectName("error")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(6)
        outer.addWidget(groups, 1)
        row = QHBoxLayout()  # never below the fold: a run's progress and its Cancel stay in sight
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        outer.addLayout(row)
        outer.addWidget(self.status)
        outer.addWidget(self.error)
        self.setFixedWidth(330)

    # ---- public ----
    def train_settings(self) -> TrainSettings:
        return TrainSettings(
            kind=self.kind_combo.currentData(), epochs=self.epochs_spin.value(), lr=self.lr_spin.value(),
            d_model=self.dmodel_spin.value(), layers=self.layers_spin.value(), dropout=self.dropout_spin.value(),
            batch_size=self.batch_spin.value(), eval_every=self.eval_spin.value(), patience=self.patience_spin.value(),
            max_minutes=self.minutes_spin.value(), more=self.more_edit.text(),
            eval_users=self.eval_users_spin.value(),
        )

    def tokenizer_settings(self) -> TokenizerSettings:
        return TokenizerSettings(self.method_combo.currentData(), self.levels_spin.value(), self.codebook_spin.value())

    def show_tokenizer(self, method: str, levels: int, codebook_size: int) -> None:
        """Set the tokenizer controls to a project's tokenizer."""
        idx = self.method_combo.findData(method)
        if idx >= 0:
            self.method_combo.setCurrentIndex(idx)
        self.levels_spin.setValue(levels)
        self.codebook_spin.setValue(codebook_size)

    def set_busy(self, has_project: bool, busy: bool, can_save: bool) -> None:
        for w in (self.train_button, self.retokenize_button):
            w.setEnabled(has_project and not busy)
        self.save_button.setEnabled(not busy and can_save)
        self.cancel_button.setEnabled(busy)

    def propose_eval_users(self, users: int) -> None:
        """A project of ``users`` users opened: validate on all of them, or on a sample when many."""
        self.eval_users_spin.setValue(default_eval_users(users))

    def show_output_folder(self, folder: Path | None) -> None:
        self.folder_label.setText(str(folder) if folder else "a temporary folder")

    # ---- private: building ----
    def _tokenizer_group(self) -> QGroupBox:
        tok = QGroupBox("Tokenizer")
        form = QFormLayout(tok)
        self.method_combo = QComboBox()
        for m in METHODS:
            self.method_combo.addItem(METHOD_NAMES.get(m, m), m)
        self.levels_spin = _spin(1, 8, 3, "Code levels before the collision token (L).")
        self.codebook_spin = _spin(2, 4096, 256, "Codewords per level (K).")
        self.retokenize_button = _button("Re-tokenize", "Fit a new tokenizer on the item embeddings into a new "
                                         "working copy. Generators must be trained again for the new semantic IDs.")
        form.addRow("Method:", self.method_combo)
        form.addRow("Levels (L):", self.levels_spin)
        form.addRow("Codebook size (K):", self.codebook_spin)
        form.addRow(self.retokenize_button)
        return tok

    def _generator_group(self) -> QGroupBox:
        gen = QGroupBox("Generator")
        form = QFormLayout(gen)
        self.kind_combo = QComboBox()
        for k in ("ran", "sasrec", "tiger"):
            if k in KINDS:
                self.kind_combo.addItem(GENERATOR_NAMES.get(k, k), k)
        self.epochs_spin = _spin(1, 10_000, 30, "Passes over the training sequences (early stopping may end sooner).")
        self.lr_spin = _dspin(1e-5, 1.0, 2e-3, 5, 5e-4, "AdamW learning rate (peak, after warm-up).")
        self.dmodel_spin = _spin(8, 1024, 64, "Width of the Transformer (a multiple of 8).", step=8)
        self.layers_spin = _spin(1, 12, 2, "Transformer layers (TIGER: encoder and decoder layers each).")
        self.dropout_spin = _dspin(0.0, 0.9, 0.3, 2, 0.05, "Dropout; sparse data like Beauty wants 0.3–0.5.")
        self.batch_spin = _spin(8, 8192, 256, "Users per training batch.", step=32)
        self.eval_spin = _spin(1, 1000, 2, "Epochs between validation runs (each adds a point to the right plot).")
        self.patience_spin = _spin(1, 1000, 5, "Validation runs without improvement before training stops early.")
        self.minutes_spin = _dspin(0.0, 10_000.0, 0.0, 2, 1.0, "Wall-clock budget in minutes (0 = none). "
                                   "The best weights so far are kept.")
        self.minutes_spin.setSpecialValueText("no limit")
        self.eval_users_spin = _spin(0, 100_000_000, 0, "Validate on a seeded sample of this many users (all users: "
                                     "0). Each validation decodes every one of them with beam search: at a million "
                                     "items, all two million users take ~50 min on two CPU cores.", step=1000)
        self.eval_users_spin.setSpecialValueText("all users")
        self.more_edit = QLineEdit()
        self.more_edit.setPlaceholderText('e.g. {"node_levels": 3, "item_input": "codes+id"}')
        self.more_edit.setToolTip(
            "Further model settings as a JSON object, as genrec train --model-config takes them. The bundled RAN "
            'was trained with {"item_input": "codes+id", "node_levels": 3}: item ids in the input and a learned '
            "output vector per trie node at the last three SID levels.")
        for s in (self.lr_spin, self.dmodel_spin, self.layers_spin, self.dropout_spin, self.batch_spin,
                  self.eval_spin, self.patience_spin, self.eval_users_spin, self.more_edit):  # tuning knobs: hidden in presenter mode
            s.setProperty("expert", True)
        form.addRow("Kind:", self.kind_combo)
        for label, w in (("Epochs:", self.epochs_spin), ("Learning rate:", self.lr_spin),
                         ("d_model:", self.dmodel_spin), ("Layers:", self.layers_spin),
                         ("Dropout:", self.dropout_spin), ("Batch size:", self.batch_spin),
                         ("Eval every:", self.eval_spin), ("Patience:", self.patience_spin),
                         ("Validation users:", self.eval_users_spin),
                         ("Max minutes:", self.minutes_spin), ("More settings:", self.more_edit)):
            form.addRow(label, w)
        self.train_button = _button("Train", "Train this generator on the working copy (made from the open project).")
        form.addRow(self.train_button)
        return gen

    def _working_copy_group(self) -> QGroupBox:
        out = QGroupBox("Working copy")
        lay = QVBoxLayout(out)
        self.folder_label = QLabel("a temporary folder")
        self.folder_label.setWordWrap(True)
        self.folder_label.setToolTip("Where working copies are created.")
        self.choose_button = _button("Output folder…", "Create working copies below a folder of your choice "
                                     "instead of a temporary one.")
        self.save_button = _button("Save project as…", "Write the working copy (tokenizer, SIDs, trained "
                                   "generators, metrics) to a new folder.")
        row = QHBoxLayout()
        row.addWidget(self.choose_button)
        row.addWidget(self.save_button)
        lay.addWidget(QLabel("Copies go to:"))
        lay.addWidget(self.folder_label)
        lay.addLayout(row)
        return out
