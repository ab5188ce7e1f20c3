"""TIGER: shapes, cached decoding against a full recompute, a planted next-item rule, DECOR fusion,
checkpoints. Tiny seeded models only."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from genrec_engine.checkpoint import load_generator, save_generator
from genrec_engine.decode import beam_search
from genrec_engine.errors import ConfigError
from genrec_engine.index import PrefixTrie
from genrec_engine.models import MODEL_CLASSES, TIGER, TIGERConfig
from genrec_engine.train.loop import TrainConfig, fit

SIZES = (4, 4, 3)  # two quantizer levels + a collision level
TINY = dict(d_model=32, n_enc_layers=1, n_dec_layers=2, n_heads=2, d_ff=64, max_items=5)


def _codes(n: int, sizes=SIZES, seed: int = 0) -> np.ndarray:
    """``n`` distinct random SIDs over ``sizes``."""
    rng = np.random.default_rng(seed)
    space = np.array(np.unravel_index(np.arange(int(np.prod(sizes))), sizes)).T
    return space[rng.permutation(len(space))[:n]].astype(np.int64)


def _books(sizes=SIZES, e: int = 6, seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((k, e)).astype(np.float32) for k in sizes[:-1]]


def _model(n=30, seed=0, **cfg) -> TIGER:
    torch.manual_seed(seed)
    kw = {"codebooks": _books()} if cfg.get("decor") else {}
    return TIGER(TIGERConfig(**{**TINY, **cfg}), _codes(n), SIZES, **kw)


def _histories(n_items: int, rows: int, width: int, seed: int = 0) -> torch.Tensor:
    """Left-padded ``[rows, width]`` histories of random lengths 0..width (row 0 is empty)."""
    gen = torch.Generator().manual_seed(seed)
    h = torch.randint(1, n_items + 1, (rows, width), generator=gen)
    lengths = torch.randint(0, width + 1, (rows,), generator=gen)
    lengths[0] = 0
    lengths[1] = width
    cols = torch.arange(width)[None, :]
    return torch.where(cols >= width - lengths[:, None], h, torch.zeros_like(h))


def test_registered_and_config_round_trip():
    assert MODEL_CLASSES["tiger"] is TIGER
    cfg = TIGERConfig(decor=True, codebook_dims=[8, 8])
    assert cfg.codebook_dims == (8, 8)
    assert TIGERConfig.from_dict(cfg.to_dict()) == cfg
    for bad in ({"d_model": 30, "n_heads": 4}, {"dropout": 1.0}, {"max_items": 0}, {"codebook_dims": [4]},
                {"decor": "yes"}):
        with pytest.raises(ConfigError):
            TIGERConfig(**bad)
    with pytest.raises(ConfigError, match="unknown"):
        TIGERConfig.from_dict({"n_layers": 2})


def test_shapes_and_training_loss():
    m = _model()
    h = _histories(30, 6, 8)
    y = torch.roll(h, -1, 1)
    y[:, -1] = 0
    loss, parts = m.training_loss(h, y)
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert set(parts) == {"rec", "ce0", "ce1", "ce2"} and all(isinstance(v, float) for v in parts.values())
    loss.backward()
    assert m.tok.weight.grad is not None
    # the cap on examples per call: still a finite loss
    small = _model(max_examples_per_batch=3)
    assert torch.isfinite(small(h, y)[0])
    # decode side: log-probs of the right width for every level, also for an empty history
    m.eval()
    st = m.start(h)
    prefix = torch.zeros(6, 0, dtype=torch.long)
    for level, k in enumerate(SIZES):
        lp = m.next_logits(st, prefix)
        assert lp.shape == (6, k) and lp.dtype == torch.float32 and torch.isfinite(lp).all()
        assert torch.allclose(lp.exp().sum(1), torch.ones(6), atol=1e-5)
        prefix = torch.cat([prefix, lp.argmax(1, keepdim=True)], 1)
    # histories longer than max_items only see the last max_items
    long = torch.cat([torch.randint(1, 31, (6, 4)), h], 1)
    a = m.next_logits(m.start(long[:, -5:]), prefix[:, :0])
    b = m.next_logits(m.start(long), prefix[:, :0])
    assert torch.allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("decor", [False, True])
def test_cached_decoding_matches_full_recompute(decor):
    m = _model(decor=decor).eval()
    h = _histories(30, 5, 7, seed=3)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        st = m.start(h)
        prefix = torch.zeros(5, 0, dtype=torch.long)
        for level, k in enumerate(SIZES):
            cached = m.next_logits(st, prefix)
            full = m.next_logits(st, prefix, use_cache=False)
            assert torch.allclose(cached, full, atol=1e-5)
            # each row reads its own user's encoder output: as if that user's history were started alone
            alone = m.next_logits(m.start(h[st.tensors["user"]]), prefix, use_cache=False)
            assert torch.allclose(cached, alone, atol=1e-5)
            # beam bookkeeping: reorder/duplicate rows, then extend the prefix
            rows = torch.randint(0, prefix.shape[0], (7,), generator=gen)
            st, prefix = st.select(rows), prefix[rows]
            assert st.rows == 7 and st.shared["ck0"].shape[0] == 5  # the cross K/V stay one per user
            prefix = torch.cat([prefix, torch.randint(0, k, (7, 1), generator=gen)], 1)
    with torch.no_grad():  # teacher-forced training logits give the same distributions
        codes = torch.as_tensor(_codes(30)[[0, 5, 9]])
        hist = h[[1, 2, 3]]
        tf = [torch.log_softmax(x, -1) for x in m.level_logits(hist, codes)]
        st = m.start(hist)
        for level in range(len(SIZES)):
            assert torch.allclose(m.next_logits(st, codes[:, :level]), tf[level], atol=1e-5)
        # a state reused with a different prefix of the same length is recomputed, not trusted
        other = codes.flip(0)
        assert torch.allclose(m.next_logits(st, other[:, :2]), m.next_logits(st, other[:, :2], use_cache=False),
                              atol=1e-5)


@pytest.fixture
def one_thread():
    """Tiny models on a shared, loaded CPU: intra-op threads only wait on each other (one
    thread ran this test in 5 s where two took over 4 minutes under load)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_overfits_a_planted_next_item_rule(one_thread):
    """40 items; item i is always followed by item (i + 1) % 40."""
    n = 40
    sizes = (4, 4, 4)
    codes = _codes(n, sizes, seed=2)
    torch.manual_seed(0)
    cfg = TIGERConfig(d_model=48, n_enc_layers=1, n_dec_layers=1, n_heads=2, d_ff=96, max_items=4, dropout=0.0)
    m = TIGER(cfg, codes, sizes)
    rng = np.random.default_rng(0)
    seqs = [[(s + j) % n for j in range(5)] for s in rng.integers(0, n, 240)]
    fit(m, seqs, config=TrainConfig(epochs=40, batch_size=64, lr=5e-3, warmup_steps=20, weight_decay=0.0),
        validate=None, device=torch.device("cpu"), max_len=4)
    trie = PrefixTrie.from_codes(codes, sizes)
    hist = torch.tensor([[(i - 2) % n + 1, (i - 1) % n + 1, i + 1] for i in range(n)])
    res = beam_search(m.eval(), hist, trie=trie, beam=5, k=1)
    hits = (res.items[:, 0] == (torch.arange(n) + 1) % n).float().mean().item()
    assert hits >= 0.9, hits


