"""Jitter correction: residual RMSE (pixels) and seconds per case.

Objects not used in training:
* shepp3d: the 3D Shepp-Logan head, a held-out family;
* particles: the 'solid' family with seeds the training never draws
  (training seeds come from its own generator);
* tooth: the real projections (../shared/data/tooth.h5, both rows,
  flat/dark normalised, -log, columns binned x2, centre 148 of 320), with
  column jitter only, since two rows cannot carry a vertical one.

Jitter: uniform +-10 px, sub-pixel, per projection and axis. Noise: none,
Poisson (1e4 photons, densest ray 13.5%), salt-and-pepper 20% and 40%.
Errors are RMS per axis, in pixels of the projections. Rows: after removing
the mean error (jitter is known up to a common offset). Columns: "col" after
removing the mean; "col*" after removing the fit a + b cos + c sin, the part
of a column jitter that equals a translation of the object and that no method
can observe (with 181 random shifts of +-10 px it is about 0.6 px RMS by
itself). "RMSE" is the worse of row and col*.

Methods: align_jitter with iters=1 and 2; "xcorr(2) plain", our plain
baseline (the same reconstruct-reproject loop with scikit-image phase
correlation, two passes, no coarse start, no filtering, no refinement);
"coarse+xcorr(2)", align_jitter's whole pipeline with phase correlation in
place of the network (what the network adds); TomoPy's align_joint(iters=20)
and align_seq when TomoPy is installed.

Usage: python benchmarks/jitter.py [--sizes 96,128] [--amplitude 10] [--no-tooth]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

import tomopy_dl
from tomopy_dl.metrics import jitter_rmse
from tomopy_dl.prep.normalize import minus_log, normalize
from tomopy_dl.sim import add_jitter, add_poisson_noise, add_salt_and_pepper, make_object, project

SHARED = Path(os.environ.get("TOMOPY_DL_SHARED", Path(__file__).resolve().parents[2] / "shared"))
NOISES = ["none", "poisson", "s&p 20%", "s&p 40%"]


def noisy(prj, kind: str, seed: int):
    if kind == "none":
        return prj
    if kind == "poisson":
        return add_poisson_noise(prj, photons=1e4, seed=seed)
    return add_salt_and_pepper(prj, float(kind.split()[1].rstrip("%")) / 100, seed=seed)


def synthetic_case(family: str, n: int, amplitude: float, seed: int):
    theta = np.linspace(0, np.pi, 181, dtype=np.float32)
    margin = int(np.ceil(amplitude)) + 2
    clean = project(make_object(family, n, n + 2 * margin, seed), theta, pad=False)
    prj, sx, sy = add_jitter(clean, amplitude, seed=seed + 1, margin_rows=margin)
    return prj, theta, sx, sy, n / 2, "both"


def tooth_case(amplitude: float, seed: int):
    import h5py

    with h5py.File(SHARED / "data" / "tooth.h5", "r") as f:
        data = f["exchange/data"][:].astype(np.float64)
        white = f["exchange/data_white"][:]
        dark = f["exchange/data_dark"][:]
        deg = f["exchange/theta"][:]
    prj = minus_log(normalize(data, white, dark))
    prj = prj.reshape(prj.shape[0], prj.shape[1], -1, 2).mean(3).astype(np.float32)
    theta = np.deg2rad(deg).astype(np.float32)
    jittered, sx, sy = add_jitter(prj, amplitude, seed=seed, axes="col")
    return jittered, theta, sx, sy, 148.0, "col"


def methods(has_tomopy: bool):
    out = {
        "align_jitter(1)": lambda p, t, c, ax: tomopy_dl.align_jitter(p, t, iters=1, center=c, axes=ax, progress=False),
        "align_jitter(2)": lambda p, t, c, ax: tomopy_dl.align_jitter(p, t, iters=2, center=c, axes=ax, progress=False),
        "xcorr(2) plain": lambda p, t, c, ax: tomopy_dl.align_jitter(
            p,
            t,
            iters=2,
            center=c,
            axes=ax,
            estimator="xcorr",
            coarse=False,
            despeckle=False,
            refine=False,
            progress=False,
        ),
        "coarse+xcorr(2)": lambda p, t, c, ax: tomopy_dl.align_jitter(
            p, t, iters=2, center=c, axes=ax, estimator="xcorr", progress=False
        ),
    }
    if has_tomopy:
        import tomopy

        out["tomopy align_joint(20)"] = lambda p, t, c, ax: tomopy.align_joint(
            p.copy(), t, iters=20, center=c, debug=False
        )
        out["tomopy align_seq"] = lambda p, t, c, ax: tomopy.align_seq(p.copy(), t, center=c, debug=False)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="96,128")
    ap.add_argument("--amplitude", type=float, default=10.0)
    ap.add_argument("--no-tooth", action="store_true")
    ap.add_argument("--seed", type=int, default=123457)
    args = ap.parse_args()
    try:
        import tomopy  # noqa: F401

        has_tomopy = True
    except ImportError:
        has_tomopy = False
    dev = "cuda" if torch.cuda.is_available() else f"cpu ({torch.get_num_threads()} threads)"
    print(
        f"device: {torch.cuda.get_device_name() if torch.cuda.is_available() else dev}; tomopy installed: {has_tomopy}"
    )

    cases = []
    for n in (int(s) for s in args.sizes.split(",")):
        for family, label in (("shepp3d", "shepp3d"), ("solid", "particles")):
            cases.append((f"{label} {n}", lambda fam=family, n=n: synthetic_case(fam, n, args.amplitude, args.seed)))
    if not args.no_tooth:
        cases.append(("tooth 2x320", lambda: tooth_case(args.amplitude, args.seed)))

    algs = methods(has_tomopy)
    # Build projector caches and load weights outside the timings.
    warm = synthetic_case("solid", 32, 2.0, 0)
    tomopy_dl.align_jitter(warm[0], warm[1], iters=1, progress=False)

    print(f"\n{'case':14s} {'noise':9s} {'method':24s} {'RMSE':>6s} {'row':>6s} {'col':>6s} {'col*':>6s} {'s':>7s}")
    summary: dict = {}
    for name, make in cases:
        prj, theta, sx, sy, center, axes = make()
        for noise in NOISES:
            data = noisy(prj, noise, args.seed + 7)
            for method, fn in algs.items():
                t0 = time.perf_counter()
                _, ex, ey, _ = fn(data, theta, center, axes)
                dt = time.perf_counter() - t0
                r_row = jitter_rmse(ex, sx) if axes == "both" else float("nan")
                r_col = jitter_rmse(ey, sy)
                r_obs = jitter_rmse(ey, sy, theta)
                worst = max(r_obs, r_row) if axes == "both" else r_obs
                summary.setdefault(method, []).append((noise, worst, dt))
                print(
                    f"{name:14s} {noise:9s} {method:24s} {worst:6.2f} {r_row:6.2f} {r_col:6.2f} {r_obs:6.2f} {dt:7.2f}",
                    flush=True,
                )
        zero = np.zeros_like(sy)
        before = jitter_rmse(zero, sy, theta)
        if axes == "both":
            before = max(before, jitter_rmse(zero, sx))
        print(f"{name:14s} {'(jitter)':9s} {'uncorrected':24s} {before:6.2f}")

    print(f"\n{'method':24s} {'mean RMSE clean+poisson':>24s} {'mean RMSE s&p':>14s} {'mean s':>8s}")
    for method, rows in summary.items():
        clean = [w for noise, w, _ in rows if not noise.startswith("s&p")]
        sp = [w for noise, w, _ in rows if noise.startswith("s&p")]
        print(f"{method:24s} {np.mean(clean):24.2f} {np.mean(sp):14.2f} {np.mean([d for *_, d in rows]):8.2f}")


if __name__ == "__main__":
    main()
