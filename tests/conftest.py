"""Shared test set-up: one torch thread, and a check that no test writes into the bundled resources.

The test models are tiny; with two threads torch's workers wait on each other's time slices
whenever anything else runs on the machine, which made small tests up to 40x slower.
"""
import hashlib
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)


_RESOURCES = Path(__file__).resolve().parents[1] / "resources"


def _resources_digest() -> dict[str, str]:
    return {str(p.relative_to(_RESOURCES)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(_RESOURCES.rglob("*")) if p.is_file()}


@pytest.fixture(scope="session", autouse=True)
def _bundled_resources_stay_untouched():
    """No test (and so no code path it drives) may write into the bundled resources."""
    before = _resources_digest()
    yield
    after = _resources_digest()
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    assert not changed, f"tests changed files under resources/: {changed}"
