"""The ``tomopy-dl`` command line."""

from __future__ import annotations

import argparse
import logging
import signal
import sys

import numpy as np

from . import __version__
from .solvers.table import ALGORITHMS, PROJECTOR, default_iterations

__all__ = ["main"]


def _iterations_help() -> str:
    """Each algorithm's default iterations, from the algorithm table."""
    parts = [f"{name} {n}" for name in ALGORITHMS if (n := default_iterations(name)) is not None]
    return "iterations (default: " + ", ".join(parts) + ")"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tomopy-dl", description="Deep-learning tomography for TomoPy pipelines.")
    parser.add_argument("--version", action="version", version=f"tomopy-dl {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress messages")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser(
        "demo",
        help="reconstruct a built-in missing-wedge example and compare methods",
        description="Simulate a limited-angle scan of a Shepp-Logan phantom, reconstruct it with every "
        "available method, print SSIM/PSNR and write a PNG figure and TIFF images.",
    )
    demo.add_argument("--out", required=True, help="output folder (created if missing)")
    demo.add_argument("--size", type=int, default=128, help="phantom side in pixels (default 128)")
    demo.add_argument("--max-angle", type=float, default=120.0, help="scan range 0..MAX degrees (default 120)")
    demo.add_argument("--angles", type=int, default=121, help="number of projections (default 121)")
    demo.add_argument("--photons", type=float, default=1e5, help="photons per pixel for Poisson noise; 0 for none")
    demo.add_argument(
        "--num-iter",
        type=int,
        default=None,
        help=f"iterations of sirt and mlem (default {default_iterations('sirt')})",
    )
    demo.add_argument(
        "--ganrec-iter",
        type=int,
        default=None,
        help=f"iterations of ganrec (default {default_iterations('ganrec')})",
    )
    demo.add_argument("--seed", type=int, default=0, help="seed of the noise and of ganrec (default 0)")
    demo.add_argument("--device", default=None, help="cpu, cuda or gpu (default: cuda when available)")
    demo.add_argument("--overwrite", action="store_true", help="replace results already in --out")
    demo.add_argument("--no-progress", action="store_true", help="hide progress bars")

    train = sub.add_parser(
        "train-jitter",
        help="train the align_jitter network on synthetic scans",
        description="Train the jitter-estimation ResNet on random synthetic objects, checkpointing every epoch. "
        "The result, OUT/jitter_resnet.pt with its .json record, is what align_jitter(weights=...) loads.",
    )
    train.add_argument("--out", required=True, help="output folder for checkpoints and weights")
    train.add_argument("--device", default=None, help="cpu, cuda or gpu (default: cuda when available)")
    train.add_argument("--epochs", type=int, default=None, help="epochs (default 16)")
    train.add_argument("--steps", type=int, default=None, help="optimiser steps per epoch (default 250)")
    train.add_argument("--batch-size", type=int, default=None, help="pairs per step (default 64)")
    train.add_argument("--size", type=int, default=None, help="network input side in pixels (default 96)")
    train.add_argument("--widths", default=None, help="comma-separated object widths in pixels (default 64,96,128)")
    train.add_argument("--seed", type=int, default=None, help="data and initialisation seed (default 0)")
    train.add_argument(
        "--stop-after",
        type=int,
        default=None,
        help="stop after this many epochs in this call; continue later with --resume",
    )
    train.add_argument(
        "--families",
        default=None,
        help="comma-separated object families (default solid,hollow,porous,layered); "
        "volume:PATH adds random blocks of your own reconstruction (.npy or .tif)",
    )
    train.add_argument(
        "--init-weights", default=None, help="fine-tune from these weights ('shipped' for the package's)"
    )
    train.add_argument("--lr", type=float, default=None, help="peak learning rate (default 1e-3)")
    train.add_argument(
        "--reference",
        default=None,
        choices=["full", "held_out"],
        help="what each projection is compared with: the full reprojection (default) or the held-out one "
        "(align_jitter reads rows against it)",
    )
    train.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    train.add_argument("--overwrite", action="store_true", help="start afresh even if --out holds a run")
    train.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    rec = sub.add_parser(
        "recon",
        help="reconstruct a Data Exchange HDF5 file",
        description="Read INPUT (Data Exchange HDF5) through dxchange, normalise with flats and darks, take -log, "
        "reconstruct, and write a TIFF stack (or HDF5) plus params.json into --out.",
    )
    rec.add_argument("input", help="Data Exchange HDF5 file")
    rec.add_argument("--out", required=True, help="output folder (must not exist unless --overwrite)")
    rec.add_argument(
        "--algorithm",
        default="sirt",
        choices=tuple(ALGORITHMS),
        help="; ".join(f"{name}: {spec.summary}" for name, spec in ALGORITHMS.items()) + " (default sirt)",
    )
    rec.add_argument("--num-iter", type=int, default=None, help=_iterations_help())
    rec.add_argument("--angles", default=None, help="angle range in degrees to keep, e.g. 0:120")
    rec.add_argument(
        "--theta-range",
        default=None,
        help="first:last angle in degrees of evenly spaced projections, overriding the file's (e.g. 0:180)",
    )
    rec.add_argument("--seed", type=int, default=0, help="ganrec's seed (default 0)")
    rec.add_argument(
        "--slab", type=int, default=None, help="detector rows reconstructed at once (default: 256 MB of projections)"
    )
    rec.add_argument(
        "--cluster",
        default=None,
        help="run the slabs on Dask: 'local' (worker processes here) or a scheduler address tcp://HOST:PORT "
        "(default: in this process)",
    )
    rec.add_argument("--workers", type=int, default=None, help="worker processes of --cluster local (default 2)")
    align = sub.add_parser(
        "align",
        help="correct projection jitter of a Data Exchange HDF5 file",
        description="Read INPUT through dxchange, normalise, take -log, correct jitter with align_jitter, and "
        "write the corrected projections, shifts.csv and params.json into --out.",
    )
    align.add_argument("input", help="Data Exchange HDF5 file")
    align.add_argument("--out", required=True, help="output folder (must not exist unless --overwrite)")
    align.add_argument("--iters", type=int, default=None, help="passes (default: align_jitter's)")
    align.add_argument("--axes", default="both", choices=["both", "row", "col"], help="which shifts to correct")
    align.add_argument("--weights", default=None, help="weights from train-jitter (default: the shipped ones)")
    rec.add_argument(
        "--center",
        default="auto",
        help="rotation axis in pixels, or 'auto': found from the data by Vo's method, logged and written to "
        "params.json (default auto; a centre given is checked against it)",
    )
    rec.add_argument(
        "--center-scan",
        default=None,
        metavar="START:STOP:STEP",
        help="instead of the volume: the middle row (or the first of --slices) reconstructed about each centre "
        "from START to STOP, one TIFF per centre and contact_sheet.png, for you to pick from",
    )
    align.add_argument(
        "--center", type=float, default=None, help="rotation axis in pixels, refined (default: found from the data)"
    )
    for p in (rec, align):
        p.add_argument(
            "--projector",
            default=PROJECTOR.default,
            choices=PROJECTOR.choices,
            help=f"{PROJECTOR.help} (default {PROJECTOR.default})",
        )
        p.add_argument("--slices", default=None, help="detector rows START:STOP (default: all)")
        p.add_argument("--device", default=None, help="cpu, cuda or gpu (default: cuda when available)")
        p.add_argument("--format", default="tiff", choices=["tiff", "h5"], help="output format (default tiff)")
        p.add_argument(
            "--overwrite", action="store_true", help="replace an --out that tomopy-dl wrote (and a partial run)"
        )
        p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return parser


