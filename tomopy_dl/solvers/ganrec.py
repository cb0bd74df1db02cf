"""GANrec: self-training GAN reconstruction (Yang et al., J. Synchrotron Rad. 2020).

A generator maps the measured sinogram to an image; the projector maps that
image back to a model sinogram; the generator is trained, per sinogram and
without training data, so that the model sinogram fits the measurement, under
an L1 data term and the verdict of a discriminator that tells measured from
modelled sinograms (eq. 1-3 of the paper).

Three modes keep the ablation measurable:

``'faithful'``
    The paper and the authors' code: the two-step normalisation of
    section 2.3 on the input sinogram, the image and the model sinogram;
    sigmoid cross-entropy GAN loss plus ``lam`` * L1 (``lam`` = 100); Adam with
    lr 1e-3 for G and 1e-5 for D; the last iterate.
``'l1_only'``
    As ``'faithful'`` without the adversarial term.
``'ours'`` (default)
    A missing-wedge GAN on top of a total-variation reconstruction
    (:func:`~tomopy_dl.solvers.tv.tv`, its weight set from the noise of the
    sinogram). The generator is a correction image added to the TV start
    (:class:`~tomopy_dl.networks.PixelGenerator`, starting at zero): the
    paper's network, used as that correction, moved the image by 0.3% and
    could not act on the discriminator. The discriminator
    (:class:`~tomopy_dl.networks.ProjectionDiscriminator`) is shown the
    measured projections as real and the projections of the current image
    at the *unmeasured* angles (:func:`~tomopy_dl.physics.unmeasured_angles`)
    as fake: the missing-wedge artefacts (edges smeared along the missing
    directions) show in those projections and nowhere in the data, so the
    paper's discriminator, which sees only measured angles, cannot see them.
    The generator's loss is the TV objective ``0.5 |A x - sino|^2 + beta TV(x)``
    relative to its value at the start, plus ``adv_weight`` (0.3) times the
    adversarial term, which counts only while that relative objective stays
    below ``1 + slack`` (0.02): a trust region, so that D chooses among images
    about as consistent with the data and as regular as the TV start, and
    cannot drag the image away over long runs. The image is kept
    non-negative, and the output is the average of the iterates over the last
    half of the run. A scan with no missing wedge leaves nothing to judge,
    and the TV start is returned.
    ``benchmarks/limited_angle.py`` measures what each part adds
    (``'ours:adv0'`` is this mode without the discriminator).

Every mode returns images on TomoPy's grid and in the units of gridrec/sirt:
the image is fitted by least squares, ``a * R(x) + b * R(1) ~ sino``, and
``a * x + b`` is returned (``quantitative=True``).
"""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..networks import Discriminator, Generator, PixelGenerator, ProjectionDiscriminator
from ..physics import ParallelBeamProjector, get_projector, unmeasured_angles
from .mlem import mlem
from .sirt import sirt
from .tv import auto_reg_par, tv, tv_objective

__all__ = ["ganrec", "MODES"]

logger = logging.getLogger(__name__)

MODES = ("ours", "faithful", "l1_only")

# Iterations between host-side checks (divergence guard, early stop, logging):
# the loop itself never waits on the device.
_CHECK_EVERY = 50
_SPIKE = 20.0


@dataclass
class _Settings:
    mode: str
    lam: float
    lr_g: float
    lr_d: float
    adv_weight: float
    tv_weight: float
    init_iter: int
    init_method: str
    positivity: bool
    average: bool
    slack: float


_DEFAULTS = {
    "faithful": dict(lam=100.0, lr_g=1e-3, lr_d=1e-5, adv_weight=1.0, tv_weight=0.0, init_iter=0, init_method="sirt", positivity=False, average=False, slack=math.inf),
    "l1_only": dict(lam=100.0, lr_g=1e-3, lr_d=1e-5, adv_weight=0.0, tv_weight=0.0, init_iter=0, init_method="sirt", positivity=False, average=False, slack=math.inf),
    # Chosen by sweeps over benchmarks/limited_angle.py's six limited-angle
    # cases (noisy 128^2 Shepp-Logan and the tooth): a TV start beat an MLEM
    # start by 0.05-0.25 SSIM, and a 100-iteration TV start lost 0.1 on two
    # of three Shepp cases against 300; tv_weight 0.35 (relative, see
    # solvers.tv.auto_reg_par) had the best mean. With the pixel generator
    # and the missing-wedge discriminator, adv_weight 0.3 beat 0, 0.03 and
    # 0.1 on all three Shepp cases, and 1.0 lost on 0-120 degrees; it cost
    # the tooth about 0.01. Without a trust region the image drifted with
    # the iterations (1000 iterations: Shepp 70/51 0.60, tooth 0-120 0.70,
    # against 0.80 and 0.85 at 300); slack 0.02 kept 1000 iterations within
    # 0.03 of 300 and the seed spread under 0.03, and 0.05 let the tooth drift.
    "ours": dict(lam=100.0, lr_g=1e-3, lr_d=1e-3, adv_weight=0.3, tv_weight=0.35, init_iter=300, init_method="tv", positivity=True, average=True, slack=0.02),
}


