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
    Add our string algorithm names to an installed TomoPy (done when TomoPy
    is imported, before or after ``tomopy_dl``).
align_jitter
    Projection jitter correction by a trained residual network; a drop-in
    for ``tomopy.prep.alignment.align_joint``.
align_tilt_series, estimate_tilt_axis
    For tilt series with an inclined axis: estimate its in-plane angle,
    make it vertical, then ``align_jitter``.
shift_images
    Sub-pixel ``tomopy.shift_images``: undoes the shifts ``align_jitter`` returns.

Names load on first use, so ``import tomopy_dl`` is cheap.
"""

from __future__ import annotations

import logging

from .adapter.tomopy_names import register, register_when_imported
from .util.lazy import attach

__version__ = "0.2.0"

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "project": ".sim.forward",
        "recon": ".adapter.standalone",
        "ganrec_filler": ".adapter.standalone",
        "fbp": ".adapter.contract",
        "sirt": ".adapter.contract",
        "mlem": ".adapter.contract",
        "mbir": ".adapter.contract",
        "tv": ".adapter.contract",
        "ganrec": ".adapter.contract",
        "align_jitter": ".prep.alignment",
        "align_tilt_series": ".prep.tilt_axis",
        "estimate_tilt_axis": ".prep.tilt_axis",
        "shift_images": ".prep.shift",
        "ParallelBeamProjector": ".physics.projector",
        "FourierProjector": ".physics.fourier",
        "get_projector": ".physics.registry",
    },
)
__all__ += ["register", "__version__"]

logging.getLogger(__name__).addHandler(logging.NullHandler())

# The product: after ``import tomopy_dl``, ``tomopy.recon(..., algorithm='ganrec')`` works,
# whichever of the two is imported first. It loads neither torch nor TomoPy (TomoPy's import
# takes 2 s: the names are added when TomoPy itself is imported).
register_when_imported()
