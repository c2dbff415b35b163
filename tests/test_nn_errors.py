"""Every bad input to bnlearn.nn raises a clear ValueError/TypeError naming what it got."""
import pytest
import torch

import bnlearn.nn as bnn
from bnlearn.nn import batch_norm
from _nn_common import one_thread  # noqa: F401 (autouse fixture)


@pytest.mark.parametrize("cls,shape,msg", [
    (bnn.BatchNorm2d, (8, 32, 28), r"BatchNorm2d\(64\) expects input of shape \(N, 64, H, W\); got \(8, 32, 28\)"),
    (bnn.BatchNorm2d, (8, 32, 28, 28), r"BatchNorm2d\(64\) expects input of shape \(N, 64, H, W\); got \(8, 32, 28, 28\)"),
    (bnn.BatchNorm1d, (8, 64, 2, 2), r"BatchNorm1d\(64\) expects input of shape \(N, 64\) or \(N, 64, L\); got \(8, 64, 2, 2\)"),
    (bnn.BatchNorm1d, (64,), r"BatchNorm1d\(64\) expects input of shape .*; got \(64,\)"),
    (bnn.BatchNorm3d, (8, 64, 2, 2), r"BatchNorm3d\(64\) expects input of shape \(N, 64, D, H, W\); got \(8, 64, 2, 2\)"),
    (bnn.SyncBatchNorm, (8, 63, 2), r"SyncBatchNorm\(64\) expects input of shape \(N, 64, \*spatial\); got \(8, 63, 2\)"),
    (bnn.BatchRenorm2d, (8, 64, 2), r"BatchRenorm2d\(64\) expects input of shape \(N, 64, H, W\); got \(8, 64, 2\)"),
])
def test_wrong_rank_or_channels(cls, shape, msg):
    with pytest.raises(ValueError, match=msg):
        cls(64)(torch.randn(shape))


@pytest.mark.parametrize("cls,shape", [(bnn.BatchNorm2d, (2, 3, 2, 2)), (bnn.LayerNorm, (2, 3)),
                                       (bnn.GroupNorm, (2, 3, 2)), (bnn.GhostBatchNorm1d, (2, 3))])
def test_non_floating_input(cls, shape):
    m = {bnn.LayerNorm: lambda: bnn.LayerNorm(3), bnn.GroupNorm: lambda: bnn.GroupNorm(1, 3)}.get(cls, lambda: cls(3))()
    with pytest.raises(TypeError, match=r"floating-point input .*got dtype torch.int64"):
        m(torch.ones(shape, dtype=torch.long))


def test_not_a_tensor():
    with pytest.raises(TypeError, match="expects a torch.Tensor; got list"):
        bnn.BatchNorm1d(2)([[1.0, 2.0]])


def test_input_dtype_differs_from_parameters():
    with pytest.raises(TypeError, match=r"input has dtype torch.float64 but its parameters/buffers have dtype torch.float32"):
        bnn.BatchNorm1d(3)(torch.randn(4, 3, dtype=torch.float64))


@pytest.mark.parametrize("eps", [0.0, -1e-5, float("nan"), float("inf")])
@pytest.mark.parametrize("make", [lambda e: bnn.BatchNorm2d(4, eps=e), lambda e: bnn.LayerNorm(4, eps=e),
                                  lambda e: bnn.GroupNorm(2, 4, eps=e), lambda e: bnn.BatchRenorm1d(4, eps=e),
                                  lambda e: bnn.GhostBatchNorm2d(4, 2, eps=e), lambda e: bnn.SyncBatchNorm(4, eps=e)])
def test_eps_must_be_positive(make, eps):
    with pytest.raises(ValueError, match=r"eps must be a finite float > 0; got " + str(eps).replace("+", r"\+")):
        make(eps)


def test_eps_must_be_a_number():
    with pytest.raises(TypeError, match="eps must be a float > 0; got '1e-5' of type str"):
        bnn.BatchNorm1d(3, eps="1e-5")


@pytest.mark.parametrize("momentum", [-0.1, 1.5, float("nan")])
def test_momentum_outside_unit_interval(momentum):
    with pytest.raises(ValueError, match=r"momentum must be None or a float in \[0, 1\]; got"):
        bnn.BatchNorm1d(3, momentum=momentum)
    with pytest.raises(ValueError, match=r"momentum must be None or a float in \[0, 1\]; got"):
        batch_norm(torch.randn(4, 3), None, None, training=True, momentum=momentum)


def test_momentum_changed_after_construction_is_checked_when_set():
    m = bnn.BatchNorm1d(3)
    with pytest.raises(ValueError, match=r"BatchNorm1d\(3\): momentum must be None or a float in \[0, 1\]; got 2.0"):
        m.momentum = 2.0
    assert m.momentum == 0.1                      # the module keeps its previous value
    m(torch.randn(4, 3))


def test_momentum_wrong_type():
    with pytest.raises(TypeError, match="momentum must be None or a float in .*got '0.1' of type str"):
        bnn.BatchNorm1d(3, momentum="0.1")
    with pytest.raises(TypeError, match="momentum must be a float in .*got None"):
        batch_norm(torch.randn(4, 3), None, None, training=True, momentum=None)


