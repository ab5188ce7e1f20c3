"""Foreign SID tables: read and write the conventions of the field's SID pipelines.

========  =====================================================  ==================================
format    file                                                   rows name items by
========  =====================================================  ==================================
letter    LETTER / LC-Rec / MiniOneRec ``*.index.json``:          catalogue row (the keys of the
          ``{"0": ["<a_12>", "<b_7>", "<c_201>"], ...}``          companion ``*.item.json``)
recbole   ``item_sids.json``: ``{"<item id>": [12, 7, 201]}``     item id
recif     OpenOneRec ``sid2pid.json``: ``{"<packed>": [{"pid":   item id (``pid``); one SID may
          ..., "count": ...}, ...]}``, packed = mixed-radix        name several items
          ``c0*K1*K2 + c1*K2 + c2`` (K = 8192 in OpenOneRec)
grid      ``N x L`` integer array, ``.npy`` (read and written)   catalogue row
          or a ``.pt`` holding one tensor (read only,
          ``torch.load(weights_only=True)``; never written)
csv       ``item_id,c1,...,cL`` (``.csv``, ``.tsv`` or            item id
          ``.parquet``)
strings   ``item_id,sid`` with ``sid`` like ``12-7-201``          item id
========  =====================================================  ==================================

:func:`read_sids` reads a file into a :class:`ForeignSIDs` (rows as written, every row with where it
came from); :func:`to_sid_table` matches it to a catalogue and checks it; :func:`write_sids` writes a
project's :class:`~genrec_engine.quantize.SIDTable` in any format. Every problem is reported with the
file and the line (CSV: 1-based, the header is line 1; Parquet and arrays: 1-based row) or JSON key.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataValidationError, Problem
from ..fileio import atomic_path
from ..quantize import SIDTable
from .sidtext import SIDTextError, level_letter, parse_sid

__all__ = ["FORMATS", "ForeignSIDs", "detect_format", "read_sids", "to_sid_table", "write_sids", "file_sha256",
           "RECIF_DEFAULT_SIZES", "export_sizes"]

FORMATS = ("letter", "recbole", "recif", "grid", "csv", "strings")
RECIF_DEFAULT_SIZES = (8192, 8192, 8192)  # OpenOneRec packs three levels of 8192 codes
_MAX_PROBLEMS = 200  # stop collecting after this many (the message says how many more there are)


@dataclass
class ForeignSIDs:
    """A SID table as read from a file, before it is matched to a catalogue.

    ``keys[r]`` names the item of row ``r``: a catalogue row when ``key_kind == "row"``, an item id
    when ``"id"``. ``codes[r]`` is its SID as written (lengths may differ: :func:`to_sid_table`
    reports ragged rows). ``where[r]`` says where the row came from, for messages. ``sizes`` are the
    codebook sizes the file itself fixes (recif: the packing radix), else None."""

    path: Path
    format: str
    key_kind: str
    keys: list[int] = field(default_factory=list)
    codes: list[tuple[int, ...]] = field(default_factory=list)
    where: list[tuple[int | None, str | None]] = field(default_factory=list)  # (line, key)
    sizes: tuple[int, ...] | None = None

    def problem(self, row_or_where, message: str, fld: str | None = None) -> Problem:
        line, key = self.where[row_or_where] if isinstance(row_or_where, int) else row_or_where
        if key is not None:
            fld = f"key {key!r}" + (f", {fld}" if fld else "")
        return Problem(str(self.path), line, fld, message)


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------------------------- read
def detect_format(path: str | os.PathLike) -> str:
    """The format of ``path`` from its name and, for JSON and tables, its first entries."""
    path = Path(path)
    name, suffix = path.name.lower(), path.suffix.lower()
    if suffix in (".npy", ".pt"):
        return "grid"
    if name.endswith(".index.json"):
        return "letter"
    if suffix == ".json":
        obj = _read_json(path)
        for value in list(obj.values())[:20]:
            if isinstance(value, list) and value:
                if all(isinstance(v, dict) for v in value):
                    return "recif"
                if all(isinstance(v, str) for v in value):
                    return "letter"
                if all(isinstance(v, int) and not isinstance(v, bool) for v in value):
                    return "recbole"
        raise ConfigError(f"{path}: cannot tell which SID convention this JSON follows; give --format")
    if suffix in (".csv", ".tsv", ".parquet", ".txt"):
        cols = list(_read_frame(path, nrows=5).columns)
        if "sid" in cols:
            return "strings"
        if any(_code_column(c) is not None for c in cols):
            return "csv"
        raise ConfigError(f"{path}: columns {cols[:6]} are neither item_id,sid nor item_id,c1..cL; give --format")
    raise ConfigError(f"{path}: unknown SID file type {suffix or '(no suffix)'}; give --format")


def read_sids(path: str | os.PathLike, fmt: str = "auto", *, codebook_sizes=None) -> ForeignSIDs:
    """Read a SID table in ``fmt`` (one of :data:`FORMATS`, or ``"auto"``). ``codebook_sizes`` is
    needed by ``recif`` to unpack its keys (default :data:`RECIF_DEFAULT_SIZES`).
    Raises DataValidationError listing every malformed row, ConfigError for an unreadable file."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder; give the SID table file inside it")
    if not path.is_file():
        raise ConfigError(f"{path}: SID file not found")
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r}: expected auto or one of {', '.join(FORMATS)}")
    reader = {"letter": _read_json_map, "recbole": _read_json_map, "recif": _read_recif, "grid": _read_grid,
              "csv": _read_code_columns, "strings": _read_strings}[fmt]
    out = ForeignSIDs(path, fmt, "row" if fmt in ("letter", "grid") else "id")
    problems: list[Problem] = []
    reader(out, problems, codebook_sizes)
    if problems:
        raise DataValidationError(problems)
    if not out.codes:
        raise DataValidationError([Problem(str(path), None, None, "holds no SIDs")])
    return out


