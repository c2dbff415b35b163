"""Tests of bnlearn.scaling against scikit-learn's scalers (to 1e-12 in float64)."""
from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn import preprocessing as skp
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from bnlearn.scaling import (
    MinMaxScaler,
    RunningMoments,
    StandardScaler,
    min_max_scale,
    standardize,
)

TOL = dict(rtol=1e-12, atol=1e-12)
HYP = settings(max_examples=40, deadline=None)


def close(a, b, magnitude=1.0):
    """Equal to 1e-12 relative; absolute 1e-12 times ``magnitude`` (the data's size
    for outputs that are only shifted, not divided by a standard deviation)."""
    np.testing.assert_allclose(
        np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=1e-12, atol=1e-12 * magnitude
    )


def random_matrix(seed, n=40, d=5, nan_fraction=0.0):
    """Features of very different scales and offsets, one constant column, optional NaNs."""
    rng = np.random.default_rng(seed)
    scales = 10.0 ** rng.uniform(-3, 3, size=d)
    offsets = scales * rng.uniform(-20, 20, size=d)  # |offset| / scale <= 20: well conditioned
    x = rng.standard_normal((n, d)) * scales + offsets
    x[:, d // 2] = offsets[d // 2]  # a constant feature
    if nan_fraction:
        mask = rng.random((n, d)) < nan_fraction
        mask[0] = False  # every feature keeps at least one value
        x[mask] = np.nan
    return x


# ---------------------------------------------------------------- hypothesis strategies
def _well_conditioned(x):
    """Reject columns whose spread is tiny but non-zero relative to their size.

    On such columns every implementation's last bits are amplified by
    |x| / spread, so a 1e-12 comparison would test rounding, not the algorithm.
    """
    for col in x.T:
        col = col[~np.isnan(col)]
        if col.size == 0:
            return False
        spread = col.max() - col.min()
        if spread != 0 and spread < 1e-2 * max(1.0, np.abs(col).max()):
            return False
    return True


finite = st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False, width=64)
matrices = hnp.arrays(
    np.float64,
    st.tuples(st.integers(1, 25), st.integers(1, 4)),
    elements=finite,
)


@st.composite
def matrices_with_nans(draw):
    x = draw(matrices)
    mask = draw(hnp.arrays(np.bool_, x.shape))
    x = x.copy()
    x[mask] = np.nan
    return x


