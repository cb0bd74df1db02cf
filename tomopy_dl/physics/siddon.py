"""Exact ray/pixel intersection lengths (Siddon's method), vectorised in torch.

This builds, once per geometry, the sparse system matrix ``A`` whose entry
``A[ray, pixel]`` is the length of the ray inside the pixel. It is the same
weighting that TomoPy's C projector applies on the fly, so ``A @ x`` equals
``tomopy.project`` to float32 round-off.
"""

from __future__ import annotations

import numpy as np
import torch

from .geometry import ray_offsets

__all__ = ["intersection_lengths"]

# Working-set budget per chunk of angles: elements of the (angles, rays,
# crossings) float64 arrays, about 32 MB each.
_CHUNK_ELEMENTS = 4_000_000
# Directions closer than this to an axis have no crossings with that axis's
# grid lines; their division would only produce inf/nan.
_PARALLEL_EPS = 1e-12
# Segments shorter than this are the duplicate crossings at pixel corners.
_MIN_LENGTH = 1e-9


def intersection_lengths(
    theta: np.ndarray,
    n_det: int,
    num_gridx: int,
    num_gridy: int,
    center: float,
    device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Intersection lengths of every ray with every pixel it crosses.

    Parameters
    ----------
    theta : ndarray, shape (nangles,)
        Projection angles in radians, in any order and spacing.
    n_det : int
        Detector pixels per projection.
    num_gridx, num_gridy : int
        Object grid size in pixels (first and second image axis).
    center : float
        Rotation centre in detector pixels.
    device : torch.device or str
        Where to compute.

    Returns
    -------
    rows, cols, lengths : torch.Tensor
        ``rows`` is ``angle * n_det + d``, ``cols`` is ``i * num_gridy + j``
        (int32 when every index fits, else int64) and ``lengths`` is in
        pixels (float32, rounded from float64 per chunk to keep the build's
        peak memory low). Rows come out sorted.
    """
    device = torch.device(device)
    f64 = dict(dtype=torch.float64, device=device)
    # TomoPy evaluates sin/cos of the float32 angle; do the same.
    th = torch.as_tensor(np.asarray(theta, dtype=np.float32).astype(np.float64), **f64)
    s = torch.as_tensor(ray_offsets(n_det, center), **f64)
    gx = torch.arange(num_gridx + 1, **f64) - num_gridx / 2.0
    gy = torch.arange(num_gridy + 1, **f64) - num_gridy / 2.0
    n_cross = num_gridx + num_gridy + 2
    per_chunk = max(1, _CHUNK_ELEMENTS // (n_det * n_cross))
    nan = torch.tensor(float("nan"), **f64)
    big = max(th.numel() * n_det, num_gridx * num_gridy) >= 2**31 - 1
    idx_dtype = torch.int64 if big else torch.int32

    rows, cols, vals = [], [], []
    for a0 in range(0, th.numel(), per_chunk):
        t = th[a0 : a0 + per_chunk]
        sn = torch.sin(t)[:, None, None]
        cs = torch.cos(t)[:, None, None]
        ss = s[None, :, None]
        # Ray parameter at each crossing of a grid line x = gx or y = gy.
        tx = (gx + ss * sn) / torch.where(cs.abs() < _PARALLEL_EPS, nan, cs)
        ty = (gy - ss * cs) / torch.where(sn.abs() < _PARALLEL_EPS, nan, sn)
        na = t.numel()
        tt = torch.cat([tx.expand(na, n_det, -1), ty.expand(na, n_det, -1)], dim=-1)
        tt = torch.nan_to_num(tt, nan=float("inf"), posinf=float("inf"), neginf=float("inf"))
        tt, _ = torch.sort(tt, dim=-1)
        seg = tt[..., 1:] - tt[..., :-1]
        mid = 0.5 * (tt[..., 1:] + tt[..., :-1])
        ix = torch.floor(-ss * sn + mid * cs + num_gridx / 2.0)
        iy = torch.floor(ss * cs + mid * sn + num_gridy / 2.0)
        ok = torch.isfinite(seg) & (seg > _MIN_LENGTH)
        ok &= (ix >= 0) & (ix < num_gridx) & (iy >= 0) & (iy < num_gridy)
        a_idx, d_idx, _ = torch.nonzero(ok, as_tuple=True)
        rows.append(((a_idx + a0) * n_det + d_idx).to(idx_dtype))
        cols.append((ix[ok] * num_gridy + iy[ok]).to(idx_dtype))
        vals.append(seg[ok].to(torch.float32))
    return torch.cat(rows), torch.cat(cols), torch.cat(vals)
