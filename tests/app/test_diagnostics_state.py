"""The diagnostics view-model on its own (no widgets): pages, the run cache, texts and table cells."""
from __future__ import annotations

import ast
import os
from pathlib import Path

import numpy as np
import pytest

from app.panels.diagnostics import state as st
from app.panels.diagnostics.state import DiagnosticsState, RunKey
from genrec_engine import GenerationDiagnostics

LABELS = {"ran": "RAN (IntRR-style)", "tiger": "TIGER-style (seq2seq)"}


def _diag(kind: str = "ran", seconds: float = 1.24) -> GenerationDiagnostics:
    """Four hand-made users: one homogeneous with invalid SIDs, one empty list, one missed target."""
    top = np.array([[5, 6, 7, 8], [-1, -1, -1, -1], [1, 2, -1, -1], [9, 3, 4, 2]], dtype=np.int64)
    return GenerationDiagnostics(
        kind=kind, split="test", beam=20, k=4, seed=0, users_total=10,
        users=np.array([2, 3, 5, 8], dtype=np.int64), user_ids=np.array([102, 103, 105, 108], dtype=np.int64),
        history_length=np.array([7, 3, 12, 4], dtype=np.int64), target=np.array([5, 1, 2, 3], dtype=np.int64),
        target_id=np.array([1005, 1001, 1002, 1003], dtype=np.int64),
        target_rank=np.array([1, -1, 2, 15], dtype=np.int64), top=top,
        homogeneity=np.array([1.0, np.nan, 0.5, 0.75]), dominant_prefix=np.array([3, -1, 0, 1], dtype=np.int64),
        prefixes=np.array([1, 0, 2, 2], dtype=np.int64), invalid=np.array([2, 0, 0, 1], dtype=np.int64),
        invalid_levels=np.array([0, 2, 1], dtype=np.int64),
        summary={"seconds": seconds, "mean_homogeneity": 0.75, "homogeneity_counts": [0, 1, 1, 1],
                 "invalid_counts": [2, 1, 1, 0, 0], "invalid_levels": [0, 2, 1], "invalid_rate": 0.1875,
                 "users_with_invalid": 0.5, "constrained_invalid": 0, "hit_rate@4": 0.5},
    )


@pytest.fixture
def folder(tmp_path) -> Path:
    (tmp_path / "generator-ran.safetensors").write_bytes(b"x")
    return tmp_path


def assert_qt_free(module) -> None:
    """``module`` is plain Python: no Qt, no plotting, nothing of the app (no relative imports either,
    which would reach the widget packages)."""
    tree = ast.parse(Path(module.__file__).read_text())
    names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert not [n for n in names if n.split(".")[0] in ("PySide6", "pyqtgraph", "app")]
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level]


def test_state_module_imports_no_qt():
    assert_qt_free(st)


def test_pages_follow_the_project_and_its_generators(tmp_path, folder):
    s = DiagnosticsState(LABELS)
    assert s.page == "empty" and not s.can_run and s.result is None
    empty = tmp_path / "no-gen"
    empty.mkdir()
    s.open(empty)
    assert s.page == "no_generator" and s.kinds == () and not s.auto_pending and not s.can_run
    text = s.no_generator_html()
    assert f"genrec train --project {empty} --model ran" in text
    s.open(folder)
    assert s.page == "diagnostics" and s.kinds == ("ran",) and s.auto_pending and s.can_run
    assert s.status == st.PRESS_RUN
    (folder / "generator-tiger.safetensors").write_bytes(b"x")
    s.open(folder)
    assert s.kinds == ("ran", "tiger")  # the combo's order
    s.open(None)
    assert s.page == "empty" and s.status == ""


def test_a_run_from_start_to_cache(folder):
    s = DiagnosticsState(LABELS)
    s.open(folder)
    key = s.key("ran", 2000, 20)
    assert key == RunKey(str(folder), "ran", (folder / "generator-ran.safetensors").stat().st_mtime_ns, 2000, 20)
    assert not s.show_cached(key)
    s.started(key)
    assert s.busy and not s.can_run and not s.auto_pending
    assert s.status == "Decoding 2,000 users with the RAN (IntRR-style) generator…"
    s.progress("decoding users")
    assert s.status == "Decoding users…"
    s.cancelling()
    assert s.status == "Cancelling…"
    diag = _diag()
    s.finished(diag)
    assert not s.busy and s.shown == key and s.result is diag and s.status == "Done in 1.2 s."
    other = s.key("ran", 500, 20)
    assert not s.settings_changed(other) and s.status == st.SETTINGS_CHANGED and s.result is diag
    assert s.settings_changed(key) and s.status == "Done in 1.2 s."
    s.started(other)
    s.cancelled()
    assert not s.busy and s.status == "Cancelled. The results below are from an earlier run." and s.result is diag
    s.started(other)
    s.failed("out of memory")
    assert s.error == "Could not diagnose the generator: out of memory" and s.status == "Failed."
    s.started(other)
    assert s.error == ""
    s.ended()
    assert not s.busy


