"""The training monitor's view-model: settings, working copies, metrics rows and live curves, no Qt.

:class:`TrainingState` holds what the panel shows for the open project: the generator records of
its ``metrics.json`` and those trained in this session (``work_metrics``), the working copy jobs
write to (never the open project's folder), and the epoch rows of the live run, which arrive one
by one from the training job's ``on_epoch`` callback. :class:`TrainSettings` and
:class:`TokenizerSettings` are the controls' values, validated into the engine's configs.

The jobs (:func:`train_job`, :func:`retokenize_job`, :func:`save_job`) wrap the engine's
working-copy functions (:func:`genrec_engine.train_copy`, :func:`genrec_engine.retokenize_copy`,
:func:`genrec_engine.save_working_copy`) and return frozen results.
"""
from __future__ import annotations

import json
import math
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import genrec_engine
from genrec_engine import (
    QuantizerConfig,
    TokenizerDiagnostics,
    TrainConfig,
    retokenize_copy,
    save_working_copy,
    train_copy,
)

from ...widgets import ERROR_COLOUR, GENERATOR_LABELS

__all__ = [
    "METHOD_NAMES",
    "default_eval_users",
    "MetricColumn",
    "METRIC_COLUMNS",
    "HEALTH_COLUMNS",
    "saved_test_metrics",
    "repro_only_rows",
    "REPRO_ONLY",
    "total_train_seconds",
    "read_metrics",
    "safe_folder_name",
    "health_rows",
    "tokenizer_text",
    "done_text",
    "NO_METRICS",
    "parse_more_settings",
    "TrainSettings",
    "TokenizerSettings",
    "Trained",
    "Retokenized",
    "train_job",
    "retokenize_job",
    "save_job",
    "TrainingState",
]

METHOD_NAMES = {"rkmeans": "Residual k-means", "rqvae": "RQ-VAE", "vqvae": "Product VQ-VAE", "gaoq": "GAOQ (ReSID)"}

NO_METRICS = (
    "This project has no <code>metrics.json</code> yet: no generator has been trained for it. "
    "Press <b>Train</b> to train one on a working copy."
)
_METRICS_NOTE = ("Test split (each user's last item) as the newest <code>genrec eval</code> scored it (training scores "
                 "validation only), beam 20 over valid semantic IDs; history kept, then excluded; over seeds: "
                 "mean ± sd of <code>genrec repro</code> runs of the same recipe. Hover a header for its meaning.")


# ------------------------------------------------------------------------------------ table columns


@dataclass(frozen=True)
class MetricColumn:
    """A column of a table of dict rows: header, tooltip, the raw value of a row, its text."""

    title: str
    tooltip: str
    value: Callable[[dict], Any]
    text: Callable[[Any], str]
    right: bool = True


