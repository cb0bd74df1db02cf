"""The algorithm table: each algorithm's solver, keywords, their types and defaults.

This is the one home of every reconstruction default, as TomoPy's
``allowed_recon_kwargs`` is of TomoPy's. The solvers' signatures, the TomoPy
adapter, :func:`tomopy_dl.recon`, the file pipeline, the command line and the
demo all read it. It imports neither torch nor the solvers (they load on
:meth:`Algorithm.load`), so the command line's ``--help`` stays fast.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..physics.registry import PROJECTOR_CHOICES

__all__ = ["Keyword", "Algorithm", "ALGORITHMS", "COMMON", "PROJECTOR", "GANREC_MODES", "default", "default_iterations"]


@dataclass(frozen=True)
class Keyword:
    """One keyword of an algorithm.

    ``kind`` is ``int``, ``float``, ``str`` or ``bool``; ``default`` None
    means that the solver picks the value (from the data or the mode), as
    ``help`` says. ``minimum`` bounds numbers from below; ``choices`` lists
    the accepted strings.
    """

    name: str
    kind: type
    default: Any
    help: str
    minimum: float | None = None
    choices: tuple | None = None


@dataclass(frozen=True)
class Algorithm:
    """An algorithm: its solver (``module:function``, loaded on demand) and keywords.

    ``takes_init``: the solver starts from an image (TomoPy's ``init_recon``).
    """

    name: str
    solver: str
    summary: str
    keywords: tuple[Keyword, ...] = field(default=())
    takes_init: bool = False

    def keyword(self, name: str) -> Keyword:
        for k in self.keywords:
            if k.name == name:
                return k
        raise KeyError(f"{self.name} has no keyword {name!r}; it takes {[k.name for k in self.keywords]}")

    @property
    def defaults(self) -> dict[str, Any]:
        return {k.name: k.default for k in self.keywords}

    def load(self) -> Callable:
        module, _, func = self.solver.partition(":")
        return getattr(importlib.import_module(module), func)


#: The projector backend every algorithm runs on (:data:`tomopy_dl.physics.PROJECTORS`).
PROJECTOR = Keyword(
    "projector",
    str,
    "auto",
    "projector backend: 'auto' (by size and device), 'siddon' (TomoPy-exact rays), 'fourier' (NUFFT) "
    "or 'fourier-rays' (NUFFT with TomoPy's rays' aliases, 8-14x slower)",
    choices=PROJECTOR_CHOICES,
)
#: Keywords every algorithm takes beside its own. They choose how it runs, not what it
#: computes: the adapter consumes them and hands the solver a projector on a device.
COMMON: tuple[Keyword, ...] = (PROJECTOR,)

_PROGRESS = Keyword("progress", bool, False, "show a tqdm bar over the iterations")
# SIRT and MLEM converge alike: one default for both.
_ITERATIONS = Keyword("num_iter", int, 100, "iterations", minimum=0)
_SEED = Keyword("seed", int, 0, "seed of the network initialisation: equal seeds give equal images", minimum=0)

# svmbir's neutral sharpness: the default of algorithm 'mbir' and of GANrec's 'mbir' start.
_SHARPNESS = 0.0

#: GANrec's settings per mode (see :mod:`tomopy_dl.solvers.gan`). An explicit
#: keyword overrides the mode's value.
GANREC_MODES: dict[str, dict[str, Any]] = {
    # The paper and the authors' code (Yang et al. 2020, section 2.3).
    "faithful": dict(num_iter=1000, lam=100.0, lr_g=1e-3, lr_d=1e-5, adv_weight=1.0),
    "l1_only": dict(num_iter=300, lam=100.0, lr_g=1e-3, lr_d=1e-5, adv_weight=0.0),
    # Chosen by sweeps over benchmarks/limited_angle.py's six limited-angle
    # cases (noisy 128^2 Shepp-Logan and the tooth): a TV start beat an MLEM
    # start by 0.05-0.25 SSIM, and a 100-iteration TV start lost 0.1 on two
    # of three Shepp cases against 300; tv_weight 0.35 had the best mean.
    # adv_weight 0.3 beat 0, 0.03 and 0.1 on all three Shepp cases, and 1.0
    # lost on 0-120 degrees; it cost the tooth about 0.01. Without a trust
    # region the image drifted with the iterations; slack 0.02 kept 1000
    # iterations within 0.03 SSIM of 300, and 0.05 let the tooth drift.
    # These are the settings of tune='off' and the base that tune='auto'
    # (the default, solvers/selection.py) searches around on the data.
    "ours": dict(
        num_iter=300,
        lr_g=1e-3,
        lr_d=1e-3,
        adv_weight=0.3,
        tv_weight=0.35,
        init_iter=300,
        init_method="tv",
        slack=0.02,
        data_term="l2",
        sharpness=_SHARPNESS,
    ),
    # A network trained on the volume's own slices fills the wedge (solvers/wedge_fill.py). num_iter
    # is its Adam steps: 2000 of 8 patches gave -15% held-out error on a 32-slice phantom at 0-90
    # degrees (6000: -20% at 0-120, but 3x the time); 20 SIRT iterations put the data back
    # (benchmarks/wedge_fill_probe.py). The start is mode 'ours''s, without the discriminator.
    "volume": dict(
        num_iter=2000,
        lr_g=1e-3,
        tv_weight=0.35,
        init_iter=300,
        init_method="tv",
        data_term="l2",
        sharpness=_SHARPNESS,
        dc_iter=20,
    ),
}

#: The reconstruction algorithms by name.
ALGORITHMS: dict[str, Algorithm] = {
    a.name: a
    for a in (
        Algorithm(
            "fbp",
            "tomopy_dl.solvers.analytic:fbp",
            "filtered back-projection on the exact adjoint",
            (
                Keyword(
                    "filter_name",
                    str,
                    "ramlak",
                    "window on the ramp",
                    choices=("ramlak", "shepp", "cosine", "hann", "hamming"),
                ),
            ),
        ),
        Algorithm(
            "sirt",
            "tomopy_dl.solvers.iterative:sirt",
            "simultaneous iterative reconstruction, TomoPy's normalisation",
            (_ITERATIONS, _PROGRESS),
            takes_init=True,
        ),
        Algorithm(
            "mlem",
            "tomopy_dl.solvers.iterative:mlem",
            "maximum-likelihood expectation maximisation",
            (_ITERATIONS, _PROGRESS),
            takes_init=True,
        ),
        Algorithm(
            "mbir",
            "tomopy_dl.solvers.iterative:mbir",
            "model-based: least squares with a qGGMRF prior (svmbir's model), weights from the data",
            (
                # 300: held-out error within 1% of 600 iterations' on the measured basalt and wood slices and the
                # counts phantom (128-192 px); 4% on the 462-px imat slice (benchmarks/limited_angle.py cases).
                Keyword("num_iter", int, 300, "iterations", minimum=0),
                Keyword("sharpness", float, _SHARPNESS, "0 neutral; each +1 doubles the prior's scale: sharper"),
                Keyword("snr_db", float, 30.0, "the data's assumed signal-to-noise ratio in dB"),
                _PROGRESS,
            ),
            takes_init=True,
        ),
        Algorithm(
            "tv",
            "tomopy_dl.solvers.iterative:tv",
            "total-variation least squares (preconditioned Chambolle-Pock)",
            (
                Keyword("num_iter", int, 300, "iterations", minimum=0),
                Keyword("reg_par", float, "auto", "TV weight in sinogram units; 'auto' sets it from the noise"),
                Keyword("positivity", bool, True, "keep the image non-negative"),
                Keyword(
                    "data", str, "l2", "data term: least squares, or Poisson 'kl' for counts", choices=("l2", "kl")
                ),
                # No choices here: a prior is added by a row of PRIORS (solvers/prior.py), which the solver checks.
                Keyword("prior", str, "tv", "the prior: a name of solvers.prior.PRIORS ('tv': total variation)"),
                _PROGRESS,
            ),
            takes_init=True,
        ),
        Algorithm(
            "ganrec",
            "tomopy_dl.solvers.gan:ganrec",
            "GANrec, self-trained per scan for missing-wedge data",
            (
                Keyword(
                    "num_iter",
                    int,
                    None,
                    "iterations of the first slice batch (mode's: 300; 1000 'faithful'; 'volume': its 2000 steps)",
                    minimum=1,
                ),
                Keyword("warm_iter", int, None, "iterations of each later batch (num_iter // 4)", minimum=1),
                Keyword(
                    "mode",
                    str,
                    "ours",
                    "'ours' (wedge GAN on a TV start), 'volume' (a network across the slices) or the paper's",
                    choices=tuple(GANREC_MODES),
                ),
                Keyword("lam", float, None, "weight of the paper modes' L1 data term (100)", minimum=0),
                Keyword("lr_g", float, None, "Adam step of the generator (1e-3)", minimum=0),
                Keyword("lr_d", float, None, "Adam step of the discriminator (1e-3 'ours', 1e-5 paper)", minimum=0),
                Keyword("adv_weight", float, None, "weight of the adversarial term; 0 turns D off", minimum=0),
                Keyword("tv_weight", float, None, "'ours': TV weight relative to the noise (0.35)", minimum=0),
                Keyword("init_iter", int, None, "'ours': iterations of the starting solver (300)", minimum=0),
                Keyword(
                    "init_method", str, None, "'ours': the starting solver (tv)", choices=("tv", "sirt", "mlem", "mbir")
                ),
                Keyword("sharpness", float, None, "'ours': the sharpness of an 'mbir' start (0)"),
                Keyword("slack", float, None, "'ours': the trust region of the adversarial term (0.02)", minimum=0),
                Keyword("data_term", str, None, "'ours': data term, 'l2' or Poisson 'kl' (l2)", choices=("l2", "kl")),
                Keyword("dc_iter", int, None, "'volume': SIRT iterations after the network (20)", minimum=0),
                Keyword(
                    "filler", str, None, "'volume': a network trained once on this scan (volume_filler; a file path)"
                ),
                Keyword(
                    "tune",
                    str,
                    None,
                    "'ours': 'auto' chooses the start, data term and weights on held-out angles; 'off'",
                    choices=("auto", "off"),
                ),
                Keyword("batch_size", int, None, "slices fitted together (1 on the CPU, 16 on CUDA)", minimum=1),
                Keyword("independent", bool, False, "fit every batch from fresh networks"),
                Keyword(
                    "early_stop", float, None, "stop a batch when the data term improves by less than this", minimum=0
                ),
                Keyword("quantitative", bool, True, "return images in the units of gridrec/sirt"),
                _SEED,
                _PROGRESS,
            ),
        ),
    )
}


def default(algorithm: str, keyword: str) -> Any:
    """The default of ``keyword`` of ``algorithm``, from :data:`ALGORITHMS`."""
    return ALGORITHMS[algorithm].keyword(keyword).default


def default_iterations(algorithm: str) -> int | None:
    """The iterations ``algorithm`` runs by default (GANrec: its default mode's); None if it takes none.

    Examples
    --------
    >>> default_iterations("sirt"), default_iterations("ganrec"), default_iterations("fbp")
    (100, 300, None)
    """
    n = ALGORITHMS[algorithm].defaults.get("num_iter")
    if n is None and algorithm == "ganrec":
        n = GANREC_MODES[default("ganrec", "mode")]["num_iter"]
    return n
