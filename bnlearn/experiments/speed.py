"""Chapter 6's experiments: does batch norm make training faster?

* ``seed-cnn``: a tutorial's CNN comparison as it ran (batch norm at learning
  rate 0.01, none at 0.001), then the fair version: both networks at the same
  learning rates, over a sweep. It needs 28x28 images (mnist-5k, the book's
  default, or MNIST), so that the network is the tutorial's own.
* ``paper-fig1``: Ioffe and Szegedy's Figure 1 network with and without batch
  norm at one learning rate over several seeds (on mnist-5k by default, so
  that the network has the paper's 784 inputs): test accuracy against steps,
  the steps each needs to reach a target accuracy (and their ratio), the
  15th/50th/85th percentiles of one last-hidden-layer sigmoid's input, and
  what a step costs.
* ``lr-sweep``: the largest learning rate that still trains a deep ReLU MLP,
  with and without batch norm.

At the book scale (the 8x8 digits and mnist-5k) each run uses one CPU thread
(``num_threads=1``) unless a setting says otherwise: the networks' operations
are small, and a thread pool on a shared machine mostly waits, so one thread
gives steadier timings and seldom a slower run. On full MNIST torch keeps its
own thread count.
"""
from __future__ import annotations

import math

import numpy as np

from .. import seed_range
from .. import data as _data
from ..stats import mean_interval, paired
from . import Result, Rule, register, resolve_settings

__all__ = ["seed_cnn", "paper_fig1", "lr_sweep", "SeedCnnResult", "PaperFig1Result", "LrSweepResult"]


def _threads(cfg, dataset):
    """One thread for the book's small data sets (digits, mnist-5k) unless a setting says otherwise."""
    return cfg["num_threads"] if cfg["num_threads"] is not None else (1 if dataset != "mnist" else None)


# ============================================================== seed-cnn

SEED_CNN = {
    # The tutorial's network as written, on 28x28 MNIST digits. The book cuts
    # steps, seeds and rates, never the network. Only the final test accuracy
    # is used, so each run evaluates the test set once, at the end. Exactly one
    # of steps and epochs is set (the other None); an epoch is
    # len(x_train) // batch_size steps.
    "book": {"steps": 80, "epochs": None, "batch_size": 32, "seeds": 3, "lrs": (0.001, 0.01, 0.1),
             "article": {"with BN": 0.01, "without BN": 0.001}, "num_threads": None},
    # The tutorial's run: 20 epochs at batch 32 (on "mnist", 20 passes over the
    # 60,000 training images), then the same at every rate of a wider sweep.
    "full": {"steps": None, "epochs": 20, "batch_size": 32, "seeds": 3,
             "lrs": (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0),
             "article": {"with BN": 0.01, "without BN": 0.001}, "num_threads": None},
}

#: seed-cnn's own rules: steps or epochs may be None (exactly one is set).
_SEED_CNN_RULES = {"steps": Rule("int", 1, 2**31 - 1, optional=True),
                   "epochs": Rule("int", 1, 2**31 - 1, optional=True)}


class SeedCnnResult(Result):
    """Result of ``seed-cnn``; it draws one figure, ``"accuracy-vs-lr"``."""

    def figure_names(self) -> list[str]:
        """``["accuracy-vs-lr"]``: final test accuracy against the learning rate."""
        return ["accuracy-vs-lr"]

    def _draw(self, name: str):
        """Accuracy against learning rate, the tutorial's two settings marked
        (:meth:`Result.figure` has checked ``name``)."""
        from .. import plots

        lrs = self.data["lrs"]
        acc = {k: np.array(v, dtype=float) for k, v in self.data["final_accuracy"].items()}
        marks = {}
        for label, lr in self.params["article"].items():
            j = lrs.index(lr)
            marks[f"tutorial: {label}, lr {lr:g}"] = (lr, float(acc[label][:, j].mean()))
        return plots.accuracy_vs_lr(lrs, acc, marks=marks)


