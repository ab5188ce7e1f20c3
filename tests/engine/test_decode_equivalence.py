"""Every decode path still ranks the bundled projects' test users exactly as the recorded golden file.

``tests/engine/data/decode_golden.json`` holds, for 16 beauty-default test users (RAN and
TIGER-style) and 6 beauty-coldstart users, the rankings of beam search (constrained,
unconstrained, diverse, filtered, excluding the history, traced), sampling, ``exact_topk``, the
beam stepper and the cold-start session (trie scoring, recommend, hybrid). Item rankings must be
identical and scores agree within 1e-4. See ``decode_golden.py`` to re-record it.
"""
from __future__ import annotations

import json

import pytest

from .decode_golden import COLD, DEFAULT, GOLDEN, compare, compute_golden

pytestmark = pytest.mark.skipif(
    not (GOLDEN.exists() and (DEFAULT / "generator-tiger.safetensors").exists()
         and (COLD / "generator-sasrec.safetensors").exists()),
    reason="the bundled projects or the golden file are missing",
)


def test_rankings_match_the_golden_file():
    stored = json.loads(GOLDEN.read_text())
    got = compute_golden(stored["users"])
    errors = compare(stored["golden"], json.loads(json.dumps(got)), "golden", tol=1e-4)
    assert not errors, f"{len(errors)} differences, first ones:\n" + "\n".join(errors[:20])
