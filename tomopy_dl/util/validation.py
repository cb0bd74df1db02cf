"""Input validation shared by every public entry point.

Each check copies what it returns, so the caller's arrays are never modified,
and names the argument at fault together with what to pass instead.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

__all__ = [
    "as_float32_array",
    "as_angles",
    "as_centers",
    "as_center",
    "default_center",
    "as_positive_int",
    "as_choice",
    "warn_if_degrees",
]


def as_float32_array(value, name: str, ndim: int | tuple[int, ...], *, copy: bool = True) -> np.ndarray:
    """Return a C-contiguous float32 copy of ``value`` after checking it.

    Parameters
    ----------
    value : array_like
        The array to check.
    name : str
        The argument name used in error messages.
    ndim : int or tuple of int
        The accepted number(s) of dimensions.
    copy : bool
        ``False`` returns ``value`` itself when it is already a C-contiguous
        float32 array, for callers that only read it (a projection stack of
        several GB is not copied for nothing).

    Raises
    ------
    TypeError
        If ``value`` is not numeric.
    ValueError
        If it has the wrong number of dimensions, is empty, or holds NaN/inf.

    Examples
    --------
    >>> as_float32_array([[1, 2], [3, 4]], "tomo", 2).dtype
    dtype('float32')
    >>> as_float32_array([1.0, float("nan")], "theta", 1)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: theta holds 1 non-finite value(s) (NaN or inf); clean it first, ...
    """
    accepted = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    try:
        arr = np.asarray(value)
    except Exception as exc:  # pragma: no cover - numpy raises many kinds
        raise TypeError(f"{name} must be a numeric array, got {type(value).__name__}") from exc
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must be real-valued, got dtype {arr.dtype}")
    if arr.ndim not in accepted:
        want = " or ".join(f"{d}D" for d in accepted)
        raise ValueError(f"{name} must be {want}, got shape {arr.shape} ({arr.ndim}D)")
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}); pass at least one element per axis")
    out = np.array(arr, dtype=np.float32, order="C", copy=True) if copy else np.ascontiguousarray(arr, np.float32)
    if not np.all(np.isfinite(out)):
        bad = int(np.count_nonzero(~np.isfinite(out)))
        raise ValueError(
            f"{name} holds {bad} non-finite value(s) (NaN or inf); "
            "clean it first, e.g. with numpy.nan_to_num or tomopy.remove_nan"
        )
    return out


def as_angles(theta, n_proj: int | None = None, name: str = "theta") -> np.ndarray:
    """Return projection angles as a float32 1D copy, in radians.

    Parameters
    ----------
    theta : array_like, shape (nangles,)
        Projection angles in radians. Any order and spacing is accepted.
    n_proj : int, optional
        The number of projections the angles must match.

    Examples
    --------
    >>> as_angles([0.0, 0.5, 1.0], n_proj=3)
    array([0. , 0.5, 1. ], dtype=float32)
    """
    arr = as_float32_array(np.ravel(np.asarray(theta)) if np.ndim(theta) == 0 else theta, name, 1)
    if n_proj is not None and arr.size != n_proj:
        raise ValueError(
            f"len({name}) = {arr.size} does not match the {n_proj} projections in the data; "
            "pass one angle (radians) per projection"
        )
    warn_if_degrees(arr, name)
    return arr


def warn_if_degrees(theta: np.ndarray, name: str = "theta") -> bool:
    """Warn, and return True, when angles reach past 2 pi: degrees passed as radians.

    A scan in radians spans at most a turn or two; 180 or 360 as a largest
    angle is a scan in degrees, which gives a plausible but wrong image.

    Examples
    --------
    >>> import numpy as np, warnings
    >>> with warnings.catch_warnings(record=True):
    ...     warn_if_degrees(np.array([0.0, 90.0, 180.0]))
    True
    """
    top = float(np.max(np.abs(theta))) if np.size(theta) else 0.0
    if top > 2 * math.pi + 1e-3:
        warnings.warn(
            f"{name} reaches {top:.4g}, beyond 2 pi: it looks like degrees. Pass radians, e.g. numpy.deg2rad({name})",
            UserWarning,
            stacklevel=3,
        )
        return True
    return False


def default_center(n_det: int) -> float:
    """TomoPy's default rotation centre, ``n_det / 2`` in detector pixels: the one home of that default.

    Examples
    --------
    >>> default_center(2048)
    1024.0
    """
    return n_det / 2.0


def as_centers(center, n_slices: int, n_det: int, name: str = "center", *, on_detector: bool = False) -> np.ndarray:
    """Return one rotation centre per slice as float32, TomoPy-style.

    ``None`` means the detector middle, :func:`default_center`; a scalar applies to
    every slice; an array must hold one value per slice. With
    ``on_detector``, a centre outside ``[0, n_det]`` is refused: no ray of a
    reconstruction would then cross the field of view the right way, and the
    result would be a blank or a ghost.

    Examples
    --------
    >>> as_centers(None, 2, 640)
    array([320., 320.], dtype=float32)
    """
    if center is None:
        return np.full(n_slices, default_center(n_det), dtype=np.float32)
    arr = np.asarray(center)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{name} must be a number or an array of numbers, got {type(center).__name__}")
    arr = np.array(arr, dtype=np.float32).ravel()
    if arr.size == 1:
        arr = np.full(n_slices, arr[0], dtype=np.float32)
    if arr.size != n_slices:
        raise ValueError(f"{name} has {arr.size} values for {n_slices} slices; pass a scalar or one value per slice")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {arr.tolist()[:8]}")
    if on_detector:
        off = (arr < 0) | (arr > n_det)
        if off.any():
            raise ValueError(
                f"{name} {float(arr[off][0]):g} is off the detector, which is {n_det} pixels wide; "
                f"pass a rotation centre between 0 and {n_det} (None: the middle, {default_center(n_det):g})"
            )
    return arr


def as_center(center, n_det: int, name: str = "center") -> float:
    """One rotation centre on the detector, as a float: ``None`` is :func:`default_center`.

    Examples
    --------
    >>> as_center(None, 640)
    320.0
    >>> as_center(700, 640)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: center 700 is off the detector, which is 640 pixels wide; pass a rotation centre between 0 and 640 ...
    """
    arr = np.asarray(center) if center is not None else None
    if arr is not None and arr.size != 1:
        raise ValueError(f"{name} must be one number here, got {arr.size} values")
    return float(as_centers(center, 1, n_det, name, on_detector=True)[0])


def as_choice(value, name: str, choices) -> object:
    """Return ``value`` if it is one of ``choices``, else raise a ValueError that lists them.

    Examples
    --------
    >>> as_choice("tiff", "format", ("tiff", "h5"))
    'tiff'
    >>> as_choice("png", "format", ("tiff", "h5"))
    Traceback (most recent call last):
    ...
    ValueError: format must be one of 'tiff', 'h5'; got 'png'
    """
    try:
        ok = value in choices
    except TypeError:  # an unhashable value in a set or dict
        ok = False
    if not ok:
        raise ValueError(f"{name} must be one of {', '.join(repr(c) for c in choices)}; got {value!r}")
    return value


def as_positive_int(value, name: str, minimum: int = 1) -> int:
    """Return ``value`` as a Python int ``>= minimum``.

    Accepts numpy scalars and 0-d arrays, which TomoPy's string-algorithm
    path produces from plain keyword values.

    Examples
    --------
    >>> import numpy as np
    >>> as_positive_int(np.array(5), "num_iter")
    5
    """
    arr = np.asarray(value)
    if arr.ndim != 0 or not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if not float(arr) == int(arr) or not np.isfinite(float(arr)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    out = int(arr)
    if out < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {out}")
    return out
