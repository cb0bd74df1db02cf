"""Rotation-centre estimate from a pair of opposite projections."""

from __future__ import annotations

import numpy as np

from ..util.validation import as_angles, as_float32_array
from .registration import phase_correlation_shifts

__all__ = ["find_center_pair"]


def find_center_pair(prj, theta, rows: tuple[int, int] | None = None) -> float:
    """Rotation axis from the two projections closest to 180 degrees apart.

    A parallel-beam projection at ``theta + 180`` is the mirror image of the
    one at ``theta`` about the axis, so the shift that registers one onto the
    mirrored other gives the axis: ``center = (cols - shift) / 2`` in TomoPy's
    convention (pixel ``d`` covers ``[d, d + 1)``).

    Parameters
    ----------
    prj : array_like, shape (nangles, rows, cols)
        Line integrals.
    theta : array_like, shape (nangles,)
        Angles in radians; some pair must be close to pi apart.
    rows : (int, int), optional
        Rows to use; all by default.

    Returns
    -------
    float
        The axis in detector pixels, as ``center`` of ``recon``.

    Raises
    ------
    ValueError
        If no pair of projections is within 5 degrees of opposite.
    """
    p = as_float32_array(prj, "prj", 3)
    t = as_angles(theta, p.shape[0]).astype(np.float64)
    if rows is not None:
        p = p[:, rows[0] : rows[1]]
    gap = np.abs(np.abs(t[None, :] - t[:, None]) - np.pi)
    i, j = np.unravel_index(np.argmin(gap), gap.shape)
    if gap[i, j] > np.deg2rad(5.0):
        raise ValueError(
            "no two projections are within 5 degrees of opposite; pass center= yourself "
            f"(the closest pair is {np.rad2deg(gap[i, j]) + 180:.1f} degrees apart)"
        )
    # Column profiles: robust to rows and to small vertical jitter.
    a = p[i].sum(axis=0)[None, None]
    b = p[j].sum(axis=0)[::-1][None, None].copy()
    shift = phase_correlation_shifts(b, a, upsample_factor=20)[0, 1]
    return float((p.shape[2] - shift) / 2)
