"""Which held-out split makes ``tune='auto'`` choose the start that predicts the real wedge best?

``tune='auto'`` scores every candidate start (TV with a least-squares or
Poisson term at three weights, MLEM, SIRT, each along its iterations) by
how well a fit on part of the measured angles predicts the rest
(``tomopy_dl.solvers.selection.holdout_split``), and keeps the best. Here,
on full-range scans cut to a wedge, every candidate is also scored on the
truth: fitted on *all* the kept angles and judged at the withheld measured
angles of the wedge (TomoPy's exact rays, as ``limited_angle.py`` judges).
For each split rule the table gives the candidate it would choose, that
candidate's real wedge error and its regret (that error over the best
candidate's; 1.000 is a perfect choice). Each rule chooses twice: among TV
iterates from 200 on (today's ``_TV_FROM``) and from 25 on; the regret is
always against the best candidate of the larger set.

Split rules (all within the kept angles):

* ``edge F``: ``holdout_split(edge=F)``: the angles within ``F`` of the
  measured range from either end (0.1 was ``tune='auto'``'s in 0.2.0);
* ``ends Q``: two folds, one holding out the last ``Q`` of the range, one the
  first; a candidate's score is the mean of its two errors (each fold
  extrapolates ``Q`` of the range from one side, as the wedge asks);
* ``scaled``: ``edge`` growing with the missing range, ``0.1 * missing / 60``
  degrees, clipped to 0.05..0.25 (0.1 at 0-120, 0.15 at 0-90, 0.05 at 0-150):
  ``holdout_split``'s default after 0.2.0 (``holdout_edge``), chosen on
  this benchmark's output.

Usage: python benchmarks/choice_calibration.py [--datasets tooth basalt wood imat] [--geometries 0-150 0-120 0-90]
       [--rules ...] [--oversample 4]
"""

from __future__ import annotations

import argparse
import itertools
import os
import time
import warnings

import numpy as np
import torch
from limited_angle import GEOMETRIES, load

from tomopy_dl.physics import get_projector, projection_error
from tomopy_dl.solvers.gan import _settings
from tomopy_dl.solvers.selection import _MBIR_FROM, _TV_FROM, _candidates, holdout_split
from tomopy_dl.solvers.selection import _label as _start_label

RULES = ("edge 0.1", "edge 0.2", "edge 0.3", "ends 0.25", "scaled")
#: TV iterates scored from 25 on; each rule chooses among them twice: from ``_TV_FROM`` (200,
#: today's) and from 25, with MLEM and SIRT from 10 in both.
_TV_EVERY = 25
FROMS = (_TV_FROM, _TV_EVERY)


def curves(y: torch.Tensor, op, fit: np.ndarray, judge, y_held: torch.Tensor) -> dict:
    """``{(candidate, iterations): held-out error}`` of every iterate the choice considers (``_candidates``)."""
    op_fit, y_fit = op.restrict(fit), y[:, fit]
    err = lambda x: float(projection_error(x, y_held, judge).mean())  # noqa: E731
    out = {}
    for values, steps, n_max, every, _ in _candidates(y_fit, op_fit, _settings("ours", {}), set()):
        name = _start_label(**values, init_iter=0).removesuffix(" 0 it")
        for n, x in enumerate(itertools.islice(steps, n_max), start=1):
            if n % every == 0:
                out[(name, n)] = err(x)
    return out


def split_scores(rule: str, y: torch.Tensor, op, theta: np.ndarray) -> dict:
    """The scores a split rule gives every candidate (mean over its folds)."""
    kind, _, value = rule.partition(" ")
    if kind == "scaled":
        folds = [holdout_split(theta)]  # tune='auto''s own default (holdout_edge)
    elif kind == "edge":
        folds = [holdout_split(theta, edge=float(value))]
    else:
        order = np.argsort(theta)
        k = max(1, int(round(float(value) * theta.size)))
        folds = [(np.sort(order[:-k]), np.sort(order[-k:])), (np.sort(order[k:]), np.sort(order[:k]))]
    scores = [curves(y, op, fit, op.restrict(held), y[:, held]) for fit, held in folds]
    return {key: float(np.mean([s[key] for s in scores])) for key in scores[0]}


