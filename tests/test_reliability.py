"""Reliability: every bad input or fault gets a clear error or a right answer (issue 12).

One section per class of the adversarial probe: folding, precise BN,
TorchScript, hyperparameters checked when set, sizes near the integer limits,
magnitudes near the float limits, empty inputs, NaN in training data, and the
torch-free parts of the package. The command's output folder and ``--set``
checks are tested in ``test_cli.py``.
"""
from __future__ import annotations

import io
import math
import pickle
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

import bnlearn.nn as bnn
from bnlearn import _validation, experiments, models, scaling, scratch
from bnlearn import train as training
from bnlearn.data import load_digits
from bnlearn.experiments import Rule, resolve_settings
from _nn_common import one_thread, same_repr  # noqa: F401 (autouse fixture)

# torch 2.13 marks TorchScript deprecated; the book's modules must still script (the drop-in promise).
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.:DeprecationWarning")


def _prime(model, shape=(32, 4), steps=3, seed=0):
    """Give every batch norm of ``model`` non-trivial statistics and affines; return it in eval mode."""
    g = torch.Generator().manual_seed(seed)
    model.train()
    with torch.no_grad():
        for _ in range(steps):
            model(torch.randn(shape, generator=g) * 2 + 1)
        for m in model.modules():
            if isinstance(m, (nn.modules.batchnorm._BatchNorm, bnn.BatchNorm1d, bnn.BatchNorm2d)):
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.normal_(generator=g)
    return model.eval()


# ===================================================================== fold_batchnorm
def test_fold_refuses_a_parametrized_linear():
    model = _prime(nn.Sequential(nn.utils.parametrizations.weight_norm(nn.Linear(4, 4)), nn.BatchNorm1d(4)))
    with pytest.raises(ValueError, match=r"cannot fold BatchNorm1d '1' into ParametrizedLinear '0': its weight is "
                                         r"parametrized"):
        bnn.fold_batchnorm(model)
    assert isinstance(model[1], nn.BatchNorm1d)                       # the model itself is untouched


def test_fold_refuses_a_linear_shared_with_another_branch():
    lin = nn.Linear(4, 4)

    class TwoBranches(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Sequential(lin, nn.BatchNorm1d(4))
            self.b = lin

        def forward(self, x):
            return self.a(x) + self.b(x)

    model = _prime(TwoBranches())
    with pytest.raises(ValueError, match=r"cannot fold BatchNorm1d 'a.1' into Linear 'a.0': it appears 2 times"):
        bnn.fold_batchnorm(model)


def test_fold_refuses_tied_weights_hooks_and_subclasses():
    first, second = nn.Linear(4, 4), nn.Linear(4, 4)
    second.weight = first.weight
    with pytest.raises(ValueError, match="its weight is shared with another module"):
        bnn.fold_batchnorm(_prime(nn.Sequential(first, nn.BatchNorm1d(4), second)))
    with pytest.warns(FutureWarning):
        old_style = nn.utils.weight_norm(nn.Linear(4, 4))             # recomputes weight in a forward pre-hook
    with pytest.raises(ValueError, match="it has hooks"):
        bnn.fold_batchnorm(_prime(nn.Sequential(old_style, nn.BatchNorm1d(4))))

    class Squared(nn.Linear):
        def forward(self, x):
            return super().forward(x) ** 2

    with pytest.raises(ValueError, match="it is a Squared, a subclass of Linear"):
        bnn.fold_batchnorm(_prime(nn.Sequential(Squared(4, 4), nn.BatchNorm1d(4))))
    hooked = _prime(nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)))
    hooked[1].register_forward_hook(lambda m, i, o: o * 2)
    with pytest.raises(ValueError, match="the batch norm has hooks"):
        bnn.fold_batchnorm(hooked)


def test_fold_refuses_weights_that_do_not_fit_the_dtype():
    model = _prime(nn.Sequential(nn.Linear(4, 4), bnn.BatchNorm1d(4, eps=1e-44)))
    with torch.no_grad():
        model[1].running_var.zero_()
        model[1].running_mean.fill_(1e30)                              # bias a (c - mean) ~ 1e52: not a float32
    with pytest.raises(ValueError, match=r"gives bias that are not finite in torch.float32 for output channel"):
        bnn.fold_batchnorm(model)


def test_fold_still_folds_plain_layers_exactly():
    model = _prime(nn.Sequential(nn.Linear(4, 4), bnn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2),
                                 nn.BatchNorm1d(2)))
    folded = bnn.fold_batchnorm(model)
    assert [type(m) for m in folded] == [nn.Linear, nn.Identity, nn.ReLU, nn.Linear, nn.Identity]
    x = torch.randn(8, 4)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), model(x), atol=1e-5, rtol=1e-5)


