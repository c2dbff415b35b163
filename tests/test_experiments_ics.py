"""Chapters 2 and 3's experiments with tiny settings: shapes, determinism, honest summaries."""
from __future__ import annotations

import json

import numpy as np
import pytest

from bnlearn.diagnostics import CovariateNoise
import torch
from torch import nn

from bnlearn import experiments
from bnlearn.experiments import _summary, ics, noise, signal


@pytest.fixture
def tiny(monkeypatch):
    """Shrink the book scale so each experiment runs in a second or two."""
    monkeypatch.setitem(signal.SETTINGS, "book", {**signal.SETTINGS["book"], "seeds": 2, "depth": 6, "width": 16,
                                                  "batch": 64, "train_steps": 10})
    monkeypatch.setitem(ics.PERCENTILE_SETTINGS, "book", {**ics.PERCENTILE_SETTINGS["book"], "seeds": 2, "steps": 20,
                                                          "eval_every": 10, "record_every": 10})
    monkeypatch.setitem(ics.PROBE_SETTINGS, "book", {**ics.PROBE_SETTINGS["book"], "seeds": 2, "stages": (0, 5)})


def test_signal_propagation_tiny(tiny):
    r = signal.signal_propagation(seed=0, activations=("tanh", "relu"))
    assert r.name == "signal-propagation"
    init = r.summary["init"]
    assert set(init) == {"tanh", "relu"} and set(init["relu"]) == set(signal.SETUPS)
    cell = init["relu"]["standardised, N(0,1) weights"]
    assert len(cell["post_std"]) == 6 and len(cell["grad_norm"]) == 6
    # N(0,1) weights on 16 units: the ReLU signal grows layer after layer
    assert cell["post_std"][-1] > 10 * cell["post_std"][0]
    # tiny weights: the signal vanishes
    small = init["tanh"]["standardised, N(0,0.01) weights"]["post_std"]
    assert small[-1] < 1e-3 * small[0]
    # BN keeps every layer's pre-activation at unit scale (training mode)
    bn = init["relu"]["standardised, N(0,1) weights + BN"]["pre_std"]
    np.testing.assert_allclose(bn, 1.0, atol=0.02)
    assert np.isnan(cell["saturated"]).all() and 0 <= init["tanh"]["raw inputs, N(0,1) weights"]["saturated"][0] <= 1
    assert r.summary["training"]["relu"]["Xavier/He"]["steps"] == [0, 1, 3, 10]
    json.loads(r.to_json())
    again = signal.signal_propagation(seed=0, activations=("tanh", "relu"))
    assert again.to_json() == r.to_json()


def test_measure_signal_matches_hand_computation():
    model = nn.Sequential(nn.Flatten(), nn.Linear(2, 2, bias=False), nn.Tanh(), nn.Linear(2, 2))
    model.activation_indices = [2]
    with torch.no_grad():
        model[1].weight.copy_(torch.eye(2) * 2)
    x = torch.tensor([[0.5, -1.0], [1.0, 0.0]])
    out = signal.measure_signal(model, x, torch.tensor([0, 1]))
    pre = 2 * x
    assert out["pre_std"][0] == pytest.approx(float(pre.std(unbiased=False)))
    assert out["post_std"][0] == pytest.approx(float(torch.tanh(pre).std(unbiased=False)))
    assert out["saturated"][0] == 0.0        # |tanh(2)| = 0.964 < 0.99
    assert len(out["grad_norm"]) == 1


def test_noisy_bn_tiny(tiny):
    r = ics.noisy_bn(seed=1, lr=1.0)
    assert set(r.data["runs"]) == set(noise.VARIANTS)
    run = r.data["runs"]["noisy-bn"][0]
    assert run["record_steps"] == [0, 1, 10, 11]
    assert np.array(run["percentiles_unit0"]).shape == (4, 3)
    # the 15th/50th/85th percentiles are ordered
    assert all(a <= b <= c for a, b, c in run["percentiles_unit0"])
    # noise redrawn every step moves the layer input far more than 20 steps of training do
    assert r.summary["noisy-bn"]["move_per_step"]["mean"] > 3 * r.summary["bn"]["move_per_step"]["mean"]
    assert r.summary["compare"]["accuracy_noisy_bn_minus_bn"]["verdict"] in ("shown", "not shown")
    assert ics.noisy_bn(seed=1, lr=1.0).to_json() == r.to_json()


