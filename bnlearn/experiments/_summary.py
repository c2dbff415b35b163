"""Seed statistics and run-time helpers shared by the chapter 2 and 3 experiments (private)."""
from __future__ import annotations

import contextlib
import functools

import numpy as np

from .. import stats as _stats
from . import SCALES


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
    """:func:`bnlearn.stats.mean_interval` at 95% (NaN marks a missing value)."""
    return _stats.mean_interval(values)


def paired(a, b) -> dict:
    """:func:`bnlearn.stats.paired`: the 95% interval of ``a - b`` by seed, its verdict and ``same_sign``."""
    return _stats.paired(a, b)


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
