"""Matrix-free exact projector: intersection lengths recomputed on every use.

For a parallel beam the rays of one angle cross the grid mostly along one
axis, the *drive* axis (x when ``|cos theta| >= |sin theta|``, else y). Inside
one unit-wide slab of the drive axis a ray rises by ``|q| <= 1`` pixels along
the other axis, so it meets at most two pixels of the slab, ``j`` and
``j + 1``, with lengths ``L (1 - r)`` and ``L r``: ``L`` is the ray's length
in the slab (``1 / |cos|`` or ``1 / |sin|``) and ``r`` the share of the
slab's rise above ``j + 1``. These are the same Siddon lengths that
:func:`tomopy_dl.physics.siddon.intersection_lengths` sorts out of all the
grid crossings, in closed form, so nothing needs to be stored per geometry
beyond tables of size angles x pixels.

* The forward gathers, for each ray, the two pixels of every slab.
* The adjoint gathers too (no scatter, no atomics), pixel by pixel: the
  length of a line in a unit square, as a function of the line's offset from
  the square's centre, is a trapezoid (plateau ``1 / max(|cos|, |sin|)``,
  support ``|cos| + |sin|`` wide), so each pixel takes, per angle, the two
  rays of its footprint with those lengths. They are the forward's lengths
  computed from the other side, equal to float32 round-off.

Precision: positions such as ``t = base[d] + q k`` reach thousands of pixels
at 2k, where float32 has 1e-4 pixel steps. Their terms are therefore split on
the host, in float64, into an integer part and a fraction, so the kernels add
fractions only and keep float32 round-off on the lengths at any size.
"""

from __future__ import annotations

import logging
import os
import threading

import numpy as np
import torch

from .geometry import ray_offsets

__all__ = ["MatrixFreeGeometry", "forward_project", "back_project", "compile_enabled", "compiled_kernels"]

logger = logging.getLogger(__name__)

# A slab rise smaller than this is a ray along the drive axis: all of its
# slab length goes to one pixel (and the share formula would divide by ~0).
_FLAT = 1e-7
# Padding around each image, in pixels: a clamped index lands on zeros.
_PAD = 2
# Elements of one (slices, angles, rays, slabs) working tensor in eager mode,
# which materialises every intermediate: about 64 MB per float32 tensor.
_EAGER_ELEMENTS = 1 << 24
# With the fused (compiled) kernel nothing of that size is materialised; the
# chunk bounds only the per-chunk index tables.
_COMPILED_ELEMENTS = 1 << 28


class _Group:
    """The angles of one drive axis, with their host-computed split tables."""

    def __init__(self, rows: np.ndarray, theta: np.ndarray, s: np.ndarray, n_u: int, n_v: int, drive_x: bool, device):
        th = theta.astype(np.float64)
        cs, sn = np.cos(th), np.sin(th)
        if drive_x:  # y = (s + x sin) / cos
            q = sn / cs
            base = s[None, :] / cs[:, None] - (n_u / 2.0) * q[:, None] + n_v / 2.0
            length = 1.0 / np.abs(cs)
        else:  # x = (y cos - s) / sin
            q = cs / sn
            base = -s[None, :] / sn[:, None] - (n_u / 2.0) * q[:, None] + n_v / 2.0
            length = 1.0 / np.abs(sn)
        qk = q[:, None] * np.arange(n_u, dtype=np.float64)[None, :]
        bi = np.floor(base)
        qi = np.floor(qk)
        f32 = dict(dtype=torch.float32, device=device)
        i32 = dict(dtype=torch.int32, device=device)
        self.rows = torch.as_tensor(rows, dtype=torch.long, device=device)
        self.n = rows.size
        self.n_u, self.n_v, self.drive_x = n_u, n_v, drive_x
        self.bi = torch.as_tensor(bi, **i32)
        self.bf = torch.as_tensor(base - bi, **f32)
        self.qi = torch.as_tensor(qi, **i32)
        self.qf = torch.as_tensor(qk - qi, **f32)
        self.qmin = torch.as_tensor(np.minimum(q, 0.0), **f32)
        self.absq = torch.as_tensor(np.abs(q), **f32)
        self.length = torch.as_tensor(length, **f32)


