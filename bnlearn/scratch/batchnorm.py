r"""Batch normalisation in NumPy: the forward pass, the compact backward pass, a layer.

For a mini-batch, batch normalisation (Ioffe and Szegedy, 2015) takes each
feature (or, for images, each channel) through three steps:

.. math::

    \mu = \frac{1}{m}\sum_{i=1}^m x_i, \qquad
    \sigma^2 = \frac{1}{m}\sum_{i=1}^m (x_i - \mu)^2, \qquad
    \hat x_i = \frac{x_i - \mu}{\sqrt{\sigma^2 + \epsilon}}, \qquad
    y_i = \gamma \hat x_i + \beta,

where the sum runs over the ``m`` values of that feature in the batch: the
``N`` rows of an ``(N, D)`` input, or the ``N * H * W`` positions of channel
``c`` of an ``(N, C, H, W)`` input (any number of spatial axes works).

The backward pass uses the compact closed form

.. math::

    \frac{\partial L}{\partial x_i} = \frac{\gamma}{\sqrt{\sigma^2+\epsilon}}
    \Big(g_i - \frac{1}{m}\sum_j g_j - \hat x_i \frac{1}{m}\sum_j g_j \hat x_j\Big),
    \qquad g_i = \frac{\partial L}{\partial y_i},

which needs two per-feature sums and one pass over the data, instead of a
node-by-node walk through the computational graph.

Extreme magnitudes. The output does not change when a feature is multiplied
by a constant :math:`s` (up to :math:`\epsilon`), and the backward pass is
linear in :math:`g`. So when a finite input's statistics (or the backward's
sums) overflow, the same formulas run on :math:`x / s` (and :math:`g / t`)
with :math:`s, t` powers of two, an exact rescaling, and the results are
scaled back: right answers, rounded to the dtype, for any finite input.
NaN and infinite inputs are refused in training with a message that names
the features.
"""
from __future__ import annotations

import math

import numpy as np

from ._checks import check_array, check_dtype, check_eps, check_positive_int, check_real, check_size
from .layers import Layer

__all__ = ["batchnorm_forward", "batchnorm_backward", "BatchNorm"]


# ---------------------------------------------------------------------------
# Layout: every input is seen as (N, C) or (N, C, S) with S = prod(spatial).
# ---------------------------------------------------------------------------
def _layout(x: np.ndarray):
    """Return ``(view, axes, pshape, m, spec)`` for per-channel statistics of ``x``.

    ``view`` is ``x`` itself for ``(N, D)`` input and ``x.reshape(N, C, S)``
    otherwise; ``axes`` are the axes the statistics reduce over; per-channel
    vectors are reshaped to ``pshape`` to broadcast against ``view``; ``m`` is
    the number of values per channel; ``spec`` is the einsum of a per-channel
    dot product.
    """
    n, c = x.shape[0], x.shape[1]
    if x.ndim == 2:
        return x, (0,), (c,), n, "nc,nc->c"
    s = math.prod(x.shape[2:])
    return x.reshape(n, c, s), (0, 2), (c, 1), n * s, "ncs,ncs->c"


def _expected_shape(c) -> str:
    return f"(N, {c}) or (N, {c}, *spatial)"


def _check_input(x, owner: str, num_features: int | None = None) -> None:
    check_array(x, "x", owner)
    if x.ndim < 2:
        c = "C" if num_features is None else num_features
        raise ValueError(
            f"{owner} expects input of shape {_expected_shape(c)}; got {x.ndim}-d input of shape {x.shape}"
        )
    if num_features is not None and x.shape[1] != num_features:
        raise ValueError(
            f"{owner} expects input of shape {_expected_shape(num_features)} "
            f"({num_features} features or channels on axis 1); got {x.shape}"
        )
    if x.size == 0:
        raise ValueError(f"{owner} expects a non-empty input; got shape {x.shape}")


