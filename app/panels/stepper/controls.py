"""The stepper's option controls (generator, instruction, beam, mode and its knobs, filters) as one widget.

:class:`OptionsBar` reads its widgets into a frozen :class:`~.state.Options` and says when one of
them changed; it knows nothing about decoding. Each widget has an object name (``generator``,
``instruction``, ``beam``, ``constrained``, ``mode``, ``groups``, ``penalty``, ``temperature``,
``seed``, ``block_categories``, ``block_brands``, ``exclude_history``), so tests find it with
``panel.findChild(QWidget, name)``.
"""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from .jobs import KIND_LABELS, KINDS
from .state import MODE_LABELS, Options

__all__ = ["OptionsBar", "expert"]

_NO_INSTRUCTION_TIP = "Disabled: the {} generator was trained without instructions."
_INSTRUCTION_TIP = "A natural-language instruction the generator reads with the history (press Enter to decode with it)."


def expert(widget: QWidget) -> QWidget:
    """Mark a technical control: presenter mode hides it."""
    widget.setProperty("expert", True)
    return widget


def _spin(lo: int, hi: int, value: int, tip: str) -> QSpinBox:
    s = QSpinBox()
    s.setRange(lo, hi)
    s.setValue(value)
    s.setToolTip(tip)
    return s


def _dspin(lo: float, hi: float, value: float, tip: str) -> QDoubleSpinBox:
    s = QDoubleSpinBox()
    s.setRange(lo, hi)
    s.setSingleStep(0.1)
    s.setValue(value)
    s.setToolTip(tip)
    return s


