"""Chapter 3's experiments: internal covariate shift, and the evidence about it.

* ``ics-percentiles``: Ioffe and Szegedy's Figure 1 (b, c): the 15th, 50th
  and 85th percentiles of the last hidden sigmoid's input over training,
  without and with batch norm, next to the test-accuracy curves.
* ``noisy-bn``: Santurkar et al.'s test: inject time-varying noise after every
  batch norm (:class:`~bnlearn.experiments.noise.CovariateNoise`) and compare
  speed of training and how much the layer input moves per step.
* ``ics-gradient``: Santurkar et al.'s gradient-based ICS
  (:func:`bnlearn.diagnostics.gradient_ics`) without and with BN, at several
  learning rates and stages of training.
* ``landscape``: loss-landscape probes along the gradient
  (:func:`bnlearn.diagnostics.landscape_probe`), likewise.

All run Ioffe and Szegedy's MLP (:func:`bnlearn.models.paper_mlp`: three
sigmoid layers of 100 units) on the digits with plain SGD and batches of 60.
The loop is written out here rather than calling :func:`bnlearn.train.train`
because these measurements happen *inside* training, between steps; it uses
the same batches (:func:`bnlearn.data.iterate_batches`) and evaluation
(:func:`bnlearn.train.evaluate`).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import torch
from torch import nn

from .. import seed_range
from .. import diagnostics
from ..data import iterate_batches
from ..train import evaluate
from . import Result, register, resolve_settings
from ._summary import check_scale, check_seed, interval, paired, single_thread
from ._summary import dataset as _load_data
from .noise import VARIANTS, noisy_mlp

__all__ = ["ics_percentiles", "noisy_bn", "ics_gradient", "landscape", "probe_training", "covariate_shift_demo",
           "PercentilesResult", "ProbeResult", "LANDSCAPE_MULTIPLIERS", "PERCENTILE_SETTINGS", "PROBE_SETTINGS"]

#: Step sizes of the landscape probes, as multiples of the learning rate.
LANDSCAPE_MULTIPLIERS = (0.5, 1.0, 2.0, 4.0)

_BATCH = 60
_PROBE = 300        # test images in the fixed probe batch of the percentile measurements


def _check_lr(lr):
    if isinstance(lr, bool) or not isinstance(lr, int | float) or not lr > 0:
        raise ValueError(f"learning rates must be positive numbers; got {lr!r}")
    return float(lr)


def _tensors(data):
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a))  # noqa: E731
    return t(data.x_train), t(data.y_train), t(data.x_test), t(data.y_test)


def _run(variant: str, seed: int, steps: int, lr: float, data, *, eval_every: int,
         hooks: dict[int, Callable] | None = None) -> dict:
    """Train one network; call ``hooks[step](model, xb, yb)`` just before the
    update of step ``step + 1`` (so ``hooks[0]`` sees the initial network)
    with the batch that update will use. Returns the accuracy curve."""
    x_tr, y_tr, x_te, y_te = _tensors(data)
    model = noisy_mlp(variant, seed=seed, in_features=int(np.prod(data.image_shape)))
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    batches = iterate_batches(x_tr, y_tr, _BATCH, seed=seed, epochs=None)
    hooks = hooks or {}
    curve_steps, curve_acc, losses = [], [], []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for step in range(steps + 1):
            if step % eval_every == 0 or step == steps:
                model.eval()
                acc, _ = evaluate(model, x_te, y_te)
                model.train()
                curve_steps.append(step)
                curve_acc.append(acc)
            xb, yb = next(batches)
            if step in hooks:
                hooks[step](model, xb, yb)
            if step == steps:
                break
            loss = nn.functional.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
    return {"steps": curve_steps, "accuracy": curve_acc, "final_accuracy": curve_acc[-1],
            "final_loss": float(np.mean(losses[-20:])) if losses else float("nan")}


def _first_reach(curve: dict, target: float):
    for s, a in zip(curve["steps"], curve["accuracy"]):
        if a >= target:
            return s
    return None


# ----------------------------------------------------------- percentiles, noisy BN

def _percentile_runs(variants, seed, n_seeds, steps, lr, eval_every, record_every, target, data):
    """Train each variant for each seed, recording the last hidden sigmoid's input
    on a fixed probe batch (training mode, as the layer sees it during training)
    at pairs of consecutive steps ``(t, t + 1)``, ``t = 0, record_every, ...``."""
    probe_x = torch.from_numpy(data.x_test[:_PROBE])
    out = {}
    for variant in variants:
        runs = []
        for s in seed_range(seed, n_seeds):
            state = {}

            def record(model, xb, yb, state=state):
                sig = model[model.activation_indices[-1]]
                rec = diagnostics.ActivationRecorder({"last": sig}, where="input", keep_values=True)
                params = list(model.parameters())
                with torch.no_grad(), diagnostics._common.preserved(params, [model]), rec, rec.record(0):
                    model(probe_x)
                state.setdefault("stats", []).append(rec.history["last"][0])
                state.setdefault("values", []).append(rec.values["last"][0])

            record_steps = sorted({t for k in range(0, steps, record_every) for t in (k, k + 1) if t <= steps})
            curve = _run(variant, s, steps, lr, data, eval_every=eval_every,
                         hooks={t: record for t in record_steps})
            stats, values = state["stats"], state["values"]
            moves, wass, firsts = [], [], []
            for k, t in enumerate(record_steps[:-1]):
                if record_steps[k + 1] != t + 1:
                    continue
                # movement per step: mean over units and percentiles of |q_{t+1} - q_t|
                moves.append(float(np.abs(stats[k + 1].unit - stats[k].unit).mean()))
                wass.append(diagnostics.distribution_shift(values[k], values[k + 1]).summary()["wasserstein"])
            runs.append({
                **curve,
                "reach_step": _first_reach(curve, target),
                "record_steps": record_steps,
                "percentiles_unit0": [st.unit[:, 0].tolist() for st in stats],   # a typical sigmoid
                "percentiles_pooled": [st.pooled.tolist() for st in stats],
                "move_per_step": float(np.mean(moves)),
                "wasserstein_per_step": float(np.mean(wass)),
            })
        out[variant] = runs
    return out


def _summarise_percentiles(runs: dict, steps: int) -> dict:
    summary = {}
    for variant, rs in runs.items():
        reach = [r["reach_step"] if r["reach_step"] is not None else float("nan") for r in rs]
        summary[variant] = {
            "final_accuracy": interval([r["final_accuracy"] for r in rs]),
            "reach_step": reach,
            "reached_all": all(r["reach_step"] is not None for r in rs),
            "move_per_step": interval([r["move_per_step"] for r in rs]),
            "wasserstein_per_step": interval([r["wasserstein_per_step"] for r in rs]),
        }
    return summary


class PercentilesResult(Result):
    """Result of ``ics-percentiles`` and ``noisy-bn``; :meth:`~bnlearn.experiments.Result.figure` draws chapter 3's figures one by one."""

    #: Figure name -> (what it shows, the variants it needs).
    FIGURES = {
        "accuracy": ("test accuracy against steps without and with BN, over seeds", ("plain", "bn")),
        "percentiles": ("15th/50th/85th percentiles of the last hidden sigmoid's input, first seed, "
                        "without and with BN", ("plain", "bn")),
        "noisy-percentiles": ("the same percentiles for noisy BN and the plain network", ("noisy-bn", "plain")),
    }

    def figure_names(self) -> list[str]:
        """The names of the figures this result can draw (those whose variants ran)."""
        return [name for name, (_, needs) in self.FIGURES.items() if all(v in self.data["runs"] for v in needs)]

    def _bands(self, variant: str) -> dict:
        """The first seed's percentiles of ``variant`` at steps ``t`` of the pairs ``(t, t + 1)``."""
        run = self.data["runs"][variant][0]
        steps = run["record_steps"][::2]                    # one of each (t, t + 1) pair
        p = np.array(run["percentiles_unit0"])[::2]         # (T, 3): 15th, 50th, 85th
        return {"steps": steps, "low": p[:, 0], "median": p[:, 1], "high": p[:, 2]}

    def _draw(self, name: str):
        """Draw the figure ``name`` (see :attr:`FIGURES`); :meth:`figure` checks the name."""
        from .. import plots

        runs = self.data["runs"]
        if name == "accuracy":
            return plots.seed_curves({v: runs[v] for v in ("plain", "bn")}, ["accuracy"],
                                     titles=["test accuracy"], x_key="steps", xlabel="training step")
        if name == "percentiles":
            return plots.percentile_bands({"without BN": self._bands("plain"), "with BN": self._bands("bn")})
        return plots.percentile_bands({"noisy BN": self._bands("noisy-bn"), "plain": self._bands("plain")})


