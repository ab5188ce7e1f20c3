"""How the panels write SIDs, probabilities and cut-off text (one place, so they all agree)."""
from __future__ import annotations

import math
from typing import Sequence

__all__ = ["sid_text", "elide", "percent"]


def sid_text(sid: Sequence[int], empty: str = "") -> str:
    """``(12, 7, 201)`` -> ``"12-7-201"``; ``empty`` for a zero-length prefix (e.g. ``"start"``)."""
    return "-".join(str(int(c)) for c in sid) if len(sid) else empty


def elide(text: str, n: int) -> str:
    """``text`` cut to at most ``n`` characters, with an ellipsis when cut."""
    return text if len(text) <= n else text[: n - 1] + "…"


def percent(p: float) -> str:
    """A probability as a percentage that never shows a non-zero value as "0.0 %"."""
    if not math.isfinite(p):
        return "–"
    if p == 0:
        return "0 %"
    if p < 0.001:
        return f"{100 * p:.1e} %"
    return f"{100 * p:.1f} %"
