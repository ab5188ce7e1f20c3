"""The playground's view-model on its own (no widgets): the request rules, what the status lines
say, the item search, and the one recommendation function against the engine's id-based facade."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import app
from app.model import ItemLookups
from app.panels.playground import state as st
from app.panels.playground.state import (
    KINDS,
    MAX_HISTORY,
    GeneratorLoad,
    ListResult,
    Part,
    PlaygroundState,
    ResultRow,
)
from genrec_engine import GenrecError, Project, interest_groups, leave_one_out, recommend

from .test_diagnostics_state import assert_qt_free

LABELS = {"tiger": "TIGER-style", "ran": "RAN", "sasrec": "SASRec"}


@pytest.fixture(scope="module")
def project():
    return Project.open(app.DEFAULT_PROJECT)


@pytest.fixture(scope="module")
def setup(project):
    return st.prepare_playground(project)


def _model(instruction: bool = False):
    return SimpleNamespace(accepts_instruction=instruction)


def _loaded(project, instruction_kinds=(), errors=()) -> PlaygroundState:
    s = PlaygroundState(LABELS)
    s.open(project)
    for kind in KINDS:
        if kind in errors:
            s.generator_loaded(GeneratorLoad(kind, None, f"no {kind}"))
        else:
            s.generator_loaded(GeneratorLoad(kind, _model(kind in instruction_kinds), None, kind in instruction_kinds))
    return s


def _result(kind, rid, items, invalid=0, used=False) -> ListResult:
    rows = tuple(ResultRow(r + 1, i, None if i < 0 else 1000 + i, f"t{i}", (1, 2), -float(r)) for r, i in enumerate(items))
    return ListResult(kind, rid, rows, invalid, 0.0123, used)


def test_state_module_imports_no_qt():
    assert_qt_free(st)


def test_pages_generators_and_the_instruction_box(project):
    s = PlaygroundState(LABELS)
    assert s.page == "empty" and not s.settled(False, False) and s.users == []
    s.open(project)
    assert s.page == "playground" and not s.models_loaded and not s.instruction_enabled
    assert s.instruction_tip() == st.LOADING_TIP
    assert s.status("ran", False) == (Part("Loading the generator…"),)
    s.generator_loaded(GeneratorLoad("ran", _model(True), None, True))
    s.generator_loaded(GeneratorLoad("tiger", _model(), None, False))
    s.generator_failed("sasrec", "No usable SASRec generator (gone). Train one with: genrec train …")
    assert s.models_loaded and s.instruction_enabled and s.instruction_kinds == {"ran"}
    assert s.instruction_tip() == "A natural-language wish; read by: RAN. The other generators ignore it."
    assert s.status("sasrec", False) == (Part(s.load_errors["sasrec"], "error"),)
    assert s.status("ran", False) == (Part("Waiting for a history…"),)
    plain = _loaded(project)
    assert not plain.instruction_enabled and plain.instruction_tip() == st.NO_INSTRUCTION_TIP
    assert plain.pending((1, 2), "wish", True, 10, 20, False).instruction == ""  # the box is off: never sent
    s.open(None)  # closing drops everything of the project
    assert s.page == "empty" and s.models == {} and s.load_errors == {} and s.request is None


def test_requests_decode_actions_and_stale_answers(project):
    s = _loaded(project, instruction_kinds=("ran",))
    assert s.decode_action("ran", False) is None  # no request yet
    first = s.new_request((5, 6, 7), "wish", False, 10, 5, True)
    assert (first.id, first.history, first.instruction, first.constrained, first.k, first.beam,
            first.exclude_history) == (1, (5, 6, 7), "wish", False, 10, 5, True)
    assert s.pending((5,), "", True, 3, 3, False).id == 0 and s.request is first
    assert all(s.decode_action(k, False) == "decode" for k in KINDS)
    assert s.decode_action("ran", True) is None  # its decode is running: it asks again when done
    second = s.new_request((8,), "", True, 10, 20, False)
    assert second.id == 2
    assert not s.list_arrived(_result("ran", first.id, [1, 2]))  # an older request's answer is dropped
    assert "ran" not in s.shown
    assert s.list_arrived(_result("ran", second.id, [1, 2]))
    assert s.decode_action("ran", False) is None  # shown already
    s.list_failed("tiger", second.id, "boom")
    assert s.status("tiger", False) == (Part("Could not decode: boom", "error"),)
    assert s.decode_action("tiger", False) is None  # a failed decode is not retried in a loop ...
    s.list_failed("sasrec", first.id, "old")
    assert s.decode_action("sasrec", False) == "decode"  # ... but an older request's failure does not count
    assert not s.settled(False, False)  # sasrec has not answered
    assert s.list_arrived(_result("sasrec", second.id, [2, 3]))
    assert s.settled(False, False) and not s.settled(True, False) and not s.settled(False, True)
    # an empty history: only a generator that reads the instruction has something to decode
    s.new_request((), "a wish", True, 10, 20, False)
    assert s.decode_action("ran", False) == "decode"
    assert s.decode_action("tiger", False) == "nothing" and "tiger" not in s.shown
    assert s.status("tiger", False) == (Part(st.NOTHING_TO_DECODE),)
    s.new_request((), "", True, 10, 20, False)
    assert s.decode_action("ran", False) == "nothing"


def test_a_missing_generator_never_blocks_the_others(project):
    s = _loaded(project, errors=("sasrec",))
    req = s.new_request((1, 2), "", True, 10, 20, False)
    assert s.decode_action("sasrec", False) is None
    for kind in ("tiger", "ran"):
        s.list_arrived(_result(kind, req.id, [1]))
    assert s.settled(False, False)


def test_status_and_request_lines(project):
    s = _loaded(project, instruction_kinds=("ran",))
    assert s.request_text(False) == ""
    req = s.new_request((1, 2, 3), "a wish", False, 10, 5, False)
    assert s.status("ran", False) == (Part("Decoding…"),)
    assert s.request_text(False) == "updating… · 3-item history · k 10 · beam 10 · unconstrained"
    s.list_arrived(_result("ran", req.id, [4, -1, -1], invalid=2, used=True))
    s.list_arrived(_result("tiger", req.id, [4, 5]))
    s.list_arrived(_result("sasrec", req.id, [5]))
    assert s.status("ran", False) == (Part("3 items · 12 ms"), Part("2 invalid SIDs", "error"),
                                      Part("instruction used"))
    assert s.status("tiger", False) == (Part("2 items · 12 ms"), Part("0 invalid SIDs"),
                                        Part("ignores the instruction"))
    assert s.status("sasrec", True)[-1] == Part("updating…", "pending")  # waiting in the debounce
    assert s.request_text(False) == "3-item history · k 10 · beam 10 · unconstrained"
    s.new_request((1, 2, 3), "", True, 10, 20, False)
    assert s.status("tiger", False) == (Part("2 items · 12 ms"), Part("updating…", "pending"))
    assert s.history_text(1) == "1 item" and s.history_text(MAX_HISTORY) == "50 items (the most the generators read)"


def test_overlap_and_shared_items(project):
    s = _loaded(project)
    old = s.new_request((1,), "", True, 10, 20, False)
    s.list_arrived(_result("sasrec", old.id, [7, 8]))
    new = s.new_request((2,), "", True, 10, 20, False)
    s.list_arrived(_result("tiger", new.id, [1, 2, -1]))
    s.list_arrived(_result("ran", new.id, [2, 3, 7, -1]))
    assert s.overlap() == {2: 2, 7: 2}  # every list shown
    assert s.shared() == {"tiger": {2: ("ran",)}, "ran": {2: ("tiger",)}, "sasrec": {}}  # current lists only
    assert st.overlap_counts([[1, 2, -1], [2, -1], [2, 1]]) == {1: 2, 2: 3}
    assert st.shared_items({"ran": [1, 2], "tiger": [2], "sasrec": [2, 1]}) == {
        "ran": {1: ("sasrec",), 2: ("tiger", "sasrec")}, "tiger": {2: ("ran", "sasrec")},
        "sasrec": {1: ("ran",), 2: ("tiger", "ran")}}
    assert st.clip_history(range(60)) == tuple(range(10, 60))


def test_search_and_test_users(project, setup):
    ids, n = project.sids.item_ids, project.sids.n_items
    s = PlaygroundState(LABELS)
    s.open(project)
    assert s.resolve(str(int(ids[40]))) is None  # no look-ups given: nothing to search in
    s.open(project, ItemLookups(project))
    completions = list(s.lookups.completions())  # the look-ups every item picker shares
    assert len(completions) == n and completions[0].endswith(f"[{int(ids[0])}]")
    assert s.resolve(str(int(ids[40]))) == 40 and s.resolve(f"id: {int(ids[41])}") == 41  # before the setup
    assert s.resolve("  ") is None
    s.prepared_with(setup)
    assert s.prepared and s.completion_item(completions[77]) == 77 and s.completion_item("cleanser") is None
    assert s.resolve(completions[77]) == 77
    titles = [str(t).lower() for t in project.dataset.catalogue.items["title"]]
    assert s.resolve("CLEANSER") == next(i for i, t in enumerate(titles) if "cleanser" in t)
    assert s.resolve("no such item anywhere 98765") is None
    split = leave_one_out(project.dataset)
    eligible = [(int(u), np.asarray(h)[-MAX_HISTORY:].tolist()) for u, h in zip(split.user_ids, split.test_history)
                if len(h) >= st.PREFILL_MIN_ITEMS]
    assert [(u, list(h)) for u, h in s.users] == eligible[:st.USER_CHOICES] and len(s.users) == st.USER_CHOICES
    assert s.prepare_failed("disk gone") == "Could not list the test users: disk gone" and s.prepared


def test_groups(project):
    s = PlaygroundState(LABELS)
    s.open(project)
    history = (5, 6, 7, 8, 9, 100)
    groups = s.update_groups(history, 1)
    assert groups == interest_groups(project.sids.codes, list(history), project.dataset.catalogue.title, depth=1)
    assert s.groups_text(len(history), lambda p: "/".join(map(str, p))).startswith(f"{len(groups)} group")
    assert s.update_groups((), 1) == [] and s.groups_text(0, str) == ""


def test_recommend_list_equals_the_engine(project):
    ids = project.sids.item_ids
    history = (100, 2000, 3000, 4000)
    for kind, constrained in (("tiger", True), ("ran", False), ("sasrec", True)):
        model = project.generator(kind)
        req = st.PlaygroundRequest(9, history, "", constrained, 10, 12, True)
        got = st.recommend_list(project, kind, model, req)
        want = recommend(project, kind, [int(ids[i]) for i in history], k=10, beam=12, constrained=constrained,
                         exclude_history=True, model=model)
        assert (got.kind, got.request_id, got.instruction_used) == (kind, 9, False)
        assert [(r.rank, r.item_id, list(r.sid), r.title) for r in got.rows] == [
            (w["rank"], w["item_id"], w["sid"], w["title"]) for w in want["items"]]
        assert [r.score for r in got.rows] == pytest.approx([w["score"] for w in want["items"]], rel=1e-5, abs=1e-5)
        assert got.invalid == want["invalid"] and not set(got.indices) & set(history)
        assert all((r.index < 0) == r.invalid == (r.item_id is None) for r in got.rows)


def test_load_generator_says_which_command_trains_one(project):
    load = st.load_generator(project, "ran", "RAN")
    assert load.model is project.generator("ran") and load.error is None  # the project's shared cache
    assert load.instruction == bool(getattr(load.model, "accepts_instruction", False))

    def missing(kind, *args, **kwargs):
        raise GenrecError("generator-sasrec.safetensors not found")

    broken = SimpleNamespace(path=project.path, generator=missing)
    load = st.load_generator(broken, "sasrec", "SASRec")
    assert load.model is None and not load.instruction
    assert load.error.startswith("This project has no SASRec generator yet: train one in the Training tab")
    assert f"genrec train --project {project.path} --model sasrec" in load.error

    def broken_file(kind, *args, **kwargs):
        raise GenrecError("generator-sasrec.safetensors [config]: bad shape")

    load = st.load_generator(SimpleNamespace(path=project.path, generator=broken_file), "sasrec", "SASRec")
    assert load.error.startswith("The SASRec generator could not be loaded (generator-sasrec.safetensors [config]")