def _range(text: str | None, name: str, kind=float):
    if text is None:
        return None
    try:
        lo, hi = (kind(v) for v in text.split(":"))
    except ValueError:
        raise ValueError(f"--{name} must look like START:STOP, got {text!r}") from None
    if not lo < hi:
        raise ValueError(f"--{name} START must be below STOP, got {text!r}")
    return lo, hi


def _scan(text: str) -> np.ndarray:
    """``START:STOP:STEP`` as the centres from START to STOP (included) STEP apart."""
    try:
        lo, hi, step = (float(v) for v in text.split(":"))
    except ValueError:
        raise ValueError(f"--center-scan must look like START:STOP:STEP, e.g. 290:300:0.5; got {text!r}") from None
    if not (lo < hi and step > 0) or (hi - lo) / step > 200:
        raise ValueError(f"--center-scan needs START < STOP and 0 < STEP, at most 200 centres; got {text!r}")
    return lo + step * np.arange(int(np.floor((hi - lo) / step + 1e-9)) + 1)


def _center(text):
    """``--center``: 'auto', a number, or None (align's default)."""
    if text is None or str(text).lower() == "auto":
        return text if text is None else "auto"
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"--center must be a number of pixels or 'auto', got {text!r}") from None


def _center_scan(args) -> int:
    from .pipeline import center_scan

    rows = _range(args.slices, "slices", int)
    options = {"projector": args.projector, **({"num_iter": args.num_iter} if args.num_iter is not None else {})}
    if args.device is not None:
        options["device"] = args.device
    params = center_scan(args.input, args.out, _scan(args.center_scan), row=None if rows is None else rows[0],
                         algorithm=args.algorithm, theta_range=_range(args.theta_range, "theta-range"),
                         overwrite=args.overwrite, progress=not args.no_progress, **options)  # fmt: skip
    print(f"wrote {len(params['files'])} file(s) and params.json to {args.out} in {params['seconds']:.1f} s"
          + ("" if params["center_found"] is None else f"; the axis found from the data: {params['center_found']:.2f}"))
    return 0


