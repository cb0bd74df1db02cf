"""Measurement noise models for simulated projections."""

from __future__ import annotations

import numpy as np

__all__ = ["add_poisson_noise"]


def add_poisson_noise(
    proj: np.ndarray, photons: float = 1e4, max_attenuation: float | None = 2.0, seed: int | None = 0
) -> np.ndarray:
    """Photon-counting noise on line integrals.

    The line integrals ``p`` are scaled by ``k`` so that the densest ray has
    ``max_attenuation`` (2.0 transmits 13.5% of the beam), become counts
    ``N ~ Poisson(photons * exp(-k p))``, and are returned as
    ``-log(N / photons) / k``, in the units of ``proj``. Zero counts are kept
    at one count, as a detector floor.

    Parameters
    ----------
    proj : ndarray
        Line integrals (emission-style projections), any shape.
    photons : float
        Incident photons per detector pixel; fewer means noisier.
    max_attenuation : float or None
        Line integral of the densest ray after scaling; ``None`` uses ``proj``
        as it is (then it must already be in units of attenuation).
    seed : int or None
        Random seed, for reproducible noise.

    Returns
    -------
    ndarray of float32, same shape as ``proj``
    """
    if not photons > 0:
        raise ValueError(f"photons must be > 0, got {photons!r}")
    p = np.asarray(proj, dtype=np.float64)
    peak = float(p.max()) if p.size else 0.0
    k = 1.0 if max_attenuation is None or peak <= 0 else max_attenuation / peak
    rng = np.random.default_rng(seed)
    counts = rng.poisson(photons * np.exp(-k * p))
    return (-np.log(np.maximum(counts, 1) / photons) / k).astype(np.float32)
