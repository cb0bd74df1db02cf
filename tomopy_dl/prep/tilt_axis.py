"""The in-plane angle of the tilt axis, for tilt series whose axis is not exactly vertical.

Electron-tomography tilt series (and some X-ray scans) come with the rotation
axis inclined by a few degrees in the detector plane. Every row-by-row method
(TomoPy's reconstructions, :func:`~.alignment.align_jitter`) assumes a
vertical axis, so the series is rotated first.

The estimate uses an invariant of parallel-beam projections: the profile of
a projection along the axis (its sum across the axis) is the mass of each
slice, the same at every tilt, up to the shift that jitter along the axis
adds. Rotated by the right angle, the stack's row profiles agree once their
shifts are removed (:func:`~.moments.profile_row_shifts`); at a wrong angle,
each tilt mixes neighbouring slices differently. The angle minimising the
disagreement is searched on a grid, then refined by a parabola. It needs no
reconstruction, so jitter of any size does not disturb it, but the object
must stay in the field of view across the axis, as for the row profiles.

A background that changes with the tilt (a support film, seen through
``1 / cos(tilt)`` of itself) breaks the invariant: every tilt's profile
gains a different constant. Both functions subtract each tilt's level
(:func:`~.normalize.background_levels`) first when one is found.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
import torch.nn.functional as F

from ..util.device import resolve_device
from ..util.validation import as_angles, as_float32_array
from .alignment import align_jitter
from .moments import profile_row_shifts
from .normalize import background_levels
from .shift import displace

__all__ = ["estimate_tilt_axis", "rotate_projections", "align_tilt_series"]

logger = logging.getLogger(__name__)

# The search runs on a copy at most this many pixels a side: the profiles need no detail.
_WORK = 128
# align_tilt_series's working copy (align_jitter's work_size): 128 px a side, not align_jitter's 256.
# Tilt series are counts of a few hundred at best, and the coarser copy averages the noise down before
# estimating, then the full-size refinement restores the precision. Measured (benchmarks/jitter.py
# --tilt-series cases, 2 CPU threads): +-60 degrees 208 px, residual 0.1519 against 0.1517 in 2.5
# against 14.1 s; +-76 degrees 256 px on a film, columns 0.31 against 1.03 px, 4.2 against 38.6 s;
# 512 px, 0.34 against 0.41 px, 4.8 against 40.3 s. On X-ray line integrals (the real tooth at 320
# columns) 128 was worse without impulse noise (0.108 against 0.066 px), so align_jitter keeps 256.
_TILT_WORK_SIZE = 128


def _rotate(images: torch.Tensor, degrees: float) -> torch.Tensor:
    """Rotate each image about its centre, counter-clockwise as displayed (row 0 on top), bilinear, zeros outside."""
    n, rows, cols = images.shape
    a = np.deg2rad(degrees)
    dev, dt = images.device, images.dtype
    y = torch.arange(rows, device=dev, dtype=dt) - (rows - 1) / 2
    x = torch.arange(cols, device=dev, dtype=dt) - (cols - 1) / 2
    yy, xx = torch.meshgrid(y, x, indexing="ij")
    # The source of each output pixel: the output rotated back (clockwise as displayed, where y points down).
    xs = np.cos(a) * xx - np.sin(a) * yy
    ys = np.sin(a) * xx + np.cos(a) * yy
    grid = torch.stack([xs / max((cols - 1) / 2, 1e-9), ys / max((rows - 1) / 2, 1e-9)], dim=-1)
    out = F.grid_sample(images[:, None], grid[None].expand(n, -1, -1, -1), mode="bilinear", padding_mode="zeros",
                        align_corners=True)  # fmt: skip
    return out[:, 0]


def rotate_projections(prj, degrees: float, *, device=None) -> np.ndarray:
    """Rotate every projection about its centre by ``degrees``, counter-clockwise as displayed (row 0 on top).

    ``rotate_projections(prj, -estimate_tilt_axis(prj, theta))`` makes an
    inclined tilt axis vertical. Bilinear; zeros enter at the corners.

    Parameters
    ----------
    prj : array_like, shape (nangles, rows, cols)
    degrees : float
    device : None, str or torch.device
        Where to compute; CUDA when available by default.

    Returns
    -------
    ndarray of float32, shape (nangles, rows, cols)

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((1, 9, 9), np.float32); img[0, 4, 6:] = 1  # a dash right of the centre
    >>> out = rotate_projections(img, 90.0)
    >>> bool(out[0, :4, 4].sum() > 2.5)  # counter-clockwise: now above the centre
    True
    """
    arr = as_float32_array(prj, "prj", 3)
    dev = resolve_device(device)
    return _rotate(torch.from_numpy(arr).to(dev), float(degrees)).cpu().numpy()


def _disagreement(work: torch.Tensor, degrees: float) -> float:
    """How much the row profiles of ``work`` rotated by ``-degrees`` disagree, once their shifts are removed."""
    rot = _rotate(work, -degrees)
    d = profile_row_shifts(rot)
    prof = displace(rot, -d, torch.zeros_like(d), padding="zeros").sum(dim=2)
    prof = prof / prof.sum(dim=1, keepdim=True).abs().clamp_min(1e-30)  # tilts differ in total signal
    mean = prof.mean(dim=0, keepdim=True)
    # Rows near the ends enter and leave with the shifts: compare the middle 80%.
    m = max(1, prof.shape[1] // 10)
    return float(((prof - mean)[:, m:-m] ** 2).sum() / (mean[:, m:-m] ** 2).sum().clamp_min(1e-30))


def _background_free(arr: np.ndarray, background: str | None) -> tuple[np.ndarray, np.ndarray | None]:
    """``arr`` less each tilt's background level and the levels, or ``arr`` and None (:func:`.background_levels`)."""
    levels = background_levels(arr, background)
    return (arr, None) if levels is None else (arr - levels[:, None, None], levels)


