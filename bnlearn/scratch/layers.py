r"""Layers of a small trainable network in NumPy: forward/backward pairs with explicit caches.

Every layer has ``forward(x)`` (also ``layer(x)``), which keeps in a cache what
the backward pass needs, and ``backward(dout)``, which takes
:math:`\partial L/\partial\,\text{out}` and returns :math:`\partial L/\partial x`,
storing the gradients of the layer's parameters in ``grads`` (overwritten, not
accumulated, at every call). Parameters live in ``params``; an optimiser such
as :class:`~bnlearn.scratch.SGD` updates those arrays in place.
"""
from __future__ import annotations

import math

import numpy as np

from ._checks import check_array, check_dtype, check_positive_int, check_real, check_size, make_rng

__all__ = ["Layer", "Linear", "ReLU", "Sigmoid", "Tanh", "Dropout", "Sequential"]


class Layer:
    """Base class of the scratch layers.

    Subclasses implement :meth:`forward` and :meth:`backward`.

    Attributes
    ----------
    params : dict
        Learnable arrays by name (empty for layers without parameters).
    grads : dict
        Gradients of ``params`` by name, filled by :meth:`backward`.
    training : bool
        ``True`` in training mode (the default), ``False`` after ``eval()``.
    """

    def __init__(self):
        self.params: dict = {}
        self.grads: dict = {}
        self.training = True
        self._cache = None

    def forward(self, x):
        """Compute the layer's output for ``x`` and keep what :meth:`backward` needs."""
        raise NotImplementedError

    def backward(self, dout):
        """Return the gradient with respect to the last input, given ``dout``."""
        raise NotImplementedError

    def __call__(self, x):
        return self.forward(x)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def train(self, mode=True):
        """Switch to training mode (``mode=True``) or eval mode; returns ``self``."""
        if not isinstance(mode, bool):
            raise TypeError(f"mode must be a bool; got {mode!r}")
        self.training = mode
        return self

    def eval(self):
        """Switch to eval mode; returns ``self``."""
        return self.train(False)

    def named_parameters(self):
        """List of ``(name, param, grad)`` triples; ``grad`` is ``None`` before :meth:`backward`."""
        return [(name, p, self.grads.get(name)) for name, p in self.params.items()]

    def _require_cache(self, owner):
        if self._cache is None:
            raise ValueError(
                f"{owner}() called before forward(): there is no cache to differentiate through; "
                "call forward(x) first"
            )
        return self._cache

    def _check_input(self, x):
        check_array(x, "x", repr(self))


