"""bnlearn.nn.BatchNorm1d/2d/3d and BatchNormFunction against torch.nn's batch norm.

Parity over a grid (rank x eps x momentum x affine x track_running_stats x dtype
x device): outputs, input and parameter gradients, running statistics and
num_batches_tracked over several training steps, then eval. Plus gradcheck of
the hand-written backward, the drop-in contract (signature, state_dict both
ways, empty batch, one value per channel), and what is saved for backward.
"""
import inspect
import itertools

import pytest
import torch

import bnlearn.nn as bnn
from bnlearn.nn import BatchNormFunction, batch_norm
from _nn_common import DEVICES, SHAPES, TOL, close, one_thread, randn, same_repr  # noqa: F401 (autouse fixture)

# torch.nn.BatchNorm* takes a keyword-only ``bias`` argument only in recent versions (2.13 has it).
needs_bias_kw = pytest.mark.skipif("bias" not in inspect.signature(torch.nn.BatchNorm2d.__init__).parameters,
                                   reason="this torch's BatchNorm has no bias argument")

OURS = {2: bnn.BatchNorm1d, 3: bnn.BatchNorm1d, 4: bnn.BatchNorm2d, 5: bnn.BatchNorm3d}
THEIRS = {2: torch.nn.BatchNorm1d, 3: torch.nn.BatchNorm1d, 4: torch.nn.BatchNorm2d, 5: torch.nn.BatchNorm3d}


def make_pair(rank, device, dtype, seed=0, **kw):
    """Our module and torch's, with the same (non-trivial) parameters."""
    ours = OURS[rank](3, device=device, dtype=dtype, **kw)
    theirs = THEIRS[rank](3, device=device, dtype=dtype, **kw)
    if ours.weight is not None:
        with torch.no_grad():
            ours.weight.copy_(randn(3, dtype, device, seed + 100, 0.5, 1.0))
            if ours.bias is not None:
                ours.bias.copy_(randn(3, dtype, device, seed + 101))
    theirs.load_state_dict(ours.state_dict())
    return ours, theirs


def step_and_compare(ours, theirs, x, g, dtype):
    """One forward + backward through both modules; compare everything."""
    xa = x.clone().requires_grad_(True)
    xb = x.clone().requires_grad_(True)
    ya, yb = ours(xa), theirs(xb)
    close(ya, yb, dtype)
    ya.backward(g)
    yb.backward(g)
    close(xa.grad, xb.grad, dtype)
    for pa, pb in zip(ours.parameters(), theirs.parameters()):
        close(pa.grad, pb.grad, dtype)
        pa.grad = pb.grad = None
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        a, b = getattr(ours, name), getattr(theirs, name)
        if a is None or b is None:
            assert a is None and b is None
        elif name == "num_batches_tracked":
            assert int(a) == int(b)
        else:
            close(a, b, dtype)


GRID = list(itertools.product([2, 3, 4, 5], [1e-5, 1e-3], [0.1, None, 1.0], [True, False], [True, False],
                              [torch.float32, torch.float64]))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("rank,eps,momentum,affine,track,dtype", GRID)
def test_parity_with_torch(device, rank, eps, momentum, affine, track, dtype):
    kw = dict(eps=eps, momentum=momentum, affine=affine, track_running_stats=track)
    ours, theirs = make_pair(rank, device, dtype, **kw)
    shape = SHAPES[rank]
    for step in range(3):                                   # several training steps
        x = randn(shape, dtype, device, seed=step, scale=2.0, shift=0.5 * step)
        g = randn(shape, dtype, device, seed=50 + step)
        step_and_compare(ours, theirs, x, g, dtype)
    ours.eval(), theirs.eval()
    x = randn(shape, dtype, device, seed=9, scale=1.5, shift=0.3)
    step_and_compare(ours, theirs, x, randn(shape, dtype, device, seed=10), dtype)


