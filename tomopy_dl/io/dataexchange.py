"""Data Exchange (APS HDF5) input: through dxchange where it is installed, else h5py."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import numpy as np

__all__ = ["RawProjections", "read_raw", "projections_shape", "import_dxchange"]

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


def _dxchange_if_installed():
    """dxchange where it is importable (the reader TomoPy users have), else None: h5py reads the file."""
    try:
        return import_dxchange()
    except ImportError:
        return None


def _read_fields(path: str, slices: tuple[int, int] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Flats, darks (rows ``slices``) and angles in radians (None where the file has none), by h5py.

    What ``dxchange.read_aps_32id`` returns for them, for files that hold all three.
    """
    import h5py

    rows = slice(None) if slices is None else slice(*slices)
    with h5py.File(path, "r") as f:
        flat = f["exchange/data_white"][:, rows]
        dark = f["exchange/data_dark"][:, rows]
        theta = np.deg2rad(f["exchange/theta"][:]) if "exchange/theta" in f else None
    return flat, dark, theta


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
        f = h5py.File(path, "r")
    except OSError as exc:
        raise ValueError(f"{str(path)!r} is not a readable HDF5 file: {exc}") from exc
    with f:
        missing = [k for k in ("exchange/data", "exchange/data_white", "exchange/data_dark") if k not in f]
        shapes = {}
        for k in ("exchange/data", "exchange/data_white", "exchange/data_dark", "exchange/theta"):
            try:
                if k in f:
                    shapes[k] = f[k].shape
            except (KeyError, RuntimeError, OSError) as exc:  # a damaged object header or B-tree
                raise ValueError(f"{str(path)!r}: the dataset /{k} cannot be read ({exc}); the file is damaged") \
                    from None
        shape = shapes.get("exchange/data")
    if missing:
        raise ValueError(f"{str(path)!r} lacks the Data Exchange dataset(s) {', '.join('/' + m for m in missing)}")
    if len(shape) != 3:
        raise ValueError(f"{str(path)!r}: /exchange/data must be 3D (angles, rows, cols), got shape {shape}")
    for name in ("exchange/data_white", "exchange/data_dark"):  # a field of other rows would broadcast silently
        if len(shapes[name]) != 3 or shapes[name][1:] != shape[1:]:
            raise ValueError(
                f"{str(path)!r}: /{name} has frames of {' x '.join(map(str, shapes[name][1:]))} pixels, the "
                f"projections {shape[1]} x {shape[2]}; flats and darks must be taken with the same detector region"
            )
    return tuple(int(n) for n in shape)