def _fmt(v: Any, spec: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return format(v, spec)


def saved_test_metrics(record: dict) -> dict:
    """The test figures of the weights on disk, history kept: those of the newest ``genrec eval``
    on test (training never scores test); empty when the generator was not evaluated yet."""
    entry = genrec_engine.latest_evaluation(record)
    return dict(entry.get("figures") or {}) if entry else {}


def saved_test_metrics_excluding_history(record: dict) -> dict:
    """The newest test evaluation's figures with the history masked out of the ranking."""
    entry = genrec_engine.latest_evaluation(record)
    return dict(entry.get("excluding_history") or {}) if entry else {}


def evaluated_text(record: dict) -> str:
    """When and on how many users the figures shown were measured."""
    if record.get("_where") == REPRO_ONLY:
        return f"repro {str(record.get('_date', ''))[:10]}".strip()
    entry = genrec_engine.latest_evaluation(record)
    if not entry:
        return "not yet (genrec eval)"
    users = entry.get("users", "all")
    return f"{str(entry.get('date', ''))[:10]}" + ("" if users in (None, "all") else f" · {users} users")


def _test(key: str) -> Callable[[dict], Any]:
    return lambda r: saved_test_metrics(r).get(key)


def over_seeds_text(record: dict, key: str) -> str:
    """``".0690 ± .0013 | .0726 ± .0012 · 3 seeds"``: the newest ``genrec repro`` of the record's
    variant, history kept | excluded; "–" when there is none."""
    entry = genrec_engine.latest_repro(record)
    if entry is None or key not in entry["mean"]:
        return "–"

    def pair(part: dict) -> str:
        mean, sd = part.get("mean", {}).get(key), part.get("sd", {}).get(key)
        return "–" if mean is None else f"{mean:.4f} ± {sd or 0.0:.4f}".replace("0.", ".")

    return f"{pair(entry)} | {pair(entry.get('excluding_history') or {})} · {len(entry.get('seeds') or ())} seeds"


def _over_seeds(key: str) -> Callable[[dict], Any]:
    return lambda r: over_seeds_text(r, key)


#: ``_where`` of a row for a variant that ``genrec repro`` trained and scored but did not keep.
REPRO_ONLY = "repro"


def repro_only_rows(kind: str, record: dict) -> list[dict]:
    """Rows for the variants ``genrec repro`` measured beside a generator without keeping their
    weights: a repro of another configuration (the faithful IntRR beside the bundled hybrid) and
    the earlier stages a repro scored (``--score-stages``: the plain TIGER-style inside the
    bundled recipe). One row per variant (the newest measurement), the generator's own variant
    left out (its spread is on its own row); each row carries one repro-like entry, so the "over
    seeds" columns read it like a generator's."""
    own = record.get("variant") or genrec_engine.generator_variant(kind, record.get("model_config") or {})
    found: dict[str, dict] = {}
    for entry in record.get("repro") or ():
        if not isinstance(entry, dict):
            continue
        parts = [entry] + [st for st in entry.get("stages") or () if isinstance(st, dict)]
        for part in parts:
            variant = part.get("variant")
            if not variant or variant == own or not isinstance(part.get("mean"), dict):
                continue
            found.pop(variant, None)  # the newest measurement of a variant, listed in the order measured
            found[variant] = {"model": kind, "variant": variant, "model_config": part.get("model_config"),
                              "_where": REPRO_ONLY, "_date": entry.get("date", ""),
                              "repro": [{"variant": variant, "seeds": entry.get("seeds") or [],
                                         **{k: part.get(k) for k in ("mean", "sd", "excluding_history")}}]}
    return list(found.values())


def _test_columns(ks: tuple[int, ...]) -> list:
    """Recall@k and NDCG@k of the newest test evaluation, history kept."""
    return [MetricColumn(f"{name}@{k}", f"Test-split {name} at {k}, history kept: {tip} Measured by the newest "
                         "genrec eval of the saved weights.", _test(f"{key}@{k}"), lambda v: _fmt(v, ".4f"))
            for name, key, tip in (
                ("Recall", "recall", "share of users whose held-out last item is in the top-K list."),
                ("NDCG", "ndcg", "like Recall, but a hit counts more the higher it is ranked."))
            for k in ks]


def total_train_seconds(record: dict) -> float | None:
    """Training time of a generator record plus that of the runs it went on from."""
    if record.get("train_seconds") is None:
        return None
    return float(record["train_seconds"]) + sum(float(r.get("train_seconds") or 0) for r in record.get("resumed") or ())


def safe_folder_name(name: str | None) -> str:
    """A project's name (it comes from ``project.json``) made safe to use as one folder name:
    separators, ``..`` and other characters outside letters, digits, ``.``, ``_`` and ``-``
    become ``-``, so a name never points outside the folder it is joined to."""
    text = re.sub(r"[^A-Za-z0-9._-]+", "-", str(name or "")).strip(".-")
    return text[:80] or "project"


def _duration(v: float | None) -> str:
    return "–" if v is None else (f"{v:.1f} s" if v < 120 else f"{v / 60:.1f} min")


METRIC_COLUMNS: tuple[MetricColumn, ...] = (
    MetricColumn("Generator", "The generator kind (RAN, SASRec, TIGER).", lambda r: r.get("model", "?"),
                 lambda v: GENERATOR_LABELS.get(v, str(v)), right=False),
    MetricColumn("Variant", "What the model is, by the paper it extends plus each addition: intrr (the RAN of IntRR), "
                 "tiger, sasrec; +id a per-item ID vector in the input, +nodes per-trie-node output vectors, +decor "
                 "frozen codebook vectors fused in, +instruct an instruction token.",
                 lambda r: r.get("variant") or genrec_engine.generator_variant(r.get("model", ""), r.get("model_config")),
                 str, right=False),
    MetricColumn("Where", "'project': saved in the open project's metrics.json. 'working copy': trained in this "
                 "session, not saved yet. 'repro': a variant genrec repro trained and scored over seeds beside "
                 "this generator (another configuration, or an earlier stage of its recipe); its weights were not "
                 "kept, so it has only the 'over seeds' figures.", lambda r: r.get("_where", "project"), str,
                 right=False),
    *_test_columns((10,)),
    MetricColumn("R@10 excl. hist.", "Test-split Recall@10 with the user's history masked out of the ranking (the "
                 "rule RecBole and Cornac use); the columns before keep the history in the list.",
                 lambda r: saved_test_metrics_excluding_history(r).get("recall@10"), lambda v: _fmt(v, ".4f")),
    MetricColumn("N@10 excl. hist.", "Test-split NDCG@10 with the user's history masked out of the ranking.",
                 lambda r: saved_test_metrics_excluding_history(r).get("ndcg@10"), lambda v: _fmt(v, ".4f")),
    *(
        MetricColumn(f"{name}@10 over seeds", f"Test-split {name}@10 of this generator's recipe retrained under "
                     "several seeds by genrec repro (fresh weights each; every seed scored on test once, after all "
                     "training): mean ± sample sd with the history kept | with it excluded, and how many seeds. "
                     "'–' until genrec repro has run this variant.", _over_seeds(f"{key}@10"), str)
        for name, key in (("R", "recall"), ("N", "ndcg"))
    ),
    MetricColumn("Evaluated", "The date of the genrec eval run whose test figures are shown (training scores "
                 "validation only, never test).", evaluated_text, str, right=False),
    *_test_columns((5, 20)),
    MetricColumn("Best epoch", "The epoch whose validation Recall@10 was best; its weights were kept.",
                 lambda r: r.get("best_epoch"), lambda v: _fmt(v, "d")),
    MetricColumn("Train time", "Wall-clock training time, validation included; for a generator built over several "
                 "runs (genrec train --resume) the sum of all of them.", total_train_seconds, _duration),
    MetricColumn("Stopped", "Why training ended: epochs done, early stop (validation stopped improving), time "
                 "budget, epoch budget (stop-after), or cancelled.", lambda r: r.get("stopped"), lambda v: "–" if v is None else str(v)),
)

HEALTH_COLUMNS: tuple[MetricColumn, ...] = (
    MetricColumn("Level", "Position in the semantic ID; level 1 is the coarsest code.", lambda r: r["level"], str,
                 right=False),
    MetricColumn("Utilization", "Share of the K codewords at this level used by at least one item (100 % = none "
                 "wasted).", lambda r: r["utilization"], lambda v: f"{100 * v:.1f} %"),
    MetricColumn("Dead codes", "Codewords at this level that no item uses.", lambda r: r["dead_codes"],
                 lambda v: f"{v:,}"),
    MetricColumn("Perplexity", "Effective number of codewords in use (K = items spread perfectly evenly).",
                 lambda r: r["perplexity"], lambda v: f"{v:.1f}"),
    MetricColumn("Collisions", "Items whose codes up to this level repeat another item's: they still need a later "
                 "level (or the collision token) to be told apart.", lambda r: r["collisions"], lambda v: f"{v:,}"),
)


def read_metrics(project_path: Path) -> dict | None:
    """The generator records of ``<project>/metrics.json`` by kind (other entries, e.g. the
    cold-start evaluation, are skipped); None when the file is absent.

    Raises ``ValueError``/``OSError`` for an unreadable file (the panel shows the message)."""
    path = Path(project_path) / "metrics.json"
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object of generator records")
    return {k: v for k, v in data.items()  # generators only
            if isinstance(v, dict) and any(key in v for key in ("valid", "evaluations", "test"))}


def health_rows(diag: TokenizerDiagnostics | None) -> list[dict]:
    """One row per SID level: utilization, dead codes, perplexity, collisions so far."""
    if diag is None:
        return []
    return [{"level": s.level, "utilization": s.utilization, "dead_codes": s.dead_codes, "perplexity": s.perplexity,
             "collisions": int(diag.items - s.prefixes)} for s in diag.levels]


def tokenizer_text(prefix: str, method: str | None, levels, codebook_size, diag: TokenizerDiagnostics) -> str:
    """``"<prefix>: Residual k-means, 3 × 256; collision rate 1.2 %"``."""
    return (f"{prefix}: {METHOD_NAMES.get(method, method)}, {levels} × {codebook_size}; "
            f"collision rate {100 * diag.collision_rate:.1f} %")


# ------------------------------------------------------------------------------------ settings


def parse_more_settings(text: str) -> dict:
    """The "More settings" JSON object ({} when empty); ValueError with the column of a syntax
    error, or when it is not an object."""
    text = text.strip()
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"More settings: {exc.msg} at column {exc.colno}; expected a JSON object such as "
                         '{"node_levels": 3}') from None
    if not isinstance(value, dict):
        raise ValueError(f"More settings: expected a JSON object such as {{\"node_levels\": 3}}, got {text[:40]}")
    return value


