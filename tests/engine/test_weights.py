"""Content- vs collaborative-guided codeword weights on the bundled project and its trained RAN."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from genrec_engine import (CancelToken, Cancelled, Project, codeword_weights, content_ranking, divergence_ranking,
                           js_divergence)
from genrec_engine.analysis.weights import FLAT_ENTROPY
from genrec_engine import load_project_generator

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ROOT / "resources" / "models" / "beauty-default"
BEAUTY = ROOT / "resources" / "datasets" / "beauty"


@pytest.fixture(scope="module")
def project_and_ran():
    if not (PROJECT / "generator-ran.safetensors").exists():
        pytest.skip("the bundled project has no trained RAN")
    project = Project.open(PROJECT)
    return project, load_project_generator(project, "ran")


def test_js_divergence_reference():
    p = np.array([[1.0, 0.0], [0.5, 0.5], [0.2, 0.8]])
    q = np.array([[0.0, 1.0], [0.5, 0.5], [0.6, 0.4]])
    js = js_divergence(p, q)
    assert js[0] == pytest.approx(1.0, abs=1e-6)  # disjoint supports: 1 bit
    assert js[1] == pytest.approx(0.0, abs=1e-9)
    m = 0.5 * (p[2] + q[2])  # written out from the definition
    ref = 0.5 * (p[2] * np.log2(p[2] / m)).sum() + 0.5 * (q[2] * np.log2(q[2] / m)).sum()
    assert js[2] == pytest.approx(ref, rel=1e-6)


def test_ranking_matches_single_item_weights(project_and_ran):
    project, ran = project_and_ran
    seen = []
    rank = divergence_ranking(project, ran, batch=4096, progress=lambda f, m: seen.append(f))
    N, D = project.sids.n_items, project.sids.depth
    assert rank["js"].shape == rank["moved"].shape == (N, D)
    assert rank["js"].dtype == np.float32 and rank["moved"].dtype == bool
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen)
    # the ranking itself: mean JS per item, largest first; flagged = moved where there is signal
    np.testing.assert_allclose(rank["summary"], rank["js"].mean(1), rtol=1e-6)
    assert sorted(rank["order"].tolist()) == list(range(N)) and (np.diff(rank["summary"][rank["order"]]) <= 0).all()
    np.testing.assert_array_equal(rank["flagged"], rank["moved"] & rank["signal"])
    for i in (0, 17, N - 1):
        levels = codeword_weights(project, ran, i)
        assert [lw.level for lw in levels] == list(range(D))
        assert [lw.content.shape[0] for lw in levels] == list(project.sids.level_sizes)
        for lw in levels:
            assert lw.code == project.sids.codes[i, lw.level]
            assert lw.content.sum() == pytest.approx(1.0, abs=1e-4) and lw.collaborative.sum() == pytest.approx(1.0, abs=1e-4)
            assert rank["js"][i, lw.level] == pytest.approx(lw.js, abs=1e-5)
            assert rank["moved"][i, lw.level] == lw.moved
            assert rank["signal"][i, lw.level] == lw.signal
        # the collision level has no content model: a one-hot of the item's collision code
        assert levels[-1].content[levels[-1].code] == 1.0 and levels[-1].content.sum() == 1.0


def test_ranking_cancels(project_and_ran):
    project, ran = project_and_ran
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        divergence_ranking(project, ran, cancel=token)


def test_near_uniform_pairs_carry_no_signal():
    from genrec_engine.analysis.weights import FLAT_ENTROPY, LevelWeights, normalized_entropy

    K = 256
    flat = np.full((1, K), 1 / K)
    almost = flat + np.linspace(-1e-4, 1e-4, K)[None]  # argmax at the last code, a hair above uniform
    peaked = np.full((1, K), 0.1 / (K - 1))
    peaked[0, 3] = 0.9
    assert normalized_entropy(flat)[0] == pytest.approx(1.0) and normalized_entropy(peaked)[0] < 0.5
    assert normalized_entropy(almost)[0] >= FLAT_ENTROPY

    def level(c, r):
        from genrec_engine.analysis.weights import js_divergence

        return LevelWeights(0, 3, c[0], r[0], float(js_divergence(c, r)[0]), int(c.argmax()), int(r.argmax()),
                            float(normalized_entropy(c)[0]), float(normalized_entropy(r)[0]))

    both_flat = level(flat, almost)
    assert both_flat.moved and not both_flat.signal and both_flat.verdict == "no signal"
    assert level(peaked, almost).signal and level(peaked, almost).verdict == "moved"
    assert level(peaked, peaked).verdict == "kept"


def test_on_the_bundled_ran_the_first_level_mostly_carries_no_signal(project_and_ran):
    """The reported case: the top codeword 'moved' at level 1 for most items while both
    distributions are near uniform. Now those comparisons say they carry no signal."""
    project, ran = project_and_ran
    rank = divergence_ranking(project, ran)
    N = project.sids.n_items
    assert rank["moved"][:, 0].sum() > N / 2  # the raw argmax differs for most items...
    assert (rank["moved"][:, 0] & rank["signal"][:, 0]).sum() < N / 100  # ...but almost never with signal
    assert rank["signal"][:, 1:].mean() > 0.9  # deeper levels, where the RAN is peaked, keep their signal


# ---------------------------------------------------------------- without a RAN: the content side


def test_content_only_weights_match_the_paired_ones(project_and_ran):
    """``codeword_weights(project, None, i)`` is the content half of the paired call, with the
    collaborative fields None, and the content margin of the item's own code."""
    project, ran = project_and_ran
    rank = content_ranking(project)
    N, D = project.sids.n_items, project.sids.depth
    assert rank["ratio"].shape == rank["prefers_other"].shape == (N, D - 1)
    # a fitted residual tokenizer codes every item with its nearest codeword: content never prefers another
    assert rank["ratio"].min() >= 1.0 - 1e-6 and not rank["prefers_other"].any()
    for i in (0, 17, N - 1):
        alone, paired = codeword_weights(project, None, i), codeword_weights(project, ran, i)
        for a, p in zip(alone, paired):
            np.testing.assert_array_equal(a.content, p.content)
            assert a.collaborative is None and a.js is None and a.collaborative_argmax is None
            assert not a.moved and a.verdict == "content only" and a.own_ratio == p.own_ratio
            assert a.signal == (a.content_entropy < FLAT_ENTROPY)
        for lw in alone[:-1]:
            others = np.delete(lw.content, lw.code)
            assert lw.own_ratio == pytest.approx(lw.content[lw.code] / others.max(), rel=1e-5)
            assert rank["ratio"][i, lw.level] == pytest.approx(lw.own_ratio, rel=1e-5)
        assert alone[-1].own_ratio is None  # the collision level has no content model
        assert json.loads(json.dumps([lw.to_dict() for lw in alone]))[0]["collaborative"] is None


