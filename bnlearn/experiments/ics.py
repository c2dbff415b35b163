"""Chapter 3's experiments: internal covariate shift, and the evidence about it.

* ``ics-percentiles``: Ioffe and Szegedy's Figure 1 (b, c): the 15th, 50th
  and 85th percentiles of the last hidden sigmoid's input over training,
  without and with batch norm, next to the test-accuracy curves.
* ``noisy-bn``: Santurkar et al.'s test: inject time-varying noise after every
  batch norm (:class:`~bnlearn.diagnostics.CovariateNoise`) and compare
  speed of training and how much the layer input moves per step.
* ``ics-gradient``: Santurkar et al.'s gradient-based ICS
  (:func:`bnlearn.diagnostics.gradient_ics`) without and with BN, at several
  learning rates and stages of training.
* ``landscape``: loss-landscape probes along the gradient
  (:func:`bnlearn.diagnostics.landscape_probe`), likewise.

All run Ioffe and Szegedy's MLP (:func:`bnlearn.models.paper_mlp`: three
sigmoid layers of 100 units) on the digits with plain SGD and batches of 60.
The seeds of a run train side by side as one batched network
(:func:`~bnlearn.experiments.noise.noisy_members`): member ``s`` starts from
the weights of ``paper_mlp(seed=s)`` and takes the batches of
:func:`bnlearn.data.iterate_batches` with seed ``s``, so it is the run of
that seed alone, up to rounding, and a chapter can afford many seeds. The
loop is written out here rather than calling :func:`bnlearn.train.train`
because these measurements happen *inside* training, between steps, and per
member (the gradient-based shift and the landscape probes are those of
:func:`bnlearn.diagnostics.gradient_ics` and
:func:`bnlearn.diagnostics.landscape_probe`, taken for every member at once).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import torch
from torch import nn

from .. import diagnostics, seed_range
from .. import train as _train
from ..data import iterate_batches
from ..ensemble import ParallelLinear
from . import Result, register, resolve_settings
from ._summary import check_scale, check_seed, interval, paired, single_thread
from ._summary import dataset as _load_data
from .noise import VARIANTS, noisy_members

__all__ = ["ics_percentiles", "noisy_bn", "ics_gradient", "landscape", "ics_probes", "probe_training",
           "covariate_shift_demo", "PercentilesResult", "ProbeResult", "LANDSCAPE_MULTIPLIERS", "PERCENTILE_SETTINGS", "PROBE_SETTINGS"]

#: Step sizes of the landscape probes, as multiples of the learning rate.
LANDSCAPE_MULTIPLIERS = (0.5, 1.0, 2.0, 4.0)

_BATCH = 60
_PROBE = 300        # test images in the fixed probe batch of the percentile measurements


def _check_lr(lr):
    if isinstance(lr, bool) or not isinstance(lr, int | float) or not lr > 0:
        raise ValueError(f"learning rates must be positive numbers; got {lr!r}")
    return float(lr)


def _tensors(data):
    """Flat float inputs ``(N, F)`` and labels of the training and test sets."""
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a))  # noqa: E731
    flat = lambda a: t(a).reshape(len(a), -1)                 # noqa: E731
    return flat(data.x_train), t(data.y_train), flat(data.x_test), t(data.y_test)


def _member_losses(model, xb, yb) -> torch.Tensor:
    """Each member's mean cross-entropy on its own batch: ``(B, S, F)``, ``(B, S)`` -> ``(S,)``."""
    logits = model(xb)                                               # (B, S, K)
    b, s, k = logits.shape
    per_example = nn.functional.cross_entropy(logits.reshape(b * s, k), yb.reshape(b * s), reduction="none")
    return per_example.view(b, s).mean(0)                            # L_s = (1/B) sum_i l(f_s(x_is), y_is)


@torch.no_grad()
def _member_accuracy(model, x, y) -> np.ndarray:
    """Each member's accuracy on one data set ``(n, F)``, in the model's current mode: ``(S,)``."""
    pred = model(x[:, None, :].expand(-1, model.members, -1)).argmax(-1)   # (n, S)
    return (pred == y[:, None]).double().mean(0).numpy()


