"""Rankings of every decode path on the bundled projects, for the decode equivalence test.

``compute_golden()`` runs constrained / unconstrained / diverse / filtered / history-excluding beam
search, seeded sampling, ``exact_topk``, the :class:`BeamStepper` (run to the end, with a forced
token, diverse, sampling) and the cold-start session (trie scoring, ``recommend``, teacher-forced
path probability, ``hybrid_recommend``) for a fixed set of test users, and returns plain JSON:
item rankings plus scores rounded to 5 decimals.

Record the golden file (only on code whose behaviour is the reference)::

    .venv/bin/python -m tests.engine.decode_golden --write
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "resources" / "models" / "beauty-default"
COLD = ROOT / "resources" / "models" / "beauty-coldstart"
GOLDEN = Path(__file__).resolve().parent / "data" / "decode_golden.json"
USERS = 16  # test users of beauty-default, evenly spread over the test split (fixed indices)
COLD_USERS = 6  # test users of beauty-coldstart
BEAM, K = 10, 10


def _r(x: float) -> float | None:
    """A score rounded to 5 decimals (None for -inf, which strict JSON cannot hold)."""
    x = float(x)
    return round(x, 5) if math.isfinite(x) else None


def _beam(res) -> dict:
    """Items ``[B, k]`` and rounded scores of a BeamResult, plus its SIDs when some match no item
    (unconstrained decodes: the items alone do not say what was returned)."""
    out = {"items": res.items.tolist(), "scores": [[_r(s) for s in row] for row in res.scores.tolist()],
           "invalid": res.invalid.tolist()}
    if bool(((res.items < 0) & torch.isfinite(res.scores)).any()):
        out["sids"] = res.sids.tolist()
    return out


def _stepper(result, records=()) -> dict:
    out = {"items": list(result.items), "scores": [_r(s) for s in result.scores],
           "sids": [list(s) for s in result.sids], "invalid": result.invalid}
    if records:  # per level the kept and the best pruned children
        out["chosen"] = [_children(r.prefixes, r.chosen) for r in records]
        out["pruned"] = [_children(r.prefixes, r.pruned[:5], ordered=False) for r in records]
    return out


def _children(prefixes, picks, ordered: bool = True) -> list:
    """``[child prefix, score]`` of chosen or pruned candidates. A child is named by its prefix, not
    its parent's row: rows holding the same prefix (diverse groups, samples) tie, and the order of
    tied entries is not defined. Pruned lists are sorted by (score, prefix) for the same reason."""
    rows = [[list(prefixes[p.parent]) + [int(p.token)], _r(p.score)] for p in picks]
    return rows if ordered else sorted(rows, key=lambda r: (-(r[1] if r[1] is not None else -1e30), r[0]))


def _trace(steps) -> list:
    """A compact view of a beam-search trace: per level and user the chosen and first pruned beams
    and the first beam's candidates."""
    out = []
    for s in steps:
        out.append({
            "chosen": [_children(s.prefixes[u], c) + [[c.group for c in c]] for u, c in enumerate(s.chosen)],
            "pruned": [_children(s.prefixes[u], p[:5], ordered=False) for u, p in enumerate(s.pruned)],
            "cands": [[[c.token, _r(c.prob_before), _r(c.prob_after), c.masked, _r(c.score)]
                       for c in u[0].candidates] for u in s.candidates],
        })
    return out


def _users(project, n: int = USERS):
    from genrec_engine.coldstart import project_split

    split = project_split(project)
    hists = split.test_history
    idx = np.linspace(0, len(hists) - 1, n).round().astype(np.int64)
    return [[int(i) for i in hists[j]] for j in idx]


