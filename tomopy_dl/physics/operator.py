"""What a projector is: the one interface every solver, prep step and adapter uses.

A projector is a linear operator ``A`` from images ``(..., num_gridx,
num_gridy)`` to sinograms ``(..., nangles, n_det)`` in TomoPy's geometry
(:mod:`tomopy_dl.physics.geometry`), with its adjoint ``A^T``. The backends
are sibling classes of :class:`ProjectorBase`, listed in one table,
:data:`tomopy_dl.physics.registry.PROJECTORS`:

* ``'siddon'`` (:class:`~tomopy_dl.physics.projector.ParallelBeamProjector`):
  TomoPy's exact ray-pixel intersection lengths;
* ``'fourier'`` (:class:`~tomopy_dl.physics.fourier.FourierProjector`):
  the Fourier-slice theorem with non-uniform FFTs, ``O(n^2 log n)``.

Code that needs a projector asks :func:`~tomopy_dl.physics.get_projector` for
one, and code that needs the same geometry at other angles asks the projector
(:meth:`ProjectorBase.restrict`), so a backend chosen once is kept everywhere.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import torch

from .geometry import default_center

__all__ = ["Projector", "ProjectorBase", "bin_detector"]


@runtime_checkable
class Projector(Protocol):
    """The interface of a parallel-beam projector (structural: any class that has these is one).

    Attributes
    ----------
    name : str
        Its backend's key in :data:`~tomopy_dl.physics.registry.PROJECTORS`.
    theta : ndarray of float32, shape (nangles,)
        Angles in radians.
    n_det : int
        Detector pixels per projection.
    center : float
        Rotation centre in detector pixels.
    device : torch.device
        Where its inputs and outputs live.
    image_shape, sino_shape : (int, int)
        ``(num_gridx, num_gridy)`` and ``(nangles, n_det)``.
    nonnegative : bool
        Whether every entry of ``A`` is >= 0 (ray lengths): MLEM's
        multiplicative update relies on it, and guards itself where not.
    """

    name: str
    nonnegative: bool
    theta: np.ndarray
    n_det: int
    center: float
    device: torch.device

    @property
    def image_shape(self) -> tuple[int, int]: ...

    @property
    def sino_shape(self) -> tuple[int, int]: ...

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...

    def forward(self, x: torch.Tensor) -> torch.Tensor: ...

    def adjoint(self, y: torch.Tensor) -> torch.Tensor: ...

    def row_sums(self) -> torch.Tensor: ...

    def col_sums(self) -> torch.Tensor: ...

    def row_sq_sums(self) -> torch.Tensor: ...

    def restrict(self, angles) -> Projector: ...

    def binned(self, factor: int) -> Projector: ...


class ProjectorBase(torch.nn.Module):
    """What the backends share: the geometry, the checks, cached sums and :meth:`restrict`.

    A backend sets ``name`` (its registry key), calls ``super().__init__``
    with the geometry and the keyword ``options`` that rebuild it at other
    angles, and implements ``forward`` and ``adjoint``. It may override the
    sums where it knows them better than by applying itself to ones.

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
    device : torch.device
    options : dict
        The backend's own keywords, passed again by :meth:`restrict`.
    """

    name = "base"
    #: Whether every entry of the operator is >= 0 (see :class:`Projector`).
    nonnegative = False
    #: Input dtypes ``forward``/``adjoint`` accept.
    dtypes: tuple[torch.dtype, ...] = (torch.float32,)

    def __init__(self, theta, n_det: int, num_gridx: int, num_gridy: int, center, device, options: dict):
        super().__init__()
        self.theta = np.asarray(theta, dtype=np.float32).ravel().copy()
        if self.theta.size < 1:
            raise ValueError("theta must hold at least one angle")
        self.n_det = int(n_det)
        self.num_gridx = int(num_gridx)
        self.num_gridy = int(num_gridy)
        if min(self.n_det, self.num_gridx, self.num_gridy) < 1:
            raise ValueError(f"n_det, num_gridx and num_gridy must be >= 1, got {n_det}, {num_gridx}, {num_gridy}")
        self.center = float(default_center(n_det) if center is None else np.float32(center))
        self.device = torch.device(device)
        self.options = dict(options)
        self._sums: dict[str, torch.Tensor] = {}

    @property
    def image_shape(self) -> tuple[int, int]:
        """``(num_gridx, num_gridy)``."""
        return (self.num_gridx, self.num_gridy)

    @property
    def sino_shape(self) -> tuple[int, int]:
        """``(nangles, n_det)``."""
        return (self.theta.size, self.n_det)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:  # pragma: no cover - every backend defines it
        raise NotImplementedError

    def _check(self, t: torch.Tensor, shape: tuple[int, int], name: str) -> tuple[int, ...]:
        if tuple(t.shape[-2:]) != shape:
            raise ValueError(f"{name} must end with shape {shape}, got {tuple(t.shape)}")
        if t.device.type != self.device.type:
            raise ValueError(f"{name} is on {t.device} but the projector is on {self.device}")
        if t.dtype not in self.dtypes:
            allowed = " or ".join(str(d).replace("torch.", "") for d in self.dtypes)
            raise TypeError(f"{name} must be {allowed}, got {t.dtype}")
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

    def row_sq_sums(self) -> torch.Tensor:  # pragma: no cover - every backend defines it
        """Sum of squared intersection lengths of each ray, shape ``(nangles, n_det)``."""
        raise NotImplementedError

    def binned(self, factor: int) -> Projector:
        """The same geometry on a detector and grid ``factor`` times coarser (cached), same angles and backend.

        Detector pixel ``D`` of the result covers pixels ``[factor D, factor (D
        + 1))`` of this one, so the centre becomes ``center / factor``; the grid
        keeps its centre on the axis. Sinograms go with it averaged over each
        ``factor`` adjacent pixels (line integrals keep their value; images
        come out ``factor`` times larger, per coarse pixel).

        Examples
        --------
        >>> import numpy as np
        >>> from tomopy_dl.physics import get_projector
        >>> op = get_projector(np.linspace(0, np.pi, 8, endpoint=False), 64, 48, 48, center=30.0)
        >>> coarse = op.binned(4)
        >>> coarse.sino_shape, coarse.image_shape, coarse.center
        ((8, 16), (12, 12), 7.5)
        """
        from .registry import get_projector

        f = int(factor)
        if f != factor or f < 1 or min(self.n_det, self.num_gridx, self.num_gridy) < f:
            raise ValueError(f"factor must be an integer from 1 to the smallest side, got {factor!r}")
        if f == 1:
            return self
        return get_projector(
            self.theta, self.n_det // f, self.num_gridx // f, self.num_gridy // f, center=self.center / f,
            device=self.device, projector=self.name, **self.options,
        )  # fmt: skip

    def restrict(self, angles, **options) -> Projector:
        """The same geometry and backend at other angles (cached).

        Parameters
        ----------
        angles : array_like
            Integers or booleans: which of ``theta`` to keep (held-out or
            subset angles). Floats: the new angles themselves, in radians
            (e.g. the unmeasured angles of a missing wedge).
        **options
            Backend keywords to change (e.g. ``forward_only=True``).

        Examples
        --------
        >>> import numpy as np
        >>> from tomopy_dl.physics import get_projector
        >>> op = get_projector(np.linspace(0, np.pi, 8, endpoint=False), 12, 8, 8, projector="fourier")
        >>> sub = op.restrict(np.arange(0, 8, 2))
        >>> sub.name, sub.sino_shape
        ('fourier', (4, 12))
        """
        from .registry import get_projector  # the registry imports the backends, which import this module

        a = np.asarray(angles)
        if a.dtype == bool:
            if a.shape != self.theta.shape:
                raise ValueError(f"a boolean angle mask must have shape {self.theta.shape}, got {a.shape}")
            theta = self.theta[a]
        elif np.issubdtype(a.dtype, np.integer):
            theta = self.theta[a.ravel()]
        elif np.issubdtype(a.dtype, np.floating):
            theta = a.astype(np.float32).ravel()
        else:
            raise TypeError(f"angles must be indices, a boolean mask or radians, got dtype {a.dtype}")
        return get_projector(
            theta, self.n_det, self.num_gridx, self.num_gridy, center=self.center, device=self.device,
            projector=self.name, **{**self.options, **options},
        )  # fmt: skip


def bin_detector(sino: torch.Tensor, factor: int) -> torch.Tensor:
    """``sino`` (..., ndet) averaged over each ``factor`` adjacent detector pixels, as ``op.binned(factor)`` takes it.

    A last partial group is dropped, as ``binned`` drops it from the detector.

    Examples
    --------
    >>> import torch
    >>> bin_detector(torch.arange(7.0)[None], 2)
    tensor([[0.5000, 2.5000, 4.5000]])
    """
    n = sino.shape[-1] // factor
    return sino[..., : n * factor].reshape(*sino.shape[:-1], n, factor).mean(-1)
