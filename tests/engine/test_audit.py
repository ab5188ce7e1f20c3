"""``genrec audit`` and ``genrec eval --dump``: our own lists audit back to ``eval``'s figures
exactly; hand-made files give hand-computed figures; bad input gives one line naming file, line and
field."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from genrec_engine import Project
from genrec_engine.cli import main as cli_main
from genrec_engine.data import project_split
from genrec_engine.interop.audit import SIDResolver, audit_generations
from genrec_engine.interop.sidtext import format_sid
from genrec_engine.testing import make_tiny_project
from genrec_engine.train import TrainConfig, train_generator
from genrec_engine.train.evaluate import item_counts
from genrec_engine.train.metrics import popularity_percentiles

ROOT = Path(__file__).resolve().parents[2]
BEAUTY = ROOT / "resources" / "datasets" / "beauty"
SHARED = ("recall@5", "recall@10", "recall@20", "ndcg@5", "ndcg@10", "ndcg@20", "coverage@10", "homogeneity@10",
          "ild@10", "popularity@10", "users")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """A 2-level tiny project (80 items, SIDs of 3 codes, collision groups of up to 6 items) with a
    small RAN and SASRec trained for one epoch (few enough items that their lists hit targets)."""
    path = make_tiny_project(BEAUTY, tmp_path_factory.mktemp("audit"), items=80, users=60, per_user=6)
    proj = Project.open(path)
    for kind in ("ran", "sasrec"):
        train_generator(proj, kind, model_config={"d_model": 16, "n_layers": 1, "n_heads": 1},
                        train_config=TrainConfig(epochs=1, seed=0), device="cpu")
    return path


def _cli(capsys, *argv) -> tuple[int, str, str]:
    code = cli_main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _write_jsonl(path: Path, rows: list) -> Path:
    """One line per entry: a dict as JSON, a string as written (e.g. "" for a blank line)."""
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


# ---- (a) eval --dump, then audit: the same figures ----

@pytest.mark.parametrize("model, extra", [("ran", []), ("ran", ["--unconstrained"]), ("sasrec", [])])
def test_audit_of_the_eval_dump_reproduces_eval_exactly(tiny, tmp_path, capsys, model, extra):
    dump = tmp_path / "ours.jsonl"
    code, out, err = _cli(capsys, "eval", "--project", str(tiny), "--model", model, "--users", "40", "--device", "cpu",
                          "--dump", str(dump), *extra, "--json")
    assert code == 0, err
    ev = json.loads(out)
    assert ev["dump"] == {"file": str(dump), "rows": 40}
    rows = [json.loads(line) for line in dump.read_text().splitlines()]
    assert all(len(r["ranked"]) == len(r["scores"]) <= 20 and r["target_item_id"] is not None for r in rows)
    code, out, err = _cli(capsys, "audit", "--project", str(tiny), "--generations", str(dump), "--k", "20", "--json")
    assert code == 0, err
    au = json.loads(out)
    assert {k: au["item_level"][k] for k in SHARED} == {k: ev[k] for k in SHARED}  # exactly, not approximately
    assert au["invalid_rate"] == ev["invalid_rate"]  # 20 SIDs per list here, so the two denominators agree
    assert au["duplicate_rate"] == 0.0 and au["rows_with_unsorted_scores"] == 0
    measured = (au["file"], au["rows"], au["users"], au["k"], au["policy"], au["split"])
    assert measured == (str(dump), 40, 40, 20, "first", "test")
    assert au["protocol"]["dataset"] == ev["protocol"]["dataset"]  # both carry the same protocol card
    assert au["protocol"]["split"]["users"] == 40 and ev["protocol"]["split"]["users"] == 40
    if "--unconstrained" not in extra:  # every SID names an item: SID level = item level
        assert au["sid_level"] == {k: ev[k] for k in au["sid_level"]}
        assert ev["recall@20"] > 0 and ev["ndcg@5"] > 0  # the comparison is not vacuous


# ---- (b) a hand-made file ----

def _fixture_items(proj: Project):
    """A collision group ``(c0, c1)`` of two items ``g0 < g1`` and three items x, y, z outside it
    whose first code differs from ``c0``; three users."""
    codes = proj.sids.codes
    group = next(g for g, members in SIDResolver(codes).groups.items() if len(members) == 2)
    g0, g1 = SIDResolver(codes).groups[group][:2]
    x, y, z = [int(i) for i in np.flatnonzero(codes[:, 0] != group[0])[:3]]
    users = project_split(proj).user_ids[:3].tolist()
    return codes, group, g0, g1, x, y, z, users


def _hand_rows(proj: Project) -> list:
    codes, group, g0, g1, x, y, z, (ua, ub, uc) = _fixture_items(proj)
    ids = proj.sids.item_ids
    full = lambda i: codes[i].tolist()  # noqa: E731
    return [
        # user A, target g1: invalid, x, x again (duplicate), the group by its 2 codes, g1's full SID
        {"user_id": ua, "target_item_id": int(ids[g1]), "ranked": [[99, 99, 99], full(x), format_sid(full(x)),
                                                                   list(group), full(g1)]},
        # user B, target g1: the group, then y
        {"user_id": ub, "target_item_id": int(ids[g1]), "ranked": [format_sid(group, "letter"), full(y)],
         "scores": [-1.0, -0.5]},  # increasing: an unsorted row
        "",  # a blank line: user C's row is line 4
        # user C, target z: z (letter tokens), z with one code too many, z's first code alone
        {"user_id": uc, "target_item_id": int(ids[z]), "ranked": [format_sid(full(z), "letter"), full(z) + [0],
                                                                  full(z)[:1]], "scores": [-0.1, None, -3]},
    ]


def test_hand_made_file_gives_hand_computed_figures(tiny, tmp_path):
    proj = Project.open(tiny)
    codes, group, g0, g1, x, y, z, (ua, ub, uc) = _fixture_items(proj)
    path = _write_jsonl(tmp_path / "hand.jsonl", _hand_rows(proj))
    first = audit_generations(proj, path, k=10, policy="first")
    every = audit_generations(proj, path, k=10, policy="all")
    # Slots among the first 10: A 5, B 2, C 3 = 10.
    # Invalid: A's [99,99,99]; C's 4-code and 1-code SIDs = 3 -> 0.3.
    # Group SIDs (2 codes naming the group): A's and B's = 2 -> 0.2.
    # Duplicates, "first": A's second x = 1 -> 0.1 (A's group gives g0, then g1's full SID is new).
    # Duplicates, "all": A's second x, and g1's full SID after the group gave g0, g1 = 2 -> 0.2.
    assert (first.slots, first.invalid_rate, first.group_rate, first.duplicate_rate) == (10, 0.3, 0.2, 0.1)
    assert (every.slots, every.invalid_rate, every.group_rate, every.duplicate_rate) == (10, 0.3, 0.2, 0.2)
    # Item lists, "first": A [-1, x, -1, g0, g1]       target g1 at rank 4
    #                      B [g0, y]                    target g1 missing
    #                      C [z, -1, -1]                target z at rank 0
    # recall@5 = 2/3; ndcg@5 = (1/log2(6) + 0 + 1/log2(2)) / 3
    assert first.item_level["recall@5"] == pytest.approx(2 / 3)
    assert first.item_level["ndcg@5"] == pytest.approx((1 / math.log2(6) + 1) / 3)
    # Item lists, "all":   A [-1, x, -1, g0, g1, -1]   rank 4
    #                      B [g0, g1, y]                rank 1
    #                      C [z, -1, -1]                rank 0
    # recall@5 = 1; ndcg@5 = (1/log2(6) + 1/log2(3) + 1) / 3
    assert every.item_level["recall@5"] == 1.0
    assert every.item_level["ndcg@5"] == pytest.approx((1 / math.log2(6) + 1 / math.log2(3) + 1) / 3)
    # SID level (one slot per SID, a group hits when it holds the target): A's group at rank 3, B's
    # group at 0, C's z at 0: recall@5 = 1, ndcg@5 = (1/log2(5) + 1 + 1) / 3, whatever the policy.
    for rep in (first, every):
        assert rep.sid_level["recall@5"] == 1.0
        assert rep.sid_level["ndcg@5"] == pytest.approx((1 / math.log2(5) + 2) / 3)
    # Coverage: {x, g0, g1, y, z} = 5 items of 80 under both policies.
    assert first.item_level["coverage@10"] == every.item_level["coverage@10"] == pytest.approx(5 / 80)
    # Homogeneity (first-code share of the valid items): g0, g1 share c0, x, y, z do not.
    # "first": A 2/3 (g0, g1 of x, g0, g1), B 1/2, C 1/1;  "all": A 2/3, B 2/3, C 1.
    assert first.item_level["homogeneity@10"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert every.item_level["homogeneity@10"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    # Popularity: the mean percentile over the valid slots, "first": x g0 g1 | g0 y | z.
    pct = popularity_percentiles(item_counts(project_split(proj), 80))
    assert first.item_level["popularity@10"] == pytest.approx(pct[[x, g0, g1, g0, y, z]].mean())
    # Worst users: A (1 invalid + 1 duplicate) and C (2 invalid) tie at 2, file order; B has none.
    assert first.worst_users == [
        {"user_id": ua, "line": 1, "invalid": 1, "duplicate": 1, "returned": 5},
        {"user_id": uc, "line": 4, "invalid": 2, "duplicate": 0, "returned": 3},
    ]
    assert (first.rows, first.users, first.targets_from_file, first.rows_with_scores) == (3, 3, 3, 2)
    assert first.rows_with_unsorted_scores == 1  # B's scores rise; C's null is left out
    # k=2: A [invalid, x], B [group, y], C [z, invalid]: 6 slots, 2 invalid, no duplicate
    short = audit_generations(proj, path, k=2)
    assert (short.slots, short.invalid_rate, short.duplicate_rate) == (6, pytest.approx(2 / 6), 0.0)


def test_rows_without_a_target_use_the_split(tiny, tmp_path):
    proj = Project.open(tiny)
    sp = project_split(proj)
    u, t = int(sp.user_ids[5]), int(sp.test_target[5])
    path = _write_jsonl(tmp_path / "t.jsonl", [{"user_id": u, "ranked": [proj.sids.codes[t].tolist()]}])
    assert audit_generations(proj, path).item_level["recall@5"] == 1.0
    assert audit_generations(proj, path, split="valid").item_level["recall@5"] == float(sp.valid_target[5] == t)


# ---- (c) level drift ----

def test_level_drift_on_a_hand_made_case(tiny, tmp_path):
    proj = Project.open(tiny)
    codes, ids = proj.sids.codes, proj.sids.item_ids
    users = project_split(proj).user_ids[:4].tolist()
    targets = [10, 20, 30, 40]
    t = [codes[i].tolist() for i in targets]
    other = lambda c: (c + 1) % 16  # noqa: E731  (a different code of the same level)
    top1 = [
        t[0],                                   # u1: all three codes right
        [other(t[1][0]), t[1][1], t[1][2]],     # u2: level 1 wrong, levels 2 and 3 right
        [t[2][0], other(t[2][1]), t[2][2]],     # u3: level 2 wrong, levels 1 and 3 right
        t[3][:2],                               # u4: the 2-code group of the target: level 3 not counted
    ]
    rows = [{"user_id": u, "target_item_id": int(ids[i]), "ranked": [s]} for u, i, s in zip(users, targets, top1)]
    rep = audit_generations(proj, _write_jsonl(tmp_path / "drift.jsonl", rows))
    # level 1: right for u1, u3, u4 (3 of 4); the empty prefix is always right.
    # level 2: right for u1, u2, u4 (3 of 4); prefix right for u1, u3, u4 -> u1, u4 right (2/3);
    #          prefix wrong for u2 -> right (1/1).
    # level 3: u1, u2, u3 count, all right (3/3); prefix right u1 (1/1); wrong u2, u3 (2/2).
    got = [(r["level"], r["kind"], r["users"], r["accuracy"], r["prefix_right_users"], r["prefix_right_accuracy"],
            r["prefix_wrong_users"], r["prefix_wrong_accuracy"]) for r in rep.level_drift]
    assert got == [
        (1, "code", 4, 0.75, 4, 0.75, 0, None),
        (2, "code", 4, 0.75, 3, pytest.approx(2 / 3), 1, 1.0),
        (3, "collision", 3, 1.0, 1, 1.0, 2, 1.0),
    ]


# ---- (d) Parquet = JSONL ----

def test_parquet_input_equals_jsonl_input(tiny, tmp_path):
    proj = Project.open(tiny)
    resolver = SIDResolver(proj.sids.codes)
    assert resolver.depth == 3
    rows = [r for r in _hand_rows(proj) if r != ""]
    jsonl = _write_jsonl(tmp_path / "g.jsonl", rows)
    # Arrow needs one type per column: every SID as "12-7-201" text, scores null where absent
    table = pa.table({
        "user_id": [r["user_id"] for r in rows],
        "ranked": [[s if isinstance(s, str) else format_sid(s) for s in r["ranked"]] for r in rows],
        "scores": [r.get("scores") for r in rows],
        "target_item_id": [r["target_item_id"] for r in rows],
    })
    pq.write_table(table, tmp_path / "g.parquet")
    for policy in ("first", "all"):
        a = audit_generations(proj, jsonl, policy=policy).to_dict()
        b = audit_generations(proj, tmp_path / "g.parquet", policy=policy).to_dict()
        assert (a.pop("file"), a.pop("format"), b.pop("file"), b.pop("format")) == (
            str(jsonl), "jsonl", str(tmp_path / "g.parquet"), "parquet")
        assert [w.pop("line") for w in a["worst_users"]] == [1, 3]  # JSONL lines (a blank line was skipped)
        assert [w.pop("line") for w in b["worst_users"]] == [1, 3]  # Parquet rows
        assert a == b


# ---- (e) bad input ----

def _bad_cases(proj: Project, tmp: Path) -> list[tuple[Path, str]]:
    """(file, expected start of the message after the file name)."""
    sp = project_split(proj)
    u1, u2 = sp.user_ids[:2].tolist()
    sid = proj.sids.codes[0].tolist()
    ok = {"user_id": u1, "ranked": [sid]}
    cases = [
        (tmp / "missing.jsonl", ": no such file"),
        (_write_jsonl(tmp / "json.jsonl", [ok, '{"user_id": 3, "ranked": [[1, 2, 3]']), ":2: bad JSON"),
        (_write_jsonl(tmp / "array.jsonl", [[1, 2]]), ":1: expected a JSON object"),
        (_write_jsonl(tmp / "nouser.jsonl", [ok, {"ranked": [sid]}]), ":2 [user_id]: missing user_id"),
        (_write_jsonl(tmp / "floatuser.jsonl", [{"user_id": 1.5, "ranked": [sid]}]), ":1 [user_id]: expected an integer"),
        (_write_jsonl(tmp / "noranked.jsonl", [{"user_id": u1}]), ":1 [ranked]: missing ranked"),
        (_write_jsonl(tmp / "strranked.jsonl", [{"user_id": u1, "ranked": "1-2-3"}]), ":1 [ranked]: expected a list"),
        (_write_jsonl(tmp / "sid.jsonl", [ok, {"user_id": u2, "ranked": [sid, "<a_1><c_2>"]}]), ":2 [ranked[1]]: "),
        (_write_jsonl(tmp / "neg.jsonl", [{"user_id": u1, "ranked": [[1, -2, 3]]}]), ":1 [ranked[0]]: "),
        (_write_jsonl(tmp / "user.jsonl", [ok, {"user_id": 987654321, "ranked": [sid]}]),
         ":2 [user_id]: user 987654321 is not in the project's dataset"),
        (_write_jsonl(tmp / "target.jsonl", [{**ok, "target_item_id": 987654321}]),
         ":1 [target_item_id]: item 987654321 is not in the project's catalogue"),
        (_write_jsonl(tmp / "dup.jsonl", [ok, {"user_id": u2, "ranked": []}, ok]),
         f":3 [user_id]: user {u1} already has a row (line 1)"),
        (_write_jsonl(tmp / "scores.jsonl", [{**ok, "scores": [0.5, 0.1]}]), ":1 [scores]: 2 scores for 1 ranked SIDs"),
        (_write_jsonl(tmp / "scoretype.jsonl", [{**ok, "scores": ["high"]}]), ":1 [scores]: expected numbers"),
        (_write_jsonl(tmp / "empty.jsonl", [""]), ": no rows"),
    ]
    (tmp / "utf8.jsonl").write_bytes(json.dumps(ok).encode() + b"\n\xff\xfe\n")
    cases.append((tmp / "utf8.jsonl", ":2: not valid UTF-8"))
    (tmp / "broken.parquet").write_bytes(b"PAR1 this is not parquet")
    cases.append((tmp / "broken.parquet", ": not a readable Parquet file"))
    pq.write_table(pa.table({"user_id": [u1]}), tmp / "nocol.parquet")
    cases.append((tmp / "nocol.parquet", " [ranked]: missing column 'ranked'"))
    pq.write_table(pa.table({"user_id": [u1, u2], "ranked": [["1-2-3"], ["x"]]}), tmp / "sid.parquet")
    cases.append((tmp / "sid.parquet", ":2 [ranked[0]]: "))
    return cases


def test_bad_input_gives_one_line_naming_file_line_and_field(tiny, tmp_path, capsys):
    proj = Project.open(tiny)
    for path, expected in _bad_cases(proj, tmp_path):
        code, out, err = _cli(capsys, "audit", "--project", str(tiny), "--generations", str(path), "--json")
        assert code == 1, path
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        assert err.startswith(f"genrec: error: {path}{expected}"), (err, expected)
        assert json.loads(out)["error"] == err.strip()[len("genrec: error: "):]
    for path, expected in _bad_cases(proj, tmp_path)[:3]:  # without --json: the same one line
        code, out, err = _cli(capsys, "audit", "--project", str(tiny), "--generations", str(path))
        assert code == 1 and out == "" and err.startswith(f"genrec: error: {path}{expected}") and err.count("\n") == 1
    with pytest.raises(SystemExit) as stop:  # refused by the argument parser, before any work
        _cli(capsys, "audit", "--project", str(tiny), "--generations", str(path), "--k", "0")
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.endswith("error: argument -k/--k: 0 is too small (at least 1)\n")
    code, _, err = _cli(capsys, "audit", "--project", str(tmp_path / "nowhere"), "--generations", str(path))
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err


# ---- (f) per-user figures ----

def test_audit_users_gives_the_per_user_figures_behind_the_report(tiny, tmp_path):
    from genrec_engine.interop.audit import audit_users

    proj = Project.open(tiny)
    codes, group, g0, g1, x, y, z, (ua, ub, uc) = _fixture_items(proj)
    path = _write_jsonl(tmp_path / "hand.jsonl", _hand_rows(proj))
    users = audit_users(proj, path, k=10, policy="first")
    rep = audit_generations(proj, path, k=10, policy="first")
    # the hand-made rows of test (b), "first": A [-1, x, -1, g0, g1], B [g0, y], C [z, -1, -1]
    assert users.user_ids.tolist() == [ua, ub, uc] and users.lines.tolist() == [1, 2, 4]
    assert users.targets.tolist() == [g1, g1, z] and users.returned.tolist() == [5, 2, 3]
    assert users.invalid.tolist() == [1, 0, 2] and users.duplicate.tolist() == [1, 0, 0]
    assert users.items[:, :5].tolist() == [[-1, x, -1, g0, g1], [g0, y, -1, -1, -1], [z, -1, -1, -1, -1]]
    assert users.item_rank.tolist() == [5, -1, 1]  # 1-based; B's group gives g0 only under "first"
    assert users.sid_rank.tolist() == [4, 1, 1]  # A's group SID (rank 4) holds g1; B's group at rank 1
    np.testing.assert_allclose(users.homogeneity, [2 / 3, 1 / 2, 1.0])
    assert users.dominant_prefix.tolist() == [int(codes[g0, 0]), int(codes[g0, 0]), int(codes[z, 0])]
    assert users.prefixes.tolist() == [2, 2, 1]
    assert np.nanmean(users.homogeneity) == pytest.approx(rep.item_level["homogeneity@10"])
    worst = users.worst()
    assert [(int(users.user_ids[r]), int(users.lines[r])) for r in worst[: len(rep.worst_users)]] == [
        (w["user_id"], w["line"]) for w in rep.worst_users]
    every = audit_users(proj, path, k=10, policy="all")
    assert every.duplicate.tolist() == [2, 0, 0] and every.item_rank.tolist() == [5, 2, 1]
