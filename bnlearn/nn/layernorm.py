r"""Layer normalisation (Ba et al., 2016): statistics per example, not per batch.

Drop-in for ``torch.nn.LayerNorm``. For an input whose trailing axes have the
shape ``normalized_shape`` (:math:`D` values in all), each example is normalised
over those :math:`D` values:

.. math::

    \mu = \frac1D \sum_j x_j, \qquad
    \sigma^2 = \frac1D \sum_j (x_j - \mu)^2, \qquad
    y_j = \gamma_j \frac{x_j - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta_j .

No running statistics: train and eval modes compute the same thing, and the
batch size does not matter. Autograd differentiates the arithmetic below,
which ``torch.jit.script`` also compiles. ``eps`` is checked when it is set.
"""
from __future__ import annotations

import math
from typing import Sequence, Tuple, Union

import torch

from .._validation import INT64_MAX
from ._checks import check_eps, check_floating, check_param_dtype
from ._affine import AffineNorm, check_factory_dtype, make_affine
from .functional import shape_text, standardize_last

__all__ = ["LayerNorm"]


class LayerNorm(AffineNorm):
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
    Input ``(*, *normalized_shape)``; output of the same shape. A finite input
    whose variance overflows (in float32, a spread above about 1.8e19) is
    normalised exactly as its rescaled copy ``x / s`` (``s`` a power of two),
    where ``torch.nn.LayerNorm`` returns NaN. ``torch.jit.script`` compiles it.
    """

    __constants__ = ["normalized_shape", "eps", "elementwise_affine"]
    normalized_shape: Tuple[int, ...]

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
            isinstance(d, int) and not isinstance(d, bool) and 0 < d <= INT64_MAX for d in normalized_shape
        ) or len(normalized_shape) == 0 or math.prod(normalized_shape) > INT64_MAX:
            raise ValueError(
                f"LayerNorm: normalized_shape must be a positive int or a non-empty sequence of "
                f"positive ints (with a product of at most 2**63 - 1); got {normalized_shape!r}"
            )
        owner = f"LayerNorm({tuple(normalized_shape)})"
        check_eps(owner, eps)
        check_factory_dtype(owner, dtype)
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.normalized_shape = tuple(normalized_shape)
        self._owner = f"LayerNorm({self.normalized_shape})"
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        make_affine(self, self.normalized_shape, elementwise_affine, bias, factory)
        self.reset_parameters()

    def extra_repr(self) -> str:
        """Formatted like ``torch.nn.LayerNorm``'s repr."""
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """Normalise each example over its trailing ``normalized_shape`` axes."""
        k = len(self.normalized_shape)
        if torch.jit.is_scripting():
            if not input.is_floating_point():
                raise TypeError(self._owner + " expects a floating-point input; got a tensor of another dtype")
            ok = input.dim() >= k
            if ok:
                for i in range(k):
                    if input.size(input.dim() - k + i) != self.normalized_shape[i]:
                        ok = False
            if not ok:
                raise ValueError(self._owner + " expects input of shape (*, "
                                 + ", ".join([str(d) for d in self.normalized_shape]) + "); got "
                                 + shape_text(input.shape))
        else:
            owner = self._owner
            check_floating(owner, input)
            if input.dim() < k or tuple(input.shape[input.dim() - k:]) != self.normalized_shape:
                raise ValueError(
                    f"{owner} expects input of shape (*, {', '.join(map(str, self.normalized_shape))}); "
                    f"got {tuple(input.shape)}"
                )
            check_param_dtype(owner, input, (self.weight, self.bias))
        rows = input.flatten(input.dim() - k) if k > 1 else input       # (*, D), D = prod(normalized_shape)
        y = standardize_last(rows, self.eps).reshape(input.shape)       # xhat
        if self.weight is not None:
            y = y * self.weight                                          # gamma xhat
        if self.bias is not None:
            y = y + self.bias                                            # + beta
        return y.to(input.dtype)
