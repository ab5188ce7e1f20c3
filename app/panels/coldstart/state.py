"""The cold-start lab's state and rules, without Qt: what the lab shows, what it asks the engine,
how results become rows and text, and what a project switch makes stale.

:class:`LabState` is the view-model. The panel (:mod:`.view`) reads it and writes the user's
choices into it; the engine jobs (:mod:`.jobs`) take plain data from it and return the frozen
dataclasses of :mod:`.results`. It is mutated on the GUI thread only.

**After a project switch** (:meth:`LabState.open_project`) everything in
:data:`PROJECT_STATE` belongs to the old project and is dropped: the loaded setup (generators,
test users), the session and its edits, the lab's item, the analysis and what the charts and
top-k lists draw (:attr:`LabState.drawn`), suggested and pinned users, the error and the ready
flag. Until the new project's first analysis arrives (load, encode, suggest and score take a few
seconds to ~30 s on a busy machine) ``drawn`` is None and the view shows a note instead of
charts. Kept across projects (:data:`USER_SETTINGS`): the typed text, the generator kind and the
hybrid weight.
"""
from __future__ import annotations

import html
import time
from dataclasses import replace

import numpy as np

from genrec_engine import ColdStartSession, GenrecError

from ...widgets import GENERATOR_LABELS, elide, leaf_category, sid_text
from .. import ItemsChange, LabItem, ProjectSnapshot
from .results import (
    COLD_PROJECT,
    DEFAULT_WEIGHT,
    GENERATIVE_KINDS,
    HYBRID_DEPTH,
    INJECTED_COLOUR,
    ITEM_COLOUR,
    MAX_NEIGHBOUR_ROWS,
    TOP_K,
    Analysis,
    AnalysisRequest,
    CurrentItem,
    LabSetup,
    LabText,
)

__all__ = ["PROJECT_STATE", "USER_SETTINGS", "leaf_category", "LabState"]

#: The fields of :class:`LabState` that belong to one project; :meth:`LabState.open_project` resets them.
PROJECT_STATE = ("snapshot", "setup", "session", "current", "analysis", "drawn", "analysis_pending",
                 "injected_order", "anchors", "cold_states", "suggested", "pinned", "choices", "choice",
                 "ready", "edit_note", "error")
#: The fields a project switch keeps: the user's own settings.
USER_SETTINGS = ("generator", "weight", "selection_items", "timings")


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'s' if n != 1 else ''}"


# ----------------------------------------------------------------------------------------- state


