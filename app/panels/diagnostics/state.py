"""The diagnostics panel's view-model (plain Python, no Qt): settings, the run cache, what the panel says.

:class:`DiagnosticsState` holds which project folder is open, which generators it can diagnose,
the results of earlier runs (a small cache keyed by :class:`RunKey`), which run is shown and which
is running, and the status line; and the **audit entries**: files of another generator's ranked lists
scored against the project (their results come from :mod:`.audits`, which this module does not
import: an entry's result is kept as given). The functions below turn a
:class:`~genrec_engine.GenerationDiagnostics` into what the widgets show: table cells
(:func:`cell_value`, :func:`cell_text`, :func:`cell_tooltip`, :func:`row_order`), the summary
and the clicked user's line (HTML). :func:`run_diagnostics` is the bridge job.

Arrays of a result have one row per diagnosed user ``U`` (see ``GenerationDiagnostics``);
``top`` is int64 ``[U, K]`` (``-1`` pads).
"""
from __future__ import annotations

import html
import json
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genrec_engine import CancelToken, GenerationDiagnostics, ProgressFn, generation_diagnostics

__all__ = [
    "K", "DEFAULT_USERS", "DEFAULT_BEAM", "CACHE_SIZE", "KINDS", "SORTS", "COLUMNS",
    "RunKey", "DiagnosticsState", "run_diagnostics", "generator_file", "AUDIT_PREFIX", "audit_key", "is_audit",
    "cell_value", "cell_text", "cell_tooltip", "row_order", "pct",
]

#: The list length the panel diagnoses (homogeneity@10, invalid among the top-10).
K = 10
#: Sampled test users of a default run: the RAN decodes 2,000 users in ~1-3 s on one CPU core.
DEFAULT_USERS = 2000
DEFAULT_BEAM = 20
CACHE_SIZE = 8  # results kept (per project): switching back to a setting is instant
#: Generators the panel can diagnose, in the combo's order. SASRec scores items and generates no SIDs.
KINDS = ("ran", "tiger")

#: The "worst first by" choices: (label, engine order of ``GenerationDiagnostics.worst``, table column).
SORTS = (
    ("highest homogeneity", "homogeneity", 2),
    ("most invalid SIDs", "invalid", 4),
    ("missed target", "missed", 5),
)
_SORT_COLUMN = {by: col for _, by, col in SORTS}
_COLUMN_SORT = {col: by for _, by, col in SORTS}

#: The user table's columns: (title, tooltip).
COLUMNS = (
    ("User", "The user's index in the test split (the beam stepper opens the same user)."),
    ("History", "Items in the user's history (the generator reads at most its max_len most recent ones)."),
    (f"Homog.@{K}", f"Share of the user's constrained top-{K} under its most common first SID code "
                    "(1.00 = every item from one prefix)."),
    ("Dominant prefix", f"The most common first SID code in the top-{K}, and how many different first codes "
                        "the list has."),
    ("Invalid", f"SIDs in the user's unconstrained top-{K} that match no catalogue item."),
    ("Target rank", "Where the user's held-out next item landed in the constrained beam (1 = first), "
                    "or 'missed' when it is not in the beam."),
)
_USER, _HISTORY, _HOMOGENEITY, _PREFIX, _INVALID, _RANK = range(len(COLUMNS))

PRESS_RUN = "Press Run to diagnose the generator."
#: Chooser data of an audit entry: this prefix and the file's absolute path (as in :mod:`.audits`).
AUDIT_PREFIX = "audit:"

SETTINGS_CHANGED = ("Settings changed: press Run to diagnose with them (the results below are for the "
                    "previous settings).")


# ----------------------------------------------------------------------------------------- the job


def run_diagnostics(project, kind: str, users: int, beam: int, *, progress: ProgressFn | None = None,
                    cancel: CancelToken | None = None) -> GenerationDiagnostics:
    """The panel's job: :func:`genrec_engine.generation_diagnostics` on the test split, top-10, seed 0."""
    return generation_diagnostics(project, kind, split="test", users=users, beam=beam, k=K, seed=0,
                                  device="auto", progress=progress, cancel=cancel)


