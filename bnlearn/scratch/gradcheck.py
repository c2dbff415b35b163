r"""Gradient checking: compare a layer's backward pass with central differences."""
from __future__ import annotations

import copy

import numpy as np

from ._checks import check_array, check_real
from .layers import Layer
from .loss import SoftmaxCrossEntropy

__all__ = ["numerical_gradient", "relative_error", "gradcheck"]


def numerical_gradient(f, x, h=1e-6):
    r"""Central-difference estimate of the gradient of a scalar function.

    .. math::

        \frac{\partial f}{\partial x_i} \approx \frac{f(x + h e_i) - f(x - h e_i)}{2h},

    whose error is :math:`O(h^2)` (plus the rounding error of ``f``, about
    :math:`\epsilon_\text{mach} |f| / h`; use float64 and ``h`` near 1e-6).

    Parameters
    ----------
    f : callable
        ``f(x)`` returns a real number. It is called ``2 * x.size`` times with
        ``x`` perturbed in place, one entry at a time.
    x : numpy.ndarray
        Point at which to differentiate, float32 or float64; restored on return.
    h : float, default 1e-6
        Step, ``> 0``.

    Returns
    -------
    numpy.ndarray
        The estimate, of the shape and dtype of ``x``.
    """
    if not callable(f):
        raise TypeError(f"numerical_gradient expects a callable f; got {type(f).__name__}")
    check_array(x, "x", "numerical_gradient")
    h = check_real(h, "h")
    if h <= 0:
        raise ValueError(f"numerical_gradient expects a step h > 0; got {h}")
    if not np.isfinite(x).all():
        raise ValueError("numerical_gradient expects a finite x; it holds NaN or infinite values")
    with np.errstate(over="ignore"):
        steps_ok = np.isfinite(x + x.dtype.type(h)).all() and np.isfinite(x - x.dtype.type(h)).all() \
            and np.isfinite(x.dtype.type(h))
    if not steps_ok:
        raise ValueError(f"numerical_gradient: x +- h must stay finite in {x.dtype}; h={h} takes some "
                         f"entries beyond {np.finfo(x.dtype).max:.3g}")
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + h
        f_plus = float(f(x))
        x[idx] = old - h
        f_minus = float(f(x))
        x[idx] = old
        if not (np.isfinite(f_plus) and np.isfinite(f_minus)):
            raise ValueError(f"numerical_gradient: f is not finite at x +- h e_i for i = {idx} "
                             f"(got {f_plus} and {f_minus}); a central difference needs finite values")
        with np.errstate(over="ignore", invalid="ignore"):
            g = (f_plus - f_minus) / (2 * h)             # (f(x + h e_i) - f(x - h e_i)) / 2h
            if not np.isfinite(g):                       # the difference (or 2h) overflowed: halve first
                g = (f_plus / 2) / h - (f_minus / 2) / h
        grad[idx] = g
    return grad


def relative_error(a, b):
    r"""Relative error :math:`\|a - b\| / (\|a\| + \|b\|)` of two arrays (Euclidean norms).

    It is 0 for equal arrays and at most 1; 0 when both are zero (or empty).
    Unlike an element-wise ratio it is not thrown off by entries that are zero
    up to rounding. It is computed on both arrays divided by a power of two
    near their largest entry, so entries near the float limits do not overflow.

    Parameters
    ----------
    a, b : numpy.ndarray
        Arrays of the same shape.

    Returns
    -------
    float
    """
    for name, v in (("a", a), ("b", b)):
        if not isinstance(v, np.ndarray):
            raise TypeError(f"relative_error expects {name} to be a numpy.ndarray; got {type(v).__name__}")
    if a.shape != b.shape:
        raise ValueError(f"relative_error expects arrays of the same shape; got {a.shape} and {b.shape}")
    for name, v in (("a", a), ("b", b)):
        if not np.issubdtype(v.dtype, np.number) or np.iscomplexobj(v):
            raise TypeError(f"relative_error expects real arrays; got {name} of dtype {v.dtype}")
        if not np.isfinite(v).all():
            raise ValueError(f"relative_error expects finite arrays; {name} holds NaN or infinite values")
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    # The ratio does not change when both are divided by one power of two: dividing by the
    # largest entry keeps the norms (and a - b) from overflowing, and it is exact.
    top = max(float(np.abs(a).max(initial=0.0)), float(np.abs(b).max(initial=0.0)))
    if top == 0:
        return 0.0
    scale = np.ldexp(1.0, int(np.frexp(top)[1]) - 1)           # 1 <= top / scale < 2
    a, b = a / scale, b / scale
    denom = np.linalg.norm(a) + np.linalg.norm(b)
    return float(np.linalg.norm(a - b) / denom)


