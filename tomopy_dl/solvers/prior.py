"""Priors: total variation, and the adversarial terms of GANrec with their discriminators."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..networks import ProjectionDiscriminator
from ..physics import Projector, unmeasured_angles

__all__ = [
    "grad2d",
    "div2d",
    "tv_norm",
    "estimate_noise",
    "auto_reg_par",
    "TV",
    "PRIORS",
    "noise_sigma",
    "qggmrf_sigma",
    "QGGMRF",
    "Adversarial",
    "WedgeAdversarial",
]


def grad2d(x: torch.Tensor) -> torch.Tensor:
    """Forward differences with a zero last row/column: ``(B, H, W) -> (B, 2, H, W)``.

    Examples
    --------
    >>> import torch
    >>> grad2d(torch.arange(9.0).reshape(1, 3, 3))[0, :, 0, 0]  # steps down and right
    tensor([3., 1.])
    """
    g = torch.zeros(x.shape[0], 2, *x.shape[1:], dtype=x.dtype, device=x.device)
    g[:, 0, :-1] = x[:, 1:] - x[:, :-1]
    g[:, 1, :, :-1] = x[:, :, 1:] - x[:, :, :-1]
    return g


def div2d(g: torch.Tensor) -> torch.Tensor:
    """The negative adjoint of :func:`grad2d`: ``<grad x, g> = -<x, div g>``.

    Examples
    --------
    >>> import torch
    >>> x, g = torch.rand(1, 5, 5), torch.rand(1, 2, 5, 5)
    >>> bool(torch.isclose((grad2d(x) * g).sum(), -(x * div2d(g)).sum()))
    True
    """
    gx, gy = g[:, 0], g[:, 1]
    d = torch.zeros_like(gx)
    d[:, :-1] += gx[:, :-1]
    d[:, 1:] -= gx[:, :-1]
    d[:, :, :-1] += gy[:, :, :-1]
    d[:, :, 1:] -= gy[:, :, :-1]
    return d


def tv_norm(x: torch.Tensor) -> torch.Tensor:
    """Isotropic total variation of each image, ``(B, H, W) -> (B,)``.

    Examples
    --------
    >>> import torch
    >>> step = torch.zeros(1, 4, 4)
    >>> step[:, 2:] = 1.0
    >>> float(tv_norm(step)[0])
    4.0
    """
    # The norm over a contiguous last axis: over axis 1 of (B, 2, H, W) torch's CPU reduction took
    # 0.33 s at 2048^2, forward and backward, against 0.08 s so (the same values and gradients).
    return torch.linalg.vector_norm(grad2d(x).movedim(1, -1).contiguous(), dim=-1).flatten(1).sum(1)


def estimate_noise(sino: torch.Tensor) -> torch.Tensor:
    """Standard deviation of the noise of each sinogram, ``(B, nangles, ndet) -> (B,)``.

    The median absolute deviation of second differences along the detector,
    scaled to a Gaussian's standard deviation: edges of the object are rare
    enough not to move the median. A floor of 1e-4 of the sinogram's largest
    value keeps noiseless data regularised a little.

    Examples
    --------
    >>> import torch
    >>> torch.manual_seed(0) and None
    >>> noise = estimate_noise(0.1 * torch.randn(1, 90, 256))
    >>> bool(abs(float(noise[0]) - 0.1) < 0.01)
    True
    """
    d = sino[..., 2:] - 2 * sino[..., 1:-1] + sino[..., :-2]
    d = d.flatten(1)
    mad = (d - d.median(1, keepdim=True).values).abs().median(1).values
    floor = 1e-4 * sino.flatten(1).abs().amax(1)
    return torch.maximum(mad * (1.4826 / 6**0.5), floor)


def auto_reg_par(sino: torch.Tensor, factor: float = 0.35, *, data: str = "l2") -> torch.Tensor:
    """TV weight from the data: ``factor * noise * sqrt(nangles)`` per sinogram, ``(B,)``.

    The gradient of the data term at the solution is a back-projection of the
    residual, which is noise of size ``noise * sqrt(nangles)`` per pixel; the
    TV weight is set in proportion. ``factor`` = 0.35 maximised the mean SSIM
    over the six limited-angle cases of ``benchmarks/limited_angle.py``; the
    best weight of each case lay within 0.6x to 3x of it.

    With ``data='kl'`` the residual is divided by the model (the gradient of
    the Poisson term is ``A^T (1 - y / A x)``), so the weight is divided by
    the typical measured value: the mean over rays above 5% of the maximum.

    Examples
    --------
    >>> import torch
    >>> torch.manual_seed(0) and None
    >>> sino = 0.1 * torch.randn(2, 100, 256)
    >>> auto_reg_par(sino).shape  # one weight per sinogram, about 0.35 * 0.1 * sqrt(100)
    torch.Size([2])
    """
    beta = factor * estimate_noise(sino) * sino.shape[1] ** 0.5
    if data == "kl":
        flat = sino.flatten(1)
        through = flat > 0.05 * flat.amax(1, keepdim=True)  # rays through the object
        typical = (flat * through).sum(1) / through.sum(1).clamp_min(1)
        beta = beta / typical.clamp_min(1e-12)
    elif data != "l2":
        raise ValueError(f"data must be 'l2' or 'kl', got {data!r}")
    return beta


class TV:
    """``weight * TV(x)`` per slice, with ``weight`` of shape (B,) (see :func:`auto_reg_par`).

    What a prior of the primal-dual loop (:func:`~.iterative.primal_dual`) provides, as class
    attributes and static methods: ``apply`` (the linear operator ``K`` it is a function of:
    here the gradient), ``adjoint`` (``K^T``), ``row_sum`` and ``col_sum`` (the largest
    absolute row and column sums of ``K``, for the diagonal steps) and ``prox_conjugate``
    (the dual step: the prox of ``sigma (weight g)*`` for ``g`` the prior as a function of
    ``K x``). A new prior is such a class and a row of :data:`PRIORS`.

    Examples
    --------
    >>> import torch
    >>> step = torch.zeros(1, 4, 4); step[:, 2:] = 1.0
    >>> TV(torch.tensor([0.5]))(step)
    tensor([2.])
    """

    row_sum = 2.0  # each forward difference has two entries of size 1
    col_sum = 4.0  # and each pixel is in at most four of them

    def __init__(self, weight: torch.Tensor):
        self.weight = weight

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.weight * tv_norm(x)

    apply = staticmethod(grad2d)

    @staticmethod
    def adjoint(q: torch.Tensor) -> torch.Tensor:
        return -div2d(q)

    @staticmethod
    def prox_conjugate(q: torch.Tensor, sigma: float, weight: torch.Tensor) -> torch.Tensor:
        """Projection of each pixel's gradient pair onto the ball of radius ``weight`` (B, 1, 1, 1)."""
        ones = torch.ones_like(weight)
        # hypot: a norm over axis 1 took 0.3 s at 2048^2 on the CPU, this 0.02 s. weight 0 zeroes q.
        size = torch.hypot(q[:, 0], q[:, 1]).unsqueeze(1)
        return q * torch.minimum(ones, weight / size.clamp_min(1e-30))


