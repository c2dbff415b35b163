"""Chapters 8 and 9's experiments (``bnlearn.experiments.beyond``) and the models they added.

Every experiment runs at tiny settings: the structure of its result,
determinism for a seed, its figures, and the errors its bad inputs raise.
The models: ``deep_mlp``'s norm placement, ``residual_mlp``, ``small_conv_net``'s
strides, and ``stack_members`` (many seeds as one network), whose members must
compute exactly what the networks they were stacked from compute.
"""
from __future__ import annotations

import json

import matplotlib.figure
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from torch import nn

from bnlearn import data, experiments, models
from bnlearn.experiments import Result, beyond

TINY = {
    "bn-placement": dict(seeds=2, depth=2, width=8, steps=6, eval_every=3, lrs=(0.01, 0.1)),
    "small-batch-norms": dict(seeds=2, batch_sizes=(2, 4), examples=8, widths=(4, 4), group_size=2),
    "non-iid-renorm": dict(seeds=2, depth=1, width=8, steps=6, batch_size=4, batches=6),
    "residual-skipinit": dict(seeds=2, blocks=2, width=8, steps=6, eval_every=3, lrs=(0.01, 0.1)),
    "layernorm-independence": dict(draws=2, batch_size=3, padding=2),
}
SYNC_TINY = dict(seeds=2, depth=1, width=8, steps=4)

CLASSES = {
    "bn-placement": beyond.PlacementResult,
    "small-batch-norms": beyond.SmallBatchResult,
    "non-iid-renorm": beyond.NonIidResult,
    "residual-skipinit": beyond.ResidualResult,
    "layernorm-independence": beyond.IndependenceResult,
    "sync-bn": beyond.SyncBnResult,
}


@pytest.fixture(scope="module")
def results():
    return {name: experiments.run(name, seed=3, **kw) for name, kw in TINY.items()}


def test_the_chapters_experiments_are_registered():
    assert set(CLASSES) <= set(experiments.names())
    assert experiments.datasets("sync-bn")[0] == "mnist-5k"          # the book runs it on real MNIST digits


@pytest.mark.parametrize("name", list(TINY))
def test_tiny_runs_give_a_result_with_params_summary_data(name, results):
    r = results[name]
    assert type(r) is CLASSES[name] and r.name == name
    assert r.params["seed"] == 3 and r.params["scale"] == "book"
    plain = json.loads(r.to_json())
    assert set(plain) == {"name", "params", "summary", "data"} and plain["summary"] and plain["data"]


@pytest.mark.parametrize("name", list(TINY))
def test_the_same_seed_gives_the_same_numbers(name, results):
    again = experiments.run(name, seed=3, **TINY[name])
    assert again.to_json() == results[name].to_json()


def test_another_seed_gives_other_numbers(results):
    other = experiments.run("non-iid-renorm", seed=4, **TINY["non-iid-renorm"])
    assert other.data != results["non-iid-renorm"].data
    assert other.params["seed_values"] == [4000, 4001]


@pytest.mark.parametrize("name", list(TINY))
def test_every_named_figure_draws_alone(name, results):
    r = results[name]
    names = r.figure_names()
    assert names
    before = set(plt.get_fignums())
    for fig_name in names:
        fig = r.figure(fig_name)
        assert isinstance(fig, matplotlib.figure.Figure) and fig.axes
        plt.close(fig)
    assert set(plt.get_fignums()) == before
    with pytest.raises(ValueError, match="draws the figures"):
        r.figure("no-such-figure")
    # Subclassing changes nothing in the JSON.
    assert Result(r.name, r.params, r.summary, r.data).to_json() == r.to_json()


# ---------------------------------------------------------------- each experiment's result

def test_placement_summary_and_verdicts(results):
    r = results["bn-placement"]
    assert r.params["activations"] == ["relu", "sigmoid", "tanh"] and r.params["target"] == 0.9
    for act in ("relu", "sigmoid", "tanh"):
        s = r.summary[act]
        assert s["advice"] == beyond.ADVICE[act]
        assert s["verdict"] in ("supported", "contradicted", "not shown")
        for pos in ("before", "after"):
            assert set(s["best_lr"][pos]) == {"accuracy", "steps"}
            assert all(lr in r.params["lrs"] for lr in s["best_lr"][pos].values())
            assert np.asarray(r.data["final_accuracy"][act][pos]).shape == (2, 2)        # (seeds, rates)
        assert {"verdict", "mean", "low", "high"} <= set(s["advantage"]["accuracy"])
    assert len(r.data["eval_steps"]) == 3 and r.data["eval_steps"][-1] == 6
    table = r.verdict_table()
    assert table.splitlines()[0].split()[0] == "activation" and len(table.splitlines()) == 4


