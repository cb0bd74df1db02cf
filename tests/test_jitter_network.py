"""The jitter ResNet, its shipped weights, the synthetic data and the training loop."""

import json
import shutil

import numpy as np
import pytest
import torch

from tomopy_dl.cli import main
from tomopy_dl.networks import JitterResNet, network_input
from tomopy_dl.sim import make_object
from tomopy_dl.sim.objects import FAMILIES, HELD_OUT_FAMILIES, TRAIN_FAMILIES
from tomopy_dl.training import JitterTrainingConfig, make_jitter_pairs, train_jitter
from tomopy_dl.weights import JITTER_WEIGHTS, load_jitter_model, sha256_of

TINY = dict(
    widths=(32,),
    rows=(12, 16),
    n_angles=(31,),
    epochs=2,
    steps_per_epoch=2,
    batch_size=4,
    pool_volumes=2,
    steps_per_volume=1,
    val_volumes=1,
    width=4,
    input_size=32,
    amplitude=4.0,
)


def test_architecture_follows_the_paper():
    net = JitterResNet()
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size != (1, 1)]
    assert len(convs) == 13
    assert convs[0].kernel_size == (7, 7) and all(c.kernel_size == (3, 3) for c in convs[1:])
    assert sum(c.stride == (2, 2) for c in convs) == 3  # the 7x7 and the start of blocks 2 and 3
    assert len([m for m in net.modules() if isinstance(m, torch.nn.Linear)]) == 1
    norms = [m for m in net.modules() if isinstance(m, torch.nn.GroupNorm)]
    assert len(norms) >= 13 and all(m.num_groups == 1 for m in norms)  # layer normalisation
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    assert net(torch.zeros(3, 2, 96, 96)).shape == (3, 2)


def test_network_input_scales_large_and_pads_small():
    big = torch.rand(2, 100, 300)
    x, (fr, fc) = network_input(big, big, 96)
    assert x.shape == (2, 2, 96, 96) and fr == pytest.approx(100 / 32) and fc == pytest.approx(300 / 96)
    small = torch.rand(2, 20, 40)
    x, f = network_input(small, small, 96)
    assert f == (1.0, 1.0)
    assert torch.count_nonzero(x[0, 0]) == 20 * 40  # centred, zero padded, not enlarged
    assert x[0, 0].abs().mean() * 96 * 96 / (20 * 40) == pytest.approx(1.0, rel=1e-5)


def test_shipped_weights_record_and_checksum():
    record = json.loads(JITTER_WEIGHTS.with_suffix(".json").read_text())
    for key in ("sha256", "recipe", "data_seed", "validation_rmse_network_px", "date", "architecture", "input_size"):
        assert key in record, key
    assert record["sha256"] == sha256_of(JITTER_WEIGHTS)
    assert JITTER_WEIGHTS.stat().st_size <= 20 * 2**20
    model, meta = load_jitter_model()
    assert not model.training and meta["input_size"] == 96


def test_corrupt_or_unrecorded_weights_are_refused(tmp_path):
    bad = tmp_path / "w.pt"
    shutil.copy(JITTER_WEIGHTS, bad)
    shutil.copy(JITTER_WEIGHTS.with_suffix(".json"), tmp_path / "w.json")
    with open(bad, "r+b") as fh:
        fh.seek(-10, 2)
        fh.write(b"0123456789")
    with pytest.raises(ValueError, match="checksum mismatch"):
        load_jitter_model(bad)
    (tmp_path / "w.json").unlink()
    with pytest.raises(FileNotFoundError, match="record"):
        load_jitter_model(bad)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_objects_are_seeded_and_inside_the_field_of_view(family):
    a = make_object(family, 40, 24, seed=1)
    np.testing.assert_array_equal(a, make_object(family, 40, 24, seed=1))
    assert a.shape == (24, 40, 40) and a.max() > 0
    yy, xx = np.mgrid[:40, :40] - 19.5
    outside = yy**2 + xx**2 > (0.45 * 40 + 1) ** 2
    assert np.all(a[:, outside] == 0)
    if family != "shepp3d":  # the head is fixed; other families vary with the seed
        assert not np.array_equal(a, make_object(family, 40, 24, seed=2))


def test_training_and_validation_families_are_disjoint():
    assert not set(TRAIN_FAMILIES) & set(HELD_OUT_FAMILIES)
    assert set(TRAIN_FAMILIES) | set(HELD_OUT_FAMILIES) == set(FAMILIES)


