"""Audit entries of the diagnostics panel (plain Python, no Qt): another generator's ranked lists,
read from a file and scored against the open project.

:func:`run_audit` is the bridge job: :func:`genrec_engine.interop.audit_generations` (the figures
``genrec audit`` prints) and :func:`~genrec_engine.interop.audit.audit_users` (the per-user arrays
the plots and the users table need) over one parse of the file, into an :class:`AuditResult`.
The functions below turn it into what the widgets show: the summary (:func:`figures`,
:func:`summary_html`), the histogram counts, the level-drift rows, the users table's cells and
orders, the clicked user's line and the items it selects.

Per-user arrays have one row per file row ``U``, in file order (see
:class:`~genrec_engine.interop.audit.AuditUsers`).
"""
from __future__ import annotations

import html
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genrec_engine import CancelToken, ProgressFn
from genrec_engine.interop import AuditReport, read_generations
from genrec_engine.interop.audit import AuditUsers, audit_generations, audit_users
from genrec_engine.jobs import Stage, report

from .state import AUDIT_PREFIX, K, audit_key, is_audit, pct

__all__ = [
    "K", "AUDIT_PREFIX", "AuditResult", "run_audit", "audit_key", "is_audit",
    "FIGURES", "figures", "figures_tooltip", "summary_html", "note_text", "header_html", "homogeneity_counts",
    "invalid_counts",
    "DRIFT_COLUMNS", "drift_rows", "COLUMNS", "SORTS", "sort_column", "cell_value", "cell_text", "cell_alarm",
    "cell_tooltip", "row_order", "first_item", "selected_items", "user_html", "mean_homogeneity",
]


# ----------------------------------------------------------------------------------------- the job


@dataclass(frozen=True, eq=False)
class AuditResult:
    """An audited file: the engine's ``report`` and per-user ``users`` (same k, policy, split)."""

    path: str
    report: AuditReport
    users: AuditUsers
    seconds: float

    @property
    def name(self) -> str:
        return Path(self.path).name

    def __len__(self) -> int:
        return len(self.users)


def run_audit(project, path: str, *, progress: ProgressFn | None = None,
              cancel: CancelToken | None = None) -> AuditResult:
    """The panel's job: read ``path`` once, audit it against ``project`` (top-10, the ``first``
    collision policy, test targets unless the file gives them) and keep the per-user arrays."""
    start = time.perf_counter()
    report(progress, 0.0, f"reading {Path(path).name}")
    gen = read_generations(path, cancel=cancel)
    rep = audit_generations(project, gen, k=K, progress=Stage(progress, 0.05, 0.8), cancel=cancel)
    report(progress, 0.85, "per-user figures")
    users = audit_users(project, gen, k=K, cancel=cancel)
    report(progress, 1.0, "done")
    return AuditResult(path=str(path), report=rep, users=users, seconds=time.perf_counter() - start)


# ----------------------------------------------------------------------------------------- summary

#: The summary figures: (key, label, tooltip). Keys name ``AuditReport`` fields, ``sid:<metric>``
#: (``sid_level``) or ``item:<metric>`` (``item_level``).
FIGURES = (
    ("invalid_rate", "Invalid SIDs", f"Share of the first {K} returned SIDs of every list that name no item."),
    ("duplicate_rate", "Duplicate SIDs", f"Share of the first {K} returned SIDs that add no new item (already "
                                         "listed)."),
    ("group_rate", "Collision groups", "Share of the returned SIDs that leave out the collision level and so name "
                                       "a whole collision group (its first item is listed)."),
    ("sid:recall@10", "Recall@10, SIDs", "A returned SID hits when it names the target (its full SID or its group)."),
    ("sid:ndcg@10", "NDCG@10, SIDs", "As Recall@10, discounted by the SID's rank."),
    ("item:recall@10", "Recall@10, items", "The SIDs resolved to items (an invalid or duplicate SID keeps an empty "
                                           "slot), scored as genrec eval scores our lists."),
    ("item:ndcg@10", "NDCG@10, items", "As Recall@10, items, discounted by the item's rank."),
    ("item:coverage@10", "Coverage@10", "Share of the catalogue that appears in some user's first 10 items."),
    ("item:homogeneity@10", "Homogeneity@10", "Mean share of a list's first 10 items under its most common first "
                                              "SID code."),
    ("item:popularity@10", "Popularity@10", "Mean popularity percentile of the listed items (1 = the most "
                                            "popular item in the training data)."),
)
_RATES = {"invalid_rate", "duplicate_rate", "group_rate", "item:coverage@10"}


