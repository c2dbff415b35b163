r"""Batch normalisation as an autograd Function with a hand-derived backward.

For an input :math:`x` of shape ``(N, C, *spatial)`` (or ``(N, C)``) the
statistics are taken per channel :math:`c` over the :math:`m = N \prod
\mathrm{spatial}` values of that channel:

.. math::

    \mu_c = \frac{1}{m}\sum_i x_{ic}, \qquad
    \sigma_c^2 = \frac{1}{m}\sum_i (x_{ic} - \mu_c)^2, \qquad
    \hat x_{ic} = \frac{x_{ic} - \mu_c}{\sqrt{\sigma_c^2 + \epsilon}}, \qquad
    y_{ic} = \gamma_c \hat x_{ic} + \beta_c .

The backward pass needs only two per-channel sums of the incoming gradient
:math:`g = \partial L / \partial y`:

.. math::

    \frac{\partial L}{\partial \beta_c} = \sum_i g_{ic}, \qquad
    \frac{\partial L}{\partial \gamma_c} = \sum_i g_{ic} \hat x_{ic}, \qquad
    \frac{\partial L}{\partial x_{ic}} = \frac{\gamma_c}{\sqrt{\sigma_c^2+\epsilon}}
    \Big(g_{ic} - \frac{1}{m}\frac{\partial L}{\partial \beta_c}
         - \frac{\hat x_{ic}}{m}\frac{\partial L}{\partial \gamma_c}\Big),

so :class:`BatchNormFunction` saves the input and three per-channel vectors
(mean, inverse standard deviation, weight) and nothing else. The helpers
below are shared with ``bnlearn.nn.sync`` (which all-reduces the two sums)
and ``bnlearn.nn.renorm``.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch.autograd.function import once_differentiable

from ._checks import check_eps, check_floating, check_momentum, check_param_dtype, check_values_per_channel

__all__ = ["BatchNormFunction", "batch_norm"]


# ----------------------------------------------------------------------------
# Building blocks (shapes: x is (N, C, *spatial); vectors are (C,))
# ----------------------------------------------------------------------------
def reduce_dims(x: torch.Tensor) -> list[int]:
    """The axes that batch statistics reduce over: all but the channel axis 1."""
    return [0] + list(range(2, x.dim()))


def per_channel(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """View a ``(C,)`` vector as ``(1, C, 1, ..., 1)`` so it broadcasts against ``x``."""
    return v.view([1, -1] + [1] * (x.dim() - 2))


def stat_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype statistics are computed in: float32 for float16/bfloat16 inputs."""
    return torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype


def values_per_channel(x: torch.Tensor) -> int:
    """:math:`m = N \\prod \\mathrm{spatial}`, the number of values in one channel."""
    return x.numel() // x.shape[1] if x.shape[1] else 0