def test_ics_percentiles_tiny(tiny):
    r = experiments.run("ics-percentiles", seed=0)
    assert set(r.data["runs"]) == {"plain", "bn"}
    assert r.params["lr"] == 1.0 and r.params["steps"] == 20 and r.params["dataset"] == "digits"
    curve = r.data["runs"]["bn"][0]
    assert curve["steps"] == [0, 10, 20] and all(0 <= a <= 1 for a in curve["accuracy"])


def test_ics_gradient_and_landscape_tiny(tiny):
    g = ics.ics_gradient(seed=0, lrs=(0.5,))
    cell = g.summary["lr=0.5, step=5"]
    assert set(cell) == {"l2", "cosine", "relative", "accuracy"}
    assert -1 <= cell["cosine"]["bn"]["mean"] <= 1 and cell["l2"]["plain"]["mean"] >= 0
    layers = g.data["runs"]["bn@0.5"][0]["stages"][0]["layers"]
    assert layers["l2"][0] == 0.0 and len(layers["l2"]) == 4      # 3 hidden + output
    l = ics.landscape(seed=0, lrs=(0.5,), stages_per_lr={0.5: (3,)})
    cell = l.summary["lr=0.5, step=3"]
    assert cell["beta"]["bn"]["mean"] > 0 and cell["loss_range"]["plain"]["mean"] >= 0
    probe = l.data["runs"]["plain@0.5"][0]["stages"][3]["probe"]
    np.testing.assert_allclose(probe["step_sizes"], [0.25, 0.5, 1.0, 2.0])
    json.loads(l.to_json())
    both = ics.probe_training(seed=0, lrs=(0.5,), stages=(3,))
    assert both.summary["lr=0.5, step=3"]["beta"] == cell["beta"]          # same runs, same numbers
    assert set(both.summary["lr=0.5, step=3"]) >= {"l2", "cosine", "beta", "loss_range"}


def test_registered_names():
    assert {"signal-propagation", "ics-percentiles", "noisy-bn", "ics-gradient", "landscape"} <= set(experiments.names())


def test_covariate_shift_demo():
    d = ics.covariate_shift_demo(seed=0)
    assert d["train_accuracy"] > 0.9 and d["same_slice_accuracy"] > 0.9
    assert d["shifted_accuracy"] < d["same_slice_accuracy"] - 0.05


def test_covariate_noise_statistics_and_eval_identity():
    layer = CovariateNoise(4, mean_range=(2.0, 2.0), scale_range=(3.0, 3.0), sample_std=0.0)
    x = torch.randn(10, 4)
    torch.testing.assert_close(layer(x), 3 * x + 2)
    layer.eval()
    assert layer(x) is x
    model = noise.noisy_mlp("noisy-bn", seed=0)
    kinds = [type(m).__name__ for m in model]
    assert kinds[:5] == ["Flatten", "Linear", "BatchNorm1d", "CovariateNoise", "Sigmoid"]
    assert model.activation_indices == [4, 8, 12]
    plain = noise.noisy_mlp("noisy-plain", seed=0)
    assert [type(m).__name__ for m in plain][1:4] == ["Linear", "CovariateNoise", "Sigmoid"]


def test_interval_and_paired():
    out = _summary.interval([1.0, 2.0, 3.0, float("nan")])
    assert out["n"] == 3 and out["mean"] == 2.0
    assert out["high"] - out["mean"] == pytest.approx(4.303 / np.sqrt(3), rel=1e-3)
    p = _summary.paired([2.0, 3.0, 4.0], [1.0, 2.1, 2.9])
    assert p["verdict"] == "shown" and p["same_sign"]
    assert _summary.paired([1.0, 2.0], [1.5, 1.5])["verdict"] == "not shown"


