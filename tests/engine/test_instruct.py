"""Instruction inputs: the conditioning token, grounding batches, recommend/instruct-eval, the CLI."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from genrec_engine.testing import make_tiny_project
from genrec_engine import (
    ConfigError, Project, TrainConfig, encode_instruction, instruct_eval, leaf_category_groups,
    load_project_generator, recommend, train_generator,
)
from genrec_engine.checkpoint import load_generator, save_generator
from genrec_engine.cli import main as cli_main
from genrec_engine.coldstart import project_split
from genrec_engine.decode import beam_search
from genrec_engine.models import RAN, TIGER, RANConfig, TIGERConfig
from genrec_engine.models.common import CausalBackbone
from genrec_engine.train.instruct import GroundingSampler, InstructionVocab, item_phrases

ROOT = Path(__file__).resolve().parents[2]
BEAUTY = ROOT / "resources" / "datasets" / "beauty"
SMALL = dict(d_model=32, n_layers=1, n_heads=1, max_len=8, dropout=0.1, instruction=True)


@pytest.fixture(scope="module")
def instructed(tmp_path_factory):
    """A 400-item Beauty project with a small RAN trained with instructions (~15 s)."""
    path = make_tiny_project(BEAUTY, tmp_path_factory.mktemp("instr"), items=400, users=100, per_user=8)
    proj = Project.open(path)
    train_generator(proj, "ran", model_config=SMALL, device="cpu",
                    train_config=TrainConfig(epochs=80, eval_every=20, patience=10, batch_size=64, warmup_steps=20, lr=3e-3))
    return Project.open(path)


def _share_in(items, leaf, category) -> float:
    items = [i for i in items if i >= 0]
    return float(np.mean([leaf[i] == category for i in items])) if items else 0.0


def test_instruction_naming_a_category_moves_results_into_it(instructed):
    """Every category with >= 10 items, asked for by name: the share of the top 10 in it rises,
    with an empty history and with a real history."""
    from genrec_engine.models import pad_histories

    model = load_project_generator(instructed, "ran")
    leaf = instructed.dataset.catalogue.leaf_categories()
    names = list(leaf_category_groups(instructed, 10))
    vecs = torch.as_tensor(np.stack([encode_instruction(c) for c in names]))
    split = project_split(instructed)
    for H, gain in ((torch.zeros(len(names), 1, dtype=torch.long), 0.2),
                    (pad_histories([split.test_history[0]] * len(names), model.config.max_len), 0.05)):
        with torch.no_grad():
            plain = beam_search(model, H, trie=instructed.trie, beam=20, k=10).items.tolist()
            asked = beam_search(model, H, trie=instructed.trie, beam=20, k=10, instruction=vecs).items.tolist()
        before = np.mean([_share_in(r, leaf, c) for r, c in zip(plain, names)])
        after = np.mean([_share_in(r, leaf, c) for r, c in zip(asked, names)])
        assert after >= before + gain, (before, after)


def test_instruct_eval_beats_baselines_and_reports_history_change(instructed):
    out = instruct_eval(instructed, "ran", min_items=10, users=200, device="cpu")
    e, h = out["empty_history"], out["with_history"]
    assert out["categories"] == len(leaf_category_groups(instructed, 10))
    assert e["precision@10"] > 3 * max(e["random_precision@10"], e["popularity_precision@10"])
    assert h["users"] > 0 and h["precision@10"] > h["precision@10_without_instruction"]
    assert h["recall@10_change"] == pytest.approx(h["recall@10"] - h["recall@10_without_instruction"], abs=1e-4)
    # the per-category figures are the mean the summary reports
    assert e["precision@10"] == pytest.approx(np.mean([c["precision@10"] for c in out["per_category"]]), abs=1e-3)


def test_recommend_with_instruction_and_empty_history(instructed):
    out = recommend(instructed, "ran", [], instruction="eye shadow")
    assert out["instruction"] == "eye shadow" and len(out["items"]) == 10
    with pytest.raises(ConfigError, match="history"):
        recommend(instructed, "ran", [])


def test_models_without_instructions_refuse_one(instructed):
    train_generator(instructed, "sasrec", model_config=dict(d_model=16, n_layers=1, n_heads=1, max_len=8),
                    train_config=TrainConfig(epochs=1, eval_every=1), device="cpu")
    with pytest.raises(ConfigError, match="no instruction"):
        recommend(instructed, "sasrec", [], instruction="shampoo")
    sids = instructed.sids
    plain = RAN(RANConfig(d_model=16, n_layers=1, n_heads=1, max_len=8), sids.codes, sids.level_sizes)
    with pytest.raises(ConfigError, match="--instructions"):
        plain.start(torch.zeros(1, 1, dtype=torch.long), torch.zeros(1, 384))


def test_backbone_extra_token_leaves_history_states_unchanged():
    torch.manual_seed(0)
    bb = CausalBackbone(16, 2, 2, 10, 0.0).eval()
    x, pad = torch.randn(3, 6, 16), torch.zeros(3, 6, dtype=torch.bool)
    pad[0, :2] = True
    extra = torch.randn(3, 16)
    with torch.no_grad():
        a, b = bb(x, pad), bb(x, pad, extra)
    assert b.shape == (3, 7, 16)
    assert torch.allclose(a[~pad], b[:, :6][~pad], atol=1e-5)  # the history never sees the instruction
    assert not torch.allclose(b[:, -1], a[:, -1])


@pytest.mark.parametrize("cls,cfg", [
    (RAN, RANConfig(d_model=16, n_layers=1, n_heads=1, max_len=8, instruction=True)),
    (TIGER, TIGERConfig(d_model=16, n_enc_layers=1, n_dec_layers=1, n_heads=2, d_ff=32, max_items=4, instruction=True)),
])
def test_instruction_models_train_condition_and_round_trip(tmp_path, cls, cfg):
    rng = np.random.default_rng(0)
    codes = np.stack([rng.integers(0, 4, 30), rng.integers(0, 4, 30), np.arange(30) % 3], 1)
    codes = np.unique(codes, axis=0)
    torch.manual_seed(0)
    model = cls(cfg, codes, (4, 4, 3))
    hist = torch.tensor([[0, 1, 2, 3], [0, 0, 4, 5]])
    tgt = torch.tensor([[0, 2, 3, 4], [0, 0, 5, 6]])
    grounding = {"instr_history": torch.tensor([[0, 3], [0, 0]]), "instr_vec": torch.randn(2, 384),
                 "instr_target": torch.tensor([1, 7])}
    loss, parts = model(hist, tgt, **grounding)
    loss.backward()
    assert "ins" in parts and model.instruct.net[0].weight.grad is not None
    model.eval()
    v = torch.randn(2, 384)
    with torch.no_grad():
        a = model.next_logits(model.start(hist, v), torch.zeros(2, 0, dtype=torch.long))
        b = model.next_logits(model.start(hist, -v), torch.zeros(2, 0, dtype=torch.long))
        c = model.next_logits(model.start(hist, v[0]), torch.zeros(2, 0, dtype=torch.long))  # broadcast [384]
    assert not torch.allclose(a, b)
    assert torch.allclose(a[0], c[0])
    save_generator(model, tmp_path / "g.safetensors")
    again = load_generator(tmp_path / "g.safetensors", codes, (4, 4, 3))
    assert again.accepts_instruction
    with torch.no_grad():
        assert torch.equal(a, again.next_logits(again.start(hist, v), torch.zeros(2, 0, dtype=torch.long)))
    with pytest.raises(ConfigError, match="384"):
        model.start(hist, torch.zeros(2, 10))


def test_item_phrases_describe_the_item_and_skip_common_names(instructed):
    cat = instructed.dataset.catalogue
    phrases, per_item = item_phrases(cat)
    leaf = cat.leaf_categories()
    for i in range(0, 400, 37):
        own = {phrases[j] for j in per_item[i]}
        if leaf[i]:
            assert leaf[i].lower() in own
        if cat.items["brand"].iat[i]:
            assert cat.items["brand"].iat[i].strip().lower() in own
    assert "beauty" not in phrases  # the root category is on every item: it says nothing


def test_grounding_sampler_is_seeded_and_well_formed():
    vocab = InstructionVocab(["a", "b", "c"], np.eye(3, 384, dtype=np.float32),
                             [np.array([0]), np.array([1, 2]), np.array([2]), np.array([0, 1])],
                             np.full((4, 384), 0.5, dtype=np.float32))
    seqs = [np.array([0, 1, 2]), np.array([3, 1]), np.array([2, 2, 0, 1])]
    a = GroundingSampler(vocab, seqs, np.arange(4), max_len=2, batch_size=64, seed=3).batch(torch.device("cpu"))
    b = GroundingSampler(vocab, seqs, np.arange(4), max_len=2, batch_size=64, seed=3).batch(torch.device("cpu"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    H, V, T = a["instr_history"], a["instr_vec"], a["instr_target"]
    assert H.shape[0] == V.shape[0] == T.shape[0] == 64 and H.shape[1] <= 2 and V.shape[1] == 384
    text = (V == 0.5).all(1)
    assert text.any() and (~text).any()
    assert (H[text] == 0).all()  # item-text examples have no history
    for r in torch.nonzero(~text).flatten().tolist():  # a pseudo-instruction describes its target
        phrase = int(V[r].argmax())
        assert phrase in vocab.item_phrases[int(T[r])].tolist()


def test_cli_recommend_instruction_and_instruct_eval(instructed, capsys):
    assert cli_main(["recommend", "--project", str(instructed.path), "--model", "ran", "--instruction", "shampoo",
                     "--json", "--device", "cpu"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["instruction"] == "shampoo" and out["items"]
    assert cli_main(["instruct-eval", "--project", str(instructed.path), "--min-items", "10", "--users", "50",
                     "--json", "--device", "cpu"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert {"empty_history", "with_history", "per_category"} <= set(res)
    assert cli_main(["recommend", "--project", str(instructed.path), "--model", "sasrec", "--instruction", "x",
                     "--json"]) != 0
    assert "no instruction" in capsys.readouterr().err


def test_instruction_fine_tuning_of_a_plain_generator(tmp_path):
    """``train_generator(resume=True, model_config={"instruction": True})`` adds the token to a
    RAN trained without one and teaches it: category instructions then beat both baselines."""
    path = make_tiny_project(BEAUTY, tmp_path, items=400, users=100, per_user=8)
    proj = Project.open(path)
    plain = {k: v for k, v in SMALL.items() if k != "instruction"}
    tc = dict(batch_size=64, warmup_steps=20, lr=3e-3)
    train_generator(proj, "ran", model_config=plain, device="cpu",
                    train_config=TrainConfig(epochs=15, eval_every=15, patience=10, **tc))
    assert not load_project_generator(proj, "ran").accepts_instruction
    rec = train_generator(proj, "ran", model_config={"instruction": True}, resume=True, device="cpu",
                          train_config=TrainConfig(epochs=30, eval_every=30, patience=10, **tc))
    assert rec["best_epoch"] == 30  # the starting weights cannot follow instructions: never kept
    assert rec["model_config"]["instruction"] and rec["resumed"][0]["model_config"]["instruction"] is False
    model = load_project_generator(proj, "ran")
    assert model.accepts_instruction
    out = instruct_eval(proj, "ran", min_items=10, users=50, device="cpu", model=model)
    e = out["empty_history"]
    assert e["precision@10"] > 3 * max(e["random_precision@10"], e["popularity_precision@10"])