def _read_json(path: Path):
    try:
        with open(path, encoding="utf-8") as fh:
            obj = json.load(fh)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise DataValidationError([Problem(str(path), exc.lineno, None, f"invalid JSON: {exc.msg} (column {exc.colno})")]) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if not isinstance(obj, dict):
        raise DataValidationError([Problem(str(path), 1, None, f"expected a JSON object of key -> SID, found {type(obj).__name__}")])
    return obj


def _int_key(out: ForeignSIDs, key: str, problems: list[Problem], what: str) -> int | None:
    try:
        value = int(str(key).strip())
    except ValueError:
        value = None
    if value is None or value < 0:
        problems.append(out.problem((None, key), f"the key is not a non-negative integer {what}"))
        return None
    return value


def _add(out: ForeignSIDs, key: int, codes, where, problems: list[Problem]) -> None:
    try:
        sid = parse_sid(codes)
    except SIDTextError as exc:
        problems.append(out.problem(where, str(exc), "sid"))
        return
    out.keys.append(key)
    out.codes.append(sid)
    out.where.append(where)


def _read_json_map(out: ForeignSIDs, problems: list[Problem], _sizes) -> None:
    what = "catalogue row" if out.key_kind == "row" else "item id"
    for key, value in _read_json(out.path).items():
        k = _int_key(out, key, problems, what)
        if k is not None:
            _add(out, k, value, (None, key), problems)
        if len(problems) >= _MAX_PROBLEMS:
            return


def _read_recif(out: ForeignSIDs, problems: list[Problem], sizes) -> None:
    sizes = tuple(int(k) for k in (sizes or RECIF_DEFAULT_SIZES))
    out.sizes = sizes
    space = int(np.prod([float(k) for k in sizes]))
    for key, value in _read_json(out.path).items():
        packed = _int_key(out, key, problems, "packed SID")
        if packed is None:
            continue
        if packed >= space:
            problems.append(out.problem((None, key), f"packed SID {packed} is not below {space} = "
                                        f"{' x '.join(map(str, sizes))}; give the right --codebook-sizes"))
            continue
        codes, rest = [], packed
        for k in reversed(sizes):
            codes.append(rest % k)
            rest //= k
        codes = codes[::-1]
        if not isinstance(value, list) or not value:
            problems.append(out.problem((None, key), "expected a non-empty list of {\"pid\": ..., \"count\": ...}"))
            continue
        for j, entry in enumerate(value):
            pid = entry.get("pid") if isinstance(entry, dict) else None
            try:
                pid = int(pid) if not isinstance(pid, (bool, float)) else None
            except (TypeError, ValueError):
                pid = None
            if pid is None:
                problems.append(out.problem((None, key), f"entry {j + 1} has no integer \"pid\"", "pid"))
                continue
            out.keys.append(pid)
            out.codes.append(tuple(codes))
            out.where.append((None, key))
        if len(problems) >= _MAX_PROBLEMS:
            return


