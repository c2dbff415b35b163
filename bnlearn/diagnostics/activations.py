"""Activation statistics, and a recorder that collects them with forward hooks.

:func:`activation_stats` describes one tensor of activations: percentiles,
mean and standard deviation, pooled over the whole tensor and per unit.
:class:`ActivationRecorder` attaches forward hooks to chosen modules and, for
every recorded step, stores those statistics of each module's input (or
output), plus the fraction of saturated units when the module is a sigmoid or
a tanh (:func:`saturation_fraction`).
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

__all__ = ["ActivationStats", "ActivationRecorder", "activation_stats", "saturation_fraction",
           "DEFAULT_PERCENTILES"]

#: The percentiles Ioffe and Szegedy plot in their Figure 1 (b, c).
DEFAULT_PERCENTILES = (15.0, 50.0, 85.0)


def _check_percentiles(percentiles) -> tuple[float, ...]:
    if isinstance(percentiles, str | bytes) or not hasattr(percentiles, "__iter__"):
        raise TypeError(f"percentiles must be a sequence of numbers in [0, 100]; got {percentiles!r}")
    out = []
    for q in percentiles:
        if isinstance(q, bool) or not isinstance(q, int | float | np.integer | np.floating) or not 0 <= q <= 100:
            raise ValueError(f"percentiles must be numbers in [0, 100]; got {q!r} in {percentiles!r}")
        out.append(float(q))
    if not out:
        raise ValueError("percentiles must hold at least one number; got an empty sequence")
    return tuple(out)


def _check_tol(tol) -> float:
    if isinstance(tol, bool) or not isinstance(tol, int | float) or not 0 < tol < 0.5:
        raise ValueError(f"tol must be a number in (0, 0.5); got {tol!r}")
    return float(tol)


def _as_units(x) -> np.ndarray:
    """``(N, D)`` or ``(N, C, *spatial)`` -> a float64 array of shape ``(M, D)``,
    one column per unit (channels pool batch and spatial positions)."""
    if isinstance(x, torch.Tensor):
        x = x.detach().to("cpu", torch.float64).numpy()
    elif isinstance(x, np.ndarray):
        x = x.astype(np.float64, copy=False)
    else:
        raise TypeError(f"activations must be a torch.Tensor or numpy.ndarray; got {type(x).__name__}")
    if x.ndim < 2:
        raise ValueError(f"activations must have shape (N, D) or (N, C, *spatial); got shape {x.shape}")
    if x.shape[0] == 0:
        raise ValueError(f"activations must hold at least one example; got shape {x.shape}")
    if x.ndim > 2:  # (N, C, *spatial) -> (N * prod(spatial), C)
        x = np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])
    return x


@dataclass
class ActivationStats:
    """Statistics of one batch of activations of shape ``(N, D)``.

    Attributes
    ----------
    step : int
        The training step they were recorded at.
    percentiles : tuple of float
        Which percentiles ``q`` (in [0, 100]) were taken.
    pooled : numpy.ndarray
        Shape ``(P,)``: the percentiles of all ``N * D`` values together.
    unit : numpy.ndarray or None
        Shape ``(P, D)``: each unit's percentiles over the ``N`` examples
        (None when not asked for: sorting every unit costs more than the rest).
    mean, std : float
        Mean and (biased) standard deviation of all values.
    unit_mean, unit_std : numpy.ndarray
        Shape ``(D,)``: each unit's mean and (biased) standard deviation.
    saturated : float or None
        Fraction of saturated outputs (see :func:`saturation_fraction`), when
        the module is a sigmoid or a tanh; None otherwise.
    """

    step: int
    percentiles: tuple
    pooled: np.ndarray
    unit: np.ndarray | None
    mean: float
    std: float
    unit_mean: np.ndarray
    unit_std: np.ndarray
    saturated: float | None = None

    def to_dict(self) -> dict:
        """The statistics as plain Python types (JSON-serialisable)."""
        return {
            "step": self.step, "percentiles": list(self.percentiles), "pooled": self.pooled.tolist(),
            "unit": None if self.unit is None else self.unit.tolist(), "mean": self.mean, "std": self.std,
            "unit_mean": self.unit_mean.tolist(), "unit_std": self.unit_std.tolist(),
            "saturated": self.saturated,
        }


def activation_stats(x, percentiles: Sequence[float] = DEFAULT_PERCENTILES, *, step: int = 0,
                     saturated: float | None = None, per_unit: bool = True) -> ActivationStats:
    r"""Describe a batch of activations.

    Percentiles use linear interpolation between order statistics (NumPy's
    default); the standard deviation is the biased one,
    :math:`\sigma = \sqrt{\frac1M\sum_m (x_m - \mu)^2}`.

    Parameters
    ----------
    x : torch.Tensor or numpy.ndarray
        Shape ``(N, D)``, or ``(N, C, *spatial)`` where a unit is a channel
        (its values pool the batch and the spatial positions).
    percentiles : sequence of float, default (15, 50, 85)
        Percentiles in [0, 100].
    step : int, default 0
        Stored in the result.
    saturated : float, optional
        Stored in the result (see :func:`saturation_fraction`).
    per_unit : bool, default True
        Also take each unit's percentiles (``unit``); otherwise ``unit`` is None.

    Returns
    -------
    ActivationStats
    """
    qs = _check_percentiles(percentiles)
    if not isinstance(per_unit, bool):
        raise TypeError(f"per_unit must be True or False; got {per_unit!r}")
    a = _as_units(x)
    return ActivationStats(
        step=int(step), percentiles=qs,
        pooled=np.percentile(a, qs),            # (P,)
        unit=np.percentile(a, qs, axis=0) if per_unit else None,      # (P, D)
        mean=float(a.mean()), std=float(a.std()),
        unit_mean=a.mean(axis=0), unit_std=a.std(axis=0),
        saturated=saturated,
    )


def saturation_fraction(y, kind: str, tol: float = 0.01) -> float:
    r"""Fraction of a sigmoid's or a tanh's outputs that are saturated.

    A sigmoid output :math:`y = \sigma(x)` is saturated when
    :math:`y < \text{tol}` or :math:`y > 1 - \text{tol}`; there
    :math:`\sigma'(x) = y(1-y) < \text{tol}`, so almost no gradient flows back.
    A tanh output is saturated when :math:`|y| > 1 - \text{tol}`.

    Parameters
    ----------
    y : torch.Tensor or numpy.ndarray
        Outputs of the nonlinearity, any shape.
    kind : str
        ``"sigmoid"`` or ``"tanh"``.
    tol : float, default 0.01
        Distance from an asymptote that counts as saturated, in (0, 0.5).

    Returns
    -------
    float
        A fraction in [0, 1].
    """
    tol = _check_tol(tol)
    if isinstance(y, torch.Tensor):
        y = y.detach().to("cpu", torch.float64).numpy()
    elif not isinstance(y, np.ndarray):
        raise TypeError(f"y must be a torch.Tensor or numpy.ndarray; got {type(y).__name__}")
    if y.size == 0:
        raise ValueError(f"y must hold at least one value; got shape {y.shape}")
    if kind == "sigmoid":
        sat = (y < tol) | (y > 1.0 - tol)
    elif kind == "tanh":
        sat = np.abs(y) > 1.0 - tol
    else:
        raise ValueError(f"kind must be 'sigmoid' or 'tanh'; got {kind!r}")
    return float(sat.mean())


def _saturating_kind(module: nn.Module) -> str | None:
    if isinstance(module, nn.Sigmoid):
        return "sigmoid"
    if isinstance(module, nn.Tanh):
        return "tanh"
    return None


@dataclass
class ActivationRecorder:
    """Record activation statistics of chosen modules with forward hooks.

    Use it as a context manager (hooks are attached on entry and removed on
    exit) and wrap the forward passes to record in :meth:`record`; forward
    passes outside :meth:`record` are not recorded, so training can go on with
    the hooks attached at no cost.

    Parameters
    ----------
    modules : mapping of str to torch.nn.Module
        ``name -> module`` to watch.
    where : str, default "input"
        Describe the module's first input (``"input"``) or its output
        (``"output"``). A sigmoid's or tanh's saturation is always measured on
        its output.
    percentiles : sequence of float, default (15, 50, 85)
        Percentiles in [0, 100].
    tol : float, default 0.01
        Saturation tolerance (see :func:`saturation_fraction`).
    keep_values : bool, default False
        Also keep a detached CPU copy of every recorded tensor in
        :attr:`values` (for distribution-shift measures).
    per_unit : bool, default True
        Take each unit's percentiles too (see :func:`activation_stats`).

    Attributes
    ----------
    history : dict of str to list of ActivationStats
        One entry per recorded forward pass of each module.
    values : dict of str to list of torch.Tensor
        The recorded tensors, when ``keep_values`` is True.

    Examples
    --------
    >>> rec = ActivationRecorder({"sig": model[3]})          # doctest: +SKIP
    >>> with rec:                                            # doctest: +SKIP
    ...     with rec.record(step=0):
    ...         model(x)
    >>> rec.series("sig", "pooled").shape                    # doctest: +SKIP
    (1, 3)
    """

    modules: Mapping[str, nn.Module]
    where: str = "input"
    percentiles: Sequence[float] = DEFAULT_PERCENTILES
    tol: float = 0.01
    keep_values: bool = False
    per_unit: bool = True
    history: dict = field(default_factory=dict, init=False)
    values: dict = field(default_factory=dict, init=False)

    def __post_init__(self):
        if not isinstance(self.modules, Mapping) or not self.modules:
            raise TypeError(f"modules must be a non-empty mapping name -> torch.nn.Module; got {self.modules!r}")
        for name, m in self.modules.items():
            if not isinstance(name, str) or not isinstance(m, nn.Module):
                raise TypeError(f"modules must map str names to torch.nn.Module; got {name!r} -> {type(m).__name__}")
        if self.where not in ("input", "output"):
            raise ValueError(f"where must be 'input' or 'output'; got {self.where!r}")
        self.percentiles = _check_percentiles(self.percentiles)
        self.tol = _check_tol(self.tol)
        if not isinstance(self.per_unit, bool):
            raise TypeError(f"per_unit must be True or False; got {self.per_unit!r}")
        if not isinstance(self.keep_values, bool):
            raise TypeError(f"keep_values must be True or False; got {self.keep_values!r}")
        self.modules = dict(self.modules)
        self.history = {name: [] for name in self.modules}
        self.values = {name: [] for name in self.modules}
        self._handles = []
        self._step = None

    def _hook(self, name: str, module: nn.Module):
        kind = _saturating_kind(module)

        def hook(mod, inputs, output):
            if self._step is None:
                return
            x = inputs[0] if self.where == "input" else output
            sat = saturation_fraction(output, kind, self.tol) if kind is not None else None
            self.history[name].append(activation_stats(x, self.percentiles, step=self._step, saturated=sat,
                                                        per_unit=self.per_unit))
            if self.keep_values:
                self.values[name].append(x.detach().to("cpu").clone())
        return hook

    def attach(self) -> ActivationRecorder:
        """Register the forward hooks (done by ``with``); returns self."""
        if self._handles:
            raise RuntimeError("the recorder's hooks are already attached")
        self._handles = [m.register_forward_hook(self._hook(n, m)) for n, m in self.modules.items()]
        return self

    def remove(self) -> None:
        """Remove the forward hooks (done on leaving ``with``)."""
        for h in self._handles:
            h.remove()
        self._handles = []

    def __enter__(self) -> ActivationRecorder:
        return self.attach()

    def __exit__(self, *exc) -> None:
        self.remove()

    @contextlib.contextmanager
    def record(self, step: int = 0) -> Iterator[None]:
        """Record every forward pass of the watched modules inside the block,
        labelled with ``step``."""
        if isinstance(step, bool) or not isinstance(step, int | np.integer):
            raise TypeError(f"step must be an int; got {step!r}")
        if not self._handles:
            raise RuntimeError("attach the recorder first: use `with recorder:` or recorder.attach()")
        self._step = int(step)
        try:
            yield
        finally:
            self._step = None

    def steps(self, name: str) -> np.ndarray:
        """Shape ``(R,)``: the steps of module ``name``'s R records."""
        return np.array([s.step for s in self._records(name)])

    def series(self, name: str, attribute: str) -> np.ndarray:
        """Stack one attribute of module ``name``'s records along a new first axis.

        Parameters
        ----------
        name : str
            A watched module's name.
        attribute : str
            A field of :class:`ActivationStats`, e.g. ``"pooled"`` gives shape
            ``(R, P)``, ``"unit"`` ``(R, P, D)``, ``"std"`` ``(R,)``.

        Returns
        -------
        numpy.ndarray
        """
        if attribute not in ActivationStats.__dataclass_fields__ or attribute == "percentiles":
            fields = [f for f in ActivationStats.__dataclass_fields__ if f != "percentiles"]
            raise ValueError(f"attribute must be one of {fields}; got {attribute!r}")
        records = self._records(name)
        return np.array([np.nan if getattr(s, attribute) is None else getattr(s, attribute) for s in records])

    def _records(self, name: str) -> list:
        if name not in self.history:
            raise KeyError(f"no module named {name!r} is watched; watched: {sorted(self.history)}")
        return self.history[name]
