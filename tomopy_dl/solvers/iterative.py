"""The classic iterative solvers: SIRT, MLEM and total-variation least squares."""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..physics import Projector, bin_detector
from ..util.validation import as_choice
from ._common import safe_inverse
from .data_fidelity import DATA_TERMS
from .prior import PRIORS, QGGMRF, TV, auto_reg_par, noise_sigma, qggmrf_sigma
from .table import default

__all__ = [
    "sirt",
    "mlem",
    "mbir",
    "tv",
    "sirt_iterates",
    "mlem_iterates",
    "mbir_iterates",
    "tv_iterates",
    "tv_objective",
]

logger = logging.getLogger(__name__)

_TINY = 1e-12


def _zeros_or(init: torch.Tensor | None, sino: torch.Tensor, op: Projector) -> torch.Tensor:
    """A copy of ``init``, or zeros: the start of SIRT and TV."""
    return torch.zeros(sino.shape[0], *op.image_shape, device=sino.device) if init is None else init.clone()


def _run(name: str, steps: Iterator[torch.Tensor], num_iter: int, progress: bool, start: torch.Tensor):
    """The loop every classic solver shares: ``num_iter`` of its iterates under a bar; ``start`` after none."""
    x = start
    for x in itertools.islice(tqdm(steps, total=num_iter, desc=name, disable=not progress, leave=False), num_iter):
        pass
    return x


def _log_residual(name: str, sino: torch.Tensor, op: Projector, x: torch.Tensor, num_iter: int) -> None:
    if logger.isEnabledFor(logging.DEBUG):
        res = torch.linalg.vector_norm(sino - op(x)) / torch.linalg.vector_norm(sino).clamp_min(1e-12)
        logger.debug("%s: %d iterations, relative data residual %.4g", name, num_iter, float(res))


def sirt(
    sino: torch.Tensor,
    op: Projector,
    *,
    init: torch.Tensor | None = None,
    num_iter: int = default("sirt", "num_iter"),
    progress: bool = False,
) -> torch.Tensor:
    """Simultaneous iterative reconstruction.

    ``x <- x + C A^T (R (sino - A x))`` where ``R`` is one over each ray's sum of
    squared intersection lengths and ``C`` one over each pixel's total length,
    exactly as TomoPy's ``sirt`` normalises, so both converge alike.

    Parameters
    ----------
    sino : torch.Tensor, shape (B, nangles, ndet)
        Line integrals.
    op : Projector
        The geometry (any backend of :data:`tomopy_dl.physics.PROJECTORS`).
    init : torch.Tensor, shape (B, num_gridx, num_gridy), optional
        Starting image; zeros by default.
    num_iter : int
        Iterations.
    progress : bool
        Show a tqdm bar over the iterations.

    Returns
    -------
    torch.Tensor, shape (B, num_gridx, num_gridy)
        Images in the units of the object, as TomoPy's ``sirt`` gives them.

    References
    ----------
    .. [1] Gilbert, P. "Iterative methods for the three-dimensional
       reconstruction of an object from projections", J. Theor. Biol. 36,
       105-117 (1972).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from tomopy_dl.physics import ParallelBeamProjector
    >>> from tomopy_dl.sim import shepp_logan
    >>> phantom = torch.from_numpy(shepp_logan(32))[None]
    >>> op = ParallelBeamProjector(np.linspace(0, np.pi, 64, endpoint=False), 48, 32, 32)
    >>> x = sirt(op(phantom), op, num_iter=100)
    >>> bool(torch.linalg.vector_norm(x - phantom) < 0.2 * torch.linalg.vector_norm(phantom))
    True
    """
    x0 = _zeros_or(init, sino, op)
    x = _run("sirt", _sirt_steps(sino, op, x0), num_iter, progress, x0)
    _log_residual("sirt", sino, op, x, num_iter)
    return x


