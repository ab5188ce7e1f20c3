"""Lazy package exports: a package names what it offers, and each name is imported on first use.

The panel packages use it so that importing a panel's Qt-free view-model (``app.panels.tree.state``)
does not first run the package's ``__init__`` imports of its widgets, and with them Qt.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable

__all__ = ["lazy_exports"]


def lazy_exports(package: str, names: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that imports ``names[name]`` (a submodule, relative
    like ``".view"``) on first access of ``name``."""

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module, package), name)

    return __getattr__
