"""Peak memory of every algorithm on one beamline-size slice, and of a file job.

Prints three tables, every case in a process of its own (peak RSS is that
process's ``ru_maxrss``):

1. One slice, ``--size`` detector pixels and grid side (2048), ``--angles``
   projections over 0-180 degrees (1500), through ``tomopy_dl.recon`` with
   each algorithm. ``ganrec`` also runs on the projections within 0-120
   degrees, where its adversarial part works (on a full-range scan it
   returns its TV start). ``before MB`` is the peak RSS once the sinogram is
   loaded and the kernels compiled on a small case (Python, torch, the
   compiler's share and the input), ``peak MB`` the run's peak, and
   ``peak - before`` what the reconstruction itself adds. Peak memory does
   not depend on the number of iterations, so iterative algorithms run
   ``--iters`` of them (3) and the table gives seconds per iteration.
2. ``tomopy-dl recon`` on a Data Exchange file of ``--rows`` (64) rows of
   ``--size`` columns and ``--angles`` projections (uint16, with flats and
   darks), with ``fbp`` and the default slab; the CLI process's peak RSS.

3. ``align_jitter`` on a stack of ``--rows`` rows (the slice's sinogram,
   modulated along the rows, each projection moved by up to 10 px), clean
   and with 20% salt-and-pepper (which turns the median filters on):
   ``before MB`` is the peak RSS with the stack loaded.
4. ``tomopy-dl align`` (TIFF output) on a Data Exchange file of ``--align-rows`` (512)
   rows of that stack (uint16 counts, with flats and darks; 0 skips it):
   the CLI process's peak RSS, against the size of the file's projections
   as float32.

Usage: python benchmarks/memory.py [--size 2048] [--angles 1500] [--rows 64] [--align-rows 512] [--skip-recon]
[--skip-jitter] [--skip-file]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import rss_mb, run_in_process

ALGORITHMS = [("fbp", "0-180"), ("sirt", "0-180"), ("mlem", "0-180"), ("tv", "0-180"), ("ganrec", "0-180"),
              ("ganrec", "0-120")]  # fmt: skip


def phantom(n: int) -> np.ndarray:
    """Disks and a fine texture: a sample filling most of the field of view."""
    yy, xx = (np.mgrid[:n, :n] - n / 2) / (n / 2)
    img = (yy**2 + xx**2 < 0.8**2) * 1.0 + ((yy - 0.2) ** 2 + xx**2 < 0.2**2) * 0.5
    img += 0.1 * np.sin(40 * xx) * np.cos(37 * yy) * (yy**2 + xx**2 < 0.8**2)
    return img.astype(np.float32)


def make_sinogram(path: Path, n: int, n_ang: int) -> None:
    import tomopy_dl

    theta = np.linspace(0, np.pi, n_ang, endpoint=False).astype(np.float32)
    sino = tomopy_dl.project(phantom(n)[None], theta, pad=False, device="cpu")
    np.savez(path, sino=sino, theta=theta)


def run_algorithm(path: str, algorithm: str, wedge: str, iters: int) -> dict:
    import torch

    import tomopy_dl

    with np.load(path) as d:
        sino, theta = d["sino"], d["theta"]
    if wedge == "0-120":
        keep = theta <= np.deg2rad(120) + 1e-6
        sino, theta = np.ascontiguousarray(sino[keep]), theta[keep]
    kw: dict = {"progress": False, "device": "cpu"}
    if algorithm in ("sirt", "mlem", "tv"):
        kw["num_iter"] = iters
    if algorithm == "ganrec":
        kw.update(num_iter=iters, init_iter=iters, seed=0)
    # Compile (or load from the cache) the kernels on a small case first, so
    # the seconds are the work's; the peak still counts what compiling costs.
    # The budget routes the small case to the path the large one takes.
    from tomopy_dl.physics import DEFAULT_MEMORY_BUDGET, clear_projector_cache, estimate_matrix_bytes

    n_det = sino.shape[2]
    free = estimate_matrix_bytes(theta, n_det, n_det, n_det) > DEFAULT_MEMORY_BUDGET
    os.environ["TOMOPY_DL_PROJECTOR_BUDGET"] = "0" if free else "1GB"
    small = np.ascontiguousarray(sino[:: max(1, theta.size // 16), :, :: max(1, n_det // 64)])
    tomopy_dl.recon(small, theta[:: max(1, theta.size // 16)], algorithm=algorithm, **kw)
    os.environ.pop("TOMOPY_DL_PROJECTOR_BUDGET")
    clear_projector_cache()
    base = rss_mb()
    t0 = time.perf_counter()
    rec = tomopy_dl.recon(sino, theta, algorithm=algorithm, **kw)
    sec = time.perf_counter() - t0
    assert np.isfinite(rec).all()
    del rec
    return dict(base_mb=base, peak_mb=rss_mb(), seconds=sec, angles=int(theta.size), threads=torch.get_num_threads())


def make_stack(sino_path: Path, path: Path, rows: int, noise: str) -> None:
    """The sinogram's rows stacked with a vertical modulation, +-10 px column jitter, and noise."""
    from tomopy_dl.sim import add_salt_and_pepper

    with np.load(sino_path) as d:
        sino, theta = d["sino"][:, 0], d["theta"]
    rng = np.random.default_rng(0)
    mod = (1.0 + 0.3 * np.sin(np.arange(rows) / 5.0)).astype(np.float32)  # rows differ: row shifts are measurable
    prj = np.empty((sino.shape[0], rows, sino.shape[1]), np.float32)
    for i, line in enumerate(sino):
        prj[i] = np.roll(line, int(rng.integers(-10, 11)))[None, :] * mod[:, None]
    if noise == "s&p 20%":
        prj = add_salt_and_pepper(prj, 0.2, seed=1)
    np.savez(path, prj=prj, theta=theta)


