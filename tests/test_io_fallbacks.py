"""Reading without dxchange, and TomoPy's names registered without importing TomoPy."""

import subprocess
import sys

import numpy as np
import pytest


def test_h5py_reader_reads_what_dxchange_reads(tooth_h5, monkeypatch):
    """Without dxchange the file is read by h5py, to the same bits (compared where dxchange is installed)."""
    from tomopy_dl.io import dataexchange

    pytest.importorskip("dxchange")
    with_dx = dataexchange.RawProjections(tooth_h5, slices=(1, 2))
    monkeypatch.setattr(dataexchange, "_dxchange_if_installed", lambda: None)
    without = dataexchange.RawProjections(tooth_h5, slices=(1, 2))
    assert without._dxchange is None
    for name in ("flat", "dark", "theta"):
        np.testing.assert_array_equal(getattr(without, name), getattr(with_dx, name))
    np.testing.assert_array_equal(without[3:40:2], with_dx[3:40:2])
    np.testing.assert_array_equal(without[:], with_dx[:])


@pytest.mark.slow
def test_recon_file_without_dxchange(tooth_h5, tmp_path):
    """A fresh install (no dxchange) reads and writes a Data Exchange job: here dxchange is hidden."""
    code = (
        "import sys; sys.modules['dxchange'] = None\n"
        "from tomopy_dl.pipeline import recon_file\n"
        f"p = recon_file({str(tooth_h5)!r}, {str(tmp_path / 'rec')!r}, algorithm='fbp', progress=False)\n"
        "print(p['files'])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "rec").glob("recon_*.tiff")) == ["recon_00000.tiff", "recon_00001.tiff"]


def test_import_does_not_import_tomopy():
    code = "import sys, tomopy_dl; print('tomopy' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


def test_call_after_import_runs_once_after_the_module_loads(tmp_path, monkeypatch):
    """The hook that registers 'ganrec' when TomoPy's table loads, on a package of our own."""
    from tomopy_dl.adapter.tomopy_names import _CallAfterImport

    pkg = tmp_path / "tdl_hook_host"
    (pkg / "recon").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .recon import algorithm\n")
    (pkg / "recon" / "__init__.py").write_text("")
    (pkg / "recon" / "algorithm.py").write_text("allowed_recon_kwargs = {'gridrec': []}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    seen = []
    hook = _CallAfterImport("tdl_hook_host.recon.algorithm", lambda m: seen.append(dict(m.allowed_recon_kwargs)))
    monkeypatch.setattr(sys, "meta_path", [hook, *sys.meta_path])
    import tdl_hook_host  # noqa: F401  (imports the target as TomoPy's package does)

    assert seen == [{"gridrec": []}]
    assert hook not in sys.meta_path  # gone once done
    for name in [m for m in sys.modules if m.startswith("tdl_hook_host")]:
        monkeypatch.delitem(sys.modules, name)