def _read_grid(out: ForeignSIDs, problems: list[Problem], _sizes) -> None:
    path = out.path
    if path.suffix.lower() == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            why = "not in .npy format, or it holds Python objects, which are refused" if "pickle" in str(exc) else str(exc).splitlines()[0][:160]
            raise ConfigError(f"{path}: not a readable .npy integer array ({why})") from None
    else:  # .pt: read only, through torch's restricted loader (tensors and plain containers, no code)
        import torch

        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001 - the restricted loader raises several kinds on a foreign file
            raise ConfigError(f"{path}: not a tensor file that torch.load(weights_only=True) can read "
                              "(a .pt holding exactly one integer tensor is expected)") from None
        if not isinstance(obj, torch.Tensor):
            raise ConfigError(f"{path}: holds a {type(obj).__name__}, expected exactly one tensor")
        arr = obj.numpy()
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.integer):
        raise ConfigError(f"{path}: expected an N x L integer array, found shape {arr.shape} of {arr.dtype}")
    arr = arr.astype(np.int64)
    for r in np.flatnonzero((arr < 0).any(1))[:_MAX_PROBLEMS].tolist():
        problems.append(Problem(str(path), r + 1, "sid", f"row {r} holds a negative code: {arr[r].tolist()}"))
    out.keys = list(range(arr.shape[0]))
    out.codes = [tuple(row) for row in arr.tolist()]
    out.where = [(r + 1, None) for r in range(arr.shape[0])]


def _read_frame(path: Path, nrows: int | None = None) -> pd.DataFrame:
    try:
        if path.suffix.lower() == ".parquet":
            df = pd.read_parquet(path)
            return df.head(nrows) if nrows else df
        sep = "\t" if path.suffix.lower() == ".tsv" else ","
        return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, nrows=nrows)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the table: {str(exc).splitlines()[0][:200]}") from None


def _code_column(name: str) -> int | None:
    name = str(name).strip().lower()
    return int(name[1:]) if len(name) > 1 and name[0] == "c" and name[1:].isdigit() else None


def _line(path: Path, r: int) -> int:
    return r + (1 if path.suffix.lower() == ".parquet" else 2)  # CSV: the header is line 1


def _item_ids(out: ForeignSIDs, df: pd.DataFrame, problems: list[Problem]) -> list[int | None]:
    if "item_id" not in df.columns:
        cols = [str(c) for c in df.columns]
        shown = ", ".join(cols[:6]) + (f", ... ({len(cols)} columns)" if len(cols) > 6 else "")
        raise DataValidationError([Problem(str(out.path), 1, "item_id", f"no item_id column (header: {shown[:200]})")])
    ids: list[int | None] = []
    for r, v in enumerate(df["item_id"].tolist()):
        try:
            ids.append(int(str(v).strip()))
        except ValueError:
            problems.append(Problem(str(out.path), _line(out.path, r), "item_id", f"{v!r} is not an integer item id"))
            ids.append(None)
    return ids


def _read_code_columns(out: ForeignSIDs, problems: list[Problem], _sizes) -> None:
    df = _read_frame(out.path)
    ids = _item_ids(out, df, problems)
    cols = sorted((c for c in df.columns if _code_column(c) is not None), key=_code_column)
    if not cols:
        raise DataValidationError([Problem(str(out.path), 1, None, "no code columns c1..cL")])
    values = df[cols].astype(str).to_numpy()
    for r, (item, row) in enumerate(zip(ids, values)):
        cells = [c.strip() for c in row]
        while cells and cells[-1] in ("", "nan", "<NA>", "None"):
            cells.pop()  # a shorter SID in a wider table: reported as ragged by to_sid_table
        where = (_line(out.path, r), None)
        if item is None:
            continue
        try:
            codes = [int(c) for c in cells]
        except ValueError:
            bad = next(c for c in cells if not c.lstrip("-").isdigit())
            problems.append(Problem(str(out.path), where[0], "sid", f"code {bad!r} is not an integer"))
            continue
        _add(out, item, codes, where, problems)
        if len(problems) >= _MAX_PROBLEMS:
            return


