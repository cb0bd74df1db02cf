from pathlib import Path

import numpy as np
import pytest
import torch

#: The tests' own data (see data/README.md): nothing outside the project is needed.
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def ref():
    """Fixtures computed with real TomoPy 1.15.2 (tests/data/tomopy_reference.npz)."""
    with np.load(DATA / "tomopy_reference.npz") as data:
        return {k: data[k] for k in data.files}


def rel_l2(a, b):
    return float(np.linalg.norm(np.asarray(a, np.float64) - b) / np.linalg.norm(np.asarray(b, np.float64)))


def corr(a, b):
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


@pytest.fixture(scope="session")
def wedge():
    """Piecewise-constant disks, 0-100 degrees, Poisson noise: a missing wedge where priors pay.

    Returns the object (1, 40, 40), the angles, the projector and the noisy sinogram (1, 51, 58).
    """
    from tomopy_dl.physics import ParallelBeamProjector
    from tomopy_dl.sim import add_poisson_noise

    n = 40
    yy, xx = np.mgrid[:n, :n]
    obj = np.zeros((1, n, n), np.float32)
    obj[0][(yy - 20) ** 2 + (xx - 20) ** 2 < 15**2] = 1.0
    obj[0][(yy - 14) ** 2 + (xx - 22) ** 2 < 4**2] = 2.0
    obj[0][(yy - 26) ** 2 + (xx - 17) ** 2 < 5**2] = 0.3
    theta = np.deg2rad(np.linspace(0, 100, 51)).astype(np.float32)
    op = ParallelBeamProjector(theta, 58, n, n, device="cpu")
    sino = add_poisson_noise(op(torch.from_numpy(obj)).numpy(), photons=1e4, seed=0)
    return obj, theta, op, torch.from_numpy(sino)


@pytest.fixture(scope="session")
def tooth_h5():
    """The measured tooth (two rows of an APS scan, Data Exchange; see data/README.md)."""
    return DATA / "tooth.h5"


def wait_for_slabs(partial: Path, job, at_least: int = 1, timeout: float = 120.0, poll: float = 0.02) -> int:
    """Poll a running job's ``manifest.json`` in ``partial`` until it records ``at_least`` slabs or ``job`` ends.

    Returns the number of slabs recorded when the wait ended.
    """
    import json
    import time

    deadline, done = time.time() + timeout, 0
    while time.time() < deadline and job.poll() is None:
        try:
            done = len(json.loads((partial / "manifest.json").read_text())["slabs"])
        except (OSError, ValueError, KeyError):  # not written yet, or being replaced
            pass
        if done >= at_least:
            break
        time.sleep(poll)
    return done


def error_lines(stderr: str) -> list[str]:
    """A job's stderr without dxchange's notes on import (its optional modules missing)."""
    return [line for line in stderr.splitlines() if "module not found" not in line]
