"""The codeword-weights panel's state and rules, without Qt.

:class:`WeightsState` is what the panel shows and decides, as plain Python: which page is up,
the loaded generators and ranking, the item shown and the item it is compared with, the items
offered for comparison, how typed text finds an item, and every status text. The view
(:mod:`.view`) binds it to widgets and runs the jobs it asks for (:mod:`.jobs`); the tests in
``tests/app/test_weights_state.py`` drive it without widgets.

The life of a project: :meth:`WeightsState.open` (everything of the previous project is stale and
dropped) -> :meth:`~WeightsState.set_generators` (the RAN loaded, or not: then the panel shows the
content side alone, :attr:`~WeightsState.content_only`, and says which command trains a RAN) ->
:meth:`~WeightsState.set_ranking` (the divergence ranking, or without a RAN the content-margin
ranking; with nothing picked yet, its top item is shown) -> :meth:`~WeightsState.choose` /
:meth:`~WeightsState.request` / :meth:`~WeightsState.set_weights` per item.
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass

import numpy as np

from app.widgets.text import elide, sid_text

from .jobs import CONTENT, Generators, ItemWeights, Ranking

__all__ = ["SOURCE", "NO_DECOR", "PAGES", "CompareChoice", "ItemRequest", "WeightsState", "level_name", "escape",
           "ratio_text"]

#: The name this panel uses as the ``source`` of the selections it makes.
SOURCE = "weights"
#: The pages of the panel: no project, the weights (both sides, or the content side alone).
PAGES = ("empty", "weights")
NO_DECOR = "Load a TIGER-style generator trained with decor to see the fusion split."
COMPARE_LIMIT = 200  # items sharing a prefix offered for comparison, at most (plus "no comparison")
CLOSE_CALL = 1.01  # a content margin under this is a close call between two codewords
COMPARE_COLOUR = "#7b2fa8"  # the compared item's colour (the plots' outline, the DECOR table's column)

_PICK_HINT = "Pick an item: click a row of the ranking, select one in another panel, or search above."


def level_name(level: int, depth: int) -> str:
    """``"L1"``.. for quantizer levels, ``"Coll."`` for the last (collision) level."""
    return "Coll." if level == depth - 1 else f"L{level + 1}"


def ratio_text(ratio: float | None) -> str:
    """A content margin as shown: ``"1.214×"``; ``"–"`` where there is none (the collision level) or
    the level has a single codeword."""
    if ratio is None or not np.isfinite(ratio):
        return "–"
    return f"{ratio:.3f}×"


def escape(text: str) -> str:
    """``text`` safe inside rich text."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass(frozen=True)
class CompareChoice:
    """One entry of the "compare with" list: ``item`` None is "no comparison"."""

    item: int | None
    label: str


@dataclass(frozen=True)
class ItemRequest:
    """The arguments of :func:`~.jobs.compute_item_weights` for the item to show."""

    project: object
    ran: object
    item: int
    compare: int | None
    tiger: object | None

    def args(self) -> tuple:
        return self.project, self.ran, self.item, self.compare, self.tiger


_NO_COMPARISON = CompareChoice(None, "— no comparison —")


