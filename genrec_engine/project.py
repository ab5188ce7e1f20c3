"""A project folder: everything one tokenized catalogue needs, saved and loaded as a unit.

Layout (JSON + safetensors + Parquet + .npy, never pickle)::

    project.json            format version, dataset reference, encoder, tokenizer config, diagnostics,
                            and under "files" the size of every part below (written last)
    embeddings.npy          [N, d] float16 item embeddings (row i = item index i)
    tokenizer.safetensors   the fitted tokenizer (config in its metadata)
    sids.parquet            item_id, c0..cL: the SID table (collision level last)
    generator-<kind>.safetensors   trained generators, if any (see :mod:`genrec_engine.generators`)

Every change is a transaction (:mod:`genrec_engine.txn`): a crash leaves the old files or the new
ones, never a mix, and :meth:`Project.open` finishes or undoes what a crash interrupted. Opening
checks ``project.json`` key by key (:func:`check_project_meta`) and the recorded sizes.

The tokenizer is fitted on the float16-rounded embeddings, exactly what is saved, so loading the
project and re-encoding gives bit-identical SIDs.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data import Dataset, dataset_fingerprint, load_dataset
from .device import resolve_device
from .embed import StructuredEncoder, TextEncoder, load_embeddings
from .errors import ConfigError, ProjectFormatError
from .fileio import atomic_path, read_json
from .generators import generator_path, load_project_generator
from .jobs import CancelToken, ProgressFn, Stage, check_cancel, report
from .txn import JOURNAL_NAME, LOCK_NAME, describe_os_error, project_change, recover, tracked
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

__all__ = ["Project", "PROJECT_FORMAT", "tokenize_dataset", "compute_embeddings", "TokenizeResult", "check_project_meta",
           "check_recorded_size"]

PROJECT_FORMAT = "genrec-project/1"
MIN_ITEMS = 2  # the smallest catalogue that can be tokenized (README "Dataset folders")
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
        self._split = None  # the leave-one-out split (data.split.project_split), made once
        self._split_lock = threading.Lock()
        self.recovered: str | None = None  # what Project.open did to finish or undo an interrupted change

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
            ds = load_dataset(self.dataset_path, short_users=self.meta["dataset"].get("short_users", "error"))
            if len(ds.catalogue) != self.sids.n_items or not np.array_equal(ds.catalogue.item_ids, self.sids.item_ids):
                raise ProjectFormatError(
                    f"{self.dataset_path}: the dataset's items no longer match the project's SID table "
                    f"({len(ds.catalogue)} items vs {self.sids.n_items}); re-run genrec tokenize"
                )
            self._dataset = ds
        return self._dataset

    @property
    def split_sha256(self) -> str:
        """SHA-256 of the catalogue's interaction split (see :func:`~genrec_engine.data.dataset_fingerprint`):
        recorded in project.json by ``genrec tokenize``; computed from the dataset (once) for
        projects made before it was."""
        known = self.meta.get("dataset", {}).get("split_sha256")
        if not known:
            if getattr(self, "_split_sha256", None) is None:
                from .data import dataset_fingerprint

                self._split_sha256 = dataset_fingerprint(self.dataset)["split_sha256"]
            known = self._split_sha256
        return known

    @property
    def sids_sha256(self) -> str:
        """SHA-256 of the SID table (item ids, codes and level sizes)."""
        if getattr(self, "_sids_sha256", None) is None:
            import hashlib

            h = hashlib.sha256(np.asarray(self.sids.item_ids, dtype="<i8").tobytes())
            h.update(np.ascontiguousarray(self.sids.codes, dtype="<i8").tobytes())
            h.update(",".join(map(str, self.sids.sizes)).encode())
            self._sids_sha256 = h.hexdigest()
        return self._sids_sha256

    def attach_dataset(self, dataset: Dataset) -> None:
        with self._split_lock:
            self._dataset = dataset
            self._split = None  # made again from this dataset

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
        """Write every part (to ``path`` or the project's own folder) as one transaction
        (:func:`~genrec_engine.txn.project_change`): a crash leaves the old parts or the new ones,
        never a mix. Generators and ``metrics.json`` already there are kept."""
        path = Path(path) if path is not None else self.path
        meta = dict(self.meta)
        ds_path = self.dataset_path if "dataset" in self.meta else None
        if ds_path is not None:
            meta["dataset"] = dict(meta["dataset"], path=_relative(ds_path, path))
        with project_change(path, "save project") as change:
            with atomic_path(change.path("embeddings.npy")) as tmp:
                with open(tmp, "wb") as fh:
                    np.save(fh, self.embeddings.astype(np.float16), allow_pickle=False)
            save_quantizer(tokenizer or self.tokenizer, change.path("tokenizer.safetensors"))
            self.sids.save(change.path("sids.parquet"))
            change.meta = meta
        self.path, self.meta = path, read_json(path / "project.json")

    def save_copy(self, dest: str | os.PathLike, *, progress: ProgressFn | None = None,
                  cancel: CancelToken | None = None) -> Path:
        """Write a complete copy of this project to ``dest`` ("Save as"): its parts, its trained
        generators, ``metrics.json`` and cached layouts. This object keeps pointing at its own
        folder. The copy is built in a hidden sibling folder and renamed to ``dest`` at the end,
        so an interrupted or cancelled copy leaves nothing at ``dest``. ``dest`` must not exist
        or be an empty folder: an existing project (or anything else) there is never overwritten."""
        dest = Path(dest)
        if dest.resolve() == self.path.resolve():
            raise ConfigError(f"{dest}: that is the project's own folder; save it in place instead")
        if dest.exists() and not dest.is_dir():
            raise ConfigError(f"{dest}: exists and is not a folder")
        if dest.is_dir() and any(dest.iterdir()):
            what = "a project" if (dest / "project.json").is_file() else "files"
            raise ConfigError(f"{dest}: already holds {what}; choose a new or empty folder")
        extras = sorted(
            f for f in self.path.iterdir()
            if f.is_file() and not f.name.endswith(".partial.safetensors") and not f.name.startswith(".")
            and (f.name == "metrics.json" or f.name.startswith(("generator-", "layout-")))
        )
        report(progress, 0.0, f"saving {dest.name}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        for old in dest.parent.glob(f".{dest.name}.saving-*"):  # copies a crash left behind
            shutil.rmtree(old, ignore_errors=True)
        work = dest.parent / f".{dest.name}.saving-{os.getpid()}"
        watched = [*extras, self.path / "project.json"]
        before = _stamps(watched)
        try:
            work.mkdir()
            for k, f in enumerate(extras):
                check_cancel(cancel)
                shutil.copyfile(f, work / f.name)
                report(progress, 0.8 * (k + 1) / max(1, len(extras)), f"copied {f.name}")
            check_cancel(cancel)
            clone = Project(self.path, dict(self.meta), self.embeddings, self.sids)
            clone._tokenizer, clone._dataset = self._tokenizer, self._dataset
            clone.save(work)
            # a reader takes no lock (the source may be read-only): check that no writer changed it meanwhile
            if _stamps(watched) != before or (self.path / JOURNAL_NAME).exists():
                raise ConfigError(f"{self.path}: changed by another program while being copied; save again")
            (work / LOCK_NAME).unlink(missing_ok=True)
            if dest.is_dir():
                dest.rmdir()  # empty, checked above; fails if something appeared meanwhile
            os.replace(work, dest)
        except OSError as exc:
            raise ConfigError(f"could not save the copy: {describe_os_error(exc, dest)}") from None
        finally:
            if work.exists():
                shutil.rmtree(work, ignore_errors=True)
        report(progress, 1.0, f"saved {dest}")
        return dest

    @classmethod
    def open(cls, path: str | os.PathLike) -> "Project":
        """Load a project folder, refusing wrong versions and damaged files with a clear message.
        A change that a crash interrupted is finished or undone first (:func:`~genrec_engine.txn.recover`);
        :attr:`recovered` then says which."""
        path = Path(path)
        recovered = recover(path) if path.is_dir() else None
        if not (path / "project.json").is_file():
            raise ProjectFormatError(f"{path}: not a GenRec project (no project.json)")
        try:
            meta = read_json(path / "project.json")
        except (ValueError, OSError) as exc:
            raise ProjectFormatError(f"{path / 'project.json'}: unreadable JSON: {exc}") from None
        check_project_meta(meta, path / "project.json")
        for f in _FILES[1:]:
            if not (path / f).is_file():
                raise ProjectFormatError(f"{path / f}: missing from the project folder")
        check_recorded_size(path, meta, _FILES[1:])
        try:
            emb = np.load(path / "embeddings.npy", allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise ProjectFormatError(f"{path / 'embeddings.npy'}: unreadable (truncated?): {exc}") from None
        if emb.ndim != 2 or emb.dtype.kind != "f":
            raise ProjectFormatError(f"{path / 'embeddings.npy'}: expected a 2-D float array, found {emb.ndim}-D {emb.dtype}")
        emb = emb.astype(np.float32)
        sids = SIDTable.load(path / "sids.parquet")
        if emb.shape[0] != sids.n_items:
            raise ProjectFormatError(
                f"{path}: embeddings.npy has {emb.shape[0]} rows but sids.parquet {sids.n_items} items"
            )
        project = cls(path, meta, emb, sids)
        project.recovered = recovered
        if recovered:
            logging.getLogger("genrec_engine").warning("%s", recovered)
        return project


# key -> (types, required) of project.json; nested dicts checked by _META_NESTED
_META_KEYS = {"format": (str, True), "dataset": (dict, True), "tokenizer": (dict, True), "name": (str, False),
              "encoder": (dict, False), "diagnostics": (dict, False), "cold": (dict, False), "files": (dict, False),
              "created": (str, False)}
_META_NESTED = {"dataset": {"path": (str, True), "items": (int, False), "users": (int, False),
                            "interactions": (int, False), "split_sha256": (str, False),
                            "short_users": (str, False)},
                "tokenizer": {"config": (dict, True)},
                "cold": {"items": (list, False)}}


def _type_name(types) -> str:
    return {str: "text", dict: "an object", int: "an integer", list: "a list"}.get(types, str(types))


def check_project_meta(meta, where: Path) -> None:
    """Refuse a ``project.json`` whose keys are missing or of the wrong type, naming the key."""
    if not isinstance(meta, dict):
        raise ProjectFormatError(f"{where}: expected a JSON object, found {type(meta).__name__}")
    if meta.get("format") != PROJECT_FORMAT:
        raise ProjectFormatError(f"{where}: format {meta.get('format')!r}, this version reads {PROJECT_FORMAT!r}")

    def check(obj: dict, spec: dict, prefix: str) -> None:
        for key, (types, required) in spec.items():
            if key not in obj:
                if required:
                    raise ProjectFormatError(f"{where} [{prefix}{key}]: missing")
                continue
            value = obj[key]
            if not isinstance(value, types) or (types is int and isinstance(value, bool)):
                raise ProjectFormatError(f"{where} [{prefix}{key}]: expected {_type_name(types)}, "
                                         f"found {json.dumps(value)[:40]}")
            if key in _META_NESTED and not prefix:
                check(value, _META_NESTED[key], f"{key}.")

    check(meta, _META_KEYS, "")
    try:
        QuantizerConfig.from_dict(meta["tokenizer"]["config"])
    except (TypeError, ValueError, KeyError) as exc:
        raise ProjectFormatError(f"{where} [tokenizer.config]: {exc}") from None
    items = meta.get("cold", {}).get("items", [])
    if any(not isinstance(i, int) or isinstance(i, bool) for i in items):
        raise ProjectFormatError(f"{where} [cold.items]: expected a list of item ids (integers)")
    for name, rec in meta.get("files", {}).items():
        if not tracked(name) or not isinstance(rec, dict) or not isinstance(rec.get("bytes"), int):
            raise ProjectFormatError(f"{where} [files.{name}]: expected a project file with its \"bytes\"")


def check_recorded_size(path: Path, meta: dict, names) -> None:
    """Refuse a file whose size differs from the one ``project.json`` records (``"files"``):
    changed outside genrec, or left behind by a version without transactions. Projects written
    before sizes were recorded have no ``"files"`` and are not checked."""
    files = meta.get("files")
    if not files:
        return
    for name in names:
        rec = files.get(name)
        if rec is None:
            if name in _FILES and (path / name).is_file():
                raise ProjectFormatError(f"{path / name}: not recorded in project.json [files.{name}]")
            if tracked(name) and (path / name).is_file():
                raise ProjectFormatError(f"{path / name}: not recorded in project.json [files] and its header does not "
                                         "say what it was trained on (copied or renamed into the folder by hand?); "
                                         "retrain it, or add it with genrec_engine.generators.save_project_generator")
            continue
        try:
            size = (path / name).stat().st_size
        except OSError:
            raise ProjectFormatError(f"{path / name}: recorded in project.json but missing") from None
        if size != rec["bytes"]:
            raise ProjectFormatError(f"{path / name}: {size} bytes, but project.json records {rec['bytes']} "
                                     "(changed outside genrec?)")


def _stamps(files) -> list:
    """(inode, size, mtime) of each file, None for a missing one: a change shows as a difference."""
    out = []
    for f in files:
        try:
            st = Path(f).stat()
            out.append((st.st_ino, st.st_size, st.st_mtime_ns))
        except OSError:
            out.append(None)
    return out


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
    if dataset.n_items < MIN_ITEMS:
        raise ConfigError(f"{dataset.path or 'the dataset'}: {dataset.n_items} item(s); semantic IDs need a catalogue "
                          f"of at least {MIN_ITEMS} items")
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
            "split_sha256": dataset_fingerprint(dataset)["split_sha256"],
            **({"short_users": "drop"} if getattr(dataset, "short_users", "error") == "drop" else {}),
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
