"""The one registry of norms: names to layers, read by the model builders."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from bnlearn import models
from bnlearn import nn as bnn
from bnlearn.nn import registry


def test_the_books_norms_are_registered():
    assert registry.norm_names()[:6] == ["none", "batch", "group", "layer", "renorm", "ghost"]


@pytest.mark.parametrize("name, spatial, cls", [
    ("none", 0, nn.Identity), ("batch", 0, bnn.BatchNorm1d), ("batch", 2, bnn.BatchNorm2d),
    ("batch", 3, bnn.BatchNorm3d), ("renorm", 2, bnn.BatchRenorm2d), ("ghost", 0, bnn.GhostBatchNorm1d),
    ("group", 2, bnn.GroupNorm), ("layer", 0, bnn.LayerNorm), ("layer", 2, bnn.GroupNorm),
])
def test_norm_layer_builds_the_registered_class(name, spatial, cls):
    layer = registry.norm_layer(name, 16, spatial)
    assert type(layer) is cls
    assert isinstance(layer, registry.NORMS[name].classes)


def test_group_norm_defaults_to_groups_of_eight_channels_and_layer_norm_on_images_is_one_group():
    assert registry.norm_layer("group", 32, 2).num_groups == 4
    assert registry.norm_layer("group", 12, 2).num_groups == 1   # 12 // 8 = 1
    assert registry.norm_layer("group", 24, 2, groups=6).num_groups == 6
    assert registry.norm_layer("layer", 24, 2).num_groups == 1


def test_batch_statistics_types_are_the_norms_with_running_statistics():
    types = registry.batch_statistics_types()
    assert bnn.BatchNorm2d in types and bnn.BatchRenorm1d in types and bnn.GhostBatchNorm1d in types
    assert nn.modules.batchnorm._BatchNorm in types
    assert bnn.GroupNorm not in types and bnn.LayerNorm not in types
    assert nn.modules.batchnorm._BatchNorm not in registry.batch_statistics_types(include_torch=False)


@pytest.mark.parametrize("call, exc, match", [
    (lambda: registry.norm_layer("batchy", 4), ValueError, "unknown norm 'batchy'; registered norms"),
    (lambda: registry.norm_layer("batch", 0), ValueError, "num_features must be a positive int"),
    (lambda: registry.norm_layer("renorm", 4, 3), ValueError, r"supports spatial axes \[0, 1, 2\]; got 3"),
    (lambda: registry.norm_layer("none", 4, affine=True), TypeError, "takes no options"),
    (lambda: registry.register_norm("Bad Name", lambda c, s: nn.Identity(), nn.Identity), ValueError, "lower-case"),
    (lambda: registry.register_norm("x", 3, nn.Identity), TypeError, "build must be callable"),
    (lambda: registry.register_norm("x", lambda c, s: nn.Identity(), "cls"), TypeError, "classes must be"),
    (lambda: models.deep_mlp(2, 8, "batchy"), ValueError, "unknown norm 'batchy'"),
    (lambda: models.small_conv_net("batchy"), ValueError, "unknown norm 'batchy'"),
    (lambda: models.deep_mlp(2, 8, "batch", norm_options=[1]), TypeError, "norm_options must be a dict"),
])
def test_bad_input_is_named(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


class _ScaleOnly(nn.Module):
    """A toy norm: divides by the per-example RMS of the features."""

    def forward(self, x):
        return x / x.pow(2).mean(1, keepdim=True).add(1e-5).sqrt()


def test_a_new_entry_reaches_the_model_builders():
    registry.register_norm("rms-test", lambda c, spatial: _ScaleOnly(), _ScaleOnly)
    try:
        assert "rms-test" in models.NORMS
        mlp = models.deep_mlp(3, 16, "rms-test", seed=0)
        assert sum(isinstance(m, _ScaleOnly) for m in mlp) == 3
        hidden = [m for m in mlp if isinstance(m, nn.Linear)][:-1]
        assert all(m.bias is None for m in hidden)   # the norm replaces the bias
        assert mlp(torch.randn(5, 64)).shape == (5, 10)
        conv = models.small_conv_net("rms-test", widths=(4, 8), seed=0)
        assert sum(isinstance(m, _ScaleOnly) for m in conv) == 2
    finally:
        del registry.NORMS["rms-test"]
    assert "rms-test" not in models.NORMS


def test_small_conv_net_has_no_bias_before_a_norm_and_takes_a_callable():
    net = models.small_conv_net("batch", widths=(4, 8), seed=0)
    assert all(m.bias is None for m in net if isinstance(m, nn.Conv2d))
    plain = models.small_conv_net(None, widths=(4, 8), seed=0)
    assert all(m.bias is not None for m in plain if isinstance(m, nn.Conv2d))
    theirs = models.small_conv_net(nn.BatchNorm2d, widths=(4, 8), seed=0)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in theirs) == 2
    # the same seed, the same initial weights, whatever the norm
    assert torch.equal(net[0].weight, theirs[0].weight)
