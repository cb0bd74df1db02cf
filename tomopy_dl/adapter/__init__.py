"""The TomoPy adapter: our solvers behind TomoPy's recon contract.

* :mod:`.contract` wraps each algorithm of the table as a callable that
  ``tomopy.recon`` accepts as ``algorithm=``.
* :mod:`.standalone` is ``tomopy.recon`` without TomoPy, for our algorithms.
* :mod:`.tomopy_names` adds string algorithm names to an installed TomoPy.
"""

from ..util.lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "CALLABLES": ".contract",
        "tomopy_algorithm": ".contract",
        "fbp": ".contract",
        "sirt": ".contract",
        "mlem": ".contract",
        "tv": ".contract",
        "ganrec": ".contract",
        "recon": ".standalone",
        "register": ".tomopy_names",
    },
)