def sirt_iterates(sino: torch.Tensor, op: Projector, *, init: torch.Tensor | None = None) -> Iterator[torch.Tensor]:
    """:func:`sirt`'s iterates, one per iteration, without end (arguments as there; do not modify them).

    Examples
    --------
    >>> import itertools, numpy as np, torch
    >>> from tomopy_dl.physics import get_projector
    >>> op = get_projector(np.linspace(0, np.pi, 16, endpoint=False), 16, 12, 12)
    >>> y = op(torch.ones(1, 12, 12))
    >>> torch.equal(list(itertools.islice(sirt_iterates(y, op), 5))[-1], sirt(y, op, num_iter=5))
    True
    """
    return _sirt_steps(sino, op, _zeros_or(init, sino, op))


def _sirt_steps(sino: torch.Tensor, op: Projector, x: torch.Tensor) -> Iterator[torch.Tensor]:
    inv_rows = safe_inverse(op.row_sq_sums())
    inv_cols = safe_inverse(op.col_sums())
    while True:
        with torch.no_grad():  # per step, not around the yield (see _primal_dual_steps)
            x = x + op.adjoint((sino - op(x)) * inv_rows) * inv_cols
        yield x


def mlem(
    sino: torch.Tensor,
    op: Projector,
    *,
    init: torch.Tensor | None = None,
    num_iter: int = default("mlem", "num_iter"),
    progress: bool = False,
) -> torch.Tensor:
    """Maximum-likelihood expectation maximisation.

    ``x <- x / (A^T 1) * A^T (sino / A x)``. The iterate stays non-negative.
    Negative measurements, which noise and log-normalisation can produce, are
    taken as zero because MLEM models counts.

    Parameters
    ----------
    sino : torch.Tensor, shape (B, nangles, ndet)
        Line integrals.
    op : Projector
        The geometry (any backend of :data:`tomopy_dl.physics.PROJECTORS`).
    init : torch.Tensor, shape (B, num_gridx, num_gridy), optional
        Starting image; negative values are clipped to zero. A uniform image
        (TomoPy's 1e-6 prefill, or ones by default) is the usual start.
    num_iter : int
        Iterations.
    progress : bool
        Show a tqdm bar over the iterations.

    Returns
    -------
    torch.Tensor, shape (B, num_gridx, num_gridy), non-negative

    References
    ----------
    .. [1] Shepp, L. A. and Vardi, Y. "Maximum likelihood reconstruction for
       emission tomography", IEEE Trans. Med. Imaging 1, 113-122 (1982).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from tomopy_dl.physics import get_projector
    >>> op = get_projector(np.linspace(0, np.pi, 32, endpoint=False), 24, 16, 16)
    >>> truth = torch.zeros(1, 16, 16); truth[:, 4:12, 6:10] = 1.0
    >>> x = mlem(op(truth), op, num_iter=200)
    >>> bool((x >= 0).all())
    True
    """
    x0, y = _mlem_start(init, sino, op), sino.clamp_min(0.0)
    x = _run("mlem", _mlem_steps(y, op, x0), num_iter, progress, x0)
    _log_residual("mlem", y, op, x, num_iter)
    return x


def mlem_iterates(sino: torch.Tensor, op: Projector, *, init: torch.Tensor | None = None) -> Iterator[torch.Tensor]:
    """:func:`mlem`'s iterates, one per iteration, without end (arguments as there; do not modify them).

    Examples
    --------
    >>> import itertools, numpy as np, torch
    >>> from tomopy_dl.physics import get_projector
    >>> op = get_projector(np.linspace(0, np.pi, 16, endpoint=False), 16, 12, 12)
    >>> y = op(torch.ones(1, 12, 12))
    >>> torch.equal(list(itertools.islice(mlem_iterates(y, op), 5))[-1], mlem(y, op, num_iter=5))
    True
    """
    return _mlem_steps(sino.clamp_min(0.0), op, _mlem_start(init, sino, op))


