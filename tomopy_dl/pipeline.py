"""File-to-folder workflows behind ``tomopy-dl recon`` and ``tomopy-dl align``.

Each reads a Data Exchange file through dxchange, runs one job and writes a
folder that holds the result and ``params.json`` (every parameter, the input,
the versions and the seconds taken). The folder appears whole or not at all.
``recon_file`` works slab by slab (a few detector rows at a time), so its
memory follows the slab, not the volume.
"""

from __future__ import annotations

import logging
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np

from .io.dataexchange import projections_shape, read_projections
from .io.output import OutputDir, StackWriter, write_params, write_stack
from .util.validation import as_centers

__all__ = ["recon_file", "align_file", "default_slab", "RECON_ALGORITHMS"]

logger = logging.getLogger(__name__)

RECON_ALGORITHMS = ("ganrec", "sirt", "mlem", "tv", "fbp")
# Bytes of float32 projections one slab may hold when --slab is not given:
# 256 MB is 21 rows of a 2048-wide, 1500-projection scan.
_SLAB_BYTES = 256 << 20


def default_slab(n_angles: int, cols: int) -> int:
    """Detector rows per slab when the user gives none: 256 MB of float32 projections, at least 1."""
    return max(1, _SLAB_BYTES // (4 * max(1, n_angles) * max(1, cols)))


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
    slab: int | None = None,
    theta_range: tuple[float, float] | None = None,
) -> dict:
    """Reconstruct a Data Exchange file into a folder, slab by slab.

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
    theta_range : (float, float), optional
        First and last angle in degrees, overriding the file's (see
        :func:`tomopy_dl.io.read_projections`).
    slab : int, optional
        Detector rows read and reconstructed at once; by default as many as
        fit 256 MB of float32 projections (:func:`default_slab`). Memory
        follows the slab. Slabs are independent: GANrec warm-starts its
        networks from batch to batch within a slab, and starts afresh in
        each slab.

    Returns
    -------
    dict
        The parameters recorded in ``params.json``, with ``seconds`` and ``files``.
    """
    from tqdm.auto import tqdm

    from .adapter import recon

    if algorithm not in RECON_ALGORITHMS:
        raise ValueError(f"algorithm must be one of {', '.join(RECON_ALGORITHMS)}; got {algorithm!r}")
    if fmt not in ("tiff", "h5"):
        raise ValueError(f"format must be 'tiff' or 'h5', got {fmt!r}")
    if slab is not None and (isinstance(slab, bool) or not isinstance(slab, (int, np.integer)) or slab < 1):
        raise ValueError(f"slab must be a positive number of detector rows, got {slab!r}")
    t0 = time.perf_counter()
    n_proj, n_rows, n_cols = projections_shape(path)
    lo, hi = (0, n_rows) if slices is None else (int(slices[0]), int(slices[1]))
    if not 0 <= lo < hi <= n_rows:
        raise ValueError(f"slices {lo}:{hi} is outside the detector's {n_rows} rows; pass 0 <= start < stop <= {n_rows}")
    c = float(as_centers(center, 1, n_cols, on_detector=True)[0])
    # Refuse early, before any work: the output's safety, its lock and its disk space.
    guard = OutputDir(out, overwrite=overwrite, inputs=[path], expected_bytes=4 * (hi - lo) * n_cols * n_cols)
    slab = default_slab(n_proj, n_cols) if slab is None else int(slab)
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
    starts = range(lo, hi, slab)
    with guard as folder:
        writer = None
        for r0 in tqdm(starts, desc="slabs", unit="slab", disable=not progress or len(starts) < 2, leave=False):
            r1 = min(r0 + slab, hi)
            with warnings.catch_warnings():
                if r0 != lo:  # say it once, not per slab
                    warnings.simplefilter("ignore", UserWarning)
                prj, theta = read_projections(path, slices=(r0, r1), angles=angles, theta_range=theta_range)
            rec = recon(prj, theta, center=c, algorithm=algorithm, **kwargs)
            if writer is None:
                writer = StackWriter(folder, "recon", fmt, (hi - lo, *rec.shape[1:]))
            writer.write(r0 - lo, rec)
            logger.info("recon %s: rows %d:%d of %d:%d done (%.1f s)", path, r0, r1, lo, hi, time.perf_counter() - t0)
        params = {
            "command": "recon",
            "input": str(Path(path).resolve()),
            "algorithm": algorithm,
            "center": c,
            "slices": list(slices) if slices else None,
            "slab": slab,
            "angles_deg": list(angles) if angles else None,
            "theta_range_given_deg": list(theta_range) if theta_range else None,
            "n_projections": int(prj.shape[0]),
            "theta_range_deg": [float(np.rad2deg(theta.min())), float(np.rad2deg(theta.max()))],
            "options": {k: v for k, v in kwargs.items() if k != "progress"},
            "format": fmt,
            "shape": [hi - lo, *rec.shape[1:]],
            "versions": _versions(),
        }
        params["files"] = writer.close()
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
    n_proj, n_rows, n_cols = projections_shape(path)
    n_out = n_rows if slices is None else int(slices[1]) - int(slices[0])
    guard = OutputDir(out, overwrite=overwrite, inputs=[path], expected_bytes=4 * n_proj * max(n_out, 0) * n_cols)
    t0 = time.perf_counter()
    with guard as folder:
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
