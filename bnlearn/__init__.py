"""bnlearn: batch normalisation from first principles.

The companion package of the bnlearn course book. ``import bnlearn`` is light:
it never imports torch, so a reader who only needs :mod:`bnlearn.scaling` or
:mod:`bnlearn.scratch` pays nothing for PyTorch. Import the submodules you need::

    from bnlearn import scaling, scratch      # NumPy only
    from bnlearn import nn, train, models     # PyTorch

Seeds
-----
Every experiment and every chapter draws its randomness from one base seed,
:func:`base_seed`: the environment variable ``BNLEARN_SEED`` (default 0).
Set it to check that the book's conclusions do not hang on one seed::

    BNLEARN_SEED=7 jupyter lab book/
"""
import os as _os

__version__ = "0.1.0"

__all__ = ["__version__", "SEED_ENV", "base_seed", "seed_range"]

#: The environment variable that sets :func:`base_seed`.
SEED_ENV = "BNLEARN_SEED"

#: Seeds of one run over seeds are spaced this far apart between base seeds, so
#: that runs with different base seeds share no seed (see :func:`seed_range`).
_SEED_STRIDE = 1000


def base_seed() -> int:
    """The base seed of every experiment and chapter.

    It is the value of the environment variable ``BNLEARN_SEED``, or 0 when
    that is unset or empty. The book's hidden checks must hold for any value:
    set it to see that a conclusion does not depend on the seed.

    Returns
    -------
    int
        A non-negative integer.

    Raises
    ------
    ValueError
        If ``BNLEARN_SEED`` is not a non-negative whole number.
    """
    text = _os.environ.get(SEED_ENV, "").strip()
    if not text:
        return 0
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{SEED_ENV} must be a non-negative whole number such as 0 or 7; "
                         f"got {text!r}") from None
    if value < 0:
        raise ValueError(f"{SEED_ENV} must be a non-negative whole number such as 0 or 7; got {value}")
    return value


def seed_range(base: int, n: int) -> list:
    """The ``n`` seeds of a run over seeds that starts from ``base``.

    ``[1000 * base, 1000 * base + 1, ..., 1000 * base + n - 1]``: base seed 0
    gives ``0, 1, 2, ...``, and two different base seeds share no seed (for
    ``n <= 1000``), so re-running with another base seed repeats nothing.

    Parameters
    ----------
    base : int
        A base seed, ``>= 0`` (e.g. :func:`base_seed`).
    n : int
        How many seeds, ``1 <= n <= 1000``.

    Returns
    -------
    list of int
    """
    for name, value in (("base", base), ("n", n)):
        if isinstance(value, bool) or not isinstance(value, int) and not hasattr(value, "__index__"):
            raise TypeError(f"seed_range: {name} must be an int; got {value!r}")
    base, n = int(base), int(n)
    if base < 0:
        raise ValueError(f"seed_range: base must be >= 0; got {base}")
    if not 1 <= n <= _SEED_STRIDE:
        raise ValueError(f"seed_range: n must lie in [1, {_SEED_STRIDE}]; got {n}")
    return [_SEED_STRIDE * base + i for i in range(n)]
