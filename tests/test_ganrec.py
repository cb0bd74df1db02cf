"""GANrec: mechanics, determinism, volumes, robustness, on tiny images."""

import logging
import re

import numpy as np
import pytest
import torch

import tomopy_dl
from tomopy_dl.adapter.tomopy_names import STRING_ALGORITHMS
from tomopy_dl.networks import Discriminator, Generator, ImageCorrection, ProjectionDiscriminator
from tomopy_dl.physics import ParallelBeamProjector
from tomopy_dl.solvers import ganrec
from tomopy_dl.solvers.iterative import tv, tv_objective
from tomopy_dl.solvers.prior import auto_reg_par


def batch_iterations(caplog) -> list[int]:
    """The iterations of each slice batch, from ganrec's INFO log."""
    found = (re.search(r"slices \d+-\d+, (\d+) iterations", r.getMessage()) for r in caplog.records)
    return [int(m.group(1)) for m in found if m]


@pytest.fixture(scope="module")
def small():
    n = 24
    obj = np.zeros((4, n, n), np.float32)
    obj[:, 5:12, 6:18] = 1.0
    obj[:, 14:20, 4:9] = 0.5
    obj[2:, 14:20, 14:20] = 0.8  # the volume changes along the slices
    theta = np.deg2rad(np.linspace(0, 120, 25)).astype(np.float32)
    op = ParallelBeamProjector(theta, 36, n, n, device="cpu")
    sino = op(torch.from_numpy(obj))
    return obj, theta, op, sino


def test_network_shapes_and_paper_architecture():
    g = Generator(25, 36, 24, 20)
    assert g(torch.rand(3, 25, 36)).shape == (3, 24, 20)
    assert sum(isinstance(m, torch.nn.Linear) for m in g.modules()) == 4
    assert sum(isinstance(m, torch.nn.Conv2d) for m in g.modules()) == 9
    assert sum(isinstance(m, torch.nn.Softplus) for m in g.modules()) == 4
    d = Discriminator()
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 4 and all(c.stride == (2, 2) for c in convs)
    assert not any(isinstance(m, torch.nn.Linear) for m in d.modules())
    assert d(torch.rand(2, 25, 36)).ndim == 2
    # Ours: the correction image, and a discriminator of single projections.
    p = ImageCorrection(3, 24, 20)
    assert p().shape == (3, 24, 20) and float(p().detach().abs().sum()) == 0
    pd = ProjectionDiscriminator()
    assert pd(torch.rand(7, 36)).shape[0] == 7 and not any(isinstance(m, torch.nn.Linear) for m in pd.modules())


@pytest.mark.parametrize("mode", ["ours", "faithful", "l1_only"])
def test_fits_the_data_and_is_quantitative(small, mode):
    obj, theta, op, sino = small
    x = ganrec(sino[:1], op, num_iter=60, mode=mode)
    assert x.shape == (1, 24, 24) and torch.isfinite(x).all()
    # On the data's scale: the projection of the result fits the sinogram.
    res = torch.linalg.vector_norm(op(x) - sino[:1]) / torch.linalg.vector_norm(sino[:1])
    assert res < 0.35
    assert abs(float(x.mean()) / float(obj[0].mean()) - 1) < 0.25
    raw = ganrec(sino[:1], op, num_iter=60, mode=mode, quantitative=False)
    if mode != "ours":
        assert float(raw.min()) >= 0 and float(raw.max()) <= 1 + 1e-6  # the paper's [0, 1] image


def test_same_seed_same_result_other_seed_other_result(small):
    _, _, op, sino = small
    a = ganrec(sino[:1], op, num_iter=20, mode="faithful", seed=3)
    b = ganrec(sino[:1], op, num_iter=20, mode="faithful", seed=3)
    c = ganrec(sino[:1], op, num_iter=20, mode="faithful", seed=4)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.allclose(a, c)


@pytest.mark.parametrize("mode", ["faithful", "ours"])
def test_discriminator_step_uses_a_detached_fake_and_g_step_leaves_d_alone(small, monkeypatch, mode):
    """Each network gets only its own loss's gradients."""
    _, _, op, sino = small
    discs, optimizers, seen = [], [], {}
    for cls in (Discriminator, ProjectionDiscriminator):
        monkeypatch.setattr(cls, "__init__", _recording(cls.__init__, discs))
    monkeypatch.setattr(torch.optim.Adam, "__init__", _recording(torch.optim.Adam.__init__, optimizers))
    real_step = torch.optim.Adam.step

    def params(opt):
        return [p for group in opt.param_groups for p in group["params"]]

    def spy_step(self, *args, **kwargs):
        d_params = [p for d in discs for p in d.parameters()]
        owner = "d" if any(p is q for p in params(self) for q in d_params) else "g"
        seen.setdefault(owner, []).append(all(p.grad is not None for p in params(self)))
        others = [p for opt in optimizers if opt is not self for p in params(opt)]
        # At D's step no other parameter holds a gradient from D's loss, and at G's step D holds none.
        seen.setdefault(f"others_clear_at_{owner}", []).append(all(p.grad is None for p in others))
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", spy_step)
    ganrec(sino[:1], op, num_iter=3, mode=mode)
    assert seen["d"] == [True] * 3 and seen["g"] == [True] * 3
    assert all(seen["others_clear_at_d"]) and all(seen["others_clear_at_g"])