def _check_affine(gamma, beta, x: np.ndarray, owner: str) -> None:
    c = x.shape[1]
    for name, p in (("gamma", gamma), ("beta", beta)):
        if not isinstance(p, np.ndarray):
            raise TypeError(f"{owner} expects {name} to be a numpy.ndarray of shape ({c},); got {type(p).__name__}")
        if p.shape != (c,):
            raise ValueError(
                f"{owner} expects {name} of shape ({c},) to match x of shape {x.shape}; got {p.shape}"
            )
        if p.dtype != x.dtype:
            raise TypeError(
                f"{owner} expects {name} of the same dtype as x ({x.dtype}); got {p.dtype}"
            )


def _check_finite_input(view: np.ndarray, axes, owner: str) -> None:
    """Refuse NaN or infinite values, naming the features that hold them."""
    bad = ~np.isfinite(view).all(axis=axes)
    if bad.any():
        idx = np.flatnonzero(bad)
        shown = ", ".join(str(i) for i in idx[:8]) + (", ..." if idx.size > 8 else "")
        raise ValueError(
            f"{owner}: the batch statistics of feature(s) [{shown}] are not finite; "
            "the input contains NaN or infinite values there"
        )


def _feature_scale(view: np.ndarray, axes, pshape) -> np.ndarray:
    """A power of two per feature, ``s`` with ``1 <= max|x| / s < 2`` (exact to divide by), shaped ``pshape``."""
    amax = np.abs(view).max(axis=axes)
    _, exponent = np.frexp(amax)                                   # amax = f 2^e, f in [0.5, 1)
    return np.ldexp(np.ones_like(amax), exponent - 1).reshape(pshape)


def _tiny(dtype) -> float:
    return float(np.finfo(dtype).tiny)


def _train_forward(x, gamma, beta, eps, owner):
    """Training-mode forward pass; returns ``(out, cache, mean, var)`` (biased ``var``).

    ``var`` is ``inf`` only when the true variance exceeds the dtype's largest
    value (the output is right all the same).
    """
    view, axes, pshape, m, spec = _layout(x)
    if m < 2:
        raise ValueError(
            f"{owner} needs more than one value per feature to estimate a variance in training; "
            f"got input of shape {x.shape} ({m} value per feature)"
        )
    out = np.empty(x.shape, dtype=x.dtype)
    ov = out.reshape(view.shape)
    one_over_m = x.dtype.type(m)
    with np.errstate(over="ignore", invalid="ignore"):   # an overflow is handled just below
        # mu = (1/m) sum_i x_i, per feature
        mean = view.sum(axis=axes) / one_over_m
        # x - mu, written into the output buffer (no temporary of the input's size)
        np.subtract(view, mean.reshape(pshape), out=ov)
        # sigma^2 = (1/m) sum_i (x_i - mu)^2  (the biased variance normalises)
        var = np.einsum(spec, ov, ov) / one_over_m
    if np.isfinite(mean).all() and np.isfinite(var).all():
        # 1 / sqrt(sigma^2 + eps)
        inv_std = 1.0 / np.sqrt(var + x.dtype.type(eps))
        # y = gamma * x_hat + beta = (x - mu) * (gamma / sqrt(sigma^2 + eps)) + beta, in place
        ov *= (gamma * inv_std).reshape(pshape)
        ov += beta.reshape(pshape)
        return out, (x, mean, inv_std, gamma), mean, var
    _check_finite_input(view, axes, owner)
    # A finite input whose statistics overflowed: the same formulas on x / s, s a power of two.
    s = _feature_scale(view, axes, pshape)
    xs = view / s                                                # exact
    mean_s = xs.sum(axis=axes) / one_over_m
    np.subtract(xs, mean_s.reshape(pshape), out=ov)
    var_s = np.einsum(spec, ov, ov) / one_over_m
    eps_s = np.maximum(x.dtype.type(eps) / s.ravel() / s.ravel(), _tiny(x.dtype))   # eps / s^2, never 0
    inv_std_s = 1.0 / np.sqrt(var_s + eps_s)
    ov *= (gamma * inv_std_s).reshape(pshape)
    ov += beta.reshape(pshape)
    with np.errstate(over="ignore", under="ignore"):
        mean = mean_s * s.ravel()                                # mu = s mu_s (|mu| <= max|x|: finite)
        var = var_s * s.ravel() * s.ravel()                      # sigma^2 = s^2 sigma_s^2 (may be inf)
        inv_std = inv_std_s / s.ravel()
    return out, (x, mean, inv_std, gamma), mean, var


