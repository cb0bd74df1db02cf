"""Random 3D test objects, in families, for training and benchmarking alignment.

Every object is a volume ``(nslices, n, n)`` (slice axis first, as
``tomopy.project`` takes it) whose support lies inside the cylinder of radius
``0.45 n`` about the rotation axis, so no part of it leaves the field of view
at any angle. Values are attenuation per pixel, roughly in [0, 1].

The families differ in what a registration has to lock on to: isolated
particles (edges in air), shells, bodies filling the view with fine pores or
thin cracks, layered bodies with mostly horizontal structure, and a thin rod
mounted off the axis with few features along its length.
``shepp3d`` is the 3D Shepp-Logan head.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FAMILIES", "TRAIN_FAMILIES", "HELD_OUT_FAMILIES", "make_object", "shepp3d", "load_volume"]

_RADIUS = 0.45  # of the width: the cylinder every object stays inside


def _grid(nz: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coordinates in pixels from the volume centre, broadcastable (z, y, x)."""
    z = (np.arange(nz, dtype=np.float32) - (nz - 1) / 2)[:, None, None]
    y = (np.arange(n, dtype=np.float32) - (n - 1) / 2)[None, :, None]
    x = (np.arange(n, dtype=np.float32) - (n - 1) / 2)[None, None, :]
    return z, y, x


