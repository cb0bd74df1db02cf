"""Beamline size: every algorithm per slice at 2048 columns x 1500 angles, on the Fourier projector.

The data are the exact line integrals of a phantom of disks (analytic, no
projector involved), so both the speed and the accuracy are against the
truth. Every case runs in a process of its own, so its peak RSS is its own.

Prints one table: per case, seconds (per slice, or per iteration and slice),
peak RSS, and, where it applies, the correlation with the true image (inside
the field of view) or the relative L2 error against the analytic sinogram.
Cases:

* ``forward``/``adjoint``: one product each, on one slice and on a pair (a
  slab's case: the Fourier projector packs two slices into one complex
  transform); ``forward`` is scored against the analytic sinogram (the image
  is the disks' pixel-area fractions);
* ``fbp``: ``tomopy_dl.recon(..., algorithm='fbp')`` on ``--slices`` slices;
* ``gridrec``: TomoPy's, same slices, same run (when TomoPy is importable);
* ``sirt``, ``mlem``, ``tv``: per iteration and slice, on ``--batch``
  slices at once (2: a slab's case), from two run lengths (so the set-up is
  excluded); ``ganrec``: per GAN iteration and slice on the 0-120 degree
  part (its discriminator needs a missing wedge), ``tune='off'``;
* with ``--siddon``: the Siddon projector's forward, adjoint and fbp (slow:
  about a minute each at this size).

Usage: python benchmarks/beamline.py [--size 2048] [--angles 1500] [--slices 4] [--batch 2] [--siddon]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from _common import rss_mb, run_in_process

# Disks (x0, y0, radius, value) in units of half the grid side, x along image axis 0.
DISKS = [(0.0, 0.0, 0.85, 1.0), (0.3, -0.2, 0.25, 0.5), (-0.35, 0.25, 0.18, -0.4), (0.1, 0.5, 0.05, 0.8),
         (-0.5, -0.3, 0.1, 0.6), (0.55, 0.35, 0.02, 1.5)]  # fmt: skip


def truth_image(n: int, sub: int = 4) -> np.ndarray:
    """Each pixel's area fraction of every disk (``sub`` x ``sub`` samples per pixel), weighted by its value."""
    img = np.zeros((n, n), np.float64)
    offs = (np.arange(sub) + 0.5) / sub
    for ox in offs:
        x = (np.arange(n)[:, None] + ox - n / 2) / (n / 2)
        for oy in offs:
            y = (np.arange(n)[None, :] + oy - n / 2) / (n / 2)
            for x0, y0, r, v in DISKS:
                img += v * (((x - x0) ** 2 + (y - y0) ** 2) < r * r)
    return (img / sub**2).astype(np.float32)


def analytic_sinogram(n: int, theta: np.ndarray) -> np.ndarray:
    """Exact line integrals (in pixels) at TomoPy's rays: ``-x sin + y cos = s``, ``s_d = d + 0.5 - n/2``."""
    from tomopy_dl.physics import ray_offsets

    s = ray_offsets(n, n / 2)[None, :]
    th = theta.astype(np.float64)[:, None]
    out = np.zeros((theta.size, n))
    for x0, y0, r, v in DISKS:
        c = (-x0 * np.sin(th) + y0 * np.cos(th)) * (n / 2)
        rr = r * n / 2
        out += v * 2 * np.sqrt(np.clip(rr * rr - (s - c) ** 2, 0, None))
    return out.astype(np.float32)


def _data(path: Path, n: int, n_ang: int, slices: int) -> None:
    theta = np.linspace(0, np.pi, n_ang, endpoint=False).astype(np.float32)
    sino = analytic_sinogram(n, theta)
    np.savez(path, sino=np.repeat(sino[None], slices, 0), theta=theta, truth=truth_image(n))


