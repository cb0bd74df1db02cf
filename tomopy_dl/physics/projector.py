"""The parallel-beam projector ``A`` and its exact adjoint ``A^T`` as a torch module.

``A`` is stored once per geometry as a CSR matrix together with its transpose,
so the forward and the adjoint are each one sparse-dense product over a whole
batch of slices, on the CPU or on CUDA. Both are differentiable: the gradient of
the forward is the adjoint and vice versa, which is exact rather than the
approximate pair of an interpolating projector.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import warnings
from collections import OrderedDict

import numpy as np
import torch

from ..util.device import resolve_device
from .geometry import default_center
from .siddon import intersection_lengths

__all__ = ["ParallelBeamProjector", "get_projector", "clear_projector_cache", "slices_by_center"]

logger = logging.getLogger(__name__)

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
    counts = torch.bincount(rows, minlength=n_rows)
    crow = torch.zeros(n_rows + 1, dtype=torch.int64, device=device)
    crow[1:] = torch.cumsum(counts, 0)
    idx_dtype = torch.int32 if vals.numel() < 2**31 - 1 and max(shape) < 2**31 - 1 else torch.int64
    return _csr_tensor(crow.to(idx_dtype), cols.to(idx_dtype), vals.to(torch.float32), shape)


class _SparseApply(torch.autograd.Function):
    """``y = M x`` for a batch ``x`` of shape (B, n); the backward applies ``M^T``."""

    @staticmethod
    def forward(ctx, x, mat, mat_t):
        ctx.mat_t = mat_t
        return torch.sparse.mm(mat, x.t()).t()

    @staticmethod
    def backward(ctx, grad):
        return torch.sparse.mm(ctx.mat_t, grad.t()).t(), None, None


class ParallelBeamProjector(torch.nn.Module):
    """TomoPy-exact parallel-beam projector with its adjoint.

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

    Notes
    -----
    ``forward`` maps images ``(..., num_gridx, num_gridy)`` to sinograms
    ``(..., nangles, n_det)``; ``adjoint`` maps back. Values are line integrals
    in units of pixels times the image values, as in ``tomopy.project``.
    The sparse matrices are built on ``device`` and do not follow
    ``Module.to()``: build another projector for another device.
    """

    def __init__(self, theta, n_det: int, num_gridx: int, num_gridy: int, center: float | None = None, device=None):
        super().__init__()
        self.device = resolve_device(device)
        self.theta = np.asarray(theta, dtype=np.float32).copy()
        self.n_det = int(n_det)
        self.num_gridx = int(num_gridx)
        self.num_gridy = int(num_gridy)
        self.center = float(default_center(n_det) if center is None else np.float32(center))
        rows, cols, vals = intersection_lengths(
            self.theta, self.n_det, self.num_gridx, self.num_gridy, self.center, device=self.device
        )
        m, n = self.theta.size * self.n_det, self.num_gridx * self.num_gridy
        self.nnz = int(vals.numel())
        self._mat = _csr(rows, cols, vals, (m, n), self.device)
        order = torch.argsort(cols, stable=True)
        self._mat_t = _csr(cols[order], rows[order], vals[order], (n, m), self.device)
        self._sums: dict[str, torch.Tensor] = {}

    @property
    def image_shape(self) -> tuple[int, int]:
        """``(num_gridx, num_gridy)``."""
        return (self.num_gridx, self.num_gridy)

    @property
    def sino_shape(self) -> tuple[int, int]:
        """``(nangles, n_det)``."""
        return (self.theta.size, self.n_det)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Project images ``(..., num_gridx, num_gridy)`` to sinograms ``(..., nangles, n_det)``."""
        lead = self._check(x, self.image_shape, "x")
        flat = x.reshape(-1, self.num_gridx * self.num_gridy)
        return _SparseApply.apply(flat, self._mat, self._mat_t).reshape(*lead, *self.sino_shape)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """Back-project sinograms ``(..., nangles, n_det)`` to images ``(..., num_gridx, num_gridy)``."""
        lead = self._check(y, self.sino_shape, "y")
        flat = y.reshape(-1, self.theta.size * self.n_det)
        return _SparseApply.apply(flat, self._mat_t, self._mat).reshape(*lead, *self.image_shape)

    def _check(self, t: torch.Tensor, shape: tuple[int, int], name: str) -> tuple[int, ...]:
        if tuple(t.shape[-2:]) != shape:
            raise ValueError(f"{name} must end with shape {shape}, got {tuple(t.shape)}")
        if t.device.type != self.device.type:
            raise ValueError(f"{name} is on {t.device} but the projector is on {self.device}")
        if t.dtype != torch.float32:
            raise TypeError(f"{name} must be float32, got {t.dtype}")
        return tuple(t.shape[:-2])

    def _cached_sum(self, key: str, fn) -> torch.Tensor:
        if key not in self._sums:
            with torch.no_grad():
                self._sums[key] = fn()
        return self._sums[key]

    def row_sums(self) -> torch.Tensor:
        """Total length of each ray inside the grid, shape ``(nangles, n_det)``."""
        return self._cached_sum("row", lambda: self.forward(torch.ones(self.image_shape, device=self.device)))

    def col_sums(self) -> torch.Tensor:
        """Total ray length through each pixel, shape ``(num_gridx, num_gridy)``."""
        return self._cached_sum("col", lambda: self.adjoint(torch.ones(self.sino_shape, device=self.device)))

    def row_sq_sums(self) -> torch.Tensor:
        """Sum of squared intersection lengths of each ray, shape ``(nangles, n_det)``."""

        def compute():
            m = self._mat
            sq = _csr_tensor(m.crow_indices(), m.col_indices(), m.values() ** 2, m.shape)
            ones = torch.ones(self.num_gridx * self.num_gridy, 1, device=self.device)
            return torch.sparse.mm(sq, ones).reshape(self.sino_shape)

        return self._cached_sum("rowsq", compute)


_CACHE: "OrderedDict[tuple, ParallelBeamProjector]" = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 8


def get_projector(theta, n_det: int, num_gridx: int, num_gridy: int, center: float | None = None, device=None):
    """A cached :class:`ParallelBeamProjector` for this geometry.

    Building the matrix costs far more than applying it, and a volume reuses
    one geometry for every slice, so the last few geometries are kept. The
    cache is safe to use from several threads at once.
    """
    dev = resolve_device(device)
    theta32 = np.ascontiguousarray(theta, dtype=np.float32)
    c = np.float32(default_center(n_det) if center is None else center)
    key = (
        hashlib.sha1(theta32.tobytes()).hexdigest(),
        theta32.size,
        int(n_det),
        int(num_gridx),
        int(num_gridy),
        float(c),
        str(dev),
    )
    with _CACHE_LOCK:
        proj = _CACHE.get(key)
        if proj is not None:
            _CACHE.move_to_end(key)
            return proj
        logger.debug("building projector %s", key[1:])
        proj = ParallelBeamProjector(theta32, n_det, num_gridx, num_gridy, center=float(c), device=dev)
        _CACHE[key] = proj
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
        return proj


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


def clear_projector_cache() -> None:
    """Free every cached projector (their matrices can be large)."""
    with _CACHE_LOCK:
        _CACHE.clear()
