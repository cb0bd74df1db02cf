"""The projector backends, in one table, and the cached way to get one.

Adding a backend: write its class (a :class:`~tomopy_dl.physics.operator.ProjectorBase`
with ``forward`` and ``adjoint``) in its own module, and add a row to
:data:`PROJECTORS`. Everything else (the ``projector=`` keyword of every
algorithm, the command line's ``--projector``, :meth:`restrict`) reads this
table.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .geometry import default_center

if TYPE_CHECKING:  # torch loads only when a projector is built: the algorithm table reads this module
    from .operator import Projector

__all__ = [
    "Backend",
    "PROJECTORS",
    "PROJECTOR_CHOICES",
    "choose_projector",
    "get_projector",
    "clear_projector_cache",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backend:
    """A projector backend: its class (``module:Class``, imported on first use), what it is, and its preset keywords.

    ``options`` are the class's keywords this row fixes (a caller's own
    keywords override them), so one class can serve as several backends.
    """

    name: str
    cls: str
    summary: str
    options: tuple[tuple[str, object], ...] = ()

    def load(self) -> type:
        module, _, name = self.cls.partition(":")
        return getattr(importlib.import_module(module), name)


#: The projector backends by name.
PROJECTORS: dict[str, Backend] = {
    b.name: b
    for b in (
        Backend(
            "siddon",
            "tomopy_dl.physics.projector:ParallelBeamProjector",
            "TomoPy's exact ray-pixel intersection lengths (sparse matrix or matrix-free)",
        ),
        Backend(
            "fourier",
            "tomopy_dl.physics.fourier:FourierProjector",
            "Fourier-slice theorem by non-uniform FFTs (ducc0), O(n^2 log n)",
        ),
        Backend(
            "fourier-rays",
            "tomopy_dl.physics.fourier:FourierProjector",
            "TomoPy's rays by the Fourier-slice theorem: 32 bands of aliases folded in, within 1e-3 of tomopy.project",
            # Measured on TomoPy's 64^3 fixtures: 5.9e-4 to 7.3e-4 relative L2 (16 folds unpruned: up to 8.2e-4 at 1.7
            # times the points); 3.1 s a forward + adjoint at 2048 x 1500 against 0.35 s for 'fourier' and 42.9 s for
            # Siddon's matrix-free path (2 cores, docs/tables/projector_rays.txt).
            options=(("aliases", 32), ("floor", 2e-3)),
        ),
    )
}

#: What ``projector=`` accepts.
PROJECTOR_CHOICES = ("auto", *PROJECTORS)

# 'auto' takes the Fourier projector on the CPU from this many image pixels
# times angles on: below it the Siddon matrix, built once and cached, is as
# fast per product and exact. Measured by benchmarks/projector.py (2 cores;
# docs/tables/projector.txt): see docs/geometry.rst, "Projectors".
_FOURIER_FROM = 256 * 256 * 256


def choose_projector(projector: str, theta, num_gridx: int, num_gridy: int, device) -> str:
    """The backend ``projector`` names, with ``'auto'`` resolved for this geometry.

    ``'auto'``: ``'fourier'`` on the CPU when ``num_gridx * num_gridy *
    nangles`` reaches ``256^3``, where it is the faster (counting the Siddon
    matrix's build), else ``'siddon'``. On CUDA ``'siddon'``: the Fourier
    projector runs there too (torch's own NUFFT, on the device), but its
    speed on a GPU has not been measured against Siddon's.

    Examples
    --------
    >>> import numpy as np
    >>> choose_projector("auto", np.zeros(1500), 2048, 2048, "cpu")
    'fourier'
    >>> choose_projector("auto", np.zeros(180), 128, 128, "cpu")
    'siddon'
    """
    from ..util.device import resolve_device

    name = str(projector).lower()
    if name not in PROJECTOR_CHOICES:
        raise ValueError(f"projector must be one of {', '.join(map(repr, PROJECTOR_CHOICES))}; got {projector!r}")
    if name != "auto":
        return name
    size = int(num_gridx) * int(num_gridy) * int(np.size(theta))
    return "fourier" if resolve_device(device).type == "cpu" and size >= _FOURIER_FROM else "siddon"


_CACHE: OrderedDict[tuple, Projector] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 8
_LOGGED: set[tuple] = set()


def get_projector(
    theta,
    n_det: int,
    num_gridx: int,
    num_gridy: int,
    center: float | None = None,
    device=None,
    *,
    projector: str = "auto",
    **options,
) -> Projector:
    """A cached projector for this geometry.

    Building a projector (a sparse matrix, NUFFT plans) costs far more than
    applying it, and a volume reuses one geometry for every slice, so the
    last few geometries are kept. Safe to use from several threads at once.

    Parameters
    ----------
    theta : array_like, shape (nangles,)
        Angles in radians.
    n_det, num_gridx, num_gridy : int
        Detector pixels; the image grid.
    center : float, optional
        Rotation centre in detector pixels; ``n_det / 2`` by default.
    device : None, str or torch.device
    projector : str
        A key of :data:`PROJECTORS`, or ``'auto'`` (:func:`choose_projector`).
    **options
        The backend's own keywords (Siddon: ``method``, ``memory_budget``,
        ``forward_only``; Fourier: ``aliases``, ``floor``, ``eps``). Options of the
        other backend are dropped, so one call serves both.

    Examples
    --------
    >>> import numpy as np
    >>> theta = np.linspace(0, np.pi, 8, endpoint=False)
    >>> get_projector(theta, 12, 8, 8) is get_projector(theta, 12, 8, 8)  # cached per geometry
    True
    >>> get_projector(theta, 12, 8, 8, projector="fourier").name
    'fourier'
    """
    from ..util.device import resolve_device

    dev = resolve_device(device)
    theta32 = np.ascontiguousarray(np.asarray(theta, dtype=np.float32).ravel())
    name = choose_projector(projector, theta32, num_gridx, num_gridy, dev)
    backend = PROJECTORS[name]
    cls = backend.load()
    accepted = cls.__init__.__kwdefaults__ or {}
    kept = {k: v for k, v in {**dict(backend.options), **options}.items() if k in accepted}
    if name == "siddon" and kept.get("method", "auto") == "auto" and kept.get("memory_budget") is None:
        from .projector import memory_budget  # resolved now so that a changed budget is a new key

        kept["memory_budget"] = memory_budget()
    c = np.float32(default_center(n_det) if center is None else center)
    key = (hashlib.sha1(theta32.tobytes()).hexdigest(), theta32.size, int(n_det), int(num_gridx), int(num_gridy),
           float(c), str(dev), name, tuple(sorted(kept.items())))  # fmt: skip
    with _CACHE_LOCK:
        op = _CACHE.get(key)
        if op is not None:
            _CACHE.move_to_end(key)
            return op
        if str(projector).lower() == "auto" and key[2:8] not in _LOGGED:
            _LOGGED.add(key[2:8])
            logger.info("projector='auto': %s for %d angles x %d rays onto %dx%d on %s",
                        name, theta32.size, n_det, num_gridx, num_gridy, dev)  # fmt: skip
        op = cls(theta32, n_det, num_gridx, num_gridy, center=float(c), device=dev, **kept)
        op.name = name  # the row's name: a class may serve several rows, and restrict() rebuilds by it
        _CACHE[key] = op
        _evict(getattr(op, "matrix_bytes", 0), kept.get("memory_budget"))
        return op


def _evict(newest_bytes: int, budget) -> None:
    """Drop the oldest entries past the cache's size, or while the stored matrices exceed the budget.

    The newest entry always stays; matrix-free and Fourier entries count as no matrix.
    """
    from .projector import DEFAULT_MEMORY_BUDGET, _memory_budget

    held = lambda: sum(getattr(p, "matrix_bytes", 0) for p in _CACHE.values())  # noqa: E731
    limit = max(_memory_budget(budget) if budget is not None else DEFAULT_MEMORY_BUDGET, newest_bytes)
    while len(_CACHE) > _CACHE_SIZE or (len(_CACHE) > 1 and held() > limit):
        _CACHE.popitem(last=False)


def clear_projector_cache() -> None:
    """Free every cached projector (their matrices and plans can be large)."""
    with _CACHE_LOCK:
        _CACHE.clear()