#: Settings of ``ics-percentiles`` and ``noisy-bn`` per scale (any can be overridden).
PERCENTILE_SETTINGS = {
    "book": {"seeds": 3, "steps": 500, "eval_every": 20, "record_every": 50, "lr": 1.0, "target": 0.9},
    "full": {"seeds": 10, "steps": 3000, "eval_every": 50, "record_every": 50, "lr": 1.0, "target": 0.9},
}


@register("ics-percentiles")
def ics_percentiles(*, seed: int = 0, scale: str = "book", dataset: str = "digits", progress: bool = False,
                    **overrides) -> PercentilesResult:
    """Ioffe and Szegedy's Figure 1: accuracy curves and the last hidden sigmoid's input percentiles.

    Trains :func:`~bnlearn.models.paper_mlp` without and with batch norm
    (SGD, ``lr``, batches of 60) and records, on a fixed probe batch of 300
    test images in training mode, the 15th/50th/85th percentiles of the input
    of the last hidden layer's sigmoid, per unit.

    Parameters
    ----------
    seed : int, default 0
        First seed; the scale's seeds are ``bnlearn.seed_range(seed, seeds)``.
    scale : {"book", "full"}, default "book"
        :data:`PERCENTILE_SETTINGS`: ``"book"``: 3 seeds, 500 steps;
        ``"full"``: 10 seeds, 3,000 steps; both at learning rate 1.0 (both
        networks train there; at 0.1 the plain one stays on its initial
        plateau for hundreds of steps).
    dataset : {"digits", "mnist"}, default "digits"
        The images.
    progress : bool, default False
        Accepted for the command line (no bar is shown).
    **overrides
        Settings to change: ``seeds``, ``steps``, ``eval_every``,
        ``record_every``, ``lr``, ``target`` (the test accuracy whose first
        evaluated step is reported as ``reach_step``).

    Returns
    -------
    PercentilesResult
        ``data["runs"][variant]``: one dict per seed (accuracy curve
        ``steps``/``accuracy``, ``record_steps``, ``percentiles_unit0`` of
        shape ``(R, 3)`` for the first unit, ``percentiles_pooled``,
        ``move_per_step``: the mean over units and percentiles of
        :math:`|q_{t+1} - q_t|`, ``wasserstein_per_step``);
        ``summary[variant]``: intervals over seeds.
    """
    return _percentile_experiment("ics-percentiles", ("plain", "bn"), seed, scale, dataset, overrides)


