"""Chapter 7: the ensemble trainer, precise BN, and the four regularisation experiments (tiny settings)."""
from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from bnlearn import experiments
from bnlearn.data import load_digits
from bnlearn.ensemble import EnsembleMLP, MemberNorm, ParallelLinear, member_accuracy, member_batches, train_members
from bnlearn.experiments import regularisation as R
from bnlearn.nn import BatchNorm1d, BatchNorm2d, batchnorm_layers, precise_bn

TINY = {"seeds": 3, "train_size": 48, "width": 8, "depth": 2, "batch_size": 8, "steps": 6}


@pytest.fixture(scope="module")
def digits():
    return load_digits()


# --------------------------------------------------------------------------- ensemble

def _member_reference(model: EnsembleMLP, s: int) -> nn.Sequential:
    """Member ``s`` of ``model`` rebuilt as an ordinary torch network with the same weights."""
    layers = []
    for layer in model:
        if isinstance(layer, ParallelLinear):
            lin = nn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None)
            with torch.no_grad():
                lin.weight.copy_(layer.weight[s].T)
                if layer.bias is not None:
                    lin.bias.copy_(layer.bias[s])
            layers.append(lin)
        elif isinstance(layer, MemberNorm):
            bn = nn.BatchNorm1d(layer.features)
            sl = slice(s * layer.features, (s + 1) * layer.features)
            with torch.no_grad():
                bn.weight.copy_(layer.bn.weight[sl])
                bn.bias.copy_(layer.bn.bias[sl])
            layers.append(bn)
        else:
            layers.append(layer)
    return nn.Sequential(*layers)


def test_ensemble_members_are_independent_networks():
    torch.manual_seed(0)
    model = EnsembleMLP(3, (5, 7, 4), norm="batch", seed=2)
    with torch.no_grad():                                   # non-trivial affine parameters
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    x = torch.randn(6, 3, 5)
    y = torch.randint(0, 4, (6, 3))
    out = model(x)
    loss = nn.functional.cross_entropy(out.reshape(-1, 4), y.reshape(-1), reduction="sum") / 6
    loss.backward()
    for s in range(3):
        ref = _member_reference(model, s)
        ref_out = ref(x[:, s])
        torch.testing.assert_close(out[:, s], ref_out, rtol=1e-5, atol=1e-5)   # per-member batch stats
        nn.functional.cross_entropy(ref_out, y[:, s]).backward()
        torch.testing.assert_close(model[0].weight.grad[s], ref[0].weight.grad.T, rtol=1e-4, atol=1e-6)
        sl = slice(s * 7, (s + 1) * 7)
        torch.testing.assert_close(model[1].bn.weight.grad[sl], ref[1].weight.grad, rtol=1e-4, atol=1e-6)


def test_ghost_member_norm_uses_each_ghost_batch_per_member():
    norm = MemberNorm(2, 3, virtual_batch_size=2)
    x = torch.randn(4, 2, 3)
    out = norm(x)
    for s in range(2):
        for g in (slice(0, 2), slice(2, 4)):
            chunk = x[g, s]
            ref = (chunk - chunk.mean(0)) / torch.sqrt(chunk.var(0, unbiased=False) + 1e-5)
            torch.testing.assert_close(out[g, s], ref, rtol=1e-5, atol=1e-5)


