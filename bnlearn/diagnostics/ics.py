"""Santurkar et al.'s gradient-based measure of internal covariate shift.

Santurkar, Tsipras, Ilyas and Madry (2018) measure internal covariate shift
(ICS) not through the distribution of a layer's inputs but through what the
layer is asked to learn: its gradient. For layer :math:`i` with weight
:math:`W_i`, at parameters :math:`(W_1, \\dots, W_k)` and on one batch
:math:`(x, y)`,

.. math::

    G_i = \\nabla_{W_i} L(W_1, \\dots, W_k; x, y), \\qquad
    G_i' = \\nabla_{W_i} L(W_1', \\dots, W_{i-1}', W_i, \\dots, W_k; x, y),

where :math:`W_j' = W_j - \\eta \\nabla_{W_j} L` are the earlier layers after
their (simultaneous) gradient step. The shift is :math:`\\|G_i - G_i'\\|_2`;
:math:`\\cos(G_i, G_i')` says how much the direction changed. If batch norm
worked by removing ICS, these would be small and close to 1 with BN.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ._common import check_closure, check_positive, check_seed, flat_norm, gradients, preserved
from .gradients import weighted_layers

__all__ = ["GradientICS", "gradient_ics"]


@dataclass
class GradientICS:
    """Gradient-based internal covariate shift of a model's layers at one step.

    Attributes
    ----------
    layers : list of str
        The measured layers, in forward order (``L`` of them).
    l2 : numpy.ndarray
        Shape ``(L,)``: :math:`\\|G_i - G_i'\\|_2`.
    cosine : numpy.ndarray
        Shape ``(L,)``: :math:`\\langle G_i, G_i'\\rangle / (\\|G_i\\| \\|G_i'\\|)`
        (NaN when a gradient is zero).
    grad_norm : numpy.ndarray
        Shape ``(L,)``: :math:`\\|G_i\\|_2`.
    """

    layers: list
    l2: np.ndarray
    cosine: np.ndarray
    grad_norm: np.ndarray

    @property
    def relative(self) -> np.ndarray:
        """Shape ``(L,)``: :math:`\\|G_i - G_i'\\| / \\|G_i\\|`, the shift relative to the gradient's size."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.l2 / self.grad_norm

    def to_dict(self) -> dict:
        """Plain Python types (JSON-serialisable)."""
        return {"layers": list(self.layers), "l2": self.l2.tolist(), "cosine": self.cosine.tolist(),
                "grad_norm": self.grad_norm.tolist(), "relative": self.relative.tolist()}


def gradient_ics(model: nn.Module, closure: Callable[[], torch.Tensor], lr: float, *,
                 layers: Mapping[str, nn.Module] | None = None, seed: int | None = 0) -> GradientICS:
    """Measure Santurkar et al.'s gradient-based ICS of each layer (formula in the module docstring).

    "Earlier layers" are all trainable parameters registered before the
    layer's ``weight`` in ``model.parameters()`` (forward order for a
    ``Sequential``): the weights and biases of earlier linear layers and the
    scales and shifts of earlier normalisation layers. They take the plain
    gradient step :math:`W_j' = W_j - \\eta \\nabla_{W_j} L`. The model's
    parameters and buffers (running statistics) are restored afterwards, and
    ``.grad`` fields are not touched.

    Parameters
    ----------
    model : torch.nn.Module
        The network, in the mode to measure (training mode for batch norm's
        batch statistics).
    closure : callable
        ``closure() -> scalar loss tensor`` on a fixed batch, computed with the
        model's current parameters.
    lr : float
        Step size :math:`\\eta` of the earlier layers' update.
    layers : mapping of str to torch.nn.Module, optional
        ``name -> layer`` to measure; each must have a ``weight`` parameter of
        ``model``. Default: :func:`~bnlearn.diagnostics.weighted_layers` of the model.
    seed : int or None, default 0
        Seed torch's RNG before every call of the closure, so injected noise
        or dropout is the same in :math:`G` and :math:`G'`; None leaves the RNG alone.

    Returns
    -------
    GradientICS
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    check_closure(closure)
    lr = check_positive("lr", lr)
    seed = check_seed(seed)
    if layers is None:
        layers = weighted_layers(model)
    if not isinstance(layers, Mapping) or not layers:
        raise ValueError(f"layers must be a non-empty mapping name -> module; got {layers!r}")
    params = [p for p in model.parameters() if p.requires_grad]
    position = {id(p): k for k, p in enumerate(params)}
    index = {}
    for name, layer in layers.items():
        w = getattr(layer, "weight", None)
        if not isinstance(w, torch.Tensor) or id(w) not in position:
            raise ValueError(f"layer {name!r} ({type(layer).__name__}) has no trainable weight among the model's parameters")
        index[name] = position[id(w)]
    l2, cos, gnorm = [], [], []
    with preserved(params, [model]):
        _, g_all = gradients(closure, params, seed)                      # G for every parameter
        for name, k in index.items():
            with preserved(params[:k]):
                with torch.no_grad():
                    for p, g in zip(params[:k], g_all[:k]):
                        p.sub_(lr * g)                                   # W_j' = W_j - lr * grad_j, j < i
                _, (g_new,) = gradients(closure, [params[k]], seed)     # G_i'
            g_old = g_all[k]
            l2.append(flat_norm([g_old - g_new]))                        # ||G_i - G_i'||
            n_old, n_new = flat_norm([g_old]), flat_norm([g_new])
            dot = float((g_old.double() * g_new.double()).sum())
            cos.append(dot / (n_old * n_new) if n_old > 0 and n_new > 0 else float("nan"))
            gnorm.append(n_old)
    return GradientICS(list(index), np.array(l2), np.array(cos), np.array(gnorm))
