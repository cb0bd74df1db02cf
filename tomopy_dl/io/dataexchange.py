"""Data Exchange (APS HDF5) input through dxchange."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import numpy as np

__all__ = ["read_raw", "projections_shape", "import_dxchange"]

logger = logging.getLogger(__name__)


def import_dxchange():
    """The dxchange module, or an ImportError that says how to get it."""
    try:
        import dxchange
    except ImportError as exc:
        raise ImportError(
            "dxchange is not importable. Run scripts/install-dxchange.sh (Debian's python3-dxchange) after "
            "pip install 'tomopy-dl[dxchange]', or conda install -c conda-forge dxchange. "
            "Do not pip install dxchange: that PyPI name is an unrelated package."
        ) from exc
    return dxchange


def projections_shape(path: str | os.PathLike) -> tuple[int, int, int]:
    """``(nangles, rows, cols)`` of a Data Exchange file's ``/exchange/data``, read from its metadata.

    Raises
    ------
    FileNotFoundError
        For a missing file.
    ValueError
        For a file that is not HDF5 or lacks a Data Exchange dataset.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"input file {str(path)!r} does not exist")
    import h5py

    try:
        with h5py.File(path, "r") as f:
            missing = [k for k in ("exchange/data", "exchange/data_white", "exchange/data_dark") if k not in f]
            shape = f["exchange/data"].shape if "exchange/data" in f else None
    except OSError as exc:
        raise ValueError(f"{str(path)!r} is not a readable HDF5 file: {exc}") from exc
    if missing:
        raise ValueError(f"{str(path)!r} lacks the Data Exchange dataset(s) {', '.join('/' + m for m in missing)}")
    if len(shape) != 3:
        raise ValueError(f"{str(path)!r}: /exchange/data must be 3D (angles, rows, cols), got shape {shape}")
    return tuple(int(n) for n in shape)


def read_raw(
    path: str | os.PathLike,
    *,
    slices: tuple[int, int] | None = None,
    angles: tuple[float, float] | None = None,
    theta_range: tuple[float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Read a Data Exchange file as it is: projections, flats, darks and angles.

    Normalising is the pipeline's business (:func:`tomopy_dl.pipeline.read_projections`).

    Parameters
    ----------
    path : str or path-like
        An HDF5 file with ``/exchange/data``, ``data_white``, ``data_dark``
        and ``theta`` (degrees), as APS beamlines write them.
    slices : (int, int), optional
        Detector rows ``[start, stop)`` to read; all by default.
    angles : (float, float), optional
        Keep projections whose angle in degrees lies in ``[lo, hi]``; for
        instance ``(0, 120)`` cuts a missing wedge.
    theta_range : (float, float), optional
        The scan's first and last angle in degrees: the projections are taken
        as evenly spaced from one to the other, both included, whatever the
        file holds. Without it, a file with no ``/exchange/theta`` gets
        dxchange's 0-180 degrees, with a warning.

    Returns
    -------
    tomo : ndarray, shape (nangles, rows, cols)
        Raw projections, as stored.
    flat, dark : ndarray, shape (nflat, rows, cols), (ndark, rows, cols)
        Flat (white) and dark fields, as stored.
    theta : ndarray of float32, shape (nangles,)
        Angles in radians.

    Raises
    ------
    FileNotFoundError
        For a missing file.
    ValueError
        For a missing dataset or a range that selects nothing.
    """
    shape = projections_shape(path)
    if slices is not None:
        lo, hi = int(slices[0]), int(slices[1])
        if not 0 <= lo < hi <= shape[1]:
            raise ValueError(
                f"slices {lo}:{hi} is outside the detector's {shape[1]} rows; pass 0 <= start < stop <= {shape[1]}"
            )
        slices = (lo, hi)
    dxchange = import_dxchange()
    tomo, flat, dark, theta = dxchange.read_aps_32id(str(path), sino=slices)
    if theta_range is not None:
        theta = np.deg2rad(np.linspace(float(theta_range[0]), float(theta_range[1]), tomo.shape[0]))
    else:
        import h5py

        with h5py.File(path, "r") as f:
            has_theta = "exchange/theta" in f
        if not has_theta:
            warnings.warn(
                f"{str(path)!r} has no /exchange/theta: its {tomo.shape[0]} projections are taken as evenly "
                "spaced over 0-180 degrees (dxchange's guess); pass theta_range (--theta-range START:STOP) to say",
                UserWarning,
                stacklevel=2,
            )
    theta = np.asarray(theta, dtype=np.float32)
    if theta.size != tomo.shape[0]:
        raise ValueError(f"{str(path)!r} has {theta.size} angles for {tomo.shape[0]} projections")
    if angles is not None:
        deg = np.rad2deg(theta.astype(np.float64))
        keep = (deg >= angles[0] - 1e-3) & (deg <= angles[1] + 1e-3)  # float32 radians round-trip
        if keep.sum() < 2:
            raise ValueError(
                f"angles {angles[0]}:{angles[1]} keeps {int(keep.sum())} projection(s); the file covers "
                f"{deg.min():.1f} to {deg.max():.1f} degrees"
            )
        tomo, theta = tomo[keep], theta[keep]
    logger.debug("read %s: %d projections of %dx%d", path, *tomo.shape)
    return tomo, flat, dark, theta