def generator_file(folder: Path, kind: str) -> Path:
    """Where a project keeps its ``kind`` generator."""
    return Path(folder) / f"generator-{kind}.safetensors"


def audit_key(path) -> str:
    """The chooser data of the audit of ``path`` (one entry per file)."""
    return AUDIT_PREFIX + str(Path(path).absolute())


def is_audit(entry) -> bool:
    """Whether chooser data ``entry`` names an audit (else a generator kind, or None)."""
    return isinstance(entry, str) and entry.startswith(AUDIT_PREFIX)


def _audit_name(key: str) -> str:
    return Path(key[len(AUDIT_PREFIX):]).name


@dataclass(frozen=True)
class RunKey:
    """What a run depends on: the project folder, the generator (and its file's time, so a
    retrained one is decoded anew), the sampled users and the beam."""

    folder: str
    kind: str
    stamp: int
    users: int
    beam: int


# ----------------------------------------------------------------------------------------- state


class DiagnosticsState:
    """What the diagnostics panel shows and may do next, for one open project at a time.

    ``labels``: kind -> the generator's name as the panel writes it. Mutated on the GUI thread
    by the view; every method is cheap (no decode: runs go through the bridge).

    ``entry`` is what the generator chooser has chosen: a kind of :data:`KINDS` or an audit key
    (:func:`audit_key`). ``audits``: audit key -> its result (an ``audits.AuditResult``), in the
    order they were added; ``auditing``: the key of the file being audited. One job at a time:
    a run and an audit share the panel's job scope, so either supersedes the other.
    """

    def __init__(self, labels: dict[str, str] | None = None):
        self.labels = dict(labels or {})
        self.folder: Path | None = None
        self.project = None
        self.kinds: tuple[str, ...] = ()  # generators the open project has, in KINDS order
        self.variants: dict[str, str] = {}  # kind -> variant name from metrics.json ("intrr+id+nodes")
        self.shown: RunKey | None = None
        self.running: RunKey | None = None
        self.auto_pending = False  # a project arrived and no run was started for it yet
        self.status = ""
        self.error = ""
        self.entry: str | None = None
        self.audits: dict[str, object] = {}
        self.auditing: str | None = None
        self._cache: OrderedDict[RunKey, GenerationDiagnostics] = OrderedDict()

    # ---- project ----
    def open(self, folder: Path | None, project=None) -> None:
        """A project was opened (``folder`` None: closed). The cache keeps this folder's runs only;
        audit entries are dropped."""
        self.folder = Path(folder) if folder is not None else None
        self.project = project
        self.shown = self.running = None
        self.error = ""
        self.audits = {}
        self.auditing = None
        keep = str(self.folder) if self.folder is not None else None
        self._cache = OrderedDict((k, v) for k, v in self._cache.items() if k.folder == keep)
        self.kinds = tuple(k for k in KINDS if generator_file(self.folder, k).is_file()) if self.folder else ()
        self.variants = _variants(self.folder) if self.folder else {}
        self.auto_pending = bool(self.kinds)
        self.status = PRESS_RUN if self.kinds else ""
        self.entry = self.kinds[0] if self.kinds else None

    @property
    def page(self) -> str:
        """``"empty"`` (no project), ``"no_generator"`` or ``"diagnostics"``."""
        if self.folder is None:
            return "empty"
        return "diagnostics" if self.kinds or self.audits or self.auditing else "no_generator"

    def label(self, kind: str) -> str:
        """The chooser's name of a generator kind or an audit key."""
        if is_audit(kind):
            return f"Audit: {_audit_name(kind)}"
        name = self.labels.get(kind, kind)
        variant = self.variants.get(kind)
        return f"{name} · {variant}" if variant else name  # a hybrid is named with its additions

    def entries(self) -> list[tuple[str, str]]:
        """The generator chooser: ``(label, data)`` of our generators, then the audit entries."""
        return [(self.label(k), k) for k in (*self.kinds, *self.audits)]

    def choose(self, entry: str | None) -> None:
        """The chooser changed to ``entry`` (an audit entry's status says when it was audited)."""
        self.entry = entry
        audit = self.audit
        if audit is not None:
            self.status = f"Audited {len(audit):,} users in {audit.seconds:.1f} s."
        elif entry is not None and self.shown is None and self.running is None and self.auditing is None:
            self.status = PRESS_RUN

    @property
    def audit_mode(self) -> bool:
        """The chooser is on an audit entry (decoding settings do not apply)."""
        return is_audit(self.entry)

    @property
    def audit(self):
        """The audit result of the chosen entry, or None."""
        return self.audits.get(self.entry) if self.audit_mode else None

    def no_generator_html(self) -> str:
        """What the panel says when the project has no generator to diagnose, with the command."""
        path = html.escape(str(self.folder), quote=False)
        return ("<p>Diagnostics decode semantic IDs with a generative model: a RAN "
                "(<code>generator-ran.safetensors</code>) or a TIGER-style one (<code>generator-tiger.safetensors</code>). "
                f"Train one with</p><p><code>genrec train --project {path} --model ran</code></p>"
                "<p>or in the Training panel, then open the project again. To check another generator's ranked "
                "lists against this project instead, use <b>File › Audit generations…</b> (a JSONL or Parquet "
                "file, one row per user).</p>")

    # ---- runs ----
    def key(self, kind: str, users: int, beam: int) -> RunKey:
        try:
            stamp = generator_file(self.folder, kind).stat().st_mtime_ns
        except OSError:
            stamp = 0
        return RunKey(str(self.folder), kind, stamp, int(users), int(beam))

    @property
    def busy(self) -> bool:
        return self.running is not None or self.auditing is not None

    @property
    def result(self) -> GenerationDiagnostics | None:
        """The diagnostics result shown (None while an audit entry is chosen)."""
        if self.audit_mode or self.shown is None:
            return None
        return self._cache.get(self.shown)

    @property
    def can_run(self) -> bool:
        return self.page == "diagnostics" and bool(self.kinds) and not self.audit_mode and not self.busy

    def show_cached(self, key: RunKey) -> bool:
        """Show the cached result of ``key`` if there is one (True)."""
        if key not in self._cache:
            return False
        self._show(key)
        return True

    def settings_changed(self, key: RunKey) -> bool:
        """The generator, users or beam changed: True when the cache answers (now shown)."""
        if self.show_cached(key):
            return True
        if self.running is None and self.shown is not None:
            self.status = SETTINGS_CHANGED
        return False

    def started(self, key: RunKey) -> None:
        self.auto_pending = False
        self.running = key
        self.auditing = None  # the same job scope: a run supersedes an audit
        self.error = ""
        self.status = f"Decoding {key.users:,} users with the {self.label(key.kind)} generator…"

    def progress(self, message: str) -> None:
        self.status = message[:1].upper() + message[1:] + "…" if message else ""

    def cancelling(self) -> None:
        if self.busy:
            self.status = "Cancelling…"

    def finished(self, result: GenerationDiagnostics) -> None:
        """The running job returned ``result``: cache it and show it."""
        key, self.running = self.running, None
        self._cache[key] = result
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        self._show(key)

    def failed(self, message: str) -> None:
        line = next((ln.strip() for ln in str(message).splitlines() if ln.strip()), "unknown error")
        if self.auditing is not None:
            self.error = f"Could not audit {_audit_name(self.auditing)}: {line}"
        else:
            self.error = f"Could not diagnose the generator: {line}"
        self.running = self.auditing = None
        self.status = "Failed."

    def cancelled(self) -> None:
        self.running = self.auditing = None
        earlier = self.audit is not None or self.result is not None
        self.status = "Cancelled." + (" The results below are from an earlier run." if earlier else "")

    def ended(self) -> None:
        """The job's last signal: never stay "running" (an outcome nobody handled)."""
        self.running = self.auditing = None

    # ---- audits ----
    def audit_started(self, path) -> str:
        """An audit of the file at ``path`` starts (it supersedes any run or audit): its key."""
        key = audit_key(path)
        self.auto_pending = False
        self.running = None
        self.auditing = key
        self.error = ""
        self.status = f"Auditing {_audit_name(key)}…"
        return key

    def audit_finished(self, result) -> str:
        """The running audit returned ``result``: it becomes (or replaces) its entry, chosen."""
        key, self.auditing = self.auditing, None
        self.audits[key] = result
        self.choose(key)
        return key

    def audit_refused(self, message: str) -> None:
        """An audit could not start (no project open): says why."""
        self.error = message

    def _show(self, key: RunKey) -> None:
        self.shown = key
        self.status = f"Done in {self._cache[key].summary['seconds']:.1f} s."

    # ---- text ----
    def sample_text(self) -> str:
        diag = self.result
        if diag is None:
            return "test users (a seeded sample)"
        sample = "all of them" if len(diag) >= diag.users_total else "a seeded sample"
        return f"of {diag.users_total:,} test users ({sample})"

    def summary_html(self) -> str:
        """The shown result in two sentences: homogeneity, then invalid SIDs ("" when none is shown)."""
        diag = self.result
        if diag is None:
            return ""
        s = diag.summary
        n = len(diag)
        single = int(np.sum(diag.homogeneity >= 1.0 - 1e-9))
        levels = s["invalid_levels"]
        depth = len(levels)
        where = ", ".join(f"{'collision level' if lv == depth - 1 else f'level {lv + 1}'}: {c:,}"
                          for lv, c in enumerate(levels) if c)
        hits = s.get(f"hit_rate@{diag.k}", 0.0)
        sample = "all" if n >= diag.users_total else "a sample of"
        return "<br>".join((
            f"<b>{html.escape(self.label(diag.kind))}</b>, beam {diag.beam}, {sample} <b>{n:,}</b> of "
            f"{diag.users_total:,} test users. Mean homogeneity@{diag.k} <b>{s['mean_homogeneity']:.2f}</b> (about "
            f"{s['mean_homogeneity'] * diag.k:.1f} of {diag.k} items share the dominant first code); "
            f"{single:,} users ({pct(single / max(n, 1))}) get all {diag.k} from one prefix. "
            f"Target in the top-{diag.k}: {pct(hits)}.",
            f"Unconstrained, <b>{pct(s['invalid_rate'])}</b> of the generated SIDs match no item, and "
            f"{pct(s['users_with_invalid'])} of the users get at least one"
            + (f" (they leave the trie at {where})." if where else ".")
            + f" Constrained: {s['constrained_invalid']} invalid, as the trie guarantees.",
        ))

    def user_html(self, row: int, title: str | None) -> str:
        """The line about result row ``row`` (``title``: its target's title, None when unknown)."""
        diag = self.result
        target_title = title or f"item {int(diag.target_id[row])}"
        if len(target_title) > 70:
            target_title = target_title[:67] + "…"
        rank = int(diag.target_rank[row])
        where = f"rank {rank}" if rank > 0 else f"not in the top {diag.beam}"
        h = float(diag.homogeneity[row])
        share = "–" if not np.isfinite(h) else f"{h:.2f}"
        invalid = int(diag.invalid[row])
        return (f"<b>User {int(diag.users[row])}</b> ({int(diag.history_length[row])} items in the history): next "
                f"item <i>{html.escape(target_title, quote=False)}</i> ({where}). Top-{diag.k}: homogeneity {share}, "
                f"dominant first code {int(diag.dominant_prefix[row])}; unconstrained: {invalid} invalid SID"
                f"{'s' if invalid != 1 else ''}. Its top-{diag.k} is now selected in the other panels.")

    def top_items(self, row: int) -> list[int]:
        """Result row ``row``'s constrained top-k item indices (padding dropped)."""
        return [int(i) for i in self.result.top[row] if i >= 0]


