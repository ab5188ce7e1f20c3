"""The training monitor's view-model without widgets: settings, metrics rows, working copies, live rows."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import app
from app.panels.training.state import (
    HEALTH_COLUMNS,
    METRIC_COLUMNS,
    NO_METRICS,
    REPRO_ONLY,
    TokenizerSettings,
    Trained,
    TrainingState,
    TrainSettings,
    default_eval_users,
    done_text,
    health_rows,
    parse_more_settings,
    read_metrics,
    repro_only_rows,
    saved_test_metrics,
    tokenizer_text,
    total_train_seconds,
)
from genrec_engine import ConfigError, Project


def _text(columns, title: str, row: dict) -> str:
    col = next(c for c in columns if c.title == title)
    return col.text(col.value(row))


# ------------------------------------------------------------------------------------ settings


def test_more_settings_parse_or_explain():
    assert parse_more_settings("  ") == {}
    assert parse_more_settings('{"node_levels": 3}') == {"node_levels": 3}
    with pytest.raises(ValueError, match="column 18"):
        parse_more_settings('{"node_levels": 3')
    with pytest.raises(ValueError, match="JSON object"):
        parse_more_settings("[1, 2]")


def test_train_settings_make_the_engine_configs():
    ran = TrainSettings("ran", d_model=24, layers=3, dropout=0.25, more='{"node_levels": 2}')
    assert ran.model_config() == {"d_model": 24, "n_layers": 3, "n_heads": 2, "dropout": 0.25, "node_levels": 2}
    tiger = TrainSettings("tiger", d_model=64, layers=2)
    assert tiger.model_config() == {"d_model": 64, "n_enc_layers": 2, "n_dec_layers": 2, "n_heads": 4, "d_ff": 256,
                                    "dropout": 0.3}
    assert TrainSettings("sasrec", d_model=9).model_config()["n_heads"] == 1
    assert TrainSettings("ran", more='{"n_heads": 8}').model_config()["n_heads"] == 8  # more settings win
    cfg = TrainSettings("ran", epochs=7, max_minutes=0.0).train_config()
    assert cfg.epochs == 7 and cfg.max_minutes is None
    assert TrainSettings("ran", max_minutes=1.5).train_config().max_minutes == 1.5
    assert cfg.eval_users is None and TrainSettings("ran", eval_users=4000).train_config().eval_users == 4000
    # validation samples users only where all of them would take longer than most runs
    assert default_eval_users(22_363) == 0 and default_eval_users(2_000_000) == 10_000
    assert TokenizerSettings("rkmeans", 3, 8).config().codebook_size == 8
    with pytest.raises(ConfigError):
        TokenizerSettings("no-such-method", 3, 8).config()


# ------------------------------------------------------------------------------------ metrics


def test_metric_columns_show_the_saved_weights_figures():
    evals = [{"date": "2026-12-01T10:00:00Z", "split": "test", "users": "all", "figures": {"recall@10": 0.05}},
             {"date": "2026-12-03T10:00:00Z", "split": "test", "users": "all", "figures": {"recall@10": 0.0612345},
              "excluding_history": {"recall@10": 0.0700001, "ndcg@10": 0.04}},
             {"date": "2026-12-04T10:00:00Z", "split": "test", "users": 500, "figures": {"recall@10": 0.9}},
             {"date": "2026-12-04T11:00:00Z", "split": "valid", "users": "all", "figures": {"recall@10": 0.8}}]
    record = {"model": "tiger", "valid": {"recall@10": 0.07}, "evaluations": evals,
              "best_epoch": 12, "train_seconds": 100.0, "resumed": [{"train_seconds": 50.0}], "stopped": "time"}
    assert saved_test_metrics(record) == {"recall@10": 0.0612345}  # newest test run on every user
    assert saved_test_metrics({"valid": {"ndcg@5": 0.1}}) == {}  # training never scores test
    assert _text(METRIC_COLUMNS, "R@10 excl. hist.", record) == "0.0700"
    assert _text(METRIC_COLUMNS, "Evaluated", record) == "2026-12-03"
    assert _text(METRIC_COLUMNS, "Evaluated", {"valid": {}}) == "not yet (genrec eval)"
    assert total_train_seconds(record) == 150.0 and total_train_seconds({}) is None
    assert _text(METRIC_COLUMNS, "Generator", record) == "TIGER-style"
    assert _text(METRIC_COLUMNS, "Where", record) == "project"
    assert _text(METRIC_COLUMNS, "Recall@10", record) == "0.0612"
    assert _text(METRIC_COLUMNS, "NDCG@20", record) == "–"
    assert _text(METRIC_COLUMNS, "Best epoch", record) == "12"
    assert _text(METRIC_COLUMNS, "Train time", record) == "2.5 min"
    assert _text(METRIC_COLUMNS, "Train time", {"train_seconds": 42.0}) == "42.0 s"
    assert _text(METRIC_COLUMNS, "Stopped", record) == "time"
    assert [c.right for c in METRIC_COLUMNS[:4]] == [False, False, False, True]
    assert _text(METRIC_COLUMNS, "Variant", {"model": "ran", "model_config": {"item_input": "codes+id"}}) == "intrr+id"


def test_the_spread_over_seeds_is_that_of_the_generators_own_variant():
    def entry(variant, r10, seeds=(0, 1, 2)):
        return {"variant": variant, "seeds": list(seeds), "mean": {"recall@10": r10, "ndcg@10": 0.04},
                "sd": {"recall@10": 0.0013, "ndcg@10": 0.0009},
                "excluding_history": {"mean": {"recall@10": 0.0726, "ndcg@10": 0.0456},
                                      "sd": {"recall@10": 0.0012, "ndcg@10": 0.0006}}}

    record = {"model": "ran", "variant": "intrr+id+nodes", "valid": {},
              "repro": [entry("intrr+id+nodes", 0.05), entry("intrr+id+nodes", 0.069), entry("intrr", 0.049)]}
    # the newest repro of this variant; the faithful model's repro beside it is not this one's spread
    assert _text(METRIC_COLUMNS, "R@10 over seeds", record) == ".0690 ± .0013 | .0726 ± .0012 · 3 seeds"
    assert _text(METRIC_COLUMNS, "N@10 over seeds", record) == ".0400 ± .0009 | .0456 ± .0006 · 3 seeds"
    assert _text(METRIC_COLUMNS, "R@10 over seeds", {"model": "ran", "valid": {}}) == "–"
    assert _text(METRIC_COLUMNS, "R@10 over seeds", {**record, "repro": [entry("intrr", 0.049)]}) == "–"


def test_read_metrics_keeps_generators_only(tmp_path):
    assert read_metrics(tmp_path) is None
    (tmp_path / "metrics.json").write_text(json.dumps({"ran": {"valid": {}}, "coldstart": {"x": 1}, "note": 3}))
    assert read_metrics(tmp_path) == {"ran": {"valid": {}}}
    (tmp_path / "metrics.json").write_text("[]")
    with pytest.raises(ValueError, match="JSON object"):
        read_metrics(tmp_path)


def test_health_rows_of_the_bundled_tokenizer():
    project = Project.open(app.DEFAULT_PROJECT)
    diag = project.diagnostics()
    rows = health_rows(diag)
    assert [r["level"] for r in rows] == [s.level for s in diag.levels] and health_rows(None) == []
    assert rows[0]["collisions"] >= rows[-1]["collisions"] >= 0
    assert _text(HEALTH_COLUMNS, "Utilization", {"utilization": 0.5}) == "50.0 %"
    cfg = project.tokenizer_config
    text = tokenizer_text("Current tokenizer", cfg.method, cfg.levels, cfg.codebook_size, diag)
    assert text.startswith("Current tokenizer: ") and f"{cfg.levels} × {cfg.codebook_size}" in text


# ------------------------------------------------------------------------------------ state


def test_state_rows_and_notes_of_a_project(tmp_path):
    st = TrainingState()
    st.open(Path(app.DEFAULT_PROJECT), "beauty")
    st.load_metrics()
    rows = st.metric_rows()
    assert [(r["model"], r["_where"]) for r in rows] == [
        ("ran", "project"), ("ran", REPRO_ONLY), ("sasrec", "project"),
        ("tiger", "project"), ("tiger", REPRO_ONLY), ("tiger", REPRO_ONLY)]
    assert rows[1]["variant"] == "intrr"  # the faithful IntRR's repro, beside the bundled hybrid
    # the TIGER-style recipe's earlier stages, scored by the same repro (--score-stages 1,3)
    assert [r["variant"] for r in rows[3:]] == ["tiger+id+nodes", "tiger", "tiger+nodes"]
    for r in rows[:2] + rows[3:]:
        assert _text(METRIC_COLUMNS, "R@10 over seeds", r).endswith("· 3 seeds")
    assert "Test split" in st.note()
    loss_x, loss_y, valid_x, recall, ndcg = st.reference("ran")
    assert len(loss_x) == len(loss_y) > 10 and len(valid_x) == len(recall) == len(ndcg) > 0
    assert st.reference("no-such-kind") == ([], [], [], [], [])
    # a generator trained in this session joins the table and the note names the working copy
    st.work_dir = tmp_path / "work"
    st.trained(Trained({"model": "tiger", "valid": {"recall@10": 0.1}, "project_path": str(st.work_dir)}))
    assert [r["_where"] for r in st.metric_rows()][-1] == "working copy" and str(st.work_dir) in st.note()
    assert not st.can_save()  # the folder holds no project yet
    # no metrics.json, or a broken one, is explained
    st.open(tmp_path, "bare")
    st.load_metrics()
    assert st.metric_rows() == [] and st.note() == NO_METRICS
    (tmp_path / "metrics.json").write_text("{oops")
    st.load_metrics()
    assert "Could not read metrics.json" in st.note()


def test_working_copies_are_new_folders(tmp_path):
    st = TrainingState()
    st.open(tmp_path / "proj", "proj")
    st.output_root = tmp_path
    first = st.new_work_dir()
    first.mkdir()
    second = st.new_work_dir()
    assert first.parent == second.parent == tmp_path and first != second and not second.exists()
    assert first.name.startswith("proj-work-")
    st.output_root = None
    temporary = st.new_work_dir()
    assert temporary.parent != tmp_path and not temporary.exists()


def test_live_rows_of_the_running_job_only(tmp_path):
    st = TrainingState()
    assert st.stale()  # no project
    st.open(tmp_path, "p")
    st.started()
    assert not st.stale()
    assert st.add_epoch({"epoch": 1, "loss": 2.0, "seconds": 1.0})
    assert st.add_epoch({"epoch": 2, "loss": 1.5, "seconds": 2.0, "valid_recall@10": 0.1, "valid_ndcg@10": 0.05})
    assert st.curves() == ([1, 2], [2.0, 1.5], [2], [0.1], [0.05])
    assert st.epoch_text() == "Epoch 2 · 2.0 s · loss 1.5000 · last validation Recall@10 0.1000 (epoch 2)"
    st.open(tmp_path, "p")  # the project was opened again: the old job's rows are stale
    assert st.stale() and not st.add_epoch({"epoch": 3, "loss": 1.0}) and st.rows == []
    assert done_text({"best_epoch": 4, "valid": {"recall@10": 0.25}, "stopped": "epochs"}) == (
        "Done: best epoch 4, validation Recall@10 0.2500 (epochs). Saved in the working copy only; test is scored "
        "by genrec eval.")


def test_a_project_name_never_becomes_a_path_outside_the_root(tmp_path):
    from app.panels.training.state import safe_folder_name

    for evil in ("../../../X", "/etc/passwd", "..", "a/../../b", "C:\\\\x", "", None):
        stem = safe_folder_name(evil)
        assert "/" not in stem and "\\\\" not in stem and stem not in ("", ".", "..") and not stem.startswith(".")
        assert (tmp_path / f"{stem}-work-1").resolve().parent == tmp_path.resolve()
    assert safe_folder_name("beauty-default") == "beauty-default"


def test_variants_measured_by_repro_alone_get_their_own_rows(tmp_path):
    """The faithful model measured beside a hybrid, and the earlier stages a repro scored, are rows
    of their own ("repro") under their generator, with only the spread over seeds."""
    def part(variant, r10, **extra):
        return {"variant": variant, "mean": {"recall@10": r10, "ndcg@10": 0.03}, "sd": {"recall@10": 0.001, "ndcg@10": 0.0005},
                "excluding_history": {"mean": {"recall@10": r10 + 0.004, "ndcg@10": 0.033},
                                      "sd": {"recall@10": 0.002, "ndcg@10": 0.0007}}, **extra}

    ran = {"model": "ran", "variant": "intrr+id+nodes", "valid": {}, "model_config": {},
           "repro": [part("intrr", 0.049, seeds=[0, 1, 2], date="2026-12-01T10:00:00Z"),
                     part("intrr+id+nodes", 0.069, seeds=[0, 1, 2], date="2026-12-02T10:00:00Z"),
                     part("intrr", 0.064, seeds=[0, 1, 2], date="2026-12-05T10:00:00Z")]}
    tiger = {"model": "tiger", "variant": "tiger+id+nodes", "valid": {},
             "repro": [part("tiger+id+nodes", 0.066, seeds=[0, 1, 2], date="2026-12-07T10:00:00Z",
                            stages=[part("tiger", 0.058, stage=1), part("tiger+nodes", 0.063, stage=3)])]}
    assert [r["variant"] for r in repro_only_rows("ran", ran)] == ["intrr"]
    (faithful,) = repro_only_rows("ran", ran)
    assert faithful["_where"] == REPRO_ONLY == _text(METRIC_COLUMNS, "Where", faithful)
    assert _text(METRIC_COLUMNS, "R@10 over seeds", faithful) == ".0640 ± .0010 | .0680 ± .0020 · 3 seeds"  # the newest
    assert _text(METRIC_COLUMNS, "Variant", faithful) == "intrr" and _text(METRIC_COLUMNS, "Recall@10", faithful) == "–"
    assert _text(METRIC_COLUMNS, "Evaluated", faithful) == "repro 2026-12-05"
    rows = repro_only_rows("tiger", tiger)
    assert [r["variant"] for r in rows] == ["tiger", "tiger+nodes"]
    assert _text(METRIC_COLUMNS, "R@10 over seeds", rows[0]) == ".0580 ± .0010 | .0620 ± .0020 · 3 seeds"
    assert repro_only_rows("sasrec", {"model": "sasrec", "valid": {}}) == []

    project = tmp_path / "p"
    project.mkdir()
    (project / "metrics.json").write_text(json.dumps({"tiger": tiger, "ran": ran}))
    st = TrainingState()
    st.open(project, "p")
    st.load_metrics()
    assert [(r["model"], r["variant"], r["_where"]) for r in st.metric_rows()] == [
        ("ran", "intrr+id+nodes", "project"), ("ran", "intrr", REPRO_ONLY),
        ("tiger", "tiger+id+nodes", "project"), ("tiger", "tiger", REPRO_ONLY), ("tiger", "tiger+nodes", REPRO_ONLY)]
