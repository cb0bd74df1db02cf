"""Output folders that appear whole or not at all, and stack writers."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["OutputDir", "write_stack"]


class OutputDir:
    """A folder written under a temporary name and renamed into place on success.

    Used as a context manager: on an exception the temporary folder is removed,
    so no partial output is left behind. An existing destination is refused
    unless ``overwrite`` is set, and is then replaced only once the new output
    is complete.
    """

    def __init__(self, path: str | os.PathLike, overwrite: bool = False):
        self.path = Path(path)
        self.overwrite = overwrite
        if self.path.exists() and not overwrite:
            raise FileExistsError(f"{str(self.path)!r} already exists; pass --overwrite to replace it")
        self.tmp: Path | None = None

    def __enter__(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", dir=self.path.parent))
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> bool:
        assert self.tmp is not None
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return False
        if self.path.exists():
            old = self.path.with_name(f".{self.path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(self.path, old)
            os.replace(self.tmp, self.path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(self.tmp, self.path)
        return False


def write_stack(data: np.ndarray, folder: Path, name: str, fmt: str = "tiff") -> list[str]:
    """Write a 3D array as a TIFF stack (one file per slice, through dxchange) or one HDF5 file.

    Returns the file names written, relative to ``folder``.
    """
    if fmt == "tiff":
        from .dataexchange import import_dxchange

        dxchange = import_dxchange()
        dxchange.write_tiff_stack(np.asarray(data, np.float32), fname=str(folder / name), overwrite=True)
        return sorted(p.name for p in folder.glob(f"{name}_*.tiff"))
    if fmt == "h5":
        import h5py

        with h5py.File(folder / f"{name}.h5", "w") as f:
            f.create_dataset("data", data=np.asarray(data, np.float32), compression="gzip")
        return [f"{name}.h5"]
    raise ValueError(f"format must be 'tiff' or 'h5', got {fmt!r}")


def write_params(folder: Path, params: dict) -> None:
    """Record every parameter of a run as ``params.json``."""
    (folder / "params.json").write_text(json.dumps(params, indent=2, default=str) + "\n")