def test_decor_fusion():
    m = _model(decor=True)
    assert m.config.codebook_dims == (6, 6)
    h = _histories(30, 4, 6, seed=5)
    y = torch.roll(h, -1, 1)
    y[:, -1] = 0
    loss, _ = m(h, y)
    loss.backward()
    assert torch.isfinite(loss)
    assert m.cb_proj[0].weight.grad is not None and m.gate[0].weight.grad is not None
    assert not any(n.startswith("codebook") for n, _ in m.named_parameters())  # frozen: buffers
    assert np.allclose(m.codebook0.numpy(), _books()[0])
    pairs = [(level, tok) for level, k in enumerate(SIZES) for tok in range(k)]
    g = m.fusion_split(pairs)
    assert g.shape == (len(pairs),) and g.dtype == np.float32
    assert ((g >= 0) & (g <= 1)).all()
    assert (g[-SIZES[-1]:] == 0).all() and (g[: -SIZES[-1]] > 0).all()  # collision level: learned only
    g_user = m.fusion_split(pairs, history=h[1])
    assert g_user.shape == g.shape and ((g_user >= 0) & (g_user <= 1)).all()
    with pytest.raises(ConfigError):
        m.fusion_split([(3, 0)])
    with pytest.raises(ConfigError):
        m.fusion_split([(0, 4)])
    with pytest.raises(ConfigError, match="codebooks"):
        TIGER(TIGERConfig(**TINY, decor=True), _codes(30), SIZES)
    with pytest.raises(ConfigError, match="codebooks"):
        TIGER(TIGERConfig(**TINY, decor=True), _codes(30), SIZES, codebooks=[np.zeros((5, 6))])
    with pytest.raises(ConfigError, match="decor=False"):
        _model().fusion_split(pairs)


