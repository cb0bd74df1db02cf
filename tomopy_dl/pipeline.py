"""File-to-folder workflows behind ``tomopy-dl recon`` and ``tomopy-dl align``.

Each reads a Data Exchange file through dxchange, normalises it, runs one job and writes a
folder that holds the result and ``params.json`` (every parameter, the input,
the versions and the seconds taken). The folder appears whole or not at all.
``recon_file`` works slab by slab (a few detector rows at a time), and
``align_file`` a few projections at a time (:class:`LineIntegrals`), so the
memory of each follows its working set, not the scan.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import shutil
import time
import uuid
import warnings
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from . import __version__
from .adapter.standalone import recon
from .io.dataexchange import RawProjections, projections_shape, read_raw
from .io.output import OutputDir, StackWriter, write_params
from .prep.alignment import estimate_jitter
from .prep.normalize import average_fields, minus_log, normalize
from .prep.shift import shift_images
from .solvers.table import ALGORITHMS, PROJECTOR
from .util.chunks import images_per_chunk
from .util.validation import as_center, as_choice

__all__ = [
    "read_projections",
    "LineIntegrals",
    "recon_file",
    "recon_slab",
    "align_file",
    "default_slab",
    "SlabFailures",
]

logger = logging.getLogger(__name__)

_FORMATS = ("tiff", "h5")
# Bytes of float32 projections one slab may hold when --slab is not given:
# 256 MB is 21 rows of a 2048-wide, 1500-projection scan.
_SLAB_BYTES = 256 << 20


def default_slab(n_angles: int, cols: int) -> int:
    """Detector rows per slab when the user gives none: 256 MB of float32 projections, at least 1."""
    return max(1, _SLAB_BYTES // (4 * max(1, n_angles) * max(1, cols)))


def read_projections(
    path: str | os.PathLike,
    *,
    slices: tuple[int, int] | None = None,
    angles: tuple[float, float] | None = None,
    theta_range: tuple[float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Read a Data Exchange file, flat/dark normalise it and take ``-log``.

    Parameters are those of :func:`tomopy_dl.io.read_raw`.

    Returns
    -------
    prj : ndarray of float32, shape (nangles, rows, cols)
        Line integrals.
    theta : ndarray of float32, shape (nangles,)
        Angles in radians.
    """
    tomo, flat, dark, theta = read_raw(path, slices=slices, angles=angles, theta_range=theta_range)
    return _line_integrals(tomo, flat, dark), theta


def _line_integrals(tomo: np.ndarray, flat: np.ndarray, dark: np.ndarray) -> np.ndarray:
    """Raw projections to float32 line integrals: flat/dark normalised, ``-log``."""
    return np.ascontiguousarray(minus_log(normalize(tomo, flat, dark)), dtype=np.float32)


