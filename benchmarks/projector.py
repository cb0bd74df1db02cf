"""Projector speed, memory and accuracy: Siddon's two paths and the Fourier projector, against scikit-image and ASTRA.

Prints two tables:

1. For each size (detector width = grid side, angles over 180 degrees), each
   path (``matrix``: the cached CSR matrix; ``matrix_free``; ``fourier``, the
   NUFFT projector; ``fourier-rays``, the same with TomoPy's rays' aliases
   folded in) and one slice and a batch of slices: the build time, forward and adjoint seconds per
   slice, and the process's peak RSS. Every (size, path, batch) runs in a
   process of its own, so the RSS figure is that case's alone. In the same
   run, and as ratios to ours (forward + adjoint per slice), scikit-image's
   ``radon`` / unfiltered ``iradon`` and, when ``astra-toolbox`` is
   installed, ASTRA's CPU ``line`` projector (``create_sino`` /
   ``create_backprojection``). ASTRA is GPL-3: a benchmark-only extra, never
   a dependency.
2. Relative L2 error of each projector against every projection fixture of
   real TomoPy 1.15.2 (tests/data/tomopy_reference.npz): the Siddon paths
   compute TomoPy's numbers, ``fourier`` the band-limited line integrals,
   ``fourier-rays`` TomoPy's point-sampled rays through square pixels.

The matrix path is skipped where its estimated size exceeds ``--matrix-max``
(it would not fit this machine). Compilation (``torch.compile``) is warmed up
on a small geometry before timing; set ``TOMOPY_DL_COMPILE=0`` to time the
eager fallback.

Usage: python benchmarks/projector.py [--sizes 256x384 512x768 1024x1536 2048x1500] [--batch 8]
       [--paths matrix_free matrix fourier fourier-rays] [--peers skimage astra]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np
from _common import rss_mb, run_in_process

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"


def timed(fn, repeats: int) -> float:
    """Best wall time of ``fn()`` over ``repeats`` runs (no warm-up here: see ``run_case``)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def run_case(kind: str, n: int, n_ang: int, batch: int, repeats: int) -> dict:
    """One case in this process; returns its figures."""
    theta = np.linspace(0, np.pi, n_ang, endpoint=False).astype(np.float32)
    img = np.random.default_rng(0).random((n, n), dtype=np.float32)
    if kind in ("matrix", "matrix_free"):
        import torch

        from tomopy_dl.physics import ParallelBeamProjector

        warm = ParallelBeamProjector(theta[:16], 64, 64, 64, device="cpu", method=kind)
        warm.adjoint(warm(torch.ones(batch, 64, 64)))  # compile the kernels before timing
        base = rss_mb()
        t0 = time.perf_counter()
        op = ParallelBeamProjector(theta, n, n, n, device="cpu", method=kind)
        build = time.perf_counter() - t0
        x = torch.from_numpy(np.repeat(img[None], batch, 0))
        with torch.no_grad():
            y = op(x)
            tf = timed(lambda: op(x), repeats) / batch
            ta = timed(lambda: op.adjoint(y), repeats) / batch
        return dict(build=build, fwd=tf, adj=ta, base_mb=base, peak_mb=rss_mb(), threads=torch.get_num_threads())
    if kind in ("fourier", "fourier-rays"):
        import torch

        from tomopy_dl.physics import get_projector

        base = rss_mb()
        t0 = time.perf_counter()
        op = get_projector(theta, n, n, n, device="cpu", projector=kind)
        x = torch.from_numpy(np.repeat(img[None], batch, 0))
        with torch.no_grad():
            y = op(x)  # the plans are built on first use
            build = time.perf_counter() - t0
            tf = timed(lambda: op(x), repeats) / batch
            ta = timed(lambda: op.adjoint(y), repeats) / batch
        return dict(build=build, fwd=tf, adj=ta, base_mb=base, peak_mb=rss_mb(), threads=torch.get_num_threads())
    if kind == "skimage":
        from skimage.transform import iradon, radon

        deg = np.rad2deg(theta)
        t0 = time.perf_counter()
        sino = radon(img, deg, circle=False)
        tf = time.perf_counter() - t0
        t0 = time.perf_counter()
        iradon(sino, deg, filter_name=None, circle=False)
        ta = time.perf_counter() - t0
        return dict(build=0.0, fwd=tf, adj=ta, base_mb=0.0, peak_mb=rss_mb(), threads=1)
    if kind == "astra":
        import astra

        vol = astra.create_vol_geom(n, n)
        geom = astra.create_proj_geom("parallel", 1.0, n, theta.astype(np.float64))
        t0 = time.perf_counter()
        pid = astra.create_projector("line", geom, vol)
        build = time.perf_counter() - t0

        def fwd():
            sid, s = astra.create_sino(img, pid)
            astra.data2d.delete(sid)
            return s

        sino = fwd()

        def adj():
            bid, _ = astra.create_backprojection(sino, pid)
            astra.data2d.delete(bid)

        return dict(build=build, fwd=timed(fwd, repeats), adj=timed(adj, repeats), base_mb=0.0, peak_mb=rss_mb(),
                    threads=1)  # fmt: skip
    raise ValueError(kind)


