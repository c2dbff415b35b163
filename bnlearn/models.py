"""The networks the book trains.

* :func:`seed_cnn`: the small Keras CNN of a widely read batch-norm tutorial,
  ported to PyTorch and sized to the input images.
* :func:`paper_mlp`: the network of Figure 1 of Ioffe and Szegedy (2015):
  three sigmoid hidden layers of 100 units, batch norm before each nonlinearity.
* :func:`deep_mlp`: a plain stack of ``depth`` hidden layers of ``width`` units,
  with or without normalisation, for the signal-propagation experiments.
* :func:`small_conv_net`: a few 3x3 convolutions, each followed by a norm and
  a ReLU, for comparing norms on images.
* :func:`residual_mlp`: a deep residual MLP (:class:`ResidualBlock`), with or
  without normalisation, a zero-initialised last scale, or SkipInit.
* :func:`stack_members`: ``S`` networks of one architecture (say, ``S`` seeds)
  as one network of batched layers (:class:`Members`), so that many seeds of
  a small network train in little more time than one.

Norms are named by :mod:`bnlearn.nn`'s one registry (``bnlearn.nn.norm_names()``:
``"none"``, ``"batch"``, ``"group"``, ``"layer"``, ``"renorm"``, ``"ghost"``).

Batch norm is the book's own :class:`bnlearn.nn.BatchNorm1d` (a drop-in for
``torch.nn.BatchNorm1d``: same arguments and ``state_dict``, our backward).

Every builder takes an optional ``seed``: with it, the initial weights depend
on that seed only (the global torch RNG is left untouched).
"""
from __future__ import annotations

import contextlib
import copy
import inspect
import math
from collections.abc import Sequence

import torch
from torch import nn

# The models pick their norms from bnlearn.nn's one registry; batch norm is the
# book's own (a drop-in for torch.nn.BatchNorm1d with a hand-written backward).
from .nn.registry import norm_layer, norm_names

__all__ = ["seed_cnn", "paper_mlp", "deep_mlp", "small_conv_net", "residual_mlp", "ResidualBlock",
           "stack_members", "Members", "StackedLinear", "ACTIVATIONS", "NORM_POSITIONS"]

#: Activation names accepted by the builders.
ACTIVATIONS = {
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "identity": nn.Identity,
}

