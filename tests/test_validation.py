"""Bad input gets a clear error naming the argument; inputs are never modified."""

import numpy as np
import pytest

import tomopy_dl


@pytest.fixture()
def data():
    theta = np.linspace(0, np.pi, 12, endpoint=False).astype(np.float32)
    obj = np.zeros((2, 16, 16), np.float32)
    obj[:, 5:10, 6:12] = 1
    proj = tomopy_dl.project(obj, theta, device="cpu")
    return obj, theta, proj


def test_project_rejects_bad_input(data):
    obj, theta, _ = data
    with pytest.raises(ValueError, match="obj must be 3D"):
        tomopy_dl.project(obj[0], theta)
    with pytest.raises(ValueError, match="obj is empty"):
        tomopy_dl.project(np.zeros((0, 16, 16), np.float32), theta)
    bad = obj.copy()
    bad[0, 1, 1] = np.nan
    with pytest.raises(ValueError, match="obj holds 1 non-finite"):
        tomopy_dl.project(bad, theta)
    with pytest.raises(ValueError, match="theta is empty"):
        tomopy_dl.project(obj, [])
    with pytest.raises(ValueError, match="theta holds"):
        tomopy_dl.project(obj, [0.0, np.inf])
    with pytest.raises(ValueError, match="center must be finite"):
        tomopy_dl.project(obj, theta, center=np.nan)
    with pytest.raises(ValueError, match="center has 3 values for 2 slices"):
        tomopy_dl.project(obj, theta, center=[1, 2, 3])
    with pytest.raises(TypeError, match="obj must be a numeric array"):
        tomopy_dl.project(np.array([["a"]]), theta)


def test_recon_rejects_bad_input(data):
    _, theta, proj = data
    with pytest.raises(ValueError, match="tomo must be 3D"):
        tomopy_dl.recon(proj[:, 0], theta)
    with pytest.raises(ValueError, match=r"len\(theta\) = 11 does not match the 12 projections"):
        tomopy_dl.recon(proj, theta[:-1])
    bad = proj.copy()
    bad[3, 0, 5] = np.inf
    with pytest.raises(ValueError, match="tomo holds 1 non-finite"):
        tomopy_dl.recon(bad, theta)
    with pytest.raises(ValueError, match="tomo is empty"):
        tomopy_dl.recon(np.zeros((12, 0, 22), np.float32), theta)
    with pytest.raises(ValueError, match="center must be finite"):
        tomopy_dl.recon(proj, theta, center=np.inf)
    with pytest.raises(ValueError, match="algorithm must be one of"):
        tomopy_dl.recon(proj, theta, algorithm="gridrec")
    with pytest.raises(TypeError, match="algorithm must be a name or a callable"):
        tomopy_dl.recon(proj, theta, algorithm=3)
    with pytest.raises(ValueError, match="num_iter must be >= 0"):
        tomopy_dl.recon(proj, theta, algorithm="sirt", num_iter=-1)
    with pytest.raises(ValueError, match="num_gridx must be >= 1"):
        tomopy_dl.recon(proj, theta, num_gridx=0)
    with pytest.raises(ValueError, match="init_recon must have shape"):
        tomopy_dl.recon(proj, theta, init_recon=np.zeros((2, 5, 5)))
    with pytest.raises(ValueError, match="device"):
        tomopy_dl.recon(proj, theta, device="tpu")


def test_inputs_are_not_modified(data):
    obj, theta, proj = data
    copies = [a.copy() for a in (obj, theta, proj)]
    n_det = proj.shape[2]
    init = np.ones((2, n_det, n_det), np.float32)
    init_copy = init.copy()
    tomopy_dl.project(obj, theta, emission=False, device="cpu")
    tomopy_dl.recon(proj, theta, algorithm="fbp", device="cpu")
    for alg in ("sirt", "mlem"):
        tomopy_dl.recon(proj, theta, algorithm=alg, init_recon=init, num_iter=2, device="cpu")
    for a, b in zip((obj, theta, proj), copies):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(init, init_copy)


def test_recon_shapes_follow_tomopy(data):
    _, theta, proj = data
    assert proj.shape == (12, 2, 26)  # padded detector: ceil((sqrt(2) * 16 + 2) / 2) * 2
    assert tomopy_dl.recon(proj, theta, algorithm="fbp").shape == (2, 26, 26)
    assert tomopy_dl.recon(proj, theta, algorithm="fbp", num_gridx=16, num_gridy=18).shape == (2, 16, 18)
    sino = np.swapaxes(proj, 0, 1)
    np.testing.assert_array_equal(
        tomopy_dl.recon(sino, theta, sinogram_order=True, algorithm="sirt", num_iter=3),
        tomopy_dl.recon(proj, theta, algorithm="sirt", num_iter=3),
    )
