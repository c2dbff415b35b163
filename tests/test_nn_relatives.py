"""LayerNorm, GroupNorm, BatchRenorm, GhostBatchNorm and fold_batchnorm."""
import inspect

import pytest
import torch
from torch import nn

import bnlearn.nn as bnn
from _nn_common import DEVICES, TOL, close, one_thread, randn, same_repr  # noqa: F401 (autouse fixture)


def grads_close(ma, mb, xa, xb, dtype):
    close(xa.grad, xb.grad, dtype)
    for pa, pb in zip(ma.parameters(), mb.parameters()):
        close(pa.grad, pb.grad, dtype)


def run_pair(ma, mb, x, g):
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    ya, yb = ma(xa), mb(xb)
    ya.backward(g)
    yb.backward(g)
    return ya, yb, xa, xb


# ------------------------------------------------------------------ LayerNorm / GroupNorm
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape,norm_shape", [((4, 6), 6), ((3, 5, 6), (5, 6)), ((2, 3, 4, 5), [5])])
@pytest.mark.parametrize("affine,bias", [(True, True), (True, False), (False, True)])
def test_layernorm_equals_torch(device, dtype, shape, norm_shape, affine, bias):
    ours = bnn.LayerNorm(norm_shape, eps=1e-4, elementwise_affine=affine, bias=bias, device=device, dtype=dtype)
    theirs = nn.LayerNorm(norm_shape, eps=1e-4, elementwise_affine=affine, bias=bias, device=device, dtype=dtype)
    if affine:
        with torch.no_grad():
            ours.weight.copy_(randn(ours.weight.shape, dtype, device, 1, 0.5, 1.0))
            if bias:
                ours.bias.copy_(randn(ours.bias.shape, dtype, device, 2))
    theirs.load_state_dict(ours.state_dict())
    x = randn(shape, dtype, device, 3, 2.0, 1.0)
    ya, yb, xa, xb = run_pair(ours, theirs, x, randn(shape, dtype, device, 4))
    close(ya, yb, dtype)
    grads_close(ours, theirs, xa, xb, dtype)
    same_repr(ours, theirs)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("groups", [1, 2, 6])
@pytest.mark.parametrize("shape", [(4, 6, 2), (3, 6, 5), (2, 6, 3, 4)])
@pytest.mark.parametrize("affine", [True, False])
def test_groupnorm_equals_torch(device, dtype, groups, shape, affine):
    ours = bnn.GroupNorm(groups, 6, eps=1e-4, affine=affine, device=device, dtype=dtype)
    theirs = nn.GroupNorm(groups, 6, eps=1e-4, affine=affine, device=device, dtype=dtype)
    if affine:
        with torch.no_grad():
            ours.weight.copy_(randn(6, dtype, device, 1, 0.5, 1.0))
            ours.bias.copy_(randn(6, dtype, device, 2))
    theirs.load_state_dict(ours.state_dict())
    x = randn(shape, dtype, device, 3, 2.0, 1.0)
    g = randn(shape, dtype, device, 4)
    ya, yb, xa, xb = run_pair(ours, theirs, x, g)
    close(ya, yb, dtype)
    # dx = invstd (g - mean g - x_hat mean(g x_hat)) cancels almost exactly in small groups (a group
    # of two values has x_hat = +-1), so its rounding error scales with invstd |g|, not with dx: any
    # two correct float32 kernels (e.g. PyTorch's generic ones, ATEN_CPU_CAPABILITY=default) differ by that.
    invstd = (x.reshape(shape[0], groups, -1).var(-1, unbiased=False) + 1e-4).rsqrt().max()
    atol = TOL[dtype] * max(1.0, float(invstd * g.abs().max()))
    torch.testing.assert_close(xa.grad, xb.grad, atol=atol, rtol=TOL[dtype])
    for pa, pb in zip(ours.parameters(), theirs.parameters()):
        close(pa.grad, pb.grad, dtype)
    same_repr(ours, theirs)


@pytest.mark.parametrize("ours,theirs", [(bnn.LayerNorm, nn.LayerNorm), (bnn.GroupNorm, nn.GroupNorm)])
def test_relatives_accept_every_torch_argument(ours, theirs):
    so, st = inspect.signature(ours.__init__).parameters, inspect.signature(theirs.__init__).parameters
    for name, p in st.items():
        assert name in so and so[name].default == p.default and so[name].kind == p.kind, name


def test_groupnorm_empty_batch():
    assert bnn.GroupNorm(2, 4)(torch.randn(0, 4, 3)).shape == (0, 4, 3)


def test_layer_and_group_norm_gradcheck():
    x = torch.randn(3, 4, 2, dtype=torch.float64, requires_grad=True)
    ln = bnn.LayerNorm((4, 2), dtype=torch.float64)
    gn = bnn.GroupNorm(2, 4, dtype=torch.float64)
    assert torch.autograd.gradcheck(ln, (x,))
    assert torch.autograd.gradcheck(gn, (x,))