@needs_bias_kw
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("rank", [2, 4])
def test_parity_without_bias(device, rank):
    ours, theirs = make_pair(rank, device, torch.float64, bias=False)
    assert ours.bias is None and theirs.bias is None
    for step in range(2):
        x = randn(SHAPES[rank], torch.float64, device, seed=step)
        step_and_compare(ours, theirs, x, randn(SHAPES[rank], torch.float64, device, seed=7 + step), torch.float64)


@pytest.mark.parametrize("device", DEVICES)
def test_parity_when_mean_is_large(device):
    # |mean| >> std stresses the cancellation that the centred sums avoid.
    ours, theirs = make_pair(4, device, torch.float64)
    x = randn(SHAPES[4], torch.float64, device, seed=3, scale=1e-2, shift=1e3)
    step_and_compare(ours, theirs, x, randn(SHAPES[4], torch.float64, device, seed=4), torch.float64)


@pytest.mark.parametrize("device", DEVICES)
def test_mixed_precision_bfloat16_input(device):
    ours, theirs = make_pair(4, device, torch.float32)
    x = randn(SHAPES[4], torch.float32, device, seed=0).to(torch.bfloat16).requires_grad_(True)
    x2 = x.detach().clone().requires_grad_(True)
    ya, yb = ours(x), theirs(x2)
    assert ya.dtype == yb.dtype == torch.bfloat16
    torch.testing.assert_close(ya.float(), yb.float(), atol=2e-2, rtol=2e-2)
    torch.testing.assert_close(ours.running_var, theirs.running_var, atol=1e-3, rtol=1e-3)


# --------------------------------------------------------------------------------------------
# gradcheck of the hand-written backward, float64, every rank and flag combination
# --------------------------------------------------------------------------------------------
GC_SHAPES = {2: (5, 3), 3: (3, 3, 2), 4: (2, 3, 2, 2), 5: (2, 3, 2, 1, 2)}


@pytest.mark.parametrize("rank", [2, 3, 4, 5])
@pytest.mark.parametrize("params", ["weight+bias", "weight", "none"])
@pytest.mark.parametrize("mode", ["train", "train-running", "eval"])
def test_gradcheck(rank, params, mode):
    gen = torch.Generator().manual_seed(rank)
    x = torch.randn(GC_SHAPES[rank], generator=gen, dtype=torch.float64).requires_grad_(True)
    w = (torch.rand(3, generator=gen, dtype=torch.float64) + 0.5).requires_grad_(True) if params != "none" else None
    b = torch.randn(3, generator=gen, dtype=torch.float64).requires_grad_(True) if params == "weight+bias" else None
    rm = rv = None
    if mode != "train":
        rm = torch.randn(3, generator=gen, dtype=torch.float64)
        rv = torch.rand(3, generator=gen, dtype=torch.float64) + 0.5
    training = mode != "eval"
    inputs = tuple(t for t in (x, w, b) if t is not None)

    def f(*args):
        it = iter(args)
        xx = next(it)
        ww = next(it) if w is not None else None
        bb = next(it) if b is not None else None
        return BatchNormFunction.apply(xx, ww, bb, rm, rv, training, 0.1, 1e-5)

    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-7, rtol=1e-5)


def test_double_backward_is_refused():
    x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    y = batch_norm(x, None, None, training=True)
    (gx,) = torch.autograd.grad((y ** 3).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable|double backward|does not require grad"):
        gx.sum().backward()


# --------------------------------------------------------------------------------------------
# Drop-in contract
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ours,theirs", [(bnn.BatchNorm1d, torch.nn.BatchNorm1d),
                                         (bnn.BatchNorm2d, torch.nn.BatchNorm2d),
                                         (bnn.BatchNorm3d, torch.nn.BatchNorm3d)])
