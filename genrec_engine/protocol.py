"""Protocol cards: what a figure was measured on, carried by every evaluation and audit.

A recall figure without its protocol cannot be compared with anything. :func:`protocol_card`
collects, for one project and one evaluation:

- ``dataset``: the fingerprint (users, items, interactions, SHA-256 of the leave-one-out split;
  see :func:`genrec_engine.data.dataset_fingerprint`) and whether it is the Beauty 5-core the
  papers use (22,363 users, 12,101 items, 198,502 interactions); published figures are set beside
  ours only then;
- ``encoder`` (name, model, text fields) and ``tokenizer`` (method, levels, codebook sizes, seed),
  and the SID table's ``collision_policy``;
- ``split`` (leave-one-out: each user's last item is the test target, the one before the
  validation target), the number of users scored, ``beam``, ``k``, ``constrained`` and the
  ``history_rule`` (``"kept"``: items of the user's history may be recommended and count as
  misses, the rule most generative-recommendation papers leave unstated; ``"excluded"``: they are
  masked out of the ranking, as RecBole and Cornac do);
- ``generator``: kind and :func:`generator_variant`, the name that says what a model adds to the
  paper it extends.
"""
from __future__ import annotations

__all__ = ["protocol_card", "generator_variant", "BEAUTY_5CORE", "HISTORY_RULES"]

BEAUTY_5CORE = {"users": 22_363, "items": 12_101, "interactions": 198_502}
HISTORY_RULES = ("kept", "excluded")


def generator_variant(kind: str, config: dict | None) -> str:
    """The honest name of a generator configuration: the paper's model (``"intrr"`` for the RAN,
    ``"tiger"``, ``"sasrec"``) plus ``+addition`` for each part the paper's model does not have:
    ``+id`` (a per-item ID vector added to the item input), ``+nodes`` (per-trie-node output
    vectors), ``+decor`` (frozen codebook vectors fused into the token vectors), ``+instruct``
    (an instruction token)."""
    config = config or {}
    base = {"ran": "intrr", "tiger": "tiger", "sasrec": "sasrec"}.get(kind, kind)
    extras = []
    if "id" in str(config.get("item_input", "codes")).split("+"):
        extras.append("id")
    if int(config.get("node_levels", 0) or 0) > 0:
        extras.append("nodes")
    if config.get("decor"):
        extras.append("decor")
    if config.get("instruction"):
        extras.append("instruct")
    return "+".join([base] + extras)


def protocol_card(project, *, kind: str | None = None, model_config: dict | None = None, split: str = "test",
                  users: int | None = None, beam: int | None = None, k: int = 20, constrained: bool = True,
                  history_rule: str = "kept", seed: int | None = None) -> dict:
    """The protocol of one evaluation of ``project`` (see the module docstring). ``users``: how
    many users were scored (None: every user of the split); ``seed``: the seed that picked them."""
    from .data import dataset_fingerprint
    from .errors import ConfigError

    if history_rule not in HISTORY_RULES:
        raise ConfigError(f"history_rule={history_rule!r}: expected one of {', '.join(HISTORY_RULES)}")
    fp = dataset_fingerprint(project.dataset)
    meta = project.meta
    enc = meta.get("encoder", {}) or {}
    tok = (meta.get("tokenizer", {}) or {}).get("config", {}) or {}
    sids = project.sids
    card = {
        "dataset": {**fp, "is_beauty_5core": all(fp[key] == v for key, v in BEAUTY_5CORE.items())},
        "encoder": {key: enc.get(key) for key in ("name", "model", "fields") if key in enc},
        "tokenizer": {"method": tok.get("method"), "levels": sids.levels, "codebook_sizes": list(sids.sizes),
                      "seed": tok.get("seed")},
        "collision_policy": sids.policy,
        "split": {"name": split, "rule": "leave-one-out (test: each user's last item; valid: the one before)",
                  "users": "all" if users is None else int(users)},
        "k": int(k),
        "constrained": bool(constrained),
        "history_rule": history_rule,
    }
    if users is not None and seed is not None:
        card["split"]["users_seed"] = int(seed)
    if beam is not None:
        card["beam"] = int(beam)
    if kind is not None:
        card["generator"] = {"kind": kind, "variant": generator_variant(kind, model_config)}
    if "imported" in meta:
        card["tokenizer"]["imported_from"] = meta["imported"].get("source")
    return card