def _rotation(rng: np.random.Generator) -> np.ndarray:
    q = rng.normal(size=4)
    a, b, c, d = q / np.linalg.norm(q)
    return np.array(
        [
            [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
            [2 * (b * c + a * d), a * a - b * b + c * c - d * d, 2 * (c * d - a * b)],
            [2 * (b * d - a * c), 2 * (c * d + a * b), a * a - b * b - c * c + d * d],
        ],
        dtype=np.float32,
    )


def _ellipsoid(grid, centre, axes, rot) -> np.ndarray:
    """Boolean mask of an ellipsoid; ``axes`` are semi-axes in pixels (z, y, x)."""
    z, y, x = grid
    dz, dy, dx = z - centre[0], y - centre[1], x - centre[2]
    # Coordinates in the ellipsoid's own frame: rows of ``rot`` are its axes.
    u = rot[0, 0] * dz + rot[0, 1] * dy + rot[0, 2] * dx
    v = rot[1, 0] * dz + rot[1, 1] * dy + rot[1, 2] * dx
    w = rot[2, 0] * dz + rot[2, 1] * dy + rot[2, 2] * dx
    return (u / axes[0]) ** 2 + (v / axes[1]) ** 2 + (w / axes[2]) ** 2 <= 1.0


def _random_centre(rng, nz: int, n: int, margin: float) -> np.ndarray:
    """A point whose distance to the axis leaves ``margin`` inside the cylinder."""
    r = (_RADIUS * n - margin) * np.sqrt(rng.uniform())
    phi = rng.uniform(0, 2 * np.pi)
    return np.array([rng.uniform(-nz / 2, nz / 2), r * np.sin(phi), r * np.cos(phi)], dtype=np.float32)


def _cylinder(grid, n: int, radius: float) -> np.ndarray:
    _, y, x = grid
    return np.broadcast_to(y**2 + x**2 <= radius**2, (grid[0].shape[0], n, n))


def _solid_particles(rng, nz, n, grid, hollow=False):
    vol = np.zeros((nz, n, n), np.float32)
    for _ in range(int(rng.integers(3, 14))):
        axes = rng.uniform(0.05, 0.2, size=3) * n
        centre = _random_centre(rng, nz, n, margin=float(axes.max()))
        rot = _rotation(rng)
        mask = _ellipsoid(grid, centre, axes, rot)
        if hollow:
            mask &= ~_ellipsoid(grid, centre, axes * rng.uniform(0.5, 0.85), rot)
        vol[mask] = np.maximum(vol[mask], rng.uniform(0.3, 1.0))
    return vol


def _body(rng, nz, n, grid):
    """A column filling most of the view, of random density and cross-section."""
    radius = rng.uniform(0.3, 0.44) * n
    body = _cylinder(grid, n, radius).astype(np.float32) * rng.uniform(0.4, 0.8)
    # A few large inclusions break the column's symmetry.
    for _ in range(int(rng.integers(1, 5))):
        axes = rng.uniform(0.05, 0.15, size=3) * n
        mask = _ellipsoid(grid, _random_centre(rng, nz, n, float(axes.max())), axes, _rotation(rng))
        body[mask] = rng.uniform(0.2, 1.0)
    body *= _cylinder(grid, n, radius)
    return body


def _porous(rng, nz, n, grid):
    vol = _body(rng, nz, n, grid)
    for _ in range(int(rng.integers(20, 80))):
        r = rng.uniform(1.0, 0.06 * n)
        vol[_ellipsoid(grid, _random_centre(rng, nz, n, r), (r, r, r), np.eye(3, dtype=np.float32))] = 0.0
    return vol


def _cracked(rng, nz, n, grid):
    vol = _body(rng, nz, n, grid)
    z, y, x = grid
    for _ in range(int(rng.integers(3, 10))):
        normal = rng.normal(size=3).astype(np.float32)
        normal /= np.linalg.norm(normal)
        centre = _random_centre(rng, nz, n, 0.0)
        dist = normal[0] * (z - centre[0]) + normal[1] * (y - centre[1]) + normal[2] * (x - centre[2])
        extent = rng.uniform(0.15, 0.4) * n
        near = (z - centre[0]) ** 2 + (y - centre[1]) ** 2 + (x - centre[2]) ** 2 <= extent**2
        vol[(np.abs(dist) <= rng.uniform(0.5, 2.0)) & near] = 0.0
    return vol


def _layered(rng, nz, n, grid):
    z, y, x = grid
    radius = rng.uniform(0.3, 0.44) * n
    tilt = rng.normal(scale=0.15, size=2).astype(np.float32)
    height = z + tilt[0] * y + tilt[1] * x
    period = rng.uniform(4.0, 16.0)
    layers = np.floor(height / period).astype(np.int64)
    levels = rng.uniform(0.2, 1.0, size=int(layers.max() - layers.min()) + 1).astype(np.float32)
    vol = levels[layers - layers.min()] * _cylinder(grid, n, radius)
    for _ in range(int(rng.integers(0, 6))):
        axes = rng.uniform(0.03, 0.1, size=3) * n
        vol[_ellipsoid(grid, _random_centre(rng, nz, n, float(axes.max())), axes, _rotation(rng))] = 0.0
    return vol.astype(np.float32)


def _rod(rng, nz, n, grid):
    """A thin rod off the rotation axis, nearly uniform along its length, with a few pores and grains.

    Its slices differ little, so the slice-mass profile carries little of the
    vertical jitter, and its eccentric mount swings it across the view.
    """
    _, y, x = grid
    radius = rng.uniform(0.12, 0.2) * n
    off = rng.uniform(0.05, _RADIUS - 0.2) * n  # keeps the rod inside the 0.45 n cylinder
    phi = rng.uniform(0, 2 * np.pi)
    cy, cx = off * np.sin(phi), off * np.cos(phi)
    inside = np.broadcast_to((y - cy) ** 2 + (x - cx) ** 2 <= radius**2, (grid[0].shape[0], n, n))
    vol = inside.astype(np.float32) * rng.uniform(0.5, 0.9)
    for _ in range(int(rng.integers(3, 12))):
        r = rng.uniform(1.0, 0.3 * radius)
        rho = (radius - r) * np.sqrt(rng.uniform())
        a = rng.uniform(0, 2 * np.pi)
        centre = np.array([rng.uniform(-nz / 2, nz / 2), cy + rho * np.sin(a), cx + rho * np.cos(a)], np.float32)
        vol[_ellipsoid(grid, centre, (r, r, r), np.eye(3, dtype=np.float32))] = rng.choice([0.0, 1.0])
    return vol * inside


# (value, semi-axes a, b, c as fractions of the half-width, centre x, y, z, angle phi in degrees)
_SHEPP3D = [
    (1.0, 0.6900, 0.920, 0.810, 0.0, 0.0, 0.0, 0.0),
    (-0.8, 0.6624, 0.874, 0.780, 0.0, -0.0184, 0.0, 0.0),
    (-0.2, 0.1100, 0.310, 0.220, 0.22, 0.0, 0.0, -18.0),
    (-0.2, 0.1600, 0.410, 0.280, -0.22, 0.0, 0.0, 18.0),
    (0.1, 0.2100, 0.250, 0.410, 0.0, 0.35, -0.15, 0.0),
    (0.1, 0.0460, 0.046, 0.050, 0.0, 0.1, 0.25, 0.0),
    (0.1, 0.0460, 0.046, 0.050, 0.0, -0.1, 0.25, 0.0),
    (0.1, 0.0460, 0.023, 0.050, -0.08, -0.605, 0.0, 0.0),
    (0.1, 0.0230, 0.023, 0.020, 0.0, -0.606, 0.0, 0.0),
    (0.1, 0.0230, 0.046, 0.020, 0.06, -0.605, 0.0, 0.0),
]


def shepp3d(n: int, nz: int | None = None) -> np.ndarray:
    """The 3D (Kak-Slaney modified) Shepp-Logan head, ``(nz, n, n)``.

    The head's long axis runs along ``y``, so every slice shows an ellipse;
    it is scaled into the field-of-view cylinder.

    Examples
    --------
    >>> shepp3d(32, 4).shape
    (4, 32, 32)
    """
    nz = n if nz is None else int(nz)
    z, y, x = _grid(nz, n)
    half = _RADIUS * n / 0.92  # the head's widest semi-axis touches the cylinder
    vol = np.zeros((nz, n, n), np.float32)
    for value, a, b, c, cx, cy, cz, phi in _SHEPP3D:
        p = np.deg2rad(phi)
        xr = ((x / half - cx) * np.cos(p) + (y / half - cy) * np.sin(p)) / a
        yr = (-(x / half - cx) * np.sin(p) + (y / half - cy) * np.cos(p)) / b
        zr = (z / half - cz) / c
        vol[xr**2 + yr**2 + zr**2 <= 1.0] += value
    return np.clip(vol, 0.0, None)


def _shepp3d_random(rng, nz, n, grid):
    # A random vertical crop of a taller head, so held-out samples differ.
    tall = shepp3d(n, nz=max(nz, int(1.6 * n)))
    start = int(rng.integers(0, tall.shape[0] - nz + 1))
    return tall[start : start + nz].copy()


FAMILIES = {
    "solid": _solid_particles,
    "hollow": lambda rng, nz, n, grid: _solid_particles(rng, nz, n, grid, hollow=True),
    "porous": _porous,
    "layered": _layered,
    "cracked": _cracked,
    "shepp3d": _shepp3d_random,
    "rod": _rod,
}
TRAIN_FAMILIES = ("solid", "hollow", "porous", "layered")
HELD_OUT_FAMILIES = ("cracked", "shepp3d", "rod")


_VOLUMES: dict[str, np.ndarray] = {}


def load_volume(path: str) -> np.ndarray:
    """A user's reconstruction ``(nslices, ny, nx)`` from ``.npy`` or a multi-page ``.tif(f)``, cached."""
    if path not in _VOLUMES:
        if path.endswith(".npy"):
            vol = np.load(path)
        elif path.endswith((".tif", ".tiff")):
            import tifffile

            vol = tifffile.imread(path)
        else:
            raise ValueError(f"volume {path!r} must be a .npy or a multi-page .tif/.tiff file")
        if vol.ndim != 3 or min(vol.shape) < 8:
            raise ValueError(f"volume {path!r} must be 3D with every side >= 8, got shape {vol.shape}")
        vol = np.nan_to_num(np.asarray(vol, np.float32))
        hi = float(np.percentile(vol, 99.9))
        _VOLUMES[path] = np.clip(vol / hi if hi > 0 else vol, 0.0, None)
    return _VOLUMES[path]


def _from_volume(path: str, rng, nz: int, n: int, grid) -> np.ndarray:
    """A random block of a user's volume, turned and flipped, resampled to ``(nz, n, n)``."""
    from scipy.ndimage import zoom

    vol = load_volume(path)
    side = min(vol.shape[1], vol.shape[2])
    width = int(rng.integers(max(8, side // 2), side + 1))
    height = min(vol.shape[0], max(1, round(width * nz / n)))
    z0 = int(rng.integers(0, vol.shape[0] - height + 1))
    y0 = int(rng.integers(0, vol.shape[1] - width + 1))
    x0 = int(rng.integers(0, vol.shape[2] - width + 1))
    block = vol[z0 : z0 + height, y0 : y0 + width, x0 : x0 + width]
    block = np.rot90(block, k=int(rng.integers(4)), axes=(1, 2))
    if rng.uniform() < 0.5:
        block = block[::-1]
    out = zoom(block, (nz / block.shape[0], n / block.shape[1], n / block.shape[2]), order=1)
    _, y, x = grid
    inside = y**2 + x**2 <= (_RADIUS * n) ** 2
    return np.clip(out, 0.0, None).astype(np.float32) * inside


def make_object(family: str, n: int, nz: int, seed: int) -> np.ndarray:
    """One random object of a family.

    Parameters
    ----------
    family : str
        One of :data:`FAMILIES`: ``'solid'``, ``'hollow'``, ``'porous'``,
        ``'layered'``, ``'cracked'``, ``'shepp3d'`` or ``'rod'``; or ``'volume:PATH'``
        for random blocks of your own reconstruction (``.npy`` or ``.tif``),
        the way to fine-tune the jitter network on your samples.
    n : int
        Width and depth in pixels (the detector width of its projections).
    nz : int
        Number of slices (the detector height).
    seed : int
        Random seed; the same seed gives the same object.

    Returns
    -------
    ndarray of float32, shape (nz, n, n)

    Examples
    --------
    >>> vol = make_object("porous", 32, 3, seed=0)
    >>> vol.shape, bool(vol.min() >= 0)
    ((3, 32, 32), True)
    """
    if n < 8 or nz < 1:
        raise ValueError(f"need n >= 8 and nz >= 1, got n={n}, nz={nz}")
    rng = np.random.default_rng(seed)
    if family.startswith("volume:"):
        return _from_volume(family[len("volume:") :], rng, int(nz), int(n), _grid(int(nz), int(n)))
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {sorted(FAMILIES)} or 'volume:PATH', got {family!r}")
    return np.ascontiguousarray(FAMILIES[family](rng, int(nz), int(n), _grid(int(nz), int(n))), dtype=np.float32)