def run_jitter(path: str) -> dict:
    import torch

    import tomopy_dl

    with np.load(path) as d:
        prj, theta = d["prj"], d["theta"]
    base = rss_mb()
    t0 = time.perf_counter()
    out, sx, sy, _ = tomopy_dl.align_jitter(prj, theta, progress=False, device="cpu")
    sec = time.perf_counter() - t0
    assert np.isfinite(out).all() and out.shape == prj.shape
    mb = prj.nbytes / 2**20
    return dict(base_mb=base, peak_mb=rss_mb(), seconds=sec, input_mb=mb, threads=torch.get_num_threads())


def make_file(path: Path, n: int, n_ang: int, rows: int) -> None:
    import h5py

    import tomopy_dl

    theta = np.linspace(0, 180, n_ang, endpoint=False)
    img = phantom(n)
    with h5py.File(path, "w") as f:
        data = f.create_dataset("exchange/data", (n_ang, rows, n), dtype=np.uint16, chunks=(1, rows, n))
        line = tomopy_dl.project(img[None], np.deg2rad(theta).astype(np.float32), pad=False, device="cpu")[:, 0]
        counts = (4.0e4 * np.exp(-0.01 * line)).astype(np.uint16)  # (angles, cols)
        for r in range(rows):
            data[:, r, :] = counts
        f["exchange/data_white"] = np.full((4, rows, n), 40000, np.uint16)
        f["exchange/data_dark"] = np.full((2, rows, n), 100, np.uint16)
        f["exchange/theta"] = theta


def make_jitter_file(sino_path: Path, path: Path, rows: int) -> None:
    """A Data Exchange file of make_stack's clean projections as uint16 counts, written a projection at a time."""
    import h5py

    with np.load(sino_path) as d:
        sino, theta = d["sino"][:, 0], d["theta"]
    rng = np.random.default_rng(0)
    mod = (1.0 + 0.3 * np.sin(np.arange(rows) / 5.0)).astype(np.float32)
    with h5py.File(path, "w") as f:
        data = f.create_dataset("exchange/data", (theta.size, rows, sino.shape[1]), dtype=np.uint16,
                                chunks=(1, rows, sino.shape[1]))  # fmt: skip
        for i, line in enumerate(sino):
            prj = np.roll(line, int(rng.integers(-10, 11)))[None, :] * mod[:, None]
            data[i] = (4.0e4 * np.exp(-0.01 * prj)).astype(np.uint16)
        f["exchange/data_white"] = np.full((4, rows, sino.shape[1]), 40000, np.uint16)
        f["exchange/data_dark"] = np.full((2, rows, sino.shape[1]), 100, np.uint16)
        f["exchange/theta"] = np.rad2deg(theta.astype(np.float64))


def run_file(path: str, out: str, command: str = "recon") -> dict:
    # The CLI of the tomopy_dl this script imports (a checkout on PYTHONPATH, for a before/after run).
    cli = [sys.executable, "-c", "import sys; from tomopy_dl.cli import main; sys.exit(main())"]
    more = ["--algorithm", "fbp"] if command == "recon" else []
    t0 = time.perf_counter()
    proc = subprocess.run([*cli, command, path, "--out", out, *more, "--no-progress"], capture_output=True, text=True)
    sec = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(proc.stderr.strip()[-300:])
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    params = json.loads((Path(out) / "params.json").read_text())
    return dict(peak_mb=peak, seconds=sec, slab=params.get("slab"), files=len(params["files"]))