@register("noisy-bn")
def noisy_bn(*, seed: int = 0, scale: str = "book", dataset: str = "digits", progress: bool = False,
             **overrides) -> PercentilesResult:
    """Santurkar et al.'s noisy batch norm: does a moving layer input hurt training?

    Four networks (:data:`~bnlearn.experiments.noise.VARIANTS`): plain, BN,
    BN followed by :class:`~bnlearn.experiments.noise.CovariateNoise`
    (per-unit shift from U(-1, 1) and scale from U(0.5, 1.5), redrawn every
    step, plus N(0, 0.1^2) per sample), and the same noise without BN.
    Measured as in :func:`ics_percentiles`, plus paired comparisons by seed.

    Parameters
    ----------
    seed : int, default 0
        First seed.
    scale : {"book", "full"}, default "book"
        As for :func:`ics_percentiles`.
    dataset : {"digits", "mnist"}, default "digits"
        The images.
    progress : bool, default False
        Accepted for the command line.
    **overrides
        As for :func:`ics_percentiles`.

    Returns
    -------
    PercentilesResult
        As :func:`ics_percentiles` for the four variants, and
        ``summary["compare"]``: ``move_ratio`` (noisy BN's over the plain
        network's per-step movement, per seed), ``final_accuracy`` paired
        differences noisy-BN minus BN and noisy-plain minus plain.
    """
    result = _percentile_experiment("noisy-bn", tuple(VARIANTS), seed, scale, dataset, overrides)
    runs = result.data["runs"]
    acc = {v: [r["final_accuracy"] for r in runs[v]] for v in runs}
    move = {v: np.array([r["move_per_step"] for r in runs[v]]) for v in runs}
    result.summary["compare"] = {
        "move_ratio_noisy_bn_over_plain": interval(move["noisy-bn"] / move["plain"]),
        "move_ratio_bn_over_plain": interval(move["bn"] / move["plain"]),
        "accuracy_noisy_bn_minus_bn": paired(acc["noisy-bn"], acc["bn"]),
        "accuracy_noisy_plain_minus_plain": paired(acc["noisy-plain"], acc["plain"]),
        "accuracy_noisy_bn_minus_plain": paired(acc["noisy-bn"], acc["plain"]),
    }
    return result


