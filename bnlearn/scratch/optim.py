r"""Stochastic gradient descent with momentum and weight decay, in NumPy."""
from __future__ import annotations

import numpy as np

from ._checks import check_real
from .layers import Layer

__all__ = ["SGD"]


class SGD:
    r"""Stochastic gradient descent, with PyTorch's conventions.

    For each parameter :math:`w` with gradient :math:`g`, one :meth:`step` does

    .. math::

        d = g + \lambda w, \qquad
        v \leftarrow \mu v + d \ (v = d \text{ at the first step}), \qquad
        w \leftarrow w - \eta v,

    with learning rate :math:`\eta`, momentum :math:`\mu` and weight decay
    :math:`\lambda` (without momentum, :math:`w \leftarrow w - \eta d`). The
    parameters are updated in place, so the layers see the new values.

    Parameters
    ----------
    model : Layer
        The layer or :class:`~bnlearn.scratch.Sequential` whose ``params`` to update.
    lr : float
        Learning rate, ``> 0``.
    momentum : float, default 0.0
        In ``[0, 1)``.
    weight_decay : float, default 0.0
        L2 penalty coefficient, ``>= 0``.
    """

    def __init__(self, model, lr, *, momentum=0.0, weight_decay=0.0):
        if not isinstance(model, Layer):
            raise TypeError(f"SGD expects a Layer (e.g. a Sequential) to optimise; got {type(model).__name__}")
        self.model = model
        self.lr = check_real(lr, "lr")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0; got {self.lr}")
        self.momentum = check_real(momentum, "momentum")
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"momentum must lie in [0, 1); got {self.momentum}")
        self.weight_decay = check_real(weight_decay, "weight_decay")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0; got {self.weight_decay}")
        dtypes = {p.dtype for _, p, _ in model.named_parameters()}
        for dt in dtypes:                      # the step multiplies in the parameters' dtype
            largest = float(np.finfo(dt).max)
            for name in ("lr", "weight_decay"):
                if getattr(self, name) > largest:
                    raise ValueError(f"{name} must be at most {largest:.4g}, the largest {dt} (the parameters' "
                                     f"dtype); got {getattr(self, name)}")
        self.velocity: dict = {}

    def __repr__(self) -> str:
        return f"SGD(lr={self.lr}, momentum={self.momentum}, weight_decay={self.weight_decay})"

    def step(self):
        """Update every parameter of the model once, from its current gradient.

        Raises
        ------
        ValueError
            If a parameter has no gradient yet (``backward`` has not been called).
        """
        for name, w, g in self.model.named_parameters():
            if g is None:
                raise ValueError(f"SGD.step(): parameter {name!r} has no gradient; call the model's backward() first")
            d = g + w.dtype.type(self.weight_decay) * w if self.weight_decay else g.copy()  # d = g + lambda w
            if self.momentum:
                v = self.velocity.get(name)
                if v is None:
                    v = self.velocity[name] = d                   # v = d at the first step
                else:
                    v *= w.dtype.type(self.momentum)              # v <- mu v + d
                    v += d
                d = v
            w -= w.dtype.type(self.lr) * d                        # w <- w - lr v
