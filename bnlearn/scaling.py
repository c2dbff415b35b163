"""Feature scaling in NumPy: min-max normalisation and standardisation.

Two stateless functions, :func:`min_max_scale` and :func:`standardize`, scale an
array along one axis. Two transformers, :class:`MinMaxScaler` and
:class:`StandardScaler`, learn the statistics on training data and apply them
to any later data; they follow scikit-learn's transformer conventions (usable
in a ``sklearn.pipeline.Pipeline``, ``clone``-able, ``get_params`` /
``set_params``, ``partial_fit``). :class:`RunningMoments` is the numerically
stable streaming mean and variance that :class:`StandardScaler` and
:func:`standardize` are built on.

Conventions shared by everything in this module:

* Samples lie along ``axis`` (``0`` for the transformers), features along the
  other axes. Statistics are per feature.
* NaNs are missing values: they are ignored when statistics are computed and
  kept (as NaN) in the output.
* Statistics are accumulated in float64 whatever the input's precision; the
  output has the input's floating dtype (integer and boolean input gives
  float64). Strings, complex numbers, objects and infinities are refused with
  a :class:`TypeError` or :class:`ValueError`, never converted silently.
* A constant feature is left unscaled: its scale is taken to be 1, as
  scikit-learn does, so it maps to 0 after standardisation and to the lower
  end of ``feature_range`` after min-max scaling.
* Values near the float limits give right answers where the answer is a
  float: :func:`standardize` and :func:`min_max_scale` (and
  :class:`MinMaxScaler`'s ``scale_``) work on each huge feature divided by a
  power of two, which is exact and leaves their results unchanged. A
  statistic that itself exceeds the largest float64 (the variance of values
  near 1e308) cannot be stored: :class:`RunningMoments` and
  :class:`StandardScaler` refuse such data with a :class:`ValueError`.

This module never imports torch.
"""
from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils import metadata_routing
from sklearn.utils.validation import check_is_fitted

__all__ = [
    "RunningMoments",
    "min_max_scale",
    "standardize",
    "MinMaxScaler",
    "StandardScaler",
]

_EPS64 = np.finfo(np.float64).eps


# --------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------
def _as_numeric_array(x, *, who: str) -> np.ndarray:
    """Return ``x`` as a real-valued ndarray, refusing anything non-numeric.

    Integer and boolean input is converted to float64; floating input keeps
    its dtype. NaN is allowed (a missing value); infinity is not.
    """
    if hasattr(x, "toarray") and type(x).__module__.startswith("scipy.sparse"):
        raise TypeError(
            f"{who} expects a dense array; got a sparse matrix of type "
            f"{type(x).__name__}. Call .toarray() first if it fits in memory."
        )
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as err:  # ragged nested lists and the like
        raise TypeError(f"{who} expects a numeric array; could not make one from {type(x).__name__}: {err}") from err
    kind = arr.dtype.kind
    if kind == "c":
        raise ValueError(
            f"Complex data not supported: {who} expects real numbers; got complex dtype {arr.dtype}. "
            "Pass x.real or np.abs(x) explicitly if that is what you mean."
        )
    if kind == "O":
        # An object array is accepted only if every element is a real number
        # (as pandas gives for mixed columns); strings are never parsed.
        for idx, v in np.ndenumerate(arr):
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
                raise TypeError(
                    f"{who}: every argument must be a real number, not a string or any other object "
                    f"that is not a number; got {type(v).__name__} {v!r} at index {idx} of an object array"
                )
        arr = arr.astype(np.float64)
        kind = "f"
    if kind not in "fiub":
        raise TypeError(f"{who} expects a numeric array (integer or floating); got dtype {arr.dtype}")
    if kind != "f":
        arr = arr.astype(np.float64)
    if np.isinf(arr).any():
        raise ValueError(
            f"{who} got an array containing infinity; only finite values and NaN "
            "(for a missing value) are allowed."
        )
    return arr


def _check_axis(axis, ndim: int, *, who: str) -> int:
    """Validate ``axis`` for an array of ``ndim`` dimensions; return it as a non-negative int."""
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"{who}: axis must be an int; got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{who}: axis {axis} is out of range for an array with {ndim} dimension(s)")
    return int(axis) % ndim


