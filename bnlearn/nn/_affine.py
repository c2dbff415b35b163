"""The learnable per-channel scale and shift shared by the batch, layer and group norms (private)."""
from __future__ import annotations

import torch
from torch import nn

from ._checks import check_eps, plain_number

__all__ = ["check_factory_dtype", "make_affine", "reset_affine", "AffineNorm"]


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


class AffineNorm(nn.Module):
    """What the batch, layer and group norms share: ``eps`` checked when set,
    an optional affine ``weight``/``bias``, and loading modules pickled before
    the hyperparameters became properties.

    A subclass sets ``self._owner`` (how messages name it, e.g.
    ``"GroupNorm(4, 16)"``) before it assigns ``eps``, and lists in
    ``_HYPERPARAMETERS`` the attributes that are properties.
    """

    __jit_unused_properties__ = ["eps"]
    _HYPERPARAMETERS = ("eps",)

    @property
    def eps(self) -> float:
        """Added to the variance before the square root; a finite float > 0 (checked when set)."""
        return self._eps

    @eps.setter
    def eps(self, value) -> None:
        check_eps(self._owner, value)
        self._eps = plain_number(value)

    def __setstate__(self, state) -> None:
        # Modules pickled before the hyperparameters were properties kept them as plain attributes.
        for key in self._HYPERPARAMETERS:
            if key in state:
                state["_" + key] = state.pop(key)
        super().__setstate__(state)

    def reset_parameters(self) -> None:
        """Set ``weight`` to 1 and ``bias`` to 0."""
        reset_affine(self)
