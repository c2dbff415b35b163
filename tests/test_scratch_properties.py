"""Property tests (hypothesis) of bnlearn.scratch's batch norm."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bnlearn.scratch import batchnorm_backward, batchnorm_forward

torch = pytest.importorskip("torch")

SETTINGS = settings(max_examples=40, deadline=None)


@st.composite
def batches(draw, min_rows=3):
    """A float64 batch of shape (N, C) or (N, C, *spatial), each feature with its own scale and offset."""
    n = draw(st.integers(min_rows, 12))
    c = draw(st.integers(1, 5))
    spatial = draw(st.lists(st.integers(1, 4), min_size=0, max_size=2))
    shape = (n, c, *spatial)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    bshape = (1, c) + (1,) * len(spatial)
    scale = draw(st.floats(0.1, 100.0))
    offset = draw(st.floats(-100.0, 100.0))
    x = rng.normal(size=shape) * scale * rng.uniform(0.5, 2, bshape) + offset * rng.uniform(-1, 1, bshape)
    return x


def _per_feature(a):
    """(N, C, *spatial) -> (C, m): the m values of each feature."""
    return np.moveaxis(a, 1, 0).reshape(a.shape[1], -1)


def _plain(c):
    return np.ones(c), np.zeros(c)


@SETTINGS
@given(batches())
def test_before_the_affine_step_each_feature_has_mean_0_and_variance_1(x):
    var = _per_feature(x).var(axis=1)
    assume(var.min() > 1e-8 * max(1.0, np.abs(x).max() ** 2))   # leave out near-constant features
    out, _ = batchnorm_forward(x, *_plain(x.shape[1]), eps=1e-5)
    f = _per_feature(out)
    np.testing.assert_allclose(f.mean(axis=1), 0, atol=1e-9)
    # the variance is var / (var + eps): 1 up to the eps guard
    np.testing.assert_allclose(f.var(axis=1), var / (var + 1e-5), rtol=1e-9)


@SETTINGS
@given(batches(), st.data())
def test_output_is_invariant_to_scaling_and_shifting_a_feature(x, data):
    c = x.shape[1]
    var = _per_feature(x).var(axis=1)
    j = data.draw(st.integers(0, c - 1))
    a = data.draw(st.floats(0.01, 100.0))
    # features whose spread is not lost in rounding, before and after the scaling
    assume(var.min() > 1e-6 and a * a * var[j] > 1e-6)
    b = data.draw(st.floats(-1000.0, 1000.0))
    rng = np.random.default_rng(0)
    gamma, beta = rng.normal(size=c), rng.normal(size=c)
    x2 = x.copy()
    x2[:, j] = a * x2[:, j] + b
    eps = 1e-15                      # eps breaks the invariance by O(eps / var): make it negligible
    out1, _ = batchnorm_forward(x, gamma, beta, eps=eps)
    out2, _ = batchnorm_forward(x2, gamma, beta, eps=eps)
    np.testing.assert_allclose(out2, out1, rtol=1e-6, atol=1e-6)


@SETTINGS
@given(batches(), st.sampled_from([1e-5, 1e-3, 1.0]))
def test_gradient_sums_to_zero_and_is_orthogonal_to_x_hat(x, eps):
    c = x.shape[1]
    rng = np.random.default_rng(1)
    gamma, beta = rng.uniform(0.5, 2, c), rng.normal(size=c)
    out, cache = batchnorm_forward(x, gamma, beta, eps=eps)
    dout = rng.normal(size=x.shape)
    dx, _, _ = batchnorm_backward(dout, cache)
    x_hat = (out - beta.reshape((1, c) + (1,) * (x.ndim - 2))) / gamma.reshape((1, c) + (1,) * (x.ndim - 2))
    d, h = _per_feature(dx), _per_feature(x_hat)
    scale = np.abs(d).sum(axis=1) + 1e-300
    assert np.all(np.abs(d.sum(axis=1)) <= 1e-9 * scale)          # sum_i dx_i = 0
    # sum_i dx_i x_hat_i = (gamma/sigma) dgamma eps/(var + eps): exactly 0 only as eps -> 0, so
    # check it against that formula (sigma = sqrt(var + eps))
    var = _per_feature(x).var(axis=1)
    dgamma = (_per_feature(dout) * h).sum(axis=1)
    expected = gamma / np.sqrt(var + eps) * dgamma * eps / (var + eps)
    np.testing.assert_allclose((d * h).sum(axis=1), expected, rtol=1e-6, atol=1e-9 * (scale * np.abs(h).max()).max())


@SETTINGS
@given(batches(min_rows=2), st.floats(1e-6, 1e-1))
def test_gradients_equal_torch_autograd(x, eps):
    c = x.shape[1]
    rng = np.random.default_rng(2)
    gamma, beta = rng.normal(size=c), rng.normal(size=c)
    dout = rng.normal(size=x.shape)
    out, cache = batchnorm_forward(x, gamma, beta, eps=eps)
    dx, dgamma, dbeta = batchnorm_backward(dout, cache)
    xt, gt, bt = (torch.tensor(a, requires_grad=True) for a in (x, gamma, beta))
    yt = torch.nn.functional.batch_norm(xt, None, None, gt, bt, training=True, eps=eps)
    yt.backward(torch.from_numpy(dout))
    np.testing.assert_allclose(out, yt.detach().numpy(), rtol=1e-9, atol=1e-9)
    # dx is a difference of terms of size |gamma| |dout| / sigma, which can cancel (with N = 2 it
    # is only O(eps / var)): compare it at the scale of those terms
    var = _per_feature(x).var(axis=1)
    dx_scale = np.abs(gamma).max() * np.abs(dout).max() / np.sqrt(var.min() + eps)
    for ours, ref, scale in [(dx, xt.grad, dx_scale), (dgamma, gt.grad, None), (dbeta, bt.grad, None)]:
        ref = ref.numpy()
        scale = np.abs(ref).max() if scale is None else scale
        np.testing.assert_allclose(ours, ref, rtol=1e-8, atol=1e-10 * scale)
