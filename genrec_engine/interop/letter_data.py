"""Import a catalogue in the LETTER / LC-Rec / MiniOneRec layout as a dataset folder.

Source folder:

* ``<name>.item.json``, exactly one: ``{"<index>": {"title": ..., "description": ...,
  "brand": ..., "categories": ...}}``. Keys are the item indices (integers written as strings,
  from 0); every field may be missing, null or empty. ``categories`` is a string (kept as it is,
  e.g. LETTER's comma-joined ``"Musical Instruments,Guitar Accessories"``), a list of level
  names (one path, joined with ``" > "``) or a list of paths (each a list of levels).
* The interactions, either

  - ``<name>.inter.json``: ``{"<user>": [item index, ...]}``, oldest first; or
  - MiniOneRec CSV files: every ``*.csv`` in the folder (or, when it has none, in its
    ``train/``, ``valid/``, ``test/`` subfolders), with the columns ``user_id``,
    ``history_item_id`` (a list of item indices written like ``"[3, 17, 5]"``) and ``item_id``
    (the target), one row per prediction target; other columns are ignored.

  When both are present the ``inter.json`` is used and the CSV files are listed as ignored.

CSV rows are merged back into one sequence per user. A row's history followed by its target is a
prefix of the user's sequence, so the longest row is the sequence and the shorter ones are merged
into it. MiniOneRec caps histories at a window of the last K items (K = 10); when some user has
several different rows with the longest history length K, the rows of length K are read as
windows: each one either lies inside the sequence rebuilt so far or continues it by its target.
A row that fits neither way is an error naming its file and line.

User ids that are all integers are kept. Ids that share a letter prefix before digits
(MiniOneRec writes ``"A17"`` for LETTER user 17) keep their number; any other ids are numbered
0, 1, ... in order of first appearance. The summary says which (``user_ids``).

Output folder (see ``resources/datasets/beauty/README.md``): ``items.jsonl`` (item_id = the
LETTER index, title, brand, categories, description) and ``interactions.csv`` (user_id, item_id,
position; position 0-based per user, oldest first). Item ids stay the LETTER indices, so SID
tables and generation files that name items by index match the dataset without translation.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.catalogue import Catalogue, join_category_paths, normalise_categories
from ..data.dataset import Interactions, save_dataset
from ..data.readers import ProblemLog, read_table
from ..errors import ConfigError, DataValidationError, Problem
from ..jobs import CancelToken, ProgressFn, check_cancel, report

__all__ = ["import_letter"]

CSV_COLUMNS = ("user_id", "history_item_id", "item_id")  # required; others are ignored
_TEXT_FIELDS = ("title", "brand", "description")
_SPLIT_RANK = {"train": 0, "valid": 1, "val": 1, "validation": 1, "dev": 1, "test": 2}  # file order
_INT = re.compile(r"[+-]?\d+\Z")
_PREFIXED = re.compile(r"([^\W\d]+)(\d+)\Z")  # "A17": letters, then the number
_SHOWN = 60  # characters of a bad value quoted in a message


class _Pairs(list):
    """A JSON object as its list of (key, value) pairs, so repeated keys are not lost."""


@dataclass(frozen=True)
class _Row:
    """One CSV row: a history (item ids, oldest first), its target, and where it was read."""

    history: tuple[int, ...]
    target: int
    file: str
    line: int

    @property
    def segment(self) -> tuple[int, ...]:
        return self.history + (self.target,)


def import_letter(src, out, progress: ProgressFn | None = None, *,
                  cancel: CancelToken | None = None) -> dict:
    """Convert the LETTER / LC-Rec / MiniOneRec catalogue in ``src`` into a dataset folder ``out``.

    Raises :class:`DataValidationError` listing the problems (each naming its file and line or
    JSON key) when the source is incomplete or malformed; nothing is written then. Like
    :func:`~genrec_engine.data.import_amazon`, an existing ``out`` folder keeps its other files
    and its items/interactions files are replaced.

    Returns a summary: ``users``, ``items``, ``interactions``, ``rows`` (CSV rows read, or users
    of the inter.json), ``rows_merged`` (rows whose interactions another row of the same user
    already holds), ``rows_windowed`` (rows placed as a sliding window, not a prefix),
    ``history_window`` (K when histories were read as windows, else None), ``rows_per_file``,
    ``item_file``, ``interaction_files``, ``ignored_files``, ``user_ids`` (how user ids were
    kept), ``items_without_title``, ``items_without_interactions``, ``shortest_sequence`` and
    the two ``files`` written.
    """
    source = Path(src)
    target = Path(out)
    report(progress, 0.0, "finding source files")
    if target.exists() and not target.is_dir():
        raise ConfigError(f"output folder {target} is a file; give a folder")
    item_path, inter_path, csv_paths, ignored = _find_sources(source)

    check_cancel(cancel)
    report(progress, 0.05, f"reading {item_path.name}")
    log = ProblemLog()
    items = _read_items(item_path, log)
    if log.has_errors:
        raise DataValidationError(log.problems)

    check_cancel(cancel)
    known = set(items["item_id"].tolist())
    if inter_path is not None:
        report(progress, 0.2, f"reading {inter_path.name}")
        user_sequences, user_ids_how = _read_inter_json(inter_path, item_path.name, known, log)
        stats = {"rows": len(user_sequences), "rows_merged": 0, "rows_windowed": 0,
                 "history_window": None, "rows_per_file": {inter_path.name: len(user_sequences)}}
        interaction_files = [inter_path.name]
    else:
        rows_by_user, names, rows_per_file, user_ids_how = _read_csv_rows(
            source, csv_paths, item_path.name, known, log, progress, cancel)
        if log.has_errors:
            raise DataValidationError(log.problems)
        report(progress, 0.6, "rebuilding the sequences")
        user_sequences, stats = _rebuild(rows_by_user, names, log, cancel)
        stats["rows_per_file"] = rows_per_file
        interaction_files = list(rows_per_file)
    if log.has_errors:
        raise DataValidationError(log.problems)
    if not any(user_sequences.values()):
        raise DataValidationError([Problem(interaction_files[0], None, None, "no interactions in the file(s)")])

    check_cancel(cancel)
    report(progress, 0.8, "writing the dataset")
    catalogue = Catalogue(items)
    users, item_ids, positions = _flatten(user_sequences)
    interactions = Interactions.from_arrays(catalogue, users, item_ids, positions=positions)
    written = save_dataset(catalogue, interactions, target, items_format="jsonl", interactions_format="csv")
    report(progress, 1.0, "done")
    lengths = [len(s) for s in user_sequences.values() if s]
    return {
        "users": len(lengths),
        "items": len(catalogue),
        "interactions": len(interactions),
        **stats,
        "item_file": item_path.name,
        "interaction_files": interaction_files,
        "ignored_files": ignored,
        "user_ids": user_ids_how,
        "items_without_title": int((catalogue.items["title"] == "").sum()),
        "items_without_interactions": int(len(catalogue) - len(np.unique(item_ids))),
        "shortest_sequence": min(lengths),
        "files": [str(p) for p in written],
    }


# -- finding the files --------------------------------------------------------------------------
def _find_sources(src: Path) -> tuple[Path, Path | None, list[Path], list[str]]:
    """The item.json, then the inter.json or the CSV files (in split order), then ignored names."""
    if not src.is_dir():
        what = "is not a folder" if src.exists() else "does not exist"
        raise DataValidationError([Problem(str(src), None, None, f"source folder {what}")])
    problems = []
    item_files = sorted(src.glob("*.item.json"))
    if len(item_files) != 1:
        found = ", ".join(p.name for p in item_files) or "none"
        problems.append(Problem("*.item.json", None, None,
                                f"expected exactly one <name>.item.json in {src}, found: {found}"))
    inter_files = sorted(src.glob("*.inter.json"))
    csv_files = sorted(src.glob("*.csv"))
    if not csv_files:
        csv_files = sorted(p for p in src.glob("*/*.csv") if p.parent.name.lower() in _SPLIT_RANK)
    csv_files.sort(key=lambda p: (_split_rank(p.relative_to(src)), p.relative_to(src).as_posix()))
    if len(inter_files) > 1:
        names = ", ".join(p.name for p in inter_files)
        problems.append(Problem("*.inter.json", None, None,
                                f"expected at most one <name>.inter.json in {src}, found: {names}"))
    elif not inter_files and not csv_files:
        problems.append(Problem("*.inter.json", None, None,
                                f"missing file: no interactions in {src} (expected <name>.inter.json "
                                f"or MiniOneRec *.csv files)"))
    if problems:
        raise DataValidationError(problems)
    if inter_files:
        return item_files[0], inter_files[0], [], [p.relative_to(src).as_posix() for p in csv_files]
    return item_files[0], None, csv_files, []


def _split_rank(relative: Path) -> int:
    """0 for train files, 1 for validation, 2 for test, 3 for anything else (from the name)."""
    words = re.split(r"[^a-z]+", relative.as_posix().lower())
    return min((_SPLIT_RANK[w] for w in words if w in _SPLIT_RANK), default=3)


# -- item.json ----------------------------------------------------------------------------------
def _load_json(path: Path, log: ProblemLog):
    """The parsed file with objects as :class:`_Pairs`, or None (with a problem)."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        log.add(path.name, line, None, "not valid UTF-8 (save the file as UTF-8)")
        return None
    try:
        return json.loads(text, object_pairs_hook=_Pairs)
    except json.JSONDecodeError as exc:
        log.add(path.name, exc.lineno, None, f"not valid JSON: {exc.msg} (column {exc.colno})")
        return None