class LabState:
    """The cold-start lab's view-model (see the module docstring); GUI thread only.

    Session edits (:meth:`inject`, :meth:`retire`, :meth:`restore`, :meth:`use_session`) change
    the session and return the :class:`~app.panels.ItemsChange` to announce. Text methods return
    rich text (escaped) unless they say plain.
    """

    def __init__(self) -> None:
        self.generator = GENERATIVE_KINDS[0]  # the generator kind the user chose
        self.weight = DEFAULT_WEIGHT  # the hybrid mixing weight
        self.selection_items: tuple[int, ...] = ()  # the shared selection (a possible history)
        self.timings: dict[str, float] = {}  # last measured: encode_s, tokenize_ms, inject_ms, retire_ms, analysis_s ...
        self.open_project(None)

    # ---- project ----
    def open_project(self, snapshot: ProjectSnapshot | None) -> None:
        """A new project (or none): drop every field of :data:`PROJECT_STATE`."""
        self.snapshot = snapshot
        self.setup: LabSetup | None = None
        self.session: ColdStartSession | None = None  # the setup's session, or a fresh one after a reset
        self.current: CurrentItem | None = None
        self.analysis: Analysis | None = None  # the analysis of the current item (None while it is scored)
        self.drawn: Analysis | None = None  # what the charts and top lists show: this project's latest analysis
        self.analysis_pending = False  # another analysis was asked for while one runs: run it after
        self.injected_order: list[int] = []  # live injected items, oldest first (for ItemsChange.injected)
        self.anchors: dict[int, tuple[int, ...]] = {}  # injected typed item -> its content neighbours (map position)
        self.cold_states: dict[int, str] = {}  # cold item -> "held out" | "injected" | "retired"
        self.suggested: list[tuple[int, str]] = []  # the suggested test users of the lab's item: (row, reason)
        self.pinned: tuple[str, object] | None = None  # a history the user chose on purpose
        self.choices: list[tuple[str, object]] = []  # user combo entries: ("user", row) | ("selection", None)
        self.choice = -1  # the chosen entry of ``choices``
        self.ready = False  # an analysis (or all there is to show) is drawn for this project
        self.edit_note = ""  # what the last encode/inject/retire did, kept in the status line
        self.error: str | None = None  # the one-line error on screen
        self.fill_choices()

    @property
    def project(self):
        return None if self.snapshot is None else self.snapshot.project

    def set_setup(self, setup: LabSetup) -> None:
        """The lab's generators, users and session arrived for the open project."""
        self.setup, self.session = setup, setup.session
        self.cold_states = {int(i): "held out" for i in self.project.cold_indices.tolist()}
        if self.generator not in setup.generators and setup.generators:
            self.generator = next(iter(setup.generators))
        self.error = self._setup_error()

    def _setup_error(self) -> str | None:
        """The error that stays while this project is open: it has no generator to score with."""
        if self.setup is None or self.setup.generators:
            return None
        return ("This project has no trained RAN or TIGER-style generator, so no path can be scored: "
                f"train one with genrec train --project {self.project.path} --model ran.")

    def cold_rows(self) -> list[tuple]:
        """``(index, title, brand, SID text, test users who took it next)`` per held-out item."""
        cold = self.project.cold_indices
        if not len(cold) or self.setup is None:
            return []
        items = self.project.dataset.catalogue.items
        titles, brands = items["title"].to_numpy()[cold], items["brand"].to_numpy()[cold]
        codes = self.project.sids.codes[cold]
        return [(int(i), str(t), str(b), sid_text(s), int(n))
                for i, t, b, s, n in zip(cold, titles, brands, codes, self.setup.cold_next)]

    def cold_notice(self) -> str:
        """What the held-out tab says when the project holds no items out ("" when it holds some)."""
        if self.setup is None or len(self.project.cold_indices):
            return ""
        return (f"<p><b>{html.escape(self.project.name)}</b> holds no items out: every item is in its trie.</p>"
                "<p>To try items the generators have never seen, open the cold-start project with "
                f"<b>File › Open project…</b>:<br><code>{html.escape(str(COLD_PROJECT))}</code></p>"
                "<p>Typed items (the other tab) work on any project.</p>")

    def typing_note(self) -> str:
        """Why items cannot be typed in for this project ("" when they can): a new item's text is
        embedded the way the catalogue was, which only the MiniLM text encoder can do item by item."""
        if self.setup is None:
            return ""
        name = (self.project.meta.get("encoder", {}) or {}).get("name", "minilm")
        if name == "minilm":
            return ""
        return (f"This project's items were embedded with the {html.escape(str(name))} encoder, which cannot "
                "embed one new item from its text: typing items needs a project embedded with MiniLM. "
                "Pick a held-out cold item instead.")

    def first_cold_item(self) -> int | None:
        """The held-out item most test users took next (there is a user to rank it for); None: none held out."""
        cold = self.project.cold_indices
        if not len(cold):
            return None
        nxt = self.setup.cold_next
        return int(cold[int(np.argmax(nxt))]) if len(nxt) else int(cold[0])

    # ---- the item ----
    @staticmethod
    def check_text(title: str, brand: str, categories: str) -> str | None:
        """Why typed text cannot be encoded (plain), or None."""
        if not (title.strip() or brand.strip() or categories.strip()):
            return "Type a title (and a brand and categories, if you know them) first."
        return None

    def cold_item(self, item: int) -> CurrentItem:
        """Held-out (or any catalogue) item ``item`` as the lab's item."""
        project = self.project
        cat = project.dataset.catalogue.items
        return CurrentItem("cold", int(item), str(cat["title"].iat[item]), str(cat["brand"].iat[item]),
                           str(cat["categories"].iat[item]), np.asarray(project.embeddings[item], np.float32),
                           tuple(int(c) for c in self.session.sid(item)), (int(item),))

    def typed_item(self, title: str, brand: str, categories: str, text: LabText) -> CurrentItem:
        """A typed item whose embedding the encode job made: its SID from the session as it is now (a
        collision code taken meanwhile is skipped; GUI thread, ~1 ms). Raises GenrecError."""
        e, sid = self.session.encode_new_item(embedding=text.embedding)
        return CurrentItem("typed", None, title, brand, categories, e, sid, text.anchors)

    def set_current(self, item: CurrentItem) -> None:
        """``item`` is the lab's item now: its analysis is to come, older errors go (the project's
        lack of a generator stays said)."""
        self.current = item
        self.edit_note = ""
        self.analysis = None
        self.error = self._setup_error()

    def is_live(self, item: CurrentItem | None = None) -> bool:
        """Whether ``item`` (default: the lab's item) is in the session's trie."""
        item = self.current if item is None else item
        s = self.session
        return item is not None and item.index is not None and s is not None and item.index in s.trie

    def sid_text(self) -> str:
        """``"SID 12-7-201-0"`` of the lab's item (plain; "" without one)."""
        return "" if self.current is None else f"SID {sid_text(self.current.sid)}"

    def item_state(self) -> str:
        """Live / retired / held out / not in the trie, and what that means."""
        cur, s = self.current, self.session
        if cur is None or s is None:
            return ""
        if self.is_live():
            return (f"<b style='color:{INJECTED_COLOUR}'>Live</b>: injected into this session's trie; the generator "
                    "can return it.")
        if cur.index is not None and cur.index in s.retired:
            return "<b>Retired</b>: taken out of the trie; the generator never returns it." + (
                " Inject adds it again, as a new item." if cur.kind == "typed" else "")
        if cur.kind == "cold":
            return "<b>Held out</b>: the generators never saw it and the trie does not hold it yet. Inject it."
        return "<b>Not in the trie</b>: no generator can produce it yet. Inject it to make it decodable."

    def neighbours(self) -> tuple[str, list[tuple]]:
        """``(caption, rows)``: the live items under the longest SID prefix the lab's item shares
        with them (GUI thread: ~1 ms on the session trie); rows as :meth:`item_row`."""
        cur, s = self.current, self.session
        if cur is None or s is None:
            return "", []
        nb = s.neighbours(cur.index if self.is_live() else cur.sid)
        items = [int(i) for i in nb["items"] if int(i) != cur.index]
        n, depth = len(items), s.trie.depth
        prefix = sid_text(nb["prefix"], "(root)")
        caption = (f"<b>{n:,}</b> live item{'s' if n != 1 else ''} under its longest shared prefix <b>{prefix}</b> "
                   f"({nb['length']} of {depth} codes)"
                   + (f"; the first {MAX_NEIGHBOUR_ROWS:,} are listed." if n > MAX_NEIGHBOUR_ROWS else "."))
        return caption, [self.item_row(i) for i in items[:MAX_NEIGHBOUR_ROWS]]

    def item_row(self, i: int) -> tuple:
        """``(index, title, brand, leaf category, SID text, popularity)`` of a catalogue or typed item."""
        s = self.session
        if i >= s.n_items:
            it = s.new_items[i]
            return (i, f"{it.title} (new)", it.brand, leaf_category(it.categories), sid_text(it.sid), 0)
        items = s.project.dataset.catalogue.items
        return (i, str(items["title"].iat[i]), str(items["brand"].iat[i]), leaf_category(items["categories"].iat[i]),
                sid_text(s.project.sids.sid(i)), int(self.snapshot.popularity[i]))

    # ---- session edits ----
    def can_inject(self) -> bool:
        return self.current is not None and self.session is not None and not self.is_live()

    def inject(self) -> ItemsChange | None:
        """Insert the lab's item into the session's trie (~1 ms); None when there is nothing to inject.
        Raises GenrecError."""
        cur, s = self.current, self.session
        if not self.can_inject():
            return None
        t0 = time.perf_counter()
        if cur.kind == "typed":  # a retired typed item comes back as a new one (with a new index)
            new = s.inject_new(cur.title, cur.brand, cur.categories, embedding=cur.embedding)
            cur = replace(cur, index=new.index, sid=new.sid)
        else:
            s.inject(cur.index)
        self.timings["inject_ms"] = 1000 * (time.perf_counter() - t0)
        self.injected_order.append(int(cur.index))
        self.current = cur
        return self._after_edit(added=(cur.index,))

    def retire(self, item: int | None = None) -> ItemsChange | None:
        """Take ``item`` (default: the lab's item, if live) out of the session's trie. Raises GenrecError."""
        if self.session is None:
            return None
        if item is None:
            if not self.is_live():
                return None
            item = self.current.index
        item = int(item)
        t0 = time.perf_counter()
        self.session.retire(item)
        self.timings["retire_ms"] = 1000 * (time.perf_counter() - t0)
        if item in self.injected_order:
            self.injected_order.remove(item)
        return self._after_edit(removed=(item,))

    def restore(self, item: int) -> ItemsChange | None:
        """Put a retired catalogue item back into the session's trie. Raises GenrecError."""
        s, item = self.session, int(item)
        if s is None or item >= s.n_items or item in s.trie:
            return None
        s.inject(item)
        if item in self.cold_states:
            self.injected_order.append(item)
        else:  # a warm item put back is not an injection
            s.injected.discard(item)
        return self._after_edit(added=(item,))

    def use_session(self, session: ColdStartSession) -> ItemsChange:
        """A fresh session replaces the lab's (Reset session): nothing injected or retired."""
        self.setup = replace(self.setup, session=session)
        self.session = session
        self.injected_order, self.anchors = [], {}
        self.cold_states = dict.fromkeys(self.cold_states, "held out")
        cur = self.current
        if cur is not None and cur.kind == "typed":
            _, sid = session.encode_new_item(embedding=cur.embedding)
            self.current = replace(cur, index=None, sid=sid)
        return self.items_change((), ())

    def _after_edit(self, *, added=(), removed=()) -> ItemsChange:
        s, cur = self.session, self.current
        if cur is not None and cur.kind == "typed" and cur.index is None:
            try:  # its collision code may have been taken by the edit
                _, sid = s.encode_new_item(embedding=cur.embedding)
                self.current = replace(cur, sid=sid)
            except GenrecError:
                pass
        for i in list(added) + list(removed):
            if i in self.cold_states:
                self.cold_states[i] = "injected" if i in s.trie else ("retired" if i in s.retired else "held out")
        return self.items_change(added, removed)

    def items_change(self, added, removed) -> ItemsChange:
        """The session's live items after an edit, for :meth:`ProjectViewModel.announce_items_changed`."""
        s = self.session
        if self.current is not None and self.current.index is not None:
            self.anchors[self.current.index] = self.current.anchors
        new_items = {i: LabItem(i, it.title, it.brand, it.categories, tuple(it.sid), tuple(self.anchors.get(i, ())))
                     for i, it in s.new_items.items()}
        return ItemsChange(
            project=s.project, trie=s.trie.copy(), added=tuple(int(i) for i in added),
            removed=tuple(int(i) for i in removed),
            injected=tuple(i for i in self.injected_order if i in s.trie),
            retired=tuple(sorted(int(i) for i in s.retired if int(i) < s.n_items)), new_items=new_items)

    def session_rows(self) -> list[tuple]:
        """``(index, title, "injected" | "retired", SID text)``: live injected items, oldest first, then retired ones."""
        s = self.session
        if s is None:
            return []
        rows = [self.item_row(i) for i in self._live_injected() + self._retired()]
        return [(r[0], r[1], "injected" if r[0] in s.trie else "retired", r[4]) for r in rows]

    def session_summary(self) -> str:
        s = self.session
        if s is None:
            return ""
        return (f"<b>This session</b>: {s.trie.num_items:,} live items · {len(self._live_injected())} injected · "
                f"{len(self._retired())} retired.")

    def can_toggle(self, item: int) -> bool:
        """Whether a session row's item can be retired (live) or restored (a retired catalogue item)."""
        return self.session is not None and (item in self.session.trie or item < self.session.n_items)

    def _live_injected(self) -> list[int]:
        return [i for i in self.injected_order if i in self.session.trie]

    def _retired(self) -> list[int]:
        s = self.session
        return sorted(int(i) for i in s.retired if int(i) < s.n_items or int(i) in s.new_items)

    # ---- users and history ----
    def set_suggested(self, suggested: list[tuple[int, str]]) -> None:
        self.suggested = list(suggested)
        self.fill_choices()

    def fill_choices(self) -> None:
        """Rebuild the user entries: a pinned user (picked by id), the suggested users, the selection;
        the pinned choice stays chosen, else the first."""
        pinned = self.pinned
        choices = []
        if pinned is not None and pinned[0] == "user" and self.setup is not None:
            choices.append(pinned)
        choices += [("user", int(row)) for row, _ in self.suggested if pinned is None or ("user", row) != pinned]
        choices.append(("selection", None))
        self.choices = choices
        self.choice = choices.index(pinned) if pinned in choices else 0

    def choice_labels(self) -> list[str]:
        """The user combo's text per entry of :attr:`choices`."""
        reasons = dict(self.suggested)
        out = []
        for kind, row in self.choices:
            if kind == "selection":
                out.append(self.selection_label())
                continue
            users = self.setup.users
            reason = "picked" if ("user", row) == self.pinned else reasons.get(row, "")
            tag = {"next": "★ took it next", "similar": "similar taste", "picked": "picked"}.get(reason, reason)
            out.append(f"User {int(users.user_ids[row])} · {len(users.histories[row])} items · {tag}")
        return out

    def selection_label(self) -> str:
        return f"History from the shared selection ({_plural(len(self.selection_items), 'item')})"

    def user_choice(self) -> tuple[str, object] | None:
        """The chosen history source: ``("user", row of the test users)`` or ``("selection", None)``."""
        return self.choices[self.choice] if 0 <= self.choice < len(self.choices) else None

    def choose(self, index: int) -> None:
        """The user chose entry ``index``: the selection is kept for later items; a suggestion is not."""
        self.choice = index
        choice = self.user_choice()
        if choice is not None and choice[0] == "selection":
            self.pinned = choice
        elif choice != self.pinned:
            self.pinned = None

    def pin_user(self, row: int) -> None:
        """Use test user ``row`` as the history, also for the next items."""
        self.pinned = ("user", int(row))
        self.fill_choices()

    def user_row(self, user_id: str) -> int | None:
        """The test-user row of a typed user id, or None."""
        hits = np.flatnonzero(self.setup.users.user_ids.astype(str) == user_id.strip())
        return int(hits[0]) if len(hits) else None

    def history(self) -> list[int]:
        """The history (item indices, oldest first) the analysis reads."""
        choice = self.user_choice()
        if choice is None or self.setup is None:
            return []
        if choice[0] == "selection":
            return [int(i) for i in self.selection_items]
        return [int(i) for i in self.setup.users.histories[int(choice[1])]]

    def history_text(self, history: list[int]) -> str:
        choice = self.user_choice()
        project = self.project
        last = [i for i in history if 0 <= i < project.sids.n_items][-1:]
        tail = f"; last: “{html.escape(elide(str(project.dataset.catalogue.title(last[0])), 60))}”" if last else ""
        if choice[0] == "selection":
            return f"History: the {len(history):,} items of the shared selection{tail}."
        users = self.setup.users
        row = int(choice[1])
        mine = self.current is not None and int(users.targets[row]) == self.current.index
        took = " It took <b>this item</b> next." if mine else ""
        return f"User {int(users.user_ids[row])}: {len(history):,} items before the test item{tail}.{took}"

    # ---- analysis ----
    def no_generator(self) -> bool:
        """An item and a history are there, but no generator of the chosen kind to score them with:
        the SID and neighbours are all there is to show (that counts as ready)."""
        if self.setup is None or self.current is None or self.user_choice() is None:
            return False
        if self.setup.generators.get(self.generator) is None:
            self.ready = True
            return True
        return False

    def analysis_request(self) -> AnalysisRequest | None:
        """The rank job to run for the lab's item and the chosen history; None: nothing to score."""
        if self.setup is None or self.current is None or self.user_choice() is None:
            return None
        gen = self.setup.generators.get(self.generator)
        if gen is None:
            return None
        return AnalysisRequest(gen, self.generator, self.setup.dense, self.current, tuple(self.history()),
                               float(self.weight))

    def accept_analysis(self, a: Analysis) -> bool:
        """Take a rank job's result unless the item changed while it ran (the pending request follows)."""
        cur = self.current
        if cur is None or tuple(a.sid[:-1]) != tuple(cur.sid[:-1]):
            return False
        self.analysis = self.drawn = a
        self.timings["analysis_s"] = a.seconds.get("total", 0.0)
        self.timings["rank_s"] = a.seconds.get("rank", 0.0)
        self.timings["hybrid_s"] = a.seconds.get("hybrid", 0.0)
        self.ready = True
        return True

    def rank_text(self, a: Analysis) -> str:
        p = float(np.exp(a.logp))
        cond = (" <i>(as if injected)</i>" if a.what_if
                else " <i>(retired: ranked as if it were live)</i>" if a.retired else "")
        gen = GENERATOR_LABELS.get(a.generator, a.generator)
        lines = [f"Path probability {p:.3g} (log {a.logp:.2f}). <b>Generative rank {a.rank:,}</b> of "
                 f"{a.live_items:,} live items{cond}: exact, every live SID scored by {gen}."]
        if a.hybrid is None:
            why = self.setup.dense_error or "no SASRec generator"
            lines.append(f"Hybrid re-ranking needs the project's SASRec ({html.escape(why)}).")
        elif a.retired:
            lines.append("Hybrid: retired items are never candidates.")
        elif a.hybrid_rank is not None and a.hybrid_rank <= TOP_K:
            lines.append(f"<b style='color:{ITEM_COLOUR}'>Hybrid rank {a.hybrid_rank}</b>: in the top {TOP_K} after "
                         f"re-ranking with SASRec (weight {a.weight:.2f}){cond}.")
        elif a.hybrid_rank is not None:
            lines.append(f"<b>Hybrid rank {a.hybrid_rank}</b>: a candidate, but outside the top {TOP_K} "
                         f"(weight {a.weight:.2f}){cond}; a larger weight lets the dense score count more.")
        else:
            lines.append(f"<b>Hybrid: not in the first {HYBRID_DEPTH}</b> of the re-ranked list (weight "
                         f"{a.weight:.2f}){cond}: its generative score pulls it down; a larger weight lets the dense "
                         "score count more.")
        return "<br>".join(lines)

    def scored_status(self, a: Analysis) -> str:
        """The status line after a rank job (plain)."""
        return (f"{self.edit_note}Scored in {a.seconds.get('total', 0):.2f} s "
                f"(exact rank {a.seconds.get('rank', 0):.2f} s, hybrid {a.seconds.get('hybrid', 0):.2f} s).")

    @staticmethod
    def top_caption(a: Analysis) -> str:
        return (f"Top {TOP_K} for this history" + (" (the item injected as a what-if)" if a.what_if else "")
                + f": ★ marks the lab's item. Scored in {a.seconds.get('total', 0):.2f} s.")
