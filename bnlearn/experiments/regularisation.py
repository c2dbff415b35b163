r"""Chapter 7's experiments: batch norm as a regulariser, put to the test.

The popular account says that batch norm regularises because each example is
normalised with the statistics of a random mini-batch (noise), that the
effect is weak, and that it acts only at small batch sizes. Four experiments
test it:

``bn-noise``
    The output for one fixed example across many random sets of batch-mates,
    and how its variance falls with the batch size.
``batch-size-regularisation``
    Training on a small, label-noisy subset while the *normalisation* batch
    size varies (ghost batch norm keeps the SGD batch fixed): train accuracy,
    test accuracy, the gap, and how many wrong labels the network memorises.
``bn-vs-dropout``
    No regularisation, dropout, batch norm, batch norm with dropout.
``eval-statistics``
    Evaluating with batch statistics at test batch sizes from 1 upward,
    against the running (EMA) statistics and population statistics computed
    after training (:func:`bnlearn.nn.precise_bn`).

Statistical design: every comparison trains many independent networks
(:mod:`bnlearn.ensemble` trains them side by side) and is paired by seed:
network :math:`s` of every condition has the same training subset, the same
wrong labels, the same initial weights and the same batch order, so the
difference :math:`d_s = a_s - b_s` removes what the conditions share. The
summary gives the mean difference with a 95% Student-t interval
:math:`\bar d \pm t_{0.975, S-1}\, s_d / \sqrt S`; an interval that contains
0 is reported as ``"not shown"``.
"""
from __future__ import annotations


import numpy as np
import torch

from .. import data as _data
from ..ensemble import EnsembleMLP, member_accuracy, member_loss, member_stream
from ..models import deep_mlp
from ..nn import batchnorm_layers, precise_bn
from ..train import batch_statistics_accuracy, train
from . import Result, mean_interval, register, resolve_settings

__all__ = ["bn_noise", "batch_size_regularisation", "bn_vs_dropout", "eval_statistics",
           "paired_difference", "member_data", "SETTINGS",
           "BnNoiseResult", "BatchSizeRegularisationResult", "BnVsDropoutResult", "EvalStatisticsResult"]

_TRAINING = {"book": {"seeds": 16, "train_size": 256, "label_noise": 0.2, "width": 64, "depth": 2,
                      "batch_size": 32, "steps": 300, "lr": 0.05},
             "full": {"seeds": 64, "train_size": 256, "label_noise": 0.2, "width": 256, "depth": 2,
                      "batch_size": 32, "steps": 1500, "lr": 0.05}}

#: The settings of each experiment at each scale (``bnlearn run NAME --scale full``).
SETTINGS = {
    "bn-noise": {
        "book": {"batch_sizes": (2, 4, 8, 16, 32, 64, 128), "draws": 64, "samples": 32,
                 "width": 64, "depth": 2, "train_steps": 200, "lr": 0.05},
        "full": {"batch_sizes": (2, 4, 8, 16, 32, 64, 128, 256, 512), "draws": 1000, "samples": 50,
                 "width": 256, "depth": 2, "train_steps": 2000, "lr": 0.05},
    },
    "batch-size-regularisation": {
        "book": {**_TRAINING["book"], "ghost_sizes": (2, 4, 8, 16)},
        "full": {**_TRAINING["full"], "ghost_sizes": (2, 4, 8, 16)},
    },
    "bn-vs-dropout": {
        # 32 seeds: BN's effect on the gap and dropout's lead over BN + dropout stay far from 0.
        "book": {**_TRAINING["book"], "seeds": 32, "dropout": 0.3},
        "full": {**_TRAINING["full"], "dropout": 0.3},
    },
    "eval-statistics": {
        # 128 seeds (these networks are cheap to train and evaluate): the population-vs-EMA
        # interval is narrow enough to bound the difference by half a point.
        "book": {**_TRAINING["book"], "seeds": 128, "label_noise": 0.0, "batch_size": 16,
                 "test_batch_sizes": (1, 2, 4, 8, 16, 32, 64, 128, 256)},
        "full": {**_TRAINING["full"], "seeds": 128, "label_noise": 0.0, "batch_size": 16,
                 "test_batch_sizes": (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)},
    },
}


