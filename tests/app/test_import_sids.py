"""File > Import SIDs…: the dialog lists problems with file and key, imports after a clean check,
and the window opens the imported project, whose generator-free panels say what they need."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt

from app.import_dialog import ImportSIDsDialog
from app.window import MainWindow
from genrec_engine import Project
from genrec_engine.testing import make_tiny_project

from .helpers import FIRST_FIT_MS

ROOT = Path(__file__).resolve().parents[2]
LOAD_MS = FIRST_FIT_MS  # a tiny project has no saved layout: the map's UMAP fit runs when it opens


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-import")
    proj = Project.open(make_tiny_project(ROOT / "resources" / "datasets" / "beauty", root, items=120, users=30))
    return root, proj


@pytest.fixture
def window(qtbot, tmp_path, tiny):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(tiny[1].path, dialogs=False, settings=settings)
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.sig_project_loaded, timeout=LOAD_MS):
        pass
    qtbot.waitUntil(lambda: win.bridge.running() == 0, timeout=LOAD_MS)
    return win


def _rows(model):
    return [[model.index(r, c).data() for c in range(model.columnCount())] for r in range(model.rowCount())]


def test_import_dialog_checks_then_imports_and_opens_the_project(window, qtbot, tiny, tmp_path):
    root, proj = tiny
    ids = proj.sids.item_ids.tolist()
    rng = np.random.default_rng(0)
    table = {str(i): [int(rng.integers(0, 8)), int(rng.integers(0, 64))] for i in ids}
    del table[str(ids[5])]
    table["999999"] = [1, 2]
    sids = tmp_path / "item_sids.json"
    sids.write_text(json.dumps(table))

    window._ask_import_sids()
    dialog: ImportSIDsDialog = window.import_dialog
    dialog.data_edit.setText(str(root / "dataset"))
    dialog.sids_edit.setText(str(sids))
    dialog.encoder_box.setCurrentIndex(dialog.encoder_box.findData("structured"))
    dialog.out_edit.setText(str(tmp_path / "imported"))
    dialog.check()
    qtbot.waitUntil(lambda: dialog.problems.rowCount() > 0, timeout=LOAD_MS)
    rows = _rows(dialog.problems)
    assert any(r[1] == "item_sids.json" and "key '999999'" in r[3] and "not in the catalogue" in r[4] for r in rows), rows
    assert not dialog.import_button.isEnabled()

    table[str(ids[5])] = [0, 0]
    del table["999999"]
    sids.write_text(json.dumps(table))
    dialog.check()
    qtbot.waitUntil(lambda: dialog.import_button.isEnabled(), timeout=LOAD_MS)
    assert "Ready" in dialog.summary.text() and "8 × 64" in dialog.summary.text()
    assert dialog.problems.rowCount() == 0
    with qtbot.waitSignal(window.sig_project_loaded, timeout=LOAD_MS) as blocker:
        dialog.import_button.click()
    snap = blocker.args[0]
    assert snap.path == tmp_path / "imported"
    assert snap.project.sids.sizes == (8, 64)
    np.testing.assert_array_equal(snap.project.sids.codes[:, :-1], [table[str(i)] for i in ids])
    qtbot.waitUntil(lambda: window.bridge.running() == 0, timeout=LOAD_MS)
    # no generator: the panels that need one say so and still count as ready
    assert window.diagnostics.screenshot_ready() and window.stepper.screenshot_ready()
    assert window.weights.screenshot_ready()
    from app.panels.overview import overview_of

    texts = overview_of(snap).tokenizer
    assert "Imported recbole table item_sids.json" in texts["method"]
    assert texts["codebook_size"] == "8 / 64 codewords at levels 1–2"


def test_a_letter_layout_project_opens_with_its_tree_and_map(qtbot, tmp_path):
    from genrec_engine.interop import import_letter, import_sids
    from genrec_engine.testing import write_letter_fixture

    write_letter_fixture(ROOT / "resources" / "datasets" / "beauty", tmp_path / "src", items=150, users=40,
                         sizes=(4, 8, 16))
    import_letter(tmp_path / "src", tmp_path / "ds")
    import_sids(tmp_path / "ds", tmp_path / "src" / "Beauty.index.json", tmp_path / "p", encoder="structured")
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(tmp_path / "p", dialogs=False, settings=settings)
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.sig_project_loaded, timeout=LOAD_MS) as blocker:
        pass
    assert blocker.args[0].project.sids.sizes == (4, 8, 16)
    qtbot.waitUntil(lambda: win.bridge.running() == 0, timeout=LOAD_MS)
    assert win.tree.tree_model.rowCount() == len(set(blocker.args[0].project.sids.codes[:, 0].tolist()))
    qtbot.waitUntil(win.map.screenshot_ready, timeout=LOAD_MS)
    assert win.diagnostics.screenshot_ready()


def test_keep_all_groups_show_as_one_sid(qtbot, tiny, tmp_path):
    from app.panels.tree.models import SidTreeModel
    from genrec_engine.interop import import_sids

    root, proj = tiny
    codes = np.zeros((proj.sids.n_items, 2), dtype=np.int64)
    codes[:, 0] = np.arange(proj.sids.n_items) % 4
    codes[:, 1] = np.arange(proj.sids.n_items) % 3  # 12 SIDs, each naming a group of 10 items
    np.save(tmp_path / "codes.npy", codes)
    import_sids(root / "dataset", tmp_path / "codes.npy", tmp_path / "p", encoder="structured", policy="keep-all")
    p = Project.open(tmp_path / "p")
    model = SidTreeModel()
    model.set_trie(p.trie, levels=p.sids.levels, groups=p.sids.policy == "keep-all")
    group = model.index_for_prefix((1, 2))
    assert model.index(group.row(), 4, group.parent()).data() == "group · 10"
    assert "names a group of 10 items" in model.index(group.row(), 0, group.parent()).data(Qt.ItemDataRole.ToolTipRole)
    model.fetchMore(group)
    assert model.rowCount(group) == 10
    assert model.index(0, 3, group).data() == "member"


def test_file_audit_generations_shows_the_file_in_diagnostics(window, qtbot, tiny, tmp_path):
    """File > Audit generations… on a project with no generator: the file's lists appear in Diagnostics."""
    from genrec_engine.data import project_split

    root, proj = tiny
    users = project_split(proj).user_ids[:5].tolist()
    lines = [json.dumps({"user_id": int(u), "ranked": [list(map(int, proj.sids.codes[i])) for i in range(j, j + 10)]})
             for j, u in enumerate(users)]
    gen = tmp_path / "theirs.jsonl"
    gen.write_text("\n".join(lines) + "\n")
    assert window.action_audit.isEnabled()
    window.audit_generations(gen)
    assert window.tabs.currentWidget() is window.diagnostics
    combo = window.diagnostics._generator
    qtbot.waitUntil(lambda: any(combo.itemText(i) == "Audit: theirs.jsonl" for i in range(combo.count())),
                    timeout=LOAD_MS)
    qtbot.waitUntil(lambda: window.bridge.running() == 0, timeout=LOAD_MS)
    assert window.diagnostics.screenshot_ready()