class LineIntegrals:
    """A Data Exchange file's line integrals, normalised and ``-log``-ed a block of projections at a time.

    Slicing (``prj[10:20]``) reads only those projections, with the flats and
    darks averaged once, so the result is that of :func:`read_projections`
    for those projections, and a scan larger than memory can be worked
    through (:func:`tomopy_dl.prep.alignment.estimate_jitter` reads such a stack).

    Parameters
    ----------
    path, slices, theta_range
        As :class:`tomopy_dl.io.RawProjections`'.

    Attributes
    ----------
    shape : (int, int, int)
        ``(nangles, rows, cols)``.
    theta : ndarray of float32, shape (nangles,)
        Angles in radians.

    Examples
    --------
    >>> from pathlib import Path
    >>> data = Path(__file__).resolve().parents[1] / "tests" / "data" / "tooth.h5"
    >>> prj = LineIntegrals(data, slices=(0, 2))
    >>> block = prj[0:4]
    >>> block.shape, block.dtype.name
    ((4, 2, 640), 'float32')
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        slices: tuple[int, int] | None = None,
        theta_range: tuple[float, float] | None = None,
    ):
        self.raw = RawProjections(path, slices=slices, theta_range=theta_range)
        self.shape, self.theta = self.raw.shape, self.raw.theta
        self._flat, self._dark = average_fields(self.raw.flat, self.raw.dark)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index: slice) -> np.ndarray:
        return _line_integrals(self.raw[index], self._flat, self._dark)


def _versions() -> dict:
    return {"tomopy_dl": __version__, "torch": torch.__version__, "python": platform.python_version()}


class SlabFailures(RuntimeError):
    """Some slabs of a file job failed; the others are kept for a rerun to resume."""


def recon_slab(path: str | os.PathLike, rows: tuple[int, int], params: dict) -> np.ndarray:
    """The unit of work of a file reconstruction: one slab of detector rows.

    Reads rows ``[rows[0], rows[1])`` of a Data Exchange file (and only
    those), normalises them with their flats and darks, takes ``-log`` and
    reconstructs them. It writes nothing and depends only on its arguments
    (and the file), so it can run anywhere, any number of times. The in-process job
    and every Dask worker call this same function.

    Parameters
    ----------
    path : str or path-like
        The Data Exchange file.
    rows : (int, int)
        Detector rows ``[start, stop)``.
    params : dict
        ``algorithm``, ``center``, ``angles`` and ``theta_range`` (degrees or
        None) and ``options`` (keywords of :func:`tomopy_dl.recon`), as
        :func:`recon_file` builds them.

    Returns
    -------
    ndarray of float32, shape (stop - start, cols, cols)
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the job says these once, not per slab
        prj, theta = read_projections(
            path, slices=(int(rows[0]), int(rows[1])), angles=params["angles"], theta_range=params["theta_range"]
        )
    return recon(prj, theta, center=params["center"], algorithm=params["algorithm"], **params["options"])


def _ganrec_volume_settings(path, row: int, angles, theta_range, center: float, n_cols: int, options: dict) -> dict:
    """GANrec's ``tune='auto'`` choice on detector row ``row``, as keywords for every slab (with ``tune='off'``)."""
    import torch  # only GANrec jobs load torch here

    from .physics import get_projector
    from .solvers.gan import choose_settings

    prj, theta = read_projections(path, slices=(row, row + 1), angles=angles, theta_range=theta_range)
    sino = torch.from_numpy(np.ascontiguousarray(np.swapaxes(prj, 0, 1), dtype=np.float32))
    op = get_projector(theta, n_cols, n_cols, n_cols, center=center, device=options.get("device"),
                       projector=options.get("projector", PROJECTOR.default))  # fmt: skip
    t0 = time.perf_counter()
    chosen = choose_settings(sino.to(op.device), op, num_iter=options.get("num_iter"), seed=options.get("seed", 0))
    logger.info("recon %s: ganrec settings chosen on row %d for every slab (%.1f s): %s", path, row,
                time.perf_counter() - t0, chosen)  # fmt: skip
    return {**chosen, "tune": "off"}


def _checksum(block: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(block, np.float32).tobytes()).hexdigest()


