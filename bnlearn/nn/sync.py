r"""Synchronised batch normalisation: batch statistics over all processes of a group.

Each of :math:`P` processes holds a local batch with :math:`m_k` values per
channel, local mean :math:`\mu_k` and sum of squared deviations
:math:`M_k = m_k \sigma_k^2`. One ``all_gather`` of these three per-channel
vectors lets every process merge them exactly and stably (Chan, Golub and
LeVeque's pairwise update, applied to all parts at once):

.. math::

    m = \sum_k m_k, \qquad
    \mu = \frac{1}{m}\sum_k m_k \mu_k, \qquad
    \sigma^2 = \frac{1}{m}\sum_k \big(M_k + m_k(\mu_k - \mu)^2\big),

which equals the statistics of the concatenated batch (no
:math:`E[x^2]-E[x]^2` cancellation). The backward all-reduces the two sums
:math:`\sum g` and :math:`\sum g (x - \mu)` that the input gradient needs (see
``bnlearn.nn.functional``); the parameter gradients stay local, so that a
data-parallel wrapper that averages gradients treats them like any other.

Unlike PyTorch's own ``SyncBatchNorm`` this runs on CPU tensors with the
``gloo`` backend as well as on CUDA with ``nccl``. Unequal batch sizes are
fine, and a process with an empty batch still takes part in the collectives,
so it does not hang the others. Outside an initialised process group (or with
one process, or in eval mode) it is plain batch norm.
"""
from __future__ import annotations

from typing import Any, Optional

import torch
import torch.distributed as dist
from torch import nn
from torch.autograd.function import once_differentiable

from ._checks import check_param_dtype
from .batchnorm import _BatchNorm
from .functional import (batch_moments, grad_input, grad_sums, normalize, stat_dtype,
                         update_running, values_per_channel)

__all__ = ["SyncBatchNorm", "convert_sync_batchnorm"]


def merge_moments(counts: torch.Tensor, means: torch.Tensor, m2s: torch.Tensor):
    r"""Merge per-part statistics into those of the union.

    Parameters
    ----------
    counts, means, m2s : torch.Tensor
        ``(P, C)``: values per channel :math:`m_k`, means :math:`\mu_k` and sums
        of squared deviations :math:`M_k` of each part.

    Returns
    -------
    tuple of torch.Tensor
        ``(m, mean, var)``: the total count ``(C,)``, the mean ``(C,)`` and the
        biased variance ``(C,)`` of the union (0 where the union is empty).
    """
    total = counts.sum(0)                                                   # m = sum_k m_k
    safe = total.clamp(min=1)
    mean = (counts * means).sum(0) / safe                                   # mu = sum_k m_k mu_k / m
    m2 = (m2s + counts * (means - mean) ** 2).sum(0)                        # M = sum_k M_k + m_k (mu_k - mu)^2
    return total, mean, m2 / safe                                           # sigma^2 = M / m


class SyncBatchNormFunction(torch.autograd.Function):
    """Batch norm whose statistics and backward sums are reduced over a process group.

    ``SyncBatchNormFunction.apply(x, weight, bias, running_mean, running_var,
    momentum, eps, group, world_size)``; shapes as in
    :class:`~bnlearn.nn.BatchNormFunction` (training mode only).
    """

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, momentum, eps, group, world_size):
        sd = stat_dtype(x)
        C = x.shape[1]
        m_local = values_per_channel(x)
        if m_local > 0:
            mean_l, var_l = batch_moments(x)                                  # local mu_k, sigma_k^2
        else:
            mean_l = var_l = torch.zeros(C, dtype=sd, device=x.device)
        # One gather of (count, mean, M) per channel, in float64 so counts and merges are exact enough.
        local = torch.stack([torch.full((C,), float(m_local), dtype=torch.float64, device=x.device),
                             mean_l.double(), var_l.double() * m_local])
        parts = [torch.empty_like(local) for _ in range(world_size)]
        dist.all_gather(parts, local, group=group)
        stats = torch.stack(parts)                                          # (P, 3, C)
        total, mean, var = merge_moments(stats[:, 0], stats[:, 1], stats[:, 2])
        count = int(total[0].item())
        if count == 1:
            raise ValueError(
                "Expected more than 1 value per channel when training, got 1 value per channel "
                f"across {world_size} processes (local input size {x.size()})"
            )
        ctx.group, ctx.world_size, ctx.count = group, world_size, count
        ctx.bias_dtype = None if bias is None else bias.dtype
        mean, var = mean.to(sd), var.to(sd)
        if count > 0 and running_mean is not None:
            update_running(running_mean, running_var, mean, var, count, momentum)
        invstd = torch.rsqrt(var + eps)                                     # 1 / sqrt(sigma^2 + eps)
        ctx.save_for_backward(x, mean, invstd, weight)
        return normalize(x, mean, invstd, weight, bias)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, mean, invstd, weight = ctx.saved_tensors
        if ctx.count == 0:                                                  # every batch was empty
            zeros = None if weight is None else torch.zeros_like(weight)
            return (torch.zeros_like(x), zeros, None if ctx.bias_dtype is None else zeros,
                    None, None, None, None, None, None)
        C = x.shape[1]
        if x.numel() > 0:
            sum_g, sum_gxc = grad_sums(grad, x, mean)                        # local sums
        else:
            sum_g = sum_gxc = torch.zeros(C, dtype=mean.dtype, device=x.device)
        both = torch.cat([sum_g, sum_gxc])
        dist.all_reduce(both, op=dist.ReduceOp.SUM, group=ctx.group)        # sums over all processes
        dx = grad_input(grad, x, mean, invstd, weight, both[:C], both[C:], ctx.count)
        dw = None if weight is None else (sum_gxc * invstd).to(weight.dtype)   # local dL/dgamma
        db = None if ctx.bias_dtype is None else sum_g.to(ctx.bias_dtype)    # local dL/dbeta
        return dx, dw, db, None, None, None, None, None, None


