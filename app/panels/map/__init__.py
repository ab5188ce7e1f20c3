"""Codebook map panel: a 2-D UMAP of every item, coloured by its semantic-ID codes.

Items close on the map have similar vectors in the chosen space (the text embeddings the tokenizer
quantised, or the RAN generator"s collaborative item representations). Colouring by the code at
level 1..L shows whether the tokenizer"s codewords follow that geometry. The layout is computed
on the bridge (UMAP, ~30-60 s for 12k items, then cached in the project folder by the engine). The
map follows the linked selection and marks the cold-start lab"s injected and retired items.

Modules: :mod:`.state` (Qt-free view-model and the layout job), :mod:`.models` (the neighbour
table), :mod:`.plots` (the pyqtgraph map), :mod:`.view` (:class:`MapPanel`).
"""
from __future__ import annotations

from typing import Any

__all__ = [
    "NeighbourTableModel", "MapPlot", "code_palette", "SOURCE", "LayoutResult", "MapState", "layout_job",
    "points_in_polygon", "MapPanel",
]

_LAZY = {
    **{n: "app.panels.map.models" for n in ("NeighbourTableModel",)},
    **{n: "app.panels.map.plots" for n in ("MapPlot", "code_palette")},
    **{n: "app.panels.map.state" for n in ("SOURCE", "LayoutResult", "MapState", "layout_job", "points_in_polygon")},
    **{n: "app.panels.map.view" for n in ("MapPanel",)},
}


def __getattr__(name: str) -> Any:
    """Names are imported on first use, so importing the Qt-free ``state`` module does not load Qt."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