# --------------------------------------------------------------------------- statistics

def paired_difference(a, b) -> dict:
    r"""Paired comparison by seed: the mean of :math:`d_s = a_s - b_s` with its 95% t interval.

    Parameters
    ----------
    a, b : sequence of float
        One value per seed, the same seeds in the same order (length ``S >= 2``).

    Returns
    -------
    dict
        :func:`bnlearn.experiments.mean_interval` of the differences plus
        ``"verdict"``: ``"shown"`` when the interval excludes 0, else ``"not shown"``.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"paired_difference needs two 1-d sequences of the same length; "
                         f"got shapes {a.shape} and {b.shape}")
    if len(a) < 2:
        raise ValueError(f"paired_difference needs at least 2 seeds for an interval; got {len(a)}")
    out = mean_interval(a - b)                                     # d_bar +- t s_d / sqrt(S)
    out["verdict"] = "shown" if (out["low"] > 0 or out["high"] < 0) else "not shown"
    return out


# --------------------------------------------------------------------------- data

def _check_fraction(name, value, high=1.0):
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < high:
        raise ValueError(f"{name} must be a number in [0, {high}); got {value!r}")


def member_data(dataset: _data.Dataset, members: int, train_size: int, label_noise: float = 0.0,
                seed: int = 0) -> dict:
    """One training subset per network, with some labels replaced by wrong ones.

    Network :math:`s` gets ``train_size`` images drawn without replacement from
    ``dataset``'s training set, and each of its labels is, with probability
    ``label_noise``, replaced by a different class drawn uniformly. Everything
    depends on ``(seed, s)`` only, so every condition of an experiment sees
    the same subsets and the same wrong labels.

    Parameters
    ----------
    dataset : bnlearn.data.Dataset
        The images (flattened to ``F`` features).
    members : int
        :math:`S`, the number of networks.
    train_size : int
        Training images per network, in ``2..len(dataset.x_train)``.
    label_noise : float, default 0.0
        Probability that a label is replaced, in [0, 1).
    seed : int, default 0
        Seed of the subsets and the wrong labels.

    Returns
    -------
    dict
        ``x`` ``(S, n, F)`` float32, ``y`` ``(S, n)`` the labels trained on,
        ``y_true`` ``(S, n)`` the correct labels, ``flipped`` ``(S, n)`` bool,
        ``x_test`` ``(N_test, F)``, ``y_test`` ``(N_test,)`` (torch tensors).
    """
    if not isinstance(dataset, _data.Dataset):
        raise TypeError(f"dataset must be a bnlearn.data.Dataset; got {type(dataset).__name__}")
    n_all = len(dataset.x_train)
    if isinstance(train_size, bool) or not isinstance(train_size, int) or not 2 <= train_size <= n_all:
        raise ValueError(f"train_size must be an int in 2..{n_all}; got {train_size!r}")
    _check_fraction("label_noise", label_noise)
    k = dataset.num_classes
    xs, ys, trues, flips = [], [], [], []
    for s in range(members):
        rng = np.random.default_rng([int(seed), s, 7])
        idx = rng.choice(n_all, train_size, replace=False)
        y = dataset.y_train[idx].copy()
        flip = rng.random(train_size) < label_noise
        y[flip] = (y[flip] + rng.integers(1, k, int(flip.sum()))) % k      # a different class, uniform
        xs.append(dataset.x_train_flat[idx])
        ys.append(y)
        trues.append(dataset.y_train[idx])
        flips.append(flip)
    x = torch.from_numpy(np.ascontiguousarray(np.stack(xs)))
    return {"x": x, "y": torch.from_numpy(np.stack(ys)), "y_true": torch.from_numpy(np.stack(trues)),
            "flipped": torch.from_numpy(np.stack(flips)),
            "x_test": torch.from_numpy(np.ascontiguousarray(dataset.x_test_flat)),
            "y_test": torch.from_numpy(dataset.y_test)}


def _load(dataset: str) -> _data.Dataset:
    return _data.load(dataset)


def _train_condition(d: dict, cfg: dict, seed: int, *, norm=None, virtual_batch_size=None,
                     dropout=0.0) -> tuple[EnsembleMLP, dict]:
    """Train ``cfg["seeds"]`` networks under one condition and measure them (eval mode)."""
    sizes = (d["x"].shape[2],) + (cfg["width"],) * cfg["depth"] + (int(d["y_test"].max()) + 1,)
    model = EnsembleMLP(cfg["seeds"], sizes, norm, virtual_batch_size=virtual_batch_size,
                        dropout=dropout, seed=seed)
    steps = cfg["steps"]
    h = train(model, None, steps=steps, loss_fn=member_loss, optimizer="sgd", lr=cfg["lr"], momentum=0.9,
              batches=member_stream(model, d["x"], d["y"], steps=steps, batch_size=cfg["batch_size"], seed=seed),
              seed=seed, evaluate_test=False, eval_every=steps, progress=False, stop_on_divergence=False)
    losses = np.asarray(h.step_loss) / model.members                          # the members' mean loss
    model.eval()
    with torch.no_grad():
        pred = model(d["x"].transpose(0, 1)).argmax(-1).T                     # (S, n)
    train_acc = (pred == d["y"]).double().mean(1).numpy()
    flipped = d["flipped"]
    test_acc = member_accuracy(model, d["x_test"], d["y_test"])
    out = {"train_accuracy": train_acc, "test_accuracy": test_acc, "gap": train_acc - test_acc,
           "final_loss": float(np.mean(losses[-10:]))}
    if bool((flipped.sum(1) > 0).all()):
        # Memorised: of the wrongly labelled training images, the fraction predicted as the wrong label.
        out["memorised"] = (((pred == d["y"]) & flipped).sum(1) / flipped.sum(1)).double().numpy()
    return model, out


def _summarise(runs: dict, reference: str) -> dict:
    """Intervals per condition and paired differences against ``reference``
    (``memorised`` only when every network has wrong labels)."""
    summary: dict = {"reference": reference, "conditions": {}, "vs_reference": {}}
    keys = [k for k in ("train_accuracy", "test_accuracy", "gap", "memorised") if k in runs[reference]]
    for name, m in runs.items():
        summary["conditions"][name] = {k: mean_interval(m[k]) for k in keys}
        if name != reference:
            summary["vs_reference"][name] = {k: paired_difference(m[k], runs[reference][k])
                                             for k in keys if k != "train_accuracy"}
    return summary


def _bar(items, progress: bool, desc: str):
    """``items`` wrapped in a progress bar when ``progress`` is true (``tqdm.auto``, a
    widget in notebooks, is imported only then: without ipywidgets it warns)."""
    if not progress:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, leave=False)


def _check_common(seed, progress):
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"seed must be an int; got {seed!r}")
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be True or False; got {progress!r}")


def _check_training_cfg(name: str, cfg: dict) -> None:
    for key in ("seeds", "train_size", "width", "depth", "batch_size", "steps"):
        v = cfg[key]
        if isinstance(v, bool) or not isinstance(v, int) or v < (2 if key == "seeds" else 1):
            raise ValueError(f"{name}: {key} must be an int >= {2 if key == 'seeds' else 1}; got {v!r}")
    if cfg["batch_size"] > cfg["train_size"]:
        raise ValueError(f"{name}: batch_size must not exceed train_size ({cfg['train_size']}); "
                         f"got {cfg['batch_size']}")


# --------------------------------------------------------------------------- bn-noise

#: Values (draws x batch size x features) that one pass of ``bn-noise`` holds at most.
_CHUNK_VALUES = 1 << 22


def _forward_each_batch(model: torch.nn.Sequential, batches: torch.Tensor) -> tuple:
    r"""Run many independent batches through ``model`` in training-mode batch norm, at once.

    ``batches`` is ``(b, R, F)``: ``R`` batches of ``b`` flattened inputs. A
    ``Linear`` layer acts on the last axis; a ``BatchNorm1d`` of ``D`` features
    is applied as :func:`bnlearn.nn.batch_norm` to the ``(b, R D)`` view with its
    ``weight`` and ``bias`` repeated ``R`` times, so batch :math:`r` is normalised
    with its own mean and variance and the running statistics are not touched.

    Returns
    -------
    tuple of torch.Tensor
        Row 0's logits ``(R, K)`` and row 0's normalised values
        :math:`\hat x` in the first batch-norm layer ``(R, D)``.
    """
    from ..nn import batch_norm

    bn_ids = {id(m) for _, m in batchnorm_layers(model)}
    h, z0 = batches, None
    for layer in model:
        if isinstance(layer, torch.nn.Flatten):
            continue
        if id(layer) in bn_ids:
            b, r, dim = h.shape
            x_hat = batch_norm(h.reshape(b, r * dim), None, None, None, None, True, 0.0, layer.eps)
            x_hat = x_hat.view(b, r, dim)                                  # (x - mu_B) / sqrt(var_B + eps)
            if z0 is None:
                z0 = x_hat[0]
            h = x_hat * layer.weight + layer.bias                          # gamma x_hat + beta
        else:
            h = layer(h)
    return h[0], z0


class BnNoiseResult(Result):
    """Result of ``bn-noise``; draws the noise against the batch size (``result.figure(name)``)."""

    def figure_names(self) -> list[str]:
        """``["noise-vs-batch-size"]``."""
        return ["noise-vs-batch-size"]

    def _draw(self, name: str):
        """``"noise-vs-batch-size"``: :func:`bnlearn.plots.noise_vs_batch_size` of the variances
        of the normalised value and the logits, and the flip rate (:meth:`figure` checks the name)."""
        from .. import plots

        d = self.data
        return plots.noise_vs_batch_size(
            d["batch_sizes"], {"normalised value $\\hat x$ (layer 1)": d["z_var"], "output logits": d["logit_var"]},
            d["flip_rate"])


@register("bn-noise")
def bn_noise(*, seed: int = 0, scale: str = "book", dataset: str = "digits", progress: bool = False,
             **overrides) -> BnNoiseResult:
    r"""The output for one fixed example across random batch-mates, and how its variance falls with batch size.

    A ReLU MLP with batch norm (:func:`bnlearn.models.deep_mlp`) is trained
    briefly (:func:`bnlearn.train.train`). Then, in training mode (batch
    statistics, running statistics left untouched), each of ``samples`` test
    images is put in ``draws`` batches of size :math:`B` with :math:`B-1`
    batch-mates drawn at random from the training set. For each :math:`B` the
    result holds, averaged over the fixed images:

    - ``z_var``: the variance across draws of the image's normalised value
      :math:`\hat x = (x - \mu_B) / \sqrt{\sigma_B^2 + \epsilon}` in the first
      batch-norm layer, mean over features;
    - ``logit_var``: the variance across draws of its output logits, mean over classes;
    - ``flip_rate``: the fraction of draws whose predicted class differs from
      the prediction with population (running) statistics.

    ``slope_z`` and ``slope_logit`` are the least-squares slopes of
    :math:`\log \mathrm{var}` against :math:`\log B`; :math:`-1` means
    :math:`\mathrm{var} \propto 1/B`.
    """
    _check_common(seed, progress)
    cfg = resolve_settings("bn-noise", SETTINGS["bn-noise"], scale, overrides)
    sizes = tuple(cfg["batch_sizes"])
    if not sizes or any(isinstance(b, bool) or not isinstance(b, int) or b < 2 for b in sizes):
        raise ValueError(f"bn-noise: batch_sizes must be ints >= 2 (one value per channel has no "
                         f"variance); got {cfg['batch_sizes']!r}")
    ds = _load(dataset)
    if max(sizes) > len(ds.x_train):
        raise ValueError(f"bn-noise: batch sizes must not exceed the {len(ds.x_train)} training images; "
                         f"got {max(sizes)}")
    model = deep_mlp(cfg["depth"], cfg["width"], norm="batch", in_features=int(np.prod(ds.image_shape)),
                     num_classes=ds.num_classes, seed=int(seed))
    hist = train(model, ds, steps=cfg["train_steps"], batch_size=64, optimizer="momentum", lr=cfg["lr"],
                 seed=int(seed), eval_every=cfg["train_steps"], progress=progress)
    model = model.cpu().eval()
    x_train = torch.from_numpy(ds.x_train_flat)
    rng = np.random.default_rng([int(seed), 11])
    picks = rng.choice(len(ds.x_test), cfg["samples"], replace=False)
    fixed = torch.from_numpy(ds.x_test_flat[picks])                              # (P, F)
    p, r = len(fixed), cfg["draws"]
    out = {"batch_sizes": list(sizes), "z_var": [], "logit_var": [], "flip_rate": []}
    with torch.no_grad():
        pop_pred = model(fixed).argmax(1)                                          # population statistics
        for b in _bar(sizes, progress, "bn-noise"):
            # Row 0 of every batch is a fixed image, rows 1..b-1 its random batch-mates.
            mates = torch.from_numpy(np.stack([rng.choice(len(x_train), b - 1, replace=False)
                                               for _ in range(p * r)]))           # (P R, b-1)
            owner = torch.arange(p).repeat_interleave(r)                           # fixed image of each draw
            chunk = max(1, _CHUNK_VALUES // (b * x_train.shape[1]))               # draws per pass
            parts = []
            for start in range(0, p * r, chunk):
                rows = slice(start, start + chunk)
                batches = torch.cat([fixed[owner[rows]][None], x_train[mates[rows]].transpose(0, 1)])
                parts.append(_forward_each_batch(model, batches))                  # (c, K), (c, D)
            logits = torch.cat([lg for lg, _ in parts]).view(p, r, -1)
            z = torch.cat([zz for _, zz in parts]).view(p, r, -1)
            out["z_var"].append(float(z.var(1).mean()))                            # var over draws
            out["logit_var"].append(float(logits.var(1).mean()))
            out["flip_rate"].append(float((logits.argmax(-1) != pop_pred[:, None]).double().mean()))
    logb = np.log(np.asarray(sizes, dtype=np.float64))
    summary = {
        "slope_z": float(np.polyfit(logb, np.log(out["z_var"]), 1)[0]),        # log var = a log B + c
        "slope_logit": float(np.polyfit(logb, np.log(out["logit_var"]), 1)[0]),
        "test_accuracy": hist.final_accuracy,
        "flip_rate": dict(zip(map(str, sizes), out["flip_rate"])),
    }
    params = {"seed": int(seed), "scale": scale, "dataset": dataset, **cfg, "batch_sizes": list(sizes),
              "fixed_test_indices": picks.tolist()}
    return BnNoiseResult("bn-noise", params=params, summary=summary, data=out)


# --------------------------------------------------------------------------- batch-size-regularisation

class BatchSizeRegularisationResult(Result):
    """Result of ``batch-size-regularisation``; draws ghost batch norm against BN (``result.figure(name)``)."""

    def figure_names(self) -> list[str]:
        """``["ghost-vs-bn"]``."""
        return ["ghost-vs-bn"]

    def _draw(self, name: str):
        """``"ghost-vs-bn"``: :func:`bnlearn.plots.paired_intervals` of each ghost size's test
        accuracy and gap minus full-batch BN's, paired by seed (:meth:`figure` checks the name)."""
        from .. import plots

        vs, full = self.summary["vs_reference"], self.params["batch_size"]
        ghosts = [f"ghost-{v}" for v in sorted(self.params["ghost_sizes"])]
        return plots.paired_intervals(
            {f"{key.replace('_', ' ')} vs BN over {full}": {name: vs[name][key] for name in ghosts}
             for key in ("test_accuracy", "gap")})


