"""Every count, size and JSON option of the CLI is checked before any work starts: a value out
of range is one argparse line (exit 2), never a traceback or a run that grows without bound."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genrec_engine.cli import build_parser
from genrec_engine.cli.common import MAX_BEAM, MAX_K

P = ["--project", "p"]
#: (argv before the option, option, smallest allowed, largest allowed)
INTS = [
    (["eval", *P, "--model", "ran"], "--beam", 1, MAX_BEAM),
    (["eval", *P, "--model", "ran"], "--users", 1, None),
    (["eval", *P, "--model", "ran"], "--exactness", 0, 100_000),
    (["recommend", *P, "--model", "ran", "--history", "1"], "-k", 1, MAX_K),
    (["recommend", *P, "--model", "ran", "--history", "1"], "--beam", 1, MAX_BEAM),
    (["train", *P, "--model", "ran"], "--epochs", 1, 100_000),
    (["train", *P, "--model", "ran"], "--eval-users", 1, None),
    (["train", *P, "--model", "ran"], "--batch-size", 1, 1 << 20),
    (["train", *P, "--model", "ran"], "--d-model", 1, 4096),
    (["repro", *P, "--model", "ran"], "--seeds", 1, 100),
    (["audit", *P, "--generations", "g.jsonl"], "-k", 1, MAX_K),
    (["tokenize", "--data", "d", "--out", "o"], "--codebook-size", 2, 65536),
    (["tokenize", "--data", "d", "--out", "o"], "--levels", 1, 8),
    (["coldstart-eval", *P], "--candidates", 1, MAX_BEAM),
]


def _parse(argv, capsys=None):
    import contextlib
    import io

    buf = io.StringIO()
    try:
        with contextlib.redirect_stderr(buf):
            return build_parser().parse_args(argv), None
    except SystemExit as exc:
        return None, (exc.code, buf.getvalue())


@pytest.mark.parametrize("prefix,option,lo,hi", INTS, ids=[f"{p[0]} {o}" for p, o, _, _ in INTS])
@settings(max_examples=60, deadline=None)
@given(value=st.one_of(st.integers(-10**15, 10**15), st.text(max_size=8), st.sampled_from(["nan", "1e9", "3.5", " 7 "])))
def test_numeric_options_are_checked(prefix, option, lo, hi, value):
    args, failure = _parse(prefix + [option, str(value)])
    if args is None:
        code, err = failure
        assert code == 2 and f"argument {option}" in err and "Traceback" not in err
        assert err.strip().splitlines()[-1].startswith("genrec ")  # one error line after the usage
        return
    got = vars(args)[option.lstrip("-").replace("-", "_")]
    assert isinstance(got, int) and got >= lo and (hi is None or got <= hi)


@pytest.mark.parametrize("text,expect", [("not json", "not valid JSON"), ("[1,2]", "expected a JSON object"),
                                         ('"x"', "expected a JSON object"), ("{}", None)])
def test_model_config_must_be_a_json_object(text, expect, capsys):
    args, failure = _parse(["train", *P, "--model", "ran", "--model-config", text], capsys)
    if expect is None:
        assert args.model_config == {}
    else:
        assert failure[0] == 2 and expect in failure[1]


@pytest.mark.parametrize("option,value", [("--lr", "nan"), ("--lr", "0"), ("--lr", "-1"), ("--dropout", "1"),
                                          ("--max-minutes", "inf"), ("--cold-holdout", "1.5")])
def test_real_options_refuse_nonsense(option, value, capsys):
    args, failure = _parse(["train", *P, "--model", "ran", option, value], capsys)
    assert args is None and failure[0] == 2 and f"argument {option}" in failure[1]


def test_a_wide_beam_evaluates_in_smaller_batches():
    """Beam search over many users holds users x beams rows; the batch shrinks as the beam grows."""
    import importlib

    import torch

    ev = importlib.import_module("genrec_engine.train.evaluate")  # the module (the package exports a function of that name)

    seen = []

    class Model:
        def eval(self):
            return self

    def fake_beam_search(model, h, **kw):
        seen.append(h.shape[0])
        raise StopIteration

    import genrec_engine.decode as decode

    old = decode.beam_search
    decode.beam_search = fake_beam_search
    try:
        with pytest.raises(StopIteration):
            ev.rank_lists(Model(), torch.ones(5000, 3, dtype=torch.long), trie=None, beam=1000)
    finally:
        decode.beam_search = old
    assert seen == [20]


def test_a_dataset_of_three_interaction_users_is_refused_with_the_reason(tmp_path, capsys):
    """Every user at the documented minimum (3 interactions) leaves nothing to train on after
    leave-one-out: one line says so (it crashed in torch before)."""
    from pathlib import Path

    from genrec_engine.cli import main
    from genrec_engine.testing import make_tiny_project

    beauty = Path(__file__).resolve().parents[2] / "resources" / "datasets" / "beauty"
    project = make_tiny_project(beauty, tmp_path, items=60, users=12, per_user=3)
    code = main(["train", "--project", str(project), "--model", "sasrec", "--epochs", "1", "--json"])
    captured = capsys.readouterr()
    assert code == 1 and "Traceback" not in captured.err
    assert "at least 4 interactions" in captured.err
