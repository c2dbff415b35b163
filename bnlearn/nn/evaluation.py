"""Why eval mode matters: a small digits classifier evaluated in train and eval mode.

``train_classifier`` is a deliberately small, self-contained SGD loop (the
book's full training loop is ``bnlearn.train``); ``accuracy``
evaluates a model on a test set in batches, in eval mode (running statistics)
or in train mode (each test batch normalised with its own statistics, which is
what forgetting ``model.eval()`` does).
"""
from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

__all__ = ["train_classifier", "accuracy", "recompute_running_stats"]


def train_classifier(model: nn.Module, x: np.ndarray, y: np.ndarray, epochs: int = 3, batch_size: int = 32,
                     lr: float = 0.1, seed: int = 0) -> nn.Module:
    """Train ``model`` with plain SGD (momentum 0.9) and cross-entropy; returns it in eval mode.

    Parameters
    ----------
    model : torch.nn.Module
        Maps ``(B, *x.shape[1:])`` float32 inputs to ``(B, K)`` logits.
    x : numpy.ndarray
        Inputs, ``(N, ...)`` float32.
    y : numpy.ndarray
        Integer labels ``(N,)``.
    epochs, batch_size : int
        Passes over the data and examples per step (the last incomplete batch is dropped).
    lr : float
        Learning rate.
    seed : int
        Seed of the shuffling.

    Returns
    -------
    torch.nn.Module
        ``model``, trained, in eval mode.
    """
    gen = torch.Generator().manual_seed(seed)
    xt, yt = torch.as_tensor(x), torch.as_tensor(y, dtype=torch.long)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(xt), generator=gen)
        for start in range(0, len(xt) - batch_size + 1, batch_size):
            idx = order[start:start + batch_size]
            loss = nn.functional.cross_entropy(model(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray, batch_size: int = 256,
             train_mode: bool = False) -> float:
    """Fraction of ``x`` classified as ``y``, evaluated in batches of ``batch_size``.

    Parameters
    ----------
    model : torch.nn.Module
        The classifier (not modified: train-mode evaluation runs on a copy,
        since it would update the running statistics).
    x, y : numpy.ndarray
        Inputs ``(N, ...)`` and integer labels ``(N,)``.
    batch_size : int
        Test examples per forward call.
    train_mode : bool
        Evaluate in train mode (batch statistics of each test batch).

    Returns
    -------
    float
        Accuracy in [0, 1].
    """
    m = copy.deepcopy(model).train(train_mode)
    xt, yt = torch.as_tensor(x), torch.as_tensor(y, dtype=torch.long)
    correct = 0
    with torch.no_grad():
        for start in range(0, len(xt), batch_size):
            xb = xt[start:start + batch_size]
            if train_mode and len(xb) < 2:
                xb = xt[start - 1:start + 1]                    # a 1-example remainder: pair it
                correct += int((m(xb).argmax(1)[-1:] == yt[start:start + 1]).sum())
                continue
            correct += int((m(xb).argmax(1) == yt[start:start + len(xb)]).sum())
    return correct / len(xt)


def recompute_running_stats(model: nn.Module, x: np.ndarray, batch_size: int = 64) -> nn.Module:
    """Re-estimate every batch norm's running statistics on ``x`` with the final weights.

    The running averages kept during training mix statistics of earlier
    weights; this resets them and takes a cumulative average (``momentum=None``)
    over ``x`` in train mode without gradients ("precise batch norm", Wu and
    Johnson, 2021). Works on ``bnlearn.nn`` and ``torch.nn`` batch norms.

    Parameters
    ----------
    model : torch.nn.Module
        The trained model; modified in place.
    x : numpy.ndarray
        Training inputs ``(N, ...)``.
    batch_size : int
        Examples per forward call.

    Returns
    -------
    torch.nn.Module
        ``model``, in eval mode.
    """
    from .batchnorm import _BatchNorm

    bns = [m for m in model.modules()
           if isinstance(m, (_BatchNorm, nn.modules.batchnorm._BatchNorm)) and m.track_running_stats]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None                                   # cumulative average over the pass
    model.train()
    xt = torch.as_tensor(x)
    with torch.no_grad():
        for start in range(0, len(xt) - batch_size + 1, batch_size):
            model(xt[start:start + batch_size])
    for m, mom in zip(bns, saved):
        m.momentum = mom
    return model.eval()
