"""SIRT, with TomoPy's normalisation."""

from __future__ import annotations

import logging

import torch
from tqdm.auto import trange

from ..physics import ParallelBeamProjector
from ._common import safe_inverse

__all__ = ["sirt"]

logger = logging.getLogger(__name__)


def sirt(
    sino: torch.Tensor,
    op: ParallelBeamProjector,
    init: torch.Tensor | None = None,
    num_iter: int = 50,
    progress: bool = False,
) -> torch.Tensor:
    """Simultaneous iterative reconstruction.

    ``x <- x + C A^T (R (sino - A x))`` where ``R`` is one over each ray's sum of
    squared intersection lengths and ``C`` one over each pixel's total length,
    exactly as TomoPy's ``sirt`` normalises, so both converge alike.

    Parameters
    ----------
    sino : torch.Tensor, shape (B, nangles, ndet)
    op : ParallelBeamProjector
    init : torch.Tensor, shape (B, num_gridx, num_gridy), optional
        Starting image; zeros by default.
    num_iter : int
        Iterations.
    progress : bool
        Show a tqdm bar over the iterations.

    Returns
    -------
    torch.Tensor, shape (B, num_gridx, num_gridy)
    """
    x = torch.zeros(sino.shape[0], *op.image_shape, device=sino.device) if init is None else init.clone()
    inv_rows = safe_inverse(op.row_sq_sums())
    inv_cols = safe_inverse(op.col_sums())
    with torch.no_grad():
        for _ in trange(num_iter, desc="sirt", disable=not progress, leave=False):
            x += op.adjoint((sino - op(x)) * inv_rows) * inv_cols
    if logger.isEnabledFor(logging.DEBUG):
        res = torch.linalg.vector_norm(sino - op(x)) / torch.linalg.vector_norm(sino).clamp_min(1e-12)
        logger.debug("sirt: %d iterations, relative data residual %.4g", num_iter, float(res))
    return x
