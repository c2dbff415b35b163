r"""Layer normalisation (Ba et al., 2016): statistics per example, not per batch.

Drop-in for ``torch.nn.LayerNorm``. For an input whose trailing axes have the
shape ``normalized_shape`` (:math:`D` values in all), each example is normalised
over those :math:`D` values:

.. math::

    \mu = \frac1D \sum_j x_j, \qquad
    \sigma^2 = \frac1D \sum_j (x_j - \mu)^2, \qquad
    y_j = \gamma_j \frac{x_j - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta_j .

No running statistics: train and eval modes compute the same thing, and the
batch size does not matter. Autograd differentiates the arithmetic below.
"""
from __future__ import annotations

from typing import Sequence, Union

import torch
from torch import nn

from ._checks import check_eps, check_floating, check_param_dtype
from .batchnorm import _check_factory_dtype, _make_affine, _reset_affine

__all__ = ["LayerNorm"]


class LayerNorm(nn.Module):
    r"""Layer normalisation over the trailing ``normalized_shape`` axes.

    .. math::

        y = \gamma \odot \frac{x - \mathrm{E}[x]}{\sqrt{\mathrm{Var}[x] + \epsilon}} + \beta

    with mean and biased variance over the last ``len(normalized_shape)`` axes of
    each example.

    Parameters
    ----------
    normalized_shape : int or sequence of int
        The shape of the trailing axes to normalise over; an ``int`` means ``(int,)``.
    eps : float, default 1e-5
        Added to the variance; must be > 0.
    elementwise_affine : bool, default True
        Learn ``weight`` (init 1) and ``bias`` (init 0) of shape ``normalized_shape``.
    bias : bool, default True
        With ``elementwise_affine``, ``False`` learns no shift.
    device : torch.device or None
        Device of the parameters.
    dtype : torch.dtype or None
        Floating dtype of the parameters.

    Notes
    -----
    Input ``(*, *normalized_shape)``; output of the same shape.
    """

    def __init__(
        self,
        normalized_shape: Union[int, Sequence[int], torch.Size],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        device=None,
        dtype=None,
    ) -> None:
        if isinstance(normalized_shape, int) and not isinstance(normalized_shape, bool):
            normalized_shape = (normalized_shape,)
        if not isinstance(normalized_shape, (tuple, list, torch.Size)) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in normalized_shape
        ) or len(normalized_shape) == 0:
            raise ValueError(
                f"LayerNorm: normalized_shape must be a positive int or a non-empty sequence of "
                f"positive ints; got {normalized_shape!r}"
            )
        owner = f"LayerNorm({tuple(normalized_shape)})"
        check_eps(owner, eps)
        _check_factory_dtype(owner, dtype)
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        _make_affine(self, self.normalized_shape, elementwise_affine, bias, factory)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Set ``weight`` to 1 and ``bias`` to 0."""
        _reset_affine(self)

    def extra_repr(self) -> str:
        """Formatted like ``torch.nn.LayerNorm``'s repr."""
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """Normalise each example over its trailing ``normalized_shape`` axes."""
        owner = f"LayerNorm({self.normalized_shape})"
        check_floating(owner, input)
        k = len(self.normalized_shape)
        if input.dim() < k or tuple(input.shape[input.dim() - k:]) != self.normalized_shape:
            raise ValueError(
                f"{owner} expects input of shape (*, {', '.join(map(str, self.normalized_shape))}); "
                f"got {tuple(input.shape)}"
            )
        check_param_dtype(owner, input, (self.weight, self.bias))
        dims = tuple(range(input.dim() - k, input.dim()))
        xs = input.float() if input.dtype in (torch.float16, torch.bfloat16) else input
        mean = xs.mean(dims, keepdim=True)                            # mu per example
        xc = xs - mean                                                # x - mu
        var = xc.square().mean(dims, keepdim=True)                    # sigma^2 (biased)
        y = xc * torch.rsqrt(var + self.eps)                          # xhat
        if self.weight is not None:
            y = y * self.weight                                       # gamma xhat
        if self.bias is not None:
            y = y + self.bias                                         # + beta
        return y.to(input.dtype)
