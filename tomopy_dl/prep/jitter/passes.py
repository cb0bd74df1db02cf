"""The pass loop of jitter correction: its arguments checked, the working copy, and the passes as a class."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import trange

from ...physics import PROJECTOR_CHOICES
from ...util.validation import as_angles, as_center, as_choice, as_float32_array, as_positive_int
from ..moments import centroid_axis
from ..normalize import background_levels
from ..shift import displace
from .axis import _axis_candidates, _half_turn, _plausible, coarse_start, search_axis
from .estimators import _inconsistency, _inner_region, _judged_rows, _xcorr, predict_displacements
from .reproject import _reprojection
from .stack import prepare_stack

logger = logging.getLogger(__name__)

_ALGORITHMS = ("sirt", "mlem", "fbp")


_AXES = ("both", "row", "col")


_ESTIMATORS = ("auto", "resnet", "xcorr")


# Fewer rows (columns) than this in the working copy and row (column) shifts
# cannot be told from the reconstruction's own errors: the axis is skipped.
_MIN_ROWS = 8


_MIN_COLS = 32


# The shifts found must make the stack this much more consistent (relative
# data residual) than leaving it alone, or there was no jitter to find.
# Measured: clean stacks gained 0-5.4% by fitting the rough reconstruction's
# own errors; +-10 px jitter gained 60-93%, and 10.4% on the real tooth under
# 40% salt-and-pepper, where the shifts still took 5.8 px of jitter to 3.8.
_MIN_GAIN = 0.08


def _checked_jitter_args(prj, ang, *, iters, num_iter, work_size, center, algorithm, axes, refine, background,
                         despeckle, estimator, projector):  # fmt: skip
    """:func:`estimate_jitter`'s arguments checked, before anything is read or built."""
    if not (hasattr(prj, "shape") and hasattr(prj, "__getitem__")):
        prj = as_float32_array(prj, "prj", 3, copy=False)
    if len(prj.shape) != 3:
        raise ValueError(f"prj must be 3D (nangles, rows, cols), got shape {tuple(prj.shape)}")
    shape = tuple(int(k) for k in prj.shape)
    if min(shape) < 1:
        raise ValueError(f"prj must not be empty, got shape {tuple(prj.shape)}")
    theta = as_angles(ang, shape[0], name="ang")
    if theta.size < 2:
        raise ValueError("align_jitter needs at least 2 projections")
    iters = as_positive_int(iters, "iters")
    num_iter = as_positive_int(num_iter, "num_iter", minimum=0)
    work_size = as_positive_int(work_size, "work_size", minimum=16)
    as_choice(algorithm, "algorithm", _ALGORITHMS)
    as_choice(axes, "axes", _AXES)
    as_choice(refine, "refine", (True, False, "auto"))
    as_choice(background, "background", ("auto", "edges", None))
    as_choice(despeckle, "despeckle", (True, False, "auto"))
    as_choice(estimator, "estimator", _ESTIMATORS)
    as_choice(projector, "projector", PROJECTOR_CHOICES)
    return prj, theta, shape, iters, num_iter, work_size, as_center(center, shape[2])


@dataclass(frozen=True)
class _StepA:
    """Steps A and B's settings: the rough reconstruction and the projector it and the reprojection use."""

    algorithm: str
    num_iter: int
    projector: str


def _working_copy(prj, work_size: int, despeckle, background, keep: torch.Tensor, dev, progress: bool):
    """The working copy (shrunk, despeckled, its background levels taken off) and its shrink factors.

    Clears the axes of ``keep`` that the copy has too few pixels to measure, with a warning.
    """
    work, factors, filtered = prepare_stack(prj, work_size, despeckle, device=dev, progress=progress)
    # On the working copy, which the shrink and the median filter leave a constant in: the same
    # levels as the caller's projections, without a second reading.
    levels = background_levels(work, background)
    if levels is not None:
        work -= levels[:, None, None]
        logger.info("align_jitter: background levels %.3g to %.3g subtracted", levels.min(), levels.max())
    axes_sizes = (("row", work.shape[1], _MIN_ROWS), ("column", work.shape[2], _MIN_COLS))
    for i, (name, size, least) in enumerate(axes_sizes):
        if keep[i] and size < least:
            keep[i] = 0
            warnings.warn(
                f"align_jitter: {size} {name}s are too few to measure {name} shifts (at least {least}); "
                f"{name} shifts are left at zero (pass axes='{'col' if i == 0 else 'row'}' to say so)",
                UserWarning,
                stacklevel=3,
            )
    if filtered:
        logger.info("align_jitter: impulse noise detected, estimating on median-filtered projections")
    return work, factors


