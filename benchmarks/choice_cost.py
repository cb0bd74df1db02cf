"""What ``tune='auto'`` costs against ``tune='off'``, with and without stopping candidates whose score has turned.

``tune='auto'`` runs every candidate start on part of the angles and scores
its iterates at the held-out edges; a candidate stops once ``_PATIENCE``
(50) iterations have passed since its best-scoring iterate
(``tomopy_dl.solvers.selection``). Per case, one slice of
``limited_angle.py``'s data cut to a wedge, through
``tomopy_dl.recon(algorithm='ganrec', seed=0)``, in this order:
``tune='off'``; ``auto`` with the patience off (``_PATIENCE = 0``: every
candidate to its last iteration, as before); ``auto`` as shipped. Prints
the seconds, the held-out error (relative L2 of the projections at the
withheld measured angles, TomoPy's rays) and each ``auto``'s time over
``tune='off'``'s, and whether the two ``auto`` images are equal bit for bit.
The patience changes no choice where the held-out curves rise after their
best; the images may still differ by round-off, since the CPU NUFFT's
threaded adjoint (ducc0) does not add in a fixed order, and where the
discriminator's check is close that round-off can change its decision.

Usage: python benchmarks/choice_cost.py [--datasets basalt wood imat] [--geometries 0-150 0-120 0-90]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch
from limited_angle import GEOMETRIES, load

import tomopy_dl
from tomopy_dl.physics import get_projector, projection_error
from tomopy_dl.solvers import selection

RUNS = (("off", dict(tune="off"), selection._PATIENCE), ("auto p0", {}, 0), ("auto", {}, selection._PATIENCE))


def run_case(ds, geo: str) -> dict:
    """``{label: (seconds, held-out error, image)}`` for the three runs of one case."""
    theta_all = np.deg2rad(ds.deg).astype(np.float32)
    keep = ds.pick(geo)
    held = np.setdiff1d(np.arange(ds.deg.size), keep)
    proj = np.swapaxes(ds.sino[keep][None], 0, 1)
    judge = get_projector(theta_all[held], ds.sino.shape[1], ds.grid, ds.grid, center=ds.center, projector="siddon")
    y = torch.from_numpy(np.ascontiguousarray(ds.sino[held]))[None]
    out, patience = {}, selection._PATIENCE
    try:
        for label, kw, p in RUNS:
            selection._PATIENCE = p
            t0 = time.perf_counter()
            rec = tomopy_dl.recon(proj, theta_all[keep], center=ds.center, num_gridx=ds.grid, num_gridy=ds.grid,
                                  algorithm="ganrec", seed=0, progress=False, **kw)[0]  # fmt: skip
            seconds = time.perf_counter() - t0
            out[label] = (seconds, float(projection_error(torch.from_numpy(rec)[None], y, judge)[0]), rec)
    finally:
        selection._PATIENCE = patience
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["basalt", "wood", "imat"])
    parser.add_argument("--geometries", nargs="+", default=["0-150", "0-120", "0-90"], choices=GEOMETRIES)
    args = parser.parse_args()
    warnings.simplefilter("ignore", UserWarning)
    print(f"torch {torch.__version__} threads {torch.get_num_threads()}")
    ratios: dict[str, list[float]] = {"auto p0": [], "auto": []}
    for name in args.datasets:
        ds = load(name, 128)
        for geo in args.geometries:
            r = run_case(ds, geo)
            off = r["off"][0]
            for label in ratios:
                ratios[label].append(r[label][0] / off)
            same = np.array_equal(r["auto p0"][2], r["auto"][2])
            print(f"{ds.name:<14} {geo:<6} off {off:6.1f} s {r['off'][1]:.4f} | auto p0 {r['auto p0'][0]:6.1f} s "
                  f"{r['auto p0'][1]:.4f} ({r['auto p0'][0] / off:.2f}x) | auto p50 {r['auto'][0]:6.1f} s "
                  f"{r['auto'][1]:.4f} ({r['auto'][0] / off:.2f}x) | bit-equal {same}", flush=True)  # fmt: skip
    for label, r in ratios.items():
        print(f"{label}: {np.mean(r):.2f}x tune='off' mean, {np.min(r):.2f}-{np.max(r):.2f}x range")


if __name__ == "__main__":
    main()
