"""Projector speed and accuracy.

Prints two tables:

1. Forward and adjoint seconds per call at 256^2 x 180 and 512^2 x 360, on the
   CPU and on CUDA when available, for one slice and per slice in a batch,
   next to scikit-image's radon / unfiltered iradon (and tomopy.project when
   TomoPy is installed), measured in the same run. The one-time matrix build
   is listed separately; it is cached per geometry.
2. Relative L2 error against every projection fixture of real TomoPy 1.15.2.

Usage: python benchmarks/projector.py [--sizes 256x180 512x360] [--repeats 3]
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import torch

import tomopy_dl
from tomopy_dl.physics import ParallelBeamProjector, detector_width

SHARED = Path(os.environ.get("TOMOPY_DL_SHARED", Path(__file__).resolve().parents[2] / "shared"))


def timed(fn, repeats: int, sync=lambda: None) -> float:
    """Best wall time of ``fn()`` over ``repeats`` runs, after one warm-up."""
    fn()
    sync()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t0)
    return best


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    s = f"CPU: {cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads)"
    if torch.cuda.is_available():
        s += f"; GPU: {torch.cuda.get_device_name(0)}"
    return s


def speed_table(sizes: list[tuple[int, int]], repeats: int, batch: int) -> list[str]:
    from skimage.transform import iradon, radon

    try:
        import tomopy
    except ImportError:
        tomopy = None
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = [f"{'size':<12} {'method':<28} {'build/s':>8} {'forward/s':>10} {'adjoint/s':>10}"]
    for n, n_ang in sizes:
        theta = np.linspace(0, np.pi, n_ang, endpoint=False).astype(np.float32)
        n_det = detector_width(n, n)
        rng = np.random.default_rng(0)
        img = rng.random((n, n), dtype=np.float32)
        label = f"{n}^2x{n_ang}"
        for dev in devices:
            sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
            t0 = time.perf_counter()
            op = ParallelBeamProjector(theta, n_det, n, n, device=dev)
            sync()
            build = time.perf_counter() - t0
            for b in (1, batch):
                x = torch.from_numpy(np.repeat(img[None], b, 0)).to(dev)
                y = op(x)
                with torch.no_grad():
                    tf = timed(functools.partial(op, x), repeats, sync) / b
                    ta = timed(functools.partial(op.adjoint, y), repeats, sync) / b
                name = f"tomopy_dl {dev}" + (f" (batch {b}, per slice)" if b > 1 else "")
                rows.append(f"{label:<12} {name:<28} {build:>8.2f} {tf:>10.4f} {ta:>10.4f}")
            del op
        deg = np.rad2deg(theta)
        sino = radon(img, deg, circle=False)
        tf = timed(functools.partial(radon, img, deg, circle=False), max(1, repeats // 2))
        ta = timed(functools.partial(iradon, sino, deg, filter_name=None, circle=False), max(1, repeats // 2))
        rows.append(f"{label:<12} {'skimage radon / iradon(None)':<28} {'-':>8} {tf:>10.4f} {ta:>10.4f}")
        if tomopy is not None:
            obj = img[None]
            tf = timed(functools.partial(tomopy.project, obj, theta, pad=True), repeats)
            rows.append(f"{label:<12} {'tomopy.project':<28} {'-':>8} {tf:>10.4f} {'-':>10}")
    return rows


def accuracy_table() -> list[str]:
    path = SHARED / "data" / "tomopy_reference.npz"
    if not path.exists():
        return [f"(fixtures not found at {path})"]
    d = np.load(path)
    cases = [
        ("proj_pad", dict(theta=d["theta"])),
        ("proj_nopad", dict(theta=d["theta"], pad=False)),
        ("proj_off", dict(theta=d["theta"], center=d["center_off"])),
        ("proj_lim", dict(theta=d["theta_lim"])),
    ]
    rows = [f"{'fixture':<12} {'relative L2 error':>18}"]
    for key, kw in cases:
        out = tomopy_dl.project(d["obj"], device="cpu", **kw)
        err = np.linalg.norm(out - d[key]) / np.linalg.norm(d[key])
        rows.append(f"{key:<12} {err:>18.2e}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["256x180", "512x360"], help="NxANGLES")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=16, help="slices per batched call")
    args = parser.parse_args()
    sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.sizes]
    warnings.simplefilter("ignore", UserWarning)
    print(machine())
    print()
    print("\n".join(speed_table(sizes, args.repeats, args.batch)))
    print()
    print("\n".join(accuracy_table()))


if __name__ == "__main__":
    main()
