"""Reconstruction solvers on the projector: batched torch in, torch out.

Every solver takes a batch of sinograms ``(B, nangles, ndet)`` and a
:class:`~tomopy_dl.physics.ParallelBeamProjector`, and returns images
``(B, num_gridx, num_gridy)``. They know nothing of TomoPy; the adapter in
:mod:`tomopy_dl.adapter` turns them into TomoPy algorithms.
"""

from .fbp import angle_weights, fbp, filter_sinogram
from .ganrec import ganrec
from .mlem import mlem
from .sirt import sirt
from .tv import tv

__all__ = ["fbp", "sirt", "mlem", "tv", "ganrec", "filter_sinogram", "angle_weights"]