class SyncBatchNorm(_BatchNorm):
    r"""Batch normalisation with statistics synchronised across processes.

    .. math::

        y = \gamma \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta

    with :math:`\mu, \sigma^2` the per-channel statistics of the union of all
    processes' batches (training) or the running statistics (eval).

    Parameters
    ----------
    num_features : int
        :math:`C`.
    eps, momentum, affine, track_running_stats
        As in :class:`~bnlearn.nn.BatchNorm2d`.
    process_group : torch.distributed.ProcessGroup or None
        The group to synchronise over; ``None`` for the default (world) group.
    device, dtype, bias
        As in :class:`~bnlearn.nn.BatchNorm2d`.

    Notes
    -----
    Input ``(N, C, *spatial)`` of any rank >= 2. The parameter gradients are the
    local ones (each process's contribution); the input gradient is the exact
    gradient of the synchronised statistics. Every process of the group must
    call forward and backward the same number of times (as for any collective).
    Statistics that overflow for a finite input are handled as in
    :class:`~bnlearn.nn.BatchNorm2d` only within one process; across
    processes they are merged as they are.

    TorchScript cannot compile it (its collectives run inside an autograd
    Function, which TorchScript cannot compile; ``torch.nn.SyncBatchNorm`` does
    not script either): ``torch.jit.script`` raises a :class:`TypeError`. For
    an exported inference model, build it with :class:`~bnlearn.nn.BatchNorm2d`
    and load the trained ``state_dict`` (the keys are the same).
    """

    _spatial_dims = None

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: Optional[float] = 0.1,
                 affine: bool = True, track_running_stats: bool = True,
                 process_group: Optional[Any] = None, device=None, dtype=None, *, bias: bool = True) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias)
        self.process_group = process_group

    def __prepare_scriptable__(self):
        # torch.jit.script calls this first: fail with a message, not deep inside the compiler.
        raise TypeError(
            f"{self._describe()}: SyncBatchNorm cannot be compiled by torch.jit.script (its collectives run "
            "in an autograd Function); script a copy built with bnlearn.nn.BatchNorm1d/2d/3d instead, "
            "loading this module's state_dict (the keys are the same)"
        )

    def _world_size(self) -> int:
        if not (dist.is_available() and dist.is_initialized()):
            return 1
        return dist.get_world_size(self.process_group)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """Synchronised batch norm in training across >1 processes; plain batch norm otherwise."""
        world_size = self._world_size()
        if not self.training or world_size == 1:
            return super().forward(input)
        self._check_input_dim(input)
        check_param_dtype(self._describe(), input, (self.weight, self.bias, self.running_mean, self.running_var))
        factor = self._update_factor()
        return SyncBatchNormFunction.apply(
            input, self.weight, self.bias,
            self.running_mean if self.track_running_stats else None,
            self.running_var if self.track_running_stats else None,
            float(factor), float(self.eps), self.process_group, world_size,
        )


def _convertible() -> tuple:
    """The registry's plain batch norms (``"batch"``) and torch's own: what SyncBN replaces."""
    from .registry import NORMS

    return (*NORMS["batch"].classes, nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


def convert_sync_batchnorm(module: nn.Module, process_group: Optional[Any] = None) -> nn.Module:
    """Replace every batch-norm layer in ``module`` by a :class:`SyncBatchNorm`.

    Converts ``bnlearn.nn.BatchNorm1d/2d/3d`` and ``torch.nn.BatchNorm1d/2d/3d``
    (and ``torch.nn.SyncBatchNorm``), keeping their parameters (the same
    :class:`torch.nn.Parameter` objects), buffers, hyper-parameters and
    train/eval mode. Other normalisations (ghost, renorm, layer, group) are left
    as they are.

    Parameters
    ----------
    module : torch.nn.Module
        The model (or a single batch-norm layer).
    process_group : torch.distributed.ProcessGroup or None
        Group to synchronise over; ``None`` for the default group.

    Returns
    -------
    torch.nn.Module
        The converted module: a new :class:`SyncBatchNorm` if ``module`` itself
        is a batch-norm layer, else ``module`` with its children replaced in place.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"convert_sync_batchnorm expects a torch.nn.Module; got {type(module).__name__}")
    if type(module) in _convertible():
        out = SyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                            module.track_running_stats, process_group, bias=module.bias is not None)
        if module.affine:
            with torch.no_grad():
                out.weight = module.weight
                if module.bias is not None:
                    out.bias = module.bias
        out.running_mean = module.running_mean
        out.running_var = module.running_var
        out.num_batches_tracked = module.num_batches_tracked
        out.train(module.training)
        return out
    for name, child in module.named_children():
        module.add_module(name, convert_sync_batchnorm(child, process_group))
    return module
