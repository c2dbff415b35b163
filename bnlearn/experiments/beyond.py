r"""Chapters 8 and 9's experiments: beyond plain batch norm.

``bn-placement``
    Batch norm before or after the nonlinearity, for ReLU, sigmoid and tanh
    MLPs, each placement at its own best learning rate: steps to a target
    accuracy and final test accuracy, paired by seed.
``small-batch-norms``
    Batch norm, group norm, layer norm and batch renorm in a small conv net
    trained at per-step batch sizes 2 to 64 for a fixed number of examples
    (Wu and He's Figure 1 protocol): test error as deployed.
``non-iid-renorm``
    Training batches drawn from only two classes each: batch norm against
    batch renorm, evaluated with population statistics.
``sync-bn``
    Two processes of ``torch.distributed`` (gloo, CPU), each with a batch of 4:
    per-process batch norm against synchronised batch norm.
``residual-skipinit``
    A deep residual MLP without normalisation, with batch norm, with batch norm
    whose last scale starts at zero, and with SkipInit.
``layernorm-independence``
    Layer norm's output for an example does not depend on its batch-mates or
    on padding; batch norm's does.

Many seeds as one network
-------------------------
Most experiments train :math:`S` seeds of a small network at once:
:func:`bnlearn.models.stack_members` turns the :math:`S` networks into one
(:class:`bnlearn.models.Members`), and :func:`bnlearn.train.train`, the
book's one training loop, trains it on a data set whose every example holds
one image per member (:func:`member_dataset`): member :math:`s` sees the
training set in its own order, so the members are independent runs, and
network :math:`s` of every condition shares its initial weights and its
data order (the comparisons are paired by seed). The test accuracy of every
member is measured by a ``probe`` or after training (:func:`member_accuracy`);
``train``'s own evaluation of the test set, which would count a correct
member-example as one, is switched off (``evaluate_test=False``).

Every interval is :func:`bnlearn.stats.mean_interval` or
:func:`bnlearn.stats.paired` (95%); an interval across zero is "not shown".
"""
from __future__ import annotations

import functools
import math

import numpy as np
import torch

from .. import _validation as _v
from .. import seed_range, stats
from .. import data as _data
from . import Result, Rule, register, resolve_settings

__all__ = ["bn_placement", "small_batch_norms", "non_iid_renorm", "residual_skipinit", "sync_bn", "sync_bn_worker",
           "layernorm_independence", "member_dataset", "member_accuracy", "member_finite",
           "batch_dataset", "SETTINGS", "PlacementResult", "SmallBatchResult", "NonIidResult",
           "ResidualResult", "SyncBnResult", "IndependenceResult", "RESIDUAL_VARIANTS"]

#: The settings of each experiment at each scale (``bnlearn run NAME --scale full``).
#: ``same_batches``: every seed sees the same batches (one copy of the data set,
#: which the full scale's MNIST needs); otherwise each seed has its own order.
SETTINGS = {
    "bn-placement": {
        # 24 seeds x 3 rates as one network per placement; each placement at its best rate, per metric.
        "book": {"seeds": 24, "depth": 4, "width": 32, "batch_size": 32, "steps": 150, "eval_every": 10,
                 "lrs": (0.01, 0.03, 0.1), "target": None, "activations": ("relu", "sigmoid", "tanh"),
                 "same_batches": False, "num_threads": 1},
        "full": {"seeds": 32, "depth": 8, "width": 256, "batch_size": 64, "steps": 5000, "eval_every": 100,
                 "lrs": (0.003, 0.01, 0.03, 0.1, 0.3), "target": None,
                 "activations": ("relu", "sigmoid", "tanh"), "same_batches": True, "num_threads": None},
    },
    "small-batch-norms": {
        # Wu and He's protocol: the same number of examples at every batch size, lr = base_lr * B / 32.
        # The book runs the 8x8 digits: two passes over their 1,347 training images at every batch size.
        "book": {"seeds": 6, "norms": ("batch", "group", "layer", "renorm"),
                 "batch_sizes": (2, 4, 8, 16, 32, 64), "examples": 2688, "base_lr": 0.2, "base_batch": 32,
                 "widths": (8, 16), "group_size": 4, "same_batches": False, "num_threads": 1},
        "full": {"seeds": 5, "norms": ("batch", "group", "layer", "renorm"),
                 "batch_sizes": (2, 4, 8, 16, 32, 64), "examples": 600_000, "base_lr": 0.1, "base_batch": 32,
                 "widths": (32, 64, 64), "group_size": 8, "same_batches": True, "num_threads": None},
    },
    "residual-skipinit": {
        # 6 seeds x 3 rates as one network per variant; each variant at its best rate.
        "book": {"seeds": 6, "blocks": 20, "width": 32, "batch_size": 32, "steps": 200, "eval_every": 20,
                 "lrs": (0.01, 0.03, 0.1), "same_batches": False, "num_threads": 1},
        "full": {"seeds": 16, "blocks": 50, "width": 128, "batch_size": 64, "steps": 5000, "eval_every": 250,
                 "lrs": (0.001, 0.003, 0.01, 0.03, 0.1, 0.3), "same_batches": True, "num_threads": None},
    },
    "sync-bn": {
        # Two processes, 4 examples each; 8 seeds trained as one network in every process.
        "book": {"processes": 2, "seeds": 8, "depth": 2, "width": 64, "batch_size": 4, "steps": 300,
                 "lr": 0.02, "same_batches": False, "timeout": 300},
        "full": {"processes": 2, "seeds": 8, "depth": 3, "width": 256, "batch_size": 4, "steps": 20_000,
                 "lr": 0.02, "same_batches": True, "timeout": 3600},
    },
    "layernorm-independence": {
        "book": {"draws": 20, "batch_size": 8, "padding": 8},
        "full": {"draws": 1000, "batch_size": 32, "padding": 28},
    },
    "non-iid-renorm": {
        # Every step draws one of `batches` distinct batches per member (reshuffled when all are used).
        "book": {"seeds": 16, "depth": 2, "width": 64, "batch_size": 16, "classes_per_batch": 2, "steps": 600,
                 "batches": 600, "lr": 0.02, "same_batches": False, "num_threads": 1},
        "full": {"seeds": 16, "depth": 3, "width": 256, "batch_size": 32, "classes_per_batch": 2,
                 "steps": 5000, "batches": 1000, "lr": 0.02, "same_batches": True, "num_threads": None},
    },
}

#: Target test accuracy of ``bn-placement`` per data set (when ``target`` is None).
PLACEMENT_TARGETS = {"digits": 0.9, "mnist-5k": 0.9, "mnist": 0.97}

#: What the popular advice recommends for each activation.
ADVICE = {"relu": "before", "sigmoid": "after", "tanh": "after"}

_MOMENTUM = 0.9


# ============================================================== shared helpers

@functools.lru_cache(maxsize=3)
def _load(name: str) -> _data.Dataset:
    return _data.load(name)


def _check_seed_progress(name, seed, progress):
    # For direct calls; experiments.run() has checked both already.
    _v.check_int(seed, "seed", name, low=0)
    _v.check_bool(progress, "progress", name)