class OptionsBar(QWidget):
    """Two rows of decoding options; the first starts with the panel's ``lead`` widgets (with
    their stretch factors: the test user's spin box and label). Public: :meth:`options`, :meth:`set_kind`,
    :meth:`show_instruction_support`, :attr:`sig_changed`."""

    sig_changed = Signal()
    """An option changed (spin boxes on Enter or arrow, text fields on Enter or focus out)."""

    sig_kind_changed = Signal()
    """The generator changed (before ``sig_changed``)."""

    def __init__(self, lead: list[tuple[QWidget, int]], parent: QWidget | None = None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(6)

        row = QHBoxLayout()
        for w, stretch in lead:
            row.addWidget(w, stretch)
        row.addWidget(QLabel("Generator"))
        self.kind = QComboBox()
        for kind in KINDS:
            self.kind.addItem(KIND_LABELS[kind], kind)
        self.kind.setToolTip("The generator to decode with (SASRec scores atomic item ids and has no SID "
                             "decode to step through).")
        self.kind.currentIndexChanged.connect(self._on_kind_changed)
        row.addWidget(self.kind)
        row.addWidget(QLabel("Instruction"))
        self.instruction = QLineEdit()
        self.instruction.setPlaceholderText("e.g. something for dry skin")
        self.instruction.setMinimumWidth(200)
        self.instruction.editingFinished.connect(self._changed)
        row.addWidget(self.instruction, 1)
        lay.addLayout(row)

        row = QHBoxLayout()
        self.beam = _spin(1, 100, 20, "Beams kept per level (samples, in sampling mode). Below 10 the list is shorter.")
        self.constrained = QCheckBox("Constrained")
        self.constrained.setChecked(True)
        self.constrained.setToolTip("Mask tokens the prefix trie disallows, so every decoded SID is a real item. "
                                    "Off: SIDs that name no item are counted as invalid.")
        self.mode = QComboBox()
        for mode, label in MODE_LABELS.items():
            self.mode.addItem(label, mode)
        self.mode.setToolTip("Beam search; diverse beam search (groups penalised for repeating each "
                             "other's tokens); or sampling (independent draws at a temperature).")
        self.groups = _spin(1, 10, 2, "Diverse beam search: number of groups (the beam is rounded to a multiple).")
        self.penalty = _dspin(0.0, 10.0, 0.5, "Diverse beam search: log-prob penalty per earlier group's pick of a token.")
        self.temperature = _dspin(0.05, 10.0, 1.0, "Sampling: temperature (above 1 flattens the model's distribution).")
        self.seed = _spin(0, 1_000_000, 0, "Sampling: random seed (the same seed draws the same samples).")
        for label, w in (("Beam", self.beam), (None, self.constrained), ("Mode", self.mode), ("Groups", self.groups),
                         ("Penalty", self.penalty), ("Temp.", self.temperature), ("Seed", self.seed)):
            if label:
                lab = expert(QLabel(label))
                lab.setToolTip(w.toolTip())
                row.addWidget(lab)
            row.addWidget(expert(w))
        for w in (self.beam, self.groups, self.seed, self.penalty, self.temperature):
            w.setKeyboardTracking(False)
            w.valueChanged.connect(self._changed)
        self.constrained.toggled.connect(self._changed)
        self.mode.currentIndexChanged.connect(self._on_mode_changed)
        row.addSpacing(12)
        self.block_categories = QLineEdit()
        self.block_categories.setPlaceholderText("Block categories")
        self.block_categories.setToolTip("Comma-separated categories whose items are masked during decoding "
                                         "(e.g. Nail Polish, Fragrance); press Enter to apply.")
        self.block_brands = QLineEdit()
        self.block_brands.setPlaceholderText("Block brands")
        self.block_brands.setToolTip("Comma-separated brands whose items are masked during decoding "
                                     "(e.g. OPI, Revlon); press Enter to apply.")
        for w in (self.block_categories, self.block_brands):
            w.editingFinished.connect(self._changed)
            row.addWidget(w, 1)
        self.exclude_history = QCheckBox("Hide history items")
        self.exclude_history.setToolTip("Mask the items already in the history, so they are never recommended.")
        self.exclude_history.toggled.connect(self._changed)
        row.addWidget(self.exclude_history)
        lay.addLayout(row)
        for name in ("kind", "instruction", "beam", "constrained", "mode", "groups", "penalty", "temperature", "seed",
                     "block_categories", "block_brands", "exclude_history"):
            getattr(self, name).setObjectName("generator" if name == "kind" else name)
        self._on_mode_changed(emit=False)

    # ---- public ----
    def options(self) -> Options:
        """The options as set (the instruction only while its field is enabled)."""
        return Options(
            kind=self.kind.currentData(), beam=int(self.beam.value()), constrained=self.constrained.isChecked(),
            mode=self.mode.currentData(), groups=int(self.groups.value()), penalty=float(self.penalty.value()),
            temperature=float(self.temperature.value()), seed=int(self.seed.value()),
            block_categories=self.block_categories.text(), block_brands=self.block_brands.text(),
            exclude_history=self.exclude_history.isChecked(),
            instruction=self.instruction.text().strip() if self.instruction.isEnabled() else "",
        )

    def set_kind(self, kind: str) -> None:
        """Select generator ``kind`` without announcing a change."""
        self.kind.blockSignals(True)
        self.kind.setCurrentIndex(self.kind.findData(kind))
        self.kind.blockSignals(False)

    def show_instruction_support(self, accepts: bool | None) -> None:
        """Enable the instruction field for a generator trained with instructions (None: not loaded)."""
        self.instruction.setEnabled(bool(accepts))
        label = KIND_LABELS.get(self.kind.currentData(), self.kind.currentData())
        self.instruction.setToolTip(_INSTRUCTION_TIP if accepts else _NO_INSTRUCTION_TIP.format(label))

    # ---- private ----
    def _changed(self, *_args) -> None:
        self.sig_changed.emit()

    def _on_kind_changed(self, _index: int) -> None:
        self.sig_kind_changed.emit()
        self.sig_changed.emit()

    def _on_mode_changed(self, *_args, emit: bool = True) -> None:
        mode = self.mode.currentData()
        self.groups.setEnabled(mode == "diverse")
        self.penalty.setEnabled(mode == "diverse")
        self.temperature.setEnabled(mode == "sample")
        self.seed.setEnabled(mode == "sample")
        if emit:
            self.sig_changed.emit()
