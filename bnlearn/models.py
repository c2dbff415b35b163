"""The networks the book trains.

* :func:`seed_cnn`: the small Keras CNN of a widely read batch-norm tutorial,
  ported to PyTorch and sized to the input images.
* :func:`paper_mlp`: the network of Figure 1 of Ioffe and Szegedy (2015):
  three sigmoid hidden layers of 100 units, batch norm before each nonlinearity.
* :func:`deep_mlp`: a plain stack of ``depth`` hidden layers of ``width`` units,
  with or without normalisation, for the signal-propagation experiments.
* :func:`small_conv_net`: a few 3x3 convolutions, each followed by a norm and
  a ReLU, for comparing norms on images.

Norms are named by :mod:`bnlearn.nn`'s one registry (``bnlearn.nn.norm_names()``:
``"none"``, ``"batch"``, ``"group"``, ``"layer"``, ``"renorm"``, ``"ghost"``).

Batch norm is the book's own :class:`bnlearn.nn.BatchNorm1d` (a drop-in for
``torch.nn.BatchNorm1d``: same arguments and ``state_dict``, our backward).

Every builder takes an optional ``seed``: with it, the initial weights depend
on that seed only (the global torch RNG is left untouched).
"""
from __future__ import annotations

import contextlib

import torch
from torch import nn

# The models pick their norms from bnlearn.nn's one registry; batch norm is the
# book's own (a drop-in for torch.nn.BatchNorm1d with a hand-written backward).
from .nn.registry import norm_layer, norm_names

__all__ = ["seed_cnn", "paper_mlp", "deep_mlp", "small_conv_net", "ACTIVATIONS"]

#: Activation names accepted by the builders.
ACTIVATIONS = {
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "identity": nn.Identity,
}



def __getattr__(name):
    # models.NORMS (the accepted norm names) follows bnlearn.nn's registry, so a norm registered
    # later is accepted too; the registry itself is documented as bnlearn.nn.NORMS.
    if name == "NORMS":
        return (None, *norm_names())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _check_norm(norm):
    names = norm_names()
    if norm is not None and norm not in names:
        raise ValueError(f"unknown norm {norm!r}; expected None or one of {names} (bnlearn.nn.norm_names())")
    return "none" if norm is None else norm


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
            layers.append(norm_layer("batch", flat))
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
                layers.append(norm_layer("batch", hidden))
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
             norm_options: dict | None = None, seed: int | None = None) -> nn.Sequential:
    """A plain deep MLP: ``depth`` hidden layers ``h = f(N(W x + b))``.

    Parameters
    ----------
    depth : int
        Number of hidden layers, at least 1.
    width : int
        Units per hidden layer.
    norm : str or None, default None
        Normalisation before each nonlinearity: ``None`` (or ``"none"``) or any
        name of :mod:`bnlearn.nn`'s registry (``"batch"``, ``"group"``,
        ``"layer"``, ``"renorm"``, ``"ghost"``, ...). With a norm, the linear
        layer before it has no bias (the norm's shift replaces it).
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
    norm_options : dict, optional
        Keyword arguments of the norm layer (e.g. ``{"virtual_batch_size": 4}``).

    Returns
    -------
    torch.nn.Sequential
        Maps ``(N, in_features)`` to ``(N, num_classes)`` logits; the
        activation modules are at ``model.activation_indices``.
    """
    for name, value, low in (("depth", depth, 1), ("width", width, 1),
                             ("in_features", in_features, 1), ("num_classes", num_classes, 2)):
        _check_int(name, value, low)
    norm = _check_norm(norm)
    norm_options = _check_options(norm_options)
    _activation(activation)
    _check_init(init)
    with _seeded(seed):
        layers: list[nn.Module] = [nn.Flatten()]
        fan_in = in_features
        for _ in range(depth):
            lin = nn.Linear(fan_in, width, bias=norm == "none")
            _init_linear(lin, init, activation)
            layers.append(lin)
            if norm != "none":
                layers.append(norm_layer(norm, width, **norm_options))
            layers.append(_activation(activation))
            fan_in = width
        out = nn.Linear(fan_in, num_classes)
        _init_linear(out, init if init != "kaiming" else "xavier", "identity")
        layers.append(out)
        model = nn.Sequential(*layers)
    model.activation_indices = [i for i, m in enumerate(model) if type(m) in ACTIVATIONS.values()]
    return model


def _check_options(options) -> dict:
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise TypeError(f"norm_options must be a dict of keyword arguments; got {options!r}")
    return options


def small_conv_net(norm="batch", widths=(16, 32, 64), num_classes: int = 10, in_channels: int = 1, *,
                   norm_options: dict | None = None, seed: int | None = None) -> nn.Sequential:
    """A small conv net: ``[Conv 3x3 (padding 1) -> norm -> ReLU] * len(widths) -> global average pool -> Linear``.

    With a norm, the convolutions have no bias: the norm's shift replaces it.

    Parameters
    ----------
    norm : str, None or callable, default "batch"
        A name of :mod:`bnlearn.nn`'s registry (``"batch"``, ``"group"``,
        ``"layer"``, ``"renorm"``, ``"ghost"``, ``"none"``; ``None`` means
        ``"none"``), or a callable ``norm(channels)`` that builds the layer
        (e.g. ``torch.nn.BatchNorm2d``, to compare with PyTorch's own).
    widths : tuple of int, default (16, 32, 64)
        Channels of the successive convolutions.
    num_classes : int, default 10
        Output logits.
    in_channels : int, default 1
        Input channels.
    norm_options : dict, optional
        Keyword arguments of a registry norm (e.g. ``{"groups": 4}``).
    seed : int, optional
        Seed of the initial weights.

    Returns
    -------
    torch.nn.Sequential
        Maps ``(N, in_channels, H, W)`` to ``(N, num_classes)`` logits.
    """
    if callable(norm) and not isinstance(norm, str):
        make, has_norm = norm, True
    else:
        name = _check_norm(norm)
        options = _check_options(norm_options)
        make, has_norm = (lambda c: norm_layer(name, c, 2, **options)), name != "none"
    if not isinstance(widths, tuple | list) or not widths:
        raise ValueError(f"widths must be a non-empty tuple of positive ints; got {widths!r}")
    for w in widths:
        _check_int("each width", w, 1)
    _check_int("num_classes", num_classes, 2)
    _check_int("in_channels", in_channels, 1)
    with _seeded(seed):
        layers: list[nn.Module] = []
        c = in_channels
        for w in widths:
            layers += [nn.Conv2d(c, w, 3, padding=1, bias=not has_norm), make(w), nn.ReLU()]
            c = w
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes)]
        return nn.Sequential(*layers)
