"""Commands that use trained generators: ``genrec recommend``, ``instruct-eval``, ``layout``,
``coldstart-eval``, ``weights`` (the codeword weights the explorer's panel shows)."""
from __future__ import annotations

import shlex
import time

from ..filters import ItemFilter
from ..project import Project
from ..recommender import recommend
from ..train import instruct_eval
from .common import MAX_BEAM, MAX_K, Bar, add_command, add_generator_command, emit, int_list, real, whole


def cmd_recommend(args) -> int:
    proj = Project.open(args.project)
    ids = int_list(args.history, "--history") if args.history else []

    def names(values):  # repeatable options, each a comma-separated list
        return tuple(v.strip() for arg in values or () for v in arg.split(",") if v.strip())

    filters = ItemFilter(
        allow_categories=names(args.allow_category), block_categories=names(args.block_category),
        allow_brands=names(args.allow_brand), block_brands=names(args.block_brand),
        allow_items=tuple(i for arg in args.allow_item or () for i in int_list(arg, "--allow-item")),
        block_items=tuple(i for arg in args.block_item or () for i in int_list(arg, "--block-item")),
    )
    out = recommend(proj, args.model, ids, k=args.k, beam=args.beam, trace=args.trace,
                    constrained=not args.unconstrained, exclude_history=args.exclude_history, filters=filters,
                    interest_depth=args.interest_depth, instruction=args.instruction, device=args.device)
    lines = [f"{r['rank']:>2}. {r['item_id']:>6}  {'-'.join(map(str, r['sid'])) if r['sid'] else '':<14} "
             f"{r['score']:8.3f}  {r['title'][:70]}" for r in out["items"]]
    emit(args, out, "\n".join(lines))
    return 0


def cmd_instruct_eval(args) -> int:
    proj = Project.open(args.project)
    with Bar(not args.json, f"instruct-eval {args.model}") as bar:
        out = instruct_eval(proj, args.model, min_items=args.min_items, beam=args.beam, users=args.users,
                            device=args.device, progress=bar)
    e, h = out["empty_history"], out["with_history"]
    emit(args, out, (
        f"{out['categories']} leaf categories (>= {out['min_items']} items), empty history: precision@10 "
        f"{e['precision@10']:.3f} (random {e['random_precision@10']:.3f}, popularity {e['popularity_precision@10']:.3f})\n"
        f"{h['users']} test users with histories: precision@10 {h['precision@10']:.3f} (without instruction "
        f"{h['precision@10_without_instruction']:.3f}), recall@10 {h['recall@10']:.4f} (without "
        f"{h['recall@10_without_instruction']:.4f})"))
    return 0


def _weights_levels(levels) -> list[dict]:
    """One item's codeword weights per level, as ``genrec weights`` prints them (no weight vectors)."""
    out = []
    for lw in levels:
        row = {"level": lw.level + 1, "code": lw.code, "content_top": lw.content_argmax,
               "content_margin": None if lw.own_ratio is None or lw.own_ratio == float("inf") else round(lw.own_ratio, 4),
               "content_entropy": round(lw.content_entropy, 4)}
        if lw.has_collaborative:
            row.update(collaborative_top=lw.collaborative_argmax, js_bits=round(lw.js, 4), verdict=lw.verdict,
                       collaborative_entropy=round(lw.collaborative_entropy, 4))
        out.append(row)
    return out


