"""Data sets for the book's experiments.

The embedded default is scikit-learn's bundled 8x8 digits (1,797 images, no
network needed). MNIST is downloaded once and cached (see ``load_mnist``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Dataset", "load_digits"]


@dataclass(frozen=True)
class Dataset:
    """An image classification data set split into train and test parts.

    Attributes
    ----------
    name : str
        ``"digits"`` or ``"mnist"``.
    x_train, x_test : numpy.ndarray
        Images of shape ``(N, 1, H, W)``, float32, pixel values scaled to [0, 1].
    y_train, y_test : numpy.ndarray
        Integer labels of shape ``(N,)``, int64, in ``range(num_classes)``.
    num_classes : int
        Number of classes (10 for both digit sets).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int = 10

    @property
    def image_shape(self) -> tuple:
        """``(1, H, W)``, the shape of one image."""
        return tuple(self.x_train.shape[1:])

    @property
    def x_train_flat(self) -> np.ndarray:
        """Training images as a ``(N, H*W)`` view (no copy)."""
        return self.x_train.reshape(len(self.x_train), -1)

    @property
    def x_test_flat(self) -> np.ndarray:
        """Test images as a ``(N, H*W)`` view (no copy)."""
        return self.x_test.reshape(len(self.x_test), -1)


def load_digits(test_fraction: float = 0.25, seed: int = 0) -> Dataset:
    """Load scikit-learn's bundled 8x8 digits, split into train and test.

    Parameters
    ----------
    test_fraction : float, default 0.25
        Fraction of the 1,797 images held out for testing, in (0, 1).
    seed : int, default 0
        Seed of the stratified split; the same seed always gives the same split.

    Returns
    -------
    Dataset
        ``x_train`` of shape ``(N_train, 1, 8, 8)`` (1,347 images for the
        default fraction), pixels scaled from 0..16 to [0, 1].
    """
    if not isinstance(test_fraction, float | int) or isinstance(test_fraction, bool):
        raise TypeError(f"test_fraction must be a number in (0, 1); got {test_fraction!r}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1); got {test_fraction}")
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int; got {seed!r}")
    from sklearn.datasets import load_digits as _sk_digits
    from sklearn.model_selection import train_test_split

    bunch = _sk_digits()
    x = (bunch.images.astype(np.float32) / 16.0)[:, None, :, :]  # 0..16 -> [0, 1]
    y = bunch.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y
    )
    return Dataset("digits", x_tr, y_tr, x_te, y_te)
