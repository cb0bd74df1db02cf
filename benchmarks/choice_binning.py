"""Does GANrec's ``tune='auto'`` choose the same on a binned copy? And what does the choice cost at full size?

``tune='auto'`` chooses on a copy binned to about 512 detector pixels
(``tomopy_dl.solvers.gan.CHOICE_WIDTH``). For each case (a simulated
slice of ``--size`` pixels, Poisson noise, a limited range of
``--angles`` projections over 180 degrees) this prints the choice made on
the full width and on the binned copy, the seconds of each, and the held-out
error (relative L2 of the projections at the *withheld* angles of the
missing range, which the truth gives here) of the full-size reconstruction
that each choice leads to (``tune='off'`` with the chosen settings), so a
different choice shows what it costs.

With ``--time-only``, one case at beamline size (``--size 2048 --angles
1500``) times the binned choice alone (a full-width choice there takes
longer than the 10 minutes asked of it).

Usage: python benchmarks/choice_binning.py [--size 1024] [--angles 360] [--time-only] [--cases porous:90 ...]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import torch

import tomopy_dl
from tomopy_dl.physics import get_projector, projection_error
from tomopy_dl.sim import add_poisson_noise, make_object, shepp_logan
from tomopy_dl.solvers.gan import choose_settings

CASES = [("porous", 120), ("porous", 90), ("shepp", 90)]


def data(name: str, n: int, n_ang: int):
    truth = shepp_logan(n) if name == "shepp" else make_object("porous", n, 1, seed=3)[0]
    theta = np.linspace(0, np.pi, n_ang, endpoint=False).astype(np.float32)
    op = get_projector(theta, n, n, n, device="cpu", projector="fourier")
    clean = op(torch.from_numpy(np.ascontiguousarray(truth, np.float32))[None])[0].numpy()
    return theta, add_poisson_noise(clean, photons=1e4, seed=0).astype(np.float32)


def run_case(name: str, wedge: float, args) -> None:
    n = args.size
    theta, sino = data(name, n, args.angles)
    keep = theta <= np.deg2rad(wedge) + 1e-6
    held = ~keep
    y = torch.from_numpy(sino[keep])[None]
    op = get_projector(theta[keep], n, n, n, device="cpu")
    op_held = get_projector(theta[held], n, n, n, device="cpu")
    results = {}
    for label, width in (("binned", 512), ("full", None)):
        if args.time_only and label == "full":
            continue
        t0 = time.perf_counter()
        chosen = choose_settings(y, op, seed=0, width=width)
        results[label] = (chosen, time.perf_counter() - t0)
    for label, (chosen, sec) in results.items():
        err = float("nan")
        if not args.time_only:
            proj = np.ascontiguousarray(sino[keep][:, None])
            rec = tomopy_dl.recon(proj, theta[keep], algorithm="ganrec", progress=False, seed=0, device="cpu",
                                  **{**chosen, "tune": "off"})  # fmt: skip
            y_held = torch.from_numpy(sino[held])[None]
            err = float(projection_error(torch.from_numpy(rec), y_held, op_held)[0])
        text = ", ".join(f"{k}={v}" for k, v in chosen.items())
        print(f"{name:<7} 0-{wedge:<4g} {label:<7} {sec:>8.1f} s  held-out {err:.4f}  {text}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--angles", type=int, default=360)
    parser.add_argument("--time-only", action="store_true")
    parser.add_argument("--cases", nargs="+", default=None, help="NAME:WEDGE, e.g. porous:90 (default: all three)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    print(f"CPU, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads); "
          f"{args.size} pixels, {args.angles} angles over 180 degrees, Fourier projector")  # fmt: skip
    cases = [(c.split(":")[0], float(c.split(":")[1])) for c in args.cases] if args.cases else CASES
    for name, wedge in cases[:1] if args.time_only else cases:
        run_case(name, wedge, args)


if __name__ == "__main__":
    main()
