"""ducc0 against finufft on the Fourier projector's polar points (2048 x 1500, half spectrum), float32, 2 threads.

The library choice of ``tomopy_dl.physics.fourier``. finufft is a benchmark-only extra here
(``pip install finufft``). Prints plan, type-2 and type-1 seconds (best of 3) per library and setting,
and how far finufft's type 2 lies from ducc0's. With ``--torch``, also the project's own NUFFT in torch
(``tomopy_dl.physics.nufft.TorchNufft``, the one CUDA runs) on the CPU, on the same points.

Usage: python benchmarks/nufft_libraries.py [--torch]
"""

from __future__ import annotations

import argparse
import time

import ducc0
import finufft
import numpy as np

N, N_ANG, PADDED = 2048, 1500, 2500


def best(fn, repeats: int = 3) -> float:
    out = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out = min(out, time.perf_counter() - t0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--torch", action="store_true", help="also time tomopy_dl's torch NUFFT on the CPU")
    args = parser.parse_args()
    th = np.linspace(0, np.pi, N_ANG, endpoint=False)
    w = np.arange(PADDED // 2 + 1) / PADDED
    kx = (2 * np.pi * -np.sin(th)[:, None] * w).ravel().astype(np.float32)
    ky = (2 * np.pi * np.cos(th)[:, None] * w).ravel().astype(np.float32)
    img = np.random.default_rng(0).random((N, N)).astype(np.complex64)
    for eps in (1e-4, 1e-5):
        t0 = time.perf_counter()
        plan = ducc0.nufft.plan(nu2u=False, coord=np.stack([kx, ky], 1), grid_shape=(N, N), epsilon=eps, nthreads=2)
        built = time.perf_counter() - t0
        pts = plan.u2nu(grid=img, forward=True)
        out = np.empty((N, N), np.complex64)
        t2 = best(lambda: plan.u2nu(grid=img, forward=True))
        t1 = best(lambda: plan.nu2u(points=pts, forward=False, out=out))
        print(f"ducc0   eps {eps:g}: plan {built:.2f} s, type 2 {t2:.3f} s, type 1 {t1:.3f} s", flush=True)
        for up in (1.25, 2.0):
            t0 = time.perf_counter()
            p2 = finufft.Plan(2, (N, N), eps=eps, isign=-1, dtype="complex64", nthreads=2, upsampfac=up, modeord=0)
            p2.setpts(kx, ky)
            p1 = finufft.Plan(1, (N, N), eps=eps, isign=1, dtype="complex64", nthreads=2, upsampfac=up, modeord=0)
            p1.setpts(kx, ky)
            built = time.perf_counter() - t0
            err = np.linalg.norm(p2.execute(img) - pts) / np.linalg.norm(pts)
            t2, t1 = best(lambda: p2.execute(img)), best(lambda: p1.execute(pts))
            print(f"finufft eps {eps:g} upsampfac {up}: plans {built:.2f} s, type 2 {t2:.3f} s, type 1 {t1:.3f} s,"
                  f" {err:.1e} from ducc0", flush=True)  # fmt: skip
        if args.torch:
            _torch_row(np.stack([kx, ky], 1), img, pts, eps)


def _torch_row(coord: np.ndarray, img: np.ndarray, pts: np.ndarray, eps: float) -> None:
    import torch

    from tomopy_dl.physics.nufft import TorchNufft

    t0 = time.perf_counter()
    plan = TorchNufft(coord, (N, N), eps)
    built = time.perf_counter() - t0
    grid, points = torch.from_numpy(img), torch.from_numpy(pts)
    err = float((plan.type2(grid) - points).norm() / points.norm())
    t2, t1 = best(lambda: plan.type2(grid), 2), best(lambda: plan.type1(points), 2)
    print(f"torch   eps {eps:g} (width {plan.width}, CPU): plan {built:.2f} s, type 2 {t2:.3f} s, type 1 {t1:.3f} s,"
          f" {err:.1e} from ducc0", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