def _figure(rep: AuditReport, key: str) -> float | None:
    if key.startswith("sid:"):
        value = rep.sid_level.get(key[4:])
    elif key.startswith("item:"):
        value = rep.item_level.get(key[5:])
    else:
        value = getattr(rep, key)
    return None if value is None else float(value)


def _figure_text(key: str, value: float | None) -> str:
    if value is None or not np.isfinite(value):
        return "–"
    if key in _RATES:
        return pct(value)
    if key.endswith(("recall@10", "ndcg@10")):
        return f"{value:.3f}"
    return f"{value:.2f}"


def figures(result: AuditResult) -> list[tuple[str, str, float | None, str]]:
    """The summary figures in :data:`FIGURES` order: ``(key, label, value, text)``; ``value`` is
    the engine's number (None when it has none)."""
    out = []
    for key, label, _ in FIGURES:
        value = _figure(result.report, key)
        out.append((key, label, value, _figure_text(key, value)))
    return out


def summary_html(result: AuditResult) -> str:
    """What the audit says, in a line of words and a table of :func:`figures`."""
    rep = result.report
    n = rep.users
    bad = int(np.count_nonzero(result.users.invalid + result.users.duplicate))
    targets = ("the targets the file gives" if rep.targets_from_file == n else
               f"the project's {rep.split} targets" if rep.targets_from_file == 0 else
               f"{rep.targets_from_file:,} targets from the file, the rest from the {rep.split} split")
    words = (f"<b>{html.escape(result.name)}</b> ({rep.format.upper()}): the ranked lists of <b>{n:,}</b> users, "
             f"scored against {targets}; {rep.slots:,} SIDs among the first {rep.k} of each list. "
             f"{bad:,} user{'s' if bad != 1 else ''} got invalid or duplicate SIDs"
             + (" (worst first below)." if bad else "."))
    if rep.rows_with_unsorted_scores:
        words += (f" In {rep.rows_with_unsorted_scores:,} row{'s' if rep.rows_with_unsorted_scores != 1 else ''} "
                  "the scores rise somewhere down the list.")
    heads = "".join(f"<th style='padding: 0 9px 0 0; font-weight: normal; color: #505050;'>{html.escape(label)}</th>"
                    for _, label, _, _ in figures(result))
    cells = "".join(f"<td style='padding: 0 9px 0 0;'><b>{text}</b></td>" for *_, text in figures(result))
    return f"{words}<table cellspacing='0'><tr>{heads}</tr><tr>{cells}</tr></table>"


def figures_tooltip() -> str:
    """What each summary figure means (the summary label's tooltip)."""
    return "<br>".join(f"<b>{html.escape(label)}</b>: {html.escape(tip)}" for _, label, tip in FIGURES)


def header_html(result: AuditResult | None, path: str | None = None) -> str:
    """The page's intro for an audit entry (``path`` while the file is still being audited)."""
    name = html.escape(result.name if result is not None else Path(path or "").name)
    return (f"How healthy are another generator's lists? The ranked SIDs of <b>{name}</b> are resolved against "
            "this project's SID table: an <b>invalid</b> SID names no item, a <b>duplicate</b> adds no new item, "
            f"and each list's first {K} items give its <b>homogeneity@{K}</b> (share under its most common first "
            "SID code) and the held-out target's rank.")


def note_text(result: AuditResult) -> str:
    """The line that replaces the decoding settings for an audit entry."""
    return (f"Lists read from {result.name} ({len(result):,} users, top-{result.report.k}, collision policy "
            f"'{result.report.policy}'): nothing is decoded here.")


def homogeneity_counts(result: AuditResult) -> list[int]:
    """Users per homogeneity@10 bar ``j / 10`` (``j = 1..10``): ``[K]``; users without a valid item are
    left out (the bins of :func:`genrec_engine.generation_diagnostics`)."""
    share = result.users.homogeneity
    edges = np.clip((np.arange(1, K + 2) - 0.5) / K, 0.0, 1.0)
    edges[0] = 0.0
    counts, _ = np.histogram(share[np.isfinite(share)], bins=edges)
    return [int(c) for c in counts]