def _write_json(path: Path, data: dict) -> None:
    """Replace ``path`` atomically: a crash leaves the old or the new, never half."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def recon_file(
    path: str | os.PathLike,
    out: str | os.PathLike,
    *,
    algorithm: str = "sirt",
    center: float | None = None,
    slices: tuple[int, int] | None = None,
    angles: tuple[float, float] | None = None,
    num_iter: int | None = None,
    device=None,
    fmt: str = "tiff",
    overwrite: bool = False,
    progress: bool = True,
    seed: int = ALGORITHMS["ganrec"].defaults["seed"],
    slab: int | None = None,
    theta_range: tuple[float, float] | None = None,
    client=None,
    projector: str = PROJECTOR.default,
) -> dict:
    """Reconstruct a Data Exchange file into a folder, slab by slab, here or on a Dask cluster.

    Parameters
    ----------
    path : str or path-like
        Input HDF5 file (``/exchange/data``, ``data_white``, ``data_dark``, ``theta``).
    out : str or path-like
        Output folder; refused if it exists, unless ``overwrite``.
    algorithm : str
        A name of :data:`tomopy_dl.solvers.table.ALGORITHMS`.
    center : float, optional
        Rotation axis in detector pixels; ``cols / 2`` by default.
    slices : (int, int), optional
        Detector rows ``[start, stop)``.
    angles : (float, float), optional
        Angle range in degrees to keep, e.g. ``(0, 120)`` for a missing wedge.
    num_iter : int, optional
        Iterations; the algorithm's default from the table by default. Refused by fbp.
    device : None or str
    fmt : {'tiff', 'h5'}
        A TIFF stack ``recon_00000.tiff, ...`` or one ``recon.h5``.
    overwrite : bool
        Replace an output tomopy-dl wrote, and discard a partial run.
    progress : bool
        A bar over slabs (and, in-process, over each slab's iterations).
    seed : int
        GANrec's seed.
    slab : int, optional
        Detector rows read and reconstructed at once; by default as many as
        fit 256 MB of float32 projections (:func:`default_slab`). Memory
        follows the slab. Slabs are independent: GANrec warm-starts its
        networks from batch to batch within a slab, and starts afresh in
        each slab.
    theta_range : (float, float), optional
        First and last angle in degrees, overriding the file's (see
        :func:`tomopy_dl.io.read_raw`).
    client : distributed.Client, optional
        Run the slabs on this Dask cluster (see :mod:`tomopy_dl.distributed`);
        in this process, one after the other, by default. The results are
        the same either way: every slab goes through :func:`recon_slab`.
    projector : {'auto', 'siddon', 'fourier'}
        The projector backend (:data:`tomopy_dl.physics.PROJECTORS`); ``'auto'``
        takes the Fourier one at beamline sizes on the CPU.

    Returns
    -------
    dict
        The parameters recorded in ``params.json``, with ``seconds`` and ``files``.

    Raises
    ------
    SlabFailures
        When some slabs failed (each named by its rows); the others stay in
        the hidden ``.OUT.partial`` folder, and rerunning the same call
        computes only what is missing.

    Notes
    -----
    The job is resumable: ``.OUT.partial/manifest.json`` is written before
    the first slab and records each finished slab with the SHA-256 of its
    data. A rerun with the same parameters after a crash verifies those
    slabs on disk and skips them. Results are written by this process alone
    (the single writer), as each slab arrives; the folder is renamed to
    ``out`` only when every slab is in.
    """
    spec = ALGORITHMS[as_choice(algorithm, "algorithm", tuple(ALGORITHMS))]
    as_choice(fmt, "format", _FORMATS)
    if num_iter is not None and "num_iter" not in spec.defaults:
        raise ValueError(f"{algorithm} takes no number of iterations; leave num_iter (--num-iter) out")
    if slab is not None and (isinstance(slab, bool) or not isinstance(slab, (int, np.integer)) or slab < 1):
        raise ValueError(f"slab must be a positive number of detector rows, got {slab!r}")
    t0 = time.perf_counter()
    n_proj, n_rows, n_cols = projections_shape(path)
    lo, hi = (0, n_rows) if slices is None else (int(slices[0]), int(slices[1]))
    if not 0 <= lo < hi <= n_rows:
        raise ValueError(
            f"slices {lo}:{hi} is outside the detector's {n_rows} rows; pass 0 <= start < stop <= {n_rows}"
        )
    c = as_center(center, n_cols)
    # Bad angles or a file without them show up here, once, before any work.
    _, theta = read_projections(path, slices=(lo, lo + 1), angles=angles, theta_range=theta_range)
    # Refuse early, before any work: the output's safety, its lock and its disk space.
    guard = OutputDir(
        out, overwrite=overwrite, inputs=[path], expected_bytes=4 * (hi - lo) * n_cols * n_cols, resumable=True
    )
    slab = default_slab(n_proj, n_cols) if slab is None else int(slab)
    options: dict = {"progress": bool(progress and client is None)}
    options["projector"] = as_choice(str(projector).lower(), "projector", PROJECTOR.choices)
    if device is not None:
        options["device"] = device
    if num_iter is not None:
        options["num_iter"] = int(num_iter)
    if "seed" in spec.defaults:
        options["seed"] = seed
    if algorithm == "ganrec":
        # One choice of settings for the volume, not one per slab: slabs of one sample should agree.
        options.update(_ganrec_volume_settings(path, (lo + hi - 1) // 2, angles, theta_range, c, n_cols, options))
    work = {"algorithm": algorithm, "center": c, "angles": angles, "theta_range": theta_range, "options": options}
    stat = Path(path).stat()
    identity = {
        "input": str(Path(path).resolve()),
        "input_size": stat.st_size,
        "input_mtime_ns": stat.st_mtime_ns,
        "rows": [lo, hi],
        "slab": slab,
        "format": fmt,
        **{k: v for k, v in work.items() if k != "options"},
        "options": {k: v for k, v in options.items() if k != "progress"},
    }
    slabs = [(r0, min(r0 + slab, hi)) for r0 in range(lo, hi, slab)]
    shape = (hi - lo, n_cols, n_cols)
    with guard as folder:
        manifest_path = folder / "manifest.json"
        manifest = {"job": identity, "slabs": {}}
        if manifest_path.is_file():
            old = json.loads(manifest_path.read_text())
            if json.loads(json.dumps(old.get("job"), default=str)) != json.loads(json.dumps(identity, default=str)):
                raise FileExistsError(
                    f"{str(folder)!r} holds a partial run with other parameters or input; rerun it as it was, or "
                    "pass --overwrite to discard it"
                )
            manifest["slabs"] = old.get("slabs", {})
        _write_json(manifest_path, manifest)  # before the first slab
        writer = StackWriter(folder, "recon", fmt, shape, resume=True)
        todo = []
        for r0, r1 in slabs:
            done = manifest["slabs"].get(f"{r0}:{r1}")
            block = writer.read(r0 - lo, r1 - lo) if done else None
            if block is not None and _checksum(block) == done["sha256"]:
                continue
            manifest["slabs"].pop(f"{r0}:{r1}", None)
            todo.append((r0, r1))
        if len(todo) < len(slabs):
            logger.info("recon %s: %d of %d slabs already done, verified and skipped", path, len(slabs) - len(todo),
                        len(slabs))  # fmt: skip
        failures: list[str] = []
        bar = tqdm(total=len(slabs), initial=len(slabs) - len(todo), desc="slabs", unit="slab",
                   disable=not progress or len(slabs) < 2, leave=False)  # fmt: skip
        with bar:
            for rows, result in _run_slabs(path, todo, work, client):
                if isinstance(result, BaseException):
                    failures.append(f"rows {rows[0]}:{rows[1]} ({type(result).__name__}: {result})")
                    logger.error("recon %s: rows %d:%d failed: %s", path, rows[0], rows[1], result)
                else:
                    writer.write(rows[0] - lo, result)
                    manifest["slabs"][f"{rows[0]}:{rows[1]}"] = {"sha256": _checksum(result)}
                    _write_json(manifest_path, manifest)
                    logger.info("recon %s: rows %d:%d done (%.1f s)", path, rows[0], rows[1], time.perf_counter() - t0)
                bar.update(1)
        if failures:
            writer.close()
            if not manifest["slabs"]:
                shutil.rmtree(folder, ignore_errors=True)  # nothing to resume
                raise SlabFailures(f"every slab failed: {failures[0]}")
            raise SlabFailures(
                f"{len(failures)} of {len(slabs)} slab(s) failed: {'; '.join(failures)}. The "
                f"{len(manifest['slabs'])} done are kept in {str(folder)!r}: rerun the same command to resume"
            )
        params = {
            "command": "recon",
            "input": str(Path(path).resolve()),
            "algorithm": algorithm,
            "center": c,
            "slices": list(slices) if slices else None,
            "slab": slab,
            "cluster": getattr(getattr(client, "scheduler", None), "address", None),
            "angles_deg": list(angles) if angles else None,
            "theta_range_given_deg": list(theta_range) if theta_range else None,
            "n_projections": int(theta.size),
            "theta_range_deg": [float(np.rad2deg(theta.min())), float(np.rad2deg(theta.max()))],
            "options": identity["options"],
            "algorithm_defaults": {k: v for k, v in spec.defaults.items() if k != "progress"},
            "format": fmt,
            "shape": list(shape),
            "versions": _versions(),
        }
        params["files"] = writer.close()
        params["seconds"] = round(time.perf_counter() - t0, 3)
        write_params(folder, params)
    logger.info("recon %s -> %s in %.1f s", path, out, params["seconds"])
    return params


def _run_slabs(path, slabs: list[tuple[int, int]], work: dict, client):
    """Yield ``(rows, array or exception)`` for each slab as it finishes.

    In this process one after the other, or on ``client``'s cluster, where the
    scheduler re-runs a slab whose worker died (``distributed``'s
    ``allowed-failures``) and a slab that raises is reported, not retried.
    """
    if client is None:
        for rows in slabs:
            try:
                yield rows, recon_slab(path, rows, work)
            except Exception as exc:  # reported by rows; the other slabs go on
                yield rows, exc
        return
    from distributed import as_completed

    futures = {
        client.submit(recon_slab, str(path), rows, work, key=f"recon_slab-{rows[0]}-{rows[1]}-{uuid.uuid4().hex}"): rows
        for rows in slabs
    }
    for future in as_completed(futures):
        rows = futures[future]
        if future.status == "error":
            yield rows, future.exception()
        else:
            yield rows, future.result()
        future.release()


def align_file(
    path: str | os.PathLike,
    out: str | os.PathLike,
    *,
    iters: int | None = None,
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
    Parameters are as :func:`recon_file` and :func:`tomopy_dl.align_jitter`
    (``iters`` None: its default).
    """
    as_choice(fmt, "format", _FORMATS)
    n_proj, n_rows, n_cols = projections_shape(path)
    c = None if center is None else as_center(center, n_cols)  # None: align_jitter finds the axis
    more = {} if iters is None else {"iters": iters}
    n_out = n_rows if slices is None else int(slices[1]) - int(slices[0])
    guard = OutputDir(out, overwrite=overwrite, inputs=[path], expected_bytes=4 * n_proj * max(n_out, 0) * n_cols)
    t0 = time.perf_counter()
    with guard as folder:
        # Two readings a few projections at a time: one into align_jitter's small working copy,
        # one to move and write; neither holds the stack (a 1500 x 2048 x 2560 scan is 31 GB).
        prj = LineIntegrals(path, slices=slices)
        theta = prj.theta
        sx, sy, conv = estimate_jitter(
            prj, theta, center=c, axes=axes, weights=weights, device=device, progress=progress, **more
        )
        writer = StackWriter(folder, "projections", fmt, prj.shape)
        step = images_per_chunk(4 * prj.shape[1] * prj.shape[2])
        for start in tqdm(range(0, prj.shape[0], step), desc="align: writing", disable=not progress, leave=False):
            part = slice(start, start + step)
            writer.write(start, shift_images(prj[part], sx[part], sy[part], device=device))
        params = {
            "command": "align",
            "input": str(Path(path).resolve()),
            "iters": len(conv),
            "center": c,
            "slices": list(slices) if slices else None,
            "axes": axes,
            "weights": str(weights) if weights else "shipped",
            "conv_px": [float(c) for c in conv],
            "rms_shift_px": [float(np.sqrt(np.mean(sx**2))), float(np.sqrt(np.mean(sy**2)))],
            "format": fmt,
            "versions": _versions(),
        }
        params["files"] = writer.close()
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
