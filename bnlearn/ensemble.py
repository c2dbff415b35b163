r"""Many independent copies of a small MLP, trained at once (one copy per seed).

A claim about regularisation needs many seeds, and a small network on CPU is
dominated by per-operation overhead, not arithmetic. So the seeds are trained
side by side: :class:`EnsembleMLP` holds :math:`S` *members*, independent
networks of the same shape, and evaluates them with batched matrix products.
An input of shape ``(B, S, F)`` carries one mini-batch per member, and member
:math:`s` sees only row ``[:, s, :]``:

.. math::

    h^{(s)} = f\big(\mathrm{N}(x^{(s)} W^{(s)} + b^{(s)})\big),
    \qquad s = 1, \dots, S .

Batch norm keeps the members apart too: viewing ``(B, S, D)`` as ``(B, S D)``,
one :class:`bnlearn.nn.BatchNorm1d` of :math:`S D` features takes per-feature
statistics over the batch axis only, which are exactly member :math:`s`'s
batch statistics of feature :math:`d`. Ghost batch norm
(:class:`bnlearn.nn.GhostBatchNorm1d`, which normalises all its ghost batches
in one call) splits the batch axis the same way for every member. The training loss is the sum of the members' mean losses,

.. math::

    L = \sum_{s=1}^{S} \frac{1}{B} \sum_{i=1}^{B} \ell\big(f^{(s)}(x_i^{(s)}), y_i^{(s)}\big),

whose gradient with respect to member :math:`s`'s parameters is member
:math:`s`'s own gradient, so one SGD step on :math:`L` is :math:`S`
independent SGD steps. Training the ensemble gives the same members as
training each alone (up to floating-point rounding). The ensemble trains
through the book's one loop, :func:`bnlearn.train.train`, with the batches of
:func:`member_stream` and the loss :func:`member_loss`.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .nn import registry as _registry

__all__ = ["ParallelLinear", "MemberNorm", "EnsembleMLP", "member_batches", "member_stream", "member_loss",
           "member_accuracy", "member_norms"]


def member_norms() -> tuple:
    """The norms :class:`EnsembleMLP` accepts: None and every registered norm that normalises each
    feature with batch statistics (``bnlearn.nn.NORMS[name].batch_statistics``), since only those
    keep the members apart when ``(B, S, D)`` is viewed as ``(B, S D)``."""
    return (None, *(name for name, entry in _registry.NORMS.items() if entry.batch_statistics))


def __getattr__(name):
    # ensemble.NORMS, as before, now follows the registry (see member_norms).
    if name == "NORMS":
        return member_norms()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _check_int(name, value, low):
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an int; got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}; got {value}")
    return int(value)


def _check_members_input(owner: str, x, members: int, features: int) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{owner} expects a torch.Tensor; got {type(x).__name__}")
    if x.dim() != 3 or x.shape[1] != members or x.shape[2] != features:
        raise ValueError(f"{owner} expects input of shape (B, {members}, {features}); got {tuple(x.shape)}")


class ParallelLinear(nn.Module):
    r"""``S`` independent linear layers applied side by side.

    .. math::

        y_{b s o} = \sum_i x_{b s i} W_{s i o} + b_{s o}

    Parameters
    ----------
    members : int
        :math:`S`.
    in_features, out_features : int
        Sizes of each member's layer.
    bias : bool, default True
        Learn a bias ``(S, out_features)``, initialised at zero.
    std : float, default 1.0
        Weights start as :math:`W_{sio} \sim \mathcal N(0, \mathrm{std}^2 / \mathrm{in})`
        (``std = sqrt(2)`` is He initialisation for ReLU).
    generator : torch.Generator, optional
        Source of the initial weights.

    Attributes
    ----------
    weight : torch.nn.Parameter
        ``(S, in_features, out_features)``.
    bias : torch.nn.Parameter or None
        ``(S, out_features)``.
    """

    def __init__(self, members: int, in_features: int, out_features: int, bias: bool = True,
                 std: float = 1.0, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.members = _check_int("members", members, 1)
        self.in_features = _check_int("in_features", in_features, 1)
        self.out_features = _check_int("out_features", out_features, 1)
        w = torch.randn(members, in_features, out_features, generator=generator)
        self.weight = nn.Parameter(w * (std / math.sqrt(in_features)))    # N(0, std^2 / fan_in)
        self.bias = nn.Parameter(torch.zeros(members, out_features)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, S, in_features)`` -> ``(B, S, out_features)``."""
        _check_members_input("ParallelLinear", x, self.members, self.in_features)
        y = torch.bmm(x.transpose(0, 1), self.weight).transpose(0, 1)    # y_s = x_s W_s
        return y if self.bias is None else y + self.bias                  # + b_s

    def extra_repr(self) -> str:
        """Members and sizes."""
        return (f"members={self.members}, in_features={self.in_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")


