"""Shared fixtures for the bnlearn.nn tests: devices, tolerances, seeded inputs."""
import pytest
import torch

DEVICES = [
    pytest.param("cpu", id="cpu"),
    pytest.param("cuda", id="cuda",
                 marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")),
]

# Tolerances required by issue 4: 1e-5 in float32, 1e-10 in float64.
TOL = {torch.float32: 1e-5, torch.float64: 1e-10}

SHAPES = {2: (8, 3), 3: (6, 3, 5), 4: (4, 3, 5, 4), 5: (3, 3, 2, 4, 3)}


def close(a, b, dtype):
    """Assert two tensors (or None) agree to the tolerance of ``dtype``."""
    if a is None or b is None:
        assert a is None and b is None, (a, b)
        return
    torch.testing.assert_close(a, b, atol=TOL[dtype], rtol=TOL[dtype])


def randn(shape, dtype, device, seed, scale=1.0, shift=0.0):
    """A seeded normal tensor, created on ``device``."""
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(shape, generator=g, dtype=dtype) * scale + shift).to(device)


def copy_params(src, dst):
    """Give ``dst`` the parameters and buffers of ``src`` (same names)."""
    dst.load_state_dict(src.state_dict())


@pytest.fixture(autouse=True)
def one_thread():
    """Run each test on one thread: tiny tensors are slower with contended OpenMP threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def same_repr(ours, theirs):
    """Our ``extra_repr`` is torch's (torch >= 2.13 also prints ``bias=``; older versions do not)."""
    a, b = ours.extra_repr(), theirs.extra_repr()
    assert a == b or (", bias=" not in b and a.replace(f", bias={ours.bias is not None}", "") == b), (a, b)