def estimate_tilt_axis(
    prj,
    theta,
    *,
    max_angle: float = 10.0,
    step: float = 0.5,
    background: str | None = "auto",
    device=None,
) -> float:
    """In-plane angle of the tilt axis from the vertical, in degrees, counter-clockwise as displayed.

    Parameters
    ----------
    prj : array_like, shape (nangles, rows, cols)
        A tilt series: line integrals or counts (HAADF, no ``-log``), with
        or without jitter.
    theta : array_like, shape (nangles,)
        Tilt angles in radians (checked, not otherwise needed: the invariant
        holds at every tilt).
    max_angle : float
        The search covers ``[-max_angle, max_angle]`` degrees.
    step : float
        Grid step of the search in degrees, before the parabola refines it.
    background : 'auto', 'edges' or None
        ``'edges'`` subtracts each tilt's background level (the median of its
        outer columns, :func:`~.normalize.edge_background`) before the
        search; ``'auto'`` does when the totals of the tilts agree better
        without it (:func:`~.normalize.background_levels`); ``None`` uses
        the series as it is. On simulated 200-count
        series over +-76 degrees with a support film (at zero tilt, 0.1 of
        the brightest pixel), the estimate was off by about 3 degrees
        without it and by at most 0.2 with it.
    device : None, str or torch.device
        Where to compute; CUDA when available by default.

    Returns
    -------
    float
        The angle ``phi``: ``rotate_projections(prj, -phi)`` has a vertical axis.

    Raises
    ------
    ValueError
        For fewer than 3 projections or rows, a non-positive search range, or
        an unknown ``background``.

    Examples
    --------
    >>> import numpy as np
    >>> from tomopy_dl.sim import make_object, project
    >>> theta = np.deg2rad(np.arange(-60, 61, 3.0)).astype(np.float32)
    >>> series = project(make_object("solid", 64, 64, seed=3), theta, pad=False)
    >>> inclined = rotate_projections(series, 2.5)
    >>> round(estimate_tilt_axis(inclined, theta), 1)
    2.5
    """
    arr = as_float32_array(prj, "prj", 3)
    as_angles(theta, arr.shape[0], name="theta")
    if arr.shape[0] < 3 or arr.shape[1] < 3:
        raise ValueError(f"estimate_tilt_axis needs at least 3 projections of 3 rows, got {arr.shape}")
    if not (max_angle > 0 and step > 0):
        raise ValueError(f"max_angle and step must be > 0 degrees, got {max_angle!r} and {step!r}")
    arr, _ = _background_free(arr, background)
    dev = resolve_device(device)
    work = torch.from_numpy(arr).to(dev)
    factor = max(1, int(np.ceil(max(arr.shape[1:]) / _WORK)))
    if factor > 1:
        work = F.avg_pool2d(work[:, None], factor, ceil_mode=True)[:, 0]
    # A light blur (sigma 1 px): interpolation smooths every angle but 0 exactly, which on noisy data
    # made the profiles at other angles look more alike and pushed the estimate off 0 (by 0.4-0.6
    # degrees on 300-count series); blurred first, the interpolation adds little.
    k = torch.exp(-0.5 * torch.arange(-2, 3, device=dev, dtype=work.dtype) ** 2)
    k = k / k.sum()
    work = F.conv2d(F.pad(work[:, None], (2, 2, 2, 2), mode="replicate"), (k[:, None] * k[None, :])[None, None])[:, 0]
    with torch.no_grad():
        grid = np.arange(-max_angle, max_angle + step / 2, step)
        cost = np.array([_disagreement(work, a) for a in grid])
        i = int(np.argmin(cost))
        if 0 < i < grid.size - 1:
            lo, mid, hi = cost[i - 1 : i + 2]
            denom = lo - 2 * mid + hi
            frac = 0.5 * (lo - hi) / denom if denom > 0 else 0.0
            best = float(grid[i] + np.clip(frac, -0.5, 0.5) * step)
        else:
            best = float(grid[i])
            logger.warning("estimate_tilt_axis: best angle %.2f at the search edge; widen max_angle", best)
    logger.info("estimate_tilt_axis: %.2f degrees", best)
    return best


