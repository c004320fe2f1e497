"""Figures for the scalar-derivative and gradient chapters (chapters 1 and 2).

Each function only draws: the numbers it plots are computed (and checked) in the
chapter, so the figure cannot show something the chapter did not verify. Nothing here
changes global state on import; call :func:`helpers.plotting.use_book_style` first.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

__all__ = ["plot_tangent_and_error", "plot_chain_graph", "plot_step_size_errors",
           "plot_contour_gradients"]


def plot_tangent_and_error(f: Callable, x0: float, slope: float, dx_show: float,
                           dxs: np.ndarray, errors: Mapping[str, np.ndarray]):
    """A function with its tangent (left) and the linear approximation's error (right).

    Explained in chapter 1 (the derivative as the best linear approximation).

    Parameters
    ----------
    f : callable
        Vectorized function of a NumPy array, shape ``(K,)`` -> ``(K,)``.
    x0 : float
        Point of tangency.
    slope : float
        ``f'(x0)``, the tangent's slope.
    dx_show : float
        A step drawn on the left panel, with the gap between curve and tangent.
    dxs : np.ndarray
        Steps, shape ``(S,)``, positive, for the log-log panel.
    errors : mapping of str to np.ndarray
        Label -> error ``|f(x0 + dx) - line(x0 + dx)|`` of shape ``(S,)``; the first
        entry is drawn solid, the others dashed.

    Returns
    -------
    matplotlib Figure
    """
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(8.4, 3.4))
    xs = np.linspace(x0 - 3.0, x0 + 2.0, 300)
    y0 = float(f(np.array([x0]))[0])
    ax0.plot(xs, f(xs), color="C0", lw=2, label="$f(x)$")
    ax0.plot(xs, y0 + slope * (xs - x0), color="C1", ls="--", label="tangent at $x_0$")
    x1 = x0 + dx_show
    y1 = float(f(np.array([x1]))[0])
    ax0.plot([x1, x1], [y0 + slope * dx_show, y1], color="black", lw=2.5,
             label=r"error at $x_0+\Delta x$")
    ax0.plot([x0], [y0], "o", color="C1")
    ax0.set_xlabel("$x$")
    ax0.set_ylabel("$y$")
    ax0.legend(frameon=False, fontsize=8, loc="upper left")
    for k, (label, err) in enumerate(errors.items()):
        ax1.loglog(dxs, err, "o-" if k == 0 else "s--", ms=3, color=f"C{k}", label=label)
    # the reference line is drawn a factor 5 below the first curve so that both stay visible
    ref = 0.2 * errors[next(iter(errors))][-1] * (dxs / dxs[-1]) ** 2
    ax1.loglog(dxs, ref, ":", color="gray", lw=1.5, label=r"slope 2: $\propto\Delta x^2$")
    ax1.set_xlabel(r"step $\Delta x$")
    ax1.set_ylabel("|error of the line|")
    ax1.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def _box(ax, xy, text, face):
    ax.add_patch(FancyBboxPatch((xy[0] - 0.32, xy[1] - 0.22), 0.64, 0.44,
                                boxstyle="round,pad=0.04", fc=face, ec="black"))
    ax.text(xy[0], xy[1], text, ha="center", va="center", fontsize=13)


def plot_chain_graph(nodes: Sequence[str], ops: Sequence[str],
                     derivatives: Sequence[str] = ()):
    """Draw a chain-shaped computational graph ``x -> f -> y -> g -> z``.

    Explained in chapter 1 (the chain rule). Variables are drawn as rounded boxes,
    operations as labelled arrows between them.

    Parameters
    ----------
    nodes : sequence of str
        Variable names (LaTeX allowed), length ``K``.
    ops : sequence of str
        Operation names, length ``K - 1``, written above the arrows.
    derivatives : sequence of str, optional
        Local derivatives, length ``K - 1``, written under the arrows.

    Returns
    -------
    matplotlib Figure
    """
    if len(ops) != len(nodes) - 1:
        raise ValueError(f"plot_chain_graph: {len(nodes)} nodes need {len(nodes) - 1} ops, "
                         f"got {len(ops)}")
    fig, ax = plt.subplots(figsize=(1.9 * len(nodes), 1.5))
    for k, name in enumerate(nodes):
        _box(ax, (1.8 * k, 0.0), name, "#e8e8f4" if k in (0, len(nodes) - 1) else "white")
    for k, op in enumerate(ops):
        ax.add_patch(FancyArrowPatch((1.8 * k + 0.4, 0.0), (1.8 * (k + 1) - 0.4, 0.0),
                                     arrowstyle="-|>", mutation_scale=14, lw=1.5))
        ax.text(1.8 * k + 0.9, 0.12, op, ha="center", va="bottom", fontsize=12)
        if derivatives:
            ax.text(1.8 * k + 0.9, -0.14, derivatives[k], ha="center", va="top",
                    fontsize=11, color="C0")
    ax.set_xlim(-0.5, 1.8 * (len(nodes) - 1) + 0.5)
    ax.set_ylim(-0.6, 0.45)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig


def plot_step_size_errors(hs: np.ndarray, errors: Mapping[str, np.ndarray],
                          mark: float | None = None):
    """Log-log error of finite-difference formulas against the step size (chapter 1).

    Parameters
    ----------
    hs : np.ndarray
        Step sizes, shape ``(S,)``, positive.
    errors : mapping of str to np.ndarray
        Label -> absolute error, shape ``(S,)``; zeros are drawn at the bottom edge.
    mark : float, optional
        A step size to mark with a vertical line (the book's ``eps``).

    Returns
    -------
    matplotlib Figure
    """
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    floor = 1e-17
    for k, (label, err) in enumerate(errors.items()):
        ax.loglog(hs, np.maximum(err, floor), "o-" if k == 0 else "s-", ms=3, color=f"C{k}",
                  label=label)
    if mark is not None:
        ax.axvline(mark, color="gray", ls=":", lw=1.2)
        ax.text(mark * 0.8, 0.97, f"eps = {mark:.0e}", color="gray", fontsize=8,
                transform=ax.get_xaxis_transform(), va="top")
    ax.invert_xaxis()
    ax.set_xlabel("step size $h$ (smaller to the right)")
    ax.set_ylabel("|approximation - exact|")
    ax.legend(frameon=False, fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def plot_contour_gradients(x1: np.ndarray, x2: np.ndarray, F: np.ndarray,
                           q1: np.ndarray, q2: np.ndarray, G1: np.ndarray, G2: np.ndarray):
    """Filled contours of a function of two variables with gradient arrows (chapter 2).

    Parameters
    ----------
    x1, x2 : np.ndarray
        Grid coordinates, shape ``(K,)`` and ``(L,)``.
    F : np.ndarray
        Function values, shape ``(L, K)`` (``F[i, j] = f(x1[j], x2[i])``).
    q1, q2 : np.ndarray
        Arrow positions, same shape ``(P,)`` or ``(P, Q)``.
    G1, G2 : np.ndarray
        Gradient components at the arrow positions, shape of ``q1``.

    Returns
    -------
    matplotlib Figure
    """
    fig, ax = plt.subplots(figsize=(5.6, 4.4))
    cs = ax.contourf(x1, x2, F, levels=16, cmap="viridis")
    ax.contour(x1, x2, F, levels=16, colors="white", linewidths=0.4)
    ax.quiver(q1, q2, G1, G2, color="white", edgecolor="black", linewidth=0.5,
              angles="xy", scale_units="xy", scale=8.0, width=0.006)
    ax.set_aspect("equal")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    fig.colorbar(cs, ax=ax, label="$f(x_1, x_2)$", fraction=0.046, pad=0.04)
    fig.tight_layout()
    return fig
