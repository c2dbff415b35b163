"""The training loop every experiment of the book runs on.

:func:`train` runs mini-batch training for a number of steps (or epochs),
evaluates on the test set in eval mode every ``eval_every`` steps and returns a
:class:`History`. The same model initialisation and seed give the same History
(on CPU; CUDA kernels may differ in the last bits).
"""
from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from . import _validation as _v
from .data import Dataset, iterate_batches
from ._threads import torch_threads

__all__ = ["History", "train", "evaluate", "batch_statistics_accuracy", "OPTIMIZERS"]

#: Optimizer names :func:`train` accepts (or pass a callable, see there).
OPTIMIZERS = ("sgd", "momentum", "adam")


@dataclass
class History:
    """What one training run recorded.

    Attributes
    ----------
    step_loss : list of float
        Training loss of every step's mini-batch, length ``steps``.
    eval_steps : list of int
        Steps after which the test set was evaluated (0 is before training).
    eval_accuracy, eval_loss : list of float
        Test accuracy in [0, 1] and mean cross-entropy at ``eval_steps``.
    eval_time : list of float
        Seconds spent in training steps (evaluation excluded) up to each of
        ``eval_steps``.
    train_seconds : float
        Seconds spent in training steps in total.
    steps : int
        Steps actually run (fewer than asked when training diverged).
    diverged : bool
        Whether a training loss became NaN or infinite (training then stops).
    probes : dict
        ``name -> list of float``, the values the ``probe`` returned at each of
        ``eval_steps``.
    """

    step_loss: list = field(default_factory=list)
    eval_steps: list = field(default_factory=list)
    eval_accuracy: list = field(default_factory=list)
    eval_loss: list = field(default_factory=list)
    eval_time: list = field(default_factory=list)
    train_seconds: float = 0.0
    steps: int = 0
    diverged: bool = False
    probes: dict = field(default_factory=dict)

    @property
    def seconds_per_step(self) -> float:
        """Mean seconds per training step, ``train_seconds / steps``."""
        return self.train_seconds / self.steps if self.steps else math.nan

    @property
    def final_accuracy(self) -> float:
        """Test accuracy at the last evaluation."""
        if not self.eval_accuracy:
            raise ValueError("this run evaluated no test set (train(..., evaluate_test=False)); "
                             "its measurements are in History.probes")
        return self.eval_accuracy[-1]

    def steps_to_reach(self, accuracy: float) -> int | None:
        """First evaluated step whose test accuracy is at least ``accuracy``.

        Parameters
        ----------
        accuracy : float
            Target in [0, 1].

        Returns
        -------
        int or None
            The step, or None when no evaluation reached the target.
        """
        if isinstance(accuracy, bool) or not isinstance(accuracy, int | float) or not 0 <= accuracy <= 1:
            raise ValueError(f"accuracy must be a number in [0, 1]; got {accuracy!r}")
        for step, acc in zip(self.eval_steps, self.eval_accuracy):
            if acc >= accuracy:
                return step
        return None

    def to_dict(self) -> dict:
        """The History as plain Python types (JSON-serialisable)."""
        return asdict(self)


def _device(device) -> torch.device:
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or a torch.device; got {device!r}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for CUDA, but torch.cuda.is_available() is False")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be a CPU or CUDA device; got {device!r}")
    return dev


