"""``genrec audit``: check any generator's ranked lists (a JSONL or Parquet generations file, see
:mod:`genrec_engine.interop.audit`) against a project: invalid and duplicate SIDs, SID- and
item-level Recall/NDCG, coverage, homogeneity, popularity, level drift, worst users."""
from __future__ import annotations

from ..interop.audit import POLICIES, AuditReport, audit_generations
from ..project import Project
from .common import MAX_K, add_command, emit, whole


def _pct(x: float | None) -> str:
    return "   -  " if x is None else f"{100 * x:5.1f}%"


def _human(rep: AuditReport) -> str:
    """A short text summary of ``rep``."""
    cols = ("recall@5", "recall@10", "recall@20", "ndcg@5", "ndcg@10", "ndcg@20")
    lines = [
        f"audit of {rep.file} ({rep.format}, {rep.rows} rows, {rep.users} users) against {rep.project}: "
        f"k={rep.k}, collision policy {rep.policy}, split {rep.split} ({rep.targets_from_file} targets from the file)",
        f"first {rep.k} SIDs ({rep.slots} in all): invalid {_pct(rep.invalid_rate)}, duplicate {_pct(rep.duplicate_rate)}, "
        f"collision groups {_pct(rep.group_rate)}",
        "            " + " ".join(f"{c:>9}" for c in cols),
        "SID level   " + " ".join(f"{rep.sid_level[c]:9.4f}" for c in cols),
        "item level  " + " ".join(f"{rep.item_level[c]:9.4f}" for c in cols),
        "coverage@10 {:.4f}  homogeneity@10 {:.4f}  popularity@10 {}".format(
            rep.item_level["coverage@10"], rep.item_level["homogeneity@10"],
            "-" if rep.item_level["popularity@10"] is None else f"{rep.item_level['popularity@10']:.4f}"),
        "level drift of the top-1 SID (accuracy; users): all | prefix right | prefix wrong",
    ]
    for row in rep.level_drift:
        lines.append(f"  level {row['level']} ({row['kind']}): {_pct(row['accuracy'])} {row['users']:6d} | "
                     f"{_pct(row['prefix_right_accuracy'])} {row['prefix_right_users']:6d} | "
                     f"{_pct(row['prefix_wrong_accuracy'])} {row['prefix_wrong_users']:6d}")
    if rep.worst_users:
        where = "line" if rep.format == "jsonl" else "row"
        lines.append("worst users (invalid + duplicate among the first k): " + ", ".join(
            f"{w['user_id']} ({where} {w['line']}: {w['invalid']}+{w['duplicate']})" for w in rep.worst_users[:5])
            + (" ..." if len(rep.worst_users) > 5 else ""))
    return "\n".join(lines)


def cmd_audit(args) -> int:
    proj = Project.open(args.project)
    # no progress bar: a few seconds for 20k users, and a bad file then gives exactly one line on stderr
    rep = audit_generations(proj, args.generations, k=args.k, policy=args.collision_policy, split=args.split)
    obj = rep.to_dict()
    from ..protocol import protocol_card

    card = protocol_card(proj, split=args.split, users=obj.get("users"), k=args.k)
    card["history_rule"] = "as generated (the file's lists are scored as they are)"
    card["generator"] = {"kind": "external", "file": str(args.generations), "collision_policy": args.collision_policy}
    obj["protocol"] = card
    emit(args, obj, _human(rep))
    return 0


def register(sub) -> None:
    """Add the audit command to ``sub``."""
    sp = add_command(sub, "audit", "audit any generator's ranked lists (JSONL or Parquet) against a project", cmd_audit)
    sp.add_argument("--project", required=True)
    sp.add_argument("--generations", required=True, metavar="FILE",
                    help="one row per user: user_id, ranked (SIDs, best first), optional scores, target_item_id")
    sp.add_argument("-k", "--k", type=whole(1, MAX_K), default=10, help="the first k SIDs count for the invalid and duplicate rates")
    sp.add_argument("--collision-policy", choices=POLICIES, default="first",
                    help="a SID of L codes names a collision group: take its first item, or all its items in order")
    sp.add_argument("--split", choices=("test", "valid"), default="test",
                    help="the held-out item of rows without target_item_id")
