"""Generators: the RAN learns a planted rule, SASRec too, checkpoints round-trip, DDP on CPU."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from genrec_engine.checkpoint import load_generator, save_generator
from genrec_engine.decode import beam_search
from genrec_engine.errors import ProjectFormatError
from genrec_engine.index import PrefixTrie
from genrec_engine.models import RAN, RANConfig, SASRec, SASRecConfig, pad_histories
from genrec_engine.train.loop import TrainConfig, fit

N = 40
CODES = np.array([[i // 10, (i // 3) % 4, i % 3] for i in range(N)])  # unique 3-level SIDs
SIZES = (4, 4, 3)


def _planted_sequences(n_users=160, length=8, seed=0):
    """Item i is always followed by item (i + 1) % N."""
    rng = np.random.default_rng(seed)
    return [[(s + t) % N for t in range(length)] for s in rng.integers(0, N, n_users)]


def _top1(model, trie) -> np.ndarray:
    hist = pad_histories([[(i - 2) % N, (i - 1) % N, i] for i in range(N)], 8)
    return beam_search(model, hist, trie=trie, beam=5, k=1).items[:, 0].numpy()


@pytest.fixture(scope="module")
def trained_ran():
    assert len({tuple(r) for r in CODES.tolist()}) == N
    torch.manual_seed(0)
    model = RAN(RANConfig(d_model=32, n_layers=1, n_heads=2, max_len=8, dropout=0.0), CODES, SIZES)
    fit(model, _planted_sequences(), config=TrainConfig(epochs=40, batch_size=32, lr=5e-3, warmup_steps=10),
        device=torch.device("cpu"), max_len=8)
    return model


def test_ran_learns_a_planted_next_item_rule(trained_ran):
    trie = PrefixTrie.from_codes(CODES, SIZES)
    acc = (_top1(trained_ran, trie) == (np.arange(N) + 1) % N).mean()
    assert acc >= 0.9, acc


def test_ran_collaborative_weights_align_with_sids(trained_ran):
    w = trained_ran.collaborative_weights(np.arange(N))
    assert [x.shape for x in w] == [(N, 4), (N, 4), (N, 3)]
    np.testing.assert_allclose(w[0].sum(1), 1.0, rtol=1e-5)
    # the alignment loss pulls each item's level-1 assignment onto its SID's first code
    assert (w[0].argmax(1) == CODES[:, 0]).mean() >= 0.8
    assert trained_ran.item_representations().shape == (N, 32)


def test_checkpoint_round_trip_gives_identical_outputs(trained_ran, tmp_path):
    save_generator(trained_ran, tmp_path / "g.safetensors")
    back = load_generator(tmp_path / "g.safetensors", CODES, SIZES)
    hist = pad_histories([[1, 2, 3], [7]], 8)
    a = trained_ran.next_logits(trained_ran.start(hist), torch.zeros(2, 0, dtype=torch.long))
    b = back.next_logits(back.start(hist), torch.zeros(2, 0, dtype=torch.long))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    shuffled = CODES[::-1].copy()  # same shapes, other SIDs: a refit tokenizer
    with pytest.raises(ProjectFormatError, match="different SID table"):
        load_generator(tmp_path / "g.safetensors", shuffled, SIZES)
    with pytest.raises(ProjectFormatError, match="trained for 40 items"):
        load_generator(tmp_path / "g.safetensors", CODES[:30], SIZES)
    raw = (tmp_path / "g.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(raw[: len(raw) // 3])
    with pytest.raises(ProjectFormatError, match="cut.safetensors"):
        load_generator(tmp_path / "cut.safetensors", CODES, SIZES)


def test_sasrec_learns_the_rule_and_scores_all_items():
    torch.manual_seed(0)
    model = SASRec(SASRecConfig(d_model=32, n_layers=1, n_heads=2, max_len=8, dropout=0.0), CODES, SIZES)
    fit(model, _planted_sequences(), config=TrainConfig(epochs=30, batch_size=32, lr=5e-3, warmup_steps=10),
        device=torch.device("cpu"), max_len=8)
    hist = pad_histories([[(i - 1) % N, i] for i in range(N)], 8)
    scores = model.score_items(hist)
    assert scores.shape == (N, N)
    assert (scores.argmax(1).numpy() == (np.arange(N) + 1) % N).mean() >= 0.9


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_ddp_on_cpu(tmp_path):
    worker = Path(__file__).with_name("ddp_worker.py")
    env = dict(os.environ, DDP_OUT=str(tmp_path), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_free_port()))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", env["MASTER_PORT"], str(worker)]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{i}.json").read_text()) for i in range(2)]
    assert all(x["world"] == 2 for x in ranks)
    assert ranks[0]["checksum"] == pytest.approx(ranks[1]["checksum"], rel=1e-6)  # DDP kept replicas in sync
    assert ranks[0]["losses"][-1] < ranks[0]["losses"][0]


def test_js_divergence_reference_values():
    from genrec_engine.analysis.weights import js_divergence

    p = np.array([[1.0, 0.0], [0.5, 0.5], [0.25, 0.75]])
    q = np.array([[0.0, 1.0], [0.5, 0.5], [0.75, 0.25]])
    got = js_divergence(p, q)
    assert got[0] == pytest.approx(1.0, abs=1e-6)  # disjoint supports: 1 bit
    assert got[1] == pytest.approx(0.0, abs=1e-9)
    m = np.array([0.5, 0.5])
    kl = lambda a, b: float((a * np.log2(a / b)).sum())  # noqa: E731
    assert got[2] == pytest.approx(0.5 * kl(p[2], m) + 0.5 * kl(q[2], m), rel=1e-6)


def test_on_best_sees_every_improvement():
    torch.manual_seed(0)
    model = RAN(RANConfig(d_model=16, n_layers=1, n_heads=1, max_len=8, dropout=0.0), CODES, SIZES)
    scores = iter([0.1, 0.3, 0.2, 0.4])
    seen = []
    fit(model, _planted_sequences(40), config=TrainConfig(epochs=4, batch_size=32, eval_every=1, patience=9),
        validate=lambda m: {"recall@10": next(scores)}, device=torch.device("cpu"), max_len=8,
        on_best=lambda m, epoch: seen.append(epoch))
    assert seen == [1, 2, 4]


def test_validate_first_keeps_the_starting_weights_unless_training_beats_them():
    torch.manual_seed(0)
    model = RAN(RANConfig(d_model=16, n_layers=1, n_heads=1, max_len=8, dropout=0.0), CODES, SIZES)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    scores = iter([0.5, 0.1, 0.2, 0.3])  # epoch 0 (the resumed weights) stays the best
    seen = []
    res = fit(model, _planted_sequences(40), config=TrainConfig(epochs=3, batch_size=32, eval_every=1, patience=9),
              validate=lambda m: {"recall@10": next(scores)}, device=torch.device("cpu"), max_len=8,
              on_best=lambda m, epoch: seen.append(epoch), validate_first=True)
    assert res.best_epoch == 0 and seen == []  # nothing new to save
    assert [r["epoch"] for r in res.history] == [0, 1, 2, 3]
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, start[k], rtol=0, atol=0)


def test_ran_with_id_residual_learns_colliding_items_apart():
    """Two items per SID prefix (told apart only by the collision code): with ``codes+id`` inputs
    the RAN still learns the planted rule, and its item inputs differ per item."""
    torch.manual_seed(0)
    model = RAN(RANConfig(d_model=32, n_layers=1, n_heads=2, max_len=8, dropout=0.0, item_input="codes+id"), CODES, SIZES)
    fit(model, _planted_sequences(), config=TrainConfig(epochs=40, batch_size=32, lr=5e-3, warmup_steps=10),
        device=torch.device("cpu"), max_len=8)
    trie = PrefixTrie.from_codes(CODES, SIZES)
    assert (_top1(model, trie) == (np.arange(N) + 1) % N).mean() >= 0.9
    E = model.item_representations()
    assert np.unique(E.round(4), axis=0).shape[0] == N
    with pytest.raises(Exception, match="item_input"):
        RANConfig(item_input="ids")


def test_float16_storage_halves_the_file_and_loads_back_to_nearly_the_same_model(trained_ran, tmp_path):
    from safetensors import safe_open
    from genrec_engine.errors import ConfigError
    from genrec_engine.checkpoint import read_generator_meta

    save_generator(trained_ran, tmp_path / "f32.safetensors")
    save_generator(trained_ran, tmp_path / "f16.safetensors", storage="float16")
    f32, f16 = (tmp_path / "f32.safetensors").stat().st_size, (tmp_path / "f16.safetensors").stat().st_size
    assert f16 < 0.6 * f32
    assert read_generator_meta(tmp_path / "f16.safetensors")["storage"] == "float16"
    assert read_generator_meta(tmp_path / "f32.safetensors")["storage"] == "float32"
    with safe_open(str(tmp_path / "f16.safetensors"), framework="pt") as fh:
        dtypes = {k: fh.get_tensor(k).dtype for k in fh.keys()}
    assert dtypes["sids"] == torch.long and torch.float32 not in dtypes.values()
    back = load_generator(tmp_path / "f16.safetensors", CODES, SIZES)
    assert all(p.dtype == torch.float32 for p in back.parameters())  # widened for computing
    hist = pad_histories([[1, 2, 3], [7]], 8)
    a = trained_ran.next_logits(trained_ran.start(hist), torch.zeros(2, 0, dtype=torch.long))
    b = back.next_logits(back.start(hist), torch.zeros(2, 0, dtype=torch.long))
    assert not torch.equal(a, b)  # rounded ...
    torch.testing.assert_close(a, b, rtol=0, atol=2e-2)  # ... by little
    trie = PrefixTrie.from_codes(CODES, SIZES)
    assert (_top1(back, trie) == _top1(trained_ran, trie)).mean() >= 0.95
    huge = RAN(trained_ran.config, CODES, SIZES)
    huge.load_state_dict(trained_ran.state_dict())
    with torch.no_grad():
        next(huge.parameters()).view(-1)[0] = 1e6
    with pytest.raises(ConfigError, match="do not fit float16"):
        save_generator(huge, tmp_path / "huge.safetensors", storage="float16")
    assert not (tmp_path / "huge.safetensors").exists()
    with pytest.raises(ConfigError, match="storage"):
        save_generator(trained_ran, tmp_path / "x.safetensors", storage="int8")


def test_adding_an_instruction_token_to_a_trained_checkpoint(trained_ran, tmp_path):
    save_generator(trained_ran, tmp_path / "g.safetensors")
    back = load_generator(tmp_path / "g.safetensors", CODES, SIZES, add_instruction=True)
    assert back.accepts_instruction and back.config.instruction
    hist = pad_histories([[1, 2, 3]], 8)
    a = trained_ran.next_logits(trained_ran.start(hist), torch.zeros(1, 0, dtype=torch.long))
    b = back.next_logits(back.start(hist), torch.zeros(1, 0, dtype=torch.long))
    torch.testing.assert_close(a, b, rtol=0, atol=0)  # without an instruction: the same model
    assert back.start(hist, instruction=torch.ones(384)).tensors["hu"].shape == (1, 32)


def test_keep_last_keeps_the_final_weights_and_never_stops_early():
    torch.manual_seed(0)
    model = RAN(RANConfig(d_model=16, n_layers=1, n_heads=1, max_len=8, dropout=0.0), CODES, SIZES)
    scores = iter([0.9, 0.1, 0.1, 0.1])  # epoch 1 validates best, then nothing improves
    res = fit(model, _planted_sequences(40), config=TrainConfig(epochs=4, batch_size=32, eval_every=1, patience=1,
                                                                keep="last"),
              validate=lambda m: {"recall@10": next(scores)}, device=torch.device("cpu"), max_len=8)
    assert res.stopped == "epochs" and res.best_epoch == 4 and res.best_metrics["valid_recall@10"] == 0.1
    with pytest.raises(Exception, match="keep"):
        TrainConfig(keep="first")


class _ConstantLoss(torch.nn.Module):
    """Every step's loss is exactly 2.0 and takes a few milliseconds."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def forward(self, history, target):
        time.sleep(0.004)
        return self.w.sum() * 0 + 2.0, {"part": 1.0}