def _percentile_experiment(name, variants, seed, scale, dataset_name, overrides) -> PercentilesResult:
    seed = check_seed(seed)
    cfg = resolve_settings(name, PERCENTILE_SETTINGS, check_scale(scale), overrides)
    lr, target = _check_lr(cfg["lr"]), cfg["target"]
    if isinstance(target, bool) or not isinstance(target, int | float) or not 0 < target <= 1:
        raise ValueError(f"target must be an accuracy in (0, 1]; got {target!r}")
    with single_thread():
        runs = _percentile_runs(variants, seed, cfg["seeds"], cfg["steps"], lr, cfg["eval_every"],
                                cfg["record_every"], target, _load_data(dataset_name))
    params = {"seed": seed, "scale": scale, "dataset": dataset_name, "batch_size": _BATCH,
              "probe_batch": _PROBE, "variants": list(variants), **cfg}
    return PercentilesResult(name, params=params, summary=_summarise_percentiles(runs, cfg["steps"]),
                             data={"runs": runs})


# ------------------------------------------------------- gradient ICS, landscape

#: Settings of ``ics-gradient`` and ``landscape`` per scale (any can be overridden);
#: ``stages_per_lr`` (a dict ``lr -> stages``) replaces ``stages`` when given.
PROBE_SETTINGS = {
    "book": {"seeds": 3, "lrs": (0.1, 1.0), "stages": (0, 100, 300, 800), "stages_per_lr": None},
    "full": {"seeds": 10, "lrs": (0.1, 1.0), "stages": (0, 100, 300, 1000, 3000), "stages_per_lr": None},
}


def _check_stages(stages, default) -> tuple:
    stages = default if stages is None else stages
    if (isinstance(stages, str) or not hasattr(stages, "__iter__") or not stages
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in stages)):
        raise ValueError(f"stages must be a non-empty sequence of steps >= 0; got {stages!r}")
    return tuple(sorted(set(stages)))


class ProbeResult(Result):
    """Result of ``ics-gradient``, ``landscape`` and :func:`probe_training`; one figure per measure.

    Each figure is a :func:`bnlearn.plots.stage_comparison`: plain against BN
    at every learning rate and stage, with intervals over seeds.
    """

    #: Figure name -> (the measure it needs, the summary keys it shows with their panel titles).
    FIGURES = {
        "gradient-shift": ("ics-gradient", {"l2": r"$\|G - G'\|$", "cosine": r"$\cos(G, G')$",
                                            "relative": r"$\|G - G'\| / \|G\|$"}),
        "loss-landscape": ("landscape", {"loss_range": "loss range along the step",
                                         "grad_change": "largest gradient change",
                                         "beta": r"effective $\beta$-smoothness"}),
    }

    def figure_names(self) -> list[str]:
        """The names of the figures this result can draw (those of the measures taken)."""
        return [name for name, (measure, _) in self.FIGURES.items() if measure in self.params["measures"]]

    def _draw(self, name: str):
        """Draw the figure ``name`` (see :attr:`FIGURES`); :meth:`figure` checks the name."""
        from .. import plots

        titles = self.FIGURES[name][1]
        return plots.stage_comparison(self.summary, list(titles), titles=titles)


