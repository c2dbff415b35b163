"""What we measure inside a network.

* ``activations``: percentiles, mean, standard
  deviation and saturation of a layer's activations, recorded with forward hooks.
* ``gradients``: per-layer gradient norms.
* ``shift``: how far a layer's input distribution moves
  between steps (mean, standard deviation, 1-D Wasserstein distance).
* ``ics``: Santurkar et al.'s gradient-based internal
  covariate shift.
* ``landscape``: loss range, gradient predictiveness and
  effective beta-smoothness along the gradient.
* ``noise``: :class:`CovariateNoise`, a layer that moves the next layer's input
  distribution on purpose (the probe of Santurkar et al.'s noisy batch norm).
"""
from .activations import (DEFAULT_PERCENTILES, ActivationRecorder, ActivationStats, activation_stats,
                          saturation_fraction)
from .gradients import gradient_norms, weighted_layers
from .ics import GradientICS, gradient_ics
from .landscape import LandscapeProbe, landscape_probe
from .noise import CovariateNoise
from .shift import DistributionShift, distribution_shift, wasserstein_1d

__all__ = [
    "ActivationRecorder", "ActivationStats", "activation_stats", "saturation_fraction", "DEFAULT_PERCENTILES",
    "gradient_norms", "weighted_layers",
    "DistributionShift", "distribution_shift", "wasserstein_1d",
    "GradientICS", "gradient_ics",
    "LandscapeProbe", "landscape_probe",
    "CovariateNoise",
]

#: The percentiles the activation recorder reports unless told otherwise (the
#: 15th, 50th and 85th, as in Ioffe and Szegedy's Figure 1 b and c).
DEFAULT_PERCENTILES = DEFAULT_PERCENTILES  # re-bound here so autodoc sees its doc comment