def _start_and_axis(work, theta, wc: float, find: bool, coarse: bool, keep, factors, fc: float, step_a: _StepA):
    """The coarse start and the rotation axis of the stack as it aligns: ``(cum, cur, c_start, offset)``.

    ``c_start`` is the axis the rough reconstructions are made about; ``offset`` the common column move that
    puts the stack on the axis found (the same thing, without a projector geometry per axis).
    """
    dev = work.device
    # Without a centre, the coarse start is judged about the centroid's axis (jitter averages
    # out of it); an axis 6 px off would dominate the residuals that choose the start.
    c_start = wc
    if find and _half_turn(theta):
        c_start = _plausible(centroid_axis(work, theta), work.shape[2], wc)
    cum = torch.zeros(work.shape[0], 2, device=dev)  # displacement of each projection, working pixels
    if coarse:
        cum, cur, _, res = coarse_start(work, theta, c_start, step_a.algorithm, step_a.num_iter, keep,
                                        judge_rows=True, projector=step_a.projector)  # fmt: skip
        logger.info("align_jitter coarse start: RMS %.3f px, residual %.4g",
                    float(torch.sqrt(((cum * factors) ** 2).sum(dim=1).mean())), float(res))  # fmt: skip
    else:
        cur = work
    # The axis of the stack as aligned: zero-mean shifts leave in it the constant part of the
    # jitter's fit a + b cos + c sin (unobservable as jitter), which moves it off a given centre.
    offset = torch.zeros(2, device=dev)
    if _half_turn(theta):
        candidates = [c_start] + ([] if not find else _axis_candidates(cur, theta))
        found, scores = search_axis(cur, theta, candidates, step_a.algorithm, step_a.num_iter,
                                    _inner_region(work.shape, cum), projector=step_a.projector)  # fmt: skip
        offset[1] = found - c_start
        logger.info("align_jitter: rotation axis %.2f px (%s; tried %s)", found * fc,
                    "not given" if find else "near the centre given",
                    ", ".join(f"{k * fc:.2f}: {v:.4g}" for k, v in sorted(scores.items())))  # fmt: skip
    else:
        # A limited tilt range (a tilt series) leaves the residual nearly flat in the axis: on a
        # +-60 degree series it fell 2% over 15 px and the search walked off. The axis stays.
        logger.info("align_jitter: rotation axis %.2f px (no opposite views to search it by)", c_start * fc)
    return cum, cur, c_start, offset


