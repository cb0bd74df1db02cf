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

import logging
import math
import warnings
from collections.abc import Callable

import numpy as np
import torch

from ..physics import get_projector, slices_by_center, slices_per_batch
from ..solvers.table import ALGORITHMS, COMMON, Algorithm, Keyword
from ..util.device import device_lock, resolve_device
from ..util.validation import as_angles, as_centers, as_choice, as_float32_array, as_positive_int

__all__ = ["tomopy_algorithm", "fbp", "sirt", "mlem", "mbir", "tv", "ganrec", "CALLABLES"]

logger = logging.getLogger(__name__)

# Keywords every algorithm understands, beyond its table entry's own: TomoPy's, and the
# table's COMMON ones (coerced by the table like the algorithm's own).
_COMMON = ("num_gridx", "num_gridy", "options", "device", "progress")
_RUN = {k.name: k for k in COMMON}


def _plain(value):
    """Undo TomoPy's string path, which wraps keyword values in numpy arrays."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value.item()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _coerce(k: Keyword, value):
    """``value`` as the table's kind for ``k``, within the table's bounds; a one-line error otherwise."""
    if k.kind is int:
        return as_positive_int(value, k.name, minimum=int(k.minimum or 0))
    if k.kind is bool:
        if not isinstance(value, (bool, int)):
            raise TypeError(f"{k.name} must be True or False, got {value!r}")
        return bool(value)
    if k.kind is float:
        if isinstance(value, str) and value == k.default:  # e.g. tv's reg_par='auto'
            return value
        if isinstance(value, (str, bool)):
            raise TypeError(f"{k.name} must be a number, got {value!r}")
        if isinstance(value, (int, float)):
            if math.isnan(value) or (k.minimum is not None and value < k.minimum):
                bound = "" if k.minimum is None else f" >= {k.minimum:g}"
                raise ValueError(f"{k.name} must be a number{bound}, got {value!r}")
            return value
        return value  # one value per slice: the solver checks it
    if k.choices is not None:
        return as_choice(value.lower() if isinstance(value, str) else value, k.name, k.choices)
    return value


def tomopy_algorithm(spec: Algorithm) -> Callable:
    """Wrap the solver of a table entry as a TomoPy recon algorithm.

    Parameters
    ----------
    spec : Algorithm
        An entry of :data:`tomopy_dl.solvers.table.ALGORITHMS`: its keywords
        become the algorithm's keywords, checked against their kinds and
        bounds. A solver with an ``init`` parameter receives ``recon``'s
        content, which is TomoPy's ``init_recon``.

    Returns
    -------
    callable
        ``f(tomo, center, recon, theta, **kwargs)`` filling ``recon`` in place.
    """
    keywords = {k.name: k for k in spec.keywords}
    name = spec.name

    def algorithm(tomo, center, recon, theta, **kwargs) -> None:
        sino, out, angles, centers = _checked_contract(tomo, center, recon, theta, kwargs)
        params, run = _sorted_keywords(name, keywords, kwargs)
        dev = resolve_device(_plain(kwargs.get("device")))
        with device_lock(dev), torch.no_grad():
            _solve_slices(spec, sino, out, angles, centers, params, run["projector"], dev)
        logger.debug("tomopy_dl.%s: %d slice(s), %d angles, grid %dx%d on %s", name, *sino.shape[:2],
                     *out.shape[1:], dev)  # fmt: skip

    algorithm.__name__ = algorithm.__qualname__ = name
    algorithm.__module__ = "tomopy_dl"
    algorithm.__doc__ = _docstring(spec)
    algorithm.spec = spec
    return algorithm


def _checked_contract(tomo, center, recon, theta, kwargs: dict):
    """TomoPy's arguments checked: ``(sino (k, nangles, ndet), out (k, gx, gy) view of recon, angles, centers)``."""
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
    for key, size in (("num_gridx", out.shape[1]), ("num_gridy", out.shape[2])):
        if kwargs.get(key) is not None and as_positive_int(kwargs[key], key) != size:
            raise ValueError(f"{key}={_plain(kwargs[key])} does not match recon's shape {recon.shape}")
    return sino, out, angles, centers