def member_dataset(ds: _data.Dataset, seeds, *, flat: bool = False, shared: bool = False) -> _data.Dataset:
    """A data set for :class:`bnlearn.models.Members`: every example holds one image per member.

    Member :math:`s` sees the training images in its own order, a permutation
    drawn from ``numpy.random.default_rng([seeds[s], 1])``: example ``i`` of the
    new set holds training image ``perm_s[i]`` in slot ``s``. The test set
    holds every test image in every slot. With ``shared`` (for a network
    stacked with ``shared_input=True``) the images are not copied: every
    member sees the training set in one order, and only the labels get a
    member axis.

    Parameters
    ----------
    ds : bnlearn.data.Dataset
        Images ``(N, 1, H, W)``.
    seeds : sequence of int
        One seed per member, length :math:`S`.
    flat : bool, default False
        Flatten each image to ``(H W,)``.
    shared : bool, default False
        One copy of the images for all members.

    Returns
    -------
    bnlearn.data.Dataset
        ``x_train`` ``(N, S, *item)``, ``y_train`` ``(N, S)``, ``x_test``
        ``(N_test, S, *item)``, ``y_test`` ``(N_test, S)``, with ``item`` the
        image shape ``(1, H, W)`` or ``(H W,)``; with ``shared``, ``x_train``
        ``(N, *item)`` and ``x_test`` ``(N_test, *item)``.
    """
    if not isinstance(ds, _data.Dataset):
        raise TypeError(f"member_dataset needs a bnlearn.data.Dataset; got {type(ds).__name__}")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("member_dataset needs at least one seed")
    x_tr = ds.x_train_flat if flat else ds.x_train
    x_te = ds.x_test_flat if flat else ds.x_test
    n, s = len(x_tr), len(seeds)
    if shared:
        y = np.broadcast_to(ds.y_train[:, None], (n, s)).copy()
        yt = np.broadcast_to(ds.y_test[:, None], (len(x_te), s)).copy()
        return _data.Dataset(ds.name, np.ascontiguousarray(x_tr), y, np.ascontiguousarray(x_te), yt, ds.num_classes)
    perms = [np.random.default_rng([seed, 1]).permutation(n) for seed in seeds]
    x = np.stack([x_tr[p] for p in perms], axis=1)                               # (N, S, *item)
    y = np.stack([ds.y_train[p] for p in perms], axis=1)                         # (N, S)
    xt = np.broadcast_to(x_te[:, None], (len(x_te), s) + x_te.shape[1:]).copy()
    yt = np.broadcast_to(ds.y_test[:, None], (len(x_te), s)).copy()
    return _data.Dataset(ds.name, np.ascontiguousarray(x), np.ascontiguousarray(y), xt, yt, ds.num_classes)


def batch_dataset(ds: _data.Dataset, seeds, *, batches: int, batch_size: int, classes_per_batch=None,
                  flat: bool = True, shared: bool = False) -> _data.Dataset:
    """A data set whose every example is one whole training batch per member.

    With ``classes_per_batch = k``, each batch of member :math:`s` holds
    ``batch_size / k`` images of each of ``k`` classes drawn at random (the
    non-i.i.d. batches of ``non-iid-renorm``); with None, ``batch_size``
    images drawn at random. :func:`bnlearn.train.train` with ``batch_size=1``
    then hands the model one such batch per step, shape ``(1, B, S, *item)``.

    Parameters
    ----------
    ds : bnlearn.data.Dataset
        The images.
    seeds : sequence of int
        One seed per member (the batches of member :math:`s` come from
        ``numpy.random.default_rng([seeds[s], 2])``).
    batches : int
        Number of distinct batches per member.
    batch_size : int
        Images per batch, :math:`B`.
    classes_per_batch : int, optional
        :math:`k`, dividing :math:`B`; None for i.i.d. batches.
    flat : bool, default True
        Flatten each image.
    shared : bool, default False
        Every member gets the batches of ``seeds[0]`` (one copy of the images,
        for a network stacked with ``shared_input=True``).

    Returns
    -------
    bnlearn.data.Dataset
        ``x_train`` ``(batches, B, S, *item)`` (``(batches, B, *item)`` with
        ``shared``), ``y_train`` ``(batches, B, S)``; the test set as in
        :func:`member_dataset`.
    """
    seeds = [int(s) for s in seeds]
    k = ds.num_classes
    if classes_per_batch is not None:
        if not (isinstance(classes_per_batch, int) and 1 <= classes_per_batch <= k
                and batch_size % classes_per_batch == 0):
            raise ValueError(f"classes_per_batch must be an int in 1..{k} that divides batch_size "
                             f"({batch_size}); got {classes_per_batch!r}")
    x_tr = ds.x_train_flat if flat else ds.x_train
    by_class = [np.flatnonzero(ds.y_train == c) for c in range(k)]
    per = None if classes_per_batch is None else batch_size // classes_per_batch
    if per is not None and per > min(len(b) for b in by_class):
        raise ValueError(f"batch_size / classes_per_batch = {per} exceeds the smallest class "
                         f"({min(len(b) for b in by_class)} images)")
    idx = np.empty((batches, batch_size, 1 if shared else len(seeds)), dtype=np.int64)
    for j, seed in enumerate(seeds[:idx.shape[2]]):
        rng = np.random.default_rng([seed, 2])
        for b in range(batches):
            if per is None:
                idx[b, :, j] = rng.choice(len(x_tr), batch_size, replace=False)
            else:
                chosen = rng.choice(k, classes_per_batch, replace=False)
                idx[b, :, j] = np.concatenate([rng.choice(by_class[c], per, replace=False) for c in chosen])
    s = len(seeds)
    x = x_tr[idx[:, :, 0]] if shared else x_tr[idx]                              # (batches, B, [S,] *item)
    y = np.broadcast_to(ds.y_train[idx], (batches, batch_size, s)).copy()
    x_te = ds.x_test_flat if flat else ds.x_test
    if shared:
        xt = np.ascontiguousarray(x_te)
    else:
        xt = np.broadcast_to(x_te[:, None], (len(x_te), s) + x_te.shape[1:]).copy()
    yt = np.broadcast_to(ds.y_test[:, None], (len(x_te), s)).copy()
    return _data.Dataset(ds.name, np.ascontiguousarray(x), np.ascontiguousarray(y), xt, yt, ds.num_classes)


@torch.no_grad()
def member_accuracy(model, x: torch.Tensor, y: torch.Tensor, chunk: int = 1000) -> np.ndarray:
    """Each member's accuracy on ``(x, y)``, in the model's current mode.

    Parameters
    ----------
    model : bnlearn.models.Members
        ``S`` networks.
    x : torch.Tensor
        ``(N, S, *item)`` (``(N, *item)`` for a shared input).
    y : torch.Tensor
        ``(N, S)`` or ``(N,)`` labels.
    chunk : int, default 1000
        Examples per forward pass.

    Returns
    -------
    numpy.ndarray
        ``(S,)`` accuracies in [0, 1].
    """
    s = model.members
    y = y if y.dim() == 2 else y[:, None].expand(-1, s)
    correct = torch.zeros(s, dtype=torch.float64)
    for start in range(0, len(x), chunk):
        pred = model(x[start:start + chunk]).argmax(1)                           # (n, S)
        correct += (pred == y[start:start + chunk]).double().sum(0)
    return (correct / len(x)).numpy()


@torch.no_grad()
def member_finite(model, x: torch.Tensor) -> np.ndarray:
    """Whether each member's outputs on ``x`` are all finite (False: the member diverged), shape ``(S,)``."""
    return torch.isfinite(model(x)).all(dim=1).all(dim=0).numpy()


def _accuracy_probe(x: torch.Tensor, y: torch.Tensor):
    """A ``train`` probe giving every member's test accuracy, ``{"0": a_0, "1": a_1, ...}``."""
    def probe(model):
        return {str(i): float(a) for i, a in enumerate(member_accuracy(model, x, y))}
    return probe