def _run(variant: str, seeds: list, steps: int, lr: float, data, *, eval_every: int,
         hooks: dict[int, Callable] | None = None) -> list:
    """Train one network per seed, side by side (:func:`~bnlearn.experiments.noise.noisy_members`).

    Member ``s`` starts from ``noisy_mlp(variant, seed=seeds[s])`` and takes
    the batches of ``iterate_batches(..., seed=seeds[s])``: the run of that
    seed alone, up to rounding. ``hooks[step](model, xb, yb)`` is called just
    before the update of step ``step + 1`` (so ``hooks[0]`` sees the initial
    networks) with the batches ``(B, S, F)``, ``(B, S)`` that update will use.
    The noise of the noisy variants is drawn from torch's RNG seeded with
    ``seeds[0]`` (the global RNG state is restored afterwards).

    Returns
    -------
    list of dict
        Per seed: the accuracy curve (``steps``, ``accuracy``),
        ``final_accuracy`` and ``final_loss`` (mean of the last 20 training losses).
    """
    x_tr, y_tr, x_te, y_te = _tensors(data)
    model = noisy_members(variant, seeds, in_features=x_tr.shape[1])
    index = np.arange(len(x_tr))
    streams = [iterate_batches(index, index, _BATCH, seed=s, epochs=None) for s in seeds]

    def member_batches():
        while True:
            idx = torch.from_numpy(np.stack([next(st)[0] for st in streams], axis=1))   # (B, S)
            yield x_tr[idx], y_tr[idx]                                  # (B, S, F), (B, S)

    losses = []

    def loss_fn(model, xb, yb):
        member_loss = _member_losses(model, xb, yb)
        losses.append(member_loss.detach().numpy().copy())
        return member_loss.sum()                                        # L = sum_s L_s: S independent steps

    hooks = hooks or {}

    def on_step(step, model, xb, yb):
        if step in hooks:
            hooks[step](model, xb, yb)

    def accuracy(m):
        return {str(k): a for k, a in enumerate(_member_accuracy(m, x_te, y_te))}

    if steps == 0:                      # nothing to train: evaluate and probe the initial networks
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seeds[0])
            model.eval()
            first = accuracy(model)
            model.train()
            on_step(0, model, *next(member_batches()))
        curve_steps, curve_acc = [0], [[first[str(k)] for k in range(len(seeds))]]
    else:
        h = _train.train(model, data, steps=steps, batches=member_batches(), loss_fn=loss_fn,
                         on_step=on_step if hooks else None, evaluate_test=False, lr=lr, seed=seeds[0],
                         eval_every=eval_every, progress=False, stop_on_divergence=False, probe=accuracy)
        curve_steps = h.eval_steps
        curve_acc = [[h.probes[str(k)][t] for k in range(len(seeds))] for t in range(len(curve_steps))]
    acc = np.array(curve_acc)                                            # (T, S)
    last = np.array(losses[-20:]) if losses else np.full((1, len(seeds)), np.nan)
    return [{"steps": list(curve_steps), "accuracy": acc[:, k].tolist(), "final_accuracy": float(acc[-1, k]),
             "final_loss": float(last[:, k].mean())} for k in range(len(seeds))]


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
    seeds = seed_range(seed, n_seeds)
    probe = np.ascontiguousarray(data.x_test[:_PROBE])
    probe_x = torch.from_numpy(probe).reshape(len(probe), -1)
    qs = diagnostics.DEFAULT_PERCENTILES
    record_steps = sorted({t for k in range(0, steps, record_every) for t in (k, k + 1) if t <= steps})
    out = {}
    for variant in variants:
        state = {"unit": [], "pooled": [], "moves": [], "wass": [], "previous": None}

        def record(model, xb, yb, state=state):
            last = model.activation_indices[-1]
            params = list(model.parameters())
            # the recording's own forward pass must not move the running statistics or the noise stream
            with torch.no_grad(), diagnostics._common.preserved(params, [model]), \
                    torch.random.fork_rng(devices=[]):
                a = model[:last](probe_x[:, None, :].expand(-1, model.members, -1)).double().numpy()  # (P, S, D)
            p, n, d = a.shape
            ordered = np.sort(a, axis=0)                                           # each unit's sorted sample
            unit = _sorted_percentiles(ordered, qs)                                # (Q, S, D): per unit
            state["unit"].append(unit)
            pooled = np.sort(ordered.transpose(1, 0, 2).reshape(n, p * d), axis=1).T   # (P D, S)
            state["pooled"].append(_sorted_percentiles(pooled, qs))               # (Q, S)
            step = len(state["unit"]) - 1
            prev = state["previous"]
            if prev is not None and record_steps[step] == record_steps[step - 1] + 1:
                # movement per step: mean over units and percentiles of |q_{t+1} - q_t|
                state["moves"].append(np.abs(unit - state["unit"][-2]).mean(axis=(0, 2)))          # (S,)
                # W1 per unit between equal-size samples: mean_i |a_(i) - b_(i)|, then mean over units
                state["wass"].append(np.abs(ordered - prev).mean(axis=(0, 2)))                   # (S,)
            state["previous"] = ordered

        curves = _run(variant, seeds, steps, lr, data, eval_every=eval_every,
                      hooks={t: record for t in record_steps})
        unit, pooled = np.stack(state["unit"]), np.stack(state["pooled"])    # (R, Q, S, D), (R, Q, S)
        moves, wass = np.array(state["moves"]), np.array(state["wass"])      # (pairs, S)
        out[variant] = [{
            **curve,
            "reach_step": _first_reach(curve, target),
            "record_steps": record_steps,
            "percentiles_unit0": unit[:, :, j, 0].tolist(),                  # (R, Q): a typical sigmoid
            "percentiles_pooled": pooled[:, :, j].tolist(),                  # (R, Q)
            "move_per_step": float(moves[:, j].mean()),
            "wasserstein_per_step": float(wass[:, j].mean()),
        } for j, curve in enumerate(curves)]
    return out


