"""The parallel-beam projector ``A`` and its exact adjoint ``A^T`` as a torch module.

Two paths give the same numbers (TomoPy's intersection lengths):

* ``'matrix'``: ``A`` is stored once per geometry as a CSR matrix with its
  transpose; forward and adjoint are one sparse-dense product each. Fastest
  where the matrix fits, but it grows as angles x pixels x width.
* ``'matrix_free'``: the lengths are recomputed on every use
  (:mod:`tomopy_dl.physics.matrix_free`); memory is angles x width.

``method='auto'`` takes the matrix when its estimated size fits
``memory_budget`` (1 GB by default, or ``TOMOPY_DL_PROJECTOR_BUDGET``).
Both paths are differentiable: the gradient of the forward is the adjoint and
vice versa, exact rather than the approximate pair of an interpolating
projector.
"""

from __future__ import annotations

import logging
import os
import re
import warnings

import numpy as np
import torch

from ..util.device import resolve_device
from .matrix_free import MatrixFreeGeometry, back_project, forward_project
from .operator import Projector, ProjectorBase
from .siddon import intersection_lengths

__all__ = [
    "projection_error",
    "ParallelBeamProjector",
    "slices_by_center",
    "estimate_matrix_bytes",
    "memory_budget",
    "slices_per_batch",
    "DEFAULT_MEMORY_BUDGET",
]

logger = logging.getLogger(__name__)

#: Largest CSR matrix pair, in bytes, that ``method='auto'`` builds (its build
#: peaks at about 3.5 times that, for a moment).
DEFAULT_MEMORY_BUDGET = 1 << 30
_BUDGET_ENV = "TOMOPY_DL_PROJECTOR_BUDGET"
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "g": 1 << 30, "gb": 1 << 30}
# Bytes per stored entry: the matrix and its transpose, a float32 value and an
# int32 column index each (row pointers are negligible).
_BYTES_PER_ENTRY = 16
# Peak bytes per entry while building (triplets, their sorted copies and the
# two matrices at once): 50-53 measured at 256 x 180 and 256 x 384.
_BUILD_BYTES_PER_ENTRY = 56
METHODS = ("auto", "matrix", "matrix_free")


def _parse_bytes(value, name: str) -> int:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"{name} must be >= 0 bytes, got {value}")
        return int(value)
    m = re.fullmatch(r"\s*([0-9.]+)\s*([a-zA-Z]*)\s*", str(value))
    if not m or m.group(2).lower() not in _UNITS:
        raise ValueError(f"{name} must be a number of bytes such as 1000000, '512MB' or '2GB'; got {value!r}")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def _memory_budget(memory_budget) -> int:
    if memory_budget is not None:
        return _parse_bytes(memory_budget, "memory_budget")
    env = os.environ.get(_BUDGET_ENV)
    return DEFAULT_MEMORY_BUDGET if env in (None, "") else _parse_bytes(env, _BUDGET_ENV)


def memory_budget() -> int:
    """The bytes of projector matrices that ``method='auto'`` builds and the cache keeps.

    ``DEFAULT_MEMORY_BUDGET`` unless the environment variable
    ``TOMOPY_DL_PROJECTOR_BUDGET`` says otherwise (bytes, or '512MB', '2GB').
    A caller that needs several geometries at once checks their
    :func:`estimate_matrix_bytes` against it: beyond it the cache drops the
    oldest, and each use rebuilds it.

    Examples
    --------
    >>> memory_budget() >= 0
    True
    """
    return _memory_budget(None)


def estimate_matrix_bytes(
    theta, n_det: int, num_gridx: int, num_gridy: int, *, build: bool = False, forward_only: bool = False
) -> int:
    """Size of the CSR matrix pair of this geometry, estimated without building it.

    With ``build=True``, the peak memory of building it (about 3.5 times
    the matrix). ``method='auto'`` holds the matrix's own size against the
    budget. With ``forward_only=True``, the size of the projection's matrix
    alone, without its transpose (half); the build's peak is counted as a
    pair's (the triplets dominate it), an upper bound.

    At one angle the rays, one pixel apart, sweep the grid's whole area
    ``nx * ny``, and per unit length a ray crosses ``|cos| + |sin|`` grid
    lines, each starting a new pixel; every ray that hits adds its first
    pixel. Measured 1-10% above the true count (corner rays are shorter).
    """
    th = np.asarray(theta, dtype=np.float32).astype(np.float64).ravel()
    c, s = np.abs(np.cos(th)), np.abs(np.sin(th))
    hit = np.minimum(n_det, num_gridx * s + num_gridy * c)
    nnz = float(np.sum(num_gridx * num_gridy * (c + s) + hit))
    if build:
        return int(nnz * _BUILD_BYTES_PER_ENTRY)
    return int(nnz * _BYTES_PER_ENTRY / (2 if forward_only else 1))


