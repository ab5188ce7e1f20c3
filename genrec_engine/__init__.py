"""GenRec Explorer's engine: catalogue -> embeddings -> tokenizer -> SID table -> trie.

No Qt here: everything is usable headless, from the ``genrec`` CLI and from tests. The GUI in
``app/`` talks to the engine only through the names exported below.
"""
__version__ = "0.1.0"

from .data import Catalogue, Dataset, Interactions, Split, check_dataset, import_amazon, leave_one_out, load_dataset
from .device import device_label, resolve_device
from .analysis import (
    EXPORT_FORMATS, SPACES as LAYOUT_SPACES, GenerationDiagnostics, LevelWeights, SubtreeExport, codeword_weights,
    content_ranking, divergence_ranking, export_subtree, generation_diagnostics, homogeneity_per_user, item_layout, js_divergence,
    layout_matrix, layout_note, layout_sample, nearest_neighbours, row_norms, subtree_graph, subtree_items,
)
from .embed import StructuredEncoder, TextEncoder, load_embeddings
from .errors import Cancelled, ConfigError, DataValidationError, GenrecError, Problem, ProjectFormatError
from .decode import STEPPER_MODES, BeamStepper, HeldOutUsers, StepperConfig, StepperResult, StepRecord, find_demo_user, held_out_users
from .filters import InterestGroup, ItemFilter, interest_groups
from .index import PrefixTrie
from .coldstart import ColdStartSession, NewItem, coldstart_eval, hybrid_recommend
from .generators import KINDS, load_project_generator
from .instruct import encode_instruction, encode_instructions
from .recommender import MODES as RECOMMEND_MODES, Recommendation, recommend, recommend_indices
from .jobs import CancelToken, ProgressFn
from .workcopy import warm_up_training, make_working_copy, retokenize_copy, save_working_copy, train_copy
from .project import PROJECT_FORMAT, Project, TokenizeResult, compute_embeddings, tokenize_dataset
from .protocol import generator_variant, protocol_card
from .train import (TrainConfig, evaluate_generator, instruct_eval, latest_evaluation, latest_repro,
                    leaf_category_groups, train_generator)
from .quantize import (
    METHODS,
    QuantizerConfig,
    suggest_codebook_size,
    SIDTable,
    TokenizerDiagnostics,
    build_quantizer,
    diagnose_codes,
    load_quantizer,
    save_quantizer,
)

__all__ = [
    "__version__",
    "Catalogue", "Dataset", "Interactions", "Split", "check_dataset", "import_amazon", "leave_one_out", "load_dataset",
    "device_label", "resolve_device",
    "GenerationDiagnostics", "generation_diagnostics", "homogeneity_per_user",
    "StructuredEncoder", "TextEncoder", "load_embeddings",
    "Cancelled", "ConfigError", "DataValidationError", "GenrecError", "Problem", "ProjectFormatError",
    "InterestGroup", "ItemFilter", "interest_groups",
    "PrefixTrie", "CancelToken", "ProgressFn",
    "ColdStartSession", "NewItem", "coldstart_eval", "hybrid_recommend",
    "encode_instruction", "encode_instructions", "instruct_eval", "leaf_category_groups",
    "STEPPER_MODES", "BeamStepper", "HeldOutUsers", "StepperConfig", "StepperResult", "StepRecord", "find_demo_user",
    "held_out_users",
    "EXPORT_FORMATS", "SubtreeExport", "export_subtree", "subtree_graph", "subtree_items",
    "warm_up_training", "make_working_copy", "retokenize_copy", "save_working_copy", "train_copy",
    "PROJECT_FORMAT", "Project", "TokenizeResult", "compute_embeddings", "tokenize_dataset",
    "METHODS", "QuantizerConfig", "suggest_codebook_size", "SIDTable", "TokenizerDiagnostics", "build_quantizer", "diagnose_codes",
    "load_quantizer", "save_quantizer",
    "KINDS", "load_project_generator", "RECOMMEND_MODES", "Recommendation", "recommend", "recommend_indices",
    "TrainConfig", "evaluate_generator", "train_generator", "latest_evaluation", "latest_repro", "generator_variant", "protocol_card",
    "LevelWeights", "codeword_weights", "divergence_ranking", "content_ranking", "js_divergence",
    "LAYOUT_SPACES", "item_layout", "layout_matrix", "layout_note", "layout_sample", "nearest_neighbours", "row_norms",
]
