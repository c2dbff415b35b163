"""bnlearn.scratch batch norm: parity with torch, running statistics, bad input, memory."""
from __future__ import annotations

import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

from bnlearn.scratch import BatchNorm, batchnorm_backward, batchnorm_forward

torch = pytest.importorskip("torch")

TOL = {np.float32: 1e-6, np.float64: 1e-10}
SHAPES = [(16, 5), (8, 3, 7), (6, 4, 5, 3), (4, 2, 3, 2, 2)]


def _torch_bn(shape, c, momentum, dtype, eps):
    cls = {2: torch.nn.BatchNorm1d, 3: torch.nn.BatchNorm1d, 4: torch.nn.BatchNorm2d, 5: torch.nn.BatchNorm3d}[len(shape)]
    return cls(c, eps=eps, momentum=momentum, dtype=torch.float32 if dtype == np.float32 else torch.float64)


def _close(ours, ref, dtype, what):
    ref = ref.detach().numpy() if hasattr(ref, "detach") else np.asarray(ref)
    tol = TOL[dtype]
    np.testing.assert_allclose(ours, ref, rtol=tol, atol=tol, err_msg=what)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("momentum", [0.1, 0.7, None])
def test_matches_torch_over_several_steps_and_in_eval(shape, dtype, momentum):
    rng = np.random.default_rng(sum(shape))
    c, eps = shape[1], 1e-5
    ours = BatchNorm(c, eps=eps, momentum=momentum, dtype=dtype)
    ref = _torch_bn(shape, c, momentum, dtype, eps)
    gamma = rng.uniform(0.5, 2.0, c).astype(dtype)
    beta = rng.normal(size=c).astype(dtype)
    ours.params["gamma"][:] = gamma
    ours.params["beta"][:] = beta
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(gamma))
        ref.bias.copy_(torch.from_numpy(beta))
    for step in range(4):
        # every feature gets its own offset and scale, different at each step
        x = (rng.normal(size=shape) * rng.uniform(0.5, 3, (1, c) + (1,) * (len(shape) - 2))
             + rng.uniform(-2, 2, (1, c) + (1,) * (len(shape) - 2))).astype(dtype)
        dout = rng.normal(size=shape).astype(dtype)
        xt = torch.from_numpy(x.copy()).requires_grad_(True)
        ref.zero_grad()
        yt = ref(xt)
        yt.backward(torch.from_numpy(dout))
        y = ours.forward(x)
        dx = ours.backward(dout)
        _close(y, yt, dtype, f"output, step {step}")
        _close(dx, xt.grad, dtype, f"dx, step {step}")
        _close(ours.grads["gamma"], ref.weight.grad, dtype, f"dgamma, step {step}")
        _close(ours.grads["beta"], ref.bias.grad, dtype, f"dbeta, step {step}")
        _close(ours.running_mean, ref.running_mean, dtype, f"running_mean, step {step}")
        _close(ours.running_var, ref.running_var, dtype, f"running_var, step {step}")
        assert ours.num_batches_tracked == int(ref.num_batches_tracked) == step + 1
    ours.eval()
    ref.eval()
    x = (rng.normal(size=shape) * 2 + 1).astype(dtype)
    dout = rng.normal(size=shape).astype(dtype)
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    ref.zero_grad()
    yt = ref(xt)
    yt.backward(torch.from_numpy(dout))
    _close(ours.forward(x), yt, dtype, "eval output")
    _close(ours.backward(dout), xt.grad, dtype, "eval dx")
    _close(ours.grads["gamma"], ref.weight.grad, dtype, "eval dgamma")
    _close(ours.grads["beta"], ref.bias.grad, dtype, "eval dbeta")
    assert ours.num_batches_tracked == 4, "eval mode must not update the running statistics"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_functional_pair_matches_torch_functional(dtype):
    rng = np.random.default_rng(3)
    x = (rng.normal(size=(10, 3, 4, 4)) * 3 - 1).astype(dtype)
    gamma, beta = rng.normal(size=3).astype(dtype), rng.normal(size=3).astype(dtype)
    dout = rng.normal(size=x.shape).astype(dtype)
    out, cache = batchnorm_forward(x, gamma, beta, eps=1e-3)
    dx, dgamma, dbeta = batchnorm_backward(dout, cache)
    xt, gt, bt = (torch.from_numpy(a.copy()).requires_grad_(True) for a in (x, gamma, beta))
    yt = torch.nn.functional.batch_norm(xt, None, None, gt, bt, training=True, eps=1e-3)
    yt.backward(torch.from_numpy(dout))
    for ours, ref, what in [(out, yt, "out"), (dx, xt.grad, "dx"), (dgamma, gt.grad, "dgamma"), (dbeta, bt.grad, "dbeta")]:
        assert ours.dtype == dtype
        _close(ours, ref, dtype, what)