@torch.no_grad()
def _generator_cases(project, kind: str, hists) -> dict:
    from genrec_engine.decode import BeamStepper, StepperConfig, beam_search, exact_topk, sample
    from genrec_engine.models import pad_histories
    from genrec_engine import load_project_generator

    model = load_project_generator(project, kind)
    trie = project.trie
    H = pad_histories(hists, model.config.max_len)
    out: dict = {}
    out["beam"] = _beam(beam_search(model, H, trie=trie, beam=BEAM, k=K))
    out["beam_wide"] = _beam(beam_search(model, H[:4], trie=trie, beam=20, k=K))
    out["unconstrained"] = _beam(beam_search(model, H, trie=trie, beam=BEAM, k=K, constrained=False))
    out["unconstrained_no_trie"] = _beam(beam_search(model, H[:4], trie=None, beam=BEAM, k=K, constrained=False))
    out["diverse"] = _beam(beam_search(model, H, trie=trie, beam=BEAM, k=K, diverse_groups=2, diversity_penalty=0.5))
    out["diverse_nopen"] = _beam(beam_search(model, H[:4], trie=trie, beam=BEAM, k=K, diverse_groups=5))
    sizes = trie.level_sizes
    gen = torch.Generator().manual_seed(7)
    allow0 = torch.rand(sizes[0], generator=gen) < 0.5  # [K_0] one filter for every user
    allow1 = torch.rand(len(hists), sizes[1], generator=gen) < 0.7  # [B, K_1] per user
    out["allow"] = _beam(beam_search(model, H, trie=trie, beam=BEAM, k=K, allow_mask=[allow0, allow1] + [None] * (len(sizes) - 2)))
    excl = [set(int(i) for i in h) for h in hists]
    out["exclude"] = _beam(beam_search(model, H, trie=trie, beam=BEAM, k=K, exclude=excl))
    out["exclude_allow_diverse"] = _beam(beam_search(model, H, trie=trie, beam=BEAM, k=K, exclude=excl,
                                                     allow_mask=[allow0] + [None] * (len(sizes) - 1), diverse_groups=2,
                                                     diversity_penalty=1.0))
    out["trace"] = _trace(beam_search(model, H[:2], trie=trie, beam=4, k=4, trace=True, n_cand=4,
                                      exclude=excl[:2]).trace)
    out["sample"] = _beam(sample(model, H, trie=trie, k=K, generator=torch.Generator().manual_seed(3)))
    out["sample_temp"] = _beam(sample(model, H[:4], trie=trie, k=K, temperature=0.5, exclude=excl[:4],
                                      allow_mask=[allow0] + [None] * (len(sizes) - 1), generator=torch.Generator().manual_seed(5)))
    out["sample_unconstrained"] = _beam(sample(model, H[:4], trie=trie, k=K, constrained=False,
                                               generator=torch.Generator().manual_seed(11)))
    if kind == "ran":  # exact_topk feeds every trie node to the model: seconds per TIGER user
        out["exact"] = [_beam(exact_topk(model, H[b], trie=trie, k=K, exclude=excl[b] if b else None))
                        for b in range(2)]
    steppers = {}
    for name, cfg, force in (("beam", StepperConfig(beam=BEAM, k=K), None),
                             ("beam_forced", StepperConfig(beam=BEAM, k=K), 1),
                             ("diverse", StepperConfig(beam=BEAM, k=K, mode="diverse", groups=2, penalty=0.5), None),
                             ("sample", StepperConfig(beam=BEAM, k=K, mode="sample", seed=4), None),
                             ("sample_forced", StepperConfig(beam=BEAM, k=K, mode="sample", seed=4), 1),
                             ("unconstrained", StepperConfig(beam=BEAM, k=K, constrained=False), None)):
        rows = []
        for h in hists[:2]:
            st = BeamStepper(model, trie, h, config=cfg, exclude=set(h[-2:]))
            if force is not None:  # force the best pruned candidate of level ``force``
                for _ in range(force + 1):
                    st.step()
                pr = st.records[-1].pruned[0]
                st.back()
                st.force(pr.parent, pr.token)
            st.run_to_end()
            rows.append(_stepper(st.result(), st.records))
        steppers[name] = rows
    out["stepper"] = steppers
    return out