@pytest.mark.parametrize("decor", [False, True])
def test_checkpoint_round_trip(tmp_path, decor):
    m = _model(decor=decor).eval()
    with torch.no_grad():  # move off the initialisation so a fresh model would differ
        for p in m.parameters():
            p.add_(0.01 * torch.randn_like(p))
    path = tmp_path / "generator-tiger.safetensors"
    save_generator(m, path)
    # the engine passes item_embeddings and no codebooks; DECOR's buffers come from the file
    back = load_generator(path, _codes(30), SIZES, item_embeddings=np.zeros((30, 8), np.float32))
    assert back.config == m.config
    h = _histories(30, 4, 6, seed=7)
    prefix = torch.as_tensor(_codes(30)[:4, :2])
    with torch.no_grad():
        for level in range(len(SIZES)):
            a = m.next_logits(m.start(h), prefix[:, :level])
            b = back.next_logits(back.start(h), prefix[:, :level])
            assert torch.equal(a, b)
    if decor:
        assert np.array_equal(m.fusion_split([(0, 1), (1, 2)]), back.fusion_split([(0, 1), (1, 2)]))


def test_trie_node_vectors_start_at_zero_and_decode_like_training(tmp_path):
    """``node_levels``: zero at the start (adding them to a saved model changes no output); once
    trained, cached decoding still scores exactly what teacher-forced training scores."""
    plain = _model().eval()
    save_generator(plain, tmp_path / "t.safetensors")
    m = load_generator(tmp_path / "t.safetensors", _codes(30), SIZES, extend={"node_levels": 2})
    assert m.config.node_levels == 2 and [p.shape[1] for p in m.nodes] == [32, 32]
    h = _histories(30, 4, 5, seed=2)
    codes = torch.as_tensor(_codes(30)[[0, 3, 7, 11]])
    with torch.no_grad():
        for level in range(len(SIZES)):
            assert torch.equal(m.next_logits(m.start(h), codes[:, :level]), plain.next_logits(plain.start(h), codes[:, :level]))
        for p in m.nodes:
            p.normal_(std=1.0)
        tf = [torch.log_softmax(x, -1) for x in m.level_logits(h, codes)]
        st = m.start(h)
        for level in range(len(SIZES)):
            got = m.next_logits(st, codes[:, :level])
            assert torch.allclose(got, tf[level], atol=1e-5)
            if level:  # the node vectors now move these levels
                assert not torch.allclose(got, plain.next_logits(plain.start(h), codes[:, :level]), atol=1e-3)
    save_generator(m, tmp_path / "n.safetensors")
    with pytest.raises(Exception, match="already has node_levels=2"):
        load_generator(tmp_path / "n.safetensors", _codes(30), SIZES, extend={"node_levels": 1})
    with pytest.raises(ConfigError, match="node_levels"):
        _model(node_levels=3)


def test_item_id_input_starts_at_zero_and_then_tells_items_apart(tmp_path):
    """``item_input="codes+id"``: a learned vector per history item, zero at the start (adding
    it to a saved model changes no output); once they are non-zero they move the logits, cached
    decoding still equals teacher forcing, and they survive a checkpoint."""
    plain = _model().eval()
    save_generator(plain, tmp_path / "t.safetensors")
    m = load_generator(tmp_path / "t.safetensors", _codes(30), SIZES, extend={"item_input": "codes+id"})
    assert m.config.item_input == "codes+id" and m.item_emb.weight.shape == (31, 32)
    h = _histories(30, 4, 5, seed=2)
    codes = torch.as_tensor(_codes(30)[[0, 3, 7, 11]])
    with torch.no_grad():
        for level in range(len(SIZES)):
            assert torch.equal(m.next_logits(m.start(h), codes[:, :level]), plain.next_logits(plain.start(h), codes[:, :level]))
        m.item_emb.weight.normal_(std=1.0)
        m.item_emb.weight[0].zero_()
        tf = [torch.log_softmax(x, -1) for x in m.level_logits(h, codes)]
        st = m.start(h)
        for level in range(len(SIZES)):
            assert torch.allclose(m.next_logits(st, codes[:, :level]), tf[level], atol=1e-5)
        assert not torch.allclose(m.next_logits(m.start(h), codes[:, :0]), plain.next_logits(plain.start(h), codes[:, :0]),
                                  atol=1e-3)
    save_generator(m, tmp_path / "i.safetensors")
    back = load_generator(tmp_path / "i.safetensors", _codes(30), SIZES)
    with torch.no_grad():
        assert torch.equal(back.next_logits(back.start(h), codes[:, :1]), m.next_logits(m.start(h), codes[:, :1]))
    with pytest.raises(Exception, match="already has item_input"):
        load_generator(tmp_path / "i.safetensors", _codes(30), SIZES, extend={"item_input": "codes"})
    with pytest.raises(ConfigError, match="cannot be added"):
        load_generator(tmp_path / "t.safetensors", _codes(30), SIZES, extend={"d_model": 64})
    with pytest.raises(ConfigError, match="item_input"):
        TIGERConfig(item_input="ids")