def test_an_epoch_cut_by_the_time_budget_reports_the_mean_of_the_steps_it_took():
    res = fit(_ConstantLoss(), _planted_sequences(400), config=TrainConfig(epochs=5, batch_size=8, max_minutes=0.0005),
              device=torch.device("cpu"), max_len=8)
    assert res.stopped == "time" and len(res.history) == 1
    assert res.history[0]["loss"] == pytest.approx(2.0) and res.history[0]["part"] == pytest.approx(1.0)


def test_an_epoch_budget_stops_inside_the_longer_schedule():
    """``stop_after=3`` of a 6-epoch schedule: the first three epochs are exactly those of the full
    run (same learning rates, same weights), the third is validated, and the run says why it ended."""

    def run(**kw):
        torch.manual_seed(0)
        model = RAN(RANConfig(d_model=16, n_layers=1, n_heads=1, max_len=8, dropout=0.0), CODES, SIZES)
        seen = []
        res = fit(model, _planted_sequences(40), config=TrainConfig(epochs=6, batch_size=16, eval_every=2, patience=9,
                                                                    warmup_steps=2, keep="last", **kw),
                  validate=lambda m: {"recall@10": 0.5}, device=torch.device("cpu"), max_len=8,
                  on_epoch=lambda row: seen.append(row["loss"]))
        return res, seen

    cut, cut_losses = run(stop_after=3)
    full, full_losses = run()
    assert cut.stopped == "stop-after" and [r["epoch"] for r in cut.history] == [1, 2, 3]
    assert "valid_recall@10" in cut.history[-1]  # the last epoch run is validated
    assert cut_losses == full_losses[:3]  # the schedule is the 6-epoch one, cut
    def three_epochs():
        torch.manual_seed(0)
        model = RAN(RANConfig(d_model=16, n_layers=1, n_heads=1, max_len=8, dropout=0.0), CODES, SIZES)
        return fit(model, _planted_sequences(40), config=TrainConfig(epochs=3, batch_size=16, eval_every=2, patience=9,
                                                                     warmup_steps=2, keep="last"),
                   device=torch.device("cpu"), max_len=8)

    assert [r["loss"] for r in three_epochs().history] != cut_losses  # a 3-epoch schedule decays sooner
    with pytest.raises(Exception, match="stop_after"):
        TrainConfig(stop_after=0)


