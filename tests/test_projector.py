"""The projector against real TomoPy output, and its adjoint."""

import numpy as np
import pytest
import torch
from conftest import rel_l2

import tomopy_dl
from tomopy_dl.physics import ParallelBeamProjector, detector_width, get_projector, ray_offsets, unmeasured_angles


@pytest.mark.parametrize(
    "key, kwargs",
    [
        ("proj_pad", dict(theta="theta")),
        ("proj_nopad", dict(theta="theta", pad=False)),
        ("proj_off", dict(theta="theta", center="center_off")),
        ("proj_lim", dict(theta="theta_lim")),
    ],
)
def test_matches_tomopy_project(ref, key, kwargs):
    kw = {k: (ref[v] if isinstance(v, str) else v) for k, v in kwargs.items()}
    out = tomopy_dl.project(ref["obj"], device="cpu", **kw)
    assert out.shape == ref[key].shape and out.dtype == np.float32
    # The bar is 3%; exact intersection lengths give float32 round-off.
    assert rel_l2(out, ref[key]) < 1e-4


def test_arbitrary_unsorted_angles_match_fixture_rows(ref):
    rng = np.random.default_rng(3)
    pick = rng.choice(ref["theta"].size, size=17, replace=False)  # unsorted, non-uniform
    out = tomopy_dl.project(ref["obj"], ref["theta"][pick], device="cpu")
    assert rel_l2(out, ref["proj_pad"][pick]) < 1e-4


def test_angles_beyond_pi_are_mirrored_views(ref):
    obj = ref["obj"][30:32]
    theta = np.array([0.3, 0.3 + np.pi, 1.1], np.float32)
    out = tomopy_dl.project(obj, theta, pad=False, device="cpu")
    # A view from the opposite side is the same projection, detector reversed
    # (for the symmetric default centre).
    np.testing.assert_allclose(out[1], out[0][:, ::-1], rtol=1e-4, atol=1e-3)
    assert not np.allclose(out[2], out[0], atol=1e-2)


def test_project_options_sinogram_order_and_transmission(ref):
    obj = ref["obj"][28:31]
    a = tomopy_dl.project(obj, ref["theta"], device="cpu")
    b = tomopy_dl.project(obj, ref["theta"], sinogram_order=True, device="cpu")
    c = tomopy_dl.project(obj, ref["theta"], emission=False, device="cpu")
    assert a.shape == (90, 3, 94) and b.shape == (3, 90, 94)
    np.testing.assert_allclose(np.swapaxes(a, 0, 1), b)
    np.testing.assert_allclose(c, np.exp(-a), rtol=1e-6)


def test_per_slice_centres_equal_separate_calls(ref):
    obj = ref["obj"][30:32]
    both = tomopy_dl.project(obj, ref["theta"], center=[47.0, 44.5], device="cpu")
    first = tomopy_dl.project(obj[:1], ref["theta"], center=47.0, device="cpu")
    second = tomopy_dl.project(obj[1:], ref["theta"], center=44.5, device="cpu")
    np.testing.assert_array_equal(both[:, :1], first)
    np.testing.assert_array_equal(both[:, 1:], second)
    assert not np.allclose(first, tomopy_dl.project(obj[:1], ref["theta"], center=44.5, device="cpu"))


def test_geometry_helpers():
    assert detector_width(64, 64) == 94
    assert detector_width(64, 64, pad=False) == 64
    s = ray_offsets(94, 47.0)
    np.testing.assert_allclose(s, np.arange(94) + 0.5 - 47.0)
    # TomoPy nudges offsets that would sit on a grid line by 0.01 pixel.
    np.testing.assert_allclose(ray_offsets(94, 46.5), np.arange(94) + 0.5 - 46.5 + 0.01)


GEOMETRIES = [
    dict(theta=np.linspace(0, np.pi, 40, endpoint=False), n_det=30, nx=20, ny=20, center=None),
    dict(theta=np.sort(np.random.default_rng(0).uniform(0, 2 * np.pi, 33)), n_det=25, nx=17, ny=23, center=11.3),
    dict(theta=np.deg2rad(np.linspace(-35, 35, 51)), n_det=48, nx=32, ny=32, center=24.0),
]