def _sorted_percentiles(ordered: np.ndarray, qs) -> np.ndarray:
    """Percentiles ``qs`` along axis 0 of an array sorted along it, as
    ``numpy.percentile``'s default (linear) method computes them: with
    :math:`h = (N - 1) q / 100`, :math:`x_{(\\lfloor h \\rfloor)} + (h - \\lfloor h \\rfloor)
    (x_{(\\lfloor h \\rfloor + 1)} - x_{(\\lfloor h \\rfloor)})`. Shape ``(Q, *ordered.shape[1:])``."""
    n = ordered.shape[0]
    out = []
    for q in qs:
        h = (n - 1) * q / 100
        lo = int(np.floor(h))
        hi = min(lo + 1, n - 1)
        out.append(ordered[lo] + (h - lo) * (ordered[hi] - ordered[lo]))
    return np.stack(out)


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
    "book": {"seeds": 12, "steps": 500, "eval_every": 20, "record_every": 50, "lr": 1.0, "target": 0.9},
    "full": {"seeds": 20, "steps": 3000, "eval_every": 50, "record_every": 50, "lr": 1.0, "target": 0.9},
}


@register("ics-percentiles")
def ics_percentiles(*, seed: int | None = None, scale: str = "book", dataset: str = "digits", progress: bool = False,
                    **overrides) -> PercentilesResult:
    """Ioffe and Szegedy's Figure 1: accuracy curves and the last hidden sigmoid's input percentiles.

    Trains :func:`~bnlearn.models.paper_mlp` without and with batch norm
    (SGD, ``lr``, batches of 60) and records, on a fixed probe batch of 300
    test images in training mode, the 15th/50th/85th percentiles of the input
    of the last hidden layer's sigmoid, per unit.

    Parameters
    ----------
    seed : int, optional
        Base seed; the scale's seeds are ``bnlearn.seed_range(seed, seeds)``.
        Default :func:`bnlearn.base_seed` (the environment variable ``BNLEARN_SEED``, or 0).
    scale : {"book", "full"}, default "book"
        :data:`PERCENTILE_SETTINGS`: ``"book"``: 12 seeds, 500 steps;
        ``"full"``: 20 seeds, 3,000 steps; both at learning rate 1.0 (both
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
def noisy_bn(*, seed: int | None = None, scale: str = "book", dataset: str = "digits", progress: bool = False,
             **overrides) -> PercentilesResult:
    """Santurkar et al.'s noisy batch norm: does a moving layer input hurt training?

    Four networks (:data:`~bnlearn.experiments.noise.VARIANTS`): plain, BN,
    BN followed by :class:`~bnlearn.diagnostics.CovariateNoise`
    (per-unit shift from U(-1, 1) and scale from U(0.5, 1.5), redrawn every
    step, plus N(0, 0.1^2) per sample), and the same noise without BN.
    Measured as in :func:`ics_percentiles`, plus paired comparisons by seed.

    Parameters
    ----------
    seed : int, optional
        Base seed, as for :func:`ics_percentiles`.
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
    "book": {"seeds": 12, "lrs": (0.1, 1.0), "stages": (0, 100, 300, 800), "stages_per_lr": None},
    "full": {"seeds": 20, "lrs": (0.1, 1.0), "stages": (0, 100, 300, 1000, 3000), "stages_per_lr": None},
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


