"""The explorer of chapter 3: the diagonal Jacobian of an element-wise layer
(relu, tanh, sigmoid), checked against autograd (:func:`elementwise_jacobian_view`).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import matplotlib.pyplot as plt
import torch

from ..jacobians import contract, jacobian
from ..layers import relu, relu_vjp
from ..plotting import DIVERGING, plot_matrix
from .base import (
    ELEMENTWISE_SIZE_RANGE,
    F64,
    _Explorer,
    check_choice,
    check_same,
    check_size,
)

__all__ = ["ACTIVATIONS", "ElementwiseJacobianExplorer", "ElementwiseView", "elementwise_jacobian_explorer", "elementwise_jacobian_view"]


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

    data = v.detach().to(F64).reshape(-1, 1).numpy()
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
    check_choice(func, "activation", activation, set(ACTIVATIONS))
    n = check_size(func, "n", n, *ELEMENTWISE_SIZE_RANGE)
    phi, phi_prime, dlatex = ACTIVATIONS[activation]

    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, generator=gen, dtype=F64)
    u = torch.randn(n, generator=gen, dtype=F64)
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


def elementwise_jacobian_explorer(activation: str = "relu", n: int = 5,
                                  seed: int = 0) -> ElementwiseJacobianExplorer:
    """Interactive explorer of element-wise layers' diagonal Jacobians (chapter 3).

    Returns
    -------
    ElementwiseJacobianExplorer
        Display it; ``.view`` is the last :class:`ElementwiseView`.
    """
    return ElementwiseJacobianExplorer(activation, n, seed)
