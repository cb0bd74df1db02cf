"""Filtered back-projection on the exact adjoint."""

from __future__ import annotations

import math

import numpy as np
import torch

from ..physics import Projector
from .table import default

__all__ = ["fbp", "filter_sinogram", "angle_weights", "FILTERS"]

#: Frequency windows applied on top of the ramp, as functions of the
#: frequency ``f`` in cycles per pixel (``|f| <= 0.5``). Names follow TomoPy.
FILTERS = {
    "ramlak": lambda f: torch.ones_like(f),
    "shepp": lambda f: torch.sinc(f),
    "cosine": lambda f: torch.cos(math.pi * f),
    "hann": lambda f: 0.5 * (1.0 + torch.cos(2.0 * math.pi * f)),
    "hamming": lambda f: 0.54 + 0.46 * torch.cos(2.0 * math.pi * f),
}


def filter_sinogram(sino: torch.Tensor, filter_name: str = "ramlak") -> torch.Tensor:
    """Ramp-filter sinograms along the detector axis.

    The ramp is the band-limited spatial kernel of Kak & Slaney (1988, eq. 61),
    whose zero frequency is right, so flat regions keep their level; a window
    from :data:`FILTERS` then shapes the high frequencies.

    Parameters
    ----------
    sino : torch.Tensor, shape (..., nangles, ndet)
    filter_name : str
        One of ``'ramlak'``, ``'shepp'``, ``'cosine'``, ``'hann'``, ``'hamming'``.

    Returns
    -------
    torch.Tensor, same shape

    Examples
    --------
    >>> import torch
    >>> filter_sinogram(torch.ones(1, 4, 64), "hann").shape
    torch.Size([1, 4, 64])
    """
    key = str(filter_name).lower()
    if key not in FILTERS:
        raise ValueError(f"filter_name must be one of {sorted(FILTERS)}, got {filter_name!r}")
    n_det = sino.shape[-1]
    n_pad = max(64, 2 ** int(math.ceil(math.log2(2 * n_det))))
    k = torch.arange(n_pad, device=sino.device, dtype=torch.float64)
    k = torch.where(k > n_pad // 2, k - n_pad, k)
    kernel = torch.where(k % 2 == 1, -1.0 / (math.pi * k) ** 2, torch.zeros_like(k))
    kernel[0] = 0.25
    ramp = torch.fft.rfft(kernel).real
    freq = torch.fft.rfftfreq(n_pad, device=sino.device, dtype=torch.float64)
    response = (ramp * FILTERS[key](freq)).to(torch.float32)
    spec = torch.fft.rfft(sino, n=n_pad, dim=-1)
    return torch.fft.irfft(spec * response, n=n_pad, dim=-1)[..., :n_det].contiguous()


def angle_weights(theta) -> np.ndarray:
    """Angular integration weight of each projection, in radians.

    Each angle stands for half the gap to its neighbours, with angles taken
    modulo pi (a ray at theta and theta + pi is the same line), so that
    non-uniform, unsorted, duplicated and 360-degree angle sets all integrate
    correctly. When the largest gap exceeds twice the median gap (a missing
    wedge) the edge angles take their inner gap instead of the wedge.

    Parameters
    ----------
    theta : array_like, shape (nangles,)
        Angles in radians.

    Returns
    -------
    ndarray of float64, shape (nangles,)

    Examples
    --------
    >>> import numpy as np
    >>> w = angle_weights(np.linspace(0, np.pi, 4, endpoint=False))
    >>> bool(np.allclose(w, np.pi / 4))
    True
    """
    a = np.mod(np.asarray(theta, dtype=np.float64), np.pi)
    n = a.size
    if n == 1:
        return np.array([np.pi])
    order = np.argsort(a, kind="stable")
    s = a[order]
    gaps = np.diff(s)
    wrap = s[0] + np.pi - s[-1]
    before = np.concatenate([[wrap], gaps])
    after = np.concatenate([gaps, [wrap]])
    positive = gaps[gaps > 1e-6]
    typical = np.median(positive) if positive.size else wrap
    if wrap > 2.0 * typical:
        before[0] = positive[0] if positive.size else 0.0
        after[-1] = positive[-1] if positive.size else 0.0
    w = np.empty(n)
    w[order] = 0.5 * (before + after)
    return w


def fbp(
    sino: torch.Tensor,
    op: Projector,
    *,
    filter_name: str = default("fbp", "filter_name"),
) -> torch.Tensor:
    """Filtered back-projection.

    ``x = A^T (w * filter(sino))`` with ``w`` the angular weights of
    :func:`angle_weights`, so the result is in the units of the object (the
    same scale as gridrec) for any angle set.

    Parameters
    ----------
    sino : torch.Tensor, shape (B, nangles, ndet)
        Line integrals.
    op : Projector
        The geometry (any backend of :data:`tomopy_dl.physics.PROJECTORS`).
    filter_name : str
        Window on the ramp; see :func:`filter_sinogram`.

    Returns
    -------
    torch.Tensor, shape (B, num_gridx, num_gridy)
        Images in the units of the object, on the scale of gridrec.

    References
    ----------
    .. [1] Kak, A. C. and Slaney, M. "Principles of Computerized Tomographic
       Imaging", IEEE Press (1988), chapter 3.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from tomopy_dl.physics import ParallelBeamProjector
    >>> full = ParallelBeamProjector(np.linspace(0, np.pi, 64, endpoint=False), 24, 16, 16)
    >>> square = torch.zeros(1, 16, 16); square[:, 4:12, 6:10] = 1.0
    >>> x = fbp(full(square), full)
    >>> bool(abs(float(x[0, 4:12, 6:10].mean()) - 1.0) < 0.15)
    True
    """
    w = torch.as_tensor(angle_weights(op.theta), dtype=torch.float32, device=sino.device)
    return op.adjoint(filter_sinogram(sino, filter_name) * w[:, None])
