"""Data terms: how far a model sinogram is from the measured one, per slice."""

from __future__ import annotations

import torch

from ..physics import Projector

_TINY = 1e-12

__all__ = ["L2", "KL", "L1MinMax", "minmax", "DATA_TERMS"]


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


class _SinogramDistance:
    """A distance between ``op(x)`` and the data per slice; subclasses define :meth:`distance`."""

    def __call__(
        self, x: torch.Tensor, y: torch.Tensor, op: Projector, model: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``(B,)`` values; ``model``, when given, is ``op(x)`` already computed."""
        return self.distance(op(x) if model is None else model, y).flatten(1).sum(1)

    def distance(self, model: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class L2(_SinogramDistance):
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

    def distance(self, model: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return 0.5 * (model - y).square()

    @staticmethod
    def prox_conjugate(p: torch.Tensor, sigma: torch.Tensor, model: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The dual step of the primal-dual loop: ``prox`` of ``sigma D*`` at ``p + sigma A x`` (per ray).

        ``model`` is ``A x_bar``; for ``0.5 |z - y|^2`` it is ``(p + sigma (A x - y)) / (1 + sigma)``.
        """
        return (p + sigma * (model - y)) / (1.0 + sigma)


class KL(_SinogramDistance):
    """Poisson log-likelihood as a distance, ``sum(A x - y + y log(y / A x))`` per slice.

    The data term of MLEM and of TV with ``data='kl'``: right for counts
    (electron or neutron counts, HAADF-STEM signals) rather than ``-log`` of
    transmission, where the noise grows with the signal. Zero for a perfect
    fit; ``y`` is taken as non-negative.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from tomopy_dl.physics import get_projector
    >>> op = get_projector(np.linspace(0, np.pi, 8, endpoint=False), 12, 8, 8)
    >>> ones = torch.ones(1, 8, 8)
    >>> round(float(KL()(ones, op(ones), op)[0]), 6), bool(KL()(2 * ones, op(ones), op)[0] > 0)
    (0.0, True)
    """

    @staticmethod
    def prox_conjugate(p: torch.Tensor, sigma: torch.Tensor, model: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The dual step for ``sum(z - y log z)`` (Sidky et al. 2012), as :meth:`L2.prox_conjugate`'s."""
        v = p + sigma * model
        return 0.5 * (1.0 + v - torch.sqrt((v - 1.0).square() + 4.0 * sigma * y))

    def distance(self, model: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        model, y = model.clamp_min(_TINY), y.clamp_min(0.0)
        # y log(y / model) with 0 log 0 = 0: rays that measured nothing add only their model.
        log_term = torch.where(y > 0, y * (torch.log(y.clamp_min(_TINY)) - torch.log(model)), torch.zeros_like(y))
        return model - y + log_term


#: The data terms by name, as ``tv(data=...)`` and GANrec's ``data_term`` take them.
DATA_TERMS = {"l2": L2, "kl": KL}


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
