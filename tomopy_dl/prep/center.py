"""Rotation-centre estimates: Vo's Fourier method on a sinogram, and a pair of opposite projections."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from ..util.validation import as_angles, as_float32_array
from .registration import phase_correlation_shifts

__all__ = ["CenterEstimate", "find_center", "find_center_pair", "find_center_vo"]

logger = logging.getLogger(__name__)

#: Estimates further apart than this (pixels) are reported as disagreeing.
AGREEMENT_PX = 2.0


def find_center_pair(prj, theta, rows: tuple[int, int] | None = None) -> float:
    """Rotation axis from the two projections closest to 180 degrees apart.

    A parallel-beam projection at ``theta + 180`` is the mirror image of the
    one at ``theta`` about the axis, so the shift that registers one onto the
    mirrored other gives the axis: ``center = (cols - shift) / 2`` in TomoPy's
    convention (pixel ``d`` covers ``[d, d + 1)``).

    Parameters
    ----------
    prj : array_like, shape (nangles, rows, cols)
        Line integrals.
    theta : array_like, shape (nangles,)
        Angles in radians; some pair must be close to pi apart.
    rows : (int, int), optional
        Rows to use; all by default.

    Returns
    -------
    float
        The axis in detector pixels, as ``center`` of ``recon``.

    Raises
    ------
    ValueError
        If no pair of projections is within 5 degrees of opposite.
    """
    p = as_float32_array(prj, "prj", 3)
    t = as_angles(theta, p.shape[0]).astype(np.float64)
    if rows is not None:
        p = p[:, rows[0] : rows[1]]
    gap = np.abs(np.abs(t[None, :] - t[:, None]) - np.pi)
    i, j = np.unravel_index(np.argmin(gap), gap.shape)
    if gap[i, j] > np.deg2rad(5.0):
        raise ValueError(
            "no two projections are within 5 degrees of opposite; pass center= yourself "
            f"(the closest pair is {np.rad2deg(gap[i, j]) + 180:.1f} degrees apart)"
        )
    # Column profiles: robust to rows and to small vertical jitter.
    a = p[i].sum(axis=0)[None, None]
    b = p[j].sum(axis=0)[::-1][None, None].copy()
    shift = phase_correlation_shifts(b, a, upsample_factor=20)[0, 1]
    return float((p.shape[2] - shift) / 2)


def _half_turn_order(theta: np.ndarray) -> np.ndarray:
    """Indices of the projections of the first half turn (``[t0, t0 + 180)`` degrees), in angle order."""
    t = np.asarray(theta, np.float64)
    first = t.min()
    order = np.argsort(t, kind="stable")
    step = np.pi / max(t.size, 1)
    return order[t[order] < first + np.pi - 0.5 * step] if np.ptp(t) >= np.pi - 2 * step else order


def _vo_mask(nrow: int, ncol: int, radius: float, drop: int) -> np.ndarray:
    """Vo's double-wedge mask on the centred 2D spectrum of a 360-degree sinogram (``nrow`` x ``ncol``)."""
    du = 1.0 / ncol
    dv = (nrow - 1.0) / (nrow * 2.0 * np.pi)
    cen_row = int(np.ceil(nrow / 2.0) - 1)
    cen_col = int(np.ceil(ncol / 2.0) - 1)
    drop = min(drop, int(np.ceil(0.1 * nrow)))
    pos = np.round((np.arange(nrow) - cen_row) * dv / radius / du).astype(np.int64)
    lo = np.clip(np.minimum(-pos, pos) + cen_col, 0, ncol - 1)
    hi = np.clip(np.maximum(-pos, pos) + cen_col, 0, ncol - 1)
    cols = np.arange(ncol)
    mask = ((cols[None] >= lo[:, None]) & (cols[None] <= hi[:, None])).astype(np.float32)
    mask[cen_row - drop : cen_row + drop + 1] = 0.0
    mask[:, cen_col - 1 : cen_col + 2] = 0.0
    return mask


