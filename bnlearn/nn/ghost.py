r"""Ghost batch normalisation (Hoffer et al., 2017): statistics per virtual batch.

A training batch of :math:`N` examples is split into :math:`N / v` consecutive
*ghost* batches of ``virtual_batch_size`` :math:`v` examples, and each is
normalised with its own statistics, as if the model had been trained with batch
size :math:`v` while the optimiser still sees the large batch:

.. math::

    y^{(k)} = \gamma \frac{x^{(k)} - \mu^{(k)}}{\sqrt{\sigma^{2(k)} + \epsilon}} + \beta,
    \qquad k = 1, \dots, N / v .

The running statistics are updated once per forward call with the average of
the ghost batches' means and unbiased variances. In eval mode the running
statistics normalise the whole batch at once, like batch norm. With
:math:`v = N` it equals batch norm.

The ghost batches are not normalised one by one: the batch ``(N, C, ...)`` is
regrouped as ``(v, (N / v) C, ...)``, so that each ghost batch's channels are
channels of their own, and one batch norm of :math:`(N / v)\,C` channels
normalises them all. The regrouping copies the input (and the output back), so
it pays most for many small ghost batches, where a Python loop over them would
spend its time in per-call overhead; for a few ghost batches of large feature
maps the copies can cost more than the calls they save.

Rule for a batch that :math:`v` does not divide: a :class:`ValueError` in
training (drop the last incomplete batch, e.g. ``DataLoader(drop_last=True)``,
or choose a divisor).

``torch.jit.script`` compiles both modules (the scripted forward lets autograd
differentiate plain tensor operations). ``virtual_batch_size``, ``eps`` and
``momentum`` are checked when they are set.
"""
from __future__ import annotations

from typing import List, Optional

import torch

from ._checks import check_num_features, check_param_dtype, check_values_per_channel
from .batchnorm import _BatchNorm
from .functional import (batch_norm_unchecked, moments_any_scale, script_batch_norm, shape_text,
                         update_running, values_per_channel)

__all__ = ["GhostBatchNorm1d", "GhostBatchNorm2d"]


def _ghost_batch_norm(x: torch.Tensor, virtual_batch_size: int, running_mean: Optional[torch.Tensor],
                      running_var: Optional[torch.Tensor], weight: Optional[torch.Tensor],
                      bias: Optional[torch.Tensor], factor: float, eps: float) -> torch.Tensor:
    r"""Ghost batch norm in training mode, every ghost batch in one :func:`batch_norm` call.

    With :math:`N = g v`, ghost batch :math:`k` is examples
    :math:`kv, \dots, kv + v - 1`. The input ``(N, C, *spatial)`` is viewed as
    ``(g, v, C, *spatial)`` and regrouped to ``(v, g C, *spatial)``, so that
    channel :math:`(k, c)` of the regrouped tensor holds channel :math:`c` of
    ghost batch :math:`k`; one batch norm of :math:`g C` channels (with
    :math:`\gamma, \beta` repeated :math:`g` times) then normalises each ghost
    batch with its own statistics,

    .. math::

        y^{(k)}_c = \gamma_c \frac{x^{(k)}_c - \mu^{(k)}_c}{\sqrt{\sigma^{2(k)}_c + \epsilon}} + \beta_c ,

    and the gradients of :math:`\gamma, \beta` sum over the ghost batches.

    Parameters
    ----------
    x : torch.Tensor
        ``(N, C, *spatial)``, ``N`` a multiple of ``virtual_batch_size`` (checked by the caller).
    virtual_batch_size : int
        :math:`v`.
    running_mean, running_var : torch.Tensor or None
        ``(C,)`` buffers to update in place with the average over the ghost
        batches of their means and biased variances (the variance stored
        unbiased, :math:`\times\, m / (m - 1)` with :math:`m` values per
        channel of one ghost batch), or ``None`` for no update.
    weight, bias : torch.Tensor or None
        ``(C,)`` affine parameters, or ``None``.
    factor : float
        Running-average factor :math:`f` of :func:`~bnlearn.nn.functional.update_running`.
    eps : float
        Added to each ghost batch's variance.

    Returns
    -------
    torch.Tensor
        ``y``, the shape and dtype of ``x``.
    """
    if x.numel() == 0:
        return batch_norm_unchecked(x, None, None, weight, bias, True, 0.0, eps)   # empty in, empty out
    n, c, spatial = x.shape[0], x.shape[1], tuple(x.shape[2:])
    v = virtual_batch_size
    g = n // v
    cols = x.reshape(g, v, c, *spatial).transpose(0, 1).reshape(v, g * c, *spatial)  # channel (k, c)
    if running_mean is not None:
        with torch.no_grad():
            mean, var = moments_any_scale(cols)                     # mu_c^(k), sigma_c^2(k), (g C,)
            update_running(running_mean, running_var, mean.view(g, c).mean(0),   # (1/g) sum_k mu^(k)
                           var.view(g, c).mean(0), values_per_channel(cols), factor)
    w = None if weight is None else weight.repeat(g)                # gamma_c for every ghost batch
    b = None if bias is None else bias.repeat(g)
    y = batch_norm_unchecked(cols, None, None, w, b, True, 0.0, eps)   # each ghost batch, its own statistics
    return y.reshape(v, g, c, *spatial).transpose(0, 1).reshape(x.shape)


