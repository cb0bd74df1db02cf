"""Two runs of ``limited_angle.py`` side by side: held-out error and SSIM per case and method, and their ratio.

Reads the outputs as printed (the rows under the ``data geometry method``
header; a file may hold several runs' outputs, one after the other) and
prints, for every (data, geometry, method) found in both, the held-out error
of each run, the second over the first, and both SSIMs; then per method the
geometric mean of the ratio and how many cases lie within ``--within`` (2%)
of the first run. Written for the projector comparison: ``limited_angle.py
--projector siddon > a.txt``, ``--projector fourier > b.txt``, then
``python benchmarks/compare_runs.py a.txt b.txt``.

Usage: python benchmarks/compare_runs.py FIRST SECOND [--names siddon fourier] [--within 0.02]
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np

_ROW = re.compile(r"^(\S+)\s+(\S+)\s+(.+?)\s+(\d+\.\d{4})\s+(-?\d+\.\d{3})\s")


def read_rows(path: Path) -> dict[tuple[str, str, str], tuple[float, float]]:
    """``{(data, geometry, method): (held-out, SSIM)}`` from the row table of one output."""
    rows, inside = {}, False
    for line in Path(path).read_text().splitlines():
        if line.startswith("data ") and "held-out" in line:
            inside = True
            continue
        if inside and not line.strip():
            inside = False  # the table ends here; a file of several runs (concatenated outputs) has more
            continue
        m = _ROW.match(line) if inside else None
        if m:
            rows[(m[1], m[2], m[3].strip())] = (float(m[4]), float(m[5]))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path)
    parser.add_argument("--names", nargs=2, default=["first", "second"])
    parser.add_argument("--within", type=float, default=0.02)
    args = parser.parse_args()
    a, b = read_rows(args.first), read_rows(args.second)
    keys = [k for k in a if k in b]
    if not keys:
        raise SystemExit("no (data, geometry, method) rows in common")
    n1, n2 = args.names
    head = (f"{'data':<9} {'geometry':<8} {'method':<17} {'held ' + n1:>14} {'held ' + n2:>14} {'ratio':>6} "
            f"{'SSIM ' + n1:>13} {'SSIM ' + n2:>13}")  # fmt: skip
    print(head + "\n" + "-" * len(head))
    ratios: dict[str, list[float]] = {}
    for key in keys:
        (h1, s1), (h2, s2) = a[key], b[key]
        ratios.setdefault(key[2], []).append(h2 / h1)
        print(f"{key[0]:<9} {key[1]:<8} {key[2]:<17} {h1:>14.4f} {h2:>14.4f} {h2 / h1:>6.3f} {s1:>13.3f} {s2:>13.3f}")
    print(f"\nper method: geometric mean of held-out {n2} / {n1}, cases within {args.within:.0%} (or better)")
    for method, r in ratios.items():
        r = np.asarray(r)
        print(f"  {method:<17} {np.exp(np.log(r).mean()):.3f}  {int((r <= 1 + args.within).sum())} of {r.size}"
              f"  (range {r.min():.3f}-{r.max():.3f})")  # fmt: skip


if __name__ == "__main__":
    main()
