"""Trained network weights shipped with tomopy-dl, and how to load and save them.

A weights file ``NAME.pt`` holds a ``state_dict`` only (read with
``torch.load(weights_only=True)``, which executes no code). Beside it,
``NAME.json`` holds the architecture, the input size, the training recipe,
the data seed, the validation error, the date, and the SHA-256 of the
``.pt`` file, which is checked on every load.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import torch

from ..networks.jitter import JitterResNet

__all__ = ["JITTER_WEIGHTS", "load_jitter_model", "save_weights", "sha256_of"]

logger = logging.getLogger(__name__)

JITTER_WEIGHTS = Path(__file__).with_name("jitter_resnet.pt")


def sha256_of(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_weights(model: torch.nn.Module, path: str | os.PathLike, meta: dict) -> Path:
    """Write ``model``'s weights to ``path`` (``.pt``) and its metadata beside it (``.json``).

    The metadata gains the file's ``sha256``. Existing files are replaced; the
    caller decides whether that is wanted.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    torch.save(state, path)
    record = dict(meta, sha256=sha256_of(path))
    path.with_suffix(".json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return path


def load_jitter_model(path: str | os.PathLike | None = None, device=None):
    """The jitter network with trained weights, in eval mode, and its metadata.

    Parameters
    ----------
    path : str or path-like, optional
        A ``.pt`` file written by :func:`save_weights` (``tomopy-dl
        train-jitter`` writes them); the shipped weights by default. Its
        ``.json`` record must sit beside it.
    device : torch.device, optional

    Returns
    -------
    model : tomopy_dl.networks.JitterResNet
    meta : dict

    Raises
    ------
    FileNotFoundError
        If the weights or their ``.json`` record are missing.
    ValueError
        If the file's checksum does not match its record (a corrupt or
        swapped file), or the weights do not fit the recorded architecture.
    """
    path = Path(JITTER_WEIGHTS if path is None else path)
    if not path.is_file():
        raise FileNotFoundError(
            f"jitter weights not found at {str(path)!r}; pass weights=None for the shipped ones, "
            "or train your own with 'tomopy-dl train-jitter'"
        )
    record_path = path.with_suffix(".json")
    if not record_path.is_file():
        raise FileNotFoundError(
            f"{str(record_path)!r} is missing: weights need their .json record (written with them by "
            "tomopy-dl train-jitter), which holds the architecture and the checksum"
        )
    try:
        meta = json.loads(record_path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{str(record_path)!r} is not valid JSON ({exc}); restore it from the training run") from None
    if not isinstance(meta, dict):
        raise ValueError(
            f"{str(record_path)!r} must hold a JSON object (the weights' record), got {type(meta).__name__}"
        )
    size = meta.get("input_size")
    if isinstance(size, bool) or not isinstance(size, int) or not 16 <= size <= 4096:
        raise ValueError(f"{str(record_path)!r}: 'input_size' must be an integer from 16 to 4096, got {size!r}")
    arch = meta.get("architecture", {})
    if not isinstance(arch, dict):
        raise ValueError(f"{str(record_path)!r}: 'architecture' must be a JSON object, got {arch!r}")
    digest = sha256_of(path)
    if digest != meta.get("sha256"):
        raise ValueError(
            f"checksum mismatch for {str(path)!r}: the file's SHA-256 is {digest}, its record says "
            f"{meta.get('sha256')}; the file is corrupt or belongs to other weights"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, pickle errors: many types
        raise ValueError(f"{str(path)!r} is not a readable weights file ({type(exc).__name__}: {exc})") from None
    try:
        model = JitterResNet(**arch)
        model.load_state_dict(state)
    except (TypeError, ValueError, RuntimeError, ZeroDivisionError, AttributeError) as exc:
        raise ValueError(
            f"weights in {str(path)!r} do not fit the architecture {arch} of {str(record_path)!r} "
            f"({type(exc).__name__})"
        ) from None
    model.eval()
    if device is not None:
        model.to(device)
    logger.debug("loaded jitter weights %s (validation %s)", path, meta.get("validation"))
    return model, meta