# ---------------------------------------------------------------------------------- table cells


def sort_column(by: str) -> int:
    """The table column of a "worst first by" choice."""
    return _SORT_COLUMN[by]


def cell_value(diag: GenerationDiagnostics, r: int, col: int):
    """The raw value of result row ``r``'s cell: int or float; None for an empty list's homogeneity
    or a missed target's rank."""
    if col == _USER:
        return int(diag.users[r])
    if col == _HISTORY:
        return int(diag.history_length[r])
    if col == _HOMOGENEITY:
        h = float(diag.homogeneity[r])
        return h if np.isfinite(h) else None
    if col == _PREFIX:
        return int(diag.dominant_prefix[r])
    if col == _INVALID:
        return int(diag.invalid[r])
    rank = int(diag.target_rank[r])
    return rank if rank > 0 else None


def cell_text(diag: GenerationDiagnostics, r: int, col: int) -> str:
    value = cell_value(diag, r, col)
    if col == _HOMOGENEITY:
        return "–" if value is None else f"{value:.2f}"
    if col == _PREFIX:
        if value < 0:
            return "–"
        n = int(diag.prefixes[r])
        return f"{value}  ({n} prefix{'es' if n != 1 else ''})"
    if col == _RANK:
        return "missed" if value is None else str(value)
    return str(value)