def probe_training(*, seed: int | None = None, scale: str = "book", dataset: str = "digits", progress: bool = False,
                   measures=("ics-gradient", "landscape"), **overrides) -> ProbeResult:
    """Train the MLP without and with BN and probe it at chosen steps (shared by
    :func:`ics_gradient` and :func:`landscape`, which it can run on the same training runs).

    Parameters
    ----------
    seed : int, optional
        Base seed; the scale's seeds are ``bnlearn.seed_range(seed, seeds)``.
        Default :func:`bnlearn.base_seed` (the environment variable ``BNLEARN_SEED``, or 0).
    scale : {"book", "full"}, default "book"
        :data:`PROBE_SETTINGS`: ``"book"``: 12 seeds, learning rates 0.1 and
        1.0, stages (0, 100, 300, 800); ``"full"``: 20 seeds, stages up to 3,000.
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
    # stages_per_lr is a dict lr -> stages, checked here (the shared rules would read "..._lr" as a learning rate)
    per_lr = overrides.pop("stages_per_lr", None)
    if per_lr is not None and not isinstance(per_lr, Mapping):
        raise TypeError(f"stages_per_lr must be a dict learning rate -> stages, or None; got {per_lr!r}")
    name = measures[0] if len(measures) == 1 else "ics-probes"
    cfg = resolve_settings(name, PROBE_SETTINGS, check_scale(scale), overrides)
    if per_lr is not None:
        cfg["stages_per_lr"] = per_lr
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
    seeds = seed_range(seed, cfg["seeds"])
    with single_thread():
        for lr in lrs:
            for variant in ("plain", "bn"):
                found: dict = {}

                def hook(model, xb, yb, t, lr=lr, found=found):
                    closure = lambda: _member_losses(model, xb, yb)  # noqa: E731  (S,) losses
                    found[t] = [{} for _ in seeds]
                    for m in measures:
                        for k, values in enumerate(_MEASURES[m][0](model, closure, lr)):
                            found[t][k].update(values)

                hooks = {t: (lambda m, xb, yb, t=t: hook(m, xb, yb, t)) for t in stage_of[lr]}
                last = max(stage_of[lr])
                curves = _run(variant, seeds, last, lr, data, eval_every=max(1, last // 20), hooks=hooks)
                runs[f"{variant}@{lr:g}"] = [{"curve": curve, "stages": {t: found[t][k] for t in stage_of[lr]}}
                                             for k, curve in enumerate(curves)]
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
    config["dataset"] = dataset
    return ProbeResult(name, params=config, summary=summary, data={"runs": runs})


def _acc_at(curve, step):
    """Test accuracy at the last evaluation at or before ``step``."""
    best = curve["accuracy"][0]
    for s, a in zip(curve["steps"], curve["accuracy"]):
        if s <= step:
            best = a
    return best


def _member_gradients(closure, params):
    """Each member's losses ``(S,)`` and the gradients of their sum with respect
    to ``params`` (detached), with torch's RNG seeded by 0 during the closure
    (the same noise at every call) and restored afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        with torch.enable_grad():
            losses = closure()
            grads = torch.autograd.grad(losses.sum(), params, allow_unused=True)
    return losses.detach(), [torch.zeros_like(p) if g is None else g.detach() for p, g in zip(params, grads)]


def _per_member_sq(tensors, members: int) -> torch.Tensor:
    """``sum_j ||t_j[s]||^2`` for every member ``s``: ``(S,)`` float64.

    Every parameter of :func:`~bnlearn.experiments.noise.noisy_members` is
    member-major (its first ``S``-th is member 0's), so a reshape to ``(S, -1)``
    separates the members."""
    return sum((t.double().reshape(members, -1) ** 2).sum(1) for t in tensors)


