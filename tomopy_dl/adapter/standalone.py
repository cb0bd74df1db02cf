"""``tomopy.recon`` for our algorithms, without TomoPy installed."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..solvers.table import ALGORITHMS
from ..util.validation import as_angles, as_centers, as_choice, as_float32_array, as_positive_int
from .contract import CALLABLES

__all__ = ["recon"]


def recon(
    tomo,
    theta,
    center=None,
    *,
    sinogram_order: bool = False,
    algorithm: str | Callable = "sirt",
    num_gridx: int | None = None,
    num_gridy: int | None = None,
    init_recon=None,
    **kwargs,
) -> np.ndarray:
    """Reconstruct a volume from projections, with ``tomopy.recon``'s shapes and defaults.

    The algorithm is called exactly as ``tomopy.recon`` calls it, so a result
    here equals ``tomopy.recon(..., algorithm=tomopy_dl.<name>)``.

    Parameters
    ----------
    tomo : ndarray, shape (nangles, nslices, ndet)
        Projections (line integrals); ``(nslices, nangles, ndet)`` with
        ``sinogram_order=True``.
    theta : array_like, shape (nangles,)
        Projection angles in radians.
    center : float or array_like of shape (nslices,), optional
        Rotation centre in detector pixels; ``ndet / 2`` by default.
    sinogram_order : bool, optional
        Whether ``tomo`` is a stack of sinograms.
    algorithm : str or callable, optional
        A name of :data:`tomopy_dl.solvers.table.ALGORITHMS` (``'fbp'``,
        ``'sirt'`` (default), ``'mlem'``, ``'tv'``, ``'ganrec'``), or any
        callable following TomoPy's algorithm contract.
    num_gridx, num_gridy : int, optional
        Reconstruction grid; ``ndet`` by default.
    init_recon : ndarray, shape (nslices, num_gridx, num_gridy), optional
        Starting image for iterative algorithms; 1e-6 everywhere by default,
        as in TomoPy.
    **kwargs
        Passed on to the algorithm, e.g. ``num_iter``, ``filter_name``,
        ``device``, ``progress``.

    Returns
    -------
    ndarray of float32, shape (nslices, num_gridx, num_gridy)

    Raises
    ------
    ValueError
        For data that is not 3D, empty or non-finite, a mismatch between
        ``theta`` and the number of projections, a bad centre or an unknown
        algorithm name.

    Examples
    --------
    >>> import numpy as np
    >>> from tomopy_dl.sim import project, shepp_logan
    >>> theta = np.deg2rad(np.arange(0, 180, 3.0)).astype(np.float32)
    >>> proj = project(shepp_logan(32)[None], theta, pad=False)
    >>> rec = recon(proj, theta, algorithm="sirt", num_iter=20, progress=False)
    >>> rec.shape
    (1, 32, 32)
    """
    data = as_float32_array(tomo, "tomo", 3)
    if not sinogram_order:
        data = np.ascontiguousarray(np.swapaxes(data, 0, 1))
    n_slices, n_ang, n_det = data.shape
    angles = as_angles(theta, n_proj=n_ang)
    centers = as_centers(center, n_slices, n_det, on_detector=True)
    ngx = n_det if num_gridx is None else as_positive_int(num_gridx, "num_gridx")
    ngy = n_det if num_gridy is None else as_positive_int(num_gridy, "num_gridy")

    if isinstance(algorithm, str):
        try:
            func = CALLABLES[as_choice(algorithm.lower(), "algorithm", tuple(ALGORITHMS))]
        except ValueError as exc:
            raise ValueError(f"{exc}; or pass a callable") from None
    elif callable(algorithm):
        func = algorithm
    else:
        raise TypeError(f"algorithm must be a name or a callable, got {type(algorithm).__name__}")

    if init_recon is None:
        out = np.full((n_slices, ngx, ngy), 1e-6, dtype=np.float32)
    else:
        out = as_float32_array(init_recon, "init_recon", 3)
        if out.shape != (n_slices, ngx, ngy):
            raise ValueError(f"init_recon must have shape {(n_slices, ngx, ngy)}, got {out.shape}")
    func(data, centers, out, angles, num_gridx=ngx, num_gridy=ngy, options={}, **kwargs)
    return out
