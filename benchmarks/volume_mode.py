"""GANrec's ``mode='volume'`` (a network across the slices) against its classical start, on held-out angles.

Cases: ``volume``, a porous 3D phantom of ``--slices`` (32) slices of 128 px
(each drawn and projected 4 times finer, 1e4 photons, -log; SSIM against
the phantom, mean over slices); and the single measured slices of
``limited_angle.py`` (``tooth``, ``basalt``, ``wood``, ``imat``: one slice
still gives many turned patches). Geometries keep the angles in ``A-B``
degrees (``0-120``, ``0-90``, ``45-135`` = +-45 about 90) and withhold the
rest.

Rows per case, all through :func:`tomopy_dl.solvers.gan.ganrec`:

* ``auto``: today's default (``mode='ours'``, ``tune='auto'``);
* ``start``: the classical start ``auto`` chooses, discriminator off
  (``adv_weight=0``): what ``mode='volume'`` starts from and falls back to;
* ``network``: ``mode='volume'`` with its defaults (2000 steps, 20 SIRT
  iterations) and the network applied whether or not its held-out check
  keeps it; the check's edge errors, and the time split into training,
  checking and applying;
* ``volume``: what ``mode='volume'`` returns: ``network`` where the check
  keeps it, else ``start`` (so its time is ``network``'s; where the check
  declines, the mode spends it and returns the start).

Held-out error: the relative L2 error of the projections at the withheld
measured angles (Siddon, TomoPy's rays), mean over the slices.

``--figure FILE --figure-case DATASET:GEOMETRY`` draws that case's start,
network result (``network``) and the full-range reference (the phantom, or a
200-iteration SIRT of every measured angle) side by side, with their
held-out errors (the README's figure).

Usage: python benchmarks/volume_mode.py [--datasets volume tooth basalt wood imat] [--geometries 0-120 0-90 45-135]
       [--slices 32] [--steps 2000] [--figure FILE --figure-case basalt:0-120]
"""

from __future__ import annotations

import argparse
import logging
import os
import time
import warnings

import numpy as np
import torch
from limited_angle import _disk, _simulated, load

from tomopy_dl.metrics import score
from tomopy_dl.physics import get_projector, projection_error
from tomopy_dl.sim import add_poisson_noise, make_object
from tomopy_dl.solvers.gan import _settings, _unit, _volume, fit_scale_offset, ganrec


def load_volume(nz: int, size: int = 128, oversample: int = 4) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """A porous 3D phantom's noisy sinograms (nz, 180, ndet), degrees, centre, and its truth (nz, size, size).

    Each slice as ``limited_angle.py``'s ``textured``: drawn ``oversample`` times finer, projected
    on a detector as much finer and averaged (no inverse crime), 1e4 photons, -log.
    """
    fine = make_object("porous", size * oversample, nz, seed=7)
    deg = np.arange(0, 180, 1.0)
    slices = [_simulated("textured3d", lambda n, k=k: fine[k], size, deg,
                         lambda p, k=k: add_poisson_noise(p, photons=1e4, seed=k), oversample=oversample)
              for k in range(nz)]  # fmt: skip
    return np.stack([d.sino for d in slices]), deg, slices[0].center, np.stack([d.reference for d in slices])


class _VolumeLog(logging.Handler):
    """Keeps what ``mode='volume'`` logs: kept or not, the check's errors and times."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.lines = []

    @property
    def line(self) -> str:
        """The last case's lines (its check, then its application), one string."""
        return "; ".join(self.lines[-2:])

    def emit(self, record):
        if record.name.endswith("wedge_fill"):
            self.lines.append(record.getMessage().removeprefix("ganrec volume: "))