def test_cancel_before_any_result_and_a_retrained_generator(folder):
    s = DiagnosticsState(LABELS)
    s.open(folder)
    s.started(s.key("ran", 100, 10))
    s.cancelled()
    assert s.status == "Cancelled."
    first = s.key("ran", 100, 10)
    path = folder / "generator-ran.safetensors"
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert s.key("ran", 100, 10) != first  # a retrained generator is decoded anew


def test_cache_keeps_the_newest_runs_of_the_open_folder(tmp_path, folder):
    s = DiagnosticsState(LABELS)
    s.open(folder)
    keys = [s.key("ran", 100 + i, 20) for i in range(st.CACHE_SIZE + 1)]
    for key in keys:
        s.started(key)
        s.finished(_diag())
    assert not s.show_cached(keys[0]) and all(s.show_cached(k) for k in keys[1:])
    s.open(folder)  # the same folder again: its runs stay
    assert s.result is None and s.show_cached(keys[-1])
    other = tmp_path / "other"
    other.mkdir()
    (other / "generator-ran.safetensors").write_bytes(b"x")
    s.open(other)
    s.open(folder)
    assert not s.show_cached(keys[-1])  # another project was opened in between: dropped


def test_summary_and_user_lines(folder):
    s = DiagnosticsState(LABELS)
    s.open(folder)
    assert s.summary_html() == "" and s.sample_text() == "test users (a seeded sample)"
    s.started(s.key("ran", 4, 20))
    s.finished(_diag())
    text = s.summary_html()
    assert "<b>RAN (IntRR-style)</b>, beam 20, a sample of <b>4</b> of 10 test users" in text
    assert "Mean homogeneity@4 <b>0.75</b> (about 3.0 of 4 items" in text
    assert "1 users (25.0 %) get all 4 from one prefix" in text and "Target in the top-4: 50.0 %" in text
    assert "<b>18.8 %</b> of the generated SIDs" in text and "level 2: 2, collision level: 1" in text
    assert "Constrained: 0 invalid" in text
    assert s.sample_text() == "of 10 test users (a seeded sample)"
    line = s.user_html(1, "A <b>very</b> long title " + "x" * 80)
    assert "<b>User 3</b> (3 items in the history)" in line and "&lt;b&gt;very&lt;/b&gt;" in line
    assert "(not in the top 20)" in line and "homogeneity –" in line and "0 invalid SIDs" in line
    assert "…</i>" in line
    assert "<i>item 1005</i> (rank 1)" in s.user_html(0, None) and "2 invalid SIDs" in s.user_html(0, None)
    assert s.top_items(2) == [1, 2]
    assert st.pct(0.0) == "0.0 %" and st.pct(0.005) == "0.50 %" and st.pct(0.25) == "25.0 %"


def test_table_cells():
    d = _diag()
    assert [st.cell_value(d, 0, c) for c in range(6)] == [2, 7, 1.0, 3, 2, 1]
    assert [st.cell_text(d, 1, c) for c in range(6)] == ["3", "3", "–", "–", "0", "missed"]
    assert st.cell_value(d, 1, 2) is None and st.cell_value(d, 1, 5) is None
    assert st.cell_text(d, 2, 3) == "0  (2 prefixes)" and st.cell_text(d, 0, 3) == "3  (1 prefix)"
    assert st.cell_alarm(d, 0, 2) == "bad" and st.cell_alarm(d, 2, 2) is None  # homogeneity >= 0.8
    assert st.cell_alarm(d, 3, 4) == "bad" and st.cell_alarm(d, 1, 4) is None  # any invalid SID
    assert st.cell_alarm(d, 1, 5) == "missed" and st.cell_alarm(d, 0, 5) is None
    assert "dataset user id 102" in st.cell_tooltip(d, 0, 0)
    assert st.cell_tooltip(d, 3, 3) == "3 of the 4 items start with code 1; the list has 2 different first codes."
    assert st.cell_tooltip(d, 1, 3) == st.COLUMNS[3][1] and st.cell_tooltip(d, 0, 4) == st.COLUMNS[4][1]


def test_row_orders():
    d = _diag()
    for by, column in (("homogeneity", 2), ("invalid", 4), ("missed", 5)):
        assert st.sort_column(by) == column
        np.testing.assert_array_equal(st.row_order(d, column, True), d.worst(by))
        np.testing.assert_array_equal(st.row_order(d, column, False), d.worst(by)[::-1])
    assert st.row_order(d, 0, True).tolist() == [3, 2, 1, 0]
    assert st.row_order(d, 1, False).tolist() == [1, 3, 0, 2]
    assert st.row_order(d, 3, False).tolist() == [1, 2, 3, 0]
