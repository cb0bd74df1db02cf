"""GANrec's tune='auto': the held-out split, the choice, and what it keeps; the Poisson data term."""

import itertools
import logging

import numpy as np
import pytest
import torch

from tomopy_dl.physics import ParallelBeamProjector, get_projector, projection_error
from tomopy_dl.sim import shepp_logan
from tomopy_dl.solvers import ganrec
from tomopy_dl.solvers.data_fidelity import KL
from tomopy_dl.solvers.gan_wedge import WedgeSettings
from tomopy_dl.solvers.iterative import mlem, tv, tv_iterates, tv_objective
from tomopy_dl.solvers.prior import auto_reg_par
from tomopy_dl.solvers.selection import START_METHODS, _best_along, choose_wedge_settings, holdout_edge, holdout_split
from tomopy_dl.solvers.table import GANREC_MODES


def test_holdout_split_keeps_back_the_edges():
    theta = np.deg2rad(np.r_[np.arange(60, 120, 2.0), np.arange(0, 60, 2.0)])  # out of order
    fit, held = holdout_split(theta, edge=0.1)
    assert np.array_equal(np.sort(np.r_[fit, held]), np.arange(theta.size))
    deg = np.rad2deg(theta)
    assert set(np.round(deg[held])) == {0, 2, 4, 6, 8, 10, 108, 110, 112, 114, 116, 118}  # within 11.8 of each end
    _, with_interior = holdout_split(theta, edge=0.1, every=8)
    assert set(held) < set(with_interior)
    with pytest.raises(ValueError, match="at least 8 angles.*tune='off'"):
        holdout_split(theta[:7])


def test_held_out_edges_grow_with_the_missing_range():
    edges = [holdout_edge(np.deg2rad(np.arange(0, stop, 1.0))) for stop in (181, 151, 121, 91, 61)]
    assert edges == pytest.approx([0.05, 0.05, 0.1, 0.15, 0.2], abs=0.002)
    assert holdout_edge(np.deg2rad(np.arange(0, 361, 1.0))) == 0.05  # more than a half turn: the floor
    theta = np.deg2rad(np.arange(-45, 46, 1.0))
    assert np.array_equal(holdout_split(theta)[1], holdout_split(theta, edge=holdout_edge(theta))[1])
    deg = np.rad2deg(theta[holdout_split(theta)[1]])
    assert deg.min() == -45 and deg.max() == 45 and np.sum(deg < 0) == np.sum(deg > 0) == 14  # 13.5 of 90 degrees


def test_projection_error_scores_prediction_not_units():
    op = get_projector(np.linspace(0, np.pi, 16, endpoint=False), 24, 16, 16)
    x = torch.from_numpy(shepp_logan(16))[None]
    assert float(projection_error(x, op(x), op)[0]) == 0.0
    assert abs(float(projection_error(1.1 * x, op(x), op)[0]) - 0.1) < 1e-5


def test_tv_iterates_continue_tv_and_leave_grad_mode_alone():
    op = get_projector(np.deg2rad(np.arange(0, 120, 4.0)), 24, 16, 16)
    y = op(torch.from_numpy(shepp_logan(16))[None])
    steps = tv_iterates(y, op, reg_par=0.01, data="kl")
    first = list(itertools.islice(steps, 5))
    assert torch.is_grad_enabled()  # a suspended generator must not leave no_grad on in its caller
    more = list(itertools.islice(steps, 5))
    torch.testing.assert_close(more[-1], tv(y, op, num_iter=10, reg_par=0.01, data="kl"), rtol=0, atol=0)
    assert not torch.equal(first[-1], more[-1])
    with pytest.raises(ValueError, match="data"):
        tv_iterates(y, op, data="poisson")  # checked at the call, not at the first step


def test_tv_with_the_poisson_term_minimises_it_and_fits_counts():
    """TV-KL lowers its own objective and, on counts, beats TV-L2 and MLEM at their best (same weight rule)."""
    n = 32
    truth = torch.from_numpy(shepp_logan(n))[None]
    op = ParallelBeamProjector(np.deg2rad(np.linspace(-60, 60, 41)), 48, n, n, device="cpu")
    g = torch.Generator().manual_seed(0)
    y = torch.poisson(op(truth) * 20.0, generator=g) / 20.0
    beta = auto_reg_par(y, 1.0, data="kl")
    short, long = (tv(y, op, num_iter=k, reg_par=beta, data="kl") for k in (20, 300))
    assert float(tv_objective(long, y, op, beta, data="kl")) < float(tv_objective(short, y, op, beta, data="kl"))
    assert float(long.min()) >= 0

    def err(x):
        return float(torch.linalg.vector_norm(x - truth) / torch.linalg.vector_norm(truth))

    e_kl = err(long)
    e_l2 = err(tv(y, op, num_iter=300, reg_par=auto_reg_par(y, 1.0)))
    e_mlem = min(err(mlem(y, op, num_iter=k)) for k in (10, 20, 50, 100))
    assert e_kl < min(e_l2, e_mlem), (e_kl, e_l2, e_mlem)
    assert float(KL()(long, y, op)[0]) > 0


