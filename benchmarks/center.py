"""Rotation axis found from the data: how close to the best centre, on measured scans.

For each measured scan (the tooth, both rows; the three neutron-CT slices
of ``../shared/data/measured``), prints:

* ``auto``: :func:`tomopy_dl.prep.center.find_center` (Vo's method, the
  centre as ``recon`` counts it), and the opposite-projection estimate;
* ``TomoPy vo``: TomoPy's ``find_center_vo`` as stored with the data
  (``center_vo*`` in the ``.npz``; for the tooth, 295.0 as TomoPy 1.15.2
  gives it), and the same search run here counting pixels as TomoPy does
  (``auto`` - 0.5);
* ``best``: the centre that minimises the held-out error of the full-range
  reconstruction: SIRT (``--num-iter``) from the even angles (in angle
  order), scored by the relative error of its projections at the odd ones,
  on a grid of ``--step`` px within ``--radius`` px of ``auto``, refined by a
  parabola through the lowest point and its neighbours. No method is told it.

Usage: python benchmarks/center.py [--radius 2] [--step 0.25] [--num-iter 30]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

import tomopy_dl
from tomopy_dl.physics import get_projector, projection_error
from tomopy_dl.prep.center import find_center
from tomopy_dl.prep.normalize import minus_log, normalize

SHARED = Path(os.environ.get("TOMOPY_DL_SHARED", Path(__file__).resolve().parents[2] / "shared"))


def tooth():
    import h5py

    with h5py.File(SHARED / "data" / "tooth.h5", "r") as f:
        raw, flat, dark = (f[f"exchange/{k}"][:] for k in ("data", "data_white", "data_dark"))
        theta = np.deg2rad(f["exchange/theta"][:]).astype(np.float32)
    prj = np.ascontiguousarray(minus_log(normalize(raw, flat, dark)), dtype=np.float32)
    return prj, theta, "295.0 (TomoPy 1.15.2)"


def measured(name: str):
    d = np.load(SHARED / "data" / "measured" / name / f"{name}.npz")
    stored = ", ".join(f"{float(d[k]):.2f}" for k in d.files if k.startswith("center_vo"))
    return d["proj"].astype(np.float32), d["theta"].astype(np.float32), stored


def held_out_error(prj: np.ndarray, theta: np.ndarray, center: float, num_iter: int) -> float:
    """SIRT from the even angles (in angle order), scored on the odd ones."""
    order = np.argsort(theta, kind="stable")
    fit, judge = order[0::2], order[1::2]
    n = prj.shape[2]
    rec = tomopy_dl.recon(prj[fit], theta[fit], center=center, algorithm="sirt", num_iter=num_iter, progress=False)
    op = get_projector(theta[judge], n, n, n, center=center)
    sino = torch.from_numpy(np.ascontiguousarray(prj[judge].transpose(1, 0, 2)))
    return float(projection_error(torch.from_numpy(rec), sino, op).mean())


def best_center(prj, theta, start: float, radius: float, step: float, num_iter: int) -> tuple[float, float]:
    grid = start + np.arange(-radius, radius + step / 2, step)
    errors = np.array([held_out_error(prj, theta, float(c), num_iter) for c in grid])
    k = int(np.argmin(errors))
    best = float(grid[k])
    if 0 < k < grid.size - 1:  # a parabola through the lowest point and its neighbours
        lo, mid, hi = errors[k - 1 : k + 2]
        curv = lo - 2 * mid + hi
        best += step * float(np.clip(0.5 * (lo - hi) / curv, -1, 1)) if curv > 0 else 0.0
    return best, float(errors[k])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--radius", type=float, default=2.0)
    ap.add_argument("--step", type=float, default=0.25)
    ap.add_argument("--num-iter", type=int, default=30)
    args = ap.parse_args()
    print(f"device: cpu ({torch.get_num_threads()} threads)")
    names = ("psi_basalt", "psi_wood", "imat_phantom")
    cases = {"tooth (2 rows)": tooth, **{n: (lambda n=n: measured(n)) for n in names}}
    print(f"\n{'case':16s} {'auto':>8s} {'pair':>8s} {'TomoPy vo (stored)':>20s} {'ours as TomoPy':>15s} "
          f"{'best (held-out)':>16s} {'auto - best':>12s} {'s auto':>7s}")  # fmt: skip
    for name, load in cases.items():
        prj, theta, stored = load()
        t0 = time.perf_counter()
        est = find_center(prj, theta)
        dt = time.perf_counter() - t0
        best, _ = best_center(prj, theta, est.center, args.radius, args.step, args.num_iter)
        print(f"{name:16s} {est.center:8.2f} {est.pair:8.2f} {stored:>20s} {est.center - 0.5:15.2f} {best:16.2f} "
              f"{est.center - best:12.2f} {dt:7.2f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
