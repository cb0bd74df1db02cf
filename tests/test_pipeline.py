"""tomopy-dl recon / align on Data Exchange files read through dxchange."""

import json

import numpy as np
import pytest
import tifffile

from tomopy_dl.cli import main
from tomopy_dl.pipeline import read_projections
from tomopy_dl.prep.normalize import minus_log, normalize
from tomopy_dl.sim import write_example_dataexchange

dxchange = pytest.importorskip("dxchange", reason="run scripts/install-dxchange.sh (CI does)")


@pytest.fixture(scope="module")
def dx_file(tmp_path_factory):
    return write_example_dataexchange(tmp_path_factory.mktemp("dx") / "scan.h5", size=48, rows=4, n_angles=61)


def test_read_projections_normalises_and_cuts_angles(dx_file):
    prj, theta = read_projections(dx_file)
    assert prj.shape == (61, 4, 48) and prj.dtype == np.float32
    assert abs(float(np.median(prj[:, :, :3]))) < 0.05  # air is ~0 after flat/dark and -log
    assert prj.max() > 0.5
    np.testing.assert_allclose(np.rad2deg(theta[[0, -1]]), [0, 180], atol=1e-4)
    cut, th = read_projections(dx_file, slices=(1, 3), angles=(0, 120))
    assert cut.shape == (41, 2, 48) and np.rad2deg(th.max()) <= 120 + 1e-4


def test_normalize_and_minus_log_match_the_formula():
    rng = np.random.default_rng(0)
    prj = rng.uniform(200, 1000, (3, 2, 5))
    flat = np.full((4, 2, 5), 1100.0)
    dark = np.full((4, 2, 5), 100.0)
    np.testing.assert_allclose(minus_log(normalize(prj, flat, dark)), -np.log((prj - 100) / 1000), rtol=1e-5)
    with pytest.raises(ValueError, match="must match one projection"):
        normalize(prj, flat[:, :1], dark)


