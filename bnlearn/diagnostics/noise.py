"""Noise that shifts a layer's input distribution on purpose (Santurkar et al., 2018).

Santurkar et al. test whether batch norm helps by keeping layer inputs stable:
they add noise with a non-zero mean and a non-unit variance after every batch
norm layer, redrawn at every step, so that the next layer sees a distribution
that moves all the time. :class:`CovariateNoise` is that noise, as a layer.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["CovariateNoise"]


def _range(name, value, low_ok=None):
    if (not isinstance(value, tuple | list) or len(value) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value) or value[0] > value[1]):
        raise ValueError(f"{name} must be a pair (low, high) of numbers with low <= high; got {value!r}")
    return float(value[0]), float(value[1])


class CovariateNoise(nn.Module):
    r"""Time-varying, non-zero-mean, non-unit-variance noise, in training mode only.

    At every forward pass in training mode, fresh per-unit values
    :math:`m_j \sim U(m_{lo}, m_{hi})` and :math:`s_j \sim U(s_{lo}, s_{hi})`
    are drawn and

    .. math:: y_{ij} = s_j\, x_{ij} + m_j + \sigma\, \epsilon_{ij},
              \qquad \epsilon_{ij} \sim \mathcal N(0, 1).

    An input ``(N, S, D)`` holds ``S`` independent networks side by side
    (:func:`bnlearn.experiments.noise.noisy_members`): then :math:`m` and :math:`s` are drawn for every
    member and unit, shape ``(S, D)``. In eval mode the layer is the
    identity. Draws use torch's global RNG.

    Parameters
    ----------
    num_features : int
        Units ``D``; input shape ``(N, D)`` or ``(N, S, D)``.
    mean_range : tuple of float, default (-1.0, 1.0)
        Range of the per-unit shift :math:`m_j`.
    scale_range : tuple of float, default (0.5, 1.5)
        Range of the per-unit scale :math:`s_j`.
    sample_std : float, default 0.1
        :math:`\sigma` of the per-sample noise.
    """

    def __init__(self, num_features: int, mean_range=(-1.0, 1.0), scale_range=(0.5, 1.5),
                 sample_std: float = 0.1):
        super().__init__()
        if isinstance(num_features, bool) or not isinstance(num_features, int) or num_features < 1:
            raise ValueError(f"num_features must be a positive int; got {num_features!r}")
        if isinstance(sample_std, bool) or not isinstance(sample_std, int | float) or sample_std < 0:
            raise ValueError(f"sample_std must be a number >= 0; got {sample_std!r}")
        self.num_features = num_features
        self.mean_range = _range("mean_range", mean_range)
        self.scale_range = _range("scale_range", scale_range)
        self.sample_std = float(sample_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the noise (training mode) or pass ``x`` through (eval mode)."""
        if x.dim() not in (2, 3) or x.shape[-1] != self.num_features:
            raise ValueError(f"CovariateNoise({self.num_features}) expects input of shape "
                             f"(N, {self.num_features}) or (N, S, {self.num_features}); got {tuple(x.shape)}")
        if not self.training:
            return x
        shape = tuple(x.shape[1:])                                     # (D,) or (S, D): one draw per unit
        m = torch.empty(shape, dtype=x.dtype, device=x.device).uniform_(*self.mean_range)   # m_j
        s = torch.empty(shape, dtype=x.dtype, device=x.device).uniform_(*self.scale_range)  # s_j
        # a contiguous draw: randn_like would copy the strides of a transposed input, a much slower path
        eps = torch.randn(x.shape, dtype=x.dtype, device=x.device)
        return s * x + m + self.sample_std * eps                       # s_j x_ij + m_j + sigma eps_ij

    def extra_repr(self) -> str:
        return (f"{self.num_features}, mean_range={self.mean_range}, scale_range={self.scale_range}, "
                f"sample_std={self.sample_std}")