#: Where :func:`deep_mlp` may put the norm: before or after the nonlinearity.
NORM_POSITIONS = ("before", "after")



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
             norm_options: dict | None = None, seed: int | None = None,
             norm_position: str = "before") -> nn.Sequential:
    """A plain deep MLP: ``depth`` hidden layers ``h = f(N(W x + b))`` (or ``h = N(f(W x + b))``).

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
    norm_position : {"before", "after"}, default "before"
        Where the norm sits: ``"before"`` the nonlinearity, ``h = f(N(W x))``
        (the linear layer then has no bias, the norm's shift replaces it), or
        ``"after"`` it, ``h = N(f(W x + b))`` (the linear layer keeps its bias,
        which the nonlinearity needs; the next layer's input is normalised).
        Without a norm both give the same network; with one, a seed gives
        both placements the same initial weights (unless ``init="default"``).

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
    if norm_position not in NORM_POSITIONS:
        raise ValueError(f"norm_position must be one of {NORM_POSITIONS}; got {norm_position!r}")
    after = norm != "none" and norm_position == "after"
    with _seeded(seed):
        layers: list[nn.Module] = [nn.Flatten()]
        fan_in = in_features
        for _ in range(depth):
            if after and init != "default":
                # The same draws as with the norm before: a bias of zeros is added after.
                lin = nn.Linear(fan_in, width, bias=False)
                lin.bias = nn.Parameter(torch.zeros(width))
            else:
                lin = nn.Linear(fan_in, width, bias=norm == "none" or after)
            _init_linear(lin, init, activation)
            layers.append(lin)
            if norm != "none" and not after:
                layers.append(norm_layer(norm, width, **norm_options))
            layers.append(_activation(activation))
            if after:
                layers.append(norm_layer(norm, width, **norm_options))
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
                   norm_options: dict | None = None, seed: int | None = None,
                   strides=None, input_size=None) -> nn.Sequential:
    """A small conv net: ``[Conv 3x3 (padding 1) -> norm -> ReLU] * len(widths) -> global average pool -> Linear``.

    With a norm, the convolutions have no bias: the norm's shift replaces it.
    With ``input_size``, the head flattens the last feature map into the
    linear layer instead of averaging it over positions.

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
    strides : tuple of int, optional
        Stride of each convolution (default 1 for all). A 3x3 convolution with
        padding 1 and stride ``s`` maps ``H`` to ``floor((H - 1) / s) + 1``.
    input_size : tuple of int, optional
        ``(H, W)`` of the input images. With it the head is ``Flatten ->
        Linear(c h w, num_classes)`` over the last ``(c, h, w)`` feature map;
        without it, global average pooling then ``Linear(c, num_classes)``.

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
    if strides is None:
        strides = (1,) * len(widths)
    if not isinstance(strides, tuple | list) or len(strides) != len(widths):
        raise ValueError(f"strides must be a tuple of {len(widths)} positive ints, one per width; got {strides!r}")
    for st in strides:
        _check_int("each stride", st, 1)
    if input_size is not None:
        if (not isinstance(input_size, tuple | list) or len(input_size) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in input_size)):
            raise ValueError(f"input_size must be (H, W) with positive ints, or None; got {input_size!r}")
    with _seeded(seed):
        layers: list[nn.Module] = []
        c = in_channels
        for w, st in zip(widths, strides):
            layers += [nn.Conv2d(c, w, 3, stride=st, padding=1, bias=not has_norm), make(w), nn.ReLU()]
            c = w
        if input_size is None:
            layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes)]
        else:
            h, w = input_size
            for st in strides:
                h, w = (h - 1) // st + 1, (w - 1) // st + 1     # 3x3 convolution, padding 1, stride st
            layers += [nn.Flatten(), nn.Linear(c * h * w, num_classes)]
        return nn.Sequential(*layers)


# ------------------------------------------------------------------ residual networks

class ResidualBlock(nn.Module):
    r"""A residual block ``h -> ReLU(h + alpha * branch(h))``.

    .. math::

        h_{l+1} = \mathrm{ReLU}\big(h_l + \alpha_l\, f_l(h_l)\big)

    with :math:`f_l` the branch and :math:`\alpha_l` either fixed at 1 or a
    learnable scalar (SkipInit, De and Smith, 2020, which starts it at 0 so
    that every block is the identity at initialisation).

    Parameters
    ----------
    branch : torch.nn.Module
        :math:`f_l`; maps ``(N, C, ...)`` to the same shape.
    skipinit : bool, default False
        Multiply the branch by a learnable scalar ``alpha``, initialised at 0.
    members : int, default 1
        For a block of :class:`Members`: ``alpha`` holds one scalar per member,
        shape ``(members,)``, and member ``s`` owns channels
        ``[s C / members, (s + 1) C / members)`` of the input.

    Attributes
    ----------
    alpha : torch.nn.Parameter or None
        Shape ``(members,)`` with ``skipinit``, else None (a fixed 1).
    """

    def __init__(self, branch: nn.Module, skipinit: bool = False, members: int = 1) -> None:
        super().__init__()
        if not isinstance(branch, nn.Module):
            raise TypeError(f"branch must be a torch.nn.Module; got {type(branch).__name__}")
        _check_bool("skipinit", skipinit)
        _check_int("members", members, 1)
        self.branch = branch
        self.members = members
        self.alpha = nn.Parameter(torch.zeros(members)) if skipinit else None

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """``(N, C, ...)`` -> ``(N, C, ...)``."""
        f = self.branch(h)
        if self.alpha is not None:
            n = f.shape[0]
            f = (f.reshape(n, self.members, -1) * self.alpha.view(1, -1, 1)).view_as(f)   # alpha_s f_s(h)
        return torch.relu(h + f)

    def extra_repr(self) -> str:
        """Whether the branch is scaled by a learnable scalar."""
        return f"skipinit={self.alpha is not None}" + (f", members={self.members}" if self.members > 1 else "")


