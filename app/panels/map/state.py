"""The codebook map panel's state and rules, without Qt.

- :func:`layout_job` is the layout job (a worker thread): the space's matrix and its 2-D layout.
- :func:`points_in_polygon`, :func:`nearest_point`: which points a lasso or a click picks.
- :class:`MapState` is the panel's view-model: the open project, the space shown and the one
  being computed, the layouts known per space, the colour mode, the highlighted selection, the
  cold-start lab's markers; it says how each becomes colours, text, neighbour rows and ranges.

Colours are indices into a palette of ``K`` code colours (at least :data:`TOP_VALUES`), then
:data:`N_BINS` sequential colours (popularity), then :data:`GREY` and :data:`HIGHLIGHT` (negative
indices, so the palette's length does not matter). Besides a SID level or the chosen prefix, dots
can be coloured by a catalogue column (:data:`COLUMN_MODES`: leaf category, brand, popularity);
:meth:`MapState.legend` then says which colour is what.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from genrec_engine import layout_matrix, layout_sample, nearest_neighbours, row_norms

from ...model import ItemsChange, ProjectSnapshot, SelectionEvent
from ...widgets.text import elide, leaf_category, sid_text

__all__ = [
    "SOURCE", "SPACES", "PREFIX_MODE", "GREY", "HIGHLIGHT", "COLUMN_MODES", "TOP_VALUES", "N_BINS", "N_NEIGHBOURS", "PICK_PX",
    "LayoutResult", "layout_job", "points_in_polygon", "nearest_point", "selection_text",
    "Overlay", "LabMarker", "LayoutFailure", "MapState",
]

#: The name this panel gives its selections (``SelectionEvent.source``).
SOURCE = "map"

#: The spaces a map can show: (name, label), the first is the default.
SPACES = (
    ("content", "Content (text embeddings)"),
    ("collaborative", "Collaborative (RAN items)"),
)
PREFIX_MODE = -1  # colour mode "by chosen prefix"; levels are 0-based ints
GREY, HIGHLIGHT = -2, -1  # palette indices after the K code colours
#: colour modes by a catalogue column: (mode, label); the mode is the combo's data
COLUMN_MODES = (("category", "Category (leaf)"), ("brand", "Brand"), ("popularity", "Popularity (interactions)"))
TOP_VALUES = 12  # the most common categories or brands get a colour each, the rest are grey
N_BINS = 8  # popularity bins, light to dark
POPULARITY_EDGES = (0, 1, 3, 5, 10, 20, 50, 200)  # lower bounds of the bins (interactions)
N_NEIGHBOURS = 10
PICK_PX = 10.0  # a click or hover picks the nearest point within this many pixels


@dataclass(frozen=True)
class LayoutResult:
    """What a layout job hands back: the layout and the matrix it came from (for neighbours)."""

    project: object
    space: str
    positions: np.ndarray  # [N, 2] float32
    matrix: np.ndarray  # [N, d] float32
    norms: np.ndarray | None = None  # [N] the matrix's row norms (computed once, on the worker)
    extent: tuple[float, float, float, float] | None = None  # (x0, x1, y0, y1) of all positions


def layout_job(project, space: str, layout_fn: Callable, *, progress, cancel) -> LayoutResult:
    """Engine job (worker thread): the ``space`` matrix (loading the RAN if needed) and its layout."""
    progress(0.0, f"preparing the {space} space")
    matrix = layout_matrix(project, space)
    cancel.raise_if_cancelled()
    positions = layout_fn(project, space, matrix=matrix, progress=progress, cancel=cancel)
    positions = np.ascontiguousarray(positions, dtype=np.float32)
    if positions.shape != (matrix.shape[0], 2):
        raise ValueError(f"layout has shape {positions.shape}, expected ({matrix.shape[0]}, 2)")
    lo, hi = positions.min(0).astype(float), positions.max(0).astype(float)
    return LayoutResult(project, space, positions, matrix, row_norms(matrix),
                        (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])))


def points_in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Which of ``points [N, 2]`` lie inside ``polygon [M, 2]`` (closed implicitly): bool ``[N]``.

    Even-odd ray casting, vectorised over the points (one pass per polygon edge).
    """
    pts = np.asarray(points, dtype=np.float64)
    poly = np.asarray(polygon, dtype=np.float64)
    inside = np.zeros(len(pts), dtype=bool)
    if len(poly) < 3 or len(pts) == 0:
        return inside
    lo, hi = poly.min(0), poly.max(0)
    cand = np.flatnonzero(((pts >= lo) & (pts <= hi)).all(1))  # bounding box first
    x, y = pts[cand, 0], pts[cand, 1]
    hit = np.zeros(len(cand), dtype=bool)
    xj, yj = poly[-1]
    for xi, yi in poly:
        crosses = (yi > y) != (yj > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = (xj - xi) * (y - yi) / (yj - yi) + xi
        hit ^= crosses & (x < x_at)
        xj, yj = xi, yi
    inside[cand] = hit
    return inside


def nearest_point(positions: np.ndarray, x: float, y: float, px_w: float, px_h: float,
                  radius_px: float = PICK_PX) -> int | None:
    """The row of ``positions [N, 2]`` nearest ``(x, y)`` on screen, if within ``radius_px`` pixels.

    ``px_w``/``px_h``: the size of one screen pixel in data units (None for a view with no size)."""
    if px_w <= 0 or px_h <= 0 or len(positions) == 0:
        return None
    d2 = ((positions[:, 0] - x) / px_w) ** 2 + ((positions[:, 1] - y) / px_h) ** 2
    i = int(np.argmin(d2))
    return i if d2[i] <= radius_px**2 else None


def selection_text(event: SelectionEvent, n: int) -> str:
    """A short line describing the selection, e.g. ``38 items selected (prefix 199)``."""
    if n == 0:
        return "Nothing selected"
    what = "1 item selected" if n == 1 else f"{n:,} items selected"
    return what + (f" (prefix {sid_text(event.prefix)})" if event.prefix else "")


@dataclass(frozen=True)
class Overlay:
    """The selected items drawn on top: ``positions [M, 2]``, palette ``colours [M]``, dot size, pen width."""

    positions: np.ndarray
    colours: np.ndarray
    size: int
    pen_width: float


@dataclass(frozen=True)
class LabMarker:
    """A cold-start lab item on the map: ``kind`` is ``"injected"`` or ``"retired"``."""

    item: int
    kind: str
    x: float
    y: float


@dataclass(frozen=True)
class LayoutFailure:
    """How the panel answers a failed layout: the ``message`` to show, and either a layout to fall
    back to (``fallback``: show it; ``compute``: compute the default space) or a retry button."""

    message: str
    fallback: LayoutResult | None = None
    compute: str | None = None
    retry: bool = False


class MapState:
    """The codebook map's view-model (GUI thread, no Qt).

    ``space``: the space chosen (shown, or being computed); ``computing``: the space a layout job
    computes (None: none); ``layouts``: layouts known for the open project, by space; ``shown``:
    the layout on screen; ``colour_level``: a 0-based SID level, :data:`PREFIX_MODE` or a column mode
    of :data:`COLUMN_MODES` (``"category"``, ``"brand"``, ``"popularity"``);
    ``highlighted``: the selected items (int64 ``[M]``, catalogue items only); ``lab``: the
    cold-start lab's latest change for this project.
    """

    def __init__(self) -> None:
        self.set_project(None)

    # ---- project and layouts ----
    def set_project(self, snapshot: ProjectSnapshot | None) -> None:
        """Another project (or none): its layouts, selection, lab markers and job are stale."""
        self.snapshot = snapshot
        self.space = SPACES[0][0]
        self.computing: str | None = None
        self.layouts: dict[str, LayoutResult] = {}
        self.shown: LayoutResult | None = None
        self.colour_level = 0
        self.highlighted = np.zeros(0, dtype=np.int64)
        self.lab: ItemsChange | None = None

    @property
    def n_items(self) -> int:
        return 0 if self.snapshot is None else self.snapshot.project.sids.n_items

    def palette_size(self) -> int:
        """Code colours the palette needs: the largest codebook level (at least :data:`TOP_VALUES`)."""
        if self.snapshot is None:
            return 0
        return max(max(self.snapshot.project.sids.level_sizes[:-1], default=1), TOP_VALUES)

    def colour_choices(self) -> list[tuple[str, object]]:
        """The colour modes: (label, level, :data:`PREFIX_MODE` or a column mode)."""
        levels = self.snapshot.project.sids.levels if self.snapshot is not None else 0
        columns = [(label, mode) for mode, label in COLUMN_MODES] if self.snapshot is not None else []
        return [(f"Code at level {lv + 1}", lv) for lv in range(levels)] + [("Chosen prefix (others grey)", PREFIX_MODE)] \
            + columns

    def _column_colours(self, mode: str) -> tuple[np.ndarray, list[tuple[str, int, int]]]:
        """Palette indices ``[N]`` and the legend ``(text, palette index, items)`` of a column mode."""
        import pandas as pd

        snap = self.snapshot
        n = snap.project.sids.n_items
        if mode == "popularity":
            pop = np.asarray(snap.popularity[:n])
            bins = np.searchsorted(np.asarray(POPULARITY_EDGES), pop, side="right") - 1
            base = self.palette_size()
            legend = []
            for b, lo in enumerate(POPULARITY_EDGES):
                hi = POPULARITY_EDGES[b + 1] - 1 if b + 1 < len(POPULARITY_EDGES) else None
                text = f"{lo}" if hi == lo else (f"{lo}–{hi}" if hi is not None else f"{lo}+")
                legend.append((text, base + b, int((bins == b).sum())))
            return (base + bins).astype(np.int64), legend
        frame = snap.project.dataset.catalogue.items
        if mode == "category":
            values = frame["categories"].astype(str).map(leaf_category)
        else:
            values = frame["brand"].astype(str).str.strip()
        values = pd.Series(values.to_numpy()[:n])
        counts = values[values != ""].value_counts()
        top = list(counts.index[:TOP_VALUES])
        index = {v: i for i, v in enumerate(top)}
        colours = values.map(lambda v: index.get(v, GREY)).to_numpy().astype(np.int64)
        legend = [(str(v), i, int(counts[v])) for v, i in index.items()]
        rest = int((colours == GREY).sum())
        if rest:
            legend.append(("other" if counts.size > len(top) else "none", GREY, rest))
        return colours, legend

    def legend(self) -> list[tuple[str, int, int]]:
        """What the colours mean in a column mode: ``(text, palette index, items)``; [] otherwise
        (a code level: hover a dot for its code; the prefix mode: the selection is highlighted)."""
        if self.snapshot is None or not isinstance(self.colour_level, str):
            return []
        return self._column_colours(self.colour_level)[1]

    def choose_space(self, space: str) -> LayoutResult | None:
        """The user chose ``space``: its known layout (show it), or None (compute it)."""
        self.space = space
        return self.layouts.get(space)

    def take_layout(self, result: LayoutResult) -> bool:
        """A layout arrived; True when it is for the chosen space of the open project (show it)."""
        if self.snapshot is None or result.project is not self.snapshot.project:
            return False  # a stale result for a project that is no longer open
        self.layouts[result.space] = result
        return result.space == self.space

    def layout_failed(self, space: str | None, message: str) -> LayoutFailure:
        """A layout job failed: the collaborative space falls back to the content map."""
        if space != "collaborative":
            return LayoutFailure(f"Could not compute the map: {message}", retry=True)
        self.space = SPACES[0][0]
        notice = ("The collaborative map needs the project's trained RAN generator, which could not be loaded "
                  f"({message}). Train one in the Training tab (or with “genrec train --model ran”); the map keeps the "
                  "content space.")
        known = self.layouts.get(self.space)
        return LayoutFailure(notice, fallback=known, compute=None if known is not None else self.space)

    def cancelled_text(self) -> str | None:
        """After a cancelled layout: "Layout cancelled." unless the chosen space is on screen."""
        return "Layout cancelled." if self.shown is None or self.shown.space != self.space else None

    def computing_text(self, space: str | None, message: str) -> str:
        """``message``, plus a note when the map on screen is another space's (kept until this one is ready)."""
        if self.shown is not None and self.shown.space != space:
            return f"{message} Until then the map shows the {self.shown.space} space."
        return message

    @staticmethod
    def start_text(space: str) -> str:
        return f"computing UMAP… ({space} space; the first time takes about a minute, then it is cached)"

    def shown_text(self) -> str:
        """The status line of the layout on screen."""
        if not self.shown:
            return ""
        n = len(self.shown.positions)
        text = f"{n:,} items · {dict(SPACES)[self.shown.space]} space"
        if layout_sample(n) is not None:  # say that the map is placed from a sample
            text += f" · UMAP of a {layout_sample(n):,}-item sample, the rest placed by nearest neighbours"
        return text

    # ---- colours ----
    def base_colours(self) -> np.ndarray:
        """The palette index of every item's dot (int64 ``[N]``) for the colour mode."""
        codes = self.snapshot.project.sids.codes
        if isinstance(self.colour_level, str):
            return self._column_colours(self.colour_level)[0]
        if self.colour_level == PREFIX_MODE:
            return np.full(len(codes), GREY, dtype=np.int64)
        return codes[:, self.colour_level]

    def overlay(self) -> Overlay | None:
        """The selected items drawn larger, outlined (None: nothing selected or nothing shown)."""
        items = self.highlighted
        if self.shown is None or len(items) == 0:
            return None
        many = len(items) > 200
        if self.colour_level == PREFIX_MODE:
            colours, size = np.full(len(items), HIGHLIGHT, dtype=np.int64), 7 if many else 10
        elif isinstance(self.colour_level, str):
            colours, size = self.base_colours()[items], 9 if many else 12
        else:
            colours, size = self.snapshot.project.sids.codes[items, self.colour_level], 9 if many else 12
        return Overlay(self.shown.positions[items], colours, size, 1.0 if many else 1.5)

    # ---- selection and neighbours ----
    def selection_summary(self, items: np.ndarray | None = None, top: int = 3) -> str:
        """What a group of selected items has in common (a lasso, a search's matches): their most
        common leaf categories and first SID codes with shares, e.g. ``mostly Nail Polish 62 %,
        Lotions 10 % · first code 81: 55 %, 126: 20 %``; "" for fewer than 2 items."""
        import pandas as pd

        items = self.highlighted if items is None else np.asarray(items, dtype=np.int64)
        if self.snapshot is None or len(items) < 2:
            return ""
        frame = self.snapshot.project.dataset.catalogue.items
        cats = pd.Series(frame["categories"].to_numpy()[items]).astype(str).map(leaf_category)
        cats = cats[cats != ""].value_counts()
        codes = pd.Series(self.snapshot.project.sids.codes[items, 0]).value_counts()
        n = len(items)
        parts = []
        if len(cats):
            parts.append("mostly " + ", ".join(f"{c} {k / n:.0%}" for c, k in cats.iloc[:top].items()))
        parts.append("first code " + ", ".join(f"{c}: {k / n:.0%}" for c, k in codes.iloc[:top].items()))
        return " · ".join(parts)

    def select(self, event: SelectionEvent) -> int | None:
        """Highlight the event's catalogue items; returns the item whose neighbours to list (or None)."""
        n = self.n_items
        self.highlighted = np.asarray([i for i in event.items if 0 <= i < n], dtype=np.int64)
        first = event.first
        return first if first is not None and 0 <= first < n else None

    def zoom_box(self, items: np.ndarray) -> tuple[float, float, float, float]:
        """``(x0, x1, y0, y1)`` centred on ``items``, spanning their extent (at least 8 % of the map)."""
        shown = self.shown
        pos = shown.positions[np.asarray(items, dtype=np.int64)].astype(np.float64)  # float32 ranges overflow
        # pyqtgraph's limit checks; the whole map's extent is computed once per layout
        x0, x1, y0, y1 = shown.extent if shown.extent is not None else (
            *(float(v) for v in (shown.positions[:, 0].min(), shown.positions[:, 0].max())),
            *(float(v) for v in (shown.positions[:, 1].min(), shown.positions[:, 1].max())))
        full = np.maximum(np.array([x1 - x0, y1 - y0]), 1e-6)
        lo, hi = pos.min(0), pos.max(0)
        centre, extent = (lo + hi) / 2, np.maximum(hi - lo, 0.08 * full) * 1.3
        cx, cy, ex, ey = (float(v) for v in (*centre, *extent))
        return cx - ex / 2, cx + ex / 2, cy - ey / 2, cy + ey / 2

    def neighbour_rows(self, item: int | None) -> list[tuple[int, str, str, float]]:
        """``(item, title, SID text, cosine distance)`` of the nearest items in the shown space (~5 ms for 12k x 384)."""
        if item is None or self.shown is None:
            return []
        project = self.snapshot.project
        idx, dist = nearest_neighbours(self.shown.matrix, item, N_NEIGHBOURS, norms=self.shown.norms)
        cat = project.dataset.catalogue
        return [(int(i), cat.title(int(i)), sid_text(project.sids.sid(int(i))), float(d)) for i, d in zip(idx, dist)]

    def neighbour_title(self, item: int | None) -> str:
        if item is None or self.snapshot is None:
            return "Nearest neighbours"
        project = self.snapshot.project
        space = self.shown.space if self.shown is not None else self.space  # the space the list comes from
        return (f"Nearest to “{elide(project.dataset.catalogue.title(item), 70)}” "
                f"(SID {sid_text(project.sids.sid(item))}) in the {space} space")

    def hover_text(self, item: int) -> str:
        project = self.snapshot.project
        return f"{elide(project.dataset.catalogue.title(item), 60)}\nSID {sid_text(project.sids.sid(item))}"

    # ---- cold-start lab ----
    def take_change(self, change: ItemsChange) -> bool:
        """Keep a cold-start lab change for the open project (False: another project's, ignored)."""
        if self.snapshot is None or change.project is not self.snapshot.project:
            return False
        self.lab = change
        return True

    def lab_position(self, item: int) -> np.ndarray | None:
        """Where a lab item goes on the shown layout: a catalogue item at its own point, a typed-in
        one at the mean position of its content nearest neighbours (``LabItem.anchors``)."""
        pos = self.shown.positions
        if item < len(pos):
            return pos[item]
        lab = self.lab.new_items.get(item)
        anchors = [a for a in (lab.anchors if lab is not None else ()) if 0 <= a < len(pos)]
        return pos[anchors].mean(0) if anchors else None

    def lab_markers(self) -> list[LabMarker]:
        """Retired items, then injected ones, at their positions on the shown layout."""
        change = self.lab
        if change is None or self.shown is None:
            return []
        out = []
        for items, kind in ((change.retired, "retired"), (change.injected, "injected")):
            for item in items:
                xy = self.lab_position(int(item))
                if xy is not None:
                    out.append(LabMarker(int(item), kind, float(xy[0]), float(xy[1])))
        return out

    def lab_label(self) -> tuple[str, float, float] | None:
        """The newest injected item's name and position (None: none to name)."""
        change = self.lab
        if change is None or self.shown is None or not change.injected:
            return None
        latest = int(change.injected[-1])  # injected in order: the newest last
        xy = self.lab_position(latest)
        if xy is None:
            return None
        title = change.title(latest) or self.snapshot.project.dataset.catalogue.title(latest)
        return f"★ injected: {elide(title, 40)}", float(xy[0]), float(xy[1])
