"""Jitter correction: residual RMSE (pixels) and seconds per case.

Objects not used in training:
* shepp3d: the 3D Shepp-Logan head, a held-out family;
* particles: the 'solid' family with seeds the training never draws
  (training seeds come from its own generator);
* tooth: the real projections (../shared/data/tooth.h5, both rows,
  flat/dark normalised, -log, columns binned x2, centre 148 of 320), with
  column jitter only, since two rows cannot carry a vertical one.

Jitter: uniform +-10 px, sub-pixel, per projection and axis. Noise: none,
Poisson (1e4 photons, densest ray 13.5%), salt-and-pepper 20% and 40%.
With ``--realistic``: textured bodies (the 'porous' and 'cracked' families,
128 px) and a thin rod mounted off the axis with few features along its
length (the 'rod' family), at 90 and 180 projections, with "detector" noise
(Poisson, 2% hot or dead pixels, a flat field drifting by up to 3% per
projection) and with 20% salt-and-pepper; the rotation axis is 6 px right of
the detector middle and no method is told where (as a user runs it).
With ``--low-dose``: particles and a porous body at 96 px, 45 and 90
projections, Poisson noise at 1e2 and 1e3 photons (the regime where the
network beats phase correlation).
Errors are RMS per axis, in pixels of the projections. Rows: after removing
the mean error (jitter is known up to a common offset). Columns: "col" after
removing the mean; "col*" after removing the fit a + b cos + c sin, the part
of a column jitter that equals a translation of the object and that no method
can observe (with 181 random shifts of +-10 px it is about 0.6 px RMS by
itself). "RMSE" is the worse of row and col*. "reproj" is the reprojection
residual |A x - p| / |p| of the noise-free jittered stack moved back by the
method's shifts, less their constant column offset from the truth (it moves
the rotation axis, which no method is told), with x from 20 SIRT iterations
about the true axis, on 16 of the inner 60% of the rows and the inner 60% of
the columns; "(floor)" is the same with the true shifts, and the summary
gives each method's mean ratio to it (1 is perfect).

Methods: align_jitter with iters=1 and 2 (the default estimator 'resnet': the
network reads columns, and rows against held-out reprojections);
"coarse+auto(2)", estimator='auto' (rows read by phase correlation and by the
network, the more consistent kept); "xcorr(2) plain", our plain
baseline (the same reconstruct-reproject loop with scikit-image phase
correlation, two passes, no coarse start, no filtering, no refinement);
"coarse+xcorr(2)", align_jitter's whole pipeline with phase correlation in
place of the network (what the network adds); TomoPy's align_joint(iters=20)
and align_seq when TomoPy is installed.

With ``--tilt-series``: electron-tomography-like cases instead. Nanoparticles
(the 'solid' family, filling 62% of the view) seen as HAADF counts without
-log (Poisson, 200 counts at the brightest pixel), the tilt axis inclined by
2.6 degrees in the detector plane, jitter up to +-30 px: 61 tilts of 208 px
over +-60 degrees, and 77 tilts of 256 px over +-76 degrees on a support film
(at zero tilt 0.1 of the brightest pixel, growing as 1 / cos(tilt)), the
geometry of a measured series that we keep aside. Scores: the error of the
tilt-axis angle; the row and column (col*) shift errors against the known
jitter, in the frame of the method's own axis; and the reprojection residual
|A x - p| / |p| of the series aligned by the method's axis and shifts, less
its (known) film (x: 20 SIRT iterations of that aligned series itself; inner
60% of the rows and columns, where no method's shifts bring in blank edges).
The film is removed for the score only, since no method reconstructs it:
every method is given the series with its film. Methods: align_jitter on
the inclined series (each estimator), align_tilt_series (tilt axis, then
align_jitter; each estimator, and with ``background=None``), the classic
electron-tomography baseline "tilt axis + xcorr" (our tilt-axis estimate,
then cumulative cross-correlation of neighbouring tilts with a cosine
stretch, as IMOD's tiltxcorr does), and TomoPy's align_joint(20) when
installed.

With ``--dense``: the working copy at its full 256 px and 900 projections
(a beamline scan's density, where ``projector='auto'`` takes the Fourier
projector): a porous body and particles with "detector" noise, the axis 12 px
right of the middle, align_jitter(2) with each projector.

Usage: python benchmarks/jitter.py [--sizes 96,128] [--amplitude 10] [--no-tooth] [--tilt-series | --realistic |
--low-dose | --dense]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

import tomopy_dl
from tomopy_dl.metrics import jitter_rmse
from tomopy_dl.prep.normalize import minus_log, normalize
from tomopy_dl.prep.registration import phase_correlation_shifts
from tomopy_dl.prep.tilt_axis import estimate_tilt_axis, rotate_projections
from tomopy_dl.sim import add_jitter, add_poisson_noise, add_salt_and_pepper, make_object, project

SHARED = Path(os.environ.get("TOMOPY_DL_SHARED", Path(__file__).resolve().parents[2] / "shared"))
NOISES = ["none", "poisson", "s&p 20%", "s&p 40%"]


# The alternative suites: (noises, object families, numbers of projections, size in pixels,
# rotation axis right of the detector middle in pixels: not given to any method when nonzero).
SUITES = {
    "realistic": (["detector", "s&p 20%"], ("porous", "cracked", "rod"), (90, 180), 128, 6.0),
    "low_dose": (["poisson 1e2", "poisson 1e3"], ("solid", "porous"), (45, 90), 96, 0.0),
    "dense": (["detector"], ("porous", "solid"), (900,), 256, 12.0),
}


def projector_methods():
    """``--dense``: align_jitter's default run with each projector of steps A and B (issue 32, item 6)."""
    return {
        f"align_jitter(2) {name}": lambda p, t, c, ax, name=name: tomopy_dl.align_jitter(
            p, t, iters=2, center=c, axes=ax, projector=name, progress=False
        )
        for name in ("siddon", "fourier")
    }


def detector(prj, seed: int):
    """A real detector: Poisson (1e4 photons), 2% hot or dead pixels, and a flat field that drifts.

    The drift is a smooth transmission change, different in every projection
    (a tilted plane of up to +-3%), that the flat taken before the scan did
    not see; after -log it is a slowly varying background.
    """
    rng = np.random.default_rng(seed)
    out = add_poisson_noise(prj, photons=1e4, seed=seed)
    n, rows, cols = out.shape
    k = 2.0 / float(prj.max())  # add_poisson_noise's scale from line integrals to attenuation
    yy, xx = np.mgrid[-1 : 1 : rows * 1j, -1 : 1 : cols * 1j]
    a, b, c = (rng.uniform(-0.015, 0.015, n)[:, None, None] for _ in range(3))
    out = out - np.log1p(a + b * yy + c * xx) / k
    bad = rng.random(out.shape[1:]) < 0.02  # the same pixels in every projection
    out[:, bad] = np.where(rng.random(int(bad.sum())) < 0.5, 0.0, 3.0 / k)[None]
    return out.astype(np.float32)


def noisy(prj, kind: str, seed: int):
    if kind == "none":
        return prj
    if kind == "poisson":
        return add_poisson_noise(prj, photons=1e4, seed=seed)
    if kind.startswith("poisson "):  # low dose: "poisson 1e2" photons
        return add_poisson_noise(prj, photons=float(kind.split()[1]), seed=seed)
    if kind == "detector":
        return detector(prj, seed)
    return add_salt_and_pepper(prj, float(kind.split()[1].rstrip("%")) / 100, seed=seed)


def synthetic_case(family: str, n: int, amplitude: float, seed: int, n_angles: int = 181, axis_offset: float = 0.0):
    """Jittered projections ``n`` wide; with ``axis_offset`` the axis is unknown to the methods (centre None)."""
    theta = np.linspace(0, np.pi, n_angles, dtype=np.float32)
    margin = int(np.ceil(amplitude)) + 2
    # Objects stay within 0.45 n of the axis: an offset up to 0.05 n keeps them in view.
    clean = project(make_object(family, n, n + 2 * margin, seed), theta, center=n / 2 + axis_offset, pad=False)
    prj, sx, sy = add_jitter(clean, amplitude, seed=seed + 1, margin_rows=margin)
    return prj, theta, sx, sy, None if axis_offset else n / 2, "both"


def tooth_case(amplitude: float, seed: int):
    import h5py

    with h5py.File(SHARED / "data" / "tooth.h5", "r") as f:
        data = f["exchange/data"][:].astype(np.float64)
        white = f["exchange/data_white"][:]
        dark = f["exchange/data_dark"][:]
        deg = f["exchange/theta"][:]
    prj = minus_log(normalize(data, white, dark))
    prj = prj.reshape(prj.shape[0], prj.shape[1], -1, 2).mean(3).astype(np.float32)
    theta = np.deg2rad(deg).astype(np.float32)
    jittered, sx, sy = add_jitter(prj, amplitude, seed=seed, axes="col")
    return jittered, theta, sx, sy, 148.0, "col"


def methods(has_tomopy: bool):
    out = {
        "align_jitter(1)": lambda p, t, c, ax: tomopy_dl.align_jitter(p, t, iters=1, center=c, axes=ax, progress=False),
        "align_jitter(2)": lambda p, t, c, ax: tomopy_dl.align_jitter(p, t, iters=2, center=c, axes=ax, progress=False),
        "coarse+auto(2)": lambda p, t, c, ax: tomopy_dl.align_jitter(
            p, t, iters=2, center=c, axes=ax, estimator="auto", progress=False
        ),
        "xcorr(2) plain": lambda p, t, c, ax: tomopy_dl.align_jitter(
            p,
            t,
            iters=2,
            center=c,
            axes=ax,
            estimator="xcorr",
            coarse=False,
            despeckle=False,
            refine=False,
            progress=False,
        ),
        "coarse+xcorr(2)": lambda p, t, c, ax: tomopy_dl.align_jitter(
            p, t, iters=2, center=c, axes=ax, estimator="xcorr", progress=False
        ),
    }
    if has_tomopy:
        import tomopy

        out["tomopy align_joint(20)"] = lambda p, t, c, ax: tomopy.align_joint(
            p.copy(), t, iters=20, center=c, debug=False
        )
        out["tomopy align_seq"] = lambda p, t, c, ax: tomopy.align_seq(p.copy(), t, center=c, debug=False)
    return out


def tilt_series_case(seed: int, *, half_range: float = 60.0, tilts: int = 61, size: int = 208, film: float = 0.0,
                     amplitude: float = 30.0, phi: float = 2.6):  # fmt: skip
    """HAADF-like counts of nanoparticles over +-``half_range`` degrees, inclined axis, large jitter.

    ``film``: a support film under the particles, seen through ``1 / cos(tilt)``
    of itself, its level at zero tilt that fraction of the brightest pixel;
    it fills the field of view, so it goes on after the shifts. Returns the
    counts, the angles, the axis, the jitter and the film's level per tilt
    (the scores remove it, as none of the methods can reconstruct it).
    """
    theta = np.deg2rad(np.linspace(-half_range, half_range, tilts)).astype(np.float32)
    obj = int(size * 128 / 208) // 2 * 2  # the particles fill the same part of the view at every size
    clean = project(make_object("solid", obj, obj, seed=seed % 1000), theta, pad=False)
    edge = (size - obj) // 2
    clean = np.pad(clean, ((0, 0), (edge, size - obj - edge), (edge, size - obj - edge)))
    inclined = rotate_projections(clean, phi)
    jittered, sx, sy = add_jitter(inclined, amplitude, seed=seed + 1)
    level = (film * float(jittered.max()) / np.cos(theta)).astype(np.float32)
    scale = 200.0 / float(jittered.max() + level.max())
    rng = np.random.default_rng(seed + 2)
    counts = rng.poisson(np.clip(jittered + level[:, None, None], 0, None) * scale) / scale
    return counts.astype(np.float32), theta, phi, sx, sy, level


def reprojection_residual(aligned: np.ndarray, theta: np.ndarray, center: float | None = None,
                          rows: int | None = None) -> float:  # fmt: skip
    """|A x - p| / |p| on the inner 60% of rows and columns, x from 20 SIRT iterations of ``aligned`` itself.

    ``rows``: at most that many of the inner rows, evenly spaced (each row is
    reconstructed on its own, so this is the same measure on fewer rows).
    """
    n, nrows, cols = aligned.shape
    inner = np.arange(nrows // 5, nrows - nrows // 5) if nrows >= 5 else np.arange(nrows)
    if rows is not None and inner.size > rows:
        inner = inner[np.linspace(0, inner.size - 1, rows).round().astype(int)]
    part = np.ascontiguousarray(aligned[:, inner])
    rec = tomopy_dl.recon(part, theta, center, algorithm="sirt", num_iter=20, progress=False)
    rep = tomopy_dl.project(rec, theta, center, pad=False)
    c = slice(cols // 5, cols - cols // 5)
    return float(np.linalg.norm(rep[..., c] - part[..., c]) / np.linalg.norm(part[..., c]))


def xray_residual(clean: np.ndarray, theta: np.ndarray, center: float, ex, ey, sy) -> float:
    """The reprojection residual of the noise-free jittered stack moved back by a method's shifts.

    The shifts' constant column offset from the truth moves the rotation axis,
    which no method told nothing of the axis can observe: it is taken off, and
    the stack is reconstructed about the true axis (a + b cos + c sin, the
    rest of the unobservable part, is a translation of the object, which the
    reconstruction follows). On 16 of the inner rows.
    """
    moved = tomopy_dl.shift_images(clean, ex, np.asarray(ey) - np.mean(np.asarray(ey) - sy))
    return reprojection_residual(moved, theta, center, rows=16)


def _stretch_cols(img: torch.Tensor, factor: float) -> torch.Tensor:
    """Stretch an image along the columns about its centre (the cosine stretch of tilt-series registration)."""
    cols = img.shape[-1]
    c = (cols - 1) / 2
    x = (torch.arange(cols, dtype=img.dtype) - c) / factor + c  # source column of each output column
    grid_x = (2 * x / (cols - 1) - 1)[None, None, :, None].expand(1, img.shape[0], cols, 1)
    grid_y = torch.linspace(-1, 1, img.shape[0])[None, :, None, None].expand(1, img.shape[0], cols, 1)
    grid = torch.cat([grid_x, grid_y], dim=-1)
    return torch.nn.functional.grid_sample(img[None, None], grid, align_corners=True)[0, 0]


def xcorr_tilt_baseline(prj: np.ndarray, theta: np.ndarray):
    """The classic ET alignment: tilt axis, then neighbours cross-correlated outward from zero tilt, cumulated."""
    phi = estimate_tilt_axis(prj, theta)
    up = torch.from_numpy(rotate_projections(prj, -phi))
    order = np.argsort(theta)
    zero = int(np.argmin(np.abs(theta[order])))
    d = torch.zeros(len(theta), 2, dtype=torch.float64)
    for direction in (1, -1):
        k = zero
        while 0 <= k + direction < len(order):
            i, j = order[k + direction], order[k]  # register i against its neighbour j, nearer zero tilt
            ref = _stretch_cols(up[j], float(np.cos(theta[i]) / np.cos(theta[j])))
            step = phase_correlation_shifts(up[i][None].numpy(), ref[None].numpy(), upsample_factor=20)[0]
            d[i] = d[j] + torch.from_numpy(step)
            k += direction
    d -= d.mean(0)
    return phi, d[:, 0].numpy(), d[:, 1].numpy()


TILT_CASES = {  # name: keywords of tilt_series_case
    "+-60 deg, 61 tilts of 208x208": dict(half_range=60.0, tilts=61, size=208),
    "+-76 deg, 77 tilts of 256x256, support film 0.1": dict(half_range=76.0, tilts=77, size=256, film=0.1),
}


def tilt_series(args, has_tomopy: bool) -> None:
    for label, kw in TILT_CASES.items():
        prj, theta, phi_true, sx, sy, level = tilt_series_case(args.seed, **kw)
        print(f"\ntilt series {label}: axis {phi_true} deg, jitter +-30 px, HAADF counts (200 at the peak), no -log")
        # Scores use the series less its film (known here): no method reconstructs a film.
        free = prj - level[:, None, None]
        # Each method gives (axis angle or None, row shifts, column shifts) of the series rotated by -angle.
        runs = {
            "unaligned": lambda: (None, np.zeros(len(theta)), np.zeros(len(theta))),
            # The floor: the known jitter, rotated into the upright frame, and the known axis.
            "truth (known shifts, axis)": lambda: (phi_true, *_rotated(sx, sy, phi_true)),
            "align_jitter auto": lambda: (None, *_jitter(prj, theta, "auto")),
            "align_jitter resnet": lambda: (None, *_jitter(prj, theta, "resnet")),
            "align_jitter xcorr": lambda: (None, *_jitter(prj, theta, "xcorr")),
            "align_tilt_series auto": lambda: _tilt(prj, theta, "auto"),
            "align_tilt_series resnet": lambda: _tilt(prj, theta, "resnet"),
            "align_tilt_series xcorr": lambda: _tilt(prj, theta, "xcorr"),
            "align_tilt_series no bg": lambda: _tilt(prj, theta, "resnet", background=None),
            "tilt axis + xcorr (ET)": lambda: xcorr_tilt_baseline(prj, theta),
        }
        if has_tomopy:
            import tomopy

            runs["tomopy align_joint(20)"] = lambda: (None, *tomopy.align_joint(prj.copy(), theta, iters=20,
                                                                                debug=False)[1:3])  # fmt: skip
        print(f"{'method':26s} {'axis err':>8s} {'row px':>7s} {'col* px':>7s} {'reproj. residual':>16s} {'s':>7s}")
        for name, run in runs.items():
            t0 = time.perf_counter()
            phi, ex, ey = run()
            dt = time.perf_counter() - t0
            used = phi or 0.0
            rx, ry = _rotated(sx, sy, used)
            err = f"{abs(phi - phi_true):8.2f}" if phi is not None else f"{'-':>8s}"
            aligned = tomopy_dl.shift_images(rotate_projections(free, -used) if used else free, ex, ey)
            print(f"{name:26s} {err} {jitter_rmse(ex, rx):7.2f} {jitter_rmse(ey, ry, theta):7.2f} "
                  f"{reprojection_residual(aligned, theta):16.4f} {dt:7.2f}", flush=True)  # fmt: skip


def _rotated(sx, sy, degrees: float):
    """Shifts of the detector frame as seen in the series rotated by ``-degrees`` (the frame of the estimates)."""
    a = np.deg2rad(degrees)
    return np.cos(a) * sx + np.sin(a) * sy, -np.sin(a) * sx + np.cos(a) * sy


def _jitter(prj, theta, estimator):
    return tomopy_dl.align_jitter(prj, theta, estimator=estimator, progress=False)[1:3]


def _tilt(prj, theta, estimator, **kwargs):
    _, sx, sy, _, phi = tomopy_dl.align_tilt_series(prj, theta, estimator=estimator, progress=False, **kwargs)
    return phi, sx, sy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="96,128")
    ap.add_argument("--amplitude", type=float, default=10.0)
    ap.add_argument("--no-tooth", action="store_true")
    ap.add_argument("--seed", type=int, default=123457)
    which = ap.add_mutually_exclusive_group()
    which.add_argument("--tilt-series", action="store_true", help="the electron-tomography case instead")
    which.add_argument("--realistic", action="store_true",
                    help="textured objects (porous, cracked) at 90 and 180 projections with detector defects, "
                         "and 20%% salt-and-pepper, instead of the default cases")  # fmt: skip
    which.add_argument("--low-dose", action="store_true",
                    help="particles and a porous body, 96 px, 45 and 90 projections, 1e2 and 1e3 photons")  # fmt: skip
    which.add_argument("--dense", action="store_true",
                    help="a porous body and particles, 256 px, 900 projections, detector noise, axis 12 px off: "
                         "align_jitter with the Siddon and the Fourier projector")  # fmt: skip
    args = ap.parse_args()
    try:
        import tomopy  # noqa: F401

        has_tomopy = True
    except ImportError:
        has_tomopy = False
    dev = "cuda" if torch.cuda.is_available() else f"cpu ({torch.get_num_threads()} threads)"
    print(
        f"device: {torch.cuda.get_device_name() if torch.cuda.is_available() else dev}; tomopy installed: {has_tomopy}"
    )
    if args.tilt_series:
        tilt_series(args, has_tomopy)
        return

    cases = []
    noises = NOISES
    suite = SUITES.get("realistic" if args.realistic else "low_dose" if args.low_dose else
                       "dense" if args.dense else "")  # fmt: skip
    if suite:
        noises, families, angle_counts, size, offset = suite
        for family in families:
            for n_angles in angle_counts:
                cases.append((f"{family} {n_angles}p", lambda f=family, a=n_angles, n=size, o=offset: synthetic_case(
                    f, n, args.amplitude, args.seed, n_angles=a, axis_offset=o), size / 2 + offset))  # fmt: skip
    for n in (int(s) for s in args.sizes.split(",")) if not suite else ():
        for family, label in (("shepp3d", "shepp3d"), ("solid", "particles")):
            cases.append((f"{label} {n}", lambda fam=family, n=n: synthetic_case(fam, n, args.amplitude, args.seed),
                          n / 2))  # fmt: skip
    if not args.no_tooth and not suite:
        cases.append(("tooth 2x320", lambda: tooth_case(args.amplitude, args.seed), 148.0))

    algs = projector_methods() if args.dense else methods(has_tomopy)
    # Build projector caches and load weights outside the timings.
    warm = synthetic_case("solid", 32, 2.0, 0)
    tomopy_dl.align_jitter(warm[0], warm[1], iters=1, progress=False)

    print(f"\n{'case':14s} {'noise':9s} {'method':24s} {'RMSE':>6s} {'row':>6s} {'col':>6s} {'col*':>6s} "
          f"{'reproj':>7s} {'s':>7s}")  # fmt: skip
    summary: dict = {}
    for name, make, axis in cases:
        prj, theta, sx, sy, center, axes = make()
        # The floor of the reprojection residual: the true shifts.
        floor = xray_residual(prj, theta, axis, sx, sy, sy)
        print(f"{name:14s} {'(floor)':9s} {'known shifts':24s} {'':6s} {'':6s} {'':6s} {'':6s} {floor:7.4f}")
        for noise in noises:
            data = noisy(prj, noise, args.seed + 7)
            for method, fn in algs.items():
                t0 = time.perf_counter()
                _, ex, ey, _ = fn(data, theta, center, axes)
                dt = time.perf_counter() - t0
                r_row = jitter_rmse(ex, sx) if axes == "both" else float("nan")
                r_col = jitter_rmse(ey, sy)
                r_obs = jitter_rmse(ey, sy, theta)
                worst = max(r_obs, r_row) if axes == "both" else r_obs
                res = xray_residual(prj, theta, axis, ex, ey, sy)
                summary.setdefault(method, []).append((noise, worst, dt, res / floor))
                print(
                    f"{name:14s} {noise:9s} {method:24s} {worst:6.2f} {r_row:6.2f} {r_col:6.2f} {r_obs:6.2f} "
                    f"{res:7.4f} {dt:7.2f}",
                    flush=True,
                )
        zero = np.zeros_like(sy)
        before = jitter_rmse(zero, sy, theta)
        if axes == "both":
            before = max(before, jitter_rmse(zero, sx))
        zeros = np.zeros_like(sx)
        print(f"{name:14s} {'(jitter)':9s} {'uncorrected':24s} {before:6.2f} {'':6s} {'':6s} {'':6s} "
              f"{xray_residual(prj, theta, axis, zeros, zeros, sy):7.4f}")  # fmt: skip

    print(f"\n{'method':24s} {'mean RMSE without s&p':>24s} {'mean RMSE s&p':>14s} {'reproj / floor':>15s} "
          f"{'mean s':>8s}")  # fmt: skip
    for method, rows in summary.items():
        clean = [w for noise, w, *_ in rows if not noise.startswith("s&p")]
        sp = [w for noise, w, *_ in rows if noise.startswith("s&p")]
        mean_sp = f"{np.mean(sp):14.2f}" if sp else f"{'-':>14s}"
        ratio = np.mean([r for *_, r in rows])
        print(f"{method:24s} {np.mean(clean):24.2f} {mean_sp} {ratio:15.3f} {np.mean([d for _, _, d, _ in rows]):8.2f}")


if __name__ == "__main__":
    main()
