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


# ---- audit entries (another generator's lists, read from a file) ----

class _FakeAudit:
    """Stands in for an ``audits.AuditResult``: the state only asks its size and time."""

    seconds = 0.42

    def __len__(self) -> int:
        return 50


def test_audit_entries_follow_the_project(tmp_path, folder):
    s = DiagnosticsState(LABELS)
    empty = tmp_path / "no-gen"
    empty.mkdir()
    s.open(empty)
    assert s.page == "no_generator" and s.entries() == [] and "Audit generations" in s.no_generator_html()
    key = s.audit_started(tmp_path / "lists.jsonl")
    assert key == st.audit_key(tmp_path / "lists.jsonl") and st.is_audit(key) and not st.is_audit("ran")
    assert s.page == "diagnostics" and s.busy and not s.can_run and s.status == "Auditing lists.jsonl…"
    s.cancelling()
    assert s.status == "Cancelling…"
    audit = _FakeAudit()
    assert s.audit_finished(audit) == key
    assert not s.busy and s.entry == key and s.audit_mode and s.audit is audit and s.result is None
    assert s.entries() == [("Audit: lists.jsonl", key)] and s.status == "Audited 50 users in 0.4 s."
    assert s.page == "diagnostics" and not s.can_run
    # a failing second audit: one line naming the file; the first entry stays
    s.audit_started(tmp_path / "bad.jsonl")
    s.failed("/x/bad.jsonl:2: bad JSON: Expecting value (column 1)\nmore detail")
    assert s.error == "Could not audit bad.jsonl: /x/bad.jsonl:2: bad JSON: Expecting value (column 1)"
    assert not s.busy and s.status == "Failed." and list(s.audits) == [key]
    s.open(empty)  # the project changes (even to the same folder): audit entries are dropped
    assert s.audits == {} and s.page == "no_generator" and s.entry is None and s.audit is None


def test_audit_and_run_entries_share_the_chooser(tmp_path, folder):
    s = DiagnosticsState(LABELS)
    s.open(folder)
    assert s.entry == "ran" and s.can_run
    run = s.key("ran", 4, 20)
    s.started(run)
    s.finished(_diag())
    key = s.audit_started(tmp_path / "g.parquet")
    assert s.running is None and s.auditing == key  # the audit superseded nothing running; a run would go
    s.audit_finished(_FakeAudit())
    assert s.entries() == [(LABELS["ran"], "ran"), ("Audit: g.parquet", key)]
    assert s.result is None and not s.can_run  # an audit entry shows no run and runs nothing
    s.choose("ran")
    assert not s.audit_mode and s.audit is None and s.result is not None and s.can_run
    s.started(s.key("ran", 8, 20))
    assert s.auditing is None
    s.audit_started(tmp_path / "g.parquet")
    assert s.running is None  # the newer request (an audit) supersedes the run
    s.cancelled()
    assert not s.busy and s.status.startswith("Cancelled.")


def _audit_users(**overrides):
    from genrec_engine.interop.audit import AuditUsers

    base = dict(
        file="f.jsonl", k=10, policy="first", split="test",
        user_ids=np.array([11, 12, 13, 14]), lines=np.array([1, 2, 4, 5]), targets=np.array([7, 3, 5, 9]),
        returned=np.array([5, 2, 0, 12]), invalid=np.array([1, 0, 0, 2]), duplicate=np.array([1, 0, 0, 0]),
        items=np.array([[-1, 7, -1, 8, 2], [3, 4, -1, -1, -1], [-1] * 5, [6, 9, 1, -1, -1]]),
        item_rank=np.array([2, 1, -1, 2]), sid_rank=np.array([2, 1, -1, 2]),
        homogeneity=np.array([1.0, 0.5, np.nan, 2 / 3]), dominant_prefix=np.array([4, 0, -1, 2]),
        prefixes=np.array([1, 2, 0, 2]),
    )
    base.update(overrides)
    return AuditUsers(**base)


