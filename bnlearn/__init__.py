"""bnlearn: batch normalisation from first principles.

The companion package of the bnlearn course book. ``import bnlearn`` is light:
it never imports torch, so a reader who only needs :mod:`bnlearn.scaling` or
:mod:`bnlearn.scratch` pays nothing for PyTorch. Import the submodules you need::

    from bnlearn import scaling, scratch      # NumPy only
    from bnlearn import nn, train, models     # PyTorch
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
