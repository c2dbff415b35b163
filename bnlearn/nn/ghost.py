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

Rule for a batch that :math:`v` does not divide: a :class:`ValueError` in
training (drop the last incomplete batch, e.g. ``DataLoader(drop_last=True)``,
or choose a divisor).
"""
from __future__ import annotations

from typing import Optional

import torch

from ._checks import check_num_features, check_values_per_channel
from .batchnorm import _BatchNorm
from .functional import batch_moments, batch_norm, update_running, values_per_channel

__all__ = ["GhostBatchNorm1d", "GhostBatchNorm2d"]


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

    def __init__(self, num_features: int, virtual_batch_size: int = 32, eps: float = 1e-5,
                 momentum: Optional[float] = 0.1, affine: bool = True, track_running_stats: bool = True,
                 device=None, dtype=None, *, bias: bool = True) -> None:
        check_num_features(f"{type(self).__name__}({num_features})", "virtual_batch_size", virtual_batch_size)
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias)
        self.virtual_batch_size = virtual_batch_size

    def extra_repr(self) -> str:
        """The batch-norm arguments plus ``virtual_batch_size``."""
        return super().extra_repr() + f", virtual_batch_size={self.virtual_batch_size}"

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """Normalise each ghost batch with its own statistics (training) or the running ones (eval)."""
        if not self._uses_batch_stats():
            return super().forward(input)
        self._check_input_dim(input)
        n, v = input.shape[0], self.virtual_batch_size
        if n % v != 0:
            raise ValueError(
                f"{self._describe()} with virtual_batch_size={v} needs a batch size that {v} divides; "
                f"got a batch of {n} (drop the incomplete last batch or choose a divisor of {n})"
            )
        chunks = input.split(v) if n else [input]
        for chunk in chunks:
            check_values_per_channel(chunk)
        factor = self._update_factor()
        update = self.training and self.track_running_stats and input.numel() > 0
        if update:
            with torch.no_grad():
                moments = [batch_moments(chunk) for chunk in chunks]
                m = values_per_channel(chunks[0])
                mean = torch.stack([mu for mu, _ in moments]).mean(0)              # average ghost mean
                var = torch.stack([s2 for _, s2 in moments]).mean(0)               # average biased var
                update_running(self.running_mean, self.running_var, mean, var, m, factor)
        outs = [batch_norm(chunk, None, None, self.weight, self.bias, True, 0.0, self.eps) for chunk in chunks]
        return outs[0] if len(outs) == 1 else torch.cat(outs, 0)


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
