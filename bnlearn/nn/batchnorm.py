r"""Batch normalisation modules: drop-in replacements for ``torch.nn.BatchNorm1d/2d/3d``.

A small base class holds the parameters (``weight``, ``bias``), the buffers
(``running_mean``, ``running_var``, ``num_batches_tracked``) and the
train/eval logic; the subclasses only say which input ranks they accept. The
arithmetic is :func:`bnlearn.nn.batch_norm`, i.e. our own
:class:`~bnlearn.nn.BatchNormFunction`.

Behaviour shared with PyTorch (these are the drop-in promises):

- the same constructor arguments and defaults, the same parameter and buffer
  names, so a ``state_dict`` loads in both directions;
- training mode normalises with the batch statistics and updates the running
  ones: ``running = (1 - momentum) * running + momentum * batch`` with the
  unbiased batch variance; ``momentum=None`` uses the cumulative average
  (factor ``1 / num_batches_tracked``);
- eval mode normalises with the running statistics, or with the batch's when
  ``track_running_stats=False`` (then there are none);
- an empty batch gives an empty output, leaves the running statistics alone and
  still counts in ``num_batches_tracked``;
- one value per channel in training raises :class:`ValueError`;
- ``torch.jit.script`` compiles them (``eps``, ``momentum``, ``num_features``,
  ``affine`` and ``track_running_stats`` become constants, as in torch's). The
  scripted module computes the same formulas in plain tensor operations,
  which autograd differentiates, because TorchScript cannot compile an
  autograd Function;
- ``torch.compile(module, fullgraph=True)`` compiles them with no graph
  breaks, in training and in eval, into fused loops (see
  :class:`~bnlearn.nn.BatchNormFunction` for the one difference: no rescue
  of overflowing statistics in a compiled graph).

``eps`` and ``momentum`` are checked when they are set (at construction and
on every later assignment), so the forward pass checks only its input.
"""
from __future__ import annotations

from typing import Optional

import torch

from ._checks import (check_bn_input, check_eps, check_momentum, check_num_features, check_param_dtype,
                      check_values_per_channel, plain_number)
from ._affine import AffineNorm, check_factory_dtype, make_affine, reset_affine
from .functional import batch_norm_unchecked, script_batch_norm, shape_text

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d"]


