"""Training the jitter network on synthetic data, reproducibly.

Each training volume is a random object of one of the training families
(:data:`tomopy_dl.sim.objects.TRAIN_FAMILIES`), projected by our projector,
jittered by a random sub-pixel amount, made noisy (Poisson and/or
salt-and-pepper), and turned into network pairs by exactly the steps A and B
that :func:`tomopy_dl.align_jitter` runs at inference. The labels are the
true displacements less their mean, since a rough reconstruction of a
jittered stack sits at the mean position.

Validation uses the held-out families (:data:`HELD_OUT_FAMILIES`) with fixed
seeds, so the error of two runs can be compared.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import platform
import time
from collections import deque
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..networks.jitter import JitterResNet, network_input
from ..physics.geometry import observable_col_shifts
from ..prep.alignment import coarse_start, held_out_reprojection, prepare_stack
from ..prep.shift import displace
from ..sim.forward import project
from ..sim.jitter import add_jitter
from ..sim.noise import add_poisson_noise, add_salt_and_pepper
from ..sim.objects import HELD_OUT_FAMILIES, TRAIN_FAMILIES, make_object
from ..util.device import resolve_device
from ..weights import JITTER_WEIGHTS, load_jitter_model, save_weights, sha256_of

__all__ = ["JitterTrainingConfig", "make_jitter_pairs", "train_jitter", "validate_jitter"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class JitterTrainingConfig:
    """The training recipe; it is stored with the weights it produces."""

    input_size: int = 96
    width: int = 32
    widths: tuple = (64, 96, 128)  # object widths (detector columns)
    rows: tuple = (32, 96)  # range of detector rows in view
    n_angles: tuple = (121, 181)
    amplitude: float = 20.0  # largest jitter, pixels
    extra_shift: float = 4.0  # largest known shift added after the reprojection, working pixels
    poisson_prob: float = 0.6
    photons: tuple = (1e3, 1e5)
    salt_pepper_prob: float = 0.35
    salt_pepper_max: float = 0.4
    algorithm: str = "sirt"
    num_iter: int = 5
    reference: str = "full"  # what a projection is compared with: the 'full' or the 'held_out' reprojection
    work_size: int = 256
    epochs: int = 16
    steps_per_epoch: int = 250
    batch_size: int = 64
    pool_volumes: int = 12  # volumes whose pairs are mixed in each batch
    steps_per_volume: int = 4  # a new volume replaces the oldest this often
    lr: float = 1e-3
    loss: str = "huber"  # or "mse", the paper's
    lr_min: float = 1e-5
    seed: int = 0
    val_volumes: int = 3  # per held-out family
    families: tuple = TRAIN_FAMILIES  # add "volume:PATH" to learn from your own reconstructions

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def make_jitter_pairs(
    family: str, seed: int, cfg: JitterTrainingConfig, device=None, extra: bool = True
) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Network inputs and labels from one random jittered, noisy scan.

    Parameters
    ----------
    family : str
        Object family, see :func:`tomopy_dl.sim.make_object`.
    seed : int
        Seeds the object, its size, the jitter and the noise.
    cfg : JitterTrainingConfig
    extra : bool
        Add the known extra shifts of up to ``cfg.extra_shift`` (training);
        without them the pairs are exactly what inference sees (validation).

    Returns
    -------
    x : torch.Tensor, shape (nangles, 2, input_size, input_size)
    y : torch.Tensor, shape (nangles, 2)
        True ``(d_row, d_col)`` less the mean, in network pixels.
    info : dict
        What was drawn: size, amplitude, noise.
    """
    dev = resolve_device(device)
    rng = np.random.default_rng([seed, 7])
    n = int(rng.choice(cfg.widths))
    rows = int(rng.integers(cfg.rows[0], cfg.rows[1] + 1))
    n_angles = int(rng.choice(cfg.n_angles))
    amp = float(rng.uniform(0.3, cfg.amplitude))
    axes = str(rng.choice(["both", "both", "both", "both", "row", "col"]))
    margin = int(math.ceil(amp)) + 2
    obj = make_object(family, n, rows + 2 * margin, seed)
    theta = np.linspace(0.0, np.pi, n_angles, dtype=np.float32)
    clean = project(obj, theta, pad=False, device=dev)
    prj, sx, sy = add_jitter(clean, amp, seed=int(rng.integers(2**31)), axes=axes, margin_rows=margin)
    info = {"family": family, "n": n, "rows": rows, "angles": n_angles, "amplitude": amp, "axes": axes, "theta": theta}
    if rng.uniform() < cfg.poisson_prob and prj.max() > 0:
        photons = float(np.exp(rng.uniform(*np.log(cfg.photons))))
        prj = add_poisson_noise(
            prj, photons=photons, max_attenuation=float(rng.uniform(0.5, 3.0)), seed=int(rng.integers(2**31))
        )
        info["photons"] = photons
    if rng.uniform() < cfg.salt_pepper_prob:
        frac = float(rng.uniform(0.0, cfg.salt_pepper_max))
        prj = add_salt_and_pepper(prj, frac, seed=int(rng.integers(2**31)))
        info["salt_pepper"] = frac
    with torch.no_grad():
        work, (fr, fc), _ = prepare_stack(torch.from_numpy(prj).to(dev), cfg.work_size, "auto")
        keep = torch.ones(2, device=dev)  # inference's default, axes='both', whatever the true jitter
        start, cur, rep, _ = coarse_start(work, theta, (n / 2) / fc, cfg.algorithm, cfg.num_iter, keep)
        if cfg.reference == "held_out":
            rep = held_out_reprojection(cur, theta, (n / 2) / fc, cfg.algorithm, cfg.num_iter)
        # After the coarse start most residuals are below a pixel: too faint a
        # signal to learn from alone. Moving each projection by a further known
        # amount, after its reprojection is made, teaches the network the
        # displacement itself; inference is the special case of no extra shift.
        extra_amp = float(rng.uniform(0.0, cfg.extra_shift)) if extra else 0.0
        moved = rng.uniform(-extra_amp, extra_amp, size=(n_angles, 2))
        if extra_amp > 0:
            moved_t = torch.as_tensor(moved, dtype=cur.dtype, device=dev)
            cur = displace(cur, moved_t[:, 0], moved_t[:, 1])
        x, (gr, gc) = network_input(cur, rep, cfg.input_size)
    # A column shift a + b cos(theta) + c sin(theta) equals a translation of the
    # object, which no method can see; the labels keep only the rest.
    d = np.stack([sx - sx.mean(), observable_col_shifts(sy, theta)], axis=1) / np.array([fr, fc])
    # What is left after the coarse start, as the network meets it at inference.
    d -= start.cpu().double().numpy()
    d[:, 0] -= d[:, 0].mean()
    d[:, 1] = observable_col_shifts(d[:, 1], theta)
    d += moved
    y = torch.as_tensor(d / np.array([gr, gc]), dtype=torch.float32)
    return x.cpu(), y, info