def test_cache_keeps_only_what_backward_needs():
    x = np.random.default_rng(0).normal(size=(5, 3))
    gamma, beta = np.ones(3), np.zeros(3)
    out, cache = batchnorm_forward(x, gamma, beta)
    assert isinstance(cache, tuple) and len(cache) == 4
    cx, mean, inv_std, g = cache
    assert cx is x                      # held by reference, no copy
    np.testing.assert_allclose(mean, x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(inv_std, 1 / np.sqrt(x.var(0) + 1e-5), rtol=1e-12)
    assert mean.shape == inv_std.shape == (3,)


def test_momentum_none_is_the_cumulative_average_with_unbiased_variance():
    rng = np.random.default_rng(1)
    bn = BatchNorm(2, momentum=None, dtype=np.float64)
    batches = [rng.normal(size=(6, 2)) * (k + 1) + k for k in range(5)]
    for b in batches:
        bn.forward(b)
    np.testing.assert_allclose(bn.running_mean, np.mean([b.mean(0) for b in batches], axis=0), rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, np.mean([b.var(0, ddof=1) for b in batches], axis=0), rtol=1e-12)


def test_eval_mode_is_a_fixed_affine_map_of_the_input():
    rng = np.random.default_rng(2)
    bn = BatchNorm(3, dtype=np.float64)
    bn.forward(rng.normal(size=(20, 3)) * 2 + 5)
    bn.eval()
    x = rng.normal(size=(4, 3))
    expected = (x - bn.running_mean) / np.sqrt(bn.running_var + bn.eps) * bn.gamma + bn.beta
    np.testing.assert_allclose(bn.forward(x), expected, rtol=1e-12)
    np.testing.assert_allclose(bn.forward(x[:1]), expected[:1], rtol=1e-12)  # one row is fine in eval
    nan_x = x.copy()
    nan_x[0, 1] = np.nan
    y = bn.forward(nan_x)       # documented: in eval mode NaN just propagates
    assert np.isnan(y[0, 1]) and np.isfinite(np.delete(y.ravel(), 1)).all()


def test_train_and_eval_switch_and_mode_is_kept_in_the_cache():
    bn = BatchNorm(2, dtype=np.float64)
    assert bn.training and bn.eval() is bn and not bn.training and bn.train() is bn and bn.training
    x = np.random.default_rng(0).normal(size=(5, 2))
    bn.forward(x)
    bn.eval()                   # backward still differentiates the training-mode forward
    dx = bn.backward(np.ones_like(x))
    np.testing.assert_allclose(dx, 0, atol=1e-12)   # a constant upstream gradient is absorbed by the mean


def test_peak_extra_memory_is_at_most_four_times_the_input():
    x = np.random.default_rng(0).normal(size=(32, 16, 16, 16)).astype(np.float32)
    dout = np.ones_like(x)
    bn = BatchNorm(16)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    y = bn.forward(x)
    dx = bn.backward(dout)
    peak = tracemalloc.get_traced_memory()[1] - before
    tracemalloc.stop()
    assert y.shape == dx.shape == x.shape
    assert peak <= 4 * x.nbytes, f"peak extra memory {peak / x.nbytes:.2f}x the input"


def test_import_does_not_import_torch():
    code = "import bnlearn.scratch, sys; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# --- bad input ---------------------------------------------------------------------------

def _x(shape=(4, 3), dtype=np.float64):
    return np.random.default_rng(0).normal(size=shape).astype(dtype)


@pytest.mark.parametrize("shape", [(1, 3), (1, 3, 1, 1)])
def test_one_value_per_feature_in_training_is_an_error(shape):
    with pytest.raises(ValueError, match=r"more than one value per feature.*got input of shape \(1, 3"):
        BatchNorm(3, dtype=np.float64).forward(_x(shape))
    with pytest.raises(ValueError, match="more than one value per feature"):
        batchnorm_forward(_x(shape), np.ones(3), np.zeros(3))


def test_wrong_number_of_features_or_channels():
    with pytest.raises(ValueError, match=r"BatchNorm\(64\) expects input of shape \(N, 64\) or \(N, 64, \*spatial\).*got \(8, 32, 28, 28\)"):
        BatchNorm(64).forward(np.zeros((8, 32, 28, 28), np.float32))
    with pytest.raises(ValueError, match=r"BatchNorm\(3\).*got \(4, 5\)"):
        BatchNorm(3, dtype=np.float64).forward(_x((4, 5)))


@pytest.mark.parametrize("shape", [(5,), ()])
def test_wrong_rank(shape):
    with pytest.raises(ValueError, match=rf"expects input of shape \(N, 3\).*got {len(shape)}-d input"):
        BatchNorm(3, dtype=np.float64).forward(np.zeros(shape))
    with pytest.raises(ValueError, match=r"got \d-d input"):
        batchnorm_forward(np.zeros(shape), np.ones(3), np.zeros(3))


def test_empty_batch():
    with pytest.raises(ValueError, match=r"non-empty input; got shape \(0, 3\)"):
        BatchNorm(3, dtype=np.float64).forward(np.zeros((0, 3)))


@pytest.mark.parametrize("bad", [np.arange(12).reshape(4, 3), np.zeros((4, 3), bool), np.zeros((4, 3), np.float16)])
def test_non_floating_dtype(bad):
    with pytest.raises(TypeError, match=rf"floating dtype \(float32 or float64\); got dtype {bad.dtype}"):
        BatchNorm(3).forward(bad)
    with pytest.raises(TypeError, match=rf"got dtype {bad.dtype}"):
        batchnorm_forward(bad, np.ones(3), np.zeros(3))


def test_not_an_array_and_dtype_mismatch():
    with pytest.raises(TypeError, match="numpy.ndarray; got list"):
        BatchNorm(3).forward([[1.0, 2.0, 3.0]])
    with pytest.raises(TypeError, match="holds float32 parameters; got input of dtype float64"):
        BatchNorm(3).forward(_x())
    with pytest.raises(TypeError, match="dtype must be float32 or float64; got int64"):
        BatchNorm(3, dtype=np.int64)


def test_gamma_beta_of_the_wrong_shape_or_dtype():
    x = _x()
    with pytest.raises(ValueError, match=r"gamma of shape \(3,\) to match x of shape \(4, 3\); got \(4,\)"):
        batchnorm_forward(x, np.ones(4), np.zeros(3))
    with pytest.raises(ValueError, match=r"beta of shape \(3,\).*got \(1, 3\)"):
        batchnorm_forward(x, np.ones(3), np.zeros((1, 3)))
    with pytest.raises(TypeError, match=r"gamma of the same dtype as x \(float64\); got float32"):
        batchnorm_forward(x, np.ones(3, np.float32), np.zeros(3))
    with pytest.raises(TypeError, match=r"beta to be a numpy.ndarray of shape \(3,\); got list"):
        batchnorm_forward(x, np.ones(3), [0.0, 0.0, 0.0])


@pytest.mark.parametrize("eps", [0, -1e-5, 0.0])
def test_eps_must_be_positive(eps):
    with pytest.raises(ValueError, match=f"eps must be > 0.*got {float(eps)}"):
        BatchNorm(3, eps=eps)
    with pytest.raises(ValueError, match="eps must be > 0"):
        batchnorm_forward(_x(), np.ones(3), np.zeros(3), eps=eps)


def test_eps_and_momentum_types():
    with pytest.raises(TypeError, match="eps must be a real number; got '1e-5'"):
        BatchNorm(3, eps="1e-5")
    with pytest.raises(TypeError, match="momentum must be a real number; got True"):
        BatchNorm(3, momentum=True)
    with pytest.raises(ValueError, match="eps must be finite; got nan"):
        BatchNorm(3, eps=float("nan"))


@pytest.mark.parametrize("momentum", [-0.1, 1.5])
def test_momentum_outside_unit_interval(momentum):
    with pytest.raises(ValueError, match=rf"momentum must lie in \[0, 1\] or be None.*got {momentum}"):
        BatchNorm(3, momentum=momentum)


@pytest.mark.parametrize("n", [0, -2, 2.5, True])
def test_num_features_must_be_a_positive_int(n):
    with pytest.raises((TypeError, ValueError), match=f"num_features must be a positive int; got {n}"):
        BatchNorm(n)


def test_backward_before_forward():
    with pytest.raises(ValueError, match=r"BatchNorm\(3\).backward\(\) called before forward\(\)"):
        BatchNorm(3).backward(np.zeros((4, 3), np.float32))


def test_bad_dout_and_bad_cache():
    bn = BatchNorm(3, dtype=np.float64)
    x = _x()
    bn.forward(x)
    with pytest.raises(ValueError, match=r"dout of the forward input's shape \(4, 3\); got \(4, 2\)"):
        bn.backward(np.zeros((4, 2)))
    with pytest.raises(TypeError, match="dout of the forward input's dtype float64; got float32"):
        bn.backward(np.zeros((4, 3), np.float32))
    _, cache = batchnorm_forward(x, np.ones(3), np.zeros(3))
    with pytest.raises(TypeError, match=r"the cache returned by batchnorm_forward.*got list"):
        batchnorm_backward(np.zeros_like(x), list(cache))
    with pytest.raises(ValueError, match=r"dout of the forward input's shape \(4, 3\); got \(3, 4\)"):
        batchnorm_backward(np.zeros((3, 4)), cache)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_infinite_input_in_training_is_an_error(bad):
    x = _x((6, 4))
    x[2, 1] = bad
    bn = BatchNorm(4, dtype=np.float64)
    with pytest.raises(ValueError, match=r"batch statistics of feature\(s\) \[1\] are not finite"):
        bn.forward(x)
    assert bn.num_batches_tracked == 0 and np.all(bn.running_mean == 0), "a rejected batch must not touch the running statistics"
    with pytest.raises(ValueError, match="NaN or infinite"):
        batchnorm_forward(x, np.ones(4), np.zeros(4))


def test_values_so_large_that_the_variance_overflows_are_an_error_for_the_layer():
    x = np.array([[3e38, 1.0], [-3e38, 2.0], [1e38, 3.0]], np.float32)
    bn = BatchNorm(2)
    with pytest.raises(ValueError, match=r"batch variance of feature\(s\) \[0\] is not finite in float32 "
                                         r"\(it exceeds 3.4e\+38\), so the running variance cannot hold it"):
        bn.forward(x)
    assert bn.num_batches_tracked == 0 and np.all(bn.running_var == 1)
    # The function has no running statistics: it gives the right output, that of the input scaled down.
    out, _ = batchnorm_forward(x, np.ones(2, np.float32), np.zeros(2, np.float32))
    ref, _ = batchnorm_forward((x.astype(np.float64) / 2.0**127), np.ones(2), np.zeros(2), eps=1e-5 / 4.0**127)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)
