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
import importlib.util
import logging
import threading
from collections.abc import Callable

__all__ = ["register", "STRING_ALGORITHMS"]

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
    importable. Called by ``import tomopy_dl``.

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
