"""Side-by-side comparison of ``bnlearn.nn`` batch norm with ``torch.nn``'s.

``parity_with_torch`` runs both on the same inputs for a few training
steps and an eval step and reports the largest differences; the test suite
(``tests/test_nn_batchnorm.py``) does the same over a larger grid with
assertions. Chapter 5 prints the table.
"""
from __future__ import annotations

from typing import Iterable, List, Optional

import torch

from .batchnorm import BatchNorm1d, BatchNorm2d, BatchNorm3d

__all__ = ["parity_with_torch"]

_PAIRS = {2: (BatchNorm1d, torch.nn.BatchNorm1d), 3: (BatchNorm1d, torch.nn.BatchNorm1d),
          4: (BatchNorm2d, torch.nn.BatchNorm2d), 5: (BatchNorm3d, torch.nn.BatchNorm3d)}


def _maxdiff(a: Optional[torch.Tensor], b: Optional[torch.Tensor]) -> float:
    # max |a - b| / max(1, max |b|): absolute for values of order one, relative for large sums.
    if a is None and b is None:
        return 0.0
    a, b = a.double(), b.double()
    return ((a - b).abs().max() / b.abs().max().clamp(min=1.0)).item()


def parity_with_torch(configs: Iterable[dict], steps: int = 3, dtype=torch.float32, channels: int = 4,
                      seed: int = 0) -> List[dict]:
    """Largest differences between ours and torch's batch norm, per configuration.

    Parameters
    ----------
    configs : iterable of dict
        Each has ``"shape"`` (the input shape ``(N, C, *spatial)`` with
        ``C == channels``) and any constructor keywords (``eps``, ``momentum``,
        ``affine``, ``track_running_stats``).
    steps : int, default 3
        Training steps before the eval step.
    dtype : torch.dtype, default torch.float32
        Precision of modules and inputs.
    channels : int, default 4
        :math:`C`.
    seed : int, default 0
        Seed of the inputs and parameters.

    Returns
    -------
    list of dict
        One row per configuration: ``"config"`` (a short description) and the
        largest differences ``"output"``, ``"grad_input"``,
        ``"grad_params"``, ``"running_stats"`` over all steps, and
        ``"batches_tracked_equal"`` (bool). A difference is
        :math:`\max|a-b| / \max(1, \max|b|)` over a tensor pair: absolute for
        values of order one, relative for large ones (parameter gradients are
        sums over the whole batch).
    """
    rows = []
    for cfg in configs:
        cfg = dict(cfg)
        shape = tuple(cfg.pop("shape"))
        ours_cls, theirs_cls = _PAIRS[len(shape)]
        gen = torch.Generator().manual_seed(seed)
        ours = ours_cls(channels, dtype=dtype, **cfg)
        theirs = theirs_cls(channels, dtype=dtype, **cfg)
        if ours.weight is not None:
            with torch.no_grad():
                ours.weight.uniform_(0.5, 1.5, generator=gen)
                ours.bias.normal_(generator=gen)
        theirs.load_state_dict(ours.state_dict())
        worst = {"output": 0.0, "grad_input": 0.0, "grad_params": 0.0, "running_stats": 0.0}
        for step in range(steps + 1):
            if step == steps:
                ours.eval(), theirs.eval()
            x = (torch.randn(shape, generator=gen, dtype=dtype) * 2 + step)
            g = torch.randn(shape, generator=gen, dtype=dtype)
            xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
            ya, yb = ours(xa), theirs(xb)
            ya.backward(g)
            yb.backward(g)
            worst["output"] = max(worst["output"], _maxdiff(ya, yb))
            worst["grad_input"] = max(worst["grad_input"], _maxdiff(xa.grad, xb.grad))
            for pa, pb in zip(ours.parameters(), theirs.parameters()):
                worst["grad_params"] = max(worst["grad_params"], _maxdiff(pa.grad, pb.grad))
                pa.grad = pb.grad = None
            worst["running_stats"] = max(worst["running_stats"], _maxdiff(ours.running_mean, theirs.running_mean),
                                         _maxdiff(ours.running_var, theirs.running_var))
        same_count = (ours.num_batches_tracked is None and theirs.num_batches_tracked is None) or (
            int(ours.num_batches_tracked) == int(theirs.num_batches_tracked))
        desc = f"{shape}" + "".join(f", {k}={v}" for k, v in cfg.items())
        rows.append({"config": desc, **worst, "batches_tracked_equal": same_count})
    return rows
