"""Finding and reading the two table files of a dataset folder into raw DataFrames.

Readers do not interpret values: CSV/TSV cells come back as strings, JSONL and Parquet values as
parsed. Every row carries the 1-based line an editor would show (CSV/TSV: the header is line 1;
JSONL: the physical line; Parquet: the row number). Problems found while reading (undecodable
bytes, malformed JSON, unparsable CSV) are returned, not raised.
"""
from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import Problem

__all__ = ["FORMATS", "RawTable", "find_table", "read_table", "ProblemLog", "MAX_PER_FAMILY"]

FORMATS = ("csv", "tsv", "parquet", "jsonl")
MAX_PER_FAMILY = 1000  # problems stored per family; the last stored one gives the full count

_SURROGATE = re.compile("[\udc80-\udcff]")  # bytes that failed to decode, via surrogateescape


class ProblemLog:
    """Collects problems, storing at most :data:`MAX_PER_FAMILY` per family.

    ``add_many`` takes the lines of every offending row and a function building the message of
    row ``k``, so that only the stored problems cost Python work.
    """

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, file, line, field, message, severity="error") -> None:
        self.problems.append(Problem(file, line, field, message, severity))

    def add_many(self, file, lines, field, message_of, severity="error", what="problems") -> None:
        """``lines``: 1-based line of each offending row (sequence); ``message_of(k)`` -> str."""
        total = len(lines)
        shown = min(total, MAX_PER_FAMILY)
        for k in range(shown):
            message = message_of(k)
            if k == shown - 1 and total > shown:
                message += f" ({total} such {what} in {file} in all; only the first {shown} are listed)"
            line = None if lines[k] is None else int(lines[k])
            self.problems.append(Problem(file, line, field, message, severity))

    @property
    def has_errors(self) -> bool:
        return any(p.severity == "error" for p in self.problems)


@dataclass
class RawTable:
    """A table as read from disk: uninterpreted values and the line of each row.

    ``frame``: one row per record, columns as in the file. ``lines``: shape (n_rows,), int64,
    1-based. ``fmt``: one of :data:`FORMATS`.
    """

    file: str
    fmt: str
    frame: pd.DataFrame
    lines: np.ndarray


def find_table(folder: Path, stem: str, log: ProblemLog) -> Path | None:
    """The one ``<stem>.<ext>`` file of ``folder`` (ext in :data:`FORMATS`), or None with a problem."""
    found = [folder / f"{stem}.{ext}" for ext in FORMATS if (folder / f"{stem}.{ext}").is_file()]
    expected = ", ".join(f"{stem}.{ext}" for ext in FORMATS)
    if not found:
        log.add(f"{stem}.*", None, None, f"missing file: no {stem} file in {folder} (expected one of {expected})")
        return None
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        log.add(f"{stem}.*", None, None, f"several {stem} files in {folder} ({names}); keep exactly one")
        return None
    return found[0]


def read_table(path: Path, log: ProblemLog) -> RawTable | None:
    """Read one table file; None (with problems in ``log``) when nothing usable could be read."""
    fmt = path.suffix[1:].lower()
    name = path.name
    try:
        if fmt == "parquet":
            return _read_parquet(path, log)
        data = path.read_bytes()
    except OSError as exc:
        log.add(name, None, None, f"cannot read file: {exc.strerror or exc}")
        return None
    text = _decode(name, data, log)
    if fmt in ("csv", "tsv"):
        return _read_delimited(name, fmt, text, log)
    if fmt == "jsonl":
        return _read_jsonl(name, text, log)
    raise ValueError(f"unsupported format {fmt!r}")


