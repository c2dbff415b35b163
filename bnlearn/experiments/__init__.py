"""The book's experiments: a registry of named, seeded, reproducible runs.

Every experiment is a function registered under a name, one module per
chapter (``speed.py`` holds chapter 6's). Run one with :func:`run` or from the
shell with ``bnlearn run NAME``; list them with :func:`names` or
``bnlearn list``.

Adding a chapter's experiments
------------------------------
Create ``bnlearn/experiments/<topic>.py`` and decorate each experiment with
:func:`register`; nothing else needs editing, because the registry imports
every module of this package (except those whose name starts with ``_``)
the first time it is asked for names::

    from . import Result, register, resolve_settings

    SETTINGS = {"book": {"steps": 300, "seeds": 3}, "full": {"steps": 50_000, "seeds": 5}}

    @register("my-experiment")
    def my_experiment(*, seed, scale, dataset, progress, **overrides) -> Result:
        '''One line that ``bnlearn list`` shows.'''
        cfg = resolve_settings("my-experiment", SETTINGS, scale, overrides)
        ...
        return Result("my-experiment", params=cfg, summary={...}, data={...})

An experiment receives keyword arguments only: ``seed`` (int), ``scale``
(``"book"``, what a chapter runs in under a minute, or ``"full"``, the
paper-sized run), ``dataset`` (``"digits"`` or ``"mnist"``, already chosen
by :func:`run`), ``progress`` (bool, show progress bars) and any overrides of
its settings. It returns a :class:`Result` (or a subclass whose
:meth:`Result.figures` draws its figures). The same arguments must give the
same numbers.
"""
from __future__ import annotations

import importlib
import json
import math
import pkgutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "Result",
    "register",
    "get",
    "names",
    "describe",
    "run",
    "resolve_settings",
    "mean_interval",
    "SCALES",
    "DATASETS",
]

#: Accepted values of ``scale``.
SCALES = ("book", "full")
#: Accepted values of ``dataset``.
DATASETS = ("digits", "mnist")

_REGISTRY: dict[str, Callable[..., Result]] = {}
_DISCOVERED = False


def _jsonable(obj):
    """Convert NumPy scalars/arrays, tuples and non-finite floats to plain JSON types."""
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.bool_ | bool):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        x = float(obj)
        return x if math.isfinite(x) else None  # JSON has no NaN or infinity
    return obj


@dataclass
class Result:
    """What an experiment returns.

    Attributes
    ----------
    name : str
        The experiment's registered name.
    params : dict
        Every setting it ran with (seed, scale, dataset included).
    summary : dict
        The headline numbers (means, intervals, ratios).
    data : dict
        The raw measurements the summary and the figures are made from.
    """

    name: str
    params: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The result as plain JSON types (NaN and infinity become ``None``)."""
        return _jsonable({"name": self.name, "params": self.params,
                          "summary": self.summary, "data": self.data})

    def to_json(self, indent: int | None = 2) -> str:
        """The result as a JSON string (see :meth:`to_dict`)."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def figure_names(self) -> list[str]:
        """The names of the figures :meth:`figure` can draw; none by default."""
        return []

    def figure(self, name: str):
        """Draw one figure by name (one of :meth:`figure_names`).

        Subclasses that draw several figures implement ``_draw(name)`` and
        :meth:`figure_names`; this checks the name and calls it, so a notebook
        can show one figure at a time.

        Parameters
        ----------
        name : str
            One of :meth:`figure_names`.

        Returns
        -------
        matplotlib.figure.Figure
        """
        names = self.figure_names()
        if name not in names:
            raise ValueError(f"{self.name} draws the figures {names}; got {name!r}")
        return self._draw(name)

    def _draw(self, name: str):
        raise NotImplementedError(f"{type(self).__name__} names figures but does not draw them")

    def figures(self) -> dict:
        """``{short name: matplotlib.figure.Figure}``: every figure of :meth:`figure_names`.

        Subclasses draw their figures with :mod:`bnlearn.plots`, either here or
        one by one through ``_draw``.
        """
        return {name: self.figure(name) for name in self.figure_names()}

    def save(self, out_dir) -> list[Path]:
        """Write ``NAME.json`` and one ``NAME-FIGURE.png`` per figure into ``out_dir``.

        Parameters
        ----------
        out_dir : str or os.PathLike
            Folder, created when missing.

        Returns
        -------
        list of pathlib.Path
            The files written, JSON first.
        """
        import matplotlib.pyplot as plt

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"{self.name}.json"
        path.write_text(self.to_json() + "\n")
        written = [path]
        for key, fig in self.figures().items():
            png = out / f"{self.name}-{key}.png"
            fig.savefig(png, dpi=120, bbox_inches="tight")
            plt.close(fig)
            written.append(png)
        return written


def register(name: str):
    """Decorator that registers an experiment function under ``name``.

    Parameters
    ----------
    name : str
        Lower-case words joined by hyphens, unique across the package.

    Returns
    -------
    callable
        The decorator; it returns the function unchanged.
    """
    if not isinstance(name, str) or not name or name != name.strip().lower() or " " in name:
        raise ValueError(f"experiment names are lower-case words joined by hyphens; got {name!r}")

    def decorator(fn):
        if name in _REGISTRY and _REGISTRY[name] is not fn:
            raise ValueError(f"experiment {name!r} is already registered by {_REGISTRY[name].__module__}")
        _REGISTRY[name] = fn
        return fn

    return decorator


