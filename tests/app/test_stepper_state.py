"""The beam stepper's view-model and jobs, without widgets: what to ask the engine, moves, rows, text."""
from __future__ import annotations

import pytest

import app
from app.panels.stepper.jobs import (
    DecodeRequest,
    LoadedGenerator,
    Move,
    OpenedProject,
    build_stepper,
    move_stepper,
)
from app.panels.stepper.state import (
    Build,
    NeedFilter,
    NeedGenerator,
    NeedInstruction,
    Options,
    Refused,
    StepperState,
    candidate_rows,
    result_rows,
    split_names,
    tree_columns,
)
from genrec_engine import BeamStepper, ItemFilter, Project, StepperConfig, held_out_users


@pytest.fixture(scope="module")
def project():
    project = Project.open(app.DEFAULT_PROJECT)
    project.trie  # noqa: B018 - built once for the module
    return project


@pytest.fixture(scope="module")
def users(project):
    return held_out_users(project)


@pytest.fixture(scope="module")
def ran(project):
    return project.generator("ran")


def _state(project, users, ran=None) -> StepperState:
    st = StepperState()
    st.open(project)
    st.opened(OpenedProject(users, "ran" if ran is not None else None, ran,
                            {} if ran is not None else {"ran": "no RAN", "tiger": "no TIGER"}, None))
    return st


def _build(st: StepperState, project, options=Options(), level=None):
    need = st.next_need(options, level, fresh=True)
    assert isinstance(need, Build)
    decoded = build_stepper(need.model, project.trie, need.request)
    assert st.show(decoded)
    return decoded


# ------------------------------------------------------------------------------------ options


def test_options_make_the_stepper_config_and_filter():
    cfg = Options(beam=21, mode="diverse", groups=4).config()
    assert cfg.beam == 20 and cfg.groups == 4 and cfg.k == 10  # rounded down to a multiple of the groups
    assert Options(beam=3, mode="diverse", groups=4).config().beam == 4  # never below one beam per group
    assert Options(mode="sample", temperature=0.7, seed=3).config() == StepperConfig(
        beam=20, k=10, mode="sample", temperature=0.7, seed=3)
    flt = Options(block_brands=" OPI, Revlon ,", block_categories="").item_filter()
    assert flt == ItemFilter(block_brands=("OPI", "Revlon")) and Options().item_filter().empty
    assert split_names(" a, ,b ") == ("a", "b")


# ------------------------------------------------------------------------------------ what to ask the engine


def test_next_need_loads_what_is_missing_then_builds_once(project, users, ran):
    st = StepperState()
    assert st.next_need(Options(), None) is None  # no project
    st.open(project)
    assert st.next_need(Options(), None) is None  # the test users are not there yet
    assert st.opened(OpenedProject(users, None, None, {"ran": "no RAN"}, None)) == "no RAN"
    assert st.next_need(Options(), None) == Refused("no RAN")
    st.model_errors.clear()
    assert st.next_need(Options(kind="tiger"), None) == NeedGenerator("tiger")
    assert st.loaded(LoadedGenerator("ran", ran, None)) is None and st.accepts_instruction("ran") is not None
    assert st.choose_user(10**9) is not None and st.choose_user(3) is None
    assert st.history == tuple(int(i) for i in users.histories[3]) and st.target == int(users.targets[3])
    need = st.next_need(Options(), 0)
    assert isinstance(need, Build) and need.model is ran
    assert need.request.history == st.history and need.request.level == 0 and not need.request.filtered
    assert st.next_need(Options(), 0) is None  # the same options: nothing new (forced tokens stay)
    assert isinstance(st.next_need(Options(), 0, fresh=True), Build)
    # a filter and an instruction are asked for once, then used
    flt_options = Options(block_brands="OPI", exclude_history=True)
    assert st.next_need(flt_options, None) == NeedFilter(ItemFilter(block_brands=("OPI",)))
    st.blocked[ItemFilter(block_brands=("OPI",))] = frozenset({1, 2})
    need = st.next_need(flt_options, None)
    assert need.request.exclude == frozenset({1, 2}) | frozenset(st.history) and need.request.filtered
    assert st.next_need(Options(instruction="dry skin"), None) == NeedInstruction("dry skin")
    assert isinstance(st.next_need(Options(mode="sample", temperature=0.0), None), Refused)
    # a new project forgets everything of the old one
    st.open(None)
    assert st.users is None and not st.models and not st.blocked and st.view is None and st.history == ()


