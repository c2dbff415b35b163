"""Tests of bnlearn.experiments: the registry, results, and chapter 6's experiments at tiny sizes."""
import json
import math

import numpy as np
import pytest

from bnlearn import experiments, seed_range
from bnlearn.experiments import Result, mean_interval

TINY_FIG1 = dict(steps=30, seeds=2, eval_every=10, target=0.3, lr=2.0, settled_after=10)


def test_registry_lists_chapter6():
    assert {"seed-cnn", "paper-fig1", "lr-sweep"} <= set(experiments.names())
    assert experiments.describe("paper-fig1").startswith("Ioffe and Szegedy's Figure 1")
    assert experiments.get("lr-sweep") is experiments.speed.lr_sweep


def test_registry_errors():
    with pytest.raises(ValueError, match="unknown experiment 'nope'; known experiments: .*paper-fig1"):
        experiments.get("nope")
    with pytest.raises(TypeError, match="experiment name must be a string; got 3"):
        experiments.get(3)
    with pytest.raises(ValueError, match="lower-case words joined by hyphens; got 'Bad Name'"):
        experiments.register("Bad Name")
    with pytest.raises(ValueError, match="'paper-fig1' is already registered by bnlearn.experiments.speed"):
        experiments.register("paper-fig1")(lambda **kw: None)


def test_run_argument_errors():
    with pytest.raises(ValueError, match=r"scale must be one of \('book', 'full'\); got 'huge'"):
        experiments.run("paper-fig1", scale="huge")
    with pytest.raises(ValueError, match=r"dataset must be one of \('digits', 'mnist-5k', 'mnist'\); got 'cifar'"):
        experiments.run("paper-fig1", dataset="cifar")
    with pytest.raises(TypeError, match="seed must be an int; got '1'"):
        experiments.run("paper-fig1", seed="1")
    with pytest.raises(ValueError, match="seed must be >= 0; got -1"):
        experiments.run("paper-fig1", seed=-1)
    with pytest.raises(TypeError, match="progress must be True or False; got 'no'"):
        experiments.run("paper-fig1", progress="no")
    with pytest.raises(TypeError, match=r"paper-fig1 got unknown setting\(s\) \['stepz'\]; its settings are"):
        experiments.run("paper-fig1", stepz=3)
    with pytest.raises(TypeError, match="paper-fig1 setting 'steps' must be like its default 1000; got 'many'"):
        experiments.run("paper-fig1", steps="many")
    with pytest.raises(ValueError, match="paper-fig1 needs seeds >= 1; got 0"):
        experiments.run("paper-fig1", seeds=0)
    with pytest.raises(ValueError, match=r"paper-fig1: target must be an accuracy in \(0, 1\); got 1.0"):
        experiments.run("paper-fig1", target=1.0, steps=1)
    with pytest.raises(ValueError, match=r"paper-fig1: settled_after must be a step >= 0; got -1"):
        experiments.run("paper-fig1", settled_after=-1, steps=1)
    with pytest.raises(ValueError, match=r"tutorial's rate for with BN \(0.01\) must be among lrs \[0.1\]"):
        experiments.run("seed-cnn", lrs=(0.1,))


def test_mean_interval():
    r = mean_interval([1.0, 2.0, 3.0])
    # t_{0.975, 2} = 4.3027, s = 1, n = 3: half-width 4.3027 / sqrt(3)
    assert r["mean"] == 2.0 and r["n"] == 3
    assert r["high"] - 2.0 == pytest.approx(4.302653 / math.sqrt(3), rel=1e-5)
    one = mean_interval([0.5])
    assert one["low"] == -math.inf and one["high"] == math.inf
    # experiments.mean_interval is bnlearn.stats' (one statistics module, one NaN rule)
    from bnlearn import stats

    assert mean_interval is stats.mean_interval
    with pytest.raises(ValueError, match=r"at least one value"):
        mean_interval([])
    assert mean_interval([1.0, float("nan")])["missing"] == 1
    with pytest.raises(ValueError, match=r"infinite"):
        mean_interval([1.0, float("inf")])
    with pytest.raises(ValueError, match=r"confidence must be a number in \(0, 1\), e.g. 0.95; got 95"):
        mean_interval([1.0, 2.0], confidence=95)


def test_result_json_and_save(tmp_path):
    r = Result("demo", params={"x": (1, 2)}, summary={"a": np.float32(0.5), "b": float("nan")},
               data={"arr": np.arange(3), "flag": np.bool_(True)})
    d = json.loads(r.to_json())
    assert d == {"name": "demo", "params": {"x": [1, 2]}, "summary": {"a": 0.5, "b": None},
                 "data": {"arr": [0, 1, 2], "flag": True}}
    assert [p.name for p in r.save(tmp_path / "out")] == ["demo.json"]


def _without_timing(result):
    d = result.to_dict()
    for runs in d["data"].get("runs", {}).values():
        for run in runs:
            run.pop("train_seconds")
    for key in ("step_cost_ratio", "seconds_per_step"):
        d["summary"].pop(key, None)
    return d


