"""Matplotlib figures for the book: one function per kind of figure.

Every function returns the :class:`matplotlib.figure.Figure` it drew and never
calls ``plt.show()``; notebooks display the returned figure.
"""
from __future__ import annotations

import matplotlib

matplotlib.rcParams.setdefault("figure.dpi", 100)

__all__: list[str] = []


# --------------------------------------------------------------------------
# Chapter 1: feature scaling
# --------------------------------------------------------------------------
__all__ += ["scaled_scatter", "gd_contours", "scaled_strips", "cancellation_errors"]


def scaled_scatter(panels, labels, feature_names, *, query=None):
    """Scatter two features side by side in several scalings, with equal axis units.

    Equal units on both axes make visible what a Euclidean distance sees: a
    feature with a large spread stretches its axis and dominates.

    Parameters
    ----------
    panels : dict
        Title (``str``) to a ``numpy.ndarray`` of shape ``(N, 2)``.
    labels : numpy.ndarray
        Integer class of each point, shape ``(N,)``; sets the colour.
    feature_names : list
        The two axis labels (``str``).
    query : dict or None
        Title to the index of a point whose nearest neighbours (``(k,)``
        indices under the key ``"neighbours"``) are circled:
        ``{"index": i, "neighbours": array}`` per panel.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per panel.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.8))
    axes = np.atleast_1d(axes)
    for ax, (title, x) in zip(axes, panels.items()):
        ax.scatter(x[:, 0], x[:, 1], c=labels, cmap="coolwarm", s=12, alpha=0.8)
        if query is not None and title in query:
            q = query[title]
            nb = x[q["neighbours"]]
            ax.scatter(nb[:, 0], nb[:, 1], s=90, facecolors="none", edgecolors="k", linewidths=1.2,
                       label="nearest neighbours")
            ax.scatter(*x[q["index"]], marker="*", s=220, c="gold", edgecolors="k", label="query")
            ax.legend(loc="upper right", fontsize=8)
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_title(title)
        ax.set_xlabel(feature_names[0])
        ax.set_ylabel(feature_names[1])
    fig.tight_layout()
    return fig


def gd_contours(problems, *, dims=(0, 1), levels=12):
    """Contours of a quadratic loss with a gradient-descent path, one panel per problem.

    The loss ``f(w) - f* = (w - w*)^T H (w - w*) / 2`` is drawn over the two
    weights ``dims`` with the other weights held at their optimum, and the path
    projected onto the same plane. Axes use equal units in each panel, so the
    elongation of the contours shows the condition number of ``H``.

    Parameters
    ----------
    problems : list of dict
        Each with ``"title"`` (``str``), ``"hessian"`` (``(P, P)`` array),
        ``"w_star"`` (``(P,)`` array) and ``"path"`` (``(K, P)`` array of iterates).
    dims : tuple, optional
        The indices (``int``) of the two weights to draw; default ``(0, 1)``.
    levels : int, optional
        Number of (log-spaced) contour levels; default 12.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per problem.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    i, j = dims
    fig, axes = plt.subplots(1, len(problems), figsize=(4.2 * len(problems), 4.0))
    axes = np.atleast_1d(axes)
    for ax, pb in zip(axes, problems):
        h, w_star, path = np.asarray(pb["hessian"]), np.asarray(pb["w_star"]), np.asarray(pb["path"])
        pts = path[:, [i, j]]
        centre = w_star[[i, j]]
        half = 1.15 * np.abs(pts - centre).max()  # a square window that holds the whole path
        g = np.linspace(-half, half, 200)
        d0, d1 = np.meshgrid(g, g)
        # f - f* = (h_ii d0^2 + 2 h_ij d0 d1 + h_jj d1^2) / 2 on the plane of dims
        excess = 0.5 * (h[i, i] * d0**2 + 2 * h[i, j] * d0 * d1 + h[j, j] * d1**2)
        top = excess.max()
        lv = np.geomspace(top * 1e-4, top, levels)
        ax.contour(d0 + centre[0], d1 + centre[1], excess, levels=lv, cmap="viridis", linewidths=0.8)
        ax.plot(pts[:, 0], pts[:, 1], "-o", color="crimson", ms=2.5, lw=1.0, label="gradient descent")
        ax.plot(*centre, marker="*", ms=12, color="k", label="minimum")
        ax.set_aspect("equal")
        ax.set_title(pb["title"])
        ax.set_xlabel(f"$w_{i + 1}$")
        ax.set_ylabel(f"$w_{j + 1}$")
    axes[0].legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    return fig