def test_only_the_newest_request_is_shown(project, users, ran):
    st = _state(project, users, ran)
    st.choose_user(5)
    old = st.next_need(Options(), None)
    new = st.next_need(Options(beam=12), None)
    assert not st.show(build_stepper(ran, project.trie, old.request))
    assert st.view is None
    assert st.show(build_stepper(ran, project.trie, new.request)) and st.view.config.beam == 12


# ------------------------------------------------------------------------------------ moves


def test_moves_are_snapshots_equal_to_the_engines_stepper(project, users, ran):
    st = _state(project, users, ran)
    st.choose_user(8)
    decoded = _build(st, project, level=0)
    view, stepper = decoded.view, decoded.stepper
    assert view.level == 0 and not view.done and view.result is None and view.records == ()
    assert st.allowed(Move("step")) and st.allowed(Move("run")) and not st.allowed(Move("back"))
    assert not st.allowed(Move("reset")) and not st.allowed(Move("force"))
    one = move_stepper(stepper, view.request, Move("step")).view
    two = move_stepper(stepper, view.request, Move("step")).view
    assert (one.level, two.level) == (1, 2) and one.records == two.records[:1]  # an earlier view is unchanged
    back = move_stepper(stepper, view.request, Move("back")).view
    assert back.records == one.records
    end = move_stepper(stepper, view.request, Move("run")).view
    ref = BeamStepper(ran, project.trie, st.history, config=StepperConfig())
    ref.run_to_end()
    assert end.done and end.result == ref.result()
    # a force the mask refuses is explained and leaves the stepper where it was
    record = end.records[-1]
    masked = next((bc.beam, c.token) for bc in record.candidates for c in bc.candidates if c.masked)
    signature = stepper.signature()
    refused = move_stepper(stepper, view.request, Move("force", *masked)).view
    assert "masked" in refused.error and refused.done and stepper.signature() == signature
    reset = move_stepper(stepper, view.request, Move("reset")).view
    assert reset.level == 0 and reset.pending_force is None


def test_queued_moves_run_in_order_and_useless_ones_are_dropped(project, users, ran):
    st = _state(project, users, ran)
    st.choose_user(8)
    _build(st, project, level=0)
    st.queued.extend([Move("back"), Move("reset"), Move("step")])  # at level 0: back and reset change nothing
    assert st.next_move() == Move("step") and not st.queued
    assert st.next_move() is None
    st.queued.append(Move("step"))
    st.next_need(Options(beam=10), 0)  # a new decode: moves asked for on the old one are dropped
    assert not st.queued


def test_ready_once_a_decode_to_the_end_is_shown_and_idle(project, users, ran):
    st = _state(project, users, ran)
    st.choose_user(8)
    _build(st, project, level=1)
    assert not st.mark_ready(idle=True)
    _build(st, project)
    assert not st.mark_ready(idle=False)
    assert st.mark_ready(idle=True) and not st.mark_ready(idle=True)  # once per project


# ------------------------------------------------------------------------------------ rows and text