def _sorted_keywords(name: str, keywords: dict, kwargs: dict) -> tuple[dict, dict]:
    """The solver's keywords and the run's (``projector``), checked; unknown ones warned about."""
    params = {}
    run = {k.name: k.default for k in COMMON}
    unknown = []
    for key, value in kwargs.items():
        value = _plain(value)
        if key in _RUN:
            if value is not None:
                run[key] = _coerce(_RUN[key], value)
        elif key in keywords:
            if value is not None:  # None means the table's default
                params[key] = _coerce(keywords[key], value)
        elif (key == "options" and value) or (key != "options" and key not in _COMMON):
            unknown.append(key)
    if unknown:
        warnings.warn(f"tomopy_dl.{name} ignores keyword(s) {sorted(unknown)}; it takes {sorted([*keywords, *_RUN])}",
                      stacklevel=3)  # fmt: skip
    if "progress" in keywords:
        # Called through TomoPy or recon, a bar is shown unless asked otherwise.
        params["progress"] = bool(_plain(kwargs.get("progress", True)))
    return params, run


def _solve_slices(spec: Algorithm, sino, out, angles, centers, params: dict, projector: str, dev) -> None:
    """Each batch of slices that share a centre through the solver, into ``out``."""
    ngx, ngy = out.shape[1:]
    n_ang, n_det = sino.shape[1:]
    solver = spec.load()
    batch = slices_per_batch((ngx, ngy), (n_ang, n_det))
    for c, part in slices_by_center(centers, batch):
        op = get_projector(angles, n_det, ngx, ngy, center=c, device=dev, projector=projector)
        y = torch.from_numpy(sino[part]).to(dev)
        if spec.takes_init:
            init = torch.from_numpy(np.array(out[part], dtype=np.float32)).to(dev)
            result = solver(y, op, init=init, **params)
        else:
            result = solver(y, op, **params)
        out[part] = result.cpu().numpy()


def _docstring(spec: Algorithm) -> str:
    """The callable's numpydoc docstring, its keywords read from the table."""
    name = spec.name
    # The callable shows a bar unless asked otherwise (see above), unlike the bare solver.
    shown = {k.name: (True if k.name == "progress" else k.default) for k in spec.keywords}
    shown.update({k.name: k.default for k in COMMON})
    listed = "\n".join(
        f"{k.name} : {k.kind.__name__}, default {shown[k.name]!r}\n    {k.help}" for k in (*spec.keywords, *COMMON)
    )
    takes_iterations = any(k.name == "num_iter" for k in spec.keywords)
    return (
        f"TomoPy algorithm: {spec.summary} (:func:`{spec.solver.replace(':', '.')}`).\n\n"
        f"Use as ``tomopy.recon(proj, theta, center=c, algorithm=tomopy_dl.{name}, ...)`` or\n"
        f"``tomopy_dl.recon(proj, theta, algorithm='{name}', ...)``. Fills ``recon`` in place;\n"
        f"the caller's ``tomo`` is not modified.\n\n"
        f"Parameters\n----------\ntomo : ndarray of float32, shape (k, nangles, ndet)\n    Sinograms.\n"
        f"center : ndarray of float32, shape (k,)\n    Rotation axis of each, in detector pixels.\n"
        f"recon : ndarray of float32, shape (k, num_gridx, num_gridy)\n    Filled in place.\n"
        f"theta : ndarray of float32, shape (nangles,)\n    Angles in radians.\n\n"
        f"Other Parameters\n----------------\n{listed}\ndevice : str, default None\n    'cpu', 'cuda' or 'gpu' "
        f"(None: CUDA when available)\n\n"
        f"Examples\n--------\n"
        f">>> import numpy as np, tomopy_dl\n"
        f">>> theta = np.linspace(0, np.pi, 30, endpoint=False).astype(np.float32)\n"
        f">>> tomo = np.ones((1, 30, 24), np.float32)  # sinograms (k, nangles, ndet)\n"
        f">>> recon = np.full((1, 16, 16), 1e-6, np.float32)\n"
        f">>> tomopy_dl.{name}(tomo, np.float32([12.0]), recon, theta, num_gridx=16, num_gridy=16,\n"
        f"...                  options={{}}, progress=False{', num_iter=2' if takes_iterations else ''})\n"
        f">>> bool(recon.std() > 0)\n"
        f"True\n"
    )


#: The TomoPy callables by name, one per entry of the table.
CALLABLES: dict[str, Callable] = {name: tomopy_algorithm(spec) for name, spec in ALGORITHMS.items()}
fbp, sirt, mlem, mbir, tv, ganrec = (CALLABLES[n] for n in ("fbp", "sirt", "mlem", "mbir", "tv", "ganrec"))
