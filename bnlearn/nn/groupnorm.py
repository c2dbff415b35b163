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
the batch size. Autograd differentiates the arithmetic below, which
``torch.jit.script`` also compiles. ``eps`` is checked when it is set.
"""
from __future__ import annotations

import torch

from ._checks import check_eps, check_floating, check_num_features, check_param_dtype
from ._affine import AffineNorm, check_factory_dtype, make_affine
from .functional import shape_text, standardize_last

__all__ = ["GroupNorm"]


class GroupNorm(AffineNorm):
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

    Notes
    -----
    A finite input whose group variance overflows (in float32, a spread above
    about 1.8e19) is normalised exactly as its rescaled copy ``x / s`` (``s``
    a power of two), where ``torch.nn.GroupNorm`` returns NaN.
    ``torch.jit.script`` compiles it.
    """

    __constants__ = ["num_groups", "num_channels", "eps", "affine"]

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
        check_factory_dtype(owner, dtype)
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.num_groups = num_groups
        self.num_channels = num_channels
        self._owner = owner
        self.eps = eps
        self.affine = affine
        make_affine(self, num_channels, affine, bias, factory)
        self.reset_parameters()

    def extra_repr(self) -> str:
        """Formatted like ``torch.nn.GroupNorm``'s repr."""
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """Normalise each example's channel groups; output has the input's shape."""
        if torch.jit.is_scripting():
            if not input.is_floating_point():
                raise TypeError(self._owner + " expects a floating-point input; got a tensor of another dtype")
            if input.dim() < 2 or input.size(1) != self.num_channels:
                raise ValueError(self._owner + " expects input of shape (N, " + str(self.num_channels)
                                 + ", *spatial); got " + shape_text(input.shape))
        else:
            owner = self._owner
            check_floating(owner, input)
            if input.dim() < 2 or input.shape[1] != self.num_channels:
                raise ValueError(
                    f"{owner} expects input of shape (N, {self.num_channels}, *spatial); got {tuple(input.shape)}"
                )
            check_param_dtype(owner, input, (self.weight, self.bias))
        n = input.size(0)
        per_group = input.numel() // (n * self.num_groups) if n > 0 else 0
        xg = input.reshape(n, self.num_groups, per_group)              # (N, G, C/G * spatial)
        y = standardize_last(xg, self.eps).reshape(input.shape)        # xhat, back to (N, C, *)
        shape = [1, -1]
        for _ in range(2, input.dim()):
            shape.append(1)
        if self.weight is not None:
            y = y * self.weight.view(shape)                            # gamma_c xhat
        if self.bias is not None:
            y = y + self.bias.view(shape)                              # + beta_c
        return y.to(input.dtype)
