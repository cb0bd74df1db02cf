"""The projector against real TomoPy output, and its adjoint."""

import shutil

import numpy as np
import pytest
import torch
from conftest import rel_l2

import tomopy_dl
from tomopy_dl import solvers
from tomopy_dl.physics import (
    ParallelBeamProjector,
    detector_width,
    estimate_matrix_bytes,
    get_projector,
    matrix_free,
    ray_offsets,
    unmeasured_angles,
)

METHODS = ["matrix", "matrix_free"]


@pytest.fixture(params=METHODS)
def budget_for(request, monkeypatch):
    """Route ``method='auto'`` to one path through the budget's environment variable."""
    from tomopy_dl.physics import clear_projector_cache

    monkeypatch.setenv("TOMOPY_DL_PROJECTOR_BUDGET", "1GB" if request.param == "matrix" else "0")
    clear_projector_cache()
    yield request.param
    clear_projector_cache()


@pytest.mark.parametrize(
    "key, kwargs",
    [
        ("proj_pad", dict(theta="theta")),
        ("proj_nopad", dict(theta="theta", pad=False)),
        ("proj_off", dict(theta="theta", center="center_off")),
        ("proj_lim", dict(theta="theta_lim")),
    ],
)
def test_matches_tomopy_project(ref, key, kwargs, budget_for):
    kw = {k: (ref[v] if isinstance(v, str) else v) for k, v in kwargs.items()}
    out = tomopy_dl.project(ref["obj"], device="cpu", **kw)
    assert out.shape == ref[key].shape and out.dtype == np.float32
    # Exact intersection lengths give float32 round-off, on both paths.
    assert rel_l2(out, ref[key]) < 1e-5


def test_arbitrary_unsorted_angles_match_fixture_rows(ref):
    rng = np.random.default_rng(3)
    pick = rng.choice(ref["theta"].size, size=17, replace=False)  # unsorted, non-uniform
    out = tomopy_dl.project(ref["obj"], ref["theta"][pick], device="cpu")
    assert rel_l2(out, ref["proj_pad"][pick]) < 1e-4


def test_angles_beyond_pi_are_mirrored_views(ref):
    obj = ref["obj"][30:32]
    theta = np.array([0.3, 0.3 + np.pi, 1.1], np.float32)
    out = tomopy_dl.project(obj, theta, pad=False, device="cpu")
    # A view from the opposite side is the same projection, detector reversed
    # (for the symmetric default centre).
    np.testing.assert_allclose(out[1], out[0][:, ::-1], rtol=1e-4, atol=1e-3)
    assert not np.allclose(out[2], out[0], atol=1e-2)


def test_project_options_sinogram_order_and_transmission(ref):
    obj = ref["obj"][28:31]
    a = tomopy_dl.project(obj, ref["theta"], device="cpu")
    b = tomopy_dl.project(obj, ref["theta"], sinogram_order=True, device="cpu")
    c = tomopy_dl.project(obj, ref["theta"], emission=False, device="cpu")
    assert a.shape == (90, 3, 94) and b.shape == (3, 90, 94)
    np.testing.assert_allclose(np.swapaxes(a, 0, 1), b)
    np.testing.assert_allclose(c, np.exp(-a), rtol=1e-6)


def test_per_slice_centres_equal_separate_calls(ref):
    obj = ref["obj"][30:32]
    both = tomopy_dl.project(obj, ref["theta"], center=[47.0, 44.5], device="cpu")
    first = tomopy_dl.project(obj[:1], ref["theta"], center=47.0, device="cpu")
    second = tomopy_dl.project(obj[1:], ref["theta"], center=44.5, device="cpu")
    np.testing.assert_array_equal(both[:, :1], first)
    np.testing.assert_array_equal(both[:, 1:], second)
    assert not np.allclose(first, tomopy_dl.project(obj[:1], ref["theta"], center=44.5, device="cpu"))


