"""GANrec: self-training GAN reconstruction for missing-wedge data, in three modes.

``'ours'`` (default) is :class:`~.gan_wedge.WedgeGAN`, a missing-wedge GAN
that corrects a total-variation start; ``'faithful'`` and ``'l1_only'`` are
:class:`~.gan_paper.PaperGAN`, the published method with and without its
discriminator. This module checks the settings, lets ``'ours'`` choose
them from the data (``tune='auto'``, :mod:`~.selection`), runs the slices
batch by batch (warm-starting the networks from one batch to the next) and
returns images in the units of gridrec and SIRT.
"""

from __future__ import annotations

import logging
import math
import os

import torch
from tqdm.auto import tqdm

from ..physics import Projector, bin_detector, unmeasured_angles
from ..util.validation import as_choice
from .gan_paper import PaperGAN, PaperSettings
from .gan_wedge import WedgeGAN, WedgeSettings
from .selection import TUNED, choose_wedge_settings
from .table import ALGORITHMS, GANREC_MODES
from .wedge_fill import Filler, VolumeSettings, fill_slices, fill_volume, fit_filler

__all__ = ["ganrec", "choose_settings", "volume_filler", "MODES", "fit_scale_offset"]

logger = logging.getLogger(__name__)

MODES = tuple(GANREC_MODES)
_SETTINGS = {"ours": WedgeSettings, "faithful": PaperSettings, "l1_only": PaperSettings, "volume": VolumeSettings}
_FITTERS = {"ours": WedgeGAN, "faithful": PaperGAN, "l1_only": PaperGAN}
_KEYWORDS = ALGORITHMS["ganrec"]


def fit_scale_offset(x: torch.Tensor, sino: torch.Tensor, op: Projector) -> torch.Tensor:
    """``a * x + b`` with ``a, b`` minimising ``|a R(x) + b R(1) - sino|^2`` per slice.

    Puts an image of arbitrary scale and offset into the units of the data.
    """
    p = op(x).flatten(1)
    q = op.row_sums().flatten()[None].expand_as(p)
    y = sino.flatten(1)
    pp, pq, qq = (p * p).sum(1), (p * q).sum(1), (q * q).sum(1)
    py, qy = (p * y).sum(1), (q * y).sum(1)
    det = pp * qq - pq * pq
    ok = det.abs() > 1e-12 * (pp * qq).clamp_min(1e-30)
    safe_det = torch.where(ok, det, torch.ones_like(det))
    a = torch.where(ok, (py * qq - qy * pq) / safe_det, py / pp.clamp_min(1e-30))
    b = torch.where(ok, (pp * qy - pq * py) / safe_det, torch.zeros_like(a))
    return a[:, None, None] * x + b[:, None, None]


#: Detector pixels that ``tune='auto'`` chooses on: wider sinograms are binned by a power of
#: two to about this (2048 -> 512). At 1024 x 240 angles the choice took 56-60 s binned against
#: 195-200 s on the full width, and led to held-out errors within -3.4% to +1.3% of the full
#: width's (benchmarks/choice_binning.py); at 2048 x 1000 angles, 108 s.
CHOICE_WIDTH = 512


def _tuned(
    sino: torch.Tensor, op: Projector, s: WedgeSettings, given: dict, *, seed: int, n_iter: int,
    width: int | None = CHOICE_WIDTH,
):  # fmt: skip
    """``s`` with the settings not ``given`` chosen from the data (:mod:`.selection`), or ``s`` where none can be.

    The choice runs on a copy binned to about ``width`` detector pixels (None: the full width).
    """
    fixed = {k for k in TUNED if given.get(k) is not None}
    if fixed >= set(TUNED):
        return s
    if sino.shape[1] < 8 or not unmeasured_angles(op.theta).size:
        logger.info("ganrec: tune='auto' needs a missing wedge and >= 8 angles; using the fixed settings")
        return s
    # One slice for the whole volume: the one with the most signal, so that an empty end slice does not decide.
    k = int(sino.flatten(1).abs().sum(1).argmax())
    one, coarse = _coarse(sino[k : k + 1], op, width)
    with torch.enable_grad():
        choice = choose_wedge_settings(one, coarse, s, fixed, seed=seed, n_iter=n_iter)
    logger.info("ganrec: tune='auto' chose on slice %d: %s; on %d of %d detector pixels", k, choice.summary(),
                one.shape[-1], op.n_det)  # fmt: skip
    return choice.settings


