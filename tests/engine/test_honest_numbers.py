"""Honest numbers: test is scored only by genrec eval, both history rules, protocol cards, seeds
with spread, variant names that say what a model adds."""
from __future__ import annotations

import hashlib
import re
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from genrec_engine import Project
from genrec_engine.cli import main as cli_main
from genrec_engine.data import project_split
from genrec_engine.protocol import generator_variant, protocol_card
from genrec_engine.testing import make_tiny_project
from genrec_engine.train.data import eval_tensors
from genrec_engine.train.evaluate import rank_lists

ROOT = Path(__file__).resolve().parents[2]
BEAUTY = ROOT / "resources" / "datasets" / "beauty"
SMALL = ["--epochs", "2", "--eval-every", "1", "--d-model", "16", "--n-layers", "1", "--n-heads", "1"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny project with a RAN and a SASRec trained through the CLI (module-scoped: read it only)."""
    root = tmp_path_factory.mktemp("honest")
    path = make_tiny_project(BEAUTY, root, items=80, users=60, per_user=6)
    for kind in ("ran", "sasrec"):
        assert cli_main(["train", "--project", str(path), "--model", kind, *SMALL, "--json"]) == 0
    return path


def _cli(capsys, *argv):
    code = cli_main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_training_scores_validation_only_and_eval_records_test(trained, tmp_path, capsys):
    import shutil

    path = tmp_path / "p"
    shutil.copytree(trained, path)
    shutil.copytree(trained.parent / "dataset", tmp_path / "dataset")
    metrics = json.loads((path / "metrics.json").read_text())
    for kind in ("ran", "sasrec"):
        assert "test" not in metrics[kind] and "evaluations" not in metrics[kind]  # no test figure yet
        assert "recall@10" in metrics[kind]["valid"]
    code, out, err = _cli(capsys, "eval", "--project", str(path), "--model", "ran", "--json")
    assert code == 0, err
    obj = json.loads(out)
    assert set(obj["excluding_history"]) >= {"recall@10", "ndcg@10", "protocol"}
    card = obj["protocol"]
    assert card["history_rule"] == "kept" and obj["excluding_history"]["protocol"]["history_rule"] == "excluded"
    assert card["dataset"]["items"] == 80 and len(card["dataset"]["split_sha256"]) == 64
    assert not card["dataset"]["is_beauty_5core"]
    assert card["split"]["name"] == "test" and card["split"]["users"] == "all" and card["beam"] == 20 and card["k"] == 20
    assert card["tokenizer"]["codebook_sizes"] == [16, 16] and card["collision_policy"] == "append-level"
    assert card["generator"] == {"kind": "ran", "variant": "intrr"}
    entry = json.loads((path / "metrics.json").read_text())["ran"]["evaluations"][-1]
    assert entry["figures"]["recall@10"] == obj["recall@10"] and entry["excluding_history"]["ndcg@10"] == obj[
        "excluding_history"]["ndcg@10"]
    assert entry["protocol"] == card and re.match(r"(\w+=\S+ )*genrec eval ", entry["command"]) and entry["split"] == "test"
    code, out, _ = _cli(capsys, "eval", "--project", str(path), "--model", "sasrec", "--no-record", "--json")
    assert code == 0 and "evaluations" not in json.loads((path / "metrics.json").read_text())["sasrec"]


@pytest.mark.parametrize("kind", ["ran", "sasrec"])
def test_excluding_history_never_lists_a_history_item(trained, kind):
    proj = Project.open(trained)
    model = proj.generator(kind)
    split = project_split(proj)
    H, _, full = eval_tensors(split, "test", model.config.max_len)
    kept = rank_lists(model, H, trie=proj.trie, beam=20, k=20)
    excl = rank_lists(model, H, trie=proj.trie, beam=20, k=20, exclude=[np.unique(h) for h in full])
    hits_kept = sum(len(set(row[row >= 0].tolist()) & set(h.tolist())) for row, h in zip(kept.items, full))
    hits_excl = sum(len(set(row[row >= 0].tolist()) & set(h.tolist())) for row, h in zip(excl.items, full))
    assert hits_kept > 0 and hits_excl == 0  # the rule matters on this data, and the mask holds
    assert (excl.items >= 0).sum() >= 0.9 * (kept.items >= 0).sum()  # the lists fill with other items


def test_repro_reports_mean_and_sd_and_leaves_the_generator(trained, tmp_path, capsys):
    import shutil

    path = tmp_path / "p"
    shutil.copytree(trained, path)
    shutil.copytree(trained.parent / "dataset", tmp_path / "dataset")
    gen = path / "generator-ran.safetensors"
    before = hashlib.sha256(gen.read_bytes()).hexdigest()
    code, out, err = _cli(capsys, "repro", "--project", str(path), "--model", "ran", "--seeds", "2", "--epochs", "1",
                          "--eval-every", "1", "--model-config", '{"d_model": 16, "n_layers": 1, "n_heads": 1}', "--json")
    assert code == 0, err
    obj = json.loads(out)
    assert obj["seeds"] == [0, 1] and len(obj["runs"]) == 2 and obj["variant"] == "intrr"
    r10 = [r["test"]["recall@10"] for r in obj["runs"]]
    assert obj["mean"]["recall@10"] == pytest.approx(np.mean(r10))
    assert obj["sd"]["recall@10"] == pytest.approx(np.std(r10, ddof=1))
    assert set(obj["excluding_history"]) == {"mean", "sd"}
    assert obj["protocol"]["split"]["name"] == "test"
    assert hashlib.sha256(gen.read_bytes()).hexdigest() == before  # the project's weights are untouched
    rec = json.loads((path / "metrics.json").read_text())["ran"]
    assert rec["repro"][-1]["mean"] == obj["mean"] and "test" not in rec
    code, out, err = _cli(capsys, "repro", "--project", str(path), "--model", "ran", "--seeds", "2", "--epochs", "1",
                          "--model-config", '{"d_model": 16, "n_layers": 1, "n_heads": 1}', "--bundle", "1", "--json")
    assert code == 0, err
    rec = json.loads((path / "metrics.json").read_text())["ran"]
    assert hashlib.sha256(gen.read_bytes()).hexdigest() != before
    assert rec["evaluations"][-1]["figures"]["recall@10"] == json.loads(out)["runs"][1]["test"]["recall@10"]
    assert len(rec["repro"]) == 2
    code, _, err = _cli(capsys, "repro", "--project", str(path), "--model", "ran", "--seeds", "2", "--bundle", "7")
    assert code == 1 and "--bundle 7" in err


def _copy(trained, tmp_path):
    import shutil

    path = tmp_path / "p"
    shutil.copytree(trained, path)
    shutil.copytree(trained.parent / "dataset", tmp_path / "dataset")
    return path


TWO_STAGES = {"format": "genrec-recipe/1", "model": "ran", "stages": [
    {"model_config": {"d_model": 16, "n_layers": 1, "n_heads": 1}, "train": {"epochs": 1, "eval_every": 1}},
    {"model_config": {"instruction": True, "node_levels": 1}, "train": {"epochs": 1, "eval_every": 1, "lr": 0.001,
                                                                        "keep": "last"}}]}


def test_a_two_stage_recipe_resumes_from_its_kept_stages(trained, tmp_path, capsys):
    """Seeds trained with --train-only are kept stage by stage; a later scoring run reuses them
    (same test figures as training afresh in one go) and removes them."""
    path = _copy(trained, tmp_path)
    recipe = tmp_path / "two.json"
    recipe.write_text(json.dumps(TWO_STAGES))
    code, out, err = _cli(capsys, "repro", "--project", str(path), "--model", "ran", "--recipe", str(recipe),
                          "--seeds", "1", "--seed", "1", "--train-only", "--json")
    assert code == 0, err
    obj = json.loads(out)
    work = Path(obj["work"])
    assert sorted(p.name for p in (work / "seed-1").iterdir()) == [
        "stage-1.json", "stage-1.safetensors", "stage-2.json", "stage-2.safetensors"]
    assert not (work / "seed-0").exists() and "repro" not in json.loads((path / "metrics.json").read_text())["ran"]
    # seed 1 is finished; seed 0 trains now; both are scored and the kept stages go
    for bad, expect in ((["--score-stages", "2"], "earlier stages are 1-1"), (["--score-stages", "0"], "numbered from 1"),
                        (["--score-stages", "1", "--train-only"], "scores nothing")):
        try:
            code, _, err = _cli(capsys, "repro", "--project", str(path), "--model", "ran", "--recipe", str(recipe),
                                "--seeds", "2", *bad)
        except SystemExit as exc:  # refused by the argument parser
            code, err = exc.code, capsys.readouterr().err
        assert code != 0 and expect in err and "Traceback" not in err, (bad, err)
    assert (work / "seed-1" / "stage-2.json").is_file()  # nothing trained or removed by the refused runs
    code, out, err = _cli(capsys, "repro", "--project", str(path), "--model", "ran", "--recipe", str(recipe),
                          "--seeds", "2", "--score-stages", "1", "--json")
    assert code == 0, err
    both = json.loads(out)
    # stage 1 scored too, under its own variant name, with its spread over the two seeds
    (first,) = both["stages"]
    assert first["stage"] == 1 and first["variant"] == "intrr" and [r["seed"] for r in first["runs"]] == [0, 1]
    assert set(first["mean"]) == set(first["sd"]) >= {"recall@10", "ndcg@10"}
    assert set(first["excluding_history"]["mean"]) >= {"recall@10", "ndcg@10"}
    recorded = json.loads((path / "metrics.json").read_text())["ran"]["repro"][-1]
    assert recorded["stages"][0]["variant"] == "intrr"
    assert both["reused_stages"] == {"1": 2} and both["seeds"] == [0, 1]
    assert both["variant"] == "intrr+nodes+instruct" and both["model_config"]["instruction"] is True
    assert [len(r["stages"]) for r in both["runs"]] == [2, 2]
    assert {st["device"] for r in both["runs"] for st in r["stages"]} == {"cpu"}  # where each stage trained
    assert both["recipe"]["stages"][1]["model_config"] == {"instruction": True, "node_levels": 1}
    assert not work.exists()
    # seed 1 afresh in one go gives the figures its kept stages gave
    code, out, err = _cli(capsys, "repro", "--project", str(path), "--model", "ran", "--recipe", str(recipe),
                          "--seeds", "1", "--seed", "1", "--json")
    assert code == 0, err
    again = json.loads(out)
    assert again["reused_stages"] == {}
    assert again["runs"][0]["test"] == both["runs"][1]["test"]


def test_a_bad_recipe_is_refused_with_its_file_and_field(trained, tmp_path, capsys):
    path = _copy(trained, tmp_path)
    bad = tmp_path / "bad.json"
    for body, expect in [
        ('{"model": "ran", "stages": [{"train": {"lr": -1}}]}', "[stages[0].train]"),
        ('{"model": "ran", "stages": [{"train": {"learning_rate": 1}}]}', "[stages[0].train.learning_rate]"),
        ('{"model": "ran", "stages": []}', "[stages]"),
        ('{"model": "ran",\n "stages": [}', "bad.json:2: not valid JSON"),
        ('{"model": "sasrec", "stages": [{}]}', "trains 'sasrec', not 'ran'"),
    ]:
        bad.write_text(body)
        code, _, err = _cli(capsys, "repro", "--project", str(path), "--model", "ran", "--recipe", str(bad))
        assert code != 0 and expect in err and "Traceback" not in err, (body, err)
    code, _, err = _cli(capsys, "repro", "--project", str(path), "--model", "ran", "--recipe", str(bad), "--epochs", "2")
    assert code != 0 and "drop --epochs" in err


def test_the_bundled_recipes_read_and_name_their_generators():
    from genrec_engine.train.recipe import load_recipe

    metrics = json.loads((ROOT / "resources" / "models" / "beauty-default" / "metrics.json").read_text())
    for kind in ("ran", "sasrec", "tiger"):
        recipe = load_recipe(ROOT / "resources" / "recipes" / f"{kind}.json")
        assert recipe.model == kind
        record = metrics[kind]
        runs = record.get("resumed", []) + [record]
        # every stage's settings are those of the run that built the bundled generator
        final = runs[-1]["model_config"]
        for key, value in recipe.stages[0].model_config.items():
            assert final[key] == value, (kind, key)
        assert recipe.stages[-1].train.get("lr", 0.002) == runs[-1]["train_config"]["lr"]
        assert len(recipe.stages) == len(runs)
        for stage, run in zip(recipe.stages, runs):
            # a cut run (budget, hand) is written down as the epochs it came to: its best epoch ended it
            if "stop_after" in stage.train:
                assert run["stopped"] != "early-stop" and run["best_epoch"] == stage.train["stop_after"], (kind, run)
            assert "max_minutes" not in stage.train or kind != "tiger"


def test_the_faithful_intrr_recipe_trains_the_paper_s_model():
    from genrec_engine.train.recipe import load_recipe

    recipe = load_recipe(ROOT / "resources" / "recipes" / "ran-intrr.json")
    assert recipe.model == "ran" and len(recipe.stages) == 1
    assert generator_variant("ran", recipe.stages[0].model_config) == "intrr"


def test_variant_names_say_what_a_model_adds():
    assert generator_variant("ran", {"item_input": "codes", "node_levels": 0}) == "intrr"
    assert generator_variant("ran", {"item_input": "codes+id", "node_levels": 3, "instruction": True}) == \
        "intrr+id+nodes+instruct"
    assert generator_variant("tiger", {"item_input": "codes+id", "node_levels": 3}) == "tiger+id+nodes"
    assert generator_variant("tiger", {"decor": True}) == "tiger+decor"
    assert generator_variant("sasrec", {}) == "sasrec"


def test_bundled_project_card_names_the_beauty_5core():
    card = protocol_card(Project.open(ROOT / "resources" / "models" / "beauty-default"), kind="ran",
                         model_config={"item_input": "codes+id", "node_levels": 3})
    assert card["dataset"]["is_beauty_5core"] and card["generator"]["variant"] == "intrr+id+nodes"
    assert card["encoder"]["fields"] == ["title", "brand", "categories"]


def test_genrec_train_stop_after_cuts_the_schedule_and_says_so(trained, tmp_path, capsys):
    path = _copy(trained, tmp_path)
    code, out, err = _cli(capsys, "train", "--project", str(path), "--model", "ran", "--epochs", "6", "--stop-after",
                          "2", "--eval-every", "1", "--d-model", "16", "--n-layers", "1", "--n-heads", "1", "--json")
    assert code == 0, err
    rec = json.loads(out)
    assert rec["stopped"] == "stop-after" and rec["train_config"]["stop_after"] == 2
    assert rec["train_config"]["epochs"] == 6 and rec["best_epoch"] <= 2
    assert not (path / "train-ran.run.safetensors").exists()  # the run state goes once the weights are saved
    with pytest.raises(SystemExit):  # refused by the argument parser, before any work
        cli_main(["train", "--project", str(path), "--model", "ran", "--stop-after", "0"])
    assert "--stop-after" in capsys.readouterr().err


def test_a_stopped_scoring_run_keeps_what_it_scored(trained, tmp_path, capsys, monkeypatch):
    """Scoring many models takes long on a CPU: a scoring run stopped part way keeps each model's
    test figures beside its weights, and the next run scores only the rest, with the figures an
    unbroken run gives."""
    import importlib

    from genrec_engine import Cancelled
    from genrec_engine.train import repro as repro_fn
    from genrec_engine.train.recipe import load_recipe
    from genrec_engine.train.repro import repro_status

    repro_module = importlib.import_module("genrec_engine.train.repro")
    path = _copy(trained, tmp_path)
    recipe_file = tmp_path / "two.json"
    recipe_file.write_text(json.dumps(TWO_STAGES))
    recipe = load_recipe(recipe_file)
    project = Project.open(path)
    repro_fn(project, "ran", seeds=2, recipe=recipe, train_only=True)
    real, calls, results = repro_module._score, [], []

    def scoring(model, *args, **kwargs):
        calls.append(model)
        if len(calls) == 4:  # seed 0's two models and seed 1's first are scored: stopped in the last
            raise Cancelled("stopped")
        results.append(real(model, *args, **kwargs))
        return results[-1]

    monkeypatch.setattr(repro_module, "_score", scoring)
    with pytest.raises(Cancelled):
        repro_fn(project, "ran", seeds=2, recipe=recipe, score_stages=(1,))
    (status,) = repro_status(project, "ran")
    assert [sd["scored"] for sd in status["seeds"]] == [[1, 2], [1]]
    assert cli_main(["repro", "--project", str(path), "--model", "ran", "--status"]) == 0
    assert "test figures kept for stages 1, 2" in capsys.readouterr().out
    assert "repro" not in json.loads((path / "metrics.json").read_text())["ran"]  # nothing recorded yet
    calls.clear()
    out = repro_fn(project, "ran", seeds=2, recipe=recipe, score_stages=(1,))
    assert len(calls) == 1  # only seed 1's last stage was left to score
    assert [r["seed"] for r in out["runs"]] == [0, 1] and out["stages"][0]["runs"][1]["seed"] == 1
    # the kept figures are those the stopped run computed: seed 0's stage 1 and 2, seed 1's stage 1
    assert (out["stages"][0]["runs"][0]["test"], out["stages"][0]["runs"][0]["test_excluding_history"]) == results[0]
    assert (out["runs"][0]["test"], out["runs"][0]["test_excluding_history"]) == results[1]
    assert (out["stages"][0]["runs"][1]["test"], out["stages"][0]["runs"][1]["test_excluding_history"]) == results[2]
    for r in out["runs"] + out["stages"][0]["runs"]:
        assert set(r["test"]) == set(r["test_excluding_history"]) >= {"recall@10", "ndcg@10"}
    assert not (path / "repro-work").exists()
    # --status then points at the record the scored repro left in metrics.json, with its earlier stage
    assert cli_main(["repro", "--project", str(path), "--model", "ran", "--status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["work"] == [] and [e["seeds"] for e in status["recorded"]] == [[0, 1]]
    (rec,) = status["recorded"]
    assert rec["recall@10"] == out["mean"]["recall@10"] and rec["stages"][0]["stage"] == 1
    assert cli_main(["repro", "--project", str(path), "--model", "ran", "--status"]) == 0
    text = capsys.readouterr().out
    assert "nothing in repro-work" in text and "recorded in metrics.json" in text and "its stage 1" in text


def test_kept_test_figures_are_used_only_for_the_same_weights(trained, tmp_path):
    from genrec_engine.train import repro as repro_fn
    from genrec_engine.train.recipe import load_recipe
    from genrec_engine.train.repro import REPORTED, _SeedRun, work_folder

    path = _copy(trained, tmp_path)
    recipe_file = tmp_path / "two.json"
    recipe_file.write_text(json.dumps(TWO_STAGES))
    project = Project.open(path)
    recipe = load_recipe(recipe_file)

    repro_fn(project, "ran", seeds=1, recipe=recipe, train_only=True)
    run = _SeedRun(project, recipe, 0, work_folder(project, recipe) / "seed-0")
    figures = {m: 0.5 for m in REPORTED}
    run.keep_score(2, 20, figures, figures)
    assert run.scored(2, 20) == (figures, figures)
    assert run.scored(2, 10) is None and run.scored(1, 20) is None  # another beam, another stage
    weights = run.folder / "stage-2.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1  # other weights: the kept figures are not theirs
    weights.write_bytes(bytes(data))
    assert run.scored(2, 20) is None
    (run.folder / "stage-1.test.json").write_text("{not json")
    assert run.scored(1, 20) is None
