"""Matplotlib figures for the book: one function per kind of figure.

Every function returns the :class:`matplotlib.figure.Figure` it drew and never
calls ``plt.show()``; notebooks display the returned figure.
"""
from __future__ import annotations

import matplotlib

matplotlib.rcParams.setdefault("figure.dpi", 100)

__all__: list[str] = []
