"""Tests of ``import_letter`` / ``genrec data import-letter``: LETTER item.json + inter.json and
MiniOneRec CSV splits into a dataset folder, merged rows, sliding windows, and the bad inputs."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from genrec_engine.cli import main
from genrec_engine.data import load_dataset
from genrec_engine.errors import Cancelled, DataValidationError
from genrec_engine.interop import import_letter
from genrec_engine.jobs import CancelToken

ITEMS = {
    "0": {"title": "Guitar picks", "description": "Twelve picks", "brand": "Pickco",
          "categories": "Musical Instruments,Guitar Accessories"},
    "1": {"title": "Capo", "brand": "", "categories": ["Musical Instruments", "Capos"]},
    "2": {"title": "Strings", "description": "", "brand": "Wire", "categories": [["Music", "Strings"], ["Gifts"]]},
    "3": {"title": "Tuner", "brand": None},
    "4": {"title": "  Strap  ", "brand": "Leather Co", "categories": ""},
    "5": {"brand": "Stand Inc", "categories": "Stands"},  # no title: a warning when loading
    "6": {"title": "Cable", "description": ["Ten", "feet"]},
    "7": {"title": "Pedal", "categories": ["Effects > Pedals", "Gifts"]},
    "8": {"title": "Amp", "brand": "Loud"},
    "9": {"title": "Drum sticks"},
    "10": {"title": "Metronome", "categories": None},
    "11": {"title": "Music stand light"},
}
SEQUENCES = {0: [0, 1, 2, 3, 4], 1: [5, 6, 7, 5], 2: [8, 9, 10, 11, 0, 1]}
CSV_HEADER = "user_id,history_item_title,item_title,history_item_id,item_id,history_item_sid\n"


def write_source(folder: Path, files: dict[str, object]) -> Path:
    """Write ``files`` (str as text, anything else as JSON) into ``folder``; returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return folder


def csv_row(user, history, target) -> str:
    titles = [ITEMS[str(i)].get("title", "") for i in history]
    return f'{user},"{titles}",x,"{history}",{target},"[\'<a_1>\']"\n'


def split_rows() -> dict[str, str]:
    """MiniOneRec-style splits of SEQUENCES: train has one row per prefix up to the third-last
    target, valid the second-last (plus one row repeated from train), test the last."""
    files = {"Tiny.train.csv": CSV_HEADER, "Tiny.valid.csv": CSV_HEADER, "Tiny.test.csv": CSV_HEADER}
    for user, seq in SEQUENCES.items():
        for i in range(1, len(seq)):
            split = "train" if i < len(seq) - 2 else "valid" if i == len(seq) - 2 else "test"
            files[f"Tiny.{split}.csv"] += csv_row(user, seq[:i], seq[i])
    files["Tiny.valid.csv"] += csv_row(1, [5], 6)  # already in train: merged, not duplicated
    return files


def user_sequences(out: Path) -> dict[int, list[int]]:
    dataset = load_dataset(out)
    ids = dataset.catalogue.item_ids
    users, seqs = dataset.sequences()
    return {int(u): [int(ids[i]) for i in s] for u, s in zip(users, seqs)}


def errors_of(exc: DataValidationError) -> list[str]:
    return [str(p) for p in exc.problems if p.severity == "error"]