def test_trie_node_vectors_score_only_trie_children_and_decode_like_training(tmp_path):
    """``node_levels``: a learned vector per trie node is added to the codeword vector at the
    last levels. It moves only the logits of tokens that are children of the prefix in the trie,
    decoding scores exactly what teacher-forced training scores, and it survives a checkpoint."""
    torch.manual_seed(0)
    cfg = RANConfig(d_model=16, n_layers=1, n_heads=2, max_len=8, dropout=0.0, node_levels=2)
    model = RAN(cfg, CODES, SIZES).eval()
    assert [tuple(p.shape) for p in model.nodes] == [(16, 16), (40, 16)]  # 2-prefixes, items
    plain = RAN(RANConfig(**{**cfg.to_dict(), "node_levels": 0}), CODES, SIZES).eval()
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("nodes.")})
    hist = pad_histories([[1, 2, 3], [7], [30, 31]], 8)
    tgt = torch.tensor([5, 17, 39])
    codes = model.sids[tgt]
    with torch.no_grad():
        for p in model.nodes:
            p.normal_(std=1.0)
        st, st0 = model.start(hist), plain.start(hist)
        tf, _ = model.assign(st.tensors["hu"], teacher=codes, user=True)
        for l in range(3):
            a = model.next_logits(st, codes[:, :l])
            torch.testing.assert_close(a, torch.log_softmax(tf[l], -1), rtol=1e-6, atol=1e-6)
            raw = model._level_logits(l, model._hidden(l, st.tensors["hu"], sum(model.books[j][codes[:, j]] for j in range(l))
                                                       if l else torch.zeros_like(st.tensors["hu"])), codes[:, :l])
            raw0 = plain._level_logits(l, plain._hidden(l, st0.tensors["hu"], sum(plain.books[j][codes[:, j]] for j in range(l))
                                                        if l else torch.zeros_like(st0.tensors["hu"])), codes[:, :l])
            for b in range(3):  # children of this prefix in the trie
                kids = {int(c[l]) for c in CODES if tuple(c[:l]) == tuple(codes[b, :l].tolist())}
                moved = {k for k in range(SIZES[l]) if abs(float(raw[b, k] - raw0[b, k])) > 1e-6}
                assert moved == (kids if l >= 1 else set()), (l, b)
        # a prefix the trie does not hold (unconstrained decoding) gets the codebook term only
        half = RAN(cfg, CODES[:20], SIZES)  # c0 in {0, 1}: no item starts with (3, 3)
        for p in half.nodes:
            p.normal_(std=1.0)
        h = torch.randn(2, 16)
        lg = half._level_logits(2, h, torch.tensor([[3, 3], [1, 1]]))
        torch.testing.assert_close(lg[0], h[0] @ half.books[2].T)
        assert not torch.allclose(lg[1], h[1] @ half.books[2].T)
    save_generator(model, tmp_path / "n.safetensors")
    back = load_generator(tmp_path / "n.safetensors", CODES, SIZES)
    torch.testing.assert_close(back.next_logits(back.start(hist), codes[:, :2]), model.next_logits(model.start(hist), codes[:, :2]),
                               rtol=0, atol=0)
    with pytest.raises(Exception, match="node_levels"):
        RAN(RANConfig(node_levels=3), CODES, SIZES)