def scaled_strips(columns, *, highlight=None):
    """One-dimensional strip plots of the same feature under several scalings.

    Parameters
    ----------
    columns : dict
        Label (``str``) to a 1-D ``numpy.ndarray`` of shape ``(N,)``; one panel
        each, stacked, each with its own horizontal axis.
    highlight : int or None
        Index of a point (for example an outlier) marked with a red cross.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per entry of ``columns``.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(len(columns), 1, figsize=(8, 0.4 + 1.1 * len(columns)))
    axes = np.atleast_1d(axes)
    rng = np.random.default_rng(0)  # vertical jitter only, for legibility
    for ax, (label, values) in zip(axes, columns.items()):
        values = np.asarray(values)
        ax.scatter(values, rng.uniform(-1, 1, size=len(values)), s=8, alpha=0.5, color="tab:blue")
        if highlight is not None:
            ax.scatter(values[highlight], 0, s=80, color="crimson", marker="x", label="outlier")
        ax.set_ylim(-2, 2)
        ax.set_yticks([])
        ax.set_ylabel(label, rotation=0, ha="right", va="center")
        ax.grid(axis="x", alpha=0.3)
    axes[-1].set_xlabel("scaled value")
    fig.tight_layout()
    return fig


def cancellation_errors(offsets, errors):
    """Relative error of a computed standard deviation against the feature's mean.

    Parameters
    ----------
    offsets : numpy.ndarray
        Means of the feature, shape ``(M,)`` (drawn on a log axis).
    errors : dict
        Method name (``str``) to relative errors, shape ``(M,)``; zeros are drawn
        at the bottom of the axis and errors above 1 are clipped to 1.

    Returns
    -------
    matplotlib.figure.Figure
        A single log-log axes.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(6, 3.8))
    floor = 1e-17
    for label, err in errors.items():
        err = np.clip(np.asarray(err, dtype=float), floor, 1.0)
        ax.loglog(offsets, err, "-o", ms=3, label=label)
    ax.axhline(1e-6, color="gray", ls=":", lw=1)
    ax.set_xlabel("mean of the feature (its standard deviation is 1)")
    ax.set_ylabel("relative error of the standard deviation")
    ax.set_ylim(floor / 2, 2.0)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------
# Chapter 4: the maths of batch norm
# --------------------------------------------------------------------------
__all__ += ["batchnorm_graph", "seed_curves"]


def batchnorm_graph():
    r"""Draw the computational graph of batch normalisation's forward pass.

    Nodes, left to right: the input :math:`x`, the mean :math:`\mu`, the
    centred :math:`x-\mu`, the variance :math:`\sigma^2`, the reciprocal
    standard deviation, :math:`\hat x`, and :math:`y = \gamma\hat x + \beta`;
    each arrow is one local derivative that the backward pass multiplies in.

    Returns
    -------
    matplotlib.figure.Figure
        A single axes without ticks.
    """
    import matplotlib.pyplot as plt

    nodes = {  # name: (x, y, label)
        "x": (0.0, 1.0, r"$x$"),
        "mu": (1.4, 2.0, r"$\mu=\frac{1}{m}\sum_i x_i$"),
        "xc": (2.8, 1.0, r"$x-\mu$"),
        "var": (4.2, 2.0, r"$\sigma^2=\frac{1}{m}\sum_i (x_i-\mu)^2$"),
        "istd": (5.6, 2.0, r"$\frac{1}{\sqrt{\sigma^2+\epsilon}}$"),
        "xhat": (7.0, 1.0, r"$\hat x$"),
        "y": (8.6, 1.0, r"$y=\gamma\hat x+\beta$"),
        "gamma": (7.8, 0.1, r"$\gamma$"),
        "beta": (9.4, 0.1, r"$\beta$"),
    }
    edges = [("x", "mu"), ("x", "xc"), ("mu", "xc"), ("xc", "var"), ("var", "istd"),
             ("xc", "xhat"), ("istd", "xhat"), ("xhat", "y"), ("gamma", "y"), ("beta", "y")]
    fig, ax = plt.subplots(figsize=(9.5, 3.0))
    for a, b in edges:
        (x0, y0, _), (x1, y1, _) = nodes[a], nodes[b]
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                    arrowprops=dict(arrowstyle="-|>", color="0.35", shrinkA=16, shrinkB=16, lw=1.2))
    for name, (x0, y0, label) in nodes.items():
        param = name in ("gamma", "beta")
        ax.text(x0, y0, label, ha="center", va="center", fontsize=10,
                bbox=dict(boxstyle="round,pad=0.35", fc="#fde9c9" if param else "#dbe8f6",
                          ec="#c07a12" if param else "#2f5f8f"))
    ax.set_xlim(-0.6, 10.0)
    ax.set_ylim(-0.4, 2.5)
    ax.axis("off")
    fig.tight_layout()
    return fig