#: above this many users, validation during training samples :data:`SAMPLED_EVAL_USERS` of them
#: by default: validating all 2 million users of a 10^6-item catalogue takes ~50 min on two CPU
#: cores (beam search per user), longer than most runs
ALL_EVAL_USERS_UP_TO = 50_000
SAMPLED_EVAL_USERS = 10_000


def default_eval_users(users: int) -> int:
    """The validation users the training panel proposes for a dataset of ``users`` (0: all)."""
    return 0 if users <= ALL_EVAL_USERS_UP_TO else SAMPLED_EVAL_USERS


@dataclass(frozen=True)
class TrainSettings:
    """The generator controls' values."""

    kind: str
    epochs: int = 30
    lr: float = 2e-3
    d_model: int = 64
    layers: int = 2
    dropout: float = 0.3
    batch_size: int = 256
    eval_every: int = 2
    patience: int = 5
    max_minutes: float = 0.0  # 0: no budget
    more: str = ""  # JSON object text, as genrec train --model-config
    eval_users: int = 0  # validate on a seeded sample of this many users (0: all), as genrec train --eval-users

    def train_config(self) -> TrainConfig:
        """ConfigError for values the engine refuses."""
        return TrainConfig(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, eval_every=self.eval_every,
                           patience=self.patience, max_minutes=self.max_minutes or None,
                           eval_users=self.eval_users or None)

    def model_config(self) -> dict:
        """The architecture for ``kind``, with "More settings" on top (ValueError for bad JSON)."""
        d, layers, drop = self.d_model, self.layers, round(self.dropout, 4)
        heads = 4 if self.kind == "tiger" and d % 4 == 0 else (2 if d % 2 == 0 else 1)
        if self.kind == "tiger":
            base = {"d_model": d, "n_enc_layers": layers, "n_dec_layers": layers, "n_heads": heads,
                    "d_ff": 4 * d, "dropout": drop}
        else:
            base = {"d_model": d, "n_layers": layers, "n_heads": heads, "dropout": drop}
        return {**base, **parse_more_settings(self.more)}


