"""Device choice: ``auto`` picks CUDA when present, else the CPU; ``--device`` overrides."""
from __future__ import annotations

import torch

from .errors import ConfigError

__all__ = ["resolve_device", "device_label"]


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Turn ``"auto" | "cpu" | "cuda" | "cuda:N"`` into a ``torch.device``.

    Raises ConfigError when CUDA is asked for on a machine without it.
    """
    if isinstance(device, torch.device):
        return device
    name = (device or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device={device!r}: CUDA is not available on this machine; use 'cpu' or 'auto'")
        return torch.device(name)
    if name == "cpu":
        return torch.device("cpu")
    raise ConfigError(f"device={device!r}: expected 'auto', 'cpu', 'cuda' or 'cuda:N'")


def device_label(device: torch.device | str | None = "auto") -> str:
    """A short human label: the GPU's name, or ``CPU (N threads)``."""
    dev = resolve_device(device)
    if dev.type == "cuda":
        return f"GPU: {torch.cuda.get_device_name(dev)}"
    return f"CPU ({torch.get_num_threads()} threads)"