def _correlation(rec: np.ndarray, truth: np.ndarray) -> float:
    n = truth.shape[0]
    yy, xx = np.mgrid[:n, :n] - n / 2 + 0.5
    fov = yy**2 + xx**2 < (0.95 * n / 2) ** 2
    return float(np.corrcoef(rec[fov], truth[fov])[0, 1])


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def run_case(case: str, data: str, backend: str, batch: str) -> dict:
    import torch

    import tomopy_dl
    from tomopy_dl.physics import get_projector

    with np.load(data) as d:
        sino, theta, truth = d["sino"], d["theta"], d["truth"]
    k, n_ang, n = sino.shape
    batch = min(int(batch), k)
    kw = dict(device="cpu", progress=False, projector=backend)
    if case in ("forward", "adjoint"):
        op = get_projector(theta, n, n, n, device="cpu", projector=backend, method="matrix_free")
        x = torch.from_numpy(truth)[None].repeat(batch, 1, 1)
        with torch.no_grad():
            op.adjoint(op(x))  # plans built and kernels compiled, as in a volume after its first slice
            y, sec = _timed(lambda: op(x))
            err = float(np.linalg.norm(y[0].numpy() - sino[0]) / np.linalg.norm(sino[0]))
            if case == "adjoint":
                _, sec = _timed(lambda: op.adjoint(y))
                err = float("nan")
        what = "rel. L2 vs analytic" if case == "forward" else ""
        return dict(seconds=sec / batch, peak_mb=rss_mb(), score=err, what=what)
    if case == "gridrec":
        import tomopy

        proj = np.ascontiguousarray(sino.swapaxes(0, 1))
        tomopy.recon(proj[:, :1], theta, algorithm="gridrec", ncore=os.cpu_count())
        rec, sec = _timed(lambda: tomopy.recon(proj, theta, algorithm="gridrec", ncore=os.cpu_count()))
        return dict(seconds=sec / k, peak_mb=rss_mb(), score=_correlation(rec[0], truth), what="corr. with truth")
    proj = np.ascontiguousarray(sino.swapaxes(0, 1))
    if case == "fbp":
        tomopy_dl.recon(proj[:, :2], theta, algorithm="fbp", **kw)  # plans built once, as in a volume
        rec, sec = _timed(lambda: tomopy_dl.recon(proj, theta, algorithm="fbp", **kw))
        return dict(seconds=sec / k, peak_mb=rss_mb(), score=_correlation(rec[0], truth), what="corr. with truth")
    one = np.ascontiguousarray(proj[:, :batch])
    extra = {}
    if case == "ganrec":  # the GAN works on a missing wedge; its start is fixed, its iterations vary
        keep = theta <= np.deg2rad(120) + 1e-6
        one, theta = np.ascontiguousarray(one[keep]), theta[keep]
        extra = dict(tune="off", init_iter=2, seed=0)
    tomopy_dl.recon(one, theta, algorithm=case, num_iter=1, **kw, **extra)  # plans and sums built, as in a volume
    runs = []
    for iters in (2, 10):
        _, sec = _timed(lambda: tomopy_dl.recon(one, theta, algorithm=case, num_iter=iters, **kw, **extra))
        runs.append(sec)
    return dict(seconds=(runs[1] - runs[0]) / 8 / batch, peak_mb=rss_mb(), score=float("nan"), what="per iteration")


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    return f"CPU: {cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--angles", type=int, default=1500)
    parser.add_argument("--slices", type=int, default=4)
    parser.add_argument("--batch", type=int, default=2, help="slices per product and per iterative run")
    parser.add_argument("--siddon", action="store_true", help="also time the Siddon projector (slow)")
    parser.add_argument("--only", nargs="+", default=None, help="run only these cases (e.g. sirt tv)")
    parser.add_argument("--case", nargs=4, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    if args.case:
        print(json.dumps(run_case(*args.case)))
        return
    print(machine())
    print(f"{args.size} columns x {args.angles} angles (0-180 degrees), analytic sinogram of disks\n")
    b = args.batch
    cases = [("forward", "fourier", 1), ("forward", "fourier", b), ("adjoint", "fourier", 1),
             ("adjoint", "fourier", b), ("fbp", "fourier", args.slices), ("gridrec", "-", args.slices)]  # fmt: skip
    cases += [(name, "fourier", b) for name in ("sirt", "mlem", "tv", "ganrec")]
    if args.siddon:
        cases += [("forward", "siddon", 1), ("adjoint", "siddon", 1), ("fbp", "siddon", args.slices)]
    if args.only:
        cases = [c for c in cases if c[0] in args.only]
    head = f"{'case':<10} {'projector':<10} {'slices':>6} {'s per slice':>12} {'peak MB':>9}  score"
    print(head)
    print("-" * len(head))
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data.npz"
        _data(data, args.size, args.angles, args.slices)
        for case, backend, batch in cases:
            r = run_in_process(__file__, "--case", case, str(data), backend, str(batch))
            if isinstance(r, str):
                print(f"{case:<10} {backend:<10} {batch:>6} {r}", flush=True)
                continue
            score = f"{r['score']:.5f} ({r['what']})" if np.isfinite(r["score"]) else r["what"]
            row = f"{case:<10} {backend:<10} {batch:>6} {r['seconds']:>12.3f} {r['peak_mb']:>9.0f}  {score}"
            print(row, flush=True)


if __name__ == "__main__":
    main()
