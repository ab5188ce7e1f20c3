"""File > Import SIDs…: build a project from a dataset folder and a SID table made elsewhere.

The user picks the dataset folder, the SID file (LETTER ``*.index.json``, RecBole ``item_sids.json``,
OpenOneRec ``sid2pid.json``, a GRID-style ``.npy``/``.pt`` array, ``item_id,c1..cL`` or
``item_id,sid`` tables), the format (auto-detected by default), the codebook sizes (else the file's
manifest or the smallest power of two above each level's largest code), the collision policy, the
content encoder and a new project folder. **Check** runs :func:`genrec_engine.interop.check_import`
in the background and lists every problem with file, line or key, or a summary of what would be
imported; **Import** becomes available once a check found no error. The dialog itself only
collects the choices: :attr:`ImportSIDsDialog.sig_import` hands them to the window, which runs the
import as a job with progress and opens the new project.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from genrec_engine.interop import FORMATS, check_import

from .bridge import EngineBridge, JobScope
from .dialogs import ProblemTableModel

__all__ = ["ImportSIDsDialog", "ImportChoices"]

_FORMAT_NAMES = {
    "auto": "Detect from the file",
    "letter": "LETTER / LC-Rec / MiniOneRec (*.index.json)",
    "recbole": "RecBole (item_sids.json)",
    "recif": "OpenOneRec (sid2pid.json)",
    "grid": "GRID-style array (.npy / .pt)",
    "csv": "Table item_id, c1 … cL (.csv / .parquet)",
    "strings": "Table item_id, sid \"12-7-201\"",
}
_POLICIES = (("append-level", "Tell colliding items apart with an extra level (append-level)"),
             ("keep-all", "One SID names the whole group of items (keep-all)"))
_ENCODERS = (("minilm", "Text: MiniLM over title, brand, categories"),
             ("structured", "Structured fields (fast, no text model)"))


class ImportChoices(dict):
    """The dialog's choices as :func:`genrec_engine.interop.import_sids` keywords plus ``data``,
    ``sids_file`` and ``out``."""


class ImportSIDsDialog(QDialog):
    """Non-blocking dialog (open it with :meth:`open`). Emits :attr:`sig_import` with an
    :class:`ImportChoices` when the user presses Import after a clean check."""

    sig_import = Signal(object)

    def __init__(self, bridge: EngineBridge, start: Path, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Import semantic IDs")
        self.resize(860, 520)
        self._scope = JobScope(bridge)
        self._start = Path(start)
        self._checked: tuple | None = None  # the choices the last clean check was for

        self.data_edit, data_row = self._path_row("dataset folder (items.* + interactions.*)", self._browse_data)
        self.sids_edit, sids_row = self._path_row("the SID table file", self._browse_sids)
        self.out_edit, out_row = self._path_row("a new folder for the project", self._browse_out)
        self.format_box = QComboBox()
        for key in ("auto",) + FORMATS:
            self.format_box.addItem(_FORMAT_NAMES[key], key)
        self.sizes_edit = QLineEdit()
        self.sizes_edit.setPlaceholderText("e.g. 256,256,256 — empty: from the manifest, else inferred")
        self.policy_box = QComboBox()
        for key, text in _POLICIES:
            self.policy_box.addItem(text, key)
        self.encoder_box = QComboBox()
        for key, text in _ENCODERS:
            self.encoder_box.addItem(text, key)

        form = QFormLayout()
        form.addRow("Dataset folder", data_row)
        form.addRow("SID table", sids_row)
        form.addRow("Format", self.format_box)
        form.addRow("Codebook sizes", self.sizes_edit)
        form.addRow("Collisions", self.policy_box)
        form.addRow("Content encoder", self.encoder_box)
        form.addRow("New project folder", out_row)

        self.check_button = QPushButton("Check")
        self.check_button.clicked.connect(self.check)
        self.summary = QLabel("Choose the dataset folder and the SID table, then press Check.")
        self.summary.setWordWrap(True)
        self.problems = ProblemTableModel([], self)
        self.table = QTableView()
        self.table.setModel(self.problems)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        for c in range(len(ProblemTableModel.COLUMNS) - 1):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.import_button = self.buttons.addButton("Import", QDialogButtonBox.ButtonRole.AcceptRole)
        self.import_button.setEnabled(False)
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)

        check_row = QHBoxLayout()
        check_row.addWidget(self.check_button)
        check_row.addWidget(self.summary, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(check_row)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.buttons)
        for edit in (self.data_edit, self.sids_edit, self.sizes_edit):
            edit.textChanged.connect(self._changed)
        self.out_edit.textChanged.connect(
            lambda: self.import_button.setEnabled(self._checked is not None and bool(self.out_edit.text().strip())))
        for box in (self.format_box, self.policy_box):
            box.currentIndexChanged.connect(self._changed)

    # ---- public ----
    def choices(self) -> ImportChoices:
        """What the user chose; ``codebook_sizes`` is None when left empty. Raises ValueError for
        sizes that are not comma-separated positive integers."""
        text = self.sizes_edit.text().strip()
        sizes = None
        if text:
            try:
                sizes = [int(t) for t in text.replace(" ", "").split(",") if t]
            except ValueError:
                raise ValueError(f"Codebook sizes: expected comma-separated integers, got {text!r}") from None
            if not sizes or min(sizes) < 1:
                raise ValueError(f"Codebook sizes: every level needs a positive size, got {text!r}")
        return ImportChoices(data=self.data_edit.text().strip(), sids_file=self.sids_edit.text().strip(),
                             out=self.out_edit.text().strip(), fmt=self.format_box.currentData(),
                             codebook_sizes=sizes, policy=self.policy_box.currentData(),
                             encoder=self.encoder_box.currentData())

    def check(self) -> None:
        """Check the current choices in the background; the result fills the problem list."""
        try:
            c = self.choices()
        except ValueError as exc:
            self._show([], str(exc))
            return
        if not c["data"] or not c["sids_file"]:
            self._show([], "Choose the dataset folder and the SID table first.")
            return
        key = self._key(c)
        self.summary.setText("Checking…")
        self.check_button.setEnabled(False)
        self._scope.submit(check_import, c["data"], c["sids_file"], fmt=c["fmt"], codebook_sizes=c["codebook_sizes"],
                           policy=c["policy"], name="Checking the SID table",
                           on_result=lambda res: self._on_checked(key, res),
                           on_error=lambda msg: self._show([], msg),
                           on_finished=lambda: self.check_button.setEnabled(True))

    # ---- private ----
    def _path_row(self, placeholder: str, browse) -> tuple[QLineEdit, QWidget]:
        edit = QLineEdit()
        edit.setPlaceholderText(placeholder)
        button = QPushButton("Browse…")
        button.clicked.connect(browse)
        row = QWidget()
        lay = QHBoxLayout(row)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(edit, 1)
        lay.addWidget(button)
        return edit, row

    def _browse_data(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Dataset folder", str(self._start))
        if folder:
            self.data_edit.setText(folder)
            if not self.out_edit.text():
                self.out_edit.setText(str(Path(folder).parent / f"{Path(folder).name}-imported"))

    def _browse_sids(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "SID table", str(self._start),
                                              "SID tables (*.json *.npy *.pt *.csv *.tsv *.parquet);;All files (*)")
        if path:
            self.sids_edit.setText(path)

    def _browse_out(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "New project folder", self.out_edit.text() or str(self._start))
        if path:
            self.out_edit.setText(path)

    def _key(self, c: ImportChoices) -> tuple:
        return (c["data"], c["sids_file"], c["fmt"], tuple(c["codebook_sizes"] or ()), c["policy"])

    def _changed(self) -> None:
        self.import_button.setEnabled(False)
        self._checked = None

    def _show(self, problems, text: str) -> None:
        self.problems.set_rows(list(problems))
        self.summary.setText(text)

    def _on_checked(self, key: tuple, res: dict) -> None:
        problems, info = res["problems"], res["info"]
        errors = [p for p in problems if p.severity == "error"]
        if errors or info is None:
            self._show(problems, f"<b>{len(errors)} problem(s)</b> stop the import (file, line or key listed). "
                                 "Fix them and press Check again.")
            return
        sizes = " × ".join(map(str, info["codebook_sizes"]))
        text = (f"<b>Ready.</b> {info['items']:,} items, {info['users']:,} users; {info['format']} table, "
                f"{info['levels']} levels of {sizes} codes ({info['sizes_from']}); {info['unique_sids']:,} distinct "
                f"SIDs, {info['groups_with_collisions']:,} shared by several items.")
        for w in info.get("warnings", []):
            text += f"<br>Warning: {w}"
        self._show(problems, text)
        self._checked = key
        self.import_button.setEnabled(bool(self.out_edit.text().strip()))

    def _accept(self) -> None:
        try:
            c = self.choices()
        except ValueError as exc:
            self._show([], str(exc))
            return
        if self._checked != self._key(c) or not c["out"]:
            self._show([], "Press Check first (the choices changed since the last check), and choose a project folder.")
            return
        self.sig_import.emit(c)
        self.accept()
