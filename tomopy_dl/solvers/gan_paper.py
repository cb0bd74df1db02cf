"""GANrec as published: a generator network trained per scan (modes ``'faithful'`` and ``'l1_only'``).

The composition, after Yang et al. (2020), section 2 and the authors' code:

* generator: :class:`~tomopy_dl.networks.Generator`, sinogram to image;
* data term: :class:`~.data_fidelity.L1MinMax`, ``lam`` times the L1
  distance of the min-max-normalised model and measured sinograms;
* prior: the paper's adversarial term, a
  :class:`~tomopy_dl.networks.Discriminator` telling measured from
  modelled sinograms (``adv_weight`` 0, the ``'l1_only'`` mode, turns it off);
* iterator: Adam, in :func:`~.loop.guarded_loop`; the last iterate is returned.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..networks import Discriminator, Generator
from ..physics import Projector
from .data_fidelity import L1MinMax
from .loop import LoopResult, Step, guarded_loop
from .prior import Adversarial

__all__ = ["PaperSettings", "PaperGAN"]


@dataclass(frozen=True)
class PaperSettings:
    """The paper modes' settings (defaults in :data:`~.table.GANREC_MODES`)."""

    lam: float
    lr_g: float
    lr_d: float
    adv_weight: float


class PaperGAN:
    """The generator, discriminator and optimisers for one geometry, warm-started across slice batches."""

    def __init__(self, op: Projector, s: PaperSettings, seed: int):
        self.op, self.s = op, s
        n_ang, n_det = op.sino_shape
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            # The order of construction fixes the random weights: generator first.
            self.gen = Generator(n_ang, n_det, *op.image_shape).to(op.device)
            self.adversarial = Adversarial(Discriminator(), s.lr_d, op.device)
        self.opt_g = torch.optim.Adam(self.gen.parameters(), lr=s.lr_g)
        self.data = L1MinMax()

    def fit(
        self, sino: torch.Tensor, n_iter: int, *, bar=None, early_stop: float | None = None
    ) -> tuple[torch.Tensor, dict]:
        """Train on ``sino`` (B, nangles, ndet) for ``n_iter`` iterations; the image in [0, 1] and stats."""
        s, op, adv = self.s, self.op, self.adversarial
        target = self.data.normalise(sino)
        train_disc = s.adv_weight > 0
        d_sum = torch.zeros((), device=sino.device)  # D's loss, read once at the end
        d_count = 0

        def step(it: int) -> Step:
            nonlocal d_sum, d_count
            x = self.data.normalise(self.gen(target))
            model = self.data.normalise(op(x))
            data = self.data(model, target)
            loss_g = s.lam * data
            logs = {}
            if train_disc:
                loss_d = adv.train_discriminator(target, model)
                if it >= n_iter // 2:
                    d_sum, d_count = d_sum + loss_d, d_count + 1
                loss_g = loss_g + s.adv_weight * adv.generator_loss(model)
                logs["D"] = loss_d
            self.opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            self.opt_g.step()
            self.opt_g.zero_grad(set_to_none=True)  # nothing of G's gradients alive during D's next step
            return Step(x.detach(), data.detach(), logs)

        start = torch.zeros(sino.shape[0], *op.image_shape, device=sino.device)
        result: LoopResult = guarded_loop(
            step, n_iter, start=start, early_stop=early_stop, bar=bar, name="ganrec", monitor_name="data L1",
            state={"gen": self.gen, "disc": adv.disc, "opt_g": self.opt_g, "opt_d": adv.opt},
            optimizers=[self.opt_g, adv.opt],
        )  # fmt: skip
        stats = {"iterations": result.iterations, "restarts": result.restarts, "data_l1": result.monitor,
                 "d_loss": float(d_sum) / d_count if d_count else float("nan")}  # fmt: skip
        return result.image, stats