class Linear(Layer):
    r"""Fully connected layer :math:`y = x W^\top + b` (PyTorch's layout).

    Parameters
    ----------
    in_features, out_features : int
        Sizes of each input and output row.
    init : {"xavier", "he"} or float, default "xavier"
        Initialisation of ``W``. ``"xavier"``: uniform on :math:`[-a, a]` with
        :math:`a = \sqrt{6/(\text{in} + \text{out})}`, which keeps the variance
        of activations and gradients about constant through a tanh or sigmoid
        network (Glorot and Bengio, 2010). ``"he"``: normal with standard
        deviation :math:`\sqrt{2/\text{in}}`, the same for ReLU networks (He et
        al., 2015). A positive float ``s``: normal with standard deviation
        ``s`` (e.g. ``0.01`` for "small random weights"). The bias starts at 0.
    bias : bool, default True
        Whether to add the bias ``b``.
    seed : None, int or numpy.random.Generator, default None
        Source of the initial weights; an int or a generator makes them reproducible.
    dtype : numpy.dtype, default numpy.float32
        Dtype of the parameters (float32 or float64); inputs must match it.

    Attributes
    ----------
    params : dict
        ``{"weight": (out, in), "bias": (out,)}`` (no ``"bias"`` when ``bias=False``).
    """

    def __init__(self, in_features, out_features, *, init="xavier", bias=True, seed=None, dtype=np.float32):
        super().__init__()
        self.in_features = check_positive_int(in_features, "in_features")
        self.out_features = check_positive_int(out_features, "out_features")
        if not isinstance(bias, bool):
            raise TypeError(f"bias must be a bool; got {bias!r}")
        self.dtype = check_dtype("dtype", dtype)
        check_size(f"Linear({self.in_features}, {self.out_features})", self.in_features * self.out_features,
                   self.dtype, "weights")
        rng = make_rng(seed, "Linear")
        fan_in, fan_out = self.in_features, self.out_features
        shape = (fan_out, fan_in)
        if isinstance(init, str):
            if init == "xavier":
                a = math.sqrt(6.0 / (fan_in + fan_out))           # Var = a^2/3 = 2/(in+out)
                w = rng.uniform(-a, a, size=shape)
            elif init == "he":
                w = rng.normal(0.0, math.sqrt(2.0 / fan_in), size=shape)   # Var = 2/in
            else:
                raise ValueError(f"init must be 'xavier', 'he' or a positive float; got {init!r}")
        else:
            std = check_real(init, "init")
            if std <= 0:
                raise ValueError(f"init must be 'xavier', 'he' or a positive float; got {init!r}")
            w = rng.normal(0.0, std, size=shape)
        with np.errstate(over="ignore"):
            w = w.astype(self.dtype)
        if not np.isfinite(w).all():
            raise ValueError(f"init={init!r} gives weights that overflow {self.dtype} (its largest value is "
                             f"{np.finfo(self.dtype).max:.3g}); choose a smaller standard deviation")
        self.params = {"weight": w}
        if bias:
            self.params["bias"] = np.zeros(fan_out, self.dtype)

    def __repr__(self) -> str:
        return f"Linear({self.in_features}, {self.out_features})"

    def forward(self, x):
        """Map ``x`` of shape ``(N, in_features)`` to ``(N, out_features)``."""
        owner = repr(self)
        self._check_input(x)
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"{owner} expects input of shape (N, {self.in_features}); got {x.shape}")
        if x.dtype != self.dtype:
            raise TypeError(
                f"{owner} holds {self.dtype} parameters; got input of dtype {x.dtype} "
                f"(convert it with x.astype(numpy.{self.dtype}) or build the layer with dtype=numpy.{x.dtype})"
            )
        with np.errstate(over="ignore"):          # a value beyond the float range is inf, IEEE's rounding
            out = x @ self.params["weight"].T      # y = x W^T
            if "bias" in self.params:
                out += self.params["bias"]         #   + b
        self._cache = x
        return out

    def backward(self, dout):
        r"""Given ``dout`` of shape ``(N, out_features)``, return ``dx = dout W``.

        Fills ``grads["weight"]`` :math:`= \text{dout}^\top x` and
        ``grads["bias"]`` :math:`= \sum_n \text{dout}_n`.
        """
        x = self._require_cache(f"{self!r}.backward")
        _check_grad(dout, (x.shape[0], self.out_features), x.dtype, f"{self!r}.backward")
        with np.errstate(over="ignore"):
            self.grads = {"weight": dout.T @ x}        # dL/dW = dout^T x
            if "bias" in self.params:
                self.grads["bias"] = dout.sum(axis=0)  # dL/db = sum over the batch
            return dout @ self.params["weight"]        # dL/dx = dout W


def _check_grad(dout, shape, dtype, owner):
    check_array(dout, "dout", owner)
    if dout.shape != tuple(shape):
        raise ValueError(f"{owner} expects dout of the forward output's shape {tuple(shape)}; got {dout.shape}")
    if dout.dtype != dtype:
        raise TypeError(f"{owner} expects dout of dtype {dtype}; got {dout.dtype}")


class _Elementwise(Layer):
    """An element-wise activation; any shape, float32 or float64."""

    def forward(self, x):
        self._check_input(x)
        out = self._f(x)
        self._cache = (x, out)
        return out

    def backward(self, dout):
        x, out = self._require_cache(f"{self!r}.backward")
        _check_grad(dout, x.shape, x.dtype, f"{self!r}.backward")
        return self._df(dout, x, out)


class ReLU(_Elementwise):
    r"""Rectified linear unit :math:`y = \max(x, 0)`, element-wise, any shape.

    The backward pass is :math:`\partial L/\partial x = \partial L/\partial y \cdot [x > 0]`
    (the subgradient 0 is used at :math:`x = 0`).
    """

    def _f(self, x):
        return np.maximum(x, 0)

    def _df(self, dout, x, out):
        return dout * (x > 0)


