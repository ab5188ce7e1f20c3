"""Cold-start lab: inject new items into (and retire items from) a live SID catalogue.

**Injection.** :class:`ColdStartSession` holds a private copy of a project's trie (the project's
own trie is never touched) and edits it: :meth:`~ColdStartSession.inject` makes a held-out cold
item generatable (its SID comes from the project's SID table), :meth:`~ColdStartSession.inject_new`
adds a typed-in item (title, brand, categories): its text is embedded like the project's items,
rounded through float16, tokenized with the frozen tokenizer, and given the smallest free
collision code under its first L codes; :meth:`~ColdStartSession.retire` removes an item so that
decoding with :attr:`ColdStartSession.trie` can never return it. New items get indices ``>= N``.

The history a session decodes from drops cold and new items (:func:`warm_history`): the
generators were trained without them. Scoring walks the levels with
:func:`~genrec_engine.decode.advance` (:func:`~genrec_engine.decode.score_trie` for every live
item, teacher forcing for one SID). Hybrid re-ranking over a session lives in
:mod:`genrec_engine.coldstart.hybrid`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import ConfigError

__all__ = ["ColdStartSession", "NewItem", "warm_history"]


@dataclass
class NewItem:
    """A typed-in item injected into a session: index ``>= N``, its text, content embedding and SID."""

    index: int
    title: str
    brand: str
    categories: str
    embedding: np.ndarray  # [d] float32 (float16-rounded)
    sid: tuple[int, ...]

    def to_dict(self) -> dict:
        return {"index": self.index, "title": self.title, "brand": self.brand, "categories": self.categories,
                "sid": list(self.sid)}


# ---------------------------------------------------------------------- session


class ColdStartSession:
    """Injection API over a copy of ``project.trie`` (see the module docstring).

    ``trie`` is the session's trie (decode with it to see injected items and not retired ones);
    ``injected`` the item indices injected so far (cold items and new items); ``retired`` the
    indices removed; ``new_items`` maps new indices (``>= N``) to :class:`NewItem`.
    """

    def __init__(self, project):
        self.project = project
        self.trie = project.trie.copy()
        self.injected: set[int] = set()
        self.retired: set[int] = set()
        self.new_items: dict[int, NewItem] = {}
        self.n_items = int(project.sids.n_items)

    # ---- lookups
    @property
    def cold_indices(self) -> np.ndarray:
        return self.project.cold_indices

    def _check_index(self, item_index) -> int:
        try:
            i = int(item_index)
        except (TypeError, ValueError):
            raise ConfigError(f"item {item_index!r}: not an item index") from None
        if not (0 <= i < self.n_items or i in self.new_items):
            raise ConfigError(f"item {i}: no such item (the catalogue has {self.n_items}, "
                              f"{len(self.new_items)} new item(s) were added)")
        return i

    def sid(self, item_index) -> tuple[int, ...]:
        """The SID of a catalogue item or a new item."""
        i = self._check_index(item_index)
        return self.new_items[i].sid if i >= self.n_items else self.project.sids.sid(i)

    def embedding(self, item_index) -> np.ndarray:
        """The content embedding ``[d]`` float32 of a catalogue item or a new item."""
        i = self._check_index(item_index)
        return self.new_items[i].embedding if i >= self.n_items else self.project.embeddings[i]

    def title(self, item_index) -> str:
        i = self._check_index(item_index)
        return self.new_items[i].title if i >= self.n_items else self.project.dataset.catalogue.title(i)

    def is_live(self, item_index) -> bool:
        """Whether decoding with :attr:`trie` can return the item."""
        return int(item_index) in self.trie

    def live_items(self) -> np.ndarray:
        """Sorted indices of every item decoding with the session trie can return."""
        return self.trie.items_under(0, 0)

    # ---- new items
    def _text_encoder_fields(self) -> tuple[str, ...]:
        enc = self.project.meta.get("encoder", {}) or {}
        name = enc.get("name", "minilm")
        if name == "structured":
            raise ConfigError("this project's items were embedded with the structured encoder (features fitted "
                              "to the whole catalogue), which cannot embed one new item from its text; use a "
                              "held-out cold item, or give the item's embedding (embedding=)")
        return tuple(enc.get("fields") or ("title", "brand", "categories"))

    def embed_text(self, title: str, brand: str = "", categories: str = "", encoder=None) -> np.ndarray:
        """Content embedding ``[d]`` float32 of a typed item, made the way the project's items were:
        the catalogue's text format (``"Title. Brand: X. Category: A > B"``) over the encoder's
        fields, MiniLM (or ``encoder``: an object with ``encode_texts(list[str])`` or a callable
        taking the list of texts), rounded through float16. Projects embedded from a ``.npy`` file
        are assumed to hold MiniLM vectors of the default fields."""
        import pandas as pd

        from ..data import Catalogue

        fields = self._text_encoder_fields()
        cat = Catalogue(pd.DataFrame({"item_id": [0], "title": [str(title or "")], "brand": [str(brand or "")],
                                      "categories": [str(categories or "")]}))
        texts = cat.texts(fields)
        if encoder is None:
            from ..embed import TextEncoder

            encoder = TextEncoder(device="cpu", use_cache=False)
        X = encoder.encode_texts(texts) if hasattr(encoder, "encode_texts") else encoder(texts)
        return self._check_embedding(np.asarray(X, dtype=np.float32).reshape(1, -1)[0])

    def _check_embedding(self, e) -> np.ndarray:
        e = np.asarray(e, dtype=np.float32).reshape(-1)
        d = self.project.embeddings.shape[1]
        if e.shape[0] != d:
            raise ConfigError(f"embedding: has {e.shape[0]} values, the project's embeddings have {d}")
        if not np.isfinite(e).all():
            raise ConfigError("embedding: holds NaN or infinite values")
        return e.astype(np.float16).astype(np.float32)

    def free_collision_code(self, prefix) -> int:
        """The smallest collision code under the first-L codes ``prefix`` held by no live item of
        the session trie; codes of catalogue items that are not live (cold items that may still be
        injected) are avoided while another code is free. Raises :class:`ConfigError` when every
        code of the collision level is held by a live item."""
        prefix = tuple(int(c) for c in prefix)
        depth = self.trie.depth
        if len(prefix) != depth - 1:
            raise ConfigError(f"prefix: {prefix} has {len(prefix)} codes, expected {depth - 1}")
        size = self.trie.level_sizes[-1]
        node = self.trie.lookup(prefix)
        live = set()
        if node >= 0:
            live = {int(self.sid(i)[-1]) for i in self.trie.items_under(depth - 1, node).tolist()}
        table = {int(c) for c in self.project.sids.codes[self.project.sids.items_with_prefix(prefix), -1].tolist()}
        table |= {it.sid[-1] for it in self.new_items.values() if it.sid[:-1] == prefix}
        for avoid in (live | table, live):
            free = [c for c in range(size) if c not in avoid]
            if free:
                return free[0]
        raise ConfigError(f"the collision level under {'-'.join(map(str, prefix))} is full: all {size} codes "
                          "belong to live items (retire one, or re-tokenize with a larger collision level)")

    def encode_new_item(self, title: str = "", brand: str = "", categories: str = "", embedding=None,
                        encoder=None) -> tuple[np.ndarray, tuple[int, ...]]:
        """``(embedding [d] float32, sid)`` of a new item, without injecting it: the embedding
        (given, or from :meth:`embed_text`) is rounded through float16 and tokenized with the frozen
        tokenizer; the collision code is :meth:`free_collision_code` of its first L codes."""
        if embedding is None:
            e = self.embed_text(title, brand, categories, encoder=encoder)
        else:
            e = self._check_embedding(embedding)
        codes = self.project.tokenizer.encode(e[None, :])[0]
        prefix = tuple(int(c) for c in codes)
        return e, prefix + (self.free_collision_code(prefix),)

    # ---- edits
    def inject(self, item_index) -> tuple[int, ...]:
        """Insert a catalogue item (normally a cold one) into the session trie with its SID from
        the table; returns the SID. Raises :class:`ConfigError` if it is live already or its SID
        is held by a live new item."""
        i = self._check_index(item_index)
        if i >= self.n_items:
            raise ConfigError(f"item {i}: new items are injected by inject_new")
        if i in self.trie:
            raise ConfigError(f"item {i}: already live in the trie")
        sid = self.project.sids.sid(i)
        self.trie.insert(i, sid)
        self.injected.add(i)
        self.retired.discard(i)
        return sid

    def inject_cold(self) -> list[int]:
        """Inject every cold item of the project that is not live yet; returns those indices."""
        done = []
        for i in self.cold_indices.tolist():
            if i not in self.trie and i not in self.retired:
                self.inject(i)
                done.append(i)
        return done

    def inject_new(self, title: str = "", brand: str = "", categories: str = "", embedding=None,
                   encoder=None) -> NewItem:
        """Encode (:meth:`encode_new_item`) and insert a typed new item; returns its :class:`NewItem`
        (index ``>= N``, kept in :attr:`new_items`)."""
        e, sid = self.encode_new_item(title, brand, categories, embedding=embedding, encoder=encoder)
        index = self.n_items + len(self.new_items)
        item = NewItem(index, str(title or ""), str(brand or ""), str(categories or ""), e, sid)
        self.trie.insert(index, sid)
        self.new_items[index] = item
        self.injected.add(index)
        return item

    def retire(self, item_index) -> None:
        """Remove an item from the session trie: decoding with it never returns the item again."""
        i = self._check_index(item_index)
        if i not in self.trie:
            raise ConfigError(f"item {i}: not live in the trie, nothing to retire")
        self.trie.remove(i)
        self.retired.add(i)
        self.injected.discard(i)

    # ---- inspection
    def neighbours(self, sid_or_index) -> dict:
        """Live items sharing the longest live prefix with an item (index) or a SID (sequence):
        ``{"prefix": tuple, "length": l, "items": int64 array}``; the item itself is left out.
        ``length`` is 0 (the whole catalogue) when not even the first code is shared."""
        if isinstance(sid_or_index, (int, np.integer)):
            me = int(sid_or_index)
            sid = self.sid(me)
        else:
            me, sid = None, tuple(int(c) for c in sid_or_index)
            if len(sid) != self.trie.depth:
                raise ConfigError(f"sid: {sid} has {len(sid)} codes, expected {self.trie.depth}")
        for length in range(self.trie.depth - 1, -1, -1):
            node = self.trie.lookup(sid[:length])
            if node < 0:
                continue
            items = self.trie.items_under(length, node)
            items = items[items != me] if me is not None else items[[self.sid(int(i)) != sid for i in items]]
            if len(items):
                return {"prefix": tuple(sid[:length]), "length": length, "items": items}
        return {"prefix": (), "length": 0, "items": np.zeros(0, dtype=np.int64)}

    def _history_tensor(self, model, history) -> torch.Tensor:
        from ..models import pad_histories

        h = warm_history(history, self.n_items, self.cold_indices)
        dev = next(model.parameters()).device if hasattr(model, "parameters") else "cpu"
        H = pad_histories([h], model.config.max_len, device=dev)
        width = max(1, len(h))
        return H[:, -min(width, H.shape[1]):]

    @torch.no_grad()
    def path_probability(self, model, history_indices, sid) -> dict:
        """How the generator scores one SID after a history.

        Returns ``{"levels": [{"level", "token", "prob", "logp", "best_token", "best_prob"}], "logp"
        (cumulative), "rank", "live_items", "live"}``: per level the probability of the SID's token
        given its prefix (teacher-forced through ``start``/``next_logits``), the full log-likelihood,
        and the SID's rank (1 = best) among every live item of the session trie by full likelihood,
        computed **exactly** (every live SID is scored in one batched teacher-forced pass over the
        trie, see :meth:`score_live`), not by beam search. ``live`` says whether the SID is in the trie;
        a SID that is not is ranked as if it were. Cold/new items in the history are dropped (the
        generator has no trained input for them)."""
        from ..decode import Frame, TeacherForce, advance, level_logp

        model.eval()
        sid = tuple(int(c) for c in sid)
        if len(sid) != model.depth:
            raise ConfigError(f"sid: {sid} has {len(sid)} codes, the model decodes {model.depth}")
        H = self._history_tensor(model, history_indices)
        frame = Frame.root(model.start(H), batch=1, sizes=model.level_sizes, device=H.device)  # one row
        levels, total = [], 0.0
        for level in range(model.depth):
            logp = level_logp(model, frame)  # float32 [1, K_level]
            frame = advance(frame, logp, select=TeacherForce(torch.tensor([sid[level]], device=H.device)))
            logp = logp[0]
            lp = float(logp[sid[level]])
            best = int(logp.argmax())
            levels.append({"level": level, "token": sid[level], "prob": float(np.exp(lp)), "logp": lp,
                           "best_token": best, "best_prob": float(logp[best].exp())})
            total += lp
        items, scores = self.score_live(model, history_indices)
        node_live = self.trie.lookup(sid) >= 0
        rank = int((scores > total + 1e-6 * abs(total)).sum()) + 1
        return {"levels": levels, "logp": total, "rank": rank, "live_items": int(len(items)), "live": bool(node_live)}

    def rank(self, model, history_indices, sid) -> int:
        """Rank (1 = best) of ``sid`` among the live items by full likelihood (exact, see :meth:`path_probability`)."""
        return self.path_probability(model, history_indices, sid)["rank"]

    @torch.no_grad()
    def score_live(self, model, history_indices, batch_size: int = 8192) -> tuple[np.ndarray, np.ndarray]:
        """``(items, logp)``: every live item of the session trie and its full SID log-likelihood
        after the history, by enumerating the trie level by level (one model row per trie node)."""
        from ..decode import score_trie

        model.eval()
        H = self._history_tensor(model, history_indices)
        frame = score_trie(model, H, self.trie, batch_size=batch_size)
        return frame.items().cpu().numpy(), frame.scores.cpu().numpy()

    @torch.no_grad()
    def recommend(self, model, history_indices, k: int = 10, beam: int = 20) -> list[dict]:
        """Top-``k`` items by trie-constrained beam search over the session trie (injected items
        included, retired ones never): ``[{"rank", "index", "title", "sid", "score", "injected"}]``."""
        from ..decode import beam_search

        model.eval()
        H = self._history_tensor(model, history_indices)
        res = beam_search(model, H, trie=self.trie, beam=max(beam, k), k=k)
        out = []
        for r, (i, s) in enumerate(zip(res.items[0].tolist(), res.scores[0].tolist())):
            if i < 0 or not np.isfinite(s):
                continue
            out.append({"rank": r + 1, "index": i, "title": self.title(i), "sid": list(self.sid(i)), "score": s,
                        "injected": i in self.injected})
        return out


def warm_history(history, n_items: int, cold: np.ndarray) -> list[int]:
    """The history without new items (index >= N) and cold items: the generators were trained
    without them, so they have no trained input representation."""
    h = np.asarray(list(history), dtype=np.int64).reshape(-1)
    h = h[(h >= 0) & (h < n_items)]
    if len(cold):
        h = h[~np.isin(h, cold)]
    return h.tolist()
