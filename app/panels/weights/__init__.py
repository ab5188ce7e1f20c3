"""Codeword weights panel: content- vs collaborative-guided weights of one item (the IntRR figure).

For the chosen item and every SID level, two distributions over that level's K codewords are drawn
as mirrored bars: the tokenizer's soft assignment of the item's content (above the axis) and the
RAN generator's assignment driven by the item's learned UID embedding (below the axis). A table
gives their Jensen-Shannon divergence per level and whether the most likely codeword moved. A
sortable list ranks every item by that divergence (computed once per project in the background),
a "compare with" picker overlays the collaborative weights of an item that shares the chosen
item's SID prefix, and a DECOR box shows, when the project has a TIGER-style generator trained
with DECOR, how much of each of the item's token embeddings comes from the frozen content codebook.

The package: :mod:`.jobs` (the engine jobs and their typed results, no Qt), :mod:`.state` (the
panel's state and rules, no Qt), :mod:`.models` (its tables), :mod:`.plots` (the per-level charts)
and :mod:`.view` (:class:`WeightsPanel`, binding them). Nothing is computed on the GUI thread:
loading the generators, the ranking and each item's weights are jobs on the
:class:`~app.bridge.EngineBridge`.
"""
from __future__ import annotations

from ...lazy import lazy_exports

__all__ = [
    "WeightsPanel", "WeightsState", "RankingModel", "LevelWeightsModel", "LevelPlot", "ItemWeights",
    "Generators", "Ranking", "SOURCE", "load_weight_generators", "compute_ranking", "compute_item_weights",
]

# each name is imported from its module on first use: the view-model (.state) loads without Qt
__getattr__ = lazy_exports(__name__, {
    **dict.fromkeys(('WeightsPanel',), '.view'),
    **dict.fromkeys(('WeightsState', 'SOURCE'), '.state'),
    **dict.fromkeys(('RankingModel', 'LevelWeightsModel'), '.models'),
    **dict.fromkeys(('LevelPlot',), '.plots'),
    **dict.fromkeys(('ItemWeights', 'Generators', 'Ranking', 'load_weight_generators', 'compute_ranking', 'compute_item_weights'), '.jobs'),
})