def _shift_columns(padded: np.ndarray, pad: int, ncol: int, shift: float) -> np.ndarray:
    """Cubic B-spline interpolation at columns ``j - shift`` from spline coefficients padded by ``pad``.

    The same numbers as ``ndimage.shift(coef2d, (0, shift), order=3,
    prefilter=False)`` on the 2D coefficients (1e-15 apart, tested) wherever
    the shifted sinogram is kept, at a quarter of its cost: a shift along one
    axis needs 4 taps, not 16.
    """
    i0 = int(np.floor(-shift))
    t = -shift - i0
    weights = ((1 - t) ** 3 / 6, (3 * t**3 - 6 * t**2 + 4) / 6, (-3 * t**3 + 3 * t**2 + 3 * t + 1) / 6, t**3 / 6)
    start = pad + i0 - 1
    out = weights[0] * padded[:, start : start + ncol]
    for k in (1, 2, 3):
        out += weights[k] * padded[:, start + k : start + k + ncol]
    return out


def _half_weights(mask: np.ndarray) -> np.ndarray:
    """A full spectrum's mask (FFT order) folded onto ``rfft``'s half: ``|F(-u)| = |F(u)|`` for real input."""
    nrow, ncol = mask.shape
    half = mask[:, : ncol // 2 + 1].copy()
    paired = np.arange(1, (ncol + 1) // 2)  # the columns whose conjugate partner is not in the half
    half[:, paired] += mask[(-np.arange(nrow)) % nrow][:, ncol - paired]
    return half


def _vo_metric(sino: np.ndarray, centers: np.ndarray, mask: np.ndarray, exact: bool) -> np.ndarray:
    """Vo's metric for each trial centre: spectral energy of [sino; mirrored sino] inside the mask.

    At the right centre the mirrored sinogram continues the measured one into
    a 360-degree sinogram whose spectrum is empty outside the double wedge.
    ``exact``: shift by cubic interpolation (the fine search), else by whole pixels.
    """
    from scipy import fft, ndimage

    nrow, ncol = sino.shape
    mirror = sino[:, ::-1]
    flipped = sino[::-1]  # fills what the shift brings in, so that no edge is created
    # The stack's 2D FFT as row transforms then column transforms: the measured half's rows are
    # the same for every trial (done once), and real rows need half a spectrum (rfft, mask folded).
    weights = _half_weights(fft.ifftshift(mask)).astype(np.float32)
    spectrum = np.empty((2 * nrow, ncol // 2 + 1), np.complex64)
    spectrum[:nrow] = fft.rfft(sino.astype(np.float32), axis=1, workers=-1)
    if exact:
        # The cubic spline's coefficients along the rows once for all trials, mirror-padded as
        # ndimage pads them, so that each trial is 4 shifted slices.
        pad = int(np.ceil(2.0 * np.abs(np.asarray(centers) - (ncol - 1.0) / 2.0).max())) + 3
        coef = np.pad(ndimage.spline_filter1d(mirror, order=3, axis=1, mode="mirror"), ((0, 0), (pad, pad)),
                      mode="reflect")  # fmt: skip
    out = np.empty(len(centers))
    for i, c in enumerate(centers):
        shift = 2.0 * (c - (ncol - 1.0) / 2.0)
        if exact:
            moved = _shift_columns(coef, pad, ncol, shift)
            k = int(np.ceil(shift)) if shift >= 0 else int(np.floor(shift))
        else:
            k = int(round(shift))
            moved = np.roll(mirror, k, axis=1)
        if k >= 0:
            moved[:, :k] = flipped[:, :k]
        else:
            moved[:, k:] = flipped[:, k:]
        # scipy's FFT on every core, in single precision: 0.02 s at 3000 x 2048 against numpy's 0.26 s.
        spectrum[nrow:] = fft.rfft(moved.astype(np.float32), axis=1, workers=-1)
        full = fft.fft(spectrum, axis=0, workers=-1)
        out[i] = float(np.sum(np.abs(full) * weights, dtype=np.float64)) / (2 * nrow * ncol)
    return out


def find_center_vo(
    prj,
    theta,
    *,
    row: int | None = None,
    smin: float = -50.0,
    smax: float = 50.0,
    srad: float = 6.0,
    step: float = 0.25,
    ratio: float = 0.5,
    drop: int = 20,
) -> float:
    """Rotation axis by Vo's Fourier method, on one sinogram row.

    The sinogram of the first half turn and its mirror image, shifted by
    twice a trial centre's offset from the detector middle, make a
    360-degree sinogram. At the right centre it is continuous, and its 2D
    spectrum lies inside a double wedge; the metric is the energy outside it
    (inside Vo's mask). A coarse search over whole-pixel shifts from ``smin``
    to ``smax`` pixels about the middle (on a copy binned by 4 at sizes over
    2048 x 2048, as TomoPy does) is followed by a fine one, ``step`` apart
    within ``srad`` pixels. TomoPy's ``find_center_vo`` with its defaults,
    taking angles so that any scan of half a turn or more can be given, and
    returning the centre as ``recon`` counts it: half a pixel more than
    TomoPy's function, which counts from the first pixel's centre (on the
    tooth it says 295.0, this 295.5).

    Parameters
    ----------
    prj : array_like, shape (nangles, rows, cols)
        Line integrals (after ``-log``).
    theta : array_like, shape (nangles,)
        Angles in radians, spanning at least half a turn.
    row : int, optional
        The middle of the ten rows averaged (fewer at the edges); the
        detector's middle by default.
    smin, smax : float
        Coarse search range in pixels, about the detector middle.
    srad, step : float
        Fine search radius and step in pixels.
    ratio : float
        The object's size over the field of view's (Vo's mask).
    drop : int
        Rows about the spectrum's centre left out of the mask (low frequencies).

    Returns
    -------
    float
        The axis in detector pixels, as ``center`` of ``recon``.

    Raises
    ------
    ValueError
        If the angles span less than half a turn.

    References
    ----------
    .. [1] N. T. Vo, M. Drakopoulos, R. C. Atwood and C. Reinhard, "Reliable
       method for calculating the center of rotation in parallel-beam
       tomography", Opt. Express 22, 19078-19086 (2014).

    Examples
    --------
    >>> from tomopy_dl.sim import make_object, project
    >>> theta = np.linspace(0, np.pi, 180, endpoint=False).astype(np.float32)
    >>> prj = project(make_object("porous", 64, 3, seed=1), theta, center=35.0, pad=False)
    >>> round(find_center_vo(prj, theta), 1)
    35.0
    """
    from scipy import ndimage

    p = as_float32_array(prj, "prj", 3, copy=False)
    t = as_angles(theta, p.shape[0]).astype(np.float64)
    if np.ptp(t) + np.ptp(t) / max(t.size - 1, 1) < np.pi * (1 - 1e-3):
        raise ValueError(
            f"the angles span {np.rad2deg(np.ptp(t)):.1f} degrees: finding the axis needs half a turn; pass center="
        )
    half = _half_turn_order(t)
    mid = p.shape[1] // 2 if row is None else int(row)
    if not 0 <= mid < p.shape[1]:
        raise ValueError(f"row {mid} is outside the projections' {p.shape[1]} rows")
    # As TomoPy: the mean of ten rows, for signal to noise.
    sino = np.asarray(p[half, max(mid - 5, 0) : mid + 5], np.float64).mean(axis=1)
    nrow, ncol = sino.shape
    # Coarse: whole-pixel shifts of the mirror (half-pixel centres), smoothed along the angles;
    # above 2k x 2k on columns binned by 4, as TomoPy does.
    factor = 4 if nrow * ncol > 4e6 else 1
    coarse = ndimage.gaussian_filter(sino, (3, 1))
    if factor > 1:
        coarse = coarse[:, : ncol // factor * factor].reshape(nrow, ncol // factor, factor).mean(axis=2)
    cc = coarse.shape[1]
    cmid = (cc - 1.0) / 2.0
    shifts = np.arange(int(np.clip(smin / factor + cmid, 0, cc - 1) - cmid),
                       int(np.clip(smax / factor + cmid, 0, cc - 1) - cmid) + 1)  # fmt: skip
    trials = cmid + shifts / 2.0
    metric = _vo_metric(coarse, trials, _vo_mask(2 * nrow, cc, 0.5 * ratio * cc, drop), False)
    first = float(trials[np.argmin(metric)]) * factor
    # Fine: sub-pixel shifts by cubic interpolation, about the coarse centre.
    fine = ndimage.gaussian_filter(sino, (2, 2))
    srad = float(np.clip(abs(srad), 1.0, ncol / 4.0))
    step = float(np.clip(abs(step), 0.1, srad))
    trials = float(np.clip(first, srad, ncol - srad - 1)) + np.arange(-srad, srad + step, step)
    metric = _vo_metric(fine, trials, _vo_mask(2 * nrow, ncol, 0.5 * ratio * ncol, drop), True)
    # Vo counts pixel d's centre at d; recon's centre counts from the detector's edge (pixel d
    # covers [d, d + 1)): half a pixel more. TomoPy's find_center_vo returns the former, so on
    # projections made about 35.0 it says 34.5 (tests/test_center.py).
    return float(trials[np.argmin(metric)]) + 0.5


@dataclass(frozen=True)
class CenterEstimate:
    """The rotation axis found from the data, with what it rests on.

    Attributes
    ----------
    center : float
        The axis in detector pixels: the median of ``by_row``.
    by_row : dict of int to float
        Vo's estimate on ten rows about each row tried.
    pair : float or None
        The opposite-projection estimate (:func:`find_center_pair`), a check;
        None without a pair of projections 180 degrees apart.
    """

    center: float
    by_row: dict = field(default_factory=dict)
    pair: float | None = None

    @property
    def spread(self) -> float:
        """The largest distance in pixels between any two of the estimates."""
        values = [*self.by_row.values(), *([] if self.pair is None else [self.pair])]
        return float(np.ptp(values)) if values else 0.0

    @property
    def agrees(self) -> bool:
        """Whether every estimate lies within :data:`AGREEMENT_PX` of every other."""
        return self.spread <= AGREEMENT_PX

    def describe(self, origin: int = 0) -> str:
        """One line for the log: the axis and each estimate, rows counted from ``origin``."""
        rows = ", ".join(f"{c:.2f} at row {r + origin}" for r, c in self.by_row.items())
        pair = "none" if self.pair is None else f"{self.pair:.2f}"
        return f"{self.center:.2f} px (Vo's method: {rows}; opposite projections: {pair}; spread {self.spread:.2f} px)"


def find_center(prj, theta, *, rows=None) -> CenterEstimate:
    """The rotation axis of a scan, by Vo's method on a few rows, checked against opposite projections.

    Parameters
    ----------
    prj : array_like, shape (nangles, rows, cols)
        Line integrals over at least half a turn.
    theta : array_like, shape (nangles,)
        Angles in radians.
    rows : sequence of int, optional
        The rows about which :func:`find_center_vo` runs; by default the
        middle row, and the rows at a quarter and three quarters of the
        height too when there are 30 rows or more (an axis that moves with
        the height, a tilted one, shows as spread).

    Returns
    -------
    CenterEstimate
        ``.center`` is the median of the rows' estimates; ``.agrees`` says
        whether all estimates, the pair's included, are within
        :data:`AGREEMENT_PX` of each other.

    Examples
    --------
    >>> from tomopy_dl.sim import make_object, project
    >>> theta = np.linspace(0, np.pi, 181).astype(np.float32)
    >>> prj = project(make_object("porous", 64, 3, seed=1), theta, center=35.0, pad=False)
    >>> est = find_center(prj, theta)
    >>> round(est.center, 1), est.agrees
    (35.0, True)
    """
    p = as_float32_array(prj, "prj", 3, copy=False)
    n_rows = p.shape[1]
    if rows is None:
        rows = [n_rows // 4, n_rows // 2, 3 * n_rows // 4] if n_rows >= 30 else [n_rows // 2]
    by_row = {int(r): find_center_vo(p, theta, row=int(r)) for r in rows}
    try:
        pair = find_center_pair(p, theta)
    except ValueError:  # no opposite pair (cannot happen over half a turn, but a check is not a need)
        pair = None
    return CenterEstimate(float(np.median(list(by_row.values()))), by_row, pair)