# ===================================================================== precise_bn
def _two_layer_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), bnn.BatchNorm1d(4), nn.Linear(4, 4), nn.BatchNorm1d(4))


def _stats(model):
    return [t.clone() for _, m in bnn.batchnorm_layers(model) for t in (m.running_mean, m.running_var)]


@pytest.mark.parametrize("chunk_size", [None, 16])
def test_precise_bn_writes_nothing_when_a_later_layer_sees_infinity(chunk_size):
    model = _two_layer_net()
    with torch.no_grad():
        model[2].weight[1, 0] = float("inf")                           # layer 3's input channel 1 is inf
    before = _stats(model)
    with pytest.raises(ValueError, match=r"the input of batch-norm layer '3' \(BatchNorm1d\(4\)\) has an infinite "
                                         r"value in channel 1"):
        bnn.precise_bn(model, torch.randn(64, 3), chunk_size=chunk_size)
    assert all(torch.equal(a, b) for a, b in zip(before, _stats(model)))   # layer '1' too: all or nothing
    assert model.training                                              # its mode is restored


def test_precise_bn_refuses_nan_naming_layer_and_channel():
    model = nn.Sequential(bnn.BatchNorm1d(3))
    x = torch.randn(64, 3)
    x[5, 1] = float("nan")
    with pytest.raises(ValueError, match=r"layer '0' \(BatchNorm1d\(3\)\) has a NaN in channel 1"):
        bnn.precise_bn(model, x)
    x[:, 1] = 1.0
    x[:, 2] = float("nan")                                             # a whole column: not "saw only 0 values"
    with pytest.raises(ValueError, match="has a NaN in channel 2"):
        bnn.precise_bn(model, x)
    assert torch.equal(model[0].running_mean, torch.zeros(3)) and torch.equal(model[0].running_var, torch.ones(3))


def test_precise_bn_refuses_statistics_that_do_not_fit_the_buffers():
    model = nn.Sequential(bnn.BatchNorm1d(3))
    with pytest.raises(ValueError, match=r"the variance .* of channel 0 of batch-norm layer '0' .* does not fit its "
                                         r"torch.float32 buffers"):
        bnn.precise_bn(model, torch.randn(16, 3) * 1e20)
    bnn.precise_bn(model.double(), torch.randn(16, 3, dtype=torch.float64) * 1e20)   # float64 holds them
    assert torch.isfinite(model[0].running_var).all() and model[0].running_var.min() > 1e38


@pytest.mark.parametrize("fault", [RuntimeError("a bug in the model"), KeyboardInterrupt()])
def test_precise_bn_restores_every_layer_when_the_forward_fails(fault):
    class Fails(nn.Module):
        def forward(self, x):
            raise fault

    model = nn.Sequential(nn.Linear(3, 4), bnn.BatchNorm1d(4), Fails(), nn.BatchNorm1d(4))
    before = _stats(model)
    with pytest.raises(type(fault)):
        bnn.precise_bn(model, torch.randn(32, 3))
    assert all(torch.equal(a, b) for a, b in zip(before, _stats(model)))
    assert model.training                                              # the mode is restored too