def _volume_plan(seed: int, index: int, families) -> tuple[str, int]:
    """The family and seed of training volume ``index``: a pure function, so resuming regenerates it."""
    rng = np.random.default_rng([seed, index, 11])
    return str(rng.choice(families)), int(rng.integers(2**31))


def _validation_set(cfg: JitterTrainingConfig, device) -> list[tuple[torch.Tensor, torch.Tensor, dict]]:
    out = []
    for family in HELD_OUT_FAMILIES:
        for k in range(cfg.val_volumes):
            out.append(make_jitter_pairs(family, 10_000 + 97 * k, cfg, device, extra=False))
    return out


def validate_jitter(model: torch.nn.Module, val_set, device=None) -> dict:
    """RMSE in network pixels of one network pass over held-out scans, per axis and family.

    Row errors are taken less their mean, column errors less their
    ``a + b cos + c sin`` fit (see :func:`observable_col_shifts`).
    """
    dev = resolve_device(device)
    model.eval()
    sq: dict[str, list] = {}
    with torch.no_grad():
        for x, y, info in val_set:
            pred = torch.cat([model(x[i : i + 256].to(dev)).cpu() for i in range(0, x.shape[0], 256)])
            err = pred - y
            # Only the jittered axes count: the network cannot know a quiet axis
            # from a jittered one, and re-centring cancels a common offset.
            for axis, name in ((0, "row"), (1, "col")):
                if info["axes"] in ("both", name):
                    e = err[:, axis].double().numpy()
                    e = observable_col_shifts(e, info["theta"]) if axis == 1 else e - e.mean()
                    e = torch.from_numpy(e)
                    sq.setdefault(f"{info['family']}_{name}", []).append(e.pow(2).mean().item())
                    sq.setdefault(name, []).append(e.pow(2).mean().item())
    model.train()
    return {k: float(np.sqrt(np.mean(v))) for k, v in sorted(sq.items())}


def _lr(cfg: JitterTrainingConfig, step: int, total: int) -> float:
    warm = min(1.0, (step + 1) / 100)
    cos = 0.5 * (1 + math.cos(math.pi * min(step, total) / max(total, 1)))
    return warm * (cfg.lr_min + (cfg.lr - cfg.lr_min) * cos)


