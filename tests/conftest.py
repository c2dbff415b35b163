"""Shared fixtures: paths of the repository and of its notebooks."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


def notebooks() -> list[Path]:
    """Every chapter notebook under book/ (never _build or checkpoints)."""
    return sorted(p for p in (ROOT / "book").glob("*.ipynb"))


# ----------------------------------------------------------------------------- the book build, in the background
# Building the book executes every chapter, one after another, on one core: minutes. The tests that need
# the build (tests/test_book.py) run last, and the build starts as soon as collection is done, so that the
# other tests (the chapter runs of tests/test_chapters.py above all) use the second core meanwhile. Every
# process runs torch on one thread: two-thread kernels sharing a busy core wait on each other.
_BUILD: dict = {}


def start_book_build() -> None:
    """Start the strict build of the whole book in the background, once per session, from scratch."""
    if "proc" in _BUILD:
        return
    shutil.rmtree(ROOT / "_build", ignore_errors=True)                  # no stale pages
    log = tempfile.TemporaryFile(mode="w+")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env.pop("PYTEST_ADDOPTS", None)
    _BUILD["log"] = log
    _BUILD["proc"] = subprocess.Popen(
        [str(Path(sys.executable).parent / "jupyter-book"), "build", ".", "-W", "-n", "--keep-going"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, text=True, env=env)


def book_build_result(timeout: float = 1800) -> tuple[int, str]:
    """Wait for the build started by :func:`start_book_build` (starting it if needed): (exit status, log)."""
    start_book_build()
    rc = _BUILD["proc"].wait(timeout=timeout)
    _BUILD["log"].seek(0)
    return rc, _BUILD["log"].read()


def pytest_collection_modifyitems(session, config, items):
    book = [item for item in items if Path(str(item.fspath)).name == "test_book.py"]
    if not book:
        return
    items[:] = [item for item in items if item not in book] + book
    if any("built_book" in getattr(item, "fixturenames", ()) for item in book):
        start_book_build()


def pytest_sessionfinish(session, exitstatus):
    proc = _BUILD.get("proc")
    if proc is not None and proc.poll() is None:                         # interrupted: do not leave it behind
        proc.terminate()