def seed_curves(runs, keys, *, titles=None, x_key="epoch", xlabel="epoch"):
    """Plot training curves over seeds: the mean and the band from the lowest to the highest seed.

    Parameters
    ----------
    runs : dict
        Label (``str``) to a list of histories, one per seed; each history is a
        ``dict`` of equal-length ``numpy.ndarray`` curves (such as
        :func:`bnlearn.scratch.fit` returns).
    keys : sequence of str
        The curves to plot, one axes each (e.g. ``["train_loss", "test_accuracy"]``).
    titles : sequence of str, optional
        Axis titles; the keys by default.
    x_key : str, default "epoch"
        The history entry on the horizontal axis.
    xlabel : str, default "epoch"
        Its label.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per key, one line (with its band) per label.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    if not isinstance(runs, dict) or not runs:
        raise ValueError(f"seed_curves expects a non-empty dict of label -> list of histories; got {runs!r:.80}")
    keys = list(keys)
    titles = list(titles) if titles is not None else keys
    if len(titles) != len(keys):
        raise ValueError(f"seed_curves expects one title per key ({len(keys)}); got {len(titles)}")
    fig, axes = plt.subplots(1, len(keys), figsize=(4.6 * len(keys), 3.4), squeeze=False)
    for ax, key, title in zip(axes[0], keys, titles):
        for label, hists in runs.items():
            curves = np.array([h[key] for h in hists])
            xs = hists[0][x_key]
            line, = ax.plot(xs, curves.mean(axis=0), label=f"{label} ({len(hists)} seeds)")
            ax.fill_between(xs, curves.min(axis=0), curves.max(axis=0), color=line.get_color(), alpha=0.2, lw=0)
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------
# Chapter 6: training speed
# --------------------------------------------------------------------------
__all__ += ["percentile_bands", "accuracy_vs_lr"]


def percentile_bands(panels, *, xlabel="training step", ylabel="input to the sigmoid"):
    """Percentiles of one unit's input over training, one panel per network.

    Draws the median as a line and the band between the lower and the upper
    percentile, the way Ioffe and Szegedy's Figure 1(b, c) shows the 15th,
    50th and 85th percentiles of a sigmoid's input.

    Parameters
    ----------
    panels : dict
        Title (``str``) to a ``dict`` with ``"steps"`` (shape ``(T,)``) and
        ``"low"``, ``"median"``, ``"high"`` (each shape ``(T,)``).
    xlabel, ylabel : str
        Axis labels.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per panel, sharing the vertical axis.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    if not isinstance(panels, dict) or not panels:
        raise ValueError(f"percentile_bands expects a non-empty dict of title -> curves; got {panels!r:.80}")
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.4), sharey=True, squeeze=False)
    for ax, (title, p) in zip(axes[0], panels.items()):
        steps = np.asarray(p["steps"])
        ax.fill_between(steps, p["low"], p["high"], alpha=0.25, lw=0, label="15th to 85th percentile")
        ax.plot(steps, p["median"], lw=1.5, label="median")
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(ylabel)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def accuracy_vs_lr(lrs, accuracies, *, threshold=None, marks=None, ylabel="test accuracy"):
    """Accuracy after a fixed budget of steps against the learning rate (log axis).

    Parameters
    ----------
    lrs : numpy.ndarray
        Learning rates, shape ``(L,)``.
    accuracies : dict
        Label (``str``) to an array of shape ``(S, L)``: one row per seed; NaN
        marks a rate that was not run. The line is the mean over the seeds
        that ran, the band spans their lowest and highest value.
    threshold : float, optional
        A horizontal dotted line (e.g. the accuracy that counts as "trains").
    marks : dict, optional
        Text (``str``) to ``(lr, accuracy)`` points to annotate, e.g. the
        settings a tutorial used.
    ylabel : str
        Label of the vertical axis.

    Returns
    -------
    matplotlib.figure.Figure
        A single axes.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    lrs = np.asarray(lrs, dtype=float)
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for label, acc in accuracies.items():
        acc = np.atleast_2d(np.asarray(acc, dtype=float))
        if acc.shape[1] != len(lrs):
            raise ValueError(f"accuracies[{label!r}] must have shape (S, {len(lrs)}); got {acc.shape}")
        ran = ~np.all(np.isnan(acc), axis=0)
        mean = np.nanmean(acc[:, ran], axis=0)
        line, = ax.semilogx(lrs[ran], mean, "-o", ms=4, label=f"{label} ({acc.shape[0]} seeds)")
        ax.fill_between(lrs[ran], np.nanmin(acc[:, ran], axis=0), np.nanmax(acc[:, ran], axis=0),
                        color=line.get_color(), alpha=0.2, lw=0)
    if threshold is not None:
        ax.axhline(threshold, color="gray", ls=":", lw=1)
    for text, (x, y) in (marks or {}).items():
        ax.annotate(text, (x, y), xytext=(8, -14), textcoords="offset points", fontsize=8,
                    arrowprops=dict(arrowstyle="-", color="0.4", lw=0.8))
        ax.plot([x], [y], "k*", ms=9)
    ax.set_xlabel("learning rate")
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# --- chapter 5 (bnlearn.nn) ---
__all__ += ["running_average_traces", "cost_bars"]


def running_average_traces(batch_values, traces, true_value=None, title="Running mean under three conventions"):
    """Running estimates of a statistic over training batches (chapter 5).

    Parameters
    ----------
    batch_values : sequence of float
        The statistic measured on each batch, drawn as dots.
    traces : dict of str to sequence of float
        Label -> the running estimate after each batch (same length).
    true_value : float or None
        A horizontal reference line, e.g. the population value.
    title : str
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure
        One axes: batch values as dots, one line per trace.
    """
    import matplotlib.pyplot as plt

    if not traces:
        raise ValueError(f"running_average_traces expects at least one trace; got {traces!r}")
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    steps = range(1, len(batch_values) + 1)
    ax.plot(steps, batch_values, ".", color="0.6", ms=4, label="batch statistic")
    for label, trace in traces.items():
        if len(trace) != len(batch_values):
            raise ValueError(f"trace {label!r} has {len(trace)} values; expected {len(batch_values)}")
        ax.plot(steps, trace, lw=1.8, label=label)
    if true_value is not None:
        ax.axhline(true_value, color="k", lw=0.8, ls="--", label="population value")
    ax.set_xlabel("training batch")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def cost_bars(values, ylabel, title, reference=None, reference_label=None):
    """Horizontal bars comparing one cost (time, bytes) across implementations (chapter 5).

    Parameters
    ----------
    values : dict of str to float
        Implementation -> cost.
    ylabel : str
        The quantity and unit, used as the value-axis label.
    title : str
        Axes title.
    reference : float or None
        A vertical reference line (e.g. the input's size).
    reference_label : str or None
        Its legend label.

    Returns
    -------
    matplotlib.figure.Figure
        One axes of bars.
    """
    import matplotlib.pyplot as plt

    if not values:
        raise ValueError(f"cost_bars expects a non-empty dict; got {values!r}")
    fig, ax = plt.subplots(figsize=(6.0, 0.55 * len(values) + 1.2))
    names = list(values)
    ax.barh(names, [values[n] for n in names], color="tab:blue", alpha=0.8)
    if reference is not None:
        ax.axvline(reference, color="k", ls="--", lw=1, label=reference_label)
        ax.legend(fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(ylabel)
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- chapter 7: regularisation
__all__ += ["noise_vs_batch_size", "paired_intervals", "accuracy_vs_test_batch"]


def noise_vs_batch_size(batch_sizes, variances, flip_rate):
    """Left: variance of one example's outputs across random batch-mates against
    the batch size (log-log, with a :math:`1/B` guide); right: how often its
    predicted class changes.

    Parameters
    ----------
    batch_sizes : sequence of int
        :math:`B`, length ``n``.
    variances : dict
        ``label -> sequence of n variances`` (e.g. normalised value, logits).
    flip_rate : sequence of float
        Fraction of draws whose prediction differs from the population one, length ``n``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt
    import numpy as np

    b = np.asarray(batch_sizes, dtype=float)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.4))
    for label, v in variances.items():
        ax1.loglog(b, v, "o-", label=label)
    first = np.asarray(next(iter(variances.values())), dtype=float)
    ax1.loglog(b, first[0] * b[0] / b, "k--", lw=1, label=r"$\propto 1/B$")   # guide through the first point
    ax1.set_xlabel("batch size $B$")
    ax1.set_ylabel("variance across batch-mates")
    ax1.legend(fontsize=8)
    ax1.grid(alpha=0.3, which="both")
    ax2.semilogx(b, flip_rate, "o-", color="C3")
    ax2.set_xlabel("batch size $B$")
    ax2.set_ylabel("predicted class changes")
    ax2.set_ylim(bottom=0)
    ax2.grid(alpha=0.3)
    for ax in (ax1, ax2):
        ax.set_xticks(b)
        ax.set_xticklabels([str(int(v)) for v in b])
        ax.minorticks_off()
    fig.tight_layout()
    return fig


