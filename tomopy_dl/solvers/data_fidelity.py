"""Data terms: how far a model sinogram is from the measured one, per slice."""

from __future__ import annotations

import torch

from ..physics import ParallelBeamProjector

__all__ = ["L2", "L1MinMax", "minmax"]


def minmax(t: torch.Tensor) -> torch.Tensor:
    """Section 2.3 of GANrec's paper: standardise, then scale to [0, 1], per sample.

    The standardisation does not change the min-max result, but is kept so
    that the arithmetic is the paper's.

    Parameters
    ----------
    t : torch.Tensor, shape (B, ...)

    Returns
    -------
    torch.Tensor, same shape, each sample in [0, 1]

    Examples
    --------
    >>> import torch
    >>> minmax(torch.tensor([[1.0, 2.0, 3.0]]))
    tensor([[0.0000, 0.5000, 1.0000]])
    """
    dims = tuple(range(1, t.ndim))
    t = (t - t.mean(dims, keepdim=True)) / t.std(dims, keepdim=True).clamp_min(1e-12)
    lo = t.amin(dims, keepdim=True)
    hi = t.amax(dims, keepdim=True)
    return (t - lo) / (hi - lo).clamp_min(1e-12)


class L2:
    """Least squares, ``0.5 |A x - y|^2`` per slice: the data term of TV and GANrec's wedge mode.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from tomopy_dl.physics import get_projector
    >>> op = get_projector(np.linspace(0, np.pi, 8, endpoint=False), 12, 8, 8)
    >>> y = op(torch.ones(1, 8, 8))
    >>> float(L2()(torch.ones(1, 8, 8), y, op)[0])
    0.0
    """

    def __call__(
        self, x: torch.Tensor, y: torch.Tensor, op: ParallelBeamProjector, model: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``(B,)`` values; ``model``, when given, is ``op(x)`` already computed."""
        model = op(x) if model is None else model
        return 0.5 * (model - y).square().flatten(1).sum(1)


class L1MinMax:
    """GANrec's data term (the paper, eq. 3): the mean absolute difference of min-max-normalised sinograms.

    Both sinograms go through :func:`minmax` (:meth:`normalise`), so the
    image's scale and offset are free.

    Examples
    --------
    >>> import torch
    >>> l1 = L1MinMax()
    >>> y = torch.rand(1, 6, 8)
    >>> round(float(l1(l1.normalise(3 * y + 2), l1.normalise(y))), 6)  # blind to scale and offset
    0.0
    """

    normalise = staticmethod(minmax)

    def __call__(self, model_n: torch.Tensor, target_n: torch.Tensor) -> torch.Tensor:
        """A 0-d tensor from sinograms already normalised."""
        return (model_n - target_n).abs().mean()
