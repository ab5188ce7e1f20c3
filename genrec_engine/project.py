"""A project folder: everything one tokenized catalogue needs, saved and loaded as a unit.

Layout (all writes atomic; JSON + safetensors + Parquet + .npy, never pickle)::

    project.json            format version, dataset reference, encoder, tokenizer config, diagnostics
    embeddings.npy          [N, d] float16 item embeddings (row i = item index i)
    tokenizer.safetensors   the fitted tokenizer (config in its metadata)
    sids.parquet            item_id, c0..cL: the SID table (collision level last)
    generator-<kind>.safetensors   trained generators, if any (see :mod:`genrec_engine.generators`)

The tokenizer is fitted on the float16-rounded embeddings, exactly what is saved, so loading the
project and re-encoding gives bit-identical SIDs.
"""
from __future__ import annotations

import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data import Dataset, load_dataset
from .device import resolve_device
from .embed import StructuredEncoder, TextEncoder, load_embeddings
from .errors import ConfigError, ProjectFormatError
from .fileio import atomic_path, read_json, write_json_atomic
from .generators import generator_path, load_project_generator
from .jobs import CancelToken, ProgressFn, Stage, check_cancel, report
from .quantize import (
    QuantizerConfig,
    SIDTable,
    TokenizerDiagnostics,
    balance_last_level,
    build_quantizer,
    diagnose_codes,
    load_quantizer,
    save_quantizer,
)
from .quantize.base import Quantizer

__all__ = ["Project", "PROJECT_FORMAT", "tokenize_dataset", "compute_embeddings", "TokenizeResult"]

PROJECT_FORMAT = "genrec-project/1"
_FILES = ("project.json", "embeddings.npy", "tokenizer.safetensors", "sids.parquet")