@register("batch-size-regularisation")
def batch_size_regularisation(*, seed: int = 0, scale: str = "book", dataset: str = "digits",
                              progress: bool = False, **overrides) -> BatchSizeRegularisationResult:
    """Train/test gap as the normalisation batch size shrinks (ghost batch norm), SGD batch fixed.

    ``seeds`` networks per condition, each on its own ``train_size``-image
    subset with ``label_noise`` of its labels wrong. Conditions: batch norm over
    the whole SGD batch (``"bn"``, the reference) and ghost batch norm with
    each of ``ghost_sizes`` (``"ghost-v"``), plus no normalisation
    (``"none"``). Measured per network: accuracy on its training labels, test
    accuracy, the gap between them and, with label noise, ``memorised`` (the
    fraction of wrong training labels it reproduces). The summary pairs each
    condition with ``"bn"`` by seed.
    """
    _check_common(seed, progress)
    cfg = resolve_settings("batch-size-regularisation", SETTINGS["batch-size-regularisation"], scale, overrides)
    _check_training_cfg("batch-size-regularisation", cfg)
    ghost = tuple(cfg["ghost_sizes"])
    for v in ghost:
        if isinstance(v, bool) or not isinstance(v, int) or v < 2 or cfg["batch_size"] % v:
            raise ValueError(f"batch-size-regularisation: each ghost size must be an int >= 2 dividing "
                             f"batch_size={cfg['batch_size']}; got {v!r}")
    d = member_data(_load(dataset), cfg["seeds"], cfg["train_size"], cfg["label_noise"], int(seed))
    conditions = {"none": {}, "bn": {"norm": "batch"}}
    conditions.update({f"ghost-{v}": {"norm": "ghost", "virtual_batch_size": v} for v in sorted(ghost)})
    runs = {}
    for name, kw in _bar(list(conditions.items()), progress, "batch-size-regularisation"):
        runs[name] = _train_condition(d, cfg, int(seed), **kw)[1]
    params = {"seed": int(seed), "scale": scale, "dataset": dataset, **cfg, "ghost_sizes": list(ghost),
              "norm_batch_size": {name: kw.get("virtual_batch_size", cfg["batch_size"] if kw else None)
                                  for name, kw in conditions.items()}}
    return BatchSizeRegularisationResult("batch-size-regularisation", params=params,
                                         summary=_summarise(runs, "bn"),
                                         data={name: {k: v for k, v in m.items()} for name, m in runs.items()})