class MatrixFreeGeometry:
    """Per-angle tables of one parallel-beam geometry (no system matrix).

    Parameters
    ----------
    theta : ndarray, shape (nangles,)
        Angles in radians (float32 values, as TomoPy uses them).
    n_det, num_gridx, num_gridy : int
    center : float
        Rotation centre in detector pixels.
    device : torch.device

    Notes
    -----
    Memory is ``O(nangles * (n_det + num_gridx + num_gridy))``: about 100 MB
    at 1500 angles and 2048 pixels.
    """

    def __init__(self, theta: np.ndarray, n_det: int, num_gridx: int, num_gridy: int, center: float, device):
        self.device = torch.device(device)
        self.n_det, self.nx, self.ny = int(n_det), int(num_gridx), int(num_gridy)
        th = np.asarray(theta, dtype=np.float32).astype(np.float64)
        s = ray_offsets(self.n_det, center)
        # TomoPy evaluates sin and cos of the float32 angle; so does the split.
        drive_x = np.abs(np.cos(th)) >= np.abs(np.sin(th))
        self.groups = []
        for flag, n_u, n_v in ((True, self.nx, self.ny), (False, self.ny, self.nx)):
            rows = np.flatnonzero(drive_x == flag)
            if rows.size:
                self.groups.append(_Group(rows, th[rows], s, n_u, n_v, flag, self.device))
        self.n_angles = th.size
        # The adjoint's tables, angle-last: pixel (i, j)'s centre falls on the
        # detector at p = xs[i] + yc[j] (in detector pixels from ray 0).
        cs, sn = np.cos(th), np.sin(th)
        xs = -(np.arange(self.nx) + 0.5 - self.nx / 2.0)[:, None] * sn[None, :] - s[0]
        yc = (np.arange(self.ny) + 0.5 - self.ny / 2.0)[:, None] * cs[None, :]
        xi, yi = np.floor(xs), np.floor(yc)
        f32 = dict(dtype=torch.float32, device=self.device)
        self.xs_i = torch.as_tensor(xi, dtype=torch.int32, device=self.device)
        self.xs_f = torch.as_tensor(xs - xi, **f32)
        self.yc_i = torch.as_tensor(yi, dtype=torch.int32, device=self.device)
        self.yc_f = torch.as_tensor(yc - yi, **f32)
        a, b = np.abs(cs), np.abs(sn)
        self.half = torch.as_tensor((a + b) / 2.0, **f32)  # footprint half-width
        self.ramp = torch.as_tensor(np.maximum(np.minimum(a, b), _FLAT), **f32)  # its ramps' width
        self.peak = torch.as_tensor(1.0 / np.maximum(a, b), **f32)  # the longest chord


def _weights(bf, bi, qf, qi, qmin, absq, length):
    """Slab pixel ``j`` of a ray and its lengths in ``j`` and ``j + 1``.

    All arguments broadcast against each other: ``bf + bi`` is the ray's
    position at the slab's start, ``qf + qi`` the rise up to the slab.
    """
    frac = bf + qf + qmin
    step = torch.floor(frac)
    frac = frac - step
    j = bi + qi + step.to(torch.int32)
    share = torch.where(absq > _FLAT, torch.clamp(frac + absq - 1.0, min=0.0) / absq.clamp_min(_FLAT), 0.0)
    hi = length * share
    return j, length - hi, hi


def _forward_chunk(img, bf, bi, qf, qi, qmin, absq, length, n_v: int, stride: int, power: int):
    """Line integrals of padded images ``img`` (B, (n_u+2P) * stride) for a chunk of angles.

    ``bf, bi``: (a, d); ``qf, qi``: (a, u); ``qmin, absq, length``: (a,).
    The drive axis is the contiguous one: pixel (u, v) is at ``(v+P)*stride + u+P``.
    Returns (B, a, d).
    """
    j, w_lo, w_hi = _weights(
        bf[:, :, None], bi[:, :, None], qf[:, None, :], qi[:, None, :],
        qmin[:, None, None], absq[:, None, None], length[:, None, None],
    )  # fmt: skip
    if power == 2:
        w_lo, w_hi = w_lo * w_lo, w_hi * w_hi
    j = torch.clamp(j, -_PAD, n_v).long()
    u = torch.arange(qf.shape[1], device=img.device)
    idx = (j + _PAD) * stride + (u + _PAD)
    vals = img[:, idx] * w_lo + img[:, idx + stride] * w_hi
    return vals.sum(-1)


