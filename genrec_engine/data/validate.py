"""Validation of raw tables: types, ids, references and per-user counts, all vectorised.

Each check turns a :class:`~genrec_engine.data.readers.RawTable` into clean columns and records a
:class:`~genrec_engine.errors.Problem` for every offending row (at most ``MAX_PER_FAMILY`` stored
per family). Python loops run only over the problems that get stored.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .catalogue import TEXT_COLUMNS, normalise_categories
from .readers import ProblemLog, RawTable

__all__ = ["validate_items", "validate_interactions", "ITEM_COLUMNS", "INTERACTION_COLUMNS"]

ITEM_COLUMNS = ("item_id", "title")  # required; brand and categories are optional
INTERACTION_COLUMNS = ("user_id", "item_id")  # required; timestamp or position optional

_INT_PATTERN = r"[+-]?\d{1,18}"  # 18 digits always fit in int64


def _require(table: RawTable, columns, log: ProblemLog) -> bool:
    missing = [c for c in columns if c not in table.frame.columns]
    for column in missing:
        have = ", ".join(map(str, table.frame.columns)) or "none"
        log.add(table.file, None, column, f"missing required column '{column}' (columns found: {have})")
    return not missing


def _show(value) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _parse_int(series: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse integers leniently typed (ints, integral floats from Parquet, digit strings).

    Returns ``values`` (int64, 0 where invalid), ``ok`` and ``missing`` (bool masks; missing also
    covers blank strings), all shape (n,).
    """
    n = len(series)
    missing = series.isna().to_numpy()
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return np.zeros(n, np.int64), np.zeros(n, bool), missing
    if pd.api.types.is_integer_dtype(dtype):
        values = series.fillna(0).to_numpy(dtype=np.int64) if missing.any() else series.to_numpy(np.int64)
        return values, ~missing, missing
    if pd.api.types.is_float_dtype(dtype):
        raw = series.to_numpy(dtype=np.float64)
        ok = ~missing & (np.floor(raw) == raw) & (np.abs(raw) < 2**62)
        return np.where(ok, raw, 0).astype(np.int64), ok, missing
    allowed = np.ones(n, dtype=bool)
    if not isinstance(dtype, pd.StringDtype):  # JSON values: true/false are not 1/0, 3.0 is no id
        allowed = series.map(type).isin([str, int]).to_numpy()
    text = series.astype(str).str.strip()
    empty = missing | (text == "").to_numpy()
    ok = text.str.fullmatch(_INT_PATTERN).fillna(False).to_numpy(dtype=bool) & allowed & ~missing
    values = np.zeros(n, np.int64)
    if ok.all():
        values = text.to_numpy().astype(np.int64)
    elif ok.any():
        values[ok] = text[ok].to_numpy().astype(np.int64)
    return values, ok, empty


