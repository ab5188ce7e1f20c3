"""Audit any generator's ranked lists against a project (``genrec audit``), and write ours in the
same format (``genrec eval --dump``).

**The generations file**: JSONL (one JSON object a line; blank lines are skipped) or Parquet (told
apart by the ``PAR1`` magic bytes), one row per user:

- ``user_id`` (int, required): a user of the project's dataset;
- ``ranked`` (list, required): the returned SIDs, best first, each in any spelling
  :func:`~genrec_engine.interop.sidtext.parse_sid` accepts (``[12, 7, 201]``,
  ``"<a_12><b_7><c_201>"``, ``["<a_12>", "<b_7>", "<c_201>"]``, ``"12-7-201"``);
- ``scores`` (list of numbers or null, optional): one per returned SID (null: unknown or
  ``-inf``); only checked (``rows_with_unsorted_scores``: rows whose known scores ever rise);
- ``target_item_id`` (int, optional): the held-out item; without it, the user's "test" (or
  "valid") target under the project's leave-one-out split (:func:`~genrec_engine.data.split.project_split`).

Problems name the file, the line (JSONL: the physical line; Parquet: the 1-based row) and the
field (``ranked[j]``: the j-th SID, 0-based).

**Resolving a SID.** A project's full SID has ``D = L + 1`` codes: ``L`` quantizer codes and the
collision level (``project.sids.codes``, ``[N, D]``). A returned SID of

- ``D`` codes names the item with exactly that SID;
- exactly ``L`` codes names its whole *collision group*: the items sharing those ``L`` codes, in
  catalogue order (a group of one is that item), as a ``keep-all`` table or a table exported
  without its all-zero collision level spells it (``SIDTable.public_codes``);
- any other length, or codes no item has, is **invalid** (names no item).

**Item-level lists** (``--collision-policy``): each returned SID becomes item slots, left to
right. A full SID gives its item; a group gives, under ``first``, the group's first item in
catalogue order, under ``all``, all its items in catalogue order in consecutive slots (so later
SIDs move down). Items already in the list are skipped. A SID that adds no new item (invalid, or
a **duplicate**: everything it gives is already listed) keeps its rank as one ``-1`` slot, which
matches no target and is ignored by coverage, homogeneity and popularity. These lists are scored
with :func:`~genrec_engine.train.metrics.summarize`, exactly as ``genrec eval`` scores its own:
Recall/NDCG@5/10/20 read the first 5/10/20 item slots, coverage/homogeneity/ILD/popularity the
first 10, whatever ``k``.

**SID-level** Recall/NDCG@k count each returned SID as one slot: a slot hits when the SID names
the target (its full SID, or its collision group), whatever the policy.

**Rates** over the first ``k`` returned SIDs of every list (``slots`` in all): ``invalid_rate``,
``duplicate_rate`` (policy-dependent, as above) and ``group_rate`` (SIDs of ``L`` codes naming a
collision group); all divide by ``slots``, not by ``users * k``, so a short list is not penalised.

**Level drift**: per level ``l`` of the top-1 SID (invalid or not; levels beyond its length are
not counted), the share of users whose code at ``l`` equals the target's, overall and split by
whether the SID's codes before ``l`` were all right.

**Per user** (:func:`audit_users`, for views that plot distributions): the same resolution, one
row per user in file order: the item list, invalid and duplicate SIDs among the first ``k``,
homogeneity@10 of the item list (its mean over users is ``item_level["homogeneity@10"]``), and
the target's item- and SID-level rank.

**Our lists** (:func:`ranked_rows`): the top-20 lists ``evaluate`` scores; an item's SID is its
row of ``project.sids.codes``, an unconstrained decode's invalid SID is written as decoded, and
padding slots (``-1`` with no SID) are omitted, so auditing the file gives back ``eval``'s
figures. (One known exception: with a cold-item holdout, an unconstrained decode that produces a
cold item's SID counts as invalid in ``eval``, whose trie leaves cold items out, and as that item
here.)
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ..errors import ConfigError, DataValidationError, Problem, check_int
from ..fileio import atomic_path
from ..jobs import CancelToken, ProgressFn, check_cancel, report
from .sidtext import SIDTextError, parse_sid

__all__ = [
    "POLICIES",
    "GenerationRow",
    "Generations",
    "SIDResolver",
    "AuditReport",
    "AuditUsers",
    "read_generations",
    "audit_generations",
    "audit_users",
    "ranked_rows",
    "write_generations",
]

POLICIES = ("first", "all")
WORST_USERS = 20  # users listed in ``worst_users``


@dataclass(frozen=True)
class GenerationRow:
    """One user's row. ``line``: 1-based JSONL line or Parquet row; ``ranked``: the parsed SIDs;
    ``scores``: one per SID (``None`` = null) or ``None`` when the row has none."""

    line: int
    user_id: int
    ranked: tuple[tuple[int, ...], ...]
    scores: tuple[float | None, ...] | None = None
    target_item_id: int | None = None


@dataclass(frozen=True)
class Generations:
    """A parsed generations file: ``format`` is ``"jsonl"`` or ``"parquet"``."""

    file: str
    format: str
    rows: tuple[GenerationRow, ...]


# ---- reading ----

def _int_field(value: Any) -> int | None:
    """``value`` as an int (an int, or a string of digits), else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _row(file: str, line: int, obj: dict, problems: list[Problem]) -> GenerationRow | None:
    """One validated row, or ``None`` with its problems appended."""
    n_before = len(problems)

    def bad(field: str | None, message: str) -> None:
        problems.append(Problem(file, line, field, message))

    user = obj.get("user_id")
    if user is None:
        bad("user_id", "missing user_id")
    elif _int_field(user) is None:
        bad("user_id", f"expected an integer user id, found {user!r}")
    ranked_raw = obj.get("ranked")
    ranked: list[tuple[int, ...]] = []
    if ranked_raw is None:
        bad("ranked", "missing ranked (the list of returned SIDs)")
    elif isinstance(ranked_raw, (str, bytes, dict)) or not hasattr(ranked_raw, "__len__"):
        bad("ranked", f"expected a list of SIDs, found {type(ranked_raw).__name__} {str(ranked_raw)[:60]!r}")
    else:
        for j, value in enumerate(ranked_raw):
            try:
                ranked.append(parse_sid(value))
            except SIDTextError as exc:
                bad(f"ranked[{j}]", str(exc))
                break
    scores_raw = obj.get("scores")
    scores = None
    if scores_raw is not None:
        if isinstance(scores_raw, (str, bytes, dict)) or not hasattr(scores_raw, "__len__"):
            bad("scores", f"expected a list of numbers, found {type(scores_raw).__name__}")
        else:
            wrong = [s for s in scores_raw if s is not None and (isinstance(s, bool) or not isinstance(s, (int, float)))]
            if wrong:
                bad("scores", f"expected numbers or null, found {wrong[0]!r}")
            elif ranked_raw is not None and hasattr(ranked_raw, "__len__") and len(scores_raw) != len(ranked_raw):
                bad("scores", f"{len(scores_raw)} scores for {len(ranked_raw)} ranked SIDs")
            else:
                scores = tuple(None if s is None else float(s) for s in scores_raw)
    target_raw = obj.get("target_item_id")
    if target_raw is not None and _int_field(target_raw) is None:
        bad("target_item_id", f"expected an integer item id, found {target_raw!r}")
    if len(problems) > n_before:
        return None
    return GenerationRow(line=line, user_id=_int_field(user), ranked=tuple(ranked), scores=scores,
                         target_item_id=None if target_raw is None else _int_field(target_raw))