def test_ghost_member_norm_matches_ghost_batchnorm_module():
    from bnlearn.nn.ghost import GhostBatchNorm1d

    torch.manual_seed(1)
    norm = MemberNorm(3, 4, virtual_batch_size=4)
    ref = GhostBatchNorm1d(12, virtual_batch_size=4)
    with torch.no_grad():
        norm.bn.weight.copy_(torch.rand(12) + 0.5)
        norm.bn.bias.copy_(torch.randn(12))
    ref.load_state_dict(norm.bn.state_dict())
    x = torch.randn(16, 3, 4, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_(True)
    for _ in range(2):
        out, out_ref = norm(x), ref(x_ref.reshape(16, 12))
        torch.testing.assert_close(out.reshape(16, 12), out_ref, rtol=1e-5, atol=1e-5)
    g = torch.randn(16, 12)
    out.reshape(16, 12).backward(g)
    out_ref.backward(g)
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(norm.bn.weight.grad, ref.weight.grad, rtol=1e-4, atol=1e-5)
    for key, value in ref.state_dict().items():
        torch.testing.assert_close(norm.bn.state_dict()[key], value)
    norm.eval(), ref.eval()
    torch.testing.assert_close(norm(x).reshape(16, 12), ref(x_ref.reshape(16, 12)))
    with pytest.raises(ValueError, match=r"virtual_batch_size=4 needs a batch size that 4 divides; got a batch of 6"):
        norm.train()(torch.randn(6, 3, 4))


def test_same_seed_same_initial_weights_whatever_the_normalisation():
    a = EnsembleMLP(2, (4, 6, 3), None, seed=5)
    b = EnsembleMLP(2, (4, 6, 3), "batch", seed=5, dropout=0.5)
    torch.testing.assert_close(a[0].weight, b[0].weight)
    assert b[0].bias is None and a[0].bias is not None


def test_member_batches_are_epochs_of_permutations():
    idx = member_batches(10, 3, steps=6, members=2, seed=1)
    assert idx.shape == (6, 2, 3)
    for s in range(2):
        first_epoch = idx[:3, s].ravel()                    # 3 batches of 3 = 9 of 10 examples, no repeats
        assert len(set(first_epoch.tolist())) == 9
    assert not np.array_equal(idx[:, 0], idx[:, 1])
    np.testing.assert_array_equal(idx, member_batches(10, 3, steps=6, members=2, seed=1))


def test_training_lowers_the_loss_and_is_deterministic(digits):
    d = R.member_data(digits, 2, 64, 0.0, seed=0)
    runs = []
    for _ in range(2):
        model = EnsembleMLP(2, (64, 16, 10), "batch", seed=0)
        losses = train_members(model, d["x"], d["y"], steps=40, batch_size=16, lr=0.05, seed=3)
        runs.append((losses, member_accuracy(model.eval(), d["x"], d["y"])))
    assert np.mean(runs[0][0][-5:]) < 0.5 * np.mean(runs[0][0][:5])
    assert runs[0][0] == runs[1][0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"members": 2, "sizes": (4, 3), "norm": "layer"}, ValueError, r"norm must be one of .*got 'layer'"),
    ({"members": 2, "sizes": (4, 3, 2), "norm": "batch", "virtual_batch_size": 2}, ValueError,
     r"virtual_batch_size is only for norm='ghost'; got 2"),
    ({"members": 2, "sizes": (4, 3, 2), "norm": "ghost"}, TypeError, r"virtual_batch_size must be an int; got None"),
    ({"members": 2, "sizes": (4, 3, 2), "dropout": 1.0}, ValueError, r"dropout must be a probability in \[0, 1\); got 1.0"),
    ({"members": 0, "sizes": (4, 3, 2)}, ValueError, r"members must be >= 1; got 0"),
    ({"members": 2, "sizes": (4,)}, ValueError, r"sizes must be a sequence .* got \(4,\)"),
])
def test_ensemble_rejects_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        EnsembleMLP(**kwargs)


def test_ensemble_layers_reject_bad_inputs(digits):
    with pytest.raises(ValueError, match=r"ParallelLinear expects input of shape \(B, 2, 4\); got \(5, 3, 4\)"):
        ParallelLinear(2, 4, 3)(torch.randn(5, 3, 4))
    with pytest.raises(TypeError, match="ParallelLinear expects a torch.Tensor; got ndarray"):
        ParallelLinear(2, 4, 3)(np.zeros((5, 2, 4)))
    with pytest.raises(ValueError, match=r"MemberNorm expects input of shape \(B, 2, 3\); got \(4, 6\)"):
        MemberNorm(2, 3)(torch.randn(4, 6))
    with pytest.raises(ValueError, match=r"batch_size must lie in 1..10 .*; got 11"):
        member_batches(10, 11, steps=2, members=1)
    model = EnsembleMLP(2, (64, 4, 10))
    with pytest.raises(ValueError, match=r"x must have shape \(2, n, 64\) .*; got \(3, 5, 64\)"):
        train_members(model, torch.zeros(3, 5, 64), torch.zeros(3, 5, dtype=torch.long), steps=1, batch_size=2)
    with pytest.raises(TypeError, match="model must be an EnsembleMLP; got Linear"):
        train_members(nn.Linear(2, 2), torch.zeros(2, 5, 64), torch.zeros(2, 5), steps=1, batch_size=2)
    with pytest.raises(ValueError, match=r"y must have shape \(7,\) to match x; got \(6,\)"):
        member_accuracy(model, torch.zeros(7, 64), torch.zeros(6, dtype=torch.long))


