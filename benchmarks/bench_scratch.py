"""Speed and memory of bnlearn.scratch's batch norm, as ratios measured in one run.

Prints, for float32 inputs of shape (64, 64, 32, 32) and (256, 1024):

1. forward + backward of ``bnlearn.scratch.BatchNorm`` against
   ``torch.nn.BatchNorm2d`` / ``BatchNorm1d`` (training mode, one thread each);
   target: ratio <= 1.5;
2. the compact backward (``batchnorm_backward``) against a staged backward that
   walks the computational graph node by node (defined below, for reference
   only); target: compact >= 1.5 times faster;
3. the peak extra memory of forward + backward (tracemalloc), as a multiple of
   the input's size; target: <= 4.

Timings are medians of several repeats, with the two contenders interleaved.
Run: ``python benchmarks/bench_scratch.py [--repeats 15]``.
"""
from __future__ import annotations

import os

# One thread for NumPy's BLAS as well as for torch; set before numpy is imported.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402

from bnlearn.scratch import BatchNorm, batchnorm_backward, batchnorm_forward  # noqa: E402

TARGET_TORCH, TARGET_STAGED, TARGET_MEMORY = 1.5, 1.5, 4.0


def staged_forward(x, gamma, beta, eps=1e-5):
    """Batch norm forward that keeps every node of the graph (reference only)."""
    n, c = x.shape[:2]
    v = x.reshape(n, c, -1)
    g, b = gamma.reshape(1, c, 1), beta.reshape(1, c, 1)
    m = v.shape[0] * v.shape[2]
    mu = v.sum(axis=(0, 2), keepdims=True) / m        # node 1: mean
    xmu = v - mu                                      # node 2: centre
    sq = xmu**2                                       # node 3: square
    var = sq.sum(axis=(0, 2), keepdims=True) / m      # node 4: variance
    std = np.sqrt(var + eps)                          # node 5: standard deviation
    istd = 1.0 / std                                  # node 6: reciprocal
    xhat = xmu * istd                                 # node 7: normalise
    out = g * xhat + b                                # node 8: scale and shift
    return out.reshape(x.shape), (xhat, xmu, istd, std, g, m, x.shape)


def staged_backward(dout, cache):
    """Walk the graph of :func:`staged_forward` backwards, node by node (reference only)."""
    xhat, xmu, istd, std, g, m, shape = cache
    d = dout.reshape(xhat.shape)
    dbeta = d.sum(axis=(0, 2))                              # node 8
    dgamma = (d * xhat).sum(axis=(0, 2))
    dxhat = d * g
    distd = (dxhat * xmu).sum(axis=(0, 2), keepdims=True)  # node 7
    dxmu1 = dxhat * istd
    dstd = -distd / std**2                                  # node 6
    dvar = 0.5 * dstd / std                                 # node 5
    dsq = np.ones_like(xhat) * (dvar / m)                   # node 4
    dxmu2 = 2 * xmu * dsq                                   # node 3
    dxmu = dxmu1 + dxmu2
    dmu = -dxmu.sum(axis=(0, 2), keepdims=True)             # node 2
    dx = dxmu + np.ones_like(xhat) * (dmu / m)              # node 1
    return dx.reshape(shape), dgamma, dbeta


def _time(fn, setup=None):
    if setup is not None:
        setup()
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def interleaved(fns, repeats):
    """Median seconds of each function, run in turn ``repeats`` times after one warm-up."""
    for f in fns:
        f()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for t, f in zip(times, fns):
            t.append(_time(f))
    return [float(np.median(t)) for t in times]


def peak_extra_memory(fn):
    """Peak bytes allocated by ``fn()`` above what was allocated before it."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    result = fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    del result
    return peak - before


def bench(shape, repeats, torch):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(shape, dtype=np.float32) * 2 + 0.5).astype(np.float32)
    dout = rng.standard_normal(shape, dtype=np.float32)
    c = shape[1]
    ours = BatchNorm(c)

    def ours_fb():
        out = ours.forward(x)
        return out, ours.backward(dout)   # both stay alive, as in a network

    results = {}
    if torch is not None:
        ref = (torch.nn.BatchNorm2d if len(shape) == 4 else torch.nn.BatchNorm1d)(c)
        xt = torch.from_numpy(x).requires_grad_(True)
        dt = torch.from_numpy(dout)

        def torch_fb():
            xt.grad = None
            ref.zero_grad(set_to_none=True)
            ref(xt).backward(dt)

        t_ours, t_torch = interleaved([ours_fb, torch_fb], repeats)
        results["torch"] = (t_ours, t_torch)

    gamma = rng.standard_normal(c).astype(np.float32)
    beta = rng.standard_normal(c).astype(np.float32)
    _, cache = batchnorm_forward(x, gamma, beta)
    _, scache = staged_forward(x, gamma, beta)
    dx_c, dg_c, db_c = batchnorm_backward(dout, cache)
    dx_s, dg_s, db_s = staged_backward(dout, scache)
    scale = np.abs(dx_c).max()
    assert np.abs(dx_c - dx_s).max() <= 1e-4 * scale, "compact and staged backward disagree"
    t_compact, t_staged = interleaved(
        [lambda: batchnorm_backward(dout, cache), lambda: staged_backward(dout, scache)], repeats
    )
    results["staged"] = (t_compact, t_staged)
    results["memory"] = peak_extra_memory(ours_fb) / x.nbytes
    def staged_fb():
        out, c = staged_forward(x, gamma, beta)
        return out, staged_backward(dout, c)

    results["memory_staged"] = peak_extra_memory(staged_fb) / x.nbytes
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed repeats per contender (median)")
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:  # the NumPy-only figures still make sense
        torch = None
    else:
        torch.set_num_threads(1)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        threadpool_limits = None
    limiter = threadpool_limits(limits=1) if threadpool_limits else None
    print(f"numpy {np.__version__}" + (f", torch {torch.__version__}" if torch else ", torch not installed")
          + f"; {args.repeats} repeats; float32; one thread")
    ok = True
    for shape in [(64, 64, 32, 32), (256, 1024)]:
        r = bench(shape, args.repeats, torch)
        print(f"\ninput {shape} ({np.prod(shape) * 4 / 2**20:.0f} MiB)")
        if "torch" in r:
            t_ours, t_torch = r["torch"]
            ratio = t_ours / t_torch
            ok &= ratio <= TARGET_TORCH
            name = "BatchNorm2d" if len(shape) == 4 else "BatchNorm1d"
            print(f"  forward+backward: ours {t_ours * 1e3:8.3f} ms, torch.nn.{name} {t_torch * 1e3:8.3f} ms, "
                  f"ratio ours/torch {ratio:.2f} (target <= {TARGET_TORCH})")
        t_c, t_s = r["staged"]
        speedup = t_s / t_c
        ok &= speedup >= TARGET_STAGED
        print(f"  backward: compact {t_c * 1e3:8.3f} ms, staged {t_s * 1e3:8.3f} ms, "
              f"compact is {speedup:.2f}x faster (target >= {TARGET_STAGED})")
        ok &= r["memory"] <= TARGET_MEMORY
        print(f"  peak extra memory of forward+backward: {r['memory']:.2f}x the input "
              f"(target <= {TARGET_MEMORY}); the staged pair: {r['memory_staged']:.2f}x")
    if limiter is not None:
        limiter.unregister()
    print("\nall targets met" if ok else "\nsome targets missed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
