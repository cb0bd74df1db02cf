"""GANrec's mode='volume': the wedge mask, the turned patches, the held-out check and its fallback."""

import logging

import numpy as np
import pytest
import torch

import tomopy_dl
from tomopy_dl.networks import UNet
from tomopy_dl.physics import get_projector, measured_frequencies
from tomopy_dl.sim import make_object
from tomopy_dl.solvers import ganrec
from tomopy_dl.solvers.gan_wedge import start_image
from tomopy_dl.solvers.wedge_fill import VolumeSettings, fill_volume, train_filler, turn


def _blobs(n: int) -> torch.Tensor:
    """Smooth, asymmetric: turning it by bilinear interpolation loses little."""
    x, y = np.mgrid[:n, :n] - n / 2 + 0.5
    img = np.exp(-((x - 6) ** 2 + (y + 9) ** 2) / 30.0) + 0.5 * np.exp(-((x + 10) ** 2 + (y - 3) ** 2) / 60.0)
    return torch.from_numpy(img.astype(np.float32))


def test_the_mask_is_the_fourier_slice_theorem():
    """An image with spectrum only where the mask is 0 projects to (almost) nothing at the measured angles."""
    n = 64
    measured = np.deg2rad(np.arange(0, 90, 1.0))
    m = torch.from_numpy(measured_frequencies(measured, (n, n)).astype(np.float32))
    noise = torch.from_numpy(np.random.default_rng(0).standard_normal((n, n)).astype(np.float32))
    hidden = torch.fft.ifft2(torch.fft.fft2(noise) * (1 - m)).real[None]
    inside = np.deg2rad(np.arange(20, 71, 5.0))  # measured, away from the wedge's edges
    wedge = np.deg2rad(np.arange(110, 161, 5.0))
    at = lambda t: float(get_projector(t, 91, n, n, projector="fourier")(hidden).norm())  # noqa: E731
    # Not zero: between the FFT grid's frequencies the spectrum of the boxed image leaks (measured 0.18;
    # the mask of the mirrored angles, a wrong convention, gives 5.9).
    assert at(inside) < 0.3 * at(wedge)


def test_a_full_scan_measures_everything_and_turning_moves_the_wedge():
    assert measured_frequencies(np.deg2rad(np.arange(0, 180, 1.0)), (16, 16)).all()
    theta = np.deg2rad(np.arange(0, 120, 1.0))
    m = measured_frequencies(theta, (32, 32))
    assert 0.2 < 1 - m.mean() < 0.45  # a 60-degree double wedge: a third of the directions
    turned = measured_frequencies(theta, (32, 32), rotation=np.pi / 2)
    assert not np.array_equal(m, turned)
    assert np.array_equal(measured_frequencies(theta + np.pi / 2, (32, 32)), turned)


def test_turning_an_image_turns_its_projections():
    """The training's premise: the image turned by alpha, seen at theta + alpha, is the image seen at theta."""
    n, theta, alpha = 48, np.deg2rad(np.array([10.0, 40.0, 75.0])), 0.4
    x = _blobs(n)[None, None]
    seen = get_projector(theta, 68, n, n)(x[0])
    turned = turn(x, torch.tensor([alpha]))[0]
    same = get_projector(theta + alpha, 68, n, n)(turned)
    other = get_projector(theta - alpha, 68, n, n)(turned)
    assert float((same - seen).norm() / seen.norm()) < 0.02
    assert float((other - seen).norm() / seen.norm()) > 0.2


def test_the_unet_keeps_the_shape_and_training_repeats_under_a_seed():
    assert UNet()(torch.zeros(1, 1, 21, 18)).shape == (1, 1, 21, 18)
    g = torch.Generator().manual_seed(0)
    even, odd = torch.rand(3, 40, 40, generator=g), torch.rand(3, 40, 40, generator=g)
    theta = np.deg2rad(np.arange(0, 90, 3.0))

    def final(seed, checks=1):
        run = train_filler(even, odd, theta, steps=4, lr=1e-3, seed=seed, checks=checks)
        return [(step, [p.detach().clone() for p in net.parameters()]) for step, net in run]

    ((n1, a),) = final(1)
    ((n2, b),) = final(1)
    assert n1 == n2 == 4 and all(torch.equal(u, v) for u, v in zip(a, b))
    ((_, other),) = final(2)
    assert not all(torch.equal(u, v) for u, v in zip(a, other))
    # Handed out halfway and at the end; the end is the same network as without the halfway check.
    halfway, end = final(1, checks=2)
    assert halfway[0] == 2 and end[0] == 4 and all(torch.equal(u, v) for u, v in zip(end[1], a))


@pytest.fixture(scope="module")
def porous():
    vol = torch.from_numpy(make_object("porous", 40, 3, seed=7).astype(np.float32))
    op = get_projector(np.deg2rad(np.arange(0, 100, 2.5)), 58, 40, 40)
    return op(vol), op


def _settings(**kw) -> VolumeSettings:
    base = dict(lr_g=1e-3, tv_weight=0.35, init_iter=30, init_method="tv", data_term="l2", sharpness=0.0,
                dc_iter=5)
    return VolumeSettings(**{**base, **kw})


def test_the_check_falls_back_to_the_start_and_says_why(porous, caplog):
    y, op = porous
    s = _settings()
    with caplog.at_level(logging.INFO, logger="tomopy_dl.solvers.wedge_fill"):
        x, stats = fill_volume(y, op, s, s.start(), steps=2, seed=0)  # an untrained network
    assert not stats["kept"] and stats["held_net"] > stats["held_start"]
    assert torch.equal(x, start_image(y, op, s.start()))
    assert "returning the classical start" in caplog.text