def residual_mlp(blocks: int, width: int, norm: str | None = None, *, in_features: int = 64,
                 num_classes: int = 10, zero_init_last: bool = False, skipinit: bool = False,
                 seed: int | None = None) -> nn.Sequential:
    r"""A residual MLP: a stem, ``blocks`` residual blocks of two layers each, a linear head.

    ``Flatten -> Linear(in, width) -> N -> ReLU -> [ResidualBlock] * blocks -> Linear(width, classes)``
    with each block's branch ``f(h) = N(W_2\, \mathrm{ReLU}(N(W_1 h)))`` (the
    basic block of a ResNet, with linear layers in place of convolutions) and
    ``h -> ReLU(h + alpha f(h))`` (see :class:`ResidualBlock`).

    Weights start He-normal (:math:`\mathrm{Var}(w) = 2/\mathrm{fan_{in}}`),
    the head Glorot-normal, biases at 0. Without a norm the linear layers have
    biases; with one they have none (the norm's shift replaces them). Without
    normalisation or SkipInit the variance of ``h`` roughly doubles in every
    block, so a deep stack starts with exploding activations.

    Parameters
    ----------
    blocks : int
        Number of residual blocks, at least 1.
    width : int
        Units of every hidden layer.
    norm : str or None, default None
        A name of :mod:`bnlearn.nn`'s registry, or None for no normalisation.
    in_features : int, default 64
        Input features; inputs are flattened first.
    num_classes : int, default 10
        Output logits.
    zero_init_last : bool, default False
        Start the scale :math:`\gamma` of each branch's last norm at 0 (Goyal
        et al., 2017), so that every block is the identity at initialisation.
        Needs a norm with a learnable scale.
    skipinit : bool, default False
        Multiply each branch by a learnable scalar that starts at 0 (SkipInit,
        De and Smith, 2020).
    seed : int, optional
        Seed of the initial weights (drawn in the same order whatever ``norm``,
        ``zero_init_last`` and ``skipinit``, so two variants built with one seed
        start from the same weights).

    Returns
    -------
    torch.nn.Sequential
        Maps ``(N, in_features)`` (or ``(N, 1, H, W)``) to ``(N, num_classes)`` logits.
    """
    for name, value, low in (("blocks", blocks, 1), ("width", width, 1),
                             ("in_features", in_features, 1), ("num_classes", num_classes, 2)):
        _check_int(name, value, low)
    norm = _check_norm(norm)
    _check_bool("zero_init_last", zero_init_last)
    _check_bool("skipinit", skipinit)
    has_norm = norm != "none"

    def linear(fan_in, fan_out=width, std=None, bias=not has_norm):
        # The weights are drawn first, and the layer's own default initialisation
        # runs on a forked RNG: every variant draws the same weights from one seed.
        std = math.sqrt(2.0 / fan_in) if std is None else std                   # He: Var(w) = 2 / fan_in
        w = torch.randn(fan_out, fan_in) * std
        with torch.random.fork_rng(devices=[]):
            lin = nn.Linear(fan_in, fan_out, bias=bias)
        with torch.no_grad():
            lin.weight.copy_(w)
            if lin.bias is not None:
                lin.bias.zero_()
        return lin

    def make_norm():
        return norm_layer(norm, width)

    with _seeded(seed):
        layers: list[nn.Module] = [nn.Flatten(), linear(in_features), make_norm(), nn.ReLU()]
        for _ in range(blocks):
            last = make_norm()
            if zero_init_last:
                if getattr(last, "weight", None) is None:
                    raise ValueError(f"zero_init_last needs a norm with a learnable scale (gamma); "
                                     f"got norm={norm!r}")
                with torch.no_grad():
                    last.weight.zero_()                      # gamma = 0: the branch starts as the constant beta
            branch = nn.Sequential(linear(width), make_norm(), nn.ReLU(), linear(width), last)
            layers.append(ResidualBlock(branch, skipinit=skipinit))
        # Glorot: Var(w) = 2 / (fan_in + fan_out).
        layers.append(linear(width, num_classes, std=math.sqrt(2.0 / (width + num_classes)), bias=True))
        return nn.Sequential(*layers)


