"""Small helpers shared by the iterative solvers."""

from __future__ import annotations

import torch


def safe_inverse(t: torch.Tensor, tiny: float = 1e-12) -> torch.Tensor:
    """``1 / t`` where ``t > 0``, else 0: pixels no ray crosses, rays that miss the grid."""
    return torch.where(t > 0, 1.0 / t.clamp_min(tiny), torch.zeros_like(t))