def _steps_to(curves: np.ndarray, steps, target: float) -> np.ndarray:
    """Per row of ``curves`` ``(S, T)``, the first of ``steps`` at which it reaches ``target`` (NaN if never)."""
    out = np.full(len(curves), np.nan)
    for i, row in enumerate(curves):
        hit = np.flatnonzero(row >= target)
        if len(hit):
            out[i] = steps[hit[0]]
    return out


def _interval(values) -> dict:
    return stats.mean_interval(np.asarray(values, dtype=float))


# ============================================================== bn-placement

class PlacementResult(Result):
    """Result of ``bn-placement``; draws ``"curves"`` and ``"verdict"``."""

    def figure_names(self) -> list[str]:
        """``["curves", "verdict"]``: mean test accuracy against steps for both placements of each
        activation (each at its best rate for the final accuracy), and the paired advantages of the
        advised placement with their 95% intervals."""
        return ["curves", "verdict"]

    def _draw(self, name: str):
        import matplotlib.pyplot as plt

        acts = self.params["activations"]
        if name == "curves":
            fig, axes = plt.subplots(1, len(acts), figsize=(4.2 * len(acts), 3.3), squeeze=False, sharey=True)
            steps = np.asarray(self.data["eval_steps"])
            for ax, act in zip(axes[0], acts):
                for pos, color in (("before", "C0"), ("after", "C1")):
                    lr = self.summary[act]["best_lr"][pos]["accuracy"]
                    j = self.params["lrs"].index(lr)
                    curves = np.asarray(self.data["curves"][act][pos][j], dtype=float)       # (S, T)
                    ax.plot(steps, 100 * curves.mean(0), color=color, label=f"BN {pos} (lr {lr:g})")
                    ax.fill_between(steps, 100 * np.percentile(curves, 10, 0), 100 * np.percentile(curves, 90, 0),
                                    color=color, alpha=0.2, lw=0)
                ax.axhline(100 * self.params["target"], color="gray", ls=":", lw=1)
                ax.set_title(act)
                ax.set_xlabel("training step")
                ax.set_ylim(max(0, 100 * self.params["target"] - 40), 100)
                ax.grid(alpha=0.3)
                ax.legend(fontsize=8, loc="lower right")
            axes[0][0].set_ylabel("test accuracy (%)")
            fig.tight_layout()
            return fig
        fig, axes = plt.subplots(1, 2, figsize=(9.2, 1.4 + 0.45 * len(acts)))
        for ax, metric, scale, label in ((axes[0], "steps", 1.0, "steps saved by the advised placement"),
                                         (axes[1], "accuracy", 100.0, "accuracy gained (points)")):
            for i, act in enumerate(acts):
                iv = self.summary[act]["advantage"][metric]
                m, lo, hi = (scale * iv[k] for k in ("mean", "low", "high"))
                color = "C0" if iv["verdict"] == "shown" else "0.6"
                if math.isfinite(lo) and math.isfinite(hi):
                    ax.errorbar(m, i, xerr=[[m - lo], [hi - m]], fmt="o", color=color, capsize=3)
                elif math.isfinite(m):
                    ax.plot(m, i, "o", color=color)
            ax.axvline(0, color="k", lw=0.8)
            ax.set_yticks(range(len(acts)))
            ax.set_yticklabels([f"{a} ({ADVICE[a]})" for a in acts])
            ax.invert_yaxis()
            ax.set_xlabel(label)
            ax.grid(axis="x", alpha=0.3)
        fig.tight_layout()
        return fig

    def verdict_table(self) -> str:
        """The verdict per activation as a text table (means with 95% intervals, paired by seed)."""
        rows = [("activation", "advice", "steps saved", "accuracy gained (points)", "verdict")]
        for act in self.params["activations"]:
            adv = self.summary[act]["advantage"]
            st, ac = adv["steps"], adv["accuracy"]
            rows.append((act, f"BN {ADVICE[act]}",
                         f"{st['mean']:+.1f} [{st['low']:+.1f}, {st['high']:+.1f}]",
                         f"{100 * ac['mean']:+.2f} [{100 * ac['low']:+.2f}, {100 * ac['high']:+.2f}]",
                         self.summary[act]["verdict"]))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def _verdict(steps_iv: dict, acc_iv: dict) -> str:
    """``"supported"`` when one metric shows the advice's advantage and none shows the reverse,
    ``"contradicted"`` for the reverse, ``"not shown"`` otherwise."""
    signs = []
    for iv in (steps_iv, acc_iv):
        if iv["verdict"] == "shown":
            signs.append(1 if iv["mean"] > 0 else -1)
    if signs and all(s > 0 for s in signs):
        return "supported"
    if signs and all(s < 0 for s in signs):
        return "contradicted"
    return "not shown"


@register("bn-placement")
def bn_placement(*, seed: int, scale: str, dataset: str, progress: bool, **overrides) -> PlacementResult:
    """Batch norm before or after the activation (ReLU, sigmoid, tanh), each at its best rate."""
    from .. import models, train

    _check_seed_progress("bn-placement", seed, progress)
    cfg = resolve_settings("bn-placement", SETTINGS["bn-placement"], scale, overrides,
                           rules={"seeds": Rule("int", 2, 1000), "depth": Rule("int", 1, 100)})
    acts = tuple(cfg["activations"])
    bad = [a for a in acts if a not in ADVICE]
    if bad or len(set(acts)) != len(acts):
        raise ValueError(f"bn-placement: activations must be distinct names from {tuple(ADVICE)}; got {acts!r}")
    target = PLACEMENT_TARGETS[dataset] if cfg["target"] is None else cfg["target"]
    if isinstance(target, bool) or not isinstance(target, int | float) or not 0 < target < 1:
        raise ValueError(f"bn-placement: target must be an accuracy in (0, 1) or None; got {target!r}")
    lrs = sorted(float(lr) for lr in cfg["lrs"])
    ds = _load(dataset)
    seeds = seed_range(seed, cfg["seeds"])
    n_s, n_lr = len(seeds), len(lrs)
    # One run per activation and placement: every rate of the grid times every seed as members,
    # member j * S + s training at lrs[j] (SGD's step is linear in the gradient).
    shared = cfg["same_batches"]
    md = member_dataset(ds, seeds * n_lr, shared=shared)
    x_te, y_te = torch.from_numpy(md.x_test), torch.from_numpy(md.y_test)
    in_features = int(np.prod(ds.image_shape))
    probe = _accuracy_probe(x_te, y_te)
    top = max(lrs)
    curves, eval_steps = {}, []
    for act in acts:
        curves[act] = {}
        for pos in ("before", "after"):
            nets = [models.deep_mlp(cfg["depth"], cfg["width"], norm="batch", activation=act, norm_position=pos,
                                    in_features=in_features, seed=s) for s in seeds] * n_lr
            model = models.stack_members(nets, ds.image_shape, lr_multipliers=[lr / top for lr in lrs for _ in seeds],
                                         shared_input=shared)
            h = train.train(model, md, steps=cfg["steps"], batch_size=cfg["batch_size"], evaluate_test=False,
                            optimizer="momentum", momentum=_MOMENTUM, lr=top, seed=seed, eval_every=cfg["eval_every"],
                            progress=progress, desc=f"bn-placement {act} {pos}", probe=probe,
                            num_threads=cfg["num_threads"], stop_on_divergence=False)
            got = np.array([h.probes[str(i)] for i in range(n_s * n_lr)])                # (L S, T)
            curves[act][pos] = [got[j * n_s:(j + 1) * n_s] for j in range(n_lr)]           # L x (S, T)
            eval_steps = h.eval_steps
    summary = {"target": target}
    data = {"eval_steps": eval_steps, "curves": {}, "final_accuracy": {}, "steps_to_target": {}}
    for act in acts:
        final, reach, best = {}, {}, {}
        data["curves"][act], data["final_accuracy"][act], data["steps_to_target"][act] = {}, {}, {}
        for pos in ("before", "after"):
            cs = curves[act][pos]
            fa = np.stack([c[:, -1] for c in cs], axis=1)                                 # (S, L)
            st = np.stack([_steps_to(c, eval_steps, target) for c in cs], axis=1)         # (S, L), NaN: never
            # Best rate per metric: the highest mean final accuracy; the fewest mean steps, a seed
            # that never reached the target counting as one evaluation past the end.
            censored = np.where(np.isnan(st), cfg["steps"] + cfg["eval_every"], st)
            best[pos] = {"accuracy": lrs[int(np.argmax(fa.mean(0)))], "steps": lrs[int(np.argmin(censored.mean(0)))]}
            final[pos] = fa[:, lrs.index(best[pos]["accuracy"])]
            reach[pos] = st[:, lrs.index(best[pos]["steps"])]
            data["curves"][act][pos] = [c.tolist() for c in cs]
            data["final_accuracy"][act][pos] = fa.tolist()
            data["steps_to_target"][act][pos] = st.tolist()
        good, other = ADVICE[act], "after" if ADVICE[act] == "before" else "before"
        adv_steps = stats.paired(reach[other], reach[good])       # steps saved by the advised placement
        adv_acc = stats.paired(final[good], final[other])          # accuracy gained by it
        summary[act] = {
            "advice": good,
            "best_lr": best,
            "final_accuracy": {p: _interval(final[p]) for p in final},
            "steps_to_target": {p: _interval(reach[p]) for p in reach},
            "reached": {p: int(np.sum(~np.isnan(reach[p]))) for p in reach},
            "advantage": {"steps": adv_steps, "accuracy": adv_acc},
            "verdict": _verdict(adv_steps, adv_acc),
        }
    params = {"seed": seed, "scale": scale, "dataset": dataset, **cfg, "activations": list(acts), "lrs": lrs,
              "target": target, "seed_values": seeds, "optimizer": "momentum", "momentum": _MOMENTUM}
    return PlacementResult("bn-placement", params=params, summary=summary, data=data)