def _discover() -> None:
    """Import every public module of this package so their experiments register."""
    global _DISCOVERED
    if _DISCOVERED:
        return
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
    _DISCOVERED = True


def names() -> list[str]:
    """Sorted names of all registered experiments."""
    _discover()
    return sorted(_REGISTRY)


def get(name: str) -> Callable[..., Result]:
    """The experiment function registered under ``name``.

    Raises
    ------
    ValueError
        If no experiment has that name (the message lists the known ones).
    """
    _discover()
    if not isinstance(name, str):
        raise TypeError(f"experiment name must be a string; got {name!r}")
    if name not in _REGISTRY:
        raise ValueError(f"unknown experiment {name!r}; known experiments: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def describe(name: str) -> str:
    """The first line of the experiment's docstring (what ``bnlearn list`` shows)."""
    doc = get(name).__doc__ or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def run(name: str, seed: int | None = None, scale: str = "book", dataset: str | None = None,
        progress: bool = False, **overrides) -> Result:
    """Run the experiment ``name`` and return its :class:`Result`.

    Parameters
    ----------
    name : str
        A registered name (see :func:`names`).
    seed : int, optional
        Base seed; experiments over several seeds use
        :func:`bnlearn.seed_range` ``(seed, n)``. Default: :func:`bnlearn.base_seed`,
        that is the environment variable ``BNLEARN_SEED`` or 0.
    scale : {"book", "full"}, default "book"
        ``"book"``: the size a chapter runs (seconds, digits). ``"full"``: the
        paper-sized run (MNIST by default; minutes to hours).
    dataset : {"digits", "mnist"}, optional
        Default: ``"digits"`` for the book scale, ``"mnist"`` for the full one.
    progress : bool, default False
        Show progress bars.
    **overrides
        Settings of the experiment to change (e.g. ``seeds=5``); unknown
        names raise TypeError.

    Returns
    -------
    Result
    """
    fn = get(name)
    if seed is None:
        from .. import base_seed

        seed = base_seed()
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"seed must be an int; got {seed!r}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0; got {seed}")
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}; got {scale!r}")
    if dataset is None:
        dataset = "mnist" if scale == "full" else "digits"
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}; got {dataset!r}")
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be True or False; got {progress!r}")
    return fn(seed=int(seed), scale=scale, dataset=dataset, progress=progress, **overrides)


def resolve_settings(name: str, settings: Mapping[str, Mapping], scale: str, overrides: Mapping) -> dict:
    """The settings for ``scale`` with ``overrides`` applied.

    Parameters
    ----------
    name : str
        Experiment name (for error messages).
    settings : dict
        ``{"book": {...}, "full": {...}}``.
    scale : str
        Which of the two.
    overrides : dict
        Keys must exist in the scale's settings.

    Returns
    -------
    dict
        A new dictionary.
    """
    cfg = dict(settings[scale])
    unknown = sorted(set(overrides) - set(cfg))
    if unknown:
        raise TypeError(f"{name} got unknown setting(s) {unknown}; its settings are {sorted(cfg)}")
    for key, value in overrides.items():
        default = cfg[key]
        # An override must have the default's kind (a default of None takes anything).
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int | np.integer) and not isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
        elif isinstance(default, tuple | list):
            ok = isinstance(value, tuple | list) and len(value) > 0
        elif isinstance(default, Mapping):
            ok = isinstance(value, Mapping)
        else:
            ok = True
        if not ok:
            raise TypeError(f"{name} setting {key!r} must be like its default {default!r}; got {value!r}")
    cfg.update(overrides)
    if "seeds" in cfg and cfg["seeds"] < 1:
        raise ValueError(f"{name} needs seeds >= 1; got {cfg['seeds']}")
    return cfg


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> dict:
    """Mean and Student-t confidence interval of independent measurements.

    .. math::
        \\bar x \\pm t_{(1+c)/2,\\,n-1}\\, s / \\sqrt{n},\\qquad
        s^2 = \\frac{1}{n-1}\\sum_i (x_i - \\bar x)^2

    Parameters
    ----------
    values : sequence of float
        ``n >= 1`` measurements, e.g. one per seed (None entries are an error).
    confidence : float, default 0.95
        Coverage ``c`` in (0, 1).

    Returns
    -------
    dict
        ``{"mean", "low", "high", "n", "values"}``; with ``n == 1`` the
        interval is unbounded (``low = -inf``, ``high = inf``).
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1); got {confidence!r}")
    x = np.asarray(list(values), dtype=float)
    if x.ndim != 1 or len(x) == 0:
        raise ValueError(f"mean_interval needs a non-empty 1-d sequence; got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"mean_interval needs finite values; got {x.tolist()}")
    n, mean = len(x), float(x.mean())
    if n == 1:
        return {"mean": mean, "low": -math.inf, "high": math.inf, "n": 1, "values": x.tolist()}
    from scipy.stats import t

    half = float(t.ppf((1 + confidence) / 2, n - 1) * x.std(ddof=1) / math.sqrt(n))
    return {"mean": mean, "low": mean - half, "high": mean + half, "n": n, "values": x.tolist()}