# ------------------------------------------------------------------ many seeds as one network

class StackedLinear(nn.Module):
    r"""``S`` independent linear layers on a member-major input ``(N, S * in)``.

    .. math::

        y_{n,s,:} = W_s\, x_{n,s,:} + b_s, \qquad s = 1, \dots, S

    Parameters
    ----------
    weight : torch.Tensor
        ``(S, out, in)``, member ``s``'s weight (as ``torch.nn.Linear`` stores it).
    bias : torch.Tensor or None
        ``(S, out)``.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None = None) -> None:
        super().__init__()
        if not isinstance(weight, torch.Tensor) or weight.dim() != 3:
            raise ValueError(f"weight must be a tensor of shape (S, out, in); got {getattr(weight, 'shape', weight)!r}")
        self.members, self.out_features, self.in_features = weight.shape
        self.weight = nn.Parameter(weight.detach().clone())
        if bias is not None and tuple(bias.shape) != (self.members, self.out_features):
            raise ValueError(f"bias must have shape ({self.members}, {self.out_features}); got {tuple(bias.shape)}")
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, S * in)`` -> ``(N, S * out)``."""
        s, i = self.members, self.in_features
        if x.dim() != 2 or x.shape[1] != s * i:
            raise ValueError(f"StackedLinear({s} x {i} -> {self.out_features}) expects input of shape "
                             f"(N, {s * i}); got {tuple(x.shape)}")
        n = x.shape[0]
        xs = x.view(n, s, i).transpose(0, 1)                                  # (S, N, in)
        w = self.weight.transpose(1, 2)                                       # (S, in, out)
        y = torch.bmm(xs, w) if self.bias is None else torch.baddbmm(self.bias.unsqueeze(1), xs, w)
        return y.transpose(0, 1).reshape(n, s * self.out_features)           # W_s x_s + b_s

    def extra_repr(self) -> str:
        """Members and sizes."""
        return f"members={self.members}, in_features={self.in_features}, out_features={self.out_features}, " \
               f"bias={self.bias is not None}"


class _ScaleGrad(torch.autograd.Function):
    """Identity forward; the backward multiplies the gradient by ``factor`` (broadcast)."""

    @staticmethod
    def forward(ctx, x, factor):
        ctx.save_for_backward(factor)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        factor, = ctx.saved_tensors
        return grad * factor, None


