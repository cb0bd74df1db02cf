"""Speed of the 3x3 median (impulse detection and the light despeckle filter of ``align_jitter``).

Prints nanoseconds per pixel, in the same run, of ``median3x3`` (the
column-sort rule, min/max only) and of the sorting of unfolded 3x3 windows
it replaced (``F.unfold`` then ``median``), on images of ``--sizes`` pixels a
side, ``--images`` images per call, best of ``--repeats``; and checks that
the two give the same values.

Usage: python benchmarks/filters.py [--sizes 512,2048] [--images 8] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch
import torch.nn.functional as F

from tomopy_dl.prep.filters import median3x3


def unfolded(images: torch.Tensor) -> torch.Tensor:
    n, rows, cols = images.shape
    padded = F.pad(images[:, None], (1, 1, 1, 1), mode="replicate")
    return F.unfold(padded, kernel_size=3).median(dim=1).values.view(n, rows, cols)


def best(f, x: torch.Tensor, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f(x)
        times.append(time.perf_counter() - t0)
    return min(times) / x.numel() * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="512,2048")
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")  # fmt: skip
    head = f"{'image':>11} {'images':>6} {'median3x3 ns/px':>15} {'unfold ns/px':>12} {'ratio':>6} {'equal':>5}"
    print(head + "\n" + "-" * len(head))
    for n in (int(s) for s in args.sizes.split(",")):
        x = torch.rand(args.images, n, n, generator=torch.Generator().manual_seed(0))
        fast, slow = best(median3x3, x, args.repeats), best(unfolded, x, args.repeats)
        same = bool(torch.equal(median3x3(x), unfolded(x)))
        print(f"{n:>5} x {n:<5} {args.images:>6} {fast:>15.1f} {slow:>12.1f} {slow / fast:>6.1f} {str(same):>5}")


if __name__ == "__main__":
    main()
