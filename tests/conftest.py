"""Shared fixtures: paths of the repository and of its notebooks."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


def notebooks() -> list[Path]:
    """Every chapter notebook under book/ (never _build or checkpoints)."""
    return sorted(p for p in (ROOT / "book").glob("*.ipynb"))
