"""Tests of bnlearn.train: determinism, History, evaluation, divergence, errors."""
import numpy as np
import pytest
import torch

from bnlearn import data, models, train


@pytest.fixture(scope="module")
def digits():
    return data.load_digits()


def test_same_seed_same_history(digits):
    runs = [train.train(models.paper_mlp(True, seed=3), digits, steps=30, lr=1.0, seed=5,
                        eval_every=10, progress=False) for _ in range(2)]
    a, b = runs
    assert a.step_loss == b.step_loss and a.eval_accuracy == b.eval_accuracy
    c = train.train(models.paper_mlp(True, seed=3), digits, steps=30, lr=1.0, seed=6, eval_every=10, progress=False)
    assert c.step_loss != a.step_loss


def test_history_contents(digits):
    h = train.train(models.paper_mlp(True, seed=0), digits, steps=25, lr=1.0, eval_every=10, progress=False)
    assert h.steps == 25 and len(h.step_loss) == 25
    assert h.eval_steps == [0, 10, 20, 25]
    assert len(h.eval_accuracy) == len(h.eval_loss) == len(h.eval_time) == 4
    assert all(0 <= a <= 1 for a in h.eval_accuracy)
    assert h.eval_time == sorted(h.eval_time) and h.train_seconds == h.eval_time[-1] > 0
    assert h.eval_accuracy[-1] > h.eval_accuracy[0]  # 25 steps at lr 1 already learn
    assert h.seconds_per_step == pytest.approx(h.train_seconds / 25)
    d = h.to_dict()
    assert d["eval_steps"] == h.eval_steps and d["diverged"] is False


def test_evaluation_matches_manual_eval_mode(digits):
    model = models.paper_mlp(True, seed=0)
    h = train.train(model, digits, steps=12, lr=0.5, eval_every=12, progress=False)
    model.eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(digits.x_test))
    acc = (logits.argmax(1).numpy() == digits.y_test).mean()
    assert h.final_accuracy == pytest.approx(acc)


