"""GANrec's default mode, ``'ours'``: a missing-wedge GAN on a total-variation start.

The composition:

* start: :func:`~.iterative.tv` with a least-squares or Poisson data term
  (or SIRT, MLEM, or the model-based :func:`~.iterative.mbir`), its weight
  set from the noise of the sinogram (:func:`~.prior.auto_reg_par`);
* variable: an :class:`~tomopy_dl.networks.ImageCorrection` added to the
  start, from zero; the image is kept non-negative;
* data term and prior: the TV objective ``D(A x, y) + beta TV(x)``
  (:class:`~.data_fidelity.L2` or :class:`~.data_fidelity.KL`, plus
  :class:`~.prior.TV`) relative to its value at the start. The start is
  stopped early rather than a minimiser, so the objective only bounds the
  correction (no reward below the start's value) and the fit does not undo
  the early stopping;
* adversarial prior: :class:`~.prior.WedgeAdversarial`, weighted by
  ``adv_weight``, counting only while the relative objective stays below
  ``1 + slack``: a trust region, so that the discriminator chooses among
  images about as consistent with the data and as regular as the start;
* iterator: Adam on the correction, in :func:`~.loop.guarded_loop`; the
  output is the mean of the iterates over the second half of the run.

A scan with no missing wedge leaves nothing to judge, and the start is
returned; so does ``adv_weight=0`` (the discriminator off).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from ..networks import ImageCorrection
from ..physics import Projector
from .iterative import mbir, mlem, sirt, tv, tv_objective
from .loop import LoopResult, Step, guarded_loop
from .prior import WedgeAdversarial, auto_reg_par

__all__ = ["WedgeSettings", "WedgeGAN", "start_image"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WedgeSettings:
    """The wedge mode's settings (defaults in :data:`~.table.GANREC_MODES`)."""

    lr_g: float
    lr_d: float
    adv_weight: float
    tv_weight: float
    init_iter: int
    init_method: str
    slack: float
    data_term: str
    sharpness: float  # of an 'mbir' start


def start_image(sino: torch.Tensor, op: Projector, s: WedgeSettings, beta: torch.Tensor | None = None) -> torch.Tensor:
    """The classical start of ``sino`` (B, nangles, ndet): ``s.init_iter`` iterations of ``s.init_method``, >= 0.

    ``beta``: the TV weight in data units (default: ``s.tv_weight`` relative to the noise).
    """
    if s.init_iter <= 0:
        return torch.zeros(sino.shape[0], *op.image_shape, device=sino.device)
    if s.init_method == "tv":
        beta = auto_reg_par(sino, s.tv_weight, data=s.data_term) if beta is None else beta
        base = tv(sino, op, num_iter=s.init_iter, reg_par=beta, positivity=True, data=s.data_term)
    elif s.init_method == "mbir":
        base = mbir(sino, op, num_iter=s.init_iter, sharpness=s.sharpness)
    else:
        base = {"sirt": sirt, "mlem": mlem}[s.init_method](sino, op, num_iter=s.init_iter)
    return base.clamp_min(0)


class WedgeGAN:
    """The discriminator for one geometry, warm-started across slice batches; a new correction per batch."""

    def __init__(self, op: Projector, s: WedgeSettings, seed: int):
        self.op, self.s = op, s
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.adversarial = WedgeAdversarial(op, s.lr_d)

    def start(self, sino: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        """The starting image: ``init_iter`` iterations of ``init_method``, non-negative."""
        return start_image(sino, self.op, self.s, beta)

    def fit(
        self,
        sino: torch.Tensor,
        n_iter: int,
        *,
        bar=None,
        early_stop: float | None = None,
        start: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict]:
        """Correct the start of ``sino`` (B, nangles, ndet) for ``n_iter`` iterations; the image and stats.

        ``start``, when given, is the starting image already computed (:meth:`start`).
        """
        s, op, adv = self.s, self.op, self.adversarial
        beta = auto_reg_par(sino, s.tv_weight, data=s.data_term)
        base = self.start(sino, beta) if start is None else start
        scale_y = sino.flatten(1).amax(1).clamp_min(1e-12)[:, None, None]
        if s.init_iter > 0:
            scale_x = base.flatten(1).amax(1).clamp_min(1e-6)[:, None, None]
        else:  # no start: the image scale that fits the data on average
            scale_x = (scale_y * sino.shape[-1] / op.row_sums().sum().clamp_min(1e-12)).reshape(-1, 1, 1)
        if adv.op_gap is None or s.adv_weight == 0:
            # A full-range scan leaves nothing unmeasured for D to judge; without D
            # the objective alone would only move the start towards its minimum.
            if adv.op_gap is None:
                logger.info("ganrec: no missing wedge in these angles; returning the starting image")
            if bar is not None:
                bar.update(n_iter)
            return base, {"iterations": 0, "restarts": 0, "data_l1": float("nan"), "d_loss": float("nan")}
        with torch.no_grad():  # the objective at the start: the adversarial weight is relative to it
            j0 = tv_objective(base, sino, op, beta, data=s.data_term).clamp_min(1e-30)
        # The start is not the objective's minimiser (its iteration count regularises too): below the
        # start's value the objective must not pull, which would fit the noise the early stop left
        # out; it only bounds the correction from above. Measured: holding the floor for TV starts as
        # well lowered the held-out error of tune='off' on Shepp-Logan and the tooth at 0-90 degrees.
        # Each batch its own correction, from zero; D and its optimiser carry over (the warm start).
        correction = ImageCorrection(sino.shape[0], *op.image_shape).to(sino.device)
        opt_g = torch.optim.Adam(correction.parameters(), lr=s.lr_g)
        target = sino / scale_y
        d_sum = torch.zeros((), device=sino.device)  # D's loss, read once at the end
        d_count = 0

        def step(it: int) -> Step:
            nonlocal d_sum, d_count
            x = (base + scale_x * correction()).clamp_min(0.0)
            model = op(x) / scale_y
            data = (model - target).abs().mean()
            rel_j = tv_objective(x, sino, op, beta, model=model * scale_y, data=s.data_term) / j0
            loss_g = rel_j.clamp_min(1.0).sum()  # the floor: see above
            fake = adv.fake(x, scale_y)
            loss_d = adv.train_discriminator(target.reshape(-1, target.shape[-1]), fake)
            if it >= n_iter // 2:
                d_sum, d_count = d_sum + loss_d, d_count + 1
            per_slice = adv.generator_loss(fake, samples=x.shape[0])
            # The trust region, as a mask rather than a branch: no host synchronisation.
            inside = (rel_j.detach() <= 1.0 + s.slack).to(per_slice.dtype)
            loss_g = loss_g + s.adv_weight * (inside * per_slice).sum()
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            opt_g.zero_grad(set_to_none=True)  # nothing of G's gradients alive during D's next step
            return Step(x.detach(), data.detach(), {"D": loss_d})

        result: LoopResult = guarded_loop(
            step, n_iter, start=base, average_from=n_iter // 2, early_stop=early_stop, bar=bar, name="ganrec",
            monitor_name="data L1", state={"gen": correction, "disc": adv.disc, "opt_g": opt_g, "opt_d": adv.opt},
            optimizers=[opt_g, adv.opt],
        )  # fmt: skip
        stats = {"iterations": result.iterations, "restarts": result.restarts, "data_l1": result.monitor,
                 "d_loss": float(d_sum) / d_count if d_count else float("nan")}  # fmt: skip
        return result.image, stats
