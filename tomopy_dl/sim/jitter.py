"""Synthetic projection jitter, in TomoPy's sign convention."""

from __future__ import annotations

import numpy as np
import torch

from ..prep.shift import displace

__all__ = ["add_jitter"]


def add_jitter(
    prj: np.ndarray,
    amplitude: float = 10.0,
    seed: int | None = 0,
    axes: str = "both",
    margin_rows: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Move each projection by a random sub-pixel amount.

    Shifts are drawn uniformly in ``[-amplitude, amplitude]`` per projection
    and axis. The returned ``sx, sy`` follow TomoPy's convention: the jittered
    projection ``m`` is the clean one moved by ``(sx[m], sy[m])``, so
    ``tomopy.shift_images(jittered, sx, sy)`` (or ours) undoes it.

    Parameters
    ----------
    prj : ndarray, shape (nangles, rows, cols)
        Clean projections.
    amplitude : float
        Largest shift in pixels.
    seed : int or None
        Random seed.
    axes : {'both', 'row', 'col'}
        Which axes jitter.
    margin_rows : int
        Rows cut from the top and the bottom after shifting. Projections of a
        volume taller than the view let the vertical jitter bring real object
        into view, as it does on a beamline, instead of blank rows.

    Returns
    -------
    jittered : ndarray of float32, shape (nangles, rows - 2 * margin_rows, cols)
    sx, sy : ndarray of float64, shape (nangles,)
        Row and column shifts in pixels.

    Examples
    --------
    >>> import numpy as np
    >>> prj = np.random.default_rng(0).random((10, 16, 16)).astype(np.float32)
    >>> jittered, sx, sy = add_jitter(prj, 2.0, seed=0)
    >>> jittered.shape, sx.shape
    ((10, 16, 16), (10,))
    """
    if axes not in ("both", "row", "col"):
        raise ValueError(f"axes must be 'both', 'row' or 'col', got {axes!r}")
    if not amplitude >= 0:
        raise ValueError(f"amplitude must be >= 0 pixels, got {amplitude!r}")
    arr = np.asarray(prj, dtype=np.float32)
    n = arr.shape[0]
    rng = np.random.default_rng(seed)
    sx = rng.uniform(-amplitude, amplitude, n) if axes in ("both", "row") else np.zeros(n)
    sy = rng.uniform(-amplitude, amplitude, n) if axes in ("both", "col") else np.zeros(n)
    with torch.no_grad():
        out = displace(
            torch.from_numpy(np.ascontiguousarray(arr)),
            torch.as_tensor(sx, dtype=torch.float32),
            torch.as_tensor(sy, dtype=torch.float32),
            padding="zeros",
        ).numpy()
    if margin_rows:
        out = out[:, margin_rows:-margin_rows]
    return np.ascontiguousarray(out), sx, sy
