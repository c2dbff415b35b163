"""The networks the book trains.

* :func:`seed_cnn`: the small Keras CNN of a widely read batch-norm tutorial,
  ported to PyTorch and sized to the input images.
* :func:`paper_mlp`: the network of Figure 1 of Ioffe and Szegedy (2015):
  three sigmoid hidden layers of 100 units, batch norm before each nonlinearity.
* :func:`deep_mlp`: a plain stack of ``depth`` hidden layers of ``width`` units,
  with or without normalisation, for the signal-propagation experiments.

Batch norm is the book's own :class:`bnlearn.nn.BatchNorm1d` (a drop-in for
``torch.nn.BatchNorm1d``: same arguments and ``state_dict``, our backward).

Every builder takes an optional ``seed``: with it, the initial weights depend
on that seed only (the global torch RNG is left untouched).
"""
from __future__ import annotations

import contextlib

import torch
from torch import nn

# The one place where the models pick their batch-norm class: the book's own
# (bnlearn.nn, a drop-in for torch.nn.BatchNorm1d with a hand-written backward).
from .nn import BatchNorm1d as _BatchNorm1d

__all__ = ["seed_cnn", "paper_mlp", "deep_mlp", "ACTIVATIONS", "NORMS"]

#: Activation names accepted by the builders.
ACTIVATIONS = {
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "identity": nn.Identity,
}

#: Normalisation names accepted by :func:`deep_mlp` (``None`` for none).
NORMS = (None, "batch")


def _check_bool(name, value):
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False; got {value!r}")


def _check_int(name, value, low):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int; got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}; got {value}")


def _activation(activation):
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; expected one of {tuple(ACTIVATIONS)}")
    return ACTIVATIONS[activation]()


@contextlib.contextmanager
def _seeded(seed):
    """Run the block with torch's global RNG seeded, restoring its state after."""
    if seed is None:
        yield
        return
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int or None; got {seed!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _init_linear(layer: nn.Linear, init, activation: str) -> None:
    """Initialise ``layer`` in place: ``"default"`` keeps PyTorch's, a float is
    the std of a zero-mean Gaussian, ``"kaiming"``/``"xavier"`` are He/Glorot
    normal initialisation; biases start at zero unless ``init`` is ``"default"``."""
    if init == "default":
        return
    if init == "kaiming":
        # He et al. (2015): Var(w) = 2 / fan_in keeps ReLU activations' scale.
        nn.init.kaiming_normal_(layer.weight, nonlinearity="relu" if activation == "relu" else "linear")
    elif init == "xavier":
        # Glorot and Bengio (2010): Var(w) = 2 / (fan_in + fan_out).
        nn.init.xavier_normal_(layer.weight)
    else:
        nn.init.normal_(layer.weight, mean=0.0, std=float(init))  # w ~ N(0, init^2)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)


def _check_init(init):
    if isinstance(init, str):
        if init not in ("default", "kaiming", "xavier"):
            raise ValueError(f"init must be 'default', 'kaiming', 'xavier' or a positive std; got {init!r}")
    elif isinstance(init, bool) or not isinstance(init, int | float) or not init > 0:
        raise ValueError(f"init must be 'default', 'kaiming', 'xavier' or a positive std; got {init!r}")


def _check_shape(input_shape):
    if (not isinstance(input_shape, tuple | list) or len(input_shape) != 3
            or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in input_shape)):
        raise ValueError(f"input_shape must be (C, H, W) with positive ints; got {input_shape!r}")
    return tuple(input_shape)