def _member_gradient_ics(model, closure, lr: float) -> list:
    """:func:`bnlearn.diagnostics.gradient_ics` of every member of a
    :func:`~bnlearn.experiments.noise.noisy_members` network, in one pass.

    The members are independent and the loss is the sum of theirs, so the
    gradient of member ``s``'s parameters is member ``s``'s gradient, and
    moving every member's earlier layers at once moves each as
    :func:`~bnlearn.diagnostics.gradient_ics` would; only the norms and
    cosines are taken per member. The parameters and buffers are restored.

    Parameters
    ----------
    model : torch.nn.Sequential
        From :func:`~bnlearn.experiments.noise.noisy_members`, in training mode.
    closure : callable
        ``closure() -> (S,)`` tensor of each member's loss on a fixed batch.
    lr : float
        Step size of the earlier layers' update.

    Returns
    -------
    list of dict
        Per member: ``l2``, ``cosine`` and ``relative`` averaged over the
        layers after the first (the first has no earlier layer, so its shift
        is 0 by definition), and ``layers``: the per-layer values.
    """
    n = model.members
    params = list(model.parameters())
    position = {id(p): k for k, p in enumerate(params)}
    weights = [position[id(m.weight)] for m in model if isinstance(m, ParallelLinear)]
    l2, cos, gnorm = [], [], []
    with diagnostics._common.preserved(params, [model]):
        _, g_all = _member_gradients(closure, params)                    # G for every parameter
        for k in weights:
            with diagnostics._common.preserved(params[:k]):
                with torch.no_grad():
                    for p, g in zip(params[:k], g_all[:k]):
                        p.sub_(lr * g)                                   # W_j' = W_j - lr * grad_j, j < i
                _, (g_new,) = _member_gradients(closure, [params[k]])   # G_i'
            old, new = g_all[k].double().reshape(n, -1), g_new.double().reshape(n, -1)
            l2.append((old - new).norm(dim=1))                           # ||G_i - G_i'|| per member
            n_old, n_new = old.norm(dim=1), new.norm(dim=1)
            c = (old * new).sum(1) / (n_old * n_new)                     # cos(G_i, G_i')
            cos.append(torch.where((n_old > 0) & (n_new > 0), c, torch.full_like(c, float("nan"))))
            gnorm.append(n_old)
    l2, cos, gnorm = (torch.stack(v, 1).numpy() for v in (l2, cos, gnorm))   # (S, L)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = l2 / gnorm
    names = [str(i) for i, m in enumerate(model) if isinstance(m, ParallelLinear)]
    return [{"l2": float(l2[j, 1:].mean()), "cosine": float(cos[j, 1:].mean()),
             "relative": float(rel[j, 1:].mean()),
             "layers": {"layers": names, "l2": l2[j].tolist(), "cosine": cos[j].tolist(),
                        "grad_norm": gnorm[j].tolist(), "relative": rel[j].tolist()}} for j in range(n)]