def child(*args: str) -> dict | str:
    return run_in_process(__file__, "--case", *args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--angles", type=int, default=1500)
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--align-rows", type=int, default=512)
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--skip-file", action="store_true")
    parser.add_argument("--skip-recon", action="store_true")
    parser.add_argument("--skip-jitter", action="store_true")
    parser.add_argument("--case", nargs="+", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        kind, *rest = args.case
        if kind == "algorithm":
            print(json.dumps(run_algorithm(rest[0], rest[1], rest[2], int(rest[3]))))
        elif kind == "jitter":
            print(json.dumps(run_jitter(rest[0])))
        else:
            print(json.dumps(run_file(*rest)))
        return
    import torch

    print(f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        sino = Path(tmp) / "sino.npz"
        make_sinogram(sino, args.size, args.angles)
        if not args.skip_recon:
            print(f"\none slice {args.size}x{args.size}, {args.angles} angles, {args.iters} iterations (ganrec: "
                  f"init_iter={args.iters}, num_iter={args.iters})")  # fmt: skip
            head = (f"{'algorithm':<10} {'wedge':<6} {'angles':>6} {'before MB':>9} {'peak MB':>8} {'peak-before':>11}"
                    f" {'s/iter':>8}")  # fmt: skip
            print(head + "\n" + "-" * len(head), flush=True)
            for algorithm, wedge in ALGORITHMS:
                r = child("algorithm", str(sino), algorithm, wedge, str(args.iters))
                if isinstance(r, str):
                    print(f"{algorithm:<10} {wedge:<6} {r}", flush=True)
                    continue
                n_it = 1 if algorithm == "fbp" else (2 * args.iters if algorithm == "ganrec" else args.iters)
                per = r["seconds"] / n_it
                print(f"{algorithm:<10} {wedge:<6} {r['angles']:>6} {r['base_mb']:>9.0f} {r['peak_mb']:>8.0f}"
                      f" {r['peak_mb'] - r['base_mb']:>11.0f} {per:>8.2f}", flush=True)  # fmt: skip
        if not args.skip_jitter:
            print(f"\nalign_jitter on {args.rows} rows x {args.size} cols x {args.angles} projections, float32,"
                  " +-10 px column jitter (defaults: work_size 256, 2 passes)")  # fmt: skip
            head = f"{'noise':<8} {'input MB':>8} {'before MB':>9} {'peak MB':>8} {'peak-before':>11} {'s':>7}"
            print(head + "\n" + "-" * len(head), flush=True)
            for noise in ("none", "s&p 20%"):
                stack = Path(tmp) / "stack.npz"
                make_stack(sino, stack, args.rows, noise)
                r = child("jitter", str(stack))
                stack.unlink()
                if isinstance(r, str):
                    print(f"{noise:<8} {r}", flush=True)
                    continue
                print(f"{noise:<8} {r['input_mb']:>8.0f} {r['base_mb']:>9.0f} {r['peak_mb']:>8.0f}"
                      f" {r['peak_mb'] - r['base_mb']:>11.0f} {r['seconds']:>7.1f}", flush=True)  # fmt: skip
        if args.skip_file:
            return
        if args.align_rows:
            h5 = Path(tmp) / "jitter.h5"
            make_jitter_file(sino, h5, args.align_rows)
            r = child("file", str(h5), str(Path(tmp) / "aligned"), "align")
            shutil.rmtree(Path(tmp) / "aligned", ignore_errors=True)
            gb = 4 * args.angles * args.align_rows * args.size / 2**30
            print(f"\ntomopy-dl align, {args.align_rows} rows x {args.size} cols x {args.angles} projections "
                  f"({h5.stat().st_size / 2**30:.1f} GB file, {gb:.1f} GB as float32)")  # fmt: skip
            print(r if isinstance(r, str) else f"peak RSS {r['peak_mb']:.0f} MB, {r['seconds']:.0f} s", flush=True)
            h5.unlink()
        h5 = Path(tmp) / "scan.h5"
        make_file(h5, args.size, args.angles, args.rows)
        r = child("file", str(h5), str(Path(tmp) / "out"))
        print(f"\ntomopy-dl recon --algorithm fbp, {args.rows} rows x {args.size} cols x {args.angles} projections "
              f"({h5.stat().st_size / 2**20:.0f} MB file)")  # fmt: skip
        if isinstance(r, str):
            print(r)
        else:
            print(f"slab {r['slab']} rows, {r['files']} slices written, peak RSS {r['peak_mb']:.0f} MB, "
                  f"{r['seconds']:.0f} s")  # fmt: skip


if __name__ == "__main__":
    main()
