"""The app at catalogue scale: ``python -m app.scaleprobe PROJECT --since T [--seed S]``.

Launches the app as users get it (:func:`app.main.launch`) on ``PROJECT`` and prints one JSON
object with what ``genrec bench scale`` reports for the app:

- ``open``: seconds from ``T`` (when the caller started this process) to the project loaded and
  handed to the panels, the window shown (``window_s`` too); ``settled_s``: to the background work
  the panels start after a load done (the requests below are timed after it);
- ``tree_expand``: a seeded sample of SID-tree nodes at every level, each selected (its items
  listed in the table, sorted), expanded and painted, as a click does: the slowest and the median;
  ``checked``: every node's listed item count equals the trie's count under its prefix;
- ``search``: a seeded sample of title words, item ids and SID prefixes typed into the tree's
  search, from the request to the result applied and painted: the slowest and the median;
  ``checked``: every title search lists the item the word was taken from, every id selects its
  item, every prefix selects its node.

A process of its own, as for :mod:`app.startup`: the engine never imports Qt.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

__all__ = ["main"]


def _wait(qapp, signal, limit_s: float = 120.0) -> bool:
    """Run the event loop until ``signal`` fires (True) or ``limit_s`` passes (False)."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    fired = []
    signal.connect(lambda *a: (fired.append(a), loop.quit()))
    QTimer.singleShot(int(limit_s * 1000), loop.quit)
    loop.exec()
    return bool(fired)


def _summary(times: list[float]) -> dict:
    arr = np.asarray(times, dtype=float)
    return {"seconds": round(float(arr.max()), 4), "median_seconds": round(float(np.median(arr)), 4), "requests": len(arr)}


def probe_tree(qapp, panel, project, rng: np.random.Generator, per_level: int) -> dict:
    """Select and expand a seeded sample of nodes at every level of the trie, timing each."""
    sids = project.sids
    codes = np.asarray(sids.codes)
    times, checked = [], True
    levels = codes.shape[1]
    for level in range(1, levels + 1):
        for item in rng.choice(len(codes), per_level, replace=False):
            prefix = tuple(int(c) for c in codes[int(item), :level])
            t0 = time.perf_counter()
            ok = panel.select_prefix(prefix)
            index = panel.tree.currentIndex()
            panel.tree.expand(index)
            qapp.processEvents()
            panel.repaint()
            times.append(time.perf_counter() - t0)
            under = int(np.all(codes[:, :level] == np.asarray(prefix), axis=1).sum())
            checked &= ok and panel.items_model.rowCount() == under
    return {**_summary(times), "checked": bool(checked), "levels": levels}


def probe_search(qapp, panel, project, rng: np.random.Generator, per_kind: int) -> dict:
    """Title words, item ids and SID prefixes typed into the tree's search, timed to the result shown."""
    titles = project.dataset.catalogue.items["title"].to_numpy()
    ids = np.asarray(project.sids.item_ids)
    codes = np.asarray(project.sids.codes)
    times, checked, hits = [], True, []
    for kind in ("title", "id", "prefix"):
        for item in rng.choice(len(ids), per_kind, replace=False):
            item = int(item)
            if kind == "title":
                words = [w for w in str(titles[item]).split() if len(w) > 3] or str(titles[item]).split()
                query = " ".join(words[-2:])  # a word and the model number: a few matches, like a real look-up
            elif kind == "id":
                query = f"id:{int(ids[item])}"
            else:
                query = "-".join(str(int(c)) for c in codes[item, :2])
            t0 = time.perf_counter()
            panel.search(query)
            done = _wait(qapp, panel.sig_search_finished)
            qapp.processEvents()
            panel.repaint()
            times.append(time.perf_counter() - t0)
            state = panel.state
            if kind == "prefix":
                ok = panel.selected_prefix() == tuple(int(c) for c in codes[item, :2])
            else:
                ok = item in state.hits
            hits.append(len(state.hits))
            checked &= done and ok
    return {**_summary(times), "checked": bool(checked), "max_matches": int(max(hits or [0]))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.scaleprobe", description=__doc__.splitlines()[0])
    parser.add_argument("project")
    parser.add_argument("--since", type=float, required=True, help="time.time() when the caller started this process")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-level", type=int, default=8, help="tree nodes sampled per level (default 8)")
    parser.add_argument("--per-kind", type=int, default=5, help="searches per kind: title, id, prefix (default 5)")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from .main import launch

    qapp, window = launch(args.project, dialogs=False)
    started: dict[int, list] = {}  # job id -> [name, start, end]
    window.bridge.sig_started.connect(lambda jid, name: started.__setitem__(jid, [name, time.time(), None]))
    window.bridge.sig_finished.connect(lambda jid: started.get(jid, [None, None, None]).__setitem__(2, time.time()))
    out: dict = {"project": str(args.project)}
    failed: list[str] = []
    window.sig_project_failed.connect(failed.append)
    window.repaint()
    out["window_s"] = round(time.time() - args.since, 3)
    if not _wait(qapp, window.sig_project_loaded, limit_s=600) or failed:
        print(json.dumps({**out, "error": failed[0] if failed else "the project did not load in 600 s"}))
        return 1
    window.repaint()
    out["open"] = {"seconds": round(time.time() - args.since, 3)}
    # what the panels start on their own after a load (generators, analyses) runs on: wait for it,
    # so the requests below are timed as a user finds the app once it is ready
    t0 = time.time()
    while window.bridge.running() and time.time() - t0 < 600:
        qapp.processEvents()
        time.sleep(0.02)
    out["open"]["settled_s"] = round(time.time() - args.since, 3)
    out["open"]["jobs"] = {name: round(end - begin, 2) for name, begin, end in started.values() if end is not None}
    tree = window.panels["tree"]
    window.tabs.setCurrentWidget(tree)
    qapp.processEvents()
    snapshot = window.snapshot
    project = snapshot.project
    rng = np.random.default_rng(args.seed)
    out["tree_expand"] = probe_tree(qapp, tree, project, rng, args.per_level)
    out["search"] = probe_search(qapp, tree, project, rng, args.per_kind)
    window.close()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
