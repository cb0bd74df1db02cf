"""Device selection and the per-device lock that serialises compute."""

from __future__ import annotations

import logging
import threading

import torch

__all__ = ["resolve_device", "device_lock"]

logger = logging.getLogger(__name__)

_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def resolve_device(device=None) -> torch.device:
    """Turn a user's device request into a ``torch.device``.

    Parameters
    ----------
    device : None, str or torch.device
        ``None`` or ``'auto'``: CUDA when available, else the CPU.
        ``'gpu'``: the same, because TomoPy's string path fills ``device='gpu'``
        by default, so it cannot be taken as an explicit demand.
        ``'cpu'``, ``'cuda'``, ``'cuda:N'`` or a ``torch.device``: exactly that.

    Raises
    ------
    ValueError
        For an unknown name, or CUDA asked for explicitly without one.
    """
    if isinstance(device, torch.device):
        dev = device
    else:
        if isinstance(device, bytes):
            device = device.decode()
        if device is not None and not isinstance(device, str):
            # TomoPy's string path wraps keyword values in 0-d numpy arrays.
            try:
                device = str(device.item())
            except AttributeError:
                raise TypeError(f"device must be None, a string or a torch.device, got {device!r}") from None
        name = "auto" if device is None else device.strip().lower()
        if name in ("auto", "gpu"):
            if torch.cuda.is_available():
                return torch.device("cuda")
            if name == "gpu":
                logger.info("device='gpu' requested but CUDA is not available; using the CPU")
            return torch.device("cpu")
        try:
            dev = torch.device(name)
        except RuntimeError as exc:
            raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N', 'gpu' or None, got {device!r}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={str(dev)!r} was requested but CUDA is not available; pass device='cpu'")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device type {dev.type!r} is not supported; pass 'cpu' or 'cuda'")
    return dev


def device_lock(device: torch.device) -> threading.Lock:
    """The lock that serialises heavy work on one device.

    TomoPy runs chunks concurrently in threads when ``ncore > 1``. Torch already
    uses every core (or the whole GPU) for one chunk, so running chunks one at a
    time per device avoids oversubscription without changing results.
    """
    key = str(device)
    with _LOCKS_GUARD:
        lock = _LOCKS.get(key)
        if lock is None:
            lock = _LOCKS[key] = threading.Lock()
        return lock