def test_paper_fig1_tiny_is_deterministic_and_consistent(tmp_path):
    a = experiments.run("paper-fig1", seed=1, **TINY_FIG1)
    b = experiments.run("paper-fig1", seed=1, **TINY_FIG1)
    assert _without_timing(a) == _without_timing(b)
    s = a.summary
    assert a.params["seed_values"] == seed_range(1, 2) and a.params["target"] == 0.3
    for label in ("with BN", "without BN"):
        runs = a.data["runs"][label]
        assert len(runs) == 2 and runs[0]["eval_steps"] == [0, 10, 20, 30]
        assert all(len(r["p15"]) == 4 and all(p15 <= p50 <= p85 for p15, p50, p85 in zip(r["p15"], r["p50"], r["p85"]))
                   for r in runs)
        assert s["steps_to_target"][label] == [
            next((st for st, acc in zip(r["eval_steps"], r["eval_accuracy"]) if acc >= 0.3), None) for r in runs]
    if s["fraction_of_steps"] is not None:
        pairs = [(b_, p) for b_, p in zip(s["steps_to_target"]["with BN"], s["steps_to_target"]["without BN"])
                 if b_ is not None and p is not None]
        assert s["fraction_of_steps"]["values"] == [b_ / p for b_, p in pairs]
    assert s["step_cost_ratio"]["n"] == 2
    # The final gap is paired by seed: BN's last accuracy minus the plain network's, seed by seed.
    runs = a.data["runs"]
    assert s["final_accuracy_gap"]["values"] == pytest.approx(
        [b_["eval_accuracy"][-1] - p["eval_accuracy"][-1] for b_, p in zip(runs["with BN"], runs["without BN"])])
    # The sigmoid-input summaries, recomputed by hand from the curves (evaluations at steps >= 10).
    for label in ("with BN", "without BN"):
        curves = s["sigmoid_input"][label]
        for k, r in enumerate(runs[label]):
            late = [i for i, st in enumerate(r["eval_steps"]) if st >= 10]
            assert curves["lowest_median"]["values"][k] == min(r["p50"])
            assert curves["median_range"]["values"][k] == pytest.approx(
                max(r["p50"][i] for i in late) - min(r["p50"][i] for i in late))
            assert curves["narrowest_spread"]["values"][k] == pytest.approx(
                min(r["p85"][i] - r["p15"][i] for i in late))
    files = [p.name for p in a.save(tmp_path)]
    assert files == ["paper-fig1.json", "paper-fig1-accuracy.png", "paper-fig1-sigmoid-input.png"]
    assert json.loads((tmp_path / "paper-fig1.json").read_text())["summary"]["target"] == 0.3
    # No evaluation after settled_after: no curve summaries rather than summaries of nothing.
    early = experiments.run("paper-fig1", seed=1, **{**TINY_FIG1, "settled_after": 1000})
    assert early.summary["sigmoid_input"] == {"without BN": None, "with BN": None}


def _check_figures(result, names, axes):
    """``result`` names ``names`` and draws each through the base class's ``figure``/``figures``."""
    import matplotlib.pyplot as plt

    assert result.figure_names() == names
    assert "figures" not in type(result).__dict__          # figures() comes from Result
    for name, n_axes in zip(names, axes):
        fig = result.figure(name)
        assert len(fig.axes) == n_axes, name
        plt.close(fig)
    figs = result.figures()
    assert list(figs) == names
    for fig in figs.values():
        plt.close(fig)
    with pytest.raises(ValueError, match=rf"{result.name} draws the figures \[.*\]; got 'nope'"):
        result.figure("nope")


def test_paper_fig1_figures():
    r = experiments.run("paper-fig1", seed=1, **TINY_FIG1)
    _check_figures(r, ["accuracy", "sigmoid-input"], [1, 2])
    assert r.figure("sigmoid-input").axes[0].get_title() == "without BN (seed 1000)"


def test_paper_fig1_bn_reaches_the_target_first():
    # The chapter's claim at a small size: with lr 2, BN gets to 80% well before the plain network.
    r = experiments.run("paper-fig1", steps=300, seeds=1, eval_every=10, target=0.8)
    bn, plain = r.summary["steps_to_target"]["with BN"][0], r.summary["steps_to_target"]["without BN"][0]
    assert bn is not None and bn <= 100
    assert plain is None or plain > 2 * bn


def test_lr_sweep_tiny(tmp_path):
    r = experiments.run("lr-sweep", steps=60, seeds=1, lrs=(0.25, 64.0, 128.0, 256.0), eval_every=20,
                        threshold=0.5, stop_after=2, depth=2, width=32)
    acc = r.data["final_accuracy"]
    for label in ("with BN", "without BN"):
        row = acc[label][0]
        assert len(row) == 4
        assert row[0] is not None and row[0] >= 0.5  # lr 0.25 trains both
        assert row[3] is None  # after two failures in a row (64, 128) the largest rate is skipped
        assert r.summary["largest_lr"][label] == [0.25]
    assert r.summary["lr_ratio"] == [1.0]
    assert [p.name for p in r.save(tmp_path)] == ["lr-sweep.json", "lr-sweep-accuracy-vs-lr.png"]
    _check_figures(r, ["accuracy-vs-lr"], [1])


