"""Seed statistics and run-time helpers shared by the chapter 2 and 3 experiments (private)."""
from __future__ import annotations

import contextlib
import functools

import numpy as np

from . import SCALES, mean_interval


def check_scale(scale) -> str:
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}; got {scale!r}")
    return scale


def check_seed(seed) -> int:
    """``seed`` as an int; None means :func:`bnlearn.base_seed`."""
    if seed is None:
        from .. import base_seed

        return base_seed()
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"seed must be an int; got {seed!r}")
    return int(seed)


def interval(values) -> dict:
    """:func:`bnlearn.experiments.mean_interval` at 95%, with NaN entries dropped
    (``n`` counts the finite ones); all-NaN gives a NaN mean."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return {"mean": float("nan"), "low": float("nan"), "high": float("nan"), "n": 0, "values": []}
    return mean_interval(x.tolist())


def paired(a, b) -> dict:
    """Paired comparison by seed of ``a`` against ``b``: the 95% interval of
    ``a - b`` and a verdict, ``"shown"`` when that interval excludes 0, else
    ``"not shown"``; ``same_sign`` says whether every seed's difference has the
    mean's sign."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    out = interval(d)
    shown = out["n"] >= 2 and (out["low"] > 0 or out["high"] < 0)
    out["verdict"] = "shown" if shown else "not shown"
    out["same_sign"] = bool(out["n"] >= 1 and out["mean"] != 0
                            and np.all(np.sign(d[np.isfinite(d)]) == np.sign(out["mean"])))
    return out


@functools.lru_cache(maxsize=2)
def dataset(name: str):
    """The data set ``name`` (``"digits"`` or ``"mnist"``), loaded once per process."""
    from ..data import load

    return load(name)


@contextlib.contextmanager
def single_thread():
    """Run the block with torch on one CPU thread (restored afterwards).

    The networks of chapters 2 and 3 are tiny: with several threads most of a
    step is spent synchronising them, and on a busy machine a step becomes
    ten or more times slower than on one thread."""
    from .._threads import torch_threads

    with torch_threads(1):
        yield
