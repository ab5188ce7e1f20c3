"""Tests of the data layer: validation families, the four formats, ordering, splitting, import."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genrec_engine.data import (
    Catalogue, Interactions, check_dataset, import_amazon, leave_one_out, load_dataset, save_dataset,
)
from genrec_engine.errors import ConfigError, DataValidationError

REPO = Path(__file__).resolve().parents[2]
BEAUTY = REPO / "resources" / "datasets" / "beauty"

ITEMS_CSV = (
    "item_id,title,brand,categories\n"
    "1,Red lipstick,Acme,Beauty > Makeup > Lips\n"
    "2,Nail polish,,Beauty > Makeup > Nails | Beauty > Gifts\n"
    "3,Face cream,Skin Co,\n"
)
INTERACTIONS_CSV = "user_id,item_id\n10,1\n10,2\n10,3\n20,3\n20,1\n20,2\n"


def make_folder(root: Path, files: dict[str, str | bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        data = content.encode("utf-8") if isinstance(content, str) else content
        (root / name).write_bytes(data)
    return root


def problems_of(folder, **kwargs):
    dataset, problems = check_dataset(folder, **kwargs)
    return dataset, problems


def only(problems, **match):
    """The problems whose attributes equal ``match``."""
    return [p for p in problems if all(getattr(p, k) == v for k, v in match.items())]


# -- the happy path --------------------------------------------------------------------------------
def test_valid_csv_folder_loads(tmp_path):
    folder = make_folder(tmp_path / "d", {"items.csv": ITEMS_CSV, "interactions.csv": INTERACTIONS_CSV})
    dataset = load_dataset(folder)
    assert (dataset.n_items, dataset.n_users, dataset.n_interactions) == (3, 2, 6)
    assert dataset.warnings == []
    assert dataset.interactions.order_by == "file"
    users, sequences = dataset.interactions.sequences()
    assert users.tolist() == [10, 20]
    assert [s.tolist() for s in sequences] == [[0, 1, 2], [2, 0, 1]]
    assert all(s.dtype == np.int64 for s in sequences)
    items = dataset.catalogue.items
    assert items["item_id"].dtype == np.int64
    assert items["brand"].tolist() == ["Acme", "", "Skin Co"]
    assert items["categories"].tolist()[2] == ""
    # a column as one object array, made once and shared (the app makes them ahead on a worker)
    brands = dataset.catalogue.column("brand")
    assert brands.dtype == object and brands.tolist() == ["Acme", "", "Skin Co"]
    assert dataset.catalogue.column("brand") is brands
    assert dataset.catalogue.title(2) == items["title"].iat[2]


# -- one test per validation family ----------------------------------------------------------------
def test_missing_file(tmp_path):
    folder = make_folder(tmp_path / "d", {"items.csv": ITEMS_CSV})
    dataset, problems = problems_of(folder)
    assert dataset is None
    [problem] = problems
    assert problem.file == "interactions.*" and problem.line is None and problem.field is None
    assert "missing file" in problem.message and problem.severity == "error"


def test_several_files_of_one_kind(tmp_path):
    folder = make_folder(tmp_path / "d", {
        "items.csv": ITEMS_CSV, "items.jsonl": '{"item_id": 1, "title": "x"}\n',
        "interactions.csv": INTERACTIONS_CSV,
    })
    _, problems = problems_of(folder)
    [problem] = only(problems, file="items.*")
    assert "items.csv" in problem.message and "items.jsonl" in problem.message


def test_missing_folder_does_not_raise(tmp_path):
    dataset, problems = check_dataset(tmp_path / "nope")
    assert dataset is None and "does not exist" in problems[0].message


def test_missing_required_column(tmp_path):
    folder = make_folder(tmp_path / "d", {
        "items.csv": "item_id,name\n1,a\n2,b\n3,c\n",
        "interactions.csv": INTERACTIONS_CSV,
    })
    _, problems = problems_of(folder)
    [problem] = only(problems, file="items.csv", field="title")
    assert problem.line is None and "missing required column 'title'" in problem.message


def test_duplicate_item_ids(tmp_path):
    folder = make_folder(tmp_path / "d", {
        "items.csv": ITEMS_CSV + "2,Nail polish again,,\n",
        "interactions.csv": INTERACTIONS_CSV,
    })
    _, problems = problems_of(folder)
    [problem] = problems
    assert (problem.file, problem.line, problem.field) == ("items.csv", 5, "item_id")
    assert "duplicate item_id 2" in problem.message and "line 3" in problem.message


def test_unknown_items(tmp_path):
    folder = make_folder(tmp_path / "d", {
        "items.csv": ITEMS_CSV,
        "interactions.csv": INTERACTIONS_CSV + "20,99\n",
    })
    _, problems = problems_of(folder)
    [problem] = problems
    assert (problem.file, problem.line, problem.field) == ("interactions.csv", 8, "item_id")
    assert "99" in problem.message and "items.csv" in problem.message


def test_missing_title_is_a_warning_when_brand_or_categories_describe_the_item(tmp_path):
    items = ITEMS_CSV.replace("1,Red lipstick,", "1,,")  # line 2: no title, but a brand
    folder = make_folder(tmp_path / "d", {"items.csv": items, "interactions.csv": INTERACTIONS_CSV})
    dataset = load_dataset(folder)
    [warning] = dataset.warnings
    assert (warning.file, warning.line, warning.field, warning.severity) == ("items.csv", 2, "title", "warning")
    assert dataset.catalogue.title(0) == ""


def test_missing_title_is_an_error_when_nothing_describes_the_item(tmp_path):
    items = ITEMS_CSV + "4,,,\n"
    folder = make_folder(tmp_path / "d", {"items.csv": items, "interactions.csv": INTERACTIONS_CSV})
    _, problems = problems_of(folder)
    [problem] = problems
    assert (problem.file, problem.line, problem.field, problem.severity) == ("items.csv", 5, "title", "error")


def test_missing_title_in_jsonl_null(tmp_path):
    items = '{"item_id": 1, "title": null}\n{"item_id": 2, "title": "b"}\n{"item_id": 3, "title": "c"}\n'
    folder = make_folder(tmp_path / "d", {"items.jsonl": items, "interactions.csv": INTERACTIONS_CSV})
    _, problems = problems_of(folder)
    [problem] = problems
    assert (problem.file, problem.line, problem.field, problem.severity) == ("items.jsonl", 1, "title", "error")


@pytest.mark.parametrize("name", ["interactions.csv", "items.jsonl"])
def test_undecodable_bytes(tmp_path, name):
    if name == "interactions.csv":
        files = {"items.csv": ITEMS_CSV, "interactions.csv": b"user_id,item_id\n10,1\n10,2\xff\xfe\n10,3\n"}
        line = 3
    else:
        items = b'{"item_id": 1, "title": "a"}\n\n{"item_id": 2, "title": "caf\xe9"}\n{"item_id": 3, "title": "c"}\n'
        files = {"items.jsonl": items, "interactions.csv": "user_id,item_id\n10,1\n10,2\n10,3\n"}
        line = 3
    folder = make_folder(tmp_path / "d", files)
    _, problems = problems_of(folder)
    encoding = [p for p in problems if "not valid UTF-8" in p.message]
    assert len(encoding) == 1
    assert (encoding[0].file, encoding[0].line, encoding[0].field) == (name, line, None)


def test_bom_is_accepted(tmp_path):
    folder = make_folder(tmp_path / "d", {"items.csv": "\ufeff" + ITEMS_CSV, "interactions.csv": INTERACTIONS_CSV})
    assert load_dataset(folder).n_items == 3


def test_non_integer_ids_csv(tmp_path):
    folder = make_folder(tmp_path / "d", {
        "items.csv": ITEMS_CSV,
        "interactions.csv": "user_id,item_id\n10,1\nabc,2\n10,3\n10,2\n20,x1\n20,1.5\n",
    })
    _, problems = problems_of(folder, min_user_interactions=0)
    found = {(p.file, p.line, p.field) for p in problems}
    assert found == {("interactions.csv", 3, "user_id"), ("interactions.csv", 6, "item_id"),
                     ("interactions.csv", 7, "item_id")}
    assert "'abc'" in only(problems, line=3)[0].message


def test_non_integer_ids_jsonl(tmp_path):
    items = ('{"item_id": 1, "title": "a"}\n{"item_id": true, "title": "b"}\n'
             '{"item_id": 2.5, "title": "c"}\n{"item_id": "3", "title": "d"}\n{"title": "e", "item_id": null}\n')
    folder = make_folder(tmp_path / "d", {"items.jsonl": items, "interactions.csv": "user_id,item_id\n1,1\n1,3\n1,1\n"})
    _, problems = problems_of(folder)
    assert {(p.line, p.field) for p in problems} == {(2, "item_id"), (3, "item_id"), (5, "item_id")}
    assert "missing" in only(problems, line=5)[0].message


def test_malformed_json_line(tmp_path):
    items = '{"item_id": 1, "title": "a"}\n{"item_id": 2, "title": "b"\n{"item_id": 3, "title": "c"}\n[4]\n'
    folder = make_folder(tmp_path / "d", {"items.jsonl": items, "interactions.csv": "user_id,item_id\n1,1\n1,3\n1,1\n"})
    _, problems = problems_of(folder)
    assert [(p.file, p.line, p.field) for p in problems] == [("items.jsonl", 2, None), ("items.jsonl", 4, None)]
    assert all("malformed JSON" in p.message for p in problems)


def test_users_with_too_few_interactions(tmp_path):
    interactions = "user_id,item_id\n10,1\n20,1\n10,2\n10,3\n20,2\n30,1\n"
    folder = make_folder(tmp_path / "d", {"items.csv": ITEMS_CSV, "interactions.csv": interactions})
    _, problems = problems_of(folder)
    assert [(p.file, p.line, p.field, p.severity) for p in problems] == [
        ("interactions.csv", 3, "user_id", "error"), ("interactions.csv", 7, "user_id", "error")]
    assert "user 20" in problems[0].message and "2 interactions" in problems[0].message
    assert "user 30" in problems[1].message and "1 interaction;" in problems[1].message
    assert check_dataset(folder, min_user_interactions=1)[0] is not None


def test_csv_parse_error_names_the_line(tmp_path):
    folder = make_folder(tmp_path / "d", {"items.csv": ITEMS_CSV, "interactions.csv": INTERACTIONS_CSV + "20,1,7\n"})
    _, problems = problems_of(folder)
    [problem] = problems
    assert (problem.file, problem.line) == ("interactions.csv", 8)


def test_lines_count_blank_lines_and_quoted_newlines(tmp_path):
    items = 'item_id,title\n1,"two\nlines"\n\n2,b\n2,c\n3,d\n'
    folder = make_folder(tmp_path / "d", {"items.csv": items, "interactions.csv": INTERACTIONS_CSV})
    _, problems = problems_of(folder)
    [problem] = problems
    assert (problem.line, problem.field) == (6, "item_id") and "line 5" in problem.message


def test_whitespace_only_line_counts(tmp_path):
    interactions = "user_id,item_id\n10,1\n   \n10,2\n10,x\n"
    folder = make_folder(tmp_path / "d", {"items.csv": ITEMS_CSV, "interactions.csv": interactions})
    _, problems = problems_of(folder, min_user_interactions=0)
    assert [(p.line, p.field) for p in problems] == [(5, "item_id")]


def test_unterminated_quote_names_its_line(tmp_path):
    items = 'item_id,title\n1,a\n2,"b\n3,c\n'
    folder = make_folder(tmp_path / "d", {"items.csv": items, "interactions.csv": INTERACTIONS_CSV})
    _, problems = problems_of(folder)
    assert (problems[0].file, problems[0].line) == ("items.csv", 3)


def test_unreadable_categories_value(tmp_path):
    items = ('{"item_id": 1, "title": "a", "categories": [["A", "B"]]}\n'
             '{"item_id": 2, "title": "b", "categories": 5}\n{"item_id": 3, "title": "c"}\n')
    folder = make_folder(tmp_path / "d", {"items.jsonl": items, "interactions.csv": INTERACTIONS_CSV})
    _, problems = problems_of(folder)
    assert [(p.file, p.line, p.field) for p in problems] == [("items.jsonl", 2, "categories")]


def test_problems_are_capped_per_family_but_counted(tmp_path):
    rows = "".join(f"10,{1000 + k}\n" for k in range(1200))
    folder = make_folder(tmp_path / "d", {"items.csv": ITEMS_CSV, "interactions.csv": INTERACTIONS_CSV + rows})
    _, problems = problems_of(folder)
    unknown = [p for p in problems if "unknown item_id" in p.message]
    assert len(unknown) == 1000
    assert "1200" in unknown[-1].message and "1200" not in unknown[0].message


def test_load_dataset_raises_one_error_with_every_problem(tmp_path):
    folder = make_folder(tmp_path / "d", {
        "items.csv": ITEMS_CSV + "2,dup,,\n",
        "interactions.csv": INTERACTIONS_CSV + "20,99\n",
    })
    with pytest.raises(DataValidationError) as info:
        load_dataset(folder)
    assert {p.file for p in info.value.problems} == {"items.csv", "interactions.csv"}
    assert "items.csv:5" in str(info.value)


# -- formats and order -----------------------------------------------------------------------------
def _frames():
    items = pd.DataFrame({
        "item_id": [5, 7, 9],
        "title": ["Lipstick, red", 'Polish "gloss"', "Crème"],
        "brand": ["Acme", None, "Skin Co"],
        "categories": [[["Beauty", "Makeup", "Lips"]], ["Beauty > Nails", ["Beauty", "Gifts"]], None],
        "asin": ["A1", "A2", "A3"],
    })
    interactions = pd.DataFrame({"user_id": [1, 1, 1, 2, 2, 2, 2], "item_id": [5, 7, 9, 9, 5, 7, 5]})
    return items, interactions


def _write(frame: pd.DataFrame, path: Path, fmt: str) -> None:
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "tsv":
        frame.to_csv(path, sep="\t", index=False)
    elif fmt == "parquet":
        frame.to_parquet(path, index=False)
    else:
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in frame.to_dict("records")),
                        encoding="utf-8")


@pytest.mark.parametrize("fmt", ["csv", "tsv", "parquet", "jsonl"])
def test_all_formats_load_the_same(tmp_path, fmt):
    items, interactions = _frames()
    flat = items.copy()
    if fmt in ("csv", "tsv"):  # text formats carry categories in string form only
        flat["categories"] = ["Beauty > Makeup > Lips", "Beauty > Nails | Beauty > Gifts", ""]
    elif fmt == "parquet":  # Parquet columns need one type: lists of lists of strings
        flat["categories"] = [[["Beauty", "Makeup", "Lips"]], [["Beauty", "Nails"], ["Beauty", "Gifts"]], []]
    folder = tmp_path / fmt
    folder.mkdir()
    _write(flat, folder / f"items.{fmt}", fmt)
    _write(interactions, folder / f"interactions.{fmt}", fmt)
    dataset = load_dataset(folder)
    expected = pd.DataFrame({
        "item_id": np.array([5, 7, 9], dtype=np.int64),
        "title": ["Lipstick, red", 'Polish "gloss"', "Crème"],
        "brand": ["Acme", "", "Skin Co"],
        "categories": ["Beauty > Makeup > Lips", "Beauty > Nails | Beauty > Gifts", ""],
    })
    got = dataset.catalogue.items
    pd.testing.assert_frame_equal(got[expected.columns], expected, check_dtype=False)
    assert got["item_id"].dtype == np.int64 and list(got["asin"]) == ["A1", "A2", "A3"]
    users, sequences = dataset.interactions.sequences()
    assert users.tolist() == [1, 2]
    assert [s.tolist() for s in sequences] == [[0, 1, 2], [2, 0, 1, 0]]


def test_order_by_timestamp_position_or_file(tmp_path):
    base = "user_id,item_id{extra}\n1,1{a}\n1,2{b}\n1,3{c}\n"
    cases = {
        "file": (base.format(extra="", a="", b="", c=""), [0, 1, 2]),
        "position": (base.format(extra=",position", a=",2", b=",0", c=",1"), [1, 2, 0]),
        "timestamp": (base.format(extra=",timestamp", a=",300", b=",100", c=",200"), [1, 2, 0]),
    }
    iso = base.format(extra=",timestamp", a=",2021-03-01", b=",2021-01-01T10:00:00Z", c=",2021-02-01")
    for name, (text, expected) in {**cases, "iso": (iso, [1, 2, 0])}.items():
        folder = make_folder(tmp_path / name, {"items.csv": ITEMS_CSV, "interactions.csv": text})
        dataset = load_dataset(folder)
        assert dataset.interactions.order_by == ("timestamp" if name == "iso" else name)
        assert dataset.interactions.sequences()[1][0].tolist() == expected, name


def test_timestamp_wins_over_position_and_ties_keep_file_order(tmp_path):
    text = "user_id,item_id,timestamp,position\n1,1,5,0\n1,2,5,1\n1,3,1,2\n"
    folder = make_folder(tmp_path / "d", {"items.csv": ITEMS_CSV, "interactions.csv": text})
    assert load_dataset(folder).interactions.sequences()[1][0].tolist() == [2, 0, 1]


def test_bad_timestamp_is_reported(tmp_path):
    text = "user_id,item_id,timestamp\n1,1,2021-01-01\n1,2,yesterday\n1,3,2021-01-03\n"
    folder = make_folder(tmp_path / "d", {"items.csv": ITEMS_CSV, "interactions.csv": text})
    _, problems = problems_of(folder, min_user_interactions=0)
    [problem] = problems
    assert (problem.line, problem.field) == (3, "timestamp")


# -- catalogue -------------------------------------------------------------------------------------
def test_catalogue_api(tmp_path):
    folder = make_folder(tmp_path / "d", {"items.csv": ITEMS_CSV, "interactions.csv": INTERACTIONS_CSV})
    catalogue = load_dataset(folder).catalogue
    assert len(catalogue) == 3
    assert catalogue.item_ids.tolist() == [1, 2, 3] and catalogue.item_ids.dtype == np.int64
    assert catalogue.index_of([3, 1]).tolist() == [2, 0]
    with pytest.raises(KeyError, match="42"):
        catalogue.index_of([1, 42])
    assert catalogue.texts() == [
        "Red lipstick. Brand: Acme. Category: Beauty > Makeup > Lips",
        "Nail polish. Category: Beauty > Makeup > Nails | Beauty > Gifts",
        "Face cream. Brand: Skin Co",
    ]
    assert catalogue.texts(fields=("title",))[0] == "Red lipstick"
    with pytest.raises(ConfigError):
        catalogue.texts(fields=("price",))
    assert catalogue.leaf_categories() == ["Lips", "Nails", ""]
    assert catalogue.category_paths(1) == [["Beauty", "Makeup", "Nails"], ["Beauty", "Gifts"]]
    assert catalogue.title(2) == "Face cream"


# -- leave-one-out ---------------------------------------------------------------------------------
def test_leave_one_out_by_hand():
    split = leave_one_out((np.array([7, 8]), [np.array([4, 5, 6, 7]), np.array([1, 2, 3])]))
    assert split.user_ids.tolist() == [7, 8]
    assert [t.tolist() for t in split.train] == [[4, 5], [1]]
    assert [h.tolist() for h in split.valid_history] == [[4, 5], [1]]
    assert split.valid_target.tolist() == [6, 2]
    assert [h.tolist() for h in split.test_history] == [[4, 5, 6], [1, 2]]
    assert split.test_target.tolist() == [7, 3]
    assert split.test_target.dtype == np.int64


def test_leave_one_out_from_dataset_and_plain_lists(tmp_path):
    folder = make_folder(tmp_path / "d", {"items.csv": ITEMS_CSV, "interactions.csv": INTERACTIONS_CSV})
    split = leave_one_out(load_dataset(folder))
    assert split.user_ids.tolist() == [10, 20] and split.test_target.tolist() == [2, 1]
    plain = leave_one_out([[0, 1, 2], [2, 0, 1]])
    assert plain.user_ids.tolist() == [0, 1] and plain.valid_target.tolist() == [1, 0]
    with pytest.raises(ConfigError, match="user 1 has 2"):
        leave_one_out([[0, 1, 2], [2, 0]])
    # a dataset is split from flat arrays (Interactions.offsets): the same as from its sequences
    dataset = load_dataset(folder)
    users, items, bounds = dataset.offsets()
    assert bounds.tolist() == [0, 3, 6] and items.tolist() == [0, 1, 2, 2, 0, 1]
    listed = leave_one_out(dataset.sequences())
    for name in ("user_ids", "valid_target", "test_target"):
        assert np.array_equal(getattr(split, name), getattr(listed, name))
    for name in ("train", "valid_history", "test_history"):
        assert [s.tolist() for s in getattr(split, name)] == [s.tolist() for s in getattr(listed, name)]


def test_dataset_fingerprint_hashes_each_users_id_length_and_item_ids(tmp_path):
    """The split hash (laid out as one array) is the SHA-256 of, per user ascending, [id, length]
    and the item ids, little-endian int64: computed here user by user."""
    import hashlib

    from genrec_engine.data.fingerprint import dataset_fingerprint

    dataset = load_dataset(make_folder(tmp_path / "d", {"items.csv": ITEMS_CSV, "interactions.csv": INTERACTIONS_CSV}))
    users, seqs = dataset.sequences()
    ids = dataset.catalogue.item_ids
    h = hashlib.sha256()
    for u, s in zip(users.tolist(), seqs):
        h.update(np.asarray([u, len(s)], dtype="<i8").tobytes())
        h.update(np.asarray(ids[s], dtype="<i8").tobytes())
    fp = dataset_fingerprint(dataset)
    assert fp == {"users": 2, "items": 3, "interactions": 6, "split_sha256": h.hexdigest()}


# -- save / load round trip (property) -------------------------------------------------------------
_LEVEL = st.text(st.characters(codec="utf-8", exclude_characters="|>\r\n\x00"), min_size=1, max_size=8) \
    .map(str.strip).filter(bool)
_TITLE = st.text(st.characters(codec="utf-8", exclude_characters="\r\x00"), min_size=1, max_size=20) \
    .map(str.strip).filter(bool)


@st.composite
def _small_dataset(draw):
    n_items = draw(st.integers(1, 6))
    ids = draw(st.lists(st.integers(-10**12, 10**12), min_size=n_items, max_size=n_items, unique=True))
    titles = draw(st.lists(_TITLE, min_size=n_items, max_size=n_items))
    brands = draw(st.lists(st.one_of(st.just(""), _LEVEL), min_size=n_items, max_size=n_items))
    paths = draw(st.lists(st.lists(st.lists(_LEVEL, min_size=1, max_size=3), max_size=2),
                          min_size=n_items, max_size=n_items))
    n_users = draw(st.integers(1, 4))
    users = draw(st.lists(st.integers(0, 10**9), min_size=n_users, max_size=n_users, unique=True))
    rows_user, rows_item = [], []
    for user in users:
        seq = draw(st.lists(st.sampled_from(ids), min_size=1, max_size=6))
        rows_user += [user] * len(seq)
        rows_item += seq
    order = draw(st.permutations(range(len(rows_user))))  # interleave users; each keeps its order
    return ids, titles, brands, paths, rows_user, rows_item, order


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=_small_dataset(), items_format=st.sampled_from(["csv", "tsv", "parquet", "jsonl"]),
       interactions_format=st.sampled_from(["csv", "tsv", "parquet", "jsonl"]))
def test_save_load_round_trip(tmp_path, data, items_format, interactions_format):
    ids, titles, brands, paths, rows_user, rows_item, order = data
    categories = [" | ".join(" > ".join(p) for p in ps) for ps in paths]
    catalogue = Catalogue(pd.DataFrame({"item_id": ids, "title": titles, "brand": brands, "categories": categories}))
    # interleave the users' rows but give each row its within-user position
    positions = np.zeros(len(rows_user), dtype=np.int64)
    seen: dict[int, int] = {}
    for k, user in enumerate(rows_user):
        positions[k], seen[user] = seen.get(user, 0), seen.get(user, 0) + 1
    shuffled = np.asarray(order, dtype=np.int64)
    interactions = Interactions.from_arrays(
        catalogue, np.asarray(rows_user)[shuffled], np.asarray(rows_item)[shuffled], positions=positions[shuffled])
    out = tmp_path / f"rt-{items_format}-{interactions_format}"
    save_dataset(catalogue, interactions, out, items_format=items_format, interactions_format=interactions_format)
    assert sorted(p.name for p in out.iterdir()) == sorted([f"items.{items_format}", f"interactions.{interactions_format}"])
    loaded = load_dataset(out, min_user_interactions=1)
    pd.testing.assert_frame_equal(loaded.catalogue.items, catalogue.items, check_dtype=False)
    want_users, want_seqs = interactions.sequences()
    got_users, got_seqs = loaded.interactions.sequences()
    assert got_users.tolist() == want_users.tolist()
    assert [s.tolist() for s in got_seqs] == [s.tolist() for s in want_seqs]
    expected = {u: [catalogue.index_of(i)[0] for uu, i in zip(rows_user, rows_item) if uu == u] for u in set(rows_user)}
    assert {int(u): s.tolist() for u, s in zip(got_users, got_seqs)} == expected


# -- Amazon import ---------------------------------------------------------------------------------
def test_import_amazon_small(tmp_path):
    src = make_folder(tmp_path / "src", {
        "Tiny.txt": "1 10 20 30\n2 30 10 20 10\n",
        "items.jsonl": (
            '{"item_id": 10, "asin": "A", "title": "Soap &amp; Suds", "brand": null, "categories": [["Beauty", "Bath"]]}\n'
            '{"item_id": 20, "asin": "B", "title": null, "brand": "Me &amp; You", "categories": [["Beauty"], ["Gifts", "Sets"]]}\n'
            '{"item_id": 30, "asin": "C", "title": "Brush", "brand": "X", "categories": [["Beauty", "Tools"]], "extra": 1}\n'
        ),
    })
    seen = []
    summary = import_amazon(src, tmp_path / "out", progress=lambda f, m: seen.append(f))
    assert summary["users"] == 2 and summary["items"] == 3 and summary["interactions"] == 7
    assert summary["items_without_title"] == 1 and summary["items_with_brand"] == 2
    assert seen[-1] == 1.0 and seen == sorted(seen)
    first = json.loads((tmp_path / "out" / "items.jsonl").read_text(encoding="utf-8").splitlines()[1])
    assert first == {"item_id": 20, "title": "", "brand": "Me & You", "categories": "Beauty | Gifts > Sets", "asin": "B"}
    assert (tmp_path / "out" / "interactions.csv").read_text().splitlines()[:5] == [
        "user_id,item_id,position", "1,10,0", "1,20,1", "1,30,2", "2,30,0"]
    dataset = load_dataset(tmp_path / "out")
    assert dataset.catalogue.title(0) == "Soap & Suds"
    assert [w.field for w in dataset.warnings] == ["title"]


def test_import_amazon_reports_unknown_items(tmp_path):
    src = make_folder(tmp_path / "src", {"Tiny.txt": "1 10 99\n", "items.jsonl": '{"item_id": 10, "title": "a"}\n'})
    with pytest.raises(DataValidationError, match="99"):
        import_amazon(src, tmp_path / "out")


# -- the bundled dataset ---------------------------------------------------------------------------
def test_bundled_beauty_loads():
    dataset = load_dataset(BEAUTY)
    assert (dataset.n_items, dataset.n_users, dataset.n_interactions) == (12_101, 22_363, 198_502)
    assert len(dataset.warnings) == 7
    assert all(w.field == "title" and w.file == "items.jsonl" for w in dataset.warnings)
    assert int((dataset.catalogue.items["brand"] != "").sum()) == 12_029
    assert dataset.interactions.order_by == "position"
    _, sequences = dataset.interactions.sequences()
    assert min(len(s) for s in sequences) == 5