def test_seed_cnn_tiny(tmp_path):
    r = experiments.run("seed-cnn", steps=10, seeds=2, lrs=(0.001, 0.01))
    # The tutorial's network as written needs 28x28 images: the book runs it on mnist-5k.
    assert r.params["dataset"] == "mnist-5k" and r.params["steps_per_run"] == 10
    acc = {k: np.array(v) for k, v in r.data["final_accuracy"].items()}
    assert acc["with BN"].shape == (2, 2)
    gap = acc["with BN"][:, 1] - acc["without BN"][:, 0]
    assert r.summary["article"]["gap"]["values"] == pytest.approx(gap.tolist())
    assert r.summary["same_lr_gap"]["0.01"]["mean"] == pytest.approx((acc["with BN"][:, 1] - acc["without BN"][:, 1]).mean())
    assert [p.name for p in r.save(tmp_path)] == ["seed-cnn.json", "seed-cnn-accuracy-vs-lr.png"]
    _check_figures(r, ["accuracy-vs-lr"], [1])


def test_signal_propagation_trains_from_the_first_seed():
    """Chapter 2's training run starts from the first of the measured seeds, for any base seed:
    its step 0 is that seed's Xavier/He network at initialisation."""
    kw = dict(seeds=1, depth=4, width=8, batch=40, train_steps=3, activations=("relu", "tanh"))
    r = experiments.run("signal-propagation", seed=2, **kw)          # seeds: seed_range(2, 1) == [2000]
    for act in ("relu", "tanh"):
        step0 = r.summary["training"][act]["Xavier/He"]["post_std"][0]
        assert step0 == pytest.approx(r.summary["init"][act]["standardised, Xavier/He"]["post_std"], rel=1e-12)
    other = experiments.run("signal-propagation", seed=3, **kw)
    assert other.summary["training"]["relu"]["Xavier/He"]["post_std"][0] != pytest.approx(
        r.summary["training"]["relu"]["Xavier/He"]["post_std"][0])


def test_seed_cnn_runs_on_28x28_digits_for_steps_or_epochs():
    from bnlearn.experiments.speed import SEED_CNN

    assert experiments.datasets("seed-cnn") == ("mnist-5k", "mnist")   # never the 8x8 digits
    with pytest.raises(ValueError, match=r"runs on the data sets \('mnist-5k', 'mnist'\); got 'digits'"):
        experiments.run("seed-cnn", dataset="digits")
    # The full scale is the tutorial's run: 20 epochs at batch 32, at its two rates and more.
    full = SEED_CNN["full"]
    assert full["steps"] is None and full["epochs"] == 20 and full["batch_size"] == 32
    assert {0.001, 0.01} <= set(full["lrs"]) and full["article"] == {"with BN": 0.01, "without BN": 0.001}
    # Exactly one of steps and epochs.
    with pytest.raises(ValueError, match="give exactly one of steps and epochs"):
        experiments.run("seed-cnn", epochs=1)
    with pytest.raises(ValueError, match="give exactly one of steps and epochs"):
        experiments.run("seed-cnn", steps=None)
    with pytest.raises(ValueError, match="seed-cnn needs epochs >= 1; got 0"):
        experiments.run("seed-cnn", steps=None, epochs=0)
    # An epoch is len(x_train) // batch_size steps: 4000 // 2000 = 2 on mnist-5k.
    r = experiments.run("seed-cnn", steps=None, epochs=1, batch_size=2000, seeds=1, lrs=(0.001, 0.01))
    assert r.params["steps_per_run"] == 2 and r.params["epochs"] == 1
    assert np.array(r.data["final_accuracy"]["with BN"]).shape == (1, 2)


def test_the_book_scale_runs_on_an_experiments_first_data_set(monkeypatch):
    # paper-fig1 lists mnist-5k first (the paper's 784 inputs) and still takes the 8x8 digits.
    assert experiments.datasets("paper-fig1") == ("mnist-5k", "digits", "mnist")
    tiny = dict(steps=10, seeds=1, eval_every=10, target=0.3)
    assert experiments.run("paper-fig1", **tiny).params["dataset"] == "mnist-5k"
    assert experiments.run("paper-fig1", dataset="digits", **tiny).params["dataset"] == "digits"
    # Experiments registered with every data set keep the digits as their book default,
    # and the full scale takes MNIST whenever the experiment accepts it.
    seen = {}

    def fake(*, seed, scale, dataset, progress, **overrides):
        seen[scale] = dataset
        return experiments.Result("fake")

    monkeypatch.setitem(experiments._REGISTRY, "lr-sweep", fake)
    experiments.run("lr-sweep")
    experiments.run("lr-sweep", scale="full")
    assert seen == {"book": "digits", "full": "mnist"}
