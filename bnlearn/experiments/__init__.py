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

Every override is checked in :func:`resolve_settings`, before any work: its
type must be the default's, and settings with well-known names follow range
rules (:data:`SETTING_RULES`: counts are positive ints, learning rates
finite and positive, fractions in [0, 1], ...). An experiment whose setting
needs a rule of its own passes it as ``rules={"name": Rule(...)}``.

An experiment receives keyword arguments only: ``seed`` (int), ``scale``
(``"book"``, what a chapter runs in under a minute, or ``"full"``, the
paper-sized run), ``dataset`` (``"digits"``, ``"mnist-5k"`` or ``"mnist"``, already chosen
by :func:`run`), ``progress`` (bool, show progress bars) and any overrides of
its settings. It returns a :class:`Result` (or a subclass whose
:meth:`Result.figures` draws its figures). The same arguments must give the
same numbers.
"""
from __future__ import annotations

import importlib
import json
import math
import numbers
import os
import pkgutil
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import _validation as _v

__all__ = [
    "Result",
    "register",
    "get",
    "names",
    "describe",
    "run",
    "resolve_settings",
    "Rule",
    "SETTING_RULES",
    "check_output",
    "mean_interval",
    "SCALES",
    "DATASETS",
    "datasets",
    "MAX_SEED",
]

#: Accepted values of ``scale``.
SCALES = ("book", "full")
#: Accepted values of ``dataset``.
DATASETS = ("digits", "mnist-5k", "mnist")

_DATASETS_OF: dict[str, tuple] = {}

#: The largest base seed. The seeds of a run, ``1000 * seed + i``, must fit
#: the 64-bit integers that torch's and NumPy's generators take.
MAX_SEED = (_v.INT64_MAX - 999) // 1000

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

    def save(self, out_dir, *, force: bool = False) -> list[Path]:
        """Write ``NAME.json`` and one ``NAME-FIGURE.png`` per figure into the folder ``out_dir``.

        The folder holds one run's files or none: they are written into a new
        temporary folder beside ``out_dir``, which is then renamed to
        ``out_dir``. An interrupted or failed save leaves ``out_dir`` as it
        was. ``out_dir`` must not exist yet, be empty, or (with ``force``) hold
        the ``.json``/``.png`` files of an earlier run, which are replaced as a
        whole; anything else there is never touched (see :func:`check_output`).

        Parameters
        ----------
        out_dir : str or os.PathLike
            The run's folder, created (with its parents) when missing.
        force : bool, default False
            Replace the results of an earlier run in ``out_dir``.

        Returns
        -------
        list of pathlib.Path
            The files written, JSON first.

        Raises
        ------
        TypeError, ValueError
            If ``out_dir`` cannot take the results (see :func:`check_output`).
        OSError
            If writing fails (e.g. a full disk); ``out_dir`` is then unchanged.
        """
        import matplotlib.pyplot as plt

        force = _v.check_bool(force, "force", "Result.save")
        target = check_output(out_dir, force=force)
        text = self.to_json() + "\n"                 # fails (on bad data) before anything is written
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        try:
            names = [f"{self.name}.json"]
            (staging / names[0]).write_text(text)
            figures = self.figures()
            try:
                for key, fig in figures.items():
                    names.append(f"{self.name}-{key}.png")
                    fig.savefig(staging / names[-1], dpi=120, bbox_inches="tight")
            finally:
                for fig in figures.values():
                    plt.close(fig)
            _install(staging, target, force)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return [target / name for name in names]


def _is_result_file(path: Path) -> bool:
    """A regular file named like a saved result (``*.json`` or ``*.png``, not hidden)."""
    return (path.is_file() and not path.is_symlink() and not path.name.startswith(".")
            and path.suffix in (".json", ".png"))


def check_output(out_dir, *, force: bool = False) -> Path:
    """Check, before any work, that ``out_dir`` can take one run's results; return it as a Path.

    ``out_dir`` is fine when it does not exist (its parents are then created
    and its parent must be writable), is an empty folder, or, with ``force``,
    is a folder that holds only an earlier run's results (``*.json`` and
    ``*.png`` files). :meth:`Result.save` checks again when it writes.

    Parameters
    ----------
    out_dir : str or os.PathLike
        The run's folder.
    force : bool, default False
        Allow replacing an earlier run's results.

    Returns
    -------
    pathlib.Path
        ``out_dir`` (``~`` expanded).

    Raises
    ------
    TypeError
        If ``out_dir`` is not a path.
    ValueError
        If it is empty, the current folder or one above it, a file, a
        symbolic link, a folder with other files, or an earlier run's results
        without ``force``, or if its parent cannot be created or written to
        (the message gives the operating system's reason).
    """
    if isinstance(out_dir, bytes) or not isinstance(out_dir, str | os.PathLike):
        raise TypeError(f"the output folder must be a str or os.PathLike; got {_v.describe(out_dir)}")
    text = os.fspath(out_dir)
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"the output folder must be a non-empty path such as results/paper-fig1; got {text!r}")
    path = Path(text).expanduser()
    try:
        here, full = Path.cwd().resolve(), path.resolve()
    except (OSError, RuntimeError) as exc:
        raise ValueError(f"cannot use {text!r} as the output folder: {exc}") from None
    if full == here or full in here.parents:
        raise ValueError(f"the output folder {text!r} is the current folder or one above it; name a folder "
                         f"of its own for the run, such as results/NAME")
    if full.parent == full:
        raise ValueError(f"the output folder {text!r} is the root of the file system; name a folder of its own")
    if path.is_symlink():
        raise ValueError(f"the output folder {text!r} is a symbolic link; give the folder's own path "
                         f"({os.path.realpath(path)}) or another --out")
    if path.exists():
        if not path.is_dir():
            raise ValueError(f"the output folder {text!r} exists and is not a folder; remove it or choose "
                             f"another --out")
        try:
            entries = sorted(path.iterdir())
        except OSError as exc:
            raise ValueError(f"cannot read the output folder {text!r}: {exc.strerror or exc}") from None
        if entries:
            shown = ", ".join(e.name for e in entries[:5]) + (", ..." if len(entries) > 5 else "")
            if not all(_is_result_file(e) for e in entries):
                raise ValueError(f"the output folder {text!r} holds other files ({shown}); bnlearn only "
                                 f"replaces a folder of earlier results, so choose another --out")
            if not force:
                raise ValueError(f"the output folder {text!r} already holds the results of an earlier run "
                                 f"({shown}); pass --force (force=True) to replace them, or choose another --out")
    parent = path.parent
    for above in [parent, *parent.parents]:
        if above.exists():
            if not above.is_dir():
                raise ValueError(f"cannot create the output folder {text!r}: {str(above)!r} is a file, not a folder")
            break
    try:
        parent.mkdir(parents=True, exist_ok=True)
        probe = tempfile.mkdtemp(prefix=f".{path.name}.check-", dir=parent)
        os.rmdir(probe)
    except OSError as exc:
        where = parent if os.path.isdir(parent) else exc.filename or parent
        raise ValueError(f"cannot create the output folder {text!r}: {exc.strerror or exc} (in {where})") from None
    return path


def _install(staging: Path, target: Path, force: bool) -> None:
    """Rename the finished ``staging`` folder to ``target`` (replacing an old run's with ``force``)."""
    check_output(target, force=force)                       # it may have changed while the run ran
    if not target.exists():
        os.rename(staging, target)
        return
    if not any(target.iterdir()):                           # an empty folder: take its place
        target.rmdir()
        os.rename(staging, target)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    os.rmdir(old)
    os.rename(target, old)                                  # the earlier run, out of the way
    try:
        os.rename(staging, target)
    except BaseException:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def register(name: str, datasets=DATASETS):
    """Decorator that registers an experiment function under ``name``.

    Parameters
    ----------
    name : str
        Lower-case words joined by hyphens, unique across the package.
    datasets : tuple of str, default every data set
        The data sets the experiment makes sense on (a subset of
        :data:`DATASETS`); :func:`run` refuses the others, and ``bnlearn list``
        shows them. The first is the book scale's default.

    Returns
    -------
    callable
        The decorator; it returns the function unchanged.
    """
    if not isinstance(name, str) or not name or name != name.strip().lower() or " " in name:
        raise ValueError(f"experiment names are lower-case words joined by hyphens; got {name!r}")
    if not isinstance(datasets, tuple) or not datasets or not set(datasets) <= set(DATASETS):
        raise ValueError(f"register({name!r}): datasets must be a non-empty tuple drawn from {DATASETS}; "
                         f"got {datasets!r}")

    def decorator(fn):
        if name in _REGISTRY and _REGISTRY[name] is not fn:
            raise ValueError(f"experiment {name!r} is already registered by {_REGISTRY[name].__module__}")
        _REGISTRY[name] = fn
        _DATASETS_OF[name] = datasets
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


def datasets(name: str) -> tuple:
    """The data sets the experiment ``name`` accepts (see :func:`register`)."""
    get(name)
    return _DATASETS_OF[name]


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
    dataset : {"digits", "mnist-5k", "mnist"}, optional
        One of the experiment's :func:`datasets`. Default: the first of them
        for the book scale (``"digits"`` unless the experiment lists another
        first), ``"mnist"`` for the full one (or the first it accepts).
        ``"mnist-5k"`` is 5,000 real MNIST digits read offline.
    progress : bool, default False
        Show progress bars.
    **overrides
        Settings of the experiment to change (e.g. ``seeds=5``), checked by
        :func:`resolve_settings` before the experiment does any work: unknown
        names and values of the wrong type raise TypeError, values out of
        range ValueError.

    Returns
    -------
    Result

    Raises
    ------
    TypeError, ValueError
        For an unknown name, a bad ``seed`` (an int in ``[0, MAX_SEED]``),
        ``scale``, ``dataset`` or ``progress``, or a bad override.
    """
    fn = get(name)
    if seed is None:
        from .. import base_seed

        seed = base_seed()
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an int; got {_v.describe(seed)}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0; got {_v.describe(seed)}")
    if seed > MAX_SEED:
        raise ValueError(f"seed must be <= {MAX_SEED} (the seeds of a run, 1000 * seed + i, must fit a 64-bit "
                         f"int); got {_v.describe(seed)}")
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}; got {scale!r}")
    if dataset is None:
        accepted = datasets(name)
        dataset = "mnist" if scale == "full" and "mnist" in accepted else accepted[0]
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}; got {dataset!r}")
    if dataset not in datasets(name):
        raise ValueError(f"experiment {name!r} runs on the data sets {datasets(name)}; got {dataset!r}")
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be True or False; got {progress!r}")
    return fn(seed=int(seed), scale=scale, dataset=dataset, progress=progress, **overrides)


_FLOAT32_MAX = _v.FLOAT32_MAX
_MAX_COUNT = 2**31 - 1


@dataclass(frozen=True)
class Rule:
    """The values one experiment setting accepts (checked by :func:`resolve_settings`).

    Attributes
    ----------
    kind : {"int", "real"}
        Whole numbers (Python or NumPy ints, not bool) or finite real numbers.
    low, high : float, optional
        Bounds, inclusive unless ``low_open``/``high_open``.
    low_open, high_open : bool
        Exclusive bounds.
    optional : bool
        ``None`` is accepted too.
    sequence : bool
        A non-empty tuple or list of such values.
    noun : str, optional
        What one value is, in messages about a sequence, e.g. ``"learning rates"``.
    what : str, optional
        How messages describe one accepted value; made from the bounds by default.
    """

    kind: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    optional: bool = False
    sequence: bool = False
    noun: str | None = None
    what: str | None = None

    def describe_one(self) -> str:
        """One accepted value, e.g. ``"an int in [1, 1000]"``."""
        if self.what:
            return self.what
        lo = None if self.low is None else f"{'>' if self.low_open else '>='} {_num(self.low)}"
        hi = None if self.high is None else f"{'<' if self.high_open else '<='} {_num(self.high)}"
        if self.kind == "int":
            if self.high == _MAX_COUNT:
                base = "a positive int" if self.low == 1 else f"an int {lo}"
                return f"{base} (at most {_MAX_COUNT})"
            if self.low is not None and self.high is not None:
                return f"an int in [{_num(self.low)}, {_num(self.high)}]"
            return "an int" + "".join(f" {b}" for b in (lo, hi) if b)
        return "a finite number" + (" " + " and ".join(b for b in (lo, hi) if b) if lo or hi else "")

    def describe(self) -> str:
        """What the setting accepts, e.g. ``"a non-empty sequence of positive numbers"``."""
        text = self.describe_one()
        if self.sequence:
            text = f"a non-empty sequence of {self.noun or 'values'} ({text} each)"
        return text + (", or None" if self.optional else "")

    def _bound_error(self, v: float):
        """The bound ``v`` breaks, as text like ``">= 1"``, or None."""
        if self.kind == "real" and not math.isfinite(v):
            return "to be finite"
        if self.low is not None and (v <= self.low if self.low_open else v < self.low):
            return f"{'>' if self.low_open else '>='} {_num(self.low)}"
        if self.high is not None and (v >= self.high if self.high_open else v > self.high):
            return f"{'<' if self.high_open else '<='} {_num(self.high)}"
        return None

    def _one_ok_type(self, value) -> bool:
        if isinstance(value, bool) or isinstance(value, np.bool_):
            return False
        if self.kind == "int":
            return isinstance(value, numbers.Integral)
        return isinstance(value, numbers.Real)

    def check(self, experiment: str, key: str, value, default=None):
        """Return ``value`` if this rule accepts it; raise TypeError/ValueError naming ``key`` otherwise."""
        if value is None and self.optional:
            return value
        like = f"{experiment} setting {key!r} must be like its default {default!r}; got {_v.describe(value)}"
        if self.sequence:
            if not isinstance(value, tuple | list) or not all(self._one_ok_type(e) for e in value):
                raise TypeError(f"{like} ({key} accepts {self.describe()})")
            if len(value) == 0:
                raise ValueError(f"{experiment}: {key} must be {self.describe()}; got {value!r}")
            for e in value:
                why = self._bound_error(_as_float(e))
                if why is not None:
                    noun = self.noun or "values"
                    raise ValueError(f"{experiment}: {key} must be a non-empty sequence of {noun} {why}; "
                                     f"got {_v.describe(tuple(value))} ({noun} must be {self._plural()}; "
                                     f"got {_v.describe(e)})")
            return value
        if not self._one_ok_type(value):
            raise TypeError(f"{like} ({key} accepts {self.describe()})")
        why = self._bound_error(_as_float(value))
        if why is not None:
            raise ValueError(f"{experiment} needs {key} {why}; got {_v.describe(value)} "
                             f"({key} accepts {self.describe()})")
        return value

    def _plural(self) -> str:
        if self.what:
            return self.what
        kind = "ints" if self.kind == "int" else "finite numbers"
        parts = []
        if self.low is not None:
            parts.append(f"{'>' if self.low_open else '>='} {_num(self.low)}")
        if self.high is not None:
            parts.append(f"{'<' if self.high_open else '<='} {_num(self.high)}")
        return f"{kind} {' and '.join(parts)}".strip()


def _num(x: float) -> str:
    """A bound as text: ``1000`` for whole numbers, ``3.40282e+38`` for the others."""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e16 else f"{x:g}"


def _as_float(value) -> float:
    """``float(value)``, with ints too large for a float as +-1e300 (they break any bound)."""
    try:
        return float(value)
    except OverflowError:
        return math.copysign(1e300, value)


def _counts(low: int = 1, high: int = _MAX_COUNT, **kw) -> Rule:
    return Rule("int", low, high, **kw)


_LR = Rule("real", 0.0, _FLOAT32_MAX, low_open=True, noun="learning rates",
           what="positive numbers (at most 3.4e38, the largest float32)")
_FRACTION = Rule("real", 0.0, 1.0)

#: Range rules by setting name, applied by :func:`resolve_settings` to every
#: override of a setting with that name (in any experiment). Names not listed
#: here follow their suffix: ``*_steps``, ``*_every``, ``*_size`` are positive
#: ints, ``*_sizes`` sequences of them, ``*lr`` learning rates, ``*lrs``
#: sequences of them, ``*_fraction``/``*_prob`` numbers in [0, 1]. Every
#: other setting must be like its default (same type; finite numbers).
SETTING_RULES: dict[str, Rule] = {
    "seeds": _counts(1, 1000),
    "steps": _counts(), "train_steps": _counts(), "eval_every": _counts(), "record_every": _counts(),
    "batch_size": _counts(), "batch": _counts(), "train_size": _counts(), "width": _counts(),
    "depth": _counts(), "draws": _counts(), "samples": _counts(), "stop_after": _counts(),
    "num_threads": _counts(1, 4096, optional=True),
    "unit": _counts(0),
    "stages": _counts(0, sequence=True, noun="steps", what="ints >= 0"),
    "batch_sizes": _counts(sequence=True, noun="batch sizes", what="positive ints"),
    "ghost_sizes": _counts(sequence=True, noun="ghost batch sizes", what="positive ints"),
    "test_batch_sizes": _counts(sequence=True, noun="batch sizes", what="positive ints"),
    "lr": _LR, "init_std": Rule("real", 0.0, _FLOAT32_MAX, low_open=True),
    "lrs": Rule("real", 0.0, _FLOAT32_MAX, low_open=True, sequence=True, noun="learning rates",
                what="positive numbers"),
    "label_noise": _FRACTION, "threshold": _FRACTION,
    "dropout": Rule("real", 0.0, 1.0, high_open=True),
}


def _rule_for(key: str) -> Rule | None:
    """The rule of a setting: by its name, else by its suffix, else None."""
    if key in SETTING_RULES:
        return SETTING_RULES[key]
    if key.endswith(("_steps", "_every", "_size")):
        return _counts()
    if key.endswith("_sizes"):
        return _counts(sequence=True, noun="sizes", what="positive ints")
    if key.endswith("lrs"):
        return SETTING_RULES["lrs"]
    if key == "lr" or key.endswith("_lr") and not key.endswith("_per_lr"):   # not e.g. stages_per_lr
        return _LR
    if key.endswith(("_fraction", "_prob")):
        return _FRACTION
    return None


def _like_default(experiment: str, key: str, value, default):
    """Check that ``value`` has the kind of ``default`` (recursively for sequences and dicts)."""
    def fail(extra=""):
        raise TypeError(f"{experiment} setting {key!r} must be like its default {default!r}; "
                        f"got {_v.describe(value)}{extra}")

    if default is None:
        return value
    if isinstance(default, bool | np.bool_):
        if not isinstance(value, bool | np.bool_):
            fail()
    elif isinstance(default, numbers.Integral):
        if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
            fail(" (an int)")
        if not -_v.INT64_MAX - 1 <= value <= _v.INT64_MAX:
            raise ValueError(f"{experiment} needs {key} to fit a 64-bit int; got {_v.describe(value)}")
    elif isinstance(default, numbers.Real):
        if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
            fail(" (a number)")
        try:
            finite = math.isfinite(float(value))
        except OverflowError:
            finite = False
        if not finite:
            raise ValueError(f"{experiment} needs {key} to be a finite number; got {_v.describe(value)}")
    elif isinstance(default, str):
        if not isinstance(value, str):
            fail(" (a string)")
    elif isinstance(default, tuple | list):
        if not isinstance(value, tuple | list) or len(value) == 0:
            fail(" (a non-empty tuple)")
        kinds = {type(d) for d in default}
        if len(default) and len(kinds) == 1:        # a tuple of one kind: each entry like its first
            for item in value:
                _like_default(experiment, key, item, default[0])
    elif isinstance(default, Mapping):
        if not isinstance(value, Mapping):
            fail(" (a dict)")
        if set(value) != set(default):
            raise ValueError(f"{experiment} setting {key!r} must have the keys {sorted(default)}; "
                             f"got {sorted(map(str, value))}")
        for k in default:
            _like_default(experiment, f"{key}[{k!r}]", value[k], default[k])
    return value


def resolve_settings(name: str, settings: Mapping[str, Mapping], scale: str, overrides: Mapping,
                     rules: Mapping[str, Rule] | None = None) -> dict:
    """The settings for ``scale`` with ``overrides`` applied, every override checked first.

    Each override must name an existing setting and be like its default (an
    int for an int, a non-empty tuple for a tuple, a dict with the same keys
    for a dict, finite numbers), and settings with a known name follow their
    range rule (:data:`SETTING_RULES`, e.g. ``steps`` a positive int, ``lr``
    a positive float32, ``label_noise`` in [0, 1]). All of this happens before
    the experiment does any work, so a bad ``--set`` fails at once with a
    message that names the setting, the value and what it accepts.

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
    rules : dict, optional
        ``{setting: Rule}``: rules of this experiment's own, which replace
        the shared ones for those settings (e.g. ``{"unit": Rule("int", 0, 99)}``).

    Returns
    -------
    dict
        A new dictionary.

    Raises
    ------
    TypeError
        For an unknown setting or a value of the wrong type.
    ValueError
        For a value out of its range.
    """
    cfg = dict(settings[scale])
    unknown = sorted(set(overrides) - set(cfg))
    if unknown:
        raise TypeError(f"{name} got unknown setting(s) {unknown}; its settings are {sorted(cfg)}")
    own = dict(rules or {})
    for key, rule in own.items():
        if not isinstance(rule, Rule):
            raise TypeError(f"{name}: rules must map setting names to Rule objects; got {rule!r} for {key!r}")
    for key, value in overrides.items():
        default = cfg[key]
        rule = own.get(key) or _rule_for(key)
        if rule is not None:
            rule.check(name, key, value, default)
            if isinstance(default, tuple | list) and rule.sequence:
                continue
            if value is None:                  # an optional setting's None, whatever its default
                continue
        _like_default(name, key, value, default)
    cfg.update(overrides)
    if "seeds" in cfg and isinstance(cfg["seeds"], numbers.Integral) and cfg["seeds"] < 1:
        raise ValueError(f"{name} needs seeds >= 1; got {cfg['seeds']}")
    return cfg


# The mean with its interval over seeds lives in bnlearn.stats (one statistics
# module); it is re-exported here for the experiments' callers.
from ..stats import mean_interval  # noqa: E402
