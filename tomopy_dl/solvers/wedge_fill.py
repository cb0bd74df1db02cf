"""GANrec's ``mode='volume'``: a network that fills the missing wedge, trained on the volume itself.

A volume's slices share one missing wedge, and a slice turned in-plane has
its wedge elsewhere; so the slices teach what their wedge hides, without any
training data (DeepDeWedge [1]_, after IsoNet [2]_; the two halves as in
Noise2Inverse [3]_). The composition:

* start: GANrec's classical start (:func:`~.gan_wedge.start_image`, the
  solver and weights ``tune='auto'`` chooses, discriminator off) on each
  half of the projections (even and odd angles);
* network: a :class:`~tomopy_dl.networks.UNet` trained on patches of the
  two halves' slices, each turned by a random angle: the input is one
  half's patch with the measured wedge's Fourier mask applied again, the
  target the other half's patch, the loss counted only at the frequencies
  the turned target measured (:func:`~tomopy_dl.physics.measured_frequencies`).
  It learns to fill the wedge, and to denoise, never seeing a truth;
* output: the network on both halves (masked), averaged, then ``dc_iter``
  iterations of SIRT on every measured angle from it, so that the measured
  directions are what was measured;
* the check: all of that runs first without the held-out edges of the
  measured range (:func:`~.selection.holdout_split`), on a sample of up to
  :data:`SAMPLE` slices, scored after every third of the training, and is
  kept only if its best predicts those angles better than the classical
  start fitted on the same angles; otherwise the classical start is
  returned, and the log says why. The network trained there (on a slightly
  larger wedge) is the one applied to the halves of all the angles, on
  every slice.

One network per volume: :func:`fit_filler` trains and checks it once, on a
sample of the volume's slices, into a :class:`Filler` (which a file keeps);
:func:`fill_slices` applies it to any slab of the same scan, training
nothing. :func:`fill_volume` is the two on one set of slices.

Measured (``benchmarks/volume_mode.py``, docs/tables/volume_mode.txt): with
the network applied regardless, 15-17% lower held-out error than the start
on a 32-slice porous phantom at 0-120 and 0-90 degrees and 2-5% on a measured
basalt slice, 12-230% higher in the other 11 cases; the check declined all
15, the 4 gains included (at the held-out edges, next to measured data, the
network predicts worse than the start even where it fills the wedge better).

References
----------
.. [1] Wiedemann, S. and Heckel, R. "A deep learning method for
   simultaneous denoising and missing wedge reconstruction in cryogenic
   electron tomography", arXiv:2311.05539 (2023).
.. [2] Liu, Y.-T. et al. "Isotropic reconstruction for electron tomography
   with deep learning", Nat. Commun. 13, 6482 (2022).
.. [3] Hendriksen, A. A., Pelt, D. M. and Batenburg, K. J. "Noise2Inverse:
   self-supervised deep convolutional denoising for tomography", IEEE
   Trans. Comput. Imaging 6, 1320-1335 (2020).
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields, replace

import numpy as np
import torch
import torch.nn.functional as F

from ..networks import UNet
from ..physics import Projector, measured_frequencies, projection_error, slices_per_batch, unmeasured_angles
from .gan_wedge import WedgeSettings, start_image
from .iterative import sirt
from .selection import holdout_split

__all__ = [
    "VolumeSettings", "Filler", "fit_filler", "fill_slices", "fill_volume", "sample_slices", "train_filler",
    "apply_filler", "turn",
]  # fmt: skip

logger = logging.getLogger(__name__)

#: Patch side and patches per step of the training. 64 px patches of 128-313 px slices: the probe's
#: measured setting; a patch must be larger than the structures the wedge smears.
PATCH, BATCH = 64, 8
#: The network is scored at the held-out edges this many times during its training (evenly spaced,
#: the last at the end) and the best kept: the probe found 6000 steps best at 0-120 degrees and
#: 2000 at 0-90 on the same volume.
CHECKS = 3
#: Slices (evenly spaced) the network is trained and checked on; it is applied to all.
SAMPLE = 32
#: The held-out edges of the check, as a fraction of the measured range: the smallest of
#: ``tune='auto'``'s, because the network trained without them is the one applied to all the angles.
#: Measured at 0-90 degrees on the 32-slice phantom: trained without edges of 15%, its result was
#: 1.4% better than its start at the withheld wedge; without edges of 5%, 10% better.
EDGE = 0.05


@dataclass(frozen=True)
class VolumeSettings:
    """``mode='volume'``'s settings (defaults in :data:`~.table.GANREC_MODES`)."""

    lr_g: float
    tv_weight: float
    init_iter: int
    init_method: str
    data_term: str
    sharpness: float
    dc_iter: int

    def start(self) -> WedgeSettings:
        """The classical start's settings, as ``mode='ours'`` takes them (no discriminator)."""
        return WedgeSettings(lr_g=self.lr_g, lr_d=0.0, adv_weight=0.0, tv_weight=self.tv_weight,
                             init_iter=self.init_iter, init_method=self.init_method, slack=0.0,
                             data_term=self.data_term, sharpness=self.sharpness)  # fmt: skip


