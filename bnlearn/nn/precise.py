r"""Precise batch norm: replace the running (EMA) statistics by population statistics.

During training a batch-norm layer keeps an exponential moving average of its
batch statistics, :math:`r \leftarrow (1-m)\,r + m\,s_t`. The average mixes
statistics of networks that no longer exist (the weights changed between
steps) and carries the noise of the last few batches. After training, with the
weights fixed, the statistics the layer should use at inference can be
computed exactly: the mean and variance of the layer's input over the whole
training set, with every earlier batch-norm layer already using its own
population statistics (the *precise BN* of Wu and Johnson, 2021):

.. math::

    \mu_c = \frac{1}{M} \sum_{i=1}^{M} x_{ic}, \qquad
    \sigma_c^2 = \frac{1}{M - 1} \sum_{i=1}^{M} (x_{ic} - \mu_c)^2,

where :math:`i` runs over the :math:`M = N \prod \mathrm{spatial}` values of
channel :math:`c` over the :math:`N` training inputs. The variance is stored
unbiased, as PyTorch stores ``running_var``.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .batchnorm import _BatchNorm as _OurBatchNorm

__all__ = ["precise_bn", "batchnorm_layers"]

_BN_TYPES = (nn.modules.batchnorm._BatchNorm, _OurBatchNorm)


def batchnorm_layers(model: nn.Module) -> list:
    """The batch-norm layers of ``model`` that keep running statistics.

    Both ``torch.nn.BatchNorm1d/2d/3d`` and :mod:`bnlearn.nn`'s batch-norm
    modules (including ghost batch norm) count.

    Parameters
    ----------
    model : torch.nn.Module
        Any network.

    Returns
    -------
    list of tuple
        ``(name, module)`` pairs in the order of ``model.named_modules()``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    return [(name, m) for name, m in model.named_modules()
            if isinstance(m, _BN_TYPES) and m.running_mean is not None]


def _as_rows(x: torch.Tensor) -> np.ndarray:
    """``(N, C, *spatial)`` or ``(N, C)`` -> ``(N prod spatial, C)`` float64 rows."""
    if x.dim() > 2:
        x = x.movedim(1, -1)                                      # (N, *spatial, C)
    return x.reshape(-1, x.shape[-1]).detach().to("cpu", torch.float64).numpy()


@torch.no_grad()
def precise_bn(model: nn.Module, x: torch.Tensor, *, chunk_size: int | None = None) -> nn.Module:
    r"""Set every batch-norm layer's running statistics to its population statistics over ``x``.

    Layer by layer in the order the forward pass reaches them, the input of a
    batch-norm layer is collected over all of ``x`` in eval mode (so every
    earlier layer already normalises with its population statistics), its
    per-channel mean and unbiased variance are accumulated in float64
    (:class:`bnlearn.scaling.RunningMoments`, Chan et al.'s mergeable update),
    and they replace ``running_mean`` and ``running_var``:

    .. math::

        \mu_c = \frac1M \sum_i x_{ic}, \qquad
        \sigma_c^2 = \frac{1}{M-1} \sum_i (x_{ic} - \mu_c)^2 .

    With ``chunk_size=None`` all of ``x`` goes through in one pass, each layer
    taking its statistics just before it normalises; with a chunk size there
    is one pass over ``x`` per batch-norm layer. ``num_batches_tracked``,
    ``momentum`` and the affine parameters are left as they are, and the
    model's train/eval mode is restored afterwards.

    Parameters
    ----------
    model : torch.nn.Module
        A network with at least one batch-norm layer that tracks running
        statistics; changed in place.
    x : torch.Tensor
        The training inputs ``(N, ...)``, as the model takes them.
    chunk_size : int, optional
        Inputs per forward pass; ``None`` for one pass over all of ``x``.

    Returns
    -------
    torch.nn.Module
        ``model`` itself.

    Raises
    ------
    ValueError
        If ``model`` has no batch-norm layer with running statistics, ``x`` is
        empty or has a single value per channel, or ``chunk_size`` is not a
        positive int.
    """
    layers = batchnorm_layers(model)
    if not layers:
        raise ValueError(f"precise_bn needs a model with at least one batch-norm layer that tracks running "
                         f"statistics; got {type(model).__name__} with none")
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor of training inputs (N, ...); got {type(x).__name__}")
    if x.dim() == 0 or len(x) < 2:
        raise ValueError(f"x must hold at least two inputs (N >= 2) to give a variance; got shape {tuple(x.shape)}")
    if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int)
                                   or chunk_size < 1):
        raise ValueError(f"chunk_size must be a positive int or None; got {chunk_size!r}")
    was_training = model.training
    model.eval()
    try:
        if chunk_size is None or chunk_size >= len(x):
            _one_pass(model, layers, x)
        else:
            _layer_by_layer(model, layers, x, chunk_size)
    finally:
        model.train(was_training)
    return model


def _running_moments():
    """A fresh :class:`bnlearn.scaling.RunningMoments` (imported here: ``bnlearn.scaling``
    loads scikit-learn, which ``import bnlearn.nn`` should not pay for)."""
    from ..scaling import RunningMoments

    return RunningMoments()


def _set_stats(module, moments) -> None:
    if int(moments.count.min()) < 2:
        raise ValueError(f"{type(module).__name__}({module.num_features}) saw only "
                         f"{int(moments.count.min())} value(s) per channel; a variance needs at least 2")
    dt = module.running_mean.dtype
    module.running_mean.copy_(torch.from_numpy(moments.mean).to(dt))            # mu_c
    module.running_var.copy_(torch.from_numpy(moments.variance(ddof=1)).to(dt))  # unbiased sigma_c^2


def _one_pass(model, layers, x) -> None:
    """All of ``x`` at once: a pre-hook sets each layer's statistics from its input just before it runs."""
    def hook(module, args):
        _set_stats(module, _running_moments().update(_as_rows(args[0])))

    handles = [m.register_forward_pre_hook(hook) for _, m in layers]
    try:
        model(x)
    finally:
        for h in handles:
            h.remove()


def _layer_by_layer(model, layers, x, chunk_size) -> None:
    """One pass over ``x`` in chunks per layer; after each pass, the first layer the
    forward reached (whose inputs no longer change) gets its statistics."""
    pending = {id(m): m for _, m in layers}
    while pending:
        moments: dict = {}
        order: list = []

        def hook(module, args):
            key = id(module)
            if key in pending:
                if key not in moments:
                    moments[key] = _running_moments()
                    order.append(key)
                moments[key].update(_as_rows(args[0]))

        handles = [m.register_forward_pre_hook(hook) for m in pending.values()]
        try:
            for start in range(0, len(x), chunk_size):
                model(x[start:start + chunk_size])
        finally:
            for h in handles:
                h.remove()
        if not order:
            names = [n for n, m in layers if id(m) in pending]
            raise ValueError(f"precise_bn: the forward pass never reached the batch-norm layer(s) {names}")
        first = order[0]
        _set_stats(pending.pop(first), moments[first])
