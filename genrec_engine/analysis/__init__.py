"""What the panels show about a tokenizer and a generator, computed headless.

- :mod:`.diagnostics`: generation diagnostics over a user sample (homogeneity, invalid rate, worst users).
- :mod:`.weights`: content- against collaborative-guided codeword weights and their divergence.
- :mod:`.layout`: cached 2-D UMAP layouts of the content and collaborative spaces.
- :mod:`.export`: a subtree of the SID trie as items, GraphML or JSON.
"""
from .diagnostics import WORST_BY, GenerationDiagnostics, generation_diagnostics, homogeneity_per_user
from .export import EXPORT_FORMATS, SubtreeExport, export_subtree, subtree_graph, subtree_items
from .layout import SPACES, item_layout, layout_fingerprint, layout_matrix, layout_note, layout_sample, nearest_neighbours, row_norms
from .weights import LevelWeights, codeword_weights, content_ranking, divergence_ranking, js_divergence

__all__ = [
    "WORST_BY", "GenerationDiagnostics", "generation_diagnostics", "homogeneity_per_user",
    "EXPORT_FORMATS", "SubtreeExport", "export_subtree", "subtree_graph", "subtree_items",
    "SPACES", "item_layout", "layout_fingerprint", "layout_matrix", "layout_note", "layout_sample", "nearest_neighbours", "row_norms",
    "LevelWeights", "codeword_weights", "divergence_ranking", "content_ranking", "js_divergence",
]