def _recording(init, into: list):
    def spy(self, *args, **kwargs):
        init(self, *args, **kwargs)
        into.append(self)

    return spy


def test_discriminator_off_in_l1_only(small, monkeypatch):
    _, _, op, sino = small
    calls = []
    real_forward = Discriminator.forward
    monkeypatch.setattr(Discriminator, "forward", lambda self, x: calls.append(1) or real_forward(self, x))
    ganrec(sino[:1], op, num_iter=5, mode="l1_only")
    assert calls == []
    ganrec(sino[:1], op, num_iter=5, mode="faithful")
    assert len(calls) == 15  # real, fake for D; fake for G; per iteration


def test_ours_judges_the_missing_wedge(small, monkeypatch):
    """D's real samples are the measured projections; its fakes are projections of x at unmeasured angles."""
    _, theta, op, sino = small
    seen = []
    real_forward = ProjectionDiscriminator.forward
    monkeypatch.setattr(
        ProjectionDiscriminator, "forward", lambda self, rows: seen.append(rows) or real_forward(self, rows)
    )
    gap = tomopy_dl.physics.unmeasured_angles(theta)
    assert gap.size > 0
    ganrec(sino[:1], op, num_iter=2, tune="off")
    real, fake, adv = seen[:3]
    torch.testing.assert_close(real, sino[0] / sino[0].max())
    assert fake.shape == (gap.size, op.n_det) and adv.shape == fake.shape
    assert not fake.requires_grad and adv.requires_grad
    # At iteration 0 the image is the TV start: the fake is its projection at the unmeasured angles.
    gap_op = tomopy_dl.physics.get_projector(gap, op.n_det, *op.image_shape, center=op.center, device="cpu")
    start = tv(sino[:1], op, num_iter=300, reg_par=auto_reg_par(sino[:1], 0.35))
    torch.testing.assert_close(fake, gap_op(start)[0] / sino[0].max())


def test_ours_on_a_full_range_scan_returns_the_tv_start(small, monkeypatch):
    """No missing wedge: nothing for D to judge, and no generator phase."""
    obj = small[0][:1]
    theta = np.deg2rad(np.linspace(0, 180, 36, endpoint=False)).astype(np.float32)
    op = ParallelBeamProjector(theta, 36, 24, 24, device="cpu")
    sino = op(torch.from_numpy(obj))
    calls = []
    monkeypatch.setattr(ProjectionDiscriminator, "forward", lambda self, rows: calls.append(1))
    x = ganrec(sino, op, num_iter=20, quantitative=False)
    assert calls == []
    torch.testing.assert_close(x, tv(sino, op, num_iter=300))


def test_trust_region_holds_the_tv_objective(small):
    """With a strong adversarial term, slack bounds how far D can push the TV objective."""
    _, _, op, sino = small
    y = sino[:1]
    beta = auto_reg_par(y, 0.35)
    j0 = float(tv_objective(tv(y, op, num_iter=300, reg_par=beta), y, op, beta))

    def rel(**kw):
        x = ganrec(y, op, num_iter=150, adv_weight=10.0, lr_g=1e-2, quantitative=False, tune="off", **kw)
        return float(tv_objective(x, y, op, beta)) / j0

    free, held = rel(slack=float("inf")), rel(slack=0.02)
    assert free > 1.1
    assert held < 1.05


def test_volume_warm_start_and_independent(small, caplog):
    _, _, op, sino = small
    caplog.set_level(logging.INFO, logger="tomopy_dl.solvers.gan")
    vol = ganrec(sino, op, num_iter=40, warm_iter=10, batch_size=1, tune="off")
    assert batch_iterations(caplog) == [40, 10, 10, 10]
    caplog.clear()
    indep = ganrec(sino, op, num_iter=40, batch_size=2, independent=True, tune="off")
    assert batch_iterations(caplog) == [40, 40]
    assert vol.shape == (4, 24, 24)
    # The slices that differ come out different.
    assert float((vol[3] - vol[0]).abs().max()) > 0.3
    # Independent batches are fitted from fresh networks: each equals a run on its own.
    torch.testing.assert_close(indep[2:], ganrec(sino[2:], op, num_iter=40, batch_size=2, tune="off"), rtol=0, atol=0)


def test_early_stop_cuts_iterations(small, caplog):
    _, _, op, sino = small
    caplog.set_level(logging.INFO, logger="tomopy_dl.solvers.gan")
    ganrec(sino[:1], op, num_iter=400, early_stop=0.5, tune="off")  # checks every 50 iterations; a plateau needs 3
    assert batch_iterations(caplog)[0] < 400


