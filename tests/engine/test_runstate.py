"""A training run keeps its state after every epoch; a run stopped part way goes on from its last
epoch and ends exactly where a run that never stopped ends."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from genrec_engine.errors import Cancelled
from genrec_engine.jobs import CancelToken
from genrec_engine.models import RAN, RANConfig
from genrec_engine.train.loop import TrainConfig, fit
from genrec_engine.train.runstate import RunState

from .test_generators import CODES, SIZES, _planted_sequences

CONFIG = TrainConfig(epochs=7, batch_size=16, eval_every=2, patience=2, warmup_steps=3, lr=3e-3)


def _model():
    torch.manual_seed(0)
    # dropout on: the dropout stream must be restored too
    return RAN(RANConfig(d_model=16, n_layers=1, n_heads=2, max_len=8, dropout=0.3), CODES, SIZES)


def _score(model) -> dict:
    """A deterministic stand-in for validation that goes up and down with the weights."""
    w = next(iter(model.state_dict().values()))
    return {"recall@10": float((w.sum() * 7.0).frac().abs())}


def _run(state=None, cancel_after=None, config=CONFIG):
    model, rows, token = _model(), [], CancelToken()

    def on_epoch(row):
        rows.append(row["epoch"])
        if cancel_after is not None and row["epoch"] == cancel_after:
            token.cancel()

    res = fit(model, _planted_sequences(48), config=config, validate=_score, device=torch.device("cpu"), max_len=8,
              on_epoch=on_epoch, cancel=token, run_state=state)
    return res, model, rows


def _same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _without_time(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def test_a_stopped_run_goes_on_from_its_last_epoch_and_ends_as_one_that_never_stopped(tmp_path):
    whole, whole_model, _ = _run()
    state = RunState(tmp_path / "run.safetensors", "k")
    cut, _, rows = _run(state, cancel_after=3)
    assert cut.stopped == "cancelled" and rows == [1, 2, 3] and state.path.is_file()
    kept = load_file(str(state.path))
    assert {"rng.torch", "rng.batches"} <= set(kept) and any(k.startswith("opt.") for k in kept)
    done, model, rows = _run(state)
    assert rows == list(range(4, whole.history[-1]["epoch"] + 1))  # epochs 1-3 were not trained again
    assert _same_weights(model, whole_model)  # bit for bit
    assert (done.best_epoch, done.stopped) == (whole.best_epoch, whole.stopped)
    assert _without_time(done.history) == _without_time(whole.history)
    assert done.history[-1]["seconds"] >= cut.history[-1]["seconds"]  # time counts across both runs


def test_a_kept_state_of_a_finished_run_is_its_result(tmp_path):
    state = RunState(tmp_path / "run.safetensors", "k")
    first, model, _ = _run(state)
    again, model2, rows = _run(state)
    assert rows == [] and _same_weights(model, model2)
    assert (again.best_epoch, again.stopped, again.history) == (first.best_epoch, first.stopped, first.history)


def test_a_state_of_another_run_or_other_settings_is_not_taken_up(tmp_path):
    whole, whole_model, _ = _run()
    _run(RunState(tmp_path / "run.safetensors", "k"), cancel_after=3)
    other, model, rows = _run(RunState(tmp_path / "run.safetensors", "another start"))
    assert rows[0] == 1 and _same_weights(model, whole_model)
    _run(RunState(tmp_path / "b.safetensors", "k"), cancel_after=3)
    longer = TrainConfig(**{**CONFIG.to_dict(), "epochs": 9})
    _, _, rows = _run(RunState(tmp_path / "b.safetensors", "k"), config=longer)
    assert rows[0] == 1
    (tmp_path / "c.safetensors").write_bytes(b"not a state")  # unreadable: started afresh, then overwritten
    _, model, rows = _run(RunState(tmp_path / "c.safetensors", "k"))
    assert rows[0] == 1 and _same_weights(model, whole_model)
    assert "rng.torch" in load_file(str(tmp_path / "c.safetensors"))


def test_a_state_that_cannot_be_written_does_not_stop_training(tmp_path):
    (tmp_path / "a-file").write_text("x")
    whole, whole_model, _ = _run()
    model, said = _model(), []
    res = fit(model, _planted_sequences(48), config=CONFIG, validate=_score, device=torch.device("cpu"), max_len=8,
              run_state=RunState(tmp_path / "a-file" / "run.safetensors", "k"),
              progress=lambda f, msg: said.append(msg))
    assert _same_weights(model, whole_model) and res.stopped == whole.stopped
    assert sum("run state not kept" in m for m in said) == 1  # said once, then training goes on without it


ROOT = Path(__file__).resolve().parents[2]


def test_repro_goes_on_inside_a_stopped_stage(tmp_path, capsys):
    """A seed cancelled inside its second stage (an instruction stage: its grounding sampler's stream
    is kept too) goes on from that stage's last epoch, and its weights equal a run never stopped."""
    from genrec_engine import Project
    from genrec_engine.testing import make_tiny_project
    from genrec_engine.cli import main as cli_main
    from genrec_engine.train import repro
    from genrec_engine.train.recipe import Recipe
    from genrec_engine.train.repro import repro_status

    recipe = Recipe.from_dict({"model": "ran", "stages": [
        {"model_config": {"d_model": 16, "n_layers": 1, "n_heads": 1}, "train": {"epochs": 1}},
        {"model_config": {"instruction": True}, "train": {"epochs": 4, "eval_every": 1, "lr": 0.001,
                                                          "keep": "last"}}]})
    path = make_tiny_project(ROOT / "resources" / "datasets" / "beauty", tmp_path, items=60, users=40, per_user=6)
    project = Project.open(path)
    token = CancelToken()

    def progress(fraction, message):
        if "stage 2/2" in message and "epoch 3 " in message:
            token.cancel()

    with pytest.raises(Cancelled):
        repro(project, "ran", seeds=1, recipe=recipe, train_only=True, progress=progress, cancel=token)
    work = next((path / "repro-work").iterdir()) / "seed-0"
    assert sorted(p.name for p in work.iterdir()) == ["stage-1.json", "stage-1.safetensors", "stage-2.run.safetensors"]
    # what is kept can be read while nothing (or a repro beside it) runs
    (status,) = repro_status(project, "ran")
    assert len(status["recipe"]["stages"]) == 2 and repro_status(project, "tiger") == []
    (seed,) = status["seeds"]
    assert seed["seed"] == 0 and [f["stage"] for f in seed["finished"]] == [1]
    assert seed["running"]["stage"] == 2 and seed["running"]["epochs"] == 4 and 2 <= seed["running"]["epoch"] < 4
    assert cli_main(["repro", "--project", str(path), "--model", "ran", "--status"]) == 0
    said = capsys.readouterr().out
    assert "seed 0: stage 1 best epoch" in said and "stage 2 at epoch" in said and "of 4" in said
    out = repro(project, "ran", seeds=1, recipe=recipe, train_only=True)
    assert out["reused_stages"] == {"0": 1}
    assert sorted(p.name for p in work.iterdir()) == [
        "stage-1.json", "stage-1.safetensors", "stage-2.json", "stage-2.safetensors"]  # the run state is gone
    resumed = load_file(str(work / "stage-2.safetensors"))
    record = json.loads((work / "stage-2.json").read_text())["record"]
    shutil.rmtree(work.parent)
    repro(project, "ran", seeds=1, recipe=recipe, train_only=True)
    fresh = load_file(str(work / "stage-2.safetensors"))
    assert resumed.keys() == fresh.keys() and all(torch.equal(resumed[k], fresh[k]) for k in fresh)
    again = json.loads((work / "stage-2.json").read_text())["record"]["valid"]
    assert {k: v for k, v in record["valid"].items() if k != "seconds"} == {k: v for k, v in again.items()
                                                                            if k != "seconds"}