def test_geometry_helpers():
    assert detector_width(64, 64) == 94
    assert detector_width(64, 64, pad=False) == 64
    s = ray_offsets(94, 47.0)
    np.testing.assert_allclose(s, np.arange(94) + 0.5 - 47.0)
    # TomoPy nudges offsets that would sit on a grid line by 0.01 pixel.
    np.testing.assert_allclose(ray_offsets(94, 46.5), np.arange(94) + 0.5 - 46.5 + 0.01)


GEOMETRIES = [
    dict(theta=np.linspace(0, np.pi, 40, endpoint=False), n_det=30, nx=20, ny=20, center=None),
    dict(theta=np.sort(np.random.default_rng(0).uniform(0, 2 * np.pi, 33)), n_det=25, nx=17, ny=23, center=11.3),
    dict(theta=np.deg2rad(np.linspace(-35, 35, 51)), n_det=48, nx=32, ny=32, center=24.0),
]


def test_unmeasured_angles_cover_the_missing_wedge():
    deg = np.rad2deg(unmeasured_angles(np.deg2rad(np.linspace(0, 120, 121))))
    assert deg.min() > 123 - 1e-3 and deg.max() < 177 + 1e-3 and deg.size == 54
    # +-35 degrees, 51 views (1.4 degree steps): the wedge is 35..145, less 3 steps each side.
    deg = np.rad2deg(unmeasured_angles(np.deg2rad(np.linspace(-35, 35, 51))))
    assert 39 < deg.min() < 41.5 and 138.5 < deg.max() < 141
    # The same wedge written as 0-35 plus 145-180, and shuffled, gives the same answer (gap 3.5
    # keeps grid angles off the boundary, where float rounding of the spacing would decide).
    shifted = np.deg2rad(np.concatenate([np.linspace(0, 35, 26), np.linspace(145, 180, 26)[:-1]]))
    np.testing.assert_allclose(unmeasured_angles(np.random.default_rng(0).permutation(shifted), gap=3.5),
                               unmeasured_angles(np.deg2rad(np.linspace(-35, 35, 51)), gap=3.5), atol=1e-4)
    # Angles count modulo 180 degrees: a 200-320 degree scan misses what a 20-140 degree one does.
    np.testing.assert_allclose(unmeasured_angles(np.deg2rad(np.linspace(200, 320, 121)), gap=3.5),
                               unmeasured_angles(np.deg2rad(np.linspace(20, 140, 121)), gap=3.5), atol=1e-4)
    # Full-range scans, including 0-360, have none.
    assert unmeasured_angles(np.deg2rad(np.linspace(0, 180, 180, endpoint=False))).size == 0
    assert unmeasured_angles(np.deg2rad(np.linspace(0, 360, 721))).size == 0
    with pytest.raises(ValueError, match="at least 2"):
        unmeasured_angles([0.0])


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("geom", GEOMETRIES)
def test_adjoint_identity(geom, method):
    op = ParallelBeamProjector(
        geom["theta"], geom["n_det"], geom["nx"], geom["ny"], geom["center"], device="cpu", method=method
    )
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(3, geom["nx"], geom["ny"], generator=gen)
    y = torch.rand(3, len(geom["theta"]), geom["n_det"], generator=gen)
    lhs = torch.sum(op(x).double() * y.double())
    rhs = torch.sum(x.double() * op.adjoint(y).double())
    assert abs(float(lhs - rhs)) / abs(float(lhs)) < 1e-6


@pytest.mark.parametrize("method", METHODS)
def test_forward_only_projector_projects_alike_in_half_the_memory(method):
    theta = np.linspace(0, np.pi, 20, endpoint=False)
    both = ParallelBeamProjector(theta, 24, 16, 16, device="cpu", method=method)
    fwd = ParallelBeamProjector(theta, 24, 16, 16, device="cpu", method=method, forward_only=True)
    x = torch.rand(2, 16, 16)
    assert torch.equal(fwd(x), both(x))
    with pytest.raises(RuntimeError, match="forward_only"):
        fwd.adjoint(both(x))
    assert fwd.matrix_bytes == both.matrix_bytes // 2 and (fwd.matrix_bytes > 0) == (method == "matrix")
    est = estimate_matrix_bytes(theta, 24, 16, 16)
    assert estimate_matrix_bytes(theta, 24, 16, 16, forward_only=True) == est // 2
    build = estimate_matrix_bytes(theta, 24, 16, 16, build=True)
    assert estimate_matrix_bytes(theta, 24, 16, 16, build=True, forward_only=True) == build  # an upper bound
    if method == "matrix":
        with pytest.raises(RuntimeError, match="forward_only"):
            fwd(x.requires_grad_()).sum().backward()
    # The cache tells them apart.
    assert get_projector(theta, 24, 16, 16, forward_only=True) is not get_projector(theta, 24, 16, 16)