# ============================================================== small-batch-norms

#: How each norm is drawn (Wu and He's Figure 1 shows batch norm and group norm).
_NORM_LABELS = {"batch": "batch norm", "group": "group norm", "layer": "layer norm", "renorm": "batch renorm"}


class SmallBatchResult(Result):
    """Result of ``small-batch-norms``; draws ``"error-vs-batch"`` (Wu and He's Figure 1 shape)."""

    def figure_names(self) -> list[str]:
        """``["error-vs-batch"]``: test error as deployed against the per-step batch size, one line
        per norm, the mean over seeds with its 95% interval."""
        return ["error-vs-batch"]

    def _draw(self, name: str):
        import matplotlib.pyplot as plt

        sizes = self.params["batch_sizes"]
        fig, ax = plt.subplots(figsize=(6.4, 3.8))
        for i, norm in enumerate(self.params["norms"]):
            ivs = [self.summary["error"][norm][str(b)] for b in sizes]
            mean = [100 * iv["mean"] for iv in ivs]
            err = [[100 * (iv["mean"] - iv["low"]) for iv in ivs], [100 * (iv["high"] - iv["mean"]) for iv in ivs]]
            ax.errorbar(range(len(sizes)), mean, yerr=err, marker="o", capsize=3, color=f"C{i}",
                        label=_NORM_LABELS.get(norm, norm))
        ax.set_xticks(range(len(sizes)))
        ax.set_xticklabels([str(b) for b in sizes])
        ax.invert_xaxis()                                   # as in Wu and He: large batches on the left
        ax.set_xlabel("batch size per step")
        ax.set_ylabel("test error as deployed (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        return fig


def _norm_builder(norm: str, group_size: int):
    """The ``norm`` argument of :func:`bnlearn.models.small_conv_net` for ``norm``: group norm gets
    groups of ``group_size`` channels, the others come from the registry by name."""
    if norm != "group":
        return norm

    def group(channels: int):
        from ..nn import GroupNorm

        return GroupNorm(max(1, channels // group_size), channels)

    return group


@register("small-batch-norms")
def small_batch_norms(*, seed: int, scale: str, dataset: str, progress: bool, **overrides) -> SmallBatchResult:
    """Batch, group, layer norm and batch renorm at batch sizes 2 to 64 (Wu and He's Figure 1)."""
    from .. import models, train
    from ..nn import precise_bn
    from ..nn.registry import norm_names

    _check_seed_progress("small-batch-norms", seed, progress)
    cfg = resolve_settings("small-batch-norms", SETTINGS["small-batch-norms"], scale, overrides,
                           rules={"seeds": Rule("int", 2, 1000), "examples": Rule("int", 1, 2**31 - 1),
                                  "base_lr": Rule("real", 0.0, 1e6, low_open=True),
                                  "base_batch": Rule("int", 1, 2**31 - 1), "group_size": Rule("int", 1, 4096)})
    norms = tuple(cfg["norms"])
    if not norms or len(set(norms)) != len(norms) or any(n not in norm_names() or n in ("none", "ghost")
                                                         for n in norms):
        raise ValueError(f"small-batch-norms: norms must be distinct names among 'batch', 'group', 'layer', "
                         f"'renorm'; got {norms!r}")
    widths = tuple(cfg["widths"])
    if not widths or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in widths):
        raise ValueError(f"small-batch-norms: widths must be a non-empty tuple of positive ints; got {widths!r}")
    sizes = sorted(int(b) for b in cfg["batch_sizes"])
    if sizes[0] < 2:
        raise ValueError(f"small-batch-norms: batch sizes must be >= 2 (batch statistics need two examples); "
                         f"got {tuple(cfg['batch_sizes'])}")
    ds = _load(dataset)
    if cfg["examples"] < max(sizes):
        raise ValueError(f"small-batch-norms: examples ({cfg['examples']}) must be at least the largest batch "
                         f"size ({max(sizes)}), so that every batch size takes a step")
    seeds = seed_range(seed, cfg["seeds"])
    shared = cfg["same_batches"]
    md = member_dataset(ds, seeds, shared=shared)
    x_tr = torch.from_numpy(md.x_train)
    x_te, y_te = torch.from_numpy(md.x_test), torch.from_numpy(md.y_test)
    h, w = ds.image_shape[1:]
    strides = (2,) * len(widths)
    ema, population, steps_of = {}, {}, {}
    for norm in norms:
        ema[norm], population[norm] = {}, {}
        for b in sizes:
            nets = [models.small_conv_net(_norm_builder(norm, cfg["group_size"]), widths, ds.num_classes,
                                          ds.image_shape[0], strides=strides, input_size=(h, w), seed=s)
                    for s in seeds]
            model = models.stack_members(nets, ds.image_shape, shared_input=shared)
            steps = cfg["examples"] // b                                   # the same examples at every size
            lr = cfg["base_lr"] * b / cfg["base_batch"]                    # the linear scaling rule
            train.train(model, md, steps=steps, batch_size=b, evaluate_test=False, optimizer="momentum",
                        momentum=_MOMENTUM, lr=lr, seed=seed, eval_every=steps, progress=progress,
                        desc=f"small-batch-norms {norm} B={b}", num_threads=cfg["num_threads"],
                        stop_on_divergence=False)
            steps_of[str(b)] = steps
            model.eval()
            ema[norm][str(b)] = member_accuracy(model, x_te, y_te)
            if norm in ("batch", "renorm"):
                precise_bn(model, x_tr)                                    # population statistics
                population[norm][str(b)] = member_accuracy(model, x_te, y_te)
            else:
                population[norm][str(b)] = ema[norm][str(b)]               # no statistics to re-estimate
    summary = {
        "error": {n: {k: _interval(1 - v) for k, v in ema[n].items()} for n in norms},
        "error_population": {n: {k: _interval(1 - v) for k, v in population[n].items()} for n in norms},
        # Paired by seed: how much more error each norm makes than group norm, at each batch size.
        "vs_group": ({n: {str(b): stats.paired(1 - ema[n][str(b)], 1 - ema["group"][str(b)]) for b in sizes}
                      for n in norms if n != "group"} if "group" in norms else {}),
        # Paired by seed: each norm's error at the smallest batch minus at every other batch size.
        "vs_smallest": {n: {str(b): stats.paired(1 - ema[n][str(sizes[0])], 1 - ema[n][str(b)])
                            for b in sizes[1:]} for n in norms},
        "population_vs_ema": {n: {str(b): stats.paired(population[n][str(b)], ema[n][str(b)]) for b in sizes}
                              for n in norms if n in ("batch", "renorm")},
    }
    params = {"seed": seed, "scale": scale, "dataset": dataset, **cfg, "norms": list(norms),
              "batch_sizes": sizes, "widths": list(widths), "strides": list(strides), "steps": steps_of,
              "lrs": {str(b): cfg["base_lr"] * b / cfg["base_batch"] for b in sizes},
              "seed_values": seeds, "optimizer": "momentum", "momentum": _MOMENTUM}
    data = {"accuracy_ema": {n: {k: v.tolist() for k, v in ema[n].items()} for n in norms},
            "accuracy_population": {n: {k: v.tolist() for k, v in population[n].items()} for n in norms}}
    return SmallBatchResult("small-batch-norms", params=params, summary=summary, data=data)


# ============================================================== non-iid-renorm

#: The conditions of ``non-iid-renorm``: (norm, batches drawn from ``classes_per_batch`` classes or i.i.d.).
NON_IID_CONDITIONS = {"BN, 2-class batches": ("batch", True), "renorm, 2-class batches": ("renorm", True),
                      "BN, i.i.d. batches": ("batch", False), "renorm, i.i.d. batches": ("renorm", False)}


class NonIidResult(Result):
    """Result of ``non-iid-renorm``; draws ``"accuracy"``."""

    def figure_names(self) -> list[str]:
        """``["accuracy"]``: test accuracy with population statistics of every condition (a dot per
        seed, the mean with its 95% interval)."""
        return ["accuracy"]

    def _draw(self, name: str):
        import matplotlib.pyplot as plt

        labels = list(self.data["accuracy"])
        fig, ax = plt.subplots(figsize=(6.4, 3.4))
        for i, label in enumerate(labels):
            acc = 100 * np.asarray(self.data["accuracy"][label], dtype=float)
            iv = self.summary["accuracy"][label]
            ax.plot(acc, np.full(len(acc), i) + np.linspace(-0.15, 0.15, len(acc)), ".", color="0.6", ms=4)
            ax.errorbar(100 * iv["mean"], i, xerr=[[100 * (iv["mean"] - iv["low"])], [100 * (iv["high"] - iv["mean"])]],
                        fmt="o", color="C0" if "2-class" in label else "C2", capsize=3)
        ax.set_yticks(range(len(labels)))
        ax.set_yticklabels(labels)
        ax.invert_yaxis()
        ax.set_xlabel("test accuracy with population statistics (%)")
        ax.grid(axis="x", alpha=0.3)
        fig.tight_layout()
        return fig


@register("non-iid-renorm")
def non_iid_renorm(*, seed: int, scale: str, dataset: str, progress: bool, **overrides) -> NonIidResult:
    """Batches of two classes each: batch norm against batch renorm (population statistics)."""
    from .. import models, train
    from ..nn import precise_bn

    _check_seed_progress("non-iid-renorm", seed, progress)
    cfg = resolve_settings("non-iid-renorm", SETTINGS["non-iid-renorm"], scale, overrides,
                           rules={"seeds": Rule("int", 2, 1000), "depth": Rule("int", 1, 100),
                                  "classes_per_batch": Rule("int", 1, 1000), "batches": Rule("int", 1, 10**7)})
    ds = _load(dataset)
    b, k = cfg["batch_size"], cfg["classes_per_batch"]
    if b < 2 or b % k or k > ds.num_classes:
        raise ValueError(f"non-iid-renorm: batch_size ({b}) must be >= 2 and a multiple of classes_per_batch "
                         f"({k}), which must be at most the {ds.num_classes} classes")
    seeds = seed_range(seed, cfg["seeds"])
    shared = cfg["same_batches"]
    md = member_dataset(ds, seeds, flat=True, shared=shared)       # for population statistics and testing
    x_tr = torch.from_numpy(md.x_train)
    x_te, y_te = torch.from_numpy(md.x_test), torch.from_numpy(md.y_test)
    features = int(np.prod(ds.image_shape))
    sets = {skewed: batch_dataset(ds, seeds, batches=cfg["batches"], batch_size=b,
                                  classes_per_batch=k if skewed else None, shared=shared)
            for skewed in (True, False)}
    accuracy, ema = {}, {}
    for label, (norm, skewed) in NON_IID_CONDITIONS.items():
        nets = [models.deep_mlp(cfg["depth"], cfg["width"], norm=norm, in_features=features, seed=s) for s in seeds]
        model = models.stack_members(nets, (features,), shared_input=shared)
        # One example of the data set is one whole batch: train takes one per step.
        train.train(model, sets[skewed], steps=cfg["steps"], batch_size=1, evaluate_test=False,
                    optimizer="momentum", momentum=_MOMENTUM, lr=cfg["lr"], seed=seed, eval_every=cfg["steps"], progress=progress,
                    desc=f"non-iid-renorm {label}", num_threads=cfg["num_threads"], stop_on_divergence=False)
        model.eval()
        ema[label] = member_accuracy(model, x_te, y_te)
        precise_bn(model, x_tr)                                       # population statistics
        accuracy[label] = member_accuracy(model, x_te, y_te)
    labels = list(NON_IID_CONDITIONS)
    summary = {
        "accuracy": {lab: _interval(accuracy[lab]) for lab in labels},
        "accuracy_ema": {lab: _interval(ema[lab]) for lab in labels},
        # Paired by seed.
        "renorm_vs_bn": stats.paired(accuracy[labels[1]], accuracy[labels[0]]),           # 2-class batches
        "bn_cost": stats.paired(accuracy[labels[2]], accuracy[labels[0]]),                # i.i.d. minus 2-class
        "renorm_cost": stats.paired(accuracy[labels[3]], accuracy[labels[1]]),
        "renorm_vs_bn_iid": stats.paired(accuracy[labels[3]], accuracy[labels[2]]),
    }
    params = {"seed": seed, "scale": scale, "dataset": dataset, **cfg, "seed_values": seeds,
              "optimizer": "momentum", "momentum": _MOMENTUM, "conditions": labels}
    return NonIidResult("non-iid-renorm", params=params, summary=summary,
                        data={"accuracy": {k_: v.tolist() for k_, v in accuracy.items()},
                              "accuracy_ema": {k_: v.tolist() for k_, v in ema.items()}})


# ============================================================== residual-skipinit

#: The variants of ``residual-skipinit``: keyword arguments of :func:`bnlearn.models.residual_mlp`.
RESIDUAL_VARIANTS = {
    "no normalisation": {"norm": None},
    "batch norm": {"norm": "batch"},
    "batch norm, last gamma 0": {"norm": "batch", "zero_init_last": True},
    "SkipInit, no normalisation": {"norm": None, "skipinit": True},
}


class ResidualResult(Result):
    """Result of ``residual-skipinit``; draws ``"accuracy-vs-lr"`` and ``"curves"``."""

    def figure_names(self) -> list[str]:
        """``["accuracy-vs-lr", "curves"]``: final test accuracy of every variant against the learning
        rate (mean over seeds, seeds as dots), and the test accuracy during training of every variant
        at its best rate (mean over seeds)."""
        return ["accuracy-vs-lr", "curves"]

    def _draw(self, name: str):
        import matplotlib.pyplot as plt

        lrs = self.params["lrs"]
        fig, ax = plt.subplots(figsize=(6.4, 3.6))
        if name == "accuracy-vs-lr":
            for i, (label, rows) in enumerate(self.data["final_accuracy"].items()):
                acc = 100 * np.asarray(rows, dtype=float)                      # (S, L)
                ax.semilogx(lrs, acc.mean(0), "o-", color=f"C{i}", label=label)
                for j, lr in enumerate(lrs):
                    ax.plot(np.full(len(acc), lr), acc[:, j], ".", color=f"C{i}", alpha=0.35, ms=4)
            ax.set_xlabel("learning rate")
            ax.set_ylabel("final test accuracy (%)")
            ax.set_ylim(0, 100)
            ax.legend(fontsize=8)
        else:
            steps = self.data["eval_steps"]
            for i, (label, rows) in enumerate(self.data["best_curves"].items()):
                acc = 100 * np.asarray(rows, dtype=float)                      # (S, T)
                ax.plot(steps, acc.mean(0), color=f"C{i}", label=f"{label} (lr {self.summary['best_lr'][label]:g})")
            ax.set_xlabel("training step")
            ax.set_ylabel("test accuracy (%)")
            ax.set_ylim(0, 100)
            ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        return fig


@register("residual-skipinit")
def residual_skipinit(*, seed: int, scale: str, dataset: str, progress: bool, **overrides) -> ResidualResult:
    """A deep residual MLP: no norm, batch norm, batch norm with zero last gamma, SkipInit."""
    from .. import models, train

    _check_seed_progress("residual-skipinit", seed, progress)
    cfg = resolve_settings("residual-skipinit", SETTINGS["residual-skipinit"], scale, overrides,
                           rules={"seeds": Rule("int", 2, 1000), "blocks": Rule("int", 1, 1000)})
    lrs = sorted(float(lr) for lr in cfg["lrs"])
    ds = _load(dataset)
    seeds = seed_range(seed, cfg["seeds"])
    n_s, n_lr = len(seeds), len(lrs)
    shared = cfg["same_batches"]
    md = member_dataset(ds, seeds * n_lr, shared=shared)
    x_te, y_te = torch.from_numpy(md.x_test), torch.from_numpy(md.y_test)
    in_features = int(np.prod(ds.image_shape))
    top = max(lrs)
    probe = _accuracy_probe(x_te, y_te)
    final, curves, finite, eval_steps = {}, {}, {}, []
    for label, kwargs in RESIDUAL_VARIANTS.items():
        nets = [models.residual_mlp(cfg["blocks"], cfg["width"], in_features=in_features, seed=s, **kwargs)
                for s in seeds] * n_lr
        model = models.stack_members(nets, ds.image_shape, lr_multipliers=[lr / top for lr in lrs for _ in seeds],
                                     shared_input=shared)
        h = train.train(model, md, steps=cfg["steps"], batch_size=cfg["batch_size"], evaluate_test=False,
                        optimizer="momentum", momentum=_MOMENTUM, lr=top, seed=seed, eval_every=cfg["eval_every"],
                        progress=progress, desc=f"residual-skipinit {label}", probe=probe,
                        num_threads=cfg["num_threads"], stop_on_divergence=False)
        got = np.array([h.probes[str(i)] for i in range(n_s * n_lr)])                    # (L S, T)
        curves[label] = got.reshape(n_lr, n_s, -1)                                        # (L, S, T)
        final[label] = curves[label][:, :, -1].T                                          # (S, L)
        model.eval()
        finite[label] = member_finite(model, x_te[:100]).reshape(n_lr, n_s).T               # (S, L)
        eval_steps = h.eval_steps
    best = {label: lrs[int(np.argmax(acc.mean(0)))] for label, acc in final.items()}
    at_best = {label: final[label][:, lrs.index(best[label])] for label in final}
    none, bn, skip = at_best["no normalisation"], at_best["batch norm"], at_best["SkipInit, no normalisation"]
    gain_bn, gain_skip = stats.paired(bn, none), stats.paired(skip, none)
    summary = {
        "best_lr": best,
        "final_accuracy": {label: _interval(v) for label, v in at_best.items()},
        # Seeds whose network diverged (non-finite outputs) at every rate of the grid.
        "diverged": {label: int(np.sum(~v.any(axis=1))) for label, v in finite.items()},
        "bn_vs_none": gain_bn,
        "skipinit_vs_none": gain_skip,
        "bn_vs_skipinit": stats.paired(bn, skip),
        "zero_gamma_vs_bn": stats.paired(at_best["batch norm, last gamma 0"], bn),
        # The share of batch norm's gain over no normalisation that SkipInit recovers (ratio of mean gains).
        "recovered": float(gain_skip["mean"] / gain_bn["mean"]) if gain_bn["mean"] > 0 else float("nan"),
    }
    params = {"seed": seed, "scale": scale, "dataset": dataset, **cfg, "lrs": lrs, "seed_values": seeds,
              "optimizer": "momentum", "momentum": _MOMENTUM, "variants": list(RESIDUAL_VARIANTS)}
    data = {"eval_steps": eval_steps, "final_accuracy": {label: v.tolist() for label, v in final.items()},
            "finite": {label: v.tolist() for label, v in finite.items()},
            "best_curves": {label: curves[label][lrs.index(best[label])].tolist() for label in final}}
    return ResidualResult("residual-skipinit", params=params, summary=summary, data=data)


# ============================================================== sync-bn

class SyncBnResult(Result):
    """Result of ``sync-bn``; draws ``"accuracy"``."""

    def figure_names(self) -> list[str]:
        """``["accuracy"]``: test accuracy of every seed with per-process batch norm and with
        synchronised batch norm (a line joins the two runs of one seed)."""
        return ["accuracy"]

    def _draw(self, name: str):
        import matplotlib.pyplot as plt

        a = 100 * np.asarray(self.data["accuracy"]["per-process BN"], dtype=float)
        b = 100 * np.asarray(self.data["accuracy"]["SyncBN"], dtype=float)
        p, per = self.params["processes"], self.params["batch_size"]
        fig, ax = plt.subplots(figsize=(5.2, 3.6))
        for u, v in zip(a, b):
            ax.plot([0, 1], [u, v], "-", color="0.7", lw=1)
        ax.plot(np.zeros(len(a)), a, "o", color="C1")
        ax.plot(np.ones(len(b)), b, "o", color="C0")
        ax.set_xticks([0, 1])
        ax.set_xticklabels([f"per-process BN\n(statistics of {per})", f"SyncBN\n(statistics of {p * per})"])
        ax.set_xlim(-0.4, 1.4)
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"{p} processes, {per} examples each")
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        return fig


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _sync_check(cfg: dict, ds: _data.Dataset, seed: int, rank: int, world: int) -> dict | None:
    """One training step of one network, split over the processes: SyncBN against single-process BN
    on the whole batch, and per-process BN against it. Returns the differences on rank 0."""
    import copy

    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from .. import models
    from ..nn import batchnorm_layers, convert_sync_batchnorm

    per = cfg["batch_size"]
    rng = np.random.default_rng([seed, 3])
    idx = rng.choice(len(ds.x_train), per * world, replace=False)                # the same batch on every rank
    x = torch.from_numpy(ds.x_train_flat[idx])
    y = torch.from_numpy(ds.y_train[idx])
    mine = slice(rank * per, (rank + 1) * per)
    net = models.deep_mlp(cfg["depth"], cfg["width"], norm="batch", in_features=x.shape[1], seed=seed)
    out = {}
    for label, sync in (("SyncBN", True), ("per-process BN", False)):
        local = copy.deepcopy(net)
        if sync:
            local = convert_sync_batchnorm(local)
        ddp = DistributedDataParallel(local)
        logits = ddp(x[mine])
        torch.nn.functional.cross_entropy(logits, y[mine]).backward()            # DDP averages the gradients
        parts = [torch.empty_like(logits) for _ in range(world)]
        dist.all_gather(parts, logits.detach())
        if rank == 0:
            ref = copy.deepcopy(net)                                               # one process, the whole batch
            ref_logits = ref(x)
            torch.nn.functional.cross_entropy(ref_logits, y).backward()
            ref_logits = ref_logits.detach()
            pairs = list(zip(batchnorm_layers(local), batchnorm_layers(ref)))       # every batch-norm layer
            out[label] = {
                "logits": float((torch.cat(parts) - ref_logits).abs().max()),
                "running_mean": max(float((a.running_mean - b.running_mean).abs().max()) for (_, a), (_, b) in pairs),
                "running_var": max(float((a.running_var - b.running_var).abs().max()) for (_, a), (_, b) in pairs),
                "gradients": max(float((p.grad - q.grad).abs().max())
                                 for p, q in zip(local.parameters(), ref.parameters())),
            }
    return out if rank == 0 else None


def sync_bn_worker(rank: int, world: int, cfg: dict, dataset: str, seed: int, init_method: str | None,
                   out_path: str | None) -> dict | None:
    """One process of ``sync-bn``: joins the group, checks SyncBN's statistics, trains both ways.

    Launched by :func:`sync_bn` (``torch.multiprocessing.spawn``) or, under
    ``torchrun``, called in every process with ``init_method=None`` (the
    ``env://`` rendezvous that ``torchrun`` sets up).

    Parameters
    ----------
    rank, world : int
        This process's rank and the number of processes.
    cfg : dict
        The experiment's settings.
    dataset : str
        The data set's name.
    seed : int
        The base seed.
    init_method : str or None
        ``"tcp://127.0.0.1:PORT"``, or None for ``env://``.
    out_path : str or None
        Where rank 0 writes its results as JSON (None: only returned).

    Returns
    -------
    dict or None
        Rank 0's results; None on the other ranks.
    """
    import json

    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from .. import models, train
    from ..nn import convert_sync_batchnorm

    torch.set_num_threads(1)
    own_group = not dist.is_initialized()
    if own_group:
        from datetime import timedelta

        dist.init_process_group("gloo", init_method=init_method or "env://", rank=rank, world_size=world,
                                timeout=timedelta(seconds=cfg["timeout"]))
    try:
        ds = _load(dataset)
        check = _sync_check(cfg, ds, seed, rank, world)
        # This process's share of the training set: every world-th image, from the rank-th.
        shard = _data.Dataset(ds.name, ds.x_train[rank::world], ds.y_train[rank::world], ds.x_test, ds.y_test,
                              ds.num_classes)
        seeds = seed_range(seed, cfg["seeds"])
        shared = cfg["same_batches"]
        md = member_dataset(shard, seeds, flat=True, shared=shared)
        x_te, y_te = torch.from_numpy(md.x_test), torch.from_numpy(md.y_test)
        features = int(np.prod(ds.image_shape))
        accuracy, seconds = {}, {}
        for label, sync in (("per-process BN", False), ("SyncBN", True)):
            nets = [models.deep_mlp(cfg["depth"], cfg["width"], norm="batch", in_features=features, seed=s)
                    for s in seeds]
            model = models.stack_members(nets, (features,), shared_input=shared)   # the same weights on every rank
            if sync:
                model = convert_sync_batchnorm(model)
            # DDP also copies rank 0's buffers to the others before each forward: the deployed
            # model is rank 0's, whose running statistics are its own.
            ddp = DistributedDataParallel(model)
            h = train.train(ddp, md, steps=cfg["steps"], batch_size=cfg["batch_size"], evaluate_test=False,
                            optimizer="momentum", momentum=_MOMENTUM, lr=cfg["lr"], seed=seed,
                            eval_every=cfg["steps"], progress=False, stop_on_divergence=False)
            seconds[label] = h.train_seconds
            model.eval()                                                      # as deployed: running statistics
            accuracy[label] = member_accuracy(model, x_te, y_te).tolist()
        result = {"check": check, "accuracy": accuracy, "train_seconds": seconds} if rank == 0 else None
        if rank == 0 and out_path is not None:
            with open(out_path, "w") as f:
                json.dump(result, f)
        return result
    finally:
        if own_group:
            dist.destroy_process_group()


@register("sync-bn", datasets=("mnist-5k", "mnist"))
def sync_bn(*, seed: int, scale: str, dataset: str, progress: bool, **overrides) -> SyncBnResult:
    r"""Two processes with 4 examples each: per-process batch norm against SyncBN.

    ``bnlearn run sync-bn`` starts the processes itself: ``processes`` workers
    of ``torch.multiprocessing`` (spawn), which meet at a free port on
    127.0.0.1 and talk through ``torch.distributed``'s gloo backend on the CPU.
    Each trains its own share of the training set (every ``processes``-th
    image) with ``batch_size`` examples per step, once with per-process batch
    norm and once after :func:`bnlearn.nn.convert_sync_batchnorm`; gradients
    are averaged by ``DistributedDataParallel``. Before training, one step of
    one network checks that SyncBN's outputs, running statistics and
    gradients equal those of single-process batch norm on the whole batch.

    On more machines, or more processes, launch every process with ``torchrun``
    and call the experiment in each; it then joins the group ``torchrun`` set
    up instead of starting processes, and every rank returns rank 0's result::

        # sync_bn.py
        import os
        from bnlearn import experiments
        result = experiments.run("sync-bn")
        if os.environ["RANK"] == "0":
            result.save("results/sync-bn")

        torchrun --nproc_per_node 4 sync_bn.py                       # one machine, 4 processes
        torchrun --nnodes 2 --nproc_per_node 4 --rdzv_backend c10d \
                 --rdzv_endpoint HOST:29500 sync_bn.py               # on each of two machines

    ``batch_size`` is per process; under ``torchrun`` the number of processes
    is ``torchrun``'s (the ``processes`` setting counts the processes that the
    experiment starts itself). A script that calls
    the experiment without ``torchrun`` starts processes with the ``spawn``
    method, which imports the script again in each of them: put the call under
    ``if __name__ == "__main__":``.
    """
    import json
    import os
    import tempfile

    _check_seed_progress("sync-bn", seed, progress)
    cfg = resolve_settings("sync-bn", SETTINGS["sync-bn"], scale, overrides,
                           rules={"processes": Rule("int", 2, 64), "seeds": Rule("int", 2, 1000),
                                  "depth": Rule("int", 1, 100), "batch_size": Rule("int", 2, 2**31 - 1),
                                  "timeout": Rule("int", 10, 86_400)})
    ds = _load(dataset)
    if cfg["batch_size"] * cfg["processes"] > len(ds.x_train) // cfg["processes"]:
        raise ValueError(f"sync-bn: batch_size x processes ({cfg['batch_size']} x {cfg['processes']}) exceeds "
                         f"one process's share of the {len(ds.x_train)} training images")
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:                  # launched by torchrun
        import torch.distributed as dist

        from datetime import timedelta

        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        cfg = {**cfg, "processes": world}
        own_group = not dist.is_initialized()
        if own_group:
            dist.init_process_group("gloo", timeout=timedelta(seconds=cfg["timeout"]))
        try:
            box = [sync_bn_worker(rank, world, cfg, dataset, seed, None, None)]
            dist.broadcast_object_list(box, src=0)                         # every rank returns rank 0's result
            results = box[0]
        finally:
            if own_group:
                dist.destroy_process_group()
    else:
        import torch.multiprocessing as mp

        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "rank0.json")
            mp.spawn(sync_bn_worker, nprocs=cfg["processes"], join=True,
                     args=(cfg["processes"], cfg, dataset, seed, f"tcp://127.0.0.1:{_free_port()}", path))
            with open(path) as f:
                results = json.load(f)
    acc = {k: np.asarray(v) for k, v in results["accuracy"].items()}
    summary = {
        "check": results["check"],
        "accuracy": {k: _interval(v) for k, v in acc.items()},
        # Paired by seed: what synchronising the statistics gains over per-process batch norm.
        "sync_vs_per_process": stats.paired(acc["SyncBN"], acc["per-process BN"]),
        "train_seconds": results["train_seconds"],
    }
    params = {"seed": seed, "scale": scale, "dataset": dataset, **cfg, "seed_values": seed_range(seed, cfg["seeds"]),
              "optimizer": "momentum", "momentum": _MOMENTUM, "backend": "gloo"}
    return SyncBnResult("sync-bn", params=params, summary=summary, data={"accuracy": results["accuracy"]})