def probe_training(*, seed: int = 0, scale: str = "book", dataset: str = "digits", progress: bool = False,
                   measures=("ics-gradient", "landscape"), **overrides) -> ProbeResult:
    """Train the MLP without and with BN and probe it at chosen steps (shared by
    :func:`ics_gradient` and :func:`landscape`, which it can run on the same training runs).

    Parameters
    ----------
    seed : int, default 0
        First seed; the scale's seeds are ``bnlearn.seed_range(seed, seeds)``.
    scale : {"book", "full"}, default "book"
        :data:`PROBE_SETTINGS`: ``"book"``: 3 seeds, learning rates 0.1 and
        1.0, stages (0, 100, 300, 800); ``"full"``: 10 seeds, stages up to 3,000.
    dataset : {"digits", "mnist"}, default "digits"
        The images.
    progress : bool, default False
        Accepted for the command line (no bar is shown).
    measures : sequence of str, default ("ics-gradient", "landscape")
        Which probes to take at each stage.
    **overrides
        Settings to change: ``seeds``, ``lrs`` (each its own training runs),
        ``stages`` (steps at which to probe) or ``stages_per_lr`` (a dict
        ``lr -> stages``).

    Returns
    -------
    ProbeResult
        ``data["runs"]["plain@LR"]`` and ``["bn@LR"]``: per seed, the accuracy
        curve and each stage's measurements; ``summary["lr=LR, step=T"]``:
        for each measured quantity, intervals over seeds for plain and BN and
        the paired difference BN minus plain with its verdict, and the test
        accuracy at that step.
    """
    seed = check_seed(seed)
    if isinstance(measures, str) or not measures or any(m not in _MEASURES for m in measures):
        raise ValueError(f"measures must be a non-empty sequence from {tuple(_MEASURES)}; got {measures!r}")
    cfg = resolve_settings("+".join(measures), PROBE_SETTINGS, check_scale(scale), overrides)
    lrs, stages = cfg["lrs"], cfg["stages_per_lr"] or cfg["stages"]
    data = _load_data(dataset)
    if isinstance(lrs, int | float):
        lrs = (lrs,)
    lrs = tuple(_check_lr(lr) for lr in lrs)
    if not lrs:
        raise ValueError("lrs must hold at least one learning rate; got an empty sequence")
    if isinstance(stages, Mapping):
        if set(map(float, stages)) != set(lrs):
            raise ValueError(f"stages given per learning rate must name exactly the lrs {lrs}; got keys {sorted(stages)}")
        stage_of = {float(k): _check_stages(v, None) for k, v in stages.items()}
    else:
        common = _check_stages(stages, cfg["stages"])
        stage_of = {lr: common for lr in lrs}
    runs: dict = {}
    with single_thread():
        for lr in lrs:
            for variant in ("plain", "bn"):
                per_seed = []
                for s in seed_range(seed, cfg["seeds"]):
                    found: dict = {}

                    def hook(model, xb, yb, t, lr=lr, found=found):
                        closure = lambda: nn.functional.cross_entropy(model(xb), yb)  # noqa: E731
                        found[t] = {}
                        for m in measures:
                            found[t].update(_MEASURES[m][0](model, closure, lr))

                    hooks = {t: (lambda m, xb, yb, t=t: hook(m, xb, yb, t)) for t in stage_of[lr]}
                    last = max(stage_of[lr])
                    curve = _run(variant, s, last, lr, data, eval_every=max(1, last // 20), hooks=hooks)
                    per_seed.append({"curve": curve, "stages": {t: found[t] for t in stage_of[lr]}})
                runs[f"{variant}@{lr:g}"] = per_seed
    summary: dict = {}
    keys = [k for m in measures for k in _MEASURES[m][1]]
    for lr in lrs:
        for t in stage_of[lr]:
            cell = {}
            for key in keys:
                vals = {v: [r["stages"][t][key] for r in runs[f"{v}@{lr:g}"]] for v in ("plain", "bn")}
                cell[key] = {"plain": interval(vals["plain"]), "bn": interval(vals["bn"]),
                             "bn_minus_plain": paired(vals["bn"], vals["plain"])}
            cell["accuracy"] = {v: interval([_acc_at(r["curve"], t) for r in runs[f"{v}@{lr:g}"]])
                                for v in ("plain", "bn")}
            summary[f"lr={lr:g}, step={t}"] = cell
    config = {"seed": seed, "scale": scale, "measures": list(measures), "lrs": list(lrs),
              "stages_per_lr": {f"{lr:g}": list(stage_of[lr]) for lr in lrs}, "seeds": cfg["seeds"],
              "batch_size": _BATCH, "landscape_multipliers": list(LANDSCAPE_MULTIPLIERS)}
    name = measures[0] if len(measures) == 1 else "+".join(measures)
    config["dataset"] = dataset
    return ProbeResult(name, params=config, summary=summary, data={"runs": runs})


def _acc_at(curve, step):
    """Test accuracy at the last evaluation at or before ``step``."""
    best = curve["accuracy"][0]
    for s, a in zip(curve["steps"], curve["accuracy"]):
        if s <= step:
            best = a
    return best


def _ics_measure(model, closure, lr):
    ics = diagnostics.gradient_ics(model, closure, lr)
    # the first layer has no earlier layer (its shift is 0 by definition): average the others
    return {"l2": float(ics.l2[1:].mean()), "cosine": float(ics.cosine[1:].mean()),
            "relative": float(ics.relative[1:].mean()), "layers": ics.to_dict()}


@register("ics-gradient")
def ics_gradient(*, seed: int = 0, scale: str = "book", dataset: str = "digits", progress: bool = False,
                 **overrides) -> ProbeResult:
    """Santurkar et al.'s gradient-based ICS without and with batch norm.

    At each of ``stages`` (steps of training), on the batch of the next
    step, :func:`bnlearn.diagnostics.gradient_ics` measures for every layer
    but the first :math:`\\|G_i - G_i'\\|`, :math:`\\cos(G_i, G_i')` and the
    relative shift :math:`\\|G_i - G_i'\\| / \\|G_i\\|`; the result averages
    them over layers.

    Parameters
    ----------
    seed : int, default 0
        First seed.
    scale : {"book", "full"}, default "book"
        :data:`PROBE_SETTINGS` (as for :func:`probe_training`).
    dataset : {"digits", "mnist"}, default "digits"
        The images.
    progress : bool, default False
        Accepted for the command line.
    **overrides
        ``seeds``, ``lrs``, ``stages``, ``stages_per_lr`` (see :func:`probe_training`).

    Returns
    -------
    ProbeResult
        ``summary["lr=..., step=..."]``: for ``l2``, ``cosine`` and
        ``relative``, intervals over seeds for plain and BN and the paired
        difference BN minus plain (with a verdict), and the test accuracy there.
    """
    return probe_training(seed=seed, scale=scale, dataset=dataset, progress=progress,
                          measures=("ics-gradient",), **overrides)


def _landscape_measure(model, closure, lr):
    probe = diagnostics.landscape_probe(model, closure, [m * lr for m in LANDSCAPE_MULTIPLIERS])
    return {"loss_range": probe.loss_range, "grad_change": probe.max_grad_change,
            "beta": probe.beta_smoothness, "probe": probe.to_dict()}


@register("landscape")
def landscape(*, seed: int = 0, scale: str = "book", dataset: str = "digits", progress: bool = False,
              **overrides) -> ProbeResult:
    """Loss-landscape probes along the gradient without and with batch norm.

    At each stage, on the next step's batch, :func:`bnlearn.diagnostics.landscape_probe`
    moves along the negative gradient by :data:`LANDSCAPE_MULTIPLIERS` times
    the learning rate and reports the loss range, the largest gradient change
    (gradient predictiveness) and the effective :math:`\\beta`-smoothness.

    Parameters
    ----------
    seed : int, default 0
        First seed.
    scale : {"book", "full"}, default "book"
        As for :func:`ics_gradient`.
    dataset : {"digits", "mnist"}, default "digits"
        The images.
    progress : bool, default False
        Accepted for the command line.
    **overrides
        ``seeds``, ``lrs``, ``stages``, ``stages_per_lr`` (see :func:`probe_training`).

    Returns
    -------
    ProbeResult
        ``summary["lr=..., step=..."]``: ``loss_range``,
        ``grad_change`` and ``beta`` for plain and BN with the paired
        difference, and the test accuracy there.
    """
    return probe_training(seed=seed, scale=scale, dataset=dataset, progress=progress,
                          measures=("landscape",), **overrides)


#: Probe name -> (function(model, closure, lr) -> dict, summary keys).
_MEASURES = {"ics-gradient": (_ics_measure, ("l2", "cosine", "relative")),
             "landscape": (_landscape_measure, ("loss_range", "grad_change", "beta"))}


# ----------------------------------------------------------- covariate shift

def covariate_shift_demo(seed: int | None = None, n: int = 400) -> dict:
    """Covariate shift in two dimensions: a linear classifier trained on a narrow slice of inputs.

    Points :math:`x \\in [-3, 3]^2` are labelled by a curved boundary,
    :math:`y = [x_2 > x_1^2 / 3 - 1]`. The "black cats" training set only has
    :math:`x_1 \\in [-1, 1]`, where the boundary is almost flat; the test set
    covers the whole square. Logistic regression (fitted with a few hundred
    steps of gradient descent in NumPy) does well on the slice it saw and
    worse on the shifted inputs, although the rule :math:`P(y | x)` never changed.

    Parameters
    ----------
    seed : int, optional
        Seed of the points; default :func:`bnlearn.base_seed`.
    n : int, default 400
        Points in each set.

    Returns
    -------
    dict
        ``x_train``, ``y_train``, ``x_test``, ``y_test`` (lists), the fitted
        ``w`` and ``b``, and ``train_accuracy``, ``same_slice_accuracy`` (fresh
        points from the training slice) and ``shifted_accuracy`` (whole square).
    """
    seed = check_seed(seed)
    if isinstance(n, bool) or not isinstance(n, int) or n < 10:
        raise ValueError(f"n must be an int >= 10; got {n!r}")
    rng = np.random.default_rng(seed)
    label = lambda x: (x[:, 1] > x[:, 0] ** 2 / 3 - 1).astype(float)  # noqa: E731
    def sample(m, x1_range):
        return np.column_stack([rng.uniform(*x1_range, m), rng.uniform(-3, 3, m)])
    x_tr, x_same, x_te = sample(n, (-1, 1)), sample(n, (-1, 1)), sample(n, (-3, 3))
    y_tr, y_same, y_te = label(x_tr), label(x_same), label(x_te)
    w, b = np.zeros(2), 0.0
    for _ in range(500):                                  # gradient descent on the logistic loss
        p = 1 / (1 + np.exp(-(x_tr @ w + b)))             # sigma(w.x + b)
        w -= 0.5 * x_tr.T @ (p - y_tr) / n                # dL/dw = X^T (p - y) / n
        b -= 0.5 * float(np.mean(p - y_tr))
    acc = lambda x, y: float(np.mean(((x @ w + b) > 0) == (y > 0.5)))  # noqa: E731
    return {"x_train": x_tr.tolist(), "y_train": y_tr.tolist(), "x_test": x_te.tolist(), "y_test": y_te.tolist(),
            "w": w.tolist(), "b": b, "train_accuracy": acc(x_tr, y_tr),
            "same_slice_accuracy": acc(x_same, y_same), "shifted_accuracy": acc(x_te, y_te)}