# -- decoding ----------------------------------------------------------------------------------
def _decode(name: str, data: bytes, log: ProblemLog) -> str:
    """Decode UTF-8 (a BOM is dropped); undecodable bytes are reported and replaced by U+FFFD."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("utf-8", errors="surrogateescape")
        # code points as an array: undecodable bytes became lone surrogates U+DC80..U+DCFF
        points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        newlines = np.flatnonzero(points == 10)
        bad = np.flatnonzero((points >= 0xDC80) & (points <= 0xDCFF))
        bad_lines = np.searchsorted(newlines, bad) + 1  # 1-based line of each bad byte
        first_of_line = np.r_[True, bad_lines[1:] != bad_lines[:-1]]  # one problem per line
        lines, offsets = bad_lines[first_of_line], bad[first_of_line]
        starts = np.r_[0, newlines + 1]  # offset where each line starts

        def message(k: int) -> str:
            byte = int(points[offsets[k]]) - 0xDC00
            column = int(offsets[k] - starts[lines[k] - 1]) + 1
            return f"not valid UTF-8: byte 0x{byte:02x} at column {column} (save the file as UTF-8)"

        log.add_many(name, lines, None, message, what="lines with bytes that are not valid UTF-8")
        text = _SURROGATE.sub("\ufffd", text)
    if text.startswith("\ufeff"):
        text = text[1:]
    return text


# -- CSV / TSV ---------------------------------------------------------------------------------
def _read_delimited(name: str, fmt: str, text: str, log: ProblemLog) -> RawTable | None:
    sep = "," if fmt == "csv" else "\t"
    try:
        frame = pd.read_csv(
            io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_filter=False,
            skip_blank_lines=True, engine="c",
        )
    except pd.errors.EmptyDataError:
        log.add(name, None, None, "the file is empty (a header line is needed)")
        return None
    except pd.errors.ParserError as exc:
        match = re.search(r"in line (\d+)", str(exc))  # 1-based, header included
        row = re.search(r"at row (\d+)", str(exc))  # 0-based, header included
        line = int(match.group(1)) if match else int(row.group(1)) + 1 if row else None
        detail = str(exc).split("C error: ")[-1]
        log.add(name, line, None, f"cannot parse the {fmt.upper()} file: {detail}")
        return None
    frame.columns = [str(c).strip() for c in frame.columns]
    lines = _delimited_lines(text, sep, len(frame))
    return RawTable(name, fmt, frame, lines)


def _delimited_lines(text: str, sep: str, n_rows: int) -> np.ndarray:
    """1-based line of each data row (header = line 1)."""
    physical = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
    blank = "\n\n" in text or "\n\r\n" in text or text.startswith(("\n", "\r\n"))
    if physical == n_rows + 1 and not blank:  # then every record is exactly one line
        return np.arange(2, n_rows + 2, dtype=np.int64)
    # blank lines or quoted newlines: walk the records once to learn where each one starts
    starts = []
    reader = csv.reader(io.StringIO(text), delimiter=sep)
    previous_end = 0
    for row in reader:
        start = previous_end + 1
        previous_end = reader.line_num
        if row and not (len(row) == 1 and not row[0].strip()):  # pandas skips blank lines
            starts.append(start)
    lines = np.asarray(starts[1:], dtype=np.int64)  # drop the header record
    if len(lines) != n_rows:  # the two parsers disagree on an odd file: fall back to row order
        return np.arange(2, n_rows + 2, dtype=np.int64)
    return lines


# -- JSONL -------------------------------------------------------------------------------------
def _read_jsonl(name: str, text: str, log: ProblemLog) -> RawTable | None:
    raw_lines = text.split("\n")
    numbered = [(i + 1, s) for i, s in enumerate(raw_lines) if s.strip()]
    if not numbered:
        log.add(name, None, None, "the file is empty (one JSON object per line is needed)")
        return None
    line_numbers = np.fromiter((n for n, _ in numbered), dtype=np.int64, count=len(numbered))
    try:  # fast path: the whole file as one JSON array, parsed in C
        records = json.loads("[" + ",".join(s for _, s in numbered) + "]")
        if len(records) != len(numbered) or not all(type(r) is dict for r in records):
            raise ValueError
    except ValueError:
        records, keep = _parse_json_lines(name, numbered, log)
        line_numbers = line_numbers[keep]
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame()
    return RawTable(name, "jsonl", frame, line_numbers)


def _parse_json_lines(name, numbered, log: ProblemLog):
    """Slow path: parse line by line, reporting each malformed line."""
    records, keep, bad_lines, bad_messages = [], [], [], []
    for k, (number, line) in enumerate(numbered):
        try:
            record = json.loads(line)
        except ValueError as exc:
            bad_lines.append(number)
            bad_messages.append(f"malformed JSON: {getattr(exc, 'msg', exc)} at column {getattr(exc, 'colno', '?')}")
            continue
        if type(record) is not dict:
            bad_lines.append(number)
            bad_messages.append(f"malformed JSON line: expected an object {{...}}, found {type(record).__name__}")
            continue
        records.append(record)
        keep.append(k)
    log.add_many(name, bad_lines, None, bad_messages.__getitem__, what="malformed JSON lines")
    return records, np.asarray(keep, dtype=np.int64)


# -- Parquet -----------------------------------------------------------------------------------
def _read_parquet(path: Path, log: ProblemLog) -> RawTable | None:
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for corrupt files
        log.add(path.name, None, None, f"cannot read the Parquet file: {exc}")
        return None
    frame = frame.reset_index(drop=True)
    return RawTable(path.name, "parquet", frame, np.arange(1, len(frame) + 1, dtype=np.int64))
