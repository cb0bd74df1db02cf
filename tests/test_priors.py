"""A new prior is its class (operator, adjoint, prox of the conjugate) and a row of PRIORS: shown on a toy one."""

import numpy as np
import torch

import tomopy_dl
from tomopy_dl.physics import get_projector
from tomopy_dl.solvers import prior as priors
from tomopy_dl.solvers.prior import div2d, grad2d


class Smooth:
    """``weight / 2 * |grad x|^2``: a quadratic smoothness prior (Tikhonov on the gradient)."""

    row_sum, col_sum = 2.0, 4.0  # the gradient's, as TV's
    apply = staticmethod(grad2d)

    @staticmethod
    def adjoint(q):
        return -div2d(q)

    @staticmethod
    def prox_conjugate(q, sigma, weight):
        # g(z) = weight / 2 |z|^2 has g*(q) = |q|^2 / (2 weight): its prox shrinks q.
        return q / (1.0 + sigma / weight)


def _normal_equations(op, y, weight, iters=500):
    """The unique minimiser of 0.5 |A x - y|^2 + weight / 2 |grad x|^2, by conjugate gradients."""
    def apply(x):
        return op.adjoint(op(x)) - weight * div2d(grad2d(x))

    x = torch.zeros(1, *op.image_shape)
    r = op.adjoint(y) - apply(x)
    p, rs = r.clone(), (r * r).sum()
    for _ in range(iters):
        ap = apply(p)
        alpha = rs / (p * ap).sum()
        x, r = x + alpha * p, r - alpha * ap
        new = (r * r).sum()
        if new < 1e-14 * float((y * y).sum()):
            break
        p, rs = r + new / rs * p, new
    return x


def test_a_toy_prior_added_by_its_prox_and_a_row_reaches_its_minimiser(monkeypatch):
    monkeypatch.setitem(priors.PRIORS, "smooth", Smooth)  # the one table row
    rng = np.random.default_rng(0)
    theta = np.linspace(0, np.pi, 40, endpoint=False)
    op = get_projector(theta, 32, 24, 24, projector="siddon")
    obj = torch.zeros(1, 24, 24)
    obj[:, 6:18, 8:16] = 1.0
    y = op(obj) + 0.05 * torch.from_numpy(rng.standard_normal((1, 40, 32)).astype(np.float32))
    weight = 2.0
    # Through the TomoPy contract, as a user would call it: algorithm tv, prior 'smooth'.
    recon = np.full((1, 24, 24), 1e-6, np.float32)
    tomopy_dl.tv(y.numpy(), np.float32([16.0]), recon, theta.astype(np.float32), prior="smooth", reg_par=weight,
                 positivity=False, num_iter=3000, progress=False)  # fmt: skip
    exact = _normal_equations(op, y, weight)
    err = float(np.linalg.norm(recon - exact.numpy()) / np.linalg.norm(exact.numpy()))
    assert err < 1e-3, err
    # And it is not TV's answer: the table row chose the prior.
    tv_recon = np.full((1, 24, 24), 1e-6, np.float32)
    tomopy_dl.tv(y.numpy(), np.float32([16.0]), tv_recon, theta.astype(np.float32), reg_par=weight,
                 positivity=False, num_iter=300, progress=False)  # fmt: skip
    tv_err = float(np.linalg.norm(tv_recon - exact.numpy()) / np.linalg.norm(exact.numpy()))
    assert tv_err > 20 * err, (tv_err, err)


def test_an_unknown_prior_is_refused_with_the_choices():
    import pytest

    op = get_projector(np.linspace(0, np.pi, 8, endpoint=False), 12, 8, 8)
    with pytest.raises(ValueError, match="prior must be one of 'tv'"):
        tomopy_dl.solvers.iterative.tv(op(torch.ones(1, 8, 8)), op, prior="wavelets", num_iter=1)
