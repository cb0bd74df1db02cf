"""File-to-folder workflows behind ``tomopy-dl recon`` and ``tomopy-dl align``.

Each reads a Data Exchange file through dxchange, runs one job and writes a
folder that holds the result and ``params.json`` (every parameter, the input,
the versions and the seconds taken). The folder appears whole or not at all.
"""

from __future__ import annotations

import logging
import os
import platform
import time
from pathlib import Path

import numpy as np

from .io.dataexchange import read_projections
from .io.output import OutputDir, write_params, write_stack

__all__ = ["recon_file", "align_file", "RECON_ALGORITHMS"]

logger = logging.getLogger(__name__)

RECON_ALGORITHMS = ("ganrec", "sirt", "mlem", "tv", "fbp")


def _versions() -> dict:
    import torch

    from . import __version__

    return {"tomopy_dl": __version__, "torch": torch.__version__, "python": platform.python_version()}


def recon_file(
    path: str | os.PathLike,
    out: str | os.PathLike,
    algorithm: str = "sirt",
    center: float | None = None,
    slices: tuple[int, int] | None = None,
    angles: tuple[float, float] | None = None,
    num_iter: int | None = None,
    device=None,
    fmt: str = "tiff",
    overwrite: bool = False,
    progress: bool = True,
    seed: int = 0,
) -> dict:
    """Reconstruct a Data Exchange file into a folder.

    Parameters
    ----------
    path : str or path-like
        Input HDF5 file (``/exchange/data``, ``data_white``, ``data_dark``, ``theta``).
    out : str or path-like
        Output folder; refused if it exists, unless ``overwrite``.
    algorithm : {'ganrec', 'sirt', 'mlem', 'tv', 'fbp'}
    center : float, optional
        Rotation axis in detector pixels; ``cols / 2`` by default.
    slices : (int, int), optional
        Detector rows ``[start, stop)``.
    angles : (float, float), optional
        Angle range in degrees to keep, e.g. ``(0, 120)`` for a missing wedge.
    num_iter : int, optional
        Iterations (sirt/mlem: 100, tv and ganrec: their defaults); ignored by fbp.
    device : None or str
    fmt : {'tiff', 'h5'}
        A TIFF stack ``recon_00000.tiff, ...`` or one ``recon.h5``.
    overwrite : bool
    progress : bool
    seed : int
        GANrec's seed.

    Returns
    -------
    dict
        The parameters recorded in ``params.json``, with ``seconds`` and ``files``.
    """
    from .adapter import recon

    if algorithm not in RECON_ALGORITHMS:
        raise ValueError(f"algorithm must be one of {', '.join(RECON_ALGORITHMS)}; got {algorithm!r}")
    if fmt not in ("tiff", "h5"):
        raise ValueError(f"format must be 'tiff' or 'h5', got {fmt!r}")
    guard = OutputDir(out, overwrite=overwrite)  # refuse early, before any work
    t0 = time.perf_counter()
    prj, theta = read_projections(path, slices=slices, angles=angles)
    c = prj.shape[2] / 2 if center is None else float(center)
    if not 0 <= c <= prj.shape[2]:
        raise ValueError(f"center {c} is off the detector (0 to {prj.shape[2]})")
    kwargs: dict = {"progress": progress}
    if device is not None:
        kwargs["device"] = device
    if algorithm in ("sirt", "mlem"):
        kwargs["num_iter"] = 100 if num_iter is None else int(num_iter)
    elif algorithm in ("ganrec", "tv"):
        if algorithm == "ganrec":
            kwargs["seed"] = seed
        if num_iter is not None:
            kwargs["num_iter"] = int(num_iter)
    rec = recon(prj, theta, center=c, algorithm=algorithm, **kwargs)
    params = {
        "command": "recon",
        "input": str(Path(path).resolve()),
        "algorithm": algorithm,
        "center": c,
        "slices": list(slices) if slices else None,
        "angles_deg": list(angles) if angles else None,
        "n_projections": int(prj.shape[0]),
        "theta_range_deg": [float(np.rad2deg(theta.min())), float(np.rad2deg(theta.max()))],
        "options": {k: v for k, v in kwargs.items() if k != "progress"},
        "format": fmt,
        "shape": list(rec.shape),
        "versions": _versions(),
    }
    with guard as folder:
        params["files"] = write_stack(rec, folder, "recon", fmt)
        params["seconds"] = round(time.perf_counter() - t0, 3)
        write_params(folder, params)
    logger.info("recon %s -> %s in %.1f s", path, out, params["seconds"])
    return params


def align_file(
    path: str | os.PathLike,
    out: str | os.PathLike,
    iters: int = 2,
    center: float | None = None,
    slices: tuple[int, int] | None = None,
    axes: str = "both",
    weights=None,
    device=None,
    fmt: str = "tiff",
    overwrite: bool = False,
    progress: bool = True,
) -> dict:
    """Correct the jitter of a Data Exchange file's projections into a folder.

    Writes the corrected line-integral projections (``projections_*.tiff`` or
    ``projections.h5``), ``shifts.csv`` (index, angle in degrees, ``sx`` row
    shift, ``sy`` column shift, in pixels, TomoPy's signs) and ``params.json``.
    Parameters are as :func:`recon_file` and :func:`tomopy_dl.align_jitter`.
    """
    from .prep import align_jitter

    if fmt not in ("tiff", "h5"):
        raise ValueError(f"format must be 'tiff' or 'h5', got {fmt!r}")
    guard = OutputDir(out, overwrite=overwrite)
    t0 = time.perf_counter()
    prj, theta = read_projections(path, slices=slices)
    aligned, sx, sy, conv = align_jitter(
        prj, theta, iters=iters, center=center, axes=axes, weights=weights, device=device, progress=progress
    )
    params = {
        "command": "align",
        "input": str(Path(path).resolve()),
        "iters": int(iters),
        "center": prj.shape[2] / 2 if center is None else float(center),
        "slices": list(slices) if slices else None,
        "axes": axes,
        "weights": str(weights) if weights else "shipped",
        "conv_px": [float(c) for c in conv],
        "rms_shift_px": [float(np.sqrt(np.mean(sx**2))), float(np.sqrt(np.mean(sy**2)))],
        "format": fmt,
        "versions": _versions(),
    }
    with guard as folder:
        params["files"] = write_stack(aligned, folder, "projections", fmt)
        table = np.column_stack([np.arange(theta.size), np.rad2deg(theta.astype(np.float64)), sx, sy])
        np.savetxt(
            folder / "shifts.csv",
            table,
            delimiter=",",
            header="index,theta_deg,sx,sy",
            comments="",
            fmt=["%d", "%.6f", "%.4f", "%.4f"],
        )
        params["seconds"] = round(time.perf_counter() - t0, 3)
        write_params(folder, params)
    logger.info("align %s -> %s in %.1f s", path, out, params["seconds"])
    return params
