"""What the overview panel shows of a project, without Qt: the headline figures, the tokenizer's
settings, the per-level codebook table's columns and the diagnostics retold in plain words.

Everything here is read from a :class:`~app.panels.ProjectSnapshot` whose diagnostics were computed
on a worker thread when the project loaded; nothing is computed on the GUI thread but text.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from genrec_engine import TokenizerDiagnostics, suggest_codebook_size

from ...model import ProjectSnapshot

if TYPE_CHECKING:  # only a type: rows come from the public TokenizerDiagnostics.levels
    from genrec_engine.quantize import LevelStats

__all__ = [
    "METHOD_NAMES", "PANEL_GUIDE", "FIGURES", "TOKENIZER_ROWS", "LevelColumn", "LEVEL_COLUMNS", "level_text",
    "plain_words", "Overview", "overview_of",
]

METHOD_NAMES = {
    "rkmeans": "Residual k-means",
    "rqvae": "RQ-VAE",
    "vqvae": "Product VQ-VAE",
    "gaoq": "GAOQ (ReSID)",
    "imported": "Imported SID table",
}

#: The questions the other tabs answer: (name, what it shows).
PANEL_GUIDE = (
    ("Playground", "a history (and an instruction) in, three generators' recommendations side by side"),
    ("Beam stepper", "why did it recommend that? step through constrained beam search level by level"),
    ("Cold-start lab", "why does my new item never show up? tokenize, inject and score it for a user"),
    ("Diagnostics", "why do all ten look alike? homogeneity and invalid generations across test users"),
)

#: The headline figures: (key, caption, what it means).
FIGURES = (
    ("items", "Items", "Items in the catalogue; each gets one semantic ID."),
    ("users", "Users", "Distinct users in the interaction log."),
    ("interactions", "Interactions", "User-item events (reviews, purchases) in the log."),
    ("unique_sids", "Unique SIDs", "Distinct full semantic IDs, collision token included. "
     "Equal to the item count: every item is addressable."),
    ("collision_rate", "Collision rate", "Share of items whose L codes repeat an earlier item's, "
     "so the extra collision token is what tells them apart."),
    ("max_collision_depth", "Max collision depth", "The largest group of items sharing one "
     "L-code tuple: the collision token runs from 0 to this minus one."),
)

#: The tokenizer's settings: (key, caption).
TOKENIZER_ROWS = (
    ("encoder", "Encoder"),
    ("method", "Method"),
    ("levels", "Levels (L)"),
    ("codebook_size", "Codebook size (K)"),
    ("sid_length", "SID length"),
    ("recon_mse", "Reconstruction MSE"),
    ("content_agreement", "Content agreement"),
    ("fit_seconds", "Fit time"),
)


# ------------------------------------------------------------------------------ per-level table


@dataclass(frozen=True)
class LevelColumn:
    """One column of the per-level table: its header, what it means, its raw value and its text."""

    header: str
    tooltip: str  # plain-language meaning, shown on the header
    value: Callable[["LevelStats"], float | int]
    text: Callable[[float | int], str]


LEVEL_COLUMNS: tuple[LevelColumn, ...] = (
    LevelColumn("Level", "Position in the semantic ID. Level 1 is the coarsest code; each later level "
                "refines the codes before it.", lambda s: s.level, lambda v: f"{v}"),
    LevelColumn("Utilization", "Share of the K codewords at this level that at least one item uses. "
                "100 % means no codeword is wasted.", lambda s: s.utilization, lambda v: f"{100 * v:.1f} %"),
    LevelColumn("Perplexity", "How evenly items spread over the codewords, in 'effective codewords': "
                "K means perfectly even, far below K means a few codewords hold most items.",
                lambda s: s.perplexity, lambda v: f"{v:.1f}"),
    LevelColumn("Dead codes", "Codewords at this level that no item uses.", lambda s: s.dead_codes,
                lambda v: f"{v:,}"),
    LevelColumn("Largest bucket", "Items on the most used codeword of this level.",
                lambda s: s.largest_bucket, lambda v: f"{v:,}"),
    LevelColumn("Prefix entropy", "H(c_l | c_<l), in bits: how hard this level's code is to guess once the "
                "earlier codes are known. 0 bits means it is already decided; log2(K) bits means any of the "
                "K codewords is equally likely.", lambda s: s.prefix_entropy, lambda v: f"{v:.2f} bits"),
    LevelColumn("Prefixes", "Distinct prefixes c_1..c_l: the number of nodes at this depth of the SID tree.",
                lambda s: s.prefixes, lambda v: f"{v:,}"),
    LevelColumn("Items per prefix", "Mean and largest number of items that share one prefix c_1..c_l.",
                lambda s: s.items_per_prefix_mean, lambda v: f"{v:,.1f}"),
)
_ITEMS_PER_PREFIX = len(LEVEL_COLUMNS) - 1


def level_text(stats: "LevelStats", col: int) -> str:
    """The text of one cell of the per-level table (items per prefix: mean and largest)."""
    if col == _ITEMS_PER_PREFIX:
        return f"{stats.items_per_prefix_mean:,.1f} · max {stats.items_per_prefix_max:,}"
    column = LEVEL_COLUMNS[col]
    return column.text(column.value(stats))


# ------------------------------------------------------------------------------ the whole overview


def _levels_text(first: int, last: int) -> str:
    return f"level {first}" if first == last else f"levels {first}–{last}"


def plain_words(diag: TokenizerDiagnostics, k: int, collision_size: int) -> str:
    """The diagnostics retold as a few sentences (HTML), for readers new to semantic IDs."""
    levels = diag.levels
    n_levels = len(levels)
    sizes = [getattr(s, "codebook_size", k) for s in levels]  # levels may differ (imported tables)
    dead = [(s.level, s.dead_codes, kl) for s, kl in zip(levels, sizes) if s.dead_codes]
    if not dead:
        use = (f"All {k:,} codewords are in use at every level." if len(set(sizes)) <= 1 else
               f"All codewords ({' / '.join(f'{kl:,}' for kl in sizes)}) are in use at every level.")
    else:
        use = "Unused codewords: " + ", ".join(f"{d:,} of {kl:,} at level {lv}" for lv, d, kl in dead) + "."
        suggested = suggest_codebook_size(diag.items)
        if suggested < max(sizes):
            use += (f" For {diag.items:,} items a codebook of {suggested} per level (at least 16 items per codeword) "
                    f"would leave few dead: retokenize with K = {suggested} (Training panel, or "
                    f"genrec tokenize --codebook-size {suggested}).")
    spread = ", ".join(f"{100 * s.perplexity / kl:.0f} %" for s, kl in zip(levels, sizes))
    spread = f"Items spread over an effective {spread} of the codewords at {_levels_text(1, n_levels)} (perplexity ÷ K)."
    bits = math.log2(max(sizes) if sizes else k)
    guess = ", ".join(f"{s.prefix_entropy:.1f}" for s in levels[1:])
    guess = (
        f"Once the earlier codes are known, {_levels_text(2, n_levels)} leave{'s' if n_levels == 2 else ''} "
        f"{guess} bits to guess (of at most {bits:.0f})."
        if n_levels > 1 else ""
    )
    coll = (
        f"{100 * diag.collision_rate:.1f} % of items share all {n_levels} codes with an earlier item; the "
        f"collision token (0–{collision_size - 1}) tells them apart."
        if diag.collision_rate > 0 else f"No two items share all {n_levels} codes: no collision token is needed."
    )
    return "".join(f"<p style='margin-bottom: 6px'>{line}</p>" for line in (use, spread, guess, coll) if line)


@dataclass(frozen=True)
class Overview:
    """Every text the overview shows of one project.

    ``figures``/``details``: value and one-line explanation per :data:`FIGURES` key; ``tokenizer``:
    text per :data:`TOKENIZER_ROWS` key; ``plain``: :func:`plain_words` (HTML); ``levels``: the
    per-level rows (collision level excluded).
    """

    title: str
    subtitle: str
    figures: dict[str, str]
    details: dict[str, str]
    tokenizer: dict[str, str]
    plain: str
    levels: list


def _count(value) -> str:
    return f"{int(value):,}" if isinstance(value, (int, float)) else "–"


def _encoder_text(enc: dict) -> str:
    text = enc.get("name", "?")
    if enc.get("model"):
        text = f"{enc['model']}"
    if enc.get("dim"):
        text += f", {enc['dim']}-d"
    if enc.get("fields"):
        text += f" (fields: {', '.join(enc['fields'])})"
    return text


def _agreement_text(imported: dict | None) -> str:
    """How content-like an imported SID table is: per level the share of items whose code is the
    nearest codeword of the codebooks derived from it (the import's ``content_agreement``); a
    fitted tokenizer's codes are its nearest codewords by construction."""
    if not imported:
        return "fitted to the content (every code is the nearest codeword)"
    shares = imported.get("content_agreement") or []
    if not shares:
        return "–"
    return (" / ".join(f"{100 * float(a):.0f} %" for a in shares)
            + " of items' codes are their nearest content codeword (by level; see Codeword weights)")


def overview_of(snapshot: ProjectSnapshot) -> Overview:
    """What the overview shows of ``snapshot`` (its metadata, tokenizer config and diagnostics)."""
    project, diag = snapshot.project, snapshot.diagnostics
    meta = project.meta
    ds = meta.get("dataset", {})
    created = meta.get("created", "")
    users, inter = ds.get("users"), ds.get("interactions")
    figures = {
        "items": _count(diag.items),
        "users": _count(users),
        "interactions": _count(inter),
        "unique_sids": _count(diag.unique_sids),
        "collision_rate": f"{100 * diag.collision_rate:.1f} %",
        "max_collision_depth": _count(diag.max_collision_depth),
    }
    details = {
        "items": f"one {project.sids.depth}-token SID each",
        "users": f"{inter / users:.1f} interactions per user" if users and inter else "from the dataset",
        "interactions": f"{inter / diag.items:.1f} per item" if inter and diag.items else "from the dataset",
        "unique_sids": f"{diag.unique_codes:,} distinct code tuples",
        "collision_rate": f"{diag.colliding_items:,} items in shared tuples",
        "max_collision_depth": "items on the fullest tuple",
    }
    cfg = project.tokenizer_config
    fit = meta.get("tokenizer", {}).get("fit_seconds")
    sids = project.sids
    imported = meta.get("imported")
    method = f"{METHOD_NAMES.get(cfg.method, cfg.method)} ({cfg.method})"
    if imported:
        method = (f"Imported {imported.get('format', '')} table {Path(str(imported.get('source', ''))).name}; "
                  "codebooks derived from it")
    sid_length = f"{sids.depth} tokens ({cfg.levels} codes + collision token 0–{sids.collision_size - 1})"
    if sids.policy == "keep-all":
        sid_length = (f"{sids.levels} codes; items sharing them form a group (keep-all), told apart inside "
                      f"the tree by a collision token 0–{sids.collision_size - 1}")
    tokenizer = {
        "encoder": _encoder_text(meta.get("encoder", {})),
        "method": method,
        "levels": str(cfg.levels),
        "codebook_size": (f"{sids.codebook_size:,} codewords per level" if sids.uniform else
                          " / ".join(f"{k:,}" for k in sids.sizes) + " codewords at levels 1–" + str(sids.levels)),
        "sid_length": sid_length,
        "recon_mse": "–" if diag.recon_mse is None else f"{diag.recon_mse:.4f}",
        "content_agreement": _agreement_text(imported),
        "fit_seconds": "–" if fit is None else (f"{fit:.1f} s" if fit >= 1 else f"{fit * 1000:.0f} ms"),
    }
    return Overview(
        title=project.name,
        subtitle=f"{snapshot.path}" + (f"  ·  created {created}" if created else ""),
        figures=figures, details=details, tokenizer=tokenizer,
        plain=plain_words(diag, cfg.codebook_size, project.sids.collision_size),
        levels=list(diag.levels),
    )