def _make_optimizer(optimizer, params, lr, momentum, weight_decay) -> torch.optim.Optimizer:
    if callable(optimizer) and not isinstance(optimizer, str):
        opt = optimizer(params)
        if not isinstance(opt, torch.optim.Optimizer):
            raise TypeError(f"optimizer callable must return a torch.optim.Optimizer; got {type(opt).__name__}")
        return opt
    if optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if optimizer == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=momentum or 0.9, weight_decay=weight_decay)
    if optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {optimizer!r}; expected one of {OPTIMIZERS} or a callable params -> Optimizer")


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, chunk: int = 2048) -> tuple[float, float]:
    """Accuracy and mean cross-entropy of ``model`` on ``(x, y)``, in chunks.

    The model is evaluated in whatever mode it is in; :func:`train` puts it in
    eval mode first.

    Parameters
    ----------
    model : torch.nn.Module
        Maps ``(n, ...)`` inputs to ``(n, K)`` logits.
    x : torch.Tensor
        Inputs of shape ``(N, ...)``.
    y : torch.Tensor
        Integer labels of shape ``(N,)``.
    chunk : int, default 2048
        Examples per forward pass.

    Returns
    -------
    tuple of float
        ``(accuracy, loss)`` with accuracy :math:`\\frac1N\\sum_i [\\arg\\max_k z_{ik} = y_i]`
        and loss :math:`-\\frac1N\\sum_i \\log \\mathrm{softmax}(z_i)_{y_i}`.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    for name, t in (("x", x), ("y", y)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"evaluate: {name} must be a torch.Tensor; got {type(t).__name__}")
    if len(x) != len(y):
        raise ValueError(f"evaluate: x and y must hold as many examples; got {len(x)} and {len(y)}")
    if len(x) == 0:
        raise ValueError("evaluate needs at least one example to average over; got 0")
    _check_count("chunk", chunk)
    correct, loss = 0.0, 0.0
    for start in range(0, len(x), chunk):
        logits = model(x[start:start + chunk])
        yb = y[start:start + chunk]
        correct += (logits.argmax(1) == yb).sum().item()
        loss += nn.functional.cross_entropy(logits, yb, reduction="sum").item()
    return correct / len(x), loss / len(x)


#: The most steps one call trains for (the losses are kept, 4 bytes each).
MAX_STEPS = 2**31 - 1


def _check_count(name, value, high=_v.INT64_MAX):
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an int; got {_v.describe(value)}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1; got {_v.describe(value)}")
    if value > high:
        raise ValueError(f"{name} must be <= {high}; got {_v.describe(value)}")


def _check_data(data: Dataset) -> None:
    """Refuse training data that would poison every step: NaN or infinite inputs, bad labels, empty parts."""
    for part in ("train", "test"):
        x, y = getattr(data, f"x_{part}"), getattr(data, f"y_{part}")
        if len(x) == 0:
            raise ValueError(f"data.x_{part} is empty: training needs examples to learn from and the test "
                             f"set examples to average the accuracy over")
        if len(x) != len(y):
            raise ValueError(f"data.x_{part} and data.y_{part} must hold as many examples; got {len(x)} and {len(y)}")
        xa = np.asarray(x)
        if not np.issubdtype(xa.dtype, np.floating):
            raise TypeError(f"data.x_{part} must hold floating-point images; got dtype {xa.dtype}")
        if not np.isfinite(xa).all():
            bad = np.flatnonzero(~np.isfinite(xa.reshape(len(xa), -1)).all(axis=1))
            raise ValueError(f"data.x_{part} holds NaN or infinite values in {len(bad)} example(s) (the first is "
                             f"example {int(bad[0])}); a single one makes every loss NaN. Remove or impute them "
                             f"before training")
        ya = np.asarray(y)
        if not np.issubdtype(ya.dtype, np.integer):
            raise TypeError(f"data.y_{part} must hold integer labels; got dtype {ya.dtype}")
        if ya.min() < 0 or ya.max() >= data.num_classes:
            raise ValueError(f"data.y_{part} must hold labels in range({data.num_classes}) (data.num_classes); "
                             f"got values from {ya.min()} to {ya.max()}")


def _check_hyper(model: nn.Module, lr, momentum, weight_decay) -> None:
    """Learning rate, momentum and weight decay: finite, in range, representable in the parameters' dtype."""
    dtypes = {p.dtype for p in model.parameters() if p.is_floating_point()}
    largest = min((torch.finfo(d).max for d in dtypes), default=_v.FLOAT32_MAX)
    kind = ", ".join(sorted(str(d).replace("torch.", "") for d in dtypes)) or "float32"
    if isinstance(lr, bool) or not isinstance(lr, int | float | np.integer | np.floating) \
            or not lr > 0 or not math.isfinite(lr):
        raise ValueError(f"lr must be a positive finite number; got {_v.describe(lr)}")
    if lr > largest:
        raise ValueError(f"lr must be at most {largest:.4g}, the largest {kind} (the parameters' dtype), "
                         f"or no update can be computed; got {_v.describe(lr)}")
    _v.check_real(momentum, "momentum", low=0.0, high=largest, what="a finite number >= 0")
    _v.check_real(weight_decay, "weight_decay", low=0.0, high=largest, what="a finite number >= 0")


