"""Checks of arguments shared by the whole package (private; never imports torch).

One place validates the scalars that many functions take: counts and sizes,
finite numbers in a range, probabilities, names from a fixed set. Every check
raises a :class:`TypeError` (wrong kind) or a :class:`ValueError` (right kind,
out of range) whose message names the argument, the value it got and what it
accepts, e.g. ``BatchNorm2d(64): eps must be a finite float > 0; got -1.0``.

``bnlearn.nn``, ``bnlearn.scratch``, ``bnlearn.train`` and
``bnlearn.experiments`` call these; this module needs only the standard
library, so the NumPy-only parts of the package can use it.
"""
from __future__ import annotations

import math
import numbers

__all__ = [
    "INT64_MAX",
    "FLOAT32_MAX",
    "FLOAT32_TINY",
    "describe",
    "prefix",
    "check_int",
    "check_real",
    "check_eps",
    "check_momentum",
    "check_probability",
    "check_choice",
    "check_bool",
]

#: Largest value of a signed 64-bit integer: no size, count or seed may exceed it
#: (PyTorch and NumPy store sizes as int64; larger ones overflow inside them).
INT64_MAX = 2**63 - 1
#: Largest finite float32 (``numpy.finfo(numpy.float32).max``).
FLOAT32_MAX = 3.4028234663852886e38
#: Smallest positive float32, a subnormal (``2 ** -149``); a smaller ``eps``
#: rounds to 0 in float32 arithmetic.
FLOAT32_TINY = 2.0**-149


def describe(value, limit: int = 60) -> str:
    """``repr(value)``, shortened to about ``limit`` characters (huge ints by their size).

    A message must stay readable whatever it got: a 5,000-digit integer is
    reported as ``an int of 5000 digits``, not printed (Python refuses to
    convert ints of more than 4,300 digits to text at all).
    """
    if isinstance(value, int) and not isinstance(value, bool):
        digits = len(str(abs(value))) if abs(value).bit_length() < 14_000 else None
        if digits is None or digits > 30:
            sign = "-" if value < 0 else ""
            size = f"about 10**{int(abs(value).bit_length() * 0.30103)}"
            return f"{sign}{size} (an int of {abs(value).bit_length()} bits)"
        return str(value)
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not hide the real error
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def prefix(owner: str | None) -> str:
    """``"owner: "`` or ``""``: how a message starts."""
    return f"{owner}: " if owner else ""


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_bool(value, name: str, owner: str | None = None) -> bool:
    """Return ``value`` if it is ``True`` or ``False`` (NumPy's ``bool_`` included)."""
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return bool(value)
    raise TypeError(f"{prefix(owner)}{name} must be True or False; got {describe(value)}")


def check_int(value, name: str, owner: str | None = None, *, low: int | None = None,
              high: int | None = None, what: str | None = None) -> int:
    """Return ``value`` as an ``int`` if it is a whole number in ``[low, high]``.

    Python and NumPy integers are accepted; ``bool``, floats (even ``3.0``) and
    strings are not. ``high`` defaults to :data:`INT64_MAX`, the largest size
    PyTorch and NumPy can hold.

    Parameters
    ----------
    value : object
        What the caller got.
    name : str
        The argument's name, for the message.
    owner : str, optional
        Who checks (a function or module), for the message.
    low, high : int, optional
        Inclusive bounds.
    what : str, optional
        How to describe the accepted values, e.g. ``"a positive int"``; made
        from the bounds by default.

    Raises
    ------
    TypeError
        If ``value`` is not an integer.
    ValueError
        If it lies outside ``[low, high]``.
    """
    high = INT64_MAX if high is None else high
    if what is None:
        if low == 1 and high == INT64_MAX:
            what = "a positive int"
        elif low == 0 and high == INT64_MAX:
            what = "an int >= 0"
        elif low is not None and high == INT64_MAX:
            what = f"an int >= {low}"
        elif low is None:
            what = f"an int <= {high}"
        else:
            what = f"an int in [{low}, {high}]"
    if not _is_int(value):
        raise TypeError(f"{prefix(owner)}{name} must be {what}; got {describe(value)} of type {type(value).__name__}")
    v = int(value)
    if (low is not None and v < low) or v > high:
        bound = f" (at most {high})" if v > high and high == INT64_MAX else ""
        raise ValueError(f"{prefix(owner)}{name} must be {what}{bound}; got {describe(v)}")
    return v


