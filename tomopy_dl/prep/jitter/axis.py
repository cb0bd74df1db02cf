"""The rotation axis and the coarse start of jitter correction: searched on the data before the passes."""

from __future__ import annotations

import numpy as np
import torch

from ..center import find_center_pair
from ..moments import centroid_axis, centroid_col_shifts, profile_row_shifts
from ..shift import displace
from .estimators import _inconsistency, _inner_region, _judged_rows
from .reproject import rough_reprojection

# Steps of 1 px the axis search may walk downhill from its best candidate.
_AXIS_WALK = 6


def coarse_start(
    work: torch.Tensor,
    theta: np.ndarray,
    center: float,
    algorithm: str,
    num_iter: int,
    keep: torch.Tensor,
    *,
    judge_rows: bool = False,
    projector: str = "siddon",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """The starting displacements, from projection invariants, kept only if they help.

    Large jitter blurs the first rough reconstruction so much that its
    reprojection holds little to register against. The slice-mass profile
    (rows) and the centroid sinusoid (columns) of :mod:`.moments` estimate
    jitter without a reconstruction, but fail on some objects (a body of
    uniform slices has a flat profile; a body leaving the field of view has a
    biased centroid). So three starts (none, columns only, both) are each
    reconstructed and reprojected, and the most consistent one is kept.

    With ``judge_rows``, the starts are judged on up to 32 evenly spaced rows
    (step A reconstructs each row on its own, so that is the same residual on
    fewer rows, at a fraction of the cost), and no reprojection is returned.
    ``projector`` is step A+B's, as in :func:`rough_reprojection`.

    Returns
    -------
    cum : torch.Tensor, shape (nangles, 2)
        Starting displacements in pixels of ``work``, mean zero.
    current : torch.Tensor, shape (nangles, rows, cols)
        ``work`` moved back by ``cum``.
    reprojection : torch.Tensor, shape (nangles, rows, cols), or None
        The rough reprojection of ``current`` (pass 1's A+B); None with
        ``judge_rows`` where fewer rows were judged.
    residual : torch.Tensor
        On the rows judged.
    """
    n = work.shape[0]
    zero = torch.zeros(n, device=work.device, dtype=work.dtype)
    row = profile_row_shifts(work) * keep[0] if work.shape[1] > 8 else zero
    # The centroid of the rows every projection shows once rows are aligned:
    # rows entering and leaving the view would move it.
    level = displace(work, -row, zero)
    m = int(np.ceil(float(row.abs().max()))) + 1
    col = centroid_col_shifts(level[:, m:-m] if level.shape[1] - 2 * m >= 4 else level, theta) * keep[1]
    candidates = (torch.stack([zero, zero], 1), torch.stack([zero, col], 1), torch.stack([row, col], 1))
    region = _inner_region(work.shape, torch.stack([row, col], 1))
    pick = _judged_rows(work.shape[1], region, work.device) if judge_rows else None
    judged = region if pick is None else (slice(None), slice(None), region[2])
    best = None
    for cand in candidates:
        cur = displace(work, -cand[:, 0], -cand[:, 1])
        seen = cur if pick is None else cur[:, pick].contiguous()
        rep = rough_reprojection(seen, theta, center, algorithm, num_iter, projector=projector)
        res = _inconsistency(seen, rep, judged)
        if best is None or res < best[3]:
            best = (cand, cur, rep if pick is None else None, res)
    return best


def search_axis(
    cur: torch.Tensor,
    theta: np.ndarray,
    candidates: list[float],
    algorithm: str,
    num_iter: int,
    region: tuple,
    *,
    projector: str = "siddon",
) -> tuple[float, dict[float, float]]:
    """The rotation axis that makes a stack most consistent, from a few candidates.

    The rough reconstruction of step A assumes an axis; an axis a few pixels
    off smears it into arcs, and the passes then register the projections to a
    smeared reprojection (measured: 8 px off on 160-px textured bodies raised
    the residual jitter from 0.16-0.18 to 0.48-0.52 px). Each candidate is
    scored by the data residual of step A+B on up to 32 rows; from the best,
    the search walks downhill in steps of 1 px (at most 6) and ends with a
    parabola through the lowest point and its neighbours. Axes are tried on
    a grid of half pixels about the first candidate, within an eighth of
    the width of it, so that the search builds at most two projector
    geometries, whatever it tries.

    Parameters
    ----------
    cur : torch.Tensor, shape (nangles, rows, cols)
        The stack, as well aligned as it is yet.
    theta : ndarray, shape (nangles,)
    candidates : list of float
        Axes in pixels of ``cur``; the first is kept if none can be compared.
    algorithm, num_iter, projector
        Step A, as in :func:`rough_reprojection`.
    region : tuple of slices
        The part of the projections that is compared (see :func:`_inner_region`).

    Returns
    -------
    axis : float
    scores : dict
        The residual of every axis tried (empty when the compared region
        would be too narrow, and the first candidate is returned).
    """
    n, rows, cols = cur.shape
    sub = cur[:, _judged_rows(rows, region, cur.device, every=True)].contiguous()
    base = float(candidates[0])
    finite = [base] + [float(c) for c in candidates[1:] if np.isfinite(c) and abs(c - base) <= cols / 8]
    # Every axis is tried as the first candidate or half a pixel from it, with the projections
    # moved by whole pixels (exact, no interpolation): two projector geometries, not one per axis
    # tried (a 2048-wide, 1500-angle one holds about 700 MB).
    reach = int(np.ceil(max(abs(c - base) for c in finite))) + _AXIS_WALK + 2
    cols_only = (slice(None), slice(None), slice(region[2].start + reach, region[2].stop - reach))
    if cols_only[2].stop - cols_only[2].start < cols // 4:  # too narrow to compare: keep the first
        return base, {}
    scores: dict[float, float] = {}

    def score(c: float) -> float:
        half_steps = int(round(2 * (c - base)))
        c = base + half_steps / 2
        if c not in scores:
            whole = int(np.floor(half_steps / 2))
            moved = displace(sub, torch.zeros(n, device=sub.device), torch.full((n,), -float(whole), device=sub.device))
            rep = rough_reprojection(moved, theta, c - whole, algorithm, num_iter, projector=projector)
            scores[c] = float(_inconsistency(moved, rep, cols_only))
        return scores[c]

    best = min(finite, key=score)
    best = base + round(2 * (best - base)) / 2
    lo, mid, hi = score(best - 1), score(best), score(best + 1)
    for _ in range(_AXIS_WALK):  # not bracketed yet: walk downhill
        if not (lo < mid or hi < mid):
            break
        best = best - 1 if lo < hi else best + 1
        lo, mid, hi = score(best - 1), score(best), score(best + 1)
    curv = lo - 2 * mid + hi
    step = 0.5 * (lo - hi) / curv if curv > 0 else 0.0
    return best + float(np.clip(step, -1.0, 1.0)), scores


def _half_turn(theta: np.ndarray) -> bool:
    """Whether the angles cover half a turn, to within 1.5 of their mean step (the scan sees both sides)."""
    t = np.asarray(theta, np.float64)
    span = float(np.ptp(t))
    return span + 1.5 * span / max(t.size - 1, 1) >= np.pi


def _plausible(axis: float, cols: int, fallback: float) -> float:
    """``axis`` if it lies in the middle half of the detector, else ``fallback``."""
    return axis if np.isfinite(axis) and cols / 4 < axis < 3 * cols / 4 else fallback


def _axis_candidates(cur: torch.Tensor, theta: np.ndarray) -> list[float]:
    """The detector middle, the centroid sinusoid's axis and the opposite-pair axis of ``cur``."""
    out = [cur.shape[2] / 2, centroid_axis(cur, theta)]
    try:
        out.append(find_center_pair(cur.cpu().numpy(), theta))
    except ValueError:  # no two projections 180 degrees apart (a tilt series)
        pass
    return out

