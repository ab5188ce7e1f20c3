"""The item catalogue: one row per item, row ``i`` is item index ``i``.

Item *ids* are the integers a dataset file uses; item *indices* are 0-based row numbers into the
catalogue (0..n_items-1). Models and sequences work with indices; files and users see ids.

Categories are stored in one string per item: a path is its levels joined by ``" > "`` and several
paths are joined by ``" | "``, e.g. ``"Beauty > Makeup > Nails | Beauty > Tools"``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from ..errors import ConfigError

__all__ = [
    "Catalogue",
    "LEVEL_SEP",
    "PATH_SEP",
    "split_category_paths",
    "join_category_paths",
    "normalise_categories",
]

LEVEL_SEP = " > "  # joins the levels of one category path
PATH_SEP = " | "  # joins several category paths of one item

TEXT_COLUMNS = ("title", "brand", "categories")  # always present, str, "" when missing
_COLUMN_CHUNK = 50_000  # rows converted at a time by Catalogue.column
_LABELS = {"brand": "Brand", "categories": "Category"}


def split_category_paths(text: str) -> list[list[str]]:
    """``"A > B | C"`` -> ``[["A", "B"], ["C"]]``; empty levels and paths are dropped."""
    paths = []
    for raw_path in str(text).split("|"):
        levels = [level.strip() for level in raw_path.split(">")]
        levels = [level for level in levels if level]
        if levels:
            paths.append(levels)
    return paths


def join_category_paths(paths: Iterable[Iterable[str]]) -> str:
    """``[["A", "B"], ["C"]]`` -> ``"A > B | C"``."""
    joined = (LEVEL_SEP.join(str(level).strip() for level in path) for path in paths)
    return PATH_SEP.join(p for p in joined if p)


def normalise_categories(value) -> str:
    """Turn one item's ``categories`` value into the string form.

    Accepts ``None``/NaN (-> ``""``), a string (kept, stripped), or a list of paths where each
    path is a list of level strings or a ``" > "`` string (as found in JSONL and Parquet).
    Raises ``TypeError`` for anything else.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, float) and np.isnan(value):
        return ""
    if isinstance(value, (list, tuple, np.ndarray)):
        paths = []
        for path in value:
            if isinstance(path, str):  # one path written as "A > B"
                paths.append([level.strip() for level in path.split(">") if level.strip()])
            elif isinstance(path, (list, tuple, np.ndarray)):
                if not all(isinstance(level, str) for level in path):
                    raise TypeError("category levels must be strings")
                paths.append(list(path))
            else:
                raise TypeError(f"a category path must be a list of strings or a string, not {type(path).__name__}")
        return join_category_paths(paths)
    raise TypeError(f"categories must be a string or a list of paths, not {type(value).__name__}")