def train(model: nn.Module, data: Dataset | None, *, steps: int | None = None, epochs: int | None = None,
          batch_size: int = 60, optimizer="sgd", lr: float = 0.01, momentum: float = 0.0,
          weight_decay: float = 0.0, seed: int = 0, eval_every: int = 100, device="cpu",
          progress: bool = True, desc: str | None = None,
          probe: Callable[[nn.Module], Mapping[str, float]] | None = None,
          stop_on_divergence: bool = True, num_threads: int | None = None,
          loss_fn: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
          on_step: Callable[[int, nn.Module, torch.Tensor, torch.Tensor], None] | None = None,
          batches: Iterable | None = None, evaluate_test: bool = True) -> History:
    """Train ``model`` on ``data`` with mini-batch cross-entropy.

    Each step draws the next batch of a seeded shuffle
    (:func:`bnlearn.data.iterate_batches`, ``drop_last=True``), computes
    :math:`L = -\\frac1B\\sum_i \\log \\mathrm{softmax}(f(x_i))_{y_i}` and takes one
    optimizer step. Every ``eval_every`` steps (and before the first and after
    the last) the whole test set is evaluated in eval mode.

    This is the book's one training loop. Experiments that need more than
    the defaults change its parts rather than write their own loop: the loss
    (``loss_fn``), the batches (``batches``), a look at the network before
    every update (``on_step``), and what an evaluation measures (``probe``,
    with ``evaluate_test=False`` for models whose output is not ``(n, K)``
    logits, such as many seeds trained as one network).

    Parameters
    ----------
    model : torch.nn.Module
        Maps images ``(B, C, H, W)`` to logits ``(B, K)``; moved to ``device``.
    data : Dataset
        Training and test data (see :mod:`bnlearn.data`).
    steps, epochs : int, optional
        Length of training; give exactly one. An epoch is
        ``len(x_train) // batch_size`` steps.
    batch_size : int, default 60
        Examples per step.
    optimizer : str or callable, default "sgd"
        ``"sgd"`` (plain, or with ``momentum``), ``"momentum"`` (SGD with
        momentum 0.9 unless ``momentum`` is set), ``"adam"``, or a callable
        ``params -> torch.optim.Optimizer`` (then ``lr``, ``momentum`` and
        ``weight_decay`` are not used).
    lr : float, default 0.01
        Learning rate, positive, finite and at most the largest float of the
        parameters' dtype (3.4e38 for float32): larger rates cannot be applied.
    momentum, weight_decay : float, default 0.0
        Passed to the optimizer; finite, ``>= 0``.
    seed : int, default 0
        Seeds the batch order and torch's RNG during training (dropout); the
        global RNG state is restored afterwards.
    eval_every : int, default 100
        Steps between evaluations.
    device : str or torch.device, default "cpu"
        ``"cuda"`` runs on the GPU when one is available (else ValueError).
    progress : bool, default True
        Show a tqdm progress bar (``tqdm.auto``, so a widget in notebooks).
    desc : str, optional
        Label of the progress bar.
    probe : callable, optional
        ``probe(model) -> {name: float}``, called after each evaluation with
        the model in eval mode and gradients off; the values are collected in
        ``History.probes``.
    stop_on_divergence : bool, default True
        Stop when the training loss is NaN or infinite (``History.diverged``).
    num_threads : int, optional
        CPU threads torch may use during this call (restored afterwards); None
        leaves ``torch.get_num_threads()`` as it is. Tiny networks run faster
        with 1: their operations are too small to split, and a thread pool
        that shares busy cores spends its time waiting.
    loss_fn : callable, optional
        ``loss_fn(model, xb, yb) -> scalar tensor``, the loss one step
        minimises; default the mean cross-entropy of ``model(xb)``.
    on_step : callable, optional
        ``on_step(t, model, xb, yb)``, called before update ``t + 1`` with the
        batch that update uses (``t = 0`` sees the initial network), in
        training mode, for ``t = 0, ..., steps - 1``; and once more after the
        last update (unless training diverged) with ``t = steps`` and the batch
        that would come next, so that it can probe the trained network. What
        it does to the model, its running statistics or the random state
        carries into training; its time counts in ``History.train_seconds``.
    batches : iterable, optional
        ``(xb, yb)`` tensor pairs to train on, one per step (one more with
        ``on_step``), instead of the seeded shuffle of ``data``; then give
        ``steps``, not ``epochs``. ``data`` may then be None, with
        ``evaluate_test=False``.
    evaluate_test : bool, default True
        Evaluate the test set at each evaluation (``History.eval_accuracy``,
        ``eval_loss``); with False only ``probe`` is called there.

    Returns
    -------
    History

    Raises
    ------
    TypeError, ValueError
        For a bad argument, all checked before the first step: counts that
        are not positive ints (``steps`` and ``epochs`` at most
        ``MAX_STEPS`` = 2**31 - 1 steps), a learning rate, momentum or weight decay
        out of range, training or test images with NaN or infinite values,
        labels outside ``range(data.num_classes)``, an empty training or test
        set. A loss that becomes NaN *during* training is not an error: it
        stops training with ``History.diverged`` set.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    if not isinstance(evaluate_test, bool):
        raise TypeError(f"evaluate_test must be True or False; got {evaluate_test!r}")
    if batches is not None and (isinstance(batches, str | bytes) or not isinstance(batches, Iterable)):
        raise TypeError(f"batches must be an iterable of (xb, yb) tensor pairs or None; got {type(batches).__name__}")
    if data is None:
        if batches is None or evaluate_test:
            raise TypeError("data may be None only with batches given and evaluate_test=False "
                            "(else there is nothing to train on or to evaluate)")
    elif not isinstance(data, Dataset):
        raise TypeError(f"data must be a bnlearn.data.Dataset; got {type(data).__name__}")
    if (steps is None) == (epochs is None):
        raise ValueError(f"give exactly one of steps and epochs; got steps={steps!r}, epochs={epochs!r}")
    if batches is not None and epochs is not None:
        raise ValueError("with batches given, give steps, not epochs (an epoch is a pass over data's shuffle)")
    for name, value in (("steps", steps), ("epochs", epochs), ("batch_size", batch_size),
                        ("eval_every", eval_every)):
        _check_count(name, value, MAX_STEPS if name in ("steps", "epochs") else _v.INT64_MAX)
    if batches is None and batch_size > len(data.x_train):
        raise ValueError(f"batch_size must be at most the {len(data.x_train)} training examples; got {batch_size}")
    for name, fn in (("loss_fn", loss_fn), ("on_step", on_step)):
        if fn is not None and not callable(fn):
            raise TypeError(f"{name} must be a callable or None; got {fn!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"seed must be an int; got {_v.describe(seed)}")
    if not 0 <= seed <= _v.INT64_MAX:
        raise ValueError(f"seed must be an int in [0, 2**63 - 1]; got {_v.describe(seed)}")
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be True or False; got {progress!r}")
    if probe is not None and not callable(probe):
        raise TypeError(f"probe must be a callable model -> dict or None; got {probe!r}")
    _check_count("num_threads", num_threads, 4096)
    if not (callable(optimizer) and not isinstance(optimizer, str)):
        _check_hyper(model, lr, momentum, weight_decay)
    if data is not None:
        _check_data(data)
    dev = _device(device)
    if steps is None:
        steps = epochs * (len(data.x_train) // batch_size)
        if steps > MAX_STEPS:
            raise ValueError(f"epochs={epochs} of {len(data.x_train) // batch_size} steps make {steps} steps; "
                             f"at most {MAX_STEPS} fit one call")

    if progress:
        from tqdm.auto import tqdm  # a widget in notebooks, text in a terminal
    else:
        from tqdm import tqdm  # disabled below; tqdm.auto would warn without ipywidgets

    model.to(dev)
    opt = _make_optimizer(optimizer, model.parameters(), lr, momentum, weight_decay)
    # The data stay whole tensors on the device; a batch is one indexing op.
    if evaluate_test:
        x_te = torch.from_numpy(np.ascontiguousarray(data.x_test)).to(dev)
        y_te = torch.from_numpy(np.ascontiguousarray(data.y_test)).to(dev)
    if batches is None:
        x_tr = torch.from_numpy(np.ascontiguousarray(data.x_train)).to(dev)
        y_tr = torch.from_numpy(np.ascontiguousarray(data.y_train)).to(dev)
        batches = iterate_batches(x_tr, y_tr, batch_size, seed=int(seed), epochs=None)
    batches = _counted(batches, steps + (on_step is not None))
    losses = torch.empty(steps, device=dev)
    hist = History()

    def record_eval(step, elapsed):
        model.eval()
        if evaluate_test:
            acc, loss = evaluate(model, x_te, y_te)
            hist.eval_accuracy.append(acc)
            hist.eval_loss.append(loss)
        hist.eval_steps.append(step)
        hist.eval_time.append(elapsed)
        if probe is not None:
            with torch.no_grad():
                values = probe(model)
            for key, value in values.items():
                hist.probes.setdefault(key, []).append(float(value))
        model.train()

    fork_devices = [dev] if dev.type == "cuda" else []
    with torch_threads(num_threads):
        _loop(model, opt, batches, losses, steps, eval_every, seed, dev, hist, record_eval,
              progress, desc, stop_on_divergence, fork_devices, tqdm, loss_fn or _cross_entropy, on_step)
    return hist


def _cross_entropy(model, xb, yb):
    return nn.functional.cross_entropy(model(xb), yb)


def _counted(batches, needed):
    """The first ``needed`` pairs of ``batches``; running out early is a ValueError naming the count."""
    got = 0
    for pair in batches:
        if not (isinstance(pair, tuple | list) and len(pair) == 2
                and all(isinstance(t, torch.Tensor) for t in pair)):
            raise TypeError(f"batches must yield (xb, yb) pairs of tensors; item {got} is {type(pair).__name__}")
        yield pair
        got += 1
        if got == needed:
            return
    raise ValueError(f"batches ran out after {got} batch(es); training needs {needed} "
                     f"(one per step, and one more when on_step looks at the trained network)")


def _loop(model, opt, batches, losses, steps, eval_every, seed, dev, hist, record_eval,
          progress, desc, stop_on_divergence, fork_devices, tqdm, loss_fn, on_step):
    """The step loop of :func:`train` (fills ``hist`` in place)."""
    with torch.random.fork_rng(devices=fork_devices), \
            tqdm(total=steps, disable=not progress, desc=desc, leave=False) as bar:
        torch.manual_seed(int(seed))
        elapsed = 0.0
        record_eval(0, elapsed)
        done = 0
        model.train()
        while done < steps:
            chunk = min(eval_every, steps - done)
            t0 = time.perf_counter()
            for i in range(done, done + chunk):
                xb, yb = next(batches)
                if on_step is not None:
                    on_step(i, model, xb, yb)
                loss = loss_fn(model, xb, yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                losses[i] = loss.detach()
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            elapsed += time.perf_counter() - t0
            done += chunk
            bar.update(chunk)
            finite = bool(torch.isfinite(losses[done - chunk:done]).all())
            if not finite and stop_on_divergence:
                bad = int((~torch.isfinite(losses[done - chunk:done])).nonzero()[0]) + done - chunk
                hist.diverged = True
                done = bad + 1
                break
            record_eval(done, elapsed)
            shown = {"loss": f"{losses[done - 1].item():.3f}"}
            if hist.eval_accuracy:
                shown["acc"] = f"{hist.eval_accuracy[-1]:.3f}"
            bar.set_postfix(**shown)
        if on_step is not None and not hist.diverged:
            on_step(done, model, *next(batches))
    hist.step_loss = losses[:done].tolist()
    hist.steps = done
    hist.train_seconds = elapsed
    if hist.diverged:
        record_eval(done, elapsed)


def _shift_only(bn: torch.nn.Module, inp: torch.Tensor) -> torch.Tensor:
    """A batch-norm layer's output for a batch of one: :math:`\\beta_c` everywhere (0 without a shift)."""
    if bn.bias is None:
        return torch.zeros_like(inp)
    return bn.bias.view([1, -1] + [1] * (inp.dim() - 2)).expand_as(inp).clone()  # beta_c at every (n, c, ...)