@dataclass(frozen=True)
class TokenizerSettings:
    method: str
    levels: int
    codebook_size: int

    def config(self) -> QuantizerConfig:
        """ConfigError for values the engine refuses."""
        return QuantizerConfig(method=self.method, levels=self.levels, codebook_size=self.codebook_size)


# ------------------------------------------------------------------------------------ jobs


@dataclass(frozen=True)
class Trained:
    """A finished training job: the generator's metrics record (``record["project_path"]`` is
    the working copy it trained in)."""

    record: dict

    @property
    def kind(self) -> str:
        return self.record.get("model", "?")


@dataclass(frozen=True)
class Retokenized:
    """A finished re-tokenize job: the new working copy and its tokenizer's health."""

    project_path: Path
    diagnostics: TokenizerDiagnostics
    config: dict
    seconds: float
    raw: dict = field(repr=False, default_factory=dict)  # the engine's result, as sig_tokenized announces it


def train_job(source: str, work: str, kind: str, model_config: dict, train_config: TrainConfig, *,
              on_epoch: Callable[[dict], None], progress=None, cancel=None) -> Trained:
    """Train ``kind`` in the working copy ``work`` (made from ``source`` first); each epoch's row
    goes to ``on_epoch`` (the bridge delivers it to the GUI as a partial result)."""
    record = train_copy(source, work, kind, model_config=model_config, train_config=train_config, device="auto",
                        on_epoch=lambda row: on_epoch(dict(row)), progress=progress, cancel=cancel)
    return Trained(dict(record))


