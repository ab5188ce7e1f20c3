"""Import an Amazon 5-core dump (SASRec/S3-Rec layout) into the project's dataset folder format.

Source folder:

* ``<Name>.txt`` (e.g. ``Beauty.txt``): one user per line, ``user_id item_id item_id ...``,
  space-separated integers, items oldest first, no timestamps.
* ``items.jsonl``: one object per line with ``item_id``, ``title`` (string or null, may hold HTML
  entities such as ``&amp;``), ``brand`` (string or null), ``categories`` (list of paths, each a
  list of level names) and optionally ``asin``.

Output folder: ``items.jsonl`` (item_id, title, brand, categories in ``" > "``/``" | "`` string
form, asin) and ``interactions.csv`` (user_id, item_id, position; position 0-based per user).
"""
from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataValidationError, Problem
from ..jobs import CancelToken, ProgressFn, check_cancel, report
from .catalogue import Catalogue, normalise_categories
from .dataset import Interactions, save_dataset

__all__ = ["import_amazon"]

_KEPT_EXTRAS = ("asin",)  # extra item fields copied to the output


def import_amazon(src_dir, out_dir, progress: ProgressFn | None = None, *,
                  cancel: CancelToken | None = None) -> dict:
    """Convert the Amazon dump in ``src_dir`` into a dataset folder ``out_dir``.

    Raises :class:`DataValidationError` listing the problems when the source is malformed
    (missing files, non-integer ids, items of the sequences missing from items.jsonl, bad JSON).
    Returns a summary: ``users``, ``items``, ``interactions``, ``items_without_title``,
    ``items_with_brand``, ``sequence_file`` and the two ``files`` written.
    """
    src = Path(src_dir)
    problems: list[Problem] = []
    report(progress, 0.0, "finding source files")
    sequence_path = _find_sequence_file(src, problems)
    items_path = src / "items.jsonl"
    if not items_path.is_file():
        problems.append(Problem("items.jsonl", None, None, f"missing file: no items.jsonl in {src}"))
    if problems:
        raise DataValidationError(problems)

    check_cancel(cancel)
    report(progress, 0.05, f"reading {sequence_path.name}")
    users, items, positions = _read_sequences(sequence_path, problems)
    check_cancel(cancel)
    report(progress, 0.35, "reading items.jsonl")
    catalogue_frame = _read_items(items_path, problems)
    if problems:
        raise DataValidationError(problems)

    check_cancel(cancel)
    report(progress, 0.6, "checking references")
    catalogue = Catalogue(catalogue_frame)
    known = np.isin(items, catalogue.item_ids)
    if not known.all():
        missing = pd.unique(items[~known])
        shown = ", ".join(str(int(x)) for x in missing[:10])
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        raise DataValidationError([Problem(
            sequence_path.name, None, "item_id",
            f"{len(missing)} item id(s) of the sequences are not in items.jsonl: {shown}{more}",
        )])
    interactions = Interactions.from_arrays(catalogue, users, items, positions=positions)

    check_cancel(cancel)
    report(progress, 0.7, "writing the dataset")
    written = save_dataset(catalogue, interactions, out_dir, items_format="jsonl", interactions_format="csv")
    report(progress, 1.0, "done")
    frame = catalogue.items
    return {
        "users": int(len(np.unique(users))),
        "items": len(catalogue),
        "interactions": len(interactions),
        "items_without_title": int((frame["title"] == "").sum()),
        "items_with_brand": int((frame["brand"] != "").sum()),
        "sequence_file": sequence_path.name,
        "files": [str(p) for p in written],
    }


def _find_sequence_file(src: Path, problems: list[Problem]) -> Path | None:
    if not src.is_dir():
        problems.append(Problem(str(src), None, None, "source folder does not exist"))
        return None
    candidates = sorted(p for p in src.glob("*.txt") if p.is_file() and p.stem.lower() != "readme")
    if len(candidates) != 1:
        found = ", ".join(p.name for p in candidates) or "none"
        problems.append(Problem(
            "*.txt", None, None,
            f"expected exactly one sequence file <Name>.txt in {src} (like Beauty.txt), found: {found}",
        ))
        return None
    return candidates[0]


def _read_sequences(path: Path, problems: list[Problem]):
    """Users, items and 0-based positions, each shape (n_interactions,), int64, in file order."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        problems.append(Problem(path.name, line, None, "not valid UTF-8"))
        return (np.zeros(0, np.int64),) * 3
    users, items, positions = [], [], []
    seen_users: dict[int, int] = {}
    for number, line in enumerate(text.split("\n"), start=1):
        fields = line.split()
        if not fields:
            continue
        try:
            values = [int(f) for f in fields]
        except ValueError:
            bad = next(f for f in fields if not _is_int(f))
            problems.append(Problem(path.name, number, None, f"expected integer ids, found {bad!r}"))
            continue
        if len(values) < 2:
            problems.append(Problem(path.name, number, None, "a line needs a user id and at least one item id"))
            continue
        user = values[0]
        if user in seen_users:
            problems.append(Problem(path.name, number, "user_id",
                                    f"user {user} appears again (first on line {seen_users[user]})"))
            continue
        seen_users[user] = number
        users.append(np.full(len(values) - 1, user, dtype=np.int64))
        items.append(np.asarray(values[1:], dtype=np.int64))
        positions.append(np.arange(len(values) - 1, dtype=np.int64))
    if not users:
        if not problems:
            problems.append(Problem(path.name, None, None, "no sequences in the file"))
        return (np.zeros(0, np.int64),) * 3
    return np.concatenate(users), np.concatenate(items), np.concatenate(positions)


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _read_items(path: Path, problems: list[Problem]) -> pd.DataFrame:
    """Items in file order: item_id, title, brand, categories (string form), asin."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if type(record) is not dict:
                raise ValueError("expected a JSON object")
            item_id = record["item_id"]
            if type(item_id) is not int:
                raise ValueError(f"item_id must be an integer, found {item_id!r}")
            categories = normalise_categories(_unescape_paths(record.get("categories")))
        except KeyError:
            problems.append(Problem(path.name, number, "item_id", "missing item_id"))
            continue
        except (ValueError, TypeError) as exc:
            problems.append(Problem(path.name, number, None, f"malformed item: {exc}"))
            continue
        row = {
            "item_id": item_id,
            "title": _clean(record.get("title")),
            "brand": _clean(record.get("brand")),
            "categories": categories,
        }
        for extra in _KEPT_EXTRAS:
            if extra in record:
                row[extra] = record[extra]
        rows.append(row)
    frame = pd.DataFrame(rows, columns=["item_id", "title", "brand", "categories", *_KEPT_EXTRAS])
    duplicated = frame["item_id"].duplicated()
    for item in frame.loc[duplicated, "item_id"].head(10):
        problems.append(Problem(path.name, None, "item_id", f"duplicate item_id {item}"))
    return frame


def _clean(value) -> str:
    """HTML entities decoded, whitespace stripped; ``""`` for null."""
    if value is None:
        return ""
    return html.unescape(str(value)).strip()


def _unescape_paths(paths):
    if isinstance(paths, list):
        return [[html.unescape(str(level)) for level in path] if isinstance(path, list)
                else html.unescape(str(path)) for path in paths]
    return paths