def _dask_loggers(level: int) -> None:
    for name in [n for n in logging.root.manager.loggerDict if n.split(".")[0] == "distributed"]:
        logging.getLogger(name).setLevel(level)


def _recon_on_cluster(args, job: dict) -> dict:
    from .distributed import connect
    from .pipeline import SchedulerLost, recon_file

    try:
        import distributed  # noqa: F401  (its import sets its loggers to INFO)
    except ImportError:
        pass  # connect() says how to install it

    if not args.verbose:  # the command line shows Dask's warnings and errors only
        _dask_loggers(logging.WARNING)
    with connect(args.cluster, workers=args.workers) as client:
        try:
            return recon_file(args.input, args.out, client=client, **job)
        except SchedulerLost:
            # Said in one line by the caller; the client's own reports of it, as it gives up, are noise.
            _dask_loggers(logging.CRITICAL)
            raise


def _file_job(args) -> int:
    from .pipeline import SlabFailures, align_file, recon_file

    try:
        if args.command == "recon" and args.center_scan is not None:
            return _center_scan(args)
        common = dict(
            center=_center(args.center),
            slices=_range(args.slices, "slices", int),
            device=args.device,
            projector=args.projector,
            fmt=args.format,
            overwrite=args.overwrite,
            progress=not args.no_progress,
        )
        if args.command == "recon":
            job = dict(
                algorithm=args.algorithm,
                num_iter=args.num_iter,
                angles=_range(args.angles, "angles"),
                seed=args.seed,
                slab=args.slab,
                theta_range=_range(args.theta_range, "theta-range"),
                **common,
            )
            if args.cluster is None:
                if args.workers is not None:
                    raise ValueError("--workers needs --cluster local")
                params = recon_file(args.input, args.out, **job)
            else:
                params = _recon_on_cluster(args, job)
        else:
            params = align_file(args.input, args.out, iters=args.iters, axes=args.axes, weights=args.weights, **common)
    except (OSError, ValueError, ImportError, SlabFailures) as exc:  # OSError: exists, missing, permission, disk
        print(f"tomopy-dl {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before the job's output was opened
        print(f"tomopy-dl {args.command}: interrupted; no output was written", file=sys.stderr)
        return 130
    except SystemExit as exc:  # SIGTERM or SIGINT while the output was open (io.output.OutputDir)
        if not (isinstance(exc.code, int) and exc.code > 128):
            raise
        kept = "the finished slabs are kept: rerun the same command to resume" if args.command == "recon" else (
            "no output was written")  # fmt: skip
        print(f"tomopy-dl {args.command}: stopped by {signal.Signals(exc.code - 128).name}; {kept}", file=sys.stderr)
        return exc.code
    print(
        f"wrote {len(params['files'])} file(s), shifts and params.json to {args.out} in {params['seconds']:.1f} s"
        if args.command == "align"
        else f"wrote {len(params['files'])} file(s) and params.json to {args.out} in {params['seconds']:.1f} s"
    )
    return 0


def _train_jitter(args) -> int:
    from .training import JitterTrainingConfig, train_jitter

    changes = {}
    for flag, key in (
        ("epochs", "epochs"),
        ("steps", "steps_per_epoch"),
        ("batch_size", "batch_size"),
        ("size", "input_size"),
        ("seed", "seed"),
    ):
        value = getattr(args, flag)
        if value is not None:
            if value < (0 if flag == "seed" else 1):
                print(f"tomopy-dl train-jitter: --{flag.replace('_', '-')} must be positive", file=sys.stderr)
                return 2
            changes[key] = value
    if args.widths is not None:
        try:
            changes["widths"] = tuple(int(w) for w in args.widths.split(","))
        except ValueError:
            print(
                f"tomopy-dl train-jitter: --widths must be integers like 64,96,128, got {args.widths!r}",
                file=sys.stderr,
            )
            return 2
    if args.families is not None:
        changes["families"] = tuple(f.strip() for f in args.families.split(",") if f.strip())
    if args.lr is not None:
        if not args.lr > 0:
            print(f"tomopy-dl train-jitter: --lr must be positive, got {args.lr}", file=sys.stderr)
            return 2
        changes["lr"] = args.lr
    if args.reference is not None:
        changes["reference"] = args.reference
    cfg = JitterTrainingConfig(**changes) if (changes or not args.resume) else None
    try:
        meta = train_jitter(
            args.out,
            cfg,
            device=args.device,
            resume=args.resume,
            overwrite=args.overwrite,
            progress=not args.no_progress,
            stop_after=args.stop_after,
            init_weights=args.init_weights,
        )
    except (FileExistsError, FileNotFoundError, ValueError) as exc:
        print(f"tomopy-dl train-jitter: {exc}", file=sys.stderr)
        return 2
    if meta is None:
        print(
            f"stopped after {args.stop_after} epoch(s); continue with: tomopy-dl train-jitter --out {args.out} --resume"
        )
        return 0
    val = meta["validation_rmse_network_px"] or {}
    print(
        f"validation RMSE (network pixels, one pass, held-out families): "
        f"row {val.get('row', float('nan')):.3f}, col {val.get('col', float('nan')):.3f}"
    )
    print(f"wrote {args.out}/jitter_resnet.pt and its .json record")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(name)s: %(message)s")
    if args.command == "demo":
        from .demo import format_table, run_demo

        for name in ("size", "angles", "num_iter", "ganrec_iter"):
            value = getattr(args, name)
            if value is not None and value < (2 if name in ("size", "angles") else 1):
                flag = "--" + name.replace("_", "-")
                print(
                    f"tomopy-dl demo: {flag} must be at least {2 if name in ('size', 'angles') else 1}", file=sys.stderr
                )
                return 2
        try:
            rows = run_demo(
                args.out,
                size=args.size,
                max_angle=args.max_angle,
                n_angles=args.angles,
                photons=args.photons,
                num_iter=args.num_iter,
                ganrec_iter=args.ganrec_iter,
                seed=args.seed,
                device=args.device,
                overwrite=args.overwrite,
                progress=not args.no_progress,
            )
        except (FileExistsError, ValueError) as exc:
            print(f"tomopy-dl demo: {exc}", file=sys.stderr)
            return 2
        print(format_table(rows))
        print(f"\nwrote comparison.png, scores.csv and TIFF images to {args.out}")
    elif args.command == "train-jitter":
        return _train_jitter(args)
    elif args.command in ("recon", "align"):
        return _file_job(args)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
