"""Datasets: a catalogue plus interactions, loaded and validated from a folder, and saved back.

A dataset folder holds exactly one ``items.<ext>`` and one ``interactions.<ext>``, ext in csv, tsv,
parquet, jsonl. See ``resources/datasets/beauty/README.md`` for the columns.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataValidationError, Problem
from ..fileio import atomic_path, json_default
from .cache import read_cached, write_cached
from .catalogue import Catalogue
from .readers import FORMATS, ProblemLog, find_table, read_table
from .validate import validate_interactions, validate_items

__all__ = ["Interactions", "Dataset", "load_dataset", "check_dataset", "save_dataset"]

_ORDER_KEYS = ("timestamp", "position", "file")


@dataclass(frozen=True, eq=False)
class Interactions:
    """User-item interactions, grouped by user and in chronological order within each user.

    ``frame`` columns: ``user_id``, ``item_id``, ``item_index`` (int64; item_index is the row of
    the item in the catalogue) and, when the source had one, ``timestamp`` or ``position`` (int64;
    ISO dates become nanoseconds since the epoch, UTC). Rows are sorted by ``user_id`` (ascending);
    within a user they are in chronological order. ``order_by`` says which key set that order:
    "timestamp", "position" or "file" (the order of the rows in the file).
    """

    frame: pd.DataFrame
    order_by: str = "file"

    def __post_init__(self) -> None:
        missing = [c for c in ("user_id", "item_id", "item_index") if c not in self.frame.columns]
        if missing:
            raise ConfigError(f"Interactions.frame lacks column(s) {missing}")
        if self.order_by not in _ORDER_KEYS:
            raise ConfigError(f"Interactions.order_by must be one of {_ORDER_KEYS}, not {self.order_by!r}")
        frame = self.frame.reset_index(drop=True)
        if not frame["user_id"].is_monotonic_increasing:  # group users, keeping each one's order
            frame = frame.sort_values("user_id", kind="stable").reset_index(drop=True)
        object.__setattr__(self, "frame", frame)

    @classmethod
    def from_arrays(cls, catalogue: Catalogue, user_ids, item_ids, *, timestamps=None,
                    positions=None) -> "Interactions":
        """Build from parallel arrays of ids (shape (n,)), ordering each user's rows by
        ``timestamps`` if given, else ``positions`` if given, else the order of the arrays.

        Raises ``KeyError`` for item ids not in ``catalogue``.
        """
        users = np.asarray(user_ids, dtype=np.int64)
        items = np.asarray(item_ids, dtype=np.int64)
        frame = pd.DataFrame({"user_id": users, "item_id": items, "item_index": catalogue.index_of(items)})
        order_by, key = "file", np.arange(len(users), dtype=np.int64)
        if timestamps is not None:
            order_by, key = "timestamp", np.asarray(timestamps, dtype=np.int64)
        elif positions is not None:
            order_by, key = "position", np.asarray(positions, dtype=np.int64)
        if order_by != "file":
            frame[order_by] = key
        order = np.lexsort((np.arange(len(users)), key, users))
        return cls(frame.iloc[order].reset_index(drop=True), order_by)

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def user_ids(self) -> np.ndarray:
        """Distinct user ids, ascending, shape (n_users,), int64."""
        return np.unique(self.frame["user_id"].to_numpy(dtype=np.int64))

    def offsets(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`sequences` as flat arrays: ``(user_ids [U], items [M], bounds [U + 1])``, user
        ``u``'s item indices oldest first being ``items[bounds[u]:bounds[u + 1]]`` (all int64).
        Vectorised: no Python object per user."""
        users = self.frame["user_id"].to_numpy(dtype=np.int64)
        indices = self.frame["item_index"].to_numpy(dtype=np.int64)
        if len(users) == 0:
            return np.zeros(0, np.int64), indices, np.zeros(1, np.int64)
        starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
        return users[starts], indices, np.r_[starts, len(indices)].astype(np.int64)

    def sequences(self) -> tuple[np.ndarray, list[np.ndarray]]:
        """``(user_ids, sequences)``: user ids ascending, shape (n_users,), int64, and for each
        user the item INDICES of their interactions, oldest first, each shape (len,), int64
        (views into one array)."""
        users, indices, bounds = self.offsets()
        # slices, not np.split: its Python loop per piece took 1.25 s for 2M users (0.37 s here),
        # holding the GIL from the GUI thread the while
        b = bounds.tolist()
        return users, [indices[x:y] for x, y in zip(b[:-1], b[1:])]


