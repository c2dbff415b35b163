"""Batch normalisation and a small trainable network, in NumPy only.

This subpackage never imports torch. Layers are forward/backward pairs with
explicit caches (``bnlearn.scratch.layers``); batch normalisation has both
a functional form (:func:`batchnorm_forward`, :func:`batchnorm_backward`) and a
layer (:class:`BatchNorm`); :class:`SGD` trains them and :func:`gradcheck`
proves their gradients right.
"""
from .batchnorm import BatchNorm, batchnorm_backward, batchnorm_forward
from .gradcheck import gradcheck, numerical_gradient, relative_error
from .layers import Dropout, Layer, Linear, ReLU, Sequential, Sigmoid, Tanh
from .loss import SoftmaxCrossEntropy
from .optim import SGD
from .training import accuracy, fit

__all__ = [
    "batchnorm_forward",
    "batchnorm_backward",
    "BatchNorm",
    "Layer",
    "Linear",
    "ReLU",
    "Sigmoid",
    "Tanh",
    "Dropout",
    "SoftmaxCrossEntropy",
    "Sequential",
    "SGD",
    "numerical_gradient",
    "relative_error",
    "gradcheck",
    "fit",
    "accuracy",
]