def compute_embeddings(
    dataset: Dataset,
    *,
    encoder: str = "minilm",
    fields: tuple[str, ...] = ("title", "brand", "categories"),
    embeddings_path: str | os.PathLike | None = None,
    device: str = "auto",
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> tuple[np.ndarray, dict]:
    """Item embeddings ``[N, d]`` float32 and a JSON-able description of how they were made."""
    cat = dataset.catalogue
    if encoder == "minilm":
        X = TextEncoder(device=device).encode(cat, fields=fields, progress=progress, cancel=cancel)
        return X, {"name": "minilm", "model": TextEncoder.name, "fields": list(fields), "dim": int(X.shape[1])}
    if encoder == "structured":
        X = StructuredEncoder().encode(cat, progress=progress, cancel=cancel)
        return X, {"name": "structured", "model": StructuredEncoder.name, "dim": int(X.shape[1])}
    if encoder == "npy":
        if embeddings_path is None:
            raise ConfigError("encoder='npy' needs an embeddings file (--embeddings FILE.npy)")
        X = load_embeddings(embeddings_path, len(cat))
        return X, {"name": "npy", "source": str(embeddings_path), "dim": int(X.shape[1])}
    raise ConfigError(f"encoder={encoder!r}: expected 'minilm', 'structured' or 'npy'")


@dataclass
class TokenizeResult:
    project: "Project"
    diagnostics: TokenizerDiagnostics
    seconds: float  # tokenizer fit + encode + SID table, embeddings excluded

    def summary(self) -> dict:
        return {**self.diagnostics.summary(), "seconds": round(self.seconds, 2)}


class Project:
    """An open project folder. Heavy parts (dataset, tokenizer, trie, generators) load on first use."""

    def __init__(self, path: str | os.PathLike, meta: dict, embeddings: np.ndarray, sids: SIDTable):
        self.path = Path(path)
        self.meta = meta
        self.embeddings = embeddings  # [N, d] float32 (rounded through float16)
        self.sids = sids
        self._dataset: Dataset | None = None
        self._tokenizer: Quantizer | None = None
        self._trie = None
        self._generators: dict[tuple[str, str], tuple[tuple, object]] = {}  # (kind, device) -> (file stamp, model)
        self._generators_lock = threading.Lock()

    # ---- paths and parts ----
    @property
    def name(self) -> str:
        return self.meta.get("name") or self.path.name

    @property
    def dataset_path(self) -> Path:
        ref = Path(self.meta["dataset"]["path"])
        return ref if ref.is_absolute() else (self.path / ref).resolve()

    @property
    def dataset(self) -> Dataset:
        if self._dataset is None:
            ds = load_dataset(self.dataset_path)
            if len(ds.catalogue) != self.sids.n_items or not np.array_equal(ds.catalogue.item_ids, self.sids.item_ids):
                raise ProjectFormatError(
                    f"{self.dataset_path}: the dataset's items no longer match the project's SID table "
                    f"({len(ds.catalogue)} items vs {self.sids.n_items}); re-run genrec tokenize"
                )
            self._dataset = ds
        return self._dataset

    def attach_dataset(self, dataset: Dataset) -> None:
        self._dataset = dataset

    @property
    def tokenizer(self) -> Quantizer:
        if self._tokenizer is None:
            self._tokenizer = load_quantizer(self.path / "tokenizer.safetensors", device="cpu")
        return self._tokenizer

    @property
    def tokenizer_config(self) -> QuantizerConfig:
        return QuantizerConfig.from_dict(self.meta["tokenizer"]["config"])

    @property
    def cold_indices(self) -> np.ndarray:
        """Item indices held out as cold items (``genrec tokenize/train --cold-holdout``), sorted; empty if none."""
        ids = self.meta.get("cold", {}).get("items", [])
        if not ids:
            return np.zeros(0, dtype=np.int64)
        import pandas as pd

        pos = pd.Index(self.sids.item_ids).get_indexer(np.asarray(ids, dtype=np.int64))
        if (pos < 0).any():
            raise ProjectFormatError(f"{self.path / 'project.json'}: cold item {ids[int(np.argmax(pos < 0))]} "
                                     "is not in the SID table")
        return np.sort(pos.astype(np.int64))

    @property
    def trie(self):
        """The prefix trie over the SID table (built on first use, ~0.1 s for 12k items). Cold
        items are left out, so they cannot be generated until they are injected."""
        if self._trie is None:
            from .index import PrefixTrie

            trie = PrefixTrie.from_codes(self.sids.codes, self.sids.level_sizes)
            for i in self.cold_indices.tolist():
                trie.remove(i)
            self._trie = trie
        return self._trie

    def generator(self, kind: str, device="cpu", *, cached: bool = True, add_instruction: bool = False,
                  extend: dict | None = None):
        """The project's trained ``kind`` generator ("ran", "tiger", "sasrec") on ``device``
        ("cpu", "cuda", "auto", ...), in eval mode.

        Cached per kind and device: later calls return the same model object until the file
        changes on disk (retrained, compacted), which reloads it. The cached model is shared (the
        app's panels, decoding in worker threads): only read it. Safe to call from several
        threads; the first call per kind and device loads the file (~40 ms-1 s), under a lock.
        ``cached=False``, ``add_instruction`` or ``extend`` give a private fresh copy instead (see
        :func:`~genrec_engine.generators.load_project_generator`), e.g. to train it further.
        A missing or unusable file raises ProjectFormatError; an unknown kind ConfigError."""
        dev = resolve_device(device)
        if not cached or add_instruction or extend:
            return load_project_generator(self, kind, dev, add_instruction=add_instruction, extend=extend)
        path = generator_path(self, kind)
        with self._generators_lock:
            try:
                st = path.stat()
                stamp = (str(path), st.st_ino, st.st_mtime_ns, st.st_size)
            except OSError:  # missing: let the loader say so
                stamp = None
            hit = self._generators.get((kind, str(dev)))
            if stamp is not None and hit is not None and hit[0] == stamp:
                return hit[1]
            model = load_project_generator(self, kind, dev)
            self._generators[(kind, str(dev))] = (stamp, model)
            return model

    def diagnostics(self) -> TokenizerDiagnostics:
        return diagnose_codes(self.sids.codes[:, :-1], self.sids.sizes, self.meta.get("diagnostics", {}).get("recon_mse"))

    # ---- disk ----
    def save(self, path: str | os.PathLike | None = None, *, tokenizer: Quantizer | None = None) -> None:
        """Write every part atomically (to ``path`` or the project's own folder)."""
        path = Path(path) if path is not None else self.path
        path.mkdir(parents=True, exist_ok=True)
        meta = dict(self.meta)
        ds_path = self.dataset_path if "dataset" in self.meta else None
        if ds_path is not None:
            meta["dataset"] = dict(meta["dataset"], path=_relative(ds_path, path))
        with atomic_path(path / "embeddings.npy") as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, self.embeddings.astype(np.float16), allow_pickle=False)
        save_quantizer(tokenizer or self.tokenizer, path / "tokenizer.safetensors")
        self.sids.save(path / "sids.parquet")
        write_json_atomic(path / "project.json", meta)  # last: a folder with project.json is complete
        self.path, self.meta = path, meta

    def save_copy(self, dest: str | os.PathLike, *, progress: ProgressFn | None = None,
                  cancel: CancelToken | None = None) -> Path:
        """Write a complete copy of this project to ``dest`` ("Save as"): its parts, its trained
        generators, ``metrics.json`` and cached layouts. This object keeps pointing at its own
        folder. Each file is written atomically; ``project.json`` goes last, so an interrupted copy
        is never mistaken for a project. Refuses to copy a project onto itself."""
        dest = Path(dest)
        if dest.resolve() == self.path.resolve():
            raise ConfigError(f"{dest}: that is the project's own folder; save it in place instead")
        if dest.exists() and not dest.is_dir():
            raise ConfigError(f"{dest}: exists and is not a folder")
        extras = sorted(
            f for f in self.path.iterdir()
            if f.is_file() and not f.name.endswith(".partial.safetensors") and not f.name.startswith(".")
            and (f.name == "metrics.json" or f.name.startswith(("generator-", "layout-")))
        )
        report(progress, 0.0, f"saving {dest.name}")
        clone = Project(self.path, dict(self.meta), self.embeddings, self.sids)
        clone._tokenizer, clone._dataset = self._tokenizer, self._dataset
        for k, f in enumerate(extras):  # generators first: project.json (written by save) marks completion
            check_cancel(cancel)
            dest.mkdir(parents=True, exist_ok=True)
            with atomic_path(dest / f.name) as tmp:
                shutil.copyfile(f, tmp)
            report(progress, 0.8 * (k + 1) / max(1, len(extras)), f"copied {f.name}")
        check_cancel(cancel)
        clone.save(dest)
        report(progress, 1.0, f"saved {dest}")
        return dest

    @classmethod
    def open(cls, path: str | os.PathLike) -> "Project":
        """Load a project folder, refusing wrong versions and damaged files with a clear message."""
        path = Path(path)
        if not (path / "project.json").is_file():
            raise ProjectFormatError(f"{path}: not a GenRec project (no project.json)")
        try:
            meta = read_json(path / "project.json")
        except (ValueError, OSError) as exc:
            raise ProjectFormatError(f"{path / 'project.json'}: unreadable JSON: {exc}") from None
        if meta.get("format") != PROJECT_FORMAT:
            raise ProjectFormatError(
                f"{path / 'project.json'}: format {meta.get('format')!r}, this version reads {PROJECT_FORMAT!r}"
            )
        for f in _FILES[1:]:
            if not (path / f).is_file():
                raise ProjectFormatError(f"{path / f}: missing from the project folder")
        try:
            emb = np.load(path / "embeddings.npy", allow_pickle=False).astype(np.float32)
        except (OSError, ValueError, EOFError) as exc:
            raise ProjectFormatError(f"{path / 'embeddings.npy'}: unreadable (truncated?): {exc}") from None
        sids = SIDTable.load(path / "sids.parquet")
        if emb.shape[0] != sids.n_items:
            raise ProjectFormatError(
                f"{path}: embeddings.npy has {emb.shape[0]} rows but sids.parquet {sids.n_items} items"
            )
        return cls(path, meta, emb, sids)