# --------------------------------------------------------------------------- precise BN

def test_precise_bn_single_layer_known_answer():
    x = torch.tensor([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [4.0, 40.0]])
    bn = BatchNorm1d(2)
    out = precise_bn(bn, x)
    assert out is bn and bn.training                         # mode restored
    torch.testing.assert_close(bn.running_mean, torch.tensor([2.5, 25.0]))
    torch.testing.assert_close(bn.running_var, torch.tensor([5.0 / 3.0, 500.0 / 3.0]))   # unbiased
    assert int(bn.num_batches_tracked) == 0


def test_precise_bn_conv_layer_uses_spatial_values():
    bn = nn.BatchNorm2d(3)
    x = torch.randn(5, 3, 4, 4, dtype=torch.float64) * 2 + 1
    bn = bn.double()
    precise_bn(bn, x)
    flat = x.transpose(0, 1).reshape(3, -1)
    torch.testing.assert_close(bn.running_mean, flat.mean(1))
    torch.testing.assert_close(bn.running_var, flat.var(1, unbiased=True))


def test_precise_bn_deep_network_uses_population_statistics_upstream():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 5), nn.BatchNorm1d(5))
    x = torch.randn(50, 4, dtype=torch.float64) * 3 + 2
    model = model.double().train()
    for _ in range(3):                                        # arbitrary EMA statistics first
        model(x[:8])
    one = precise_bn(model, x)
    # Known answer: layer 1 from the raw features; layer 2 from layer 1's output in eval mode.
    h1 = model[0](x)
    torch.testing.assert_close(model[1].running_mean, h1.mean(0))
    torch.testing.assert_close(model[1].running_var, h1.var(0, unbiased=True))
    model.eval()
    with torch.no_grad():
        h2 = model[3](model[2](model[1](h1)))
    torch.testing.assert_close(model[4].running_mean, h2.mean(0))
    torch.testing.assert_close(model[4].running_var, h2.var(0, unbiased=True))
    # Normalising the training set with its population statistics gives mean beta = 0 exactly.
    with torch.no_grad():
        torch.testing.assert_close(model(x).mean(0), torch.zeros(5, dtype=torch.float64), atol=1e-10, rtol=0)
    # Chunked passes (one per layer) give the same statistics.
    state = {k: v.clone() for k, v in one.state_dict().items()}
    model.train()
    for _ in range(3):
        model(x[8:16])
    precise_bn(model, x, chunk_size=7)
    for k, v in model.state_dict().items():
        if "running" in k:
            torch.testing.assert_close(v, state[k])


def test_precise_bn_on_an_ensemble_gives_each_member_its_own_population(digits):
    d = R.member_data(digits, 2, 40, 0.0, seed=1)
    model = EnsembleMLP(2, (64, 5, 10), "batch", seed=0)
    precise_bn(model, d["x"].transpose(0, 1))
    bn = model[1].bn
    for s in range(2):
        h = d["x"][s] @ model[0].weight[s].detach()
        torch.testing.assert_close(bn.running_mean[s * 5:(s + 1) * 5], h.mean(0), rtol=1e-5, atol=1e-6)


def test_precise_bn_rejects_bad_inputs():
    with pytest.raises(ValueError, match="at least one batch-norm layer .* got Linear with none"):
        precise_bn(nn.Linear(2, 2), torch.randn(4, 2))
    with pytest.raises(TypeError, match="x must be a torch.Tensor .*; got list"):
        precise_bn(BatchNorm1d(2), [[1.0, 2.0]])
    with pytest.raises(ValueError, match=r"at least two inputs .*; got shape \(1, 2\)"):
        precise_bn(BatchNorm1d(2), torch.randn(1, 2))
    with pytest.raises(ValueError, match="chunk_size must be a positive int or None; got 0"):
        precise_bn(BatchNorm1d(2), torch.randn(4, 2), chunk_size=0)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module; got str"):
        batchnorm_layers("net")


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