def _allowed(key, tv_from: int) -> bool:
    if key[0].startswith("mbir"):
        return key[1] >= _MBIR_FROM  # as tune='auto' scores it
    return not key[0].startswith("tv") or key[1] >= tv_from


def _best(scores: dict, tv_from: int):
    return min((k for k in scores if _allowed(k, tv_from)), key=scores.get)


def run_case(ds, geo: str, rules) -> list[tuple]:
    keep = ds.pick(geo)
    held = np.setdiff1d(np.arange(ds.deg.size), keep)
    theta_all = np.deg2rad(ds.deg).astype(np.float32)
    y_all = torch.from_numpy(np.ascontiguousarray(ds.sino, dtype=np.float32))[None]
    y = y_all[:, keep]
    n_det = y.shape[-1]
    op = get_projector(theta_all[keep], n_det, ds.grid, ds.grid, center=ds.center, device="cpu")
    judge = get_projector(theta_all[held], n_det, ds.grid, ds.grid, center=ds.center, projector="siddon")
    t0 = time.perf_counter()
    truth = curves(y, op, np.arange(keep.size), judge, y_all[:, held])
    seconds = time.perf_counter() - t0
    rows = []
    best = {f: truth[_best(truth, f)] for f in FROMS}
    for f in FROMS:
        rows.append((ds.name, geo, "truth", f, _label(_best(truth, f)), best[f], best[f] / best[FROMS[-1]], seconds))
    for rule in rules:
        t0 = time.perf_counter()
        scores = split_scores(rule, y, op, theta_all[keep])
        seconds = time.perf_counter() - t0
        for f in FROMS:
            key = _best(scores, f)
            rows.append((ds.name, geo, rule, f, _label(key), truth[key], truth[key] / best[FROMS[-1]], seconds))
    return rows


def _label(key) -> str:
    return f"{key[0]} {key[1]} it"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["tooth", "basalt", "wood", "imat"])
    parser.add_argument("--geometries", nargs="+", default=["0-150", "0-120", "0-90"], choices=GEOMETRIES)
    parser.add_argument("--rules", nargs="+", default=list(RULES), choices=RULES)
    parser.add_argument("--oversample", type=int, default=4,
                        help="phantom data from a finer object, as limited_angle.py (1: the old data)")  # fmt: skip
    args = parser.parse_args()
    warnings.simplefilter("ignore", UserWarning)
    print(f"CPU, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads)")
    head = (f"{'data':<14} {'geometry':<8} {'rule':<10} {'tv from':>7} {'chosen':<22} {'wedge err':>9} {'regret':>7} "
            f"{'s':>6}")  # fmt: skip
    print(head + "\n" + "-" * len(head), flush=True)
    regrets: dict[str, list[float]] = {}
    for name in args.datasets:
        ds = load(name, 128, oversample=args.oversample)
        for geo in args.geometries:
            for row in run_case(ds, geo, args.rules):
                print(f"{row[0]:<14} {row[1]:<8} {row[2]:<10} {row[3]:>7} {row[4]:<22} {row[5]:>9.4f} {row[6]:>7.3f} "
                      f"{row[7]:>6.1f}", flush=True)  # fmt: skip
                regrets.setdefault(f"{row[2]}, tv from {row[3]}", []).append(row[6])
    print("\nregret against the best candidate of all (TV from 25): geometric mean and worst, per rule:")
    for rule, r in regrets.items():
        print(f"  {rule:<22} {float(np.exp(np.mean(np.log(r)))):.3f}  worst {max(r):.3f}")


if __name__ == "__main__":
    main()
