r"""Batch renormalisation (Ioffe, 2017): batch norm that also uses the running statistics in training.

In training, with batch statistics :math:`\mu_B, \sigma_B = \sqrt{\sigma_B^2+\epsilon}`
and running ones :math:`\mu, \sigma = \sqrt{\mathrm{running\_var}+\epsilon}`:

.. math::

    r = \mathrm{clip}_{[1/r_{\max},\, r_{\max}]}\Big(\frac{\sigma_B}{\sigma}\Big), \qquad
    d = \mathrm{clip}_{[-d_{\max},\, d_{\max}]}\Big(\frac{\mu_B - \mu}{\sigma}\Big), \qquad
    y = \gamma\Big(\frac{x - \mu_B}{\sigma_B}\, r + d\Big) + \beta ,

where :math:`r` and :math:`d` are treated as constants by backprop. Since
:math:`y = (\gamma r)\hat x + (\gamma d + \beta)`, the layer *is* batch norm with
weight :math:`\gamma r` and bias :math:`\gamma d + \beta` (``r``, ``d``
detached), so it reuses :class:`~bnlearn.nn.BatchNormFunction`.
With :math:`r_{\max} = 1, d_{\max} = 0` it equals batch norm; in eval mode it
normalises with the running statistics, exactly like batch norm.

The running statistics follow PyTorch's convention (exponential average of the
mean and the *unbiased variance*), where the paper averages :math:`\sigma`; the
two agree to first order in the momentum.

``torch.jit.script`` compiles both modules. ``eps``, ``momentum``, ``rmax``,
``dmax``, ``warmup_steps`` and ``ramp_steps`` are checked when they are set.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch

from .. import _validation as _v
from ._checks import check_param_dtype, check_values_per_channel
from .batchnorm import _BatchNorm
from .functional import batch_norm_unchecked, moments_any_scale, script_batch_norm, shape_text

__all__ = ["BatchRenorm1d", "BatchRenorm2d"]


def _check_limit(owner, name, value, low, low_text):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{owner}: {name} must be a float {low_text}; got {_v.describe(value)} "
                        f"of type {type(value).__name__}")
    return _v.check_real(value, name, owner, low=low, what=f"a finite float {low_text}")


def _check_steps(owner, name, value):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{owner}: {name} must be an int >= 0; got {_v.describe(value)} of type {type(value).__name__}")
    return _v.check_int(value, name, owner, low=0, what="an int >= 0")


class _BatchRenorm(_BatchNorm):
    r"""Base class of :class:`BatchRenorm1d` and :class:`BatchRenorm2d`.

    Parameters
    ----------
    num_features : int
        :math:`C`.
    eps : float, default 1e-5
        Added to the variances; > 0.
    momentum : float or None, default 0.1
        Running-average factor in [0, 1] (``None``: cumulative average).
    affine : bool, default True
        Learn ``weight`` and ``bias`` of shape ``(C,)``.
    track_running_stats : bool, default True
        Must be true: batch renorm needs running statistics.
    device : torch.device or None
        Device of parameters and buffers.
    dtype : torch.dtype or None
        Floating dtype of parameters and buffers.
    bias : bool, default True
        Keyword-only; ``False`` learns no shift.
    rmax : float, default 3.0
        Final clip :math:`r_{\max} \ge 1` for :math:`r`.
    dmax : float, default 5.0
        Final clip :math:`d_{\max} \ge 0` for :math:`d`.
    warmup_steps : int, default 0
        Training steps with :math:`r_{\max}=1, d_{\max}=0` (plain batch norm) first.
    ramp_steps : int, default 0
        Steps after the warm-up over which the limits grow linearly to
        ``rmax`` and ``dmax``. The paper used 5,000 warm-up steps, then reached
        :math:`r_{\max}=3` after 40,000 and :math:`d_{\max}=5` after 25,000 more.
    """

    __constants__ = _BatchNorm.__constants__ + ["rmax", "dmax", "warmup_steps", "ramp_steps"]
    __jit_unused_properties__ = _BatchNorm.__jit_unused_properties__ + ["rmax", "dmax", "warmup_steps",
                                                                        "ramp_steps"]

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: Optional[float] = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device=None, dtype=None,
                 *, bias: bool = True, rmax: float = 3.0, dmax: float = 5.0,
                 warmup_steps: int = 0, ramp_steps: int = 0) -> None:
        owner = f"{type(self).__name__}({num_features})"
        _check_limit(owner, "rmax", rmax, 1.0, ">= 1")
        _check_limit(owner, "dmax", dmax, 0.0, ">= 0")
        _check_steps(owner, "warmup_steps", warmup_steps)
        _check_steps(owner, "ramp_steps", ramp_steps)
        if not track_running_stats:
            raise ValueError(f"{owner}: batch renormalisation needs running statistics; got track_running_stats=False")
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias)
        self.rmax = rmax
        self.dmax = dmax
        self.warmup_steps = warmup_steps
        self.ramp_steps = ramp_steps

    @property
    def rmax(self) -> float:
        r"""Final clip :math:`r_{\max} \ge 1` (a float, checked when set)."""
        return self._rmax

    @rmax.setter
    def rmax(self, value) -> None:
        self._rmax = _check_limit(self._describe(), "rmax", value, 1.0, ">= 1")

    @property
    def dmax(self) -> float:
        r"""Final clip :math:`d_{\max} \ge 0` (a float, checked when set)."""
        return self._dmax

    @dmax.setter
    def dmax(self, value) -> None:
        self._dmax = _check_limit(self._describe(), "dmax", value, 0.0, ">= 0")

    @property
    def warmup_steps(self) -> int:
        """Steps of plain batch norm first (an int >= 0, checked when set)."""
        return self._warmup_steps

    @warmup_steps.setter
    def warmup_steps(self, value) -> None:
        self._warmup_steps = _check_steps(self._describe(), "warmup_steps", value)

    @property
    def ramp_steps(self) -> int:
        """Steps over which the clips grow to ``rmax``, ``dmax`` (an int >= 0, checked when set)."""
        return self._ramp_steps

    @ramp_steps.setter
    def ramp_steps(self, value) -> None:
        self._ramp_steps = _check_steps(self._describe(), "ramp_steps", value)

    def __setstate__(self, state) -> None:
        for key in ("rmax", "dmax", "warmup_steps", "ramp_steps"):   # pickled before they were properties
            if key in state:
                state["_" + key] = state.pop(key)
        super().__setstate__(state)

    def extra_repr(self) -> str:
        """The batch-norm arguments plus ``rmax``, ``dmax`` and the schedule."""
        return (super().extra_repr() + f", rmax={self.rmax}, dmax={self.dmax}, "
                f"warmup_steps={self.warmup_steps}, ramp_steps={self.ramp_steps}")

    def limits(self, step: Optional[int] = None) -> tuple[float, float]:
        r"""The clips :math:`(r_{\max}, d_{\max})` in force at training step ``step``.

        ``step`` defaults to ``num_batches_tracked``. ``(1, 0)`` during the warm-up,
        then a linear ramp over ``ramp_steps`` to ``(rmax, dmax)``.
        """
        t = int(self.num_batches_tracked) if step is None else step
        return _limits_at(t, self.warmup_steps, self.ramp_steps, self.rmax, self.dmax)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """Batch renormalisation in training, batch norm with running statistics in eval."""
        if torch.jit.is_scripting():
            return self._renorm_forward_script(input)
        else:
            if not self.training:
                return super().forward(input)
            self._check_input_dim(input)
            check_param_dtype(self._describe(), input,
                              (self.weight, self.bias, self.running_mean, self.running_var))
            check_values_per_channel(input)
            factor = self._update_factor()
            rmax, dmax = self.limits()
            if input.numel() == 0:
                return batch_norm_unchecked(input, self.running_mean, self.running_var, self.weight,
                                            self.bias, True, float(factor), float(self.eps))
            weight, bias = _renorm_affine(input, self.running_mean, self.running_var, self.weight, self.bias,
                                          rmax, dmax, float(self.eps))
            return batch_norm_unchecked(input, self.running_mean, self.running_var, weight, bias, True,
                                        float(factor), float(self.eps))

    def _renorm_forward_script(self, input: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return self._forward_script(input)
        self._check_input_script(input)
        if input.numel() > 0 and input.numel() == input.size(1):
            raise ValueError("Expected more than 1 value per channel when training, got input size "
                             + shape_text(input.shape))
        factor = self._factor_script()
        running_mean = self.running_mean
        running_var = self.running_var
        nbt = self.num_batches_tracked
        if running_mean is None or running_var is None or nbt is None:
            raise ValueError(self._owner + ": batch renormalisation needs running statistics")
        rmax, dmax = _limits_at(int(nbt.item()), self.warmup_steps, self.ramp_steps, self.rmax, self.dmax)
        if input.numel() == 0:
            return script_batch_norm(input, running_mean, running_var, self.weight, self.bias, True, True,
                                     factor, self.eps)
        weight, bias = _renorm_affine(input, running_mean, running_var, self.weight, self.bias, rmax, dmax,
                                      self.eps)
        return script_batch_norm(input, running_mean, running_var, weight, bias, True, True, factor, self.eps)


def _limits_at(t: int, warmup_steps: int, ramp_steps: int, rmax: float, dmax: float) -> Tuple[float, float]:
    """``(r_max, d_max)`` at step ``t``: ``(1, 0)`` in the warm-up, then a linear ramp."""
    if t <= warmup_steps:
        frac = 0.0 if warmup_steps > 0 or ramp_steps > 0 else 1.0
    elif ramp_steps == 0:
        frac = 1.0
    else:
        frac = min(1.0, (t - warmup_steps) / ramp_steps)
    return 1.0 + frac * (rmax - 1.0), frac * dmax


def _renorm_affine(input: torch.Tensor, running_mean: torch.Tensor, running_var: torch.Tensor,
                   weight: Optional[torch.Tensor], bias: Optional[torch.Tensor], rmax: float, dmax: float,
                   eps: float) -> Tuple[torch.Tensor, torch.Tensor]:
    r"""The weight :math:`\gamma r` and bias :math:`\gamma d + \beta` that make batch norm batch renorm.

    :math:`r` and :math:`d` are computed without gradient (constants for backprop).
    """
    with torch.no_grad():
        mean_b, var_b = moments_any_scale(input.detach())                       # mu_B, sigma_B^2
        sd = var_b.dtype
        sigma_b = torch.sqrt(var_b + eps)                                       # sigma_B
        sigma = torch.sqrt(running_var.to(sd) + eps)                            # sigma (running)
        r = (sigma_b / sigma).clamp(1.0 / rmax, rmax)                           # r, a constant
        d = ((mean_b - running_mean.to(sd)) / sigma).clamp(-dmax, dmax)         # d, a constant
    pdtype = running_mean.dtype
    r, d = r.to(pdtype), d.to(pdtype)
    new_weight = r if weight is None else weight * r                           # gamma r
    new_bias = d if weight is None else weight * d                             # gamma d
    if bias is not None:
        new_bias = new_bias + bias                                              # + beta
    return new_weight, new_bias


class BatchRenorm1d(_BatchRenorm):
    r"""Batch renormalisation over ``(N, C)`` or ``(N, C, L)`` inputs.

    .. math::

        y = \gamma\Big(\frac{x - \mu_B}{\sigma_B} r + d\Big) + \beta

    Parameters and modes as in :class:`BatchRenorm2d`.
    """

    _spatial_dims = (0, 1)


class BatchRenorm2d(_BatchRenorm):
    r"""Batch renormalisation over ``(N, C, H, W)`` inputs (Ioffe, 2017).

    .. math::

        y = \gamma\Big(\frac{x - \mu_B}{\sigma_B} r + d\Big) + \beta, \qquad
        r = \mathrm{clip}\Big(\frac{\sigma_B}{\sigma}\Big), \quad
        d = \mathrm{clip}\Big(\frac{\mu_B - \mu}{\sigma}\Big)

    Parameters
    ----------
    num_features : int
        :math:`C`.
    eps, momentum, affine, track_running_stats, device, dtype, bias
        As in :class:`~bnlearn.nn.BatchNorm2d` (``track_running_stats`` must be true).
    rmax, dmax, warmup_steps, ramp_steps
        The clips and their schedule; see ``limits()``.
    """

    _spatial_dims = (2,)
