"""The chapter-4 figures of bnlearn.plots."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from bnlearn import plots  # noqa: E402


def test_batchnorm_graph_draws_every_node():
    fig = plots.batchnorm_graph()
    texts = [t.get_text() for t in fig.axes[0].texts if t.get_text()]   # arrows are empty annotations
    assert len(texts) == 9 and any("gamma" in t for t in texts)
    plt.close(fig)


def test_seed_curves_plots_mean_and_band_per_label():
    hist = lambda k: {"epoch": np.arange(3), "loss": np.array([3.0, 2.0, 1.0]) + k}  # noqa: E731
    fig = plots.seed_curves({"a": [hist(0), hist(1)], "b": [hist(2)]}, ["loss"])
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [3.5, 2.5, 1.5])
    assert [l.get_label() for l in ax.lines] == ["a (2 seeds)", "b (1 seeds)"]
    plt.close(fig)


def test_seed_curves_bad_input():
    with pytest.raises(ValueError, match="non-empty dict of label -> list of histories; got {}"):
        plots.seed_curves({}, ["loss"])
    with pytest.raises(ValueError, match=r"one title per key \(1\); got 2"):
        plots.seed_curves({"a": [{"epoch": np.arange(2), "loss": np.ones(2)}]}, ["loss"], titles=["x", "y"])
