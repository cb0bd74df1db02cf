"""String algorithm names for an installed TomoPy.

TomoPy resolves ``algorithm='name'`` by looking ``name`` up in
``tomopy.recon.algorithm.allowed_recon_kwargs`` (the keywords it lets through)
and calling ``tomopy.util.extern.c_<name>``. Registering adds both.

Only names TomoPy does not already own are registered (``'ganrec'``):
``'fbp'``, ``'sirt'`` and ``'mlem'`` stay TomoPy's own; ours are passed as
callables, ``algorithm=tomopy_dl.sirt``. On the string path TomoPy accepts
only ``num_gridx``, ``num_gridy``, ``num_iter`` and ``device``; the callable
``algorithm=tomopy_dl.ganrec`` takes every GANrec keyword.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import logging
import sys
import threading
from collections.abc import Callable

__all__ = ["register", "register_when_imported", "STRING_ALGORITHMS"]

logger = logging.getLogger(__name__)

#: name -> (TomoPy-contract callable, keywords TomoPy may pass through).
#: Every keyword listed must also be in TomoPy's own default table
#: (``num_gridx``, ``num_gridy``, ``num_iter``, ``reg_par``, ``device``, ...),
#: because TomoPy fills each listed keyword from that table.
STRING_ALGORITHMS: dict[str, tuple[Callable, list[str]]] = {}


def _string_ganrec(tomo, center, recon, theta, **kwargs):
    """``tomopy_dl.ganrec`` for TomoPy's string path, loaded on the first call.

    TomoPy passes ``num_iter=dtype.as_int32(1)``, a 0-d int32 array, whenever
    the user gave none: one iteration is meaningless for GANrec, so that exact
    value means "use our default". A user's own ``num_iter=1`` arrives as a
    plain int converted by ``np.array`` (int64) and is kept.
    """
    import numpy as np

    from .contract import ganrec  # torch loads here, not at ``import tomopy_dl``

    n = kwargs.get("num_iter")
    if isinstance(n, np.ndarray) and n.dtype == np.int32 and n.ndim == 0 and int(n) == 1:
        del kwargs["num_iter"]
    return ganrec(tomo, center, recon, theta, **kwargs)


_string_ganrec.__name__ = _string_ganrec.__qualname__ = "ganrec"
STRING_ALGORITHMS["ganrec"] = (_string_ganrec, ["num_gridx", "num_gridy", "num_iter", "device"])

_LOCK = threading.Lock()


def register() -> list[str]:
    """Make our string algorithm names known to an installed TomoPy.

    Idempotent, and a silent no-op (returning ``[]``) when TomoPy is not
    importable. It imports TomoPy: ``import tomopy_dl`` calls
    :func:`register_when_imported` instead, which calls this when TomoPy is imported.

    Returns
    -------
    list of str
        The names now registered.

    Examples
    --------
    >>> names = register()  # ['ganrec'] with TomoPy installed, [] without
    >>> set(names) <= {"ganrec"}
    True
    """
    if not STRING_ALGORITHMS or importlib.util.find_spec("tomopy") is None:
        return []
    try:
        algorithm_module = importlib.import_module("tomopy.recon.algorithm")
        extern = importlib.import_module("tomopy.util.extern")
    except Exception as exc:  # a broken TomoPy must not break our import
        logger.debug("TomoPy found but not importable (%s); no names registered", exc)
        return []
    with _LOCK:
        for name, (func, allowed) in STRING_ALGORITHMS.items():
            algorithm_module.allowed_recon_kwargs[name] = list(allowed)
            setattr(extern, "c_" + name, func)
    return sorted(STRING_ALGORITHMS)


#: The module whose import means TomoPy's table of string algorithms exists.
_TABLE_MODULE = "tomopy.recon.algorithm"


class _CallAfterImport(importlib.abc.MetaPathFinder):
    """Calls ``callback(module)`` once ``target`` has been imported, by whatever import, then leaves.

    It finds nothing itself: it asks the finders after it for ``target``'s
    spec and wraps that spec's loader, so the module loads exactly as it
    would have, and the callback runs when it has.
    """

    def __init__(self, target: str, callback: Callable):
        self.target, self.callback = target, callback

    def find_spec(self, fullname, path, target=None):
        if fullname != self.target:
            return None
        for finder in [f for f in sys.meta_path if f is not self]:
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find is not None else None
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _ThenCall(spec.loader, self)
        return spec

    def done(self, module) -> None:
        try:
            sys.meta_path.remove(self)
        except ValueError:
            pass
        self.callback(module)


class _ThenCall(importlib.abc.Loader):
    """A loader that is ``loader`` and then calls its finder's ``done``."""

    def __init__(self, loader, finder: _CallAfterImport):
        self._loader, self._finder = loader, finder

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        self._loader.exec_module(module)
        self._finder.done(module)

    def __getattr__(self, name: str):  # get_code, get_resource_reader, ...: the loader's own
        return getattr(self._loader, name)


def register_when_imported() -> str:
    """Register our string names now if TomoPy is imported, or the moment it is.

    ``import tomopy_dl`` calls this instead of importing TomoPy (2 s of
    scipy and friends): with TomoPy already imported the names are added at
    once; with TomoPy installed but not imported, an import hook adds them
    right after ``tomopy.recon.algorithm`` loads, and removes itself;
    without TomoPy, nothing happens.

    Returns
    -------
    str
        ``'registered'``, ``'on import'`` or ``'no tomopy'``.
    """
    if _TABLE_MODULE in sys.modules:
        register()
        return "registered"
    if importlib.util.find_spec("tomopy") is None:  # looks on the path; imports nothing
        return "no tomopy"
    with _LOCK:
        if not any(isinstance(f, _CallAfterImport) and f.target == _TABLE_MODULE for f in sys.meta_path):
            sys.meta_path.insert(0, _CallAfterImport(_TABLE_MODULE, lambda module: register()))
    return "on import"
