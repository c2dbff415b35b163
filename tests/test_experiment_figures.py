"""The figures that the results of chapters 2, 3 and 7 draw (what ``bnlearn run --out`` saves),
on tiny runs of the experiments."""
import json

import matplotlib.pyplot as plt
import pytest

from bnlearn import experiments
from bnlearn.experiments import Result, ics, regularisation, signal

TINY = {
    "signal-propagation": dict(seeds=1, depth=3, width=8, batch=50, train_steps=5),
    "ics-percentiles": dict(seeds=2, steps=10, eval_every=5, record_every=5),
    "noisy-bn": dict(seeds=2, steps=10, eval_every=5, record_every=5),
    "ics-gradient": dict(seeds=2, lrs=(0.1,), stages=(0, 2)),
    "landscape": dict(seeds=2, lrs=(0.1,), stages=(0, 2)),
    "ics-probes": dict(seeds=2, lrs=(0.1,), stages=(0, 2)),
    "bn-noise": dict(batch_sizes=(2, 4), draws=4, samples=2, train_steps=5),
    "batch-size-regularisation": dict(seeds=2, train_size=64, steps=5),
    "bn-vs-dropout": dict(seeds=2, train_size=64, steps=5),
    "eval-statistics": dict(seeds=2, train_size=64, steps=5, test_batch_sizes=(1, 2, 4)),
}

# name -> (Result subclass, figure name -> panel titles, left to right)
EXPECTED = {
    "signal-propagation": (signal.SignalPropagationResult, {
        "activations": ["relu", "tanh", "sigmoid"],
        "saturation": ["tanh", "sigmoid"],
        "gradients": ["relu", "tanh", "sigmoid"],
        "training": ["relu, Xavier/He", "relu, Xavier/He + BN", "tanh, Xavier/He", "tanh, Xavier/He + BN"]}),
    "ics-percentiles": (ics.PercentilesResult, {
        "accuracy": ["test accuracy"], "percentiles": ["without BN", "with BN"]}),
    "noisy-bn": (ics.PercentilesResult, {
        "accuracy": ["test accuracy"], "percentiles": ["without BN", "with BN"],
        "noisy-percentiles": ["noisy BN", "plain"]}),
    "ics-gradient": (ics.ProbeResult, {
        "gradient-shift": [r"$\|G - G'\|$", r"$\cos(G, G')$", r"$\|G - G'\| / \|G\|$"]}),
    "landscape": (ics.ProbeResult, {
        "loss-landscape": ["loss range along the step", "largest gradient change",
                           r"effective $\beta$-smoothness"]}),
    "ics-probes": (ics.ProbeResult, {
        "gradient-shift": [r"$\|G - G'\|$", r"$\cos(G, G')$", r"$\|G - G'\| / \|G\|$"],
        "loss-landscape": ["loss range along the step", "largest gradient change",
                           r"effective $\beta$-smoothness"]}),
    "bn-noise": (regularisation.BnNoiseResult, {"noise-vs-batch-size": ["", ""]}),
    "batch-size-regularisation": (regularisation.BatchSizeRegularisationResult, {
        "ghost-vs-bn": ["test accuracy vs BN over 32", "gap vs BN over 32"]}),
    "bn-vs-dropout": (regularisation.BnVsDropoutResult, {
        "vs-none": ["test accuracy vs no regularisation\n20% wrong labels"]}),
    "eval-statistics": (regularisation.EvalStatisticsResult, {"accuracy-vs-test-batch": [""]}),
}


@pytest.fixture(scope="module")
def results():
    return {name: experiments.run(name, seed=0, **kw) for name, kw in TINY.items()}


@pytest.mark.parametrize("name", list(TINY))
def test_results_draw_the_chapters_figures(name, results, tmp_path):
    r = results[name]
    cls, expected = EXPECTED[name]
    assert type(r) is cls
    # Subclassing changes nothing in the JSON.
    plain = Result(r.name, params=r.params, summary=r.summary, data=r.data)
    assert r.to_json() == plain.to_json()
    before = set(plt.get_fignums())
    figs = r.figures()
    assert list(figs) == list(expected)
    for key, fig in figs.items():
        assert [ax.get_title() for ax in fig.axes] == expected[key], key
        plt.close(fig)
    written = r.save(tmp_path)
    assert [p.name for p in written] == [f"{name}.json"] + [f"{name}-{key}.png" for key in expected]
    assert all(p.stat().st_size > 1000 for p in written[1:])
    assert json.loads(written[0].read_text()) == json.loads(plain.to_json())
    assert set(plt.get_fignums()) == before            # save closed every figure it drew


def test_signal_figures_show_the_data(results):
    r = results["signal-propagation"]
    fig = r.figure("activations")
    relu = fig.axes[0]
    assert [line.get_label() for line in relu.lines] == list(signal.SETUPS)
    he = r.summary["init"]["relu"]["standardised, Xavier/He"]["post_std"]
    assert list(relu.lines[3].get_ydata()) == pytest.approx(he)
    assert relu.get_yscale() == "log"
    plt.close(fig)
    fig = r.figure("training")
    run = r.summary["training"]["tanh"]["Xavier/He + BN"]
    assert [line.get_label() for line in fig.axes[3].lines] == [f"step {s}" for s in run["steps"]]
    assert list(fig.axes[3].lines[-1].get_ydata()) == pytest.approx(run["post_std"][-1])
    plt.close(fig)


