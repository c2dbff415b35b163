"""bnlearn.scratch layers, loss, optimiser and training loop: parity with torch, seeding, bad input."""
from __future__ import annotations

import numpy as np
import pytest

from bnlearn.scratch import (
    SGD, BatchNorm, Dropout, Linear, ReLU, Sequential, Sigmoid, SoftmaxCrossEntropy, Tanh, accuracy, fit,
)

torch = pytest.importorskip("torch")


def _x(shape=(6, 4), seed=0, dtype=np.float64):
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


# --- Linear -------------------------------------------------------------------------------

def test_linear_matches_torch():
    lin = Linear(4, 3, dtype=np.float64, seed=1)
    ref = torch.nn.Linear(4, 3, dtype=torch.float64)
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(lin.params["weight"]))
        ref.bias.copy_(torch.from_numpy(np.arange(3.0)))
    lin.params["bias"][:] = np.arange(3.0)
    x, dout = _x(), _x((6, 3), seed=1)
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    yt = ref(xt)
    yt.backward(torch.from_numpy(dout))
    np.testing.assert_allclose(lin.forward(x), yt.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(lin.backward(dout), xt.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(lin.grads["weight"], ref.weight.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(lin.grads["bias"], ref.bias.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("init, expected_var", [
    ("xavier", 2.0 / (400 + 300)),   # Glorot: Var W = 2 / (fan_in + fan_out)
    ("he", 2.0 / 400),               # He: Var W = 2 / fan_in
    (0.01, 1e-4),                    # small Gaussian weights
])
def test_linear_initialisations_have_their_variance(init, expected_var):
    w = Linear(400, 300, init=init, seed=0).params["weight"]
    assert w.shape == (300, 400) and w.dtype == np.float32
    assert abs(w.mean()) < 0.01 * np.sqrt(expected_var) * 10
    assert w.var() == pytest.approx(expected_var, rel=0.02)


def test_xavier_is_uniform_within_its_bound():
    w = Linear(50, 30, init="xavier", seed=0).params["weight"]
    a = np.sqrt(6 / 80)
    assert np.abs(w).max() <= a and np.abs(w).max() > 0.95 * a


def test_seeding_is_reproducible():
    a = Linear(5, 4, seed=7).params["weight"]
    b = Linear(5, 4, seed=7).params["weight"]
    c = Linear(5, 4, seed=8).params["weight"]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    x = _x((50, 5), dtype=np.float32)
    m1, m2 = Dropout(0.5, seed=3).forward(x), Dropout(0.5, seed=3).forward(x)
    np.testing.assert_array_equal(m1, m2)


def test_linear_without_bias():
    lin = Linear(3, 2, bias=False, seed=0, dtype=np.float64)
    assert set(lin.params) == {"weight"}
    lin.forward(_x((4, 3)))
    lin.backward(_x((4, 2)))
    assert set(lin.grads) == {"weight"}


# --- activations, dropout -----------------------------------------------------------------

@pytest.mark.parametrize("ours, ref", [(ReLU, torch.relu), (Sigmoid, torch.sigmoid), (Tanh, torch.tanh)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activations_match_torch(ours, ref, dtype):
    x = (_x((5, 3, 4)) * 4).astype(dtype)
    dout = _x((5, 3, 4), seed=1).astype(dtype)
    layer = ours()
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    yt = ref(xt)
    yt.backward(torch.from_numpy(dout))
    tol = 1e-6 if dtype == np.float32 else 1e-12
    y = layer.forward(x)
    assert y.dtype == dtype
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(layer.backward(dout), xt.grad.numpy(), rtol=tol, atol=tol)


def test_sigmoid_does_not_overflow():
    y = Sigmoid().forward(np.array([-1000.0, 0.0, 1000.0]))
    np.testing.assert_array_equal(y, [0.0, 0.5, 1.0])


def test_dropout_train_and_eval():
    x = np.ones((400, 50))
    d = Dropout(0.3, seed=0)
    y = d.forward(x)
    kept = y != 0
    assert kept.mean() == pytest.approx(0.7, abs=0.01)
    np.testing.assert_allclose(y[kept], 1 / 0.7)
    np.testing.assert_array_equal(d.backward(x), y)     # the same mask and scale
    d.eval()
    np.testing.assert_array_equal(d.forward(x), x)
    np.testing.assert_array_equal(d.backward(2 * x), 2 * x)


# --- loss, optimiser, Sequential ------------------------------------------------------------

def test_softmax_cross_entropy_matches_torch():
    z = _x((7, 5)) * 10
    y = np.array([0, 4, 2, 2, 1, 3, 0])
    loss = SoftmaxCrossEntropy()
    zt = torch.from_numpy(z.copy()).requires_grad_(True)
    lt = torch.nn.functional.cross_entropy(zt, torch.from_numpy(y))
    lt.backward()
    assert loss.forward(z, y) == pytest.approx(lt.item(), rel=1e-12)
    np.testing.assert_allclose(loss.backward(), zt.grad.numpy(), rtol=1e-12, atol=1e-15)
    assert np.isfinite(loss.forward(np.array([[1000.0, -1000.0]]), np.array([1])))


@pytest.mark.parametrize("momentum, weight_decay", [(0.0, 0.0), (0.9, 0.0), (0.5, 1e-2)])
def test_sgd_matches_torch(momentum, weight_decay):
    model = Sequential(Linear(4, 6, seed=0, dtype=np.float64), Tanh(), Linear(6, 3, seed=1, dtype=np.float64))
    ref = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3)).double()
    with torch.no_grad():
        for (_, p), (_, q) in zip(model.params.items(), ref.named_parameters()):
            q.copy_(torch.from_numpy(p))
    opt = SGD(model, lr=0.1, momentum=momentum, weight_decay=weight_decay)
    opt_t = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=momentum, weight_decay=weight_decay)
    loss = SoftmaxCrossEntropy()
    for step in range(4):
        x, y = _x((8, 4), seed=step), np.random.default_rng(step).integers(0, 3, 8)
        loss.forward(model.forward(x), y)
        model.backward(loss.backward())
        opt.step()
        opt_t.zero_grad()
        torch.nn.functional.cross_entropy(ref(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        opt_t.step()
    for (name, p), (_, q) in zip(model.params.items(), ref.named_parameters()):
        np.testing.assert_allclose(p, q.detach().numpy(), rtol=1e-10, atol=1e-12, err_msg=name)


def test_sequential_params_are_the_layers_arrays_and_modes_propagate():
    bn = BatchNorm(3, dtype=np.float64)
    model = Sequential(Linear(2, 3, seed=0, dtype=np.float64), bn, ReLU(), Dropout(0.5, seed=0))
    assert list(model.params) == ["0.weight", "0.bias", "1.gamma", "1.beta"]
    assert model.params["1.gamma"] is bn.gamma
    assert len(model) == 4 and model[1] is bn and list(model)[2].__class__ is ReLU
    model.eval()
    assert not any(layer.training for layer in model)
    model.train()
    assert all(layer.training for layer in model)
    assert [g for _, _, g in model.named_parameters()] == [None] * 4
    model.forward(_x((5, 2)))
    model.backward(_x((5, 3)))
    assert set(model.grads) == set(model.params)


def test_fit_learns_a_separable_problem_and_is_reproducible():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)

    def run():
        model = Sequential(Linear(2, 8, seed=1), BatchNorm(8), Tanh(), Linear(8, 2, seed=2))
        hist = fit(model, SoftmaxCrossEntropy(), SGD(model, lr=0.2, momentum=0.9), x, y,
                   epochs=20, batch_size=20, seed=3, x_test=x[:50], y_test=y[:50])
        return model, hist

    model, hist = run()
    _, hist2 = run()
    np.testing.assert_array_equal(hist["step_loss"], hist2["step_loss"])
    assert hist["step_loss"].shape == (200,) and hist["test_accuracy"].shape == (21,)
    assert hist["train_loss"][-1] < 0.5 * hist["train_loss"][0]
    assert accuracy(model, x, y) > 0.95 and model.training


# --- bad input ----------------------------------------------------------------------------

def test_linear_bad_input():
    lin = Linear(3, 2, seed=0)
    with pytest.raises(ValueError, match=r"Linear\(3, 2\) expects input of shape \(N, 3\); got \(4, 5\)"):
        lin.forward(np.zeros((4, 5), np.float32))
    with pytest.raises(TypeError, match="holds float32 parameters; got input of dtype float64"):
        lin.forward(np.zeros((4, 3)))
    with pytest.raises(TypeError, match="floating dtype.*got dtype int64"):
        lin.forward(np.zeros((4, 3), np.int64))
    with pytest.raises(ValueError, match=r"Linear\(3, 2\).backward\(\) called before forward"):
        lin.backward(np.zeros((4, 2), np.float32))
    lin.forward(np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match=r"dout of the forward output's shape \(4, 2\); got \(4, 3\)"):
        lin.backward(np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match="init must be 'xavier', 'he' or a positive float; got 'glorot'"):
        Linear(3, 2, init="glorot")
    with pytest.raises(ValueError, match="init must be.*got -0.1"):
        Linear(3, 2, init=-0.1)
    with pytest.raises(TypeError, match="seed to be None, an int or a numpy.random.Generator; got 'a'"):
        Linear(3, 2, seed="a")
    with pytest.raises(ValueError, match="in_features must be a positive int; got 0"):
        Linear(0, 2)
    with pytest.raises(TypeError, match="bias must be a bool; got 1"):
        Linear(3, 2, bias=1)


@pytest.mark.parametrize("layer", [ReLU(), Sigmoid(), Tanh(), Dropout(0.2, seed=0)])
def test_elementwise_bad_input(layer):
    with pytest.raises(ValueError, match=r"backward\(\) called before forward"):
        layer.backward(np.zeros(3))
    with pytest.raises(TypeError, match="floating dtype.*got dtype int64"):
        layer.forward(np.arange(3))
    layer.forward(np.zeros(3))
    with pytest.raises(ValueError, match=r"shape \(3,\); got \(4,\)"):
        layer.backward(np.zeros(4))
    with pytest.raises(TypeError, match="dout of dtype float64; got float32"):
        layer.backward(np.zeros(3, np.float32))


@pytest.mark.parametrize("p", [-0.1, 1.0, 2])
def test_dropout_p_outside_range(p):
    with pytest.raises(ValueError, match=rf"Dropout expects p in \[0, 1\); got {float(p)}"):
        Dropout(p)


def test_loss_bad_input():
    loss = SoftmaxCrossEntropy()
    z = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"backward\(\) called before forward"):
        loss.backward()
    with pytest.raises(TypeError, match="integer labels.*got dtype float64"):
        loss.forward(z, np.zeros(3))
    with pytest.raises(ValueError, match=r"labels of shape \(3,\) to match logits \(3, 4\); got \(2,\)"):
        loss.forward(z, np.zeros(2, np.int64))
    with pytest.raises(ValueError, match=r"labels in range\(4\); got values from 0 to 4"):
        loss.forward(z, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match=r"logits of shape \(N, K\) with N > 0; got \(4,\)"):
        loss.forward(np.zeros(4), np.zeros(4, np.int64))


def test_sgd_and_sequential_bad_input():
    model = Sequential(Linear(2, 2, seed=0))
    with pytest.raises(TypeError, match="SGD expects a Layer.*got list"):
        SGD([1, 2], lr=0.1)
    with pytest.raises(ValueError, match="lr must be > 0; got 0.0"):
        SGD(model, lr=0)
    with pytest.raises(ValueError, match=r"momentum must lie in \[0, 1\); got 1.0"):
        SGD(model, lr=0.1, momentum=1)
    with pytest.raises(ValueError, match="weight_decay must be >= 0; got -1.0"):
        SGD(model, lr=0.1, weight_decay=-1)
    with pytest.raises(ValueError, match="parameter '0.weight' has no gradient"):
        SGD(model, lr=0.1).step()
    with pytest.raises(TypeError, match="Sequential expects Layer instances; got ufunc at position 1"):
        Sequential(ReLU(), np.tanh)
    with pytest.raises(ValueError, match="at least one layer"):
        Sequential()
    with pytest.raises(TypeError, match="mode must be a bool; got 'eval'"):
        model.train("eval")


def test_fit_bad_input():
    model = Sequential(Linear(2, 2, seed=0))
    loss, opt = SoftmaxCrossEntropy(), SGD(model, lr=0.1)
    x, y = np.zeros((10, 2), np.float32), np.zeros(10, np.int64)
    with pytest.raises(ValueError, match=r"2 <= batch_size <= 10 \(the number of rows\); got 11"):
        fit(model, loss, opt, x, y, epochs=1, batch_size=11)
    with pytest.raises(ValueError, match=r"y of shape \(10,\) to match x \(10, 2\); got \(9,\)"):
        fit(model, loss, opt, x, y[:9], epochs=1, batch_size=5)
    with pytest.raises(TypeError, match="loss to be a SoftmaxCrossEntropy; got str"):
        fit(model, "ce", opt, x, y, epochs=1, batch_size=5)
    with pytest.raises(ValueError, match="epochs must be a positive int; got 0"):
        fit(model, loss, opt, x, y, epochs=0, batch_size=5)
    with pytest.raises(TypeError, match="accuracy expects a Layer; got int"):
        accuracy(3, x, y)