class _BatchNorm(AffineNorm):
    r"""Base class of :class:`BatchNorm1d`, :class:`BatchNorm2d` and :class:`BatchNorm3d`.

    .. math::

        y = \gamma \frac{x - \mathrm{E}[x]}{\sqrt{\mathrm{Var}[x] + \epsilon}} + \beta

    with the statistics taken per channel over the batch and spatial axes.

    Parameters
    ----------
    num_features : int
        :math:`C`, the number of channels (features), ``input.shape[1]``.
    eps : float, default 1e-5
        Added to the variance for numerical stability; must be > 0.
    momentum : float or None, default 0.1
        Update factor of the running statistics, in [0, 1]; ``None`` for a
        cumulative (simple) average over all batches seen.
    affine : bool, default True
        Learn a per-channel scale ``weight`` (init 1) and shift ``bias`` (init 0).
    track_running_stats : bool, default True
        Keep ``running_mean``, ``running_var`` and ``num_batches_tracked``
        buffers; when false they are ``None`` and eval mode uses batch statistics.
    device : torch.device or None
        Where parameters and buffers are created.
    dtype : torch.dtype or None
        Floating dtype of parameters and buffers.
    bias : bool, default True
        Keyword-only. With ``affine=True``, ``bias=False`` learns the scale only
        (``self.bias`` is ``None``).

    Attributes
    ----------
    weight, bias : torch.nn.Parameter or None
        ``(C,)``.
    running_mean, running_var : torch.Tensor or None
        ``(C,)`` buffers (the variance is the unbiased estimate).
    num_batches_tracked : torch.Tensor or None
        0-dim ``int64`` buffer, the number of training batches seen.

    Raises
    ------
    TypeError, ValueError
        When ``eps`` or ``momentum`` is set (here or later) to a value outside
        its range; the module keeps its previous value.
    """

    _version = 2
    _spatial_dims: tuple = ()
    # TorchScript: these are fixed numbers of the compiled module (as in torch.nn's batch norms).
    __constants__ = ["track_running_stats", "momentum", "eps", "num_features", "affine", "_spatial_dims"]
    # The properties are Python-side bookkeeping; TorchScript reads the constants above.
    __jit_unused_properties__ = ["eps", "momentum"]
    _HYPERPARAMETERS = ("eps", "momentum")

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: Optional[float] = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device=None,
        dtype=None,
        *,
        bias: bool = True,
    ) -> None:
        name = type(self).__name__
        check_num_features(name, "num_features", num_features)
        owner = f"{name}({num_features})"
        check_eps(owner, eps)
        check_momentum(owner, momentum)
        check_factory_dtype(owner, dtype)
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.num_features = num_features
        self._owner = owner             # how messages name the module, e.g. "BatchNorm2d(64)"
        self.eps = eps                  # the setters below check (again) on every assignment
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        make_affine(self, num_features, affine, bias, factory)
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features, **factory))
            self.register_buffer("running_var", torch.ones(num_features, **factory))
            self.register_buffer(
                "num_batches_tracked", torch.tensor(0, dtype=torch.long, device=device)
            )
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    # -- hyperparameters, checked when set -------------------------------------
    @property
    def momentum(self) -> Optional[float]:
        """Running-average factor in [0, 1], or ``None`` for a cumulative average (checked when set)."""
        return self._momentum

    @momentum.setter
    def momentum(self, value) -> None:
        check_momentum(self._owner, value)
        self._momentum = plain_number(value)

    # -- state ---------------------------------------------------------------
    def reset_running_stats(self) -> None:
        """Set ``running_mean`` to 0, ``running_var`` to 1 and ``num_batches_tracked`` to 0."""
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        """Reset the running statistics, ``weight`` to 1 and ``bias`` to 0."""
        self.reset_running_stats()
        reset_affine(self)

    def extra_repr(self) -> str:
        """The constructor arguments, formatted like ``torch.nn.BatchNorm2d``'s repr."""
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}"
        )

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict,
                              missing_keys, unexpected_keys, error_msgs) -> None:
        # State dicts saved before num_batches_tracked existed (version < 2) load with a 0 count.
        version = local_metadata.get("version", None)
        key = prefix + "num_batches_tracked"
        if (version is None or version < 2) and self.track_running_stats and key not in state_dict:
            state_dict[key] = torch.tensor(0, dtype=torch.long)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict,
                                      missing_keys, unexpected_keys, error_msgs)

    # -- forward -------------------------------------------------------------
    def _describe(self) -> str:
        return f"{type(self).__name__}({self.num_features})"

    def _check_input_dim(self, input: torch.Tensor) -> None:
        check_bn_input(self._describe(), input, self.num_features, self._spatial_dims)

    def _update_factor(self) -> float:
        """Count this training batch and return the running-average factor.

        ``momentum``, or ``1 / num_batches_tracked`` when ``momentum`` is ``None``.
        """
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:                             # cumulative average
                if torch.compiler.is_compiling():                 # a compiled graph keeps t a tensor
                    return 1.0 / self.num_batches_tracked.to(torch.float64)
                factor = 1.0 / float(self.num_batches_tracked)
        return factor

    def _uses_batch_stats(self) -> bool:
        # Batch statistics in training, and in eval when there are no running ones.
        return self.training or (self.running_mean is None and self.running_var is None)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """Normalise ``input``; see the class docstring for shapes and modes."""
        if torch.jit.is_scripting():
            return self._forward_script(input)
        else:
            self._check_input_dim(input)
            check_param_dtype(self._describe(), input,
                              (self.weight, self.bias, self.running_mean, self.running_var))
            use_batch = self._uses_batch_stats()
            if use_batch:
                check_values_per_channel(input)
            factor = self._update_factor()
            keep = not self.training or self.track_running_stats   # buffers to read or update
            return batch_norm_unchecked(
                input,
                self.running_mean if keep else None,
                self.running_var if keep else None,
                self.weight,
                self.bias,
                use_batch,
                factor if isinstance(factor, torch.Tensor) else float(factor),
                float(self._eps),
            )

    # -- the TorchScript path (compiled by torch.jit.script, never run eagerly) ----------
    def _check_input_script(self, input: torch.Tensor) -> None:
        if not input.is_floating_point():
            raise TypeError(self._owner + " expects a floating-point input; got a tensor of another dtype")
        ok = input.dim() >= 2 and input.size(1) == self.num_features
        if ok and len(self._spatial_dims) > 0:
            ok = False
            for k in self._spatial_dims:
                if input.dim() - 2 == k:
                    ok = True
        if not ok:
            raise ValueError(self._owner + " expects input of shape (N, " + str(self.num_features)
                             + ", ...); got " + shape_text(input.shape))

    def _factor_script(self) -> float:
        momentum = self.momentum
        factor = 0.0
        if momentum is not None:
            factor = momentum
        if self.training and self.track_running_stats:
            nbt = self.num_batches_tracked
            if nbt is not None:
                nbt.add_(1)
                if momentum is None:
                    factor = 1.0 / float(nbt)                    # cumulative average
        return factor

    def _forward_script(self, input: torch.Tensor) -> torch.Tensor:
        self._check_input_script(input)
        use_batch = self.training or (self.running_mean is None and self.running_var is None)
        if use_batch and input.numel() > 0 and input.numel() == input.size(1):
            raise ValueError("Expected more than 1 value per channel when training, got input size "
                             + shape_text(input.shape))
        factor = self._factor_script()
        keep = (not self.training) or self.track_running_stats
        running_mean = self.running_mean if keep else None
        running_var = self.running_var if keep else None
        return script_batch_norm(input, running_mean, running_var, self.weight, self.bias, use_batch,
                                 self.training, factor, self.eps)


