"""tomopy-dl: deep-learning reconstruction and alignment for TomoPy pipelines.

Public API
----------
project
    ``tomopy.project`` in torch: exact intersection-length projector.
recon
    ``tomopy.recon`` for our algorithms, without TomoPy.
fbp, sirt, mlem, tv, ganrec
    TomoPy algorithm callables: ``tomopy.recon(..., algorithm=tomopy_dl.ganrec)``.
register
    Add our string algorithm names to an installed TomoPy (done on import).
align_jitter
    Projection jitter correction by a trained residual network; a drop-in
    for ``tomopy.prep.alignment.align_joint``.
shift_images
    Sub-pixel ``tomopy.shift_images``: undoes the shifts ``align_jitter`` returns.
"""

from __future__ import annotations

import logging

from .adapter import fbp, ganrec, mlem, recon, register, sirt, tv
from .physics import ParallelBeamProjector, get_projector
from .prep import align_jitter, shift_images
from .sim import project

__version__ = "0.1.0"

__all__ = [
    "project",
    "recon",
    "fbp",
    "sirt",
    "mlem",
    "tv",
    "ganrec",
    "register",
    "align_jitter",
    "shift_images",
    "ParallelBeamProjector",
    "get_projector",
    "__version__",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())

register()