def test_recon_command_writes_stack_and_params(dx_file, tmp_path, capsys):
    out = tmp_path / "rec"
    assert main(["recon", str(dx_file), "--out", str(out), "--algorithm", "sirt", "--num-iter", "5",
                 "--angles", "0:120", "--slices", "1:3", "--no-progress"]) == 0
    params = json.loads((out / "params.json").read_text())
    assert params["algorithm"] == "sirt" and params["n_projections"] == 41 and params["slices"] == [1, 3]
    assert params["options"]["num_iter"] == 5 and params["seconds"] > 0
    files = sorted(p.name for p in out.glob("recon_*.tiff"))
    assert files == params["files"] and len(files) == 2
    img = dxchange.read_tiff(str(out / files[0]))
    assert img.shape == (48, 48) and np.isfinite(img).all() and img.max() > 0
    # Existing output is refused, and replaced only with --overwrite.
    assert main(["recon", str(dx_file), "--out", str(out), "--algorithm", "fbp", "--no-progress"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["recon", str(dx_file), "--out", str(out), "--algorithm", "fbp", "--format", "h5",
                 "--overwrite", "--no-progress"]) == 0
    assert (out / "recon.h5").is_file() and not list(out.glob("recon_*.tiff"))


def test_ganrec_volume_shares_one_choice_of_settings(dx_file, tmp_path, monkeypatch):
    """tune='auto' runs once per volume, on the middle row; every slab gets the choice with tune='off'."""
    import tomopy_dl.pipeline as pipeline
    from tomopy_dl.solvers import gan

    calls = []
    real = gan.choose_settings
    monkeypatch.setattr(gan, "choose_settings", lambda sino, op, **kw: calls.append(sino.shape) or real(sino, op, **kw))
    seen = []
    real_slab = pipeline.recon_slab
    monkeypatch.setattr(pipeline, "recon_slab", lambda path, rows, p: seen.append(p) or real_slab(path, rows, p))
    out = tmp_path / "rec"
    pipeline.recon_file(dx_file, out, algorithm="ganrec", num_iter=5, angles=(0, 120), slab=1, progress=False)
    assert calls == [(1, 41, 48)]  # one row, the limited angles
    assert len(seen) == 4 and all(p["options"]["tune"] == "off" for p in seen)
    chosen = seen[0]["options"]
    assert {"init_method", "data_term", "tv_weight", "init_iter", "adv_weight"} <= set(chosen)
    assert all(p["options"] == chosen for p in seen)
    assert json.loads((out / "manifest.json").read_text())["job"]["options"]["init_method"] == chosen["init_method"]


def test_ganrec_volume_trains_one_network_for_the_volume_and_a_resumed_run_reuses_it(dx_file, tmp_path, monkeypatch):
    """mode='volume' in a file job: one network for all slabs, saved with the result; slabs only apply it."""
    import tomopy_dl.pipeline as pipeline
    from tomopy_dl import recon
    from tomopy_dl.solvers import gan

    trained, seen = [], []
    real_fit, real_slab = gan.fit_filler, pipeline.recon_slab
    monkeypatch.setattr(gan, "fit_filler", lambda y, *a, **kw: trained.append(y.shape) or real_fit(y, *a, **kw))

    def slab(path, rows, p):
        seen.append(p["options"])
        if rows == (2, 3) and len(seen) < 5:
            raise RuntimeError("node lost")  # the first run loses a slab
        return real_slab(path, rows, p)

    monkeypatch.setattr(pipeline, "recon_slab", slab)
    out = tmp_path / "vol"
    kw = dict(algorithm="ganrec", num_iter=5, angles=(0, 120), slab=1, progress=False,
              options={"mode": "volume", "tune": "off", "init_method": "sirt", "init_iter": 1, "dc_iter": 5})
    with pytest.raises(pipeline.SlabFailures, match="1 of 4"):
        pipeline.recon_file(dx_file, out, **kw)
    assert trained == [(4, 41, 48)]  # every row (4 <= SAMPLE), the limited angles, once
    assert all(o["filler"].endswith(pipeline.FILLER_FILE) and "init_method" not in o for o in seen)
    params = pipeline.recon_file(dx_file, out, **kw)  # resumes: the saved network, no training
    assert trained == [(4, 41, 48)] and len(seen) == 5
    net = params["ganrec_volume_network"]
    assert net["file"] == pipeline.FILLER_FILE and net["kept"] and net["held_net"] < net["held_start"]
    # Each slab is the saved network applied to its rows: what ganrec(filler=) gives on them alone.
    prj, theta = read_projections(dx_file, slices=(2, 3), angles=(0, 120))
    alone = recon(prj, theta, center=params["center"], algorithm="ganrec", mode="volume",
                  filler=str(out / pipeline.FILLER_FILE), progress=False)  # fmt: skip
    written = np.stack([np.asarray(tifffile.imread(out / f"recon_{k:05d}.tiff")) for k in range(4)])
    np.testing.assert_allclose(written[2], alone[0], rtol=0, atol=1e-5 * float(np.abs(alone).max()))
    assert not np.allclose(written[1], written[2])
    # The saved network on another job of the same scan; refused, before any work, for other angles.
    again = {**kw, "options": {"mode": "volume", "filler": str(out / pipeline.FILLER_FILE)}}
    pipeline.recon_file(dx_file, tmp_path / "again", **{**again, "slices": (1, 3)})
    assert trained == [(4, 41, 48)]
    reread = np.asarray(tifffile.imread(tmp_path / "again" / "recon_00001.tiff"))
    np.testing.assert_allclose(reread, written[2], rtol=0, atol=1e-5 * float(np.abs(alone).max()))
    with pytest.raises(ValueError, match="trained for 41 angles"):
        pipeline.recon_file(dx_file, tmp_path / "other", **{**again, "angles": (0, 90)})
    assert not (tmp_path / "other").exists()
    with pytest.raises(ValueError, match="mode 'volume' only"):
        pipeline.recon_file(dx_file, tmp_path / "ours", **{**kw, "options": {"filler": again["options"]["filler"]}})
    assert not (tmp_path / "ours").exists()


def test_recon_command_passes_options_and_volume_mode_starts_without_the_discriminator(dx_file, tmp_path, capsys):
    out = tmp_path / "vol"
    assert main(["recon", str(dx_file), "--out", str(out), "--algorithm", "ganrec", "--num-iter", "3", "--angles",
                 "0:120", "--option", "mode=volume", "--option", "dc_iter=2", "--no-progress"]) == 0  # fmt: skip
    options = json.loads((out / "params.json").read_text())["options"]
    assert options["mode"] == "volume" and options["dc_iter"] == 2 and options["tune"] == "off"
    assert "adv_weight" not in options and {"init_method", "tv_weight", "init_iter"} <= set(options)
    assert len(list(out.glob("recon_*.tiff"))) == 4
    assert main(["recon", str(dx_file), "--out", str(tmp_path / "x"), "--algorithm", "sirt", "--option",
                 "mode=volume", "--no-progress"]) == 2  # fmt: skip
    assert "sirt takes no option 'mode'" in capsys.readouterr().err
    assert main(["recon", str(dx_file), "--out", str(tmp_path / "y"), "--option", "novalue", "--no-progress"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err


def test_align_command_writes_projections_and_shifts(tmp_path):
    src = write_example_dataexchange(tmp_path / "jit.h5", size=48, rows=16, n_angles=61, jitter=3.0, seed=2)
    out = tmp_path / "al"
    assert main(["align", str(src), "--out", str(out), "--iters", "1", "--no-progress"]) == 0
    table = np.loadtxt(out / "shifts.csv", delimiter=",", skiprows=1)
    assert table.shape == (61, 4) and np.abs(table[:, 2:]).max() > 0.5
    assert len(list(out.glob("projections_*.tiff"))) == 61
    assert json.loads((out / "params.json").read_text())["command"] == "align"


@pytest.mark.parametrize("fmt", ["tiff", "h5"])
def test_align_file_streams_projections_and_matches_align_jitter_in_memory(tmp_path, monkeypatch, fmt):
    """Neither reading holds the stack: blocks of at most the chunk budget, and the numbers of the in-memory path."""
    import tifffile

    import tomopy_dl
    import tomopy_dl.util.chunks as chunks
    from tomopy_dl.io.dataexchange import RawProjections
    from tomopy_dl.pipeline import LineIntegrals, align_file

    src = write_example_dataexchange(tmp_path / "jit.h5", size=48, rows=16, n_angles=61, jitter=3.0, seed=2)
    prj, theta = read_projections(src, slices=(2, 14))
    np.testing.assert_array_equal(LineIntegrals(src, slices=(2, 14))[5:9], prj[5:9])
    aligned, sx, sy, _ = tomopy_dl.align_jitter(prj, theta, iters=1, device="cpu", progress=False)

    blocks = []
    read = RawProjections.__getitem__
    monkeypatch.setattr(RawProjections, "__getitem__", lambda self, i: blocks.append(read(self, i)) or blocks[-1])
    monkeypatch.setattr(chunks, "CHUNK_BYTES", 7 * prj[0].nbytes)
    fields = []
    read_all = dxchange.read_aps_32id
    monkeypatch.setattr(dxchange, "read_aps_32id", lambda *a, **k: fields.append(k) or read_all(*a, **k))
    params = align_file(src, tmp_path / "al", iters=1, slices=(2, 14), device="cpu", fmt=fmt, progress=False)
    assert max(b.shape[0] for b in blocks) == 7
    assert len(fields) == 1 and fields[0]["proj"] == (0, 1)  # flats and darks once, not with every block
    assert sum(b.shape[0] for b in blocks) == 2 * 61  # the working copy, then the move
    table = np.loadtxt(tmp_path / "al" / "shifts.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(table[:, 2:], np.column_stack([sx, sy]), atol=1e-4)
    if fmt == "h5":
        import h5py

        with h5py.File(tmp_path / "al" / "projections.h5") as f:
            written = f["data"][:]
    else:
        written = np.stack([tifffile.imread(tmp_path / "al" / name) for name in params["files"]])
    np.testing.assert_array_equal(written, aligned)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["recon", "missing.h5"], "does not exist"),
        (["recon", "{bad}", "--slices", "3:1"], "START must be below STOP"),
        (["recon", "{dx}", "--slices", "0:99"], "outside the detector"),
        (["recon", "{dx}", "--angles", "200:300"], "keeps 0 projection"),
        (["recon", "{bad}"], "lacks the Data Exchange"),
        (["align", "{dx}", "--center", "1e5"], "center 100000 is off the detector"),
        (["recon", "{dx}", "--algorithm", "fbp", "--num-iter", "5"], "fbp takes no number of iterations"),
    ],
)
def test_bad_input_leaves_no_output(dx_file, tmp_path, capsys, argv, message):
    import h5py

    bad = tmp_path / "bad.h5"
    with h5py.File(bad, "w") as f:
        f.create_dataset("exchange/data", data=np.zeros((3, 2, 4)))
    argv = [a.replace("{dx}", str(dx_file)).replace("{bad}", str(bad)) for a in argv]
    out = tmp_path / "out"
    assert main([*argv, "--out", str(out), "--no-progress"]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]