# ================================================================ stateless functions
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("axis", [0, 1])
def test_functions_match_sklearn_random(seed, axis):
    x = random_matrix(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn.scale warns on its own re-centring check
        close(standardize(x, axis=axis), skp.scale(x, axis=axis))
    close(min_max_scale(x, axis=axis), skp.minmax_scale(x, axis=axis))
    close(min_max_scale(x, (-3, 0.5), axis=axis), skp.minmax_scale(x, (-3, 0.5), axis=axis))


def test_functions_on_1d_and_3d():
    x = np.random.default_rng(1).normal(5, 3, size=30)
    close(standardize(x), skp.scale(x))
    close(min_max_scale(x), skp.minmax_scale(x))
    cube = np.random.default_rng(2).normal(size=(6, 4, 3))
    # axis=1 of a 3-D array: each (i, :, k) fibre is scaled on its own
    z = standardize(cube, axis=1)
    close(z.mean(axis=1), np.zeros((6, 3)))
    close(z.std(axis=1), np.ones((6, 3)))
    m = min_max_scale(cube, axis=-2)
    close(m.min(axis=1), np.zeros((6, 3)))
    close(m.max(axis=1), np.ones((6, 3)))


@HYP
@given(x=matrices, lo=st.floats(-5, 5), width=st.floats(0.1, 10))
def test_functions_match_sklearn_property(x, lo, width):
    assume(_well_conditioned(x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        close(standardize(x), skp.scale(x))
    close(min_max_scale(x, (lo, lo + width)), skp.minmax_scale(x, (lo, lo + width)))


@HYP
@given(x=matrices_with_nans())
def test_functions_with_nans_match_sklearn_property(x):
    assume(_well_conditioned(x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = skp.scale(x)
    z = standardize(x)
    close(z, expected)  # assert_allclose treats NaN == NaN
    np.testing.assert_array_equal(np.isnan(z), np.isnan(x))
    close(min_max_scale(x), skp.minmax_scale(x))


def test_functions_keep_float32_and_promote_ints():
    x32 = np.random.default_rng(0).normal(size=(10, 3)).astype(np.float32)
    assert standardize(x32).dtype == np.float32
    assert min_max_scale(x32).dtype == np.float32
    xi = np.arange(12).reshape(4, 3)
    assert standardize(xi).dtype == np.float64
    close(min_max_scale(xi), skp.minmax_scale(xi.astype(float)))


def test_functions_constant_feature():
    x = np.array([[1.0, 7.0], [2.0, 7.0], [3.0, 7.0]])
    close(standardize(x)[:, 1], [0, 0, 0])
    close(min_max_scale(x, (2, 5))[:, 1], [2, 2, 2])


# ================================================================ scalers vs sklearn
def _compare_standard(ours, theirs, x):
    close(ours.mean_, theirs.mean_)
    close(ours.var_, theirs.var_)
    close(ours.scale_, theirs.scale_)
    np.testing.assert_array_equal(np.asarray(ours.n_samples_seen_), np.asarray(theirs.n_samples_seen_))
    assert ours.n_features_in_ == theirs.n_features_in_ == x.shape[1]
    close(ours.transform(x), theirs.transform(x))


def _compare_minmax(ours, theirs, x):
    for name in ("data_min_", "data_max_", "data_range_", "scale_", "min_"):
        close(getattr(ours, name), getattr(theirs, name))
    assert ours.n_samples_seen_ == theirs.n_samples_seen_
    assert ours.n_features_in_ == theirs.n_features_in_ == x.shape[1]
    close(ours.transform(x), theirs.transform(x))


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("nan_fraction", [0.0, 0.2])
def test_standard_scaler_matches_sklearn(seed, nan_fraction):
    x = random_matrix(seed, nan_fraction=nan_fraction)
    new = random_matrix(seed + 100, n=7, nan_fraction=nan_fraction)
    ours, theirs = StandardScaler().fit(x), skp.StandardScaler().fit(x)
    _compare_standard(ours, theirs, x)
    close(ours.transform(new), theirs.transform(new))
    close(ours.inverse_transform(new), theirs.inverse_transform(new))
    close(StandardScaler().fit_transform(x), skp.StandardScaler().fit_transform(x))


@pytest.mark.parametrize("with_mean,with_std", [(True, False), (False, True), (False, False)])
def test_standard_scaler_options_match_sklearn(with_mean, with_std):
    x = random_matrix(4)
    ours = StandardScaler(with_mean=with_mean, with_std=with_std).fit(x)
    theirs = skp.StandardScaler(with_mean=with_mean, with_std=with_std).fit(x)
    for name in ("mean_", "var_", "scale_"):
        a, b = getattr(ours, name), getattr(theirs, name)
        assert (a is None) == (b is None), name
        if a is not None:
            close(a, b)
    size = np.abs(x).max()
    close(ours.transform(x), theirs.transform(x), magnitude=1.0 if with_std else size)
    close(ours.inverse_transform(x), theirs.inverse_transform(x), magnitude=size)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("feature_range", [(0, 1), (-1, 1), (2.5, 7)])
@pytest.mark.parametrize("clip", [False, True])
def test_minmax_scaler_matches_sklearn(seed, feature_range, clip):
    x = random_matrix(seed, nan_fraction=0.1 * seed)
    new = random_matrix(seed + 100, n=7) * 3  # partly outside the training range
    ours = MinMaxScaler(feature_range, clip=clip).fit(x)
    theirs = skp.MinMaxScaler(feature_range, clip=clip).fit(x)
    _compare_minmax(ours, theirs, x)
    close(ours.transform(new), theirs.transform(new))
    close(ours.inverse_transform(new), theirs.inverse_transform(new))
    if clip:
        out = ours.transform(new)
        assert out.min() >= feature_range[0] and out.max() <= feature_range[1]


@HYP
@given(x=st.one_of(matrices, matrices_with_nans()))
def test_scalers_match_sklearn_property(x):
    assume(_well_conditioned(x))
    _compare_standard(StandardScaler().fit(x), skp.StandardScaler().fit(x), x)
    _compare_minmax(MinMaxScaler().fit(x), skp.MinMaxScaler().fit(x), x)


@HYP
@given(x=matrices, data=st.data())
def test_partial_fit_equals_fit_on_concatenation(x, data):
    assume(_well_conditioned(x))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(x)), max_size=4)))
    parts = [p for p in np.split(x, cuts) if len(p)]
    for cls, sk_cls in ((StandardScaler, skp.StandardScaler), (MinMaxScaler, skp.MinMaxScaler)):
        inc, sk_inc = cls(), sk_cls()
        for p in parts:
            inc.partial_fit(p)
            sk_inc.partial_fit(p)
        full = cls().fit(x)
        close(inc.transform(x), full.transform(x))
        close(inc.transform(x), sk_inc.transform(x))
        assert inc.n_samples_seen_ == full.n_samples_seen_ == len(x)


def test_partial_fit_with_nans_matches_fit():
    x = random_matrix(7, n=60, nan_fraction=0.3)
    inc = StandardScaler()
    for part in np.array_split(x, 6):
        inc.partial_fit(part)
    full = StandardScaler().fit(x)
    _compare_standard(inc, full, x)
    np.testing.assert_array_equal(inc.n_samples_seen_, (~np.isnan(x)).sum(axis=0))


def test_fit_forgets_previous_fit():
    s = StandardScaler().fit(np.ones((5, 3)))
    x = random_matrix(0, d=2)
    s.fit(x)
    _compare_standard(s, skp.StandardScaler().fit(x), x)
    m = MinMaxScaler().fit(np.full((4, 2), 100.0)).fit(x)
    _compare_minmax(m, skp.MinMaxScaler().fit(x), x)


# ================================================================ conventions
def test_pipeline_clone_and_params():
    rng = np.random.default_rng(0)
    x = random_matrix(0, n=80)
    y = x @ rng.normal(size=x.shape[1]) + rng.normal(size=len(x))
    ours = make_pipeline(StandardScaler(), MinMaxScaler((-1, 1)), LinearRegression()).fit(x, y)
    theirs = make_pipeline(skp.StandardScaler(), skp.MinMaxScaler((-1, 1)), LinearRegression()).fit(x, y)
    np.testing.assert_allclose(ours.predict(x), theirs.predict(x), rtol=1e-9, atol=1e-9)

    s = StandardScaler(with_mean=False, copy=False)
    assert s.get_params() == {"copy": False, "with_mean": False, "with_std": True}
    m = MinMaxScaler(feature_range=[2, 3], clip=True)
    assert m.get_params() == {"feature_range": [2, 3], "copy": True, "clip": True}
    assert m.get_params()["feature_range"] == [2, 3]  # stored as given, not converted
    c = clone(m.fit(x))
    assert c.get_params() == m.get_params() and not hasattr(c, "scale_")
    m.set_params(feature_range=(0, 10))
    close(m.fit(x).transform(x).max(axis=0), 10.0 * (np.ptp(x, axis=0) > 0))
    pipe = Pipeline([("scale", StandardScaler()), ("reg", LinearRegression())])
    pipe.set_params(scale__with_std=False)
    assert pipe.named_steps["scale"].with_std is False
    assert "with_mean" in repr(StandardScaler(with_mean=False))


def test_keyword_only_parameters():
    with pytest.raises(TypeError):
        StandardScaler(False)  # noqa: FBT003
    with pytest.raises(TypeError):
        MinMaxScaler((0, 1), False)  # noqa: FBT003


@parametrize_with_checks([StandardScaler(), MinMaxScaler()])
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(estimator)


def test_feature_names_with_pandas():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(random_matrix(0, d=3), columns=["length_ft", "km", "age"])
    s = StandardScaler().fit(df)
    assert list(s.feature_names_in_) == ["length_ft", "km", "age"]
    assert list(s.get_feature_names_out()) == ["length_ft", "km", "age"]
    close(s.transform(df), skp.StandardScaler().fit_transform(df.to_numpy()))


def test_dtypes_and_copy():
    x32 = random_matrix(0).astype(np.float32)
    s = StandardScaler().fit(x32)
    assert s.mean_.dtype == np.float64 and s.transform(x32).dtype == np.float32
    assert MinMaxScaler().fit(x32).transform(x32).dtype == np.float32
    xi = np.arange(20).reshape(10, 2)
    assert StandardScaler().fit(xi).transform(xi).dtype == np.float64
    x = random_matrix(1)
    before = x.copy()
    StandardScaler().fit(x).transform(x)
    np.testing.assert_array_equal(x, before)  # copy=True leaves the input alone
    out = StandardScaler(copy=False).fit(x).transform(x)
    assert out is x  # copy=False works in place on a float ndarray
    out = MinMaxScaler().fit(before).transform(before, copy=False)
    assert out is before


# ================================================================ edge cases
def test_constant_features_are_left_unscaled():
    x = np.column_stack([np.arange(6.0), np.full(6, 3.7), np.zeros(6)])
    s = StandardScaler().fit(x)
    close(s.scale_[1:], [1.0, 1.0])
    close(s.var_[1:], [0.0, 0.0])
    close(s.transform(x)[:, 1:], np.zeros((6, 2)))
    _compare_standard(s, skp.StandardScaler().fit(x), x)
    m = MinMaxScaler((-2, 2)).fit(x)
    close(m.transform(x)[:, 1:], np.full((6, 2), -2.0))
    _compare_minmax(m, skp.MinMaxScaler((-2, 2)).fit(x), x)
    close(m.inverse_transform(m.transform(x)), x)


def test_nearly_constant_large_feature_is_constant_like_sklearn():
    # 1e8 + tiny rounding noise: the variance is at the level of rounding error
    x = np.full((50, 1), 1e8) + np.tile([0.0, 1.4901161193847656e-08], 25)[:, None]
    s, t = StandardScaler().fit(x), skp.StandardScaler().fit(x)
    close(s.scale_, t.scale_)
    assert s.scale_[0] == 1.0


def test_nans_ignored_in_fit_and_kept_in_transform():
    x = np.array([[1.0, np.nan], [2.0, 4.0], [np.nan, 6.0], [3.0, 8.0]])
    s = StandardScaler().fit(x)
    close(s.mean_, [2.0, 6.0])
    close(s.var_, [2 / 3, 8 / 3])
    np.testing.assert_array_equal(s.n_samples_seen_, [3, 3])
    z = s.transform(x)
    np.testing.assert_array_equal(np.isnan(z), np.isnan(x))
    m = MinMaxScaler().fit(x)
    close(m.data_min_, [1.0, 4.0])
    close(m.data_max_, [3.0, 8.0])
    np.testing.assert_array_equal(np.isnan(m.transform(x)), np.isnan(x))
    np.testing.assert_array_equal(np.isnan(s.inverse_transform(z)), np.isnan(x))


def test_all_nan_feature_gives_nan_statistics_without_warnings():
    x = np.array([[1.0, np.nan], [3.0, np.nan]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = StandardScaler().fit(x)
        m = MinMaxScaler().fit(x)
        z = standardize(x)
    assert np.isnan(s.mean_[1]) and np.isnan(m.data_min_[1]) and np.isnan(z[:, 1]).all()
    close(s.transform(x)[:, 0], [-1, 1])
    # a later batch with values for that feature fills it in
    m.partial_fit(np.array([[2.0, 5.0], [2.0, 9.0]]))
    close(m.data_min_, [1.0, 5.0])


@HYP
@given(x=st.one_of(matrices, matrices_with_nans()))
def test_inverse_transform_round_trip(x):
    assume(_well_conditioned(x))
    for scaler in (StandardScaler(), MinMaxScaler((-1, 3)), StandardScaler(with_mean=False)):
        back = scaler.fit(x).inverse_transform(scaler.transform(x))
        np.testing.assert_allclose(back, x, rtol=1e-12, atol=1e-12 * max(1.0, np.nanmax(np.abs(x))))


# ================================================================ RunningMoments
@pytest.mark.parametrize("batch", [1, 7, 1000])
def test_running_moments_matches_numpy(batch):
    x = random_matrix(3, n=200)
    rm = RunningMoments()
    for start in range(0, len(x), batch):
        rm.update(x[start : start + batch])
    close(rm.mean, x.mean(axis=0))
    varying = [0, 1, 3, 4]  # column 2 is constant
    close(rm.var[varying], x.var(axis=0)[varying])
    close(rm.std[varying], x.std(axis=0)[varying])
    close(rm.variance(ddof=1)[varying], x.var(axis=0, ddof=1)[varying])
    np.testing.assert_array_equal(rm.count, np.full(x.shape[1], 200))
    # the constant column: exactly zero here, where numpy's two-pass leaves rounding error
    assert rm.var[2] == 0.0 and rm.mean[2] == x[0, 2]
    assert x.var(axis=0)[2] < 1e-20 * x[0, 2] ** 2 + 1e-12


@HYP
@given(x=matrices_with_nans(), data=st.data())
def test_running_moments_merge_is_fit_on_union(x, data):
    assume(_well_conditioned(x))
    k = data.draw(st.integers(0, len(x)))
    a = RunningMoments().update(x[:k])
    b = RunningMoments().update(x[k:])
    ab = a.merge(b)
    whole = RunningMoments().update(x)
    close(ab.mean, whole.mean)
    close(ab.var, whole.var)
    np.testing.assert_array_equal(ab.count, (~np.isnan(x)).sum(axis=0))
    close(ab.mean, np.nanmean(x, axis=0))
    close(ab.var, np.nanvar(x, axis=0))
    # NaN handling is the scaler's: same statistics as StandardScaler
    s = StandardScaler().fit(x)
    close(ab.mean, s.mean_)
    close(ab.var, s.var_)


def test_running_moments_merge_leaves_operands_and_handles_empty():
    a = RunningMoments().update(np.arange(4.0))
    b = RunningMoments().update(np.arange(10.0, 16.0))
    before = (a.count.copy(), a.mean.copy(), a.m2.copy())
    ab = a.merge(b)
    close(ab.mean, np.r_[np.arange(4.0), np.arange(10.0, 16.0)].mean())
    assert a.count == before[0] and a.mean == before[1] and a.m2 == before[2]
    empty = RunningMoments()
    close(empty.merge(a).mean, a.mean)
    close(a.merge(empty).var, a.var)
    assert a.update(np.zeros((0,))).count == 4  # an empty batch changes nothing


def test_running_moments_feature_shapes():
    x = np.random.default_rng(0).normal(size=(30, 3, 2))
    rm = RunningMoments().update(x[:10]).update(x[10:])
    assert rm.feature_shape == (3, 2)
    close(rm.mean, x.mean(axis=0))
    scalar = RunningMoments()
    for v in [1.0, 2.0, 4.0]:
        scalar.update(v)  # a scalar is one sample of a scalar feature
    close(scalar.mean, 7 / 3)
    close(scalar.var, np.var([1.0, 2.0, 4.0]))


def test_running_moments_empty_feature_is_nan():
    rm = RunningMoments().update(np.array([[1.0, np.nan], [2.0, np.nan]]))
    assert np.isnan(rm.mean[1]) and np.isnan(rm.var[1]) and rm.count[1] == 0
    assert np.isnan(rm.variance(ddof=1)[1])
    assert np.isnan(RunningMoments().update(np.array([5.0])).variance(ddof=1))


def test_cancellation_textbook_formula_fails_running_moments_succeeds():
    """Float32 feature, mean 1e6, standard deviation 1: E[x^2] - E[x]^2 cancels."""
    rng = np.random.default_rng(0)
    x = (1e6 + rng.standard_normal(100_000)).astype(np.float32)
    # reference: the exact statistics of these float32 numbers, two-pass in float64
    x64 = x.astype(np.float64)
    mean_ref = x64.mean()
    std_ref = np.sqrt(((x64 - mean_ref) ** 2).mean())

    # textbook formula in the data's precision: catastrophic cancellation
    var_f32 = np.mean(x * x, dtype=np.float32) - np.mean(x, dtype=np.float32) ** 2
    assert not abs(np.sqrt(max(var_f32, 0.0)) - std_ref) < 0.5 * std_ref
    # even with float64 accumulators it misses 1e-6 relative
    var_f64 = np.mean(x64**2) - np.mean(x64) ** 2
    assert abs(np.sqrt(var_f64) - std_ref) / std_ref > 1e-6

    # RunningMoments: streamed in 1000 batches, and merged from two shards
    rm = RunningMoments()
    for batch in np.array_split(x, 1000):
        rm.update(batch)
    assert abs(rm.mean - mean_ref) / mean_ref < 1e-6
    assert abs(rm.std - std_ref) / std_ref < 1e-6
    merged = RunningMoments().update(x[:30_000]).merge(RunningMoments().update(x[30_000:]))
    assert abs(merged.std - std_ref) / std_ref < 1e-6
    # one sample at a time (Welford's special case), on a prefix to keep it quick
    one = RunningMoments()
    for v in x[:2000]:
        one.update(v)
    pre = x64[:2000]
    assert abs(one.std - pre.std()) / pre.std() < 1e-6
    # and the scaler built on it standardises the float32 column correctly
    z = StandardScaler().fit_transform(x[:, None])
    assert z.dtype == np.float32
    assert abs(float(z.astype(np.float64).std()) - 1.0) < 1e-3


# ================================================================ errors
def test_transform_before_fit():
    x = np.ones((3, 2))
    for scaler in (StandardScaler(), MinMaxScaler()):
        for method in (scaler.transform, scaler.inverse_transform):
            with pytest.raises(NotFittedError, match=r"not fitted yet: call fit\(X\)"):
                method(x)
    with pytest.raises(ValueError, match="call fit"):
        StandardScaler().transform(x)  # NotFittedError is a ValueError
    with pytest.raises(ValueError, match=r"before any data: call update\(x\)"):
        RunningMoments().mean


@pytest.mark.parametrize("cls", [StandardScaler, MinMaxScaler])
def test_wrong_number_of_features(cls):
    s = cls().fit(np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"X has 2 features, but \w+ is expecting 3 features"):
        s.transform(np.ones((4, 2)))
    with pytest.raises(ValueError, match="X has 4 features"):
        s.inverse_transform(np.ones((1, 4)))
    with pytest.raises(ValueError, match="X has 1 features"):
        s.partial_fit(np.ones((5, 1)))


@pytest.mark.parametrize("cls", [StandardScaler, MinMaxScaler])
def test_shape_errors(cls):
    with pytest.raises(ValueError, match=r"2-D array.*got shape \(5,\).*Reshape your data"):
        cls().fit(np.arange(5.0))
    with pytest.raises(ValueError, match=r"0 sample\(s\) \(shape=\(0, 3\)\)"):
        cls().fit(np.ones((0, 3)))
    with pytest.raises(ValueError, match=r"0 feature\(s\) \(shape=\(4, 0\)\)"):
        cls().fit(np.ones((4, 0)))


BAD_INPUTS = [
    (np.array([["a", "b"], ["c", "d"]]), TypeError, r"numeric array.*got dtype <U1"),
    (np.array([[1 + 2j, 3.0]]), ValueError, r"Complex data not supported.*complex128"),
    (np.array([[1.0, "2.0"]], dtype=object), TypeError, r"real number, not a string.*str '2.0'"),
    (np.array([[1.0, None]], dtype=object), TypeError, r"got NoneType None"),
    (np.array([[1.0, np.inf]]), ValueError, r"containing infinity"),
    (np.array([["2001-01-01"]], dtype="datetime64[D]"), TypeError, r"got dtype datetime64"),
]


@pytest.mark.parametrize("x,err,msg", BAD_INPUTS)
def test_non_numeric_input_refused_everywhere(x, err, msg):
    with pytest.raises(err, match=msg):
        StandardScaler().fit(x)
    with pytest.raises(err, match=msg):
        MinMaxScaler().fit(x)
    with pytest.raises(err, match=msg):
        standardize(x)
    with pytest.raises(err, match=msg):
        min_max_scale(x)
    with pytest.raises(err, match=msg):
        RunningMoments().update(x)
    fitted = StandardScaler().fit(np.ones((2, x.shape[1])))
    with pytest.raises(err, match=msg):
        fitted.transform(x)


def test_object_array_of_numbers_is_accepted():
    x = np.array([[1, 2.5], [3, 4.0]], dtype=object)
    close(StandardScaler().fit_transform(x), skp.StandardScaler().fit_transform(x.astype(float)))


def test_sparse_and_ragged_input_refused():
    sparse = pytest.importorskip("scipy.sparse")
    with pytest.raises(TypeError, match="dense array; got a sparse matrix of type csr_matrix"):
        StandardScaler().fit(sparse.csr_matrix(np.eye(3)))
    with pytest.raises(TypeError, match="expects a numeric array; could not make one from list"):
        standardize([[1.0, 2.0], [3.0]])


@pytest.mark.parametrize(
    "feature_range,err,msg",
    [
        ((1, 0), ValueError, r"min < max; got \(1, 0\)"),
        ((2, 2), ValueError, r"min < max; got \(2, 2\)"),
        ((0, np.inf), ValueError, r"finite numbers.*got \(0, inf\)"),
        ((0, np.nan), ValueError, r"got \(0, nan\)"),
        ((0, 1, 2), TypeError, r"pair of real numbers \(min, max\); got \(0, 1, 2\)"),
        (("0", "1"), TypeError, r"pair of real numbers.*got \('0', '1'\)"),
        (5, TypeError, r"pair of real numbers.*got 5"),
        ((0, 1j), TypeError, r"got \(0, 1j\)"),
    ],
)
def test_invalid_feature_range(feature_range, err, msg):
    x = np.arange(6.0).reshape(3, 2)
    with pytest.raises(err, match=msg):
        MinMaxScaler(feature_range).fit(x)
    with pytest.raises(err, match=msg):
        min_max_scale(x, feature_range)


def test_invalid_axis_and_scalar_input():
    x = np.ones((3, 2))
    with pytest.raises(ValueError, match="axis 2 is out of range for an array with 2 dimension"):
        standardize(x, axis=2)
    with pytest.raises(TypeError, match=r"axis must be an int; got 0.5"):
        min_max_scale(x, axis=0.5)
    with pytest.raises(ValueError, match="at least one dimension; got a scalar"):
        standardize(3.0)
    with pytest.raises(ValueError, match=r"at least one sample along axis 0; got shape \(0, 2\)"):
        min_max_scale(np.ones((0, 2)))


def test_running_moments_errors():
    rm = RunningMoments().update(np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"samples of shape \(2,\); got a batch of shape \(3, 4\)"):
        rm.update(np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"cannot merge.*shape \(2,\).*shape \(\)"):
        rm.merge(RunningMoments().update(np.ones(3)))
    with pytest.raises(TypeError, match="expects a RunningMoments; got ndarray"):
        rm.merge(np.ones(2))
    with pytest.raises(ValueError, match="ddof must be a non-negative int; got -1"):
        rm.variance(ddof=-1)


def test_scaling_never_imports_torch():
    code = "import sys, bnlearn, bnlearn.scaling; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
