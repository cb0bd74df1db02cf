"""The one memory budget of work done on full-size images a few at a time.

Filters, shrinks, moves and file reads of projection stacks take a chunk of
images at a time, so their temporaries follow this budget, not the stack (a
1500 x 2048 x 2560 scan is 31 GB as float32).
"""

from __future__ import annotations

__all__ = ["CHUNK_BYTES", "images_per_chunk"]

# 64 MB: three 2048 x 2560 float32 projections; large enough that per-call overheads (an HDF5 read,
# a torch launch) do not show, small enough that a chunk's copies stay a small part of the peak.
CHUNK_BYTES = 1 << 26


def images_per_chunk(image_bytes: int) -> int:
    """Images of ``image_bytes`` bytes each (temporaries included) per step: about ``CHUNK_BYTES``, at least 1.

    Examples
    --------
    >>> images_per_chunk(4 * 2048 * 2560)
    3
    >>> images_per_chunk(1 << 30)
    1
    """
    return max(1, CHUNK_BYTES // max(int(image_bytes), 1))
