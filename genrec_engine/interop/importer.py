"""Projects from foreign SID tables, and a project's SIDs out again, each with a manifest.

``import_sids`` walks the usual data flow with the tokenizer replaced by the user's table::

    dataset folder --load--> catalogue --encoder--> embeddings
    SID file --read_sids--> ForeignSIDs --to_sid_table--> SIDTable (checked against the catalogue)
    embeddings + codes --ImportedCodebooks--> derived codebooks (weights, cold start, TIGER init)
    --> project folder (project.json records the source file, its SHA-256, sizes and policy)

Nothing is written before every check passed; the project is built in a hidden sibling folder
and renamed into place, so a failed or cancelled import leaves an existing folder untouched.

``export_sids`` writes a project's table in any format plus ``manifest.json`` beside it (one
export per folder): per-level codebook sizes, whether the last level is a collision level, the
tokenizer and its seed, the encoder and text fields, the collision policy, the dataset fingerprint
and the table's SHA-256. Importing an export with its manifest gives back the same table.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from .. import __version__
from ..data import dataset_fingerprint, load_dataset
from ..errors import ConfigError, ProjectFormatError
from ..fileio import read_json, write_json_atomic
from ..jobs import CancelToken, ProgressFn, Stage, check_cancel, report
from ..project import PROJECT_FORMAT, Project, compute_embeddings
from ..quantize import IMPORTED, QuantizerConfig, agreement, build_quantizer, diagnose_codes
from .formats import file_sha256, read_sids, to_sid_table, write_sids

__all__ = ["import_sids", "check_import", "export_sids", "read_manifest", "MANIFEST", "MANIFEST_FORMAT"]

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "genrec-sids-manifest/1"


def read_manifest(table_path: str | os.PathLike) -> tuple[dict | None, list[str]]:
    """The export manifest beside ``table_path`` if it describes that file, and warnings (a
    manifest for another file, or whose checksum no longer matches, is not used)."""
    table_path = Path(table_path)
    mpath = table_path.parent / MANIFEST
    if not mpath.is_file():
        return None, []
    try:
        man = read_json(mpath)
    except (ValueError, OSError) as exc:
        return None, [f"{mpath}: unreadable ({exc}); ignored"]
    if not isinstance(man, dict) or man.get("format") != MANIFEST_FORMAT or man.get("table") != table_path.name:
        return None, []
    if man.get("sha256") != file_sha256(table_path):
        return None, [f"{mpath}: its SHA-256 does not match {table_path.name} (edited since the export?); ignored"]
    return man, []


def export_sids(project: Project, fmt: str, out: str | os.PathLike) -> dict:
    """Write ``project``'s SID table to ``out`` in ``fmt`` and ``manifest.json`` beside it; returns
    the manifest. Refuses a folder whose manifest describes another table."""
    out = Path(out)
    mpath = out.parent / MANIFEST
    if mpath.is_file():
        try:
            other = read_json(mpath).get("table")
        except (ValueError, OSError, AttributeError):
            other = None
        if other != out.name:
            raise ConfigError(f"{out.parent}: already holds {MANIFEST} for {other or 'another file'}; "
                              "export into a folder of its own")
    sids = project.sids
    written = write_sids(sids, fmt, out)
    cfg = project.meta.get("tokenizer", {}).get("config", {})
    enc = project.meta.get("encoder", {})
    try:
        fingerprint = dataset_fingerprint(project.dataset)
    except ProjectFormatError:
        fingerprint = {k: project.meta.get("dataset", {}).get(k) for k in ("users", "items", "interactions")}
    manifest = {
        "format": MANIFEST_FORMAT,
        "table": out.name,
        "sid_format": fmt,
        "keys": "catalogue row" if fmt in ("letter", "grid") else "item id",
        "rows": written["rows"],
        "levels": written["levels"],
        "codebook_sizes": written["codebook_sizes"],
        "collision_level": written["collision_level"],
        "collision_policy": sids.policy,
        "tokenizer": {"method": cfg.get("method"), "seed": cfg.get("seed"), "levels": sids.levels,
                      "codebook_sizes": list(sids.sizes)},
        "encoder": {k: enc.get(k) for k in ("name", "model", "fields", "dim") if k in enc},
        "dataset": fingerprint,
        "project": project.name,
        "sha256": written["sha256"],
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "genrec": __version__,
    }
    if "imported" in project.meta:
        manifest["imported_from"] = {k: project.meta["imported"].get(k) for k in ("source", "format", "sha256")}
    try:
        write_json_atomic(mpath, manifest)
    except OSError as exc:
        raise ConfigError(f"{mpath}: cannot write: {exc.strerror or exc}") from None
    return manifest


def _match(dataset, sids_file, fmt, codebook_sizes, policy):
    """Read ``sids_file`` and match it to ``dataset``: ``(table, info, foreign, manifest, warnings)``."""
    manifest, warnings = read_manifest(sids_file)
    sizes = codebook_sizes if codebook_sizes is not None else (manifest or {}).get("codebook_sizes")
    foreign = read_sids(sids_file, fmt, codebook_sizes=sizes)
    table, info = to_sid_table(foreign, dataset.catalogue.item_ids, codebook_sizes=sizes, policy=policy,
                               collision_level=bool((manifest or {}).get("collision_level")))
    if manifest is not None and codebook_sizes is None:
        info["sizes_inferred"] = False
        info["sizes_from"] = "manifest"
    elif codebook_sizes is not None:
        info["sizes_from"] = "--codebook-sizes"
    else:
        info["sizes_from"] = "packing radix" if foreign.sizes else "inferred: smallest power of two above the largest code"
    info.update(format=foreign.format, manifest=manifest is not None, warnings=warnings)
    return table, info


def check_import(data: str | os.PathLike, sids_file: str | os.PathLike, *, fmt: str = "auto", codebook_sizes=None,
                 policy: str = "append-level", progress: ProgressFn | None = None,
                 cancel: CancelToken | None = None) -> dict:
    """What :func:`import_sids` would find, without writing anything and without raising for bad
    input: ``{"problems": [Problem, ...], "info": summary or None}`` (the dataset's own problems
    first, then the SID table's)."""
    from ..data import check_dataset
    from ..errors import DataValidationError, GenrecError, Problem

    report(progress, 0.0, "checking the dataset")
    dataset, problems = check_dataset(data)
    if dataset is None:
        return {"problems": problems, "info": None}
    check_cancel(cancel)
    report(progress, 0.5, f"reading {Path(sids_file).name}")
    try:
        table, info = _match(dataset, sids_file, fmt, codebook_sizes, policy)
    except DataValidationError as exc:
        return {"problems": problems + exc.problems, "info": None}
    except GenrecError as exc:
        return {"problems": problems + [Problem(str(sids_file), None, None, str(exc))], "info": None}
    info.update(items=dataset.n_items, users=dataset.n_users, interactions=dataset.n_interactions)
    report(progress, 1.0, "checked")
    return {"problems": problems, "info": info}


def import_sids(
    data: str | os.PathLike,
    sids_file: str | os.PathLike,
    out: str | os.PathLike,
    *,
    fmt: str = "auto",
    codebook_sizes=None,
    policy: str = "append-level",
    encoder: str = "minilm",
    fields: tuple[str, ...] = ("title", "brand", "categories"),
    embeddings_path: str | os.PathLike | None = None,
    overwrite: bool = False,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> dict:
    """Build the project ``out`` from the dataset folder ``data`` and the SID table ``sids_file``.

    ``codebook_sizes``: one size per level, else the manifest's, else (recif) the packing radix,
    else inferred (the smallest power of two above each level's largest code; the summary says
    so). ``policy``: ``append-level`` or ``keep-all`` (see :class:`~genrec_engine.quantize.SIDTable`).
    ``encoder``/``fields``/``embeddings_path`` as in ``genrec tokenize``: the embeddings feed the
    codebook map, the derived codebooks and the generators. ``out`` must not hold a project unless
    ``overwrite``. Returns a JSON-able summary; every problem raises before anything is written."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a folder")
    if (out / "project.json").exists() and not overwrite:
        raise ConfigError(f"{out}: already holds a project; choose another folder or pass --overwrite")
    if out.is_dir() and any(out.iterdir()) and not (out / "project.json").exists():
        raise ConfigError(f"{out}: is a folder with other files in it; choose an empty or new folder")
    parent = next((p for p in out.absolute().parents if p.exists()), None)
    if parent is None or not os.access(parent, os.W_OK):  # say so now, not after the embeddings
        raise ConfigError(f"{out}: cannot create the project folder there ({parent} is not writable)")
    report(progress, 0.0, "reading the dataset")
    dataset = load_dataset(data)
    report(progress, 0.05, f"reading {Path(sids_file).name}")
    table, info = _match(dataset, sids_file, fmt, codebook_sizes, policy)
    check_cancel(cancel)
    X, enc_meta = compute_embeddings(dataset, encoder=encoder, fields=fields, embeddings_path=embeddings_path,
                                     device="auto", progress=Stage(progress, 0.1, 0.8, "embeddings"), cancel=cancel)
    X = np.asarray(X, dtype=np.float32).astype(np.float16).astype(np.float32)  # what is saved
    codes = table.codes[:, :-1]
    sizes_l = tuple(table.sizes)
    cfg = QuantizerConfig(method=IMPORTED, levels=table.levels, codebook_size=max(sizes_l),
                          codebook_sizes=sizes_l if len(set(sizes_l)) > 1 else (), device="cpu")
    q = build_quantizer(cfg).fit_codes(X, codes, progress=Stage(progress, 0.8, 0.9, "derived codebooks"), cancel=cancel)
    agree = agreement(q, X, codes)
    diag = diagnose_codes(codes, sizes_l, q.recon_mse(X, codes))
    check_cancel(cancel)
    info.update(source=str(Path(sids_file).resolve()), sha256=file_sha256(sids_file), content_agreement=agree)
    meta = {
        "format": PROJECT_FORMAT,
        "name": out.name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "dataset": {"path": str(Path(dataset.path).resolve()), "items": dataset.n_items, "users": dataset.n_users,
                    "interactions": dataset.n_interactions},
        "encoder": enc_meta,
        "tokenizer": {"config": cfg.to_dict(), "file": "tokenizer.safetensors", "imported": True},
        "imported": info,
        "diagnostics": diag.summary(),
    }
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.importing-", dir=out.parent))
    except OSError as exc:
        raise ConfigError(f"{out}: cannot create the project folder: {exc.strerror or exc}") from None
    try:
        project = Project(stage, meta, X, table)
        project._tokenizer = q
        project.attach_dataset(dataset)
        project.save(stage, tokenizer=q)
        check_cancel(cancel)
        _swap_into_place(stage, out)
    except OSError as exc:
        raise ConfigError(f"{out}: cannot write the project: {exc.strerror or exc}") from None
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)
    report(progress, 1.0, "project saved")
    return {"project": str(out), "items": dataset.n_items, "users": dataset.n_users,
            "interactions": dataset.n_interactions, **info, "diagnostics": diag.summary()}


def _swap_into_place(stage: Path, out: Path) -> None:
    """Rename the finished ``stage`` folder to ``out``; an existing ``out`` is moved aside first
    and removed only after the new one is in place."""
    if not out.exists():
        os.replace(stage, out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.replaced-", dir=out.parent))
    os.rmdir(old)
    os.replace(out, old)
    try:
        os.replace(stage, out)
    except OSError:
        os.replace(old, out)  # put the old project back
        raise
    shutil.rmtree(old, ignore_errors=True)
