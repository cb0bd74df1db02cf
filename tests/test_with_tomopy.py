"""The same contract against a real TomoPy, where one is installed (conda-forge)."""

import importlib

import numpy as np
import pytest
from conftest import rel_l2

tomopy = pytest.importorskip("tomopy")

import tomopy_dl  # noqa: E402


def test_project_matches_installed_tomopy(ref):
    theta = np.sort(np.random.default_rng(1).uniform(0, np.pi, 37)).astype(np.float32)
    obj = ref["obj"][20:26]
    assert rel_l2(tomopy_dl.project(obj, theta, center=45.3), tomopy.project(obj, theta, center=45.3)) < 1e-4


@pytest.mark.parametrize("ncore, nchunk", [(1, None), (2, None), (4, 1), (2, 0)])
def test_tomopy_recon_with_our_callables(ref, ncore, nchunk):
    proj = ref["proj_pad"][:, 26:32]
    for name, kw in (("fbp", {}), ("sirt", dict(num_iter=8)), ("mlem", dict(num_iter=8))):
        ours = tomopy_dl.recon(proj, ref["theta"], center=46.5, algorithm=name, **kw)
        theirs = tomopy.recon(
            proj, ref["theta"], center=46.5, algorithm=getattr(tomopy_dl, name), ncore=ncore, nchunk=nchunk, **kw
        )
        np.testing.assert_allclose(theirs, ours, atol=1e-5)


def test_sirt_equals_tomopy_sirt(ref):
    proj = ref["proj_pad"][:, 30:32]
    ours = tomopy.recon(proj, ref["theta"], algorithm=tomopy_dl.sirt, num_iter=30)
    theirs = tomopy.recon(proj, ref["theta"], algorithm="sirt", num_iter=30)
    assert np.corrcoef(ours.ravel(), theirs.ravel())[0, 1] > 0.999


def test_register_is_idempotent_and_keeps_tomopy_names():
    algorithm_module = importlib.import_module("tomopy.recon.algorithm")
    before = dict(algorithm_module.allowed_recon_kwargs)
    first = tomopy_dl.register()
    second = tomopy_dl.register()
    assert first == second
    for name in ("fbp", "sirt", "mlem", "gridrec"):
        assert algorithm_module.allowed_recon_kwargs[name] == before[name]
    extern = importlib.import_module("tomopy.util.extern")
    for name in first:
        assert getattr(extern, "c_" + name) is not None


def test_shift_images_agrees_with_tomopy_on_whole_pixels(ref):
    prj = ref["proj_nopad"][:10]
    sx = np.arange(10) % 3 - 1.0
    sy = np.arange(10) % 4 - 2.0
    theirs = tomopy.shift_images(prj.copy(), sx.astype(int), sy.astype(int))
    ours = tomopy_dl.shift_images(prj, sx, sy, device="cpu")
    inner = (slice(None), slice(3, -3), slice(3, -3))
    np.testing.assert_allclose(ours[inner], theirs[inner], atol=1e-3)


def test_align_jitter_output_is_undone_by_tomopy_shift_images(ref):
    """TomoPy's own shift_images, fed our sx/sy rounded, lands near the clean stack."""
    jittered = ref["jitter_proj"]
    _, sx, sy, _ = tomopy_dl.align_jitter(jittered, ref["theta"], device="cpu", progress=False)
    true_sx = -np.round(ref["jitter_y"])
    true_sy = -np.round(ref["jitter_x"])
    assert np.abs(np.round(sx - sx.mean()) - (true_sx - true_sx.mean())).mean() < 0.5
    assert np.abs(np.round(sy - sy.mean()) - (true_sy - true_sy.mean())).mean() < 0.5
    back = tomopy.shift_images(jittered.copy(), np.round(sx).astype(int), np.round(sy).astype(int))
    assert back.shape == jittered.shape


@pytest.mark.parametrize("first", ["tomopy", "tomopy_dl"])
def test_ganrec_string_works_whichever_is_imported_first(first):
    """``import tomopy_dl`` does not import TomoPy, and 'ganrec' is registered in either order."""
    import subprocess
    import sys

    second = "tomopy_dl" if first == "tomopy" else "tomopy"
    code = (
        f"import sys; import {first}; "
        "loaded = 'tomopy' in sys.modules; "
        f"import {second}; import tomopy; "
        "from tomopy.recon.algorithm import allowed_recon_kwargs; "
        "print(loaded, 'ganrec' in allowed_recon_kwargs)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(first == "tomopy"), "True"], out
