"""2D non-uniform FFTs for the Fourier projector: one interface, a library per device.

Both transforms use centred modes ``n = i - N // 2`` of a grid ``(nx, ny)``
and points ``k`` in radians per pixel:

* ``type2(grid)``: ``c_p = sum_n f_n exp(-i k_p . n)`` (uniform to
  non-uniform, the projector's forward);
* ``type1(points)``: ``f_n = sum_p c_p exp(+i k_p . n)``, the exact adjoint
  of ``type2`` (the projector's adjoint).

:class:`Ducc0Nufft` runs on the CPU (``ducc0``, measured fastest there,
``benchmarks/nufft_libraries.py``). :class:`TorchNufft` is written in torch
alone (gridding with the "exponential of semicircle" kernel, as finufft
[1]_), so it runs wherever torch runs, on CUDA in particular; on the CPU it
is tested against ``ducc0`` and is many times slower. :data:`NUFFTS` is the
table; :func:`choose_nufft` picks by device. Adding a library (``cufinufft``,
say) means one class here and one row of the table.

References
----------
.. [1] Barnett, A. H., Magland, J. and af Klinteberg, L. "A parallel
   nonuniform fast Fourier transform library based on an 'exponential of
   semicircle' kernel", SIAM J. Sci. Comput. 41, C479 (2019).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from typing import Protocol

import numpy as np
import torch

__all__ = ["Nufft", "Ducc0Nufft", "TorchNufft", "NUFFTS", "choose_nufft"]

# Oversampling of the fine grid and the kernel's shape parameter per unit width at that
# oversampling (finufft's choice for 2.0: error about 10^-(width - 1)).
_SIGMA, _BETA_PER_WIDTH = 2.0, 2.30


class Nufft(Protocol):
    """What the Fourier projector asks of a NUFFT library (built once per geometry and precision)."""

    def type2(self, grid: torch.Tensor) -> torch.Tensor:
        """``(nx, ny)`` complex to ``(npoints,)`` complex."""
        ...

    def type1(self, points: torch.Tensor) -> torch.Tensor:
        """``(npoints,)`` complex to ``(nx, ny)`` complex."""
        ...


class Ducc0Nufft:
    """``ducc0``'s plan (CPU): one per geometry, reused, used by one thread at a time."""

    def __init__(self, coord: np.ndarray, grid_shape: tuple[int, int], eps: float, threads: int, device=None):
        import ducc0  # imported on first use: the Siddon backend does not need it

        self.plan = ducc0.nufft.plan(nu2u=False, coord=coord, grid_shape=grid_shape, epsilon=eps, nthreads=threads)
        self.n_points, self.grid_shape = coord.shape[0], tuple(grid_shape)
        self.lock = threading.Lock()  # ducc0: a plan must not be used by two threads at once

    def type2(self, grid: torch.Tensor) -> torch.Tensor:
        out = np.empty(self.n_points, _complex_np(grid.dtype))
        with self.lock:
            self.plan.u2nu(grid=grid.resolve_conj().numpy(), forward=True, out=out)
        return torch.from_numpy(out)

    def type1(self, points: torch.Tensor) -> torch.Tensor:
        out = np.empty(self.grid_shape, _complex_np(points.dtype))
        with self.lock:
            self.plan.nu2u(points=points.resolve_conj().numpy(), forward=False, out=out)
        return torch.from_numpy(out)