def cell_alarm(diag: GenerationDiagnostics, r: int, col: int) -> str | None:
    """``"bad"`` for a cell worth a look (homogeneity >= 0.8, any invalid SID), ``"missed"`` for a
    missed target, else None."""
    value = cell_value(diag, r, col)
    if (col == _HOMOGENEITY and value is not None and value >= 0.8) or (col == _INVALID and value > 0):
        return "bad"
    if col == _RANK and value is None:
        return "missed"
    return None


def cell_tooltip(diag: GenerationDiagnostics, r: int, col: int) -> str:
    if col == _USER:
        return (f"Test user {int(diag.users[r])} (dataset user id {int(diag.user_ids[r])}). "
                "Double-click to open this user in the beam stepper.")
    value = cell_value(diag, r, col)
    if col == _PREFIX and value >= 0:
        share = float(diag.homogeneity[r])
        n_valid = int((diag.top[r] >= 0).sum())
        return (f"{round(share * n_valid)} of the {n_valid} items start with code {value}; "
                f"the list has {int(diag.prefixes[r])} different first codes.")
    return COLUMNS[col][1]


def row_order(diag: GenerationDiagnostics, column: int, descending: bool) -> np.ndarray:
    """Result rows in display order, int64 ``[U]``: descending homogeneity / invalid / target rank
    are the engine's worst-first orders (ascending: reversed), other columns a stable argsort."""
    by = _COLUMN_SORT.get(column)
    if by is not None:
        order = diag.worst(by)
        return np.ascontiguousarray(order if descending else order[::-1], dtype=np.int64)
    keys = (diag.users, diag.history_length, None, diag.dominant_prefix)[column]
    return np.argsort(-keys if descending else keys, kind="stable").astype(np.int64)


def pct(x: float) -> str:
    """A share as a percentage, with two decimals below 1 % (invalid rates are small)."""
    return f"{100 * x:.1f} %" if x >= 0.01 or x == 0 else f"{100 * x:.2f} %"


def _variants(folder: Path) -> dict[str, str]:
    """Each trained generator's honest name from the project's ``metrics.json`` (``intrr+id+nodes``
    for a RAN with ID and trie-node vectors; see ``genrec_engine.generator_variant``); {} when the
    file is missing or unreadable."""
    try:
        records = json.loads((folder / "metrics.json").read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(records, dict):
        return {}
    return {k: str(r["variant"]) for k, r in records.items() if isinstance(r, dict) and r.get("variant")}
