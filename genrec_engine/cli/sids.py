"""``genrec sids show|stats|export``: a project's semantic IDs."""
from __future__ import annotations

from ..errors import GenrecError
from ..project import Project
from .common import add_command, emit, int_list


def cmd_sids_show(args) -> int:
    proj = Project.open(args.project)
    sids = proj.sids
    try:
        cat = proj.dataset.catalogue
    except GenrecError:
        cat = None

    def row(i: int) -> dict:
        d = {"item_id": int(sids.item_ids[i]), "sid": list(sids.sid(i))}
        if cat is not None:
            d.update(title=cat.title(i), brand=str(cat.items["brand"].iat[i]), categories=str(cat.items["categories"].iat[i]))
        return d

    if args.item is not None:
        hits = (sids.item_ids == args.item).nonzero()[0]
        if not len(hits):
            raise GenrecError(f"--item {args.item}: no such item id in {args.project}")
        i = int(hits[0])
        prefix = sids.sid(i)[:-1]
        siblings = [int(j) for j in sids.items_with_prefix(prefix) if j != i]
        obj = {"item": row(i), "shares_codes_with": [row(j) for j in siblings[: args.limit]]}
        human = f"{obj['item']['item_id']}  SID {obj['item']['sid']}  {obj['item'].get('title', '')}"
        if siblings:
            human += f"\n  collides on {list(prefix)} with {len(siblings)} item(s)"
    else:
        prefix = int_list(args.prefix, "--prefix")
        if len(prefix) > sids.depth:
            raise GenrecError(f"--prefix has {len(prefix)} codes but SIDs have {sids.depth}")
        idx = sids.items_with_prefix(prefix)
        node = proj.trie.lookup(prefix)
        children = proj.trie.children(len(prefix), node) if node >= 0 and len(prefix) < sids.depth else []
        obj = {
            "prefix": prefix,
            "items": int(len(idx)),
            "children": [{"code": int(t), "items": int(c)} for t, _, c in children],
            "list": [row(int(i)) for i in idx[: args.limit]],
        }
        human = f"prefix {prefix}: {len(idx)} items, {len(children)} child codes\n" + "\n".join(
            f"  {r['sid']}  {r['item_id']:>6}  {r.get('title', '')[:70]}" for r in obj["list"]
        )
    emit(args, obj, human)
    return 0


def cmd_sids_stats(args) -> int:
    proj = Project.open(args.project)
    d = proj.diagnostics()
    emit(args, d.to_dict())
    return 0


def cmd_sids_export(args) -> int:
    proj = Project.open(args.project)
    proj.trie.write_graphml(args.graphml, max_depth=args.max_depth)
    emit(args, {"graphml": str(args.graphml), "max_depth": args.max_depth}, f"wrote {args.graphml}")
    return 0


def register(sub) -> None:
    """Add the sids commands to ``sub``."""
    sids = sub.add_parser("sids", help="inspect a project's semantic IDs").add_subparsers(dest="sids_command", required=True)
    sp = add_command(sids, "show", "show one item's SID or the items under a prefix", cmd_sids_show)
    sp.add_argument("project")
    g = sp.add_mutually_exclusive_group(required=True)
    g.add_argument("--item", type=int, help="item id")
    g.add_argument("--prefix", help="comma-separated codes, e.g. 12,48")
    sp.add_argument("--limit", type=int, default=20, help="most items to list")
    sp = add_command(sids, "stats", "tokenizer diagnostics per level", cmd_sids_stats)
    sp.add_argument("project")
    sp = add_command(sids, "export", "write the SID prefix tree as GraphML", cmd_sids_export)
    sp.add_argument("project")
    sp.add_argument("--graphml", required=True)
    sp.add_argument("--max-depth", type=int)