def test_audit_cells_orders_and_the_clicked_user():
    from app.panels.diagnostics import audits as au

    assert_qt_free_but_state(au)
    u = _audit_users()
    assert [au.cell_text(u, 0, c) for c in range(7)] == ["11", "1", "5", "1 + 1", "1.00", "4  (1 prefix)", "2"]
    assert [au.cell_text(u, 2, c) for c in range(7)] == ["13", "4", "0", "0 + 0", "–", "–", "missed"]
    assert au.cell_value(u, 3, 3) == 2 and au.cell_alarm(u, 3, 3) == "bad" and au.cell_alarm(u, 1, 3) is None
    assert au.cell_alarm(u, 0, 4) == "bad" and au.cell_alarm(u, 2, 6) == "missed"
    assert "returned SIDs: rank 2." in au.cell_tooltip(u, 0, 6) and "No returned SID" in au.cell_tooltip(u, 2, 6)
    # worst first by invalid + duplicate: ties (A and D have 2) in file order, as the report lists them
    assert au.row_order(u, 3, True).tolist() == [0, 3, 1, 2] == u.worst().tolist()
    assert au.row_order(u, 3, False).tolist() == [2, 1, 3, 0]
    assert au.row_order(u, 4, True).tolist() == [0, 3, 1, 2]  # homogeneity 1.0, 0.67, 0.5, none
    assert au.row_order(u, 6, True).tolist()[0] == 2  # the missed target first
    assert au.row_order(u, 0, True).tolist() == [3, 2, 1, 0] and au.row_order(u, 2, False).tolist() == [2, 1, 0, 3]
    # a click selects the target, then the first listed item (when it is another)
    assert au.selected_items(u, 0) == [7] and au.selected_items(u, 3) == [9, 6] and au.selected_items(u, 2) == [5]
    line = au.user_html(u, 3, "The <b>target</b>", None)
    assert "<b>User 14</b> (line 5): 12 SIDs returned; among the first 10, 2 invalid and 0 duplicate" in line
    assert "&lt;b&gt;target&lt;/b&gt;" in line and "<i>item 6</i>" in line and "Both are now selected" in line
    assert "It is now selected" in au.user_html(u, 0, None, None)  # target = first listed item
    assert "not in the list" in au.user_html(u, 2, None, None) and "The target is now" in au.user_html(u, 2, None, None)


def assert_qt_free_but_state(module) -> None:
    """Like :func:`assert_qt_free`, but ``module`` may import the package's own view-model (``.state``)."""
    tree = ast.parse(Path(module.__file__).read_text())
    names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and not n.level]
    assert not [n for n in names if n.split(".")[0] in ("PySide6", "pyqtgraph", "app")]
    relative = [(n.level, n.module) for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level]
    assert relative == [(1, "state")]


def test_audit_figures_histograms_and_level_drift():
    from types import SimpleNamespace

    from app.panels.diagnostics import audits as au

    report = SimpleNamespace(
        users=4, rows=4, k=10, policy="first", split="test", format="jsonl", targets_from_file=0, slots=19,
        invalid_rate=3 / 19, duplicate_rate=1 / 19, group_rate=0.0, rows_with_unsorted_scores=1,
        sid_level={"recall@10": 0.75, "ndcg@10": 0.5}, item_level={
            "recall@10": 0.75, "ndcg@10": 0.4, "coverage@10": 0.004, "homogeneity@10": 13 / 18, "popularity@10": None},
        level_drift=[{"level": 1, "kind": "code", "users": 3, "accuracy": 2 / 3, "prefix_right_users": 3,
                      "prefix_right_accuracy": 2 / 3, "prefix_wrong_users": 0, "prefix_wrong_accuracy": None},
                     {"level": 2, "kind": "collision", "users": 3, "accuracy": 1.0, "prefix_right_users": 2,
                      "prefix_right_accuracy": 1.0, "prefix_wrong_users": 1, "prefix_wrong_accuracy": 1.0}],
    )
    result = au.AuditResult(path="/data/f.jsonl", report=report, users=_audit_users(), seconds=0.2)
    got = {key: (value, text) for key, _, value, text in au.figures(result)}
    assert [key for key, *_ in au.FIGURES] == list(got)
    assert got["invalid_rate"] == (3 / 19, "15.8 %") and got["group_rate"] == (0.0, "0.0 %")
    assert got["sid:recall@10"] == (0.75, "0.750") and got["item:ndcg@10"] == (0.4, "0.400")
    assert got["item:coverage@10"] == (0.004, "0.40 %") and got["item:homogeneity@10"][1] == "0.72"
    assert got["item:popularity@10"] == (None, "–")
    text = au.summary_html(result)
    assert "<b>f.jsonl</b> (JSONL): the ranked lists of <b>4</b> users" in text and "test targets" in text
    assert "2 users got invalid or duplicate SIDs (worst first below)" in text and "In 1 row the scores rise" in text
    assert all(t in text for _, t in got.values())
    assert au.homogeneity_counts(result) == [0, 0, 0, 0, 1, 0, 1, 0, 0, 1]  # 0.5, 0.67 -> 0.7, 1.0; NaN left out
    assert au.invalid_counts(result) == [2, 1, 1] + [0] * 8
    assert au.drift_rows(result) == [("1", "3", "66.7 %", "66.7 % of 3", "–"),
                                     ("2 (collision)", "3", "100.0 %", "100.0 % of 2", "100.0 % of 1")]
    assert "nothing is decoded" in au.note_text(result) and "f.jsonl" in au.header_html(result)


def test_a_hybrid_generator_is_named_with_its_additions(folder):
    """The bundled RAN adds ID and trie-node vectors to IntRR: the chooser and the summary must not
    call it plain "IntRR-style" (issue: honest names)."""
    (folder / "metrics.json").write_text('{"ran": {"variant": "intrr+id+nodes+instruct"}}')
    s = DiagnosticsState(LABELS)
    s.open(folder)
    assert s.label("ran") == f"{LABELS['ran']} · intrr+id+nodes+instruct"
    (folder / "metrics.json").write_text("{not json")
    s.open(folder)
    assert s.label("ran") == LABELS["ran"]