# --------------------------------------------------------------------------- bn-vs-dropout

class BnVsDropoutResult(Result):
    """Result of ``bn-vs-dropout``; draws each condition against no regularisation (``result.figure(name)``)."""

    def panel(self) -> dict:
        """``{title: {condition: interval}}``: each condition's test accuracy minus that of
        ``"none"``, paired by seed, titled with the label noise (the chapter puts the panels
        of two runs side by side with :func:`bnlearn.plots.paired_intervals`)."""
        noise = self.params["label_noise"]
        labels = "clean labels" if noise == 0 else f"{noise:.0%} wrong labels"
        return {f"test accuracy vs no regularisation\n{labels}": {
            name: diff["test_accuracy"] for name, diff in self.summary["vs_reference"].items()}}

    def figure_names(self) -> list[str]:
        """``["vs-none"]``."""
        return ["vs-none"]

    def _draw(self, name: str):
        """``"vs-none"``: :func:`bnlearn.plots.paired_intervals` of :meth:`panel`
        (:meth:`figure` checks the name)."""
        from .. import plots

        return plots.paired_intervals(self.panel())


@register("bn-vs-dropout")
def bn_vs_dropout(*, seed: int = 0, scale: str = "book", dataset: str = "digits", progress: bool = False,
                  **overrides) -> BnVsDropoutResult:
    """No regularisation, dropout, batch norm, batch norm with dropout: test accuracy and gap over seeds.

    The same training set-up as ``batch-size-regularisation`` (small,
    label-noisy subsets, one per seed). The summary pairs every condition with
    ``"none"`` by seed, and also ``"bn"`` with ``"dropout"`` and
    ``"bn+dropout"`` with ``"dropout"``.
    """
    _check_common(seed, progress)
    cfg = resolve_settings("bn-vs-dropout", SETTINGS["bn-vs-dropout"], scale, overrides)
    _check_training_cfg("bn-vs-dropout", cfg)
    _check_fraction("bn-vs-dropout: dropout", cfg["dropout"])
    if cfg["dropout"] == 0:
        raise ValueError("bn-vs-dropout: dropout must be > 0 to compare with it; got 0")
    d = member_data(_load(dataset), cfg["seeds"], cfg["train_size"], cfg["label_noise"], int(seed))
    conditions = {"none": {}, "dropout": {"dropout": cfg["dropout"]}, "bn": {"norm": "batch"},
                  "bn+dropout": {"norm": "batch", "dropout": cfg["dropout"]}}
    runs = {}
    for name, kw in _bar(list(conditions.items()), progress, "bn-vs-dropout"):
        runs[name] = _train_condition(d, cfg, int(seed), **kw)[1]
    summary = _summarise(runs, "none")
    summary["bn_vs_dropout"] = {k: paired_difference(runs["bn"][k], runs["dropout"][k])
                                for k in ("test_accuracy", "gap")}
    summary["bn+dropout_vs_dropout"] = {k: paired_difference(runs["bn+dropout"][k], runs["dropout"][k])
                                        for k in ("test_accuracy", "gap")}
    params = {"seed": int(seed), "scale": scale, "dataset": dataset, **cfg}
    return BnVsDropoutResult("bn-vs-dropout", params=params, summary=summary, data=runs)