def _adjoint_chunk(sino, xs_i, xs_f, yc_i, yc_f, half, ramp, peak):
    """Back-projection of ``sino`` (B, (n_det+2P) * a), angle-last, onto (B, nx, ny).

    Pixel-driven, with the same lengths as the forward in closed form: the
    chord of a line through a unit square, as a function of the line's
    offset ``e`` from the square's centre, is a trapezoid, ``peak`` on the
    plateau and falling to zero over ``ramp`` at ``|e| = half``. Its support
    is under 1.5 pixels wide, so two rays per pixel and angle.
    ``xs_*``: (nx, a); ``yc_*``: (ny, a); ``half, ramp, peak``: (a,).
    """
    n_a = half.shape[0]
    a = torch.arange(n_a, device=sino.device)
    frac = xs_f[:, None, :] + yc_f[None, :, :]  # (nx, ny, a), in [0, 2)
    step = torch.floor(frac - half) + 1.0
    d0 = xs_i[:, None, :] + yc_i[None, :, :] + step.to(torch.int32)  # first ray in the footprint
    e0 = step - frac  # its offset from the pixel's centre, in [-half, 1 - half)
    w0 = peak * torch.clamp((half - e0.abs()) / ramp, 0.0, 1.0)
    w1 = peak * torch.clamp((half - (e0 + 1.0).abs()) / ramp, 0.0, 1.0)
    n_rays = sino.shape[1] // n_a - 2 * _PAD
    idx = (torch.clamp(d0, -_PAD, n_rays).long() + _PAD) * n_a + a
    vals = sino[:, idx] * w0 + sino[:, idx + n_a] * w1  # (B, nx, ny, a)
    return vals.sum(-1)


_COMPILED: dict[str, object] = {}
_COMPILE_LOCK = threading.Lock()
_COMPILE_FAILED: set[str] = set()
_COMPILE_OK: set[str] = set()


def compiled_kernels() -> set[str]:
    """The kernels (``'forward:cpu'``, ``'adjoint:cuda'``, ...) that ran compiled in this process."""
    return set(_COMPILE_OK)


def compile_enabled() -> bool:
    """Whether the kernels go through ``torch.compile`` (``TOMOPY_DL_COMPILE=0`` turns it off)."""
    return os.environ.get("TOMOPY_DL_COMPILE", "1").strip().lower() not in ("0", "false", "no", "off")


def _fused(name: str, device: torch.device) -> bool:
    """Whether kernel ``name`` goes through ``torch.compile`` on ``device`` (not disabled, not failed)."""
    return compile_enabled() and f"{name}:{device.type}" not in _COMPILE_FAILED


def _run(name: str, fn, device: torch.device, *args):
    """Run ``fn`` compiled for ``device`` when possible, else eagerly.

    A compile failure (no C++ compiler, no Triton, an unsupported op) is
    logged at DEBUG once, that kernel stays eager for the process, and None
    is returned: the caller's chunk was sized for the fused kernel, which
    materialises nothing, and must be cut to the eager size before it runs.
    """
    key = f"{name}:{device.type}"
    if not _fused(name, device):
        return fn(*args)
    with _COMPILE_LOCK:
        if key not in _COMPILED:
            _COMPILED[key] = torch.compile(fn, dynamic=True)
    try:
        out = _COMPILED[key](*args)
    except Exception as err:  # compile errors come in many types
        _COMPILE_FAILED.add(key)
        logger.debug("torch.compile unavailable for %s (%s); running eagerly", key, err)
        return None
    _COMPILE_OK.add(key)
    return out


