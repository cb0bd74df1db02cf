"""GANrec's ``tune='auto'``: choose the settings from the data, by projections held out of the fit.

The missing wedge is never measured, so no setting can be scored on it. What
can be scored is how well a reconstruction from *part* of the measured
projections predicts the rest: :func:`holdout_split` keeps back the last
degrees at each edge of the measured range (extrapolation towards the wedge,
the case that matters), more of them the larger the wedge
(:func:`holdout_edge`), and optionally every k-th angle (interpolation).
:func:`choose_wedge_settings` fits each candidate on the rest, scores it by
the relative error of its projections at the held-out angles
(:func:`~tomopy_dl.physics.projection_error`) and keeps the best:

1. the start: TV with a least-squares or Poisson (KL) data term at a few
   multiples of the noise-based weight, MLEM, or model-based least squares
   with a qGGMRF prior at two sharpnesses; each stopped at the iteration
   that predicts best (the iteration count regularises too);
2. the adversarial weight: the start alone, or the missing-wedge GAN on it.

GANrec then refits on every projection with the choice. Settings the caller
gives explicitly are not searched. The choice is made on one representative
slice and used for the whole volume, so its cost does not grow with the
number of slices.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from ..physics import Projector, projection_error
from .gan_wedge import WedgeGAN
from .iterative import mbir_iterates, mlem_iterates, sirt_iterates, tv_iterates
from .prior import auto_reg_par

__all__ = ["holdout_edge", "holdout_split", "choose_wedge_settings", "Choice", "START_METHODS", "TV_FACTORS",
           "MBIR_SHARPNESS", "TUNED"]

logger = logging.getLogger(__name__)

#: The starting solvers tried. SIRT is not among them (it stays a start a caller may ask for): in the
#: 34 cases of benchmarks/choice_calibration.py's tables it was never the candidate that predicted the
#: real wedge best; the model-based start took its place (and the least-squares TV at 1.7x's, never best).
START_METHODS = ("tv", "mlem", "mbir")
#: The TV weights tried per data term, as ``factor`` of :func:`~.prior.auto_reg_par` (GANrec's fixed
#: default is 0.35).
TV_FACTORS = {"l2": (0.2, 0.6), "kl": (0.2, 0.6, 1.7)}
#: The sharpnesses of the model-based start tried (:func:`~.iterative.mbir`): svmbir's default and one
#: sharper, the two svmbir settings benchmarks/limited_angle.py compares against.
MBIR_SHARPNESS = (0.0, 1.0)
#: MLEM and SIRT run this long on the held-in angles, scored every ``_CURVE_STEP`` iterations;
#: TV and MBIR run ``init_iter`` iterations (300), scored every ``_TV_STEP``.
CURVE_ITER = 300
_CURVE_STEP = 10
_TV_STEP = 25
# TV is scored from this iteration on. Over the 8 cases of benchmarks/limited_angle.py (tooth, shale,
# counts, textured; 0-120 and 0-90) the edges' error sometimes preferred earlier TV iterates than the
# real wedge did (shale 0-90: 150 against 300); from 200 on, the choice's wedge error averaged 1.055x
# the best candidate's, against 1.070x with all iterates, 1.094x with 300 only.
_TV_FROM = 200
# The model-based start is scored from 100 iterations on: judged at the real wedge (basalt 0-90,
# wood 0-150, counts +-45; fitted on all kept angles), its best iterate came at 100-200 iterations,
# and at 50 it was still 11-14% worse on the two measured slices.
_MBIR_FROM = 100
# A candidate stops once this many iterations have passed since its best-scoring iterate: its
# held-out error has turned. Replayed on the held-out curves of the 27 cases of
# benchmarks/choice_calibration.py (every candidate to its end): 10 of the 216 candidates dipped
# lower later, but none of those was the one chosen, so no choice changed (at 20-25 one did); the
# candidates ran 11% (simulated) and 15% (measured) fewer iterations; benchmarks/choice_cost.py times it.
_PATIENCE = 50
# The held-out edges grow with the missing range: a 90-degree wedge asks the reconstruction to
# extrapolate over as much as it measured, and edges of 9 degrees did not test that. Calibrated
# by benchmarks/choice_calibration.py against the wedge error where the truth is known (10 cases,
# phantoms drawn 4x finer, 0-120 and 0-90): geometric-mean regret 1.050 against 1.108 with a fixed
# 10% (worst 1.28 against 1.84); on the 12 measured cases 1.035 against 1.049. 10% at 0-120 as before.
_EDGE_PER_60_DEG = 0.1
_EDGE_RANGE = (0.05, 0.25)
#: The settings ``tune='auto'`` may choose; any of them given explicitly is kept.
TUNED = ("init_method", "data_term", "tv_weight", "sharpness", "init_iter", "adv_weight")


def holdout_edge(theta) -> float:
    """The fraction of the measured range :func:`holdout_split` holds out at each edge by default.

    ``0.1`` per 60 degrees missing from a half turn, within 0.05-0.25: 0.1 for
    a 0-120 degree scan, 0.15 for 0-90 or +-45, 0.05 for 0-150 or a full range.

    Parameters
    ----------
    theta : array_like, shape (nangles,)
        Measured angles in radians.

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> round(holdout_edge(np.deg2rad(np.arange(-45, 46, 1.0))), 3)
    0.15
    """
    span = float(np.rad2deg(np.ptp(np.asarray(theta, dtype=np.float64))))
    return float(np.clip(_EDGE_PER_60_DEG * (180.0 - span) / 60.0, *_EDGE_RANGE))


def holdout_split(theta, *, edge: float | None = None, every: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the angles to fit and the angles to hold out.

    Parameters
    ----------
    theta : array_like, shape (nangles,)
        Measured angles in radians, any order.
    edge : float, optional
        Hold out the angles within this fraction of the measured range from
        either end (at least one per end): extrapolation towards the wedge.
        Default: :func:`holdout_edge`, growing with the missing range.
    every : int
        Also hold out every ``every``-th angle of the interior (0: none). On
        the tooth the interior error hardly changed with the TV weight and
        favoured the weakest, while the edges' error followed the error in
        the real wedge; so by default only the edges are held out.

    Returns
    -------
    fit, held : ndarray of int
        Sorted indices into ``theta``; together they are all of them.

    Raises
    ------
    ValueError
        For fewer than 8 angles: too few to spare any.

    Examples
    --------
    >>> import numpy as np
    >>> fit, held = holdout_split(np.deg2rad(np.arange(0, 90, 1.0)))  # edges of 15%: 0-13 and 76-89 degrees
    >>> fit.size, held.size, held[:3].tolist(), held[-3:].tolist()
    (62, 28, [0, 1, 2], [87, 88, 89])
    """
    t = np.asarray(theta, dtype=np.float64).ravel()
    if t.size < 8:
        raise ValueError(f"choosing settings from the data needs at least 8 angles, got {t.size}; pass tune='off'")
    edge = holdout_edge(t) if edge is None else edge
    order = np.argsort(t, kind="stable")
    ts = t[order]
    span = ts[-1] - ts[0]
    lo = max(1, int(np.searchsorted(ts, ts[0] + edge * span, side="right")))
    hi = min(t.size - 1, int(np.searchsorted(ts, ts[-1] - edge * span, side="left")))
    held = np.zeros(t.size, bool)
    held[:lo] = held[hi:] = True
    if every > 0:
        interior = np.arange(lo, hi)
        held[interior[every // 2 :: every]] = True
    return np.sort(order[~held]), np.sort(order[held])


@dataclass(frozen=True)
class Choice:
    """What :func:`choose_wedge_settings` chose, with the held-out error of every candidate tried."""

    settings: object  # a WedgeSettings
    scores: dict[str, float]
    seconds: float

    def summary(self) -> str:
        s = self.settings
        start = _label(s.init_method, s.data_term, s.tv_weight, s.init_iter, s.sharpness)
        tried = ", ".join(f"{k} {v:.4g}" for k, v in sorted(self.scores.items(), key=lambda kv: kv[1]))
        return f"start {start}, adv_weight {s.adv_weight:g} ({self.seconds:.1f} s; held-out projection error: {tried})"


def _label(init_method: str, data_term: str, tv_weight: float, init_iter: int, sharpness: float = 0.0) -> str:
    if init_method == "tv":
        return f"tv/{data_term} x{tv_weight:g} {init_iter} it"
    if init_method == "mbir":
        return f"mbir s{sharpness:g} {init_iter} it"
    return f"{init_method} {init_iter} it"


def _best_along(
    steps: Iterator[torch.Tensor], err, n_max: int, *, fixed_count: bool, every: int, first: int = 1,
    patience: int = 0,
):
    """``(error, iterations, image)`` of the best-scoring iterate among every ``every``-th from ``first`` to ``n_max``.

    The iteration count of TV (from zero), MLEM and SIRT is itself a
    regulariser: early iterates lack the wedge's streaks. With
    ``fixed_count`` only the ``n_max``-th iterate is scored. With
    ``patience`` > 0 the iterates stop once that many iterations have passed
    since the best-scoring one.
    """
    best = None
    for n, x in enumerate(itertools.islice(steps, n_max), start=1):
        if (n == n_max) if fixed_count else (n >= first and (n % every == 0 or n == n_max)):
            e = err(x)
            if best is None or e < best[0]:
                best = (e, n, x.clone())
            elif patience and n - best[1] >= patience:  # a fixed count scores once: never here
                break
    return best


def _candidates(y: torch.Tensor, op: Projector, base, fixed: set[str]):
    """Each candidate start: its settings but the iteration count, its iterates, and which of them to score.

    Yields ``(values, iterates, n_max, every, first)`` for :func:`_best_along`;
    settings in ``fixed`` keep ``base``'s value.
    """
    own = lambda key, choices: (getattr(base, key),) if key in fixed else choices  # noqa: E731
    for method in own("init_method", START_METHODS):
        if method == "tv":
            for term in own("data_term", tuple(TV_FACTORS)):
                for f in own("tv_weight", TV_FACTORS.get(term, TV_FACTORS["l2"])):
                    steps = tv_iterates(y, op, reg_par=auto_reg_par(y, f, data=term), data=term)
                    values = dict(init_method="tv", data_term=term, tv_weight=f, sharpness=base.sharpness)
                    yield values, steps, base.init_iter, _TV_STEP, min(_TV_FROM, base.init_iter)
            continue
        # The data term of another start serves only the GAN's trust region: MLEM's own is KL.
        term = base.data_term if "data_term" in fixed else ("kl" if method == "mlem" else "l2")
        if method == "mbir":
            for sharp in own("sharpness", MBIR_SHARPNESS):
                values = dict(init_method="mbir", data_term=term, tv_weight=base.tv_weight, sharpness=sharp)
                steps = mbir_iterates(y, op, sharpness=sharp)
                yield values, steps, base.init_iter, _TV_STEP, min(_MBIR_FROM, base.init_iter)
            continue
        steps = {"mlem": mlem_iterates, "sirt": sirt_iterates}[method](y, op)
        values = dict(init_method=method, data_term=term, tv_weight=base.tv_weight, sharpness=base.sharpness)
        yield values, steps, base.init_iter if "init_iter" in fixed else CURVE_ITER, _CURVE_STEP, 1


def choose_wedge_settings(
    sino: torch.Tensor, op: Projector, base, fixed: set[str], *, seed: int, n_iter: int
):
    """Choose the unfixed :data:`TUNED` settings of GANrec's wedge mode for ``sino`` (1, nangles, ndet).

    ``base`` is the mode's settings (a ``WedgeSettings``) with the caller's
    explicit keywords applied; ``fixed`` names those keywords, which are kept.
    The GAN candidate runs ``n_iter`` iterations, as the refit will. Returns
    a :class:`Choice`.
    """
    t0 = time.perf_counter()
    fit_idx, held_idx = holdout_split(op.theta)
    op_fit, op_held = op.restrict(fit_idx), op.restrict(held_idx)
    index = lambda idx: torch.as_tensor(idx, device=sino.device)  # noqa: E731
    y_fit, y_held = sino.index_select(1, index(fit_idx)), sino.index_select(1, index(held_idx))
    err = lambda x: float(projection_error(x, y_held, op_held).mean())  # noqa: E731

    scores: dict[str, float] = {}
    starts: dict[str, tuple[dict, torch.Tensor]] = {}

    def consider(values: dict, x: torch.Tensor, error: float) -> None:
        key = _label(**values)
        scores[key] = error
        starts[key] = (values, x.clamp_min(0))

    if "init_iter" in fixed and base.init_iter == 0:  # no start: only the adversarial weight is left to choose
        zeros = torch.zeros(1, *op.image_shape, device=sino.device)
        values = dict(init_method=base.init_method, data_term=base.data_term, tv_weight=base.tv_weight,
                      sharpness=base.sharpness, init_iter=0)  # fmt: skip
        consider(values, zeros, err(zeros))
    else:
        for values, steps, n_max, every, first in _candidates(y_fit, op_fit, base, fixed):
            best = _best_along(steps, err, n_max, fixed_count="init_iter" in fixed, every=every, first=first,
                               patience=_PATIENCE)  # fmt: skip
            consider({**values, "init_iter": best[1]}, best[2], best[0])

    best_key = min(scores, key=scores.get)
    values, start = starts[best_key]
    chosen = dataclasses.replace(base, **values)
    if "adv_weight" not in fixed and base.adv_weight > 0:
        # The discriminator on the best start, against the start alone (adv_weight 0).
        gan = WedgeGAN(op_fit, chosen, seed)
        x, _ = gan.fit(y_fit, n_iter, start=start)
        with_d = err(x)
        scores[f"{best_key} + D x{base.adv_weight:g}"] = with_d
        if not with_d < scores[best_key]:
            chosen = dataclasses.replace(chosen, adv_weight=0.0)
    return Choice(chosen, scores, time.perf_counter() - t0)
