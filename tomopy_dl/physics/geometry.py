"""TomoPy's parallel-beam geometry, to the pixel.

The conventions below are those of TomoPy's C library (``preprocessing`` and
``calc_coords`` in ``libtomo/recon/utils.c``):

* The object grid of ``nx`` by ``ny`` unit pixels is centred on the rotation
  axis; pixel ``(i, j)`` covers ``x`` in ``[i - nx/2, i + 1 - nx/2]`` and ``y``
  in ``[j - ny/2, j + 1 - ny/2]``, where ``i`` indexes the first image axis.
* At angle ``theta`` the rays run along ``(cos theta, sin theta)``; detector
  pixel ``d`` holds the line ``-x sin theta + y cos theta = s_d``.
* ``s_d = d + 0.5 - center``. TomoPy nudges it by 0.01 pixel when the offset
  would otherwise fall within 0.01 of an integer, so that no ray runs exactly
  along a grid line; we keep the nudge so our sums are TomoPy's.
"""

from __future__ import annotations

import math

import numpy as np

from ..util.validation import default_center

__all__ = [
    "detector_width",
    "default_center",
    "ray_offsets",
    "unmeasured_angles",
    "measured_frequencies",
    "sinusoid_fit",
    "observable_col_shifts",
]


def detector_width(nx: int, ny: int, pad: bool = True) -> int:
    """Number of detector pixels ``tomopy.project`` uses for an ``nx`` by ``ny`` object.

    With ``pad=True`` the detector covers the object's diagonal plus two
    pixels, rounded up to an even number; otherwise it is ``nx`` wide.

    Examples
    --------
    >>> detector_width(128, 128), detector_width(128, 128, pad=False)
    (184, 128)
    """
    if pad:
        return int(math.ceil((math.sqrt(nx * nx + ny * ny) + 2) / 2.0) * 2)
    return int(nx)


def ray_offsets(n_det: int, center: float) -> np.ndarray:
    """Signed distance of each detector pixel's ray from the rotation axis.

    Parameters
    ----------
    n_det : int
        Number of detector pixels.
    center : float
        Rotation centre in detector pixels (TomoPy's ``center``).

    Returns
    -------
    ndarray of float64, shape (n_det,)
        ``s_d`` in pixels, with TomoPy's 0.01-pixel nudge applied.

    Examples
    --------
    >>> ray_offsets(4, 2.0)
    array([-1.5, -0.5,  0.5,  1.5])
    """
    # Follow TomoPy's float32 arithmetic for the centre so that the nudge
    # triggers on exactly the same centres as in TomoPy.
    mov = np.float32(n_det - 1) * np.float32(0.5) - np.float32(center)
    if mov - np.floor(mov) < np.float32(0.01):
        mov = mov + np.float32(0.01)
    mov = float(mov) + 0.5
    return 0.5 * (1 - n_det) + np.arange(n_det, dtype=np.float64) + mov


def unmeasured_angles(theta, gap: float = 3.0) -> np.ndarray:
    """Angles of the missing wedge: where no projection was measured.

    Projections repeat every pi (up to a mirror of the detector), so angles
    are taken modulo pi. A grid at the median spacing of the measured angles
    covers [0, pi); the grid angles farther than ``gap`` spacings from every
    measured angle are returned.

    Parameters
    ----------
    theta : array_like, shape (nangles,)
        Measured angles in radians, any order and range.
    gap : float
        Distance, in measured spacings, an angle must keep from every
        measured one to count as unmeasured.

    Returns
    -------
    ndarray of float32, shape (n,)
        Radians in [0, pi); empty when the scan has no gap wider than
        ``2 * gap`` spacings (a full-range scan).

    Examples
    --------
    >>> import numpy as np
    >>> gap = unmeasured_angles(np.deg2rad(np.arange(0, 120, 1.0)))
    >>> bool(gap.size > 0 and np.rad2deg(gap).min() > 119)
    True
    """
    t = np.sort(np.mod(np.asarray(theta, dtype=np.float64).ravel(), np.pi))
    if t.size < 2:
        raise ValueError(f"theta must hold at least 2 angles, got {t.size}")
    steps = np.diff(t)
    spacing = float(np.median(steps[steps > 1e-9])) if (steps > 1e-9).any() else np.pi
    grid = np.arange(0.0, np.pi, spacing)
    # A spacing rounded a hair short would put a last point at pi, the same view as 0.
    grid = grid[grid < np.pi - 0.5 * spacing]
    dist = np.abs(grid[:, None] - t[None])
    dist = np.minimum(dist, np.pi - dist).min(1)
    # A grid angle exactly `gap` spacings from a measured one may fall either way with
    # rounding: one angle at the wedge's edge, which does not matter to its use.
    return grid[dist > gap * spacing].astype(np.float32)