class BatchNorm1d(_BatchNorm):
    r"""Batch normalisation over a ``(N, C)`` or ``(N, C, L)`` input; drop-in for ``torch.nn.BatchNorm1d``.

    .. math::

        y = \gamma \frac{x - \mathrm{E}[x]}{\sqrt{\mathrm{Var}[x] + \epsilon}} + \beta

    Statistics per feature ``C``, over ``N`` (and ``L``). Constructor, attributes
    and modes as in :class:`BatchNorm2d`.

    Parameters
    ----------
    num_features : int
        :math:`C`.
    eps, momentum, affine, track_running_stats, device, dtype, bias
        As in :class:`BatchNorm2d`.
    """

    _spatial_dims = (0, 1)


class BatchNorm2d(_BatchNorm):
    r"""Batch normalisation over a ``(N, C, H, W)`` input; drop-in for ``torch.nn.BatchNorm2d``.

    .. math::

        y_{nchw} = \gamma_c \frac{x_{nchw} - \mu_c}{\sqrt{\sigma_c^2 + \epsilon}} + \beta_c,
        \qquad \mu_c = \frac{1}{NHW}\sum_{n,h,w} x_{nchw},
        \qquad \sigma_c^2 = \frac{1}{NHW}\sum_{n,h,w} (x_{nchw} - \mu_c)^2 .

    Parameters
    ----------
    num_features : int
        :math:`C`, the number of channels.
    eps : float, default 1e-5
        Added to the variance; must be > 0.
    momentum : float or None, default 0.1
        Running-average factor in [0, 1] (``None``: cumulative average).
    affine : bool, default True
        Learn ``weight`` and ``bias`` of shape ``(C,)``.
    track_running_stats : bool, default True
        Keep running statistics (used in eval mode).
    device : torch.device or None
        Device of parameters and buffers.
    dtype : torch.dtype or None
        Floating dtype of parameters and buffers.
    bias : bool, default True
        Keyword-only; ``False`` learns no shift.

    Examples
    --------
    >>> import torch
    >>> from bnlearn.nn import BatchNorm2d
    >>> bn = BatchNorm2d(3)
    >>> bn(torch.randn(8, 3, 4, 4)).shape
    torch.Size([8, 3, 4, 4])
    """

    _spatial_dims = (2,)


class BatchNorm3d(_BatchNorm):
    r"""Batch normalisation over a ``(N, C, D, H, W)`` input; drop-in for ``torch.nn.BatchNorm3d``.

    .. math::

        y = \gamma \frac{x - \mathrm{E}[x]}{\sqrt{\mathrm{Var}[x] + \epsilon}} + \beta

    Statistics per channel over ``N, D, H, W``. Constructor, attributes and
    modes as in :class:`BatchNorm2d`.

    Parameters
    ----------
    num_features : int
        :math:`C`.
    eps, momentum, affine, track_running_stats, device, dtype, bias
        As in :class:`BatchNorm2d`.
    """

    _spatial_dims = (3,)