def test_rows_tree_and_text_of_a_decode(project, users, ran):
    st = _state(project, users, ran)
    u = 8
    st.choose_user(u)
    view = _build(st, project).view
    target_sid = st.target_sid()
    columns = tree_columns(view.records, target_sid)
    assert [c[0].level for c in columns] == list(range(view.depth + 1)) and columns[0][0].kind == "root"
    assert sum(1 for n in columns[-1] if n.kind == "kept") == 20
    assert all(len([n for n in col if n.kind == "pruned"]) >= 1 for col in columns[1:-1])
    rows = candidate_rows(view.records[-1])
    assert rows and {r[-1] for r in rows} <= {"kept", "pruned", "masked"}
    assert {r[-1] for r in candidate_rows(view.records[0], sampling=True)} <= {"drawn", "not drawn", "masked"}
    results = result_rows(view.result, project.dataset.catalogue.title, st.target)
    assert [r[0] for r in results] == list(range(1, 11)) and [r[1] for r in results] == list(view.result.items)
    assert sum(r[5] for r in results) == (st.target in view.result.items)
    assert st.status_text().startswith(f"<b>Decoded all {view.depth} levels") and "RAN" in st.status_text()
    assert st.invalid_text() == "Constrained: every decoded SID is a real item."
    assert st.forced_text() == "" and "true next" in st.user_text()
    value, text = st.meter()
    assert 0 < value <= 100 and "share first code" in text
    assert "True next item" in st.target_text()
    assert [r[0] for r in st.history_rows()] == list(st.history)
    st.set_history(st.history[:2])
    assert st.user is None and st.target is None and "your own history · 2 items" in st.user_text()
    _build(st, project, level=0)
    assert st.meter() == (None, "shown once the decode reaches the end") and "At the start" in st.status_text()
    assert st.target_text() == ""


def test_a_forced_decode_reads_as_forced(project, users, ran):
    st = _state(project, users, ran)
    st.choose_user(8)
    decoded = _build(st, project, level=1)
    beam, token = next((r[0], r[3]) for r in candidate_rows(decoded.view.records[0]) if r[-1] == "pruned")
    view = move_stepper(decoded.stepper, decoded.view.request, Move("force", beam, token)).view
    assert st.show(type(decoded)(view, decoded.stepper))
    assert view.records[0].forced == (beam, token) and view.error is None
    assert {r[-1] for r in candidate_rows(view.records[0])} >= {"forced"}
    assert st.forced_text() == f"Forced: {token} (level 1)"
    assert [n.prefix for n in tree_columns(view.records, None)[1] if n.forced] == [(token,)]
    request = DecodeRequest(99, "ran", st.history, StepperConfig(), frozenset(), None, 0)
    assert not st.show(type(decoded)(view.__class__(request, 0, view.depth, (), None, None), decoded.stepper))


def test_prefix_meaning_counts_facets_as_the_strings_do(project):
    """The beam tree's node labels come from integer facet codes (fast enough for the GUI thread):
    they name the same dominant leaf category and brand, with the same shares, as counting the
    catalogue's strings does."""
    from collections import Counter

    import numpy as np

    from app.panels.stepper.jobs import CatalogueFacets
    from app.panels.stepper.state import prefix_meaning
    from app.widgets import leaf_category

    facets = CatalogueFacets.of(project.dataset.catalogue)
    frame = project.dataset.catalogue.items
    codes = np.asarray(project.sids.codes)
    popularity = np.bincount(project.dataset.interactions.frame["item_index"].to_numpy(), minlength=len(codes))
    for item in (0, 17, 4321):
        for level in (1, 2):
            prefix = tuple(int(c) for c in codes[item, :level])
            m = prefix_meaning(project, popularity, prefix, facets)
            items = project.trie.items_under(level, project.trie.lookup(prefix))
            assert m.count == len(items)
            cats = Counter(c for c in (leaf_category(x) for x in frame["categories"].iloc[items].astype(str)) if c)
            brands = Counter(b for b in frame["brand"].iloc[items].astype(str).str.strip() if b)
            best_cat = max(cats.values())
            assert cats[m.category] == best_cat and m.category_share == pytest.approx(best_cat / len(items))
            if brands:
                best_brand = max(brands.values())
                assert brands[m.brand] == best_brand and m.brand_share == pytest.approx(best_brand / len(items))
    first = int(codes[0, 0])
    used = set(codes[codes[:, 0] == first, 1].tolist())
    missing = next(t for t in range(int(project.sids.level_sizes[1])) if t not in used)
    assert prefix_meaning(project, popularity, (first, missing), facets).count == 0  # off the trie