def _mlem_start(init: torch.Tensor | None, sino: torch.Tensor, op: Projector) -> torch.Tensor:
    if init is None:
        return torch.ones(sino.shape[0], *op.image_shape, device=sino.device)
    x = init.clamp_min(0.0)
    # An all-zero start is a fixed point of MLEM; begin from a flat image instead.
    flat = x.flatten(1).amax(dim=1) <= 0
    return torch.where(flat[:, None, None], torch.ones_like(x), x)


def _mlem_steps(y: torch.Tensor, op: Projector, x: torch.Tensor) -> Iterator[torch.Tensor]:
    inv_cols = safe_inverse(op.col_sums())
    # An operator with negative entries (the band-limited Fourier one rings at sharp edges) can
    # model a ray near zero where the data are not, and back-project negative values: MLEM then
    # diverged (held-out error 3.6 on a 128^2 Shepp-Logan at 0-90 degrees). So for such an operator
    # the model is floored at 1e-3 of the data's peak and the back-projection at 0 (held-out
    # error 0.164, the Siddon projector's 0.162 at 0-120 degrees). A ray-length operator needs neither.
    floor = _TINY if op.nonnegative else 1e-3 * y.flatten(1).amax(1).clamp_min(_TINY)[:, None, None]
    while True:
        with torch.no_grad():
            model = op(x)
            ratio = torch.where(model > _TINY, y / model.clamp_min(floor), torch.zeros_like(model))
            back = op.adjoint(ratio)
            x = x * (back if op.nonnegative else back.clamp_min(0.0)) * inv_cols
        yield x


def mbir(
    sino: torch.Tensor,
    op: Projector,
    *,
    init: torch.Tensor | None = None,
    num_iter: int = default("mbir", "num_iter"),
    sharpness: float = default("mbir", "sharpness"),
    snr_db: float = default("mbir", "snr_db"),
    progress: bool = False,
) -> torch.Tensor:
    """Model-based iterative reconstruction: least squares with a :class:`~.prior.QGGMRF` prior, non-negative.

    Minimises ``|A x - sino|^2 / (2 sigma_y^2) + QGGMRF(x)`` over ``x >= 0``,
    the model of svmbir [1]_ (unweighted, its default prior ``p = 1.2,
    q = 2, T = 1`` on 8 neighbours) with its weights set from the data in
    the same way: ``sigma_y`` from ``snr_db`` (:func:`~.prior.noise_sigma`),
    the prior's scale from ``sharpness`` (:func:`~.prior.qggmrf_sigma`). On
    our projector and solved on our device: each iteration majorises the
    objective by a separable quadratic (the data term's ``A^T A 1`` and the
    prior's Huber curvature) and steps to its minimum, with Nesterov's
    momentum. After 300 iterations its held-out error was within 1% of 600
    iterations' on the measured basalt and wood slices and the counts phantom
    of ``benchmarks/limited_angle.py`` (128-192 px), within 4% on a 462-px
    slice: larger images converge more slowly.

    Parameters
    ----------
    sino : torch.Tensor, shape (B, nangles, ndet)
        Line integrals.
    op : Projector
        The geometry (any backend of :data:`tomopy_dl.physics.PROJECTORS`).
    init : torch.Tensor, shape (B, num_gridx, num_gridy), optional
        Starting image; negative values are clipped. By default, and for a
        flat one (TomoPy's prefill), zeros, or above 256 px the solution on
        coarser grids.
    num_iter : int
        Iterations.
    sharpness : float
        ``0``: svmbir's neutral default; each step of 1 doubles the prior's
        scale, a weaker prior: sharper and noisier images.
    snr_db : float
        The data's assumed signal-to-noise ratio in dB (svmbir's default, 30).
    progress : bool
        Show a tqdm bar over the iterations.

    Returns
    -------
    torch.Tensor, shape (B, num_gridx, num_gridy), non-negative

    References
    ----------
    .. [1] Balke, T., Majee, S., Buzzard, G. T., Poveromo, S., Howard, P.,
       Uchic, M. A. and Bouman, C. A. "Separable models for cone-beam MBIR
       reconstruction", Electronic Imaging 2018; svmbir,
       https://github.com/cabouman/svmbir.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from tomopy_dl.physics import get_projector
    >>> op = get_projector(np.linspace(0, np.pi, 32, endpoint=False), 24, 16, 16)
    >>> truth = torch.zeros(1, 16, 16); truth[:, 4:12, 6:10] = 1.0
    >>> x = mbir(op(truth), op, num_iter=100)
    >>> bool((x >= 0).all()), bool((x - truth).norm() < 0.1 * truth.norm())
    (True, True)
    """
    _check_weights(sharpness, snr_db)
    x0 = _mbir_start(init, sino, op, sharpness, snr_db)
    x = _run("mbir", _mbir_steps(sino, op, x0, sharpness, snr_db), num_iter, progress, x0)
    _log_residual("mbir", sino, op, x, num_iter)
    return x