def _minmax(t: torch.Tensor) -> torch.Tensor:
    """Section 2.3's normalisation: standardise, then scale to [0, 1], per sample.

    The standardisation step does not change the min-max result, but is kept so
    the arithmetic is the paper's.
    """
    dims = tuple(range(1, t.ndim))
    t = (t - t.mean(dims, keepdim=True)) / t.std(dims, keepdim=True).clamp_min(1e-12)
    lo = t.amin(dims, keepdim=True)
    hi = t.amax(dims, keepdim=True)
    return (t - lo) / (hi - lo).clamp_min(1e-12)


def _scale_offset_fit(x: torch.Tensor, sino: torch.Tensor, op: ParallelBeamProjector) -> torch.Tensor:
    """``a * x + b`` with ``a, b`` minimising ``|a R(x) + b R(1) - sino|^2`` per slice."""
    p = op(x).flatten(1)
    q = op.row_sums().flatten()[None].expand_as(p)
    y = sino.flatten(1)
    pp, pq, qq = (p * p).sum(1), (p * q).sum(1), (q * q).sum(1)
    py, qy = (p * y).sum(1), (q * y).sum(1)
    det = pp * qq - pq * pq
    ok = det.abs() > 1e-12 * (pp * qq).clamp_min(1e-30)
    a = torch.where(ok, (py * qq - qy * pq) / torch.where(ok, det, torch.ones_like(det)), py / pp.clamp_min(1e-30))
    b = torch.where(ok, (pp * qy - pq * py) / torch.where(ok, det, torch.ones_like(det)), torch.zeros_like(a))
    return a[:, None, None] * x + b[:, None, None]