class _Passes:
    """The passes of :func:`estimate_jitter` on one working copy: reconstruct, reproject, estimate, keep or drop.

    State is ``(cum, cur, rep, held)``: the displacements so far (working pixels), the copy moved back by
    them, its reprojection and, where rows are read, its held-out reprojection.
    """

    def __init__(self, work, theta, c_start: float, offset, step_a: _StepA, *, keep, keep_mean: bool,
                 estimator: str, model, input_size: int, batch_size: int):  # fmt: skip
        self.work, self.theta, self.c_start, self.offset, self.step_a = work, theta, c_start, offset, step_a
        self.keep, self.keep_mean, self.estimator = keep, keep_mean, estimator
        self.model, self.input_size, self.batch_size = model, input_size, batch_size
        self.reads_rows = bool(keep[0])

    def move(self, s: torch.Tensor) -> torch.Tensor:
        """The working copy moved back by the displacements ``s`` and onto the axis found."""
        return displace(self.work, -s[:, 0] - self.offset[0], -s[:, 1] - self.offset[1])

    def reproject(self, x: torch.Tensor, held_out: bool | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Steps A and B: the reprojection and, where rows are read, the held-out one (from the
        same two half reconstructions, so at little extra cost)."""
        a = self.step_a
        held_out = self.reads_rows if held_out is None else held_out
        return _reprojection(x, self.theta, self.c_start, a.algorithm, a.num_iter, held_out, projector=a.projector)

    def recentre(self, s: torch.Tensor) -> torch.Tensor:
        return s if self.keep_mean else s - s.mean(dim=0, keepdim=True)

    def run(self, cum: torch.Tensor, iters: int, refine, factors, progress: bool) -> tuple[torch.Tensor, np.ndarray]:
        """``iters`` passes from ``cum``, then the refinement; returns the displacements and each pass's RMS."""
        cur = self.move(cum)
        state = (cum, cur, *self.reproject(cur))
        conv = np.zeros(iters)
        for it in trange(iters, desc="align_jitter", disable=not progress, leave=False):
            # A pass that makes the stack less consistent (on data too noisy
            # for the estimator) is dropped, and so are the passes after it.
            state, d, kept = self.try_update(state, self.estimate(*state[1:]), True, f"pass {it + 1}")
            if not kept:
                break
            conv[it] = float(torch.sqrt(((d * factors) ** 2).sum(dim=1).mean()))
        if refine:
            state, _, _ = self.try_update(state, self.estimate(*state[1:], xcorr=True), refine == "auto",
                                          "refinement")  # fmt: skip
        self._state = state
        return state[0], conv

    def _judged(self, region: tuple):
        """The rows a residual is judged on (None: all) and the region they are judged in."""
        pick = _judged_rows(self.work.shape[1], region, self.work.device)
        return pick, (region if pick is None else (slice(None), pick, region[2]))

    def try_update(self, state, ds: list[torch.Tensor], check: bool, label: str):
        """The most consistent of ``cum + d`` for ``d`` in ``ds``, with its A+B, or the old
        state if that is less consistent: ``(state, d, kept)``."""
        cum, cur, rep, held = state
        region = _inner_region(self.work.shape, torch.cat([cum] + [self.recentre(cum + d) for d in ds]) + self.offset)
        pick, judged = self._judged(region)
        seen_region = (slice(None), slice(None), region[2])  # the rows judged, taken out
        before, best = _inconsistency(cur, rep, judged), None
        for k, d in enumerate(ds):
            new = self.recentre(cum + d)
            cur_n = self.move(new)
            # Judged on the full reprojections: judging on the held-out ones (tried) dropped the
            # pass that took the rod's rows from 1.07 to 0.4 px, and let columns drift to 0.37 px.
            if pick is None:
                rep_n, held_n = self.reproject(cur_n)
                after = _inconsistency(cur_n, rep_n, region)
            else:  # on the rows judged; the one kept is reconstructed whole below
                rep_n = held_n = None
                seen = cur_n[:, pick].contiguous()
                after = _inconsistency(seen, self.reproject(seen, held_out=False)[0], seen_region)
            if best is None or after < best[0]:
                best = (after, k, new, cur_n, rep_n, held_n, d)
        after, k, new, cur_n, rep_n, held_n, d = best
        kept = not check or bool(after < before)
        if kept and rep_n is None:
            rep_n, held_n = self.reproject(cur_n)
        logger.info("align_jitter %s: residual %.4g -> %.4g (candidate %d of %d), %s", label, float(before),
                    float(after), k + 1, len(ds), "kept" if kept else "dropped")  # fmt: skip
        return ((new, cur_n, rep_n, held_n), d, True) if kept else (state, d, False)

    def estimate(self, cur: torch.Tensor, rep: torch.Tensor, held, xcorr: bool = False) -> list[torch.Tensor]:
        """Step C: columns against the reprojection, rows against the held-out one.

        One displacement per way of reading the rows (with ``'auto'``, by phase correlation
        and by the network) and one that leaves the rows alone, for :meth:`try_update` to
        choose the most consistent.
        """

        def network(a, b):
            return predict_displacements(self.model, a, b, self.input_size, self.batch_size)

        d = (_xcorr if xcorr or self.model is None else network)(cur, rep) * self.keep
        if not self.keep[0]:
            return [d]
        # Against held-out reprojections phase correlation read rows better on some cases, the
        # network on others; 'auto' tries both, at the price of a third A+B (see estimator).
        if xcorr or self.model is None:
            readers = [_xcorr]
        else:
            readers = [network] if self.estimator == "resnet" else [_xcorr, network]
        out = []
        for read in readers:
            out.append(d.clone())
            out[-1][:, 0] = read(cur, held)[:, 0]
        # The row gate: a pass's row update is kept only if it beats the new columns alone. A
        # pass gated as a whole kept row updates that made rows worse, because its columns
        # gained more (the rod at 90 projections: rows 0.10 px from the coarse start, 0.34 after
        # the passes). Measured on the realistic cases (benchmarks/jitter.py): the network's rows
        # 0.223 -> 0.158 px, phase correlation's 0.173 -> 0.152, for one more A+B per pass.
        out.append(d.clone())
        out[-1][:, 0] = 0.0
        return out

    def no_jitter_gate(self, cum: torch.Tensor, conv: np.ndarray) -> torch.Tensor:
        """No jitter in, no jitter out: shifts that barely beat leaving the stack alone are the
        rough reconstruction's errors, not jitter (zeroed, and ``conv`` with them)."""
        if not bool(cum.abs().max() > 0):
            return cum
        _, cur, rep, _ = self._state
        region = _inner_region(self.work.shape, cum + self.offset)
        pick, judged = self._judged(region)
        still = self.move(torch.zeros_like(cum))
        if pick is not None:  # the same rows as the final residual, reconstructed alone
            still, region = still[:, pick].contiguous(), (slice(None), slice(None), region[2])
        plain = _inconsistency(still, self.reproject(still, held_out=False)[0], region)
        final = _inconsistency(cur, rep, judged)
        gain = 1.0 - float(final) / max(float(plain), 1e-12)
        if gain < _MIN_GAIN:
            logger.info("align_jitter: shifts gain %.1f%% consistency (< %.0f%%): no jitter found", 100 * gain,
                        100 * _MIN_GAIN)  # fmt: skip
            conv[:] = 0.0
            return torch.zeros_like(cum)
        return cum

