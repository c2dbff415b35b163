r"""Fold eval-mode batch norm into the linear or convolution layer before it.

In eval mode a batch-norm layer is a fixed per-channel affine map,
:math:`y = a\,z + b` with :math:`a = \gamma / \sqrt{\mathrm{running\_var} + \epsilon}`
and :math:`b = \beta - a\,\mathrm{running\_mean}`. When :math:`z = W x + c`
comes from a ``Linear`` or ``Conv`` layer, the composition is again such a
layer:

.. math::

    y = (a \odot W)\,x + (a \odot c + b),

i.e. each output channel's weights are scaled by :math:`a_o` and its bias
becomes :math:`a_o (c_o - \mathrm{running\_mean}_o) + \beta_o`. One layer and
one pass over the activations disappear at inference time.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from .batchnorm import _BatchNorm

__all__ = ["fold_batchnorm"]

_FOLDABLE_INTO = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
_BATCHNORMS = (_BatchNorm, nn.modules.batchnorm._BatchNorm)


def _fold_pair(layer: nn.Module, bn: nn.Module) -> None:
    """Fold ``bn`` (eval statistics) into ``layer`` in place; computed in float64."""
    with torch.no_grad():
        w = layer.weight.double()
        var = bn.running_var.double()
        mean = bn.running_mean.double()
        gamma = bn.weight.double() if bn.weight is not None else torch.ones_like(var)
        beta = bn.bias.double() if bn.bias is not None else torch.zeros_like(var)
        a = gamma / torch.sqrt(var + bn.eps)                                  # a = gamma / sqrt(var + eps)
        c = layer.bias.double() if layer.bias is not None else torch.zeros_like(var)
        new_w = w * a.view([-1] + [1] * (w.dim() - 1))                        # W' = a W (per output channel)
        new_b = a * (c - mean) + beta                                         # c' = a (c - mean) + beta
        layer.weight.copy_(new_w.to(layer.weight.dtype))
        if layer.bias is None:
            layer.bias = nn.Parameter(new_b.to(layer.weight.dtype))
        else:
            layer.bias.copy_(new_b.to(layer.bias.dtype))


def _foldable(layer: nn.Module, bn: nn.Module) -> bool:
    if not isinstance(layer, _FOLDABLE_INTO) or not isinstance(bn, _BATCHNORMS):
        return False
    if getattr(bn, "running_mean", None) is None or getattr(bn, "running_var", None) is None:
        return False                                   # batch statistics even in eval: not a fixed map
    out = layer.out_features if isinstance(layer, nn.Linear) else layer.out_channels
    return bn.num_features == out


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Return an eval-mode copy of ``model`` with each batch norm folded into the layer before it.

    Inside every :class:`torch.nn.Sequential` (at any depth, and ``model``
    itself if it is one), a batch-norm layer that directly follows a
    ``Linear``, ``Conv1d``, ``Conv2d`` or ``Conv3d`` with as many outputs as
    it has channels is folded into that layer and replaced by
    :class:`torch.nn.Identity`. Both ``torch.nn`` and ``bnlearn.nn`` batch
    norms are recognised. Batch norms without running statistics
    (``track_running_stats=False``), or after anything else, are left in place.
    The folded copy gives the original's eval-mode outputs (up to rounding).

    Parameters
    ----------
    model : torch.nn.Module
        The model; it is not modified.

    Returns
    -------
    torch.nn.Module
        A folded deep copy, in eval mode.

    Notes
    -----
    Only ``Sequential`` containers are searched, because only there does the
    order of children fix the order of the computation. A ``Linear`` is
    assumed to produce ``(N, D)`` outputs (the features are the channels).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"fold_batchnorm expects a torch.nn.Module; got {type(model).__name__}")
    folded = copy.deepcopy(model).eval()
    for container in folded.modules():
        if not isinstance(container, nn.Sequential):
            continue
        names = list(container._modules.keys())
        for prev, name in zip(names, names[1:]):
            layer, bn = container._modules[prev], container._modules[name]
            if _foldable(layer, bn):
                _fold_pair(layer, bn)
                container._modules[name] = nn.Identity()
    return folded