@torch.no_grad()
def _coldstart_cases(hists) -> dict:
    from genrec_engine import Project
    from genrec_engine.coldstart import ColdStartSession, hybrid_recommend
    from genrec_engine import load_project_generator

    project = Project.open(COLD)
    ran = load_project_generator(project, "ran")
    dense = load_project_generator(project, "sasrec")
    session = ColdStartSession(project)
    out: dict = {"base": {}, "injected": {}}
    for name in ("base", "injected"):
        if name == "injected":
            cold = project.cold_indices.tolist()
            for i in cold[:20]:
                session.inject(i)
            live = session.live_items()
            session.retire(int(live[5]))
            session.retire(int(live[500]))
        part = out[name]
        lists = []
        for h in hists[:2]:
            items, scores = session.score_live(ran, h, batch_size=4096)
            order = np.argsort(-scores, kind="stable")[:20]
            lists.append({"n": int(len(items)), "items": items[order].tolist(), "scores": [_r(s) for s in scores[order]],
                          "sum": _r(float(np.sort(scores).sum()))})
        part["score_live"] = lists
        part["recommend"] = [[[r["index"], _r(r["score"])] for r in session.recommend(ran, h, k=K, beam=BEAM)]
                             for h in hists]
        pp = session.path_probability(ran, hists[0], project.sids.sid(int(project.cold_indices[0])))
        part["path"] = {"logp": _r(pp["logp"]), "rank": pp["rank"], "live": pp["live"],
                        "levels": [[lv["token"], _r(lv["logp"]), lv["best_token"]] for lv in pp["levels"]]}
        part["hybrid"] = [[r["index"] for r in hybrid_recommend(session, ran, dense, h, k=K)] for h in hists[:4]]
    new = session.inject_new("A new lipstick", "Brandless", "Beauty > Makeup",
                             embedding=project.embeddings[int(project.cold_indices[30])] * 0.9)
    out["new_item"] = {"sid": list(new.sid),
                       "hybrid": [[r["index"] for r in hybrid_recommend(session, ran, dense, h, k=K)]
                                  for h in hists[:3]],
                       "recommend": [[[r["index"], _r(r["score"])] for r in session.recommend(ran, h, k=K, beam=BEAM)]
                                     for h in hists[:3]]}
    return out


def record_users() -> dict:
    """The fixed test users' histories of both projects (``project_split`` takes seconds, so the
    golden file stores them and the test reads them back)."""
    from genrec_engine import Project

    return {"default": _users(Project.open(DEFAULT)), "coldstart": _users(Project.open(COLD), COLD_USERS)}


def compute_golden(users: dict) -> dict:
    """Every decode path's rankings (see the module docstring) for ``users`` (see
    :func:`record_users`), as plain JSON."""
    from genrec_engine import Project

    project = Project.open(DEFAULT)
    hists = users["default"]
    return {
        "ran": _generator_cases(project, "ran", hists),
        "tiger": _generator_cases(project, "tiger", hists),
        "coldstart": _coldstart_cases(users["coldstart"]),
    }


#: a ``sum`` entry is a checksum over ~12k float32 scores (~1.6e5 in size): its last bits follow the
#: order the CPU's vector units add in (a machine with other SIMD widths differed by 0.03), so it is
#: compared relative to its size; every score itself stays within ``tol``
SUM_RTOL = 1e-6


def compare(expected, got, path: str = "", tol: float = 1e-4) -> list[str]:
    """Differences between two golden trees: ints/bools/None must match exactly, floats within
    ``tol`` (``.sum`` checksums within :data:`SUM_RTOL` of their size)."""
    errors: list[str] = []
    if isinstance(expected, dict):
        if not isinstance(got, dict) or set(expected) != set(got):
            return [f"{path}: keys {sorted(expected)} != {sorted(got) if isinstance(got, dict) else type(got)}"]
        for k in expected:
            errors += compare(expected[k], got[k], f"{path}.{k}", tol)
    elif isinstance(expected, list):
        if not isinstance(got, list) or len(expected) != len(got):
            return [f"{path}: length {len(expected)} != {len(got) if isinstance(got, list) else type(got)}"]
        for i, (e, g) in enumerate(zip(expected, got)):
            errors += compare(e, g, f"{path}[{i}]", tol)
    elif isinstance(expected, float) and not isinstance(got, bool) and isinstance(got, (int, float)):
        limit = max(tol, SUM_RTOL * abs(expected)) if path.endswith(".sum") else tol
        if abs(expected - float(got)) > limit:
            errors.append(f"{path}: {expected} != {got}")
    elif expected != got or type(expected) is not type(got) and not (
            isinstance(expected, (int, float)) and isinstance(got, (int, float))):
        errors.append(f"{path}: {expected!r} != {got!r}")
    return errors


if __name__ == "__main__":
    import time

    users = record_users()
    t0 = time.perf_counter()
    data = {"users": users, "golden": compute_golden(users)}
    print(f"computed in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    if "--write" in sys.argv:
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(json.dumps(data, separators=(",", ":")) + "\n")
        print(f"wrote {GOLDEN} ({GOLDEN.stat().st_size} bytes)", file=sys.stderr)