@dataclass(frozen=True, eq=False)
class Catalogue:
    """The items of a dataset.

    ``items`` is a DataFrame with a RangeIndex and at least the columns ``item_id`` (int64, unique),
    ``title``, ``brand`` and ``categories`` (str, ``""`` when missing); any extra columns of the
    source file follow. Row ``i`` describes item index ``i``. The frame is normalised (copied) on
    construction; treat it as read-only.
    """

    items: pd.DataFrame

    def __post_init__(self) -> None:
        frame = self.items
        if "item_id" not in frame.columns:
            raise ConfigError("Catalogue.items needs an 'item_id' column")
        frame = frame.reset_index(drop=True).copy()
        frame["item_id"] = frame["item_id"].astype("int64")
        for column in TEXT_COLUMNS:
            if column in frame.columns:
                col = frame[column]
                frame[column] = col.where(col.notna(), "").astype(str)
            else:
                frame[column] = ""
        extra = [c for c in frame.columns if c not in ("item_id", *TEXT_COLUMNS)]
        frame = frame[["item_id", *TEXT_COLUMNS, *extra]]
        index = pd.Index(frame["item_id"].to_numpy())
        if not index.is_unique:
            dup = index[index.duplicated()][0]
            raise ConfigError(f"Catalogue.items has duplicate item_id {dup}")
        object.__setattr__(self, "items", frame)
        object.__setattr__(self, "_index", index)

    # -- sizes and ids --------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.items)

    @property
    def item_ids(self) -> np.ndarray:
        """Item ids in index order, shape (n_items,), int64."""
        return self.items["item_id"].to_numpy(dtype=np.int64)

    def index_of(self, item_ids) -> np.ndarray:
        """Map item ids (scalar or array-like) to item indices, shape (n,), int64.

        Raises ``KeyError`` naming the first unknown ids.
        """
        query = np.atleast_1d(np.asarray(item_ids))
        if query.size == 0:
            return np.zeros(0, dtype=np.int64)
        found = self._index.get_indexer(query)
        if (found < 0).any():
            unknown = pd.unique(query[found < 0])
            shown = ", ".join(str(x) for x in unknown[:10])
            more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
            raise KeyError(f"unknown item id(s): {shown}{more}")
        return found.astype(np.int64)

    # -- text -----------------------------------------------------------------------------------
    def column(self, name: str) -> np.ndarray:
        """Column ``name`` as an object array ``[N]`` of Python values, made on first use and kept
        (read it, do not write it): a pandas look-up per cell costs ~0.1 ms, and converting a
        text column of 10^6 items ~0.3 s, which a caller may do ahead on a worker thread (it is
        converted in parts of :data:`_COLUMN_CHUNK` rows, so the GUI thread is not held up).
        Several threads may ask at once; one of the equal arrays is kept."""
        cache = self.__dict__.get("_columns")
        if cache is None:
            cache = {}
            object.__setattr__(self, "_columns", cache)
        arr = cache.get(name)
        if arr is None:
            series = self.items[name]
            arr = np.empty(len(series), dtype=object)
            for lo in range(0, len(series), _COLUMN_CHUNK):  # in parts: other threads get the GIL between them
                arr[lo:lo + _COLUMN_CHUNK] = series.iloc[lo:lo + _COLUMN_CHUNK].to_numpy(dtype=object)
            arr = cache.setdefault(name, arr)
        return arr

    def title(self, i: int) -> str:
        """Title of item index ``i`` (``""`` when it has none)."""
        return str(self.column("title")[int(i)])

    def category_paths(self, i: int) -> list[list[str]]:
        """Category paths of item index ``i``, e.g. ``[["Beauty", "Makeup", "Nails"]]``."""
        return split_category_paths(self.items["categories"].iat[int(i)])

    def leaf_categories(self) -> list[str]:
        """Last level of each item's first category path (``""`` when it has none), per index."""
        first = self.items["categories"].str.split("|", n=1).str[0]
        leaf = first.str.rsplit(">", n=1).str[-1].str.strip()
        return leaf.fillna("").tolist()

    def texts(self, fields: Sequence[str] = ("title", "brand", "categories")) -> list[str]:
        """The text describing each item for the text encoder, one string per item index.

        ``"Title. Brand: X. Category: Beauty > Makeup > Nails"``: the title comes first without a
        label, other fields as ``"Label: value"``; empty values are left out.
        """
        columns = []
        for field in fields:
            if field not in self.items.columns:
                raise ConfigError(
                    f"texts(fields=...): unknown field {field!r}; columns are {list(self.items.columns)}"
                )
            values = self.items[field]
            values = values.where(values.notna(), "").astype(str).str.strip().tolist()
            label = None if field == "title" else _LABELS.get(field, field.replace("_", " ").capitalize())
            columns.append((label, values))
        out = []
        for row in zip(*(values for _, values in columns)):
            text = ""
            for (label, _), value in zip(columns, row):
                if not value:
                    continue
                part = value if label is None else f"{label}: {value}"
                if text:
                    text += (" " if text[-1] in ".!?" else ". ") + part
                else:
                    text = part
            out.append(text)
        if not columns:
            out = [""] * len(self)
        return out
