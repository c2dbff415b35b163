"""The learnable per-channel scale and shift shared by the batch, layer and group norms (private)."""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["check_factory_dtype", "make_affine", "reset_affine"]


def check_factory_dtype(owner: str, dtype) -> None:
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise TypeError(f"{owner}: dtype must be a floating-point torch.dtype or None; got {dtype!r}")


def make_affine(module: nn.Module, shape, affine: bool, bias: bool, factory: dict) -> None:
    """Register ``weight`` (and ``bias`` unless ``bias=False``) of ``shape``, or ``None``s.

    Shared by the batch, layer and group norms: with ``affine=False`` both are
    registered as ``None``, as torch.nn does, so ``state_dict`` keys match.
    """
    if affine:
        module.weight = nn.Parameter(torch.empty(shape, **factory))
        if bias:
            module.bias = nn.Parameter(torch.empty(shape, **factory))
        else:
            module.register_parameter("bias", None)
    else:
        module.register_parameter("weight", None)
        module.register_parameter("bias", None)


def reset_affine(module: nn.Module) -> None:
    """``weight`` to 1 and ``bias`` to 0, where they exist."""
    with torch.no_grad():
        if module.weight is not None:
            module.weight.fill_(1.0)
        if module.bias is not None:
            module.bias.zero_()