def _read_strings(out: ForeignSIDs, problems: list[Problem], _sizes) -> None:
    df = _read_frame(out.path)
    ids = _item_ids(out, df, problems)
    for r, (item, sid) in enumerate(zip(ids, df["sid"].tolist())):
        if item is not None:
            _add(out, item, sid, (_line(out.path, r), None), problems)
        if len(problems) >= _MAX_PROBLEMS:
            return


# -------------------------------------------------------------------------------------------- match
def _power_of_two_above(n: int) -> int:
    """The smallest power of two that holds codes 0..n (n = the largest code)."""
    return 1 << int(n).bit_length()


def to_sid_table(foreign: ForeignSIDs, item_ids, *, codebook_sizes=None, policy: str = "append-level",
                 collision_level: bool = False) -> tuple[SIDTable, dict]:
    """Match a foreign table to a catalogue (``item_ids`` in catalogue order) and check it.

    Every catalogue item needs exactly one SID, every SID row a known item, every SID the same
    number of codes, every code below its level's size. ``codebook_sizes`` (one per level) are
    checked; when None they are the file's own (recif) or the smallest power of two above each
    level's largest code. ``collision_level``: the file's last level is a collision level made by
    ``append-level`` (an export's manifest says so): it is kept as the table's collision column
    instead of getting a new one. Returns the table and a summary (rows, levels, sizes and whether
    they were inferred, collisions)."""
    item_ids = np.asarray(item_ids, dtype=np.int64)
    n = len(item_ids)
    problems: list[Problem] = []
    src = str(foreign.path)
    keys = np.asarray(foreign.keys, dtype=np.int64)
    if foreign.key_kind == "row":
        pos = np.where((keys >= 0) & (keys < n), keys, -1)
        unknown_msg = f"names catalogue row {{k}}, but the catalogue has rows 0..{n - 1}"
    else:
        pos = pd.Index(item_ids).get_indexer(keys)
        unknown_msg = "names item {k}, which is not in the catalogue"
    for r in np.flatnonzero(pos < 0)[:_MAX_PROBLEMS].tolist():
        problems.append(foreign.problem(r, unknown_msg.format(k=int(keys[r]))))
    lengths = np.asarray([len(c) for c in foreign.codes])
    L = int(np.bincount(lengths).argmax())
    for r in np.flatnonzero(lengths != L)[:_MAX_PROBLEMS].tolist():
        problems.append(foreign.problem(r, f"SID {list(foreign.codes[r])} has {lengths[r]} codes; the table's SIDs "
                                           f"have {L} (ragged lengths)", "sid"))
    seen = np.full(n, -1, dtype=np.int64)
    for r in np.flatnonzero(pos >= 0).tolist():
        p = int(pos[r])
        if seen[p] >= 0:
            line, key = foreign.where[int(seen[p])]
            first = f"line {line}" if line is not None else f"key {key!r}"
            problems.append(foreign.problem(r, f"item {int(item_ids[p])} already has a SID ({first})"))
        else:
            seen[p] = r
    missing = np.flatnonzero(seen < 0)
    if len(missing) and not problems:
        shown = ", ".join(str(int(i)) for i in item_ids[missing[:10]])
        problems.append(Problem(src, None, None, f"{len(missing)} of the catalogue's {n} items have no SID "
                                                 f"(item ids {shown}{', ...' if len(missing) > 10 else ''})"))
    if problems:
        raise DataValidationError(problems)
    codes = np.asarray([foreign.codes[int(r)] for r in seen], dtype=np.int64).reshape(n, L)
    given = codebook_sizes if codebook_sizes is not None else foreign.sizes
    inferred = given is None
    sizes = tuple(_power_of_two_above(int(m)) for m in codes.max(0)) if inferred else tuple(int(k) for k in given)
    if len(sizes) != L:
        raise ConfigError(f"--codebook-sizes has {len(sizes)} levels, but the SIDs in {src} have {L}")
    for l, k in enumerate(sizes):
        for p in np.flatnonzero(codes[:, l] >= k)[:_MAX_PROBLEMS].tolist():
            problems.append(foreign.problem(int(seen[p]), f"level {l + 1} code {codes[p, l]} is not below the "
                                                          f"codebook size {k}", "sid"))
    if problems:
        raise DataValidationError(problems)
    if collision_level and L >= 2:
        table = SIDTable(item_ids, codes, max(sizes[:-1]), sizes[:-1], policy)
        if len({tuple(r) for r in codes.tolist()}) != n:
            raise ConfigError(f"{src}: its manifest says the last level is a collision level, but SIDs repeat")
    else:
        table = SIDTable.from_codes(item_ids, codes, sizes, policy=policy)
    colliding = int((np.bincount(np.unique(codes, axis=0, return_inverse=True)[1].reshape(-1)) > 1).sum())
    info = {"rows": len(foreign.codes), "levels": L, "codebook_sizes": list(sizes), "sizes_inferred": inferred,
            "unique_sids": int(len(np.unique(codes, axis=0))), "groups_with_collisions": colliding,
            "collision_policy": policy, "collision_level_in_file": bool(collision_level)}
    return table, info


