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

from .registry import batch_statistics_types

__all__ = ["precise_bn", "batchnorm_layers"]



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
            if isinstance(m, batch_statistics_types()) and m.running_mean is not None]


def _as_rows(x: torch.Tensor) -> np.ndarray:
    """``(N, C, *spatial)`` or ``(N, C)`` -> ``(N prod spatial, C)`` float64 rows."""
    if x.dim() > 2:
        x = x.movedim(1, -1)                                      # (N, *spatial, C)
    return x.reshape(-1, x.shape[-1]).detach().to("cpu", torch.float64).numpy()


class _Layer:
    """One batch-norm layer during :func:`precise_bn`: its name and a message prefix."""

    def __init__(self, name: str, module: nn.Module) -> None:
        self.name = name or "<the model itself>"
        self.module = module
        self.label = f"batch-norm layer {self.name!r} ({type(module).__name__}({module.num_features}))"


def _check_input(layer: _Layer, x) -> np.ndarray:
    """The layer's input as float64 rows, or a ValueError naming the layer and channel of a non-finite value."""
    if not isinstance(x, torch.Tensor) or x.dim() < 2 or x.shape[1] != layer.module.num_features:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"precise_bn: {layer.label} got an input of shape {got}; "
                         f"expected (N, {layer.module.num_features}, ...)")
    rows = _as_rows(x)
    finite = np.isfinite(rows)
    if not finite.all():
        bad_channels = np.flatnonzero(~finite.all(axis=0))
        c = int(bad_channels[0])
        column = rows[:, c]
        kind = "a NaN" if np.isnan(column).any() else "an infinite value"
        more = f" (and in channel(s) {bad_channels[1:8].tolist()})" if len(bad_channels) > 1 else ""
        raise ValueError(f"precise_bn: the input of {layer.label} has {kind} in channel {c}{more}; its "
                         f"statistics would not be finite. Check the inputs x (or the layers before it) "
                         f"for NaN and infinity")
    return rows


def _moments_to_buffers(layer: _Layer, moments) -> tuple:
    """``(mean, unbiased var)`` as tensors of the buffers' dtype, checked finite; nothing written."""
    module = layer.module
    count = int(moments.count.min())
    if count < 2:
        raise ValueError(f"precise_bn: {layer.label} saw only {count} value(s) per channel; "
                         f"a variance needs at least 2")
    dt = module.running_mean.dtype
    mean = torch.from_numpy(moments.mean).to(dt)                                 # mu_c
    var = torch.from_numpy(moments.variance(ddof=1)).to(dt)                      # unbiased sigma_c^2
    for what, t, exact in (("mean", mean, moments.mean), ("variance", var, moments.variance(ddof=1))):
        bad = ~torch.isfinite(t)
        if bool(bad.any()):
            c = int(bad.nonzero()[0])
            raise ValueError(f"precise_bn: the {what} {exact[c]:.3g} of channel {c} of {layer.label} does not "
                             f"fit its {dt} buffers (the largest is {torch.finfo(dt).max:.3g}); rescale the "
                             f"inputs or keep the statistics in float64 (module.double())")
    return mean, var


def _write(layer: _Layer, stats: tuple) -> None:
    layer.module.running_mean.copy_(stats[0])
    layer.module.running_var.copy_(stats[1])


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

    All or nothing: every layer's statistics are computed and checked before
    the call returns; if anything fails (a NaN or infinite value reaching a
    batch-norm layer, a statistic too large for the buffers' dtype, an error
    in the model's forward, an interrupt), every layer gets back the
    statistics it had, and the error names the layer and the channel.

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
    TypeError
        If ``model`` is not a module, ``x`` not a tensor, ``chunk_size`` not an int.
    ValueError
        If ``model`` has no batch-norm layer with running statistics, ``x``
        has fewer than two inputs, ``chunk_size`` is not positive, a batch-norm
        layer's input holds a NaN or an infinity, a layer is never reached, or
        a statistic does not fit the buffers' dtype. The running statistics
        are then unchanged.
    """
    layers = batchnorm_layers(model)
    if not layers:
        raise ValueError(f"precise_bn needs a model with at least one batch-norm layer that tracks running "
                         f"statistics; got {type(model).__name__} with none")
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor of training inputs (N, ...); got {type(x).__name__}")
    if x.dim() == 0 or len(x) < 2:
        raise ValueError(f"x must hold at least two inputs (N >= 2) to give a variance; got shape {tuple(x.shape)}")
    if chunk_size is not None:
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int):
            raise TypeError(f"chunk_size must be a positive int or None; got {chunk_size!r}")
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive int or None; got {chunk_size!r}")
    entries = [_Layer(name, m) for name, m in layers]
    saved = [(e, (e.module.running_mean.clone(), e.module.running_var.clone())) for e in entries]
    was_training = model.training
    model.eval()
    try:
        if chunk_size is None or chunk_size >= len(x):
            _one_pass(model, entries, x)
        else:
            _layer_by_layer(model, entries, x, chunk_size)
    except BaseException:
        for e, stats in saved:          # all or nothing: give every layer its old statistics back
            _write(e, stats)
        raise
    finally:
        model.train(was_training)
    return model


def _running_moments():
    """A fresh :class:`bnlearn.scaling.RunningMoments` (imported here: ``bnlearn.scaling``
    loads scikit-learn, which ``import bnlearn.nn`` should not pay for)."""
    from ..scaling import RunningMoments

    return RunningMoments()


def _one_pass(model, entries, x) -> None:
    """All of ``x`` at once: a pre-hook sets each layer's statistics from its input just before it
    runs (the later layers must see them); the caller restores all of them if anything fails."""
    by_id = {id(e.module): e for e in entries}
    seen: set = set()

    def hook(module, args):
        layer = by_id[id(module)]
        if id(module) in seen:          # a layer called twice: keep the statistics of its first call
            return
        seen.add(id(module))
        _write(layer, _moments_to_buffers(layer, _running_moments().update(_check_input(layer, args[0]))))

    handles = [e.module.register_forward_pre_hook(hook) for e in entries]
    try:
        model(x)
    finally:
        for h in handles:
            h.remove()
    missed = [e.name for e in entries if id(e.module) not in seen]
    if missed:
        raise ValueError(f"precise_bn: the forward pass never reached the batch-norm layer(s) {missed}")


def _layer_by_layer(model, entries, x, chunk_size) -> None:
    """One pass over ``x`` in chunks per layer; after each pass, the first layer the
    forward reached (whose inputs no longer change) gets its statistics."""
    pending = {id(e.module): e for e in entries}
    while pending:
        moments: dict = {}
        order: list = []

        def hook(module, args):
            key = id(module)
            if key in pending:
                if key not in moments:
                    moments[key] = _running_moments()
                    order.append(key)
                moments[key].update(_check_input(pending[key], args[0]))

        handles = [e.module.register_forward_pre_hook(hook) for e in pending.values()]
        try:
            for start in range(0, len(x), chunk_size):
                model(x[start:start + chunk_size])
        finally:
            for h in handles:
                h.remove()
        if not order:
            names = [e.name for e in entries if id(e.module) in pending]
            raise ValueError(f"precise_bn: the forward pass never reached the batch-norm layer(s) {names}")
        first = pending.pop(order[0])
        _write(first, _moments_to_buffers(first, moments[order[0]]))
