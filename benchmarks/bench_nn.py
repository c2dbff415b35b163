"""Benchmark bnlearn.nn batch norm against torch.nn's and a textbook autograd module.

Prints ratios measured in the same run (timings on a shared machine are noisy;
ratios of interleaved medians much less so), with one thread and with the
default thread count:

1. forward + backward of ``bnlearn.nn.BatchNorm2d`` / ``torch.nn.BatchNorm2d``
   on float32 (64, 64, 32, 32): target <= 2.0;
2. ``TextbookBatchNorm2d`` (autograd through mean/var/arithmetic) / ours:
   target >= 1.5 (ours faster);
3. bytes saved for backward, ours vs textbook vs the input's size: target, at
   most one input-sized tensor plus per-channel vectors;
4. eval-mode speed-up of ``fold_batchnorm`` on a small conv net.

Run: ``python benchmarks/bench_nn.py [--repeats 15] [--device cpu]``.
"""
from __future__ import annotations

import argparse

import torch

from bnlearn.nn import BatchNorm2d, fold_batchnorm
from bnlearn.models import small_conv_net
from bnlearn.nn.profiling import (TextbookBatchNorm2d, saved_tensor_bytes, time_forward_backward,
                                  time_inference)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    shape = (64, 64, 32, 32)
    results = {}
    default_threads = torch.get_num_threads()
    print(f"torch {torch.__version__}, device {args.device}, input {shape} float32, "
          f"median of {args.repeats} interleaved repeats")
    for threads in sorted({1, default_threads}):
        t = time_forward_backward({"ours": BatchNorm2d(64), "torch": torch.nn.BatchNorm2d(64),
                                   "textbook": TextbookBatchNorm2d(64)},
                                  shape=shape, repeats=args.repeats, threads=threads, device=args.device)
        r_torch, r_text = t["ours"] / t["torch"], t["textbook"] / t["ours"]
        results[threads] = {"ours_over_torch": r_torch, "textbook_over_ours": r_text, **t}
        print(f"[{threads} thread(s)] forward+backward: ours {t['ours'] * 1e3:.1f} ms, "
              f"torch {t['torch'] * 1e3:.1f} ms, textbook {t['textbook'] * 1e3:.1f} ms")
        print(f"  ours / torch    = {r_torch:.2f}   (target <= 2.0: {'met' if r_torch <= 2.0 else 'NOT met'})")
        print(f"  textbook / ours = {r_text:.2f}   (target >= 1.5: {'met' if r_text >= 1.5 else 'NOT met'})")

    x = torch.randn(shape, device=args.device)
    in_bytes = x.numel() * x.element_size()
    ours = saved_tensor_bytes(BatchNorm2d(64).to(args.device), x)
    text = saved_tensor_bytes(TextbookBatchNorm2d(64).to(args.device), x)
    small = ours["total"] - ours["input_sized"]
    print(f"saved for backward (input is {in_bytes / 2**20:.1f} MiB): ours {ours['total'] / 2**20:.2f} MiB "
          f"= {ours['total'] / in_bytes:.3f} x input ({ours['count']} tensors, {small} bytes per-channel), "
          f"textbook {text['total'] / 2**20:.2f} MiB = {text['total'] / in_bytes:.2f} x input "
          f"({text['count']} tensors)")
    ok = ours["input_sized"] <= in_bytes and small <= 8 * 64 * x.element_size()
    print(f"  target (one input-sized tensor + per-channel vectors): {'met' if ok else 'NOT met'}")
    results["saved"] = {"ours": ours, "textbook": text, "input": in_bytes}

    net = small_conv_net(BatchNorm2d, widths=(32, 64, 64), in_channels=3).to(args.device)
    with torch.no_grad():
        for _ in range(3):
            net(torch.randn(64, 3, 32, 32, device=args.device))
    net.eval()
    folded = fold_batchnorm(net)
    xb = torch.randn(64, 3, 32, 32, device=args.device)
    with torch.no_grad():
        err = (folded(xb) - net(xb)).abs().max().item()
    for threads in sorted({1, default_threads}):
        t = time_inference({"bn": net, "folded": folded}, xb, repeats=args.repeats, threads=threads)
        print(f"[{threads} thread(s)] fold_batchnorm, conv net (64, 3, 32, 32) eval: "
              f"{t['bn'] * 1e3:.1f} ms -> {t['folded'] * 1e3:.1f} ms, speed-up {t['bn'] / t['folded']:.2f}x "
              f"(max |difference| {err:.1e})")
        results[f"fold_{threads}"] = t["bn"] / t["folded"]
    return results


if __name__ == "__main__":
    main()
