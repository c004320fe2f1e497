"""Interactive Jacobian explorers: pure callbacks and thin ipywidgets wrappers.

Three explorers, each in two layers:

- a **pure callback** ``*_view(...)``: plain arguments in, a named tuple out (a closed
  matplotlib figure and the tensors it shows). It keeps no widget state, checks what it
  draws against an independent computation and raises ``AssertionError`` if the two
  disagree, so a picture can never silently show a wrong matrix. Tested without a kernel.
- a **thin wrapper** ``*_explorer(...)``: ipywidgets controls wired to the callback with
  ``observe``; the figure is shown as an ``<img>`` with alt text in an
  ``ipywidgets.HTML`` (:func:`figure_html`), so it stays accessible when the website
  embeds the widget's saved state. ipywidgets is imported only there, so importing this
  module needs torch and matplotlib only. Works with ipywidgets 8 and 7.7 (Colab's):
  the rich output is built here, not delegated to ipywidgets.
- **frames for the static website**: the rich output also carries ``text/html`` (the
  current figure and the explorer's settings); the book's Sphinx extension
  ``_ext/explorers.py`` replaces it by controls that switch figures precomputed with
  :func:`static_view` over the bounded grid :data:`STATIC_GRIDS`.

Which chapter uses which:

- chapter 3 (element-wise layers): :func:`elementwise_jacobian_view`,
  :func:`elementwise_jacobian_explorer`;
- chapter 5 (structure of the linear layer's Jacobians): :func:`linear_jacobian_view`,
  :func:`linear_closed_form`, :func:`linear_jacobian_explorer`;
- chapter 7 (the MLP's backward pass, layer by layer): :func:`mlp_backward_steps`,
  :func:`mlp_step_view`, :func:`mlp_backward_explorer`.

Data come from a private ``torch.Generator`` seeded by the ``seed`` argument; importing
the module seeds nothing and changes no matplotlib settings.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import matplotlib.pyplot as plt
import torch

from .jacobians import contract, flatten_jacobian, jacobian
from .layers import linear, relu, relu_vjp, softmax_cross_entropy, softmax_cross_entropy_vjp
from .mlp import init_mlp, mlp_backward, mlp_forward
from .plotting import DIVERGING, plot_matrix
from .shapes import fmt_shape

__all__ = [
    "SIZE_RANGE",
    "ELEMENTWISE_SIZE_RANGE",
    "ACTIVATIONS",
    "MLP_LAYERS",
    "STATIC_GRIDS",
    "static_values",
    "static_view",
    "check_same",
    "figure_html",
    "linear_closed_form",
    "linear_jacobian_view",
    "elementwise_jacobian_view",
    "mlp_backward_steps",
    "mlp_step_view",
    "linear_jacobian_explorer",
    "elementwise_jacobian_explorer",
    "mlp_backward_explorer",
    "LinearView",
    "ElementwiseView",
    "MLPStep",
    "MLPView",
    "LinearJacobianExplorer",
    "ElementwiseJacobianExplorer",
    "MLPBackwardExplorer",
]

#: Allowed sizes for N, D, M (linear explorer) and for the MLP's N, D, H, C.
SIZE_RANGE = (1, 6)
#: Allowed vector sizes for the element-wise explorer.
ELEMENTWISE_SIZE_RANGE = (1, 8)

_F64 = torch.float64


# --------------------------------------------------------------------------- checks

def _check_size(func: str, name: str, value, lo: int, hi: int) -> int:
    """Return ``value`` as an int, or raise ``ValueError`` naming it and the range."""
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(
            f"{func}: {name}={value!r} is out of range; expected an integer from {lo} to {hi}"
        )
    return int(value)


def _check_choice(func: str, name: str, value, choices) -> str:
    if value not in choices:
        raise ValueError(f"{func}: {name}={value!r}; expected one of {sorted(choices)}")
    return value


def check_same(name: str, got: torch.Tensor, expected: torch.Tensor) -> None:
    """Assert that two independently computed matrices agree (float64 tolerance).

    Used on every redraw: the matrix in the picture against its closed form or
    against autograd. Unlike :func:`helpers.compare` it prints nothing, so the
    callbacks stay silent.

    Parameters
    ----------
    name : str
        What is being compared, used in the message.
    got, expected : torch.Tensor
        Any shape; they must have the same shape.

    Raises
    ------
    AssertionError
        If the shapes differ or the values are not close (rtol = atol = 1e-10).
    """
    if tuple(got.shape) != tuple(expected.shape):
        raise AssertionError(
            f"{name}: shape {fmt_shape(got.shape)} but expected {fmt_shape(expected.shape)}"
        )
    a, e = got.detach().to(_F64), expected.detach().to(_F64)
    # torch.allclose rather than torch.testing.assert_close: same test, but the latter
    # imports torch.distributed on first use (over a second on a busy machine)
    if not torch.allclose(a, e, rtol=1e-10, atol=1e-10):
        diff = (a - e).abs()
        where = tuple(int(i) for i in torch.unravel_index(diff.argmax(), diff.shape))
        raise AssertionError(
            f"{name}: {int((diff > 1e-10 + 1e-10 * e.abs()).sum())} of {a.numel()} entries "
            f"differ; largest difference {float(diff.max()):.3g} at index {where}"
        )


# ------------------------------------------------------------- 1. the linear layer

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
    X = torch.randn(N, D, generator=g, dtype=_F64)
    W = torch.randn(D, M, generator=g, dtype=_F64)
    b = torch.randn(M, generator=g, dtype=_F64)
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
    _check_choice(func, "wrt", wrt, {"X", "W", "b"})
    _check_choice(func, "order", order, {"row", "col"})
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
    N = _check_size(func, "N", N, lo, hi)
    D = _check_size(func, "D", D, lo, hi)
    M = _check_size(func, "M", M, lo, hi)
    _check_choice(func, "wrt", wrt, {"X", "W", "b"})
    _check_choice(func, "order", order, {"row", "col"})

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


# ------------------------------------------------------- 2. element-wise layers

def _relu_derivative(x: torch.Tensor) -> torch.Tensor:
    return (x > 0).to(x.dtype)


def _tanh_derivative(x: torch.Tensor) -> torch.Tensor:
    return 1 - torch.tanh(x) ** 2


def _sigmoid_derivative(x: torch.Tensor) -> torch.Tensor:
    s = torch.sigmoid(x)
    return s * (1 - s)


#: name -> (function, its derivative written independently, LaTeX of the derivative)
ACTIVATIONS: dict[str, tuple[Callable, Callable, str]] = {
    "relu": (relu, _relu_derivative, r"\mathbf{1}[x_i > 0]"),
    "tanh": (torch.tanh, _tanh_derivative, r"1 - \tanh^2(x_i)"),
    "sigmoid": (torch.sigmoid, _sigmoid_derivative, r"\sigma(x_i)\,(1 - \sigma(x_i))"),
}


class ElementwiseView(NamedTuple):
    """What :func:`elementwise_jacobian_view` returns."""

    fig: object                 #: the closed matplotlib Figure
    matrix: torch.Tensor        #: the explicit Jacobian, shape (n, n), diagonal
    derivative: torch.Tensor    #: phi'(x), shape (n,): the diagonal (for ReLU, the mask)
    x: torch.Tensor             #: the input, shape (n,)
    latex: str                  #: the equation shown in the figure
    alt: str                    #: alt text describing the figure


def _vector_panel(ax, v: torch.Tensor, title: str, vmax: float) -> None:
    """An annotated column vector (n, 1) on the book's diverging map, no colour bar."""
    from matplotlib.colors import TwoSlopeNorm

    data = v.detach().to(_F64).reshape(-1, 1).numpy()
    ax.imshow(data, cmap=DIVERGING, norm=TwoSlopeNorm(vcenter=0.0, vmin=-vmax, vmax=vmax),
              aspect="equal")
    for i, val in enumerate(data[:, 0]):
        ax.text(0, i, f"{val:.2f}", ha="center", va="center", fontsize=7,
                color="white" if abs(val) > 0.6 * vmax else "black")
    ax.set_xticks([])
    ax.set_yticks(range(len(data)))
    ax.tick_params(labelsize=7)
    ax.set_title(title, fontsize=9)