def train_jitter(
    out_dir: str | os.PathLike,
    cfg: JitterTrainingConfig | None = None,
    device=None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    stop_after: int | None = None,
    init_weights: str | os.PathLike | None = None,
) -> dict | None:
    """Train the jitter network; checkpoint every epoch; write weights at the end.

    Parameters
    ----------
    out_dir : str or path-like
        Gets ``checkpoint.pt`` (after every epoch), ``history.json`` and, at
        the end, ``jitter_resnet.pt`` with its ``.json`` record, which
        ``align_jitter(weights=...)`` loads.
    cfg : JitterTrainingConfig, optional
    device : None, str or torch.device
    resume : bool
        Continue from ``out_dir/checkpoint.pt``; its recipe is used.
    overwrite : bool
        Start afresh even though ``out_dir`` holds an earlier run.
    progress : bool
        tqdm bar over the steps.
    init_weights : str or path-like, optional
        Start from these weights (``'shipped'`` for the package's) instead of
        random ones: fine-tuning, e.g. with ``cfg.families`` holding
        ``'volume:my_recon.npy'``. The architecture must match ``cfg``.
    stop_after : int, optional
        Stop after this many epochs in this call, leaving the checkpoint to
        resume from (for sessions with a time limit). The result equals an
        uninterrupted run.

    Returns
    -------
    dict or None
        The weights' metadata record; None when stopped before the last epoch.
    """
    out = Path(out_dir)
    ckpt_path = out / "checkpoint.pt"
    dev = resolve_device(device)
    cfg, ckpt = _recipe_and_checkpoint(out, cfg, resume, overwrite)
    torch.manual_seed(cfg.seed)
    model = JitterResNet(width=cfg.width).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    if ckpt is None and init_weights is not None:
        _start_from(model, init_weights, cfg)
    out.mkdir(parents=True, exist_ok=True)
    start_epoch, history, elapsed = 0, [], 0.0
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        start_epoch, elapsed = int(ckpt["epoch"]), float(ckpt["elapsed"])
        history = json.loads(ckpt["history"])
        torch.set_rng_state(ckpt["torch_rng"])
        logger.info("resuming %s at epoch %d", ckpt_path, start_epoch)

    total = cfg.epochs * cfg.steps_per_epoch
    val_set = _validation_set(cfg, dev)
    data = _PairPool(cfg, dev, start_epoch)
    bar = tqdm(total=total, initial=start_epoch * cfg.steps_per_epoch, desc="train-jitter", disable=not progress)
    model.train()
    last = cfg.epochs if stop_after is None else min(cfg.epochs, start_epoch + int(stop_after))
    for epoch in range(start_epoch, last):
        t0 = time.perf_counter()
        losses = _train_epoch(model, opt, data, cfg, epoch, total, dev, bar)
        val = validate_jitter(model, val_set, dev)
        elapsed += time.perf_counter() - t0
        history.append({"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "val_rmse_px": val})
        logger.info("epoch %d: train loss %.4f, validation RMSE row %.3f col %.3f px", epoch + 1, np.mean(losses),
                    val.get("row", float("nan")), val.get("col", float("nan")))  # fmt: skip
        _save_checkpoint(ckpt_path, model, opt, epoch + 1, elapsed, cfg, history)
    bar.close()
    if last < cfg.epochs:
        logger.info("stopped after epoch %d of %d; continue with resume=True", last, cfg.epochs)
        return None
    (out / "history.json").write_text(json.dumps(history, indent=2) + "\n")
    meta = _record(cfg, history, elapsed, init_weights, dev)
    save_weights(model, out / "jitter_resnet.pt", meta)
    return meta


def _recipe_and_checkpoint(out: Path, cfg: JitterTrainingConfig | None, resume: bool, overwrite: bool):
    """The recipe to train by and the checkpoint to start from (None: from the start), as asked."""
    ckpt_path = out / "checkpoint.pt"
    requested = cfg
    cfg = cfg or JitterTrainingConfig()
    if not resume:
        if (ckpt_path.exists() or (out / "jitter_resnet.pt").exists()) and not overwrite:
            raise FileExistsError(
                f"{str(out)!r} already holds a training run; pass resume=True (--resume) to continue it "
                "or overwrite=True (--overwrite) to start again"
            )
        return cfg, None
    if not ckpt_path.is_file():
        raise FileNotFoundError(f"nothing to resume: {str(ckpt_path)!r} does not exist")
    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    saved = dict(ckpt["config"])
    for key in ("widths", "rows", "n_angles", "photons", "families"):
        saved[key] = tuple(saved[key])
    # The schedule may be lengthened on resume; the data recipe may not.
    if requested is not None:
        saved["epochs"] = max(saved["epochs"], requested.epochs)
    return JitterTrainingConfig(**saved), ckpt


def _start_from(model: torch.nn.Module, init_weights, cfg: JitterTrainingConfig) -> None:
    """Fine-tuning: ``model`` takes these weights, whose architecture must be the recipe's."""
    start, start_meta = load_jitter_model(None if str(init_weights) == "shipped" else init_weights)
    if start_meta.get("architecture", {}).get("width", 32) != cfg.width or start_meta["input_size"] != cfg.input_size:
        raise ValueError(
            f"init weights have width {start_meta.get('architecture')} and input {start_meta['input_size']}; "
            f"the recipe asks for width {cfg.width} and input {cfg.input_size}"
        )
    model.load_state_dict(start.state_dict())


class _PairPool:
    """The training pairs: a pool of simulated volumes, renewed on a schedule that depends only on the step.

    So a resumed run holds the volumes an uninterrupted one would, and draws the same batches.
    """

    def __init__(self, cfg: JitterTrainingConfig, dev, start_epoch: int):
        self.cfg, self.dev = cfg, dev
        self.pool: deque = deque(maxlen=cfg.pool_volumes)
        self.next_volume = start_epoch * cfg.steps_per_epoch // cfg.steps_per_volume
        # Refill the pool with the same volumes an uninterrupted run would hold now.
        for index in range(max(0, self.next_volume - cfg.pool_volumes), self.next_volume):
            family, vseed = _volume_plan(cfg.seed, index, cfg.families)
            self.pool.append(make_jitter_pairs(family, vseed, cfg, dev)[:2])

    def batch(self, step: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Step ``step``'s inputs and labels, drawn with ``rng`` and mirrored at random."""
        cfg, dev, pool = self.cfg, self.dev, self.pool
        while len(pool) < cfg.pool_volumes or step // cfg.steps_per_volume >= self.next_volume:
            family, vseed = _volume_plan(cfg.seed, self.next_volume, cfg.families)
            pool.append(make_jitter_pairs(family, vseed, cfg, dev)[:2])
            self.next_volume += 1
        sizes = np.array([p[0].shape[0] for p in pool])
        which = rng.integers(0, len(pool), cfg.batch_size)
        idx = (rng.uniform(size=cfg.batch_size) * sizes[which]).astype(int)
        x = torch.stack([pool[w][0][i] for w, i in zip(which, idx)]).to(dev)
        y = torch.stack([pool[w][1][i] for w, i in zip(which, idx)]).to(dev)
        # Augment: swapping left and right mirrors the column displacement.
        flip = torch.as_tensor(rng.uniform(size=cfg.batch_size) < 0.5, device=dev)
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        y = torch.where(flip[:, None], y * torch.tensor([1.0, -1.0], device=dev), y)
        return x, y


def _train_epoch(model, opt, data: _PairPool, cfg: JitterTrainingConfig, epoch: int, total: int, dev, bar) -> list:
    """One epoch of optimiser steps; returns each step's loss."""
    rng = np.random.default_rng([cfg.seed, epoch, 13])
    losses = []
    for k in range(cfg.steps_per_epoch):
        step = epoch * cfg.steps_per_epoch + k
        x, y = data.batch(step, rng)
        for group in opt.param_groups:
            group["lr"] = _lr(cfg, step, total)
        pred = model(x)
        if cfg.loss == "mse":
            loss = (pred - y).pow(2).sum(dim=1).mean()  # the paper's eq. (1)
        else:
            # Huber: scans where the coarse start failed under heavy impulse
            # noise carry labels of many pixels that no input explains; under
            # MSE they would drown the sub-pixel signal of all the others.
            loss = torch.nn.functional.smooth_l1_loss(pred, y, beta=1.0, reduction="none").sum(dim=1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        bar.update(1)
        if k % 20 == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
    return losses


def _save_checkpoint(path: Path, model, opt, epoch: int, elapsed: float, cfg: JitterTrainingConfig, history) -> None:
    """Everything a resumed run needs, written whole or not at all."""
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "epoch": epoch,
            "elapsed": elapsed,
            "config": cfg.to_json(),
            "history": json.dumps(history),
            "torch_rng": torch.get_rng_state(),
        },
        path.with_suffix(".tmp"),
    )
    os.replace(path.with_suffix(".tmp"), path)  # never a half-written checkpoint


def _record(cfg: JitterTrainingConfig, history: list, elapsed: float, init_weights, dev) -> dict:
    """The weights' metadata record: the recipe, the data, the validation and where they were trained."""
    return {
        "network": "JitterResNet",
        "architecture": {"width": cfg.width},
        "input_size": cfg.input_size,
        "recipe": cfg.to_json(),
        "train_families": list(cfg.families),
        "init_weights": str(init_weights) if init_weights else None,
        # 'shipped' names whatever the package ships at the time: the hash says which weights they were.
        "init_sha256": sha256_of(JITTER_WEIGHTS if str(init_weights) == "shipped" else init_weights)
        if init_weights
        else None,
        "validation_families": list(HELD_OUT_FAMILIES),
        "data_seed": cfg.seed,
        "validation_rmse_network_px": history[-1]["val_rmse_px"] if history else None,
        "train_seconds": round(elapsed, 1),
        "device": str(dev) if dev.type == "cpu" else torch.cuda.get_device_name(dev),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
    }
