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

Extreme magnitudes. The output does not change when a channel is multiplied
by a constant :math:`s` (up to :math:`\epsilon`), so a finite input whose
statistics overflow (in float32 a spread above about 1.8e19, whose square
exceeds the largest float) is normalised exactly as :math:`x / s`, with
:math:`s` a power of two per channel (an exact division): the output and the
gradients are then right, where ``torch.nn`` returns zeros or NaN. Only the
running variance, :math:`s^2` times larger than any float, is stored as
``inf``. A NaN or infinite input gives NaN outputs, as in ``torch.nn`` (a
diverging network is reported by :func:`bnlearn.train.train`, not stopped here).
"""
from __future__ import annotations

import math
from typing import List, Optional

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


def channel_scale(x: torch.Tensor, dims: List[int]) -> torch.Tensor:
    r"""A power of two :math:`s` per slice, with :math:`1 \le \max|x| / s < 2` over ``dims``.

    Dividing by a power of two is exact, so ``x / s`` has the same digits as
    ``x`` and values of order one, whose squares cannot overflow. An all-zero
    slice gets :math:`s = 1/2`. Shape: ``x`` reduced over ``dims``.
    """
    amax = x.detach().abs().amax(dims)
    _, exponent = torch.frexp(amax)                                   # amax = m 2^e, m in [0.5, 1)
    return torch.ldexp(torch.ones_like(amax), exponent - 1)           # s = 2^(e - 1)


def overflowed(var: torch.Tensor, x: torch.Tensor) -> bool:
    """True when the statistics are not finite although the input is (they overflowed).

    The common case costs one check of ``C`` values; the input is scanned only
    when a statistic is NaN or infinite.
    """
    # The sum of the (non-negative) variances is finite exactly when each one is, or the sum
    # itself overflowed, which the rescaled path handles as well; one reduction, cheaper than isfinite().all().
    if math.isfinite(float(var.sum())):
        return False
    return bool(torch.isfinite(x).all())


def scaled_moments(x: torch.Tensor):
    r"""Per-channel scale :math:`s`, and the mean and biased variance of :math:`x / s`.

    For an input whose statistics overflow (see :func:`overflowed`):
    :math:`\mu = s\,\mu_s`, :math:`\sigma^2 = s^2 \sigma_s^2`. Returns
    ``(xs, s, mean_s, var_s)`` with ``xs = x / s`` in the statistics' dtype.
    """
    sd = stat_dtype(x)
    dims = reduce_dims(x)
    xs = x if x.dtype == sd else x.to(sd)
    s = channel_scale(xs, dims)
    xs = xs / per_channel(s, x)                                       # exact: s is a power of two
    mean_s, var_s = batch_moments(xs)
    return xs, s, mean_s, var_s


def scaled_eps(eps: float, s: torch.Tensor) -> torch.Tensor:
    r""":math:`\epsilon / s^2`, kept at least the dtype's smallest normal number (never 0)."""
    return (eps / (s * s)).clamp_min(torch.finfo(s.dtype).tiny)


