"""The TomoPy recon contract, exercised exactly as TomoPy 1.15 calls an algorithm."""

import concurrent.futures as cf
import warnings

import numpy as np
import pytest

import tomopy_dl

ALGOS = [(tomopy_dl.fbp, {}), (tomopy_dl.sirt, dict(num_iter=5)), (tomopy_dl.mlem, dict(num_iter=5))]


def tomopy_style_call(func, tomo_sino, theta, center, ngrid, parent=None, **extra):
    """Mimic tomopy.recon: float32 C-contiguous chunk, float32 centres, 1e-6-prefilled view."""
    k = tomo_sino.shape[0]
    recon = np.full((k, ngrid, ngrid), 1e-6, np.float32) if parent is None else parent
    func(
        np.require(tomo_sino, np.float32, "AC"),
        np.asarray(center, np.float32),
        recon,
        np.asarray(theta, np.float32),
        num_gridx=ngrid,
        num_gridy=ngrid,
        options={},
        **extra,
    )
    return recon


@pytest.fixture(scope="module")
def sino(ref):
    return np.ascontiguousarray(np.swapaxes(ref["proj_pad"][:, 28:34], 0, 1))  # (6, 90, 94)


@pytest.mark.parametrize("func, kw", ALGOS)
def test_fills_recon_in_place_and_equals_recon(ref, sino, func, kw):
    out = tomopy_style_call(func, sino, ref["theta"], np.full(6, 47.0), 94, **kw)
    assert np.abs(out - 1e-6).max() > 0.1
    expect = tomopy_dl.recon(sino, ref["theta"], sinogram_order=True, algorithm=func.__name__, device="cpu", **kw)
    np.testing.assert_array_equal(out, expect)


def test_writes_through_a_view_of_a_larger_array(ref, sino):
    full = np.full((10, 94, 94), 1e-6, np.float32)
    view = full[2:8]
    tomopy_style_call(tomopy_dl.fbp, sino, ref["theta"], np.full(6, 47.0), 94, parent=view)
    assert np.all(full[:2] == np.float32(1e-6)) and np.all(full[8:] == np.float32(1e-6))
    assert np.abs(full[2:8]).max() > 0.1


def test_does_not_modify_tomo(ref, sino):
    before = sino.copy()
    tomopy_style_call(tomopy_dl.mlem, sino, ref["theta"], np.full(6, 47.0), 94, num_iter=3)
    np.testing.assert_array_equal(sino, before)


def test_two_dimensional_chunks_as_with_nchunk_0(ref, sino):
    recon3 = tomopy_style_call(tomopy_dl.sirt, sino[:1], ref["theta"], [47.0], 94, num_iter=4)
    recon2 = np.full((94, 94), 1e-6, np.float32)
    tomopy_dl.sirt(
        sino[0],
        np.float32(47.0),
        recon2,
        ref["theta"].astype(np.float32),
        num_gridx=94,
        num_gridy=94,
        options={},
        num_iter=4,
    )
    np.testing.assert_array_equal(recon2, recon3[0])


def test_init_recon_is_the_starting_point(ref, sino):
    cold = tomopy_style_call(tomopy_dl.sirt, sino[:2], ref["theta"], [47.0, 47.0], 94, num_iter=1)
    warm_start = tomopy_style_call(tomopy_dl.sirt, sino[:2], ref["theta"], [47.0, 47.0], 94, num_iter=20)
    warm = tomopy_style_call(
        tomopy_dl.sirt, sino[:2], ref["theta"], [47.0, 47.0], 94, parent=warm_start.copy(), num_iter=1
    )
    assert not np.allclose(warm, cold, atol=1e-3)
    sirt21 = tomopy_style_call(tomopy_dl.sirt, sino[:2], ref["theta"], [47.0, 47.0], 94, num_iter=21)
    np.testing.assert_allclose(warm, sirt21, atol=1e-4)


