"""The built-in example: a missing-wedge scan of a phantom, reconstructed and scored."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import tifffile

from .adapter.standalone import recon
from .metrics import score
from .sim import add_poisson_noise, project, shepp_logan

__all__ = ["run_demo", "format_table"]

logger = logging.getLogger(__name__)


def _methods(num_iter: int | None, ganrec_iter: int | None, seed: int) -> dict[str, dict]:
    """The demo's methods; None keeps the algorithm table's default (tv always keeps its own)."""
    return {
        "fbp": dict(algorithm="fbp", filter_name="shepp"),
        "sirt": dict(algorithm="sirt", num_iter=num_iter),
        "mlem": dict(algorithm="mlem", num_iter=num_iter),
        "tv": dict(algorithm="tv"),
        "ganrec": dict(algorithm="ganrec", num_iter=ganrec_iter, seed=seed),
    }


def run_demo(
    out: str | Path,
    *,
    size: int = 128,
    max_angle: float = 120.0,
    n_angles: int = 121,
    photons: float = 1e5,
    num_iter: int | None = None,
    ganrec_iter: int | None = None,
    seed: int = 0,
    device=None,
    overwrite: bool = False,
    progress: bool = True,
) -> list[dict]:
    """Simulate a limited-angle scan, reconstruct it and write the results.

    Parameters
    ----------
    out : path
        Output folder; created if missing. Existing result files are kept
        unless ``overwrite`` is set.
    size : int
        Phantom side in pixels.
    max_angle : float
        The scan covers ``[0, max_angle]`` degrees; below 180 leaves a missing wedge.
    n_angles : int
        Number of projections.
    photons : float
        Incident photons per detector pixel for Poisson noise (``0``: noiseless).
    num_iter : int, optional
        Iterations of sirt and mlem; the algorithm table's default by default
        (tv always runs its own).
    ganrec_iter : int, optional
        Iterations of GANrec; the table's default by default.
    seed : int
        Seed of the noise and of GANrec's networks.
    device : None or str
        Torch device; None picks CUDA when available.
    overwrite : bool
        Replace existing result files.
    progress : bool
        Show progress bars.

    Returns
    -------
    list of dict
        One row per method: ``method``, ``ssim``, ``psnr``, ``seconds``.

    Writes
    ------
    ``comparison.png`` (phantom and reconstructions), ``<method>.tiff`` and
    ``phantom.tiff`` (float32 images), ``scores.csv``.
    """
    out = Path(out)
    methods = _methods(num_iter, ganrec_iter, seed)
    targets = [out / "comparison.png", out / "scores.csv", out / "phantom.tiff"]
    targets += [out / f"{m}.tiff" for m in methods]
    existing = [p.name for p in targets if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{out} already holds {existing}; pass overwrite=True (--overwrite) or another folder")
    out.mkdir(parents=True, exist_ok=True)

    phantom = shepp_logan(size)
    theta = np.deg2rad(np.linspace(0.0, max_angle, n_angles)).astype(np.float32)
    proj = project(phantom[None], theta, pad=True, device=device)
    if photons:
        proj = add_poisson_noise(proj, photons=photons, seed=seed)
    n_det = proj.shape[2]
    mask = _disk(size)

    rows, images = [], {}
    for name, kwargs in methods.items():
        t0 = time.perf_counter()
        rec = recon(proj, theta, num_gridx=size, num_gridy=size, device=device, progress=progress, **kwargs)[0]
        seconds = time.perf_counter() - t0
        images[name] = rec
        rows.append({"method": name, **score(rec, phantom, mask=mask), "seconds": seconds})
        logger.info("%s done in %.2f s", name, seconds)

    tifffile.imwrite(out / "phantom.tiff", phantom)
    for name, rec in images.items():
        tifffile.imwrite(out / f"{name}.tiff", rec.astype(np.float32))
    with open(out / "scores.csv", "w") as fh:
        fh.write("method,ssim,psnr,seconds\n")
        for r in rows:
            fh.write(f"{r['method']},{r['ssim']:.4f},{r['psnr']:.2f},{r['seconds']:.3f}\n")
    title = f"0-{max_angle:g} deg, {n_angles} projections, {n_det} detector pixels, " + (
        f"Poisson {photons:g} photons" if photons else "noiseless"
    )
    _figure(out / "comparison.png", phantom, images, rows, title)
    return rows


def _disk(size: int) -> np.ndarray:
    """The field of view that every projection sees: the inscribed disk."""
    c = (size - 1) / 2.0
    yy, xx = np.mgrid[:size, :size]
    return (yy - c) ** 2 + (xx - c) ** 2 <= (size / 2.0) ** 2


def _figure(path: Path, phantom: np.ndarray, images: dict, rows: list[dict], title: str) -> None:
    # The Figure API draws off-screen without pyplot, so the process's backend is left alone.
    from matplotlib.figure import Figure  # only here: matplotlib is slow to import

    panels = [("phantom", phantom, "")] + [
        (r["method"], images[r["method"]], f"SSIM {r['ssim']:.3f}  PSNR {r['psnr']:.1f} dB") for r in rows
    ]
    fig = Figure(figsize=(3.2 * len(panels), 3.6))
    axes = fig.subplots(1, len(panels))
    lo, hi = float(phantom.min()), float(phantom.max())
    for ax, (name, img, sub) in zip(axes, panels):
        ax.imshow(img, cmap="gray", vmin=lo, vmax=hi)
        ax.set_title(f"{name}\n{sub}" if sub else name, fontsize=9)
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    fig.savefig(path, dpi=110)


def format_table(rows: list[dict]) -> str:
    """The demo's scores as a fixed-width text table."""
    lines = [f"{'method':<8} {'SSIM':>7} {'PSNR/dB':>8} {'time/s':>7}"]
    for r in rows:
        lines.append(f"{r['method']:<8} {r['ssim']:>7.4f} {r['psnr']:>8.2f} {r['seconds']:>7.2f}")
    return "\n".join(lines)