def test_precise_bn_still_sets_population_statistics():
    model = _two_layer_net()
    x = torch.randn(64, 3)
    bnn.precise_bn(model, x)
    h = model[0](x)
    torch.testing.assert_close(model[1].running_mean, h.mean(0), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(model[1].running_var, h.var(0), atol=1e-5, rtol=1e-5)


# ===================================================================== TorchScript
SCRIPT_CASES = [(bnn.BatchNorm1d, nn.BatchNorm1d, (8, 3)), (bnn.BatchNorm1d, nn.BatchNorm1d, (6, 3, 5)),
                (bnn.BatchNorm2d, nn.BatchNorm2d, (4, 3, 5, 4)), (bnn.BatchNorm3d, nn.BatchNorm3d, (3, 3, 2, 4, 3))]
SCRIPT_KW = [{}, {"momentum": None}, {"affine": False}, {"track_running_stats": False}, {"bias": False},
             {"eps": 1e-3, "momentum": 0.3}]


def _scripted_pair(ours, theirs):
    """Give ours a non-trivial affine part, copy it into theirs, and script both."""
    if ours.weight is not None:
        with torch.no_grad():
            ours.weight.uniform_(0.5, 1.5)
            if ours.bias is not None:
                ours.bias.normal_()
    theirs.load_state_dict(ours.state_dict())
    return torch.jit.script(ours), torch.jit.script(theirs)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kw", SCRIPT_KW, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()) or "default")
@pytest.mark.parametrize("ours_cls, theirs_cls, shape", SCRIPT_CASES, ids=lambda v: getattr(v, "__name__", str(v)))
def test_scripted_batchnorm_matches_scripted_torch(ours_cls, theirs_cls, shape, kw, dtype):
    tol = {torch.float32: 1e-5, torch.float64: 1e-10}[dtype]
    ours, theirs = ours_cls(3, dtype=dtype, **kw), theirs_cls(3, dtype=dtype, **kw)
    sa, sb = _scripted_pair(ours, theirs)
    assert isinstance(sa, torch.jit.ScriptModule)
    assert (sa.eps, sa.momentum, sa.num_features) == (sb.eps, sb.momentum, sb.num_features)
    g = torch.Generator().manual_seed(1)
    for step, mode in enumerate(["train", "train", "train", "eval", "train"]):
        sa.train(mode == "train"), sb.train(mode == "train")
        x = torch.randn(shape, generator=g, dtype=dtype) * 2 + step
        grad = torch.randn(shape, generator=g, dtype=dtype)
        xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
        ya, yb = sa(xa), sb(xb)
        ya.backward(grad)
        yb.backward(grad)
        torch.testing.assert_close(ya, yb, atol=tol, rtol=tol)
        torch.testing.assert_close(xa.grad, xb.grad, atol=tol, rtol=tol)
        for pa, pb in zip(sa.parameters(), sb.parameters()):
            torch.testing.assert_close(pa.grad, pb.grad, atol=tol * 10, rtol=tol)
            pa.grad = pb.grad = None
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            a, b = getattr(sa, name), getattr(sb, name)
            assert (a is None) == (b is None)
            if a is not None:
                torch.testing.assert_close(a, b, atol=tol, rtol=tol)
    # state_dict both ways, and a scripted module survives save and load
    theirs.load_state_dict(sa.state_dict())
    ours_cls(3, dtype=dtype, **kw).load_state_dict(sb.state_dict())
    buf = io.BytesIO()
    torch.jit.save(sa, buf)
    buf.seek(0)
    loaded = torch.jit.load(buf).eval()
    x = torch.randn(shape, dtype=dtype)
    torch.testing.assert_close(loaded(x), sb.eval()(x), atol=tol, rtol=tol)


def test_scripted_model_of_the_book_runs():
    model = models.paper_mlp(True, in_features=64, seed=0)
    scripted = torch.jit.script(model)
    x = torch.randn(16, 64)
    torch.testing.assert_close(scripted(x), model(x))


@pytest.mark.parametrize("make_ours, make_theirs, shape", [
    (lambda: bnn.LayerNorm((4, 5)), lambda: nn.LayerNorm((4, 5)), (3, 2, 4, 5)),
    (lambda: bnn.LayerNorm(5, bias=False), lambda: nn.LayerNorm(5, bias=False), (3, 5)),
    (lambda: bnn.GroupNorm(2, 4), lambda: nn.GroupNorm(2, 4), (3, 4, 5, 2)),
    (lambda: bnn.GroupNorm(4, 4, affine=False), lambda: nn.GroupNorm(4, 4, affine=False), (3, 4, 6)),
])
def test_scripted_layer_and_group_norm_match_scripted_torch(make_ours, make_theirs, shape):
    ours, theirs = make_ours().double(), make_theirs().double()
    sa, sb = _scripted_pair(ours, theirs)
    x = torch.randn(shape, dtype=torch.float64) * 3 + 1
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    grad = torch.randn(shape, dtype=torch.float64)
    sa(xa).backward(grad)
    sb(xb).backward(grad)
    torch.testing.assert_close(sa(x), sb(x), atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(xa.grad, xb.grad, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("make, shape", [
    (lambda: bnn.GhostBatchNorm1d(3, 4), (8, 3)), (lambda: bnn.GhostBatchNorm2d(3, 2), (4, 3, 5, 2)),
    (lambda: bnn.BatchRenorm1d(3, warmup_steps=1, ramp_steps=2), (8, 3)),
    (lambda: bnn.BatchRenorm2d(3, rmax=2.0, dmax=1.0), (4, 3, 5, 2)),
])
def test_scripted_ghost_and_renorm_match_their_eager_selves(make, shape):
    eager = make().double()
    scripted = torch.jit.script(make().double())
    scripted.load_state_dict(eager.state_dict())
    g = torch.Generator().manual_seed(0)
    for step, mode in enumerate(["train", "train", "train", "eval"]):
        eager.train(mode == "train"), scripted.train(mode == "train")
        x = torch.randn(shape, generator=g, dtype=torch.float64) * 2 + step
        grad = torch.randn(shape, generator=g, dtype=torch.float64)
        xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
        ya, yb = eager(xa), scripted(xb)
        ya.backward(grad)
        yb.backward(grad)
        torch.testing.assert_close(ya, yb, atol=1e-10, rtol=1e-10)
        torch.testing.assert_close(xa.grad, xb.grad, atol=1e-10, rtol=1e-10)
        torch.testing.assert_close(eager.running_var, scripted.running_var, atol=1e-10, rtol=1e-10)
        assert int(eager.num_batches_tracked) == int(scripted.num_batches_tracked)


def test_sync_batchnorm_says_it_cannot_be_scripted():
    with pytest.raises(TypeError, match=r"SyncBatchNorm\(3\): SyncBatchNorm cannot be compiled by torch.jit.script"):
        torch.jit.script(bnn.SyncBatchNorm(3))
    assert "TorchScript cannot compile it" in bnn.SyncBatchNorm.__doc__


def test_scripted_modules_check_their_input():
    scripted = torch.jit.script(bnn.BatchNorm2d(3))
    with pytest.raises(Exception, match=r"BatchNorm2d\(3\) expects input of shape \(N, 3, \.\.\.\); got \(2, 4, 5, 5\)"):
        scripted(torch.randn(2, 4, 5, 5))
    with pytest.raises(Exception, match="Expected more than 1 value per channel when training"):
        scripted(torch.randn(1, 3, 1, 1))


# ===================================================================== hyperparameters, checked when set
@pytest.mark.parametrize("make, attr, bad, exc, message", [
    (lambda: bnn.BatchNorm2d(4), "eps", 0.0, ValueError, r"BatchNorm2d\(4\): eps must be a finite float > 0; got 0.0"),
    (lambda: bnn.BatchNorm2d(4), "eps", 1e-50, ValueError, "that float32 represents"),
    (lambda: bnn.BatchNorm2d(4), "eps", "1e-5", TypeError, "eps must be a float > 0; got '1e-5'"),
    (lambda: bnn.BatchNorm1d(4), "momentum", 1.5, ValueError, r"momentum must be None or a float in \[0, 1\]; got 1.5"),
    (lambda: bnn.BatchNorm3d(4), "momentum", float("nan"), ValueError, "momentum must be None or a float"),
    (lambda: bnn.LayerNorm(4), "eps", -1.0, ValueError, r"LayerNorm\(\(4,\)\): eps must be a finite float > 0"),
    (lambda: bnn.GroupNorm(2, 4), "eps", float("inf"), ValueError, r"GroupNorm\(2, 4\): eps must be a finite"),
    (lambda: bnn.GhostBatchNorm1d(4, 2), "virtual_batch_size", 0, ValueError, "virtual_batch_size must be a positive"),
    (lambda: bnn.BatchRenorm1d(4), "rmax", 0.5, ValueError, "rmax must be a finite float >= 1; got 0.5"),
    (lambda: bnn.BatchRenorm1d(4), "dmax", float("nan"), ValueError, "dmax must be a finite float >= 0"),
    (lambda: bnn.BatchRenorm1d(4), "warmup_steps", -1, ValueError, "warmup_steps must be an int >= 0; got -1"),
    (lambda: bnn.SyncBatchNorm(4), "momentum", -0.1, ValueError, "momentum must be None or a float"),
])
def test_hyperparameters_are_checked_when_set(make, attr, bad, exc, message):
    module = make()
    before = getattr(module, attr)
    with pytest.raises(exc, match=message):
        setattr(module, attr, bad)
    assert getattr(module, attr) == before                             # unchanged after a refused assignment


def test_hyperparameters_keep_what_they_are_given_and_pickle():
    bn = bnn.BatchNorm2d(3, eps=1e-3, momentum=None)
    bn.eps = np.float64(2e-3)                                          # a NumPy scalar becomes a Python float
    assert type(bn.eps) is float and bn.eps == 2e-3 and bn.momentum is None
    same_repr(bn, nn.BatchNorm2d(3, eps=2e-3, momentum=None))
    copy = pickle.loads(pickle.dumps(bn))
    assert (copy.eps, copy.momentum) == (2e-3, None)
    # a module pickled when eps and momentum were plain attributes still loads
    state = bn.__dict__.copy()
    state["eps"], state["momentum"] = state.pop("_eps"), state.pop("_momentum")
    old = bnn.BatchNorm2d.__new__(bnn.BatchNorm2d)
    old.__setstate__(state)
    assert (old.eps, old.momentum) == (2e-3, None)


def test_forward_does_not_recheck_hyperparameters(monkeypatch):
    """They are checked when set; the forward pass checks only its input."""
    import bnlearn.nn._checks as checks

    bn = bnn.BatchNorm2d(3)
    calls = []
    monkeypatch.setattr(checks._v, "check_eps", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(checks._v, "check_momentum", lambda *a, **k: calls.append(a))
    bn(torch.randn(4, 3, 2, 2))
    bn.eval()(torch.randn(4, 3, 2, 2))
    assert calls == []


# ===================================================================== sizes near the integer limits
@pytest.mark.parametrize("make, message", [
    (lambda: bnn.BatchNorm2d(2**64), r"BatchNorm2d: num_features must be a positive int \(at most 9223372036854775807\); "
                                     r"got 18446744073709551616"),
    (lambda: bnn.GroupNorm(2**64, 2**64), r"num_groups must be a positive int \(at most 9223372036854775807\)"),
    (lambda: bnn.LayerNorm(2**64), "normalized_shape must be a positive int or a non-empty sequence"),
    (lambda: bnn.LayerNorm((2**40, 2**40)), r"with a product of at most 2\*\*63 - 1"),
    (lambda: bnn.GhostBatchNorm1d(3, 2**64), r"virtual_batch_size must be a positive int \(at most"),
    (lambda: bnn.BatchRenorm1d(3, warmup_steps=2**64), r"warmup_steps must be an int >= 0 \(at most"),
    (lambda: scratch.BatchNorm(2**62), r"BatchNorm\(4611686018427387904\) would need .* at most 1024 GiB"),
    (lambda: scratch.Linear(2**40, 2**40), r"Linear\(1099511627776, 1099511627776\) would need"),
    (lambda: scratch.BatchNorm(2**64), "num_features must be a positive int at most 2\\*\\*63 - 1"),
])
def test_huge_sizes_are_named_not_overflowed(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_messages_stay_readable_for_huge_ints():
    huge = 10**5000                                                   # str() of it raises in Python >= 3.11
    with pytest.raises(ValueError, match=r"got about 10\*\*5000 \(an int of 16610 bits\)"):
        _validation.check_int(huge, "steps", "train", low=1)
    assert _validation.describe(2**64) == "18446744073709551616"
    with pytest.raises(ValueError, match=r"steps must be <= 2147483647; got 1000000000000000000000"):
        training.train(models.paper_mlp(True, seed=0), load_digits(), steps=10**21)
    with pytest.raises(ValueError, match=r"steps must be <= 2147483647; got about 10\*\*99"):
        training.train(models.paper_mlp(True, seed=0), load_digits(), steps=10**99)
    with pytest.raises(ValueError, match=r"seed must be <= \d+ \(the seeds of a run"):
        experiments.run("paper-fig1", seed=2**70)


# ===================================================================== the settings of experiments
SETTINGS = {"book": {"steps": 10, "lr": 0.1, "lrs": (0.1, 1.0), "label_noise": 0.2, "ghost_sizes": (2, 4),
                     "warm_steps": 3, "article": {"a": 0.1}, "activations": ("tanh",), "target": None,
                     "unit": 0, "flag": True, "threshold": 0.5}}


@pytest.mark.parametrize("override, exc, message", [
    ({"steps": 0}, ValueError, r"demo needs steps >= 1; got 0 \(steps accepts a positive int"),
    ({"steps": 2.0}, TypeError, "demo setting 'steps' must be like its default 10; got 2.0"),
    ({"lr": 0.0}, ValueError, "demo needs lr > 0; got 0.0"),
    ({"lr": math.inf}, ValueError, "demo needs lr to be finite; got inf"),
    ({"lr": 1e39}, ValueError, r"demo needs lr <= 3.40282e\+38; got 1e\+39"),
    ({"lrs": (0.1, -2.0)}, ValueError, "learning rates must be positive numbers; got -2.0"),
    ({"lrs": ()}, ValueError, "lrs must be a non-empty sequence"),
    ({"label_noise": 1.5}, ValueError, r"demo needs label_noise <= 1; got 1.5"),
    ({"ghost_sizes": (2, 0)}, ValueError, "ghost batch sizes must be positive ints; got 0"),
    ({"warm_steps": -1}, ValueError, "demo needs warm_steps >= 1; got -1"),       # by its suffix
    ({"article": {"b": 0.1}}, ValueError, r"'article' must have the keys \['a'\]; got \['b'\]"),
    ({"article": {"a": "x"}}, TypeError, "setting \"article\\['a'\\]\" must be like its default 0.1"),
    ({"activations": ("tanh", 3)}, TypeError, "setting 'activations' must be like its default"),
    ({"threshold": 1.5}, ValueError, "demo needs threshold <= 1; got 1.5"),
    ({"flag": 1}, TypeError, "setting 'flag' must be like its default True; got 1"),
    ({"unit": 2**70}, ValueError, r"demo needs unit <= 2147483647; got 1180591620717411303424"),
    ({"unit": 10**40}, ValueError, r"demo needs unit <= 2147483647; got about 10\*\*40"),
    ({"stepz": 1}, TypeError, r"demo got unknown setting\(s\) \['stepz'\]"),
])
def test_every_override_is_checked_for_type_and_range(override, exc, message):
    with pytest.raises(exc, match=message):
        resolve_settings("demo", SETTINGS, "book", override)


def test_good_overrides_and_an_experiments_own_rule():
    cfg = resolve_settings("demo", SETTINGS, "book", {"steps": np.int64(5), "lrs": [2, 0.5], "threshold": 0.9,
                                                        "article": {"a": 1}, "unit": 3})
    assert cfg["steps"] == 5 and cfg["lrs"] == [2, 0.5] and cfg["article"] == {"a": 1}
    assert SETTINGS["book"]["steps"] == 10                                # the table itself is not changed
    with pytest.raises(ValueError, match=r"demo needs unit <= 99; got 100 \(unit accepts an int in \[0, 99\]\)"):
        resolve_settings("demo", SETTINGS, "book", {"unit": 100}, rules={"unit": Rule("int", 0, 99)})


# ===================================================================== magnitudes near the float limits
def _reference_bn(x64, eps=1e-300):
    """Batch norm of float64 data already scaled to order one, with a negligible eps."""
    dims = [0] + list(range(2, x64.dim()))
    shape = [1, -1] + [1] * (x64.dim() - 2)
    mean = x64.mean(dims)
    var = x64.var(dims, unbiased=False)
    return (x64 - mean.view(shape)) / torch.sqrt(var.view(shape) + eps)


@pytest.mark.parametrize("dtype, big", [(torch.float32, 1e20), (torch.float32, 3e38), (torch.float64, 1e300),
                                        (torch.float64, 1.7e308)])
@pytest.mark.parametrize("scripted", [False, True])
def test_batchnorm_gives_right_answers_for_finite_extreme_inputs(dtype, big, scripted):
    g = torch.Generator().manual_seed(0)
    unit = torch.randn(16, 3, 4, 4, generator=g, dtype=torch.float64)
    unit = unit / unit.abs().amax()
    x = (unit * big).to(dtype)
    assert torch.isfinite(x).all()
    module = bnn.BatchNorm2d(3, dtype=dtype)
    if scripted:
        module = torch.jit.script(module)
    xa = x.clone().requires_grad_()
    y = module(xa)
    ref_in = unit.clone().requires_grad_()
    ref = _reference_bn(ref_in)
    grad = torch.randn(ref.shape, generator=g, dtype=torch.float64)
    y.backward(grad.to(dtype))
    ref.backward(grad)
    tol = 2e-5 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(y.double(), ref, atol=tol, rtol=tol)
    torch.testing.assert_close(xa.grad.double() * big, ref_in.grad, atol=tol * 10, rtol=tol * 10)
    assert torch.isinf(module.running_var).all()                       # s^2 sigma^2 exceeds every float: inf


@pytest.mark.parametrize("make", [lambda: bnn.LayerNorm((3, 4, 4)), lambda: bnn.GroupNorm(3, 3)])
def test_layer_and_group_norm_give_right_answers_for_extreme_inputs(make):
    unit = torch.randn(4, 3, 4, 4, dtype=torch.float64)
    unit = unit / unit.abs().amax()
    module = make()
    y = module((unit * 1e30).float())
    ref = make().double()
    ref.eps = 1e-40                                                    # eps / s^2: negligible at this scale
    assert torch.isfinite(y).all()
    torch.testing.assert_close(y.double(), ref(unit), atol=1e-4, rtol=1e-4)


def test_nan_input_propagates_like_torch():
    x = torch.randn(8, 3)
    x[0, 0] = float("nan")
    ours, theirs = bnn.BatchNorm1d(3)(x), nn.BatchNorm1d(3)(x)
    assert torch.isnan(ours[:, 0]).all() and torch.isnan(theirs[:, 0]).all()
    torch.testing.assert_close(ours[:, 1:], theirs[:, 1:])


@pytest.mark.parametrize("dtype, big", [(np.float32, 1e20), (np.float32, 3e38), (np.float64, 1e300),
                                        (np.float64, 1.7e308)])
def test_scratch_batchnorm_gives_right_answers_for_finite_extreme_inputs(dtype, big):
    rng = np.random.default_rng(0)
    unit = rng.standard_normal((8, 3))
    unit /= np.abs(unit).max()
    gamma, beta = rng.uniform(0.5, 1.5, 3), rng.standard_normal(3)
    dout = rng.standard_normal((8, 3))
    out, cache = scratch.batchnorm_forward((unit * big).astype(dtype), gamma.astype(dtype), beta.astype(dtype))
    dx, dgamma, dbeta = scratch.batchnorm_backward(dout.astype(dtype), cache)
    ref, ref_cache = scratch.batchnorm_forward(unit, gamma, beta, eps=1e-300)
    rdx, rdgamma, rdbeta = scratch.batchnorm_backward(dout, ref_cache)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, ref, rtol=tol, atol=tol)
    np.testing.assert_allclose(dx.astype(np.float64) * big, rdx, rtol=10 * tol, atol=10 * tol)
    np.testing.assert_allclose(dgamma, rdgamma, rtol=tol, atol=tol)
    np.testing.assert_allclose(dbeta, rdbeta, rtol=tol, atol=tol)
    # and a gradient near the limit: the backward is linear in it
    _, small_cache = scratch.batchnorm_forward(unit.astype(dtype), gamma.astype(dtype), beta.astype(dtype))
    dx2, _, _ = scratch.batchnorm_backward((dout / np.abs(dout).max() * big / 4).astype(dtype), small_cache)
    _, c64 = scratch.batchnorm_forward(unit, gamma, beta)
    rdx2, _, _ = scratch.batchnorm_backward(dout / np.abs(dout).max() / 4, c64)
    np.testing.assert_allclose(dx2.astype(np.float64) / big, rdx2, rtol=10 * tol, atol=10 * tol)


def test_scaling_gives_right_answers_near_the_float64_limit():
    x = np.array([[1e308, -1e308], [-1e308, 1e308], [5e307, 0.0], [-5e307, 1.5e308]])
    unit = x / 1e308
    np.testing.assert_allclose(scaling.standardize(x), scaling.standardize(unit), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(scaling.min_max_scale(x), scaling.min_max_scale(unit), rtol=1e-12, atol=1e-12)
    mm = scaling.MinMaxScaler().fit(x)
    np.testing.assert_allclose(mm.transform(x), scaling.min_max_scale(unit), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(mm.inverse_transform(mm.transform(x)) / 1e308, unit, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match=r"StandardScaler.partial_fit: the mean or the sum of squared deviations "
                                         r"of feature\(s\) \[0, 1\] exceeds the largest float64"):
        scaling.StandardScaler().fit(x)
    rm = scaling.RunningMoments().update(x[:1])
    with pytest.raises(ValueError, match="RunningMoments.update: the mean or the sum of squared deviations"):
        rm.update(x[1:])
    assert rm.count.tolist() == [1, 1]                                # unchanged by the refused batch
    with pytest.raises(ValueError, match="max - min finite too"):
        scaling.min_max_scale(x, feature_range=(-1e308, 1e308))


def test_scratch_functions_near_the_float_limits():
    assert scratch.relative_error(np.array([1e308, 1e308]), np.array([-1e308, 1e308])) == pytest.approx(0.5**0.5)
    with pytest.raises(ValueError, match="relative_error expects finite arrays; b holds NaN"):
        scratch.relative_error(np.ones(2), np.array([1.0, np.nan]))
    grad = scratch.numerical_gradient(lambda v: float(v.sum()), np.ones(2), h=1e308)
    np.testing.assert_allclose(grad, [1.0, 1.0])
    with pytest.raises(ValueError, match=r"x \+- h must stay finite in float64"):
        scratch.numerical_gradient(lambda v: float(v.sum()), np.array([1e308]), h=1e308)
    loss = scratch.SoftmaxCrossEntropy()
    assert loss(np.array([[1e308, -1e308]]), np.array([0])) == 0.0
    assert loss(np.array([[1e308, -1e308]]), np.array([1])) == math.inf   # 2e308: beyond float64, rounded
    with pytest.raises(ValueError, match="expects finite logits; row 1 holds NaN or infinite values"):
        loss(np.array([[0.0, 1.0], [np.nan, 0.0]]), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"lr must be at most 3.403e\+38, the largest float32"):
        scratch.SGD(scratch.Linear(2, 2, seed=0), lr=1e300)
    with pytest.raises(ValueError, match="init=1e\\+300 gives weights that overflow float32"):
        scratch.Linear(2, 2, init=1e300, seed=0)
    with pytest.raises(ValueError, match=r"batch variance of feature\(s\) \[0\] is not finite in float64"):
        scratch.BatchNorm(1, dtype=np.float64).forward(np.array([[1.7e308], [-1.7e308]]))


def test_train_refuses_a_learning_rate_beyond_float32():
    with pytest.raises(ValueError, match=r"lr must be at most 3.403e\+38, the largest float32"):
        training.train(models.paper_mlp(True, seed=0), load_digits(), steps=1, lr=1e300, progress=False)
    with pytest.raises(ValueError, match="momentum must be a finite number >= 0; got nan"):
        training.train(models.paper_mlp(True, seed=0), load_digits(), steps=1, momentum=math.nan, progress=False)


def test_eps_too_small_for_float32_is_refused():
    with pytest.raises(ValueError, match="that float32 represents"):
        bnn.BatchNorm1d(3, eps=1e-320)
    bnn.BatchNorm1d(3, eps=1e-44)                                       # a float32 subnormal is fine


# ===================================================================== empty inputs where functions average
def test_empty_inputs_are_named_where_a_function_averages():
    model = models.paper_mlp(True, in_features=64, seed=0)
    with pytest.raises(ValueError, match="evaluate needs at least one example to average over; got 0"):
        training.evaluate(model, torch.zeros(0, 1, 8, 8), torch.zeros(0, dtype=torch.long))
    digits = load_digits()
    empty_test = replace(digits, x_test=digits.x_test[:0], y_test=digits.y_test[:0])
    with pytest.raises(ValueError, match="data.x_test is empty"):
        training.train(model, empty_test, steps=1, progress=False)
    net = scratch.Sequential(scratch.Linear(2, 2, seed=0))
    with pytest.raises(ValueError, match="accuracy needs at least one example to average over"):
        scratch.accuracy(net, np.zeros((0, 2), np.float32), np.zeros(0, np.int64))
    with pytest.raises(ValueError, match=r"fit needs at least 2 training rows .*got x of shape \(0, 2\)"):
        scratch.fit(net, scratch.SoftmaxCrossEntropy(), scratch.SGD(net, 0.1), np.zeros((0, 2), np.float32),
                    np.zeros(0, np.int64), epochs=1, batch_size=2)
    with pytest.raises(ValueError, match="needs at least one test row"):
        scratch.fit(net, scratch.SoftmaxCrossEntropy(), scratch.SGD(net, 0.1), np.zeros((4, 2), np.float32),
                    np.zeros(4, np.int64), epochs=1, batch_size=2, x_test=np.zeros((0, 2), np.float32),
                    y_test=np.zeros(0, np.int64))
    # an empty batch through the nn modules: an empty output, as in torch
    for module in (bnn.BatchNorm1d(3), bnn.LayerNorm(3), bnn.GroupNorm(1, 3), bnn.GhostBatchNorm1d(3, 2),
                   bnn.BatchRenorm1d(3), torch.jit.script(bnn.BatchNorm1d(3))):
        assert module(torch.randn(0, 3)).shape == (0, 3)


# ===================================================================== NaN in training data
def test_nan_in_training_data_is_refused_before_training():
    digits = load_digits()
    x = digits.x_train.copy()
    x[7, 0, 3, 3] = np.nan
    with pytest.raises(ValueError, match=r"data.x_train holds NaN or infinite values in 1 example\(s\) \(the first "
                                         r"is example 7\)"):
        training.train(models.paper_mlp(True, seed=0), replace(digits, x_train=x), steps=1, progress=False)
    with pytest.raises(ValueError, match=r"data.y_test must hold labels in range\(10\)"):
        training.train(models.paper_mlp(True, seed=0), replace(digits, y_test=digits.y_test + 1), steps=1,
                       progress=False)
    net = scratch.Sequential(scratch.Linear(2, 2, seed=0, dtype=np.float64))
    xs = np.array([[1.0, 2.0], [np.nan, 1.0], [0.0, 1.0], [2.0, 2.0]])
    with pytest.raises(ValueError, match=r"fit: x holds NaN or infinite values in 1 row\(s\) \(the first is row 1\)"):
        scratch.fit(net, scratch.SoftmaxCrossEntropy(), scratch.SGD(net, 0.1), xs, np.array([0, 1, 0, 1]),
                    epochs=1, batch_size=2)


# ===================================================================== the torch-free parts
def test_torch_free_parts_never_import_torch():
    code = ("import sys, bnlearn, bnlearn._validation, bnlearn.scaling, bnlearn.scratch; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