# ============================================================== layernorm-independence

class IndependenceResult(Result):
    """Result of ``layernorm-independence``; draws ``"changes"``."""

    def figure_names(self) -> list[str]:
        """``["changes"]``: the largest change of one sequence's normalised tokens when its batch-mates
        are replaced and when padding is added, for layer norm and batch norm (log scale)."""
        return ["changes"]

    def _draw(self, name: str):
        import matplotlib.pyplot as plt

        kinds = ["other batch-mates", "more padding"]
        keys = ["batch_mates", "padding"]
        norms = list(self.summary["largest_change"])
        fig, ax = plt.subplots(figsize=(6.0, 3.4))
        width = 0.8 / len(norms)
        floor = 1e-9                                   # an exact zero drawn at the bottom of the log axis
        for i, norm in enumerate(norms):
            vals = [max(self.summary["largest_change"][norm][k], floor) for k in keys]
            ax.bar(np.arange(len(keys)) + (i - (len(norms) - 1) / 2) * width, vals, width, label=norm,
                   color=f"C{i}")
        ax.set_yscale("log")
        ax.set_ylim(floor / 2, 10)
        ax.set_xticks(range(len(keys)))
        ax.set_xticklabels(kinds)
        ax.set_ylabel("largest change of the output")
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        return fig


