"""Slab-parallel reconstruction on dask.distributed: same volume, faults survived, resumable."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

pytest.importorskip("dxchange", reason="run scripts/install-dxchange.sh (CI does)")
distributed = pytest.importorskip("distributed", reason="pip install 'tomopy-dl[distributed]' (CI does)")
import tifffile  # noqa: E402
from conftest import error_lines, wait_for_slabs  # noqa: E402

from tomopy_dl.cli import main  # noqa: E402
from tomopy_dl.pipeline import SlabFailures, recon_file  # noqa: E402
from tomopy_dl.sim import write_example_dataexchange  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client():
    from tomopy_dl.distributed import connect

    with connect("local", workers=2, threads_per_worker=1) as c:
        yield c


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    return write_example_dataexchange(tmp_path_factory.mktemp("scan") / "scan.h5", size=40, rows=6, n_angles=61)


def volume(folder):
    files = sorted(folder.glob("recon_*.tiff"))
    return np.stack([tifffile.imread(f) for f in files])


@pytest.mark.parametrize(
    "algorithm, kw",
    [
        ("fbp", {}),
        ("sirt", {"num_iter": 20}),
        ("mlem", {"num_iter": 20}),
        ("tv", {"num_iter": 30}),
        ("ganrec", {"num_iter": 10}),
        # One network for the volume, trained here, applied by the workers from the output folder.
        ("ganrec", {"num_iter": 5, "options": {"mode": "volume", "tune": "off", "init_method": "sirt",
                                               "init_iter": 1, "dc_iter": 5}}),
    ],  # fmt: skip
)
def test_cluster_equals_serial(client, scan, tmp_path, algorithm, kw):
    common = dict(algorithm=algorithm, slab=2, progress=False, angles=(0, 120), **kw)
    serial = recon_file(scan, tmp_path / "serial", **common)
    dist = recon_file(scan, tmp_path / "dist", client=client, **common)
    assert dist["files"] == serial["files"] and len(serial["files"]) == 6
    a, b = volume(tmp_path / "serial"), volume(tmp_path / "dist")
    if algorithm == "ganrec":  # its determinism guarantee: equal seeds, equal images, to float32 round-off
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6 * float(np.abs(a).max()))
    else:
        np.testing.assert_array_equal(b, a)
    manifest = json.loads((tmp_path / "dist" / "manifest.json").read_text())
    assert sorted(manifest["slabs"]) == ["0:2", "2:4", "4:6"]
    if "options" in kw:  # the workers applied the network the check kept (not the start)
        assert dist["ganrec_volume_network"]["kept"] and (tmp_path / "dist" / "ganrec_filler.pt").is_file()


def test_a_worker_killed_mid_slab_is_replaced(client, tmp_path):
    scan = write_example_dataexchange(tmp_path / "slow.h5", size=64, rows=6, n_angles=91)
    common = dict(algorithm="sirt", num_iter=600, slab=1, progress=False)
    pids = client.run(os.getpid)
    result = {}
    job = threading.Thread(target=lambda: result.update(recon_file(scan, tmp_path / "dist", client=client, **common)))
    job.start()
    victim = None
    deadline = time.time() + 60
    while victim is None and time.time() < deadline:
        busy = [addr for addr, tasks in client.processing().items() if tasks]
        victim = busy[0] if busy else None
        time.sleep(0.05)
    assert victim is not None, "no worker ever held a slab"
    time.sleep(0.3)  # well inside the slab
    os.kill(pids[victim], signal.SIGKILL)
    job.join(timeout=300)
    assert result, "the job did not finish"
    serial = recon_file(scan, tmp_path / "serial", **common)
    assert len(serial["files"]) == 6
    np.testing.assert_array_equal(volume(tmp_path / "dist"), volume(tmp_path / "serial"))
    client.wait_for_workers(2, timeout=60)


def test_a_failing_slab_is_named_and_the_others_finish(client, tmp_path):
    import h5py

    scan = write_example_dataexchange(tmp_path / "bad.h5", size=32, rows=6, n_angles=31)
    with h5py.File(scan, "a") as f:
        f["exchange/data_white"][:, 2:4] = 0  # flats of rows 2-3 are dead: not a normalisation
        f["exchange/data_dark"][:, 2:4] = 10
    out = tmp_path / "out"
    with pytest.raises(SlabFailures, match=r"1 of 3 slab\(s\) failed: rows 2:4 \(ValueError: .* row 2 measured"):
        recon_file(scan, out, algorithm="fbp", slab=2, progress=False, client=client)
    assert not out.exists()
    manifest = json.loads((tmp_path / ".out.partial" / "manifest.json").read_text())
    assert sorted(manifest["slabs"]) == ["0:2", "4:6"]


def test_a_crashed_job_resumes_where_it_stopped(tmp_path, caplog):
    scan = write_example_dataexchange(tmp_path / "scan.h5", size=64, rows=6, n_angles=91)
    out = tmp_path / "out"
    argv = ["recon", str(scan), "--out", str(out), "--algorithm", "sirt", "--num-iter", "400", "--slab", "1",
            "--no-progress"]  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from tomopy_dl.cli import main; sys.exit(main())",
                             *argv])  # fmt: skip
    done = wait_for_slabs(tmp_path / ".out.partial", proc, at_least=2, poll=0.05)
    proc.send_signal(signal.SIGKILL)  # a crash: nothing runs after this
    proc.wait()
    assert 2 <= done < 6 and not out.exists()
    with caplog.at_level("INFO", logger="tomopy_dl.pipeline"):
        assert main(argv) == 0
    skipped = [r.getMessage() for r in caplog.records if "already done, verified and skipped" in r.getMessage()]
    assert skipped and int(skipped[0].split("recon ")[1].split(": ")[1].split(" of")[0]) >= 2
    fresh = tmp_path / "fresh"
    assert main([*argv[:3], str(fresh), *argv[4:]]) == 0
    np.testing.assert_array_equal(volume(out), volume(fresh))


def test_a_changed_job_does_not_resume_a_partial_run(tmp_path, capsys):
    scan = write_example_dataexchange(tmp_path / "scan.h5", size=32, rows=2, n_angles=31)
    partial = tmp_path / ".out.partial"
    partial.mkdir()
    (partial / "manifest.json").write_text(json.dumps({"job": {"algorithm": "sirt"}, "slabs": {"0:2": {}}}))
    argv = ["recon", str(scan), "--out", str(tmp_path / "out"), "--algorithm", "fbp", "--no-progress"]
    assert main(argv) == 2
    assert "partial run with other parameters" in capsys.readouterr().err
    assert main([*argv, "--overwrite"]) == 0


def test_an_unreachable_scheduler_fails_fast(scan, tmp_path, capsys):
    t0 = time.perf_counter()
    assert main(["recon", str(scan), "--out", str(tmp_path / "o"), "--cluster", "tcp://127.0.0.1:9"]) == 2
    assert time.perf_counter() - t0 < 30
    assert "cannot reach a Dask scheduler at 'tcp://127.0.0.1:9'" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_the_core_package_does_not_import_dask():
    code = "import sys, tomopy_dl, tomopy_dl.pipeline, tomopy_dl.cli; print(sorted(m for m in sys.modules " \
           "if m.split('.')[0] in ('dask', 'distributed')))"  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_lost_scheduler_is_one_line_and_the_job_resumes(tmp_path):
    """The scheduler killed after the first slab: one line naming it, a non-zero exit, the slab kept."""
    sched_file = tmp_path / "scheduler.json"
    sched = subprocess.Popen(["dask", "scheduler", "--port", "0", "--scheduler-file", str(sched_file),
                              "--no-dashboard"], stderr=subprocess.DEVNULL)  # fmt: skip
    worker = None
    try:
        deadline = time.time() + 60
        while not sched_file.exists() and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)  # written before it is complete on some versions
        address = json.loads(sched_file.read_text())["address"]
        worker = subprocess.Popen(["dask", "worker", address, "--nworkers", "1", "--nthreads", "1",
                                   "--no-dashboard"], stderr=subprocess.DEVNULL)  # fmt: skip
        scan = write_example_dataexchange(tmp_path / "slow.h5", size=64, rows=4, n_angles=91)
        command = ["recon", str(scan), "--out", str(tmp_path / "out"), "--algorithm", "sirt", "--num-iter", "400",
                   "--slab", "1", "--center", "32", "--cluster", address, "--no-progress"]  # fmt: skip
        job = subprocess.Popen([sys.executable, "-m", "tomopy_dl.cli", *command], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
        wait_for_slabs(tmp_path / ".out.partial", job, poll=0.05)
        sched.kill()
        _, err = job.communicate(timeout=120)
    finally:
        for proc in (sched, worker):
            if proc is not None:
                proc.kill()
    lines = error_lines(err)
    assert job.returncode == 2
    assert len(lines) == 1 and "lost the Dask scheduler at tcp://" in lines[0], err[-3000:]
    assert "after 1 of 4 slabs; rerun the same command to resume" in lines[0]
    assert not (tmp_path / "out").exists()
    assert len(json.loads((tmp_path / ".out.partial" / "manifest.json").read_text())["slabs"]) == 1
