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
# Chapter 5: batch norm in PyTorch
# --------------------------------------------------------------------------
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