def seed_cnn(batchnorm: bool, *, input_shape=(1, 8, 8), num_classes: int = 10,
             seed: int | None = None) -> nn.Sequential:
    """The tutorial's CNN: Conv 32 3x3 ReLU, MaxPool 2, Conv 64 3x3 ReLU,
    Flatten, [BatchNorm], Dense 64 ReLU, Dense ``num_classes``.

    The convolutions have no padding, so an ``H x W`` image becomes
    ``(H-2) x (W-2)``, then ``h' = floor((H-2)/2)`` after pooling, then
    ``(h'-2) x (w'-2)``; the flattened size ``64 (h'-2)(w'-2)`` sizes the
    batch norm and the first dense layer (64 for 8x8 digits, 7,744 for MNIST).

    Parameters
    ----------
    batchnorm : bool
        Insert a :class:`bnlearn.nn.BatchNorm1d` between Flatten and the
        first dense layer.
    input_shape : tuple of int, default (1, 8, 8)
        ``(C, H, W)`` of one image; ``H`` and ``W`` must be at least 8.
    num_classes : int, default 10
        Number of output logits.
    seed : int, optional
        Seed of the initial weights.

    Returns
    -------
    torch.nn.Sequential
        Maps ``(N, C, H, W)`` images to ``(N, num_classes)`` logits.
    """
    _check_bool("batchnorm", batchnorm)
    c, h, w = _check_shape(input_shape)
    if h < 8 or w < 8:
        raise ValueError(f"seed_cnn needs images of at least 8x8 pixels; got input_shape {tuple(input_shape)}")
    _check_int("num_classes", num_classes, 2)
    flat = 64 * ((h - 2) // 2 - 2) * ((w - 2) // 2 - 2)
    with _seeded(seed):
        layers = [
            nn.Conv2d(c, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3), nn.ReLU(), nn.Flatten(),
        ]
        if batchnorm:
            layers.append(_BatchNorm1d(flat))
        layers += [nn.Linear(flat, 64), nn.ReLU(), nn.Linear(64, num_classes)]
        return nn.Sequential(*layers)


def paper_mlp(batchnorm: bool, activation: str = "sigmoid", *, in_features: int = 64,
              hidden: int = 100, depth: int = 3, num_classes: int = 10,
              init_std: float = 0.1, seed: int | None = None) -> nn.Sequential:
    """Ioffe and Szegedy's Figure 1 network (MNIST in the paper).

    ``depth`` hidden layers ``h = f(BN(W x))`` (with batch norm) or
    ``h = f(W x + b)`` (without), then a linear output layer. Batch norm sits
    before the nonlinearity ``f``, and the layer in front of it has no bias
    because BN's shift :math:`\\beta` replaces it. All weights start as small
    Gaussians :math:`w \\sim \\mathcal{N}(0, \\sigma^2)`, biases at zero.

    Parameters
    ----------
    batchnorm : bool
        With or without batch norm.
    activation : str, default "sigmoid"
        One of ``"sigmoid"``, ``"relu"``, ``"tanh"``, ``"identity"``.
    in_features : int, default 64
        Pixels per image (64 for the 8x8 digits, 784 for MNIST). The network
        flattens its input, so ``(N, 1, H, W)`` and ``(N, H*W)`` both work.
    hidden : int, default 100
        Units per hidden layer.
    depth : int, default 3
        Number of hidden layers.
    num_classes : int, default 10
        Number of output logits.
    init_std : float, default 0.1
        :math:`\\sigma` of the initial weights.
    seed : int, optional
        Seed of the initial weights.

    Returns
    -------
    torch.nn.Sequential
        Maps ``(N, in_features)`` to ``(N, num_classes)`` logits. The
        activation modules are at the indices ``model.activation_indices``.
    """
    _check_bool("batchnorm", batchnorm)
    for name, value, low in (("in_features", in_features, 1), ("hidden", hidden, 1),
                             ("depth", depth, 1), ("num_classes", num_classes, 2)):
        _check_int(name, value, low)
    if isinstance(init_std, bool) or not isinstance(init_std, int | float) or not init_std > 0:
        raise ValueError(f"init_std must be a positive float; got {init_std!r}")
    _activation(activation)
    with _seeded(seed):
        layers: list[nn.Module] = [nn.Flatten()]
        fan_in = in_features
        for _ in range(depth):
            lin = nn.Linear(fan_in, hidden, bias=not batchnorm)
            _init_linear(lin, init_std, activation)
            layers.append(lin)
            if batchnorm:
                layers.append(_BatchNorm1d(hidden))
            layers.append(_activation(activation))
            fan_in = hidden
        out = nn.Linear(fan_in, num_classes)
        _init_linear(out, init_std, activation)
        layers.append(out)
        model = nn.Sequential(*layers)
    model.activation_indices = [i for i, m in enumerate(model) if type(m) in ACTIVATIONS.values()]
    return model


def deep_mlp(depth: int, width: int, norm: str | None = None, activation: str = "relu", *,
             in_features: int = 64, num_classes: int = 10, init="kaiming",
             seed: int | None = None) -> nn.Sequential:
    """A plain deep MLP: ``depth`` hidden layers ``h = f(N(W x + b))``.

    Parameters
    ----------
    depth : int
        Number of hidden layers, at least 1.
    width : int
        Units per hidden layer.
    norm : {None, "batch"}, default None
        Normalisation before each nonlinearity; with ``"batch"`` the linear
        layer before it has no bias.
    activation : str, default "relu"
        One of ``"relu"``, ``"sigmoid"``, ``"tanh"``, ``"identity"``.
    in_features : int, default 64
        Input features; inputs are flattened first.
    num_classes : int, default 10
        Output logits.
    init : str or float, default "kaiming"
        ``"kaiming"`` (He normal, :math:`\\mathrm{Var}(w) = 2/\\mathrm{fan_{in}}`
        for ReLU, :math:`1/\\mathrm{fan_{in}}` otherwise), ``"xavier"`` (Glorot
        normal), ``"default"`` (PyTorch's uniform) or a float, the std of
        Gaussian weights.
    seed : int, optional
        Seed of the initial weights.

    Returns
    -------
    torch.nn.Sequential
        Maps ``(N, in_features)`` to ``(N, num_classes)`` logits; the
        activation modules are at ``model.activation_indices``.
    """
    for name, value, low in (("depth", depth, 1), ("width", width, 1),
                             ("in_features", in_features, 1), ("num_classes", num_classes, 2)):
        _check_int(name, value, low)
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; expected one of {NORMS}")
    _activation(activation)
    _check_init(init)
    with _seeded(seed):
        layers: list[nn.Module] = [nn.Flatten()]
        fan_in = in_features
        for _ in range(depth):
            lin = nn.Linear(fan_in, width, bias=norm is None)
            _init_linear(lin, init, activation)
            layers.append(lin)
            if norm == "batch":
                layers.append(_BatchNorm1d(width))
            layers.append(_activation(activation))
            fan_in = width
        out = nn.Linear(fan_in, num_classes)
        _init_linear(out, init if init != "kaiming" else "xavier", "identity")
        layers.append(out)
        model = nn.Sequential(*layers)
    model.activation_indices = [i for i, m in enumerate(model) if type(m) in ACTIVATIONS.values()]
    return model