def moments_any_scale(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Per-channel mean and biased variance, right for finite inputs of any magnitude.

    :func:`batch_moments`, unless its result overflowed for a finite input;
    then :math:`\mu = s\,\mu_s` and :math:`\sigma^2 = s^2\sigma_s^2` from
    :func:`scaled_moments` (the variance is ``inf`` only when it exceeds the
    largest float of the dtype). TorchScript-compatible.
    """
    mean, var = batch_moments(x)
    if not math.isfinite(float(var.sum())) and bool(torch.isfinite(x).all()):
        _, s, mean_s, var_s = scaled_moments(x)
        return mean_s * s, var_s * s * s
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


def update_running(running_mean: torch.Tensor, running_var: torch.Tensor, mean: torch.Tensor,
                   var: torch.Tensor, count: int, factor: float) -> None:
    r"""In place: :math:`r \leftarrow (1-f)\,r + f\,s` for the mean and the unbiased variance.

    The stored variance is unbiased, :math:`\sigma^2 m/(m-1)`; ``factor`` is
    :math:`f` (``momentum``, or :math:`1/t` for a cumulative average; a 0-d
    tensor under ``torch.compile``, where :math:`t` is not read back to Python).
    """
    with torch.no_grad():
        unbiased = var * (count / max(count - 1, 1))                   # m/(m-1) correction
        if isinstance(factor, torch.Tensor):                            # 1/t under torch.compile
            running_mean.mul_(1 - factor).add_(mean.to(running_mean.dtype) * factor)
            running_var.mul_(1 - factor).add_(unbiased.to(running_var.dtype) * factor)
            return
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

    ``torch.compile(..., fullgraph=True)`` traces it without graph breaks
    and fuses its passes over memory into a few loops (chapter 5, "Making it
    fast"). A compiled graph cannot branch on a value, so there the rescue of
    statistics that overflow for a finite input (eager mode rescales the
    input by a power of two) is off, as in ``torch.nn``'s own kernel.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, training, momentum, eps):
        scale = None
        xs = x
        if training:
            count = values_per_channel(x)
            mean, var = batch_moments(x)                          # mu, sigma^2 (biased), (C,)
            # A compiled graph cannot branch on a value, so under torch.compile the rescue of
            # overflowing statistics is off (as in torch.nn's kernel): only eager mode checks.
            if not torch.compiler.is_compiling() and overflowed(var, x):   # finite input, overflowing statistics
                xs, scale, mean, var = scaled_moments(x)          # statistics of x / s
            if running_mean is not None:
                if scale is None:
                    update_running(running_mean, running_var, mean, var, count, momentum)
                else:                                             # mu = s mu_s, sigma^2 = s^2 sigma_s^2
                    update_running(running_mean, running_var, mean * scale, var * scale * scale,
                                   count, momentum)
        else:
            mean = running_mean.to(stat_dtype(x))
            var = running_var.to(stat_dtype(x))
            count = values_per_channel(x)
        if scale is None:
            invstd = torch.rsqrt(var + eps)                       # 1 / sqrt(sigma^2 + eps)
        else:
            invstd = torch.rsqrt(var + scaled_eps(eps, scale))    # 1 / sqrt(sigma_s^2 + eps / s^2)
        y = normalize(xs, mean, invstd, weight, bias)
        if y.dtype != x.dtype:
            y = y.to(x.dtype)
        need_x = training or (weight is not None and ctx.needs_input_grad[1])
        ctx.save_for_backward(x if need_x else None, mean, invstd, weight, scale)
        ctx.training = training
        ctx.count = count
        ctx.bias_dtype = None if bias is None else bias.dtype
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, mean, invstd, weight, scale = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        dx = dw = db = None
        if ctx.training:
            if scale is not None:                                 # y depends on x through x / s
                x = x.to(mean.dtype) / per_channel(scale, x)
            sum_g, sum_gxc = grad_sums(grad, x, mean)
            if need_x:
                dx = grad_input(grad, x, mean, invstd, weight, sum_g, sum_gxc, ctx.count)
                if scale is not None:                             # dL/dx = dL/d(x/s) / s
                    dx = (dx / per_channel(scale, dx)).to(grad.dtype)
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
    return batch_norm_unchecked(input, running_mean, running_var, weight, bias, bool(training),
                                float(momentum), float(eps))


def batch_norm_unchecked(input: torch.Tensor, running_mean: Optional[torch.Tensor],
                         running_var: Optional[torch.Tensor], weight: Optional[torch.Tensor],
                         bias: Optional[torch.Tensor], training: bool, factor: float, eps: float) -> torch.Tensor:
    """:func:`batch_norm` without its argument checks, for callers that made them already.

    The modules check their input's shape, dtype and device at every call and
    their hyperparameters when they are set, then come here. ``factor`` is
    the running-average factor (``momentum``, or ``1/t``).
    """
    if input.numel() == 0:
        # Nothing to normalise: keep the graph connected (zero gradients), leave the buffers alone.
        out = input
        if weight is not None:
            out = out * per_channel(weight, input)
        if bias is not None:
            out = out + per_channel(bias, input)
        return out.clone() if out is input else out.to(input.dtype)
    return BatchNormFunction.apply(input, weight, bias, running_mean, running_var, training, factor, eps)


# ----------------------------------------------------------------------------
# The same arithmetic in TorchScript (autograd differentiates it)
# ----------------------------------------------------------------------------
def shape_text(shape: List[int]) -> str:
    """``(8, 3, 4, 4)``: a shape as the eager messages print it (TorchScript-compatible)."""
    if len(shape) == 1:
        return "(" + str(shape[0]) + ",)"
    return "(" + ", ".join([str(d) for d in shape]) + ")"


def script_batch_norm(x: torch.Tensor, running_mean: Optional[torch.Tensor],
                      running_var: Optional[torch.Tensor], weight: Optional[torch.Tensor],
                      bias: Optional[torch.Tensor], use_batch: bool, update: bool, factor: float,
                      eps: float) -> torch.Tensor:
    r"""Batch norm in plain tensor operations: what a scripted module runs.

    ``torch.jit.script`` cannot compile an autograd Function, so the scripted
    modules compute the same formulas with tensor operations and let autograd
    differentiate them (more memory for the backward, the same numbers):
    :math:`y = \gamma (x - \mu) / \sqrt{\sigma^2 + \epsilon} + \beta`, the
    statistics of the batch when ``use_batch`` (and the running ones updated
    in place when ``update``), else the running ones. Finite inputs whose
    statistics overflow are handled as in :class:`BatchNormFunction`.
    """
    sd = x.dtype
    if sd == torch.float16 or sd == torch.bfloat16:
        sd = torch.float32
    xs = x if x.dtype == sd else x.to(sd)
    dims: List[int] = [0]
    for d in range(2, x.dim()):
        dims.append(d)
    shape: List[int] = [1, -1]
    for _ in range(2, x.dim()):
        shape.append(1)
    if x.numel() == 0:                       # empty in, empty out; the buffers are left alone
        out = xs
        if weight is not None:
            out = out * weight.view(shape)
        if bias is not None:
            out = out + bias.view(shape)
        return out.to(x.dtype)
    if use_batch:
        mean = xs.mean(dims)                                              # mu
        var = (xs - mean.view(shape)).square().mean(dims)                 # sigma^2 (biased)
        eps_t = torch.full_like(var, eps)
        scale = torch.ones_like(var)
        if not math.isfinite(float(var.detach().sum())) and bool(torch.isfinite(xs.detach()).all()):
            amax = xs.detach().abs().amax(dims)
            _, exponent = torch.frexp(amax)
            scale = torch.ldexp(torch.ones_like(amax), exponent - 1)      # s, a power of two
            xs = xs / scale.view(shape)                                   # exact
            mean = xs.mean(dims)
            var = (xs - mean.view(shape)).square().mean(dims)
            tiny = 1.1754943508222875e-38 if sd == torch.float32 else 2.2250738585072014e-308
            eps_t = (eps / (scale * scale)).clamp_min(tiny)
        if update and running_mean is not None and running_var is not None:
            with torch.no_grad():
                count = x.numel() // x.size(1)
                unbiased = var.detach() * scale * scale * (count / max(count - 1, 1))
                running_mean.mul_(1.0 - factor).add_((mean.detach() * scale).to(running_mean.dtype), alpha=factor)
                running_var.mul_(1.0 - factor).add_(unbiased.to(running_var.dtype), alpha=factor)
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: training=False needs running_mean and running_var; got None")
        mean = running_mean.to(sd)
        var = running_var.to(sd)
        eps_t = torch.full_like(var, eps)
    invstd = torch.rsqrt(var + eps_t)                                     # 1 / sqrt(sigma^2 + eps)
    a = invstd if weight is None else invstd * weight                    # gamma / sqrt(sigma^2 + eps)
    b = -mean * a                                                         # beta - mu a
    if bias is not None:
        b = b + bias
    return torch.addcmul(b.view(shape), xs, a.view(shape)).to(x.dtype)


def standardize_last(v: torch.Tensor, eps: float) -> torch.Tensor:
    r""":math:`(v - \mu) / \sqrt{\sigma^2 + \epsilon}` over the last axis of ``v`` (layer and group norm).

    Mean and biased variance per row, in float32 for float16/bfloat16 input;
    the result has the statistics' dtype (the caller casts it back). A finite
    row whose variance overflows is standardised as :math:`v / s` with
    :math:`s` a power of two (exact), :math:`\epsilon` as :math:`\epsilon / s^2`,
    which is the same function. TorchScript-compatible; autograd differentiates it.
    """
    sd = v.dtype
    if sd == torch.float16 or sd == torch.bfloat16:
        sd = torch.float32
    vs = v if v.dtype == sd else v.to(sd)
    mean = vs.mean(-1, keepdim=True)                                  # mu per row
    centred = vs - mean                                               # v - mu
    var = centred.square().mean(-1, keepdim=True)                     # sigma^2 (biased)
    if vs.numel() > 0 and not math.isfinite(float(var.detach().sum())) \
            and bool(torch.isfinite(vs.detach()).all()):
        amax = vs.detach().abs().amax(-1, keepdim=True)
        _, exponent = torch.frexp(amax)
        scale = torch.ldexp(torch.ones_like(amax), exponent - 1)      # s, a power of two per row
        vs = vs / scale                                               # exact
        mean = vs.mean(-1, keepdim=True)
        centred = vs - mean
        var = centred.square().mean(-1, keepdim=True)
        tiny = 1.1754943508222875e-38 if sd == torch.float32 else 2.2250738585072014e-308
        return centred * torch.rsqrt(var + (eps / (scale * scale)).clamp_min(tiny))
    return centred * torch.rsqrt(var + eps)                           # xhat
