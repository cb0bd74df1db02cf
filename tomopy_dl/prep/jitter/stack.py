"""Preparing a projection stack for jitter correction: the working copy, despeckled, background removed."""

from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import trange

from ...util.chunks import images_per_chunk
from ...util.device import resolve_device
from ...util.validation import as_float32_array
from ..filters import impulse_count, median3x3, median_filter

# Above this share of pixels at the image extremes, 'auto' filters impulse noise.
_IMPULSE_THRESHOLD = 0.01


_HEAVY_IMPULSE = 0.1


_HEAVY_WINDOW = (3, 5)


def prepare_stack(
    prj, work_size: int, despeckle: bool | str = "auto", *, device=None, progress: bool = False
) -> tuple[torch.Tensor, tuple[float, float], bool]:
    """The working copy of a projection stack: impulse-filtered and shrunk.

    The stack is read a few projections at a time (about 64 MB), once; twice
    under heavy impulse noise. So it need not be in memory: anything with a
    ``shape`` and slicing along its first axis will do.

    Parameters
    ----------
    prj : torch.Tensor, ndarray or array-like, shape (nangles, rows, cols)
        The projections; an array-like (an h5py dataset, a reader of a file such
        as :class:`tomopy_dl.pipeline.LineIntegrals`) must give float32-castable
        arrays for ``prj[start:stop]``.
    work_size : int
        Largest side of the working copy; a longer axis is shrunk to it
        (antialiased bilinear), each axis by its own factor, which keeps the
        rotation axis at ``center / column factor``.
    despeckle : bool or 'auto'
        3x3 median filter first (two 3x5 ones when over 10% of pixels are
        impulses); ``'auto'`` filters when over 1% of the pixels are impulses
        (salt-and-pepper), see :func:`.filters.impulse_count`.
    device : None, str or torch.device
        Where the working copy lives: ``prj``'s device for a tensor, else CUDA
        when available.
    progress : bool
        A tqdm bar over the reading.

    Returns
    -------
    work : torch.Tensor, shape (nangles, rows_w, cols_w)
    (f_row, f_col) : tuple of float
        Caller's pixels per working pixel.
    filtered : bool
        Whether the median filter ran.

    Examples
    --------
    >>> work, factors, filtered = prepare_stack(np.ones((4, 64, 600), np.float32), 256, device="cpu")
    >>> tuple(work.shape), factors, filtered
    ((4, 64, 256), (1.0, 2.34375), False)
    """
    n, rows, cols = (int(k) for k in prj.shape)
    if device is None and isinstance(prj, torch.Tensor):
        device = prj.device
    dev = resolve_device(device)
    # Each axis is shrunk on its own: one factor for both would leave a wide
    # stack of few rows (8 x 1000) with 2 rows, from which row shifts are noise.
    h, w = min(rows, work_size), min(cols, work_size)

    def shrink(part: torch.Tensor) -> torch.Tensor:
        if (h, w) == (rows, cols):
            return part
        return F.interpolate(part[:, None], size=(h, w), mode="bilinear", antialias=True, align_corners=False)[:, 0]

    # A few projections at a time: the full-size temporaries are a chunk's, not the stack's (a
    # 1500 x 2048 x 2560 stack is 31 GB). The 3x3 median that detects impulses is also the light
    # filter, so one reading gives both candidate working copies.
    step = images_per_chunk(4 * rows * cols)
    plain = torch.empty((n, h, w), device=dev)
    light = torch.empty((n, h, w), device=dev) if despeckle is not False else None
    count = 0
    for start in trange(0, n, step, desc="align_jitter: reading", disable=not progress, leave=False):
        part = _read(prj, start, start + step, dev)
        plain[start : start + part.shape[0]] = shrink(part)
        if light is not None:
            med = median3x3(part)
            count += impulse_count(part, med)
            light[start : start + part.shape[0]] = shrink(med)
    frac = count / max(n * rows * cols, 1)
    filtered = bool(despeckle) if despeckle != "auto" else frac > _IMPULSE_THRESHOLD
    if not filtered:
        return plain, (rows / h, cols / w), False
    if frac <= _HEAVY_IMPULSE:
        return light, (rows / h, cols / w), True
    # One 3x3 median leaves clusters of impulses at heavy levels; two 3x5 medians (wider along the
    # columns, which jitter moves most and stacks of few rows have most of) remove most. Measured
    # (benchmarks/jitter.py, +-10 px): the real tooth, 2 rows, at 20% and 40% salt-and-pepper went
    # from 0.92 and 3.83 px (two 3x3) to 0.39 and 2.13; a porous body at 40% from 9.33 to 0.27; the
    # same at 20% from 0.14 to 0.17.
    del plain
    for start in trange(0, n, step, desc="align_jitter: filtering", disable=not progress, leave=False):
        part = _read(prj, start, start + step, dev)
        part = median_filter(median_filter(part, _HEAVY_WINDOW), _HEAVY_WINDOW)
        light[start : start + part.shape[0]] = shrink(part)
    return light, (rows / h, cols / w), True


def _read(prj, start: int, stop: int, dev: torch.device) -> torch.Tensor:
    """``prj[start:stop]`` as a float32 tensor on ``dev``, checked like the caller's array."""
    part = prj[start:stop]
    if isinstance(part, torch.Tensor):
        return part.to(dev, torch.float32)
    part = as_float32_array(part, "prj", 3, copy=False)
    with warnings.catch_warnings():  # a read-only input (a memory map) is fine: it is only read
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(part).to(dev)


class _Padded:
    """A stack zero-padded on the fly, a slice at a time (``align_joint``'s ``pad``, without a padded copy)."""

    def __init__(self, arr: np.ndarray, pad_rows: int, pad_cols: int):
        self.arr, self.widths = arr, ((0, 0), (pad_rows, pad_rows), (pad_cols, pad_cols))
        n, rows, cols = arr.shape
        self.shape = (n, rows + 2 * pad_rows, cols + 2 * pad_cols)

    def __getitem__(self, index: slice) -> np.ndarray:
        return np.pad(self.arr[index], self.widths)

