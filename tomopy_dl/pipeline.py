"""File-to-folder workflows behind ``tomopy-dl recon`` and ``tomopy-dl align``.

Each reads a Data Exchange file through dxchange, normalises it, runs one job and writes a
folder that holds the result and ``params.json`` (every parameter, the input,
the versions and the seconds taken). The folder appears whole or not at all.
``recon_file`` works slab by slab (a few detector rows at a time), and
``align_file`` a few projections at a time (:class:`LineIntegrals`), so the
memory of each follows its working set, not the scan.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
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
from .io.output import FORMATS, Manifest, OutputDir, StackWriter, write_contact_sheet, write_named_slices, write_params
from .prep.alignment import estimate_jitter
from .prep.center import AGREEMENT_PX, CenterEstimate, find_center
from .prep.normalize import average_fields, dead_pixels, fill_dead_pixels, minus_log, normalize
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
    "file_center",
    "center_scan",
]

logger = logging.getLogger(__name__)

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
    bad = _dead_pixels_checked(path, dead_pixels(tomo, flat, dark), 0 if slices is None else int(slices[0]))
    return _line_integrals(tomo, flat, dark, bad), theta


def _dead_pixels_checked(path, bad: np.ndarray, first_row: int) -> np.ndarray:
    """``bad``, logged; a dead row (nothing good to fill it from) refused with its number in the file."""
    if bad.any():
        rows = np.flatnonzero(bad.all(axis=1))
        if rows.size:
            raise ValueError(f"{path}: detector row {rows[0] + first_row} measured nothing in any pixel (zero, "
                             "saturated or flat <= dark): leave it out with --slices (slices=)")  # fmt: skip
        r, c = np.argwhere(bad)[0]
        logger.warning("%s: %d dead detector pixel(s) (zero or saturated in every projection, or flat <= dark; the "
                       "first at row %d, column %d) filled from their row's neighbours", path, int(bad.sum()),
                       r + first_row, c)  # fmt: skip
    return bad


def _line_integrals(tomo: np.ndarray, flat: np.ndarray, dark: np.ndarray, bad: np.ndarray | None) -> np.ndarray:
    """Raw projections to float32 line integrals: flat/dark normalised, ``-log``, ``bad`` pixels filled."""
    prj = np.ascontiguousarray(minus_log(normalize(tomo, flat, dark)), dtype=np.float32)
    return fill_dead_pixels(prj, bad) if bad is not None and bad.any() else prj


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
        # From the fields alone (a block of projections cannot tell a dead pixel), the same for every block.
        first = 0 if slices is None else int(slices[0])
        self._bad = _dead_pixels_checked(path, self._flat <= self._dark, first)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index: slice) -> np.ndarray:
        return _line_integrals(self.raw[index], self._flat, self._dark, self._bad)


def _versions() -> dict:
    return {"tomopy_dl": __version__, "torch": torch.__version__, "python": platform.python_version()}


class SlabFailures(RuntimeError):
    """Some slabs of a file job failed; the others are kept for a rerun to resume."""


class SchedulerLost(SlabFailures):
    """The Dask scheduler went away mid-job; the slabs done are kept for a rerun to resume."""


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
    from .solvers.selection import TUNED

    prj, theta = read_projections(path, slices=(row, row + 1), angles=angles, theta_range=theta_range)
    sino = torch.from_numpy(np.ascontiguousarray(np.swapaxes(prj, 0, 1), dtype=np.float32))
    op = get_projector(theta, n_cols, n_cols, n_cols, center=center, device=options.get("device"),
                       projector=options.get("projector", PROJECTOR.default))  # fmt: skip
    t0 = time.perf_counter()
    # The user's own settings are kept; mode 'volume' starts without the discriminator.
    given = {k: options[k] for k in TUNED if options.get(k) is not None}
    volume = options.get("mode") == "volume"
    if volume:
        given["adv_weight"] = 0.0
    chosen = choose_settings(sino.to(op.device), op, num_iter=None if volume else options.get("num_iter"),
                             seed=options.get("seed", 0), **given)  # fmt: skip
    if volume:
        del chosen["adv_weight"]
    logger.info("recon %s: ganrec settings chosen on row %d for every slab (%.1f s): %s", path, row,
                time.perf_counter() - t0, chosen)  # fmt: skip
    return {**chosen, "tune": "off"}


#: The file of GANrec ``mode='volume'``'s network in the output folder: trained once per volume, kept with the
#: result (``--option filler=`` reuses it for another reconstruction of the same scan).
FILLER_FILE = "ganrec_filler.pt"


def _trains_filler(algorithm: str, options: dict) -> bool:
    return algorithm == "ganrec" and options.get("mode") == "volume" and options.get("filler") is None


def _volume_filler(path, folder: Path, rows: tuple[int, int], work: dict, n_cols: int) -> tuple[dict, dict]:
    """GANrec ``mode='volume'``: one network for the whole volume, and the slabs' work that applies it.

    Trained and checked on up to :data:`~tomopy_dl.solvers.wedge_fill.SAMPLE`
    rows spread over ``rows`` (a partial run's network is reused, so that a
    resumed job's slabs agree); saved in ``folder``. Returns the slabs'
    work (``filler`` instead of the start's settings, which it carries) and
    the check's record for ``params.json``.
    """
    from .physics import get_projector
    from .solvers.gan import volume_filler
    from .solvers.wedge_fill import Filler, VolumeSettings, sample_slices

    options, file = dict(work["options"]), folder / FILLER_FILE
    settings = {k: options.pop(k) for k in VolumeSettings.__dataclass_fields__ if k in options}
    num_iter, seed = options.pop("num_iter", None), options.get("seed", 0)
    options.pop("tune", None)  # the start is chosen once, before (tune='off' from here)
    if file.is_file():
        filler = Filler.load(file)
        logger.info("recon %s: ganrec volume: the network of the partial run (%s): %s", path, file.name, filler.why)
    else:
        picks = rows[0] + sample_slices(rows[1] - rows[0])
        t0 = time.perf_counter()
        sino, theta = _rows_as_sinograms(path, picks, work["angles"], work["theta_range"])
        op = get_projector(theta, n_cols, n_cols, n_cols, center=work["center"], device=options.get("device"),
                           projector=options.get("projector", PROJECTOR.default))  # fmt: skip
        filler = volume_filler(sino.to(op.device), op, num_iter=num_iter, tune="off", seed=seed,
                               progress=bool(options.get("progress")), **settings)  # fmt: skip
        filler.save(folder / f".{FILLER_FILE}.tmp")
        os.replace(folder / f".{FILLER_FILE}.tmp", file)  # whole or absent: a rerun never reads half a network
        logger.info("recon %s: ganrec volume: one network for rows %d:%d, trained on %d of them in %.1f s: %s", path,
                    rows[0], rows[1], picks.size, time.perf_counter() - t0, filler.why)  # fmt: skip
    record = {"file": FILLER_FILE, "kept": filler.kept, "why": filler.why, **filler.stats}
    return {**work, "options": {**options, "filler": str(file)}}, record


def _checked_filler(filler, theta: np.ndarray, options: dict) -> str:
    """A saved network given by the user, refused before any work if it is unreadable or for other angles."""
    from .solvers.wedge_fill import Filler

    if options.get("mode") != "volume":
        raise ValueError(f"filler applies to ganrec's mode 'volume' only; add mode=volume, got {options.get('mode')!r}")
    path = Path(filler).expanduser().resolve()  # the slabs may run elsewhere, in another folder
    Filler.load(path).check_angles(theta)
    return str(path)


def _rows_as_sinograms(path, picks, angles, theta_range) -> tuple[torch.Tensor, np.ndarray]:
    """Detector rows ``picks`` as sinograms (len(picks), nangles, ncols), one row read at a time, and the angles."""
    sinos = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the job said these once already
        for r in picks:
            prj, theta = read_projections(path, slices=(int(r), int(r) + 1), angles=angles, theta_range=theta_range)
            sinos.append(prj[:, 0])
    return torch.from_numpy(np.stack(sinos).astype(np.float32, copy=False)), theta


def file_center(
    path: str | os.PathLike,
    *,
    slices: tuple[int, int] | None = None,
    theta_range: tuple[float, float] | None = None,
    bands: int = 3,
) -> CenterEstimate:
    """The rotation axis of a Data Exchange file, found from its line integrals.

    Reads ten rows about each of the middle, quarter and three-quarter rows
    of ``slices`` (the middle alone under 30 rows, or with ``bands=1``), over
    every angle, and runs :func:`tomopy_dl.prep.center.find_center` on them:
    Vo's method per band, the median as the axis, opposite projections as a
    check. About 5 s a band at 2048 columns x 1500 projections on 2 cores.

    Parameters
    ----------
    path, slices, theta_range
        As :func:`recon_file`'s.
    bands : {3, 1}
        Bands of rows to search: 3 to find the axis (a tilted axis shows as
        spread), 1 to check a centre given.

    Returns
    -------
    CenterEstimate
        ``by_row`` keyed by the file's rows.

    Raises
    ------
    ValueError
        When the angles span less than half a turn.
    """
    n_rows = projections_shape(path)[1]
    lo, hi = (0, n_rows) if slices is None else (int(slices[0]), int(slices[1]))
    if bands not in (1, 3):
        raise ValueError(f"bands must be 1 or 3, got {bands!r}")
    middles = [lo + (hi - lo) * k // 4 for k in (1, 2, 3)] if hi - lo >= 30 and bands == 3 else [(lo + hi) // 2]
    reads, kept = [], []
    for m in middles:
        try:
            reads.append(LineIntegrals(path, slices=(max(m - 5, lo), min(m + 5, hi)), theta_range=theta_range))
            kept.append(m)
        except ValueError as exc:  # a dead row in the band: the slabs holding it say so themselves
            logger.info("%s: rows about %d not used to find the axis: %s", path, m, exc)
    if not reads:
        raise ValueError("no rows to find the axis from")
    prj = np.concatenate([r[:] for r in reads], axis=1)
    starts = np.cumsum([0] + [r.shape[1] for r in reads])[:-1]
    # In the stacked bands, row (start + middle - first row of the band) has the band's rows about it.
    rows = [int(s + m - max(m - 5, lo)) for s, m in zip(starts, kept)]
    est = find_center(prj, reads[0].theta, rows=rows)
    return CenterEstimate(est.center, dict(zip(kept, est.by_row.values())), est.pair)


def _is_auto(center) -> bool:
    """Whether ``center`` asks for the axis to be found (None or 'auto'); any other string is refused."""
    auto = center is None or (isinstance(center, str) and center.lower() == "auto")
    if isinstance(center, str) and not auto:
        raise ValueError(f"center must be a number of pixels or 'auto', got {center!r}")
    return auto


def _resolve_center(path, center, lo: int, hi: int, theta_range, n_cols: int) -> tuple[float, dict]:
    """The centre a file job uses (``center``, or found when 'auto' or None) and what params.json records of it."""
    auto = _is_auto(center)
    try:
        # A centre given is only checked: the middle band is enough to warn of pixels off.
        est = file_center(path, slices=(lo, hi), theta_range=theta_range, bands=3 if auto else 1)
    except ValueError as exc:  # less than half a turn: nothing to find it from
        if auto:
            c = as_center(None, n_cols)
            warnings.warn(f"{path}: the rotation axis cannot be found from the data ({exc}); the detector middle "
                          f"{c:g} is used: pass --center (center=) if it is not the axis", UserWarning, stacklevel=3)
            return c, {"found": None, "middle": c}
        logger.info("recon %s: centre %s as given (%s)", path, center, exc)
        return as_center(center, n_cols), {"given": float(center)}
    record = {"found": round(est.center, 3), "by_row": {str(r): round(c, 3) for r, c in est.by_row.items()},
              "pair": None if est.pair is None else round(est.pair, 3), "agrees": est.agrees}  # fmt: skip
    if not est.agrees:
        warnings.warn(f"{path}: the axis estimates disagree (spread {est.spread:.1f} px): {est.describe()}; "
                      "check a slice, or try --center-scan", UserWarning, stacklevel=3)  # fmt: skip
    if auto:
        logger.info("recon %s: rotation axis found at %s", path, est.describe())
        return as_center(est.center, n_cols), record
    c = as_center(center, n_cols)
    record["given"] = c
    if abs(c - est.center) > AGREEMENT_PX:
        warnings.warn(f"{path}: --center {c:g} is {c - est.center:+.1f} px from the axis found in the data "
                      f"({est.describe()})", UserWarning, stacklevel=3)  # fmt: skip
    return c, record


def recon_file(
    path: str | os.PathLike,
    out: str | os.PathLike,
    *,
    algorithm: str = "sirt",
    center: float | str | None = "auto",
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
    options: dict | None = None,
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
    center : float or 'auto'
        Rotation axis in detector pixels. ``'auto'`` (or None, the default):
        found from the data by :func:`file_center` (Vo's method on a few
        rows, over all the file's angles), logged at INFO and recorded in
        ``params.json``. A centre given is checked against it: more than
        :data:`~tomopy_dl.prep.center.AGREEMENT_PX` apart, a warning says by
        how much. Over less than half a turn there is nothing to find it
        from: the detector middle, with a warning.
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
    projector : {'auto', 'siddon', 'fourier', 'fourier-rays'}
        The projector backend (:data:`tomopy_dl.physics.PROJECTORS`); ``'auto'``
        takes the Fourier one at beamline sizes on the CPU.
    options : dict, optional
        More keywords of the algorithm, by the names of its row in
        :data:`~tomopy_dl.solvers.table.ALGORITHMS` (e.g. ``{'mode': 'volume'}``
        for GANrec's network across the slices); recorded with the job.
        GANrec ``mode='volume'`` trains one network for the volume, on up to
        :data:`~tomopy_dl.solvers.wedge_fill.SAMPLE` rows spread over it,
        checks it once on held-out angles, and every slab applies it (or,
        where the check declined it, reconstructs the classical start,
        training nothing); the network is saved as ``FILLER_FILE`` in the
        output and its check recorded under ``ganrec_volume_network``.
        ``{'filler': PATH}`` applies a network saved before instead.

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
    spec = _checked_job(algorithm, fmt, num_iter, slab)
    t0 = time.perf_counter()
    n_proj, n_rows, n_cols = projections_shape(path)
    lo, hi = _checked_rows(slices, n_rows)
    # Bad angles or a file without them show up here, once, before any work.
    _, theta = read_projections(path, slices=(lo, lo + 1), angles=angles, theta_range=theta_range)
    # Refuse early, before any work: the output's safety, its lock and its disk space.
    guard = OutputDir(out, overwrite=overwrite, inputs=[path], resumable=True)
    done_rows = sum(int(b) - int(a) for a, b in (key.split(":") for key in Manifest.units_in(guard.partial)))
    guard.require_free(4 * max(hi - lo - done_rows, 0) * n_cols * n_cols)  # what a resumed run still writes
    slab = default_slab(n_proj, n_cols) if slab is None else int(slab)
    c, center_record = _resolve_center(path, center, lo, hi, theta_range, n_cols)
    options = _slab_options(spec, projector=projector, device=device, num_iter=num_iter, seed=seed,
                            progress=bool(progress and client is None), extra=options)  # fmt: skip
    if algorithm == "ganrec" and options.get("filler") is not None:
        options["filler"] = _checked_filler(options["filler"], theta, options)
    if (algorithm == "ganrec" and options.get("mode", "ours") in ("ours", "volume") and options.get("tune") != "off"
            and options.get("filler") is None):  # fmt: skip
        # One choice of settings for the volume, not one per slab: slabs of one sample should agree.
        options.update(_ganrec_volume_settings(path, (lo + hi - 1) // 2, angles, theta_range, c, n_cols, options))
    work = {"algorithm": algorithm, "center": c, "angles": angles, "theta_range": theta_range, "options": options}
    identity = _job_identity(path, work, rows=(lo, hi), slab=slab, fmt=fmt)
    slabs = [(r0, min(r0 + slab, hi)) for r0 in range(lo, hi, slab)]
    with guard as folder:
        manifest = Manifest(folder, identity)  # before the first slab
        writer = StackWriter(folder, "recon", fmt, (hi - lo, n_cols, n_cols), resume=True)
        todo = _slabs_to_do(slabs, writer, manifest, lo)
        filler_record = None
        if _trains_filler(algorithm, options) and (todo or (folder / FILLER_FILE).is_file()):
            work, filler_record = _volume_filler(path, folder, (lo, hi), work, n_cols)
        if len(todo) < len(slabs):
            logger.info("recon %s: %d of %d slabs already done, verified and skipped", path, len(slabs) - len(todo),
                        len(slabs))  # fmt: skip
        failures = _reconstruct_slabs(path, todo, work, client, guard=guard, writer=writer, manifest=manifest,
                                      first_row=lo, total=len(slabs), progress=progress, t0=t0)  # fmt: skip
        if failures:
            writer.close()
            _raise_failures(failures, manifest, len(slabs), folder)
        params = {
            "command": "recon",
            "input": str(Path(path).resolve()),
            "algorithm": algorithm,
            "center": c,
            "center_estimate": center_record,
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
            "shape": [hi - lo, n_cols, n_cols],
            "versions": _versions(),
        }
        if filler_record is not None:
            params["ganrec_volume_network"] = filler_record
        params["files"] = writer.close()
        params["seconds"] = round(time.perf_counter() - t0, 3)
        write_params(folder, params)
    logger.info("recon %s -> %s in %.1f s", path, out, params["seconds"])
    return params


def _checked_job(algorithm: str, fmt: str, num_iter, slab):
    """The algorithm's table entry, once the job's own choices are checked (before anything is read)."""
    spec = ALGORITHMS[as_choice(algorithm, "algorithm", tuple(ALGORITHMS))]
    as_choice(fmt, "format", FORMATS)
    if num_iter is not None and "num_iter" not in spec.defaults:
        raise ValueError(f"{algorithm} takes no number of iterations; leave num_iter (--num-iter) out")
    if num_iter is not None and (isinstance(num_iter, bool) or not isinstance(num_iter, (int, np.integer))
                                 or num_iter < 1):  # fmt: skip
        raise ValueError(f"num_iter (--num-iter) must be a whole number of iterations, at least 1; got {num_iter!r}")
    if slab is not None and (isinstance(slab, bool) or not isinstance(slab, (int, np.integer)) or slab < 1):
        raise ValueError(f"slab must be a positive number of detector rows, got {slab!r}")
    return spec


def _checked_rows(slices, n_rows: int) -> tuple[int, int]:
    """``slices`` (or all rows) as ``(lo, hi)``, refused when outside the detector."""
    lo, hi = (0, n_rows) if slices is None else (int(slices[0]), int(slices[1]))
    if not 0 <= lo < hi <= n_rows:
        raise ValueError(
            f"slices {lo}:{hi} is outside the detector's {n_rows} rows; pass 0 <= start < stop <= {n_rows}"
        )
    return lo, hi


def _slab_options(spec, *, projector: str, device, num_iter, seed: int, progress: bool, extra: dict | None) -> dict:
    """The keywords every slab's ``recon`` gets; ``extra``: the user's, checked against the algorithm's row."""
    own = {k.name for k in spec.keywords} - {"num_iter", "seed", "progress"}
    wrong = sorted(set(extra or {}) - own)
    if wrong:
        raise ValueError(f"{spec.name} takes no option {', '.join(map(repr, wrong))}; its options: {sorted(own)}")
    options: dict = {"progress": progress, **(extra or {})}
    options["projector"] = as_choice(str(projector).lower(), "projector", PROJECTOR.choices)
    if device is not None:
        options["device"] = device
    if num_iter is not None:
        options["num_iter"] = int(num_iter)
    if "seed" in spec.defaults:
        options["seed"] = seed
    return options


def _job_identity(path, work: dict, *, rows: tuple[int, int], slab: int, fmt: str) -> dict:
    """What makes two runs the same job, for the manifest: the input as it is on disk, and every parameter."""
    stat = Path(path).stat()
    return {
        "input": str(Path(path).resolve()),
        "input_size": stat.st_size,
        "input_mtime_ns": stat.st_mtime_ns,
        "rows": list(rows),
        "slab": slab,
        "format": fmt,
        **{k: v for k, v in work.items() if k != "options"},
        "options": {k: v for k, v in work["options"].items() if k != "progress"},
    }


def _slabs_to_do(slabs: list[tuple[int, int]], writer: StackWriter, manifest: Manifest, first_row: int) -> list:
    """The slabs not yet on disk as the manifest records them (a partial run's slabs are read back and checked)."""
    todo = []
    for r0, r1 in slabs:
        key = f"{r0}:{r1}"
        block = writer.read(r0 - first_row, r1 - first_row) if key in manifest.done else None
        if not manifest.verified(key, block):
            todo.append((r0, r1))
    return todo


def _reconstruct_slabs(path, todo, work: dict, client, *, guard: OutputDir, writer: StackWriter, manifest: Manifest,
                       first_row: int, total: int, progress: bool, t0: float) -> list[str]:  # fmt: skip
    """Run ``todo``'s slabs, write each as it arrives and record it; returns the failures, one line each."""
    failures: list[str] = []
    bar = tqdm(total=total, initial=total - len(todo), desc="slabs", unit="slab", disable=not progress or total < 2,
               leave=False)  # fmt: skip
    with bar, _scheduler_lost_after(manifest.done, total):
        for rows, result in _run_slabs(path, todo, work, client):
            if isinstance(result, BaseException):
                failures.append(f"rows {rows[0]}:{rows[1]} ({type(result).__name__}: {result})")
                logger.error("recon %s: rows %d:%d failed: %s", path, rows[0], rows[1], result)
            else:
                guard.require_free(result.nbytes)  # the disk may have filled since the start
                writer.write(rows[0] - first_row, result)
                manifest.record(f"{rows[0]}:{rows[1]}", result)
                logger.info("recon %s: rows %d:%d done (%.1f s)", path, rows[0], rows[1], time.perf_counter() - t0)
            bar.update(1)
            guard.check()  # a SIGTERM or SIGINT swallowed on its way up still stops the job
    return failures


def _raise_failures(failures: list[str], manifest: Manifest, total: int, folder: Path) -> None:
    if not manifest.done:
        shutil.rmtree(folder, ignore_errors=True)  # nothing to resume
        raise SlabFailures(f"every slab failed: {failures[0]}")
    raise SlabFailures(
        f"{len(failures)} of {total} slab(s) failed: {'; '.join(failures)}. The {len(manifest.done)} done are kept "
        f"in {str(folder)!r}: rerun the same command to resume"
    )


@contextlib.contextmanager
def _scheduler_lost_after(done: dict, total: int):
    """Say how far the job got when the scheduler was lost, and that a rerun resumes."""
    try:
        yield
    except SchedulerLost as exc:
        raise SchedulerLost(f"{exc} after {len(done)} of {total} slabs; rerun the same command to resume") from None


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
    address = getattr(getattr(client, "scheduler", None), "address", "?")
    try:
        for future in as_completed(futures):
            rows = futures[future]
            if future.status == "cancelled":  # nothing here cancels: the client lost its scheduler
                raise SchedulerLost(f"lost the Dask scheduler at {address}")
            if future.status == "error":
                yield rows, future.exception()
            else:
                yield rows, future.result()
            future.release()
    except (OSError, asyncio.CancelledError, concurrent.futures.CancelledError) as exc:  # the comm closed
        raise SchedulerLost(f"lost the Dask scheduler at {address} ({type(exc).__name__})") from None


def center_scan(
    path: str | os.PathLike,
    out: str | os.PathLike,
    centers,
    *,
    row: int | None = None,
    algorithm: str = "fbp",
    theta_range: tuple[float, float] | None = None,
    overwrite: bool = False,
    progress: bool = True,
    **options,
) -> dict:
    """One slice reconstructed about each of a range of centres, for a person to pick from.

    TomoPy's ``write_center`` and tomopy-cli's try mode: writes
    ``center_0295.50.tiff`` (one per centre, named by it), ``contact_sheet.png``
    (all of them on one grey scale, titled by centre, the one found from
    the data marked) and ``params.json`` into ``out``.

    Parameters
    ----------
    path : str or path-like
        The Data Exchange file.
    out : str or path-like
        Output folder; refused if it exists, unless ``overwrite``.
    centers : sequence of float
        The centres to try, in detector pixels.
    row : int, optional
        The detector row; the middle one by default.
    algorithm : str
        A name of :data:`tomopy_dl.solvers.table.ALGORITHMS`; ``'fbp'`` by default.
    theta_range, overwrite, progress
        As :func:`recon_file`'s.
    **options
        The algorithm's keywords (``num_iter``, ``projector``, ``device``, ...).

    Returns
    -------
    dict
        What ``params.json`` records, with ``files`` and ``seconds``.
    """
    as_choice(algorithm, "algorithm", tuple(ALGORITHMS))
    n_proj, n_rows, n_cols = projections_shape(path)
    r = n_rows // 2 if row is None else int(row)
    if not 0 <= r < n_rows:
        raise ValueError(f"row {r} is outside the detector's {n_rows} rows")
    trials = np.asarray([as_center(c, n_cols) for c in np.atleast_1d(centers)], np.float64)
    if trials.size == 0:
        raise ValueError("no centres to try: pass START:STOP:STEP with START < STOP")
    guard = OutputDir(out, overwrite=overwrite, inputs=[path], expected_bytes=4 * trials.size * n_cols * n_cols)
    t0 = time.perf_counter()
    prj, theta = read_projections(path, slices=(r, r + 1), theta_range=theta_range)
    try:
        found = file_center(path, slices=(r, r + 1), theta_range=theta_range).center
    except ValueError:  # less than half a turn: nothing to mark
        found = None
    images = {}
    for c in tqdm(trials, desc="centres", disable=not progress, leave=False):
        images[f"center_{c:07.2f}"] = recon(prj, theta, center=float(c), algorithm=algorithm, **options)[0]
    with guard as folder:
        files = write_named_slices(folder, images)
        # The trial nearest the axis found is marked, where it lies within the range tried.
        step = float(np.median(np.diff(np.sort(trials)))) if trials.size > 1 else 1.0
        near = int(np.argmin(np.abs(trials - found))) if found is not None else -1
        near = near if near >= 0 and abs(trials[near] - found) <= step / 2 else -1
        titles = {f"{c:.2f}" + (" (found)" if i == near else ""): img
                  for i, (c, img) in enumerate(zip(trials, images.values()))}  # fmt: skip
        write_contact_sheet(folder / "contact_sheet.png", titles,
                            f"{Path(path).name}, row {r}: {algorithm} about each centre"
                            + ("" if found is None else f" (found from the data: {found:.2f})"))  # fmt: skip
        params = {"command": "center-scan", "input": str(Path(path).resolve()), "row": r, "algorithm": algorithm,
                  "centers": trials.tolist(), "center_found": found,
                  "center_marked": float(trials[near]) if near >= 0 else None, "options": options,
                  "files": [*files, "contact_sheet.png"], "versions": _versions()}  # fmt: skip
        params["seconds"] = round(time.perf_counter() - t0, 3)
        write_params(folder, params)
    return params


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
    projector: str = PROJECTOR.default,
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
    as_choice(fmt, "format", FORMATS)
    n_proj, n_rows, n_cols = projections_shape(path)
    c = None if _is_auto(center) else as_center(center, n_cols)  # None: align_jitter finds the axis
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
            prj, theta, center=c, axes=axes, weights=weights, device=device, projector=projector, progress=progress,
            **more,
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
            "projector": projector,
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
