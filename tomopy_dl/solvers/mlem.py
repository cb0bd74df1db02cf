"""MLEM: the non-negative maximum-likelihood EM iteration."""

from __future__ import annotations

import logging

import torch
from tqdm.auto import trange

from ..physics import ParallelBeamProjector
from ._common import safe_inverse

__all__ = ["mlem"]

logger = logging.getLogger(__name__)

_TINY = 1e-12


def mlem(
    sino: torch.Tensor,
    op: ParallelBeamProjector,
    init: torch.Tensor | None = None,
    num_iter: int = 50,
    progress: bool = False,
) -> torch.Tensor:
    """Maximum-likelihood expectation maximisation.

    ``x <- x / (A^T 1) * A^T (sino / A x)``. The iterate stays non-negative.
    Negative measurements, which noise and log-normalisation can produce, are
    taken as zero because MLEM models counts.

    Parameters
    ----------
    sino : torch.Tensor, shape (B, nangles, ndet)
    op : ParallelBeamProjector
    init : torch.Tensor, shape (B, num_gridx, num_gridy), optional
        Starting image; negative values are clipped to zero. A uniform image
        (TomoPy's 1e-6 prefill, or ones by default) is the usual start.
    num_iter : int
        Iterations.
    progress : bool
        Show a tqdm bar over the iterations.

    Returns
    -------
    torch.Tensor, shape (B, num_gridx, num_gridy), non-negative
    """
    if init is None:
        x = torch.ones(sino.shape[0], *op.image_shape, device=sino.device)
    else:
        x = init.clamp_min(0.0)
        # An all-zero start is a fixed point of MLEM; begin from a flat image instead.
        flat = x.flatten(1).amax(dim=1) <= 0
        x = torch.where(flat[:, None, None], torch.ones_like(x), x)
    y = sino.clamp_min(0.0)
    inv_cols = safe_inverse(op.col_sums())
    with torch.no_grad():
        for _ in trange(num_iter, desc="mlem", disable=not progress, leave=False):
            model = op(x)
            ratio = torch.where(model > _TINY, y / model.clamp_min(_TINY), torch.zeros_like(model))
            x = x * op.adjoint(ratio) * inv_cols
    if logger.isEnabledFor(logging.DEBUG):
        res = torch.linalg.vector_norm(y - op(x)) / torch.linalg.vector_norm(y).clamp_min(1e-12)
        logger.debug("mlem: %d iterations, relative data residual %.4g", num_iter, float(res))
    return x
