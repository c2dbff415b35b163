r"""A minimal mini-batch training loop for the scratch networks."""
from __future__ import annotations

import numpy as np

from ._checks import check_array, check_positive_int, make_rng
from .layers import Layer
from .loss import SoftmaxCrossEntropy
from .optim import SGD

__all__ = ["fit", "accuracy"]


def _check_xy(x, y, owner, xname="x", yname="y"):
    check_array(x, xname, owner)
    if not isinstance(y, np.ndarray) or not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"{owner} expects {yname} to be an integer numpy.ndarray; got {getattr(y, 'dtype', type(y).__name__)}")
    if y.shape != (x.shape[0],):
        raise ValueError(f"{owner} expects {yname} of shape ({x.shape[0]},) to match {xname} {x.shape}; got {y.shape}")


def accuracy(model, x, y):
    """Fraction of rows of ``x`` whose largest output is the label in ``y``.

    The model runs in eval mode (its mode is restored afterwards).

    Parameters
    ----------
    model : Layer
        A classifier mapping ``(N, ...)`` inputs to ``(N, K)`` scores.
    x : numpy.ndarray
        Inputs, shape ``(N, ...)``.
    y : numpy.ndarray
        Integer labels, shape ``(N,)``.

    Returns
    -------
    float
        In ``[0, 1]``.
    """
    if not isinstance(model, Layer):
        raise TypeError(f"accuracy expects a Layer; got {type(model).__name__}")
    _check_xy(x, y, "accuracy")
    if x.shape[0] == 0:
        raise ValueError(f"accuracy needs at least one example to average over; got x of shape {x.shape}")
    was_training = model.training
    model.eval()
    try:
        pred = model.forward(x).argmax(axis=1)
    finally:
        model.train(was_training)
    return float(np.mean(pred == y))


def fit(model, loss, optimizer, x, y, *, epochs, batch_size, seed=0, x_test=None, y_test=None):
    """Train ``model`` with mini-batch gradient descent and record its curves.

    Each epoch visits the training set once in a fresh random order (from
    ``seed``), in batches of ``batch_size`` (the last, smaller batch is
    dropped, so every batch has the same size). After every epoch, and once
    before training, the model is evaluated in eval mode on the whole training
    set and, if given, the test set. While it runs, BLAS is limited to one
    thread (with ``threadpoolctl``): the matrices are small, and threads
    competing for a busy machine slow such products down a hundredfold.

    Parameters
    ----------
    model : Layer
        The network; left in training mode on return.
    loss : SoftmaxCrossEntropy
        The loss.
    optimizer : SGD
        Updates ``model``'s parameters after every batch.
    x, y : numpy.ndarray
        Training inputs ``(N, ...)`` and integer labels ``(N,)``.
    epochs, batch_size : int
        Number of passes over the data, and rows per step (``2 <= batch_size <= N``).
    seed : None, int or numpy.random.Generator, default 0
        Order of the batches.
    x_test, y_test : numpy.ndarray, optional
        Held-out data to evaluate on.

    Raises
    ------
    TypeError, ValueError
        For bad arguments, all checked before the first step, among them NaN
        or infinite values in ``x`` or ``x_test`` (one would make every loss
        NaN) and fewer than 2 training rows or no test rows.

    Returns
    -------
    dict
        ``"step_loss"`` (training loss of every step, shape ``(epochs * steps,)``),
        and per epoch (shape ``(epochs + 1,)``, entry 0 before training):
        ``"epoch"``, ``"train_loss"``, ``"train_accuracy"`` and, with test
        data, ``"test_loss"``, ``"test_accuracy"``.
    """
    owner = "fit"
    if not isinstance(model, Layer):
        raise TypeError(f"{owner} expects model to be a Layer; got {type(model).__name__}")
    if not isinstance(loss, SoftmaxCrossEntropy):
        raise TypeError(f"{owner} expects loss to be a SoftmaxCrossEntropy; got {type(loss).__name__}")
    if not isinstance(optimizer, SGD):
        raise TypeError(f"{owner} expects optimizer to be an SGD; got {type(optimizer).__name__}")
    _check_xy(x, y, owner)
    epochs = check_positive_int(epochs, "epochs")
    batch_size = check_positive_int(batch_size, "batch_size")
    n = x.shape[0]
    if n < 2:
        raise ValueError(f"{owner} needs at least 2 training rows (batches of 2 or more); got x of shape {x.shape}")
    if not 2 <= batch_size <= n:
        raise ValueError(f"{owner} expects 2 <= batch_size <= {n} (the number of rows); got {batch_size}")
    if epochs * (n // batch_size) > 2**31 - 1:
        raise ValueError(f"{owner}: epochs={epochs} of {n // batch_size} steps is more than 2**31 - 1 steps")
    has_test = x_test is not None or y_test is not None
    if has_test:
        _check_xy(x_test, y_test, owner, "x_test", "y_test")
        if x_test.shape[0] == 0:
            raise ValueError(f"{owner} needs at least one test row to average over; got x_test of shape "
                             f"{x_test.shape}")
    for name, arr in (("x", x), ("x_test", x_test)):
        if arr is not None and not np.isfinite(arr).all():
            rows = np.flatnonzero(~np.isfinite(arr.reshape(len(arr), -1)).all(axis=1))
            raise ValueError(f"{owner}: {name} holds NaN or infinite values in {len(rows)} row(s) (the first "
                             f"is row {int(rows[0])}); remove or impute them before training")
    rng = make_rng(seed, owner)
    steps = n // batch_size
    try:  # these matrices are too small for BLAS threads to pay; on a busy machine they cost 100x
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        limiter = None
    else:
        limiter = threadpool_limits(limits=1, user_api="blas")
    try:
        return _loop(model, loss, optimizer, x, y, x_test, y_test, has_test, epochs, batch_size, steps, rng, n)
    finally:
        if limiter is not None:
            limiter.unregister()


def _loop(model, loss, optimizer, x, y, x_test, y_test, has_test, epochs, batch_size, steps, rng, n):
    hist = {k: [] for k in ("train_loss", "train_accuracy", "test_loss", "test_accuracy")}

    def evaluate():
        model.eval()
        for split, (xs, ys) in {"train": (x, y), "test": (x_test, y_test)}.items():
            if split == "test" and not has_test:
                continue
            scores = model.forward(xs)
            hist[f"{split}_loss"].append(loss.forward(scores, ys))
            hist[f"{split}_accuracy"].append(float(np.mean(scores.argmax(axis=1) == ys)))
        model.train()

    step_loss = []
    evaluate()
    for _ in range(epochs):
        order = rng.permutation(n)
        for s in range(steps):
            idx = order[s * batch_size:(s + 1) * batch_size]
            step_loss.append(loss.forward(model.forward(x[idx]), y[idx]))
            model.backward(loss.backward())
            optimizer.step()
        evaluate()
    out = {"step_loss": np.array(step_loss), "epoch": np.arange(epochs + 1)}
    out.update({k: np.array(v) for k, v in hist.items() if v})
    return out
