"""Built-in test objects."""

from __future__ import annotations

import numpy as np

__all__ = ["shepp_logan"]


def shepp_logan(size: int = 128) -> np.ndarray:
    """The modified Shepp-Logan head phantom, ``size`` by ``size``, values in [0, 1].

    Parameters
    ----------
    size : int
        Image side in pixels (at least 8).

    Returns
    -------
    ndarray of float32, shape (size, size)

    Examples
    --------
    >>> img = shepp_logan(64)
    >>> img.shape, img.dtype
    ((64, 64), dtype('float32'))
    """
    from skimage.data import shepp_logan_phantom
    from skimage.transform import resize

    if int(size) != size or size < 8:
        raise ValueError(f"size must be an integer >= 8, got {size!r}")
    img = resize(shepp_logan_phantom(), (int(size), int(size)), order=1, anti_aliasing=True, mode="constant")
    return np.clip(img, 0.0, None).astype(np.float32)