def test_placement_verdict_rule():
    shown_up = {"verdict": "shown", "mean": 1.0}
    shown_down = {"verdict": "shown", "mean": -1.0}
    nothing = {"verdict": "not shown", "mean": 0.5}
    assert beyond._verdict(shown_up, nothing) == "supported"
    assert beyond._verdict(nothing, shown_down) == "contradicted"
    assert beyond._verdict(shown_up, shown_down) == "not shown"
    assert beyond._verdict(nothing, nothing) == "not shown"


def test_small_batch_follows_the_same_examples_and_the_linear_rule(results):
    r = results["small-batch-norms"]
    assert r.params["steps"] == {"2": 4, "4": 2}                       # 8 examples at every batch size
    assert r.params["lrs"] == {"2": pytest.approx(0.2 * 2 / 32), "4": pytest.approx(0.2 * 4 / 32)}
    for norm in ("batch", "group", "layer", "renorm"):
        for b in ("2", "4"):
            assert 0 <= r.summary["error"][norm][b]["mean"] <= 1
    assert set(r.summary["vs_group"]) == {"batch", "layer", "renorm"}
    assert set(r.summary["population_vs_ema"]) == {"batch", "renorm"}
    # Group and layer norm keep no statistics: their population and running accuracies are one number.
    assert r.data["accuracy_population"]["group"] == r.data["accuracy_ema"]["group"]


def test_non_iid_result(results):
    r = results["non-iid-renorm"]
    assert list(r.summary["accuracy"]) == list(beyond.NON_IID_CONDITIONS)
    assert r.summary["renorm_vs_bn"]["n"] == 2 and r.summary["renorm_vs_bn"]["verdict"] in ("shown", "not shown")


def test_residual_result(results):
    r = results["residual-skipinit"]
    assert list(r.data["final_accuracy"]) == list(beyond.RESIDUAL_VARIANTS)
    assert set(r.summary["diverged"]) == set(beyond.RESIDUAL_VARIANTS)
    assert all(0 <= v <= 2 for v in r.summary["diverged"].values())
    assert np.asarray(r.data["finite"]["batch norm"]).all()          # batch norm's networks stay finite
    for rows in r.data["final_accuracy"].values():
        assert np.asarray(rows).shape == (2, 2)
    assert set(r.summary["best_lr"].values()) <= {0.01, 0.1}
    for key in ("bn_vs_none", "skipinit_vs_none", "bn_vs_skipinit", "zero_gamma_vs_bn"):
        assert r.summary[key]["n"] + r.summary[key]["missing"] == 2


def test_layer_norm_ignores_batch_mates_and_padding_and_batch_norm_does_not(results):
    r = results["layernorm-independence"]
    ln, bn = r.summary["largest_change"]["layer norm"], r.summary["smallest_change"]["batch norm (training mode)"]
    assert ln == {"batch_mates": 0.0, "padding": 0.0}
    assert bn["batch_mates"] > 1e-3 and bn["padding"] > 1e-3
    assert r.params["tokens"] == 8 and r.params["features"] == 8                   # digits: 8 rows of 8 pixels


FULL_TINY = {
    "bn-placement": dict(seeds=2, depth=2, width=8, steps=4, eval_every=2, lrs=(0.01, 0.1)),
    "small-batch-norms": dict(seeds=2, batch_sizes=(2, 4), examples=8, widths=(4, 4, 4), group_size=2),
    "non-iid-renorm": dict(seeds=2, depth=1, width=8, steps=4, batch_size=4, batches=4),
    "residual-skipinit": dict(seeds=2, blocks=2, width=8, steps=4, eval_every=2, lrs=(0.01, 0.1)),
    "layernorm-independence": dict(draws=2, batch_size=3, padding=2),
}


@pytest.mark.parametrize("name", list(FULL_TINY))
def test_the_full_scale_path_runs_on_28x28_images_with_one_copy_of_the_data(name):
    r = experiments.run(name, seed=1, scale="full", dataset="mnist-5k", **FULL_TINY[name])
    assert r.params["scale"] == "full" and r.params["dataset"] == "mnist-5k"
    assert r.params.get("same_batches", True) is True
    json.loads(r.to_json())


# ---------------------------------------------------------------- bad inputs

