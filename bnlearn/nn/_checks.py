"""Input validation shared by the normalisation modules of ``bnlearn.nn``.

Every check raises a :class:`ValueError` or :class:`TypeError` whose message
names the value it got and what it expected.
"""
from __future__ import annotations

import numbers
from typing import Optional, Sequence

import torch

from .. import _validation as _v
from .._validation import describe

__all__: list[str] = []

_SPATIAL_NAMES = {0: "", 1: ", L", 2: ", H, W", 3: ", D, H, W"}


def check_num_features(owner: str, name: str, value) -> int:
    """Check that a feature/channel count is a positive ``int`` (at most 2**63 - 1) and return it."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{owner}: {name} must be an int; got {describe(value)} of type {type(value).__name__}")
    return _v.check_int(value, name, owner, low=1)


def check_eps(owner: str, eps) -> float:
    """Check that ``eps`` is a finite number > 0 that float32 represents and return it as a float."""
    return _v.check_eps(eps, owner)


def check_momentum(owner: str, momentum) -> Optional[float]:
    """Check that ``momentum`` is ``None`` or a number in [0, 1]; return it as a float (or None)."""
    return _v.check_momentum(momentum, owner)


def plain_number(value):
    """``value`` as a Python ``int``/``float`` if it is a NumPy scalar, else unchanged.

    Hyperparameters keep the type they were given (as ``torch.nn`` does, so
    that ``repr`` matches), except NumPy scalars, which TorchScript cannot
    take as constants.
    """
    if value is None or type(value) in (int, float):
        return value
    return int(value) if isinstance(value, numbers.Integral) else float(value)


def check_floating(owner: str, x) -> None:
    """Check that ``x`` is a floating-point :class:`torch.Tensor`."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{owner} expects a torch.Tensor; got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(
            f"{owner} expects a floating-point input (float16, bfloat16, float32 or float64); "
            f"got dtype {x.dtype}"
        )


def check_param_dtype(owner: str, x: torch.Tensor, params: Sequence[Optional[torch.Tensor]]) -> None:
    """Check that parameters/buffers match the input's dtype and device.

    A float16/bfloat16 input with float32 parameters is allowed (mixed
    precision, as in PyTorch); other mismatches raise :class:`TypeError`.
    """
    for p in params:
        if p is None:
            continue
        if p.device != x.device:
            raise TypeError(
                f"{owner}: input is on {x.device} but its parameters/buffers are on {p.device}; "
                "move the module with .to(device)"
            )
        if p.dtype != x.dtype and not (
            x.dtype in (torch.float16, torch.bfloat16) and p.dtype == torch.float32
        ):
            raise TypeError(
                f"{owner}: input has dtype {x.dtype} but its parameters/buffers have dtype "
                f"{p.dtype}; convert one of them (e.g. module.to({x.dtype}))"
            )


def shape_template(num_features: int, spatial_dims: Sequence[int]) -> str:
    """Describe the expected shapes, e.g. ``(N, 64, H, W)``.

    ``spatial_dims`` lists the accepted numbers of spatial axes (``None``: any).
    """
    if spatial_dims is None:
        return f"(N, {num_features}, *spatial)"
    forms = [f"(N, {num_features}{_SPATIAL_NAMES.get(k, ', *')})" for k in spatial_dims]
    return " or ".join(forms)


def check_bn_input(owner: str, x, num_features: int, spatial_dims: Sequence[int]) -> None:
    """Check a batch-norm input: a floating tensor of shape ``(N, C, *spatial)``.

    Parameters
    ----------
    owner : str
        How the module describes itself in messages, e.g. ``"BatchNorm2d(64)"``.
    x : torch.Tensor
        The input.
    num_features : int
        The expected channel count ``C`` (``x.shape[1]``).
    spatial_dims : sequence of int or None
        The accepted numbers of spatial axes (``x.dim() - 2``); ``None``: any.
    """
    check_floating(owner, x)
    rank_ok = x.dim() >= 2 if spatial_dims is None else x.dim() - 2 in spatial_dims
    if not rank_ok or x.shape[1] != num_features:
        raise ValueError(
            f"{owner} expects input of shape {shape_template(num_features, spatial_dims)}; "
            f"got {tuple(x.shape)}"
        )


def check_values_per_channel(x: torch.Tensor) -> None:
    """Refuse one value per channel in training: its variance is undefined.

    The same :class:`ValueError` as PyTorch's (same type, similar message).
    An empty batch (zero values per channel) passes.
    """
    count = x.numel() // x.shape[1] if x.shape[1] else 0
    if count == 1:
        raise ValueError(
            f"Expected more than 1 value per channel when training, got input size {x.size()}"
        )