def mean_homogeneity(result: AuditResult) -> float | None:
    value = result.report.item_level.get(f"homogeneity@{K}")
    return None if value is None else float(value)


def invalid_counts(result: AuditResult) -> list[int]:
    """Users per number of invalid SIDs among their first 10 (``0..10``): ``[K + 1]``."""
    return [int(c) for c in np.bincount(result.users.invalid, minlength=K + 1)[: K + 1]]


# ------------------------------------------------------------------------------------ level drift

#: The level-drift table's columns: (title, tooltip).
DRIFT_COLUMNS = (
    ("Level", "The SID level (the last is the collision level)."),
    ("Users", "Users whose top-1 SID reaches this level."),
    ("Code right", "Share of them whose top-1 SID has the target's code at this level."),
    ("After a right prefix", "The same, among users whose top-1 SID had every earlier code right."),
    ("After a wrong prefix", "The same, among users whose top-1 SID already went wrong at an earlier level."),
)


def _share_text(share: float | None, users: int | None = None) -> str:
    if share is None:
        return "–"
    return pct(share) + (f" of {users:,}" if users is not None else "")


def drift_rows(result: AuditResult) -> list[tuple[str, ...]]:
    """One row of texts per SID level of ``report.level_drift``."""
    rows = []
    for d in result.report.level_drift:
        rows.append((
            f"{d['level']}" + (" (collision)" if d["kind"] == "collision" else ""),
            f"{d['users']:,}",
            _share_text(d["accuracy"]),
            _share_text(d["prefix_right_accuracy"], d["prefix_right_users"]),
            _share_text(d["prefix_wrong_accuracy"], d["prefix_wrong_users"]),
        ))
    return rows


# ---------------------------------------------------------------------------------- users table

#: The users table's columns: (title, tooltip).
COLUMNS = (
    ("User id", "The user's id in the project's dataset."),
    ("Line", "The user's line in the file (JSONL) or row (Parquet)."),
    ("Returned", "SIDs in the user's ranked list."),
    ("Invalid + dup.", f"Invalid SIDs (naming no item) + duplicates (adding no new item) among the first {K}."),
    (f"Homog.@{K}", f"Share of the first {K} items under their most common first SID code (1.00 = every item "
                    "from one prefix)."),
    ("Dominant prefix", f"The most common first SID code among the first {K} items, and how many different "
                        "first codes they have."),
    ("Target rank", "Where the held-out target landed among the listed items (1 = first), or 'missed'."),
)
_USER, _LINE, _RETURNED, _BAD, _HOMOGENEITY, _PREFIX, _RANK = range(len(COLUMNS))

#: The "worst first by" choices for an audit: (label, order, table column).
SORTS = (
    ("most invalid + duplicate SIDs", "bad", _BAD),
    ("highest homogeneity", "homogeneity", _HOMOGENEITY),
    ("missed target", "missed", _RANK),
)
_COLUMN_SORT = {col: by for _, by, col in SORTS}


def sort_column(by: str) -> int:
    return next(col for _, b, col in SORTS if b == by)


def _bad(users: AuditUsers) -> np.ndarray:
    return users.invalid + users.duplicate


def cell_value(users: AuditUsers, r: int, col: int):
    """Row ``r``'s raw value: int or float; None for an empty list's homogeneity or a missed target."""
    if col == _USER:
        return int(users.user_ids[r])
    if col == _LINE:
        return int(users.lines[r])
    if col == _RETURNED:
        return int(users.returned[r])
    if col == _BAD:
        return int(users.invalid[r] + users.duplicate[r])
    if col == _HOMOGENEITY:
        h = float(users.homogeneity[r])
        return h if np.isfinite(h) else None
    if col == _PREFIX:
        return int(users.dominant_prefix[r])
    rank = int(users.item_rank[r])
    return rank if rank > 0 else None


def cell_text(users: AuditUsers, r: int, col: int) -> str:
    value = cell_value(users, r, col)
    if col == _BAD:
        return f"{int(users.invalid[r])} + {int(users.duplicate[r])}"
    if col == _HOMOGENEITY:
        return "–" if value is None else f"{value:.2f}"
    if col == _PREFIX:
        if value < 0:
            return "–"
        n = int(users.prefixes[r])
        return f"{value}  ({n} prefix{'es' if n != 1 else ''})"
    if col == _RANK:
        return "missed" if value is None else str(value)
    return str(value)


