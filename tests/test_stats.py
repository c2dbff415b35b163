"""bnlearn.stats against scipy.stats, and its one rule for missing values."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from bnlearn import stats


@pytest.mark.parametrize("n", [2, 3, 16, 64])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_mean_interval_matches_scipy(n, confidence):
    x = np.random.default_rng(n).normal(3.0, 2.0, n)
    got = stats.mean_interval(x, confidence)
    low, high = sps.t.interval(confidence, n - 1, loc=x.mean(), scale=sps.sem(x))
    assert got["mean"] == pytest.approx(x.mean(), rel=1e-12)
    assert got["low"] == pytest.approx(low, rel=1e-10) and got["high"] == pytest.approx(high, rel=1e-10)
    assert got["n"] == n and got["missing"] == 0


def test_t_quantile_matches_scipy():
    assert stats.t_quantile(0.95, 5) == pytest.approx(sps.t.ppf(0.975, 4))


def test_paired_is_the_interval_of_differences_and_matches_a_paired_t_test():
    rng = np.random.default_rng(0)
    a = rng.normal(0.9, 0.02, 16)
    b = a - 0.01 + rng.normal(0, 0.005, 16)
    got = stats.paired(a, b)
    p = sps.ttest_rel(a, b).pvalue
    assert got["verdict"] == ("shown" if p < 0.05 else "not shown")
    assert got["mean"] == pytest.approx(float(np.mean(a - b)))
    assert got["same_sign"] in (True, False)


def test_nan_marks_a_missing_value_and_is_left_out_on_both_sides():
    got = stats.paired([1.0, np.nan, 3.0, 4.0], [0.0, 0.0, None, 1.0])
    assert got["n"] == 2 and got["missing"] == 2 and got["values"] == [1.0, 3.0]
    one = stats.mean_interval([np.nan, 2.0])
    assert one["n"] == 1 and one["low"] == -math.inf and stats.verdict(one) == "not shown"
    none = stats.mean_interval([np.nan, np.nan])
    assert none["n"] == 0 and math.isnan(none["mean"]) and stats.verdict(none) == "not shown"


def test_verdict_is_shown_only_when_the_interval_excludes_zero():
    assert stats.verdict({"low": 0.1, "high": 0.3, "n": 5}) == "shown"
    assert stats.verdict({"low": -0.3, "high": -0.1, "n": 5}) == "shown"
    assert stats.verdict({"low": -0.1, "high": 0.3, "n": 5}) == "not shown"


def test_seeds_to_show():
    d = np.array([0.01, -0.005, 0.02, 0.0, 0.012, 0.004])
    expected = (sps.norm.ppf(0.975) * d.std(ddof=1) / d.mean()) ** 2
    assert stats.seeds_to_show(d) == pytest.approx(expected)
    assert stats.seeds_to_show([1.0, -1.0]) == math.inf


@pytest.mark.parametrize("call, exc, match", [
    (lambda: stats.mean_interval([1.0, math.inf]), ValueError, "infinite"),
    (lambda: stats.mean_interval("abc"), TypeError, "1-d sequence of numbers"),
    (lambda: stats.mean_interval(3.0), TypeError, "1-d sequence of numbers"),
    (lambda: stats.mean_interval([[1.0, 2.0]]), ValueError, "must be 1-d"),
    (lambda: stats.mean_interval([]), ValueError, "at least one value"),
    (lambda: stats.paired([], []), ValueError, "at least one value"),
    (lambda: stats.mean_interval([1.0, 2.0], confidence=1.5), ValueError, "confidence must be"),
    (lambda: stats.mean_interval([1.0, 2.0], confidence=True), ValueError, "confidence must be"),
    (lambda: stats.paired([1.0, 2.0], [1.0]), ValueError, "same length"),
    (lambda: stats.t_quantile(0.95, 1), ValueError, "n >= 2"),
    (lambda: stats.verdict([0, 1]), TypeError, "verdict needs an interval"),
    (lambda: stats.seeds_to_show([1.0]), ValueError, "at least 2"),
])
def test_bad_input_is_named(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_stats_never_imports_torch():
    import subprocess
    import sys

    code = "import sys, bnlearn.stats; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