def batchnorm_forward(x, gamma, beta, eps=1e-5):
    r"""Batch-normalise ``x`` with the statistics of the batch (training mode).

    .. math::

        y = \gamma \, \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta,

    with :math:`\mu` and the biased :math:`\sigma^2` computed per feature over
    the batch (axis 0) and, for ``(N, C, *spatial)`` input, per channel over
    the batch and the spatial axes.

    Parameters
    ----------
    x : numpy.ndarray
        Input of shape ``(N, D)`` or ``(N, C, *spatial)``, float32 or float64,
        with more than one value per feature (``N > 1``, or ``N * H * W > 1``).
    gamma, beta : numpy.ndarray
        Scale and shift of shape ``(D,)`` or ``(C,)``, of the same dtype as ``x``.
    eps : float, default 1e-5
        Added to the variance before the square root; must be ``> 0``.

    Returns
    -------
    out : numpy.ndarray
        Normalised, scaled and shifted input, of the shape and dtype of ``x``.
    cache : tuple
        ``(x, mean, inv_std, gamma)``: what :func:`batchnorm_backward` needs and
        nothing more. ``x`` is held by reference (not copied), so do not modify
        it in place before the backward pass; ``mean`` and ``inv_std`` (the
        per-feature :math:`1/\sqrt{\sigma^2+\epsilon}`) have shape ``(D,)``.

    Raises
    ------
    TypeError
        If ``x``, ``gamma`` or ``beta`` is not a float32/float64 array, or
        their dtypes differ.
    ValueError
        If ``x`` has fewer than 2 dimensions, one value per feature, ``gamma``
        or ``beta`` of the wrong shape, ``eps <= 0``, or NaN or infinite values
        (the batch statistics are then not finite).
    """
    owner = "batchnorm_forward"
    _check_input(x, owner)
    _check_affine(gamma, beta, x, owner)
    eps = check_eps(eps)
    out, cache, _, _ = _train_forward(x, gamma, beta, eps, owner)
    return out, cache


def _check_cache(cache, owner):
    if not (isinstance(cache, tuple) and len(cache) == 4 and all(isinstance(a, np.ndarray) for a in cache)):
        raise TypeError(
            f"{owner} expects the cache returned by batchnorm_forward, a tuple (x, mean, inv_std, gamma); "
            f"got {type(cache).__name__}"
        )


def _check_dout(dout, x, owner):
    check_array(dout, "dout", owner)
    if dout.shape != x.shape:
        raise ValueError(f"{owner} expects dout of the forward input's shape {x.shape}; got {dout.shape}")
    if dout.dtype != x.dtype:
        raise TypeError(f"{owner} expects dout of the forward input's dtype {x.dtype}; got {dout.dtype}")


def _param_grads(dout, cache):
    """The parameter gradients, shared by the training and eval backward passes.

    Returns ``(g, dx, dv, pshape, m, dgamma, dbeta)``: ``dout`` viewed per
    feature, a fresh ``dx`` buffer and its per-feature view ``dv`` (holding
    ``x - mu`` on return), the broadcast shape, the count per feature, and the
    two sums.
    """
    x, mean, inv_std, _ = cache
    view, axes, pshape, m, spec = _layout(x)
    g = dout.reshape(view.shape)
    dx = np.empty(x.shape, dtype=x.dtype)
    dv = dx.reshape(view.shape)
    # x - mu, written into the gradient buffer
    np.subtract(view, mean.reshape(pshape), out=dv)
    # dbeta = sum_i g_i ;  dgamma = sum_i g_i x_hat_i = (1/sigma) sum_i g_i (x_i - mu)
    dbeta = g.sum(axis=axes)
    dgamma = np.einsum(spec, g, dv) * inv_std
    return g, dx, dv, pshape, m, dgamma, dbeta