def _support(sino: torch.Tensor) -> torch.Tensor:
    """Rays through the object, ``(B, nangles, ndet)`` bool: above 5% of the mean absolute value (svmbir's rule)."""
    return sino > 0.05 * sino.abs().flatten(1).mean(1).view(-1, 1, 1)


def noise_sigma(sino: torch.Tensor, snr_db: float = 30.0) -> torch.Tensor:
    """The data's assumed noise level for :func:`~.iterative.mbir`, ``(B, nangles, ndet) -> (B,)``.

    ``10 ** (-snr_db / 20)`` times the root mean square of the rays through
    the object: svmbir's ``auto_sigma_y`` for unit pixels (Balke et al.),
    so that a signal-to-noise ratio says how closely the data are fitted.

    Examples
    --------
    >>> import torch
    >>> round(float(noise_sigma(torch.full((1, 4, 8), 2.0), snr_db=20.0)[0]), 6)  # 10% of 2
    0.2
    """
    through = _support(sino)
    ms = (sino.square() * through).flatten(1).sum(1) / through.flatten(1).sum(1).clamp_min(1)
    return 10.0 ** (-snr_db / 20.0) * ms.sqrt()


def qggmrf_sigma(sino: torch.Tensor, sharpness: float = 0.0) -> torch.Tensor:
    """The scale of the :class:`QGGMRF` prior from the data, ``(B, nangles, ndet) -> (B,)``.

    ``0.2 * 2 ** sharpness`` times a typical image value: the mean ray
    through the object over the detector's width (svmbir's ``auto_sigma_x``).
    Larger ``sharpness`` weakens the prior: sharper, noisier images.

    Examples
    --------
    >>> import torch
    >>> round(float(qggmrf_sigma(torch.full((1, 4, 10), 5.0), sharpness=1.0)[0]), 6)  # 0.2 * 2 * 5 / 10
    0.2
    """
    through = _support(sino)
    typical = (sino * through).flatten(1).sum(1) / through.flatten(1).sum(1).clamp_min(1) / sino.shape[-1]
    return 0.2 * 2.0**sharpness * typical