def test_genrec_train_killed_part_way_goes_on_when_the_same_command_runs_again(tmp_path):
    """``genrec train`` keeps its run state beside the project while it runs: after a killed run
    (here: an error out of the epoch callback) the same command goes on from the last epoch and
    saves the weights a run never stopped saves; another command starts afresh."""
    from genrec_engine import Project
    from genrec_engine.testing import make_tiny_project
    from genrec_engine.train import train_generator

    path = make_tiny_project(ROOT / "resources" / "datasets" / "beauty", tmp_path / "a", items=60, users=40, per_user=6)
    twin = tmp_path / "b" / "project"
    shutil.copytree(path, twin)
    shutil.copytree(path.parent / "dataset", twin.parent / "dataset")
    mc = {"d_model": 16, "n_layers": 1, "n_heads": 1, "dropout": 0.3}
    tc = TrainConfig(epochs=5, eval_every=2, patience=9)

    def train(project_path, stop_at=None, config=tc):
        seen = []

        def on_epoch(row):
            seen.append(row["epoch"])
            if row["epoch"] == stop_at:
                raise RuntimeError("the machine went away")

        train_generator(Project.open(project_path), "ran", model_config=mc, train_config=config, on_epoch=on_epoch,
                        keep_state=True)
        return seen

    state = path / "train-ran.run.safetensors"
    with pytest.raises(RuntimeError):
        train(path, stop_at=3)
    assert state.is_file() and not (path / "generator-ran.safetensors").exists()
    assert train(path) == [4, 5] and not state.exists()
    assert train(twin) == [1, 2, 3, 4, 5]
    a, b = load_file(str(path / "generator-ran.safetensors")), load_file(str(twin / "generator-ran.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(RuntimeError):
        train(twin, stop_at=2)
    other = TrainConfig(epochs=5, eval_every=2, patience=9, lr=1e-3)
    assert train(twin, config=other) == [1, 2, 3, 4, 5]  # other settings: the kept state is not theirs