def mbir_iterates(
    sino: torch.Tensor,
    op: Projector,
    *,
    init: torch.Tensor | None = None,
    sharpness: float = default("mbir", "sharpness"),
    snr_db: float = default("mbir", "snr_db"),
) -> Iterator[torch.Tensor]:
    """:func:`mbir`'s iterates, one per iteration, without end (arguments as there; do not modify them).

    Examples
    --------
    >>> import itertools, numpy as np, torch
    >>> from tomopy_dl.physics import get_projector
    >>> op = get_projector(np.linspace(0, np.pi, 16, endpoint=False), 16, 12, 12)
    >>> y = op(torch.ones(1, 12, 12))
    >>> torch.equal(list(itertools.islice(mbir_iterates(y, op), 5))[-1], mbir(y, op, num_iter=5))
    True
    """
    _check_weights(sharpness, snr_db)
    return _mbir_steps(sino, op, _mbir_start(init, sino, op, sharpness, snr_db), sharpness, snr_db)


def _check_weights(sharpness: float, snr_db: float) -> None:
    for name, value in (("sharpness", sharpness), ("snr_db", snr_db)):
        if not (isinstance(value, (int, float)) and math.isfinite(value)):
            raise ValueError(f"{name} must be a finite number, got {value!r}")


#: Above this many pixels a side :func:`mbir` starts from its own solution on grids halved down to
#: below ``2 * _MBIR_COARSEST``, each level ``_MBIR_COARSE_ITER`` iterations from the next coarser one's.
#: Where the wedge is filled by the prior alone the separable steps move slowly, the more so the larger
#: the grid: on the measured 462-px imat slice of benchmarks/limited_angle.py at 0-120 degrees, 300
#: iterations from zero left the held-out error at 0.1381, from one coarse level (231 px) 0.1361, from
#: two (231 and 115 px) 0.1325 (svmbir: 0.1327); the two levels took 40 s against 349 s for the 300
#: iterations. At 128-192 px, 300 iterations from zero come within 1% of the limit: no coarse start.
_MBIR_COARSE_ABOVE = 256
_MBIR_COARSEST = 128
_MBIR_COARSE_ITER = 200


def _mbir_start(init, sino: torch.Tensor, op: Projector, sharpness: float, snr_db: float) -> torch.Tensor:
    """``init`` (clipped at zero); else zeros, or above ``_MBIR_COARSE_ABOVE`` px the coarse solution.

    A flat ``init`` (TomoPy's 1e-6 prefill of ``recon``, zeros) says nothing: it gets the default start.
    """
    flat = init is not None and bool((init.flatten(1).amax(1) <= init.flatten(1).amin(1)).all())
    if (init is not None and not flat) or max(op.image_shape) <= _MBIR_COARSE_ABOVE:
        return _zeros_or(None if flat else init, sino, op).clamp_min(0.0)
    return _coarse_solution(sino, op, sharpness, snr_db)


