"""bnlearn.nn.profiling: the textbook reference, saved-tensor counting, the memory-bound limit, timers."""
from __future__ import annotations

import pytest
import torch

from bnlearn.nn import BatchNorm1d, BatchNorm2d
from bnlearn.nn.profiling import (TextbookBatchNorm2d, batchnorm_min_bytes, copy_bandwidth, saved_tensor_bytes,
                                  time_forward_backward)


@pytest.mark.parametrize("shape, ours", [((16, 5), BatchNorm1d), ((6, 5, 7), BatchNorm1d), ((4, 5, 3, 3), BatchNorm2d)])
def test_textbook_batch_norm_computes_what_ours_computes(shape, ours):
    gen = torch.Generator().manual_seed(0)
    x = (torch.randn(shape, generator=gen, dtype=torch.float64) * 2 + 1).requires_grad_(True)
    g = torch.randn(shape, generator=gen, dtype=torch.float64)
    a, b = TextbookBatchNorm2d(5).double(), ours(5).double()
    ya = a(x)
    (da,) = torch.autograd.grad(ya, x, g)
    yb = b(x)
    (db,) = torch.autograd.grad(yb, x, g)
    torch.testing.assert_close(ya, yb)
    torch.testing.assert_close(da, db)
    torch.testing.assert_close(a.running_mean, b.running_mean)
    torch.testing.assert_close(a.running_var, b.running_var)
    a.eval(), b.eval()
    torch.testing.assert_close(a(x), b(x))


def test_ours_saves_one_input_sized_tensor_the_textbook_several():
    x = torch.randn(8, 4, 5, 5)
    ours, text = saved_tensor_bytes(BatchNorm2d(4), x), saved_tensor_bytes(TextbookBatchNorm2d(4), x)
    assert ours["input_sized"] == x.numel() * 4
    assert text["input_sized"] >= 2 * x.numel() * 4


def test_batchnorm_min_bytes_counts_five_input_sized_tensors():
    assert batchnorm_min_bytes((64, 64, 32, 32)) == 5 * 64 * 64 * 32 * 32 * 4
    assert batchnorm_min_bytes((60, 100), torch.float64) == 5 * 6000 * 8
    with pytest.raises(ValueError, match=r"shape must hold positive ints; got \(60, 0\)"):
        batchnorm_min_bytes((60, 0))


def test_copy_bandwidth_is_a_positive_rate():
    bw = copy_bandwidth(nbytes=4 * 2**20, repeats=2, threads=1)
    assert bw > 0 and bw == bw
    with pytest.raises(ValueError, match="nbytes must be an int >= 4; got 2"):
        copy_bandwidth(nbytes=2)
    with pytest.raises(ValueError, match="repeats must be a positive int; got 0"):
        copy_bandwidth(repeats=0)


def test_time_forward_backward_times_every_candidate():
    t = time_forward_backward({"ours": BatchNorm2d(3), "torch": torch.nn.BatchNorm2d(3)}, shape=(4, 3, 2, 2),
                              repeats=2, warmup=1, threads=1)
    assert set(t) == {"ours", "torch"} and all(v > 0 for v in t.values())
