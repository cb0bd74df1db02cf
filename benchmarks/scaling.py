"""Slab-parallel scaling: in-process against a Dask LocalCluster of 1 and 2 workers.

Prints, for one synthetic Data Exchange file (``--size`` columns, ``--rows``
rows, ``--angles`` projections) reconstructed with ``--algorithm`` in slabs
of ``--slab`` rows, the wall time and slices per second of

* the in-process job (no cluster; torch uses every core),
* ``--cluster local`` with 1 worker (all cores) and with 2 workers (cores
  shared out),

all in the same run, each in a process of its own (a second cluster started
in the same process ran at half speed), with the cluster's start-up listed
apart. Each engine runs the job twice and the second run is timed: the
first pays for imports, compilation and projector set-up in each new worker
process (listed as ``first/s``). Then the
engine's own cost: seconds per empty slab (a task that returns an empty
array, submitted and gathered as the job does), over ``--empty`` tasks.

Usage: python benchmarks/scaling.py [--size 128] [--rows 16] [--angles 181] [--slab 2]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from _common import run_in_process


def _empty(i):
    return np.empty((0, 0, 0), np.float32)


def run_engine(workers: int, args) -> dict:
    """One engine's case in this process: ``workers=0`` is the in-process job."""
    from distributed import as_completed

    from tomopy_dl.distributed import connect
    from tomopy_dl.pipeline import recon_file
    from tomopy_dl.sim import write_example_dataexchange

    cores = os.cpu_count() or 1
    tmp = Path(tempfile.mkdtemp())
    try:
        scan = write_example_dataexchange(tmp / "scan.h5", size=args.size, rows=args.rows, n_angles=args.angles)
        job = dict(algorithm=args.algorithm, num_iter=args.num_iter, slab=args.slab, progress=False)
        out: dict = {}
        if workers == 0:
            for i, key in enumerate(("first", "wall")):
                t0 = time.perf_counter()
                recon_file(scan, tmp / f"out{i}", **job)
                out[key] = time.perf_counter() - t0
            return out
        t0 = time.perf_counter()
        with connect("local", workers=workers, threads_per_worker=max(1, cores // workers)) as client:
            out["start"] = time.perf_counter() - t0
            for i, key in enumerate(("first", "wall")):
                t0 = time.perf_counter()
                recon_file(scan, tmp / f"out{i}", client=client, **job)
                out[key] = time.perf_counter() - t0
            t0 = time.perf_counter()
            futures = [client.submit(_empty, i, pure=False) for i in range(args.empty)]
            for f in as_completed(futures):
                f.result()
            out["empty"] = (time.perf_counter() - t0) / args.empty
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--rows", type=int, default=16)
    parser.add_argument("--angles", type=int, default=181)
    parser.add_argument("--slab", type=int, default=2)
    parser.add_argument("--algorithm", default="sirt")
    parser.add_argument("--num-iter", type=int, default=150)
    parser.add_argument("--empty", type=int, default=200)
    parser.add_argument("--engine", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    logging.getLogger("distributed").setLevel(logging.ERROR)
    if args.engine is not None:
        print(json.dumps(run_engine(args.engine, args)))
        return

    import torch

    cores = os.cpu_count() or 1
    print(f"CPU: {platform.processor() or platform.machine()}, {cores} cores, torch {torch.__version__}")
    print(f"\n{args.rows} slices of {args.size} columns, {args.angles} projections, {args.algorithm} "
          f"{args.num_iter} iterations, slabs of {args.slab} rows; each engine in a process of its own")  # fmt: skip
    head = f"{'engine':<34} {'start/s':>8} {'first/s':>8} {'wall/s':>8} {'slices/s':>9} {'vs in-process':>14}"
    print(head + "\n" + "-" * len(head), flush=True)
    base = None
    empty = None
    for workers in (0, 1, 2):
        flags = [f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items() if k != "engine"]
        r = run_in_process(__file__, "--engine", str(workers), *flags)
        name = "in-process" if workers == 0 else f"LocalCluster {workers} worker(s) x {max(1, cores // workers)} thr"
        if isinstance(r, str):
            print(f"{name:<34} {r}")
            continue
        base = r["wall"] if workers == 0 else base
        start = f"{r['start']:>8.2f}" if "start" in r else f"{'-':>8}"
        ratio = base / r["wall"] if base else float("nan")
        print(f"{name:<34} {start} {r['first']:>8.2f} {r['wall']:>8.2f} {args.rows / r['wall']:>9.2f} {ratio:>14.2f}",
              flush=True)  # fmt: skip
        if workers == 2:
            empty = r["empty"]
    if empty is not None:
        print(f"\nengine overhead: {1000 * empty:.2f} ms per empty slab ({args.empty} tasks, 2 workers)")


if __name__ == "__main__":
    main()
