"""bnlearn.ensemble: many seeds as one batched MLP, its member-wise norms, its batches and loss for ``train``."""
from __future__ import annotations


import numpy as np
import pytest
import torch
from torch import nn

import bnlearn.nn as bnn
from bnlearn import train
from bnlearn.data import load_digits
from bnlearn.ensemble import (EnsembleMLP, MemberNorm, ParallelLinear, member_accuracy, member_batches,
                              member_loss, member_norms, member_stream)
from bnlearn.experiments import regularisation as R


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def _train_members(model, d, *, steps, batch_size, lr, seed):
    """Train the ensemble through the one loop, as chapter 7's experiments do; the members' mean losses."""
    h = train.train(model, None, steps=steps, loss_fn=member_loss, optimizer="sgd", lr=lr, momentum=0.9,
                    batches=member_stream(model, d["x"], d["y"], steps=steps, batch_size=batch_size, seed=seed),
                    seed=seed, evaluate_test=False, eval_every=steps, progress=False)
    return (np.asarray(h.step_loss) / model.members).tolist()


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
        losses = _train_members(model, d, steps=40, batch_size=16, lr=0.05, seed=3)
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
        member_stream(model, torch.zeros(3, 5, 64), torch.zeros(3, 5, dtype=torch.long), steps=1, batch_size=2)
    with pytest.raises(TypeError, match="model must be an EnsembleMLP; got Linear"):
        member_stream(nn.Linear(2, 2), torch.zeros(2, 5, 64), torch.zeros(2, 5), steps=1, batch_size=2)
    with pytest.raises(ValueError, match=r"y must have shape \(7,\) to match x; got \(6,\)"):
        member_accuracy(model, torch.zeros(7, 64), torch.zeros(6, dtype=torch.long))


def test_member_loss_is_the_sum_of_each_members_mean_loss():
    torch.manual_seed(0)
    model = EnsembleMLP(3, (4, 5, 2), seed=1)
    xb, yb = torch.randn(6, 3, 4), torch.randint(0, 2, (6, 3))
    logits = model(xb)
    expected = sum(nn.functional.cross_entropy(logits[:, s], yb[:, s]) for s in range(3))
    torch.testing.assert_close(member_loss(model, xb, yb), expected)


def test_member_stream_gives_each_member_its_own_batches(digits):
    d = R.member_data(digits, 2, 30, 0.0, seed=0)
    model = EnsembleMLP(2, (64, 4, 10))
    idx = member_batches(30, 8, steps=5, members=2, seed=4)
    pairs = list(member_stream(model, d["x"], d["y"], steps=5, batch_size=8, seed=4))
    assert len(pairs) == 5
    for t, (xb, yb) in enumerate(pairs):
        assert xb.shape == (8, 2, 64) and yb.shape == (8, 2)
        for s in range(2):
            torch.testing.assert_close(xb[:, s], d["x"][s, idx[t, s]])
            torch.testing.assert_close(yb[:, s], d["y"][s, idx[t, s]])


def test_ensemble_norms_follow_the_registry():
    # Every registered norm with batch statistics is accepted (renorm too), and nothing else.
    assert member_norms() == (None, *(n for n, e in bnn.NORMS.items() if e.batch_statistics))
    assert {"batch", "renorm", "ghost"} <= set(member_norms()) and "layer" not in member_norms()
    net = EnsembleMLP(2, (4, 3, 2), "renorm", seed=0)
    assert isinstance(net[1].bn, bnn.BatchRenorm1d) and net[1].bn.num_features == 6
    # A new batch-statistics norm reaches the ensemble with one registry line.
    class Doubled(bnn.BatchNorm1d):
        pass
    bnn.register_norm("doubled-test", lambda c, spatial, **kw: Doubled(c, **kw), Doubled, batch_statistics=True)
    try:
        assert isinstance(EnsembleMLP(2, (4, 3, 2), "doubled-test")[1].bn, Doubled)
    finally:
        del bnn.NORMS["doubled-test"]
    with pytest.raises(ValueError, match=r"MemberNorm: norm must be one of .*got 'layer'"):
        MemberNorm(2, 3, norm="layer")