def batch_moments(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Per-channel mean and biased variance of ``x``, each of shape ``(C,)``.

    Two passes, which is numerically stable (no :math:`E[x^2] - E[x]^2`
    cancellation) and, on CPU, several times faster than ``torch.var_mean``
    over the non-contiguous axes ``(0, 2, 3, ...)``:
    :math:`\mu_c = \frac1m\sum_i x_{ic}`, then
    :math:`\sigma^2_c = \frac1m\sum_i (x_{ic}-\mu_c)^2`.
    """
    xs = x if x.dtype == stat_dtype(x) else x.to(stat_dtype(x))
    dims = reduce_dims(x)
    mean = xs.mean(dims)                                            # mu_c
    var = (xs - per_channel(mean, x)).square_().mean(dims)          # sigma_c^2 = mean (x - mu)^2
    return mean, var


def normalize(x, mean, invstd, weight, bias) -> torch.Tensor:
    r""":math:`y = \gamma (x-\mu)\,\mathrm{invstd} + \beta`, computed as one fused ``x * a + b``.

    Parameters
    ----------
    x : torch.Tensor
        ``(N, C, *spatial)``.
    mean, invstd : torch.Tensor
        ``(C,)``; ``invstd`` is :math:`1/\sqrt{\sigma^2+\epsilon}`.
    weight, bias : torch.Tensor or None
        ``(C,)`` or ``None`` (meaning 1 and 0).

    Returns
    -------
    torch.Tensor
        ``y``, same shape and dtype as ``x``.
    """
    scale = invstd if weight is None else invstd * weight      # a_c = gamma_c / sqrt(var_c + eps)
    shift = -mean * scale                                       # b_c = beta_c - mu_c a_c
    if bias is not None:
        shift = shift + bias
    y = torch.addcmul(per_channel(shift, x), x, per_channel(scale, x))  # y = x a + b
    return y if y.dtype == x.dtype else y.to(x.dtype)


def grad_sums(grad: torch.Tensor, x: torch.Tensor, mean: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The two per-channel sums the backward needs, each ``(C,)``.

    Returns :math:`\sum_i g_{ic}` and :math:`\sum_i g_{ic}(x_{ic}-\mu_c)`
    (the second computed on the centred input, which avoids the cancellation of
    :math:`\sum g x - \mu \sum g` when :math:`|\mu| \gg \sigma`).
    """
    dims = reduce_dims(x)
    sd = stat_dtype(x)
    g = grad if grad.dtype == sd else grad.to(sd)
    xs = x if x.dtype == sd else x.to(sd)
    sum_g = g.sum(dims)                                          # sum_i g_ic
    centred = xs - per_channel(mean, x)                          # x - mu  (one temporary)
    sum_gxc = centred.mul_(g).sum(dims)                          # sum_i g_ic (x_ic - mu_c)
    return sum_g, sum_gxc


def grad_input(grad, x, mean, invstd, weight, sum_g, sum_gxc, count) -> torch.Tensor:
    r"""The input gradient from the two sums, as ``dx = a g + k x + c`` (two fused passes).

    With :math:`a = \gamma\,\mathrm{invstd}`, the formula
    :math:`dx = a\,(g - \frac{1}{m}\sum g - \hat x \frac{1}{m}\sum g\hat x)` becomes
    :math:`dx = a g + k (x - \mu) - \frac{a}{m}\sum g` with
    :math:`k = -a\,\mathrm{invstd}^2 \frac{1}{m}\sum g (x-\mu)`.

    ``count`` is :math:`m`, the number of values per channel that the statistics
    were taken over (across all processes for :class:`~bnlearn.nn.SyncBatchNorm`).
    """
    a = invstd if weight is None else invstd * weight            # a = gamma / sqrt(var + eps)
    k = -a * invstd * invstd * sum_gxc / count                   # k = -a invstd^2 sum(g (x-mu)) / m
    c = -a * sum_g / count - k * mean                            # c = -a sum(g)/m - k mu
    sd = stat_dtype(x)
    if sd == x.dtype:
        dx = torch.addcmul(per_channel(c, x), grad, per_channel(a, x))   # a g + c
        return dx.addcmul_(x, per_channel(k, x))                         # + k x
    dx = torch.addcmul(per_channel(c, x), grad.to(sd), per_channel(a, x))
    return dx.addcmul_(x.to(sd), per_channel(k, x)).to(x.dtype)


def update_running(running_mean, running_var, mean, var, count, factor) -> None:
    r"""In place: :math:`r \leftarrow (1-f)\,r + f\,s` for the mean and the unbiased variance.

    The stored variance is unbiased, :math:`\sigma^2 m/(m-1)`; ``factor`` is
    :math:`f` (``momentum``, or :math:`1/t` for a cumulative average).
    """
    with torch.no_grad():
        unbiased = var * (count / max(count - 1, 1))                   # m/(m-1) correction
        running_mean.mul_(1 - factor).add_(mean.to(running_mean.dtype), alpha=factor)
        running_var.mul_(1 - factor).add_(unbiased.to(running_var.dtype), alpha=factor)


# ----------------------------------------------------------------------------
# The autograd Function
# ----------------------------------------------------------------------------
class BatchNormFunction(torch.autograd.Function):
    r"""Batch normalisation with a hand-written backward.

    ``BatchNormFunction.apply(x, weight, bias, running_mean, running_var,
    training, momentum, eps)``:

    - ``training=True``: normalise with the batch statistics; when
      ``running_mean``/``running_var`` are given, update them in place with the
      factor ``momentum`` (PyTorch's convention:
      ``running = (1 - momentum) * running + momentum * batch``, the unbiased variance).
    - ``training=False``: normalise with ``running_mean`` and ``running_var``.

    Shapes: ``x`` is ``(N, C)`` or ``(N, C, *spatial)``; ``weight``, ``bias``,
    ``running_mean``, ``running_var`` are ``(C,)`` or ``None``. Returns ``y`` of
    the shape of ``x``. Saved for backward: ``x`` (when a gradient needs it) and
    per-channel vectors only. Input checks live in ``batch_norm``; the
    backward is not itself differentiable (no double backward).
    """

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, training, momentum, eps):
        if training:
            mean, var = batch_moments(x)                          # mu, sigma^2 (biased), (C,)
            count = values_per_channel(x)
            if running_mean is not None:
                update_running(running_mean, running_var, mean, var, count, momentum)
        else:
            mean = running_mean.to(stat_dtype(x))
            var = running_var.to(stat_dtype(x))
            count = values_per_channel(x)
        invstd = torch.rsqrt(var + eps)                           # 1 / sqrt(sigma^2 + eps)
        y = normalize(x, mean, invstd, weight, bias)
        need_x = training or (weight is not None and ctx.needs_input_grad[1])
        ctx.save_for_backward(x if need_x else None, mean, invstd, weight)
        ctx.training = training
        ctx.count = count
        ctx.bias_dtype = None if bias is None else bias.dtype
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, mean, invstd, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        dx = dw = db = None
        if ctx.training:
            sum_g, sum_gxc = grad_sums(grad, x, mean)
            if need_x:
                dx = grad_input(grad, x, mean, invstd, weight, sum_g, sum_gxc, ctx.count)
        else:
            dims = reduce_dims(grad)
            sum_g = grad.sum(dims, dtype=mean.dtype)
            if need_w:
                sum_gxc = ((x.to(mean.dtype) - per_channel(mean, x)) * grad).sum(dims)
            if need_x:
                a = invstd if weight is None else invstd * weight     # dy/dx = gamma / sqrt(var + eps)
                dx = (grad * per_channel(a, grad)).to(grad.dtype)
        if need_w and weight is not None:
            dw = (sum_gxc * invstd).to(weight.dtype)                  # dL/dgamma = sum g xhat
        if need_b and ctx.bias_dtype is not None:
            db = sum_g.to(ctx.bias_dtype)                             # dL/dbeta = sum g
        return dx, dw, db, None, None, None, None, None