@pytest.mark.parametrize("method", METHODS)
def test_autograd_gradients_are_the_adjoint(method):
    op = ParallelBeamProjector(np.linspace(0, np.pi, 20), 24, 16, 16, device="cpu", method=method)
    x = torch.rand(2, 16, 16, requires_grad=True)
    y = torch.rand(2, 20, 24)
    (op(x) * y).sum().backward()
    torch.testing.assert_close(x.grad, op.adjoint(y), rtol=1e-5, atol=1e-5)
    z = torch.rand(2, 20, 24, requires_grad=True)
    (op.adjoint(z) * x.detach()).sum().backward()
    torch.testing.assert_close(z.grad, op(x.detach()), rtol=1e-5, atol=1e-5)


def test_cpu_projection_in_blocks_gives_the_whole_batchs_numbers(monkeypatch):
    """The blocked CPU projection (a few images at a time, whatever their layout) changes no bit, nor its gradient."""
    import tomopy_dl.physics.projector as projector

    op = ParallelBeamProjector(np.linspace(0, np.pi, 30), 24, 20, 20, device="cpu", method="matrix")
    stored = torch.rand(20 * 20, 9).t().reshape(9, 20, 20)  # a batch laid out pixel by pixel, as SIRT's is
    for x in (torch.rand(9, 20, 20), stored):
        whole = op(x)
        monkeypatch.setattr(projector, "_CPU_FORWARD_BLOCK_BYTES", 2 * 4 * 20 * 20)  # 2 images per block
        monkeypatch.setattr(projector, "_MIN_BLOCK", 2)
        products = []
        sparse_mm = torch.sparse.mm
        monkeypatch.setattr(torch.sparse, "mm", lambda m, d: products.append(d.shape[1]) or sparse_mm(m, d))
        leaf = x.clone().requires_grad_(True)
        blocked = op(leaf)
        assert products == [2, 2, 2, 2, 1]  # it did run in blocks
        assert torch.equal(blocked, whole)
        y = torch.rand_like(blocked)
        (blocked * y).sum().backward()
        assert torch.equal(leaf.grad, op.adjoint(y))
        z = y.clone().requires_grad_(True)
        (op.adjoint(z) * x).sum().backward()
        assert torch.equal(z.grad, op(x))
        monkeypatch.undo()


def test_projector_rejects_wrong_shapes():
    op = ParallelBeamProjector(np.linspace(0, np.pi, 5), 10, 8, 8, device="cpu")
    with pytest.raises(ValueError, match="shape"):
        op(torch.zeros(2, 8, 9))
    with pytest.raises(TypeError, match="float32"):
        op(torch.zeros(8, 8, dtype=torch.float64))


def test_projector_cache_reuses_geometry():
    theta = np.linspace(0, np.pi, 7)
    a = get_projector(theta, 12, 8, 8, center=6.0, device="cpu")
    assert get_projector(theta.astype(np.float32), 12, 8, 8, center=6.0, device="cpu") is a
    assert get_projector(theta, 12, 8, 8, center=6.5, device="cpu") is not a


