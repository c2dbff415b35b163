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

from .registry import batch_statistics_types

__all__ = ["fold_batchnorm"]

_FOLDABLE_INTO = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def _fold_pair(layer: nn.Module, bn: nn.Module, where: str) -> None:
    """Fold ``bn`` (eval statistics) into ``layer`` in place; computed in float64.

    Raises :class:`ValueError` (and leaves ``layer`` as it was) when the folded
    weights or bias are not finite in the layer's dtype.
    """
    with torch.no_grad():
        w = layer.weight.double()
        var = bn.running_var.double()
        mean = bn.running_mean.double()
        gamma = bn.weight.double() if bn.weight is not None else torch.ones_like(var)
        beta = bn.bias.double() if bn.bias is not None else torch.zeros_like(var)
        a = gamma / torch.sqrt(var + bn.eps)                                  # a = gamma / sqrt(var + eps)
        c = layer.bias.double() if layer.bias is not None else torch.zeros_like(var)
        new_w = (w * a.view([-1] + [1] * (w.dim() - 1))).to(layer.weight.dtype)   # W' = a W (per output channel)
        new_b = (a * (c - mean) + beta).to(layer.weight.dtype)                # c' = a (c - mean) + beta
        for what, t in (("weights", new_w), ("bias", new_b)):
            bad = ~torch.isfinite(t.reshape(len(t), -1)).all(1)
            if bool(bad.any()):
                channels = bad.nonzero().flatten().tolist()
                raise ValueError(
                    f"fold_batchnorm: folding {where} gives {what} that are not finite in "
                    f"{layer.weight.dtype} for output channel(s) {channels[:8]}"
                    f"{' ...' if len(channels) > 8 else ''} (running_var + eps near 0, or huge "
                    f"statistics); fix or reset that batch norm's statistics first")
        layer.weight.copy_(new_w)
        if layer.bias is None:
            layer.bias = nn.Parameter(new_b)
        else:
            layer.bias.copy_(new_b.to(layer.bias.dtype))


def _is_candidate(layer: nn.Module, bn: nn.Module) -> bool:
    """A batch norm with running statistics right after a Linear/Conv of as many outputs."""
    if not isinstance(layer, _FOLDABLE_INTO) or not isinstance(bn, batch_statistics_types()):
        return False
    if getattr(bn, "running_mean", None) is None or getattr(bn, "running_var", None) is None:
        return False                                   # batch statistics even in eval: not a fixed map
    out = layer.out_features if isinstance(layer, nn.Linear) else layer.out_channels
    return bn.num_features == out


def _has_hooks(module: nn.Module) -> bool:
    return bool(module._forward_hooks or module._forward_pre_hooks
                or getattr(module, "_forward_hooks_with_kwargs", None)
                or getattr(module, "_backward_hooks", None))


def _why_not_provable(layer: nn.Module, bn: nn.Module, uses: dict, owners: dict) -> str | None:
    """Why folding ``bn`` into ``layer`` could change the model's output, or None if it cannot.

    The fold is proved correct for a plain ``Linear``/``Conv`` (the class
    itself, whose forward is ``W x + c``), with no parametrization (a computed
    weight that a copy into ``weight`` would not change), no hooks (which may
    recompute the weight, as the old ``weight_norm`` does, or change the
    output), used in one place only (a shared layer would change for its
    other users too) and owning its parameters alone (tied weights).
    """
    if nn.utils.parametrize.is_parametrized(layer):
        names = list(layer.parametrizations.keys())
        return f"its {', '.join(names)} is parametrized (e.g. weight_norm); the fold would not reach it"
    if type(layer) not in _FOLDABLE_INTO:
        return (f"it is a {type(layer).__name__}, a subclass of {type(layer).__mro__[1].__name__} whose "
                f"forward may not be W x + c")
    if _has_hooks(layer):
        return "it has hooks (e.g. the old torch.nn.utils.weight_norm), which may recompute or change its output"
    if _has_hooks(bn):
        return "the batch norm has hooks, which folding would remove"
    if uses.get(id(layer), 0) > 1:
        return f"it appears {uses[id(layer)]} times in the model (shared); folding would change its other uses"
    for pname, p in layer.named_parameters(recurse=False):
        if len(owners.get(id(p), ())) > 1:
            return f"its {pname} is shared with another module (tied weights); folding would change that one too"
    return None


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

    Only folds that are provably exact are made. When a batch norm follows a
    layer that is not a plain ``Linear``/``Conv`` (a subclass, a parametrized
    layer such as ``parametrizations.weight_norm(Linear(...))``, a layer with
    hooks) or a layer that is shared (it appears twice in the model, or its
    parameters are tied to another module's), :class:`ValueError` names the
    layer and the reason, and nothing is returned half-folded.

    Parameters
    ----------
    model : torch.nn.Module
        The model; it is not modified.

    Returns
    -------
    torch.nn.Module
        A folded deep copy, in eval mode.

    Raises
    ------
    TypeError
        If ``model`` is not a :class:`torch.nn.Module`.
    ValueError
        If a fold cannot be proved exact (see above), or the folded weights
        are not finite in the layer's dtype.

    Notes
    -----
    Only ``Sequential`` containers are searched, because only there does the
    order of children fix the order of the computation. A ``Linear`` is
    assumed to produce ``(N, D)`` outputs (the features are the channels),
    and a layer is assumed to be called only where it sits in the module tree
    (a ``forward`` that also calls it elsewhere cannot be seen).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"fold_batchnorm expects a torch.nn.Module; got {type(model).__name__}")
    folded = copy.deepcopy(model).eval()
    uses: dict = {}
    owners: dict = {}
    for _, m in folded.named_modules(remove_duplicate=False):       # how often each module is used
        uses[id(m)] = uses.get(id(m), 0) + 1
    for m in folded.modules():                                         # which modules own each parameter
        for p in m._parameters.values():
            if p is not None:
                owners.setdefault(id(p), set()).add(id(m))
    for cname, container in folded.named_modules():
        if not isinstance(container, nn.Sequential):
            continue
        names = list(container._modules.keys())
        for prev, name in zip(names, names[1:]):
            layer, bn = container._modules[prev], container._modules[name]
            if not _is_candidate(layer, bn):
                continue
            qual = (lambda n: f"{cname}.{n}") if cname else (lambda n: n)
            label = f"{type(bn).__name__} {qual(name)!r} into {type(layer).__name__} {qual(prev)!r}"
            reason = _why_not_provable(layer, bn, uses, owners)
            if reason is not None:
                raise ValueError(f"fold_batchnorm cannot fold {label}: {reason}")
            _fold_pair(layer, bn, label)
            container._modules[name] = nn.Identity()
    return folded