@register("layernorm-independence", datasets=("digits", "mnist-5k", "mnist"))
def layernorm_independence(*, seed: int, scale: str, dataset: str, progress: bool,
                           **overrides) -> IndependenceResult:
    """Layer norm's output for a sequence ignores its batch-mates and padding; batch norm's does not.

    Every image is read as a sequence of tokens, one token per row of pixels
    (``H`` tokens of ``W`` features, as a transformer reads a sentence of word
    vectors). A batch of ``batch_size`` test images is normalised by
    :class:`bnlearn.nn.LayerNorm` over each token's features, and by
    :class:`bnlearn.nn.BatchNorm1d` in training mode over the batch and the
    positions (``(N, W, H)``: the tokens are the positions). For the first
    image, the experiment records the largest change of its normalised tokens
    when the other images of the batch are replaced by others, and when
    ``padding`` rows of zeros are appended to every image (the padding a
    batch of sentences of unequal length needs), over ``draws`` random batches.
    """
    from ..nn import BatchNorm1d, LayerNorm

    _check_seed_progress("layernorm-independence", seed, progress)
    cfg = resolve_settings("layernorm-independence", SETTINGS["layernorm-independence"], scale, overrides,
                           rules={"draws": Rule("int", 1, 100_000), "batch_size": Rule("int", 2, 4096),
                                  "padding": Rule("int", 1, 100_000)})
    ds = _load(dataset)
    n, pad = cfg["batch_size"], cfg["padding"]
    if 2 * n - 1 > len(ds.x_test):
        raise ValueError(f"layernorm-independence: batch_size ({n}) needs 2 * batch_size - 1 <= "
                         f"{len(ds.x_test)} test images")
    images = torch.from_numpy(ds.x_test[:, 0])                                   # (N, H, W): H tokens of W features
    length, d = images.shape[1:]
    rng = np.random.default_rng([seed, 4])
    norms = {"layer norm": lambda: LayerNorm(d), "batch norm (training mode)": lambda: BatchNorm1d(d)}

    def apply(norm: str, tokens: torch.Tensor) -> torch.Tensor:
        """Normalise ``(N, L, d)`` tokens; return the first sequence's first ``length`` tokens."""
        layer = norms[norm]()
        with torch.no_grad():
            if norm == "layer norm":
                out = layer(tokens)                                              # over each token's d features
            else:
                out = layer(tokens.transpose(1, 2)).transpose(1, 2)              # over the batch and positions
        return out[0, :length]

    changes = {norm: {"batch_mates": [], "padding": []} for norm in norms}
    for _ in range(cfg["draws"]):
        idx = rng.choice(len(images), 2 * n - 1, replace=False)
        x = images[idx[:n]]
        others = images[np.concatenate([idx[:1], idx[n:]])]                       # the same first image
        padded = torch.cat([x, torch.zeros(n, pad, d)], dim=1)                      # zero tokens appended
        for norm in norms:
            base = apply(norm, x)
            changes[norm]["batch_mates"].append(float((apply(norm, others) - base).abs().max()))
            changes[norm]["padding"].append(float((apply(norm, padded) - base).abs().max()))
    summary = {"largest_change": {k: {kk: max(vv) for kk, vv in v.items()} for k, v in changes.items()},
               "smallest_change": {k: {kk: min(vv) for kk, vv in v.items()} for k, v in changes.items()}}
    params = {"seed": seed, "scale": scale, "dataset": dataset, **cfg, "tokens": int(length), "features": int(d)}
    return IndependenceResult("layernorm-independence", params=params, summary=summary, data={"changes": changes})