class RawProjections:
    """A Data Exchange file's projections, read a block at a time; flats, darks and angles read once.

    Slicing reads only the projections asked for (``raw[10:20]``), so a scan
    far larger than memory can be worked through in blocks.

    Parameters
    ----------
    path : str or path-like
        An HDF5 file with ``/exchange/data``, ``data_white``, ``data_dark``
        and ``theta`` (degrees), as APS beamlines write them.
    slices : (int, int), optional
        Detector rows ``[start, stop)`` to read; all by default.
    theta_range : (float, float), optional
        The scan's first and last angle in degrees: the projections are taken
        as evenly spaced from one to the other, both included, whatever the
        file holds. Without it, a file with no ``/exchange/theta`` gets
        dxchange's 0-180 degrees, with a warning.

    Attributes
    ----------
    shape : (int, int, int)
        ``(nangles, rows, cols)`` of the selection.
    flat, dark : ndarray, shape (nflat, rows, cols), (ndark, rows, cols)
        Flat (white) and dark fields, as stored.
    theta : ndarray of float32, shape (nangles,)
        Angles in radians.

    Raises
    ------
    FileNotFoundError
        For a missing file.
    ValueError
        For a missing dataset, or rows outside the detector.

    Examples
    --------
    >>> from pathlib import Path
    >>> data = Path(__file__).resolve().parents[2] / "tests" / "data" / "tooth.h5"
    >>> raw = RawProjections(data, slices=(0, 1))
    >>> raw.shape, raw[:5].shape
    ((181, 1, 640), (5, 1, 640))
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        slices: tuple[int, int] | None = None,
        theta_range: tuple[float, float] | None = None,
    ):
        shape = projections_shape(path)
        if slices is not None:
            lo, hi = int(slices[0]), int(slices[1])
            if not 0 <= lo < hi <= shape[1]:
                raise ValueError(
                    f"slices {lo}:{hi} is outside the detector's {shape[1]} rows; pass 0 <= start < stop <= {shape[1]}"
                )
            slices = (lo, hi)
        self.path, self._sino = str(path), slices
        self._dxchange = _dxchange_if_installed()
        if self._dxchange is not None:
            # One projection with the fields: dxchange's fallbacks (a flat_field_value and the like) still apply.
            _, self.flat, self.dark, theta = self._dxchange.read_aps_32id(self.path, proj=(0, 1), sino=slices)
        else:
            self.flat, self.dark, theta = _read_fields(self.path, slices)
        n = shape[0]
        if theta_range is not None:
            theta = np.deg2rad(np.linspace(float(theta_range[0]), float(theta_range[1]), n))
        else:
            import h5py

            with h5py.File(path, "r") as f:
                has_theta = "exchange/theta" in f
            if not has_theta:
                warnings.warn(
                    f"{str(path)!r} has no /exchange/theta: its {n} projections are taken as evenly "
                    "spaced over 0-180 degrees (dxchange's guess); pass theta_range (--theta-range START:STOP) to say",
                    UserWarning,
                    stacklevel=3,
                )
                if theta is None or np.size(theta) != n:  # dxchange guessed from the one projection read
                    theta = np.deg2rad(np.linspace(0.0, 180.0, n))
        self.theta = np.asarray(theta, dtype=np.float32)
        if self.theta.size != n:
            raise ValueError(f"{str(path)!r} has {self.theta.size} angles for {n} projections")
        if n > 1 and float(np.ptp(self.theta)) == 0.0:
            raise ValueError(
                f"{str(path)!r}: all {n} angles are {np.rad2deg(float(self.theta[0])):g} degrees (/exchange/theta "
                "never filled in?); pass --theta-range START:STOP (theta_range) to give the scan's range"
            )
        self.shape = (n, shape[1] if slices is None else slices[1] - slices[0], shape[2])

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index: slice) -> np.ndarray:
        """Projections ``index`` (a slice), as stored."""
        if not isinstance(index, slice):
            raise TypeError(f"index RawProjections with a slice of projections (raw[a:b]), got {index!r}")
        start, stop, step = index.indices(self.shape[0])
        if self._dxchange is not None:
            return self._dxchange.read_hdf5(self.path, "exchange/data", slc=((start, stop, step), self._sino))
        import h5py

        rows = slice(None) if self._sino is None else slice(*self._sino)
        with h5py.File(self.path, "r") as f:
            return f["exchange/data"][start:stop:step, rows]


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
    path, slices, theta_range
        As :class:`RawProjections`'.
    angles : (float, float), optional
        Keep projections whose angle in degrees lies in ``[lo, hi]``; for
        instance ``(0, 120)`` cuts a missing wedge.

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
    raw = RawProjections(path, slices=slices, theta_range=theta_range)
    theta = raw.theta
    if angles is not None:
        deg = np.rad2deg(theta.astype(np.float64))
        keep = (deg >= angles[0] - 1e-3) & (deg <= angles[1] + 1e-3)  # float32 radians round-trip
        if keep.sum() < 2:
            raise ValueError(
                f"angles {angles[0]}:{angles[1]} keeps {int(keep.sum())} projection(s); the file covers "
                f"{deg.min():.1f} to {deg.max():.1f} degrees"
            )
        picked = np.flatnonzero(keep)
        # Read only what is kept when it is one run of projections (a wedge cut off one end).
        if picked[-1] - picked[0] + 1 == picked.size:
            tomo = raw[int(picked[0]) : int(picked[-1]) + 1]
        else:
            tomo = raw[:][keep]
        theta = theta[keep]
    else:
        tomo = raw[:]
    logger.debug("read %s: %d projections of %dx%d", path, *tomo.shape)
    return tomo, raw.flat, raw.dark, theta
