"""Classic image registration: phase correlation against a reference stack."""

from __future__ import annotations

import numpy as np

__all__ = ["phase_correlation_shifts"]


def phase_correlation_shifts(moving: np.ndarray, reference: np.ndarray, upsample_factor: int = 10) -> np.ndarray:
    """Displacement of each ``moving`` image's content relative to ``reference``.

    Uses scikit-image's ``phase_cross_correlation`` image by image.

    Parameters
    ----------
    moving, reference : ndarray, shape (N, rows, cols)
    upsample_factor : int
        Sub-pixel precision is ``1 / upsample_factor`` pixels.

    Returns
    -------
    ndarray of float64, shape (N, 2)
        ``(d_row, d_col)`` such that ``moving`` is ``reference`` moved by that
        much (positive: down and right).
    """
    from skimage.registration import phase_cross_correlation

    out = np.empty((moving.shape[0], 2))
    for i in range(moving.shape[0]):
        # skimage returns the shift that registers ``moving`` onto ``reference``,
        # i.e. minus the displacement.
        shift, _, _ = phase_cross_correlation(
            reference[i], moving[i], upsample_factor=upsample_factor, normalization=None
        )
        out[i] = -np.asarray(shift)
    return out