def _csr_tensor(crow, col, values, shape) -> torch.Tensor:
    # Torch warns that sparse CSR is "beta" on every construction; the
    # operations used here (construction, sparse @ dense) are stable and tested.
    # The invariants hold by construction, so their check is skipped.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(crow, col, values, size=shape, check_invariants=False)


def _csr(rows, cols, vals, shape, device) -> torch.Tensor:
    """CSR matrix from row-sorted triplets; int32 indices when they fit (faster SpMM)."""
    n_rows = shape[0]
    counts = torch.bincount(rows.long(), minlength=n_rows)
    crow = torch.zeros(n_rows + 1, dtype=torch.int64, device=device)
    crow[1:] = torch.cumsum(counts, 0)
    idx_dtype = torch.int32 if vals.numel() < 2**31 - 1 and max(shape) < 2**31 - 1 else torch.int64
    return _csr_tensor(crow.to(idx_dtype), cols.to(idx_dtype), vals.to(torch.float32), shape)


# Bytes of images the CPU projection (image -> rays) reads per sparse product. Its rays gather
# pixels from all over the image, so small images are best taken a few at a time, while they stay
# in cache: at 208-256 pixels a side and 61-450 angles, 4 MB blocks made the projection 2.0-3.4
# times faster than a batch of 64-208 at once (best of 5, 2 cores), with the same numbers. Larger
# images are not split (under _MIN_BLOCK images a block): at 512-768 pixels, blocks of 1-4 images
# were up to 2.7 times slower. The back-projection is not split either: there, blocks were slower.
_CPU_FORWARD_BLOCK_BYTES = 4 << 20
_MIN_BLOCK = 8