def _read_items(path: Path, log: ProblemLog) -> pd.DataFrame:
    """Items sorted by index: item_id, title, brand, categories (string form), description."""
    name = path.name
    columns = ["item_id", "title", "brand", "categories", "description"]
    data = _load_json(path, log)
    if data is None:
        return pd.DataFrame(columns=columns)
    if not isinstance(data, _Pairs):
        log.add(name, 1, None, "expected a JSON object mapping each item index to its fields")
        return pd.DataFrame(columns=columns)
    rows, seen = [], {}
    for key, record in data:
        where = f'"{key}"'
        index = _as_int(key)
        if index is None:
            log.add(name, None, where, f"item keys must be integer indices, found {_show(key)}")
            continue
        if index in seen:
            log.add(name, None, where, f"item {index} appears again (first as key \"{seen[index]}\")")
            continue
        seen[index] = key
        if not isinstance(record, _Pairs):
            log.add(name, None, where, f"expected an object of fields, found {_show(record)}")
            continue
        fields = dict(record)
        try:
            row = {"item_id": index, **{f: _text(fields.get(f), f) for f in _TEXT_FIELDS},
                   "categories": _categories(fields.get("categories"))}
        except TypeError as exc:
            log.add(name, None, where, str(exc))
            continue
        if not (row["title"] or row["brand"] or row["categories"]):
            log.add(name, None, where, f"item {index} has no title, brand or categories, so nothing "
                                       f"describes it (the dataset format needs one of them)")
            continue
        rows.append(row)
    if not data:
        log.add(name, None, None, "no items: the object is empty")
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values("item_id", kind="stable").reset_index(drop=True)