# ------------------------------------------------------------------ BatchRenorm
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("cls,theirs,shape", [(bnn.BatchRenorm1d, nn.BatchNorm1d, (8, 3)),
                                              (bnn.BatchRenorm1d, nn.BatchNorm1d, (4, 3, 5)),
                                              (bnn.BatchRenorm2d, nn.BatchNorm2d, (4, 3, 3, 3))])
def test_batch_renorm_with_rmax1_dmax0_is_batchnorm(device, cls, theirs, shape):
    dtype = torch.float64
    ours = cls(3, rmax=1.0, dmax=0.0, device=device, dtype=dtype)
    ref = theirs(3, device=device, dtype=dtype)
    with torch.no_grad():
        ours.weight.copy_(randn(3, dtype, device, 1, 0.5, 1.0))
        ours.bias.copy_(randn(3, dtype, device, 2))
    ref.load_state_dict(ours.state_dict())
    for step in range(3):
        x = randn(shape, dtype, device, 10 + step, 3.0, 2.0)      # far from the running stats
        ya, yb, xa, xb = run_pair(ours, ref, x, randn(shape, dtype, device, 20 + step))
        close(ya, yb, dtype)
        grads_close(ours, ref, xa, xb, dtype)
        for pa, pb in zip(ours.parameters(), ref.parameters()):
            pa.grad = pb.grad = None
    close(ours.running_mean, ref.running_mean, dtype)
    close(ours.running_var, ref.running_var, dtype)
    ours.eval(), ref.eval()
    x = randn(shape, dtype, device, 99)
    close(ours(x), ref(x), dtype)


def test_batch_renorm_formula_and_constant_r_d():
    torch.manual_seed(0)
    m = bnn.BatchRenorm1d(2, rmax=1.5, dmax=0.5, affine=False, dtype=torch.float64)
    with torch.no_grad():
        m.running_mean.copy_(torch.tensor([0.0, 1.0], dtype=torch.float64))
        m.running_var.copy_(torch.tensor([4.0, 0.25], dtype=torch.float64))
    x = (torch.randn(16, 2, dtype=torch.float64) * torch.tensor([1.0, 1.0], dtype=torch.float64)).requires_grad_(True)
    y = m(x)
    mu_b, s_b = x.detach().mean(0), torch.sqrt(x.detach().var(0, unbiased=False) + m.eps)
    sigma = torch.sqrt(torch.tensor([4.0, 0.25], dtype=torch.float64) + m.eps)
    r = (s_b / sigma).clamp(1 / 1.5, 1.5)
    d = ((mu_b - torch.tensor([0.0, 1.0], dtype=torch.float64)) / sigma).clamp(-0.5, 0.5)
    expected = (x.detach() - mu_b) / s_b * r + d
    close(y, expected, torch.float64)
    assert not torch.allclose(r, torch.ones(2, dtype=torch.float64))   # the clip is active here
    # r and d are constants for backprop: the gradient is batch norm's, scaled by r.
    g = torch.randn(16, 2, dtype=torch.float64)
    (gx,) = torch.autograd.grad(y, x, g)
    xb = x.detach().clone().requires_grad_(True)
    yb = (xb - xb.mean(0)) / torch.sqrt(xb.var(0, unbiased=False) + m.eps) * r + d
    (gref,) = torch.autograd.grad(yb, xb, g)
    close(gx, gref, torch.float64)


def test_batch_renorm_schedule():
    m = bnn.BatchRenorm2d(3, rmax=3.0, dmax=5.0, warmup_steps=10, ramp_steps=20)
    assert m.limits(0) == (1.0, 0.0) and m.limits(10) == (1.0, 0.0)
    assert m.limits(20) == pytest.approx((2.0, 2.5))
    assert m.limits(30) == (3.0, 5.0) and m.limits(1000) == (3.0, 5.0)
    assert bnn.BatchRenorm2d(3, rmax=2.0, dmax=1.0).limits(1) == (2.0, 1.0)
    m(torch.randn(4, 3, 2, 2))
    assert m.limits() == (1.0, 0.0)                                   # step 1 is in the warm-up


# ------------------------------------------------------------------ GhostBatchNorm
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("cls,theirs,shape", [(bnn.GhostBatchNorm1d, nn.BatchNorm1d, (8, 3)),
                                              (bnn.GhostBatchNorm2d, nn.BatchNorm2d, (6, 3, 2, 3))])
def test_ghost_with_full_size_is_batchnorm(device, cls, theirs, shape):
    dtype = torch.float64
    ours, ref = cls(3, shape[0], device=device, dtype=dtype), theirs(3, device=device, dtype=dtype)
    for step in range(3):
        x = randn(shape, dtype, device, step, 2.0, 1.0)
        ya, yb, xa, xb = run_pair(ours, ref, x, randn(shape, dtype, device, 10 + step))
        close(ya, yb, dtype)
        grads_close(ours, ref, xa, xb, dtype)
    close(ours.running_mean, ref.running_mean, dtype)
    close(ours.running_var, ref.running_var, dtype)
    assert int(ours.num_batches_tracked) == int(ref.num_batches_tracked)


