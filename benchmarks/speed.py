"""GANrec speed.

Prints:
* iterations per second for one slice at 128^2 and 256^2 (180 angles over
  0-120 degrees: a missing wedge, which the default mode's discriminator
  judges; with none it returns its TV start and has no iterations), per
  mode, on the CPU and on CUDA when available (per-iteration cost from the
  difference of two run lengths, so set-up and the starting image are excluded);
* slice-iterations per second when several slices are fitted together;
* seconds for a volume of N slices of 256^2 with warm start (N=128 on a GPU;
  fewer by default on the CPU, stated in the table);
* the upstream torch port (PyPI ganrec 0.3.0, ganrectorch.GANtomo) at 256 px
  and 120 angles (over 0-120 degrees) in the same run, when it is importable.

Usage: python benchmarks/speed.py [--volume-slices N]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import torch

from tomopy_dl.physics import detector_width, get_projector
from tomopy_dl.sim import shepp_logan
from tomopy_dl.solvers import ganrec


def sync(dev):
    if dev == "cuda":
        torch.cuda.synchronize()


WEDGE = 120.0  # degrees measured in every case below


def sino_for(n: int, n_ang: int, dev: str, slices: int = 1, max_angle: float = WEDGE):
    theta = np.deg2rad(np.linspace(0, max_angle, n_ang, endpoint=False)).astype(np.float32)
    op = get_projector(theta, detector_width(n, n), n, n, device=dev)
    img = torch.from_numpy(np.repeat(shepp_logan(n)[None], slices, 0)).to(dev)
    return op, op(img)


def per_iteration(op, sino, dev, mode, short=10, long=40, **kw) -> float:
    times = []
    for n in (short, long):
        ganrec(sino, op, num_iter=n, mode=mode, **kw)  # warm-up at this length
        sync(dev)
        t0 = time.perf_counter()
        ganrec(sino, op, num_iter=n, mode=mode, **kw)
        sync(dev)
        times.append(time.perf_counter() - t0)
    return (times[1] - times[0]) / (long - short)


def upstream(n: int = 256, n_ang: int = 120) -> str:
    # ganrec 0.3.0 imports torchvision, whose CPU build breaks against CPU
    # torch unless registering its fake ops is skipped.
    real = torch.library.register_fake
    try:

        def safe(op, *a, **k):
            if isinstance(op, str) and op.startswith("torchvision::"):
                return lambda f: f
            return real(op, *a, **k)

        torch.library.register_fake = safe
        from ganrectorch import GANtomo  # type: ignore  # PyPI ganrec 0.3.0 installs this module
    except Exception as exc:  # not installed here
        return f"upstream ganrec 0.3.0: not measured ({type(exc).__name__}: {exc})"
    finally:
        torch.library.register_fake = real
    theta = np.deg2rad(np.linspace(0, WEDGE, n_ang, endpoint=False)).astype(np.float32)
    sino = np.random.default_rng(0).random((n_ang, n)).astype(np.float32)
    times = []
    GANtomo(sino, theta, iter_num=2, recon_monitor=False).recon()  # warm-up: first-call costs
    for iters in (3, 8):
        model = GANtomo(sino, theta, iter_num=iters, recon_monitor=False)
        t0 = time.perf_counter()
        model.recon()
        times.append(time.perf_counter() - t0)
    theirs = (times[1] - times[0]) / 5
    lines = [f"upstream ganrec 0.3.0 GANtomo {n}px/{n_ang} angles: {theirs:.3f} s/iteration ({1 / theirs:.2f} it/s)"]
    op, ours_sino = sino_for(n, n_ang, "cpu")
    for mode in ("ours", "faithful"):
        t = per_iteration(op, ours_sino, "cpu", mode)
        lines.append(
            f"tomopy_dl ganrec {mode} {n}px/{n_ang} angles: {t:.3f} s/iteration ({1 / t:.2f} it/s), "
            f"{theirs / t:.1f}x upstream's iterations per second"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--volume-slices", type=int, default=None)
    parser.add_argument("--batch", type=int, default=None, help="slices per batch (default 4 CPU, 16 GPU)")
    parser.add_argument("--upstream-only", action="store_true", help="only the comparison with ganrec 0.3.0")
    args = parser.parse_args()
    if args.upstream_only:
        print(f"CPU, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads)")
        print(upstream())
        return
    warnings.simplefilter("ignore", UserWarning)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(
        f"CPU, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads)"
        + (f"; GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "")
    )
    print()
    print(f"{'device':<6} {'case':<46} {'s/it':>8} {'it/s':>8}")
    for dev in devices:
        for n in (128, 256):
            op, sino = sino_for(n, 180, dev)
            for mode in ("ours", "faithful"):
                t = per_iteration(op, sino, dev, mode)
                print(
                    f"{dev:<6} {f'one slice {n}^2, 180 angles/120 deg, {mode}':<46} {t:>8.4f} {1 / t:>8.1f}", flush=True
                )
        batch = args.batch or (16 if dev == "cuda" else 4)
        op, sino = sino_for(256, 180, dev, slices=batch)
        t = per_iteration(op, sino, dev, "ours", batch_size=batch)
        print(
            f"{dev:<6} {f'batch of {batch} x 256^2, ours (slice-it/s)':<46} {t / batch:>8.4f} {batch / t:>8.1f}",
            flush=True,
        )
        n_vol = args.volume_slices or (128 if dev == "cuda" else 8)
        vol_batch = batch if dev == "cuda" else 1
        op, sino = sino_for(256, 180, dev, slices=n_vol)
        t0 = time.perf_counter()
        ganrec(sino, op, num_iter=300, warm_iter=75, batch_size=vol_batch)
        sync(dev)
        label = f"volume {n_vol} x 256^2, batch {vol_batch}, 300+75 warm (s)"
        print(f"{dev:<6} {label:<46} {time.perf_counter() - t0:>8.1f}", flush=True)
    print()
    print(upstream())


if __name__ == "__main__":
    main()
