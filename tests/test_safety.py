"""Nothing lost, nothing silently wrong: output safety and geometry sanity."""

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest
from conftest import error_lines, wait_for_slabs

import tomopy_dl
from tomopy_dl.cli import main
from tomopy_dl.io import OutputDir
from tomopy_dl.prep.normalize import normalize
from tomopy_dl.sim import write_example_dataexchange

dxchange = pytest.importorskip("dxchange", reason="run scripts/install-dxchange.sh (CI does)")


@pytest.fixture
def scan(tmp_path):
    """A folder holding the user's raw data: a scan and a note."""
    folder = tmp_path / "scan"
    folder.mkdir()
    path = write_example_dataexchange(folder / "tooth.h5", size=32, rows=2, n_angles=31)
    (folder / "notes.txt").write_text("beamtime notes")
    return path


def _recon(*args):
    return main(["recon", *map(str, args), "--algorithm", "fbp", "--no-progress"])


@pytest.mark.parametrize("where", ["folder", "ancestor", "file"])
def test_overwrite_never_deletes_the_input(scan, capsys, where):
    out = {"folder": scan.parent, "ancestor": scan.parent.parent, "file": scan}[where]
    assert _recon(scan, "--out", out, "--overwrite") == 2
    assert "would hold the input" in capsys.readouterr().err
    assert scan.is_file() and (scan.parent / "notes.txt").read_text() == "beamtime notes"


def test_overwrite_replaces_only_our_own_output(scan, tmp_path, capsys):
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "keep.txt").write_text("x")
    assert _recon(scan, "--out", theirs, "--overwrite") == 2
    assert "not written by tomopy-dl" in capsys.readouterr().err and (theirs / "keep.txt").exists()
    ours = tmp_path / "ours"
    assert _recon(scan, "--out", ours) == 0
    first = (ours / "params.json").stat().st_mtime_ns
    assert _recon(scan, "--out", ours, "--overwrite") == 0
    assert (ours / "params.json").stat().st_mtime_ns != first


def test_a_second_job_on_the_same_output_is_refused(scan, tmp_path, capsys):
    out = tmp_path / "race"
    holder = OutputDir(out)  # a job that has started and holds the lock
    assert _recon(scan, "--out", out) == 2
    err = capsys.readouterr().err
    assert "another tomopy-dl job" in err and f"pid {os.getpid()}" in err
    with holder as tmp:
        (tmp / "result").write_text("first")
    assert (out / "result").read_text() == "first" and not list(tmp_path.glob(".race*"))
    # Once released, the output is there and a job without --overwrite is refused.
    assert _recon(scan, "--out", out) == 2
    assert "already exists" in capsys.readouterr().err


def test_the_final_rename_keeps_what_appeared_meanwhile(tmp_path):
    out = tmp_path / "out"
    guard = OutputDir(out)
    with pytest.raises(FileExistsError, match="appeared while this job ran"):
        with guard as tmp:
            (tmp / "result").write_text("new")
            out.mkdir()  # another program made it, empty
            (out / "theirs").write_text("old")
    assert (out / "theirs").read_text() == "old"
    assert (tmp / "result").read_text() == "new"  # our result is kept, and named in the error