class Sigmoid(_Elementwise):
    r"""Logistic sigmoid :math:`y = 1/(1 + e^{-x})`, element-wise, any shape.

    Computed as :math:`\tfrac12(1 + \tanh(x/2))`, which never overflows. The
    backward pass is :math:`\partial L/\partial x = \partial L/\partial y \cdot y(1-y)`.
    """

    def _f(self, x):
        half = x.dtype.type(0.5)
        return half * (1 + np.tanh(half * x))

    def _df(self, dout, x, out):
        return dout * out * (1 - out)


class Tanh(_Elementwise):
    r"""Hyperbolic tangent :math:`y = \tanh x`, element-wise, any shape.

    The backward pass is :math:`\partial L/\partial x = \partial L/\partial y \cdot (1 - y^2)`.
    """

    def _f(self, x):
        return np.tanh(x)

    def _df(self, dout, x, out):
        return dout * (1 - out * out)


class Dropout(Layer):
    r"""Inverted dropout: in training, zero each value with probability ``p``.

    In training mode :math:`y = x \odot M / (1 - p)` with
    :math:`M_{ij} \sim \text{Bernoulli}(1 - p)`, so that :math:`E[y] = x`; in
    eval mode :math:`y = x`. Any input shape.

    Parameters
    ----------
    p : float, default 0.5
        Probability of zeroing a value, in ``[0, 1)``.
    seed : None, int or numpy.random.Generator, default None
        Source of the masks; kept as the attribute ``rng``.
    """

    def __init__(self, p=0.5, *, seed=None):
        super().__init__()
        p = check_real(p, "p")
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout expects p in [0, 1); got {p}")
        self.p = p
        self.rng = make_rng(seed, "Dropout")

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"

    def forward(self, x):
        """Return ``x`` with dropped values zeroed and the rest scaled by ``1/(1-p)``."""
        self._check_input(x)
        if not self.training or self.p == 0.0:
            mask = None
            out = x.copy()
        else:
            keep = self.rng.random(x.shape) >= self.p                 # M ~ Bernoulli(1 - p)
            mask = keep.astype(x.dtype) / x.dtype.type(1.0 - self.p)  # M / (1 - p)
            out = x * mask
        self._cache = (x.shape, x.dtype, mask)
        return out

    def backward(self, dout):
        """Return ``dout`` masked and scaled like the forward pass."""
        shape, dtype, mask = self._require_cache(f"{self!r}.backward")
        _check_grad(dout, shape, dtype, f"{self!r}.backward")
        return dout.copy() if mask is None else dout * mask


class Sequential(Layer):
    """A chain of layers: ``forward`` runs them in order, ``backward`` in reverse.

    Parameters
    ----------
    *layers : Layer
        The layers, applied first to last.

    Attributes
    ----------
    layers : list
        The layers.
    params, grads : dict
        All parameters and gradients, named ``"{index}.{name}"`` (e.g. ``"0.weight"``);
        the arrays are the layers' own.
    """

    def __init__(self, *layers):
        # params and grads are views of the layers' own (properties below)
        self.training = True
        self._cache = None
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"Sequential expects Layer instances; got {type(layer).__name__} at position {i}")
        if not layers:
            raise ValueError("Sequential expects at least one layer; got none")
        self.layers = list(layers)

    def __repr__(self) -> str:
        return "Sequential(" + ", ".join(repr(l) for l in self.layers) + ")"

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, i):
        return self.layers[i]

    def __iter__(self):
        return iter(self.layers)

    @property
    def params(self) -> dict:
        """All parameters by ``"{index}.{name}"``."""
        return {f"{i}.{k}": v for i, layer in enumerate(self.layers) for k, v in layer.params.items()}

    @property
    def grads(self) -> dict:
        """All gradients by ``"{index}.{name}"`` (after :meth:`backward`)."""
        return {f"{i}.{k}": v for i, layer in enumerate(self.layers) for k, v in layer.grads.items()}

    def train(self, mode=True):
        """Set the mode of this and every contained layer; returns ``self``."""
        super().train(mode)
        for layer in self.layers:
            layer.train(mode)
        return self

    def forward(self, x):
        """Apply the layers in order."""
        for layer in self.layers:
            x = layer.forward(x)
        self._cache = True
        return x

    def backward(self, dout):
        """Back-propagate through the layers in reverse order; returns ``dx``."""
        self._require_cache(f"{self!r}.backward")
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return dout
