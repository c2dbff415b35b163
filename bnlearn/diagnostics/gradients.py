"""Per-layer gradient norms: is the gradient vanishing or exploding with depth?"""
from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["gradient_norms", "weighted_layers"]


def weighted_layers(model: nn.Module) -> dict[str, nn.Module]:
    """The layers of ``model`` that hold a weight matrix or kernel.

    Parameters
    ----------
    model : torch.nn.Module

    Returns
    -------
    dict of str to torch.nn.Module
        ``qualified name -> module`` for every submodule whose ``weight`` is a
        parameter with at least two dimensions (linear and convolutional
        layers; normalisation layers, whose weight is a vector, are left out),
        in registration order, which is forward order for a ``Sequential``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    return {name: m for name, m in model.named_modules()
            if isinstance(getattr(m, "weight", None), nn.Parameter) and m.weight.dim() >= 2}


def gradient_norms(model: nn.Module, *, relative: bool = False) -> dict[str, float]:
    r"""The L2 norm of each weighted layer's weight gradient, after ``backward()``.

    For layer :math:`l` with weight :math:`W_l` and loss :math:`L`, this is
    :math:`\|\nabla_{W_l} L\|_2 = \sqrt{\sum_{ij} (\partial L / \partial W_{l,ij})^2}`,
    or, with ``relative=True``, :math:`\|\nabla_{W_l} L\|_2 / \|W_l\|_2`
    (the size of a gradient step relative to the weight it changes).

    Parameters
    ----------
    model : torch.nn.Module
        A model whose ``backward()`` has been run.
    relative : bool, default False
        Divide by the weight's norm.

    Returns
    -------
    dict of str to float
        ``layer name -> norm`` for the layers of :func:`weighted_layers`, in forward order.

    Raises
    ------
    ValueError
        If the model has no weighted layer, or a layer has no gradient yet.
    """
    if not isinstance(relative, bool):
        raise TypeError(f"relative must be True or False; got {relative!r}")
    layers = weighted_layers(model)
    if not layers:
        raise ValueError(f"{type(model).__name__} has no layer with a weight matrix or kernel")
    out = {}
    for name, m in layers.items():
        g = m.weight.grad
        if g is None:
            raise ValueError(f"layer {name!r} has no gradient; call loss.backward() first")
        norm = float(torch.linalg.vector_norm(g.double()))  # sqrt(sum_ij g_ij^2)
        if relative:
            w = float(torch.linalg.vector_norm(m.weight.detach().double()))
            norm = norm / w if w > 0 else math.inf
        out[name] = norm
    return out