def _train_backward_plain(dout, cache):
    x, _, inv_std, gamma = cache
    g, dx, dv, pshape, m, dgamma, dbeta = _param_grads(dout, cache)
    # dx_i = (gamma/sigma) (g_i - dbeta/m - x_hat_i dgamma/m), with x_hat_i = (x_i - mu)/sigma
    one_over_m = x.dtype.type(1.0 / m)
    dv *= (-(inv_std * dgamma) * one_over_m).reshape(pshape)   # - x_hat_i dgamma / m
    dv += g                                                      # + g_i
    dv -= (dbeta * one_over_m).reshape(pshape)                   # - dbeta / m
    dv *= (gamma * inv_std).reshape(pshape)                      # * gamma / sigma
    return dx, dgamma, dbeta


def _rescaled(backward, dout, cache):
    r"""Run ``backward`` on ``x / s`` and ``dout / t`` (powers of two) and scale the gradients back.

    :math:`y` depends on :math:`x` only through :math:`x/s` (with
    :math:`\mu/s` and :math:`s \cdot \mathrm{inv\_std}`), and every gradient
    is linear in :math:`g`; so :math:`dx = t\,dx_s / s`, :math:`d\gamma = t\,d\gamma_s`,
    :math:`d\beta = t\,d\beta_s`, each rounded once at the end.
    """
    x, mean, inv_std, gamma = cache
    view, axes, pshape, _, _ = _layout(x)
    s = _feature_scale(view, axes, pshape)
    t = np.ldexp(x.dtype.type(1), int(np.frexp(np.abs(dout).max())[1]) - 1) if dout.size else x.dtype.type(1)
    with np.errstate(over="ignore", under="ignore"):
        scaled = ((view / s).reshape(x.shape), mean / s.ravel(), inv_std * s.ravel(), gamma)
        dx, dgamma, dbeta = backward(dout / t, scaled)
        dx = (dx.reshape(view.shape) / s * t).reshape(x.shape).astype(x.dtype, copy=False)
        return dx, dgamma * t, dbeta * t