def child(kind: str, n: int, n_ang: int, batch: int, repeats: int) -> dict | str:
    return run_in_process(__file__, "--case", kind, str(n), str(n_ang), str(batch), str(repeats))


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    s = f"CPU: {cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads)"
    if torch.cuda.is_available():
        s += f"; GPU: {torch.cuda.get_device_name(0)}"
    return s


class _Rows(list):
    """Rows that are also printed as they come: the large sizes take minutes."""

    def append(self, row: str) -> None:
        print(row, flush=True)
        super().append(row)


def speed_table(sizes, batch: int, matrix_max: float, paths, peers) -> list[str]:
    from tomopy_dl.physics import estimate_matrix_bytes

    try:
        import astra  # noqa: F401
    except ImportError:
        peers = [p for p in peers if p != "astra"]
    head = (f"{'size':<11} {'method':<22} {'build/s':>8} {'fwd/s':>8} {'adj/s':>8} {'base MB':>8} {'peak MB':>8}"
            f" {'x ours(mf)':>10}")  # fmt: skip
    rows = _Rows()
    rows.append(head)
    rows.append("-" * len(head))
    for n, n_ang in sizes:
        label = f"{n}x{n_ang}"
        est = estimate_matrix_bytes(np.linspace(0, np.pi, n_ang, endpoint=False), n, n, n)
        ours = None
        for kind in paths:
            for b in (1, batch):
                name = f"{kind}" + (f" (batch {b})" if b > 1 else "")
                if kind == "matrix" and est > matrix_max:
                    rows.append(f"{label:<11} {name:<22} skipped: matrix ~{est / 2**30:.1f} GB > --matrix-max")
                    continue
                reps = 1 if n >= 1024 else 3
                r = child(kind, n, n_ang, b, reps)
                if isinstance(r, str):
                    rows.append(f"{label:<11} {name:<22} {r}")
                    continue
                if kind == "matrix_free" and b == 1:
                    ours = r["fwd"] + r["adj"]
                ratio = (r["fwd"] + r["adj"]) / ours if ours else float("nan")
                rows.append(f"{label:<11} {name:<22} {r['build']:>8.2f} {r['fwd']:>8.3f} {r['adj']:>8.3f}"
                            f" {r['base_mb']:>8.0f} {r['peak_mb']:>8.0f} {ratio:>10.2f}")  # fmt: skip
        for kind in peers:
            r = child(kind, n, n_ang, 1, 1)
            if isinstance(r, str):
                rows.append(f"{label:<11} {kind:<22} {r}")
                continue
            ratio = (r["fwd"] + r["adj"]) / ours if ours else float("nan")
            rows.append(f"{label:<11} {kind:<22} {r['build']:>8.2f} {r['fwd']:>8.3f} {r['adj']:>8.3f}"
                        f" {'-':>8} {r['peak_mb']:>8.0f} {ratio:>10.2f}")  # fmt: skip
    return rows


def accuracy_table() -> list[str]:
    import tomopy_dl
    from tomopy_dl.physics import clear_projector_cache

    d = np.load(DATA / "tomopy_reference.npz")
    cases = [
        ("proj_pad", dict(theta=d["theta"])),
        ("proj_nopad", dict(theta=d["theta"], pad=False)),
        ("proj_off", dict(theta=d["theta"], center=d["center_off"])),
        ("proj_lim", dict(theta=d["theta_lim"])),
    ]
    rows = [f"{'fixture':<12} {'matrix':>12} {'matrix_free':>12} {'fourier':>12} {'fourier-rays':>12}"]
    for key, kw in cases:
        errs = []
        for budget, projector in (("1GB", "siddon"), ("0", "siddon"), ("1GB", "fourier"), ("1GB", "fourier-rays")):
            os.environ["TOMOPY_DL_PROJECTOR_BUDGET"] = budget
            clear_projector_cache()
            out = tomopy_dl.project(d["obj"], device="cpu", projector=projector, **kw)
            errs.append(np.linalg.norm(out - d[key]) / np.linalg.norm(d[key]))
        rows.append(f"{key:<12}" + "".join(f" {e:>12.2e}" for e in errs))
    os.environ.pop("TOMOPY_DL_PROJECTOR_BUDGET", None)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["256x384", "512x768", "1024x1536", "2048x1500"],
                        help="NxANGLES: detector width = grid side N")  # fmt: skip
    parser.add_argument("--batch", type=int, default=8, help="slices per batched call")
    parser.add_argument("--matrix-max", type=float, default=4.0, help="largest matrix to try, GB (default 4)")
    parser.add_argument("--paths", nargs="+", default=["matrix_free", "matrix", "fourier", "fourier-rays"],
                        help="our paths to time; matrix_free first gives the ratio column its base")  # fmt: skip
    parser.add_argument("--peers", nargs="*", default=["skimage", "astra"], help="other projectors to time")
    parser.add_argument("--case", nargs=5, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    if args.case:
        kind, *nums = args.case
        print(json.dumps(run_case(kind, *(int(v) for v in nums))))
        return
    sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.sizes]
    print(machine())
    print()
    speed_table(sizes, args.batch, args.matrix_max * 2**30, args.paths, args.peers)
    print()
    print("\n".join(accuracy_table()))


if __name__ == "__main__":
    main()
