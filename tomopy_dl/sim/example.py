"""A small synthetic scan in the Data Exchange layout, for examples, notebooks and tests."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .forward import project
from .jitter import add_jitter
from .objects import make_object

__all__ = ["write_example_dataexchange"]


def write_example_dataexchange(
    path: str | os.PathLike,
    size: int = 64,
    rows: int = 8,
    n_angles: int = 91,
    family: str = "porous",
    photons: float = 2e4,
    jitter: float = 0.0,
    seed: int = 0,
) -> Path:
    """Write a simulated scan as an APS Data Exchange HDF5 file.

    Raw detector counts ``/exchange/data`` (``photons * exp(-projection)``,
    Poisson noise), 5 flats ``/exchange/data_white``, 5 darks
    ``/exchange/data_dark`` (a constant offset of 100 counts) and
    ``/exchange/theta`` in degrees over 0-180 with the end point, as
    ``tooth.h5`` has them.

    Parameters
    ----------
    path : str or path-like
        File to create (replaced if it exists).
    size : int
        Detector width (object width) in pixels.
    rows : int
        Detector rows (slices).
    n_angles : int
    family : str
        Object family of :func:`tomopy_dl.sim.make_object`.
    photons : float
        Flat-field counts per pixel.
    jitter : float
        Largest random projection shift in pixels (0: none).
    seed : int

    Returns
    -------
    Path

    Examples
    --------
    >>> import tempfile, h5py
    >>> path = write_example_dataexchange(tempfile.mkdtemp() + "/scan.h5", size=32, rows=2, n_angles=31)
    >>> with h5py.File(path) as f:
    ...     f["exchange/data"].shape
    (31, 2, 32)
    """
    import h5py  # only here: h5py is heavy and only this writer needs it

    rng = np.random.default_rng(seed)
    margin = int(np.ceil(jitter)) + 1 if jitter else 0
    obj = make_object(family, size, rows + 2 * margin, seed) * (2.0 / size)  # a few e-foldings at most
    deg = np.linspace(0.0, 180.0, n_angles)
    prj = project(obj, np.deg2rad(deg).astype(np.float32), pad=False)
    if jitter:
        prj, _, _ = add_jitter(prj, jitter, seed=seed, margin_rows=margin)
    dark_level = 100.0
    counts = rng.poisson(photons * np.exp(-prj)) + dark_level
    flats = rng.poisson(photons, size=(5, rows, size)) + dark_level
    darks = np.full((5, rows, size), dark_level) + rng.normal(0, 1, size=(5, rows, size))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f.create_dataset("exchange/data", data=counts.astype(np.float32))
        f.create_dataset("exchange/data_white", data=flats.astype(np.float32))
        f.create_dataset("exchange/data_dark", data=darks.astype(np.float32))
        f.create_dataset("exchange/theta", data=deg)
    return path
