"""Chapter 7: the regularisation experiments (tiny settings) and their helpers (``member_data``, the paired difference)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from bnlearn import experiments
from bnlearn.data import load_digits
from bnlearn.experiments import regularisation as R

TINY = {"seeds": 3, "train_size": 48, "width": 8, "depth": 2, "batch_size": 8, "steps": 6}


@pytest.fixture(scope="module")
def digits():
    return load_digits()


# --------------------------------------------------------------------------- statistics

def test_paired_difference_known_answer():
    out = R.paired_difference([3.0, 5.0, 7.0], [2.0, 3.0, 4.0])      # d = 1, 2, 3
    half = 4.302652729911275 * 1.0 / math.sqrt(3)                   # t_{0.975, 2} s / sqrt(n)
    assert out["mean"] == pytest.approx(2.0)
    assert out["low"] == pytest.approx(2.0 - half) and out["high"] == pytest.approx(2.0 + half)
    assert out["verdict"] == "not shown"
    assert R.paired_difference([2.0, 2.1, 1.9, 2.0], [0.0, 0.0, 0.0, 0.1])["verdict"] == "shown"
    with pytest.raises(ValueError, match=r"same length; got shapes \(2,\) and \(3,\)"):
        R.paired_difference([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="at least 2 seeds .*; got 1"):
        R.paired_difference([1.0], [2.0])


def test_member_data_flips_labels_to_other_classes(digits):
    d = R.member_data(digits, 3, 200, 0.3, seed=4)
    assert d["x"].shape == (3, 200, 64) and d["y"].shape == (3, 200)
    flipped = d["flipped"]
    assert torch.equal(flipped, d["y"] != d["y_true"])              # a flipped label is always wrong
    assert 0.15 < flipped.double().mean().item() < 0.45
    again = R.member_data(digits, 3, 200, 0.3, seed=4)
    assert torch.equal(again["y"], d["y"]) and torch.equal(again["x"], d["x"])
    with pytest.raises(ValueError, match=r"train_size must be an int in 2..1347; got 5000"):
        R.member_data(digits, 2, 5000)
    with pytest.raises(ValueError, match=r"label_noise must be a number in \[0, 1.0\); got 1.0"):
        R.member_data(digits, 2, 10, 1.0)
    with pytest.raises(TypeError, match="dataset must be a bnlearn.data.Dataset; got dict"):
        R.member_data({}, 2, 10)


# --------------------------------------------------------------------------- the experiments

def test_registered():
    assert {"bn-noise", "batch-size-regularisation", "bn-vs-dropout", "eval-statistics"} <= set(experiments.names())


def test_bn_noise_falls_with_batch_size(monkeypatch):
    kw = dict(seed=0, batch_sizes=(2, 32), draws=12, samples=2, train_steps=5, width=16)
    res = experiments.run("bn-noise", **kw)
    z = res.data["z_var"]
    assert z[0] > 3 * z[1]                                           # B = 2 vs 32
    assert res.summary["slope_z"] < -0.5
    monkeypatch.setattr(R, "_CHUNK_VALUES", 32 * 64 * 5)             # 5 draws per pass at B = 32
    chunked = experiments.run("bn-noise", **kw).data                 # chunking changes nothing
    for key in ("z_var", "logit_var"):
        np.testing.assert_allclose(chunked[key], res.data[key], rtol=1e-4)
    assert json.loads(res.to_json())["name"] == "bn-noise"
    with pytest.raises(ValueError, match=r"batch_sizes must be ints >= 2 .*got \(1, 4\)"):
        experiments.run("bn-noise", batch_sizes=(1, 4))


def test_batch_size_regularisation_tiny():
    res = experiments.run("batch-size-regularisation", seed=1, ghost_sizes=(2, 4), **TINY)
    assert set(res.summary["conditions"]) == {"none", "bn", "ghost-2", "ghost-4"}
    assert set(res.summary["vs_reference"]) == {"none", "ghost-2", "ghost-4"}
    assert res.summary["vs_reference"]["ghost-2"]["test_accuracy"]["verdict"] in ("shown", "not shown")
    assert len(res.data["bn"]["test_accuracy"]) == TINY["seeds"]
    again = experiments.run("batch-size-regularisation", seed=1, ghost_sizes=(2, 4), **TINY)
    assert again.to_json() == res.to_json()                         # deterministic
    json.loads(res.to_json())
    with pytest.raises(ValueError, match=r"each ghost size must be an int >= 2 dividing batch_size=8; got 3"):
        experiments.run("batch-size-regularisation", ghost_sizes=(3,), **TINY)
    with pytest.raises(ValueError, match=r"batch_size must not exceed train_size \(48\); got 64"):
        experiments.run("batch-size-regularisation", **{**TINY, "batch_size": 64})
    with pytest.raises(ValueError, match=r"seeds must be an int >= 2; got 1"):
        experiments.run("batch-size-regularisation", **{**TINY, "seeds": 1})


def test_bn_vs_dropout_tiny():
    res = experiments.run("bn-vs-dropout", seed=0, **TINY)
    assert set(res.summary["conditions"]) == {"none", "dropout", "bn", "bn+dropout"}
    assert "memorised" in res.summary["conditions"]["bn"]            # label noise 0.2 by default
    assert set(res.summary["bn_vs_dropout"]) == {"test_accuracy", "gap"}
    clean = experiments.run("bn-vs-dropout", seed=0, label_noise=0.0, **TINY)
    assert "memorised" not in clean.summary["conditions"]["bn"]
    with pytest.raises(ValueError, match="dropout must be > 0 to compare with it; got 0"):
        experiments.run("bn-vs-dropout", dropout=0.0, **TINY)
    with pytest.raises(TypeError, match=r"unknown setting\(s\) \['ghost_sizes'\]"):
        experiments.run("bn-vs-dropout", ghost_sizes=(2,), **TINY)


def test_eval_statistics_tiny():
    res = experiments.run("eval-statistics", seed=0, test_batch_sizes=(1, 4, 450), **TINY)
    s = res.summary
    assert set(s["batch"]) == {"1", "4", "450"}
    assert {"ema", "population", "population_vs_ema", "batch_vs_population"} <= set(s)
    assert s["batch"]["1"]["mean"] < 0.3                              # one example: a constant prediction
    with pytest.raises(ValueError, match=r"test_batch_sizes must be a non-empty sequence of batch sizes >= 1; "
                                         r"got \(0,\)"):
        experiments.run("eval-statistics", test_batch_sizes=(0,), **TINY)
    with pytest.raises(ValueError, match=r"test_batch_sizes must be ints in 1..450; got \(4, 451\)"):
        experiments.run("eval-statistics", test_batch_sizes=(4, 451), **TINY)


def test_experiments_reject_bad_scale_and_seed():
    with pytest.raises(ValueError, match="scale must be one of .*got 'huge'"):
        experiments.run("bn-noise", scale="huge")
    with pytest.raises(TypeError, match="seed must be an int; got 1.5"):
        R.bn_vs_dropout(seed=1.5)


@pytest.mark.parametrize("name, kw, figure", [
    ("bn-noise", dict(batch_sizes=(2, 4), draws=4, samples=2, train_steps=5, width=8), "noise-vs-batch-size"),
    ("batch-size-regularisation", dict(ghost_sizes=(2, 4), **TINY), "ghost-vs-bn"),
    ("bn-vs-dropout", TINY, "vs-none"),
    ("eval-statistics", dict(test_batch_sizes=(1, 4), **TINY), "accuracy-vs-test-batch"),
])
def test_results_draw_one_figure_by_name(name, kw, figure):
    import matplotlib.pyplot as plt

    res = experiments.run(name, seed=0, **kw)
    assert res.figure_names() == [figure]
    fig = res.figure(figure)
    assert len(fig.axes) >= 1
    plt.close(fig)
    figs = res.figures()                                              # the base class's, from figure_names
    assert list(figs) == [figure]
    plt.close(figs[figure])
    with pytest.raises(ValueError, match=rf"{name} draws the figures \['{figure}'\]; got 'nope'"):
        res.figure("nope")