@register("seed-cnn", datasets=("mnist-5k", "mnist"))
def seed_cnn(*, seed: int, scale: str, dataset: str, progress: bool, **overrides) -> SeedCnnResult:
    """A tutorial's CNN, with BN at lr 0.01 against without at 0.001, then both at equal rates."""
    import torch

    from .. import models, train
    from .._threads import torch_threads

    cfg = resolve_settings("seed-cnn", SEED_CNN, scale, overrides, rules=_SEED_CNN_RULES)
    if (cfg["steps"] is None) == (cfg["epochs"] is None):
        raise ValueError(f"seed-cnn: give exactly one of steps and epochs (set the other to None); "
                         f"got steps={cfg['steps']!r}, epochs={cfg['epochs']!r}")
    lrs = [float(lr) for lr in cfg["lrs"]]
    for label, lr in cfg["article"].items():
        if lr not in lrs:
            raise ValueError(f"seed-cnn: the tutorial's rate for {label} ({lr}) must be among lrs {lrs}")
    ds = _data.load(dataset)
    steps_per_run = cfg["steps"] or cfg["epochs"] * (len(ds.x_train) // cfg["batch_size"])
    x_test, y_test = torch.from_numpy(ds.x_test), torch.from_numpy(ds.y_test)
    seeds = seed_range(seed, cfg["seeds"])
    final = {"with BN": [], "without BN": []}
    for label, bn in (("without BN", False), ("with BN", True)):
        for s in seeds:
            row = []
            for lr in lrs:
                model = models.seed_cnn(bn, input_shape=ds.image_shape, seed=s)
                # No evaluation during training: the test set is evaluated once, after it.
                train.train(model, ds, steps=steps_per_run, batch_size=cfg["batch_size"], lr=lr, seed=s,
                            eval_every=steps_per_run, evaluate_test=False, progress=progress,
                            desc=f"seed-cnn {label} lr={lr:g} seed={s}", num_threads=_threads(cfg, dataset))
                with torch_threads(_threads(cfg, dataset)):
                    row.append(train.evaluate(model.eval(), x_test, y_test)[0])
            final[label].append(row)
    acc = {k: np.array(v) for k, v in final.items()}  # (seeds, lrs)
    j_bn, j_plain = lrs.index(cfg["article"]["with BN"]), lrs.index(cfg["article"]["without BN"])
    # The tutorial's comparison, paired by seed: acc(BN, 0.01) - acc(plain, 0.001).
    article_gap = paired(acc["with BN"][:, j_bn], acc["without BN"][:, j_plain])
    # The fair one: at every rate, paired by seed.
    fair_gap = {f"{lr:g}": paired(acc["with BN"][:, j], acc["without BN"][:, j])
                for j, lr in enumerate(lrs)}
    # Each network at its own best rate (best of the sweep, per seed).
    best_gap = paired(acc["with BN"].max(axis=1), acc["without BN"].max(axis=1))
    best_lr = {k: [lrs[j] for j in np.argmax(v, axis=1)] for k, v in acc.items()}
    summary = {
        "article": {"with BN": mean_interval(acc["with BN"][:, j_bn]),
                    "without BN": mean_interval(acc["without BN"][:, j_plain]),
                    "gap": article_gap},
        "same_lr_gap": fair_gap,
        "best_lr": best_lr,
        "best_accuracy": {k: mean_interval(v.max(axis=1)) for k, v in acc.items()},
        "best_lr_gap": best_gap,
    }
    params = {"seed": seed, "scale": scale, "dataset": dataset, **cfg, "seed_values": seeds, "lrs": lrs,
              "steps_per_run": steps_per_run}
    return SeedCnnResult("seed-cnn", params=params, summary=summary,
                         data={"lrs": lrs, "final_accuracy": {k: v.tolist() for k, v in acc.items()}})


# ============================================================== paper-fig1

PAPER_FIG1 = {
    # The chapter runs it on mnist-5k (784 inputs): 1,000 steps, 15 passes over its
    # 4,000 training images, by which time every run of either network has
    # passed 90% test accuracy.
    "book": {"steps": 1000, "batch_size": 60, "lr": 2.0, "seeds": 3, "target": None,
             "eval_every": 10, "init_std": 0.1, "unit": 0, "settled_after": 100, "num_threads": None},
    # The paper's setup: MNIST, 50,000 steps, batches of 60.
    "full": {"steps": 50_000, "batch_size": 60, "lr": 2.0, "seeds": 3, "target": None,
             "eval_every": 250, "init_std": 0.1, "unit": 0, "settled_after": 1000, "num_threads": None},
}

#: Default target test accuracy of ``paper-fig1`` per data set. On mnist-5k at
#: the book's settings both networks end near 93%; the plain network passes
#: 90% after 470 to 720 steps, batch norm after 100 to 210 (30 seeds).
PAPER_FIG1_TARGETS = {"digits": 0.95, "mnist-5k": 0.9, "mnist": 0.97}


class PaperFig1Result(Result):
    """Result of ``paper-fig1``; it draws Figure 1(a), ``"accuracy"``, and
    Figure 1(b, c), ``"sigmoid-input"``."""

    def figure_names(self) -> list[str]:
        """``["accuracy", "sigmoid-input"]``: test accuracy against steps (every
        seed), and the percentiles of one sigmoid's input (the first seed)."""
        return ["accuracy", "sigmoid-input"]

    def _draw(self, name: str):
        """Draw ``"accuracy"`` or ``"sigmoid-input"`` (:meth:`Result.figure` has checked ``name``)."""
        from .. import plots

        if name == "accuracy":
            runs = {label: [{"step": np.array(r["eval_steps"]), "accuracy": np.array(r["eval_accuracy"])}
                            for r in runs] for label, runs in self.data["runs"].items()}
            fig = plots.seed_curves(runs, ["accuracy"], titles=["test accuracy"], x_key="step",
                                    xlabel="training step")
            ax = fig.axes[0]
            ax.axhline(self.params["target"], color="gray", ls=":", lw=1)
            ax.set_ylim(0, 1.0)
            return fig
        first = {label: runs[0] for label, runs in self.data["runs"].items()}
        panels = {f"{label} (seed {self.params['seed_values'][0]})": {
            "steps": r["eval_steps"], "low": r["p15"], "median": r["p50"], "high": r["p85"]}
            for label, r in first.items()}
        return plots.percentile_bands(panels)


def _sigmoid_input_summary(runs: list, settled_after: int):
    r"""Per-seed statistics of the percentile curves of one network's sigmoid input.

    Parameters
    ----------
    runs : list of dict
        One run per seed, each with ``"eval_steps"``, ``"p15"``, ``"p50"``, ``"p85"``
        (lists of equal length ``T``).
    settled_after : int
        First step of the "settled" part of training.

    Returns
    -------
    dict or None
        ``{"lowest_median", "median_range", "narrowest_spread"}``, each a
        :func:`~bnlearn.experiments.mean_interval` over seeds of, per seed: the
        lowest median over all evaluations, :math:`\max_t m_t - \min_t m_t` of
        the median :math:`m_t` over evaluations at steps ``>= settled_after``, and
        :math:`\min_t (p_{85,t} - p_{15,t})` over those evaluations. None when
        some seed has no evaluation at or after ``settled_after``.
    """
    lowest, ranges, spreads = [], [], []
    for r in runs:
        steps = np.asarray(r["eval_steps"])
        p15, p50, p85 = (np.asarray(r[k], dtype=float) for k in ("p15", "p50", "p85"))
        late = steps >= settled_after
        if not late.any():
            return None
        lowest.append(float(p50.min()))
        ranges.append(float(np.ptp(p50[late])))
        spreads.append(float((p85 - p15)[late].min()))
    return {"lowest_median": mean_interval(lowest), "median_range": mean_interval(ranges),
            "narrowest_spread": mean_interval(spreads)}


def _percentile_probe(x, index: int, unit: int):
    """A probe returning the 15th, 50th, 85th percentiles of ``model[:index](x)[:, unit]``,
    the input of the activation module at ``index`` for one unit."""
    import torch

    q = torch.tensor([0.15, 0.50, 0.85])

    def probe(model):
        z = model[:index](x)[:, unit]  # the sigmoid's input, one value per example
        p15, p50, p85 = torch.quantile(z, q.to(z.device)).tolist()
        return {"p15": p15, "p50": p50, "p85": p85}

    return probe


@register("paper-fig1", datasets=("mnist-5k", "digits", "mnist"))
def paper_fig1(*, seed: int, scale: str, dataset: str, progress: bool, **overrides) -> PaperFig1Result:
    """Ioffe and Szegedy's Figure 1: steps to a target accuracy with and without BN."""
    import torch

    from .. import models, train

    cfg = resolve_settings("paper-fig1", PAPER_FIG1, scale, overrides)
    target = cfg["target"] if cfg["target"] is not None else PAPER_FIG1_TARGETS[dataset]
    if not 0 < target < 1:
        raise ValueError(f"paper-fig1: target must be an accuracy in (0, 1); got {target!r}")
    if cfg["settled_after"] < 0:
        raise ValueError(f"paper-fig1: settled_after must be a step >= 0; got {cfg['settled_after']!r}")
    ds = _data.load(dataset)
    in_features = int(np.prod(ds.image_shape))
    x_probe = torch.from_numpy(ds.x_test[:1000])
    seeds = seed_range(seed, cfg["seeds"])
    runs = {"without BN": [], "with BN": []}
    for s in seeds:
        for label, bn in (("without BN", False), ("with BN", True)):
            model = models.paper_mlp(bn, in_features=in_features, init_std=cfg["init_std"], seed=s)
            probe = _percentile_probe(x_probe, model.activation_indices[-1], cfg["unit"])
            h = train.train(model, ds, steps=cfg["steps"], batch_size=cfg["batch_size"], lr=cfg["lr"],
                            seed=s, eval_every=cfg["eval_every"], progress=progress, probe=probe,
                            desc=f"paper-fig1 {label} seed={s}", num_threads=_threads(cfg, dataset))
            runs[label].append({
                "seed": s, "eval_steps": h.eval_steps, "eval_accuracy": h.eval_accuracy,
                "eval_loss": h.eval_loss, "steps_to_target": h.steps_to_reach(target),
                "train_seconds": h.train_seconds, "steps": h.steps, "diverged": h.diverged,
                **h.probes,
            })
    reach = {k: [r["steps_to_target"] for r in v] for k, v in runs.items()}
    both = [(b, p) for b, p in zip(reach["with BN"], reach["without BN"]) if b is not None and p is not None]
    # Fraction of the plain network's steps that BN needs, per seed: n_BN / n_plain.
    fractions = [b / p for b, p in both]
    # What a step costs with BN relative to without, per seed (same steps, same machine state).
    cost = [rb["train_seconds"] / rp["train_seconds"]
            for rb, rp in zip(runs["with BN"], runs["without BN"]) if rp["train_seconds"] > 0]
    summary = {
        "target": target,
        "steps_to_target": reach,
        "seeds_reached": {k: sum(x is not None for x in v) for k, v in reach.items()},
        "fraction_of_steps": mean_interval(fractions) if fractions else None,
        "final_accuracy": {k: mean_interval([r["eval_accuracy"][-1] for r in v]) for k, v in runs.items()},
        # Final test accuracy, BN minus plain, paired by seed.
        "final_accuracy_gap": paired([r["eval_accuracy"][-1] for r in runs["with BN"]],
                                     [r["eval_accuracy"][-1] for r in runs["without BN"]]),
        # The percentile curves of the probed sigmoid's input, summarised per network.
        "sigmoid_input": {k: _sigmoid_input_summary(v, cfg["settled_after"]) for k, v in runs.items()},
        "step_cost_ratio": mean_interval(cost) if cost else None,
        "seconds_per_step": {k: mean_interval([r["train_seconds"] / r["steps"] for r in v])
                             for k, v in runs.items()},
    }
    params = {"seed": seed, "scale": scale, "dataset": dataset, **cfg, "seed_values": seeds, "target": target}
    return PaperFig1Result("paper-fig1", params=params, summary=summary, data={"runs": runs})


# ============================================================== lr-sweep

LR_SWEEP = {
    # The grid starts at 2**-3, a rate at which both networks train in every seed
    # tried, so each seed has a largest trainable rate. Only the final accuracy
    # is used, so the book evaluates once, at the end.
    "book": {"depth": 4, "width": 100, "steps": 200, "batch_size": 60, "seeds": 2,
             "lrs": tuple(2.0 ** k for k in range(-3, 7)), "threshold": 0.8, "stop_after": 2,
             "eval_every": 200, "num_threads": None},
    "full": {"depth": 4, "width": 100, "steps": 2000, "batch_size": 60, "seeds": 3,
             "lrs": tuple(2.0 ** k for k in range(-6, 9)), "threshold": 0.9, "stop_after": 3,
             "eval_every": 250, "num_threads": None},
}


class LrSweepResult(Result):
    """Result of ``lr-sweep``; it draws one figure, ``"accuracy-vs-lr"``."""

    def figure_names(self) -> list[str]:
        """``["accuracy-vs-lr"]``: final test accuracy against the learning rate."""
        return ["accuracy-vs-lr"]

    def _draw(self, name: str):
        """Accuracy against learning rate with the "trains" threshold dotted
        (:meth:`Result.figure` has checked ``name``); rates not tried are left out."""
        from .. import plots

        acc = {k: np.array([[math.nan if a is None else a for a in row] for row in v], dtype=float)
               for k, v in self.data["final_accuracy"].items()}
        return plots.accuracy_vs_lr(self.data["lrs"], acc, threshold=self.params["threshold"])


@register("lr-sweep")
def lr_sweep(*, seed: int, scale: str, dataset: str, progress: bool, **overrides) -> LrSweepResult:
    """The largest learning rate that still trains a deep ReLU MLP, with and without BN."""
    from .. import models, train

    cfg = resolve_settings("lr-sweep", LR_SWEEP, scale, overrides)
    lrs = sorted(float(lr) for lr in cfg["lrs"])
    ds = _data.load(dataset)
    in_features = int(np.prod(ds.image_shape))
    seeds = seed_range(seed, cfg["seeds"])
    final = {"without BN": [], "with BN": []}
    diverged = {"without BN": [], "with BN": []}
    largest = {"without BN": [], "with BN": []}
    for label, norm in (("without BN", None), ("with BN", "batch")):
        for s in seeds:
            row, blew_up, fails, best = [], [], 0, None
            for lr in lrs:
                # Rates are tried upwards; after `stop_after` failures in a row the
                # larger ones are not run (recorded as None).
                if fails >= cfg["stop_after"]:
                    row.append(None)
                    blew_up.append(None)
                    continue
                model = models.deep_mlp(cfg["depth"], cfg["width"], norm=norm, in_features=in_features, seed=s)
                h = train.train(model, ds, steps=cfg["steps"], batch_size=cfg["batch_size"], lr=lr, seed=s,
                                eval_every=cfg["eval_every"], progress=progress,
                                desc=f"lr-sweep {label} lr={lr:g} seed={s}", num_threads=_threads(cfg, dataset))
                # "Trains": no NaN/inf loss and the test accuracy reaches the threshold.
                ok = not h.diverged and h.final_accuracy >= cfg["threshold"]
                row.append(h.final_accuracy)
                blew_up.append(h.diverged)
                fails = 0 if ok else fails + 1
                if ok:
                    best = lr
            final[label].append(row)
            diverged[label].append(blew_up)
            largest[label].append(best)
    paired = [(b, p) for b, p in zip(largest["with BN"], largest["without BN"]) if b is not None and p is not None]
    # Ratio of the largest trainable rates, per seed; averaged on a log scale.
    log2_ratio = [math.log2(b / p) for b, p in paired]
    summary = {
        "largest_lr": largest,
        "lr_ratio": [b / p for b, p in paired],
        "lr_ratio_geomean": 2.0 ** float(np.mean(log2_ratio)) if log2_ratio else None,
        "log2_lr_ratio": mean_interval(log2_ratio) if log2_ratio else None,
    }
    params = {"seed": seed, "scale": scale, "dataset": dataset, **cfg, "seed_values": seeds, "lrs": lrs}
    return LrSweepResult("lr-sweep", params=params, summary=summary, data={"lrs": lrs, "final_accuracy": final, "diverged": diverged})
