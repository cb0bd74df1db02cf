"""Pre-processing: projection alignment (jitter correction, tilt axis) and image shifts."""

from .alignment import align_jitter
from .center import find_center_pair
from .shift import shift_images
from .tilt_axis import align_tilt_series, estimate_tilt_axis, rotate_projections

__all__ = [
    "align_jitter",
    "align_tilt_series",
    "estimate_tilt_axis",
    "rotate_projections",
    "find_center_pair",
    "shift_images",
]