def align_tilt_series(
    prj,
    theta,
    *,
    tilt_axis: float | str = "auto",
    max_angle: float = 10.0,
    background: str | None = "auto",
    device=None,
    **kwargs,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """Make the tilt axis vertical, then correct jitter: :func:`~.alignment.align_jitter` for tilt series.

    Parameters
    ----------
    prj : array_like, shape (nangles, rows, cols)
        The tilt series: line integrals or counts (HAADF, no ``-log``).
    theta : array_like, shape (nangles,)
        Tilt angles in radians.
    tilt_axis : float or 'auto'
        The axis's in-plane angle from the vertical in degrees, counter-clockwise
        as displayed; ``'auto'`` estimates it (:func:`estimate_tilt_axis`).
    max_angle : float
        Search range of ``'auto'``, in degrees either side of vertical.
    background : 'auto', 'edges' or None
        As :func:`estimate_tilt_axis`'s: the levels subtracted for the axis
        estimate are subtracted for the alignment too, then added back to the
        result, so the values stay the caller's.
    device : None, str or torch.device
    **kwargs
        Passed to :func:`~.alignment.align_jitter` (``iters``, ``center``,
        ``estimator``, ``progress``...). ``work_size`` is 128 here unless
        given (``align_jitter``'s is 256): on noisy counts the coarser
        working copy was as accurate or better and 4 to 9 times faster.

    Returns
    -------
    prj : ndarray of float32, shape (nangles, rows, cols)
        The series rotated by ``-tilt_axis`` and aligned.
    sx, sy : ndarray of float64, shape (nangles,)
        Row and column shifts of the *rotated* series:
        ``shift_images(rotate_projections(raw, -tilt_axis), sx, sy)`` gives ``prj``
        (when a background was subtracted, up to the corners that the rotation
        brings in, which hold the tilt's background level instead of 0).
    conv : ndarray of float64, shape (iters,)
        As :func:`~.alignment.align_jitter`'s.
    tilt_axis : float
        The angle used, in degrees (estimated or given).

    Examples
    --------
    >>> import numpy as np
    >>> from tomopy_dl.sim import add_jitter, make_object, project
    >>> theta = np.deg2rad(np.arange(-60, 61, 3.0)).astype(np.float32)
    >>> series = np.pad(project(make_object("solid", 48, 48, seed=3), theta, pad=False), ((0, 0), (8, 8), (8, 8)))
    >>> jittered, _, _ = add_jitter(rotate_projections(series, 3.0), 4.0, seed=1)
    >>> aligned, sx, sy, conv, phi = align_tilt_series(jittered, theta, iters=1, progress=False)
    >>> round(phi)
    3
    """
    arr = as_float32_array(prj, "prj", 3)
    if isinstance(tilt_axis, str) and tilt_axis != "auto":
        raise ValueError(f"tilt_axis must be a number of degrees or 'auto', got {tilt_axis!r}")
    arr, levels = _background_free(arr, background)
    if isinstance(tilt_axis, str):
        phi = estimate_tilt_axis(arr, theta, max_angle=max_angle, background=None, device=device)
    else:
        phi = float(tilt_axis)
        if not np.isfinite(phi):
            raise ValueError(f"tilt_axis must be finite, got {tilt_axis!r}")
    upright = rotate_projections(arr, -phi, device=device) if phi else arr
    # The levels are off already: align_jitter is told not to look for any.
    kwargs.setdefault("work_size", _TILT_WORK_SIZE)
    out, sx, sy, conv = align_jitter(upright, theta, device=device, background=None, **kwargs)
    if levels is not None:
        out += levels[:, None, None]  # a shift moves a constant nowhere: adding it back after is exact
    return out, sx, sy, conv, phi