def _coarse(sino: torch.Tensor, op: Projector, width: int | None) -> tuple[torch.Tensor, Projector]:
    """``sino`` and ``op`` binned along the detector by a power of two, to about ``width`` pixels (None: as they are).

    The settings chosen are all relative (the TV weight to the noise) or
    counts (iterations), so they carry over to the full size unbinned.
    """
    if width is None or op.n_det < 2 * width:
        return sino, op
    f = 2 ** int(math.floor(math.log2(op.n_det / width)))
    return bin_detector(sino, f), op.binned(f)


def _unit(sino: torch.Tensor) -> float:
    """A power of two near the data's peak: dividing by it scales exactly (see :func:`ganrec`)."""
    peak = float(sino.abs().max())
    return 2.0 ** round(math.log2(peak)) if peak > 0 and math.isfinite(peak) else 1.0


def choose_settings(
    sino: torch.Tensor,
    op: Projector,
    *,
    num_iter: int | None = None,
    seed: int = _KEYWORDS.keyword("seed").default,
    width: int | None = CHOICE_WIDTH,
    **given,
) -> dict:
    """The settings ``tune='auto'`` chooses for these sinograms, as keywords of :func:`ganrec`.

    For choosing once per volume and passing the result to every slab
    (with ``tune='off'``), as :func:`tomopy_dl.pipeline.recon_file` does, so
    that all slabs share one choice.

    Parameters
    ----------
    sino : torch.Tensor, shape (B, nangles, ndet)
        Line integrals (or counts); the slice with the most signal decides.
    op : Projector
        The geometry (any backend of :data:`tomopy_dl.physics.PROJECTORS`).
    num_iter : int, optional
        GANrec's iterations (the mode's default: 300).
    seed : int
        Seed of the networks.
    width : int or None
        Detector pixels to choose on: sinograms at least twice as wide are
        binned by a power of two to about this many (:data:`CHOICE_WIDTH`,
        512); None chooses on the full width.
    **given
        Settings of mode ``'ours'`` to keep (``init_method``, ``tv_weight``...).

    Returns
    -------
    dict
        ``init_method``, ``data_term``, ``tv_weight``, ``sharpness``, ``init_iter`` and ``adv_weight``.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from tomopy_dl.physics import get_projector
    >>> wedge = get_projector(np.deg2rad(np.arange(0, 100, 4.0)), 24, 16, 16)
    >>> box = torch.zeros(1, 16, 16); box[:, 4:12, 5:9] = 1.0
    >>> sorted(choose_settings(wedge(box), wedge, num_iter=10, init_method="tv", adv_weight=0.0))
    ['adv_weight', 'data_term', 'init_iter', 'init_method', 'sharpness', 'tv_weight']
    """
    s = _settings("ours", given)
    n = int(num_iter if num_iter is not None else GANREC_MODES["ours"]["num_iter"])
    chosen = _tuned(sino / _unit(sino), op, s, given, seed=seed, n_iter=n, width=width)
    return {k: getattr(chosen, k) for k in TUNED}


def _settings(mode: str, given: dict):
    """The mode's settings: its table defaults, overridden by the keywords given (not None)."""
    cls = _SETTINGS[mode]
    fields = set(cls.__dataclass_fields__)
    wrong = sorted(k for k, v in given.items() if v is not None and k not in fields)
    if wrong:
        raise ValueError(f"{', '.join(wrong)} do(es) not apply to mode={mode!r}; it takes {sorted(fields)}")
    values = {k: v for k, v in GANREC_MODES[mode].items() if k in fields}
    values.update({k: v for k, v in given.items() if v is not None})
    for key in ("lam", "lr_g", "lr_d", "adv_weight", "tv_weight", "slack"):
        if key in values:
            v = values[key]
            ok = isinstance(v, (int, float)) and v >= 0 and (math.isfinite(v) or (key == "slack" and v == math.inf))
            if not ok:
                allowed = "a number >= 0 (inf turns the trust region off)" if key == "slack" else "a finite number >= 0"
                raise ValueError(f"{key} must be {allowed}, got {v!r}")
    sharp = values.get("sharpness", 0.0)
    if not (isinstance(sharp, (int, float)) and math.isfinite(sharp)):
        raise ValueError(f"sharpness must be a finite number, got {sharp!r}")
    for key in ("init_method", "data_term"):
        if key in values:
            as_choice(values[key], key, _KEYWORDS.keyword(key).choices)
    return cls(**values)