class QGGMRF:
    """The q-generalised Gaussian Markov random field prior of model-based reconstruction, per slice.

    ``sum over neighbour pairs (s, r) of b_sr rho(x_s - x_r)`` with
    ``rho(d) = |d|^p / (p sigma^p) * u / (1 + u)``, ``u = |d / (T sigma)|^(q - p)``
    [1]_: quadratic for differences below ``T sigma`` (noise is smoothed),
    ``|d|^p`` above (edges are kept, more softly than TV's ``|d|``). The
    neighbours are the 8 of each pixel, diagonal ones weighted ``1/sqrt 2``,
    normalised as svmbir does (with its two interslice neighbours in the sum).
    ``sigma`` (B,) sets the scale (see :func:`qggmrf_sigma`).

    It is smooth, so it provides a gradient and the curvature of a separable
    quadratic that majorises it at the current image (Huber's bound: each
    pair's ``rho'(d)/d`` is largest at ``d``'s size, doubled to separate the
    pair), which is what :func:`~.iterative.mbir`'s loop steps with.

    References
    ----------
    .. [1] Thibault, J.-B., Sauer, K. D., Bouman, C. A. and Hsieh, J. "A
       three-dimensional statistical approach to improved image quality for
       multislice helical CT", Med. Phys. 34, 4526-4544 (2007).

    Examples
    --------
    >>> import torch
    >>> prior = QGGMRF(torch.tensor([1.0]))
    >>> x = torch.zeros(1, 6, 6); x[:, 2:4, 2:4] = 1.0
    >>> grad, curvature = prior.grad_and_curvature(x)
    >>> bool(prior(x)[0] > 0), grad.shape, bool((curvature > 0).all())
    (True, torch.Size([1, 6, 6]), True)
    """

    p, q, threshold = 1.2, 2.0, 1.0
    _B_DIAG = 2**-0.5
    # (down, right) offsets, each pair once; weights normalised over 4 nearest + 4 diagonal + 2 interslice.
    _PAIRS = (((1, 0), 1.0), ((0, 1), 1.0), ((1, 1), _B_DIAG), ((1, -1), _B_DIAG))
    _NORM = 4.0 + 4.0 * _B_DIAG + 2.0

    def __init__(self, sigma: torch.Tensor):
        self.sigma = sigma.reshape(-1, 1, 1)

    def _pairs(self, x: torch.Tensor):
        """For each offset: the slices of ``x`` of the first and second pixel of every pair, and the weight."""
        h, w = x.shape[-2:]
        for (dy, dx), b in self._PAIRS:
            first = (..., slice(dy, h), slice(max(dx, 0), w + min(dx, 0)))
            second = (..., slice(0, h - dy), slice(max(-dx, 0), w + min(-dx, 0)))
            yield first, second, b / self._NORM

    def _weight(self, d: torch.Tensor) -> torch.Tensor:
        """``rho'(d) / d``, bounded (for q = 2) and largest at d = 0."""
        u = (d.abs() / (self.threshold * self.sigma)).pow(self.q - self.p)
        scale = self.sigma.pow(self.p) * (self.threshold * self.sigma).pow(self.q - self.p)
        return d.abs().pow(self.q - 2.0) * (self.q / self.p + u) / ((1 + u).square() * scale)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        total = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        for first, second, b in self._pairs(x):
            d = (x[first] - x[second]).abs()
            u = (d / (self.threshold * self.sigma)).pow(self.q - self.p)
            total = total + b * (d.pow(self.p) / (self.p * self.sigma.pow(self.p)) * u / (1 + u)).flatten(1).sum(1)
        return total

    def grad_and_curvature(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The gradient at ``x`` (B, H, W) and the per-pixel curvature of a separable majoriser there."""
        grad, curvature = torch.zeros_like(x), torch.zeros_like(x)
        for first, second, b in self._pairs(x):
            d = x[first] - x[second]
            w = b * self._weight(d)
            grad[first] += w * d
            grad[second] -= w * d
            curvature[first] += 2 * w
            curvature[second] += 2 * w
        return grad, curvature


#: The priors of the primal-dual loop by name (:func:`~.iterative.primal_dual`'s ``prior``).
PRIORS = {"tv": TV}


#: Projections the discriminator sees per step, of each kind (real, fake): all of them below it.
#: Above every case of benchmarks/limited_angle.py, which therefore see all their rows.
MAX_ROWS = 256


class Adversarial:
    """A discriminator, its Adam optimiser and the two sigmoid cross-entropy GAN losses.

    The discriminator is built by the caller, inside its seeded random state.

    Examples
    --------
    >>> import torch
    >>> from tomopy_dl.networks import ProjectionDiscriminator
    >>> adv = Adversarial(ProjectionDiscriminator(), 1e-3, "cpu")
    >>> d_loss = adv.train_discriminator(torch.rand(4, 32), torch.rand(4, 32))
    >>> adv.generator_loss(torch.rand(4, 32), samples=2).shape
    torch.Size([2])
    """

    def __init__(self, disc: torch.nn.Module, lr: float, device):
        self.disc = disc.to(device)
        self.opt = torch.optim.Adam(self.disc.parameters(), lr=lr)

    def train_discriminator(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """One step of D on ``real`` (label 1) against ``fake`` (label 0); returns D's loss, detached.

        D sees the fake detached: its loss never reaches the generator.
        """
        bce = F.binary_cross_entropy_with_logits
        self.opt.zero_grad(set_to_none=True)
        real_logits = self.disc(real)
        fake_logits = self.disc(fake.detach())
        loss_d = bce(real_logits, torch.ones_like(real_logits)) + bce(fake_logits, torch.zeros_like(fake_logits))
        loss_d.backward()
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        return loss_d.detach()

    def generator_loss(self, fake: torch.Tensor, samples: int | None = None) -> torch.Tensor:
        """The generator's loss, ``-log D(fake)``: its mean, or per sample over ``samples`` groups.

        D's weights are frozen meanwhile, so the generator's step leaves no gradient in D.
        """
        self.disc.requires_grad_(False)
        logits = self.disc(fake)
        ones = torch.ones_like(logits)
        if samples is None:
            loss = F.binary_cross_entropy_with_logits(logits, ones)
        else:
            loss = F.binary_cross_entropy_with_logits(logits, ones, reduction="none").reshape(samples, -1).mean(1)
        self.disc.requires_grad_(True)
        return loss


class WedgeAdversarial(Adversarial):
    """The missing-wedge adversarial prior of GANrec's default mode.

    A :class:`~tomopy_dl.networks.ProjectionDiscriminator` is shown the
    measured projections as real and the projections of the current image at
    the *unmeasured* angles (:func:`~tomopy_dl.physics.unmeasured_angles`)
    as fake. Missing-wedge artefacts (edges smeared along the missing
    directions) show in those projections and nowhere in the data, so a
    discriminator that sees only measured angles, as the paper's does,
    cannot see them. ``op_gap`` is None for a scan with no missing wedge.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from tomopy_dl.physics import get_projector
    >>> op = get_projector(np.deg2rad(np.arange(0, 120, 2.0)), 24, 16, 16)
    >>> prior = WedgeAdversarial(op, lr=1e-3)
    >>> prior.fake(torch.rand(1, 16, 16), torch.ones(1, 1, 1)).shape[1]  # unmeasured projections, one per row
    24
    """

    def __init__(self, op: Projector, lr: float):
        disc = ProjectionDiscriminator()
        gap = unmeasured_angles(op.theta)
        self.op_gap = op.restrict(gap) if gap.size else None
        super().__init__(disc, lr, op.device)
        # Row draws of its own, seeded by the caller's seed without drawing from the global state.
        self.rows = torch.Generator().manual_seed(torch.initial_seed())

    def sample_rows(self, n: int, at_most: int) -> torch.Tensor | None:
        """``at_most`` of ``n`` row indices drawn for one step, sorted, or None (all rows) when ``n <= at_most``.

        The discriminator judges local windows, so it is trained on a sample
        of projections per step, as on a minibatch: at 1000 angles of 2048
        pixels its convolutions over every row took 1.7 s of a GAN step's 2.4 s.
        """
        if n <= at_most:
            return None
        return torch.randperm(n, generator=self.rows)[:at_most].sort().values

    def train_discriminator(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """:meth:`Adversarial.train_discriminator` on at most :data:`MAX_ROWS` of the measured projections."""
        pick = self.sample_rows(real.shape[0], MAX_ROWS)
        return super().train_discriminator(real if pick is None else real[pick.to(real.device)], fake)

    def fake(self, x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """Projections of ``x`` in the missing wedge, divided by ``scale``, one per row.

        Beyond :data:`MAX_ROWS` rows, a sample of the unmeasured angles drawn
        anew each call (the same angles for every slice, so rows stay grouped
        by slice).
        """
        p = self.op_gap(x) / scale
        pick = self.sample_rows(p.shape[1], max(1, MAX_ROWS // p.shape[0]))
        if pick is not None:
            p = p[:, pick.to(p.device)]
        return p.reshape(-1, p.shape[-1])