@register("ics-gradient")
def ics_gradient(*, seed: int | None = None, scale: str = "book", dataset: str = "digits", progress: bool = False,
                 **overrides) -> ProbeResult:
    """Santurkar et al.'s gradient-based ICS without and with batch norm.

    At each of ``stages`` (steps of training), on the batch of the next
    step, :func:`bnlearn.diagnostics.gradient_ics` measures for every layer
    but the first :math:`\\|G_i - G_i'\\|`, :math:`\\cos(G_i, G_i')` and the
    relative shift :math:`\\|G_i - G_i'\\| / \\|G_i\\|`; the result averages
    them over layers.

    Parameters
    ----------
    seed : int, optional
        Base seed, as for :func:`ics_percentiles`.
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


@register("ics-probes")
def ics_probes(*, seed: int | None = None, scale: str = "book", dataset: str = "digits", progress: bool = False,
               **overrides) -> ProbeResult:
    """Both of Santurkar et al.'s probes, gradient-based ICS and the loss landscape, on the same runs.

    :func:`ics_gradient` and :func:`landscape` in one pass: the networks are
    trained once and both measures are taken at each stage (chapter 3 runs this).

    Parameters
    ----------
    seed, scale, dataset, progress, **overrides
        As for :func:`probe_training`.

    Returns
    -------
    ProbeResult
        Named ``"ics-probes"``; draws the figures of both measures.
    """
    return probe_training(seed=seed, scale=scale, dataset=dataset, progress=progress,
                          measures=("ics-gradient", "landscape"), **overrides)


def _member_landscape(model, closure, step_sizes) -> list:
    """:func:`bnlearn.diagnostics.landscape_probe` of every member of a
    :func:`~bnlearn.experiments.noise.noisy_members` network, in one pass.

    Every member moves along its own negative gradient by the same step sizes
    (the members are independent, so this is each member's probe); losses and
    gradient changes are taken per member. The parameters and buffers are restored.

    Parameters
    ----------
    model : torch.nn.Sequential
        From :func:`~bnlearn.experiments.noise.noisy_members`.
    closure : callable
        ``closure() -> (S,)`` tensor of each member's loss on a fixed batch.
    step_sizes : sequence of float
        The :math:`\\eta_k > 0`.

    Returns
    -------
    list of dict
        Per member: ``loss_range``, ``grad_change`` (the largest
        :math:`\\|g - \\nabla L(\\theta - \\eta_k g)\\|`), ``beta`` (the
        effective :math:`\\beta`-smoothness) and ``probe``: the values of
        :meth:`bnlearn.diagnostics.LandscapeProbe.to_dict`.
    """
    n = model.members
    etas = np.array([float(e) for e in step_sizes])
    if etas.size == 0 or not np.all(etas > 0):
        raise ValueError(f"step_sizes must be positive numbers; got {list(step_sizes)!r}")
    params = list(model.parameters())
    losses, changes = [], []
    with diagnostics._common.preserved(params, [model]):
        loss0, g = _member_gradients(closure, params)                    # L(theta), g = grad L(theta)
        for eta in etas:
            with diagnostics._common.preserved(params):
                with torch.no_grad():
                    for p, gp in zip(params, g):
                        p.sub_(eta * gp)                                 # theta - eta g
                loss, g_eta = _member_gradients(closure, params)
            losses.append(loss.double().numpy())
            changes.append(_per_member_sq([a - b for a, b in zip(g, g_eta)], n).sqrt().numpy())  # ||g - g(eta)||
    losses, changes = np.stack(losses, 1), np.stack(changes, 1)         # (S, K)
    loss0 = loss0.double().numpy()
    gnorm = _per_member_sq(g, n).sqrt().numpy()                          # ||g|| per member
    out = []
    for j in range(n):
        every = np.append(losses[j], loss0[j])
        beta = float(np.max(changes[j] / (etas * gnorm[j]))) if gnorm[j] > 0 else float("nan")
        probe = {"step_sizes": etas.tolist(), "loss0": float(loss0[j]), "losses": losses[j].tolist(),
                 "grad_norm": float(gnorm[j]), "grad_change": changes[j].tolist(),
                 "loss_range": float(every.max() - every.min()), "max_grad_change": float(changes[j].max()),
                 "beta_smoothness": beta}
        out.append({"loss_range": probe["loss_range"], "grad_change": probe["max_grad_change"],
                    "beta": beta, "probe": probe})
    return out


def _landscape_measure(model, closure, lr):
    return _member_landscape(model, closure, [m * lr for m in LANDSCAPE_MULTIPLIERS])


@register("landscape")
def landscape(*, seed: int | None = None, scale: str = "book", dataset: str = "digits", progress: bool = False,
              **overrides) -> ProbeResult:
    """Loss-landscape probes along the gradient without and with batch norm.

    At each stage, on the next step's batch, :func:`bnlearn.diagnostics.landscape_probe`
    moves along the negative gradient by :data:`LANDSCAPE_MULTIPLIERS` times
    the learning rate and reports the loss range, the largest gradient change
    (gradient predictiveness) and the effective :math:`\\beta`-smoothness.

    Parameters
    ----------
    seed : int, optional
        Base seed, as for :func:`ics_percentiles`.
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
_MEASURES = {"ics-gradient": (_member_gradient_ics, ("l2", "cosine", "relative")),
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
