"""The explorer of chapter 5: the linear layer's Jacobians dY/dX, dY/dW, dY/db, flattened
row- or column-major, against their closed forms (:func:`linear_jacobian_view`).
"""

from __future__ import annotations

from typing import NamedTuple

import matplotlib.pyplot as plt
import torch

from ..jacobians import flatten_jacobian, jacobian
from ..layers import linear
from ..plotting import plot_matrix
from ..shapes import fmt_shape
from .base import (
    F64,
    SIZE_RANGE,
    _Explorer,
    check_choice,
    check_same,
    check_size,
)

__all__ = ["LinearJacobianExplorer", "LinearView", "linear_closed_form", "linear_jacobian_explorer", "linear_jacobian_view"]


#: (wrt, order) -> (LaTeX of the closed form, its structure in words: as matplotlib
#: mathtext for the figure, and as plain text for the alt text)
_LINEAR_FORMS = {
    ("X", "row"): (r"I_N \otimes W^{\top}",
                   r"block diagonal: $N$ copies of $W^{\top}$ ($M \times D$)",
                   "block diagonal: N copies of W transposed (M by D)"),
    ("W", "row"): (r"X \otimes I_M",
                   r"block $(n, d)$ is $X_{nd}\, I_M$",
                   "block (n, d) is X[n, d] times the identity I_M"),
    ("b", "row"): (r"\mathbf{1}_N \otimes I_M",
                   r"$I_M$ stacked $N$ times",
                   "the identity I_M stacked N times"),
    ("X", "col"): (r"W^{\top} \otimes I_N",
                   r"block $(m, d)$ is $W_{dm}\, I_N$",
                   "block (m, d) is W[d, m] times the identity I_N"),
    ("W", "col"): (r"I_M \otimes X",
                   r"block diagonal: $M$ copies of $X$ ($N \times D$)",
                   "block diagonal: M copies of X (N by D)"),
    ("b", "col"): (r"I_M \otimes \mathbf{1}_N",
                   r"block diagonal: $M$ copies of the ones column $\mathbf{1}_N$",
                   "block diagonal: M copies of a column of N ones"),
}

_ORDER_NAME = {"row": "row-major", "col": "column-major"}

#: the closed forms in words, for alt text
_PLAIN_FORMS = {
    ("X", "row"): "I_N Kronecker W transposed", ("W", "row"): "X Kronecker I_M",
    ("b", "row"): "a column of N ones Kronecker I_M", ("X", "col"): "W transposed Kronecker I_N",
    ("W", "col"): "I_M Kronecker X", ("b", "col"): "I_M Kronecker a column of N ones",
}


class LinearView(NamedTuple):
    """What :func:`linear_jacobian_view` returns."""

    fig: object                 #: the closed matplotlib Figure
    matrix: torch.Tensor        #: the explicit Jacobian, flattened: (N*M, input size)
    closed_form: torch.Tensor   #: the Kronecker closed form, same shape
    latex: str                  #: the closed form as LaTeX, e.g. ``J = I_N \otimes W^{\top}``
    alt: str                    #: alt text describing the figure


