"""Filters that make registration robust to impulse (salt-and-pepper) noise."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["median3x3", "median_filter", "impulse_fraction"]

# Bytes of unfolded patches per step of median_filter.
_CHUNK_BYTES = 1 << 26


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
    n, rows, cols = images.shape
    # The unfolded patches hold kh * kw copies of the images: a few images at a time keeps that
    # near _CHUNK_BYTES, not 15 times a 1500-projection stack.
    step = max(1, _CHUNK_BYTES // max(kh * kw * rows * cols * images.element_size(), 1))
    out = torch.empty_like(images)
    for start in range(0, n, step):
        part = images[start : start + step, None]
        padded = F.pad(part, (kw // 2, kw // 2, kh // 2, kh // 2), mode="replicate")
        patches = F.unfold(padded, kernel_size=(kh, kw))  # (n_part, kh * kw, rows*cols)
        out[start : start + step] = patches.median(dim=1).values.view(-1, rows, cols)
    return out


def median3x3(images: torch.Tensor) -> torch.Tensor:
    """3x3 median filter of each image, edges repeated (:func:`median_filter`)."""
    return median_filter(images, (3, 3))


def impulse_fraction(images: torch.Tensor, jump: float = 0.3) -> float:
    """Fraction of pixels that stand out from their 3x3 median by ``jump`` of the value range.

    Salt-and-pepper noise and dead or hot pixels jump by a large share of the
    image's range away from their neighbours; photon noise and edges of real
    structure rarely do, except at a small share of pixels.
    """
    count = 0
    step = max(1, _CHUNK_BYTES // max(9 * images[0].numel() * images.element_size(), 1))
    for start in range(0, images.shape[0], step):
        part = images[start : start + step]
        lo = part.amin(dim=(1, 2), keepdim=True)
        hi = part.amax(dim=(1, 2), keepdim=True)
        count += int(((part - median3x3(part)).abs() > jump * (hi - lo).clamp_min(1e-12)).sum())
    return count / max(images.numel(), 1)
