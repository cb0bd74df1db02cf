"""MBIR: the qGGMRF prior (its gradient and majoriser), the solver's minimiser, and MBIR as GANrec's start."""

import numpy as np
import pytest
import torch

import tomopy_dl
from tomopy_dl.physics import ParallelBeamProjector
from tomopy_dl.sim import shepp_logan
from tomopy_dl.solvers import ganrec, iterative
from tomopy_dl.solvers.gan_wedge import WedgeSettings
from tomopy_dl.solvers.iterative import mbir
from tomopy_dl.solvers.prior import QGGMRF, noise_sigma, qggmrf_sigma
from tomopy_dl.solvers.selection import MBIR_SHARPNESS, choose_wedge_settings
from tomopy_dl.solvers.table import GANREC_MODES


def test_the_prior_s_gradient_is_the_derivative_of_its_value():
    x = torch.rand(2, 9, 11, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    prior = QGGMRF(torch.tensor([0.3, 0.05], dtype=torch.float64))  # mostly quadratic; mostly edges
    auto = x.clone().requires_grad_(True)
    prior(auto).sum().backward()
    grad, _ = prior.grad_and_curvature(x)
    torch.testing.assert_close(grad, auto.grad)


def test_the_curvature_majorises_the_prior_even_for_a_checkerboard_step():
    """The separable bound needs each pair's curvature twice (De Pierro); a checkerboard step shows it."""
    g = torch.Generator().manual_seed(1)
    x = 1.0 + 0.01 * torch.rand(1, 12, 12, dtype=torch.float64, generator=g)
    prior = QGGMRF(torch.tensor([1.0], dtype=torch.float64))
    grad, curvature = prior.grad_and_curvature(x)
    checker = torch.from_numpy(np.indices((12, 12)).sum(0) % 2 * 2.0 - 1.0)[None]
    for step in (0.05 * checker, 2.0 * checker, 0.3 * torch.randn(1, 12, 12, dtype=torch.float64, generator=g)):
        bound = prior(x) + (grad * step).sum() + 0.5 * (curvature * step.square()).sum()
        assert float(prior(x + step)[0]) <= float(bound[0]) * (1 + 1e-12)


def test_mbir_reaches_the_minimiser_of_its_objective():
    """At the result, the objective's gradient vanishes where x > 0 and points outwards where x = 0."""
    n = 24
    op = ParallelBeamProjector(np.deg2rad(np.arange(0, 120, 3.0)), 36, n, n, device="cpu")
    truth = torch.from_numpy(shepp_logan(n))[None]
    y = op(truth) + 0.05 * torch.randn(1, 40, 36, generator=torch.Generator().manual_seed(2))
    x = mbir(y, op, num_iter=500)
    variance = noise_sigma(y).square().view(-1, 1, 1)
    prior = QGGMRF(qggmrf_sigma(y))

    def grad(image):
        return op.adjoint(op(image) - y) / variance + prior.grad_and_curvature(image)[0]

    scale = float((op.adjoint(y) / variance).abs().max())  # the gradient at zero
    assert float(grad(x)[x > 0].abs().max()) < 1e-4 * scale
    assert float(torch.cat([grad(x)[x == 0], torch.zeros(1)]).min()) > -1e-4 * scale
    # Not any non-negative image passes: the truth is not the minimiser.
    assert float(grad(truth)[truth > 0].abs().max()) > 1e-3 * scale


def test_sharpness_trades_smoothness_for_detail():
    op = ParallelBeamProjector(np.deg2rad(np.arange(0, 180, 4.0)), 36, 24, 24, device="cpu")
    y = op(torch.from_numpy(shepp_logan(24))[None])
    y = y + 0.05 * torch.randn(y.shape, generator=torch.Generator().manual_seed(3))
    tv = [float(tomopy_dl.solvers.prior.tv_norm(mbir(y, op, num_iter=200, sharpness=s))[0]) for s in (-1, 0, 2)]
    assert tv[0] < tv[1] < tv[2]


def test_mbir_through_recon_and_its_keywords():
    theta = np.deg2rad(np.arange(0, 180, 6.0)).astype(np.float32)
    proj = np.ones((30, 2, 24), np.float32)
    rec = tomopy_dl.recon(proj, theta, center=12.0, algorithm="mbir", num_iter=20, sharpness=1.0,
                          num_gridx=16, num_gridy=16, progress=False)  # fmt: skip
    assert rec.shape == (2, 16, 16) and bool((rec >= 0).all()) and rec.std() > 0
    with pytest.raises(ValueError, match="sharpness must be a finite number"):
        mbir(torch.ones(1, 30, 24), ParallelBeamProjector(theta, 24, 16, 16, device="cpu"), sharpness=float("nan"))
    with pytest.raises(ValueError, match="snr_db must be a finite number"):
        mbir(torch.ones(1, 30, 24), ParallelBeamProjector(theta, 24, 16, 16, device="cpu"), snr_db=float("inf"))
    with pytest.warns(UserWarning, match=r"ignores keyword\(s\) \['sharp'\]"):
        tomopy_dl.recon(proj, theta, center=12.0, algorithm="mbir", sharp=1.0, num_iter=1, progress=False)


@pytest.fixture(scope="module")
def counts():
    n = 32
    theta = np.deg2rad(np.arange(-60, 61, 3.0)).astype(np.float32)
    op = ParallelBeamProjector(theta, 48, n, n, device="cpu")
    y = torch.poisson(op(torch.from_numpy(shepp_logan(n))[None]) * 10.0, generator=torch.Generator().manual_seed(1))
    return op, y / 10.0


def _base(**kw):
    fields = set(WedgeSettings.__dataclass_fields__)
    return WedgeSettings(**{**{k: v for k, v in GANREC_MODES["ours"].items() if k in fields}, **kw})


def test_auto_scores_the_model_based_start_at_each_sharpness_and_not_sirt(counts):
    op, y = counts
    scores = choose_wedge_settings(y, op, _base(adv_weight=0.0), {"adv_weight"}, seed=0, n_iter=10).scores
    assert {k.rsplit(" ", 2)[0] for k in scores if k.startswith("mbir")} == {f"mbir s{s:g}" for s in MBIR_SHARPNESS}
    assert not any(k.startswith("sirt") for k in scores)
    # A fixed start and a free sharpness: only that start's sharpnesses are tried, and the best kept.
    choice = choose_wedge_settings(y, op, _base(init_method="mbir", adv_weight=0.0), {"init_method", "adv_weight"},
                                   seed=0, n_iter=10)  # fmt: skip
    assert len(choice.scores) == len(MBIR_SHARPNESS) and all(k.startswith("mbir") for k in choice.scores)
    best = min(choice.scores, key=choice.scores.get)
    assert best.startswith(f"mbir s{choice.settings.sharpness:g} {choice.settings.init_iter} it")


def test_ganrec_with_an_mbir_start_returns_that_start_without_the_discriminator(counts):
    op, y = counts
    x = ganrec(y, op, init_method="mbir", sharpness=1.0, init_iter=40, adv_weight=0.0, tune="off", quantitative=False)
    torch.testing.assert_close(x, mbir(y, op, num_iter=40, sharpness=1.0).clamp_min(0))
    with pytest.raises(ValueError, match="sharpness must be a finite number"):
        ganrec(y, op, init_method="mbir", sharpness=float("nan"))


def test_a_large_grid_starts_from_the_coarse_solution_and_gets_closer_sooner(monkeypatch):
    """Above 256 px MBIR starts from its solution on coarser grids: nearer the minimum after as many steps."""
    n = 264
    op = ParallelBeamProjector(np.deg2rad(np.arange(0, 120, 8.0)), 376, n, n, device="cpu")
    truth = torch.zeros(1, n, n)
    truth[:, 60:200, 90:170] = 1.0
    truth[:, 100:140, 110:150] = 2.0
    y = op(truth)
    prior = QGGMRF(qggmrf_sigma(y))

    def objective(x):
        return float(0.5 * (op(x) - y).square().sum() / noise_sigma(y).square()[0] + prior(x)[0])

    from_coarse = mbir(y, op, num_iter=20)
    # TomoPy's prefill is no start of its own: the same coarse start.
    torch.testing.assert_close(mbir(y, op, num_iter=20, init=torch.full((1, n, n), 1e-6)), from_coarse)
    monkeypatch.setattr(iterative, "_MBIR_COARSE_ABOVE", 10**9)
    from_zero = mbir(y, op, num_iter=20)
    assert objective(from_coarse) < 0.7 * objective(from_zero)
    # At or below 256 px it starts from zeros: the same as an explicit zero start.
    monkeypatch.undo()
    small = ParallelBeamProjector(np.deg2rad(np.arange(0, 120, 5.0)), 48, 32, 32, device="cpu")
    ys = small(truth[:, :256:8, :256:8])
    torch.testing.assert_close(mbir(ys, small, num_iter=5), mbir(ys, small, num_iter=5, init=torch.zeros(1, 32, 32)))
