"""bnlearn.diagnostics: each measure checked on a model whose answer is known by hand."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from bnlearn import diagnostics as dg

scipy_stats = pytest.importorskip("scipy.stats")


# ----------------------------------------------------------------- activations

def test_activation_stats_match_numpy_pooled_and_per_unit():
    x = torch.arange(12, dtype=torch.float32).reshape(4, 3)  # units are columns
    s = dg.activation_stats(x, (15, 50, 85), step=7)
    a = x.numpy().astype(np.float64)
    assert s.step == 7
    np.testing.assert_allclose(s.pooled, np.percentile(a, [15, 50, 85]))
    np.testing.assert_allclose(s.unit, np.percentile(a, [15, 50, 85], axis=0))
    assert s.unit.shape == (3, 3)
    # column j holds j, j+3, j+6, j+9: mean j + 4.5, biased std sqrt(11.25)
    np.testing.assert_allclose(s.unit_mean, [4.5, 5.5, 6.5])
    np.testing.assert_allclose(s.unit_std, np.sqrt(11.25))
    assert s.mean == pytest.approx(5.5)
    assert s.std == pytest.approx(np.std(np.arange(12)))
    assert s.saturated is None


def test_activation_stats_conv_units_are_channels():
    x = torch.zeros(2, 3, 4, 4)
    x[:, 1] = 1.0
    x[:, 2] = torch.arange(16.0).reshape(4, 4)
    s = dg.activation_stats(x)
    np.testing.assert_allclose(s.unit_mean, [0.0, 1.0, 7.5])
    np.testing.assert_allclose(s.unit_std, [0.0, 0.0, np.std(np.arange(16))])


def test_saturation_fraction_by_hand():
    y = torch.sigmoid(torch.tensor([-10.0, 0.0, 10.0, 1.0]))
    assert dg.saturation_fraction(y, "sigmoid") == 0.5           # -10 and 10
    t = torch.tanh(torch.tensor([-3.0, 0.0, 0.1, 5.0]))       # tanh(3) = 0.99505
    assert dg.saturation_fraction(t, "tanh") == 0.5
    assert dg.saturation_fraction(t, "tanh", tol=0.001) == 0.25  # only tanh(5) = 0.99991


def test_recorder_identity_layer_known_inputs():
    ident = nn.Identity()
    rec = dg.ActivationRecorder({"id": ident}, percentiles=(0, 50, 100))
    x0 = torch.tensor([[1.0], [2.0], [3.0]])
    with rec:
        ident(x0)                       # outside record(): not recorded
        with rec.record(step=0):
            ident(x0)
        with rec.record(step=5):
            ident(x0 * 10)
    ident(x0)                           # hooks removed
    assert [s.step for s in rec.history["id"]] == [0, 5]
    np.testing.assert_allclose(rec.series("id", "pooled"), [[1, 2, 3], [10, 20, 30]])
    np.testing.assert_allclose(rec.series("id", "std"), [np.std([1, 2, 3]), np.std([10, 20, 30])])
    np.testing.assert_array_equal(rec.steps("id"), [0, 5])
    assert np.isnan(rec.series("id", "saturated")).all()


def test_recorder_sigmoid_input_and_saturation_of_output():
    sig = nn.Sigmoid()
    rec = dg.ActivationRecorder({"sig": sig}, where="input", keep_values=True)
    x = torch.tensor([[-20.0, 0.0], [20.0, 0.5]])
    with rec, rec.record(step=1):
        sig(x)
    s = rec.history["sig"][0]
    assert s.saturated == 0.5
    assert s.mean == pytest.approx(0.125)             # described values are the inputs
    torch.testing.assert_close(rec.values["sig"][0], x)
    rec_out = dg.ActivationRecorder({"sig": sig}, where="output")
    with rec_out, rec_out.record():
        sig(x)
    assert rec_out.history["sig"][0].mean == pytest.approx(float(torch.sigmoid(x).mean()))


def test_recorder_errors():
    with pytest.raises(TypeError, match="non-empty mapping"):
        dg.ActivationRecorder([nn.Identity()])
    with pytest.raises(ValueError, match="where must be 'input' or 'output'; got 'middle'"):
        dg.ActivationRecorder({"a": nn.Identity()}, where="middle")
    with pytest.raises(ValueError, match=r"percentiles must be numbers in \[0, 100\]; got 150"):
        dg.ActivationRecorder({"a": nn.Identity()}, percentiles=(15, 150))
    rec = dg.ActivationRecorder({"a": nn.Identity()})
    with pytest.raises(RuntimeError, match="attach the recorder first"):
        with rec.record(0):
            pass
    with pytest.raises(KeyError, match="no module named 'b'"):
        rec.series("b", "mean")
    with pytest.raises(ValueError, match="attribute must be one of"):
        rec.series("a", "median")
    with pytest.raises(TypeError, match="step must be an int; got 1.5"):
        with rec, rec.record(1.5):
            pass


def test_activation_function_errors():
    with pytest.raises(ValueError, match=r"shape \(N, D\) or \(N, C, \*spatial\); got shape \(3,\)"):
        dg.activation_stats(torch.zeros(3))
    with pytest.raises(TypeError, match="got list"):
        dg.activation_stats([[1.0]])
    with pytest.raises(ValueError, match="kind must be 'sigmoid' or 'tanh'; got 'relu'"):
        dg.saturation_fraction(torch.zeros(2), "relu")
    with pytest.raises(ValueError, match=r"tol must be a number in \(0, 0.5\); got 0.7"):
        dg.saturation_fraction(torch.zeros(2), "tanh", tol=0.7)


# ------------------------------------------------------------------ gradients

def test_gradient_norms_linear_least_squares_by_hand():
    model = nn.Sequential(nn.Linear(3, 2, bias=False), nn.ReLU(), nn.Linear(2, 1, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, 0.0, 2.0], [0.0, 1.0, 0.0]]))
        model[2].weight.copy_(torch.tensor([[3.0, -1.0]]))
    x = torch.tensor([[1.0, 2.0, 1.0]])
    y = torch.tensor([[2.0]])
    loss = 0.5 * ((model(x) - y) ** 2).sum()
    loss.backward()
    # h = relu(W1 x) = (3, 2); out = 3*3 - 2 = 7; r = out - y = 5
    # dL/dW2 = r h^T = (15, 10); dL/dW1 = (r W2^T * 1[h>0]) x^T = (15, -5)^T (1, 2, 1)
    norms = dg.gradient_norms(model)
    assert list(norms) == ["0", "2"]
    assert norms["2"] == pytest.approx(np.hypot(15, 10))
    assert norms["0"] == pytest.approx(np.hypot(15, 5) * np.sqrt(6))
    rel = dg.gradient_norms(model, relative=True)
    assert rel["2"] == pytest.approx(np.hypot(15, 10) / np.hypot(3, 1))


def test_weighted_layers_skip_norm_vectors():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 2))
    assert list(dg.weighted_layers(model)) == ["0", "3"]


def test_gradient_norms_errors():
    with pytest.raises(ValueError, match="has no gradient; call loss.backward"):
        dg.gradient_norms(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="has no layer with a weight matrix"):
        dg.gradient_norms(nn.ReLU())
    with pytest.raises(TypeError, match="model must be a torch.nn.Module; got str"):
        dg.weighted_layers("net")
    with pytest.raises(TypeError, match="relative must be True or False; got 1"):
        dg.gradient_norms(nn.Linear(2, 2), relative=1)


# ---------------------------------------------------------------------- shift

@pytest.mark.parametrize("n,m", [(50, 50), (40, 73), (1, 9)])
def test_wasserstein_matches_scipy(n, m):
    rng = np.random.default_rng(n * 100 + m)
    a = rng.normal(size=(n, 3))
    b = rng.normal(1.0, 2.0, size=(m, 3))
    ours = dg.wasserstein_1d(a, b)
    ref = [scipy_stats.wasserstein_distance(a[:, d], b[:, d]) for d in range(3)]
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-12)


def test_wasserstein_equal_sizes_is_mean_sorted_gap():
    a = np.array([0.0, 1.0, 5.0])
    b = np.array([2.0, 3.0, -1.0])
    # sorted: (0, 1, 5) vs (-1, 2, 3): (1 + 1 + 2) / 3
    assert dg.wasserstein_1d(a, b)[0] == pytest.approx(4 / 3)
    assert dg.wasserstein_1d(torch.tensor(a), torch.tensor(a))[0] == 0.0


def test_distribution_shift_of_a_translation_and_a_scaling():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4))
    shift = dg.distribution_shift(x, x + np.array([0.0, 1.0, -2.0, 0.5]))
    np.testing.assert_allclose(shift.mean_change, [0.0, 1.0, 2.0, 0.5], atol=1e-12)
    np.testing.assert_allclose(shift.std_change, 0.0, atol=1e-12)
    np.testing.assert_allclose(shift.wasserstein, [0.0, 1.0, 2.0, 0.5], atol=1e-12)
    scaled = dg.distribution_shift(x, 3 * x)
    np.testing.assert_allclose(scaled.std_change, 2 * x.std(0))
    # scaling by 3 about 0 moves each sorted value x_(i) to 3 x_(i): W = 2 mean|x|
    np.testing.assert_allclose(scaled.wasserstein, 2 * np.abs(x).mean(0))
    assert shift.summary()["mean_change"] == pytest.approx(0.875)


def test_shift_errors():
    with pytest.raises(ValueError, match="same number of units; got 3 and 2"):
        dg.wasserstein_1d(np.zeros((4, 3)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="before holds NaN"):
        dg.distribution_shift(np.array([np.nan, 1.0]), np.zeros(2))
    with pytest.raises(TypeError, match="a must be a numpy.ndarray or torch.Tensor; got list"):
        dg.wasserstein_1d([1.0], np.zeros(1))
    with pytest.raises(ValueError, match="at least one sample"):
        dg.wasserstein_1d(np.zeros((0, 2)), np.zeros((3, 2)))


# ------------------------------------------------------------------------ ICS

def _scalar_chain(w1=0.5, w2=-2.0):
    """L = 0.5 (w2 * w1 * x - y)^2 with scalar weights, as two bias-free Linear(1, 1)."""
    model = nn.Sequential(nn.Linear(1, 1, bias=False), nn.Linear(1, 1, bias=False))
    with torch.no_grad():
        model[0].weight.fill_(w1)
        model[1].weight.fill_(w2)
    return model


def test_gradient_ics_two_scalar_layers_by_hand():
    w1, w2, x, y, lr = 0.5, -2.0, 3.0, 1.0, 0.1
    model = _scalar_chain(w1, w2)
    xt, yt = torch.tensor([[x]]), torch.tensor([[y]])
    closure = lambda: 0.5 * ((model(xt) - yt) ** 2).sum()  # noqa: E731
    ics = dg.gradient_ics(model, closure, lr)
    r = w2 * w1 * x - y                       # residual
    g2 = r * w1 * x                           # dL/dw2
    w1_new = w1 - lr * r * w2 * x             # earlier layer's step
    g2_new = (w2 * w1_new * x - y) * w1_new * x
    assert ics.layers == ["0", "1"]
    assert ics.l2[0] == 0.0 and ics.cosine[0] == pytest.approx(1.0)   # nothing before layer 0
    assert ics.l2[1] == pytest.approx(abs(g2 - g2_new))
    assert ics.cosine[1] == pytest.approx(np.sign(g2 * g2_new))
    assert ics.grad_norm[1] == pytest.approx(abs(g2))
    assert ics.relative[1] == pytest.approx(abs(g2 - g2_new) / abs(g2))
    # the model is untouched
    assert model[0].weight.item() == w1 and model[1].weight.item() == w2
    assert model[0].weight.grad is None
    assert set(ics.to_dict()) == {"layers", "l2", "cosine", "grad_norm", "relative"}


def test_gradient_ics_vector_case_against_autograd_and_restores_buffers():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1d(5), nn.Tanh(), nn.Linear(5, 3))
    x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
    closure = lambda: nn.functional.cross_entropy(model(x), y)  # noqa: E731
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ics = dg.gradient_ics(model, closure, lr=0.5)
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, before[k])
    # redo layer "3" by hand: all of layer 0 and the BN parameters take their step
    params = list(model.parameters())
    grads = torch.autograd.grad(closure(), params)
    g_old = grads[-2]
    with torch.no_grad():
        for p, g in zip(params[:4], grads[:4]):
            p -= 0.5 * g
    g_new = torch.autograd.grad(closure(), [model[3].weight])[0]
    assert ics.l2[1] == pytest.approx(float((g_old - g_new).norm()), rel=1e-5)
    cos = float((g_old * g_new).sum() / (g_old.norm() * g_new.norm()))
    assert ics.cosine[1] == pytest.approx(cos, rel=1e-5)


def test_gradient_ics_same_noise_in_both_gradients():
    model = _scalar_chain()
    x = torch.tensor([[3.0]])
    closure = lambda: ((model[1](model[0](x) + torch.randn(1, 1))) ** 2).sum()  # noqa: E731
    # layer 0 has no earlier layer: with the same noise in G and G' they agree exactly
    assert dg.gradient_ics(model, closure, 0.1, seed=3).l2[0] == 0.0


def test_gradient_ics_errors():
    model = _scalar_chain()
    closure = lambda: model(torch.ones(1, 1)).sum()  # noqa: E731
    with pytest.raises(ValueError, match="lr must be a positive finite number; got -1"):
        dg.gradient_ics(model, closure, -1)
    with pytest.raises(TypeError, match="closure must be a callable"):
        dg.gradient_ics(model, 3.0, 0.1)
    with pytest.raises(ValueError, match="layer 'x' \\(ReLU\\) has no trainable weight"):
        dg.gradient_ics(model, closure, 0.1, layers={"x": nn.ReLU()})
    with pytest.raises(ValueError, match=r"closure must return a scalar loss tensor; got \(1, 2\)"):
        dg.gradient_ics(model, lambda: model(torch.ones(2, 1)).T, 0.1)
    with pytest.raises(TypeError, match="seed must be an int or None; got 'a'"):
        dg.gradient_ics(model, closure, 0.1, seed="a")


# ------------------------------------------------------------------ landscape

def _quadratic():
    a = torch.tensor([[1.0, 0.0], [0.0, 3.0]], dtype=torch.float64)
    b = torch.tensor([1.0, -2.0], dtype=torch.float64)
    theta = torch.tensor([2.0, 1.0], dtype=torch.float64, requires_grad=True)
    closure = lambda: 0.5 * theta @ a @ theta - b @ theta  # noqa: E731
    return a, b, theta, closure


def test_landscape_probe_quadratic_closed_forms():
    a, b, theta, closure = _quadratic()
    etas = [0.05, 0.1, 0.2, 0.4]
    probe = dg.landscape_probe(theta, closure, etas)
    th = theta.detach()
    g = a @ th - b                                   # (1, 5)
    loss0 = float(0.5 * th @ a @ th - b @ th)
    expected = [loss0 - e * float(g @ g) + 0.5 * e ** 2 * float(g @ a @ g) for e in etas]
    assert probe.loss0 == pytest.approx(loss0)
    np.testing.assert_allclose(probe.losses, expected)
    ag = float((a @ g).norm())
    np.testing.assert_allclose(probe.grad_change, [e * ag for e in etas])
    assert probe.grad_norm == pytest.approx(float(g.norm()))
    assert probe.beta_smoothness == pytest.approx(ag / float(g.norm()))
    assert probe.max_grad_change == pytest.approx(0.4 * ag)
    all_losses = expected + [loss0]
    assert probe.loss_range == pytest.approx(max(all_losses) - min(all_losses))
    torch.testing.assert_close(theta.detach(), torch.tensor([2.0, 1.0], dtype=torch.float64))
    # beta never exceeds the largest eigenvalue of A
    assert probe.beta_smoothness <= 3.0


def test_landscape_probe_linear_regression_module_and_buffers():
    torch.manual_seed(0)
    x, y = torch.randn(32, 3), torch.randn(32, 1)
    model = nn.Sequential(nn.BatchNorm1d(3, affine=False), nn.Linear(3, 1))
    model.eval()                                      # BN in eval mode: a fixed affine map
    closure = lambda: 0.5 * ((model(x) - y) ** 2).mean()  # noqa: E731
    before = {k: v.clone() for k, v in model.state_dict().items()}
    probe = dg.landscape_probe(model, closure, [0.1, 1.0])
    # with z = BN(x) the loss is quadratic in (w, b): Hessian H = E[(z,1)(z,1)^T]
    z = torch.cat([model[0](x), torch.ones(32, 1)], 1).double()
    h = z.T @ z / 32
    g = torch.cat([gp.reshape(-1) for gp in torch.autograd.grad(closure(), [model[1].weight, model[1].bias])])
    g = g.double()
    assert probe.beta_smoothness == pytest.approx(float((h @ g).norm() / g.norm()), rel=1e-4)
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, before[k])
    model.train()
    dg.landscape_probe(model, lambda: 0.5 * ((model(x) - y) ** 2).mean(), [0.1])
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, before[k])      # running stats restored


def test_landscape_errors():
    _, _, theta, closure = _quadratic()
    with pytest.raises(ValueError, match="each step size must be a positive finite number; got -0.1"):
        dg.landscape_probe(theta, closure, [0.1, -0.1])
    with pytest.raises(ValueError, match="at least one positive number; got an empty sequence"):
        dg.landscape_probe(theta, closure, [])
    with pytest.raises(TypeError, match="step_sizes must be a sequence of positive numbers; got 0.1"):
        dg.landscape_probe(theta, closure, 0.1)
    with pytest.raises(ValueError, match=r"parameter of shape \(2,\) does not require grad"):
        dg.landscape_probe(theta.detach(), closure, [0.1])
    with pytest.raises(TypeError, match="expects a module, a tensor or an iterable of tensors; got float"):
        dg.landscape_probe(1.5, closure, [0.1])