def test_pairs_are_deterministic_and_labels_centred():
    cfg = JitterTrainingConfig(**TINY)
    x1, y1, info = make_jitter_pairs("porous", 3, cfg, device="cpu", extra=False)
    x2, y2, _ = make_jitter_pairs("porous", 3, cfg, device="cpu", extra=False)
    torch.testing.assert_close(x1, x2, rtol=0, atol=0)
    torch.testing.assert_close(y1, y2, rtol=0, atol=0)
    assert x1.shape == (31, 2, 32, 32) and y1.shape == (31, 2)
    # As inference sees them: what the coarse start left, up to what no method observes.
    assert torch.allclose(y1.mean(0), torch.zeros(2), atol=1e-5)
    assert y1.abs().max() <= info["amplitude"] * 2
    # Training pairs add known shifts to the same scan.
    x3, y3, _ = make_jitter_pairs("porous", 3, cfg, device="cpu")
    assert not torch.equal(y3, y1) and not torch.equal(x3, x1)
    assert (y3 - y1).abs().max() <= cfg.extra_shift + 1e-5
    # Against the held-out reprojection (as align_jitter reads rows): the same projections and labels,
    # another reference.
    xh, yh, _ = make_jitter_pairs("porous", 3, JitterTrainingConfig(**dict(TINY, reference="held_out")),
                                  device="cpu", extra=False)  # fmt: skip
    assert torch.equal(yh, y1) and torch.equal(xh[:, 0], x1[:, 0]) and not torch.allclose(xh[:, 1], x1[:, 1])


def test_training_is_deterministic_and_resume_matches_a_straight_run(tmp_path):
    straight = train_jitter(tmp_path / "a", JitterTrainingConfig(**TINY), device="cpu", progress=False)
    assert (
        train_jitter(tmp_path / "b", JitterTrainingConfig(**TINY), device="cpu", progress=False, stop_after=1) is None
    )
    assert not (tmp_path / "b" / "jitter_resnet.pt").exists()
    resumed = train_jitter(tmp_path / "b", device="cpu", resume=True, progress=False)
    a = torch.load(tmp_path / "a" / "jitter_resnet.pt", weights_only=True)
    b = torch.load(tmp_path / "b" / "jitter_resnet.pt", weights_only=True)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)
    assert straight["validation_rmse_network_px"] == resumed["validation_rmse_network_px"]
    model, meta = load_jitter_model(tmp_path / "a" / "jitter_resnet.pt")
    assert meta["recipe"]["epochs"] == 2 and meta["input_size"] == 32


def test_train_jitter_refuses_to_overwrite(tmp_path):
    train_jitter(tmp_path, JitterTrainingConfig(**dict(TINY, epochs=1)), device="cpu", progress=False)
    with pytest.raises(FileExistsError, match="--resume"):
        train_jitter(tmp_path, JitterTrainingConfig(**TINY), device="cpu", progress=False)


def test_train_jitter_command_line(tmp_path, capsys):
    out = tmp_path / "run"
    argv = [
        "train-jitter",
        "--out",
        str(out),
        "--epochs",
        "1",
        "--steps",
        "1",
        "--batch-size",
        "2",
        "--size",
        "32",
        "--widths",
        "32",
        "--no-progress",
    ]
    assert main(argv) == 0
    assert "validation RMSE" in capsys.readouterr().out
    assert (out / "jitter_resnet.pt").is_file() and (out / "checkpoint.pt").is_file()
    assert main(argv) == 2
    assert "already holds" in capsys.readouterr().err
    assert main(["train-jitter", "--out", str(tmp_path / "none"), "--resume", "--no-progress"]) == 2
    assert main(["train-jitter", "--out", str(out), "--widths", "a,b"]) == 2


@pytest.mark.slow
def test_fine_tuning_on_your_own_volume(tmp_path, capsys):
    """The fine-tuning path: the shipped network's architecture, your reconstruction as the objects."""
    vol = make_object("porous", 40, 30, seed=9)
    np.save(tmp_path / "my_recon.npy", vol)
    family = f"volume:{tmp_path / 'my_recon.npy'}"
    block = make_object(family, 32, 12, seed=1)
    assert block.shape == (12, 32, 32) and block.max() > 0
    np.testing.assert_array_equal(block, make_object(family, 32, 12, seed=1))
    out = tmp_path / "tuned"
    argv = ["train-jitter", "--out", str(out), "--epochs", "1", "--steps", "1", "--batch-size", "2",
            "--widths", "48", "--families", family, "--init-weights", "shipped", "--lr", "3e-4",
            "--reference", "held_out", "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    record = json.loads((out / "jitter_resnet.json").read_text())
    assert record["train_families"] == [family] and record["init_weights"] == "shipped"
    # 'shipped' changes with releases: the record names the weights it started from by hash.
    assert record["init_sha256"] == sha256_of(JITTER_WEIGHTS)
    assert record["recipe"]["lr"] == 3e-4 and record["recipe"]["reference"] == "held_out"
    # One step from the shipped weights stays close to them; a fresh start would not.
    shipped = torch.load(JITTER_WEIGHTS, weights_only=True)
    tuned = torch.load(out / "jitter_resnet.pt", weights_only=True)
    assert torch.allclose(shipped["head.weight"], tuned["head.weight"], atol=1e-2)
    with pytest.raises(ValueError, match="volume"):
        make_object("volume:/nowhere.txt", 32, 12, seed=0)
    assert main([*argv[:2], str(tmp_path / "bad"), *argv[3:-7], "--size", "32", "--init-weights", "shipped"]) == 2
    assert "init weights" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