class _Fitter:
    """The generator, discriminator and optimisers for one geometry, reused across slices."""

    def __init__(self, op: ParallelBeamProjector, s: _Settings, seed: int, net_kwargs: dict):
        self.op, self.s = op, s
        n_ang, n_det = op.sino_shape
        self.op_gap = None
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if s.mode == "ours":
                # The generator is made per slice batch in fit(): a correction image starting at zero.
                self.gen = None
                self.disc = ProjectionDiscriminator()
                gap = unmeasured_angles(op.theta)
                if gap.size:
                    self.op_gap = get_projector(gap, n_det, *op.image_shape, center=op.center, device=op.device)
            else:
                self.gen = Generator(n_ang, n_det, *op.image_shape, **net_kwargs)
                self.disc = Discriminator()
        dev = op.device
        if self.gen is not None:
            self.gen.to(dev)
            self.opt_g = torch.optim.Adam(self.gen.parameters(), lr=s.lr_g)
        self.disc.to(dev)
        self.opt_d = torch.optim.Adam(self.disc.parameters(), lr=s.lr_d)
        self.train_disc = s.adv_weight > 0

    def snapshot(self) -> dict:
        return copy.deepcopy(
            {k: getattr(self, k).state_dict() for k in ("gen", "disc", "opt_g", "opt_d")}
        )

    def restore(self, snap: dict, lr_factor: float) -> None:
        for k, v in snap.items():
            getattr(self, k).load_state_dict(v)
        for opt in (self.opt_g, self.opt_d):
            for group in opt.param_groups:
                group["lr"] *= lr_factor

    def fit(self, sino: torch.Tensor, n_iter: int, bar, early_stop: float | None) -> tuple[torch.Tensor, dict]:
        s, op = self.s, self.op
        faithful = s.mode != "ours"
        if not faithful:
            # Each batch its own correction, from zero; D and its optimiser carry over (the warm start).
            self.gen = PixelGenerator(sino.shape[0], *op.image_shape).to(sino.device)
            self.opt_g = torch.optim.Adam(self.gen.parameters(), lr=s.lr_g)
        y_n = _minmax(sino)
        scale_y = sino.flatten(1).amax(1).clamp_min(1e-12)[:, None, None]
        beta = auto_reg_par(sino, s.tv_weight)
        if s.init_iter > 0:
            if s.init_method == "tv":
                base = tv(sino, op, num_iter=s.init_iter, reg_par=beta, positivity=s.positivity)
            else:
                base = {"sirt": sirt, "mlem": mlem}[s.init_method](sino, op, num_iter=s.init_iter)
            if s.positivity:
                base = base.clamp_min(0)
        else:
            base = torch.zeros(sino.shape[0], *op.image_shape, device=sino.device)
        scale_x = base.flatten(1).amax(1).clamp_min(1e-6)[:, None, None] if s.init_iter > 0 else None
        if scale_x is None:
            # No starting image: the image scale that fits the data on average.
            scale_x = (scale_y * sino.shape[-1] / op.row_sums().sum().clamp_min(1e-12)).reshape(-1, 1, 1)
        if not faithful:
            # The objective at the start, so that the adversarial weight is relative to it.
            with torch.no_grad():
                j0 = tv_objective(base, sino, op, beta).clamp_min(1e-30)
            if self.op_gap is None:
                # A full-range scan: nothing unmeasured for D to judge, and the TV
                # objective alone would only move the TV start towards the same minimum.
                logger.info("ganrec: no missing wedge in these angles; returning the starting image")
                if bar is not None:
                    bar.update(n_iter)
                return base, {"iterations": 0, "restarts": 0, "data_l1": float("nan"), "d_loss": float("nan")}
        bce = F.binary_cross_entropy_with_logits
        avg, n_avg = None, 0
        avg_from = n_iter // 2 if s.average else n_iter
        snap = self.snapshot()
        # The iterate average and last iterate at the snapshot, restored with the weights.
        good = (None, 0, base)
        best = math.inf
        history: list[float] = []
        stats = {"iterations": 0, "restarts": 0}
        # D's loss summed on the device, read once at the end: 2 ln 2 means D is at chance.
        d_sum, d_count = torch.zeros((), device=sino.device), 0
        x_last = base
        for it in range(n_iter):
            g = self.gen(y_n)
            if faithful:
                x = _minmax(g)
                model = _minmax(op(x))
                target = y_n
            else:
                x = base + scale_x * g
                if s.positivity:
                    x = x.clamp_min(0.0)
                model = op(x) / scale_y
                target = sino / scale_y
            data = (model - target).abs().mean()
            if faithful:
                loss_g = s.lam * data
            else:
                rel_j = tv_objective(x, sino, op, beta, model=model * scale_y) / j0
                loss_g = rel_j.sum()
            if self.train_disc:
                if faithful:
                    real, fake = target, model
                else:
                    # Measured projections are real; projections of x in the missing wedge are fake.
                    real = target.reshape(-1, target.shape[-1])
                    fake = (self.op_gap(x) / scale_y).reshape(-1, target.shape[-1])
                # D's step sees the fake detached: its loss never reaches G.
                self.opt_d.zero_grad(set_to_none=True)
                real_logits = self.disc(real)
                fake_logits = self.disc(fake.detach())
                loss_d = bce(real_logits, torch.ones_like(real_logits)) + bce(fake_logits, torch.zeros_like(fake_logits))
                loss_d.backward()
                if it >= n_iter // 2:
                    d_sum, d_count = d_sum + loss_d.detach(), d_count + 1
                self.opt_d.step()
                self.opt_d.zero_grad(set_to_none=True)
                # G's step must not leave gradients in D.
                self.disc.requires_grad_(False)
                adv_logits = self.disc(fake)
                if faithful:
                    loss_g = loss_g + s.adv_weight * bce(adv_logits, torch.ones_like(adv_logits))
                else:
                    adv = bce(adv_logits, torch.ones_like(adv_logits), reduction="none").reshape(x.shape[0], -1).mean(1)
                    # A trust region: D may only choose among images whose TV objective stays within
                    # `slack` of the start's; outside it, only the objective pulls (a mask, not a branch:
                    # no host synchronisation).
                    inside = (rel_j.detach() <= 1.0 + s.slack).to(adv.dtype)
                    loss_g = loss_g + s.adv_weight * (inside * adv).sum()
                self.disc.requires_grad_(True)
            self.opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            self.opt_g.step()
            # Free G's gradients now, so that nothing of them is alive during D's next step.
            self.opt_g.zero_grad(set_to_none=True)
            x_last = x.detach()
            if it >= avg_from:
                avg = x_last.clone() if avg is None else avg + x_last
                n_avg += 1
            stats["iterations"] = it + 1
            if bar is not None:
                bar.update(1)
            if (it + 1) % _CHECK_EVERY == 0 or it + 1 == n_iter:
                value = float(data.detach())
                if not math.isfinite(value) or value > _SPIKE * best:
                    logger.warning("ganrec: loss %.3g at iteration %d; restoring the last good weights at half the step", value, it + 1)
                    self.restore(snap, 0.5)
                    avg, n_avg, x_last = good
                    avg = None if avg is None else avg.clone()
                    stats["restarts"] += 1
                    continue
                best = min(best, value)
                snap = self.snapshot()
                good = (None if avg is None else avg.clone(), n_avg, x_last)
                history.append(value)
                logger.debug("ganrec: iteration %d, data L1 %.4g%s", it + 1, value, f", D {float(loss_d.detach()):.4g}" if self.train_disc else "")
                if early_stop and len(history) >= 3 and history[-3] - history[-1] < early_stop * history[-3]:
                    logger.info("ganrec: data residual plateaued at iteration %d; stopping early", it + 1)
                    break
        stats["data_l1"] = history[-1] if history else float("nan")
        stats["d_loss"] = float(d_sum) / d_count if d_count else float("nan")
        out = avg / n_avg if n_avg else x_last
        return out, stats