def _chunk_angles(n_items: int, per_angle: int, fused: bool) -> int:
    budget = _COMPILED_ELEMENTS if fused else _EAGER_ELEMENTS
    return max(1, min(n_items, budget // max(per_angle, 1)))


def _pad_drive_contiguous(x: torch.Tensor, drive_x: bool) -> tuple[torch.Tensor, int]:
    """Images (B, nx, ny) as (B, n_v+2P, n_u+2P) zero-padded, the drive axis last; flat."""
    img = x.transpose(1, 2) if drive_x else x  # drive axis last: (B, n_v, n_u)
    img = torch.nn.functional.pad(img, (_PAD, _PAD, _PAD, _PAD))
    return img.reshape(img.shape[0], -1).contiguous(), img.shape[-1]


def _per_slice(name: str, device: torch.device) -> bool:
    """Whether to call the kernel one slice at a time.

    The compiled CPU kernels recompute the lengths for every slice anyway, and
    ran 1.4-1.5x slower per slice on batches than on single slices (512^2 x
    256 and 1024^2 x 1536, 2 cores); eager mode shares the lengths across a
    batch, and GPUs want big launches, so both keep the batch.
    """
    return device.type == "cpu" and _fused(name, device)


def forward_project(geom: MatrixFreeGeometry, x: torch.Tensor, power: int = 1) -> torch.Tensor:
    """``A x`` for images ``x`` (B, nx, ny); ``power=2`` uses squared lengths.

    Returns
    -------
    torch.Tensor, shape (B, nangles, n_det)
    """
    if x.shape[0] > 1 and _per_slice("forward", x.device):
        return torch.cat([_forward_batch(geom, x[b : b + 1], power) for b in range(x.shape[0])])
    return _forward_batch(geom, x, power)


def back_project(geom: MatrixFreeGeometry, y: torch.Tensor) -> torch.Tensor:
    """``A^T y`` for sinograms ``y`` (B, nangles, n_det); returns (B, nx, ny)."""
    if y.shape[0] > 1 and _per_slice("adjoint", y.device):
        return torch.cat([_back_batch(geom, y[b : b + 1]) for b in range(y.shape[0])])
    return _back_batch(geom, y)


def _forward_batch(geom: MatrixFreeGeometry, x: torch.Tensor, power: int) -> torch.Tensor:
    out = torch.zeros(x.shape[0], geom.n_angles, geom.n_det, device=x.device, dtype=torch.float32)
    for g in geom.groups:
        img, stride = _pad_drive_contiguous(x, g.drive_x)
        a0 = 0
        while a0 < g.n:
            per = _chunk_angles(g.n, x.shape[0] * geom.n_det * g.n_u, _fused("forward", x.device))
            sl = slice(a0, a0 + per)
            res = _run(
                "forward", _forward_chunk, x.device, img, g.bf[sl], g.bi[sl], g.qf[sl], g.qi[sl],
                g.qmin[sl], g.absq[sl], g.length[sl], g.n_v, stride, power,
            )  # fmt: skip
            if res is None:  # compiling failed: the same angles again, in eager-sized chunks
                continue
            out[:, g.rows[sl]] = res
            a0 += per
    return out


def _back_batch(geom: MatrixFreeGeometry, y: torch.Tensor) -> torch.Tensor:
    out = torch.zeros(y.shape[0], geom.nx, geom.ny, device=y.device, dtype=torch.float32)
    a0 = 0
    while a0 < geom.n_angles:
        per = _chunk_angles(geom.n_angles, y.shape[0] * 2 * geom.nx * geom.ny, _fused("adjoint", y.device))
        sl = slice(a0, a0 + per)
        # (B, n_det + 2P, a): angles contiguous, rays padded with zeros.
        sino = torch.nn.functional.pad(y[:, sl], (_PAD, _PAD)).transpose(1, 2)
        res = _run(
            "adjoint", _adjoint_chunk, y.device, sino.reshape(y.shape[0], -1).contiguous(),
            geom.xs_i[:, sl], geom.xs_f[:, sl], geom.yc_i[:, sl], geom.yc_f[:, sl],
            geom.half[sl], geom.ramp[sl], geom.peak[sl],
        )  # fmt: skip
        if res is None:  # compiling failed: the same angles again, in eager-sized chunks
            continue
        out += res
        a0 += per
    return out