# Angles of exactly 0, 45 and 90 degrees (and their mirrors), unsorted and
# non-uniform ones, off-centre axes, padded and unpadded detectors, non-square grids.
EXACT_CASES = [
    dict(theta=np.deg2rad([0.0, 45.0, 90.0, 135.0, 180.0, -45.0, 270.0, 30.0]), n_det=40, nx=28, ny=28, center=20.0),
    dict(theta=np.deg2rad([0.0, 90.0, 45.0]), n_det=28, nx=28, ny=28, center=13.5),  # nudged centre
    dict(theta=np.sort(np.random.default_rng(1).uniform(-np.pi, 2 * np.pi, 41)), n_det=37, nx=21, ny=30, center=15.2),
    dict(theta=np.linspace(0, np.pi, 90, endpoint=False), n_det=64, nx=64, ny=64, center=40.7),
    dict(theta=np.deg2rad(np.linspace(0, 120, 61)), n_det=94, nx=64, ny=64, center=None),
]


@pytest.mark.parametrize("case", EXACT_CASES)
def test_matrix_free_equals_matrix(case):
    ops = [
        ParallelBeamProjector(case["theta"], case["n_det"], case["nx"], case["ny"], case["center"], "cpu", method=m)
        for m in METHODS
    ]
    assert [op.method for op in ops] == METHODS
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(3, case["nx"], case["ny"], generator=gen)
    y = torch.rand(3, len(case["theta"]), case["n_det"], generator=gen)
    fwd = [op(x) for op in ops]
    adj = [op.adjoint(y) for op in ops]
    assert rel_l2(fwd[1], fwd[0].numpy()) < 1e-5
    assert rel_l2(adj[1], adj[0].numpy()) < 1e-5
    for name in ("row_sums", "col_sums", "row_sq_sums"):
        a, b = (getattr(op, name)() for op in ops)
        assert rel_l2(b, a.numpy()) < 1e-5, name


def test_matrix_free_eager_equals_compiled(monkeypatch):
    """torch.compile, when it works here, changes nothing; TOMOPY_DL_COMPILE=0 runs eagerly."""
    case = EXACT_CASES[2]
    op = ParallelBeamProjector(case["theta"], case["n_det"], case["nx"], case["ny"], case["center"], "cpu",
                               method="matrix_free")  # fmt: skip
    x = torch.rand(2, case["nx"], case["ny"])
    y = torch.rand(2, len(case["theta"]), case["n_det"])
    compiled = op(x), op.adjoint(y)
    if shutil.which("g++") or shutil.which("c++"):  # inductor's C++ backend can run here
        assert {"forward:cpu", "adjoint:cpu"} <= matrix_free.compiled_kernels()
    monkeypatch.setenv("TOMOPY_DL_COMPILE", "0")
    eager = op(x), op.adjoint(y)
    for a, b in zip(compiled, eager):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_matrix_free_falls_back_to_eager_when_compile_fails(monkeypatch):
    def broken(fn, **kwargs):
        def run(*args, **kw):
            raise RuntimeError("no compiler")

        return run

    monkeypatch.setattr(matrix_free, "_COMPILED", {})
    monkeypatch.setattr(matrix_free, "_COMPILE_FAILED", set())
    monkeypatch.setattr(torch, "compile", broken)
    # Eager chunks hold every intermediate, so they must be cut smaller than
    # the fused kernel's: here one angle each (40 rays x 28 slabs per angle).
    monkeypatch.setattr(matrix_free, "_EAGER_ELEMENTS", 2000)
    chunks = []
    eager_forward = matrix_free._forward_chunk

    def recording(img, bf, *rest):
        chunks.append(bf.shape[0])
        return eager_forward(img, bf, *rest)

    monkeypatch.setattr(matrix_free, "_forward_chunk", recording)
    case = EXACT_CASES[0]
    args = (case["theta"], case["n_det"], case["nx"], case["ny"], case["center"], "cpu")
    mf = ParallelBeamProjector(*args, method="matrix_free")
    mat = ParallelBeamProjector(*args, method="matrix")
    x = torch.rand(1, case["nx"], case["ny"])
    assert rel_l2(mf(x), mat(x).numpy()) < 1e-5
    assert "forward:cpu" in matrix_free._COMPILE_FAILED
    assert chunks and max(chunks) == 1