@pytest.fixture(scope="module")
def counts():
    """Low-dose counts over +-60 degrees: data where MLEM's data term fits, not least squares."""
    n = 32
    truth = shepp_logan(n)
    theta = np.deg2rad(np.arange(-60, 61, 3.0)).astype(np.float32)
    op = ParallelBeamProjector(theta, 48, n, n, device="cpu")
    g = torch.Generator().manual_seed(1)
    y = torch.poisson(op(torch.from_numpy(truth)[None]) * 10.0, generator=g) / 10.0
    return truth, op, y


def _base(**kw):
    fields = set(WedgeSettings.__dataclass_fields__)
    return WedgeSettings(**{**{k: v for k, v in GANREC_MODES["ours"].items() if k in fields}, **kw})


def test_choice_is_the_best_scoring_candidate_and_keeps_fixed_settings(counts):
    _, op, y = counts
    choice = choose_wedge_settings(y, op, _base(), set(), seed=0, n_iter=20)
    s = choice.settings
    # The chosen start is the candidate with the lowest held-out error, and the log text leads with it.
    starts = {k: v for k, v in choice.scores.items() if "+ D" not in k}
    assert choice.summary().startswith(f"start {min(starts, key=starts.get)}, adv_weight")
    assert s.init_method in START_METHODS and s.data_term in ("l2", "kl") and s.init_iter >= 1
    # Explicit settings are not searched.
    fixed = choose_wedge_settings(y, op, _base(init_method="mlem", adv_weight=0.3), {"init_method", "adv_weight"},
                                  seed=0, n_iter=20)  # fmt: skip
    assert fixed.settings.init_method == "mlem" and fixed.settings.adv_weight == 0.3
    assert all(k.startswith("mlem") for k in fixed.scores)


def test_auto_is_deterministic_logged_and_predicts_the_wedge_better(counts, caplog):
    """On held-out *real* wedge angles (never seen by the choice), auto beats the fixed settings."""
    truth, op, y = counts
    caplog.set_level(logging.INFO, logger="tomopy_dl.solvers.gan")
    a = ganrec(y, op, num_iter=40, seed=2)
    b = ganrec(y, op, num_iter=40, seed=2)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert any("tune='auto' chose on slice 0: start" in r.getMessage() for r in caplog.records)
    # The wedge: angles 63-177 degrees, measured here only to score.
    gap = np.deg2rad(np.arange(63, 178, 3.0)).astype(np.float32)
    op_gap = get_projector(gap, 48, 32, 32, device="cpu")
    y_gap = op_gap(torch.from_numpy(truth)[None])
    off = ganrec(y, op, num_iter=40, seed=2, tune="off")
    assert float(projection_error(a, y_gap, op_gap)[0]) < float(projection_error(off, y_gap, op_gap)[0])


def test_tune_applies_to_ours_and_volume_only_and_explicit_keywords_override(counts):
    _, op, y = counts
    with pytest.raises(ValueError, match="tune applies to modes 'ours' and 'volume' only"):
        ganrec(y, op, mode="faithful", tune="auto")
    with pytest.raises(ValueError, match="tune"):
        ganrec(y, op, tune="maybe")
    with pytest.raises(ValueError, match="data_term"):
        ganrec(y, op, data_term="l1")
    # No start (init_iter=0): only the adversarial weight is chosen.
    assert ganrec(y, op, init_iter=0, num_iter=10).shape == (1, 32, 32)
    # Everything fixed: nothing to choose, the same image as tune='off'.
    every = dict(init_method="tv", data_term="l2", tv_weight=0.35, init_iter=50, adv_weight=0.3, num_iter=10)
    torch.testing.assert_close(ganrec(y, op, **every), ganrec(y, op, tune="off", **every), rtol=0, atol=0)


def test_a_candidate_stops_once_its_held_out_error_has_turned():
    """Patience: iterates stop 50 iterations after the best one, and a better one within them is still found."""
    consumed = []

    def steps():
        for n in itertools.count(1):
            consumed.append(n)
            yield torch.tensor([float(n)])

    def run(err, **kw):
        consumed.clear()
        _, n, x = _best_along(steps(), lambda x: err(int(x[0])), 300, every=10, **kw)
        return n, max(consumed), int(x[0])

    turn = lambda n: abs(n - 120)  # noqa: E731
    assert run(turn, fixed_count=False, patience=50) == (120, 170, 120)
    assert run(turn, fixed_count=False) == (120, 300, 120)  # no patience: every iterate
    assert run(turn, fixed_count=True, patience=50) == (300, 300, 300)  # a fixed count: only the last, no stop
    bump = lambda n: {100: 1.0, 110: 2.0, 120: 2.0, 130: 2.0, 140: 0.5}.get(n, 5 - n / 100)  # noqa: E731
    assert run(bump, fixed_count=False, patience=50) == (140, 190, 140)


def test_adv_weight_zero_returns_the_start(counts):
    """The discriminator off: no adversarial phase, the start itself (in data units)."""
    _, op, y = counts
    x = ganrec(y, op, adv_weight=0.0, tune="off", init_iter=60, quantitative=False)
    torch.testing.assert_close(x, tv(y, op, num_iter=60, reg_par=auto_reg_par(y, 0.35)).clamp_min(0))
