"""Physics operators: the parallel-beam projector and its exact adjoint."""

from .geometry import (
    default_center,
    detector_width,
    observable_col_shifts,
    ray_offsets,
    sinusoid_fit,
    unmeasured_angles,
)
from .projector import (
    DEFAULT_MEMORY_BUDGET,
    ParallelBeamProjector,
    clear_projector_cache,
    estimate_matrix_bytes,
    get_projector,
    memory_budget,
    projection_error,
    slices_by_center,
    slices_per_batch,
)

__all__ = [
    "ParallelBeamProjector",
    "get_projector",
    "projection_error",
    "clear_projector_cache",
    "slices_by_center",
    "slices_per_batch",
    "estimate_matrix_bytes",
    "memory_budget",
    "DEFAULT_MEMORY_BUDGET",
    "detector_width",
    "default_center",
    "ray_offsets",
    "unmeasured_angles",
    "observable_col_shifts",
    "sinusoid_fit",
]
