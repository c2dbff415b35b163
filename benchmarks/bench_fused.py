"""The book's batch norm compiled with torch.compile, against PyTorch's kernel and the memory-bound limit.

For each input shape and thread count, forward + backward in training mode,
float32, median of interleaved repeats:

- ``eager / native``: ``bnlearn.nn`` as written, over ``torch.nn``'s kernel;
- ``compiled / native``: ``torch.compile(bnlearn.nn.BatchNorm*d, fullgraph=True)``;
- ``textbook compiled / native``: the textbook batch norm (composed tensor
  operations, :class:`bnlearn.nn.profiling.TextbookBatchNorm2d`) compiled;
- ``of limit``: the time a kernel moving only the five input-sized tensors
  forward and backward must take (:func:`~bnlearn.nn.profiling.batchnorm_min_bytes`)
  at this machine's copy bandwidth (:func:`~bnlearn.nn.profiling.copy_bandwidth`),
  divided by the measured time; 100% is the memory-bound limit.

Every figure is measured twice, each time in a fresh process: under glibc's
default allocator, which returns large freed buffers to the system so that
every new one costs page faults, and under a reuse-friendly one (glibc with
``MALLOC_MMAP_THRESHOLD_`` and ``MALLOC_TRIM_THRESHOLD_`` raised, as PyTorch's
CPU performance guide suggests; or tcmalloc/jemalloc with ``--allocators
tcmalloc`` when Debian's ``libtcmalloc-minimal4`` is installed).

Targets (CPU, reuse-friendly allocator): compiled ours at most 0.85x native at
(64, 64, 32, 32) and (256, 1024), at most 1.2x native at (60, 100); within
1.5x of the memory-bound limit. On CUDA (``--device cuda``) compile generates
Triton kernels and the target is at most 1.0x cuDNN at (64, 64, 32, 32).

Run::

    python benchmarks/bench_fused.py [--shapes 64x64x32x32,256x1024,60x100] [--threads 1,2]
                                     [--repeats 15] [--allocators default,reuse] [--device cpu]

The first run compiles (seconds per shape); later runs reuse inductor's cache.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

#: Environment of each allocator (added to this process's own).
ALLOCATORS = {
    "default": {},
    "reuse": {"MALLOC_MMAP_THRESHOLD_": str(2**34), "MALLOC_TRIM_THRESHOLD_": str(2**34)},
    "tcmalloc": {"LD_PRELOAD": "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4"},
}
DESCRIBE = {
    "default": "glibc malloc, default thresholds (freed large buffers go back to the system)",
    "reuse": "glibc malloc, MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_ = 2**34 (buffers reused)",
    "tcmalloc": "tcmalloc (LD_PRELOAD)",
}
TARGETS = {(64, 64, 32, 32): 0.85, (256, 1024): 0.85, (60, 100): 1.2}


def _shape(text: str) -> tuple:
    try:
        shape = tuple(int(d) for d in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a shape is sizes joined by x, e.g. 64x64x32x32; got {text!r}")
    if len(shape) not in (2, 3, 4, 5) or min(shape) < 1 or shape[0] < 2:
        raise argparse.ArgumentTypeError(f"a shape has 2 to 5 positive sizes, a batch of at least 2; got {text!r}")
    return shape


def _worker(args) -> None:
    """Measure in this process; print one JSON line per (shape, threads)."""
    import torch

    from bnlearn.nn import BatchNorm1d, BatchNorm2d, BatchNorm3d
    from bnlearn.nn.profiling import TextbookBatchNorm2d, batchnorm_min_bytes, copy_bandwidth, time_forward_backward

    ours = {2: BatchNorm1d, 3: BatchNorm1d, 4: BatchNorm2d, 5: BatchNorm3d}
    native = {2: torch.nn.BatchNorm1d, 3: torch.nn.BatchNorm1d, 4: torch.nn.BatchNorm2d, 5: torch.nn.BatchNorm3d}
    bandwidth = {t: copy_bandwidth(threads=t, device=args.device) for t in args.threads}
    print(json.dumps({"bandwidth": bandwidth}), flush=True)
    for shape in args.shapes:
        c = shape[1]
        mods = {"eager": ours[len(shape)](c), "native": native[len(shape)](c),
                "compiled": torch.compile(ours[len(shape)](c), fullgraph=True),
                "textbook compiled": torch.compile(TextbookBatchNorm2d(c), fullgraph=True)}
        for threads in args.threads:
            t = time_forward_backward(mods, shape=shape, repeats=args.repeats, warmup=3, threads=threads,
                                      device=args.device)
            limit = batchnorm_min_bytes(shape) / bandwidth[threads]
            print(json.dumps({"shape": shape, "threads": threads, "seconds": t, "limit": limit}), flush=True)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shapes", type=lambda s: [_shape(x) for x in s.split(",")],
                   default=[(64, 64, 32, 32), (256, 1024), (60, 100)])
    p.add_argument("--threads", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2])
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--allocators", type=lambda s: s.split(","), default=["default", "reuse"])
    p.add_argument("--device", default="cpu")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.repeats < 1 or min(args.threads) < 1:
        p.error("--repeats and every --threads value must be positive")
    bad = [a for a in args.allocators if a not in ALLOCATORS]
    if bad:
        p.error(f"unknown allocator(s) {bad}; choose from {sorted(ALLOCATORS)}")
    if args.worker:
        _worker(args)
        return {}
    results: dict = {}
    for alloc in args.allocators:
        env = {**os.environ, **ALLOCATORS[alloc]}
        if "LD_PRELOAD" in ALLOCATORS[alloc] and not os.path.exists(ALLOCATORS[alloc]["LD_PRELOAD"]):
            print(f"\n[{alloc}] skipped: {ALLOCATORS[alloc]['LD_PRELOAD']} is not installed "
                  f"(apt-get install libtcmalloc-minimal4)")
            continue
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--repeats", str(args.repeats),
               "--threads", ",".join(map(str, args.threads)), "--device", args.device,
               "--shapes", ",".join("x".join(map(str, s)) for s in args.shapes)]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            sys.stderr.write(done.stderr[-4000:])
            raise SystemExit(f"the {alloc} worker failed (exit status {done.returncode})")
        rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        bw = rows[0]["bandwidth"]
        print(f"\n[{alloc}] {DESCRIBE[alloc]}")
        print("  copy bandwidth: " + ", ".join(f"{float(v) / 1e9:.1f} GB/s with {k} thread(s)" for k, v in bw.items()))
        print(f"  {'shape':>16} thr  {'native ms':>9}  {'eager/nat':>9}  {'compiled/nat':>12}  "
              f"{'textbook c./nat':>15}  {'compiled, of limit':>18}  target")
        for r in rows[1:]:
            t, shape = r["seconds"], tuple(r["shape"])
            ratio = t["compiled"] / t["native"]
            target = TARGETS.get(shape)
            met = "" if target is None or alloc == "default" else (
                f"<= {target}: {'met' if ratio <= target else 'NOT met'}")
            print(f"  {str(shape):>16} {r['threads']:>3}  {1e3 * t['native']:9.2f}  {t['eager'] / t['native']:9.2f}  "
                  f"{ratio:12.2f}  {t['textbook compiled'] / t['native']:15.2f}  "
                  f"{100 * r['limit'] / t['compiled']:17.0f}%  {met}")
            results[(alloc, shape, r["threads"])] = {**t, "limit": r["limit"]}
    return results


if __name__ == "__main__":
    main()