@pytest.mark.parametrize("n,exc,msg", [(0, ValueError, "num_features must be a positive int; got 0"),
                                       (-3, ValueError, "num_features must be a positive int; got -3"),
                                       (3.0, TypeError, "num_features must be an int; got 3.0 of type float"),
                                       (True, TypeError, "num_features must be an int; got True")])
def test_num_features(n, exc, msg):
    with pytest.raises(exc, match=msg):
        bnn.BatchNorm2d(n)


def test_non_floating_parameter_dtype():
    with pytest.raises(TypeError, match="dtype must be a floating-point torch.dtype or None; got torch.int64"):
        bnn.BatchNorm2d(3, dtype=torch.long)


# -------------------------------------------------------------------- functional
def test_functional_shape_errors():
    x = torch.randn(4, 3)
    with pytest.raises(ValueError, match=r"weight must have shape \(3,\) for input of shape \(4, 3\); got \(4,\)"):
        batch_norm(x, None, None, weight=torch.ones(4), training=True)
    with pytest.raises(ValueError, match="training=False needs running_mean and running_var; got None"):
        batch_norm(x, None, None, training=False)
    with pytest.raises(ValueError, match="give both running_mean and running_var, or neither"):
        batch_norm(x, torch.zeros(3), None, training=True)
    with pytest.raises(ValueError, match=r"expects input of shape \(N, C, \*spatial\); got \(4,\)"):
        batch_norm(torch.randn(4), None, None, training=True)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        batch_norm(torch.randn(1, 3), None, None, training=True)
    with pytest.raises(ValueError, match=r"eps must be a finite float > 0; got -1"):
        batch_norm(x, None, None, training=True, eps=-1)


# -------------------------------------------------------------------- relatives
def test_ghost_size_must_divide_batch():
    m = bnn.GhostBatchNorm2d(3, 4)
    with pytest.raises(ValueError, match=r"virtual_batch_size=4 needs a batch size that 4 divides; got a batch of 6"):
        m(torch.randn(6, 3, 2, 2))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bnn.GhostBatchNorm1d(3, 1)(torch.randn(4, 3))             # ghost batches of one example


@pytest.mark.parametrize("v,exc", [(0, ValueError), (-2, ValueError), (2.5, TypeError)])
def test_ghost_size_must_be_positive_int(v, exc):
    with pytest.raises(exc, match="virtual_batch_size must be"):
        bnn.GhostBatchNorm1d(3, v)


@pytest.mark.parametrize("kw,exc,msg", [
    ({"rmax": 0.5}, ValueError, r"rmax must be a finite float >= 1; got 0.5"),
    ({"rmax": float("inf")}, ValueError, r"rmax must be a finite float >= 1; got inf"),
    ({"dmax": -1.0}, ValueError, r"dmax must be a finite float >= 0; got -1.0"),
    ({"dmax": float("nan")}, ValueError, r"dmax must be a finite float >= 0; got nan"),
    ({"rmax": "3"}, TypeError, r"rmax must be a float >= 1; got '3' of type str"),
    ({"warmup_steps": -1}, ValueError, r"warmup_steps must be an int >= 0; got -1"),
    ({"ramp_steps": 1.5}, TypeError, r"ramp_steps must be an int >= 0; got 1.5"),
    ({"track_running_stats": False}, ValueError, r"needs running statistics; got track_running_stats=False"),
])
def test_invalid_renorm_arguments(kw, exc, msg):
    with pytest.raises(exc, match=msg):
        bnn.BatchRenorm2d(3, **kw)


@pytest.mark.parametrize("shape", [0, -2, (), (3, 0), "abc"])
def test_layernorm_bad_normalized_shape(shape):
    with pytest.raises(ValueError, match="normalized_shape must be a positive int or a non-empty sequence"):
        bnn.LayerNorm(shape)


def test_layernorm_input_mismatch():
    with pytest.raises(ValueError, match=r"LayerNorm\(\(4, 5\)\) expects input of shape \(\*, 4, 5\); got \(2, 5, 4\)"):
        bnn.LayerNorm((4, 5))(torch.randn(2, 5, 4))


def test_groupnorm_errors():
    with pytest.raises(ValueError, match="num_groups must divide num_channels; got num_groups=4, num_channels=6"):
        bnn.GroupNorm(4, 6)
    with pytest.raises(ValueError, match=r"GroupNorm\(2, 6\) expects input of shape \(N, 6, \*spatial\); got \(2, 4, 3\)"):
        bnn.GroupNorm(2, 6)(torch.randn(2, 4, 3))
    with pytest.raises(ValueError, match="num_groups must be a positive int; got 0"):
        bnn.GroupNorm(0, 6)


def test_convert_sync_batchnorm_rejects_non_module():
    with pytest.raises(TypeError, match="expects a torch.nn.Module; got int"):
        bnn.convert_sync_batchnorm(3)
