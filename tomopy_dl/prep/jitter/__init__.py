"""Jitter correction by a residual network (Fu et al., J. Synchrotron Rad. 2021), one module per step.

* :mod:`.stack`: the working copy of the projections (shrunk, despeckled, background removed);
* :mod:`.reproject`: step A and B, rough reconstructions and their reprojections within a memory budget;
* :mod:`.estimators`: step C, each projection's displacement (the network, phase correlation) and the judge;
* :mod:`.axis`: the rotation axis and the coarse start, searched before the passes;
* :mod:`.passes`: the pass loop (steps A-D) as a class, and the checks of the arguments;
* :mod:`.align`: the public functions, :func:`align_jitter` and :func:`estimate_jitter`.

:mod:`tomopy_dl.prep.alignment` keeps TomoPy's module name for them.
"""

from .align import align_jitter, estimate_jitter
from .axis import coarse_start, search_axis
from .estimators import predict_displacements
from .reproject import held_out_reprojection, reconstruction_angles, rough_reprojection
from .stack import prepare_stack

__all__ = [
    "align_jitter",
    "estimate_jitter",
    "rough_reprojection",
    "held_out_reprojection",
    "reconstruction_angles",
    "prepare_stack",
    "predict_displacements",
    "coarse_start",
    "search_axis",
]