# --------------------------------------------------------------------------- eval-statistics

class EvalStatisticsResult(Result):
    """Result of ``eval-statistics``; draws accuracy against the test batch size (``result.figure(name)``)."""

    def figure_names(self) -> list[str]:
        """``["accuracy-vs-test-batch"]``."""
        return ["accuracy-vs-test-batch"]

    def _draw(self, name: str):
        """``"accuracy-vs-test-batch"``: :func:`bnlearn.plots.accuracy_vs_test_batch` with the
        running (EMA) and population statistics as bands (:meth:`figure` checks the name)."""
        from .. import plots

        sizes, es = self.params["test_batch_sizes"], self.summary
        return plots.accuracy_vs_test_batch(sizes, [es["batch"][str(b)] for b in sizes], es["ema"], es["population"])


@register("eval-statistics")
def eval_statistics(*, seed: int = 0, scale: str = "book", dataset: str = "digits", progress: bool = False,
                    **overrides) -> EvalStatisticsResult:
    """Test accuracy with batch statistics at test batch sizes 1, 2, 4, ..., against EMA and population statistics.

    ``seeds`` networks with batch norm are trained with a small SGD batch.
    Each is then evaluated (1) with the statistics of its test batch, for
    each of ``test_batch_sizes``; (2) with its running (EMA) statistics;
    (3) with population statistics of its own training set computed after
    training (:func:`bnlearn.nn.precise_bn`). The summary pairs
    population against EMA, and each batch size against population, by seed.
    """
    _check_common(seed, progress)
    cfg = resolve_settings("eval-statistics", SETTINGS["eval-statistics"], scale, overrides)
    _check_training_cfg("eval-statistics", cfg)
    d = member_data(_load(dataset), cfg["seeds"], cfg["train_size"], cfg["label_noise"], int(seed))
    sizes = tuple(cfg["test_batch_sizes"])
    if any(isinstance(b, bool) or not isinstance(b, int) or not 1 <= b <= len(d["x_test"]) for b in sizes):
        raise ValueError(f"eval-statistics: test_batch_sizes must be ints in 1..{len(d['x_test'])}; "
                         f"got {cfg['test_batch_sizes']!r}")
    model, m = _train_condition(d, cfg, int(seed), norm="batch")
    ema = m["test_accuracy"]
    batch = {}
    for b in _bar(sizes, progress, "eval-statistics"):
        batch[str(b)] = batch_statistics_accuracy(model, d["x_test"], d["y_test"], b, seed=int(seed))
    precise_bn(model, d["x"].transpose(0, 1))                     # each network over its own subset
    model.eval()
    population = member_accuracy(model, d["x_test"], d["y_test"])
    summary = {
        "ema": mean_interval(ema),
        "population": mean_interval(population),
        "population_vs_ema": paired_difference(population, ema),
        "batch": {b: mean_interval(acc) for b, acc in batch.items()},
        "batch_vs_population": {b: paired_difference(acc, population) for b, acc in batch.items()},
    }
    params = {"seed": int(seed), "scale": scale, "dataset": dataset, **cfg, "test_batch_sizes": list(sizes)}
    return EvalStatisticsResult("eval-statistics", params=params, summary=summary,
                                data={"ema": ema, "population": population, "batch": batch,
                                      "train_accuracy": m["train_accuracy"]})
