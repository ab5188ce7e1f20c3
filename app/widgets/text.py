"""How the panels write SIDs, probabilities, cut-off text and generator names (one place, so they all
agree). No Qt: the panels' view-models use it."""
from __future__ import annotations

import math
from typing import Sequence

__all__ = ["sid_text", "elide", "percent", "leaf_category", "ERROR_COLOUR", "MUTED_COLOUR", "GENERATOR_LABELS", "GENERATOR_NAMES",
           "generator_unavailable"]

ERROR_COLOUR = "#b3261e"  # readable red on light and dark backgrounds
MUTED_COLOUR = "#8a8a8a"  # values that carry no signal, on light and dark backgrounds

# how every panel names the generator kinds: short (combo boxes, messages) and long (training, diagnostics)
GENERATOR_LABELS = {"ran": "RAN", "tiger": "TIGER-style", "sasrec": "SASRec"}
GENERATOR_NAMES = {"ran": "RAN (IntRR-style)", "tiger": "TIGER-style (seq2seq)", "sasrec": "SASRec (item IDs)"}


def sid_text(sid: Sequence[int], empty: str = "") -> str:
    """``(12, 7, 201)`` -> ``"12-7-201"``; ``empty`` for a zero-length prefix (e.g. ``"start"``)."""
    return "-".join(str(int(c)) for c in sid) if len(sid) else empty


def leaf_category(categories: str) -> str:
    """``"Beauty > Makeup > Nails|Other"`` -> ``"Nails"``: the last level of the first path."""
    return str(categories).split("|", 1)[0].rsplit(">", 1)[-1].strip()


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


def generator_unavailable(kind: str, project_path, exc: Exception | str) -> str:
    """Why a panel has no ``kind`` generator, and how to get one: the Training tab first (this is
    the app), the command for scripts second. A project without one yet (a new dataset) is told so
    plainly rather than shown the loader's "checkpoint not found"."""
    import shlex

    label = GENERATOR_LABELS.get(kind, kind)
    cmd = f"genrec train --project {shlex.quote(str(project_path))} --model {kind}"
    why = str(exc)
    if "not found" in why:
        return f"This project has no {label} generator yet: train one in the Training tab (or run {cmd})."
    return f"The {label} generator could not be loaded ({why}). Train a new one in the Training tab (or run {cmd})."
