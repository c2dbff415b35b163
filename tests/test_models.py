"""Tests of bnlearn.models: architectures, sizes, initialisation, errors."""
import pytest
import torch
from torch import nn

import bnlearn.nn as bnn
from bnlearn import models
from bnlearn.nn import BatchNorm1d


def _bn_layers(model):
    return [m for m in model.modules() if isinstance(m, bnn.BatchNorm1d)]


@pytest.mark.parametrize("shape, flat", [((1, 8, 8), 64), ((1, 28, 28), 64 * 11 * 11), ((3, 10, 12), 64 * 2 * 3)])
def test_seed_cnn_is_sized_to_the_input(shape, flat):
    for bn in (False, True):
        model = models.seed_cnn(bn, input_shape=shape, seed=0)
        out = model(torch.zeros(5, *shape))
        assert out.shape == (5, 10)
        linears = [m for m in model if isinstance(m, nn.Linear)]
        assert linears[0].in_features == flat and linears[0].out_features == 64
        assert [type(m).__name__ for m in model][:6] == ["Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "Flatten"]
        assert len(_bn_layers(model)) == int(bn)
        if bn:
            assert type(model[6]) is BatchNorm1d and model[6].num_features == flat


def test_paper_mlp_structure():
    model = models.paper_mlp(True, seed=0)
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["Flatten"] + ["Linear", "BatchNorm1d", "Sigmoid"] * 3 + ["Linear"]
    hidden = [m for m in model if isinstance(m, nn.Linear)][:3]
    assert all(m.bias is None and m.out_features == 100 for m in hidden)  # BN's beta replaces the bias
    assert model.activation_indices == [3, 6, 9]
    plain = models.paper_mlp(False, in_features=784, seed=0)
    assert [type(m).__name__ for m in plain] == ["Flatten"] + ["Linear", "Sigmoid"] * 3 + ["Linear"]
    assert plain(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert all(m.bias is not None for m in plain if isinstance(m, nn.Linear))


@pytest.mark.parametrize("build", [
    lambda: models.seed_cnn(True, seed=0),
    lambda: models.paper_mlp(True, seed=0),
    lambda: models.deep_mlp(3, 16, norm="batch", seed=0),
])
def test_models_use_the_books_batch_norm_as_a_drop_in(build):
    model = build()
    assert _bn_layers(model)
    assert not [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    # Swapping in torch.nn's BatchNorm1d with the same state gives the same network.
    twin = build()
    for i, m in enumerate(twin):
        if isinstance(m, bnn.BatchNorm1d):
            twin[i] = nn.BatchNorm1d(m.num_features)
    twin.load_state_dict(model.state_dict())
    x = torch.randn(16, 1, 8, 8)
    for mode in ("train", "eval"):
        getattr(model, mode)(), getattr(twin, mode)()
        torch.testing.assert_close(model(x), twin(x))
    torch.testing.assert_close(model.state_dict(), twin.state_dict())


def test_paper_mlp_small_gaussian_weights():
    model = models.paper_mlp(False, init_std=0.1, in_features=784, hidden=400, seed=1)
    w = model[1].weight
    assert abs(w.std().item() - 0.1) < 0.005 and abs(w.mean().item()) < 0.005
    assert torch.all(model[1].bias == 0)


def test_seed_makes_weights_reproducible_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = models.paper_mlp(True, seed=7)
    after = torch.rand(1)
    assert torch.equal(before, after)
    b = models.paper_mlp(True, seed=7)
    c = models.paper_mlp(True, seed=8)
    assert torch.equal(a[1].weight, b[1].weight) and not torch.equal(a[1].weight, c[1].weight)


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "identity"])
def test_deep_mlp(activation):
    model = models.deep_mlp(5, 32, norm="batch", activation=activation, seed=0)
    assert len(_bn_layers(model)) == 5 and len(model.activation_indices) == 5
    assert model(torch.randn(4, 64)).shape == (4, 10)
    plain = models.deep_mlp(2, 16, activation=activation, in_features=10, num_classes=3, init=0.05, seed=0)
    assert plain(torch.randn(4, 10)).shape == (4, 3) and not _bn_layers(plain)
    assert abs(plain[1].weight.std().item() - 0.05) < 0.03


def test_deep_mlp_kaiming_keeps_relu_scale():
    model = models.deep_mlp(10, 256, seed=0).eval()
    x = torch.randn(512, 64)
    h = model[: model.activation_indices[-1] + 1](x)
    # He init keeps E[h^2] of the same order through 10 ReLU layers.
    assert 0.2 < h.pow(2).mean().item() / x.pow(2).mean().item() < 5


def test_model_errors():
    with pytest.raises(TypeError, match="batchnorm must be True or False; got 1"):
        models.seed_cnn(1)
    with pytest.raises(ValueError, match=r"at least 8x8 pixels; got input_shape \(1, 6, 6\)"):
        models.seed_cnn(True, input_shape=(1, 6, 6))
    with pytest.raises(ValueError, match=r"input_shape must be \(C, H, W\) .*got \(8, 8\)"):
        models.seed_cnn(True, input_shape=(8, 8))
    with pytest.raises(ValueError, match="unknown activation 'gelu'; expected one of"):
        models.paper_mlp(True, "gelu")
    with pytest.raises(ValueError, match="init_std must be a positive float; got -0.1"):
        models.paper_mlp(True, init_std=-0.1)
    with pytest.raises(ValueError, match="depth must be >= 1; got 0"):
        models.deep_mlp(0, 10)
    with pytest.raises(TypeError, match="width must be an int; got 10.5"):
        models.deep_mlp(2, 10.5)
    with pytest.raises(ValueError, match=r"unknown norm 'layr'; expected None or one of \['none', 'batch'"):
        models.deep_mlp(2, 10, norm="layr")
    with pytest.raises(ValueError, match="init must be 'default', 'kaiming', 'xavier' or a positive std; got 'he'"):
        models.deep_mlp(2, 10, init="he")
    with pytest.raises(TypeError, match="seed must be an int or None; got 'x'"):
        models.deep_mlp(2, 10, seed="x")
    with pytest.raises(ValueError, match="num_classes must be >= 2; got 1"):
        models.paper_mlp(False, num_classes=1)
