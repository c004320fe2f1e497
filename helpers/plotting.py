"""Figures shared by the chapters. Nothing here changes global state on import."""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from matplotlib.colors import TwoSlopeNorm

from .shapes import as_tensor, check_ndim

__all__ = ["use_book_style", "DIVERGING", "plot_matrix"]

#: Diverging colour map used for every signed matrix: purple-orange is readable
#: with the common forms of colour blindness, and zero maps to white.
DIVERGING = "PuOr_r"


def use_book_style() -> None:
    """Apply the book's matplotlib settings (call it once at the top of a chapter)."""
    plt.rcParams.update({
        "figure.dpi": 100,
        "savefig.dpi": 100,
        "figure.figsize": (6.0, 3.6),
        "font.size": 10,
        "axes.grid": False,
        "axes.spines.top": False,
        "axes.spines.right": False,
    })


def plot_matrix(A: torch.Tensor, ax=None, title: str = "", *, row_block: int | None = None,
                col_block: int | None = None, annotate: bool = False, xlabel: str = "",
                ylabel: str = ""):
    """Heatmap of a 2-D matrix with a diverging, colour-blind-safe map centred on 0.

    Parameters
    ----------
    A : torch.Tensor
        Shape ``(R, C)``.
    ax : matplotlib Axes, optional
        Where to draw; a new figure is made if omitted.
    title, xlabel, ylabel : str
        Labels.
    row_block, col_block : int, optional
        Draw grid lines every ``row_block`` rows / ``col_block`` columns, to show blocks.
    annotate : bool
        Write each entry's value in its cell (for small matrices).

    Returns
    -------
    matplotlib Axes
    """
    check_ndim("plot_matrix", "A", as_tensor("plot_matrix", "A", A), 2)
    data = A.detach().to(torch.float64).cpu().numpy()
    if ax is None:
        _, ax = plt.subplots(figsize=(max(3.0, 0.45 * data.shape[1] + 1.5),
                                      max(2.5, 0.45 * data.shape[0] + 1.0)))
    vmax = float(abs(data).max()) or 1.0
    im = ax.imshow(data, cmap=DIVERGING, norm=TwoSlopeNorm(vcenter=0.0, vmin=-vmax, vmax=vmax))
    R, C = data.shape
    if row_block:
        for r in range(row_block, R, row_block):
            ax.axhline(r - 0.5, color="black", lw=1)
    if col_block:
        for c in range(col_block, C, col_block):
            ax.axvline(c - 0.5, color="black", lw=1)
    if annotate:
        for i in range(R):
            for j in range(C):
                ax.text(j, i, f"{data[i, j]:.2g}", ha="center", va="center", fontsize=7)
    ax.set_xticks(range(C))
    ax.set_yticks(range(R))
    ax.tick_params(labelsize=7)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return ax
