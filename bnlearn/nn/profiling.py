r"""Measuring batch-norm implementations: time, memory saved for backward, folding, the memory-bound limit.

Used by ``benchmarks/bench_nn.py``, ``benchmarks/bench_fused.py`` and chapter 5. Times are medians of
interleaved repeats (each candidate is timed once per round, so a burst of
load on a shared machine hits all of them alike); the interesting numbers are
the *ratios* measured in the same run.
"""
from __future__ import annotations

import statistics
import time
from typing import Dict, Optional

import torch
from torch import nn

from .._threads import torch_threads

__all__ = ["TextbookBatchNorm2d", "saved_tensor_bytes", "time_forward_backward", "time_inference",
           "copy_bandwidth", "batchnorm_min_bytes"]


class TextbookBatchNorm2d(nn.Module):
    r"""The common textbook batch norm: plain tensor arithmetic that autograd differentiates.

    .. math::

        \mu = \mathrm{mean}(x), \quad \sigma^2 = \mathrm{mean}((x-\mu)^2), \quad
        y = \gamma \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta

    on ``(N, C, H, W)`` inputs (and ``(N, C)``, ``(N, C, *spatial)`` alike),
    statistics per channel. Autograd records every
    intermediate it needs (``x - mu``, its square, ``x_hat``, ...), which is what
    :class:`~bnlearn.nn.BatchNormFunction` avoids. Training mode only updates
    running statistics like :class:`~bnlearn.nn.BatchNorm2d`; it exists to be
    compared with, not to be used.

    Parameters
    ----------
    num_features : int
        :math:`C`.
    eps : float, default 1e-5
        Added to the variance.
    momentum : float, default 0.1
        Running-average factor.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise ``x`` of shape ``(N, C, *spatial)``; batch statistics in training."""
        dims = [0] + list(range(2, x.dim()))                              # all axes but the channels
        shape = [1, -1] + [1] * (x.dim() - 2)
        if self.training:
            mean = x.mean(dims, keepdim=True)                             # mu
            var = ((x - mean) ** 2).mean(dims, keepdim=True)              # sigma^2 (biased)
            with torch.no_grad():
                m = x.numel() / x.shape[1]
                self.running_mean.lerp_(mean.flatten(), self.momentum)
                self.running_var.lerp_(var.flatten() * m / (m - 1), self.momentum)
        else:
            mean = self.running_mean.view(shape)
            var = self.running_var.view(shape)
        x_hat = (x - mean) / torch.sqrt(var + self.eps)                   # x_hat
        return self.weight.view(shape) * x_hat + self.bias.view(shape)


