"""Helpers shared by the diagnostics modules (private)."""
from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
from torch import nn


def check_closure(closure) -> Callable[[], torch.Tensor]:
    """Check that ``closure`` is a callable (it must return a scalar loss tensor)."""
    if not callable(closure):
        raise TypeError(f"closure must be a callable () -> scalar loss tensor; got {closure!r}")
    return closure


def evaluate_closure(closure) -> torch.Tensor:
    """Call ``closure`` and check it returned a scalar tensor."""
    loss = closure()
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        got = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
        raise ValueError(f"closure must return a scalar loss tensor; got {got}")
    return loss.reshape(())


def check_params(params, who: str) -> list[torch.Tensor]:
    """Turn ``params`` (a module, a tensor or an iterable of tensors) into a
    non-empty list of tensors that require gradients."""
    if isinstance(params, nn.Module):
        params = list(params.parameters())
    elif isinstance(params, torch.Tensor):
        params = [params]
    else:
        try:
            params = list(params)
        except TypeError:
            raise TypeError(f"{who} expects a module, a tensor or an iterable of tensors; "
                            f"got {type(params).__name__}") from None
    for p in params:
        if not isinstance(p, torch.Tensor):
            raise TypeError(f"{who} expects tensors as parameters; got {type(p).__name__}")
        if not p.requires_grad:
            raise ValueError(f"{who}: parameter of shape {tuple(p.shape)} does not require grad")
    if not params:
        raise ValueError(f"{who} needs at least one parameter; got none")
    return params


def check_positive(name: str, value) -> float:
    """A positive finite float, or a ValueError naming ``value``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0 or not math.isfinite(value):
        raise ValueError(f"{name} must be a positive finite number; got {value!r}")
    return float(value)


def check_step_sizes(step_sizes) -> list[float]:
    """A non-empty list of positive finite floats from a sequence of numbers."""
    if isinstance(step_sizes, str | bytes) or not hasattr(step_sizes, "__iter__"):
        raise TypeError(f"step_sizes must be a sequence of positive numbers; got {step_sizes!r}")
    out = []
    for s in step_sizes:
        if isinstance(s, bool) or not isinstance(s, int | float | np.integer | np.floating):
            raise TypeError(f"step_sizes must hold numbers; got {s!r}")
        out.append(check_positive("each step size", float(s)))
    if not out:
        raise ValueError("step_sizes must hold at least one positive number; got an empty sequence")
    return out


def gradients(closure, params: list[torch.Tensor], seed: int | None = None
              ) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The loss of ``closure()`` and its gradients with respect to ``params``
    (detached copies; ``.grad`` fields are left untouched).

    With ``seed``, the closure runs with torch's RNG seeded by it (and the
    global RNG state restored afterwards), so every call draws the same
    dropout masks or injected noise."""
    with contextlib.ExitStack() as stack:
        if seed is not None:
            stack.enter_context(torch.random.fork_rng(devices=[]))
            torch.manual_seed(seed)
        with torch.enable_grad():
            loss = evaluate_closure(closure)
            grads = torch.autograd.grad(loss, params, allow_unused=True)
    grads = [torch.zeros_like(p) if g is None else g.detach().clone() for p, g in zip(params, grads)]
    return loss.detach(), grads


def check_seed(seed) -> int | None:
    """An int or None."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer)):
        raise TypeError(f"seed must be an int or None; got {seed!r}")
    return None if seed is None else int(seed)


def flat_norm(tensors: Sequence[torch.Tensor]) -> float:
    r"""The L2 norm of the concatenation of ``tensors``, :math:`\sqrt{\sum_j \|t_j\|^2}`."""
    return math.sqrt(sum(float((t.double() ** 2).sum()) for t in tensors))


@contextlib.contextmanager
def preserved(params: Sequence[torch.Tensor], modules: Sequence[nn.Module] = ()) -> Iterator[None]:
    """Run the block, then put back the values of ``params`` and every buffer
    (running statistics, batch counters) of ``modules``, so probing a model
    has no side effects."""
    saved_params = [p.detach().clone() for p in params]
    saved_buffers = [(b, b.detach().clone()) for m in modules for b in m.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for p, v in zip(params, saved_params):
                p.copy_(v)
            for b, v in saved_buffers:
                b.copy_(v)