def cmd_weights(args) -> int:
    """Content- vs collaborative-guided codeword weights (the Codeword weights panel, headless):
    one item's levels, or the items ranked by divergence (with a RAN) or by the content margin of
    their code (without one, or with --content-only)."""
    import numpy as np

    from ..analysis import codeword_weights, content_ranking, divergence_ranking
    from ..errors import GenrecError
    from ..generators import generator_path

    proj = Project.open(args.project)
    sids = proj.sids
    has_ran = generator_path(proj, "ran").is_file() and not args.content_only
    ran = proj.generator("ran") if has_ran else None  # a RAN that cannot be read is an error, not "no RAN"
    mode = "divergence" if ran is not None else "content"
    note = ("" if ran is not None or args.content_only else
            f"no RAN generator in the project: content side only (genrec train --project "
            f"{shlex.quote(str(args.project))} --model ran adds one)")
    try:
        titles = proj.dataset.catalogue.items["title"].astype(str).to_numpy()
    except GenrecError:
        titles = None

    def head(i: int) -> dict:
        d = {"item_id": int(sids.item_ids[i]), "sid": [int(c) for c in sids.sid(i)]}
        if titles is not None:
            d["title"] = titles[i]
        return d

    if args.item is not None:
        hits = np.flatnonzero(sids.item_ids == args.item)
        if not len(hits):
            raise GenrecError(f"--item {args.item}: no such item id in {args.project}")
        i = int(hits[0])
        obj = {"project": str(args.project), "mode": mode, "item": head(i),
               "levels": _weights_levels(codeword_weights(proj, ran, i))}
        lines = [f"{obj['item']['item_id']}  SID {'-'.join(map(str, obj['item']['sid']))}  {obj['item'].get('title', '')[:70]}"]
        for r in obj["levels"]:
            margin = "–" if r["content_margin"] is None else f"{r['content_margin']:.3f}x"
            name = "coll." if r["level"] == sids.depth else f"L{r['level']}"
            line = f"  {name:>5}: code {r['code']:>4}  content top {r['content_top']:>4}  margin {margin:>8}"
            if mode == "divergence":
                line += f"  collaborative top {r['collaborative_top']:>4}  JS {r['js_bits']:.3f} bits  {r['verdict']}"
            lines.append(line)
    else:
        with Bar(not args.json, f"{mode} ranking") as bar:
            rank = (divergence_ranking(proj, ran, progress=bar) if ran is not None
                    else content_ranking(proj, progress=bar))
        values, flags, summary, order = (rank["js" if ran is not None else "ratio"], rank["flagged"],
                                         rank["summary"], rank["order"])
        what, flagged = (("mean JS (bits)", "top codeword moved (with signal)") if ran is not None else
                         ("weakest content margin", "content prefers another codeword"))
        top = order[: args.top]
        obj = {"project": str(args.project), "mode": mode, "items_total": int(sids.n_items),
               "flagged_items": int(flags.any(1).sum()), "flag": flagged, "ranked_by": what,
               "items": [{**head(int(i)), "summary": round(float(summary[i]), 4),
                          "per_level": [round(float(v), 4) for v in values[i]],
                          "flagged_levels": [int(l) + 1 for l in np.flatnonzero(flags[i])]} for i in top]}
        lines = [f"{sids.n_items:,} items ranked by {what}; {flagged} at some level: {obj['flagged_items']:,}"]
        for r in obj["items"]:
            marks = "".join(f" {v:.3f}{'*' if l + 1 in r['flagged_levels'] else ' '}" for l, v in enumerate(r["per_level"]))
            lines.append(f"  {r['item_id']:>7}  {'-'.join(map(str, r['sid'])):<16} {r['summary']:.3f} |{marks}  "
                         f"{r.get('title', '')[:50]}")
    if note:
        obj["note"] = note
        lines.insert(0, note)
    emit(args, obj, "\n".join(lines))
    return 0


def cmd_layout(args) -> int:
    from ..analysis import item_layout

    proj = Project.open(args.project)
    t0 = time.perf_counter()
    with Bar(not args.json, f"layout {args.space}") as bar:
        xy = item_layout(proj, args.space, seed=args.seed, progress=bar)
    obj = {"project": str(args.project), "space": args.space, "items": int(xy.shape[0]),
           "seconds": round(time.perf_counter() - t0, 2), "file": f"layout-{args.space}.npy"}
    emit(args, obj, f"{args.project}: layout-{args.space}.npy ({xy.shape[0]:,} items, {obj['seconds']} s)")
    return 0


def cmd_coldstart_eval(args) -> int:
    from ..coldstart import coldstart_eval

    proj = Project.open(args.project)
    kw = {k: v for k, v in dict(weight=args.weight, n_candidates=args.candidates, content_share=args.content_share,
                                max_cold=args.max_cold).items() if v is not None}
    with Bar(not args.json, "coldstart-eval") as bar:
        out = coldstart_eval(proj, progress=bar, users=args.users, gen_kind=args.model, dense_kind=args.dense,
                             device=args.device, **kw)
    human = (f"{out['cold_cases']} cold / {out['warm_cases']} warm test cases, weight {out['weight']}\n"
             f"cold recall@10: generative {out['cold_recall@10_generative']:.4f}  hybrid {out['cold_recall@10_hybrid']:.4f}\n"
             f"cold ndcg@10:   generative {out['cold_ndcg@10_generative']:.4f}  hybrid {out['cold_ndcg@10_hybrid']:.4f}\n"
             f"warm recall@10: generative {out['warm_recall@10_generative']:.4f}  hybrid {out['warm_recall@10_hybrid']:.4f}")
    emit(args, out, human)
    return 0