def _check_feature_range(feature_range, *, who: str) -> tuple[float, float]:
    """Validate a ``(min, max)`` pair of finite real numbers with ``min < max``."""
    ok = isinstance(feature_range, (tuple, list, np.ndarray)) and len(feature_range) == 2
    if ok:
        ok = all(
            isinstance(v, numbers.Real) and not isinstance(v, bool) for v in feature_range
        )
    if not ok:
        raise TypeError(f"{who}: feature_range must be a pair of real numbers (min, max); got {feature_range!r}")
    try:
        lo, hi = float(feature_range[0]), float(feature_range[1])
    except OverflowError:                     # an int too large for a float
        lo, hi = np.inf, np.inf
    with np.errstate(over="ignore", invalid="ignore"):
        width_ok = np.isfinite(hi - lo)
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi and width_ok):
        raise ValueError(
            f"{who}: feature_range must be a pair (min, max) of finite numbers, max - min finite too, "
            f"with min < max; got {tuple(feature_range)!r}"
        )
    return lo, hi


def _is_constant(var: np.ndarray, mean: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Flag features whose variance is indistinguishable from zero.

    A feature is constant when its computed variance lies below the error
    bound of the two-pass algorithm (Chan, Golub and LeVeque),
    ``var <= n * eps * var + (n * eps * mean)**2`` with ``eps`` the float64
    machine epsilon; this is scikit-learn's rule, so both agree.
    """
    n = count.astype(np.float64)
    return var <= n * _EPS64 * var + (n * mean * _EPS64) ** 2


# --------------------------------------------------------------------------
# streaming moments
# --------------------------------------------------------------------------
class RunningMoments:
    """Streaming, mergeable per-feature count, mean and variance.

    Feed batches with :meth:`update`; combine two accumulators (for example from
    two workers or two shards of a data set) with :meth:`merge`. The result is
    the same, up to rounding, as computing the statistics on all the data at
    once, and it stays accurate when the mean is large compared with the
    standard deviation, where the textbook formula
    ``E[x**2] - E[x]**2`` loses every significant digit to cancellation.

    Each batch is summarised by its count ``n_b``, its mean ``m_b`` and its sum
    of squared deviations ``M2_b = sum_i (x_i - m_b)**2`` (a corrected two-pass
    computation in float64). Two summaries ``(n_a, m_a, M2_a)`` and
    ``(n_b, m_b, M2_b)`` combine with the parallel update of Chan, Golub and
    LeVeque::

        n     = n_a + n_b
        delta = m_b - m_a
        m     = m_a + delta * n_b / n
        M2    = M2_a + M2_b + delta**2 * n_a * n_b / n

    which, for batches of one sample, is Welford's update. Nothing in it
    subtracts two large, nearly equal numbers.

    NaNs are missing values: they are skipped, so each feature keeps its own
    count. A feature with no values yet has ``count == 0`` and NaN mean and
    variance.

    Attributes
    ----------
    count : numpy.ndarray or None
        Number of non-NaN values seen per feature, int64, of shape
        ``feature_shape``; None before the first update.
    m2 : numpy.ndarray or None
        Sum of squared deviations from the mean per feature, float64.
    feature_shape : tuple or None
        The shape of one sample (``x.shape[1:]`` of the first batch).

    Examples
    --------
    >>> import numpy as np
    >>> rm = RunningMoments()
    >>> for batch in np.array_split(np.arange(10.0).reshape(5, 2), 3):
    ...     _ = rm.update(batch)
    >>> rm.mean
    array([4., 5.])
    """

    def __init__(self):
        self.feature_shape: tuple | None = None
        self.count: np.ndarray | None = None
        self._mean: np.ndarray | None = None  # 0 where count == 0
        self.m2: np.ndarray | None = None

    # -- summaries ---------------------------------------------------------
    @staticmethod
    def _check_finite(mean, m2, who: str) -> None:
        """Refuse statistics that overflowed float64 (values near its limits), naming the features."""
        bad = ~(np.isfinite(mean) & np.isfinite(m2))
        if bad.any():
            idx = [tuple(int(i) for i in t) if len(t) > 1 else int(t[0]) for t in np.argwhere(bad)[:8]]
            raise ValueError(
                f"{who}: the mean or the sum of squared deviations of feature(s) {idx} exceeds the largest "
                f"float64 (about 1.8e308): the data are too large to summarise. Divide them by a constant "
                f"first (standardize and min_max_scale handle such data themselves)"
            )

    @staticmethod
    def _summarise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Count, mean and M2 of one batch along axis 0, in float64, NaNs skipped."""
        x = x.astype(np.float64, copy=False)  # accumulate in float64 whatever the input
        nan = np.isnan(x)
        count = x.shape[0] - nan.sum(axis=0)
        safe = np.maximum(count, 1)
        # shift by the first non-NaN value of each feature, so that a constant
        # feature has a mean that is exactly its value: m_b = s + sum_i (x_i - s) / n_b
        first = np.argmax(~nan, axis=0)
        shift = np.take_along_axis(x, first[None], axis=0)[0]
        shift = np.where(np.isnan(shift), 0.0, shift)
        mean = shift + np.where(nan, 0.0, x - shift).sum(axis=0) / safe
        dev = np.where(nan, 0.0, x - mean)  # x_i - m_b
        # corrected two-pass: M2_b = sum (x_i - m_b)^2 - (sum (x_i - m_b))^2 / n_b
        m2 = (dev**2).sum(axis=0) - dev.sum(axis=0) ** 2 / safe
        m2 = np.maximum(m2, 0.0)
        return count.astype(np.int64), np.where(count > 0, mean, 0.0), m2

    @staticmethod
    def _combine(na, ma, m2a, nb, mb, m2b):
        """Chan et al.'s parallel update of two (count, mean, M2) summaries."""
        n = na + nb
        safe = np.maximum(n, 1).astype(np.float64)
        delta = mb - ma  # delta = m_b - m_a
        mean = ma + delta * (nb / safe)  # m = m_a + delta * n_b / n
        weight = na * (nb / safe)
        # M2 = M2_a + M2_b + delta^2 n_a n_b / n  (no term when one part is empty, even if delta is huge)
        m2 = m2a + m2b + np.where(weight == 0, 0.0, delta**2 * weight)
        return n, np.where(n > 0, mean, 0.0), m2

    # -- public API ----------------------------------------------------------
    def update(self, x, *, _who: str = "RunningMoments.update") -> "RunningMoments":
        """Add a batch of samples.

        Parameters
        ----------
        x : numpy.ndarray
            Of shape ``(N, *feature_shape)`` (any array-like).
            ``N`` samples along axis 0 (a 1-D array is ``N`` samples of one
            scalar feature; a scalar is one sample). NaNs are skipped. The first
            batch fixes ``feature_shape``; later batches must match it.

        Returns
        -------
        RunningMoments
            ``self``, so that calls can be chained.

        Raises
        ------
        ValueError
            If ``x`` holds infinity, has another ``feature_shape``, or is so
            large (values near 1e308) that a mean or a sum of squared
            deviations exceeds float64; the accumulator is then unchanged.
        """
        who = _who
        arr = _as_numeric_array(x, who=who)
        if arr.ndim == 0:
            arr = arr[None]
        if self.feature_shape is None:
            self.feature_shape = tuple(arr.shape[1:])
            self.count = np.zeros(self.feature_shape, dtype=np.int64)
            self._mean = np.zeros(self.feature_shape)
            self.m2 = np.zeros(self.feature_shape)
        elif tuple(arr.shape[1:]) != self.feature_shape:
            raise ValueError(
                f"RunningMoments was started with samples of shape {self.feature_shape}; "
                f"got a batch of shape {arr.shape} (samples of shape {tuple(arr.shape[1:])})"
            )
        if arr.shape[0] == 0:
            return self
        with np.errstate(over="ignore", invalid="ignore"):   # an overflow is refused just below
            nb, mb, m2b = self._summarise(arr)
            count, mean, m2 = self._combine(self.count, self._mean, self.m2, nb, mb, m2b)
        self._check_finite(mean, m2, who)
        self.count, self._mean, self.m2 = count, mean, m2
        return self

    def merge(self, other: "RunningMoments") -> "RunningMoments":
        """Return the moments of the union of the data seen by ``self`` and ``other``.

        Neither operand is modified. This is what lets statistics be computed
        on shards in parallel and reduced afterwards.

        Parameters
        ----------
        other : RunningMoments
            Statistics of samples with the same ``feature_shape`` (or empty).

        Returns
        -------
        RunningMoments
            A new accumulator equal to having seen both streams.
        """
        if not isinstance(other, RunningMoments):
            raise TypeError(f"RunningMoments.merge expects a RunningMoments; got {type(other).__name__}")
        if other.feature_shape is None:
            return self.copy()
        if self.feature_shape is None:
            return other.copy()
        if other.feature_shape != self.feature_shape:
            raise ValueError(
                f"cannot merge RunningMoments over samples of shape {self.feature_shape} "
                f"with one over samples of shape {other.feature_shape}"
            )
        out = RunningMoments()
        out.feature_shape = self.feature_shape
        with np.errstate(over="ignore", invalid="ignore"):
            out.count, out._mean, out.m2 = self._combine(
                self.count, self._mean, self.m2, other.count, other._mean, other.m2
            )
        self._check_finite(out._mean, out.m2, "RunningMoments.merge")
        return out

    def copy(self) -> "RunningMoments":
        """Return an independent copy."""
        out = RunningMoments()
        out.feature_shape = self.feature_shape
        if self.feature_shape is not None:
            out.count, out._mean, out.m2 = self.count.copy(), self._mean.copy(), self.m2.copy()
        return out

    def _require_data(self, name: str) -> None:
        if self.feature_shape is None:
            raise ValueError(f"RunningMoments.{name} is undefined before any data: call update(x) first")

    @property
    def mean(self) -> np.ndarray:
        """Per-feature mean, float64 of shape ``feature_shape`` (NaN where count is 0)."""
        self._require_data("mean")
        return np.where(self.count > 0, self._mean, np.nan)

    def variance(self, ddof: int = 0) -> np.ndarray:
        """Per-feature variance ``M2 / (count - ddof)``.

        Parameters
        ----------
        ddof : int, optional
            Delta degrees of freedom (default ``0``): 0 for the biased (population) variance
            that normalisation uses, 1 for the unbiased sample variance.

        Returns
        -------
        numpy.ndarray
            float64 of shape ``feature_shape``; NaN where ``count <= ddof``.
        """
        self._require_data("variance")
        if isinstance(ddof, bool) or not isinstance(ddof, numbers.Integral) or ddof < 0:
            raise ValueError(f"ddof must be a non-negative int; got {ddof!r}")
        denom = self.count - ddof
        out = np.full(self.feature_shape, np.nan)
        np.divide(self.m2, denom, out=out, where=denom > 0)  # var = M2 / (n - ddof)
        return out

    @property
    def var(self) -> np.ndarray:
        """Biased per-feature variance ``M2 / count`` (``variance(ddof=0)``)."""
        return self.variance(0)

    @property
    def std(self) -> np.ndarray:
        """Biased per-feature standard deviation ``sqrt(M2 / count)``."""
        return np.sqrt(self.var)

    def __repr__(self) -> str:
        if self.feature_shape is None:
            return "RunningMoments(<empty>)"
        return f"RunningMoments(feature_shape={self.feature_shape}, count={self.count.tolist()})"


# --------------------------------------------------------------------------
# stateless functions
# --------------------------------------------------------------------------
def _moveaxis_front(arr: np.ndarray, axis: int) -> np.ndarray:
    return np.moveaxis(arr, axis, 0)


#: Features whose largest magnitude exceeds this are divided by a power of two
#: before their statistics are taken (their squares could overflow float64).
_HUGE = 2.0**510


def _power_of_two_scale(front: np.ndarray) -> np.ndarray:
    """Per feature (axis 0 is the samples): 1, or a power of two ``s`` with ``1 <= max|x| / s < 2``
    for features whose magnitude exceeds :data:`_HUGE`. Dividing by it is exact."""
    with np.errstate(invalid="ignore"):
        amax = np.where(np.isnan(front), 0.0, np.abs(front)).max(axis=0) if front.shape[0] else \
            np.zeros(front.shape[1:])
    amax = np.asarray(amax, dtype=np.float64)
    _, exponent = np.frexp(amax)
    return np.where(amax > _HUGE, np.ldexp(1.0, exponent - 1), 1.0)


def _min_max_params(data_min, data_max, lo: float, hi: float):
    """Scale and offset that map ``[data_min, data_max]`` onto ``[lo, hi]``.

    ``x' = x * scale + offset`` with ``scale = (hi - lo) / (data_max - data_min)``
    and ``offset = lo - data_min * scale``; a zero range is replaced by 1. A
    range too large for a float (features near +-1.8e308) is computed on the
    feature divided by a power of two: ``data_range`` is then ``inf`` (its true
    value exceeds float64) but ``scale`` and ``offset`` are right.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        data_range = data_max - data_min
    denom = np.where(data_range < 10 * _EPS64, 1.0, data_range)  # constant feature: range -> 1
    scale = (hi - lo) / denom  # (b - a) / (max - min)
    huge = np.isinf(data_range) & np.isfinite(data_min) & np.isfinite(data_max)
    if np.any(huge):
        top = np.maximum(np.abs(np.where(huge, data_min, 0.0)), np.abs(np.where(huge, data_max, 0.0)))
        s = np.ldexp(1.0, np.frexp(top)[1] - 1)                   # 1 <= top / s < 2, exact to divide by
        with np.errstate(invalid="ignore", divide="ignore"):
            scaled = ((hi - lo) / (data_max / s - data_min / s)) / s  # (b - a) / ((max - min) / s) / s
        scale = np.where(huge, scaled, scale)
    offset = lo - data_min * scale  # a - min * scale
    return data_range, scale, offset


def _nan_min_max(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature min and max along axis 0 ignoring NaN, NaN for an all-NaN feature (no warning)."""
    nan = np.isnan(arr)
    allnan = nan.all(axis=0)
    dmin = np.where(nan, np.inf, arr).min(axis=0).astype(np.float64)
    dmax = np.where(nan, -np.inf, arr).max(axis=0).astype(np.float64)
    return np.where(allnan, np.nan, dmin), np.where(allnan, np.nan, dmax)


def min_max_scale(x, feature_range=(0, 1), axis=0) -> np.ndarray:
    """Rescale each feature linearly onto ``feature_range`` (min-max normalisation).

    .. math::

        x' = a + \\frac{(x - \\min x)(b - a)}{\\max x - \\min x},
        \\qquad (a, b) = \\text{feature\\_range}

    with the minimum and maximum taken along ``axis`` (over the samples),
    ignoring NaNs. A constant feature (zero range) is not divided by zero: its
    range is taken to be 1, so it maps to ``a``.

    Parameters
    ----------
    x : numpy.ndarray
        Of shape ``(N, ...)`` for ``axis=0`` (any array-like).
        Real numbers; NaN marks a missing value and is kept in the output.
    feature_range : tuple, optional
        ``(a, b)`` with ``a < b``; default ``(0, 1)``.
    axis : int, optional
        The axis along which the samples lie (0: scale each column) (default ``0``).

    Returns
    -------
    numpy.ndarray
        Same shape as ``x``; the input's floating dtype, or float64 for
        integer or boolean input.

    Raises
    ------
    TypeError
        If ``x`` is not numeric (strings, complex, objects) or
        ``feature_range`` is not a pair of numbers.
    ValueError
        If ``x`` is empty along ``axis`` or contains infinity, or
        ``feature_range`` does not have ``a < b``.

    See Also
    --------
    MinMaxScaler : the same map, learned on training data and reused.
    """
    who = "min_max_scale"
    lo, hi = _check_feature_range(feature_range, who=who)
    arr = _as_numeric_array(x, who=who)
    if arr.ndim == 0:
        raise ValueError(f"{who} expects an array with at least one dimension; got a scalar {arr!r}")
    ax = _check_axis(axis, arr.ndim, who=who)
    if arr.shape[ax] == 0:
        raise ValueError(f"{who} needs at least one sample along axis {ax}; got shape {arr.shape}")
    front = _moveaxis_front(arr, ax)
    dmin, dmax = _nan_min_max(front)
    _, scale, offset = _min_max_params(dmin, dmax, lo, hi)
    out = front * scale + offset  # x' = x * (b - a) / (max - min) + a - min * scale
    return np.moveaxis(out.astype(arr.dtype, copy=False), 0, ax)


def standardize(x, axis=0) -> np.ndarray:
    """Standardise each feature to zero mean and unit variance (z-scores).

    .. math::

        z = \\frac{x - \\mu}{\\sigma}, \\qquad
        \\mu = \\frac{1}{N}\\sum_i x_i, \\qquad
        \\sigma^2 = \\frac{1}{N}\\sum_i (x_i - \\mu)^2

    with the mean and the biased (population) standard deviation taken along
    ``axis``, ignoring NaNs, accumulated in float64 by :class:`RunningMoments`.
    A constant feature is only centred (its scale is taken to be 1).

    Parameters
    ----------
    x : numpy.ndarray
        Of shape ``(N, ...)`` for ``axis=0`` (any array-like).
        Real numbers; NaN marks a missing value and is kept in the output.
    axis : int, optional
        The axis along which the samples lie (0: standardise each column) (default ``0``).

    Returns
    -------
    numpy.ndarray
        Same shape as ``x``; the input's floating dtype, or float64 for
        integer or boolean input.

    Raises
    ------
    TypeError
        If ``x`` is not numeric (strings, complex, objects).
    ValueError
        If ``x`` is empty along ``axis`` or contains infinity.

    See Also
    --------
    StandardScaler : the same map, learned on training data and reused.
    """
    who = "standardize"
    arr = _as_numeric_array(x, who=who)
    if arr.ndim == 0:
        raise ValueError(f"{who} expects an array with at least one dimension; got a scalar {arr!r}")
    ax = _check_axis(axis, arr.ndim, who=who)
    if arr.shape[ax] == 0:
        raise ValueError(f"{who} needs at least one sample along axis {ax}; got shape {arr.shape}")
    front = _moveaxis_front(arr, ax)
    s = _power_of_two_scale(front)  # 1, or 2^k for features near the float limits: z is unchanged
    if np.any(s != 1.0):
        front = front / s
    rm = RunningMoments().update(front, _who=who)
    mean, var = rm.mean, rm.var
    scale = np.where(_is_constant(var, mean, rm.count), 1.0, np.sqrt(var))  # sigma, 1 if constant
    out = (front - mean) / scale  # z = (x - mu) / sigma
    return np.moveaxis(out.astype(arr.dtype, copy=False), 0, ax)


# --------------------------------------------------------------------------
# transformers
# --------------------------------------------------------------------------
class _ScalerBase(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Input checks and bookkeeping shared by the two scalers."""

    # ``copy`` is an option of the call, not metadata to route through a Pipeline:
    # this keeps scikit-learn from generating set_transform_request methods.
    __metadata_request__transform = {"copy": metadata_routing.UNUSED}
    __metadata_request__inverse_transform = {"copy": metadata_routing.UNUSED}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def _validate(self, X, *, reset: bool, copy: bool, method: str) -> np.ndarray:
        """Check ``X`` is a 2-D numeric array with the fitted number of features."""
        who = f"{type(self).__name__}.{method}"
        arr = _as_numeric_array(X, who=who)
        if arr.ndim != 2:
            raise ValueError(
                f"{who} expects a 2-D array of shape (n_samples, n_features); got shape {arr.shape}. "
                "Reshape your data with x.reshape(-1, 1) for a single feature or "
                "x.reshape(1, -1) for a single sample."
            )
        if reset:
            if arr.shape[0] == 0:
                raise ValueError(
                    f"{who} found an array with 0 sample(s) (shape={arr.shape}) while a minimum of 1 is required."
                )
            if arr.shape[1] == 0:
                raise ValueError(
                    f"{who} found an array with 0 feature(s) (shape={arr.shape}) while a minimum of 1 is required."
                )
            self.n_features_in_ = arr.shape[1]
            columns = getattr(X, "columns", None)
            if columns is not None and len(columns) and all(isinstance(c, str) for c in columns):
                self.feature_names_in_ = np.asarray(columns, dtype=object)
            elif hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
        elif arr.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {arr.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input (the number it was fitted on); "
                f"{method} got shape {arr.shape}"
            )
        if copy:
            arr = arr.copy()  # never modify the caller's array
        return arr

    def _check_fitted(self, method: str) -> None:
        check_is_fitted(
            self,
            "n_features_in_",
            msg=(
                f"This {type(self).__name__} instance is not fitted yet: call fit(X) or "
                f"partial_fit(X) with the training data before {method}."
            ),
        )

    def _reset(self) -> None:
        for name in list(vars(self)):
            if name.endswith("_") and not name.startswith("__"):
                delattr(self, name)

    def fit(self, X, y=None):
        """Learn the scaling statistics from ``X``, discarding any earlier fit.

        Parameters
        ----------
        X : numpy.ndarray
            Of shape ``(n_samples, n_features)`` (any array-like).
            Training data; NaNs are ignored.
        y : None
            Ignored; present for ``sklearn.pipeline.Pipeline`` compatibility.

        Returns
        -------
        object
            The fitted scaler itself (``self``).
        """
        self._reset()
        return self.partial_fit(X, y)


class StandardScaler(_ScalerBase):
    """Standardise features to zero mean and unit variance, learned from training data.

    .. math::

        z = \\frac{x - \\mu}{\\sigma}

    where the per-feature mean :math:`\\mu` and biased standard deviation
    :math:`\\sigma` are those of the data passed to ``fit`` (or to all the
    calls of ``partial_fit``), computed with :class:`RunningMoments`.

    Follows scikit-learn's transformer conventions and gives the same numbers
    as ``sklearn.preprocessing.StandardScaler`` on dense input.

    Parameters
    ----------
    copy : bool, optional
        If False, :meth:`transform` and :meth:`inverse_transform` work in place
        when the input is already a floating ndarray (default ``True``).
    with_mean : bool, optional
        Subtract the mean (default ``True``).
    with_std : bool, optional
        Divide by the standard deviation (default ``True``).

    Attributes
    ----------
    mean_ : numpy.ndarray or None
        Of shape ``(n_features,)``.
        Per-feature mean (None when both ``with_mean`` and ``with_std`` are False).
    var_ : numpy.ndarray or None
        Of shape ``(n_features,)``.
        Per-feature biased variance (None when ``with_std`` is False).
    scale_ : numpy.ndarray or None
        Of shape ``(n_features,)``.
        Per-feature divisor ``sqrt(var_)``, 1 for a constant feature (None when
        ``with_std`` is False).
    n_samples_seen_ : int or numpy.ndarray
        Of shape ``(n_features,)``.
        Number of samples seen; per feature (non-NaN counts) if any NaN was seen.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : numpy.ndarray
        Of shape ``(n_features,)``.
        Column names, defined only when ``X`` had string column names.

    Notes
    -----
    NaNs are ignored in ``fit`` and kept in :meth:`transform`. A feature
    whose variance is within rounding error of zero is considered constant and
    is only centred. Statistics are float64; outputs keep the input's floating
    dtype.
    """

    def __init__(self, *, copy=True, with_mean=True, with_std=True):
        self.copy = copy
        self.with_mean = with_mean
        self.with_std = with_std

    def partial_fit(self, X, y=None):
        """Update the statistics with a batch ``X`` (online / out-of-core fitting).

        Parameters
        ----------
        X : numpy.ndarray
            Of shape ``(n_samples, n_features)`` (any array-like).
            A batch of training data; NaNs are ignored.
        y : None
            Ignored.

        Returns
        -------
        object
            The updated scaler itself (``self``).
        """
        first = not hasattr(self, "n_features_in_")
        arr = self._validate(X, reset=first, copy=False, method="partial_fit")
        if first:
            self._moments = RunningMoments()
        self._moments.update(arr, _who=f"{type(self).__name__}.partial_fit")  # Chan et al.'s update
        rm = self._moments
        counts = rm.count
        self.n_samples_seen_ = counts.copy() if np.any(counts != counts.max()) else int(counts.max())
        if self.with_mean or self.with_std:
            self.mean_ = rm.mean
        else:
            self.mean_ = None
        if self.with_std:
            self.var_ = rm.var
            constant = _is_constant(self.var_, self.mean_, counts)
            self.scale_ = np.where(constant, 1.0, np.sqrt(self.var_))  # sigma, 1 for constants
        else:
            self.var_ = None
            self.scale_ = None
        return self

    def transform(self, X, copy=None):
        """Standardise ``X`` with the fitted statistics: ``(X - mean_) / scale_``.

        Parameters
        ----------
        X : numpy.ndarray
            Of shape ``(n_samples, n_features)`` (any array-like).
            Data to scale; NaNs stay NaN.
        copy : bool or None, optional
            Overrides the ``copy`` parameter for this call (default ``None``).

        Returns
        -------
        numpy.ndarray
            Of shape ``(n_samples, n_features)``: the standardised data.
        """
        self._check_fitted("transform")
        copy = self.copy if copy is None else copy
        arr = self._validate(X, reset=False, copy=copy, method="transform")
        if self.with_mean:
            arr -= self.mean_.astype(arr.dtype)  # x - mu
        if self.with_std:
            arr /= self.scale_.astype(arr.dtype)  # (x - mu) / sigma
        return arr

    def inverse_transform(self, X, copy=None):
        """Undo :meth:`transform`: ``X * scale_ + mean_``.

        Parameters
        ----------
        X : numpy.ndarray
            Of shape ``(n_samples, n_features)`` (any array-like).
            Standardised data.
        copy : bool or None, optional
            Overrides the ``copy`` parameter for this call (default ``None``).

        Returns
        -------
        numpy.ndarray
            Of shape ``(n_samples, n_features)``: data in the original units.
        """
        self._check_fitted("inverse_transform")
        copy = self.copy if copy is None else copy
        arr = self._validate(X, reset=False, copy=copy, method="inverse_transform")
        if self.with_std:
            arr *= self.scale_.astype(arr.dtype)  # z * sigma
        if self.with_mean:
            arr += self.mean_.astype(arr.dtype)  # z * sigma + mu
        return arr


class MinMaxScaler(_ScalerBase):
    """Rescale features linearly onto ``feature_range``, learned from training data.

    .. math::

        x' = x \\cdot s + m, \\qquad
        s = \\frac{b - a}{\\max x - \\min x}, \\qquad
        m = a - s \\min x

    where the per-feature minimum and maximum are those of the data passed to
    ``fit`` (or to all calls of ``partial_fit``), ignoring NaNs, and
    ``(a, b) = feature_range``. Data outside the training range maps outside
    ``feature_range`` unless ``clip=True``.

    Follows scikit-learn's transformer conventions and gives the same numbers
    as ``sklearn.preprocessing.MinMaxScaler``.

    Parameters
    ----------
    feature_range : tuple, optional
        ``(a, b)`` with ``a < b``, checked when fitting; default ``(0, 1)``.
    copy : bool, optional
        If False, :meth:`transform` and :meth:`inverse_transform` work in place
        when the input is already a floating ndarray (default ``True``).
    clip : bool, optional
        Clip transformed values to ``feature_range`` (default ``False``).

    Attributes
    ----------
    data_min_ : numpy.ndarray
        Of shape ``(n_features,)``.
        Per-feature minimum seen (NaN for a feature with only NaNs).
    data_max_ : numpy.ndarray
        Of shape ``(n_features,)``.
        Per-feature maximum seen.
    data_range_ : numpy.ndarray
        Of shape ``(n_features,)``.
        ``data_max_ - data_min_``.
    scale_ : numpy.ndarray
        Of shape ``(n_features,)``.
        ``(b - a) / data_range_``, with a zero range replaced by 1.
    min_ : numpy.ndarray
        Of shape ``(n_features,)``.
        ``a - data_min_ * scale_``.
    n_samples_seen_ : int
        Number of rows seen.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : numpy.ndarray
        Of shape ``(n_features,)``.
        Column names, defined only when ``X`` had string column names.

    Notes
    -----
    NaNs are ignored in ``fit`` and kept in :meth:`transform`. A constant
    feature maps to ``a``.
    """

    def __init__(self, feature_range=(0, 1), *, copy=True, clip=False):
        self.feature_range = feature_range
        self.copy = copy
        self.clip = clip

    def partial_fit(self, X, y=None):
        """Update the minimum and maximum with a batch ``X``.

        Parameters
        ----------
        X : numpy.ndarray
            Of shape ``(n_samples, n_features)`` (any array-like).
            A batch of training data; NaNs are ignored.
        y : None
            Ignored.

        Returns
        -------
        object
            The updated scaler itself (``self``).
        """
        lo, hi = _check_feature_range(self.feature_range, who=type(self).__name__)
        first = not hasattr(self, "n_features_in_")
        arr = self._validate(X, reset=first, copy=False, method="partial_fit")
        dmin, dmax = _nan_min_max(arr)
        if first:
            self.n_samples_seen_ = 0
        else:
            dmin = np.fmin(dmin, self.data_min_)  # fmin: a NaN (no data yet) loses to a number
            dmax = np.fmax(dmax, self.data_max_)
        self.n_samples_seen_ += arr.shape[0]
        self.data_min_, self.data_max_ = dmin, dmax
        self.data_range_, self.scale_, self.min_ = _min_max_params(dmin, dmax, lo, hi)
        return self

    def transform(self, X, copy=None):
        """Scale ``X`` with the fitted map: ``X * scale_ + min_``.

        Parameters
        ----------
        X : numpy.ndarray
            Of shape ``(n_samples, n_features)`` (any array-like).
            Data to scale; NaNs stay NaN.
        copy : bool or None, optional
            Overrides the ``copy`` parameter for this call (default ``None``).

        Returns
        -------
        numpy.ndarray
            Of shape ``(n_samples, n_features)``: the scaled data,
            clipped to ``feature_range`` if ``clip``.
        """
        self._check_fitted("transform")
        copy = self.copy if copy is None else copy
        arr = self._validate(X, reset=False, copy=copy, method="transform")
        arr *= self.scale_.astype(arr.dtype)  # x * s
        arr += self.min_.astype(arr.dtype)  # x * s + m
        if self.clip:
            lo, hi = _check_feature_range(self.feature_range, who=type(self).__name__)
            np.clip(arr, lo, hi, out=arr)
        return arr

    def inverse_transform(self, X, copy=None):
        """Undo :meth:`transform`: ``(X - min_) / scale_``.

        Parameters
        ----------
        X : numpy.ndarray
            Of shape ``(n_samples, n_features)`` (any array-like).
            Scaled data.
        copy : bool or None, optional
            Overrides the ``copy`` parameter for this call (default ``None``).

        Returns
        -------
        numpy.ndarray
            Of shape ``(n_samples, n_features)``: data in the original units.
        """
        self._check_fitted("inverse_transform")
        copy = self.copy if copy is None else copy
        arr = self._validate(X, reset=False, copy=copy, method="inverse_transform")
        arr -= self.min_.astype(arr.dtype)  # x' - m
        arr /= self.scale_.astype(arr.dtype)  # (x' - m) / s
        return arr
