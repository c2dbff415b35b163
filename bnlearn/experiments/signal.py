"""Chapter 2's experiment: signal propagation through a deep MLP.

``signal-propagation`` sends one batch of digits through a deep plain MLP
(:func:`bnlearn.models.deep_mlp`) under five set-ups and measures, layer by
layer, the standard deviation of each hidden layer's pre-activations and
activations, the fraction of saturated sigmoid/tanh units, and the norm of
each layer's weight gradient; then it trains two of the set-ups (Xavier/He
initialisation without and with batch norm) for a few hundred steps and
measures the activations' standard deviations again.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .. import seed_range
from .. import diagnostics, models
from ..data import iterate_batches
from ..scaling import standardize
from ..train import train
from . import Result, register, resolve_settings
from ._summary import check_scale, check_seed, single_thread
from ._summary import dataset as _load_data

__all__ = ["SETUPS", "signal_propagation", "measure_signal", "SignalPropagationResult"]

#: The five set-ups, as name -> (inputs, init, norm). ``"he/xavier"`` means He
#: initialisation for ReLU and Xavier (Glorot) initialisation for sigmoid/tanh.
SETUPS = {
    "raw inputs, N(0,1) weights": ("raw", 1.0, None),
    "standardised, N(0,1) weights": ("standardised", 1.0, None),
    "standardised, N(0,0.01) weights": ("standardised", 0.01, None),
    "standardised, Xavier/He": ("standardised", "he/xavier", None),
    "standardised, N(0,1) weights + BN": ("standardised", 1.0, "batch"),
}

#: Settings of ``signal-propagation`` per scale (any can be overridden).
SETTINGS = {
    "book": {"seeds": 3, "depth": 20, "width": 100, "batch": 500, "train_steps": 200, "lr": 0.05,
             "activations": ("tanh", "relu", "sigmoid")},
    "full": {"seeds": 10, "depth": 20, "width": 256, "batch": 1000, "train_steps": 3000, "lr": 0.05,
             "activations": ("tanh", "relu", "sigmoid")},
}


def _inputs(kind: str, x: np.ndarray, dataset_name: str) -> np.ndarray:
    """``"raw"``: pixel values as stored in the files (0..16 for the digits,
    0..255 for MNIST); ``"standardised"``: each pixel a z-score over the training set."""
    flat = x.reshape(len(x), -1)
    if kind == "raw":
        return (flat * (16.0 if dataset_name == "digits" else 255.0)).astype(np.float32)
    return standardize(flat).astype(np.float32)


def _init(init, activation: str):
    if init == "he/xavier":
        return "kaiming" if activation == "relu" else "xavier"
    return init


def measure_signal(model: nn.Sequential, x: torch.Tensor, y: torch.Tensor) -> dict:
    """One forward and backward pass of ``model`` on ``(x, y)``, measured layer by layer.

    Parameters
    ----------
    model : torch.nn.Sequential
        A :func:`~bnlearn.models.deep_mlp` (its ``activation_indices`` mark the nonlinearities).
    x : torch.Tensor
        Inputs of shape ``(N, D)``.
    y : torch.Tensor
        Labels of shape ``(N,)``.

    Returns
    -------
    dict
        Lists over the hidden layers (input side first): ``pre_std`` and
        ``post_std`` (standard deviation of the nonlinearity's input and
        output over all units and examples), ``saturated`` (fraction of
        saturated outputs, NaN for ReLU), ``grad_norm`` (:math:`\\|\\nabla_{W_l} L\\|`
        of each hidden linear layer), and ``loss``.
    """
    acts = {str(i): model[i] for i in model.activation_indices}
    # Only the standard deviation and the saturation are read below; the recorder
    # always takes some percentiles too, and the 100th (the maximum) is the cheapest.
    rec_in = diagnostics.ActivationRecorder(acts, where="input", percentiles=(100,), per_unit=False)
    rec_out = diagnostics.ActivationRecorder(acts, where="output", percentiles=(100,), per_unit=False)
    model.zero_grad(set_to_none=True)
    with rec_in, rec_out, rec_in.record(0), rec_out.record(0):
        loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    grads = list(diagnostics.gradient_norms(model).values())[:-1]   # hidden layers only
    model.zero_grad(set_to_none=True)
    return {
        "pre_std": [float(rec_in.series(n, "std")[0]) for n in acts],
        "post_std": [float(rec_out.series(n, "std")[0]) for n in acts],
        "saturated": [float(rec_out.series(n, "saturated")[0]) for n in acts],
        "grad_norm": grads,
        "loss": float(loss.detach()),
    }


class SignalPropagationResult(Result):
    """Result of ``signal-propagation``; :meth:`~bnlearn.experiments.Result.figure` draws chapter 2's figures one at a time.

    Each figure is a :func:`bnlearn.plots.layer_profiles` of one per-layer
    quantity, one panel per activation and one line per set-up.
    """

    #: Figure name -> what it shows.
    FIGURES = {
        "activations": "std of each hidden layer's activations at initialisation (ReLU, tanh, sigmoid)",
        "saturation": "fraction of saturated units at initialisation (tanh, sigmoid)",
        "gradients": "norm of each hidden layer's weight gradient at initialisation",
        "training": "std of the activations during training, Xavier/He without and with BN (ReLU, tanh)",
    }

    def _panels(self, name: str) -> list[str]:
        """The activations figure ``name`` shows, in the chapter's order, among those that ran."""
        order = {"saturation": ("tanh", "sigmoid"),          # ReLU does not saturate
                 "training": ("relu", "tanh")}.get(name, ("relu", "tanh", "sigmoid"))
        ran = self.summary["training" if name == "training" else "init"]
        return [act for act in order if act in ran]

    def figure_names(self) -> list[str]:
        """The names of the figures this result can draw (a figure with no activation to show is left out)."""
        return [name for name in self.FIGURES if self._panels(name)]

    def _draw(self, name: str):
        """Draw the figure ``name`` (see :attr:`FIGURES`); :meth:`figure` checks the name."""
        from .. import plots

        init = self.summary["init"]
        if name == "training":
            train = self.summary["training"]
            panels = {f"{act}, {variant}": {f"step {s}": std for s, std in zip(run["steps"], run["post_std"])}
                      for act in self._panels(name) for variant, run in train[act].items()}
            return plots.layer_profiles(panels, ylabel="std of the layer's activations", log=False)
        key, ylabel, log = {"activations": ("post_std", "std of the layer's activations", True),
                            "saturation": ("saturated", "fraction of saturated units", False),
                            "gradients": ("grad_norm", r"$\|\nabla_{W_l} L\|$", True)}[name]
        return plots.layer_profiles({act: {setup: cell[key] for setup, cell in init[act].items()}
                                     for act in self._panels(name)}, ylabel=ylabel, log=log)