def test_constructor_accepts_every_torch_argument(ours, theirs):
    sig_ours = inspect.signature(ours.__init__).parameters
    sig_theirs = inspect.signature(theirs.__init__).parameters
    for name, p in sig_theirs.items():
        assert name in sig_ours, f"{ours.__name__} lacks argument {name!r}"
        assert sig_ours[name].default == p.default, name
        assert sig_ours[name].kind == p.kind, name
    # Positional order is the same, so positional calls mean the same thing.
    pos = lambda s: [n for n, p in s.items() if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert pos(sig_ours) == pos(sig_theirs)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kw", [{}, {"affine": False}, {"track_running_stats": False},
                                pytest.param({"bias": False}, marks=needs_bias_kw), {"momentum": None}])
def test_state_dict_loads_both_ways(device, kw):
    ours, theirs = make_pair(4, device, torch.float32, **kw)
    for step in range(3):
        theirs(randn(SHAPES[4], torch.float32, device, seed=step))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict())              # torch -> ours
    x = randn(SHAPES[4], torch.float32, device, seed=11)
    ours.eval(), theirs.eval()
    close(ours(x), theirs(x), torch.float32)
    ours.train()
    for step in range(2):
        ours(randn(SHAPES[4], torch.float32, device, seed=20 + step))
    fresh = torch.nn.BatchNorm2d(3, device=device, **kw)
    fresh.load_state_dict(ours.state_dict())               # ours -> torch
    ours.eval(), fresh.eval()
    close(ours(x), fresh(x), torch.float32)


def test_old_state_dict_without_num_batches_tracked_loads():
    sd = torch.nn.BatchNorm2d(3).state_dict()
    del sd["num_batches_tracked"]
    sd._metadata[""]["version"] = 1
    m = bnn.BatchNorm2d(3)
    m.num_batches_tracked.fill_(5)
    m.load_state_dict(sd)
    assert int(m.num_batches_tracked) == 0


@pytest.mark.parametrize("kw", [{"momentum": None}, pytest.param({"bias": False}, marks=needs_bias_kw)])
def test_repr_reset_and_attributes_match_torch(kw):
    ours, theirs = bnn.BatchNorm2d(5, **kw), torch.nn.BatchNorm2d(5, **kw)
    same_repr(ours, theirs)
    ours(torch.randn(4, 5, 2, 2))
    with torch.no_grad():
        ours.weight.fill_(3.0)
    ours.reset_running_stats()
    assert torch.equal(ours.running_mean, torch.zeros(5)) and torch.equal(ours.running_var, torch.ones(5))
    assert int(ours.num_batches_tracked) == 0 and torch.equal(ours.weight, torch.full((5,), 3.0))
    ours.reset_parameters()
    assert torch.equal(ours.weight, torch.ones(5))
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", [(0, 3, 4, 4), (2, 3, 0, 4)])
@pytest.mark.parametrize("track", [True, False])
def test_empty_batch_like_torch(device, shape, track):
    ours, theirs = make_pair(4, device, torch.float32, track_running_stats=track)
    xa = torch.randn(shape, device=device, requires_grad=True)
    xb = xa.detach().clone().requires_grad_(True)
    ya, yb = ours(xa), theirs(xb)
    assert ya.shape == yb.shape == torch.Size(shape)
    ya.sum().backward()
    yb.sum().backward()
    assert xa.grad.shape == xb.grad.shape
    for pa, pb in zip(ours.parameters(), theirs.parameters()):
        close(pa.grad, pb.grad, torch.float32)
    for name in ("running_mean", "running_var"):
        close(getattr(ours, name), getattr(theirs, name), torch.float32)
    if track:
        assert int(ours.num_batches_tracked) == int(theirs.num_batches_tracked) == 1
    ours.eval(), theirs.eval()
    assert ours(xa).shape == theirs(xb).shape


@pytest.mark.parametrize("shape", [(1, 3), (1, 3, 1), (1, 3, 1, 1), (1, 3, 1, 1, 1)])
def test_one_value_per_channel_in_training_is_the_same_error(shape):
    rank = len(shape)
    x = torch.randn(shape)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        THEIRS[rank](3)(x)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        OURS[rank](3)(x)
    m = OURS[rank](3)
    m.eval()                                                # eval with running stats: fine, as in torch
    assert m(x).shape == x.shape
    m = OURS[rank](3, track_running_stats=False).eval()     # eval without them: batch stats, so an error
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        m(x)


