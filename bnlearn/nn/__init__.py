"""Batch normalisation and its relatives as PyTorch modules.

Drop-in replacements for ``torch.nn``'s batch norms whose arithmetic is ours
(a hand-derived backward in :class:`BatchNormFunction`), the relatives the book
compares (layer, group, ghost batch norm, batch renorm), synchronised batch
norm across processes, folding batch norm into the preceding layer, and
precise batch norm (population statistics in place of the running averages).

Modules:

- ``bnlearn.nn.functional``: :class:`BatchNormFunction`, :func:`batch_norm`
- ``bnlearn.nn.batchnorm``: :class:`BatchNorm1d`, :class:`BatchNorm2d`, :class:`BatchNorm3d`
- ``bnlearn.nn.layernorm``, ``bnlearn.nn.groupnorm``: :class:`LayerNorm`, :class:`GroupNorm`
- ``bnlearn.nn.renorm``: :class:`BatchRenorm1d`, :class:`BatchRenorm2d`
- ``bnlearn.nn.ghost``: :class:`GhostBatchNorm1d`, :class:`GhostBatchNorm2d`
- ``bnlearn.nn.sync``: :class:`SyncBatchNorm`, :func:`convert_sync_batchnorm`
- ``bnlearn.nn.fold``: :func:`fold_batchnorm`
- ``bnlearn.nn.precise``: :func:`precise_bn`, :func:`batchnorm_layers`
- ``bnlearn.nn.registry``: the one registry of norms, ``NORMS``, :func:`norm_layer`,
  :func:`register_norm` (what ``models``, folding, precise BN and SyncBN read)

Every module here except :class:`SyncBatchNorm` compiles with
``torch.jit.script``, as torch's own norms do (the scripted batch norms give
the numbers of the scripted ``torch.nn`` ones). Hyperparameters (``eps``,
``momentum``, ...) are checked when they are set, the input at every call.
"""
from .batchnorm import BatchNorm1d, BatchNorm2d, BatchNorm3d
from .fold import fold_batchnorm
from .functional import BatchNormFunction, batch_norm
from .ghost import GhostBatchNorm1d, GhostBatchNorm2d
from .groupnorm import GroupNorm
from .layernorm import LayerNorm
from .precise import batchnorm_layers, precise_bn
from .registry import NORMS, Norm, batch_statistics_types, norm_layer, norm_names, register_norm
from .renorm import BatchRenorm1d, BatchRenorm2d
from .sync import SyncBatchNorm, convert_sync_batchnorm

#: The one registry of norms, ``name -> Norm`` (see :func:`register_norm`).
NORMS = NORMS

__all__ = [
    "BatchNorm1d",
    "BatchNorm2d",
    "BatchNorm3d",
    "batch_norm",
    "BatchNormFunction",
    "LayerNorm",
    "GroupNorm",
    "BatchRenorm1d",
    "BatchRenorm2d",
    "GhostBatchNorm1d",
    "GhostBatchNorm2d",
    "SyncBatchNorm",
    "convert_sync_batchnorm",
    "fold_batchnorm",
    "precise_bn",
    "batchnorm_layers",
    "NORMS",
    "Norm",
    "norm_layer",
    "norm_names",
    "register_norm",
    "batch_statistics_types",
]