@pytest.mark.parametrize("device", DEVICES)
def test_ghost_normalises_each_virtual_batch(device):
    dtype = torch.float64
    m = bnn.GhostBatchNorm2d(3, 2, affine=False, device=device, dtype=dtype)
    x = randn((6, 3, 2, 2), dtype, device, 0, 2.0, 1.0)
    y = m(x)
    ref = nn.BatchNorm2d(3, affine=False, track_running_stats=False, device=device, dtype=dtype)
    close(y, torch.cat([ref(c) for c in x.split(2)]), dtype)
    # Running stats: average of the three ghost batches' means and unbiased variances.
    means = torch.stack([c.mean((0, 2, 3)) for c in x.split(2)]).mean(0)
    vars_ = torch.stack([c.var((0, 2, 3), unbiased=True) for c in x.split(2)]).mean(0)
    close(m.running_mean, 0.1 * means, dtype)
    close(m.running_var, 0.9 + 0.1 * vars_, dtype)
    m.eval()                                                    # eval: any batch size, running stats
    assert m(x[:5]).shape == (5, 3, 2, 2)


# ------------------------------------------------------------------ fold_batchnorm
def conv_net(bn, device="cpu"):
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), bn(8), nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1, bias=False), bn(8), nn.ReLU(),
        nn.Sequential(nn.Conv2d(8, 4, 1), bn(4)),
        nn.Flatten(), nn.Linear(4 * 6 * 6, 10), nn.BatchNorm1d(10),
    ).to(device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("bn", [bnn.BatchNorm2d, nn.BatchNorm2d])
def test_fold_batchnorm_matches_eval_model(device, bn):
    torch.manual_seed(0)
    model = conv_net(bn, device)
    with torch.no_grad():                          # give the BNs non-trivial statistics and affines
        for _ in range(3):
            model(torch.randn(16, 3, 6, 6, device=device) * 2 + 1)
        for m in model.modules():
            if isinstance(m, (bnn.BatchNorm2d, nn.BatchNorm2d, nn.BatchNorm1d)):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_()
    model.eval()
    folded = bnn.fold_batchnorm(model)
    assert not folded.training and model[1].__class__ is bn           # the original is untouched
    kinds = [type(m) for m in folded.modules()]
    assert not any(k in (bnn.BatchNorm2d, nn.BatchNorm2d, nn.BatchNorm1d) for k in kinds)
    assert kinds.count(nn.Identity) == 4
    x = torch.randn(5, 3, 6, 6, device=device)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), model(x), atol=1e-5, rtol=1e-5)


def test_fold_leaves_unfoldable_batchnorm():
    model = nn.Sequential(nn.ReLU(), nn.BatchNorm1d(4), nn.Linear(4, 4),
                          nn.BatchNorm1d(4, track_running_stats=False))
    folded = bnn.fold_batchnorm(model)
    assert isinstance(folded[1], nn.BatchNorm1d) and isinstance(folded[3], nn.BatchNorm1d)


def test_fold_rejects_non_module():
    with pytest.raises(TypeError, match="expects a torch.nn.Module; got list"):
        bnn.fold_batchnorm([nn.Linear(2, 2)])



@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("cls,shape", [(bnn.GhostBatchNorm1d, (12, 3, 5)), (bnn.GhostBatchNorm2d, (8, 3, 2, 3))])
def test_ghost_affine_and_gradients_match_one_batchnorm_per_ghost_batch(device, cls, shape):
    dtype, v = torch.float64, 4
    m = cls(3, v, device=device, dtype=dtype)
    with torch.no_grad():
        m.weight.copy_(randn((3,), dtype, device, 5, 0.5, 1.0))
        m.bias.copy_(randn((3,), dtype, device, 6))
    x = randn(shape, dtype, device, 0, 2.0, 1.0).requires_grad_(True)
    x_ref = x.detach().clone().requires_grad_(True)
    g = randn(shape, dtype, device, 1)
    y = m(x)
    y.backward(g)
    # Reference: each ghost batch through torch's batch norm on its own, the affine parameters shared.
    w = m.weight.detach().clone().requires_grad_(True)
    b = m.bias.detach().clone().requires_grad_(True)
    y_ref = torch.cat([nn.functional.batch_norm(c, None, None, w, b, True, 0.0, m.eps) for c in x_ref.split(v)])
    y_ref.backward(g)
    close(y, y_ref, dtype)
    close(x.grad, x_ref.grad, dtype)
    close(m.weight.grad, w.grad, dtype)                                # summed over the ghost batches
    close(m.bias.grad, b.grad, dtype)