# -------------------------------------------------------------------------------------------- write
def export_sizes(table: SIDTable) -> list[int]:
    """Codebook size of each level an export writes (see :meth:`SIDTable.public_codes`)."""
    public = table.public_codes()
    return list(table.level_sizes[: public.shape[1]])


def write_sids(table: SIDTable, fmt: str, path: str | os.PathLike) -> dict:
    """Write ``table`` in ``fmt`` to ``path`` atomically; returns ``{"rows", "levels",
    "codebook_sizes", "collision_level", "sha256"}``. The SIDs written are
    :meth:`SIDTable.public_codes`: the collision level is included only under ``append-level``
    when items collide. recif packs with the written sizes; its ``count`` is 1 (the explorer reads
    no counts)."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    path = Path(path)
    codes = table.public_codes()
    sizes = export_sizes(table)
    try:
        _write(fmt, path, codes, sizes, table.item_ids.tolist())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write: {exc.strerror or exc}") from None
    return {"rows": len(codes), "levels": int(codes.shape[1]), "codebook_sizes": sizes,
            "collision_level": codes.shape[1] == table.depth, "sha256": file_sha256(path)}


def _write(fmt: str, path: Path, codes: np.ndarray, sizes: list[int], ids: list) -> None:
    """The body of :func:`write_sids`: ``codes [N, L']`` in catalogue order, ``ids`` their item ids."""
    rows, suffix = codes.tolist(), path.suffix.lower()
    with atomic_path(path) as tmp:
        if fmt == "letter":
            _dump_json(tmp, {str(r): [f"<{level_letter(l)}_{c}>" for l, c in enumerate(row)]
                             for r, row in enumerate(rows)})
        elif fmt == "recbole":
            _dump_json(tmp, {str(i): row for i, row in zip(ids, rows)})
        elif fmt == "recif":
            radix = np.cumprod([1] + sizes[::-1])[:-1][::-1]  # weight of each level
            packed = (codes * radix).sum(1).tolist()
            groups: dict[str, list] = {}
            for key, i in zip(packed, ids):
                groups.setdefault(str(key), []).append({"pid": i, "count": 1})
            _dump_json(tmp, groups)
        elif fmt == "grid":
            if suffix != ".npy":  # .pt is read, never written: torch.save pickles
                raise ConfigError(f"{path}: a grid table is written as .npy (a .pt file can be read, "
                                  "but the explorer writes no pickled files)")
            with open(tmp, "wb") as fh:
                np.save(fh, codes.astype(np.int64), allow_pickle=False)
        else:
            frame = pd.DataFrame({"item_id": ids})
            if fmt == "csv":
                for l in range(codes.shape[1]):
                    frame[f"c{l + 1}"] = codes[:, l]
            else:
                frame["sid"] = ["-".join(map(str, row)) for row in rows]
            if suffix == ".parquet":
                frame.to_parquet(tmp, index=False)
            elif suffix in (".csv", ".tsv", ".txt"):
                frame.to_csv(tmp, index=False, sep="\t" if suffix == ".tsv" else ",")
            else:
                raise ConfigError(f"{path}: a {fmt} table is written as .csv, .tsv or .parquet")


def _dump_json(path: Path, obj) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, separators=(",", ":"))
