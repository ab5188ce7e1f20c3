"""``genrec bench decode``: its JSON shape, and the memory figures taken in fresh processes."""
from __future__ import annotations

import sys

from genrec_engine.bench import bench_decode


def test_bench_decode_reports_latency_and_peak_memory_per_model():
    out = bench_decode(batch=4, beams=(2,), repeats=1, device="cpu", memory_users=8)
    assert set(out["latency_ms"]) == {f"{k}/beam2/{c}" for k in ("ran", "tiger")
                                      for c in ("constrained", "unconstrained")}
    assert out["memory_users"] == 8 and set(out["memory_mb"]) == {"ran/beam2", "tiger/beam2"}
    for figure in out["memory_mb"].values():
        assert "error" not in figure, figure
        if sys.platform != "win32":
            # measured in the child itself: loading the project takes more than nothing, and the peak
            # is at least the mark before the decode
            assert 50 < figure["before_mb"] <= figure["peak_mb"]
