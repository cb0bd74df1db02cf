"""Tilt series with an inclined axis: the rotation, the axis estimate and align_tilt_series."""

import numpy as np
import pytest

import tomopy_dl
from tomopy_dl.metrics import jitter_rmse
from tomopy_dl.prep import align_tilt_series, estimate_tilt_axis, rotate_projections
from tomopy_dl.sim import add_jitter, make_object, project


@pytest.fixture(scope="module")
def series():
    theta = np.deg2rad(np.arange(-60, 61, 3.0)).astype(np.float32)
    clean = project(make_object("solid", 48, 48, seed=5), theta, pad=False)
    return np.pad(clean, ((0, 0), (10, 10), (10, 10))), theta


def test_rotation_turns_counter_clockwise_and_back():
    img = np.zeros((1, 21, 21), np.float32)
    img[0, 10, 13:19] = 1.0  # a dash right of the centre
    up = rotate_projections(img, 90.0)
    assert up[0, 2:8, 10].sum() > 5.5 and up[0, 13:, :].sum() < 1e-4  # now above the centre
    yy, xx = np.mgrid[:41, :41]
    blob = np.exp(-((yy - 14.0) ** 2 + (xx - 26.0) ** 2) / 32.0)[None].astype(np.float32)
    back = rotate_projections(rotate_projections(blob, 20.0), -20.0)
    assert np.abs(back - blob).max() < 0.05 and np.abs(rotate_projections(blob, 20.0) - blob).max() > 0.3


@pytest.mark.parametrize("phi", [-4.0, 0.0, 2.6])
def test_estimate_finds_the_axis_through_jitter_and_counts(series, phi):
    clean, theta = series
    jittered, _, _ = add_jitter(rotate_projections(clean, phi), 6.0, seed=2)
    counts = np.random.default_rng(0).poisson(np.clip(jittered, 0, None) * 300 / jittered.max()).astype(np.float32)
    assert abs(estimate_tilt_axis(counts, theta) - phi) < 0.3


def test_align_tilt_series_uses_the_axis_and_aligns(series):
    clean, theta = series
    phi = 3.0
    jittered, sx, sy = add_jitter(rotate_projections(clean, phi), 5.0, seed=3)
    out, ex, ey, conv, found = align_tilt_series(jittered, theta, iters=1, progress=False)
    assert abs(found - phi) < 0.3 and out.shape == jittered.shape and conv.shape == (1,)
    # The shifts apply to the rotated series; against the jitter rotated into that frame (about 1 px
    # different at 3 degrees and 5 px), they leave little.
    a = np.deg2rad(found)
    rx, ry = np.cos(a) * sx + np.sin(a) * sy, -np.sin(a) * sx + np.cos(a) * sy
    assert max(jitter_rmse(ex, rx), jitter_rmse(ey, ry, theta)) < 1.0
    assert max(jitter_rmse(np.zeros_like(ex), rx), jitter_rmse(np.zeros_like(ey), ry, theta)) > 2.0
    # A given angle is used as it is; the aligned stack equals align_jitter on the rotated series.
    out2, *_, used = align_tilt_series(jittered, theta, tilt_axis=1.5, iters=1, progress=False)
    assert used == 1.5
    ref = tomopy_dl.align_jitter(rotate_projections(jittered, -1.5), theta, iters=1, work_size=128, progress=False)[0]
    np.testing.assert_array_equal(out2, ref)


def test_a_support_film_is_taken_off_before_the_estimate(series):
    clean, theta = series
    phi = 2.6
    jittered, sx, sy = add_jitter(rotate_projections(clean, phi), 6.0, seed=2)
    # A film fills the view, so it goes on after the shifts; its path grows as 1 / cos(tilt).
    film = (0.2 * jittered.max() / np.cos(theta)).astype(np.float32)
    counts = np.random.default_rng(0).poisson((jittered + film[:, None, None]) * 300 / jittered.max())
    counts = counts.astype(np.float32)
    assert abs(estimate_tilt_axis(counts, theta) - phi) < 0.3
    # Without the subtraction the tilt-dependent level pulls the estimate away (0.94 degrees here).
    assert abs(estimate_tilt_axis(counts, theta, background=None) - phi) > 0.6
    out, ex, ey, _, found = align_tilt_series(counts, theta, iters=1, progress=False)
    assert abs(found - phi) < 0.3
    a = np.deg2rad(found)
    rx, ry = np.cos(a) * sx + np.sin(a) * sy, -np.sin(a) * sx + np.cos(a) * sy
    assert max(jitter_rmse(ex, rx), jitter_rmse(ey, ry, theta)) < 1.0
    # The level is added back: the caller's values, film included, come out.
    level = film * 300 / jittered.max()
    np.testing.assert_allclose(np.median(out[:, :, :3], axis=(1, 2)), level, rtol=0.1)


def test_tilt_series_work_on_a_coarser_copy_unless_told(series, monkeypatch):
    import tomopy_dl.prep.tilt_axis as tilt

    seen = []

    def spy(prj, theta, **kwargs):
        seen.append(kwargs)
        return prj, np.zeros(len(theta)), np.zeros(len(theta)), np.zeros(1)

    monkeypatch.setattr(tilt, "align_jitter", spy)
    clean, theta = series
    align_tilt_series(clean, theta, tilt_axis=0.0)
    align_tilt_series(clean, theta, tilt_axis=0.0, work_size=256)
    assert [k["work_size"] for k in seen] == [128, 256]


def test_bad_input(series):
    clean, theta = series
    with pytest.raises(ValueError, match="tilt_axis"):
        align_tilt_series(clean, theta, tilt_axis="vertical")
    with pytest.raises(ValueError, match="max_angle"):
        estimate_tilt_axis(clean, theta, max_angle=0)
    with pytest.raises(ValueError, match="background must be 'auto'"):
        estimate_tilt_axis(clean, theta, background="median")
    with pytest.raises(ValueError, match="at least 3 projections"):
        estimate_tilt_axis(clean[:2], theta[:2])
