"""Projection jitter correction by a residual network (Fu et al., J. Synchrotron Rad. 2021).

Each pass (the paper's Fig. 1):

A. a rough reconstruction of the current projections (FBP, then a few SIRT
   or MLEM iterations of :mod:`tomopy_dl.solvers`), from each of two
   interleaved halves of the angles;
B. the reprojection of their mean at the measured angles, and of each half
   at the other half's angles (the held-out reprojection);
C. each projection's displacement ``(d_row, d_col)`` from its reprojection:
   the network reads the columns from each (projection, reprojection) pair,
   and the rows against a held-out reprojection (one that did not see the
   projection, :func:`held_out_reprojection`); ``estimator`` chooses phase
   correlation instead, or both readings of the rows;
D. the projections are moved back by a bicubic sub-pixel shift: by the new
   columns with each row reading, and with the rows left where they were,
   and the most consistent of these is kept (the row gate), or the pass is
   dropped if none beats the stack before it.

The work runs on a copy shrunk to at most ``work_size`` pixels a side, since
the network reads at most ``size`` (96) pixels anyway; shifts are reported in
pixels of the caller's projections.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import torch

from ...physics import choose_projector
from ...util.chunks import images_per_chunk
from ...util.device import device_lock, resolve_device
from ...util.validation import as_float32_array, as_positive_int
from ...weights import load_jitter_model
from ..shift import shift_images
from .passes import _checked_jitter_args, _Passes, _start_and_axis, _StepA, _working_copy
from .stack import _Padded

__all__ = ["align_jitter", "estimate_jitter"]

logger = logging.getLogger(__name__)

def align_jitter(
    prj,
    ang,
    *,
    iters: int = 2,
    pad: tuple[int, int] = (0, 0),
    center: float | None = None,
    algorithm: str = "sirt",
    num_iter: int = 5,
    weights=None,
    device=None,
    batch_size: int | None = None,
    axes: str = "both",
    keep_mean: bool = False,
    refine: bool | str = "auto",
    despeckle: bool | str = "auto",
    work_size: int = 256,
    estimator: str = "resnet",
    coarse: bool = True,
    background: str | None = "auto",
    projector: str = "auto",
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Correct projection jitter with a trained residual network.

    A drop-in for ``tomopy.prep.alignment.align_joint``: same leading
    arguments, same return, same sign convention.

    Parameters
    ----------
    prj : array_like, shape (nangles, rows, cols)
        Projections (line integrals, e.g. after ``-log``). Only read: not
        modified, and not copied when already C-contiguous float32.
    ang : array_like, shape (nangles,)
        Projection angles in radians.
    iters : int
        Passes of reconstruct, reproject, estimate and shift. One pass already
        removes most jitter; a second cleans up what the first left.
    pad : (int, int)
        Zero padding as in ``align_joint``: ``pad[0]`` columns and ``pad[1]``
        rows on each side. The returned stack keeps the padding, as TomoPy's does.
    center : float, optional
        Rotation axis in pixels of the (padded) projections, used by the rough
        reconstructions only (the shifts returned have zero mean either way).
        By default it is found from the data: the detector middle, the
        centroid sinusoid's axis and the opposite-projection axis are tried,
        and the one whose rough reconstruction is most consistent with the
        projections is refined to a fraction of a pixel and logged at INFO
        (:func:`search_axis`). A given centre is where that refinement
        starts: the aligned stack turns about it plus the constant part of
        the jitter, which zero-mean shifts leave in the stack. Scans short of
        half a turn (tilt series) keep the centre given, or ``cols / 2``.
    algorithm : {'sirt', 'mlem', 'fbp'}
        The rough reconstruction of step A: FBP, then ``num_iter`` iterations.
    num_iter : int
        Iterations of step A. The shipped weights were trained with ``'sirt'``
        and 5.
    weights : str or path-like, optional
        A ``.pt`` file from ``tomopy-dl train-jitter``; the shipped weights by default.
    device : None, str or torch.device
        CUDA when available by default.
    batch_size : int, optional
        Projections per network call; 256 on the CPU, 2048 on a GPU by default.
    axes : {'both', 'row', 'col'}
        Which shifts to correct; ``'col'`` for data without vertical jitter
        (or with too few rows to measure it).
    keep_mean : bool
        Keep the mean of each pass's update in the correction. Jitter is only
        known up to a common offset, and a mean column shift is a
        rotation-centre error, so by default the shifts are re-centred to zero
        mean after every pass. The coarse start is always zero-mean; with
        ``keep_mean=True`` the passes may move the stack as a whole, e.g. to
        absorb a wrong ``center``.
    refine : bool or 'auto'
        A last phase-correlation pass against the reprojection. It sharpens
        clean, textured data and hurts noisy data, so ``'auto'`` keeps it only
        when it makes the stack more consistent (lower data residual).
    despeckle : bool or 'auto'
        Median-filter the projections used for estimation (not those
        returned); ``'auto'`` does so when salt-and-pepper noise is detected.
    work_size : int
        Largest side of the working copy in steps A and B.
    estimator : {'resnet', 'auto', 'xcorr'}
        Step C. ``'resnet'`` (the default): the network reads columns
        against the reprojection and rows against the held-out reprojection
        (see :func:`held_out_reprojection`). ``'auto'``: rows are read both
        by the network and by phase correlation, and each pass keeps the
        most consistent reading. ``'xcorr'``: classic phase correlation
        reads both (the baseline the network is measured against; it needs
        no weights). Whatever reads them, a pass keeps its row update only
        if that beats its new columns alone (the row gate). Measured by
        ``benchmarks/jitter.py`` (2 CPU threads): on the realistic cases
        ``'resnet'`` and ``'auto'`` leave 0.218 px on average and phase
        correlation 0.240, with ``'auto'`` 1.2 times slower; at low dose
        0.232, 0.234 and 0.407: the network's columns win there (0.33
        against 1.13 px at 45 projections and 100 photons).
    coarse : bool
        Start from jitter estimated without a reconstruction (the slice-mass
        profile for rows, the centroid sinusoid for columns), where that makes
        the stack more consistent; see :func:`coarse_start`.
    background : 'auto', 'edges' or None
        Subtract each projection's background level (the median of its outer
        columns) before estimating: a level that changes with the angle, such
        as an electron-tomography support film seen through ``1 / cos(tilt)``
        of itself, is nothing a reconstruction can explain. ``'auto'``
        subtracts when the projections' totals agree better without it
        (:func:`~.normalize.background_levels`); the projections returned
        keep the caller's values either way.
    projector : {'auto', 'siddon', 'fourier', 'fourier-rays'}
        The projector of the rough reconstructions and reprojections (steps A
        and B), on the working copy. ``'auto'``: the Fourier one where the
        working copy's width squared times the angles reaches ``256^3``
        (:func:`tomopy_dl.physics.choose_projector`), so from 256 angles of a
        256-wide copy; Siddon below. Measured by ``benchmarks/jitter.py
        --dense``: see the documentation, "Jitter correction at beamline size".
    progress : bool
        Show a tqdm bar over the passes.

    Returns
    -------
    prj : ndarray of float32, shape (nangles, rows + 2 pad[1], cols + 2 pad[0])
        The corrected stack.
    sx, sy : ndarray of float64, shape (nangles,)
        Row and column shifts in pixels: ``shift_images(raw, sx, sy)`` undoes
        the jitter, exactly as with ``align_joint``.
    conv : ndarray of float64, shape (iters,)
        RMS size of each pass's update, in pixels; it falls as passes
        converge. A pass whose update would make the stack less consistent
        (higher data residual) is dropped with the passes after it, and
        records 0.

    Examples
    --------
    >>> import numpy as np
    >>> from tomopy_dl.sim import add_jitter, make_object, project
    >>> theta = np.linspace(0, np.pi, 60, endpoint=False).astype(np.float32)
    >>> clean = project(make_object("solid", 48, 40, seed=3), theta, pad=False)
    >>> jittered, jx, jy = add_jitter(clean, 3.0, seed=1)
    >>> aligned, sx, sy, conv = align_jitter(jittered, theta, iters=1, progress=False)
    >>> aligned.shape, sx.shape
    ((60, 40, 48), (60,))
    """
    raw = as_float32_array(prj, "prj", 3, copy=False)  # only read
    try:
        pad_cols, pad_rows = (int(p) for p in pad)
    except (TypeError, ValueError):
        raise ValueError(f"pad must be a pair of non-negative ints (columns, rows), got {pad!r}") from None
    if pad_cols < 0 or pad_rows < 0:
        raise ValueError(f"pad must be non-negative, got {pad!r}")
    source = _Padded(raw, pad_rows, pad_cols) if pad_cols or pad_rows else raw
    sx, sy, conv = estimate_jitter(
        source,
        ang,
        iters=iters,
        center=center,
        algorithm=algorithm,
        num_iter=num_iter,
        weights=weights,
        device=device,
        batch_size=batch_size,
        axes=axes,
        keep_mean=keep_mean,
        refine=refine,
        despeckle=despeckle,
        work_size=work_size,
        estimator=estimator,
        coarse=coarse,
        background=background,
        projector=projector,
        progress=progress,
    )
    # The move, a few projections at a time into the one full-size array returned.
    out = np.empty(source.shape, np.float32)
    step = images_per_chunk(out[0].nbytes)
    for start in range(0, out.shape[0], step):
        part = slice(start, start + step)
        out[part] = shift_images(source[part], sx[part], sy[part], device=device)
    return out, sx, sy, conv