def elementwise_jacobian_view(activation: str = "relu", n: int = 5, seed: int = 0) -> ElementwiseView:
    """The diagonal Jacobian of an element-wise layer and the vector it reduces to.

    Pure callback of :func:`elementwise_jacobian_explorer` (chapter 3, whose notation
    ``y = phi(x)`` it uses). Draws ``x (n,)`` from a generator seeded with ``seed``,
    builds the explicit Jacobian of ``y = phi(x)`` with :func:`helpers.jacobian`, and
    asserts that it is diagonal (off-diagonal entries exactly zero) with diagonal equal
    to ``phi'(x)`` computed from its own formula, and that the VJP ``u @ J`` equals the
    element-wise product ``u * phi'(x)`` (for ReLU also :func:`helpers.relu_vjp`).

    Parameters
    ----------
    activation : {"relu", "tanh", "sigmoid"}
        The element-wise function phi.
    n : int
        Length of x, from 1 to 8.
    seed : int
        Seed of the private generator for x and u.

    Returns
    -------
    ElementwiseView
        ``(fig, matrix, derivative, x, latex, alt)``: the closed figure (x, the
        ``(n, n)`` Jacobian, and ``phi'(x)`` of shape ``(n,)``), the equation it
        illustrates and an alt text describing the figure.

    Raises
    ------
    ValueError
        If ``n`` is outside 1..8 or ``activation`` is unknown.
    AssertionError
        If the Jacobian is not diagonal or its diagonal differs from ``phi'(x)``.
    """
    func = "elementwise_jacobian_view"
    _check_choice(func, "activation", activation, set(ACTIVATIONS))
    n = _check_size(func, "n", n, *ELEMENTWISE_SIZE_RANGE)
    phi, phi_prime, dlatex = ACTIVATIONS[activation]

    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, generator=gen, dtype=_F64)
    u = torch.randn(n, generator=gen, dtype=_F64)
    J = jacobian(phi, x)
    derivative = phi_prime(x)
    check_same(f"diagonal of the Jacobian of {activation} vs phi'(x)", torch.diagonal(J),
               derivative)
    off = J - torch.diag(torch.diagonal(J))
    if torch.count_nonzero(off):
        raise AssertionError(f"{activation}: the Jacobian has {int(torch.count_nonzero(off))} "
                             "nonzero off-diagonal entries; an element-wise layer has none")
    check_same(f"{activation}: u @ J vs u * phi'(x)", contract(u, J), u * derivative)
    if activation == "relu":
        check_same("relu: u @ J vs relu_vjp(u, x)", contract(u, J), relu_vjp(u, x))

    name = {"relu": r"\mathrm{relu}", "tanh": r"\tanh", "sigmoid": r"\sigma"}[activation]
    latex = (rf"\frac{{\partial y_i}}{{\partial x_j}} = \delta_{{ij}}\, {name}'(x_i), \quad "
             rf"{name}'(x_i) = {dlatex}")

    vmax = max(float(x.abs().max()), float(J.abs().max()), 1e-12)
    fig = plt.figure(figsize=(6.4, 4.2))
    grid = fig.add_gridspec(1, 3, width_ratios=[1, max(n, 2), 1], left=0.08, right=0.95,
                            bottom=0.25, top=0.84, wspace=0.5)
    ax_x, ax_J, ax_d = (fig.add_subplot(grid[0, k]) for k in range(3))
    _vector_panel(ax_x, x, "x", vmax)
    plot_matrix(J, ax=ax_J, title=f"J = dy/dx  ({n} x {n})", xlabel="j (input x_j)",
                ylabel="i (output y_i)", annotate=n <= 6)
    _vector_panel(ax_d, derivative, "diag(J)\n= φ'(x)" if activation != "relu" else
                  "diag(J)\n= mask", vmax)
    ax_d.set_yticklabels([])
    fig.suptitle(f"{activation}: y = φ(x) element-wise", fontsize=10)
    fig.text(0.5, 0.09, f"${latex}$", ha="center", fontsize=11)
    fig.text(0.5, 0.02, r"so $u^{\top} J = (u \odot \varphi'(x))^{\top}$: multiply by the "
             "diagonal, never build J   (checked)", ha="center", fontsize=9)
    plt.close(fig)
    if activation == "relu":
        pos = [str(i) for i in range(n) if x[i] > 0]
        where = (f"1 in rows {', '.join(pos)} where x is positive and 0 elsewhere" if pos
                 else "0 everywhere, since no entry of x is positive")
        diag_words = f"the diagonal, the mask: {where}"
    else:
        top = 1 if activation == "tanh" else 0.25
        diag_words = f"the diagonal, {activation}'(x), between 0 and {top}"
    alt = (f"Three panels for {activation} with n={n}: the input column x, the {n} by {n} "
           f"Jacobian, zero off its diagonal, and {diag_words}.")
    return ElementwiseView(fig, J, derivative, x, latex, alt)