def run_case(name, sino, deg, center, truth, geo, steps, rows, reference=None, figure=None):
    lo, hi = (float(v) for v in geo.split("-"))
    keep = np.flatnonzero((deg >= lo - 1e-6) & (deg <= hi + 1e-6))
    held = np.setdiff1d(np.arange(deg.size), keep)
    theta_all = np.deg2rad(deg).astype(np.float32)
    n_det, grid = sino.shape[-1], (truth.shape[-1] if truth is not None else sino.shape[-1])
    y = torch.from_numpy(np.ascontiguousarray(sino[:, keep]))
    op = get_projector(theta_all[keep], n_det, grid, grid, center=center)
    judge = get_projector(theta_all[held], n_det, grid, grid, center=center, projector="siddon")
    y_held = torch.from_numpy(np.ascontiguousarray(sino[:, held]))
    mask = _disk(grid)
    log, images = _VolumeLog(), {}
    logging.getLogger("tomopy_dl.solvers.wedge_fill").addHandler(log)
    for label in ("auto", "start", "network", "volume"):
        t0 = time.perf_counter()
        if label == "auto":
            x = ganrec(y, op)
        elif label == "start":
            x = ganrec(y, op, adv_weight=0.0)
        elif label == "network":  # mode='volume' with the network applied whatever its check says
            x, stats = network_always(y, op, steps)
        else:  # what mode='volume' returns: the network where its check keeps it, else the start (rows above)
            x = x if stats["kept"] else images["start"][2]
        seconds = time.perf_counter() - t0 if label != "volume" else rows[-1][6]
        err = float(projection_error(x, y_held, judge).mean())
        ssim = (np.mean([score(x[k].numpy(), truth[k], mask)["ssim"] for k in range(x.shape[0])])
                if truth is not None else float("nan"))  # fmt: skip
        rows.append((name, geo, y.shape[0], label, err, ssim, seconds, log.line if label == "network" else ""))
        images[label] = (x[x.shape[0] // 2].numpy(), err, x)
        print(f"  {name} {geo} {label}: held-out {err:.4f}, SSIM {ssim:.3f}, {seconds:.0f} s", flush=True)
    logging.getLogger("tomopy_dl.solvers.wedge_fill").removeHandler(log)
    if figure is not None:
        ref = (truth if truth is not None else reference[None])[y.shape[0] // 2]
        draw(figure, f"{name}, {geo} degrees of 0-180", images, ref, stats["kept"])


def network_always(y: torch.Tensor, op, steps: int) -> tuple[torch.Tensor, dict]:
    """``ganrec(y, op, mode='volume', num_iter=steps)`` with the network applied even where its check declines."""
    unit = _unit(y)
    x, stats = _volume(y / unit, op, _settings("volume", {}), {}, tune="auto", seed=0, steps=steps, progress=False,
                       always=True)  # fmt: skip
    with torch.no_grad():
        return fit_scale_offset(x, y / unit, op) * unit, stats


def draw(path, title, images, reference, kept: bool) -> None:
    """The start, the network's result and the reference, side by side, one grey scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(f"classical start (auto, no D)\nheld-out error {images['start'][1]:.4f}", images["start"][0]),
              (f"network + 20 SIRT ({'kept' if kept else 'declined'} by its check)\n"
               f"held-out error {images['network'][1]:.4f}", images["network"][0]),
              ("reference: every angle\n(200 SIRT iterations or the phantom)", reference)]  # fmt: skip
    hi = float(np.percentile(reference, 99.5))
    fig, axes = plt.subplots(1, 3, figsize=(10.5, 3.9), constrained_layout=True)
    for ax, (label, img) in zip(axes, panels):
        ax.imshow(img, cmap="gray", vmin=0, vmax=hi)
        ax.set_title(label, fontsize=10)
        ax.axis("off")
    fig.suptitle(title)
    fig.savefig(path, dpi=110)
    print(f"  figure: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["volume", "tooth", "basalt", "wood", "imat"])
    parser.add_argument("--geometries", nargs="+", default=["0-120", "0-90", "45-135"])
    parser.add_argument("--slices", type=int, default=32, help="slices of the 'volume' phantom")
    parser.add_argument("--steps", type=int, default=2000, help="training steps of mode='volume'")
    parser.add_argument("--figure", default=None, help="PNG of --figure-case: start, volume mode, reference")
    parser.add_argument("--figure-case", default="basalt:0-120", help="DATASET:GEOMETRY of --figure")
    args = parser.parse_args()
    warnings.simplefilter("ignore", UserWarning)
    logging.getLogger("tomopy_dl").setLevel(logging.INFO)
    logging.getLogger("tomopy_dl").propagate = False
    print(f"CPU, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads)"
          + (f"; GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""))  # fmt: skip
    rows = []
    for name in args.datasets:
        if name == "volume":
            sino, deg, center, truth = load_volume(args.slices)
        else:
            ds = load(name, 128)
            sino, deg, center, truth = ds.sino[None], ds.deg, ds.center, None
        reference = None if name == "volume" else ds.reference
        for geo in args.geometries:
            figure = args.figure if args.figure_case == f"{name}:{geo}" else None
            run_case(name, sino, deg, center, truth, geo, args.steps, rows, reference, figure)
    print()
    print(f"{'data':<8} {'geometry':<8} {'slices':>6} {'method':<7} {'held-out':>8} {'vs start':>8} {'SSIM':>6} "
          f"{'s':>6}  volume mode's check")  # fmt: skip
    start = {(r[0], r[1]): r[4] for r in rows if r[3] == "start"}
    for name, geo, nz, label, err, ssim, seconds, line in rows:
        rel = f"{100 * (err / start[(name, geo)] - 1):+.1f}%"
        print(f"{name:<8} {geo:<8} {nz:>6} {label:<7} {err:>8.4f} {rel:>8} {ssim:>6.3f} {seconds:>6.0f}  {line}")


if __name__ == "__main__":
    main()