def test_the_network_is_kept_where_it_predicts_the_edges_better(porous):
    """Against a start of one SIRT iteration, the network and 5 SIRT iterations predict the edges better."""
    y, op = porous
    s = _settings(init_method="sirt", init_iter=1)
    x, stats = fill_volume(y, op, s, s.start(), steps=5, seed=0)
    assert stats["kept"] and stats["held_net"] < stats["held_start"]
    assert not torch.equal(x, start_image(y, op, s.start()))
    assert x.shape == (3, 40, 40) and bool(torch.isfinite(x).all()) and float(x.min()) >= 0


def test_volume_mode_through_recon_is_deterministic_and_checks_its_keywords():
    vol = make_object("porous", 32, 2, seed=3).astype(np.float32)
    theta = np.deg2rad(np.arange(0, 100, 4.0)).astype(np.float32)
    op = get_projector(theta, 46, 32, 32)
    proj = op(torch.from_numpy(vol)).numpy().swapaxes(0, 1)  # (nangles, slices, ndet)
    kw = dict(algorithm="ganrec", mode="volume", num_iter=3, init_iter=10, dc_iter=2, tune="off", progress=False,
              num_gridx=32, num_gridy=32)  # fmt: skip
    a, b = (tomopy_dl.recon(proj, theta, **kw) for _ in range(2))
    assert a.shape == (2, 32, 32) and np.array_equal(a, b)
    with pytest.raises(ValueError, match="do not apply to mode='volume'"):
        ganrec(torch.from_numpy(proj.swapaxes(0, 1).copy()), op, mode="volume", warm_iter=3)
    with pytest.raises(ValueError, match="adv_weight"):
        ganrec(torch.from_numpy(proj.swapaxes(0, 1).copy()), op, mode="volume", adv_weight=0.3)


@pytest.fixture(scope="module")
def kept_filler(porous):
    """A filler the check keeps: against a start of one SIRT iteration, as above."""
    from tomopy_dl.solvers.gan import volume_filler

    y, op = porous
    f = volume_filler(y, op, num_iter=5, tune="off", init_method="sirt", init_iter=1, dc_iter=5)
    assert f.kept and f.state is not None and f.stats["slices"] == 3
    return f


def test_one_filler_applies_to_any_slab_of_its_scan_in_the_slabs_own_units(porous, kept_filler):
    """Slabs of one volume, each in its own units (ganrec divides each call's data by its own power of two)."""
    y, op = porous
    y = y * torch.tensor([1.0, 0.2, 1.0])[:, None, None]  # slice 1 alone has another unit than the three together
    whole = ganrec(y, op, mode="volume", filler=kept_filler, quantitative=False)
    assert not torch.equal(whole, start_image(y, op, kept_filler.start))
    for k in range(3):
        alone = ganrec(y[k : k + 1], op, mode="volume", filler=kept_filler, quantitative=False)
        assert float((alone[0] - whole[k]).norm() / whole[k].norm()) < 1e-4


def test_a_filler_survives_its_file_and_refuses_other_angles_and_settings(porous, kept_filler, tmp_path):
    from tomopy_dl.solvers.wedge_fill import Filler

    y, op = porous
    kept_filler.save(tmp_path / "f.pt")
    again = Filler.load(tmp_path / "f.pt")
    assert again.kept and again.start == kept_filler.start and again.scale == kept_filler.scale
    assert all(torch.equal(again.state[k], v) for k, v in kept_filler.state.items())
    a = ganrec(y, op, mode="volume", filler=kept_filler)
    assert torch.equal(a, ganrec(y, op, mode="volume", filler=str(tmp_path / "f.pt")))
    other = get_projector(np.deg2rad(np.arange(0, 120, 2.5)), 58, 40, 40)
    with pytest.raises(ValueError, match="trained for 40 angles over 0.00-97.50 degrees"):
        ganrec(other(torch.zeros(1, 40, 40)), other, mode="volume", filler=kept_filler)
    with pytest.raises(ValueError, match="leave dc_iter, tv_weight out"):
        ganrec(y, op, mode="volume", filler=kept_filler, tv_weight=0.5, dc_iter=3)
    with pytest.raises(ValueError, match="mode='volume' only"):
        ganrec(y, op, filler=kept_filler)
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a ganrec volume filler"):
        Filler.load(tmp_path / "other.pt")


def test_the_sample_is_solved_in_batches_with_the_same_result(porous, kept_filler, monkeypatch):
    """Memory follows a batch of the sample (2048 px slices: 2 at a time), not the sample; the images do not change."""
    from tomopy_dl.solvers import wedge_fill

    y, op = porous
    whole = wedge_fill.fill_slices(kept_filler, y, op)
    monkeypatch.setattr(wedge_fill, "slices_per_batch", lambda *a, **k: 2)  # batches of 2 and 1
    calls = []
    real = wedge_fill.start_image
    monkeypatch.setattr(wedge_fill, "start_image", lambda y, *a, **k: calls.append(y.shape[0]) or real(y, *a, **k))
    batched = wedge_fill.fill_slices(kept_filler, y, op)
    assert calls == [2, 1, 2, 1]  # each half's start in two batches
    np.testing.assert_allclose(batched.numpy(), whole.numpy(), rtol=0, atol=1e-5 * float(whole.abs().max()))
