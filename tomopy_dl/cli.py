"""The ``tomopy-dl`` command line."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import __version__
from .io.output import FORMATS
from .solvers.table import ALGORITHMS, PROJECTOR, default_iterations

__all__ = ["main", "COMMANDS"]

_DEVICE_HELP = "cpu, cuda or gpu (default: cuda when available)"


def _iterations_help() -> str:
    """Each algorithm's default iterations, from the algorithm table."""
    parts = [f"{name} {n}" for name in ALGORITHMS if (n := default_iterations(name)) is not None]
    return "iterations (default: " + ", ".join(parts) + ")"


def _demo_arguments(demo: argparse.ArgumentParser) -> None:
    demo.add_argument("--out", required=True, help="output folder (created if missing)")
    demo.add_argument("--size", type=int, default=128, help="phantom side in pixels (default 128)")
    demo.add_argument("--max-angle", type=float, default=120.0, help="scan range 0..MAX degrees (default 120)")
    demo.add_argument("--angles", type=int, default=121, help="number of projections (default 121)")
    demo.add_argument("--photons", type=float, default=1e5, help="photons per pixel for Poisson noise; 0 for none")
    demo.add_argument("--num-iter", type=int, default=None,
                      help=f"iterations of sirt and mlem (default {default_iterations('sirt')})")  # fmt: skip
    demo.add_argument("--ganrec-iter", type=int, default=None,
                      help=f"iterations of ganrec (default {default_iterations('ganrec')})")  # fmt: skip
    demo.add_argument("--seed", type=int, default=0, help="seed of the noise and of ganrec (default 0)")
    demo.add_argument("--device", default=None, help=_DEVICE_HELP)
    demo.add_argument("--overwrite", action="store_true", help="replace results already in --out")
    demo.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _train_arguments(train: argparse.ArgumentParser) -> None:
    train.add_argument("--out", required=True, help="output folder for checkpoints and weights")
    train.add_argument("--device", default=None, help=_DEVICE_HELP)
    train.add_argument("--epochs", type=int, default=None, help="epochs (default 16)")
    train.add_argument("--steps", type=int, default=None, help="optimiser steps per epoch (default 250)")
    train.add_argument("--batch-size", type=int, default=None, help="pairs per step (default 64)")
    train.add_argument("--size", type=int, default=None, help="network input side in pixels (default 96)")
    train.add_argument("--widths", default=None, help="comma-separated object widths in pixels (default 64,96,128)")
    train.add_argument("--seed", type=int, default=None, help="data and initialisation seed (default 0)")
    train.add_argument("--stop-after", type=int, default=None,
                       help="stop after this many epochs in this call; continue later with --resume")  # fmt: skip
    train.add_argument("--families", default=None,
                       help="comma-separated object families (default solid,hollow,porous,layered); "
                            "volume:PATH adds random blocks of your own reconstruction (.npy or .tif)")  # fmt: skip
    train.add_argument("--init-weights", default=None,
                       help="fine-tune from these weights ('shipped' for the package's)")  # fmt: skip
    train.add_argument("--lr", type=float, default=None, help="peak learning rate (default 1e-3)")
    train.add_argument("--reference", default=None, choices=["full", "held_out"],
                       help="what each projection is compared with: the full reprojection (default) or the held-out "
                            "one (align_jitter reads rows against it)")  # fmt: skip
    train.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    train.add_argument("--overwrite", action="store_true", help="start afresh even if --out holds a run")
    train.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _file_arguments(p: argparse.ArgumentParser) -> None:
    """What the file jobs (recon, align) share."""
    p.add_argument("input", help="Data Exchange HDF5 file")
    p.add_argument("--out", required=True, help="output folder (must not exist unless --overwrite)")
    p.add_argument("--projector", default=PROJECTOR.default, choices=PROJECTOR.choices,
                   help=f"{PROJECTOR.help} (default {PROJECTOR.default})")  # fmt: skip
    p.add_argument("--slices", default=None, help="detector rows START:STOP (default: all)")
    p.add_argument("--device", default=None, help=_DEVICE_HELP)
    p.add_argument("--format", default=FORMATS[0], choices=FORMATS, help=f"output format (default {FORMATS[0]})")
    p.add_argument("--overwrite", action="store_true", help="replace an --out that tomopy-dl wrote (and a partial run)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _recon_arguments(rec: argparse.ArgumentParser) -> None:
    _file_arguments(rec)
    rec.add_argument("--algorithm", default="sirt", choices=tuple(ALGORITHMS),
                     help="; ".join(f"{name}: {spec.summary}" for name, spec in ALGORITHMS.items())
                     + " (default sirt)")  # fmt: skip
    rec.add_argument("--num-iter", type=int, default=None, help=_iterations_help())
    rec.add_argument("--center", default="auto",
                     help="rotation axis in pixels, or 'auto': found from the data by Vo's method, logged and "
                          "written to params.json (default auto; a centre given is checked against it)")  # fmt: skip
    rec.add_argument("--center-scan", default=None, metavar="START:STOP:STEP",
                     help="instead of the volume: the middle row (or the first of --slices) reconstructed about "
                          "each centre from START to STOP, one TIFF per centre and contact_sheet.png, for you to "
                          "pick from")  # fmt: skip
    rec.add_argument("--angles", default=None, help="angle range in degrees to keep, e.g. 0:120")
    rec.add_argument("--theta-range", default=None,
                     help="first:last angle in degrees of evenly spaced projections, overriding the file's "
                          "(e.g. 0:180)")  # fmt: skip
    rec.add_argument("--seed", type=int, default=0, help="ganrec's seed (default 0)")
    rec.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                     help="another keyword of the algorithm, repeatable (e.g. --option mode=volume for ganrec's "
                          "network across the slices; the keywords: tomopy_dl.solvers.table)")  # fmt: skip
    rec.add_argument("--slab", type=int, default=None,
                     help="detector rows reconstructed at once (default: 256 MB of projections)")  # fmt: skip
    rec.add_argument("--cluster", default=None,
                     help="run the slabs on Dask: 'local' (worker processes here) or a scheduler address "
                          "tcp://HOST:PORT (default: in this process)")  # fmt: skip
    rec.add_argument("--workers", type=int, default=None, help="worker processes of --cluster local (default 2)")