def test_errors():
    with pytest.raises(ValueError, match="scale must be one of \\('book', 'full'\\); got 'huge'"):
        ics.noisy_bn(scale="huge")
    with pytest.raises(TypeError, match="seed must be an int; got 1.5"):
        signal.signal_propagation(seed=1.5)
    with pytest.raises(ValueError, match="learning rates must be positive numbers; got -1"):
        ics.ics_gradient(lrs=(-1,))
    with pytest.raises(ValueError, match="stages must be a non-empty sequence of steps >= 0; got \\(-1,\\)"):
        ics.landscape(stages=(-1,))
    with pytest.raises(ValueError, match="must name exactly the lrs"):
        ics.landscape(lrs=(0.1,), stages_per_lr={1.0: (0,)})
    with pytest.raises(TypeError, match=r"stages_per_lr must be a dict learning rate -> stages, or None; got \(0, 1\)"):
        ics.landscape(stages_per_lr=(0, 1))
    with pytest.raises(ValueError, match="measures must be a non-empty sequence"):
        ics.probe_training(measures=("loss",))
    with pytest.raises(TypeError, match="unknown setting"):
        ics.noisy_bn(learning_rate=1.0)
    with pytest.raises(ValueError, match="activations must be among 'tanh', 'relu', 'sigmoid'; got 'gelu'"):
        signal.signal_propagation(activations=("gelu",))
    with pytest.raises(ValueError, match="unknown variant 'noisy'"):
        noise.noisy_mlp("noisy")
    with pytest.raises(ValueError, match=r"CovariateNoise\(4\) expects input of shape \(N, 4\) or \(N, S, 4\); "
                                         r"got \(2, 3\)"):
        CovariateNoise(4)(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="seeds must be a non-empty sequence of ints; got \\[\\]"):
        noise.noisy_members("bn", [])
    with pytest.raises(ValueError, match="mean_range must be a pair"):
        CovariateNoise(4, mean_range=(1, -1))
    with pytest.raises(ValueError, match=r"target must be an accuracy in \(0, 1\]; got 1.5"):
        ics.ics_percentiles(target=1.5)
    with pytest.raises(ValueError, match="n must be an int >= 10; got 3"):
        ics.covariate_shift_demo(n=3)


# ------------------------------------------------ the seeds trained side by side

def _digits():
    x_tr, y_tr, x_te, y_te = ics._tensors(_summary.dataset("digits"))
    return x_tr, y_tr, x_te, y_te


def _member_batch(seeds, n=60):
    """One batch per member, ``(n, S, F)`` and ``(n, S)``, drawn from the digits."""
    x_tr, y_tr, _, _ = _digits()
    idx = torch.stack([torch.randperm(len(x_tr), generator=torch.Generator().manual_seed(s))[:n] for s in seeds], 1)
    return x_tr[idx], y_tr[idx]


@pytest.mark.parametrize("variant", list(noise.VARIANTS))
def test_noisy_members_start_as_the_single_networks(variant):
    seeds = [3, 5]
    members = noise.noisy_members(variant, seeds).eval()
    xb, _ = _member_batch(seeds)
    out = members(xb)
    assert out.shape == (60, 2, 10) and members.members == 2 and members.seeds == seeds
    for k, s in enumerate(seeds):
        single = noise.noisy_mlp(variant, seed=s).eval()
        torch.testing.assert_close(out[:, k], single(xb[:, k]), rtol=1e-5, atol=1e-5)
    assert [type(members[i]).__name__ for i in members.activation_indices] == ["Sigmoid"] * 3


def test_covariate_noise_draws_per_member_and_unit():
    layer = CovariateNoise(4, sample_std=0.0)
    y = layer(torch.zeros(5, 3, 4))                       # y = m_{sj}: the same for every example
    assert torch.equal(y, y[:1].expand(5, -1, -1))
    assert len(torch.unique(y[0])) == 12                  # a shift per member and unit
    assert float(y.min()) >= -1 and float(y.max()) <= 1


