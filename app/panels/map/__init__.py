"""Codebook map panel: a 2-D UMAP of every item, coloured by its semantic-ID codes.

Items close on the map have similar vectors in the chosen space (the text embeddings the tokenizer
quantised, or the RAN generator's collaborative item representations). Colouring by the code at
level 1..L shows whether the tokenizer's codewords follow that geometry. The layout is computed
on the bridge (UMAP, ~30-60 s for 12k items, then cached in the project folder by the engine). The
map follows the linked selection and marks the cold-start lab's injected and retired items.

Modules: :mod:`.state` (Qt-free view-model and the layout job), :mod:`.models` (the neighbour
table), :mod:`.plots` (the pyqtgraph map), :mod:`.view` (:class:`MapPanel`).
"""
from __future__ import annotations

from ...lazy import lazy_exports

__all__ = [
    "NeighbourTableModel", "MapPlot", "code_palette", "SOURCE", "LayoutResult", "MapState", "layout_job",
    "points_in_polygon", "MapPanel",
]

# each name is imported from its module on first use: the view-model (.state) loads without Qt
__getattr__ = lazy_exports(__name__, {
    **dict.fromkeys(('NeighbourTableModel',), '.models'),
    **dict.fromkeys(('MapPlot', 'code_palette'), '.plots'),
    **dict.fromkeys(('SOURCE', 'LayoutResult', 'MapState', 'layout_job', 'points_in_polygon'), '.state'),
    **dict.fromkeys(('MapPanel',), '.view'),
})
