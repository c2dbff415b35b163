"""What a training step with batch norm costs, relative to one without, on chapter 6's small network.

Chapter 6 reports ``paper-fig1``'s step-cost ratio: seconds per step of Ioffe
and Szegedy's Figure 1 MLP with batch norm over seconds per step without it
(3 hidden layers of 100 sigmoids, batches of 60, one thread, on the 28x28
digits of mnist-5k as in the chapter; ``--dataset digits`` for the 8x8 ones). On
so small a network a step is dominated by per-operation overhead, so the
cost of batch norm is mostly the cost of calling it. This script measures the
ratio with ``bnlearn.nn.BatchNorm1d`` and with ``torch.nn.BatchNorm1d`` in the
same network, and with the whole network compiled (``torch.compile(net,
fullgraph=True)``, which fuses batch norm's passes with the layers around
it), interleaving the variants and taking medians:

    python benchmarks/bench_step_cost.py [--steps 300] [--repeats 7] [--threads 1] [--no-compile]
                                         [--dataset mnist-5k]

Only ratios measured in the same run are meaningful; the absolute times
depend on the machine and on what else runs on it.
"""
from __future__ import annotations

import argparse
import statistics

import torch

from bnlearn import data, models, train


def _with_torch_bn(net: torch.nn.Module) -> torch.nn.Module:
    """The same network with every bnlearn batch norm replaced by torch.nn.BatchNorm1d (same parameters)."""
    from bnlearn.nn import BatchNorm1d

    for name, child in net.named_children():
        if isinstance(child, BatchNorm1d):
            tb = torch.nn.BatchNorm1d(child.num_features, eps=child.eps, momentum=child.momentum)
            tb.load_state_dict(child.state_dict())
            setattr(net, name, tb)
        else:
            _with_torch_bn(child)
    return net


def _seconds_per_step(net, start: dict, ds, steps: int) -> float:
    net.load_state_dict(start)                 # the same starting point every time (and no recompiling)
    h = train.train(net, ds, steps=steps, batch_size=60, lr=2.0, seed=0, eval_every=steps, progress=False)
    return h.train_seconds / h.steps


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=300, help="training steps per timing (default 300)")
    p.add_argument("--repeats", type=int, default=7, help="interleaved repeats; the median is reported")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (chapter 6 uses 1)")
    p.add_argument("--no-compile", action="store_true", help="leave out the compiled networks")
    p.add_argument("--dataset", default="mnist-5k", choices=("mnist-5k", "digits"),
                   help="the images (chapter 6 uses mnist-5k)")
    args = p.parse_args(argv)
    if args.steps < 1 or args.repeats < 1 or args.threads < 1:
        p.error("--steps, --repeats and --threads must be positive")
    torch.set_num_threads(args.threads)
    ds = data.load(args.dataset)
    f = 1
    for d in ds.image_shape:
        f *= d

    def mlp(bn):
        return models.paper_mlp(bn, in_features=f, seed=0)

    variants = {"plain": mlp(False), "bnlearn BN": mlp(True), "torch BN": _with_torch_bn(mlp(True))}
    if not args.no_compile:
        variants["compiled plain"] = torch.compile(mlp(False), fullgraph=True)
        variants["compiled BN"] = torch.compile(mlp(True), fullgraph=True)
    starts = {k: {n: t.clone() for n, t in net.state_dict().items()} for k, net in variants.items()}
    for k, net in variants.items():                                   # warm-up (and compiles)
        _seconds_per_step(net, starts[k], ds, min(args.steps, 20))
    times = {k: [] for k in variants}
    for _ in range(args.repeats):
        for k, net in variants.items():
            times[k].append(_seconds_per_step(net, starts[k], ds, args.steps))
    med = {k: statistics.median(v) for k, v in times.items()}
    ratios = {k: med[k] / med["plain"] for k in variants if k != "plain"}
    if "compiled BN" in med:
        ratios["compiled BN / compiled plain"] = med["compiled BN"] / med["compiled plain"]
    print(f"torch {torch.__version__}, {args.threads} thread(s), paper_mlp on {args.dataset} ({f} inputs), batch 60, "
          f"median of {args.repeats} x {args.steps} steps")
    for k in variants:
        print(f"  {k:14s} {1e6 * med[k]:8.1f} us/step")
    for k, r in ratios.items():
        print(f"  step with {k} / plain step = {r:.2f}" if "/" not in k else f"  step with {k} = {r:.2f}")
    print(f"  bnlearn BN step / torch BN step = {med['bnlearn BN'] / med['torch BN']:.2f}")
    return {"seconds_per_step": med, "ratios": ratios}


if __name__ == "__main__":
    main()