class Members(nn.Module):
    r"""``S`` networks of one architecture evaluated side by side, as one network.

    Built by :func:`stack_members`. Member ``s`` owns channels
    ``[s C, (s + 1) C)`` of every layer (a grouped convolution, a batched
    matrix product, a norm over ``S C`` channels whose statistics stay per
    channel), so its outputs are exactly those of the network it was stacked
    from, at the cost of a few batched operations instead of ``S`` forward passes.

    Input ``(*lead, S, *item)`` (one item per member) gives logits
    ``(lead[0], K, *lead[1:], S)``: classes on axis 1 and the member last, the
    layout :func:`torch.nn.functional.cross_entropy` takes with targets
    ``(*lead, S)``. In the backward the gradient is multiplied by ``S``, so
    that the mean of the loss over members (``cross_entropy``'s default) gives
    every member exactly the gradient of its own mean loss: one optimizer step
    is ``S`` independent steps. :func:`bnlearn.train.train` trains it on a data
    set whose every example holds one image per member; pass it
    ``stop_on_divergence=False``, since one member's infinite loss makes the
    mean infinite while the other members train on unharmed.

    With ``shared_input`` the input is ``(*lead, *item)``, one item that every
    member receives: the members then see the same batches and differ only in
    their weights (and rates), and a data set need not hold a copy per member.

    With ``lr_multipliers`` the gradient of member ``s`` is further multiplied
    by ``lr_multipliers[s]``: with SGD (with or without momentum, without
    weight decay), whose step is linear in the gradient, member ``s`` then
    trains at ``lr * lr_multipliers[s]``, so one run covers a grid of rates.

    Attributes
    ----------
    body : torch.nn.Module
        The stacked layers, on member-major ``(N, S C, ...)`` inputs.
    members : int
        :math:`S`.
    item_shape : tuple of int
        The shape of one member's input, e.g. ``(1, 28, 28)``.
    lr_multipliers : torch.Tensor
        ``(S,)`` buffer, all ones unless set.
    shared_input : bool
        Every member receives the same input.
    """

    def __init__(self, body: nn.Module, members: int, item_shape, lr_multipliers=None,
                 shared_input: bool = False) -> None:
        super().__init__()
        _check_int("members", members, 1)
        _check_bool("shared_input", shared_input)
        self.body = body
        self.members = members
        self.item_shape = tuple(item_shape)
        self.shared_input = shared_input
        if lr_multipliers is None:
            lr_multipliers = [1.0] * members
        if isinstance(lr_multipliers, torch.Tensor):
            lr_multipliers = lr_multipliers.tolist()
        if (not isinstance(lr_multipliers, Sequence) or len(lr_multipliers) != members
                or not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v > 0
                           for v in lr_multipliers)):
            raise ValueError(f"lr_multipliers must hold {members} positive finite numbers, one per member; "
                             f"got {lr_multipliers!r}")
        self.register_buffer("lr_multipliers", torch.tensor([float(v) for v in lr_multipliers]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(*lead, S, *item)`` (or ``(*lead, *item)`` with ``shared_input``) -> ``(lead[0], K, *lead[1:], S)``."""
        k = len(self.item_shape)
        s = self.members
        item = ", ".join(map(str, self.item_shape))
        if self.shared_input:
            if x.dim() < k + 1 or tuple(x.shape[x.dim() - k:]) != self.item_shape:
                raise ValueError(f"Members of {s} networks with a shared input expects input of shape "
                                 f"(N, ..., {item}); got {tuple(x.shape)}")
            lead = tuple(x.shape[:x.dim() - k])
            x = x.reshape(math.prod(lead), 1, *self.item_shape).expand(-1, s, *self.item_shape)
        else:
            if x.dim() < k + 2 or tuple(x.shape[x.dim() - k:]) != self.item_shape or x.shape[x.dim() - k - 1] != s:
                raise ValueError(f"Members of {s} networks expects input of shape (N, ..., {s}, {item}); "
                                 f"got {tuple(x.shape)}")
            lead = tuple(x.shape[:x.dim() - k - 1])
        m = math.prod(lead)
        z = x.reshape(m, s * self.item_shape[0], *self.item_shape[1:])         # member-major channels
        out = self.body(z)                                                     # (M, S K)
        out = out.reshape(*lead, s, out.shape[1] // s).movedim(-1, 1)         # (lead0, K, *lead[1:], S)
        if torch.is_grad_enabled() and out.requires_grad:
            factor = (s * self.lr_multipliers).to(out.dtype)                  # d loss_s / d theta_s, times c_s
            out = _ScaleGrad.apply(out, factor)
        return out

    def extra_repr(self) -> str:
        """Members and the shape of one member's input."""
        return f"members={self.members}, item_shape={self.item_shape}" + (
            ", shared_input=True" if self.shared_input else "")


_ELEMENTWISE = (nn.ReLU, nn.Sigmoid, nn.Tanh, nn.Identity, nn.AdaptiveAvgPool2d, nn.MaxPool2d,
                nn.AvgPool2d, nn.Dropout)


def _factory(module: nn.Module) -> dict:
    t = next(iter(module.parameters()), None)
    if t is None:
        t = next(iter(module.buffers()), None)
    return {} if t is None else {"device": t.device, "dtype": t.dtype if t.is_floating_point() else None}


def _cat(tensors) -> torch.Tensor | None:
    return None if tensors[0] is None else torch.cat([t.detach() for t in tensors])


def _stack_batch_statistics(mods: list) -> nn.Module:
    """A batch-statistics norm over ``S C`` channels (per-channel statistics stay per member)."""
    first = mods[0]
    params = inspect.signature(type(first).__init__).parameters
    kwargs = {}
    for name, p in params.items():
        if name in ("self", "num_features", "device", "dtype") or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if name == "bias":
            kwargs["bias"] = first.bias is not None
        elif hasattr(first, name):
            kwargs[name] = getattr(first, name)
    new = type(first)(len(mods) * first.num_features, **kwargs).to(**{k: v for k, v in _factory(first).items() if v is not None})
    with torch.no_grad():
        for attr in ("weight", "bias", "running_mean", "running_var"):
            if getattr(new, attr, None) is not None:
                getattr(new, attr).copy_(_cat([getattr(m, attr) for m in mods]))
        if getattr(new, "num_batches_tracked", None) is not None:
            new.num_batches_tracked.copy_(first.num_batches_tracked)
    new.train(first.training)
    return new


def _stack_group_norm(mods: list, groups: int, channels: int, eps: float, affine: bool, bias: bool) -> nn.Module:
    from .nn import GroupNorm

    s = len(mods)
    new = GroupNorm(s * groups, s * channels, eps=eps, affine=affine, bias=bias).to(
        **{k: v for k, v in _factory(mods[0]).items() if v is not None})
    with torch.no_grad():
        for attr in ("weight", "bias"):
            if getattr(new, attr, None) is not None:
                getattr(new, attr).copy_(_cat([getattr(m, attr).reshape(-1) for m in mods]))
    return new


def _stack(mods: list) -> nn.Module:
    """One module that computes ``mods[s]`` on channels ``[s C, (s + 1) C)`` for every ``s``."""
    from .nn import GroupNorm, LayerNorm
    from .nn.registry import batch_statistics_types

    first = mods[0]
    if any(type(m) is not type(first) for m in mods):
        raise ValueError(f"stack_members needs networks of one architecture; got layers "
                         f"{sorted({type(m).__name__ for m in mods})} in the same place")
    s = len(mods)
    if type(first) is nn.Sequential:
        if any(len(m) != len(first) for m in mods):
            raise ValueError("stack_members needs networks of one architecture; got Sequentials of different lengths")
        return nn.Sequential(*[_stack([m[i] for m in mods]) for i in range(len(first))])
    if isinstance(first, ResidualBlock):
        block = ResidualBlock(_stack([m.branch for m in mods]), skipinit=first.alpha is not None,
                              members=s * first.members)
        if first.alpha is not None:
            with torch.no_grad():
                block.alpha.copy_(_cat([m.alpha for m in mods]))
        return block
    if type(first) in _ELEMENTWISE:
        return copy.deepcopy(first)
    if type(first) is nn.Flatten:
        if first.start_dim != 1 or first.end_dim != -1:
            raise ValueError(f"stack_members stacks Flatten(1, -1) only; got {first!r}")
        return nn.Flatten()
    if type(first) is nn.Linear:
        return StackedLinear(torch.stack([m.weight.detach() for m in mods]),
                             None if first.bias is None else torch.stack([m.bias.detach() for m in mods]))
    if type(first) is nn.Conv2d:
        if first.padding_mode != "zeros" or any(m.weight.shape != first.weight.shape for m in mods):
            raise ValueError(f"stack_members stacks zero-padded Conv2d layers of one shape; got {first!r}")
        new = nn.Conv2d(s * first.in_channels, s * first.out_channels, first.kernel_size, first.stride,
                        first.padding, first.dilation, groups=s * first.groups, bias=first.bias is not None,
                        **{k: v for k, v in _factory(first).items() if v is not None})
        with torch.no_grad():
            new.weight.copy_(_cat([m.weight for m in mods]))
            if new.bias is not None:
                new.bias.copy_(_cat([m.bias for m in mods]))
        return new
    if isinstance(first, batch_statistics_types()):
        return _stack_batch_statistics(mods)
    if isinstance(first, GroupNorm | nn.GroupNorm):
        return _stack_group_norm(mods, first.num_groups, first.num_channels, first.eps, first.affine,
                                 first.bias is not None)
    if isinstance(first, LayerNorm) and len(first.normalized_shape) == 1:
        # Over the D features of (N, D): on (N, S D), a group norm with one group of D per member.
        return _stack_group_norm(mods, 1, first.normalized_shape[0], first.eps, first.weight is not None,
                                 first.bias is not None)
    raise TypeError(f"stack_members cannot stack {type(first).__name__} layers; it stacks Sequential, "
                    f"ResidualBlock, Linear, Conv2d, Flatten, elementwise layers, pooling and the norms of "
                    f"bnlearn.nn's registry")


def stack_members(networks, item_shape, lr_multipliers=None, shared_input: bool = False) -> Members:
    """Stack ``S`` networks of one architecture into one :class:`Members` network.

    Typically the same builder called with ``S`` seeds, e.g.
    ``stack_members([deep_mlp(3, 64, norm="batch", seed=s) for s in seeds], (1, 8, 8))``.
    The stacked network computes exactly what the ``S`` networks compute
    (up to floating-point rounding), but as one network of batched operations,
    which on a CPU makes ``S`` small networks cost little more than one.

    Parameters
    ----------
    networks : sequence of torch.nn.Module
        ``S >= 1`` networks built alike: ``nn.Sequential`` containers of
        ``Linear``, ``Conv2d``, ``Flatten``, elementwise layers (ReLU,
        sigmoid, tanh, identity, dropout), pooling, :class:`ResidualBlock`
        and the norms of :mod:`bnlearn.nn`'s registry (batch norm, batch
        renorm, ghost batch norm, group norm, layer norm over features).
        Their parameters and buffers are copied; the networks are not changed.
    item_shape : tuple of int
        The shape of one network's input, e.g. ``(1, 28, 28)`` or ``(64,)``.
    lr_multipliers : sequence of float, optional
        One positive factor per network: with SGD, network ``s`` trains at
        ``lr * lr_multipliers[s]`` (see :class:`Members`).
    shared_input : bool, default False
        Give every network the same input, ``(*lead, *item)`` (see :class:`Members`).

    Returns
    -------
    Members
        In the train/eval mode of ``networks[0]``.
    """
    if isinstance(networks, nn.Module) or not isinstance(networks, Sequence) or not networks:
        raise TypeError(f"networks must be a non-empty list of torch.nn.Module; got {type(networks).__name__}")
    for i, net in enumerate(networks):
        if not isinstance(net, nn.Module):
            raise TypeError(f"networks[{i}] must be a torch.nn.Module; got {type(net).__name__}")
    if (not isinstance(item_shape, tuple | list) or not item_shape
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in item_shape)):
        raise ValueError(f"item_shape must be a non-empty tuple of positive ints such as (1, 28, 28); got {item_shape!r}")
    body = _stack(list(networks))
    out = Members(body, len(networks), item_shape, lr_multipliers, shared_input)
    out.train(networks[0].training)
    return out
