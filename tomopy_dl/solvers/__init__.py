"""Reconstruction solvers on the projector: batched torch in, torch out.

Every solver takes a batch of sinograms ``(B, nangles, ndet)`` and a
:class:`~tomopy_dl.physics.Projector` (any backend), and returns images
``(B, num_gridx, num_gridy)``. They know nothing of TomoPy.

* :mod:`.table`: each algorithm's keywords and defaults (the one home).
* :mod:`.analytic`: filtered back-projection. :mod:`.iterative`: SIRT, MLEM, MBIR, TV.
* The parts of the trained solvers, after deepinv: :mod:`.data_fidelity`
  (data terms), :mod:`.prior` (TV, qGGMRF and the adversarial terms) and
  :mod:`.loop` (the one guarded optimisation loop).
* GANrec: :mod:`.gan` (``ganrec``, its modes), composed in
  :mod:`.gan_wedge` (default) and :mod:`.gan_paper` (the paper).
"""

from ..util.lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "ALGORITHMS": ".table",
        "fbp": ".analytic",
        "filter_sinogram": ".analytic",
        "angle_weights": ".analytic",
        "sirt": ".iterative",
        "mlem": ".iterative",
        "mbir": ".iterative",
        "tv": ".iterative",
        "sirt_iterates": ".iterative",
        "mlem_iterates": ".iterative",
        "mbir_iterates": ".iterative",
        "tv_iterates": ".iterative",
        "ganrec": ".gan",
    },
)
