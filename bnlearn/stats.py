r"""The statistics every chapter reports, written once.

An effect is a mean over seeds with its Student-t interval; a comparison of
two conditions is **paired by seed** (network :math:`s` of both conditions
shares its data, initial weights and batch order), so it is the interval of
the per-seed differences :math:`d_s = a_s - b_s`:

.. math::
    \bar d \pm t_{(1+c)/2,\;n-1}\; \frac{s_d}{\sqrt n},\qquad
    s_d^2 = \frac{1}{n-1} \sum_s (d_s - \bar d)^2 .

The verdict is ``"shown"`` when that interval excludes zero and ``"not shown"``
otherwise.

One rule for missing values: a NaN marks a measurement that does not exist
(a run that never reached its target, a seed that diverged). It is left out,
``n`` counts what remains and ``missing`` how many were left out; in a paired
comparison a seed missing on either side is left out of both. An infinite
value is an error, not a missing one. With fewer than two values there is no
interval (``low = -inf``, ``high = inf``) and nothing is shown.

This module needs NumPy and SciPy only (no torch).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["mean_interval", "paired", "verdict", "t_quantile", "seeds_to_show"]

SHOWN = "shown"
NOT_SHOWN = "not shown"


def _check_confidence(confidence) -> float:
    if isinstance(confidence, bool) or not isinstance(confidence, int | float | np.floating) \
            or not 0 < confidence < 1:
        raise ValueError(f"confidence must be a number in (0, 1), e.g. 0.95; got {confidence!r}")
    return float(confidence)


def _as_1d(values, what: str) -> np.ndarray:
    if isinstance(values, str | bytes) or np.ndim(values) == 0:
        raise TypeError(f"{what} must be a 1-d sequence of numbers; got {values!r}")
    try:
        x = np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be a 1-d sequence of numbers; got {values!r}") from None
    if x.ndim != 1:
        raise ValueError(f"{what} must be 1-d; got shape {x.shape}")
    if len(x) == 0:
        raise ValueError(f"{what} must hold at least one value (NaN for a missing one); got an empty sequence")
    if np.isinf(x).any():
        raise ValueError(f"{what} holds an infinite value (NaN marks a missing one); got {x.tolist()}")
    return x


def t_quantile(confidence: float, n: int) -> float:
    """The Student-t quantile :math:`t_{(1+c)/2,\\,n-1}` of a ``c`` interval over ``n`` values.

    Parameters
    ----------
    confidence : float
        Coverage ``c`` in (0, 1).
    n : int
        Number of values, ``>= 2``.
    """
    c = _check_confidence(confidence)
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 2:
        raise ValueError(f"t_quantile needs n >= 2 values; got {n!r}")
    from scipy.stats import t

    return float(t.ppf((1 + c) / 2, int(n) - 1))


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> dict:
    """Mean of independent measurements with its Student-t interval.

    Parameters
    ----------
    values : sequence of float
        One measurement per seed, shape ``(S,)``. NaN (or None) marks a missing
        measurement and is left out.
    confidence : float, default 0.95
        Coverage in (0, 1).

    Returns
    -------
    dict
        ``mean``, ``low``, ``high``, ``n`` (values used), ``missing`` (NaNs left
        out) and ``values`` (those used). With ``n == 1`` the interval is
        unbounded; with ``n == 0`` every number is NaN.

    Raises
    ------
    TypeError, ValueError
        For anything but a non-empty 1-d sequence of numbers, an infinite
        value, or a confidence outside (0, 1).
    """
    c = _check_confidence(confidence)
    x = _as_1d(values, "values")
    used = x[~np.isnan(x)]
    n, missing = len(used), int(len(x) - len(used))
    if n == 0:
        nan = float("nan")
        return {"mean": nan, "low": nan, "high": nan, "n": 0, "missing": missing, "values": []}
    mean = float(used.mean())
    if n == 1:
        return {"mean": mean, "low": -math.inf, "high": math.inf, "n": 1, "missing": missing,
                "values": used.tolist()}
    half = t_quantile(c, n) * float(used.std(ddof=1)) / math.sqrt(n)
    return {"mean": mean, "low": mean - half, "high": mean + half, "n": n, "missing": missing,
            "values": used.tolist()}


def verdict(interval: dict) -> str:
    """``"shown"`` when the interval excludes zero (and rests on two or more values), else ``"not shown"``."""
    if not isinstance(interval, dict) or not {"low", "high", "n"} <= set(interval):
        raise TypeError(f"verdict needs an interval from mean_interval or paired; got {interval!r}")
    if interval["n"] < 2:
        return NOT_SHOWN
    return SHOWN if interval["low"] > 0 or interval["high"] < 0 else NOT_SHOWN


def paired(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> dict:
    """Paired comparison by seed of ``a`` against ``b``: the interval of ``a - b`` and its verdict.

    Parameters
    ----------
    a, b : sequence of float
        One value per seed, the same seeds in the same order, shape ``(S,)``.
        A seed with NaN on either side is left out of the comparison.
    confidence : float, default 0.95
        Coverage in (0, 1).

    Returns
    -------
    dict
        :func:`mean_interval` of the differences, plus ``verdict`` (``"shown"``
        or ``"not shown"``) and ``same_sign`` (every used seed's difference has
        the mean's sign, and the mean is not zero).
    """
    xa, xb = _as_1d(a, "a"), _as_1d(b, "b")
    if xa.shape != xb.shape:
        raise ValueError(f"paired needs a and b of the same length (one value per seed); "
                         f"got {len(xa)} and {len(xb)}")
    d = xa - xb
    out = mean_interval(d, confidence)
    out["verdict"] = verdict(out)
    used = d[~np.isnan(d)]
    out["same_sign"] = bool(out["n"] >= 1 and out["mean"] != 0
                            and np.all(np.sign(used) == np.sign(out["mean"])))
    return out


def seeds_to_show(differences: Sequence[float], confidence: float = 0.95) -> float:
    r"""Roughly how many seeds a paired effect needs before its interval excludes zero.

    With the differences' mean :math:`\bar d` and standard deviation
    :math:`s_d`, the interval's half-width :math:`z\, s_d / \sqrt S` falls
    below :math:`|\bar d|` once :math:`S > (z\, s_d / \bar d)^2`, with ``z``
    the normal quantile (the t quantile's limit for many seeds).

    Parameters
    ----------
    differences : sequence of float
        Per-seed differences, at least two (NaN left out).
    confidence : float, default 0.95

    Returns
    -------
    float
        The estimate (``inf`` when the mean difference is zero).
    """
    c = _check_confidence(confidence)
    d = _as_1d(differences, "differences")
    d = d[~np.isnan(d)]
    if len(d) < 2:
        raise ValueError(f"seeds_to_show needs at least 2 differences; got {len(d)}")
    from scipy.stats import norm

    mean = float(d.mean())
    if mean == 0:
        return math.inf
    return float((norm.ppf((1 + c) / 2) * d.std(ddof=1) / mean) ** 2)