def test_per_slice_centres_and_grid(ref, sino):
    centers = np.array([47, 47, 46, 46, 48.5, 47], np.float32)
    out = tomopy_style_call(tomopy_dl.fbp, sino, ref["theta"], centers, 64)
    assert out.shape == (6, 64, 64)
    for i in (0, 2, 4):
        single = tomopy_style_call(tomopy_dl.fbp, sino[i : i + 1], ref["theta"], centers[i : i + 1], 64)
        np.testing.assert_array_equal(out[i], single[0])
    assert not np.allclose(out[2], tomopy_style_call(tomopy_dl.fbp, sino[2:3], ref["theta"], [47.0], 64)[0])


def test_non_square_grid(ref, sino):
    recon = np.full((2, 70, 50), 1e-6, np.float32)
    tomopy_dl.sirt(
        sino[:2], np.full(2, 47, np.float32), recon, ref["theta"], num_gridx=70, num_gridy=50, options={}, num_iter=3
    )
    assert np.abs(recon).max() > 0.05


def test_concurrent_chunks_in_threads_match_serial(ref, sino):
    """TomoPy with ncore>1 runs chunks of one recon array concurrently from threads."""
    theta = ref["theta"].astype(np.float32)
    centers = np.array([47, 46.5, 47, 46.5, 47, 46.5], np.float32)
    serial = np.full((6, 94, 94), 1e-6, np.float32)
    tomopy_dl.sirt(sino, centers, serial, theta, num_gridx=94, num_gridy=94, options={}, num_iter=6)
    shared = np.full((6, 94, 94), 1e-6, np.float32)
    with cf.ThreadPoolExecutor(4) as ex:
        futs = [
            ex.submit(
                tomopy_dl.sirt,
                sino[s],
                centers[s],
                shared[s],
                theta,
                num_gridx=94,
                num_gridy=94,
                options={},
                num_iter=6,
            )
            for s in (slice(0, 2), slice(2, 3), slice(3, 5), slice(5, 6))
        ]
        for f in futs:
            f.result()
    np.testing.assert_allclose(shared, serial, atol=1e-6)


def test_string_path_numpy_wrapped_keywords(ref, sino):
    """TomoPy's string path turns keyword values into numpy arrays."""
    out = tomopy_style_call(
        tomopy_dl.sirt, sino[:1], ref["theta"], [47.0], 94, num_iter=np.array(3, np.int32), device=np.array("gpu")
    )
    expect = tomopy_style_call(tomopy_dl.sirt, sino[:1], ref["theta"], [47.0], 94, num_iter=3)
    np.testing.assert_array_equal(out, expect)


def test_unknown_keywords_are_accepted_with_a_warning(ref, sino):
    with pytest.warns(UserWarning, match="ignores keyword"):
        tomopy_style_call(tomopy_dl.fbp, sino[:1], ref["theta"], [47.0], 94, num_iter=10, filter_par=[0.5, 8])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tomopy_style_call(tomopy_dl.fbp, sino[:1], ref["theta"], [47.0], 94, filter_name="hann")


def test_contract_errors_name_the_argument(ref, sino):
    theta = ref["theta"].astype(np.float32)
    recon = np.full((2, 94, 94), 1e-6, np.float32)
    with pytest.raises(ValueError, match="theta"):
        tomopy_dl.sirt(sino[:2], np.full(2, 47, np.float32), recon, theta[:-1], num_gridx=94, num_gridy=94)
    with pytest.raises(ValueError, match="num_gridx"):
        tomopy_dl.sirt(sino[:2], np.full(2, 47, np.float32), recon, theta, num_gridx=64, num_gridy=94)
    with pytest.raises(TypeError, match="recon"):
        tomopy_dl.sirt(sino[:2], np.full(2, 47, np.float32), recon.astype(np.float64), theta)
    with pytest.raises(ValueError, match="recon"):
        tomopy_dl.sirt(sino[:2], np.full(2, 47, np.float32), recon[:1], theta)
    with pytest.raises(ValueError, match="center"):
        tomopy_dl.sirt(sino[:2], np.array([47, np.nan], np.float32), recon, theta)