def test_signal_figures_follow_the_activations_run():
    r = experiments.run("signal-propagation", seed=0, activations=("sigmoid",), seeds=1, depth=3, width=8,
                        batch=50, train_steps=2)
    assert r.figure_names() == ["activations", "saturation", "gradients"]   # sigmoid is not trained
    figs = r.figures()
    assert [ax.get_title() for ax in figs["saturation"].axes] == ["sigmoid"]
    for fig in figs.values():
        plt.close(fig)
    with pytest.raises(ValueError, match=r"signal-propagation draws the figures \['activations', 'saturation', "
                                         r"'gradients'\]; got 'training'"):
        r.figure("training")


def test_percentile_bands_are_the_first_seeds_pairs(results):
    r = results["noisy-bn"]
    fig = r.figure("noisy-percentiles")
    run = r.data["runs"]["noisy-bn"][0]
    median = fig.axes[0].lines[0]
    assert list(median.get_xdata()) == run["record_steps"][::2]
    assert list(median.get_ydata()) == pytest.approx([p[1] for p in run["percentiles_unit0"][::2]])
    plt.close(fig)
    with pytest.raises(ValueError, match=r"ics-percentiles draws the figures \['accuracy', 'percentiles'\]; "
                                         r"got 'noisy-percentiles'"):
        results["ics-percentiles"].figure("noisy-percentiles")


def test_probe_figures_follow_the_measures(results):
    with pytest.raises(ValueError, match=r"landscape draws the figures \['loss-landscape'\]; got 'gradient-shift'"):
        results["landscape"].figure("gradient-shift")
    both = ics.probe_training(seed=0, seeds=2, lrs=(0.1,), stages=(0, 1))
    assert both.figure_names() == ["gradient-shift", "loss-landscape"]
    fig = both.figure("loss-landscape")
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["lr=0.1\nstep=0", "lr=0.1\nstep=1"]
    plt.close(fig)


def test_bn_vs_dropout_panel_titles_name_the_label_noise(results):
    noisy = results["bn-vs-dropout"]
    (title, rows), = noisy.panel().items()
    assert title == "test accuracy vs no regularisation\n20% wrong labels"
    assert rows == {k: v["test_accuracy"] for k, v in noisy.summary["vs_reference"].items()}
    assert list(rows) == ["dropout", "bn", "bn+dropout"]
    clean = experiments.run("bn-vs-dropout", seed=0, label_noise=0.0, **TINY["bn-vs-dropout"])
    assert list(clean.panel()) == ["test accuracy vs no regularisation\nclean labels"]


# Every registered experiment, chapter 6's included, follows one figure protocol:
# it names its figures, and each can be drawn alone by name.
TINY_ALL = {
    **TINY,
    "paper-fig1": dict(steps=20, seeds=2, eval_every=10),
    "seed-cnn": dict(steps=10, seeds=2, lrs=(0.001, 0.01)),
    "lr-sweep": dict(steps=10, seeds=1, eval_every=5, lrs=(0.5, 1.0)),
    # Chapters 8 and 9 (tests/test_experiments_beyond.py checks their figures' content).
    "bn-placement": dict(seeds=2, depth=2, width=8, steps=6, eval_every=3, lrs=(0.01, 0.1)),
    "small-batch-norms": dict(seeds=2, batch_sizes=(2, 4), examples=8, widths=(4, 4), group_size=2),
    "non-iid-renorm": dict(seeds=2, depth=1, width=8, steps=6, batch_size=4, batches=6),
    "residual-skipinit": dict(seeds=2, blocks=2, width=8, steps=6, eval_every=3, lrs=(0.01, 0.1)),
    "layernorm-independence": dict(draws=2, batch_size=3, padding=2),
    "sync-bn": dict(seeds=2, depth=1, width=8, steps=4),
}


def test_every_registered_experiment_has_tiny_settings_here():
    # A new experiment must join the figure-protocol test below.
    assert sorted(TINY_ALL) == experiments.names()


@pytest.mark.parametrize("name", experiments.names())
def test_every_result_draws_each_named_figure_alone(name):
    import matplotlib.figure

    r = experiments.run(name, seed=0, **TINY_ALL[name])
    names = r.figure_names()
    assert names, f"{name} names no figures"
    for fig_name in names:
        fig = r.figure(fig_name)
        assert isinstance(fig, matplotlib.figure.Figure) and fig.axes, fig_name
        plt.close(fig)
    figs = r.figures()
    assert list(figs) == names
    for fig in figs.values():
        plt.close(fig)
    with pytest.raises(ValueError, match="draws the figures"):
        r.figure("no-such-figure")