# --------------------------------------------------------------- 3. the MLP

#: Layers of the MLP in forward order.
MLP_LAYERS = ("linear 1", "ReLU", "linear 2", "softmax cross-entropy")


class MLPStep(NamedTuple):
    """One step of the backward pass (see :func:`mlp_backward_steps`)."""

    layer: str                    #: layer name, one of MLP_LAYERS
    upstream_name: str            #: e.g. "dZ2"
    upstream: torch.Tensor        #: dL/d(layer output), shape of the layer's output
    input_name: str               #: e.g. "A1"
    input: torch.Tensor           #: the layer's input (saved by the forward pass)
    grad_input_name: str          #: e.g. "dA1"
    grad_input: torch.Tensor      #: dL/d(layer input), shape of the input
    param_grads: dict             #: name -> gradient of the layer's parameters (may be empty)


def _mlp_data(N: int, D: int, H: int, C: int, seed: int):
    """X (N, D) and labels (N,) from a private generator; parameters from init_mlp."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(N, D, generator=g, dtype=_F64)
    labels = torch.randint(0, C, (N,), generator=g)
    return X, init_mlp(D, H, C, seed=seed), labels


def _mlp_autograd(X, W1, b1, W2, b2, labels) -> dict:
    """Every gradient of the MLP by torch autograd, with plain torch ops only."""
    leaves = [t.detach().clone().requires_grad_(True) for t in (X, W1, b1, W2, b2)]
    Xa, W1a, b1a, W2a, b2a = leaves
    with torch.enable_grad():
        Z1 = Xa @ W1a + b1a
        A1 = torch.nn.functional.relu(Z1)
        Z2 = A1 @ W2a + b2a
        for t in (Z1, A1, Z2):
            t.retain_grad()
        L = torch.nn.functional.cross_entropy(Z2, labels)
        L.backward()
    return {"dZ2": Z2.grad, "dA1": A1.grad, "dZ1": Z1.grad, "dX": Xa.grad,
            "dW2": W2a.grad, "db2": b2a.grad, "dW1": W1a.grad, "db1": b1a.grad}


def mlp_backward_steps(N: int = 4, D: int = 3, H: int = 5, C: int = 3,
                       seed: int = 0) -> list[MLPStep]:
    """The backward pass of a 2-layer MLP by hand, checked step by step against autograd.

    Pure function behind :func:`mlp_step_view` (chapter 7). Forward
    (:func:`helpers.mlp_forward`): ``Z1 = X @ W1 + b1``, ``A1 = relu(Z1)``,
    ``Z2 = A1 @ W2 + b2``, then ``L = softmax_cross_entropy(Z2, labels)``. Backward,
    from the loss down: :func:`helpers.softmax_cross_entropy_vjp`, then
    :func:`helpers.mlp_backward` (``linear_vjp``, ``relu_vjp``, ``linear_vjp``). Every
    gradient is asserted equal to torch autograd's (computed with plain torch ops).
    Parameters come from :func:`helpers.init_mlp` (seeded with ``seed``), X and the
    labels from a private generator seeded with ``seed``.

    Parameters
    ----------
    N, D, H, C : int
        Examples, input features, hidden units, classes; each from 1 to 6.
    seed : int
        Seed for X, the labels and the parameters.

    Returns
    -------
    list of MLPStep
        Four steps in backward order: softmax cross-entropy (upstream dL/dL = 1,
        shape ``()``, input Z2 ``(N, C)``), linear 2 (upstream dZ2 ``(N, C)``, input
        A1 ``(N, H)``), ReLU (upstream dA1 ``(N, H)``, input Z1 ``(N, H)``), linear 1
        (upstream dZ1 ``(N, H)``, input X ``(N, D)``).

    Raises
    ------
    ValueError
        If a size is outside 1..6.
    AssertionError
        If a hand-computed gradient differs from autograd's.
    """
    func = "mlp_backward_steps"
    lo, hi = SIZE_RANGE
    N, D, H, C = (_check_size(func, k, v, lo, hi) for k, v in zip("NDHC", (N, D, H, C)))
    X, params, labels = _mlp_data(N, D, H, C, seed)

    # forward and backward with the book's helpers (helpers.mlp chains linear_vjp,
    # relu_vjp, linear_vjp); the loss layer's VJP starts the chain with dL/dL = 1
    cache = mlp_forward(X, params)
    Z1, A1, Z2 = cache["Z1"], cache["A1"], cache["Z2"]
    _ = softmax_cross_entropy(Z2, labels)
    one = torch.ones((), dtype=_F64)
    dZ2 = one * softmax_cross_entropy_vjp(Z2, labels)
    grads = mlp_backward(dZ2, cache, params)
    dA1, dZ1, dX = grads["dA1"], grads["dZ1"], grads["dX"]

    auto = _mlp_autograd(X, params["W1"], params["b1"], params["W2"], params["b2"], labels)
    mine = {"dZ2": dZ2, "dA1": dA1, "dZ1": dZ1, "dX": dX, "dW2": grads["dW2"],
            "db2": grads["db2"], "dW1": grads["dW1"], "db1": grads["db1"]}
    for name, value in mine.items():
        check_same(f"{name} (by hand) vs autograd", value, auto[name])

    return [
        MLPStep("softmax cross-entropy", "dL/dL", one, "Z2", Z2, "dZ2", dZ2, {}),
        MLPStep("linear 2", "dZ2", dZ2, "A1", A1, "dA1", dA1,
                {"dW2": grads["dW2"], "db2": grads["db2"]}),
        MLPStep("ReLU", "dA1", dA1, "Z1", Z1, "dZ1", dZ1, {}),
        MLPStep("linear 1", "dZ1", dZ1, "X", X, "dX", dX,
                {"dW1": grads["dW1"], "db1": grads["db1"]}),
    ]


class MLPView(NamedTuple):
    """What :func:`mlp_step_view` returns."""

    fig: object                 #: the closed matplotlib Figure
    step: MLPStep               #: the step shown
    steps: list                 #: all four steps, in backward order
    alt: str                    #: alt text describing the figure


def _as_matrix(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(1, -1) if t.ndim < 2 else t


def mlp_step_view(step: int = 1, N: int = 4, D: int = 3, H: int = 5, C: int = 3,
                  seed: int = 0) -> MLPView:
    """Figure of one backward step of the MLP: upstream gradient, layer input, result.

    Pure callback of :func:`mlp_backward_explorer` (chapter 7). Step 1 is the loss
    (the first layer the backward pass meets), step 4 is ``linear 1``. The figure shows
    the computation graph with the current layer boxed, then three heatmaps with their
    shapes: the upstream gradient (shape of the layer's *output*), the layer's input,
    and the gradient sent down (shape of the *input*). All gradients are checked against
    autograd by :func:`mlp_backward_steps`.

    Parameters
    ----------
    step : int
        1 to 4, in backward order.
    N, D, H, C : int
        Sizes, each from 1 to 6 (see :func:`mlp_backward_steps`).
    seed : int
        Seed of the private generator.

    Returns
    -------
    MLPView
        ``(fig, step, steps, alt)``: the closed figure, the step shown, all four steps
        and an alt text describing the figure.

    Raises
    ------
    ValueError
        If ``step`` is outside 1..4 or a size outside 1..6.
    AssertionError
        If a hand-computed gradient differs from autograd's.
    """
    step = _check_size("mlp_step_view", "step", step, 1, len(MLP_LAYERS))
    steps = mlp_backward_steps(N, D, H, C, seed)
    s = steps[step - 1]

    fig = plt.figure(figsize=(8.0, 4.4))
    grid = fig.add_gridspec(2, 3, height_ratios=[1, 5], left=0.05, right=0.95, bottom=0.1,
                            top=0.92, wspace=0.45, hspace=0.35)
    ax_graph = fig.add_subplot(grid[0, :])
    ax_graph.axis("off")
    nodes = ["X"] + list(MLP_LAYERS) + ["L"]
    short = {"softmax cross-entropy": "softmax CE"}
    for k, label in enumerate(nodes):
        current = label == s.layer
        ax_graph.text((k + 0.5) / len(nodes), 0.5, short.get(label, label), ha="center",
                      va="center",
                      fontsize=9, fontweight="bold" if current else "normal",
                      bbox=dict(boxstyle="round", fc="#fdb863" if current else "white",
                                ec="black" if current else "0.6"))
        if k:
            ax_graph.annotate("", xy=(k / len(nodes) + 0.025, 0.5),
                              xytext=(k / len(nodes) - 0.025, 0.5),
                              arrowprops=dict(arrowstyle="->", color="0.4"))
    ax_graph.set_title(f"backward step {step} of {len(MLP_LAYERS)}: {s.layer} "
                       f"(gradients flow right to left)", fontsize=10)

    # write the values only on small matrices: text is most of a redraw's cost
    small = max(s.upstream.numel(), s.input.numel()) <= 20
    panels = [
        (s.upstream, f"upstream {s.upstream_name}\nshape {fmt_shape(s.upstream.shape)}"),
        (s.input, f"layer input {s.input_name}\nshape {fmt_shape(s.input.shape)}"),
        (s.grad_input, f"sent down: {s.grad_input_name}\nshape {fmt_shape(s.grad_input.shape)}"),
    ]
    for k, (t, title) in enumerate(panels):
        ax = fig.add_subplot(grid[1, k])
        plot_matrix(_as_matrix(t), ax=ax, title=title, annotate=small)
        ax.title.set_fontsize(9)
    extra = ", ".join(f"{k} {fmt_shape(v.shape)}" for k, v in s.param_grads.items())
    fig.text(0.5, 0.02,
             f"{s.grad_input_name} has the shape of the input {s.input_name}"
             + (f"; parameter gradients {extra}" if extra else "")
             + ".  All checked against autograd.", ha="center", fontsize=9)
    plt.close(fig)
    alt = (f"Backward step {step} of {len(MLP_LAYERS)}, through {s.layer}, highlighted in the "
           f"chain X, linear 1, ReLU, linear 2, softmax cross-entropy, L. Heatmaps of the "
           f"upstream gradient {s.upstream_name} of shape {fmt_shape(s.upstream.shape)}, the "
           f"layer input {s.input_name} of shape {fmt_shape(s.input.shape)} and the gradient "
           f"sent down, {s.grad_input_name}, of shape {fmt_shape(s.grad_input.shape)}"
           + (f"; parameter gradients {extra}." if extra else "."))
    return MLPView(fig, s, steps, alt)


# ------------------------------------------------------------ widget wrappers

def figure_html(fig, alt: str) -> str:
    """The figure as an ``<img>`` tag with alt text (a PNG inlined as base64).

    The explorers show their figure this way, in an ``ipywidgets.HTML``, rather than
    through an Output widget: the picture then carries alt text also when the book's
    website embeds the widget's saved state (no kernel there).

    Parameters
    ----------
    fig : matplotlib Figure
    alt : str
        Alternative text describing the figure.

    Returns
    -------
    str
        ``<img alt="..." src="data:image/png;base64,...">``.
    """
    import base64
    import html
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return (f'<img alt="{html.escape(alt, quote=True)}" style="max-width: 100%" '
            f'src="data:image/png;base64,{data}">')


class _Explorer:
    """Base of the thin wrappers around the pure callbacks.

    ``controls`` holds the control widgets by argument name, ``image`` the
    ``ipywidgets.HTML`` showing the figure, ``ui`` the box Jupyter displays and ``view``
    the last result of the callback. Every change of a control calls :meth:`redraw`
    (``observe``). If the callback's check fails, the message replaces the figure and
    the ``AssertionError`` propagates.
    """

    ui = None
    view = None
    controls: dict = {}

    def _callback(self, **values):  # pragma: no cover - overridden
        raise NotImplementedError

    def _connect(self) -> None:
        for control in self.controls.values():
            control.observe(self.redraw, names="value")
        self.redraw()

    def redraw(self, change=None) -> None:
        """Call the pure callback with the controls' values and show its figure."""
        import html

        values = {name: c.value for name, c in self.controls.items()}
        try:
            view = self._callback(**values)
        except AssertionError as exc:
            self.image.value = (f'<pre style="color: #b2182b">check failed, the picture would '
                                f'be wrong:\n{html.escape(str(exc))}</pre>')
            raise
        self.view = view
        self.image.value = figure_html(view.fig, view.alt)

    def update(self, **values) -> None:
        """Set controls by argument name (each change redraws, as a user's would)."""
        for name, value in values.items():
            if name not in self.controls:
                raise ValueError(f"{type(self).__name__}.update: unknown control {name!r}; "
                                 f"expected one of {sorted(self.controls)}")
            self.controls[name].value = value

    def __repr__(self) -> str:
        values = ", ".join(f"{k}={c.value!r}" for k, c in self.controls.items())
        return f"{type(self).__name__}({values})"

    def _repr_mimebundle_(self, **kwargs):
        """The widget view (live kernels), an HTML form (static pages) and a short text.

        Built here rather than delegated to the box: ipywidgets 8 has
        ``Widget._repr_mimebundle_`` but 7.7 (Colab's) only ``_ipython_display_``, and
        both send this same widget-view bundle (protocol version 2.0). The ``text/html``
        entry is the current figure inside ``<div class="book-explorer">`` with the
        explorer's kind, settings and control values as JSON: front ends with a kernel
        prefer the widget view; the book's site (``_ext/explorers.py``) replaces the
        HTML with precomputed frames and controls that work without a kernel.
        """
        import html
        import json

        spec = {"kind": self.kind, "config": self.static_config(),
                "values": {name: c.value for name, c in self.controls.items()}}
        return {
            "application/vnd.jupyter.widget-view+json": {
                "version_major": 2, "version_minor": 0, "model_id": self.ui.model_id},
            "text/html": (f'<div class="book-explorer" data-book-explorer="'
                          f'{html.escape(json.dumps(spec, sort_keys=True), quote=True)}">'
                          f"{self.image.value}</div>"),
            # a short text form: the box's own repr would spell out the whole PNG
            "text/plain": repr(self),
        }

    kind = ""

    def static_config(self) -> dict:
        """The arguments, other than the controls, that fix what the callback draws."""
        return {"seed": self.seed}


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


class ElementwiseJacobianExplorer(_Explorer):
    """A choice of relu/tanh/sigmoid and a size slider; see :func:`elementwise_jacobian_view`."""

    kind = "elementwise"

    def __init__(self, activation: str = "relu", n: int = 5, seed: int = 0):
        import ipywidgets as w

        self.seed = seed
        lo, hi = ELEMENTWISE_SIZE_RANGE
        self.controls = {
            "activation": w.ToggleButtons(options=list(ACTIVATIONS), value=activation,
                                          description="f"),
            "n": w.IntSlider(value=n, min=lo, max=hi, step=1, description="n",
                             continuous_update=False),
        }
        self.image = w.HTML()
        self.ui = w.VBox([w.HBox([self.controls["activation"], self.controls["n"]]), self.image])
        self._connect()

    def _callback(self, activation, n):
        return elementwise_jacobian_view(activation, n, seed=self.seed)


class MLPBackwardExplorer(_Explorer):
    """A step slider with Previous / Next buttons; see :func:`mlp_step_view`."""

    kind = "mlp"

    def __init__(self, step: int = 1, N: int = 4, D: int = 3, H: int = 5, C: int = 3,
                 seed: int = 0):
        import ipywidgets as w

        self.sizes = dict(N=N, D=D, H=H, C=C, seed=seed)
        self.controls = {"step": w.IntSlider(value=step, min=1, max=len(MLP_LAYERS), step=1,
                                             description="step", continuous_update=False)}
        self.prev_button = w.Button(description="◀ previous", layout=w.Layout(width="110px"))
        self.next_button = w.Button(description="next ▶", layout=w.Layout(width="110px"))
        self.prev_button.on_click(lambda _: self._move(-1))
        self.next_button.on_click(lambda _: self._move(+1))
        self.image = w.HTML()
        self.ui = w.VBox([w.HBox([self.prev_button, self.controls["step"], self.next_button]),
                          self.image])
        self._connect()

    def static_config(self) -> dict:
        return dict(self.sizes)

    def _move(self, delta: int) -> None:
        s = self.controls["step"]
        s.value = min(max(s.value + delta, s.min), s.max)

    def _callback(self, step):
        return mlp_step_view(step, **self.sizes)


# ------------------------------------------------- frames for the static website

#: labels of the linear explorer's choices, shared by the widget and the static page
_WRT_OPTIONS = (("∂Y/∂X", "X"), ("∂Y/∂W", "W"), ("∂Y/∂b", "b"))
_ORDER_OPTIONS = (("row-major", "row"), ("column-major", "col"))

#: The bounded grid of control values precomputed for the website (no kernel there),
#: per explorer kind: control name -> (label, kind of control, values). Every
#: combination is one frame: 3 x 3 x 4 sizes x 3 x 2 = 216 (linear), 3 x 8 = 24
#: (element-wise), 4 (MLP). The live widget keeps the full ranges.
STATIC_GRIDS = {
    "linear": {
        "N": ("N", "range", tuple(range(1, 4))),
        "D": ("D", "range", tuple(range(1, 4))),
        "M": ("M", "range", tuple(range(1, 5))),
        "wrt": ("Jacobian", "choice", _WRT_OPTIONS),
        "order": ("flatten", "choice", _ORDER_OPTIONS),
    },
    "elementwise": {
        "activation": ("f", "choice", tuple((a, a) for a in ("relu", "tanh", "sigmoid"))),
        "n": ("n", "range", tuple(range(1, 9))),
    },
    "mlp": {"step": ("step", "steps", tuple(range(1, 5)))},
}


def static_values(kind: str) -> list[dict]:
    """Every combination of control values in ``STATIC_GRIDS[kind]``, as keyword dicts."""
    import itertools

    grid = STATIC_GRIDS[_check_choice("static_values", "kind", kind, set(STATIC_GRIDS))]
    names = list(grid)
    values = [[v[1] if isinstance(v, tuple) else v for v in grid[n][2]] for n in names]
    return [dict(zip(names, combo)) for combo in itertools.product(*values)]


def static_view(kind: str, config: dict, values: dict):
    """The pure callback's result for one frame of the website's explorer.

    Parameters
    ----------
    kind : {"linear", "elementwise", "mlp"}
        Which explorer (the ``kind`` attribute of its class).
    config : dict
        Its fixed arguments (``static_config()``: the seed, and the MLP's sizes).
    values : dict
        One combination of control values, e.g. from :func:`static_values`.

    Returns
    -------
    LinearView, ElementwiseView or MLPView
        With ``.fig`` (closed) and ``.alt``, checked like every redraw.
    """
    _check_choice("static_view", "kind", kind, set(STATIC_GRIDS))
    if kind == "linear":
        return linear_jacobian_view(**values, seed=config.get("seed", 0))
    if kind == "elementwise":
        return elementwise_jacobian_view(**values, seed=config.get("seed", 0))
    return mlp_step_view(values["step"], **config)


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


def elementwise_jacobian_explorer(activation: str = "relu", n: int = 5,
                                  seed: int = 0) -> ElementwiseJacobianExplorer:
    """Interactive explorer of element-wise layers' diagonal Jacobians (chapter 3).

    Returns
    -------
    ElementwiseJacobianExplorer
        Display it; ``.view`` is the last :class:`ElementwiseView`.
    """
    return ElementwiseJacobianExplorer(activation, n, seed)


def mlp_backward_explorer(step: int = 1, N: int = 4, D: int = 3, H: int = 5, C: int = 3,
                          seed: int = 0) -> MLPBackwardExplorer:
    """Step through the MLP's backward pass layer by layer (chapter 7).

    Returns
    -------
    MLPBackwardExplorer
        Display it; ``.view`` is the last :class:`MLPView`, ``.next_button`` and
        ``.prev_button`` move one step.
    """
    return MLPBackwardExplorer(step, N, D, H, C, seed)