def batch_norm(
    input: torch.Tensor,
    running_mean: Optional[torch.Tensor],
    running_var: Optional[torch.Tensor],
    weight: Optional[torch.Tensor] = None,
    bias: Optional[torch.Tensor] = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> torch.Tensor:
    r"""Batch normalisation, the functional form (same signature as ``torch.nn.functional.batch_norm``).

    .. math::

        y = \gamma \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta

    with :math:`\mu, \sigma^2` the batch's per-channel mean and biased variance
    when ``training`` is true, else ``running_mean`` and ``running_var``.

    Parameters
    ----------
    input : torch.Tensor
        ``(N, C)`` or ``(N, C, *spatial)``, floating point.
    running_mean, running_var : torch.Tensor or None
        ``(C,)`` buffers. In training they are updated in place when given
        (``running = (1 - momentum) * running + momentum * batch``, unbiased
        variance). Required when ``training`` is false.
    weight, bias : torch.Tensor or None
        ``(C,)`` affine parameters :math:`\gamma, \beta` (``None``: 1 and 0).
    training : bool
        Use batch statistics (and update the running ones).
    momentum : float
        The update factor, in [0, 1].
    eps : float
        Added to the variance, > 0.

    Returns
    -------
    torch.Tensor
        Same shape and dtype as ``input``. An empty input (zero values per
        channel) gives an empty output and leaves the running statistics as they are.

    Raises
    ------
    TypeError
        Non-floating input, or parameters of another dtype/device.
    ValueError
        Fewer than 2 dimensions, vectors not of shape ``(C,)``, one value per
        channel in training, ``eps <= 0``, ``momentum`` outside [0, 1],
        ``training=False`` without running statistics.
    """
    check_floating("batch_norm", input)
    if input.dim() < 2:
        raise ValueError(f"batch_norm expects input of shape (N, C, *spatial); got {tuple(input.shape)}")
    check_eps("batch_norm", eps)
    if momentum is None:
        raise TypeError(
            "batch_norm: momentum must be a float in [0, 1]; got None (the modules turn "
            "momentum=None into the factor 1/t of a cumulative average before calling batch_norm)"
        )
    check_momentum("batch_norm", momentum)
    C = input.shape[1]
    for name, v in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if v is not None and tuple(v.shape) != (C,):
            raise ValueError(
                f"batch_norm: {name} must have shape ({C},) for input of shape "
                f"{tuple(input.shape)}; got {tuple(v.shape)}"
            )
    if (running_mean is None) != (running_var is None):
        raise ValueError("batch_norm: give both running_mean and running_var, or neither")
    if not training and running_mean is None:
        raise ValueError("batch_norm: training=False needs running_mean and running_var; got None")
    check_param_dtype("batch_norm", input, (weight, bias, running_mean, running_var))
    if training:
        check_values_per_channel(input)
    if input.numel() == 0:
        # Nothing to normalise: keep the graph connected (zero gradients), leave the buffers alone.
        out = input
        if weight is not None:
            out = out * per_channel(weight, input)
        if bias is not None:
            out = out + per_channel(bias, input)
        return out.clone() if out is input else out.to(input.dtype)
    return BatchNormFunction.apply(input, weight, bias, running_mean, running_var,
                                   bool(training), float(momentum), float(eps))
