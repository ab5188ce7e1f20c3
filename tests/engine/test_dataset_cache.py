"""The validated-dataset cache: a second load skips parsing and validation, gives the same dataset,
and is never used once a file changed, the options differ, or the entry is damaged."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from pandas.testing import assert_frame_equal

from genrec_engine.data import check_dataset, load_dataset
from genrec_engine.data import cache as dataset_cache
from genrec_engine.data import dataset as dataset_module
from genrec_engine.errors import DataValidationError

ITEMS_JSONL = (
    '{"item_id": 1, "title": "Red lipstick", "brand": "Acme", "categories": "Beauty > Makeup > Lips", "price": 4.5}\n'
    '{"item_id": 2, "title": "", "brand": "Polish Co", "categories": "Beauty > Makeup > Nails", "price": 3.0}\n'
    '{"item_id": 3, "title": "Face cream", "brand": "Skin Co", "categories": "", "price": 9.25}\n'
)
INTERACTIONS_CSV = "user_id,item_id,timestamp\n10,1,5\n10,2,6\n10,3,7\n20,3,1\n20,1,2\n20,2,3\n30,1,1\n"


@pytest.fixture
def cache_root(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "user-cache"
    monkeypatch.setenv("GENREC_CACHE_DIR", str(root))
    return root


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "items.jsonl").write_text(ITEMS_JSONL)
    (folder / "interactions.csv").write_text(INTERACTIONS_CSV)
    return folder


def _no_validation(monkeypatch) -> None:
    def fail(*_a, **_k):
        raise AssertionError("the files were read again")

    monkeypatch.setattr(dataset_module, "read_table", fail)


def _same(a, b) -> None:
    assert_frame_equal(a.catalogue.items, b.catalogue.items)
    assert_frame_equal(a.interactions.frame, b.interactions.frame)
    assert a.interactions.order_by == b.interactions.order_by
    assert a.warnings == b.warnings and a.short_users == b.short_users
    ua, sa = a.sequences()
    ub, sb = b.sequences()
    assert np.array_equal(ua, ub) and all(np.array_equal(x, y) for x, y in zip(sa, sb))


def test_second_load_comes_from_the_cache_and_is_the_same_dataset(tmp_path, cache_root, monkeypatch):
    folder = _folder(tmp_path)
    before = sorted(p.name for p in folder.iterdir())
    first = load_dataset(folder, short_users="drop", min_user_interactions=3)
    assert first.n_users == 2 and first.warnings  # user 30 dropped, item 2's empty title: warnings
    assert any((cache_root / "datasets").iterdir())
    _no_validation(monkeypatch)
    again = load_dataset(folder, short_users="drop", min_user_interactions=3)
    _same(first, again)
    assert again.catalogue.items["price"].tolist() == [4.5, 3.0, 9.25]
    dataset, problems = check_dataset(folder, short_users="drop")
    assert problems == first.warnings and dataset is not None
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing written beside the data


def test_a_changed_file_other_options_or_cache_false_validate_again(tmp_path, cache_root):
    folder = _folder(tmp_path)
    load_dataset(folder, short_users="drop")
    # other options: validated again (here: the short user is an error now)
    with pytest.raises(DataValidationError, match="user 30"):
        load_dataset(folder)
    # a changed file of the same size: the stamp (mtime) differs, so the new row is checked
    text = INTERACTIONS_CSV.replace("30,1,1", "30,9,1")
    path = folder / "interactions.csv"
    stat = path.stat()
    path.write_text(text)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert path.stat().st_size == stat.st_size
    dataset, problems = check_dataset(folder, short_users="drop")
    assert dataset is None and any(p.field == "item_id" and p.line == 8 for p in problems)
    # cache=False never looks at an entry
    path.write_text(INTERACTIONS_CSV)
    good = load_dataset(folder, short_users="drop")
    (folder / "items.jsonl").write_text(ITEMS_JSONL.replace('"item_id": 3', '"item_id": "x"'))
    with pytest.raises(DataValidationError):
        load_dataset(folder, short_users="drop", cache=False)
    assert good.n_items == 3


def test_a_dataset_with_errors_is_not_kept(tmp_path, cache_root):
    folder = _folder(tmp_path)
    with pytest.raises(DataValidationError):
        load_dataset(folder)  # user 30 has one interaction
    assert not (cache_root / "datasets").exists() or not any((cache_root / "datasets").iterdir())


@pytest.mark.parametrize("damage", ["truncate", "meta", "missing"])
def test_a_damaged_entry_is_no_cache(tmp_path, cache_root, damage):
    folder = _folder(tmp_path)
    first = load_dataset(folder, short_users="drop")
    (entry,) = [p for p in (cache_root / "datasets").iterdir()]
    if damage == "truncate":
        npy = next(entry.glob("interactions.*.npy"))
        npy.write_bytes(npy.read_bytes()[:60])
    elif damage == "meta":
        (entry / "meta.json").write_text("{not json")
    else:
        (entry / "items.parquet").unlink()
    again = load_dataset(folder, short_users="drop")
    _same(first, again)
    # validated from the files, and kept again: the next load is cached once more
    assert dataset_cache.read_cached(folder, 3, "drop") is not None


def test_an_unwritable_cache_still_loads(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("GENREC_CACHE_DIR", str(blocker))
    dataset = load_dataset(_folder(tmp_path), short_users="drop")
    assert dataset.n_items == 3
