"""The TV solver: its gradient pair, its noise estimate, and what it buys on missing-wedge data."""

import numpy as np
import pytest
import torch

import tomopy_dl
from tomopy_dl.solvers import mlem, sirt, tv
from tomopy_dl.solvers.iterative import tv_objective
from tomopy_dl.solvers.prior import auto_reg_par, div2d, estimate_noise, grad2d, tv_norm


def test_div_is_minus_the_adjoint_of_grad():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 11, 7, generator=g, dtype=torch.float64)
    q = torch.randn(3, 2, 11, 7, generator=g, dtype=torch.float64)
    lhs = (grad2d(x) * q).sum()
    rhs = -(x * div2d(q)).sum()
    assert abs(float(lhs - rhs)) < 1e-10 * float(lhs.abs() + rhs.abs())


def test_tv_norm_of_a_step():
    x = torch.zeros(1, 8, 8)
    x[0, :, 4:] = 2.0  # one vertical edge of height 2 along 8 rows
    assert float(tv_norm(x)) == pytest.approx(16.0)


def test_noise_estimate_sees_noise_and_not_edges():
    gen = np.random.default_rng(1)
    n_ang, n_det = 90, 120
    smooth = np.zeros((1, n_ang, n_det), np.float32)
    smooth[0, :, 30:90] = 5.0  # sharp edges, as an object's boundary
    for sigma in (0.05, 0.5):
        noisy = smooth + gen.normal(0, sigma, smooth.shape).astype(np.float32)
        est = float(estimate_noise(torch.from_numpy(noisy))[0])
        assert est == pytest.approx(sigma, rel=0.1)
    assert float(auto_reg_par(torch.from_numpy(smooth))[0]) > 0  # floor: noiseless data are still regularised


def _err(x, obj):
    return float(np.linalg.norm(x[0].numpy() - obj[0]) / np.linalg.norm(obj[0]))


def test_tv_beats_sirt_and_mlem_on_a_missing_wedge(wedge):
    obj, _, op, sino = wedge
    e_tv = _err(tv(sino, op, num_iter=200), obj)
    e_sirt = _err(sirt(sino, op, num_iter=100), obj)
    e_mlem = _err(mlem(sino, op, num_iter=100), obj)
    assert e_tv < 0.8 * min(e_sirt, e_mlem), (e_tv, e_sirt, e_mlem)


def test_tv_decreases_its_objective_and_keeps_positivity(wedge):
    _, _, op, sino = wedge
    beta = 0.5

    def objective(x):
        return float(0.5 * (op(x) - sino).square().sum() + beta * tv_norm(x).sum())

    short, long = (tv(sino, op, num_iter=k, reg_par=beta) for k in (10, 200))
    assert objective(long) < objective(short)
    assert float(tv_objective(long, sino, op, torch.tensor([beta]))[0]) == pytest.approx(objective(long), rel=1e-5)
    assert float(long.min()) >= 0
    free = tv(sino, op, num_iter=50, reg_par=beta, positivity=False)
    assert float(free.min()) < 0  # noise and the wedge do push some pixels below zero


def test_per_slice_weights_and_bad_weights(wedge):
    _, _, op, sino = wedge
    two = torch.cat([sino, sino])
    x = tv(two, op, num_iter=30, reg_par=torch.tensor([0.0, 50.0]))
    assert tv_norm(x[1:]) < 0.7 * tv_norm(x[:1])  # the heavier weight smooths more
    torch.testing.assert_close(x[1:], tv(sino, op, num_iter=30, reg_par=50.0), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="reg_par"):
        tv(sino, op, reg_par="strong")
    with pytest.raises(ValueError, match="reg_par"):
        tv(sino, op, reg_par=-1.0)


def test_tv_through_recon(wedge):
    _, theta, op, sino = wedge
    proj = np.swapaxes(sino.numpy(), 0, 1)
    rec = tomopy_dl.recon(
        proj, theta, center=29.0, algorithm="tv", num_iter=100, num_gridx=40, num_gridy=40, device="cpu", progress=False
    )
    direct = tv(sino, op, num_iter=100)
    np.testing.assert_allclose(rec, direct.numpy(), rtol=1e-5, atol=1e-6)
