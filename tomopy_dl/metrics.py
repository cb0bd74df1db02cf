"""Image quality and alignment scores used by the demo, training and the benchmarks."""

from __future__ import annotations

import numpy as np

from .physics.geometry import observable_col_shifts

__all__ = ["affine_fit", "score", "jitter_rmse"]


def affine_fit(image: np.ndarray, reference: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """``a * image + b`` with ``a, b`` the least-squares fit to ``reference``.

    Scores after this fit compare structure, not the arbitrary units some
    methods return.

    Parameters
    ----------
    image, reference : ndarray, same 2D shape
    mask : ndarray of bool, optional
        Pixels used for the fit; all by default.

    Examples
    --------
    >>> import numpy as np
    >>> ref = np.arange(16.0).reshape(4, 4)
    >>> bool(np.allclose(affine_fit(2 * ref + 1, ref), ref))
    True
    """
    img = np.asarray(image, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    if img.shape != ref.shape:
        raise ValueError(f"image {img.shape} and reference {ref.shape} must have the same shape")
    m = np.ones(img.shape, bool) if mask is None else np.asarray(mask, bool)
    design = np.stack([img[m], np.ones(int(m.sum()))], axis=1)
    (a, b), *_ = np.linalg.lstsq(design, ref[m], rcond=None)
    return a * img + b


def score(
    image: np.ndarray, reference: np.ndarray, mask: np.ndarray | None = None, fit: bool = True
) -> dict[str, float]:
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

    Examples
    --------
    >>> import numpy as np
    >>> ref = np.random.default_rng(0).random((32, 32))
    >>> round(score(3 * ref - 1, ref)["ssim"], 6)  # the affine fit removes units
    1.0
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


def jitter_rmse(estimate, truth, theta=None) -> float:
    """RMS error of estimated shifts in pixels, up to what no method can observe.

    Without ``theta`` the common offset is removed (right for row shifts);
    with it, the offset and the object-translation sinusoid
    (:func:`~tomopy_dl.physics.observable_col_shifts`, right for column shifts).

    Examples
    --------
    >>> jitter_rmse([1.0, 2.0, 3.0], [0.0, 1.0, 2.0])  # a common offset is not an error
    0.0
    """
    e = np.asarray(estimate, np.float64) - np.asarray(truth, np.float64)
    e = e - e.mean() if theta is None else observable_col_shifts(e, theta)
    return float(np.sqrt(np.mean(e**2)))
