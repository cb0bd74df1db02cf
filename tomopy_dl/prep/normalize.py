"""Flat/dark normalisation, the negative logarithm (as ``tomopy.normalize`` and ``tomopy.minus_log``),
and the background level of each projection."""

from __future__ import annotations

import numpy as np
import torch

from ..util.validation import as_float32_array

__all__ = [
    "normalize",
    "minus_log",
    "average_fields",
    "dead_pixels",
    "fill_dead_pixels",
    "edge_background",
    "background_levels",
]

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


def dead_pixels(tomo, flat, dark) -> np.ndarray:
    """Detector pixels that measured nothing: flat at or below dark, or zero (or saturated) in every projection.

    Parameters
    ----------
    tomo : array_like, shape (nangles, rows, cols)
        Raw projections, as stored (an integer type's largest value is saturation).
    flat, dark : array_like, shape (nflat, rows, cols) or (rows, cols)

    Returns
    -------
    ndarray of bool, shape (rows, cols)

    Examples
    --------
    >>> tomo = np.full((4, 1, 5), 50, np.uint16); tomo[:, 0, 1] = 0; tomo[:, 0, 3] = 65535
    >>> flat, dark = np.full((2, 1, 5), 100.0), np.zeros((2, 1, 5)); dark[:, 0, 4] = 200
    >>> dead_pixels(tomo, flat, dark)[0].tolist()
    [False, True, False, True, True]
    """
    t = np.asarray(tomo)
    f, d = average_fields(flat, dark)
    bad = (f <= d) | (t.max(axis=0) <= 0)
    if np.issubdtype(t.dtype, np.integer):
        bad |= t.min(axis=0) >= np.iinfo(t.dtype).max
    return bad


def fill_dead_pixels(prj: np.ndarray, bad: np.ndarray) -> np.ndarray:
    """Line integrals with each dead pixel replaced from the nearest good pixels of its row (linear), in place.

    As TomoPy users fix them with ``remove_outlier``: a dead pixel is a ring
    in every slice through it, and a value 1e6 times off ruins the whole
    slice. A row with no good pixel cannot be filled from its own row.

    Raises
    ------
    ValueError
        For a row with no good pixel (a dead detector row).

    Examples
    --------
    >>> prj = np.array([[[1.0, 9.0, 3.0, 9.0]]], np.float32)
    >>> fill_dead_pixels(prj, np.array([[False, True, False, True]]))[0, 0].tolist()
    [1.0, 2.0, 3.0, 3.0]
    """
    cols = np.arange(bad.shape[1])
    for r in np.flatnonzero(bad.any(axis=1)):
        good = ~bad[r]
        if not good.any():
            raise ValueError(f"detector row {r} measured nothing in any pixel (dead); leave it out (--slices)")
        for i in range(prj.shape[0]):  # one projection at a time: memory stays one row
            prj[i, r, bad[r]] = np.interp(cols[bad[r]], cols[good], prj[i, r, good])
    return prj


def minus_log(transmission, floor: float = 1e-6) -> np.ndarray:
    """Line integrals ``-log(max(transmission, floor))``."""
    t = as_float32_array(transmission, "transmission", (2, 3))
    return (-np.log(np.maximum(t, floor))).astype(np.float32)


def edge_background(prj, *, width: float = 0.05) -> np.ndarray:
    """The background level of each projection: the median of its leftmost and rightmost columns.

    Electron-tomography tilt series carry a level that no reconstruction of
    the object explains: the support film, whose path grows as
    ``1 / cos(tilt)``, and the detector's offset. It breaks the invariants
    that alignment relies on (the row profiles of
    :func:`~tomopy_dl.prep.tilt_axis.estimate_tilt_axis`, the
    reprojections of :func:`~tomopy_dl.prep.alignment.align_jitter`);
    subtracted, those hold again. The outer columns are used because the
    object has to stay in view across the tilt axis anyway; the median
    ignores a particle that strays into them.

    Parameters
    ----------
    prj : ndarray or torch.Tensor, shape (nangles, rows, cols)
        Projections: counts (HAADF) or line integrals.
    width : float
        Fraction of the columns read on each side, in ``(0, 0.5]``; at least
        one column.

    Returns
    -------
    ndarray of float32, shape (nangles,)
        One level per projection, in the units of ``prj`` (a tensor on
        ``prj``'s device for a tensor).

    Raises
    ------
    ValueError
        For ``width`` outside ``(0, 0.5]``.

    Examples
    --------
    >>> prj = np.zeros((2, 4, 40), np.float32)
    >>> prj[:, :, 15:25] = 9.0  # the object, in the middle
    >>> prj += np.array([1.0, 2.0], np.float32)[:, None, None]  # a film, thicker at the second tilt
    >>> edge_background(prj).tolist()
    [1.0, 2.0]
    """
    if not 0 < width <= 0.5:
        raise ValueError(f"width must be a fraction of the columns in (0, 0.5], got {width!r}")
    tensor = isinstance(prj, torch.Tensor)
    arr = prj if tensor else torch.from_numpy(as_float32_array(prj, "prj", 3, copy=False))
    if arr.ndim != 3:
        raise ValueError(f"prj must be 3D (nangles, rows, cols), got shape {tuple(arr.shape)}")
    w = max(1, int(round(arr.shape[2] * width)))
    sides = torch.cat([arr[:, :, :w], arr[:, :, -w:]], dim=2).reshape(arr.shape[0], -1)
    levels = sides.float().median(dim=1).values  # of an even count, the lower middle value
    return levels if tensor else levels.numpy()


def background_levels(prj, background: str | None = "auto"):
    """Each projection's background level to subtract before alignment, or None to subtract nothing.

    The choice for ``'auto'`` rests on an invariant of parallel-beam data: the
    total of a projection (the mass of the object in view) is the same at
    every angle. A background that changes with the angle (a support film,
    a drifting flat field) makes the totals vary; the levels
    (:func:`edge_background`) are subtracted when the totals agree better
    without them.

    Parameters
    ----------
    prj : ndarray or torch.Tensor, shape (nangles, rows, cols)
    background : 'auto', 'edges' or None
        ``'edges'`` always subtracts, ``None`` never.

    Returns
    -------
    ndarray or torch.Tensor of float32, shape (nangles,), or None

    Examples
    --------
    >>> prj = np.zeros((3, 4, 40), np.float32)
    >>> prj[:, :, 15:25] = 9.0
    >>> background_levels(prj) is None  # nothing changes with the angle: nothing to subtract
    True
    >>> film = prj + np.array([1.0, 2.0, 4.0], np.float32)[:, None, None]
    >>> background_levels(film).tolist()
    [1.0, 2.0, 4.0]
    """
    if background not in ("auto", "edges", None):
        raise ValueError(
            f"background must be 'auto', 'edges' (subtract each projection's edge level) or None, got {background!r}"
        )
    if background is None:
        return None
    levels = edge_background(prj)
    if background == "edges":
        return levels
    tensor = isinstance(prj, torch.Tensor)
    arr = prj if tensor else torch.from_numpy(as_float32_array(prj, "prj", 3, copy=False))
    lv = levels if tensor else torch.from_numpy(levels)
    totals = arr.double().sum(dim=(1, 2))
    less = totals - lv.double() * (arr.shape[1] * arr.shape[2])

    def spread(t: torch.Tensor) -> float:
        return float(t.std() / t.mean().abs().clamp_min(1e-30)) if t.numel() > 1 else 0.0

    # A level of 0 everywhere changes nothing; a strict improvement is asked, so ties leave the data alone.
    return levels if spread(less) < spread(totals) else None