def _finite(*arrays) -> bool:
    """Whether every value is finite, from one sum per array (no temporary of the array's size).

    A sum is NaN or infinite when a value is; it may also overflow for huge
    finite values, and then the caller's rescaled path gives the same result.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        return all(np.isfinite(np.sum(a)) for a in arrays)


def _all_finite(*arrays) -> bool:
    """Whether every value is finite, exactly (a full pass; for the rare path)."""
    return all(np.isfinite(a).all() for a in arrays)


def _train_backward(dout, cache):
    with np.errstate(over="ignore", invalid="ignore"):   # an overflow is handled just below
        dx, dgamma, dbeta = _train_backward_plain(dout, cache)
    # An overflow of x - mu or of a sum shows in dgamma or dbeta (C values: cheap to check);
    # dx itself is then NaN or inf too. A dx beyond the dtype with finite sums is its right, rounded value.
    if _finite(dgamma, dbeta) or not _all_finite(dout, cache[0]):
        return dx, dgamma, dbeta
    return _rescaled(_train_backward_plain, dout, cache)   # finite inputs whose sums overflowed


def batchnorm_backward(dout, cache):
    r"""Gradients of batch normalisation in training mode (the compact form).

    With :math:`g = \partial L / \partial y` and :math:`m` values per feature,

    .. math::

        \frac{\partial L}{\partial \beta} = \sum_i g_i, \qquad
        \frac{\partial L}{\partial \gamma} = \sum_i g_i \hat x_i, \qquad
        \frac{\partial L}{\partial x_i} = \frac{\gamma}{\sqrt{\sigma^2+\epsilon}}
        \Big(g_i - \frac{1}{m}\frac{\partial L}{\partial \beta}
        - \frac{\hat x_i}{m}\frac{\partial L}{\partial \gamma}\Big).

    Parameters
    ----------
    dout : numpy.ndarray
        Upstream gradient :math:`\partial L/\partial y`, of the shape and dtype
        of the forward input.
    cache : tuple
        The cache returned by :func:`batchnorm_forward`.

    Returns
    -------
    dx : numpy.ndarray
        Gradient with respect to ``x``, shape of ``x``.
    dgamma, dbeta : numpy.ndarray
        Gradients with respect to ``gamma`` and ``beta``, shape ``(D,)`` or ``(C,)``.

    Raises
    ------
    TypeError
        If ``cache`` is not the tuple from :func:`batchnorm_forward` or ``dout``
        is not an array of the input's dtype.
    ValueError
        If ``dout`` does not have the input's shape.
    """
    owner = "batchnorm_backward"
    _check_cache(cache, owner)
    _check_dout(dout, cache[0], owner)
    return _train_backward(dout, cache)


def _eval_backward(dout, cache):
    """Eval mode: the statistics are constants, ``dx = dout * gamma * inv_std``."""
    _, _, inv_std, gamma = cache
    g, dx, dv, pshape, _, dgamma, dbeta = _param_grads(dout, cache)
    np.multiply(g, (gamma * inv_std).reshape(pshape), out=dv)   # g_i gamma / sigma
    return dx, dgamma, dbeta


class BatchNorm(Layer):
    r"""Batch normalisation layer for ``(N, D)`` or ``(N, C, *spatial)`` input.

    In training mode the layer normalises with the batch's statistics
    (:func:`batchnorm_forward`) and updates running estimates of the population
    statistics, with PyTorch's conventions:

    .. math::

        \text{running} \leftarrow (1 - \text{momentum})\,\text{running}
        + \text{momentum}\cdot\text{batch},

    where the running variance is updated with the *unbiased* batch variance
    :math:`\frac{m}{m-1}\sigma^2` while the normalisation itself uses the
    biased one. With ``momentum=None`` the running statistics are the
    cumulative average of the batch statistics (momentum :math:`1/t` at step
    :math:`t`). In eval mode the layer normalises with the running statistics,
    a fixed affine map of its input.

    Parameters
    ----------
    num_features : int
        Number of features ``D`` (for ``(N, D)`` input) or channels ``C``.
    eps : float, default 1e-5
        Added to the variance before the square root; must be ``> 0``.
    momentum : float or None, default 0.1
        Weight of the new batch in the running statistics, in ``[0, 1]``;
        ``None`` for a cumulative average.
    dtype : numpy.dtype, default numpy.float32
        Dtype of the parameters and running statistics (float32 or float64);
        the input must have the same dtype.

    Attributes
    ----------
    params : dict
        ``{"gamma": ones (C,), "beta": zeros (C,)}``, the learnable scale and shift.
    grads : dict
        Their gradients after :meth:`backward`.
    running_mean, running_var : numpy.ndarray
        Running estimates of the population mean and (unbiased) variance, shape ``(C,)``.
    num_batches_tracked : int
        Number of training batches seen.
    training : bool
        ``True`` in training mode (the default), ``False`` after ``eval()``.

    Notes
    -----
    A NaN or infinite value in a training batch raises a ``ValueError`` (the
    batch statistics would be NaN and would poison the running statistics), and
    so does a finite batch whose variance exceeds the dtype's largest value
    (the running variance could not hold it). In eval mode no statistics are
    computed: NaN or infinite input values simply give NaN or infinite outputs
    at the same positions.
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, *, dtype=np.float32):
        super().__init__()
        self.num_features = check_positive_int(num_features, "num_features")
        self.eps = check_eps(eps)
        if momentum is not None:
            momentum = check_real(momentum, "momentum")
            if not 0.0 <= momentum <= 1.0:
                raise ValueError(f"momentum must lie in [0, 1] or be None (cumulative average); got {momentum}")
        self.momentum = momentum
        self.dtype = check_dtype("dtype", dtype)
        c = self.num_features
        check_size(f"BatchNorm({c})", 4 * c, self.dtype, "parameters and statistics")
        self.params = {"gamma": np.ones(c, self.dtype), "beta": np.zeros(c, self.dtype)}
        self.running_mean = np.zeros(c, self.dtype)
        self.running_var = np.ones(c, self.dtype)
        self.num_batches_tracked = 0

    def __repr__(self) -> str:
        return f"BatchNorm({self.num_features})"

    @property
    def gamma(self) -> np.ndarray:
        """The scale :math:`\\gamma`, shape ``(C,)`` (the array in ``params``)."""
        return self.params["gamma"]

    @property
    def beta(self) -> np.ndarray:
        """The shift :math:`\\beta`, shape ``(C,)`` (the array in ``params``)."""
        return self.params["beta"]

    def forward(self, x):
        """Normalise ``x`` of shape ``(N, C)`` or ``(N, C, *spatial)``; returns ``y`` of the same shape.

        Raises
        ------
        TypeError
            If ``x`` is not an array of the layer's dtype.
        ValueError
            If ``x`` has the wrong rank or number of features, only one value
            per feature in training mode, or NaN/infinite values in training mode.
        """
        owner = repr(self)
        _check_input(x, owner, self.num_features)
        if x.dtype != self.dtype:
            raise TypeError(
                f"{owner} holds {self.dtype} parameters; got input of dtype {x.dtype} "
                f"(convert it with x.astype(numpy.{self.dtype}) or build the layer with dtype=numpy.{x.dtype})"
            )
        if self.training:
            out, cache, mean, var = _train_forward(x, self.gamma, self.beta, self.eps, owner)
            if not np.isfinite(var).all():
                idx = np.flatnonzero(~np.isfinite(var))
                raise ValueError(
                    f"{owner}: the batch variance of feature(s) {idx[:8].tolist()} is not finite in {x.dtype} "
                    f"(it exceeds {np.finfo(x.dtype).max:.3g}), so the running variance cannot hold it; "
                    f"rescale the input{' or use float64' if x.dtype != np.float64 else ''}"
                )
            self._update_running(mean, var, _layout(x)[3])
            self._cache = ("train", cache)
            return out
        view, axes, pshape, m, spec = _layout(x)
        # eval: y = gamma (x - running_mean) / sqrt(running_var + eps) + beta
        inv_std = 1.0 / np.sqrt(self.running_var + self.dtype.type(self.eps))
        out = np.empty(x.shape, dtype=x.dtype)
        ov = out.reshape(view.shape)
        a = (self.gamma * inv_std).reshape(pshape)
        with np.errstate(over="ignore", invalid="ignore"):
            np.subtract(view, self.running_mean.reshape(pshape), out=ov)
            ov *= a
            ov += self.beta.reshape(pshape)
        if not _finite(out) and np.isfinite(view).all():
            # x - mu overflowed for finite values: x a - mu a + beta, each product finite
            with np.errstate(over="ignore", invalid="ignore"):
                np.multiply(view, a, out=ov)
                ov += (self.beta - self.running_mean * a.ravel()).reshape(pshape)
        self._cache = ("eval", (x, self.running_mean.copy(), inv_std, self.gamma.copy()))
        return out

    def _update_running(self, mean, var, m):
        self.num_batches_tracked += 1
        if self.momentum is None:
            factor = 1.0 / self.num_batches_tracked      # cumulative average
        else:
            factor = self.momentum
        f = self.dtype.type(factor)
        unbiased = var * self.dtype.type(m / (m - 1))   # m/(m-1) sigma^2
        # running <- (1 - f) running + f batch
        self.running_mean *= 1 - f
        self.running_mean += f * mean
        self.running_var *= 1 - f
        self.running_var += f * unbiased

    def backward(self, dout):
        """Back-propagate ``dout`` (shape of the input); returns ``dx`` and fills ``grads``.

        In training mode this is :func:`batchnorm_backward`. In eval mode the
        statistics are constants, so ``dx = dout * gamma / sqrt(running_var + eps)``.

        Raises
        ------
        ValueError
            If called before :meth:`forward`, or ``dout`` has the wrong shape.
        TypeError
            If ``dout`` is not an array of the input's dtype.
        """
        owner = f"{self!r}.backward"
        mode, cache = self._require_cache(owner)
        _check_dout(dout, cache[0], owner)
        if mode == "train":
            dx, dgamma, dbeta = _train_backward(dout, cache)
        else:
            with np.errstate(over="ignore", invalid="ignore"):
                dx, dgamma, dbeta = _eval_backward(dout, cache)
            if not _finite(dgamma, dbeta) and _all_finite(dout, cache[0]):
                dx, dgamma, dbeta = _rescaled(_eval_backward, dout, cache)
        self.grads = {"gamma": dgamma, "beta": dbeta}
        return dx