def _mean_over_seeds(runs: list[dict]) -> dict:
    out = {}
    for key in runs[0]:
        arr = np.array([r[key] for r in runs], dtype=np.float64)
        with np.errstate(all="ignore"):
            out[key] = np.nanmean(arr, axis=0).tolist() if not np.isnan(arr).all() else np.full(arr.shape[1:], np.nan).tolist()
        if key in ("post_std", "grad_norm"):
            out[key + "_min"] = arr.min(axis=0).tolist()
            out[key + "_max"] = arr.max(axis=0).tolist()
    return out


@register("signal-propagation")
def signal_propagation(*, seed: int = 0, scale: str = "book", dataset: str = "digits", progress: bool = False,
                       **overrides) -> SignalPropagationResult:
    """Per-layer signal and gradient scale of a 20-layer MLP under five set-ups, at initialisation and in training.

    For each activation and set-up (:data:`SETUPS`) and each seed, a fresh
    :func:`~bnlearn.models.deep_mlp` is measured with :func:`measure_signal`
    on one batch of training images; the seeds' results are averaged. Then
    the Xavier/He set-up (ReLU and tanh) is trained without and with batch
    norm (plain SGD, batches of 60), once, from the first seed, and its
    per-layer activation standard deviation measured again during training.

    Parameters
    ----------
    seed : int, default 0
        First seed; the scale's seeds are ``bnlearn.seed_range(seed, seeds)``.
    scale : {"book", "full"}, default "book"
        ``SETTINGS``: ``"book"``: 3 seeds, width 100, 200 training steps;
        ``"full"``: 10 seeds, width 256, 3,000 training steps.
    dataset : {"digits", "mnist"}, default "digits"
        The images.
    progress : bool, default False
        Accepted for the command line; nothing here needs a progress bar.
    **overrides
        Settings to change: ``seeds``, ``depth``, ``width``, ``batch``,
        ``train_steps``, ``lr``, ``activations``.

    Returns
    -------
    SignalPropagationResult
        ``summary["init"][activation][setup]``: per-layer lists (see
        :func:`measure_signal`) averaged over seeds, with ``post_std_min``/
        ``_max`` and ``grad_norm_min``/``_max`` over seeds;
        ``summary["training"][activation][variant]``: ``steps``, ``post_std``
        (one per-layer list per recorded step), ``final_loss``, of one training
        run from the first seed, ``seed_range(seed, seeds)[0]``.
    """
    seed = check_seed(seed)
    cfg = resolve_settings("signal-propagation", SETTINGS, check_scale(scale), overrides)
    activations = cfg["activations"]
    if isinstance(activations, str) or not activations:
        raise TypeError(f"activations must be a non-empty sequence of names; got {activations!r}")
    for a in activations:
        if a not in ("tanh", "relu", "sigmoid"):
            raise ValueError(f"activations must be among 'tanh', 'relu', 'sigmoid'; got {a!r}")
    if isinstance(cfg["lr"], bool) or not isinstance(cfg["lr"], int | float) or not cfg["lr"] > 0:
        raise ValueError(f"lr must be a positive number; got {cfg['lr']!r}")
    with single_thread():
        summary = _run(seed, cfg, tuple(activations), float(cfg["lr"]), dataset)
    params = {"seed": seed, "scale": scale, "dataset": dataset, **cfg,
              "setups": {k: list(map(str, v)) for k, v in SETUPS.items()}}
    return SignalPropagationResult("signal-propagation", params=params, summary=summary)