def test_eval_without_running_stats_uses_batch_statistics():
    m = bnn.BatchNorm1d(2, track_running_stats=False, affine=False).eval()
    x = torch.tensor([[1.0, 10.0], [3.0, 30.0]])
    # Batch statistics: each column becomes (-1, +1) up to eps.
    torch.testing.assert_close(m(x), torch.tensor([[-1.0, -1.0], [1.0, 1.0]]), atol=1e-4, rtol=0)


def test_momentum_none_is_cumulative_average():
    m = bnn.BatchNorm1d(1, momentum=None, affine=False)
    xs = [torch.tensor([[0.0], [2.0]]), torch.tensor([[4.0], [8.0]]), torch.tensor([[1.0], [1.0]])]
    for x in xs:
        m(x)
    # Running mean is the plain average of the batch means (1, 6, 1) -> 8/3.
    assert abs(m.running_mean.item() - 8.0 / 3.0) < 1e-6
    # Unbiased variances (2, 8, 0) -> 10/3.
    assert abs(m.running_var.item() - 10.0 / 3.0) < 1e-6


def test_no_call_into_torch_normalisation_kernels(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("a torch normalisation kernel was called")

    for mod, name in [(torch.nn.functional, "batch_norm"), (torch, "batch_norm"),
                      (torch.nn.functional, "layer_norm"), (torch.nn.functional, "group_norm"),
                      (torch, "layer_norm"), (torch, "group_norm"), (torch, "native_batch_norm"),
                      (torch, "instance_norm"), (torch.nn.functional, "instance_norm")]:
        monkeypatch.setattr(mod, name, boom)
    with pytest.raises(AssertionError, match="kernel was called"):
        torch.nn.BatchNorm2d(3)(torch.randn(2, 3, 2, 2))      # the patch really bites
    modules = [bnn.BatchNorm1d(3), bnn.BatchNorm2d(3), bnn.BatchNorm3d(3), bnn.LayerNorm(4),
               bnn.GroupNorm(1, 3), bnn.BatchRenorm2d(3), bnn.GhostBatchNorm2d(3, 2), bnn.SyncBatchNorm(3)]
    inputs = [torch.randn(4, 3), torch.randn(4, 3, 2, 2), torch.randn(2, 3, 2, 2, 2), torch.randn(2, 3, 4),
              torch.randn(4, 3, 2, 2), torch.randn(4, 3, 2, 2), torch.randn(4, 3, 2, 2), torch.randn(4, 3, 2)]
    for m, x in zip(modules, inputs):
        for mode in (True, False):
            m.train(mode)
            xx = x.detach().clone().requires_grad_(True)
            m(xx).square().sum().backward()
            assert xx.grad is not None and torch.isfinite(xx.grad).all()
    folded = bnn.fold_batchnorm(torch.nn.Sequential(torch.nn.Conv2d(3, 3, 1), bnn.BatchNorm2d(3)))
    folded(torch.randn(2, 3, 2, 2))


@pytest.mark.parametrize("device", DEVICES)
def test_saved_for_backward_is_the_input_plus_channel_vectors(device):
    x = torch.randn(8, 16, 6, 6, device=device, requires_grad=True)
    m = bnn.BatchNorm2d(16, device=device)
    saved = []

    def pack(t):
        saved.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y = m(x)
    big = [t for t in saved if t.numel() > 16]
    small = [t for t in saved if t.numel() <= 16]
    assert len(big) == 1 and big[0].data_ptr() == x.data_ptr()   # the input itself, no copy
    assert all(t.dim() == 1 and t.numel() == 16 for t in small) and len(small) <= 4
    y.sum().backward()
