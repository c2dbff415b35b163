"""One place that changes torch's CPU thread count for a block and restores it."""
from __future__ import annotations

import contextlib

import torch


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Run the block with ``torch.set_num_threads(n)``, restoring the old count after.

    ``None`` leaves the thread count as it is. Tiny networks run much faster on
    one thread: their operations are too small to split, and on a busy machine
    synchronising threads costs more than the work.
    """
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)
