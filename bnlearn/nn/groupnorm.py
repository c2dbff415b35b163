r"""Group normalisation (Wu and He, 2018): statistics per example and group of channels.

Drop-in for ``torch.nn.GroupNorm``. The :math:`C` channels are split into
:math:`G` groups of :math:`C/G` consecutive channels; each example's group is
normalised over its channels and spatial positions, then a per-channel affine
map is applied:

.. math::

    \hat x_{n,c,s} = \frac{x_{n,c,s} - \mu_{n,g(c)}}{\sqrt{\sigma^2_{n,g(c)} + \epsilon}}, \qquad
    y_{n,c,s} = \gamma_c \hat x_{n,c,s} + \beta_c .

``G = 1`` normalises over all channels like layer norm on ``(C, *spatial)``;
``G = C`` is instance normalisation. No running statistics, no dependence on
the batch size. Autograd differentiates the arithmetic below.
"""
from __future__ import annotations

import torch
from torch import nn

from ._checks import check_eps, check_floating, check_num_features, check_param_dtype
from .batchnorm import _check_factory_dtype, _make_affine, _reset_affine

__all__ = ["GroupNorm"]


class GroupNorm(nn.Module):
    r"""Group normalisation over ``(N, C, *spatial)`` inputs.

    .. math::

        y = \gamma \frac{x - \mathrm{E}_{\mathrm{group}}[x]}{\sqrt{\mathrm{Var}_{\mathrm{group}}[x] + \epsilon}} + \beta

    Parameters
    ----------
    num_groups : int
        :math:`G`; must divide ``num_channels``.
    num_channels : int
        :math:`C`, ``input.shape[1]``.
    eps : float, default 1e-5
        Added to the variance; must be > 0.
    affine : bool, default True
        Learn per-channel ``weight`` (init 1) and ``bias`` (init 0), shape ``(C,)``.
    device : torch.device or None
        Device of the parameters.
    dtype : torch.dtype or None
        Floating dtype of the parameters.
    bias : bool, default True
        Keyword-only; with ``affine``, ``False`` learns no shift.
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 device=None, dtype=None, *, bias: bool = True) -> None:
        check_num_features("GroupNorm", "num_groups", num_groups)
        check_num_features("GroupNorm", "num_channels", num_channels)
        if num_channels % num_groups != 0:
            raise ValueError(
                f"GroupNorm: num_groups must divide num_channels; got num_groups={num_groups}, "
                f"num_channels={num_channels}"
            )
        owner = f"GroupNorm({num_groups}, {num_channels})"
        check_eps(owner, eps)
        _check_factory_dtype(owner, dtype)
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        _make_affine(self, num_channels, affine, bias, factory)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Set ``weight`` to 1 and ``bias`` to 0."""
        _reset_affine(self)

    def extra_repr(self) -> str:
        """Formatted like ``torch.nn.GroupNorm``'s repr."""
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """Normalise each example's channel groups; output has the input's shape."""
        owner = f"GroupNorm({self.num_groups}, {self.num_channels})"
        check_floating(owner, input)
        if input.dim() < 2 or input.shape[1] != self.num_channels:
            raise ValueError(
                f"{owner} expects input of shape (N, {self.num_channels}, *spatial); got {tuple(input.shape)}"
            )
        check_param_dtype(owner, input, (self.weight, self.bias))
        n = input.shape[0]
        xs = input.float() if input.dtype in (torch.float16, torch.bfloat16) else input
        per_group = input[0].numel() // self.num_groups if n else 0
        xg = xs.reshape(n, self.num_groups, per_group)                 # (N, G, C/G * spatial)
        mean = xg.mean(-1, keepdim=True)                               # mu per (example, group)
        xc = xg - mean
        var = xc.square().mean(-1, keepdim=True)                       # sigma^2 (biased)
        y = (xc * torch.rsqrt(var + self.eps)).reshape(input.shape)    # xhat, back to (N, C, *)
        shape = [1, -1] + [1] * (input.dim() - 2)
        if self.weight is not None:
            y = y * self.weight.view(shape)                            # gamma_c xhat
        if self.bias is not None:
            y = y + self.bias.view(shape)                              # + beta_c
        return y.to(input.dtype)