def _coarse_solution(sino: torch.Tensor, op: Projector, sharpness: float, snr_db: float) -> torch.Tensor:
    """MBIR on the grid half as fine (from its own coarse solution while that is large), brought to ``op``'s grid."""
    y, coarse = bin_detector(sino, 2), op.binned(2)
    if min(coarse.image_shape) >= _MBIR_COARSEST:
        start = _coarse_solution(y, coarse, sharpness, snr_db)
    else:
        start = torch.zeros(sino.shape[0], *coarse.image_shape, device=sino.device)
    x = _run("mbir", _mbir_steps(y, coarse, start, sharpness, snr_db), _MBIR_COARSE_ITER, False, start)
    # A coarse pixel's value is twice the fine one's (binned(): line integrals keep their value).
    fine = F.interpolate(x[:, None] / 2.0, size=op.image_shape, mode="bilinear", align_corners=False)
    return fine[:, 0].clamp_min(0.0)


def _mbir_steps(y: torch.Tensor, op: Projector, x: torch.Tensor, sharpness: float, snr_db: float):
    prior = QGGMRF(qggmrf_sigma(y, sharpness))
    # Scaled by sigma_y^2 (the data term's 1 / sigma_y^2 moves to the prior): numbers of the data's size.
    variance = noise_sigma(y, snr_db).square().view(-1, 1, 1)
    # De Pierro's separable majoriser of 0.5 |A x - y|^2 has curvature A^T A 1 (clipped: a band-limited
    # operator's can dip below zero where no ray passes).
    data_curvature = op.adjoint(op(torch.ones(1, *op.image_shape, device=y.device))).clamp_min(0.0)
    z, t = x, 1.0
    while True:
        with torch.no_grad():
            grad, curvature = prior.grad_and_curvature(z)
            step = (op.adjoint(op(z) - y) + variance * grad) / (data_curvature + variance * curvature).clamp_min(_TINY)
            x_new = (z - step).clamp_min(0.0)
            # Nesterov's momentum (FISTA's sequence) on the majorise-minimise step.
            t_new = (1.0 + (1.0 + 4.0 * t * t) ** 0.5) / 2.0
            z = x_new + ((t - 1.0) / t_new) * (x_new - x)
            x, t = x_new, t_new
        yield x


def tv_objective(
    x: torch.Tensor,
    sino: torch.Tensor,
    op: Projector,
    beta: torch.Tensor,
    model: torch.Tensor | None = None,
    *,
    data: str = default("tv", "data"),
) -> torch.Tensor:
    """``D(A x, sino) + beta TV(x)`` per slice, the objective :func:`tv` minimises, ``(B,)``.

    ``D`` is ``0.5 |A x - sino|^2`` (``data='l2'``) or the Poisson term
    (``'kl'``, :class:`~.data_fidelity.KL`); ``beta`` has shape (B,);
    ``model``, when given, is ``A x`` already computed.
    """
    return DATA_TERMS[data]()(x, sino, op, model) + TV(beta)(x)