@pytest.mark.parametrize("name, overrides, error, message", [
    ("bn-placement", {"activations": ("relu", "softplus")}, ValueError, "activations must be distinct names"),
    ("bn-placement", {"target": 1.5}, ValueError, "target must be an accuracy"),
    ("bn-placement", {"seeds": 1}, ValueError, "seeds"),
    ("bn-placement", {"lrs": (0.1, -1.0)}, ValueError, "lrs"),
    ("bn-placement", {"nope": 1}, TypeError, "unknown setting"),
    ("small-batch-norms", {"batch_sizes": (1, 2)}, ValueError, "batch sizes must be >= 2"),
    ("small-batch-norms", {"norms": ("batch", "ghost")}, ValueError, "norms must be distinct names"),
    ("small-batch-norms", {"examples": 3, "batch_sizes": (2, 4)}, ValueError, "examples"),
    ("small-batch-norms", {"widths": ()}, TypeError, "widths"),
    ("non-iid-renorm", {"batch_size": 6, "classes_per_batch": 4}, ValueError, "multiple of classes_per_batch"),
    ("non-iid-renorm", {"lr": 0.0}, ValueError, "lr"),
    ("residual-skipinit", {"blocks": 0}, ValueError, "blocks"),
    ("layernorm-independence", {"batch_size": 10_000}, ValueError, "batch_size"),
    ("layernorm-independence", {"padding": "8"}, TypeError, "padding"),
    ("sync-bn", {"processes": 1}, ValueError, "processes"),
    ("sync-bn", {"batch_size": 1}, ValueError, "batch_size"),
])
def test_bad_settings_fail_before_any_training(name, overrides, error, message):
    with pytest.raises(error, match=message):
        experiments.run(name, seed=0, **overrides)


def test_bad_seed_and_progress():
    with pytest.raises(TypeError, match="progress must be True or False"):
        beyond.bn_placement(seed=0, scale="book", dataset="digits", progress="yes")
    with pytest.raises(ValueError, match="seed must be an int >= 0; got -1"):
        beyond.layernorm_independence(seed=-1, scale="book", dataset="digits", progress=False)
    with pytest.raises(TypeError, match="seed must be an int"):
        beyond.layernorm_independence(seed=1.5, scale="book", dataset="digits", progress=False)


# ---------------------------------------------------------------- data for stacked members

def test_member_dataset_gives_every_member_its_own_order():
    ds = data.load("digits")
    md = beyond.member_dataset(ds, [5, 6, 7])
    assert md.x_train.shape == (len(ds.x_train), 3, 1, 8, 8) and md.y_train.shape == (len(ds.x_train), 3)
    assert md.x_test.shape == (len(ds.x_test), 3, 1, 8, 8)
    for s in range(3):
        assert sorted(md.y_train[:, s]) == sorted(ds.y_train)                      # a permutation
        assert np.array_equal(md.x_test[:, s], ds.x_test)
    assert not np.array_equal(md.y_train[:, 0], md.y_train[:, 1])
    flat = beyond.member_dataset(ds, [5], flat=True)
    assert flat.x_train.shape == (len(ds.x_train), 1, 64)
    assert np.array_equal(flat.x_train[:, 0], md.x_train[:, 0].reshape(len(ds.x_train), 64))
    shared = beyond.member_dataset(ds, [5, 6, 7], shared=True)
    assert shared.x_train.shape == ds.x_train.shape and shared.y_train.shape == (len(ds.x_train), 3)
    assert (shared.y_train == ds.y_train[:, None]).all() and shared.x_test.shape == ds.x_test.shape
    assert shared.y_train.flags.writeable
    with pytest.raises(TypeError, match="bnlearn.data.Dataset"):
        beyond.member_dataset(ds.x_train, [0])


def test_batch_dataset_holds_two_classes_per_batch():
    ds = data.load("digits")
    bd = beyond.batch_dataset(ds, [1, 2], batches=5, batch_size=6, classes_per_batch=2)
    assert bd.x_train.shape == (5, 6, 2, 64) and bd.y_train.shape == (5, 6, 2)
    for b in range(5):
        for s in range(2):
            labels = bd.y_train[b, :, s]
            assert len(set(labels.tolist())) == 2 and sorted(np.bincount(labels)[np.bincount(labels) > 0]) == [3, 3]
    iid = beyond.batch_dataset(ds, [1], batches=3, batch_size=6)
    assert iid.x_train.shape == (3, 6, 1, 64)
    one = beyond.batch_dataset(ds, [1, 2], batches=5, batch_size=6, classes_per_batch=2, shared=True)
    assert one.x_train.shape == (5, 6, 64) and one.y_train.shape == (5, 6, 2)
    assert np.array_equal(one.x_train, bd.x_train[:, :, 0]) and (one.y_train[..., 1] == one.y_train[..., 0]).all()
    with pytest.raises(ValueError, match="classes_per_batch"):
        beyond.batch_dataset(ds, [1], batches=2, batch_size=5, classes_per_batch=2)