def _run(seed: int, cfg: dict, activations: tuple, lr: float, dataset_name: str) -> dict:
    data = _load_data(dataset_name)
    in_features = int(np.prod(data.image_shape))
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(data.x_train), size=min(cfg["batch"], len(data.x_train)), replace=False)
    y = torch.from_numpy(data.y_train[idx])
    xs = {kind: torch.from_numpy(_inputs(kind, data.x_train, dataset_name)[idx]) for kind in ("raw", "standardised")}
    init_results: dict = {}
    for act in activations:
        init_results[act] = {}
        for name, (inputs, init, norm) in SETUPS.items():
            runs = []
            for s in seed_range(seed, cfg["seeds"]):
                model = models.deep_mlp(cfg["depth"], cfg["width"], norm=norm, activation=act,
                                        init=_init(init, act), seed=s, in_features=in_features)
                model.train()
                runs.append(measure_signal(model, xs[inputs], y))
            init_results[act][name] = _mean_over_seeds(runs)

    # Training: does a good initialisation keep the signal in range once the weights move?
    # One run per network, from the first of the seeds above (its step 0 is that seed's
    # network at initialisation).
    first = seed_range(seed, cfg["seeds"])[0]
    x_std = torch.from_numpy(_inputs("standardised", data.x_train, dataset_name))
    y_all = torch.from_numpy(data.y_train)
    record = sorted({0, cfg["train_steps"] // 10, cfg["train_steps"] // 3, cfg["train_steps"]})
    training: dict = {}
    for act in [a for a in activations if a != "sigmoid"]:   # Xavier sigmoid nets barely move
        training[act] = {}
        for variant, norm in (("Xavier/He", None), ("Xavier/He + BN", "batch")):
            model = models.deep_mlp(cfg["depth"], cfg["width"], norm=norm, activation=act,
                                    init=_init("he/xavier", act), seed=first, in_features=in_features)
            stds = []

            def look(step, model, xb, yb, stds=stds):
                if step in record:
                    stds.append(measure_signal(model, xs["standardised"], y)["post_std"])

            h = train(model, None, steps=cfg["train_steps"], lr=lr, seed=first, progress=False,
                      batches=iterate_batches(x_std, y_all, 60, seed=first, epochs=None), on_step=look,
                      evaluate_test=False, eval_every=cfg["train_steps"], stop_on_divergence=False)
            losses = h.step_loss
            training[act][variant] = {"steps": record, "post_std": stds,
                                      "final_loss": float(np.mean(losses[-20:]))}
    return {"init": init_results, "training": training}
