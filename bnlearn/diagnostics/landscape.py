"""Loss-landscape probes along the gradient (Santurkar et al., 2018, section 3.1).

At parameters :math:`\\theta` with gradient :math:`g = \\nabla L(\\theta)` on a
batch, step along :math:`-g` with step sizes :math:`\\eta_1, \\dots, \\eta_K` and measure

* the **loss range**: :math:`\\max - \\min` of :math:`L(\\theta - \\eta g)` over
  :math:`\\eta \\in \\{0, \\eta_1, \\dots, \\eta_K\\}`: how much the loss varies
  along the step (small means a smooth, predictable landscape);
* **gradient predictiveness**: :math:`\\|\\nabla L(\\theta) - \\nabla L(\\theta - \\eta_k g)\\|_2`,
  how much the gradient changes along the step (small means the gradient
  computed here stays a good direction there);
* **effective** :math:`\\beta`-**smoothness**:
  :math:`\\max_k \\|\\nabla L(\\theta) - \\nabla L(\\theta - \\eta_k g)\\| / \\|\\eta_k g\\|`,
  the largest Lipschitz constant of the gradient seen along the step.

For a quadratic :math:`L(\\theta) = \\tfrac12 \\theta^\\top A \\theta - b^\\top \\theta`
these are closed forms: :math:`L(\\theta - \\eta g) = L(\\theta) - \\eta \\|g\\|^2 + \\tfrac12\\eta^2 g^\\top A g`,
the gradient change is :math:`\\eta \\|A g\\|` and :math:`\\beta = \\|A g\\| / \\|g\\|`.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ._common import check_closure, check_params, check_seed, check_step_sizes, flat_norm, gradients, preserved

__all__ = ["LandscapeProbe", "landscape_probe"]


@dataclass
class LandscapeProbe:
    """The loss and its gradient along one gradient step.

    Attributes
    ----------
    step_sizes : numpy.ndarray
        Shape ``(K,)``: the :math:`\\eta_k`.
    loss0 : float
        :math:`L(\\theta)`.
    losses : numpy.ndarray
        Shape ``(K,)``: :math:`L(\\theta - \\eta_k g)`.
    grad_norm : float
        :math:`\\|g\\|_2`.
    grad_change : numpy.ndarray
        Shape ``(K,)``: :math:`\\|g - \\nabla L(\\theta - \\eta_k g)\\|_2`.
    """

    step_sizes: np.ndarray
    loss0: float
    losses: np.ndarray
    grad_norm: float
    grad_change: np.ndarray

    @property
    def loss_range(self) -> float:
        """:math:`\\max - \\min` of the loss over :math:`\\{\\theta\\} \\cup \\{\\theta - \\eta_k g\\}`."""
        all_losses = np.append(self.losses, self.loss0)
        return float(all_losses.max() - all_losses.min())

    @property
    def max_grad_change(self) -> float:
        """Gradient predictiveness, :math:`\\max_k \\|g - \\nabla L(\\theta - \\eta_k g)\\|`."""
        return float(self.grad_change.max())

    @property
    def beta_smoothness(self) -> float:
        """Effective :math:`\\beta`: :math:`\\max_k \\|g - \\nabla L(\\theta - \\eta_k g)\\| / (\\eta_k \\|g\\|)` (NaN if g = 0)."""
        if self.grad_norm == 0:
            return float("nan")
        return float(np.max(self.grad_change / (self.step_sizes * self.grad_norm)))

    def to_dict(self) -> dict:
        """Plain Python types (JSON-serialisable), with the three summaries."""
        return {"step_sizes": self.step_sizes.tolist(), "loss0": self.loss0, "losses": self.losses.tolist(),
                "grad_norm": self.grad_norm, "grad_change": self.grad_change.tolist(),
                "loss_range": self.loss_range, "max_grad_change": self.max_grad_change,
                "beta_smoothness": self.beta_smoothness}


def landscape_probe(params, closure: Callable[[], torch.Tensor], step_sizes: Sequence[float], *,
                    modules: Sequence[nn.Module] = (), seed: int | None = 0) -> LandscapeProbe:
    """Probe the loss and its gradient along the negative gradient (formulas in the module docstring).

    Parameters
    ----------
    params : torch.nn.Module, torch.Tensor or iterable of torch.Tensor
        The parameters :math:`\\theta` to move (all together); a module
        stands for all its parameters (and its buffers are restored too).
    closure : callable
        ``closure() -> scalar loss tensor`` on a fixed batch, computed with the
        current values of ``params``.
    step_sizes : sequence of float
        The :math:`\\eta_k > 0`, e.g. multiples of the learning rate.
    modules : sequence of torch.nn.Module, default ()
        Further modules whose buffers (running statistics) the probe's forward
        passes may change and that must be restored afterwards.
    seed : int or None, default 0
        Seed torch's RNG before every call of the closure (the same noise or
        dropout at every point); None leaves the RNG alone.

    Returns
    -------
    LandscapeProbe
        The parameters and buffers are as they were on return.
    """
    mods = list(modules)
    if isinstance(params, nn.Module):
        mods.append(params)
    params = check_params(params, "landscape_probe")
    check_closure(closure)
    etas = check_step_sizes(step_sizes)
    seed = check_seed(seed)
    losses, changes = [], []
    with preserved(params, mods):
        loss0, g = gradients(closure, params, seed)                     # L(theta), g = grad L(theta)
        for eta in etas:
            with preserved(params):
                with torch.no_grad():
                    for p, gp in zip(params, g):
                        p.sub_(eta * gp)                                 # theta - eta g
                loss, g_eta = gradients(closure, params, seed)
            losses.append(float(loss))
            changes.append(flat_norm([a - b for a, b in zip(g, g_eta)]))  # ||g - grad L(theta - eta g)||
    return LandscapeProbe(np.array(etas), float(loss0), np.array(losses), flat_norm(g), np.array(changes))