class TorchNufft:
    """Gridding NUFFT in torch: a fine grid oversampled twice, a separable kernel of ``width`` pixels.

    ``type2`` divides by the kernel's Fourier transform (deapodisation),
    places the modes on the fine grid, takes its FFT and interpolates each
    point from its ``width x width`` neighbours; ``type1`` is the same
    three steps transposed (spreading by ``index_add_``, an unnormalised
    inverse FFT, the same division), so the two are exact adjoints.
    The neighbours' indices and weights are kept per axis: ``4 width``
    numbers per point.

    Notes
    -----
    On CUDA, ``index_add_`` adds in no fixed order, so ``type1`` may differ
    between runs by float round-off.
    """

    def __init__(self, coord: np.ndarray, grid_shape: tuple[int, int], eps: float, threads: int = 1, device=None):
        self.device = torch.device(device or "cpu")
        self.grid_shape = tuple(int(n) for n in grid_shape)
        self.width = int(min(16, max(2, math.ceil(-math.log10(eps)) + 1)))
        self.beta = _BETA_PER_WIDTH * self.width
        self.fine = tuple(_fast_even(math.ceil(_SIGMA * n)) for n in self.grid_shape)
        real = torch.float64 if coord.dtype == np.float64 else torch.float32
        axes = [self._axis(coord[:, a].astype(np.float64), self.grid_shape[a], self.fine[a], real) for a in (0, 1)]
        (self.index_x, self.weight_x, self.deapod_x, self.modes_x) = axes[0]
        (self.index_y, self.weight_y, self.deapod_y, self.modes_y) = axes[1]

    def _axis(self, k: np.ndarray, n: int, fine: int, real: torch.dtype):
        """Per axis: neighbours' fine-grid indices and kernel weights ``(npoints, width)``, deapodisation, modes."""
        t = k * fine / (2 * np.pi)  # position on the fine grid, in its pixels
        first = np.ceil(t - self.width / 2)
        offsets = first[:, None] + np.arange(self.width)[None, :]
        weight = self._kernel(t[:, None] - offsets)
        modes = np.arange(n) - n // 2
        deapod = 1.0 / self._kernel_ft(modes / fine)
        put = lambda a, dtype: torch.as_tensor(a, dtype=dtype, device=self.device)  # noqa: E731
        return (put(np.mod(offsets, fine).astype(np.int64), torch.int64), put(weight, real), put(deapod, real),
                put(np.mod(modes, fine), torch.int64))  # fmt: skip

    def _kernel(self, x: np.ndarray) -> np.ndarray:
        z = 2.0 * x / self.width
        inside = np.abs(z) < 1.0
        return np.where(inside, np.exp(self.beta * (np.sqrt(np.clip(1.0 - z * z, 0.0, None)) - 1.0)), 0.0)

    def _kernel_ft(self, xi: np.ndarray) -> np.ndarray:
        """``int psi(x) cos(2 pi x xi) dx`` by Gauss-Legendre quadrature on the kernel's support."""
        nodes, weights = np.polynomial.legendre.leggauss(4 * self.width + 40)
        x = 0.5 * self.width * nodes
        return 0.5 * self.width * (np.cos(2 * np.pi * np.outer(xi, x)) @ (weights * self._kernel(x)))

    def _neighbours(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Flat fine-grid index and weight of each point's ``(a, b)`` neighbour, one ``(a, b)`` at a time."""
        for a in range(self.width):
            row, wa = self.index_x[:, a] * self.fine[1], self.weight_x[:, a]
            for b in range(self.width):
                yield row + self.index_y[:, b], wa * self.weight_y[:, b]

    def type2(self, grid: torch.Tensor) -> torch.Tensor:
        grid = grid.to(self.device) * (self.deapod_x[:, None] * self.deapod_y[None, :])
        fine = torch.zeros(self.fine, dtype=grid.dtype, device=self.device)
        fine[self.modes_x[:, None], self.modes_y[None, :]] = grid
        flat = torch.fft.fft2(fine).reshape(-1)
        out = torch.zeros(self.index_x.shape[0], dtype=grid.dtype, device=self.device)
        for index, weight in self._neighbours():
            out += flat[index] * weight
        return out

    def type1(self, points: torch.Tensor) -> torch.Tensor:
        points = points.to(self.device)
        fine = torch.zeros(self.fine[0] * self.fine[1], 2, dtype=self.weight_x.dtype, device=self.device)
        pairs = torch.view_as_real(points.resolve_conj())
        for index, weight in self._neighbours():
            fine.index_add_(0, index, pairs * weight[:, None])
        spread = torch.view_as_complex(fine).reshape(self.fine)
        modes = torch.fft.ifft2(spread, norm="forward")[self.modes_x[:, None], self.modes_y[None, :]]
        return modes * (self.deapod_x[:, None] * self.deapod_y[None, :])


#: NUFFT libraries by name: a constructor ``(coord, grid_shape, eps, threads, device)``.
NUFFTS: dict[str, Callable[..., Nufft]] = {"ducc0": Ducc0Nufft, "torch": TorchNufft}


def choose_nufft(name: str | None, device: torch.device) -> str:
    """``name`` checked, or by device when None: ``ducc0`` on the CPU, ``torch`` elsewhere.

    Examples
    --------
    >>> choose_nufft(None, torch.device("cpu")), choose_nufft(None, torch.device("cuda"))
    ('ducc0', 'torch')
    """
    if name is None:
        return "ducc0" if torch.device(device).type == "cpu" else "torch"
    if name not in NUFFTS:
        raise ValueError(f"nufft must be one of {sorted(NUFFTS)} or None, got {name!r}")
    if name == "ducc0" and torch.device(device).type != "cpu":
        raise ValueError(f"nufft='ducc0' runs on the CPU only, not on {device}: use nufft='torch' or None")
    return name


def _complex_np(dtype: torch.dtype):
    return np.complex128 if dtype in (torch.complex128, torch.float64) else np.complex64


def _fast_even(n: int) -> int:
    """The smallest even number >= n whose only prime factors are 2, 3 and 5."""
    n = max(2, int(n) + (int(n) % 2))
    while True:
        m = n
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m == 1:
            return n
        n += 2
