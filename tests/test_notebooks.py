"""Every notebook in notebooks/ runs top to bottom on its bundled example."""

import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("dxchange", reason="run scripts/install-dxchange.sh (CI does)")

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_notebooks_exist():
    assert {p.stem for p in NOTEBOOKS} >= {"limited_angle_ganrec", "align_jitter", "batch_reconstruction"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, monkeypatch):
    nb = nbformat.read(path, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit notebooks without outputs"
    monkeypatch.setenv("MPLBACKEND", "Agg")
    tooth = Path(__file__).resolve().parent / "data" / "tooth.h5"
    if path.stem == "align_jitter" and tooth.is_file():
        monkeypatch.setenv("TOMOPY_DL_EXAMPLE", str(tooth))  # real projections, as the notebook intends
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(path, work)
    nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(work)}}
    ).execute()
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    if path.stem == "batch_reconstruction":
        summary = (work / "nb_out" / "batch" / "summary.csv").read_text()
        assert summary.count(",ok,") == 3 and "failed" in summary
        # A second run skips what is done.
        nb2 = nbformat.read(path, as_version=4)
        nbclient.NotebookClient(
            nb2, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(work)}}
        ).execute()
        assert (work / "nb_out" / "batch" / "summary.csv").read_text().count("skipped (done before)") == 3
    if path.stem == "limited_angle_ganrec":
        assert list((work / "nb_out" / "limited_angle" / "ganrec").glob("recon_*.tiff"))
