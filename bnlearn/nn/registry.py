"""The one registry of normalisation layers: a name, the layer it builds, and what it is.

Every part of the package that picks or recognises a norm reads this table:
the model builders (``models.deep_mlp(norm="group")``, ``models.small_conv_net``),
the batched ensemble, :func:`bnlearn.nn.fold_batchnorm`,
:func:`bnlearn.nn.precise_bn` and :func:`bnlearn.nn.convert_sync_batchnorm`.
Adding a norm is one class plus one :func:`register_norm` call.

========== ===================================== ===================================
name       layer for ``(N, C)``/``(N, C, L)``     layer for ``(N, C, H, W)``
========== ===================================== ===================================
"none"     ``torch.nn.Identity``                 ``torch.nn.Identity``
"batch"    :class:`BatchNorm1d`                  :class:`BatchNorm2d`
"renorm"   :class:`BatchRenorm1d`                :class:`BatchRenorm2d`
"ghost"    :class:`GhostBatchNorm1d`             :class:`GhostBatchNorm2d`
"group"    :class:`GroupNorm` (C/8 groups, at     the same
           least 1 channel each)
"layer"    :class:`LayerNorm` over the features   :class:`GroupNorm` with one group
                                                 (layer norm over C, H, W)
========== ===================================== ===================================

``batch_statistics`` marks the norms that normalise with the statistics of
the batch in training and keep running averages for evaluation: those are
the ones that can be folded, re-estimated by precise BN, or synchronised.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

from torch import nn

from .batchnorm import _BatchNorm, BatchNorm1d, BatchNorm2d, BatchNorm3d
from .ghost import GhostBatchNorm1d, GhostBatchNorm2d
from .groupnorm import GroupNorm
from .layernorm import LayerNorm
from .renorm import BatchRenorm1d, BatchRenorm2d

__all__ = ["Norm", "NORMS", "register_norm", "norm_layer", "norm_names", "batch_statistics_types"]


@dataclass(frozen=True)
class Norm:
    """One entry of the registry.

    Attributes
    ----------
    name : str
        The registry name, e.g. ``"batch"``.
    build : callable
        ``build(num_features, spatial, **options)`` returns the layer for inputs
        with ``num_features`` channels and ``spatial`` spatial axes (0 for
        ``(N, C)``, 1 for ``(N, C, L)``, 2 for ``(N, C, H, W)``, 3 for volumes).
    classes : tuple of type
        The layer classes this norm builds (how a model's layers are recognised).
    batch_statistics : bool
        Normalises with batch statistics in training and keeps running ones.
    """

    name: str
    build: Callable[..., nn.Module]
    classes: Tuple[type, ...]
    batch_statistics: bool


NORMS: Dict[str, Norm] = {}


def register_norm(name: str, build: Callable[..., nn.Module], classes, *,
                  batch_statistics: bool = False) -> Norm:
    """Add a norm to the registry (or replace one of the same name).

    Parameters
    ----------
    name : str
        Lower-case name, e.g. ``"batch"``.
    build : callable
        ``build(num_features, spatial, **options) -> torch.nn.Module``.
    classes : type or tuple of type
        The classes ``build`` returns.
    batch_statistics : bool, default False
        Whether the layer normalises with batch statistics and keeps running ones.

    Returns
    -------
    Norm
    """
    if not isinstance(name, str) or not name or name != name.strip().lower():
        raise ValueError(f"a norm's name is a non-empty lower-case string; got {name!r}")
    if not callable(build):
        raise TypeError(f"register_norm({name!r}): build must be callable; got {build!r}")
    classes = classes if isinstance(classes, tuple) else (classes,)
    if not classes or not all(isinstance(c, type) for c in classes):
        raise TypeError(f"register_norm({name!r}): classes must be a class or a tuple of classes; got {classes!r}")
    if not isinstance(batch_statistics, bool):
        raise TypeError(f"register_norm({name!r}): batch_statistics must be True or False; got {batch_statistics!r}")
    entry = Norm(name, build, classes, batch_statistics)
    NORMS[name] = entry
    return entry


def norm_names() -> list:
    """The registered names, in registration order."""
    return list(NORMS)


def _check_spatial(name: str, spatial, allowed) -> int:
    if isinstance(spatial, bool) or not isinstance(spatial, int) or spatial not in allowed:
        raise ValueError(f"norm {name!r} supports spatial axes {sorted(allowed)}; got {spatial!r}")
    return spatial


def norm_layer(name: Optional[str], num_features: int, spatial: int = 0, **options) -> nn.Module:
    """Build the norm ``name`` for inputs with ``num_features`` channels.

    Parameters
    ----------
    name : str or None
        A registered name (see :func:`norm_names`); ``None`` means ``"none"``.
    num_features : int
        Features ``D`` of ``(N, D)`` input, or channels ``C`` of ``(N, C, *spatial)``.
    spatial : int, default 0
        Number of spatial axes of the input (0: ``(N, D)``, 2: images).
    **options
        Passed to the layer, e.g. ``virtual_batch_size=4`` for ``"ghost"``,
        ``groups=4`` for ``"group"``.

    Returns
    -------
    torch.nn.Module
    """
    key = "none" if name is None else name
    if key not in NORMS:
        raise ValueError(f"unknown norm {name!r}; registered norms: {norm_names()}")
    if isinstance(num_features, bool) or not isinstance(num_features, int) or num_features < 1:
        raise ValueError(f"norm_layer({name!r}): num_features must be a positive int; got {num_features!r}")
    return NORMS[key].build(num_features, spatial, **options)


def batch_statistics_types(include_torch: bool = True) -> tuple:
    """The layer classes that normalise with batch statistics and keep running ones.

    Parameters
    ----------
    include_torch : bool, default True
        Also ``torch.nn``'s batch norms (``torch.nn.modules.batchnorm._BatchNorm``).
    """
    types = [_BatchNorm]
    types += [c for entry in NORMS.values() if entry.batch_statistics for c in entry.classes]
    if include_torch:
        types.append(nn.modules.batchnorm._BatchNorm)
    return tuple(dict.fromkeys(types))


# ------------------------------------------------------------------ the book's norms

def _none(num_features, spatial, **options):
    if options:
        raise TypeError(f"norm 'none' takes no options; got {sorted(options)}")
    return nn.Identity()


def _batch(num_features, spatial, **options):
    cls = {0: BatchNorm1d, 1: BatchNorm1d, 2: BatchNorm2d, 3: BatchNorm3d}[_check_spatial("batch", spatial, {0, 1, 2, 3})]
    return cls(num_features, **options)


def _renorm(num_features, spatial, **options):
    cls = {0: BatchRenorm1d, 1: BatchRenorm1d, 2: BatchRenorm2d}[_check_spatial("renorm", spatial, {0, 1, 2})]
    return cls(num_features, **options)


def _ghost(num_features, spatial, **options):
    cls = {0: GhostBatchNorm1d, 1: GhostBatchNorm1d, 2: GhostBatchNorm2d}[_check_spatial("ghost", spatial, {0, 1, 2})]
    return cls(num_features, **options)


def _group(num_features, spatial, groups: Optional[int] = None, **options):
    """Group norm; by default groups of 8 channels (Wu and He's 32 groups need 32+ channels)."""
    _check_spatial("group", spatial, {0, 1, 2, 3})
    if groups is None:
        groups = max(1, num_features // 8)
        while num_features % groups:
            groups -= 1
    return GroupNorm(groups, num_features, **options)


def _layer(num_features, spatial, **options):
    _check_spatial("layer", spatial, {0, 1, 2, 3})
    if spatial == 0:
        return LayerNorm(num_features, **options)
    return GroupNorm(1, num_features, **options)   # one group: statistics over C and every position


register_norm("none", _none, nn.Identity)
register_norm("batch", _batch, (BatchNorm1d, BatchNorm2d, BatchNorm3d), batch_statistics=True)
register_norm("group", _group, GroupNorm)
register_norm("layer", _layer, (LayerNorm, GroupNorm))
register_norm("renorm", _renorm, (BatchRenorm1d, BatchRenorm2d), batch_statistics=True)
register_norm("ghost", _ghost, (GhostBatchNorm1d, GhostBatchNorm2d), batch_statistics=True)
