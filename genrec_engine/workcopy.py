"""Training and re-tokenizing into a *working copy* of a project, never into the project itself.

The training monitor (and scripts) use these jobs so that experimenting never overwrites the files
of the project that is open: every job reads the source folder and writes only below a separate
working folder, which the user may later save elsewhere with :func:`save_working_copy`. All three
are plain engine jobs (``progress``/``cancel`` keywords), safe to run on a worker thread.

``on_epoch(row)`` and ``on_diagnostics(diag)`` are called on the worker thread; a GUI must hand
what they receive to its own thread (a queue, a queued signal).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable


from .data import load_dataset
from .errors import ConfigError
from .txn import project_change
from .jobs import CancelToken, ProgressFn, Stage, check_cancel, report
from .project import Project, tokenize_dataset
from .quantize import QuantizerConfig, TokenizerDiagnostics
from .train import TrainConfig, train_generator

__all__ = ["warm_up_training", "make_working_copy", "retokenize_copy", "train_copy", "save_working_copy"]


def warm_up_training(*, progress: ProgressFn | None = None, cancel: CancelToken | None = None) -> None:
    """Build one AdamW optimiser on a dummy tensor, so the ~800 modules torch imports on first use
    (``torch._dynamo`` and friends, ~0.5 s of GIL-holding work) load now rather than when the user
    starts a training run and watches the window."""
    import torch

    p = torch.zeros(1, requires_grad=True)
    torch.optim.AdamW([p], lr=1e-3).zero_grad()


def make_working_copy(
    source: str | os.PathLike,
    work_dir: str | os.PathLike,
    *,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> Path:
    """Copy the project at ``source`` (parts, generators, metrics.json) to ``work_dir`` unless
    ``work_dir`` already holds a complete project. Returns ``work_dir``. ``source`` is only read."""
    work_dir = Path(work_dir)
    if (work_dir / "project.json").is_file():
        return work_dir
    return Project.open(source).save_copy(work_dir, progress=progress, cancel=cancel)


def train_copy(
    source: str | os.PathLike,
    work_dir: str | os.PathLike,
    kind: str,
    *,
    model_config: dict | None = None,
    train_config: TrainConfig | None = None,
    device: str = "auto",
    on_epoch: Callable[[dict], None] | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> dict:
    """Train generator ``kind`` in the working copy ``work_dir`` (made from ``source`` first when
    it does not exist yet). Writes ``generator-<kind>.safetensors`` and ``metrics.json`` there only.

    Returns the metrics record of :func:`train_generator` plus ``"project_path"`` (the working copy).
    ``on_epoch(row)`` gets one dict per epoch (``epoch``, ``loss``, loss parts, ``seconds``, and
    ``valid_recall@10`` etc. on validation epochs).
    """
    work_dir = Path(work_dir)
    if Path(source).resolve() == work_dir.resolve():
        raise ConfigError(f"{work_dir}: the working copy must be a different folder from the project")
    make_working_copy(source, work_dir, progress=Stage(progress, 0.0, 0.05, "working copy"), cancel=cancel)
    check_cancel(cancel)
    project = Project.open(work_dir)
    record = train_generator(project, kind, model_config=model_config, train_config=train_config, device=device,
                             progress=Stage(progress, 0.05, 1.0), cancel=cancel, on_epoch=on_epoch, save=True)
    return {**record, "project_path": str(work_dir)}


def retokenize_copy(
    source: str | os.PathLike,
    work_dir: str | os.PathLike,
    config: QuantizerConfig,
    *,
    on_diagnostics: Callable[[TokenizerDiagnostics], None] | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> dict:
    """Fit a new tokenizer on the item embeddings of the project at ``source`` and write the
    resulting project (new SIDs, no generators: they belong to the old SIDs) to the fresh folder
    ``work_dir``. The source's name and encoder description are kept.

    Returns ``{"project_path", "diagnostics": TokenizerDiagnostics, "seconds", "config"}``;
    ``on_diagnostics`` receives the same diagnostics as soon as the SID table exists.
    """
    work_dir = Path(work_dir)
    if Path(source).resolve() == work_dir.resolve():
        raise ConfigError(f"{work_dir}: the working copy must be a different folder from the project")
    if work_dir.exists() and any(work_dir.iterdir()):
        raise ConfigError(f"{work_dir}: the folder for a re-tokenized copy must be new or empty")
    report(progress, 0.0, "reading the project")
    src = Project.open(source)
    dataset = load_dataset(src.dataset_path)
    check_cancel(cancel)
    res = tokenize_dataset(dataset, config, work_dir, embeddings=src.embeddings,
                           progress=Stage(progress, 0.02, 0.98), cancel=cancel)
    meta = dict(res.project.meta, name=src.name, encoder=src.meta.get("encoder", res.project.meta.get("encoder")))
    with project_change(work_dir, "re-tokenize: name and encoder") as change:
        change.meta = meta
    if on_diagnostics is not None:
        on_diagnostics(res.diagnostics)
    report(progress, 1.0, "re-tokenized")
    return {"project_path": str(work_dir), "diagnostics": res.diagnostics, "seconds": res.seconds,
            "config": config.to_dict()}


def save_working_copy(
    work_dir: str | os.PathLike,
    dest: str | os.PathLike,
    *,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> Path:
    """"Save project as": write the working copy to ``dest`` with :meth:`Project.save_copy` (every
    file atomic, ``project.json`` last). Returns ``dest``."""
    return Project.open(work_dir).save_copy(dest, progress=progress, cancel=cancel)
