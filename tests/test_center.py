"""The rotation axis found from the data: Vo's method, the file job's centre, and the centre scan."""

import json
import warnings

import numpy as np
import pytest

from tomopy_dl.prep.center import AGREEMENT_PX, _shift_columns, _vo_mask, _vo_metric, find_center, find_center_vo
from tomopy_dl.sim import make_object, project


@pytest.mark.parametrize("center", [35.0, 28.5, 37.25])
def test_vo_finds_the_centre_projections_were_made_about(center):
    """recon's convention (TomoPy's find_center_vo says half a pixel less), to the fine step."""
    theta = np.linspace(0, np.pi, 180, endpoint=False).astype(np.float32)
    prj = project(make_object("porous", 64, 3, seed=1), theta, center=center, pad=False)
    assert abs(find_center_vo(prj, theta) - center) <= 0.25


@pytest.mark.parametrize("shift", [3.25, -5.5, 0.75, -0.25, 7.0, 0.0])
def test_the_one_axis_cubic_shift_is_ndimage_shift(shift):
    # The fine search's shift: 4 taps along the rows, where ndimage.shift takes 16 on 2D coefficients.
    from scipy import ndimage

    rng = np.random.default_rng(0)
    img = ndimage.gaussian_filter(rng.random((41, 63)), 2)
    want = ndimage.shift(ndimage.spline_filter(img, order=3, mode="mirror"), (0, shift), order=3, prefilter=False)
    pad = 12
    coef = np.pad(ndimage.spline_filter1d(img, order=3, axis=1, mode="mirror"), ((0, 0), (pad, pad)), mode="reflect")
    got = _shift_columns(coef, pad, img.shape[1], shift)
    k = int(np.ceil(shift)) if shift >= 0 else int(np.floor(shift))
    kept = slice(k, None) if k >= 0 else slice(None, k)  # what the search keeps; the rest is filled
    np.testing.assert_allclose(got[:, kept], want[:, kept], rtol=0, atol=1e-12)


@pytest.mark.parametrize("exact", [False, True])
@pytest.mark.parametrize("shape", [(60, 32), (61, 33)])
def test_vo_metric_on_half_spectra_equals_the_full_spectrum_sum(shape, exact):
    # The metric folds the mask onto rfft's half spectrum and shifts along one axis: the same as
    # |fft2| * mask over the whole stack, its mirror moved by ndimage.shift (exact) or np.roll.
    from scipy import fft, ndimage

    rng = np.random.default_rng(1)
    sino = ndimage.gaussian_filter(rng.random(shape), 1.5)
    nrow, ncol = shape
    mask = _vo_mask(2 * nrow, ncol, 0.25 * ncol, 3)
    centers = (ncol - 1) / 2 + np.array([-2.0, -0.5, 0.0, 1.5]) + (0.3 if exact else 0.0)
    got = _vo_metric(sino, centers, mask, exact)
    want = []
    for c in centers:
        shift = 2.0 * (c - (ncol - 1.0) / 2.0)
        if exact:
            moved = ndimage.shift(sino[:, ::-1], (0, shift), order=3, mode="constant", prefilter=True)
            k = int(np.ceil(shift)) if shift >= 0 else int(np.floor(shift))
        else:
            k = int(round(shift))
            moved = np.roll(sino[:, ::-1], k, axis=1)
        if k >= 0:
            moved[:, :k] = sino[::-1][:, :k]
        else:
            moved[:, k:] = sino[::-1][:, k:]
        want.append(np.mean(np.abs(fft.fftshift(fft.fft2(np.vstack((sino, moved))))) * mask))
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_vo_uses_the_first_half_of_a_full_turn():
    theta = np.linspace(0, 2 * np.pi, 360, endpoint=False).astype(np.float32)
    prj = project(make_object("porous", 64, 3, seed=2), theta, center=33.0, pad=False)
    assert abs(find_center_vo(prj, theta) - 33.0) <= 0.25


def test_vo_refuses_less_than_half_a_turn():
    theta = np.linspace(0, np.deg2rad(120), 90).astype(np.float32)
    prj = np.ones((90, 2, 32), np.float32)
    with pytest.raises(ValueError, match="half a turn"):
        find_center_vo(prj, theta)


def test_find_center_reports_rows_and_pair():
    theta = np.linspace(0, np.pi, 181).astype(np.float32)
    prj = project(make_object("porous", 64, 40, seed=3), theta, center=30.5, pad=False)
    est = find_center(prj, theta)
    assert sorted(est.by_row) == [10, 20, 30]
    assert abs(est.center - 30.5) <= 0.25 and est.agrees and est.spread <= AGREEMENT_PX
    assert "30.50 at row 20" in est.describe()