def cell_alarm(users: AuditUsers, r: int, col: int) -> str | None:
    """``"bad"`` (homogeneity >= 0.8, any invalid or duplicate SID), ``"missed"`` or None."""
    value = cell_value(users, r, col)
    if (col == _HOMOGENEITY and value is not None and value >= 0.8) or (col == _BAD and value > 0):
        return "bad"
    if col == _RANK and value is None:
        return "missed"
    return None


def cell_tooltip(users: AuditUsers, r: int, col: int) -> str:
    if col == _BAD:
        return (f"{int(users.invalid[r])} invalid and {int(users.duplicate[r])} duplicate SIDs among the first "
                f"{min(K, int(users.returned[r]))} returned.")
    if col == _RANK:
        sid = int(users.sid_rank[r])
        return COLUMNS[col][1] + (f" Among the returned SIDs: rank {sid}." if sid > 0 else
                                  " No returned SID names it.")
    return COLUMNS[col][1]


def row_order(users: AuditUsers, column: int, descending: bool) -> np.ndarray:
    """Rows in display order, int64 ``[U]``. Descending invalid + duplicate is the audit's worst
    users order (ties in file order), descending homogeneity puts the most homogeneous first (then
    more invalid + duplicate), descending target rank the missed targets first (then the lowest
    rank); ascending reverses them. Other columns: a stable argsort."""
    by = _COLUMN_SORT.get(column)
    h = np.nan_to_num(users.homogeneity, nan=-1.0)
    if by == "bad":
        order = users.worst()
    elif by == "homogeneity":
        order = np.lexsort((-_bad(users), -h))
    elif by == "missed":
        rank = np.where(users.item_rank < 0, np.iinfo(np.int64).max, users.item_rank)
        order = np.lexsort((-h, -rank))
    else:
        keys = (users.user_ids, users.lines, users.returned, None, None, users.dominant_prefix)[column]
        return np.argsort(-keys if descending else keys, kind="stable").astype(np.int64)
    return np.ascontiguousarray(order if descending else order[::-1], dtype=np.int64)


# ---------------------------------------------------------------------------------- a user


def first_item(users: AuditUsers, r: int) -> int | None:
    """Row ``r``'s first listed item (index), or None when no returned SID names one."""
    listed = users.items[r][users.items[r] >= 0]
    return int(listed[0]) if listed.size else None


def selected_items(users: AuditUsers, r: int) -> list[int]:
    """What a click on row ``r`` selects: the target, then the first listed item (when another)."""
    items = [int(users.targets[r])]
    first = first_item(users, r)
    if first is not None and first != items[0]:
        items.append(first)
    return items


def user_html(users: AuditUsers, r: int, target_title: str | None, first_title: str | None) -> str:
    """The line about row ``r`` (titles: of its target and first listed item, None when unknown)."""
    def title(t: str | None, item: int) -> str:
        t = t or f"item {item}"
        return html.escape(t if len(t) <= 60 else t[:57] + "…", quote=False)

    target, first = int(users.targets[r]), first_item(users, r)
    rank, sid = int(users.item_rank[r]), int(users.sid_rank[r])
    where = f"item rank {rank}, SID rank {sid}" if rank > 0 else (
        f"SID rank {sid}, but an earlier SID already listed it" if sid > 0 else "not in the list")
    returned = int(users.returned[r])
    h = float(users.homogeneity[r])
    if first is None:
        first_part, picked = "no returned SID names an item", "The target is"
    elif first == target:
        first_part, picked = "it is the first listed item", "It is"
    else:
        first_part, picked = f"first listed item <i>{title(first_title, first)}</i>", "Both are"
    return (f"<b>User {int(users.user_ids[r])}</b> (line {int(users.lines[r])}): {returned} SID"
            f"{'s' if returned != 1 else ''} returned; among the first {min(K, returned)}, "
            f"{int(users.invalid[r])} invalid and {int(users.duplicate[r])} duplicate; homogeneity "
            f"{'–' if not np.isfinite(h) else f'{h:.2f}'}. Target <i>{title(target_title, target)}</i> ({where}); "
            f"{first_part}. {picked} now selected in the SID tree and the map.")