def _relative(target: Path, base: Path) -> str:
    try:
        return os.path.relpath(Path(target).resolve(), Path(base).resolve())
    except ValueError:  # different drives on Windows
        return str(Path(target).resolve())


def tokenize_dataset(
    dataset: Dataset,
    config: QuantizerConfig,
    out: str | os.PathLike,
    *,
    encoder: str = "minilm",
    fields: tuple[str, ...] = ("title", "brand", "categories"),
    embeddings: np.ndarray | None = None,
    embeddings_path: str | os.PathLike | None = None,
    cold: dict | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> TokenizeResult:
    """catalogue -> embeddings -> tokenizer -> SID table -> saved project folder.

    Progress: embeddings take the first 40 % of the bar (or none when given/cached), the
    tokenizer the rest. Nothing is written before the fit succeeds, so a cancelled or failed
    run leaves an existing project at ``out`` untouched.

    ``cold``: ``{"fraction", "seed", "indices"}`` (see :func:`genrec_engine.coldstart.choose_cold_items`):
    those items are held out of the tokenizer fit (they are still encoded, with the frozen
    tokenizer) and recorded in the project as cold items, which the trie leaves out.
    """
    if embeddings is None:
        embeddings, enc_meta = compute_embeddings(
            dataset, encoder=encoder, fields=fields, embeddings_path=embeddings_path,
            device=config.device, progress=Stage(progress, 0.0, 0.4, "embeddings"), cancel=cancel,
        )
    else:
        enc_meta = {"name": "given", "dim": int(np.asarray(embeddings).shape[1])}
    check_cancel(cancel)
    X = np.asarray(embeddings, dtype=np.float32).astype(np.float16).astype(np.float32)  # what is saved
    t0 = time.perf_counter()
    fit_rows = X
    if cold is not None:
        warm = np.ones(len(X), dtype=bool)
        warm[np.asarray(cold["indices"], dtype=np.int64)] = False
        fit_rows = X[warm]
    q = build_quantizer(config).fit(fit_rows, progress=Stage(progress, 0.4, 0.95, f"{config.method} tokenizer"),
                                    cancel=cancel)
    check_cancel(cancel)
    codes = q.encode(X)
    if config.balance_last_level:
        _, dists = q.level_distances(X)
        codes = balance_last_level(codes, dists[-1])
    sids = SIDTable.from_codes(dataset.catalogue.item_ids, codes, config.codebook_size)
    recon = q.recon_mse(X, codes)
    diag = diagnose_codes(codes, config.codebook_size, recon)
    seconds = time.perf_counter() - t0
    meta = {
        "format": PROJECT_FORMAT,
        "name": Path(out).name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "dataset": {
            "path": str(Path(dataset.path).resolve()) if dataset.path else "",
            "items": dataset.n_items,
            "users": dataset.n_users,
            "interactions": dataset.n_interactions,
        },
        "encoder": enc_meta,
        "tokenizer": {"config": config.to_dict(), "file": "tokenizer.safetensors", "fit_seconds": round(seconds, 3)},
        "diagnostics": diag.summary(),
    }
    if cold is not None:
        idx = np.asarray(cold["indices"], dtype=np.int64)
        meta["cold"] = {"fraction": float(cold["fraction"]), "seed": int(cold["seed"]),
                        "items": [int(i) for i in dataset.catalogue.item_ids[np.sort(idx)]]}
    project = Project(out, meta, X, sids)
    project._tokenizer = q
    project.attach_dataset(dataset)
    project.save(out, tokenizer=q)
    report(progress, 1.0, "project saved")
    return TokenizeResult(project, diag, seconds)