class MemberNorm(nn.Module):
    r"""Batch norm (or another batch-statistics norm) of each member's features over its own batch.

    An input ``(B, S, D)`` is viewed as ``(B, S D)`` and normalised by the
    registry's layer for :math:`S D` features (:class:`bnlearn.nn.BatchNorm1d`
    by default, :class:`bnlearn.nn.GhostBatchNorm1d` with a
    ``virtual_batch_size``), so that feature :math:`(s, d)` is normalised with
    member :math:`s`'s statistics:

    .. math::

        y_{bsd} = \gamma_{sd} \frac{x_{bsd} - \mu_{sd}}{\sqrt{\sigma^2_{sd} + \epsilon}} + \beta_{sd},
        \qquad \mu_{sd} = \frac1B \sum_b x_{bsd} .

    Parameters
    ----------
    members : int
        :math:`S`.
    features : int
        :math:`D`.
    virtual_batch_size : int, optional
        Ghost batch size; ``None`` normalises over the whole batch.
    momentum : float, default 0.1
        Running-average factor of the wrapped module.
    norm : str, optional
        A name from :func:`member_norms`; default ``"ghost"`` with a
        ``virtual_batch_size``, else ``"batch"``.

    Attributes
    ----------
    bn : torch.nn.Module
        The wrapped module (e.g. :class:`bnlearn.nn.BatchNorm1d`); its buffers
        are ``(S D,)``, member-major.
    """

    def __init__(self, members: int, features: int, virtual_batch_size: int | None = None,
                 momentum: float = 0.1, *, norm: str | None = None) -> None:
        super().__init__()
        self.members = _check_int("members", members, 1)
        self.features = _check_int("features", features, 1)
        if norm is None:
            norm = "batch" if virtual_batch_size is None else "ghost"
        if norm not in member_norms()[1:]:
            raise ValueError(f"MemberNorm: norm must be one of {member_norms()[1:]} (registered norms with "
                             f"batch statistics); got {norm!r}")
        options = {} if virtual_batch_size is None else {"virtual_batch_size": virtual_batch_size}
        self.bn = _registry.norm_layer(norm, members * features, 0, momentum=momentum, **options)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, S, D)`` -> ``(B, S, D)``."""
        _check_members_input("MemberNorm", x, self.members, self.features)
        b = x.shape[0]
        return self.bn(x.reshape(b, self.members * self.features)).view(b, self.members, self.features)


class EnsembleMLP(nn.Sequential):
    r"""``S`` independent ReLU MLPs ``F -> H -> ... -> H -> K``, evaluated side by side.

    Each hidden layer is ``ParallelLinear -> [MemberNorm] -> ReLU -> [Dropout]``;
    the linear layer before a norm has no bias (the norm's shift replaces it).
    Weights start He-normal (:math:`\mathcal N(0, 2/\mathrm{fan_{in}})`), the
    output layer Glorot-like (:math:`\mathcal N(0, 1/\mathrm{fan_{in}})`).
    The initial weights depend only on ``seed`` and the layer sizes, so two
    ensembles with the same sizes and seed start from the same weights whatever
    their normalisation and dropout: a comparison between them is paired.

    Parameters
    ----------
    members : int
        :math:`S`, the number of independent networks.
    sizes : sequence of int
        ``(F, H_1, ..., H_L, K)``: input features, hidden widths, classes.
    norm : str or None, default None
        Normalisation before each ReLU: None or a name from :func:`member_norms`
        (``"batch"``, ``"renorm"``, ``"ghost"`` and any registered norm with
        batch statistics).
    virtual_batch_size : int, optional
        Ghost batch size; required with ``norm="ghost"``, not allowed otherwise.
    dropout : float, default 0.0
        Dropout probability after each hidden ReLU, in [0, 1).
    seed : int, default 0
        Seed of the initial weights.

    Examples
    --------
    >>> import torch
    >>> net = EnsembleMLP(4, (64, 32, 10), norm="batch")
    >>> net(torch.randn(16, 4, 64)).shape
    torch.Size([16, 4, 10])
    """

    def __init__(self, members: int, sizes, norm: str | None = None, *,
                 virtual_batch_size: int | None = None, dropout: float = 0.0, seed: int = 0) -> None:
        _check_int("members", members, 1)
        if not isinstance(sizes, tuple | list) or len(sizes) < 2:
            raise ValueError(f"sizes must be a sequence (F, H_1, ..., K) of at least two ints; got {sizes!r}")
        for s in sizes:
            _check_int("each of sizes", s, 1)
        if norm not in member_norms():
            raise ValueError(f"norm must be one of {member_norms()}; got {norm!r}")
        if norm == "ghost":
            _check_int("virtual_batch_size", virtual_batch_size, 2)
        elif virtual_batch_size is not None:
            raise ValueError(f"virtual_batch_size is only for norm='ghost'; got {virtual_batch_size!r} "
                             f"with norm={norm!r}")
        if isinstance(dropout, bool) or not isinstance(dropout, int | float) or not 0 <= dropout < 1:
            raise ValueError(f"dropout must be a probability in [0, 1); got {dropout!r}")
        _check_int("seed", seed, 0)
        gen = torch.Generator().manual_seed(int(seed))
        layers: list[nn.Module] = []
        for fan_in, width in zip(sizes[:-2], sizes[1:-1]):
            layers.append(ParallelLinear(members, fan_in, width, bias=norm is None,
                                         std=math.sqrt(2.0), generator=gen))
            if norm is not None:
                layers.append(MemberNorm(members, width, virtual_batch_size, norm=norm))
            layers.append(nn.ReLU())
            if dropout > 0:
                layers.append(nn.Dropout(float(dropout)))
        layers.append(ParallelLinear(members, sizes[-2], sizes[-1], std=1.0, generator=gen))
        super().__init__(*layers)
        self.members = int(members)
        self.sizes = tuple(int(s) for s in sizes)


def member_batches(n: int, batch_size: int, steps: int, members: int, seed: int = 0) -> np.ndarray:
    """Each member's sequence of mini-batch indices: a fresh permutation of
    ``range(n)`` every epoch (the last incomplete batch dropped).

    Parameters
    ----------
    n : int
        Training examples per member.
    batch_size : int
        Examples per step, in ``1..n``.
    steps : int
        Number of steps.
    members : int
        :math:`S`.
    seed : int, default 0
        Seed of the shuffles; member :math:`s`'s stream depends on ``(seed, s)`` only.

    Returns
    -------
    numpy.ndarray
        ``(steps, S, batch_size)`` int64 indices into each member's training set.
    """
    _check_int("n", n, 1)
    _check_int("batch_size", batch_size, 1)
    _check_int("steps", steps, 1)
    _check_int("members", members, 1)
    if batch_size > n:
        raise ValueError(f"batch_size must lie in 1..{n} (the training examples per member); got {batch_size}")
    per_epoch = n // batch_size
    epochs = -(-steps // per_epoch)                                   # ceil(steps / per_epoch)
    out = np.empty((steps, members, batch_size), dtype=np.int64)
    for s in range(members):
        rng = np.random.default_rng([int(seed), s])
        idx = np.concatenate([rng.permutation(n)[:per_epoch * batch_size] for _ in range(epochs)])
        out[:, s, :] = idx[:steps * batch_size].reshape(steps, batch_size)
    return out


def _check_member_data(model: EnsembleMLP, x, y) -> None:
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError(f"x and y must be torch.Tensors; got {type(x).__name__} and {type(y).__name__}")
    s, f = model.members, model.sizes[0]
    if x.dim() != 3 or x.shape[0] != s or x.shape[2] != f:
        raise ValueError(f"x must have shape ({s}, n, {f}) (one training set per member); got {tuple(x.shape)}")
    if y.shape != x.shape[:2]:
        raise ValueError(f"y must have shape {tuple(x.shape[:2])} to match x; got {tuple(y.shape)}")


def member_stream(model: EnsembleMLP, x: torch.Tensor, y: torch.Tensor, *, steps: int, batch_size: int,
                  seed: int = 0):
    """The ensemble's training batches, one ``(xb, yb)`` pair per step, for :func:`bnlearn.train.train`.

    Member :math:`s` trains on ``(x[s], y[s])`` in the order of
    :func:`member_batches`. Pass the stream as ``train(..., batches=...)``
    with ``loss_fn=member_loss``::

        h = train(model, None, steps=T, batches=member_stream(model, x, y, steps=T, batch_size=B),
                  loss_fn=member_loss, optimizer="sgd", lr=0.05, momentum=0.9,
                  evaluate_test=False, eval_every=T, progress=False)

    Parameters
    ----------
    model : EnsembleMLP
        The ensemble the batches are for (its number of members and input features are checked).
    x : torch.Tensor
        ``(S, n, F)`` training inputs, one set per member.
    y : torch.Tensor
        ``(S, n)`` integer labels.
    steps, batch_size : int
        Number of batches and examples per member per batch.
    seed : int, default 0
        Seed of the batch order.

    Yields
    ------
    tuple of torch.Tensor
        ``xb`` ``(B, S, F)`` and ``yb`` ``(B, S)``.
    """
    if not isinstance(model, EnsembleMLP):
        raise TypeError(f"model must be an EnsembleMLP; got {type(model).__name__}")
    _check_member_data(model, x, y)
    idx = torch.from_numpy(member_batches(x.shape[1], batch_size, steps, model.members, seed))
    return _stream(x, y, idx)


def _stream(x, y, idx):
    rows = torch.arange(x.shape[0])[:, None]                                # (S, 1)
    for step in range(len(idx)):
        yield x[rows, idx[step]].transpose(0, 1), y[rows, idx[step]].transpose(0, 1)   # (B, S, F), (B, S)


def member_loss(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
    r"""The ensemble's training loss, the sum over members of each member's mean cross-entropy.

    :math:`L = \sum_s \frac1B \sum_i \ell(f^{(s)}(x^{(s)}_i), y^{(s)}_i)`, whose gradient for
    member :math:`s`'s parameters is its own: one SGD step on :math:`L` is :math:`S` independent
    steps. Divide by :math:`S` for the members' mean loss.

    Parameters
    ----------
    model : torch.nn.Module
        Maps ``(B, S, F)`` to logits ``(B, S, K)`` (an :class:`EnsembleMLP`).
    xb : torch.Tensor
        ``(B, S, F)``.
    yb : torch.Tensor
        ``(B, S)`` integer labels.
    """
    logits = model(xb)
    k = logits.shape[-1]
    return nn.functional.cross_entropy(logits.reshape(-1, k), yb.reshape(-1), reduction="sum") / xb.shape[0]


@torch.no_grad()
def member_accuracy(model: EnsembleMLP, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """Each member's accuracy on a data set, in the model's current mode.

    Parameters
    ----------
    model : EnsembleMLP
        The ensemble.
    x : torch.Tensor
        ``(n, F)`` (one data set for every member) or ``(S, n, F)`` (one per member).
    y : torch.Tensor
        ``(n,)`` or ``(S, n)`` labels to match.

    Returns
    -------
    numpy.ndarray
        ``(S,)`` accuracies in [0, 1].
    """
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError(f"x and y must be torch.Tensors; got {type(x).__name__} and {type(y).__name__}")
    s = model.members
    if x.dim() == 2:
        if y.shape != x.shape[:1]:
            raise ValueError(f"y must have shape ({x.shape[0]},) to match x; got {tuple(y.shape)}")
        xs, ys = x[:, None, :].expand(-1, s, -1), y[:, None]                 # (n, S, F), (n, 1)
    else:
        _check_member_data(model, x, y)
        xs, ys = x.transpose(0, 1), y.T                                        # (n, S, F), (n, S)
    pred = model(xs).argmax(-1)                                                # (n, S)
    return (pred == ys).double().mean(0).numpy()
