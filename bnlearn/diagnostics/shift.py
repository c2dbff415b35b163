"""How much a layer's input distribution moves between two training steps.

Ioffe and Szegedy define internal covariate shift as the change in the
distribution of a layer's inputs caused by updates to the layers before it.
These functions compare two samples of the same layer's input, per unit:
the change of its mean and standard deviation, and the 1-D Wasserstein
(earth mover's) distance between the two empirical distributions.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["wasserstein_1d", "DistributionShift", "distribution_shift"]


def _as_2d(x, who: str) -> np.ndarray:
    if type(x).__module__.startswith("torch"):
        x = x.detach().cpu().double().numpy()
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{who} must be a numpy.ndarray or torch.Tensor; got {type(x).__name__}")
    x = x.astype(np.float64, copy=False)
    if x.ndim == 1:
        x = x[:, None]
    elif x.ndim > 2:  # (N, C, *spatial): a unit is a channel
        x = np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])
    if x.shape[0] == 0:
        raise ValueError(f"{who} must hold at least one sample; got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{who} holds NaN or infinite values")
    return x


def wasserstein_1d(a, b) -> np.ndarray:
    r"""1-D Wasserstein-1 distance between two empirical distributions, per unit.

    .. math::

        W_1(P, Q) = \int_{-\infty}^{\infty} |F_P(t) - F_Q(t)|\, dt,

    where :math:`F_P, F_Q` are the empirical CDFs. Both are step functions
    whose steps sit at the pooled sorted values, so the integral is a sum over
    the gaps between consecutive pooled values. For equal sample sizes this is
    :math:`\frac1N\sum_i |a_{(i)} - b_{(i)}|` (sorted samples).

    Parameters
    ----------
    a : numpy.ndarray or torch.Tensor
        Shape ``(N,)`` (one unit) or ``(N, D)`` (D units).
    b : numpy.ndarray or torch.Tensor
        Shape ``(M,)`` or ``(M, D)``: the same units, any number of samples.

    Returns
    -------
    numpy.ndarray
        Shape ``(D,)`` (``(1,)`` for 1-D inputs), non-negative.
    """
    a, b = _as_2d(a, "a"), _as_2d(b, "b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a and b must have the same number of units; got {a.shape[1]} and {b.shape[1]}")
    n, m = a.shape[0], b.shape[0]
    a_sorted, b_sorted = np.sort(a, axis=0), np.sort(b, axis=0)
    pooled = np.sort(np.concatenate([a, b], axis=0), axis=0)           # (n+m, D)
    gaps = np.diff(pooled, axis=0)                                    # (n+m-1, D)
    out = np.empty(a.shape[1])
    for d in range(a.shape[1]):
        t = pooled[:-1, d]
        # F(t) = #{x <= t} / n on each gap [t_k, t_{k+1})
        fa = np.searchsorted(a_sorted[:, d], t, side="right") / n
        fb = np.searchsorted(b_sorted[:, d], t, side="right") / m
        out[d] = np.sum(np.abs(fa - fb) * gaps[:, d])                # sum_k |F_a - F_b| (t_{k+1} - t_k)
    return out


@dataclass
class DistributionShift:
    """Per-unit change of a layer's input between two samples.

    Attributes
    ----------
    mean_change : numpy.ndarray
        Shape ``(D,)``: :math:`|\\mu_1 - \\mu_0|` per unit.
    std_change : numpy.ndarray
        Shape ``(D,)``: :math:`|\\sigma_1 - \\sigma_0|` per unit (biased std).
    wasserstein : numpy.ndarray
        Shape ``(D,)``: :func:`wasserstein_1d` per unit.
    """

    mean_change: np.ndarray
    std_change: np.ndarray
    wasserstein: np.ndarray

    def summary(self) -> dict:
        """Averages over units: ``{"mean_change", "std_change", "wasserstein"}``."""
        return {"mean_change": float(self.mean_change.mean()), "std_change": float(self.std_change.mean()),
                "wasserstein": float(self.wasserstein.mean())}


def distribution_shift(before, after) -> DistributionShift:
    """Compare two samples of one layer's input, unit by unit.

    Parameters
    ----------
    before, after : numpy.ndarray or torch.Tensor
        Shapes ``(N, D)`` and ``(M, D)`` (or ``(N, C, *spatial)``, a unit
        being a channel), for example the same probe batch's activations
        recorded at two training steps.

    Returns
    -------
    DistributionShift
    """
    a, b = _as_2d(before, "before"), _as_2d(after, "after")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"before and after must have the same number of units; got {a.shape[1]} and {b.shape[1]}")
    return DistributionShift(
        mean_change=np.abs(b.mean(0) - a.mean(0)),
        std_change=np.abs(b.std(0) - a.std(0)),
        wasserstein=wasserstein_1d(a, b),
    )
