"""``genrec sids show|stats|import|export``: a project's semantic IDs, and foreign SID tables in and out
(see :mod:`genrec_engine.interop`)."""
from __future__ import annotations

from ..errors import GenrecError
from ..interop.importer import MANIFEST as MANIFEST_NAME
from ..project import Project
from .common import Bar, add_command, add_encoder_options, emit, fields_of, int_list, whole


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
    d = proj.diagnostics().to_dict()
    d["codebook_sizes"] = list(proj.sids.sizes)
    d["collision_policy"] = proj.sids.policy
    emit(args, d)
    return 0


def _project_arg(args) -> str:
    if bool(args.project) == bool(args.project_opt):
        raise GenrecError("give the project folder once: as the first argument or as --project")
    return args.project or args.project_opt


def cmd_sids_export(args) -> int:
    proj = Project.open(_project_arg(args))
    if args.graphml:
        if args.format or args.out:
            raise GenrecError("--graphml writes the prefix tree; --format/--out write the SID table: give one of them")
        proj.trie.write_graphml(args.graphml, max_depth=args.max_depth)
        emit(args, {"graphml": str(args.graphml), "max_depth": args.max_depth}, f"wrote {args.graphml}")
        return 0
    if not (args.format and args.out):
        raise GenrecError("give --format FORMAT --out PATH (or --graphml FILE for the prefix tree)")
    from ..interop import export_sids

    man = export_sids(proj, args.format, args.out)
    emit(args, {"out": str(args.out), "manifest": man},
         f"wrote {args.out} ({args.format}, {man['rows']:,} rows, {man['levels']} levels of "
         f"{', '.join(map(str, man['codebook_sizes']))} codes) and {MANIFEST_NAME} beside it")
    return 0


def cmd_sids_import(args) -> int:
    from ..interop import import_sids

    sizes = int_list(args.codebook_sizes, "--codebook-sizes") if args.codebook_sizes else None
    fields = fields_of(args)
    with Bar(not args.json, "import sids") as bar:
        res = import_sids(args.data, args.sids, args.out, fmt=args.format, codebook_sizes=sizes,
                          policy=args.collision_policy, encoder=args.encoder, fields=fields,
                          embeddings_path=args.embeddings, overwrite=args.overwrite, progress=bar)
    sizes_note = (f"codebook sizes {res['codebook_sizes']} ({res['sizes_from']})")
    human = (f"{args.out}: {res['items']:,} items from {res['format']} table {args.sids}\n"
             f"  {res['levels']} levels, {sizes_note}\n"
             f"  {res['unique_sids']:,} distinct SIDs, {res['groups_with_collisions']:,} shared by several items "
             f"(policy {res['collision_policy']})\n"
             f"  derived codebooks reproduce the imported codes for {', '.join(f'{100 * a:.1f} %' for a in res['content_agreement'])} "
             "of items (levels 1..L, prefix included)")
    for w in res.get("warnings", []):
        human += f"\n  warning: {w}"
    emit(args, res, human)
    return 0


def register(sub) -> None:
    """Add the sids commands to ``sub``."""
    sids = sub.add_parser("sids", help="inspect a project's semantic IDs").add_subparsers(dest="sids_command", required=True)
    sp = add_command(sids, "show", "show one item's SID or the items under a prefix", cmd_sids_show)
    sp.add_argument("project")
    g = sp.add_mutually_exclusive_group(required=True)
    g.add_argument("--item", type=whole(-(1 << 62), 1 << 62), help="item id")
    g.add_argument("--prefix", help="comma-separated codes, e.g. 12,48")
    sp.add_argument("--limit", type=whole(1, 1_000_000), default=20, help="most items to list")
    sp = add_command(sids, "stats", "tokenizer diagnostics per level", cmd_sids_stats)
    sp.add_argument("project")
    from ..interop import FORMATS
    from ..quantize import COLLISION_POLICIES

    sp = add_command(sids, "export", "write the SID table in a foreign format (with manifest.json) or the "
                                     "prefix tree as GraphML", cmd_sids_export)
    sp.add_argument("project", nargs="?", help="project folder (or --project)")
    sp.add_argument("--project", dest="project_opt", metavar="PROJECT")
    sp.add_argument("--format", choices=FORMATS)
    sp.add_argument("--out", help="table file to write; manifest.json goes beside it")
    sp.add_argument("--graphml", help="write the prefix tree as GraphML instead")
    sp.add_argument("--max-depth", type=whole(0, 64), help="GraphML: deepest level to include")

    sp = add_command(sids, "import", "build a project from a dataset folder and a foreign SID table", cmd_sids_import)
    sp.add_argument("--data", required=True, help="dataset folder")
    sp.add_argument("--sids", required=True, help="SID table file")
    sp.add_argument("--format", choices=("auto",) + FORMATS, default="auto")
    sp.add_argument("--codebook-sizes", help="codes per level, e.g. 64,128,256 (default: from the manifest, "
                                             "else the smallest power of two above each level's largest code)")
    sp.add_argument("--collision-policy", choices=COLLISION_POLICIES, default="append-level",
                    help="append-level: a collision level tells colliding items apart (default); keep-all: one SID "
                         "names the group of items sharing it")
    sp.add_argument("--out", required=True, help="project folder to write")
    sp.add_argument("--overwrite", action="store_true", help="replace a project already in --out")
    add_encoder_options(sp)