def ganrec(
    sino: torch.Tensor,
    op: ParallelBeamProjector,
    num_iter: int | None = None,
    warm_iter: int | None = None,
    mode: str = "ours",
    lam: float | None = None,
    lr_g: float | None = None,
    lr_d: float | None = None,
    adv_weight: float | None = None,
    tv_weight: float | None = None,
    init_iter: int | None = None,
    init_method: str | None = None,
    slack: float | None = None,
    batch_size: int | None = None,
    independent: bool = False,
    early_stop: float | None = None,
    quantitative: bool = True,
    seed: int = 0,
    progress: bool = False,
) -> torch.Tensor:
    """GANrec reconstruction of a batch of sinograms.

    Parameters
    ----------
    sino : torch.Tensor, shape (B, nangles, ndet)
        Line integrals.
    op : ParallelBeamProjector
        The geometry.
    num_iter : int, optional
        Iterations for the first slice batch (default 300; 1000 in
        ``'faithful'`` mode).
    warm_iter : int, optional
        Iterations for each following batch, which starts from the previous
        batch's weights (default ``num_iter // 4``, at least 1). In
        ``'ours'`` mode that is the discriminator; each batch's correction
        image starts at zero on its own TV start.
    mode : {'ours', 'faithful', 'l1_only'}
        See the module docstring.
    lam : float, optional
        Weight of the L1 data term (100) in ``'faithful'`` and ``'l1_only'``
        modes; ``'ours'`` uses the TV objective instead.
    lr_g, lr_d : float, optional
        Adam step sizes of the generator and the discriminator.
    adv_weight : float, optional
        Weight of the adversarial term in the generator's loss; 0 disables
        the discriminator.
    tv_weight : float, optional
        Weight of the total-variation prior relative to the noise of the
        sinogram (``'ours'`` only; default 0.35): the absolute weight is
        ``tv_weight * noise * sqrt(nangles)``, as in
        :func:`tomopy_dl.solvers.tv.auto_reg_par`. Raise it for smoother
        images, lower it for finer detail.
    init_iter : int, optional
        Iterations of the classic solver that gives the starting image
        (``'ours'`` only; default 300).
    init_method : {'tv', 'sirt', 'mlem'}, optional
        That solver (default ``'tv'``).
    slack : float, optional
        ``'ours'`` only: the adversarial term acts only while the TV
        objective is within ``1 + slack`` times its value at the start
        (default 0.02; ``math.inf`` removes the trust region). Larger values
        let the discriminator change the image more, and let long runs drift.
    batch_size : int, optional
        Slices fitted together; 1 on the CPU and 16 on CUDA by default.
    independent : bool
        Fit every batch from freshly initialised networks with ``num_iter``
        iterations instead of warm-starting.
    early_stop : float, optional
        Stop a batch when the data residual improved by less than this
        fraction over the last 100 iterations (e.g. ``1e-3``).
    quantitative : bool
        Return ``a * x + b`` fitted so that its projection matches the data
        (units of gridrec/sirt); otherwise the raw network image.
    seed : int
        Seed of the network initialisation: equal seeds give equal results.
    progress : bool
        Show a tqdm bar over all iterations.

    Returns
    -------
    torch.Tensor, shape (B, num_gridx, num_gridy)
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    settings = dict(_DEFAULTS[mode])
    for key, value in (("lam", lam), ("lr_g", lr_g), ("lr_d", lr_d), ("adv_weight", adv_weight), ("tv_weight", tv_weight), ("init_iter", init_iter), ("init_method", init_method), ("slack", slack)):
        if value is not None:
            settings[key] = value
    for key in ("lam", "lr_g", "lr_d", "adv_weight", "tv_weight", "slack"):
        v = settings[key]
        if not (isinstance(v, (int, float)) and v >= 0 and (math.isfinite(v) or (key == "slack" and v == math.inf))):
            allowed = "a number >= 0 (inf turns the trust region off)" if key == "slack" else "a finite number >= 0"
            raise ValueError(f"{key} must be {allowed}, got {v!r}")
    if settings["init_method"] not in ("tv", "sirt", "mlem"):
        raise ValueError(f"init_method must be 'tv', 'sirt' or 'mlem', got {settings['init_method']!r}")
    s = _Settings(mode=mode, **settings)
    if sino.shape[1] < 2:
        raise ValueError(f"ganrec needs at least 2 projection angles, got {sino.shape[1]}")
    n_first = int(num_iter if num_iter is not None else (1000 if mode == "faithful" else 300))
    n_warm = int(warm_iter if warm_iter is not None else max(1, n_first // 4))
    if n_first < 1 or n_warm < 1:
        raise ValueError(f"num_iter and warm_iter must be >= 1, got {n_first} and {n_warm}")
    if batch_size is None:
        batch_size = 16 if sino.device.type == "cuda" else 1
    batch_size = max(1, int(batch_size))
    n_batches = math.ceil(sino.shape[0] / batch_size)
    total = n_first * (n_batches if independent else 1) + (0 if independent else n_warm * (n_batches - 1))

    if sino.device.type == "cuda":
        # TF32 matmuls/convs: the networks tolerate them, the projector is sparse fp32.
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    # Work on data of order one: the losses square the data, and 1e20 squared
    # overflows float32. A power of two scales exactly, so the result is
    # invariant to the data's units to the last bit.
    peak = float(sino.abs().max())
    unit = 2.0 ** round(math.log2(peak)) if peak > 0 and math.isfinite(peak) else 1.0
    sino = sino / unit
    out = torch.empty(sino.shape[0], *op.image_shape, device=sino.device)
    fitter = None
    with torch.enable_grad(), tqdm(total=total, desc="ganrec", unit="it", disable=not progress, leave=False) as bar:
        for i in range(n_batches):
            part = slice(i * batch_size, (i + 1) * batch_size)
            if fitter is None or independent:
                fitter = _Fitter(op, s, seed, {})
                n_iter = n_first
            else:
                n_iter = n_warm
            bar.set_postfix_str(f"slices {part.start}-{min(part.stop, sino.shape[0]) - 1}")
            x, stats = fitter.fit(sino[part], n_iter, bar, early_stop)
            if quantitative:
                with torch.no_grad():
                    x = _scale_offset_fit(x, sino[part], op)
            out[part] = x.detach()
            logger.info("ganrec: slices %d-%d, %d iterations, data L1 %.4g, D loss %.4g (chance: 1.386)",
                        part.start, min(part.stop, sino.shape[0]) - 1, stats["iterations"], stats["data_l1"], stats["d_loss"])
    # The paper's modes without the quantitative fit return their own [0, 1]
    # image, whatever the data's units; everything else is in data units.
    return out if (mode != "ours" and not quantitative) else out * unit
