"""Lazy package attributes (PEP 562): a name's module is imported on first use.

So ``import tomopy_dl`` and ``tomopy-dl --help`` do not load torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable


def attach(package: str, names: dict[str, str]) -> tuple[Callable, Callable, list[str]]:
    """``__getattr__``, ``__dir__`` and ``__all__`` for ``package``.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    names : dict
        Public name -> the module (relative to ``package``) that defines it.
    """

    def __getattr__(name: str):
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(names[name], package), name)
        # Cache it, so the next access is a plain attribute lookup.
        setattr(importlib.import_module(package), name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(names) | set(vars(importlib.import_module(package))))

    return __getattr__, __dir__, list(names)
