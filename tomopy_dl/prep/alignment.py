"""Jitter correction under TomoPy's module name: ``align_jitter`` replaces ``tomopy.prep.alignment.align_joint``.

The work lives in :mod:`tomopy_dl.prep.jitter`, one module per step of a pass; this module
re-exports its public names.
"""

from .jitter import *  # noqa: F403
from .jitter import __all__  # noqa: F401