def register(sub) -> None:
    """Add the recommend, instruct-eval, weights, layout and coldstart-eval commands to ``sub``."""
    sp = add_generator_command(sub, "recommend", "recommend the next items for a history of item ids", cmd_recommend)
    sp.add_argument("--history", default="", help="comma-separated item ids, oldest first")
    sp.add_argument("-k", type=whole(1, MAX_K), default=10)
    sp.add_argument("--beam", type=whole(1, MAX_BEAM), default=20)
    sp.add_argument("--trace", action="store_true", help="include the beam search trace, level by level")
    sp.add_argument("--unconstrained", action="store_true")
    sp.add_argument("--exclude-history", action="store_true", help="never recommend items already in the history")
    for what, meta in (("category", "NAME"), ("brand", "NAME"), ("item", "ID")):
        sp.add_argument(f"--allow-{what}", action="append", metavar=meta,
                        help=f"only recommend items with this {what} (comma-separated; repeatable)")
        sp.add_argument(f"--block-{what}", action="append", metavar=meta,
                        help=f"never recommend items with this {what} (comma-separated; repeatable)")
    sp.add_argument("--interest-depth", type=whole(1, 16), default=1, help="SID codes that define an interest group (default 1)")
    sp.add_argument("--instruction", help="natural-language request, e.g. 'gentle cleanser for sensitive skin' "
                    "(generators trained with --instructions; the history may then be empty)")
    sp.add_argument("--device", default="auto")

    sp = add_command(sub, "instruct-eval", "category instructions: precision@10 with an empty history and with histories",
                     cmd_instruct_eval)
    sp.add_argument("--project", required=True)
    sp.add_argument("--model", choices=("ran", "tiger"), default="ran")
    sp.add_argument("--min-items", type=whole(1), default=20, help="leaf categories with at least this many items")
    sp.add_argument("--beam", type=whole(1, MAX_BEAM), default=20)
    sp.add_argument("--users", type=whole(1), default=2000, help="seeded test users for the with-history part")
    sp.add_argument("--device", default="auto")

    sp = add_command(sub, "weights", "content- vs collaborative-guided codeword weights: one item's levels, or every "
                     "item ranked (by JS divergence with a RAN, else by the content margin of its code)", cmd_weights)
    sp.add_argument("--project", required=True)
    sp.add_argument("--item", type=int, metavar="ID", help="show this item's levels instead of the ranking")
    sp.add_argument("--top", type=whole(1, 10_000_000), default=20, help="items of the ranking to list (default 20)")
    sp.add_argument("--content-only", action="store_true", help="the content side alone, even with a RAN")

    sp = add_command(sub, "layout", "UMAP layout of the items for the codebook map, cached in the project", cmd_layout)
    sp.add_argument("--project", required=True)
    sp.add_argument("--space", choices=("content", "collaborative"), default="content")
    sp.add_argument("--seed", type=whole(0), default=0)

    sp = add_command(sub, "coldstart-eval", "cold vs warm recall: generative-only vs hybrid (generative + dense) re-ranking",
                     cmd_coldstart_eval)
    sp.add_argument("--project", required=True, help="a cold-start project (--cold-holdout)")
    sp.add_argument("--model", choices=("ran", "tiger"), default="ran", help="generative model (default ran)")
    sp.add_argument("--dense", choices=("sasrec",), default="sasrec", help="dense scorer (default sasrec)")
    sp.add_argument("--weight", type=real(0, 1), help="share of the dense score in the mix, 0..1")
    sp.add_argument("--candidates", type=whole(1, MAX_BEAM), help="beam width = generative candidates per user")
    sp.add_argument("--content-share", type=real(0, 1), help="share of the content-profile term in the dense score, 0..1")
    sp.add_argument("--max-cold", type=whole(0, MAX_K), help="most cold items in a top-10 list")
    sp.add_argument("--users", type=whole(1), help="evaluate a seeded subset of test users")
    sp.add_argument("--device", default="cpu")