def test_bad_input(small):
    obj, theta, op, sino = small
    with pytest.raises(ValueError, match="mode"):
        ganrec(sino[:1], op, mode="fancy")
    with pytest.raises(ValueError, match="lr_g"):
        ganrec(sino[:1], op, lr_g=-1.0)
    with pytest.raises(ValueError, match="slack"):
        ganrec(sino[:1], op, slack=-0.1)
    with pytest.raises(ValueError, match="init_method"):
        ganrec(sino[:1], op, init_method="fbp")
    with pytest.raises(ValueError, match="tv_weight do\\(es\\) not apply to mode='faithful'"):
        ganrec(sino[:1], op, mode="faithful", tv_weight=0.1)
    proj = np.swapaxes(sino.numpy(), 0, 1)
    with pytest.raises(ValueError, match="tomo holds"):
        bad = proj.copy()
        bad[0, 0, 0] = np.nan
        tomopy_dl.recon(bad, theta, algorithm="ganrec")
    with pytest.raises(ValueError, match="at least 2 projection angles"):
        tomopy_dl.recon(proj[:1], theta[:1], algorithm="ganrec")
    with pytest.raises(ValueError, match="len\\(theta\\)"):
        tomopy_dl.recon(proj, theta[:-2], algorithm="ganrec")


def test_through_the_tomopy_contract(small):
    obj, theta, op, sino = small
    recon = np.full((2, 24, 24), 1e-6, np.float32)
    tomopy_dl.ganrec(
        np.ascontiguousarray(sino[:2].numpy()),
        np.full(2, 18, np.float32),
        recon,
        theta,
        num_gridx=24,
        num_gridy=24,
        options={},
        num_iter=np.array(15),
        progress=False,
        seed=1,
    )
    expect = tomopy_dl.recon(
        np.swapaxes(sino[:2].numpy(), 0, 1),
        theta,
        algorithm="ganrec",
        num_gridx=24,
        num_gridy=24,
        num_iter=15,
        progress=False,
        seed=1,
    )
    np.testing.assert_array_equal(recon, expect)


def test_string_path_drops_tomopys_default_num_iter(small, caplog):
    """TomoPy's filled-in num_iter (an int32 1) means our default; a user's own 1 is kept."""
    obj, theta, op, sino = small
    string_ganrec, allowed = STRING_ALGORITHMS["ganrec"]
    assert set(allowed) <= {"num_gridx", "num_gridy", "num_iter", "device", "reg_par", "filter_name"}
    caplog.set_level(logging.INFO, logger="tomopy_dl.solvers.gan")
    tomo = np.ascontiguousarray(sino[:1].numpy())
    for n in (np.array(1, dtype=np.int32), np.array(1)):
        recon = np.full((1, 24, 24), 1e-6, np.float32)
        string_ganrec(tomo, np.full(1, 18, np.float32), recon, theta, num_gridx=24, num_gridy=24, options={},
                      num_iter=n, device=np.array("cpu"), progress=False, tune="off")  # fmt: skip
    assert batch_iterations(caplog) == [300, 1]


def test_ours_beats_sirt_and_mlem_on_a_missing_wedge(wedge):
    """The default mode on noisy 0-100 degree data: closer to the object than the classic iterations."""
    from tomopy_dl.solvers import mlem, sirt

    obj, _, op, sino = wedge

    def err(x):
        return float(np.linalg.norm(x[0].numpy() - obj[0]) / np.linalg.norm(obj[0]))

    e_gan = err(ganrec(sino, op, num_iter=40))
    assert e_gan < 0.8 * min(err(sirt(sino, op, num_iter=100)), err(mlem(sino, op, num_iter=100)))


def test_the_wedge_discriminator_judges_at_most_max_rows_per_step():
    """Beyond MAX_ROWS projections of each kind, D sees a seeded sample per step (the cost of 2k scans)."""
    from tomopy_dl.physics import get_projector
    from tomopy_dl.solvers.prior import MAX_ROWS, WedgeAdversarial

    op = get_projector(np.deg2rad(np.arange(0, 90, 0.1)), 24, 16, 16)  # 900 measured angles, ~870 unmeasured
    torch.manual_seed(5)
    adv = WedgeAdversarial(op, lr=1e-3)
    fake = adv.fake(torch.rand(2, 16, 16), torch.ones(2, 1, 1))
    assert fake.shape == (2 * (MAX_ROWS // 2), 24)  # the same angles for both slices
    seen = []
    forward = adv.disc.forward
    adv.disc.forward = lambda rows: (seen.append(rows.shape[0]), forward(rows))[1]
    adv.train_discriminator(torch.rand(900, 24), fake)
    assert seen == [MAX_ROWS, fake.shape[0]]
    assert adv.sample_rows(MAX_ROWS, MAX_ROWS) is None
    torch.manual_seed(5)
    again = WedgeAdversarial(op, lr=1e-3)
    torch.manual_seed(5)
    assert torch.equal(WedgeAdversarial(op, lr=1e-3).sample_rows(900, 10), again.sample_rows(900, 10))