def test_ran_with_trie_node_vectors_learns_the_planted_rule():
    torch.manual_seed(0)
    model = RAN(RANConfig(d_model=32, n_layers=1, n_heads=2, max_len=8, dropout=0.0, item_input="codes+id", node_levels=2),
                CODES, SIZES)
    fit(model, _planted_sequences(), config=TrainConfig(epochs=40, batch_size=32, lr=5e-3, warmup_steps=10),
        device=torch.device("cpu"), max_len=8)
    assert (_top1(model, PrefixTrie.from_codes(CODES, SIZES)) == (np.arange(N) + 1) % N).mean() >= 0.9
    assert all(float(p.detach().abs().max()) > 0 for p in model.nodes)  # the node vectors were trained


def test_sasrec_trains_a_large_catalogue_in_bounded_chunks_with_the_same_loss_and_gradients(monkeypatch):
    """Past LOGIT_BUDGET logits a step computes the full softmax in recomputed row chunks (1M items:
    51 GB of logits per batch otherwise, an out-of-memory kill); the loss and gradients are the same."""
    import genrec_engine.models.sasrec as sasrec_mod

    torch.manual_seed(0)
    model = sasrec_mod.SASRec(sasrec_mod.SASRecConfig(dropout=0.0), np.zeros((500, 3), dtype=np.int64), (4, 4, 4))
    history, target = torch.randint(1, 501, (8, 10)), torch.randint(0, 501, (8, 10))
    whole, _ = model(history, target)
    g_whole = torch.autograd.grad(whole, model.items.weight)[0]
    monkeypatch.setattr(sasrec_mod, "LOGIT_BUDGET", 1000)  # 2 rows of 500 items per chunk
    chunked, _ = model(history, target)
    g_chunked = torch.autograd.grad(chunked, model.items.weight)[0]
    assert torch.allclose(whole, chunked, atol=1e-6) and torch.allclose(g_whole, g_chunked, atol=1e-6)


_SHELL_SCRIPT = """
import sys
import numpy as np
from genrec_engine.models import MODEL_CLASSES
from genrec_engine.models.shell import meta_shell
codes = np.array([[i % 4, (i // 4) % 8, i % 3] for i in range(40)])
for kind, cls in MODEL_CLASSES.items():
    cfg = cls.config_class(**({"node_levels": 2, "item_input": "codes+id"} if kind == "ran" else {}))
    shell = meta_shell(cls, cfg, codes, [4, 8, 3])
    real = cls(cfg, codes, [4, 8, 3])
    assert all(t.is_meta for t in shell.state_dict().values()), kind
    assert {k: t.shape for k, t in shell.state_dict().items()} == {k: t.shape for k, t in real.state_dict().items()}, kind
print("torch._dynamo" in sys.modules)
"""


def test_meta_shells_have_the_real_shapes_and_do_not_import_dynamo():
    """Loading checks a config on a meta-device shell; PyTorch's meta initialisers import
    torch._dynamo (1.6 s of GIL-holding work beside a project load), so the shell skips them."""
    out = subprocess.run([sys.executable, "-c", _SHELL_SCRIPT], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
