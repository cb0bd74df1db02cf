"""Physics operators: parallel-beam projectors behind one interface, and TomoPy's geometry.

* :mod:`.operator`: what a projector is (:class:`Projector`, :class:`ProjectorBase`).
* :mod:`.registry`: the backends in one table (:data:`PROJECTORS`) and :func:`get_projector`.
* Backends: :mod:`.projector` (``'siddon'``, TomoPy-exact) and :mod:`.fourier` (``'fourier'``, NUFFT;
  ``'fourier-rays'``, the same with TomoPy's rays' aliases folded in).
* :mod:`.geometry`: TomoPy's conventions, to the pixel.

Names load on first use, so that the algorithm table can read the backends'
names without loading torch.
"""

from ..util.lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "Projector": ".operator",
        "ProjectorBase": ".operator",
        "bin_detector": ".operator",
        "ParallelBeamProjector": ".projector",
        "FourierProjector": ".fourier",
        "PROJECTORS": ".registry",
        "PROJECTOR_CHOICES": ".registry",
        "choose_projector": ".registry",
        "get_projector": ".registry",
        "clear_projector_cache": ".registry",
        "projection_error": ".projector",
        "slices_by_center": ".projector",
        "slices_per_batch": ".projector",
        "estimate_matrix_bytes": ".projector",
        "memory_budget": ".projector",
        "DEFAULT_MEMORY_BUDGET": ".projector",
        "detector_width": ".geometry",
        "default_center": ".geometry",
        "ray_offsets": ".geometry",
        "unmeasured_angles": ".geometry",
        "measured_frequencies": ".geometry",
        "observable_col_shifts": ".geometry",
        "sinusoid_fit": ".geometry",
    },
)