# -- the two layouts ------------------------------------------------------------------------------
def test_inter_json(tmp_path):
    src = write_source(tmp_path / "src", {"Tiny.item.json": ITEMS,
                                          "Tiny.inter.json": {str(u): s for u, s in SEQUENCES.items()}})
    seen = []
    summary = import_letter(src, tmp_path / "out", progress=lambda f, m: seen.append(f))
    assert (summary["users"], summary["items"], summary["interactions"]) == (3, 12, 15)
    assert (summary["rows"], summary["rows_merged"], summary["rows_windowed"]) == (3, 0, 0)
    assert summary["rows_per_file"] == {"Tiny.inter.json": 3}
    assert summary["item_file"] == "Tiny.item.json" and summary["user_ids"] == "as written"
    assert summary["items_without_title"] == 1 and summary["items_without_interactions"] == 0
    assert summary["shortest_sequence"] == 4
    assert seen == sorted(seen) and seen[-1] == 1.0
    assert user_sequences(tmp_path / "out") == SEQUENCES
    lines = (tmp_path / "out" / "interactions.csv").read_text().splitlines()
    assert lines[:3] == ["user_id,item_id,position", "0,0,0", "0,1,1"]
    items = [json.loads(line) for line in (tmp_path / "out" / "items.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [i["item_id"] for i in items] == list(range(12))  # the LETTER indices, in order
    assert items[0]["categories"] == "Musical Instruments,Guitar Accessories"  # strings kept as written
    assert items[1]["categories"] == "Musical Instruments > Capos"  # a list of levels is one path
    assert items[2]["categories"] == "Music > Strings | Gifts"
    assert items[7]["categories"] == "Effects > Pedals | Gifts"
    assert items[4]["title"] == "Strap" and items[6]["description"] == "Ten feet"
    assert items[0]["description"] == "Twelve picks" and items[3]["brand"] == ""


def test_csv_splits_merge_into_sequences(tmp_path):
    src = write_source(tmp_path / "src", {"Tiny.item.json": ITEMS, **split_rows()})
    summary = import_letter(src, tmp_path / "out")
    assert (summary["users"], summary["items"], summary["interactions"]) == (3, 12, 15)
    # 6 train + 4 valid + 3 test rows; all but the longest row of each user are merged
    assert summary["rows_per_file"] == {"Tiny.train.csv": 6, "Tiny.valid.csv": 4, "Tiny.test.csv": 3}
    assert (summary["rows"], summary["rows_merged"], summary["rows_windowed"]) == (13, 10, 0)
    assert summary["history_window"] is None and summary["ignored_files"] == []
    assert user_sequences(tmp_path / "out") == SEQUENCES
    assert main(["data", "check", str(tmp_path / "out")]) == 0


def test_csv_in_split_subfolders_with_prefixed_user_ids_and_windows(tmp_path):
    """MiniOneRec's own layout: train/ valid/ test/ folders, user ids "A<n>", histories cut to
    the last K items (K = 3 here); a later window listed first in train still finds its place."""
    window = 3
    seqs = {0: [0, 1, 2, 3, 4, 5, 6, 7], 1: [8, 9, 10, 11, 0]}
    files = {"Tiny.item.json": ITEMS, "train/Tiny.csv": CSV_HEADER, "valid/Tiny.csv": CSV_HEADER,
             "test/Tiny.csv": CSV_HEADER}
    files["train/Tiny.csv"] += csv_row("A0", seqs[0][4:7], seqs[0][7])  # out of order on purpose
    for user, seq in seqs.items():
        for i in range(1, len(seq)):
            split = "train" if i < len(seq) - 2 else "valid" if i == len(seq) - 2 else "test"
            if (user, i) != (0, 7):
                files[f"{split}/Tiny.csv"] += csv_row(f"A{user}", seq[max(0, i - window):i], seq[i])
    files["test/Tiny.csv"] += csv_row("A0", seqs[0][2:5], seqs[0][5])  # a repeated window
    src = write_source(tmp_path / "src", files)
    summary = import_letter(src, tmp_path / "out")
    assert summary["history_window"] == window and summary["user_ids"] == "prefix 'A' stripped"
    assert summary["rows_per_file"] == {"train/Tiny.csv": 8, "valid/Tiny.csv": 2, "test/Tiny.csv": 2}
    # merged: one short prefix per user and the repeated window; windowed: histories not at 0
    assert (summary["rows"], summary["rows_merged"], summary["rows_windowed"]) == (12, 3, 6)
    assert (summary["users"], summary["interactions"]) == (2, 13)
    assert user_sequences(tmp_path / "out") == seqs


def test_reviewer_ids_are_renumbered_and_inter_json_wins_over_csv(tmp_path):
    files = {"Tiny.item.json": ITEMS, "Tiny.test.csv": CSV_HEADER + csv_row("AEX9Q", [0, 1], 2)
             + csv_row("B7K", [3, 4], 5) + csv_row("AEX9Q", [0], 1)}
    summary = import_letter(write_source(tmp_path / "csv", files), tmp_path / "out")
    assert summary["user_ids"] == "renumbered in order of first appearance"
    assert user_sequences(tmp_path / "out") == {0: [0, 1, 2], 1: [3, 4, 5]}
    files["Tiny.inter.json"] = {"0": [1, 2, 3]}
    summary = import_letter(write_source(tmp_path / "both", files), tmp_path / "out2")
    assert summary["interaction_files"] == ["Tiny.inter.json"] and summary["ignored_files"] == ["Tiny.test.csv"]


def test_existing_out_keeps_other_files_and_json_cli(tmp_path, capsys):
    src = write_source(tmp_path / "src", {"Tiny.item.json": ITEMS, **split_rows()})
    out = write_source(tmp_path / "out", {"notes.txt": "mine", "items.csv": "item_id,title\n1,old\n"})
    assert main(["data", "import-letter", str(src), str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["users"], summary["interactions"], summary["rows_merged"]) == (3, 15, 10)
    assert sorted(p.name for p in out.iterdir()) == ["interactions.csv", "items.jsonl", "notes.txt"]


def test_cancel_writes_nothing(tmp_path):
    src = write_source(tmp_path / "src", {"Tiny.item.json": ITEMS, **split_rows()})
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        import_letter(src, tmp_path / "out", cancel=token)
    assert not (tmp_path / "out").exists()


# -- bad inputs: one error each, naming the file and the line or key ------------------------------
def _csv_case(**replace_rows):
    files = {"Tiny.item.json": ITEMS, **split_rows()}
    for name, (old, new) in replace_rows.items():
        assert old in files[name]
        files[name] = files[name].replace(old, new, 1)
    return files


BAD = {
    "unknown item in history": (
        _csv_case(**{"Tiny.train.csv": ('"[0, 1]",2', '"[0, 99]",2')}),
        "Tiny.train.csv:3 [history_item_id]: item(s) 99 not in Tiny.item.json"),
    "unknown target": (
        _csv_case(**{"Tiny.test.csv": ('"[5, 6, 7]",5', '"[5, 6, 7]",12')}),
        "Tiny.test.csv:3 [item_id]: item(s) 12 not in Tiny.item.json"),
    "unparseable history": (
        _csv_case(**{"Tiny.valid.csv": ('"[0, 1, 2]",3', '"[0, 1; 2]",3')}),
        "Tiny.valid.csv:2 [history_item_id]: cannot read '[0, 1; 2]'"),
    "non-integer target": (
        _csv_case(**{"Tiny.train.csv": ('"[0]",1', '"[0]",B00X')}),
        "Tiny.train.csv:2 [item_id]: item_id must be an integer item index, found 'B00X'"),
    "inconsistent rows": (
        _csv_case(**{"Tiny.train.csv": ('"[8, 9]",10', '"[8, 7]",10')}),
        "Tiny.train.csv:6 [history_item_id]: user 2: history + target [8, 7, 10] is not a prefix of the "
        "user's longest sequence [8, 9, 10, 11, 0, 1] (Tiny.test.csv line 4)"),
    "missing column": (
        {"Tiny.item.json": ITEMS, "Tiny.test.csv": "user_id,item_id\n0,1\n"},
        "Tiny.test.csv:1: missing column(s) history_item_id"),
    "unknown item in inter.json": (
        {"Tiny.item.json": ITEMS, "Tiny.inter.json": {"0": [0, 1, 2], "7": [3, 40, 5]}},
        'Tiny.inter.json ["7"]: item(s) 40 not in Tiny.item.json'),
    "non-integer item in inter.json": (
        {"Tiny.item.json": ITEMS, "Tiny.inter.json": {"0": [0, 1, 2], "7": [3, "x", 5]}},
        'Tiny.inter.json ["7"]: entry 1: item indices must be integers, found \'x\''),
    "non-integer item key": (
        {"Tiny.item.json": {**ITEMS, "B00X": {"title": "t"}}, "Tiny.inter.json": {"0": [0, 1, 2]}},
        'Tiny.item.json ["B00X"]: item keys must be integer indices'),
    "item nothing describes": (
        {"Tiny.item.json": {**ITEMS, "3": {"description": "only this"}}, "Tiny.inter.json": {"0": [0, 1, 2]}},
        'Tiny.item.json ["3"]: item 3 has no title, brand or categories'),
    "bad categories": (
        {"Tiny.item.json": {**ITEMS, "3": {"title": "t", "categories": 5}}, "Tiny.inter.json": {"0": [0, 1, 2]}},
        'Tiny.item.json ["3"]: categories must be a string or a list of paths, not int'),
    "item.json not JSON": (
        {"Tiny.item.json": '{"0": {"title": "a"},\n "1": }\n', "Tiny.inter.json": {"0": [0]}},
        "Tiny.item.json:2: not valid JSON"),
    "no item.json": (
        {"Tiny.inter.json": {"0": [0]}},
        "*.item.json: expected exactly one <name>.item.json"),
    "two item.json": (
        {"A.item.json": ITEMS, "B.item.json": ITEMS, "A.inter.json": {"0": [0]}},
        "*.item.json: expected exactly one <name>.item.json in"),
    "no interactions": (
        {"Tiny.item.json": ITEMS},
        "*.inter.json: missing file: no interactions in"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_error_naming_file_and_place(tmp_path, case):
    files, expected = BAD[case]
    src = write_source(tmp_path / "src", files)
    with pytest.raises(DataValidationError) as info:
        import_letter(src, tmp_path / "out")
    errors = errors_of(info.value)
    assert len(errors) == 1, errors
    assert expected in errors[0]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("case", ["inconsistent rows", "two item.json", "unknown item in inter.json"])
def test_cli_reports_one_line_and_exit_1(tmp_path, capsys, case):
    files, expected = BAD[case]
    src = write_source(tmp_path / "src", files)
    assert main(["data", "import-letter", str(src), str(tmp_path / "out")]) == 1
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if "error" in line]
    assert len(errors) == 1 and errors[0].startswith("genrec: error: ") and expected in errors[0]
    assert "Traceback" not in captured.err + captured.out
    assert not (tmp_path / "out").exists()


def test_out_is_a_file(tmp_path, capsys):
    src = write_source(tmp_path / "src", {"Tiny.item.json": ITEMS, "Tiny.inter.json": {"0": [0, 1, 2]}})
    (tmp_path / "out").write_text("x")
    assert main(["data", "import-letter", str(src), str(tmp_path / "out")]) == 1
    assert "is a file" in capsys.readouterr().err