def _spmm(mat: torch.Tensor, x: torch.Tensor, blocked: bool) -> torch.Tensor:
    """``(mat @ x.T).T`` for a batch ``x`` (B, n); with ``blocked``, on the CPU a few rows of ``x`` at a time."""
    step = max(1, _CPU_FORWARD_BLOCK_BYTES // (4 * max(x.shape[1], 1)))
    if not blocked or x.device.type != "cpu" or x.shape[0] <= step or step < _MIN_BLOCK:
        return torch.sparse.mm(mat, x.t()).t()
    out = torch.empty(x.shape[0], mat.shape[0], dtype=x.dtype, device=x.device)
    for start in range(0, x.shape[0], step):
        # Each block laid out pixel by pixel (n, block), whatever the caller's layout.
        out[start : start + step] = torch.sparse.mm(mat, x[start : start + step].t().contiguous()).t()
    return out


class _SparseApply(torch.autograd.Function):
    """``y = M x`` for a batch ``x`` of shape (B, n); the backward applies ``M^T``.

    ``forward_blocked``: whether ``M`` is the projection (image -> rays), which
    runs in blocks on the CPU (:func:`_spmm`); the other product is not blocked.
    """

    @staticmethod
    def forward(ctx, x, mat, mat_t, forward_blocked: bool):
        ctx.mat_t, ctx.blocked = mat_t, not forward_blocked
        return _spmm(mat, x, forward_blocked)

    @staticmethod
    def backward(ctx, grad):
        if ctx.mat_t is None:
            raise RuntimeError("no gradient through a projector built with forward_only=True")
        return _spmm(ctx.mat_t, grad, ctx.blocked), None, None, None


class _MatrixFreeApply(torch.autograd.Function):
    """Matrix-free ``A x`` (or ``A^T y`` with ``transpose``); the backward recomputes the other."""

    @staticmethod
    def forward(ctx, x, geom, transpose: bool):
        ctx.geom, ctx.transpose = geom, transpose
        return back_project(geom, x) if transpose else forward_project(geom, x)

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous()
        return (forward_project(ctx.geom, grad) if ctx.transpose else back_project(ctx.geom, grad)), None, None


class ParallelBeamProjector(ProjectorBase):
    """TomoPy-exact parallel-beam projector with its adjoint: the ``'siddon'`` backend.

    Parameters
    ----------
    theta : array_like, shape (nangles,)
        Projection angles in radians, any order and spacing.
    n_det : int
        Detector pixels per projection.
    num_gridx, num_gridy : int
        Object grid in pixels: images are ``(num_gridx, num_gridy)``.
    center : float, optional
        Rotation centre in detector pixels; ``n_det / 2`` by default.
    device : None, str or torch.device
        Where the matrices live and the products run. ``None`` picks CUDA when
        available.
    method : {'auto', 'matrix', 'matrix_free'}
        ``'auto'`` builds the sparse matrix when its estimated size
        (:func:`estimate_matrix_bytes`) is within ``memory_budget``, and goes
        matrix-free otherwise. Both give TomoPy's numbers to float32
        round-off. Building the matrix peaks at about 3.5 times its size.
    memory_budget : int or str, optional
        Bytes (or ``'512MB'``, ``'2GB'``) the matrix may take; default 1 GB,
        or the environment variable ``TOMOPY_DL_PROJECTOR_BUDGET``.
    forward_only : bool
        Keep the projection's matrix only, not its transpose: half the
        memory, for a geometry that is only ever projected onto (``adjoint``
        then raises).

    Notes
    -----
    ``forward`` maps images ``(..., num_gridx, num_gridy)`` to sinograms
    ``(..., nangles, n_det)``; ``adjoint`` maps back. Values are line integrals
    in units of pixels times the image values, as in ``tomopy.project``.
    The tables are built on ``device`` and do not follow ``Module.to()``:
    build another projector for another device. The matrix-free path stores
    only per-angle tables, so a new centre costs nothing to set up.

    Examples
    --------
    >>> import numpy as np, torch
    >>> op = ParallelBeamProjector(np.linspace(0, np.pi, 8, endpoint=False), 12, 8, 8)
    >>> sino = op(torch.ones(1, 8, 8))
    >>> sino.shape, op.adjoint(sino).shape
    (torch.Size([1, 8, 12]), torch.Size([1, 8, 8]))
    """

    name = "siddon"
    nonnegative = True

    def __init__(
        self,
        theta,
        n_det: int,
        num_gridx: int,
        num_gridy: int,
        center: float | None = None,
        device=None,
        *,
        method: str = "auto",
        memory_budget: int | str | None = None,
        forward_only: bool = False,
    ):
        if method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(map(repr, METHODS))}; got {method!r}")
        options = dict(method=method, memory_budget=memory_budget, forward_only=bool(forward_only))
        super().__init__(theta, n_det, num_gridx, num_gridy, center, resolve_device(device), options)
        if method == "auto":
            budget = _memory_budget(memory_budget)
            need = estimate_matrix_bytes(
                self.theta, self.n_det, self.num_gridx, self.num_gridy, forward_only=forward_only
            )
            method = "matrix" if need <= budget else "matrix_free"
            logger.info(
                "projector %d angles x %d rays onto %dx%d: %s path (matrix ~%.0f MB, budget %.0f MB)",
                self.theta.size, self.n_det, self.num_gridx, self.num_gridy, method, need / 2**20, budget / 2**20,
            )  # fmt: skip
        self.method = method
        self.forward_only = bool(forward_only)
        self.nnz = None
        self._geom = None
        self._mat_t = None
        if method == "matrix":
            rows, cols, vals = intersection_lengths(
                self.theta, self.n_det, self.num_gridx, self.num_gridy, self.center, device=self.device
            )
            m, n = self.theta.size * self.n_det, self.num_gridx * self.num_gridy
            self.nnz = int(vals.numel())
            self._mat = _csr(rows, cols, vals, (m, n), self.device)
            if not self.forward_only:
                order = torch.argsort(cols, stable=True)
                self._mat_t = _csr(cols[order], rows[order], vals[order], (n, m), self.device)
                del order
            del rows, cols, vals
        else:
            self._geom = MatrixFreeGeometry(
                self.theta, self.n_det, self.num_gridx, self.num_gridy, self.center, self.device
            )

    @property
    def matrix_bytes(self) -> int:
        """Bytes its stored matrices take (0 on the matrix-free path)."""
        return (self.nnz or 0) * _BYTES_PER_ENTRY // (2 if self.forward_only else 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Project images ``(..., num_gridx, num_gridy)`` to sinograms ``(..., nangles, n_det)``."""
        lead = self._check(x, self.image_shape, "x")
        if self._geom is not None:
            flat = x.reshape(-1, *self.image_shape)
            return _MatrixFreeApply.apply(flat, self._geom, False).reshape(*lead, *self.sino_shape)
        flat = x.reshape(-1, self.num_gridx * self.num_gridy)
        return _SparseApply.apply(flat, self._mat, self._mat_t, True).reshape(*lead, *self.sino_shape)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """Back-project sinograms ``(..., nangles, n_det)`` to images ``(..., num_gridx, num_gridy)``."""
        if self.forward_only:
            raise RuntimeError("this projector was built with forward_only=True; build one without it to back-project")
        lead = self._check(y, self.sino_shape, "y")
        if self._geom is not None:
            flat = y.reshape(-1, *self.sino_shape)
            return _MatrixFreeApply.apply(flat, self._geom, True).reshape(*lead, *self.image_shape)
        flat = y.reshape(-1, self.theta.size * self.n_det)
        return _SparseApply.apply(flat, self._mat_t, self._mat, False).reshape(*lead, *self.image_shape)

    def row_sq_sums(self) -> torch.Tensor:
        """Sum of squared intersection lengths of each ray, shape ``(nangles, n_det)``."""

        def compute():
            if self._geom is not None:
                ones = torch.ones(1, *self.image_shape, device=self.device)
                return forward_project(self._geom, ones, power=2)[0]
            m = self._mat
            sq = _csr_tensor(m.crow_indices(), m.col_indices(), m.values() ** 2, m.shape)
            ones = torch.ones(self.num_gridx * self.num_gridy, 1, device=self.device)
            return torch.sparse.mm(sq, ones).reshape(self.sino_shape)

        return self._cached_sum("rowsq", compute)