class WeightsState:
    """The panel's state for the open project (see the module docstring). GUI thread only.

    Read-only for the view: ``snapshot``, ``page`` (one of :data:`PAGES`), ``generators``,
    ``ranking``, ``item`` (picked), ``compare``, ``shown`` (the :class:`ItemWeights` drawn),
    ``auto_item`` (the item shown tops the ranking, nobody picked it), ``ready`` (an item was
    drawn for this project), ``error``, ``ranking_status``, ``item_status``, ``no_ran_html`` (why
    only the content side is shown and which command trains a RAN; empty with a RAN),
    ``decor_html``, ``compare_choices`` (first: no comparison) and ``completions`` (search text ->
    item index).
    """

    def __init__(self) -> None:
        self.open(None)

    # ---- the project ----
    def open(self, snapshot) -> None:
        """A project was opened (``None``: closed): everything shown for the previous one is dropped."""
        self.snapshot = snapshot
        self.page = "empty" if snapshot is None else "weights"
        self.generators: Generators | None = None
        self.ranking: Ranking | None = None
        self.item: int | None = None
        self.compare: int | None = None
        self.shown: ItemWeights | None = None
        self.auto_item = False
        self.ready = False
        self.error = ""
        self.no_ran_html = ""
        self.decor_html = NO_DECOR
        self.compare_choices: list[CompareChoice] = []
        self.ranking_status = ""
        self.item_status = ""
        if snapshot is not None:
            self.ranking_status = "Waiting for the RAN generator…"
            self.item_status = "Loading the RAN generator…"

    @property
    def project(self):
        return None if self.snapshot is None else self.snapshot.project

    @property
    def completions(self) -> dict[str, int]:
        """Search text -> item index (the project's item-picker completions; built on first use
        when the window's look-up job has not made them yet)."""
        return {} if self.snapshot is None else self.snapshot.completions

    @property
    def level_sizes(self) -> tuple[int, ...]:
        """Codewords per SID level of the open project (``()`` when none is open)."""
        return () if self.snapshot is None else tuple(int(k) for k in self.project.sids.level_sizes)

    @property
    def ran(self):
        return None if self.generators is None else self.generators.ran

    @property
    def ran_loaded(self) -> bool:
        return self.ran is not None

    @property
    def content_only(self) -> bool:
        """The generators were looked for and the project has no usable RAN: only the content side
        (the tokenizer's weights) is shown."""
        return self.generators is not None and self.generators.ran is None

    # ---- job results ----
    def set_generators(self, generators: Generators) -> None:
        """The generators arrived (ask for the ranking next). Without a RAN the panel shows the
        content side alone and ``no_ran_html`` says why and which command trains one."""
        self.generators = generators
        if generators.ran is None:
            cmd = f"genrec train --project {shlex.quote(str(self.snapshot.path))} --model ran"
            error = generators.ran_error or ""
            why = ("this project has none (<code>generator-ran.safetensors</code>)" if "not found" in error
                   else f"this project's RAN could not be loaded (<i>{escape(error)}</i>)")
            self.no_ran_html = (
                f"<b>Content side only.</b> The collaborative-guided weights come from a RAN generator, and {why}. "
                f"Train one with <code>{escape(cmd)}</code> and open the project again.")
            self.ranking_status = "Ranking every item by the content margin of its SID code (a few seconds)…"
        else:
            self.no_ran_html = ""
            self.ranking_status = "Ranking every item by content/collaborative divergence (a few seconds)…"
        if self.item is None:
            self.item_status = _PICK_HINT

    def set_ranking(self, ranking: Ranking) -> int | None:
        """The ranking arrived. Returns the item to show when nothing was picked yet (the most
        divergent one, shown without selecting it for the other panels), else None."""
        self.ranking = ranking
        n = self.project.sids.n_items
        if ranking.kind == CONTENT:  # a margin means the same at any flatness: no "no signal" count
            flagged = ranking.flags.any(1)
            close = int(((ranking.summary < CLOSE_CALL) & ~flagged).sum())
            self.ranking_status = (
                f"{n:,} items; the content prefers another codeword than the item's own at some level for "
                f"{int(flagged.sum()):,} of them; {close:,} other{'s are' if close != 1 else ' is a'} close "
                f"call{'s' if close != 1 else ''} (weakest margin under {CLOSE_CALL}×).")
        else:
            depth = self.project.sids.depth
            flat_txt = "; ".join(f"{level_name(l, depth)}: {int(k):,}"
                                 for l, k in enumerate(ranking.no_signal_by_level()) if k)
            self.ranking_status = (f"{n:,} items; the top codeword moved at some level for "
                                   f"{ranking.flagged_any:,} of them (counted only where the comparison has signal)."
                                   + (f" No signal (both weight distributions near uniform) at {flat_txt} items."
                                      if flat_txt else ""))
        if self.item is None and len(ranking.order):
            return int(ranking.order[0])
        return None

    def ranking_titles(self) -> np.ndarray:
        """``[N]`` item titles (str) for the ranking table."""
        return self.project.dataset.catalogue.items["title"].astype(str).to_numpy()

    def set_weights(self, weights: ItemWeights) -> bool:
        """An item's weights arrived; True the first time for this project (the panel is ready)."""
        self.shown = weights
        project = self.project
        item, levels = weights.item, weights.levels
        head = f"Item id {project.sids.item_ids[item]} · SID {sid_text(project.sids.sid(item))}"
        if not levels or not levels[0].has_collaborative:
            quantized = levels[:-1]
            margins = ", ".join(f"{level_name(lw.level, len(levels))} {ratio_text(lw.own_ratio)}" for lw in quantized)
            other = [f"{level_name(lw.level, len(levels))} (codeword {lw.content_argmax})" for lw in quantized
                     if lw.own_ratio is not None and lw.own_ratio < 1]
            status = (f"{head} · content margin of its code: {margins}"
                      + (f" · the content prefers another codeword at {', '.join(other)}" if other else ""))
            if self.auto_item:
                status += " · shown because it tops the content-margin ranking"
        else:
            moved = [level_name(lw.level, len(levels)) for lw in levels if lw.moved and lw.signal]
            flat = [level_name(lw.level, len(levels)) for lw in levels if not lw.signal]
            status = (f"{head} · mean JS {np.mean([lw.js for lw in levels]):.3f} bits · top codeword moved at "
                      f"{', '.join(moved) if moved else 'no level'}"
                      + (f" · no signal at {', '.join(flat)} (both near uniform)" if flat else ""))
            if self.auto_item:
                status += " · shown because it tops the divergence ranking"
        self.item_status = status
        self.decor_html = self._decor_html(weights)
        first = not self.ready
        self.ready = True
        return first

    def fail(self, what: str, message: str) -> None:
        """A job failed: ``what`` is ``"load"``, ``"ranking"`` or ``"item"``."""
        doing = {"load": "load the generators", "ranking": "rank the items", "item": "compute the item's weights"}
        self.error = f"Could not {doing.get(what, 'finish')}: {message}"
        if what == "load":
            self.ready = True  # nothing more will come for this project
        if what == "ranking":
            self.ranking_status = "The ranking could not be computed."

    # ---- the item and its comparison ----
    def choose(self, item: int, compare: int | None = None, *, auto: bool = False) -> None:
        """Show ``item``, compared with ``compare`` or, by default, the first item sharing its
        longest SID prefix (a collider when there is one). ``auto``: nobody picked it."""
        self.item, self.auto_item = int(item), auto
        extra = None if compare is None else int(compare)
        self.compare_choices = self._compare_choices(self.item, extra)
        if extra is not None and extra != self.item:
            self.compare = extra
        else:
            self.compare = self.compare_choices[1].item if len(self.compare_choices) > 1 else None

    def set_compare(self, item: int | None) -> int:
        """Compare with ``item`` (None: no comparison); an item not offered yet is added as
        "picked". Returns its index in ``compare_choices``."""
        item = None if item is None else int(item)
        index = self.compare_index(item)
        if index < 0:
            self.compare_choices.append(CompareChoice(item, self.item_label(item, "picked")))
            index = len(self.compare_choices) - 1
        self.compare = item
        return index

    def compare_index(self, item: int | None) -> int:
        """Where ``item`` is in ``compare_choices`` (-1: not offered)."""
        return next((k for k, c in enumerate(self.compare_choices) if c.item == item), -1)

    def request(self) -> ItemRequest | None:
        """What to compute for the item to show (None: the generators not looked for yet, or no item
        yet; without a RAN the content side alone)."""
        if self.generators is None or self.item is None:
            return None
        self.item_status = "Computing the codeword weights…"
        return ItemRequest(self.project, self.ran, self.item, self.compare,
                           None if self.generators is None else self.generators.tiger)

    def item_title(self, item: int) -> str:
        project = self.project
        return project.dataset.catalogue.title(item) or f"item {project.sids.item_ids[item]}"

    def item_label(self, item: int, why: str) -> str:
        """``"<title>  (<SID>; <why>)"``, the title cut to 60 characters."""
        return f"{elide(self.item_title(item), 60)}  ({sid_text(self.project.sids.sid(item))}; {why})"

    def _compare_choices(self, item: int, extra: int | None) -> list[CompareChoice]:
        """No comparison, ``extra`` (when given), then the items sharing ``item``'s SID prefix,
        longest prefix first, at most :data:`COMPARE_LIMIT` of them."""
        sids = self.project.sids
        codes, L = sids.codes, sids.depth - 1
        out = [_NO_COMPARISON]
        if extra is not None and extra != item:
            out.append(CompareChoice(extra, self.item_label(extra, "second selected item")))
        seen = {item, extra}
        # items sharing the first code (one pass over the catalogue), then narrowed level by level:
        # at 1M items three full passes took ~40 ms a click
        first = np.flatnonzero(codes[:, 0] == codes[item, 0])
        for k in range(L, 0, -1):
            why = f"same first {k} codes (collides)" if k == L else f"same first {k} code{'s' if k > 1 else ''}"
            for j in first[(codes[first, :k] == codes[item, :k]).all(1)].tolist():
                if j in seen:
                    continue
                seen.add(j)
                out.append(CompareChoice(j, self.item_label(j, why)))
                if len(out) > COMPARE_LIMIT:
                    return out
        return out

    # ---- search ----
    def search(self, text: str) -> int | None:
        """The item typed text names (see :meth:`resolve`); when none, says so in the status."""
        text = text.strip()
        if not text or self.snapshot is None:
            return None
        item = self.resolve(text)
        if item is None:
            self.item_status = f"No item matches “{text}”."
        return item

    def resolve(self, text: str) -> int | None:
        """An item index for typed text: a completion, an item id, an ASIN, or a title substring
        (case-insensitive; the first match in catalogue order)."""
        if text in self.completions:
            return self.completions[text]
        project = self.project
        items = project.dataset.catalogue.items
        if text.lstrip("-").isdigit():
            hits = np.flatnonzero(project.sids.item_ids == int(text))
            if len(hits):
                return int(hits[0])
        if "asin" in items.columns:
            hits = np.flatnonzero(items["asin"].astype(str).to_numpy() == text)
            if len(hits):
                return int(hits[0])
        hits = np.flatnonzero(items["title"].astype(str).str.contains(text, case=False, regex=False).to_numpy())
        return int(hits[0]) if len(hits) else None

    # ---- texts ----
    def _decor_html(self, w: ItemWeights) -> str:
        """The DECOR box: the fusion split per level, or why there is none."""
        if w.fusion is None:
            note = self.generators.tiger_note if self.generators is not None else None
            return f"{NO_DECOR}<br><span style='color:#606060'>{escape(f' {note}' if note else '')}</span>"
        D = len(w.levels)
        cmp = w.compare_fusion
        head = ("<tr><th>Level</th><th>Token</th><th>Codebook</th><th>Learned</th>"
                + ("<th>Compared</th>" if cmp is not None else "") + "</tr>")
        rows = "".join(
            f"<tr><td>{level_name(l, D)}</td><td align='right'>{w.levels[l].code}</td>"
            f"<td align='right'>{100 * w.fusion[l]:.0f} %</td><td align='right'>{100 * (1 - w.fusion[l]):.0f} %</td>"
            + (f"<td align='right' style='color:{COMPARE_COLOUR}'>{100 * cmp[l]:.0f} %</td>" if cmp is not None else "")
            + "</tr>" for l in range(D))
        return ("Share of each of the item's token embeddings that comes from the frozen content codebook "
                "vs the learned collaborative table (DECOR's gate, without a user context):"
                f"<table cellspacing='0' cellpadding='3'>{head}{rows}</table>")
