"""A model's shapes without its memory: :func:`meta_shell` builds a generator on PyTorch's "meta"
device with its initialisers skipped.

Loading and training check a config against the file's tensors and the machine's memory before
anything is allocated (``checkpoint._check_shapes``, ``generators._check_size``). Under a plain
``torch.device("meta")`` every initialiser (``nn.init.normal_`` and friends) runs through PyTorch's
Python reference kernels, whose first use imports ``torch._dynamo``: ~800 modules and 1.6 s of
GIL-holding work on a 2-core machine, which then slows every other thread (the app opened a project
~0.5-1 s later because a panel's generator check ran beside the project's load). Shapes do not
depend on initial values, so the initialisers are skipped here.
"""
from __future__ import annotations

import torch
from torch.overrides import TorchFunctionMode

__all__ = ["meta_shell"]


def _factories() -> frozenset:
    try:  # the same list torch.device("meta") uses; private, hence the fallback
        from torch.utils._device import _device_constructors

        return frozenset(_device_constructors())
    except (ImportError, AttributeError):  # pragma: no cover - other torch versions
        return frozenset({torch.empty, torch.zeros, torch.ones, torch.full, torch.rand, torch.randn, torch.randint,
                          torch.arange, torch.tensor, torch.eye, torch.linspace, torch.as_tensor, torch.empty_like,
                          torch.zeros_like, torch.ones_like})


_RANDOM_LIKE = frozenset({torch.rand_like, torch.randn_like})
_RANDOM = frozenset({torch.rand, torch.randn}) | _RANDOM_LIKE


class _ShapesOnly(TorchFunctionMode):
    """Tensor factories make meta tensors; ``torch.nn.init``'s initialisers return their tensor as
    it is. A function mode lives on this thread's mode stack only, so other threads are untouched."""

    factories = None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if getattr(func, "__module__", None) == "torch.nn.init":
            return args[0] if args else kwargs.get("tensor")
        if func in _RANDOM:  # random values on meta take the same Python kernels: an empty tensor of that shape
            func = torch.empty_like if func in _RANDOM_LIKE else torch.empty
            kwargs.pop("generator", None)
        if _ShapesOnly.factories is None:
            _ShapesOnly.factories = _factories()
        if func in _ShapesOnly.factories and kwargs.get("device") is None:
            kwargs["device"] = "meta"
        return func(*args, **kwargs)


def meta_shell(cls, *args, **kwargs) -> torch.nn.Module:
    """``cls(*args, **kwargs)`` with every parameter and buffer on the meta device (shapes and
    dtypes only, no memory, no initial values)."""
    with _ShapesOnly():
        return cls(*args, **kwargs)
