"""Slab-parallel scaling: in-process against a Dask LocalCluster of 1 and 2 workers.

Prints, for one synthetic Data Exchange file (``--size`` columns, ``--rows``
rows, ``--angles`` projections) reconstructed with ``--algorithm`` in slabs
of ``--slab`` rows, the wall time and slices per second of

* the in-process job (no cluster; torch uses every core),
* ``--cluster local`` with 1 worker (all cores) and with 2 workers (cores
  shared out),

all in the same run, with the cluster's start-up listed apart. Each engine
runs the job twice and the second run is timed: the first pays for imports,
compilation and projector set-up in each new worker process (listed as
``first/s``). Then the
engine's own cost: seconds per empty slab (a task that returns an empty
array, submitted and gathered as the job does), over ``--empty`` tasks.

Usage: python benchmarks/scaling.py [--size 128] [--rows 16] [--angles 181] [--slab 2]
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


def _empty(i):
    return np.empty((0, 0, 0), np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--rows", type=int, default=16)
    parser.add_argument("--angles", type=int, default=181)
    parser.add_argument("--slab", type=int, default=2)
    parser.add_argument("--algorithm", default="sirt")
    parser.add_argument("--num-iter", type=int, default=50)
    parser.add_argument("--empty", type=int, default=200)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    logging.getLogger("distributed").setLevel(logging.ERROR)

    import torch
    from distributed import as_completed

    from tomopy_dl.distributed import connect
    from tomopy_dl.io import write_example_dataexchange
    from tomopy_dl.pipeline import recon_file

    cores = os.cpu_count() or 1
    print(f"CPU: {platform.processor() or platform.machine()}, {cores} cores, torch {torch.__version__}")
    tmp = Path(tempfile.mkdtemp())
    try:
        scan = write_example_dataexchange(tmp / "scan.h5", size=args.size, rows=args.rows, n_angles=args.angles)
        job = dict(algorithm=args.algorithm, num_iter=args.num_iter, slab=args.slab, progress=False)
        print(f"\n{args.rows} slices of {args.size} columns, {args.angles} projections, {args.algorithm} "
              f"{args.num_iter} iterations, slabs of {args.slab} rows")  # fmt: skip
        head = f"{'engine':<34} {'start/s':>8} {'first/s':>8} {'wall/s':>8} {'slices/s':>9} {'vs in-process':>14}"
        print(head + "\n" + "-" * len(head), flush=True)
        t0 = time.perf_counter()
        recon_file(scan, tmp / "warm", **job)
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        recon_file(scan, tmp / "serial", **job)
        base = time.perf_counter() - t0
        print(f"{'in-process':<34} {'-':>8} {first:>8.2f} {base:>8.2f} {args.rows / base:>9.2f} {1.0:>14.2f}",
              flush=True)  # fmt: skip
        for workers in (1, 2):
            t0 = time.perf_counter()
            with connect("local", workers=workers, threads_per_worker=max(1, cores // workers)) as client:
                start = time.perf_counter() - t0
                t1 = time.perf_counter()
                recon_file(scan, tmp / f"first{workers}", client=client, **job)
                first = time.perf_counter() - t1
                t1 = time.perf_counter()
                recon_file(scan, tmp / f"dist{workers}", client=client, **job)
                wall = time.perf_counter() - t1
                name = f"LocalCluster {workers} worker(s) x {max(1, cores // workers)} thr"
                print(f"{name:<34} {start:>8.2f} {first:>8.2f} {wall:>8.2f} {args.rows / wall:>9.2f}"
                      f" {base / wall:>14.2f}", flush=True)  # fmt: skip
                if workers == 2:
                    t1 = time.perf_counter()
                    futures = [client.submit(_empty, i, pure=False) for i in range(args.empty)]
                    for f in as_completed(futures):
                        f.result()
                    per = (time.perf_counter() - t1) / args.empty
                    print(f"\nengine overhead: {1000 * per:.2f} ms per empty slab ({args.empty} tasks, 2 workers)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
