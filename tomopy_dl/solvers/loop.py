"""The one guarded optimisation loop that every trained solver runs.

A step function does one update and returns the image; the loop around it
keeps the progress bar, averages the iterates, checks the monitored value
every ``check_every`` iterations (the only host synchronisation), restores
the last good state at half the step when that value explodes, stops early
on a plateau and logs.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch

__all__ = ["Step", "LoopResult", "guarded_loop", "CHECK_EVERY", "SPIKE"]

logger = logging.getLogger(__name__)

#: Iterations between host-side checks: the loop never waits on the device in between.
CHECK_EVERY = 50
#: A monitored value this many times the best so far counts as divergence.
SPIKE = 20.0


class _Stateful(Protocol):
    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


@dataclass
class Step:
    """What one iteration returns: the image (detached), the monitored value and values to log.

    ``monitor`` and ``logs`` stay on the device; the loop reads them only at
    its checks.
    """

    image: torch.Tensor
    monitor: torch.Tensor
    logs: dict[str, torch.Tensor]


@dataclass
class LoopResult:
    """The loop's output: the (averaged) image and what happened."""

    image: torch.Tensor
    iterations: int
    restarts: int
    monitor: float


def guarded_loop(
    step: Callable[[int], Step],
    n_iter: int,
    *,
    start: torch.Tensor,
    state: dict[str, _Stateful],
    optimizers: list[torch.optim.Optimizer],
    average_from: int | None = None,
    early_stop: float | None = None,
    bar=None,
    name: str = "loop",
    monitor_name: str = "monitor",
    check_every: int = CHECK_EVERY,
    spike: float = SPIKE,
) -> LoopResult:
    """Run ``step(it)`` for ``it`` in ``range(n_iter)`` under a divergence guard.

    Parameters
    ----------
    step : callable
        ``step(it) -> Step``: one update of the parameters in ``state``.
    n_iter : int
        Iterations.
    start : torch.Tensor
        The image returned if no iteration counts (restored before the first check).
    state : dict
        Modules and optimisers to snapshot at every good check and restore
        after a bad one.
    optimizers : list of torch.optim.Optimizer
        Whose step sizes are halved on every restore.
    average_from : int, optional
        Return the mean of the iterates from this iteration on; the last
        iterate by default.
    early_stop : float, optional
        Stop when the monitored value improved by less than this fraction
        over the last two checks.
    bar : tqdm, optional
        Updated once per iteration.
    name, monitor_name : str
        Prefix of the log lines, and what the monitored value is called there.
    check_every, spike : int, float
        See :data:`CHECK_EVERY` and :data:`SPIKE`.

    Returns
    -------
    LoopResult
    """
    avg, n_avg = None, 0
    avg_from = n_iter if average_from is None else average_from
    snap = _snapshot(state)
    # The iterate average and last iterate at the snapshot, restored with the state.
    good = (None, 0, start)
    best = math.inf
    history: list[float] = []
    iterations = restarts = 0
    x_last = start
    for it in range(n_iter):
        out = step(it)
        x_last = out.image
        if it >= avg_from:
            avg = x_last.clone() if avg is None else avg + x_last
            n_avg += 1
        iterations = it + 1
        if bar is not None:
            bar.update(1)
        if (it + 1) % check_every == 0 or it + 1 == n_iter:
            value = float(out.monitor)
            if not math.isfinite(value) or value > spike * best:
                logger.warning("%s: loss %.3g at iteration %d; restoring the last good weights at half the step",
                               name, value, it + 1)  # fmt: skip
                _restore(state, snap, optimizers, 0.5)
                avg, n_avg, x_last = good
                avg = None if avg is None else avg.clone()
                restarts += 1
                continue
            best = min(best, value)
            snap = _snapshot(state)
            good = (None if avg is None else avg.clone(), n_avg, x_last)
            history.append(value)
            if logger.isEnabledFor(logging.DEBUG):
                logs = "".join(f", {k} {float(v):.4g}" for k, v in out.logs.items())
                logger.debug("%s: iteration %d, %s %.4g%s", name, it + 1, monitor_name, value, logs)
            if early_stop and len(history) >= 3 and history[-3] - history[-1] < early_stop * history[-3]:
                logger.info("%s: plateaued at iteration %d; stopping early", name, it + 1)
                break
    return LoopResult(
        image=avg / n_avg if n_avg else x_last,
        iterations=iterations,
        restarts=restarts,
        monitor=history[-1] if history else float("nan"),
    )


def _snapshot(state: dict[str, _Stateful]) -> dict:
    return copy.deepcopy({k: v.state_dict() for k, v in state.items()})


def _restore(state: dict[str, _Stateful], snap: dict, optimizers: list, lr_factor: float) -> None:
    for k, v in snap.items():
        state[k].load_state_dict(v)
    for opt in optimizers:
        for group in opt.param_groups:
            group["lr"] *= lr_factor
