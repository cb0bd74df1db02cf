"""``tomopy.recon`` for our algorithms, without TomoPy installed."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..solvers.table import ALGORITHMS
from ..util.validation import as_angles, as_centers, as_choice, as_float32_array, as_positive_int
from .contract import CALLABLES

__all__ = ["recon", "ganrec_filler"]


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
    data, angles, centers, (ngx, ngy) = _checked_scan(tomo, theta, center, sinogram_order, num_gridx, num_gridy)
    data = np.ascontiguousarray(data)
    n_slices = data.shape[0]

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


def ganrec_filler(
    tomo,
    theta,
    center=None,
    *,
    sinogram_order: bool = False,
    num_gridx: int | None = None,
    num_gridy: int | None = None,
    device=None,
    projector: str = "auto",
    path=None,
    **kwargs,
):
    """Train GANrec ``mode='volume'``'s network once for a volume, to apply to all its chunks.

    ``tomopy.recon`` hands an algorithm the volume in chunks (``ncore``,
    ``nchunk``), and ``mode='volume'`` alone would train a network in each.
    Train one here, on up to :data:`~tomopy_dl.solvers.wedge_fill.SAMPLE`
    slices spread over ``tomo`` (its held-out check included), and pass it
    (or the file ``path``) as ``filler=`` to every call: the chunks then only
    apply it, or, where the check declined it, reconstruct the classical
    start without training anything.

    Parameters
    ----------
    tomo : ndarray, shape (nangles, nslices, ndet)
        Projections (line integrals); ``(nslices, nangles, ndet)`` with
        ``sinogram_order=True``.
    theta : array_like, shape (nangles,)
        Projection angles in radians.
    center : float or array_like of shape (nslices,), optional
        Rotation centre in detector pixels (``ndet / 2`` by default); the
        sample is reconstructed about the mean of its slices' centres.
    num_gridx, num_gridy : int, optional
        Grid of the sample's reconstructions (``ndet``).
    device, projector : optional
        As for :func:`recon`.
    path : str or path-like, optional
        Also save the network there (:meth:`~tomopy_dl.solvers.wedge_fill.Filler.save`).
    **kwargs
        Keywords of :func:`~tomopy_dl.solvers.gan.volume_filler`:
        ``num_iter`` (training steps), ``tune``, ``seed``, ``progress`` and
        the start's settings.

    Returns
    -------
    Filler
        For ``recon(..., algorithm='ganrec', mode='volume', filler=...)``
        (and ``tomopy.recon``, the same way).

    Examples
    --------
    >>> import numpy as np
    >>> from tomopy_dl import recon
    >>> from tomopy_dl.sim import make_object, project
    >>> theta = np.deg2rad(np.arange(0, 120, 4.0)).astype(np.float32)
    >>> proj = project(make_object("porous", 24, 4, seed=1), theta, pad=False)
    >>> f = ganrec_filler(proj, theta, num_iter=3, tune="off", init_iter=5, dc_iter=2, progress=False)
    >>> recon(proj[:, :2], theta, algorithm="ganrec", mode="volume", filler=f, progress=False).shape
    (2, 24, 24)
    """
    import torch

    from ..physics import get_projector
    from ..solvers.gan import volume_filler
    from ..solvers.wedge_fill import sample_slices
    from ..util.device import resolve_device

    data, angles, centers, (ngx, ngy) = _checked_scan(tomo, theta, center, sinogram_order, num_gridx, num_gridy)
    picks = sample_slices(data.shape[0])  # only these are copied, not the volume
    dev = resolve_device(device)
    op = get_projector(angles, data.shape[2], ngx, ngy, center=float(centers[picks].mean()), device=dev,
                       projector=projector)  # fmt: skip
    filler = volume_filler(torch.from_numpy(np.ascontiguousarray(data[picks])).to(dev), op, **kwargs)
    if path is not None:
        filler.save(path)
    return filler


def _checked_scan(tomo, theta, center, sinogram_order: bool, num_gridx, num_gridy):
    """TomoPy's arguments checked: sinograms (nslices, nangles, ndet) (a view), angles, centres, the grid."""
    data = as_float32_array(tomo, "tomo", 3)
    if not sinogram_order:
        data = np.swapaxes(data, 0, 1)
    n_slices, n_ang, n_det = data.shape
    angles = as_angles(theta, n_proj=n_ang)
    centers = as_centers(center, n_slices, n_det, on_detector=True)
    ngx = n_det if num_gridx is None else as_positive_int(num_gridx, "num_gridx")
    ngy = n_det if num_gridy is None else as_positive_int(num_gridy, "num_gridy")
    return data, angles, centers, (ngx, ngy)