def turn(img: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """``img`` (B, C, H, W) turned in-plane by ``alpha`` (B,) radians about its centre (bilinear, zeros outside).

    A projection of the turned image at ``theta + alpha`` is the projection
    of ``img`` at ``theta``: its measured frequencies are
    ``measured_frequencies(theta, ..., rotation=alpha)``.
    """
    c, s, z = torch.cos(alpha), torch.sin(alpha), torch.zeros_like(alpha)
    a = torch.stack([torch.stack([c, -s, z], 1), torch.stack([s, c, z], 1)], 1).to(img.dtype)
    grid = F.affine_grid(a, list(img.shape), align_corners=False)
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _masked(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``x`` with its spectrum kept only where ``mask`` is 1 (the wedge removed again)."""
    return torch.fft.ifft2(torch.fft.fft2(x) * mask).real


def _mask(theta, shape, device, rotation: float = 0.0) -> torch.Tensor:
    return torch.from_numpy(measured_frequencies(theta, shape, rotation=rotation).astype(np.float32)).to(device)


def train_filler(
    even: torch.Tensor, odd: torch.Tensor, theta, *, steps: int, lr: float, seed: int, bar=None, checks: int = 1
) -> Iterator[tuple[int, UNet]]:
    """Train a :class:`~tomopy_dl.networks.UNet` to fill the wedge of ``theta`` from two half reconstructions.

    Parameters
    ----------
    even, odd : torch.Tensor, shape (S, H, W)
        The same ``S`` slices, reconstructed from two disjoint halves of the
        projections, in units of order one.
    theta : array_like
        The measured angles (radians): the wedge to fill.
    steps, lr : int, float
        Adam steps (each ``BATCH`` patches) and step size.
    seed : int
        Seeds the network's initialisation and the patches: equal seeds give
        equal networks.
    bar : tqdm, optional
        Advanced by one per step.
    checks : int
        How many times to hand the network out: after every ``steps / checks``
        steps, and at the end.

    Yields
    ------
    step : int
        Steps done so far.
    net : UNet
        The network being trained (the same object each time; in evaluation
        mode until the training resumes), on the halves' device.
    """
    rng = np.random.default_rng(seed)
    patch = min(PATCH, min(even.shape[-2:]) // 4 * 4)
    crop = math.ceil(patch * math.sqrt(2)) + 2  # a turned patch stays inside the crop
    # Patches centred anywhere on the slices, edges and the air around the object included: measured,
    # patches from the middle only (no padding) made the network's results worse than its start.
    halves = F.pad(torch.stack([even, odd], 1), (crop // 2,) * 4)  # (S, 2, H + crop, W + crop)
    n0, n1 = halves.shape[-2:]
    with torch.random.fork_rng(devices=[even.device] if even.device.type == "cuda" else []):
        torch.manual_seed(seed)
        net = UNet().to(even.device)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    m_in = _mask(theta, (patch, patch), even.device)
    lo = (crop - patch) // 2
    stops = {round(steps * k / max(1, checks)) for k in range(1, max(1, checks) + 1)}
    for step in range(1, steps + 1):
        rows = rng.integers(0, halves.shape[0], BATCH)
        oi, oj = rng.integers(0, n0 - crop + 1, BATCH), rng.integers(0, n1 - crop + 1, BATCH)
        alpha = rng.uniform(0.0, 2 * np.pi, BATCH)
        crops = torch.stack([halves[r, :, i : i + crop, j : j + crop] for r, i, j in zip(rows, oi, oj)])
        crops = turn(crops, torch.from_numpy(alpha).to(even.device))[..., lo : lo + patch, lo : lo + patch]
        flip = torch.from_numpy(rng.random(BATCH) < 0.5).to(even.device)[:, None, None, None]
        src = torch.where(flip, crops[:, 1:], crops[:, :1])  # either half predicts the other
        tgt = torch.where(flip, crops[:, :1], crops[:, 1:])
        seen = torch.stack([_mask(theta, (patch, patch), even.device, float(a)) for a in alpha])[:, None]
        loss = ((torch.fft.fft2(net(_masked(src, m_in)) - tgt) * seen).abs() ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if bar is not None:
            bar.update(1)
        if step in stops:
            yield step, net.eval()
            net.train()


@torch.no_grad()
def apply_filler(net: UNet, even: torch.Tensor, odd: torch.Tensor, theta) -> torch.Tensor:
    """The network on both halves (S, H, W), their wedge masked, averaged; one slice at a time (memory)."""
    m = _mask(theta, even.shape[-2:], even.device)
    out = torch.empty_like(even)
    for k in range(even.shape[0]):
        pair = _masked(torch.stack([even[k], odd[k]])[:, None], m)
        out[k] = net(pair).mean(0)[0]
    return out


def sample_slices(n: int) -> np.ndarray:
    """Indices of the (up to :data:`SAMPLE`) evenly spaced slices of ``n`` that the filler is trained and checked on."""
    return np.unique(np.linspace(0, n - 1, min(n, SAMPLE)).round().astype(int))


def _batched(solve, sino: torch.Tensor, op: Projector, *more: torch.Tensor) -> torch.Tensor:
    """``solve(sino, *more)`` over batches of slices that fit, joined.

    The sample of :func:`fit_filler` is up to :data:`SAMPLE` slices, which
    at 2048 px would take GBs in one call; each slice is solved on its own
    (the TV weight is per sinogram), so batching changes nothing else.
    """
    b = slices_per_batch(op.image_shape, op.sino_shape)
    return torch.cat([solve(sino[i : i + b], *(m[i : i + b] for m in more)) for i in range(0, sino.shape[0], b)])


def _start(sino: torch.Tensor, op: Projector, s: WedgeSettings) -> torch.Tensor:
    """:func:`~.gan_wedge.start_image`, a batch of slices at a time."""
    return _batched(lambda y: start_image(y, op, s), sino, op)


def _halves(sino: torch.Tensor, op: Projector, s: WedgeSettings) -> tuple[torch.Tensor, torch.Tensor]:
    """The start on the even and on the odd angles (in order of angle)."""
    order = np.argsort(op.theta, kind="stable")
    return tuple(_start(sino[:, np.sort(order[h::2])], op.restrict(np.sort(order[h::2])), s) for h in (0, 1))


def _filled(net: UNet, halves, sino: torch.Tensor, op: Projector, scale: float, dc_iter: int) -> torch.Tensor:
    """The learned result on these angles: the network on the halves' starts, then SIRT on every angle."""
    x = apply_filler(net, halves[0] / scale, halves[1] / scale, op.theta) * scale
    dc = lambda y, x0: sirt(y, op, init=x0.clamp_min(0), num_iter=dc_iter)  # noqa: E731
    return _batched(dc, sino, op, x).clamp_min(0)


@dataclass(frozen=True, eq=False)
class Filler:
    """``mode='volume'``'s network, trained and checked once on a sample of a volume's slices.

    Made by :func:`fit_filler`, applied by :func:`fill_slices` to any slices
    of the same scan (same angles), slab by slab, here or on a Dask worker:
    one network per volume. :meth:`save` and :meth:`load` keep it in a file
    (``torch.save`` of tensors and plain values, loaded with
    ``weights_only=True``).

    Attributes
    ----------
    theta : ndarray of float64, shape (nangles,)
        The measured angles it was trained for (radians).
    start : WedgeSettings
        The classical start it fills from, and returns where it was declined.
    dc_iter : int
        SIRT iterations on every measured angle after the network.
    scale : float
        The halves' standard deviation on the sample, in the data's units:
        the network sees the halves divided by it.
    kept : bool
        Whether the held-out check kept the network.
    why : str
        What the check found, in words.
    state : dict or None
        The network's weights (None where none was trained: no wedge, or
        fewer than 8 angles).
    stats : dict
        The check's numbers: ``held_start``, ``held_net``, ``steps``,
        ``train_seconds``, ``slices``.
    """

    theta: np.ndarray
    start: WedgeSettings
    dc_iter: int
    scale: float
    kept: bool
    why: str
    state: dict | None
    stats: dict

    def in_units(self, factor: float) -> Filler:
        """The same filler for data multiplied by ``factor`` (its scale follows)."""
        return replace(self, scale=self.scale * factor)

    def check_angles(self, theta) -> None:
        """Refuse angles other than those it was trained for: its wedge would be the wrong one."""
        theta = np.asarray(theta, dtype=np.float64)
        if theta.shape != self.theta.shape or not np.allclose(np.sort(theta), np.sort(self.theta), atol=1e-6):
            raise ValueError(f"this filler was trained for {_span(self.theta)}; these slices have {_span(theta)}: "
                             "train one on this scan")  # fmt: skip

    def save(self, path: str | os.PathLike) -> None:
        """Write it to ``path`` (a ``.pt`` file), as :meth:`load` reads it."""
        record = {f.name: getattr(self, f.name) for f in fields(self)}
        record.update(theta=torch.from_numpy(self.theta.copy()), start=asdict(self.start), format=_FORMAT)
        torch.save(record, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Filler:
        """A filler written by :meth:`save` (weights only: nothing in the file runs)."""
        try:
            record = torch.load(path, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, EOFError) as exc:
            raise ValueError(f"cannot read a ganrec volume filler from {str(path)!r}: {exc}") from exc
        if not isinstance(record, dict) or record.get("format") != _FORMAT:
            raise ValueError(f"{str(path)!r} is not a ganrec volume filler (Filler.save writes them)")
        record.pop("format")
        record.update(theta=record["theta"].numpy(), start=WedgeSettings(**record["start"]))
        return cls(**record)


def _span(theta: np.ndarray) -> str:
    """``theta`` in words: how many angles, over which degrees."""
    deg = np.rad2deg(theta)
    return f"{deg.size} angles" + (f" over {deg.min():.2f}-{deg.max():.2f} degrees" if deg.size else "")


#: The file format of :meth:`Filler.save`: a version, so that a later change is refused, not misread.
_FORMAT = "tomopy_dl.ganrec.filler/1"


def fit_filler(
    sino: torch.Tensor, op: Projector, s: VolumeSettings, start: WedgeSettings, *, steps: int, seed: int, bar=None
) -> Filler:
    """Train the wedge filler on a sample of the slices ``sino`` (B, nangles, ndet) and check it on held-out edges.

    The network is trained on the halves of the angles without the held-out
    edges of the measured range, scored there after every ``steps / CHECKS``
    steps, and the best kept, as ``tune='auto'`` chooses the start's
    iterations; it is *kept* only if it predicts those edges better than
    ``start`` fitted on the same angles. The slices used are up to
    :data:`SAMPLE`, evenly spaced: the cost does not grow with the volume.
    """
    t0 = time.perf_counter()
    theta = np.asarray(op.theta, dtype=np.float64)
    base = dict(theta=theta, start=start, dc_iter=s.dc_iter, scale=1.0, kept=False, state=None)
    if sino.shape[1] < 8 or not unmeasured_angles(op.theta).size:
        why = "no missing wedge in these angles" if sino.shape[1] >= 8 else "fewer than 8 angles"
        if bar is not None:
            bar.update(steps)
        return Filler(**base, why=why, stats={})
    fit, held = holdout_split(op.theta, edge=EDGE)
    sample = sample_slices(sino.shape[0])
    y_fit, op_fit = sino[sample][:, fit], op.restrict(fit)
    judge, y_held = op.restrict(held), sino[sample][:, held]
    halves = _halves(y_fit, op_fit, start)
    scale = float((0.5 * (halves[0] + halves[1])).std().clamp_min(1e-12))
    best, t_check = (math.inf, 0, None), 0.0
    for step, net in train_filler(halves[0] / scale, halves[1] / scale, op_fit.theta, steps=steps, lr=s.lr_g,
                                  seed=seed, bar=bar, checks=CHECKS):  # fmt: skip
        t1 = time.perf_counter()
        e = float(projection_error(_filled(net, halves, y_fit, op_fit, scale, s.dc_iter), y_held, judge).mean())
        logger.debug("ganrec volume: %d steps: held-out edges %.4f", step, e)
        if e < best[0]:
            best = (e, step, {k: v.detach().cpu().clone() for k, v in net.state_dict().items()})
        t_check += time.perf_counter() - t1
    e_net, n_best, state = best
    # "Training" counts the halves' starts on the sample too: all that is paid before the first check.
    e_start = float(projection_error(_start(y_fit, op_fit, start), y_held, judge).mean())
    t_train = time.perf_counter() - t0 - t_check
    kept = e_net < e_start
    why = ("better at the held-out edges" if kept else
           f"it predicts the held-out edges worse than the start ({e_net:.4f} against {e_start:.4f})")  # fmt: skip
    stats = dict(held_start=e_start, held_net=e_net, steps=n_best, train_seconds=t_train,
                 check_seconds=time.perf_counter() - t0 - t_train, slices=int(sample.size))  # fmt: skip
    logger.info("ganrec volume: network %s: held-out edges %.4f against the start's %.4f; trained on %d slices, "
                "%d of %d steps: %.1f s training, %.1f s checking", "kept" if kept else "declined", e_net, e_start,
                sample.size, n_best, steps, t_train, stats["check_seconds"])  # fmt: skip
    return Filler(**{**base, "scale": scale, "kept": kept, "state": state}, why=why, stats=stats)


def fill_slices(filler: Filler, sino: torch.Tensor, op: Projector, *, always: bool = False) -> torch.Tensor:
    """``filler`` on the slices ``sino`` (B, nangles, ndet) of its scan: the learned result, or the start.

    Where the filler was declined (or has no network) this is its classical
    start on every angle, and the log says why. ``always``: apply the network
    even where the check declined it (for measuring the check). Raises
    ValueError for angles other than the filler's.
    """
    filler.check_angles(op.theta)
    if filler.state is None or not (filler.kept or always):
        logger.info("ganrec volume: returning the classical start: %s", filler.why)
        return _start(sino, op, filler.start)
    net = UNet().to(sino.device)
    net.load_state_dict(filler.state)
    t0 = time.perf_counter()
    x = _filled(net.eval(), _halves(sino, op, filler.start), sino, op, filler.scale, filler.dc_iter)
    # One line with the numbers, for the log and for benchmarks/volume_mode.py.
    logger.info("ganrec volume: network %s, applied to %d slices in %.1f s",
                "kept" if filler.kept else "applied (always) though worse", sino.shape[0],
                time.perf_counter() - t0)  # fmt: skip
    return x


def fill_volume(
    sino: torch.Tensor,
    op: Projector,
    s: VolumeSettings,
    start: WedgeSettings,
    *,
    steps: int,
    seed: int,
    bar=None,
    always: bool = False,
) -> tuple[torch.Tensor, dict]:
    """The volume mode on the slices ``sino`` (B, nangles, ndet): :func:`fit_filler` on them, then :func:`fill_slices`.

    ``start`` is the classical start's settings (``tune='auto'``'s choice or
    fixed); ``steps`` the training's Adam steps. Returns the images
    (B, num_gridx, num_gridy) and stats: ``kept`` (bool), ``why``, and where a
    network was trained ``held_start`` and ``held_net`` (the held-out errors
    of the check), ``steps`` (of the network kept) and the seconds.
    ``always``: apply the network even where the check declines it.
    """
    filler = fit_filler(sino, op, s, start, steps=steps, seed=seed, bar=bar)
    t0 = time.perf_counter()
    x = fill_slices(filler, sino, op, always=always)
    return x, {**filler.stats, "kept": filler.kept, "why": filler.why, "apply_seconds": time.perf_counter() - t0}
