"""Flat/dark normalisation and the negative logarithm, as ``tomopy.normalize`` and ``tomopy.minus_log``."""

from __future__ import annotations

import numpy as np

from ..util.validation import as_float32_array

__all__ = ["normalize", "minus_log", "average_fields"]

# Dead or hot detector pixels can have flat <= dark; most of the detector cannot.
_MAX_DEAD_FRACTION = 0.5


def average_fields(flat, dark) -> tuple[np.ndarray, np.ndarray]:
    """The flat and dark fields that :func:`normalize` divides by: each averaged over its first axis.

    Averaged once, a long scan can be normalised a block of projections at a
    time with the same result as all at once.

    Parameters
    ----------
    flat, dark : array_like, shape (nflat, rows, cols) or (rows, cols)

    Returns
    -------
    flat, dark : ndarray of float32, shape (rows, cols)

    Examples
    --------
    >>> f, d = average_fields(np.full((3, 2, 2), 100), np.ones((2, 2, 2)))
    >>> float(f[0, 0]), float(d[0, 0]), f.shape
    (100.0, 1.0, (2, 2))
    """
    f = as_float32_array(flat, "flat", (2, 3))
    d = as_float32_array(dark, "dark", (2, 3))
    return (f.mean(axis=0) if f.ndim == 3 else f), (d.mean(axis=0) if d.ndim == 3 else d)


def normalize(prj, flat, dark, cutoff: float | None = None) -> np.ndarray:
    """Transmission ``(prj - dark) / (flat - dark)`` with averaged flats and darks.

    Parameters
    ----------
    prj : array_like, shape (nangles, rows, cols)
    flat, dark : array_like, shape (nflat, rows, cols) or (rows, cols)
        White (flat) and dark fields; averaged over their first axis
        (:func:`average_fields`).
    cutoff : float, optional
        Upper limit of the result.

    Returns
    -------
    ndarray of float32, shape (nangles, rows, cols)
        Transmission; pixels where ``flat <= dark`` get 1e-6 in the denominator.

    Raises
    ------
    ValueError
        When the flat field is at or below the dark field over more than half
        of the pixels (zero flats, or flats and darks swapped or equal): the
        result would not be a transmission at all.
    """
    p = as_float32_array(prj, "prj", 3)
    f, d = average_fields(flat, dark)
    if f.shape != p.shape[1:] or d.shape != p.shape[1:]:
        raise ValueError(
            f"flat {f.shape} and dark {d.shape} must match one projection {p.shape[1:]}; "
            "read them with the same rows (sino) range as the projections"
        )
    dead = float(np.mean(f <= d))
    if dead > _MAX_DEAD_FRACTION:
        raise ValueError(
            f"the flat field is at or below the dark field on {100 * dead:.0f}% of the pixels (flat mean "
            f"{float(f.mean()):.4g}, dark mean {float(d.mean()):.4g}): not a normalisation; check that the "
            "flats (data_white) and darks (data_dark) are the right datasets and not swapped"
        )
    out = (p - d) / np.maximum(f - d, 1e-6)
    if cutoff is not None:
        np.minimum(out, cutoff, out=out)
    return out.astype(np.float32)


def minus_log(transmission, floor: float = 1e-6) -> np.ndarray:
    """Line integrals ``-log(max(transmission, floor))``."""
    t = as_float32_array(transmission, "transmission", (2, 3))
    return (-np.log(np.maximum(t, floor))).astype(np.float32)