def test_unmeasured_angles_cover_the_missing_wedge():
    deg = np.rad2deg(unmeasured_angles(np.deg2rad(np.linspace(0, 120, 121))))
    assert deg.min() > 123 - 1e-3 and deg.max() < 177 + 1e-3 and deg.size == 54
    # +-35 degrees, 51 views (1.4 degree steps): the wedge is 35..145, less 3 steps each side.
    deg = np.rad2deg(unmeasured_angles(np.deg2rad(np.linspace(-35, 35, 51))))
    assert 39 < deg.min() < 41.5 and 138.5 < deg.max() < 141
    # The same wedge written as 0-35 plus 145-180, and shuffled, gives the same answer (gap 3.5
    # keeps grid angles off the boundary, where float rounding of the spacing would decide).
    shifted = np.deg2rad(np.concatenate([np.linspace(0, 35, 26), np.linspace(145, 180, 26)[:-1]]))
    np.testing.assert_allclose(unmeasured_angles(np.random.default_rng(0).permutation(shifted), gap=3.5),
                               unmeasured_angles(np.deg2rad(np.linspace(-35, 35, 51)), gap=3.5), atol=1e-4)
    # Angles count modulo 180 degrees: a 200-320 degree scan misses what a 20-140 degree one does.
    np.testing.assert_allclose(unmeasured_angles(np.deg2rad(np.linspace(200, 320, 121)), gap=3.5),
                               unmeasured_angles(np.deg2rad(np.linspace(20, 140, 121)), gap=3.5), atol=1e-4)
    # Full-range scans, including 0-360, have none.
    assert unmeasured_angles(np.deg2rad(np.linspace(0, 180, 180, endpoint=False))).size == 0
    assert unmeasured_angles(np.deg2rad(np.linspace(0, 360, 721))).size == 0
    with pytest.raises(ValueError, match="at least 2"):
        unmeasured_angles([0.0])


@pytest.mark.parametrize("geom", GEOMETRIES)
def test_adjoint_identity(geom):
    op = ParallelBeamProjector(geom["theta"], geom["n_det"], geom["nx"], geom["ny"], geom["center"], device="cpu")
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(3, geom["nx"], geom["ny"], generator=gen)
    y = torch.rand(3, len(geom["theta"]), geom["n_det"], generator=gen)
    lhs = torch.sum(op(x).double() * y.double())
    rhs = torch.sum(x.double() * op.adjoint(y).double())
    assert abs(float(lhs - rhs)) / abs(float(lhs)) < 1e-4


def test_autograd_gradients_are_the_adjoint():
    op = ParallelBeamProjector(np.linspace(0, np.pi, 20), 24, 16, 16, device="cpu")
    x = torch.rand(2, 16, 16, requires_grad=True)
    y = torch.rand(2, 20, 24)
    (op(x) * y).sum().backward()
    torch.testing.assert_close(x.grad, op.adjoint(y), rtol=1e-5, atol=1e-5)
    z = torch.rand(2, 20, 24, requires_grad=True)
    (op.adjoint(z) * x.detach()).sum().backward()
    torch.testing.assert_close(z.grad, op(x.detach()), rtol=1e-5, atol=1e-5)


def test_projector_rejects_wrong_shapes():
    op = ParallelBeamProjector(np.linspace(0, np.pi, 5), 10, 8, 8, device="cpu")
    with pytest.raises(ValueError, match="shape"):
        op(torch.zeros(2, 8, 9))
    with pytest.raises(TypeError, match="float32"):
        op(torch.zeros(8, 8, dtype=torch.float64))


def test_projector_cache_reuses_geometry():
    theta = np.linspace(0, np.pi, 7)
    a = get_projector(theta, 12, 8, 8, center=6.0, device="cpu")
    assert get_projector(theta.astype(np.float32), 12, 8, 8, center=6.0, device="cpu") is a
    assert get_projector(theta, 12, 8, 8, center=6.5, device="cpu") is not a