def tv(
    sino: torch.Tensor,
    op: Projector,
    *,
    init: torch.Tensor | None = None,
    num_iter: int = default("tv", "num_iter"),
    reg_par: float | str | torch.Tensor = default("tv", "reg_par"),
    positivity: bool = default("tv", "positivity"),
    data: str = default("tv", "data"),
    prior: str = default("tv", "prior"),
    progress: bool = False,
) -> torch.Tensor:
    """Minimise ``0.5 |A x - sino|^2 + reg_par * TV(x)`` (optionally ``x >= 0``), or the Poisson version.

    The primal-dual algorithm of Chambolle and Pock with the diagonal
    preconditioning of Pock and Chambolle: every ray and every pixel gets its
    own step from the projector's row and column sums, so no operator norm
    is estimated and the steps need no tuning.

    Parameters
    ----------
    sino : torch.Tensor, shape (B, nangles, ndet)
        Line integrals.
    op : Projector
        The geometry (any backend of :data:`tomopy_dl.physics.PROJECTORS`).
    init : torch.Tensor, shape (B, num_gridx, num_gridy), optional
        Starting image; zeros by default. TomoPy's 1e-6 prefill is as good as zeros.
        Not a way to continue a finished run: the primal-dual loop restarts
        with its dual variables at zero, and from a good image it first gets
        worse (measured on a 128 px slice, 0-120 degrees, from 300
        iterations: the held-out error 0.065, after 20 more 0.077, after 50
        0.109, after 200 0.060). To continue, keep the iterates of
        :func:`tv_iterates`.
    num_iter : int
        Iterations; each costs one projection and one back-projection.
    reg_par : float, 'auto' or torch.Tensor of shape (B,)
        Weight of the total variation, in the units of the sinogram (line
        integrals, as from ``-log`` of normalised data): larger values smooth
        more. ``'auto'`` (default) sets it per slice from the noise of the
        sinogram, by :func:`~tomopy_dl.solvers.prior.auto_reg_par`; a number
        or one value per slice sets it by hand.
    positivity : bool
        Constrain the image to be non-negative (always, with ``data='kl'``).
    data : {'l2', 'kl'}
        The data term: least squares (``-log`` of transmission data) or the
        Poisson log-likelihood ``sum(A x - y log A x)`` for counts (electron
        tomography's HAADF signal, emission data), which MLEM maximises.
        ``'auto'`` weights then follow :func:`~.prior.auto_reg_par` with
        ``data='kl'``.
    prior : str
        A name of :data:`~tomopy_dl.solvers.prior.PRIORS`: ``'tv'`` (total
        variation, the default). Every prior there runs on the same
        primal-dual loop, weighted by ``reg_par``; adding one is writing its
        class (its operator, its adjoint and its ``prox_conjugate``) and a row
        of that table (``tests/test_priors.py`` adds one).
    progress : bool
        Show a tqdm bar over the iterations.

    Returns
    -------
    torch.Tensor, shape (B, num_gridx, num_gridy)
        The last primal iterate.

    References
    ----------
    .. [1] Chambolle, A. and Pock, T. "A first-order primal-dual algorithm for
       convex problems with applications to imaging", J. Math. Imaging Vis.
       40, 120-145 (2011).
    .. [2] Pock, T. and Chambolle, A. "Diagonal preconditioning for first
       order primal-dual algorithms in convex optimization", ICCV 2011.
    .. [3] Sidky, E. Y., Jørgensen, J. H. and Pan, X. "Convex optimization
       problem prototyping for image reconstruction in computed tomography
       with the Chambolle-Pock algorithm", Phys. Med. Biol. 57, 3065 (2012):
       the proximal step of the Poisson term.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from tomopy_dl.physics import get_projector
    >>> wedge = get_projector(np.deg2rad(np.arange(0, 120, 4.0)), 24, 16, 16)  # 0-120 degrees
    >>> block = torch.zeros(2, 16, 16); block[:, 4:12, 6:10] = 1.0
    >>> tv(wedge(block), wedge, num_iter=100, reg_par=0.01).shape
    torch.Size([2, 16, 16])
    """
    it = tv_iterates(sino, op, init=init, reg_par=reg_par, positivity=positivity, data=data, prior=prior)
    x0 = _zeros_or(init, sino, op)
    x = _run("tv", it, num_iter, progress, x0.clamp_min(0) if (positivity or data == "kl") else x0)
    _log_residual("tv", sino.clamp_min(0) if data == "kl" else sino, op, x, num_iter)
    return x


