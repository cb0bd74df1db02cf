"""Measurement noise models for simulated projections."""

from __future__ import annotations

import numpy as np

__all__ = ["add_poisson_noise", "add_salt_and_pepper"]


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

    Examples
    --------
    >>> import numpy as np
    >>> proj = np.full((4, 1, 8), 0.5, np.float32)
    >>> noisy = add_poisson_noise(proj, photons=1e4, seed=0)
    >>> noisy.shape, bool(abs(noisy.mean() - 0.5) < 0.05)
    ((4, 1, 8), True)
    """
    if not photons > 0:
        raise ValueError(f"photons must be > 0, got {photons!r}")
    p = np.asarray(proj, dtype=np.float64)
    peak = float(p.max()) if p.size else 0.0
    k = 1.0 if max_attenuation is None or peak <= 0 else max_attenuation / peak
    rng = np.random.default_rng(seed)
    counts = rng.poisson(photons * np.exp(-k * p))
    return (-np.log(np.maximum(counts, 1) / photons) / k).astype(np.float32)


def add_salt_and_pepper(images: np.ndarray, fraction: float = 0.2, seed: int | None = 0) -> np.ndarray:
    """Impulse noise: a ``fraction`` of pixels set to their image's minimum or maximum.

    Half the corrupted pixels become "pepper" (the image's minimum), half
    "salt" (its maximum), chosen independently per pixel.

    Parameters
    ----------
    images : ndarray, shape (N, rows, cols)
    fraction : float
        Share of corrupted pixels, in [0, 1].
    seed : int or None
        Random seed.

    Returns
    -------
    ndarray of float32, same shape

    Examples
    --------
    >>> import numpy as np
    >>> images = np.random.default_rng(1).uniform(0.2, 0.8, (2, 16, 16)).astype(np.float32)
    >>> hit = add_salt_and_pepper(images, 0.2, seed=0) != images
    >>> bool(0.1 < hit.mean() < 0.3)
    True
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction!r}")
    out = np.array(images, dtype=np.float32, copy=True)
    rng = np.random.default_rng(seed)
    u = rng.uniform(size=out.shape)
    axes = tuple(range(1, out.ndim))
    lo = out.min(axis=axes, keepdims=True)
    hi = out.max(axis=axes, keepdims=True)
    out = np.where(u < fraction / 2, lo, out)
    out = np.where((u >= fraction / 2) & (u < fraction), hi, out)
    return out.astype(np.float32)
