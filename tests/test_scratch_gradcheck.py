"""bnlearn.scratch gradient checking: every layer passes in float64; the checker itself is right."""
from __future__ import annotations

import numpy as np
import pytest

from bnlearn.scratch import (
    BatchNorm, Dropout, Linear, ReLU, Sequential, Sigmoid, SoftmaxCrossEntropy, Tanh,
    gradcheck, numerical_gradient, relative_error,
)

TOL = 1e-7


def _x(shape, seed=11):
    return np.random.default_rng(seed).normal(size=shape) * 1.5 + 0.3


def _bn(c, training=True):
    bn = BatchNorm(c, dtype=np.float64)
    rng = np.random.default_rng(5)
    bn.params["gamma"][:] = rng.uniform(0.5, 2, c)
    bn.params["beta"][:] = rng.normal(size=c)
    bn.running_mean[:] = rng.normal(size=c)
    bn.running_var[:] = rng.uniform(0.5, 2, c)
    return bn.train(training)


LAYERS = {
    "linear": (lambda: Linear(5, 4, seed=0, dtype=np.float64), (6, 5)),
    "linear-he": (lambda: Linear(5, 4, init="he", seed=0, dtype=np.float64), (6, 5)),
    "relu": (ReLU, (6, 5)),
    "sigmoid": (Sigmoid, (6, 5)),
    "tanh": (Tanh, (3, 4, 5)),
    "dropout": (lambda: Dropout(0.4, seed=1), (6, 5)),
    "batchnorm-1d": (lambda: _bn(5), (6, 5)),
    "batchnorm-1d-length": (lambda: _bn(3), (4, 3, 5)),
    "batchnorm-2d": (lambda: _bn(3), (4, 3, 2, 3)),
    "batchnorm-3d": (lambda: _bn(2), (3, 2, 2, 2, 2)),
    "batchnorm-eval": (lambda: _bn(3, training=False), (4, 3, 2, 2)),
    "batchnorm-three-rows": (lambda: _bn(4), (3, 4)),
    "mlp": (lambda: Sequential(Linear(5, 6, bias=False, seed=0, dtype=np.float64), _bn(6), Sigmoid(),
                               Dropout(0.3, seed=2), Linear(6, 3, seed=1, dtype=np.float64), Tanh()), (7, 5)),
}


@pytest.mark.parametrize("name", list(LAYERS))
def test_every_layer_passes_gradcheck_in_float64(name):
    make, shape = LAYERS[name]
    errors = gradcheck(make(), _x(shape))
    layer = make()
    assert set(errors) == {"x", *layer.params}
    assert max(errors.values()) < TOL, errors


def test_two_rows_leave_batchnorm_nothing_to_learn_from():
    # with N = 2 every x_hat is +-sqrt(var/(var+eps)), so dL/dx is only of order eps/var
    bn = _bn(4)
    x = _x((2, 4))
    y = bn.forward(x)
    np.testing.assert_allclose(np.abs((y - bn.beta) / bn.gamma), 1, atol=1e-4)
    g = np.random.default_rng(0).normal(size=(2, 4))
    dx = bn.backward(g)
    var = x.var(axis=0)
    # dx_1 = -dx_2 = gamma / sqrt(var + eps) * eps / (var + eps) * (g_1 - g_2) / 2
    expected = bn.gamma / np.sqrt(var + bn.eps) * bn.eps / (var + bn.eps) * (g[0] - g[1]) / 2
    np.testing.assert_allclose(dx, [expected, -expected], rtol=1e-6)


def test_loss_passes_gradcheck():
    y = np.array([0, 2, 1, 1, 3, 0])
    errors = gradcheck(SoftmaxCrossEntropy(), _x((6, 4)), target=y)
    assert errors["x"] < TOL


def test_gradcheck_catches_a_wrong_gradient():
    class WrongSigmoid(Sigmoid):
        def _df(self, dout, x, out):
            return dout * out * (1 - out) * 1.01     # off by one percent

    assert gradcheck(WrongSigmoid(), _x((4, 3)))["x"] > 1e-3


def test_float32_gradcheck_is_coarse():
    errors = gradcheck(_bn(3).__class__(3), _x((8, 3)).astype(np.float32), h=1e-3)
    assert 1e-7 < errors["x"] < 1e-1


def test_gradcheck_leaves_the_layer_untouched():
    bn = _bn(3)
    before = (bn.running_mean.copy(), bn.num_batches_tracked, bn.gamma.copy())
    d = Dropout(0.5, seed=4)
    state = d.rng.bit_generator.state
    gradcheck(bn, _x((5, 3)))
    gradcheck(d, _x((5, 3)))
    np.testing.assert_array_equal(bn.running_mean, before[0])
    assert bn.num_batches_tracked == before[1]
    np.testing.assert_array_equal(bn.gamma, before[2])
    assert d.rng.bit_generator.state == state


def test_numerical_gradient_of_a_known_function():
    x = np.array([[0.3, -1.2], [2.0, 0.5]])
    g = numerical_gradient(lambda v: np.sum(np.sin(v) * v**2), x)
    np.testing.assert_allclose(g, np.cos(x) * x**2 + 2 * x * np.sin(x), rtol=1e-8)
    np.testing.assert_array_equal(x, [[0.3, -1.2], [2.0, 0.5]])     # restored


def test_relative_error():
    a = np.array([1.0, 2.0, 3.0])
    assert relative_error(a, a) == 0.0
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_error(a, -a) == pytest.approx(1.0)
    assert relative_error(a, a * (1 + 1e-6)) == pytest.approx(5e-7, rel=1e-3)


def test_bad_input():
    with pytest.raises(TypeError, match="expects a callable f; got int"):
        numerical_gradient(3, np.zeros(2))
    with pytest.raises(TypeError, match="floating dtype.*got dtype int64"):
        numerical_gradient(np.sum, np.arange(3))
    with pytest.raises(ValueError, match="step h > 0; got -1.0"):
        numerical_gradient(np.sum, np.zeros(2), h=-1)
    with pytest.raises(ValueError, match=r"same shape; got \(2,\) and \(3,\)"):
        relative_error(np.zeros(2), np.zeros(3))
    with pytest.raises(TypeError, match="b to be a numpy.ndarray; got list"):
        relative_error(np.zeros(2), [0, 0])
    with pytest.raises(TypeError, match="gradcheck expects a Layer or a SoftmaxCrossEntropy; got function"):
        gradcheck(lambda v: v, np.zeros(2))
    with pytest.raises(ValueError, match="pass target=y"):
        gradcheck(SoftmaxCrossEntropy(), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"target is only for losses; got a target for ReLU\(\)"):
        gradcheck(ReLU(), np.zeros((2, 3)), target=np.zeros(2, np.int64))