def test_content_ranking_finds_imported_codes_the_content_does_not_favour(tmp_path):
    """SIDs made elsewhere need not be the nearest content codewords: random codes mostly are not,
    and the ranking says so item by item (ratio below 1 exactly where another codeword leads)."""
    from genrec_engine.interop import import_sids
    from genrec_engine.testing import make_tiny_project

    made = make_tiny_project(BEAUTY, tmp_path, items=200, users=40, levels=2, codebook_size=8)
    fitted = Project.open(made)
    rng = np.random.default_rng(5)
    codes = np.stack([rng.integers(0, 4, fitted.sids.n_items), rng.integers(0, 8, fitted.sids.n_items)], 1)
    np.save(tmp_path / "codes.npy", codes)
    import_sids(tmp_path / "dataset", tmp_path / "codes.npy", tmp_path / "imp", encoder="structured")
    project = Project.open(tmp_path / "imp")
    seen = []
    rank = content_ranking(project, batch=64, progress=lambda f, m: seen.append(f))
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen)
    # each level's weights given the item's own earlier codes (not the greedy walk's)
    soft = project.tokenizer.soft_assign(project.embeddings, along=project.sids.codes[:, :-1])
    greedy = project.tokenizer.soft_assign(project.embeddings)
    assert not np.allclose(soft[1], greedy[1])  # where level 1 disagrees, level 2's residual differs
    np.testing.assert_allclose(soft[0], greedy[0])  # the first level has no earlier code
    for l in range(2):
        top = soft[l, :, : project.sids.level_sizes[l]].argmax(1)
        own = project.sids.codes[:, l]
        np.testing.assert_array_equal(rank["prefers_other"][:, l], rank["ratio"][:, l] < 1)
        assert (rank["prefers_other"][:, l] <= (top != own)).all()  # ratio < 1 only where another codeword leads
        assert rank["prefers_other"][:, l].sum() >= (top != own).sum() - 2  # ties aside, all of them
    assert rank["prefers_other"].any(1).mean() > 0.3
    # ranked by the weakest margin, weakest first; the flags are the preferences
    np.testing.assert_array_equal(rank["summary"], rank["ratio"].min(1))
    assert (np.diff(rank["summary"][rank["order"]]) >= 0).all() and rank["summary"][rank["order"][0]] < 1
    np.testing.assert_array_equal(rank["flagged"], rank["prefers_other"])
    i = int(np.flatnonzero(rank["prefers_other"][:, 1])[0])
    levels = codeword_weights(project, None, i)
    assert [lw.content.shape[0] for lw in levels] == list(project.sids.level_sizes)  # 4, 8 and the collision level
    lw = levels[1]
    assert lw.own_ratio < 1 and lw.content_argmax != lw.code


def test_content_ranking_cancels(project_and_ran):
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        content_ranking(project_and_ran[0], cancel=token)


def test_genrec_weights_prints_what_the_panel_shows(project_and_ran, tmp_path, capsys):
    """``genrec weights``: the ranking (by divergence with a RAN, by content margin without one or
    with --content-only) and one item's levels, as the engine computes them."""
    from genrec_engine.cli import main as cli_main

    project, ran = project_and_ran
    assert cli_main(["weights", "--project", str(PROJECT), "--top", "5", "--json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    rank = divergence_ranking(project, ran)
    mean = rank["js"].mean(1)
    assert obj["mode"] == "divergence" and "note" not in obj
    assert [r["item_id"] for r in obj["items"]] == project.sids.item_ids[np.argsort(-mean, kind="stable")[:5]].tolist()
    assert obj["flagged_items"] == int((rank["moved"] & rank["signal"]).any(1).sum())
    assert cli_main(["weights", "--project", str(PROJECT), "--top", "3", "--content-only", "--json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["mode"] == "content" and obj["flagged_items"] == 0 and len(obj["items"]) == 3
    assert all(r["summary"] == min(r["per_level"]) for r in obj["items"])
    item = int(project.sids.item_ids[17])
    assert cli_main(["weights", "--project", str(PROJECT), "--item", str(item), "--json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    levels = codeword_weights(project, ran, 17)
    assert [r["code"] for r in obj["levels"]] == [lw.code for lw in levels]
    assert [r["verdict"] for r in obj["levels"]] == [lw.verdict for lw in levels]
    assert obj["levels"][0]["content_margin"] == pytest.approx(levels[0].own_ratio, abs=1e-4)
    assert obj["levels"][-1]["content_margin"] is None
    assert cli_main(["weights", "--project", str(PROJECT), "--item", "-5"]) != 0
    assert "no such item id" in capsys.readouterr().err
