"""Input checks shared by the scratch layers (private).

Every check raises a :class:`TypeError` or :class:`ValueError` whose message
names the value it got and what it expected; nothing is silently converted.
"""
from __future__ import annotations

import numbers

import numpy as np

from .._validation import INT64_MAX, describe

#: The floating dtypes the scratch layers compute in.
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_array(x, name: str, owner: str) -> None:
    """Raise unless ``x`` is a float32 or float64 :class:`numpy.ndarray`."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{owner} expects {name} to be a numpy.ndarray; got {type(x).__name__}")
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(
            f"{owner} expects {name} of a floating dtype (float32 or float64); got dtype {x.dtype}"
        )


def check_dtype(name: str, dtype) -> np.dtype:
    """Return ``dtype`` as a :class:`numpy.dtype` if it is float32 or float64."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name} must be float32 or float64; got {dtype!r}") from None
    if dt not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be float32 or float64; got {dt}")
    return dt


def check_positive_int(value, name: str) -> int:
    """Return ``value`` if it is an ``int`` greater than zero (and at most 2**63 - 1)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive int; got {describe(value)}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive int; got {describe(value)}")
    if value > INT64_MAX:
        raise ValueError(f"{name} must be a positive int at most 2**63 - 1; got {describe(value)}")
    return int(value)


#: The largest array the scratch layers allocate, in bytes (far above any
#: network a NumPy course trains; it turns a typo into a message, not a crash).
MAX_BYTES = 2**40


def check_size(owner: str, count: int, dtype, what: str) -> None:
    """Refuse to allocate ``count`` values of ``dtype`` when they exceed :data:`MAX_BYTES`."""
    nbytes = count * np.dtype(dtype).itemsize
    if nbytes > MAX_BYTES:
        raise ValueError(f"{owner} would need {count} {what} ({nbytes / 2**30:.3g} GiB of {np.dtype(dtype)}); "
                         f"at most {MAX_BYTES // 2**30} GiB is allowed. Check the sizes")


def check_real(value, name: str) -> float:
    """Return ``value`` as a ``float`` if it is a real number (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite; got {value}")
    return value


def check_eps(eps) -> float:
    """Return ``eps`` if it is a real number greater than zero."""
    eps = check_real(eps, "eps")
    if eps <= 0:
        raise ValueError(f"eps must be > 0 (it keeps the division by the standard deviation finite); got {eps}")
    return eps


def make_rng(seed, owner: str) -> np.random.Generator:
    """Return a generator for ``seed`` (``None``, an ``int`` or a ``numpy.random.Generator``)."""
    if seed is None or isinstance(seed, np.random.Generator):
        return seed if seed is not None else np.random.default_rng()
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{owner} expects seed to be None, an int or a numpy.random.Generator; got {seed!r}")
    if seed < 0:
        raise ValueError(f"{owner} expects a non-negative seed; got {seed}")
    return np.random.default_rng(int(seed))
