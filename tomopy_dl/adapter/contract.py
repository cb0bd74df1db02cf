"""Turn a solver into a callable that obeys TomoPy's recon contract.

TomoPy 1.15 calls ``algorithm(tomo, center, recon, theta, **kwargs)`` with

* ``tomo``: float32, C-contiguous sinograms ``(k, nangles, ndet)``, or one
  2D sinogram when ``nchunk=0``;
* ``center``: float32 ``(k,)``;
* ``recon``: a float32 view ``(k, num_gridx, num_gridy)`` prefilled with 1e-6
  (or the user's ``init_recon``), to be filled in place;
* ``theta``: float32 radians;
* ``kwargs``: ``num_gridx``, ``num_gridy``, ``options`` and every extra
  keyword the user passed, unchecked (numpy-wrapped on the string path).

With ``ncore > 1`` TomoPy makes these calls concurrently from threads.
"""

from __future__ import annotations

import inspect
import logging
import warnings
from typing import Callable

import numpy as np
import torch

from .. import solvers
from ..physics import get_projector, slices_by_center, slices_per_batch
from ..util.device import device_lock, resolve_device
from ..util.validation import as_angles, as_centers, as_float32_array, as_positive_int

__all__ = ["tomopy_algorithm", "fbp", "sirt", "mlem", "tv", "ganrec", "ALGORITHMS"]

logger = logging.getLogger(__name__)

# Keywords every algorithm understands, beyond its solver's own.
_COMMON = ("num_gridx", "num_gridy", "options", "device", "progress")


def _plain(value):
    """Undo TomoPy's string path, which wraps keyword values in numpy arrays."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value.item()
    if isinstance(value, np.generic):
        return value.item()
    return value


def tomopy_algorithm(solver: Callable, name: str) -> Callable:
    """Wrap ``solver`` as a TomoPy recon algorithm.

    Parameters
    ----------
    solver : callable
        ``solver(sino, op, [init,] **params) -> images`` on torch batches, as in
        :mod:`tomopy_dl.solvers`. Its keyword parameters become the
        algorithm's keywords; an ``init`` parameter receives ``recon``'s
        content, which is TomoPy's ``init_recon``.
    name : str
        The algorithm's name, used in messages and progress bars.

    Returns
    -------
    callable
        ``f(tomo, center, recon, theta, **kwargs)`` filling ``recon`` in place.
    """
    sig = inspect.signature(solver)
    takes_init = "init" in sig.parameters
    tunables = [p for p in list(sig.parameters)[2:] if p != "init"]
    takes_progress = "progress" in tunables

    def algorithm(tomo, center, recon, theta, **kwargs) -> None:
        if not isinstance(recon, np.ndarray) or recon.dtype != np.float32:
            raise TypeError(f"recon must be a float32 numpy array to fill in place, got {type(recon).__name__}")
        if not recon.flags.writeable:
            raise ValueError("recon is read-only; pass a writeable float32 array")
        sino = as_float32_array(tomo, "tomo", (2, 3))
        out = recon
        if sino.ndim == 2:  # nchunk=0: one sinogram, one image
            sino = sino[None]
            out = recon[None] if recon.ndim == 2 else recon
        if out.ndim != 3 or out.shape[0] != sino.shape[0]:
            raise ValueError(f"recon has shape {recon.shape}, which does not hold {sino.shape[0]} slice(s) of tomo")
        k, n_ang, n_det = sino.shape
        angles = as_angles(theta, n_proj=n_ang)
        centers = as_centers(center, k, n_det, on_detector=True)
        ngx, ngy = out.shape[1:]
        for key, size in (("num_gridx", ngx), ("num_gridy", ngy)):
            if kwargs.get(key) is not None and as_positive_int(kwargs[key], key) != size:
                raise ValueError(f"{key}={_plain(kwargs[key])} does not match recon's shape {recon.shape}")

        params = {}
        unknown = []
        for key, value in kwargs.items():
            value = _plain(value)
            if key in tunables:
                if value is not None:  # None means the solver's default (num_iter=None, seed=None, ...)
                    params[key] = value
            elif key == "options":
                if value:
                    unknown.append(key)
            elif key not in _COMMON:
                unknown.append(key)
        if unknown:
            warnings.warn(
                f"tomopy_dl.{name} ignores keyword(s) {sorted(unknown)}; it takes {sorted(tunables)}",
                stacklevel=2,
            )
        for key in ("num_iter", "warm_iter", "init_iter", "batch_size", "seed"):
            if params.get(key) is not None:
                params[key] = as_positive_int(params[key], key, minimum=1 if key in ("batch_size",) else 0)
        if takes_progress:
            params["progress"] = bool(_plain(kwargs.get("progress", True)))
        dev = resolve_device(_plain(kwargs.get("device")))

        with device_lock(dev), torch.no_grad():
            batch = slices_per_batch((ngx, ngy), (n_ang, n_det))
            for c, part in slices_by_center(centers, batch):
                op = get_projector(angles, n_det, ngx, ngy, center=c, device=dev)
                y = torch.from_numpy(sino[part]).to(dev)
                if takes_init:
                    init = torch.from_numpy(np.array(out[part], dtype=np.float32)).to(dev)
                    result = solver(y, op, init=init, **params)
                else:
                    result = solver(y, op, **params)
                out[part] = result.cpu().numpy()
        logger.debug("tomopy_dl.%s: %d slice(s), %d angles, grid %dx%d on %s", name, k, n_ang, ngx, ngy, dev)

    algorithm.__name__ = algorithm.__qualname__ = name
    algorithm.__module__ = "tomopy_dl"
    algorithm.__doc__ = (
        f"TomoPy algorithm running :func:`tomopy_dl.solvers.{solver.__name__}` on the exact projector.\n\n"
        f"Use as ``tomopy.recon(proj, theta, center=c, algorithm=tomopy_dl.{name}, ...)`` or\n"
        f"``tomopy_dl.recon(proj, theta, algorithm='{name}', ...)``.\n\n"
        f"Keywords: {', '.join(tunables)}, and ``device`` (None: CUDA when available).\n"
        f"Fills ``recon`` in place; the caller's ``tomo`` is not modified."
    )
    algorithm.solver = solver
    return algorithm


fbp = tomopy_algorithm(solvers.fbp, "fbp")
sirt = tomopy_algorithm(solvers.sirt, "sirt")
mlem = tomopy_algorithm(solvers.mlem, "mlem")
tv = tomopy_algorithm(solvers.tv, "tv")
ganrec = tomopy_algorithm(solvers.ganrec, "ganrec")

#: Our algorithms by name, for ``tomopy_dl.recon(..., algorithm='name')``.
ALGORITHMS: dict[str, Callable] = {"fbp": fbp, "sirt": sirt, "mlem": mlem, "tv": tv, "ganrec": ganrec}
