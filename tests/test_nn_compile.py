"""bnlearn.nn's batch norm under ``torch.compile(fullgraph=True)``: no graph breaks, the same numbers.

One compiled module holds every batch-norm entry point (BatchNorm1d/2d/3d, a
cumulative-average BatchNorm1d, the functional ``batch_norm`` and
``BatchNormFunction.apply``), so that one compile per mode and dtype covers
them all: compiles cost seconds each, and this file makes four.
``fullgraph=True`` turns any graph break into an error. Over several steps the
compiled module must match the eager one (outputs, input and parameter
gradients, running buffers) and PyTorch's own modules.
"""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import bnlearn.nn as bnn

from _nn_common import DEVICES, TOL

C = 3
SHAPES = {"bn1": (8, C), "bn2": (4, C, 5, 4), "bn3": (3, C, 2, 4, 3), "cumulative": (6, C, 7),
          "functional": (5, C, 6), "function": (7, C)}


class AllBatchNorms(nn.Module):
    """Every batch-norm entry point of bnlearn.nn, applied to its own input."""

    def __init__(self, bn=bnn):
        super().__init__()
        self.bn1, self.bn2, self.bn3 = bn.BatchNorm1d(C), bn.BatchNorm2d(C), bn.BatchNorm3d(C)
        self.cumulative = bn.BatchNorm1d(C, momentum=None)          # running averages with factor 1/t
        self.weight = nn.Parameter(torch.linspace(0.5, 1.5, C))
        self.bias = nn.Parameter(torch.linspace(-0.2, 0.2, C))
        self.register_buffer("mean_f", torch.zeros(C))
        self.register_buffer("var_f", torch.ones(C))
        self.register_buffer("mean_a", torch.zeros(C))
        self.register_buffer("var_a", torch.ones(C))

    def forward(self, x1, x2, x3, xc, xf, xa):
        if isinstance(self.bn1, bnn.BatchNorm1d):
            f = bnn.batch_norm(xf, self.mean_f, self.var_f, self.weight, self.bias, self.training, 0.1, 1e-5)
            a = bnn.BatchNormFunction.apply(xa, self.weight, self.bias, self.mean_a, self.var_a, self.training,
                                            0.1, 1e-5)
        else:                                                          # PyTorch's own, for comparison
            f = nn.functional.batch_norm(xf, self.mean_f, self.var_f, self.weight, self.bias, self.training,
                                         0.1, 1e-5)
            a = nn.functional.batch_norm(xa, self.mean_a, self.var_a, self.weight, self.bias, self.training,
                                         0.1, 1e-5)
        return self.bn1(x1), self.bn2(x2), self.bn3(x3), self.cumulative(xc), f, a


def _step(model, inputs, grads):
    xs = [x.clone().requires_grad_(True) for x in inputs]
    for p in model.parameters():
        p.grad = None
    outs = model(*xs)
    sum((o * g).sum() for o, g in zip(outs, grads)).backward()
    return outs, [x.grad for x in xs], {k.removeprefix("_orig_mod."): p.grad for k, p in model.named_parameters()}


def _close(a, b, tol):
    torch.testing.assert_close(a, b, atol=tol, rtol=tol)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
def test_compiled_batch_norm_matches_eager_and_native(dtype, device):
    # On CUDA, compile generates Triton kernels and the native reference is cuDNN's.
    torch._dynamo.reset()
    eager = AllBatchNorms().to(device=device, dtype=dtype)
    with torch.no_grad():
        for m in (eager.bn1, eager.bn2, eager.bn3, eager.cumulative):
            m.weight.uniform_(0.5, 1.5)
            m.bias.uniform_(-0.5, 0.5)
    native = AllBatchNorms(bn=nn).to(device=device, dtype=dtype)
    native.load_state_dict(eager.state_dict())
    compiled_twin = copy.deepcopy(eager)
    compiled = torch.compile(compiled_twin, fullgraph=True)           # any graph break raises
    # float32: the fused reductions add in another order, so allow a few ulps more than eager's parity.
    tol = 1 * TOL[dtype] if dtype == torch.float32 else TOL[dtype]
    gen = torch.Generator().manual_seed(0)
    for mode in ("train", "train", "train", "eval"):                  # three steps, then evaluation
        for m in (eager, native, compiled_twin):
            m.train(mode == "train")
        inputs = [(torch.randn(s, generator=gen, dtype=dtype) * 3 + 1).to(device) for s in SHAPES.values()]
        grads = [torch.randn(s, generator=gen, dtype=dtype).to(device) for s in SHAPES.values()]
        got = _step(compiled, inputs, grads)
        for ref in (_step(eager, inputs, grads), _step(native, inputs, grads)):
            for name, a, b in zip(SHAPES, got[0], ref[0]):
                _close(a, b, tol)                                      # outputs
            for name, a, b in zip(SHAPES, got[1], ref[1]):
                _close(a, b, tol)                                      # input gradients
            for name in got[2]:
                _close(got[2][name], ref[2][name], tol)                # parameter gradients
        for (name, a), (_, b), (_, c) in zip(compiled_twin.named_buffers(), eager.named_buffers(),
                                             native.named_buffers()):
            _close(a.to(torch.float64), b.to(torch.float64), tol)      # running statistics and counts
            _close(a.to(torch.float64), c.to(torch.float64), tol)
    assert int(compiled_twin.cumulative.num_batches_tracked) == 3