def _volume_start(sino: torch.Tensor, op: Projector, s: VolumeSettings, given: dict, *, tune: str, seed: int):
    """``mode='volume'``'s classical start: as mode ``'ours'`` would choose it (``tune='auto'``), discriminator off."""
    start = s.start()
    if tune == "auto":
        n_ours = int(GANREC_MODES["ours"]["num_iter"])
        start = _tuned(sino, op, start, {**given, "adv_weight": 0.0}, seed=seed, n_iter=n_ours)
    return start


def _steps_bar(steps: int, progress: bool) -> tqdm:
    """``mode='volume'``'s bar over its training steps."""
    return tqdm(total=steps, desc="ganrec volume", unit="step", disable=not progress, leave=False)


def _volume(sino: torch.Tensor, op: Projector, s: VolumeSettings, given: dict, *, tune: str, seed: int, steps: int,
            progress: bool, always: bool = False) -> tuple[torch.Tensor, dict]:  # fmt: skip
    """``mode='volume'`` on ``sino`` (data of order one): its start, then the wedge filler trained on these slices.

    The images and :func:`~.wedge_fill.fill_volume`'s stats; ``always`` as there (for benchmarks).
    """
    start = _volume_start(sino, op, s, given, tune=tune, seed=seed)
    with torch.enable_grad(), _steps_bar(steps, progress) as bar:
        return fill_volume(sino, op, s, start, steps=steps, seed=seed, bar=bar, always=always)


def volume_filler(
    sino: torch.Tensor,
    op: Projector,
    *,
    num_iter: int | None = None,
    tune: str | None = None,
    seed: int = _KEYWORDS.keyword("seed").default,
    progress: bool = False,
    **given,
) -> Filler:
    """Train ``mode='volume'``'s network once, on a sample of a volume's slices, for ``ganrec(..., filler=)``.

    One network per volume: train it here on up to
    :data:`~.wedge_fill.SAMPLE` evenly spaced slices of the volume (its held-out
    check included), then give it to :func:`ganrec` for every slab or chunk
    of the same scan, which then only applies it (or, where the check
    declined it, returns the classical start without training anything).
    :func:`tomopy_dl.pipeline.recon_file` does this for ``mode='volume'``.

    Parameters
    ----------
    sino : torch.Tensor, shape (B, nangles, ndet)
        Line integrals of slices spread over the volume (all of them, or a
        sample: the first ``SAMPLE`` evenly spaced are used).
    op : Projector
        The scan's geometry.
    num_iter : int, optional
        Training steps (``'volume'``'s default: 2000).
    tune : {'auto', 'off'}, optional
        How the classical start is chosen, as in :func:`ganrec` (``'auto'``).
    seed : int
        Seed of the network and its patches.
    progress : bool
        A tqdm bar over the training steps.
    **given
        Settings of mode ``'volume'`` to keep (``init_method``, ``tv_weight``, ``dc_iter``...).

    Returns
    -------
    Filler
        In the units of ``sino``; :meth:`~.wedge_fill.Filler.save` writes it
        to a file that ``filler=`` takes.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from tomopy_dl.physics import get_projector
    >>> wedge = get_projector(np.deg2rad(np.arange(0, 100, 4.0)), 24, 16, 16)
    >>> box = torch.zeros(3, 16, 16); box[:, 4:12, 5:9] = 1.0
    >>> f = volume_filler(wedge(box), wedge, num_iter=3, tune="off", init_iter=5, dc_iter=2)
    >>> ganrec(wedge(box), wedge, mode="volume", filler=f).shape
    torch.Size([3, 16, 16])
    """
    s = _settings("volume", given)
    tune = as_choice("auto" if tune is None else tune, "tune", _KEYWORDS.keyword("tune").choices)
    steps = int(num_iter if num_iter is not None else GANREC_MODES["volume"]["num_iter"])
    unit = _unit(sino)
    start = _volume_start(sino / unit, op, s, given, tune=tune, seed=seed)
    with torch.enable_grad(), _steps_bar(steps, progress) as bar:
        return fit_filler(sino / unit, op, s, start, steps=steps, seed=seed, bar=bar).in_units(unit)