@dataclass(frozen=True, eq=False)
class Dataset:
    """A validated dataset. ``warnings`` holds the non-blocking problems found while loading."""

    catalogue: Catalogue
    interactions: Interactions
    path: Path | None = None
    warnings: list[Problem] = field(default_factory=list)
    short_users: str = "error"  # "drop": users below the minimum were left out when it was loaded

    @property
    def n_users(self) -> int:
        return int(self.interactions.frame["user_id"].nunique())

    @property
    def n_items(self) -> int:
        return len(self.catalogue)

    @property
    def n_interactions(self) -> int:
        return len(self.interactions)

    def sequences(self) -> tuple[np.ndarray, list[np.ndarray]]:
        """Shortcut for ``self.interactions.sequences()``."""
        return self.interactions.sequences()

    def offsets(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Shortcut for ``self.interactions.offsets()``."""
        return self.interactions.offsets()


SHORT_USERS = ("error", "drop")


def check_dataset(path, *, min_user_interactions: int = 3, short_users: str = "error",
                  cache: bool = True) -> tuple[Dataset | None, list[Problem]]:
    """Load and validate the dataset folder ``path``; never raises for problems in the data.

    Returns the dataset (None when any problem is an error) and every problem found, errors and
    warnings, in the order found (file by file, family by family). ``short_users="drop"`` leaves
    out the users with fewer than ``min_user_interactions`` interactions (one warning counts
    them; the dataset remembers it in ``short_users``) instead of an error per user.

    ``cache``: use and keep the validated tables in the user's cache (:mod:`.cache`; only while
    the files are unchanged); ``False`` reads and validates the files whatever the cache holds.
    """
    if short_users not in SHORT_USERS:
        raise ConfigError(f"short_users={short_users!r}: expected one of {', '.join(SHORT_USERS)}")
    if isinstance(min_user_interactions, bool) or not isinstance(min_user_interactions, (int, np.integer)) \
            or min_user_interactions < 0:
        raise ConfigError(f"min_user_interactions must be an integer >= 0, not {min_user_interactions!r}")
    folder = Path(path)
    log = ProblemLog()
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        log.add(str(folder), None, None, f"dataset folder {what}")
        return None, log.problems
    if cache:
        cached = read_cached(folder, int(min_user_interactions), short_users)
        if cached is not None:
            return cached, list(cached.warnings)

    items = items_name = None
    items_path = find_table(folder, "items", log)
    if items_path is not None:
        raw_items = read_table(items_path, log)
        if raw_items is not None:
            items_name = raw_items.file
            items = validate_items(raw_items, log)

    result = None
    interactions_path = find_table(folder, "interactions", log)
    if interactions_path is not None:
        raw = read_table(interactions_path, log)
        if raw is not None:
            result = validate_interactions(raw, items, items_name, log,
                                           min_user_interactions=int(min_user_interactions), short_users=short_users)

    if log.has_errors or items is None or result is None:
        return None, log.problems
    frame, order_by = result
    dataset = Dataset(
        catalogue=Catalogue(items),
        interactions=Interactions(frame, order_by),
        path=folder,
        warnings=[p for p in log.problems if p.severity != "error"],
        short_users=short_users,
    )
    if cache:
        write_cached(dataset, int(min_user_interactions), short_users)
    return dataset, log.problems


def load_dataset(path, *, min_user_interactions: int = 3, short_users: str = "error",
                 cache: bool = True) -> Dataset:
    """Load and validate the dataset folder ``path`` (``short_users``, ``cache``: see :func:`check_dataset`).

    Raises one :class:`DataValidationError` carrying every problem (warnings too) when any
    problem is an error; warnings alone end up in ``Dataset.warnings``.
    """
    dataset, problems = check_dataset(path, min_user_interactions=min_user_interactions, short_users=short_users,
                                      cache=cache)
    if dataset is None:
        raise DataValidationError(problems)
    return dataset


# -- saving ------------------------------------------------------------------------------------
def save_dataset(catalogue: Catalogue, interactions: Interactions, out_dir, *,
                 items_format: str = "jsonl", interactions_format: str = "csv") -> tuple[Path, Path]:
    """Write ``items.<items_format>`` and ``interactions.<interactions_format>`` into ``out_dir``.

    Each file is written atomically. Items keep their extra columns. Interactions are written in
    their chronological order with their ``timestamp``/``position`` column, or a 0-based
    ``position`` per user when they have neither. Other ``items.*``/``interactions.*`` files in
    ``out_dir`` are removed afterwards so the folder holds exactly one of each.
    Returns the two paths written.
    """
    for name, fmt in (("items_format", items_format), ("interactions_format", interactions_format)):
        if fmt not in FORMATS:
            raise ConfigError(f"{name} must be one of {FORMATS}, not {fmt!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    items = catalogue.items
    frame = interactions.frame
    columns = ["user_id", "item_id"] + [c for c in ("timestamp", "position") if c in frame.columns]
    table = frame[columns].copy()
    if "timestamp" not in table.columns and "position" not in table.columns:
        users = table["user_id"].to_numpy()
        table["position"] = np.arange(len(table)) - _group_starts(users)

    items_path = _write_table(items, out / f"items.{items_format}", items_format)
    interactions_path = _write_table(table, out / f"interactions.{interactions_format}", interactions_format)
    for stem, keep in (("items", items_format), ("interactions", interactions_format)):
        for ext in FORMATS:
            stale = out / f"{stem}.{ext}"
            if ext != keep and stale.is_file():
                stale.unlink()
    return items_path, interactions_path


def _group_starts(users: np.ndarray) -> np.ndarray:
    """For sorted ``users`` (n,), the row where each row's user group starts, shape (n,)."""
    if len(users) == 0:
        return np.zeros(0, np.int64)
    new = np.r_[True, users[1:] != users[:-1]]
    starts = np.flatnonzero(new)
    return starts[np.cumsum(new) - 1]


def _write_table(frame: pd.DataFrame, target: Path, fmt: str) -> Path:
    with atomic_path(target) as tmp:
        if fmt in ("csv", "tsv"):
            frame.to_csv(tmp, sep="," if fmt == "csv" else "\t", index=False, lineterminator="\n",
                         encoding="utf-8")
        elif fmt == "parquet":
            frame.to_parquet(tmp, index=False)
        else:
            if frame.isna().to_numpy().any():  # NaN is not JSON: write null
                frame = frame.astype(object).where(frame.notna(), None)
            with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
                for record in frame.to_dict(orient="records"):
                    fh.write(json.dumps(record, ensure_ascii=False, default=json_default) + "\n")
    return target