def test_epochs_and_batch_order(digits):
    h = train.train(models.paper_mlp(False, seed=0), digits, epochs=2, batch_size=100, progress=False, eval_every=50)
    assert h.steps == 2 * (len(digits.x_train) // 100)


def test_steps_to_reach():
    h = train.History(eval_steps=[0, 10, 20], eval_accuracy=[0.1, 0.6, 0.9])
    assert h.steps_to_reach(0.6) == 10 and h.steps_to_reach(0.95) is None and h.steps_to_reach(0.0) == 0
    with pytest.raises(ValueError, match=r"accuracy must be a number in \[0, 1\]; got 95"):
        h.steps_to_reach(95)


def test_probe_is_recorded(digits):
    calls = []

    def probe(model):
        calls.append(model.training)
        return {"w": model[1].weight.abs().mean()}

    h = train.train(models.paper_mlp(True, seed=0), digits, steps=20, lr=1.0, eval_every=10, progress=False, probe=probe)
    assert calls == [False, False, False]  # called in eval mode after each evaluation
    assert len(h.probes["w"]) == 3 and all(isinstance(v, float) for v in h.probes["w"])


def test_on_step_sees_every_update_and_the_trained_network(digits):
    # on_step(t, ...) runs before update t + 1 with that update's batch, and once after the last update.
    seen, weights = [], []
    model = models.paper_mlp(True, seed=0)

    def look(t, m, xb, yb):
        seen.append((t, tuple(xb.shape), m.training))
        weights.append(m[1].weight.detach().clone())

    h = train.train(model, digits, steps=7, lr=0.5, eval_every=3, on_step=look, progress=False)
    assert [t for t, _, _ in seen] == list(range(8))
    assert all(shape == (60, 1, 8, 8) and training for _, shape, training in seen)
    assert not torch.equal(weights[0], weights[1])                       # an update happened in between
    torch.testing.assert_close(weights[-1], model[1].weight.detach())    # the last look sees the trained net
    # Looking changes nothing: the same run without on_step has the same losses.
    plain = train.train(models.paper_mlp(True, seed=0), digits, steps=7, lr=0.5, eval_every=3, progress=False)
    assert plain.step_loss == h.step_loss


def test_loss_fn_and_batches_replace_the_defaults(digits):
    x = torch.from_numpy(digits.x_train[:32])
    y = torch.from_numpy(digits.y_train[:32])
    pairs = [(x[i:i + 8], y[i:i + 8]) for i in range(0, 32, 8)]
    calls = []

    def loss_fn(m, xb, yb):
        calls.append(len(xb))
        return torch.nn.functional.cross_entropy(m(xb), yb, reduction="sum")

    h = train.train(models.paper_mlp(False, seed=0), None, steps=4, batches=iter(pairs), loss_fn=loss_fn,
                    evaluate_test=False, eval_every=2, probe=lambda m: {"w": float(m[1].weight.norm())},
                    progress=False)
    assert calls == [8, 8, 8, 8] and h.steps == 4
    # the loss is the summed one (8 times the mean), and nothing evaluated the test set
    assert h.step_loss[0] > 8 * 1.5
    assert h.eval_steps == [0, 2, 4] and h.eval_accuracy == [] and len(h.probes["w"]) == 3
    with pytest.raises(ValueError, match="evaluated no test set"):
        h.final_accuracy
    with pytest.raises(ValueError, match=r"batches ran out after 4 batch\(es\); training needs 5"):
        train.train(models.paper_mlp(False, seed=0), None, steps=4, batches=iter(pairs), evaluate_test=False,
                    on_step=lambda *a: None, progress=False)
    with pytest.raises(TypeError, match="batches must yield \\(xb, yb\\) pairs of tensors; item 0 is str"):
        train.train(models.paper_mlp(False, seed=0), digits, steps=1, batches=["ab"], progress=False)
    with pytest.raises(TypeError, match="data may be None only with batches given and evaluate_test=False"):
        train.train(models.paper_mlp(False, seed=0), None, steps=1, progress=False)
    with pytest.raises(ValueError, match="with batches given, give steps, not epochs"):
        train.train(models.paper_mlp(False, seed=0), digits, epochs=1, batches=iter(pairs), progress=False)
    with pytest.raises(TypeError, match="loss_fn must be a callable or None; got 3"):
        train.train(models.paper_mlp(False, seed=0), digits, steps=1, loss_fn=3, progress=False)
    with pytest.raises(TypeError, match="batches must be an iterable of \\(xb, yb\\) tensor pairs or None; got int"):
        train.train(models.paper_mlp(False, seed=0), digits, steps=1, batches=3, progress=False)


def test_divergence_stops_training(digits):
    h = train.train(models.deep_mlp(4, 50, seed=0), digits, steps=200, lr=64.0, eval_every=20, progress=False)
    assert h.diverged and h.steps < 200
    assert not np.isfinite(h.step_loss[-1])
    assert len(h.step_loss) == h.steps


def test_optimizers_and_callable(digits):
    for opt in ("sgd", "momentum", "adam"):
        h = train.train(models.paper_mlp(True, seed=0), digits, steps=5, optimizer=opt, lr=0.01,
                        eval_every=5, progress=False)
        assert h.steps == 5
    h = train.train(models.paper_mlp(True, seed=0), digits, steps=5, eval_every=5, progress=False,
                    optimizer=lambda p: torch.optim.RMSprop(p, lr=1e-3))
    assert h.steps == 5


def test_the_optimizer_argument_is_used(digits):
    # Each named optimizer moves the weights in its own way from the same start.
    finals = {}
    for opt in ("sgd", "momentum", "adam"):
        model = models.paper_mlp(True, seed=0)
        train.train(model, digits, steps=5, optimizer=opt, lr=0.01, eval_every=5, progress=False)
        finals[opt] = model[1].weight.detach().clone()
    assert not torch.equal(finals["sgd"], finals["momentum"])
    assert not torch.equal(finals["sgd"], finals["adam"])
    used = []

    def make(params):
        opt = torch.optim.SGD(params, lr=0.0)      # a zero rate: the weights must not move
        used.append(opt)
        return opt

    model = models.paper_mlp(True, seed=0)
    start = model[1].weight.detach().clone()
    train.train(model, digits, steps=5, optimizer=make, eval_every=5, progress=False, lr=5.0)
    assert len(used) == 1 and torch.equal(model[1].weight, start)


def test_num_threads_is_restored(digits):
    before = torch.get_num_threads()
    train.train(models.paper_mlp(True, seed=0), digits, steps=3, eval_every=3, progress=False, num_threads=1)
    assert torch.get_num_threads() == before


def test_progress_bar_runs(digits, capsys):
    h = train.train(models.paper_mlp(True, seed=0), digits, steps=3, eval_every=3, progress=True, desc="unit")
    assert h.steps == 3
    assert "unit" in capsys.readouterr().err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu_roughly(digits):
    cpu = train.train(models.paper_mlp(True, seed=0), digits, steps=20, lr=0.5, eval_every=20, progress=False)
    gpu = train.train(models.paper_mlp(True, seed=0), digits, steps=20, lr=0.5, eval_every=20, progress=False,
                      device="cuda")
    assert abs(cpu.final_accuracy - gpu.final_accuracy) < 0.05


def test_train_errors(digits):
    m = models.paper_mlp(True, seed=0)
    with pytest.raises(ValueError, match="give exactly one of steps and epochs; got steps=None, epochs=None"):
        train.train(m, digits)
    with pytest.raises(ValueError, match="give exactly one of steps and epochs; got steps=3, epochs=1"):
        train.train(m, digits, steps=3, epochs=1)
    with pytest.raises(ValueError, match="steps must be >= 1; got 0"):
        train.train(m, digits, steps=0)
    with pytest.raises(TypeError, match="batch_size must be an int; got 6.0"):
        train.train(m, digits, steps=1, batch_size=6.0)
    with pytest.raises(ValueError, match="batch_size must be at most the 1347 training examples; got 5000"):
        train.train(m, digits, steps=1, batch_size=5000)
    with pytest.raises(ValueError, match="lr must be a positive finite number; got -1"):
        train.train(m, digits, steps=1, lr=-1)
    with pytest.raises(ValueError, match="unknown optimizer 'lbfgs'"):
        train.train(m, digits, steps=1, optimizer="lbfgs", progress=False)
    with pytest.raises(TypeError, match="optimizer callable must return a torch.optim.Optimizer; got int"):
        train.train(m, digits, steps=1, optimizer=lambda p: 3, progress=False)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module; got str"):
        train.train("net", digits, steps=1)
    with pytest.raises(TypeError, match=r"data must be a bnlearn.data.Dataset; got tuple"):
        train.train(m, (1, 2), steps=1)
    with pytest.raises(TypeError, match="seed must be an int; got 0.5"):
        train.train(m, digits, steps=1, seed=0.5)
    with pytest.raises(TypeError, match="progress must be True or False; got 1"):
        train.train(m, digits, steps=1, progress=1)
    with pytest.raises(TypeError, match="probe must be a callable"):
        train.train(m, digits, steps=1, probe=3)
    with pytest.raises(ValueError, match="device must be 'cpu', 'cuda', 'cuda:N' or a torch.device; got 'gpu'"):
        train.train(m, digits, steps=1, device="gpu")
    with pytest.raises(ValueError, match="num_threads must be >= 1; got 0"):
        train.train(m, digits, steps=1, num_threads=0)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match=r"device 'cuda' asked for CUDA, but torch.cuda.is_available\(\) is False"):
            train.train(m, digits, steps=1, device="cuda")


