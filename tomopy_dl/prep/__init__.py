"""Pre-processing: projection alignment (jitter correction) and image shifts."""

from .alignment import align_jitter
from .center import find_center_pair
from .shift import shift_images

__all__ = ["align_jitter", "find_center_pair", "shift_images"]