# ---------------------------------------------------------------- models

def test_deep_mlp_places_the_norm_before_or_after_the_activation():
    before = models.deep_mlp(2, 8, norm="batch", activation="tanh", seed=0)
    assert [type(m).__name__ for m in before] == ["Flatten"] + ["Linear", "BatchNorm1d", "Tanh"] * 2 + ["Linear"]
    assert all(m.bias is None for m in before[1:-1] if isinstance(m, nn.Linear))
    after = models.deep_mlp(2, 8, norm="batch", activation="tanh", norm_position="after", seed=0)
    assert [type(m).__name__ for m in after] == ["Flatten"] + ["Linear", "Tanh", "BatchNorm1d"] * 2 + ["Linear"]
    assert all(m.bias is not None for m in after if isinstance(m, nn.Linear))   # the tanh needs its shift
    assert after.activation_indices == [2, 5]
    torch.testing.assert_close(after[1].weight, before[1].weight)                # the same draws
    plain = models.deep_mlp(2, 8, norm=None, norm_position="after", seed=0)
    assert [type(m).__name__ for m in plain] == ["Flatten"] + ["Linear", "ReLU"] * 2 + ["Linear"]
    with pytest.raises(ValueError, match=r"norm_position must be one of \('before', 'after'\); got 'middle'"):
        models.deep_mlp(2, 8, norm="batch", norm_position="middle")


def test_residual_mlp_variants_start_from_the_same_weights():
    kinds = {k: models.residual_mlp(3, 8, seed=1, **kw) for k, kw in beyond.RESIDUAL_VARIANTS.items()}
    weights = {k: [m.weight for m in net.modules() if isinstance(m, nn.Linear)] for k, net in kinds.items()}
    ref = weights["no normalisation"]
    for ws in weights.values():
        assert len(ws) == 2 + 2 * 3
        for a, b in zip(ws, ref):
            torch.testing.assert_close(a, b)
    blocks = [m for m in kinds["SkipInit, no normalisation"] if isinstance(m, models.ResidualBlock)]
    assert len(blocks) == 3 and all(float(b.alpha.detach()) == 0 for b in blocks)


@pytest.mark.parametrize("kw", [dict(norm="batch", zero_init_last=True), dict(norm=None, skipinit=True)])
def test_zero_init_and_skipinit_make_every_block_the_identity_at_first(kw):
    net = models.residual_mlp(4, 8, seed=0, **kw).train()
    h = torch.relu(torch.randn(16, 8))
    for block in (m for m in net if isinstance(m, models.ResidualBlock)):
        torch.testing.assert_close(block(h), h)


def test_residual_mlp_bad_arguments():
    with pytest.raises(ValueError, match="zero_init_last needs a norm with a learnable scale"):
        models.residual_mlp(2, 8, norm=None, zero_init_last=True)
    with pytest.raises(ValueError, match="blocks must be >= 1"):
        models.residual_mlp(0, 8)
    with pytest.raises(TypeError, match="skipinit must be True or False"):
        models.residual_mlp(2, 8, skipinit=1)
    with pytest.raises(TypeError, match="branch must be a torch.nn.Module"):
        models.ResidualBlock(lambda h: h)