def paired_intervals(panels, *, xlabel="difference (percentage points)", scale=100.0):
    """Forest plot of paired differences: one row per comparison, the mean with its
    95% interval, and a line at zero; a row whose interval crosses zero is grey.

    Parameters
    ----------
    panels : dict
        ``title -> {label: interval}`` where an interval is a dict with
        ``"mean"``, ``"low"`` and ``"high"`` (as from
        :func:`bnlearn.experiments.regularisation.paired_difference`).
    xlabel : str
        Label of the horizontal axes.
    scale : float, default 100.0
        Factor applied to the values (100 turns fractions into percentage points).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    rows_max = max(len(rows) for rows in panels.values())
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 1.3 + 0.45 * rows_max), squeeze=False)
    for ax, (title, rows) in zip(axes[0], panels.items()):
        labels = list(rows)
        for i, label in enumerate(labels):
            iv = rows[label]
            m, lo, hi = (scale * iv[k] for k in ("mean", "low", "high"))
            color = "C0" if (lo > 0 or hi < 0) else "0.6"
            ax.errorbar(m, i, xerr=[[m - lo], [hi - m]], fmt="o", color=color, capsize=3)
        ax.axvline(0, color="k", lw=0.8)
        ax.set_yticks(range(len(labels)))
        ax.set_yticklabels(labels)
        ax.invert_yaxis()
        ax.set_xlabel(xlabel)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def accuracy_vs_test_batch(batch_sizes, batch, ema, population, *, scale=100.0):
    """Test accuracy when test batches are normalised with their own statistics, against
    the test batch size, with the running (EMA) and population statistics as bands.

    Parameters
    ----------
    batch_sizes : sequence of int
        Test batch sizes, length ``n``.
    batch : sequence of dict
        ``n`` intervals (``"mean"``, ``"low"``, ``"high"``) of the accuracy with batch statistics.
    ema, population : dict
        Intervals of the accuracy with running and with population statistics.
    scale : float, default 100.0
        Factor applied to accuracies (100 for percent).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt
    import numpy as np

    b = np.asarray(batch_sizes, dtype=float)
    mean = scale * np.array([iv["mean"] for iv in batch])
    lo = scale * np.array([iv["low"] for iv in batch])
    hi = scale * np.array([iv["high"] for iv in batch])
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    ax.semilogx(b, mean, "o-", color="C0", label="statistics of the test batch")
    ax.fill_between(b, lo, hi, color="C0", alpha=0.2)
    for iv, color, label in ((ema, "C1", "running (EMA) statistics"), (population, "C2", "population statistics")):
        ax.axhspan(scale * iv["low"], scale * iv["high"], color=color, alpha=0.3)
        ax.axhline(scale * iv["mean"], color=color, lw=1.2, label=label)
    ax.set_xticks(b)
    ax.set_xticklabels([str(int(v)) for v in b])
    ax.minorticks_off()
    ax.set_xlabel("test batch size")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------
