"""Image quality and alignment scores used by the demo, training and the benchmarks."""

from __future__ import annotations

import numpy as np

__all__ = ["affine_fit", "score", "observable_col_shifts", "jitter_rmse"]


def affine_fit(image: np.ndarray, reference: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """``a * image + b`` with ``a, b`` the least-squares fit to ``reference``.

    Scores after this fit compare structure, not the arbitrary units some
    methods return.

    Parameters
    ----------
    image, reference : ndarray, same 2D shape
    mask : ndarray of bool, optional
        Pixels used for the fit; all by default.
    """
    img = np.asarray(image, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    if img.shape != ref.shape:
        raise ValueError(f"image {img.shape} and reference {ref.shape} must have the same shape")
    m = np.ones(img.shape, bool) if mask is None else np.asarray(mask, bool)
    design = np.stack([img[m], np.ones(int(m.sum()))], axis=1)
    (a, b), *_ = np.linalg.lstsq(design, ref[m], rcond=None)
    return a * img + b


def score(image: np.ndarray, reference: np.ndarray, mask: np.ndarray | None = None, fit: bool = True) -> dict[str, float]:
    """SSIM and PSNR of ``image`` against ``reference``.

    Parameters
    ----------
    image, reference : ndarray, same 2D shape
    mask : ndarray of bool, optional
        Region scored (and fitted); the whole image by default. SSIM is
        averaged over the mask.
    fit : bool
        Apply :func:`affine_fit` first.

    Returns
    -------
    dict
        ``{'ssim': float, 'psnr': float}``; the data range is the reference's.
    """
    from skimage.metrics import structural_similarity

    ref = np.asarray(reference, dtype=np.float64)
    img = affine_fit(image, ref, mask) if fit else np.asarray(image, dtype=np.float64)
    m = np.ones(ref.shape, bool) if mask is None else np.asarray(mask, bool)
    data_range = float(ref[m].max() - ref[m].min()) or 1.0
    _, ssim_map = structural_similarity(ref, img, data_range=data_range, full=True)
    mse = float(np.mean((img[m] - ref[m]) ** 2))
    psnr = float("inf") if mse == 0 else 10.0 * np.log10(data_range**2 / mse)
    return {"ssim": float(ssim_map[m].mean()), "psnr": psnr}


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
    """
    t = np.asarray(theta, np.float64)
    y = np.asarray(sy, np.float64)
    basis = np.stack([np.ones_like(t), np.cos(t), np.sin(t)], axis=1)
    coef, *_ = np.linalg.lstsq(basis, y, rcond=None)
    return y - basis @ coef


def jitter_rmse(estimate, truth, theta=None) -> float:
    """RMS error of estimated shifts in pixels, up to what no method can observe.

    Without ``theta`` the common offset is removed (right for row shifts);
    with it, the offset and the object-translation sinusoid
    (:func:`observable_col_shifts`, right for column shifts).
    """
    e = np.asarray(estimate, np.float64) - np.asarray(truth, np.float64)
    e = e - e.mean() if theta is None else observable_col_shifts(e, theta)
    return float(np.sqrt(np.mean(e**2)))