def _int_column(table: RawTable, column: str, log: ProblemLog, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Parse ``column`` as integers, reporting each bad cell. Returns (values int64, ok bool)."""
    series = table.frame[column]
    values, ok, missing = _parse_int(series)
    bad = np.flatnonzero(~ok)
    if len(bad):
        raw = series.to_numpy()
        lines = table.lines[bad]

        def message(k: int) -> str:
            row = bad[k]
            if missing[row]:
                return f"missing {what}: '{column}' must be an integer"
            return f"'{column}' must be an integer, found {_show(raw[row])}"

        log.add_many(table.file, lines, column, message, what=f"non-integer {column} values")
    return values, ok


def _text_column(series: pd.Series) -> pd.Series:
    """Strings with ``""`` for missing values, stripped."""
    return series.where(series.notna(), "").astype(str).str.strip()


# -- items ---------------------------------------------------------------------------------------
def validate_items(table: RawTable, log: ProblemLog) -> pd.DataFrame | None:
    """Clean item rows (item_id int64, title/brand/categories str, extras) in file order.

    Rows whose id is invalid or repeated are left out (and reported). None when a required column
    is missing.
    """
    if not _require(table, ITEM_COLUMNS, log):
        return None
    frame = table.frame
    if len(frame) == 0:
        log.add(table.file, None, None, "no items: the file has no data rows")
        return None
    ids, ok = _int_column(table, "item_id", log, "item id")

    # duplicates among the valid ids: report the 2nd, 3rd... occurrence with the first line
    id_series = pd.Series(np.where(ok, ids, 0))
    lines = pd.Series(table.lines)
    duplicated = (id_series.duplicated(keep="first") & ok).to_numpy()
    dups = np.flatnonzero(duplicated)
    if len(dups):
        first_line = lines[ok].groupby(id_series[ok]).first()

        def dup_message(k: int) -> str:
            item = int(ids[dups[k]])
            return f"duplicate item_id {item} (first seen on line {int(first_line[item])})"

        log.add_many(table.file, table.lines[dups], "item_id", dup_message, what="duplicate item ids")
    keep = ok & ~duplicated

    title = _text_column(frame["title"])
    brand = _text_column(frame["brand"]) if "brand" in frame.columns else pd.Series("", index=frame.index)
    categories = _categories_column(table, log)

    # missing titles: a warning when brand or categories still describe the item, else an error
    no_title = np.flatnonzero(((title == "").to_numpy()) & keep)
    if len(no_title):
        described = ((brand != "") | (categories != "")).to_numpy()[no_title]
        for severity, rows in (("warning", no_title[described]), ("error", no_title[~described])):
            if len(rows) == 0:
                continue
            tail = ("; its brand or categories will describe it instead" if severity == "warning"
                    else " and no brand or categories either, so nothing describes it")

            def title_message(k: int, rows=rows, tail=tail) -> str:
                return f"item {int(ids[rows[k]])} has an empty or missing title{tail}"

            log.add_many(table.file, table.lines[rows], "title", title_message, severity=severity,
                         what=f"items without a title ({severity}s)")

    extra = [c for c in frame.columns if c not in ("item_id", *TEXT_COLUMNS)]
    clean = pd.DataFrame({"item_id": ids, "title": title, "brand": brand, "categories": categories})
    for column in extra:
        clean[column] = frame[column].to_numpy()
    return clean[keep].reset_index(drop=True)


def _categories_column(table: RawTable, log: ProblemLog) -> pd.Series:
    """The ``categories`` column in string form; lists of paths (JSONL/Parquet) are joined."""
    frame = table.frame
    if "categories" not in frame.columns:
        return pd.Series("", index=frame.index, dtype=str)
    series = frame["categories"]
    if isinstance(series.dtype, pd.StringDtype) or series.map(type).isin([str]).all():
        return series.astype(str).str.strip()
    out, bad, reasons = [], [], []
    for row, value in enumerate(series.to_numpy()):
        try:
            out.append(normalise_categories(value))
        except TypeError as exc:
            out.append("")
            bad.append(row)
            reasons.append(str(exc))
    if bad:
        log.add_many(table.file, table.lines[bad], "categories", reasons.__getitem__,
                     what="unreadable categories values")
    return pd.Series(out, index=frame.index, dtype=str)


# -- interactions --------------------------------------------------------------------------------
def validate_interactions(
    table: RawTable,
    items: pd.DataFrame | None,
    items_file: str | None,
    log: ProblemLog,
    *,
    min_user_interactions: int,
    short_users: str = "error",
) -> tuple[pd.DataFrame, str] | None:
    """Clean interactions sorted by user_id, then chronologically; and the order key used.

    ``short_users``: users with fewer than ``min_user_interactions`` rows are an error per user
    (``"error"``), or are left out with one warning that counts them (``"drop"``).

    Columns: user_id, item_id, item_index (int64; -1 when ``items`` is None) and ``timestamp``
    or ``position`` (int64) when the file has it. The key is "timestamp", "position" or "file".
    Rows with invalid values are left out (and reported). None when a required column is missing.
    """
    if not _require(table, INTERACTION_COLUMNS, log):
        return None
    frame = table.frame
    if len(frame) == 0:
        log.add(table.file, None, None, "no interactions: the file has no data rows")
        return None
    users, users_ok = _int_column(table, "user_id", log, "user id")
    item_ids, items_ok = _int_column(table, "item_id", log, "item id")
    ok = users_ok & items_ok

    order_by, key = "file", None
    if "timestamp" in frame.columns:
        order_by = "timestamp"
        key, key_ok = _timestamps(table, log)
        ok &= key_ok
    elif "position" in frame.columns:
        order_by = "position"
        key, key_ok = _int_column(table, "position", log, "position")
        ok &= key_ok

    item_index = np.full(len(frame), -1, dtype=np.int64)
    if items is not None:
        found = pd.Index(items["item_id"].to_numpy()).get_indexer(item_ids)
        unknown = np.flatnonzero(items_ok & (found < 0))
        if len(unknown):
            def unknown_message(k: int) -> str:
                return f"unknown item_id {int(item_ids[unknown[k]])}: no such item in {items_file}"

            log.add_many(table.file, table.lines[unknown], "item_id", unknown_message,
                         what="interactions naming unknown items")
        ok &= found >= 0
        item_index = found.astype(np.int64)

    if min_user_interactions > 1 and users_ok.any():
        # count every row with a valid user id, so that a row already reported for another
        # reason does not also make its user look short
        if short_users == "drop":
            ok &= ~_drop_short_users(table, users, users_ok, min_user_interactions, log)
        else:
            _report_short_users(table, users[users_ok], table.lines[users_ok], min_user_interactions, log)

    if not ok.all():  # (copies of 17M rows cost seconds: only when rows are left out)
        rows = np.flatnonzero(ok)
        users, item_ids, item_index = users[rows], item_ids[rows], item_index[rows]
        file_order = rows.astype(np.int64)
        key = file_order if key is None else key[rows]
    else:
        file_order = None
        key = np.arange(len(users), dtype=np.int64) if key is None else key
    columns = {"user_id": users, "item_id": item_ids, "item_index": item_index}
    if order_by != "file":
        columns[order_by] = key
    # a file already sorted by user, then time, needs no sort (1M items, 17M rows: ~3 s saved)
    if not _in_order(users, key):
        if file_order is None:
            file_order = np.arange(len(users), dtype=np.int64)
        order = np.lexsort((file_order, key, users))  # by user, then key, ties in file order
        columns = {name: values[order] for name, values in columns.items()}
    return pd.DataFrame(columns), order_by


def _in_order(users: np.ndarray, key: np.ndarray) -> bool:
    """True when the rows are already by user, then by ``key`` (ties stay in file order either way)."""
    if len(users) < 2:
        return True
    same = users[1:] == users[:-1]
    return bool(np.all(users[1:] >= users[:-1]) and np.all(key[1:][same] >= key[:-1][same]))


def _user_counts(users: np.ndarray) -> pd.Series:
    """Rows per user (a Series indexed by user id): run lengths when the rows are grouped by user
    already (one pass), else a hash count."""
    if len(users) and np.all(users[1:] >= users[:-1]):
        starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
        return pd.Series(np.diff(np.r_[starts, len(users)]), index=users[starts])
    return pd.Series(users).value_counts()


def _drop_short_users(table: RawTable, users: np.ndarray, users_ok: np.ndarray, min_user_interactions: int,
                      log: ProblemLog) -> np.ndarray:
    """Rows of users with fewer than ``min_user_interactions`` rows (bool per row), reported as one
    warning that counts them."""
    counts = _user_counts(users[users_ok])
    short = counts.index[counts < min_user_interactions].to_numpy()
    drop = users_ok & np.isin(users, short)
    if len(short):
        first = int(table.lines[np.flatnonzero(drop)[0]])
        log.add(table.file, first, "user_id",
                f"dropped {len(short):,} user(s) with fewer than {min_user_interactions} interactions "
                f"({int(drop.sum()):,} rows, the first here) as asked (short_users=drop)", severity="warning")
    return drop


def _report_short_users(table: RawTable, users: np.ndarray, lines: np.ndarray,
                        min_user_interactions: int, log: ProblemLog) -> None:
    """One error per user with fewer than ``min_user_interactions`` rows, at its first line."""
    counts = _user_counts(users)
    short = counts[counts < min_user_interactions]
    if len(short):
        first_line = pd.Series(lines).groupby(users).min()[short.index]
        by_line = np.argsort(first_line.to_numpy(), kind="stable")
        short_users = short.index.to_numpy()[by_line]
        short_counts = short.to_numpy()[by_line]
        short_lines = first_line.to_numpy()[by_line]

        def short_message(k: int) -> str:
            n = int(short_counts[k])
            return (f"user {int(short_users[k])} has {n} interaction{'s' if n != 1 else ''}; "
                    f"at least {min_user_interactions} are needed (min_user_interactions), or drop such "
                    "users (--drop-short-users; the app offers it)")

        log.add_many(table.file, short_lines, "user_id", short_message,
                     what="users with too few interactions")


def _timestamps(table: RawTable, log: ProblemLog) -> tuple[np.ndarray, np.ndarray]:
    """Timestamps as int64: integers as written, or ISO dates as nanoseconds since the epoch (UTC)."""
    series = table.frame["timestamp"]
    if pd.api.types.is_datetime64_any_dtype(series.dtype):  # Parquet timestamp column
        ok = series.notna().to_numpy()
        stamps = pd.to_datetime(series, utc=True)
        values = np.zeros(len(series), np.int64)
        values[ok] = stamps[ok].astype("int64").to_numpy()
    else:
        values, ok, missing = _parse_int(series)
        if not (ok | missing).all():  # not all integers: read every value as an ISO date
            text = _text_column(series)
            stamps = pd.to_datetime(text.where(text != "", None), format="ISO8601", utc=True, errors="coerce")
            ok = stamps.notna().to_numpy()
            values = np.zeros(len(series), np.int64)
            values[ok] = stamps[ok].astype("int64").to_numpy()
    bad = np.flatnonzero(~ok)
    if len(bad):
        raw = series.to_numpy()
        empty = _text_column(series).to_numpy() == ""

        def message(k: int) -> str:
            row = bad[k]
            if empty[row]:
                return "missing timestamp"
            return f"'timestamp' must be an integer or an ISO date, found {_show(raw[row])}"

        log.add_many(table.file, table.lines[bad], "timestamp", message, what="bad timestamps")
    return values.astype(np.int64), ok
