"""Generation diagnostics panel: why do some users get a top-10 from one prefix, or invalid SIDs?

For a seeded sample of test users the panel runs :func:`genrec_engine.generation_diagnostics` on
the chosen generator (RAN or TIGER-style): a constrained beam search gives each user's ranked list
(its homogeneity@10 and where the held-out target landed), an unconstrained one with the same
beam counts the SIDs that match no item. Two histograms show the distributions, a summary puts
them in words, and a table lists the users worst first (most homogeneous, most invalid, missed
target). Clicking a user highlights its top-10 items in the other panels; double-clicking asks the
window to open the user in the beam stepper (``sig_open_user``).

The decode runs as a bridge job (progress, Cancel); results are cached per (project, generator,
users, beam) so switching back and forth is instant. The first time the panel is shown with a
project it starts a run by itself, on the RAN when the project has one.

:meth:`DiagnosticsPanel.audit_file` adds another generator's ranked lists, read from a JSONL or
Parquet file (``genrec audit``'s format), as a chooser entry "Audit: <file>": the same summary,
histograms and users table, plus the level drift of the top-1 SID; a click selects the user's
target and first listed item.

Modules: :mod:`.state` (the Qt-free view-model: settings, cache, texts, table cells),
:mod:`.audits` (the Qt-free audit job, figures and cells), :mod:`.models` (the users tables, the
level drift), :mod:`.plots` (the histograms), :mod:`.view` (the panel).
"""
from __future__ import annotations

from ...lazy import lazy_exports

__all__ = [
    "DiagnosticsPanel", "DiagnosticsTableModel", "DiagnosticsState", "CountHistogram", "RunKey", "SOURCE",
    "KINDS", "K", "DEFAULT_USERS", "DEFAULT_BEAM", "run_diagnostics", "AuditUsersModel", "LevelDriftModel",
    "AuditResult", "run_audit",
]

# each name is imported from its module on first use: the view-model (.state) loads without Qt
__getattr__ = lazy_exports(__name__, {
    **dict.fromkeys(('DiagnosticsPanel', 'SOURCE'), '.view'),
    **dict.fromkeys(('DiagnosticsTableModel', 'AuditUsersModel', 'LevelDriftModel'), '.models'),
    **dict.fromkeys(('AuditResult', 'run_audit'), '.audits'),
    **dict.fromkeys(('DiagnosticsState', 'RunKey', 'KINDS', 'K', 'DEFAULT_USERS', 'DEFAULT_BEAM', 'run_diagnostics'), '.state'),
    **dict.fromkeys(('CountHistogram',), '.plots'),
})
