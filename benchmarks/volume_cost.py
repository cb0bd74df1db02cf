"""What GANrec ``mode='volume'`` costs on a volume in slabs: one network per slab (before) against one per volume.

A porous 3D phantom (``volume_mode.py``'s, ``--slices`` slices of
``--size`` px, 1e4 photons) scanned over 0-120 of 180 degrees, cut into
slabs of ``--slab`` slices as ``recon_file`` cuts a file. The start's
settings are fixed (``tune='off'``: the choice is one per volume either way,
measured in ``choice_cost.py``). In one process, one after the other:

* ``per slab``: ``ganrec(slab, mode='volume')`` on every slab, which trains
  and checks a network in each (what ``recon_file`` did before);
* ``one network``: :func:`~tomopy_dl.solvers.gan.volume_filler` once on a
  sample of up to ``SAMPLE`` slices spread over the volume, then
  ``ganrec(slab, mode='volume', filler=...)`` on every slab (what
  ``recon_file`` and ``ganrec_filler`` do now);

then per slice: the classical start alone, and the network applied (its
halves' starts, the network, ``dc_iter`` SIRT iterations; applied whatever
its check said, ``always``), from which a volume of ``--extrapolate`` slices
of this size is estimated as the fit plus that many slices applied (an
estimate, said so in the table).

Usage: python benchmarks/volume_cost.py [--slices 64] [--size 128] [--slab 16] [--steps 2000] [--extrapolate 2048]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import torch
from volume_mode import load_volume

from tomopy_dl.physics import get_projector, projection_error
from tomopy_dl.solvers.gan import ganrec, volume_filler
from tomopy_dl.solvers.gan_wedge import start_image
from tomopy_dl.solvers.wedge_fill import fill_slices


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slices", type=int, default=64)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--slab", type=int, default=16)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--extrapolate", type=int, default=2048)
    args = parser.parse_args()
    warnings.simplefilter("ignore", UserWarning)
    print(f"CPU, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads)"
          + (f"; GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""))  # fmt: skip
    sino, deg, center, _ = load_volume(args.slices, args.size)
    keep, held = np.flatnonzero(deg <= 120 + 1e-6), np.flatnonzero(deg > 120 + 1e-6)
    theta = np.deg2rad(deg).astype(np.float32)
    y = torch.from_numpy(np.ascontiguousarray(sino[:, keep]))
    op = get_projector(theta[keep], sino.shape[-1], args.size, args.size, center=center)
    judge = get_projector(theta[held], sino.shape[-1], args.size, args.size, center=center, projector="siddon")
    y_held = torch.from_numpy(np.ascontiguousarray(sino[:, held]))
    slabs = [slice(a, min(a + args.slab, args.slices)) for a in range(0, args.slices, args.slab)]
    kw = dict(mode="volume", tune="off", num_iter=args.steps, progress=False)
    rows = []

    t0 = time.perf_counter()
    x = torch.cat([ganrec(y[s], op, **kw) for s in slabs])
    rows.append(("per slab (before)", len(slabs), time.perf_counter() - t0, x))
    t0 = time.perf_counter()
    f = volume_filler(y, op, tune="off", num_iter=args.steps)
    t_fit = time.perf_counter() - t0
    x = torch.cat([ganrec(y[s], op, mode="volume", filler=f, progress=False) for s in slabs])
    rows.append(("one network (now)", 1, time.perf_counter() - t0, x))

    one = y[: args.slab]
    t0 = time.perf_counter()
    start_image(one, op, f.start)
    t_start = (time.perf_counter() - t0) / one.shape[0]
    t0 = time.perf_counter()
    fill_slices(f, one, op, always=True)
    t_apply = (time.perf_counter() - t0) / one.shape[0]

    print(f"\n{args.slices} slices of {args.size}^2, {keep.size} angles (0-120 of 180), slabs of {args.slab}, "
          f"{args.steps} steps; network {'kept' if f.kept else 'declined'} by its check: {f.why}")  # fmt: skip
    print(f"{'run':<20} {'networks':>8} {'seconds':>8} {'held-out':>9}")
    for label, n, seconds, x in rows:
        err = float(projection_error(x, y_held, judge).mean())
        print(f"{label:<20} {n:>8} {seconds:>8.1f} {err:>9.4f}")
    print(f"ratio per slab / one network: {rows[0][2] / rows[1][2]:.2f}")
    st = f.stats
    print(f"one network: fit {t_fit:.1f} s ({st.get('train_seconds', 0):.1f} s training incl. the sample's "
          f"halves, {st.get('check_seconds', 0):.1f} s checking) on {st.get('slices', 0)} slices")  # fmt: skip
    print(f"per slice: start {t_start:.2f} s; network applied {t_apply:.2f} s ({t_apply / t_start:.2f}x the start)")
    n = args.extrapolate
    print(f"estimate, {n} slices of {args.size}^2: fit {t_fit:.0f} s + {n} x {t_apply:.2f} s = "
          f"{(t_fit + n * t_apply) / 3600:.2f} h kept, {(t_fit + n * t_start) / 3600:.2f} h declined; "
          f"per slab of {args.slab} (before): {n // args.slab} fits")  # fmt: skip


if __name__ == "__main__":
    main()
