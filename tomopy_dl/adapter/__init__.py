"""The TomoPy adapter: our solvers behind TomoPy's recon contract.

* :mod:`.contract` wraps a solver as a callable that ``tomopy.recon`` accepts
  as ``algorithm=``.
* :mod:`.recon` is ``tomopy.recon`` without TomoPy, for our algorithms.
* :mod:`.register` adds string algorithm names to an installed TomoPy.
"""

from .contract import ALGORITHMS, fbp, ganrec, mlem, sirt, tomopy_algorithm, tv
from .recon import recon
from .register import register

__all__ = ["ALGORITHMS", "fbp", "sirt", "mlem", "tv", "ganrec", "tomopy_algorithm", "recon", "register"]