def _align_arguments(align: argparse.ArgumentParser) -> None:
    _file_arguments(align)
    align.add_argument("--iters", type=int, default=None, help="passes (default: align_jitter's)")
    align.add_argument("--axes", default="both", choices=["both", "row", "col"], help="which shifts to correct")
    align.add_argument("--weights", default=None, help="weights from train-jitter (default: the shipped ones)")
    align.add_argument("--center", default=None,
                       help="rotation axis in pixels, refined (default: found from the data)")  # fmt: skip


@dataclass(frozen=True)
class Command:
    """A subcommand: its name, its help, how its arguments are declared and what runs it."""

    name: str
    help: str
    description: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tomopy-dl", description="Deep-learning tomography for TomoPy pipelines.")
    parser.add_argument("--version", action="version", version=f"tomopy-dl {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress messages")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        p = sub.add_parser(command.name, help=command.help, description=command.description)
        command.arguments(p)
        p.set_defaults(run=command.run)
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


def _options(pairs: list[str]) -> dict:
    """``KEY=VALUE`` strings as keywords: numbers and true/false as such, the rest as strings."""
    out = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--option takes KEY=VALUE, got {pair!r}")
        low = text.strip().lower()
        value: object = {"true": True, "false": False}.get(low, text.strip())
        for kind in (int, float):
            if isinstance(value, str):
                try:
                    value = kind(value)
                except ValueError:
                    pass
        out[key.strip().replace("-", "_")] = value
    return out


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
                options=_options(args.option),
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


def _demo(args) -> int:
    from .demo import format_table, run_demo

    for name in ("size", "angles", "num_iter", "ganrec_iter"):
        value = getattr(args, name)
        least = 2 if name in ("size", "angles") else 1
        if value is not None and value < least:
            print(f"tomopy-dl demo: --{name.replace('_', '-')} must be at least {least}", file=sys.stderr)
            return 2
    try:
        rows = run_demo(args.out, size=args.size, max_angle=args.max_angle, n_angles=args.angles,
                        photons=args.photons, num_iter=args.num_iter, ganrec_iter=args.ganrec_iter, seed=args.seed,
                        device=args.device, overwrite=args.overwrite, progress=not args.no_progress)  # fmt: skip
    except (FileExistsError, ValueError) as exc:
        print(f"tomopy-dl demo: {exc}", file=sys.stderr)
        return 2
    print(format_table(rows))
    print(f"\nwrote comparison.png, scores.csv and TIFF images to {args.out}")
    return 0


#: The subcommands, in the order ``--help`` lists them.
COMMANDS = (
    Command("demo", "reconstruct a built-in missing-wedge example and compare methods",
            "Simulate a limited-angle scan of a Shepp-Logan phantom, reconstruct it with every available method, "
            "print SSIM/PSNR and write a PNG figure and TIFF images.", _demo_arguments, _demo),
    Command("train-jitter", "train the align_jitter network on synthetic scans",
            "Train the jitter-estimation ResNet on random synthetic objects, checkpointing every epoch. The result, "
            "OUT/jitter_resnet.pt with its .json record, is what align_jitter(weights=...) loads.",
            _train_arguments, _train_jitter),
    Command("recon", "reconstruct a Data Exchange HDF5 file",
            "Read INPUT (Data Exchange HDF5), normalise with flats and darks, take -log, find the rotation axis, "
            "reconstruct, and write a TIFF stack (or HDF5) plus params.json into --out.",
            _recon_arguments, _file_job),
    Command("align", "correct projection jitter of a Data Exchange HDF5 file",
            "Read INPUT, normalise, take -log, correct jitter with align_jitter, and write the corrected "
            "projections, shifts.csv and params.json into --out.", _align_arguments, _file_job),
)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(name)s: %(message)s")
    return args.run(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
