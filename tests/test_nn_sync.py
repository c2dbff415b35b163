"""SyncBatchNorm across 2 processes on 127.0.0.1 against single-process batch norm.

One spawn of 2 processes (gloo, CPU) runs every scenario; each process saves
its outputs and gradients, and the tests compare them with torch.nn's batch
norm on the concatenated batch. A timeout on the process group and on the
join makes a hang fail instead of blocking the suite.
"""
import datetime
import os
import socket
import time

import pytest
import torch

import bnlearn.nn as bnn
from _nn_common import close, one_thread  # noqa: F401 (autouse fixture)

# name -> (per-process batch sizes, input shape after the batch axis, dtype)
SCENARIOS = {
    "equal": ((4, 4), (3, 2, 3), torch.float64),
    "unequal": ((5, 2), (3, 2, 3), torch.float64),
    "empty": ((6, 0), (3, 2, 3), torch.float64),
    "features": ((3, 5), (3,), torch.float64),
    "float32": ((4, 3), (3, 4), torch.float32),
}
STEPS = 2


def full_batch(name, step):
    """The concatenated batch (and output gradient) of a scenario's training step."""
    sizes, rest, dtype = SCENARIOS[name]
    g = torch.Generator().manual_seed(1000 * step + len(name))
    x = torch.randn((sum(sizes),) + rest, generator=g, dtype=dtype) * 2.0 + 0.5
    dy = torch.randn((sum(sizes),) + rest, generator=g, dtype=dtype)
    return x, dy


def local_part(name, step, rank):
    sizes = SCENARIOS[name][0]
    x, dy = full_batch(name, step)
    start = sum(sizes[:rank])
    return x[start:start + sizes[rank]], dy[start:start + sizes[rank]]


def init_params(m):
    with torch.no_grad():
        m.weight.copy_(torch.linspace(0.5, 1.5, m.num_features, dtype=m.weight.dtype))
        m.bias.copy_(torch.linspace(-1.0, 1.0, m.num_features, dtype=m.bias.dtype))


def _worker(rank, world, port, outdir, backend, device):
    import torch.distributed as dist

    torch.set_num_threads(1)
    if device == "cuda":                      # nccl: one GPU per process
        device = f"cuda:{rank}"
        torch.cuda.set_device(rank)
    dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=30))
    try:
        for name, (sizes, rest, dtype) in SCENARIOS.items():
            m = bnn.SyncBatchNorm(3, device=device, dtype=dtype)
            init_params(m)
            record = {}
            for step in range(STEPS):
                x, dy = local_part(name, step, rank)
                x = x.to(device).requires_grad_(True)
                y = m(x)
                y.backward(dy.to(device))
                record[step] = {"y": y.detach().cpu(), "dx": x.grad.cpu(), "dw": m.weight.grad.cpu().clone(),
                                "db": m.bias.grad.cpu().clone()}
                m.weight.grad = m.bias.grad = None
            record["running_mean"] = m.running_mean.cpu()
            record["running_var"] = m.running_var.cpu()
            record["num_batches_tracked"] = int(m.num_batches_tracked)
            torch.save(record, os.path.join(outdir, f"{name}_{rank}.pt"))
    finally:
        dist.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_two_processes(outdir, backend, device, timeout=120):
    import torch.multiprocessing as mp

    ctx = mp.spawn(_worker, args=(2, free_port(), str(outdir), backend, device), nprocs=2, join=False)
    deadline = time.monotonic() + timeout
    while not ctx.join(timeout=2):
        if time.monotonic() > deadline:
            for p in ctx.processes:
                if p.is_alive():
                    p.kill()
            pytest.fail(f"the 2-process SyncBatchNorm run did not finish within {timeout} s (a hang?)")


BACKENDS = [
    pytest.param(("gloo", "cpu"), id="gloo-cpu"),
    pytest.param(("nccl", "cuda"), id="nccl-cuda", marks=pytest.mark.skipif(
        not torch.cuda.is_available() or torch.cuda.device_count() < 2, reason="needs 2 CUDA devices")),
]


@pytest.fixture(scope="module", params=BACKENDS)
def sync_results(request, tmp_path_factory):
    backend, device = request.param
    outdir = tmp_path_factory.mktemp(f"sync_{backend}")
    run_two_processes(outdir, backend, device)
    return {name: [torch.load(outdir / f"{name}_{r}.pt") for r in range(2)] for name in SCENARIOS}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_two_processes_equal_single_process_on_concatenated_batch(sync_results, name):
    sizes, rest, dtype = SCENARIOS[name]
    ranks = sync_results[name]
    ref = torch.nn.BatchNorm1d(3, dtype=dtype) if len(rest) <= 2 else torch.nn.BatchNorm2d(3, dtype=dtype)
    init_params(ref)
    for step in range(STEPS):
        x, dy = full_batch(name, step)
        x.requires_grad_(True)
        y = ref(x)
        y.backward(dy)
        close(torch.cat([r[step]["y"] for r in ranks]), y.detach(), dtype)
        close(torch.cat([r[step]["dx"] for r in ranks]), x.grad, dtype)
        # Parameter gradients are local; their sum over processes is the full-batch gradient.
        close(ranks[0][step]["dw"] + ranks[1][step]["dw"], ref.weight.grad, dtype)
        close(ranks[0][step]["db"] + ranks[1][step]["db"], ref.bias.grad, dtype)
        ref.weight.grad = ref.bias.grad = None
    for r in ranks:
        close(r["running_mean"], ref.running_mean, dtype)
        close(r["running_var"], ref.running_var, dtype)
        assert r["num_batches_tracked"] == int(ref.num_batches_tracked) == STEPS


@pytest.mark.slow
def test_empty_process_gets_an_empty_output(sync_results):
    assert sync_results["empty"][1][0]["y"].shape == (0, 3, 2, 3)
    assert sync_results["empty"][1][0]["dw"].abs().sum() == 0


def test_outside_a_process_group_it_is_plain_batchnorm():
    import torch.distributed as dist

    assert not (dist.is_available() and dist.is_initialized())
    ours, ref = bnn.SyncBatchNorm(3, dtype=torch.float64), torch.nn.BatchNorm2d(3, dtype=torch.float64)
    init_params(ours), init_params(ref)
    for step in range(2):
        x, dy = full_batch("equal", step)
        xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
        close(ours(xa), ref(xb), torch.float64)
        ours(xa.detach())
        ref(xb.detach())
    close(ours.running_var, ref.running_var, torch.float64)
    ours.eval(), ref.eval()
    close(ours(x), ref(x), torch.float64)


def test_convert_sync_batchnorm_keeps_parameters_and_state():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.BatchNorm2d(4, momentum=None),
                                torch.nn.Sequential(bnn.BatchNorm1d(4, affine=False)), bnn.LayerNorm(4),
                                bnn.GhostBatchNorm1d(4, 2))
    w = model[1].weight
    model[1](torch.randn(5, 4, 2, 2))
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    model.eval()
    converted = bnn.convert_sync_batchnorm(model)
    assert isinstance(converted[1], bnn.SyncBatchNorm) and converted[1].weight is w
    assert converted[1].momentum is None and not converted[1].training
    assert isinstance(converted[2][0], bnn.SyncBatchNorm) and converted[2][0].weight is None
    assert isinstance(converted[3], bnn.LayerNorm) and isinstance(converted[4], bnn.GhostBatchNorm1d)
    for k, v in converted.state_dict().items():
        assert torch.equal(v, sd[k]), k
    single = bnn.convert_sync_batchnorm(torch.nn.BatchNorm1d(2))
    assert isinstance(single, bnn.SyncBatchNorm)