@torch.no_grad()
def batch_statistics_accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int,
                              seed: int = 0) -> np.ndarray:
    r"""Accuracy when every batch-norm layer normalises test batches with their own statistics.

    The test set is shuffled (``seed``) and cut into batches of
    ``batch_size`` (the incomplete last batch is dropped); each batch is
    normalised with its own mean and variance, as in training, on a copy of
    ``model`` whose running statistics stay as they are. Where a channel has a
    single value in a batch (a batch of one ``(1, C)`` input), its mean is the
    value itself, so :math:`\hat x = (x - x)/\sqrt{0 + \epsilon} = 0` and the
    layer outputs its shift :math:`\beta` whatever the input; a convolution's
    channel of a single image still has ``H W`` values and is normalised by them.

    Parameters
    ----------
    model : torch.nn.Module
        An :class:`~bnlearn.ensemble.EnsembleMLP` without dropout, or any
        network without dropout mapping ``(n, ...)`` inputs to ``(n, K)``
        logits (a convolutional one included).
    x : torch.Tensor
        ``(N, F)`` test inputs for an ensemble, ``(N, ...)`` otherwise.
    y : torch.Tensor
        ``(N,)`` labels.
    batch_size : int
        Test batch size, in ``1..N``.
    seed : int, default 0
        Seed of the shuffle.

    Returns
    -------
    numpy.ndarray
        ``(S,)`` accuracies for an ensemble, ``(1,)`` otherwise.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= len(x):
        raise ValueError(f"batch_size must be an int in 1..{len(x)}; got {batch_size!r}")
    net = copy.deepcopy(model)
    net.train()
    from .ensemble import EnsembleMLP
    from .nn import batchnorm_layers

    for _, bn in batchnorm_layers(net):
        bn.momentum = 0.0                                   # r <- (1 - 0) r + 0 s: running stats untouched
        # One value per channel (a (1, C) batch): x_hat = 0, so the output is beta. torch refuses
        # such a batch in training mode; the formula gives it. A (1, C, H, W) image has H W values.
        bn.forward = (lambda inp, bn=bn, full=bn.forward:
                      _shift_only(bn, inp) if inp.numel() == inp.shape[1] else full(inp))
    order = torch.from_numpy(np.random.default_rng([int(seed), 13]).permutation(len(x)))
    keep = order[:len(x) - len(x) % batch_size]
    xs, ys = x[keep], y[keep]
    ensemble = isinstance(net, EnsembleMLP)
    correct = 0
    for start in range(0, len(xs), batch_size):
        xb, yb = xs[start:start + batch_size], ys[start:start + batch_size]
        if ensemble:
            logits = net(xb[:, None, :].expand(-1, net.members, -1))                # (b, S, K)
            correct = correct + (logits.argmax(-1) == yb[:, None]).double().sum(0)
        else:
            correct = correct + (net(xb).argmax(-1) == yb).double().sum(0, keepdim=True)
    return (correct / len(xs)).numpy()