def measured_frequencies(theta, shape: tuple[int, int], *, rotation: float = 0.0) -> np.ndarray:
    """Where the image's 2D spectrum was measured: the Fourier-slice theorem's wedge mask.

    The projection at ``theta`` measures the image's spectrum along the
    direction ``(-sin theta, cos theta)`` (image axes 0, 1; TomoPy's rays,
    see the module's notes). Directions count modulo pi; the unmeasured ones
    are those inside the widest gap between the measured angles, so a
    limited-angle scan leaves one double wedge out and a full scan none.

    Parameters
    ----------
    theta : array_like, shape (nangles,)
        Measured angles in radians, any order and range.
    shape : (int, int)
        The image's shape; the mask is on its FFT grid (``numpy.fft.fftfreq``
        order, zero frequency first).
    rotation : float
        Radians added to every angle: the mask of the image turned by this
        much (GANrec's ``mode='volume'`` trains on turned patches).

    Returns
    -------
    ndarray of bool, shape ``shape``
        True where measured; the zero frequency always is.

    Examples
    --------
    >>> import numpy as np
    >>> m = measured_frequencies(np.deg2rad(np.arange(0, 90, 1.0)), (8, 8))
    >>> bool(m[0, 1]), bool(m[1, 0]), bool(m[0, 0])  # along axis 1: theta 0; along axis 0: theta 90, not measured
    (True, False, True)
    """
    t = np.sort(np.mod(np.asarray(theta, dtype=np.float64).ravel() + rotation, np.pi))
    if t.size < 1:
        raise ValueError("theta must hold at least 1 angle")
    k0 = np.fft.fftfreq(shape[0])[:, None]
    k1 = np.fft.fftfreq(shape[1])[None, :]
    direction = np.mod(np.arctan2(-k0, k1), np.pi)  # the theta whose projection measures (k0, k1)
    gaps = np.diff(np.r_[t, t[0] + np.pi])
    i = int(np.argmax(gaps))
    if t.size > 1 and gaps[i] <= 3 * np.median(gaps):  # only the sampling's own steps: no wedge
        return np.ones(shape, bool)
    # Strictly inside the widest gap: the measured angles at its two ends stay measured.
    inside = np.mod(direction - t[i], np.pi)
    measured = ~((inside > 1e-9) & (inside < gaps[i] - 1e-9))
    measured[0, 0] = True
    return measured


def sinusoid_fit(y, theta) -> np.ndarray:
    """Least-squares coefficients ``(a, b, c)`` of ``a + b cos(theta) + c sin(theta)`` to ``y``.

    A point's column in parallel-beam projections follows that law, with
    ``a`` on the rotation axis; so does a translation of the object.

    Parameters
    ----------
    y : array_like, shape (nangles,)
        Values per projection, e.g. column positions in pixels.
    theta : array_like, shape (nangles,)
        Angles in radians.

    Returns
    -------
    ndarray of float64, shape (3,)

    Examples
    --------
    >>> theta = np.linspace(0, np.pi, 50)
    >>> np.round(sinusoid_fit(30 + 4 * np.cos(theta) - 2 * np.sin(theta), theta), 6).tolist()
    [30.0, 4.0, -2.0]
    """
    t = np.asarray(theta, np.float64)
    basis = np.stack([np.ones_like(t), np.cos(t), np.sin(t)], axis=1)
    coef, *_ = np.linalg.lstsq(basis, np.asarray(y, np.float64), rcond=None)
    return coef


def observable_col_shifts(sy, theta) -> np.ndarray:
    """Column shifts less their least-squares fit by ``a + b cos(theta) + c sin(theta)``.

    That part of a column shift moves every projection exactly as a
    translation of the object would, so no alignment method can tell it from
    one; it is not an error of the alignment.

    Parameters
    ----------
    sy : array_like, shape (nangles,)
        Column shifts in pixels.
    theta : array_like, shape (nangles,)
        Angles in radians.

    Examples
    --------
    >>> import numpy as np
    >>> theta = np.linspace(0, np.pi, 50)
    >>> bool(np.allclose(observable_col_shifts(2 + 3 * np.cos(theta), theta), 0))  # a translation of the object
    True
    """
    t = np.asarray(theta, np.float64)
    a, b, c = sinusoid_fit(sy, t)
    return np.asarray(sy, np.float64) - (a + b * np.cos(t) + c * np.sin(t))