def _linear_data(N: int, D: int, M: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(N, D, generator=g, dtype=F64)
    W = torch.randn(D, M, generator=g, dtype=F64)
    b = torch.randn(M, generator=g, dtype=F64)
    return X, W, b


def linear_closed_form(wrt: str, order: str, X: torch.Tensor, W: torch.Tensor):
    """Closed form of the flattened Jacobian of ``Y = X @ W + b`` (chapter 5).

    With ``vec_r`` the row-major and ``vec_c`` the column-major flattening
    (:func:`helpers.flatten_jacobian`):

    ============  =========================  =========================
    wrt           row-major                  column-major
    ============  =========================  =========================
    ``X``         ``I_N (x) W^T``            ``W^T (x) I_N``
    ``W``         ``X (x) I_M``              ``I_M (x) X``
    ``b``         ``1_N (x) I_M``            ``I_M (x) 1_N``
    ============  =========================  =========================

    where ``(x)`` is the Kronecker product and ``1_N`` the ``(N, 1)`` column of ones.

    Parameters
    ----------
    wrt : {"X", "W", "b"}
        The variable differentiated against.
    order : {"row", "col"}
        The flattening of both Y and the variable.
    X : torch.Tensor
        Shape ``(N, D)``.
    W : torch.Tensor
        Shape ``(D, M)``.

    Returns
    -------
    matrix : torch.Tensor
        Shape ``(N*M, N*D)`` for X, ``(N*M, D*M)`` for W, ``(N*M, M)`` for b.
    latex : str
        The right-hand side as LaTeX, e.g. ``I_N \\otimes W^{\\top}``.
    """
    func = "linear_closed_form"
    check_choice(func, "wrt", wrt, {"X", "W", "b"})
    check_choice(func, "order", order, {"row", "col"})
    if X.ndim != 2 or W.ndim != 2 or X.shape[1] != W.shape[0]:
        raise ValueError(f"{func}: X has shape {fmt_shape(X.shape)} and W {fmt_shape(W.shape)}; "
                         "expected (N, D) and (D, M)")
    N, M = X.shape[0], W.shape[1]
    I_N = torch.eye(N, dtype=X.dtype)
    I_M = torch.eye(M, dtype=X.dtype)
    ones_N = torch.ones(N, 1, dtype=X.dtype)
    # torch.kron (torch 2.13) fails on strided views such as W.T. Not even .contiguous()
    # is enough: with D == 1 or M == 1, W.T already counts as contiguous and keeps its
    # strides, and kron still fails. A fresh dense copy always works.
    Wt = W.T.clone(memory_format=torch.contiguous_format)
    Xc = X.clone(memory_format=torch.contiguous_format)
    if order == "row":
        matrix = {"X": lambda: torch.kron(I_N, Wt), "W": lambda: torch.kron(Xc, I_M),
                  "b": lambda: torch.kron(ones_N, I_M)}[wrt]()
    else:
        matrix = {"X": lambda: torch.kron(Wt, I_N), "W": lambda: torch.kron(I_M, Xc),
                  "b": lambda: torch.kron(I_M, ones_N)}[wrt]()
    return matrix, _LINEAR_FORMS[wrt, order][0]


def _linear_explicit(wrt: str, order: str, X, W, b) -> torch.Tensor:
    """Explicit Jacobian (one VJP per output entry), flattened."""
    f = {"X": lambda x: linear(x, W, b), "W": lambda w: linear(X, w, b),
         "b": lambda c: linear(X, W, c)}[wrt]
    J = jacobian(f, {"X": X, "W": W, "b": b}[wrt])
    return flatten_jacobian(J, 2, order=order)


def _block_ticks(ax, axis: str, n_blocks: int, block: int, letter: str) -> None:
    """Label each block by its index (``n=0``, ...) at its centre."""
    centres = [k * block + (block - 1) / 2 for k in range(n_blocks)]
    labels = [f"{letter}={k}" for k in range(n_blocks)]
    if axis == "x":
        ax.set_xticks(centres, labels, rotation=90 if n_blocks > 3 else 0)
    else:
        ax.set_yticks(centres, labels)


def _matrix_box(fig, R: int, C: int, *, left: float, right: float, bottom: float,
                top: float, colorbar: float = 0.086) -> tuple:
    """Axes rectangle (figure fractions) in which an (R, C) image has square cells.

    The margins are in inches; ``colorbar`` is the share of the axes width that
    :func:`helpers.plotting.plot_matrix`'s colour bar takes (fraction + pad). The box
    is centred in the space left by the margins, so the figure keeps its size while
    the matrix changes shape (no layout engine needed, which keeps redraws fast).
    """
    fw, fh = fig.get_size_inches()
    avail_w, avail_h = fw - left - right, fh - bottom - top
    cell = min(avail_w * (1 - colorbar) / C, avail_h / R, 1.2)
    w, h = cell * C / (1 - colorbar), cell * R
    x0 = left + (avail_w - w) / 2
    y0 = bottom + (avail_h - h) / 2
    return (x0 / fw, y0 / fh, w / fw, h / fh)


def linear_jacobian_view(N: int = 2, D: int = 3, M: int = 4, wrt: str = "X",
                         order: str = "row", seed: int = 0) -> LinearView:
    """Heatmap of the flattened Jacobian of the linear layer, checked against its closed form.

    Pure callback of :func:`linear_jacobian_explorer` (chapter 5). Draws random
    ``X (N, D)``, ``W (D, M)``, ``b (M,)`` from a generator seeded with ``seed``,
    builds the explicit Jacobian of ``Y = X @ W + b`` with :func:`helpers.jacobian`
    (one VJP per entry of Y), flattens it with :func:`helpers.flatten_jacobian`, and
    asserts that it equals the Kronecker closed form of :func:`linear_closed_form`.
    Black lines mark the blocks: one block row per example ``n`` (row-major) or per
    output column ``m`` (column-major).

    Parameters
    ----------
    N, D, M : int
        Sizes, each from 1 to 6.
    wrt : {"X", "W", "b"}
        Differentiate against X, W or b.
    order : {"row", "col"}
        Row-major (PyTorch's ``reshape``) or column-major (``vec``) flattening.
    seed : int
        Seed of the private generator for X, W, b.

    Returns
    -------
    LinearView
        ``(fig, matrix, closed_form, latex, alt)``: the closed figure, the explicit
        Jacobian of shape ``(N*M, K)`` with ``K = N*D``, ``D*M`` or ``M``, the closed
        form of the same shape, the LaTeX equation shown under the heatmap and an alt
        text describing the figure.

    Raises
    ------
    ValueError
        If a size is outside 1..6 or ``wrt``/``order`` is not one of the choices.
    AssertionError
        If the explicit Jacobian differs from the closed form.
    """
    func = "linear_jacobian_view"
    lo, hi = SIZE_RANGE
    N = check_size(func, "N", N, lo, hi)
    D = check_size(func, "D", D, lo, hi)
    M = check_size(func, "M", M, lo, hi)
    check_choice(func, "wrt", wrt, {"X", "W", "b"})
    check_choice(func, "order", order, {"row", "col"})

    X, W, b = _linear_data(N, D, M, seed)
    matrix = _linear_explicit(wrt, order, X, W, b)
    closed, form = linear_closed_form(wrt, order, X, W)
    check_same(f"dY/d{wrt} ({_ORDER_NAME[order]}) vs {form}", matrix, closed)

    o = "r" if order == "row" else "c"
    latex = (rf"\frac{{\partial\,\mathrm{{vec}}_{o}(Y)}}{{\partial\,\mathrm{{vec}}_{o}({wrt})}}"
             rf" = {form}")

    # blocks: rows are grouped by n (row-major) or by m (column-major); columns by
    # the slowest-varying index of the flattened input
    if order == "row":
        row_block, row_letter, n_row_blocks = M, "n", N
        col_block, col_letter, n_col_blocks = {"X": (D, "n", N), "W": (M, "d", D),
                                               "b": (1, "m", M)}[wrt]
        row_label = "Y[n, m] in row n*M + m"
        col_label = {"X": "X[n, d] in column n*D + d", "W": "W[d, m] in column d*M + m",
                     "b": "b[m] in column m"}[wrt]
    else:
        row_block, row_letter, n_row_blocks = N, "m", M
        col_block, col_letter, n_col_blocks = {"X": (N, "d", D), "W": (D, "m", M),
                                               "b": (1, "m", M)}[wrt]
        row_label = "Y[n, m] in row m*N + n"
        col_label = {"X": "X[n, d] in column d*N + n", "W": "W[d, m] in column m*D + d",
                     "b": "b[m] in column m"}[wrt]

    R, C = matrix.shape
    # a fixed layout (no layout engine): constrained layout would triple the redraw time
    fig = plt.figure(figsize=(6.4, 6.0))
    ax = fig.add_axes(_matrix_box(fig, R, C, left=1.1, right=0.9, bottom=1.3, top=0.5))
    plot_matrix(matrix, ax=ax, row_block=row_block, col_block=col_block if col_block > 1 else None,
                xlabel=col_label, ylabel=row_label)
    fig.suptitle(rf"$\partial Y/\partial {wrt}$ flattened {_ORDER_NAME[order]}: "
                 f"{R} x {C}   (N={N}, D={D}, M={M})", fontsize=11)
    _block_ticks(ax, "y", n_row_blocks, row_block, row_letter)
    _block_ticks(ax, "x", n_col_blocks, col_block, col_letter)
    words, plain_words = _LINEAR_FORMS[wrt, order][1:]
    fig.text(0.5, 0.065, rf"$J_{{{wrt}}} = {form}$", ha="center", fontsize=13)
    fig.text(0.5, 0.02, f"{words}   (checked: equals the explicit Jacobian)", ha="center",
             fontsize=9)
    plt.close(fig)
    alt = (f"Heatmap of the {R} by {C} Jacobian of Y with respect to {wrt} for N={N}, D={D}, "
           f"M={M}, flattened {_ORDER_NAME[order]}, with black lines between its blocks: "
           f"{plain_words}. It equals {_PLAIN_FORMS[wrt, order]}.")
    return LinearView(fig, matrix, closed, latex, alt)


#: labels of the linear explorer's choices, shared by the widget and the static page
_WRT_OPTIONS = (("∂Y/∂X", "X"), ("∂Y/∂W", "W"), ("∂Y/∂b", "b"))
_ORDER_OPTIONS = (("row-major", "row"), ("column-major", "col"))


class LinearJacobianExplorer(_Explorer):
    """Sliders N, D, M, a choice of dY/dX, dY/dW, dY/db and of the flattening order.

    Thin wrapper around :func:`linear_jacobian_view` (chapter 5); see
    :func:`linear_jacobian_explorer`.
    """

    kind = "linear"

    def __init__(self, N: int = 2, D: int = 3, M: int = 4, wrt: str = "X",
                 order: str = "row", seed: int = 0):
        import ipywidgets as w

        self.seed = seed
        lo, hi = SIZE_RANGE
        slider = dict(min=lo, max=hi, step=1, continuous_update=False,
                      layout=w.Layout(width="220px"))
        self.controls = {
            "N": w.IntSlider(value=N, description="N", **slider),
            "D": w.IntSlider(value=D, description="D", **slider),
            "M": w.IntSlider(value=M, description="M", **slider),
            "wrt": w.ToggleButtons(options=list(_WRT_OPTIONS), value=wrt,
                                   description="Jacobian"),
            "order": w.ToggleButtons(options=list(_ORDER_OPTIONS), value=order,
                                     description="flatten"),
        }
        self.image = w.HTML()
        c = self.controls
        self.ui = w.VBox([w.HBox([c["N"], c["D"], c["M"]]), c["wrt"], c["order"], self.image])
        self._connect()

    def _callback(self, N, D, M, wrt, order):
        return linear_jacobian_view(N, D, M, wrt, order, seed=self.seed)


def linear_jacobian_explorer(N: int = 2, D: int = 3, M: int = 4, wrt: str = "X",
                             order: str = "row", seed: int = 0) -> LinearJacobianExplorer:
    """Interactive explorer of the linear layer's Jacobians (chapter 5).

    Display the returned object (last expression of a cell) to get the controls and
    the figure of :func:`linear_jacobian_view`, redrawn on every change.

    Parameters
    ----------
    N, D, M, wrt, order, seed
        Initial values, as in :func:`linear_jacobian_view`.

    Returns
    -------
    LinearJacobianExplorer
        ``.ui`` the widget box, ``.controls`` the controls by name, ``.view`` the last
        :class:`LinearView`, ``.update(N=..., ...)`` to set controls from code.
    """
    return LinearJacobianExplorer(N, D, M, wrt, order, seed)