@pytest.mark.parametrize("variant", ["plain", "bn"])
def test_members_train_as_if_each_seed_trained_alone(variant):
    seeds, steps, lr = [0, 1], 6, 0.5
    data = _summary.dataset("digits")
    seen = {}
    ics._run(variant, seeds, steps, lr, data, eval_every=steps,
             hooks={steps: lambda m, xb, yb: seen.update(params=[p.detach().clone() for p in m.parameters()])})
    x_tr, y_tr, _, _ = _digits()
    index = np.arange(len(x_tr))
    for k, s in enumerate(seeds):
        single = noise.noisy_mlp(variant, seed=s)
        opt = torch.optim.SGD(single.parameters(), lr=lr)
        batches = ics.iterate_batches(index, index, 60, seed=s, epochs=None)
        for _ in range(steps):
            idx = torch.from_numpy(next(batches)[0])
            loss = nn.functional.cross_entropy(single(x_tr[idx]), y_tr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        first = single[1].weight.detach()                 # (100, 64); the member's is stored as (S, 64, 100)
        torch.testing.assert_close(seen["params"][0][k], first.T, rtol=1e-4, atol=1e-5)
        last = single[-1].weight.detach()
        torch.testing.assert_close(seen["params"][-2][k], last.T, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("variant", ["plain", "bn"])
def test_member_probes_match_the_diagnostics_of_each_seed(variant):
    from bnlearn import diagnostics

    seeds, lr = [2, 7], 0.5
    members = noise.noisy_members(variant, seeds)
    xb, yb = _member_batch(seeds)
    closure = lambda: ics._member_losses(members, xb, yb)  # noqa: E731
    before = [p.detach().clone() for p in members.parameters()]
    got_ics = ics._member_gradient_ics(members, closure, lr)
    got_land = ics._member_landscape(members, closure, [0.5 * lr, lr, 2 * lr])
    for p, q in zip(members.parameters(), before):        # no side effects
        assert torch.equal(p, q)
    for k, s in enumerate(seeds):
        single = noise.noisy_mlp(variant, seed=s)
        one = lambda: nn.functional.cross_entropy(single(xb[:, k]), yb[:, k])  # noqa: E731
        want = diagnostics.gradient_ics(single, one, lr)
        np.testing.assert_allclose(got_ics[k]["layers"]["l2"], want.l2, rtol=1e-3, atol=1e-7)
        np.testing.assert_allclose(got_ics[k]["layers"]["cosine"], want.cosine, rtol=1e-4)
        assert got_ics[k]["l2"] == pytest.approx(float(want.l2[1:].mean()), rel=1e-3)
        probe = diagnostics.landscape_probe(single, one, [0.5 * lr, lr, 2 * lr])
        assert got_land[k]["loss_range"] == pytest.approx(probe.loss_range, rel=1e-3, abs=1e-6)
        assert got_land[k]["grad_change"] == pytest.approx(probe.max_grad_change, rel=1e-3)
        assert got_land[k]["beta"] == pytest.approx(probe.beta_smoothness, rel=1e-3)


def test_seed_defaults_to_the_seed_knob(tiny, monkeypatch):
    monkeypatch.setenv("BNLEARN_SEED", "2")
    r = ics.noisy_bn(seeds=1, steps=2, eval_every=1, record_every=1)
    assert r.params["seed"] == 2
    p = ics.probe_training(seeds=1, lrs=(0.5,), stages=(0,))
    assert p.params["seed"] == 2
    assert ics.covariate_shift_demo()["w"] == ics.covariate_shift_demo(seed=2)["w"]


def test_sorted_percentiles_match_numpy():
    x = np.random.default_rng(0).normal(size=(37, 3, 5))
    got = ics._sorted_percentiles(np.sort(x, axis=0), (15, 50, 85))
    np.testing.assert_allclose(got, np.percentile(x, (15, 50, 85), axis=0), rtol=1e-12, atol=1e-12)