# Chapters 2 and 3: signal propagation, internal covariate shift
# --------------------------------------------------------------------------
__all__ += ["layer_profiles", "stage_comparison", "covariate_shift_scatter"]


def layer_profiles(panels, *, ylabel, log=True, xlabel="hidden layer"):
    """One line per set-up of a per-layer quantity against depth, one panel per group.

    Parameters
    ----------
    panels : dict
        Panel title (``str``) to a ``dict`` of set-up name (``str``) to a
        sequence of per-layer values (length ``L``, input side first).
    ylabel : str
        Vertical axis label.
    log : bool, default True
        Logarithmic vertical axis (zeros and NaNs are left out of the lines).
    xlabel : str, default "hidden layer"
        Horizontal axis label.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per panel.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    if not isinstance(panels, dict) or not panels:
        raise ValueError(f"layer_profiles expects a non-empty dict of title -> curves; got {panels!r:.80}")
    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 3.5), squeeze=False)
    for ax, (title, curves) in zip(axes[0], panels.items()):
        for name, values in curves.items():
            v = np.asarray(values, dtype=float)
            layers = np.arange(1, len(v) + 1)
            keep = np.isfinite(v) & (v > 0) if log else np.isfinite(v)
            ax.plot(layers[keep], v[keep], marker="o", ms=3, lw=1.2, label=name)
        if log:
            ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(ylabel)
    axes[0][-1].legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def stage_comparison(summary, keys, *, titles=None, variants=("plain", "bn")):
    """Measurements without and with BN at each learning rate and stage, with seed intervals.

    Parameters
    ----------
    summary : dict
        ``"lr=LR, step=T"`` (``str``) to a ``dict`` of key to
        ``{variant: {"mean", "low", "high"}}``, as the ``summary`` of
        :func:`bnlearn.experiments.ics.probe_training`.
    keys : sequence of str
        Quantities to draw, one panel each.
    titles : dict, optional
        Key to panel title.
    variants : tuple of str, default ("plain", "bn")
        The networks compared.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per key; the horizontal axis lists the (learning rate, step) cells.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    cells = list(summary)
    if not cells:
        raise ValueError("stage_comparison expects a non-empty summary")
    fig, axes = plt.subplots(1, len(keys), figsize=(4.3 * len(keys), 3.6), squeeze=False)
    x = np.arange(len(cells))
    width = 0.8 / len(variants)
    for ax, key in zip(axes[0], keys):
        for k, v in enumerate(variants):
            m = np.array([summary[c][key][v]["mean"] for c in cells], dtype=float)
            lo = np.array([summary[c][key][v]["low"] for c in cells], dtype=float)
            hi = np.array([summary[c][key][v]["high"] for c in cells], dtype=float)
            err = np.vstack([np.clip(m - lo, 0, None), np.clip(hi - m, 0, None)])
            ax.bar(x + (k - (len(variants) - 1) / 2) * width, m, width, yerr=err, capsize=2,
                   label="BN" if v == "bn" else v)
        ax.set_xticks(x, [c.replace(", ", "\n") for c in cells], fontsize=7)
        ax.set_title((titles or {}).get(key, key))
        ax.grid(alpha=0.3, axis="y")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def covariate_shift_scatter(demo):
    """Training slice and shifted test points of :func:`bnlearn.experiments.ics.covariate_shift_demo`,
    with the true boundary and the fitted linear one.

    Parameters
    ----------
    demo : dict
        The demo's output (``x_train``, ``y_train``, ``x_test``, ``y_test``, ``w``, ``b``).

    Returns
    -------
    matplotlib.figure.Figure
        Two axes: training data, shifted test data.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.6), sharex=True, sharey=True)
    t = np.linspace(-3, 3, 200)
    w, b = np.asarray(demo["w"]), float(demo["b"])
    for ax, (xs, ys, title) in zip(axes, ((demo["x_train"], demo["y_train"], "training inputs"),
                                          (demo["x_test"], demo["y_test"], "shifted test inputs"))):
        xs, ys = np.asarray(xs), np.asarray(ys)
        ax.scatter(xs[:, 0], xs[:, 1], c=ys, cmap="coolwarm", s=8, alpha=0.7)
        ax.plot(t, t ** 2 / 3 - 1, "k-", lw=1.2, label="true boundary")
        if abs(w[1]) > 1e-12:
            ax.plot(t, -(w[0] * t + b) / w[1], "k--", lw=1.2, label="learned boundary")
        ax.set_ylim(-3, 3)
        ax.set_title(title)
        ax.set_xlabel("$x_1$")
    axes[0].set_ylabel("$x_2$")
    axes[0].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig
