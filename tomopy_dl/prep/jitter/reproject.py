"""Step A and B of a pass: rough reconstructions and their reprojections, within a memory budget."""

from __future__ import annotations

import numpy as np
import torch

from ...physics import choose_projector, estimate_matrix_bytes, get_projector, memory_budget
from ...solvers.analytic import fbp
from ...solvers.iterative import mlem, sirt

# Slices reconstructed together in step A: bounds the temporaries on tall stacks.
_SLICES_PER_BATCH = 128


# Projections over half a turn per column that resolve a reconstruction (the sampling criterion,
# pi / 2); step A reconstructs from no more than twice that.
_ANGLES_PER_COLUMN = np.pi / 2


def rough_reprojection(
    prj: torch.Tensor,
    theta: np.ndarray,
    center: float,
    algorithm: str = "sirt",
    num_iter: int = 5,
    *,
    projector: str = "siddon",
) -> torch.Tensor:
    """Steps A and B: reconstruct every row of a stack roughly, and reproject it.

    Step A splits the angles it reconstructs from (all, or a subset of a
    dense scan: :func:`reconstruction_angles`) into two interleaved halves
    (in angle order), reconstructs each, and takes their mean; step B
    projects the mean at every angle. Why halves: the same two
    reconstructions give :func:`held_out_reprojection` too, so a pass that
    needs both pays for one. On the 12 realistic cases of
    ``benchmarks/jitter.py`` the residuals of ``align_jitter`` were those of
    one reconstruction from all the angles (mean 0.244 px both), in 0.80
    times the time.

    Parameters
    ----------
    prj : torch.Tensor, shape (nangles, rows, cols)
    theta : ndarray, shape (nangles,)
        Angles in radians.
    center : float
        Rotation axis in pixels of ``prj``.
    algorithm : {'sirt', 'mlem', 'fbp'}
        FBP alone, or FBP (clipped at zero) followed by ``num_iter``
        iterations of SIRT or MLEM.
    num_iter : int
    projector : {'siddon', 'fourier', 'fourier-rays', 'auto'}
        The projector of steps A and B (see :func:`tomopy_dl.physics.get_projector`).

    Returns
    -------
    torch.Tensor, shape (nangles, rows, cols)
        The reprojection; see :func:`_inconsistency` for how it is compared.

    See Also
    --------
    held_out_reprojection : each projection predicted without its own data.
    """
    return _reprojection(prj, theta, center, algorithm, num_iter, held_out=False, projector=projector)[0]


def held_out_reprojection(
    prj: torch.Tensor,
    theta: np.ndarray,
    center: float,
    algorithm: str = "sirt",
    num_iter: int = 5,
    *,
    projector: str = "siddon",
) -> torch.Tensor:
    """Each projection as predicted by a rough reconstruction that was not given it.

    Each of :func:`rough_reprojection`'s two half reconstructions predicts
    the other half's projections; angles step A does not use are predicted
    by the mean of both, as there.

    Why: a parallel-beam slice holds one row of every projection, so a
    projection's own row is part of the reconstruction it is compared with,
    and pulls its row displacement towards zero. On a rod with few features
    along its length, 180 projections under 20% salt-and-pepper, three
    passes against :func:`rough_reprojection` took the row error from 1.07
    to 1.02 px; against this, to 0.39 px. Columns keep
    :func:`rough_reprojection`, which measured less noisy for them.

    Parameters
    ----------
    prj, theta, center, algorithm, num_iter
        As in :func:`rough_reprojection`.

    Returns
    -------
    torch.Tensor, shape (nangles, rows, cols)

    Examples
    --------
    >>> from tomopy_dl.sim import make_object, project
    >>> theta = np.linspace(0, np.pi, 60, endpoint=False).astype(np.float32)
    >>> prj = torch.from_numpy(project(make_object("solid", 32, 4, seed=1), theta, pad=False))
    >>> rep = held_out_reprojection(prj, theta, 16.0)
    >>> bool(torch.linalg.vector_norm(rep - prj) < 0.2 * torch.linalg.vector_norm(prj))
    True
    """
    return _reprojection(prj, theta, center, algorithm, num_iter, held_out=True, projector=projector)[1]


def _reprojection(
    prj: torch.Tensor,
    theta: np.ndarray,
    center: float,
    algorithm: str,
    num_iter: int,
    held_out: bool,
    *,
    projector: str = "siddon",
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """:func:`rough_reprojection`'s result and, with ``held_out``, :func:`held_out_reprojection`'s."""
    n, rows, cols = prj.shape
    dev = prj.device
    # Resolved once for the whole stack: the halves and the rest are parts of one geometry.
    projector = choose_projector(projector, theta, cols, cols, dev)
    used = reconstruction_angles(theta, cols)
    order = used[np.argsort(theta[used], kind="stable")]
    halves = (np.sort(order[0::2]), np.sort(order[1::2]))
    rest = np.setdiff1d(np.arange(n), used)
    # Angles step A does not use are only projected onto: their matrix is kept without its
    # transpose, for as many of them as fit the budget beside the halves' (the rest go
    # matrix-free). Matrices are built only where all of them fit the budget at once; otherwise the
    # cache would drop and rebuild them on every use. Measured at 900 projections of 256 columns
    # (450 of them unused): their projection took 0.24 s by matrix, 2.89 s matrix-free, for 64 rows.
    siddon = projector == "siddon"  # the Fourier projector has no matrix to budget
    halves_bytes = sum(estimate_matrix_bytes(theta[h], cols, cols, cols) for h in halves) if siddon else 0
    budget = memory_budget()
    if not siddon:
        fit = rest.size
    else:
        fit = _fitting_prefix(theta[rest], cols, budget - halves_bytes) if halves_bytes <= budget else 0

    def geometry(angles: np.ndarray, matrix: bool, forward_only: bool = False):
        return get_projector(theta[angles], cols, cols, cols, center=center, device=dev, projector=projector,
                             method="auto" if matrix else "matrix_free", forward_only=forward_only)  # fmt: skip

    parts = [geometry(h, halves_bytes <= budget) for h in halves]
    index = [torch.as_tensor(h, device=dev) for h in halves]
    others = [(torch.as_tensor(a, device=dev), geometry(a, m, forward_only=True))
              for a, m in ((rest[:fit], True), (rest[fit:], False)) if a.size]  # fmt: skip
    sino = prj.permute(1, 0, 2)
    full = torch.empty_like(sino)
    held = torch.empty_like(sino) if held_out else None
    for start in range(0, rows, _SLICES_PER_BATCH):
        stop = start + _SLICES_PER_BATCH
        part = sino[start:stop]
        xs = [_rough(part[:, i].contiguous(), o, algorithm, num_iter) for i, o in zip(index, parts)]
        x = 0.5 * (xs[0] + xs[1])
        for k in (0, 1):
            full[start:stop, index[k]] = parts[k](x)
            if held_out:  # each half predicts the other's projections
                held[start:stop, index[k]] = parts[k](xs[1 - k])
        for i, o in others:  # the mean of the two predictions is the prediction of the mean: A is linear
            full[start:stop, i] = o(x)
            if held_out:
                held[start:stop, i] = full[start:stop, i]
    return full.permute(1, 0, 2).contiguous(), (held.permute(1, 0, 2).contiguous() if held_out else None)


def _fitting_prefix(theta: np.ndarray, cols: int, budget: float) -> int:
    """How many of ``theta``, from the first, a forward-only matrix of ``cols`` columns fits in ``budget`` bytes."""
    lo, hi = 0, theta.size
    while lo < hi:  # the size grows with every angle added
        mid = (lo + hi + 1) // 2
        if estimate_matrix_bytes(theta[:mid], cols, cols, cols, forward_only=True) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _rough(sino: torch.Tensor, op, algorithm: str, num_iter: int) -> torch.Tensor:
    """Step A on a batch of sinograms: FBP, then ``num_iter`` SIRT or MLEM iterations."""
    x = fbp(sino, op, filter_name="shepp")
    if algorithm == "sirt" and num_iter:
        x = sirt(sino, op, init=x.clamp_min(0), num_iter=num_iter)
    elif algorithm == "mlem" and num_iter:
        x = mlem(sino, op, init=x.clamp_min(1e-6), num_iter=num_iter)
    return x


def reconstruction_angles(theta: np.ndarray, cols: int) -> np.ndarray:
    """Indices of the angles that step A reconstructs from: all, or every k-th in angle order.

    A ``cols``-wide image is resolved by about ``pi / 2 * cols`` projections
    over half a turn; more add cost, not detail. A 900-projection scan's
    256-wide working copy has a projector matrix of 1.15 GB, over the 1 GB
    budget, which sends it down the matrix-free path (7-12 times slower per
    use, measured at 512 columns); every other angle gives a 0.57 GB matrix.

    Parameters
    ----------
    theta : ndarray, shape (nangles,)
        Angles in radians, in any order.
    cols : int
        Width of the images reconstructed.

    Returns
    -------
    ndarray of int, shape (nused,)
        Indices into ``theta``, ascending.

    Examples
    --------
    >>> reconstruction_angles(np.linspace(0, np.pi, 181), 256).size
    181
    >>> reconstruction_angles(np.linspace(0, np.pi, 900), 256)[:3]
    array([0, 2, 4])
    """
    order = np.argsort(np.asarray(theta), kind="stable")
    stride = max(1, order.size // int(np.ceil(_ANGLES_PER_COLUMN * cols)))
    return np.sort(order[::stride])

