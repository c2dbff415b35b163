r"""The softmax cross-entropy loss for classification, in NumPy."""
from __future__ import annotations

import numpy as np

from ._checks import check_array, check_real

__all__ = ["SoftmaxCrossEntropy"]


class SoftmaxCrossEntropy:
    r"""Mean cross-entropy of the softmax of logits against integer labels.

    .. math::

        L = -\frac{1}{N}\sum_{n=1}^N \log p_{n, y_n}, \qquad
        p_{nk} = \frac{e^{z_{nk}}}{\sum_j e^{z_{nj}}}, \qquad
        \frac{\partial L}{\partial z_{nk}} = \frac{p_{nk} - [k = y_n]}{N}.

    The log-softmax subtracts each row's maximum first, so large logits do not overflow.

    Attributes
    ----------
    probs : numpy.ndarray or None
        Softmax probabilities of the last :meth:`forward`, shape ``(N, K)``.
    """

    def __init__(self):
        self.probs = None
        self._cache = None

    def __repr__(self) -> str:
        return "SoftmaxCrossEntropy()"

    def __call__(self, logits, y):
        return self.forward(logits, y)

    def forward(self, logits, y):
        """Return the mean loss (a float) of ``logits`` ``(N, K)`` against labels ``y`` ``(N,)``.

        Raises
        ------
        TypeError
            If ``logits`` is not a float array or ``y`` not an integer array.
        ValueError
            If the shapes do not match, a label lies outside ``range(K)``, or a
            logit is NaN or infinite. Finite logits of any size are fine (the
            loss is ``inf`` only when its true value exceeds the dtype).
        """
        owner = repr(self)
        check_array(logits, "logits", owner)
        if logits.ndim != 2 or logits.shape[0] == 0:
            raise ValueError(f"{owner} expects logits of shape (N, K) with N > 0; got {logits.shape}")
        if not isinstance(y, np.ndarray) or not np.issubdtype(y.dtype, np.integer):
            got = f"dtype {y.dtype}" if isinstance(y, np.ndarray) else type(y).__name__
            raise TypeError(f"{owner} expects integer labels y (a numpy.ndarray of ints); got {got}")
        n, k = logits.shape
        if y.shape != (n,):
            raise ValueError(f"{owner} expects labels of shape ({n},) to match logits {logits.shape}; got {y.shape}")
        if y.min() < 0 or y.max() >= k:
            raise ValueError(f"{owner} expects labels in range({k}); got values from {y.min()} to {y.max()}")
        finite = np.isfinite(logits).all(axis=1)
        if not finite.all():
            row = int(np.flatnonzero(~finite)[0])
            raise ValueError(f"{owner} expects finite logits; row {row} holds NaN or infinite values "
                             f"(a network whose training diverged: lower the learning rate)")
        with np.errstate(over="ignore", under="ignore"):
            # shift: softmax is unchanged. A spread beyond the largest float gives -inf, i.e. p = 0,
            # the right answer rounded (the loss is then inf when the label is such a class).
            z = logits - logits.max(axis=1, keepdims=True)
            log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))  # log p = z - log sum_j e^{z_j}
        self.probs = np.exp(log_p)
        self._cache = y
        return float(-log_p[np.arange(n), y].mean())              # L = -(1/N) sum_n log p_{n, y_n}

    def backward(self, dout=1.0):
        r"""Return :math:`\partial L/\partial z = \text{dout}\,(p - \text{onehot}(y))/N`, shape ``(N, K)``.

        Parameters
        ----------
        dout : float, default 1.0
            Gradient of the final objective with respect to the loss.
        """
        if self._cache is None:
            raise ValueError(f"{self!r}.backward() called before forward(): call forward(logits, y) first")
        dout = check_real(dout, "dout")
        y = self._cache
        n = y.shape[0]
        dz = self.probs.copy()
        dz[np.arange(n), y] -= 1                                  # p - onehot(y)
        dz *= dz.dtype.type(dout / n)
        return dz