def estimate_jitter(
    prj,
    ang,
    *,
    iters: int = 2,
    center: float | None = None,
    algorithm: str = "sirt",
    num_iter: int = 5,
    weights=None,
    device=None,
    batch_size: int | None = None,
    axes: str = "both",
    keep_mean: bool = False,
    refine: bool | str = "auto",
    despeckle: bool | str = "auto",
    work_size: int = 256,
    estimator: str = "resnet",
    coarse: bool = True,
    background: str | None = "auto",
    projector: str = "auto",
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The jitter of a projection stack that need not fit in memory: :func:`align_jitter`'s shifts.

    The stack is read a few projections at a time into the working copy
    (:func:`prepare_stack`), so memory follows the working copy, not the
    stack; apply the shifts with :func:`~.shift.shift_images`, also a few
    projections at a time (as ``tomopy-dl align`` does with a file).

    Parameters
    ----------
    prj : ndarray, torch.Tensor or array-like, shape (nangles, rows, cols)
        Line integrals; anything with ``shape`` and slicing along the first
        axis, such as an h5py dataset or a
        :class:`tomopy_dl.pipeline.LineIntegrals` reader of a Data Exchange file.
    ang : array_like, shape (nangles,)
        Projection angles in radians.
    iters, center, algorithm, num_iter, weights, device, batch_size
        As :func:`align_jitter`'s.
    axes, keep_mean, refine, despeckle, work_size, estimator, coarse, background, projector, progress
        As :func:`align_jitter`'s.

    Returns
    -------
    sx, sy : ndarray of float64, shape (nangles,)
        Row and column shifts in pixels; ``shift_images(prj, sx, sy)`` undoes the jitter.
    conv : ndarray of float64, shape (iters,)
        RMS size of each pass's update, in pixels.

    Examples
    --------
    >>> from tomopy_dl.sim import add_jitter, make_object, project
    >>> from tomopy_dl.prep.shift import shift_images
    >>> theta = np.linspace(0, np.pi, 60, endpoint=False).astype(np.float32)
    >>> clean = project(make_object("solid", 48, 40, seed=3), theta, pad=False)
    >>> jittered, jx, jy = add_jitter(clean, 3.0, seed=1)
    >>> sx, sy, conv = estimate_jitter(jittered, theta, iters=1, progress=False)
    >>> shift_images(jittered[:10], sx[:10], sy[:10]).shape  # a block at a time
    (10, 40, 48)
    """
    prj, theta, (n, rows, cols), iters, num_iter, work_size, c = _checked_jitter_args(
        prj, ang, iters=iters, num_iter=num_iter, work_size=work_size, center=center, algorithm=algorithm, axes=axes,
        refine=refine, background=background, despeckle=despeckle, estimator=estimator,
        projector=projector)  # fmt: skip
    dev = resolve_device(device)
    if batch_size is None:
        batch_size = 2048 if dev.type == "cuda" else 256
    batch_size = as_positive_int(batch_size, "batch_size")
    model, meta = load_jitter_model(weights, device=dev) if estimator != "xcorr" else (None, {})
    keep = torch.tensor([axes in ("both", "row"), axes in ("both", "col")], device=dev, dtype=torch.float32)

    t0 = time.perf_counter()
    with device_lock(dev), torch.no_grad():
        work, (fr, fc) = _working_copy(prj, work_size, despeckle, background, keep, dev, progress)
        factors = torch.tensor([fr, fc], device=dev)
        step_a = _StepA(algorithm, num_iter, choose_projector(projector, theta, work.shape[2], work.shape[2], dev))
        logger.info("align_jitter: %s projector on the %dx%d working copy", step_a.projector, *work.shape[1:])
        cum, cur, c_start, offset = _start_and_axis(work, theta, c / fc, center is None, coarse, keep, factors, fc,
                                                    step_a)  # fmt: skip
        passes = _Passes(work, theta, c_start, offset, step_a, keep=keep, keep_mean=keep_mean, estimator=estimator,
                         model=model, input_size=int(meta.get("input_size", 0)), batch_size=batch_size)  # fmt: skip
        cum, conv = passes.run(cum, iters, refine, factors, progress)
        shifts = passes.no_jitter_gate(cum, conv) * factors
    logger.info("align_jitter: %d projections %dx%d in %.2f s", n, rows, cols, time.perf_counter() - t0)
    shifts = shifts.cpu().double().numpy()
    return shifts[:, 0].copy(), shifts[:, 1].copy(), conv