def _checked_volume(mode: str, filler, given: dict, *, warm_iter, independent: bool, early_stop) -> Filler | None:
    """``mode='volume'``'s own checks, and ``filler=`` as a :class:`~.wedge_fill.Filler` (a path is loaded)."""
    if filler is not None and mode != "volume":
        raise ValueError(f"filler= applies to mode='volume' only, got mode={mode!r}")
    if mode == "volume" and (warm_iter is not None or independent or early_stop is not None):
        raise ValueError("warm_iter, independent and early_stop do not apply to mode='volume' (one network per call)")
    return None if filler is None else _given_filler(filler, given)


def _given_filler(filler, given: dict) -> Filler:
    """``filler`` loaded where it is a path, refused beside settings it carries itself."""
    clash = sorted(k for k, v in given.items() if v is not None)
    if clash:
        raise ValueError(f"filler= carries its own start and dc_iter; leave {', '.join(clash)} out (or train a "
                         "filler with them: volume_filler)")  # fmt: skip
    return filler if isinstance(filler, Filler) else Filler.load(filler)


def ganrec(
    sino: torch.Tensor,
    op: Projector,
    *,
    num_iter: int | None = None,
    warm_iter: int | None = None,
    mode: str = _KEYWORDS.keyword("mode").default,
    lam: float | None = None,
    lr_g: float | None = None,
    lr_d: float | None = None,
    adv_weight: float | None = None,
    tv_weight: float | None = None,
    init_iter: int | None = None,
    init_method: str | None = None,
    slack: float | None = None,
    data_term: str | None = None,
    sharpness: float | None = None,
    dc_iter: int | None = None,
    filler: Filler | str | os.PathLike | None = None,
    tune: str | None = None,
    batch_size: int | None = None,
    independent: bool = False,
    early_stop: float | None = None,
    quantitative: bool = True,
    seed: int = _KEYWORDS.keyword("seed").default,
    progress: bool = False,
) -> torch.Tensor:
    """GANrec reconstruction of a batch of sinograms.

    Parameters
    ----------
    sino : torch.Tensor, shape (B, nangles, ndet)
        Line integrals.
    op : Projector
        The geometry (any backend of :data:`tomopy_dl.physics.PROJECTORS`).
    num_iter : int, optional
        Iterations for the first slice batch (the mode's default: 300, or
        1000 in ``'faithful'`` mode); in ``'volume'`` mode the network's
        training steps (2000).
    warm_iter : int, optional
        Iterations for each following batch, which starts from the previous
        batch's weights (default ``num_iter // 4``, at least 1). In
        ``'ours'`` mode that is the discriminator; each batch's correction
        image starts at zero on its own TV start.
    mode : {'ours', 'volume', 'faithful', 'l1_only'}
        ``'ours'``: the missing-wedge GAN on a TV start
        (:mod:`~tomopy_dl.solvers.gan_wedge`); ``'volume'``: a network
        trained on these slices' own half reconstructions to fill their
        missing wedge, kept only where it predicts held-out measured angles
        better than its classical start (:mod:`~tomopy_dl.solvers.wedge_fill`;
        give it many slices at once: it learns from all of them, or train
        it once for a volume with :func:`volume_filler` and pass
        ``filler=``; on the data measured so far the check returns the
        start, its training paid for: see the GANrec guide);
        ``'faithful'``: the paper; ``'l1_only'``: the paper without its
        discriminator (:mod:`~tomopy_dl.solvers.gan_paper`).
    lam : float, optional
        Weight of the L1 data term in the paper modes (100).
    lr_g, lr_d : float, optional
        Adam step sizes of the generator (or correction) and the discriminator.
    adv_weight : float, optional
        Weight of the adversarial term; 0 turns the discriminator off.
    tv_weight : float, optional
        ``'ours'``: weight of the total-variation prior relative to the noise
        of the sinogram (0.35); the absolute weight is ``tv_weight * noise *
        sqrt(nangles)`` (:func:`~tomopy_dl.solvers.prior.auto_reg_par`).
        Raise it for smoother images, lower it for finer detail.
    init_iter : int, optional
        ``'ours'``: iterations of the solver that gives the start (300).
    init_method : {'tv', 'sirt', 'mlem', 'mbir'}, optional
        ``'ours'``: that solver (``'tv'``; ``'mbir'``: least squares with a
        qGGMRF prior, :func:`~tomopy_dl.solvers.iterative.mbir`).
    slack : float, optional
        ``'ours'``: the adversarial term acts only while the TV objective is
        within ``1 + slack`` times its value at the start (0.02;
        ``math.inf`` removes the trust region).
    data_term : {'l2', 'kl'}, optional
        ``'ours'``: the data term of the start and the objective: least
        squares (``'l2'``, for ``-log`` transmission data) or Poisson
        (``'kl'``, for counts such as HAADF-STEM signals).
    sharpness : float, optional
        ``'ours'``: the sharpness of an ``'mbir'`` start (0; each +1 doubles
        its prior's scale: sharper, noisier).
    dc_iter : int, optional
        ``'volume'``: SIRT iterations on every measured angle from the
        network's result, so that the measured directions keep the data (20).
    filler : Filler or path, optional
        ``'volume'``: a network already trained on this scan
        (:func:`volume_filler`, or a file its :meth:`~.wedge_fill.Filler.save`
        wrote): it is applied to these slices, nothing is trained or
        chosen, and its own start and ``dc_iter`` are used (one network per
        volume, for slabs and chunks). Angles other than its own are refused.
    tune : {'auto', 'off'}, optional
        ``'ours'`` and ``'volume'`` (the start only): ``'auto'`` (default) chooses ``init_method``,
        ``data_term``, ``tv_weight``, ``sharpness``, ``init_iter`` and ``adv_weight`` from
        the data: it holds out some measured angles, scores candidates by
        how well they predict them and keeps the best
        (:mod:`~tomopy_dl.solvers.selection`), on one slice (the one with the
        most signal) for all. Keywords given explicitly are kept. The choice
        is logged at INFO on ``tomopy_dl.solvers.gan``. ``'off'`` uses the
        mode's fixed defaults. Scans with fewer than 8 angles or no missing
        wedge are not tuned.
    batch_size : int, optional
        Slices fitted together; 1 on the CPU and 16 on CUDA by default.
    independent : bool
        Fit every batch from freshly initialised networks with ``num_iter``
        iterations instead of warm-starting.
    early_stop : float, optional
        Stop a batch when its data residual improved by less than this
        fraction over the last 100 iterations (e.g. ``1e-3``).
        ``warm_iter``, ``independent`` and ``early_stop`` do not apply to
        ``'volume'``, which fits one network to all the slices given.
    quantitative : bool
        Return ``a * x + b`` fitted so that its projection matches the data
        (units of gridrec/sirt); otherwise the raw image.
    seed : int
        Seed of the network initialisation: equal seeds give equal results.
    progress : bool
        Show a tqdm bar over all iterations.

    Returns
    -------
    torch.Tensor, shape (B, num_gridx, num_gridy)
        Images in the units of the data (``quantitative``), or the raw ones.

    Raises
    ------
    ValueError
        For an unknown mode, a keyword that does not apply to the mode, a
        negative weight or step, or fewer than 2 angles.

    Notes
    -----
    For speed on recent NVIDIA GPUs, allow TF32 yourself
    (``torch.backends.cuda.matmul.allow_tf32 = True``); GANrec does not
    change the process's settings.

    References
    ----------
    .. [1] Yang, X., Kahnt, M., Brückner, D., Schropp, A., Fam, Y., Becher,
       J., Grunwaldt, J.-D., Sheppard, T. L. and Schroer, C. G.
       "Tomographic reconstruction with a generative adversarial network",
       J. Synchrotron Rad. 27, 486-493 (2020).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from tomopy_dl.physics import get_projector
    >>> from tomopy_dl.sim import shepp_logan
    >>> limited = get_projector(np.deg2rad(np.arange(0, 100, 2.0)), 32, 24, 24)
    >>> sino = limited(torch.from_numpy(shepp_logan(24))[None])
    >>> ganrec(sino, limited, num_iter=20, init_iter=20).shape
    torch.Size([1, 24, 24])
    """
    mode = as_choice(mode, "mode", MODES)
    given = dict(lam=lam, lr_g=lr_g, lr_d=lr_d, adv_weight=adv_weight, tv_weight=tv_weight, init_iter=init_iter,
                 init_method=init_method, slack=slack, data_term=data_term, sharpness=sharpness,
                 dc_iter=dc_iter)  # fmt: skip
    s = _settings(mode, given)
    if tune is not None and mode not in ("ours", "volume"):
        raise ValueError(f"tune applies to modes 'ours' and 'volume' only; mode={mode!r} has fixed settings")
    filler = _checked_volume(mode, filler, given, warm_iter=warm_iter, independent=independent, early_stop=early_stop)
    tune = as_choice("auto" if tune is None else tune, "tune", _KEYWORDS.keyword("tune").choices)
    if sino.shape[1] < 2:
        raise ValueError(f"ganrec needs at least 2 projection angles, got {sino.shape[1]}")
    n_first = int(num_iter if num_iter is not None else GANREC_MODES[mode]["num_iter"])
    n_warm = int(warm_iter if warm_iter is not None else max(1, n_first // 4))
    if n_first < 1 or n_warm < 1:
        raise ValueError(f"num_iter and warm_iter must be >= 1, got {n_first} and {n_warm}")
    if batch_size is None:
        batch_size = 16 if sino.device.type == "cuda" else 1
    batch_size = max(1, int(batch_size))
    n_batches = math.ceil(sino.shape[0] / batch_size)
    total = n_first * (n_batches if independent else 1) + (0 if independent else n_warm * (n_batches - 1))

    # Work on data of order one: the losses square the data, and 1e20 squared
    # overflows float32. A power of two scales exactly, so the result is
    # invariant to the data's units to the last bit.
    unit = _unit(sino)
    sino = sino / unit
    out = torch.empty(sino.shape[0], *op.image_shape, device=sino.device)
    if mode == "volume":
        if filler is not None:  # one network per volume: applied here, trained before (volume_filler)
            x = fill_slices(filler.in_units(1 / unit), sino, op)
        else:
            x, _ = _volume(sino, op, s, given, tune=tune, seed=seed, steps=n_first, progress=progress)
        with torch.no_grad():
            return (fit_scale_offset(x, sino, op) if quantitative else x.detach()) * unit
    if mode == "ours" and tune == "auto":
        s = _tuned(sino, op, s, given, seed=seed, n_iter=n_first)
    fitter = None
    with torch.enable_grad(), tqdm(total=total, desc="ganrec", unit="it", disable=not progress, leave=False) as bar:
        for i in range(n_batches):
            part = slice(i * batch_size, (i + 1) * batch_size)
            last = min(part.stop, sino.shape[0]) - 1
            if fitter is None or independent:
                fitter = _FITTERS[mode](op, s, seed)
                n_iter = n_first
            else:
                n_iter = n_warm
            bar.set_postfix_str(f"slices {part.start}-{last}")
            x, stats = fitter.fit(sino[part], n_iter, bar=bar, early_stop=early_stop)
            if quantitative:
                with torch.no_grad():
                    x = fit_scale_offset(x, sino[part], op)
            out[part] = x.detach()
            if stats["iterations"] == 0 and mode == "ours":
                logger.info("ganrec: slices %d-%d, 0 iterations: the starting image (%s)", part.start, last,
                            "adv_weight 0" if s.adv_weight == 0 else "no missing wedge")  # fmt: skip
            else:
                logger.info("ganrec: slices %d-%d, %d iterations, data L1 %.4g, D loss %.4g (chance: 1.386)",
                            part.start, last, stats["iterations"], stats["data_l1"], stats["d_loss"])  # fmt: skip
    # The paper's modes without the quantitative fit return their own [0, 1]
    # image, whatever the data's units; everything else is in data units.
    return out if (mode != "ours" and not quantitative) else out * unit