def retokenize_job(source: str, work: str, config: QuantizerConfig, *, progress=None, cancel=None) -> Retokenized:
    """Fit ``config``'s tokenizer on ``source``'s embeddings into the new working copy ``work``."""
    res = retokenize_copy(source, work, config, progress=progress, cancel=cancel)
    return Retokenized(Path(res["project_path"]), res["diagnostics"], dict(res.get("config") or {}),
                       float(res.get("seconds") or 0.0), dict(res))


def save_job(work: str, dest: str, *, progress=None, cancel=None) -> Path:
    """Write the working copy ``work`` to ``dest``; returns ``dest``."""
    return Path(save_working_copy(work, dest, progress=progress, cancel=cancel))


# ------------------------------------------------------------------------------------ state


class TrainingState:
    """What the training panel shows for the open project (see the module docstring).

    Mutated on the GUI thread only. ``rows`` are the live run's epoch rows, oldest first.
    """

    def __init__(self) -> None:
        self.output_root: Path | None = None  # user-chosen folder for working copies (None: temporary)
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._counter = 0
        self.open(None, None)

    def open(self, path: Path | None, name: str | None) -> None:
        """A different project (or none) is open: its working copy and live rows are forgotten."""
        self.path, self.name = path, name
        self.work_dir: Path | None = None  # the current working copy (exists once a job made it)
        self.work_metrics: dict[str, dict] = {}
        self.rows: list[dict] = []
        self.job_project: Path | None = None  # the open project when the running job was submitted
        self.project_metrics: dict = {}
        self.metrics_note = ""  # what the note under the metrics table says about the project

    # ---- the project's metrics ----
    def load_metrics(self) -> None:
        """Read ``<project>/metrics.json`` (small JSON, read directly)."""
        try:
            metrics = read_metrics(self.path)
        except (OSError, ValueError) as exc:
            self.project_metrics = {}
            self.metrics_note = f"<span style='color:{ERROR_COLOUR}'>Could not read metrics.json: {exc}</span>"
        else:
            self.project_metrics = metrics or {}
            self.metrics_note = NO_METRICS if metrics is None else _METRICS_NOTE

    def metric_rows(self) -> list[dict]:
        """The project's generators (RAN, SASRec, TIGER order), each followed by the variants
        ``genrec repro`` measured beside it (:func:`repro_only_rows`), then this session's, each
        with ``_where``."""
        order = {k: i for i, k in enumerate(("ran", "sasrec", "tiger"))}
        saved = sorted(((r.get("model", k), r) for k, r in self.project_metrics.items()),
                       key=lambda kr: order.get(kr[0], 9))
        rows = []
        for kind, r in saved:
            rows.append(dict(r, _where="project", model=kind))
            rows.extend(repro_only_rows(kind, r))
        return rows + [dict(r, _where="working copy") for r in self.work_metrics.values()]

    def note(self) -> str:
        if self.work_metrics and self.work_dir is not None:
            return ("Rows marked <i>working copy</i> were trained in this session and live only in "
                    f"<code>{self.work_dir}</code> until you use <b>Save project as…</b>.")
        return self.metrics_note

    def reference(self, kind: str) -> tuple[list, list, list, list, list]:
        """The saved run of ``kind`` as ``(loss x, loss y, valid x, recall y, ndcg y)``."""
        hist = (self.project_metrics.get(kind) or {}).get("history") or [] if self.path is not None else []
        loss = [r for r in hist if r.get("loss") is not None]
        val = [r for r in hist if r.get("valid_recall@10") is not None]
        return ([r["epoch"] for r in loss], [r["loss"] for r in loss], [r["epoch"] for r in val],
                [r["valid_recall@10"] for r in val], [r.get("valid_ndcg@10") or 0.0 for r in val])

    # ---- working copies and jobs ----
    def new_work_dir(self) -> Path:
        """A fresh, not yet existing folder for a working copy."""
        if self.output_root is not None:
            root = self.output_root
        else:
            if self._tmp is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="genrec-work-", ignore_cleanup_errors=True)
            root = Path(self._tmp.name)
        stem = safe_folder_name(self.name)
        while True:
            self._counter += 1
            path = root / f"{stem}-work-{self._counter}"
            if not path.exists():
                return path

    def can_save(self) -> bool:
        return self.work_dir is not None and (self.work_dir / "project.json").is_file()

    def started(self) -> None:
        """A job was submitted for the open project."""
        self.job_project = self.path

    def stale(self) -> bool:
        """The running job belongs to a project that is no longer open."""
        return self.path is None or self.job_project != self.path

    def add_epoch(self, row: dict) -> bool:
        """An epoch row of the live run; False (dropped) when it belongs to a stale job."""
        if self.stale():
            return False
        self.rows.append(dict(row))
        return True

    def trained(self, result: Trained) -> None:
        self.work_metrics[result.kind] = dict(result.record)

    def retokenized(self, result: Retokenized) -> None:
        self.work_dir = result.project_path
        self.work_metrics = {}  # generators of the old SIDs do not carry over

    # ---- live curves ----
    def curves(self) -> tuple[list, list, list, list, list]:
        """The live run as ``(epochs, loss, valid epochs, recall@10, ndcg@10)``."""
        rows = self.rows
        val = [r for r in rows if r.get("valid_recall@10") is not None]
        return ([r["epoch"] for r in rows], [float(r.get("loss", float("nan"))) for r in rows],
                [r["epoch"] for r in val], [float(r["valid_recall@10"]) for r in val],
                [float(r.get("valid_ndcg@10") or 0.0) for r in val])

    def epoch_text(self) -> str:
        """The status line after the latest epoch row."""
        last = self.rows[-1]
        text = f"Epoch {last['epoch']} · {last.get('seconds', 0):.1f} s · loss {last.get('loss', float('nan')):.4f}"
        val = [r for r in self.rows if r.get("valid_recall@10") is not None]
        if val:
            text += f" · last validation Recall@10 {val[-1]['valid_recall@10']:.4f} (epoch {val[-1]['epoch']})"
        return text


def done_text(record: dict) -> str:
    """The status line once a training job finished."""
    valid = record.get("valid") or {}
    return (f"Done: best epoch {record.get('best_epoch')}, validation Recall@10 "
            f"{valid.get('recall@10', float('nan')):.4f} ({record.get('stopped')}). Saved in the working copy only; "
            "test is scored by genrec eval.")
