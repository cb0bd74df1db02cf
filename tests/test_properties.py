"""Property-based input validation: any input gives a documented result or a clear error.

Random shapes, dtypes, NaNs, centres and angle sets go into ``project``,
``recon`` and ``align_jitter``. Each call either returns finite float32
arrays of the documented shape or raises ``ValueError``/``TypeError``, and
never modifies the caller's arrays.
"""

import warnings

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import tomopy_dl  # noqa: E402
from tomopy_dl.physics import detector_width  # noqa: E402

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
# Each case starts valid and, half the time, gets one fault: the checks must
# both pass good input through and stop bad input with a clear error.
FAULTS = ["none", "none", "none", "ndim", "empty", "nan", "inf", "dtype", "complex", "theta_len", "theta_nan",
          "degrees", "center_nan", "center_off", "center_len", "int_data", "bool_data"]  # fmt: skip


@st.composite
def cases(draw, slices_axis: int = 1, max_side: int = 12):
    """(array, theta, center, fault): the array is (angles, rows, cols), or (slices, rows, cols) for
    ``slices_axis=0``; a list of centres has one per slice."""
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    n_ang = draw(st.integers(2, 14))
    shape = (n_ang, draw(st.integers(1, 3)), draw(st.integers(4, max_side)))
    arr = rng.random(shape).astype(draw(st.sampled_from([np.float32, np.float64])))
    kind = draw(st.sampled_from(["uniform", "random", "limited", "repeated"]))
    theta = {
        "uniform": np.linspace(0, np.pi, n_ang, endpoint=False),
        "random": rng.uniform(-2 * np.pi, 2 * np.pi, n_ang),
        "limited": np.linspace(0, np.deg2rad(draw(st.integers(20, 170))), n_ang),
        "repeated": np.full(n_ang, rng.uniform(0, np.pi)),
    }[kind]
    n_slices = shape[slices_axis]
    center = draw(st.one_of(st.none(), st.floats(0, shape[2]), st.lists(st.floats(0, shape[2]), min_size=n_slices,
                                                                         max_size=n_slices)))  # fmt: skip
    fault = draw(st.sampled_from(FAULTS))
    if fault == "ndim":
        arr = arr[0] if draw(st.booleans()) else arr[None]
    elif fault == "empty":
        arr = arr[:, :0]
    elif fault in ("nan", "inf"):
        arr.flat[draw(st.integers(0, arr.size - 1))] = np.nan if fault == "nan" else -np.inf
    elif fault == "dtype":
        arr = arr.astype(str)
    elif fault == "complex":
        arr = arr.astype(np.complex64)
    elif fault == "int_data":
        arr = (arr * 100).astype(np.int16)
    elif fault == "bool_data":
        arr = arr > 0.5
    elif fault == "theta_len":
        theta = theta[:-1]
    elif fault == "theta_nan":
        theta = theta.copy()
        theta[0] = np.nan
    elif fault == "degrees":
        theta = np.rad2deg(theta)
    elif fault == "center_nan":
        center = np.nan
    elif fault == "center_off":
        center = shape[2] + draw(st.floats(1, 50))
    elif fault == "center_len":
        center = [1.0] * 7
    return arr, theta, center, fault


def _call(fn, *args, **kwargs):
    """The result, or None when ``fn`` raised one of the documented errors."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # degrees, unknown keywords: warnings by design
        try:
            return fn(*args, **kwargs)
        except (ValueError, TypeError):
            return None


def _snapshot(*arrays):
    return [np.array(a, copy=True) for a in arrays]


def _unchanged(before, after):
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)


@SETTINGS
@given(case=cases(slices_axis=0))
def test_project_any_input(case):
    obj, theta, center, fault = case
    before = _snapshot(obj, theta)
    out = _call(tomopy_dl.project, obj, theta, center=center, device="cpu")
    _unchanged(before, [obj, theta])
    if out is not None:
        n_det = detector_width(obj.shape[1], obj.shape[2])
        assert out.shape == (theta.size, obj.shape[0], n_det) and out.dtype == np.float32
        assert np.isfinite(out).all()
    else:
        assert fault not in ("none", "theta_len", "degrees", "center_off", "int_data", "bool_data")


@SETTINGS
@given(case=cases(), algorithm=st.sampled_from(["fbp", "sirt", "mlem"]))
def test_recon_any_input(case, algorithm):
    tomo, theta, center, fault = case
    before = _snapshot(tomo, theta)
    kw = {} if algorithm == "fbp" else {"num_iter": 2, "progress": False}
    out = _call(tomopy_dl.recon, tomo, theta, center=center, algorithm=algorithm, device="cpu", **kw)
    _unchanged(before, [tomo, theta])
    if out is not None:
        n_det = tomo.shape[2]
        assert out.shape == (tomo.shape[1], n_det, n_det) and out.dtype == np.float32
        assert np.isfinite(out).all()
    else:
        assert fault not in ("none", "degrees", "int_data", "bool_data")


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(case=cases(max_side=24))
def test_align_jitter_any_input(case):
    prj, theta, center, fault = case
    if isinstance(center, list):
        center = center[0]
    before = _snapshot(prj, theta)
    out = _call(tomopy_dl.align_jitter, prj, theta, center=center, iters=1, device="cpu", progress=False)
    _unchanged(before, [prj, theta])
    if out is not None:
        aligned, sx, sy, conv = out
        assert aligned.shape == prj.shape and aligned.dtype == np.float32 and np.isfinite(aligned).all()
        assert sx.shape == sy.shape == (prj.shape[0],)
        assert np.isfinite(sx).all() and np.isfinite(sy).all()