# --------------------------------------------------------------------------- batch statistics at test time

def test_batch_statistics_with_one_example_ignore_the_input(digits):
    from bnlearn.ensemble import EnsembleMLP, member_loss, member_stream
    from bnlearn.experiments.regularisation import member_data

    d = member_data(digits, 2, 64, 0.0, seed=0)
    model = EnsembleMLP(2, (64, 8, 10), "batch", seed=0)
    train.train(model, None, steps=20, batches=member_stream(model, d["x"], d["y"], steps=20, batch_size=16),
                loss_fn=member_loss, lr=0.05, momentum=0.9, evaluate_test=False, progress=False)
    acc1 = train.batch_statistics_accuracy(model, d["x_test"], d["y_test"], 1)
    # Every layer outputs beta, so each network predicts one class for every input.
    with torch.no_grad():
        const = model[1].bn.bias.view(2, 8).relu()[None]             # (1, S, 8): ReLU(beta)
        cls = model[3](const).argmax(-1)[0]                           # (S,)
    for s in range(2):
        assert acc1[s] == pytest.approx((d["y_test"] == cls[s]).double().mean().item())
    before = model[1].bn.running_mean.clone()
    acc_all = train.batch_statistics_accuracy(model, d["x_test"], d["y_test"], len(d["x_test"]))
    torch.testing.assert_close(model[1].bn.running_mean, before)   # the model itself is untouched
    assert acc_all.shape == (2,) and np.all(acc_all > acc1)
    with pytest.raises(ValueError, match=r"batch_size must be an int in 1..450; got 0"):
        train.batch_statistics_accuracy(model, d["x_test"], d["y_test"], 0)


def test_batch_statistics_accuracy_on_a_conv_net(digits):
    import copy

    from bnlearn.nn import BatchNorm2d

    net = models.small_conv_net(BatchNorm2d, widths=(4,), seed=0)     # Conv -> BN -> ReLU -> pool -> Linear
    with torch.no_grad():
        net[1].bias.copy_(torch.tensor([0.5, -1.0, 2.0, 0.3]))
    x, y = torch.as_tensor(digits.x_test[:40]), torch.as_tensor(digits.y_test[:40])
    before = net[1].running_var.clone()
    acc = train.batch_statistics_accuracy(net, x, y, 40)               # one batch: all 40 images
    with torch.no_grad():
        manual = (copy.deepcopy(net).train()(x).argmax(1) == y).double().mean().item()
    assert acc.shape == (1,) and acc[0] == pytest.approx(manual)
    torch.testing.assert_close(net[1].running_var, before)            # the model itself is untouched
    # A batch of one image: each channel still has H*W values, so BN normalises the image by its
    # own statistics (it does not collapse to beta, as a (1, C) batch does).
    with torch.no_grad():
        alone = copy.deepcopy(net).train()
        per_image = torch.cat([alone(x[i:i + 1]).argmax(1) for i in range(len(x))])
    acc1 = train.batch_statistics_accuracy(net, x, y, 1)
    order = np.random.default_rng([0, 13]).permutation(len(x))
    assert acc1[0] == pytest.approx((per_image[order] == y[order]).double().mean().item())