class _GhostBatchNorm(_BatchNorm):
    r"""Base class of :class:`GhostBatchNorm1d` and :class:`GhostBatchNorm2d`.

    Parameters
    ----------
    num_features : int
        :math:`C`.
    virtual_batch_size : int, default 32
        :math:`v`, the examples per ghost batch; must divide the training batch size.
    eps, momentum, affine, track_running_stats, device, dtype, bias
        As in :class:`~bnlearn.nn.BatchNorm2d`.
    """

    __constants__ = _BatchNorm.__constants__ + ["virtual_batch_size"]
    __jit_unused_properties__ = _BatchNorm.__jit_unused_properties__ + ["virtual_batch_size"]

    def __init__(self, num_features: int, virtual_batch_size: int = 32, eps: float = 1e-5,
                 momentum: Optional[float] = 0.1, affine: bool = True, track_running_stats: bool = True,
                 device=None, dtype=None, *, bias: bool = True) -> None:
        check_num_features(f"{type(self).__name__}({num_features})", "virtual_batch_size", virtual_batch_size)
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias)
        self.virtual_batch_size = virtual_batch_size

    @property
    def virtual_batch_size(self) -> int:
        """Examples per ghost batch, a positive int (checked when set)."""
        return self._virtual_batch_size

    @virtual_batch_size.setter
    def virtual_batch_size(self, value) -> None:
        self._virtual_batch_size = check_num_features(self._describe(), "virtual_batch_size", value)

    def __setstate__(self, state) -> None:
        if "virtual_batch_size" in state:         # pickled before it was a property
            state["_virtual_batch_size"] = state.pop("virtual_batch_size")
        super().__setstate__(state)

    def extra_repr(self) -> str:
        """The batch-norm arguments plus ``virtual_batch_size``."""
        return super().extra_repr() + f", virtual_batch_size={self.virtual_batch_size}"

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """Normalise each ghost batch with its own statistics (training) or the running ones (eval)."""
        if torch.jit.is_scripting():
            return self._ghost_forward_script(input)
        else:
            if not self._uses_batch_stats():
                return super().forward(input)
            self._check_input_dim(input)
            check_param_dtype(self._describe(), input,
                              (self.weight, self.bias, self.running_mean, self.running_var))
            n, v = input.shape[0], self.virtual_batch_size
            if n % v != 0:
                raise ValueError(
                    f"{self._describe()} with virtual_batch_size={v} needs a batch size that {v} divides; "
                    f"got a batch of {n} (drop the incomplete last batch or choose a divisor of {n})"
                )
            check_values_per_channel(input[:v])                       # one ghost batch (all have its shape)
            factor = self._update_factor()
            update = self.training and self.track_running_stats
            return _ghost_batch_norm(input, v, self.running_mean if update else None,
                                     self.running_var if update else None, self.weight, self.bias,
                                     float(factor), float(self.eps))

    def _ghost_forward_script(self, input: torch.Tensor) -> torch.Tensor:
        if not (self.training or (self.running_mean is None and self.running_var is None)):
            return self._forward_script(input)
        self._check_input_script(input)
        n = input.size(0)
        v = self.virtual_batch_size
        if n % v != 0:
            raise ValueError(self._owner + " with virtual_batch_size=" + str(v) + " needs a batch size that "
                             + str(v) + " divides; got a batch of " + str(n))
        c = input.size(1)
        if input.numel() > 0 and (input.numel() // n) * v == c:
            raise ValueError("Expected more than 1 value per channel when training, got input size "
                             + shape_text(input[:v].shape))
        factor = self._factor_script()
        if input.numel() == 0:
            return script_batch_norm(input, None, None, self.weight, self.bias, True, False, 0.0, self.eps)
        g = n // v
        spatial: List[int] = input.shape[2:]
        cols = input.reshape([g, v, c] + spatial).transpose(0, 1).reshape([v, g * c] + spatial)
        running_mean = self.running_mean
        running_var = self.running_var
        if self.training and self.track_running_stats and running_mean is not None and running_var is not None:
            with torch.no_grad():
                mean, var = moments_any_scale(cols.detach())
                update_running(running_mean, running_var, mean.view(g, c).mean(0), var.view(g, c).mean(0),
                               cols.numel() // cols.size(1), factor)
        w = self.weight
        b = self.bias
        if w is not None:
            w = w.repeat(g)
        if b is not None:
            b = b.repeat(g)
        y = script_batch_norm(cols, None, None, w, b, True, False, 0.0, self.eps)
        return y.reshape([v, g, c] + spatial).transpose(0, 1).reshape(input.shape)


class GhostBatchNorm1d(_GhostBatchNorm):
    r"""Ghost batch normalisation over ``(N, C)`` or ``(N, C, L)`` inputs.

    .. math::

        y^{(k)} = \gamma \frac{x^{(k)} - \mu^{(k)}}{\sqrt{\sigma^{2(k)} + \epsilon}} + \beta

    for each ghost batch :math:`x^{(k)}` of ``virtual_batch_size`` examples.
    Parameters as in :class:`GhostBatchNorm2d`.
    """

    _spatial_dims = (0, 1)


class GhostBatchNorm2d(_GhostBatchNorm):
    r"""Ghost batch normalisation over ``(N, C, H, W)`` inputs (Hoffer et al., 2017).

    .. math::

        y^{(k)} = \gamma \frac{x^{(k)} - \mu^{(k)}}{\sqrt{\sigma^{2(k)} + \epsilon}} + \beta

    Parameters
    ----------
    num_features : int
        :math:`C`.
    virtual_batch_size : int, default 32
        Examples per ghost batch; must divide the training batch size.
    eps, momentum, affine, track_running_stats, device, dtype, bias
        As in :class:`~bnlearn.nn.BatchNorm2d`.
    """

    _spatial_dims = (2,)