def test_sigterm_removes_the_temporary_folder(tmp_path):
    out = tmp_path / "out"
    code = textwrap.dedent(f"""
        import time
        from tomopy_dl.io import OutputDir
        with OutputDir({str(out)!r}) as tmp:
            for i in range(300):
                (tmp / f"slice_{{i}}.tiff").write_text("x")
            print("writing", flush=True)
            time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    assert len([p for p in tmp_path.glob(".out.*") if p.is_dir()]) == 1
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) != 0
    assert not list(tmp_path.iterdir())  # no temporary folder, no lock, no output


def test_stale_temporaries_of_killed_jobs_are_removed(tmp_path):
    out = tmp_path / "out"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname()
    stale, live, other = tmp_path / ".out.dead1234", tmp_path / ".out.live1234", tmp_path / ".out.away1234"
    for folder, owner in ((stale, f"{host} {dead.pid}"), (live, f"{host} {os.getpid()}"), (other, "elsewhere 1")):
        folder.mkdir()
        (folder / "slice.tiff").write_text("x")
        (folder / OutputDir.OWNER_FILE).write_text(owner)
    OutputDir(out)
    assert not stale.exists() and live.exists() and other.exists()


def test_unwritable_output_fails_before_the_work(scan, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    t0 = time.perf_counter()
    assert _recon(scan, "--out", blocker / "out") == 2
    assert "cannot create the output's folder" in capsys.readouterr().err
    with pytest.raises(OSError, match="MB free"):
        OutputDir(tmp_path / "big", expected_bytes=1 << 62)
    assert time.perf_counter() - t0 < 30


@pytest.mark.parametrize("center", [100.0, -1.0])
def test_centre_off_the_detector_is_refused(center):
    sino = np.ones((1, 12, 32), np.float32)  # TomoPy's callables take sinograms
    theta = np.linspace(0, np.pi, 12, endpoint=False)
    with pytest.raises(ValueError, match=r"off the detector, which is 32 pixels wide"):
        tomopy_dl.recon(sino.swapaxes(0, 1), theta, center=center, algorithm="fbp")
    recon = np.full((1, 32, 32), 1e-6, np.float32)
    with pytest.raises(ValueError, match="off the detector"):
        tomopy_dl.sirt(sino, np.full(1, center, np.float32), recon, theta.astype(np.float32), num_iter=2)


def test_angles_in_degrees_warn():
    obj = np.ones((1, 16, 16), np.float32)
    with pytest.warns(UserWarning, match="looks like degrees"):
        tomopy_dl.project(obj, np.linspace(0, 180, 10))
    sino = tomopy_dl.project(obj, np.linspace(0, np.pi, 10))
    with pytest.warns(UserWarning, match="deg2rad"):
        tomopy_dl.recon(sino, np.linspace(0, 180, 10), algorithm="fbp")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tomopy_dl.recon(sino, np.linspace(0, np.pi, 10), algorithm="fbp")
        tomopy_dl.project(obj, np.linspace(0, 2 * np.pi, 10).astype(np.float32))  # a full turn in radians


def test_a_file_without_angles_warns_and_theta_range_sets_them(tmp_path, capsys):
    import h5py

    path = write_example_dataexchange(tmp_path / "scan.h5", size=32, rows=2, n_angles=31)
    with h5py.File(path, "a") as f:
        del f["exchange/theta"]
    with pytest.warns(UserWarning, match="no /exchange/theta"):
        assert _recon(path, "--out", tmp_path / "a") == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        # A centre given: over 120 degrees there is nothing to find it from (which would warn).
        assert _recon(path, "--out", tmp_path / "b", "--theta-range", "0:120", "--center", "16") == 0
    import json

    params = json.loads((tmp_path / "b" / "params.json").read_text())
    np.testing.assert_allclose(params["theta_range_deg"], [0, 120], atol=1e-3)


@pytest.mark.parametrize("case", ["zero flats", "flats equal darks", "swapped"])
def test_non_physical_flats_are_refused(case):
    rng = np.random.default_rng(0)
    prj = rng.uniform(100, 1000, (4, 3, 8))
    flat, dark = np.full((2, 3, 8), 1000.0), np.full((2, 3, 8), 100.0)
    flat, dark = {"zero flats": (0 * flat, dark), "flats equal darks": (dark, dark), "swapped": (dark, flat)}[case]
    with pytest.raises(ValueError, match="flat field is at or below the dark field"):
        normalize(prj, flat, dark)
    # A few dead pixels are not a reason to stop.
    flat, dark = np.full((2, 3, 8), 1000.0), np.full((2, 3, 8), 100.0)
    flat[:, 0, :2] = 0
    assert np.isfinite(normalize(prj, flat, dark)).all()


def test_none_means_the_default():
    sino = tomopy_dl.project(np.ones((1, 16, 16), np.float32), np.linspace(0, np.pi, 12, endpoint=False))
    theta = np.linspace(0, np.pi, 12, endpoint=False)
    a = tomopy_dl.recon(sino, theta, algorithm="sirt", num_iter=None, progress=False)
    b = tomopy_dl.recon(sino, theta, algorithm="sirt", progress=False)
    np.testing.assert_array_equal(a, b)
    c = tomopy_dl.recon(sino, theta, algorithm="ganrec", seed=None, num_iter=3, progress=False)
    d = tomopy_dl.recon(sino, theta, algorithm="ganrec", num_iter=3, progress=False)
    np.testing.assert_array_equal(c, d)


@pytest.mark.parametrize(
    "damage, message",
    [
        ("truncate", "checksum mismatch"),
        ("truncate_with_record", "not a readable weights file"),
        ("bad_json", "not valid JSON"),
        ("json_list", "must hold a JSON object"),
        ("no_input_size", "'input_size' must be an integer"),
        ("zero_width", "do not fit the architecture"),
        ("wrong_key", "do not fit the architecture"),
    ],
)
def test_damaged_weights_give_one_line_naming_the_file(tmp_path, damage, message):
    import json
    import shutil

    from tomopy_dl.weights import JITTER_WEIGHTS, load_jitter_model, sha256_of

    pt = tmp_path / "w.pt"
    shutil.copy(JITTER_WEIGHTS, pt)
    shutil.copy(JITTER_WEIGHTS.with_suffix(".json"), pt.with_suffix(".json"))
    record = json.loads(pt.with_suffix(".json").read_text())
    if damage.startswith("truncate"):
        pt.write_bytes(pt.read_bytes()[:1000])
        if damage == "truncate_with_record":
            record["sha256"] = sha256_of(pt)
    elif damage == "no_input_size":
        del record["input_size"]
    elif damage == "zero_width":
        record["architecture"] = {"width": 0}
    elif damage == "wrong_key":
        record["architecture"] = {"depth": 5}
    text = json.dumps(record)
    if damage == "bad_json":
        text = text[: len(text) // 2]
    elif damage == "json_list":
        text = "[1, 2]"
    pt.with_suffix(".json").write_text(text)
    with pytest.raises(ValueError, match=message) as info:
        load_jitter_model(pt)
    assert "w.pt" in str(info.value) or "w.json" in str(info.value)
    assert "\n" not in str(info.value)


def test_ganrec_is_scale_invariant():
    theta = np.linspace(0, np.deg2rad(120), 30)
    obj = np.zeros((1, 20, 20), np.float32)
    obj[0, 5:15, 7:12] = 1
    sino = tomopy_dl.project(obj, theta)
    kw = dict(algorithm="ganrec", num_iter=10, init_iter=10, progress=False, seed=0)
    ref = tomopy_dl.recon(sino, theta, **kw)
    for scale in (1e-6, 1e-3, 1e3, 1e10, 1e20):
        rec = tomopy_dl.recon(sino * np.float32(scale), theta, **kw)
        assert np.isfinite(rec).all(), scale
        assert np.linalg.norm(rec / scale - ref) / np.linalg.norm(ref) < 1e-3, scale


def test_notebook_outputs_are_ignored_by_git():
    """Running the notebooks in place writes nb_data/ and nb_out/: git must not see them."""
    import shutil
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    if shutil.which("git") is None or not (root / ".git").exists():
        pytest.skip("not a git checkout")
    for rel in ("notebooks/nb_data/scan.h5", "notebooks/nb_out/batch/summary.csv"):
        assert subprocess.run(["git", "check-ignore", "-q", rel], cwd=root).returncode == 0, rel


def _clean_stack(rows, cols, n_ang):
    """Projections of a jitter-free object with features along both axes."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:cols, :cols] - cols / 2
    obj = np.zeros((rows, cols, cols), np.float32)
    for _ in range(5):
        cy, cx, r = rng.uniform(-cols / 4, cols / 4, 2).tolist() + [rng.uniform(cols / 16, cols / 6)]
        obj[:, (yy - cy) ** 2 + (xx - cx) ** 2 < r * r] += rng.uniform(0.2, 1)
    obj *= (0.5 + 0.5 * np.sin(np.linspace(0, 3 * np.pi, rows)))[:, None, None]
    theta = np.linspace(0, np.pi, n_ang, endpoint=False)
    return tomopy_dl.project(obj, theta, pad=False), theta


@pytest.mark.parametrize(
    "rows, cols, n_ang",
    [(8, 400, 60), (32, 128, 20), (200, 16, 60), (16, 256, 60), (64, 64, 90), (2, 128, 60)],
    ids=["few rows, wide", "few angles", "tall, narrow", "wide", "square", "two rows"],
)
def test_no_jitter_in_no_jitter_out(rows, cols, n_ang):
    prj, theta = _clean_stack(rows, cols, n_ang)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out, sx, sy, _ = tomopy_dl.align_jitter(prj, theta, device="cpu", progress=False)
    assert np.sqrt(np.mean(sx**2)) <= 0.1 and np.sqrt(np.mean(sy**2)) <= 0.1
    messages = " ".join(str(w.message) for w in caught)
    assert ("too few to measure row shifts" in messages) == (rows < 8)
    assert ("too few to measure column shifts" in messages) == (cols < 32)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_mid_job_keeps_the_finished_slabs_and_the_rerun_resumes(tmp_path, sig):
    """A batch system's time limit (SIGTERM) or Ctrl-C: 128 + signal, one line, nothing at --out, resumable."""
    import json

    import tifffile

    scan = write_example_dataexchange(tmp_path / "scan.h5", size=48, rows=4, n_angles=61)
    command = [sys.executable, "-m", "tomopy_dl.cli", "recon", str(scan), "--algorithm", "sirt", "--num-iter", "300",
               "--slab", "1", "--center", "24", "--no-progress", "--out"]  # fmt: skip
    job = subprocess.Popen([*command, str(tmp_path / "out")], stderr=subprocess.PIPE, text=True)
    manifest = tmp_path / ".out.partial" / "manifest.json"
    wait_for_slabs(manifest.parent, job)
    job.send_signal(sig)
    _, err = job.communicate(timeout=120)
    lines = error_lines(err)
    assert job.returncode == 128 + sig, err[-2000:]
    assert lines == [f"tomopy-dl recon: stopped by {sig.name}; the finished slabs are kept: rerun the same command "
                     "to resume"], err[-2000:]  # fmt: skip
    assert not (tmp_path / "out").exists()
    kept = json.loads(manifest.read_text())["slabs"]
    assert 1 <= len(kept) < 4
    assert subprocess.run([*command, str(tmp_path / "out")], capture_output=True).returncode == 0
    assert subprocess.run([*command, str(tmp_path / "whole")], capture_output=True).returncode == 0
    for i in range(4):
        name = f"recon_{i:05d}.tiff"
        resumed, whole = (tifffile.imread(tmp_path / run / name) for run in ("out", "whole"))
        np.testing.assert_array_equal(resumed, whole)


def test_a_stop_swallowed_on_its_way_up_still_stops_the_job(tmp_path):
    """SIGTERM handled inside a __del__ (where Python only prints the exception): no rename, exit 143."""
    out = tmp_path / "out"
    code = textwrap.dedent(f"""
        import os, signal, sys
        from tomopy_dl.io import OutputDir

        class Swallows:
            def __del__(self):
                os.kill(os.getpid(), signal.SIGTERM)  # its handler's SystemExit is raised, and dropped, here
                for _ in range(1000):
                    pass

        with OutputDir({str(out)!r}, resumable=True) as tmp:
            (tmp / "slice.tiff").write_text("x")
            Swallows()
            print("carried on", flush=True)
        print("renamed", flush=True)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "carried on" in proc.stdout  # the stop was swallowed: the block went on after it
    assert "renamed" not in proc.stdout and proc.returncode == 143
    assert "Exception ignored" not in proc.stderr  # nor printed: the job's one line says it
    assert not out.exists() and (tmp_path / ".out.partial" / "slice.tiff").exists()


def _small_disk(path):
    """A 1 MB tmpfs at ``path``, or a skip where mounting is not allowed (not root, no CAP_SYS_ADMIN)."""
    path.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(path)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root): the disk-full case is not run")


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["h5", "tiff"])
def test_a_disk_that_fills_mid_job_is_one_line_and_the_rerun_resumes(tmp_path, fmt):
    """A real full disk (the start's space check fooled, as another writer would): one line, no crash, resumable."""
    scan = write_example_dataexchange(tmp_path / "scan.h5", size=128, rows=24, n_angles=61)
    disk = tmp_path / "disk"
    _small_disk(disk)
    try:
        args = ["recon", str(scan), "--format", fmt, "--algorithm", "fbp", "--slab", "2", "--center", "64",
                "--no-progress", "--out"]  # fmt: skip
        code = ("import sys\nfrom tomopy_dl.io import output\n"
                "output.OutputDir.require_free = lambda self, n, where=None: None  # as if the disk filled later\n"
                f"from tomopy_dl.cli import main\nsys.exit(main({[*args, str(disk / 'out')]!r}))")  # fmt: skip
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
        lines = error_lines(proc.stderr)
        assert proc.returncode == 2, proc.stderr[-3000:]  # not a segmentation fault (-11)
        assert len(lines) == 1 and "no space left on its disk" in lines[0] and ".out.partial" in lines[0], lines
        subprocess.run(["mount", "-o", "remount,size=2200k", str(disk)], check=True)  # space freed
        again = subprocess.run([sys.executable, "-m", "tomopy_dl.cli", "-v", *args, str(disk / "out")],
                               capture_output=True, text=True, timeout=300)  # fmt: skip
        assert again.returncode == 0, again.stderr[-3000:]
        assert "slabs already done, verified and skipped" in again.stderr
        whole = main([*args, str(tmp_path / "whole")])
        assert whole == 0
        from tomopy_dl.io import StackWriter

        read = [StackWriter(folder, "recon", fmt, (24, 128, 128), resume=True).read(0, 24)
                for folder in (disk / "out", tmp_path / "whole")]  # fmt: skip
        np.testing.assert_array_equal(read[0], read[1])
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def test_free_space_is_checked_per_slab_and_counts_only_what_a_rerun_still_writes(tmp_path, monkeypatch, capsys):
    import shutil as shutil_module

    scan = write_example_dataexchange(tmp_path / "scan.h5", size=32, rows=4, n_angles=31)
    slab_bytes = 4 * 32 * 32
    free = {"bytes": 10**12, "slabs_left": 2}
    real = shutil_module.disk_usage

    def disk_usage(path):
        usage = real(path)
        if free["slabs_left"] is not None and "out" in str(path) and free["slabs_left"] <= 0:
            return usage._replace(free=100)  # full after two slabs
        return usage._replace(free=free["bytes"])

    from tomopy_dl.io import output

    original = output.OutputDir.require_free

    def counting(self, nbytes, *, where=None):
        original(self, nbytes, where=where)
        if nbytes == slab_bytes and free["slabs_left"] is not None:
            free["slabs_left"] -= 1

    monkeypatch.setattr(shutil_module, "disk_usage", disk_usage)
    monkeypatch.setattr(output.OutputDir, "require_free", counting)
    args = ["recon", str(scan), "--out", str(tmp_path / "out"), "--algorithm", "fbp", "--slab", "1", "--center", "16",
            "--no-progress"]  # fmt: skip
    assert main(args) == 2
    assert "needs about 0 MB more; free some space (a rerun resumes)" in capsys.readouterr().err
    # Space for the two slabs still to write, not for the whole volume: the rerun goes ahead.
    free.update(bytes=int(2.2 * slab_bytes), slabs_left=None)  # the 4 slabs would need 4.2
    assert main(args) == 0
    assert len(list((tmp_path / "out").glob("recon_*.tiff"))) == 4
