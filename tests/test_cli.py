"""The command line and its demo."""

import subprocess
import sys

import numpy as np
import tifffile

from tomopy_dl.cli import main
from tomopy_dl.demo import run_demo


def test_demo_writes_figure_images_and_table(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--size", "48", "--angles", "31", "--num-iter", "20",
                 "--ganrec-iter", "20", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    for name in ("fbp", "sirt", "mlem", "tv", "ganrec"):
        assert name in printed
        img = tifffile.imread(out / f"{name}.tiff")
        assert img.shape == (48, 48) and img.dtype == np.float32 and np.isfinite(img).all()
    assert (out / "comparison.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = (out / "scores.csv").read_text().splitlines()
    assert lines[0] == "method,ssim,psnr,seconds" and len(lines) == 6


def test_demo_scores_rank_iterative_above_fbp_on_missing_wedge(tmp_path):
    rows = run_demo(tmp_path, size=64, n_angles=61, num_iter=60, ganrec_iter=30, progress=False)
    ssim = {r["method"]: r["ssim"] for r in rows}
    assert all(0 < v <= 1 for v in ssim.values())
    assert ssim["mlem"] > ssim["fbp"]
    assert ssim["ganrec"] > max(ssim["fbp"], ssim["sirt"], ssim["mlem"])


def test_demo_refuses_to_overwrite(tmp_path, capsys):
    args = ["demo", "--out", str(tmp_path), "--size", "32", "--angles", "11", "--num-iter", "2", "--ganrec-iter", "2",
            "--no-progress"]
    assert main(args) == 0
    before = (tmp_path / "fbp.tiff").read_bytes()
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "fbp.tiff").read_bytes() == before
    assert main(args + ["--overwrite"]) == 0


def test_console_script_entry_point(tmp_path):
    res = subprocess.run(
        [sys.executable, "-m", "tomopy_dl.cli", "demo", "--out", str(tmp_path), "--size", "1"],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2 and "--size must be at least 2" in res.stderr