def test_small_conv_net_strides_and_flatten_head():
    net = models.small_conv_net("batch", (4, 8), strides=(2, 2), input_size=(28, 28), seed=0)
    assert net(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    assert isinstance(net[-1], nn.Linear) and net[-1].in_features == 8 * 7 * 7
    odd = models.small_conv_net("group", (4,), strides=(3,), input_size=(8, 9), seed=0)
    assert odd[-1].in_features == 4 * 3 * 3 and odd(torch.zeros(2, 1, 8, 9)).shape == (2, 10)
    default = models.small_conv_net("batch", (4, 8), seed=0)
    assert isinstance(default[-3], nn.AdaptiveAvgPool2d)                          # unchanged without options
    with pytest.raises(ValueError, match="strides must be a tuple of 2 positive ints"):
        models.small_conv_net("batch", (4, 8), strides=(2,))
    with pytest.raises(ValueError, match="input_size must be"):
        models.small_conv_net("batch", (4, 8), input_size=(28,))


BUILDERS = {
    "mlp, batch norm": (lambda s: models.deep_mlp(2, 8, norm="batch", seed=s), (1, 8, 8)),
    "mlp, after tanh": (lambda s: models.deep_mlp(2, 8, norm="batch", activation="tanh", norm_position="after",
                                                  seed=s), (1, 8, 8)),
    "mlp, layer norm": (lambda s: models.deep_mlp(2, 8, norm="layer", seed=s), (64,)),
    "mlp, group norm": (lambda s: models.deep_mlp(2, 16, norm="group", seed=s), (1, 8, 8)),
    "mlp, renorm": (lambda s: models.deep_mlp(2, 8, norm="renorm", seed=s), (1, 8, 8)),
    "mlp, ghost": (lambda s: models.deep_mlp(2, 8, norm="ghost", norm_options={"virtual_batch_size": 2}, seed=s),
                   (1, 8, 8)),
    "residual, zero gamma": (lambda s: models.residual_mlp(2, 8, norm="batch", zero_init_last=True, seed=s),
                             (1, 8, 8)),
    "residual, skipinit": (lambda s: models.residual_mlp(2, 8, skipinit=True, seed=s), (1, 8, 8)),
    "conv, batch norm": (lambda s: models.small_conv_net("batch", (4, 8), strides=(2, 2), input_size=(12, 12),
                                                         seed=s), (1, 12, 12)),
    "conv, group norm": (lambda s: models.small_conv_net("group", (8, 8), strides=(2, 1), seed=s), (1, 12, 12)),
    "conv, layer norm": (lambda s: models.small_conv_net("layer", (4,), seed=s), (1, 12, 12)),
    "conv, torch's batch norm": (lambda s: models.small_conv_net(nn.BatchNorm2d, (4,), seed=s), (1, 12, 12)),
}


@pytest.mark.parametrize("name", list(BUILDERS))
def test_stacked_members_compute_what_their_networks_compute(name):
    build, shape = BUILDERS[name]
    nets = [build(s) for s in (0, 1, 2)]
    stacked = models.stack_members(nets, shape)
    x = torch.randn(6, 3, *shape)
    y = torch.randint(0, 10, (6, 3))

    def each(x):
        return torch.stack([net(x[:, i]) for i, net in enumerate(nets)], dim=-1)

    out = stacked(x)
    assert out.shape == (6, 10, 3)
    torch.testing.assert_close(out, each(x), rtol=1e-4, atol=1e-4)
    # One SGD step with momentum on the mean loss over members = one step of every network alone.
    opt = torch.optim.SGD(stacked.parameters(), lr=0.1, momentum=0.9)
    nn.functional.cross_entropy(stacked(x), y).backward()
    opt.step()
    for i, net in enumerate(nets):
        single = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
        nn.functional.cross_entropy(net(x[:, i]), y[:, i]).backward()
        single.step()
    stacked.eval()
    for net in nets:
        net.eval()
    torch.testing.assert_close(stacked(x), each(x), rtol=1e-4, atol=1e-4)      # running statistics too


def test_lr_multipliers_train_each_member_at_its_own_rate():
    nets = [models.deep_mlp(2, 8, norm="batch", seed=0) for _ in range(2)]
    stacked = models.stack_members(nets, (64,), lr_multipliers=[1.0, 0.25])
    assert stacked.lr_multipliers.tolist() == [1.0, 0.25]
    x, y = torch.randn(8, 2, 64), torch.randint(0, 10, (8, 2))
    opt = torch.optim.SGD(stacked.parameters(), lr=0.4, momentum=0.9)
    for _ in range(3):
        opt.zero_grad()
        nn.functional.cross_entropy(stacked(x), y).backward()
        opt.step()
    for i, lr in enumerate((0.4, 0.1)):
        net = models.deep_mlp(2, 8, norm="batch", seed=0)
        single = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
        for _ in range(3):
            single.zero_grad()
            nn.functional.cross_entropy(net(x[:, i]), y[:, i]).backward()
            single.step()
        torch.testing.assert_close(stacked(x)[..., i], net(x[:, i]), rtol=1e-4, atol=1e-5)


def test_a_shared_input_reaches_every_member():
    nets = [models.deep_mlp(2, 8, norm="batch", seed=s) for s in (0, 1, 2)]
    stacked = models.stack_members(nets, (1, 8, 8), shared_input=True)
    x = torch.randn(5, 1, 8, 8)
    torch.testing.assert_close(stacked(x), torch.stack([n(x) for n in nets], dim=-1), rtol=1e-4, atol=1e-5)
    assert stacked(torch.randn(2, 5, 1, 8, 8)).shape == (2, 10, 5, 3)           # (lead0, K, lead1, S)
    with pytest.raises(ValueError, match=r"with a shared input expects input of shape \(N, \.\.\., 1, 8, 8\)"):
        stacked(torch.randn(5, 64))
    with pytest.raises(TypeError, match="shared_input must be True or False"):
        models.stack_members(nets, (1, 8, 8), shared_input="yes")
    assert beyond.member_finite(stacked.eval(), x).tolist() == [True, True, True]


def test_members_train_with_the_books_loop_and_member_accuracy():
    from bnlearn import train

    ds = data.load("digits")
    seeds = [0, 1]
    md = beyond.member_dataset(ds, seeds)
    stacked = models.stack_members([models.deep_mlp(1, 8, norm="batch", seed=s) for s in seeds], (1, 8, 8))
    h = train.train(stacked, md, steps=3, batch_size=4, lr=0.1, eval_every=3, progress=False,
                    stop_on_divergence=False)
    assert len(h.step_loss) == 3 and 0 <= h.final_accuracy <= 2           # S times the members' mean
    acc = beyond.member_accuracy(stacked.eval(), torch.from_numpy(md.x_test), torch.from_numpy(md.y_test))
    assert acc.shape == (2,) and h.final_accuracy == pytest.approx(acc.sum())


def test_stack_members_bad_inputs():
    with pytest.raises(TypeError, match="networks must be a non-empty list"):
        models.stack_members(models.deep_mlp(1, 4), (64,))
    with pytest.raises(TypeError, match="networks must be a non-empty list"):
        models.stack_members([], (64,))
    with pytest.raises(ValueError, match="item_shape must be a non-empty tuple"):
        models.stack_members([models.deep_mlp(1, 4)], 64)
    with pytest.raises(ValueError, match="one architecture"):
        models.stack_members([models.deep_mlp(1, 4, norm="batch"), models.deep_mlp(1, 4, norm="layer")], (64,))
    with pytest.raises(TypeError, match="cannot stack GRU layers"):
        models.stack_members([nn.Sequential(nn.GRU(4, 4))], (4,))
    with pytest.raises(ValueError, match="lr_multipliers must hold 2 positive finite numbers"):
        models.stack_members([models.deep_mlp(1, 4)] * 2, (64,), lr_multipliers=[1.0])
    stacked = models.stack_members([models.deep_mlp(1, 4)] * 2, (64,))
    with pytest.raises(ValueError, match=r"expects input of shape \(N, \.\.\., 2, 64\); got \(5, 3, 64\)"):
        stacked(torch.zeros(5, 3, 64))
    with pytest.raises(ValueError, match=r"StackedLinear\(2 x 64 -> 4\) expects input of shape \(N, 128\)"):
        stacked.body[1](torch.zeros(3, 64))


# ---------------------------------------------------------------- sync-bn (spawns two processes)

@pytest.fixture(scope="module")
def sync_result():
    return experiments.run("sync-bn", seed=2, **SYNC_TINY)


@pytest.mark.slow
def test_sync_bn_equals_one_process_on_the_whole_batch(sync_result):
    r = sync_result
    assert type(r) is beyond.SyncBnResult and r.params["processes"] == 2 and r.params["dataset"] == "mnist-5k"
    sync, local = r.summary["check"]["SyncBN"], r.summary["check"]["per-process BN"]
    assert max(sync.values()) < 1e-4
    assert local["logits"] > 1e-2 and local["running_mean"] > 1e-4
    assert set(r.data["accuracy"]) == {"per-process BN", "SyncBN"} and len(r.data["accuracy"]["SyncBN"]) == 2
    fig = r.figure("accuracy")
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()][1].startswith("SyncBN")
    plt.close(fig)


@pytest.mark.slow
def test_sync_bn_is_deterministic(sync_result):
    again = experiments.run("sync-bn", seed=2, **SYNC_TINY)
    assert again.data == sync_result.data


def test_sync_bn_documents_torchrun():
    doc = beyond.sync_bn.__doc__
    assert "torchrun --nproc_per_node" in doc and "--nnodes" in doc