def _generators(layer):
    """Every numpy.random.Generator a layer (or its sub-layers) draws from."""
    gens = []
    if isinstance(getattr(layer, "rng", None), np.random.Generator):
        gens.append(layer.rng)
    for sub in getattr(layer, "layers", []):
        gens.extend(_generators(sub))
    return gens


def gradcheck(layer, x, target=None, *, h=1e-6, seed=0):
    r"""Compare a layer's analytic gradients with central differences.

    For a layer, the checked scalar is :math:`L = \sum r \odot \text{layer}(x)`
    with a fixed random array :math:`r`, so that ``layer.backward(r)`` must
    return :math:`\partial L / \partial x` and fill ``grads`` with
    :math:`\partial L / \partial \theta`. For a
    :class:`~bnlearn.scratch.SoftmaxCrossEntropy` loss, pass the labels as
    ``target``; then :math:`L` is the loss itself.

    The check runs on a deep copy of ``layer`` (the layer passed in, with its
    running statistics and random state, is left as it was), and restores the
    state of the layer's random generators before every evaluation so that a
    :class:`~bnlearn.scratch.Dropout` draws the same mask each time.

    Parameters
    ----------
    layer : Layer or SoftmaxCrossEntropy
        The layer to check, in the mode (training or eval) to check.
    x : numpy.ndarray
        Input; float64 is needed for errors near 1e-9 (float32 gives about 1e-3).
    target : numpy.ndarray, optional
        Integer labels, required for (and only for) a loss.
    h : float, default 1e-6
        Finite-difference step.
    seed : int, default 0
        Seed of the random projection :math:`r`.

    Notes
    -----
    A gradient that is zero up to rounding (such as that of the bias of a
    :class:`~bnlearn.scratch.Linear` layer followed by batch normalisation,
    which cannot change the output) gives a relative error near 1 even when
    the code is right: both estimates are noise of order 1e-10. Compare the
    absolute values there.

    Returns
    -------
    dict
        :func:`relative_error` of the analytic against the numerical gradient,
        for ``"x"`` and for each parameter name, e.g. ``{"x": 3e-10, "weight": 1e-10, "bias": 8e-11}``.
    """
    is_loss = isinstance(layer, SoftmaxCrossEntropy)
    if not (is_loss or isinstance(layer, Layer)):
        raise TypeError(f"gradcheck expects a Layer or a SoftmaxCrossEntropy; got {type(layer).__name__}")
    if is_loss and target is None:
        raise ValueError("gradcheck of a loss needs the labels: pass target=y")
    if not is_loss and target is not None:
        raise ValueError(f"gradcheck: target is only for losses; got a target for {layer!r}")
    check_array(x, "x", "gradcheck")
    layer = copy.deepcopy(layer)
    x = x.copy()
    gens = _generators(layer)
    states = [g.bit_generator.state for g in gens]

    def run(inp):
        for g, s in zip(gens, states):
            g.bit_generator.state = s
        return layer.forward(inp, target) if is_loss else layer.forward(inp)

    if is_loss:
        loss = lambda _: run(x)  # noqa: E731
        run(x)
        dx = layer.backward(1.0)
        errors = {"x": relative_error(dx, numerical_gradient(loss, x, h))}
        return errors
    out = run(x)
    # r from a seed sequence of its own, so that it is not the same draw as an x seeded alike
    r = np.random.default_rng([seed, 0x6772616463]).standard_normal(out.shape).astype(out.dtype)
    dx = layer.backward(r)
    analytic = {name: g.copy() for name, g in layer.grads.items()}

    def loss(_):
        return float(np.sum(r * run(x)))                  # L = sum(r * layer(x))

    errors = {"x": relative_error(dx, numerical_gradient(loss, x, h))}
    for name, p in layer.params.items():
        errors[name] = relative_error(analytic[name], numerical_gradient(loss, p, h))
    return errors