def saved_tensor_bytes(module: nn.Module, x: torch.Tensor) -> Dict[str, int]:
    """Bytes of the tensors autograd saves for backward during ``module(x)``.

    Counted with :func:`torch.autograd.graph.saved_tensors_hooks`; a tensor
    saved twice (same storage) counts once.

    Parameters
    ----------
    module : torch.nn.Module
        The layer to run (in its current train/eval mode).
    x : torch.Tensor
        The input; it is made to require a gradient.

    Returns
    -------
    dict
        ``{"total": bytes, "input_sized": bytes in tensors with as many elements
        as x, "count": number of distinct tensors}``.
    """
    seen: Dict[tuple, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        key = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), t.dtype)
        seen[key] = t.numel() * t.element_size()
        return t

    x = x.detach().requires_grad_(True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        module(x)
    big = sum(b for (_, _, shape, dtype), b in seen.items()
              if torch.Size(shape).numel() >= x.numel())
    return {"total": sum(seen.values()), "input_sized": big, "count": len(seen)}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_forward_backward(modules: Dict[str, nn.Module], shape=(64, 64, 32, 32), repeats: int = 15,
                          warmup: int = 2, threads: Optional[int] = None, device="cpu",
                          dtype=torch.float32, seed: int = 0) -> Dict[str, float]:
    """Median seconds of one forward + backward of each module, timed interleaved.

    Parameters
    ----------
    modules : dict of str to torch.nn.Module
        The candidates (moved to ``device``/``dtype``; in training mode).
    shape : tuple of int
        Input shape ``(N, C, H, W)``.
    repeats, warmup : int
        Timed and untimed rounds; each round runs every module once.
    threads : int or None
        ``torch.set_num_threads`` for the measurement (restored after); ``None``
        keeps the current setting.
    device, dtype, seed
        Where and in what precision the seeded input lives.

    Returns
    -------
    dict of str to float
        Median seconds per module.
    """
    with torch_threads(threads):
        dev = torch.device(device)
        gen = torch.Generator().manual_seed(seed)
        x = torch.randn(shape, generator=gen, dtype=dtype).to(dev).requires_grad_(True)
        g = torch.randn(shape, generator=gen, dtype=dtype).to(dev)
        mods = {k: m.to(device=dev, dtype=dtype).train() for k, m in modules.items()}
        times: Dict[str, list] = {k: [] for k in mods}
        for r in range(warmup + repeats):
            for k, m in mods.items():
                x.grad = None
                _sync(dev)
                t0 = time.perf_counter()
                m(x).backward(g)
                _sync(dev)
                if r >= warmup:
                    times[k].append(time.perf_counter() - t0)
        return {k: statistics.median(v) for k, v in times.items()}


def time_inference(models: Dict[str, nn.Module], x: torch.Tensor, repeats: int = 15, warmup: int = 2,
                   threads: Optional[int] = None) -> Dict[str, float]:
    """Median seconds of an eval-mode, no-grad forward of each model on ``x``, timed interleaved.

    Parameters
    ----------
    models : dict of str to torch.nn.Module
        The candidates (put in eval mode).
    x : torch.Tensor
        The input batch.
    repeats, warmup : int
        Timed and untimed rounds.
    threads : int or None
        ``torch.set_num_threads`` during the measurement (``None``: unchanged).

    Returns
    -------
    dict of str to float
        Median seconds per model.
    """
    with torch_threads(threads):
        times: Dict[str, list] = {k: [] for k in models}
        with torch.no_grad():
            for r in range(warmup + repeats):
                for k, m in models.items():
                    m.eval()
                    _sync(x.device)
                    t0 = time.perf_counter()
                    m(x)
                    _sync(x.device)
                    if r >= warmup:
                        times[k].append(time.perf_counter() - t0)
        return {k: statistics.median(v) for k, v in times.items()}


def copy_bandwidth(nbytes: int = 256 * 2**20, repeats: int = 7, threads: Optional[int] = None,
                   device="cpu") -> float:
    """This machine's memory bandwidth as a large copy achieves it, in bytes per second.

    Copies a ``nbytes`` float32 tensor into another ``repeats`` times (after one
    warm-up copy that also takes the page faults) and counts the bytes read and
    written: ``2 * nbytes / median seconds``. Make ``nbytes`` much larger than
    the CPU's caches, or the figure measures the cache.

    Parameters
    ----------
    nbytes : int, default 256 MiB
        Size of the copied tensor.
    repeats : int, default 7
        Timed copies.
    threads : int or None
        ``torch.set_num_threads`` during the measurement (``None``: unchanged).
    device : str or torch.device, default "cpu"

    Returns
    -------
    float
        Bytes per second.
    """
    if isinstance(nbytes, bool) or not isinstance(nbytes, int) or nbytes < 4:
        raise ValueError(f"nbytes must be an int >= 4; got {nbytes!r}")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be a positive int; got {repeats!r}")
    dev = torch.device(device)
    with torch_threads(threads):
        src = torch.ones(nbytes // 4, dtype=torch.float32, device=dev)
        dst = torch.empty_like(src)
        dst.copy_(src)
        times = []
        for _ in range(repeats):
            _sync(dev)
            t0 = time.perf_counter()
            dst.copy_(src)
            _sync(dev)
            times.append(time.perf_counter() - t0)
    return 2 * (nbytes // 4) * 4 / statistics.median(times)


def batchnorm_min_bytes(shape, dtype=torch.float32) -> int:
    """The fewest bytes one training forward plus backward of batch norm must move through memory.

    Forward reads ``x`` and writes ``y``; backward reads ``x`` and ``dy`` and
    writes ``dx``: five tensors of the input's size. The per-channel vectors
    are negligible and not counted. A kernel that reads ``x`` twice in the
    forward (once for the statistics, once to normalise) moves six or more.

    Parameters
    ----------
    shape : tuple of int
        The input's shape.
    dtype : torch.dtype, default float32

    Returns
    -------
    int
        ``5 * numel * itemsize``.
    """
    numel = 1
    for d in shape:
        if isinstance(d, bool) or not isinstance(d, int) or d < 1:
            raise ValueError(f"shape must hold positive ints; got {tuple(shape)!r}")
        numel *= d
    return 5 * numel * torch.empty((), dtype=dtype).element_size()
