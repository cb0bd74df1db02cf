"""Filters that make registration robust to impulse (salt-and-pepper) noise."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["median3x3", "median_filter", "impulse_fraction"]


def median_filter(images: torch.Tensor, size: tuple[int, int] = (3, 3)) -> torch.Tensor:
    """Median filter of each image over an odd ``(rows, cols)`` window, edges repeated.

    Parameters
    ----------
    images : torch.Tensor, shape (N, rows, cols)
    size : (int, int)
        Window height and width, odd.

    Returns
    -------
    torch.Tensor, shape (N, rows, cols)
    """
    kh, kw = size
    padded = F.pad(images[:, None], (kw // 2, kw // 2, kh // 2, kh // 2), mode="replicate")
    patches = F.unfold(padded, kernel_size=(kh, kw))  # (N, kh * kw, rows*cols)
    return patches.median(dim=1).values.view_as(images)


def median3x3(images: torch.Tensor) -> torch.Tensor:
    """3x3 median filter of each image, edges repeated (:func:`median_filter`)."""
    return median_filter(images, (3, 3))


def impulse_fraction(images: torch.Tensor, jump: float = 0.3) -> float:
    """Fraction of pixels that stand out from their 3x3 median by ``jump`` of the value range.

    Salt-and-pepper noise and dead or hot pixels jump by a large share of the
    image's range away from their neighbours; photon noise and edges of real
    structure rarely do, except at a small share of pixels.
    """
    lo = images.amin(dim=(1, 2), keepdim=True)
    hi = images.amax(dim=(1, 2), keepdim=True)
    outlier = (images - median3x3(images)).abs() > jump * (hi - lo).clamp_min(1e-12)
    return float(outlier.float().mean())