def projection_error(x: torch.Tensor, sino: torch.Tensor, op: Projector) -> torch.Tensor:
    """Relative error of the projections of ``x`` against ``sino``, ``|A x - sino| / |sino|`` per slice, ``(B,)``.

    With ``op`` at angles a reconstruction was not given, this scores it
    without a reference image: how well it predicts measurements it never
    saw (GANrec's ``tune='auto'``, ``benchmarks/limited_angle.py``).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from tomopy_dl.physics import get_projector
    >>> op = get_projector(np.linspace(0, np.pi, 8, endpoint=False), 12, 8, 8)
    >>> x = torch.ones(1, 8, 8)
    >>> projection_error(x, op(x), op), projection_error(x, 2 * op(x), op)
    (tensor([0.]), tensor([0.5000]))
    """
    model = op(x)
    num = torch.linalg.vector_norm((model - sino).flatten(1), dim=1)
    return num / torch.linalg.vector_norm(sino.flatten(1), dim=1).clamp_min(1e-30)


def slices_by_center(centers: np.ndarray, batch: int):
    """Group slice indices by rotation centre, in batches of at most ``batch``.

    Slices that share a centre share one projector, and a batch is one sparse
    product, so this is how volumes are walked.

    Yields
    ------
    center : float
    indices : ndarray of int
    """
    for c in np.unique(centers):
        idx = np.flatnonzero(centers == c)
        for start in range(0, idx.size, batch):
            yield float(c), idx[start : start + batch]


# Bytes of images and sinograms a batch of slices may hold at once, counted
# for a solver's working copies (iterate, gradient, dual, step sizes): the
# reason a 2048-wide slab runs in a few GB whatever its number of slices.
_BATCH_BYTES = 256 << 20
_MAX_BATCH = 256


def slices_per_batch(image_shape: tuple[int, int], sino_shape: tuple[int, int], copies: int = 8) -> int:
    """How many slices one solver call takes, so its memory follows the work.

    Parameters
    ----------
    image_shape, sino_shape : (int, int)
        One slice's image and sinogram.
    copies : int
        Working copies of each a solver keeps per slice.

    Returns
    -------
    int
        Between 2 and 256: 256 for small slices (one sparse product over many
        slices is what makes them fast), 2 for 2k slices.
    """
    per_slice = 4 * copies * (image_shape[0] * image_shape[1] + sino_shape[0] * sino_shape[1])
    # Two at least: the Fourier projector transforms slices in pairs (two real
    # slices as one complex NUFFT: 0.07 against 0.10 s a slice at 2048 x 1500),
    # and a pair's working copies stay under 1 GB up to 2560 x 3000.
    return int(max(2, min(_MAX_BATCH, _BATCH_BYTES // per_slice)))