def tv_iterates(
    sino: torch.Tensor,
    op: Projector,
    *,
    init: torch.Tensor | None = None,
    reg_par: float | str | torch.Tensor = default("tv", "reg_par"),
    positivity: bool = default("tv", "positivity"),
    data: str = default("tv", "data"),
    prior: str = default("tv", "prior"),
) -> Iterator[torch.Tensor]:
    """:func:`tv`'s iterates, one per iteration, without end: for callers that watch the iterates.

    The primal-dual state carries over from one iterate to the next, which
    restarting :func:`tv` from its last image would lose. Arguments as in
    :func:`tv`; the images yielded must not be modified.

    Examples
    --------
    >>> import itertools, numpy as np, torch
    >>> from tomopy_dl.physics import get_projector
    >>> op = get_projector(np.deg2rad(np.arange(0, 120, 4.0)), 24, 16, 16)
    >>> y = op(torch.ones(1, 16, 16))
    >>> steps = list(itertools.islice(tv_iterates(y, op, reg_par=0.01), 20))
    >>> torch.equal(steps[-1], tv(y, op, num_iter=20, reg_par=0.01))
    True
    """
    data = as_choice(data, "data", tuple(DATA_TERMS))
    prior_cls = PRIORS[as_choice(prior, "prior", tuple(PRIORS))]
    kl = data == "kl"
    if isinstance(reg_par, str):
        if reg_par != "auto":
            raise ValueError(f"reg_par must be a number >= 0 or 'auto', got {reg_par!r}")
        beta = auto_reg_par(sino, data=data)
    else:
        beta = torch.as_tensor(reg_par, dtype=torch.float32, device=sino.device).expand(sino.shape[0])
        if not bool(torch.isfinite(beta).all() and (beta >= 0).all()):
            raise ValueError(f"reg_par must be finite and >= 0, got {reg_par!r}")
    beta = beta.reshape(-1, 1, 1, 1)
    x = _zeros_or(init, sino, op)
    if not kl:
        return _primal_dual_steps(sino, op, x, beta, positivity, kl, prior_cls)
    # KL and TV are both of degree one, so the problem for y / c has the minimiser x / c with the same
    # weight; solving it with y / c of order one makes the iterates, not only the limit, independent
    # of the data's units (the Poisson step's sqrt((v - 1)^2 + 4 sigma y) is not).
    c = sino.flatten(1).amax(1).clamp_min(1e-30).reshape(-1, 1, 1)
    return (c * u for u in _primal_dual_steps(sino.clamp_min(0.0) / c, op, x / c, beta, True, kl, prior_cls))


def _primal_dual_steps(y, op, x, beta, positivity: bool, kl: bool, prior=TV) -> Iterator[torch.Tensor]:
    """The iterations of :func:`tv_iterates`, its arguments checked (a generator runs nothing until asked).

    One primal-dual loop for any data term of :data:`~.data_fidelity.DATA_TERMS` and any prior
    of :data:`~.prior.PRIORS`: each brings its own ``prox_conjugate``.
    """
    data_term = DATA_TERMS["kl" if kl else "l2"]
    if positivity:
        x = x.clamp_min(0)
    sigma_data = safe_inverse(op.row_sums())  # ray steps: 1 / sum_j |A_ij|
    tau = safe_inverse(op.col_sums() + prior.col_sum)  # pixel steps: 1 / (sum_i |A_ij| + |K| column sum)
    sigma_prior = 1.0 / prior.row_sum
    p = torch.zeros_like(y)
    q = torch.zeros_like(prior.apply(x))
    x_bar = x
    # no_grad per step, not around the yield: a suspended generator would keep it on in the caller.
    while True:
        with torch.no_grad():
            p = data_term.prox_conjugate(p, sigma_data, op(x_bar), y)
            q = prior.prox_conjugate(q + sigma_prior * prior.apply(x_bar), sigma_prior, beta)
            x_new = x - tau * (op.adjoint(p) + prior.adjoint(q))
            if positivity:
                x_new = x_new.clamp_min(0)
            x_bar = 2 * x_new - x
            x = x_new
        yield x
