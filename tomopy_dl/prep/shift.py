"""Sub-pixel image shifts, in TomoPy's sign convention."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..util.device import resolve_device
from ..util.validation import as_float32_array

__all__ = ["shift_images", "displace"]


def displace(images: torch.Tensor, d_row: torch.Tensor, d_col: torch.Tensor, padding: str = "border") -> torch.Tensor:
    """Move each image's content by ``(d_row, d_col)`` pixels, sub-pixel, bicubic.

    ``out[r, c] = in[r - d_row, c - d_col]``: positive ``d_row`` moves the
    content down (to higher row indices), positive ``d_col`` to the right.

    Parameters
    ----------
    images : torch.Tensor, shape (N, rows, cols)
    d_row, d_col : torch.Tensor, shape (N,)
        Displacements in pixels.
    padding : {'border', 'zeros'}
        What enters from outside the image: the edge values repeated, or zero.

    Returns
    -------
    torch.Tensor, shape (N, rows, cols)
    """
    n, rows, cols = images.shape
    dev, dt = images.device, images.dtype
    # grid_sample's normalised coordinates with align_corners=True: -1 and 1
    # are the centres of the first and last pixel.
    ys = torch.linspace(-1.0, 1.0, rows, device=dev, dtype=dt) if rows > 1 else torch.zeros(1, device=dev, dtype=dt)
    xs = torch.linspace(-1.0, 1.0, cols, device=dev, dtype=dt) if cols > 1 else torch.zeros(1, device=dev, dtype=dt)
    sy = 2.0 / max(rows - 1, 1)
    sx = 2.0 / max(cols - 1, 1)
    gy = ys[None, :, None] - (d_row.to(dev, dt) * sy)[:, None, None]
    gx = xs[None, None, :] - (d_col.to(dev, dt) * sx)[:, None, None]
    grid = torch.stack(torch.broadcast_tensors(gx, gy), dim=-1)
    out = F.grid_sample(images[:, None], grid, mode="bicubic", padding_mode=padding, align_corners=True)
    return out[:, 0]


def shift_images(prj, sx, sy, *, device=None) -> np.ndarray:
    """Shift projections by sub-pixel amounts, as ``tomopy.shift_images`` does.

    With TomoPy's convention, ``sx`` is the row (vertical) shift and ``sy`` the
    column shift of each projection, and ``shift_images(prj, sx, sy)`` moves
    projection ``m``'s content by ``(-sx[m], -sy[m])``: it undoes the jitter
    that :func:`tomopy_dl.align_jitter` or ``tomopy.align_joint`` measured.
    Unlike TomoPy, which rolls whole pixels, shifts are bicubic and
    sub-pixel, and the edges are repeated instead of wrapped around.

    Parameters
    ----------
    prj : array_like, shape (nangles, rows, cols)
        Projections; the caller's array is not modified.
    sx, sy : array_like, shape (nangles,) or scalar
        Row and column shifts in pixels.
    device : None, str or torch.device
        Where to compute; CUDA when available by default.

    Returns
    -------
    ndarray of float32, shape (nangles, rows, cols)

    Examples
    --------
    >>> import numpy as np
    >>> prj = np.zeros((1, 8, 8), np.float32); prj[0, 4, 4] = 1.0
    >>> moved = shift_images(prj, np.array([1.0]), np.array([-2.0]))  # undoes a shift of (1, -2)
    >>> [int(i) for i in np.unravel_index(moved[0].argmax(), (8, 8))]
    [3, 6]
    """
    arr = as_float32_array(prj, "prj", (2, 3))
    squeeze = arr.ndim == 2
    if squeeze:
        arr = arr[None]
    n = arr.shape[0]
    shifts = []
    for name, value in (("sx", sx), ("sy", sy)):
        v = np.broadcast_to(np.asarray(value, dtype=np.float64), (n,)) if np.ndim(value) == 0 else np.asarray(value)
        if v.shape != (n,):
            raise ValueError(f"{name} must be a scalar or have one value per projection ({n}), got shape {v.shape}")
        if not np.all(np.isfinite(v)):
            raise ValueError(f"{name} holds non-finite values")
        shifts.append(torch.as_tensor(np.asarray(v, dtype=np.float32)))
    dev = resolve_device(device)
    with torch.no_grad():
        out = displace(torch.from_numpy(arr).to(dev), -shifts[0].to(dev), -shifts[1].to(dev)).cpu().numpy()
    return out[0] if squeeze else out