def _jsonl_objects(path: Path, file: str, problems: list[Problem]) -> Iterable[tuple[int, dict]]:
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                problems.append(Problem(file, number, None, "not valid UTF-8"))
                continue
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                problems.append(Problem(file, number, None, f"bad JSON: {exc.msg} (column {exc.colno})"))
                continue
            if not isinstance(obj, dict):
                problems.append(Problem(file, number, None, f"expected a JSON object, found {type(obj).__name__}"))
                continue
            yield number, obj


def _parquet_objects(path: Path, file: str, problems: list[Problem]) -> Iterable[tuple[int, dict]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        problems.append(Problem(file, None, None, f"not a readable Parquet file: {str(exc).splitlines()[0][:200]}"))
        return
    for name in ("user_id", "ranked"):
        if name not in table.column_names:
            problems.append(Problem(file, None, name, f"missing column {name!r} (columns: {', '.join(table.column_names)})"))
    if problems:
        return
    cols = {name: table.column(name).to_pylist() for name in ("user_id", "ranked", "scores", "target_item_id")
            if name in table.column_names}
    for r in range(table.num_rows):
        yield r + 1, {name: values[r] for name, values in cols.items()}


def read_generations(path: str | os.PathLike, *, cancel: CancelToken | None = None) -> Generations:
    """Parse and check a generations file (see the module docstring); every problem found raises
    one :class:`DataValidationError` (duplicate users included), naming file, line and field."""
    file = str(path)
    path = Path(path)
    if not path.is_file():
        raise DataValidationError([Problem(file, None, None, "no such file" if not path.exists() else "not a file")])
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise DataValidationError([Problem(file, None, None, f"cannot read: {exc.strerror}")]) from None
    fmt = "parquet" if magic == b"PAR1" else "jsonl"
    problems: list[Problem] = []
    objects = _parquet_objects(path, file, problems) if fmt == "parquet" else _jsonl_objects(path, file, problems)
    rows: list[GenerationRow] = []
    first_line: dict[int, int] = {}
    for number, obj in objects:
        if number % 4096 == 0:
            check_cancel(cancel)
        row = _row(file, number, obj, problems)
        if row is None:
            continue
        if row.user_id in first_line:
            earlier = f"{'line' if fmt == 'jsonl' else 'row'} {first_line[row.user_id]}"
            problems.append(Problem(file, number, "user_id", f"user {row.user_id} already has a row ({earlier})"))
            continue
        first_line[row.user_id] = number
        rows.append(row)
    if not rows and not problems:
        problems.append(Problem(file, None, None, "no rows"))
    if problems:
        raise DataValidationError(problems)
    return Generations(file=file, format=fmt, rows=tuple(rows))


# ---- resolving SIDs ----

class SIDResolver:
    """Maps a returned SID to the items it names (see the module docstring).

    ``codes``: int ``[N, D]`` the project's full SIDs (row = item index, last column = collision
    level)."""

    def __init__(self, codes: np.ndarray):
        codes = np.asarray(codes, dtype=np.int64)
        if codes.ndim != 2 or codes.shape[1] < 1:
            raise ConfigError(f"codes: expected a 2-D array [N, D], got shape {codes.shape}")
        self.depth = int(codes.shape[1])
        rows = [tuple(r) for r in codes.tolist()]
        self.full = {r: i for i, r in enumerate(rows)}
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, r in enumerate(rows):  # ascending index = catalogue order
            groups.setdefault(r[:-1], []).append(i)
        self.groups = {g: tuple(v) for g, v in groups.items()}

    def items(self, sid: tuple[int, ...]) -> tuple[int, ...]:
        """Item indices named by ``sid``: one for a full SID, the collision group (catalogue
        order) for ``D - 1`` codes, ``()`` for an invalid SID."""
        if len(sid) == self.depth:
            i = self.full.get(sid)
            return () if i is None else (i,)
        if len(sid) == self.depth - 1:
            return self.groups.get(sid, ())
        return ()


# ---- auditing ----

@dataclass(frozen=True)
class AuditReport:
    """What ``genrec audit`` prints (:meth:`to_dict`); see the module docstring for definitions.

    ``sid_level``: Recall/NDCG@5/10/20 with one slot per returned SID; ``item_level``:
    :func:`~genrec_engine.train.metrics.summarize` of the item lists (recall/ndcg@5/10/20,
    coverage@10, homogeneity@10, ild@10, popularity@10, users); ``level_drift``: one dict per SID
    level; ``worst_users``: the users with the most invalid + duplicate SIDs among their first
    ``k`` (at most 20, only those with any), most first, ties in file order; their ``line`` is
    the JSONL line or the Parquet row."""

    file: str
    format: str
    project: str
    rows: int
    users: int
    k: int
    policy: str
    split: str
    targets_from_file: int
    slots: int
    invalid_rate: float
    duplicate_rate: float
    group_rate: float
    sid_level: dict
    item_level: dict
    level_drift: list
    worst_users: list
    rows_with_scores: int
    rows_with_unsorted_scores: int

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _item_list(named: list[tuple[int, ...]], policy: str) -> tuple[list[int], list[str]]:
    """The item-level list of one user's resolved SIDs and each SID's status (``"ok"``,
    ``"invalid"``, ``"duplicate"``)."""
    out: list[int] = []
    status: list[str] = []
    seen: set[int] = set()
    for items in named:
        if not items:
            out.append(-1)
            status.append("invalid")
            continue
        new = [i for i in (items[:1] if policy == "first" else items) if i not in seen]
        if not new:
            out.append(-1)
            status.append("duplicate")
            continue
        out.extend(new)
        seen.update(new)
        status.append("ok")
    return out, status


def _padded(lists: list[list[int]]) -> np.ndarray:
    """int64 ``[U, max length]``, ``-1`` padding."""
    width = max((len(x) for x in lists), default=0)
    out = np.full((len(lists), width), -1, dtype=np.int64)
    for u, x in enumerate(lists):
        out[u, : len(x)] = x
    return out


def _share(num: int, den: int) -> float | None:
    return None if den == 0 else num / den


def _level_drift(top1: list[tuple[int, ...] | None], target_sids: np.ndarray) -> list[dict]:
    """Per level: how often the top-1 SID's code equals the target's, overall and split by
    whether the codes before it were right. ``target_sids`` int ``[U, D]``."""
    depth = target_sids.shape[1]
    n = np.zeros((depth, 3), dtype=np.int64)  # users: all, prefix right, prefix wrong
    c = np.zeros((depth, 3), dtype=np.int64)  # of those, code right
    for s, t in zip(top1, target_sids.tolist()):
        if s is None:
            continue
        prefix_ok = True
        for level in range(min(len(s), depth)):
            right = s[level] == t[level]
            col = 1 if prefix_ok else 2
            n[level, 0] += 1
            n[level, col] += 1
            c[level, 0] += right
            c[level, col] += right
            prefix_ok = prefix_ok and right
    return [{
        "level": level + 1,
        "kind": "collision" if level == depth - 1 else "code",
        "users": int(n[level, 0]),
        "accuracy": _share(int(c[level, 0]), int(n[level, 0])),
        "prefix_right_users": int(n[level, 1]),
        "prefix_right_accuracy": _share(int(c[level, 1]), int(n[level, 1])),
        "prefix_wrong_users": int(n[level, 2]),
        "prefix_wrong_accuracy": _share(int(c[level, 2]), int(n[level, 2])),
    } for level in range(depth)]


def _read_and_target(project, generations, policy: str, split: str, cancel):
    """What :func:`audit_generations` and :func:`audit_users` share: the checked arguments, the
    generations read, the project's split and each row's target item index ``[rows]`` (the
    row's ``target_item_id``, else the user's split target). Unknown users or items raise
    DataValidationError naming every such row."""
    from ..data import project_split

    if policy not in POLICIES:
        raise ConfigError(f"policy: {policy!r} is not one of {', '.join(POLICIES)}")
    if split not in ("test", "valid"):
        raise ConfigError(f"split: {split!r}: expected 'test' or 'valid'")
    gen = generations if isinstance(generations, Generations) else read_generations(generations, cancel=cancel)
    sp = project_split(project)
    user_pos = {int(u): i for i, u in enumerate(np.asarray(sp.user_ids).tolist())}
    item_pos = {int(t): i for i, t in enumerate(np.asarray(project.sids.item_ids).tolist())}
    split_targets = np.asarray(sp.test_target if split == "test" else sp.valid_target, dtype=np.int64)
    problems: list[Problem] = []
    targets = np.zeros(len(gen.rows), dtype=np.int64)
    for u, row in enumerate(gen.rows):
        pos = user_pos.get(row.user_id)
        if pos is None:
            problems.append(Problem(gen.file, row.line, "user_id", f"user {row.user_id} is not in the project's dataset"))
        elif row.target_item_id is None:
            targets[u] = split_targets[pos]
        elif row.target_item_id in item_pos:
            targets[u] = item_pos[row.target_item_id]
        else:
            problems.append(Problem(gen.file, row.line, "target_item_id",
                                    f"item {row.target_item_id} is not in the project's catalogue"))
    if problems:
        raise DataValidationError(problems)
    return gen, sp, targets


def audit_generations(
    project,
    generations: str | os.PathLike | Generations,
    *,
    k: int = 10,
    policy: str = "first",
    split: str = "test",
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> AuditReport:
    """Audit a generations file (or a parsed :class:`Generations`) against ``project``.

    Every row's user must be in the project's dataset and its ``target_item_id`` (if given) in its
    catalogue; otherwise one :class:`DataValidationError` names file, line and field."""
    from ..train.evaluate import item_counts
    from ..train.metrics import ndcg_at_k, recall_at_k, summarize

    k = check_int("k", k, 1)
    gen, sp, targets = _read_and_target(project, generations, policy, split, cancel)
    report(progress, 0.1, f"read {len(gen.rows)} rows")
    codes = np.asarray(project.sids.codes, dtype=np.int64)
    n_items = int(codes.shape[0])

    resolver = SIDResolver(codes)
    item_lists: list[list[int]] = []
    sid_hits: list[list[int]] = []
    top1: list[tuple[int, ...] | None] = []
    slots = invalid = duplicate = group = 0
    worst: list[tuple[int, int, int, int, int, int]] = []  # (-bad, order, line, user, invalid, duplicate)
    unsorted = 0
    for u, row in enumerate(gen.rows):
        if u % 1024 == 0:
            check_cancel(cancel)
            report(progress, 0.1 + 0.8 * u / len(gen.rows), f"audited {u}/{len(gen.rows)} users")
        named = [resolver.items(s) for s in row.ranked]
        items, status = _item_list(named, policy)
        item_lists.append(items)
        target = int(targets[u])
        hit = next((j for j, names in enumerate(named) if target in names), None)
        hits = [-1] * len(named)
        if hit is not None:
            hits[hit] = target
        sid_hits.append(hits)
        top1.append(row.ranked[0] if row.ranked else None)
        head = status[:k]
        n_inv, n_dup = head.count("invalid"), head.count("duplicate")
        slots += len(head)
        invalid += n_inv
        duplicate += n_dup
        group += sum(1 for s, names in zip(row.ranked[:k], named[:k]) if names and len(s) == resolver.depth - 1)
        if n_inv + n_dup:
            worst.append((-(n_inv + n_dup), u, row.line, row.user_id, n_inv, n_dup))
        if row.scores is not None:
            s = [x for x in row.scores if x is not None]  # null: unknown, left out of the order check
            unsorted += any(b > a for a, b in zip(s, s[1:]))

    report(progress, 0.9, "scoring")
    ranked = _padded(item_lists)
    item_level = summarize(ranked, targets, sids=codes, n_items=n_items, item_embeddings=project.embeddings,
                           item_counts=item_counts(sp, n_items))
    item_level.pop("invalid_rate", None)  # counted per SID above
    sid_ranked = _padded(sid_hits)
    sid_level = {**recall_at_k(sid_ranked, targets), **ndcg_at_k(sid_ranked, targets)}
    worst.sort()
    report(progress, 1.0, "done")
    return AuditReport(
        file=gen.file,
        format=gen.format,
        project=str(project.path),
        rows=len(gen.rows),
        users=len(gen.rows),
        k=k,
        policy=policy,
        split=split,
        targets_from_file=sum(r.target_item_id is not None for r in gen.rows),
        slots=slots,
        invalid_rate=_share(invalid, slots) or 0.0,
        duplicate_rate=_share(duplicate, slots) or 0.0,
        group_rate=_share(group, slots) or 0.0,
        sid_level=sid_level,
        item_level=item_level,
        level_drift=_level_drift(top1, codes[targets]),
        worst_users=[{"user_id": user, "line": line, "invalid": n_inv, "duplicate": n_dup,
                      "returned": len(gen.rows[order].ranked)}
                     for _, order, line, user, n_inv, n_dup in worst[:WORST_USERS]],
        rows_with_scores=sum(r.scores is not None for r in gen.rows),
        rows_with_unsorted_scores=int(unsorted),
    )


@dataclass(frozen=True, eq=False)
class AuditUsers:
    """Per-user figures of an audit (:func:`audit_users`), one row per file row ``U``, file order.

    ``user_ids`` int64 ``[U]`` the dataset's user ids; ``lines`` int64 ``[U]`` the JSONL line or
    Parquet row; ``targets`` int64 ``[U]`` the target's item index; ``returned`` int64 ``[U]`` SIDs
    in the row; ``invalid`` / ``duplicate`` int64 ``[U]`` such SIDs among the first ``k``;
    ``items`` int64 ``[U, W]`` the item-level list (``W`` = the longest; ``-1``: an invalid or
    duplicate SID's slot, or padding); ``item_rank`` / ``sid_rank`` int64 ``[U]`` the target's
    1-based rank in the item list / among the returned SIDs (``-1``: absent); ``homogeneity``
    float64 ``[U]`` share of the first 10 item slots' valid items held by their most common first
    code (NaN: no valid item), ``dominant_prefix`` int64 ``[U]`` that code (``-1``: none),
    ``prefixes`` int64 ``[U]`` distinct first codes there (as
    :func:`~genrec_engine.analysis.homogeneity_per_user` defines them)."""

    file: str
    k: int
    policy: str
    split: str
    user_ids: np.ndarray
    lines: np.ndarray
    targets: np.ndarray
    returned: np.ndarray
    invalid: np.ndarray
    duplicate: np.ndarray
    items: np.ndarray
    item_rank: np.ndarray
    sid_rank: np.ndarray
    homogeneity: np.ndarray
    dominant_prefix: np.ndarray
    prefixes: np.ndarray

    def __len__(self) -> int:
        return int(self.user_ids.shape[0])

    def worst(self) -> np.ndarray:
        """Rows with the most invalid + duplicate SIDs first, ties in file order: int64 ``[U]``
        (its first rows are :attr:`AuditReport.worst_users`)."""
        return np.argsort(-(self.invalid + self.duplicate), kind="stable").astype(np.int64)


def _rank(lists: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """1-based rank of each row's target in ``lists`` ``[U, W]``, ``-1`` when absent: int64 ``[U]``."""
    if lists.shape[1] == 0:
        return np.full(lists.shape[0], -1, dtype=np.int64)
    hit = (lists == targets[:, None]) & (lists >= 0)
    return np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, -1).astype(np.int64)


def audit_users(
    project,
    generations: str | os.PathLike | Generations,
    *,
    k: int = 10,
    policy: str = "first",
    split: str = "test",
    cancel: CancelToken | None = None,
) -> AuditUsers:
    """Per-user figures of the audit :func:`audit_generations` makes with the same arguments
    (see :class:`AuditUsers`); the same checks raise the same errors."""
    from ..analysis.diagnostics import homogeneity_per_user

    k = check_int("k", k, 1)
    gen, _sp, targets = _read_and_target(project, generations, policy, split, cancel)
    codes = np.asarray(project.sids.codes, dtype=np.int64)

    resolver = SIDResolver(codes)
    U = len(gen.rows)
    invalid = np.zeros(U, dtype=np.int64)
    duplicate = np.zeros(U, dtype=np.int64)
    sid_rank = np.full(U, -1, dtype=np.int64)
    item_lists: list[list[int]] = []
    for u, row in enumerate(gen.rows):
        if u % 1024 == 0:
            check_cancel(cancel)
        named = [resolver.items(s) for s in row.ranked]
        items, status = _item_list(named, policy)
        item_lists.append(items)
        head = status[:k]
        invalid[u], duplicate[u] = head.count("invalid"), head.count("duplicate")
        hit = next((j for j, names in enumerate(named) if int(targets[u]) in names), None)
        if hit is not None:
            sid_rank[u] = hit + 1
    lists = _padded(item_lists)
    share, dominant, distinct = homogeneity_per_user(lists, codes, 10)
    return AuditUsers(
        file=gen.file, k=k, policy=policy, split=split,
        user_ids=np.array([r.user_id for r in gen.rows], dtype=np.int64),
        lines=np.array([r.line for r in gen.rows], dtype=np.int64),
        targets=targets,
        returned=np.array([len(r.ranked) for r in gen.rows], dtype=np.int64),
        invalid=invalid, duplicate=duplicate, items=lists, item_rank=_rank(lists, targets), sid_rank=sid_rank,
        homogeneity=share, dominant_prefix=dominant, prefixes=distinct,
    )


# ---- writing ----

def ranked_rows(lists, *, user_ids: np.ndarray, item_ids: np.ndarray, codes: np.ndarray) -> list[dict]:
    """Generations rows of a :class:`~genrec_engine.train.evaluate.RankedLists`: per user
    ``{"user_id", "target_item_id", "ranked", "scores"}``.

    ``user_ids``: the split's user ids (indexed by ``lists.rows``); ``item_ids`` ``[N]`` and
    ``codes`` ``[N, D]``: the project's SID table. A listed item is written as its row of
    ``codes``, an invalid decoded SID as decoded, and padding is omitted; a non-finite score is
    written as null."""
    codes = np.asarray(codes, dtype=np.int64)
    user_ids = np.asarray(user_ids)
    item_ids = np.asarray(item_ids)
    items = np.asarray(lists.items, dtype=np.int64)
    scores = np.asarray(lists.scores, dtype=np.float64)
    sids = None if lists.sids is None else np.asarray(lists.sids, dtype=np.int64)
    targets = np.asarray(lists.targets, dtype=np.int64)
    out = []
    for u, row in enumerate(np.asarray(lists.rows).tolist()):
        ranked, sc = [], []
        for j, item in enumerate(items[u].tolist()):
            if item >= 0:
                ranked.append(codes[item].tolist())
            elif sids is not None and (sids[u, j] >= 0).all():
                ranked.append(sids[u, j].tolist())
            else:
                continue  # padding
            sc.append(float(scores[u, j]) if math.isfinite(scores[u, j]) else None)
        rec = {"user_id": int(user_ids[row])}
        if targets.size:
            rec["target_item_id"] = int(item_ids[targets[u]])
        rec["ranked"] = ranked
        rec["scores"] = sc
        out.append(rec)
    return out


def write_generations(path: str | os.PathLike, rows: Iterable[dict]) -> int:
    """Write ``rows`` as a JSONL generations file, atomically; returns the number of rows."""
    n = 0
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            for rec in rows:
                fh.write(json.dumps(rec, separators=(",", ":")) + "\n")
                n += 1
    return n