def test_recon_file_finds_the_tooth_axis_and_records_it(tooth_h5, tmp_path):
    """The tooth turns about 295.5 (TomoPy's find_center_vo: 295.0, counted from the first pixel's centre)."""
    from tomopy_dl.pipeline import recon_file

    params = recon_file(tooth_h5, tmp_path / "rec", algorithm="fbp", progress=False)
    assert params["center"] == pytest.approx(295.5, abs=0.25)
    record = json.loads((tmp_path / "rec" / "params.json").read_text())["center_estimate"]
    assert record["found"] == params["center"] and record["agrees"]


def test_a_centre_far_from_the_data_is_warned_about(tooth_h5, tmp_path):
    from tomopy_dl.pipeline import recon_file

    with pytest.warns(UserWarning, match=r"--center 320 is \+24\.5 px from the axis found"):
        params = recon_file(tooth_h5, tmp_path / "rec", algorithm="fbp", center=320, progress=False)
    assert params["center"] == 320
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        recon_file(tooth_h5, tmp_path / "near", algorithm="fbp", center=296.0, progress=False)


def test_center_scan_writes_a_slice_per_centre_and_a_contact_sheet(tooth_h5, tmp_path):
    import tifffile

    from tomopy_dl.cli import main

    out = tmp_path / "scan"
    assert main(["recon", str(tooth_h5), "--out", str(out), "--algorithm", "fbp", "--center-scan", "294:297:1",
                 "--no-progress"]) == 0  # fmt: skip
    names = sorted(p.name for p in out.glob("center_*.tiff"))
    assert names == [f"center_{c:07.2f}.tiff" for c in (294.0, 295.0, 296.0, 297.0)]
    assert tifffile.imread(out / names[0]).shape == (640, 640)
    assert (out / "contact_sheet.png").stat().st_size > 10_000
    params = json.loads((out / "params.json").read_text())
    assert params["centers"] == [294.0, 295.0, 296.0, 297.0] and params["center_found"] == pytest.approx(295.5)
    assert params["center_marked"] in (295.0, 296.0)  # the trial nearest the axis found is marked on the sheet


@pytest.mark.parametrize("text", ["290:300", "300:290:1", "290:300:0", "a:b:c", "0:1000:0.1"])
def test_center_scan_refuses_bad_ranges(tooth_h5, tmp_path, text, capsys):
    from tomopy_dl.cli import main

    assert main(["recon", str(tooth_h5), "--out", str(tmp_path / "s"), "--center-scan", text]) == 2
    assert "--center-scan" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def _tall_file(path, center: float, rows: int = 40):
    """A Data Exchange file of ``rows`` identical rows of a porous slice turning about ``center``."""
    import h5py

    theta = np.linspace(0, 180, 121)
    line = project(make_object("porous", 64, 3, seed=4)[:1], np.deg2rad(theta).astype(np.float32), center=center,
                   pad=False)[:, 0]  # fmt: skip
    counts = (4.0e4 * np.exp(-0.02 * line)).astype(np.uint16)
    with h5py.File(path, "w") as f:
        f["exchange/data"] = np.repeat(counts[:, None], rows, axis=1)
        f["exchange/data_white"] = np.full((2, rows, counts.shape[1]), 40000, np.uint16)
        f["exchange/data_dark"] = np.zeros((2, rows, counts.shape[1]), np.uint16)
        f["exchange/theta"] = theta
    return path


def test_a_given_centre_is_checked_on_one_band_and_auto_searches_three(tmp_path):
    from tomopy_dl.pipeline import file_center, recon_file

    path = _tall_file(tmp_path / "scan.h5", 35.0)
    assert sorted(file_center(path).by_row) == [10, 20, 30]
    assert sorted(file_center(path, bands=1).by_row) == [20]
    with pytest.raises(ValueError, match="bands must be 1 or 3"):
        file_center(path, bands=2)
    auto = recon_file(path, tmp_path / "auto", algorithm="fbp", slices=(0, 40), progress=False)
    assert auto["center"] == pytest.approx(35.0, abs=0.25)
    with pytest.warns(UserWarning, match=r"--center 40 is \+5\.0 px from the axis found"):
        recon_file(path, tmp_path / "given", algorithm="fbp", center=40.0, progress=False)
    record = json.loads((tmp_path / "given" / "params.json").read_text())["center_estimate"]
    assert list(record["by_row"]) == ["20"] and record["given"] == 40.0
