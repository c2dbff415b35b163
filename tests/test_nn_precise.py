"""bnlearn.nn.precise_bn: population statistics, layer by layer, for any model with batch norms."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from bnlearn.data import load_digits
from bnlearn.ensemble import EnsembleMLP
from bnlearn.experiments import regularisation as R
from bnlearn.nn import BatchNorm1d, batchnorm_layers, precise_bn


@pytest.fixture(scope="module")
def digits():
    return load_digits()


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
