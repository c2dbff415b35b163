"""Noise that shifts a layer's input distribution on purpose (Santurkar et al., 2018).

To test whether batch norm helps by keeping layer inputs stable, Santurkar et
al. add noise with a non-zero mean and a non-unit variance *after* every batch
norm layer, redrawn at every step, so the next layer sees a distribution that
moves all the time. :class:`bnlearn.diagnostics.CovariateNoise` is that noise; :func:`noisy_mlp`
builds Ioffe and Szegedy's MLP (:func:`bnlearn.models.paper_mlp`) with it, and
:func:`noisy_members` builds many seeds of that MLP side by side, so that a
chapter can afford many seeds (see :mod:`bnlearn.ensemble`).
"""
from __future__ import annotations

import torch
from torch import nn

from .. import models
from ..diagnostics.noise import CovariateNoise
from ..ensemble import MemberNorm, ParallelLinear

__all__ = ["noisy_mlp", "noisy_members", "VARIANTS"]

#: Network variants of the noisy-BN experiment, as name -> (batch norm?, noise?).
VARIANTS = {"plain": (False, False), "bn": (True, False), "noisy-bn": (True, True), "noisy-plain": (False, True)}


def noisy_mlp(variant: str, *, seed: int | None = None, in_features: int = 64, **noise) -> nn.Sequential:
    """Ioffe and Szegedy's MLP in one of the four :data:`VARIANTS`.

    ``"plain"`` and ``"bn"`` are :func:`~bnlearn.models.paper_mlp` without and
    with batch norm. ``"noisy-bn"`` puts a :class:`~bnlearn.diagnostics.CovariateNoise` after every
    batch norm (between it and the sigmoid); ``"noisy-plain"`` puts it after
    every hidden linear layer of the plain network, the same place.

    Parameters
    ----------
    variant : str
        One of ``"plain"``, ``"bn"``, ``"noisy-bn"``, ``"noisy-plain"``.
    seed : int, optional
        Seed of the initial weights (the same seed gives the same weights
        with and without noise).
    in_features : int, default 64
        Pixels per image.
    **noise
        Passed to :class:`~bnlearn.diagnostics.CovariateNoise`.

    Returns
    -------
    torch.nn.Sequential
        With ``activation_indices`` marking the sigmoids.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {tuple(VARIANTS)}")
    batchnorm, noisy = VARIANTS[variant]
    base = models.paper_mlp(batchnorm, in_features=in_features, seed=seed)
    if not noisy:
        return base
    layers = list(base)
    out: list[nn.Module] = []
    for i, layer in enumerate(layers):
        out.append(layer)
        nxt = layers[i + 1] if i + 1 < len(layers) else None
        if isinstance(nxt, nn.Sigmoid):          # right before each nonlinearity
            out.append(CovariateNoise(_width(layer), **noise))
    model = nn.Sequential(*out)
    model.activation_indices = [i for i, m in enumerate(model) if isinstance(m, nn.Sigmoid)]
    return model


def noisy_members(variant: str, seeds, *, in_features: int = 64, **noise) -> nn.Sequential:
    """One network per seed of :func:`noisy_mlp`, evaluated side by side.

    Member ``s`` starts from exactly the weights of
    ``noisy_mlp(variant, seed=seeds[s])``. Each linear layer becomes a
    :class:`~bnlearn.ensemble.ParallelLinear` (``W_s`` stored transposed,
    ``(in, out)``), each batch norm a :class:`~bnlearn.ensemble.MemberNorm`
    (member ``s``'s statistics over its own batch), and the noise is drawn per
    member and unit. An input ``(B, S, F)`` carries one batch per member and
    gives ``(B, S, 10)`` logits; with the loss
    :math:`L = \\sum_s L_s`, one gradient step on :math:`L` is one step of
    every member on its own loss, so training the members together trains
    each as if alone (up to floating-point rounding and the noise draws,
    which come from one shared stream).

    Parameters
    ----------
    variant : str
        One of :data:`VARIANTS`.
    seeds : sequence of int
        One seed per member (``S >= 1`` of them), e.g. ``bnlearn.seed_range(0, 8)``.
    in_features : int, default 64
        Pixels per image; the input is ``(B, S, in_features)`` (already flat).
    **noise
        Passed to :class:`~bnlearn.diagnostics.CovariateNoise`.

    Returns
    -------
    torch.nn.Sequential
        With ``members`` (``S``), ``seeds`` and ``activation_indices`` (the sigmoids).
    """
    if isinstance(seeds, str) or not hasattr(seeds, "__len__") or len(seeds) == 0:
        raise ValueError(f"seeds must be a non-empty sequence of ints; got {seeds!r}")
    singles = [noisy_mlp(variant, seed=s, in_features=in_features, **noise) for s in seeds]
    n = len(singles)
    out: list[nn.Module] = []
    for i, layer in enumerate(singles[0]):
        if isinstance(layer, nn.Flatten):
            continue
        if isinstance(layer, nn.Linear):
            par = ParallelLinear(n, layer.in_features, layer.out_features, bias=layer.bias is not None)
            with torch.no_grad():
                par.weight.copy_(torch.stack([m[i].weight.T for m in singles]))       # (S, in, out)
                if par.bias is not None:
                    par.bias.copy_(torch.stack([m[i].bias for m in singles]))         # (S, out)
            out.append(par)
        elif hasattr(layer, "running_mean"):                             # paper_mlp's BatchNorm1d
            norm = MemberNorm(n, layer.num_features, momentum=layer.momentum)
            with torch.no_grad():
                norm.bn.weight.copy_(torch.cat([m[i].weight for m in singles]))       # member-major (S D,)
                norm.bn.bias.copy_(torch.cat([m[i].bias for m in singles]))
            out.append(norm)
        elif isinstance(layer, CovariateNoise):
            out.append(CovariateNoise(layer.num_features, layer.mean_range, layer.scale_range, layer.sample_std))
        elif isinstance(layer, nn.Sigmoid):
            out.append(nn.Sigmoid())
        else:                                                          # pragma: no cover - paper_mlp has no other layer
            raise TypeError(f"noisy_members cannot stack a {type(layer).__name__}")
    model = nn.Sequential(*out)
    model.members, model.seeds = n, [int(s) for s in seeds]
    model.activation_indices = [i for i, m in enumerate(model) if isinstance(m, nn.Sigmoid)]
    return model


def _width(layer: nn.Module) -> int:
    """Output width of a linear or batch-norm layer."""
    if isinstance(layer, nn.Linear):
        return layer.out_features
    return layer.num_features