def test_matrix_free_per_slice_centres_are_ray_offsets(ref):
    """A different centre is a shift of the rays: a projector per centre costs no matrix."""
    obj = ref["obj"][30:32]
    op_a = ParallelBeamProjector(ref["theta"], 94, 64, 64, center=47.0, device="cpu", method="matrix_free")
    op_b = ParallelBeamProjector(ref["theta"], 94, 64, 64, center=44.5, device="cpu", method="matrix_free")
    assert op_a.nnz is None and op_b.nnz is None
    both = tomopy_dl.project(obj, ref["theta"], center=[47.0, 44.5], device="cpu")
    np.testing.assert_allclose(op_a(torch.from_numpy(obj[:1]))[0].numpy(), both[:, 0], rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(op_b(torch.from_numpy(obj[1:]))[0].numpy(), both[:, 1], rtol=1e-5, atol=1e-4)


def test_auto_path_follows_the_budget(monkeypatch, caplog):
    from tomopy_dl.physics import estimate_matrix_bytes

    theta = np.linspace(0, np.pi, 30, endpoint=False)
    need = estimate_matrix_bytes(theta, 48, 32, 32)
    with caplog.at_level("INFO", logger="tomopy_dl.physics.projector"):
        big = ParallelBeamProjector(theta, 48, 32, 32, device="cpu", memory_budget=need)
        small = ParallelBeamProjector(theta, 48, 32, 32, device="cpu", memory_budget=need - 1)
    assert (big.method, small.method) == ("matrix", "matrix_free")
    assert "matrix path" in caplog.text and "matrix_free path" in caplog.text
    # The estimate is within 10% of the true size, and not below it.
    assert 1.0 <= need / (16 * big.nnz) < 1.1
    monkeypatch.setenv("TOMOPY_DL_PROJECTOR_BUDGET", "1k")
    assert ParallelBeamProjector(theta, 48, 32, 32, device="cpu").method == "matrix_free"
    monkeypatch.setenv("TOMOPY_DL_PROJECTOR_BUDGET", "lots")
    with pytest.raises(ValueError, match="TOMOPY_DL_PROJECTOR_BUDGET.*'512MB'"):
        ParallelBeamProjector(theta, 48, 32, 32, device="cpu")
    with pytest.raises(ValueError, match="method must be one of"):
        ParallelBeamProjector(theta, 48, 32, 32, device="cpu", method="sparse")


def test_solvers_agree_on_both_paths(ref):
    """The path is an implementation detail: sirt, mlem and tv give the same images."""
    sino = torch.from_numpy(np.ascontiguousarray(ref["proj_lim"][:, 30:32].swapaxes(0, 1)))
    ops = [ParallelBeamProjector(ref["theta_lim"], 94, 64, 64, device="cpu", method=m) for m in METHODS]
    for solver, kw in ((solvers.sirt, dict(num_iter=20)), (solvers.mlem, dict(num_iter=20)),
                       (solvers.tv, dict(num_iter=50))):  # fmt: skip
        a, b = (solver(sino, op, **kw) for op in ops)
        assert rel_l2(b, a.numpy()) < 1e-4, solver.__name__


@pytest.mark.slow
def test_sirt_at_1024_by_1536_runs_matrix_free():
    """The geometry whose matrix (1.9 G entries) does not fit this machine, through sirt."""
    n, n_ang = 1024, 1536
    theta = np.linspace(0, np.pi, n_ang, endpoint=False)
    op = ParallelBeamProjector(theta, n, n, n, device="cpu")
    assert op.method == "matrix_free"  # the default 1 GB budget
    yy, xx = np.mgrid[:n, :n] - n / 2
    obj = ((yy**2 + xx**2 < (0.4 * n) ** 2) * 1.0 + (((yy - 100) ** 2 + xx**2) < 80**2) * 0.5).astype(np.float32)
    sino = op(torch.from_numpy(obj)[None])
    rec = solvers.sirt(sino, op, num_iter=3)
    res = [float(torch.linalg.vector_norm(sino - op(r)) / torch.linalg.vector_norm(sino)) for r in (0 * rec, rec)]
    assert rec.shape == (1, n, n) and torch.isfinite(rec).all()
    assert res[1] < 0.2 * res[0]
    assert np.corrcoef(rec[0].numpy().ravel(), obj.ravel())[0, 1] > 0.9
