"""The ``tomopy-dl`` command line."""

from __future__ import annotations

import argparse
import logging
import sys

from . import __version__

__all__ = ["main"]


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
    demo.add_argument("--num-iter", type=int, default=100, help="iterations of sirt and mlem (default 100)")
    demo.add_argument("--ganrec-iter", type=int, default=300, help="iterations of ganrec (default 300)")
    demo.add_argument("--seed", type=int, default=0, help="seed of the noise and of ganrec (default 0)")
    demo.add_argument("--device", default=None, help="cpu, cuda or gpu (default: cuda when available)")
    demo.add_argument("--overwrite", action="store_true", help="replace results already in --out")
    demo.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(name)s: %(message)s")
    if args.command == "demo":
        from .demo import format_table, run_demo

        for name in ("size", "angles", "num_iter", "ganrec_iter"):
            if getattr(args, name) < (2 if name in ("size", "angles") else 1):
                flag = "--" + name.replace("_", "-")
                print(f"tomopy-dl demo: {flag} must be at least {2 if name in ('size', 'angles') else 1}", file=sys.stderr)
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
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
