import os
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(os.environ.get("TOMOPY_DL_SHARED", Path(__file__).resolve().parents[2] / "shared"))


@pytest.fixture(scope="session")
def ref():
    """Fixtures computed with real TomoPy 1.15.2 (../shared/data/tomopy_reference.npz)."""
    path = SHARED / "data" / "tomopy_reference.npz"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; set TOMOPY_DL_SHARED to the shared/ folder")
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def rel_l2(a, b):
    return float(np.linalg.norm(np.asarray(a, np.float64) - b) / np.linalg.norm(np.asarray(b, np.float64)))


def corr(a, b):
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])