def _text(value, field: str) -> str:
    """A text field as a stripped string (``""`` for null; lists of strings joined by spaces)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return " ".join(v.strip() for v in value if v.strip())
    raise TypeError(f"{field}: expected a string, found {_show(value)}")


def _categories(value) -> str:
    """The string form: a list of level names is ONE path; a list of lists (or of ``"A > B"``
    strings) is several paths."""
    if isinstance(value, list) and value and all(isinstance(v, str) and ">" not in v for v in value):
        return join_category_paths([[v.strip() for v in value if v.strip()]])
    if isinstance(value, _Pairs):
        raise TypeError(f"categories: expected a string or a list, found {_show(value)}")
    return normalise_categories(value)  # its TypeError names the categories


# -- inter.json ---------------------------------------------------------------------------------
def _read_inter_json(path: Path, items_file: str, known: set[int],
                     log: ProblemLog) -> tuple[dict[int, list[int]], str]:
    """``{user id: [item id, ...]}`` oldest first, and how the user ids were kept."""
    name = path.name
    data = _load_json(path, log)
    if data is None:
        return {}, "as written"
    if not isinstance(data, _Pairs):
        log.add(name, 1, None, "expected a JSON object mapping each user to a list of item indices")
        return {}, "as written"
    numbering, how = _number_users([key for key, _ in data])
    sequences: dict[int, list[int]] = {}
    first_key: dict[int, str] = {}
    for key, value in data:
        where = f'"{key}"'
        user = numbering[key]
        if user in first_key:
            log.add(name, None, where, f"user {user} appears again (first as key \"{first_key[user]}\")")
            continue
        first_key[user] = key
        if not isinstance(value, list):
            log.add(name, None, where, f"expected a list of item indices, found {_show(value)}")
            continue
        sequence = []
        for position, item in enumerate(value):
            item_id = _as_int(item)
            if item_id is None:
                log.add(name, None, where, f"entry {position}: item indices must be integers, found {_show(item)}")
                break
            sequence.append(item_id)
        else:
            unknown = [i for i in dict.fromkeys(sequence) if i not in known]
            if unknown:
                log.add(name, None, where, f"item(s) {', '.join(map(str, unknown))} not in {items_file}")
            sequences[user] = sequence
    if not data:
        log.add(name, None, None, "no users: the object is empty")
    return sequences, how


# -- CSV files ----------------------------------------------------------------------------------
def _read_csv_rows(src: Path, paths: list[Path], items_file: str, known: set[int], log: ProblemLog,
                   progress: ProgressFn | None, cancel: CancelToken | None):
    """Rows grouped by user id (each user's rows in file order), each user id's spelling in the
    files, the rows per file, and how user ids were kept."""
    raw_rows: list[tuple[str, _Row]] = []  # (user id as written, row)
    rows_per_file: dict[str, int] = {}
    for k, path in enumerate(paths):
        check_cancel(cancel)
        name = path.relative_to(src).as_posix()
        report(progress, 0.2 + 0.4 * k / len(paths), f"reading {name}")
        sub = ProblemLog()
        table = read_table(path, sub)
        log.problems.extend(replace(p, file=name) for p in sub.problems)  # the relative name
        if table is None:
            continue
        missing = [c for c in CSV_COLUMNS if c not in table.frame.columns]
        if missing:
            log.add(name, 1, None, f"missing column(s) {', '.join(missing)} (MiniOneRec CSV files need "
                                   f"{', '.join(CSV_COLUMNS)})")
            continue
        rows_per_file[name] = len(table.frame)
        columns = [table.frame[c].tolist() for c in CSV_COLUMNS]
        for user, history_text, target_text, line in zip(*columns, table.lines.tolist()):
            row = _parse_row(name, int(line), user, history_text, target_text, items_file, known, log)
            if row is not None:
                raw_rows.append((user.strip(), row))
    numbering, how = _number_users(list(dict.fromkeys(user for user, _ in raw_rows)))
    by_user: dict[int, list[_Row]] = {}
    names: dict[int, str] = {}
    for user, row in raw_rows:
        by_user.setdefault(numbering[user], []).append(row)
        names.setdefault(numbering[user], user)
    return by_user, names, rows_per_file, how


def _parse_row(file: str, line: int, user: str, history_text: str, target_text: str, items_file: str,
               known: set[int], log: ProblemLog) -> _Row | None:
    """One CSV row as a :class:`_Row`, or None with its problems in ``log``."""
    if not user.strip():
        log.add(file, line, "user_id", "missing user_id")
        return None
    target = _as_int(target_text)
    if target is None:
        log.add(file, line, "item_id", f"item_id must be an integer item index, found {_show(target_text)}")
        return None
    history = _parse_history(history_text)
    if history is None:
        log.add(file, line, "history_item_id",
                f"cannot read {_show(history_text)} as a list of integer item indices (like \"[3, 17, 5]\")")
        return None
    bad = [i for i in (*history, target) if i not in known]
    if bad:
        field = "item_id" if bad == [target] else "history_item_id"
        shown = ", ".join(str(i) for i in dict.fromkeys(bad))
        log.add(file, line, field, f"item(s) {shown} not in {items_file}")
        return None
    return _Row(history, target, file, line)


def _parse_history(text: str) -> tuple[int, ...] | None:
    """``"[3, 17, 5]"`` (also ``"[3 17 5]"``, ``"['3', '17']"``, ``"(3, 17)"``) -> (3, 17, 5)."""
    text = text.strip()
    if len(text) < 2 or (text[0], text[-1]) not in (("[", "]"), ("(", ")")):
        return None
    values = []
    for token in re.split(r"[,\s]+", text[1:-1].strip()):
        if not token:
            continue
        value = _as_int(token.strip("'\""))
        if value is None:
            return None
        values.append(value)
    return tuple(values)


# -- rebuilding the sequences -------------------------------------------------------------------
def _rebuild(rows_by_user: dict[int, list[_Row]], names: dict[int, str], log: ProblemLog,
             cancel: CancelToken | None) -> tuple[dict[int, list[int]], dict]:
    """One sequence per user from its rows, and the counts of the summary. ``names``: each
    user id as the files spell it, for the messages."""
    window = _history_window(rows_by_user)
    sequences: dict[int, list[int]] = {}
    merged = windowed = 0
    for k, (user, rows) in enumerate(rows_by_user.items()):
        if k % 1000 == 0:
            check_cancel(cancel)
        sequence, user_merged, user_windowed = _rebuild_user(names[user], rows, window, log)
        sequences[user] = sequence
        merged += user_merged
        windowed += user_windowed
    n_rows = sum(len(rows) for rows in rows_by_user.values())
    return sequences, {"rows": n_rows, "rows_merged": merged, "rows_windowed": windowed,
                       "history_window": window}


def _history_window(rows_by_user: dict[int, list[_Row]]) -> int | None:
    """K when histories look capped at K items (some user has two different rows with the
    longest history length K), else None (every history is a prefix)."""
    longest = max((len(r.history) for rows in rows_by_user.values() for r in rows), default=0)
    if longest == 0:
        return None
    for rows in rows_by_user.values():
        if len({r.segment for r in rows if len(r.history) == longest}) > 1:
            return longest
    return None


def _rebuild_user(user: str, rows: list[_Row], window: int | None,
                  log: ProblemLog) -> tuple[list[int], int, int]:
    """The user's sequence, the number of rows merged and the number placed as windows.

    Rows with a history shorter than ``window`` (all rows when ``window`` is None) are prefixes:
    the longest one is the sequence and every other one must be a prefix of it. Rows with a
    history of length ``window`` then either lie inside the sequence (merged), continue its last
    ``window`` items by their target, or, while the sequence is no longer than ``window``, extend
    it as a prefix; they are tried in file order until none fits any more.
    """
    prefix_rows = [r for r in rows if window is None or len(r.history) < window]
    window_rows = [r for r in rows if window is not None and len(r.history) == window]
    prefix_rows.sort(key=lambda r: -len(r.history))  # stable: ties stay in file order
    sequence: list[int] = []
    merged = windowed = 0
    if prefix_rows:
        longest = prefix_rows[0]
        sequence = list(longest.segment)
        for row in prefix_rows[1:]:
            if tuple(sequence[: len(row.segment)]) == row.segment:
                merged += 1
            else:
                log.add(row.file, row.line, "history_item_id",
                        f"user {user}: history + target {_show_ids(row.segment)} is not a prefix of the "
                        f"user's longest sequence {_show_ids(longest.segment)} ({longest.file} line {longest.line})")
    if not window_rows:
        return sequence, merged, windowed

    size = window + 1  # a window row covers its history and its target
    covered = {tuple(sequence[p - size:p]) for p in range(size, len(sequence) + 1)}
    pending = window_rows
    while pending:
        left = []
        for row in pending:
            segment = row.segment
            if segment in covered:
                merged += 1
                if tuple(sequence[:size]) != segment:
                    windowed += 1
            elif len(sequence) >= window and tuple(sequence[len(sequence) - window:]) == row.history:
                if len(sequence) > window:
                    windowed += 1
                sequence.append(row.target)
                covered.add(tuple(sequence[-size:]))
            elif len(sequence) < window and tuple(segment[: len(sequence)]) == tuple(sequence):
                sequence = list(segment)
                covered.add(segment)
            else:
                left.append(row)
        if len(left) == len(pending):
            for row in left:
                log.add(row.file, row.line, "history_item_id",
                        f"user {user}: history + target {_show_ids(row.segment)} does not fit the sequence "
                        f"rebuilt from the user's other rows (neither inside it nor continuing its last "
                        f"{window} items)")
            break
        pending = left
    return sequence, merged, windowed


# -- helpers ------------------------------------------------------------------------------------
def _number_users(raw_ids: list[str]) -> tuple[dict[str, int], str]:
    """Map each user id as written (distinct, first-appearance order) to an integer id, and say how."""
    if all(_INT.match(u) for u in raw_ids):
        return {u: int(u) for u in raw_ids}, "as written"
    matches = [_PREFIXED.match(u) for u in raw_ids]
    if all(matches) and len({m.group(1) for m in matches}) == 1:
        return {u: int(m.group(2)) for u, m in zip(raw_ids, matches)}, f"prefix {matches[0].group(1)!r} stripped"
    return {u: k for k, u in enumerate(raw_ids)}, "renumbered in order of first appearance"


def _as_int(value) -> int | None:
    """An integer from a JSON int or an integer string; None for anything else (bools too)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INT.match(value.strip()):
        return int(value.strip())
    return None


def _flatten(sequences: dict[int, list[int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Users, items and 0-based positions, each shape (n_interactions,), int64."""
    users = [np.full(len(s), u, dtype=np.int64) for u, s in sequences.items() if s]
    items = [np.asarray(s, dtype=np.int64) for s in sequences.values() if s]
    positions = [np.arange(len(s), dtype=np.int64) for s in sequences.values() if s]
    return np.concatenate(users), np.concatenate(items), np.concatenate(positions)


def _show(value) -> str:
    """A bad value quoted for a message, cut to :data:`_SHOWN` characters."""
    if isinstance(value, _Pairs):
        value = dict(value)
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def _show_ids(ids: tuple[int, ...]) -> str:
    text = "[" + ", ".join(str(i) for i in ids) + "]"
    return text if len(text) <= _SHOWN else text[: _SHOWN - 4] + "...]"