def check_real(value, name: str, owner: str | None = None, *, low: float | None = None,
               high: float | None = None, low_open: bool = False, high_open: bool = False,
               what: str | None = None) -> float:
    """Return ``value`` as a ``float`` if it is a finite real number in the given range.

    Python and NumPy ints and floats are accepted (not ``bool``); NaN and
    infinities never are.

    Parameters
    ----------
    value, name, owner
        As in :func:`check_int`.
    low, high : float, optional
        Bounds; inclusive unless ``low_open``/``high_open``.
    what : str, optional
        How to describe the accepted values; made from the bounds by default.

    Raises
    ------
    TypeError
        If ``value`` is not a real number.
    ValueError
        If it is NaN, infinite, or outside the range.
    """
    if what is None:
        parts = []
        if low is not None:
            parts.append(f"{'>' if low_open else '>='} {low:g}")
        if high is not None:
            parts.append(f"{'<' if high_open else '<='} {high:g}")
        what = "a finite number" + (" " + " and ".join(parts) if parts else "")
    if not _is_real(value):
        raise TypeError(f"{prefix(owner)}{name} must be {what}; got {describe(value)} of type {type(value).__name__}")
    try:
        v = float(value)
    except OverflowError:  # an int too large for a float
        raise ValueError(f"{prefix(owner)}{name} must be {what}; got {describe(value)}") from None
    bad = not math.isfinite(v)
    if not bad and low is not None:
        bad = v <= low if low_open else v < low
    if not bad and high is not None:
        bad = v >= high if high_open else v > high
    if bad:
        raise ValueError(f"{prefix(owner)}{name} must be {what}; got {describe(value)}")
    return v


def check_eps(eps, owner: str | None = None) -> float:
    r"""Return ``eps`` as a float if it is finite and at least :data:`FLOAT32_TINY`.

    ``eps`` is added to a variance before :math:`1/\sqrt{\cdot}`. It must be
    positive and representable in float32 (at least ``2 ** -149``, about
    1.4e-45): a smaller value rounds to 0 in float32 arithmetic, and a constant
    feature would then be divided by zero.
    """
    what = "a finite float > 0"
    if not _is_real(eps):
        raise TypeError(f"{prefix(owner)}eps must be a float > 0; got {describe(eps)} of type {type(eps).__name__}")
    v = float(eps) if abs(eps) < 1e309 else math.inf
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{prefix(owner)}eps must be {what}; got {describe(eps)}")
    if v < FLOAT32_TINY:
        raise ValueError(f"{prefix(owner)}eps must be {what} that float32 represents (>= 1.4e-45, "
                         f"smaller values round to 0); got {describe(eps)}")
    return v


def check_momentum(momentum, owner: str | None = None, *, allow_none: bool = True):
    """Return ``momentum`` (a float in [0, 1]) or ``None`` (a cumulative average) when allowed."""
    what = "None or a float in [0, 1]" if allow_none else "a float in [0, 1]"
    if momentum is None:
        if allow_none:
            return None
        raise TypeError(f"{prefix(owner)}momentum must be {what}; got None")
    if not _is_real(momentum):
        raise TypeError(f"{prefix(owner)}momentum must be {what}; got {describe(momentum)} "
                        f"of type {type(momentum).__name__}")
    v = float(momentum) if abs(momentum) < 1e309 else math.inf
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"{prefix(owner)}momentum must be {what}; got {describe(momentum)}")
    return v


def check_probability(value, name: str, owner: str | None = None, *, include_one: bool = True) -> float:
    """Return ``value`` as a float in ``[0, 1]`` (or ``[0, 1)`` without ``include_one``)."""
    return check_real(value, name, owner, low=0.0, high=1.0, high_open=not include_one,
                      what="a number in [0, 1]" if include_one else "a number in [0, 1)")


def check_choice(value, name: str, choices, owner: str | None = None):
    """Return ``value`` if it is one of ``choices`` (compared with ``==``)."""
    try:
        ok = value in choices
    except TypeError:  # unhashable value against a set
        ok = False
    if not ok:
        raise ValueError(f"{prefix(owner)}{name} must be one of {tuple(choices)}; got {describe(value)}")
    return value
