"""Physics operators: the parallel-beam projector and its exact adjoint."""

from .geometry import default_center, detector_width, ray_offsets, unmeasured_angles
from .projector import ParallelBeamProjector, clear_projector_cache, get_projector, slices_by_center

__all__ = [
    "ParallelBeamProjector",
    "get_projector",
    "clear_projector_cache",
    "slices_by_center",
    "detector_width",
    "default_center",
    "ray_offsets",
    "unmeasured_angles",
]
