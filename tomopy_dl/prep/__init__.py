"""Pre-processing: projection alignment (jitter correction) and image shifts."""

from .alignment import align_jitter
from .shift import shift_images

__all__ = ["align_jitter", "shift_images"]
